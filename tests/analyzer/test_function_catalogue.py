"""The analyzer's list of SQLite functions against the functions the pinned SQLite
build (the one apsw bundles) actually has."""

from __future__ import annotations

import apsw

from analyzer.functions import (
    CLOCK,
    CLOCK_NO_MODIFIERS,
    DETERMINISTIC,
    NEED_PRIOR_WRITE,
    REFUSED,
    SEEDED,
)

_SQLITE_DETERMINISTIC = 0x800
_TABLE_VALUED = {"json_each", "json_tree"}
# Built-ins deliberately left unknown: side effects or reads the analyzer cannot see.
_DELIBERATELY_UNKNOWN = {
    "sqlite_log",
    "fts3_tokenizer",
    "geopoly_debug",
    "rtreecheck",
    "optimize",
    "fts5",
}


def _sqlite_functions() -> dict[str, int]:
    connection = apsw.Connection(":memory:")
    flags: dict[str, int] = {}
    for name, flag in connection.execute("SELECT name, flags FROM pragma_function_list"):
        flags[name] = flags.get(name, 0) | flag
    return flags


def test_every_allowed_function_exists_in_the_pinned_sqlite() -> None:
    known = set(_sqlite_functions()) | _TABLE_VALUED
    allowed = DETERMINISTIC | SEEDED | set(CLOCK) | CLOCK_NO_MODIFIERS | NEED_PRIOR_WRITE
    assert allowed - known == set()


def test_every_builtin_is_classified() -> None:
    classified = (
        DETERMINISTIC
        | SEEDED
        | set(CLOCK)
        | CLOCK_NO_MODIFIERS
        | NEED_PRIOR_WRITE
        | set(REFUSED)
        | _DELIBERATELY_UNKNOWN
    )
    missing = {
        n
        for n in _sqlite_functions()
        if n not in classified
        and n not in ("->", "->>", "current_date", "current_time", "current_timestamp")
    }
    assert missing == set()


def test_builtins_sqlite_flags_as_non_deterministic_are_handled_or_are_aggregates() -> None:
    # Aggregates and window functions lack the flag but depend only on their rows.
    connection = apsw.Connection(":memory:")
    window_or_aggregate = {
        n
        for n, t in connection.execute("SELECT name, type FROM pragma_function_list")
        if t in ("w", "a")
    }
    flags = _sqlite_functions()
    unflagged = {n for n, f in flags.items() if not f & _SQLITE_DETERMINISTIC}
    pinned_or_refused = SEEDED | NEED_PRIOR_WRITE | set(REFUSED) | _DELIBERATELY_UNKNOWN
    fts_auxiliary = {
        "bm25",
        "highlight",
        "snippet",
        "matchinfo",
        "offsets",
        "match",
        "fts5_get_locale",
        "fts5_locale",
        "fts5_insttoken",
        "rtreedepth",
        "rtreenode",
    }
    clock = {"current_date", "current_time", "current_timestamp"}
    assert unflagged - pinned_or_refused - window_or_aggregate - fts_auxiliary - clock == set()
