"""Migration guardrails: each rule fires on a resource that breaks it and stays quiet on a good one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.guardrails.engine import RULES, Resource, evaluate, load_rules

load_rules()

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
SFN = "aws:sfn/stateMachine:StateMachine"
DMS_INSTANCE = "aws:dms/replicationInstance:ReplicationInstance"
DMS_ENDPOINT = "aws:dms/endpoint:Endpoint"
DMS_TASK = "aws:dms/replicationTask:ReplicationTask"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dms-dev"


def res(type_: str, inputs: dict[str, Any], production: bool = False) -> Resource:
    return Resource(type_, "r", inputs, TAGS, production, "dev")


def messages(resource: Resource, rule_id: str) -> list[str]:
    return [f.message for f in evaluate([resource], [RULES[rule_id]])]


def machine(*, task: str = "arn:aws:states:::aws-sdk:ssm:putParameter", **changes: Any) -> dict[str, Any]:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": task, "End": True}}}
    good = {
        "name": "cutover-dev",
        "definition": json.dumps(definition),
        "loggingConfiguration": {"level": "ALL", "logDestination": "arn:aws:logs:us-east-1:123456789012:log-group:x"},
        "tracingConfiguration": {"enabled": True},
    }
    return {**good, **changes}


def cutover(bake: int, floor: int | None) -> dict[str, Any]:
    check = [{"Variable": "$.config.bakeSeconds", "IsNumeric": True}]
    if floor is not None:
        check.append({"Variable": "$.config.bakeSeconds", "NumericGreaterThanEquals": floor})
    states = {
        "Defaults": {"Type": "Pass", "Result": {"bakeSeconds": bake, "pollSeconds": 30}, "Next": "CheckWaits"},
        "CheckWaits": {"Type": "Choice", "Choices": [{"And": check, "Next": "Done"}], "Default": "Done"},
        "Done": {"Type": "Succeed"},
    }
    return machine(definition=json.dumps({"StartAt": "Defaults", "States": states}))


DMS_OK = {"publiclyAccessible": False, "kmsKeyArn": KEY, "multiAz": True}
ENDPOINT_OK = {"sslMode": "verify-full", "secretsManagerArn": SECRET}


def task_settings(validation: bool = True, logging: bool = True) -> dict[str, Any]:
    settings = {"ValidationSettings": {"EnableValidation": validation}, "Logging": {"EnableLogging": logging}}
    return {"replicationTaskSettings": json.dumps(settings)}


CASES: list[tuple[str, Any, Any]] = [
    ("cutover-bake-covers-gate-window", res(SFN, cutover(240, None)), res(SFN, cutover(240, 240))),
    ("cutover-bake-covers-gate-window", res(SFN, cutover(60, 240)), res(SFN, cutover(900, 240))),
    ("sfn-logged-and-traced", res(SFN, machine(loggingConfiguration={"level": "ERROR"})), res(SFN, machine())),
    ("sfn-logged-and-traced", res(SFN, machine(tracingConfiguration={"enabled": False})), res(SFN, machine())),
    (
        "sfn-sdk-integrations-only",
        res(SFN, machine(task="arn:aws:lambda:us-east-1:123456789012:function:x")),
        res(SFN, machine(task="arn:aws:states:::elasticloadbalancing:modifyListener")),
    ),
    (
        "dms-instance-private-encrypted",
        res(DMS_INSTANCE, {**DMS_OK, "publiclyAccessible": True}),
        res(DMS_INSTANCE, DMS_OK),
    ),
    ("dms-instance-private-encrypted", res(DMS_INSTANCE, {**DMS_OK, "kmsKeyArn": None}), res(DMS_INSTANCE, DMS_OK)),
    (
        "dms-instance-private-encrypted",
        res(DMS_INSTANCE, {**DMS_OK, "multiAz": False}, production=True),
        res(DMS_INSTANCE, {**DMS_OK, "multiAz": False}),  # a single-AZ replication instance is fine in dev
    ),
    ("dms-endpoint-tls-secret", res(DMS_ENDPOINT, {**ENDPOINT_OK, "sslMode": "none"}), res(DMS_ENDPOINT, ENDPOINT_OK)),
    (
        "dms-endpoint-tls-secret",
        res(DMS_ENDPOINT, {"sslMode": "require", "password": "hunter2"}),
        res(DMS_ENDPOINT, ENDPOINT_OK),
    ),
    ("dms-task-validated-logged", res(DMS_TASK, task_settings(validation=False)), res(DMS_TASK, task_settings())),
    ("dms-task-validated-logged", res(DMS_TASK, task_settings(logging=False)), res(DMS_TASK, task_settings())),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_migration_rule_fires_on_a_breaking_resource(rule_id: str, bad: Resource, good: Resource) -> None:
    assert messages(bad, rule_id), f"{rule_id} stayed quiet on {bad.inputs}"
    assert messages(good, rule_id) == []


def test_every_migration_rule_is_tested_and_names_a_pci_requirement() -> None:
    ours = {rid for rid, r in RULES.items() if (r.check or r.stack_check).__module__.endswith("rules_migration")}  # type: ignore[union-attr]
    assert ours == {c[0] for c in CASES}
    assert all(RULES[r].pci for r in ours)
