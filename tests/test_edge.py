"""The edge program under mocks: TLS listener, weighted legacy/blue/green pools, WAF, access logs."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from payments.core import config, contract
from payments.core.errors import ConfigError
from payments.layers.edge import load_balancer
from payments.layers.edge.settings import EdgeSettings
from payments.plan import engine
from payments.plan.engine import plan_environment
from payments.plan.fabricate import ELB_ACCOUNT_ID
from tests.support import of_type, one, plan

LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
CERT = "aws:acm/certificate:Certificate"
RECORD = "aws:route53/record:Record"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
EC2 = {"edge": {"computeMode": "ec2"}, "app": {"computeMode": "ec2"}}


def edge(env: str = "dev", overrides: dict[str, Any] | None = None):
    return plan(env, ["edge"], overrides).layer("edge")


def network(env: str = "dev"):
    return plan(env, ["network"]).layer("network")


def listener(lp, protocol: str):
    return next(r for r in of_type(lp, LISTENER) if r.inputs["protocol"] == protocol)


def pools(lp) -> dict[str, Any]:
    return {r.inputs["tags"]["Pool"]: r for r in of_type(lp, TG)}


# --- load balancer and access logs ------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_alb_is_public_hardened_and_logs(env: str) -> None:
    lp, net = edge(env), network(env)
    alb = one(lp, LB)
    assert alb.inputs["name"] == f"alb-{env}" and alb.inputs["internal"] is False
    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["subnets"] == net.outputs["publicSubnetIds"]
    assert alb.inputs["securityGroups"] == [net.outputs["albSecurityGroupId"]]
    assert alb.inputs["dropInvalidHeaderFields"] is True
    # on in production; `invoke destroy --confirm` lifts it first (tests/test_orchestration.py)
    assert alb.inputs["enableDeletionProtection"] is (env != "dev")
    logs = alb.inputs["accessLogs"]
    assert logs == {"enabled": True, "bucket": lp.outputs["accessLogBucketName"], "prefix": "alb"}


def of_bucket(lp, type_: str, bucket: str):
    (found,) = [r for r in of_type(lp, type_) if r.inputs["bucket"] == bucket]
    return found


def test_access_log_bucket_is_sse_s3_and_writable_only_by_the_elb_account() -> None:
    lp = edge("dev")
    bucket = lp.outputs["accessLogBucketName"]
    assert bucket == "alb-logs-dev-123456789012"
    sse = of_bucket(lp, SSE, bucket)
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    versioning = of_bucket(lp, "aws:s3/bucketVersioning:BucketVersioning", bucket)
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    block = of_bucket(lp, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket).inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    rule = of_bucket(lp, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket).inputs["rules"][0]
    assert rule["expiration"]["days"] >= 365
    policy = json.loads(of_bucket(lp, "aws:s3/bucketPolicy:BucketPolicy", bucket).inputs["policy"])
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "ElbLogDelivery",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ELB_ACCOUNT_ID}:root"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/alb/AWSLogs/123456789012/*",
        }
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_reads_of_the_access_logs_are_themselves_logged() -> None:
    """PCI DSS 10.2.1: access to audit logs is audited. The ALB log bucket writes S3 server access logs into a
    second bucket, which only S3's log delivery may write to, for that one source bucket."""
    lp = edge("prod")
    bucket, target = lp.outputs["accessLogBucketName"], "alb-logs-access-prod-123456789012"
    logging = of_bucket(lp, "aws:s3/bucketLogging:BucketLogging", bucket)
    assert logging.inputs["targetBucket"] == target and logging.inputs["targetPrefix"] == "alb/"
    policy = json.loads(of_bucket(lp, "aws:s3/bucketPolicy:BucketPolicy", target).inputs["policy"])
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}
    sse = of_bucket(lp, SSE, target)
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert not [r for r in of_type(lp, "aws:s3/bucketLogging:BucketLogging") if r.inputs["bucket"] == target]


# --- TLS ----------------------------------------------------------------------------------


