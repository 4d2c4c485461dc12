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
    status = commands.status("dev", box.root, console=QUIET)  # status still reads everything
    assert {ls.layer for ls in status.layers if ls.last is not None} == set(finished)
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
    with mock.patch.object(engine, "plan_environment", lambda env_, layers: support.plan(env_, layers, overrides)):
        return rehearsal.from_plan(env)


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
#: Short waits through the execution input (never the definition); two polls before a bounded wait gives up.
FAST = {"bakeSeconds": 0, "pollSeconds": 0, "holdSeconds": 0, "maxPolls": 2}


@dataclasses.dataclass(frozen=True)
class Route:
    """How an execution reaches states off the happy path (itself a fault or an input the sweep reports)."""

    name: str
    does: str
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    start: dict[str, int] | None = None  #: listener weights before the run (default: the planned ones)
    standins: dict[str, Any] = dataclasses.field(default_factory=dict)
    api_faults: tuple[str, ...] = ()
    alarm_at: str | None = None
    prepare: Callable[[rehearsal.StandIns], None] | None = None
    reaches: tuple[str, ...] = ()  #: the states this route is used for (verified: each must be entered)

    @property
    def source(self) -> str:
        return self.payload.get("sourcePool", PLANNED.defaults["sourcePool"])

    @property
    def target(self) -> str:
        return self.payload.get("targetPool", PLANNED.defaults["targetPool"])


def _dms_backend_task(standins: rehearsal.StandIns) -> Any:
    from moto.dms.models import dms_backends

    return dms_backends[emulator.ACCOUNT_ID][standins.region].replication_tasks[standins.targets.dms_task_arn]


def _dms_stopped(standins: rehearsal.StandIns) -> None:
    dms = standins.client("dms")
    dms.start_replication_task(ReplicationTaskArn=standins.targets.dms_task_arn,
                               StartReplicationTaskType="start-replication")
    dms.stop_replication_task(ReplicationTaskArn=standins.targets.dms_task_arn)


def _dms_failed(standins: rehearsal.StandIns) -> None:
    _dms_backend_task(standins).status = "failed"


def _stuck_deployment(standins: rehearsal.StandIns) -> None:
    from moto.ecs.models import ecs_backends

    key = f"{standins.targets.cluster_name}:{standins.targets.service_names['blue']}"
    service = ecs_backends[emulator.ACCOUNT_ID][standins.region].services[key]
    service.deployments.append({**service.deployments[0], "id": "ecs-svc/stuck", "status": "ACTIVE"})


def _gate_alarm(standins: rehearsal.StandIns) -> None:
    standins.set_gate("ALARM", "fault sweep: gate in ALARM before the start")


