"""The small vocabulary every state machine here is built from: Amazon States Language, as pure functions.

Only AWS SDK service integrations are used (``arn:aws:states:::aws-sdk:<service>:<action>`` with the service
names Step Functions documents: elasticloadbalancingv2, cloudwatch, databasemigration, ecs, ssm, sfn) plus the
optimized ``arn:aws:states:::sns:publish``; parameters are PascalCase even where the API is camelCase (ECS). No
Lambda code ships.

Rules every piece follows, because Step Functions cannot catch their failures:

* A path missing in a Choice rule or a selector is a ``States.Runtime`` error, which no Catch can handle. Every
  lookup into an API response is therefore guarded with ``IsPresent`` (short-circuited inside ``And``).
* An intrinsic that could fail on bad input runs before anything changes.
"""

from __future__ import annotations

import re
from typing import Any

from payments.layers.migration.machines.targets import Targets

SDK = "arn:aws:states:::aws-sdk:"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

#: Transient API errors (throttling, 5xx) are retried briefly before a failure counts.
RETRY = [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]
#: Putting traffic back must try harder than anything else.
RETRY_ROLLBACK = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2.0}]

States = dict[str, dict[str, Any]]


def sdk(service: str, action: str) -> str:
    return f"{SDK}{service}:{action}"


def lit(text: str) -> str:
    """`text` safe inside a States.Format template or quoted argument (escape ' { } and backslash)."""
    return re.sub(r"([\\'{}])", r"\\\1", text)


def task(
    resource: str,
    parameters: dict[str, Any],
    next_: str | None,
    *,
    catch: str | None,
    result_path: str | None = None,
    result_selector: dict[str, Any] | None = None,
    retry: list[dict[str, Any]] | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters}
    if comment:
        state["Comment"] = comment
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    state["Retry"] = RETRY if retry is None else retry
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch}]
    if next_ is None:
        state["End"] = True
    else:
        state["Next"] = next_
    return state


