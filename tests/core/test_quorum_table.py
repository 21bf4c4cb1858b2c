"""T0 of the EPaxos* brief (§7): the quorum arithmetic of §1.1 and §4.5, row by row.

Columns of §1.1: Qs = slow/recovery quorum n - f; Qf = fast quorum n - e (owner
included); R-min = matching pre-accepts that let a recovery over |Q| = n - f validate
(n - f - e); a Waiting(id, k) proves "not fast" iff k > n - f - e (§4.2)."""

from __future__ import annotations

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError

# (n, f, e, Qs, Qf, R-min, smallest aborting k) — the table of §1.1, minus the
# impossible (7, 3, 3) row, which is checked for rejection below.
TABLE = [
    (3, 1, 0, 2, 3, 2, 3),
    (3, 1, 1, 2, 2, 1, 2),
    (5, 2, 1, 3, 4, 2, 3),
    (5, 2, 2, 3, 3, 1, 2),
    (5, 1, 1, 4, 4, 3, 4),
    (7, 3, 1, 4, 6, 3, 4),
    (7, 3, 2, 4, 5, 2, 3),
    (7, 2, 2, 5, 5, 3, 4),
]


@pytest.mark.parametrize(("n", "f", "e", "slow", "fast", "r_min", "abort_k"), TABLE)
def test_quorum_sizes_match_the_brief_table(
    n: int, f: int, e: int, slow: int, fast: int, r_min: int, abort_k: int
) -> None:
    """T0 (§1.1): every allowed (n, f, e) row validates and yields the brief's sizes."""
    config = ClusterConfig(n, f, e)
    config.validate()
    assert config.slow_quorum == slow
    assert config.fast_quorum == fast
    assert config.slow_quorum - config.fast_failures == r_min
    assert config.waiting_abort_threshold + 1 == abort_k


@pytest.mark.parametrize(("n", "f", "e"), [(5, 2, 3), (7, 3, 3), (3, 1, 2), (5, 3, 1), (4, 2, 1)])
def test_configurations_outside_the_bound_are_rejected(n: int, f: int, e: int) -> None:
    """T0 (§1.1): e > f, or n < max(2e + f - 1, 2f + 1), cannot be configured."""
    with pytest.raises(ConfigError):
        ClusterConfig(n, f, e).validate()


@pytest.mark.parametrize(("n", "f", "e"), [(3, 1, 1), (5, 2, 2), (7, 3, 2)])
def test_default_fast_quorums_are_two_of_three_three_of_five_five_of_seven(
    n: int, f: int, e: int
) -> None:
    """The optimized sizes are the defaults (issue 3); f is maximal for n."""
    config = ClusterConfig.for_size(n)
    assert (config.replica_count, config.max_failures, config.fast_failures) == (n, f, e)


@pytest.mark.parametrize("n", [5, 7])
def test_fast_tolerance_one_stays_available_as_a_setting(n: int) -> None:
    """e = 1 gives the "N - 1" fast quorum of the baseline rules (§1.1 rows (5,2,1), (7,3,1))."""
    config = ClusterConfig.for_size(n, fast_failures=1)
    assert config.fast_quorum == n - 1


def test_for_size_rejects_a_fast_tolerance_the_bound_forbids() -> None:
    """(7, 3, 3) needs n >= 8 (§1.1): asking for it fails at configuration time."""
    with pytest.raises(ConfigError, match="violates"):
        ClusterConfig.for_size(7, fast_failures=3)
