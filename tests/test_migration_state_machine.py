"""The cutover and rollback definitions as data: real service names, PascalCase, AWS's API models, safe paths."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from payments.cutover.emulator.adapter import SERVICE_NAMES
from payments.layers.migration import budget
from payments.layers.migration.machines import Targets, cutover_definition, rollback_definition, task_resources
from payments.layers.migration.machines.asl import lit
from payments.layers.migration.machines.inputs import COMPLEMENT
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.schedule import CutoverInput, Pool

A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
SDK_SERVICES = {"elasticloadbalancingv2", "cloudwatch", "databasemigration", "ecs", "ssm", "sfn"}


NAMES = MigrationNames("dev", "us-east-1", "123456789012")
GATE_MEMBERS = ("tg-blue-5xx-dev", "tg-blue-unhealthy-dev", "tg-green-5xx-dev")
#: The gate window the tests' targets carry (observability's gateWindowSeconds for 3 x 60 s + 60 s).
GATE_WINDOW = 240


def targets(*, dms: bool = False, ecs: bool = True, gate: str = "cutover-gate-dev") -> Targets:
    return Targets(
        environment="dev",
        listener_arn=A + "listener/app/alb-dev/0123456789abcdef/0123456789abcdef",
        target_group_arns={p.value: A + f"targetgroup/tg-{p.value}-dev/0123456789abcdef" for p in Pool},
        gate_alarm_name=gate,
        phase_parameter_name=NAMES.phase_parameter,
        topic_arn="arn:aws:sns:us-east-1:123456789012:alarms-dev",
        machine_arns=NAMES.machine_arns,
        run_parameter_name=NAMES.run_parameter,
        gate_members=GATE_MEMBERS,
        gate_window_seconds=GATE_WINDOW,
        cluster_name="cluster-dev" if ecs else None,
        service_names={"blue": "app-blue-dev", "green": "app-green-dev"} if ecs else {},
        dms_task_arn="arn:aws:dms:us-east-1:123456789012:task:dms-task-dev" if dms else None,
        dms_latency_alarm_name="dms-cdc-latency-dev" if dms else None,
    )


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = dict(definition["States"])
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            out.update(state["ItemProcessor"]["States"])
    return out


def all_definitions() -> list[dict[str, Any]]:
    return [
        cutover_definition(targets(dms=dms, ecs=ecs), CutoverInput()) for dms in (False, True) for ecs in (True, False)
    ] + [rollback_definition(targets())]


@pytest.mark.parametrize("definition", all_definitions())
def test_only_service_integrations_with_real_service_names(definition: dict[str, Any]) -> None:
    for resource in task_resources(definition):
        if resource == "arn:aws:states:::sns:publish":
            continue
        match = re.fullmatch(r"arn:aws:states:::aws-sdk:([a-z0-9]+):([a-z][A-Za-z]+)", resource)
        assert match, resource
        assert match.group(1) in SDK_SERVICES, resource


def _check_against_model(params: dict[str, Any], shape: Any, where: str) -> None:
    """Every parameter exists in AWS's model (PascalCase, matched case-insensitively as Step Functions does)."""
    members = {name.lower(): member for name, member in shape.members.items()}
    for key, value in params.items():
        name = key[:-2] if key.endswith(".$") else key
        assert name[:1].isupper(), f"{where}: parameter {name} is not PascalCase"
        assert name.lower() in members, f"{where}: {name} is not a member of {shape.name}"
        member = members[name.lower()]
        if key.endswith(".$"):
            continue
        if member.type_name == "structure":
            _check_against_model(value, member, f"{where}.{name}")
        elif member.type_name == "list" and member.member.type_name == "structure":
            for item in value:
                _check_against_model(item, member.member, f"{where}.{name}[]")
    for required in shape.required_members:
        assert required.lower() in {(k[:-2] if k.endswith(".$") else k).lower() for k in params}, (
            f"{where}: required {required} missing"
        )


def check_sdk_tasks(definition: dict[str, Any]) -> int:
    """Check every ``aws-sdk:`` task's Parameters against its botocore operation; the number of tasks checked."""
    models = botocore.session.get_session()
    checked = 0
    for name, state in states(definition).items():
        resource = state.get("Resource", "")
        if not resource.startswith("arn:aws:states:::aws-sdk:"):
            continue
        service, action = resource.rsplit(":", 2)[-2:]
        boto_name = {"sfn": "stepfunctions", **SERVICE_NAMES}.get(service, service)
        operation = models.get_service_model(boto_name).operation_model(action[0].upper() + action[1:])
        _check_against_model(state["Parameters"], operation.input_shape, f"{name} {service}:{action}")
        checked += 1
    return checked


@pytest.mark.parametrize("definition", all_definitions())
def test_parameters_match_the_aws_api_models(definition: dict[str, Any]) -> None:
    assert check_sdk_tasks(definition) >= 5


