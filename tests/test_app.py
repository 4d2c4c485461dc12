"""The app program under mocks: Fargate blue/green services, the EC2 Auto Scaling group, IAM, the archive."""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import subprocess
from typing import Any

import pytest

from payments.core import contract
from payments.core.errors import ConfigError
from payments.guardrails.rules_app import UNSCOPED_ACTIONS
from payments.layers.app import fargate
from payments.plan import engine
from payments.plan.engine import plan_environment
from tests.support import of_type, one, plan
from tests.test_edge import _plan_error

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
EC2 = {"edge": {"computeMode": "ec2"}, "app": {"computeMode": "ec2"}}
SEED_B = {"network": {"azCount": 2}, "data": {"engine": "mysql"}, **EC2}


def app_plan(env: str = "dev", overrides: dict[str, Any] | None = None):
    return plan(env, ["app"], overrides)


def app(env: str = "dev", overrides: dict[str, Any] | None = None):
    return app_plan(env, overrides).layer("app")


def upstream(env: str, layer: str, overrides: dict[str, Any] | None = None):
    return plan(env, [layer], overrides).layer(layer)


def containers(lp) -> list[dict[str, Any]]:
    return json.loads(one(lp, TASK_DEF).inputs["containerDefinitions"])


def policies(lp) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: json.loads(r.inputs["policy"]) for r in of_type(lp, ROLE_POLICY)}


def statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


# --- Fargate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "cpu", "memory"), [("dev", "512", "1024"), ("prod", "512", "1024")])
def test_task_definition_is_fargate_sized_from_config(env: str, cpu: str, memory: str) -> None:
    lp = app(env)
    task = one(lp, TASK_DEF)
    assert task.inputs["family"] == f"app-{env}" and task.inputs["requiresCompatibilities"] == ["FARGATE"]
    assert task.inputs["networkMode"] == "awsvpc"
    assert (task.inputs["cpu"], task.inputs["memory"]) == (cpu, memory)
    assert task.inputs["executionRoleArn"] == lp.outputs["executionRoleArn"]
    assert task.inputs["taskRoleArn"] == lp.outputs["taskRoleArn"]
    assert task.inputs["skipDestroy"] is True  # the live pool's revision stays ACTIVE when a new image replaces it
    cluster = one(lp, "aws:ecs/cluster:Cluster")
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": "enabled"}]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_container_insights_writes_into_a_log_group_the_stack_owns(env: str) -> None:
    """AWS creates /aws/ecs/containerinsights/<cluster>/performance unencrypted and keeps it forever unless it
    exists first: the layer creates it with the logs key and the PCI retention."""
    lp, net = app(env), upstream(env, "network")
    groups = {g.inputs["name"]: g.inputs for g in of_type(lp, "aws:cloudwatch/logGroup:LogGroup")}
    insights = groups[f"/aws/ecs/containerinsights/cluster-{env}/performance"]
    assert insights["kmsKeyId"] == net.outputs["logsKeyArn"] and insights["retentionInDays"] >= 365
    assert one(lp, "aws:ecs/cluster:Cluster").inputs["name"] == f"cluster-{env}"


