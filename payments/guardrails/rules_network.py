"""Network rules: segmentation, flow logs, closed default security group."""

from __future__ import annotations

from collections.abc import Iterator

from payments.guardrails.engine import Resource, Severity, missing_companions, rule, stack_rule

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULES = [
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
]


@stack_rule("vpc-flow-logs", pci="10.2.1, 10.2.2", description="Every VPC has a flow log capturing ALL traffic")
def vpc_flow_logs(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    yield from missing_companions(
        resources, VPC, FLOW_LOG, "vpcId", lambda r: r.inputs.get("trafficType") == "ALL", "flow log of ALL traffic"
    )


@stack_rule(
    "default-sg-closed", pci="1.2.1, 1.3.1", description="Every VPC's default security group is adopted with no rules"
)
def default_sg_closed(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    yield from missing_companions(
        resources,
        VPC,
        DEFAULT_SG,
        "vpcId",
        lambda r: not r.inputs.get("ingress") and not r.inputs.get("egress"),
        "default security group adopted with no rules",
    )


@rule(
    "no-public-ip-on-launch",
    pci="1.4.4",
    types=["aws:ec2/subnet:Subnet"],
    description="No subnet assigns public IPs automatically",
)
def no_public_ip_on_launch(r: Resource) -> Iterator[str]:
    if r.inputs.get("mapPublicIpOnLaunch"):
        yield "mapPublicIpOnLaunch is true"


@rule(
    "sg-rule-specific",
    pci="1.2.5",
    types=SG_RULES,
    description="Security group rules name one protocol and port range and say why",
)
def sg_rule_specific(r: Resource) -> Iterator[str]:
    if r.inputs.get("ipProtocol") in ("-1", "all"):
        yield "allows all protocols and ports"
    if not r.inputs.get("description"):
        yield "has no description of its business need"


@rule(
    "flow-log-all-traffic",
    pci="10.2.1",
    types=[FLOW_LOG],
    description="Flow logs capture accepted and rejected traffic",
)
def flow_log_all(r: Resource) -> Iterator[str]:
    if r.inputs.get("trafficType") != "ALL":
        yield f"trafficType is {r.inputs.get('trafficType')!r}, not 'ALL'"


@rule(
    "vpn-strong-crypto",
    pci="4.2.1",
    severity=Severity.ADVISORY,
    types=["aws:ec2/vpnConnection:VpnConnection"],
    description="Site-to-site VPN tunnels use IKEv2 and AES-256",
)
def vpn_strong(r: Resource) -> Iterator[str]:
    for tunnel in ("tunnel1", "tunnel2"):
        if r.inputs.get(f"{tunnel}IkeVersions") != ["ikev2"]:
            yield f"{tunnel} allows IKE versions other than ikev2"
        if r.inputs.get(f"{tunnel}Phase1EncryptionAlgorithms") != ["AES256"]:
            yield f"{tunnel} phase 1 allows ciphers other than AES256"
