"""payments-app: ECS Fargate blue/green services or an EC2 Auto Scaling group running the payment application."""

import pulumi_aws as aws

from payments.components.logs import log_group
from payments.core.stack import start
from payments.layers.app.archive import ArchiveArgs, ConfigArchive
from payments.layers.app.container import Image
from payments.layers.app.ec2 import AMI_PARAMETERS, AutoScalingApp, Ec2Args
from payments.layers.app.fargate import FargateArgs, FargateServices
from payments.layers.app.listener import gated_target_groups
from payments.layers.app.roles import AppAccess
from payments.layers.app.settings import AppSettings

layer = start("app")
cfg = layer.config(AppSettings)
cfg.check_environment(layer.project, layer.env.production)
env, n, opts = layer.env, layer.namer, layer.opts
network, data, edge = layer.upstream("network"), layer.upstream("data"), layer.upstream("edge")

# The target groups only once the edge stack's HTTPS listener exists and their type fits the compute mode.
target_groups = gated_target_groups(
    edge["targetGroupArns"], edge["httpsListenerArn"], edge["appTargetType"], cfg.compute_mode, layer.project
)
logs = log_group("app-logs", f"/payments/{n.suffix}/app", network["logsKeyArn"], cfg.log_retention_days, opts=opts)
access = AppAccess(
    region=env.region,
    account_id=layer.account_id,
    image=Image(cfg.image),
    log_group_arn=logs.arn,
    # The app user's secret (payments_app, least privilege, the same on both databases), never the master's.
    secret_arn=data["appDbSecretArn"],
    data_key_arn=data["dataKeyArn"],
    parameter_path=data["parameterPath"],
    parameters=sorted(cfg.parameters().values()),
    static_bucket_arn=data["staticBucketArn"],
    app_logs_bucket_arn=data["appLogsBucketArn"],
)
common = {
    "settings": cfg,
    "namer": n,
    "env_name": env.name,
    "access": access,
    "log_group_name": logs.name,
    "subnet_ids": network["appSubnetIds"],
    "security_group_id": network["appSecurityGroupId"],
}

layer.export("computeMode", cfg.compute_mode.value)
layer.export("logGroupName", logs.name)
if cfg.fargate:
    app = FargateServices(
        "ecs",
        FargateArgs(
            **common,
            target_group_arns={p: target_groups[p] for p in ("blue", "green")},
            logs_key_arn=network["logsKeyArn"],
        ),
        opts=opts,
    )
    task = app.task_definition
    ConfigArchive(
        "task-definition-archive",
        ArchiveArgs(
            bucket=data["configArchiveBucketName"],
            key=f"task-definitions/{app.family}.json",
            document={
                "taskDefinitionArn": task.arn,
                # RegisterTaskDefinition's request, exactly: re-register from here to restore.
                "registerTaskDefinition": {
                    "family": app.family,
                    "requiresCompatibilities": ["FARGATE"],
                    "networkMode": "awsvpc",
                    "cpu": str(cfg.cpu),
                    "memory": str(cfg.memory),
                    "runtimePlatform": {
                        "operatingSystemFamily": "LINUX",
                        "cpuArchitecture": cfg.architecture.value.upper(),
                    },
                    "executionRoleArn": app.execution_role.arn,
                    "taskRoleArn": app.task_role.arn,
                    "volumes": [{"name": "tmp"}],
                    "containerDefinitions": app.container_definitions,
                },
            },
        ),
        opts=opts,
    )
    layer.export("clusterName", app.cluster.name)
    layer.export("clusterArn", app.cluster.arn)
    layer.export("serviceNames", {pool: s.name for pool, s in app.services.items()})
    layer.export("serviceArns", {pool: s.arn for pool, s in app.services.items()})
    layer.export("taskDefinitionArn", task.arn)
    layer.export("taskDefinitionFamily", task.family)
    layer.export("executionRoleArn", app.execution_role.arn)
    layer.export("taskRoleArn", app.task_role.arn)
else:
    ami = aws.ssm.get_parameter(name=AMI_PARAMETERS[cfg.architecture], opts=layer.invoke_opts).value
    asg = AutoScalingApp(
        "asg", Ec2Args(**common, tags=env.tags, ami_id=ami, target_group_arn=target_groups["blue"]), opts=opts
    )
    ConfigArchive(
        "launch-template-archive",
        ArchiveArgs(
            bucket=data["configArchiveBucketName"],
            key=f"launch-templates/{n('lt-app')}.json",
            document={
                "launchTemplateId": asg.launch_template.id,
                "imageId": ami,
                "instanceType": cfg.instance_type,
                "autoScalingGroupName": asg.group.name,
                "containerDefinitions": asg.container_definitions,
            },
        ),
        opts=opts,
    )
    layer.export("asgName", asg.group.name)
    layer.export("instanceRoleArn", asg.instance_role.arn)
