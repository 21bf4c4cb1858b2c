"""An `epaxdb://` URL as the arguments of `epaxdb.dbapi.connect()`.

    epaxdb://HOST:PORT                                   one replica
    epaxdb:///?host=H1:P1&host=H2:P2&host=H3:P3          several: the client fails over
    epaxdb://H1:P1/?host=H2:P2                           the same; the URL's host comes first
    epaxdb://:TOKEN@HOST:PORT                            a bearer token, as the password
    epaxdb://HOST:PORT/?timeout=10&wire=msgpack&tls=true

SQLAlchemy's URL parser reads one host and port per URL (`h1:4001,h2:4002` is not a
port), so further replicas go in repeated `host` parameters, as SQLAlchemy's
PostgreSQL dialects take several hosts. A cluster holds one database: the path stays
empty. `tls=true` talks HTTPS to every replica. Anything else is refused, so a typo
cannot be silently ignored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

WIRES = ("json", "msgpack")
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
PARAMETERS = ("host", "timeout", "wire", "tls")


def connect_arguments(url: URL) -> tuple[list[Any], dict[str, Any]]:
    """`([replica URLs], {keyword arguments})` for `epaxdb.dbapi.connect`."""
    unknown = sorted(set(url.query) - set(PARAMETERS))
    if unknown:
        raise ArgumentError(
            f"unknown epaxdb URL parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETERS)}"
        )
    if url.database:
        raise ArgumentError(
            f"an epaxdb URL names replicas, not a database: drop the path /{url.database}"
        )
    if url.username:
        raise ArgumentError(
            "epaxdb takes no user name; a bearer token goes in the password: "
            "epaxdb://:TOKEN@HOST:PORT"
        )
    scheme = "https" if _boolean(url, "tls") else "http"
    hosts = [_authority(url.host, url.port)] if url.host else []
    hosts += _values(url, "host")
    if not hosts:
        raise ArgumentError("an epaxdb URL needs a replica: epaxdb://HOST:PORT")
    for host in hosts:
        if "://" in host or "/" in host:
            raise ArgumentError(f"host={host!r}: give HOST:PORT only (use tls=true for https)")
    keywords: dict[str, Any] = {"autocommit": False}
    if url.password:
        keywords["token"] = url.password
    if "timeout" in url.query:
        keywords["timeout"] = _number(url, "timeout")
    if "wire" in url.query:
        wire = _single(url, "wire")
        if wire not in WIRES:
            raise ArgumentError(f"wire={wire!r}: one of {', '.join(WIRES)}")
        keywords["wire"] = wire
    return [[f"{scheme}://{host}" for host in hosts]], keywords


def _authority(host: str, port: int | None) -> str:
    bracketed = f"[{host}]" if ":" in host else host  # an IPv6 address
    return bracketed if port is None else f"{bracketed}:{port}"


def _values(url: URL, name: str) -> list[str]:
    value = url.query.get(name, ())
    return [value] if isinstance(value, str) else list(value)


def _single(url: URL, name: str) -> str:
    values = _values(url, name)
    if len(values) != 1:
        raise ArgumentError(f"the epaxdb URL parameter {name} may be given once")
    return values[0]


def _boolean(url: URL, name: str) -> bool:
    if name not in url.query:
        return False
    text = _single(url, name)
    if text.lower() not in BOOLEANS:
        raise ArgumentError(f"{name}={text!r}: true or false")
    return BOOLEANS[text.lower()]


def _number(url: URL, name: str) -> float:
    text = _single(url, name)
    try:
        return float(text)
    except ValueError:
        raise ArgumentError(f"{name}={text!r}: a number of seconds") from None
