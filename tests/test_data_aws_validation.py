"""The data layer's planned inputs, replayed as AWS API calls: botocore's models validate them, moto runs them.

The plan records what Pulumi would send to the provider; these tests map those
inputs to the AWS API parameters the provider sends, so a misspelt field, a
wrong type or a value the API model rejects fails here rather than at deploy.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from tests.support import of_type, one, plan

REGION = "us-east-1"


def data(env: str, engine: str = "aurora-mysql"):
    return plan(env, ["data"], {"data": {"engine": engine}}).layer("data")


def validate(service: str, operation: str, params: dict[str, Any]) -> None:
    """Raise botocore's ParamValidationError if `params` do not fit the operation's input shape."""
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    validate_parameters(params, model.input_shape)


def _parameters(group) -> list[dict[str, str]]:
    return [
        {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": p["applyMethod"]}
        for p in group.inputs["parameters"]
    ]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_aurora_cluster_and_managed_secret_rotation_in_the_emulator(env: str) -> None:
    lp = data(env)
    cluster = one(lp, "aws:rds/cluster:Cluster").inputs
    group = one(lp, "aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    rotation = one(lp, "aws:secretsmanager/secretRotation:SecretRotation").inputs
    with mock_aws():
        key = boto3.client("kms", region_name=REGION).create_key(Policy=one(lp, "aws:kms/key:Key").inputs["policy"])
        key_arn = key["KeyMetadata"]["Arn"]
        rds = boto3.client("rds", region_name=REGION)
        rds.create_db_cluster_parameter_group(
            DBClusterParameterGroupName=group["name"],
            DBParameterGroupFamily=group["family"],
            Description=group["description"],
        )
        rds.modify_db_cluster_parameter_group(
            DBClusterParameterGroupName=group["name"],
            Parameters=_parameters(one(lp, "aws:rds/clusterParameterGroup:ClusterParameterGroup")),
        )
        scaling = cluster["serverlessv2ScalingConfiguration"]
        created = rds.create_db_cluster(
            DBClusterIdentifier=cluster["clusterIdentifier"],
            Engine=cluster["engine"],
            EngineVersion=cluster["engineVersion"],
            EngineMode=cluster["engineMode"],
            DatabaseName=cluster["databaseName"],
            MasterUsername=cluster["masterUsername"],
            ManageMasterUserPassword=cluster["manageMasterUserPassword"],
            MasterUserSecretKmsKeyId=key_arn,
            StorageEncrypted=cluster["storageEncrypted"],
            KmsKeyId=key_arn,
            Port=int(cluster["port"]),
            DBClusterParameterGroupName=cluster["dbClusterParameterGroupName"],
            ServerlessV2ScalingConfiguration={
                "MinCapacity": scaling["minCapacity"],
                "MaxCapacity": scaling["maxCapacity"],
            },
            BackupRetentionPeriod=int(cluster["backupRetentionPeriod"]),
            PreferredBackupWindow=cluster["preferredBackupWindow"],
            PreferredMaintenanceWindow=cluster["preferredMaintenanceWindow"],
            EnableCloudwatchLogsExports=cluster["enabledCloudwatchLogsExports"],
            CopyTagsToSnapshot=cluster["copyTagsToSnapshot"],
            DeletionProtection=cluster["deletionProtection"],
        )["DBCluster"]
        for instance in of_type(lp, "aws:rds/clusterInstance:ClusterInstance"):
            i = instance.inputs
            rds.create_db_instance(
                DBInstanceIdentifier=i["identifier"],
                DBClusterIdentifier=created["DBClusterIdentifier"],
                Engine=i["engine"],
                DBInstanceClass=i["instanceClass"],
                AvailabilityZone=i["availabilityZone"],
                PubliclyAccessible=i["publiclyAccessible"],
                AutoMinorVersionUpgrade=i["autoMinorVersionUpgrade"],
                PromotionTier=int(i["promotionTier"]),
            )
        # No password ever travels: RDS generated it into a secret encrypted with the layer key.
        secret = created["MasterUserSecret"]
        assert secret["KmsKeyId"] == key_arn
        sm = boto3.client("secretsmanager", region_name=REGION)
        sm.rotate_secret(
            SecretId=secret["SecretArn"],
            RotationRules={"AutomaticallyAfterDays": int(rotation["rotationRules"]["automaticallyAfterDays"])},
            RotateImmediately=rotation["rotateImmediately"],
        )
        assert sm.describe_secret(SecretId=secret["SecretArn"])["RotationRules"] == {"AutomaticallyAfterDays": 30}
        members = rds.describe_db_clusters(DBClusterIdentifier=created["DBClusterIdentifier"])["DBClusters"][0]
        assert len(members["DBClusterMembers"]) == (2 if env == "prod" else 1)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_mysql_instance_parameter_and_option_groups_fit_the_rds_api(env: str) -> None:
    lp = data(env, "mysql")
    db = one(lp, "aws:rds/instance:Instance").inputs
    params = one(lp, "aws:rds/parameterGroup:ParameterGroup")
    options = one(lp, "aws:rds/optionGroup:OptionGroup").inputs
    validate(
        "rds",
        "ModifyDBParameterGroup",
        {"DBParameterGroupName": params.inputs["name"], "Parameters": _parameters(params)},
    )
    validate(
        "rds",
        "ModifyOptionGroup",
        {
            "OptionGroupName": options["name"],
            "OptionsToInclude": [
                {
                    "OptionName": o["optionName"],
                    "OptionSettings": [{"Name": s["name"], "Value": s["value"]} for s in o["optionSettings"]],
                }
                for o in options["options"]
            ],
            "ApplyImmediately": True,
        },
    )
    request = {
        "DBInstanceIdentifier": db["identifier"],
        "Engine": db["engine"],
        "EngineVersion": db["engineVersion"],
        "DBInstanceClass": db["instanceClass"],
        "AllocatedStorage": int(db["allocatedStorage"]),
        "MaxAllocatedStorage": int(db["maxAllocatedStorage"]),
        "StorageType": db["storageType"],
        "DBName": db["dbName"],
        "MasterUsername": db["username"],
        "ManageMasterUserPassword": db["manageMasterUserPassword"],
        "MasterUserSecretKmsKeyId": db["masterUserSecretKmsKeyId"],
        "StorageEncrypted": db["storageEncrypted"],
        "KmsKeyId": db["kmsKeyId"],
        "MultiAZ": db["multiAz"],
        "PubliclyAccessible": db["publiclyAccessible"],
        "DBParameterGroupName": db["parameterGroupName"],
        "OptionGroupName": db["optionGroupName"],
        "BackupRetentionPeriod": int(db["backupRetentionPeriod"]),
        "PreferredBackupWindow": db["backupWindow"],
        "PreferredMaintenanceWindow": db["maintenanceWindow"],
        "EnableCloudwatchLogsExports": db["enabledCloudwatchLogsExports"],
        "AutoMinorVersionUpgrade": db["autoMinorVersionUpgrade"],
        "CopyTagsToSnapshot": db["copyTagsToSnapshot"],
        "DeletionProtection": db["deletionProtection"],
        "EnablePerformanceInsights": db["performanceInsightsEnabled"],
        "Port": int(db["port"]),
    }
    if db["performanceInsightsEnabled"]:
        request["PerformanceInsightsKMSKeyId"] = db["performanceInsightsKmsKeyId"]
        request["PerformanceInsightsRetentionPeriod"] = int(db["performanceInsightsRetentionPeriod"])
    validate("rds", "CreateDBInstance", request)
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        rds.create_db_parameter_group(
            DBParameterGroupName=params.inputs["name"], DBParameterGroupFamily=params.inputs["family"], Description="x"
        )
        rds.create_option_group(
            OptionGroupName=options["name"],
            EngineName=options["engineName"],
            MajorEngineVersion=options["majorEngineVersion"],
            OptionGroupDescription=options["optionGroupDescription"],
        )
        # The planned key does not exist in the emulator; an equivalent one stands in.
        key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        keys = {
            k: key_arn for k in ("KmsKeyId", "MasterUserSecretKmsKeyId", "PerformanceInsightsKMSKeyId") if k in request
        }
        created = rds.create_db_instance(**{**request, **keys})["DBInstance"]
        assert created["MultiAZ"] is (env == "prod") and created["PubliclyAccessible"] is False
        assert "MasterUserSecret" in created


def backup_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A planned backup plan rule (the provider's camelCase inputs) as CreateBackupPlan's rule shape."""
    return {
        "RuleName": rule["ruleName"],
        "TargetBackupVaultName": rule["targetVaultName"],
        "ScheduleExpression": rule["schedule"],
        "StartWindowMinutes": int(rule["startWindow"]),
        "CompletionWindowMinutes": int(rule["completionWindow"]),
        "Lifecycle": {"DeleteAfterDays": int(rule["lifecycle"]["deleteAfter"])},
        "RecoveryPointTags": rule["recoveryPointTags"],
        "EnableContinuousBackup": rule["enableContinuousBackup"],
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_backup_vault_plan_and_selection_fit_aws_backup(env: str) -> None:
    lp = data(env)
    vault = one(lp, "aws:backup/vault:Vault").inputs
    (rule,) = one(lp, "aws:backup/plan:Plan").inputs["rules"]
    selection = one(lp, "aws:backup/selection:Selection").inputs
    backup_plan = {"BackupPlanName": one(lp, "aws:backup/plan:Plan").inputs["name"], "Rules": [backup_rule(rule)]}
    # The emulator has no backup selections (AWS-NOTES): the model still validates the request.
    validate(
        "backup",
        "CreateBackupSelection",
        {
            "BackupPlanId": "plan-id",
            "BackupSelection": {
                "SelectionName": selection["name"],
                "IamRoleArn": selection["iamRoleArn"],
                "Resources": selection["resources"],
            },
        },
    )
    with mock_aws():
        backup = boto3.client("backup", region_name=REGION)
        backup.create_backup_vault(BackupVaultName=vault["name"], EncryptionKeyArn=vault["kmsKeyArn"])
        plan_id = backup.create_backup_plan(BackupPlan=backup_plan)["BackupPlanId"]
        stored = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"][0]
        assert stored["EnableContinuousBackup"] is True and stored["Lifecycle"] == {"DeleteAfterDays": 30}


def test_parameters_and_backup_role_fit_their_apis() -> None:
    lp = data("prod")
    for p in of_type(lp, "aws:ssm/parameter:Parameter"):
        request = {"Name": p.inputs["name"], "Type": p.inputs["type"], "Tier": p.inputs["tier"], "Value": "v"}
        if "keyId" in p.inputs:
            request["KeyId"] = p.inputs["keyId"]
        validate("ssm", "PutParameter", request)
    role = one(lp, "aws:iam/role:Role", "backup-role").inputs
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument=role["assumeRolePolicy"])
        assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
