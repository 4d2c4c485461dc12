"""The lab's adapter: the state machines' AWS calls, mirrored onto the migration lab (:mod:`payments.lab`).

The machines run in the emulator exactly as planned; nothing in a definition changes. This module only watches
the AWS SDK calls their Task states make, through ONE table keyed by API action (:data:`TABLE`):

* a **write** (weights, the write-pause rule, a replication task started or stopped, the writer record, a NACL
  entry) is mirrored onto the lab *after* moto has accepted it, so a call AWS would refuse changes nothing;
* a **read** (alarm states, target health, a replication task's status, CDC metrics) is fed from the lab into
  moto *before* moto answers, so the machine decides on what the lab's payments, servers and replication show;
* any other action passes through to moto untouched.

What in the planned AWS stands for what in the lab is one :class:`Wiring`. When mirroring a write fails (the lab
refused it, or the call asks for something the lab cannot stand in for), the Task fails with ``LabMirrorFailed``
(the machine's own Catch runs, as for any AWS error) and :attr:`LabBridge.errors` says why: a scenario with such
an error fails.

The gate's member alarms are fed on a timer too (:meth:`LabBridge.feed_alarms`, as CloudWatch evaluates without
being asked), so the safety net's rule on the gate alarm sees the lab's errors while no machine is reading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from payments.cutover.emulator import adapter

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: DMS CloudWatch metrics the lab's replication figures stand for.
DMS_METRICS = {"CDCLatencyTarget": "latency", "CDCLatencySource": "latency", "CDCIncomingChanges": "incoming"}
MIRROR_ERROR = "LabMirrorFailed"


class LabLike(Protocol):
    """The operations of :class:`payments.lab.lab.Lab` the bridge mirrors onto (a recording fake in the tests)."""

    def set_weights(self, weights: Mapping[str, int]) -> None: ...
    def set_write_pause(self, on: bool) -> None: ...
    def replication_start(self, direction: str, from_switch_point: bool = False) -> None: ...
    def replication_stop(self, direction: str) -> None: ...
    def replication_status(self, direction: str) -> Any: ...
    def set_indirection(self, target: Any) -> None: ...
    def set_fence(self, database: Any, blocked: bool) -> None: ...
    def fence_state(self) -> dict[str, bool]: ...
    def writer(self) -> str: ...
    @property
    def write_paused(self) -> bool: ...
    def gate_alarm(self, pool: str, threshold: float) -> bool: ...
    def instance_health(self) -> dict[str, bool]: ...


@dataclasses.dataclass(frozen=True)
class Wiring:
    """What in the planned AWS stands for what in the lab (ARNs, names and addresses from the plan)."""

    listener_arn: str
    target_groups: Mapping[str, str]  #: pool -> target group ARN
    gate_alarm: str
    gate_members: tuple[str, ...] = ()
    gate_threshold: float = 0.1  #: the lab's gate rule: error rate over its window (see Lab.gate_alarm)
    write_pause_rule_arn: str | None = None
    #: DMS task ARN -> lab direction (forward: on-prem -> aws; reverse: aws -> on-prem)
    replication_tasks: Mapping[str, str] = dataclasses.field(default_factory=dict)
    dms_latency_alarm: str | None = None
    writer_record: str | None = None  #: db.<suffix>.payments.internal
    #: what the writer record may point at -> the lab database ("onprem-db.<suffix>..." -> onprem, Aurora -> aws)
    record_targets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    network_acl_id: str | None = None  #: the app subnets' NACL (the fence)
    #: lab database -> the networks it lives in (on-prem's database CIDR, Aurora's subnets)
    database_networks: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    database_port: int = 3306
    #: lab database -> its port, where it differs from `database_port` (on-prem's MySQL, Aurora's)
    database_ports: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def pool_of(self, target_group_arn: str) -> str | None:
        return next((pool for pool, arn in self.target_groups.items() if arn == target_group_arn), None)

    def direction_of(self, task_arn: str) -> str | None:
        return self.replication_tasks.get(task_arn)


@dataclasses.dataclass(frozen=True)
class Call:
    """One SDK call of a Task state, as moto receives it (boto request shape)."""

    service: str  #: boto3 client name (elbv2, dms, route53, ec2, cloudwatch, ...)
    action: str  #: operation name (ModifyListener)
    params: Mapping[str, Any]


class MirrorError(Exception):
    """The lab cannot stand in for this call (or refused it)."""


Handler = Callable[["LabBridge", Call], None]


@dataclasses.dataclass(frozen=True)
class Mirror:
    before: Handler | None = None  #: feed moto from the lab before moto answers (reads)
    after: Handler | None = None  #: mirror onto the lab once moto accepted (writes)
    #: a read moto cannot answer at all: the lab answers it (the response the Task receives)
    answer: Callable[[LabBridge, Call], dict[str, Any]] | None = None


# --- writes ------------------------------------------------------------------------------------------------


def _weights(bridge: LabBridge, call: Call) -> None:
    """ModifyListener -> Lab.set_weights: every pool's weight at once (pools left out get 0)."""
    if call.params.get("ListenerArn") != bridge.wiring.listener_arn:
        return
    weights: dict[str, int] = {}
    for action in call.params.get("DefaultActions") or []:
        if action.get("Type") != "forward":
            raise MirrorError(f"ModifyListener: a {action.get('Type')} default action has no lab stand-in")
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups is None and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        for group in groups or []:
            pool = bridge.wiring.pool_of(group["TargetGroupArn"])
            if pool is None:
                raise MirrorError(f"ModifyListener: target group {group['TargetGroupArn']} is no lab pool")
            weights[pool] = int(group.get("Weight", 1))
    if weights:
        bridge.lab.set_weights(weights)


