"""The lab's adapter: each AWS action the machines call is mirrored onto the lab through the one table, after moto
accepts a write and before moto answers a read; anything else passes through untouched.

The calls are the parameters the machines send (boto request shape), replayed against moto in an emulator session,
with a recording stand-in for the lab (the real lab is exercised by tests/test_lab_scenarios.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from payments.cutover import emulator
from payments.cutover.emulator import lab_bridge
from payments.cutover.emulator.lab_bridge import LabBridge, Wiring

ONPREM_RECORD = "onprem-db.dev.payments.internal"
AURORA = "aurora-dev.cluster-abc.us-east-1.rds.amazonaws.com"


@dataclasses.dataclass
class Status:
    state: str = "stopped"
    latency_seconds: float = 0.0
    incoming_changes: int = 0
    error: str | None = None
    captured: int = 0


class RecordingLab:
    """What the bridge asks of the lab, recorded; its readings set by the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.status = {"forward": Status(), "reverse": Status()}
        self.fences = {"onprem": False, "aws": True}
        self.alarming: set[str] = set()
        self.health = {"legacy-1": True, "blue-1": True, "blue-2": True}

    def set_weights(self, weights: Mapping[str, int]) -> None:
        self.calls.append(("set_weights", dict(weights)))

    def set_write_pause(self, on: bool) -> None:
        self.calls.append(("set_write_pause", on))

    def replication_start(self, direction: str, from_switch_point: bool = False) -> None:
        self.calls.append(("replication_start", (direction, from_switch_point)))
        self.status[direction].state = "running"

    def replication_stop(self, direction: str) -> None:
        self.calls.append(("replication_stop", direction))
        self.status[direction].state = "stopped"

    def replication_status(self, direction: str) -> Status:
        return self.status[direction]

    def set_indirection(self, target: str) -> None:
        self.calls.append(("set_indirection", target))

    def set_fence(self, database: str, blocked: bool) -> None:
        self.calls.append(("set_fence", (database, blocked)))
        self.fences[database] = blocked

    def fence_state(self) -> dict[str, bool]:
        return dict(self.fences)

    def gate_alarm(self, pool: str, threshold: float) -> bool:
        return pool in self.alarming

    def instance_health(self) -> dict[str, bool]:
        return dict(self.health)


@dataclasses.dataclass
class Rig:
    session: emulator.Session
    bridge: LabBridge
    lab: RecordingLab
    wiring: Wiring

    def call(self, service: str, action: str, params: dict[str, Any]) -> Any:
        """The call as a Task makes it: through the bridge, answered by moto."""
        client = self.session.client(service)
        method = getattr(client, "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_"))
        answer: list[Any] = []
        self.bridge.call(service, action, params, lambda: answer.append(method(**params)))
        return answer[0]

    def lab_calls(self) -> list[tuple[str, Any]]:
        calls, self.lab.calls = self.lab.calls, []
        return calls


