"""The database users that are not the master, and the secrets that hold their credentials.

The application never logs in as the master user: it has ``payments_app`` (DML on the payments schema only), the
same user with the same password on the on-prem MySQL and on the AWS database, so the indirection can move it from
one to the other without a redeploy. DMS has ``payments_dms`` on the AWS database (the forward task writes there,
the reverse task reads its binlog); on the on-prem side DMS uses the user of ``payments-migration:
dmsSourceSecretArn`` (docs/migration-reverse.md).

The secrets are created **empty** here: no password exists in code, state, plan or log. ``invoke db-users``
draws each password from ``secretsmanager:GetRandomPassword``, stores it in its secret, and creates the users and
their grants on both databases (payments/ops/db_users.py, the SQL it prints masks every password).
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

#: User name in each secret (``invoke db-users`` writes {"username", "password", "host", "port", "dbname"}).
APP_USER = "payments_app"
DMS_USER = "payments_dms"
#: role -> (user, description)
USERS = {
    "app": (APP_USER, "the application's database user, on the on-prem MySQL and the AWS database alike"),
    "dms": (DMS_USER, "DMS on the AWS database: forward target, reverse source"),
}
#: A deleted secret can be restored for this long (Secrets Manager's maximum).
RECOVERY_DAYS = 30


@dataclasses.dataclass
class UserSecretsArgs:
    #: e.g. ``payments/dev/db``: each secret is ``<prefix>/<role>``
    prefix: str
    kms_key_arn: pulumi.Input[str]


class UserSecrets(pulumi.ComponentResource):
    """One empty secret per database user (:data:`USERS`), encrypted with the data key."""

    def __init__(self, name: str, args: UserSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:UserSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.secrets = {
            role: aws.secretsmanager.Secret(
                f"{name}-{role}",
                name=f"{args.prefix}/{role}",
                description=f"Payments: {why} ({user}); filled by `invoke db-users`, never by IaC",
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=RECOVERY_DAYS,
                opts=child,
            )
            for role, (user, why) in USERS.items()
        }
        self.register_outputs({role: s.arn for role, s in self.secrets.items()})

    def arn(self, role: str) -> pulumi.Output[str]:
        return self.secrets[role].arn
