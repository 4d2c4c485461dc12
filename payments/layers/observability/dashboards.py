"""Dashboards *application*, *database* and *migration*: bodies as plain dicts, then resources.

The bodies are rendered by pure functions from a :class:`View` of plain strings
(upstream values resolved), so tests build and check them without Pulumi.
:func:`validate` checks a body against CloudWatch's documented dashboard body
structure; the emulator's ``PutDashboard`` only parses JSON, so this is the
stricter of the two checks the tests run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.core.naming import Kind, Namer
from payments.layers.observability.alarms import AWS_POOLS, POOLS, AlarmSpec
from payments.layers.observability.settings import ComputeMode, DbEngine, ObservabilitySettings

DASHBOARDS = ("application", "database", "migration")
#: Which dashboard shows an alarm's status, by the alarm's metric namespace.
DASHBOARD_OF_NAMESPACE = {
    "AWS/ApplicationELB": "application", "AWS/ECS": "application", "AWS/EC2": "application",
    "AWS/RDS": "database", "AWS/DMS": "migration",
}
#: CloudWatch's limit on alarms in one alarm-status widget.
MAX_ALARMS_PER_WIDGET = 100
WIDTH = 24  #: dashboard grid columns


@dataclasses.dataclass(frozen=True)
class View:
    """Everything a body shows, resolved to plain values."""

    region: str
    suffix: str
    cfg: ObservabilitySettings
    alb: str
    target_groups: Mapping[str, str]  #: ARN suffix by pool
    db: str
    gate_arn: str
    alarm_arns: Mapping[str, Mapping[str, str]]  #: dashboard -> purpose key -> alarm ARN
    cluster: str | None = None
    services: Mapping[str, str] | None = None
    asg: str | None = None
    dms_instance: str | None = None
    dms_task: str | None = None


# --- bodies ----------------------------------------------------------------------------------------------------


def render(view: View) -> dict[str, dict[str, Any]]:
    """The three bodies, by dashboard."""
    return {"application": application(view), "database": database(view), "migration": migration(view)}


def application(v: View) -> dict[str, Any]:
    lb = ["LoadBalancer", v.alb]
    widgets = [
        _text(f"# Payments {v.suffix}: application\nRequests, latency, errors and health per target group "
              "(legacy = on-prem, blue/green = ECS), the traffic split the cutover moves, and compute. "
              "What each alarm means and what to do: `docs/observability.md`.", height=2),
        _alarms("Alarms (cutover gate first)", [v.gate_arn, *v.alarm_arns.get("application", {}).values()]),
        _graph("Requests per target group (traffic split)", v.region, [
            ["AWS/ApplicationELB", "RequestCount", *lb, "TargetGroup", v.target_groups[pool],
             {"label": pool, "id": pool}] for pool in POOLS], stat="Sum", stacked=True),
        _graph("Share of requests by pool (%)", v.region, _traffic_share(v), stat="Sum",
               y_axis={"left": {"min": 0, "max": 100, "showUnits": False}}),
        _graph("Response time p50 / p99 (s)", v.region, [
            ["AWS/ApplicationELB", "TargetResponseTime", *lb, "TargetGroup", v.target_groups[pool],
             {"stat": stat, "label": f"{pool} {stat}"}] for pool in POOLS for stat in ("p50", "p99")],
            annotations=[{"value": v.cfg.latency_p99_seconds, "label": "p99 alarm"}]),
        _graph("4xx / 5xx responses", v.region, [
            ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", *lb, {"label": "load balancer 5xx"}],
            ["AWS/ApplicationELB", "HTTPCode_ELB_4XX_Count", *lb, {"label": "load balancer 4xx"}],
            *[["AWS/ApplicationELB", f"HTTPCode_Target_{code}_Count", *lb, "TargetGroup", v.target_groups[pool],
               {"label": f"{pool} {code.lower()}"}] for pool in POOLS for code in ("5XX", "4XX")],
        ], stat="Sum"),
        _graph("Healthy / unhealthy targets", v.region, [
            ["AWS/ApplicationELB", metric, *lb, "TargetGroup", v.target_groups[pool],
             {"label": f"{pool} {label}"}]
            for pool in POOLS
            for metric, label in (("HealthyHostCount", "healthy"), ("UnHealthyHostCount", "unhealthy"))
        ], stat="Minimum"),
    ]
    if v.cfg.compute_mode is ComputeMode.FARGATE:
        assert v.cluster is not None and v.services is not None
        widgets.append(_graph("ECS CPU / memory (%)", v.region, [
            ["AWS/ECS", metric, "ClusterName", v.cluster, "ServiceName", v.services[pool],
             {"label": f"{pool} {metric.removesuffix('Utilization').lower()}"}]
            for pool in AWS_POOLS for metric in ("CPUUtilization", "MemoryUtilization")],
            annotations=[{"value": v.cfg.cpu_high_percent, "label": "CPU alarm"},
                         {"value": v.cfg.memory_high_percent, "label": "memory alarm"}],
            y_axis={"left": {"min": 0, "max": 100}}))
        widgets.append(_graph("ECS running tasks (Container Insights)", v.region, [
            ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", v.cluster, "ServiceName", v.services[pool],
             {"label": pool}] for pool in AWS_POOLS], stat="Maximum"))
    else:
        assert v.asg is not None
        widgets.append(_graph("Auto Scaling group CPU (%)", v.region, [
            ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", v.asg, {"label": "average CPU"}]],
            period=300, annotations=[{"value": v.cfg.cpu_high_percent, "label": "CPU alarm"}],
            y_axis={"left": {"min": 0, "max": 100}}))
        widgets.append(_graph("Auto Scaling group instances", v.region, [
            ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", v.asg, {"label": "in service"}],
            ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", v.asg, {"label": "desired"}]],
            stat="Maximum", period=300))
    return _layout(widgets)


def database(v: View) -> dict[str, Any]:
    aurora = v.cfg.db_engine is DbEngine.AURORA_MYSQL
    dims = ["DBClusterIdentifier", v.db] if aurora else ["DBInstanceIdentifier", v.db]
    # Aurora publishes instance metrics aggregated per role; the writer is what the application uses.
    io_dims = [*dims, "Role", "WRITER"] if aurora else dims
    kind = "Aurora MySQL Serverless v2 cluster" if aurora else "RDS MySQL Multi-AZ instance"
    widgets = [
        _text(f"# Payments {v.suffix}: database\n{kind} `{v.db}`: connections, CPU, "
              f"{'capacity (ACU)' if aurora else 'storage'}, read/write latency"
              f"{', replica lag' if aurora else ''}. Runbook: `docs/observability.md`.", height=2),
        _alarms("Database alarms (cutover gate first)", [v.gate_arn, *v.alarm_arns.get("database", {}).values()]),
        _graph("Connections", v.region, [["AWS/RDS", "DatabaseConnections", *dims, {"label": "connections"}]],
               stat="Maximum", annotations=[{"value": v.cfg.db_connections_max, "label": "alarm"}]),
        _graph("CPU (%)", v.region, [["AWS/RDS", "CPUUtilization", *dims, {"label": "CPU"}]],
               annotations=[{"value": v.cfg.db_cpu_high_percent, "label": "alarm"}],
               y_axis={"left": {"min": 0, "max": 100}}),
    ]
    if aurora:
        widgets.append(_graph("Capacity", v.region, [
            ["AWS/RDS", "ACUUtilization", *dims, {"label": "ACU utilisation (%)"}],
            ["AWS/RDS", "ServerlessDatabaseCapacity", *dims, {"label": "ACU", "yAxis": "right"}]],
            annotations=[{"value": v.cfg.db_acu_high_percent, "label": "ACU alarm"}]))
    else:
        widgets.append(_graph("Free storage (bytes)", v.region, [
            ["AWS/RDS", "FreeStorageSpace", *dims, {"label": "free storage"}]], stat="Minimum",
            annotations=[{"value": v.cfg.db_free_storage_gib * 1024 ** 3, "label": "alarm"}]))
    widgets.append(_graph("Read / write latency (s)", v.region, [
        ["AWS/RDS", "ReadLatency", *io_dims, {"label": "read"}],
        ["AWS/RDS", "WriteLatency", *io_dims, {"label": "write"}]]))
    if aurora:
        widgets.append(_graph("Replica lag (ms)", v.region, [
            ["AWS/RDS", "AuroraReplicaLagMaximum", *dims, {"label": "max over readers"}],
            ["AWS/RDS", "AuroraReplicaLagMinimum", *dims, {"label": "min over readers"}]], stat="Maximum",
            annotations=[{"value": v.cfg.db_replica_lag_ms, "label": "alarm"}]))
    else:
        widgets.append(_text("### Replica lag\nThe Multi-AZ standby is replicated synchronously and publishes no "
                             "lag; `ReplicaLag` exists only on read replicas, which this environment does not run."))
    return _layout(widgets)


def migration(v: View) -> dict[str, Any]:
    widgets = [
        _text(f"# Payments {v.suffix}: migration\nDMS replication from the on-prem MySQL (latency, throughput) and "
              "cutover state machine executions, next to the traffic split they move. Runbook: "
              "`docs/observability.md` and the README.", height=2),
        _alarms("Cutover gate and DMS alarms", [v.gate_arn, *v.alarm_arns.get("migration", {}).values()]),
        _graph("Share of requests by pool (%)", v.region, _traffic_share(v), stat="Sum",
               y_axis={"left": {"min": 0, "max": 100, "showUnits": False}}),
        # The state machines belong to the migration layer, deployed after this one: a search finds them
        # (one line per state machine of the region) without a naming contract.
        _graph("Cutover state machine executions", v.region, [
            [{"expression": f"SEARCH('{{AWS/States,StateMachineArn}} MetricName=\"{metric}\"', 'Sum', 300)",
              "id": metric[len("Executions"):].lower(), "label": metric[len("Executions"):].lower()}]
            for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted",
                           "ExecutionsTimedOut")], stat="Sum", period=300),
    ]
    if v.cfg.dms_enabled:
        assert v.dms_instance is not None and v.dms_task is not None
        task = ["ReplicationInstanceIdentifier", v.dms_instance, "ReplicationTaskIdentifier", v.dms_task]
        instance = ["ReplicationInstanceIdentifier", v.dms_instance]
        widgets += [
            _graph("DMS CDC latency (s)", v.region, [
                ["AWS/DMS", "CDCLatencySource", *task, {"label": "source"}],
                ["AWS/DMS", "CDCLatencyTarget", *task, {"label": "target"}]], stat="Maximum",
                annotations=[{"value": v.cfg.dms_cdc_latency_seconds, "label": "alarm"}]),
            _graph("DMS throughput (rows/s)", v.region, [
                ["AWS/DMS", "CDCThroughputRowsSource", *task, {"label": "CDC read"}],
                ["AWS/DMS", "CDCThroughputRowsTarget", *task, {"label": "CDC applied"}],
                ["AWS/DMS", "FullLoadThroughputRowsTarget", *task, {"label": "full load"}]]),
            _graph("DMS changes waiting", v.region, [
                ["AWS/DMS", "CDCIncomingChanges", *task, {"label": "incoming changes"}],
                ["AWS/DMS", "CDCChangesDiskTarget", *task, {"label": "on disk (target)"}]], stat="Maximum"),
            _graph("DMS replication instance", v.region, [
                ["AWS/DMS", "CPUUtilization", *instance, {"label": "CPU (%)"}],
                ["AWS/DMS", "FreeableMemory", *instance, {"label": "freeable memory", "yAxis": "right"}]]),
        ]
    else:
        widgets.append(_text("### DMS\nDMS is off for this environment (`dmsEnabled: false`): the database is not "
                             "replicated from on-prem by this project."))
    return _layout(widgets)


def _traffic_share(v: View) -> list[list[Any]]:
    """Each pool's share of requests: the weights the cutover sets, as the load balancer applied them."""
    ids = {pool: f"r{pool}" for pool in POOLS}
    total = " + ".join(f"FILL({ids[p]}, 0)" for p in POOLS)
    rows: list[list[Any]] = [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", v.alb, "TargetGroup", v.target_groups[pool],
         {"id": ids[pool], "visible": False}] for pool in POOLS]
    rows += [[{"expression": f"100 * FILL({ids[pool]}, 0) / ({total})", "label": pool, "id": f"share{pool}"}]
             for pool in POOLS]
    return rows


