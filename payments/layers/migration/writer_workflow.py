"""The writer machines' inputs and least-privilege policies: switchover, fallback, finish, writer-recovery.

Each role gets exactly what its definition touches. Only the switchover and the fallback can flip the DB
indirection (``route53:ChangeResourceRecordSets``, limited to that one record name); writer-recovery can lift the
pause, unfence and start replication, but never moves the writer; the finish can only stop the reverse task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.components import iam
from payments.core.errors import ConfigError
from payments.layers.migration.machines.targets import Fence, Targets, WriterTargets
from payments.layers.migration.names import MigrationNames

#: NACL rule numbers of the fences: the network layer's fence number for on-prem (one per CIDR from there), and
#: the Aurora fence well above any on-prem CIDR count but below the network layer's ALLOW entries (100).
ONPREM_FENCE_RULE, AURORA_FENCE_RULE = 50, 70
#: What the writer machines need from the upstream layers, by layer.
UPSTREAM = {
    "network": ("appNetworkAclId", "onPremCidrs", "onPremDbPort", "vpcCidr"),
    "data": ("dbZoneId", "dbIndirectionName", "onPremDbName", "dbWriterEndpoint", "dbPort"),
    "edge": ("writePauseRuleArn",),
}


def writer_targets_from_outputs(
    outputs: Mapping[str, Mapping[str, Any]],
    names: MigrationNames,
    *,
    forward_task_arn: str,
    reverse_task_arn: str,
    latency_alarm_name: str | None,
    dormant_conditions: tuple[dict[str, Any], ...],
) -> WriterTargets:
    network, data, edge = outputs["network"], outputs["data"], outputs["edge"]
    return WriterTargets(
        nacl_id=network["appNetworkAclId"],
        onprem_fence=Fence(tuple(network["onPremCidrs"]), int(network["onPremDbPort"]), ONPREM_FENCE_RULE),
        # The data subnets (where Aurora answers) lie inside the VPC CIDR; nothing else in it listens on the DB
        # port, and DMS (data subnets) is not behind the app subnets' NACL.
        aurora_fence=Fence((str(network["vpcCidr"]),), int(data["dbPort"]), AURORA_FENCE_RULE),
        zone_id=data["dbZoneId"],
        indirection_name=data["dbIndirectionName"],
        onprem_name=data["onPremDbName"],
        aurora_endpoint=data["dbWriterEndpoint"],
        pause_rule_arn=edge["writePauseRuleArn"],
        dormant_conditions=dormant_conditions,
        forward_task_arn=forward_task_arn,
        reverse_task_arn=reverse_task_arn,
        writer_run_parameter_name=names.writer_run_parameter,
        forward_latency_alarm_name=latency_alarm_name,
    )


def writer_policy(
    role: str,
    t: Targets,
    w: WriterTargets,
    *,
    parameter_arns: list[str],
    topic_key_arn: str,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    from payments.layers.migration.workflow import LOG_DELIVERY_ACTIONS, XRAY_ACTIONS

    tasks = [w.reverse_task_arn] if role == "finish" else sorted({w.forward_task_arn, w.reverse_task_arn})
    statements = [
        iam.allow(["ssm:GetParameter", "ssm:PutParameter"], sorted(parameter_arns), sid="MigrationPhase"),
        iam.allow(["sns:Publish"], t.topic_arn, sid="Notify"),
        iam.allow(
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            topic_key_arn,
            sid="EncryptedTopic",
            Condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        ),
        iam.allow(["states:ListExecutions"], sorted(t.machine_arns.values()), sid="FindRunningExecutions"),
        iam.allow(["route53:ListResourceRecordSets"], f"arn:aws:route53:::hostedzone/{w.zone_id}", sid="ReadWriter"),
        # DescribeReplicationTasks supports no resource-level permission.
        iam.allow(["dms:DescribeReplicationTasks"], "*", sid="ReadReplication"),
        iam.allow(["dms:StopReplicationTask"], tasks, sid="StopReplication"),
        iam.allow(LOG_DELIVERY_ACTIONS, "*", sid="ExecutionLogDelivery"),
        iam.allow(XRAY_ACTIONS, "*", sid="Tracing"),
    ]
    if role == "finish":
        return {"Version": iam.VERSION, "Statement": statements}
    statements += [
        iam.allow(["dms:StartReplicationTask", "dms:DescribeTableStatistics"], tasks, sid="StartReplication"),
        iam.allow(["elasticloadbalancing:ModifyRule"], w.pause_rule_arn, sid="WritePause"),
        # DescribeRules and DescribeListeners support no resource-level permission.
        iam.allow(
            ["elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeListeners"],
            "*",
            sid="ReadPauseAndListener",
        ),
        iam.allow(
            ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"],
            f"arn:aws:ec2:{region}:{account_id}:network-acl/{w.nacl_id}",
            sid="Fence",
        ),
        # EC2's Describe* actions take no resource-level permission (Service Authorization Reference).
        iam.allow(["ec2:DescribeNetworkAcls"], "*", sid="ReadFence"),
        iam.allow(["cloudwatch:DescribeAlarms"], "*", sid="ReadLatencyAlarm"),
    ]
    if role in ("switchover", "fallback"):
        statements.append(
            iam.allow(
                ["route53:ChangeResourceRecordSets"],
                f"arn:aws:route53:::hostedzone/{w.zone_id}",
                sid="FlipTheWriter",
                Condition={
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [w.indirection_name.rstrip(".")],
                        "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                    }
                },
            )
        )
    return {"Version": iam.VERSION, "Statement": statements}


def require_on_prem_name(name: str | None, where: str) -> str:
    """DMS on means the writer machines are built; they flip the DB indirection between on-prem and Aurora, so the
    data layer must name the on-prem MySQL (``onPremDbName``, from its ``onPremDbAddress``)."""
    if not name:
        raise ConfigError(
            f"{where}:dmsSourceSecretArn",
            "DMS is on here (so the database switchover is built), but the data layer exports no onPremDbName: the "
            "DB indirection has no on-prem record to flip back to",
            "set payments-data:onPremDbAddress in data/Pulumi.<env>.yaml (inside payments-network:onPremCidrs) and "
            "deploy data first, or remove dmsSourceSecretArn",
        )
    return name
