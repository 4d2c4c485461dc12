"""Compute rules: no public IPs, IMDSv2, encrypted volumes, hardened containers, least-privilege IAM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from payments.components.logs import insights_log_group
from payments.guardrails.engine import Resource, Severity, rule, stack_rule

SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
CLUSTER = "aws:ecs/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
ASG = "aws:autoscaling/group:Group"
POLICY_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE = "aws:iam/role:Role"
#: Resources that attach a managed policy by ARN (input `policyArn`).
POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
#: AWS managed policies that grant (nearly) everything, or IAM itself: never attached here.
REFUSED_MANAGED_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
REQUIRED_TAGS = ("Environment", "CostCenter", "MigrationPhase")

#: Actions AWS does not scope to any resource: for these alone "Resource": "*" is unavoidable.
#: (IAM Service Authorization Reference, "Resource types" column empty.)
UNSCOPED_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "logs:DescribeLogGroups",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeNetworkAcls",
        "ecs:DescribeTaskDefinition",
        "ecs:RegisterTaskDefinition",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "dms:DescribeReplicationTasks",
        "kms:ListAliases",
        "sts:GetCallerIdentity",
    }
)
#: Actions AWS can scope, but that work as documented only on "*": action -> where AWS says so.
STAR_REQUIRED_ACTIONS = {
    # A caller scoped to alarm ARNs gets no composite alarms back (the cutover gate is one).
    "cloudwatch:DescribeAlarms": "CloudWatch API Reference, DescribeAlarms: composite alarms need a scope of *",
}
#: Environment variable names that must never carry a plain value (use `secrets`).
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|CREDENTIAL)", re.I)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@rule(
    "iam-no-wildcard-resource",
    pci="7.2.1, 7.2.2",
    types=[*POLICY_DOCUMENTS, ROLE, *POLICY_ATTACHMENTS],
    description="IAM policies (inline ones too) name resources: '*' only for actions AWS cannot scope; no '*' or "
    "'service:*' actions; AdministratorAccess, PowerUserAccess and IAMFullAccess are never attached",
)
def iam_no_wildcard_resource(r: Resource) -> Iterator[str]:
    if r.type in POLICY_DOCUMENTS:
        yield from _document_findings(r.json(POLICY_DOCUMENTS[r.type]), "")
    elif r.type == ROLE:
        for inline in r.inputs.get("inlinePolicies") or []:
            if isinstance(inline, dict):
                yield from _document_findings(_parsed(inline.get("policy")), f"inline policy {inline.get('name')!r}: ")
        for arn in r.inputs.get("managedPolicyArns") or []:
            yield from _refused_attachment(arn)
    else:
        yield from _refused_attachment(r.inputs.get("policyArn"))


def _parsed(document: Any) -> Any:
    if isinstance(document, str):
        try:
            return json.loads(document)
        except json.JSONDecodeError:
            return None
    return document


def _refused_attachment(arn: Any) -> Iterator[str]:
    if isinstance(arn, str) and ":policy/" in arn and arn.rsplit("/", 1)[-1] in REFUSED_MANAGED_POLICIES:
        yield f"attaches {arn.rsplit('/', 1)[-1]} ({arn}); grant the actions the workload needs on named resources"


def _document_findings(doc: Any, where: str) -> Iterator[str]:
    if not isinstance(doc, dict):
        return
    for i, stmt in enumerate(_as_list(doc.get("Statement") or [])):
        if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
            continue
        label = where + (stmt.get("Sid") or f"statement {i}")
        actions = [str(a) for a in _as_list(stmt.get("Action") or [])]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                yield f"{label}: action '{action}' grants a whole service; list the actions needed"
        if "NotAction" in stmt or "NotResource" in stmt:
            yield f"{label}: NotAction/NotResource in an Allow grants more than it names"
        resources = [str(x) for x in _as_list(stmt.get("Resource") or [])]
        if "*" in resources:
            scoped = sorted(a for a in actions if a not in UNSCOPED_ACTIONS and a not in STAR_REQUIRED_ACTIONS)
            if scoped:
                yield f"{label}: Resource '*' for {', '.join(scoped)}, which AWS can scope to an ARN"


@rule(
    "no-public-ip-on-compute",
    pci="1.4.4",
    types=[SERVICE, LAUNCH_TEMPLATE, INSTANCE],
    description="Tasks and instances get no public IP address (they sit behind the load balancer)",
)
def no_public_ip_on_compute(r: Resource) -> Iterator[str]:
    if r.type == SERVICE:
        if r.get("networkConfiguration", "assignPublicIp") is True:
            yield "networkConfiguration.assignPublicIp is true"
    elif r.type == LAUNCH_TEMPLATE:
        for nic in r.inputs.get("networkInterfaces") or []:
            if str(nic.get("associatePublicIpAddress")).lower() == "true":
                yield "a network interface has associatePublicIpAddress true"
    elif r.inputs.get("associatePublicIpAddress") is True:
        yield "associatePublicIpAddress is true"


@rule(
    "imdsv2-required",
    pci="2.2.6",
    types=[LAUNCH_TEMPLATE, INSTANCE],
    description="Instances require IMDSv2 session tokens (no IMDSv1 credential theft via SSRF)",
)
def imdsv2_required(r: Resource) -> Iterator[str]:
    if r.get("metadataOptions", "httpEndpoint") == "disabled":
        return
    if r.get("metadataOptions", "httpTokens") != "required":
        yield "metadataOptions.httpTokens is not 'required'"


@rule(
    "ebs-encrypted-cmk",
    pci="3.5.1",
    types=[LAUNCH_TEMPLATE, INSTANCE, VOLUME],
    description="EBS volumes are encrypted with a customer-managed key",
)
def ebs_encrypted_cmk(r: Resource) -> Iterator[str]:
    if r.type == VOLUME:
        volumes = [r.inputs]
    elif r.type == LAUNCH_TEMPLATE:
        volumes = [m.get("ebs") or {} for m in r.inputs.get("blockDeviceMappings") or []]
        if not volumes:
            yield "no blockDeviceMappings: the AMI's root volume settings (possibly unencrypted) apply"
    else:
        volumes = [r.get("rootBlockDevice") or {}, *(r.inputs.get("ebsBlockDevices") or [])]
    for i, ebs in enumerate(volumes):
        if str(ebs.get("encrypted")).lower() != "true":
            yield f"volume {i} is not encrypted"
        elif not ebs.get("kmsKeyId"):
            yield f"volume {i} uses the AWS-managed key, not a customer-managed one (kmsKeyId)"


@rule(
    "launch-template-tags-instances",
    pci="12.5.1",
    types=[LAUNCH_TEMPLATE],
    description="Launch templates tag the instances and volumes they create (provider default tags do not reach them)",
)
def launch_template_tags(r: Resource) -> Iterator[str]:
    specs = {s.get("resourceType"): s.get("tags") or {} for s in r.inputs.get("tagSpecifications") or []}
    for kind in ("instance", "volume"):
        missing = [t for t in REQUIRED_TAGS if not specs.get(kind, {}).get(t)]
        if missing:
            yield f"{kind}s launched from it miss tag(s) {', '.join(missing)}"


@rule(
    "ecs-container-hardened",
    pci="2.2.1, 2.2.5",
    types=[TASK_DEFINITION],
    description="Containers: read-only root filesystem, not privileged, not root, logs shipped, no plain secrets",
)
def ecs_container_hardened(r: Resource) -> Iterator[str]:
    containers = r.json("containerDefinitions")
    if not isinstance(containers, list):
        return
    for c in containers:
        name = c.get("name", "?")
        if c.get("readonlyRootFilesystem") is not True:
            yield f"container {name}: readonlyRootFilesystem is not true"
        if c.get("privileged") is True:
            yield f"container {name}: privileged mode"
        if str(c.get("user", "root")).split(":")[0] in ("", "root", "0"):
            yield f"container {name}: runs as root (set user)"
        if (c.get("logConfiguration") or {}).get("logDriver") is None:
            yield f"container {name}: no logConfiguration"
        for env in c.get("environment") or []:
            if _SECRET_NAME.search(str(env.get("name", ""))):
                yield f"container {name}: {env.get('name')} is a plain environment value; inject it through secrets"


@rule(
    "ecs-service-resilient",
    pci="12.10.1",
    types=[SERVICE],
    description="Services roll back failed deployments and keep full capacity while deploying",
)
def ecs_service_resilient(r: Resource) -> Iterator[str]:
    breaker = r.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") is not True or breaker.get("rollback") is not True:
        yield "deployment circuit breaker with rollback is off"
    if (r.inputs.get("deploymentMinimumHealthyPercent") or 0) < 100:
        yield "deploymentMinimumHealthyPercent is below 100"
    if r.production and (r.inputs.get("desiredCount") or 0) < 2:
        yield "fewer than 2 tasks in production: one AZ failure takes the pool down"


@rule(
    "ecs-container-insights",
    pci="10.2.1",
    severity=Severity.ADVISORY,
    types=[CLUSTER],
    description="ECS clusters collect Container Insights metrics",
)
def ecs_container_insights(r: Resource) -> Iterator[str]:
    if not _insights_on(r):
        yield "containerInsights is not enabled"


def _insights_on(cluster: Resource) -> bool:
    settings = {s.get("name"): s.get("value") for s in cluster.inputs.get("settings") or [] if isinstance(s, dict)}
    return settings.get("containerInsights") in ("enabled", "enhanced")


@stack_rule(
    "ecs-insights-log-group-owned",
    pci="10.5.1, 3.5.1",
    description="Clusters with Container Insights own its log group (/aws/ecs/containerinsights/<cluster>/"
    "performance): AWS would create it unencrypted, with no retention",
)
def ecs_insights_log_group(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    groups = {r.inputs.get("name") for r in resources if r.type == "aws:cloudwatch/logGroup:LogGroup"}
    for cluster in (r for r in resources if r.type == CLUSTER and _insights_on(r)):
        wanted = insights_log_group(str(cluster.inputs.get("name")))
        if isinstance(cluster.inputs.get("name"), str) and wanted not in groups:
            yield cluster.name, (
                f"Container Insights is on but the stack does not create {wanted}: AWS creates it unencrypted with "
                "no retention. Create it first, with the logs key and >= 365 days"
            )


@rule(
    "asg-elb-health-checks",
    pci="12.10.1",
    types=[ASG],
    description="Auto Scaling groups behind a load balancer replace instances the load balancer finds unhealthy",
)
def asg_elb_health(r: Resource) -> Iterator[str]:
    if r.inputs.get("targetGroupArns") and r.inputs.get("healthCheckType") != "ELB":
        yield "healthCheckType is not ELB: instances failing the load balancer's health check stay in service"


@rule(
    "asg-az-spread-prod",
    pci="12.10.1",
    types=[ASG],
    description="In production, Auto Scaling groups span 2+ subnets (AZs) and keep at least 2 instances",
)
def asg_az_spread(r: Resource) -> Iterator[str]:
    if not r.production:
        return
    subnets = r.inputs.get("vpcZoneIdentifiers") or []
    if len(subnets) < 2:
        yield f"{len(subnets)} subnet(s) in vpcZoneIdentifiers: one AZ failure takes the pool down; use 2 or more"
    minimum = r.inputs.get("minSize")
    if isinstance(minimum, bool) or not isinstance(minimum, int | float) or minimum < 2:
        yield f"minSize is {minimum!r}: production keeps at least 2 instances, one per AZ"
