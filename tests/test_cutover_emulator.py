"""The cutover and rollback state machines executed in the embedded emulator (moto), through the adapter.

Every test runs the real definitions, with the safety net's EventBridge rules installed, against stand-ins, and
asserts what matters to payments: where the traffic ends, the recorded phase, the notice, the outcome, that
failures before traffic moves never touch the listener, and when (on the virtual clock) things happen.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from payments.cutover import emulator, execution, rehearsal
from payments.layers.migration.machines import Targets, cutover_definition, rollback_definition
from payments.layers.migration.schedule import CutoverInput, Pool
from tests.test_migration_state_machine import GATE_MEMBERS, GATE_WINDOW, NAMES
from tests.test_migration_state_machine import targets as make_targets

#: Waits through the input, never the definition: the shortest bake the gate allows, read twice per bake.
FAST = {**rehearsal.FAST, "bakeSeconds": GATE_WINDOW, "pollSeconds": GATE_WINDOW // 2}
START = {"legacy": 100, "blue": 0, "green": 0}
TASK_DEFINITION_1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/payments-app:1"


class Rig:
    """The machines (under their planned names), the safety net's rules and the stand-ins, in one session."""

    def __init__(
        self,
        session: emulator.Session,
        targets: Targets,
        defaults: CutoverInput,
        start: dict[str, int] | None = None,
        **standin_options: Any,
    ) -> None:
        self.session = session
        self.targets = targets
        self.standins = rehearsal.create_standins(session, targets, start or START, **standin_options)
        self.cutover_arn = rehearsal.create_state_machine(
            session, cutover_definition(targets, defaults), NAMES.machine("cutover")
        )
        self.rollback_arn = rehearsal.create_state_machine(
            session, rollback_definition(targets), NAMES.machine("rollback")
        )
        self.standins.machine_arns.update(cutover=self.cutover_arn, rollback=self.rollback_arn)
        rehearsal.install_rules(session, rehearsal.rules_for(targets))
        self.sfn = session.client("stepfunctions")

    def run(self, payload: dict[str, Any] | None = None, fail_at: int | None = None) -> execution.Outcome:
        doc = {**FAST, "taskDefinition": self.standins.task_definition_arn, **(payload or {})}
        return rehearsal.run(self.standins, self.cutover_arn, doc, fail_at=fail_at)

    def start(self, state_machine_arn: str, payload: dict[str, Any]) -> str:
        return str(
            self.sfn.start_execution(
                name=uuid.uuid4().hex, stateMachineArn=state_machine_arn, input=json.dumps(payload)
            )["executionArn"]
        )

    def finish(self, execution_arn: str) -> execution.Outcome:
        """The outcome of an execution once it (and what it set off) has ended: waited for by event."""
        self.session.wait(execution_arn)
        self.session.settle()
        steps = execution.steps_of(execution.events(self.sfn, execution_arn))
        return execution.outcome(self.sfn, execution_arn, steps, self.standins.weights())

    def history(self, state_machine_arn: str | None = None) -> list[dict[str, Any]]:
        runs = self.sfn.list_executions(stateMachineArn=state_machine_arn or self.cutover_arn)["executions"]
        arn = max(runs, key=lambda r: r["startDate"])["executionArn"]
        return execution.events(self.sfn, arn)

    def listener_calls(self) -> list[dict[str, Any]]:
        """Every modifyListener the cutover scheduled (its parameters)."""
        return [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            for e in self.history()
            if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resource"] == "modifyListener"
        ]

    def entered(self, name: str, execution_arn: str | None = None) -> list[float]:
        """Virtual seconds after the execution (default: the latest cutover) started at which it entered `name`."""
        history = execution.events(self.sfn, execution_arn) if execution_arn else self.history()
        start = history[0]["timestamp"]
        return [
            (e["timestamp"] - start).total_seconds()
            for e in history
            if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
        ]


