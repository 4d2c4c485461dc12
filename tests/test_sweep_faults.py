"""Fault sweep (issue 7): a fault in every layer of a deploy, interrupted deploys, and a fault at every state of
the planned cutover state machine.

Orchestration (stand-in CLI, tests/fake_pulumi): a failure injected in each layer in turn skips exactly its
dependents, completes every independent layer, leaves correct deploy records, and a re-run runs only the failed
and skipped layers. An interrupted run — the stand-in SIGKILLed mid-layer, or the orchestrator process (and its
children) SIGKILLed mid-deploy — leaves only whole, readable records, and the next run recovers.

Cutover (moto, tests' adapter in payments.cutover.emulator): the states are enumerated from the definition the
offline plan produces (dev, with DMS on, whose states are a superset of every environment's). For each state the
execution is driven there along a route (the happy path, or an input/condition that leads there) and a fault is
injected at that state: a Task's own API call fails on every attempt; any other state has the gate alarm go to
ALARM as the execution enters it. Every run must end with traffic on the source pool (rolled back, or aborted /
refused with the listener never touched) — or, for faults after ``RecordComplete``, with the cutover already
complete on the target; when the rollback itself cannot move traffic, the rollback state machine
(``invoke rollback``) must bring it back. Set ``SWEEP_REPORT=<file>`` to get one JSON line per state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from rich.console import Console

import payments.plan.engine as engine
from payments.core.errors import UserError
from payments.core.graph import LAYERS, dependents
from payments.cutover import emulator, execution, rehearsal
from payments.ops import commands, records
from tests import support
from tests.fake_pulumi import CLI, REPO, Sandbox
from tests.test_migration_plan import DMS_ON

QUIET = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115 - lives for the session


# ======================================================================================================
# Orchestration
# ======================================================================================================


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


def deploy(box: Sandbox, **kw: Any) -> Any:
    return commands.deploy("dev", box.root, kw.pop("layers", None), console=QUIET, commit="c0ffee",
                           package_dir=box.package_dir, plan_check=False, **kw)


def last_report(box: Sandbox) -> dict[str, Any]:
    return json.loads(sorted((box.root / records.REPORTS_DIR).glob("up-dev-*.json"))[-1].read_text())


def assert_records_whole(root: Path) -> list[records.DeployRecord]:
    """Every record file is complete JSON that names its own folder; temporary files are never read as records."""
    store = records.RecordStore(root)
    files = sorted(store.dir.rglob("*.json")) if store.dir.is_dir() else []
    found = []
    for path in files:
        data = json.loads(path.read_text())  # a torn file would fail here
        rec = records.DeployRecord.from_dict(data)
        assert set(data) == {f.name for f in dataclasses.fields(records.DeployRecord)}, path
        assert (rec.env, rec.layer) == (path.parent.parent.name, path.parent.name), path
        assert rec.action in ("up", "destroy") and rec.outcome in ("succeeded", "unchanged", "failed", "skipped")
        assert rec.started <= rec.finished, path
        found.append(rec)
    history = [r for layer in LAYERS for r in store.history("dev", layer)]
    assert len(history) == len(found)  # nothing else under the folder is taken for a record
    return found


def assert_stack_states_whole(box: Sandbox) -> None:
    for path in (box.root / ".pulumi-state").rglob("*.json"):
        json.loads(path.read_text())


def assert_resumes(box: Sandbox, expected: set[str]) -> Any:
    """A clean re-run deploys exactly `expected` (as retries/first deploys) and leaves the rest unchanged."""
    box.fail()
    box.sleep()
    before = len(box.commands("up"))
    report = deploy(box)
    assert {c["layer"] for c in box.commands("up")[before:]} == expected
    for r in report.layers:
        assert r.outcome == ("succeeded" if r.layer in expected else "unchanged"), (r.layer, r.outcome, r.reason)
    store = records.RecordStore(box.root)
    for layer in LAYERS:  # every layer now has a baseline matching what was just deployed
        base = store.baseline("dev", layer)
        assert base is not None and base.inputs_hash == report.result(layer).inputs_hash, layer
    assert_records_whole(box.root)
    return report


@pytest.mark.parametrize("failing", list(LAYERS))
def test_a_failure_in_each_layer_skips_its_dependents_completes_the_rest_and_resumes(box: Sandbox,
                                                                                     failing: str) -> None:
    box.fail(failing)
    with pytest.raises(UserError) as err:
        deploy(box)
    blocked = dependents(failing)
    independent = set(LAYERS) - blocked - {failing}
    message = str(err.value)
    assert "\n" not in message and f"failed: {failing}" in message
    assert all(layer in message for layer in blocked)

    report = last_report(box)
    outcome = {r["layer"]: r for r in report["layers"]}
    assert outcome[failing]["outcome"] == "failed" and "update failed" in outcome[failing]["reason"]
    for layer in blocked:
        assert outcome[layer]["outcome"] == "skipped"
        assert outcome[layer]["reason"] == f"not run: upstream '{failing}' failed"
    for layer in independent:
        assert outcome[layer]["outcome"] == "succeeded", outcome[layer]
    assert {c["layer"] for c in box.commands("up")} == independent | {failing}  # a skipped layer never ran

    store = records.RecordStore(box.root)
    for layer in LAYERS:
        rec = store.latest("dev", layer)
        assert rec is not None and rec.run_id == report["run_id"] and rec.outcome == outcome[layer]["outcome"]
        assert rec.commit == "c0ffee"
        if layer in independent:
            assert rec.deployed and rec.inputs_hash and rec.outputs_hash and rec.deployed_at == rec.finished
        else:  # a failed or skipped layer has no baseline: the next run must try it again
            assert store.baseline("dev", layer) is None
    assert store.latest("dev", failing).inputs_hash  # what was attempted is recorded
    assert_records_whole(box.root)

    again = assert_resumes(box, blocked | {failing})
    assert again.result(failing).changed == ["retry after failure"]
    for layer in blocked:  # never attempted before, so this is their first deploy
        assert again.result(layer).changed == ["first deploy"]


def _standin_pids(layer_dir: Path, parent: int) -> list[int]:
    """Stand-in `pulumi up` processes running in `layer_dir` whose parent is `parent` (only ours)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], int(fields[1])
        if (str(CLI).encode() in argv and b"up" in argv and cwd == os.path.realpath(layer_dir) and ppid == parent
                and state != "Z"):
            found.append(int(proc.name))
    return found


