"""Observability guardrails: each rule fires on a resource that breaks it and stays quiet on a good one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.guardrails.engine import RULES, Resource, evaluate, load_rules

load_rules()

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alarms-dev"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
GOOD_ALARM = {"alarmName": "cpu-dev", "alarmActions": [TOPIC_ARN], "treatMissingData": "notBreaching"}


def res(type_: str, inputs: dict[str, Any], name: str = "r", **kw: Any) -> Resource:
    return Resource(type_, name, inputs, TAGS, kw.pop("production", False), "dev", **kw)


def messages(resources: Resource | list[Resource], rule_id: str) -> list[str]:
    return [f.message for f in evaluate(resources if isinstance(resources, list) else [resources], [RULES[rule_id]])]


def topic_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"arn": TOPIC_ARN, "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


PUBLISH = {"Effect": "Allow", "Action": "sns:Publish", "Resource": TOPIC_ARN}
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}

CASES: list[tuple[str, Any, Any]] = [
    ("sns-topic-cmk", res(TOPIC, {"name": "alarms-dev"}), res(TOPIC, {"name": "alarms-dev", "kmsMasterKeyId": KEY})),
    (
        "sns-topic-cmk",
        res(TOPIC, {"name": "alarms-dev", "kmsMasterKeyId": "alias/aws/sns"}),
        res(TOPIC, {"name": "alarms-dev", "kmsMasterKeyId": "alias/alarms-dev"}),
    ),
    ("alarm-has-actions", res(ALARM, {**GOOD_ALARM, "alarmActions": []}), res(ALARM, GOOD_ALARM)),
    (
        "alarm-has-actions",
        res(ALARM, {**GOOD_ALARM, "actionsEnabled": False}),
        res(COMPOSITE, {"alarmName": "gate-dev", "alarmRule": 'ALARM("cpu-dev")', "alarmActions": [TOPIC_ARN]}),
    ),
    (
        "alarm-missing-data-explicit",
        res(ALARM, {k: v for k, v in GOOD_ALARM.items() if k != "treatMissingData"}),
        res(ALARM, {**GOOD_ALARM, "treatMissingData": "breaching"}),
    ),
    (
        "sns-topic-policy-scoped",
        res(TOPIC_POLICY, topic_policy({**PUBLISH, "Sid": "Open", "Principal": "*"})),
        res(
            TOPIC_POLICY,
            topic_policy(
                {**PUBLISH, "Sid": "Cw", "Principal": CLOUDWATCH,
                 "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
            ),
        ),
    ),
    (
        "sns-topic-policy-scoped",
        res(TOPIC_POLICY, topic_policy({**PUBLISH, "Sid": "Cw", "Principal": CLOUDWATCH})),
        res(TOPIC_POLICY, topic_policy({**PUBLISH, "Effect": "Deny", "Sid": "Open", "Principal": "*"})),
    ),
    (
        "sns-subscription-tls",
        res(SUBSCRIPTION, {"topic": TOPIC_ARN, "protocol": "http", "endpoint": "http://hook.example.com"}),
        res(SUBSCRIPTION, {"topic": TOPIC_ARN, "protocol": "https", "endpoint": "https://hook.example.com"}),
    ),
    (
        "alarm-topic-subscribed",
        [res(TOPIC, {"name": "alarms-prod"}, name="topic", production=True, id="alarms-prod")],
        [
            res(TOPIC, {"name": "alarms-prod"}, name="topic", production=True, id="alarms-prod"),
            res(SUBSCRIPTION, {"topic": "arn:aws:sns:us-east-1:123456789012:alarms-prod", "protocol": "email"}),
        ],
    ),
    (
        "alarm-topic-subscribed",
        [res(TOPIC, {"name": "alarms-prod"}, name="topic", production=True, id="alarms-prod")],
        [res(TOPIC, {"name": "alarms-dev"}, name="topic", id="alarms-dev")],  # dev may go unsubscribed
    ),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_observability_rule_fires_on_a_breaking_resource(rule_id: str, bad: Any, good: Any) -> None:
    assert messages(bad, rule_id), f"{rule_id} stayed quiet on {bad}"
    assert messages(good, rule_id) == []


def test_every_observability_rule_is_tested_and_names_a_pci_requirement() -> None:
    ours = {rid for rid, r in RULES.items() if (r.check or r.stack_check).__module__.endswith("rules_observability")}  # type: ignore[union-attr]
    assert ours == {c[0] for c in CASES}
    assert all(RULES[r].pci for r in ours)