# --- widget helpers ----------------------------------------------------------------------------------------------


def _graph(title: str, region: str, metrics: list[list[Any]], *, stat: str = "Average", period: int = 60,
           stacked: bool = False, annotations: list[dict[str, Any]] | None = None,
           y_axis: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"title": title, "region": region, "view": "timeSeries", "stacked": stacked,
                             "stat": stat, "period": period, "metrics": metrics}
    if annotations:
        props["annotations"] = {"horizontal": annotations}
    if y_axis:
        props["yAxis"] = y_axis
    return {"type": "metric", "width": 12, "height": 6, "properties": props}


def _text(markdown: str, height: int = 3) -> dict[str, Any]:
    return {"type": "text", "width": WIDTH, "height": height, "properties": {"markdown": markdown}}


def _alarms(title: str, arns: list[str]) -> dict[str, Any]:
    if len(arns) > MAX_ALARMS_PER_WIDGET:
        raise ValueError(f"{len(arns)} alarms in one widget; CloudWatch shows at most {MAX_ALARMS_PER_WIDGET}")
    return {"type": "alarm", "width": WIDTH, "height": 4,
            "properties": {"title": title, "alarms": arns, "sortBy": "stateUpdatedTimestamp"}}


def _layout(widgets: list[dict[str, Any]]) -> dict[str, Any]:
    """Place widgets left to right, top to bottom, on the 24-column grid."""
    x = y = row_height = 0
    placed = []
    for w in widgets:
        if x + w["width"] > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**w, "x": x, "y": y})
        x += w["width"]
        row_height = max(row_height, w["height"])
    return {"widgets": placed}


