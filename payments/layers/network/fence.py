"""The write fence: a network ACL on the application subnets that the database switchover can close.

After the switchover flips the DB indirection to the AWS writer, a connection the app opened before the flip would
still reach the on-prem MySQL: DNS is read when a connection opens, not afterwards. To make sure no pooled
connection can still write on-prem, the switchover adds one egress entry to this ACL, rule :data:`FENCE_RULE`:
DENY tcp to the on-prem database port of each on-prem CIDR (``ec2:CreateNetworkAclEntry``), and the fallback
deletes it (``ec2:DeleteNetworkAclEntry``). Network ACLs are stateless and checked per packet, so the entry cuts
established connections too, which a security group (stateful) would not.

While the fence is down the ACL changes nothing: one allow-all entry each way at rule :data:`ALLOW_RULE`, above
the fence's number so the fence decides first. The entries are separate ``NetworkAclRule`` resources, never inline
rules: Pulumi then owns only the entries it created and never deletes the one the switchover added.

Only the app subnets carry this ACL. DMS (data subnets) keeps its way to the on-prem MySQL: the reverse task
writes there after the flip.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from payments.core.naming import Namer

#: The rule number the switchover's DENY entry takes (egress, tcp, on-prem DB port, each on-prem CIDR from this
#: number up: 50, 51, ...). Lower numbers are evaluated first.
FENCE_RULE = 50
#: The allow-all entries, evaluated after the fence.
ALLOW_RULE = 100
ANYWHERE = "0.0.0.0/0"


@dataclasses.dataclass
class WriteFenceArgs:
    vpc_id: pulumi.Input[str]
    app_subnet_ids: list[pulumi.Output[str]]
    namer: Namer


class WriteFence(pulumi.ComponentResource):
    """The app subnets' network ACL, open both ways; its id is what the switchover adds the fence entry to."""

    def __init__(self, name: str, args: WriteFenceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:WriteFence", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.acl = aws.ec2.NetworkAcl(
            name,
            vpc_id=args.vpc_id,
            # No inline entries and no inline subnet list: entries and associations are resources of their own.
            tags={"Name": args.namer("nacl-app-write-fence")},
            opts=child,
        )
        for egress in (False, True):
            aws.ec2.NetworkAclRule(
                f"{name}-allow-{'out' if egress else 'in'}",
                network_acl_id=self.acl.id,
                rule_number=ALLOW_RULE,
                egress=egress,
                protocol="-1",
                rule_action="allow",
                cidr_block=ANYWHERE,
                opts=child,
            )
        for i, subnet in enumerate(args.app_subnet_ids):
            aws.ec2.NetworkAclAssociation(
                f"{name}-app-{i}", network_acl_id=self.acl.id, subnet_id=subnet, opts=child
            )
        self.register_outputs({"networkAclId": self.acl.id})
