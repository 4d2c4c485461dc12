"""Settings of the app layer (``payments-app:*`` in ``app/Pulumi.<env>.yaml``)."""

from __future__ import annotations

import dataclasses
import enum
import re

from payments.core import retention
from payments.core.config import setting
from payments.core.errors import ConfigError
from payments.core.retention import MIN_RETENTION_DAYS


class ComputeMode(enum.Enum):
    """Where the application runs."""

    FARGATE = "fargate"  #: ECS Fargate services blue and green (seed A, default)
    EC2 = "ec2"  #: an EC2 Auto Scaling group running the container (seed B), behind the blue target group


class Architecture(enum.Enum):
    """CPU architecture of the image (and of the EC2 AMI)."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


#: Fargate's CPU units -> the memory sizes (MiB) it offers with them (AWS "Task size" table).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

#: An image reference pinned by tag or digest: registry/repository then :tag or @sha256:digest.
_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9.-]*(?::\d+)?/[a-z0-9._/-]+(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@sha256:[0-9a-f]{64})$"
)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PARAMETER = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")

#: What the application reads from Parameter Store, by environment variable (names under parameterPath).
#: They match what the data layer writes (payments/layers/data: Parameters in data/__main__.py).
#: Both hosts are the DB indirection (db.<suffix>.payments.internal), never an endpoint of one database: it names the
#: one writer, on-prem until the database switchover, and reads go there too (a reader of the other database would
#: lag behind the writer by the replication delay: a customer would not see their own payment). docs/app-contract.md.
DEFAULT_SETTINGS_PARAMETERS = {
    "DB_HOST": "db/host",
    "DB_READER_HOST": "db/host",
    "DB_PORT": "db/port",
    "DB_NAME": "db/name",
    "STATIC_BUCKET": "s3/static-bucket",
    "APP_LOGS_BUCKET": "s3/app-logs-bucket",
}


@dataclasses.dataclass(frozen=True)
class AppSettings:
    image: str = setting(
        doc="container image pinned by tag or digest (never :latest)",
        example="123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-app:1.0.0",
        promotable=True,
    )
    compute_mode: ComputeMode = setting(
        ComputeMode.FARGATE, doc="fargate (ECS services blue and green) or ec2 (Auto Scaling group)"
    )
    architecture: Architecture = setting(
        Architecture.X86_64, doc="CPU architecture of the image (x86_64 or arm64)", promotable=True
    )
    cpu: int = setting(512, doc="Fargate task CPU units (256, 512, 1024, ...)", promotable=True)
    memory: int = setting(
        1024, doc="Fargate task memory in MiB; must be a size Fargate offers with cpu", promotable=True
    )
    container_port: int = setting(
        8080, minimum=1, maximum=65535, doc="port the container listens on (= payments-edge:appPort)", promotable=True
    )
    container_user: str = setting(
        "1000:1000", doc="user[:group] the container runs as; root is refused", promotable=True
    )
    health_check_path: str = setting("/health", doc="path of the container health check", promotable=True)
    health_check_command: str | None = setting(
        None, doc="shell command of the container health check (default: curl on healthCheckPath)", promotable=True
    )
    settings_parameters: dict[str, str] | None = setting(
        None,
        doc="environment variable -> Parameter Store name under the data layer's parameterPath, injected by "
        "reference (default: DB_HOST and DB_READER_HOST = the DB indirection db/host, DB_PORT, DB_NAME, STATIC_BUCKET, "
        "APP_LOGS_BUCKET from the data layer's db/... and s3/... parameters)",
    )
    desired_count: int = setting(2, minimum=1, maximum=100, doc="tasks per service (blue and green); prod >= 2")
    min_capacity: int | None = setting(
        None, minimum=1, maximum=100, doc="autoscaling floor per service (default: desiredCount)"
    )
    max_capacity: int = setting(6, minimum=1, maximum=100, doc="autoscaling ceiling per service")
    cpu_target_percent: float = setting(
        60.0, minimum=10, maximum=90, doc="average CPU the target tracking policy aims for", promotable=True
    )
    scale_out_cooldown_seconds: int = setting(
        60, minimum=0, maximum=3600, doc="wait after scaling out", promotable=True
    )
    scale_in_cooldown_seconds: int = setting(
        300, minimum=0, maximum=3600, doc="wait after scaling in (longer than scale-out)", promotable=True
    )
    log_retention_days: int = setting(MIN_RETENTION_DAYS, doc="application log retention (>= 365, a CloudWatch value)")
    instance_type: str = setting("t3.small", doc="EC2 mode: instance type (capacity: per environment, not promoted)")
    asg_min: int = setting(2, minimum=1, maximum=100, doc="EC2 mode: Auto Scaling group minimum")
    asg_desired: int | None = setting(None, minimum=1, maximum=100, doc="EC2 mode: desired instances (default: asgMin)")
    asg_max: int = setting(6, minimum=1, maximum=100, doc="EC2 mode: Auto Scaling group maximum")
    root_volume_gb: int = setting(
        30, minimum=8, maximum=1024, doc="EC2 mode: encrypted root volume size", promotable=True
    )
    health_check_grace_seconds: int = setting(
        300, minimum=0, maximum=7200, doc="time before load balancer health checks count", promotable=True
    )

    @property
    def fargate(self) -> bool:
        return self.compute_mode is ComputeMode.FARGATE

    @property
    def image_tag(self) -> str | None:
        match = _IMAGE.match(self.image)
        return match.group("tag") if match else None

    def parameters(self) -> dict[str, str]:
        return dict(self.settings_parameters if self.settings_parameters is not None else DEFAULT_SETTINGS_PARAMETERS)

    def scaling_floor(self) -> int:
        return self.min_capacity if self.min_capacity is not None else self.desired_count

    def desired_instances(self) -> int:
        return self.asg_desired if self.asg_desired is not None else self.asg_min

    def check(self, where: str) -> None:
        if not _IMAGE.match(self.image):
            raise ConfigError(
                f"{where}:image",
                f"'{self.image}' is not an image pinned by tag or digest",
                "use <registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>",
            )
        if self.image_tag == "latest":
            raise ConfigError(
                f"{where}:image",
                "':latest' is not a reviewable release (PCI DSS 6.5.1)",
                "pin a version tag or a digest",
            )
        if self.fargate and self.memory not in FARGATE_SIZES.get(self.cpu, ()):
            if self.cpu not in FARGATE_SIZES:
                raise ConfigError(
                    f"{where}:cpu",
                    f"{self.cpu} CPU units are not a Fargate size",
                    f"use one of {', '.join(map(str, FARGATE_SIZES))}",
                )
            sizes = FARGATE_SIZES[self.cpu]
            raise ConfigError(
                f"{where}:memory",
                f"Fargate does not offer {self.memory} MiB with {self.cpu} CPU units",
                f"use {sizes[0]}-{sizes[-1]} MiB in steps of {sizes[1] - sizes[0]}"
                if len(sizes) > 3
                else f"use one of {', '.join(map(str, sizes))}",
            )
        user = self.container_user.split(":")[0]
        if not _USER.match(self.container_user) or user in ("root", "0"):
            raise ConfigError(
                f"{where}:containerUser",
                f"'{self.container_user}' runs as root or is malformed",
                "use a non-root uid[:gid], e.g. 1000:1000",
            )
        if not self.health_check_path.startswith("/") or " " in self.health_check_path:
            raise ConfigError(
                f"{where}:healthCheckPath", f"'{self.health_check_path}' is not a URL path", "use e.g. /health"
            )
        for name, parameter in self.parameters().items():
            if not _ENV_NAME.match(name):
                raise ConfigError(
                    f"{where}:settingsParameters.{name}",
                    "not an environment variable name",
                    "use UPPER_CASE letters, digits and _",
                )
            if not _PARAMETER.match(parameter):
                raise ConfigError(
                    f"{where}:settingsParameters.{name}",
                    f"'{parameter}' is not a parameter name relative to parameterPath",
                    "use e.g. db/host",
                )
        if self.scaling_floor() > self.desired_count:
            raise ConfigError(
                f"{where}:minCapacity",
                f"{self.scaling_floor()} is above desiredCount ({self.desired_count}); the floor must be <= the tasks "
                "a service starts with",
                f"lower minCapacity to at most {self.desired_count}, or raise desiredCount",
            )
        if self.desired_count > self.max_capacity:
            raise ConfigError(
                f"{where}:maxCapacity",
                f"{self.max_capacity} is below desiredCount ({self.desired_count})",
                f"raise maxCapacity to at least {self.desired_count}, or lower desiredCount",
            )
        if self.scale_in_cooldown_seconds <= self.scale_out_cooldown_seconds:
            raise ConfigError(
                f"{where}:scaleInCooldownSeconds",
                f"{self.scale_in_cooldown_seconds} is not longer than scaleOutCooldownSeconds "
                f"({self.scale_out_cooldown_seconds})",
                "scale in more slowly than out, e.g. 300 vs 60",
            )
        retention.check(self.log_retention_days, f"{where}:logRetentionDays")
        if not _INSTANCE_TYPE.match(self.instance_type):
            raise ConfigError(
                f"{where}:instanceType", f"'{self.instance_type}' is not an EC2 instance type", "use e.g. t3.small"
            )
        if self.asg_min > self.asg_max:
            raise ConfigError(
                f"{where}:asgMin",
                f"{self.asg_min} is above asgMax ({self.asg_max})",
                "make asgMin <= asgDesired <= asgMax",
            )
        if not self.asg_min <= self.desired_instances() <= self.asg_max:
            raise ConfigError(
                f"{where}:asgDesired",
                f"{self.desired_instances()} is outside asgMin-asgMax ({self.asg_min}-{self.asg_max})",
                "make asgMin <= asgDesired <= asgMax",
            )

    def check_environment(self, where: str, production: bool) -> None:
        """Rules that depend on the environment: production survives the loss of one AZ."""
        if not production:
            return
        if self.fargate and self.scaling_floor() < 2:
            raise ConfigError(
                f"{where}:desiredCount" if self.min_capacity is None else f"{where}:minCapacity",
                f"{self.scaling_floor()} task(s) per service in a production environment cannot survive an AZ failure",
                "use at least 2",
            )
        if not self.fargate and self.asg_min < 2:
            raise ConfigError(
                f"{where}:asgMin",
                f"{self.asg_min} instance(s) in a production environment cannot survive an AZ failure",
                "use at least 2",
            )
