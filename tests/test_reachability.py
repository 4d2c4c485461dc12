"""Reachability over the planned network: every intent proven per environment, and broken one at a time.

Each breaking test changes the planned resources (or the config) the way a real mistake would, re-runs the
intent table over them, and checks that the verdict names the hop that now drops (or lets through) the flow.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from payments.plan.engine import PlannedResource
from payments.reachability import intent as reach
from payments.reachability import model
from payments.reachability.walk import Eni, Place, Walk
from tests.support import plan

ENVS = ("dev", "prod", "compact")
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf"
DMS_ON = {
    "migration": {"dmsSourceSecretArn": SECRET, "dmsSourceSslMode": "require"},
    "observability": {"dmsEnabled": True},
}
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS, EGRESS = model.INGRESS_RULE, model.EGRESS_RULE
Resources = list[PlannedResource]


def planned(env: str, dms: bool = False, overrides: dict[str, dict[str, Any]] | None = None) -> tuple[Any, Resources]:
    p = plan(env, None, {**(DMS_ON if dms else {}), **(overrides or {})})
    return p, [r for lp in p.layers for r in lp.resources]


def verdict(env: str, mutate: Callable[[Resources], Resources] | None = None, dms: bool = False) -> reach.Verdict:
    p, resources = planned(env, dms)
    network = p.layer("network")
    result = reach.check(env, (mutate or list)(resources), network.config, "us-east-1", network.values["dataSubnetIds"])
    assert result is not None
    return result


def status(v: reach.Verdict, flow: str) -> reach.Check:
    found = [c for c in v.checks if c.flow.startswith(flow)]
    assert found, f"no check {flow!r} in {[c.flow for c in v.checks]}"
    return next((c for c in found if c.failed), found[0])


# --- mutations -------------------------------------------------------------------------------------------------


def sg_id(resources: Resources, role: str) -> str:
    return next(r.id for r in resources if r.type == SG and str(r.inputs.get("name", "")).startswith(f"{role}-sg-"))


def without(predicate: Callable[[PlannedResource], bool]) -> Callable[[Resources], Resources]:
    return lambda rs: [r for r in rs if not predicate(r)]


def rule_of(kind: str, role: str, label: str) -> Callable[[PlannedResource], bool]:
    """A security group rule of the network layer, by its logical name: sg-<role>-<in|out>-<label>."""
    return lambda r: r.type == kind and r.name.startswith(f"sg-{role}-{'in' if kind == INGRESS else 'out'}-{label}")


def adding(*extra: Callable[[Resources], PlannedResource]) -> Callable[[Resources], Resources]:
    return lambda rs: rs + [make(rs) for make in extra]


def rule(kind: str, role: str, port: int | None, **peer: Any) -> Callable[[Resources], PlannedResource]:
    def make(rs: Resources) -> PlannedResource:
        ports = {"fromPort": port, "toPort": port} if port else {}
        inputs = {"securityGroupId": sg_id(rs, role), "ipProtocol": "tcp" if port else "-1", **ports}
        for key, value in peer.items():
            inputs[key] = sg_id(rs, value) if key == "referencedSecurityGroupId" else value
        return PlannedResource(kind, f"test-{role}-{len(rs)}", "", f"sgr-test{len(rs)}", inputs, None, True)

    return make


def changing(type_: str, change: Callable[[dict[str, Any], Resources], dict[str, Any]],
             where: Callable[[PlannedResource], bool] = lambda r: True) -> Callable[[Resources], Resources]:
    def mutate(rs: Resources) -> Resources:
        return [dataclasses.replace(r, inputs=change(dict(r.inputs), rs)) if r.type == type_ and where(r) else r
                for r in rs]

    return mutate


def tier(rs: Resources, name: str) -> list[str]:
    return [r.id for r in rs if r.type == model.SUBNET and r.inputs["tags"]["Tier"] == name]


def route(table_name: str, destination: str,
          **target: Callable[[Resources], str]) -> Callable[[Resources], PlannedResource]:
    def make(rs: Resources) -> PlannedResource:
        table = next(r.id for r in rs if r.type == model.ROUTE_TABLE and r.name == table_name)
        inputs = {"routeTableId": table, "destinationCidrBlock": destination}
        inputs |= {key: pick(rs) for key, pick in target.items()}
        return PlannedResource(model.ROUTE, f"test-route-{len(rs)}", "", f"r-test{len(rs)}", inputs, None, True)

    return make


def igw(rs: Resources) -> str:
    return next(r.id for r in rs if r.type == model.INTERNET_GATEWAY)


# --- every environment: each must-flow proven, each must-not refused -------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_every_intent_holds_in_every_environment(env: str) -> None:
    v = plan(env).reachability
    assert v is not None
    assert [c.flow + ": " + c.detail for c in v.checks if c.failed] == []
    assert v.findings() == []
    must = {c.intent.source + " -> " + c.intent.target for c in v.of("proven")}
    assert {"clients -> alb", "alb -> pool targets", "app -> database", "app -> on-prem database",
            "app -> endpoints", "app -> s3"} <= must
    refused = {c.intent.source + " -> " + c.intent.target for c in v.of("refused")}
    assert {"internet -> app", "internet -> database", "data subnets -> internet", "alb -> database",
            "on-prem -> database", "any other interface -> database", "endpoints -> database"} <= refused
    # DMS is off in the shipped stacks: its flows are reported, not silently dropped.
    assert {c.flow for c in v.of("not applicable") if c.intent.source == "dms"} == {
        "dms -> on-prem database", "dms -> database", "dms -> endpoints", "dms -> s3"}


@pytest.mark.parametrize("env", ["dev", "compact"])
def test_with_dms_on_its_flows_are_proven_and_it_stays_unreachable(env: str) -> None:
    v = verdict(env, dms=True)
    assert [c.flow + ": " + c.detail for c in v.checks if c.failed] == []
    dms = [c for c in v.checks if "dms" in (c.intent.source, c.intent.target)]
    assert dms and all(c.status in ("proven", "refused") for c in dms)


def test_legacy_pool_is_proven_per_target_over_the_vpn() -> None:
    v = plan("prod").reachability
    assert v is not None
    legacy = [c for c in v.checks if c.flow.startswith("alb -> legacy ")]
    assert [c.flow for c in legacy] == [f"alb -> legacy 172.16.20.{i}:443" for i in (11, 12, 13)]
    assert all(c.status == "proven" and "vgw-prod" in c.detail for c in legacy)


def test_plan_carries_the_verdict_into_findings_and_json() -> None:
    p = plan("dev")
    data = p.as_dict()["reachability"]
    assert data["summary"].endswith("0 findings") and "on-prem side of the VPN" in data["notModelled"]
    assert len(data["checks"]) == len(p.reachability.checks)  # type: ignore[union-attr]


# --- breaking each must-flow --------------------------------------------------------------------------------


MUST_BREAKS = [
    ("clients -> alb", without(rule_of(INGRESS, "alb", "clients-443")),
     "security group(s) alb-sg-dev of alb admit no port 443 from 203.0.113.0"),
    ("alb -> legacy", without(lambda r: r.type == model.ROUTE and r.name.startswith("vpn-route-public-")),
     "route table rt-public-dev has no route to 172.16.10.11 over the VPN (it goes to igw-dev, the internet, by "
     "0.0.0.0/0)"),
    ("alb -> blue", without(rule_of(INGRESS, "app", "from-alb")),
     "security group(s) app-sg-dev of app admit no port 8080"),
    ("app -> database", without(rule_of(INGRESS, "db", "from-app")), "security group(s) db-sg-dev of database"),
    ("app -> on-prem database", without(rule_of(EGRESS, "app", "to-onprem-db")),
     "security group(s) app-sg-dev allow no egress to 172.16.0.0 port 3306"),
    ("app -> endpoint ssm", without(rule_of(INGRESS, "endpoint", "from-vpc")),
     "security group(s) endpoint-sg-dev of endpoint admit no port 443"),
    ("app -> s3", without(lambda r: r.type == model.VPC_ENDPOINT and r.inputs.get("vpcEndpointType") == "Gateway"),
     "route table rt-app-us-east-1a-dev has no route to 52.216.0.0 through its gateway endpoint (it goes to "
     "nat-us-east-1a-dev, then igw-dev, the internet, by 0.0.0.0/0)"),
]


@pytest.mark.parametrize(("flow", "mutate", "hop"), MUST_BREAKS, ids=[b[0] for b in MUST_BREAKS])
def test_breaking_a_must_flow_names_the_hop(flow: str, mutate: Callable[[Resources], Resources], hop: str) -> None:
    check = status(verdict("dev", mutate), flow)
    assert check.status == "violated" and hop in check.detail, check
    assert any(f.message.startswith(flow) and hop in f.message for f in verdict("dev", mutate).findings())


def test_app_reaches_on_prem_through_its_own_vpn_routes_or_through_the_nat_gateway() -> None:
    def drop_vpn_routes(prefixes: tuple[str, ...]) -> Callable[[Resources], Resources]:
        def drop(rs: Resources) -> Resources:
            tables = {r.id for r in rs if r.type == model.ROUTE_TABLE and r.name.startswith(prefixes)}
            return [r for r in rs if not (r.type == model.ROUTE and r.inputs.get("routeTableId") in tables
                                          and r.inputs.get("gatewayId", "").startswith("vgw-"))]

        return drop

    # Without the app tables' VPN routes, packets go to the NAT gateway, whose (public) table sends them into
    # the VPN: AWS lets a public NAT gateway reach a virtual private gateway, so the flow still works.
    through_nat = status(verdict("dev", drop_vpn_routes(("vpc-app-rt-",))), "app -> on-prem database")
    assert through_nat.status == "proven" and "nat-us-east-1a-dev" in through_nat.detail
    check = status(verdict("dev", drop_vpn_routes(("vpc-app-rt-", "vpc-public-rt"))), "app -> on-prem database")
    assert check.status == "violated"
    assert check.detail == ("route table rt-app-us-east-1a-dev has no route to 172.16.0.0 over the VPN (it goes to "
                            "nat-us-east-1a-dev, then igw-dev, the internet, by 0.0.0.0/0)")


DMS_BREAKS = [
    ("dms -> on-prem database", without(rule_of(EGRESS, "dms", "to-onprem-db")),
     "security group(s) dms-sg-dev allow no egress to 172.16.0.0 port 3306"),
    ("dms -> database", without(rule_of(INGRESS, "db", "from-dms")), "security group(s) db-sg-dev of database"),
    ("dms -> endpoint secretsmanager", without(rule_of(EGRESS, "dms", "to-endpoints")),
     "security group(s) dms-sg-dev allow no egress to"),
    ("dms -> s3", without(rule_of(EGRESS, "dms", "to-s3")), "security group(s) dms-sg-dev allow no egress to 52.216"),
]


@pytest.mark.parametrize(("flow", "mutate", "hop"), DMS_BREAKS, ids=[b[0] for b in DMS_BREAKS])
def test_breaking_a_dms_flow_names_the_hop(flow: str, mutate: Callable[[Resources], Resources], hop: str) -> None:
    check = status(verdict("dev", mutate, dms=True), flow)
    assert check.status == "violated" and hop in check.detail, check


def test_a_config_mistake_breaks_the_legacy_pool_at_the_alb_security_group() -> None:
    # The edge sends to a legacy port the network never opened.
    v = plan("dev", None, {"edge": {"legacyPort": 8443}}).reachability
    assert v is not None
    check = status(v, "alb -> legacy 172.16.10.11:8443")
    assert check.status == "violated"
    assert check.detail == "security group(s) alb-sg-dev allow no egress to 172.16.10.11 port 8443"


# --- breaking each must-not -----------------------------------------------------------------------------------


def public_app(rs: Resources) -> Resources:
    """Tasks in the public subnets with public IPs, their group open to the world: the internet reaches them."""
    rs = changing("aws:ecs/service:Service", lambda i, all_: {
        **i, "networkConfiguration": {**i["networkConfiguration"], "subnets": tier(all_, "public"),
                                      "assignPublicIp": True}})(rs)
    return adding(rule(INGRESS, "app", 8080, cidrIpv4="0.0.0.0/0"))(rs)


def public_database(rs: Resources) -> Resources:
    rs = changing("aws:rds/subnetGroup:SubnetGroup", lambda i, all_: {**i, "subnetIds": tier(all_, "public")})(rs)
    rs = changing("aws:rds/clusterInstance:ClusterInstance", lambda i, _: {**i, "publiclyAccessible": True})(rs)
    return adding(rule(INGRESS, "db", 3306, cidrIpv4="0.0.0.0/0"))(rs)


MUST_NOT_BREAKS = [
    ("internet -> app", public_app, "reachable: "),
    ("internet -> database", public_database, "reachable: "),
    ("data subnets -> internet", adding(route("vpc-data-rt-0", "0.0.0.0/0", gatewayId=igw)),
     "via rt-data-us-east-1a-dev: 0.0.0.0/0 -> igw-dev"),
    ("data subnets -> internet", adding(route("vpc-data-rt-1", "0.0.0.0/0", natGatewayId=lambda rs: next(
        r.id for r in rs if r.type == model.NAT_GATEWAY))), "-> nat-us-east-1a-dev"),
    ("alb -> database", adding(rule(EGRESS, "alb", 3306, referencedSecurityGroupId="db"),
                               rule(INGRESS, "db", 3306, referencedSecurityGroupId="alb")), "reachable: "),
    ("endpoint ssm -> database", adding(rule(EGRESS, "endpoint", None, cidrIpv4="0.0.0.0/0"),
                                        rule(INGRESS, "db", 3306, referencedSecurityGroupId="endpoint")),
     "reachable: "),
    ("on-prem -> database", adding(rule(INGRESS, "db", 3306, cidrIpv4="172.16.0.0/12")),
     "reachable: 172.16.0.0 -> 10.20.128.0:3306 via on-prem -> vgw-dev -> database"),
    ("any other interface -> database", adding(rule(INGRESS, "db", 3306, cidrIpv4="10.20.0.0/16")), "reachable: "),
]


@pytest.mark.parametrize(("flow", "mutate", "hop"), MUST_NOT_BREAKS, ids=[f"{b[0]}-{i}" for i, b in
                                                                         enumerate(MUST_NOT_BREAKS)])
def test_breaking_a_must_not_says_how_it_gets_through(flow: str, mutate: Callable[[Resources], Resources],
                                                      hop: str) -> None:
    check = status(verdict("dev", mutate), flow)
    assert check.status == "violated" and hop in check.detail, check


def test_internet_reaches_dms_once_it_is_public() -> None:
    def public_dms(rs: Resources) -> Resources:
        rs = changing("aws:dms/replicationSubnetGroup:ReplicationSubnetGroup",
                      lambda i, all_: {**i, "subnetIds": tier(all_, "public")})(rs)
        rs = changing("aws:dms/replicationInstance:ReplicationInstance",
                      lambda i, _: {**i, "publiclyAccessible": True})(rs)
        return adding(rule(INGRESS, "dms", None, cidrIpv4="0.0.0.0/0"))(rs)

    check = status(verdict("dev", public_dms, dms=True), "internet -> dms")
    assert check.status == "violated" and check.detail.startswith("reachable: ")


# --- network ACLs: rule order, first match, stateless, default deny ---------------------------------------------


def nacl_on(tier_name: str, *entries: tuple[int, bool, str, str, int, int]) -> Callable[[Resources], Resources]:
    """A network ACL on a tier's subnets with (number, egress, action, cidr, from, to) TCP entries."""

    def mutate(rs: Resources) -> Resources:
        vpc = next(r.id for r in rs if r.type == model.VPC)
        acl = PlannedResource(model.NETWORK_ACL, f"test-nacl-{tier_name}", "", "acl-test", {
            "vpcId": vpc, "subnetIds": tier(rs, tier_name), "tags": {"Name": f"nacl-{tier_name}"},
            "ingress": [], "egress": []}, None, True)
        rules = [PlannedResource(model.NETWORK_ACL_RULE, f"test-nacl-rule-{i}", "", f"aclr-{i}", {
            "networkAclId": "acl-test", "ruleNumber": n, "egress": egress, "protocol": "tcp", "ruleAction": action,
            "cidrBlock": cidr, "fromPort": lo, "toPort": hi}, None, True) for i, (n, egress, action, cidr, lo, hi)
            in enumerate(entries)]
        # A subnet has one ACL: associating this one replaces the planned association (the app tier's fence ACL).
        moved = set(tier(rs, tier_name))
        kept = [r for r in rs if not (r.type == model.NETWORK_ACL_ASSOCIATION and r.inputs.get("subnetId") in moved)]
        return [*kept, acl, *rules]

    return mutate


