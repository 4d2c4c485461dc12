"""Fargate mode: ECS cluster, one task definition, services ``blue`` and ``green``, CPU target tracking.

After creation two things belong to the cutover (payments-migration), not to
Pulumi: which task definition revision each service runs and how many tasks
it has. A new image registers a new revision (exported as taskDefinitionArn);
the cutover rolls it out to the idle pool and shifts traffic, so a routine
``pulumi up`` never redeploys the live pool behind the cutover's back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components.logs import insights_log_group, log_group
from payments.core.naming import Kind, Namer
from payments.layers.app import roles
from payments.layers.app.container import CONTAINER_NAME, SCRATCH_VOLUME, container_definitions
from payments.layers.app.settings import AppSettings

ecs = aws.ecs
#: The pools the app runs; `legacy` (on-prem) has no service here.
POOLS = ("blue", "green")
#: Service properties owned by autoscaling and the cutover once the service exists.
CUTOVER_OWNED = ["desiredCount", "taskDefinition"]


@dataclasses.dataclass
class FargateArgs:
    settings: AppSettings
    namer: Namer
    env_name: str
    access: roles.AppAccess
    log_group_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    #: pool -> target group ARN, already gated on the listener (see gated_target_groups in __main__)
    target_group_arns: dict[str, pulumi.Input[str]]
    #: the network layer's CloudWatch Logs key: Container Insights' log group uses it too
    logs_key_arn: pulumi.Input[str]


class FargateServices(pulumi.ComponentResource):
    def __init__(self, name: str, args: FargateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:app:FargateServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, n, access = args.settings, args.namer, args.access

        cluster_name = n("cluster", Kind.ECS)
        # Container Insights writes performance events to this group; AWS would create it unencrypted and keep it
        # forever. Owning it first gives it the logs key and the PCI retention (as the data layer does for RDS).
        self.insights_logs = log_group(
            f"{name}-insights-logs",
            insights_log_group(cluster_name),
            args.logs_key_arn,
            cfg.log_retention_days,
            opts=child,
        )
        self.cluster = ecs.Cluster(
            name,
            name=cluster_name,
            settings=[ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.insights_logs]),
        )
        self.execution_role = roles.role(
            f"{name}-execution",
            roles.role_name(n, "execution"),
            "ecs-tasks.amazonaws.com",
            [*roles.pull_image(access), roles.write_logs(access), *roles.read_secrets(access)],
            self,
            access.account_id,
        )
        self.task_role = roles.role(
            f"{name}-task",
            roles.role_name(n, "task"),
            "ecs-tasks.amazonaws.com",
            roles.app_data(access),
            self,
            access.account_id,
        )

        self.container_definitions: pulumi.Output[list[dict[str, Any]]] = pulumi.Output.all(
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
        self.family = n("app", Kind.ECS)
        self.task_definition = ecs.TaskDefinition(
            name,
            family=self.family,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(cfg.cpu),
            memory=str(cfg.memory),
            runtime_platform=ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=cfg.architecture.value.upper()
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.json_dumps(self.container_definitions),
            volumes=[ecs.TaskDefinitionVolumeArgs(name=SCRATCH_VOLUME)],
            # A new image replaces this resource, but the live pool keeps running the old revision until the
            # cutover moves traffic (services ignore task-definition changes). Deregistering it would leave the
            # source pool, and a rollback to the previous release, on an INACTIVE revision: keep old revisions
            # registered. They hold no data and cost nothing; destroy leaves them (docs/app.md says how to clear).
            skip_destroy=True,
            opts=child,
        )

        self.services: dict[str, ecs.Service] = {}
        for pool in POOLS:
            service = ecs.Service(
                f"{name}-{pool}",
                name=n(f"app-{pool}", Kind.ECS),
                cluster=self.cluster.arn,
                task_definition=self.task_definition.arn,
                desired_count=cfg.desired_count,
                launch_type="FARGATE",
                platform_version="LATEST",
                network_configuration=ecs.ServiceNetworkConfigurationArgs(
                    subnets=args.subnet_ids, security_groups=[args.security_group_id], assign_public_ip=False
                ),
                load_balancers=[
                    ecs.ServiceLoadBalancerArgs(
                        target_group_arn=args.target_group_arns[pool],
                        container_name=CONTAINER_NAME,
                        container_port=cfg.container_port,
                    )
                ],
                health_check_grace_period_seconds=cfg.health_check_grace_seconds,
                deployment_circuit_breaker=ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
                # Never below the running capacity while a deployment replaces tasks.
                deployment_minimum_healthy_percent=100,
                deployment_maximum_percent=200,
                # Fargate spreads tasks over the subnets (one per AZ); rebalancing restores that after an AZ event.
                availability_zone_rebalancing="ENABLED",
                # Tasks carry the service's tags (Environment, CostCenter, MigrationPhase from the provider).
                propagate_tags="SERVICE",
                enable_ecs_managed_tags=True,
                enable_execute_command=False,
                wait_for_steady_state=False,
                tags={"Pool": pool},
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=CUTOVER_OWNED),
            )
            self.services[pool] = service
            target = aws.appautoscaling.Target(
                f"{name}-{pool}-scaling",
                service_namespace="ecs",
                scalable_dimension="ecs:service:DesiredCount",
                resource_id=pulumi.Output.concat("service/", self.cluster.name, "/", service.name),
                min_capacity=cfg.scaling_floor(),
                max_capacity=cfg.max_capacity,
                opts=child,
            )
            aws.appautoscaling.Policy(
                f"{name}-{pool}-cpu",
                name=n(f"app-{pool}-cpu"),
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="ECSServiceAverageCPUUtilization"
                    ),
                    target_value=cfg.cpu_target_percent,
                    scale_in_cooldown=cfg.scale_in_cooldown_seconds,
                    scale_out_cooldown=cfg.scale_out_cooldown_seconds,
                ),
                opts=child,
            )
        self.register_outputs({"clusterArn": self.cluster.arn, "taskDefinitionArn": self.task_definition.arn})
