"""The cutover and rollback state machines as Amazon States Language, built by pure functions.

Only AWS SDK service integrations are used (``arn:aws:states:::aws-sdk:<service>:<action>``
with the service names Step Functions documents: elasticloadbalancingv2,
cloudwatch, databasemigration, ecs, ssm, sfn) plus the optimized
``arn:aws:states:::sns:publish``; parameters are PascalCase even where the API
is camelCase (ECS). No Lambda code ships.

Shape of a cutover (DESIGN.md section 6)::

    defaults + input -> waits check -> pools -> schedule check -> listener 100 % on the source?
        any "no" here: Fail (InvalidInput, ListenerNotOnSource, ...): nothing changed
    read phase -> record "cutover" -> database (DMS) -> application -> preflight
        any failure so far: Abort = phase restored, notice, Fail (the listener is never touched)
    traffic: for each step: set weights -> bake -> gate OK?
        any alarm or error: Rollback = 100 % on the source pool, phase "rolled-back", notice, Fail
    finalize: phase "cutover-complete", notice, optional hold + gate + scale the source to 0

Why the document looks the way it does:

* A path that is missing in a Choice rule or a selector is a ``States.Runtime``
  error, which no Catch can handle. Every lookup into an API response is
  therefore guarded with ``IsPresent`` (short-circuited inside ``And``), and
  every intrinsic that could fail on bad input runs before anything changes.
* JSONPath has no subtraction: the source weight (100 - p) is looked up in a
  literal table, once per step, while the schedule is checked.
* Waits read their seconds from the execution input (``SecondsPath``), so a
  rehearsal shortens them without touching the definition. A Wait whose
  seconds are not a whole number >= 0 fails with ``States.Runtime`` (no Catch
  can handle it), so the waits and ``maxPolls`` are checked, and made whole
  numbers, before anything else happens.
* Abort (a failure before traffic moved) leaves the listener alone, which is
  only right when it is 100 % on the source pool: that is checked, with the
  other input checks, before anything changes (an execution stopped half way,
  or a wrong source pool, is refused instead of being "restored").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from payments.core.environment import MigrationPhase
from payments.layers.migration.schedule import MAX_POLLS, MAX_WAIT_SECONDS, PAIRS, CutoverInput, Pool

SDK = "arn:aws:states:::aws-sdk:"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
#: 100 - p for p in 0..100, indexed by p.
COMPLEMENT = list(range(100, -1, -1))

#: Input keys that Wait states read (SecondsPath): whole seconds 0..MAX_WAIT_SECONDS.
WAIT_KEYS = ("bakeSeconds", "pollSeconds", "holdSeconds")
#: Input key that bounds the polling loops: a whole number 1..MAX_POLLS.
POLLS_KEY = "maxPolls"

#: Transient API errors (throttling, 5xx) are retried briefly before a failure counts.
RETRY = [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]
#: Putting traffic back must try harder than anything else.
RETRY_ROLLBACK = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2.0}]


@dataclasses.dataclass(frozen=True)
class Targets:
    """The deployed things a cutover acts on (plain strings: ARNs and names from the upstream layers)."""

    environment: str
    listener_arn: str
    target_group_arns: Mapping[str, str]  #: pool name -> target group ARN (legacy, blue, green)
    gate_alarm_name: str
    phase_parameter_name: str
    topic_arn: str
    cluster_name: str | None = None  #: None in EC2 mode: no ECS service to update
    service_names: Mapping[str, str] = dataclasses.field(default_factory=dict)  #: pool -> ECS service (blue, green)
    dms_task_arn: str | None = None  #: None: no database stage
    dms_latency_alarm_name: str | None = None
    #: ALB target-group stickiness during the split (0: off, so a rollback moves every client at once)
    stickiness_seconds: int = 0

    def __post_init__(self) -> None:
        missing = [p.value for p in Pool if p.value not in self.target_group_arns]
        if missing:
            raise ValueError(f"target group ARN(s) missing for pool(s) {', '.join(missing)}")
        if (self.dms_task_arn is None) != (self.dms_latency_alarm_name is None):
            raise ValueError("a DMS stage needs both the task ARN and its latency alarm")


def sdk(service: str, action: str) -> str:
    return f"{SDK}{service}:{action}"


def lit(text: str) -> str:
    """`text` safe inside a States.Format template or quoted argument (escape ' { } and backslash)."""
    return re.sub(r"([\\'{}])", r"\\\1", text)


# --- building blocks ---------------------------------------------------------


def _task(
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


def _present(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": True}


def _absent(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": False}


def _equals(path: str, value: str) -> dict[str, Any]:
    """``path == value``, safe when `path` is missing (IsPresent short-circuits)."""
    return {"And": [_present(path), {"Variable": path, "StringEquals": value}]}


def _error(
    error: str, cause: str | None = None, cause_format: str | None = None, *args: str, next_: str
) -> dict[str, Any]:
    """A Pass state that records why a check failed, in the shape a Catch would leave in $.error."""
    params: dict[str, Any] = {"Error": error}
    if cause_format is not None:
        params["Cause.$"] = f"States.Format('{cause_format}', {', '.join(args)})"
    else:
        params["Cause"] = cause
    return {"Type": "Pass", "Parameters": params, "ResultPath": "$.error", "Next": next_}


def _put_phase(
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
    return _task(sdk("ssm", "putParameter"), params, next_, catch=catch, retry=retry)


def _notify(
    targets: Targets, subject: str, message_format: str, args: list[str], next_: str, on_error: str | None = None
) -> dict[str, Any]:
    """An SNS notice; a failed notice never changes the course of the cutover (its Catch goes on)."""
    message = f"States.Format('{message_format}', {', '.join(args)})" if args else None
    params: dict[str, Any] = {"TopicArn": targets.topic_arn, "Subject": subject}
    if message:
        params["Message.$"] = message
    else:
        params["Message"] = message_format
    state = _task(SNS_PUBLISH, params, next_, catch=None)
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notifyError", "Next": on_error or next_}]
    return state


def _weights(targets: Targets, source_weight: str | int, target_weight: str | int) -> dict[str, Any]:
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
    forward["TargetGroupStickinessConfig"] = _stickiness(targets)
    return {"ListenerArn": targets.listener_arn, "DefaultActions": [{"Type": "forward", "ForwardConfig": forward}]}


def _stickiness(targets: Targets) -> dict[str, Any]:
    """The same stickiness the edge layer sets (keep stickinessSeconds equal in both layers).

    ModifyListener replaces the whole action, so this is what the listener has after a cutover; when off, the
    duration the edge layer records (3600 s, what ALB reports anyway) is sent too, so the edge sees no diff.
    """
    if targets.stickiness_seconds:
        return {"Enabled": True, "DurationSeconds": targets.stickiness_seconds}
    return {"Enabled": False, "DurationSeconds": 3600}


def _gate_check(
    targets: Targets, name: str, ok: str, not_ok: str, on_error: str, when: str
) -> dict[str, dict[str, Any]]:
    """Describe the gate alarm (composite or metric) and branch: OK -> `ok`, anything else -> `not_ok`.

    INSUFFICIENT_DATA counts as not OK: unknown health must not move payments.
    """
    gate = targets.gate_alarm_name
    return {
        name: _task(
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
                        _equals("$.gate.composite[0].StateValue", "OK"),
                        _equals("$.gate.metric[0].StateValue", "OK"),
                    ],
                    "Next": ok,
                }
            ],
            "Default": not_ok,
        },
    }


def _pool_doc(targets: Targets, pool: Pool) -> dict[str, Any]:
    service = targets.service_names.get(pool.value) if targets.cluster_name else None
    doc: dict[str, Any] = {
        "name": pool.value,
        "targetGroupArn": targets.target_group_arns[pool.value],
        "hasService": service is not None,
    }
    if service is not None:
        doc["service"] = service
    return doc


def _resolve_pools(targets: Targets, next_: str, invalid: str) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    choices = []
    for source, target in PAIRS:
        other = next(p for p in Pool if p not in (source, target))
        name = f"Pools{source.value.title()}To{target.value.title()}"
        choices.append(
            {
                "And": [
                    {"Variable": "$.config.sourcePool", "StringEquals": source.value},
                    {"Variable": "$.config.targetPool", "StringEquals": target.value},
                ],
                "Next": name,
            }
        )
        states[name] = {
            "Type": "Pass",
            "Result": {
                "source": _pool_doc(targets, source),
                "target": _pool_doc(targets, target),
                "other": _pool_doc(targets, other),
            },
            "ResultPath": "$.pools",
            "Next": next_,
        }
    allowed = ", ".join(f"{s.value}->{t.value}" for s, t in PAIRS)
    return {
        "ResolvePools": {"Type": "Choice", "Choices": choices, "Default": invalid},
        **states,
        invalid: {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": f"sourcePool/targetPool must be one of {allowed}; nothing was changed",
        },
    }


# --- the cutover -------------------------------------------------------------


def cutover_definition(targets: Targets, defaults: CutoverInput) -> dict[str, Any]:
    """The cutover state machine; `defaults` fill whatever the execution input leaves out."""
    env = lit(targets.environment)
    states: dict[str, dict[str, Any]] = {}
    add = states.update

    # -- input ---------------------------------------------------------------
    add(
        {
            "Defaults": {
                "Type": "Pass",
                "Comment": "configured defaults; the execution input overrides any key",
                "Result": defaults.as_json(),
                "ResultPath": "$.defaults",
                "Next": "ApplyInput",
            },
            "ApplyInput": {
                "Type": "Pass",
                "Parameters": {"config.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)"},
                "Next": "CheckWaits",
            },
        }
    )
    add(_check_waits(next_="ResolvePools"))
    add(_resolve_pools(targets, "CheckSchedule", "InvalidPools"))
    add(
        {
            "CheckSchedule": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.config.steps[0]", "IsPresent": True, "Next": "PlanSchedule"}],
                "Default": "EmptySchedule",
            },
            "EmptySchedule": {"Type": "Fail", "Error": "InvalidInput", "Cause": "steps is empty; nothing was changed"},
            "PlanSchedule": {
                "Type": "Map",
                "Comment": "check every step (1-100, increasing) and compute its weights before anything changes",
                "ItemsPath": "$.config.steps",
                "ItemSelector": {
                    "percent.$": "$$.Map.Item.Value",
                    "index.$": "$$.Map.Item.Index",
                    "steps.$": "$.config.steps",
                    "complement": COMPLEMENT,
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "StepInRange",
                    "States": {
                        "StepInRange": {
                            "Type": "Choice",
                            "Choices": [
                                {
                                    "And": [
                                        {"Variable": "$.percent", "IsNumeric": True},
                                        {"Variable": "$.percent", "NumericGreaterThanEquals": 1},
                                        {"Variable": "$.percent", "NumericLessThanEquals": 100},
                                    ],
                                    "Next": "FirstStep",
                                }
                            ],
                            "Default": "BadStep",
                        },
                        "FirstStep": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.index", "NumericEquals": 0, "Next": "StepWeights"}],
                            "Default": "PreviousStep",
                        },
                        "PreviousStep": {
                            "Type": "Pass",
                            "Parameters": {
                                "percent.$": "$.percent",
                                "complement.$": "$.complement",
                                "previous.$": "States.ArrayGetItem($.steps, States.MathAdd($.index, -1))",
                            },
                            "Next": "StepIncreases",
                        },
                        "StepIncreases": {
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.percent", "NumericGreaterThanPath": "$.previous", "Next": "StepWeights"}
                            ],
                            "Default": "BadStep",
                        },
                        "StepWeights": {
                            "Type": "Pass",
                            "Parameters": {
                                "target.$": "$.percent",
                                "source.$": "States.ArrayGetItem($.complement, $.percent)",
                            },
                            "End": True,
                        },
                        "BadStep": {
                            "Type": "Fail",
                            "Error": "InvalidInput",
                            "Cause": "steps must be whole percentages 1-100 in increasing order; nothing was changed",
                        },
                    },
                },
                "ResultPath": "$.schedule",
                "Next": "LastStep",
            },
            "LastStep": {
                "Type": "Pass",
                "Parameters": {
                    "last.$": "States.ArrayGetItem($.schedule, States.MathAdd(States.ArrayLength($.schedule), -1))"
                },
                "ResultPath": "$.lastStep",
                "Next": "EndsAtHundred",
            },
            "EndsAtHundred": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.lastStep.last.target", "NumericEquals": 100, "Next": "ReadListener"}],
                "Default": "ScheduleNotComplete",
            },
            "ScheduleNotComplete": {
                "Type": "Fail",
                "Error": "InvalidInput",
                "Cause": "the last step must be 100 so the cutover completes; nothing was changed",
            },
        }
    )

    # -- the listener: 100 % on the source pool, or nothing starts ---------------------
    add(_check_listener(targets, next_="ReadPhase"))

    # -- phase -----------------------------------------------------------------
    add(
        {
            "ReadPhase": _task(
                sdk("ssm", "getParameter"),
                {"Name": targets.phase_parameter_name},
                "RecordPhase",
                catch="PhaseUnreadable",
                result_path="$.phase",
                result_selector={"previous.$": "$.Parameter.Value"},
            ),
            "PhaseUnreadable": {
                "Type": "Fail",
                "Error": "PhaseUnreadable",
                "Cause": f"could not read {targets.phase_parameter_name}; nothing was changed",
            },
            "RecordPhase": _put_phase(
                targets,
                MigrationPhase.CUTOVER.value,
                "DescribeDmsTask" if targets.dms_task_arn else "TargetHasService",
                catch="Abort",
            ),
        }
    )

    # -- database ------------------------------------------------------------------
    if targets.dms_task_arn:
        add(_database_states(targets, next_="TargetHasService"))

    # -- application -----------------------------------------------------------------
    add(_application_states(targets, next_="Preflight"))

    # -- preflight ---------------------------------------------------------------------
    add(
        _gate_check(
            targets,
            "Preflight",
            ok="StartTraffic",
            not_ok="GateNotOkBeforeTraffic",
            on_error="Abort",
            when="before traffic moves",
        )
    )
    add(
        {
            "GateNotOkBeforeTraffic": _error(
                "GateAlarm",
                None,
                "gate alarm {} is not OK; no traffic was moved",
                f"'{lit(targets.gate_alarm_name)}'",
                next_="Abort",
            )
        }
    )

    # -- traffic ------------------------------------------------------------------------
    add(
        {
            "StartTraffic": {
                "Type": "Pass",
                "Parameters": {"index": 0, "count.$": "States.ArrayLength($.schedule)"},
                "ResultPath": "$.traffic",
                "Next": "NextStep",
            },
            "NextStep": {
                "Type": "Pass",
                "Parameters": {
                    "index.$": "$.traffic.index",
                    "count.$": "$.traffic.count",
                    "weights.$": "States.ArrayGetItem($.schedule, $.traffic.index)",
                },
                "ResultPath": "$.traffic",
                "Next": "SetWeights",
            },
            # From here on traffic may have moved: every failure goes to Rollback.
            "SetWeights": _task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                _weights(targets, "$.traffic.weights.source", "$.traffic.weights.target"),
                "Bake",
                catch="Rollback",
                comment="weights: source 100-p, target p, the third pool 0",
            ),
            "Bake": {"Type": "Wait", "SecondsPath": "$.config.bakeSeconds", "Next": "CheckGate"},
        }
    )
    add(
        _gate_check(
            targets,
            "CheckGate",
            ok="StepDone",
            not_ok="GateBreached",
            on_error="Rollback",
            when="after each step's bake",
        )
    )
    add(
        {
            "GateBreached": _error(
                "GateAlarm",
                None,
                "gate alarm {} was not OK with {}% of traffic on {}",
                f"'{lit(targets.gate_alarm_name)}'",
                "$.traffic.weights.target",
                "$.pools.target.name",
                next_="Rollback",
            ),
            "StepDone": {
                "Type": "Pass",
                "Parameters": {
                    "index.$": "States.MathAdd($.traffic.index, 1)",
                    "count.$": "$.traffic.count",
                    "weights.$": "$.traffic.weights",
                },
                "ResultPath": "$.traffic",
                "Next": "MoreSteps",
            },
            "MoreSteps": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.traffic.index", "NumericLessThanPath": "$.traffic.count", "Next": "NextStep"}
                ],
                "Default": "RecordComplete",
            },
        }
    )

    # -- finalize -----------------------------------------------------------------------
    add(
        {
            "RecordComplete": _put_phase(targets, MigrationPhase.COMPLETE.value, "NotifyComplete", catch="Rollback"),
            "NotifyComplete": _notify(
                targets,
                f"Cutover complete ({env})",
                f"payments {env}: 100% of traffic is on {{}} (from {{}}). Phase: {MigrationPhase.COMPLETE.value}.",
                ["$.pools.target.name", "$.pools.source.name"],
                "ScaleDownWanted",
            ),
            "ScaleDownWanted": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.config.scaleDownSource", "BooleanEquals": True},
                            {"Variable": "$.pools.source.hasService", "BooleanEquals": True},
                        ],
                        "Next": "HoldSource",
                    }
                ],
                "Default": "CutoverComplete",
            },
            "HoldSource": {
                "Type": "Wait",
                "SecondsPath": "$.config.holdSeconds",
                "Next": "CheckGateAfterHold",
                "Comment": "the source stays warm so a rollback needs no scale-up",
            },
        }
    )
    add(
        _gate_check(
            targets,
            "CheckGateAfterHold",
            ok="ScaleDownSource",
            not_ok="GateBreachedInHold",
            on_error="Rollback",
            when="before the source is scaled down",
        )
    )
    add(
        {
            "GateBreachedInHold": _error(
                "GateAlarm",
                None,
                "gate alarm {} was not OK during the hold; source {} kept",
                f"'{lit(targets.gate_alarm_name)}'",
                "$.pools.source.name",
                next_="Rollback",
            ),
            "ScaleDownSource": _task(
                sdk("ecs", "updateService"),
                {"Cluster": targets.cluster_name or "", "Service.$": "$.pools.source.service", "DesiredCount": 0},
                "CutoverComplete",
                catch="ScaleDownFailed",
            ),
            "ScaleDownFailed": {
                "Type": "Fail",
                "Error": "SourceScaleDownFailed",
                "Cause": "the cutover completed and traffic stays on the target; scaling the source "
                "service down failed, scale it by hand",
            },
            "CutoverComplete": {"Type": "Succeed"},
        }
    )

    # -- abort: nothing moved yet --------------------------------------------------------
    add(
        {
            "Abort": _put_phase(targets, None, "NotifyAbort", catch="NotifyAbort", value_path="$.phase.previous"),
            "NotifyAbort": _notify(
                targets,
                f"Cutover aborted ({env})",
                f"payments {env}: cutover aborted before any traffic moved: {{}}: {{}}",
                ["$.error.Error", "$.error.Cause"],
                "AbortReason",
            ),
            "AbortReason": {
                "Type": "Pass",
                "Parameters": {
                    "message.$": "States.Format('aborted before any traffic moved "
                    "({}): {}', $.error.Error, $.error.Cause)"
                },
                "ResultPath": "$.outcome",
                "Next": "Aborted",
            },
            "Aborted": {"Type": "Fail", "Error": "CutoverAborted", "CausePath": "$.outcome.message"},
        }
    )

    # -- rollback: traffic back to the source ---------------------------------------------
    add(
        {
            "Rollback": _task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                _weights(targets, 100, 0),
                "RecordRolledBack",
                catch="RollbackFailed",
                retry=RETRY_ROLLBACK,
                comment="100% on the source pool",
            ),
            "RecordRolledBack": _put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRollback", catch="NotifyRollback"
            ),
            "NotifyRollback": _notify(
                targets,
                f"Cutover rolled back ({env})",
                f"payments {env}: traffic is back to 100% on {{}}. Cause: {{}}: {{}}",
                ["$.pools.source.name", "$.error.Error", "$.error.Cause"],
                "RollbackReason",
            ),
            "RollbackReason": {
                "Type": "Pass",
                "Parameters": {
                    "message.$": "States.Format('rolled back to 100% on {} "
                    "({}): {}', $.pools.source.name, "
                    "$.error.Error, $.error.Cause)"
                },
                "ResultPath": "$.outcome",
                "Next": "RolledBack",
            },
            "RolledBack": {"Type": "Fail", "Error": "CutoverRolledBack", "CausePath": "$.outcome.message"},
            "RollbackFailed": _notify(
                targets,
                f"ROLLBACK FAILED ({env})",
                f"payments {env}: the listener could not be set back to the source pool {{}}; "
                "move traffic by hand now (invoke rollback). Error: {}",
                ["$.pools.source.name", "$.error.Cause"],
                "RollbackFailedFail",
            ),
            "RollbackFailedFail": {
                "Type": "Fail",
                "Error": "RollbackFailed",
                "Cause": "the listener could not be reset to the source pool; act by hand",
            },
        }
    )
    return {
        "Comment": f"payments {env}: move traffic from the source pool to the target pool, rolling back on any alarm",
        "StartAt": "Defaults",
        "States": states,
    }


