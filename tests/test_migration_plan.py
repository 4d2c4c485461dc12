"""The migration layer under the SDK's mocks (dev, prod; DMS on and off) and its guardrails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.core.errors import ConfigError
from payments.guardrails import engine as guardrails
from payments.guardrails.engine import Resource
from payments.layers.migration.machines import task_resources
from payments.layers.observability.alarms import DMS_ALARM_KEYS
from tests.support import of_type, one, plan

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf"
DMS_ON = {
    "migration": {
        "dmsSourceSecretArn": SECRET,
        "dmsSourceSslMode": "require",
        "dmsExcludeTables": ["payments.audit_tmp"],
    },
    # the two DMS switches must agree: the gate watches CDC latency through observability's DMS alarms
    "observability": {"dmsEnabled": True},
}
SFN = "aws:sfn/stateMachine:StateMachine"


def migration(env: str, dms: bool = False) -> Any:
    return plan(env, ["migration"], DMS_ON if dms else None)


def definition(layer: Any, name: str) -> dict[str, Any]:
    return json.loads(one(layer, SFN, name).inputs["definition"])


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("dms", [False, True])
def test_plans_clean_with_the_declared_exports(env: str, dms: bool) -> None:
    p = migration(env, dms)
    layer = p.layer("migration")
    assert p.mandatory == []
    assert layer.outputs["phaseParameterName"] == f"/payments/{env}/migration/phase"
    assert ("dmsTaskArn" in layer.outputs) is dms
    assert bool(of_type(layer, "aws:dms/replicationTask:ReplicationTask")) is dms
    cutover = definition(layer, "workflow-cutover")
    assert any("databasemigration" in r for r in task_resources(cutover)) is dms


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_state_machines_are_standard_logged_traced_and_scoped(env: str) -> None:
    layer = migration(env).layer("migration")
    logs = one(layer, "aws:cloudwatch/logGroup:LogGroup", "workflow-logs").inputs
    assert logs["kmsKeyId"] and logs["retentionInDays"] >= 365
    for name in ("workflow-cutover", "workflow-rollback"):
        sm = one(layer, SFN, name).inputs
        assert sm["type"] == "STANDARD" and sm["name"] == f"{name.split('-')[1]}-{env}"
        assert sm["loggingConfiguration"]["level"] == "ALL"
        assert sm["loggingConfiguration"]["logDestination"].endswith(":*")
        assert sm["tracingConfiguration"]["enabled"] is True
    policy = json.loads(one(layer, "aws:iam/rolePolicy:RolePolicy", "workflow-cutover-policy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["SetListenerWeights"]["Resource"].startswith("arn:aws:elasticloadbalancing:")
    assert by_sid["SetListenerWeights"]["Action"] == ["elasticloadbalancing:ModifyListener"]
    assert [r.rsplit(":", 1)[1] for r in by_sid["MigrationPhase"]["Resource"]] == [
        f"parameter/payments/{env}/migration/phase",
        f"parameter/payments/{env}/migration/run",
    ]  # the phase, and the run record the safety net reads
    assert all(":service/" in arn for arn in by_sid["TargetAndSourceServices"]["Resource"])
    wildcard = {s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"}
    assert wildcard == {
        "ReadListenerAndTargetHealth",
        "ExecutionLogDelivery",
        "Tracing",
        "ReadGateAlarms",
    }  # APIs without resource-level permissions, and DescribeAlarms (composite alarms need "*")
    # AWS returns composite alarms (the gate is one) only when cloudwatch:DescribeAlarms is scoped to "*"
    assert by_sid["ReadGateAlarms"] == {
        "Sid": "ReadGateAlarms",
        "Effect": "Allow",
        "Action": ["cloudwatch:DescribeAlarms"],
        "Resource": "*",
    }
    assert by_sid["ReadListenerAndTargetHealth"]["Action"] == [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeTargetHealth",
    ]
    assert by_sid["MigrationPhase"]["Action"] == ["ssm:GetParameter", "ssm:PutParameter"]
    # each machine refuses to run beside the others: it lists the executions of both, by state machine only
    assert [r.rsplit(":", 1)[1] for r in by_sid["FindRunningExecutions"]["Resource"]] == [f"cutover-{env}",
                                                                                           f"rollback-{env}"]
    rollback = json.loads(one(layer, "aws:iam/rolePolicy:RolePolicy", "workflow-rollback-policy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in rollback["Statement"]}
    assert by_sid["StopRunningCutovers"]["Resource"].endswith(f":execution:cutover-{env}:*")
    assert [r.rsplit(":", 1)[1] for r in by_sid["FindRunningExecutions"]["Resource"]] == [f"cutover-{env}",
                                                                                           f"rollback-{env}"]
    assert by_sid["MigrationPhase"]["Action"] == ["ssm:GetParameter", "ssm:PutParameter"]
    assert not any("ecs:" in a for s in rollback["Statement"] for a in s["Action"])
    assert "mapRun" not in json.dumps(rollback)


#: Step Functions service name -> IAM prefix, where they differ.
IAM_PREFIX = {"elasticloadbalancingv2": "elasticloadbalancing", "databasemigration": "dms", "sfn": "states"}
#: Granted for the service itself (execution logs, X-Ray, the topic's key), not for a state.
PLATFORM = ("logs:", "xray:", "kms:")


def called(definition: dict[str, Any]) -> set[str]:
    """The IAM actions a definition's Task states need."""
    actions = set()
    for resource in task_resources(definition):
        if resource == "arn:aws:states:::sns:publish":
            actions.add("sns:Publish")
            continue
        service, action = resource.rsplit(":", 2)[-2:]
        actions.add(f"{IAM_PREFIX.get(service, service)}:{action[:1].upper()}{action[1:]}")
    return actions


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("dms", [False, True])
def test_each_role_grants_exactly_what_its_definition_calls(env: str, dms: bool) -> None:
    layer = migration(env, dms).layer("migration")
    for machine in ("cutover", "rollback"):
        policy = json.loads(one(layer, "aws:iam/rolePolicy:RolePolicy", f"workflow-{machine}-policy").inputs["policy"])
        granted = {a for s in policy["Statement"] for a in s["Action"] if not a.startswith(PLATFORM)}
        assert granted == called(definition(layer, f"workflow-{machine}")), machine


