"""CloudWatch log groups that meet PCI DSS 10.5.1 (kept >= 365 days, KMS-encrypted)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

#: PCI DSS 10.5.1: at least 12 months of audit history.
MIN_RETENTION_DAYS = 365
#: The values CloudWatch Logs accepts for retentionInDays.
ALLOWED_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def log_group(
    name: str,
    physical_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int = MIN_RETENTION_DAYS,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.cloudwatch.LogGroup:
    """An encrypted log group with a PCI-compliant retention."""
    if retention_days not in ALLOWED_RETENTION_DAYS or retention_days < MIN_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in ALLOWED_RETENTION_DAYS if d >= MIN_RETENTION_DAYS)
        raise ValueError(f"log retention {retention_days} days is not allowed; use one of {allowed}")
    return aws.cloudwatch.LogGroup(
        name,
        name=physical_name,
        retention_in_days=retention_days,
        kms_key_id=kms_key_arn,
        opts=opts,
    )


def insights_log_group(cluster_name: str) -> str:
    """Where ECS Container Insights writes a cluster's performance events (Amazon CloudWatch User Guide)."""
    return f"/aws/ecs/containerinsights/{cluster_name}/performance"
