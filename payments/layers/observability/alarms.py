"""Alarms as data (:func:`alarm_specs`), then as resources (:class:`Alarms`), plus the cutover gate.

Every alarm is one :class:`AlarmSpec`: metric, threshold from config, how
missing data counts (with the reason next to it) and whether it belongs to the
composite *cutover gate*. Which specs exist depends only on plain settings
(compute mode, engine, DMS on/off); upstream outputs only fill in dimension
values.

The gate holds the alarms that mean "users of the AWS pools are hurt, or the
AWS database cannot keep up": per target group, the 5xx, connection errors,
unhealthy targets and p99 latency of the AWS pools (blue, green); database
saturation; and DMS CDC latency. Only per-target-group metrics are in it, so the
gate says which pool fails: the load balancer's own 5xx count
(HTTPCode_ELB_5XX_Count) has no TargetGroup dimension, and it fires just as well
when the *source* pool fails (VPN down), when a rollback onto the source is
exactly wrong; it pages, outside the gate. CPU/memory of the services are not
in the gate: autoscaling answers them, and their user-visible effects are.
Alarms of the legacy pool are not in it either: rolling back sends traffic to
legacy, so its trouble is never a reason to roll back to it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from payments.core.naming import Kind, Namer
from payments.layers.observability.settings import ComputeMode, DbEngine, ObservabilitySettings

#: Target groups the edge layer creates (keys of its targetGroupArnSuffixes).
POOLS = ("legacy", "blue", "green")
#: Pools served by the app layer (keys of its serviceNames); the gate watches these.
AWS_POOLS = ("blue", "green")
GIB = 1024 ** 3
#: CloudWatch's limit on a composite alarm rule.
MAX_RULE_LENGTH = 10240
#: Delay before a failure can count in an alarm: ELB "measures and sends its metrics in 60-second intervals"
#: (ALB CloudWatch metrics), and CloudWatch evaluates metric alarms once a minute.
METRIC_DELAY_SECONDS = 60
#: DMS CDC latency alarms (end of the replication -> metric); dmsEnabled adds them, in the cutover gate.
DMS_LATENCY_METRICS = (("source", "CDCLatencySource"), ("target", "CDCLatencyTarget"))
#: Their purpose keys in the ``alarmNames`` export: the migration layer, when it runs DMS, requires them.
DMS_ALARM_KEYS = tuple(f"dmsCdcLatency{end.title()}" for end, _ in DMS_LATENCY_METRICS)


class Missing(enum.Enum):
    """How an alarm treats a period without data (CloudWatch's treatMissingData)."""

    NOT_BREACHING = "notBreaching"  #: silence is good news (counts not published when zero, idle pools)
    BREACHING = "breaching"  #: silence is itself the failure (a metric that is always published)
    IGNORE = "ignore"  #: keep the current state
    MISSING = "missing"  #: CloudWatch's default: go to INSUFFICIENT_DATA


class Comparison(enum.Enum):
    ABOVE = "GreaterThanThreshold"
    BELOW = "LessThanThreshold"


class Window(TypedDict):
    """How many periods an alarm looks at, and how many must breach."""

    evaluation_periods: int
    datapoints: int


@dataclasses.dataclass(frozen=True)
class AlarmSpec:
    slug: str  #: physical name before the suffix, e.g. ``tg-blue-5xx``
    meaning: str  #: what the alarm says is wrong
    action: str  #: what the on-call engineer does first
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    threshold: float
    comparison: Comparison
    missing: Missing
    gate: bool
    evaluation_periods: int
    datapoints: int
    period: int = 60
    statistic: str | None = "Average"
    percentile: str | None = None  #: e.g. ``p99``; replaces `statistic`

    @property
    def key(self) -> str:
        """The purpose key in the ``alarmNames``/``alarmArns`` exports: ``tg-blue-5xx`` -> ``tgBlue5xx``."""
        head, *rest = self.slug.split("-")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)

    @property
    def description(self) -> str:
        gate = (" Part of the cutover gate: while it is in ALARM a cutover will not start and a running one rolls "
                "back." if self.gate else "")
        return f"{self.meaning}{gate} On-call: {self.action}"


@dataclasses.dataclass
class Targets:
    """Dimension values, read from the upstream layers (Outputs) or given as plain strings in tests."""

    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]  #: by pool
    db_identifier: pulumi.Input[str]
    cluster_name: pulumi.Input[str] | None = None  #: Fargate mode
    service_names: Mapping[str, pulumi.Input[str]] | None = None  #: Fargate mode, by pool
    asg_name: pulumi.Input[str] | None = None  #: EC2 mode
    dms_instance_id: str | None = None  #: DMS on
    dms_task_id: str | None = None  #: DMS on


