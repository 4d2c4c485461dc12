"""VPC, subnets in three tiers per AZ, internet and NAT gateways, route tables."""

from __future__ import annotations

import dataclasses
import ipaddress

import pulumi
import pulumi_aws as aws

from payments.core.naming import Namer
from payments.layers.network.cidrs import carve
from payments.layers.network.settings import NatStrategy

INTERNET = "0.0.0.0/0"


@dataclasses.dataclass
class VpcArgs:
    cidr: ipaddress.IPv4Network
    azs: list[str]
    nat_strategy: NatStrategy
    namer: Namer


class Vpc(pulumi.ComponentResource):
    """Public subnets (ALB, NAT), private app subnets (via NAT), isolated data subnets.

    Data subnets get a route table with no route to the internet at all: the
    database tier can only talk inside the VPC (and to on-prem over the VPN).
    """

    def __init__(self, name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:Vpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=str(args.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": n("vpc")},
            opts=child,
        )
        # Adopting the default security group with no rules closes it (PCI DSS 1.2.1):
        # anything launched without an explicit group gets no traffic at all.
        self.default_sg = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": n("default-sg-closed")},
            opts=child,
        )
        self.igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": n("igw")}, opts=child)

        self.subnets: dict[str, list[aws.ec2.Subnet]] = {"public": [], "app": [], "data": []}
        for plan in carve(args.cidr, len(args.azs)):
            az = args.azs[plan.az_index]
            self.subnets[plan.tier].append(
                aws.ec2.Subnet(
                    f"{name}-{plan.tier}-{plan.az_index}",
                    vpc_id=self.vpc.id,
                    cidr_block=str(plan.cidr),
                    availability_zone=az,
                    # No subnet hands out public IPs: the ALB and NAT use their own addresses.
                    map_public_ip_on_launch=False,
                    tags={"Name": n(f"subnet-{plan.tier}-{az}"), "Tier": plan.tier},
                    opts=child,
                )
            )

        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags={"Name": n("rt-public")}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block=INTERNET,
            gateway_id=self.igw.id,
            opts=child,
        )
        for i, subnet in enumerate(self.subnets["public"]):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=self.public_route_table.id, opts=child
            )

        nat_count = 1 if args.nat_strategy is NatStrategy.SINGLE else len(args.azs)
        self.nat_gateways = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{i}", domain="vpc", tags={"Name": n(f"eip-nat-{i}")}, opts=child)
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.subnets["public"][i].id,
                    connectivity_type="public",
                    tags={"Name": n(f"nat-{args.azs[i]}")},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.igw]),
                )
            )

        self.app_route_tables = []
        self.data_route_tables = []
        for i, az in enumerate(args.azs):
            app_rt = aws.ec2.RouteTable(
                f"{name}-app-rt-{i}", vpc_id=self.vpc.id, tags={"Name": n(f"rt-app-{az}")}, opts=child
            )
            # With a single NAT every AZ leaves through the first one (dev only).
            nat = self.nat_gateways[i if nat_count > 1 else 0]
            aws.ec2.Route(
                f"{name}-app-default-{i}",
                route_table_id=app_rt.id,
                destination_cidr_block=INTERNET,
                nat_gateway_id=nat.id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-app-{i}", subnet_id=self.subnets["app"][i].id, route_table_id=app_rt.id, opts=child
            )
            data_rt = aws.ec2.RouteTable(
                f"{name}-data-rt-{i}", vpc_id=self.vpc.id, tags={"Name": n(f"rt-data-{az}")}, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-data-{i}", subnet_id=self.subnets["data"][i].id, route_table_id=data_rt.id, opts=child
            )
            self.app_route_tables.append(app_rt)
            self.data_route_tables.append(data_rt)

        self.register_outputs({"vpcId": self.vpc.id})

    def subnet_ids(self, tier: str) -> list[pulumi.Output[str]]:
        return [s.id for s in self.subnets[tier]]

    @property
    def private_route_tables(self) -> list[aws.ec2.RouteTable]:
        return self.app_route_tables + self.data_route_tables
