"""AWS Backup: an encrypted vault, a daily plan with continuous backup, and what it covers.

The plan selects the database and the config-archive bucket. ECS task
definitions cannot be backed up by AWS Backup; the app layer archives each
rendered definition to that (versioned) bucket so they are in the plan too.
Continuous backup gives point-in-time restore to the second within the
retention (at most 35 days) for RDS, Aurora and S3.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.core.naming import Kind, Namer

#: Only AWS-managed policies: what AWS Backup needs to back up and restore RDS/Aurora and S3, nothing more.
MANAGED_POLICIES = {
    "backup": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "restore": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "s3-backup": "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "s3-restore": "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
}
#: A backup job that cannot start within an hour, or finish within 8, is reported as failed.
START_WINDOW_MINUTES, COMPLETION_WINDOW_MINUTES = 60, 480


@dataclasses.dataclass
class BackupArgs:
    kms_key_arn: pulumi.Input[str]
    #: daily schedule, AWS cron syntax (UTC)
    schedule: str
    retention_days: int
    #: ARNs of what the plan covers (database, config-archive bucket)
    resources: list[pulumi.Input[str]]
    #: tags copied to every recovery point (provider default tags do not reach them)
    tags: dict[str, str]
    force_destroy: bool
    namer: Namer


class Backup(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:Backup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        self.vault = aws.backup.Vault(
            f"{name}-vault",
            name=n("payments-vault", Kind.BACKUP),
            kms_key_arn=args.kms_key_arn,
            force_destroy=args.force_destroy,
            opts=child,
        )
        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=n("payments-plan", Kind.BACKUP),
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name="daily-continuous",
                    target_vault_name=self.vault.name,
                    schedule=args.schedule,
                    start_window=START_WINDOW_MINUTES,
                    completion_window=COMPLETION_WINDOW_MINUTES,
                    enable_continuous_backup=True,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=args.retention_days),
                    recovery_point_tags=args.tags,
                )
            ],
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=n("role-backup", Kind.IAM_ROLE),
            description="AWS Backup: back up and restore the payments database and config archive",
            assume_role_policy=iam.service_trust("backup.amazonaws.com"),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-role-{label}", role=self.role.name, policy_arn=arn, opts=child)
            for label, arn in MANAGED_POLICIES.items()
        ]
        self.selection = aws.backup.Selection(
            f"{name}-selection",
            name=n("payments-data", Kind.BACKUP),
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=args.resources,
            # The role must hold its policies before the first job assumes it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        self.register_outputs({"vaultArn": self.vault.arn, "planArn": self.plan.arn})