# --- validation ---------------------------------------------------------------------------------------------------

WIDGET_FIELDS = {"type", "x", "y", "width", "height", "properties"}
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer", "custom"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
METRIC_OPTIONS = {"accountId", "color", "expression", "id", "label", "period", "region", "stat", "visible", "yAxis"}
METRIC_PROPERTIES = {"accountId", "annotations", "liveData", "legend", "metrics", "period", "region", "stacked",
                     "setPeriodToTimeRange", "sparkline", "stat", "timezone", "title", "view", "yAxis", "table",
                     "singleValueFullPrecision", "trend"}
_STAT = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM|(p|tm|wm|tc|ts|pr)\d{1,2}(\.\d{1,2})?)$")
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")
_ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:.+$")


def validate(body: dict[str, Any]) -> list[str]:
    """Problems with a dashboard body per CloudWatch's body structure reference; empty when it is valid."""
    problems: list[str] = []
    if set(body) - {"widgets", "start", "end", "periodOverride"}:
        problems.append(f"unknown top-level fields {sorted(set(body) - {'widgets', 'start', 'end', 'periodOverride'})}")
    widgets = body.get("widgets")
    if not isinstance(widgets, list) or not 1 <= len(widgets) <= 500:
        return [*problems, "widgets must be a list of 1-500 widgets"]
    cells: set[tuple[int, int]] = set()
    for i, w in enumerate(widgets):
        where = f"widgets[{i}]"
        if set(w) - WIDGET_FIELDS:
            problems.append(f"{where}: unknown fields {sorted(set(w) - WIDGET_FIELDS)}")
        if w.get("type") not in WIDGET_TYPES:
            problems.append(f"{where}: type {w.get('type')!r} is not one of {sorted(WIDGET_TYPES)}")
        x, y, width, height = (w.get(k) for k in ("x", "y", "width", "height"))
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (x, y, width, height)):
            problems.append(f"{where}: x, y, width and height must be integers")
            continue
        if not (0 <= x <= 23 and y >= 0 and 1 <= width <= 24 and 1 <= height <= 1000 and x + width <= WIDTH):
            problems.append(f"{where}: x={x} y={y} width={width} height={height} is off the 24-column grid")
        overlap = {(cx, cy) for cx in range(x, x + width) for cy in range(y, y + height)}
        if overlap & cells:
            problems.append(f"{where}: overlaps another widget")
        cells |= overlap
        props = w.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{where}: properties must be an object")
            continue
        check = {"metric": _metric_widget, "text": _text_widget, "alarm": _alarm_widget}.get(w.get("type", ""))
        if check:
            problems += [f"{where}: {p}" for p in check(props)]
    return problems