def pause_rule(rule: Mapping[str, Any]) -> bool:
    """Does this listener rule pause writes the way the design defines it (a fixed 503 for write methods)?"""
    fixed = [a for a in rule.get("Actions") or [] if a.get("Type") == "fixed-response"]
    if not any(str((a.get("FixedResponseConfig") or {}).get("StatusCode")) == "503" for a in fixed):
        return False
    methods: set[str] = set()
    others = []
    for condition in rule.get("Conditions") or []:
        if condition.get("Field") == "http-request-method":
            values = (condition.get("HttpRequestMethodConfig") or {}).get("Values") or condition.get("Values") or []
            methods |= {str(v).upper() for v in values}
        else:
            others.append(condition.get("Field"))
    if not methods & WRITE_METHODS:
        return False
    if others or methods != WRITE_METHODS:
        raise MirrorError(f"the write-pause rule answers {sorted(methods)} with conditions {others or 'none'} else; "
                          f"the lab pauses exactly {sorted(WRITE_METHODS)}")
    return True


def _write_pause(bridge: LabBridge, call: Call) -> None:
    """ModifyRule (or a rule created or deleted) on the listener -> Lab.set_write_pause, from the rules moto now
    holds: writes are paused while a rule answers POST/PUT/PATCH/DELETE with a fixed 503."""
    if call.action == "ModifyRule" and call.params.get("RuleArn") != bridge.wiring.write_pause_rule_arn:
        return
    if call.action == "CreateRule" and call.params.get("ListenerArn") != bridge.wiring.listener_arn:
        return
    rules = bridge.client("elbv2").describe_rules(ListenerArn=bridge.wiring.listener_arn)["Rules"]
    bridge.lab.set_write_pause(any(pause_rule(r) for r in rules if not r.get("IsDefault")))


def _task_direction(bridge: LabBridge, call: Call) -> str | None:
    return bridge.wiring.direction_of(str(call.params.get("ReplicationTaskArn", "")))


def _replication_start(bridge: LabBridge, call: Call) -> None:
    """StartReplicationTask -> Lab.replication_start. A CDC start position or time (any start type), or the first
    start of a CDC-only (reverse) task, starts from now: the switch point, inside the pause, where the lab reads
    the source's position; resume-processing without one resumes where the task stopped; the forward task's first
    start is the full load + CDC (the lab: from the start of on-prem's binlog)."""
    direction = _task_direction(bridge, call)
    if direction is None:
        return
    kind = call.params.get("StartReplicationTaskType", "start-replication")
    from_now = bool(call.params.get("CdcStartPosition") or call.params.get("CdcStartTime"))
    if kind in ("start-replication", "reload-target") and not from_now:
        if direction == "reverse":
            from_now = True
        elif bridge.started.get(direction):
            raise MirrorError(f"StartReplicationTask {kind} of the forward task again: a reload (a new full load) "
                              "has no lab stand-in; resume it, or start it with a CDC start position")
    bridge.lab.replication_start(direction, from_switch_point=from_now)
    bridge.started[direction] = True


def _replication_stop(bridge: LabBridge, call: Call) -> None:
    direction = _task_direction(bridge, call)
    if direction is not None:
        bridge.lab.replication_stop(direction)