def present(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": True}


def absent(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": False}


def equals(path: str, value: str) -> dict[str, Any]:
    """``path == value``, safe when `path` is missing (IsPresent short-circuits)."""
    return {"And": [present(path), {"Variable": path, "StringEquals": value}]}


def error(
    error: str, cause: str | None = None, cause_format: str | None = None, *args: str, next_: str
) -> dict[str, Any]:
    """A Pass state that records why a check failed, in the shape a Catch would leave in $.error."""
    params: dict[str, Any] = {"Error": error}
    if cause_format is not None:
        params["Cause.$"] = f"States.Format('{cause_format}', {', '.join(args)})"
    else:
        params["Cause"] = cause
    return {"Type": "Pass", "Parameters": params, "ResultPath": "$.error", "Next": next_}


def put_phase(
    targets: Targets,
    value: str | None,
    next_: str,
    catch: str | None,
    *,
    value_path: str | None = None,
    retry: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"Name": targets.phase_parameter_name, "Overwrite": True}
    if value_path:
        params["Value.$"] = value_path
    else:
        params["Value"] = value
    return task(sdk("ssm", "putParameter"), params, next_, catch=catch, retry=retry)


def notify(
    targets: Targets, subject: str, message_format: str, args: list[str], next_: str, on_error: str | None = None
) -> dict[str, Any]:
    """An SNS notice; a failed notice never changes the course of the cutover (its Catch goes on)."""
    message = f"States.Format('{message_format}', {', '.join(args)})" if args else None
    params: dict[str, Any] = {"TopicArn": targets.topic_arn, "Subject": subject}
    if message:
        params["Message.$"] = message
    else:
        params["Message"] = message_format
    state = task(SNS_PUBLISH, params, next_, catch=None)
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": on_error or next_}]
    return state


def stickiness(targets: Targets) -> dict[str, Any]:
    """The same stickiness the edge layer sets (keep stickinessSeconds equal in both layers).

    ModifyListener replaces the whole action, so this is what the listener has after a cutover; when off, the
    duration the edge layer records (3600 s, what ALB reports anyway) is sent too, so the edge sees no diff.
    """
    if targets.stickiness_seconds:
        return {"Enabled": True, "DurationSeconds": targets.stickiness_seconds}
    return {"Enabled": False, "DurationSeconds": 3600}


def weights(targets: Targets, source_weight: str | int, target_weight: str | int) -> dict[str, Any]:
    """ModifyListener parameters: forward to source/target at the given weights, the third pool at 0."""

    def group(pool_path: str, weight: str | int) -> dict[str, Any]:
        entry: dict[str, Any] = {"TargetGroupArn.$": f"{pool_path}.targetGroupArn"}
        entry["Weight.$" if isinstance(weight, str) else "Weight"] = weight
        return entry

    forward: dict[str, Any] = {
        "TargetGroups": [
            group("$.pools.source", source_weight),
            group("$.pools.target", target_weight),
            group("$.pools.other", 0),
        ]
    }
    forward["TargetGroupStickinessConfig"] = stickiness(targets)
    return {"ListenerArn": targets.listener_arn, "DefaultActions": [{"Type": "forward", "ForwardConfig": forward}]}


def gate_check(targets: Targets, name: str, ok: str, not_ok: str, on_error: str, when: str) -> States:
    """Describe the gate alarm (composite or metric) and branch: OK -> `ok`, anything else -> `not_ok`.

    INSUFFICIENT_DATA counts as not OK: unknown health must not move payments. Every response kept in the state
    is cut to the fields the machine reads (here and in every ResultSelector): an execution's data may not exceed
    256 KB (States.DataLimitExceeded, which no Catch handles), and a full ECS or CloudWatch answer can be large.
    """
    gate = targets.gate_alarm_name
    return {
        name: task(
            sdk("cloudwatch", "describeAlarms"),
            {"AlarmNames": [gate], "AlarmTypes": ["CompositeAlarm", "MetricAlarm"]},
            f"{name}Ok",
            catch=on_error,
            result_path="$.gate",
            # Only the states: a composite's rule alone can be 10 KB, and an execution's data is capped at 256 KB.
            result_selector={
                "composite.$": "$.CompositeAlarms[*].StateValue",
                "metric.$": "$.MetricAlarms[*].StateValue",
            },
            comment=f"gate alarm {gate} must be OK {when}",
        ),
        f"{name}Ok": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        equals("$.gate.composite[0]", "OK"),
                        equals("$.gate.metric[0]", "OK"),
                    ],
                    "Next": ok,
                }
            ],
            "Default": not_ok,
        },
    }


def gate_watch(
    targets: Targets, prefix: str, seconds_key: str, *, done: str, breached: str, on_error: str, when: str
) -> States:
    """Watch the gate for ``$.config.<seconds_key>`` seconds: now, then every ``pollSeconds``, and at the end.

    The first not-OK reading goes to `breached` at once: a failure is acted on within one poll, never after the
    whole wait. ``$.watch.elapsed`` counts the seconds waited (the last wait may overshoot by under one poll).
    """
    return {
        prefix: {
            "Type": "Pass",
            "Parameters": {"elapsed": 0},
            "ResultPath": "$.watch",
            "Next": f"{prefix}Gate",
            "Comment": f"watch the gate for {seconds_key}, every pollSeconds",
        },
        **gate_check(targets, f"{prefix}Gate", ok=f"{prefix}Elapsed", not_ok=breached, on_error=on_error, when=when),
        f"{prefix}Elapsed": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.watch.elapsed", "NumericGreaterThanEqualsPath": f"$.config.{seconds_key}", "Next": done}
            ],
            "Default": f"{prefix}Wait",
        },
        f"{prefix}Wait": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": f"{prefix}Tick"},
        f"{prefix}Tick": {
            "Type": "Pass",
            "Parameters": {"elapsed.$": "States.MathAdd($.watch.elapsed, $.config.pollSeconds)"},
            "ResultPath": "$.watch",
            "Next": f"{prefix}Gate",
        },
    }


