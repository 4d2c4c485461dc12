"""Application configuration in Parameter Store, under one path per environment.

The app reads ``<prefix>/<suffix>/...`` at start-up (one ``GetParametersByPath``
call, one IAM statement). Values that help an attacker find or use the
database's credentials are ``SecureString`` under the layer's key; the
password itself is never here, only the ARN of the secret that holds it.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws


@dataclasses.dataclass
class ParametersArgs:
    path: str  #: e.g. ``/payments/dev``
    kms_key_arn: pulumi.Input[str]
    #: relative name -> value, stored as String
    plain: dict[str, pulumi.Input[str]]
    #: relative name -> value, stored as SecureString with `kms_key_arn`
    secure: dict[str, pulumi.Input[str]]


class Parameters(pulumi.ComponentResource):
    def __init__(self, name: str, args: ParametersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:data:Parameters", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        overlap = sorted(set(args.plain) & set(args.secure))
        if overlap:  # a programming error, not a user error: the composition root decides the split
            raise ValueError(f"parameters both plain and secure: {', '.join(overlap)}")
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        for key, value in sorted({**args.plain, **args.secure}.items()):
            secure = key in args.secure
            self.parameters[key] = aws.ssm.Parameter(
                f"{name}-{key.replace('/', '-')}",
                name=f"{args.path}/{key}",
                type="SecureString" if secure else "String",
                key_id=args.kms_key_arn if secure else None,
                # The SDK marks `value` secret; plain settings use insecure_value so diffs stay readable.
                value=value if secure else None,
                insecure_value=None if secure else value,
                tier="Standard",
                description=f"payments {key}",
                opts=child,
            )
        self.path = args.path
        self.register_outputs({"path": self.path})
