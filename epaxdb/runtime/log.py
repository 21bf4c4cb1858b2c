"""The durable instance log: what the core asked to make durable, checksummed on disk.

Theory of operation
-------------------
One append-only file, `instances.log`, starting with an 8-byte magic. After it come
*frames*. One frame holds every record of one `sync()`, so a frame is the unit that
is either durable or not:

    frame   = header payload
    header  = length:u32 payload_crc:u32 header_crc:u32      (big-endian)
    payload = (record_length:u32 record_bytes)+               (record = wire.encode_record)

`payload_crc` is zlib.crc32 of the payload and `header_crc` is crc32 of the first
eight header bytes, so a damaged length is caught before it is trusted.

`append(records)` only buffers; `sync()` writes the buffered records as one frame and
fsyncs once. The node appends the records of several `Ready`s and syncs once: group
commit. Nothing the core produced is acknowledged before the `sync()` covering it
returns.

Restart (`open_log`) reads the whole file. A frame that fails its checks is either
a torn tail or corruption. Frames are only ever written after the previous one was
fsynced, so the un-synced region is a single suffix: if no valid frame exists after
the bad one, the bad bytes are a write the crash interrupted, never acknowledged,
and are truncated. If a valid frame does follow, bytes that were once durable are
damaged: `StorageError`, never a silent skip.

Restore keeps the newest record per instance and the newest floor, dropping
instances at or below the floor (executed on every replica). The same map is kept
in memory while running, so `compact()` writes it to a fresh file, fsyncs it and
renames it over the log (then fsyncs the directory): a crash leaves either the old
or the new file, both complete.

Failure: any OSError while writing, syncing or compacting poisons the log. Every
later call raises `StorageError`: after a failed fsync the kernel may have dropped
the dirty pages, so a retry could report success for data that is gone.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from epaxdb.errors import RemoteProtocolError, StorageError
from epaxdb.ids import InstanceId
from epaxdb.records import DurableRecord, FloorRecord, InstanceRecord, RestoredState
from epaxdb.wire import decode_record, encode_record

LOG_FILE_NAME = "instances.log"
MAGIC = b"EPXLOG01"
_HEADER = struct.Struct(">III")
_LENGTH = struct.Struct(">I")
_COMPACT_SUFFIX = ".compacting"


@dataclass(slots=True)
class LogStats:
    syncs: int = 0
    frames: int = 0
    records: int = 0
    compactions: int = 0


@dataclass(frozen=True, slots=True)
class LoadedLog:
    """What `open_log` found: the newest record per live instance and the floor."""

    records: tuple[InstanceRecord, ...]
    floor: tuple[int, ...] | None
    truncated_bytes: int  # size of the torn tail removed on open (0 if none)

    def restored(self, executed: frozenset[InstanceId]) -> RestoredState:
        return RestoredState(records=self.records, floor=self.floor, executed=executed)


def fsync_directory(directory: Path) -> None:
    """Make a file creation or rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class InstanceLog:
    """Append, sync and compact; use `open_log` to get one. Not thread-safe: the node
    calls it from one worker thread at a time."""

    def __init__(
        self,
        path: Path,
        fd: int,
        size: int,
        live: dict[InstanceId, bytes],
        floor: tuple[int, ...] | None,
    ) -> None:
        self.path = path
        self.stats = LogStats()
        self._fd: int | None = fd
        self._size = size
        self._size_after_compaction = size
        self._live = live
        self._floor = floor
        self._pending: list[bytes] = []
        self._failure: str | None = None

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def live_instances(self) -> int:
        return len(self._live)

    @property
    def floor(self) -> tuple[int, ...] | None:
        return self._floor

    def append(self, records: list[DurableRecord]) -> None:
        """Buffer records for the next `sync()`; the in-memory view changes now."""
        self._check_usable()
        for record in records:
            encoded = encode_record(record)
            self._pending.append(encoded)
            if isinstance(record, FloorRecord):
                self._set_floor(record.floor)
            elif not self._below_floor(record.instance_id):
                self._live[record.instance_id] = encoded

    def sync(self) -> None:
        """Write every buffered record as one frame and fsync once (no-op if none)."""
        self._check_usable()
        if not self._pending:
            return
        frame = _frame(self._pending)
        try:
            assert self._fd is not None
            _write_all(self._fd, frame)
            os.fsync(self._fd)
        except OSError as error:
            self._fail(f"cannot write {self.path}: {error.strerror or error}")
        self.stats.syncs += 1
        self.stats.frames += 1
        self.stats.records += len(self._pending)
        self._size += len(frame)
        self._pending = []

    def should_compact(self, threshold_bytes: int) -> bool:
        return self._size - self._size_after_compaction >= threshold_bytes

    def compact(self) -> None:
        """Rewrite the log as the floor plus the newest record of each live instance."""
        self.sync()
        records: list[bytes] = []
        if self._floor is not None:
            records.append(encode_record(FloorRecord(self._floor)))
        records.extend(self._live[instance_id] for instance_id in sorted(self._live))
        temporary = self.path.with_name(self.path.name + _COMPACT_SUFFIX)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                data = MAGIC + (_frame(records) if records else b"")
                _write_all(fd, data)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            os.replace(temporary, self.path)
            fsync_directory(self.path.parent)
        except OSError as error:
            self._fail(f"cannot compact {self.path}: {error.strerror or error}")
        assert self._fd is not None
        os.close(self._fd)
        self._fd = fd
        self._size = self._size_after_compaction = len(data)
        self.stats.compactions += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _set_floor(self, floor: tuple[int, ...]) -> None:
        self._floor = floor
        for instance_id in [i for i in self._live if self._below_floor(i)]:
            del self._live[instance_id]

    def _below_floor(self, instance_id: InstanceId) -> bool:
        floor = self._floor
        return floor is not None and instance_id.slot <= floor[instance_id.owner]

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise StorageError(f"instance log unusable after an earlier failure: {self._failure}")
        if self._fd is None:
            raise StorageError(f"instance log {self.path} is closed")

    def _fail(self, message: str) -> None:
        self._failure = message
        raise StorageError(message)


