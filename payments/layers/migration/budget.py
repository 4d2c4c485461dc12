"""The event budget: no accepted cutover input can run into Step Functions' history quota.

AWS fails a standard execution whose history reaches 25,000 events ("Maximum execution history size: 25,000
events ... If the execution history reaches this quota the execution will fail", Step Functions service
quotas), and no Catch sees it: traffic would stay wherever it was. So every loop of the cutover is bounded, and
the bounds are derived here from the quota and from what each loop costs in events.

The costs are measured, not guessed: ``tests/test_migration_budget.py`` runs the planned definition in the
emulator, counts the events of each loop, and fails if a constant below no longer matches (change a state, and
the test tells you the new number). The worst case of the largest accepted input is then computed from them and
must stay under :data:`SAFE_EVENTS`.

The bounds are checked in three places: here (config and command line), in the definition itself before it
changes anything (an execution can be started from the console with any input), and by a guardrail.
"""

from __future__ import annotations

import dataclasses

HISTORY_QUOTA = 25_000
#: The largest accepted input may use this much of the quota (the rest absorbs retries of failing calls).
SAFE_EVENTS = 22_500

# --- measured in the emulator (tests/test_migration_budget.py) ---------------------------------------------------

#: A whole cutover with one step, no extra polls, the DMS stage, a scale-down hold, ending in a rollback
#: from the hold: every state that runs once per execution.
EVENTS_FIXED = 244
#: Each further traffic step (set weights, one gate reading, step bookkeeping).
EVENTS_PER_STEP = 34
#: Each further gate reading in a bake or the hold (wait, tick, read, decide).
EVENTS_PER_GATE_POLL = 13
#: Each further poll of the DMS wait.
EVENTS_PER_DMS_POLL = 18
#: Each further poll of the application wait.
EVENTS_PER_APP_POLL = 24

# --- bounds --------------------------------------------------------------------------------------------------

MAX_STEPS = 10
#: bakeSeconds <= MAX_BAKE_POLLS x pollSeconds: the gate is read at most MAX_BAKE_POLLS + 1 times per bake.
MAX_BAKE_POLLS = 64
#: holdSeconds <= MAX_HOLD_POLLS x pollSeconds.
MAX_HOLD_POLLS = 128
MAX_POLL_SECONDS = 900
MAX_BAKE_SECONDS = 6 * 3600
MAX_HOLD_SECONDS = 24 * 3600


@dataclasses.dataclass(frozen=True)
class Loops:
    """How often each loop of one cutover runs (the shape of an input, as far as the history is concerned)."""

    steps: int
    bake_polls: int  #: gate readings after the first, per bake: ceil(bakeSeconds / pollSeconds)
    hold_polls: int  #: likewise for the hold
    dms_polls: int
    app_polls: int


def events(loops: Loops) -> int:
    """Events in the history of a cutover that runs these loops (and then rolls back)."""
    return (
        EVENTS_FIXED
        + (loops.steps - 1) * EVENTS_PER_STEP
        + (loops.steps * loops.bake_polls + loops.hold_polls) * EVENTS_PER_GATE_POLL
        + max(loops.dms_polls - 1, 0) * EVENTS_PER_DMS_POLL
        + max(loops.app_polls - 1, 0) * EVENTS_PER_APP_POLL
    )


def _max_polls() -> int:
    """The largest maxPolls (for the DMS and the application waits) the rest of the worst case leaves room for."""
    rest = events(Loops(MAX_STEPS, MAX_BAKE_POLLS, MAX_HOLD_POLLS, 1, 1))
    per_poll = EVENTS_PER_DMS_POLL + EVENTS_PER_APP_POLL
    return 1 + (SAFE_EVENTS - rest) // per_poll if per_poll else 1


MAX_POLLS = _max_polls()
WORST_CASE = Loops(MAX_STEPS, MAX_BAKE_POLLS, MAX_HOLD_POLLS, MAX_POLLS, MAX_POLLS)


def loops_of(steps: int, bake_seconds: int, hold_seconds: int, poll_seconds: int, max_polls: int) -> Loops:
    """The loops an input can run at most."""
    return Loops(steps, -(-bake_seconds // poll_seconds), -(-hold_seconds // poll_seconds), max_polls, max_polls)


# --- the write pause (database switchover and fallback) -------------------------------------------------------
#
# While writes are paused nothing may wait without bound: every AWS call made then has its own TimeoutSeconds
# and at most one retry, and every wait loop shares one poll counter. The longest pause a definition allows is
# then a sum the settings decide (:class:`PauseBudget`), and the settings are refused when it would pass
# ``maxWritePauseSeconds``.

#: TimeoutSeconds of every Task state that runs while writes are paused.
PAUSE_TASK_TIMEOUT_SECONDS = 3
#: ... retried once, after this many seconds (a throttled call), before its Catch runs.
PAUSE_TASK_RETRY_SECONDS = 1
#: The longest one such Task state can take: two attempts that time out, and the interval between them.
PAUSE_TASK_WORST_SECONDS = 2 * PAUSE_TASK_TIMEOUT_SECONDS + PAUSE_TASK_RETRY_SECONDS
#: The most Task states one path of a writer machine runs while writes are paused, outside its poll loops.
#: Counted on the real definitions by the model check (tests/test_writer_model.py), which fails when a change
#: to the machines makes this too small.
PAUSE_TASKS = 24


@dataclasses.dataclass(frozen=True)
class PauseBudget:
    """How long writes can stay paused: the drain, the poll loops (each poll a Wait and one read), the calls."""

    max_pause_seconds: int
    drain_seconds: int
    poll_seconds: int

    @property
    def polls(self) -> int:
        """Polls the loops inside the pause may make together (drained, stopped, running)."""
        room = self.max_pause_seconds - self.drain_seconds - PAUSE_TASKS * PAUSE_TASK_WORST_SECONDS
        return max(room // (self.poll_seconds + PAUSE_TASK_WORST_SECONDS), 0)

    @property
    def longest_seconds(self) -> int:
        """The longest write pause the definitions allow: never more than ``max_pause_seconds``."""
        return (
            self.drain_seconds
            + self.polls * (self.poll_seconds + PAUSE_TASK_WORST_SECONDS)
            + PAUSE_TASKS * PAUSE_TASK_WORST_SECONDS
        )
