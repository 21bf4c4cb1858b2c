"""Round-trip estimates per peer, from the protocol's own vote requests and replies.

Thrifty mode asks the peers it expects to answer first; this module tells the core
which ones those are. A PreAccept or Accept sent to a peer and that peer's
PreAcceptOk / AcceptOk for the same instance give one round-trip sample (it includes
the peer's fsync, which is what a quorum waits for). Estimates are smoothed like TCP's
SRTT (RFC 6298, alpha = 1/8). A peer that stops answering is not sampled at all, so
its estimate ages: after `stale_s` without a sample it ranks last until it answers
again.
"""

from __future__ import annotations

from collections.abc import Iterable

from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import Accept, AcceptOk, Message, PreAccept, PreAcceptOk
from epaxdb.records import Outgoing

_ALPHA = 1 / 8
_MAX_OUTSTANDING = 4096  # requests awaiting a reply, per tracker (oldest dropped)


class PeerLatency:
    def __init__(self, peers: Iterable[ReplicaId], stale_s: float = 2.0) -> None:
        self._peers = tuple(peers)
        self._stale_s = stale_s
        self._srtt_s: dict[ReplicaId, float] = {}
        self._last_sample_s: dict[ReplicaId, float] = {}
        self._outstanding: dict[tuple[ReplicaId, InstanceId, bool], float] = {}

    def on_sent(self, now_s: float, messages: Iterable[Outgoing]) -> None:
        for outgoing in messages:
            message = outgoing.message
            if isinstance(message, (PreAccept, Accept)):
                key = (outgoing.to, message.instance_id, isinstance(message, Accept))
                self._outstanding.setdefault(key, now_s)
        while len(self._outstanding) > _MAX_OUTSTANDING:
            del self._outstanding[next(iter(self._outstanding))]

    def on_received(self, now_s: float, sender: ReplicaId, message: Message) -> None:
        if not isinstance(message, (PreAcceptOk, AcceptOk)):
            return
        sent = self._outstanding.pop(
            (sender, message.instance_id, isinstance(message, AcceptOk)), None
        )
        if sent is None:
            return
        sample = now_s - sent
        previous = self._srtt_s.get(sender)
        self._srtt_s[sender] = (
            sample if previous is None else previous + _ALPHA * (sample - previous)
        )
        self._last_sample_s[sender] = now_s

    def estimate_s(self, peer: ReplicaId) -> float | None:
        return self._srtt_s.get(peer)

    def ranking(self, now_s: float) -> tuple[ReplicaId, ...]:
        """Peers by estimate, fastest first; peers never or not lately heard from last
        (in id order, so the ranking is stable)."""

        def key(peer: ReplicaId) -> tuple[bool, float, int]:
            fresh = now_s - self._last_sample_s.get(peer, -1e18) <= self._stale_s
            return (not fresh, self._srtt_s.get(peer, 0.0) if fresh else 0.0, peer)

        return tuple(sorted(self._peers, key=key))

    def widen_after_s(self, ranking: tuple[ReplicaId, ...], asked: int) -> float | None:
        """How long to wait for the `asked` best-ranked peers before asking everyone:
        twice the slowest of their estimates (None while any of them has none)."""
        estimates = [self._srtt_s.get(peer) for peer in ranking[:asked]]
        if not estimates or any(e is None for e in estimates):
            return None
        return 2 * max(e for e in estimates if e is not None)
