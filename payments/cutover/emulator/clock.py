"""A virtual clock for the emulator: every wait happens, in order, and none of it takes real time.

Step Functions measures Wait states, retry intervals and an execution's ``TimeoutSeconds`` in wall time, and
moto sleeps for real. In the emulator they are measured on this clock instead. It is a small discrete-event
scheduler:

* an execution is *busy* while it runs states, and *asleep* while it waits;
* virtual time moves only when every execution is asleep, and then jumps straight to the earliest wake-up or
  timer, in order.

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

import contextlib
import datetime
import heapq
import itertools
import threading
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

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the session started."""
        with self._cv:
            return self._elapsed

    def now(self) -> datetime.datetime:
        """The virtual wall-clock time (what history events and ``$$.State.EnteredTime`` carry)."""
        with self._cv:
            return self._epoch + datetime.timedelta(seconds=self._elapsed)

    # --- executions ----------------------------------------------------------------------------------------

    def started(self) -> None:
        """An execution starts running. Called in the starter's thread, before the execution's own thread runs."""
        with self._cv:
            self._busy += 1

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

    def poke(self) -> None:
        """Something a sleeper waits on may have changed (an execution was stopped or timed out)."""
        with self._cv:
            self._cv.notify_all()

    def sleep(self, seconds: float, awake: Callable[[], bool] = lambda: True) -> None:
        """Sleep `seconds` of virtual time; return early once `awake()` is false (the execution was stopped)."""
        with self._cv:
            ident = next(self._ids)
            heapq.heappush(self._wakeups, (self._elapsed + max(0.0, float(seconds)), ident))
            self._awake[ident] = awake
            self._busy -= 1
            self._advance()
            while ident not in self._woken and awake():
                if not self._cv.wait(timeout=STALL_SECONDS):
                    raise ClockStalledError(
                        f"slept {STALL_SECONDS:.0f} real seconds at virtual +{self._elapsed:.1f}s "
                        f"with {self._busy} execution(s) busy"
                    )
            self._awake.pop(ident, None)
            if ident in self._woken:
                self._woken.discard(ident)  # the scheduler already counted this sleeper busy again
            else:
                self._cancelled.add(ident)
                self._busy += 1

    def pass_time(self, seconds: float) -> None:
        """A busy execution lets `seconds` pass (a retry interval): due sleepers and timers fire on the way."""
        with self._cv:
            target = self._elapsed + max(0.0, float(seconds))
            self._run_due(target)
            self._elapsed = max(self._elapsed, target)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        """Run `callback` once `seconds` of virtual time have passed (inside the clock: keep it short)."""
        with self._cv:
            heapq.heappush(self._timers, (self._elapsed + max(0.0, float(seconds)), next(self._ids), callback))
            self._advance()

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
