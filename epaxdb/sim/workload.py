"""The clients' commands: a seeded generator with a configurable conflict rate.

As in the EPaxos evaluation, a command *conflicts* when it touches the one hot key;
every other key is drawn from a space large enough that accidental conflicts are
rare. On top of that mix: read-only commands (which commute with each other),
multi-key commands (non-transitive interference), whole-group scans and clears
(conflict keys covering every item) and global commands (interfering with all).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from epaxdb.command import Command
from epaxdb.sim.kv import Op, make_command

HOT_KEY = "hot"
KEY_SPACE = 1_000_000


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    commands: int
    conflict: float  # share of keys that are the hot key
    read_only: float = 0.2
    multi_key: float = 0.2
    scan: float = 0.02
    clear: float = 0.01
    global_share: float = 0.03
    interarrival_ms_mean: float = 10.0
    burst: float = 0.0  # chance that the next 1-3 commands follow within a millisecond

    @staticmethod
    def draw(commands: int, conflict: float | None, rng: random.Random) -> WorkloadSpec:
        """Swarm-draw what the caller left open; an explicit conflict rate is kept."""
        return WorkloadSpec(
            commands=commands,
            conflict=rng.choice((0.0, 0.02, 0.1, 0.25, 0.5, 1.0)) if conflict is None else conflict,
            read_only=rng.uniform(0.0, 0.4),
            multi_key=rng.uniform(0.0, 0.4),
            scan=rng.choice((0.0, 0.02)),
            clear=rng.choice((0.0, 0.01)),
            global_share=rng.choice((0.0, 0.01, 0.05)),
            interarrival_ms_mean=rng.choice((0.5, 2.0, 10.0, 30.0)),
            burst=rng.choice((0.0, 0.2, 0.5)),
        )


class Workload:
    def __init__(self, spec: WorkloadSpec, rng: random.Random) -> None:
        self.spec = spec
        self._rng = rng
        self.generated = 0
        self._burst_left = 0

    @property
    def exhausted(self) -> bool:
        return self.generated >= self.spec.commands

    def next_command(self) -> Command:
        spec, rng = self.spec, self._rng
        index = self.generated
        self.generated += 1
        request_id = f"c{index}"
        roll = rng.random()
        if roll < spec.scan:
            return make_command(request_id, [("scan",)])
        if roll < spec.scan + spec.clear:
            return make_command(request_id, [("clear",)])
        count = rng.randint(2, 3) if rng.random() < spec.multi_key else 1
        keys = [self._key() for _ in range(count)]
        if rng.random() < spec.read_only:
            ops: list[Op] = [("get", key) for key in keys]
        else:
            ops = [("put", key, index) if rng.random() < 0.8 else ("get", key) for key in keys]
            if not any(op[0] == "put" for op in ops):
                ops[0] = ("put", keys[0], index)
        return make_command(request_id, ops, is_global=rng.random() < spec.global_share)

    def interarrival_ms(self) -> float:
        """Bursts put commands (on random replicas) in flight together: concurrent
        instances that see each other in different orders, which recovery must sort out."""
        rng = self._rng
        if self._burst_left:
            self._burst_left -= 1
            return rng.uniform(0.0, 1.0)
        if self.spec.burst and rng.random() < self.spec.burst:
            self._burst_left = rng.randint(1, 3)
        return rng.expovariate(1.0 / self.spec.interarrival_ms_mean)

    def _key(self) -> str:
        if self._rng.random() < self.spec.conflict:
            return HOT_KEY
        return f"k{self._rng.randrange(KEY_SPACE)}"
