"""Loading an example script as a module, for tests that call its functions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@contextmanager
def example_module(relative_path: str) -> Iterator[ModuleType]:
    """`examples/<relative_path>` imported under a name of its own. It stays in
    `sys.modules` meanwhile: dataclasses and the ORM resolve the module's postponed
    annotations through it."""
    path = EXAMPLES / relative_path
    name = f"example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]
