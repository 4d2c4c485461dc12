"""Putting traffic back: the cutover's own Abort and Rollback paths, and the rollback state machine."""

from __future__ import annotations

from typing import Any

from payments.core.environment import MigrationPhase
from payments.layers.migration.machines.asl import (
    RETRY_ROLLBACK,
    States,
    lit,
    notify,
    put_phase,
    sdk,
    stickiness,
    task,
    weights,
)
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.schedule import Pool


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
            "DescribePoolHealth": task(
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
            "ListRunningCutovers": task(
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
                        "StopCutover": task(
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
            "SetRollbackWeights": task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                {
                    "ListenerArn": targets.listener_arn,
                    "DefaultActions": [
                        {
                            "Type": "forward",
                            "ForwardConfig": {
                                "TargetGroups.$": "$.pool.targetGroups",
                                "TargetGroupStickinessConfig": stickiness(targets),
                            },
                        }
                    ],
                },
                "RecordRolledBack",
                catch="RollbackNotDone",
                retry=RETRY_ROLLBACK,
            ),
            "RecordRolledBack": put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRolledBack", catch="NotifyRolledBack"
            ),
            "NotifyRolledBack": notify(
                targets,
                f"Rollback done ({env})",
                f"payments {env}: forced rollback, 100% of traffic is on {{}}.",
                ["$.pool.name"],
                "RolledBack",
            ),
            "RolledBack": {"Type": "Succeed"},
            "RollbackNotDone": notify(
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


def cutover_abort_and_rollback(targets: Targets) -> States:
    """Abort (nothing moved yet: restore the phase, notify, fail) and Rollback (100 % on the source pool)."""
    env = lit(targets.environment)
    states: States = {}
    # -- abort: nothing moved yet --------------------------------------------------------
    states.update(
        {
            "Abort": put_phase(targets, None, "NotifyAbort", catch="NotifyAbort", value_path="$.phase.previous"),
            "NotifyAbort": notify(
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
    states.update(
        {
            "Rollback": task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                weights(targets, 100, 0),
                "RecordRolledBack",
                catch="RollbackFailed",
                retry=RETRY_ROLLBACK,
                comment="100% on the source pool",
            ),
            "RecordRolledBack": put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRollback", catch="NotifyRollback"
            ),
            "NotifyRollback": notify(
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
            "RollbackFailed": notify(
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
    return states
