"""Cluster configuration and the quorum arithmetic of EPaxos*.

(n, f, e): n replicas, f crashes tolerated for progress (slow path, recovery), e <= f
crashes tolerated while a conflict-free command still commits in one round trip.
The optimized EPaxos* rules are correct iff n >= max(2e + f - 1, 2f + 1).
Slow/recovery quorum: n - f. Fast quorum: n - e, the coordinator included.
"""

from __future__ import annotations

from dataclasses import dataclass

from epaxdb.errors import ConfigError

# The default e per cluster size: the largest e the optimized rules allow for
# n = 2f + 1, giving fast quorums of 2 of 3, 3 of 5 and 5 of 7.
DEFAULT_FAST_TOLERANCE = {3: 1, 5: 2, 7: 2}


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    replica_count: int
    max_failures: int
    fast_failures: int
    # Timers, in milliseconds of the time the driver passes to `tick`.
    retransmit_ms: float = 50.0
    # How long the owner waits for a full fast quorum once a slow quorum has replied.
    fast_path_wait_ms: float = 5.0
    recovery_timeout_ms: float = 200.0
    gossip_interval_ms: float = 100.0
    # Admission control: at most this many uncommitted own instances; further client
    # commands wait and go out together as one batch (see replica.py).
    max_inflight: int = 64
    batch_size_max: int = 100
    # Thrifty mode: the owner's PreAccept and Accept go first only to the peers a quorum needs, in
    # the order the driver ranks them (`Replica.set_peer_order`, closest first), and to
    # every peer once `thrifty_widen_ms` passes without a decision. Fewer messages;
    # the protocol's safety does not depend on who is asked.
    thrifty: bool = False
    thrifty_widen_ms: float = 10.0
    # Multi-Paxos baseline mode (for comparisons only): this replica alone orders
    # every command, one instance after another; the others forward their clients'
    # commands to it. No fast path and no failover to another leader.
    leader: int | None = None

    @staticmethod
    def for_size(
        replica_count: int, fast_failures: int | None = None, **timers: float
    ) -> ClusterConfig:
        max_failures = (replica_count - 1) // 2
        if fast_failures is None:
            fast_failures = DEFAULT_FAST_TOLERANCE.get(replica_count, (max_failures + 1) // 2)
        config = ClusterConfig(replica_count, max_failures, fast_failures, **timers)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        n, f, e = self.replica_count, self.max_failures, self.fast_failures
        if n < 1:
            raise ConfigError(f"a cluster needs at least one replica, got {n}")
        if not 0 <= e <= f:
            raise ConfigError(f"fast-path tolerance e={e} must satisfy 0 <= e <= f={f}")
        if n < max(2 * e + f - 1, 2 * f + 1):
            raise ConfigError(
                f"(n={n}, f={f}, e={e}) violates n >= max(2e+f-1, 2f+1): "
                "EPaxos* cannot be correct with these quorums"
            )
        if self.max_inflight < 1 or self.batch_size_max < 1:
            raise ConfigError("max_inflight and batch_size_max must be positive")
        if self.leader is not None and not 0 <= self.leader < n:
            raise ConfigError(f"leader {self.leader} outside 0..{n - 1}")
        if self.thrifty_widen_ms <= 0:
            raise ConfigError("thrifty_widen_ms must be positive")

    @property
    def slow_quorum(self) -> int:
        return self.replica_count - self.max_failures

    @property
    def fast_quorum(self) -> int:
        return self.replica_count - self.fast_failures

    @property
    def waiting_abort_threshold(self) -> int:
        """A Waiting(id', k) with k greater than this proves id was not fast (Lemma 12)."""
        return self.replica_count - self.max_failures - self.fast_failures
