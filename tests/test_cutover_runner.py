"""`invoke cutover`/`rollback` (boto3 runner) against emulated deployments, and `invoke rehearse` from the plan."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from rich.console import Console

from payments.core import naming
from payments.core.errors import UserError
from payments.cutover import emulator, execution, rehearsal, runner
from payments.layers.migration.schedule import CutoverInput
from tests.support import one, plan
from tests.test_cutover_emulator import FAST, START, TASK_DEFINITION_1, Rig
from tests.test_migration_state_machine import targets as make_targets

ROOT = Path(__file__).resolve().parents[1]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def outputs_for(rig: Rig | None, task_definition: str | None = None) -> runner.OutputsFn:
    def read(layer: str) -> dict[str, Any] | None:
        if rig is None:
            return None
        return {
            "app": {"taskDefinitionArn": task_definition} if task_definition else None,
            "migration": {
                "cutoverStateMachineArn": rig.cutover_arn,
                "rollbackStateMachineArn": rig.rollback_arn,
                "phaseParameterName": rig.targets.phase_parameter_name,
            },
            "edge": {
                "httpsListenerArn": rig.targets.listener_arn,
                "targetGroupArns": dict(rig.targets.target_group_arns),
            },
        }.get(layer)

    return read


def deployed_for(rig: Rig, task_definition: str | None = None) -> runner.Deployed:
    """The runner's view of the rig, reading the emulator through boto3 like the real runner reads AWS."""
    return runner.Deployed(
        "dev",
        outputs_for(rig, task_definition),
        session=boto3.Session(region_name=emulator.REGION),
        poll_seconds=0.05,
    )


def test_not_deployed_is_one_line() -> None:
    with pytest.raises(
        UserError, match=r"^the migration layer of 'dev' is not deployed\. Fix: invoke deploy --env dev"
    ):
        runner.Deployed("dev", outputs_for(None), session=object())


def test_missing_cli_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match=r"the Pulumi CLI \('pulumi'\) is not on PATH"):
        runner.stack_outputs("dev", ROOT)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (NoCredentialsError(), "starting x: no AWS credentials. Fix: set AWS_PROFILE"),
        (
            ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}, "StartExecution"),
            "starting x: ExpiredTokenException: expired. Fix: refresh your credentials",
        ),
    ],
)
def test_aws_errors_are_one_line(error: Exception, text: str) -> None:
    with pytest.raises(UserError) as err, runner.aws_errors("starting x"):
        raise error
    assert str(err.value).startswith(text) and "\n" not in str(err.value)


def test_cutover_and_rollback_through_the_runner() -> None:
    with emulator.emulator() as session:
        rig = Rig(session, make_targets(), CutoverInput())
        deployed = deployed_for(rig)
        payload = {
            **runner.cutover_input("20,100", str(FAST["bakeSeconds"]), "legacy", "blue"),
            **FAST,
            "taskDefinition": rig.standins.task_definition_arn,
        }
        console = quiet()
        result = runner.cutover(deployed, payload, console)
        assert result.succeeded and deployed.weights() == {"legacy": 0, "blue": 100, "green": 0}
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert "traffic: set weights  blue 20% / legacy 80%" in text and "execution SUCCEEDED" in text
        back = runner.rollback(deployed, None, False, quiet())  # the last cutover's source pool: legacy
        assert back.succeeded and deployed.weights() == START and deployed.phase() == "rolled-back"
        with pytest.raises(UserError, match="--pool: 'nowhere' is not allowed"):
            runner.rollback(deployed, "nowhere", False, quiet())


def test_a_rollback_needs_aws_credentials_only() -> None:
    """Defect 7: `invoke rollback` read the stack outputs through the Pulumi CLI, so on-call without the backend or
    the passphrase could not roll back. The machines are found by their names, in the credentials' account."""
    with emulator.emulator() as session:
        rig = Rig(session, make_targets(), CutoverInput())
        rig.standins.set_weights({"legacy": 50, "blue": 50, "green": 0})
        outputs = runner.outputs_from_aws("dev", boto3.Session(region_name=emulator.REGION))
        assert outputs("migration") == {
            "cutoverStateMachineArn": rig.cutover_arn,
            "rollbackStateMachineArn": rig.rollback_arn,
            "phaseParameterName": "/payments/dev/migration/phase",
        }
        assert outputs("edge") == {
            "httpsListenerArn": rig.targets.listener_arn,
            "targetGroupArns": dict(rig.targets.target_group_arns),
        }
        deployed = runner.Deployed(
            "dev", outputs, session=boto3.Session(region_name=emulator.REGION), poll_seconds=0.05
        )
        assert runner.rollback(deployed, "legacy", False, quiet()).succeeded
        assert deployed.weights() == START


