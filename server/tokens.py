"""Commit tokens: where a transaction took effect, as an opaque string for clients.

A token names the protocol instance whose execution produced a result. A replica that
has executed that instance reflects the transaction (and everything ordered before it
there), which is what `"after": <token>` waits for. Format version 1 is
`epx1:<owner>:<slot>`; clients must treat it as opaque, and a later format gets a new
prefix, so a replica can always tell which one it was given.
"""

from __future__ import annotations

import re

from epaxdb.ids import InstanceId

_PREFIX = "epx1"
_FORMAT = re.compile(r"epx1:(\d{1,6}):(\d{1,19})")


class BadToken(ValueError):
    """Not a commit token of this cluster."""


def encode_token(instance_id: InstanceId) -> str:
    return f"{_PREFIX}:{instance_id.owner}:{instance_id.slot}"


def decode_token(token: str, replica_count: int) -> InstanceId:
    match = _FORMAT.fullmatch(token)
    if match is None:
        raise BadToken(f"{token[:80]!r} is not a commit token")
    owner, slot = int(match[1]), int(match[2])
    if owner >= replica_count or slot < 1:
        raise BadToken(f"{token!r} names no instance of this {replica_count}-replica cluster")
    return InstanceId(owner, slot)