def test_every_transition_exists_and_every_state_is_reachable() -> None:
    for definition in all_definitions():
        for scope in [definition] + [s["ItemProcessor"] for s in definition["States"].values() if "ItemProcessor" in s]:
            names = set(scope["States"])
            nexts = {scope["StartAt"]}
            for state in scope["States"].values():
                nexts |= {state.get("Next"), state.get("Default")} - {None}
                nexts |= {c["Next"] for c in state.get("Choices", [])}
                nexts |= {c["Next"] for c in state.get("Catch", [])}
            assert nexts <= names, nexts - names
            assert names <= nexts, f"unreachable: {names - nexts}"


def test_before_traffic_failures_abort_and_after_roll_back() -> None:
    d = states(cutover_definition(targets(dms=True), CutoverInput()))
    before = [
        "RecordPhase",
        "DescribeDmsTask",
        "StartDmsTask",
        "CheckDmsProgress",
        "CheckDmsLatency",
        "DeployTargetService",
        "ReadTargetService",
        "ScaleTargetService",
        "DescribeTargetService",
        "DescribeTargetHealth",
        "Preflight",
        "RecordTraffic",
    ]
    after = ["SetWeights", "BakeGate"]
    assert all(d[n]["Catch"][0]["Next"] == "Abort" for n in before)
    assert all(d[n]["Catch"][0]["Next"] == "Rollback" for n in after)
    assert d["AbortPhase"]["Parameters"]["Value.$"] == "$.phase.previous"  # the listener is never touched on abort
    assert not any("modifyListener" in d[n].get("Resource", "") for n in d if n.startswith("Abort"))
    back = d["RollbackToSource"]["Parameters"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert [g.get("Weight") for g in back] == [100, 0, 0]  # source, target, other
    assert d["RollbackToSource"]["Retry"][0]["MaxAttempts"] >= 5
    assert d["RolledBack"]["Type"] == "Fail" and d["Aborted"]["Type"] == "Fail"


def test_bookkeeping_after_completion_never_fails_the_execution() -> None:
    """A throttled PutParameter or a refused scale-down after 100 % must not undo (or fail) a healthy cutover."""
    d = states(cutover_definition(targets(), CutoverInput(source_pool=Pool.BLUE, target_pool=Pool.GREEN)))
    assert d["RecordComplete"]["Catch"][0]["Next"] == "PhaseNotRecorded"
    assert d["PhaseNotRecorded"]["Next"] == "NotifyComplete"
    assert d["ScaleDownSource"]["Catch"][0]["Next"] == "ScaleDownFailed"
    assert d["ScaleDownFailed"]["Next"] == d["HoldSourceGate"]["Catch"][0]["Next"].replace(
        "HoldGateUnreadable", "CutoverComplete"
    )
    assert d["CutoverComplete"]["Type"] == "Succeed"
    reachable_fail = [
        n for n in ("PhaseNotRecorded", "ScaleDownFailed", "HoldGateUnreadable") if d[n]["Type"] == "Fail"
    ]
    assert reachable_fail == []


def test_notices_never_read_a_cause_that_may_be_missing() -> None:
    """AWS: a caught error "usually" has a Cause. A Format over a missing $.error.Cause is an uncatchable
    States.Runtime, so no notice or message may read it directly."""
    for definition in all_definitions():
        for name, state in states(definition).items():
            text = str(state.get("Parameters", {}))
            assert "$.error.Cause" not in text, name


def test_waits_come_from_the_input_and_defaults_from_config() -> None:
    defaults = CutoverInput(
        steps=(5, 25, 100),
        bake_seconds=900,
        task_definition="arn:aws:ecs:us-east-1:123456789012:task-definition/app:7",
    )
    d = states(cutover_definition(targets(), defaults))
    assert d["Defaults"]["Result"]["steps"] == [5, 25, 100]
    assert d["Defaults"]["Result"]["taskDefinition"].endswith("task-definition/app:7")
    assert {d[n]["SecondsPath"] for n in ("BakeWait", "WaitForTarget", "HoldSourceWait")} == {"$.config.pollSeconds"}
    assert d["BakeElapsed"]["Choices"][0]["NumericGreaterThanEqualsPath"] == "$.config.bakeSeconds"
    assert d["HoldSourceElapsed"]["Choices"][0]["NumericGreaterThanEqualsPath"] == "$.config.holdSeconds"
    assert not any("Seconds" in s for s in d.values())  # no wait is baked into the definition


def test_dms_stage_only_when_configured_and_ecs_steps_only_with_services() -> None:
    plain = cutover_definition(targets(), CutoverInput())
    assert not any("databasemigration" in r for r in task_resources(plain))
    assert plain["States"]["RecordPhase"]["Next"] == "TargetHasService"
    with_dms = cutover_definition(targets(dms=True), CutoverInput())
    assert with_dms["States"]["RecordPhase"]["Next"] == "DescribeDmsTask"
    ec2 = cutover_definition(targets(ecs=False), CutoverInput())
    assert ec2["States"]["PoolsLegacyToBlue"]["Result"]["target"]["hasService"] is False


def test_weights_table_and_format_escaping() -> None:
    assert COMPLEMENT[10] == 90 and COMPLEMENT[100] == 0 and len(COMPLEMENT) == 101
    assert lit("gate {x}'s") == "gate \\{x\\}\\'s"
    d = cutover_definition(targets(gate="gate {odd}'"), CutoverInput())
    assert "gate \\{odd\\}\\'" in d["States"]["GateBreachedError"]["Parameters"]["Cause.$"]


def test_rollback_definition_stops_cutovers_and_checks_health_unless_forced() -> None:
    d = states(rollback_definition(targets()))
    assert d["Defaults"]["Result"] == {"force": False, "trigger": "operator"}
    assert d["StopCutovers"]["Parameters"]["StatusFilter"] == "RUNNING"
    assert d["StopCutovers"]["Parameters"]["StateMachineArn"] == NAMES.machine_arn("cutover")
    assert d["StopCutoversOne"]["Resource"].endswith("sfn:stopExecution")
    assert [g["Weight"] for g in d["PoolLegacy"]["Result"]["targetGroups"]] == [100, 0, 0]
    assert d["Forced"]["Default"] == "PoolHealth"
    assert rollback_definition(targets())["TimeoutSeconds"] == 3600


def _path_to(definition: dict[str, Any], goal: str) -> list[str]:
    """The states the execution passes through on its way to `goal` when every check passes: at each Choice, the
    first branch that does not lead to a refusal (a Fail, directly or through one Pass)."""
    scope = definition["States"]

    def refuses(name: str) -> bool:
        state = scope[name]
        return state["Type"] == "Fail" or (state["Type"] == "Pass" and scope[state["Next"]]["Type"] == "Fail")

    path, name = [], definition["StartAt"]
    while name != goal:
        path.append(name)
        state = scope[name]
        if state["Type"] == "Choice":
            branches = [c["Next"] for c in state["Choices"]] + [state["Default"]]
            name = next(b for b in branches if not refuses(b))
        else:
            name = state["Next"]
    return path


def test_waits_and_the_listener_are_checked_before_anything_changes() -> None:
    d = cutover_definition(targets(dms=True), CutoverInput())
    before = _path_to(d, "ReadPhase")
    assert before[:3] == ["Defaults", "ApplyInput", "CheckWaits"]
    assert "ReadListener" in before and before.index("CheckWaits") < before.index("ResolvePools")
    assert before.index("AloneCutover") < before.index("ReadListener")
    s = states(d)
    # before the run is recorded, calls only read: the two lists of running executions, then the listener
    assert [s[n]["Resource"] for n in before if s[n]["Type"] == "Task"] == [
        "arn:aws:states:::aws-sdk:sfn:listExecutions",
        "arn:aws:states:::aws-sdk:sfn:listExecutions",
        "arn:aws:states:::aws-sdk:elasticloadbalancingv2:describeListeners",
    ]
    rules = s["CheckWaits"]["Choices"][0]["And"]
    for key, low, high in [
        ("bakeSeconds", GATE_WINDOW, budget.MAX_BAKE_SECONDS),
        ("pollSeconds", 1, budget.MAX_POLL_SECONDS),
        ("holdSeconds", 0, budget.MAX_HOLD_SECONDS),
        ("maxPolls", 1, budget.MAX_POLLS),
    ]:
        path = f"$.config.{key}"
        assert {"Variable": path, "IsNumeric": True} in rules
        assert {"Variable": path, "NumericGreaterThanEquals": low} in rules
        assert {"Variable": path, "NumericLessThanEquals": high} in rules
        # whole numbers: MathAdd(x, 0) rounds a fraction, so only a whole x equals it; the sums replace the input
        assert s["WholeWaits"]["Parameters"][f"{key}.$"] == f"States.MathAdd({path}, 0)"
    assert s["CheckWaits"]["Default"] == s["WaitsWhole"]["Default"] == "WaitsInvalid"
    assert s["UseWholeWaits"]["Parameters"] == {"config.$": "States.JsonMerge($.config, $.whole, false)"}
    assert s["InvalidWaits"] == {"Type": "Fail", "Error": "InvalidInput", "CausePath": "$.invalid.message"}
    # the listener: exactly one target group with weight > 0, and it is the source pool's
    assert s["ReadListener"]["Catch"][0]["Next"] == "ListenerUnreadable"
    assert s["ListenerOnSource"]["Default"] == "TrafficNotOnSource"
    assert s["ListenerNotOnSource"]["Error"] == "ListenerNotOnSource"
    assert "Weight > 0" in s["ReadListener"]["ResultSelector"]["serving.$"]
