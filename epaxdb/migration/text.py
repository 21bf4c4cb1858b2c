"""The migration reports as text for a terminal (the commands also print them as JSON)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from epaxdb.migration.schema_check import Finding, SchemaReport
from epaxdb.migration.seeding import SeededCluster, SeedRefused
from epaxdb.migration.statement_check import (
    BOUNDARY,
    FIXED,
    GLOBAL,
    NONE,
    POINT,
    REFUSED,
    UNCHANGED,
    WHOLE_TABLE,
    StatementVerdict,
)

_SQL_WIDTH = 64
_CONFLICT_WORDS = {NONE: "none", POINT: "point", WHOLE_TABLE: "whole table", GLOBAL: "global"}
_OUTCOME_WORDS = {UNCHANGED: "unchanged", FIXED: "fixed", REFUSED: "REFUSED", BOUNDARY: "-"}


def schema_lines(report: SchemaReport) -> list[str]:
    lines = []
    for title, findings in (
        ("refused", report.refusals),
        ("made deterministic", report.fixes),
        ("warnings", report.warnings),
    ):
        if findings:
            lines.append(f"  {title}:")
            lines.extend(f"    {_finding(f)}" for f in findings)
    if not lines:
        lines.append("  nothing to change: no object uses the clock or random(), none is refused")
    return lines


def _finding(finding: Finding) -> str:
    code = f" [{finding.code}]" if finding.code else ""
    return f"{finding.subject}{code}: {finding.message}"


def statement_lines(verdicts: Sequence[StatementVerdict]) -> list[str]:
    """A table (number, line, outcome, conflict class, statement), then the details."""
    rows = [("#", "line", "outcome", "conflicts", "statement")]
    for v in verdicts:
        conflict = _CONFLICT_WORDS.get(v.conflict or "", "-")
        rows.append(
            (str(v.number), str(v.line), _OUTCOME_WORDS[v.outcome], conflict, _one_line(v.sql))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  " + "  ".join(
            [row[0].rjust(widths[0]), row[1].rjust(widths[1]),
             row[2].ljust(widths[2]), row[3].ljust(widths[3]), row[4]]
        ).rstrip()
        for row in rows
    ]  # fmt: skip
    details = [line for v in verdicts for line in _details(v)]
    if details:
        lines += ["", *details]
    return lines


def _details(verdict: StatementVerdict) -> list[str]:
    items = []
    if verdict.outcome == REFUSED:
        items.append(f"refused [{verdict.code}]: {verdict.reason}")
    if verdict.outcome == BOUNDARY:
        items.append(verdict.reason or "")
    items += [f"fix: {fix}" for fix in verdict.fixes]
    items += [f"differs: {difference}" for difference in verdict.differences]
    if verdict.conflict == WHOLE_TABLE:
        items += [f"whole table: {hint}" for hint in verdict.hints]
    elif verdict.conflict == GLOBAL:
        items += [f"global: {hint}" for hint in verdict.hints]
    if verdict.schema_note:
        items.append(verdict.schema_note)
    label = f"  {verdict.number:>3}  "
    return [(label if i == 0 else " " * len(label)) + item for i, item in enumerate(items)]


def summary_line(verdicts: Sequence[StatementVerdict]) -> str:
    checked = [v for v in verdicts if v.outcome != BOUNDARY]
    outcomes = Counter(v.outcome for v in checked)
    conflicts = Counter(v.conflict for v in checked if v.conflict is not None)
    return (
        f"{len(checked)} statement(s): {outcomes[UNCHANGED]} unchanged, "
        f"{outcomes[FIXED]} with a determinism fix, {outcomes[REFUSED]} refused; "
        f"conflicts: {conflicts[POINT]} point, {conflicts[WHOLE_TABLE]} whole table, "
        f"{conflicts[GLOBAL]} global, {conflicts[NONE]} none"
    )


def _one_line(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= _SQL_WIDTH else text[: _SQL_WIDTH - 3] + "..."


def seeded_lines(seeded: SeededCluster) -> list[str]:
    first, last = seeded.directories[0], seeded.directories[-1]
    return [
        f"seeded {len(seeded.directories)} replicas: {first} .. {last.name}",
        f"  executed count {seeded.executed_count}, state hash {seeded.state_hash}",
        *schema_lines(seeded.report),
    ]


def refused_lines(refusal: SeedRefused) -> list[str]:
    lines = [f"{refusal}; nothing was written"]
    if refusal.report is not None:
        lines += schema_lines(refusal.report)
        if any(f.subject != "database" for f in refusal.report.refusals):
            lines.append("Change or drop these objects in the file (with sqlite3), then try again.")
    return lines
