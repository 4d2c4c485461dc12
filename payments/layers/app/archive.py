"""The rendered task definition, archived as JSON in the data layer's config-archive bucket.

AWS Backup cannot back up ECS task definitions; the bucket is versioned and
selected by the data layer's backup plan, so every revision Pulumi registers is
kept (and can be re-registered from the object: it is RegisterTaskDefinition's
own request shape).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclasses.dataclass
class ArchiveArgs:
    bucket: pulumi.Input[str]
    #: object key, e.g. task-definitions/app-dev.json
    key: str
    #: the document; may hold Outputs
    document: pulumi.Input[dict[str, Any]]


class ConfigArchive(pulumi.ComponentResource):
    def __init__(self, name: str, args: ArchiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:app:ConfigArchive", name, None, opts)
        # Encrypted by the bucket's default (the data layer's customer key): naming no algorithm here keeps
        # S3 from falling back to the AWS-managed key.
        self.object = aws.s3.BucketObjectv2(
            name,
            bucket=args.bucket,
            key=args.key,
            content=pulumi.Output.json_dumps(args.document, indent=2, sort_keys=True),
            content_type="application/json",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"key": self.object.key})
