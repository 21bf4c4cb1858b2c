"""epaxdb.aio against a real cluster: the same operations as epaxdb.dbapi, awaited."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable

import pytest

import epaxdb.aio

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_execute_fetch_and_iterate(urls: list[str]) -> None:
    async def scenario() -> None:
        conn = await epaxdb.aio.connect(urls, autocommit=True, wire="msgpack")
        await conn.execute("CREATE TABLE aio_items(id INTEGER PRIMARY KEY, b BLOB)")
        cur = await conn.executemany(
            "INSERT INTO aio_items VALUES (?, ?)", [(1, b"\x00"), (2, b"")]
        )
        assert cur.rowcount == 2
        cur = await conn.execute("SELECT id, b FROM aio_items ORDER BY id")
        assert [d[0] for d in cur.description] == ["id", "b"]
        assert await cur.fetchone() == (1, b"\x00")
        assert [row async for row in cur] == [(2, b"")]
        conn.row_factory = epaxdb.aio.Row
        row = await (await conn.execute("SELECT id FROM aio_items WHERE id = 2")).fetchone()
        assert row["ID"] == 2
        with pytest.raises(epaxdb.aio.IntegrityError):
            await conn.execute("INSERT INTO aio_items VALUES (1, NULL)")
        await conn.close()

    run(scenario)


def test_async_with_commits_and_conflicts_raise_serialization_failure(urls: list[str]) -> None:
    async def scenario() -> None:
        setup = await epaxdb.aio.connect(urls[0], autocommit=True)
        await setup.execute("CREATE TABLE aio_acct(id INTEGER PRIMARY KEY, n INTEGER)")
        await setup.execute("INSERT INTO aio_acct VALUES (1, 0)")
        first = await epaxdb.aio.connect(urls[1], after=setup.commit_token)
        second = await epaxdb.aio.connect(urls[2], after=setup.commit_token)
        for conn in (first, second):
            (n,) = await (await conn.execute("SELECT n FROM aio_acct WHERE id = 1")).fetchone()
            await conn.execute("UPDATE aio_acct SET n = ? WHERE id = 1", (n + 1,))
        async with first:
            pass  # commits
        with pytest.raises(epaxdb.aio.SerializationFailure):
            await second.commit()
        with pytest.raises(RuntimeError):
            async with second:
                await second.execute("UPDATE aio_acct SET n = 100 WHERE id = 1")
                raise RuntimeError("rolled back")
        cur = await setup.execute("SELECT n FROM aio_acct WHERE id = 1")
        assert await cur.fetchall() == [(1,)]
        for conn in (setup, first, second):
            await conn.close()

    run(scenario)


def test_transaction_outcome_looks_a_request_id_up_and_folds_its_commit(
    urls: list[str],
) -> None:
    request_id = "order 7/ä?"  # travels percent-encoded in the path
    body = {"statements": [{"sql": "CREATE TABLE aio_outcome(x)"}], "request_id": request_id}
    posted = urllib.request.urlopen(
        urllib.request.Request(f"{urls[1]}/v1/tx", json.dumps(body).encode()), timeout=30
    )
    token = json.loads(posted.read())["commit_token"]

    async def scenario() -> None:
        conn = await epaxdb.aio.connect(urls[1], autocommit=True)
        outcome = await conn.transaction_outcome(request_id)
        assert (outcome.request_id, outcome.state, outcome.commit_token) == (
            request_id, "committed", token,
        )  # fmt: skip
        assert conn.commit_token == "epx2:" + token.removeprefix("epx1:")
        unknown = await conn.transaction_outcome("never-submitted")
        assert unknown == epaxdb.aio.TransactionOutcome("never-submitted", "unknown")
        await conn.close()

    run(scenario)
