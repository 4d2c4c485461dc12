"""payments-data: KMS, Aurora MySQL / RDS MySQL, managed credentials, Parameter Store, S3 and AWS Backup (program arrives with its issue)."""

from payments.core.stack import start

start("data")