def _indirection(bridge: LabBridge, call: Call) -> None:
    """ChangeResourceRecordSets -> Lab.set_indirection, for the writer record (UPSERT or CREATE)."""
    record = bridge.wiring.writer_record
    if record is None:
        return
    for change in (call.params.get("ChangeBatch") or {}).get("Changes") or []:
        rrset = change.get("ResourceRecordSet") or {}
        if _dns(rrset.get("Name", "")) != _dns(record):
            continue
        if change.get("Action") == "DELETE":
            raise MirrorError(f"the writer record {record} was deleted: the lab's app would resolve nothing")
        values = [r.get("Value", "") for r in rrset.get("ResourceRecords") or []]
        if rrset.get("AliasTarget"):
            values = [rrset["AliasTarget"].get("DNSName", "")]
        targets = {_dns(k): v for k, v in bridge.wiring.record_targets.items()}
        databases = {targets.get(_dns(v)) for v in values}
        if len(databases) != 1 or None in databases:
            raise MirrorError(f"the writer record {record} -> {values}: the lab knows only "
                              f"{', '.join(bridge.wiring.record_targets)}")
        bridge.lab.set_indirection(databases.pop())


def _dns(name: str) -> str:
    return name.strip().rstrip(".").lower()


def fenced(entries: Sequence[Mapping[str, Any]], address: str, port: int) -> bool:
    """Is TCP egress from the app subnets to `address`:`port` denied by these NACL entries? The lowest-numbered
    matching entry decides; none matching is a deny (the NACL's ``*`` rule), as on AWS."""
    ip = ipaddress.ip_address(address)
    for entry in sorted((e for e in entries if e.get("Egress")), key=lambda e: int(e["RuleNumber"])):
        if int(entry["RuleNumber"]) == 32767:
            continue  # the default '*' entry, as moto lists it
        if not entry.get("CidrBlock") or ip not in ipaddress.ip_network(entry["CidrBlock"], strict=False):
            continue
        protocol = str(entry.get("Protocol", "-1"))
        if protocol not in ("-1", "6", "tcp"):
            continue
        ports = entry.get("PortRange") or {}
        if protocol != "-1" and ports and not int(ports.get("From", 0)) <= port <= int(ports.get("To", 65535)):
            continue
        return str(entry.get("RuleAction")) == "deny"
    return True


def _fences(bridge: LabBridge, call: Call) -> None:
    """Create/Replace/DeleteNetworkAclEntry on the app NACL -> Lab.set_fence, from the entries moto now holds:
    a database is fenced when egress to every one of its networks on the database port is denied."""
    if call.params.get("NetworkAclId") != bridge.wiring.network_acl_id:
        return
    now = bridge.lab.fence_state()
    for database, blocked in bridge.moto_fences().items():
        if now.get(database) != blocked:
            bridge.lab.set_fence(database, blocked)


# --- reads -------------------------------------------------------------------------------------------------


def _alarms(bridge: LabBridge, call: Call) -> None:
    """DescribeAlarms naming the gate, its members or the DMS latency alarm -> their states fed from the lab."""
    names = set(call.params.get("AlarmNames") or [])
    watched = {bridge.wiring.gate_alarm, *bridge.wiring.gate_members}
    if bridge.wiring.dms_latency_alarm:
        watched.add(bridge.wiring.dms_latency_alarm)
    if names & watched:
        bridge.feed_alarms()


def _target_health(bridge: LabBridge, call: Call) -> None:
    """DescribeTargetHealth -> each registered target reports its lab instance's health checks (targets in
    registration order stand for the pool's instances ``<pool>-1``, ``<pool>-2``...; a target with no instance
    behind it fails)."""
    arn = str(call.params.get("TargetGroupArn", ""))
    pool = bridge.wiring.pool_of(arn)
    if pool is None:
        return
    health = bridge.lab.instance_health()
    ids = bridge.target_ids(arn)
    failing = {target for n, target in enumerate(ids, start=1) if not health.get(f"{pool}-{n}", False)}
    bridge.session.elbv2.set_unhealthy_targets(arn, failing)


def state_of(status: Any) -> str:
    """A lab replication status's state as DMS words it: running, stopped or failed."""
    return str(getattr(status.state, "value", status.state))


