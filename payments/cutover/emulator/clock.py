"""A virtual clock for the emulator: every wait happens, in order, and none of it takes real time.

Step Functions measures Wait states, retry intervals and an execution's ``TimeoutSeconds`` in wall time, and
moto sleeps for real. In the emulator they are measured on this clock instead. It is a small discrete-event
scheduler:

* an execution is *busy* while it runs states (or waits for its turn to), and *asleep* while it waits;
* virtual time moves only when every execution is asleep, and then jumps straight to the earliest wake-up or
  timer, in order;
* one execution runs at a time: it keeps the *run slot* until it sleeps or ends, then the next runnable one
  (first come, first served) takes it. Executions still overlap in virtual time, as on AWS, but their states
  interleave the same way on every run, so a test sees one definite order (the one where a busy execution
  finishes its burst of API calls before another, started meanwhile, begins its own), not whatever the
  operating system's scheduler picked.

So a cutover baking for 900 s lets a rollback started meanwhile run to its end first, exactly as on AWS, and
the whole rehearsal of a prod schedule takes milliseconds. Nothing in a definition changes: a Wait of 900 s is
still a Wait of 900 s, and the timeline shows it.

A retry interval is different: the execution stays busy while it passes (:meth:`Clock.pass_time`), so sleepers
due in that span wake, but no other execution runs "inside" a two-second retry. That is a simplification only
for retries, which are seconds long.

Every blocking call has a real-time guard: a scheduling mistake raises :class:`ClockStalledError` instead of hanging
a test run.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator

#: Real seconds a sleeper may wait for the clock before the run is declared stalled.
STALL_SECONDS = 60.0


class ClockStalledError(RuntimeError):
    """The virtual clock could not move: an execution slept while another never went to sleep nor finished."""


class Clock:
    """Virtual time for every execution of one emulator session (see the module docstring)."""

    def __init__(self, epoch: datetime.datetime | None = None) -> None:
        self._cv = threading.Condition(threading.RLock())
        self._epoch = epoch or datetime.datetime.now(tz=datetime.UTC)
        self._elapsed = 0.0
        self._busy = 0
        self._ids = itertools.count()
        self._wakeups: list[tuple[float, int]] = []
        self._cancelled: set[int] = set()
        self._woken: set[int] = set()
        self._awake: dict[int, Callable[[], bool]] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._slot: str | None = None  #: the execution that runs now
        self._runnable: collections.deque[str] = collections.deque()
        self._local = threading.local()

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the session started."""
        with self._cv:
            self._sync()
            return self._elapsed

    def now(self) -> datetime.datetime:
        """The virtual wall-clock time (what history events and ``$$.State.EnteredTime`` carry)."""
        with self._cv:
            self._sync()
            return self._epoch + datetime.timedelta(seconds=self._elapsed)

    def _sync(self) -> None:
        """Bring ``_elapsed`` up to date (virtual time moves only in :meth:`_advance`; see :class:`WallClock`)."""

    def _stall_seconds(self, seconds: float) -> float:
        """Real seconds a sleeper of `seconds` may go without any news before the run counts as stalled."""
        return STALL_SECONDS

    def describe(self) -> str:
        """The scheduler's state, for a report of a run that did not finish."""
        with self._cv:
            return (
                f"virtual +{self._elapsed:.1f}s, {self._busy} busy, running {self._slot}, "
                f"queued {list(self._runnable)}, {len(self._wakeups)} sleeper(s), {len(self._timers)} timer(s)"
            )

    # --- executions ----------------------------------------------------------------------------------------

    def started(self, key: str | None = None) -> None:
        """An execution starts running. Called in the starter's thread, before the execution's own thread runs:
        its place in line for the run slot (`key`, see :meth:`begin`) is the order executions were started in."""
        with self._cv:
            self._busy += 1
            if key is not None:
                self._runnable.append(key)

    def finished(self) -> None:
        """An execution ended: it is no longer busy."""
        with self._cv:
            self._busy -= 1
            self._advance()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Virtual time stands still while the caller (a test, an operator's command) acts on running executions."""
        self.started()
        try:
            yield
        finally:
            self.finished()

    def begin(self, key: str) -> None:
        """The calling thread evaluates the execution `key` (queued by :meth:`started`): it waits for the slot."""
        with self._cv:
            self._local.ident = key
            self._wait_for_slot()

    def end(self) -> None:
        """The calling thread's execution stops evaluating: the next runnable execution may run."""
        with self._cv:
            if self._slot == getattr(self._local, "ident", None):
                self._slot = None
                self._cv.notify_all()

    def _queue_for_slot(self) -> None:
        self._runnable.append(self._local.ident)
        self._wait_for_slot()

    def _wait_for_slot(self) -> None:
        ident = self._local.ident
        while not (self._slot is None and self._runnable and self._runnable[0] == ident):
            if not self._cv.wait(timeout=STALL_SECONDS):
                raise ClockStalledError(
                    f"waited {STALL_SECONDS:.0f} real seconds for the run slot, held by {self._slot} "
                    f"(queue {list(self._runnable)}, {self._busy} busy)"
                )
        self._runnable.popleft()
        self._slot = ident

    def poke(self) -> None:
        """Something a sleeper waits on may have changed (an execution was stopped or timed out)."""
        with self._cv:
            self._cv.notify_all()

    def sleep(self, seconds: float, awake: Callable[[], bool] = lambda: True) -> None:
        """Sleep `seconds` of virtual time; return early once `awake()` is false (the execution was stopped)."""
        with self._cv:
            self._sync()
            ident = next(self._ids)
            heapq.heappush(self._wakeups, (self._elapsed + max(0.0, float(seconds)), ident))
            self._awake[ident] = awake
            self._busy -= 1
            runner = getattr(self._local, "ident", None)
            if runner is not None and self._slot == runner:
                self._slot = None  # asleep: another execution may run
                self._cv.notify_all()
            self._advance()
            stall = self._stall_seconds(seconds)
            while ident not in self._woken and awake():
                if not self._cv.wait(timeout=stall):
                    raise ClockStalledError(
                        f"slept {stall:.0f} real seconds at virtual +{self._elapsed:.1f}s "
                        f"with {self._busy} execution(s) busy"
                    )
            self._awake.pop(ident, None)
            if ident in self._woken:
                self._woken.discard(ident)  # the scheduler already counted this sleeper busy again
            else:
                self._cancelled.add(ident)
                self._busy += 1
            if runner is not None:
                self._queue_for_slot()

    def pass_time(self, seconds: float) -> None:
        """A busy execution lets `seconds` pass (a retry interval): due sleepers and timers fire on the way."""
        with self._cv:
            self._sync()
            target = self._elapsed + max(0.0, float(seconds))
            self._run_due(target)
            self._elapsed = max(self._elapsed, target)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> int:
        """Run `callback` once `seconds` of virtual time have passed (inside the clock: keep it short)."""
        with self._cv:
            self._sync()
            ident = next(self._ids)
            heapq.heappush(self._timers, (self._elapsed + max(0.0, float(seconds)), ident, callback))
            self._advance()
            return ident

    def cancel(self, timer: int) -> None:
        """A timer that must not fire any more (an execution's timeout, once it has ended)."""
        with self._cv:
            self._timers = [t for t in self._timers if t[1] != timer]
            heapq.heapify(self._timers)

    # --- scheduling ----------------------------------------------------------------------------------------

    def _next_due(self) -> float | None:
        while self._wakeups and self._wakeups[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._wakeups)[1])
        candidates = [self._wakeups[0][0]] if self._wakeups else []
        if self._timers:
            candidates.append(self._timers[0][0])
        return min(candidates) if candidates else None

    def _wake(self, ident: int) -> None:
        self._cancelled.add(ident)
        self._awake.pop(ident, None)
        self._woken.add(ident)
        self._busy += 1

    def _fire(self, due: float) -> None:
        """Everything due at `due`: timers first, then the sleepers due, and any a timer stopped."""
        self._elapsed = max(self._elapsed, due)
        while self._timers and self._timers[0][0] <= due:
            _, _, callback = heapq.heappop(self._timers)
            callback()
        for _, ident in list(self._wakeups):
            if ident in self._cancelled:
                continue
            if ident in self._awake and not self._awake[ident]():
                self._wake(ident)  # stopped or timed out by a timer: it runs again now, not at its due time
        while self._wakeups and self._wakeups[0][0] <= due:
            _, ident = heapq.heappop(self._wakeups)
            if ident in self._cancelled:
                self._cancelled.discard(ident)
                continue
            self._wake(ident)
            self._cancelled.discard(ident)
        self._cv.notify_all()

    def _advance(self) -> None:
        """While no execution is busy, jump to the next wake-up or timer."""
        while self._busy <= 0:
            due = self._next_due()
            if due is None:
                return
            self._fire(due)

    def _run_due(self, until: float) -> None:
        while True:
            due = self._next_due()
            if due is None or due > until:
                return
            self._fire(due)