def _check_waits(next_: str) -> dict[str, dict[str, Any]]:
    """Waits and polls must be whole numbers in range before anything changes.

    A Wait with negative, fractional or non-numeric seconds fails with States.Runtime, which no Catch handles:
    left unchecked, a bad ``bakeSeconds`` would stop the execution mid-split with no rollback and no notice.
    ASL has no IsInteger: after IsNumeric and the range check, ``States.MathAdd(x, 0)`` rounds a fraction to
    the nearest integer (AWS: "If you specify a non-integer value for one or both the arguments, Step
    Functions will round it off to the nearest integer"), so x is whole exactly when it equals that sum. The
    sums then replace the input values, so every Wait reads a JSON integer (300, never 300.0).
    """
    bounds = {key: (0, MAX_WAIT_SECONDS) for key in WAIT_KEYS} | {POLLS_KEY: (1, MAX_POLLS)}
    in_range: list[dict[str, Any]] = []
    for key, (low, high) in bounds.items():
        path = f"$.config.{key}"
        in_range += [
            _present(path),
            {"Variable": path, "IsNumeric": True},
            {"Variable": path, "NumericGreaterThanEquals": low},
            {"Variable": path, "NumericLessThanEquals": high},
        ]
    got = ", ".join(f"{key} {{}}" for key in bounds)
    return {
        "CheckWaits": {
            "Type": "Choice",
            "Comment": "waits and polls: numbers in range (a bad Wait value is an uncatchable States.Runtime error)",
            "Choices": [{"And": in_range, "Next": "WholeWaits"}],
            "Default": "WaitsInvalid",
        },
        "WholeWaits": {
            "Type": "Pass",
            "Parameters": {f"{key}.$": f"States.MathAdd($.config.{key}, 0)" for key in bounds},
            "ResultPath": "$.whole",
            "Next": "WaitsWhole",
        },
        "WaitsWhole": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [{"Variable": f"$.whole.{key}", "NumericEqualsPath": f"$.config.{key}"} for key in bounds],
                    "Next": "UseWholeWaits",
                }
            ],
            "Default": "WaitsInvalid",
        },
        "UseWholeWaits": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.config, $.whole, false)"},
            "Next": next_,
        },
        "WaitsInvalid": {
            "Type": "Pass",
            "Parameters": {
                "message.$": f"States.Format('{got}: bakeSeconds, pollSeconds and holdSeconds must be whole "
                f"seconds 0-{MAX_WAIT_SECONDS} and maxPolls a whole number 1-{MAX_POLLS}; nothing was changed', "
                + ", ".join(f"States.JsonToString($.config.{key})" for key in bounds)
                + ")"
            },
            "ResultPath": "$.invalid",
            "Next": "InvalidWaits",
        },
        "InvalidWaits": {"Type": "Fail", "Error": "InvalidInput", "CausePath": "$.invalid.message"},
    }