BLUE_TO_GREEN = {"sourcePool": "blue", "targetPool": "green", "scaleDownSource": True}
ROUTES = [
    Route("happy", "nothing (the configured cutover)"),
    Route("no-task-definition", "input taskDefinition null", {"taskDefinition": None}, reaches=("ScaleTargetService",)),
    Route("legacy-to-green", "input targetPool green", {"targetPool": "green"}, reaches=("PoolsLegacyToGreen",)),
    Route("green-to-blue", "input green -> blue", {"sourcePool": "green", "targetPool": "blue"},
          start={"legacy": 0, "blue": 0, "green": 100}, reaches=("PoolsGreenToBlue",)),
    Route("blue-to-green-scale-down", "input blue -> green with scaleDownSource", BLUE_TO_GREEN,
          start={"legacy": 0, "blue": 100, "green": 0},
          reaches=("PoolsBlueToGreen", "HoldSource", "CheckGateAfterHold", "CheckGateAfterHoldOk", "ScaleDownSource")),
    Route("gate-alarm-in-hold", "gate ALARM while the source is held", BLUE_TO_GREEN,
          start={"legacy": 0, "blue": 100, "green": 0}, alarm_at="HoldSource", reaches=("GateBreachedInHold",)),
    Route("scale-down-fails", "ecs:updateService of the source fails", BLUE_TO_GREEN,
          start={"legacy": 0, "blue": 100, "green": 0}, api_faults=("ScaleDownSource",),
          reaches=("ScaleDownFailed",)),
    Route("dms-stopped", "DMS task stopped before the start", prepare=_dms_stopped, reaches=("ResumeDmsTask",)),
    Route("dms-task-failed", "DMS task in state failed", prepare=_dms_failed, reaches=("DmsTaskUnusable",)),
    Route("dms-not-in-sync", "CDC latency alarm in ALARM", standins={"dms_in_sync": False},
          reaches=("CountDmsPoll", "DmsWaitBounded", "DmsNotInSync", "Abort", "NotifyAbort", "AbortReason",
                   "Aborted")),
    Route("service-never-stable", "target service stuck with two deployments", prepare=_stuck_deployment),
    Route("target-unhealthy", "target pool without healthy targets", standins={"target_pools_ready": False},
          reaches=("CountAppPoll", "AppWaitBounded", "TargetNotReady")),
    Route("gate-alarm-before-traffic", "gate ALARM before the start", prepare=_gate_alarm,
          reaches=("GateNotOkBeforeTraffic",)),
    Route("gate-alarm-at-first-step", "gate ALARM once the first weights are set", alarm_at="SetWeights",
          reaches=("GateBreached", "Rollback", "RecordRolledBack", "NotifyRollback", "RollbackReason",
                   "RolledBack")),
    Route("rollback-fails", "gate ALARM at the first step, then modifyListener of the rollback fails",
          alarm_at="SetWeights", api_faults=("Rollback",), reaches=("RollbackFailed", "RollbackFailedFail")),
    Route("phase-unreadable", "ssm:getParameter fails", api_faults=("ReadPhase",), reaches=("PhaseUnreadable",)),
    Route("listener-unreadable", "elbv2:describeListeners fails", api_faults=("ReadListener",),
          reaches=("ListenerUnreadable",)),
    Route("listener-split", "listener left at 90/10 (an execution stopped half way)",
          start={"legacy": 90, "blue": 10, "green": 0}, reaches=("TrafficNotOnSource", "ListenerNotOnSource")),
    Route("bad-wait", "input bakeSeconds -1", {"bakeSeconds": -1}, reaches=("WaitsInvalid", "InvalidWaits")),
    Route("fractional-wait", "input bakeSeconds 1.5", {"bakeSeconds": 1.5}),
    Route("invalid-pools", "input sourcePool purple", {"sourcePool": "purple"}, reaches=("InvalidPools",)),
    Route("empty-schedule", "input steps []", {"steps": []}, reaches=("EmptySchedule",)),
    Route("bad-step", "input steps 50,10,100", {"steps": [50, 10, 100]}, reaches=("BadStep",)),
    Route("schedule-not-complete", "input steps 10,50", {"steps": [10, 50]}, reaches=("ScheduleNotComplete",)),
]


def route_for(state: str) -> Route:
    owners = [r for r in ROUTES if state in r.reaches]
    assert len(owners) <= 1, f"{state} is claimed by {[r.name for r in owners]}"
    return owners[0] if owners else ROUTES[0]


# --- fault injection, through the emulator's control hooks ----------------------------------------------


@dataclasses.dataclass
class Faults:
    api: set[str]  #: Task states whose service call fails on every attempt
    alarm_on_entry: set[str]  #: states whose entry puts the gate alarm in ALARM (once)
    transient: dict[str, int] = dataclasses.field(default_factory=dict)  #: state -> failing attempts, then OK

    def install(self, standins: rehearsal.StandIns) -> None:
        control = standins.session.control
        for state in self.api:
            control.fail(state)
        for state, times in self.transient.items():
            control.fail(state, times)
        for state in self.alarm_on_entry:
            control.when_entered(
                state, lambda entered: standins.set_gate("ALARM", f"fault sweep: alarm on entering {entered.state}"))


