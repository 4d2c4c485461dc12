"""Settings of the migration layer (``payments-migration:*`` in ``migration/Pulumi.<env>.yaml``)."""

from __future__ import annotations

import dataclasses
import enum
import re

from payments.core import retention
from payments.core.aws_rules import DMS_CERTIFICATE, KMS_KEY, SECRET
from payments.core.config import setting
from payments.core.errors import ConfigError
from payments.core.retention import MIN_RETENTION_DAYS
from payments.layers.migration import budget
from payments.layers.migration.schedule import (
    MAX_POLLS,
    CutoverInput,
    Pool,
    check_pools,
    check_steps,
)

PROJECT = "payments-migration"
#: Polls the waits inside a write pause need at the least (drained, forward stopped, reverse running).
MIN_PAUSE_POLLS = 3
_TABLE = re.compile(r"^[A-Za-z0-9_$%]+\.[A-Za-z0-9_$%]+$")


class SslMode(enum.Enum):
    """TLS between DMS and the on-prem MySQL (PCI DSS 4.2.1: never clear text)."""

    REQUIRE = "require"  #: encrypted, server certificate not verified
    VERIFY_CA = "verify-ca"  #: encrypted, certificate signed by dmsSourceCaCertificateArn
    VERIFY_FULL = "verify-full"  #: as verify-ca, and the host name matches


