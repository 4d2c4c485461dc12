"""Deploy-lifecycle guardrails: a clean first `pulumi up` followed by a flapping or failing one, and a first
deploy that fails in a fresh account. Each rule fires on the pattern and stays quiet on the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.guardrails import rules_lifecycle as rl
from payments.guardrails.engine import RULES, Resource, evaluate, load_rules
from tests.support import plan

TAGS = {"Environment": "compact", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
ROLE_ARN = "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def res(type_: str, inputs: dict[str, Any], name: str = "r", id: str | None = None, **kw: Any) -> Resource:
    return Resource(type_, name, inputs, TAGS, False, "compact", id=id, **kw)


def findings(resources: Resource | list[Resource], rule_id: str) -> list[str]:
    return [f.message for f in evaluate(resources if isinstance(resources, list) else [resources], [RULES[rule_id]])]


def group() -> Resource:
    return res(rl.ASG, {"name": "asg-app-compact"}, name="asg", id="asg-app-compact")


def key(principal: str) -> Resource:
    policy = {"Statement": [{"Sid": "AutoScaling", "Effect": "Allow", "Principal": {"AWS": principal},
                             "Action": "kms:Decrypt", "Resource": "*"}]}
    return res(rl.KEY, {"policy": json.dumps(policy)}, name="key")


def service_role(suffix: str | None) -> Resource:
    inputs = {"awsServiceName": "autoscaling.amazonaws.com", **({"customSuffix": suffix} if suffix else {})}
    return res(rl.SERVICE_LINKED_ROLE, inputs, name="slr")


AURORA = {"engine": "aurora-mysql", "engineVersion": "8.0.mysql_aurora.3.10.0"}

# (rule, breaking resources, the fix)
CASES: list[tuple[str, Any, Any]] = [
    (
        "asg-tags-inline",
        [group(), res(rl.ASG_TAG, {"autoscalingGroupName": "asg-app-compact", "tag": {"key": "Environment"}})],
        [group(), res(rl.ASG_TAG, {"autoscalingGroupName": "someone-elses-asg", "tag": {"key": "Environment"}})],
    ),
    # AWS's defaults: automatic minor upgrades on, for clusters and instances alike
    (
        "db-engine-version-stable",
        res(rl.CLUSTER, AURORA),
        res(rl.CLUSTER, {**AURORA, "autoMinorVersionUpgrade": False}),
    ),
    (
        "db-engine-version-stable",
        res(rl.INSTANCE, {"engine": "mysql", "engineVersion": "8.0.42", "autoMinorVersionUpgrade": True}),
        res(rl.INSTANCE, {"engine": "mysql", "engineVersion": "8.0", "autoMinorVersionUpgrade": True}),  # a prefix
    ),
    (
        "db-engine-version-stable",
        res(rl.CLUSTER_INSTANCE, AURORA),
        res(rl.CLUSTER_INSTANCE, AURORA, ignore_changes=("engineVersion",)),  # following AWS's version
    ),
    (
        "kms-key-principals-exist",
        [key(ROLE_ARN)],  # the account's default role: absent until its first Auto Scaling group
        [key(ROLE_ARN + "_payments-compact"), service_role("payments-compact")],
    ),
    (
        "kms-key-principals-exist",
        [key(ROLE_ARN), service_role("payments-compact")],  # the stack creates another role than the one named
        [key(ROLE_ARN), service_role(None)],
    ),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_on_the_pattern_and_not_on_its_fix(rule_id: str, bad: Any, good: Any) -> None:
    assert findings(bad, rule_id), f"{rule_id} did not fire"
    assert findings(good, rule_id) == []


def test_every_lifecycle_rule_has_a_case() -> None:
    load_rules()
    ours = {rid for rid, r in RULES.items() if (r.check or r.stack_check).__module__ == rl.__name__}  # type: ignore[union-attr]
    assert ours == {case[0] for case in CASES}


def test_messages_say_what_goes_wrong_and_how_to_fix_it() -> None:
    (tags,) = findings(CASES[0][1], "asg-tags-inline")
    assert "every `up --refresh` removes the tag" in tags and "inline `tags`" in tags
    (version,) = findings(res(rl.CLUSTER, AURORA), "db-engine-version-stable")
    assert "plans a downgrade and AWS rejects it (pulumi-aws#5756)" in version
    (principal,) = findings([key(ROLE_ARN)], "kms-key-principals-exist")
    assert "CreateKey fails" in principal and "aws.iam.ServiceLinkedRole" in principal


def test_unknown_policy_of_a_real_preview_is_not_a_finding() -> None:
    assert findings([res(rl.KEY, {"policy": None})], "kms-key-principals-exist") == []


@pytest.mark.parametrize("env", ["dev", "prod", "compact"])
def test_shipped_stacks_pass_every_lifecycle_rule(env: str) -> None:
    p = plan(env)
    assert [f for f in p.findings if f.rule in {c[0] for c in CASES}] == []
    # ... and the rules saw what they guard: an exactly pinned database, and (compact) the group and its key
    resources = [r for lp in p.layers for r in lp.resources]
    databases = [r for r in resources if r.type in (rl.CLUSTER, rl.INSTANCE)]
    assert databases and all(rl.exact_version(r.inputs["engine"], r.inputs["engineVersion"]) for r in databases)
    if env == "compact":
        assert {rl.ASG, rl.KEY, rl.SERVICE_LINKED_ROLE} <= {r.type for r in resources}
