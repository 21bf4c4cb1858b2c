"""The simulated network: per-message fate (lost, delayed, duplicated) and partitions.

Theory of operation. `fates(sender, to)` decides, when a message is sent, how many
copies arrive and after which delays: none if the link is cut or the message is
lost, two if it is duplicated. Delays are a minimum plus an exponential tail, with
rare spikes that deliver a message long after later ones (stale ballots), so
reordering needs no separate mechanism. A partition is a set of cut directed links;
`link_up` is checked again on delivery, so a partition also drops what was in flight
across it. Only one partition is active at a time; `heal` removes it.

A *clog* (TigerBeetle's path clogging) slows some links for a while: every message
on them takes `extra` ms more. Clogging the links into or out of one replica makes
it a straggler, the usual way a message reaches only part of a quorum in time.
"""

from __future__ import annotations

import random

from epaxdb.ids import ReplicaId
from epaxdb.sim.faults import FaultPlan

Link = tuple[ReplicaId, ReplicaId]


class Network:
    def __init__(self, replica_count: int, plan: FaultPlan, rng: random.Random) -> None:
        self.replica_count = replica_count
        self.cut: frozenset[Link] = frozenset()
        self.clogged: dict[Link, float] = {}  # link -> extra delay (ms)
        self._rng = rng
        self.set_rates(plan.loss, plan.duplication, plan.spike_probability)
        self._delay_min = plan.delay_ms_min
        self._delay_rate = 1.0 / max(plan.delay_ms_mean, 1e-9)

    def set_rates(self, loss: float, duplication: float, spike: float) -> None:
        self.loss = loss
        self.duplication = duplication
        self.spike = spike

    def link_up(self, sender: ReplicaId, to: ReplicaId) -> bool:
        return (sender, to) not in self.cut

    def fates(self, sender: ReplicaId, to: ReplicaId) -> list[float]:
        """The delays (ms) of the copies of one message that will arrive; [] if none."""
        if (sender, to) in self.cut:
            return []
        rng = self._rng
        if self.loss and rng.random() < self.loss:
            return []
        delays = [self._delay()]
        if self.duplication and rng.random() < self.duplication:
            delays.append(self._delay())
        if self.clogged:
            extra = self.clogged.get((sender, to))
            if extra:
                delays = [delay + extra for delay in delays]
        return delays

    def _delay(self) -> float:
        rng = self._rng
        delay = self._delay_min + rng.expovariate(self._delay_rate)
        if self.spike and rng.random() < self.spike:
            delay += rng.uniform(20.0, 200.0)
        return delay

    def partition(self, rng: random.Random, asymmetric_share: float) -> str:
        """Cut a random part of the cluster off from the rest; returns a description.
        Symmetric: no message crosses either way. Asymmetric: the part can still
        hear the others, but nothing it sends reaches them (a one-way link failure)."""
        replicas = list(range(self.replica_count))
        size = rng.randint(1, max(1, self.replica_count // 2))
        part = frozenset(rng.sample(replicas, size))
        rest = [r for r in replicas if r not in part]
        one_way = rng.random() < asymmetric_share
        cut = {(a, b) for a in part for b in rest}
        if not one_way:
            cut |= {(b, a) for a in part for b in rest}
        self.cut = frozenset(cut)
        arrow = "-/->" if one_way else "<-/->"
        return f"{sorted(part)} {arrow} {rest}"

    def heal(self) -> None:
        self.cut = frozenset()

    def clog(self, rng: random.Random, extra_ms: float) -> str:
        """Slow the links into or out of one replica, or one random link."""
        replica = rng.randrange(self.replica_count)
        others = [r for r in range(self.replica_count) if r != replica]
        kind = rng.choice(("into", "out of", "link"))
        if kind == "into":
            links = [(other, replica) for other in others]
        elif kind == "out of":
            links = [(replica, other) for other in others]
        else:
            links = [(replica, rng.choice(others))]
        for link in links:
            self.clogged[link] = extra_ms
        return f"{kind} r{replica} +{extra_ms:.0f}ms: {links}"

    def unclog(self) -> None:
        self.clogged = {}
