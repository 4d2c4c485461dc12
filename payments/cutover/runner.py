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
from rich.text import Text

from payments.core import naming
from payments.core.environment import load_environment
from payments.core.errors import ConfigError, UserError
from payments.cutover import execution
from payments.layers.migration.names import WRITER_OUTPUTS
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


def outputs_from_aws(env: str, session: Any | None = None) -> OutputsFn:
    """What a rollback needs, found in AWS alone: no Pulumi CLI, backend or passphrase.

    The machines have deterministic names (:class:`MigrationNames`: ``rollback-<suffix>`` in the account of the
    credentials), and the rollback machine's own definition names the listener and the target groups it acts on.
    On-call with AWS credentials can put traffic back when the Pulumi state is out of reach.
    """
    from payments.layers.migration.names import MigrationNames

    environment = load_environment(env)
    if session is None:
        import boto3

        session = boto3.Session(region_name=environment.region)
    with aws_errors("finding the account of your AWS credentials"):
        account = session.client("sts").get_caller_identity()["Account"]
    names = MigrationNames(environment.suffix, environment.region, account)
    with aws_errors(f"reading the state machine {names.machine('rollback')}"):
        definition = json.loads(
            session.client("stepfunctions").describe_state_machine(stateMachineArn=names.machine_arn("rollback"))[
                "definition"
            ]
        )
    states = definition["States"]
    pools = {p.value: states[f"Pool{p.value.title()}"]["Result"]["targetGroupArn"] for p in Pool}
    found = {
        "migration": {
            "cutoverStateMachineArn": names.machine_arn("cutover"),
            "rollbackStateMachineArn": names.machine_arn("rollback"),
            "phaseParameterName": names.phase_parameter,
        },
        "edge": {
            "httpsListenerArn": states["SetRollbackWeights"]["Parameters"]["ListenerArn"],
            "targetGroupArns": pools,
        },
    }
    return found.get


class Deployed:
    """The deployed cutover of one environment, read from its stack outputs (or, for a rollback, from AWS)."""

    def __init__(self, env: str, outputs: OutputsFn, session: Any | None = None, poll_seconds: float = 5.0) -> None:
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
        #: the writer machines by role (switchover, fallback, finish, writer-recovery), when deployed
        self.writer_arns: dict[str, str] = {
            role: migration[key] for role, key in WRITER_OUTPUTS.items() if migration.get(key)
        }
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
        name = execution_name(prefix)
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

        console.print(Text(f"  execution: {execution_arn}"))
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
    "AnotherExecutionRunning": "another cutover or a rollback was running, so nothing was changed. Fix: wait for it "
    "(invoke status --env {env} --live), then start again",
    "PhaseUnreadable": "the migration phase could not be read: nothing was changed",
    "RunUnrecorded": "the run record could not be written: nothing was changed",
    "ListenerUnreadable": "the listener could not be read: nothing was changed",
    "ListenerNotOnSource": "the listener is not 100% on the source pool, so nothing was changed. "
    "Fix: invoke rollback --env {env} to put all traffic on the source pool, or start with --from set to the "
    "pool that has the traffic",
    "SourcePoolUnhealthy": "a rollback was needed but the source pool has no healthy target: traffic was kept on "
    "the healthy target pool and on-call was paged. Fix: restore the source pool before any further move",
    "RollbackFailed": "the automatic rollback could NOT move traffic back: the safety net tries again, but the "
    "listener may still be split. Fix now: invoke rollback --env {env} --force",
}


