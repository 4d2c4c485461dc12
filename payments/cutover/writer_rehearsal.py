"""The writer machines' definitions from typed inputs, and their stand-ins in the embedded emulator.

Until the upstream layers export the write-pause rule, the private zone, the app NACL and the reverse DMS task,
tests and rehearsals build :class:`~payments.layers.migration.machines.targets.WriterTargets` from the resources
they create here, in moto; the definitions are built by the same functions the migration layer calls.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from payments.cutover import emulator
from payments.layers.migration.machines import cutover_definition, rollback_definition
from payments.layers.migration.machines.moves import FALLBACK, SWITCHOVER, MoveDefaults, move_definition
from payments.layers.migration.machines.recovery import finish_definition, recovery_definition
from payments.layers.migration.machines.targets import Fence, Targets, WriterTargets
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.settings import MigrationSettings

#: The dormant condition of the write-pause rule: a header no client sends.
DORMANT = (
    {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "X-Payments-Write-Pause", "Values": ["dormant-never-sent"]},
    },
)
ONPREM_CIDRS = ("10.200.0.0/16",)
VPC_CIDR = "10.20.0.0/16"
DB_PORT = 3306
ONPREM_FENCE_RULE, AURORA_FENCE_RULE = 50, 70


def writer_definitions(
    t: Targets, w: WriterTargets, settings: MigrationSettings, task_definition: str | None = None
) -> dict[str, dict[str, Any]]:
    """Every machine's definition by role, as the migration layer builds them."""
    defaults = MoveDefaults(settings.switchover_hold_seconds, settings.poll_seconds, settings.pause)
    return {
        "cutover": cutover_definition(t, settings.cutover_defaults(task_definition)),
        "rollback": rollback_definition(t),
        "switchover": move_definition(t, w, SWITCHOVER, defaults),
        "fallback": move_definition(t, w, FALLBACK, defaults),
        "finish": finish_definition(t, w),
        "writer-recovery": recovery_definition(t, w),
    }


def writer_targets(
    names: MigrationNames,
    *,
    nacl_id: str,
    zone_id: str,
    pause_rule_arn: str,
    forward_task_arn: str,
    reverse_task_arn: str,
    aurora_endpoint: str = "payments-dev.cluster-abc.us-east-1.rds.amazonaws.com",
    latency_alarm: str | None = None,
) -> WriterTargets:
    suffix = names.suffix
    return WriterTargets(
        nacl_id=nacl_id,
        onprem_fence=Fence(ONPREM_CIDRS, DB_PORT, ONPREM_FENCE_RULE),
        aurora_fence=Fence((VPC_CIDR,), DB_PORT, AURORA_FENCE_RULE),
        zone_id=zone_id,
        indirection_name=f"db.{suffix}.payments.internal",
        onprem_name=f"onprem-db.{suffix}.payments.internal",
        aurora_endpoint=aurora_endpoint,
        pause_rule_arn=pause_rule_arn,
        dormant_conditions=DORMANT,
        forward_task_arn=forward_task_arn,
        reverse_task_arn=reverse_task_arn,
        writer_run_parameter_name=names.writer_run_parameter,
        forward_latency_alarm_name=latency_alarm,
    )


