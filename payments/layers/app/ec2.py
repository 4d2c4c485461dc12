"""EC2 mode (seed B): the application container on an Auto Scaling group behind the ``blue`` target group.

Instances are Amazon Linux 2023 (AMI from AWS's public SSM parameter), IMDSv2
only, no public IP, root volume encrypted with this layer's customer key, tags
on instances and volumes from the launch template (provider default tags do not
reach them), shell access through Session Manager (no SSH key, no port 22).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components.kms import Key, KeyArgs
from payments.core.naming import Kind, Namer
from payments.layers.app import roles
from payments.layers.app.container import container_definitions, user_data
from payments.layers.app.settings import AppSettings, Architecture

#: AWS's public parameters naming the current Amazon Linux 2023 AMI.
AMI_PARAMETERS = {
    Architecture.X86_64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    Architecture.ARM64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}
ROOT_DEVICE = "/dev/xvda"


def autoscaling_key_statement(role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Lets the group's Auto Scaling service-linked role launch instances with volumes encrypted by the key."""
    return {
        "Sid": "AutoScalingEncryptedVolumes",
        "Effect": "Allow",
        "Principal": {"AWS": role_arn},
        "Action": [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
            "kms:CreateGrant",
        ],
        "Resource": "*",
    }


@dataclasses.dataclass
class Ec2Args:
    settings: AppSettings
    namer: Namer
    env_name: str
    tags: dict[str, str]
    access: roles.AppAccess
    ami_id: str
    log_group_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    #: the blue target group ARN, already gated on the listener
    target_group_arn: pulumi.Input[str]


class AutoScalingApp(pulumi.ComponentResource):
    def __init__(self, name: str, args: Ec2Args, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:app:AutoScalingApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, n, access = args.settings, args.namer, args.access

        # KMS refuses a key policy whose principal does not exist, and the account's default Auto Scaling role
        # (AWSServiceRoleForAutoScaling) exists only after its first Auto Scaling group, which needs this key.
        # The stack creates its own role instead, with a custom suffix (AWSServiceRoleForAutoScaling_payments-<env>):
        # it cannot collide with the default role or another environment's ("has been taken"), and destroy deletes
        # only this one, after the group that uses it; the key policy's reference makes the key wait for it.
        self.service_role = aws.iam.ServiceLinkedRole(
            f"{name}-service-role",
            aws_service_name="autoscaling.amazonaws.com",
            custom_suffix=f"payments-{n.suffix}",
            description=f"Auto Scaling of the payments application ({n.suffix}): launches its encrypted volumes",
            opts=child,
        )
        self.volume_key = Key(
            f"{name}-ebs-key",
            KeyArgs(
                description=f"Payments application EBS volumes, {n.suffix}",
                alias=n("app-ebs"),
                account_id=access.account_id,
                region=access.region,
                via_services=("ec2",),  # operators' snapshots and restores of the volumes
                service_statements=[autoscaling_key_statement(self.service_role.arn)],
            ),
            opts=child,
        )
        self.instance_role = roles.role(
            f"{name}-instance",
            roles.role_name(n, "instance"),
            "ec2.amazonaws.com",
            [
                *roles.pull_image(access),
                roles.write_logs(access),
                *roles.app_data(access),  # includes the secret: the user data reads it at boot with this role
                *roles.session_manager(access),
            ],
            self,
            None,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile", name=n("profile-app", Kind.IAM_ROLE), role=self.instance_role.name, opts=child
        )

        self.container_definitions = pulumi.Output.all(
            log_group=args.log_group_name, secret=access.secret_arn, path=access.parameter_path
        ).apply(
            lambda v: container_definitions(
                cfg,
                env_name=args.env_name,
                region=access.region,
                account_id=access.account_id,
                log_group=v["log_group"],
                secret_arn=v["secret"],
                parameter_path=v["path"],
            )
        )
        script = self.container_definitions.apply(lambda defs: user_data(defs[0], region=access.region))
        tags = {**args.tags, "Name": n("app")}
        self.launch_template = aws.ec2.LaunchTemplate(
            name,
            name=n("lt-app"),
            description="Payments application on Amazon Linux 2023",
            image_id=args.ami_id,
            instance_type=cfg.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 2 hops: the container reaches the instance role's credentials through Docker's bridge.
                http_put_response_hop_limit=2,
                instance_metadata_tags="disabled",
            ),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[args.security_group_id],
                )
            ],
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=cfg.root_volume_gb,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=self.volume_key.arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            user_data=script.apply(lambda text: base64.b64encode(text.encode()).decode()),
            update_default_version=True,
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            name,
            name=n("asg-app"),
            min_size=cfg.asg_min,
            max_size=cfg.asg_max,
            desired_capacity=cfg.desired_instances(),
            vpc_zone_identifiers=args.subnet_ids,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            target_group_arns=[args.target_group_arn],
            service_linked_role_arn=self.service_role.arn,
            health_check_type="ELB",
            health_check_grace_period=cfg.health_check_grace_seconds,
            default_instance_warmup=cfg.health_check_grace_seconds,
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                # Launch before terminate: capacity never drops during a refresh.
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=100, max_healthy_percentage=200, auto_rollback=True
                ),
            ),
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
            ],
            # The group's own tags, inline: aws.autoscaling.Tag on a group this program manages is a perpetual
            # diff (its SDK docs; the asg-tags-inline guardrail). Instances and volumes get theirs from the launch
            # template at launch (no gap), so these need not propagate.
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=False)
                for key, value in tags.items()
            ],
            # Autoscaling owns the running capacity once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )
        aws.autoscaling.Policy(
            f"{name}-cpu",
            name=n("asg-app-cpu"),
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=cfg.health_check_grace_seconds,
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ASGAverageCPUUtilization"
                ),
                target_value=cfg.cpu_target_percent,
            ),
            opts=child,
        )
        self.register_outputs({"asgName": self.group.name, "instanceRoleArn": self.instance_role.arn})