def _check_listener(targets: Targets, next_: str) -> dict[str, dict[str, Any]]:
    """The listener must send 100 % of traffic to the source pool before anything changes.

    Abort (any failure before traffic moves) leaves the listener alone, and Rollback sets 100 % on the source
    pool: both are right only when the source pool is where all traffic is. A listener left split (an execution
    stopped half way) or on another pool (a wrong sourcePool) is refused, not "fixed": resetting it here could
    move all traffic to a pool nobody meant to use. The filter runs in a ResultSelector, where Step Functions
    accepts full JSONPath; an indefinite path yields a (possibly empty) list, never an error.
    """
    serving = "$.Listeners[*].DefaultActions[*].ForwardConfig.TargetGroups[?(@.Weight > 0)].TargetGroupArn"
    return {
        "ReadListener": _task(
            sdk("elasticloadbalancingv2", "describeListeners"),
            {"ListenerArns": [targets.listener_arn]},
            "ListenerOnSource",
            catch="ListenerUnreadable",
            result_path="$.listener",
            result_selector={"serving.$": serving},
            comment="target groups the listener sends traffic to (weight > 0)",
        ),
        "ListenerUnreadable": {
            "Type": "Fail",
            "Error": "ListenerUnreadable",
            "Cause": "could not read the HTTPS listener's weights; nothing was changed",
        },
        "ListenerOnSource": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        _present("$.listener.serving[0]"),
                        {"Variable": "$.listener.serving[0]", "StringEqualsPath": "$.pools.source.targetGroupArn"},
                        _absent("$.listener.serving[1]"),
                    ],
                    "Next": next_,
                }
            ],
            "Default": "TrafficNotOnSource",
        },
        "TrafficNotOnSource": {
            "Type": "Pass",
            "Parameters": {
                "message.$": "States.Format('the listener does not send 100% of traffic to the source pool {} "
                "(target groups with weight: {}); nothing was changed. Put all traffic on {} first (invoke "
                "rollback), or start from the pool that has it', $.pools.source.name, "
                "States.JsonToString($.listener.serving), $.pools.source.name)"
            },
            "ResultPath": "$.refusal",
            "Next": "ListenerNotOnSource",
        },
        "ListenerNotOnSource": {"Type": "Fail", "Error": "ListenerNotOnSource", "CausePath": "$.refusal.message"},
    }


