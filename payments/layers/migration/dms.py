"""DMS: on-prem MySQL -> the data layer's database, full load then CDC, validated (optional); and the way back.

The forward task (full load + CDC) keeps the AWS database current while the on-prem MySQL is the writer. The
reverse task (CDC only, AWS -> on-prem) is created stopped; the database switchover starts it "from now" while
writes are paused, so the on-prem MySQL stays current while the AWS database is the writer and a fallback loses
nothing. Its limits: docs/migration-reverse.md. Each side logs in with DMS's own user, never the master.

Prerequisite per account (AWS creates them once, with fixed names, so no stack
owns them): the ``dms-vpc-role`` and ``dms-cloudwatch-logs-role`` service
roles; see docs/migration.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.components.logs import log_group
from payments.core.errors import ConfigError
from payments.core.naming import Kind, Namer
from payments.layers.migration.settings import MigrationSettings
from payments.layers.observability.alarms import DMS_ALARM_KEYS

DMS = aws.dms
CDC_LATENCY_METRIC = "CDCLatencyTarget"


def check_gate_watches_dms(alarm_names: Any, where: str) -> None:
    """DMS on here needs the observability layer's CDC latency alarms (``dmsEnabled``), which feed the gate.

    The two switches live in two layers; when they disagree the cutover gate would not watch replication lag.
    """
    have = alarm_names if isinstance(alarm_names, dict) else {}
    missing = [key for key in DMS_ALARM_KEYS if key not in have]
    if missing:
        raise ConfigError(
            f"{where}:dmsSourceSecretArn",
            f"DMS is on here, but the observability layer exports no {' / '.join(missing)} alarm "
            "(payments-observability:dmsEnabled is false), so the cutover gate would not watch replication lag",
            "set payments-observability:dmsEnabled: true in observability/Pulumi.<env>.yaml and deploy "
            "observability first, or remove dmsSourceSecretArn",
        )


def gate_watches_dms(alarm_names: pulumi.Output[Any], where: str) -> Callable[[pulumi.Input[Any]], pulumi.Output[Any]]:
    """A gate for DMS inputs: each value it passes is available only once :func:`check_gate_watches_dms`,
    run once on the observability export, has passed (so a mismatch stops the program before any DMS resource)."""
    verdict = alarm_names.apply(lambda names: check_gate_watches_dms(names, where))

    def gated(value: pulumi.Input[Any]) -> pulumi.Output[Any]:
        return pulumi.Output.all(value, verdict).apply(lambda parts: parts[0])

    return gated


def table_mappings(schemas: tuple[str, ...], exclude: tuple[str, ...]) -> dict[str, Any]:
    """DMS selection rules: every table of each schema, minus the exclusions."""
    rules: list[dict[str, Any]] = []
    for schema in schemas:
        rules.append(
            {
                "rule-type": "selection",
                "rule-id": str(len(rules) + 1),
                "rule-name": f"include-{schema}",
                "object-locator": {"schema-name": schema, "table-name": "%"},
                "rule-action": "include",
            }
        )
    for entry in exclude:
        schema, table = entry.split(".", 1)
        rules.append(
            {
                "rule-type": "selection",
                "rule-id": str(len(rules) + 1),
                "rule-name": f"exclude-{schema}-{table}",
                "object-locator": {"schema-name": schema, "table-name": table},
                "rule-action": "exclude",
            }
        )
    return {"rules": rules}


def task_settings() -> dict[str, Any]:
    """Task settings: validation on (off unless asked), CloudWatch logging, LOB handling for payments data."""
    component = ["SOURCE_UNLOAD", "SOURCE_CAPTURE", "TARGET_LOAD", "TARGET_APPLY", "TASK_MANAGER", "VALIDATOR_EXT"]
    return {
        "TargetMetadata": {
            "SupportLobs": True,
            "FullLobMode": False,
            "LobChunkSize": 64,
            "LimitedSizeLobMode": True,
            "LobMaxSize": 32,
            # Transactional apply keeps the source's commit order, which payment ledgers rely on during CDC.
            "BatchApplyEnabled": False,
        },
        "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING", "CommitRate": 10000},
        "Logging": {
            "EnableLogging": True,
            "LogComponents": [{"Id": c, "Severity": "LOGGER_SEVERITY_DEFAULT"} for c in component],
        },
        "ValidationSettings": {
            "EnableValidation": True,
            "ValidationMode": "ROW_LEVEL",
            "ThreadCount": 5,
            "FailureMaxCount": 10000,
            "HandleCollationDiff": True,
        },
        "ErrorBehavior": {"DataErrorPolicy": "LOG_ERROR", "ApplyErrorInsertPolicy": "LOG_ERROR"},
    }


def target_engine(db_engine: str) -> str:
    """DMS engine name of the data layer's database (aurora-mysql -> aurora), as a target and as a source."""
    return "aurora" if db_engine.startswith("aurora") else "mysql"


