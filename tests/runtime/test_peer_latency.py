"""Round-trip estimates that rank peers for thrifty mode."""

from __future__ import annotations

from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import Accept, AcceptOk, PreAccept, PreAcceptOk, empty_deps
from epaxdb.records import Outgoing
from epaxdb.runtime.peer_latency import PeerLatency

I1, I2 = InstanceId(0, 1), InstanceId(0, 2)
DEPS = empty_deps(3)


def pre_accept(to: int, instance: InstanceId = I1) -> Outgoing:
    return Outgoing(to, PreAccept(instance, (), DEPS))


def test_peers_rank_by_measured_round_trip_and_unheard_ones_last() -> None:
    latency = PeerLatency([1, 2, 3])
    latency.on_sent(0.0, [pre_accept(1), pre_accept(2), pre_accept(3)])
    latency.on_received(0.030, 1, PreAcceptOk(I1, DEPS))
    latency.on_received(0.010, 2, PreAcceptOk(I1, DEPS))
    assert latency.ranking(0.05) == (2, 1, 3)
    assert latency.estimate_s(2) == 0.010


def test_a_reply_without_a_matching_request_is_no_sample() -> None:
    latency = PeerLatency([1, 2])
    latency.on_received(1.0, 1, PreAcceptOk(I1, DEPS))
    latency.on_sent(0.0, [Outgoing(1, Accept(I2, Ballot(0, 0), (), DEPS))])
    latency.on_received(0.5, 1, PreAcceptOk(I2, DEPS))  # a PreAcceptOk does not answer an Accept
    assert latency.estimate_s(1) is None
    latency.on_received(0.5, 1, AcceptOk(I2, Ballot(0, 0)))
    assert latency.estimate_s(1) == 0.5


def test_estimates_are_smoothed_and_a_silent_peer_drops_to_the_end() -> None:
    latency = PeerLatency([1, 2], stale_s=1.0)
    latency.on_sent(0.0, [pre_accept(1), pre_accept(2)])
    latency.on_received(0.001, 1, PreAcceptOk(I1, DEPS))
    latency.on_received(0.002, 2, PreAcceptOk(I1, DEPS))
    latency.on_sent(0.1, [pre_accept(1, I2)])
    latency.on_received(0.109, 1, PreAcceptOk(I2, DEPS))
    assert abs(latency.estimate_s(1) - (0.001 + (0.009 - 0.001) / 8)) < 1e-9  # type: ignore[operator]
    assert latency.ranking(0.2) == (1, 2)
    assert latency.ranking(1.05) == (1, 2)  # 2 not heard from for 1.048 s: stale
    latency.on_sent(1.3, [pre_accept(2, I2)])
    latency.on_received(1.3005, 2, PreAcceptOk(I2, DEPS))
    assert latency.ranking(1.31) == (2, 1)  # 1 is stale now, 2 fresh


def test_the_widening_delay_is_twice_the_slowest_asked_estimate() -> None:
    latency = PeerLatency([1, 2, 3])
    latency.on_sent(0.0, [pre_accept(1), pre_accept(2)])
    latency.on_received(0.004, 1, PreAcceptOk(I1, DEPS))
    assert latency.widen_after_s((1, 2, 3), 2) is None  # 2 has no estimate yet
    latency.on_received(0.010, 2, PreAcceptOk(I1, DEPS))
    assert latency.widen_after_s((1, 2, 3), 2) == 0.020
