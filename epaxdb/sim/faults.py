"""Fault plans: the rates of every fault a run injects, drawn from its seed.

Swarm testing (TigerBeetle's VOPR): instead of one fixed mix, each seed draws its own
rates, and each fault kind is switched off entirely in some runs. A run with only
loss and crashes finds different bugs than one with only partitions and duplicates,
and a fixed mix would dilute both. A preset bounds the draws:

- `none`: no faults at all, only random delays (which still reorder messages);
- `light`: rare loss and duplication, a few partitions, crashes of at most f replicas;
- `heavy`: everything, often, including delay spikes (stale messages arriving long
  after they were sent), asymmetric partitions, crashes of up to every replica at
  once and crashes that leave a prefix of unsynced writes on disk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRESETS = ("none", "light", "heavy")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    preset: str
    delay_ms_min: float
    delay_ms_mean: float  # mean of the exponential part added to delay_ms_min
    spike_probability: float  # a message is delayed by 20-200 ms more
    loss: float
    duplication: float
    fsync_ms_mean: float
    partitions_per_s: float
    partition_ms_mean: float
    asymmetric_share: float  # share of partitions that cut one direction only
    clogs_per_s: float  # links slowed for a while (all cleared when a clog ends)
    clog_ms_mean: float
    clog_delay_ms: float  # extra delay on a clogged link
    crashes_per_s: float
    down_ms_mean: float
    max_down: int  # replicas down at once during the fault phase
    torn_write: float  # a crash keeps a random prefix of the unsynced records
    # An fsync completion is followed by a crash after sending only some of what the
    # records allowed: a decision durable but (partly) never communicated. Far more
    # likely (`decision_crash`) when the records hold the owner's own decision at
    # ballot 0, the moment recovery is hardest (a targeted crash point, BUGGIFY-style).
    sync_crash: float
    decision_crash: float
    keep_down: int  # replicas left down during the liveness phase (at most f)
    # The core's timers. Short ones are false suspicions: recoveries racing a live
    # owner and each other, which is where recovery bugs hide.
    retransmit_ms: float = 50.0
    recovery_timeout_ms: float = 200.0
    fast_path_wait_ms: float = 5.0
    # Thrifty mode (ask only a quorum first) in half the runs; peers are ranked anew
    # at random on every boot of a replica.
    thrifty: bool = False
    thrifty_widen_ms: float = 10.0

    def core_settings(self) -> dict[str, float]:
        """The core's settings this run draws (keyword arguments of ClusterConfig)."""
        return {
            "retransmit_ms": self.retransmit_ms,
            "recovery_timeout_ms": self.recovery_timeout_ms,
            "fast_path_wait_ms": self.fast_path_wait_ms,
            "thrifty": self.thrifty,
            "thrifty_widen_ms": self.thrifty_widen_ms,
        }

    def describe(self) -> str:
        return (
            f"faults={self.preset} delay={self.delay_ms_min:.1f}+exp({self.delay_ms_mean:.1f})ms "
            f"spike={self.spike_probability:.3f} loss={self.loss:.3f} dup={self.duplication:.3f} "
            f"fsync={self.fsync_ms_mean:.2f}ms partitions={self.partitions_per_s:.2f}/s"
            f"x{self.partition_ms_mean:.0f}ms asym={self.asymmetric_share:.2f} "
            f"clogs={self.clogs_per_s:.2f}/sx{self.clog_ms_mean:.0f}ms+{self.clog_delay_ms:.0f}ms "
            f"crashes={self.crashes_per_s:.2f}/s down={self.down_ms_mean:.0f}ms "
            f"max_down={self.max_down} torn={self.torn_write:.2f} sync_crash={self.sync_crash:.3f}/{self.decision_crash:.2f} "
            f"keep_down={self.keep_down} "
            f"timers={self.retransmit_ms:g}/{self.recovery_timeout_ms:g}/{self.fast_path_wait_ms:g}ms"
            f"{f' thrifty={self.thrifty_widen_ms:g}ms' if self.thrifty else ''}"
        )


def draw_plan(preset: str, replica_count: int, rng: random.Random) -> FaultPlan:
    if preset not in PRESETS:
        raise ValueError(f"unknown fault preset {preset!r}; choose one of {', '.join(PRESETS)}")
    f = (replica_count - 1) // 2
    delay_min = rng.uniform(0.1, 1.0)
    delay_mean = rng.uniform(0.5, 5.0)
    fsync = rng.uniform(0.05, 2.0)
    if preset == "none":
        return FaultPlan(
            preset=preset,
            delay_ms_min=delay_min,
            delay_ms_mean=delay_mean,
            spike_probability=0.0,
            loss=0.0,
            duplication=0.0,
            fsync_ms_mean=fsync,
            partitions_per_s=0.0,
            partition_ms_mean=0.0,
            asymmetric_share=0.0,
            clogs_per_s=0.0,
            clog_ms_mean=0.0,
            clog_delay_ms=0.0,
            crashes_per_s=0.0,
            down_ms_mean=0.0,
            max_down=0,
            torn_write=0.0,
            sync_crash=0.0,
            decision_crash=0.0,
            keep_down=0,
        )
    heavy = preset == "heavy"

    def maybe(upper: float) -> float:
        """Swarm: a fault kind is off in a third of the runs, else uniform in (0, upper]."""
        return 0.0 if rng.random() < 1 / 3 else rng.uniform(upper / 20, upper)

    return FaultPlan(
        preset=preset,
        delay_ms_min=delay_min,
        delay_ms_mean=rng.uniform(0.5, 20.0) if heavy else delay_mean,
        spike_probability=maybe(0.05) if heavy else 0.0,
        loss=maybe(0.3 if heavy else 0.02),
        duplication=maybe(0.15 if heavy else 0.02),
        fsync_ms_mean=rng.uniform(0.05, 10.0) if heavy else fsync,
        partitions_per_s=maybe(4.0 if heavy else 0.5),
        partition_ms_mean=rng.uniform(50.0, 1500.0 if heavy else 500.0),
        asymmetric_share=rng.uniform(0.0, 0.6) if heavy else 0.0,
        clogs_per_s=maybe(10.0 if heavy else 1.0),
        clog_ms_mean=rng.uniform(10.0, 300.0),
        clog_delay_ms=rng.uniform(5.0, 200.0),
        crashes_per_s=maybe(3.0 if heavy else 0.5),
        down_ms_mean=rng.uniform(20.0, 1500.0 if heavy else 500.0),
        max_down=(replica_count if heavy and rng.random() < 0.3 else f),
        torn_write=rng.uniform(0.0, 1.0) if heavy else 0.0,
        sync_crash=maybe(0.02) if heavy else 0.0,
        decision_crash=maybe(0.3) if heavy else 0.0,
        keep_down=rng.randint(0, f) if rng.random() < 0.5 else 0,
        retransmit_ms=rng.choice((10.0, 50.0)),
        recovery_timeout_ms=rng.choice((5.0, 20.0, 60.0, 200.0) if heavy else (60.0, 200.0)),
        fast_path_wait_ms=rng.choice((1.0, 5.0, 20.0)),
        thrifty=rng.random() < 0.5,
        thrifty_widen_ms=rng.choice((2.0, 10.0, 40.0)),
    )
