"""The cutover workflow: phase parameter, execution logs, two roles, two state machines.

The definitions come from :mod:`payments.layers.migration.state_machine`; this
module wires them to deployed ARNs and gives each state machine a role scoped
to exactly what its definition touches.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.components.logs import log_group
from payments.core.naming import Kind, Namer
from payments.layers.migration.machines import Targets, cutover_definition, rollback_definition
from payments.layers.migration.schedule import CutoverInput, Pool

#: Log delivery and X-Ray APIs accept no resource ARNs (AWS documents "*" for them).
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]


def phase_parameter_name(suffix: str) -> str:
    return f"/payments/{suffix}/migration/phase"


def targets_from_outputs(
    outputs: Mapping[str, Mapping[str, Any]],
    environment: str,
    *,
    phase_parameter: str,
    dms_task_arn: str | None = None,
    dms_latency_alarm_name: str | None = None,
    stickiness_seconds: int = 0,
) -> Targets:
    """The cutover's targets from upstream outputs (``{"edge": {...}, "app": {...}, "observability": {...}}``)."""
    edge, app, obs = outputs["edge"], outputs.get("app") or {}, outputs["observability"]
    return Targets(
        environment=environment,
        listener_arn=edge["httpsListenerArn"],
        target_group_arns=dict(edge["targetGroupArns"]),
        gate_alarm_name=obs["gateAlarmName"],
        phase_parameter_name=phase_parameter,
        topic_arn=obs["alarmTopicArn"],
        cluster_name=app.get("clusterName") or None,
        service_names=dict(app.get("serviceNames") or {}),
        dms_task_arn=dms_task_arn,
        dms_latency_alarm_name=dms_latency_alarm_name,
        stickiness_seconds=stickiness_seconds,
    )


# --- IAM, as data ---------------------------------------------------------------------


#: Composite alarms are returned only to callers whose cloudwatch:DescribeAlarms is scoped to "*" (CloudWatch API
#: Reference, DescribeAlarms: "To use this operation and return information about composite alarms, you must be
#: signed on with the cloudwatch:DescribeAlarms permission that is scoped to *. You can't return information about
#: composite alarms if your cloudwatch:DescribeAlarms permission has a narrower scope."). The gate is a composite
#: alarm: scoped to its ARN, the preflight would never see it OK and every cutover would abort.
DESCRIBE_ALARMS_NEEDS_STAR = "*"


def _common(
    targets: Targets, parameter_arn: str, phase_actions: list[str], topic_key_arn: str, region: str
) -> list[dict[str, Any]]:
    return [
        iam.allow(["elasticloadbalancing:ModifyListener"], targets.listener_arn, sid="SetListenerWeights"),
        # DescribeTargetHealth supports no resource-level permission.
        iam.allow(["elasticloadbalancing:DescribeTargetHealth"], "*", sid="ReadTargetHealth"),
        iam.allow(phase_actions, parameter_arn, sid="MigrationPhase"),
        iam.allow(["sns:Publish"], targets.topic_arn, sid="Notify"),
        iam.allow(
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            topic_key_arn,
            sid="EncryptedTopic",
            Condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        ),
        iam.allow(LOG_DELIVERY_ACTIONS, "*", sid="ExecutionLogDelivery"),
        iam.allow(XRAY_ACTIONS, "*", sid="Tracing"),
    ]


def cutover_policy(
    targets: Targets,
    *,
    parameter_arn: str,
    topic_key_arn: str,
    service_arns: list[str],
    region: str,
) -> dict[str, Any]:
    """The cutover role's policy: exactly the listener, services, alarms, DMS task, parameter, topic and logs."""
    statements = _common(targets, parameter_arn, ["ssm:GetParameter", "ssm:PutParameter"], topic_key_arn, region)
    # DescribeListeners supports no resource-level permission (the listener check before anything changes).
    statements.append(iam.allow(["elasticloadbalancing:DescribeListeners"], "*", sid="ReadListenerWeights"))
    statements.append(iam.allow(["cloudwatch:DescribeAlarms"], DESCRIBE_ALARMS_NEEDS_STAR, sid="ReadGateAlarms"))
    if service_arns:
        statements.append(
            iam.allow(
                ["ecs:UpdateService", "ecs:DescribeServices"], sorted(service_arns), sid="TargetAndSourceServices"
            )
        )
    if targets.dms_task_arn:
        statements.append(iam.allow(["dms:StartReplicationTask"], targets.dms_task_arn, sid="StartReplication"))
        # DescribeReplicationTasks supports no resource-level permission.
        statements.append(iam.allow(["dms:DescribeReplicationTasks"], "*", sid="ReadReplication"))
    return {"Version": iam.VERSION, "Statement": statements}


def rollback_policy(
    targets: Targets, *, parameter_arn: str, topic_key_arn: str, cutover_arn: str, region: str
) -> dict[str, Any]:
    """The rollback role's policy: the listener, the parameter, the topic, and stopping cutover executions.

    Only what the rollback definition calls: it writes the phase but never reads it (no ssm:GetParameter), and
    lists the cutover's executions by state machine ARN, never by map run (the cutover has no distributed Map).
    """
    executions = cutover_arn.replace(":stateMachine:", ":execution:") + ":*"
    statements = _common(targets, parameter_arn, ["ssm:PutParameter"], topic_key_arn, region)
    statements.append(iam.allow(["states:ListExecutions"], cutover_arn, sid="FindRunningCutovers"))
    statements.append(iam.allow(["states:StopExecution"], executions, sid="StopRunningCutovers"))
    return {"Version": iam.VERSION, "Statement": statements}


