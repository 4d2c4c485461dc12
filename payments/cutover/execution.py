"""Following a Step Functions execution: its timeline, the listener weights, the outcome.

Shared by ``invoke cutover``/``rollback`` (real AWS) and ``invoke rehearse``
(the emulator): both hand in boto3 clients, so what the operator sees in a
rehearsal is what they will see on the day.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

#: What each state means to an operator (states not listed are bookkeeping and not shown).
MEANING = {
    "ReadListener": "preflight: listener 100% on the source pool?",
    "Alone": "preflight: no other cutover or rollback running?",
    "RecordRun": "record this run (for the safety net)",
    "RecordPhase": "phase -> cutover",
    "DescribeDmsTask": "database: DMS task state",
    "StartDmsTask": "database: starting DMS (full load + CDC)",
    "ResumeDmsTask": "database: resuming DMS",
    "DmsInSync": "database: full load done, CDC latency under threshold?",
    "DeployTargetService": "application: deploying the target service",
    "ScaleTargetService": "application: scaling the target service",
    "ServiceStable": "application: requested release primary and rolled out?",
    "ReleaseFailed": "application: the release failed and was rolled back",
    "ReleaseReplaced": "application: the service runs another release",
    "TargetsHealthy": "application: every target healthy?",
    "Preflight": "preflight: gate alarm",
    "SetWeights": "traffic: set weights",
    "Bake": "traffic: bake (gate read every pollSeconds)",
    "GateBreached": "traffic: GATE ALARM",
    "RecordComplete": "phase -> app-on-aws (traffic on AWS, on-prem still the writer)",
    "NotifyComplete": "notice: complete",
    "HoldSource": "hold: source stays warm (gate read every pollSeconds)",
    "GateBreachedInHold": "hold: GATE ALARM",
    "ScaleDownSource": "scale the source down",
    "CutoverComplete": "COMPLETE",
    "Abort": "ABORT: restoring the phase (traffic untouched)",
    "NotifyAbort": "notice: aborted",
    "Rollback": "ROLLBACK",
    "RollbackSourceHealth": "rollback: source pool healthy?",
    "RollbackTargetHealth": "rollback: target pool healthy?",
    "RollbackToSource": "ROLLBACK: 100% to the source pool",
    "RollbackToTarget": "SOURCE DEAD: 100% kept on the target pool",
    "SourceDeadPage": "PAGE: source pool unhealthy",
    "RecordRolledBack": "phase -> rolled-back",
    "NotifyRollback": "notice: rolled back",
    "RollbackFailed": "ROLLBACK FAILED: notice",
    "Trigger": "rollback: why was it started?",
    "ReadRun": "rollback: the last cutover's run record",
    "NothingToDo": "rollback: nothing to put back",
    "StopForRestore": "rollback: stop running cutovers",
    "AlreadyOnSource": "rollback: listener already 100% on the source?",
    "RestoreSourceHealth": "rollback: source pool healthy?",
    "RestoreToSource": "ROLLBACK: 100% to the source pool",
    "RestoreToTarget": "SOURCE DEAD: 100% kept on the target pool",
    "RestoreSourceDeadPage": "PAGE: source pool unhealthy",
    "RecordRestored": "phase -> rolled-back",
    "StopCutovers": "stop running cutovers",
    "SetRollbackWeights": "ROLLBACK: weights to the pool",
    "NotifyRolledBack": "notice: rolled back",
    "PoolHealth": "pool health",
    # the writer machines (switchover, fallback, finish, writer-recovery)
    "ReadWriter": "writer: which database the DB indirection names",
    "DescribeDrainTask": "checks: replication to the new writer running, full load done?",
    "DescribeReturnTask": "checks: the way back exists and is stopped?",
    "CheckLatency": "checks: CDC latency under its threshold?",
    "CheckValidation": "checks: DMS validation clean?",
    "HoldLegacy": "checks: legacy pool at 0 % (watched for holdSeconds)",
    "PauseWrites": "PAUSE: writes answered 503 at the ALB",
    "Drain": "pause: in-flight requests finish",
    "FenceOld0": "pause: fence the old writer (NACL deny)",
    "DrainedRead": "pause: replication drained?",
    "StopDrainTask": "pause: stop replication to the new writer",
    "StoppedRead": "pause: replication stopped?",
    "Flip": "FLIP: the DB indirection names the new writer",
    "UnfenceNew0": "pause: unfence the new writer",
    "StartReturnFirst": "pause: start the way back (CDC from now)",
    "StartReturnAgain": "pause: start the way back (CDC from now)",
    "ReturnRead": "pause: the way back running?",
    "LiftPause": "LIFT: writes flow again",
    "RecordDone": "phase -> the new writer's phase",
    "Revert": "REVERT: before the flip, the old writer stays",
    "RevertLift": "LIFT: writes flow again (writer unchanged)",
    "Undo": "UNDO: flip back before any write",
    "UndoFlip": "FLIP BACK: the DB indirection names the old writer",
    "UndoLift": "LIFT: writes flow again (old writer)",
    "Stuck": "PAGE: writes stay paused, the safety net acts",
    "LiftFailed": "PAGE: the pause could not be lifted",
    "StopReverse": "finish: stop reverse replication",
    "AuroraLift": "recovery: LIFT (Aurora the writer)",
    "OnpremLift": "recovery: LIFT (on-prem the writer)",
}
#: States whose line an operator must not miss.
_LOUD = ("ROLLBACK", "ABORT", "GATE", "DEAD", "PAGE", "PAUSE", "FLIP", "LIFT", "REVERT", "UNDO")
ALERTS = {name for name, text in MEANING.items() if any(w in text for w in _LOUD)}


def state_names(definition: dict[str, Any]) -> set[str]:
    """Every state of a definition, Map iterations included."""
    found: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            found.add(name)
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor["States"])

    walk(definition["States"])
    return found


@dataclasses.dataclass
class Step:
    """One state the execution entered."""

    name: str
    at: datetime
    detail: str = ""

    def label(self) -> str:
        return MEANING.get(self.name, self.name)


@dataclasses.dataclass
class Outcome:
    status: str
    error: str | None
    cause: str | None
    steps: list[Step]
    weights: dict[str, int]
    #: what a SUCCEEDED execution could not finish (bookkeeping after completion): to do by hand
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def events(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's whole history, oldest first."""
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        out.extend(page["events"])
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def _detail(name: str, raw_input: str | None) -> str:
    if name not in ("SetWeights", "Rollback", "SetRollbackWeights"):
        return ""
    try:
        doc = json.loads(raw_input or "{}")
    except json.JSONDecodeError:
        return ""
    weights = (doc.get("traffic") or {}).get("weights") or {}
    pools = doc.get("pools") or {}
    if name == "SetWeights" and weights:
        target, source = pools.get("target", {}).get("name"), pools.get("source", {}).get("name")
        return f"{target} {weights.get('target')}% / {source} {weights.get('source')}%"
    if name == "Rollback" and pools:
        return f"{pools.get('source', {}).get('name')} 100%"
    return ""


