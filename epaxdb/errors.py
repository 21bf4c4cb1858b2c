"""The exception hierarchy of epaxdb (runtime, core and client share the root)."""

from __future__ import annotations


class EpaxdbError(Exception):
    """Root of every error epaxdb raises on purpose."""


class ConfigError(EpaxdbError):
    """A cluster or replica configuration that cannot work (raised at startup)."""


class InvariantViolation(EpaxdbError):
    """Our own bug: a protocol invariant does not hold. The replica must stop."""


class RemoteProtocolError(EpaxdbError):
    """A peer sent something impossible; the message is dropped, the replica stays up."""


class StorageError(EpaxdbError):
    """Durable storage failed; the replica must not acknowledge anything further."""


def invariant(condition: bool, message: str) -> None:
    """Like assert, but survives `python -O` and raises a typed error."""
    if not condition:
        raise InvariantViolation(message)
