"""payments-migration: DMS replication (optional) and the cutover/rollback state machines."""

from payments.core.stack import start
from payments.layers.migration.dms import Replication, ReplicationArgs, gate_watches_dms, target_engine
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.settings import MigrationSettings
from payments.layers.migration.workflow import CutoverWorkflow, CutoverWorkflowArgs

layer = start("migration")
cfg = layer.config(MigrationSettings)
env, n, opts = layer.env, layer.namer, layer.opts
network, data, edge, obs = (layer.upstream(u) for u in ("network", "data", "edge", "observability"))


replication = None
if cfg.dms_enabled:
    # The observability layer must run DMS too (its CDC latency alarms feed the cutover gate): the inputs DMS
    # resources are built from wait for that check, so a mismatch stops the program (already at preview).
    checked = gate_watches_dms(obs["alarmNames"], layer.project)

    replication = Replication(
        "dms",
        ReplicationArgs(
            settings=cfg,
            namer=n,
            account_id=layer.account_id,
            region=env.region,
            data_subnet_ids=checked(network["dataSubnetIds"]),
            security_group_id=network["dmsSecurityGroupId"],
            kms_key_arn=checked(data["dataKeyArn"]),
            logs_key_arn=checked(network["logsKeyArn"]),
            target_engine=data["dbEngine"].apply(target_engine),
            # DMS's own user on the AWS database, never the master.
            target_secret_arn=data["dmsDbSecretArn"],
            target_database=data["dbName"],
            alarm_topic_arn=checked(obs["alarmTopicArn"]),
        ),
        opts=opts,
    )
    layer.export("dmsTaskArn", replication.task_arn)
    layer.export("reverseDmsTaskArn", replication.reverse_task_arn)

workflow = CutoverWorkflow(
    "workflow",
    CutoverWorkflowArgs(
        names=MigrationNames(n.suffix, env.region, layer.account_id),
        initial_phase=env.settings.migration_phase.value,
        logs_key_arn=network["logsKeyArn"],
        log_retention_days=cfg.log_retention_days,
        defaults=cfg.cutover_defaults(),
        stickiness_seconds=cfg.stickiness_seconds,
        upstream={
            "edge": {k: edge[k] for k in ("httpsListenerArn", "targetGroupArns")},
            # ECS names are absent in EC2 mode: optional in the contract
            "app": {
                k: layer.upstream("app").optional(k)
                for k in ("clusterName", "serviceNames", "serviceArns", "taskDefinitionArn")
            },
            "observability": {
                k: obs[k]
                for k in (
                    "gateAlarmName",
                    "gateAlarmArn",
                    "gateMemberNames",
                    "gateWindowSeconds",
                    "alarmTopicArn",
                    "alarmTopicKeyArn",
                )
            },
        },
        dms_task_arn=replication.task_arn if replication else None,
        dms_latency_alarm_name=replication.latency_alarm_name if replication else None,
    ),
    opts=opts,
)

layer.export("cutoverStateMachineArn", workflow.cutover.arn)
layer.export("rollbackStateMachineArn", workflow.rollback.arn)
layer.export("cutoverLogGroupName", workflow.log_group.name)
layer.export("phaseParameterName", workflow.phase.name)
