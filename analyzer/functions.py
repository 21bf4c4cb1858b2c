"""Which SQLite functions a replicated statement may call, and what each implies.

Every function call in a statement is checked against SQLite's built-ins:

- deterministic built-ins pass;
- random()/randomblob() and the date/time functions pass with a note: the
  engine makes them deterministic per transaction (seeded overrides and a VFS
  clock chosen by the coordinator), so the SQL is never rewritten;
- the 'localtime' and 'utc' modifiers depend on the process time zone and are
  refused, as is any modifier that might evaluate to one of them;
- changes() and last_insert_rowid() pass only after an earlier write in the
  same transaction (the caller checks that); total_changes(), the version
  functions and load_extension() are refused;
- pragma_* table-valued functions are refused like PRAGMA itself;
- any other name is refused as unknown: an unknown function may be an
  application-defined one of unknown purity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from analyzer.errors import NonDeterministicError, NotReplicableError, UnsupportedError
from analyzer.tokens import fold

DETERMINISTIC = frozenset(
    [
        "abs",
        "char",
        "coalesce",
        "concat",
        "concat_ws",
        "format",
        "glob",
        "hex",
        "if",
        "ifnull",
        "iif",
        "instr",
        "length",
        "like",
        "likelihood",
        "likely",
        "lower",
        "ltrim",
        "max",
        "min",
        "nullif",
        "octet_length",
        "printf",
        "quote",
        "replace",
        "round",
        "rtrim",
        "sign",
        "substr",
        "substring",
        "subtype",
        "trim",
        "typeof",
        "unhex",
        "unicode",
        "unistr",
        "unistr_quote",
        "unlikely",
        "upper",
        "zeroblob",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "ceil",
        "ceiling",
        "cos",
        "cosh",
        "degrees",
        "exp",
        "floor",
        "ln",
        "log",
        "log10",
        "log2",
        "mod",
        "pi",
        "pow",
        "power",
        "radians",
        "sin",
        "sinh",
        "sqrt",
        "tan",
        "tanh",
        "trunc",
        "json",
        "jsonb",
        "json_array",
        "jsonb_array",
        "json_array_insert",
        "jsonb_array_insert",
        "json_array_length",
        "json_error_position",
        "json_extract",
        "jsonb_extract",
        "json_insert",
        "jsonb_insert",
        "json_object",
        "jsonb_object",
        "json_patch",
        "jsonb_patch",
        "json_pretty",
        "json_quote",
        "json_remove",
        "jsonb_remove",
        "json_replace",
        "jsonb_replace",
        "json_set",
        "jsonb_set",
        "json_type",
        "json_valid",
        "json_group_array",
        "jsonb_group_array",
        "json_group_object",
        "jsonb_group_object",
        "json_each",
        "json_tree",
        "avg",
        "count",
        "group_concat",
        "string_agg",
        "sum",
        "total",
        "median",
        "percentile",
        "percentile_cont",
        "percentile_disc",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "match",
        "bm25",
        "highlight",
        "snippet",
        "fts5_source_id",
        "fts5_get_locale",
        "fts5_locale",
        "fts5_insttoken",
        "matchinfo",
        "offsets",
        "rtreedepth",
        "rtreenode",
        "geopoly_area",
        "geopoly_bbox",
        "geopoly_blob",
        "geopoly_ccw",
        "geopoly_contains_point",
        "geopoly_group_bbox",
        "geopoly_json",
        "geopoly_overlap",
        "geopoly_regular",
        "geopoly_svg",
        "geopoly_within",
        "geopoly_xform",
    ]
)
SEEDED = frozenset({"random", "randomblob"})
# name -> index of the time-value argument (the arguments after it are modifiers)
CLOCK = {"date": 0, "time": 0, "datetime": 0, "julianday": 0, "unixepoch": 0, "strftime": 1}
CLOCK_NO_MODIFIERS = frozenset({"timediff"})
NEED_PRIOR_WRITE = frozenset({"changes", "last_insert_rowid"})
REFUSED = {
    "total_changes": (
        "connection_state",
        (
            "total_changes() counts every change the connection ever made, which differs "
            "between replicas"
        ),
    ),
    "sqlite_version": ("build_dependent", "sqlite_version() depends on the SQLite build"),
    "sqlite_source_id": ("build_dependent", "sqlite_source_id() depends on the SQLite build"),
    "sqlite_compileoption_get": ("build_dependent", "compile options depend on the SQLite build"),
    "sqlite_compileoption_used": ("build_dependent", "compile options depend on the SQLite build"),
    "load_extension": ("load_extension", "load_extension() loads code from the replica's disk"),
}
TIME_ZONE_MODIFIERS = frozenset({"localtime", "utc"})
_TZ_LETTERS = frozenset("localtimeutc")

# sqlglot node classes that stand for SQL syntax rather than a named function.
_SYNTAX_FUNCS = (
    exp.Case,
    exp.Cast,
    exp.Collate,
    exp.Connector,
    exp.Exists,
    exp.If,
    exp.JSONExtract,
    exp.JSONExtractScalar,
)
_CURRENT = {
    exp.CurrentTimestamp: "CURRENT_TIMESTAMP",
    exp.CurrentDate: "CURRENT_DATE",
    exp.CurrentTime: "CURRENT_TIME",
}


@dataclass(slots=True)
class Findings:
    """What the function check learned about one statement."""

    notes: list[str] = field(default_factory=list)
    needs_prior_write: str | None = None  # e.g. "changes()"
    modifier_params: set[int] = field(default_factory=set)  # 0-based parameter indexes

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def placeholder_index(node: exp.Placeholder) -> int:
    """The 0-based parameter index of a placeholder renamed by `sqltext`."""
    name = node.name
    if not name.startswith("__p") or not name[3:].isdigit():
        raise UnsupportedError("unsupported_statement", f"unexpected placeholder {node.sql()!r}")
    return int(name[3:]) - 1


def check_functions(tree: exp.Expr, findings: Findings, *, in_trigger: bool = False) -> None:
    """Check every function call and placeholder in `tree`; raise on refusal."""
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            _check_named(node, fold(node.name), findings, in_trigger)
        elif isinstance(node, exp.Placeholder):
            placeholder_index(node)
        elif isinstance(node, (exp.Command, exp.Parameter)):
            raise UnsupportedError(
                "unsupported_statement", f"the SQL parser did not understand {node.sql()!r}"
            )
        elif type(node) in _CURRENT:
            findings.note(
                f"{_CURRENT[type(node)]}: the clock is fixed per transaction by the coordinator"
            )
        elif isinstance(node, exp.RegexpLike):
            raise UnsupportedError(
                "unknown_function", "REGEXP calls regexp(), which SQLite does not define"
            )
        elif isinstance(node, (exp.GroupConcat, *_SYNTAX_FUNCS)):
            continue
        elif isinstance(node, exp.Func):
            raise UnsupportedError(
                "unsupported_statement",
                f"the SQL parser read {node.sql()!r} as "
                f"{type(node).__name__}, which the analyzer does not know",
            )


def _check_named(node: exp.Anonymous, name: str, findings: Findings, in_trigger: bool) -> None:
    if name in DETERMINISTIC:
        return
    if name in SEEDED:
        findings.note(f"{name}(): seeded per transaction by the coordinator")
        return
    if name in CLOCK or name in CLOCK_NO_MODIFIERS:
        _check_clock(node, name, findings)
        return
    if name in NEED_PRIOR_WRITE:
        if in_trigger:
            raise NonDeterministicError(
                "connection_state", f"{name}() inside a trigger body depends on connection state"
            )
        findings.needs_prior_write = findings.needs_prior_write or f"{name}()"
        return
    if name in REFUSED:
        code, reason = REFUSED[name]
        error = NotReplicableError if code == "load_extension" else NonDeterministicError
        raise error(code, reason)
    if name.startswith("pragma_"):
        raise NotReplicableError("pragma", f"{name}() reads connection or file state like a PRAGMA")
    raise UnsupportedError("unknown_function", f"{name}() is not an SQLite built-in function")


def _check_clock(node: exp.Anonymous, name: str, findings: Findings) -> None:
    args = list(node.expressions)
    first_modifier = len(args)
    if name in CLOCK:
        value_index = CLOCK[name]
        first_modifier = value_index + 1
        time_value = args[value_index] if len(args) > value_index else None
        if not (
            isinstance(time_value, exp.Literal)
            and time_value.is_string
            and fold(time_value.this.strip()) != "now"
        ):
            findings.note(f"{name}(): 'now' is fixed per transaction by the coordinator")
    else:
        findings.note(f"{name}(): 'now' is fixed per transaction by the coordinator")
    for modifier in args[first_modifier:]:
        _check_modifier(name, modifier, findings)


def _check_modifier(name: str, modifier: exp.Expr, findings: Findings) -> None:
    if isinstance(modifier, exp.Placeholder):
        findings.modifier_params.add(placeholder_index(modifier))
        return
    if isinstance(modifier, exp.Literal):
        if modifier.is_string and fold(modifier.this) in TIME_ZONE_MODIFIERS:
            raise NonDeterministicError(
                "nondeterministic_localtime",
                f"{name}() with the {modifier.this!r} modifier depends on the replica's time zone",
            )
        return
    if isinstance(modifier, exp.DPipe) and _concatenation_rules_out_time_zone(modifier):
        return
    raise NonDeterministicError(
        "nondeterministic_localtime",
        f"{name}() has a computed modifier {modifier.sql()!r}, which might be 'localtime' "
        "or 'utc' (time-zone dependent); pass it as a literal or a parameter",
    )


def _concatenation_rules_out_time_zone(node: exp.DPipe) -> bool:
    """True when some literal part of `a || b || ...` can never occur in 'localtime'/'utc'."""
    for part in node.flatten():
        if isinstance(part, exp.Literal) and part.is_string:
            text = fold(part.this)
            if len(text) > len("localtime") or not set(text) <= _TZ_LETTERS:
                return True
    return False


def check_modifier_value(value: object) -> None:
    """A date/time modifier bound as a parameter must not be a time-zone modifier."""
    if type(value) is str and fold(value) in TIME_ZONE_MODIFIERS:
        raise NonDeterministicError(
            "nondeterministic_localtime",
            f"a date/time modifier parameter is {value!r}, which depends on the replica's time zone",
        )