def alarm_specs(cfg: ObservabilitySettings, t: Targets) -> list[AlarmSpec]:
    """Every metric alarm of the environment, in a stable order."""
    window = Window(evaluation_periods=cfg.evaluation_periods, datapoints=cfg.datapoints_to_alarm)
    specs: list[AlarmSpec] = []
    specs += _compute(cfg, t, window)
    specs += _edge(cfg, t, window)
    specs += _database(cfg, t, window)
    if cfg.dms_enabled:
        specs += _dms(cfg, t, window)
    slugs = [s.slug for s in specs]
    assert len(slugs) == len(set(slugs)), f"duplicate alarm slugs: {slugs}"
    return specs


def _compute(cfg: ObservabilitySettings, t: Targets, window: Window) -> list[AlarmSpec]:
    if cfg.compute_mode is ComputeMode.EC2:
        if t.asg_name is None:
            raise ValueError("EC2 mode needs the Auto Scaling group name")
        # EC2 basic monitoring publishes every 5 minutes; a 1-minute period would see 4 of 5 periods empty.
        # Missing: instances that publish nothing are caught by the unhealthy-target alarms.
        return [AlarmSpec(
            "asg-cpu-high", f"Average CPU of the application Auto Scaling group is above {cfg.cpu_high_percent:g} %.",
            "check that scaling out has started (desired vs max capacity); raise max capacity or find the hot path.",
            "AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": t.asg_name}, cfg.cpu_high_percent,
            Comparison.ABOVE, Missing.NOT_BREACHING, gate=False, period=300, **window)]
    if t.cluster_name is None or t.service_names is None:
        raise ValueError("Fargate mode needs the cluster and service names")
    specs = []
    for pool in AWS_POOLS:
        dims = {"ClusterName": t.cluster_name, "ServiceName": t.service_names[pool]}
        # Missing: a pool scaled to zero publishes nothing and cannot be overloaded; lost tasks show as
        # unhealthy targets instead.
        specs.append(AlarmSpec(
            f"ecs-{pool}-cpu-high", f"Average CPU of the {pool} ECS service is above {cfg.cpu_high_percent:g} %.",
            f"check the {pool} service scaled out (running vs desired tasks, autoscaling activity); if at its "
            "maximum, raise it or roll back the latest task definition.",
            "AWS/ECS", "CPUUtilization", dims, cfg.cpu_high_percent, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=False, **window))
        specs.append(AlarmSpec(
            f"ecs-{pool}-memory-high",
            f"Average memory of the {pool} ECS service is above {cfg.memory_high_percent:g} %; tasks risk being "
            "stopped for running out of memory.",
            f"look for OutOfMemory task stops in the {pool} service events; raise task memory or roll back.",
            "AWS/ECS", "MemoryUtilization", dims, cfg.memory_high_percent, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=False, **window))
    return specs


