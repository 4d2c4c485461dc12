"""Customer-managed KMS keys with rotation on and a least-privilege key policy."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam


@dataclasses.dataclass
class KeyArgs:
    description: str
    alias: str  #: without the ``alias/`` prefix, e.g. ``logs-dev``
    account_id: str
    region: str
    #: extra key-policy statements granting AWS services use of the key
    service_statements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    deletion_window_days: int = 30


class Key(pulumi.ComponentResource):
    """A symmetric CMK, yearly rotation, alias; administration by the account only."""

    def __init__(self, name: str, args: KeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:kms:Key", name, None, opts)
        # In a key policy "Resource": "*" means "this key"; the account-root
        # statement delegates administration to IAM (AWS's default policy).
        policy = iam.document(
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{args.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *args.service_statements,
        )
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
