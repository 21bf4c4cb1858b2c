"""The parts of epaxdb's Python clients that do no I/O, shared by both transports.

`epaxdb.dbapi` (blocking, `http.client`) and `epaxdb.aio` (asyncio, aiohttp) are thin:
each drives the operations of `session.Session` (generators that yield HTTP requests
and receive the decoded answers) over its own HTTP transport, with the retry and
failover decisions of `failover.Attempts`. Everything else, the wire format, the
error table, values and adapters, rows and cursors' result state, lives here once.
"""