def _standins(session: emulator.Session) -> Wiring:
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
        "Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name="alb-lab", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {}
    for pool in ("legacy", "blue", "green"):
        groups[pool] = elbv2.create_target_group(Name=f"tg-{pool}", Protocol="HTTP", Port=8080, VpcId=vpc,
                                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=groups["blue"], Targets=[{"Id": "10.20.10.10"}, {"Id": "10.20.11.10"}])
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": groups["legacy"], "Weight": 100}, {"TargetGroupArn": groups["blue"], "Weight": 0}]}}
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=443,
                                     DefaultActions=[forward])["Listeners"][0]["ListenerArn"]
    rule = elbv2.create_rule(ListenerArn=listener, Priority=1, Conditions=[_methods("POST", "PUT", "PATCH", "DELETE")],
                             Actions=[forward])["Rules"][0]["RuleArn"]
    dms = session.client("dms")
    tasks = {}
    for direction in ("forward", "reverse"):
        created = dms.create_replication_task(
            ReplicationTaskIdentifier=f"{direction}-dev",
            SourceEndpointArn="arn:aws:dms:us-east-1:123456789012:endpoint:S",
            TargetEndpointArn="arn:aws:dms:us-east-1:123456789012:endpoint:T",
            ReplicationInstanceArn="arn:aws:dms:us-east-1:123456789012:rep:I",
            MigrationType="full-load-and-cdc" if direction == "forward" else "cdc", TableMappings='{"rules": []}',
        )["ReplicationTask"]["ReplicationTaskArn"]
        emulator.pin_dms_task(created, created)
        tasks[created] = direction
    session.client("route53").create_hosted_zone(
        Name="dev.payments.internal", CallerReference=uuid.uuid4().hex,
        HostedZoneConfig={"PrivateZone": True, "Comment": "lab"}, VPC={"VPCRegion": "us-east-1", "VPCId": vpc})
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True,
                                 CidrBlock="0.0.0.0/0")
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=60, Protocol="6", RuleAction="deny", Egress=True,
                                 CidrBlock="10.20.30.0/24", PortRange={"From": 3306, "To": 3306})
    cloudwatch = session.client("cloudwatch")
    members = ("tg-blue-5xx-dev", "tg-blue-unhealthy-dev", "db-cpu-high-dev")
    for name in ("cutover-gate-dev", *members, "dms-latency-dev"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="Lab", MetricName=name, Statistic="Maximum", Period=60,
                                    EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="start")
    return Wiring(
        listener_arn=listener, target_groups=groups, gate_alarm="cutover-gate-dev", gate_members=members,
        write_pause_rule_arn=rule, replication_tasks=tasks, dms_latency_alarm="dms-latency-dev",
        writer_record="db.dev.payments.internal", record_targets={ONPREM_RECORD: "onprem", AURORA: "aws"},
        network_acl_id=acl, database_networks={"onprem": ["10.100.5.0/24"], "aws": ["10.20.30.0/24"]})


def _methods(*values: str) -> dict[str, Any]:
    return {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": list(values)}}


@pytest.fixture
def rig() -> Iterator[Rig]:
    with emulator.emulator() as session:
        lab = RecordingLab()
        wiring = _standins(session)
        yield Rig(session, LabBridge(session, lab, wiring), lab, wiring)


def _task(rig: Rig, direction: str) -> str:
    return next(arn for arn, d in rig.wiring.replication_tasks.items() if d == direction)


def test_modify_listener_sets_the_lab_weights_after_moto_accepted_it(rig: Rig) -> None:
    groups = rig.wiring.target_groups
    rig.call("elbv2", "ModifyListener", {"ListenerArn": rig.wiring.listener_arn, "DefaultActions": [
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": groups["legacy"], "Weight": 95}, {"TargetGroupArn": groups["blue"], "Weight": 5},
            {"TargetGroupArn": groups["green"], "Weight": 0}], "TargetGroupStickinessConfig": {"Enabled": False}}}]})
    assert rig.lab_calls() == [("set_weights", {"legacy": 95, "blue": 5, "green": 0})]

    with pytest.raises(ClientError):  # moto refuses (no such listener): nothing reaches the lab
        rig.call("elbv2", "ModifyListener", {"ListenerArn": rig.wiring.listener_arn + "x", "DefaultActions": []})
    assert rig.lab_calls() == []


def test_the_write_pause_rule_pauses_and_lifts_from_the_rule_moto_holds(rig: Rig) -> None:
    paused = {"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "503", "ContentType": "application/json",
        "MessageBody": '{"error":"write_paused","retryAfterSeconds":2}'}}
    rule = rig.wiring.write_pause_rule_arn
    rig.call("elbv2", "ModifyRule", {"RuleArn": rule, "Actions": [paused]})
    forward = {"Type": "forward", "TargetGroupArn": rig.wiring.target_groups["blue"]}
    rig.call("elbv2", "ModifyRule", {"RuleArn": rule, "Actions": [forward]})
    assert rig.lab_calls() == [("set_write_pause", True), ("set_write_pause", False)]

    # A pause the lab cannot stand in for (writes other than POST still pass) fails the Task, and says why.
    with pytest.raises(ClientError, match=lab_bridge.MIRROR_ERROR):
        rig.call("elbv2", "ModifyRule", {"RuleArn": rule, "Conditions": [_methods("POST")], "Actions": [paused]})
    assert rig.bridge.errors and "the lab pauses exactly" in rig.bridge.errors[0]