def failure_message(result: execution.Outcome, env: str) -> str:
    """One line for the operator after a cutover that did not complete, chosen from the execution's error."""
    weights = ", ".join(f"{pool} {weight}%" for pool, weight in result.weights.items())
    known = _AFTER_FAILURE.get(result.error or "")
    if known is None:
        # Stopped (ABORTED: a person, or invoke rollback), timed out, or an error no Catch saw: the safety net's
        # rollback machine puts traffic back when the execution had moved it.
        known = (
            f"it ended {result.status}" + (f" ({result.error})" if result.error else "") + ": the safety net puts "
            "traffic back on the source pool if it had moved. Fix: check the weights below; if they are not where "
            f"you want them, run invoke rollback --env {env}"
        )
    return f"the cutover did not complete; {known.format(env=env)} (weights now: {weights}; see the cause above)"


#: Endings after which nothing moved: the safety net has nothing to do.
UNTOUCHED = {
    "InvalidInput",
    "AnotherExecutionRunning",
    "PhaseUnreadable",
    "RunUnrecorded",
    "ListenerUnreadable",
    "ListenerNotOnSource",
    "CutoverAborted",
    "CutoverRolledBack",
}


def cutover(
    deployed: Deployed, payload: dict[str, Any], console: Console, safety_net_seconds: float = 30.0
) -> execution.Outcome:
    payload = with_current_task_definition(deployed, payload)
    for machine, what in ((deployed.cutover_arn, "a cutover"), (deployed.rollback_arn, "a rollback")):
        if deployed.running(machine):
            raise UserError(
                f"{what} of '{deployed.env}' is already running. Fix: watch it in the Step Functions "
                f"console (or invoke status --env {deployed.env} --live) and start again once it has ended"
            )
    console.print(
        Text(
            f"cutover of {deployed.env}: weights now "
            + ", ".join(f"{p} {w}%" for p, w in deployed.weights().items())
            + f"; phase {deployed.phase()}"
        )
    )
    if payload.get("taskDefinition"):
        console.print(Text(f"  task definition: {payload['taskDefinition']}"))
    arn = deployed.start(deployed.cutover_arn, payload, "cutover")
    result = deployed.watch(arn, console)
    if not result.succeeded and result.error not in UNTOUCHED:
        follow_safety_net(deployed, arn, console, safety_net_seconds)
        result.weights = deployed.weights()
    execution.print_outcome(console, result, deployed.phase())
    return result


def follow_safety_net(
    deployed: Deployed, ended: str, console: Console, wait_seconds: float, machine_arn: str | None = None
) -> None:
    """Show what the safety net starts for an ending no Catch saw (EventBridge: within seconds): the rollback,
    or `machine_arn` (writer-recovery for the writer machines)."""
    machine_arn = machine_arn or deployed.rollback_arn
    with aws_errors("reading the ended execution"):
        stopped = deployed.sfn.describe_execution(executionArn=ended).get("stopDate")
    console.print(Text(f"  waiting up to {wait_seconds:.0f} s for the safety net's rollback…"))
    deadline = time.monotonic() + wait_seconds
    while True:
        with aws_errors("listing the rollback's executions"):
            recent = deployed.sfn.list_executions(stateMachineArn=machine_arn, maxResults=5)["executions"]
        started = [e for e in recent if stopped is None or e["startDate"] >= stopped]
        for rollback in reversed(started):
            console.print(Text(f"  safety net: {rollback['executionArn'].rsplit(':', 1)[-1]}"))
            deployed.watch(rollback["executionArn"], console)
        if started or time.monotonic() > deadline:
            return
        time.sleep(deployed.poll_seconds)


def check_pool(pool: str | None) -> str | None:
    """The --pool of a rollback, checked before anything is looked up."""
    if pool is not None and pool not in [p.value for p in Pool]:
        raise UserError(f"--pool: '{pool}' is not allowed. Fix: use one of: {', '.join(p.value for p in Pool)}")
    return pool