def step_of(name: str, at: datetime, raw_input: str | None) -> Step:
    """The step an operator sees for an execution entering state `name` with that input."""
    return Step(name, at, _detail(name, raw_input))


def steps_of(history: list[dict[str, Any]]) -> list[Step]:
    """Every state entered, in order, from an execution's history."""
    return [
        step_of(e["stateEnteredEventDetails"]["name"], e["timestamp"], e["stateEnteredEventDetails"].get("input"))
        for e in history
        if e["type"].endswith("StateEntered")
    ]


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    poll_seconds: float = 2.0,
    on_step: Callable[[Step], None] | None = None,
    on_tick: Callable[[], None] | None = None,
    timeout_seconds: float | None = None,
) -> Iterator[Step]:
    """Yield each state as the execution enters it, until it ends (or `timeout_seconds` pass)."""
    seen = 0
    started = time.monotonic()
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        history = events(sfn, execution_arn)
        for step in steps_of(history[seen:]):
            if on_step:
                on_step(step)
            yield step
        seen = len(history)
        if status in TERMINAL:
            return
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise TimeoutError(f"execution still running after {timeout_seconds:.0f}s: {execution_arn}")
        if on_tick:
            on_tick()
        time.sleep(poll_seconds)


def listener_weights(elbv2: Any, listener_arn: str, pools: Mapping[str, str]) -> dict[str, int]:
    """Current weight per pool (pools: name -> target group ARN); a pool not in the action has 0."""
    listener = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    weights = {name: 0 for name in pools}
    by_arn = {arn: name for name, arn in pools.items()}
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if not groups and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        for group in groups or []:
            name = by_arn.get(group["TargetGroupArn"])
            if name:
                weights[name] = int(group.get("Weight", 1))
    total = sum(weights.values())
    return {k: round(100 * v / total) if total else 0 for k, v in weights.items()}


def outcome(sfn: Any, execution_arn: str, steps: list[Step], weights: dict[str, int]) -> Outcome:
    desc = sfn.describe_execution(executionArn=execution_arn)
    try:
        output = json.loads(desc.get("output") or "{}")
    except json.JSONDecodeError:
        output = {}
    found = output.get("warnings") if isinstance(output, dict) else None
    warnings = [str(w.get("text", w)) if isinstance(w, dict) else str(w) for w in (found or {}).values()]
    return Outcome(desc["status"], desc.get("error"), desc.get("cause"), steps, weights, warnings)


# --- rendering ---------------------------------------------------------------------


def print_step(console: Console, first: datetime | None, step: Step, machine: str | None = None) -> None:
    if step.name not in MEANING:
        return
    offset = (step.at - first).total_seconds() if first else 0.0
    line = Text(f"  +{offset:7.1f}s  ")
    if machine:
        line.append(f"[{machine}] ", style="bold")
    line.append(step.label(), style="bold red" if step.name in ALERTS else "")
    if step.detail:
        line.append(f"  {step.detail}", style="dim")
    console.print(line)


def print_outcome(console: Console, result: Outcome, phase: str | None = None) -> None:
    """The final weights, the status, the cause and any warnings; values are printed as text, never as markup."""
    table = Table(title="final weights", show_header=True, header_style="bold")
    table.add_column("pool")
    table.add_column("weight", justify="right")
    for pool, weight in result.weights.items():
        table.add_row(Text(pool), Text(f"{weight}%"))
    console.print(table)
    status = Text(f"execution {result.status}", style="green" if result.succeeded else "red")
    if result.error:
        status.append(f": {result.error}")
    console.print(status)
    if result.cause:
        console.print(Text(f"  cause: {result.cause}"))
    for warning in result.warnings:
        console.print(Text(f"  warning: {warning}", style="yellow"))
    if phase is not None:
        console.print(Text(f"  migration phase: {phase}"))