def _database_states(targets: Targets, next_: str) -> dict[str, dict[str, Any]]:
    task = targets.dms_task_arn
    describe = {"Filters": [{"Name": "replication-task-arn", "Values": [task]}], "WithoutSettings": True}
    status = "$.dms.tasks[0].Status"
    return {
        "DescribeDmsTask": _task(
            sdk("databasemigration", "describeReplicationTasks"),
            describe,
            "DmsTaskState",
            catch="Abort",
            result_path="$.dms",
            result_selector={"tasks.$": "$.ReplicationTasks"},
        ),
        "DmsTaskState": {
            "Type": "Choice",
            "Choices": [
                {**_equals(status, "running"), "Next": "StartDmsWait"},
                {**_equals(status, "ready"), "Next": "StartDmsTask"},
                {**_equals(status, "stopped"), "Next": "ResumeDmsTask"},
                {
                    "Or": [_absent(status), _equals(status, "failed"), _equals(status, "deleting")],
                    "Next": "DmsTaskUnusable",
                },
            ],
            "Default": "StartDmsWait",
        },
        "DmsTaskUnusable": _error(
            "DmsTaskNotRunnable", f"DMS task {task} is missing, failed or being deleted", next_="Abort"
        ),
        "StartDmsTask": _task(
            sdk("databasemigration", "startReplicationTask"),
            {"ReplicationTaskArn": task, "StartReplicationTaskType": "start-replication"},
            "StartDmsWait",
            catch="Abort",
        ),
        "ResumeDmsTask": _task(
            sdk("databasemigration", "startReplicationTask"),
            {"ReplicationTaskArn": task, "StartReplicationTaskType": "resume-processing"},
            "StartDmsWait",
            catch="Abort",
        ),
        "StartDmsWait": {"Type": "Pass", "Parameters": {"polls": 0}, "ResultPath": "$.wait", "Next": "WaitForDms"},
        "WaitForDms": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": "CheckDmsProgress"},
        "CheckDmsProgress": _task(
            sdk("databasemigration", "describeReplicationTasks"),
            describe,
            "CheckDmsLatency",
            catch="Abort",
            result_path="$.dms",
            result_selector={"tasks.$": "$.ReplicationTasks"},
        ),
        "CheckDmsLatency": _task(
            sdk("cloudwatch", "describeAlarms"),
            {"AlarmNames": [targets.dms_latency_alarm_name]},
            "DmsInSync",
            catch="Abort",
            result_path="$.latency",
            result_selector={"alarms.$": "$.MetricAlarms"},
            comment="the latency alarm is OK only while CDC latency stays under the threshold",
        ),
        "DmsInSync": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        _equals(status, "running"),
                        _present("$.dms.tasks[0].ReplicationTaskStats.FullLoadProgressPercent"),
                        {
                            "Variable": "$.dms.tasks[0].ReplicationTaskStats.FullLoadProgressPercent",
                            "NumericEquals": 100,
                        },
                        _equals("$.latency.alarms[0].StateValue", "OK"),
                    ],
                    "Next": next_,
                },
                {"Or": [_absent(status), _equals(status, "failed")], "Next": "DmsTaskUnusable"},
            ],
            "Default": "CountDmsPoll",
        },
        "CountDmsPoll": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.wait.polls, 1)"},
            "ResultPath": "$.wait",
            "Next": "DmsWaitBounded",
        },
        "DmsWaitBounded": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.wait.polls", "NumericLessThanPath": "$.config.maxPolls", "Next": "WaitForDms"}],
            "Default": "DmsNotInSync",
        },
        "DmsNotInSync": _error(
            "DmsNotInSync",
            None,
            "DMS was not running with full load done and CDC latency under the threshold after {} polls",
            "$.wait.polls",
            next_="Abort",
        ),
    }