# --- the component -----------------------------------------------------------------------


@dataclasses.dataclass
class CutoverWorkflowArgs:
    namer: Namer
    account_id: str
    region: str
    initial_phase: str
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    defaults: CutoverInput  #: defaults baked into the definition (taskDefinition filled from the app layer)
    default_rollback_pool: Pool
    stickiness_seconds: int
    #: {"edge": {...}, "app": {...}, "observability": {...}} of Outputs, as the contract reads them
    upstream: Mapping[str, Mapping[str, pulumi.Output[Any]]]
    dms_task_arn: pulumi.Output[str] | None = None
    dms_latency_alarm_name: pulumi.Output[str] | None = None


class CutoverWorkflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: CutoverWorkflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:migration:CutoverWorkflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        self.phase = aws.ssm.Parameter(
            # insecure_value: the phase is not a secret, and plans and diffs should show it.
            f"{name}-phase",
            name=phase_parameter_name(n.suffix),
            type="String",
            insecure_value=args.initial_phase,
            description=f"migration phase of payments {n.suffix}; written by the cutover state machines",
            # After creation the state machines own the value: a routine `pulumi up` must not reset it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["insecureValue", "value"]),
        )
        self.log_group = log_group(
            f"{name}-logs",
            f"/aws/vendedlogs/states/payments-cutover-{n.suffix}",
            args.logs_key_arn,
            args.log_retention_days,
            opts=child,
        )
        logging = aws.sfn.StateMachineLoggingConfigurationArgs(
            level="ALL", include_execution_data=True, log_destination=pulumi.Output.concat(self.log_group.arn, ":*")
        )
        tracing = aws.sfn.StateMachineTracingConfigurationArgs(enabled=True)

        # Every plain value the definitions and policies need, resolved together.
        values = pulumi.Output.all(
            edge=pulumi.Output.all(**args.upstream["edge"]),
            app=pulumi.Output.all(**args.upstream["app"]) if args.upstream.get("app") else pulumi.Output.from_input({}),
            observability=pulumi.Output.all(**args.upstream["observability"]),
            dms_task=args.dms_task_arn,
            dms_alarm=args.dms_latency_alarm_name,
            parameter_arn=self.phase.arn,
        )

        def targets(v: dict[str, Any]) -> Targets:
            return targets_from_outputs(
                v,
                n.suffix,
                phase_parameter=phase_parameter_name(n.suffix),
                dms_task_arn=v["dms_task"],
                dms_latency_alarm_name=v["dms_alarm"],
                stickiness_seconds=args.stickiness_seconds,
            )

        def defaults(v: dict[str, Any]) -> CutoverInput:
            task_definition = args.defaults.task_definition or (v["app"] or {}).get("taskDefinitionArn")
            return dataclasses.replace(args.defaults, task_definition=task_definition)

        trust = iam.service_trust("states.amazonaws.com", source_account=args.account_id)
        cutover_role = aws.iam.Role(
            f"{name}-cutover-role", name=n("role-cutover", Kind.IAM_ROLE), assume_role_policy=trust, opts=child
        )
        cutover_policy_res = aws.iam.RolePolicy(
            f"{name}-cutover-policy",
            role=cutover_role.id,
            policy=values.apply(
                lambda v: json.dumps(
                    cutover_policy(
                        targets(v),
                        parameter_arn=v["parameter_arn"],
                        topic_key_arn=v["observability"]["alarmTopicKeyArn"],
                        service_arns=list(((v["app"] or {}).get("serviceArns") or {}).values()),
                        region=args.region,
                    )
                )
            ),
            opts=child,
        )
        self.cutover = aws.sfn.StateMachine(
            f"{name}-cutover",
            name=n("cutover", Kind.STATE_MACHINE),
            type="STANDARD",
            role_arn=cutover_role.arn,
            definition=values.apply(lambda v: json.dumps(cutover_definition(targets(v), defaults(v)), indent=1)),
            logging_configuration=logging,
            tracing_configuration=tracing,
            # Step Functions checks log delivery permissions when the state machine is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cutover_policy_res]),
        )

        rollback_role = aws.iam.Role(
            f"{name}-rollback-role", name=n("role-rollback", Kind.IAM_ROLE), assume_role_policy=trust, opts=child
        )
        with_cutover = pulumi.Output.all(v=values, cutover_arn=self.cutover.arn)
        rollback_policy_res = aws.iam.RolePolicy(
            f"{name}-rollback-policy",
            role=rollback_role.id,
            policy=with_cutover.apply(
                lambda w: json.dumps(
                    rollback_policy(
                        targets(w["v"]),
                        parameter_arn=w["v"]["parameter_arn"],
                        topic_key_arn=w["v"]["observability"]["alarmTopicKeyArn"],
                        cutover_arn=w["cutover_arn"],
                        region=args.region,
                    )
                )
            ),
            opts=child,
        )
        self.rollback = aws.sfn.StateMachine(
            f"{name}-rollback",
            name=n("rollback", Kind.STATE_MACHINE),
            type="STANDARD",
            role_arn=rollback_role.arn,
            definition=with_cutover.apply(
                lambda w: json.dumps(
                    rollback_definition(targets(w["v"]), w["cutover_arn"], args.default_rollback_pool), indent=1
                )
            ),
            logging_configuration=logging,
            tracing_configuration=tracing,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[rollback_policy_res]),
        )
        self.register_outputs(
            {
                "cutoverArn": self.cutover.arn,
                "rollbackArn": self.rollback.arn,
                "phaseParameterName": self.phase.name,
                "logGroupName": self.log_group.name,
            }
        )
