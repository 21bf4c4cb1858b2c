"""Bank transfers from concurrent clients on different replicas: the total never changes.

    python3 examples/bank/bank.py                        # starts its own 3-replica cluster
    python3 examples/bank/bank.py --urls http://127.0.0.1:4001,http://127.0.0.1:4002,...

A few accounts (so that clients collide often) hold 100 each. One client per replica
moves random amounts between random accounts, each transfer a read-check-write
transaction through `epaxdb.dbapi`, exactly as one would write it for `sqlite3`.
When two transfers read the same account concurrently, the one ordered second fails
its commit with `SerializationFailure`, nothing of it applied, and runs again. An
auditor sums the balances meanwhile. At the end every replica must report the same
total and the same state hash. The run is bounded by --transfers and --seconds.
Exit status 0 when the total held and the replicas agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import epaxdb.dbapi as db
from epaxdb.runtime.local_cluster import LocalCluster

START_BALANCE = 100
MAX_ATTEMPTS = 10  # of one transfer, before giving up on it


@dataclass
class ClientReport:
    url: str
    committed: int = 0
    retries: int = 0
    insufficient: int = 0
    unknown: list[str] = field(default_factory=list)  # each lost answer's outcome, as found
    gave_up: int = 0


def transfer(conn: db.Connection, source: int, target: int, amount: int) -> bool:
    """Move `amount` if `source` has it; False if it has not. One transaction."""
    with conn:
        (balance,) = conn.execute("SELECT balance FROM accounts WHERE id = ?", (source,)).fetchone()
        if balance < amount:
            return False
        conn.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, source))
        conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, target))
    return True


def transfer_with_retry(
    conn: db.Connection,
    urls: list[str],
    source: int,
    target: int,
    amount: int,
    report: ClientReport,
) -> None:
    """Run the transfer until it commits. A serialization failure applied nothing, so
    running it again is safe. An unknown outcome may have committed: running it again
    could move the money twice, so ask the cluster what became of it instead."""
    for _ in range(MAX_ATTEMPTS):
        try:
            moved = transfer(conn, source, target, amount)
        except db.SerializationFailure:
            report.retries += 1  # another transfer changed a balance first: read again
            continue
        except db.OutcomeUnknown as error:
            report.unknown.append(outcome(urls, error.request_id))
            return
        if moved:
            report.committed += 1
        else:
            report.insufficient += 1
        return
    report.gave_up += 1


def outcome(urls: Sequence[str], request_id: str, timeout_s: float = 10.0) -> str:
    """What became of a transaction whose answer was lost: "committed" or "aborted" as
    the first replica that executed it says (`GET /v1/tx/{request_id}`), or "unknown"
    if none had within `timeout_s` (still in flight, or it never arrived)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for url in urls:
            try:
                with urllib.request.urlopen(
                    f"{url}/v1/tx/{quote(request_id)}", timeout=5
                ) as answer:
                    found = json.load(answer)["outcome"]
            except OSError:
                continue  # that replica is down: ask another
            if found != "unknown":  # "unknown" means: not executed on that replica (yet)
                return str(found)
        if time.monotonic() > deadline:
            return "unknown"
        time.sleep(0.2)


def client(
    urls: list[str],
    after: Any,
    accounts: int,
    transfers: int,
    stop: threading.Event,
    seed: int,
) -> ClientReport:
    """`urls[0]` is this client's replica; the others are for failover."""
    rng = random.Random(seed)
    report = ClientReport(urls[0])
    conn = db.connect(urls, after=after)
    try:
        for _ in range(transfers):
            if stop.is_set():
                break
            source, target = rng.sample(range(1, accounts + 1), 2)
            transfer_with_retry(conn, urls, source, target, rng.randint(1, 60), report)
    finally:
        conn.close()
    return report


def audit(urls: list[str], after: Any, stop: threading.Event, totals: list[int]) -> None:
    """Sum every balance, again and again until `stop`, in transactions of their own."""
    conn = db.connect(urls, after=after)
    try:
        while not (stop.is_set() and totals):  # at least one audit
            try:
                with conn:  # committed, so the read is checked like any transaction
                    totals.append(conn.execute("SELECT sum(balance) FROM accounts").fetchone()[0])
            except db.SerializationFailure:
                pass  # a transfer moved money while it read: read again
            stop.wait(0.2)
    finally:
        conn.close()


