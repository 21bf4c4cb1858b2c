"""Bodies in msgpack as well as JSON; BLOBs as {"$blob": base64} in JSON, bin in msgpack."""

from __future__ import annotations

from pathlib import Path

import msgpack

from tests.server.harness import api_cluster, run, tx

MSGPACK = "application/msgpack"


def test_msgpack_bodies_and_answers_carry_blobs_natively(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path, 1) as cluster:
            blob = bytes(range(256))
            body = msgpack.packb(tx(
                "CREATE TABLE files(id INTEGER PRIMARY KEY, data BLOB)",
                ("INSERT INTO files VALUES (?, ?)", [1, blob]),
                ("SELECT data, length(data) FROM files WHERE id = :id", {"id": 1}),
                request_id="pack",
            ), use_bin_type=True)  # fmt: skip
            status, answer = await cluster.request(0, "POST", "/v1/tx", data=body, headers={
                "Content-Type": MSGPACK, "Accept": MSGPACK,
            })  # fmt: skip
            assert status == 200
            assert answer["results"][2] == {"columns": ["data", "length(data)"],
                                            "rows": [[blob, 256]]}  # fmt: skip
            # The same row read as JSON: the BLOB as {"$blob": base64}, and back again.
            as_json = await cluster.ok(0, "/v1/query", tx("SELECT data FROM files"))
            value = as_json["results"][0]["rows"][0][0]
            assert set(value) == {"$blob"}
            again = await cluster.ok(0, "/v1/query", tx(("SELECT ? = data FROM files", [value])))
            assert again["results"][0]["rows"] == [[1]]
            # A GET answers in msgpack too when asked, and so do errors.
            status, outcome = await cluster.get(0, "/v1/tx/pack", headers={"Accept": MSGPACK})
            assert (status, outcome["results"][1]["last_insert_rowid"]) == (200, 1)
            status, error = await cluster.request(
                0, "POST", "/v1/tx", data=b"\xc1", headers={"Content-Type": MSGPACK,
                                                             "Accept": MSGPACK},
            )  # fmt: skip
            assert (status, error["error"]["code"]) == (400, "malformed_body")

    run(scenario)


def test_the_accept_header_chooses_the_answer_format_by_preference(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path, 1) as cluster:
            for accept, expected in (
                ("application/msgpack", MSGPACK),
                ("application/json, application/msgpack", "application/json"),
                ("application/json;q=0.5, application/msgpack", MSGPACK),
                ("application/msgpack;q=0, */*", "application/json"),
                ("text/html", "application/json"),
            ):
                response = await cluster.clients[0].get("/healthz", headers={"Accept": accept})
                assert response.content_type == expected, accept

    run(scenario)
