#!/bin/sh
# The HTTP API with curl: one-shot transactions, parameters, a BLOB, an idempotent
# retry, reads (linearizable, and local after a commit token), a transaction's outcome
# by its id, and the shape of errors. Start a fresh cluster, then run it:
#
#   python3 -m epaxdb local --data /tmp/curl-demo        # HTTP on 127.0.0.1:4001-4003
#   sh examples/curl/api.sh [URL_A URL_B URL_C]
#
# It prints each request (A, B, C: the replica it goes to) and the answer.
# expected.txt is what it printed on a fresh cluster; tests/examples/test_curl.py runs
# it against one and compares (only executed_count, which depends on how far the
# replica got at that moment, may differ).
set -eu

A=${1:-http://127.0.0.1:4001}
B=${2:-http://127.0.0.1:4002}
C=${3:-http://127.0.0.1:4003}

# post NAME URL PATH BODY: send BODY as JSON, print the request and the answer
post() {
    printf '\n%s: POST %s\n%s\n' "$1" "$3" "$4"
    ANSWER=$(curl -sS "$2$3" -H 'content-type: application/json' -d "$4")
    printf -- '-> %s\n' "$ANSWER"
}

# get NAME URL PATH: print the request and the answer
get() {
    printf '\n%s: GET %s\n' "$1" "$3"
    ANSWER=$(curl -sS "$2$3")
    printf -- '-> %s\n' "$ANSWER"
}

echo "# 1. a table (DDL is a transaction like any other)"
post A "$A" /v1/tx '{"statements": [{"sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, body TEXT, attachment BLOB)"}],
 "request_id": "create-notes"}'

echo
echo "# 2. two inserts in one transaction: positional and named parameters, a BLOB (base64)"
post A "$A" /v1/tx '{"statements": [
  {"sql": "INSERT INTO notes (title, body) VALUES (?, ?)", "params": ["groceries", "milk, eggs"]},
  {"sql": "INSERT INTO notes (title, attachment) VALUES (:title, :file)", "params": {"title": "scan", "file": {"$blob": "iVBORw0KGgo="}}}],
 "request_id": "add-notes-1"}'
TOKEN=$(printf '%s' "$ANSWER" | sed -n 's/.*"commit_token": "\([^"]*\)".*/\1/p')

echo
echo "# 3. the same request again, to another replica: the first answer, nothing applied twice"
post C "$C" /v1/tx '{"statements": [
  {"sql": "INSERT INTO notes (title, body) VALUES (?, ?)", "params": ["groceries", "milk, eggs"]},
  {"sql": "INSERT INTO notes (title, attachment) VALUES (:title, :file)", "params": {"title": "scan", "file": {"$blob": "iVBORw0KGgo="}}}],
 "request_id": "add-notes-1"}'

echo
echo "# 4. a linearizable read: sees every transaction acknowledged before it, anywhere"
post B "$B" /v1/query '{"statements": [{"sql": "SELECT id, title, attachment FROM notes ORDER BY id"}],
 "request_id": "read-notes"}'

echo
echo "# 5. what became of the insert, asked by its request id (B executed it before that read)"
get B "$B" /v1/tx/add-notes-1

echo
echo "# 6. a local read (no ordering, one replica's state) after the insert's commit token"
post C "$C" /v1/query "{\"statements\": [{\"sql\": \"SELECT count(*) FROM notes\"}], \"consistency\": \"local\", \"after\": \"$TOKEN\"}"

echo
echo "# 7. a constraint violation: 409, the same on every replica, nothing applied"
post B "$B" /v1/tx '{"statements": [
  {"sql": "UPDATE notes SET body = ? WHERE id = ?", "params": ["milk, eggs, bread", 1]},
  {"sql": "INSERT INTO notes (title) VALUES (?)", "params": ["scan"]}],
 "request_id": "dup-scan"}'
post B "$B" /v1/query '{"statements": [{"sql": "SELECT body FROM notes WHERE id = 1"}], "request_id": "check-body"}'

echo
echo "# 8. refused before anything is submitted: 400 with the code and the statement"
post A "$A" /v1/tx '{"statements": [{"sql": "SELECT * FROM notes WHERE id = ?", "params": []}]}'
post A "$A" /v1/tx '{"statements": [{"sql": "SELECT 1"}, {"sql": "PRAGMA journal_mode = DELETE"}]}'
