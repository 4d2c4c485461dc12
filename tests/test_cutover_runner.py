"""`invoke cutover`/`rollback` (boto3 runner) against emulated deployments, and `invoke rehearse` from the plan."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from rich.console import Console

from payments.core.errors import UserError
from payments.cutover import emulator, rehearsal, runner
from payments.layers.migration.schedule import CutoverInput
from tests.support import one, plan
from tests.test_cutover_emulator import FAST, START, Rig
from tests.test_migration_state_machine import targets as make_targets

ROOT = Path(__file__).resolve().parents[1]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def outputs_for(rig: Rig | None) -> runner.OutputsFn:
    def read(layer: str) -> dict[str, Any] | None:
        if rig is None:
            return None
        return {
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
    with emulator.emulator():
        rig = Rig(make_targets(), CutoverInput())
        deployed = runner.Deployed("dev", outputs_for(rig), session=boto3.Session(region_name=emulator.REGION))
        payload = {
            **runner.cutover_input("20,100", "1", "legacy", "blue"),
            **FAST,
            "bakeSeconds": 1,
            "taskDefinition": rig.standins.task_definition_arn,
        }
        console = quiet()
        result = runner.cutover(deployed, payload, console)
        assert result.succeeded and deployed.weights() == {"legacy": 0, "blue": 100, "green": 0}
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert "traffic: set weights  blue 20% / legacy 80%" in text and "execution SUCCEEDED" in text
        back = runner.rollback(deployed, "legacy", False, quiet())
        assert back.succeeded and deployed.weights() == START and deployed.phase() == "rolled-back"
        with pytest.raises(UserError, match="--pool: 'nowhere' is not allowed"):
            runner.rollback(deployed, "nowhere", False, quiet())


def test_a_second_cutover_is_refused_while_one_runs() -> None:
    with emulator.emulator():
        rig = Rig(make_targets(), CutoverInput())
        rig.sfn.start_execution(
            stateMachineArn=rig.cutover_arn,
            name="running",
            input=json.dumps({**FAST, "bakeSeconds": 60, "taskDefinition": rig.standins.task_definition_arn}),
        )
        deployed = runner.Deployed("dev", outputs_for(rig), session=boto3.Session(region_name=emulator.REGION))
        with pytest.raises(UserError, match="a cutover of 'dev' is already running"):
            runner.cutover(deployed, {}, quiet())
        runner.rollback(deployed, None, False, quiet())  # stops it


def test_rehearsal_runs_the_planned_definition() -> None:
    planned = rehearsal.from_plan("dev")
    layer = plan("dev", ["edge", "app", "observability", "migration"]).layer("migration")
    sfn = "aws:sfn/stateMachine:StateMachine"
    assert planned.cutover_definition == one(layer, sfn, "workflow-cutover").inputs["definition"]
    assert planned.rollback_definition == one(layer, sfn, "workflow-rollback").inputs["definition"]


@pytest.mark.parametrize("fail_at", [None, 50])
def test_rehearse_shows_a_cutover_and_an_automatic_rollback(fail_at: int | None) -> None:
    console = quiet()
    result = rehearsal.rehearse("dev", fail_at, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    if fail_at is None:
        assert result.succeeded and result.weights["blue"] == 100 and "migration phase: cutover-complete" in text
    else:
        assert result.error == "CutoverRolledBack" and result.weights["legacy"] == 100
        assert "ROLLBACK: 100% to the source pool" in text and "migration phase: rolled-back" in text


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
        == "error: --fail-at 30: not a step of the dev schedule 10,50,100. Fix: use one of 10, 50, 100"
    )
