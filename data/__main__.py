"""payments-data: KMS, Aurora MySQL / RDS MySQL, managed credentials, Parameter Store, S3 and AWS Backup."""

from payments.components.kms import Key, KeyArgs
from payments.core.stack import start
from payments.layers.data.backup import Backup, BackupArgs
from payments.layers.data.database import Database, DatabaseArgs
from payments.layers.data.encryption import SERVICES, via_services_statement
from payments.layers.data.indirection import DbIndirection, IndirectionArgs, check_on_prem_address
from payments.layers.data.parameters import Parameters, ParametersArgs
from payments.layers.data.settings import DataSettings
from payments.layers.data.storage import Storage, StorageArgs
from payments.layers.data.users import UserSecrets, UserSecretsArgs

layer = start("data")
cfg = layer.config(DataSettings)
env, n, opts, account = layer.env, layer.namer, layer.opts, layer.account_id
network = layer.upstream("network")
buckets = {
    key: cfg.bucket_name(key, n, account, layer.project)
    for key in ("appLogsBucketPrefix", "staticBucketPrefix", "configArchiveBucketPrefix", "accessLogsBucketPrefix")
}

key = Key(
    "data-key",
    KeyArgs(
        description=f"Payments data (database, secrets, parameters, buckets, backups), {n.suffix}",
        alias=n("data"),
        account_id=account,
        region=env.region,
        via_services=SERVICES,
        service_statements=[via_services_statement(account, env.region)],
    ),
    opts=opts,
)
db = Database(
    "db",
    DatabaseArgs(
        settings=cfg,
        subnet_ids=network["dataSubnetIds"],
        security_group_id=network["dbSecurityGroupId"],
        az_names=network["azNames"],
        kms_key_arn=key.arn,
        logs_key_arn=network["logsKeyArn"],
        namer=n,
        account_id=layer.account_id,
    ),
    opts=opts,
)
# The one name blue/green reach the writer through; it starts on-prem (docs/app-contract.md).
on_prem = cfg.on_prem_db_address
indirection = DbIndirection(
    "db-indirection",
    IndirectionArgs(
        suffix=n.suffix,
        vpc_id=network["vpcId"],
        aws_writer=db.writer_endpoint,
        on_prem_address=None
        if on_prem is None
        else network["onPremCidrs"].apply(lambda cidrs: check_on_prem_address(on_prem, cidrs, layer.project)),
    ),
    opts=opts,
)
users = UserSecrets("db-users", UserSecretsArgs(prefix=f"payments/{n.suffix}/db", kms_key_arn=key.arn), opts=opts)
storage = Storage(
    "s3",
    StorageArgs(
        app_logs_bucket=buckets["appLogsBucketPrefix"],
        static_bucket=buckets["staticBucketPrefix"],
        config_archive_bucket=buckets["configArchiveBucketPrefix"],
        kms_key_arn=key.arn,
        app_logs_expire_days=cfg.app_logs_expire_days,
        access_logs_bucket=buckets["accessLogsBucketPrefix"],
        account_id=account,
    ),
    opts=opts,
)
parameters = Parameters(
    "params",
    ParametersArgs(
        path=f"{cfg.parameter_prefix}/{n.suffix}",
        kms_key_arn=key.arn,
        plain={
            "db/engine": cfg.engine.value,
            # What the application connects to: the indirection, never an endpoint of one database.
            "db/host": indirection.name,
            "db/writer-endpoint": db.writer_endpoint,
            "db/reader-endpoint": db.reader_endpoint,
            "db/port": db.port.apply(str),
            "db/name": cfg.database_name,
            "s3/app-logs-bucket": storage.app_logs.name,
            "s3/static-bucket": storage.static.name,
            "s3/config-archive-bucket": storage.config_archive.name,
            **{f"app/{k}": v for k, v in (cfg.app_settings or {}).items()},
        },
        secure={"db/secret-arn": users.arn("app")},
    ),
    opts=opts,
)
backup = Backup(
    "backup",
    BackupArgs(
        kms_key_arn=key.arn,
        schedule=cfg.backup_schedule,
        retention_days=cfg.backup_plan_retention_days,
        resources=[db.arn, storage.config_archive.arn],
        tags=env.tags,
        force_destroy=cfg.backup_vault_force_destroy,
        namer=n,
    ),
    opts=opts,
)

layer.export("dbEngine", cfg.engine.value)
layer.export("dbIdentifier", db.identifier)
layer.export("dbArn", db.arn)
layer.export("dbWriterEndpoint", db.writer_endpoint)
layer.export("dbReaderEndpoint", db.reader_endpoint)
layer.export("dbPort", db.port)
layer.export("dbName", cfg.database_name)
layer.export("dbSecretArn", db.secret_arn)
layer.export("appDbSecretArn", users.arn("app"))
layer.export("dmsDbSecretArn", users.arn("dms"))
layer.export("dbZoneId", indirection.zone_id)
layer.export("dbIndirectionName", indirection.name)
if indirection.on_prem_name is not None:
    layer.export("onPremDbName", indirection.on_prem_name)
layer.export("binlogRetentionHours", cfg.binlog_retention_hours)
layer.export("dataKeyArn", key.arn)
for prefix, bucket in (
    ("appLogs", storage.app_logs),
    ("static", storage.static),
    ("configArchive", storage.config_archive),
):
    layer.export(f"{prefix}BucketName", bucket.name)
    layer.export(f"{prefix}BucketArn", bucket.arn)
layer.export("parameterPath", parameters.path)
layer.export("backupVaultArn", backup.vault.arn)
layer.export("backupPlanArn", backup.plan.arn)
