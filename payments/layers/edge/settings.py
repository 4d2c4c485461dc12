"""Settings of the edge layer (``payments-edge:*`` in ``edge/Pulumi.<env>.yaml``)."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re

from payments.core import retention
from payments.core.aws_rules import ACM_CERTIFICATE
from payments.core.config import setting
from payments.core.errors import ConfigError
from payments.layers.app.settings import ComputeMode

#: The traffic pools behind the HTTPS listener, in listener order.
POOLS = ("legacy", "blue", "green")
#: ALB weighted forward: each weight is 0-999.
MAX_WEIGHT = 999


class TlsPolicy(enum.Enum):
    """ALB security policies that negotiate TLS 1.2 or newer only (PCI DSS 4.2.1).

    Anything else, notably the API default ``ELBSecurityPolicy-2016-08`` (TLS 1.0+),
    is refused at start-up.
    """

    TLS13_12 = "ELBSecurityPolicy-TLS13-1-2-2021-06"  #: TLS 1.3 + 1.2, AWS's general recommendation
    TLS13_12_RES = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"  #: TLS 1.3 + 1.2, restricted (GCM/ECDHE) ciphers
    TLS13_13 = "ELBSecurityPolicy-TLS13-1-3-2021-06"  #: TLS 1.3 only
    TLS13_12_PQ = "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09"  #: TLS 1.3 + 1.2, hybrid post-quantum key exchange
    TLS13_12_RES_PQ = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"  #: restricted ciphers + post-quantum
    TLS13_13_PQ = "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09"  #: TLS 1.3 only, post-quantum
    FS_12_RES = "ELBSecurityPolicy-FS-1-2-Res-2020-10"  #: TLS 1.2 only, forward secrecy, restricted ciphers


class TargetType(enum.Enum):
    """How the blue and green target groups address the application."""

    IP = "ip"  #: Fargate tasks (awsvpc networking: each task has its own ENI)
    INSTANCE = "instance"  #: EC2 instances of the Auto Scaling group


class BackendProtocol(enum.Enum):
    """Protocol from the load balancer to the on-prem servers."""

    HTTPS = "HTTPS"  #: re-encrypted over the VPN (recommended)
    HTTP = "HTTP"  #: plain HTTP inside the VPN tunnel


def target_type(mode: ComputeMode) -> TargetType:
    """The target type the app's compute mode needs (one place for the mapping)."""
    return TargetType.IP if mode is ComputeMode.FARGATE else TargetType.INSTANCE


_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_PATH = re.compile(r"^/[A-Za-z0-9/._~%!$&'()*+,;=:@-]*$")


