"""S3 buckets that meet PCI DSS: private, versioned, encrypted, TLS-only, with a lifecycle and access logs.

Uses the current pulumi-aws 7 shape: ``aws.s3.Bucket`` plus one resource per
concern (versioning, encryption, public access block, ownership, policy,
lifecycle, server access logging with ``BucketLogging``, which replaces the
deprecated ``BucketLoggingV2``); the inline arguments are deprecated.
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
class AccessLogs:
    """Where a bucket's S3 server access logs go (PCI DSS 10.2.1)."""

    #: the log bucket; its policy must let ``logging.s3.amazonaws.com`` write under `prefix`
    #: (see :func:`access_log_delivery_statement`)
    target: SecureBucket
    #: key prefix of this source bucket's logs in the target, ending in "/"
    prefix: str


@dataclasses.dataclass
class SecureBucketArgs:
    bucket_name: str
    #: customer-managed key for SSE-KMS; None means SSE-S3 (AES256), the only default encryption that
    #: log destinations accept (ALB access logs, S3 server access logs)
    kms_key_arn: pulumi.Input[str] | None
    lifecycle: Lifecycle = dataclasses.field(default_factory=Lifecycle)
    #: statements added to the TLS-only bucket policy (e.g. a log-delivery principal)
    policy_statements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: server access logging into another bucket; None only for log destinations (the s3-access-logging guardrail)
    access_logs: AccessLogs | None = None
    #: empty the bucket on destroy so the stack stays destroyable
    force_destroy: bool = True


class SecureBucket(pulumi.ComponentResource):
    name: pulumi.Output[str]  #: the bucket's physical name
    arn: pulumi.Output[str]

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
        if args.access_logs is not None:
            target = args.access_logs.target
            s3.BucketLogging(
                f"{name}-access-logging",
                bucket=self.bucket.id,
                target_bucket=target.name,
                target_prefix=args.access_logs.prefix,
                # Keys partitioned by account/region/bucket/date: queries (Athena) read one day, not the whole prefix.
                target_object_key_format=s3.BucketLoggingTargetObjectKeyFormatArgs(
                    partitioned_prefix=s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                        partition_date_source="EventTime"
                    )
                ),
                # Deliveries start once the target's policy admits the logging service.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[target.policy]),
            )
        self.arn = self.bucket.arn
        self.name = self.bucket.bucket
        self.register_outputs({"arn": self.arn, "name": self.name})


def access_log_delivery_statement(
    sid: str, target_bucket: str, prefix: str, source_bucket: str, account_id: pulumi.Input[str]
) -> dict[str, Any]:
    """Bucket-policy statement letting S3 deliver `source_bucket`'s server access logs under `prefix`.

    The shape AWS recommends (S3 User Guide, "Enabling Amazon S3 server access logging"): the logging
    service principal, ``s3:PutObject`` only, tied to the source bucket and account (confused deputy).
    """
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target_bucket}/{prefix}*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source_bucket}"},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


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
