"""The manual driver: the single-writer sequence performed directly on the lab, step by step.

It does what the state machines do (docs/migration.md), so the lab's parts can be proven end to end before
the state-machine driver exists:

- **app cutover**: weights legacy -> blue step by step; each bake watched by the gate (blue's error rate);
  an alarm rolls traffic back to legacy (weights only: on-prem is still the writer);
- **switchover**: pause writes -> let requests in flight drain -> fence on-prem from the app -> wait until
  forward replication has applied everything -> stop it -> flip the writer record, open aws to the app -> start
  reverse replication from the switch point -> lift the pause. Bounded: a failure or an overrun before the flip
  lifts the pause with the writer unchanged. The old writer is fenced *before* the drained check, not at the
  flip as the design first wrote it: a write still in flight after the drain could otherwise commit there after
  the last change was replicated (scenarios late-write and fence-at-flip; docs/lab.md);
- **fallback**: the same backwards (aws fenced, reverse drained and stopped, record back to on-prem, forward
  from the fallback point); **complete**: stop reverse replication.

The breaking scenarios call the same steps with one safeguard removed, to show that the checker notices.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Protocol

from payments.lab.lab import DatabaseName, Lab
from payments.lab.process import LabError
from payments.lab.replication import Direction, State
from payments.lab.scenarios import Scenario, Timing

LAG_FAULT_SECONDS = 3600  #: a lag that never drains within any pause bound
MIN_GATE_SAMPLES = 10  #: answers from the pool before a bake may pass
HELD_WRITES = 5  #: writes in flight when late-write's switchover starts
MAX_BAKE_STRETCH_SECONDS = 10.0


class RefusedError(Exception):
    """A precondition did not hold; nothing was changed."""


class AbortedError(Exception):
    """The switchover or fallback gave up before the flip: pause lifted, writer unchanged."""


class StoppedError(Exception):
    """The execution was stopped from outside (StopExecution) in the middle of a step."""


@dataclasses.dataclass(frozen=True)
class Safeguards:
    """What a switchover must do; a breaking scenario turns one off."""

    wait_drained: bool = True
    fence: bool = True
    #: Fence the old writer right after the drain, *before* the drained check (True), or at the flip, after
    #: replication was stopped (False: the order the design first wrote down; a write still in flight then
    #: can commit on the old writer after the last change was replicated: scenario fence-at-flip).
    fence_first: bool = True
    #: Lift the pause before the way back (the CDC task "from now") starts: writes the new writer takes in between
    #: are never replicated back, and a fallback loses them.
    lift_early: bool = False


def alarming(lab: Lab, timing: Timing, pool: str) -> bool:
    """The gate's verdict (:meth:`Lab.gate_alarm`, at the timing's threshold)."""
    return lab.gate_alarm(pool, timing.gate_threshold)


def bake(lab: Lab, timing: Timing, pool: str) -> bool:
    """Watch the gate for the whole bake; False at the first alarm. A short bake is stretched until the pool
    has answered enough requests to judge (an alarm with no data would be INSUFFICIENT_DATA, not OK)."""
    started = time.monotonic()
    while True:
        if alarming(lab, timing, pool):
            return False
        elapsed = time.monotonic() - started
        if elapsed >= timing.bake_seconds and (lab.gate_samples(pool) >= MIN_GATE_SAMPLES
                                               or elapsed >= timing.bake_seconds + MAX_BAKE_STRETCH_SECONDS):
            return True
        time.sleep(timing.poll_seconds)


def wait_gate_ok(lab: Lab, timing: Timing, pool: str) -> None:
    """Preflight: the gate must be OK before traffic moves (errors of an earlier attempt age out of its window)."""
    deadline = time.monotonic() + lab.settings.gate_window_seconds + MAX_BAKE_STRETCH_SECONDS
    while alarming(lab, timing, pool):
        if time.monotonic() > deadline:
            raise RefusedError(f"the gate is not OK ({pool} error rate {lab.gate_error_rate(pool):.0%})")
        time.sleep(timing.poll_seconds)


def rollback_traffic(lab: Lab) -> None:
    """Everything back to legacy: refused while aws is the writer (legacy writes on-prem)."""
    if lab.writer() != "onprem":
        raise RefusedError("traffic rollback to legacy refused: aws is the writer. Fall the database back first")
    lab.set_weights({"legacy": 100})


def app_cutover(lab: Lab, timing: Timing, on_step: Callable[[int], None] | None = None) -> int | None:
    """Move traffic to blue step by step; the step that alarmed (traffic rolled back), or None when done."""
    wait_gate_ok(lab, timing, "blue")
    with lab.phase("app-cutover"):
        for step in timing.steps:
            lab.set_weights({"legacy": 100 - step, "blue": step})
            if on_step:
                on_step(step)
            if not bake(lab, timing, "blue"):
                rollback_traffic(lab)
                return step
    with lab.phase("app-on-aws"):
        time.sleep(timing.hold_seconds)  # 0 % on legacy for the configured hold
    return None


def _wait_drained(lab: Lab, direction: Direction, until: float, timing: Timing) -> None:
    while True:
        status = lab.replication_status(direction)
        if status.state is not State.RUNNING:
            raise AbortedError(f"{direction.value} replication {status.state.value}: {status.error or 'not running'}")
        if status.drained:
            return
        if time.monotonic() > until:
            raise AbortedError(f"{direction.value} replication did not drain within the pause bound "
                               f"({status.incoming_changes} changes waiting, {status.latency_seconds:.0f}s behind)")
        time.sleep(timing.poll_seconds)


def _move_writer(lab: Lab, timing: Timing, *, old: DatabaseName, new: DatabaseName, safeguards: Safeguards,
                 during_pause: Callable[[], None] | None = None) -> None:
    """The bounded, paused move of the writer from `old` to `new` (switchover or fallback)."""
    drain_dir = Direction.FORWARD if old == "onprem" else Direction.REVERSE
    back_dir = Direction.REVERSE if old == "onprem" else Direction.FORWARD
    if lab.writer() != old:
        raise RefusedError(f"the writer is {lab.writer()}, not {old}")
    if old == "onprem" and lab.weights().get("legacy", 0) > 0:
        raise RefusedError("legacy still has traffic: it writes on-prem, so the writer cannot move")
    status = lab.replication_status(drain_dir)
    if status.state is not State.RUNNING:
        raise RefusedError(f"{drain_dir.value} replication is {status.state.value}: {status.error or 'start it first'}")
    lab.set_write_pause(True)
    bound = time.monotonic() + timing.max_write_pause_seconds
    flipped = fenced = False
    try:
        time.sleep(timing.drain_seconds)
        if during_pause:
            during_pause()  # fault hook
        if safeguards.fence and safeguards.fence_first:
            # From here no application write can reach the old writer (open connections are cut, an uncommitted
            # write rolls back), so "drained" below covers every write it will ever take.
            lab.set_fence(old, True)
            fenced = True
        if safeguards.wait_drained:
            _wait_drained(lab, drain_dir, bound - 0.5, timing)  # leave time to flip and lift within the bound
        lab.replication_stop(drain_dir)
        lab.set_indirection(new)
        flipped = True
        if safeguards.fence and not fenced:
            lab.set_fence(old, True)
        lab.set_fence(new, False)
        if safeguards.lift_early:
            lab.set_write_pause(False)
            _wait_for_writes(lab, new)
        lab.replication_start(back_dir, from_switch_point=True)
    except StoppedError:
        raise  # a stopped execution cleans nothing up itself: that is the safety net's job
    except Exception:
        if not flipped:  # the writer did not move: the app reaches it again and replication resumes
            if fenced:
                lab.set_fence(old, False)
            if lab.replication_status(drain_dir).state is State.STOPPED:
                lab.replication_start(drain_dir)
        lab.set_write_pause(False)  # the bound: a failure before the flip lifts the pause
        raise
    lab.set_write_pause(False)


def _wait_for_writes(lab: Lab, database: DatabaseName, count: int = 5, timeout: float = 15.0) -> None:
    """Until `database` has taken `count` more payments (the writer record's TTL may delay the first)."""
    target = len(lab.databases[database].rows()) + count
    deadline = time.monotonic() + timeout
    while len(lab.databases[database].rows()) < target and time.monotonic() < deadline:
        time.sleep(0.1)


def switchover(lab: Lab, timing: Timing, safeguards: Safeguards = Safeguards(),
               during_pause: Callable[[], None] | None = None) -> None:
    with lab.phase("db-switchover"):
        _move_writer(lab, timing, old="onprem", new="aws", safeguards=safeguards, during_pause=during_pause)


def fallback(lab: Lab, timing: Timing) -> None:
    with lab.phase("db-fallback"):
        _move_writer(lab, timing, old="aws", new="onprem", safeguards=Safeguards())


def complete(lab: Lab) -> None:
    with lab.phase("cutover-complete"):
        lab.replication_stop(Direction.REVERSE)


def window(lab: Lab, timing: Timing) -> None:
    with lab.phase("db-on-aws"):
        time.sleep(timing.window_seconds)


def safety_net(lab: Lab) -> None:
    """What the EventBridge rule does when an execution ends without its own clean-up: lift the pause; if the
    writer did not move, the app reaches it again and forward replication runs again."""
    if lab.write_paused:
        lab.set_write_pause(False)
    if lab.writer() == "onprem":
        if lab.fence_state()["onprem"]:
            lab.set_fence("onprem", False)
        if lab.replication_status(Direction.FORWARD).state is State.STOPPED:
            lab.replication_start(Direction.FORWARD)


# -- scenarios -----------------------------------------------------------------------------------------


class Steps(Protocol):
    """Who performs each step of a scenario: this module (:class:`ManualSteps`) or the planned state machines
    (:class:`payments.lab.machines.MachineSteps`). A scenario's sequence is written once, below."""

    def cut_over(self, lab: Lab, timing: Timing, on_step: Callable[[int], None] | None = None) -> int | None:
        """Traffic legacy -> blue through `timing.steps`, then the app-on-aws hold; the step whose gate alarmed
        (traffic rolled back to legacy), or None."""
        ...

    def roll_back(self, lab: Lab) -> None:
        """An operator's rollback of traffic to legacy; :class:`RefusedError` while aws is the writer."""
        ...

    def switch_over(self, lab: Lab, timing: Timing, safeguards: Safeguards = Safeguards(),
                    during_pause: Callable[[], None] | None = None) -> None:
        """The database switchover; :class:`AbortedError` when it gave up before the flip (writer unchanged).
        `during_pause`: a fault injected once writes are paused and the old writer fenced."""
        ...

    def stop_mid_pause(self, lab: Lab, timing: Timing) -> None:
        """A switchover whose execution is stopped during the pause, and the safety net that cleans up."""
        ...

    def fall_back(self, lab: Lab, timing: Timing) -> None: ...

    def complete(self, lab: Lab) -> None: ...


class ManualSteps:
    """Every step called on the lab directly."""

    def cut_over(self, lab: Lab, timing: Timing, on_step: Callable[[int], None] | None = None) -> int | None:
        return app_cutover(lab, timing, on_step)

    def roll_back(self, lab: Lab) -> None:
        rollback_traffic(lab)

    def switch_over(self, lab: Lab, timing: Timing, safeguards: Safeguards = Safeguards(),
                    during_pause: Callable[[], None] | None = None) -> None:
        switchover(lab, timing, safeguards, during_pause)

    def stop_mid_pause(self, lab: Lab, timing: Timing) -> None:
        def stop() -> None:
            raise StoppedError("StopExecution during the pause")

        try:
            switchover(lab, timing, during_pause=stop)
            raise LabError("the switchover went on after its execution was stopped")
        except StoppedError:
            safety_net(lab)

    def fall_back(self, lab: Lab, timing: Timing) -> None:
        fallback(lab, timing)

    def complete(self, lab: Lab) -> None:
        complete(lab)


def _cut_over(lab: Lab, timing: Timing, steps: Steps, on_step: Callable[[int], None] | None = None) -> None:
    alarmed = steps.cut_over(lab, timing, on_step)
    if alarmed is not None:
        raise LabError(f"the gate alarmed at {alarmed} % with nothing injected (blue error rate "
                       f"{lab.gate_error_rate('blue'):.0%}); the lab is not healthy enough to go on")


def _full(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    steps.switch_over(lab, timing)
    window(lab, timing)
    steps.complete(lab)
    return "completed"


def _fallback(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    steps.switch_over(lab, timing)
    window(lab, timing)
    try:
        steps.roll_back(lab)
        raise LabError("a traffic rollback to legacy was accepted while aws was the writer")
    except RefusedError:
        pass
    steps.fall_back(lab, timing)
    with lab.phase("rollback"):
        steps.roll_back(lab)
        time.sleep(timing.hold_seconds)
    return "fell back, traffic on legacy"


def _gate_alarm(lab: Lab, timing: Timing, steps: Steps) -> str:
    rolled_back = []
    for target in timing.steps:
        def fail_blue(step: int, target: int = target) -> None:
            if step == target:  # blue loses its database: every blue write and read fails
                lab.set_fence("onprem", True)

        alarmed = steps.cut_over(lab, timing, fail_blue)  # the whole schedule: it must end at 100 %
        lab.set_fence("onprem", False)
        time.sleep(lab.settings.gate_window_seconds)  # the failed attempt's errors leave the gate's window
        if alarmed is None:
            raise LabError(f"the gate did not alarm with blue failing at {target} %")
        rolled_back.append(alarmed)
    return f"rolled back at {', '.join(f'{s} %' for s in rolled_back)}"


def _lag_overrun(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    lab.replication_lag(Direction.FORWARD, LAG_FAULT_SECONDS)
    time.sleep(1.0)  # payments now wait to apply
    try:
        steps.switch_over(lab, timing)
        raise LabError("the switchover went ahead although forward replication lagged")
    except AbortedError as exc:
        outcome = f"switchover aborted ({exc}); writer {lab.writer()}"
    lab.replication_lag(Direction.FORWARD, 0)
    return outcome


def _kill_blue(lab: Lab, timing: Timing, steps: Steps) -> str:
    middle = timing.steps[len(timing.steps) // 2]

    def kill(step: int) -> None:
        if step == middle:
            lab.kill_instance("blue")

    alarmed = steps.cut_over(lab, timing, kill)
    if alarmed is not None:
        return f"blue-1 killed at {middle} %: the gate alarmed, rolled back at {alarmed} %"
    steps.switch_over(lab, timing)
    return f"blue-1 killed at {middle} %: cutover and switchover completed on blue-2"


def _replication_stopped(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    try:
        steps.switch_over(lab, timing, during_pause=lambda: lab.replication_fail(Direction.FORWARD))
        raise LabError("the switchover went ahead although forward replication had failed")
    except AbortedError as exc:
        outcome = f"switchover aborted ({exc.args[0].split(':')[0]}); writer {lab.writer()}"
    lab.replication_start(Direction.FORWARD)  # the operator repairs it: resume where it stopped
    return outcome


def _stop_mid_pause(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    steps.stop_mid_pause(lab, timing)
    return f"stopped mid-pause; safety net lifted the pause, writer {lab.writer()}"


def _late_write(safeguards: Safeguards) -> Callable[[Lab, Timing, Steps], str]:
    """Writes in flight on on-prem are held (a lock) through the drain and finish only once forward replication
    has stopped: a write slower than the drain."""
    def run(lab: Lab, timing: Timing, steps: Steps) -> str:
        _cut_over(lab, timing, steps)
        lab.hold_writes("onprem", True)
        deadline = time.monotonic() + 10
        while lab.writes_waiting("onprem") < HELD_WRITES and time.monotonic() < deadline:
            time.sleep(0.05)  # a few payments are in flight, held, before the pause starts
        lab.after("replication_stop", lambda: lab.hold_writes("onprem", False))
        steps.switch_over(lab, timing, safeguards)
        window(lab, timing)
        fenced = "before the drained check" if safeguards.fence_first else "at the flip"
        return f"writes held through the drain, released after the stop; old writer fenced {fenced}"
    return run


def _early_lift(lab: Lab, timing: Timing, steps: Steps) -> str:
    _cut_over(lab, timing, steps)
    steps.switch_over(lab, timing, Safeguards(lift_early=True))
    window(lab, timing)
    steps.fall_back(lab, timing)
    return "pause lifted before reverse replication started; then fell back"


def _breaking(safeguards: Safeguards, lag_first: bool = False) -> Callable[[Lab, Timing, Steps], str]:
    def run(lab: Lab, timing: Timing, steps: Steps) -> str:
        _cut_over(lab, timing, steps)
        if lag_first:
            lab.replication_lag(Direction.FORWARD, LAG_FAULT_SECONDS)
            time.sleep(1.0)
        steps.switch_over(lab, timing, safeguards)
        window(lab, timing)
        return "switched with a safeguard removed"
    return run


#: Each scenario's sequence; who performs each step is the driver's :class:`Steps`.
SCENARIO_STEPS: dict[str, Callable[[Lab, Timing, Steps], str]] = {
    "full": _full,
    "fallback": _fallback,
    "gate-alarm": _gate_alarm,
    "lag-overrun": _lag_overrun,
    "kill-blue": _kill_blue,
    "replication-stopped": _replication_stopped,
    "stop-mid-pause": _stop_mid_pause,
    "flip-before-drain": _breaking(Safeguards(wait_drained=False), lag_first=True),
    "no-fence": _breaking(Safeguards(fence=False)),
    "early-lift": _early_lift,
    "late-write": _late_write(Safeguards()),
    "fence-at-flip": _late_write(Safeguards(fence_first=False)),
}


class ManualDriver:
    """Runs every scenario of :data:`~payments.lab.scenarios.SCENARIOS` by calling the lab directly."""

    name = "manual"

    def supports(self, scenario: Scenario) -> bool:
        return scenario.name in SCENARIO_STEPS

    def run(self, lab: Lab, scenario: Scenario, timing: Timing) -> str:
        return SCENARIO_STEPS[scenario.name](lab, timing, ManualSteps())