def _edge(cfg: ObservabilitySettings, t: Targets, window: Window) -> list[AlarmSpec]:
    lb = {"LoadBalancer": t.alb_arn_suffix}
    # Missing: the load balancer publishes error counts only when there are errors; silence means zero.
    specs = [AlarmSpec(
        "alb-5xx", f"The load balancer itself returned more than {cfg.alb_errors_per_minute} 5xx responses a minute "
        "(no healthy target, target timeouts, or overload).",
        "open the application dashboard: which target group lost healthy hosts? This alarm cannot say which pool "
        "fails, so it is not one of the gate's members (the per-pool alarms are). If the pool taking traffic is the "
        "failing one, move traffic (invoke rollback --pool <healthy pool>).",
        "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, cfg.alb_errors_per_minute, Comparison.ABOVE,
        Missing.NOT_BREACHING, gate=False, statistic="Sum", **window)]
    for pool in POOLS:
        dims = {**lb, "TargetGroup": t.target_group_arn_suffixes[pool]}
        in_gate = pool in AWS_POOLS
        where = "the on-prem servers behind the VPN" if pool == "legacy" else f"the {pool} ECS service"
        specs.append(AlarmSpec(
            f"tg-{pool}-5xx", f"Targets of the {pool} pool ({where}) returned more than {cfg.target_errors_per_minute} "
            "5xx responses a minute.",
            f"read the {pool} application logs for the failing requests; if the pool receives traffic and the "
            "errors started with a release or cutover, move traffic back (invoke rollback).",
            "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, cfg.target_errors_per_minute, Comparison.ABOVE,
            Missing.NOT_BREACHING, gate=in_gate, statistic="Sum", **window))
        # Connections the load balancer could not open to a target: what a dead pool (or a VPN down) looks like
        # per target group, where the load balancer's own 5xx count has no TargetGroup dimension.
        specs.append(AlarmSpec(
            f"tg-{pool}-conn-errors", f"The load balancer failed to connect to targets of the {pool} pool ({where}) "
            f"more than {cfg.target_errors_per_minute} times a minute.",
            f"the {pool} targets are unreachable: for ECS pools check the tasks and their security group, for "
            "legacy the VPN tunnels and the on-prem servers.",
            "AWS/ApplicationELB", "TargetConnectionErrorCount", dims, cfg.target_errors_per_minute,
            Comparison.ABOVE, Missing.NOT_BREACHING, gate=in_gate, statistic="Sum", **window))
        # Minimum over the minute: a target still registering is not a failure; one unhealthy all minute is.
        # Missing: a target group no listener forwards to publishes nothing and serves no one.
        specs.append(AlarmSpec(
            f"tg-{pool}-unhealthy", f"More than {cfg.unhealthy_hosts} target(s) of the {pool} pool ({where}) fail "
            "their health checks.",
            "check the target group's health reasons; for ECS pools the stopped-task reasons, for legacy the VPN "
            "tunnels and on-prem servers.",
            "AWS/ApplicationELB", "UnHealthyHostCount", dims, cfg.unhealthy_hosts, Comparison.ABOVE,
            Missing.NOT_BREACHING, gate=in_gate, statistic="Minimum", **window))
        # Missing: no requests, no latency. Percentiles over a handful of requests are noise: see
        # evaluate_low_sample_count_percentiles in Alarms.
        specs.append(AlarmSpec(
            f"tg-{pool}-latency-p99", f"p99 response time of the {pool} pool ({where}) is above "
            f"{cfg.latency_p99_seconds:g} s.",
            "compare with database latency on the database dashboard; if only this pool is slow, look at its CPU "
            "and recent deployments.",
            "AWS/ApplicationELB", "TargetResponseTime", dims, cfg.latency_p99_seconds, Comparison.ABOVE,
            Missing.NOT_BREACHING, gate=in_gate, statistic=None, percentile="p99", **window))
    return specs


def _database(cfg: ObservabilitySettings, t: Targets, window: Window) -> list[AlarmSpec]:
    aurora = cfg.db_engine is DbEngine.AURORA_MYSQL
    dims = {"DBClusterIdentifier": t.db_identifier} if aurora else {"DBInstanceIdentifier": t.db_identifier}
    what = "Aurora cluster" if aurora else "RDS MySQL instance"
    # Missing (CPU, connections, ACU): a paused Serverless v2 cluster publishes nothing and is not overloaded;
    # an unreachable database shows up as target 5xx and unhealthy targets.
    specs = [
        AlarmSpec(
            "db-cpu-high", f"Average CPU of the {what} is above {cfg.db_cpu_high_percent:g} %.",
            "find the top queries (Performance Insights); scale the database up if the load is legitimate.",
            "AWS/RDS", "CPUUtilization", dims, cfg.db_cpu_high_percent, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=True, **window),
        AlarmSpec(
            "db-connections-high", f"The {what} has more than {cfg.db_connections_max} connections.",
            "check for a connection leak or a task count far above normal; compare with max_connections.",
            "AWS/RDS", "DatabaseConnections", dims, cfg.db_connections_max, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=True, statistic="Maximum", **window),
    ]
    if aurora:
        specs.append(AlarmSpec(
            "db-acu-high", f"The Aurora Serverless v2 cluster uses more than {cfg.db_acu_high_percent:g} % of its "
            "maximum capacity (ACU); it cannot scale further.",
            "raise the data layer's maximum ACU, or find what drives the load.",
            "AWS/RDS", "ACUUtilization", dims, cfg.db_acu_high_percent, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=True, **window))
        # Missing: a cluster without readers (dev) publishes no replica lag. Not in the gate: the application
        # writes and reads through the writer; readers serve reporting only.
        specs.append(AlarmSpec(
            "db-replica-lag", f"An Aurora reader lags the writer by more than {cfg.db_replica_lag_ms} ms.",
            "check the reader's CPU and long-running queries on it; restart or replace the reader if it stays behind.",
            "AWS/RDS", "AuroraReplicaLagMaximum", dims, cfg.db_replica_lag_ms, Comparison.ABOVE,
            Missing.NOT_BREACHING, gate=False, statistic="Maximum", **window))
    else:
        # Breaching: a running RDS instance publishes free storage every minute, so silence means the
        # instance is down - which must page as loudly as a full disk.
        specs.append(AlarmSpec(
            "db-free-storage-low", f"The RDS MySQL instance has less than {cfg.db_free_storage_gib} GiB free "
            "storage, or stopped reporting it (instance down).",
            "check the instance status; if running, raise allocated or max allocated storage and purge binary logs.",
            "AWS/RDS", "FreeStorageSpace", dims, cfg.db_free_storage_gib * GIB, Comparison.BELOW, Missing.BREACHING,
            gate=True, statistic="Minimum", **window))
    return specs


