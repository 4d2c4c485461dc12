"""Observability rules: alerts are encrypted, scoped, actually delivered, and alarms say what silence means."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from payments.guardrails.engine import Resource, Severity, rule, stack_rule

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
#: The AWS managed SNS key: its policy cannot grant CloudWatch, so alarm notifications would be dropped.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
#: Condition keys that tie a service principal to this account's resources (confused-deputy guard).
SOURCE_KEYS = {"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourceorgid"}


@rule("sns-topic-cmk", pci="3.6.1, 10.7.2", types=[TOPIC],
      description="SNS topics are encrypted with a customer-managed key (CloudWatch cannot use the AWS-managed one)")
def sns_topic_cmk(r: Resource) -> Iterator[str]:
    key = r.inputs.get("kmsMasterKeyId")
    if not key:
        yield "not encrypted (kmsMasterKeyId)"
    elif isinstance(key, str) and key.endswith(AWS_MANAGED_SNS_KEY):
        yield (f"uses {AWS_MANAGED_SNS_KEY}, whose policy cannot let CloudWatch publish: "
               "alarm notifications would be dropped")


@rule("alarm-has-actions", pci="10.7.2, 12.10.5", types=[METRIC_ALARM, COMPOSITE_ALARM],
      description="Every alarm notifies someone: alarm actions set and enabled")
def alarm_has_actions(r: Resource) -> Iterator[str]:
    if not r.inputs.get("alarmActions"):
        yield "no alarmActions: the alarm changes state and nobody hears of it"
    if r.inputs.get("actionsEnabled") is False:
        yield "actionsEnabled is false"


@rule("alarm-missing-data-explicit", pci="10.7.2", types=[METRIC_ALARM],
      description="Metric alarms state how missing data counts (treatMissingData), instead of CloudWatch's default")
def alarm_missing_data(r: Resource) -> Iterator[str]:
    if r.inputs.get("treatMissingData") not in ("missing", "ignore", "breaching", "notBreaching"):
        yield "treatMissingData not set: decide whether silence is good news (notBreaching) or an outage (breaching)"


def _principals(stmt: dict[str, Any]) -> list[tuple[str, str]]:
    principal = stmt.get("Principal")
    if principal == "*":
        return [("AWS", "*")]
    if not isinstance(principal, dict):
        return []
    out = []
    for kind, values in principal.items():
        for value in values if isinstance(values, list) else [values]:
            out.append((kind, str(value)))
    return out


def _condition_keys(stmt: dict[str, Any]) -> set[str]:
    return {key.lower() for block in (stmt.get("Condition") or {}).values() if isinstance(block, dict) for key in block}


@rule("sns-topic-policy-scoped", pci="7.2.1, 7.2.2", types=[TOPIC_POLICY],
      description="Topic policies allow no anonymous principal, and AWS services only for this account's resources")
def sns_topic_policy_scoped(r: Resource) -> Iterator[str]:
    policy = r.json("policy")
    if not isinstance(policy, dict):
        return  # unknown during a real preview
    statements = policy.get("Statement") or []
    for stmt in statements if isinstance(statements, list) else [statements]:
        if stmt.get("Effect") != "Allow":
            continue
        sid = stmt.get("Sid", "(no Sid)")
        conditions = _condition_keys(stmt)
        for kind, value in _principals(stmt):
            if kind == "AWS" and value == "*" and not conditions & SOURCE_KEYS:
                yield f"statement {sid} allows any principal"
            elif kind == "Service" and not conditions & SOURCE_KEYS:
                yield f"statement {sid} allows {value} without aws:SourceAccount/aws:SourceArn (confused deputy)"


@rule("sns-subscription-tls", pci="4.2.1", types=[SUBSCRIPTION],
      description="Subscriptions never deliver over plain HTTP")
def sns_subscription_tls(r: Resource) -> Iterator[str]:
    if r.inputs.get("protocol") == "http":
        yield "protocol http sends alerts in clear text; use https"


@stack_rule("alarm-topic-subscribed", pci="12.10.5", severity=Severity.ADVISORY,
            description="In production, every SNS topic has at least one subscription (alerts reach a person)")
def alarm_topic_subscribed(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    topics = [r for r in resources if r.type == TOPIC and r.production]
    subscribed = {str(r.inputs.get("topic")) for r in resources if r.type == SUBSCRIPTION}
    for topic in topics:
        name = str(topic.inputs.get("name", ""))
        if not any(arn == topic.id or (name and arn.endswith(f":{name}")) for arn in subscribed):
            yield topic.name, "no subscription: alarms publish to a topic nobody reads"
