"""Wide-area emulation on one machine: site profiles and a per-link delay line.

A profile places replica i at site i and gives the round-trip time between every
two sites. The transport delays each frame to a peer by half the round trip to that
peer's site (applied on send, so a request and its reply add up to the round trip);
the load generator adds the client-to-replica hop (the diagonal of the matrix).

The kernel of the development machine has no netem, and a delaying proxy costs a
Python process per link, hence the delay inside the replica's own transport.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from epaxdb.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WanProfile:
    name: str
    sites: tuple[str, ...]
    # Symmetric round-trip times in milliseconds; rtt_ms[i][i] is the hop from a client
    # to the replica of its own site.
    rtt_ms: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        n = len(self.sites)
        if len(self.rtt_ms) != n or any(len(row) != n for row in self.rtt_ms):
            raise ValueError(f"profile {self.name}: the matrix must be {n}x{n}")
        for i in range(n):
            for j in range(n):
                if self.rtt_ms[i][j] != self.rtt_ms[j][i] or self.rtt_ms[i][j] < 0:
                    raise ValueError(f"profile {self.name}: rtt[{i}][{j}] is not symmetric")

    def one_way_s(self, site: int, other: int) -> float:
        return self.rtt_ms[site][other] / 2000.0

    def peer_delays_s(self, site: int) -> dict[int, float]:
        """The one-way delay from the replica at `site` to every other replica."""
        return {
            other: self.one_way_s(site, other) for other in range(len(self.sites)) if other != site
        }

    def fast_quorum_rtt_ms(self, site: int, fast_quorum: int) -> float:
        """The round trip from `site` to its nearest fast quorum (itself and its
        `fast_quorum - 1` nearest peers): the best commit latency a replica there can
        reach, before the client's own hop."""
        peers = sorted(rtt for other, rtt in enumerate(self.rtt_ms[site]) if other != site)
        return peers[fast_quorum - 2] if fast_quorum > 1 else 0.0

    def check_cluster_size(self, replica_count: int) -> None:
        if replica_count != len(self.sites):
            raise ConfigError(
                f"the WAN profile {self.name} has {len(self.sites)} sites "
                f"({', '.join(self.sites)}): it needs exactly {len(self.sites)} replicas, "
                f"not {replica_count}"
            )


# Same-site client hop: the paper co-locates clients with their replica and prints no
# figure for it; 1 ms is an assumed same-region round trip.
_LOCAL_MS = 1.0

# Moraru, Andersen, Kaminsky, "There is more consensus in egalitarian parliaments"
# (SOSP 2013), Figure 4: EC2 sites and the inter-site RTTs printed under its graphs
# (CA-VA 85, VA-EU 90, CA-EU 156, CA-OR 21, OR-JP 127, CA-JP 118, JP-EU 278 ms; see
# the project's research notes, epaxos-protocol.md D.2). Three pairs are not printed;
# they are chosen so that each site's round trip to its nearest fast quorum (itself and
# its two nearest peers) matches that site's EPaxos 0 % median in the same figure:
# VA-OR 78 (Oregon's median, 78 ms), OR-EU 149 (Ireland's, 149 ms). VA-JP does not
# change any site's nearest quorum (Japan's is CA+OR); 162 ms is a typical
# us-east-to-Tokyo round trip.
PAPER5 = WanProfile(
    "paper5",
    ("Virginia", "California", "Oregon", "Ireland", "Japan"),
    (
        (_LOCAL_MS, 85.0, 78.0, 90.0, 162.0),
        (85.0, _LOCAL_MS, 21.0, 156.0, 118.0),
        (78.0, 21.0, _LOCAL_MS, 149.0, 127.0),
        (90.0, 156.0, 149.0, _LOCAL_MS, 278.0),
        (162.0, 118.0, 127.0, 278.0, _LOCAL_MS),
    ),
)
# The paper's three-replica group (same figure): California, Virginia, Ireland.
PAPER3 = WanProfile(
    "paper3",
    ("California", "Virginia", "Ireland"),
    (
        (_LOCAL_MS, 85.0, 156.0),
        (85.0, _LOCAL_MS, 90.0),
        (156.0, 90.0, _LOCAL_MS),
    ),
)
PROFILES = {profile.name: profile for profile in (PAPER3, PAPER5)}


def wan_profile(name: str) -> WanProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"unknown WAN profile {name!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None


class DelayLine:
    """Hands frames to `release` `delay_s` after they were pushed, in push order.

    One timer for the whole line: the delay is constant, so the oldest frame is always
    the next one due, and order holds by construction (asyncio does not promise an
    order for timers due at the same instant)."""

    def __init__(self, delay_s: float, release: Callable[[bytes], None]) -> None:
        self.delay_s = delay_s
        self._release = release
        self._frames: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def push(self, frame: bytes) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay_s
        self._frames.append((due, frame))
        if self._timer is None:
            self._timer = loop.call_at(due, self._release_due)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)

    def _release_due(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        now = loop.time()
        while self._frames and self._frames[0][0] <= now:
            self._release(self._frames.popleft()[1])
        if self._frames:
            self._timer = loop.call_at(self._frames[0][0], self._release_due)
