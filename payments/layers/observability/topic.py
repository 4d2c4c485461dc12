"""The alarm topic: SNS encrypted with its own CMK, publishable only by this account's alarms and principals."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components.kms import Key, KeyArgs
from payments.core.naming import Kind, Namer

#: What SNS needs of the key to encrypt a message a publisher hands it.
PUBLISH_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]
#: Topic actions the account's own principals may use (IAM policies decide who exactly). SNS's console
#: default policy also lists "SNS:Receive", which is not an IAM action (the IAM linter rejects it).
OWNER_ACTIONS = [
    "sns:Publish", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:GetTopicAttributes",
    "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission", "sns:DeleteTopic",
]


def alarm_source(account_id: str, region: str, suffix: str) -> dict[str, Any]:
    """Confused-deputy guard: only this account's alarms of this environment (names end in the suffix)."""
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:*-{suffix}"},
    }


def key_statement(account_id: str, region: str, suffix: str) -> dict[str, Any]:
    """Lets CloudWatch alarms use the key; without it, notifications to the encrypted topic are dropped silently."""
    return {
        "Sid": "CloudWatchAlarms",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": PUBLISH_KEY_ACTIONS,
        "Resource": "*",
        "Condition": alarm_source(account_id, region, suffix),
    }


def topic_policy(topic_arn: Any, account_id: str, region: str, suffix: str) -> dict[str, Any]:
    """The topic policy as data: the account's principals, and CloudWatch for this environment's alarms."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountPrincipals",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": OWNER_ACTIONS,
                "Resource": topic_arn,
            },
            {
                "Sid": "CloudWatchAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": alarm_source(account_id, region, suffix),
            },
            {
                # Alerts may describe the system; never let them travel in clear text.
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.lower().encode()).hexdigest()[:8]


@dataclasses.dataclass
class AlarmTopicArgs:
    namer: Namer
    account_id: str
    region: str
    emails: tuple[str, ...]


class AlarmTopic(pulumi.ComponentResource):
    """KMS key + SNS topic + topic policy + one e-mail subscription per address."""

    def __init__(self, name: str, args: AlarmTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:observability:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        self.key = Key(f"{name}-key", KeyArgs(
            description=f"Alarm topic encryption, payments {n.suffix}", alias=n("alarms"), account_id=args.account_id,
            region=args.region, via_services=("sns",),  # publishers in the account (the cutover) go through SNS
            service_statements=[key_statement(args.account_id, args.region, n.suffix)]), opts=child)
        self.topic = aws.sns.Topic(
            name,
            name=n("alarms", Kind.SNS_TOPIC),
            display_name=f"payments {n.suffix} alarms",
            kms_master_key_id=self.key.arn,
            opts=child,
        )
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.json_dumps(topic_policy(self.topic.arn, args.account_id, args.region, n.suffix)),
            opts=child,
        )
        for email in args.emails:
            # Named from the address, so reordering the list never replaces (and re-confirms) a subscription.
            aws.sns.TopicSubscription(f"{name}-email-{_digest(email)}", topic=self.topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        self.arn = self.topic.arn
        self.key_arn = self.key.arn
        self.register_outputs({"arn": self.arn, "keyArn": self.key_arn})
