"""The msgpack wire codec: round trips, stability of the bytes, framing, hostile input."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epaxdb import wire
from epaxdb.command import Command
from epaxdb.errors import RemoteProtocolError
from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Accept,
    AcceptOk,
    Commit,
    CommitQuery,
    Deps,
    Forward,
    Gossip,
    Nack,
    Phase,
    PreAccept,
    PreAcceptOk,
    Recover,
    RecoverOk,
    Validate,
    ValidateOk,
    Waiting,
)
from epaxdb.records import FloorRecord, InstanceRecord

bounded = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

nats = st.integers(min_value=0, max_value=2**40)
small = st.integers(min_value=0, max_value=6)
ids = st.builds(InstanceId, small, nats)
ballots = st.builds(Ballot, nats, small)
phases = st.sampled_from(list(Phase))
keys = st.tuples(st.text(max_size=6), st.none() | st.text(max_size=6))
commands = st.builds(
    Command,
    st.text(max_size=12),
    st.binary(max_size=24),
    st.frozensets(keys, max_size=4),
    st.frozensets(keys, max_size=4),
    st.booleans(),
)
batches = st.lists(commands, max_size=3).map(tuple)
floors = st.lists(nats, min_size=1, max_size=7).map(tuple)
deps = st.builds(Deps, st.frozensets(ids, max_size=6), floors)
naturals_tuple = st.lists(nats, max_size=7).map(tuple)

MESSAGE_STRATEGIES = {
    PreAccept: st.builds(PreAccept, ids, batches, deps),
    PreAcceptOk: st.builds(PreAcceptOk, ids, deps),
    Accept: st.builds(Accept, ids, ballots, batches, deps),
    AcceptOk: st.builds(AcceptOk, ids, ballots),
    Commit: st.builds(Commit, ids, ballots, batches, deps),
    Recover: st.builds(Recover, ids, ballots),
    RecoverOk: st.builds(
        RecoverOk,
        ids,
        ballots,
        ballots,
        phases,
        st.none() | batches,
        st.none() | deps,
        st.none() | deps,
    ),
    Validate: st.builds(Validate, ids, ballots, batches, deps),
    ValidateOk: st.builds(
        ValidateOk, ids, ballots, st.lists(st.tuples(ids, phases), max_size=4).map(tuple)
    ),
    Waiting: st.builds(Waiting, ids, nats),
    Nack: st.builds(Nack, ids, ballots),
    CommitQuery: st.builds(CommitQuery, st.lists(ids, max_size=5).map(tuple)),
    Gossip: st.builds(Gossip, naturals_tuple, naturals_tuple, naturals_tuple),
    Forward: st.builds(Forward, batches),
}
RECORD_STRATEGIES = {
    InstanceRecord: st.builds(
        InstanceRecord,
        ids,
        phases,
        ballots,
        ballots,
        st.none() | batches,
        st.none() | deps,
        st.none() | batches,
        st.none() | deps,
    ),
    FloorRecord: st.builds(FloorRecord, floors),
}


def test_every_message_and_record_type_has_a_strategy_and_a_fixed_tag() -> None:
    assert set(MESSAGE_STRATEGIES) == set(MESSAGE_TYPES) == set(wire.MESSAGE_TAGS)
    assert set(RECORD_STRATEGIES) == set(wire.RECORD_TAGS)
    all_tags = [*wire.MESSAGE_TAGS.values(), *wire.RECORD_TAGS.values()]
    assert len(set(all_tags)) == len(all_tags)


@bounded
@given(st.one_of(*MESSAGE_STRATEGIES.values()))
def test_every_message_survives_a_round_trip(message: object) -> None:
    data = wire.encode_message(message)  # type: ignore[arg-type]
    assert wire.decode_message(data) == message
    # Canonical: decoding and encoding again gives the same bytes.
    assert wire.encode_message(wire.decode_message(data)) == data


@bounded
@given(st.one_of(*RECORD_STRATEGIES.values()))
def test_every_record_survives_a_round_trip(record: object) -> None:
    data = wire.encode_record(record)  # type: ignore[arg-type]
    assert wire.decode_record(data) == record
    assert wire.encode_record(wire.decode_record(data)) == data


@bounded
@given(st.lists(st.one_of(*MESSAGE_STRATEGIES.values()), min_size=1, max_size=5), st.data())
def test_frames_split_at_arbitrary_points_reassemble_in_order(
    messages: list[object], data: st.DataObject
) -> None:
    stream = b"".join(wire.encode_frame(wire.encode_message(m)) for m in messages)  # type: ignore[arg-type]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = wire.FrameDecoder()
    frames: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        frames += decoder.feed(stream[start:cut])
        start = cut
    assert [wire.decode_message(f) for f in frames] == messages
    assert decoder.buffered == 0


def test_frame_decoder_keeps_an_incomplete_frame_until_the_rest_arrives() -> None:
    frame = wire.encode_frame(b"abcdef")
    decoder = wire.FrameDecoder()
    assert decoder.feed(frame[:3]) == []
    assert decoder.feed(frame[3:7]) == []
    assert decoder.buffered == 7
    assert decoder.feed(frame[7:] + frame) == [b"abcdef", b"abcdef"]


def test_frame_longer_than_the_maximum_is_rejected() -> None:
    decoder = wire.FrameDecoder(max_frame_size=16)
    with pytest.raises(RemoteProtocolError, match="frame length 17"):
        decoder.feed(wire.encode_frame(b"x" * 17))


def test_empty_frame_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError):
        wire.FrameDecoder().feed(b"\x00\x00\x00\x00")


GARBAGE = [
    b"",
    b"\xc1",  # a byte msgpack never uses
    b"\x93\x01",  # truncated array
    msgpack.packb(42),
    msgpack.packb({"version": 1}),
    msgpack.packb([PROTOCOL_VERSION]),
    msgpack.packb([PROTOCOL_VERSION + 1, 4, [1, 2], [0, 1]]),  # another protocol version
    msgpack.packb([True, 4, [1, 2], [0, 1]]),  # a bool is not a version
    msgpack.packb([PROTOCOL_VERSION, 99, [1, 2]]),  # unknown tag
    msgpack.packb([PROTOCOL_VERSION, 64, [1, 2]]),  # a record tag is not a message
    msgpack.packb([PROTOCOL_VERSION, 4, [1, 2]]),  # missing field
    msgpack.packb([PROTOCOL_VERSION, 4, [1, 2], [0, 1], 7]),  # extra field
    msgpack.packb([PROTOCOL_VERSION, 4, [1, -2], [0, 1]]),  # negative slot
    msgpack.packb([PROTOCOL_VERSION, 4, [1, "2"], [0, 1]]),  # string slot
    msgpack.packb([PROTOCOL_VERSION, 4, b"\x01\x02", [0, 1]], use_bin_type=True),  # bytes id
    msgpack.packb([PROTOCOL_VERSION, 4, [1, 2], [0, 1, 2]]),  # three-part ballot
    msgpack.packb([PROTOCOL_VERSION, 10, [1, 2], 2.5]),  # float count
    msgpack.packb([PROTOCOL_VERSION, 2, [1, 2], [[[0, 1]], [0, "x"]]]),  # bad floor
    msgpack.packb([PROTOCOL_VERSION, 2, [1, 2], [[[0, 1]]]]),  # deps without floor
    msgpack.packb([PROTOCOL_VERSION, 9, [1, 2], [0, 1], [[[0, 1], 9]]]),  # unknown phase
    msgpack.packb(
        [PROTOCOL_VERSION, 1, [1, 2], [["r", "not bytes", [], [], False]], [[], [0]]],
        use_bin_type=True,
    ),
    msgpack.packb(
        [PROTOCOL_VERSION, 1, [1, 2], [["r", b"p", [["kv", 3]], [], False]], [[], [0]]],
        use_bin_type=True,
    ),  # integer key item
    msgpack.packb(
        [PROTOCOL_VERSION, 1, [1, 2], [["r", b"p", [], [], 0]], [[], [0]]], use_bin_type=True
    ),  # integer is_global
    wire.encode_message(AcceptOk(InstanceId(0, 1), Ballot(0, 0))) + b"\x00",  # trailing byte
]


@pytest.mark.parametrize("data", GARBAGE, ids=range(len(GARBAGE)))
def test_malformed_input_raises_remote_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        wire.decode_message(data)


@bounded
@given(st.binary(max_size=64))
def test_random_bytes_never_escape_as_anything_but_remote_protocol_error(data: bytes) -> None:
    try:
        wire.decode_message(data)
    except RemoteProtocolError:
        pass


def test_a_message_is_not_decodable_as_a_record() -> None:
    with pytest.raises(RemoteProtocolError, match="record tag"):
        wire.decode_record(wire.encode_message(Recover(InstanceId(0, 1), Ballot(1, 2))))


def test_encoding_an_unknown_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        wire.encode_message(object())  # type: ignore[arg-type]


# --- golden bytes: one example per type, pinned so the encoding never drifts ---------

_C1 = Command("r1", b"\x01", frozenset({("kv", "b"), ("kv", None)}), frozenset({("kv", "a")}))
_C2 = Command("g", b"", is_global=True)
_ID = InstanceId(2, 7)
_DEPS = Deps(frozenset({InstanceId(1, 3), InstanceId(0, 9)}), (4, 0, 1))
_B = Ballot(3, 1)

GOLDEN = [
    (
        PreAccept(_ID, (_C1, _C2), _DEPS),
        (
            "9501019202079295a27231c401019292a26b76c092a26b76a1629192a26b76a161c295a167c4009090c3"
            "929292000992010393040001"
        ),
    ),
    (PreAcceptOk(_ID, _DEPS), "940102920207929292000992010393040001"),
    (
        Accept(_ID, _B, (_C1,), _DEPS),
        (
            "9601039202079203019195a27231c401019292a26b76c092a26b76a1629192a26b76a161c2929292000992010393"
            "040001"
        ),
    ),
    (AcceptOk(_ID, _B), "940104920207920301"),
    (Commit(_ID, _B, (), _DEPS), "96010592020792030190929292000992010393040001"),
    (Recover(_ID, _B), "940106920207920301"),
    (
        RecoverOk(_ID, _B, Ballot(0, 2), Phase.ACCEPTED, (_C2,), _DEPS, None),
        "990107920207920301920002029195a167c4009090c3929292000992010393040001c0",
    ),
    (
        Validate(_ID, _B, (_C2,), _DEPS),
        "9601089202079203019195a167c4009090c3929292000992010393040001",
    ),
    (
        ValidateOk(_ID, _B, ((InstanceId(0, 9), Phase.PREACCEPTED),)),
        "950109920207920301919292000901",
    ),
    (Waiting(_ID, 3), "94010a92020703"),
    (Nack(_ID, _B), "94010b920207920301"),
    (CommitQuery((_ID, InstanceId(0, 1))), "93010c92920207920001"),
    (Gossip((1, 2, 3), (4, 5, 6), (0, 1, 0)), "95010d9301020393040506" + "93000100"),
    (Forward((_C2,)), "93010e9195a167c4009090c3"),
]
GOLDEN_RECORDS = [
    (
        InstanceRecord(_ID, Phase.COMMITTED, _B, _B, (_C2,), _DEPS, None, None),
        "9a0140920207039203019203019195a167c4009090c3929292000992010393040001c0c0",
    ),
    (FloorRecord((5, 0, 2)), "93014193050002"),
]


def test_golden_examples_cover_every_type() -> None:
    assert {type(m) for m, _ in GOLDEN} == set(MESSAGE_TYPES)
    assert {type(r) for r, _ in GOLDEN_RECORDS} == set(wire.RECORD_TAGS)


@pytest.mark.parametrize("message,hex_bytes", GOLDEN, ids=[type(m).__name__ for m, _ in GOLDEN])
def test_message_encoding_is_stable(message: object, hex_bytes: str) -> None:
    assert wire.encode_message(message).hex() == hex_bytes  # type: ignore[arg-type]
    assert wire.decode_message(bytes.fromhex(hex_bytes)) == message


@pytest.mark.parametrize(
    "record,hex_bytes", GOLDEN_RECORDS, ids=[type(r).__name__ for r, _ in GOLDEN_RECORDS]
)
def test_record_encoding_is_stable(record: object, hex_bytes: str) -> None:
    assert wire.encode_record(record).hex() == hex_bytes  # type: ignore[arg-type]
    assert wire.decode_record(bytes.fromhex(hex_bytes)) == record
