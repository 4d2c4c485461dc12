"""Data rules: databases, credentials, buckets and backups that hold or protect cardholder data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from payments.guardrails.engine import Resource, missing_companions, rule, stack_rule
from payments.guardrails.rules_lifecycle import exact_version

CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
INSTANCE = "aws:rds/instance:Instance"
CLUSTER_PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
VAULT = "aws:backup/vault:Vault"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"

DATABASES = (CLUSTER, INSTANCE)
MIN_DB_BACKUP_DAYS = 7
MAX_ROTATION_DAYS = 30
MIN_BACKUP_PLAN_DAYS = 30
REQUIRED_DB_LOGS = ("audit", "error", "slowquery")
#: require_secure_transport values that mean "on" (Aurora says ON, RDS MySQL says 1).
TLS_ON = ("1", "on", "true")
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
#: The AWS-managed S3 key: it cannot be governed, and its policy cannot be narrowed (PCI DSS 3.6.1).
AWS_MANAGED_S3_KEY = "alias/aws/s3"

#: Why an ALB access-log bucket may use SSE-S3. It still needs server access logging: reads of audit logs are
#: themselves auditable (PCI DSS 10.2.1).
ALB_LOG_DESTINATION = "ALB access-log destination: Elastic Load Balancing delivers only to SSE-S3 buckets"
S3_LOG_DESTINATION = (
    "S3 server access-log target: S3 delivers access logs only to SSE-S3 (AES256) default encryption, and AWS "
    "advises against access logging on a target bucket (logs of log deliveries, without end)"
)


def _days(value: object) -> int | None:
    """A whole number of days; the engine sends numbers as floats (30.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _is_aurora_cluster(r: Resource) -> bool:
    return r.type == CLUSTER and str(r.inputs.get("engine", "")).startswith("aurora")


@rule(
    "db-encrypted-cmk",
    pci="3.5.1",
    types=DATABASES,
    description="Database storage is encrypted with a customer-managed KMS key",
)
def db_encrypted_cmk(r: Resource) -> Iterator[str]:
    if r.inputs.get("storageEncrypted") is not True:
        yield "storage is not encrypted (storageEncrypted)"
    if not r.inputs.get("kmsKeyId"):
        yield "no customer-managed key (kmsKeyId): the AWS-managed aws/rds key cannot be governed or shared"


@rule(
    "db-not-public",
    pci="1.3.1, 1.4.4",
    types=[CLUSTER, CLUSTER_INSTANCE, INSTANCE],
    description="Databases are never publicly accessible",
)
def db_not_public(r: Resource) -> Iterator[str]:
    if r.inputs.get("publiclyAccessible") is True:
        yield "publiclyAccessible is true"


@rule(
    "db-backup-retention",
    pci="12.10.1",
    types=DATABASES,
    description=f"Automated backups (point-in-time recovery) are kept at least {MIN_DB_BACKUP_DAYS} days",
)
def db_backup_retention(r: Resource) -> Iterator[str]:
    days = _days(r.inputs.get("backupRetentionPeriod"))
    if days is None or days < MIN_DB_BACKUP_DAYS:
        yield f"backupRetentionPeriod is {days!r}, under {MIN_DB_BACKUP_DAYS} days"


@rule(
    "db-managed-credentials",
    pci="8.3.2, 8.6.2",
    types=DATABASES,
    description="The master password is generated and held by AWS (manageMasterUserPassword), never set in code",
)
def db_managed_credentials(r: Resource) -> Iterator[str]:
    for key in ("masterPassword", "password", "masterPasswordWo", "passwordWo"):
        if r.inputs.get(key):
            yield f"a static password is set ({key})"
    if r.type == INSTANCE and r.inputs.get("replicateSourceDb"):
        return  # a read replica inherits its source's credentials
    if r.inputs.get("manageMasterUserPassword") is not True:
        yield "manageMasterUserPassword is not true"


@rule(
    "db-secret-cmk",
    pci="3.5.1, 3.6.1",
    types=DATABASES,
    description="The AWS-managed master secret is encrypted with a customer-managed key (masterUserSecretKmsKeyId)",
)
def db_secret_cmk(r: Resource) -> Iterator[str]:
    if r.inputs.get("manageMasterUserPassword") is True and not r.inputs.get("masterUserSecretKmsKeyId"):
        yield (
            "manageMasterUserPassword without masterUserSecretKmsKeyId: the master secret falls back to the "
            "AWS-managed aws/secretsmanager key"
        )


@rule(
    "db-minor-version-owner",
    pci="6.3.3",
    types=[INSTANCE, CLUSTER, CLUSTER_INSTANCE],
    description="Database minor versions (security patches) have an owner: AWS (automatic minor upgrades on) or the "
    "code (an exact engine version with automatic upgrades off, moved on through dev and promotion)",
)
def db_minor_version_owner(r: Resource) -> Iterator[str]:
    version = r.inputs.get("engineVersion")
    if r.inputs.get("autoMinorVersionUpgrade") is False and not exact_version(r.inputs.get("engine"), version):
        yield (
            f"autoMinorVersionUpgrade is false and engineVersion {version!r} is not an exact version: no one moves "
            "the database onto security patches. Pin the exact version and upgrade it through config (docs/data.md)"
        )


@rule(
    "db-enhanced-monitoring-prod",
    pci="10.7.2, 12.10.5",
    types=[INSTANCE, CLUSTER_INSTANCE],
    description="In production, database instances report OS metrics through Enhanced Monitoring (a role and an "
    "interval), so a failing host shows before its database does",
)
def db_enhanced_monitoring(r: Resource) -> Iterator[str]:
    if r.production and (not _days(r.inputs.get("monitoringInterval")) or not r.inputs.get("monitoringRoleArn")):
        yield "Enhanced Monitoring is off (monitoringInterval and monitoringRoleArn)"


@rule(
    "deletion-protection-prod",
    pci="12.10.1",
    types=[*DATABASES, LOAD_BALANCER],
    description="In production, databases and load balancers have deletion protection; `invoke destroy --confirm` "
    "lifts it explicitly before destroying",
)
def deletion_protection(r: Resource) -> Iterator[str]:
    key = "enableDeletionProtection" if r.type == LOAD_BALANCER else "deletionProtection"
    if r.production and r.inputs.get(key) is not True:
        yield f"{key} is not true"


@rule(
    "db-logs-exported",
    pci="10.2.1, 10.2.2",
    types=DATABASES,
    description="Audit, error and slow-query logs are exported to CloudWatch Logs",
)
def db_logs_exported(r: Resource) -> Iterator[str]:
    missing = [log for log in REQUIRED_DB_LOGS if log not in (r.inputs.get("enabledCloudwatchLogsExports") or [])]
    if missing:
        yield f"logs not exported: {', '.join(missing)}"


@rule(
    "db-final-snapshot-prod",
    pci="12.10.1",
    types=DATABASES,
    description="In production, destroying the database keeps a final snapshot",
)
def db_final_snapshot(r: Resource) -> Iterator[str]:
    if r.production and (r.inputs.get("skipFinalSnapshot") is not False or not r.inputs.get("finalSnapshotIdentifier")):
        yield "skipFinalSnapshot must be false with a finalSnapshotIdentifier in production"


@rule(
    "secret-rotation-30d",
    pci="8.3.9, 8.6.3",
    types=[ROTATION],
    description=f"Secrets rotate at least every {MAX_ROTATION_DAYS} days",
)
def secret_rotation(r: Resource) -> Iterator[str]:
    days = _days(r.get("rotationRules", "automaticallyAfterDays"))
    expression = r.get("rotationRules", "scheduleExpression")
    if r.inputs.get("rotationEnabled") is False:
        yield "rotation is disabled"
    elif days is not None:
        if days > MAX_ROTATION_DAYS:
            yield f"rotates every {days} days, over {MAX_ROTATION_DAYS}"
    elif isinstance(expression, str):
        match = re.fullmatch(r"rate\((\d+) days?\)", expression.strip())
        if match and int(match.group(1)) > MAX_ROTATION_DAYS:
            yield f"rotates {expression}, less often than every {MAX_ROTATION_DAYS} days"
    else:
        yield "no rotation schedule (rotationRules)"


@stack_rule(
    "db-credentials-rotated",
    pci="8.3.9, 8.6.3",
    description="Every database with an AWS-managed master secret has a rotation schedule for it",
)
def db_credentials_rotated(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    managed = [r for r in resources if r.type in DATABASES and r.inputs.get("manageMasterUserPassword")]
    rotations = [r for r in resources if r.type == ROTATION]
    # The secret's ARN is only known after creation, so count: one rotation per managed secret.
    for db in managed[len(rotations) :]:
        yield db.name, "no SecretRotation for its managed master secret (AWS's default is 7 days, without this)"


def _parameter_groups(resources: list[Resource]) -> dict[str, Resource]:
    return {
        str(r.inputs.get("name")): r for r in resources if r.type in (CLUSTER_PARAMS, PARAMS) and r.inputs.get("name")
    }


def _requires_tls(group: Resource) -> bool:
    return any(
        p.get("name") == "require_secure_transport" and str(p.get("value", "")).lower() in TLS_ON
        for p in group.inputs.get("parameters") or []
    )


@stack_rule(
    "db-tls-required",
    pci="4.2.1, 2.2.7",
    description="Every database uses a parameter group with require_secure_transport on",
)
def db_tls_required(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    groups = _parameter_groups(resources)
    for r in resources:
        if r.type not in DATABASES:
            continue
        key = "dbClusterParameterGroupName" if r.type == CLUSTER else "parameterGroupName"
        name = r.inputs.get(key)
        if name is None and r.id is None:
            continue  # unknown during a real preview
        group = groups.get(str(name))
        if group is None:
            yield (
                r.name,
                f"{key} {name!r} is not a parameter group of this stack (the default allows plain-text connections)",
            )
        elif not _requires_tls(group):
            yield r.name, f"parameter group {name!r} does not set require_secure_transport"


@stack_rule(
    "db-multi-az-prod",
    pci="12.10.1",
    description="In production the database survives the loss of an AZ (Multi-AZ, or Aurora instances in 2+ AZs)",
)
def db_multi_az(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    for r in resources:
        if not r.production:
            continue
        if r.type == INSTANCE and r.inputs.get("multiAz") is not True:
            yield r.name, "multiAz is not true"
        if _is_aurora_cluster(r):
            members = [
                i
                for i in resources
                if i.type == CLUSTER_INSTANCE and (r.id is None or i.inputs.get("clusterIdentifier") in (None, r.id))
            ]
            zones = {i.inputs.get("availabilityZone") for i in members}
            if len(members) < 2 or (None not in zones and len(zones) < 2):
                yield r.name, f"{len(members)} instance(s) in {len(zones)} AZ(s); add a reader in another AZ"


def _per_bucket(
    resources: list[Resource], companion: str, ok: Callable[[Resource], bool], what: str
) -> Iterator[tuple[str, str]]:
    return missing_companions(resources, BUCKET, companion, "bucket", ok, what)


@stack_rule(
    "s3-versioning-enabled",
    pci="10.5.1, 12.10.1",
    description="Every bucket has versioning enabled (overwrites and deletions can be undone; AWS Backup needs it)",
)
def s3_versioning(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    yield from _per_bucket(
        resources,
        VERSIONING,
        lambda r: r.get("versioningConfiguration", "status") == "Enabled",
        "BucketVersioning with status Enabled",
    )


@stack_rule(
    "s3-public-access-blocked", pci="1.3.1, 1.4.4", description="Every bucket blocks all four kinds of public access"
)
def s3_public_access(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    yield from _per_bucket(
        resources,
        PUBLIC_ACCESS,
        lambda r: all(r.inputs.get(f) is True for f in PUBLIC_ACCESS_FLAGS),
        "BucketPublicAccessBlock with all four settings true",
    )


def _denies_plain_http(policy: Resource) -> bool:
    document = policy.json("policy") or {}
    statements = document.get("Statement") or []
    for s in statements if isinstance(statements, list) else [statements]:
        condition = (s.get("Condition") or {}).get("Bool") or {}
        if s.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport", "")).lower() == "false":
            return True
    return False


@stack_rule(
    "s3-tls-only",
    pci="4.2.1",
    description="Every bucket policy denies requests without TLS (aws:SecureTransport false)",
)
def s3_tls_only(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    yield from _per_bucket(
        resources, BUCKET_POLICY, _denies_plain_http, "bucket policy denying aws:SecureTransport false"
    )


def _bucket_keys(bucket: Resource) -> set[str]:
    """How other resources name `bucket`: its physical name and its id (the same string once created)."""
    return {v for v in (bucket.inputs.get("bucket"), bucket.id) if isinstance(v, str) and v}


def _logs_elsewhere(logging: Resource) -> bool:
    """A BucketLogging that delivers to another bucket (to itself, every delivery would log another one)."""
    target = logging.inputs.get("targetBucket")
    return bool(target) and target != logging.inputs.get("bucket")


def log_destinations(resources: list[Resource]) -> dict[str, str]:
    """Bucket name/id -> why it is a log destination: named by an ALB's accessLogs or an S3 logging target."""
    destinations: dict[str, str] = {}
    for r in resources:
        if r.type == LOAD_BALANCER and isinstance(r.get("accessLogs", "bucket"), str):
            destinations[r.get("accessLogs", "bucket")] = ALB_LOG_DESTINATION
        elif r.type == BUCKET_LOGGING and isinstance(r.inputs.get("targetBucket"), str) and _logs_elsewhere(r):
            # a bucket logging to itself earns no exemption
            destinations[r.inputs["targetBucket"]] = S3_LOG_DESTINATION
    return destinations


def _destination_reason(resources: list[Resource]) -> Callable[[Resource], str | None]:
    destinations = log_destinations(resources)

    def reason(bucket: Resource) -> str | None:
        return next((destinations[k] for k in sorted(_bucket_keys(bucket)) if k in destinations), None)

    return reason


def _default_encryption(config: Resource) -> tuple[object, object]:
    by_default = config.get("rules", "applyServerSideEncryptionByDefault") or {}
    return by_default.get("sseAlgorithm"), by_default.get("kmsMasterKeyId")


def _encrypts_with_cmk(config: Resource) -> bool:
    algorithm, key = _default_encryption(config)
    return (
        algorithm in ("aws:kms", "aws:kms:dsse")
        and isinstance(key, str)
        and bool(key)
        and not key.endswith(AWS_MANAGED_S3_KEY)
    )


def _encrypts(config: Resource) -> bool:
    return _encrypts_with_cmk(config) or _default_encryption(config)[0] == "AES256"


@stack_rule(
    "s3-encrypted",
    pci="3.5.1",
    description="Every bucket has default encryption with SSE-KMS and a customer-managed key; SSE-S3 only on "
    "log destinations (ALB access logs, S3 server access logs), the only encryption their delivery accepts",
)
def s3_encrypted(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    destination = _destination_reason(resources)
    yield from missing_companions(
        resources,
        BUCKET,
        ENCRYPTION,
        "bucket",
        _encrypts_with_cmk,
        "default encryption with SSE-KMS and a customer-managed key (kmsMasterKeyId); SSE-S3 is accepted only on "
        "log-destination buckets",
        exempt=destination,
    )
    destinations = [r for r in resources if r.type != BUCKET or destination(r)]
    yield from missing_companions(
        destinations, BUCKET, ENCRYPTION, "bucket", _encrypts, "default encryption (SSE-S3 or SSE-KMS with a key)"
    )


@stack_rule(
    "s3-access-logging",
    pci="10.2.1",
    description="Every bucket has S3 server access logging to another bucket (ALB access-log buckets too: reads of "
    "audit logs are auditable), except S3 server access-log targets (their reason is written in the rule)",
)
def s3_access_logging(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    for r in resources:
        if r.type == BUCKET_LOGGING and not _logs_elsewhere(r):
            yield r.name, "the bucket logs to itself (or to no bucket): every delivery would log another one"
    only_s3_targets = [r for r in resources if r.type != LOAD_BALANCER]  # ALB log buckets are logged too
    yield from missing_companions(
        resources,
        BUCKET,
        BUCKET_LOGGING,
        "bucket",
        _logs_elsewhere,
        "server access logging (BucketLogging to a log bucket)",
        exempt=_destination_reason(only_s3_targets),
    )


@rule(
    "backup-vault-cmk",
    pci="3.5.1",
    types=[VAULT],
    description="Backup vaults encrypt recovery points with a customer-managed key",
)
def backup_vault_cmk(r: Resource) -> Iterator[str]:
    if not r.inputs.get("kmsKeyArn"):
        yield "no customer-managed key (kmsKeyArn)"


@rule(
    "backup-retention-30d",
    pci="12.10.1",
    types=[PLAN],
    description=f"Every backup plan rule keeps recovery points at least {MIN_BACKUP_PLAN_DAYS} days",
)
def backup_retention(r: Resource) -> Iterator[str]:
    rules = r.inputs.get("rules") or []
    if not rules:
        yield "the plan has no rules"
    for item in rules:
        days = _days((item.get("lifecycle") or {}).get("deleteAfter"))
        if days is None or days < MIN_BACKUP_PLAN_DAYS:
            yield f"rule {item.get('ruleName')!r} keeps recovery points {days!r} days, under {MIN_BACKUP_PLAN_DAYS}"


@stack_rule(
    "db-in-backup-plan", pci="12.10.1", description="Every database is selected by an AWS Backup plan of its stack"
)
def db_in_backup_plan(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    selected = [arn for r in resources if r.type == SELECTION for arn in r.inputs.get("resources") or []]
    for r in resources:
        if r.type not in DATABASES:
            continue
        if r.id is None:
            if not any(s.type == SELECTION for s in resources):
                yield r.name, "no AWS Backup selection in the stack"
            continue
        if not any(isinstance(arn, str) and arn.endswith(f":{r.id}") for arn in selected):
            yield r.name, f"{r.id} is in no AWS Backup selection"


@rule(
    "ssm-secure-string-cmk",
    pci="3.5.1",
    types=[SSM_PARAMETER],
    description="SecureString parameters are encrypted with a customer-managed key",
)
def ssm_secure_string(r: Resource) -> Iterator[str]:
    if r.inputs.get("type") == "SecureString" and not r.inputs.get("keyId"):
        yield "SecureString without keyId (uses the AWS-managed aws/ssm key)"
