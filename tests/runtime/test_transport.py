"""The replica transport on loopback: delivery, batching, handshake refusals, reconnects."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import PROTOCOL_VERSION, CommitQuery, Message
from epaxdb.records import Outgoing
from epaxdb.runtime.handshake import Hello
from epaxdb.runtime.local_cluster import free_port, free_ports
from epaxdb.runtime.transport import Address, Transport

SETTINGS = (("foreign_keys", "on"), ("recursive_triggers", "on"))


def hello(replica_id: int, **changes: object) -> Hello:
    base = Hello("test-cluster", replica_id, PROTOCOL_VERSION, "3.54.1", SETTINGS)
    return replace(base, **changes)


def query(slot: int) -> CommitQuery:
    return CommitQuery((InstanceId(0, slot),))


def slots(received: list[tuple[ReplicaId, Message]]) -> list[int]:
    return [m.instance_ids[0].slot for _, m in received if isinstance(m, CommitQuery)]


class Pair:
    """Replica 0 sends to replica 1, which records what it receives."""

    def __init__(self, *, sender_hello: Hello | None = None, receiver_hello: Hello | None = None,
                 sender_secret: bytes | None = None, receiver_secret: bytes | None = None,
                 queue_limit: int = 10_000, delays_s: dict[int, float] | None = None,
                 ) -> None:  # fmt: skip
        self.addresses = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(2))}
        self.received: list[tuple[ReplicaId, Message]] = []
        self.arrivals: list[float] = []  # loop time of each receipt
        self.sender = Transport(
            sender_hello or hello(0), self.addresses[0], self.addresses, lambda *m: None,
            secret=sender_secret, queue_limit=queue_limit, backoff_initial_s=0.01,
            backoff_max_s=0.05, delays_s=delays_s,
        )  # fmt: skip
        self.receiver_hello = receiver_hello or hello(1)
        self.receiver_secret = receiver_secret
        self.receiver = self.new_receiver()

    def new_receiver(self) -> Transport:
        return Transport(
            self.receiver_hello, self.addresses[1], self.addresses,
            self._record, secret=self.receiver_secret, backoff_initial_s=0.01, backoff_max_s=0.05,
        )  # fmt: skip

    def _record(self, sender: ReplicaId, message: Message) -> None:
        self.received.append((sender, message))
        self.arrivals.append(asyncio.get_running_loop().time())

    def send(self, *slots: int) -> None:
        self.sender.send([Outgoing(1, query(slot)) for slot in slots])

    async def close(self) -> None:
        await self.sender.close()
        await self.receiver.close()


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_messages_arrive_in_order_with_one_write_per_batch() -> None:
    async def scenario() -> None:
        pair = Pair()
        await pair.receiver.start()
        await pair.sender.start()
        await eventually(lambda: pair.sender.peer_status()[1].outbound)
        pair.send(*range(1, 201))
        await eventually(lambda: len(pair.received) == 200)
        assert slots(pair.received) == list(range(1, 201))
        assert {sender for sender, _ in pair.received} == {0}
        stats = pair.sender.link_stats()[1]
        assert (stats.writes, stats.frames_sent) == (1, 200)
        assert pair.receiver.peer_status()[0].inbound
        await pair.close()

    run(scenario)


def test_emulated_wan_delay_holds_each_frame_and_keeps_send_order() -> None:
    async def scenario() -> None:
        pair = Pair(delays_s={1: 0.08})
        await pair.receiver.start()
        await pair.sender.start()
        await eventually(lambda: pair.sender.peer_status()[1].outbound)
        sent_at = asyncio.get_running_loop().time()
        pair.send(1, 2, 3)
        await asyncio.sleep(0.02)
        pair.send(4, 5)
        await asyncio.sleep(0.04)
        assert pair.received == []  # still on the emulated wire
        await eventually(lambda: len(pair.received) == 5)
        assert slots(pair.received) == [1, 2, 3, 4, 5]
        assert min(pair.arrivals[:3]) - sent_at >= 0.08
        assert min(pair.arrivals[3:]) - sent_at >= 0.10
        await pair.close()

    run(scenario)


def test_broadcast_encodes_a_message_once_per_send() -> None:
    async def scenario() -> None:
        pair = Pair()
        await pair.receiver.start()
        await pair.sender.start()
        shared = query(7)
        pair.sender.send([Outgoing(1, shared), Outgoing(1, shared), Outgoing(5, shared)])
        await eventually(lambda: len(pair.received) == 2)  # unknown peer 5 is ignored
        assert pair.received == [(0, shared), (0, shared)]
        await pair.close()

    run(scenario)


@pytest.mark.parametrize(
    ("sender_changes", "reason"),
    [
        ({"cluster_id": "other"}, r"cluster id '\S+' differs from ours"),
        ({"sqlite_version": "3.45.0"}, r"SQLite version 3\.\d+\.\d differs from ours"),
        ({"protocol_version": PROTOCOL_VERSION + 1}, r"protocol version \d+ differs"),
        (
            {"settings": (("foreign_keys", "off"), ("recursive_triggers", "on"))},
            r"cluster settings differ: foreign_keys=o\w+ \(ours o\w+\)",
        ),
    ],
)
def test_mismatched_peer_is_refused_with_a_clear_log_line(
    sender_changes: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        pair = Pair(sender_hello=hello(0, **sender_changes))
        await pair.receiver.start()
        await pair.sender.start()
        pair.send(1)
        await eventually(
            lambda: {
                r.epaxdb_fields["direction"] for r in caplog.records if r.msg == "peer_refused"
            }
            == {"incoming", "outgoing"}
        )
        assert pair.received == []
        assert not pair.sender.peer_status()[1].outbound
        await pair.close()

    with caplog.at_level(logging.INFO, logger="epaxdb.transport"):
        run(scenario)
    refusals = [r for r in caplog.records if r.msg == "peer_refused"]
    for record in refusals:  # both ends explain why, each from its own point of view
        assert re.search(reason, record.epaxdb_fields["reason"]), record.epaxdb_fields


def test_address_answering_as_another_replica_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        pair = Pair(receiver_hello=hello(2))
        pair.addresses[2] = Address("127.0.0.1", free_port())
        await pair.receiver.start()
        await pair.sender.start()
        await eventually(lambda: any(r.msg == "peer_refused" for r in caplog.records))
        await pair.close()

    with caplog.at_level(logging.INFO, logger="epaxdb.transport"):
        run(scenario)
    reasons = [r.epaxdb_fields["reason"] for r in caplog.records if r.msg == "peer_refused"]
    assert "the address of replica 1 answers as replica 2" in reasons


@pytest.mark.parametrize(
    ("secret", "accepted"), [(b"s3cret", True), (b"wrong", False), (None, False)]
)
def test_cluster_secret_keeps_out_dialers_without_it(secret: bytes | None, accepted: bool) -> None:
    async def scenario() -> None:
        pair = Pair(sender_secret=secret, receiver_secret=b"s3cret")
        await pair.receiver.start()
        await pair.sender.start()
        pair.send(1)
        if accepted:
            await eventually(lambda: len(pair.received) == 1)
        else:
            await asyncio.sleep(0.3)
            assert pair.received == [] and pair.sender.link_stats()[1].connects == 0
        await pair.close()

    run(scenario)


def test_sender_reconnects_after_the_peer_restarts() -> None:
    async def scenario() -> None:
        pair = Pair()
        await pair.receiver.start()
        await pair.sender.start()
        pair.send(1)
        await eventually(lambda: len(pair.received) == 1)
        await pair.receiver.close()
        await eventually(lambda: not pair.sender.peer_status()[1].outbound)
        pair.receiver = pair.new_receiver()
        await pair.receiver.start()
        await eventually(lambda: pair.sender.peer_status()[1].outbound)
        pair.send(2)
        await eventually(lambda: len(pair.received) == 2)
        assert pair.sender.link_stats()[1].connects == 2
        await pair.close()

    run(scenario)


def test_full_queue_drops_the_oldest_messages() -> None:
    async def scenario() -> None:
        pair = Pair(queue_limit=10)
        await pair.sender.start()  # the receiver is down: everything queues
        pair.send(*range(1, 16))
        await asyncio.sleep(0.05)
        assert pair.sender.link_stats()[1].frames_dropped == 5
        await pair.receiver.start()
        await eventually(lambda: len(pair.received) == 10)
        assert slots(pair.received) == list(range(6, 16))
        await pair.close()

    run(scenario)
