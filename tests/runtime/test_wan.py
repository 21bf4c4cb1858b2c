"""WAN profiles: the paper's sites and their nearest fast quorums."""

from __future__ import annotations

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError
from epaxdb.runtime.wan import PAPER3, PAPER5, wan_profile


def test_paper5_nearest_fast_quorum_round_trips() -> None:
    fast_quorum = ClusterConfig.for_size(5).fast_quorum
    by_site = {
        site: PAPER5.fast_quorum_rtt_ms(i, fast_quorum) for i, site in enumerate(PAPER5.sites)
    }
    # Oregon and Ireland reproduce the paper's EPaxos 0 % medians (78, 149 ms).
    assert by_site == {
        "Virginia": 85.0,
        "California": 85.0,
        "Oregon": 78.0,
        "Ireland": 149.0,
        "Japan": 127.0,
    }


def test_peer_delay_is_half_the_round_trip_to_the_peer_site() -> None:
    assert PAPER5.peer_delays_s(4) == {0: 0.081, 1: 0.059, 2: 0.0635, 3: 0.139}
    assert PAPER3.fast_quorum_rtt_ms(0, ClusterConfig.for_size(3).fast_quorum) == 85.0


def test_unknown_profile_and_wrong_cluster_size_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown WAN profile 'mars'; known: paper3, paper5"):
        wan_profile("mars")
    with pytest.raises(ConfigError, match="needs exactly 3 replicas, not 5"):
        PAPER3.check_cluster_size(5)