def test_definition_is_wired_to_the_upstream_outputs() -> None:
    p = plan("dev", ["edge", "app", "observability", "migration"])
    edge, app, obs = (p.layer(n).values for n in ("edge", "app", "observability"))
    d = definition(p.layer("migration"), "workflow-cutover")
    pools = d["States"]["PoolsLegacyToBlue"]["Result"]
    assert pools["source"]["targetGroupArn"] == edge["targetGroupArns"]["legacy"]
    assert pools["target"]["service"] == app["serviceNames"]["blue"]
    assert d["States"]["SetWeights"]["Parameters"]["ListenerArn"] == edge["httpsListenerArn"]
    assert d["States"]["Preflight"]["Parameters"]["AlarmNames"] == [obs["gateAlarmName"]]
    assert d["States"]["Defaults"]["Result"]["taskDefinition"] == app["taskDefinitionArn"]


def test_phase_parameter_starts_at_the_environment_phase() -> None:
    layer = migration("dev").layer("migration")
    param = one(layer, "aws:ssm/parameter:Parameter", "workflow-phase").inputs
    assert param["type"] == "String" and param["insecureValue"] == "parallel-run"
    run = one(layer, "aws:ssm/parameter:Parameter", "workflow-run").inputs
    assert run["type"] == "StringList" and run["insecureValue"] == "none"  # no cutover has recorded itself yet


