"""Gap 5 of the adapter: identifiers.

moto picks random suffixes for the ARNs it creates; the planned definition names the planned ARNs. Stand-ins
are re-keyed to the planned ARNs, so the definition needs no rewriting. Step Functions ARNs, SNS topics, SSM
parameters, alarms and ECS names need no pinning: moto derives them from the name, account and region exactly
as the planner fabricates them.
"""

from __future__ import annotations

from typing import Any

from payments.cutover.emulator.session import ACCOUNT_ID, REGION


def _elbv2(region: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[ACCOUNT_ID][region]


def pin_target_group(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    backend = _elbv2(region)
    group = backend.target_groups.pop(current_arn)
    group.arn = planned_arn
    backend.target_groups[planned_arn] = group


def pin_listener(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    for balancer in _elbv2(region).load_balancers.values():
        if current_arn in balancer.listeners:
            listener = balancer.listeners.pop(current_arn)
            listener.arn = planned_arn
            for rule in listener._default_rule.values():
                rule.listener_arn = planned_arn
            balancer.listeners[planned_arn] = listener
            return
    raise KeyError(current_arn)


def pin_dms_task(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    """Re-key the task to its planned ARN and make it 'ready' (moto leaves new tasks 'creating' forever)."""
    from moto.dms.models import dms_backends

    backend = dms_backends[ACCOUNT_ID][region]
    task = backend.replication_tasks.pop(current_arn)
    task.arn = planned_arn
    backend.replication_tasks[planned_arn] = task
    task.ready()
