"""The replica-to-replica handshake: who a peer is and whether it may join.

A connection is opened by the replica that wants to *send* (the dialer) to the one
that listens (the acceptor); protocol messages then flow one way only. Exchange:

    acceptor -> dialer   Hello(acceptor, nonce)
    dialer   -> acceptor Hello(dialer, nonce) [+ proof]
    acceptor -> dialer   Verdict(ok | reason)

Both sides compare the other's Hello with their own (`mismatch`): same cluster id,
protocol version, SQLite version and cluster settings (the connection settings that
change query results, e.g. foreign_keys). A replica built differently would execute
the same transactions to a different state, so it is refused, loudly, before it can
vote. With a cluster secret, the dialer's proof is HMAC-SHA256 over the acceptor's
nonce and the dialer's Hello: a process without the secret cannot inject messages.
It authenticates the dialer only and encrypts nothing (use a private network or a
tunnel for that).

Hellos are msgpack maps inside the same length-prefixed frames as messages.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import msgpack

from epaxdb.errors import RemoteProtocolError

_PROOF_CONTEXT = b"epaxdb-handshake-v1"


@dataclass(frozen=True, slots=True)
class Hello:
    cluster_id: str
    replica_id: int
    protocol_version: int
    sqlite_version: str
    settings: tuple[tuple[str, str], ...]  # sorted (name, value) pairs
    nonce: bytes = b""

    def encode(self, proof: bytes = b"") -> bytes:
        return msgpack.packb(
            {
                "cluster_id": self.cluster_id,
                "replica_id": self.replica_id,
                "protocol_version": self.protocol_version,
                "sqlite_version": self.sqlite_version,
                "settings": [list(pair) for pair in self.settings],
                "nonce": self.nonce,
                "proof": proof,
            },
            use_bin_type=True,
        )

    @staticmethod
    def decode(data: bytes) -> tuple[Hello, bytes]:
        """The Hello and its proof; RemoteProtocolError if `data` is not a Hello."""
        try:
            fields = msgpack.unpackb(data, raw=False)
            hello = Hello(
                cluster_id=_typed(fields, "cluster_id", str),
                replica_id=_typed(fields, "replica_id", int),
                protocol_version=_typed(fields, "protocol_version", int),
                sqlite_version=_typed(fields, "sqlite_version", str),
                settings=tuple(
                    (str(name), str(value)) for name, value in _typed(fields, "settings", list)
                ),
                nonce=_typed(fields, "nonce", bytes),
            )
            return hello, _typed(fields, "proof", bytes)
        except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as error:
            raise RemoteProtocolError(f"malformed handshake: {error}") from None


def _typed(fields: Any, name: str, kind: type) -> Any:
    value = fields[name] if isinstance(fields, dict) and name in fields else None
    if type(value) is not kind:
        raise ValueError(f"field {name!r} missing or not {kind.__name__}")
    return value


def mismatch(local: Hello, remote: Hello) -> str | None:
    """Why `remote` may not talk to `local`, or None if it may."""
    if remote.cluster_id != local.cluster_id:
        return f"cluster id {remote.cluster_id!r} differs from ours ({local.cluster_id!r})"
    if remote.protocol_version != local.protocol_version:
        return (
            f"protocol version {remote.protocol_version} differs from ours "
            f"({local.protocol_version})"
        )
    if remote.sqlite_version != local.sqlite_version:
        return (
            f"SQLite version {remote.sqlite_version} differs from ours ({local.sqlite_version})"
        )
    if remote.settings != local.settings:
        ours, theirs = dict(local.settings), dict(remote.settings)
        differing = sorted(
            name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name)
        )
        details = ", ".join(
            f"{name}={theirs.get(name, '<unset>')} (ours {ours.get(name, '<unset>')})"
            for name in differing
        )
        return f"cluster settings differ: {details}"
    return None


def proof(secret: bytes, acceptor_nonce: bytes, dialer: Hello) -> bytes:
    message = _PROOF_CONTEXT + acceptor_nonce + dialer.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def proof_is_valid(secret: bytes, acceptor_nonce: bytes, dialer: Hello, given: bytes) -> bool:
    return hmac.compare_digest(proof(secret, acceptor_nonce, dialer), given)


def encode_verdict(reason: str | None) -> bytes:
    return msgpack.packb({"ok": reason is None, "reason": reason or ""}, use_bin_type=True)


def decode_verdict(data: bytes) -> str | None:
    """None if the acceptor accepted us, else its reason."""
    try:
        fields = msgpack.unpackb(data, raw=False)
        ok = _typed(fields, "ok", bool)
        reason = _typed(fields, "reason", str)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise RemoteProtocolError(f"malformed handshake verdict: {error}") from None
    return None if ok else reason or "refused"
