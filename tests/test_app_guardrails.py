"""App guardrails: each rule fires on a resource that breaks it and stays quiet on a good one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.guardrails.engine import RULES, Resource, Severity, evaluate, load_rules
from tests.support import plan

load_rules()

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ASG = "aws:autoscaling/group:Group"
MANAGED = "arn:aws:iam::aws:policy/"
EC2 = {"edge": {"computeMode": "ec2"}, "app": {"computeMode": "ec2"}}


def res(type_: str, inputs: dict, production: bool = False) -> Resource:
    return Resource(type_, "r", inputs, TAGS, production, "dev")


def messages(resource: Resource | list[Resource], rule_id: str) -> list[str]:
    return [f.message for f in evaluate(resource if isinstance(resource, list) else [resource], [RULES[rule_id]])]


def policy(*statements: dict) -> dict:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def container(**changes) -> dict:
    base = {
        "name": "app",
        "image": "x/app:1",
        "readonlyRootFilesystem": True,
        "privileged": False,
        "user": "1000:1000",
        "logConfiguration": {"logDriver": "awslogs"},
        "environment": [{"name": "APP_ENV", "value": "dev"}],
    }
    return {"containerDefinitions": json.dumps([{**base, **changes}])}


SERVICE_OK = {
    "networkConfiguration": {"assignPublicIp": False},
    "desiredCount": 2,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "deploymentMinimumHealthyPercent": 100,
}
TAGS_SPEC = [{"resourceType": k, "tags": TAGS} for k in ("instance", "volume")]
LT_OK = {
    "metadataOptions": {"httpTokens": "required"},
    "networkInterfaces": [{"associatePublicIpAddress": "false"}],
    "blockDeviceMappings": [{"ebs": {"encrypted": "true", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"}}],
    "tagSpecifications": TAGS_SPEC,
}
ARN = "arn:aws:s3:::bucket/*"
ASG_OK = {"vpcZoneIdentifiers": ["subnet-a", "subnet-b"], "minSize": 2, "targetGroupArns": ["arn:tg"],
          "healthCheckType": "ELB"}


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
INSIGHTS_CLUSTER = res(
    "aws:ecs/cluster:Cluster", {"name": "cluster-dev", "settings": [{"name": "containerInsights", "value": "enabled"}]}
)


def inline(*statements: dict) -> dict:
    return {"inlinePolicies": [{"name": "task", **policy(*statements)}]}

CASES = [
    (
        "iam-no-wildcard-resource",
        res(POLICY, policy({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})),
        res(POLICY, policy({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ARN})),
    ),
    (
        "iam-no-wildcard-resource",
        res(POLICY, policy({"Effect": "Allow", "Action": "s3:*", "Resource": ARN})),
        res(POLICY, policy({"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"})),
    ),
    (
        "iam-no-wildcard-resource",
        res(POLICY, policy({"Effect": "Allow", "Action": "*", "Resource": ["*"]})),
        res(POLICY, policy({"Effect": "Deny", "Action": "*", "Resource": "*"})),
    ),
    (
        "iam-no-wildcard-resource",
        res(POLICY, policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": ARN})),
        res(POLICY, policy({"Effect": "Allow", "Action": ["ssmmessages:OpenDataChannel"], "Resource": "*"})),
    ),
    # DescribeAlarms returns composite alarms only when scoped to "*" (AWS-documented); other alarm actions never
    (
        "iam-no-wildcard-resource",
        res(POLICY, policy({"Effect": "Allow", "Action": ["cloudwatch:SetAlarmState"], "Resource": "*"})),
        res(POLICY, policy({"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": "*"})),
    ),
    (
        "iam-no-wildcard-resource",
        res(ROLE, inline({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})),
        res(ROLE, inline({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ARN})),
    ),
    (
        "iam-no-wildcard-resource",
        res(ROLE, {"managedPolicyArns": [f"{MANAGED}AdministratorAccess"]}),
        res(ROLE, {"managedPolicyArns": [f"{MANAGED}service-role/AmazonECSTaskExecutionRolePolicy"]}),
    ),
    (
        "iam-no-wildcard-resource",
        res(ATTACHMENT, {"role": "app-dev", "policyArn": f"{MANAGED}PowerUserAccess"}),
        res(ATTACHMENT, {"role": "app-dev", "policyArn": f"{MANAGED}service-role/AWSBackupServiceRolePolicyForBackup"}),
    ),
    (
        "iam-no-wildcard-resource",
        res("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", {"policyArn": f"{MANAGED}IAMFullAccess"}),
        res("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", {"policyArn": f"{MANAGED}ReadOnlyAccess"}),
    ),
    (
        "no-public-ip-on-compute",
        res(SERVICE, {**SERVICE_OK, "networkConfiguration": {"assignPublicIp": True}}),
        res(SERVICE, SERVICE_OK),
    ),
    (
        "no-public-ip-on-compute",
        res(LT, {**LT_OK, "networkInterfaces": [{"associatePublicIpAddress": "true"}]}),
        res(LT, LT_OK),
    ),
    ("imdsv2-required", res(LT, {**LT_OK, "metadataOptions": {"httpTokens": "optional"}}), res(LT, LT_OK)),
    ("imdsv2-required", res(LT, {k: v for k, v in LT_OK.items() if k != "metadataOptions"}), res(LT, LT_OK)),
    ("ebs-encrypted-cmk", res(LT, {**LT_OK, "blockDeviceMappings": [{"ebs": {"encrypted": "false"}}]}), res(LT, LT_OK)),
    ("ebs-encrypted-cmk", res(LT, {**LT_OK, "blockDeviceMappings": [{"ebs": {"encrypted": "true"}}]}), res(LT, LT_OK)),
    (
        "ebs-encrypted-cmk",
        res("aws:ebs/volume:Volume", {"encrypted": False}),
        res("aws:ebs/volume:Volume", {"encrypted": True, "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"}),
    ),
    ("launch-template-tags-instances", res(LT, {**LT_OK, "tagSpecifications": TAGS_SPEC[:1]}), res(LT, LT_OK)),
    ("ecs-container-hardened", res(TASK, container(readonlyRootFilesystem=False)), res(TASK, container())),
    ("ecs-container-hardened", res(TASK, container(privileged=True)), res(TASK, container())),
    ("ecs-container-hardened", res(TASK, container(user="0:0")), res(TASK, container())),
    ("ecs-container-hardened", res(TASK, container(logConfiguration=None)), res(TASK, container())),
    (
        "ecs-container-hardened",
        res(TASK, container(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}])),
        res(TASK, container()),
    ),
    (
        "ecs-service-resilient",
        res(SERVICE, {**SERVICE_OK, "deploymentCircuitBreaker": {"enable": True}}),
        res(SERVICE, SERVICE_OK),
    ),
    (
        "ecs-service-resilient",
        res(SERVICE, {**SERVICE_OK, "deploymentMinimumHealthyPercent": 50}),
        res(SERVICE, SERVICE_OK),
    ),
    (
        "ecs-service-resilient",
        res(SERVICE, {**SERVICE_OK, "desiredCount": 1}, production=True),
        res(SERVICE, {**SERVICE_OK, "desiredCount": 1}),
    ),
    (
        "ecs-container-insights",
        res("aws:ecs/cluster:Cluster", {"settings": []}),
        res("aws:ecs/cluster:Cluster", {"settings": [{"name": "containerInsights", "value": "enabled"}]}),
    ),
    (
        "ecs-insights-log-group-owned",
        [INSIGHTS_CLUSTER],
        [INSIGHTS_CLUSTER, res(LOG_GROUP, {"name": "/aws/ecs/containerinsights/cluster-dev/performance"})],
    ),
    (
        "asg-elb-health-checks",
        res(ASG, {"targetGroupArns": ["arn:tg"], "healthCheckType": "EC2"}),
        res(ASG, {"targetGroupArns": ["arn:tg"], "healthCheckType": "ELB"}),
    ),
    (
        "asg-az-spread-prod",
        res(ASG, {**ASG_OK, "vpcZoneIdentifiers": ["subnet-a"]}, production=True),
        res(ASG, ASG_OK, production=True),
    ),
    (
        "asg-az-spread-prod",
        res(ASG, {**ASG_OK, "minSize": 1}, production=True),
        res(ASG, {**ASG_OK, "minSize": 1, "vpcZoneIdentifiers": ["subnet-a"]}),  # dev favours cost
    ),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[c[0] for c in CASES])
def test_app_rule_fires_on_a_breaking_resource(rule_id: str, bad: Any, good: Any) -> None:
    assert messages(bad, rule_id), f"{rule_id} stayed quiet on {bad}"
    assert messages(good, rule_id) == []


def test_every_app_rule_is_tested() -> None:
    app_rules = {r.id for r in RULES.values() if (r.check or r.stack_check).__module__.endswith("rules_app")}  # type: ignore[union-attr]
    assert app_rules == {c[0] for c in CASES}


def test_a_group_behind_a_load_balancer_without_elb_health_checks_blocks_the_plan() -> None:
    assert RULES["asg-elb-health-checks"].severity is Severity.MANDATORY
    bad = res(ASG, {**ASG_OK, "healthCheckType": "EC2"})
    assert [f.severity for f in evaluate([bad], [RULES["asg-elb-health-checks"]])] == ["mandatory"]


def test_inline_policy_findings_name_the_policy() -> None:
    (message,) = messages(res(ROLE, inline({"Sid": "Logs", "Effect": "Allow", "Action": "logs:*", "Resource": ARN})),
                          "iam-no-wildcard-resource")
    assert message.startswith("inline policy 'task': Logs:")


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("overrides", [None, EC2], ids=["fargate", "ec2"])
def test_the_real_app_plan_passes_every_app_rule(env: str, overrides: dict | None) -> None:
    findings = plan(env, ["app"], overrides).layer("app").findings
    assert [f for f in findings if f.rule in {c[0] for c in CASES}] == []
