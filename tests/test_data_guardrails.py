"""Data guardrails: each rule fires on a resource that breaks it and stays quiet on a good one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.guardrails import rules_data as rd
from payments.guardrails.engine import RULES, Resource, evaluate, load_rules
from tests.support import plan

TAGS = {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
BUCKET_ID = "payments-static-dev-123456789012"
LOG_BUCKET_ID = "payments-s3-access-logs-dev-123456789012"
ALB_LOGS_ID = "alb-logs-dev-123456789012"


def findings(resources: Resource | list[Resource], rule_id: str) -> list[str]:
    return [f.message for f in evaluate(resources if isinstance(resources, list) else [resources], [RULES[rule_id]])]


def res(type_: str, inputs: dict[str, Any], **kw: Any) -> Resource:
    kw.setdefault("default_tags", TAGS)
    kw.setdefault("suffix", "dev")
    return Resource(type_, kw.pop("name", "r"), inputs, **kw)


def cluster(**inputs: Any) -> Resource:
    good = {
        "engine": "aurora-mysql",
        "storageEncrypted": True,
        "kmsKeyId": KEY,
        "backupRetentionPeriod": 30,
        "manageMasterUserPassword": True,
        "masterUserSecretKmsKeyId": KEY,
        "enabledCloudwatchLogsExports": ["audit", "error", "slowquery"],
        "dbClusterParameterGroupName": "pg-dev",
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": "final-dev",
    }
    production = inputs.pop("production", False)
    return res(rd.CLUSTER, {**good, **inputs}, name="db", id="payments-db-dev", production=production)


def instance(**inputs: Any) -> Resource:
    good = {
        "engine": "mysql",
        "storageEncrypted": True,
        "kmsKeyId": KEY,
        "backupRetentionPeriod": 30,
        "manageMasterUserPassword": True,
        "masterUserSecretKmsKeyId": KEY,
        "enabledCloudwatchLogsExports": ["audit", "error", "slowquery"],
        "parameterGroupName": "pg-dev",
        "multiAz": True,
        "publiclyAccessible": False,
    }
    production = inputs.pop("production", False)
    return res(rd.INSTANCE, {**good, **inputs}, name="db", id="payments-db-dev", production=production)


def member(az: str, production: bool = False, **inputs: Any) -> Resource:
    return res(
        rd.CLUSTER_INSTANCE,
        {"clusterIdentifier": "payments-db-dev", "availabilityZone": az, "publiclyAccessible": False, **inputs},
        name=f"db-{az}",
        production=production,
    )


def params(value: str = "ON", type_: str = rd.CLUSTER_PARAMS) -> Resource:
    return res(
        type_,
        {
            "name": "pg-dev",
            "family": "aurora-mysql8.0",
            "parameters": [{"name": "require_secure_transport", "value": value}],
        },
        name="pg",
    )


def rotation(**rules: Any) -> Resource:
    return res(rd.ROTATION, {"secretId": "arn:secret", "rotationRules": rules}, name="rotation")


def selection(*arns: str) -> Resource:
    return res(rd.SELECTION, {"name": "sel-dev", "resources": list(arns)}, name="selection")


def sse(algorithm: str, key: str | None = None, bucket: str = BUCKET_ID) -> Resource:
    by_default = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key else {})}
    return res(rd.ENCRYPTION, {"bucket": bucket, "rules": [{"applyServerSideEncryptionByDefault": by_default}]})


def logging(bucket: str = BUCKET_ID, target: str = LOG_BUCKET_ID) -> Resource:
    return res(rd.BUCKET_LOGGING, {"bucket": bucket, "targetBucket": target, "targetPrefix": "static/"}, name="log")


def log_bucket(bucket_id: str = LOG_BUCKET_ID, algorithm: str = "AES256") -> list[Resource]:
    """A log bucket (no access logging of its own) with the given default encryption."""
    return [res(rd.BUCKET, {"bucket": bucket_id}, name="logs", id=bucket_id), sse(algorithm, bucket=bucket_id)]


def alb(bucket_id: str = ALB_LOGS_ID) -> Resource:
    return res(rd.LOAD_BALANCER, {"name": "alb-dev", "accessLogs": {"bucket": bucket_id, "enabled": True}}, name="alb")


def bucket_set(**override: Resource | None) -> list[Resource]:
    """A bucket with every companion resource correct, minus/with what `override` says."""
    parts: dict[str, Resource | None] = {
        "bucket": res(rd.BUCKET, {"bucket": BUCKET_ID}, name="b", id=BUCKET_ID),
        "logging": logging(),
        "versioning": res(rd.VERSIONING, {"bucket": BUCKET_ID, "versioningConfiguration": {"status": "Enabled"}}),
        "block": res(rd.PUBLIC_ACCESS, {"bucket": BUCKET_ID, **{f: True for f in rd.PUBLIC_ACCESS_FLAGS}}),
        "policy": res(
            rd.BUCKET_POLICY,
            {
                "bucket": BUCKET_ID,
                "policy": json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    }
                ),
            },
        ),
        "sse": res(
            rd.ENCRYPTION,
            {
                "bucket": BUCKET_ID,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        ),
    }
    parts.update(override)
    return [p for p in parts.values() if p is not None]


# (rule, breaking resources, good resources)
CASES: list[tuple[str, Any, Any]] = [
    ("db-encrypted-cmk", cluster(storageEncrypted=False), cluster()),
    ("db-encrypted-cmk", instance(kmsKeyId=None), instance()),
    ("db-not-public", instance(publiclyAccessible=True), instance()),
    (
        "db-not-public",
        res(rd.CLUSTER_INSTANCE, {"publiclyAccessible": True}),
        res(rd.CLUSTER_INSTANCE, {"publiclyAccessible": False}),
    ),
    ("db-backup-retention", cluster(backupRetentionPeriod=1), cluster(backupRetentionPeriod=7.0)),
    ("db-backup-retention", instance(backupRetentionPeriod=0), instance()),
    ("db-managed-credentials", cluster(masterPassword="hunter2", manageMasterUserPassword=None), cluster()),
    ("db-managed-credentials", instance(manageMasterUserPassword=False), instance()),
    ("db-secret-cmk", cluster(masterUserSecretKmsKeyId=None), cluster()),
    (
        "db-secret-cmk",
        instance(masterUserSecretKmsKeyId=""),
        instance(manageMasterUserPassword=False, masterUserSecretKmsKeyId=None),  # no managed secret to encrypt
    ),
    # patches have an owner: AWS (auto upgrades on) or the code (an exact pin with auto upgrades off)
    (
        "db-minor-version-owner",
        instance(engineVersion="8.0", autoMinorVersionUpgrade=False),
        instance(engineVersion="8.0.42", autoMinorVersionUpgrade=False),
    ),
    (
        "db-minor-version-owner",
        cluster(engineVersion=None, autoMinorVersionUpgrade=False),
        cluster(engineVersion="8.0", autoMinorVersionUpgrade=True),
    ),
    (
        "db-enhanced-monitoring-prod",
        instance(production=True, monitoringInterval=0),
        instance(production=True, monitoringInterval=60.0, monitoringRoleArn="arn:aws:iam::1:role/m"),
    ),
    (
        "db-enhanced-monitoring-prod",
        member("us-east-1a", production=True, monitoringInterval=60, monitoringRoleArn=None),
        member("us-east-1a", monitoringInterval=0),  # not production
    ),
    ("deletion-protection-prod", cluster(production=True), cluster(production=True, deletionProtection=True)),
    ("deletion-protection-prod", instance(production=True, deletionProtection=False), instance()),
    (
        "deletion-protection-prod",
        res(rd.LOAD_BALANCER, {"enableDeletionProtection": False}, production=True),
        res(rd.LOAD_BALANCER, {"enableDeletionProtection": True}, production=True),
    ),
    ("db-logs-exported", cluster(enabledCloudwatchLogsExports=["error"]), cluster()),
    ("db-final-snapshot-prod", cluster(production=True, skipFinalSnapshot=True), cluster(production=True)),
    ("secret-rotation-30d", rotation(automaticallyAfterDays=45), rotation(automaticallyAfterDays=30.0)),
    ("secret-rotation-30d", rotation(scheduleExpression="rate(90 days)"), rotation(scheduleExpression="rate(10 days)")),
    ("secret-rotation-30d", rotation(), rotation(automaticallyAfterDays=1)),
    ("db-credentials-rotated", [cluster()], [cluster(), rotation(automaticallyAfterDays=30)]),
    ("db-tls-required", [cluster(), params("OFF")], [cluster(), params("ON")]),
    (
        "db-tls-required",
        [instance(parameterGroupName="default.mysql8.0"), params("1", rd.PARAMS)],
        [instance(), params("1", rd.PARAMS)],
    ),
    (
        "db-multi-az-prod",
        [cluster(production=True), member("us-east-1a", production=True)],
        [cluster(production=True), member("us-east-1a", production=True), member("us-east-1b", production=True)],
    ),
    (
        "db-multi-az-prod",
        [cluster(production=True), member("us-east-1a"), member("us-east-1a")],
        [cluster(), member("us-east-1a")],
    ),
    ("db-multi-az-prod", [instance(production=True, multiAz=False)], [instance(production=True)]),
    (
        "s3-versioning-enabled",
        bucket_set(
            versioning=res(rd.VERSIONING, {"bucket": BUCKET_ID, "versioningConfiguration": {"status": "Suspended"}})
        ),
        bucket_set(),
    ),
    (
        "s3-public-access-blocked",
        bucket_set(block=res(rd.PUBLIC_ACCESS, {"bucket": BUCKET_ID, "blockPublicAcls": True})),
        bucket_set(),
    ),
    ("s3-tls-only", bucket_set(policy=None), bucket_set()),
    (
        "s3-encrypted",
        bucket_set(
            sse=res(
                rd.ENCRYPTION,
                {"bucket": BUCKET_ID, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
            )
        ),
        bucket_set(),
    ),
    # SSE-S3 on a bucket that holds data; SSE-S3 on the S3 access-log target is what S3 requires
    ("s3-encrypted", bucket_set(sse=sse("AES256")), bucket_set() + log_bucket()),
    # the AWS-managed aws/s3 key; SSE-S3 on the ALB's access-log bucket is what ELB requires
    (
        "s3-encrypted",
        bucket_set(sse=sse("aws:kms", "arn:aws:kms:us-east-1:123456789012:alias/aws/s3")),
        bucket_set() + log_bucket(ALB_LOGS_ID) + [alb()],
    ),
    # a log bucket nothing delivers to is an ordinary bucket: SSE-S3 is refused
    ("s3-encrypted", bucket_set(logging=None) + log_bucket(), bucket_set() + log_bucket()),
    # nor does logging to itself make a bucket a log destination
    ("s3-encrypted", bucket_set(sse=sse("AES256"), logging=logging(target=BUCKET_ID)), bucket_set()),
    ("s3-access-logging", bucket_set(logging=None), bucket_set()),
    ("s3-access-logging", bucket_set(logging=logging(target=BUCKET_ID)), bucket_set() + log_bucket()),
    # S3 log targets are exempt with a written reason; the ALB's log bucket is not: reads of audit logs are audited
    (
        "s3-access-logging",
        bucket_set(logging=logging(bucket="other-bucket")),
        bucket_set() + log_bucket(LOG_BUCKET_ID),
    ),
    (
        "s3-access-logging",
        bucket_set() + log_bucket(ALB_LOGS_ID) + [alb()],
        bucket_set() + log_bucket(ALB_LOGS_ID) + [alb(), logging(bucket=ALB_LOGS_ID)],
    ),
    ("backup-vault-cmk", res(rd.VAULT, {"name": "v-dev"}), res(rd.VAULT, {"name": "v-dev", "kmsKeyArn": KEY})),
    (
        "backup-retention-30d",
        res(rd.PLAN, {"rules": [{"ruleName": "daily", "lifecycle": {"deleteAfter": 7}}]}),
        res(rd.PLAN, {"rules": [{"ruleName": "daily", "lifecycle": {"deleteAfter": 30.0}}]}),
    ),
    (
        "backup-retention-30d",
        res(rd.PLAN, {"rules": [{"ruleName": "daily"}]}),
        res(rd.PLAN, {"rules": [{"ruleName": "daily", "lifecycle": {"deleteAfter": 35}}]}),
    ),
    (
        "db-in-backup-plan",
        [cluster(), selection("arn:aws:s3:::payments-config-archive-dev-1")],
        [cluster(), selection("arn:aws:rds:us-east-1:123456789012:cluster:payments-db-dev")],
    ),
    (
        "ssm-secure-string-cmk",
        res(rd.SSM_PARAMETER, {"name": "/p/dev/x", "type": "SecureString"}),
        res(rd.SSM_PARAMETER, {"name": "/p/dev/x", "type": "SecureString", "keyId": KEY}),
    ),
]


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_on_a_breaking_resource_only(rule_id: str, bad: Any, good: Any) -> None:
    assert findings(bad, rule_id), f"{rule_id} did not fire"
    assert findings(good, rule_id) == []


def test_every_data_rule_has_a_breaking_case() -> None:
    load_rules()
    ours = {rid for rid, r in RULES.items() if (r.check or r.stack_check).__module__ == rd.__name__}  # type: ignore[union-attr]
    assert ours == {case[0] for case in CASES}
    for rid in ours:
        assert RULES[rid].pci and RULES[rid].description


def test_stack_rules_tolerate_unknown_ids_of_a_real_preview() -> None:
    """Under CrossGuard ids are unknown: the rules fall back to counting, not to false alarms."""
    unknown = [Resource(r.type, r.name, r.inputs, r.default_tags, r.production, r.suffix) for r in bucket_set()]
    s3_rules = ("s3-versioning-enabled", "s3-public-access-blocked", "s3-tls-only", "s3-encrypted", "s3-access-logging")
    for rid in s3_rules:
        assert findings(unknown, rid) == []
    db = Resource(rd.CLUSTER, "db", cluster().inputs, TAGS, False, "dev")
    assert findings([db, selection("arn:unknown")], "db-in-backup-plan") == []
    assert findings([db], "db-in-backup-plan")


def test_log_destinations_name_their_reason() -> None:
    destinations = rd.log_destinations([alb(), logging()])
    assert destinations == {ALB_LOGS_ID: rd.ALB_LOG_DESTINATION, LOG_BUCKET_ID: rd.S3_LOG_DESTINATION}
    assert all(len(reason) > 40 for reason in destinations.values())


def test_rds_engine_family_is_not_mistaken_for_a_name() -> None:
    assert findings(params(), "name-has-suffix") == []
    family = res("aws:ecs/taskDefinition:TaskDefinition", {"family": "payments-prod"})
    assert findings(family, "name-has-suffix")


@pytest.mark.parametrize(
    ("env", "engine"), [("dev", "aurora-mysql"), ("prod", "aurora-mysql"), ("dev", "mysql"), ("prod", "mysql")]
)
def test_real_plan_has_no_data_finding_at_all(env: str, engine: str) -> None:
    result = plan(env, ["data"], {"data": {"engine": engine}})
    assert [f.as_dict() for f in result.findings] == []
