"""Rehearsals of the database switchover, fallback and finish in the embedded emulator (moto, virtual clock).

The definitions are built by the migration layer's own functions from typed inputs; the resources they act on
(the app NACL, the private zone and its CNAME, the dormant write-pause rule, both DMS tasks) are created in moto.
Each run checks what a payment system needs: who writes at the end, the pause lifted (and how long it lasted on
the virtual clock), the fences, the replication directions, the phase, and how replication was started.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from payments.cutover import emulator, execution, rehearsal
from payments.cutover.writer_rehearsal import WriterStandIns, create_writer_standins, writer_definitions
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.names import WRITER_OUTPUTS, MigrationNames
from payments.layers.migration.safety_net import writer_rule_spec
from payments.layers.migration.settings import MigrationSettings

NAMES = MigrationNames("dev", emulator.REGION, emulator.ACCOUNT_ID)
SETTINGS = MigrationSettings()
FORWARD = f"arn:aws:dms:{emulator.REGION}:{emulator.ACCOUNT_ID}:task:DMS-TASK-DEV"
TARGETS = Targets(
    environment="dev",
    listener_arn=f"arn:aws:elasticloadbalancing:{emulator.REGION}:{emulator.ACCOUNT_ID}:listener/app/alb-dev/1/2",
    target_group_arns={
        p: f"arn:aws:elasticloadbalancing:{emulator.REGION}:{emulator.ACCOUNT_ID}:targetgroup/tg-{p}/{i}"
        for i, p in enumerate(("legacy", "blue", "green"))
    },
    gate_alarm_name="payments-gate-dev",
    phase_parameter_name=NAMES.phase_parameter,
    topic_arn=f"arn:aws:sns:{emulator.REGION}:{emulator.ACCOUNT_ID}:payments-alarms-dev",
    machine_arns=NAMES.all_machine_arns,
    run_parameter_name=NAMES.run_parameter,
    dms_task_arn=FORWARD,
    dms_latency_alarm_name="payments-dms-latency-dev",
)
#: Input of every run: no legacy hold to watch (the clock is virtual, but the hold is not what is rehearsed).
FAST = {"holdSeconds": 0, "pollSeconds": 30}
ONPREM_FENCE, AURORA_FENCE = (50,), (70,)


@dataclasses.dataclass
class Rig:
    standins: rehearsal.StandIns
    writer: WriterStandIns
    arns: dict[str, str]

    @property
    def session(self) -> emulator.Session:
        return self.standins.session


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with emulator.emulator() as session:
        standins = rehearsal.create_standins(session, TARGETS, {"blue": 100})
        writer = create_writer_standins(session, NAMES, TARGETS.listener_arn, FORWARD)
        definitions = writer_definitions(TARGETS, writer.targets, SETTINGS)
        # No cutover runs here: a one-state machine under its name answers the others' ListExecutions, and saves
        # parsing the largest definition (the cutover's own rehearsals are tests/test_cutover_emulator.py).
        definitions["cutover"] = {"StartAt": "Idle", "States": {"Idle": {"Type": "Succeed"}}}
        arns = {
            role: rehearsal.create_state_machine(session, definition, NAMES.machine(role))
            for role, definition in definitions.items()
        }
        assert arns == NAMES.all_machine_arns
        spec = writer_rule_spec([arns[r] for r in ("switchover", "fallback", "finish")])
        rule = rehearsal.Rule(
            f"safety-net-{spec.trigger}",
            json.dumps(spec.pattern),
            arns["writer-recovery"],
            spec.input_paths,
            spec.input_template,
        )
        rehearsal.install_rules(session, (rule,))
        yield Rig(standins, writer, arns)


@dataclasses.dataclass
class Run:
    result: execution.Outcome
    visited: list[str]
    recovery: list[str]
    pause_seconds: float
    notices: list[str]


def start(rig: Rig, *, writer: str, phase: str, fence: tuple[int, ...], weights: dict[str, int] | None = None) -> None:
    rig.standins.reset()
    rig.standins.set_weights(weights or {"blue": 100})
    rig.writer.reset(writer=writer, fence=fence)
    rig.standins.client("ssm").put_parameter(Name=TARGETS.phase_parameter_name, Value=phase, Overwrite=True)


def run(rig: Rig, role: str, payload: dict[str, Any] | None = None) -> Run:
    """Run `role` to its end and whatever its end set off; measure the write pause on the virtual clock."""
    session = rig.session
    visited: dict[str, list[str]] = {"main": [], "recovery": []}
    paused_at: list[Any] = []
    longest = [0.0]
    recovery_arn = rig.arns["writer-recovery"]

    def watch(entered: emulator.Entered) -> None:
        machine = entered.execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
        visited["recovery" if machine == recovery_arn else "main"].append(entered.state)
        paused = rig.writer.paused()
        if paused and not paused_at:
            paused_at.append(entered.at)
        elif not paused and paused_at:
            longest[0] = max(longest[0], (entered.at - paused_at.pop()).total_seconds())

    session.control.every_state(watch)
    sfn = rig.standins.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=rig.arns[role], name=f"{role}-{uuid.uuid4().hex[:10]}", input=json.dumps(payload or FAST)
    )["executionArn"]
    session.wait(arn)
    session.settle()
    assert not paused_at or not rig.writer.paused(), "writes are still paused"
    result = execution.outcome(sfn, arn, [], rig.standins.weights())
    return Run(result, visited["main"], visited["recovery"], longest[0], [n["subject"] for n in rig.standins.notices()])


def assert_on_prem_writes(rig: Rig, phase: str = "app-on-aws") -> None:
    w = rig.writer
    assert w.writer() == w.targets.onprem_name
    assert not w.paused()
    assert not (w.fence() & set(ONPREM_FENCE)), "the writer must not be fenced"
    assert w.status(w.targets.forward_task_arn) == "running"
    assert w.status(w.targets.reverse_task_arn) != "running"
    assert rig.standins.phase() == phase


def assert_aurora_writes(rig: Rig) -> None:
    w = rig.writer
    assert w.writer() == w.targets.aurora_endpoint
    assert not w.paused()
    assert set(ONPREM_FENCE) <= w.fence(), "pooled connections to on-prem must stay fenced off"
    assert not (w.fence() & set(AURORA_FENCE))
    assert w.status(w.targets.reverse_task_arn) == "running"
    assert w.status(w.targets.forward_task_arn) == "stopped"
    assert rig.standins.phase() == "db-on-aws"


def bound() -> int:
    return SETTINGS.pause.longest_seconds


# --- switchover ------------------------------------------------------------------------------------------------


def test_switchover_moves_the_writer_to_aurora_inside_a_bounded_pause(rig: Rig) -> None:
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    got = run(rig, "switchover")
    assert got.result.status == "SUCCEEDED", got.result.error
    assert_aurora_writes(rig)
    order = [
        s
        for s in got.visited
        if s in ("PauseWrites", "FenceOld0", "DrainedDone", "StopDrainTask", "Flip", "StartReturnFirst", "LiftPause")
    ]
    assert order == [
        "PauseWrites",
        "FenceOld0",
        "DrainedDone",
        "DrainedDone",
        "StopDrainTask",
        "Flip",
        "StartReturnFirst",
        "LiftPause",
    ]
    (reverse_start,) = rig.session.dms.starts
    assert reverse_start["arn"] == rig.writer.targets.reverse_task_arn
    assert reverse_start["type"] == "start-replication" and reverse_start["cdcStartTime"]
    assert 0 < got.pause_seconds <= bound()
    assert not got.recovery
    print(f"\nswitchover write pause on the virtual clock: {got.pause_seconds:.0f} s (bound {bound()} s)")


def test_switchover_whose_cdc_never_drains_lifts_the_pause_with_on_prem_still_the_writer(rig: Rig) -> None:
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    rig.session.dms.lag(FORWARD)
    got = run(rig, "switchover")
    assert got.result.error == "SwitchoverReverted", got.result.error
    assert "Flip" not in got.visited and "NotDrained" in got.visited
    assert_on_prem_writes(rig)
    assert got.pause_seconds <= bound()
    assert any("reverted" in n for n in got.notices)
    # writer-recovery ran on the failed ending, and found everything already in order
    assert got.recovery and "Recovered" in got.recovery


def test_a_flip_error_reverts_the_switchover_with_nothing_lost(rig: Rig) -> None:
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    rig.session.control.fail("Flip")
    got = run(rig, "switchover")
    assert got.result.error == "SwitchoverReverted"
    assert "FlipUnsure" in got.visited
    assert_on_prem_writes(rig)
    # The forward task stopped at the drained point resumes from its own checkpoint.
    assert [s["type"] for s in rig.session.dms.starts] == ["resume-processing"]
    assert rig.session.dms.starts[0]["cdcStartTime"] is None


def test_a_way_back_that_will_not_start_flips_back_before_any_write(rig: Rig) -> None:
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    rig.session.control.fail("StartReturnFirst")
    got = run(rig, "switchover")
    assert got.result.error == "SwitchoverUndone"
    assert "Flip" in got.visited and "UndoFlip" in got.visited
    assert_on_prem_writes(rig)
    assert set(AURORA_FENCE) <= rig.writer.fence(), "connections opened to Aurora after the flip stay fenced off"


@pytest.mark.parametrize(
    ("stop_at", "writer"),
    [("DrainedWait", "onprem"), ("StopDrainTask", "onprem"), ("UnfenceNew0", "aurora"), ("ReturnWait", "aurora")],
)
def test_a_person_stopping_the_switchover_mid_pause_is_caught_by_the_safety_net(
    rig: Rig, stop_at: str, writer: str
) -> None:
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    rig.session.control.stop_at(stop_at, cause="rehearsal: stopped by a person")
    got = run(rig, "switchover")
    assert got.result.status == "ABORTED"
    assert "Recovered" in got.recovery, got.recovery
    if writer == "onprem":
        assert_on_prem_writes(rig)
    else:
        assert_aurora_writes(rig)


# --- fallback and finish ---------------------------------------------------------------------------------------


def at_db_on_aws(rig: Rig) -> None:
    start(rig, writer="aurora", phase="db-on-aws", fence=ONPREM_FENCE)


def test_fallback_moves_the_writer_back_on_prem_and_restarts_forward_cdc_from_now(rig: Rig) -> None:
    at_db_on_aws(rig)
    got = run(rig, "fallback")
    assert got.result.status == "SUCCEEDED", got.result.error
    assert_on_prem_writes(rig)
    assert set(AURORA_FENCE) <= rig.writer.fence()
    (forward_start,) = rig.session.dms.starts
    assert forward_start["arn"] == FORWARD
    assert forward_start["type"] == "resume-processing" and forward_start["cdcStartTime"]
    assert 0 < got.pause_seconds <= bound()


def test_fallback_whose_reverse_cdc_never_drains_keeps_aurora_the_writer(rig: Rig) -> None:
    at_db_on_aws(rig)
    rig.session.dms.lag(rig.writer.targets.reverse_task_arn)
    got = run(rig, "fallback")
    assert got.result.error == "FallbackReverted"
    assert_aurora_writes(rig)
    assert got.pause_seconds <= bound()


def test_a_fallback_flip_error_keeps_aurora_the_writer(rig: Rig) -> None:
    at_db_on_aws(rig)
    rig.session.control.fail("Flip")
    got = run(rig, "fallback")
    assert got.result.error == "FallbackReverted"
    assert_aurora_writes(rig)


@pytest.mark.parametrize(("stop_at", "writer"), [("Drain", "aurora"), ("StartReturnAgain", "onprem")])
def test_a_person_stopping_the_fallback_mid_pause_is_caught_by_the_safety_net(
    rig: Rig, stop_at: str, writer: str
) -> None:
    at_db_on_aws(rig)
    rig.session.control.stop_at(stop_at, cause="rehearsal: stopped by a person")
    got = run(rig, "fallback")
    assert got.result.status == "ABORTED"
    assert "Recovered" in got.recovery, got.recovery
    if writer == "onprem":
        assert_on_prem_writes(rig)
        # Started inside the pause, from now: what on-prem received from Aurora is not replayed.
        assert rig.session.dms.starts[-1]["cdcStartTime"]
    else:
        assert_aurora_writes(rig)


def test_finish_records_the_end_before_stopping_reverse_replication(rig: Rig) -> None:
    at_db_on_aws(rig)
    got = run(rig, "finish", {})
    assert got.result.status == "SUCCEEDED", got.result.error
    assert got.visited.index("RecordComplete") < got.visited.index("StopReverseTask")
    assert rig.standins.phase() == "cutover-complete"
    assert rig.writer.status(rig.writer.targets.reverse_task_arn) == "stopped"


def test_a_switchover_is_refused_unless_the_app_is_on_aws_over_on_prem(rig: Rig) -> None:
    start(rig, writer="onprem", phase="parallel-run", fence=(), weights={"legacy": 100})
    got = run(rig, "switchover")
    assert got.result.error == "WrongPhase"
    assert_on_prem_writes(rig, phase="parallel-run")
    start(rig, writer="onprem", phase="app-on-aws", fence=(), weights={"legacy": 10, "blue": 90})
    got = run(rig, "switchover")
    assert got.result.error == "LegacyServing"
    assert not rig.session.dms.starts and not rig.writer.paused()


# --- the traffic machines while Aurora writes ------------------------------------------------------------------


def test_a_traffic_rollback_to_legacy_is_refused_while_aurora_is_the_writer(rig: Rig) -> None:
    at_db_on_aws(rig)
    got = run(rig, "rollback", {"pool": "legacy", "force": True})
    assert got.result.error == "DatabaseOnAws"
    assert "invoke fallback --env dev" in (got.result.cause or "")
    assert rig.standins.weights() == {"legacy": 0, "blue": 100, "green": 0}
    assert rig.standins.phase() == "db-on-aws"


# --- invoke switchover / fallback through the runner (boto3, as against AWS) -----------------------------------


def deployed(rig: Rig) -> Any:
    import boto3

    from payments.cutover import runner

    outputs = {
        "migration": {
            "cutoverStateMachineArn": rig.arns["cutover"],
            "rollbackStateMachineArn": rig.arns["rollback"],
            "phaseParameterName": TARGETS.phase_parameter_name,
            **{key: rig.arns[role] for role, key in WRITER_OUTPUTS.items()},
        },
        "edge": {"httpsListenerArn": TARGETS.listener_arn, "targetGroupArns": dict(TARGETS.target_group_arns)},
    }
    return runner.Deployed("dev", outputs.get, session=boto3.Session(region_name=emulator.REGION), poll_seconds=0.05)


def test_invoke_switchover_shows_the_pause_live_and_a_reverted_one_says_what_happened(rig: Rig) -> None:
    import io

    from rich.console import Console

    from payments.cutover import runner

    start(rig, writer="onprem", phase="app-on-aws", fence=())
    console = Console(file=io.StringIO(), width=200)
    result = runner.writer_move(deployed(rig), "switchover", FAST, console, safety_net_seconds=0)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert result.succeeded, text
    for line in ("PAUSE: writes answered 503", "FLIP: the DB indirection names the new writer", "LIFT: writes flow"):
        assert line in text
    assert_aurora_writes(rig)

    start(rig, writer="onprem", phase="app-on-aws", fence=())
    rig.session.dms.lag(FORWARD)
    result = runner.writer_move(deployed(rig), "switchover", FAST, Console(file=io.StringIO()), safety_net_seconds=0)
    rig.session.settle()
    assert runner.writer_failure_message(result, "switchover", "dev").startswith(
        "the switchover did not complete; it was reverted before the flip: on-prem is still the writer"
    )
    assert_on_prem_writes(rig)


def test_status_live_names_the_writer_from_the_db_indirection(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from payments.cutover import runner
    from payments.ops import status

    w = rig.writer.targets
    data = {"dbZoneId": w.zone_id, "dbIndirectionName": w.indirection_name, "dbWriterEndpoint": w.aurora_endpoint,
            "onPremDbName": w.onprem_name}
    monkeypatch.setattr(runner, "stack_outputs", lambda env, root: {"data": data}.get)
    route53 = rig.standins.client("route53")
    at_db_on_aws(rig)
    assert status.deployed_writer("dev", Path("."), route53) == f"Aurora ({w.aurora_endpoint})"
    start(rig, writer="onprem", phase="app-on-aws", fence=())
    assert status.deployed_writer("dev", Path("."), route53) == f"on-prem MySQL ({w.onprem_name})"