def test_https_listener_uses_the_configured_tls12_policy_and_the_validated_certificate() -> None:
    lp = edge("dev")
    https = listener(lp, "HTTPS")
    assert https.inputs["port"] == 443
    assert https.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    cert = one(lp, CERT)
    assert cert.inputs["domainName"] == "pay.dev.example.com" and cert.inputs["validationMethod"] == "DNS"
    validation = one(lp, "aws:acm/certificateValidation:CertificateValidation")
    assert https.inputs["certificateArn"] == validation.inputs["certificateArn"]
    records = {r.inputs["type"]: r for r in of_type(lp, RECORD)}
    assert records["CNAME"].inputs["zoneId"] == "Z0DEVEXAMPLE000000001"
    assert validation.inputs["validationRecordFqdns"] == [records["CNAME"].inputs["name"].rstrip(".")]
    assert records["A"].inputs["aliases"][0]["name"] == lp.outputs["albDnsName"]
    other = edge("dev", {"edge": {"tlsPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06"}})
    assert listener(other, "HTTPS").inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_an_existing_certificate_arn_replaces_the_issued_one() -> None:
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    lp = edge("dev", {"edge": {"certificateArn": arn, "domainName": None, "hostedZoneId": None}})
    assert listener(lp, "HTTPS").inputs["certificateArn"] == arn
    assert not of_type(lp, CERT) and not of_type(lp, RECORD)


def test_subject_alternative_names_get_a_validation_record_each() -> None:
    lp = edge("dev", {"edge": {"subjectAlternativeNames": ["api.dev.example.com"]}})
    assert one(lp, CERT).inputs["subjectAlternativeNames"] == ["api.dev.example.com"]
    assert len([r for r in of_type(lp, RECORD) if r.inputs["type"] == "CNAME"]) == 2


def test_http_only_redirects_to_https() -> None:
    http = listener(edge("dev"), "HTTP")
    assert http.inputs["port"] == 80
    assert http.inputs["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


# --- pools and weights --------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "app_type"), [(None, "ip"), (EC2, "instance")])
def test_target_groups_follow_the_compute_mode(overrides: dict | None, app_type: str) -> None:
    lp = edge("dev", overrides)
    tgs = pools(lp)
    assert {p: r.inputs["name"] for p, r in tgs.items()} == {
        "legacy": "tg-legacy-dev",
        "blue": "tg-blue-dev",
        "green": "tg-green-dev",
    }
    assert tgs["legacy"].inputs["targetType"] == "ip"
    assert tgs["legacy"].inputs["protocol"] == "HTTPS" and tgs["legacy"].inputs["port"] == 443
    for pool in ("blue", "green"):
        assert tgs[pool].inputs["targetType"] == app_type
        assert tgs[pool].inputs["port"] == 8080 and tgs[pool].inputs["protocol"] == "HTTP"
    for tg in tgs.values():
        check = tg.inputs["healthCheck"]
        assert check["path"] == "/health" and check["matcher"] == "200"
        assert check["timeout"] < check["interval"]
        assert tg.inputs["deregistrationDelay"] <= 60
    assert lp.outputs["appTargetType"] == app_type


def test_legacy_pool_targets_the_on_prem_servers_outside_the_vpc() -> None:
    lp = edge("prod")
    legacy_arn = lp.outputs["targetGroupArns"]["legacy"]
    attachments = of_type(lp, ATTACHMENT)
    assert sorted(a.inputs["targetId"] for a in attachments) == ["172.16.20.11", "172.16.20.12", "172.16.20.13"]
    assert all(a.inputs["availabilityZone"] == "all" and a.inputs["targetGroupArn"] == legacy_arn for a in attachments)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (None, {"legacy": 100, "blue": 0, "green": 0}),
        ({"legacy": 0, "blue": 100}, {"legacy": 0, "blue": 100, "green": 0}),
        ({"legacy": 90, "blue": 10, "green": 0}, {"legacy": 90, "blue": 10, "green": 0}),
    ],
)
def test_listener_forwards_with_the_initial_weights(weights: dict | None, expected: dict) -> None:
    lp = edge("dev", {"edge": {"initialWeights": weights}} if weights else None)
    forward = listener(lp, "HTTPS").inputs["defaultActions"][0]["forward"]
    by_arn = {tg["arn"]: tg["weight"] for tg in forward["targetGroups"]}
    assert {pool: by_arn[arn] for pool, arn in lp.outputs["targetGroupArns"].items()} == expected
    assert lp.outputs["initialWeights"] == expected
    assert forward["stickiness"]["enabled"] is False


