"""Cross-cutting and network guardrails: each rule fires on a resource that breaks it."""

from __future__ import annotations

import pytest

from payments.guardrails.engine import RULES, Resource, Severity, evaluate, load_rules
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
    assert len(RULES) >= 12
    for r in RULES.values():
        assert r.pci and r.description and isinstance(r.severity, Severity)
        assert (r.check is None) != (r.stack_check is None)


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
    (
        "vpn-strong-crypto",
        res("aws:ec2/vpnConnection:VpnConnection", {"tunnel1IkeVersions": ["ikev1", "ikev2"]}),
        res(
            "aws:ec2/vpnConnection:VpnConnection",
            {
                f"tunnel{i}{k}": v
                for i in (1, 2)
                for k, v in {"IkeVersions": ["ikev2"], "Phase1EncryptionAlgorithms": ["AES256"]}.items()
            },
        ),
    ),
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


def test_suppression_needs_a_reason_and_removes_only_that_rule() -> None:
    bad = res("aws:kms/key:Key", {"enableKeyRotation": False}, protect=True)
    ids = {f.rule for f in evaluate([bad], suppressions={"kms-rotation": "imported key, rotated by HSM"})}
    assert "kms-rotation" not in ids and "destroyable" in ids


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
