"""The layer's S3 buckets: application logs, static content, config archive, and their access logs.

The three data buckets are :class:`~payments.components.buckets.SecureBucket`\\ s
(versioned, public access blocked, bucket-owner-enforced, TLS-only, SSE-KMS with
the layer's key and a bucket key); they differ only in how long objects live.
Each writes S3 server access logs (PCI DSS 10.2.1) to a fourth bucket, the
access-log bucket, which has the same protections except its encryption: S3
delivers server access logs only to buckets whose default encryption is SSE-S3
(AES256), not SSE-KMS (S3 User Guide, "Enabling Amazon S3 server access logging").
"""

from __future__ import annotations

import dataclasses

import pulumi

from payments.components.buckets import (
    AccessLogs,
    Lifecycle,
    SecureBucket,
    SecureBucketArgs,
    access_log_delivery_statement,
)

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
    #: application logs expire after this many days (>= 365, PCI DSS 10.5.1); S3 access logs are kept as long
    app_logs_expire_days: int
    #: the S3 server access-log bucket
    access_logs_bucket: str
    #: the account that owns the buckets (the log-delivery policy's aws:SourceAccount)
    account_id: str


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account, access_logs_bucket = args.account_id, args.access_logs_bucket
        sources = {
            "app-logs": args.app_logs_bucket,
            "static": args.static_bucket,
            "config-archive": args.config_archive_bucket,
        }
        # Access logs are audit evidence like the application logs: a year at least, hot for 3 months (10.5.1).
        self.access_logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=access_logs_bucket,
                kms_key_arn=None,
                lifecycle=Lifecycle(
                    infrequent_access_days=30,
                    glacier_days=90,
                    expire_days=args.app_logs_expire_days,
                    noncurrent_expire_days=NONCURRENT_DAYS,
                ),
                policy_statements=[
                    access_log_delivery_statement(
                        f"S3AccessLogs{prefix.title().replace('-', '')}",
                        access_logs_bucket,
                        f"{prefix}/",
                        source,
                        account,
                    )
                    for prefix, source in sources.items()
                ],
            ),
            opts=child,
        )

        def logs(prefix: str) -> AccessLogs:
            return AccessLogs(target=self.access_logs, prefix=f"{prefix}/")

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
                access_logs=logs("app-logs"),
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
                access_logs=logs("static"),
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
                access_logs=logs("config-archive"),
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "appLogsBucketName": self.app_logs.name,
                "staticBucketName": self.static.name,
                "configArchiveBucketName": self.config_archive.name,
                "accessLogsBucketName": self.access_logs.name,
            }
        )

