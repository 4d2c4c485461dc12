"""The end of a cutover: record the phase, notify, hold the source warm while the gate watches, then optionally
scale the source down.

Once the last step's bake has passed, traffic is 100 % on the target and healthy. The gate is still watched for
``holdSeconds`` afterwards, whatever the source (the on-prem pool is never scaled down, but a failure that only
shows at full load must still send traffic back while the source is warm).
Bookkeeping that fails after that (a throttled ``PutParameter``, a notice that cannot be sent, a scale-down
refused) must not undo it, so it ends the execution SUCCEEDED with ``$.warnings`` saying what to finish by hand,
never FAILED (a failed execution is what the safety net rolls back). Only the gate, watched through the hold
while the source is still warm, can still roll the cutover back.
"""

from __future__ import annotations

from payments.core.environment import MigrationPhase
from payments.layers.migration.machines.asl import (
    States,
    error,
    gate_culprits,
    gate_watch,
    lit,
    notify,
    put_phase,
    sdk,
    task,
)
from payments.layers.migration.machines.targets import Targets


def _warning(name: str, text: str, next_: str) -> States:
    return {
        name: {
            "Type": "Pass",
            "Parameters": {"text": text, "error.$": "States.JsonToString($.error)"},
            "ResultPath": f"$.warnings.{name}",
            "Next": next_,
        }
    }


def finalize(targets: Targets, rollback: str) -> States:
    env = lit(targets.environment)
    states: States = {
        "Completing": {"Type": "Pass", "Result": {}, "ResultPath": "$.warnings", "Next": "RecordComplete"},
        "RecordComplete": put_phase(
            targets, MigrationPhase.APP_ON_AWS.value, "NotifyComplete", catch="PhaseNotRecorded"
        ),
        **_warning(
            "PhaseNotRecorded",
            f"the phase could not be set to {MigrationPhase.APP_ON_AWS.value}: set it by hand",
            "NotifyComplete",
        ),
        "NotifyComplete": notify(
            targets,
            f"Cutover complete ({env})",
            f"payments {env}: 100% of traffic is on {{}} (from {{}}). Phase: {MigrationPhase.APP_ON_AWS.value}.",
            ["$.pools.target.name", "$.pools.source.name"],
            "HoldSource",
        ),
        "ScaleDownWanted": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.config.scaleDownSource", "BooleanEquals": True},
                        {"Variable": "$.pools.source.hasService", "BooleanEquals": True},
                    ],
                    "Next": "ScaleDownSource",
                }
            ],
            "Default": "CutoverComplete",
        },
        **gate_watch(
            targets,
            "HoldSource",
            "holdSeconds",
            done="ScaleDownWanted",
            breached="GateBreachedInHold",
            on_error="HoldGateUnreadable",
            when="while the source is held warm",
        ),
        **_warning(
            "HoldGateUnreadable",
            "the gate could not be read during the hold: the source was kept warm (not scaled down); watch it",
            "CutoverComplete",
        ),
        **gate_culprits(targets, "GateBreachedInHold", next_="GateBreachedInHoldError"),
        "GateBreachedInHoldError": error(
            "GateAlarm",
            None,
            "gate alarm {} was not OK during the hold; source {} kept (in ALARM: {})",
            f"'{lit(targets.gate_alarm_name)}'",
            "$.pools.source.name",
            "States.JsonToString($.culprits.names)",
            next_=rollback,
        ),
        "ScaleDownSource": task(
            sdk("ecs", "updateService"),
            {"Cluster": targets.cluster_name or "", "Service.$": "$.pools.source.service", "DesiredCount": 0},
            "CutoverComplete",
            catch="ScaleDownFailed",
        ),
        **_warning(
            "ScaleDownFailed",
            "traffic stays on the target; scaling the source service down failed: scale it down by hand",
            "CutoverComplete",
        ),
        "CutoverComplete": {"Type": "Succeed", "Comment": "complete; $.warnings lists what to finish by hand"},
    }
    return states
