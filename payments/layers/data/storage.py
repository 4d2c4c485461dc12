"""The layer's S3 buckets: application logs, static content, config archive.

Each is a :class:`~payments.components.buckets.SecureBucket` (versioned,
public access blocked, bucket-owner-enforced, TLS-only, SSE-KMS with the
layer's key and a bucket key); they differ only in how long objects live.
"""

from __future__ import annotations

import dataclasses

import pulumi

from payments.components.buckets import Lifecycle, SecureBucket, SecureBucketArgs

#: Noncurrent versions are kept long enough to undo a bad deploy or deletion.
NONCURRENT_DAYS = 90
#: Task-definition history is audit evidence (PCI DSS 10.5.1, 6.5.1): keep old versions a year.
ARCHIVE_NONCURRENT_DAYS = 365


@dataclasses.dataclass
class StorageArgs:
    app_logs_bucket: str
    static_bucket: str
    config_archive_bucket: str
    kms_key_arn: pulumi.Input[str]
    #: application logs expire after this many days (>= 365, PCI DSS 10.5.1)
    app_logs_expire_days: int


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Logs: 3 months hot (PCI DSS 10.5.1 "immediately available"), then cheaper tiers, then gone.
        self.app_logs = SecureBucket(
            f"{name}-app-logs",
            SecureBucketArgs(
                bucket_name=args.app_logs_bucket,
                kms_key_arn=args.kms_key_arn,
                lifecycle=Lifecycle(
                    infrequent_access_days=30,
                    glacier_days=90,
                    expire_days=args.app_logs_expire_days,
                    noncurrent_expire_days=NONCURRENT_DAYS,
                ),
            ),
            opts=child,
        )
        # Static content is read all the time: no transitions, current objects never expire.
        self.static = SecureBucket(
            f"{name}-static",
            SecureBucketArgs(
                bucket_name=args.static_bucket,
                kms_key_arn=args.kms_key_arn,
                lifecycle=Lifecycle(
                    infrequent_access_days=None,
                    glacier_days=None,
                    expire_days=None,
                    noncurrent_expire_days=NONCURRENT_DAYS,
                ),
            ),
            opts=child,
        )
        # Rendered task definitions (written by the app layer, kept by AWS Backup): small, rarely read.
        self.config_archive = SecureBucket(
            f"{name}-config-archive",
            SecureBucketArgs(
                bucket_name=args.config_archive_bucket,
                kms_key_arn=args.kms_key_arn,
                lifecycle=Lifecycle(
                    infrequent_access_days=30,
                    glacier_days=None,
                    expire_days=None,
                    noncurrent_expire_days=ARCHIVE_NONCURRENT_DAYS,
                ),
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "appLogsBucketName": self.app_logs.name,
                "staticBucketName": self.static.name,
                "configArchiveBucketName": self.config_archive.name,
            }
        )
