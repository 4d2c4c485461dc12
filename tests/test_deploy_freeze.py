"""The deploy freeze: edge, app and migration are not deployed or destroyed while a migration machine runs.

The orchestrator asks Step Functions (here: moto, through the same boto3 call the real deploy makes) for RUNNING
executions of the machines the migration stack exports, before it changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from payments.core.errors import UserError
from payments.ops import commands, freeze
from tests.fake_pulumi import Sandbox
from tests.test_orchestration import QUIET, deploy, ups

DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


@pytest.fixture
def sfn(box: Sandbox) -> Iterator[object]:
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arns = {
            name: client.create_state_machine(
                name=f"payments-{name}-dev", definition=DEFINITION,
                roleArn="arn:aws:iam::123456789012:role/sfn-dev")["stateMachineArn"]
            for name in ("cutover", "rollback")
        }
        outputs = {name: {f"{name}Id": f"{name}-1"} for name in ("network", "data", "edge", "app", "observability")}
        outputs["migration"] = {"cutoverStateMachineArn": arns["cutover"], "rollbackStateMachineArn": arns["rollback"],
                                "phaseParameterName": "/payments/dev/migration/phase"}
        box.set_outputs(outputs)
        deploy(box)  # every stack exists, the migration stack exports its machines
        box.log.unlink()  # what follows is the second deploy
        client.arns = arns  # type: ignore[attr-defined]
        yield client


def _start(sfn: object, machine: str) -> str:
    return str(sfn.start_execution(stateMachineArn=sfn.arns[machine], name=f"run-{machine}")["executionArn"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("machine", ["cutover", "rollback"])
@pytest.mark.parametrize("layer", freeze.FROZEN_LAYERS)
def test_deploy_of_a_frozen_layer_is_refused_while_a_machine_runs(box: Sandbox, sfn: object, machine: str,
                                                                  layer: str) -> None:
    _start(sfn, machine)
    with pytest.raises(UserError) as caught:
        deploy(box, layers=layer)
    message = str(caught.value)
    running = f"(payments-{machine}-dev/run-{machine})"
    assert f"deploy of {layer} in dev refused: the migration is running {running}" in message
    assert "Fix: wait for it (invoke status --env dev --live), or end it with invoke rollback --env dev" in message
    assert "\n" not in message
    assert ups(box) == {}  # nothing was deployed (the stand-in CLI was never asked to change a stack)


def test_the_whole_environment_is_refused_but_network_alone_is_not(box: Sandbox, sfn: object) -> None:
    _start(sfn, "cutover")
    with pytest.raises(UserError, match="deploy of edge, app, migration in dev refused"):
        deploy(box, force=True)
    deploy(box, layers="network,data", force=True)
    assert set(ups(box)) == {"network", "data"}


def test_the_freeze_lifts_when_the_execution_ends(box: Sandbox, sfn: object) -> None:
    execution = _start(sfn, "cutover")
    with pytest.raises(UserError):
        deploy(box, layers="edge")
    sfn.stop_execution(executionArn=execution)  # type: ignore[attr-defined]
    deploy(box, layers="edge", force=True)
    assert set(ups(box)) == {"edge"}


def test_destroy_is_frozen_too(box: Sandbox, sfn: object) -> None:
    _start(sfn, "rollback")
    with pytest.raises(UserError, match="destroy of migration in dev refused"):
        commands.destroy("dev", box.root, "migration", confirm="dev", console=QUIET)


def test_a_first_deploy_without_a_migration_stack_is_not_frozen(box: Sandbox) -> None:
    asked: list[list[str]] = []
    deploy(box, running=lambda arns, region: asked.append(arns) or [])
    assert asked == [] and len(ups(box)) == 6  # no migration stack yet: nothing to ask


def test_it_fails_closed_when_step_functions_cannot_be_asked(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    box.set_outputs({"migration": {"cutoverStateMachineArn":
                                   "arn:aws:states:us-east-1:123456789012:stateMachine:payments-cutover-dev"}})
    deploy(box, layers="network,data,edge,app,observability,migration")
    box.log.unlink()
    # No endpoint answers here: botocore's connection error must become one line, and nothing is deployed.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(UserError, match=r"deploy freeze: cannot ask Step Functions .* nothing was deployed"):
        deploy(box, layers="app", force=True)
    assert ups(box) == {}
