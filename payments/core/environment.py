"""Environment-wide settings, written once per environment.

``environments/<env>.yaml`` at the repository root holds what every layer of
that environment shares (region, organization, suffix, cost centre, migration
phase). Each layer finds it from its stack name, so ``pulumi up`` run directly
inside a layer folder reads the same file ``invoke`` does.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path

from payments.core import aws_rules, config, yamlfiles
from payments.core.config import setting
from payments.core.errors import ConfigError, UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS_DIR = REPO_ROOT / "environments"

_SUFFIX = re.compile(r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$")
_ACCOUNT = re.compile(r"^\d{12}$")


class MigrationPhase(enum.Enum):
    """Where the environment stands in the migration; tagged on every resource."""

    PREPARE = "prepare"  #: AWS side being built, no traffic
    PARALLEL_RUN = "parallel-run"  #: legacy serves traffic, on-prem MySQL is the writer, DMS copies it to Aurora
    APP_CUTOVER = "app-cutover"  #: traffic moving between pools; on-prem MySQL is still the writer
    APP_ON_AWS = "app-on-aws"  #: blue/green serve all traffic over the on-prem MySQL (through the DB indirection)
    ROLLED_BACK = "rolled-back"  #: a traffic cutover put traffic back on its source pool; on-prem is the writer
    DB_SWITCHOVER = "db-switchover"  #: writes paused while the writer moves on-prem -> Aurora
    DB_ON_AWS = "db-on-aws"  #: Aurora is the writer; reverse DMS keeps on-prem current (the fallback window)
    DB_FALLBACK = "db-fallback"  #: writes paused while the writer moves Aurora -> on-prem
    COMPLETE = "cutover-complete"  #: Aurora is the writer for good; reverse replication stopped

    @property
    def aurora_writes(self) -> bool:
        """Aurora is (or is becoming) the writer: traffic must never go to the legacy pool, which writes on-prem."""
        return self in AURORA_PHASES


#: Phases in which Aurora is, or is about to be, the writer.
AURORA_PHASES = frozenset(
    {MigrationPhase.DB_SWITCHOVER, MigrationPhase.DB_ON_AWS, MigrationPhase.DB_FALLBACK, MigrationPhase.COMPLETE}
)


@dataclasses.dataclass(frozen=True)
class EnvironmentSettings:
    cost_center: str = setting(doc="CostCenter tag on every resource", example="payments-platform")
    region: str = setting("us-east-1", doc="AWS region of every layer")
    organization: str = setting(
        "organization",
        doc="Pulumi organization in StackReference names; 'organization' on a self-managed backend",
    )
    environment_suffix: str | None = setting(
        None, doc="suffix in every physical name (default: the stack name, e.g. dev-pr42 for a branch)"
    )
    migration_phase: MigrationPhase = setting(MigrationPhase.PARALLEL_RUN, doc="MigrationPhase tag value")
    production: bool = setting(False, doc="true for environments that carry real payments (stricter guardrails)")
    account_id: str | None = setting(
        None, doc="12-digit AWS account the environment deploys to; when set, every ARN in config must name it"
    )

    def check(self, where: str) -> None:
        aws_rules.check_region(self.region, f"{where}:region")
        aws_rules.check_tag("CostCenter", self.cost_center, f"{where}:costCenter")
        if self.account_id is not None and not _ACCOUNT.match(self.account_id):
            raise ConfigError(f"{where}:accountId", f"'{self.account_id}' is not a 12-digit AWS account id",
                              "write the 12 digits, quoted (accountId: \"123456789012\")")
        if self.environment_suffix is not None and not _SUFFIX.match(self.environment_suffix):
            raise ConfigError(
                f"{where}:environmentSuffix",
                f"'{self.environment_suffix}' is not a valid suffix",
                "use 2-16 lowercase letters, digits or hyphens, starting with a letter (e.g. dev-pr42)",
            )


@dataclasses.dataclass(frozen=True)
class Environment:
    """One environment: its name (the stack name in every project) and its settings."""

    name: str
    settings: EnvironmentSettings

    @property
    def suffix(self) -> str:
        return self.settings.environment_suffix or self.name

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def production(self) -> bool:
        return self.settings.production

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable resource carries."""
        return {
            "Environment": self.name,
            "CostCenter": self.settings.cost_center,
            "MigrationPhase": self.settings.migration_phase.value,
        }

    def stack_ref(self, project: str) -> str:
        """Fully qualified stack name used by StackReference: ``<org>/<project>/<stack>``."""
        return f"{self.settings.organization}/{project}/{self.name}"


def known_environments(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> Environment:
    """Read and validate ``environments/<name>.yaml``."""
    # The name is checked first: it becomes part of a path ('/etc/x' or '../x' would point outside the folder).
    if not _SUFFIX.match(name):
        raise UserError(f"environment name '{name}' is invalid. Fix: use lowercase letters, digits and hyphens")
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(known_environments(directory)) or "none"
        raise UserError(
            f"unknown environment '{name}': {directory.name}/{path.name} does not exist. "
            f"Fix: use one of: {known}, or create the file"
        )
    raw = yamlfiles.load(path, f"{directory.name}/{path.name}") or {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path.name), "expected a map of settings", "write key: value lines")
    settings = config.load(EnvironmentSettings, raw, where=f"environments/{name}.yaml")
    if settings.environment_suffix is None and len(name) > 16:
        raise ConfigError(
            f"environments/{name}.yaml:environmentSuffix",
            "the stack name is too long to be the suffix",
            "set environmentSuffix to at most 16 characters",
        )
    return Environment(name=name, settings=settings)
