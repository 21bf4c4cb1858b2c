"""Simulated clients: each request waits at one replica until it executes there.

Theory of operation. A request is *answered* when it executes at the replica it was
last submitted to (the connection the client is waiting on). When that replica
crashes, or no answer comes within the retry timeout, the client's outcome is
unknown; with retries on it submits the same request id to another replica (the
state machine applies a request id once, so a double commit is harmless), with
retries off it gives up and the request is *abandoned*: it may or may not execute,
and liveness does not demand it. Every other request must eventually be answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from epaxdb.command import Batch, Command
from epaxdb.ids import ReplicaId


@dataclass(slots=True)
class Request:
    command: Command
    replica: ReplicaId = -1  # where the client currently waits (-1: not submitted)
    attempt: int = 0
    answered: bool = False
    abandoned: bool = False


class Clients:
    def __init__(self, retry: bool) -> None:
        self.retry = retry
        self.requests: dict[str, Request] = {}
        self._waiting: dict[ReplicaId, dict[str, Request]] = {}

    def new(self, command: Command) -> Request:
        request = self.requests[command.request_id] = Request(command)
        return request

    def submitted(self, request: Request, replica: ReplicaId) -> None:
        if request.replica >= 0:
            self._waiting.get(request.replica, {}).pop(request.command.request_id, None)
        request.replica = replica
        request.attempt += 1
        self._waiting.setdefault(replica, {})[request.command.request_id] = request

    def on_executed(self, replica: ReplicaId, batch: Batch) -> list[Request]:
        """Requests answered by `replica` executing `batch`."""
        waiting = self._waiting.get(replica)
        if not waiting:
            return []
        answered = []
        for command in batch:
            request = waiting.pop(command.request_id, None)
            if request is not None and not request.answered:
                request.answered = True
                answered.append(request)
        return answered

    def on_crash(self, replica: ReplicaId) -> list[Request]:
        """Requests whose connection broke; abandoned unless clients retry."""
        broken = list(self._waiting.pop(replica, {}).values())
        for request in broken:
            request.replica = -1
            if not self.retry:
                request.abandoned = True
        return broken

    @property
    def unresolved(self) -> int:
        return sum(1 for r in self.requests.values() if not (r.answered or r.abandoned))

    def required(self) -> list[str]:
        """Request ids liveness demands: all but the abandoned ones."""
        return [rid for rid, r in self.requests.items() if not r.abandoned]
