"""The data program under mocks: both engines in dev and prod, credentials, buckets, parameters, backups."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from payments.core import contract
from payments.core.config import describe
from payments.core.environment import REPO_ROOT
from payments.core.errors import ConfigError
from payments.layers.data.settings import DataSettings
from payments.plan.engine import LayerPlan, plan_environment
from tests.support import by_id, of_type, one, plan

CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
INSTANCE = "aws:rds/instance:Instance"
CLUSTER_PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
OPTIONS = "aws:rds/optionGroup:OptionGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
BUCKET = "aws:s3/bucket:Bucket"
SSM = "aws:ssm/parameter:Parameter"
VAULT = "aws:backup/vault:Vault"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE = "aws:iam/role:Role"

ENVS = ("dev", "prod")
ENGINES = ("aurora-mysql", "mysql")
COMBOS = [(env, engine) for env in ENVS for engine in ENGINES]


def data(env: str = "dev", **overrides: Any) -> LayerPlan:
    return plan(env, ["data"], {"data": overrides} if overrides else None).layer("data")


def with_engine(env: str, engine: str) -> LayerPlan:
    return data(env, engine=engine)


def the_db(lp: LayerPlan):
    dbs = of_type(lp, CLUSTER) + of_type(lp, INSTANCE)
    assert len(dbs) == 1, [d.name for d in dbs]
    return dbs[0]


def key_arn(lp: LayerPlan) -> str:
    return lp.outputs["dataKeyArn"]


# --- both engines, both environments ------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_plan_has_no_mandatory_finding(env: str, engine: str) -> None:
    result = plan(env, ["data"], {"data": {"engine": engine}})
    assert result.mandatory == []


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_database_is_encrypted_private_and_in_the_data_subnets(env: str, engine: str) -> None:
    result = plan(env, ["data"], {"data": {"engine": engine}})
    lp, net = result.layer("data"), plan(env, ["network"]).layer("network")
    db = the_db(lp)
    assert db.inputs["storageEncrypted"] is True
    assert db.inputs["kmsKeyId"] == key_arn(lp)
    assert db.inputs["vpcSecurityGroupIds"] == [net.outputs["dbSecurityGroupId"]]
    group = one(lp, SUBNET_GROUP)
    assert db.inputs["dbSubnetGroupName"] == group.id
    assert group.inputs["subnetIds"] == net.outputs["dataSubnetIds"]
    for r in of_type(lp, INSTANCE) + of_type(lp, CLUSTER_INSTANCE):
        assert r.inputs["publiclyAccessible"] is False
    assert db.inputs["copyTagsToSnapshot"] is True
    # on in production; `invoke destroy --confirm` lifts it (tests/test_orchestration.py)
    assert db.inputs["deletionProtection"] is (env == "prod")
    assert db.inputs["backupRetentionPeriod"] >= 7
    assert db.inputs["enabledCloudwatchLogsExports"] == ["audit", "error", "slowquery"]
    assert db.inputs["allowMajorVersionUpgrade"] is False
    assert lp.outputs["dbEngine"] == engine
    assert lp.outputs["dbPort"] == 3306


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_parameter_group_requires_tls(env: str, engine: str) -> None:
    lp = with_engine(env, engine)
    db = the_db(lp)
    if engine == "aurora-mysql":
        group, wanted = one(lp, CLUSTER_PARAMS), "ON"
        assert db.inputs["dbClusterParameterGroupName"] == group.id
        assert group.inputs["family"] == "aurora-mysql8.0"
    else:
        group, wanted = one(lp, PARAMS), "1"
        assert db.inputs["parameterGroupName"] == group.id
        assert group.inputs["family"] == "mysql8.0"
    params = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    assert params["require_secure_transport"] == wanted
    assert params["tls_version"] == "TLSv1.2,TLSv1.3"
    assert params["slow_query_log"] == "1" and params["log_output"] == "FILE"


def test_aurora_is_serverless_v2_with_acus_from_config() -> None:
    lp = data("dev", minCapacity=1, maxCapacity=8)
    cluster = one(lp, CLUSTER)
    assert cluster.inputs["engine"] == "aurora-mysql" and cluster.inputs["engineMode"] == "provisioned"
    assert cluster.inputs["engineVersion"].startswith("8.0.mysql_aurora.3.")
    assert cluster.inputs["serverlessv2ScalingConfiguration"] == {"minCapacity": 1, "maxCapacity": 8}
    assert {i.inputs["instanceClass"] for i in of_type(lp, CLUSTER_INSTANCE)} == {"db.serverless"}
    params = {p["name"]: p["value"] for p in one(lp, CLUSTER_PARAMS).inputs["parameters"]}
    assert params["server_audit_logging"] == "1"
    assert "CONNECT" in params["server_audit_events"]
    assert of_type(lp, INSTANCE) == [] and of_type(lp, OPTIONS) == []


def test_aurora_prod_has_a_reader_in_another_az_and_dev_only_a_writer() -> None:
    prod = data("prod")
    instances = sorted(of_type(prod, CLUSTER_INSTANCE), key=lambda r: r.inputs["promotionTier"])
    assert len(instances) == 2
    assert [i.inputs["promotionTier"] for i in instances] == [0, 1]
    azs = plan("prod", ["network"]).layer("network").outputs["azNames"]
    assert [i.inputs["availabilityZone"] for i in instances] == azs[:2]
    assert all(i.inputs["clusterIdentifier"] == one(prod, CLUSTER).id for i in instances)
    assert all(i.inputs["performanceInsightsEnabled"] is True for i in instances)
    assert {i.inputs["performanceInsightsKmsKeyId"] for i in instances} == {key_arn(prod)}
    dev = data("dev")
    assert len(of_type(dev, CLUSTER_INSTANCE)) == 1
    assert one(dev, CLUSTER_INSTANCE).inputs["performanceInsightsEnabled"] is False


def test_aurora_readers_follow_config_and_wrap_around_the_azs() -> None:
    lp = data("prod", readerCount=3)
    zones = [i.inputs["availabilityZone"] for i in of_type(lp, CLUSTER_INSTANCE)]
    assert len(zones) == 4 and zones[0] == zones[3] and len(set(zones)) == 3


def test_mysql_prod_is_multi_az_with_storage_autoscaling_and_audit_plugin() -> None:
    lp = with_engine("prod", "mysql")
    db = one(lp, INSTANCE)
    assert db.inputs["engine"] == "mysql" and db.inputs["engineVersion"].startswith("8.0")
    assert db.inputs["multiAz"] is True
    assert db.inputs["instanceClass"] == "db.r6g.large"
    assert (db.inputs["allocatedStorage"], db.inputs["maxAllocatedStorage"]) == (100, 1000)
    assert db.inputs["performanceInsightsEnabled"] is True
    assert db.inputs["performanceInsightsKmsKeyId"] == key_arn(lp)
    options = one(lp, OPTIONS)
    assert db.inputs["optionGroupName"] == options.id
    assert options.inputs["options"][0]["optionName"] == "MARIADB_AUDIT_PLUGIN"
    # RDS MySQL has one endpoint, taken over by the standby on failover.
    assert lp.outputs["dbWriterEndpoint"] == lp.outputs["dbReaderEndpoint"]
    assert lp.outputs["dbArn"].endswith(f":db:{db.id}")
    assert of_type(lp, CLUSTER) == [] and of_type(lp, CLUSTER_INSTANCE) == []


def test_aurora_exports_cluster_endpoints() -> None:
    lp = data("prod")
    cluster = one(lp, CLUSTER)
    assert lp.outputs["dbIdentifier"] == cluster.id
    assert lp.outputs["dbArn"].endswith(f":cluster:{cluster.id}")
    assert ".cluster-ro-" in lp.outputs["dbReaderEndpoint"]
    assert lp.outputs["dbWriterEndpoint"] != lp.outputs["dbReaderEndpoint"]


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_prod_keeps_a_final_snapshot_dev_skips_it(env: str, engine: str) -> None:
    db = the_db(with_engine(env, engine))
    if env == "prod":
        assert db.inputs["skipFinalSnapshot"] is False
        assert db.inputs["finalSnapshotIdentifier"] == "payments-db-final-prod"
    else:
        assert db.inputs["skipFinalSnapshot"] is True
        assert "finalSnapshotIdentifier" not in db.inputs


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_db_log_groups_exist_before_rds_creates_them_unencrypted(env: str, engine: str) -> None:
    lp = with_engine(env, engine)
    db = the_db(lp)
    scope = "cluster" if engine == "aurora-mysql" else "instance"
    groups = {g.inputs["name"]: g for g in of_type(lp, LOG_GROUP)}
    logs_key = plan(env, ["network"]).layer("network").outputs["logsKeyArn"]
    for log in ("audit", "error", "slowquery"):
        group = groups[f"/aws/rds/{scope}/{db.id}/{log}"]
        assert group.inputs["kmsKeyId"] == logs_key
        assert group.inputs["retentionInDays"] >= 365


def test_deletion_protection_is_configurable() -> None:
    assert one(data("dev", deletionProtection=True), CLUSTER).inputs["deletionProtection"] is True


# --- credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_master_password_is_managed_by_aws_and_rotated_every_30_days(env: str, engine: str) -> None:
    lp = with_engine(env, engine)
    db = the_db(lp)
    assert db.inputs["manageMasterUserPassword"] is True
    assert db.inputs["masterUserSecretKmsKeyId"] == key_arn(lp)
    user_key = "masterUsername" if engine == "aurora-mysql" else "username"
    assert db.inputs[user_key] == "payments_admin"
    rotation = one(lp, ROTATION)
    assert rotation.inputs["secretId"] == lp.outputs["dbSecretArn"]
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    assert "rotationLambdaArn" not in rotation.inputs  # a managed secret rotates without a Lambda
    assert lp.outputs["dbSecretArn"].startswith("arn:aws:secretsmanager:")


def test_rotation_period_is_configurable_down_from_30() -> None:
    assert one(data("dev", secretRotationDays=7), ROTATION).inputs["rotationRules"] == {"automaticallyAfterDays": 7}


def _keys_and_values(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in [(f"{path}.{k}", v), *_keys_and_values(v, f"{path}.{k}")]]
    if isinstance(node, list):
        return [kv for i, v in enumerate(node) for kv in _keys_and_values(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_no_password_anywhere_in_the_plan(env: str, engine: str) -> None:
    result = plan(env, ["data"], {"data": {"engine": engine}})
    text = result.to_json()
    document = json.loads(text)
    for path, value in _keys_and_values(document):
        leaf = path.rsplit(".", 1)[-1]
        if re.search("password", leaf, re.IGNORECASE):
            # The only password-related input allowed is the switch handing the password to AWS.
            assert leaf == "manageMasterUserPassword" and value is True, path
        if isinstance(value, str):
            assert not re.search(r"(?i)\"?password\"?\s*[:=]", value), path
    # Nothing that looks like a secret value: the managed secret is referenced by ARN only.
    assert "SecretString" not in text and "secretString" not in text
    assert "masterPassword" not in text and '"password"' not in text
    # Every stack file of the layer is free of passwords and secure values too.
    for stack_file in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        body = (REPO_ROOT / "data" / stack_file).read_text().lower()
        assert "password" not in body and "secure:" not in body


def test_only_the_secret_arn_leaves_the_layer() -> None:
    lp = data("prod")
    assert set(lp.outputs) == {o.name for o in contract.EXPORTS["data"]}
    assert not any("password" in name.lower() for name in lp.outputs)
    assert re.fullmatch(r"arn:aws:secretsmanager:us-east-1:\d{12}:secret:rds!cluster-[\w-]+", lp.outputs["dbSecretArn"])


# --- KMS key -----------------------------------------------------------------------------


def test_layer_key_rotates_and_its_alias_follows_the_convention() -> None:
    lp = data("prod")
    key = one(lp, KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert one(lp, ALIAS).inputs["name"] == "alias/data-prod"
    policy = json.loads(key.inputs["policy"])
    admin, use, grants = policy["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"} and "kms:Decrypt" not in admin["Action"]
    assert use["Condition"]["StringEquals"]["kms:CallerAccount"] == "123456789012"
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    services = {f"{s}.us-east-1.amazonaws.com" for s in ("rds", "secretsmanager", "s3", "ssm", "backup", "dms")}
    assert set(use["Condition"]["StringEquals"]["kms:ViaService"]) == services
    assert set(grants["Condition"]["StringEquals"]["kms:ViaService"]) == services
    assert "*" not in json.dumps([s.get("Principal") for s in policy["Statement"]])


# --- S3 --------------------------------------------------------------------------------


def _companions(lp: LayerPlan, bucket_id: str, kind: str):
    return [r for r in lp.resources if r.type == f"aws:s3/{kind}" and r.inputs.get("bucket") == bucket_id]


ACCESS_LOGS = "payments-s3-access-logs-{env}-123456789012"
LOGGING = "aws:s3/bucketLogging:BucketLogging"


@pytest.mark.parametrize("env", ENVS)
def test_buckets_are_private_versioned_tls_only_and_kms_encrypted(env: str) -> None:
    lp = data(env)
    buckets = {b.inputs["bucket"]: b for b in of_type(lp, BUCKET) if b.inputs["bucket"] != ACCESS_LOGS.format(env=env)}
    assert set(buckets) == {
        f"payments-app-logs-{env}-123456789012",
        f"payments-static-{env}-123456789012",
        f"payments-config-archive-{env}-123456789012",
    }
    assert {lp.outputs[k] for k in ("appLogsBucketName", "staticBucketName", "configArchiveBucketName")} == set(buckets)
    for name, bucket in buckets.items():
        assert len(name) <= 63 and name == name.lower()
        assert (
            lp.outputs[next(k for k in lp.outputs if lp.outputs[k] == name).replace("Name", "Arn")]
            == f"arn:aws:s3:::{name}"
        )
        (versioning,) = _companions(lp, bucket.id, "bucketVersioning:BucketVersioning")
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
        (block,) = _companions(lp, bucket.id, "bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(
            block.inputs[f] is True
            for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        (owner,) = _companions(lp, bucket.id, "bucketOwnershipControls:BucketOwnershipControls")
        assert owner.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        (sse,) = _companions(
            lp, bucket.id, "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        rule = sse.inputs["rules"][0]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(lp)}
        assert rule["bucketKeyEnabled"] is True
        (policy,) = _companions(lp, bucket.id, "bucketPolicy:BucketPolicy")
        deny = json.loads(policy.inputs["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("env", ENVS)
def test_every_data_bucket_writes_s3_access_logs_to_the_access_log_bucket(env: str) -> None:
    lp = data(env)
    target = ACCESS_LOGS.format(env=env)
    sources = {b.id for b in of_type(lp, BUCKET) if b.id != target}
    logging = {r.inputs["bucket"]: r.inputs for r in of_type(lp, LOGGING)}
    assert set(logging) == sources and len(sources) == 3
    prefixes = [config["targetPrefix"] for config in logging.values()]
    assert len(set(prefixes)) == 3 and all(p.endswith("/") for p in prefixes)
    for config in logging.values():
        assert config["targetBucket"] == target
        assert config["targetObjectKeyFormat"] == {"partitionedPrefix": {"partitionDateSource": "EventTime"}}
    # the access-log bucket is a destination only: it does not log its own access
    assert target not in logging


@pytest.mark.parametrize("env", ENVS)
def test_access_log_bucket_is_protected_like_the_others_but_sse_s3(env: str) -> None:
    """S3 delivers server access logs only to SSE-S3 (AES256) default encryption, not SSE-KMS."""
    lp = data(env)
    target = ACCESS_LOGS.format(env=env)
    (bucket,) = [b for b in of_type(lp, BUCKET) if b.inputs["bucket"] == target]
    assert len(target) <= 63 and bucket.inputs["forceDestroy"] is True
    (versioning,) = _companions(lp, bucket.id, "bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (block,) = _companions(lp, bucket.id, "bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.inputs[f] is True for f in flags)
    (owner,) = _companions(lp, bucket.id, "bucketOwnershipControls:BucketOwnershipControls")
    assert owner.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sse_kind = "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    (sse,) = _companions(lp, bucket.id, sse_kind)
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (lc,) = _companions(lp, bucket.id, "bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lc.inputs["rules"][0]["expiration"]["days"] >= 365
    (policy,) = _companions(lp, bucket.id, "bucketPolicy:BucketPolicy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    deny = statements[0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # one grant per source bucket: the logging service, PutObject only, under that bucket's prefix, from that bucket
    logging = {r.inputs["bucket"]: r.inputs["targetPrefix"] for r in of_type(lp, LOGGING)}
    grants = statements[1:]
    assert len(grants) == len(logging) == 3
    for grant in grants:
        assert grant["Effect"] == "Allow" and grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert grant["Action"] == "s3:PutObject"
        source = grant["Condition"]["ArnLike"]["aws:SourceArn"].removeprefix("arn:aws:s3:::")
        assert grant["Resource"] == f"arn:aws:s3:::{target}/{logging[source]}*"
        assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_log_bucket_lifecycle_moves_to_ia_then_glacier_and_keeps_a_year() -> None:
    lp = data("prod")
    logs = next(b for b in of_type(lp, BUCKET) if b.inputs["bucket"].startswith("payments-app-logs-"))
    (lc,) = _companions(lp, logs.id, "bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rule = lc.inputs["rules"][0]
    assert [(t["storageClass"], t["days"]) for t in rule["transitions"]] == [("STANDARD_IA", 30), ("GLACIER", 90)]
    assert rule["expiration"]["days"] >= 365
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] > 0


# --- Parameter Store ------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_parameters_live_under_one_path_and_sensitive_ones_are_secure(env: str, engine: str) -> None:
    lp = with_engine(env, engine)
    path = f"/payments/{env}"
    assert lp.outputs["parameterPath"] == path
    params = {p.inputs["name"]: p for p in of_type(lp, SSM)}
    assert all(name.startswith(f"{path}/") for name in params)
    plain = {
        name[len(path) + 1 :]: p.inputs["insecureValue"] for name, p in params.items() if p.inputs["type"] == "String"
    }
    assert plain["db/writer-endpoint"] == lp.outputs["dbWriterEndpoint"]
    assert plain["db/reader-endpoint"] == lp.outputs["dbReaderEndpoint"]
    assert plain["db/port"] == "3306" and plain["db/name"] == "payments" and plain["db/engine"] == engine
    assert plain["s3/config-archive-bucket"] == lp.outputs["configArchiveBucketName"]
    assert plain["app/paymentTimeoutMs"] == "3000"  # feature settings from config
    secure = {name[len(path) + 1 :]: p for name, p in params.items() if p.inputs["type"] == "SecureString"}
    assert set(secure) == {"db/secret-arn"}  # the app user's secret ARN; the master's name is not published
    for p in secure.values():
        assert p.inputs["keyId"] == key_arn(lp)
        assert p.inputs["value"] == "[secret]"


# --- AWS Backup ------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_backup_plan_covers_the_database_and_the_config_archive(env: str, engine: str) -> None:
    lp = with_engine(env, engine)
    vault = one(lp, VAULT)
    assert vault.inputs["kmsKeyArn"] == key_arn(lp)
    assert lp.outputs["backupVaultArn"].endswith(f":backup-vault:{vault.inputs['name']}")
    (rule,) = one(lp, PLAN).inputs["rules"]
    assert rule["targetVaultName"] == vault.inputs["name"]
    assert rule["enableContinuousBackup"] is True
    assert rule["lifecycle"] == {"deleteAfter": 30}
    assert rule["schedule"] == "cron(0 5 * * ? *)"
    assert rule["recoveryPointTags"]["Environment"] == env
    selection = one(lp, SELECTION)
    assert selection.inputs["planId"] == one(lp, PLAN).id
    assert sorted(selection.inputs["resources"]) == sorted([lp.outputs["dbArn"], lp.outputs["configArchiveBucketArn"]])


def test_engine_version_is_pinned_and_moves_only_through_config() -> None:
    """An exact version with automatic minor upgrades off on the cluster, its instances and the RDS instance: the
    next deploy after a maintenance window never plans a downgrade AWS rejects (pulumi-aws#5756)."""
    aurora, mysql = data("prod"), data("compact")
    cluster = one(aurora, CLUSTER)
    assert cluster.inputs["engineVersion"] == "8.0.mysql_aurora.3.10.0"
    for r in [cluster, *of_type(aurora, CLUSTER_INSTANCE), one(mysql, INSTANCE)]:
        assert r.inputs["autoMinorVersionUpgrade"] is False, r.name
    assert one(mysql, INSTANCE).inputs["engineVersion"] == "8.0.42"


def test_a_version_prefix_is_refused_now_that_the_version_is_pinned() -> None:
    with pytest.raises(ConfigError) as err:
        data("compact", mysqlEngineVersion="8.0")
    assert err.value.key == "payments-data:mysqlEngineVersion" and "e.g. 8.0.42" in str(err.value)


@pytest.mark.parametrize("env", ["prod", "compact"])
def test_production_databases_have_enhanced_monitoring_with_its_own_role(env: str) -> None:
    lp = data(env)
    role = next(r for r in of_type(lp, ROLE) if r.name == "db-monitoring-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (attached,) = [a.inputs["policyArn"] for a in of_type(lp, ATTACHMENT) if a.inputs["role"] == role.id]
    assert attached == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    instances = of_type(lp, CLUSTER_INSTANCE) + of_type(lp, INSTANCE)
    assert instances and all(i.inputs["monitoringInterval"] == 60 for i in instances)
    assert all(i.inputs["monitoringRoleArn"].endswith(f"role/{role.inputs['name']}") for i in instances)
    assert all(i.inputs["deletionProtection"] for i in of_type(lp, CLUSTER) + of_type(lp, INSTANCE))


def test_dev_has_no_enhanced_monitoring_and_no_role_for_it() -> None:
    lp = data("dev")
    assert [r.name for r in of_type(lp, ROLE)] == ["backup-role"]
    assert all(i.inputs["monitoringInterval"] == 0 for i in of_type(lp, CLUSTER_INSTANCE))


def test_backup_role_has_only_the_aws_managed_backup_policies() -> None:
    lp = data("prod")
    role = next(r for r in of_type(lp, ROLE) if r.name == "backup-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert by_id(lp)[role.id] is role
    attached = sorted(a.inputs["policyArn"] for a in of_type(lp, ATTACHMENT) if a.inputs["role"] == role.id)
    assert attached == sorted(
        [
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
        ]
    )
    assert not [r for r in lp.resources if r.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")]
    assert one(lp, SELECTION).inputs["iamRoleArn"].endswith(f":role/{role.inputs['name']}")


# --- contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), COMBOS)
def test_exports_exactly_the_contract_and_reads_only_declared_network_outputs(env: str, engine: str) -> None:
    result = plan(env, ["data"], {"data": {"engine": engine}})
    lp = result.layer("data")
    assert set(lp.outputs) == {o.name for o in contract.EXPORTS["data"]}
    assert lp.secret_outputs == []
    assert lp.reads, "the data layer reads the network layer"
    network_exports = {o.name for o in contract.EXPORTS["network"]}
    assert {up for up, _ in lp.reads} == {"network"}
    assert {name for _, name in lp.reads} <= network_exports
    assert {name for _, name in lp.reads} == {"dataSubnetIds", "dbSecurityGroupId", "azNames", "logsKeyArn", "vpcId",
                                              "onPremCidrs"}  # the private zone's VPC; the on-prem DB's networks


# --- config errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"engine": "postgres"}, "engine", "use one of: aurora-mysql, mysql"),
        ({"minCapacity": 8, "maxCapacity": 4}, "minCapacity", "above maxCapacity"),
        ({"secretRotationDays": 45}, "secretRotationDays", "between 1 and 30"),
        ({"backupRetentionDays": 0}, "backupRetentionDays", "between 7 and 35"),
        (
            {"configArchiveBucketPrefix": "payments-config-archive-for-the-payment-platform"},
            "configArchiveBucketPrefix",
            "S3 allows 63",
        ),
        ({"appLogsBucketPrefix": "Payments_Logs"}, "appLogsBucketPrefix", "lowercase"),
        ({"backupPlanRetentionDays": 14}, "backupPlanRetentionDays", "between 30 and 35"),
        ({"backupPlanRetentionDays": 35}, "backupRetentionDays", "differs from backupPlanRetentionDays 35"),
        ({"minCapacity": 0}, "minCapacity", None),  # allowed on 3.10 (auto-pause): no error
        ({"minCapacity": 0, "auroraEngineVersion": "8.0.mysql_aurora.3.05.2"}, "minCapacity", "3.08 or later"),
        ({"auroraEngineVersion": "5.7.mysql_aurora.2.11.2"}, "auroraEngineVersion", "Aurora MySQL 3"),
        (
            {"engine": "mysql", "allocatedStorage": 200, "maxAllocatedStorage": 100},
            "maxAllocatedStorage",
            "autoscaling ceiling",
        ),
        ({"engine": "mysql", "instanceClass": "db.serverless"}, "instanceClass", "not an RDS instance class"),
        ({"masterUsername": "admin"}, "masterUsername", "reserved"),
        ({"auditEvents": ["CONNECT", "EVERYTHING"]}, "auditEvents", "EVERYTHING"),
        ({"logRetentionDays": 90}, "logRetentionDays", "PCI DSS 10.5.1"),
        ({"backupSchedule": "rate(12 hours)"}, "backupSchedule", "daily AWS cron"),
        ({"parameterPrefix": "payments/"}, "parameterPrefix", "leading slash"),
        ({"appSettings": {"bad key": "1"}}, "appSettings.bad key", "valid parameter name"),
        ({"databse": "x"}, "databse", "did you mean 'databaseName'"),
    ],
)
def test_bad_config_is_one_clear_line_naming_the_key(overrides: dict[str, Any], key: str, fragment: str | None) -> None:
    if fragment is None:
        assert plan_environment("dev", ["data"], overrides={"data": overrides}).mandatory == []
        return
    with pytest.raises(ConfigError) as info:
        plan_environment("dev", ["data"], overrides={"data": overrides})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"payments-data:{key}: ")
    assert fragment in message and "Fix: " in message


# --- documentation ----------------------------------------------------------------------------


def test_docs_cover_every_config_key_and_export() -> None:
    text = (REPO_ROOT / "docs" / "data.md").read_text()
    for info in describe(DataSettings):
        assert f"`{info.key}`" in text, f"docs/data.md does not document {info.key}"
    for output in contract.EXPORTS["data"]:
        assert output.name.removesuffix("Name").removesuffix("Arn") in text, output.name
    assert "## Runbook: restore to a point in time" in text
    assert "## Runbook: rotate the database credentials on demand" in text
