"""VPC flow logs to an encrypted, year-long CloudWatch log group (PCI DSS 10.2, 10.5.1)."""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.components.logs import log_group
from payments.core.naming import Kind, Namer


@dataclasses.dataclass
class FlowLogsArgs:
    vpc_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    retention_days: int
    namer: Namer
    account_id: str
    region: str


class FlowLogs(pulumi.ComponentResource):
    def __init__(self, name: str, args: FlowLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:FlowLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        self.log_group = log_group(
            f"{name}-group", f"/payments/{n.suffix}/vpc-flow-logs", args.kms_key_arn, args.retention_days, opts=child
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=n("role-vpc-flow-logs", Kind.IAM_ROLE),
            # Confused-deputy guard as the VPC User Guide gives it: this account's flow logs only.
            assume_role_policy=iam.service_trust(
                "vpc-flow-logs.amazonaws.com",
                source_account=args.account_id,
                source_arn=f"arn:aws:ec2:{args.region}:{args.account_id}:vpc-flow-log/*",
            ),
            opts=child,
        )
        # What the VPC User Guide's flow-log role grants ("IAM role for publishing flow logs to CloudWatch Logs"),
        # scoped: writes into exactly this log group and its streams; DescribeLogGroups takes no resource but "*".
        # logs:CreateLogGroup is left out: the stack owns the group (key, retention); a group the service would
        # re-create after a deletion would have neither, so delivery should fail loudly instead.
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=iam.document(
                iam.allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [self.log_group.arn, pulumi.Output.concat(self.log_group.arn, ":*")],
                    sid="DeliverToTheGroup",
                ),
                iam.allow(["logs:DescribeLogGroups"], "*", sid="FindTheGroup"),
            ),
            opts=child,
        )
        self.flow_log = aws.ec2.FlowLog(
            name,
            vpc_id=args.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={"Name": n("flow-log")},
            opts=child,
        )
        self.register_outputs({"logGroupName": self.log_group.name})