class WallClock(Clock):
    """The same scheduler with time driven by the wall clock: a Wait of N seconds passes in ``N * scale`` real
    seconds, whether or not anything else is busy (for the lab, where payments flow while a machine bakes).

    Executions still take the run slot one at a time. A ticker thread wakes sleepers and fires timers when their
    real time comes; retry intervals (:meth:`pass_time`) are real sleeps. :meth:`close` stops the ticker.
    """

    def __init__(self, scale: float = 1.0, epoch: datetime.datetime | None = None) -> None:
        if not scale > 0:
            raise ValueError(f"scale {scale}: real seconds per virtual second must be more than 0")
        super().__init__(epoch)
        self.scale = scale
        self._started = time.monotonic()
        self._base = 0.0  #: virtual seconds at `_started` (the scale may change, see set_scale)
        self._closed = False
        self._ticker = threading.Thread(target=self._tick, name="wall-clock", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._ticker.join(timeout=5)

    def set_scale(self, scale: float) -> None:
        """From now on a virtual second lasts `scale` real seconds (a sleeper due later wakes on the new scale)."""
        if not scale > 0:
            raise ValueError(f"scale {scale}: real seconds per virtual second must be more than 0")
        with self._cv:
            self._sync()
            self._base, self._started, self.scale = self._elapsed, time.monotonic(), scale
            self._cv.notify_all()

    def _sync(self) -> None:
        self._elapsed = max(self._elapsed, self._base + (time.monotonic() - self._started) / self.scale)

    def _stall_seconds(self, seconds: float) -> float:
        return STALL_SECONDS + max(0.0, float(seconds)) * self.scale

    def _advance(self) -> None:
        """No jumps: whatever is due by now fires; the ticker fires the rest when their time comes."""
        self._sync()
        self._run_due(self._elapsed)
        self._cv.notify_all()

    def pass_time(self, seconds: float) -> None:
        time.sleep(max(0.0, float(seconds)) * self.scale)  # the execution stays busy, as in virtual mode
        with self._cv:
            self._advance()

    def _tick(self) -> None:
        with self._cv:
            while not self._closed:
                self._advance()
                due = self._next_due()
                wait = 1.0 if due is None else min(1.0, max(0.0, (due - self._elapsed) * self.scale))
                self._cv.wait(timeout=wait)