def _application_states(targets: Targets, next_: str) -> dict[str, dict[str, Any]]:
    cluster = targets.cluster_name or ""
    service = "$.service.services[0]"
    return {
        "TargetHasService": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.pools.target.hasService", "BooleanEquals": True, "Next": "TaskDefinitionGiven"}
            ],
            "Default": "StartAppWait",
        },
        "TaskDefinitionGiven": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        _present("$.config.taskDefinition"),
                        {"Variable": "$.config.taskDefinition", "IsString": True},
                    ],
                    "Next": "DeployTargetService",
                }
            ],
            "Default": "ScaleTargetService",
        },
        "DeployTargetService": _task(
            sdk("ecs", "updateService"),
            {
                "Cluster": cluster,
                "Service.$": "$.pools.target.service",
                "TaskDefinition.$": "$.config.taskDefinition",
                "DesiredCount.$": "$.config.desiredCount",
            },
            "StartAppWait",
            catch="Abort",
        ),
        "ScaleTargetService": _task(
            sdk("ecs", "updateService"),
            {"Cluster": cluster, "Service.$": "$.pools.target.service", "DesiredCount.$": "$.config.desiredCount"},
            "StartAppWait",
            catch="Abort",
        ),
        "StartAppWait": {"Type": "Pass", "Parameters": {"polls": 0}, "ResultPath": "$.wait", "Next": "WaitForTarget"},
        "WaitForTarget": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": "TargetServiceOrHealth"},
        "TargetServiceOrHealth": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.pools.target.hasService", "BooleanEquals": True, "Next": "DescribeTargetService"}
            ],
            "Default": "DescribeTargetHealth",
        },
        "DescribeTargetService": _task(
            sdk("ecs", "describeServices"),
            {"Cluster": cluster, "Services.$": "States.Array($.pools.target.service)"},
            "ServiceStable",
            catch="Abort",
            result_path="$.service",
            result_selector={"services.$": "$.Services"},
        ),
        # Stable as `aws ecs wait services-stable` defines it: one deployment, running == desired.
        "ServiceStable": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        _present(f"{service}.RunningCount"),
                        _present(f"{service}.DesiredCount"),
                        {"Variable": f"{service}.RunningCount", "NumericEqualsPath": f"{service}.DesiredCount"},
                        _present(f"{service}.Deployments[0]"),
                        _absent(f"{service}.Deployments[1]"),
                    ],
                    "Next": "DescribeTargetHealth",
                }
            ],
            "Default": "CountAppPoll",
        },
        "DescribeTargetHealth": _task(
            sdk("elasticloadbalancingv2", "describeTargetHealth"),
            {"TargetGroupArn.$": "$.pools.target.targetGroupArn"},
            "AnyTargets",
            catch="Abort",
            result_path="$.health",
            result_selector={"targets.$": "$.TargetHealthDescriptions"},
        ),
        "AnyTargets": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.health.targets[0]", "IsPresent": True, "Next": "SummariseHealth"}],
            "Default": "CountAppPoll",
        },
        "SummariseHealth": {
            "Type": "Pass",
            "Parameters": {"states.$": "States.ArrayUnique($.health.targets[*].TargetHealth.State)"},
            "ResultPath": "$.health",
            "Next": "TargetsHealthy",
        },
        # Every registered target healthy (draining ones from the previous revision keep us waiting).
        "TargetsHealthy": {
            "Type": "Choice",
            "Choices": [
                {"And": [_equals("$.health.states[0]", "healthy"), _absent("$.health.states[1]")], "Next": next_}
            ],
            "Default": "CountAppPoll",
        },
        "CountAppPoll": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.wait.polls, 1)"},
            "ResultPath": "$.wait",
            "Next": "AppWaitBounded",
        },
        "AppWaitBounded": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.wait.polls", "NumericLessThanPath": "$.config.maxPolls", "Next": "WaitForTarget"}
            ],
            "Default": "TargetNotReady",
        },
        "TargetNotReady": _error(
            "TargetNotReady",
            None,
            "pool {} was not stable with every target healthy after {} polls",
            "$.pools.target.name",
            "$.wait.polls",
            next_="Abort",
        ),
    }


