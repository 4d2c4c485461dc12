"""Cross-cutting and network guardrails: each rule fires on a resource that breaks it."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from payments.core.errors import UserError
from payments.guardrails import rules_network as rn
from payments.guardrails.engine import RULES, SUPPRESSED, Resource, Severity, evaluate, load_rules
from payments.plan.engine import LayerPlan, Plan, guardrail_view
from tests.support import plan

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}


def findings(resource: Resource | list[Resource], rule_id: str) -> list[str]:
    resources = resource if isinstance(resource, list) else [resource]
    return [f.message for f in evaluate(resources, [RULES[rule_id]])]


def res(type_: str, inputs: dict, **kw) -> Resource:
    kw.setdefault("default_tags", TAGS)
    kw.setdefault("suffix", "dev")
    return Resource(type_, kw.pop("name", "r"), inputs, **kw)


def test_every_rule_names_a_pci_requirement_and_severity() -> None:
    load_rules()
    assert len(RULES) >= 61
    for r in RULES.values():
        assert r.pci and r.description and isinstance(r.severity, Severity)
        assert (r.check is None) != (r.stack_check is None)


def vpn(**inputs: Any) -> Resource:
    """A VPN connection with strong settings on both tunnels, changed by `inputs` (None removes a key)."""
    good = {
        f"tunnel{i}{key}": value
        for i in (1, 2)
        for key, value in {
            "IkeVersions": ["ikev2"],
            "Phase1EncryptionAlgorithms": ["AES256"],
            "Phase1DhGroupNumbers": [19, 20, 21],
            "Phase2DhGroupNumbers": [19, 20, 21],
        }.items()
    }
    merged = {k: v for k, v in {**good, **inputs}.items() if v is not None}
    return res("aws:ec2/vpnConnection:VpnConnection", merged)


def flow_log_stack(*actions: str) -> list[Resource]:
    """A flow log to CloudWatch Logs, its role, and the role's policy granting `actions`."""
    document = {"Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}]}
    return [
        res("aws:iam/role:Role", {"name": "role-vpc-flow-logs-dev"}, name="role", id="role-vpc-flow-logs-dev"),
        res("aws:iam/rolePolicy:RolePolicy", {"role": "role-vpc-flow-logs-dev", "policy": json.dumps(document)}),
        res(
            "aws:ec2/flowLog:FlowLog",
            {"iamRoleArn": "arn:aws:iam::123456789012:role/role-vpc-flow-logs-dev", "trafficType": "ALL"},
            name="flow",
        ),
    ]


def subnet(tier: str, **inputs: Any) -> Resource:
    tags = {"Name": f"subnet-{tier}-us-east-1a-dev", "Tier": tier}
    return res(rn.SUBNET, {"tags": tags, "mapPublicIpOnLaunch": False, **inputs}, name=f"{tier}-0", id=f"subnet-{tier}")


def igw_stack(*subnets: Resource, route: dict[str, Any] | None = None, main: bool = False) -> list[Resource]:
    """A VPC's internet gateway and one route table sending 0.0.0.0/0 to it, associated with `subnets`."""
    route = route if route is not None else {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}
    stack = [
        res(rn.INTERNET_GATEWAY, {"vpcId": "vpc-1"}, name="igw", id="igw-1"),
        res(rn.ROUTE_TABLE, {"vpcId": "vpc-1"}, name="rt", id="rtb-1"),
        res(rn.ROUTE, {"routeTableId": "rtb-1", **route}, name="rt-default"),
        *subnets,
        *[
            res(rn.ROUTE_TABLE_ASSOCIATION, {"subnetId": s.id, "routeTableId": "rtb-1"}, name=f"assoc-{s.name}")
            for s in subnets
        ],
    ]
    if main:
        stack.append(res(rn.MAIN_ROUTE_TABLE_ASSOCIATION, {"vpcId": "vpc-1", "routeTableId": "rtb-1"}, name="main"))
    return stack


# (rule, breaking resource(s), good resource(s))
CASES = [
    (
        "required-tags",
        res("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}, default_tags={"Environment": "dev"}),
        res("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}),
    ),
    (
        "name-has-suffix",
        res("aws:ec2/securityGroup:SecurityGroup", {"name": "app-sg-prod"}),
        res("aws:ec2/securityGroup:SecurityGroup", {"name": "app-sg-dev"}),
    ),
    (
        "no-open-ingress",
        res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "0.0.0.0/0", "fromPort": 443}),
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "203.0.113.0/24", "fromPort": 443}
        ),
    ),
    (
        "no-open-ingress",
        res("aws:ec2/securityGroup:SecurityGroup", {"name": "x-dev", "ingress": [{"cidrBlocks": ["0.0.0.0/0"]}]}),
        res("aws:ec2/securityGroup:SecurityGroup", {"name": "x-dev", "ingress": [{"cidrBlocks": ["10.0.0.0/8"]}]}),
    ),
    (
        "no-open-ingress",
        res("aws:ec2/securityGroupRule:SecurityGroupRule", {"type": "ingress", "ipv6CidrBlocks": ["::/0"]}),
        res("aws:ec2/securityGroupRule:SecurityGroupRule", {"type": "egress", "cidrBlocks": ["0.0.0.0/0"]}),
    ),
    (
        "log-group-protected",
        res("aws:cloudwatch/logGroup:LogGroup", {"name": "g-dev", "retentionInDays": 90}),
        res("aws:cloudwatch/logGroup:LogGroup", {"name": "g-dev", "retentionInDays": 365, "kmsKeyId": "arn:k"}),
    ),
    (
        "kms-rotation",
        res("aws:kms/key:Key", {"enableKeyRotation": False}),
        res("aws:kms/key:Key", {"enableKeyRotation": True}),
    ),
    (
        "destroyable",
        res("aws:s3/bucket:Bucket", {"bucket": "b-dev"}, protect=True),
        res("aws:s3/bucket:Bucket", {"bucket": "b-dev"}),
    ),
    (
        "destroyable",
        res("aws:s3/bucket:Bucket", {"bucket": "b-dev"}, retain_on_delete=True),
        res("aws:s3/bucket:Bucket", {"bucket": "b-dev"}),
    ),
    (
        "no-public-ip-on-launch",
        res("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}),
        res("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": False}),
    ),
    (
        "sg-rule-specific",
        res("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", {"ipProtocol": "-1", "description": "all"}),
        res("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", {"ipProtocol": "tcp", "description": "db"}),
    ),
    (
        "flow-log-all-traffic",
        res("aws:ec2/flowLog:FlowLog", {"trafficType": "REJECT"}),
        res("aws:ec2/flowLog:FlowLog", {"trafficType": "ALL"}),
    ),
    ("vpn-strong-crypto", vpn(tunnel1IkeVersions=["ikev1", "ikev2"]), vpn()),
    # Diffie-Hellman groups: left to AWS (weak 2 and 5 accepted), or a weak one listed, in either phase or tunnel
    ("vpn-strong-crypto", vpn(tunnel2Phase2DhGroupNumbers=None), vpn()),
    ("vpn-strong-crypto", vpn(tunnel1Phase1DhGroupNumbers=[2, 14]), vpn(tunnel1Phase1DhGroupNumbers=[14.0, 20.0])),
    ("flow-log-role-permissions", flow_log_stack("logs:PutLogEvents"), flow_log_stack(*rn.FLOW_LOG_ACTIONS)),
    (
        "vpc-flow-logs",
        [
            res("aws:ec2/vpc:Vpc", {}, name="vpc", id="vpc-1"),
            res("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-2", "trafficType": "ALL"}),
        ],
        [
            res("aws:ec2/vpc:Vpc", {}, name="vpc", id="vpc-1"),
            res("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-1", "trafficType": "ALL"}),
        ],
    ),
    (
        "default-sg-closed",
        [
            res("aws:ec2/vpc:Vpc", {}, name="vpc", id="vpc-1"),
            res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"vpcId": "vpc-1", "ingress": [{"fromPort": 22}]}),
        ],
        [
            res("aws:ec2/vpc:Vpc", {}, name="vpc", id="vpc-1"),
            res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"vpcId": "vpc-1", "ingress": [], "egress": []}),
        ],
    ),
    # an app subnet behind the internet gateway; public subnets (Tier tag) may be
    ("igw-route-public-only", igw_stack(subnet("public"), subnet("app")), igw_stack(subnet("public"))),
    # a data subnet, IPv6 default route; the app tier leaving through a NAT gateway is fine
    (
        "igw-route-public-only",
        igw_stack(subnet("data"), route={"destinationIpv6CidrBlock": "::/0", "gatewayId": "igw-1"}),
        igw_stack(subnet("app"), route={"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}),
    ),
    # inline routes on the route table; a subnet recognised as public by its Name alone, or by public IPs
    (
        "igw-route-public-only",
        [
            res(rn.ROUTE_TABLE, {"routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-9"}]}, name="rt", id="rtb-1"),
            subnet("app"),
            res(rn.ROUTE_TABLE_ASSOCIATION, {"subnetId": "subnet-app", "routeTableId": "rtb-1"}),
        ],
        igw_stack(
            subnet("edge", tags={"Name": "subnet-public-us-east-1b-dev"}),
            subnet("dmz", mapPublicIpOnLaunch=True),
        ),
    ),
    # the VPC's main route table must never reach the internet: unassociated subnets inherit it
    ("igw-route-public-only", igw_stack(subnet("public"), main=True), igw_stack(subnet("public"))),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_on_the_breaking_resource_only(rule_id: str, bad, good) -> None:
    load_rules()
    assert findings(bad, rule_id), f"{rule_id} did not fire"
    assert findings(good, rule_id) == [], f"{rule_id} fired on a compliant resource"


