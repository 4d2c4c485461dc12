"""Network rules: segmentation, flow logs, closed default security group."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from payments.guardrails.engine import Resource, missing_companions, rule, stack_rule

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET = "aws:ec2/subnet:Subnet"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
DEFAULT_ROUTE_TABLE = "aws:ec2/defaultRouteTable:DefaultRouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
MAIN_ROUTE_TABLE_ASSOCIATION = "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"
ANYWHERE = ("0.0.0.0/0", "::/0")
#: "public" as a word of a subnet's Name tag (the network layer names them subnet-public-<az>-<suffix>).
_PUBLIC_WORD = re.compile(r"(^|[-_ ])public([-_ ]|$)", re.I)
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


#: Diffie-Hellman groups AWS's tunnels offer that are strong (NIST SP 800-77r1): 2048-bit MODP and up, and the
#: elliptic-curve groups. AWS's defaults also accept group 2 (1024-bit) in phase 1 and groups 2 and 5 in phase 2.
STRONG_DH_GROUPS = frozenset({14, 15, 16, 17, 18, 19, 20, 21})


@rule(
    "vpn-strong-crypto",
    pci="4.2.1",
    types=["aws:ec2/vpnConnection:VpnConnection"],
    description="Site-to-site VPN tunnels use IKEv2, AES-256, and pinned strong Diffie-Hellman groups in both phases",
)
def vpn_strong(r: Resource) -> Iterator[str]:
    for tunnel in ("tunnel1", "tunnel2"):
        if r.inputs.get(f"{tunnel}IkeVersions") != ["ikev2"]:
            yield f"{tunnel} allows IKE versions other than ikev2"
        if r.inputs.get(f"{tunnel}Phase1EncryptionAlgorithms") != ["AES256"]:
            yield f"{tunnel} phase 1 allows ciphers other than AES256"
        for phase in ("Phase1", "Phase2"):
            groups = r.inputs.get(f"{tunnel}{phase}DhGroupNumbers")
            if not groups:
                yield f"{tunnel} {phase.lower()} leaves the Diffie-Hellman groups to AWS's defaults (weak 2 and 5)"
            elif weak := sorted({int(g) for g in groups} - STRONG_DH_GROUPS):
                yield f"{tunnel} {phase.lower()} allows weak Diffie-Hellman group(s) {weak}"


#: What VPC Flow Logs needs from its role to publish to CloudWatch Logs (VPC User Guide, "IAM role for publishing
#: flow logs to CloudWatch Logs"). logs:CreateLogGroup is left out on purpose: the stack owns the log group (KMS key,
#: retention), and a group the service re-created would have neither.
FLOW_LOG_ACTIONS = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"}
)


@stack_rule(
    "flow-log-role-permissions",
    pci="10.2.1",
    description="Each flow log's role grants what VPC Flow Logs needs to publish to CloudWatch Logs",
)
def flow_log_role_permissions(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    roles = {key: r for r in resources if r.type == "aws:iam/role:Role" for key in (r.id, r.inputs.get("name")) if key}
    granted: dict[str, set[str]] = {}
    for policy in (r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy"):
        doc = policy.json("policy")
        statements = doc.get("Statement") if isinstance(doc, dict) else None
        for stmt in statements if isinstance(statements, list) else []:
            actions = stmt.get("Action") if isinstance(stmt, dict) and stmt.get("Effect") == "Allow" else None
            granted.setdefault(str(policy.inputs.get("role")), set()).update(
                actions if isinstance(actions, list) else [actions] if isinstance(actions, str) else []
            )
    to_logs = [r for r in resources if r.type == FLOW_LOG and r.inputs.get("logDestinationType") in (None,
                                                                                                  "cloud-watch-logs")]
    for flow_log in to_logs:
        arn = str(flow_log.inputs.get("iamRoleArn") or "")
        role = next((roles[k] for k in (arn.rsplit("/", 1)[-1], arn) if k in roles), None)
        if role is None:
            continue  # a role from elsewhere (or unknown in a real preview): not this stack's to check
        have = set().union(*(granted.get(str(k), set()) for k in (role.id, role.inputs.get("name")) if k))
        missing = sorted(FLOW_LOG_ACTIONS - have)
        if missing:
            yield flow_log.name, f"its role {role.name} lacks {', '.join(missing)} (VPC Flow Logs' documented role)"


def _is_public_subnet(subnet: Resource) -> bool:
    """A public-tier subnet: assigns public IPs, or is tagged Tier=public, or has "public" in its Name tag."""
    tags = subnet.inputs.get("tags") or {}
    return (
        subnet.inputs.get("mapPublicIpOnLaunch") is True
        or str(tags.get("Tier", "")).lower() == "public"
        or bool(_PUBLIC_WORD.search(str(tags.get("Name", ""))))
    )


def _internet_routes(resources: list[Resource]) -> Iterator[tuple[Resource, Any, str]]:
    """(resource holding the route, its route table id, destination) for each default route to an internet gateway."""
    gateways = {r.id for r in resources if r.type == INTERNET_GATEWAY and r.id}

    def to_igw(gateway: Any) -> bool:
        return isinstance(gateway, str) and (gateway in gateways or gateway.startswith("igw-"))

    for r in resources:
        if r.type == ROUTE:
            destinations = [r.inputs.get("destinationCidrBlock"), r.inputs.get("destinationIpv6CidrBlock")]
            for destination in destinations:
                if destination in ANYWHERE and to_igw(r.inputs.get("gatewayId")):
                    yield r, r.inputs.get("routeTableId"), str(destination)
        elif r.type in (ROUTE_TABLE, DEFAULT_ROUTE_TABLE):
            table_id = r.id if r.type == ROUTE_TABLE else r.inputs.get("defaultRouteTableId")
            for route in r.inputs.get("routes") or []:
                for destination in (route.get("cidrBlock"), route.get("ipv6CidrBlock")):
                    if destination in ANYWHERE and to_igw(route.get("gatewayId")):
                        yield r, table_id, str(destination)


@stack_rule(
    "igw-route-public-only",
    pci="1.3.1, 1.4.1",
    description="Only route tables of public subnets send 0.0.0.0/0 or ::/0 to an internet gateway "
    "(app and data subnets never route to the internet directly)",
)
def igw_route_public_only(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    subnets = {r.id: r for r in resources if r.type == SUBNET and r.id}
    tables: dict[Any, Resource] = {r.id: r for r in resources if r.type == ROUTE_TABLE and r.id}
    tables.update({r.inputs.get("defaultRouteTableId"): r for r in resources if r.type == DEFAULT_ROUTE_TABLE})
    associations = [r for r in resources if r.type == ROUTE_TABLE_ASSOCIATION]
    main_tables = {r.inputs.get("routeTableId") for r in resources if r.type == MAIN_ROUTE_TABLE_ASSOCIATION}
    for holder, table_id, destination in _internet_routes(resources):
        table = tables.get(table_id)
        label = f"route table {table.name if table else table_id}"
        if table_id in main_tables or (table is not None and table.type == DEFAULT_ROUTE_TABLE):
            yield holder.name, (
                f"{label} is the VPC's main route table and sends {destination} to an internet gateway: "
                "every subnet without its own route table would be public"
            )
            continue
        associated = [a.inputs.get("subnetId") for a in associations if a.inputs.get("routeTableId") == table_id]
        private = [
            subnets[s].name if s in subnets else str(s)
            for s in associated
            if s is not None and (s not in subnets or not _is_public_subnet(subnets[s]))
        ]
        if private:
            yield holder.name, (
                f"{label} sends {destination} to an internet gateway but serves non-public subnet(s) "
                f"{', '.join(sorted(private))}; app and data subnets leave through a NAT gateway or not at all"
            )