def _wait_for_standin(layer_dir: Path, parent: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _standin_pids(layer_dir, parent)
        if pids:
            return pids[0]
        time.sleep(0.02)
    raise AssertionError(f"no stand-in `pulumi up` started in {layer_dir}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_stand_in_killed_mid_layer_fails_that_layer_cleanly_and_the_next_run_recovers(box: Sandbox,
                                                                                          layer: str) -> None:
    box.sleep(**{layer: 60})
    killed: list[int] = []

    def kill() -> None:
        pid = _wait_for_standin(box.root / layer, os.getpid())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    started = time.monotonic()
    with pytest.raises(UserError, match=f"failed: {layer}"):
        deploy(box)
    killer.join(5)
    assert killed and time.monotonic() - started < 30  # the orchestrator noticed the death, it did not wait
    report = last_report(box)
    outcome = {r["layer"]: r for r in report["layers"]}
    assert outcome[layer]["outcome"] == "failed" and "exit code -9" in outcome[layer]["reason"]
    assert all(outcome[d]["outcome"] == "skipped" for d in dependents(layer))
    store = records.RecordStore(box.root)
    assert store.latest("dev", layer).outcome == "failed" and store.baseline("dev", layer) is None
    assert_records_whole(box.root)
    assert_stack_states_whole(box)
    assert_resumes(box, dependents(layer) | {layer})


ORCHESTRATOR = """
import sys
from pathlib import Path
from rich.console import Console
from payments.ops import commands
root, package_dir = Path(sys.argv[1]), Path(sys.argv[2])
commands.deploy("dev", root, console=Console(file=open("/dev/null", "w")), commit="c0ffee",
                package_dir=package_dir, plan_check=False)
"""


def _start_orchestrator(box: Sandbox) -> subprocess.Popen[bytes]:
    # Its own session: killing the group is what a cancelled CI job or a lost terminal does.
    return subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(box.root), str(box.package_dir)], cwd=REPO,
                            env=dict(os.environ), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _records_of_run(box: Sandbox) -> dict[str, records.DeployRecord]:
    return {r.layer: r for r in assert_records_whole(box.root)}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_orchestrator_killed_mid_deploy_leaves_whole_records_and_the_next_run_recovers(box: Sandbox,
                                                                                          layer: str) -> None:
    box.sleep(**{layer: 60})
    orchestrator = _start_orchestrator(box)
    try:
        standin = _wait_for_standin(box.root / layer, orchestrator.pid)
    finally:
        os.killpg(orchestrator.pid, signal.SIGKILL)  # orchestrator and the stand-in it runs, mid-layer
        orchestrator.wait(30)
    assert orchestrator.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _alive(standin):
        assert time.monotonic() < deadline, "the stand-in outlived the group kill"
        time.sleep(0.05)

    finished = _records_of_run(box)  # what the killed run managed to record: whole records only
    assert layer not in finished  # no record claims the interrupted layer either way
    assert not any(d in finished for d in dependents(layer))
    assert all(r.outcome == "succeeded" for r in finished.values())
    assert not list((box.root / records.REPORTS_DIR).glob("up-dev-*.json"))  # no report of a run that never ended
    assert_stack_states_whole(box)
    (status,) = commands.status("dev", box.root, console=QUIET)  # status still reads everything
    assert {ls.layer for ls in status.layers if ls.deploy is not None} == set(finished)
    assert_resumes(box, set(LAYERS) - set(finished))