OPEN = [(900, True, "allow", "0.0.0.0/0", 0, 65535), (900, False, "allow", "0.0.0.0/0", 0, 65535)]


def test_nacl_fencing_the_on_prem_writer_names_its_rule() -> None:
    """The switchover's entry on the planned app ACL (payments/layers/network/fence.py): rule 50 decides first."""

    def fence(rs: Resources) -> Resources:
        acl = next(r.id for r in rs if r.type == model.NETWORK_ACL)
        return [*rs, PlannedResource(model.NETWORK_ACL_RULE, "fence", "", "aclr-fence", {
            "networkAclId": acl, "ruleNumber": 50, "egress": True, "protocol": "tcp", "ruleAction": "deny",
            "cidrBlock": "172.16.0.0/16", "fromPort": 3306, "toPort": 3306}, None, True)]

    v = verdict("dev", fence)
    check = status(v, "app -> on-prem database")
    assert check.detail == (
        "network ACL nacl-app-write-fence-dev of subnet-app-us-east-1a-dev denies egress to 172.16.0.0 port 3306 "
        "(rule 50)"
    )
    assert status(v, "app -> database").status == "proven"  # the fence is narrow
    assert status(v, "dms -> on-prem database").status in ("proven", "not applicable")  # DMS is not fenced


