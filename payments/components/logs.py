"""CloudWatch log groups that meet PCI DSS 10.5.1 (kept >= 365 days, KMS-encrypted)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from payments.core import retention
from payments.core.retention import MIN_RETENTION_DAYS


def log_group(
    name: str,
    physical_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int = MIN_RETENTION_DAYS,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.cloudwatch.LogGroup:
    """An encrypted log group with a PCI-compliant retention."""
    if not retention.allowed(retention_days):
        raise ValueError(f"log retention {retention_days} days is not allowed; use one of {retention.choices()}")
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
