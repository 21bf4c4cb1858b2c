"""The msgpack wire format of protocol messages and durable records.

Theory of operation. Every value is one msgpack array `[version, tag, field...]`:
`version` is `PROTOCOL_VERSION`, `tag` a small integer naming the type. Tags are
written out below and fixed forever: they are never derived from class order, so
reordering or adding a dataclass cannot silently change the meaning of old bytes.
Messages and records have disjoint tags, so a log record can never be mistaken for a
message or the other way round.

Field encodings (all canonical, so equal values give equal bytes):
- `InstanceId` -> `[owner, slot]`, `Ballot` -> `[round, replica]`, `Phase` -> int;
- `Deps` -> `[[[owner, slot]...] sorted, [floor...]]`;
- `Command` -> `[request_id, payload, reads sorted, writes sorted, is_global]`, a
  conflict key being `[group, item-or-nil]` (nil sorts before every item);
- a batch is an array of commands; an absent batch or deps is nil.

Decoding trusts nothing: every shape and type is checked and any deviation, a
different protocol version included, raises `RemoteProtocolError`, so a peer can
make us drop its message but never make us build a malformed one. The per-type
encode and decode functions are written out by hand and looked up in one dict, with
no per-call reflection: the simulator pushes every message through this codec.

Frames on a stream are a 4-byte big-endian length followed by that many bytes;
`FrameDecoder` reassembles them from arbitrarily split reads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

import msgpack

from epaxdb.command import Batch, Command, ConflictKey
from epaxdb.errors import RemoteProtocolError
from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import (
    PROTOCOL_VERSION,
    Accept,
    AcceptOk,
    Commit,
    CommitQuery,
    Deps,
    Forward,
    Gossip,
    Message,
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
from epaxdb.records import DurableRecord, FloorRecord, InstanceRecord

# Fixed forever: a tag may be retired, never reused or renumbered.
MESSAGE_TAGS: dict[type, int] = {
    PreAccept: 1,
    PreAcceptOk: 2,
    Accept: 3,
    AcceptOk: 4,
    Commit: 5,
    Recover: 6,
    RecoverOk: 7,
    Validate: 8,
    ValidateOk: 9,
    Waiting: 10,
    Nack: 11,
    CommitQuery: 12,
    Gossip: 13,
    Forward: 14,
}
RECORD_TAGS: dict[type, int] = {
    InstanceRecord: 64,
    FloorRecord: 65,
}

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_SIZE = 16 * 1024 * 1024


class _Malformed(Exception):
    """Internal: raised by the field decoders, turned into RemoteProtocolError."""


# --- field encoders -----------------------------------------------------------------


def _key_order(key: ConflictKey) -> tuple[str, bool, str]:
    group, item = key
    return (group, item is not None, item or "")


def _enc_keys(keys: frozenset[ConflictKey]) -> list[ConflictKey]:
    if len(keys) < 2:
        return list(keys)
    return sorted(keys, key=_key_order)


def _enc_command(c: Command) -> tuple[Any, ...]:
    return (c.request_id, c.payload, _enc_keys(c.reads), _enc_keys(c.writes), c.is_global)


def _enc_batch(batch: Batch | None) -> list[Any] | None:
    if batch is None:
        return None
    return [_enc_command(c) for c in batch]


def _enc_deps(deps: Deps | None) -> tuple[Any, ...] | None:
    if deps is None:
        return None
    return (sorted(deps.ids), deps.floor)  # ids are tuples: msgpack arrays as they are


# --- field decoders -----------------------------------------------------------------


# Ids and ballots are named tuples: build them straight from the decoded pair (a C
# call; dependency sets make this the codec's hottest line).
_new_id = partial(tuple.__new__, InstanceId)
_new_ballot = partial(tuple.__new__, Ballot)


def _dec_nat(x: Any) -> int:
    if type(x) is not int or x < 0:
        raise _Malformed(f"expected a natural number, got {x!r}")
    return x


def _dec_id(x: Any) -> InstanceId:
    if type(x) is not tuple or len(x) != 2:
        raise _Malformed(f"expected an instance id, got {x!r}")
    owner, slot = x
    if type(owner) is not int or type(slot) is not int or owner < 0 or slot < 0:
        raise _Malformed(f"expected an instance id, got {x!r}")
    return _new_id(x)


def _dec_ballot(x: Any) -> Ballot:
    if type(x) is not tuple or len(x) != 2:
        raise _Malformed(f"expected a ballot, got {x!r}")
    round_, replica = x
    if type(round_) is not int or type(replica) is not int or round_ < 0 or replica < 0:
        raise _Malformed(f"expected a ballot, got {x!r}")
    return _new_ballot(x)


_PHASES = {int(p): p for p in Phase}


def _dec_phase(x: Any) -> Phase:
    phase = _PHASES.get(x) if type(x) is int else None
    if phase is None:
        raise _Malformed(f"expected a phase, got {x!r}")
    return phase


def _dec_nats(x: Any) -> tuple[int, ...]:
    if type(x) is not tuple:
        raise _Malformed(f"expected an array of naturals, got {x!r}")
    for v in x:
        if type(v) is not int or v < 0:
            raise _Malformed(f"expected an array of naturals, got {x!r}")
    return x


def _dec_keys(x: Any) -> frozenset[ConflictKey]:
    if type(x) is not tuple:
        raise _Malformed(f"expected conflict keys, got {x!r}")
    for key in x:
        if (
            type(key) is not tuple
            or len(key) != 2
            or type(key[0]) is not str
            or (key[1] is not None and type(key[1]) is not str)
        ):
            raise _Malformed(f"expected a conflict key, got {key!r}")
    return frozenset(x)


def _dec_command(x: Any) -> Command:
    if type(x) is not tuple or len(x) != 5:
        raise _Malformed(f"expected a command, got {x!r}")
    request_id, payload, reads, writes, is_global = x
    if type(request_id) is not str or type(payload) is not bytes or type(is_global) is not bool:
        raise _Malformed(f"expected a command, got {x!r}")
    return Command(request_id, payload, _dec_keys(reads), _dec_keys(writes), is_global)


def _dec_batch(x: Any) -> Batch:
    if type(x) is not tuple:
        raise _Malformed(f"expected a batch, got {x!r}")
    return tuple([_dec_command(c) for c in x])


def _dec_opt_batch(x: Any) -> Batch | None:
    return None if x is None else _dec_batch(x)


def _dec_deps(x: Any) -> Deps:
    if type(x) is not tuple or len(x) != 2 or type(x[0]) is not tuple:
        raise _Malformed(f"expected deps, got {x!r}")
    try:
        return _dec_deps_cached(x)
    except TypeError:  # unhashable: a map or list where a pair belongs
        raise _Malformed(f"expected deps, got {x!r}") from None


@lru_cache(maxsize=512)
def _dec_deps_cached(x: tuple[Any, Any]) -> Deps:
    """Decoding checks every pair, which costs ~0.15 ms for 1,000 deps, and the same
    deps arrive again and again (a PreAccept or Commit to every peer, retransmits, a
    Commit after its Accept): a hash of the raw tuple is 20x cheaper. Deps are
    immutable, so sharing one decoded value is safe."""
    ids = x[0]
    for pair in ids:  # _dec_id inlined: deps are large
        if type(pair) is not tuple or len(pair) != 2:
            raise _Malformed(f"expected an instance id, got {pair!r}")
        owner, slot = pair
        if type(owner) is not int or type(slot) is not int or owner < 0 or slot < 0:
            raise _Malformed(f"expected an instance id, got {pair!r}")
    return Deps(frozenset(map(_new_id, ids)), _dec_nats(x[1]))


def _dec_opt_deps(x: Any) -> Deps | None:
    return None if x is None else _dec_deps(x)


def _dec_invalidators(x: Any) -> tuple[tuple[InstanceId, Phase], ...]:
    if type(x) is not tuple:
        raise _Malformed(f"expected invalidators, got {x!r}")
    out = []
    for pair in x:
        if type(pair) is not tuple or len(pair) != 2:
            raise _Malformed(f"expected an invalidator, got {pair!r}")
        out.append((_dec_id(pair[0]), _dec_phase(pair[1])))
    return tuple(out)


def _dec_ids(x: Any) -> tuple[InstanceId, ...]:
    if type(x) is not tuple:
        raise _Malformed(f"expected instance ids, got {x!r}")
    return tuple([_dec_id(i) for i in x])


# --- per-type encoders: message -> fields (after version and tag) --------------------

Fields = tuple[Any, ...]


def _id(i: InstanceId) -> tuple[int, int]:
    return (i.owner, i.slot)  # a plain pair, whatever class the id is


def _bal(b: Ballot) -> tuple[int, int]:
    return (b.round, b.replica)


_ENCODERS: dict[type, tuple[int, Callable[[Any], Fields]]] = {}
_DECODERS: dict[int, tuple[int, Callable[..., Any]]] = {}


def _register(
    tag: int, cls: type, arity: int, encode: Callable[[Any], Fields], decode: Callable[..., Any]
) -> None:
    _ENCODERS[cls] = (tag, encode)
    _DECODERS[tag] = (arity, decode)


def _register_all() -> None:
    t = MESSAGE_TAGS
    _register(
        t[PreAccept],
        PreAccept,
        3,
        lambda m: (_id(m.instance_id), _enc_batch(m.batch), _enc_deps(m.deps)),
        lambda i, b, d: PreAccept(_dec_id(i), _dec_batch(b), _dec_deps(d)),
    )
    _register(
        t[PreAcceptOk],
        PreAcceptOk,
        2,
        lambda m: (_id(m.instance_id), _enc_deps(m.deps)),
        lambda i, d: PreAcceptOk(_dec_id(i), _dec_deps(d)),
    )
    _register(
        t[Accept],
        Accept,
        4,
        lambda m: (_id(m.instance_id), _bal(m.ballot), _enc_batch(m.batch), _enc_deps(m.deps)),
        lambda i, o, b, d: Accept(_dec_id(i), _dec_ballot(o), _dec_batch(b), _dec_deps(d)),
    )
    _register(
        t[AcceptOk],
        AcceptOk,
        2,
        lambda m: (_id(m.instance_id), _bal(m.ballot)),
        lambda i, o: AcceptOk(_dec_id(i), _dec_ballot(o)),
    )
    _register(
        t[Commit],
        Commit,
        4,
        lambda m: (_id(m.instance_id), _bal(m.ballot), _enc_batch(m.batch), _enc_deps(m.deps)),
        lambda i, o, b, d: Commit(_dec_id(i), _dec_ballot(o), _dec_batch(b), _dec_deps(d)),
    )
    _register(
        t[Recover],
        Recover,
        2,
        lambda m: (_id(m.instance_id), _bal(m.ballot)),
        lambda i, o: Recover(_dec_id(i), _dec_ballot(o)),
    )
    _register(
        t[RecoverOk],
        RecoverOk,
        7,
        lambda m: (
            _id(m.instance_id),
            _bal(m.ballot),
            _bal(m.accepted_ballot),
            int(m.phase),
            _enc_batch(m.batch),
            _enc_deps(m.deps),
            _enc_deps(m.initial_deps),
        ),
        lambda i, o, a, p, b, d, n: RecoverOk(
            _dec_id(i),
            _dec_ballot(o),
            _dec_ballot(a),
            _dec_phase(p),
            _dec_opt_batch(b),
            _dec_opt_deps(d),
            _dec_opt_deps(n),
        ),
    )
    _register(
        t[Validate],
        Validate,
        4,
        lambda m: (_id(m.instance_id), _bal(m.ballot), _enc_batch(m.batch), _enc_deps(m.deps)),
        lambda i, o, b, d: Validate(_dec_id(i), _dec_ballot(o), _dec_batch(b), _dec_deps(d)),
    )
    _register(
        t[ValidateOk],
        ValidateOk,
        3,
        lambda m: (
            _id(m.instance_id),
            _bal(m.ballot),
            [(_id(i), int(p)) for i, p in m.invalidators],
        ),
        lambda i, o, v: ValidateOk(_dec_id(i), _dec_ballot(o), _dec_invalidators(v)),
    )
    _register(
        t[Waiting],
        Waiting,
        2,
        lambda m: (_id(m.instance_id), m.matching),
        lambda i, k: Waiting(_dec_id(i), _dec_nat(k)),
    )
    _register(
        t[Nack],
        Nack,
        2,
        lambda m: (_id(m.instance_id), _bal(m.ballot)),
        lambda i, o: Nack(_dec_id(i), _dec_ballot(o)),
    )
    _register(
        t[CommitQuery],
        CommitQuery,
        1,
        lambda m: ([_id(i) for i in m.instance_ids],),
        lambda ids: CommitQuery(_dec_ids(ids)),
    )
    _register(
        t[Gossip],
        Gossip,
        3,
        lambda m: (m.executed_prefix, m.highest_slot, m.floor),
        lambda e, h, f: Gossip(_dec_nats(e), _dec_nats(h), _dec_nats(f)),
    )
    _register(
        t[Forward],
        Forward,
        1,
        lambda m: (_enc_batch(m.batch),),
        lambda b: Forward(_dec_batch(b)),
    )
    r = RECORD_TAGS
    _register(
        r[InstanceRecord],
        InstanceRecord,
        8,
        lambda m: (
            _id(m.instance_id),
            int(m.phase),
            _bal(m.ballot),
            _bal(m.accepted_ballot),
            _enc_batch(m.batch),
            _enc_deps(m.deps),
            _enc_batch(m.initial_batch),
            _enc_deps(m.initial_deps),
        ),
        lambda i, p, o, a, b, d, ib, idp: InstanceRecord(
            _dec_id(i),
            _dec_phase(p),
            _dec_ballot(o),
            _dec_ballot(a),
            _dec_opt_batch(b),
            _dec_opt_deps(d),
            _dec_opt_batch(ib),
            _dec_opt_deps(idp),
        ),
    )
    _register(
        r[FloorRecord],
        FloorRecord,
        1,
        lambda m: (m.floor,),
        lambda f: FloorRecord(_dec_nats(f)),
    )


_register_all()
_MESSAGE_TAG_SET = frozenset(MESSAGE_TAGS.values())
_RECORD_TAG_SET = frozenset(RECORD_TAGS.values())


# --- public API ---------------------------------------------------------------------


def _encode(value: Any) -> bytes:
    entry = _ENCODERS.get(type(value))
    if entry is None:
        raise TypeError(f"no wire encoding for {type(value).__name__}")
    tag, encode = entry
    return msgpack.packb((PROTOCOL_VERSION, tag, *encode(value)), use_bin_type=True)


def _decode(data: bytes, tags: frozenset[int], what: str) -> Any:
    try:
        frame = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True)
        if type(frame) is not tuple or len(frame) < 2:
            raise _Malformed(f"expected [version, tag, ...], got {type(frame).__name__}")
        version, tag = frame[0], frame[1]
        if version != PROTOCOL_VERSION or type(version) is not int:
            raise _Malformed(f"protocol version {version!r}, expected {PROTOCOL_VERSION}")
        if type(tag) is not int or tag not in tags:
            raise _Malformed(f"unknown {what} tag {tag!r}")
        arity, decode = _DECODERS[tag]
        if len(frame) != arity + 2:
            raise _Malformed(f"{what} tag {tag} needs {arity} fields, got {len(frame) - 2}")
        return decode(*frame[2:])
    except _Malformed as error:
        raise RemoteProtocolError(f"malformed {what}: {error}") from None
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise RemoteProtocolError(f"undecodable {what}: {error}") from None


def encode_message(message: Message) -> bytes:
    return _encode(message)


def decode_message(data: bytes) -> Message:
    """Raises RemoteProtocolError unless `data` is exactly one well-formed message."""
    return _decode(data, _MESSAGE_TAG_SET, "message")


def encode_record(record: DurableRecord) -> bytes:
    return _encode(record)


def decode_record(data: bytes) -> DurableRecord:
    """Raises RemoteProtocolError unless `data` is exactly one well-formed record."""
    return _decode(data, _RECORD_TAG_SET, "record")


def encode_frame(payload: bytes) -> bytes:
    """Prefix `payload` with its length, for a stream transport."""
    return FRAME_HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Splits a byte stream into length-prefixed frames.

    A frame longer than `max_frame_size` (or empty, which we never send) raises
    RemoteProtocolError: the stream cannot be resynchronised, so the caller must
    close the connection.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        offset = 0
        header = FRAME_HEADER.size
        while len(buffer) - offset >= header:
            (length,) = FRAME_HEADER.unpack_from(buffer, offset)
            if length == 0 or length > self.max_frame_size:
                raise RemoteProtocolError(f"frame length {length} outside 1..{self.max_frame_size}")
            end = offset + header + length
            if end > len(buffer):
                break
            frames.append(bytes(buffer[offset + header : end]))
            offset = end
        if offset:
            del buffer[:offset]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)
