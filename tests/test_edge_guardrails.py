"""Edge guardrails: each rule fires on a resource that breaks it and stays quiet on a good one."""

from __future__ import annotations

import pytest

from payments.guardrails.engine import RULES, Resource, evaluate, load_rules
from tests.support import plan

load_rules()

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
LISTENER = "aws:lb/listener:Listener"
LB = "aws:lb/loadBalancer:LoadBalancer"
CERTIFICATE = "aws:lb/listenerCertificate:ListenerCertificate"
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/alb-dev/0123456789abcdef"
ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/waf-alb-dev/11111111-2222"


def res(type_: str, inputs: dict, name: str = "r", **kw) -> Resource:
    return Resource(type_, name, inputs, TAGS, False, "dev", **kw)


def messages(resources: Resource | list[Resource], rule_id: str) -> list[str]:
    return [f.message for f in evaluate(resources if isinstance(resources, list) else [resources], [RULES[rule_id]])]


GOOD_ALB = {
    "name": "alb-dev",
    "loadBalancerType": "application",
    "internal": False,
    "dropInvalidHeaderFields": True,
    "accessLogs": {"enabled": True, "bucket": "alb-logs-dev-123456789012", "prefix": "alb"},
}
HTTPS = {
    "protocol": "HTTPS",
    "port": 443,
    "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
}
REDIRECT = {
    "protocol": "HTTP",
    "port": 80,
    "defaultActions": [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ],
}

CASES = [
    ("listener-tls12", res(LISTENER, {**HTTPS, "sslPolicy": "ELBSecurityPolicy-2016-08"}), res(LISTENER, HTTPS)),
    ("listener-tls12", res(LISTENER, {**HTTPS, "sslPolicy": None}), res(LISTENER, REDIRECT)),
    ("listener-tls12", res(LISTENER, {**HTTPS, "certificateArn": None}), res(LISTENER, HTTPS)),
    # an IAM server certificate (uploaded by hand, renewed by nobody) instead of ACM
    (
        "listener-tls12",
        res(LISTENER, {**HTTPS, "certificateArn": "arn:aws:iam::123456789012:server-certificate/pay"}),
        res(LISTENER, {**HTTPS, "certificateArn": "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/x"}),
    ),
    (
        "listener-tls12",
        res(CERTIFICATE, {"listenerArn": "arn:listener", "certificateArn": "arn:aws:iam::1:server-certificate/x"}),
        res(CERTIFICATE, {"listenerArn": "arn:listener", "certificateArn": HTTPS["certificateArn"]}),
    ),
    (
        "http-listener-redirects",
        res(LISTENER, {"protocol": "HTTP", "defaultActions": [{"type": "forward", "targetGroupArn": "arn:tg"}]}),
        res(LISTENER, REDIRECT),
    ),
    (
        "http-listener-redirects",
        res(LISTENER, {"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTP"}}]}),
        res(LISTENER, REDIRECT),
    ),
    ("alb-access-logs", res(LB, {**GOOD_ALB, "accessLogs": {"bucket": "b"}}), res(LB, GOOD_ALB)),
    ("alb-access-logs", res(LB, {k: v for k, v in GOOD_ALB.items() if k != "accessLogs"}), res(LB, GOOD_ALB)),
    ("alb-drops-invalid-headers", res(LB, {**GOOD_ALB, "dropInvalidHeaderFields": False}), res(LB, GOOD_ALB)),
    (
        "waf-on-public-alb",
        [res(LB, GOOD_ALB, name="alb")],
        [
            res(LB, GOOD_ALB, name="alb"),
            res("aws:wafv2/webAclAssociation:WebAclAssociation", {"resourceArn": ALB_ARN, "webAclArn": ACL_ARN}),
        ],
    ),
    (
        "waf-on-public-alb",
        [
            res(LB, GOOD_ALB, name="alb"),
            res(
                "aws:wafv2/webAclAssociation:WebAclAssociation",
                {"resourceArn": ALB_ARN.replace("alb-dev", "other-dev"), "webAclArn": ACL_ARN},
            ),
        ],
        [res(LB, {**GOOD_ALB, "internal": True}, name="alb")],
    ),
    (
        "waf-logging",
        [res("aws:wafv2/webAcl:WebAcl", {"name": "waf-alb-dev"}, name="waf")],
        [
            res("aws:wafv2/webAcl:WebAcl", {"name": "waf-alb-dev"}, name="waf"),
            res("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", {"resourceArn": ACL_ARN}),
        ],
    ),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[c[0] for c in CASES])
def test_edge_rule_fires_on_a_breaking_resource(rule_id: str, bad, good) -> None:
    assert messages(bad, rule_id), f"{rule_id} stayed quiet on {bad}"
    assert messages(good, rule_id) == []


def test_every_edge_rule_is_tested_and_names_a_pci_requirement() -> None:
    edge_rules = {r.id for r in RULES.values() if r.check and r.check.__module__.endswith("rules_edge")}
    edge_rules |= {r.id for r in RULES.values() if r.stack_check and r.stack_check.__module__.endswith("rules_edge")}
    assert edge_rules == {c[0] for c in CASES}
    assert all(RULES[r].pci for r in edge_rules)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_real_edge_plan_passes_every_edge_rule(env: str) -> None:
    findings = plan(env, ["edge"]).layer("edge").findings
    assert [f for f in findings if f.rule in {c[0] for c in CASES}] == []
