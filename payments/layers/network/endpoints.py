"""VPC endpoints: private tasks reach AWS APIs without crossing the internet."""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from payments.core.naming import Namer


@dataclasses.dataclass
class EndpointsArgs:
    vpc_id: pulumi.Input[str]
    region: str
    services: tuple[str, ...]
    subnet_ids: list[pulumi.Output[str]]
    route_table_ids: list[pulumi.Output[str]]
    security_group_id: pulumi.Input[str]
    namer: Namer


class Endpoints(pulumi.ComponentResource):
    def __init__(self, name: str, args: EndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:Endpoints", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The S3 gateway endpoint is free and also serves ECR image layers.
        self.s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=args.route_table_ids,
            tags={"Name": args.namer("vpce-s3")},
            opts=child,
        )
        self.interface = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=args.subnet_ids,
                security_group_ids=[args.security_group_id],
                tags={"Name": args.namer(f"vpce-{service.replace('.', '-')}")},
                opts=child,
            )
            for service in args.services
        }
        self.register_outputs({"s3EndpointId": self.s3.id})