def test_the_rollback_task_never_calls_the_pulumi_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    source = (ROOT / "tasks.py").read_text()
    body = source[source.index("def rollback(") : source.index("def rehearse(")]
    assert "runner.outputs_from_aws(env)" in body and "stack_outputs" not in body


def test_a_second_cutover_is_refused_while_one_runs() -> None:
    with emulator.emulator() as session:
        rig = Rig(session, make_targets(), CutoverInput())
        baking = threading.Event()

        def hold_the_clock(entered: emulator.Entered) -> None:
            session.clock.started()  # the operator acts while the first cutover bakes: its time stands still
            baking.set()

        session.control.when_entered("BakeWait", hold_the_clock)
        running = rig.start(
            rig.cutover_arn, {**FAST, "bakeSeconds": 10 * FAST["bakeSeconds"], "taskDefinition": TASK_DEFINITION_1}
        )
        assert baking.wait(60)
        deployed = deployed_for(rig)
        try:
            with pytest.raises(UserError, match="a cutover of 'dev' is already running"):
                runner.cutover(deployed, {}, quiet())
            assert runner.rollback(deployed, None, False, quiet()).succeeded  # stops it
        finally:
            session.clock.finished()
        session.wait(running)
        session.settle()
        assert rig.sfn.describe_execution(executionArn=running)["status"] == "ABORTED"
        assert deployed.weights() == START


def test_rehearsal_runs_the_planned_definition() -> None:
    planned = rehearsal.from_plan("dev")
    layer = plan("dev", ["edge", "app", "observability", "migration"]).layer("migration")
    sfn = "aws:sfn/stateMachine:StateMachine"
    assert planned.cutover_definition == one(layer, sfn, "workflow-cutover").inputs["definition"]
    assert planned.rollback_definition == one(layer, sfn, "workflow-rollback").inputs["definition"]
    assert {r.name for r in planned.rules} == {"safety-net-cutover-ended-dev", "safety-net-gate-alarm-dev"}


