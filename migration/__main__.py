"""payments-migration: DMS replication (optional), the cutover/rollback state machines, and with DMS the writer
machines (switchover, fallback, finish, writer-recovery)."""

from payments.core.stack import start
from payments.layers.edge.write_pause import dormant_conditions
from payments.layers.migration.dms import Replication, ReplicationArgs, gate_watches_dms, target_engine
from payments.layers.migration.machines.moves import MoveDefaults
from payments.layers.migration.names import WRITER_OUTPUTS, MigrationNames
from payments.layers.migration.settings import MigrationSettings
from payments.layers.migration.workflow import CutoverWorkflow, CutoverWorkflowArgs, WriterArgs
from payments.layers.migration.writer_workflow import UPSTREAM, require_on_prem_name

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

# The writer machines exist with DMS (their way back is the reverse task) and act on the DB indirection, the write
# pause and the app subnets' fence (the infrastructure contract, writer_workflow.UPSTREAM).
writer = None
if replication is not None:
    readers = {"network": network, "data": data, "edge": edge}
    upstream = {name: {k: readers[name][k] for k in keys if k != "onPremDbName"} for name, keys in UPSTREAM.items()}
    upstream["data"]["onPremDbName"] = data.optional("onPremDbName").apply(
        lambda name: require_on_prem_name(name, layer.project)
    )
    writer = WriterArgs(
        defaults=MoveDefaults(cfg.switchover_hold_seconds, cfg.poll_seconds, cfg.pause),
        upstream=upstream,
        reverse_task_arn=replication.reverse_task_arn,
        dormant_conditions=tuple(dormant_conditions()),
    )

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
        writer=writer,
    ),
    opts=opts,
)

layer.export("cutoverStateMachineArn", workflow.cutover.arn)
layer.export("rollbackStateMachineArn", workflow.rollback.arn)
layer.export("cutoverLogGroupName", workflow.log_group.name)
layer.export("phaseParameterName", workflow.phase.name)
for role, machine in workflow.writer_machines.items():
    layer.export(WRITER_OUTPUTS[role], machine.arn)
