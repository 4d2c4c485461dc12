"""S3 buckets that meet PCI DSS: private, versioned, encrypted, TLS-only, with a lifecycle.

Uses the current pulumi-aws 7 shape: ``aws.s3.Bucket`` plus one resource per
concern (versioning, encryption, public access block, ownership, policy,
lifecycle); the inline arguments are deprecated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam

s3 = aws.s3


@dataclasses.dataclass
class Lifecycle:
    """Storage classes over time; current objects expire after `expire_days` (None: never)."""

    infrequent_access_days: int | None = 30
    glacier_days: int | None = 90
    expire_days: int | None = None
    noncurrent_expire_days: int = 90


@dataclasses.dataclass
class SecureBucketArgs:
    bucket_name: str
    #: customer-managed key for SSE-KMS; None means SSE-S3 (AES256), which ALB access logs require
    kms_key_arn: pulumi.Input[str] | None
    lifecycle: Lifecycle = dataclasses.field(default_factory=Lifecycle)
    #: statements added to the TLS-only bucket policy (e.g. a log-delivery principal)
    policy_statements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: empty the bucket on destroy so the stack stays destroyable
    force_destroy: bool = True


class SecureBucket(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:s3:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = s3.Bucket(name, bucket=args.bucket_name, force_destroy=args.force_destroy, opts=child)
        block = s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        by_default = (
            s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
            )
            if args.kms_key_arn is not None
            else s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default,
                    # Bucket keys cut KMS calls (and cost) by ~99 %; meaningless for SSE-S3.
                    bucket_key_enabled=args.kms_key_arn is not None,
                )
            ],
            opts=child,
        )
        s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[_lifecycle_rule(args.lifecycle)],
            opts=child,
        )
        tls_only = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        self.policy = s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=iam.document(tls_only, *args.policy_statements),
            # S3 rejects some policies until the public access block is in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        self.arn = self.bucket.arn
        self.name = self.bucket.bucket
        self.register_outputs({"arn": self.arn, "name": self.name})


def _lifecycle_rule(lc: Lifecycle) -> s3.BucketLifecycleConfigurationRuleArgs:
    transitions = []
    if lc.infrequent_access_days is not None:
        transitions.append(
            s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=lc.infrequent_access_days, storage_class="STANDARD_IA"
            )
        )
    if lc.glacier_days is not None:
        transitions.append(
            s3.BucketLifecycleConfigurationRuleTransitionArgs(days=lc.glacier_days, storage_class="GLACIER")
        )
    return s3.BucketLifecycleConfigurationRuleArgs(
        id="retention",
        status="Enabled",
        filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=transitions or None,
        expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=lc.expire_days) if lc.expire_days else None,
        noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=lc.noncurrent_expire_days
        ),
        abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=7
        ),
    )
