"""The output contract: what each layer exports, declared once.

A layer may export only what is declared here (:func:`export`), and a
downstream layer may read only declared outputs of its declared upstreams,
through :class:`Upstream` over ``pulumi.StackReference``. The README's exports
table is generated from this module (``invoke docs``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from payments.core.errors import UserError
from payments.core.graph import LAYERS, project_name


@dataclasses.dataclass(frozen=True)
class Output:
    name: str
    type: str  #: "string", "number", "list[string]", "map[string]"
    doc: str
    secret: bool = False
    #: exported only in some configurations (e.g. the ASG name in EC2 mode)
    optional: bool = False


def _o(name: str, type_: str, doc: str, **kw: Any) -> Output:
    return Output(name, type_, doc, **kw)


S, N, L, M = "string", "number", "list[string]", "map[string]"

EXPORTS: dict[str, tuple[Output, ...]] = {
    "network": (
        _o("vpcId", S, "VPC id"),
        _o("vpcCidr", S, "VPC IPv4 CIDR"),
        _o("azNames", L, "availability zones used, in subnet order"),
        _o("publicSubnetIds", L, "public subnets (ALB, NAT), one per AZ"),
        _o("appSubnetIds", L, "private application subnets, one per AZ"),
        _o("dataSubnetIds", L, "isolated data subnets (no internet route), one per AZ"),
        _o("publicRouteTableId", S, "route table of the public subnets"),
        _o("appRouteTableIds", L, "route tables of the app subnets, one per AZ"),
        _o("dataRouteTableIds", L, "route tables of the data subnets, one per AZ"),
        _o("natGatewayIds", L, "NAT gateways (one, or one per AZ)"),
        _o("albSecurityGroupId", S, "security group of the load balancer"),
        _o("appSecurityGroupId", S, "security group of the application tasks/instances"),
        _o("dbSecurityGroupId", S, "security group of the database"),
        _o("dmsSecurityGroupId", S, "security group of the DMS replication instance"),
        _o("endpointSecurityGroupId", S, "security group of the interface VPC endpoints"),
        _o("onPremCidrs", L, "on-premises networks reachable over the VPN"),
        _o("flowLogGroupName", S, "CloudWatch log group receiving VPC flow logs"),
        _o("logsKeyArn", S, "customer-managed KMS key for CloudWatch log groups of every layer"),
        _o("vpnConnectionId", S, "site-to-site VPN connection id", optional=True),
    ),
    "data": (
        _o("dbEngine", S, "aurora-mysql or mysql"),
        _o("dbIdentifier", S, "Aurora cluster or RDS instance identifier"),
        _o("dbArn", S, "Aurora cluster or RDS instance ARN"),
        _o("dbWriterEndpoint", S, "writer endpoint host name"),
        _o("dbReaderEndpoint", S, "reader endpoint host name (the writer for RDS MySQL)"),
        _o("dbPort", N, "database port"),
        _o("dbName", S, "initial database name"),
        _o("dbSecretArn", S, "ARN of the AWS-managed master credentials secret (never its value)"),
        _o("dataKeyArn", S, "customer-managed KMS key of the data layer"),
        _o("appLogsBucketName", S, "application log bucket"),
        _o("appLogsBucketArn", S, "application log bucket ARN"),
        _o("staticBucketName", S, "static content bucket"),
        _o("staticBucketArn", S, "static content bucket ARN"),
        _o("configArchiveBucketName", S, "config archive bucket (task definitions, kept by AWS Backup)"),
        _o("configArchiveBucketArn", S, "config archive bucket ARN"),
        _o("parameterPath", S, "Parameter Store path prefix of the app configuration"),
        _o("backupVaultArn", S, "AWS Backup vault ARN"),
        _o("backupPlanArn", S, "AWS Backup plan ARN"),
    ),
    "edge": (
        _o("albArn", S, "load balancer ARN"),
        _o("albArnSuffix", S, "load balancer ARN suffix (CloudWatch dimension)"),
        _o("albDnsName", S, "load balancer DNS name"),
        _o("albZoneId", S, "load balancer hosted zone id (for alias records)"),
        _o("httpsListenerArn", S, "HTTPS listener ARN (its weights belong to the cutover)"),
        _o("httpListenerArn", S, "HTTP listener ARN (redirects to HTTPS)"),
        _o("targetGroupArns", M, "target group ARNs by pool: legacy, blue, green"),
        _o("targetGroupArnSuffixes", M, "target group ARN suffixes by pool (CloudWatch dimension)"),
        _o("initialWeights", M, "listener weights at creation by pool"),
        _o("appTargetType", S, "target type of the blue/green groups: ip (Fargate) or instance (EC2); app checks it"),
        _o("webAclArn", S, "WAFv2 web ACL ARN"),
        _o("accessLogBucketName", S, "ALB access log bucket"),
    ),
    "app": (
        _o("computeMode", S, "fargate or ec2"),
        _o("clusterName", S, "ECS cluster name", optional=True),
        _o("clusterArn", S, "ECS cluster ARN", optional=True),
        _o("serviceNames", M, "ECS service names by pool: blue, green", optional=True),
        _o("serviceArns", M, "ECS service ARNs by pool: blue, green", optional=True),
        _o("taskDefinitionArn", S, "task definition ARN (with revision)", optional=True),
        _o("taskDefinitionFamily", S, "task definition family", optional=True),
        _o("asgName", S, "Auto Scaling group name (EC2 mode)", optional=True),
        _o("logGroupName", S, "application log group"),
        _o("executionRoleArn", S, "ECS task execution role ARN", optional=True),
        _o("taskRoleArn", S, "ECS task role ARN", optional=True),
        _o("instanceRoleArn", S, "EC2 instance role ARN (EC2 mode)", optional=True),
    ),
    "observability": (
        _o("alarmTopicArn", S, "SNS topic every alarm notifies"),
        _o("alarmTopicKeyArn", S, "KMS key encrypting the alarm topic (publishers need kms:GenerateDataKey* on it)"),
        _o("alarmNames", M, "alarm names by purpose"),
        _o("alarmArns", M, "alarm ARNs by purpose"),
        _o("gateAlarmName", S, "composite cutover-gate alarm name"),
        _o("gateAlarmArn", S, "composite cutover-gate alarm ARN"),
        _o("gateMemberNames", L, "metric alarms in the cutover gate (a notice names those in ALARM)"),
        _o("gateWindowSeconds", N, "seconds the gate needs to see a failure: longest member window + metric delay"),
        _o("dashboardNames", M, "dashboard names: application, database, migration"),
    ),
    "migration": (
        _o("cutoverStateMachineArn", S, "cutover state machine ARN"),
        _o("rollbackStateMachineArn", S, "rollback state machine ARN"),
        _o("cutoverLogGroupName", S, "state machine execution log group"),
        _o("phaseParameterName", S, "SSM parameter holding the migration phase"),
        _o("dmsTaskArn", S, "DMS replication task ARN", optional=True),
        _o("switchoverStateMachineArn", S, "database switchover state machine ARN (writer on-prem -> Aurora)",
           optional=True),
        _o("fallbackStateMachineArn", S, "database fallback state machine ARN (writer Aurora -> on-prem)",
           optional=True),
        _o("finishStateMachineArn", S, "finish state machine ARN (phase cutover-complete, reverse stopped)",
           optional=True),
        _o("writerRecoveryStateMachineArn", S, "writer-recovery state machine ARN (the writer machines' safety net)",
           optional=True),
    ),
}


def declared(layer: str) -> dict[str, Output]:
    return {o.name: o for o in EXPORTS[layer]}


def check_export(layer: str, name: str) -> Output:
    out = declared(layer).get(name)
    if out is None:
        raise UserError(
            f"layer '{layer}' exports '{name}', which the contract does not declare. "
            "Fix: declare it in payments/core/contract.py"
        )
    return out


def check_upstream(reader: str, upstream: str) -> None:
    if upstream not in LAYERS[reader]:
        raise UserError(
            f"layer '{reader}' reads '{upstream}', which is not one of its upstreams "
            f"({', '.join(LAYERS[reader]) or 'none'}). Fix: add the edge in payments/core/graph.py"
        )


def check_read(reader: str, upstream: str, name: str) -> Output:
    check_upstream(reader, upstream)
    out = declared(upstream).get(name)
    if out is None:
        raise UserError(
            f"layer '{reader}' reads '{upstream}.{name}', which '{upstream}' does not declare. "
            "Fix: read a declared output or declare it in payments/core/contract.py"
        )
    return out


def markdown_table() -> str:
    """The exports table of the README, generated from the declaration."""
    rows = ["| layer | output | type | meaning |", "|---|---|---|---|"]
    for layer, outputs in EXPORTS.items():
        for o in outputs:
            notes = " (only in some configurations)" if o.optional else ""
            notes += " **secret**" if o.secret else ""
            rows.append(f"| {project_name(layer)} | `{o.name}` | {o.type} | {o.doc}{notes} |")
    return "\n".join(rows)
