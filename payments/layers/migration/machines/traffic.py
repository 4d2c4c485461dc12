"""The traffic stage of a cutover: for each step, set the weights, bake, and check the gate."""

from __future__ import annotations

from payments.layers.migration.machines.asl import States, error, gate_check, lit, sdk, task, weights
from payments.layers.migration.machines.targets import Targets


def traffic(targets: Targets, next_: str, rollback: str) -> States:
    """Step through the schedule; any alarm or error goes to `rollback` (from here on, traffic may have moved)."""
    states: States = {
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
        "SetWeights": task(
            sdk("elasticloadbalancingv2", "modifyListener"),
            weights(targets, "$.traffic.weights.source", "$.traffic.weights.target"),
            "Bake",
            catch=rollback,
            comment="weights: source 100-p, target p, the third pool 0",
        ),
        "Bake": {"Type": "Wait", "SecondsPath": "$.config.bakeSeconds", "Next": "CheckGate"},
    }
    states.update(
        gate_check(
            targets, "CheckGate", ok="StepDone", not_ok="GateBreached", on_error=rollback, when="after each step's bake"
        )
    )
    states.update(
        {
            "GateBreached": error(
                "GateAlarm",
                None,
                "gate alarm {} was not OK with {}% of traffic on {}",
                f"'{lit(targets.gate_alarm_name)}'",
                "$.traffic.weights.target",
                "$.pools.target.name",
                next_=rollback,
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
                "Default": next_,
            },
        }
    )
    return states