@pytest.mark.parametrize(
    ("scenario", "verdict"),
    [
        (rehearsal.Scenario(), "rehearsal passed: the cutover completed: 100% on blue"),
        (
            rehearsal.Scenario(fail_at=50),
            "rehearsal passed: the gate alarm at 50% (as its weights were set) rolled back to legacy",
        ),
        (
            rehearsal.Scenario(fail_at=25, alarm_during_bake=True),
            "rehearsal passed: the gate alarm at 25% (halfway through its bake) rolled back to legacy",
        ),
        (
            rehearsal.Scenario(stop_at="BakeWait"),
            "rehearsal passed: the stop at BakeWait left 100% on legacy (the safety net put traffic back)",
        ),
    ],
    ids=["complete", "fail-at", "alarm-during-bake", "stop-at"],
)
def test_rehearse_ends_with_a_verdict(scenario: rehearsal.Scenario, verdict: str) -> None:
    console = Console(file=io.StringIO(), width=400)
    _, problem = rehearsal.rehearse("dev", scenario, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert problem is None, text
    assert text.rstrip().splitlines()[-1] == verdict
    if scenario.stop_at:
        assert "safety net: safety-net-cutover-ended-dev started the rollback (execution-ended)" in text


def test_rehearse_fails_when_the_outcome_is_not_the_expected_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rehearsal that does not end as its scenario says (here every rollback's listener call fails, so traffic
    stays split) says so in its last line, and the task exits 1."""
    real = emulator.emulator

    @contextlib.contextmanager
    def broken_rollbacks(*args: Any, **kwargs: Any) -> Iterator[emulator.Session]:
        with real(*args, **kwargs) as session:
            for state in ("RollbackToSource", "RestoreToSource"):
                session.control.fail(state)
            yield session

    monkeypatch.setattr(rehearsal.emulator, "emulator", broken_rollbacks)
    console = Console(file=io.StringIO(), width=400)
    _, problem = rehearsal.rehearse("dev", rehearsal.Scenario(fail_at=50), console)
    assert problem is not None and problem.startswith("expected legacy 100%, blue 0%, green 0%, got legacy 50%")
    last = console.file.getvalue().rstrip().splitlines()[-1]  # type: ignore[attr-defined]
    assert last.startswith(
        "rehearsal FAILED: the gate alarm at 50% (as its weights were set) rolled back to legacy "
        "was expected; expected legacy 100%"
    )


def test_rehearse_task_rejects_a_step_not_in_the_schedule() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "rehearse", "--env", "dev", "--fail-at", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: --fail-at 30: not a step of the dev schedule 5,25,50,100. Fix: use one of 5, 25, 50, 100"
    )


def test_a_step_not_in_the_schedule_is_refused_before_anything_is_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("planned before the arguments were checked")

    monkeypatch.setattr(rehearsal, "from_plan", never)
    with pytest.raises(UserError, match=r"--fail-at 30: not a step of the dev schedule 5,25,50,100"):
        rehearsal.rehearse("dev", rehearsal.Scenario(30, False, None), Console(file=io.StringIO()))


def outcome(error: str | None, status: str = "FAILED", **weights: int) -> execution.Outcome:
    return execution.Outcome(status, error, "a cause", [], weights or {"legacy": 100, "blue": 0, "green": 0})


@pytest.mark.parametrize(
    ("result", "says", "never"),
    [
        (outcome("CutoverRolledBack"), "it rolled back: traffic is back on the source pool", "--force"),
        (outcome("CutoverAborted"), "aborted before any traffic moved: the listener was not touched", "back on"),
        (
            outcome("RollbackFailed", legacy=90, blue=10, green=0),
            "could NOT move traffic back: the safety net tries again, but the listener may still be split. Fix now: "
            "invoke rollback --env prod --force",
            "back on the source pool",
        ),
        (
            outcome("ListenerNotOnSource", legacy=50, blue=50, green=0),
            "Fix: invoke rollback --env prod to put",
            "--force",
        ),
        (outcome("InvalidInput"), "the input was refused: nothing was changed", "back on"),
        (
            outcome(None, "ABORTED", legacy=50, blue=50, green=0),
            "ended ABORTED: the safety net puts traffic back on the source pool if it had moved",
            "--force",
        ),
        (
            outcome("States.Runtime"),
            "ended FAILED (States.Runtime): the safety net puts traffic back on the source pool if it had moved",
            "--force",
        ),
    ],
    ids=["rolled-back", "aborted", "rollback-failed", "listener-split", "invalid-input", "stopped", "unknown"],
)
def test_the_message_after_a_failed_cutover_follows_its_error(result: execution.Outcome, says: str, never: str) -> None:
    message = runner.failure_message(result, "prod")
    assert message.startswith("the cutover did not complete; ") and says in message and never not in message
    assert "weights now: " + ", ".join(f"{p} {w}%" for p, w in result.weights.items()) in message
    assert "\n" not in message


def test_the_cutover_task_takes_its_message_from_the_runner() -> None:
    source = (ROOT / "tasks.py").read_text()
    body = source[source.index("def cutover(") : source.index("def rollback(")]
    assert "runner.failure_message(result, env)" in body and "traffic is on the source pool" not in body


def test_the_cutover_deploys_the_app_stacks_current_task_definition() -> None:
    """The definition's default task definition is as old as the last migration deploy: the runner sends the
    app stack's current one unless the caller chose one."""
    with emulator.emulator() as session:
        rig = Rig(session, make_targets(), CutoverInput(task_definition=TASK_DEFINITION_1))
        ecs = session.client("ecs")
        current = ecs.register_task_definition(
            family="payments-app", containerDefinitions=[{"name": "app", "image": "payments:new", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        assert current.endswith(":2")
        deployed = deployed_for(rig, task_definition=current)
        assert runner.with_current_task_definition(deployed, {"taskDefinition": "mine:7"}) == {
            "taskDefinition": "mine:7"
        }
        console = quiet()
        result = runner.cutover(deployed, {**FAST, "steps": [100]}, console)
        assert result.succeeded, result.cause
        run = rig.sfn.list_executions(stateMachineArn=rig.cutover_arn)["executions"][0]["executionArn"]
        assert json.loads(rig.sfn.describe_execution(executionArn=run)["input"])["taskDefinition"] == current
        blue = ecs.describe_services(cluster="cluster-dev", services=["app-blue-dev"])["services"][0]
        assert blue["taskDefinition"] == current
        assert f"task definition: {current}" in console.file.getvalue()  # type: ignore[attr-defined]
        # no app stack (or EC2 mode): the definition's default stands
        bare = deployed_for(rig)
        assert bare.task_definition is None and runner.with_current_task_definition(bare, {}) == {}


def test_two_starts_in_the_same_second_get_distinct_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Execution names are unique per machine for 90 days: a second start in the same second (the reverted
    switchover right after a completed one, a retried command) must not fail with ExecutionAlreadyExists."""
    frozen = time.gmtime(1_796_000_000)
    monkeypatch.setattr(naming.time, "gmtime", lambda *_: frozen)
    names = {runner.execution_name("writer-recovery") for _ in range(50)}
    assert len(names) == 50
    shape = boto3.session.Session().client("stepfunctions", region_name="us-east-1").meta.service_model
    name_shape = shape.operation_model("StartExecution").input_shape.members["name"]
    for name in names:
        assert name.startswith("writer-recovery-20261130T") and 1 <= len(name) <= name_shape.metadata["max"]
        assert re.fullmatch(r"[A-Za-z0-9_-]+", name), "letters, digits, - and _ only (CloudWatch Logs-safe)"
