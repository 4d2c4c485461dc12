"""Rules that apply to every layer: tags, names, ingress, logs, keys, destroyability."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from payments.guardrails.engine import Resource, Severity, rule

REQUIRED_TAGS = ("Environment", "CostCenter", "MigrationPhase")
#: Inputs that carry a resource's physical name.
NAME_KEYS = (
    "name",
    "bucket",
    "alarmName",
    "dashboardName",
    "identifier",
    "clusterIdentifier",
    "replicationInstanceId",
    "replicationTaskId",
    "replicationSubnetGroupId",
    "endpointId",
    "family",
)
MIN_LOG_RETENTION = 365


@functools.cache
def taggable(token: str) -> bool:
    """Whether the pulumi-aws resource behind `token` accepts `tags` (read from the SDK itself)."""
    package, middle, cls_name = token.split(":")
    if package != "aws":
        return False
    module = middle.split("/")[0]
    try:
        mod = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
        cls = getattr(mod, cls_name)
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters


@rule(
    "required-tags",
    pci="12.5.1",
    description="Every taggable resource carries Environment, CostCenter and MigrationPhase "
    "(inventory of in-scope components)",
)
def required_tags(r: Resource) -> Iterator[str]:
    if not taggable(r.type):
        return
    tags = {**r.default_tags, **_as_map(r.inputs.get("tagsAll")), **_as_map(r.inputs.get("tags"))}
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    if missing:
        yield f"missing tag(s) {', '.join(missing)} (set them through the layer's provider default tags)"


def _as_map(tags: Any) -> dict[str, Any]:
    """Tags as a map; some resources (Auto Scaling groups) take a list of {key, value} blocks."""
    if isinstance(tags, list):
        return {str(t.get("key")): t.get("value") for t in tags if isinstance(t, dict)}
    return dict(tags or {})


@rule(
    "name-has-suffix",
    pci="6.5.3",
    description="Physical names carry the environment suffix, so pre-production and production never share a resource",
)
def name_has_suffix(r: Resource) -> Iterator[str]:
    if not r.suffix:
        return
    for key, value in physical_names(r.type, r.inputs):
        if r.suffix not in value:
            yield f"{key} '{value}' does not contain the environment suffix '{r.suffix}'"


def physical_names(resource_type: str, inputs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(input key, value) of every physical name a resource carries."""
    if resource_type.startswith("aws:route53/"):
        return  # DNS names belong to the business's domain, not to an environment's resources
    for key in NAME_KEYS:
        if key == "family" and resource_type.startswith("aws:rds/"):
            continue  # an RDS parameter group's family is the engine family (aurora-mysql8.0), not a name
        value = inputs.get(key)
        if isinstance(value, str):
            yield key, value


@rule(
    "no-open-ingress",
    pci="1.3.1",
    types=[
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    ],
    description="No security group admits 0.0.0.0/0 or ::/0 inbound",
)
def no_open_ingress(r: Resource) -> Iterator[str]:
    if r.type.endswith("SecurityGroupIngressRule"):
        sources = [r.inputs.get("cidrIpv4"), r.inputs.get("cidrIpv6")]
    elif r.type.endswith("securityGroupRule:SecurityGroupRule"):
        sources = (
            list(r.inputs.get("cidrBlocks") or []) + list(r.inputs.get("ipv6CidrBlocks") or [])
            if r.inputs.get("type") == "ingress"
            else []
        )
    else:
        sources = [
            c
            for block in r.inputs.get("ingress") or []
            for c in (block.get("cidrBlocks") or []) + (block.get("ipv6CidrBlocks") or [])
        ]
    for source in sources:
        if source in ("0.0.0.0/0", "::/0"):
            yield f"ingress from {source}"


@rule(
    "log-group-protected",
    pci="10.5.1, 3.5.1",
    types=["aws:cloudwatch/logGroup:LogGroup"],
    description="Log groups are encrypted with a customer-managed key and kept at least 365 days",
)
def log_group_protected(r: Resource) -> Iterator[str]:
    if not r.inputs.get("kmsKeyId"):
        yield "not encrypted with a customer-managed KMS key (kmsKeyId)"
    retention = r.inputs.get("retentionInDays")
    if retention is not None and retention != 0 and retention < MIN_LOG_RETENTION:
        yield f"retention {retention} days is under {MIN_LOG_RETENTION}"
    if retention is None:
        yield f"no retention set; set retentionInDays >= {MIN_LOG_RETENTION} (not lost, not kept forever by accident)"


@rule("kms-rotation", pci="3.7.4", types=["aws:kms/key:Key"], description="Customer-managed keys rotate yearly")
def kms_rotation(r: Resource) -> Iterator[str]:
    if r.inputs.get("enableKeyRotation") is not True:
        yield "key rotation is off (enableKeyRotation)"


@rule(
    "destroyable",
    pci="n/a (operational)",
    severity=Severity.MANDATORY,
    description="No protect or retainOnDelete: every stack must be destroyable "
    "(prod keeps a final DB snapshot instead)",
)
def destroyable(r: Resource) -> Iterator[str]:
    if r.protect:
        yield "resource option protect=True"
    if r.retain_on_delete:
        yield "resource option retain_on_delete=True"
