"""Deploy-lifecycle rules: patterns whose first `pulumi up` is clean but a later one flaps or fails, and patterns
that fail the first deploy in a fresh account. Each is a known provider or AWS behaviour, named in its message.

PCI DSS 6.5.1 asks that changes to system components follow a controlled process; a stack whose every deploy shows
a change (or cannot deploy at all) hides the real changes a reviewer must see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from payments.guardrails.engine import Resource, rule, stack_rule

ASG = "aws:autoscaling/group:Group"
ASG_TAG = "aws:autoscaling/tag:Tag"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
INSTANCE = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
PCI = "6.5.1"

#: A complete engine version, per engine: one AWS can only move forward from (a prefix such as "8.0" is not one).
_EXACT_VERSION = {
    "aurora-mysql": re.compile(r"^\d+\.\d+\.mysql_aurora\.\d+\.\d+\.\d+$"),
    "mysql": re.compile(r"^\d+\.\d+\.\d+$"),
    "mariadb": re.compile(r"^\d+\.\d+\.\d+$"),
    "aurora-postgresql": re.compile(r"^\d+\.\d+$"),
    "postgres": re.compile(r"^\d+\.\d+$"),
}
#: arn:aws:iam::<account>:role/aws-service-role/<service principal>/<role name>[_<custom suffix>]
_SERVICE_ROLE = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/aws-service-role/(?P<service>[^/]+)/(?P<name>[^/]+)$")


def exact_version(engine: Any, version: Any) -> bool:
    pattern = _EXACT_VERSION.get(str(engine))
    return isinstance(version, str) and pattern is not None and bool(pattern.match(version))


@stack_rule(
    "asg-tags-inline",
    pci=PCI,
    description="Auto Scaling groups the stack manages carry their tags inline, never through aws.autoscaling.Tag "
    "(a perpetual diff: each refresh removes those tags, the next update adds them back)",
)
def asg_tags_inline(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    groups = {key for r in resources if r.type == ASG for key in (r.id, r.inputs.get("name")) if key}
    for r in resources:
        if r.type == ASG_TAG and r.inputs.get("autoscalingGroupName") in groups:
            yield r.name, (
                f"tags Auto Scaling group {r.inputs['autoscalingGroupName']} that this stack manages: every "
                "`up --refresh` removes the tag and the next update adds it back (the SDK's own warning). "
                "Set the group's inline `tags`"
            )


@rule(
    "db-engine-version-stable",
    pci=PCI,
    types=[CLUSTER, CLUSTER_INSTANCE, INSTANCE],
    description="An exact database engine version is pinned only with automatic minor upgrades off (or the version "
    "ignored): otherwise, after AWS patches the database, the next deploy plans a downgrade AWS rejects",
)
def db_engine_version_stable(r: Resource) -> Iterator[str]:
    version = r.inputs.get("engineVersion")
    # Aurora and RDS both default automatic minor upgrades to on.
    if (
        exact_version(r.inputs.get("engine"), version)
        and r.inputs.get("autoMinorVersionUpgrade") is not False
        and "engineVersion" not in r.ignore_changes
    ):
        yield (
            f"engineVersion {version} is pinned exactly while autoMinorVersionUpgrade is on: once AWS upgrades the "
            "minor version in a maintenance window, the next deploy plans a downgrade and AWS rejects it "
            "(pulumi-aws#5756). Turn automatic minor upgrades off (upgrade through config), or ignore engineVersion"
        )


@stack_rule(
    "kms-key-principals-exist",
    pci=PCI,
    description="Key policies name only service-linked roles the stack itself creates: KMS rejects a policy whose "
    "principal does not exist yet (a fresh account has no service-linked roles)",
)
def kms_key_principals_exist(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    created = {
        (str(r.inputs.get("awsServiceName")), str(r.inputs.get("customSuffix") or ""))
        for r in resources
        if r.type == SERVICE_LINKED_ROLE
    }
    for key in (r for r in resources if r.type == KEY):
        for arn in _principals(key.json("policy")):
            match = _SERVICE_ROLE.match(arn)
            if match is None:
                continue
            suffix = match["name"].split("_", 1)[1] if "_" in match["name"] else ""
            if (match["service"], suffix) not in created:
                yield key.name, (
                    f"the key policy names {arn}, which this stack does not create: in an account where it does not "
                    "exist yet, CreateKey fails. Create it in the stack (aws.iam.ServiceLinkedRole, a custom suffix "
                    "keeps it the stack's own) and name its ARN"
                )


def _principals(policy: Any) -> Iterator[str]:
    """AWS principal ARNs of a key policy (a real preview may not know the document yet: nothing then)."""
    if not isinstance(policy, dict):
        return
    statements = policy.get("Statement") or []
    for stmt in statements if isinstance(statements, list) else [statements]:
        principal = stmt.get("Principal") if isinstance(stmt, dict) else None
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        for arn in aws if isinstance(aws, list) else [aws]:
            if isinstance(arn, str):
                yield arn