def rollback(deployed: Deployed, pool: str | None, force: bool, console: Console) -> execution.Outcome:
    payload: dict[str, Any] = {"force": force, "trigger": "operator"}
    if check_pool(pool) is not None:
        payload["pool"] = pool
    console.print(
        Text.assemble(
            ("rollback", "bold red"),
            f" of {deployed.env} to "
            + (pool or "the last cutover's source pool (from its run record)")
            + ": running cutovers are stopped first",
        )
    )
    arn = deployed.start(deployed.rollback_arn, payload, "rollback")
    result = deployed.watch(arn, console)
    execution.print_outcome(console, result, deployed.phase())
    return result


# --- the writer: switchover, fallback, finish, recovery -------------------------------------------------------

#: What an operator must know after a writer machine ended without completing, by the execution's error.
_WRITER_AFTER = {
    "SwitchoverReverted": "it was reverted before the flip: on-prem is still the writer and writes flow",
    "FallbackReverted": "it was reverted before the flip: Aurora is still the writer and writes flow",
    "SwitchoverUndone": "it flipped, could not start the way back, and flipped back before any write: on-prem is "
    "the writer",
    "FallbackUndone": "it flipped, could not start the way back, and flipped back before any write: Aurora is the "
    "writer",
    "WrongPhase": "the phase does not allow it: nothing was changed",
    "WrongWriter": "the DB indirection already names the other database: nothing was changed",
    "LegacyServing": "the legacy pool still has traffic: nothing was changed. Fix: finish the traffic cutover first",
    "WritesStillPaused": "writes may still be paused: the safety net (writer-recovery) retries. Fix if they stay "
    "paused: invoke recover-writer --env {env}",
    "WriterStuck": "writes stay paused on purpose (no lossless way on); the safety net acts. Fix if it cannot: "
    "invoke recover-writer --env {env} after reading the notice",
}


def execution_name(prefix: str) -> str:
    """A Step Functions execution name: the machine's role and a run stamp, unique per start (a name cannot be
    reused for 90 days, and two starts in one second, such as a reverted switchover after a completed one, happen)."""
    return f"{prefix}-{naming.run_stamp()}"


def writer_arn(deployed: Deployed, role: str) -> str:
    arn = deployed.writer_arns.get(role)
    if arn is None:
        raise UserError(
            f"the {role} state machine of '{deployed.env}' is not deployed (the writer machines need the DB "
            f"indirection, the write-pause rule, the app NACL and the reverse DMS task). Fix: invoke deploy --env "
            f"{deployed.env}"
        )
    return arn


def writer_move(
    deployed: Deployed, role: str, payload: dict[str, Any], console: Console, safety_net_seconds: float = 30.0
) -> execution.Outcome:
    """Run the switchover, fallback or finish to its end, then whatever its end set off (writer-recovery)."""
    arn_of = writer_arn(deployed, role)
    busy = [r for r, a in {**deployed.writer_arns, "cutover": deployed.cutover_arn,
                           "rollback": deployed.rollback_arn}.items() if deployed.running(a)]
    if busy:
        raise UserError(
            f"a {busy[0]} of '{deployed.env}' is running. Fix: watch it (invoke status --env {deployed.env} --live) "
            "and start again once it has ended"
        )
    console.print(Text(f"{role} of {deployed.env}: phase {deployed.phase()}"))
    arn = deployed.start(arn_of, payload, role)
    result = deployed.watch(arn, console)
    if not result.succeeded and "writer-recovery" in deployed.writer_arns:
        follow_safety_net(deployed, arn, console, safety_net_seconds, deployed.writer_arns["writer-recovery"])
    execution.print_outcome(console, result, deployed.phase())
    return result


def writer_failure_message(result: execution.Outcome, role: str, env: str) -> str:
    known = _WRITER_AFTER.get(result.error or "")
    if known is None:
        known = (
            f"it ended {result.status}" + (f" ({result.error})" if result.error else "") + ": the safety net "
            f"(writer-recovery) lifts the pause and keeps the writer the DB indirection names. Fix: check invoke "
            f"status --env {env} --live"
        )
    return f"the {role} did not complete; {known.format(env=env)} (see the cause above)"