# --- the rollback entry ----------------------------------------------------------


def rollback_definition(
    targets: Targets, cutover_state_machine_arn: str, default_pool: Pool = Pool.LEGACY
) -> dict[str, Any]:
    """Force traffic to 100 % on one pool: stop running cutovers, set weights, record, notify.

    Input (all optional): ``{"pool": "legacy", "force": false}``. Without `force`
    the pool must have at least one healthy target, so a rollback never sends
    payments to a pool that was scaled down.
    """
    env = lit(targets.environment)
    states: dict[str, dict[str, Any]] = {
        "Defaults": {
            "Type": "Pass",
            "Result": {"pool": default_pool.value, "force": False},
            "ResultPath": "$.defaults",
            "Next": "ApplyInput",
        },
        "ApplyInput": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)"},
            "Next": "ResolvePool",
        },
        "ResolvePool": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.config.pool", "StringEquals": p.value, "Next": f"Pool{p.value.title()}"} for p in Pool
            ],
            "Default": "InvalidPool",
        },
        "InvalidPool": {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": f"pool must be one of {', '.join(p.value for p in Pool)}; nothing was changed",
        },
    }
    for pool in Pool:
        states[f"Pool{pool.value.title()}"] = {
            "Type": "Pass",
            "Result": {
                "name": pool.value,
                "targetGroupArn": targets.target_group_arns[pool.value],
                "targetGroups": [
                    {"TargetGroupArn": targets.target_group_arns[p.value], "Weight": 100 if p is pool else 0}
                    for p in Pool
                ],
            },
            "ResultPath": "$.pool",
            "Next": "Forced",
        }
    states.update(
        {
            "Forced": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.config.force", "BooleanEquals": True, "Next": "ListRunningCutovers"}],
                "Default": "DescribePoolHealth",
            },
            "DescribePoolHealth": _task(
                sdk("elasticloadbalancingv2", "describeTargetHealth"),
                {"TargetGroupArn.$": "$.pool.targetGroupArn"},
                "PoolHasTargets",
                catch="RollbackNotDone",
                result_path="$.health",
                result_selector={"targets.$": "$.TargetHealthDescriptions"},
            ),
            "PoolHasTargets": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.health.targets[0]", "IsPresent": True, "Next": "SummarisePoolHealth"}],
                "Default": "PoolUnhealthy",
            },
            "SummarisePoolHealth": {
                "Type": "Pass",
                "Parameters": {"healthy.$": "States.ArrayContains($.health.targets[*].TargetHealth.State, 'healthy')"},
                "ResultPath": "$.health",
                "Next": "PoolHealthy",
            },
            "PoolHealthy": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.health.healthy", "BooleanEquals": True, "Next": "ListRunningCutovers"}],
                "Default": "PoolUnhealthy",
            },
            "PoolUnhealthy": {
                "Type": "Fail",
                "Error": "PoolUnhealthy",
                "Cause": "the pool has no healthy target; nothing was changed. Scale it up, or start the "
                "rollback with force=true to move traffic anyway",
            },
            "ListRunningCutovers": _task(
                sdk("sfn", "listExecutions"),
                {"StateMachineArn": cutover_state_machine_arn, "StatusFilter": "RUNNING"},
                "StopRunningCutovers",
                catch="RollbackNotDone",
                result_path="$.running",
                result_selector={"executions.$": "$.Executions"},
                comment="a running cutover would move traffic again at its next step",
            ),
            "StopRunningCutovers": {
                "Type": "Map",
                "ItemsPath": "$.running.executions",
                "ItemSelector": {"executionArn.$": "$$.Map.Item.Value.ExecutionArn"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "StopCutover",
                    "States": {
                        "StopCutover": _task(
                            sdk("sfn", "stopExecution"),
                            {
                                "ExecutionArn.$": "$.executionArn",
                                "Error": "ForcedRollback",
                                "Cause": "stopped by the rollback state machine",
                            },
                            None,
                            catch=None,
                        )
                    },
                },
                "ResultPath": None,
                "Next": "SetRollbackWeights",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RollbackNotDone"}],
            },
            "SetRollbackWeights": _task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                {
                    "ListenerArn": targets.listener_arn,
                    "DefaultActions": [
                        {
                            "Type": "forward",
                            "ForwardConfig": {
                                "TargetGroups.$": "$.pool.targetGroups",
                                "TargetGroupStickinessConfig": _stickiness(targets),
                            },
                        }
                    ],
                },
                "RecordRolledBack",
                catch="RollbackNotDone",
                retry=RETRY_ROLLBACK,
            ),
            "RecordRolledBack": _put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRolledBack", catch="NotifyRolledBack"
            ),
            "NotifyRolledBack": _notify(
                targets,
                f"Rollback done ({env})",
                f"payments {env}: forced rollback, 100% of traffic is on {{}}.",
                ["$.pool.name"],
                "RolledBack",
            ),
            "RolledBack": {"Type": "Succeed"},
            "RollbackNotDone": _notify(
                targets,
                f"ROLLBACK FAILED ({env})",
                f"payments {env}: forced rollback to {{}} failed; act by hand now. Error: {{}}",
                ["$.pool.name", "$.error.Cause"],
                "RollbackFailed",
            ),
            "RollbackFailed": {"Type": "Fail", "Error": "RollbackFailed", "CausePath": "$.error.Cause"},
        }
    )
    return {
        "Comment": f"payments {env}: force 100% of traffic onto one pool and stop any running cutover",
        "StartAt": "Defaults",
        "States": states,
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