def _dms_status(bridge: LabBridge, call: Call) -> None:
    """Any call on a mirrored DMS task -> moto's task status first fed from the lab (running / stopped / failed;
    never started: ready), so moto refuses what DMS would (stopping a task that is not running)."""
    from moto.dms.models import dms_backends

    from payments.cutover.emulator.session import ACCOUNT_ID

    tasks = dms_backends[ACCOUNT_ID][bridge.session.region].replication_tasks
    for arn, direction in bridge.wiring.replication_tasks.items():
        if arn not in tasks:
            continue
        status = bridge.lab.replication_status(direction)
        state = state_of(status)
        tasks[arn].status = "ready" if state == "stopped" and not bridge.started.get(direction) else state


def _dms_metrics(bridge: LabBridge, call: Call) -> None:
    """GetMetricData / GetMetricStatistics on a DMS CDC metric of a mirrored task -> a data point from the lab's
    replication figures (latency seconds, changes not yet applied) put just before moto answers."""
    queries = call.params.get("MetricDataQueries")
    metrics = [q["MetricStat"]["Metric"] for q in queries or [] if q.get("MetricStat")]
    if queries is None:
        metrics = [{k: call.params.get(k) for k in ("Namespace", "MetricName", "Dimensions")}]
    by_id = {arn.rsplit(":", 1)[-1]: d for arn, d in bridge.wiring.replication_tasks.items()}
    for metric in metrics:
        figure = DMS_METRICS.get(str(metric.get("MetricName")))
        if metric.get("Namespace") != "AWS/DMS" or figure is None:
            continue
        dims = metric.get("Dimensions") or []
        task = next((str(d["Value"]) for d in dims if d.get("Name") == "ReplicationTaskIdentifier"), "")
        direction = by_id.get(task) or bridge.wiring.direction_of(task)
        if direction is None:
            continue
        status = bridge.lab.replication_status(direction)
        value = float(status.latency_seconds if figure == "latency" else status.incoming_changes)
        bridge.client("cloudwatch").put_metric_data(
            Namespace="AWS/DMS",
            MetricData=[{"MetricName": metric["MetricName"], "Dimensions": dims, "Value": value,
                         "Timestamp": bridge.session.clock.now() - datetime.timedelta(seconds=1)}])


def _table_statistics(bridge: LabBridge, call: Call) -> dict[str, Any]:
    """DescribeTableStatistics (moto has none) -> the lab's replication of the payments table: changes captured
    (transactions the source logged since the task's start point) and applied (captured minus those waiting)."""
    arn = str(call.params.get("ReplicationTaskArn", ""))
    direction = bridge.wiring.direction_of(arn)
    if direction is None:
        raise MirrorError(f"DescribeTableStatistics of {arn}: no lab replication stands for that task")
    status = bridge.lab.replication_status(direction)
    captured = int(getattr(status, "captured", 0))
    applied = max(0, captured - int(status.incoming_changes))
    failed = state_of(status) == "failed"
    # No ValidationState: the lab has no DMS validation (its checker compares every row at the end instead).
    table = {"SchemaName": "payments", "TableName": "payments", "Inserts": captured, "Deletes": 0, "Updates": 0,
             "Ddls": 0, "AppliedInserts": applied, "AppliedDeletes": 0, "AppliedUpdates": 0, "AppliedDdls": 0,
             "TableState": "Table error" if failed else "Table completed"}
    return {"ReplicationTaskArn": arn, "TableStatistics": [table]}


#: The one table: (boto3 service, API action) -> how the call is mirrored. Anything else passes through.
TABLE: dict[tuple[str, str], Mirror] = {
    ("elbv2", "ModifyListener"): Mirror(after=_weights),
    ("elbv2", "ModifyRule"): Mirror(after=_write_pause),
    ("elbv2", "CreateRule"): Mirror(after=_write_pause),
    ("elbv2", "DeleteRule"): Mirror(after=_write_pause),
    ("elbv2", "DescribeTargetHealth"): Mirror(before=_target_health),
    ("dms", "StartReplicationTask"): Mirror(before=_dms_status, after=_replication_start),
    ("dms", "StopReplicationTask"): Mirror(before=_dms_status, after=_replication_stop),
    ("dms", "DescribeReplicationTasks"): Mirror(before=_dms_status),
    ("dms", "DescribeTableStatistics"): Mirror(answer=_table_statistics),
    ("route53", "ChangeResourceRecordSets"): Mirror(after=_indirection),
    ("ec2", "CreateNetworkAclEntry"): Mirror(after=_fences),
    ("ec2", "ReplaceNetworkAclEntry"): Mirror(after=_fences),
    ("ec2", "DeleteNetworkAclEntry"): Mirror(after=_fences),
    ("cloudwatch", "DescribeAlarms"): Mirror(before=_alarms),
    ("cloudwatch", "GetMetricData"): Mirror(before=_dms_metrics),
    ("cloudwatch", "GetMetricStatistics"): Mirror(before=_dms_metrics),
}