@pytest.fixture
def aws() -> Iterator[emulator.Session]:
    with emulator.emulator() as session:
        yield session


def names(result: execution.Outcome) -> list[str]:
    return [s.name for s in result.steps]


def test_happy_path_ends_on_the_target_pool(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput(desired_count=3))
    result = rig.run()
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == {"legacy": 0, "blue": 100, "green": 0}
    assert rig.standins.phase() == "app-on-aws"
    weights = [
        [g["Weight"] for g in c["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]] for c in rig.listener_calls()
    ]
    assert weights == [[90, 10, 0], [50, 50, 0], [0, 100, 0]]  # source, target, other at each step
    service = aws.client("ecs").describe_services(cluster="cluster-dev", services=["app-blue-dev"])["services"][0]
    assert service["desiredCount"] == 3  # the application stage scaled the target service
    assert [n["subject"] for n in rig.standins.notices()] == ["Cutover complete (dev)"]
    run = aws.client("ssm").get_parameter(Name=NAMES.run_parameter)["Parameter"]["Value"].split(",")
    assert run[1:] == ["legacy", "blue", "parallel-run", "traffic"]  # what the safety net reads


@pytest.mark.parametrize("step", [10, 50, 100])
def test_gate_alarm_during_any_step_rolls_back(aws: emulator.Session, step: int) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run(fail_at=step)
    assert result.status == "FAILED" and result.error == "CutoverRolledBack"
    assert f"with {step}% of traffic on blue" in (result.cause or "")
    assert GATE_MEMBERS[0] in (result.cause or "")  # the notice names the member alarm that fired
    assert result.weights == START
    assert rig.standins.phase() == "rolled-back"
    notices = rig.standins.notices()
    assert [n["subject"] for n in notices] == ["Cutover rolled back (dev)"]
    assert "back to 100% on legacy" in notices[0]["message"]
    assert names(result).count("SetWeights") == [10, 50, 100].index(step) + 1  # no step after the alarm


def test_an_alarm_early_in_a_long_bake_rolls_back_within_one_poll(aws: emulator.Session) -> None:
    """Defect 1: the gate was read once, after the whole bake. An alarm 60 s into a 900 s bake (polled every 30 s)
    must put traffic back by the next poll, not 14 minutes later."""
    rig = Rig(aws, make_targets(), CutoverInput())
    set_at: list[float] = []

    def alarm_later(entered: emulator.Entered) -> None:
        started = aws.clock.elapsed

        def fire() -> None:
            set_at.append(aws.clock.elapsed - started)
            rig.standins.set_gate("ALARM", "fault 60 s into the bake", GATE_MEMBERS[0])

        aws.control.after(60, fire)

    aws.control.when_entered("Bake", alarm_later)  # the first step's bake
    result = rig.run({"bakeSeconds": 900, "pollSeconds": 30, "steps": [10, 100]})
    assert result.error == "CutoverRolledBack" and result.weights == START
    bake, back = rig.entered("Bake")[0], rig.entered("RollbackToSource")[0]
    assert set_at == [60.0]
    assert back - bake <= 60 + 30, f"rolled back {back - bake:.0f} s into the bake"
    assert "after 60 s of the bake" in (result.cause or "")


def test_a_breach_that_clears_before_the_bake_ends_is_still_seen(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())

    def blip(entered: emulator.Entered) -> None:
        aws.control.after(45, lambda: rig.standins.set_gate("ALARM", "blip"))
        aws.control.after(75, lambda: rig.standins.set_gate("OK", "recovered"))

    aws.control.when_entered("Bake", blip)
    result = rig.run({"bakeSeconds": 300, "pollSeconds": 30, "steps": [10, 100]})
    # The rule on the gate alarm acts a second after it fires (the cutover's next poll would 15 s later): the
    # rollback machine stops the cutover and puts traffic back; the blip is acted on, not slept through.
    assert result.status == "ABORTED" and result.weights == START
    assert rig.standins.phase() == "rolled-back" and "SetWeights" in names(result)
    assert names(result).count("SetWeights") == 1


def test_the_gate_alarm_rule_rolls_back_before_the_cutover_polls_again(aws: emulator.Session) -> None:
    """EventBridge on the gate alarm: the rollback machine stops the cutover and puts traffic back at once, even
    while the cutover sleeps through a 900 s poll."""
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.control.when_entered("BakeWait", lambda e: aws.control.after(10, lambda: rig.standins.set_gate("ALARM")))
    result = rig.run({"bakeSeconds": 1800, "pollSeconds": 900, "steps": [10, 100]})
    assert result.status == "ABORTED" and result.weights == START  # stopped by the rollback machine
    assert rig.standins.phase() == "rolled-back"
    delivered = aws.events.delivered
    assert [d["input"]["trigger"] for d in delivered][:1] == ["gate-alarm"]
    back = rig.entered("RestoreToSource", delivered[0]["executionArn"])
    assert back, "the gate-alarm rollback never moved traffic"
    assert rig.entered("RecordRestored", delivered[0]["executionArn"]), "no phase recorded"
    restored = rig.history(rig.rollback_arn)  # noqa: F841 - the latest rollback (the safety net's no-op)
    assert aws.clock.elapsed < 2 * GATE_WINDOW + 900, "traffic waited for the cutover's next poll"
    assert [n["subject"] for n in rig.standins.notices()] == ["Cutover rolled back (dev)"]


@pytest.mark.parametrize("state", ["Bake", "BakeWait", "SetWeights", "StepDone", "DescribeTargetHealth"])
def test_a_person_stopping_the_cutover_leaves_traffic_back_on_the_source(aws: emulator.Session, state: str) -> None:
    """Defect 3: a StopExecution runs no Catch. The EventBridge rule on the cutover's ABORTED status starts the
    rollback machine, which puts traffic back when the stopped execution had moved it."""
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.control.stop_at(state)
    result = rig.run()
    assert result.status == "ABORTED"
    assert result.weights == START
    moved = state != "DescribeTargetHealth"
    assert rig.standins.phase() == ("rolled-back" if moved else "parallel-run")
    assert [d["input"]["trigger"] for d in aws.events.delivered] == ["execution-ended"]


def test_a_timeout_runs_no_catch_and_the_safety_net_rolls_back(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.control.time_out_at("BakeWait")
    result = rig.run()
    assert result.status == "TIMED_OUT" and result.weights == START
    assert rig.standins.phase() == "rolled-back"
    assert cutover_definition(make_targets(), CutoverInput())["TimeoutSeconds"] > 0


def test_the_safety_net_leaves_a_cutover_that_had_rolled_back_or_changed_nothing(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rolled_back = rig.run(fail_at=50)
    assert rolled_back.error == "CutoverRolledBack"
    refused = rig.run({"steps": [50, 10, 100]})
    assert refused.error == "InvalidInput"
    # Both ended FAILED, so the rule started the rollback machine twice (and the gate alarm once more); none of
    # them acted: one notice, from the cutover's own rollback.
    assert [d["input"]["trigger"] for d in aws.events.delivered].count("execution-ended") == 2
    assert [n["subject"] for n in rig.standins.notices()] == ["Cutover rolled back (dev)"]
    assert rig.standins.phase() == "rolled-back" and rig.standins.weights() == START


def _assert_nothing_moved(rig: Rig, result: execution.Outcome, error: str) -> None:
    assert result.status == "FAILED" and result.error == "CutoverAborted"
    assert error in (result.cause or "")
    assert rig.listener_calls() == []  # no weight was ever changed
    assert result.weights == START
    assert rig.standins.phase() == "parallel-run"  # restored
    assert [n["subject"] for n in rig.standins.notices()] == ["Cutover aborted (dev)"]


def test_dms_latency_never_in_sync_aborts_after_the_bounded_wait(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(dms=True), CutoverInput(), dms_in_sync=False)
    result = rig.run({"maxPolls": 2})
    _assert_nothing_moved(rig, result, "DmsNotInSync")
    assert names(result).count("CheckDmsProgress") == 2
    assert "TargetHasService" not in names(result)


def test_dms_in_sync_is_started_then_the_cutover_proceeds(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(dms=True), CutoverInput())
    result = rig.run()
    assert result.status == "SUCCEEDED", result.cause
    assert "StartDmsTask" in names(result)
    task = aws.client("dms").describe_replication_tasks()["ReplicationTasks"][0]
    assert task["Status"] == "running"


def test_target_without_healthy_targets_never_gets_traffic(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput(), target_pools_ready=False)
    result = rig.run({"maxPolls": 2})
    _assert_nothing_moved(rig, result, "TargetNotReady")
    assert names(result).count("AnyTargets") == 2


def test_service_whose_deployment_never_settles_never_gets_traffic(aws: emulator.Session) -> None:
    from moto.ecs.models import ecs_backends

    rig = Rig(aws, make_targets(), CutoverInput())
    service = ecs_backends[emulator.ACCOUNT_ID][emulator.REGION].services["cluster-dev:app-blue-dev"]

    def stuck(entered: emulator.Entered) -> None:
        # A second, still-active deployment: what a rollout stuck on failing health checks looks like.
        service.deployments.append({**service.deployments[0], "id": "ecs-svc/stuck", "status": "ACTIVE"})

    aws.control.when_entered("StartAppWait", stuck)
    result = rig.run({"maxPolls": 2})
    _assert_nothing_moved(rig, result, "TargetNotReady")
    assert names(result).count("ServiceStable") == 2 and "DescribeTargetHealth" not in names(result)


def test_a_release_the_circuit_breaker_rolled_back_is_not_a_success(aws: emulator.Session) -> None:
    """Defect 5: after a failed deployment ECS rolls back, and "one deployment, running = desired" holds for the
    OLD task definition. The cutover must abort with nothing moved, not move traffic to the old release."""
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.ecs.fail_rollout("app-blue-dev")
    new_release = aws.client("ecs").register_task_definition(
        family="payments-app", containerDefinitions=[{"name": "app", "image": "payments:broken", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    result = rig.run({"taskDefinition": new_release})
    _assert_nothing_moved(rig, result, "ReleaseRolledBack")
    assert f"instead of {new_release}" in (result.cause or "")
    assert "DescribeTargetHealth" not in names(result)  # aborted at once, no polls spent waiting


def test_gate_not_ok_before_traffic_aborts(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_gate("ALARM")
    _assert_nothing_moved(rig, rig.run(), "GateAlarm")


def test_api_error_in_a_task_rolls_back(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.control.fail("BakeGate")
    result = rig.run()
    assert result.error == "CutoverRolledBack"
    assert "emulator: injected failure at BakeGate" in (result.cause or "")
    assert result.weights == START and rig.standins.phase() == "rolled-back"
    assert aws.control.fired.count("BakeGate") == 3  # the gate read was tried once and retried twice


def test_bookkeeping_failures_after_the_last_step_complete_with_warnings(aws: emulator.Session) -> None:
    """Defect 9: a throttled PutParameter (or a failed notice) after 100 % used to roll a healthy cutover back."""
    rig = Rig(aws, make_targets(), CutoverInput())
    aws.control.fail("RecordComplete")
    aws.control.fail("NotifyComplete")
    result = rig.run()
    assert result.status == "SUCCEEDED" and result.weights == {"legacy": 0, "blue": 100, "green": 0}
    assert result.warnings == ["the phase could not be set to app-on-aws: set it by hand"]
    assert aws.events.delivered == []  # SUCCEEDED: the safety net has nothing to do


def test_invalid_schedule_in_the_input_changes_nothing(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({"steps": [50, 10, 100]})
    assert result.error == "InvalidInput" and "ReadPhase" not in names(result)
    assert rig.standins.phase() == "parallel-run" and result.weights == START
    result = rig.run({"steps": [10, 50]})
    assert result.error == "InvalidInput" and "last step must be 100" in (result.cause or "")


def test_blue_to_green_scales_the_source_down_after_the_hold(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_weights({"legacy": 0, "blue": 100, "green": 0})
    result = rig.run(
        {"sourcePool": "blue", "targetPool": "green", "scaleDownSource": True, "steps": [50, 100], "holdSeconds": 600}
    )
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == {"legacy": 0, "blue": 0, "green": 100}
    blue = aws.client("ecs").describe_services(cluster="cluster-dev", services=["app-blue-dev"])["services"][0]
    assert blue["desiredCount"] == 0 and "HoldSource" in names(result)
    assert rig.entered("ScaleDownSource")[0] - rig.entered("HoldSource")[0] >= 600  # the hold lasted, watched


def test_a_dead_source_is_not_rolled_back_onto(aws: emulator.Session) -> None:
    """Defect 8: the source pool fails (the VPN goes down) while the target serves. Rolling back would send every
    payment to a dead pool: traffic stays on the healthy target, on-call is paged, the execution fails."""
    rig = Rig(aws, make_targets(), CutoverInput())

    def source_dies(entered: emulator.Entered) -> None:
        rig.standins.pool_dies("legacy")
        rig.standins.set_gate("ALARM", "legacy unreachable", GATE_MEMBERS[0])

    aws.control.when_entered("BakeWait", source_dies)
    result = rig.run()
    # The gate alarm's rule stopped the cutover (ABORTED) and its rollback found the source dead.
    assert result.status == "ABORTED"
    assert result.weights == {"legacy": 0, "blue": 100, "green": 0}
    assert [n["subject"] for n in rig.standins.notices()] == ["PAGE: source pool unhealthy (dev)"]
    gate_rollback = aws.events.delivered[0]["executionArn"]
    assert rig.finish(gate_rollback).error == "SourcePoolUnhealthy"


def test_the_cutovers_own_rollback_keeps_a_dead_source_out_too(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())

    def source_dies(entered: emulator.Entered) -> None:
        rig.standins.pool_dies("legacy")
        rig.standins.set_gate("ALARM", "legacy unreachable", GATE_MEMBERS[0])

    aws.control.when_entered("Bake", source_dies)  # before the bake's first reading: the cutover sees it first
    result = rig.run()
    assert result.error == "SourcePoolUnhealthy"
    assert result.weights == {"legacy": 0, "blue": 100, "green": 0}
    assert [n["subject"] for n in rig.standins.notices()] == ["PAGE: source pool unhealthy (dev)"]


def test_rollback_machine_stops_a_running_cutover_and_moves_traffic_back(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rollbacks: list[str] = []
    # The operator starts the rollback while the first step bakes.
    aws.control.when_entered("Bake", lambda entered: rollbacks.append(rig.start(rig.rollback_arn, {})))
    started = rig.start(
        rig.cutover_arn, {**FAST, "bakeSeconds": 10 * GATE_WINDOW, "taskDefinition": rig.standins.task_definition_arn}
    )
    aws.wait(started)
    aws.settle()
    assert len(rollbacks) == 1
    result = rig.finish(rollbacks[0])
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == START and rig.standins.phase() == "rolled-back"
    assert rig.sfn.describe_execution(executionArn=started)["status"] == "ABORTED"
    assert [c["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][1]["Weight"] for c in rig.listener_calls()] == [
        10
    ]  # the cutover never reached its second step


def test_an_operator_rollback_defaults_to_the_last_cutovers_source_pool(aws: emulator.Session) -> None:
    """Defect 7: after a blue -> green release, `invoke rollback` with no pool sent everything to on-prem (the
    configured sourcePool). The default is the source of the last cutover, from its run record."""
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_weights({"legacy": 0, "blue": 100, "green": 0})
    assert rig.run({"sourcePool": "blue", "targetPool": "green"}).succeeded
    result = rig.finish(rig.start(rig.rollback_arn, {}))
    assert result.status == "SUCCEEDED" and result.weights == {"legacy": 0, "blue": 100, "green": 0}


def test_rollback_to_a_pool_without_healthy_targets_needs_force(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput(), target_pools_ready=False)
    result = rig.finish(rig.start(rig.rollback_arn, {"pool": "green"}))
    assert result.error == "PoolUnhealthy" and result.weights == START
    result = rig.finish(rig.start(rig.rollback_arn, {"pool": "green", "force": True}))
    assert result.weights["green"] == 100


def test_a_cutover_refuses_while_another_cutover_runs(aws: emulator.Session) -> None:
    """Defect 6: a second execution started from the console passed the listener check too."""
    rig = Rig(aws, make_targets(), CutoverInput())
    seconds: list[str] = []
    aws.control.when_entered(  # a second cutover is started while the first bakes
        "BakeWait",
        lambda entered: seconds.append(
            rig.start(rig.cutover_arn, {**FAST, "taskDefinition": rig.standins.task_definition_arn})
        ),
    )
    first = rig.run()
    assert first.status == "SUCCEEDED", first.cause
    refused = rig.finish(seconds[0])
    assert refused.error == "AnotherExecutionRunning" and "nothing was changed" in (refused.cause or "")
    assert "RecordRun" not in names(refused) and "SetWeights" not in names(refused)
    assert names(first).count("SetWeights") == 3  # the first went on, untouched


def test_a_cutover_refuses_while_a_rollback_runs(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rollbacks: list[str] = []
    aws.control.when_entered("Alone", lambda entered: rollbacks.append(rig.start(rig.rollback_arn, {"pool": "legacy"})))
    refused = rig.run()
    assert refused.error == "AnotherExecutionRunning"
    assert "RecordRun" not in names(refused) and refused.weights == START
    assert rig.finish(rollbacks[0]).status == "SUCCEEDED"


def test_emulator_adapter_never_changes_the_definition(aws: emulator.Session) -> None:
    t = make_targets()
    definition = json.dumps(cutover_definition(t, CutoverInput()))
    rig = Rig(aws, t, CutoverInput())
    stored = rig.sfn.describe_state_machine(stateMachineArn=rig.cutover_arn)["definition"]
    assert json.loads(stored) == json.loads(definition)
    assert Pool.LEGACY.value in rig.standins.weights()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bakeSeconds", -1),
        ("bakeSeconds", "abc"),
        ("bakeSeconds", 250.5),
        ("bakeSeconds", None),
        ("bakeSeconds", GATE_WINDOW - 1),
        ("pollSeconds", 901),
        ("pollSeconds", 0),
        ("holdSeconds", -5),
        ("maxPolls", 0),
        ("maxPolls", 2.5),
    ],
)
def test_a_bad_wait_in_the_input_is_refused_before_traffic_moves(aws: emulator.Session, key: str, value: Any) -> None:
    """A Wait with such seconds throws States.Runtime (no Catch): unchecked, traffic would stay split, silently."""
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({key: value})
    assert result.status == "FAILED" and result.error == "InvalidInput", (result.error, result.cause)
    assert f"{key} {json.dumps(value)}" in (result.cause or "") and "nothing was changed" in (result.cause or "")
    assert f"bakeSeconds {GATE_WINDOW}-" in (result.cause or "")  # the bound the gate's window sets
    assert rig.listener_calls() == [] and result.weights == START
    assert "ReadPhase" not in names(result) and rig.standins.phase() == "parallel-run"
    assert rig.standins.notices() == []


def test_waits_past_the_history_budget_are_refused_before_traffic_moves(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({"bakeSeconds": 65 * 60, "pollSeconds": 60})  # 65 gate reads a bake, the budget allows 64
    assert result.error == "InvalidInput" and "raise pollSeconds" in (result.cause or "")
    assert rig.run({"bakeSeconds": 64 * 60, "pollSeconds": 60, "steps": [100]}).succeeded


def test_whole_waits_written_as_decimals_are_used_as_integers(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({"bakeSeconds": float(GATE_WINDOW), "pollSeconds": 120.0, "maxPolls": 3.0})
    assert result.status == "SUCCEEDED", result.cause
    bake = next(
        e for e in rig.history() if e["type"] == "PassStateEntered" and e["stateEnteredEventDetails"]["name"] == "Bake"
    )
    config = json.loads(bake["stateEnteredEventDetails"]["input"])["config"]
    assert (config["bakeSeconds"], config["pollSeconds"], config["maxPolls"]) == (GATE_WINDOW, 120, 3)
    assert all(type(config[k]) is int for k in ("bakeSeconds", "pollSeconds", "holdSeconds", "maxPolls"))


@pytest.mark.parametrize(
    "start",
    [{"legacy": 90, "blue": 10, "green": 0}, {"legacy": 0, "blue": 100, "green": 0}],
    ids=["split", "wrong-source"],
)
def test_a_listener_not_all_on_the_source_pool_is_refused_untouched(
    aws: emulator.Session, start: dict[str, int]
) -> None:
    """A split left by a stopped execution (or a wrong sourcePool): Abort would leave it, so nothing starts."""
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_weights(start)
    result = rig.run()
    assert result.status == "FAILED" and result.error == "ListenerNotOnSource", (result.error, result.cause)
    assert "does not send 100% of traffic to the source pool legacy" in (result.cause or "")
    assert "invoke rollback" in (result.cause or "") and "nothing was changed" in (result.cause or "")
    assert rig.listener_calls() == [] and result.weights == start  # refused, never "restored" by guesswork
    assert rig.standins.phase() == "parallel-run" and "ReadPhase" not in names(result)
    service = aws.client("ecs").describe_services(cluster="cluster-dev", services=["app-blue-dev"])["services"][0]
    assert service["desiredCount"] == 2  # the target service (serving live traffic) was not redeployed either


def test_after_a_rollback_of_the_split_the_cutover_runs(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_weights({"legacy": 50, "blue": 50, "green": 0})
    assert rig.run().error == "ListenerNotOnSource"
    assert rig.finish(rig.start(rig.rollback_arn, {"pool": "legacy"})).weights == START
    result = rig.run()
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == {"legacy": 0, "blue": 100, "green": 0}


def test_the_gate_is_watched_after_the_last_step_even_from_legacy(aws: emulator.Session) -> None:
    """The on-prem pool is never scaled down, but a failure that shows only at 100 % must still bring traffic
    back while it is warm: the hold watches the gate whatever the source."""
    rig = Rig(aws, make_targets(), CutoverInput())
    hold = {"holdSeconds": 4 * FAST["pollSeconds"]}
    cloudwatch = aws.client("cloudwatch")
    ticks: list[float] = []

    def breach_on_second_reading(entered: Any) -> None:
        ticks.append(entered.at)
        if len(ticks) == 2:
            cloudwatch.set_alarm_state(AlarmName=rig.targets.gate_alarm_name, StateValue="ALARM", StateReason="t")

    aws.control.when_entered("HoldSourceTick", breach_on_second_reading, once=False)
    result = rig.run(hold)
    assert result.status == "FAILED" and result.error == "CutoverRolledBack", result.cause
    assert "during the hold" in (result.cause or "")
    assert result.weights == START  # back on legacy
    assert rig.standins.phase() == "rolled-back"