def test_list_form_tags_count() -> None:
    load_rules()
    asg = res("aws:autoscaling/group:Group", {"tags": [{"key": k, "value": v, "propagateAtLaunch": True}
                                                     for k, v in TAGS.items()]}, default_tags={})
    assert findings(asg, "required-tags") == []
    asg_missing = res("aws:autoscaling/group:Group", {"tags": [{"key": "Environment", "value": "dev"}]},
                      default_tags={})
    assert findings(asg_missing, "required-tags")


def test_dns_record_names_are_not_resource_names() -> None:
    load_rules()
    record = res("aws:route53/record:Record", {"name": "pay.example.com", "type": "CNAME"})
    assert findings(record, "name-has-suffix") == []


def test_untaggable_types_are_not_asked_for_tags() -> None:
    load_rules()
    route = res("aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"}, default_tags={})
    assert findings(route, "required-tags") == []


def test_suppressed_findings_carry_their_reason_and_never_block() -> None:
    bad = res("aws:kms/key:Key", {"enableKeyRotation": False}, protect=True)
    reason = "imported key material, rotated by the HSM team"
    found = {f.rule: f for f in evaluate([bad], suppressions={"kms-rotation": f"  {reason} "})}
    assert found["kms-rotation"].severity == SUPPRESSED and found["kms-rotation"].suppressed == reason
    assert found["kms-rotation"].as_dict()["suppressed"] == reason
    # only the named rule is waived; an active finding keeps the documented JSON shape
    assert found["destroyable"].severity == "mandatory" and "suppressed" not in found["destroyable"].as_dict()


