"""The database: Aurora MySQL Serverless v2 or RDS MySQL Multi-AZ, with AWS-managed, rotated credentials.

Both engines share what PCI DSS asks of a cardholder-data store: storage
encrypted with the layer's key (3.5.1), reachable only from the data subnets
through the DB security group (1.3), TLS required by the parameter group
(4.2.1), audit/error/slow-query logs in encrypted year-long log groups (10.2,
10.5.1), automated backups with point-in-time recovery, and a master password
that no person or file ever sees: RDS generates it into Secrets Manager and
Secrets Manager rotates it (8.3.9). Only the secret's ARN leaves this module.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.components.logs import log_group
from payments.core.naming import Kind, Namer
from payments.layers.data.settings import DataSettings, Engine

rds = aws.rds

PORT = 3306  #: the network layer's DB security group admits MySQL on 3306 only
#: Logs exported to CloudWatch (audit needs the audit plugin configured below).
LOG_EXPORTS = ("audit", "error", "slowquery")
#: Aurora's cluster endpoint and any instance may become the writer after a failover;
#: tier 0 is the preferred failover target.
WRITER_TIER, READER_TIER = 0, 1
#: AWS's managed policy for the Enhanced Monitoring role (writes OS metrics to CloudWatch Logs' RDSOSMetrics).
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
#: Binary logging as DMS needs it on a source: the reverse task (AWS -> on-prem, after the database switchover)
#: reads this database's binlog. Aurora turns binary logging on with binlog_format, a static cluster parameter
#: (the writer must reboot once, before the switchover); RDS MySQL logs whenever automated backups are on and
#: changes the format at once. Retention is not a parameter: `invoke binlog-retention` (mysql.rds_set_configuration).
BINLOG_PARAMETERS = {
    "aurora-mysql": (("binlog_format", "ROW", "pending-reboot"), ("binlog_row_image", "FULL", "immediate")),
    "mysql": (("binlog_format", "ROW", "immediate"), ("binlog_row_image", "FULL", "immediate")),
}


@dataclasses.dataclass
class DatabaseArgs:
    settings: DataSettings
    subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    #: the network's AZs in subnet order; the writer goes to the first, readers to the next ones
    az_names: pulumi.Output[list[str]]
    kms_key_arn: pulumi.Input[str]
    #: the network layer's CloudWatch Logs key (every layer's log groups use it)
    logs_key_arn: pulumi.Input[str]
    namer: Namer
    account_id: str


class Database(pulumi.ComponentResource):
    """One database of the configured engine; its endpoints, identity and secret ARN as attributes."""

    identifier: pulumi.Output[str]
    arn: pulumi.Output[str]
    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    secret_arn: pulumi.Output[str]
    parameter_group: rds.ClusterParameterGroup | rds.ParameterGroup
    instances: list[rds.ClusterInstance] | list[rds.Instance]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:Database", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self._args = args
        cfg, n = args.settings, args.namer
        self.engine = cfg.engine
        self.database_name = cfg.database_name
        self.identifier_name = n("payments-db", Kind.DB_IDENTIFIER)
        self.subnet_group = rds.SubnetGroup(
            f"{name}-subnets",
            name=n("payments-db-subnets", Kind.DB_IDENTIFIER),
            description="Payments database: isolated data subnets, one per AZ",
            subnet_ids=args.subnet_ids,
            opts=self._child,
        )
        # RDS creates /aws/rds/... groups itself, unencrypted and kept forever; owning them first
        # gives them the logs key and the PCI retention.
        scope = "cluster" if cfg.engine is Engine.AURORA_MYSQL else "instance"
        self.log_groups = [
            log_group(
                f"{name}-log-{log}",
                f"/aws/rds/{scope}/{self.identifier_name}/{log}",
                args.logs_key_arn,
                cfg.log_retention_days,
                opts=self._child,
            )
            for log in LOG_EXPORTS
        ]
        self.monitoring_role = self._monitoring_role() if cfg.monitoring_interval_seconds else None
        if cfg.engine is Engine.AURORA_MYSQL:
            self._aurora()
        else:
            self._mysql()
        self.rotation = aws.secretsmanager.SecretRotation(
            f"{name}-secret-rotation",
            secret_id=self.secret_arn,
            # A managed secret rotates without a Lambda; AWS's default would be every 7 days.
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=cfg.secret_rotation_days
            ),
            # The password was generated moments ago; the schedule takes over from here.
            rotate_immediately=False,
            opts=self._child,
        )
        self.register_outputs(
            {
                "identifier": self.identifier,
                "arn": self.arn,
                "writerEndpoint": self.writer_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "secretArn": self.secret_arn,
            }
        )

    # --- shared pieces -----------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        """Arguments Aurora clusters and RDS instances spell the same way."""
        cfg, n = self._args.settings, self._args.namer
        return dict(
            port=PORT,
            vpc_security_group_ids=[self._args.security_group_id],
            db_subnet_group_name=self.subnet_group.name,
            storage_encrypted=True,
            kms_key_id=self._args.kms_key_arn,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self._args.kms_key_arn,
            backup_retention_period=cfg.backup_retention_days,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            deletion_protection=cfg.deletion_protection,
            skip_final_snapshot=cfg.skip_final_snapshot,
            final_snapshot_identifier=None if cfg.skip_final_snapshot else n("payments-db-final", Kind.DB_IDENTIFIER),
            copy_tags_to_snapshot=True,
            # People and tools log in with short-lived IAM tokens (rds-db:connect), not shared passwords; the
            # application and DMS have users of their own (payments/layers/data/users.py), never the master.
            iam_database_authentication_enabled=True,
            # Major upgrades are a planned change, never a side effect of `pulumi up`.
            allow_major_version_upgrade=False,
            **self._pinned_version(),
        )

    @staticmethod
    def _pinned_version() -> dict[str, Any]:
        """The engine version is pinned exactly and moved only through config, tested in dev then promoted: AWS's
        automatic minor upgrades stay off (AWS recommends so for LTS releases such as Aurora MySQL 3.10), so the
        next deploy never plans a downgrade from a version AWS chose (pulumi-aws#5756). docs/data.md."""
        return {"auto_minor_version_upgrade": False}

    def _monitoring_role(self) -> aws.iam.Role:
        """The role Enhanced Monitoring assumes to write OS metrics (AWS's managed policy for it)."""
        n = self._args.namer
        role = aws.iam.Role(
            f"{self._name}-monitoring-role",
            name=n("role-rds-monitoring", Kind.IAM_ROLE),
            assume_role_policy=iam.service_trust("monitoring.rds.amazonaws.com", source_account=self._args.account_id),
            opts=self._child,
        )
        aws.iam.RolePolicyAttachment(
            f"{self._name}-monitoring-policy", role=role.name, policy_arn=MONITORING_POLICY, opts=self._child
        )
        return role

    def _monitoring(self) -> dict[str, Any]:
        if self.monitoring_role is None:
            return {"monitoring_interval": 0}
        return {
            "monitoring_interval": self._args.settings.monitoring_interval_seconds,
            "monitoring_role_arn": self.monitoring_role.arn,
        }

    def _insights(self) -> dict[str, Any]:
        cfg = self._args.settings
        if not cfg.performance_insights:
            return {"performance_insights_enabled": False}
        return dict(
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self._args.kms_key_arn,
            performance_insights_retention_period=cfg.performance_insights_retention_days,
        )

    def _depends(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(self.log_groups))

    def _zone(self, index: int) -> pulumi.Output[str]:
        """The `index`-th AZ of the network, wrapping around when there are more instances than AZs."""
        return self._args.az_names.apply(lambda zones: zones[index % len(zones)])

    @staticmethod
    def _first_secret(secrets: Any) -> str:
        first = secrets[0]
        return first["secret_arn"] if isinstance(first, dict) else first.secret_arn

    # --- Aurora MySQL Serverless v2 -----------------------------------------------

    def _aurora(self) -> None:
        cfg, n, name = self._args.settings, self._args.namer, self._name
        params = [
            ("require_secure_transport", "ON", "immediate"),
            # tls_version is static: it takes effect at the next reboot.
            ("tls_version", "TLSv1.2,TLSv1.3", "pending-reboot"),
            ("server_audit_logging", "1", "immediate"),
            ("server_audit_events", ",".join(cfg.audit_events), "immediate"),
            ("server_audit_excl_users", "rdsadmin", "immediate"),
            ("slow_query_log", "1", "immediate"),
            ("long_query_time", f"{cfg.slow_query_seconds:g}", "immediate"),
            ("log_output", "FILE", "immediate"),
            *BINLOG_PARAMETERS["aurora-mysql"],
        ]
        self.parameter_group = rds.ClusterParameterGroup(
            f"{name}-cluster-params",
            name=n("payments-db-cluster-params", Kind.DB_IDENTIFIER),
            family="aurora-mysql8.0",
            description="Payments Aurora MySQL: TLS required, audit and slow-query logs, row binlog",
            parameters=[rds.ClusterParameterGroupParameterArgs(name=k, value=v, apply_method=m) for k, v, m in params],
            opts=self._child,
        )
        self.cluster = rds.Cluster(
            name,
            cluster_identifier=self.identifier_name,
            engine="aurora-mysql",
            engine_mode="provisioned",
            engine_version=cfg.aurora_engine_version,
            database_name=cfg.database_name,
            master_username=cfg.master_username,
            db_cluster_parameter_group_name=self.parameter_group.name,
            serverlessv2_scaling_configuration=rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=cfg.min_capacity, max_capacity=cfg.max_capacity
            ),
            preferred_backup_window=cfg.backup_window,
            preferred_maintenance_window=cfg.maintenance_window,
            **self._common(),
            opts=self._depends(),
        )
        # Writer in the first AZ, each reader in the next one: losing an AZ promotes a reader.
        self.instances = [
            rds.ClusterInstance(
                f"{name}-{i + 1}",
                identifier=n(f"payments-db-{i + 1}", Kind.DB_IDENTIFIER),
                cluster_identifier=self.cluster.id,
                engine=rds.EngineType.AURORA_MYSQL,
                engine_version=self.cluster.engine_version,
                instance_class="db.serverless",
                availability_zone=self._zone(i),
                db_subnet_group_name=self.subnet_group.name,
                publicly_accessible=False,
                promotion_tier=WRITER_TIER if i == 0 else READER_TIER,
                copy_tags_to_snapshot=True,
                preferred_maintenance_window=cfg.maintenance_window,
                **self._pinned_version(),
                **self._insights(),
                **self._monitoring(),
                opts=self._child,
            )
            for i in range(1 + cfg.reader_count)
        ]
        self.identifier = self.cluster.cluster_identifier
        self.arn = self.cluster.arn
        self.writer_endpoint = self.cluster.endpoint
        self.reader_endpoint = self.cluster.reader_endpoint
        self.port = self.cluster.port
        self.secret_arn = self.cluster.master_user_secrets.apply(self._first_secret)

    # --- RDS MySQL Multi-AZ ---------------------------------------------------------

    def _mysql(self) -> None:
        cfg, n, name = self._args.settings, self._args.namer, self._name
        params = [
            ("require_secure_transport", "1", "immediate"),
            ("tls_version", "TLSv1.2,TLSv1.3", "pending-reboot"),
            ("slow_query_log", "1", "immediate"),
            ("long_query_time", f"{cfg.slow_query_seconds:g}", "immediate"),
            ("log_output", "FILE", "immediate"),
            *BINLOG_PARAMETERS["mysql"],
        ]
        self.parameter_group = rds.ParameterGroup(
            f"{name}-params",
            name=n("payments-db-params", Kind.DB_IDENTIFIER),
            family="mysql8.0",
            description="Payments MySQL: TLS required, slow-query log, row binlog",
            parameters=[rds.ParameterGroupParameterArgs(name=k, value=v, apply_method=m) for k, v, m in params],
            opts=self._child,
        )
        # RDS for MySQL writes the audit log through the MariaDB audit plugin option.
        self.option_group = rds.OptionGroup(
            f"{name}-options",
            name=n("payments-db-options", Kind.DB_IDENTIFIER),
            engine_name="mysql",
            major_engine_version="8.0",
            option_group_description="Payments MySQL: audit plugin",
            options=[
                rds.OptionGroupOptionArgs(
                    option_name="MARIADB_AUDIT_PLUGIN",
                    option_settings=[
                        rds.OptionGroupOptionOptionSettingArgs(
                            name="SERVER_AUDIT_EVENTS", value=",".join(cfg.audit_events)
                        ),
                        rds.OptionGroupOptionOptionSettingArgs(name="SERVER_AUDIT_EXCL_USERS", value="rdsadmin"),
                    ],
                )
            ],
            opts=self._child,
        )
        self.instance = rds.Instance(
            name,
            identifier=self.identifier_name,
            engine="mysql",
            engine_version=cfg.mysql_engine_version,
            instance_class=cfg.instance_class,
            allocated_storage=cfg.allocated_storage,
            max_allocated_storage=cfg.max_allocated_storage,
            storage_type="gp3",
            db_name=cfg.database_name,
            username=cfg.master_username,
            multi_az=cfg.multi_az,
            publicly_accessible=False,
            parameter_group_name=self.parameter_group.name,
            option_group_name=self.option_group.name,
            backup_window=cfg.backup_window,
            maintenance_window=cfg.maintenance_window,
            **self._common(),
            **self._insights(),
            **self._monitoring(),
            opts=self._depends(),
        )
        self.instances = [self.instance]
        self.identifier = self.instance.identifier
        self.arn = self.instance.arn
        # RDS MySQL has one endpoint; the standby takes it over on failover.
        self.writer_endpoint = self.instance.address
        self.reader_endpoint = self.instance.address
        self.port = self.instance.port
        self.secret_arn = self.instance.master_user_secrets.apply(self._first_secret)