def _dms(cfg: ObservabilitySettings, t: Targets, window: Window) -> list[AlarmSpec]:
    if t.dms_instance_id is None or t.dms_task_id is None:
        raise ValueError("DMS alarms need the replication instance and task identifiers")
    dims = {"ReplicationInstanceIdentifier": t.dms_instance_id, "ReplicationTaskIdentifier": t.dms_task_id}
    # Missing: before CDC starts and after the task is stopped at the end of the migration there is no
    # latency to report; the cutover state machine checks the task status itself.
    return [
        AlarmSpec(
            f"dms-cdc-latency-{end}",
            f"DMS change data capture lags {'reading the on-prem source' if end == 'source' else 'applying to Aurora'} "
            f"by more than {cfg.dms_cdc_latency_seconds} s: AWS does not have the latest on-prem writes.",
            "open the migration dashboard (incoming changes, throughput) and the task log; check the VPN and "
            "the replication instance's CPU and memory before resuming a cutover.",
            "AWS/DMS", metric, dims, cfg.dms_cdc_latency_seconds, Comparison.ABOVE, Missing.NOT_BREACHING,
            gate=True, statistic="Maximum", **window)
        for end, metric in DMS_LATENCY_METRICS
    ]


def gate_window_seconds(specs: list[AlarmSpec]) -> int:
    """Seconds the gate needs to see a failure: the longest member window (periods x period) plus the delay."""
    return max(s.evaluation_periods * s.period for s in specs if s.gate) + METRIC_DELAY_SECONDS


def gate_rule(alarm_names: list[str]) -> str:
    """The composite rule: the gate is in ALARM while any member is."""
    if not alarm_names:
        raise ValueError("the cutover gate needs at least one alarm")
    rule = " OR ".join(f'ALARM("{name}")' for name in alarm_names)
    if len(rule) > MAX_RULE_LENGTH:
        raise ValueError(f"cutover gate rule is {len(rule)} characters; CloudWatch allows {MAX_RULE_LENGTH}")
    return rule


@dataclasses.dataclass
class AlarmsArgs:
    specs: list[AlarmSpec]
    topic_arn: pulumi.Input[str]
    namer: Namer


class Alarms(pulumi.ComponentResource):
    """One metric alarm per spec, all notifying the topic, and the composite cutover gate."""

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:observability:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        actions = [args.topic_arn]
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        gate_members: list[str] = []
        for spec in args.specs:
            physical = n(spec.slug, Kind.ALARM)
            self.alarms[spec.key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.slug}",
                name=physical,
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=spec.dimensions,
                statistic=spec.statistic,
                extended_statistic=spec.percentile,
                # Percentiles over a handful of requests are noise: keep the state until enough samples exist.
                evaluate_low_sample_count_percentiles="ignore" if spec.percentile else None,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints,
                threshold=spec.threshold,
                comparison_operator=spec.comparison.value,
                treat_missing_data=spec.missing.value,
                alarm_actions=actions,
                # Recovery notices tell on-call an incident is over without opening the console.
                ok_actions=actions,
                opts=child,
            )
            if spec.gate:
                gate_members.append(physical)
        # Names are plain strings, so the rule is known at preview; the alarms must exist before the rule.
        self.gate = aws.cloudwatch.CompositeAlarm(
            f"{name}-cutover-gate",
            alarm_name=n("cutover-gate", Kind.ALARM),
            alarm_description=(
                "Cutover gate: in ALARM while any alarm that must stop a cutover is. The cutover state machine "
                "refuses to start and rolls back a running cutover while it is in ALARM. On-call: the member alarm "
                "in ALARM names the cause; see docs/observability.md."
            ),
            alarm_rule=gate_rule(gate_members),
            alarm_actions=actions,
            ok_actions=actions,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.alarms.values())),
        )
        self.gate_members = gate_members
        self.names = {key: alarm.name for key, alarm in self.alarms.items()}
        self.arns = {key: alarm.arn for key, alarm in self.alarms.items()}
        self.register_outputs({"names": self.names, "arns": self.arns, "gateArn": self.gate.arn})