def _metric_widget(p: dict[str, Any]) -> list[str]:
    out = []
    if set(p) - METRIC_PROPERTIES:
        out.append(f"unknown properties {sorted(set(p) - METRIC_PROPERTIES)}")
    if not isinstance(p.get("region"), str):
        out.append("region is required")
    if p.get("view", "timeSeries") not in VIEWS:
        out.append(f"view {p.get('view')!r} is not one of {sorted(VIEWS)}")
    if "stat" in p and not _STAT.match(str(p["stat"])):
        out.append(f"stat {p['stat']!r} is not a CloudWatch statistic")
    out += _period(p.get("period"), "period")
    metrics = p.get("metrics")
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= 500:
        return [*out, "metrics must be a list of 1-500 entries"]
    ids: set[str] = set()
    for j, m in enumerate(metrics):
        out += [f"metrics[{j}]: {problem}" for problem in _metric_entry(m, ids)]
    for h in (p.get("annotations") or {}).get("horizontal", []):
        if not isinstance(h.get("value"), int | float):
            out.append("every horizontal annotation needs a numeric value")
    for side, axis in (p.get("yAxis") or {}).items():
        if side not in ("left", "right") or set(axis) - {"min", "max", "label", "showUnits"}:
            out.append(f"yAxis.{side} is not a valid axis")
    return out