def gate_culprits(targets: Targets, name: str, next_: str) -> States:
    """Which of the gate's member alarms are in ALARM (``$.culprits``), for the notice; never fails the path."""
    if not targets.gate_members:
        return {name: {"Type": "Pass", "Result": {"names": []}, "ResultPath": "$.culprits", "Next": next_}}
    state = task(
        sdk("cloudwatch", "describeAlarms"),
        {"AlarmNames": list(targets.gate_members[:100]), "StateValue": "ALARM"},
        next_,
        catch=None,
        result_path="$.culprits",
        result_selector={"names.$": "$.MetricAlarms[?(@.StateValue == 'ALARM')].AlarmName"},
        comment="name the failing members of the gate in the notice",
    )
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.culpritsError", "Next": next_}]
    return {
        name: {"Type": "Pass", "Result": {"names": []}, "ResultPath": "$.culprits", "Next": f"{name}Read"},
        f"{name}Read": state,
    }


def failure_text(name: str, next_: str) -> States:
    """``$.failure.text``: the caught error (``$.error``, its Error and, when there is one, its Cause) as text.

    AWS documents that a caught error's output "usually" has a Cause, not always; a notice built on a missing
    ``$.error.Cause`` would fail with States.Runtime, which nothing can catch. ``States.JsonToString`` of the
    whole ``$.error`` (always there after a Catch or a check) cannot fail.
    """
    return {
        name: {
            "Type": "Pass",
            "Parameters": {"text.$": "States.JsonToString($.error)"},
            "ResultPath": "$.failure",
            "Next": next_,
        }
    }


def healthy(targets: Targets, name: str, group_path: str, *, yes: str, no: str) -> States:
    """Has the target group at `group_path` at least one healthy target? An unreadable answer counts as no."""
    return {
        name: {
            **task(
                sdk("elasticloadbalancingv2", "describeTargetHealth"),
                {"TargetGroupArn.$": group_path},
                f"{name}Read",
                catch=None,
                result_path="$.health",
                result_selector={"states.$": "$.TargetHealthDescriptions[*].TargetHealth.State"},
            ),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.healthError", "Next": no}],
        },
        f"{name}Read": {
            "Type": "Pass",
            "Parameters": {"healthy.$": "States.ArrayContains($.health.states, 'healthy')"},
            "ResultPath": "$.health",
            "Next": f"{name}Ok",
        },
        f"{name}Ok": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.health.healthy", "BooleanEquals": True, "Next": yes}],
            "Default": no,
        },
    }


def running_elsewhere(targets: Targets, prefix: str, roles: tuple[str, ...], *, alone: str, busy: str) -> States:
    """Is any other execution of the migration's machines running? (``ListExecutions``, RUNNING, per machine.)

    This execution itself is RUNNING on its own machine: it is the only entry allowed there.
    """
    states: States = {
        prefix: {
            "Type": "Pass",
            "Parameters": {"self.$": "$$.Execution.Id", "selfMachine.$": "$$.StateMachine.Id"},
            "ResultPath": "$.running",
            "Next": f"{prefix}{roles[0].title()}",
        }
    }
    for i, role in enumerate(roles):
        following = f"{prefix}{roles[i + 1].title()}" if i + 1 < len(roles) else f"{prefix}Alone"
        states[f"{prefix}{role.title()}"] = task(
            sdk("sfn", "listExecutions"),
            {"StateMachineArn": targets.machine_arns[role], "StatusFilter": "RUNNING"},
            following,
            catch=busy,
            result_path=f"$.running.{role}",
            result_selector={"arns.$": "$.Executions[*].ExecutionArn"},
            comment=f"running executions of the {role} state machine",
        )
    others = []
    for role in roles:
        first, second = f"$.running.{role}.arns[0]", f"$.running.{role}.arns[1]"
        mine = {"Variable": "$.running.selfMachine", "StringEquals": targets.machine_arns[role]}
        # On its own machine the only running execution must be this one; on the others there must be none.
        others.append(
            {
                "Or": [
                    {"And": [{"Not": mine}, present(first)]},
                    {"And": [mine, present(first), {"Not": {"Variable": first, "StringEqualsPath": "$.running.self"}}]},
                    {"And": [mine, present(second)]},
                ]
            }
        )
    states[f"{prefix}Alone"] = {"Type": "Choice", "Choices": [{"Or": others, "Next": busy}], "Default": alone}
    return states


def task_resources(definition: dict[str, Any]) -> list[str]:
    """Every Task resource of a definition, Map iterations included (for tests and the IAM policy)."""
    found: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if state.get("Type") == "Task":
                found.append(state["Resource"])
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor["States"])

    walk(definition["States"])
    return found