def test_nacl_first_match_wins_in_rule_number_order() -> None:
    allow_first = nacl_on("app", (50, True, "allow", "172.16.0.0/16", 3306, 3306),
                          (100, True, "deny", "172.16.0.0/16", 3306, 3306), *OPEN)
    assert status(verdict("dev", allow_first), "app -> on-prem database").status == "proven"


def test_nacl_default_rule_denies_what_no_entry_allows() -> None:
    only_https = nacl_on("data", (100, False, "allow", "10.20.0.0/16", 443, 443),
                         (100, True, "allow", "0.0.0.0/0", 0, 65535))
    check = status(verdict("dev", only_https), "app -> database")
    assert check.detail.endswith("denies ingress from 10.20.64.0 port 3306 (the default * rule)")


def test_nacl_is_stateless_replies_need_their_own_entry() -> None:
    # The database's subnets admit 3306 but let no reply out on ephemeral ports.
    no_replies = nacl_on("data", (100, False, "allow", "0.0.0.0/0", 0, 65535),
                         (100, True, "allow", "0.0.0.0/0", 443, 443))
    check = status(verdict("dev", no_replies), "app -> database")
    assert "denies egress to 10.20.64.0 port 1024 (the default * rule) for replies on ephemeral ports" in check.detail


def test_partial_ephemeral_range_is_no_proof_but_no_hole_either() -> None:
    acl = model.NetworkAcl("a", "n", [model.AclEntry(100, True, "tcp", True, model.ANY, (32768, 65535)),
                                      model.AclEntry(100, False, "all", True, model.ANY, model.ALL_PORTS)])
    subnet = model.Subnet("s", "s", ipaddress.IPv4Network("10.0.0.0/24"), model.RouteTable("t", "t"), acl)
    net = model.Model(ipaddress.IPv4Network("10.0.0.0/16"), {"s": subnet}, {}, {}, {}, {}, {}, {}, {})
    b = ipaddress.IPv4Address("192.0.2.1")
    assert Walk(net, strict=True)._acl_reply(subnet, True, b)  # some client ports would be dropped
    assert not Walk(net, strict=False)._acl_reply(subnet, True, b)  # some get through: not refused


