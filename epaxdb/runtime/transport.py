"""Replica-to-replica messaging over asyncio TCP.

Theory of operation
-------------------
Every replica listens on one address and dials every peer. A dialed connection
carries messages one way, dialer to acceptor, so there is no tie-breaking between
two replicas dialing each other and a reconnect only ever concerns one direction.

Outgoing (`_Link`, one per peer): `send()` encodes each message once (a broadcast is
one object sent to n - 1 peers), frames it (`wire.encode_frame`) and appends it to
the peer's queue. The link's task wakes, takes *everything* queued and writes it with
one `write()`: the core produces one `Ready` per loop iteration, so that is one write
per peer per iteration however many messages it holds. The queue is bounded; when
full the oldest frame is dropped. The protocol already survives loss (retransmission
and recovery), while an unbounded queue to a dead peer would eat the memory. A
failed connection is retried with exponential backoff and full jitter, so replicas
restarted together do not reconnect in lockstep.

Wide-area emulation (benchmarks only): a link given a one-way delay holds each frame
that long in a `DelayLine` before queueing it, so the peer sees the messages late
but in the order they were sent.

Incoming: after the handshake (handshake.py) the acceptor feeds reads to a
`FrameDecoder` and hands each decoded message to `deliver(sender, message)`. A
message that does not decode is logged and dropped (a peer may make us drop its
message, never build a malformed one); a broken frame stream closes the connection.

Nothing here knows the protocol: the node decides what to send, and when.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from epaxdb.errors import RemoteProtocolError
from epaxdb.ids import ReplicaId
from epaxdb.messages import Message
from epaxdb.records import Outgoing
from epaxdb.runtime.events import log_event
from epaxdb.runtime.handshake import (
    Hello,
    decode_verdict,
    encode_verdict,
    mismatch,
    proof,
    proof_is_valid,
)
from epaxdb.runtime.wan import DelayLine
from epaxdb.wire import FRAME_HEADER, FrameDecoder, decode_message, encode_frame, encode_message

logger = logging.getLogger("epaxdb.transport")

_HANDSHAKE_FRAME_MAX = 64 * 1024
_READ_SIZE = 256 * 1024
_REFUSAL_LOG_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @staticmethod
    def parse(text: str) -> Address:
        host, separator, port = text.rpartition(":")
        if not separator or not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        return Address(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class LinkStats:
    frames_sent: int = 0
    writes: int = 0
    frames_dropped: int = 0
    connects: int = 0


@dataclass(frozen=True, slots=True)
class PeerStatus:
    outbound: bool  # our connection to the peer is up (we can send)
    inbound: bool  # the peer's connection to us is up (we can receive)


class HandshakeRefused(Exception):
    """Internal: the other side is not a member we may talk to."""


class Transport:
    def __init__(
        self,
        hello: Hello,
        listen: Address,
        peers: Mapping[ReplicaId, Address],
        deliver: Callable[[ReplicaId, Message], None],
        *,
        secret: bytes | None = None,
        queue_limit: int = 10_000,
        backoff_initial_s: float = 0.05,
        # Short: a restarted peer is back only once its peers reconnect to it, and a
        # connection attempt to a dead peer costs one SYN (benchmarks saw a restarted
        # replica idle for ~2 s with a 2 s cap).
        backoff_max_s: float = 0.5,
        handshake_timeout_s: float = 5.0,
        delays_s: Mapping[ReplicaId, float] | None = None,
    ) -> None:
        """`delays_s`: an emulated one-way network delay per peer (wide-area
        benchmarks, `epaxdb.runtime.wan`); frames to that peer wait this long before
        they are queued, in order."""
        self.hello = hello
        self.listen = listen
        self._deliver = deliver
        self._secret = secret
        self.handshake_timeout_s = handshake_timeout_s
        self._links = {
            replica_id: _Link(self, replica_id, address, queue_limit, backoff_initial_s,
                              backoff_max_s, (delays_s or {}).get(replica_id, 0.0))
            for replica_id, address in peers.items()
            if replica_id != hello.replica_id
        }  # fmt: skip
        self._inbound: dict[ReplicaId, asyncio.StreamWriter] = {}
        self._server: asyncio.base_events.Server | None = None
        self._connection_tasks: set[asyncio.Task[None]] = set()
        self._refusals_logged: dict[tuple[str, str, bool], float] = {}
        self._closing = False
        self.messages_dropped_malformed = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection, self.listen.host, self.listen.port, reuse_address=True
        )
        for link in self._links.values():
            link.start()
        log_event(logger, logging.INFO, "transport_listening", address=str(self.listen))

    def send(self, outgoing: Iterable[Outgoing]) -> None:
        """Queue messages; each link writes all it has once the loop lets it run."""
        encoded: dict[int, bytes] = {}
        for item in outgoing:
            link = self._links.get(item.to)
            if link is None:
                continue
            frame = encoded.get(id(item.message))
            if frame is None:
                frame = encoded[id(item.message)] = encode_frame(encode_message(item.message))
            link.enqueue(frame)

    def peer_status(self) -> dict[ReplicaId, PeerStatus]:
        return {
            replica_id: PeerStatus(link.connected, replica_id in self._inbound)
            for replica_id, link in sorted(self._links.items())
        }

    def link_stats(self) -> dict[ReplicaId, LinkStats]:
        return {replica_id: link.stats for replica_id, link in sorted(self._links.items())}

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for link in self._links.values():
            await link.stop()
        for writer in list(self._inbound.values()):
            writer.close()
        for task in list(self._connection_tasks):
            task.cancel()
        if self._connection_tasks:
            await asyncio.gather(*self._connection_tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # ------------------------------------------------------------------ acceptor side

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connection_tasks.add(task)
        sender: ReplicaId | None = None
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that races with completion, and close() relies on cancelling.
            async with asyncio.timeout(self.handshake_timeout_s):
                sender = await self._accept_handshake(reader, writer)
            if self._closing:
                return
            previous = self._inbound.get(sender)
            if previous is not None:
                previous.close()  # the peer restarted or reconnected: keep the newest
            self._inbound[sender] = writer
            log_event(logger, logging.INFO, "peer_inbound_connected", peer=sender)
            await self._receive(sender, reader)
        except (
            TimeoutError,
            HandshakeRefused,
            RemoteProtocolError,
            OSError,
            asyncio.IncompleteReadError,
        ) as error:
            if sender is not None:
                log_event(logger, logging.INFO, "peer_inbound_closed", peer=sender,
                          reason=str(error) or type(error).__name__)  # fmt: skip
        except asyncio.CancelledError:
            # Only close() cancels a connection task. End it normally: asyncio's stream
            # protocol inspects the handler task and would log a cancelled one as an error.
            pass
        finally:
            if sender is not None and self._inbound.get(sender) is writer:
                del self._inbound[sender]
            writer.close()
            self._connection_tasks.discard(task)

    async def _accept_handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> ReplicaId:
        ours = replace(self.hello, nonce=os.urandom(16))
        writer.write(encode_frame(ours.encode()))
        theirs, given_proof = Hello.decode(await _read_frame(reader))
        reason = mismatch(self.hello, theirs)
        if reason is None and theirs.replica_id not in self._links:
            reason = (
                f"replica id {theirs.replica_id} is not a peer of replica "
                f"{self.hello.replica_id}"
            )
        if (
            reason is None
            and self._secret is not None
            and not proof_is_valid(self._secret, ours.nonce, theirs, given_proof)
        ):
            reason = "cluster secret does not match"
        if reason is not None:  # logged first: the peer may be gone before the verdict
            self._log_refusal(f"replica {theirs.replica_id}", reason, incoming=True)
        writer.write(encode_frame(encode_verdict(reason)))
        await writer.drain()
        if reason is not None:
            raise HandshakeRefused(reason)
        return theirs.replica_id

    async def _receive(self, sender: ReplicaId, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                return
            for frame in decoder.feed(data):
                try:
                    message = decode_message(frame)
                except RemoteProtocolError as error:
                    self.messages_dropped_malformed += 1
                    log_event(logger, logging.WARNING, "message_dropped", peer=sender,
                              reason=str(error))  # fmt: skip
                    continue
                self._deliver(sender, message)

    # ------------------------------------------------------------------ dialer side

    async def dial_handshake(
        self, peer: ReplicaId, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        theirs, _ = Hello.decode(await _read_frame(reader))
        # Introduce ourselves even to a peer we are about to refuse, so that its log
        # explains the refusal too.
        ours = replace(self.hello, nonce=os.urandom(16))
        signature = b"" if self._secret is None else proof(self._secret, theirs.nonce, ours)
        writer.write(encode_frame(ours.encode(signature)))
        reason = mismatch(self.hello, theirs)
        if reason is None and theirs.replica_id != peer:
            reason = f"the address of replica {peer} answers as replica {theirs.replica_id}"
        if reason is not None:
            self._log_refusal(f"replica {peer}", reason, incoming=False)
            await writer.drain()
            raise HandshakeRefused(reason)
        verdict = decode_verdict(await _read_frame(reader))
        if verdict is not None:
            self._log_refusal(f"replica {peer}", f"it refused us: {verdict}", incoming=False)
            raise HandshakeRefused(verdict)

    def _log_refusal(self, who: str, reason: str, *, incoming: bool) -> None:
        now = time.monotonic()
        key = (who, reason, incoming)
        if now - self._refusals_logged.get(key, -_REFUSAL_LOG_INTERVAL_S) < _REFUSAL_LOG_INTERVAL_S:
            return
        self._refusals_logged[key] = now
        log_event(logger, logging.ERROR, "peer_refused", peer=who, reason=reason,
                  direction="incoming" if incoming else "outgoing")  # fmt: skip


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(FRAME_HEADER.size)
    (length,) = FRAME_HEADER.unpack(header)
    if not 0 < length <= _HANDSHAKE_FRAME_MAX:
        raise RemoteProtocolError(f"handshake frame length {length} out of range")
    return await reader.readexactly(length)


class _Link:
    """The outgoing connection to one peer, with its bounded queue."""

    def __init__(
        self,
        transport: Transport,
        peer: ReplicaId,
        address: Address,
        queue_limit: int,
        backoff_initial_s: float,
        backoff_max_s: float,
        delay_s: float = 0.0,
    ) -> None:
        self.transport = transport
        self.peer = peer
        self.address = address
        self.stats = LinkStats()
        self.connected = False
        self._queue: deque[bytes] = deque()
        self._queue_limit = queue_limit
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._delay = DelayLine(delay_s, self._queue_frame) if delay_s > 0 else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def enqueue(self, frame: bytes) -> None:
        if self._delay is not None:
            self._delay.push(frame)
        else:
            self._queue_frame(frame)

    def _queue_frame(self, frame: bytes) -> None:
        if len(self._queue) >= self._queue_limit:
            self._queue.popleft()
            self.stats.frames_dropped += 1
        self._queue.append(frame)
        self._wake.set()

    async def stop(self) -> None:
        self._closing = True
        if self._delay is not None:
            self._delay.close()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        backoff_s = self._backoff_initial_s
        announced = False  # whether the current outage was logged
        while not self._closing:
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(self.transport.handshake_timeout_s):
                    reader, writer = await asyncio.open_connection(
                        self.address.host, self.address.port
                    )
                    await self.transport.dial_handshake(self.peer, reader, writer)
                self.connected = True
                announced = False
                self.stats.connects += 1
                backoff_s = self._backoff_initial_s
                log_event(logger, logging.INFO, "peer_connected", peer=self.peer,
                          address=str(self.address))  # fmt: skip
                await self._pump(reader, writer)
                reason = "connection closed"
            except HandshakeRefused as error:
                reason = f"handshake refused: {error}"
                backoff_s = self._backoff_max_s
            except (
                TimeoutError,
                OSError,
                RemoteProtocolError,
                asyncio.IncompleteReadError,
            ) as error:
                reason = str(error) or type(error).__name__
            finally:
                was_connected, self.connected = self.connected, False
                if writer is not None:
                    writer.close()
            if was_connected:
                log_event(logger, logging.WARNING, "peer_disconnected", peer=self.peer,
                          address=str(self.address), reason=reason)  # fmt: skip
                announced = True
            elif not announced:
                log_event(logger, logging.INFO, "peer_unreachable", peer=self.peer,
                          address=str(self.address), reason=reason)  # fmt: skip
                announced = True
            # Full jitter: replicas restarted together spread their reconnects.
            await asyncio.sleep(random.uniform(0, backoff_s))
            backoff_s = min(backoff_s * 2, self._backoff_max_s)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Write everything queued, one write per wake-up, until the connection ends."""
        # An acceptor never writes after the handshake: a completed read means closed.
        closed = asyncio.get_running_loop().create_task(reader.read(1))
        closed.add_done_callback(lambda _: self._wake.set())
        try:
            while not closed.done() and not self._closing:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frames = list(self._queue)
                self._queue.clear()
                writer.write(b"".join(frames))
                self.stats.writes += 1
                self.stats.frames_sent += len(frames)
                await writer.drain()
        finally:
            closed.cancel()
