"""The traffic stage of a cutover: for each step, set the weights, then bake while the gate is watched.

The gate is read right after the weights change and every ``pollSeconds`` through the whole bake
(:func:`~payments.layers.migration.machines.asl.gate_watch`): an alarm in the first minute of a 900 s bake rolls
back within one poll, not 14 minutes later, and a breach that clears before the bake ends is still seen. The
EventBridge rule on the gate alarm (the rollback machine's ``gate-alarm`` trigger) acts even sooner.
"""

from __future__ import annotations

from payments.layers.migration.machines.asl import States, error, gate_culprits, gate_watch, lit, sdk, task, weights
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
        **gate_watch(
            targets,
            "Bake",
            "bakeSeconds",
            done="StepDone",
            breached="GateBreached",
            on_error=rollback,
            when="throughout each step's bake",
        ),
        **gate_culprits(targets, "GateBreached", next_="GateBreachedError"),
        "GateBreachedError": error(
            "GateAlarm",
            None,
            "gate alarm {} was not OK with {}% of traffic on {} after {} s of the bake (in ALARM: {})",
            f"'{lit(targets.gate_alarm_name)}'",
            "$.traffic.weights.target",
            "$.pools.target.name",
            "$.watch.elapsed",
            "States.JsonToString($.culprits.names)",
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
            "Choices": [{"Variable": "$.traffic.index", "NumericLessThanPath": "$.traffic.count", "Next": "NextStep"}],
            "Default": next_,
        },
    }
    return states