def test_longest_prefix_then_static_over_propagated() -> None:
    nets = ipaddress.IPv4Network
    table = model.RouteTable("t", "t", [
        model.Route(nets("0.0.0.0/0"), "igw-1", "igw", model.STATIC),
        model.Route(nets("172.16.0.0/16"), "vgw-1", "vgw", model.PROPAGATED),
        model.Route(nets("172.16.0.0/16"), "nat-1", "nat", model.STATIC),
        model.Route(nets("172.16.5.0/24"), "vgw-1", "vgw", model.PROPAGATED),
    ])
    assert table.lookup(ipaddress.IPv4Address("172.16.5.9")).target == "vgw-1"  # type: ignore[union-attr]
    assert table.lookup(ipaddress.IPv4Address("172.16.6.9")).target == "nat-1"  # type: ignore[union-attr]
    assert table.lookup(ipaddress.IPv4Address("8.8.8.8")).target == "igw-1"  # type: ignore[union-attr]


def test_representatives_split_a_range_wherever_an_answer_can_change() -> None:
    reps = reach.representatives(ipaddress.IPv4Network("172.16.0.0/16"), [ipaddress.IPv4Network("172.16.5.0/24")])
    assert [str(a) for a in reps] == ["172.16.0.0", "172.16.5.0", "172.16.6.0"]
    assert Place("eni", Eni("x", "s", None)).shown == "x in s"