@pytest.fixture
def aws() -> Iterator[emulator.Session]:
    with emulator.emulator() as session:
        yield session


@dataclasses.dataclass
class Run:
    route: Route
    result: execution.Outcome
    visited: list[str]
    phase: str
    notices: list[str]
    start: dict[str, int]
    start_phase: str
    fired: list[str]
    standins: rehearsal.StandIns
    seconds: float


def set_weights(standins: rehearsal.StandIns, weights: dict[str, int]) -> None:
    groups = [{"TargetGroupArn": arn, "Weight": weights.get(pool, 0)}
              for pool, arn in standins.targets.target_group_arns.items()]
    standins.client("elbv2").modify_listener(
        ListenerArn=standins.targets.listener_arn,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])


def run_route(session: emulator.Session, route: Route, faults: Faults) -> Run:
    started = time.perf_counter()
    standins = rehearsal.create_standins(session, PLANNED.targets, PLANNED.initial_weights, **route.standins)
    if route.start:
        set_weights(standins, route.start)
    if route.prepare:
        route.prepare(standins)
    cutover_arn = rehearsal.create_state_machine(session, PLANNED.cutover_definition, PLANNED.cutover_name)
    faults.api |= set(route.api_faults)
    if route.alarm_at:
        faults.alarm_on_entry.add(route.alarm_at)
    faults.install(standins)
    start, start_phase = standins.weights(), standins.phase()
    payload = {**FAST, "taskDefinition": standins.task_definition_arn, **route.payload}
    result = rehearsal.run(standins, cutover_arn, payload)
    return Run(route, result, [s.name for s in result.steps], standins.phase(),
               [n["subject"] for n in standins.notices()], start, start_phase, list(session.control.fired), standins,
               time.perf_counter() - started)


def forced_rollback(standins: rehearsal.StandIns, pool: str) -> execution.Outcome:
    """What `invoke rollback --pool <pool>` runs: the planned rollback state machine."""
    arn = rehearsal.create_state_machine(standins.session, PLANNED.rollback_definition, PLANNED.rollback_name)
    return rehearsal.run(standins, arn, {"pool": pool})


def only(pool: str) -> dict[str, int]:
    return {p: (100 if p == pool else 0) for p in PLANNED.targets.target_group_arns}


def judge(run: Run, fault_state: str | None) -> str:
    """Check the safety invariants of one run and name its outcome (raises when traffic is left unsafe)."""
    result, route = run.result, run.route
    env = PLANNED.targets.environment
    moved = "SetWeights" in run.visited
    assert result.status in execution.TERMINAL, result.status
    if result.error in ("CutoverAborted", "InvalidInput", "PhaseUnreadable", "ListenerUnreadable",
                        "ListenerNotOnSource"):
        assert not moved, "an abort path was taken after traffic moved"
        assert result.weights == run.start, result.weights  # the listener was never touched
        if result.error == "CutoverAborted":
            expected_phase = "cutover" if fault_state == "Abort" else run.start_phase
            assert run.phase == expected_phase, run.phase
            if fault_state != "NotifyAbort":
                assert f"Cutover aborted ({env})" in run.notices, run.notices
        else:
            assert run.phase == run.start_phase, run.phase
        return f"safe stop ({result.error}), traffic untouched on {route.source}"
    if result.error == "CutoverRolledBack":
        assert result.weights == only(route.source), result.weights
        assert run.phase == ("cutover" if fault_state == "RecordRolledBack" else "rolled-back"), run.phase
        if fault_state != "NotifyRollback":
            assert f"Cutover rolled back ({env})" in run.notices, run.notices
        return f"rolled back to 100% {route.source}"
    if result.error == "RollbackFailed":
        if fault_state != "RollbackFailed":
            assert f"ROLLBACK FAILED ({env})" in run.notices, run.notices  # the operator is told to act
        forced = forced_rollback(run.standins, route.source)
        assert forced.status == "SUCCEEDED", (forced.error, forced.cause)
        assert forced.weights == only(route.source) and run.standins.phase() == "rolled-back"
        return f"rollback could not move traffic (operator notified); invoke rollback restored 100% {route.source}"
    if result.status == "SUCCEEDED" or result.error == "SourceScaleDownFailed":
        # Acceptable only when the fault came after the cutover had completed (last gate check passed).
        assert "RecordComplete" in run.visited
        if fault_state is not None:
            assert run.visited.index(fault_state) > run.visited.index("RecordComplete"), (
                f"a fault at {fault_state} (before completion) did not stop the cutover")
        assert result.weights == only(route.target) and run.phase == "cutover-complete"
        return f"cutover had completed: 100% {route.target} ({result.error or 'SUCCEEDED'})"
    raise AssertionError(f"unsafe end: {result.status} {result.error}: {result.cause}; weights {result.weights}")


