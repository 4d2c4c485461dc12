"""Input checks: everything a cutover checks before it changes anything.

Defaults merged with the execution input, waits and polls in range and whole, the pools, the schedule, and the
listener 100 % on the source pool. Any "no" here fails the execution with ``InvalidInput`` (or a named refusal)
and nothing was changed.
"""

from __future__ import annotations

from typing import Any

from payments.layers.migration.machines.asl import States, absent, present, sdk, task
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.schedule import MAX_POLLS, MAX_WAIT_SECONDS, PAIRS, CutoverInput, Pool

#: 100 - p for p in 0..100, indexed by p.
COMPLEMENT = list(range(100, -1, -1))

#: Input keys that Wait states read (SecondsPath): whole seconds 0..MAX_WAIT_SECONDS.
WAIT_KEYS = ("bakeSeconds", "pollSeconds", "holdSeconds")
#: Input key that bounds the polling loops: a whole number 1..MAX_POLLS.
POLLS_KEY = "maxPolls"


def defaults(defaults_: CutoverInput, next_: str) -> States:
    return {
        "Defaults": {
            "Type": "Pass",
            "Comment": "configured defaults; the execution input overrides any key",
            "Result": defaults_.as_json(),
            "ResultPath": "$.defaults",
            "Next": "ApplyInput",
        },
        "ApplyInput": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)"},
            "Next": next_,
        },
    }


def check_waits(next_: str) -> States:
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
            present(path),
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


def pool_doc(targets: Targets, pool: Pool) -> dict[str, Any]:
    service = targets.service_names.get(pool.value) if targets.cluster_name else None
    doc: dict[str, Any] = {
        "name": pool.value,
        "targetGroupArn": targets.target_group_arns[pool.value],
        "hasService": service is not None,
    }
    if service is not None:
        doc["service"] = service
    return doc


def resolve_pools(targets: Targets, next_: str, invalid: str) -> States:
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
                "source": pool_doc(targets, source),
                "target": pool_doc(targets, target),
                "other": pool_doc(targets, other),
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


def schedule(next_: str) -> States:
    """Every step 1-100, increasing, ending at 100, with its weights computed before anything changes."""
    return {
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
            "Choices": [{"Variable": "$.lastStep.last.target", "NumericEquals": 100, "Next": next_}],
            "Default": "ScheduleNotComplete",
        },
        "ScheduleNotComplete": {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": "the last step must be 100 so the cutover completes; nothing was changed",
        },
    }


def check_listener(targets: Targets, next_: str) -> States:
    """The listener must send 100 % of traffic to the source pool before anything changes.

    Abort (any failure before traffic moves) leaves the listener alone, and Rollback sets 100 % on the source
    pool: both are right only when the source pool is where all traffic is. A listener left split (an execution
    stopped half way) or on another pool (a wrong sourcePool) is refused, not "fixed": resetting it here could
    move all traffic to a pool nobody meant to use. The filter runs in a ResultSelector, where Step Functions
    accepts full JSONPath; an indefinite path yields a (possibly empty) list, never an error.
    """
    serving = "$.Listeners[*].DefaultActions[*].ForwardConfig.TargetGroups[?(@.Weight > 0)].TargetGroupArn"
    return {
        "ReadListener": task(
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
                        present("$.listener.serving[0]"),
                        {"Variable": "$.listener.serving[0]", "StringEqualsPath": "$.pools.source.targetGroupArn"},
                        absent("$.listener.serving[1]"),
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