def test_an_update_that_outlives_its_killed_orchestrator_is_redeployed_not_trusted(box: Sandbox) -> None:
    """Only the orchestrator dies; the stand-in finishes its update, but no record says so: the next run
    deploys that layer again rather than assuming it is done."""
    box.sleep(data=1.5)
    orchestrator = _start_orchestrator(box)
    standin = _wait_for_standin(box.root / "data", orchestrator.pid)
    os.kill(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait(30)
    deadline = time.monotonic() + 30
    while _alive(standin):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    data_up = [c for c in box.commands("up") if c["layer"] == "data"]
    assert data_up and data_up[-1]["rc"] == 0  # the orphaned update did complete
    assert box.state("data")["outputs"]
    finished = _records_of_run(box)
    assert "data" not in finished
    report = assert_resumes(box, set(LAYERS) - set(finished))
    assert report.result("data").changed == ["first deploy"]


# ======================================================================================================
# Cutover
# ======================================================================================================

PLAN_LAYERS = ["edge", "app", "observability", "migration"]


def planned(env: str, dms: bool) -> rehearsal.Planned:
    """What `invoke rehearse` takes from the offline plan, through the tests' plan cache."""
    overrides = DMS_ON if dms else None
    with mock.patch.object(
        engine, "plan_environment", lambda env_, layers, overrides=None: support.plan(env_, layers, overrides)
    ):
        return rehearsal.from_plan(env, overrides=overrides)


def state_types(definition: dict[str, Any]) -> dict[str, str]:
    """Every state, Map iterations included: name -> type (names are unique across the document)."""
    out: dict[str, str] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            assert name not in out, f"state name {name} is used twice"
            out[name] = state["Type"]
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(definition["States"])
    return out


PLANNED = planned("dev", dms=True)
STATES = state_types(json.loads(PLANNED.cutover_definition))
SOURCE, TARGET = PLANNED.defaults["sourcePool"], PLANNED.defaults["targetPool"]
#: Waits through the execution input (never the definition): the shortest bake the gate allows, read twice a
#: bake; two polls before a bounded wait gives up. The clock is virtual: these cost no real time.
WINDOW = PLANNED.targets.gate_window_seconds
FAST = {"bakeSeconds": WINDOW, "pollSeconds": WINDOW // 2, "holdSeconds": WINDOW // 2, "maxPolls": 2}


@dataclasses.dataclass(frozen=True)
class Route:
    """How an execution reaches states off the happy path (itself a fault or an input the sweep reports)."""

    name: str
    does: str
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    start: dict[str, int] | None = None  #: listener weights before the run (default: the planned ones)
    api_faults: tuple[str, ...] = ()
    alarm_at: str | None = None  #: the gate goes to ALARM as the execution enters this state
    prepare: Callable[[rehearsal.StandIns], None] | None = None
    #: another execution of this machine ("cutover" or "rollback") runs when this one reaches Alone
    beside: str | None = None
    reaches: tuple[str, ...] = ()  #: the states this route is used for (verified: each must be entered)

    @property
    def source(self) -> str:
        return str(self.payload.get("sourcePool", SOURCE))

    @property
    def target(self) -> str:
        return str(self.payload.get("targetPool", TARGET))


def _dms_task(standins: rehearsal.StandIns) -> Any:
    from moto.dms.models import dms_backends

    return dms_backends[emulator.ACCOUNT_ID][standins.region].replication_tasks[standins.targets.dms_task_arn]


def _service(standins: rehearsal.StandIns, pool: str = TARGET) -> Any:
    from moto.ecs.models import ecs_backends

    key = f"{standins.targets.cluster_name}:{standins.targets.service_names[pool]}"
    return ecs_backends[emulator.ACCOUNT_ID][standins.region].services[key]


def _dms_stopped(standins: rehearsal.StandIns) -> None:
    _dms_task(standins).status = "stopped"


def _dms_failed(standins: rehearsal.StandIns) -> None:
    _dms_task(standins).status = "failed"


def _dms_lagging(standins: rehearsal.StandIns) -> None:
    standins.set_dms_latency("ALARM")


def _stuck_deployment(standins: rehearsal.StandIns) -> None:
    """A rollout that never settles: a second, still-active deployment beside the primary."""
    service = _service(standins)
    original = service.deployments[0]

    def stuck(entered: emulator.Entered) -> None:
        service.deployments[1:] = [{**original, "id": "ecs-svc/stuck", "status": "ACTIVE"}]

    standins.session.control.when_entered("StartAppWait", stuck)


def _release_failed(standins: rehearsal.StandIns) -> None:
    """The circuit breaker is rolling the release back: the new deployment FAILED, the old one PRIMARY again."""
    service = _service(standins)

    def failing(entered: emulator.Entered) -> None:
        primary = dict(service.deployments[0])
        service.deployments[:] = [
            {**primary, "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/payments-app:1"},
            {**primary, "status": "ACTIVE", "rolloutState": "FAILED"},
        ]

    standins.session.control.when_entered("StartAppWait", failing)


def _release_rolled_back(standins: rehearsal.StandIns) -> None:
    """The circuit breaker has rolled the release back: one COMPLETED deployment of the previous release."""
    standins.session.ecs.fail_rollout(standins.targets.service_names[TARGET])
    service = _service(standins)
    service.task_definition = "arn:aws:ecs:us-east-1:123456789012:task-definition/payments-app:0"


def _service_missing(standins: rehearsal.StandIns) -> None:
    from moto.ecs.models import ecs_backends

    key = f"{standins.targets.cluster_name}:{standins.targets.service_names[TARGET]}"
    ecs_backends[emulator.ACCOUNT_ID][standins.region].services.pop(key)


def _target_dead(standins: rehearsal.StandIns) -> None:
    standins.pool_dies(TARGET)


def _source_dead_at_first_step(standins: rehearsal.StandIns) -> None:
    standins.session.control.when_entered("BakeGate", lambda entered: standins.pool_dies(SOURCE))


def _both_dead_at_first_step(standins: rehearsal.StandIns) -> None:
    def die(entered: emulator.Entered) -> None:
        standins.pool_dies(SOURCE)
        standins.pool_dies(TARGET)

    standins.session.control.when_entered("BakeGate", die)


def _database_on_aws(standins: rehearsal.StandIns) -> None:
    standins.client("ssm").put_parameter(Name=standins.targets.phase_parameter_name, Value="db-on-aws", Overwrite=True)


def _gate_alarm(standins: rehearsal.StandIns) -> None:
    standins.set_gate("ALARM", "fault sweep: gate in ALARM before the start")


def _history_overflow(standins: rehearsal.StandIns) -> None:
    """AWS's 25,000-event quota, reached in the second bake: the quota is set where that happens in this run.

    The definition refuses every input that could reach 25,000 (tests/test_migration_budget.py proves it); this
    route shows what happens if an execution reached it anyway: FAILED, no Catch, the safety net takes over.
    """
    standins.session.control.when_entered(
        "StepDone", lambda entered: setattr(standins.session.control, "history_quota", entered.events + 20)
    )


BLUE_TO_GREEN = {"sourcePool": "blue", "targetPool": "green", "scaleDownSource": True, "holdSeconds": WINDOW}
FROM_BLUE = {"legacy": 0, "blue": 100, "green": 0}
ROUTES = [
    Route("happy", "nothing (the configured cutover)"),
    Route(
        "no-task-definition",
        "input taskDefinition null",
        {"taskDefinition": None},
        reaches=("ReadTargetService", "TargetServiceFound", "ExpectCurrent", "ScaleTargetService"),
    ),
    Route(
        "target-service-missing",
        "no task definition given and the target service is gone",
        {"taskDefinition": None},
        prepare=_service_missing,
        reaches=("TargetServiceMissing",),
    ),
    Route("legacy-to-green", "input targetPool green", {"targetPool": "green"}, reaches=("PoolsLegacyToGreen",)),
    Route(
        "database-on-aws",
        "the phase says Aurora is the writer: legacy must get no traffic",
        prepare=_database_on_aws,
        reaches=("DatabaseOnAws",),
    ),
    Route(
        "green-to-blue",
        "input green -> blue",
        {"sourcePool": "green", "targetPool": "blue"},
        start={"legacy": 0, "blue": 0, "green": 100},
        reaches=("PoolsGreenToBlue",),
    ),
    Route(
        "blue-to-green-scale-down",
        "input blue -> green with scaleDownSource",
        BLUE_TO_GREEN,
        start=FROM_BLUE,
        reaches=(
            "PoolsBlueToGreen",
            "HoldSource",
            "HoldSourceGate",
            "HoldSourceGateOk",
            "HoldSourceElapsed",
            "HoldSourceWait",
            "HoldSourceTick",
            "ScaleDownSource",
        ),
    ),
    Route(
        "gate-alarm-in-hold",
        "gate ALARM while the source is held",
        BLUE_TO_GREEN,
        start=FROM_BLUE,
        alarm_at="HoldSourceTick",
        reaches=("GateBreachedInHold", "GateBreachedInHoldRead", "GateBreachedInHoldError"),
    ),
    Route(
        "hold-gate-unreadable",
        "the gate cannot be read in the hold",
        BLUE_TO_GREEN,
        start=FROM_BLUE,
        api_faults=("HoldSourceGate",),
        reaches=("HoldGateUnreadable",),
    ),
    Route(
        "scale-down-fails",
        "ecs:updateService of the source fails",
        BLUE_TO_GREEN,
        start=FROM_BLUE,
        api_faults=("ScaleDownSource",),
        reaches=("ScaleDownFailed",),
    ),
    Route(
        "phase-not-recorded",
        "ssm:putParameter of the completion fails",
        api_faults=("RecordComplete",),
        reaches=("PhaseNotRecorded",),
    ),
    Route("dms-stopped", "DMS task stopped before the start", prepare=_dms_stopped, reaches=("ResumeDmsTask",)),
    Route("dms-task-failed", "DMS task in state failed", prepare=_dms_failed, reaches=("DmsTaskUnusable",)),
    Route(
        "dms-not-in-sync",
        "CDC latency alarm in ALARM",
        prepare=_dms_lagging,
        reaches=(
            "CountDmsPoll",
            "DmsWaitBounded",
            "DmsNotInSync",
            "Abort",
            "AbortPhase",
            "NotifyAbort",
            "AbortReason",
            "Aborted",
        ),
    ),
    Route("service-never-stable", "target service stuck with two deployments", prepare=_stuck_deployment),
    Route(
        "release-failed",
        "the new deployment FAILED (circuit breaker rolling back)",
        prepare=_release_failed,
        reaches=("ReleaseFailed",),
    ),
    Route(
        "release-rolled-back",
        "the circuit breaker rolled the release back",
        prepare=_release_rolled_back,
        reaches=("ReleaseReplaced",),
    ),
    Route(
        "target-unhealthy",
        "target pool without healthy targets",
        prepare=_target_dead,
        reaches=("CountAppPoll", "AppWaitBounded", "TargetNotReady"),
    ),
    Route(
        "gate-alarm-before-traffic",
        "gate ALARM before the start",
        prepare=_gate_alarm,
        reaches=("GateNotOkBeforeTraffic",),
    ),
    Route(
        "gate-alarm-at-first-step",
        "gate ALARM once the first weights are set",
        alarm_at="BakeGate",
        reaches=(
            "GateBreached",
            "GateBreachedRead",
            "GateBreachedError",
            "Rollback",
            "RollbackSourceHealth",
            "RollbackSourceHealthRead",
            "RollbackSourceHealthOk",
            "RollbackToSource",
            "RecordRolledBack",
            "NotifyRollback",
            "RollbackReason",
            "RolledBack",
        ),
    ),
    Route(
        "rollback-fails",
        "gate ALARM at the first step, then modifyListener of the rollback fails",
        alarm_at="BakeGate",
        api_faults=("RollbackToSource",),
        reaches=("RollbackFailed", "RollbackFailedFail"),
    ),
    Route(
        "source-dead",
        "gate ALARM at the first step while the source pool has no healthy target",
        alarm_at="BakeGate",
        prepare=_source_dead_at_first_step,
        reaches=(
            "RollbackTargetHealth",
            "RollbackTargetHealthRead",
            "RollbackTargetHealthOk",
            "RollbackToTarget",
            "SourceDeadRecord",
            "SourceDeadPage",
            "SourceDeadFail",
        ),
    ),
    Route(
        "both-dead",
        "gate ALARM at the first step while neither pool has a healthy target",
        alarm_at="BakeGate",
        prepare=_both_dead_at_first_step,
    ),
    Route("history-overflow", "the execution history quota is reached in the second bake", prepare=_history_overflow),
    Route("phase-unreadable", "ssm:getParameter fails", api_faults=("ReadPhase",), reaches=("PhaseUnreadable",)),
    Route(
        "run-unrecorded",
        "ssm:putParameter of the run record fails",
        api_faults=("RecordRun",),
        reaches=("RunUnrecorded",),
    ),
    Route(
        "listener-unreadable",
        "elbv2:describeListeners fails",
        api_faults=("ReadListener",),
        reaches=("ListenerUnreadable",),
    ),
    Route(
        "listener-split",
        "listener left at 90/10 (an execution stopped half way)",
        start={"legacy": 90, "blue": 10, "green": 0},
        reaches=("TrafficNotOnSource", "ListenerNotOnSource"),
    ),
    Route(
        "another-cutover",
        "a second cutover is started while this one runs",
        beside="cutover",
        reaches=("AnotherExecution",),
    ),
    Route("rollback-running", "a cutover is started while a rollback runs", beside="rollback"),
    Route("bad-wait", "input bakeSeconds -1", {"bakeSeconds": -1}, reaches=("WaitsInvalid", "InvalidWaits")),
    Route("fractional-wait", "input bakeSeconds 250.5", {"bakeSeconds": 250.5}),
    Route(
        "over-budget",
        "input bakeSeconds 65 x pollSeconds",
        {"bakeSeconds": 65 * 60, "pollSeconds": 60},
        reaches=("WaitsOverBudget",),
    ),
    Route("invalid-pools", "input sourcePool purple", {"sourcePool": "purple"}, reaches=("InvalidPools",)),
    Route("empty-schedule", "input steps []", {"steps": []}, reaches=("EmptySchedule",)),
    Route("too-many-steps", "input 11 steps", {"steps": [*range(1, 11), 100]}, reaches=("TooManySteps",)),
    Route("bad-step", "input steps 50,10,100", {"steps": [50, 10, 100]}, reaches=("BadStep",)),
    Route("schedule-not-complete", "input steps 10,50", {"steps": [10, 50]}, reaches=("ScheduleNotComplete",)),
    Route(
        "bad-task-definition",
        "input taskDefinition payments-app:7",
        {"taskDefinition": "payments-app:7"},
        reaches=("BadTaskDefinition",),
    ),
]
HAPPY = ROUTES[0]


def route_for(state: str) -> Route:
    owners = [r for r in ROUTES if state in r.reaches]
    assert len(owners) <= 1, f"{state} is claimed by {[r.name for r in owners]}"
    return owners[0] if owners else HAPPY


# --- one emulator per worker, reset between runs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def installed() -> Iterator[rehearsal.StandIns]:
    """The planned machines, rules and stand-ins, installed once per worker; each run resets them."""
    with emulator.emulator() as session:
        yield rehearsal.install(session, PLANNED)


@dataclasses.dataclass
class Run:
    route: Route
    result: execution.Outcome
    visited: list[str]  #: states the cutover entered
    rollback_states: list[str]  #: states the rollback machine entered (the safety net)
    phase: str
    notices: list[str]
    start: dict[str, int]
    start_phase: str
    fired: list[str]
    standins: rehearsal.StandIns
    beside: execution.Outcome | None


def run_route(
    standins: rehearsal.StandIns,
    route: Route,
    *,
    api: tuple[str, ...] = (),
    alarm_at: str | None = None,
    stop_at: str | None = None,
    transient: dict[str, int] | None = None,
) -> Run:
    standins.reset()
    session, control = standins.session, standins.session.control
    for state, times in (transient or {}).items():
        control.fail(state, times)
    if route.start:
        standins.set_weights(route.start)
    if route.prepare:
        route.prepare(standins)
    for state in (*route.api_faults, *api):
        control.fail(state)
    for state in {route.alarm_at, alarm_at} - {None}:
        control.when_entered(
            state,
            lambda entered: standins.set_gate(
                "ALARM", f"fault sweep: alarm at {entered.state}", PLANNED.targets.gate_members[0]
            ),
        )
    if stop_at:
        control.stop_at(stop_at, cause="fault sweep: stopped by a person")
    sfn = standins.client("stepfunctions")
    beside: list[str] = []
    if route.beside:
        other = (
            {**FAST, "taskDefinition": standins.task_definition_arn, "bakeSeconds": 10 * WINDOW}
            if route.beside == "cutover"
            else {"pool": SOURCE}
        )
        control.when_entered(
            "Alone",
            lambda entered: beside.append(
                sfn.start_execution(
                    stateMachineArn=standins.machine_arns[route.beside],
                    name=f"beside-{uuid.uuid4().hex[:8]}",
                    input=json.dumps(other),
                )["executionArn"]
            ),
        )
    machine_of = {arn.rsplit(":", 1)[1]: role for role, arn in standins.machine_arns.items()}
    visited: dict[str, list[str]] = {"cutover": [], "rollback": []}
    control.every_state(
        lambda entered: (
            visited[machine_of[entered.execution_arn.split(":")[-2]]].append(entered.state)
            if not entered.execution_arn.split(":")[-1].startswith("beside")
            else None
        )
    )
    start, start_phase = standins.weights(), standins.phase()
    payload = {**FAST, "taskDefinition": standins.task_definition_arn, **route.payload}
    arn = sfn.start_execution(
        stateMachineArn=standins.machine_arns["cutover"],
        name=f"sweep-{uuid.uuid4().hex[:12]}",
        input=json.dumps(payload),
    )["executionArn"]
    session.wait(arn)
    session.settle()
    weights = standins.weights()
    result = execution.outcome(sfn, arn, [], weights)
    other = execution.outcome(sfn, beside[0], [], weights) if beside else None
    return Run(
        route,
        result,
        visited["cutover"],
        visited["rollback"],
        standins.phase(),
        [n["subject"] for n in standins.notices()],
        start,
        start_phase,
        list(control.fired),
        standins,
        other,
    )


def forced_rollback(standins: rehearsal.StandIns, pool: str) -> execution.Outcome:
    """What `invoke rollback --pool <pool> --force` runs: the planned rollback state machine."""
    return rehearsal.run(standins, standins.machine_arns["rollback"], {"pool": pool, "force": True})


def only(pool: str) -> dict[str, int]:
    return {p: (100 if p == pool else 0) for p in PLANNED.targets.target_group_arns}


#: Endings that changed nothing: refused before, or aborted before any traffic moved.
UNTOUCHED = (
    "CutoverAborted",
    "InvalidInput",
    "PhaseUnreadable",
    "ListenerUnreadable",
    "ListenerNotOnSource",
    "AnotherExecutionRunning",
    "RunUnrecorded",
    "DatabaseOnAws",
)


def judge(run: Run, fault: str | None) -> str:
    """Check the safety invariants of one run and name its outcome (raises when traffic is left unsafe).

    Whatever happened (an error, a person's stop, the history quota), once the cutover and whatever its end set
    off (the safety net) are over, traffic is 100 % on one healthy pool and never split, the phase says what
    happened, and a notice told on-call.
    """
    result, route = run.result, run.route
    env = PLANNED.targets.environment
    moved = "SetWeights" in run.visited
    # Complete once recorded: a stop before the completion is written (even after the last bake) rolls back.
    completed = result.status == "SUCCEEDED" or run.phase == "app-on-aws"
    assert result.status in execution.TERMINAL, result.status
    if result.weights != run.start:  # a split left as it was found (refused, untouched) is the operator's
        assert sum(w > 0 for w in result.weights.values()) == 1, f"traffic left split: {result.weights}"
    if result.error == "AnotherExecutionRunning":
        # Refused before anything: the weights and the phase are the other execution's, judged by its route.
        assert not moved and "RecordRun" not in run.visited, run.visited
        return "refused: another execution of the migration's machines was running; nothing changed"
    if result.error in UNTOUCHED or (result.status == "ABORTED" and not moved):
        assert not moved, "an abort path was taken after traffic moved"
        assert result.weights == run.start, result.weights  # the listener was never touched
        if result.error == "CutoverAborted":
            # A phase the abort could not restore (AbortPhase failing) is restored by the safety net.
            assert run.phase == run.start_phase, run.phase
            if fault != "NotifyAbort":
                assert f"Cutover aborted ({env})" in run.notices, run.notices
        elif result.status != "ABORTED":
            assert run.phase == run.start_phase, run.phase
        return f"safe stop ({result.error or result.status}), traffic untouched on {route.source}"
    if result.error == "SourcePoolUnhealthy" or any(
        s.endswith("SourceDeadPage") for s in run.visited + run.rollback_states
    ):
        assert result.weights == only(route.target), result.weights
        assert any(n.startswith("PAGE: source pool unhealthy") for n in run.notices) or (fault and "Page" in fault)
        return f"source pool dead: kept 100% on the healthy {route.target}, on-call paged"
    if completed:
        # Complete: the fault came after the completion was recorded (bookkeeping, the hold) and did not undo it.
        assert "RecordComplete" in run.visited, "complete without recording it"
        assert result.weights == only(route.target), result.weights
        return f"cutover had completed: 100% {route.target} ({result.status}{', warnings' if result.warnings else ''})"
    if result.error == "RollbackFailed" and not run.rollback_states:
        assert f"ROLLBACK FAILED ({env})" in run.notices or fault == "RollbackFailed", run.notices
        forced = forced_rollback(run.standins, route.source)
        assert forced.status == "SUCCEEDED", (forced.error, forced.cause)
        assert forced.weights == only(route.source) and run.standins.phase() == "rolled-back"
        return f"rollback could not move traffic (operator paged); invoke rollback restored 100% {route.source}"
    # Rolled back: by the cutover itself (CutoverRolledBack), or by the safety net after an ending no Catch sees.
    assert result.weights == only(route.source), result.weights
    assert run.phase == "rolled-back" or fault in ("RecordRolledBack",), run.phase
    assert any(n.startswith("Cutover rolled back") for n in run.notices) or fault in ("NotifyRollback",), run.notices
    net = " by the safety net" if "RecordRestored" in run.rollback_states else ""
    return f"rolled back to 100% {route.source}{net} ({result.error or result.status})"


def report(line: dict[str, Any]) -> None:
    target = os.environ.get("SWEEP_REPORT")
    if target:
        with open(target, "a") as fh:
            fh.write(json.dumps(line) + "\n")


def test_a_reset_puts_back_what_an_execution_changes(installed: rehearsal.StandIns) -> None:
    """Each sweep run starts from the installed state: every alarm OK, the phase and run record as created, the
    initial weights, no notice waiting."""
    standins = installed
    standins.reset()
    for member in PLANNED.targets.gate_members:
        standins.set_gate("ALARM", "test", member)
    ssm = standins.client("ssm")
    ssm.put_parameter(Name=PLANNED.targets.phase_parameter_name, Value="app-on-aws", Overwrite=True)
    ssm.put_parameter(Name=PLANNED.targets.run_parameter_name, Value="a-run", Overwrite=True)
    standins.set_weights(only(TARGET))
    standins.client("sns").publish(TopicArn=PLANNED.targets.topic_arn, Subject="left over", Message="x")
    standins.reset()
    alarms = standins.client("cloudwatch").describe_alarms(
        AlarmNames=standins._alarms(), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    states = {a["AlarmName"]: a["StateValue"] for a in alarms["MetricAlarms"] + alarms["CompositeAlarms"]}
    assert states == dict.fromkeys(standins._alarms(), "OK")
    assert standins.phase() == "parallel-run"
    assert ssm.get_parameter(Name=PLANNED.targets.run_parameter_name)["Parameter"]["Value"] == "none"
    assert standins.weights() == standins.initial_weights
    assert standins.notices() == []


def test_the_swept_definition_covers_every_environment_and_every_route_is_needed() -> None:
    for env in ("dev", "prod", "compact"):
        assert set(state_types(json.loads(planned(env, dms=False).cutover_definition))) <= set(STATES), env
    claimed = [s for r in ROUTES for s in r.reaches]
    assert len(claimed) == len(set(claimed)) and set(claimed) <= set(STATES), set(claimed) - set(STATES)
    assert len(STATES) >= 140


@pytest.mark.parametrize("route", [r for r in ROUTES if r is not HAPPY], ids=lambda r: r.name)
def test_every_route_without_a_further_fault_ends_safely(installed: rehearsal.StandIns, route: Route) -> None:
    """The routes are faults (or inputs) themselves: each must already end safely, and reach what it claims."""
    run = run_route(installed, route)
    missing = [s for s in route.reaches if s not in run.visited]
    assert not missing, f"route {route.name} never entered {missing}"
    outcome = judge(run, None)
    if route.beside == "cutover":
        assert run.beside is not None and run.beside.status == "SUCCEEDED"  # the first one went on, untouched
    report(
        {
            "route": route.name,
            "injected": route.does,
            "outcome": outcome,
            "error": run.result.error,
            "weights": run.result.weights,
            "phase": run.phase,
        }
    )


@pytest.mark.parametrize("state", sorted(STATES))
def test_a_fault_at_every_state_rolls_back_or_stops_safely(installed: rehearsal.StandIns, state: str) -> None:
    kind = STATES[state]
    route = route_for(state)
    if kind == "Task":
        run, injected = run_route(installed, route, api=(state,)), f"the {state} API call fails on every attempt"
    else:
        run, injected = run_route(installed, route, alarm_at=state), f"gate alarm -> ALARM on entering {state}"
    assert state in run.visited, f"route {route.name} never entered {state}: give it a route"
    assert state in run.fired, f"the fault at {state} never fired"
    outcome = judge(run, state)
    report(
        {
            "state": state,
            "type": kind,
            "route": route.name,
            "route_does": route.does,
            "injected": injected,
            "outcome": outcome,
            "status": run.result.status,
            "error": run.result.error,
            "weights": run.result.weights,
            "phase": run.phase,
        }
    )


@pytest.mark.parametrize("state", sorted(s for s, kind in STATES.items() if kind not in ("Fail", "Succeed")))
def test_a_person_stopping_the_cutover_at_any_state_leaves_traffic_safe(
    installed: rehearsal.StandIns, state: str
) -> None:
    """StopExecution at every state: no Catch runs, so the safety net (EventBridge -> the rollback machine) must
    put traffic back whenever the stopped execution had moved it and not completed."""
    route = route_for(state)
    run = run_route(installed, route, stop_at=state)
    assert state in run.visited and state in run.fired, f"route {route.name} never stopped at {state}"
    assert run.result.status == "ABORTED", (run.result.status, run.result.error)
    outcome = judge(run, state)
    if "SetWeights" in run.visited and "RecordComplete" not in run.visited:
        assert run.rollback_states, "traffic had moved, yet the safety net never ran"
    report(
        {
            "stop": state,
            "route": route.name,
            "outcome": outcome,
            "weights": run.result.weights,
            "phase": run.phase,
            "safety_net": len(run.rollback_states),
        }
    )


def test_a_rollback_whose_listener_call_fails_transiently_still_restores_the_source(
    installed: rehearsal.StandIns,
) -> None:
    """The rollback retries harder than anything else: four failed attempts, the fifth moves traffic back."""
    run = run_route(installed, dataclasses.replace(HAPPY, alarm_at="BakeGate"), transient={"RollbackToSource": 4})
    assert run.fired.count("RollbackToSource") == 4
    assert judge(run, None) == f"rolled back to 100% {SOURCE} (CutoverRolledBack)"
