"""Settings of the data layer (``payments-data:*`` in ``data/Pulumi.<env>.yaml``)."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re

from payments.core import retention
from payments.core.config import setting
from payments.core.errors import ConfigError, UserError
from payments.core.naming import Kind, Namer, check
from payments.core.retention import MIN_RETENTION_DAYS
from payments.layers.data.users import APP_USER, DMS_USER


class Engine(enum.Enum):
    """Which MySQL-compatible database the layer builds."""

    AURORA_MYSQL = "aurora-mysql"  #: Aurora MySQL 3 Serverless v2 cluster: writer + readers in other AZs (seed A)
    MYSQL = "mysql"  #: RDS for MySQL 8.0 instance with a Multi-AZ standby (seed B)


#: Events the audit plugin understands (Aurora's server_audit_events and RDS's MARIADB_AUDIT_PLUGIN).
AUDIT_EVENTS = ("CONNECT", "QUERY", "QUERY_DCL", "QUERY_DDL", "QUERY_DML", "TABLE")
#: Performance Insights keeps 7 days free, then whole months (31 days) up to 2 years.
PI_RETENTION_DAYS = (7, *(31 * m for m in range(1, 24)), 731)
#: Continuous backup (point-in-time restore) keeps at most 35 days.
MAX_CONTINUOUS_DAYS = 35
#: Every S3 bucket name ends with "-<suffix>-<12-digit account id>".
ACCOUNT_ID_LENGTH = 12

_AURORA_VERSION = re.compile(r"^8\.0\.mysql_aurora\.3\.(\d+)\.(\d+)$")
_MYSQL_VERSION = re.compile(r"^8\.0\.\d+$")
#: Enhanced Monitoring granularities RDS accepts (0: off).
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PATH = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")
_PARAM_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINTENANCE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)
_DAILY_CRON = re.compile(r"^cron\(\d{1,2} \d{1,2} (\*|\?) \* (\*|\?) \*\)$")
#: `binlog retention hours` AWS accepts per engine (mysql.rds_set_configuration).
MAX_BINLOG_RETENTION_HOURS = {"aurora-mysql": 2160, "mysql": 168}
_MYSQL_RESERVED_USERS = {"admin", "rdsadmin", "root", "mysql", "rdsrepladmin"}


@dataclasses.dataclass(frozen=True)
class DataSettings:
    # --- database ---
    engine: Engine = setting(
        Engine.AURORA_MYSQL, doc="aurora-mysql (Serverless v2 cluster) or mysql (RDS MySQL 8.0 Multi-AZ)"
    )
    aurora_engine_version: str = setting(
        "8.0.mysql_aurora.3.10.0",
        promotable=True,
        doc="exact Aurora MySQL 3 version (engine aurora-mysql); 3.10 is an LTS release. Automatic minor upgrades "
        "are off: a new version is set here, tested in dev and promoted",
    )
    mysql_engine_version: str = setting(
        "8.0.42",
        promotable=True,
        doc="exact RDS MySQL 8.0 version (engine mysql); automatic minor upgrades are off: a new version is set "
        "here, tested in dev and promoted",
    )
    min_capacity: float = setting(
        0.5, minimum=0, maximum=256, doc="Serverless v2 minimum ACUs (0 pauses when idle, 3.08+)"
    )
    max_capacity: float = setting(4, minimum=1, maximum=256, doc="Serverless v2 maximum ACUs")
    reader_count: int = setting(
        1, minimum=0, maximum=15, doc="Aurora readers, each in another AZ than the writer (failover targets)"
    )
    instance_class: str = setting("db.m6g.large", doc="RDS MySQL instance class (engine mysql)")
    allocated_storage: int = setting(50, minimum=20, maximum=65536, doc="RDS MySQL initial storage, GiB")
    max_allocated_storage: int = setting(
        500, minimum=20, maximum=65536, doc="RDS MySQL storage autoscaling ceiling, GiB"
    )
    multi_az: bool = setting(True, doc="RDS MySQL synchronous standby in another AZ (engine mysql)")
    database_name: str = setting("payments", doc="initial database (schema) name")
    master_username: str = setting("payments_admin", doc="master user name; its password is generated and held by AWS")
    secret_rotation_days: int = setting(
        30,
        minimum=1,
        maximum=30,
        promotable=True,
        doc="rotate the AWS-managed master password every N days (PCI DSS 8.3.9)",
    )
    backup_retention_days: int = setting(
        30, minimum=7, maximum=MAX_CONTINUOUS_DAYS, doc="automated DB backups (point-in-time recovery) kept, days"
    )
    backup_window: str = setting("03:00-04:00", promotable=True, doc="daily automated backup window, UTC hh:mm-hh:mm")
    maintenance_window: str = setting(
        "sun:04:30-sun:05:30",
        promotable=True,
        doc="weekly maintenance window (minor upgrades), UTC ddd:hh:mm-ddd:hh:mm",
    )
    deletion_protection: bool = setting(
        False, doc="refuse to delete the database (on in production; `invoke destroy --confirm <env>` lifts it first)"
    )
    monitoring_interval_seconds: int = setting(
        0, doc="Enhanced Monitoring (OS metrics) every N seconds: 0 (off), 1, 5, 10, 15, 30 or 60"
    )
    skip_final_snapshot: bool = setting(False, doc="destroy without a final snapshot (dev only; prod keeps one)")
    performance_insights: bool = setting(False, doc="Performance Insights, encrypted with the layer key")
    performance_insights_retention_days: int = setting(
        7, promotable=True, doc="Performance Insights history: 7, a multiple of 31 up to 713, or 731"
    )
    slow_query_seconds: float = setting(
        1.0, minimum=0, maximum=3600, promotable=True, doc="queries slower than this go to the slow-query log"
    )
    audit_events: tuple[str, ...] = setting(
        ("CONNECT", "QUERY_DCL", "QUERY_DDL"), promotable=True, doc="audit log events (CloudWatch, PCI DSS 10.2)"
    )
    log_retention_days: int = setting(MIN_RETENTION_DAYS, doc="DB log groups retention (>= 365, a CloudWatch value)")
    # --- the single writer (docs/app-contract.md) ---
    on_prem_db_address: ipaddress.IPv4Address | None = setting(
        None,
        doc="on-prem MySQL's IPv4 address, inside payments-network:onPremCidrs: the A record onprem-db.<suffix>."
        "payments.internal, where the indirection db.<suffix>.payments.internal starts (unset: no on-prem database, "
        "the indirection starts at the AWS writer)",
        example="172.16.20.10",
    )
    binlog_retention_hours: int = setting(
        168,
        minimum=1,
        maximum=MAX_BINLOG_RETENTION_HOURS["aurora-mysql"],
        promotable=True,
        doc="hours the AWS database keeps binlogs for the reverse replication (`invoke binlog-retention`); Aurora "
        "allows up to 2160, RDS MySQL up to 168",
    )
    # --- Parameter Store ---
    parameter_prefix: str = setting("/payments", doc="Parameter Store root; the layer writes under <prefix>/<suffix>/")
    app_settings: dict[str, str] | None = setting(
        None, promotable=True, doc="feature settings, written as String parameters under <path>/app/<key>"
    )
    # --- S3 ---
    app_logs_bucket_prefix: str = setting(
        "payments-app-logs", doc="application log bucket, before -<suffix>-<account id>"
    )
    static_bucket_prefix: str = setting("payments-static", doc="static content bucket, before -<suffix>-<account id>")
    config_archive_bucket_prefix: str = setting(
        "payments-config-archive", doc="config archive bucket (task definitions), before -<suffix>-<account id>"
    )
    access_logs_bucket_prefix: str = setting(
        "payments-s3-access-logs", doc="S3 server access logs of the three buckets, before -<suffix>-<account id>"
    )
    app_logs_expire_days: int = setting(
        400, minimum=MIN_RETENTION_DAYS, doc="delete application logs after N days (>= 365)"
    )
    # --- AWS Backup ---
    backup_schedule: str = setting(
        "cron(0 5 * * ? *)", promotable=True, doc="daily backup rule schedule, an AWS cron expression in UTC"
    )
    backup_plan_retention_days: int = setting(
        30, minimum=30, maximum=MAX_CONTINUOUS_DAYS, doc="recovery points kept by the backup plan, days (PCI: 30)"
    )
    backup_vault_force_destroy: bool = setting(
        True, doc="delete recovery points with the vault on destroy (stays destroyable)"
    )

    def check(self, where: str) -> None:
        if self.monitoring_interval_seconds not in MONITORING_INTERVALS:
            raise ConfigError(
                f"{where}:monitoringIntervalSeconds",
                f"{self.monitoring_interval_seconds} is not an Enhanced Monitoring interval",
                f"use one of {', '.join(map(str, MONITORING_INTERVALS))}",
            )
        if self.engine is Engine.AURORA_MYSQL:
            match = _AURORA_VERSION.match(self.aurora_engine_version)
            if not match:
                raise ConfigError(
                    f"{where}:auroraEngineVersion",
                    f"'{self.aurora_engine_version}' is not an Aurora MySQL 3 version",
                    "write it like 8.0.mysql_aurora.3.10.0",
                )
            if self.min_capacity > self.max_capacity:
                raise ConfigError(
                    f"{where}:minCapacity",
                    f"{self.min_capacity:g} ACU is above maxCapacity {self.max_capacity:g}",
                    "set minCapacity <= maxCapacity",
                )
            if self.min_capacity * 2 != int(self.min_capacity * 2) or self.max_capacity * 2 != int(
                self.max_capacity * 2
            ):
                raise ConfigError(
                    f"{where}:minCapacity", "capacities move in steps of 0.5 ACU", "use values such as 0.5, 1, 1.5"
                )
            if self.min_capacity == 0 and int(match.group(1)) < 8:
                raise ConfigError(
                    f"{where}:minCapacity",
                    "0 ACU (auto-pause) needs Aurora MySQL 3.08 or later",
                    "use 0.5, or auroraEngineVersion 8.0.mysql_aurora.3.08.0 or later",
                )
        else:
            if not _MYSQL_VERSION.match(self.mysql_engine_version):
                raise ConfigError(
                    f"{where}:mysqlEngineVersion",
                    f"'{self.mysql_engine_version}' is not an exact MySQL 8.0 version (automatic minor upgrades are "
                    "off, so the version is pinned)",
                    "write the exact version, e.g. 8.0.42",
                )
            if not self.instance_class.startswith("db.") or self.instance_class == "db.serverless":
                raise ConfigError(
                    f"{where}:instanceClass",
                    f"'{self.instance_class}' is not an RDS instance class",
                    "use e.g. db.t4g.medium or db.m6g.large",
                )
            if self.max_allocated_storage < self.allocated_storage:
                raise ConfigError(
                    f"{where}:maxAllocatedStorage",
                    f"{self.max_allocated_storage} GiB is below allocatedStorage {self.allocated_storage}",
                    "set it >= allocatedStorage (it is the autoscaling ceiling)",
                )
            if self.performance_insights and any(size in self.instance_class for size in (".micro", ".small")):
                raise ConfigError(
                    f"{where}:performanceInsights",
                    f"not available on {self.instance_class}",
                    "use a medium or larger class, or set performanceInsights: false",
                )
        limit = MAX_BINLOG_RETENTION_HOURS[self.engine.value]
        if self.binlog_retention_hours > limit:
            raise ConfigError(
                f"{where}:binlogRetentionHours",
                f"{self.binlog_retention_hours} h is above what {self.engine.value} keeps ({limit} h)",
                f"set at most {limit}",
            )
        if not _IDENT.match(self.database_name) or len(self.database_name) > 64:
            raise ConfigError(
                f"{where}:databaseName",
                f"'{self.database_name}' is not a valid database name",
                "use up to 64 letters, digits or '_', starting with a letter",
            )
        if (
            not _IDENT.match(self.master_username)
            or len(self.master_username) > 16
            or self.master_username.lower() in _MYSQL_RESERVED_USERS | {APP_USER, DMS_USER}
        ):
            raise ConfigError(
                f"{where}:masterUsername",
                f"'{self.master_username}' is not allowed",
                "use up to 16 letters, digits or '_', starting with a letter, not a reserved name such as admin or "
                f"the app's and DMS's users ({APP_USER}, {DMS_USER})",
            )
        if self.backup_retention_days != self.backup_plan_retention_days:
            # The backup plan's continuous rule takes over the database's automated backups and sets their retention
            # to its own: two different values would show as drift on every refresh and mislead about recovery.
            raise ConfigError(
                f"{where}:backupRetentionDays",
                f"{self.backup_retention_days} differs from backupPlanRetentionDays {self.backup_plan_retention_days}"
                " (AWS Backup's continuous backup manages the database's retention)",
                "set both to the same number of days (30-35)",
            )
        if not _WINDOW.match(self.backup_window):
            raise ConfigError(
                f"{where}:backupWindow", f"'{self.backup_window}' is not hh:mm-hh:mm", "write e.g. 03:00-04:00 (UTC)"
            )
        if not _MAINTENANCE.match(self.maintenance_window):
            raise ConfigError(
                f"{where}:maintenanceWindow",
                f"'{self.maintenance_window}' is not ddd:hh:mm-ddd:hh:mm",
                "write e.g. sun:04:30-sun:05:30 (UTC)",
            )
        if self.performance_insights_retention_days not in PI_RETENTION_DAYS:
            raise ConfigError(
                f"{where}:performanceInsightsRetentionDays",
                f"{self.performance_insights_retention_days} is not allowed",
                "use 7, a multiple of 31 up to 713, or 731",
            )
        unknown = [e for e in self.audit_events if e not in AUDIT_EVENTS]
        if unknown or not self.audit_events:
            raise ConfigError(
                f"{where}:auditEvents",
                f"unknown or empty ({', '.join(unknown) or 'none given'})",
                f"list some of: {', '.join(AUDIT_EVENTS)}",
            )
        retention.check(self.log_retention_days, f"{where}:logRetentionDays")
        if not _PATH.match(self.parameter_prefix):
            raise ConfigError(
                f"{where}:parameterPrefix",
                f"'{self.parameter_prefix}' is not a parameter path",
                "write e.g. /payments (leading slash, no trailing slash)",
            )
        for key in self.app_settings or {}:
            if not _PARAM_KEY.match(key):
                raise ConfigError(
                    f"{where}:appSettings.{key}",
                    "not a valid parameter name",
                    "use letters, digits, '_', '.', '-' (and '/' between parts)",
                )
        if not _DAILY_CRON.match(self.backup_schedule):
            raise ConfigError(
                f"{where}:backupSchedule",
                f"'{self.backup_schedule}' is not a daily AWS cron expression",
                "write e.g. cron(0 5 * * ? *) (05:00 UTC every day)",
            )

    def bucket_name(self, key: str, namer: Namer, account_id: str, where: str) -> str:
        """The bucket name for the prefix setting `key` (camelCase), or a ConfigError naming it."""
        prefix = getattr(self, _snake(key))
        name = f"{prefix}-{namer.suffix}-{account_id}"
        limit = Kind.S3_BUCKET.value.max_length
        if len(name) > limit:
            raise ConfigError(
                f"{where}:{key}",
                f"bucket name '{name}' would be {len(name)} characters, S3 allows {limit}",
                f"shorten {key} to at most {limit - len(name) + len(prefix)} characters",
            )
        try:
            return check(namer.bucket(prefix, account_id), Kind.S3_BUCKET)
        except UserError as exc:
            raise ConfigError(
                f"{where}:{key}",
                f"'{prefix}' cannot start a bucket name ({exc})",
                "use lowercase letters, digits and hyphens",
            ) from None


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)
