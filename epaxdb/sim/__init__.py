"""Deterministic simulation of an epaxdb cluster (VOPR / FoundationDB style).

`run_seed(SimSettings(...), seed)` runs one seeded scenario against real `Replica`
cores with simulated network, disks, clients and crashes, and raises
`SimulationFailure` (seed, replay command, trace) if an invariant breaks.
`sweep.run_seeds` runs many. Modules: events (clock), streams (seeded randomness),
faults (swarm fault plans), network, disk, kv (state machine), workload, clients,
checkers, trace, cluster (cores + effects), simulator (one run), sweep (many runs).
"""

from __future__ import annotations

from epaxdb.sim.simulator import SeedResult, SimSettings, Simulation, SimulationFailure, run_seed

__all__ = ["SeedResult", "SimSettings", "Simulation", "SimulationFailure", "run_seed"]