def open_log(directory: Path) -> tuple[InstanceLog, LoadedLog]:
    """Open (or create) the log in `directory`, truncating a torn tail."""
    path = directory / LOG_FILE_NAME
    leftover = path.with_name(path.name + _COMPACT_SUFFIX)
    try:
        if leftover.exists():
            # A compaction crashed before its rename: the old log is still complete.
            leftover.unlink()
        if not path.exists() or path.stat().st_size < len(MAGIC):
            _create(path)
        data = path.read_bytes()
    except OSError as error:
        raise StorageError(f"cannot open {path}: {error.strerror or error}") from error
    if data[: len(MAGIC)] != MAGIC:
        raise StorageError(f"{path} is not an epaxdb instance log (bad magic)")
    valid_end, newest, floor = _scan(path, data)
    truncated = len(data) - valid_end
    try:
        fd = os.open(path, os.O_WRONLY)
        if truncated:
            os.ftruncate(fd, valid_end)
            os.fsync(fd)
        os.lseek(fd, valid_end, os.SEEK_SET)
    except OSError as error:
        raise StorageError(f"cannot open {path}: {error.strerror or error}") from error
    records = tuple(newest[instance_id][1] for instance_id in sorted(newest))
    loaded = LoadedLog(records=records, floor=floor, truncated_bytes=truncated)
    live = {instance_id: encoded for instance_id, (encoded, _) in newest.items()}
    return InstanceLog(path, fd, valid_end, live, floor), loaded


def _create(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, MAGIC)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)


_Newest = dict[InstanceId, tuple[bytes, InstanceRecord]]


def _scan(path: Path, data: bytes) -> tuple[int, _Newest, tuple[int, ...] | None]:
    """Replay every valid frame: where valid data ends, the newest record (encoded
    and decoded) of each instance above the floor, and the floor."""
    live: _Newest = {}
    floor: tuple[int, ...] | None = None
    offset = len(MAGIC)
    while offset < len(data):
        payload = _frame_at(data, offset)
        if payload is None:
            corrupt_at = _next_valid_frame(data, offset + 1)
            if corrupt_at is not None:
                raise StorageError(
                    f"{path} is corrupt: the frame at byte {offset} fails its checksum "
                    f"but a valid frame follows at byte {corrupt_at}; refusing to start "
                    "(restore this replica's data directory or replace the replica)"
                )
            break  # a torn tail: never synced, never acknowledged
        for encoded in _split_records(path, offset, payload):
            try:
                record = decode_record(encoded)
            except RemoteProtocolError as error:
                raise StorageError(
                    f"{path}: undecodable record in the frame at byte {offset}: {error}"
                ) from None
            if isinstance(record, FloorRecord):
                floor = record.floor
                live = {i: entry for i, entry in live.items() if i.slot > floor[i.owner]}
            elif floor is None or record.instance_id.slot > floor[record.instance_id.owner]:
                live[record.instance_id] = (encoded, record)
        offset += _HEADER.size + len(payload)
    return offset, live, floor


def _frame(records: list[bytes]) -> bytes:
    payload = b"".join(_LENGTH.pack(len(r)) + r for r in records)
    length_and_crc = struct.pack(">II", len(payload), zlib.crc32(payload))
    return length_and_crc + _LENGTH.pack(zlib.crc32(length_and_crc)) + payload


def _frame_at(data: bytes, offset: int) -> bytes | None:
    """The payload of the frame at `offset` if every check passes, else None."""
    if len(data) - offset < _HEADER.size:
        return None
    length, payload_crc, header_crc = _HEADER.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + 8]) != header_crc or length == 0:
        return None
    start = offset + _HEADER.size
    end = start + length
    if end > len(data):
        return None
    payload = data[start:end]
    return payload if zlib.crc32(payload) == payload_crc else None


def _next_valid_frame(data: bytes, start: int) -> int | None:
    for offset in range(start, len(data) - _HEADER.size + 1):
        if _frame_at(data, offset) is not None:
            return offset
    return None


def _split_records(path: Path, frame_offset: int, payload: bytes) -> list[bytes]:
    records = []
    offset = 0
    while offset < len(payload):
        if len(payload) - offset < _LENGTH.size:
            raise StorageError(f"{path}: malformed frame at byte {frame_offset}")
        (length,) = _LENGTH.unpack_from(payload, offset)
        offset += _LENGTH.size
        if length == 0 or offset + length > len(payload):
            raise StorageError(f"{path}: malformed frame at byte {frame_offset}")
        records.append(payload[offset : offset + length])
        offset += length
    return records


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