@dataclasses.dataclass(frozen=True)
class EdgeSettings:
    compute_mode: ComputeMode = setting(
        ComputeMode.FARGATE,
        doc="the app layer's compute mode; decides the blue/green target type (fargate: ip, ec2: instance). "
        "Must equal payments-app:computeMode (the app layer checks it at deploy)",
    )
    tls_policy: str = setting(
        TlsPolicy.TLS13_12_RES.value,
        doc="HTTPS listener security policy, one of the TLS 1.2+ policies: " + ", ".join(p.value for p in TlsPolicy),
        promotable=True,
    )
    certificate_arn: str | None = setting(
        None,
        doc="existing ACM certificate ARN for the HTTPS listener, in the environment's region (or set domainName + "
        "hostedZoneId)",
        arn=ACM_CERTIFICATE,
    )
    domain_name: str | None = setting(
        None, doc="domain to issue a DNS-validated ACM certificate for (with hostedZoneId)", example="pay.example.com"
    )
    subject_alternative_names: tuple[str, ...] = setting((), doc="extra names on the issued certificate")
    hosted_zone_id: str | None = setting(
        None, doc="Route 53 hosted zone for the validation records and the ALB alias record"
    )
    initial_weights: dict[str, int] | None = setting(
        None,
        doc="listener weights at creation by pool (legacy, blue, green; missing pools weigh 0), each 0-999, "
        "not all zero; default legacy 100. Afterwards the cutover owns them: later changes here are ignored",
    )
    legacy_targets: tuple[ipaddress.IPv4Address, ...] = setting(
        (), doc="on-prem application servers (legacy pool), reached over the VPN"
    )
    legacy_protocol: BackendProtocol = setting(BackendProtocol.HTTPS, doc="protocol to the on-prem servers")
    legacy_port: int = setting(
        443, minimum=1, maximum=65535, doc="port of the on-prem app servers (= payments-network:onPremAppPort)"
    )
    app_port: int = setting(
        8080,
        minimum=1,
        maximum=65535,
        doc="port of the blue/green targets (= payments-network:appPort)",
        promotable=True,
    )
    health_check_path: str = setting("/health", doc="HTTP path of the target health checks", promotable=True)
    health_check_interval_seconds: int = setting(
        15, minimum=5, maximum=300, doc="seconds between health checks", promotable=True
    )
    healthy_threshold: int = setting(
        2, minimum=2, maximum=10, doc="consecutive successes before a target is healthy", promotable=True
    )
    unhealthy_threshold: int = setting(
        3, minimum=2, maximum=10, doc="consecutive failures before a target is unhealthy", promotable=True
    )
    deregistration_delay_seconds: int = setting(
        30, minimum=0, maximum=3600, doc="connection draining time; short keeps cutover steps quick", promotable=True
    )
    slow_start_seconds: int = setting(
        0, minimum=0, maximum=900, doc="ramp-up for new targets (0 = off, else 30-900)", promotable=True
    )
    stickiness_seconds: int = setting(
        0, minimum=0, maximum=604800, doc="target-group stickiness of the weighted forward (0 = off)"
    )
    idle_timeout_seconds: int = setting(60, minimum=1, maximum=4000, doc="ALB idle connection timeout")
    deletion_protection: bool = setting(
        False, doc="ALB deletion protection (on in production; `invoke destroy --confirm <env>` lifts it first)"
    )
    access_log_retention_days: int = setting(
        400, minimum=365, maximum=3650, doc="days ALB access logs are kept in S3 (PCI DSS 10.5.1: >= 365)"
    )
    waf_rate_limit: int = setting(
        2000,
        minimum=10,
        maximum=2_000_000_000,
        doc="requests per client IP per 5 minutes before WAF blocks",
        promotable=True,
    )
    waf_log_retention_days: int = setting(365, doc="WAF log group retention (>= 365, a CloudWatch value)")

    def weights(self) -> dict[str, int]:
        """The initial weights with every pool present (missing pools weigh 0)."""
        given = self.initial_weights if self.initial_weights is not None else {"legacy": 100}
        return {pool: given.get(pool, 0) for pool in POOLS}

    def check(self, where: str) -> None:
        allowed = [p.value for p in TlsPolicy]
        if self.tls_policy not in allowed:
            raise ConfigError(
                f"{where}:tlsPolicy",
                f"'{self.tls_policy}' is not a TLS 1.2+ policy (older protocols break PCI DSS 4.2.1)",
                f"use one of: {', '.join(allowed)}",
            )
        self._check_certificate(where)
        self._check_weights(where)
        for i, ip in enumerate(self.legacy_targets):
            if not ip.is_private:
                raise ConfigError(
                    f"{where}:legacyTargets[{i}]",
                    f"{ip} is not a private address; the legacy pool is reached over the VPN",
                    "list the on-prem servers' private addresses",
                )
        if not _PATH.match(self.health_check_path):
            raise ConfigError(
                f"{where}:healthCheckPath", f"'{self.health_check_path}' is not a URL path", "use e.g. /health"
            )
        if 0 < self.slow_start_seconds < 30:
            raise ConfigError(
                f"{where}:slowStartSeconds", f"{self.slow_start_seconds} is not allowed", "use 0 (off) or 30-900"
            )
        retention.check(self.waf_log_retention_days, f"{where}:wafLogRetentionDays")

    def _check_certificate(self, where: str) -> None:
        if self.certificate_arn is None and self.domain_name is None:
            raise ConfigError(
                f"{where}:certificateArn",
                "no certificate source for the HTTPS listener",
                "set certificateArn to an ACM certificate, or domainName and hostedZoneId to issue one",
            )
        if self.certificate_arn is not None:
            if self.domain_name is not None:
                raise ConfigError(
                    f"{where}:domainName",
                    "set together with certificateArn; the listener can only use one certificate source",
                    "remove domainName (and hostedZoneId) or certificateArn",
                )
            return  # its shape, partition, region and account: config.check_arns
        for i, name in enumerate((self.domain_name, *self.subject_alternative_names)):
            key = "domainName" if i == 0 else f"subjectAlternativeNames[{i - 1}]"
            if not _DOMAIN.match(str(name)):
                raise ConfigError(f"{where}:{key}", f"'{name}' is not a lowercase DNS name", "use e.g. pay.example.com")
        if self.hosted_zone_id is None:
            raise ConfigError(
                f"{where}:hostedZoneId",
                "missing while domainName is set; DNS validation needs the Route 53 zone",
                "set hostedZoneId to the zone id (Z...) that serves domainName",
            )
        if not _ZONE_ID.match(self.hosted_zone_id):
            raise ConfigError(
                f"{where}:hostedZoneId",
                f"'{self.hosted_zone_id}' is not a Route 53 zone id",
                "use the Z... id of the zone",
            )

    def _check_weights(self, where: str) -> None:
        given = self.initial_weights or {}
        unknown = sorted(set(given) - set(POOLS))
        if unknown:
            raise ConfigError(
                f"{where}:initialWeights", f"unknown pool(s) {', '.join(unknown)}", f"use {', '.join(POOLS)}"
            )
        weights = self.weights()
        for pool, weight in weights.items():
            if not 0 <= weight <= MAX_WEIGHT:
                raise ConfigError(
                    f"{where}:initialWeights.{pool}",
                    f"{weight} is outside 0-{MAX_WEIGHT}",
                    f"use a weight from 0 to {MAX_WEIGHT}",
                )
        if not any(weights.values()):
            raise ConfigError(
                f"{where}:initialWeights",
                "every weight is 0, so the listener would serve nothing",
                "give at least one pool a weight above 0",
            )
        if weights["legacy"] > 0 and not self.legacy_targets:
            raise ConfigError(
                f"{where}:legacyTargets",
                "empty while the legacy pool has weight",
                "list the on-prem servers, or set initialWeights to send traffic to blue",
            )
