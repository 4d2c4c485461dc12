"""``invoke cutover`` and ``invoke rollback`` against a deployed environment (boto3).

The deployed ARNs come from the stack outputs (``pulumi stack output --json``
through :mod:`payments.ops.pulumi_cli`); the execution is followed live, state
by state, and ends with the listener's weights and the outcome. Every failure
a user can fix (no CLI, no credentials, stack not deployed, a cutover already
running) is one line.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from payments.core.environment import load_environment
from payments.core.errors import ConfigError, UserError
from payments.cutover import execution
from payments.layers.migration.schedule import Pool, check_pools, check_seconds, parse_steps

#: (layer) -> that layer's outputs in the environment, or None when not deployed.
OutputsFn = Callable[[str], "dict[str, Any] | None"]


def stack_outputs(env: str, root: Path) -> OutputsFn:
    """Outputs through the Pulumi CLI (the deploy orchestration's reader), after its preflight checks."""
    from payments.ops.deploy import Orchestrator

    orchestrator = Orchestrator(env, root, planner=None)
    orchestrator.preflight(credentials=True)
    return orchestrator.outputs


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """AWS SDK failures as one line naming what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except NoCredentialsError:
        raise UserError(
            f"{what}: no AWS credentials. Fix: set AWS_PROFILE (after `aws sso login`) or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from None
    except NoRegionError:
        raise UserError(f"{what}: no AWS region. Fix: set region in environments/<env>.yaml") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "Error"), err.get("Message", str(exc))
        hint = {
            "ExpiredTokenException": "refresh your credentials (aws sso login)",
            "ExpiredToken": "refresh your credentials (aws sso login)",
            "AccessDeniedException": "use a role allowed to run the cutover state machines",
            "StateMachineDoesNotExist": "deploy the migration layer (invoke deploy --env <env> --layers migration)",
        }.get(code, "see the message above")
        raise UserError(f"{what}: {code}: {message}. Fix: {hint}") from None
    except BotoCoreError as exc:
        raise UserError(f"{what}: {exc}. Fix: check network access to AWS and your credentials") from None


class Deployed:
    """The deployed cutover of one environment, read from its stack outputs."""

    def __init__(
        self, env: str, outputs: OutputsFn, session: Any | None = None, poll_seconds: float = 5.0
    ) -> None:
        self.env = env
        self.poll_seconds = poll_seconds  #: how often a running execution's history is read
        environment = load_environment(env)
        self.region = environment.region
        migration = outputs("migration")
        edge = outputs("edge")
        for layer, values in (("migration", migration), ("edge", edge)):
            if not values:
                raise UserError(
                    f"the {layer} layer of '{env}' is not deployed. "
                    f"Fix: invoke deploy --env {env} (or rehearse offline: invoke rehearse --env {env})"
                )
        assert migration is not None and edge is not None
        # The app layer's current task definition: the one baked into the definition is as old as the last
        # migration deploy, so the runner sends the current one (None in EC2 mode or without an app stack).
        self.task_definition: str | None = (outputs("app") or {}).get("taskDefinitionArn") or None
        self.cutover_arn: str = migration["cutoverStateMachineArn"]
        self.rollback_arn: str = migration["rollbackStateMachineArn"]
        self.phase_parameter: str = migration["phaseParameterName"]
        self.listener_arn: str = edge["httpsListenerArn"]
        self.target_groups: dict[str, str] = dict(edge["targetGroupArns"])
        if session is None:
            import boto3

            session = boto3.Session(region_name=self.region)
        self.sfn = session.client("stepfunctions")
        self.elbv2 = session.client("elbv2")
        self.ssm = session.client("ssm")

    def weights(self) -> dict[str, int]:
        with aws_errors("reading the listener weights"):
            return execution.listener_weights(self.elbv2, self.listener_arn, self.target_groups)

    def phase(self) -> str:
        with aws_errors("reading the migration phase"):
            return self.ssm.get_parameter(Name=self.phase_parameter)["Parameter"]["Value"]

    def running(self, state_machine_arn: str) -> list[str]:
        with aws_errors("listing running executions"):
            page = self.sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
        return [e["executionArn"] for e in page.get("executions", [])]

    def start(self, state_machine_arn: str, payload: dict[str, Any], prefix: str) -> str:
        name = f"{prefix}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        with aws_errors(f"starting {state_machine_arn.rsplit(':', 1)[-1]}"):
            return self.sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
                "executionArn"
            ]

    def watch(self, execution_arn: str, console: Console) -> execution.Outcome:
        first: list[Any] = []

        def show(step: execution.Step) -> None:
            if not first:
                first.append(step.at)
            execution.print_step(console, first[0], step)

        console.print(f"  execution: {execution_arn}")
        with aws_errors("following the execution"):
            steps = list(execution.follow(self.sfn, execution_arn, poll_seconds=self.poll_seconds, on_step=show))
            return execution.outcome(self.sfn, execution_arn, steps, self.weights())


def cutover_input(steps: str | None, bake: int | str | None, source: str | None, target: str | None) -> dict[str, Any]:
    """The execution input from the task's flags; unset flags fall back to the definition's configured defaults."""
    payload: dict[str, Any] = {}
    if steps is not None:
        payload["steps"] = list(parse_steps(steps, "--steps"))
    if bake is not None:
        payload["bakeSeconds"] = check_seconds(bake, "--bake")
    if (source is None) != (target is None):
        raise ConfigError("--from/--to", "only one of them is given", "give both, e.g. --from legacy --to blue")
    if source is not None and target is not None:
        src, dst = check_pools(source, target)
        payload["sourcePool"], payload["targetPool"] = src.value, dst.value
    return payload


def with_current_task_definition(deployed: Deployed, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with the app stack's current task definition unless the caller chose one."""
    if "taskDefinition" in payload or not deployed.task_definition:
        return payload
    return {**payload, "taskDefinition": deployed.task_definition}


#: What an operator must know after a cutover ended without completing, by the execution's error.
_AFTER_FAILURE = {
    "CutoverRolledBack": "it rolled back: traffic is back on the source pool",
    "CutoverAborted": "it was aborted before any traffic moved: the listener was not touched",
    "InvalidInput": "the input was refused: nothing was changed",
    "PhaseUnreadable": "the migration phase could not be read: nothing was changed",
    "ListenerUnreadable": "the listener could not be read: nothing was changed",
    "ListenerNotOnSource": "the listener is not 100% on the source pool, so nothing was changed. "
    "Fix: invoke rollback --env {env} to put all traffic on the source pool, or start with --from set to the "
    "pool that has the traffic",
    "RollbackFailed": "the automatic rollback could NOT move traffic back: the listener may still be split. "
    "Fix now: invoke rollback --env {env} --force",
    "SourceScaleDownFailed": "the cutover completed (traffic is on the target pool), but scaling the source "
    "service down failed. Fix: scale it down by hand",
}


def failure_message(result: execution.Outcome, env: str) -> str:
    """One line for the operator after a cutover that did not complete, chosen from the execution's error."""
    weights = ", ".join(f"{pool} {weight}%" for pool, weight in result.weights.items())
    known = _AFTER_FAILURE.get(result.error or "")
    if known is None:
        # Stopped (ABORTED: e.g. by invoke rollback), timed out, or an error this runner does not know.
        known = (
            f"it ended {result.status}" + (f" ({result.error})" if result.error else "") + ": traffic may be split. "
            f"Fix: check the weights, and run invoke rollback --env {env} if they are not where you want them"
        )
    return f"the cutover did not complete; {known.format(env=env)} (weights now: {weights}; see the cause above)"


def cutover(deployed: Deployed, payload: dict[str, Any], console: Console) -> execution.Outcome:
    payload = with_current_task_definition(deployed, payload)
    if deployed.running(deployed.cutover_arn):
        raise UserError(
            f"a cutover of '{deployed.env}' is already running. Fix: watch it in the Step Functions "
            f"console, or stop it with invoke rollback --env {deployed.env}"
        )
    console.print(
        f"[bold]cutover[/bold] of {deployed.env}: weights now "
        + ", ".join(f"{p} {w}%" for p, w in deployed.weights().items())
        + f"; phase {deployed.phase()}"
    )
    if payload.get("taskDefinition"):
        console.print(f"  task definition: {payload['taskDefinition']}")
    arn = deployed.start(deployed.cutover_arn, payload, "cutover")
    result = deployed.watch(arn, console)
    execution.print_outcome(console, result, deployed.phase())
    return result


def check_pool(pool: str | None) -> str | None:
    """The --pool of a rollback, checked before anything is looked up."""
    if pool is not None and pool not in [p.value for p in Pool]:
        raise UserError(f"--pool: '{pool}' is not allowed. Fix: use one of: {', '.join(p.value for p in Pool)}")
    return pool


def rollback(deployed: Deployed, pool: str | None, force: bool, console: Console) -> execution.Outcome:
    payload: dict[str, Any] = {"force": force}
    if check_pool(pool) is not None:
        payload["pool"] = pool
    console.print(
        f"[bold red]rollback[/bold red] of {deployed.env}"
        + (f" to {pool}" if pool else "")
        + ": running cutovers are stopped first"
    )
    arn = deployed.start(deployed.rollback_arn, payload, "rollback")
    result = deployed.watch(arn, console)
    execution.print_outcome(console, result, deployed.phase())
    return result
