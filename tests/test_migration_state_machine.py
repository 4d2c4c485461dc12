"""The cutover and rollback definitions as data: real service names, PascalCase, AWS's API models, safe paths."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from payments.cutover.emulator.adapter import SERVICE_NAMES
from payments.layers.migration.machines import Targets, cutover_definition, rollback_definition, task_resources
from payments.layers.migration.machines.asl import lit
from payments.layers.migration.machines.inputs import COMPLEMENT
from payments.layers.migration.schedule import CutoverInput, Pool

A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
SDK_SERVICES = {"elasticloadbalancingv2", "cloudwatch", "databasemigration", "ecs", "ssm", "sfn"}


def targets(*, dms: bool = False, ecs: bool = True, gate: str = "cutover-gate-dev") -> Targets:
    return Targets(
        environment="dev",
        listener_arn=A + "listener/app/alb-dev/0123456789abcdef/0123456789abcdef",
        target_group_arns={p.value: A + f"targetgroup/tg-{p.value}-dev/0123456789abcdef" for p in Pool},
        gate_alarm_name=gate,
        phase_parameter_name="/payments/dev/migration/phase",
        topic_arn="arn:aws:sns:us-east-1:123456789012:alarms-dev",
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
    ] + [rollback_definition(targets(), "arn:aws:states:us-east-1:123456789012:stateMachine:cutover-dev")]


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
        "ScaleTargetService",
        "DescribeTargetService",
        "DescribeTargetHealth",
        "Preflight",
    ]
    after = ["SetWeights", "CheckGate", "RecordComplete", "CheckGateAfterHold"]
    assert all(d[n]["Catch"][0]["Next"] == "Abort" for n in before)
    assert all(d[n]["Catch"][0]["Next"] == "Rollback" for n in after)
    assert d["Abort"]["Parameters"]["Value.$"] == "$.phase.previous"  # the listener is never touched on abort
    assert "modifyListener" not in d["Abort"]["Resource"]
    assert {g["Weight"] for g in d["Rollback"]["Parameters"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]} == {
        100,
        0,
    }
    assert d["Rollback"]["Retry"][0]["MaxAttempts"] >= 5
    assert d["RolledBack"]["Type"] == "Fail" and d["Aborted"]["Type"] == "Fail"


def test_waits_come_from_the_input_and_defaults_from_config() -> None:
    defaults = CutoverInput(steps=(5, 25, 100), bake_seconds=900, task_definition="app:7")
    d = states(cutover_definition(targets(), defaults))
    assert d["Defaults"]["Result"]["steps"] == [5, 25, 100]
    assert d["Defaults"]["Result"]["taskDefinition"] == "app:7"
    assert {d[n]["SecondsPath"] for n in ("Bake", "WaitForTarget", "HoldSource")} == {
        "$.config.bakeSeconds",
        "$.config.pollSeconds",
        "$.config.holdSeconds",
    }
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
    assert "gate \\{odd\\}\\'" in d["States"]["GateBreached"]["Parameters"]["Cause.$"]


def test_rollback_definition_stops_cutovers_and_checks_health_unless_forced() -> None:
    d = states(
        rollback_definition(targets(), "arn:aws:states:us-east-1:123456789012:stateMachine:cutover-dev", Pool.BLUE)
    )
    assert d["Defaults"]["Result"] == {"pool": "blue", "force": False}
    assert d["ListRunningCutovers"]["Parameters"]["StatusFilter"] == "RUNNING"
    assert d["StopCutover"]["Resource"].endswith("sfn:stopExecution")
    assert [g["Weight"] for g in d["PoolLegacy"]["Result"]["targetGroups"]] == [100, 0, 0]
    assert d["Forced"]["Default"] == "DescribePoolHealth"


def _path_to(definition: dict[str, Any], goal: str) -> list[str]:
    """The states the execution passes through on its way to `goal` when every check passes (first choice)."""
    path, name = [], definition["StartAt"]
    scope = definition["States"]
    while name != goal:
        path.append(name)
        state = scope[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]
    return path


def test_waits_and_the_listener_are_checked_before_anything_changes() -> None:
    d = cutover_definition(targets(dms=True), CutoverInput())
    before = _path_to(d, "ReadPhase")
    assert before[:3] == ["Defaults", "ApplyInput", "CheckWaits"]
    assert "ReadListener" in before and before.index("CheckWaits") < before.index("ResolvePools")
    s = states(d)
    # the only call before the phase is recorded reads the listener; nothing writes
    assert [s[n]["Resource"] for n in before if s[n]["Type"] == "Task"] == [
        "arn:aws:states:::aws-sdk:elasticloadbalancingv2:describeListeners"
    ]
    rules = s["CheckWaits"]["Choices"][0]["And"]
    for key, low, high in [
        ("bakeSeconds", 0, 86400),
        ("pollSeconds", 0, 86400),
        ("holdSeconds", 0, 86400),
        ("maxPolls", 1, 1000),
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
