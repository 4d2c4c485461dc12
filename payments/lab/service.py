"""The payment service: one process per pool instance (``python -m payments.lab.service``).

- ``POST /payments`` with an ``Idempotency-Key`` header and ``{"amountCents": 1250, "currency": "EUR"}``:
  201 with the new payment, or 200 with the one already written under that key (a retry), 422 if the key
  was used for a different payment, 503 when the database cannot be reached (the client retries with the
  same key).
- ``GET /payments/<key>``: 200 or 404. ``GET /health``: 200 while the process serves.

Where it writes: legacy straight to the on-prem database; blue/green through the writer indirection,
resolved for every new connection (:class:`~payments.lab.indirection.Resolver`) and reached through the
fence. Its pool caps a connection's lifetime, pings a connection that sat idle before reusing it, and drops a
connection on any error: the application contract of docs/lab.md, from the app's side.

Its settings come as JSON on standard input, so the database password never appears in a process list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pymysql

from payments.lab.indirection import Resolver

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_UNAVAILABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
INSERT = (
    "INSERT INTO payments (idempotency_key, payment_id, amount_cents, currency, written_on) "
    "VALUES (%s, %s, %s, %s, @@server_id)"
)
SELECT = "SELECT payment_id, amount_cents, currency, written_on FROM payments WHERE idempotency_key = %s"


#: A connection idle longer than this is checked (a ping) before use: a fence or a flip may have cut it.
VALIDATE_AFTER_IDLE_SECONDS = 0.5


@dataclasses.dataclass
class _Pooled:
    conn: pymysql.connections.Connection[Any]
    born: float
    used: float = 0.0


class ConnectionPool:
    """Idle connections reused until `lifetime_seconds`; every new one asks `endpoint()` where to go."""

    def __init__(self, endpoint: Callable[[], tuple[str, int]], user: str, password: str,
                 lifetime_seconds: float) -> None:
        self._endpoint = endpoint
        self._user = user
        self._password = password
        self._lifetime = lifetime_seconds
        self._idle: list[_Pooled] = []
        self._lock = threading.Lock()

    def _fresh(self, pooled: _Pooled) -> bool:
        return time.monotonic() - pooled.born < self._lifetime

    def _take(self) -> _Pooled:
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                break
            if self._fresh(pooled) and self._alive(pooled):
                return pooled
            with contextlib.suppress(Exception):
                pooled.conn.close()
        host, port = self._endpoint()  # every new connection resolves the writer name again
        # Loopback in clear text: TLS is not part of the lab (docs/lab.md). Without ssl_disabled, PyMySQL 1.2 builds
        # a TLS context for every connection (about 0.1 s of CPU) to try TLS first.
        conn = pymysql.connect(host=host, port=port, user=self._user, password=self._password, database="payments",
                               connect_timeout=2, read_timeout=5, write_timeout=5, autocommit=False,
                               ssl_disabled=True)
        return _Pooled(conn, time.monotonic())

    @staticmethod
    def _alive(pooled: _Pooled) -> bool:
        """Validate on borrow (as HikariCP does): a connection idle for a while is pinged first."""
        if time.monotonic() - pooled.used < VALIDATE_AFTER_IDLE_SECONDS:
            return True
        try:
            pooled.conn.ping(reconnect=False)
            return True
        except _UNAVAILABLE:
            return False

    @contextlib.contextmanager
    def connection(self) -> Iterator[pymysql.connections.Connection[Any]]:
        pooled = self._take()
        try:
            yield pooled.conn
        except BaseException:
            with contextlib.suppress(Exception):
                pooled.conn.close()  # reconnect on error: never reuse a connection that failed
            raise
        if self._fresh(pooled):
            pooled.used = time.monotonic()
            with self._lock:
                self._idle.append(pooled)
        else:
            pooled.conn.close()


@dataclasses.dataclass(frozen=True)
class Identity:
    pool: str
    instance: str


class PaymentHandler(BaseHTTPRequestHandler):
    server_version = "payments-lab"
    db: ConnectionPool
    identity: Identity

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the load generator counts what matters."""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Pool", self.identity.pool)
        self.send_header("X-Instance", self.identity.instance)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"pool": self.identity.pool, "instance": self.identity.instance})
            return
        key = self.path.removeprefix("/payments/")
        if key == self.path or not _KEY.match(key):
            self._send(404, {"error": "not_found"})
            return
        try:
            with self.db.connection() as conn, conn.cursor() as cur:
                cur.execute(SELECT, (key,))
                row = cur.fetchone()
                conn.rollback()  # end the read's transaction: the next read sees new commits
        except _UNAVAILABLE as exc:
            self._send(503, {"error": "database_unavailable", "detail": type(exc).__name__})
            return
        if row is None:
            self._send(404, {"error": "not_found", "idempotencyKey": key})
        else:
            self._send(200, self._payment(key, row, replayed=False))

    def _payment(self, key: str, row: tuple[Any, ...], replayed: bool) -> dict[str, Any]:
        return {"paymentId": row[0], "idempotencyKey": key, "amountCents": row[1], "currency": row[2],
                "writtenOn": row[3], "pool": self.identity.pool, "instance": self.identity.instance,
                "replayed": replayed}

    def do_POST(self) -> None:
        if self.path != "/payments":
            self._send(404, {"error": "not_found"})
            return
        key = self.headers.get("Idempotency-Key", "")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            amount, currency = int(body["amountCents"]), str(body["currency"])
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": "bad_request", "detail": 'body: {"amountCents": <int>, "currency": "EUR"}'})
            return
        if not _KEY.match(key) or amount <= 0 or not _CURRENCY.match(currency):
            self._send(400, {"error": "bad_request", "detail": "Idempotency-Key [A-Za-z0-9_-]{1,64}, amount > 0"})
            return
        try:
            status, row = self._write(key, amount, currency)
        except _UNAVAILABLE as exc:
            self._send(503, {"error": "database_unavailable", "detail": type(exc).__name__})
            return
        if (row[1], row[2]) != (amount, currency):
            self._send(422, {"error": "idempotency_key_reused", "idempotencyKey": key})
            return
        self._send(status, self._payment(key, row, replayed=status == 200))

    def _write(self, key: str, amount: int, currency: str) -> tuple[int, tuple[Any, ...]]:
        """Insert once per key; a retry of a committed write finds the row and gets it back."""
        payment_id = str(uuid.uuid4())
        with self.db.connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(INSERT, (key, payment_id, amount, currency))
                conn.commit()
                cur.execute(SELECT, (key,))
                row = cur.fetchone()
                conn.rollback()
                return 201, row
            except pymysql.err.IntegrityError as exc:
                conn.rollback()
                if "uq_idempotency_key" not in str(exc):
                    raise
            cur.execute(SELECT, (key,))
            row = cur.fetchone()
            conn.rollback()
            return 200, row


def serve(settings: dict[str, Any]) -> None:
    """Run one instance until it is terminated; prints ``listening <port>`` once it accepts requests."""
    database = settings["database"]
    if "zone" in database:
        resolver = Resolver(Path(database["zone"]))
        endpoint: Callable[[], tuple[str, int]] = lambda: resolver.resolve(database["name"])  # noqa: E731
    else:
        host, _, port = database["direct"].rpartition(":")
        endpoint = lambda: (host, int(port))  # noqa: E731
    handler = type("Handler", (PaymentHandler,), {
        "db": ConnectionPool(endpoint, settings["user"], settings["password"], settings["connectionLifetimeSeconds"]),
        "identity": Identity(settings["pool"], settings["instance"]),
    })
    ThreadingHTTPServer.request_queue_size = 128  # the listen backlog (5 by default refuses bursts)
    server = ThreadingHTTPServer(("127.0.0.1", int(settings.get("port", 0))), handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(json.loads(sys.stdin.readline()))
