"""Interactive transactions over HTTP against three real `epaxdb serve` processes.

One cluster serves the whole module (each test has its own table). A client runs a
transaction as previews (`POST /v1/tx/preview`) and commits it with `POST /v1/tx` and
`"interactive"`; every test ends with equal state hashes on all replicas.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from epaxdb.runtime.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

_tables = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root: Path = tmp_path_factory.mktemp("interactive")
    with LocalCluster(root, 3) as running:
        running.start_all()
        running.wait_ready()
        yield running


class Client:
    """One interactive transaction at a time, like a DB-API connection: every preview
    sends all statements so far with the last context."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.statements: list[dict[str, Any]] = []
        self.context: dict[str, Any] | None = None

    async def execute(self, sql: str, *params: Any) -> tuple[int, dict[str, Any]]:
        statement = {"sql": sql, "params": list(params)}
        body: dict[str, Any] = {"statements": [*self.statements, statement]}
        if self.context is not None:
            body["context"] = self.context
        status, answer = await post(self.session, f"{self.url}/v1/tx/preview", body)
        if status == 200 or (status == 409 and "context" in answer):
            self.context = answer["context"]
        if status == 200:
            self.statements.append(statement)
        return status, answer

    async def commit(self, url: str | None = None, request_id: str | None = None) -> Any:
        body: dict[str, Any] = {"statements": self.statements, "interactive": self.context}
        if request_id is not None:
            body["request_id"] = request_id
        return await post(self.session, f"{url or self.url}/v1/tx", body)


async def post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=30)) as reply:
        return reply.status, await reply.json()


async def query(session: aiohttp.ClientSession, url: str, sql: str) -> list[list[Any]]:
    status, answer = await post(session, f"{url}/v1/tx", {"statements": [{"sql": sql}]})
    assert status == 200, answer
    return list(answer["results"][0]["rows"])


def make_accounts(cluster: LocalCluster, session: aiohttp.ClientSession) -> Any:
    table = f"acct{next(_tables)}"

    async def create() -> str:
        status, answer = await post(session, f"{cluster.url(0)}/v1/tx", {"statements": [
            {"sql": f"CREATE TABLE {table}(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"},
            {"sql": f"INSERT INTO {table} VALUES (1, 100), (2, 100)"},
        ]})  # fmt: skip
        assert status == 200, answer
        return table

    return create()


def run(test: Any) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await test(session)

    asyncio.run(asyncio.wait_for(main(), 120))


async def read_modify_write(client: Client, table: str, account: int, delta: int) -> None:
    status, answer = await client.execute(f"SELECT balance FROM {table} WHERE id = ?", account)
    assert status == 200, answer
    (balance,) = answer["results"][-1]["rows"][0]
    status, answer = await client.execute(
        f"UPDATE {table} SET balance = ? WHERE id = ?", balance + delta, account
    )
    assert status == 200 and answer["results"][-1]["rows_affected"] == 1, answer


def test_concurrent_read_modify_writes_of_one_row_commit_one_and_fail_the_other(
    cluster: LocalCluster,
) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        one, other = Client(session, cluster.url(0)), Client(session, cluster.url(1))
        # Both read the balance before either commits: a lost update if both committed.
        await read_modify_write(one, table, 1, +10)
        await read_modify_write(other, table, 1, -30)
        (s1, a1), (s2, a2) = await asyncio.gather(one.commit(), other.commit())
        assert sorted([s1, s2]) == [200, 409], (a1, a2)
        failed = a1 if s1 == 409 else a2
        assert failed["error"]["code"] == "serialization_failure"
        assert failed["error"]["retryable"] is True
        expected = 110 if s1 == 200 else 70
        cluster.wait_converged()
        for replica in range(3):
            rows = await query(session, cluster.url(replica), f"SELECT balance FROM {table}")
            assert rows == [[expected], [100]]

    run(test)


def test_concurrent_read_modify_writes_of_different_rows_both_commit(
    cluster: LocalCluster,
) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        one, other = Client(session, cluster.url(1)), Client(session, cluster.url(2))
        await read_modify_write(one, table, 1, +10)
        await read_modify_write(other, table, 2, -30)
        (s1, a1), (s2, a2) = await asyncio.gather(one.commit(), other.commit())
        assert (s1, s2) == (200, 200), (a1, a2)
        cluster.wait_converged()
        assert await query(session, cluster.url(0), f"SELECT balance FROM {table}") == [
            [110],
            [70],
        ]

    run(test)


def test_a_transaction_reads_its_own_writes_and_others_see_nothing_before_commit(
    cluster: LocalCluster,
) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        client = Client(session, cluster.url(2))
        await client.execute(f"INSERT INTO {table} VALUES (3, 7)")
        await client.execute(f"UPDATE {table} SET balance = balance * 2 WHERE id = 3")
        status, answer = await client.execute(f"SELECT id, balance FROM {table} ORDER BY id")
        assert status == 200 and answer["results"][-1]["rows"] == [[1, 100], [2, 100], [3, 14]]
        assert len(answer["results"]) == 3
        assert await query(session, cluster.url(0), f"SELECT count(*) FROM {table}") == [[2]]
        status, answer = await client.commit(url=cluster.url(0))
        assert status == 200, answer
        assert answer["results"][2]["rows"] == [[1, 100], [2, 100], [3, 14]]
        cluster.wait_converged()
        assert await query(
            session, cluster.url(1), f"SELECT balance FROM {table} WHERE id = 3"
        ) == [[14]]

    run(test)


