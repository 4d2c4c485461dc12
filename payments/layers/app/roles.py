"""IAM for the application, least privilege: each statement names exactly the resources it needs (PCI DSS 7.2).

`*` appears only for actions AWS does not scope to a resource (``ecr:GetAuthorizationToken``
and Session Manager's ``ssmmessages`` channel actions); the ``iam-no-wildcard-resource``
guardrail holds every other statement to a real ARN.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.core.naming import Kind, Namer
from payments.layers.app.container import Image, parameter_arn


@dataclasses.dataclass
class AppAccess:
    """Everything the application touches, as ARNs."""

    region: str
    account_id: str
    image: Image
    log_group_arn: pulumi.Input[str]
    secret_arn: pulumi.Input[str]
    data_key_arn: pulumi.Input[str]
    parameter_path: pulumi.Input[str]
    #: parameter names (relative to parameter_path) injected into the container
    parameters: list[str]
    static_bucket_arn: pulumi.Input[str]
    app_logs_bucket_arn: pulumi.Input[str]

    def via(self, *services: str) -> dict[str, Any]:
        """KMS use only through the named services (never a direct Decrypt of arbitrary ciphertext)."""
        return {"StringEquals": {"kms:ViaService": [f"{s}.{self.region}.amazonaws.com" for s in services]}}

    def parameter_arns(self) -> pulumi.Output[list[str]]:
        return pulumi.Output.from_input(self.parameter_path).apply(
            lambda path: [parameter_arn(self.region, self.account_id, path, name) for name in self.parameters]
        )

    def path_arns(self) -> pulumi.Output[list[str]]:
        """The parameter path itself (GetParametersByPath) and everything under it."""
        return pulumi.Output.from_input(self.parameter_path).apply(
            lambda path: [
                f"arn:aws:ssm:{self.region}:{self.account_id}:parameter/{path.strip('/')}",
                f"arn:aws:ssm:{self.region}:{self.account_id}:parameter/{path.strip('/')}/*",
            ]
        )


def pull_image(access: AppAccess) -> list[dict[str, Any]]:
    repository = access.image.repository_arn()
    if repository is None:  # a public registry: pulled through the NAT, no AWS permission involved
        return []
    return [
        # GetAuthorizationToken has no resource type; AWS requires "*".
        iam.allow(["ecr:GetAuthorizationToken"], "*", sid="EcrLogin"),
        iam.allow(
            ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            repository,
            sid="EcrPullRepository",
        ),
    ]


def write_logs(access: AppAccess) -> dict[str, Any]:
    return iam.allow(
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        [access.log_group_arn, pulumi.Output.concat(access.log_group_arn, ":log-stream:*")],
        sid="WriteOwnLogGroup",
    )


def read_secrets(access: AppAccess) -> list[dict[str, Any]]:
    """Exactly the database secret and the injected parameters, decrypted through those services only."""
    statements = [iam.allow(["secretsmanager:GetSecretValue"], access.secret_arn, sid="ReadDatabaseSecret")]
    if access.parameters:
        statements.append(
            iam.allow(["ssm:GetParameters", "ssm:GetParameter"], access.parameter_arns(), sid="ReadInjectedParameters")
        )
    statements.append(
        iam.allow(
            ["kms:Decrypt"],
            access.data_key_arn,
            sid="DecryptSecretsAndParameters",
            Condition=access.via("secretsmanager", "ssm"),
        )
    )
    return statements


def app_data(access: AppAccess) -> list[dict[str, Any]]:
    """What the running application itself uses: its parameters, its database secret, static content, its log bucket.

    The secret rotates every 30 days (data layer), and a value injected at task start goes stale with it: the app
    re-reads the secret (its ARN is the ``db/secret-arn`` parameter under its path) when a connection is refused.
    """
    return [
        iam.allow(
            ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            access.path_arns(),
            sid="ReadAppParameters",
        ),
        iam.allow(["secretsmanager:GetSecretValue"], access.secret_arn, sid="RereadDatabaseSecret"),
        iam.allow(["s3:ListBucket"], access.static_bucket_arn, sid="ListStaticContent"),
        iam.allow(["s3:GetObject"], pulumi.Output.concat(access.static_bucket_arn, "/*"), sid="ReadStaticContent"),
        iam.allow(["s3:PutObject"], pulumi.Output.concat(access.app_logs_bucket_arn, "/*"), sid="WriteApplicationLogs"),
        iam.allow(
            ["kms:Decrypt", "kms:GenerateDataKey"],
            access.data_key_arn,
            sid="UseDataKeyThroughServices",
            Condition=access.via("s3", "ssm", "secretsmanager"),
        ),
    ]


def session_manager(access: AppAccess) -> list[dict[str, Any]]:
    """Shell access through SSM Session Manager instead of SSH (no port 22 anywhere)."""
    return [
        iam.allow(
            ["ssm:UpdateInstanceInformation"],
            f"arn:aws:ec2:{access.region}:{access.account_id}:instance/*",
            sid="SsmAgentRegistration",
        ),
        # The Session Manager channel actions have no resource type; AWS requires "*".
        iam.allow(
            [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "*",
            sid="SessionManagerChannels",
        ),
    ]


def role(
    name: str,
    physical: str,
    service: str,
    statements: list[dict[str, Any]],
    parent: pulumi.Resource,
    source_account: str | None,
) -> aws.iam.Role:
    """A role for `service` with one inline policy made of `statements`."""
    child = pulumi.ResourceOptions(parent=parent)
    created = aws.iam.Role(
        name,
        name=physical,
        assume_role_policy=iam.service_trust(service, source_account=source_account),
        opts=child,
    )
    aws.iam.RolePolicy(f"{name}-policy", name=physical, role=created.id, policy=iam.document(*statements), opts=child)
    return created


def role_name(namer: Namer, purpose: str) -> str:
    return namer(f"role-app-{purpose}", Kind.IAM_ROLE)
