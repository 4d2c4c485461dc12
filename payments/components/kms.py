"""Customer-managed KMS keys with rotation on and a least-privilege key policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam

#: What the account (through IAM) may do to the key itself: manage it, never use it to encrypt or decrypt.
#: Listed one by one, not as ``kms:Create*`` (which would include CreateGrant) or ``kms:*``.
ADMIN_ACTIONS = [
    "kms:CreateAlias",
    "kms:DescribeKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:List*",
    "kms:Get*",
    "kms:PutKeyPolicy",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:RevokeGrant",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
#: Cryptographic use, granted to the account's principals only through the services named per key.
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def administration_statement(account_id: str) -> dict[str, Any]:
    """The account administers the key through IAM (``PutKeyPolicy`` included, so it can never be locked out)."""
    return {
        "Sid": "AccountAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": ADMIN_ACTIONS,
        "Resource": "*",
    }


def use_via_services_statement(account_id: str, region: str, services: Sequence[str]) -> dict[str, Any]:
    """The account's principals (still needing an IAM grant of their own) may use the key, but only through
    `services` acting for them: a role allowed ``kms:Decrypt`` cannot decrypt data taken out of those services."""
    return {
        "Sid": "UseThroughServices",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": USE_ACTIONS,
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:CallerAccount": account_id,
                "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services],
            }
        },
    }


@dataclasses.dataclass
class KeyArgs:
    description: str
    alias: str  #: without the ``alias/`` prefix, e.g. ``logs-dev``
    account_id: str
    region: str
    #: services through which the account's principals may use the key (e.g. ``("rds", "s3")``); none: only the
    #: principals of `service_statements` use it
    via_services: Sequence[str] = ()
    #: extra key-policy statements granting AWS services use of the key
    service_statements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    deletion_window_days: int = 30


class Key(pulumi.ComponentResource):
    """A symmetric CMK, yearly rotation, alias; least-privilege key policy.

    The account administers the key but uses it only through the named services; AWS services that act on their
    own (CloudWatch Logs, CloudWatch alarms, the Auto Scaling service role) get their statements from the caller.
    """

    def __init__(self, name: str, args: KeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:kms:Key", name, None, opts)
        # In a key policy "Resource": "*" means "this key".
        statements = [administration_statement(args.account_id)]
        if args.via_services:
            statements.append(use_via_services_statement(args.account_id, args.region, args.via_services))
        policy = iam.document(*statements, *args.service_statements)
        self.key = aws.kms.Key(
            name,
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})


def logs_service_statement(account_id: str, region: str) -> dict[str, Any]:
    """Lets CloudWatch Logs use the key, only for this account's log groups.

    The encryption-context condition binds every use of the key to a log group
    of this account. `kms:Describe*` is left out: DescribeKey carries no
    encryption context, so under this condition it could never match anyway.
    The context key is typed String in IAM's model, hence StringLike.
    """
    return {
        "Sid": "CloudWatchLogs",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "StringLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
        },
    }
