"""The network program under mocks: topology, routing, segmentation, logging, VPN."""

from __future__ import annotations

import ipaddress
import json

import pytest

from payments.core.errors import ConfigError
from payments.layers.network.cidrs import carve
from payments.plan.engine import plan_environment
from tests.support import of_type, one, plan

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
RT = "aws:ec2/routeTable:RouteTable"
RTA = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NAT = "aws:ec2/natGateway:NatGateway"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"


def network(env: str = "dev", **overrides: object):
    return plan(env, ["network"], {"network": overrides} if overrides else None).layer("network")


def tier_subnets(lp, tier: str):
    return [r for r in of_type(lp, SUBNET) if r.inputs["tags"]["Tier"] == tier]


def sg_id(lp, role: str) -> str:
    return next(r.id for r in of_type(lp, SG) if r.inputs["name"].startswith(f"{role}-sg-"))


def routes_of(lp, table_ids: set[str]):
    return [r for r in of_type(lp, ROUTE) if r.inputs["routeTableId"] in table_ids]


# --- CIDR carving (pure) ---------------------------------------------------------


@pytest.mark.parametrize("azs", [2, 3, 6])
def test_carved_subnets_are_disjoint_and_inside_the_vpc(azs: int) -> None:
    vpc = ipaddress.IPv4Network("10.20.0.0/16")
    plans = carve(vpc, azs)
    assert len(plans) == 3 * azs
    nets = [p.cidr for p in plans]
    assert all(n.subnet_of(vpc) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_adding_an_az_never_moves_existing_subnets() -> None:
    vpc = ipaddress.IPv4Network("10.20.0.0/16")
    two = {(p.tier, p.az_index): p.cidr for p in carve(vpc, 2)}
    three = {(p.tier, p.az_index): p.cidr for p in carve(vpc, 3)}
    assert all(three[key] == cidr for key, cidr in two.items())


def test_smallest_vpc_gives_28_subnets() -> None:
    assert {p.cidr.prefixlen for p in carve(ipaddress.IPv4Network("10.0.0.0/23"), 6)} == {28}


# --- topology ------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "cidr"), [("dev", "10.20.0.0/16"), ("prod", "10.30.0.0/16")])
def test_three_tiers_in_three_provider_azs(env: str, cidr: str) -> None:
    lp = network(env)
    assert one(lp, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == cidr
    for tier in ("public", "app", "data"):
        subnets = tier_subnets(lp, tier)
        assert sorted(s.inputs["availabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in of_type(lp, SUBNET))
    assert lp.outputs["azNames"] == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_dev_has_one_nat_shared_by_every_app_subnet() -> None:
    lp = network("dev")
    nats = of_type(lp, NAT)
    assert len(nats) == 1
    app_rts = set(lp.outputs["appRouteTableIds"])
    defaults = [r for r in routes_of(lp, app_rts) if r.inputs["destinationCidrBlock"] == "0.0.0.0/0"]
    assert len(defaults) == 3 and {r.inputs["natGatewayId"] for r in defaults} == {nats[0].id}


def test_prod_survives_an_az_loss_with_a_nat_per_az() -> None:
    lp = network("prod")
    nats = of_type(lp, NAT)
    public = {s.id: s.inputs["availabilityZone"] for s in tier_subnets(lp, "public")}
    assert sorted(public[n.inputs["subnetId"]] for n in nats) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    # each app subnet leaves through the NAT of its own AZ
    app_subnet_az = {s.id: s.inputs["availabilityZone"] for s in tier_subnets(lp, "app")}
    nat_az = {n.id: public[n.inputs["subnetId"]] for n in nats}
    rt_az = {
        a.inputs["routeTableId"]: app_subnet_az[a.inputs["subnetId"]]
        for a in of_type(lp, RTA)
        if a.inputs["subnetId"] in app_subnet_az
    }
    for route in routes_of(lp, set(rt_az)):
        if route.inputs["destinationCidrBlock"] == "0.0.0.0/0":
            assert nat_az[route.inputs["natGatewayId"]] == rt_az[route.inputs["routeTableId"]]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_data_subnets_have_no_route_to_the_internet(env: str) -> None:
    lp = network(env)
    data_routes = routes_of(lp, set(lp.outputs["dataRouteTableIds"]))
    assert data_routes, "data subnets should at least route on-prem over the VPN"
    assert all(r.inputs["destinationCidrBlock"] != "0.0.0.0/0" for r in data_routes)
    assert all("natGatewayId" not in r.inputs and r.inputs.get("gatewayId", "").startswith("vgw-") for r in data_routes)


def test_two_az_profile() -> None:
    lp = network("prod", azCount=2)
    assert len(of_type(lp, SUBNET)) == 6 and len(of_type(lp, NAT)) == 2
    assert lp.outputs["azNames"] == ["us-east-1a", "us-east-1b"]


# --- logging and endpoints -------------------------------------------------------------


def test_flow_logs_capture_all_traffic_into_an_encrypted_year_long_group() -> None:
    lp = network("dev")
    flow = one(lp, "aws:ec2/flowLog:FlowLog")
    group = one(lp, "aws:cloudwatch/logGroup:LogGroup")
    assert flow.inputs["trafficType"] == "ALL" and flow.inputs["vpcId"] == lp.outputs["vpcId"]
    assert flow.inputs["logDestination"].endswith(f"log-group:{group.inputs['name']}")
    assert group.inputs["retentionInDays"] >= 365
    assert group.inputs["kmsKeyId"] == lp.outputs["logsKeyArn"]
    assert one(lp, "aws:kms/key:Key").inputs["enableKeyRotation"] is True


def test_default_security_group_is_stripped() -> None:
    default = one(network("dev"), "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs.get("ingress", []) == [] and default.inputs.get("egress", []) == []


def test_endpoints_keep_aws_traffic_private() -> None:
    lp = network("dev")
    endpoints = of_type(lp, "aws:ec2/vpcEndpoint:VpcEndpoint")
    gateway = [e for e in endpoints if e.inputs["vpcEndpointType"] == "Gateway"]
    assert [g.inputs["serviceName"] for g in gateway] == ["com.amazonaws.us-east-1.s3"]
    interface = {
        e.inputs["serviceName"].removeprefix("com.amazonaws.us-east-1.")
        for e in endpoints
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    assert interface == {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "kms", "sts"}
    for e in endpoints:
        if e.inputs["vpcEndpointType"] == "Interface":
            assert e.inputs["privateDnsEnabled"] and e.inputs["subnetIds"] == lp.outputs["appSubnetIds"]


# --- segmentation ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_segmentation_rules(env: str) -> None:
    lp = network(env)
    alb, app, db, dms = (sg_id(lp, role) for role in ("alb", "app", "db", "dms"))
    ingress = of_type(lp, INGRESS)
    assert all(r.inputs.get("cidrIpv4") != "0.0.0.0/0" for r in ingress)
    db_in = [r for r in ingress if r.inputs["securityGroupId"] == db]
    assert {(r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"]) for r in db_in} == {(app, 3306), (dms, 3306)}
    app_in = [r for r in ingress if r.inputs["securityGroupId"] == app]
    assert [(r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"]) for r in app_in] == [(alb, 8080)]
    alb_in = [r for r in ingress if r.inputs["securityGroupId"] == alb]
    assert {(r.inputs["cidrIpv4"], r.inputs["fromPort"]) for r in alb_in} == {
        ("203.0.113.0/24", 443),
        ("203.0.113.0/24", 80),
    }
    assert all(r.inputs["ipProtocol"] == "tcp" and r.inputs["description"] for r in ingress + of_type(lp, EGRESS))


def test_cloudfront_mode_uses_the_managed_prefix_list() -> None:
    lp = network("dev", albIngress="cloudfront", albClientCidrs=[])
    alb = sg_id(lp, "alb")
    alb_in = [r for r in of_type(lp, INGRESS) if r.inputs["securityGroupId"] == alb]
    assert {r.inputs["prefixListId"] for r in alb_in} == {"pl-3b927c52"}
    assert all("cidrIpv4" not in r.inputs for r in alb_in)


def test_vpn_routes_on_prem_from_every_tier_the_alb_included() -> None:
    lp = network("dev")
    vpn = one(lp, "aws:ec2/vpnConnection:VpnConnection")
    assert vpn.inputs["staticRoutesOnly"] is True and vpn.inputs["tunnel1IkeVersions"] == ["ikev2"]
    tables = {lp.outputs["publicRouteTableId"], *lp.outputs["appRouteTableIds"], *lp.outputs["dataRouteTableIds"]}
    onprem = [r for r in routes_of(lp, tables) if r.inputs["destinationCidrBlock"] == "172.16.0.0/16"]
    # The ALB sends to its legacy IP targets from the public subnets: their table needs the route too.
    assert {r.inputs["routeTableId"] for r in onprem} == tables and len(onprem) == 7
    assert lp.outputs["vpnConnectionId"] == vpn.id


def test_vpn_tunnels_pin_strong_diffie_hellman_groups_in_both_phases() -> None:
    vpn = one(network("prod"), "aws:ec2/vpnConnection:VpnConnection").inputs
    for tunnel in (1, 2):
        for phase in (1, 2):
            assert vpn[f"tunnel{tunnel}Phase{phase}DhGroupNumbers"] == [19, 20, 21]


def test_flow_log_role_has_what_aws_documents_and_no_more() -> None:
    lp = network("dev")
    role = one(lp, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"},
    }
    statements = json.loads(one(lp, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])["Statement"]
    granted = {a for s in statements for a in s["Action"]}
    # AWS's documented set, without logs:CreateLogGroup: the stack owns the (encrypted, year-long) group
    assert granted == {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:DescribeLogGroups"}
    (find,) = [s for s in statements if s["Sid"] == "FindTheGroup"]
    assert find["Resource"] == "*" and find["Action"] == ["logs:DescribeLogGroups"]


def test_without_vpn_nothing_on_prem_is_built() -> None:
    lp = network("dev", vpnEnabled=False, onPremCidrs=[])
    assert not of_type(lp, "aws:ec2/vpnConnection:VpnConnection")
    assert "vpnConnectionId" not in lp.outputs and lp.outputs["onPremCidrs"] == []


def test_network_plan_has_no_findings() -> None:
    for env in ("dev", "prod"):
        assert plan(env, ["network"]).findings == []


# --- bad config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"albClientCidrs": ["0.0.0.0/0"]}, "payments-network:albClientCidrs: 0.0.0.0/0 is not allowed"),
        ({"albClientCidrs": []}, "payments-network:albClientCidrs: empty while albIngress is 'cidrs'"),
        ({"onPremCidrs": ["10.20.128.0/17"]}, "payments-network:onPremCidrs: 10.20.128.0/17 overlaps the VPC range"),
        ({"vpcCidr": "10.20.0.0/24"}, "payments-network:vpcCidr: /24 cannot hold 3 subnet tiers"),
        ({"vpcCidr": "10.16.0.0/12"}, "payments-network:vpcCidr: /12 cannot hold"),
        ({"azCount": 7}, "payments-network:azCount: 7 is out of range"),
        ({"azCount": 1}, "payments-network:azCount: 1 is out of range"),
        ({"natStrategy": "per_subnet"}, "payments-network:natStrategy: 'per_subnet' is not allowed"),
        ({"customerGatewayIp": None}, "payments-network:customerGatewayIp: vpnEnabled needs customerGatewayIp"),
        (
            {"interfaceEndpoints": ["ecr.api", "dynamo"]},
            "payments-network:interfaceEndpoints: unknown service(s) dynamo",
        ),
        ({"flowLogRetentionDays": 90}, "payments-network:flowLogRetentionDays: 90 is not allowed"),
        ({"appPort": 70000}, "payments-network:appPort: 70000 is out of range"),
    ],
)
def test_bad_network_config_is_one_clear_line(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_environment("dev", ["network"], overrides={"network": overrides})
    assert str(info.value).startswith(message), str(info.value)


def test_a_failed_plan_leaves_nothing_behind(capfd: pytest.CaptureFixture[str]) -> None:
    """An error raised inside an apply is one line, and the next plan in the process still works."""
    with pytest.raises(ConfigError, match="payments-edge:legacyTargets"):
        plan_environment("dev", ["edge"], overrides={"edge": {"legacyTargets": ["10.99.0.5"]}})
    assert plan_environment("dev", ["edge"]).layer("edge").resources
    assert "Traceback" not in capfd.readouterr().err
