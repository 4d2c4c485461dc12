"""Settings of the network layer (``payments-network:*`` in ``network/Pulumi.<env>.yaml``)."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress

from payments.core import retention
from payments.core.config import setting
from payments.core.errors import ConfigError
from payments.core.retention import MIN_RETENTION_DAYS
from payments.layers.network.cidrs import MAX_VPC_PREFIX, MIN_VPC_PREFIX, overlapping

ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")


class NatStrategy(enum.Enum):
    """How private subnets reach the internet."""

    SINGLE = "single"  #: one NAT gateway in the first AZ (dev: cheapest, not AZ-resilient)
    ONE_PER_AZ = "one_per_az"  #: one NAT gateway per AZ (prod: survives the loss of an AZ)


class AlbIngress(enum.Enum):
    """Who may reach the load balancer."""

    CIDRS = "cidrs"  #: an allow-list of client networks (albClientCidrs)
    CLOUDFRONT = "cloudfront"  #: CloudFront's origin-facing managed prefix list


#: Interface endpoints private tasks need without internet access.
KNOWN_ENDPOINTS = (
    "ecr.api",
    "ecr.dkr",
    "logs",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "kms",
    "sts",
    "monitoring",
    "states",
    "sns",
)


@dataclasses.dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: ipaddress.IPv4Network = setting(doc="VPC IPv4 range, /16 to /23", example="10.20.0.0/16")
    az_count: int = setting(3, minimum=2, maximum=6, doc="availability zones to spread subnets over")
    nat_strategy: NatStrategy = setting(NatStrategy.ONE_PER_AZ, doc="single (dev) or one_per_az (prod)")
    app_port: int = setting(8080, minimum=1, maximum=65535, doc="port the application listens on", promotable=True)
    alb_ingress: AlbIngress = setting(AlbIngress.CIDRS, doc="cidrs (allow-list) or cloudfront (prefix list)")
    alb_client_cidrs: tuple[ipaddress.IPv4Network, ...] = setting(
        (), doc="client networks allowed to the ALB (alb_ingress=cidrs)"
    )
    interface_endpoints: tuple[str, ...] = setting(
        ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "kms", "sts"),
        doc="interface VPC endpoints (the S3 gateway endpoint is always created)",
    )
    flow_log_retention_days: int = setting(
        MIN_RETENTION_DAYS, doc="VPC flow log retention (>= 365, a CloudWatch value)"
    )
    vpn_enabled: bool = setting(False, doc="create a site-to-site VPN to the on-prem data centre")
    customer_gateway_ip: ipaddress.IPv4Address | None = setting(None, doc="public IP of the on-prem VPN device")
    customer_gateway_asn: int = setting(65000, minimum=1, maximum=4294967294, doc="BGP ASN of the on-prem device")
    on_prem_cidrs: tuple[ipaddress.IPv4Network, ...] = setting((), doc="on-prem networks routed over the VPN")
    on_prem_app_port: int = setting(443, minimum=1, maximum=65535, doc="port of the on-prem app servers (legacy pool)")
    on_prem_db_port: int = setting(3306, minimum=1, maximum=65535, doc="port of the on-prem MySQL (DMS source)")

    def check(self, where: str) -> None:
        if not MIN_VPC_PREFIX <= self.vpc_cidr.prefixlen <= MAX_VPC_PREFIX:
            raise ConfigError(
                f"{where}:vpcCidr",
                f"/{self.vpc_cidr.prefixlen} cannot hold 3 subnet tiers x {self.az_count} AZs of at least /28",
                f"use a prefix between /{MIN_VPC_PREFIX} and /{MAX_VPC_PREFIX}, e.g. 10.20.0.0/16",
            )
        if self.alb_ingress is AlbIngress.CIDRS:
            if not self.alb_client_cidrs:
                raise ConfigError(
                    f"{where}:albClientCidrs",
                    "empty while albIngress is 'cidrs'",
                    "list client networks, or set albIngress: cloudfront",
                )
            if any(c.prefixlen == 0 for c in self.alb_client_cidrs):
                raise ConfigError(
                    f"{where}:albClientCidrs",
                    "0.0.0.0/0 is not allowed (PCI DSS 1.3.1)",
                    "list the client networks, or set albIngress: cloudfront",
                )
        unknown = sorted(set(self.interface_endpoints) - set(KNOWN_ENDPOINTS))
        if unknown:
            raise ConfigError(
                f"{where}:interfaceEndpoints",
                f"unknown service(s) {', '.join(unknown)}",
                f"use some of: {', '.join(KNOWN_ENDPOINTS)}",
            )
        retention.check(self.flow_log_retention_days, f"{where}:flowLogRetentionDays")
        for cidr in self.on_prem_cidrs:
            if overlapping(cidr, self.vpc_cidr):
                raise ConfigError(
                    f"{where}:onPremCidrs",
                    f"{cidr} overlaps the VPC range {self.vpc_cidr}",
                    "choose a VPC range that does not collide with on-prem networks",
                )
        if self.vpn_enabled and (self.customer_gateway_ip is None or not self.on_prem_cidrs):
            raise ConfigError(
                f"{where}:customerGatewayIp",
                "vpnEnabled needs customerGatewayIp and onPremCidrs",
                "set both, or set vpnEnabled: false",
            )