def test_the_safety_net_starts_the_rollback_on_the_endings_no_catch_sees_and_on_the_gate() -> None:
    layer = migration("dev").layer("migration")
    rules = {r.inputs["name"]: r.inputs for r in of_type(layer, "aws:cloudwatch/eventRule:EventRule")}
    ended = json.loads(rules["safety-net-cutover-ended-dev"]["eventPattern"])
    assert ended["source"] == ["aws.states"] and ended["detail-type"] == ["Step Functions Execution Status Change"]
    assert ended["detail"]["status"] == ["ABORTED", "FAILED", "TIMED_OUT"]
    assert ended["detail"]["stateMachineArn"] == [layer.outputs["cutoverStateMachineArn"]]
    gate = json.loads(rules["safety-net-gate-alarm-dev"]["eventPattern"])
    assert gate["detail"]["state"]["value"] == ["ALARM"] and gate["source"] == ["aws.cloudwatch"]
    targets = of_type(layer, "aws:cloudwatch/eventTarget:EventTarget")
    assert {t.inputs["arn"] for t in targets} == {layer.outputs["rollbackStateMachineArn"]}
    assert all(t.inputs["deadLetterConfig"]["arn"].endswith(":safety-net-dlq-dev") for t in targets)
    role = one(layer, "aws:iam/rolePolicy:RolePolicy", "workflow-safety-net-policy").inputs["policy"]
    statement = json.loads(role)["Statement"]
    assert statement == [
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": layer.outputs["rollbackStateMachineArn"],
         "Sid": "StartRollback"}
    ]
    for sm in of_type(layer, SFN):
        assert json.loads(sm.inputs["definition"])["TimeoutSeconds"] > 0  # every machine ends, one way or another


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dms_is_private_encrypted_tls_validated(env: str) -> None:
    layer = migration(env, dms=True).layer("migration")
    instance = one(layer, "aws:dms/replicationInstance:ReplicationInstance").inputs
    assert instance["publiclyAccessible"] is False and instance["kmsKeyArn"]
    assert instance["multiAz"] is (env == "prod")
    subnets = one(layer, "aws:dms/replicationSubnetGroup:ReplicationSubnetGroup").inputs
    network = plan(env, ["network"]).layer("network").values
    assert subnets["subnetIds"] == network["dataSubnetIds"]
    assert instance["vpcSecurityGroupIds"] == [network["dmsSecurityGroupId"]]
    source = one(layer, "aws:dms/endpoint:Endpoint", "dms-source").inputs
    target = one(layer, "aws:dms/endpoint:Endpoint", "dms-target").inputs
    assert source["engineName"] == "mysql" and source["secretsManagerArn"] == SECRET and source["sslMode"] == "require"
    assert target["engineName"] == "aurora" and target["secretsManagerArn"].startswith("arn:aws:secretsmanager:")
    assert "password" not in source and "password" not in target
    task = one(layer, "aws:dms/replicationTask:ReplicationTask", "dms-task").inputs
    assert task["migrationType"] == "full-load-and-cdc" and task["startReplicationTask"] is False
    settings = json.loads(task["replicationTaskSettings"])
    assert settings["ValidationSettings"]["EnableValidation"] is True and settings["Logging"]["EnableLogging"] is True
    rules = json.loads(task["tableMappings"])["rules"]
    assert [(r["rule-action"], r["object-locator"]["table-name"]) for r in rules] == [
        ("include", "%"),
        ("exclude", "audit_tmp"),
    ]
    alarm = one(layer, "aws:cloudwatch/metricAlarm:MetricAlarm", "dms-cdc-latency").inputs
    assert (
        alarm["metricName"] == "CDCLatencyTarget" and alarm["alarmActions"] and alarm["treatMissingData"] == "missing"
    )
    assert alarm["dimensions"]["ReplicationTaskIdentifier"] == task["resourceIdentifier"]
    logs = one(layer, "aws:cloudwatch/logGroup:LogGroup", "dms-task-logs").inputs
    assert logs["name"] == f"dms-tasks-{instance['replicationInstanceId']}" and logs["kmsKeyId"]