def reverse_task_settings() -> dict[str, Any]:
    """The reverse task's settings: the forward ones without a full load, and no DDL replayed on-prem.

    CDC only: the on-prem MySQL already holds every row up to the switch point (forward CDC drained before the
    flip). DDL changes are not replicated back (``ChangeProcessingDdlHandlingPolicy``): the on-prem schema is the
    one the fallback returns to, and a schema change during the fallback window is made on both sides by hand.
    """
    settings = task_settings()
    del settings["FullLoadSettings"]
    settings["ChangeProcessingDdlHandlingPolicy"] = {
        "HandleSourceTableDropped": False,
        "HandleSourceTableTruncated": False,
        "HandleSourceTableAltered": False,
    }
    return settings


@dataclasses.dataclass
class ReplicationArgs:
    settings: MigrationSettings
    namer: Namer
    account_id: str
    region: str
    data_subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]  #: the data layer's key: storage of the instance, endpoint secrets
    logs_key_arn: pulumi.Input[str]
    target_engine: pulumi.Input[str]  #: DMS engine name of the data layer's database (:func:`target_engine`)
    #: DMS's own user on the AWS database (data layer's dmsDbSecretArn): forward target, reverse source
    target_secret_arn: pulumi.Input[str]
    target_database: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]


class Replication(pulumi.ComponentResource):
    """Subnet group, instance, endpoints, task, its log group and the CDC-latency alarm the cutover waits on."""

    def __init__(self, name: str, args: ReplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:migration:Replication", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, n = args.settings, args.namer
        assert cfg.dms_source_secret_arn is not None, "Replication is created only when DMS is on"

        subnets = DMS.ReplicationSubnetGroup(
            f"{name}-subnets",
            replication_subnet_group_id=n("dms-subnets", Kind.DMS_IDENTIFIER),
            replication_subnet_group_description=f"DMS replication in the data subnets, payments {n.suffix}",
            subnet_ids=args.data_subnet_ids,
            opts=child,
        )
        instance_id = n("dms", Kind.DMS_IDENTIFIER)
        # DMS writes task logs to "dms-tasks-<instance id>"; created here first so it is encrypted and kept a year.
        self.log_group = log_group(f"{name}-task-logs", f"dms-tasks-{instance_id}", args.logs_key_arn, opts=child)
        self.instance = DMS.ReplicationInstance(
            f"{name}-instance",
            replication_instance_id=instance_id,
            replication_instance_class=cfg.dms_instance_class,
            allocated_storage=cfg.dms_allocated_storage,
            engine_version=cfg.dms_engine_version,
            multi_az=cfg.dms_multi_az,
            publicly_accessible=False,
            kms_key_arn=args.kms_key_arn,
            replication_subnet_group_id=subnets.replication_subnet_group_id,
            vpc_security_group_ids=[args.security_group_id],
            auto_minor_version_upgrade=True,
            apply_immediately=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )

        secrets = [cfg.dms_source_secret_arn, cfg.dms_target_secret_arn or args.target_secret_arn]
        keys: list[Any] = [args.kms_key_arn] + (
            [cfg.dms_source_secret_key_arn] if cfg.dms_source_secret_key_arn else []
        )
        access = aws.iam.Role(
            f"{name}-secrets-role",
            name=n("role-dms-secrets", Kind.IAM_ROLE),
            # Secrets Manager access is assumed by the regional DMS principal.
            assume_role_policy=iam.service_trust(f"dms.{args.region}.amazonaws.com", source_account=args.account_id),
            opts=child,
        )
        secrets_policy = aws.iam.RolePolicy(
            f"{name}-secrets-policy",
            role=access.id,
            policy=iam.document(
                iam.allow(
                    ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    secrets,
                    sid="ReadEndpointSecrets",
                ),
                iam.allow(
                    ["kms:Decrypt"],
                    keys,
                    sid="DecryptEndpointSecrets",
                    Condition={"StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"}},
                ),
            ),
            opts=child,
        )
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[secrets_policy])
        self.source = DMS.Endpoint(
            f"{name}-source",
            endpoint_id=n("dms-source", Kind.DMS_IDENTIFIER),
            endpoint_type="source",
            engine_name="mysql",
            secrets_manager_arn=cfg.dms_source_secret_arn,
            secrets_manager_access_role_arn=access.arn,
            ssl_mode=cfg.dms_source_ssl_mode.value,
            certificate_arn=cfg.dms_source_ca_certificate_arn,
            kms_key_arn=args.kms_key_arn,
            opts=after_policy,
        )
        self.target = DMS.Endpoint(
            f"{name}-target",
            endpoint_id=n("dms-target", Kind.DMS_IDENTIFIER),
            endpoint_type="target",
            engine_name=args.target_engine,
            secrets_manager_arn=secrets[1],
            secrets_manager_access_role_arn=access.arn,
            database_name=args.target_database,
            ssl_mode="require",
            kms_key_arn=args.kms_key_arn,
            opts=after_policy,
        )
        task_id = n("dms-task", Kind.DMS_IDENTIFIER)
        self.task = DMS.ReplicationTask(
            f"{name}-task",
            replication_task_id=task_id,
            # The resource identifier ends the task ARN and names the task in CloudWatch metrics.
            resource_identifier=task_id,
            migration_type="full-load-and-cdc",
            replication_instance_arn=self.instance.replication_instance_arn,
            source_endpoint_arn=self.source.endpoint_arn,
            target_endpoint_arn=self.target.endpoint_arn,
            table_mappings=json.dumps(table_mappings(cfg.dms_schemas, cfg.dms_exclude_tables)),
            replication_task_settings=json.dumps(task_settings()),
            # The cutover state machine starts (or resumes) the task: replication begins when a cutover does.
            start_replication_task=False,
            opts=child,
        )
        # In sync = CDC latency under the threshold for N consecutive minutes. No data means DMS is not
        # replicating: the alarm is then INSUFFICIENT_DATA ("missing"), which the cutover treats as not in sync,
        # without paging anyone after the migration when the task is stopped on purpose.
        self.latency_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-cdc-latency",
            name=n("dms-cdc-latency", Kind.ALARM),
            alarm_description=f"DMS CDC latency above {cfg.cdc_latency_threshold_seconds}s (payments {n.suffix}); "
            "the cutover waits for OK",
            namespace="AWS/DMS",
            metric_name=CDC_LATENCY_METRIC,
            statistic="Maximum",
            period=60,
            evaluation_periods=cfg.cdc_latency_periods,
            datapoints_to_alarm=1,
            threshold=cfg.cdc_latency_threshold_seconds,
            comparison_operator="GreaterThanThreshold",
            dimensions={"ReplicationInstanceIdentifier": instance_id, "ReplicationTaskIdentifier": task_id},
            treat_missing_data="missing",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=child,
        )
        self._reverse(name, args, access.arn, secrets, after_policy)
        self.task_arn = self.task.replication_task_arn
        self.latency_alarm_name = self.latency_alarm.name
        self.register_outputs(
            {
                "taskArn": self.task_arn,
                "reverseTaskArn": self.reverse_task_arn,
                "latencyAlarmName": self.latency_alarm_name,
            }
        )

    def _reverse(
        self,
        name: str,
        args: ReplicationArgs,
        access_role_arn: pulumi.Input[str],
        secrets: list[Any],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """AWS database -> on-prem MySQL, CDC only, created stopped: the switchover starts it, the finish stops it."""
        cfg, n = args.settings, args.namer
        self.reverse_source = DMS.Endpoint(
            f"{name}-reverse-source",
            endpoint_id=n("dms-reverse-source", Kind.DMS_IDENTIFIER),
            endpoint_type="source",
            engine_name=args.target_engine,
            secrets_manager_arn=secrets[1],
            secrets_manager_access_role_arn=access_role_arn,
            ssl_mode="require",
            kms_key_arn=args.kms_key_arn,
            opts=opts,
        )
        self.reverse_target = DMS.Endpoint(
            f"{name}-reverse-target",
            endpoint_id=n("dms-reverse-target", Kind.DMS_IDENTIFIER),
            endpoint_type="target",
            engine_name="mysql",
            secrets_manager_arn=secrets[0],
            secrets_manager_access_role_arn=access_role_arn,
            ssl_mode=cfg.dms_source_ssl_mode.value,
            certificate_arn=cfg.dms_source_ca_certificate_arn,
            kms_key_arn=args.kms_key_arn,
            opts=opts,
        )
        task_id = n("dms-reverse-task", Kind.DMS_IDENTIFIER)
        self.reverse_task = DMS.ReplicationTask(
            f"{name}-reverse-task",
            replication_task_id=task_id,
            resource_identifier=task_id,
            migration_type="cdc",
            replication_instance_arn=self.instance.replication_instance_arn,
            source_endpoint_arn=self.reverse_source.endpoint_arn,
            target_endpoint_arn=self.reverse_target.endpoint_arn,
            table_mappings=json.dumps(table_mappings(cfg.dms_schemas, cfg.dms_exclude_tables)),
            replication_task_settings=json.dumps(reverse_task_settings()),
            # Started by the database switchover, while writes are paused: CDC "from now" loses nothing.
            start_replication_task=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.reverse_task_arn = self.reverse_task.replication_task_arn
