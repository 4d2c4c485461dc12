"""payments-observability: alarm topic, alarms and the cutover gate, dashboards (application, database, migration)."""

from payments.core.naming import Kind
from payments.core.stack import start
from payments.layers.observability.alarms import (
    AWS_POOLS,
    POOLS,
    Alarms,
    AlarmsArgs,
    Targets,
    alarm_specs,
    gate_window_seconds,
)
from payments.layers.observability.dashboards import Dashboards, DashboardsArgs, alarm_groups
from payments.layers.observability.settings import ComputeMode, ObservabilitySettings
from payments.layers.observability.topic import AlarmTopic, AlarmTopicArgs
from payments.layers.observability.upstream import after, expect, pick

layer = start("observability")
cfg = layer.config(ObservabilitySettings)
env, n, opts = layer.env, layer.namer, layer.opts
data, edge, app = layer.upstream("data"), layer.upstream("edge"), layer.upstream("app")

# Which alarms exist follows this layer's settings; these checks hold every dependent value until the
# upstream agrees (see payments/layers/observability/upstream.py).
mode_ok = expect(app["computeMode"], cfg.compute_mode.value, key="computeMode", where=layer.project, upstream="app")
engine_ok = expect(data["dbEngine"], cfg.db_engine.value, key="dbEngine", where=layer.project, upstream="data")
fargate = cfg.compute_mode is ComputeMode.FARGATE
dms_instance = (cfg.dms_replication_instance_id or n("dms", Kind.DMS_IDENTIFIER)) if cfg.dms_enabled else None
dms_task = (cfg.dms_task_resource_id or n("dms-task", Kind.DMS_IDENTIFIER)) if cfg.dms_enabled else None

targets = Targets(
    alb_arn_suffix=edge["albArnSuffix"],
    target_group_arn_suffixes={
        pool: pick(edge["targetGroupArnSuffixes"], pool, upstream="edge", output="targetGroupArnSuffixes")
        for pool in POOLS},
    db_identifier=after(data["dbIdentifier"], engine_ok),
    cluster_name=after(app["clusterName"], mode_ok) if fargate else None,
    service_names={pool: after(pick(app["serviceNames"], pool, upstream="app", output="serviceNames"), mode_ok)
                   for pool in AWS_POOLS} if fargate else None,
    asg_name=None if fargate else after(app["asgName"], mode_ok),
    dms_instance_id=dms_instance,
    dms_task_id=dms_task,
)

topic = AlarmTopic("alarm-topic", AlarmTopicArgs(
    namer=n, account_id=layer.account_id, region=env.region, emails=cfg.alarm_emails), opts=opts)
specs = alarm_specs(cfg, targets)
alarms = Alarms("alarms", AlarmsArgs(specs=specs, topic_arn=topic.arn, namer=n), opts=opts)
dashboards = Dashboards("dashboards", DashboardsArgs(cfg=cfg, namer=n, checks=[mode_ok, engine_ok], view={
    "region": env.region, "suffix": n.suffix, "alb": targets.alb_arn_suffix,
    "target_groups": targets.target_group_arn_suffixes, "db": targets.db_identifier, "gate_arn": alarms.gate.arn,
    "alarm_arns": alarm_groups(specs, alarms.arns), "cluster": targets.cluster_name,
    "services": targets.service_names, "asg": targets.asg_name, "dms_instance": dms_instance, "dms_task": dms_task,
}), opts=opts)

layer.export("alarmTopicArn", topic.arn)
layer.export("alarmTopicKeyArn", topic.key_arn)
layer.export("alarmNames", alarms.names)
layer.export("alarmArns", alarms.arns)
layer.export("gateAlarmName", alarms.gate.alarm_name)
layer.export("gateAlarmArn", alarms.gate.arn)
layer.export("gateMemberNames", alarms.gate_members)
layer.export("gateWindowSeconds", gate_window_seconds(specs))
layer.export("dashboardNames", dashboards.names)
