"""Independent random streams derived from one seed.

Each component draws from its own `random.Random`, seeded from the root stream in a
fixed order, so an extra draw in one component (say, one more message) does not shift
the choices of another (the crash schedule): runs stay comparable across small code
changes, and a seed replays exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Streams:
    swarm: random.Random  # fault parameters of this run
    network: random.Random
    disk: random.Random
    faults: random.Random  # crash, restart and partition schedule
    workload: random.Random  # commands, arrival times, client choices
    replicas: tuple[random.Random, ...]  # one per replica core

    @staticmethod
    def derive(seed: int, replica_count: int) -> Streams:
        root = random.Random(seed)

        def child() -> random.Random:
            return random.Random(root.getrandbits(64))

        swarm, network, disk, faults, workload = (child() for _ in range(5))
        return Streams(
            swarm, network, disk, faults, workload, tuple(child() for _ in range(replica_count))
        )