def test_dms_start_stop_and_describe_follow_the_lab_replication(rig: Rig) -> None:
    forward, reverse = _task(rig, "forward"), _task(rig, "reverse")
    described = rig.call("dms", "DescribeReplicationTasks", {"Filters": [
        {"Name": "replication-task-arn", "Values": [forward]}], "WithoutSettings": True})
    assert described["ReplicationTasks"][0]["Status"] == "ready"  # never started

    rig.call("dms", "StartReplicationTask", {"ReplicationTaskArn": forward,
                                             "StartReplicationTaskType": "start-replication"})
    rig.lab.status["forward"].state = "failed"  # the lab's replication broke
    described = rig.call("dms", "DescribeReplicationTasks", {"Filters": [
        {"Name": "replication-task-arn", "Values": [forward]}]})
    assert described["ReplicationTasks"][0]["Status"] == "failed"
    with pytest.raises(ClientError):  # DMS refuses to stop a task that is not running: the lab is not touched
        rig.call("dms", "StopReplicationTask", {"ReplicationTaskArn": forward})
    rig.lab.status["forward"].state = "running"
    rig.call("dms", "StopReplicationTask", {"ReplicationTaskArn": forward})
    rig.call("dms", "StartReplicationTask", {"ReplicationTaskArn": reverse,
                                             "StartReplicationTaskType": "start-replication"})
    rig.call("dms", "StartReplicationTask", {"ReplicationTaskArn": forward,
                                             "StartReplicationTaskType": "resume-processing"})
    rig.call("dms", "StopReplicationTask", {"ReplicationTaskArn": forward})
    rig.call("dms", "StartReplicationTask", {"ReplicationTaskArn": forward, "StartReplicationTaskType":
                                             "resume-processing", "CdcStartTime": "2026-12-02T22:00:00Z"})
    assert rig.lab_calls() == [
        ("replication_start", ("forward", False)),  # full load + CDC: from the start of on-prem's binlog
        ("replication_stop", "forward"),
        ("replication_start", ("reverse", True)),  # a CDC-only task starts from now: the switch point
        ("replication_start", ("forward", False)),  # resumed where it stopped
        ("replication_stop", "forward"),
        ("replication_start", ("forward", True)),  # resumed from a CDC start time: from the fallback point
    ]
    with pytest.raises(ClientError, match="reload"):  # a new full load into a live target has no stand-in
        rig.call("dms", "StartReplicationTask", {"ReplicationTaskArn": forward,
                                                 "StartReplicationTaskType": "reload-target"})


def test_table_statistics_are_answered_by_the_lab_replication(rig: Rig) -> None:
    """moto has no DescribeTableStatistics: the lab answers what the drained check compares."""
    rig.lab.status["forward"] = Status("running", latency_seconds=1.5, incoming_changes=3, captured=40)
    answered: list[dict[str, Any]] = []
    rig.bridge.call("dms", "DescribeTableStatistics", {"ReplicationTaskArn": _task(rig, "forward")},
                    lambda: pytest.fail("moto was asked"), answered.append)
    table = answered[0]["TableStatistics"][0]
    assert (table["Inserts"], table["AppliedInserts"]) == (40, 37)
    rig.lab.status["forward"] = Status("running", captured=40)
    rig.bridge.call("dms", "DescribeTableStatistics", {"ReplicationTaskArn": _task(rig, "forward")},
                    lambda: None, answered.append)
    assert (answered[1]["TableStatistics"][0]["Inserts"], answered[1]["TableStatistics"][0]["AppliedInserts"]) == (
        40, 40), "drained: everything captured is applied"


