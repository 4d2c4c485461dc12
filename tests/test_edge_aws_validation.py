"""The edge's generated load balancer configuration against ELBv2's API model (botocore, in the moto emulator)."""

from __future__ import annotations

import boto3
from moto import mock_aws

from tests.support import of_type, one, plan


def test_alb_and_listeners_are_accepted_by_elbv2() -> None:
    """The listener's weighted forward and TLS policy, as ELBv2's API takes them."""
    lp = plan("dev", ["edge"]).layer("edge")
    https = next(r for r in of_type(lp, "aws:lb/listener:Listener") if r.inputs["protocol"] == "HTTPS").inputs
    forward = https["defaultActions"][0]["forward"]
    cert_domain = one(lp, "aws:acm/certificate:Certificate").inputs["domainName"]
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        acm = boto3.client("acm", region_name="us-east-1")
        certificate = acm.request_certificate(DomainName=cert_domain, ValidationMethod="DNS")["CertificateArn"]
        elb = boto3.client("elbv2", region_name="us-east-1")
        alb = elb.create_load_balancer(Name="alb-dev", Subnets=subnets, Type="application", Scheme="internet-facing")
        alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
        tgs = [
            elb.create_target_group(
                Name=tg.inputs["name"],
                Protocol=tg.inputs["protocol"],
                Port=int(tg.inputs["port"]),
                VpcId=vpc,
                TargetType=tg.inputs["targetType"],
                HealthCheckPath=tg.inputs["healthCheck"]["path"],
            )["TargetGroups"][0]["TargetGroupArn"]
            for tg in of_type(lp, "aws:lb/targetGroup:TargetGroup")
        ]
        weights = [int(tg["weight"]) for tg in forward["targetGroups"]]
        listener = elb.create_listener(
            LoadBalancerArn=alb_arn,
            Protocol="HTTPS",
            Port=int(https["port"]),
            SslPolicy=https["sslPolicy"],
            # The planned certificate does not exist in the emulator; an equivalent one stands in.
            Certificates=[{"CertificateArn": certificate}],
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in zip(tgs, weights, strict=True)],
                        "TargetGroupStickinessConfig": {
                            "Enabled": forward["stickiness"]["enabled"],
                            "DurationSeconds": int(forward["stickiness"]["duration"]),
                        },
                    },
                }
            ],
        )["Listeners"][0]
        got = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        assert [g["Weight"] for g in got] == [100, 0, 0]