def report(line: dict[str, Any]) -> None:
    target = os.environ.get("SWEEP_REPORT")
    if target:
        with open(target, "a") as fh:
            fh.write(json.dumps(line) + "\n")


def test_the_swept_definition_covers_every_environment_and_every_route_is_needed() -> None:
    for env in ("dev", "prod", "compact"):
        assert set(state_types(json.loads(planned(env, dms=False).cutover_definition))) <= set(STATES), env
    claimed = [s for r in ROUTES for s in r.reaches]
    assert len(claimed) == len(set(claimed)) and set(claimed) <= set(STATES), set(claimed) - set(STATES)
    assert len(STATES) >= 80


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name != "happy"], ids=lambda r: r.name)
def test_every_route_without_a_further_fault_ends_safely(aws: emulator.Session, route: Route) -> None:
    """The routes are faults (or inputs) themselves: each must already end safely, and reach what it claims."""
    run = run_route(aws, route, Faults(set(), set()))
    missing = [s for s in route.reaches if s not in run.visited]
    assert not missing, f"route {route.name} never entered {missing}"
    outcome = judge(run, None)
    report({"route": route.name, "injected": route.does, "outcome": outcome, "error": run.result.error,
            "weights": run.result.weights, "phase": run.phase, "seconds": round(run.seconds, 2)})


@pytest.mark.parametrize("state", sorted(STATES))
def test_a_fault_at_every_state_rolls_back_or_stops_safely(aws: emulator.Session, state: str) -> None:
    kind = STATES[state]
    route = route_for(state)
    if kind == "Task":
        faults, injected = Faults({state}, set()), f"the {state} API call fails on every attempt"
    else:
        faults, injected = Faults(set(), {state}), f"gate alarm -> ALARM on entering {state}"
    run = run_route(aws, route, faults)
    assert state in run.visited, f"route {route.name} never entered {state}: give it a route"
    assert state in run.fired, f"the fault at {state} never fired"
    outcome = judge(run, state)
    report({"state": state, "type": kind, "route": route.name, "route_does": route.does, "injected": injected,
            "outcome": outcome, "status": run.result.status, "error": run.result.error,
            "weights": run.result.weights, "phase": run.phase, "seconds": round(run.seconds, 2)})


def test_a_rollback_whose_listener_call_fails_transiently_still_restores_the_source(aws: emulator.Session) -> None:
    """The rollback retries harder than anything else: four failed attempts, the fifth moves traffic back."""
    faults = Faults(set(), set(), transient={"Rollback": 4})
    run = run_route(aws, dataclasses.replace(ROUTES[0], alarm_at="SetWeights"), faults)
    assert run.fired.count("Rollback") == 4
    assert judge(run, None) == f"rolled back to 100% {PLANNED.defaults['sourcePool']}"