def test_a_read_only_transaction_commits_and_one_that_read_stale_data_fails(
    cluster: LocalCluster,
) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        reader = Client(session, cluster.url(0))
        await reader.execute(f"SELECT sum(balance) FROM {table}")
        status, answer = await reader.commit(url=cluster.url(1))
        assert status == 200 and answer["results"][0]["rows"] == [[200]], answer

        stale = Client(session, cluster.url(0))
        await stale.execute(f"SELECT balance FROM {table} WHERE id = 1")
        status, answer = await post(session, f"{cluster.url(2)}/v1/tx", {"statements": [
            {"sql": f"UPDATE {table} SET balance = 0 WHERE id = 1"}]})  # fmt: skip
        assert status == 200, answer
        status, answer = await stale.commit()
        assert status == 409 and answer["error"]["code"] == "serialization_failure", answer

    run(test)


def test_previews_leave_every_replicas_state_hash_unchanged(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        before = cluster.wait_converged()
        for replica in range(3):
            client = Client(session, cluster.url(replica))
            await client.execute(f"UPDATE {table} SET balance = 0")
            await client.execute(f"INSERT INTO {table} VALUES (9, random())")
            await client.execute(f"CREATE TABLE scratch{replica}(x)")
            status, answer = await client.execute(f"INSERT INTO {table} VALUES (9, 1)")
            assert status == 409 and answer["error"]["statement"] == 3, answer
            assert answer["error"]["code"] == "SQLITE_CONSTRAINT_PRIMARYKEY"
            assert "context" in answer
        assert cluster.state_hashes() == {0: before, 1: before, 2: before}

    run(test)


def test_retrying_a_commit_with_its_request_id_applies_it_once(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        client = Client(session, cluster.url(0))
        await read_modify_write(client, table, 2, +5)
        first = await client.commit(request_id=f"{table}-rmw")
        again = await client.commit(url=cluster.url(1), request_id=f"{table}-rmw")
        assert first[0] == again[0] == 200 and first[1] == again[1], (first, again)
        cluster.wait_converged()
        assert await query(
            session, cluster.url(2), f"SELECT balance FROM {table} WHERE id = 2"
        ) == [[105]]

    run(test)


def test_malformed_previews_are_refused_with_400(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        url = f"{cluster.url(0)}/v1/tx/preview"
        for body, code in [
            ({"statements": []}, "bad_request"),
            ({"statements": [{"sql": "SELECT 1"}], "context": {"format": 1}}, "bad_request"),
            ({"statements": [{"sql": "PRAGMA journal_mode"}]}, "pragma"),
            ({"statements": [{"sql": "SELECT 1"}, {"sql": "BEGIN"}]}, "transaction_control"),
        ]:
            status, answer = await post(session, url, body)
            assert status == 400 and answer["error"]["code"] == code, (body, answer)
        status, answer = await post(session, url, {"statements": [{"sql": "SELEC 1"}]})
        assert status == 400 and answer["error"]["statement"] == 0, answer

    run(test)


def test_write_skew_between_replicas_is_prevented(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        # Each withdraws 150 from its own account after checking that the total stays
        # non-negative: under snapshot isolation both would commit (total -100).
        table = await make_accounts(cluster, session)
        cluster.wait_converged()
        clients = [Client(session, cluster.url(0)), Client(session, cluster.url(2))]
        for account, client in enumerate(clients, start=1):
            _, answer = await client.execute(f"SELECT sum(balance) FROM {table}")
            assert answer["results"][-1]["rows"] == [[200]]
            await client.execute(
                f"UPDATE {table} SET balance = balance - 150 WHERE id = ?", account
            )
        outcomes = await asyncio.gather(*(client.commit() for client in clients))
        assert sorted(status for status, _ in outcomes) == [200, 409], outcomes
        cluster.wait_converged()
        assert await query(session, cluster.url(1), f"SELECT sum(balance) FROM {table}") == [[50]]

    run(test)


def test_after_a_commit_token_a_preview_sees_that_commit(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        writer = Client(session, cluster.url(0))
        await writer.execute(f"UPDATE {table} SET balance = 1 WHERE id = 1")
        status, committed = await writer.commit()
        assert status == 200 and committed["commit_token"].startswith("epx1:"), committed
        url = f"{cluster.url(2)}/v1/tx/preview"
        read = [{"sql": f"SELECT balance FROM {table} WHERE id = 1"}]
        status, answer = await post(
            session, url, {"statements": read, "after": committed["commit_token"]}
        )
        assert status == 200 and answer["results"][0]["rows"] == [[1]], answer
        status, answer = await post(session, url, {"statements": read, "after": "nonsense"})
        assert status == 400 and answer["error"]["code"] == "bad_token", answer
        far = {"statements": read, "after": "epx1:1:999999", "timeout_ms": 200}
        status, answer = await post(session, url, far)
        assert status == 504 and answer["error"]["code"] == "not_caught_up", answer

    run(test)


def test_a_failure_that_rolls_back_everything_ends_the_transaction(cluster: LocalCluster) -> None:
    async def test(session: aiohttp.ClientSession) -> None:
        table = await make_accounts(cluster, session)
        status, answer = await post(session, f"{cluster.url(0)}/v1/tx", {"statements": [
            {"sql": f"CREATE TRIGGER keep{table} BEFORE DELETE ON {table} "
                    "BEGIN SELECT RAISE(ROLLBACK, 'keep every account'); END"}]})  # fmt: skip
        assert status == 200, answer
        client = Client(session, cluster.url(1))
        await client.execute(f"UPDATE {table} SET balance = 0")
        status, answer = await client.execute(f"DELETE FROM {table} WHERE id = 2")
        assert status == 409 and "context" not in answer, answer
        assert answer["error"]["transaction_rolled_back"] is True
        assert answer["error"]["statement"] == 1 and "keep every" in answer["error"]["message"]

    run(test)
