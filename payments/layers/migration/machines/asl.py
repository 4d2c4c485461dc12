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

    INSUFFICIENT_DATA counts as not OK: unknown health must not move payments.
    """
    gate = targets.gate_alarm_name
    return {
        name: task(
            sdk("cloudwatch", "describeAlarms"),
            {"AlarmNames": [gate], "AlarmTypes": ["CompositeAlarm", "MetricAlarm"]},
            f"{name}Ok",
            catch=on_error,
            result_path="$.gate",
            result_selector={"composite.$": "$.CompositeAlarms", "metric.$": "$.MetricAlarms"},
            comment=f"gate alarm {gate} must be OK {when}",
        ),
        f"{name}Ok": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        equals("$.gate.composite[0].StateValue", "OK"),
                        equals("$.gate.metric[0].StateValue", "OK"),
                    ],
                    "Next": ok,
                }
            ],
            "Default": not_ok,
        },
    }


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
