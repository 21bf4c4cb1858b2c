"""A scripted stand-in for the cluster's HTTP API, for the session's I/O-free tests.

It answers by path like the real endpoints, with synthetic results: a statement
starting with SELECT returns one row holding its own position in the request; any
other statement affects one row and "inserts" rowid 100 + its position. A statement
containing FAIL (in its text or parameters) fails deterministically: 409 naming its
index, and in a preview with a context recording the failure (or, for ROLLBACK_FAIL,
with `transaction_rolled_back` and no context). The next commit can be made to fail
with `refuse_next_commit`. Commits and linearizable queries are executed in slots
1, 2, ... of replica `owner` (their commit tokens say so, as do those of 409s); a
commit's answer is kept for `GET /v1/tx/{id}`.
"""

from __future__ import annotations

import itertools
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from epaxdb.client.errors import error_from_answer
from epaxdb.client.protocol import PREVIEW_PATH, QUERY_PATH, TX_PATH, Request


@dataclass
class FakeServer:
    requests: list[Request] = field(default_factory=list)
    refuse_next_commit: tuple[int, dict[str, Any]] | None = None  # (status, error body)
    owner: int = 0  # the replica whose instances the answers name
    committed: dict[str, dict[str, Any]] = field(default_factory=dict)  # by request id
    _slots: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __call__(self, request: Request) -> Any:
        self.requests.append(request)
        if request.body is None:
            assert request.path.startswith(TX_PATH + "/")
            request_id = urllib.parse.unquote(request.path[len(TX_PATH) + 1 :])
            kept = self.committed.get(request_id)
            if kept is None:
                return {"request_id": request_id, "outcome": "unknown"}
            return {**kept, "outcome": "committed"}
        statements = request.body["statements"]
        for index, statement in enumerate(statements):
            if "FAIL" in repr(statement):
                error = {"code": "SQLITE_CONSTRAINT_CHECK", "message": "CHECK failed",
                         "statement": index}  # fmt: skip
                answer: dict[str, Any] = {"error": error}
                if "ROLLBACK_FAIL" in repr(statement):
                    error["transaction_rolled_back"] = True
                elif request.path == PREVIEW_PATH:
                    answer["context"] = {"previewed": index, "failed_at": index}
                else:
                    answer["commit_token"] = self._token()
                raise error_from_answer(409, answer)
        results = [self._result(i, s["sql"]) for i, s in enumerate(statements)]
        if request.path == PREVIEW_PATH:
            return {"results": results, "context": {"previewed": len(statements)}}
        if request.path == QUERY_PATH:
            return {"results": results, "commit_token": self._token()}
        assert request.path == TX_PATH
        if self.refuse_next_commit is not None:
            status, error = self.refuse_next_commit
            self.refuse_next_commit = None
            answer = {"error": error}
            if status == 409:
                answer["commit_token"] = self._token()
            raise error_from_answer(status, answer)
        request_id = request.body["request_id"]
        answer = {"request_id": request_id, "results": results, "commit_token": self._token()}
        self.committed[request_id] = answer
        return answer

    def _token(self) -> str:
        return f"epx1:{self.owner}:{next(self._slots)}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def sqls(self, index: int = -1) -> list[str]:
        return [s["sql"] for s in self.requests[index].body["statements"]]

    @staticmethod
    def _result(index: int, sql: str) -> dict[str, Any]:
        if sql.upper().startswith("SELECT"):
            return {"columns": ["position"], "rows": [[index]]}
        return {"rows_affected": 1, "last_insert_rowid": 100 + index}