_MEMBER = re.compile(r"^tg-(?P<pool>[a-z]+)-(?P<kind>5xx|unhealthy)-")


class LabBridge:
    """Mirrors the calls of one emulator session's Task states onto one lab (see the module docstring)."""

    def __init__(self, session: Any, lab: LabLike, wiring: Wiring) -> None:
        self.session = session
        self.lab = lab
        self.wiring = wiring
        self.mirrored: list[tuple[str, str]] = []  #: (service, action) of every call mirrored, in order
        self.errors: list[str] = []  #: why a mirror failed (the Task failed with LabMirrorFailed)
        #: lab directions that have run (before the bridge, as the parallel run's forward replication, or through
        #: it): DMS reports such a task "stopped" once stopped, never "ready" again
        self.started: dict[str, bool] = {
            d: state_of(lab.replication_status(d)) != "stopped" for d in set(wiring.replication_tasks.values())}
        self._lock = threading.RLock()

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def target_ids(self, target_group_arn: str) -> list[str]:
        from moto.elbv2.models import elbv2_backends

        from payments.cutover.emulator.session import ACCOUNT_ID

        group = elbv2_backends[ACCOUNT_ID][self.session.region].target_groups[target_group_arn]
        return list(group.targets)

    # --- what moto holds ----------------------------------------------------------------------------------

    def moto_fences(self) -> dict[str, bool]:
        """Each wired database: is the app fenced from it by the NACL moto holds?"""
        w = self.wiring
        acl = self.client("ec2").describe_network_acls(NetworkAclIds=[w.network_acl_id])["NetworkAcls"][0]
        out = {}
        for database, networks in w.database_networks.items():
            hosts = [str(next(ipaddress.ip_network(n, strict=False).hosts())) for n in networks]
            port = w.database_ports.get(database, w.database_port)
            out[database] = all(fenced(acl.get("Entries") or [], host, port) for host in hosts)
        return out

    def moto_writer(self) -> str | None:
        """The database the writer record names in moto (None: no such record)."""
        route53, record = self.client("route53"), _dns(self.wiring.writer_record or "")
        targets = {_dns(k): v for k, v in self.wiring.record_targets.items()}
        for zone in route53.list_hosted_zones()["HostedZones"]:
            for rrset in route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
                if _dns(rrset["Name"]) == record:
                    values = [r["Value"] for r in rrset.get("ResourceRecords") or []]
                    return targets.get(_dns(values[0])) if values else None
        return None

    def check_agrees(self) -> None:
        """Moto's pause rule, writer record and NACL say what the lab does (before the machines run): a machine
        deciding on moto's state then acts on the lab's."""
        w, lab = self.wiring, self.lab
        moto: dict[str, Any] = {}
        ours: dict[str, Any] = {}
        if w.write_pause_rule_arn:
            rules = self.client("elbv2").describe_rules(ListenerArn=w.listener_arn)["Rules"]
            moto["write paused"] = any(pause_rule(r) for r in rules if not r.get("IsDefault"))
            ours["write paused"] = lab.write_paused
        if w.writer_record:
            moto["writer"], ours["writer"] = self.moto_writer(), lab.writer()
        if w.network_acl_id:
            moto["fences"], ours["fences"] = self.moto_fences(), lab.fence_state()
        if moto != ours:
            raise MirrorError(f"the emulated AWS ({moto}) does not say what the lab does ({ours})")

    # --- alarms ------------------------------------------------------------------------------------------

    def member_state(self, name: str) -> str | None:
        """The state the lab gives a gate member: ``tg-<pool>-5xx-*`` from the pool's error rate,
        ``tg-<pool>-unhealthy-*`` from its instances' health checks; None: not fed (moto keeps its state)."""
        match = _MEMBER.match(name)
        if not match or match["pool"] not in self.wiring.target_groups:
            return None
        pool = match["pool"]
        if match["kind"] == "5xx":
            return "ALARM" if self.lab.gate_alarm(pool, self.wiring.gate_threshold) else "OK"
        health = self.lab.instance_health()
        down = [name for name, up in health.items() if name.startswith(f"{pool}-") and not up]
        return "ALARM" if down else "OK"

    def feed_alarms(self) -> None:
        """Members from the lab, then the gate as their composite (ALARM if any member is), and the DMS latency
        alarm from forward replication (ALARM above the alarm's threshold, or when the task is not running)."""
        with self._lock:
            cloudwatch = self.client("cloudwatch")
            known = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
                AlarmNames=[self.wiring.gate_alarm, *self.wiring.gate_members][:100])["MetricAlarms"]}
            states = {name: a["StateValue"] for name, a in known.items()}
            for name in self.wiring.gate_members:
                state = self.member_state(name)
                if state is not None and name in known:
                    self._set(cloudwatch, name, state, states)
            members = [states.get(n) for n in self.wiring.gate_members]
            if self.wiring.gate_alarm in known:
                self._set(cloudwatch, self.wiring.gate_alarm, "ALARM" if "ALARM" in members else "OK", states)
            latency = self.wiring.dms_latency_alarm
            forward = next((arn for arn, d in self.wiring.replication_tasks.items() if d == "forward"), None)
            if latency and forward:
                alarm = cloudwatch.describe_alarms(AlarmNames=[latency])["MetricAlarms"]
                if alarm:
                    status = self.lab.replication_status("forward")
                    state = state_of(status)
                    behind = state != "running" or status.latency_seconds > float(alarm[0].get("Threshold", 0))
                    self._set(cloudwatch, latency, "ALARM" if behind else "OK", {latency: alarm[0]["StateValue"]})

    @staticmethod
    def _set(cloudwatch: Any, name: str, state: str, states: dict[str, str]) -> None:
        if states.get(name) != state:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"lab: {state}")
            states[name] = state

    # --- the interception --------------------------------------------------------------------------------

    def call(self, service: str, action: str, params: Mapping[str, Any], real: Callable[[], Any],
             answer: Callable[[dict[str, Any]], None] = lambda response: None) -> None:
        """One Task's SDK call: fed, answered by moto (or by the lab, through `answer`), mirrored."""
        mirror = TABLE.get((service, action))
        if mirror is None:
            real()
            return
        call = Call(service, action, params)
        if mirror.answer:
            answer(self._run(mirror.answer, call))
            return
        if mirror.before:
            self._run(mirror.before, call)
        real()  # moto refuses what AWS would refuse: nothing is mirrored then
        if mirror.after:
            self._run(mirror.after, call)

    def _run(self, handler: Callable[[LabBridge, Call], Any], call: Call) -> Any:
        try:
            with self._lock:
                result = handler(self, call)
                self.mirrored.append((call.service, call.action))
                return result
        except Exception as exc:  # the lab refused or cannot stand in: the Task fails, the run reports it
            why = f"{call.service}:{call.action}: {exc}"
            self.errors.append(why)
            raise ClientError({"Error": {"Code": MIRROR_ERROR, "Message": f"lab: {why}"},
                               "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "lab-bridge"}},
                              call.action) from exc

    def patches(self) -> list[Any]:
        """Wrap the SDK Task's service call (on top of the session's own fault injection)."""
        from unittest import mock

        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk,
        )

        sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk
        real_call = sdk_task._eval_service_task
        bridge = self

        def call(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any],
                 state_credentials: Any) -> Any:
            model = adapter.operation_model(self.resource.api_name, self.resource.api_action)
            service = adapter.SERVICE_NAMES.get(self.resource.api_name, self.resource.api_name)
            bridge.call(service, model.name, normalised_parameters, lambda: real_call(
                self, env=env, resource_runtime_part=resource_runtime_part,
                normalised_parameters=normalised_parameters, state_credentials=state_credentials),
                env.stack.append)  # what the Task receives, as moto's own call would leave it

        return [mock.patch.object(sdk_task, "_eval_service_task", call)]

    @contextlib.contextmanager
    def feeding(self, every_seconds: float = 0.5) -> Iterator[None]:
        """Feed the alarms every `every_seconds` real seconds while the context is open (CloudWatch evaluates
        alarms whether or not anyone reads them)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_seconds):
                try:
                    self.feed_alarms()
                except Exception as exc:  # reported with the run (a scenario with errors fails)
                    self.errors.append(f"alarm feed: {exc}")

        thread = threading.Thread(target=loop, name="lab-alarm-feed", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
