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
import heapq
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


@dataclasses.dataclass
class _Request:
    """One client's payment or read, across its attempts."""

    write: bool
    key: str
    body: bytes | None
    started: float
    backoff: float
    attempts: int = 0


class LoadGenerator:
    """`rate` payments per second (and `read_ratio` reads per payment) against ``http://127.0.0.1:port``.

    Clients are independent: new payments keep arriving at `rate` while earlier ones wait to retry (a waiting
    client holds no thread; a scheduler hands due attempts to the worker threads)."""

    def __init__(self, port: int, rate: float, *, read_ratio: float = 1.0, workers: int = 64,
                 retry: RetryPolicy | None = None, window_seconds: float = 5.0) -> None:
        self.port = port
        self.rate = rate
        self.read_ratio = read_ratio
        self.retry = retry or RetryPolicy()
        self.window_seconds = window_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lab-load")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._retries: list[tuple[float, int, _Request]] = []  # heap of (due, tie-breaker, request)
        self._in_flight = 0
        self._sequence = 0
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
        """Stop starting new requests; finish those under way (each is bounded by its deadline)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        self._dispatcher.join()
        self._pool.shutdown(wait=True)
        with self._lock:
            if self._pause_open_at is not None:  # never lifted while the load ran: count it up to now
                self._pauses.append(time.monotonic() - self._pause_open_at)
                self._pause_open_at = None
        return self.figures()

    def _submit(self, request: _Request) -> None:
        """Hand one attempt to a worker (called with the lock held)."""
        self._in_flight += 1
        self._pool.submit(self._attempt, request)

    def _dispatch(self) -> None:
        interval, reads_owed = 1.0 / self.rate, 0.0
        next_new = time.monotonic()
        with self._lock:
            while not (self._stopping and not self._retries and not self._in_flight):
                now = time.monotonic()
                while not self._stopping and next_new <= now:
                    self._submit(self._new_write(now))
                    reads_owed += self.read_ratio
                    while reads_owed >= 1:
                        reads_owed -= 1
                        if self.acks:
                            self._submit(_Request(False, random.choice(self.acks).key, None, now,
                                                  self.retry.first_backoff_seconds))
                    next_new += interval
                while self._retries and self._retries[0][0] <= now:
                    self._submit(heapq.heappop(self._retries)[2])
                due = [next_new] if not self._stopping else []
                due += [self._retries[0][0]] if self._retries else []
                self._wake.wait(timeout=max(0.0, min(due) - now) if due else 0.5)

    def _new_write(self, now: float) -> _Request:
        self._counts["writes"] += 1
        body = json.dumps({"amountCents": random.randint(100, 99_999), "currency": "EUR"}).encode()
        # A UUID with its dashes, as clients send them (and not a bare hex string a secret scanner takes for a key).
        return _Request(True, str(uuid.uuid4()), body, now, self.retry.first_backoff_seconds)

    def _retry_later(self, request: _Request, wait: float) -> None:
        with self._lock:
            self._sequence += 1
            heapq.heappush(self._retries, (time.monotonic() + wait, self._sequence, request))
            self._wake.notify()

    def _attempt(self, request: _Request) -> None:
        try:
            if request.write:
                self._write_attempt(request)
            else:
                self._read_attempt(request)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._wake.notify()

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

    def _give_up_or_retry(self, request: _Request, answer: Answer, failed: str) -> None:
        wait, request.backoff = self._wait_before_retry(answer, request.backoff)
        if time.monotonic() + wait - request.started > self.retry.deadline_seconds:
            self._count(failed)
        else:
            self._retry_later(request, wait)

    def _write_attempt(self, request: _Request) -> None:
        request.attempts += 1
        self._count("write_attempts")
        headers = {"Content-Type": "application/json", "Idempotency-Key": request.key}  # the same key every time
        sent = time.monotonic()
        answer = self._send("POST", "/payments", headers, request.body)
        now = time.monotonic()
        if answer.status in (200, 201):
            with self._lock:
                self.acks.append(Ack(request.key, str(answer.body.get("paymentId")), answer.pool,
                                     str(answer.body.get("instance", "")), now - self._started_at, request.attempts))
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
        self._give_up_or_retry(request, answer, "writes_failed")

    def _read_attempt(self, request: _Request) -> None:
        if request.attempts == 0:
            self._count("reads")
        request.attempts += 1
        answer = self._send("GET", f"/payments/{request.key}", {})
        if answer.status == 200:
            return
        if answer.status == 404:
            self._count("reads_not_found")
        elif answer.status is not None and answer.status < 500 and answer.status != 429:
            self._count("reads_failed")
        else:
            self._give_up_or_retry(request, answer, "reads_failed")