def test_suppressed_findings_reach_the_plan_output_without_counting_as_mandatory() -> None:
    bad = res("aws:kms/key:Key", {"enableKeyRotation": False})
    findings = evaluate([bad], suppressions={"kms-rotation": "imported key material, rotated by the HSM team"})
    layer = LayerPlan("data", "organization/payments-data/dev", [], {}, {}, [], [], findings)
    result = Plan("dev", [layer])
    assert result.mandatory == []
    (shown,) = json.loads(result.to_json())["findings"]
    assert shown["rule"] == "kms-rotation" and shown["severity"] == SUPPRESSED
    assert shown["suppressed"] == "imported key material, rotated by the HSM team"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_suppression_without_a_reason_is_one_clear_error(reason: Any) -> None:
    with pytest.raises(UserError) as error:
        evaluate([], suppressions={"kms-rotation": reason})
    message = str(error.value)
    assert "'kms-rotation'" in message and "no reason" in message and "Fix:" in message and "\n" not in message


def test_a_suppression_of_an_unknown_rule_is_one_clear_error() -> None:
    with pytest.raises(UserError) as error:
        evaluate([], suppressions={"kms-rotate": "typo"})
    message = str(error.value)
    assert "'kms-rotate' names no rule" in message and "did you mean 'kms-rotation'?" in message
    assert "Fix:" in message and "\n" not in message


