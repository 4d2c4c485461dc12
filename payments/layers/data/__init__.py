"""Data layer (project payments-data): KMS key, Aurora MySQL / RDS MySQL, credentials, Parameter Store, S3, Backup."""