def test_mysql_target_engine_for_rds_mysql() -> None:
    p = plan(
        "dev",
        ["migration"],
        {**DMS_ON, "data": {"engine": "mysql"}, "observability": {**DMS_ON["observability"], "dbEngine": "mysql"}},
    )
    assert one(p.layer("migration"), "aws:dms/endpoint:Endpoint", "dms-target").inputs["engineName"] == "mysql"


# A program that fails inside an apply abandons Output coroutines; the garbage collector may finalize them later.
@pytest.mark.filterwarnings("ignore:coroutine 'Output.:RuntimeWarning")
def test_dms_on_here_but_off_in_observability_stops_the_program_with_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        plan("dev", ["migration"], {"migration": DMS_ON["migration"]})
    message = str(err.value)
    assert err.value.key == "payments-migration:dmsSourceSecretArn" and "\n" not in message
    assert "dmsCdcLatencySource" in message and "payments-observability:dmsEnabled" in message
    assert "Fix: set payments-observability:dmsEnabled: true" in message


def test_the_dms_alarm_keys_migration_requires_are_what_observability_exports() -> None:
    names = plan("dev", ["observability"], {"observability": {"dmsEnabled": True}}).layer("observability")
    assert set(DMS_ALARM_KEYS) <= set(names.outputs["alarmNames"])
    off = plan("dev", ["observability"]).layer("observability")
    assert not set(DMS_ALARM_KEYS) & set(off.outputs["alarmNames"])


# --- guardrails: each rule fires on a resource that breaks it ------------------------------


def findings(resource: Resource) -> list[str]:
    return sorted({f.rule for f in guardrails.evaluate([resource]) if f.rule.startswith(("sfn-", "dms-"))})


def test_state_machine_without_logging_or_tracing_is_flagged() -> None:
    bad = Resource(
        SFN,
        "sm",
        {
            "name": "cutover-dev",
            "definition": "{}",
            "loggingConfiguration": {"level": "ERROR"},
            "tracingConfiguration": {"enabled": False},
        },
        suffix="dev",
    )
    assert findings(bad) == ["sfn-logged-and-traced"]
    assert len(list(guardrails.RULES["sfn-logged-and-traced"].check(bad))) == 3


def test_state_machine_calling_lambda_is_flagged() -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "End": True, "Resource": "arn:aws:lambda:us-east-1:123456789012:function:x"}},
    }
    bad = Resource(
        SFN,
        "sm",
        {
            "definition": json.dumps(definition),
            "loggingConfiguration": {"level": "ALL", "logDestination": "arn"},
            "tracingConfiguration": {"enabled": True},
        },
    )
    assert findings(bad) == ["sfn-sdk-integrations-only"]


def test_public_unencrypted_single_az_dms_instance_in_prod_is_flagged() -> None:
    bad = Resource(
        "aws:dms/replicationInstance:ReplicationInstance", "i", {"publiclyAccessible": True}, production=True
    )
    assert findings(bad) == ["dms-instance-private-encrypted"]
    assert len(list(guardrails.RULES["dms-instance-private-encrypted"].check(bad))) == 3


def test_dms_endpoint_with_password_and_no_tls_is_flagged() -> None:
    bad = Resource("aws:dms/endpoint:Endpoint", "e", {"sslMode": "none", "password": "x"})
    assert findings(bad) == ["dms-endpoint-tls-secret"]


def test_dms_task_without_validation_is_flagged() -> None:
    bad = Resource(
        "aws:dms/replicationTask:ReplicationTask",
        "t",
        {"replicationTaskSettings": json.dumps({"Logging": {"EnableLogging": True}})},
    )
    assert findings(bad) == ["dms-task-validated-logged"]
