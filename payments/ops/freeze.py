"""The deploy freeze: no `pulumi up` or `destroy` of a layer the migration acts on while one of its machines runs.

A cutover, rollback, switchover or fallback owns the listener weights, the write-pause rule and the DB
indirection while it runs; a deploy of edge, app or migration at that moment would race it (a refreshed listener,
a replaced task definition, an updated state machine under a running execution). So the orchestrator asks Step
Functions, before it changes anything, whether any of the migration layer's state machines has a RUNNING
execution, and refuses in one line if so. It fails closed: if it cannot ask, it does not deploy.

The machines are found in the migration stack's outputs (every output named ``*StateMachineArn``), so a first
deploy, where the migration stack does not exist yet, is never frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from payments.core.errors import UserError

#: Layers a running migration machine acts on (listener and pause rule, services and task definitions, itself).
FROZEN_LAYERS = ("edge", "app", "migration")

#: (state machine ARNs, region) -> ARNs of their RUNNING executions.
RunningFn = Callable[[list[str], str], list[str]]


def machine_arns(migration_outputs: Mapping[str, Any] | None) -> list[str]:
    """The state machines the migration stack exports (none before its first deploy)."""
    outputs = migration_outputs or {}
    return sorted(str(v) for k, v in outputs.items() if k.endswith("StateMachineArn") and v)


def running_executions(state_machine_arns: list[str], region: str) -> list[str]:
    """RUNNING executions of these machines, from Step Functions (needs the deploy's own AWS credentials)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sfn = boto3.client("stepfunctions", region_name=region)
    running: list[str] = []
    try:
        for arn in state_machine_arns:
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                running += [e["executionArn"] for e in page["executions"]]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist":
            return running  # the stack says it exists, AWS says it does not: nothing of it can run
        raise UserError(_unreadable(e)) from None
    except BotoCoreError as e:
        raise UserError(_unreadable(e)) from None
    return running


def _unreadable(error: Exception) -> str:
    return (f"deploy freeze: cannot ask Step Functions whether a migration machine is running ({error}). "
            "Fix: check the AWS credentials and region of this environment; nothing was deployed")


def check(env: str, action: str, layers: Iterable[str], migration_outputs: Mapping[str, Any] | None, region: str,
          running: RunningFn = running_executions) -> None:
    """Refuse `action` of any frozen layer while a migration machine of `env` runs."""
    frozen = [name for name in layers if name in FROZEN_LAYERS]
    arns = machine_arns(migration_outputs)
    if not frozen or not arns:
        return
    busy = running(arns, region)
    if busy:
        names = ", ".join(arn.rsplit(":", 2)[-2] + "/" + arn.rsplit(":", 1)[-1] for arn in busy)
        raise UserError(
            f"{action} of {', '.join(frozen)} in {env} refused: the migration is running ({names}); edge, app and "
            f"migration are frozen until it ends. Fix: wait for it (invoke status --env {env} --live), or end it "
            f"with invoke rollback --env {env}, then deploy again"
        )