@dataclasses.dataclass(frozen=True)
class MigrationSettings:
    """Only the traffic schedule (and the DMS engine version) is promotable: dev rehearses the schedule prod
    will run. Timing (bake, polls, hold), DMS capacity and CDC latency thresholds are environment-specific on
    purpose (dev is short and small, prod long and Multi-AZ), so `invoke promote` never copies them."""

    # -- cutover defaults (an execution's input overrides each) --------------------
    source_pool: Pool = setting(Pool.LEGACY, doc="pool traffic leaves: legacy (on-prem), blue or green")
    target_pool: Pool = setting(Pool.BLUE, doc="pool traffic moves to: blue or green")
    traffic_steps: tuple[int, ...] = setting(
        (10, 50, 100), promotable=True, doc="percent of traffic on the target after each step; increasing, ends at 100"
    )
    bake_seconds: int = setting(
        300,
        minimum=0,
        maximum=budget.MAX_BAKE_SECONDS,
        doc="how long each step bakes, the gate read every pollSeconds; at least the gate's window "
        "(observability's gateWindowSeconds)",
    )
    poll_seconds: int = setting(
        30,
        minimum=5,
        maximum=budget.MAX_POLL_SECONDS,
        doc="interval of the gate readings during bakes and the hold, and of the bounded waits (DMS in sync, "
        "target service stable)",
    )
    max_polls: int = setting(
        40,
        minimum=1,
        maximum=MAX_POLLS,
        doc="the bounded waits give up (abort, no traffic moved) after this many polls",
    )
    target_desired_count: int = setting(2, minimum=1, maximum=100, doc="tasks the target service runs for the cutover")
    scale_down_source: bool = setting(
        False, doc="scale the source ECS service to 0 after the hold (never the on-prem pool)"
    )
    source_hold_seconds: int = setting(
        3600,
        minimum=0,
        maximum=budget.MAX_HOLD_SECONDS,
        doc="how long the source stays warm after 100 % before it may be scaled down",
    )
    stickiness_seconds: int = setting(
        0,
        minimum=0,
        maximum=604800,
        doc="ALB stickiness across pools during the split (0: off, a rollback moves every client)",
    )
    log_retention_days: int = setting(MIN_RETENTION_DAYS, doc="execution log retention (>= 365, a CloudWatch value)")
    # -- database switchover and fallback (the writer machines) ------------------------
    max_write_pause_seconds: int = setting(
        300,
        minimum=60,
        maximum=900,
        doc="longest the database switchover or fallback may pause writes (503 at the ALB), API calls included; "
        "the poll loops inside the pause are sized from it",
    )
    drain_seconds: int = setting(
        10, minimum=1, maximum=120, doc="wait after writes are paused for requests already in flight to finish"
    )
    pause_poll_seconds: int = setting(
        5, minimum=1, maximum=60, doc="interval of the waits inside the write pause (CDC drained, task stopped/running)"
    )
    switchover_hold_seconds: int = setting(
        300,
        minimum=0,
        maximum=3600,
        doc="the listener must send 0 % to the legacy pool for this long, watched every pollSeconds, before the "
        "switchover pauses writes",
    )
    # -- DMS (on when dmsSourceSecretArn is set) -------------------------------------
    dms_source_secret_arn: str | None = setting(
        None,
        example="arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf",
        doc="Secrets Manager secret of DMS's user on the on-prem MySQL (host, port, username, password): the forward "
        "task reads with it, the reverse task writes with it (grants: invoke db-users); set it to turn DMS on",
        arn=SECRET,
    )
    dms_source_secret_key_arn: str | None = setting(
        None, doc="KMS key of that secret when it is not aws/secretsmanager", arn=KMS_KEY
    )
    dms_source_ssl_mode: SslMode = setting(
        SslMode.VERIFY_FULL, doc="TLS to the on-prem MySQL: require, verify-ca, verify-full"
    )
    dms_source_ca_certificate_arn: str | None = setting(
        None, doc="DMS certificate ARN of the on-prem CA (verify-ca/verify-full)", arn=DMS_CERTIFICATE
    )
    dms_target_secret_arn: str | None = setting(
        None,
        doc="secret DMS logs in to the target with (host, port, username, password); "
        "default: the data layer's DMS user (dmsDbSecretArn, never the master)",
        arn=SECRET,
    )
    dms_instance_class: str = setting("dms.t3.medium", doc="replication instance class")
    dms_allocated_storage: int = setting(50, minimum=5, maximum=6144, doc="replication instance storage (GiB)")
    dms_engine_version: str | None = setting(None, promotable=True, doc="DMS engine version (default: AWS's current)")
    dms_multi_az: bool = setting(True, doc="Multi-AZ replication instance (prod: true)")
    dms_schemas: tuple[str, ...] = setting(("payments",), doc="source schemas replicated (every table of each)")
    dms_exclude_tables: tuple[str, ...] = setting((), doc="schema.table entries left out of the replication")
    cdc_latency_threshold_seconds: int = setting(
        10, minimum=1, maximum=3600, doc="CDC latency (CDCLatencyTarget) that counts as in sync"
    )
    cdc_latency_periods: int = setting(
        3, minimum=1, maximum=60, doc="minutes the latency must stay under the threshold"
    )

    @property
    def dms_enabled(self) -> bool:
        return self.dms_source_secret_arn is not None

    @property
    def pause(self) -> budget.PauseBudget:
        return budget.PauseBudget(self.max_write_pause_seconds, self.drain_seconds, self.pause_poll_seconds)

    def cutover_defaults(self, task_definition: str | None = None) -> CutoverInput:
        return CutoverInput(
            source_pool=self.source_pool,
            target_pool=self.target_pool,
            steps=self.traffic_steps,
            bake_seconds=self.bake_seconds,
            poll_seconds=self.poll_seconds,
            max_polls=self.max_polls,
            desired_count=self.target_desired_count,
            task_definition=task_definition,
            scale_down_source=self.scale_down_source,
            hold_seconds=self.source_hold_seconds,
            keys={
                field: f"{PROJECT}:{key}"
                for field, key in (
                    ("source_pool", "sourcePool"),
                    ("target_pool", "targetPool"),
                    ("steps", "trafficSteps"),
                    ("bake_seconds", "bakeSeconds"),
                    ("poll_seconds", "pollSeconds"),
                    ("max_polls", "maxPolls"),
                    ("desired_count", "targetDesiredCount"),
                    ("hold_seconds", "sourceHoldSeconds"),
                    ("task_definition", "taskDefinition"),
                )
            },
        )

    def check(self, where: str) -> None:
        check_pools(self.source_pool, self.target_pool, f"{where}:sourcePool", f"{where}:targetPool")
        check_steps(self.traffic_steps, f"{where}:trafficSteps")
        self.cutover_defaults()  # the waits fit the history budget (errors name the config keys)
        if self.pause.polls < MIN_PAUSE_POLLS:
            least = dataclasses.replace(self.pause, max_pause_seconds=0).longest_seconds + MIN_PAUSE_POLLS * (
                self.pause_poll_seconds + budget.PAUSE_TASK_WORST_SECONDS
            )
            raise ConfigError(
                f"{where}:maxWritePauseSeconds",
                f"{self.max_write_pause_seconds} s leaves room for {self.pause.polls} polls inside the write pause "
                f"(drainSeconds {self.drain_seconds}, pausePollSeconds {self.pause_poll_seconds}, and "
                f"{budget.PAUSE_TASKS} AWS calls of up to {budget.PAUSE_TASK_WORST_SECONDS} s each); "
                f"the waits need at least {MIN_PAUSE_POLLS}",
                f"raise maxWritePauseSeconds to at least {least}, or shorten drainSeconds/pausePollSeconds",
            )
        retention.check(self.log_retention_days, f"{where}:logRetentionDays")
        if self.scale_down_source and self.source_pool is Pool.LEGACY:
            raise ConfigError(
                f"{where}:scaleDownSource",
                "the legacy pool is on-prem and cannot be scaled down",
                "set scaleDownSource: false, or use a blue/green source pool",
            )
        # The ARNs' shape, partition, region and account: config.check_arns (declared with arn= above).
        if not self.dms_enabled:
            for key, value in (
                ("dmsTargetSecretArn", self.dms_target_secret_arn),
                ("dmsSourceSecretKeyArn", self.dms_source_secret_key_arn),
                ("dmsSourceCaCertificateArn", self.dms_source_ca_certificate_arn),
            ):
                if value is not None:
                    raise ConfigError(
                        f"{where}:dmsSourceSecretArn",
                        f"DMS is on ({key} is set) without a source secret",
                        "set dmsSourceSecretArn to the on-prem MySQL secret, or remove the DMS keys",
                    )
            return
        if self.dms_source_ssl_mode is not SslMode.REQUIRE and self.dms_source_ca_certificate_arn is None:
            raise ConfigError(
                f"{where}:dmsSourceCaCertificateArn",
                f"dmsSourceSslMode {self.dms_source_ssl_mode.value} needs the on-prem CA certificate",
                "import the CA with `aws dms import-certificate` and set its ARN, or use dmsSourceSslMode: require",
            )
        if not self.dms_schemas:
            raise ConfigError(
                f"{where}:dmsSchemas", "no schema to replicate", "list the source schemas, e.g. [payments]"
            )
        for table in self.dms_exclude_tables:
            if not _TABLE.match(table):
                raise ConfigError(
                    f"{where}:dmsExcludeTables", f"'{table}' is not schema.table", "write e.g. payments.audit_tmp"
                )


def for_environment(env: str) -> MigrationSettings:
    """`env`'s migration settings as its stack file sets them, without planning (one line if the environment or
    the file is wrong)."""
    from payments.core import config, stackfiles
    from payments.core.environment import load_environment

    load_environment(env)
    return config.load(MigrationSettings, stackfiles.own("migration", stackfiles.config("migration", env)),
                       where=PROJECT)