def status(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/v1/status", timeout=5) as answer:
        return dict(json.load(answer))


def agreed_state_hash(urls: Sequence[str], timeout_s: float = 30.0) -> dict[str, str]:
    """Each replica's state hash once all are equal (replicas execute at their own pace)."""
    deadline = time.monotonic() + timeout_s
    while True:
        hashes = {url: status(url)["state_hash"] for url in urls}
        if len(set(hashes.values())) == 1 or time.monotonic() > deadline:
            return hashes
        time.sleep(0.1)


def run(urls: list[str], accounts: int, transfers: int, seconds: float, seed: int) -> bool:
    print(
        f"bank: {len(urls)} replicas, {accounts} accounts of {START_BALANCE}, "
        f"{len(urls)} clients (one per replica), up to {transfers} transfers each"
    )
    setup = db.connect(urls)
    with setup:
        setup.execute("DROP TABLE IF EXISTS accounts")
        setup.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY,"
            " balance INTEGER NOT NULL CHECK (balance >= 0))"
        )
        setup.executemany(
            "INSERT INTO accounts VALUES (?, ?)",
            [(i, START_BALANCE) for i in range(1, accounts + 1)],
        )
    # Every client reads after this commit, whichever replica it talks to.
    after = setup.commit_token
    setup.close()
    expected = accounts * START_BALANCE

    stop, totals = threading.Event(), []
    # --seconds bounds the run; Ctrl-C or SIGTERM end it after the transfers under way
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    auditor = threading.Thread(target=audit, args=(urls, after, stop, totals), daemon=True)
    auditor.start()
    with ThreadPoolExecutor(len(urls)) as pool:
        running = [
            # client i talks to replica i first; the others are its failover
            pool.submit(client, urls[i:] + urls[:i], after, accounts, transfers, stop, seed + i)
            for i in range(len(urls))
        ]
        try:
            reports = [future.result() for future in running]
        finally:
            stop.set()
            timer.cancel()
    auditor.join(30)

    for report in reports:
        print(
            f"client on {report.url}: {report.committed} transfers committed, "
            f"{report.insufficient} refused for lack of funds, {report.retries} retries "
            f"after a serialization failure, {len(report.unknown)} answers lost "
            f"{sorted(report.unknown)}, "
            f"{report.gave_up} given up"
        )
    held = all(total == expected for total in totals)
    print(f"audits: {len(totals)}, " + (f"every total {expected}" if held else f"totals {totals}"))

    finals = []
    for url in urls:
        conn = db.connect(url, autocommit=True)  # a linearizable read, served by that replica
        finals.append(conn.execute("SELECT sum(balance) FROM accounts").fetchone()[0])
        conn.close()
    print(f"total on each replica: {' '.join(map(str, finals))} (expected {expected})")
    hashes = agreed_state_hash(urls)
    agreed = len(set(hashes.values())) == 1
    if agreed:
        print(f"state hashes agree: {next(iter(hashes.values()))} on {len(hashes)} replicas")
    else:
        print(f"state hashes DIFFER: {hashes}")
    return held and agreed and all(total == expected for total in finals)


def with_local_cluster(args: argparse.Namespace) -> bool:
    # SIGTERM unwinds like Ctrl-C, so the `with` below stops the replicas it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        tempfile.TemporaryDirectory(prefix="epaxdb-bank-") as root,
        LocalCluster(Path(root), 3) as cluster,
    ):
        cluster.start_all()
        cluster.wait_ready(timeout_s=60)
        try:
            urls = [cluster.url(i) for i in range(cluster.size)]
            return run(urls, args.accounts, args.transfers, args.seconds, args.seed)
        finally:
            cluster.stop_all()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", help="replica URLs, comma-separated (default: start a cluster)")
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--transfers", type=int, default=30, help="per client")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop transferring after")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.urls:
            ok = run(args.urls.split(","), args.accounts, args.transfers, args.seconds, args.seed)
        else:
            ok = with_local_cluster(args)
    except KeyboardInterrupt:
        print("bank: interrupted", file=sys.stderr)
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