def _metric_entry(m: Any, ids: set[str]) -> list[str]:
    if not isinstance(m, list) or not m:
        return ["must be a non-empty array"]
    options = m[-1] if isinstance(m[-1], dict) else {}
    strings = m[:-1] if isinstance(m[-1], dict) else m
    out = []
    if set(options) - METRIC_OPTIONS:
        out.append(f"unknown options {sorted(set(options) - METRIC_OPTIONS)}")
    if "expression" in options:
        if strings:
            out.append("an expression entry holds only its options object")
        if not isinstance(options["expression"], str) or not options["expression"].strip():
            out.append("expression must be a non-empty string")
    else:
        if not all(isinstance(s, str) and s for s in strings):
            out.append("namespace, metric name and dimensions must be non-empty strings")
        elif len(strings) < 2 or len(strings) % 2:
            out.append("needs namespace, metric name and dimension name/value pairs")
        elif len(strings) > 2 + 2 * 30:
            out.append("more than 30 dimensions")
    if "id" in options:
        if not _ID.match(str(options["id"])):
            out.append(f"id {options['id']!r} must start with a lowercase letter (letters, digits, _)")
        elif options["id"] in ids:
            out.append(f"id {options['id']!r} is used twice")
        ids.add(str(options["id"]))
    if "stat" in options and not _STAT.match(str(options["stat"])):
        out.append(f"stat {options['stat']!r} is not a CloudWatch statistic")
    if "yAxis" in options and options["yAxis"] not in ("left", "right"):
        out.append("yAxis must be left or right")
    out += _period(options.get("period"), "period")
    return out