@dataclasses.dataclass
class WriterStandIns:
    """The writer's stand-ins in one emulator session: read and reset them between executions."""

    session: emulator.Session
    targets: WriterTargets

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def writer(self) -> str:
        """The CNAME's value."""
        records = self.client("route53").list_resource_record_sets(
            HostedZoneId=self.targets.zone_id,
            StartRecordName=self.targets.indirection_name,
            StartRecordType="CNAME",
            MaxItems="1",
        )["ResourceRecordSets"]
        return str(records[0]["ResourceRecords"][0]["Value"])

    def paused(self) -> bool:
        rule = self.client("elbv2").describe_rules(RuleArns=[self.targets.pause_rule_arn])["Rules"][0]
        return any(c["Field"] == "http-request-method" for c in rule["Conditions"])

    def fence(self) -> set[int]:
        acl = self.client("ec2").describe_network_acls(NetworkAclIds=[self.targets.nacl_id])["NetworkAcls"][0]
        return {e["RuleNumber"] for e in acl["Entries"] if e["Egress"] and e["RuleAction"] == "deny"} - {32767}

    def status(self, task_arn: str) -> str:
        from moto.dms.models import dms_backends

        return str(dms_backends[emulator.ACCOUNT_ID][self.session.region].replication_tasks[task_arn].status)

    def set_status(self, task_arn: str, status: str) -> None:
        from moto.dms.models import dms_backends

        dms_backends[emulator.ACCOUNT_ID][self.session.region].replication_tasks[task_arn].status = status

    def reset(self, *, writer: str, paused: bool = False, fence: tuple[int, ...] = ()) -> None:
        """The writer stand-ins as a phase leaves them: `writer` is 'onprem' or 'aurora'."""
        w = self.targets
        self.client("route53").change_resource_record_sets(
            HostedZoneId=w.zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": w.indirection_name,
                            "Type": "CNAME",
                            "TTL": w.ttl_seconds,
                            "ResourceRecords": [{"Value": w.value_of(writer)}],
                        },
                    }
                ]
            },
        )
        conditions = PAUSED if paused else [dict(c) for c in w.dormant_conditions]
        self.client("elbv2").modify_rule(RuleArn=w.pause_rule_arn, Conditions=conditions)
        ec2 = self.client("ec2")
        for rule in self.fence() - set(fence):
            ec2.delete_network_acl_entry(NetworkAclId=w.nacl_id, RuleNumber=rule, Egress=True)
        for rule in set(fence) - self.fence():
            f = w.onprem_fence if rule in dict(w.onprem_fence.entries()) else w.aurora_fence
            ec2.create_network_acl_entry(
                NetworkAclId=w.nacl_id,
                RuleNumber=rule,
                Protocol="6",
                RuleAction="deny",
                Egress=True,
                CidrBlock=dict(f.entries())[rule],
                PortRange={"From": f.port, "To": f.port},
            )
        self.set_status(w.forward_task_arn, "running" if writer == "onprem" else "stopped")
        self.set_status(w.reverse_task_arn, "running" if writer == "aurora" else "ready")
        self.session.dms.reset()


PAUSED = [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PUT", "PATCH", "DELETE"]}}]


def create_writer_standins(
    session: emulator.Session, names: MigrationNames, listener_arn: str, forward_task_arn: str
) -> WriterStandIns:
    """The app NACL, the private zone and its records, the dormant pause rule, the reverse DMS task."""
    region = session.region
    ec2 = session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [VPC_CIDR]}])["Vpcs"]
    vpc_id = vpc[0]["VpcId"] if vpc else ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    nacl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    route53 = session.client("route53")
    zone = route53.create_hosted_zone(
        Name=f"{names.suffix}.payments.internal",
        CallerReference=f"rehearsal-{names.suffix}",
        HostedZoneConfig={"PrivateZone": True, "Comment": "rehearsal"},
        VPC={"VPCRegion": region, "VPCId": vpc_id},
    )["HostedZone"]["Id"].rsplit("/", 1)[-1]
    rule = session.client("elbv2").create_rule(
        ListenerArn=listener_arn,
        Priority=1,
        Conditions=[dict(c) for c in DORMANT],
        Actions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "503",
                    "ContentType": "application/json",
                    "MessageBody": json.dumps({"error": "write_paused", "retry": True}),
                },
            }
        ],
    )["Rules"][0]["RuleArn"]
    dms = session.client("dms")
    reverse = dms.create_replication_task(
        ReplicationTaskIdentifier=f"dms-reverse-{names.suffix}",
        SourceEndpointArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:endpoint:AURORA",
        TargetEndpointArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:endpoint:ONPREM",
        ReplicationInstanceArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:rep:INSTANCE",
        MigrationType="cdc",
        TableMappings=json.dumps({"rules": []}),
    )["ReplicationTask"]["ReplicationTaskArn"]
    w = writer_targets(
        names,
        nacl_id=nacl,
        zone_id=zone,
        pause_rule_arn=rule,
        forward_task_arn=forward_task_arn,
        reverse_task_arn=reverse,
    )
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": w.onprem_name,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "10.200.0.20"}],
                    },
                }
            ]
        },
    )
    standins = WriterStandIns(session, w)
    standins.reset(writer="onprem")
    return standins
