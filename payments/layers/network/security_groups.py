"""Every security group and every rule between them, in one reviewable place.

The segmentation (PCI DSS 1.2, 1.3, 1.4) reads top to bottom:

    clients --443/80--> alb --app_port--> app --3306--> db <--3306-- dms
    alb --on_prem_app_port--> on-prem app servers (legacy pool, over the VPN)
    dms --on_prem_db_port--> on-prem MySQL (DMS source, over the VPN)
    app --on_prem_db_port--> on-prem MySQL (the writer until the database switchover, over the VPN)
    app/dms --443--> endpoints (VPC interface endpoints), S3 (gateway endpoint)

The intended flows, and those that must never work, are proven over the plan
(payments/reachability/intent.py).

No rule anywhere admits 0.0.0.0/0 inbound.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pulumi
import pulumi_aws as aws

from payments.core.naming import Kind, Namer
from payments.layers.network.settings import AlbIngress

HTTPS, HTTP, MYSQL = 443, 80, 3306
#: AWS-managed prefix list of CloudFront's origin-facing addresses.
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


@dataclasses.dataclass
class SecurityGroupsArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: ipaddress.IPv4Network
    app_port: int
    alb_ingress: AlbIngress
    alb_client_cidrs: tuple[ipaddress.IPv4Network, ...]
    cloudfront_prefix_list_id: str | None
    s3_prefix_list_id: pulumi.Input[str]
    on_prem_cidrs: tuple[ipaddress.IPv4Network, ...]
    on_prem_app_port: int
    on_prem_db_port: int
    namer: Namer


class SecurityGroups(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:SecurityGroups", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        n = args.namer

        def group(role: str, description: str) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(
                f"{name}-{role}",
                name=n(f"{role}-sg", Kind.SECURITY_GROUP),  # AWS forbids the "sg-" prefix
                description=description,
                vpc_id=args.vpc_id,
                # Rules are separate resources below; no inline rules to fight with.
                tags={"Name": n(f"{role}-sg")},
                opts=self._child,
            )

        self.alb = group("alb", "Payments load balancer: HTTPS from allowed clients only")
        self.app = group("app", "Payments application: app port from the load balancer only")
        self.db = group("db", "Payments database: MySQL from the application and DMS only")
        self.dms = group("dms", "DMS replication instance: on-prem MySQL to the database")
        self.endpoint = group("endpoint", "Interface VPC endpoints: HTTPS from inside the VPC")

        # clients -> alb (80 exists only to redirect to 443)
        for port in (HTTPS, HTTP):
            if args.alb_ingress is AlbIngress.CLOUDFRONT:
                self._rule(
                    "in",
                    "alb",
                    self.alb,
                    f"cloudfront-{port}",
                    port,
                    "CloudFront origin-facing",
                    prefix_list=args.cloudfront_prefix_list_id,
                )
            else:
                for i, cidr in enumerate(args.alb_client_cidrs):
                    self._rule(
                        "in", "alb", self.alb, f"clients-{port}-{i}", port, "allowed client network", cidr=str(cidr)
                    )
        # alb -> app; alb -> on-prem app servers (legacy pool)
        self._rule("out", "alb", self.alb, "to-app", args.app_port, "forward to application", peer=self.app.id)
        self._rule("in", "app", self.app, "from-alb", args.app_port, "from load balancer", peer=self.alb.id)
        for i, cidr in enumerate(args.on_prem_cidrs):
            self._rule(
                "out", "alb", self.alb, f"to-legacy-{i}", args.on_prem_app_port, "legacy pool over VPN", cidr=str(cidr)
            )
        # app -> db; app -> AWS APIs; app -> payment processors (HTTPS via NAT)
        self._rule("out", "app", self.app, "to-db", MYSQL, "database", peer=self.db.id)
        self._rule("in", "db", self.db, "from-app", MYSQL, "from application", peer=self.app.id)
        self._rule(
            "out", "app", self.app, "to-endpoints", HTTPS, "AWS APIs via interface endpoints", peer=self.endpoint.id
        )
        self._rule(
            "out", "app", self.app, "to-s3", HTTPS, "S3 via gateway endpoint", prefix_list=args.s3_prefix_list_id
        )
        self._rule(
            "out", "app", self.app, "to-internet-https", HTTPS, "payment processor APIs via NAT", cidr="0.0.0.0/0"
        )
        # Single writer: until the database switchover, blue/green write to the on-prem MySQL through the DB
        # indirection (docs/migration.md), so they need the same way there as DMS.
        for i, cidr in enumerate(args.on_prem_cidrs):
            self._rule(
                "out",
                "app",
                self.app,
                f"to-onprem-db-{i}",
                args.on_prem_db_port,
                "on-prem MySQL (writer until the switchover) over VPN",
                cidr=str(cidr),
            )
        # dms -> db; dms -> on-prem MySQL (source)
        self._rule("out", "dms", self.dms, "to-db", MYSQL, "DMS target", peer=self.db.id)
        self._rule("in", "db", self.db, "from-dms", MYSQL, "from DMS", peer=self.dms.id)
        for i, cidr in enumerate(args.on_prem_cidrs):
            self._rule(
                "out", "dms", self.dms, f"to-onprem-db-{i}", args.on_prem_db_port, "DMS source over VPN", cidr=str(cidr)
            )
        self._rule("out", "dms", self.dms, "to-endpoints", HTTPS, "Secrets Manager via endpoint", peer=self.endpoint.id)
        self._rule(
            "out", "dms", self.dms, "to-s3", HTTPS, "S3 via gateway endpoint", prefix_list=args.s3_prefix_list_id
        )
        # VPC -> endpoints
        self._rule("in", "endpoint", self.endpoint, "from-vpc", HTTPS, "HTTPS from the VPC", cidr=str(args.vpc_cidr))

        self.register_outputs({"albSecurityGroupId": self.alb.id})

    def _rule(
        self,
        direction: str,
        role: str,
        group: aws.ec2.SecurityGroup,
        label: str,
        port: int,
        why: str,
        *,
        cidr: str | None = None,
        peer: pulumi.Input[str] | None = None,
        prefix_list: pulumi.Input[str] | None = None,
    ) -> None:
        """One TCP rule on one port to/from exactly one CIDR, group or prefix list."""
        cls = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
        cls(
            f"{self._name}-{role}-{direction}-{label}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=why,
            cidr_ipv4=cidr,
            referenced_security_group_id=peer,
            prefix_list_id=prefix_list,
            opts=self._child,
        )
