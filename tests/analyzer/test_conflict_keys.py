"""Conflict keys handed to the protocol: typed, canonical, equal in every process;
and the plan cache that keeps repeated statements cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import AnalyzerError, analyze, encode_key, plan_statement
from tests.analyzer.support import run, schema_from

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schema_from(
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v);CREATE TABLE u(k PRIMARY KEY, v) WITHOUT ROWID;"
)


def test_values_of_different_types_never_share_an_encoding() -> None:
    encodings = {encode_key((v,)) for v in (7, 7.5, "7", b"\x07", None, "", b"", 0, 0.5)}
    assert len(encodings) == 9


def test_encoding_is_compact_tagged_json() -> None:
    assert encode_key((7, "a", None, b"\x00\xff", 0.5)) == (
        '[["i",7],["t","a"],["n"],["b","00ff"],["r","0x1.0000000000000p-1"]]'
    )
    assert encode_key((-0.0,)) == encode_key((0.0,))
    assert json.loads(encode_key(("é",))) == [["t", "é"]]


def test_conflict_keys_are_table_and_encoded_key_pairs_with_none_for_whole_tables() -> None:
    analysis = analyze([("UPDATE t SET v = 1 WHERE id = ?", [7]), ("SELECT * FROM u", [])], SCHEMA)
    read_keys, write_keys, is_global = analysis.conflict_keys()
    assert write_keys == frozenset({("t", '[["i",7]]')})
    assert read_keys == frozenset({("t", '[["i",7]]'), ("u", None)})
    assert is_global is False


_PROGRAM = """
import json, sys
sys.path.insert(0, sys.argv[1])
from analyzer import Schema, analyze
schema = Schema.from_catalog([("table", "u", "u", "CREATE TABLE u(k PRIMARY KEY, v) WITHOUT ROWID")], 3)
keys = analyze([("UPDATE u SET v = 1 WHERE k IN (?, ?, ?, ?)", [7, 7.5, "x", b"y"])], schema)
reads, writes, flag = keys.conflict_keys()
print(json.dumps([sorted(reads, key=str), sorted(writes, key=str), flag]))
"""


def test_conflict_keys_are_identical_across_processes_with_different_hash_seeds() -> None:
    outputs = set()
    for seed in ("1", "2", "12345"):
        environment = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(
            [sys.executable, "-c", _PROGRAM, str(ROOT)],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
            timeout=60,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_repeated_sql_text_reuses_one_cached_plan() -> None:
    schema = schema_from("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
    sql = "UPDATE t SET v = ? WHERE id = ?"
    first = plan_statement(schema, sql)
    run(schema, sql, [1, 2])
    assert plan_statement(schema, sql) is first
    assert {k.key for k in run(schema, sql, [1, 3]).writes} == {(3,)}


def test_refusals_are_cached_and_still_name_each_statement() -> None:
    schema = schema_from()
    for index in (0, 1):
        statements = [("SELECT 1", [])] * index + [("VACUUM", [])]
        try:
            analyze(statements, schema)
        except AnalyzerError as error:
            assert error.statement == index
        else:
            raise AssertionError("VACUUM was accepted")


def test_a_new_schema_version_gets_its_own_plans() -> None:
    old = schema_from("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
    new = schema_from("CREATE TABLE t(id INTEGER PRIMARY KEY, v UNIQUE)")
    sql = "UPDATE t SET v = 1 WHERE id = 1"
    assert {k.key for k in run(old, sql).writes} == {(1,)}
    assert {k.key for k in run(new, sql).writes} == {None}


key_values = st.one_of(
    st.none(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)


@settings(max_examples=200)
@given(st.lists(key_values, min_size=1, max_size=4))
def test_encoding_is_canonical_compact_json_that_decodes_to_the_tagged_values(key) -> None:
    text = encode_key(tuple(key))
    decoded = json.loads(text)
    assert text == json.dumps(decoded, separators=(",", ":"))
    assert text.isascii()
    assert [item[0] for item in decoded] == [
        {type(None): "n", int: "i", float: "r", str: "t", bytes: "b"}[type(v)] for v in key
    ]
