"""Key-policy statements of the data layer's customer-managed key."""

from __future__ import annotations

from typing import Any

#: Services that encrypt this layer's data with the key, on behalf of a caller in the account.
SERVICES = ("rds", "secretsmanager", "s3", "ssm", "backup", "dms")


def via_services_statement(account_id: str, region: str) -> dict[str, Any]:
    """Grants for AWS resources only, through the services that hold the layer's data.

    RDS, Secrets Manager, AWS Backup and DMS keep using the key after the call that created a
    resource (storage, the managed secret, recovery points, the replication instance's storage)
    through grants; grants for anything else, or outside these services, are refused.
    """
    return {
        "Sid": "GrantsForDataServices",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        "Resource": "*",
        "Condition": {
            "Bool": {"kms:GrantIsForAWSResource": "true"},
            "StringEquals": {"kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in SERVICES]},
        },
    }
