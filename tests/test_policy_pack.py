"""The CrossGuard adapter runs the same rules as the offline plan."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from payments.guardrails.crossguard import policies
from payments.guardrails.engine import RULES, load_rules

TAGS = '{"tags": {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}}'


def opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def provider() -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:aws", {"defaultTags": TAGS}, "urn:provider", "aws-dev")


def by_name() -> dict[str, ResourceValidationPolicy | StackValidationPolicy]:
    return {p.name: p for p in policies()}


def run_resource(policy_name: str, type_: str, props: dict, protect: bool = False) -> list[str]:
    violations: list[str] = []
    policy = by_name()[policy_name]
    validate = policy._ResourceValidationPolicy__validate  # the callback CrossGuard calls
    args = ResourceValidationArgs(type_, props, "urn:x", "x", opts(protect), provider())
    validate(args, lambda message, urn=None: violations.append(message))
    return violations


def test_one_policy_per_rule_with_matching_enforcement() -> None:
    load_rules()
    pack = by_name()
    assert set(pack) == set(RULES)
    for name, policy in pack.items():
        expected = (
            EnforcementLevel.MANDATORY if RULES[name].severity.value == "mandatory" else EnforcementLevel.ADVISORY
        )
        assert policy.enforcement_level == expected


def test_resource_policy_reports_with_pci_reference() -> None:
    assert run_resource(
        "no-open-ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "0.0.0.0/0"}
    ) == ["[PCI DSS 1.3.1] ingress from 0.0.0.0/0"]
    assert (
        run_resource(
            "no-open-ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "10.0.0.0/8"}
        )
        == []
    )


def test_tags_and_suffix_come_from_the_provider() -> None:
    # default tags on the provider satisfy the tag rule; the suffix is the dev environment's
    assert run_resource("required-tags", "aws:ec2/vpc:Vpc", {}) == []
    assert run_resource("name-has-suffix", "aws:s3/bucket:Bucket", {"bucket": "logs-prod-1"}) != []
    assert run_resource("destroyable", "aws:s3/bucket:Bucket", {"bucket": "logs-dev-1"}, protect=True) != []


def test_stack_policy_reports_the_vpc_without_flow_logs() -> None:
    violations: list[tuple[str, str | None]] = []
    vpc = PolicyResource(
        "aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}, "urn:vpc", "vpc", opts(), provider(), None, [], {}
    )
    policy = by_name()["vpc-flow-logs"]
    policy._StackValidationPolicy__validate(StackValidationArgs([vpc]), lambda m, urn=None: violations.append((m, urn)))
    assert violations and violations[0][1] == "urn:vpc"


def test_new_stack_rules_run_under_crossguard_where_ids_are_unknown() -> None:
    """A preview knows names, not ids: the bucket without access logging is reported, its log target is exempt."""
    def resource(type_: str, props: dict, name: str) -> PolicyResource:
        return PolicyResource(type_, props, f"urn:{name}", name, opts(), provider(), None, [], {})

    bucket = resource("aws:s3/bucket:Bucket", {"bucket": "payments-static-dev-1"}, "static")
    target = resource("aws:s3/bucket:Bucket", {"bucket": "payments-s3-access-logs-dev-1"}, "access-logs")
    logging = resource(
        "aws:s3/bucketLogging:BucketLogging",
        {"bucket": "payments-static-dev-1", "targetBucket": "payments-s3-access-logs-dev-1", "targetPrefix": "static/"},
        "static-logging",
    )
    validate = by_name()["s3-access-logging"]._StackValidationPolicy__validate

    def violations(*resources: PolicyResource) -> list[str | None]:
        found: list[str | None] = []
        validate(StackValidationArgs(list(resources)), lambda m, urn=None: found.append(urn))
        return found

    assert violations(bucket, target) == ["urn:static", "urn:access-logs"]
    assert violations(bucket, target, logging) == []
