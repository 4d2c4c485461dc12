"""The load generator: steady payments plus reads, retried the way the application contract says.

Client side of the contract (docs/lab.md):
- every write carries an ``Idempotency-Key`` and every retry reuses it;
- a 503 ``write_paused`` answer is retried after the body's ``retryAfterSeconds`` (a ``Retry-After`` header
  wins if one ever appears: an ALB fixed response cannot send one);
- another 5xx, a 429, a timeout or a connection error is retried with capped, jittered exponential backoff;
- a write is given up only after ``deadline_seconds`` (then it counts as *failed after retries*);
- reads (``GET``) are retried the same way and never write.

It records every acknowledged payment (key, payment id, pool that answered, time), the error rate per pool
over a sliding window (what feeds the gate alarm), and every write pause as the clients saw it: from the
first ``write_paused`` answer to the next successful write sent after it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import http.client
import json
import random
import threading
import time
import uuid
from typing import Any

from payments.lab.proxy import POOLS

PAUSED = "write_paused"
EDGE = "edge"  #: answers the proxy gave itself (the pause rule): no pool answered


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    deadline_seconds: float = 30.0  #: give a write up after this long (must exceed the longest pause)
    first_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 1.0
    timeout_seconds: float = 5.0  #: per attempt


@dataclasses.dataclass(frozen=True)
class Ack:
    """One acknowledged payment."""

    key: str
    payment_id: str
    pool: str
    instance: str
    at_seconds: float  #: since the load started
    attempts: int


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int | None  #: None: no HTTP answer (connection refused, reset, timeout)
    body: dict[str, Any]
    pool: str
    retry_after: float | None

    @property
    def paused(self) -> bool:
        return self.status == 503 and self.body.get("error") == PAUSED

    @property
    def error(self) -> bool:
        """Counts against the gate: a 5xx that is not the pause, or no answer at all."""
        return (self.status is None or self.status >= 500) and not self.paused


@dataclasses.dataclass(frozen=True)
class LoadFigures:
    writes_started: int
    acknowledged: int
    writes_failed_after_retries: int
    writes_rejected: int  #: 4xx: a client or service bug, never retried
    write_attempts: int
    reads: int
    reads_failed_after_retries: int
    reads_not_found: int  #: an acknowledged payment the service could not find
    pause_answers: int
    longest_write_pause_seconds: float
    write_pauses_seconds: tuple[float, ...]


class LoadGenerator:
    """`rate` payments per second (and `read_ratio` reads per payment) against ``http://127.0.0.1:port``."""

    def __init__(self, port: int, rate: float, *, read_ratio: float = 1.0, workers: int = 64,
                 retry: RetryPolicy | None = None, window_seconds: float = 5.0) -> None:
        self.port = port
        self.rate = rate
        self.read_ratio = read_ratio
        self.retry = retry or RetryPolicy()
        self.window_seconds = window_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lab-load")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch, name="lab-load-dispatch", daemon=True)
        self._started_at = 0.0
        self._recent: collections.deque[tuple[float, str, bool]] = collections.deque()
        self._pause_open_at: float | None = None
        self._pauses: list[float] = []
        self.acks: list[Ack] = []
        self._counts = collections.Counter[str]()
        #: (pool, HTTP status or None, error code in the body) -> how many answers
        self.answers = collections.Counter[tuple[str, int | None, str]]()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._dispatcher.start()

    def stop(self) -> LoadFigures:
        """Stop sending new requests and wait for those in flight (each is bounded by its deadline)."""
        self._stop.set()
        self._dispatcher.join()
        self._pool.shutdown(wait=True)
        with self._lock:
            if self._pause_open_at is not None:  # never lifted while the load ran: count it up to now
                self._pauses.append(time.monotonic() - self._pause_open_at)
                self._pause_open_at = None
        return self.figures()

    def _dispatch(self) -> None:
        interval, reads_owed = 1.0 / self.rate, 0.0
        due = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._write)
            reads_owed += self.read_ratio
            while reads_owed >= 1:
                self._pool.submit(self._read)
                reads_owed -= 1
            due += interval
            self._stop.wait(max(0.0, due - time.monotonic()))

    # -- figures --------------------------------------------------------------------------------

    def figures(self) -> LoadFigures:
        with self._lock:
            c, pauses = self._counts, tuple(round(p, 3) for p in self._pauses)
            return LoadFigures(
                writes_started=c["writes"], acknowledged=len(self.acks),
                writes_failed_after_retries=c["writes_failed"], writes_rejected=c["writes_rejected"],
                write_attempts=c["write_attempts"], reads=c["reads"], reads_failed_after_retries=c["reads_failed"],
                reads_not_found=c["reads_not_found"], pause_answers=c["paused"],
                longest_write_pause_seconds=max(pauses, default=0.0), write_pauses_seconds=pauses,
            )

    def error_rate(self, pool: str | None = None, window_seconds: float | None = None) -> tuple[float, int]:
        """(share of errors, answers) from `pool` (every pool if None) over the last window. Errors: 5xx other
        than the pause, or no answer. (0.0, 0) when the pool answered nothing: the gate has no data."""
        since = time.monotonic() - (window_seconds or self.window_seconds)
        with self._lock:
            seen = [error for at, p, error in self._recent if at >= since and (pool is None or p == pool)]
        return (sum(seen) / len(seen) if seen else 0.0), len(seen)

    # -- requests -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.retry.timeout_seconds)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else {}
            except ValueError:
                parsed = {"raw": raw[:200].decode(errors="replace")}
            retry_after = response.getheader("Retry-After")
            backend = response.getheader("X-Lab-Backend")  # the proxy's own errors (e.g. 503 no server) name it
            answer = Answer(response.status, parsed if isinstance(parsed, dict) else {},
                            response.getheader("X-Pool") or (backend if backend in POOLS else EDGE),
                            float(retry_after) if retry_after and retry_after.isdigit() else None)
        except (OSError, http.client.HTTPException):
            answer = Answer(None, {}, "unknown", None)
        finally:
            conn.close()
        now = time.monotonic()
        with self._lock:
            self.answers[(answer.pool, answer.status, str(answer.body.get("error", "")))] += 1
            if not answer.paused:
                self._recent.append((now, answer.pool, answer.error))
            while self._recent and self._recent[0][0] < now - 60:
                self._recent.popleft()
        return answer

    def _wait_before_retry(self, answer: Answer, backoff: float) -> tuple[float, float]:
        """(seconds to wait, next backoff)."""
        if answer.paused:
            hint = answer.retry_after if answer.retry_after is not None else answer.body.get("retryAfterSeconds", 1)
            return float(hint) * random.uniform(1.0, 1.2), backoff
        return random.uniform(0, backoff), min(backoff * 2, self.retry.max_backoff_seconds)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _write(self) -> None:
        key = uuid.uuid4().hex
        body = json.dumps({"amountCents": random.randint(100, 99_999), "currency": "EUR"}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        started, attempts, backoff = time.monotonic(), 0, self.retry.first_backoff_seconds
        self._count("writes")
        while True:
            attempts += 1
            self._count("write_attempts")
            sent = time.monotonic()
            answer = self._send("POST", "/payments", headers, body)
            now = time.monotonic()
            if answer.status in (200, 201):
                with self._lock:
                    self.acks.append(Ack(key, str(answer.body.get("paymentId")), answer.pool,
                                         str(answer.body.get("instance", "")), now - self._started_at, attempts))
                    # A write sent before the pause was seen (in flight at the proxy) does not end it.
                    if self._pause_open_at is not None and sent >= self._pause_open_at:
                        self._pauses.append(now - self._pause_open_at)
                        self._pause_open_at = None
                return
            if answer.paused:
                with self._lock:
                    self._counts["paused"] += 1
                    if self._pause_open_at is None:
                        self._pause_open_at = now
            elif answer.status is not None and answer.status < 500 and answer.status != 429:
                self._count("writes_rejected")
                return
            wait, backoff = self._wait_before_retry(answer, backoff)
            if now + wait - started > self.retry.deadline_seconds:
                self._count("writes_failed")
                return
            time.sleep(wait)

    def _read(self) -> None:
        with self._lock:
            if not self.acks:
                return
            key = random.choice(self.acks).key
        self._count("reads")
        started, backoff = time.monotonic(), self.retry.first_backoff_seconds
        while True:
            answer = self._send("GET", f"/payments/{key}", {})
            if answer.status == 200:
                return
            if answer.status == 404:
                self._count("reads_not_found")
                return
            wait, backoff = self._wait_before_retry(answer, backoff)
            if (answer.status is not None and answer.status < 500) or time.monotonic() + wait - started > \
                    self.retry.deadline_seconds:
                self._count("reads_failed")
                return
            time.sleep(wait)
