"""Code the docs quote from an example is the example's code: a fenced Python block
whose first line is `# from examples/...` must appear, line for line, in that file, so
a quote cannot drift from the tested code it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
QUOTE = re.compile(r"```python\n# from (examples/\S+)\n(.*?)```", re.DOTALL)


def quotes() -> list[tuple[str, str, str]]:
    return [
        (doc.name, match.group(1), match.group(2))
        for doc in DOCS
        for match in QUOTE.finditer(doc.read_text())
    ]


def test_the_migration_guide_quotes_the_examples() -> None:
    quoted = {path for doc, path, _ in quotes() if doc == "migration.md"}
    assert {"examples/bank/bank.py", "examples/sqlalchemy_app/tasks.py"} <= quoted


@pytest.mark.parametrize(("doc", "path", "code"), quotes())
def test_a_quote_is_the_examples_code(doc: str, path: str, code: str) -> None:
    lines = code.rstrip("\n").split("\n")
    source = (ROOT / path).read_text().split("\n")
    starts = [i for i, line in enumerate(source) if line == lines[0]]
    assert any(source[i : i + len(lines)] == lines for i in starts), (
        f"{doc} quotes code that is not in {path}:\n{code}"
    )