def test_a_task_the_lab_ran_before_the_bridge_reports_stopped_not_ready(rig: Rig) -> None:
    """The parallel run starts forward replication on the lab directly: once stopped it is 'stopped' (a task that
    ran), which a machine waiting for the stop must see."""
    rig.lab.status["forward"].state = "running"
    bridge = LabBridge(rig.session, rig.lab, rig.wiring)
    rig.lab.status["forward"].state = "stopped"
    forward = _task(rig, "forward")
    answer: list[Any] = []
    bridge.call("dms", "DescribeReplicationTasks", {"Filters": [{"Name": "replication-task-arn", "Values": [
        forward]}]}, lambda: answer.append(rig.session.client("dms").describe_replication_tasks(Filters=[
            {"Name": "replication-task-arn", "Values": [forward]}])))
    assert answer[0]["ReplicationTasks"][0]["Status"] == "stopped"


def test_cdc_metrics_are_fed_from_the_lab_before_moto_answers(rig: Rig) -> None:
    rig.lab.status["forward"] = Status("running", latency_seconds=7.0, incoming_changes=42)
    now = rig.session.clock.now()
    queries = [{"Id": f"m{i}", "MetricStat": {"Metric": {"Namespace": "AWS/DMS", "MetricName": name, "Dimensions": [
        {"Name": "ReplicationInstanceIdentifier", "Value": "dms-dev"},
        {"Name": "ReplicationTaskIdentifier", "Value": "forward-dev"}]}, "Period": 60, "Stat": "Maximum"}}
        for i, name in enumerate(("CDCLatencyTarget", "CDCIncomingChanges"))]
    got = rig.call("cloudwatch", "GetMetricData", {"MetricDataQueries": queries,
                                                   "StartTime": now - datetime.timedelta(minutes=5),
                                                   "EndTime": now + datetime.timedelta(minutes=1)})
    assert [r["Values"][:1] for r in got["MetricDataResults"]] == [[7.0], [42.0]]


def test_the_writer_record_flip_moves_the_lab_indirection(rig: Rig) -> None:
    zone = rig.session.client("route53").list_hosted_zones()["HostedZones"][0]["Id"]

    def upsert(value: str, name: str = "db.dev.payments.internal.") -> None:
        rig.call("route53", "ChangeResourceRecordSets", {"HostedZoneId": zone, "ChangeBatch": {"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": 5,
                                                       "ResourceRecords": [{"Value": value}]}}]}})

    upsert(AURORA)
    upsert(ONPREM_RECORD + ".")
    upsert("10.0.0.1", name="other.dev.payments.internal.")  # not the writer record: the lab is not touched
    assert rig.lab_calls() == [("set_indirection", "aws"), ("set_indirection", "onprem")]
    with pytest.raises(ClientError, match=lab_bridge.MIRROR_ERROR):
        upsert("somewhere.else.internal")


def test_nacl_entries_fence_and_open_the_lab_databases(rig: Rig) -> None:
    acl = rig.wiring.network_acl_id
    deny_onprem = {"NetworkAclId": acl, "RuleNumber": 50, "Protocol": "6", "RuleAction": "deny", "Egress": True,
                   "CidrBlock": "10.100.5.0/24", "PortRange": {"From": 3306, "To": 3306}}
    rig.call("ec2", "CreateNetworkAclEntry", deny_onprem)  # on-prem fenced (aws still fenced by rule 60)
    rig.call("ec2", "DeleteNetworkAclEntry", {"NetworkAclId": acl, "RuleNumber": 60, "Egress": True})  # aws opened
    rig.call("ec2", "ReplaceNetworkAclEntry", {**deny_onprem, "CidrBlock": "10.20.30.0/24"})  # 50 now fences aws
    assert rig.lab_calls() == [("set_fence", ("onprem", True)), ("set_fence", ("aws", False)),
                               ("set_fence", ("onprem", False)), ("set_fence", ("aws", True))]
    # A deny on another port fences nothing: on-prem's MySQL listens on 3307 here.
    rig.bridge.wiring = dataclasses.replace(rig.wiring, database_ports={"onprem": 3307})
    rig.call("ec2", "CreateNetworkAclEntry", {**deny_onprem, "RuleNumber": 51})
    assert rig.lab_calls() == []
    rig.call("ec2", "CreateNetworkAclEntry", {**deny_onprem, "RuleNumber": 52, "PortRange": {"From": 3307, "To": 3307}})
    assert rig.lab_calls() == [("set_fence", ("onprem", True))]


