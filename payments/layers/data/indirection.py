"""The one name the application reaches its database through: ``db.<suffix>.payments.internal``.

A Route 53 private hosted zone, associated with the VPC only, holds two records:

- ``onprem-db.<suffix>.payments.internal``: an A record to the on-prem MySQL (``onPremDbAddress``), reached over
  the VPN;
- ``db.<suffix>.payments.internal``: the indirection, a CNAME with a 5-second TTL. It is created pointing at the
  writer at the start, the on-prem MySQL; the database switchover flips it to the AWS writer endpoint and the
  fallback flips it back (``route53:ChangeResourceRecordSets``), with no redeploy of the application.

Once created, the CNAME's target belongs to the migration process: the program ignores changes to it, and the
layer's ``Pulumi.yaml`` refreshes before every update (``options: refresh: always``), so a later ``pulumi up`` in
this folder keeps what the switchover set instead of re-sending the value it stored at creation.

With no on-prem database configured (``onPremDbAddress`` unset: a greenfield environment with nothing to
migrate), there is no A record and the CNAME starts at the AWS writer endpoint: the only database there is.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pulumi
import pulumi_aws as aws

from payments.core.errors import ConfigError

#: The parent domain of every environment's private zone; never resolvable outside the VPC.
PRIVATE_DOMAIN = "payments.internal"
#: Seconds a resolver may keep the indirection's answer: the longest a new connection can still reach the old
#: writer after a flip (docs/app-contract.md). Route 53 honours it; the JVM's own cache must not exceed it.
INDIRECTION_TTL = 5
#: The on-prem A record changes only when the on-prem server does; a minute is enough.
ON_PREM_TTL = 60
#: The CNAME's value, as the engine names it: changes to it are ignored (the migration owns it).
OWNED_BY_MIGRATION = ["records"]


def zone_name(suffix: str) -> str:
    return f"{suffix}.{PRIVATE_DOMAIN}"


def indirection_name(suffix: str) -> str:
    return f"db.{zone_name(suffix)}"


def on_prem_name(suffix: str) -> str:
    return f"onprem-db.{zone_name(suffix)}"


def check_on_prem_address(address: ipaddress.IPv4Address, cidrs: list[str] | None, where: str) -> str:
    """The on-prem database address, if it is inside a network the VPC routes over the VPN; a ConfigError otherwise.

    The app reaches it through the routes and security-group rules the network layer builds for ``onPremCidrs``
    only, so an address outside them would resolve but never connect."""
    if not any(address in ipaddress.IPv4Network(c) for c in cidrs or []):
        raise ConfigError(
            f"{where}:onPremDbAddress",
            f"{address} is outside the on-prem networks the VPC routes to ({', '.join(cidrs or []) or 'none'})",
            "set the on-prem MySQL's address inside payments-network:onPremCidrs, or add its network there",
        )
    return str(address)


@dataclasses.dataclass
class IndirectionArgs:
    suffix: str
    vpc_id: pulumi.Input[str]
    #: the AWS writer endpoint (the CNAME's start when there is no on-prem database)
    aws_writer: pulumi.Input[str]
    #: the on-prem MySQL's address, checked against the network's on-prem CIDRs; None: no on-prem database
    on_prem_address: pulumi.Input[str] | None


class DbIndirection(pulumi.ComponentResource):
    """The private zone, the on-prem A record and the indirection CNAME; their names as attributes."""

    zone_id: pulumi.Output[str]
    name: str
    on_prem_name: str | None

    def __init__(self, name: str, args: IndirectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:DbIndirection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.zone = aws.route53.Zone(
            f"{name}-zone",
            name=zone_name(args.suffix),
            comment=f"Payments {args.suffix}: the database indirection (private to the VPC)",
            # A private zone: associated with the VPC, answered by the VPC resolver only.
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args.vpc_id)],
            opts=child,
        )
        self.zone_id = self.zone.zone_id
        self.on_prem_name = None
        start: pulumi.Input[str] = args.aws_writer
        if args.on_prem_address is not None:
            self.on_prem_name = on_prem_name(args.suffix)
            self.on_prem = aws.route53.Record(
                f"{name}-onprem",
                zone_id=self.zone.zone_id,
                name=self.on_prem_name,
                type="A",
                ttl=ON_PREM_TTL,
                records=[args.on_prem_address],
                opts=child,
            )
            start = self.on_prem_name
        self.name = indirection_name(args.suffix)
        self.record = aws.route53.Record(
            f"{name}-writer",
            zone_id=self.zone.zone_id,
            name=self.name,
            type="CNAME",
            ttl=INDIRECTION_TTL,
            records=[start],
            # The switchover and the fallback own the target from here (module docstring).
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=OWNED_BY_MIGRATION),
        )
        self.register_outputs({"zoneId": self.zone_id, "name": self.name})