def _period(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or not (value in (1, 5, 10, 30) or value % 60 == 0):
        return [f"{name} {value!r} must be 1, 5, 10, 30 or a multiple of 60 seconds"]
    return []


def _text_widget(p: dict[str, Any]) -> list[str]:
    out = [] if isinstance(p.get("markdown"), str) and p["markdown"] else ["markdown is required"]
    if p.get("background", "solid") not in ("solid", "transparent"):
        out.append("background must be solid or transparent")
    return out


def _alarm_widget(p: dict[str, Any]) -> list[str]:
    alarms = p.get("alarms")
    if not isinstance(alarms, list) or not 1 <= len(alarms) <= MAX_ALARMS_PER_WIDGET:
        return [f"alarms must list 1-{MAX_ALARMS_PER_WIDGET} alarm ARNs"]
    out = [f"alarms: {a!r} is not an alarm ARN" for a in alarms if not isinstance(a, str) or not _ALARM_ARN.match(a)]
    if p.get("sortBy", "default") not in ("default", "stateUpdatedTimestamp", "timestamp"):
        out.append("sortBy must be default, stateUpdatedTimestamp or timestamp")
    if set(p.get("states", [])) - {"ALARM", "INSUFFICIENT_DATA", "OK"}:
        out.append("states may hold ALARM, INSUFFICIENT_DATA and OK only")
    return out


# --- resources ----------------------------------------------------------------------------------------------------


def alarm_groups(specs: list[AlarmSpec],
                 arns: Mapping[str, pulumi.Input[str]]) -> dict[str, dict[str, pulumi.Input[str]]]:
    """Alarm ARNs by the dashboard that shows them."""
    groups: dict[str, dict[str, pulumi.Input[str]]] = {name: {} for name in DASHBOARDS}
    for spec in specs:
        groups[DASHBOARD_OF_NAMESPACE[spec.namespace]][spec.key] = arns[spec.key]
    return groups


@dataclasses.dataclass
class DashboardsArgs:
    cfg: ObservabilitySettings
    #: the other View fields; values may be Outputs (nested in maps too), resolved before rendering
    view: dict[str, Any]
    namer: Namer
    #: Outputs that must resolve first (e.g. upstream checks that raise a ConfigError on a mismatch)
    checks: list[pulumi.Output[Any]] = dataclasses.field(default_factory=list)


class Dashboards(pulumi.ComponentResource):
    """The three dashboards; each body is rendered once every upstream value is known."""

    def __init__(self, name: str, args: DashboardsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:observability:Dashboards", name, None, opts)
        resolved = pulumi.Output.all(pulumi.Output.from_input(args.view), *args.checks).apply(lambda parts: parts[0])
        bodies = resolved.apply(lambda values: render(View(cfg=args.cfg, **values)))
        self.dashboards: dict[str, aws.cloudwatch.Dashboard] = {}
        for board in DASHBOARDS:
            self.dashboards[board] = aws.cloudwatch.Dashboard(
                f"{name}-{board}",
                dashboard_name=args.namer(f"payments-{board}", Kind.DASHBOARD),
                dashboard_body=bodies.apply(functools.partial(_board_json, board)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = {board: d.dashboard_name for board, d in self.dashboards.items()}
        self.register_outputs({"names": self.names})


def _board_json(board: str, bodies: dict[str, dict[str, Any]]) -> str:
    return _checked_json(board, bodies[board])


def _checked_json(board: str, body: dict[str, Any]) -> str:
    problems = validate(body)
    if problems:  # a bug in this module, not in anyone's config
        raise ValueError(f"dashboard '{board}' body is invalid: {'; '.join(problems)}")
    return json.dumps(body, separators=(",", ":"))