def test_container_is_hardened_and_gets_secrets_only_by_reference() -> None:
    lp, data, net = app("dev"), upstream("dev", "data"), upstream("dev", "network")
    (c,) = containers(lp)
    assert c["readonlyRootFilesystem"] is True and c["privileged"] is False
    assert c["user"] == "1000:1000" and c["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert c["image"].endswith(":1.0.0")
    assert c["portMappings"][0]["containerPort"] == 8080
    secret = data.outputs["appDbSecretArn"]  # the app user's, never the master's
    refs = {s["name"]: s["valueFrom"] for s in c["secrets"]}
    assert refs["DB_USERNAME"] == f"{secret}:username::" and refs["DB_PASSWORD"] == f"{secret}:password::"
    path = data.outputs["parameterPath"]
    prefix = f"arn:aws:ssm:us-east-1:123456789012:parameter{path}/"
    params = {k: v for k, v in refs.items() if not k.startswith("DB_USER") and not k.startswith("DB_PASS")}
    assert params["DB_HOST"] == prefix + "db/host" and all(v.startswith(prefix) for v in params.values())
    assert {e["name"] for e in c["environment"]} == {"APP_ENV", "APP_PORT"}
    log = c["logConfiguration"]
    assert log["logDriver"] == "awslogs" and log["options"]["awslogs-group"] == lp.outputs["logGroupName"]
    group = one(lp, "aws:cloudwatch/logGroup:LogGroup", "app-logs")
    assert group.inputs["kmsKeyId"] == net.outputs["logsKeyArn"] and group.inputs["retentionInDays"] >= 365
    assert "[secret]" not in json.dumps(c) and "password" not in json.dumps(c["environment"]).lower()


@pytest.mark.parametrize(("env", "count"), [("dev", 1), ("prod", 2)])
def test_blue_and_green_services_run_private_behind_their_target_groups(env: str, count: int) -> None:
    lp, net, edge = app(env), upstream(env, "network"), upstream(env, "edge")
    services = {r.inputs["tags"]["Pool"]: r for r in of_type(lp, SERVICE)}
    assert set(services) == {"blue", "green"}
    for pool, svc in services.items():
        i = svc.inputs
        assert i["name"] == f"app-{pool}-{env}" and i["launchType"] == "FARGATE"
        assert i["networkConfiguration"] == {
            "subnets": net.outputs["appSubnetIds"],
            "securityGroups": [net.outputs["appSecurityGroupId"]],
            "assignPublicIp": False,
        }
        assert i["loadBalancers"] == [
            {"targetGroupArn": edge.outputs["targetGroupArns"][pool], "containerName": "app", "containerPort": 8080}
        ]
        assert i["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert i["deploymentMinimumHealthyPercent"] == 100 and i["desiredCount"] == count
        assert i["taskDefinition"] == lp.outputs["taskDefinitionArn"]
        assert i["propagateTags"] == "SERVICE" and i["enableExecuteCommand"] is False
    assert lp.outputs["serviceNames"] == {"blue": f"app-blue-{env}", "green": f"app-green-{env}"}


def test_services_leave_desired_count_and_revision_to_the_cutover(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}
    original = engine.PlanMonitor.RegisterResource

    def record(self, request):
        seen[request.name] = list(request.ignoreChanges)
        return original(self, request)

    monkeypatch.setattr(engine.PlanMonitor, "RegisterResource", record)
    plan_environment("dev", ["app"])
    assert seen["ecs-blue"] == seen["ecs-green"] == fargate.CUTOVER_OWNED == ["desiredCount", "taskDefinition"]


@pytest.mark.parametrize(("env", "floor", "ceiling"), [("dev", 1, 3), ("prod", 2, 6)])
def test_cpu_target_tracking_per_service(env: str, floor: int, ceiling: int) -> None:
    lp = app(env)
    targets = of_type(lp, "aws:appautoscaling/target:Target")
    assert sorted(t.inputs["resourceId"] for t in targets) == [
        f"service/cluster-{env}/app-blue-{env}",
        f"service/cluster-{env}/app-green-{env}",
    ]
    assert all((t.inputs["minCapacity"], t.inputs["maxCapacity"]) == (floor, ceiling) for t in targets)
    for policy in of_type(lp, "aws:appautoscaling/policy:Policy"):
        conf = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        assert conf["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"
        assert conf["targetValue"] == 60 and conf["scaleInCooldown"] > conf["scaleOutCooldown"]


def test_execution_and_task_roles_are_least_privilege() -> None:
    lp, data = app("dev"), upstream("dev", "data")
    docs = policies(lp)
    execution, task = statements(docs["role-app-execution-dev"]), statements(docs["role-app-task-dev"])
    assert execution["ReadDatabaseSecret"]["Resource"] == data.outputs["appDbSecretArn"]
    assert execution["EcrPullRepository"]["Resource"] == "arn:aws:ecr:us-east-1:123456789012:repository/payments-app"
    assert execution["DecryptSecretsAndParameters"]["Resource"] == data.outputs["dataKeyArn"]
    assert execution["DecryptSecretsAndParameters"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "secretsmanager.us-east-1.amazonaws.com",
        "ssm.us-east-1.amazonaws.com",
    ]
    assert len(execution["ReadInjectedParameters"]["Resource"]) == 6
    assert task["ReadStaticContent"]["Resource"] == data.outputs["staticBucketArn"] + "/*"
    assert task["WriteApplicationLogs"]["Resource"] == data.outputs["appLogsBucketArn"] + "/*"
    assert task["WriteApplicationLogs"]["Action"] == ["s3:PutObject"]
    # the app re-reads the rotated secret itself; decryption only through S3, SSM and Secrets Manager
    assert task["RereadDatabaseSecret"] == {"Sid": "RereadDatabaseSecret", "Effect": "Allow",
                                            "Action": ["secretsmanager:GetSecretValue"],
                                            "Resource": data.outputs["appDbSecretArn"]}
    assert task["UseDataKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "s3.us-east-1.amazonaws.com", "ssm.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com"]
    for doc in docs.values():
        for s in doc["Statement"]:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            if "*" in resources:
                assert set(s["Action"]) <= UNSCOPED_ACTIONS, s
    for role in of_type(lp, ROLE):
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_rendered_task_definition_is_archived_for_backup() -> None:
    lp, data = app("dev"), upstream("dev", "data")
    archive = one(lp, OBJECT)
    assert archive.inputs["bucket"] == data.outputs["configArchiveBucketName"]
    assert archive.inputs["key"] == "task-definitions/app-dev.json"
    doc = json.loads(archive.inputs["content"])
    assert doc["taskDefinitionArn"] == lp.outputs["taskDefinitionArn"]
    assert doc["registerTaskDefinition"]["containerDefinitions"] == containers(lp)
    assert doc["registerTaskDefinition"]["family"] == "app-dev"


# --- EC2 mode ------------------------------------------------------------------------------------


def test_ec2_mode_builds_an_auto_scaling_group_instead_of_services() -> None:
    lp, net, edge = app("prod", EC2), upstream("prod", "network"), upstream("prod", "edge", EC2)
    assert not of_type(lp, SERVICE) and not of_type(lp, TASK_DEF)
    group = one(lp, ASG)
    i = group.inputs
    assert (i["minSize"], i["desiredCapacity"], i["maxSize"]) == (2, 2, 6)
    assert i["healthCheckType"] == "ELB" and i["targetGroupArns"] == [edge.outputs["targetGroupArns"]["blue"]]
    assert i["vpcZoneIdentifiers"] == net.outputs["appSubnetIds"]
    assert i["instanceRefresh"]["preferences"]["minHealthyPercentage"] == 100
    policy = one(lp, "aws:autoscaling/policy:Policy").inputs
    assert (
        policy["targetTrackingConfiguration"]["predefinedMetricSpecification"]["predefinedMetricType"]
        == "ASGAverageCPUUtilization"
    )
    # Inline tags: aws.autoscaling.Tag on a group the program manages flaps on every `up --refresh`.
    assert not of_type(lp, "aws:autoscaling/tag:Tag")
    tags = {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in i["tags"]}
    assert tags == {
        "Environment": ("prod", False),
        "CostCenter": ("payments-platform", False),
        "MigrationPhase": ("parallel-run", False),
        "Name": ("app-prod", False),
    }
    assert lp.outputs["computeMode"] == "ec2" and lp.outputs["asgName"] == "asg-app-prod"
    assert "clusterName" not in lp.outputs and "serviceNames" not in lp.outputs


def test_ec2_instances_are_private_imdsv2_encrypted_and_tagged() -> None:
    lp, net = app("dev", EC2), upstream("dev", "network")
    lt = one(lp, LT).inputs
    assert lt["imageId"] == "ami-0abcdef1234567890"  # the planner's answer to the AL2023 SSM parameter
    assert lt["metadataOptions"]["httpTokens"] == "required"
    assert lt["networkInterfaces"] == [
        {
            "deviceIndex": 0,
            "associatePublicIpAddress": "false",
            "deleteOnTermination": "true",
            "securityGroups": [net.outputs["appSecurityGroupId"]],
        }
    ]
    ebs = lt["blockDeviceMappings"][0]["ebs"]
    key = one(lp, "aws:kms/key:Key")
    assert ebs["encrypted"] == "true" and ebs["kmsKeyId"].endswith(key.id) and key.inputs["enableKeyRotation"] is True
    key_policy = json.loads(key.inputs["policy"])
    # The key names the stack's own Auto Scaling role, which exists before the key in a fresh account too.
    role = one(lp, "aws:iam/serviceLinkedRole:ServiceLinkedRole").inputs
    assert role == {"awsServiceName": "autoscaling.amazonaws.com", "customSuffix": "payments-dev",
                    "description": "Auto Scaling of the payments application (dev): launches its encrypted volumes"}
    role_arn = ("arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/"
                "AWSServiceRoleForAutoScaling_payments-dev")
    statement = next(s for s in key_policy["Statement"] if s["Sid"] == "AutoScalingEncryptedVolumes")
    assert statement["Principal"] == {"AWS": role_arn}
    assert one(lp, ASG).inputs["serviceLinkedRoleArn"] == role_arn
    specs = {s["resourceType"]: s["tags"] for s in lt["tagSpecifications"]}
    for kind in ("instance", "volume"):
        assert specs[kind]["Environment"] == "dev" and specs[kind]["MigrationPhase"] == "parallel-run"
    assert "keyName" not in lt  # Session Manager, no SSH key


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ec2_user_data_is_valid_bash_that_fetches_secrets_at_boot() -> None:
    lp, data = app("dev", EC2), upstream("dev", "data")
    script = base64.b64decode(one(lp, LT).inputs["userData"]).decode()
    assert subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True).returncode == 0
    assert f"--secret-id {shlex.quote(data.outputs['appDbSecretArn'])} " in script
    assert "--read-only" in script and "--user 1000:1000" in script and "--cap-drop ALL" in script
    assert "password=" not in script.lower().replace("db_password=", "")


def test_instance_role_allows_only_what_the_app_needs_and_session_manager() -> None:
    lp = app("dev", EC2)
    doc = statements(policies(lp)["role-app-instance-dev"])
    assert set(doc) == {
        "EcrLogin",
        "EcrPullRepository",
        "WriteOwnLogGroup",
        "ReadAppParameters",
        "RereadDatabaseSecret",
        "ListStaticContent",
        "ReadStaticContent",
        "WriteApplicationLogs",
        "UseDataKeyThroughServices",
        "SsmAgentRegistration",
        "SessionManagerChannels",
    }
    trust = json.loads(one(lp, ROLE).inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
    archive = one(lp, OBJECT)
    assert archive.inputs["key"] == "launch-templates/lt-app-dev.json"


def test_seed_b_profile_plans_cleanly() -> None:
    p = plan("prod", ["network", "data", "edge", "app"], SEED_B)
    assert p.layer("network").outputs["azNames"] == ["us-east-1a", "us-east-1b"]
    assert p.layer("data").outputs["dbEngine"] == "mysql"
    assert p.layer("edge").outputs["appTargetType"] == "instance"
    lp = p.layer("app")
    assert one(lp, ASG).inputs["vpcZoneIdentifiers"] == p.layer("network").outputs["appSubnetIds"]
    assert len(p.layer("network").outputs["appSubnetIds"]) == 2
    assert [f for f in p.findings if f.severity == "mandatory" and f.resource in {r.name for r in lp.resources}] == []
    assert [f for layer in ("edge", "app") for f in p.layer(layer).findings if f.severity == "mandatory"] == []


# --- exports and guardrails ---------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("overrides", [None, EC2], ids=["fargate", "ec2"])
def test_app_exports_its_contract_and_has_no_mandatory_findings(env: str, overrides: dict | None) -> None:
    p = app_plan(env, overrides)
    lp = p.layer("app")
    declared = {o.name: o for o in contract.EXPORTS["app"]}
    assert set(lp.outputs) <= set(declared)
    assert {n for n, o in declared.items() if not o.optional} <= set(lp.outputs)
    assert [f for f in p.findings if f.severity == "mandatory"] == []


# --- bad config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        (
            "dev",
            {"computeMode": "lambda"},
            "payments-app:computeMode: 'lambda' is not allowed. Fix: use one of: fargate, ec2",
        ),
        (
            "dev",
            {"cpu": 256, "memory": 4096},
            "payments-app:memory: Fargate does not offer 4096 MiB with 256 CPU units",
        ),
        (
            "dev",
            {"cpu": 1024, "memory": 1024},
            "payments-app:memory: Fargate does not offer 1024 MiB with 1024 CPU units",
        ),
        ("dev", {"cpu": 300}, "payments-app:cpu: 300 CPU units are not a Fargate size"),
        ("dev", {"asgMin": 4, "asgMax": 3}, "payments-app:asgMin: 4 is above asgMax (3)"),
        ("dev", {"asgDesired": 7}, "payments-app:asgDesired: 7 is outside asgMin-asgMax (2-6)"),
        (
            "dev",
            {"image": "registry.example.com/app"},
            "payments-app:image: 'registry.example.com/app' is not an image pinned",
        ),
        (
            "dev",
            {"image": "registry.example.com/app:latest"},
            "payments-app:image: ':latest' is not a reviewable release",
        ),
        ("dev", {"containerUser": "root"}, "payments-app:containerUser: 'root' runs as root"),
        ("dev", {"desiredCount": 5}, "payments-app:maxCapacity: 3 is below desiredCount (5)"),
        ("dev", {"minCapacity": 2}, "payments-app:minCapacity: 2 is above desiredCount (1)"),
        ("dev", {"scaleInCooldownSeconds": 30}, "payments-app:scaleInCooldownSeconds: 30 is not longer than"),
        (
            "dev",
            {"settingsParameters": {"db_host": "db/host"}},
            "payments-app:settingsParameters.db_host: not an environment variable name",
        ),
        ("prod", {"desiredCount": 1}, "payments-app:desiredCount: 1 task(s) per service in a production environment"),
        ("prod", {"computeMode": "ec2", "asgMin": 1}, "payments-app:asgMin: 1 instance(s) in a production environment"),
        ("dev", {"logRetentionDays": 30}, "payments-app:logRetentionDays: 30 is not allowed"),
    ],
)
def test_bad_app_config_is_one_clear_line(env: str, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_environment(env, ["app"], overrides={"app": overrides})
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value) and "Fix: " in str(info.value)


def test_compute_mode_must_match_the_edge_target_groups() -> None:
    message = _plan_error({"app": {"computeMode": "ec2"}}, ["app"])
    assert message.startswith(
        "payments-app:computeMode: 'ec2' needs 'instance' target groups but payments-edge built 'ip' ones"
    )


def test_every_app_config_key_and_export_is_documented() -> None:
    from payments.core import config
    from payments.core.environment import REPO_ROOT
    from payments.layers.app.settings import AppSettings

    text = (REPO_ROOT / "docs" / "app.md").read_text()
    missing = [k.key for k in config.describe(AppSettings) if f"`{k.key}`" not in text]
    missing += [o.name for o in contract.EXPORTS["app"] if f"`{o.name}`" not in text]
    assert missing == []