def test_gate_and_members_and_the_dms_latency_alarm_are_fed_before_a_read(rig: Rig) -> None:
    def states(*names: str) -> dict[str, str]:
        got = rig.call("cloudwatch", "DescribeAlarms", {"AlarmNames": list(names),
                                                        "AlarmTypes": ["CompositeAlarm", "MetricAlarm"]})
        return {a["AlarmName"]: a["StateValue"] for a in got["MetricAlarms"]}

    assert states("cutover-gate-dev") == {"cutover-gate-dev": "OK"}
    rig.lab.alarming.add("blue")
    assert states("cutover-gate-dev", "tg-blue-5xx-dev", "db-cpu-high-dev") == {
        "cutover-gate-dev": "ALARM", "tg-blue-5xx-dev": "ALARM", "db-cpu-high-dev": "OK"}
    rig.lab.alarming.clear()
    rig.lab.health["blue-2"] = False  # one blue instance down: the unhealthy-hosts member alarms
    assert states("cutover-gate-dev", "tg-blue-unhealthy-dev") == {
        "cutover-gate-dev": "ALARM", "tg-blue-unhealthy-dev": "ALARM"}
    rig.lab.status["forward"] = Status("running", latency_seconds=30.0)  # above the alarm's threshold (10)
    assert states("dms-latency-dev") == {"dms-latency-dev": "ALARM"}
    rig.lab.status["forward"] = Status("running", latency_seconds=0.0)
    assert states("dms-latency-dev") == {"dms-latency-dev": "OK"}


def test_target_health_reports_each_lab_instance(rig: Rig) -> None:
    rig.lab.health["blue-2"] = False
    got = rig.call("elbv2", "DescribeTargetHealth", {"TargetGroupArn": rig.wiring.target_groups["blue"]})
    assert [(t["Target"]["Id"], t["TargetHealth"]["State"]) for t in got["TargetHealthDescriptions"]] == [
        ("10.20.10.10", "healthy"), ("10.20.11.10", "unhealthy")]


def test_unknown_actions_pass_through_untouched(rig: Rig) -> None:
    ssm = {"Name": "/payments/dev/migration/phase", "Value": "app-cutover", "Type": "String"}
    rig.call("ssm", "PutParameter", ssm)
    assert rig.session.client("ssm").get_parameter(Name=ssm["Name"])["Parameter"]["Value"] == "app-cutover"
    assert rig.lab_calls() == [] and rig.bridge.mirrored == []
    assert ("ssm", "PutParameter") not in lab_bridge.TABLE


def test_a_state_machine_task_is_mirrored_through_the_patch(rig: Rig) -> None:
    groups = rig.wiring.target_groups
    definition = {"StartAt": "SetWeights", "States": {"SetWeights": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener", "End": True,
        "Parameters": {"ListenerArn": rig.wiring.listener_arn, "DefaultActions": [{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": groups["legacy"], "Weight": 50},
                             {"TargetGroupArn": groups["blue"], "Weight": 50}]}}]}}}}
    sfn = rig.session.client("stepfunctions")
    with contextlib.ExitStack() as stack:
        for patch in rig.bridge.patches():
            stack.enter_context(patch)
        machine = sfn.create_state_machine(name="m", definition=json.dumps(definition),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="e", input="{}")["executionArn"]
        rig.session.wait(arn)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert rig.lab_calls() == [("set_weights", {"legacy": 50, "blue": 50})]
