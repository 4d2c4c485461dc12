"""Scenario runner: a lab, live load, a driver that performs the migration, and the figures.

A run: start the lab -> ``parallel-run`` (forward replication from the beginning, load on) -> the driver's
scenario -> stop the load (writes in flight finish or give up) -> let running replication settle -> check
every acknowledged payment row by row -> print the figures and write ``reports/lab-<scenario>.json``.

The driver is pluggable (:class:`Driver`): :mod:`payments.lab.manual` performs the single-writer sequence
directly on the :class:`~payments.lab.lab.Lab`; a driver that runs the state machines through an adapter
implements the same protocol for the same scenario names.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from payments.lab.checker import CheckResult
from payments.lab.lab import Lab, LabSettings
from payments.lab.load import LoadFigures
from payments.lab.process import LabError
from payments.lab.replication import Direction, State


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    writer: str = "onprem"  #: the database that must be the writer at the end
    #: About the database step only: a quick run moves traffic in one step (100 %) before it.
    database_only: bool = False
    #: A breaking scenario does what the design forbids; it passes when the checker reports the loss.
    catches_loss: bool = False


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("full", "application cutover step by step, database switchover, fallback window, complete",
             writer="aws"),
    Scenario("fallback", "switchover, then the database falls back to on-prem and traffic returns to legacy"),
    Scenario("gate-alarm", "at each traffic step blue fails; the gate sees its error rate; traffic rolls back"),
    Scenario("lag-overrun", "forward replication lags past the write-pause bound: pause lifted, writer unchanged",
             database_only=True),
    Scenario("kill-blue", "a blue instance is killed mid-step"),
    Scenario("replication-stopped", "forward replication fails during the pause: pause lifted, writer unchanged",
             database_only=True),
    Scenario("stop-mid-pause", "the execution stops mid-pause: the safety net lifts it, writer unchanged",
             database_only=True),
    Scenario("late-write", "writes in flight on on-prem outlast the drain and finish after replication stopped; "
             "the old writer is fenced before the drained check", writer="aws", database_only=True),
    Scenario("flip-before-drain", "BREAKING: the writer flips while forward replication still lags",
             writer="aws", database_only=True, catches_loss=True),
    Scenario("no-fence", "BREAKING: the writer flips without fencing on-prem from the app", writer="aws",
             database_only=True, catches_loss=True),
    Scenario("early-lift", "BREAKING: the pause is lifted before reverse replication starts; then a fallback",
             database_only=True, catches_loss=True),
    Scenario("fence-at-flip", "BREAKING: as late-write, but the old writer is fenced only at the flip",
             writer="aws", database_only=True, catches_loss=True),
)}


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise LabError(f"--scenario {name}: unknown. Fix: use one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


@dataclasses.dataclass(frozen=True)
class Timing:
    """The waits of a run. ``quick`` shortens them; the sequence stays the same."""

    steps: tuple[int, ...] = (5, 25, 50, 100)
    bake_seconds: float = 60.0  #: each traffic step, watched by the gate
    hold_seconds: float = 10.0  #: parallel-run, and 0 % on legacy before the switchover
    drain_seconds: float = 1.0  #: requests in flight finish after the pause starts
    max_write_pause_seconds: float = 15.0  #: the pause's bound (maxWritePauseSeconds)
    window_seconds: float = 30.0  #: the fallback window (db-on-aws)
    poll_seconds: float = 0.2
    gate_threshold: float = 0.1  #: error rate over the gate's window that counts as an alarm
    is_quick: bool = False

    def quick(self) -> Timing:
        return dataclasses.replace(self, bake_seconds=2.0, hold_seconds=1.0, drain_seconds=0.5,
                                   max_write_pause_seconds=min(self.max_write_pause_seconds, 10.0), window_seconds=2.0,
                                   is_quick=True)

    def for_scenario(self, chosen: Scenario) -> Timing:
        return dataclasses.replace(self, steps=(100,)) if self.is_quick and chosen.database_only else self


class Driver(Protocol):
    """Performs a scenario on a running lab (load on, forward replication running, 100 % legacy)."""

    name: str

    def supports(self, scenario: Scenario) -> bool: ...

    def run(self, lab: Lab, scenario: Scenario, timing: Timing) -> str:
        """Do it; return the outcome in a few words (e.g. ``completed``, ``rolled back at 25 %``)."""
        ...


@dataclasses.dataclass(frozen=True)
class Figures:
    scenario: str
    driver: str
    outcome: str
    catches_loss: bool
    expected_writer: str
    final_writer: str
    pause_bound_seconds: float  #: maxWritePauseSeconds plus the writer record's TTL (see docs/lab.md)
    check: CheckResult
    load: LoadFigures
    phases: tuple[tuple[str, float], ...]
    startup_seconds: float
    wall_seconds: float
    replication: Mapping[str, Mapping[str, Any]]
    answers: Mapping[str, int]
    events: Sequence[Mapping[str, Any]]
    driver_error: str | None = None
    #: the state-machine executions that drove the run (machine, status, error, states), when machines did
    machine_executions: Sequence[Mapping[str, Any]] = ()

    def problems(self) -> list[str]:
        """Why a scenario that must lose nothing failed (empty: it passed)."""
        out = [self.driver_error] if self.driver_error else []
        if self.check.lost or self.check.duplicated:
            out.append(f"{len(self.check.lost)} lost, {len(self.check.duplicated)} duplicated")
        if self.final_writer != self.expected_writer:
            out.append(f"the writer is {self.final_writer}, expected {self.expected_writer}")
        if self.load.longest_write_pause_seconds > self.pause_bound_seconds:
            out.append(f"a write pause of {self.load.longest_write_pause_seconds:.1f}s exceeds "
                       f"{self.pause_bound_seconds:g}s")
        failed = {"writes failed after retries": self.load.writes_failed_after_retries,
                  "writes rejected": self.load.writes_rejected,
                  "reads failed after retries": self.load.reads_failed_after_retries,
                  "acknowledged payments not found by a read": self.load.reads_not_found}
        out += [f"{count} {what}" for what, count in failed.items() if count]
        return out

    @property
    def passed(self) -> bool:
        if self.catches_loss:
            return self.driver_error is None and bool(self.check.lost or self.check.duplicated)
        return not self.problems()

    def verdict(self) -> str:
        lost, dup = len(self.check.lost), len(self.check.duplicated)
        if self.catches_loss:
            if self.driver_error:
                return f"FAILED: {self.driver_error}"
            return (f"caught: {lost} lost, {dup} duplicated" if self.passed
                    else "NOT CAUGHT: the checker saw no loss where the design was broken")
        return "passed: lost 0, duplicated 0" if self.passed else "FAILED: " + "; ".join(self.problems())

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "driver": self.driver, "outcome": self.outcome, "passed": self.passed,
            "verdict": self.verdict(), "catchesLoss": self.catches_loss, "finalWriter": self.final_writer,
            "expectedWriter": self.expected_writer, "pauseBoundSeconds": self.pause_bound_seconds,
            "driverError": self.driver_error,
            "payments": {**self.check.summary(), "writesFailedAfterRetries": self.load.writes_failed_after_retries,
                         "writesRejected": self.load.writes_rejected, "writeAttempts": self.load.write_attempts},
            "reads": {"total": self.load.reads, "failedAfterRetries": self.load.reads_failed_after_retries,
                      "notFound": self.load.reads_not_found},
            "writePause": {"longestSeconds": self.load.longest_write_pause_seconds,
                           "pausesSeconds": list(self.load.write_pauses_seconds),
                           "pausedAnswers": self.load.pause_answers},
            "phasesSeconds": [{"phase": name, "seconds": seconds} for name, seconds in self.phases],
            "startupSeconds": round(self.startup_seconds, 2), "wallSeconds": round(self.wall_seconds, 2),
            "replication": self.replication, "answers": dict(self.answers),
            "machineExecutions": list(self.machine_executions), "timeline": list(self.events),
        }


def _settle(lab: Lab, timeout: float = 15.0) -> None:
    """Let running replication apply what it has, so the other database can be compared too."""
    deadline = time.monotonic() + timeout
    for direction in Direction:
        while time.monotonic() < deadline:
            status = lab.replication_status(direction)
            if status.state is not State.RUNNING or status.drained:
                break
            time.sleep(0.2)


def run(name: str, driver: Driver, timing: Timing, settings: LabSettings | None = None) -> Figures:
    """One scenario from a fresh lab to its figures (nothing left running afterwards, whatever happens)."""
    chosen = scenario(name)
    if not driver.supports(chosen):
        raise LabError(f"--scenario {name}: the {driver.name} driver does not run it yet")
    settings = settings or LabSettings()
    timing = timing.for_scenario(chosen)
    if settings.write_deadline_seconds <= timing.max_write_pause_seconds + settings.dns_ttl_seconds:
        raise LabError(f"a client gives a write up after {settings.write_deadline_seconds:g}s, within the pause bound "
                       f"({timing.max_write_pause_seconds:g}s) plus the record's TTL: writes would fail by design. "
                       "Fix: raise the deadline or lower maxWritePauseSeconds")
    # The gate looks back over at most one bake: a bake shorter than the alarm's window could not see a failure.
    settings = dataclasses.replace(settings, gate_window_seconds=min(settings.gate_window_seconds, timing.bake_seconds))
    started = time.monotonic()
    with Lab(settings) as lab:
        with lab.phase("parallel-run"):
            lab.replication_start(Direction.FORWARD)  # full load + CDC: the binlog holds every payment
            lab.start_load()
            time.sleep(timing.hold_seconds)
        driver_error = None
        try:
            outcome = driver.run(lab, chosen, timing)
        except Exception as exc:  # the run still settles and is checked: what happened to payments matters most
            driver_error = f"the {driver.name} driver failed: {type(exc).__name__}: {exc}"
            outcome = driver_error
        with lab.phase("settle"):
            load = lab.stop_load()
            _settle(lab)
        result = lab.check()
        replication = {d.value: dataclasses.asdict(lab.replication_status(d)) for d in Direction}
        for status in replication.values():
            status["state"] = status["state"].value
        answers = {f"{pool} {status if status is not None else 'no answer'}{' ' + error if error else ''}": count
                   for (pool, status, error), count in sorted(lab.load.answers.items(), key=str)} if lab.load else {}
        return Figures(
            scenario=name, driver=driver.name, outcome=outcome, catches_loss=chosen.catches_loss,
            expected_writer=chosen.writer, final_writer=lab.writer(),
            pause_bound_seconds=timing.max_write_pause_seconds + settings.dns_ttl_seconds, check=result, load=load,
            phases=tuple((p.name, p.seconds) for p in lab.phases), startup_seconds=lab.startup_seconds,
            wall_seconds=time.monotonic() - started, replication=replication, answers=answers,
            events=[dataclasses.asdict(e) for e in lab.events], driver_error=driver_error,
            machine_executions=tuple(getattr(driver, "executions", ())),
        )


def write_report(figures: Figures, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lab-{figures.scenario}.json"
    path.write_text(json.dumps(figures.to_json(), indent=2) + "\n")
    return path


def table(runs: Sequence[Figures]) -> Table:
    """The figures of one or more runs, one row per scenario."""
    out = Table(title="migration lab: every payment checked row by row, by idempotency key")
    columns: list[tuple[str, Callable[[Figures], object]]] = [
        ("scenario", lambda f: f.scenario),
        ("writer", lambda f: f.final_writer),
        ("acked", lambda f: f.check.acknowledged),
        ("lost", lambda f: len(f.check.lost)),
        ("dup", lambda f: len(f.check.duplicated)),
        ("pause s", lambda f: f"{f.load.longest_write_pause_seconds:.2f}"),
        ("failed reads", lambda f: f.load.reads_failed_after_retries + f.load.reads_not_found),
        ("failed writes", lambda f: f.load.writes_failed_after_retries + f.load.writes_rejected),
        ("wall s", lambda f: f"{f.wall_seconds:.1f}"),
    ]
    for name, _ in columns:
        out.add_column(name, justify="left" if name in ("scenario", "writer") else "right")
    for f in runs:
        out.add_row(*(str(value(f)) for _, value in columns))
    return out


def show(runs: Sequence[Figures], console: Console) -> None:
    """The table (pause: the longest write pause clients saw), then each scenario's outcome, verdict, lab start-up
    and time per phase."""
    console.print(table(runs))
    for f in runs:
        phases = " · ".join(f"{name} {seconds:.1f}s" for name, seconds in f.phases)
        console.print(f"{f.scenario}: {f.outcome}. {f.verdict()}. Start-up {f.startup_seconds:.1f}s; "
                      f"phases: {phases}", soft_wrap=True)


def timing_for(env: str, quick: bool) -> Timing:
    """The environment's migration settings (traffic steps, bake, the write-pause bound when the layer has one),
    shortened with ``quick``."""
    from payments.layers.migration.settings import for_environment

    settings = for_environment(env)
    timing = Timing(steps=tuple(settings.traffic_steps), bake_seconds=float(settings.bake_seconds))
    bound = getattr(settings, "max_write_pause_seconds", None)
    if bound is not None:
        timing = dataclasses.replace(timing, max_write_pause_seconds=float(bound))
    return timing.quick() if quick else timing


def run_all(names: Sequence[str], driver: Driver, timing: Timing, settings: LabSettings, reports: Path,
            console: Console) -> list[Figures]:
    """Run each scenario, print the figures, write a report per scenario; one line naming every failure."""
    runs = []
    for name in names:
        console.print(f"lab: {name} — {scenario(name).summary}")
        figures = run(name, driver, timing, settings)
        console.print(f"lab: {name}: {figures.outcome}; {figures.verdict()} "
                      f"(wrote {write_report(figures, reports).relative_to(reports.parent)})")
        runs.append(figures)
    show(runs, console)
    failed = [f for f in runs if not f.passed]
    if failed:
        raise LabError(f"{len(failed)} of {len(runs)} scenario(s) failed: "
                       + "; ".join(f"{f.scenario}: {f.verdict()}" for f in failed)
                       + f". See {reports.name}/lab-<scenario>.json")
    return runs