def test_listener_ignores_later_weight_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cutover owns the weights once the listener exists: the path must point at them."""
    seen: dict[str, list[str]] = {}
    original = engine.PlanMonitor.RegisterResource

    def record(self, request):
        seen[request.name] = list(request.ignoreChanges)
        return original(self, request)

    monkeypatch.setattr(engine.PlanMonitor, "RegisterResource", record)
    lp = plan_environment("dev", ["edge"]).layer("edge")
    assert seen["alb-https"] == [load_balancer.WEIGHTS_PATH]
    assert seen["alb-http"] == []
    # Walk the path through the planned inputs: it must land on exactly the three weights.
    head, _, tail = load_balancer.WEIGHTS_PATH.partition("[*].")
    node: Any = listener(lp, "HTTPS").inputs
    for part in head.replace("[0]", ".0").split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    assert [tg[tail] for tg in node] == [100, 0, 0]


# --- WAF --------------------------------------------------------------------------------------


def test_waf_guards_the_alb_and_logs_to_an_encrypted_year_long_group() -> None:
    lp, net = edge("dev"), network("dev")
    acl = one(lp, "aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "REGIONAL" and "allow" in acl.inputs["defaultAction"]
    groups = {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in acl.inputs["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert groups == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    rate = [r for r in acl.inputs["rules"] if "rateBasedStatement" in r["statement"]]
    assert (
        len(rate) == 1 and "block" in rate[0]["action"] and rate[0]["statement"]["rateBasedStatement"]["limit"] == 2000
    )
    assert len({r["priority"] for r in acl.inputs["rules"]}) == len(acl.inputs["rules"])
    association = one(lp, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association.inputs["resourceArn"] == lp.outputs["albArn"]
    assert association.inputs["webAclArn"] == lp.outputs["webAclArn"]
    group = one(lp, LOG_GROUP)
    assert group.inputs["name"] == "aws-waf-logs-payments-dev"
    assert group.inputs["retentionInDays"] >= 365 and group.inputs["kmsKeyId"] == net.outputs["logsKeyArn"]
    logging = one(lp, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    assert logging.inputs["resourceArn"] == lp.outputs["webAclArn"]
    assert logging.inputs["logDestinationConfigs"] == [
        f"arn:aws:logs:us-east-1:123456789012:log-group:{group.inputs['name']}"
    ]
    assert {f["singleHeader"]["name"] for f in logging.inputs["redactedFields"]} == {"authorization", "cookie"}


# --- exports and guardrails ---------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_edge_exports_its_contract_and_has_no_findings(env: str) -> None:
    for overrides in (None, EC2):
        p = plan(env, ["edge"], overrides)
        lp = p.layer("edge")
        assert set(lp.outputs) == {o.name for o in contract.EXPORTS["edge"]}
        assert set(lp.outputs["targetGroupArns"]) == {"legacy", "blue", "green"}
        assert all(s.startswith("targetgroup/") for s in lp.outputs["targetGroupArnSuffixes"].values())
        assert lp.outputs["albArnSuffix"].startswith("app/alb-")
        assert [f for f in p.findings if f.severity == "mandatory"] == []


# --- bad config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"tlsPolicy": "ELBSecurityPolicy-2016-08"},
            "payments-edge:tlsPolicy: 'ELBSecurityPolicy-2016-08' is not a TLS 1.2+ policy",
        ),
        (
            {"tlsPolicy": "ELBSecurityPolicy-TLS-1-1-2017-01"},
            "payments-edge:tlsPolicy: 'ELBSecurityPolicy-TLS-1-1-2017-01' is not",
        ),
        ({"initialWeights": {"legacy": 1000}}, "payments-edge:initialWeights.legacy: 1000 is outside 0-999"),
        ({"initialWeights": {"blue": -1, "legacy": 5}}, "payments-edge:initialWeights.blue: -1 is outside 0-999"),
        ({"initialWeights": {"legacy": 0, "blue": 0, "green": 0}}, "payments-edge:initialWeights: every weight is 0"),
        ({"initialWeights": {"purple": 10}}, "payments-edge:initialWeights: unknown pool(s) purple"),
        (
            {"computeMode": "lambda"},
            "payments-edge:computeMode: 'lambda' is not allowed. Fix: use one of: fargate, ec2",
        ),
        ({"legacyTargets": []}, "payments-edge:legacyTargets: empty while the legacy pool has weight"),
        ({"legacyTargets": ["8.8.8.8"]}, "payments-edge:legacyTargets[0]: 8.8.8.8 is not a private address"),
        ({"hostedZoneId": None}, "payments-edge:hostedZoneId: missing while domainName is set"),
        ({"domainName": None, "hostedZoneId": None}, "payments-edge:certificateArn: no certificate source"),
        (
            {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
            "payments-edge:domainName: set together with certificateArn",
        ),
        ({"domainName": "Pay.Example.com"}, "payments-edge:domainName: 'Pay.Example.com' is not a lowercase DNS name"),
        ({"slowStartSeconds": 10}, "payments-edge:slowStartSeconds: 10 is not allowed"),
        ({"accessLogRetentionDays": 90}, "payments-edge:accessLogRetentionDays: 90 is out of range"),
        ({"wafLogRetentionDays": 500}, "payments-edge:wafLogRetentionDays: 500 is not allowed"),
    ],
)
def test_bad_edge_config_is_one_clear_line(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_environment("dev", ["edge"], overrides={"edge": overrides})
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value) and "Fix: " in str(info.value)


def test_missing_certificate_source_names_both_ways_out() -> None:
    with pytest.raises(ConfigError) as info:
        config.load(EdgeSettings, {"legacyTargets": ["172.16.0.1"]}, where="payments-edge")
    assert str(info.value) == (
        "payments-edge:certificateArn: no certificate source for the HTTPS listener. "
        "Fix: set certificateArn to an ACM certificate, or domainName and hostedZoneId to issue one"
    )


def _plan_error(overrides: dict, layers: list[str]) -> str:
    """Plan in a fresh interpreter: a deploy-time check raises inside an apply, which leaves SDK state behind."""
    code = (
        "import json, sys\n"
        "from payments.core.errors import UserError\n"
        "from payments.plan.engine import plan_environment\n"
        "try:\n"
        f"    plan_environment('dev', {layers!r}, overrides=json.loads(sys.argv[1]))\n"
        "except UserError as e:\n"
        "    print('ERROR', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(overrides)], capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    return lines[0][len("ERROR ") :] if lines else ""


def test_legacy_target_outside_the_routed_on_prem_networks_fails_at_plan() -> None:
    message = _plan_error({"edge": {"legacyTargets": ["10.99.0.1"]}}, ["edge"])
    assert message.startswith(
        "payments-edge:legacyTargets[0]: 10.99.0.1 is outside the on-prem networks the VPC routes to (172.16.0.0/16)"
    )


def test_every_edge_config_key_and_export_is_documented() -> None:
    from payments.core.environment import REPO_ROOT

    text = (REPO_ROOT / "docs" / "edge.md").read_text()
    missing = [k.key for k in config.describe(EdgeSettings) if f"`{k.key}`" not in text]
    missing += [o.name for o in contract.EXPORTS["edge"] if f"`{o.name}`" not in text]
    assert missing == []
