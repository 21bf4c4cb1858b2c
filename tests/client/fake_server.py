"""A scripted stand-in for the cluster's HTTP API, for the session's I/O-free tests.

It answers by path like the real endpoints, with synthetic results: a statement
starting with SELECT returns one row holding its own position in the request; any
other statement affects one row and "inserts" rowid 100 + its position. A statement
containing FAIL (in its text or parameters) fails deterministically: 409 naming its
index, and in a preview with a context recording the failure (or, for ROLLBACK_FAIL,
with `transaction_rolled_back` and no context). The next commit can be made to fail
with `refuse_next_commit`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from epaxdb.client.errors import error_from_answer
from epaxdb.client.protocol import PREVIEW_PATH, QUERY_PATH, TX_PATH, Request


@dataclass
class FakeServer:
    requests: list[Request] = field(default_factory=list)
    refuse_next_commit: tuple[int, dict[str, Any]] | None = None  # (status, error body)
    _tokens: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __call__(self, request: Request) -> Any:
        self.requests.append(request)
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
                raise error_from_answer(409, answer)
        results = [self._result(i, s["sql"]) for i, s in enumerate(statements)]
        if request.path == PREVIEW_PATH:
            return {"results": results, "context": {"previewed": len(statements)}}
        if request.path == QUERY_PATH:
            return {"results": results}
        assert request.path == TX_PATH
        if self.refuse_next_commit is not None:
            status, error = self.refuse_next_commit
            self.refuse_next_commit = None
            raise error_from_answer(status, {"error": error})
        return {
            "request_id": request.body["request_id"],
            "results": results,
            "commit_token": f"token-{next(self._tokens)}",
        }

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def sqls(self, index: int = -1) -> list[str]:
        return [s["sql"] for s in self.requests[index].body["statements"]]

    @staticmethod
    def _result(index: int, sql: str) -> dict[str, Any]:
        if sql.upper().startswith("SELECT"):
            return {"columns": ["position"], "rows": [[index]]}
        return {"rows_affected": 1, "last_insert_rowid": 100 + index}
