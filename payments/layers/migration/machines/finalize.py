"""The end of a cutover: record the phase, notify, and optionally hold the source warm then scale it down."""

from __future__ import annotations

from payments.core.environment import MigrationPhase
from payments.layers.migration.machines.asl import States, error, gate_check, lit, notify, put_phase, sdk, task
from payments.layers.migration.machines.targets import Targets


def finalize(targets: Targets, rollback: str) -> States:
    env = lit(targets.environment)
    states: States = {
        "RecordComplete": put_phase(targets, MigrationPhase.COMPLETE.value, "NotifyComplete", catch=rollback),
        "NotifyComplete": notify(
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
    states.update(
        gate_check(
            targets,
            "CheckGateAfterHold",
            ok="ScaleDownSource",
            not_ok="GateBreachedInHold",
            on_error=rollback,
            when="before the source is scaled down",
        )
    )
    states.update(
        {
            "GateBreachedInHold": error(
                "GateAlarm",
                None,
                "gate alarm {} was not OK during the hold; source {} kept",
                f"'{lit(targets.gate_alarm_name)}'",
                "$.pools.source.name",
                next_=rollback,
            ),
            "ScaleDownSource": task(
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
    return states