def _case_tables() -> dict[str, list[tuple[str, Any, Any]]]:
    """Every guardrail test's (rule, breaking, compliant) table: this file's and each tests/test_*_guardrails.py."""
    tables: dict[str, list[tuple[str, Any, Any]]] = {__name__: CASES}
    for path in sorted(Path(__file__).parent.glob("test_*_guardrails.py")):
        tables[path.stem] = importlib.import_module(f"tests.{path.stem}").CASES
    return tables


def test_every_rule_in_the_registry_fires_on_a_breaking_case() -> None:
    """Not a name check: each table's breaking resources are evaluated and the rule must actually fire."""
    load_rules()
    tables = _case_tables()
    assert len(tables) >= 6, sorted(tables)
    fired: set[str] = set()
    for cases in tables.values():
        for rule_id, bad, _good in cases:
            resources = bad if isinstance(bad, list) else [bad]
            if any(f.rule == rule_id for f in evaluate(resources, [RULES[rule_id]])):
                fired.add(rule_id)
    missing = sorted(set(RULES) - fired)
    assert missing == [], (
        f"no breaking case fires {missing}. "
        "Fix: add (rule, breaking, compliant) to CASES in tests/test_<layer>_guardrails.py"
    )


def test_the_real_network_routes_only_public_subnets_to_the_internet() -> None:
    """The rule sees the network layer's own routes: the public table passes, an app subnet moved onto it fails."""
    from payments.core.environment import load_environment

    lp = plan("dev", ["network"]).layer("network")
    view = guardrail_view(lp, load_environment("dev"))
    routes = list(rn._internet_routes(view))
    assert len(routes) == 1, [r.name for r, _, _ in routes]
    assert evaluate(view, [RULES["igw-route-public-only"]]) == []
    (_, public_table, _) = routes[0]
    moved = [
        dataclasses.replace(r, inputs={**r.inputs, "routeTableId": public_table})
        if r.type == rn.ROUTE_TABLE_ASSOCIATION and r.name.endswith("-app-0")
        else r
        for r in view
    ]
    (finding,) = evaluate(moved, [RULES["igw-route-public-only"]])
    assert "non-public subnet(s)" in finding.message and "-app-0" in finding.message


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_aws_resource_uses_the_tagged_provider(env: str) -> None:
    """Tag coverage over the whole plan: provider default tags reach every taggable resource."""
    from payments.core.environment import load_environment

    expected = load_environment(env).tags
    p = plan(env)
    for lp in p.layers:
        providers = {r.id: r for r in lp.resources if r.type == "pulumi:providers:aws"}
        assert len(providers) == 1, lp.name
        (provider,) = providers.values()
        import json

        tags = provider.inputs["defaultTags"]
        tags = json.loads(tags) if isinstance(tags, str) else tags
        assert tags["tags"] == expected
        for r in lp.resources:
            if r.type.startswith("aws:"):
                assert r.provider and r.provider.rsplit("::", 1)[-1] == provider.id, (lp.name, r.type, r.name)
    assert not [f for f in p.findings if f.rule == "required-tags"]


def test_a_suppressed_finding_prints_with_its_reason_and_does_not_block() -> None:
    import io

    from rich.console import Console

    from payments.plan import render

    base = plan("dev")
    network = base.layer("network")
    open_https = Resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "open-https-dev",
                          {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 443}, suffix="dev")
    findings = evaluate([*guardrail_view(network, _dev_env()), open_https],
                        suppressions={"no-open-ingress": "a test of the printed table"})
    waived = [f for f in findings if f.rule == "no-open-ingress"]
    assert waived and all(f.severity == SUPPRESSED for f in waived)
    shown = Plan(env="dev", layers=[dataclasses.replace(network, findings=findings)])
    assert shown.mandatory == [f for f in findings if f.severity == "mandatory"]
    out = io.StringIO()
    render.show(shown, Console(file=out, width=400), quiet=True)
    text = out.getvalue()
    assert "suppressed: a test of the printed table" in text and f"{len(waived)} suppressed" in text


def _dev_env():
    from payments.core.environment import load_environment

    return load_environment("dev")
