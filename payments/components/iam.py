"""IAM policy documents as plain data, rendered with ``Output.json_dumps``.

Documents are built as dicts (not with the ``get_policy_document`` invoke) so
tests and the IAM linter see exactly what AWS will receive.
"""

from __future__ import annotations

from typing import Any

import pulumi

VERSION = "2012-10-17"


def document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    """A policy document; statements may hold Outputs (ARNs)."""
    return pulumi.Output.json_dumps({"Version": VERSION, "Statement": list(statements)})


def allow(actions: list[str], resources: Any, sid: str | None = None, **extra: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if sid:
        stmt["Sid"] = sid
    stmt.update(extra)
    return stmt


def service_trust(
    service: str, *, source_account: str | None = None, source_arn: str | None = None
) -> pulumi.Output[str]:
    """Trust policy letting an AWS service assume a role (optionally confused-deputy guarded: the account and,
    where the service documents one, the ARN pattern of the resources acting)."""
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        stmt["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    if source_arn:
        stmt.setdefault("Condition", {})["ArnLike"] = {"aws:SourceArn": source_arn}
    return document(stmt)
