"""The cutover and rollback state machines executed in the embedded emulator (moto), through the adapter.

Every test runs the real definition against stand-ins and asserts what matters to
payments: where the traffic ends, the recorded phase, the notice, the outcome,
and that failures before traffic moves never touch the listener.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest

from payments.cutover import emulator, execution, rehearsal
from payments.layers.migration.machines import Targets, cutover_definition, rollback_definition
from payments.layers.migration.schedule import CutoverInput, Pool
from tests.test_migration_state_machine import targets as make_targets

FAST = dict(rehearsal.FAST)
START = {"legacy": 100, "blue": 0, "green": 0}


class Rig:
    def __init__(
        self, session: emulator.Session, targets: Targets, defaults: CutoverInput, **standin_options: Any
    ) -> None:
        self.session = session
        self.targets = targets
        self.standins = rehearsal.create_standins(session, targets, START, **standin_options)
        self.cutover_arn = rehearsal.create_state_machine(session, cutover_definition(targets, defaults), "cutover-dev")
        self.rollback_arn = rehearsal.create_state_machine(
            session, rollback_definition(targets, self.cutover_arn, defaults.source_pool), "rollback-dev"
        )
        self.sfn = session.client("stepfunctions")

    def run(self, payload: dict[str, Any] | None = None, fail_at: int | None = None) -> execution.Outcome:
        doc = {**FAST, "taskDefinition": self.standins.task_definition_arn, **(payload or {})}
        return rehearsal.run(self.standins, self.cutover_arn, doc, fail_at=fail_at)

    def start(self, state_machine_arn: str, payload: dict[str, Any]) -> str:
        return self.sfn.start_execution(
            name=uuid.uuid4().hex, stateMachineArn=state_machine_arn, input=json.dumps(payload)
        )["executionArn"]

    def finish(self, execution_arn: str) -> execution.Outcome:
        """The outcome of an execution once it has ended (waited for by event, not by polling)."""
        self.session.wait(execution_arn)
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
    assert rig.standins.phase() == "cutover-complete"
    weights = [
        [g["Weight"] for g in c["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]] for c in rig.listener_calls()
    ]
    assert weights == [[90, 10, 0], [50, 50, 0], [0, 100, 0]]  # source, target, other at each step
    service = boto3.client("ecs", region_name=emulator.REGION).describe_services(
        cluster="cluster-dev", services=["app-blue-dev"]
    )["services"][0]
    assert service["desiredCount"] == 3  # the application stage scaled the target service
    assert [n["subject"] for n in rig.standins.notices()] == ["Cutover complete (dev)"]


@pytest.mark.parametrize("step", [10, 50, 100])
def test_gate_alarm_during_any_step_rolls_back(aws: emulator.Session, step: int) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run(fail_at=step)
    assert result.status == "FAILED" and result.error == "CutoverRolledBack"
    assert f"with {step}% of traffic on blue" in (result.cause or "")
    assert result.weights == {"legacy": 100, "blue": 0, "green": 0}
    assert rig.standins.phase() == "rolled-back"
    notices = rig.standins.notices()
    assert [n["subject"] for n in notices] == ["Cutover rolled back (dev)"]
    assert "back to 100% on legacy" in notices[0]["message"]
    assert names(result).count("SetWeights") == [10, 50, 100].index(step) + 1  # no step after the alarm


def _assert_nothing_moved(rig: Rig, result: execution.Outcome, error: str) -> None:
    assert result.status == "FAILED" and result.error == "CutoverAborted"
    assert f"({error})" in (result.cause or "")
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
    task = boto3.client("dms", region_name=emulator.REGION).describe_replication_tasks()["ReplicationTasks"][0]
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
    # A second, still-active deployment: what a rollout stuck on failing health checks looks like.
    service.deployments.append({**service.deployments[0], "id": "ecs-svc/stuck", "status": "ACTIVE"})
    result = rig.run({"maxPolls": 2})
    _assert_nothing_moved(rig, result, "TargetNotReady")
    assert names(result).count("ServiceStable") == 2 and "DescribeTargetHealth" not in names(result)


def test_gate_not_ok_before_traffic_aborts(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rig.standins.set_gate("ALARM")
    _assert_nothing_moved(rig, rig.run(), "GateAlarm")


def test_api_error_in_a_task_rolls_back(aws: emulator.Session) -> None:
    from moto.cloudwatch.exceptions import InvalidParameterValue
    from moto.cloudwatch.models import CloudWatchBackend

    real = CloudWatchBackend.get_alarms_by_alarm_names
    calls = {"n": 0}

    def flaky(self: Any, alarm_names: list[str]) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:  # the preflight passes; every gate check after the first step fails
            raise InvalidParameterValue("injected API failure")
        return real(self, alarm_names)

    rig = Rig(aws, make_targets(), CutoverInput())
    with mock.patch.object(CloudWatchBackend, "get_alarms_by_alarm_names", flaky):
        result = rig.run()
    assert result.error == "CutoverRolledBack"
    assert "injected API failure" in (result.cause or "")
    assert result.weights == START and rig.standins.phase() == "rolled-back"
    assert calls["n"] == 1 + 3  # the gate check was tried once and retried twice before the rollback


def test_invalid_schedule_in_the_input_changes_nothing(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({"steps": [50, 10, 100]})
    assert result.error == "InvalidInput" and "ReadPhase" not in names(result)
    assert rig.standins.phase() == "parallel-run" and result.weights == START
    result = rig.run({"steps": [10, 50]})
    assert result.error == "InvalidInput" and "last step must be 100" in (result.cause or "")


def test_blue_to_green_scales_the_source_down_after_the_hold(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    boto3.client("elbv2", region_name=emulator.REGION).modify_listener(
        ListenerArn=rig.targets.listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": arn, "Weight": 100 if pool == "blue" else 0}
                        for pool, arn in rig.targets.target_group_arns.items()
                    ]
                },
            }
        ],
    )
    result = rig.run({"sourcePool": "blue", "targetPool": "green", "scaleDownSource": True, "steps": [50, 100]})
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == {"legacy": 0, "blue": 0, "green": 100}
    ecs = boto3.client("ecs", region_name=emulator.REGION)
    blue = ecs.describe_services(cluster="cluster-dev", services=["app-blue-dev"])["services"][0]
    assert blue["desiredCount"] == 0 and "HoldSource" in names(result)


def test_rollback_machine_stops_a_running_cutover_and_moves_traffic_back(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    rollbacks: list[str] = []
    # The operator starts the rollback while the first step bakes (30 virtual seconds).
    aws.control.when_entered("Bake", lambda entered: rollbacks.append(rig.start(rig.rollback_arn, {})))
    started = rig.start(
        rig.cutover_arn, {**FAST, "bakeSeconds": 30, "taskDefinition": rig.standins.task_definition_arn}
    )
    aws.wait(started)
    assert len(rollbacks) == 1
    result = rig.finish(rollbacks[0])
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == START and rig.standins.phase() == "rolled-back"
    assert rig.sfn.describe_execution(executionArn=started)["status"] == "ABORTED"
    assert [c["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][1]["Weight"] for c in rig.listener_calls()] == [
        10
    ]  # the cutover never reached its second step


def test_rollback_to_a_pool_without_healthy_targets_needs_force(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput(), target_pools_ready=False)
    result = rig.finish(rig.start(rig.rollback_arn, {"pool": "green"}))
    assert result.error == "PoolUnhealthy" and result.weights == START
    result = rig.finish(rig.start(rig.rollback_arn, {"pool": "green", "force": True}))
    assert result.weights["green"] == 100


def test_emulator_adapter_never_changes_the_definition(aws: emulator.Session) -> None:
    t = make_targets()
    definition = json.dumps(cutover_definition(t, CutoverInput()))
    rig = Rig(aws, t, CutoverInput())
    stored = rig.sfn.describe_state_machine(stateMachineArn=rig.cutover_arn)["definition"]
    assert json.loads(stored) == json.loads(definition)
    assert Pool.LEGACY.value in rig.standins.weights()


def _weights_to(rig: Rig, weights: dict[str, int]) -> None:
    groups = [
        {"TargetGroupArn": arn, "Weight": weights.get(pool, 0)} for pool, arn in rig.targets.target_group_arns.items()
    ]
    boto3.client("elbv2", region_name=emulator.REGION).modify_listener(
        ListenerArn=rig.targets.listener_arn,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bakeSeconds", -1),
        ("bakeSeconds", "abc"),
        ("bakeSeconds", 1.5),
        ("bakeSeconds", None),
        ("pollSeconds", 86401),
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
    assert "whole seconds 0-86400" in (result.cause or "") and "maxPolls a whole number 1-1000" in (result.cause or "")
    assert rig.listener_calls() == [] and result.weights == START
    assert "ReadPhase" not in names(result) and rig.standins.phase() == "parallel-run"
    assert rig.standins.notices() == []


def test_whole_waits_written_as_decimals_are_used_as_integers(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    result = rig.run({"bakeSeconds": 1.0, "pollSeconds": 1.0, "maxPolls": 3.0})
    assert result.status == "SUCCEEDED", result.cause
    bake = next(
        e for e in rig.history() if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "Bake"
    )
    config = json.loads(bake["stateEnteredEventDetails"]["input"])["config"]
    assert (config["bakeSeconds"], config["pollSeconds"], config["maxPolls"]) == (1, 1, 3)
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
    _weights_to(rig, start)
    result = rig.run()
    assert result.status == "FAILED" and result.error == "ListenerNotOnSource", (result.error, result.cause)
    assert "does not send 100% of traffic to the source pool legacy" in (result.cause or "")
    assert "invoke rollback" in (result.cause or "") and "nothing was changed" in (result.cause or "")
    assert rig.listener_calls() == [] and result.weights == start  # refused, never "restored" by guesswork
    assert rig.standins.phase() == "parallel-run" and "ReadPhase" not in names(result)
    service = boto3.client("ecs", region_name=emulator.REGION).describe_services(
        cluster="cluster-dev", services=["app-blue-dev"]
    )["services"][0]
    assert service["desiredCount"] == 2  # the target service (serving live traffic) was not redeployed either


def test_after_a_rollback_of_the_split_the_cutover_runs(aws: emulator.Session) -> None:
    rig = Rig(aws, make_targets(), CutoverInput())
    _weights_to(rig, {"legacy": 50, "blue": 50, "green": 0})
    assert rig.run().error == "ListenerNotOnSource"
    assert rig.finish(rig.start(rig.rollback_arn, {})).weights == START
    result = rig.run()
    assert result.status == "SUCCEEDED", result.cause
    assert result.weights == {"legacy": 0, "blue": 100, "green": 0}
