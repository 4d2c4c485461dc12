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
from payments.layers.migration.machines.moves import FALLBACK, SWITCHOVER, MoveDefaults, move_definition
from payments.layers.migration.machines.recovery import finish_definition, recovery_definition
from payments.layers.migration.machines.rollback import NO_RUN
from payments.layers.migration.machines.targets import WriterTargets
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.safety_net import SafetyNet, SafetyNetArgs
from payments.layers.migration.schedule import CutoverInput, check_gate_window
from payments.layers.migration.settings import PROJECT
from payments.layers.migration.writer_workflow import writer_policy, writer_targets_from_outputs

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


def targets_from_outputs(
    outputs: Mapping[str, Mapping[str, Any]],
    names: MigrationNames,
    *,
    dms_task_arn: str | None = None,
    dms_latency_alarm_name: str | None = None,
    stickiness_seconds: int = 0,
    writer: bool = False,
) -> Targets:
    """The cutover's targets from upstream outputs (``{"edge": {...}, "app": {...}, "observability": {...}}``)."""
    edge, app, obs = outputs["edge"], outputs.get("app") or {}, outputs["observability"]
    return Targets(
        environment=names.suffix,
        listener_arn=edge["httpsListenerArn"],
        target_group_arns=dict(edge["targetGroupArns"]),
        gate_alarm_name=obs["gateAlarmName"],
        phase_parameter_name=names.phase_parameter,
        topic_arn=obs["alarmTopicArn"],
        machine_arns=names.all_machine_arns if writer else names.machine_arns,
        run_parameter_name=names.run_parameter,
        gate_members=tuple(obs.get("gateMemberNames") or ()),
        gate_window_seconds=int(obs.get("gateWindowSeconds") or 0),
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


def _common(targets: Targets, parameter_arns: list[str], topic_key_arn: str, region: str) -> list[dict[str, Any]]:
    return [
        iam.allow(["elasticloadbalancing:ModifyListener"], targets.listener_arn, sid="SetListenerWeights"),
        # DescribeListeners and DescribeTargetHealth support no resource-level permission.
        iam.allow(
            ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetHealth"],
            "*",
            sid="ReadListenerAndTargetHealth",
        ),
        iam.allow(["ssm:GetParameter", "ssm:PutParameter"], sorted(parameter_arns), sid="MigrationPhase"),
        iam.allow(["sns:Publish"], targets.topic_arn, sid="Notify"),
        iam.allow(
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            topic_key_arn,
            sid="EncryptedTopic",
            Condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        ),
        # Each machine refuses to run beside the others: it lists their running executions.
        iam.allow(["states:ListExecutions"], sorted(targets.machine_arns.values()), sid="FindRunningExecutions"),
        iam.allow(LOG_DELIVERY_ACTIONS, "*", sid="ExecutionLogDelivery"),
        iam.allow(XRAY_ACTIONS, "*", sid="Tracing"),
    ]


def cutover_policy(
    targets: Targets,
    *,
    parameter_arns: list[str],
    topic_key_arn: str,
    service_arns: list[str],
    region: str,
) -> dict[str, Any]:
    """The cutover role's policy: exactly the listener, services, alarms, DMS task, parameters, topic and logs."""
    statements = _common(targets, parameter_arns, topic_key_arn, region)
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


def rollback_policy(targets: Targets, *, parameter_arns: list[str], topic_key_arn: str, region: str) -> dict[str, Any]:
    """The rollback role's policy: the listener, the parameters, the topic, and stopping cutover executions.

    It stops the cutover's executions (by state machine ARN, never by map run: the cutover has no distributed
    Map); it never updates a service or touches DMS.
    """
    executions = targets.machine_arns["cutover"].replace(":stateMachine:", ":execution:") + ":*"
    statements = _common(targets, parameter_arns, topic_key_arn, region)
    statements.append(iam.allow(["states:StopExecution"], executions, sid="StopRunningCutovers"))
    return {"Version": iam.VERSION, "Statement": statements}


# --- the component -----------------------------------------------------------------------


@dataclasses.dataclass
class CutoverWorkflowArgs:
    names: MigrationNames
    initial_phase: str
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    defaults: CutoverInput  #: defaults baked into the definition (taskDefinition filled from the app layer)
    stickiness_seconds: int
    #: {"edge": {...}, "app": {...}, "observability": {...}} of Outputs, as the contract reads them
    upstream: Mapping[str, Mapping[str, pulumi.Output[Any]]]
    dms_task_arn: pulumi.Output[str] | None = None
    dms_latency_alarm_name: pulumi.Output[str] | None = None
    #: the writer machines (switchover, fallback, finish, writer-recovery), when the database stage is deployed
    writer: WriterArgs | None = None


@dataclasses.dataclass
class WriterArgs:
    defaults: MoveDefaults  #: holdSeconds/pollSeconds defaults and the write pause's bounds
    #: {"network": {...}, "data": {...}, "edge": {...}} of Outputs (writer_workflow.UPSTREAM)
    upstream: Mapping[str, Mapping[str, pulumi.Output[Any]]]
    reverse_task_arn: pulumi.Output[str]
    dormant_conditions: tuple[dict[str, Any], ...]


class CutoverWorkflow(pulumi.ComponentResource):
    """The phase and run parameters, the execution log group, the cutover and rollback machines, the safety net."""

    def __init__(self, name: str, args: CutoverWorkflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:migration:CutoverWorkflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = args.names
        n = Namer(names.suffix)
        # After creation the state machines own both values: a routine `pulumi up` must not reset them.
        owned = pulumi.ResourceOptions(parent=self, ignore_changes=["insecureValue", "value"])
        self.phase = aws.ssm.Parameter(
            # insecure_value: the phase is not a secret, and plans and diffs should show it.
            f"{name}-phase",
            name=names.phase_parameter,
            type="String",
            insecure_value=args.initial_phase,
            description=f"migration phase of payments {names.suffix}; written by the migration state machines",
            opts=owned,
        )
        self.run = aws.ssm.Parameter(
            f"{name}-run",
            name=names.run_parameter,
            type="StringList",
            insecure_value=NO_RUN,
            description=f"payments {names.suffix}: the last cutover's execution, source pool, target pool and the "
            "phase before it; written by the cutover before it changes anything, read by the rollback",
            opts=owned,
        )
        self.log_group = log_group(
            f"{name}-logs",
            f"/aws/vendedlogs/states/payments-cutover-{names.suffix}",
            args.logs_key_arn,
            args.log_retention_days,
            opts=child,
        )
        logging = aws.sfn.StateMachineLoggingConfigurationArgs(
            level="ALL", include_execution_data=True, log_destination=pulumi.Output.concat(self.log_group.arn, ":*")
        )
        tracing = aws.sfn.StateMachineTracingConfigurationArgs(enabled=True)

        # Every plain value the definitions and policies need, resolved together.
        writer_values = (
            pulumi.Output.all(
                **{layer: pulumi.Output.all(**outputs) for layer, outputs in args.writer.upstream.items()},
                reverse=args.writer.reverse_task_arn,
            )
            if args.writer
            else pulumi.Output.from_input(None)
        )
        if args.writer:
            self.writer_run = aws.ssm.Parameter(
                f"{name}-writer-run",
                name=names.writer_run_parameter,
                type="StringList",
                insecure_value=NO_RUN,
                description=f"payments {names.suffix}: the last switchover/fallback/finish execution, its machine, "
                "the phase before it and its stage; read by writer-recovery",
                opts=owned,
            )
        values = pulumi.Output.all(
            writer=writer_values,
            edge=pulumi.Output.all(**args.upstream["edge"]),
            app=pulumi.Output.all(**args.upstream["app"]) if args.upstream.get("app") else pulumi.Output.from_input({}),
            observability=pulumi.Output.all(**args.upstream["observability"]),
            dms_task=args.dms_task_arn,
            dms_alarm=args.dms_latency_alarm_name,
            parameter_arns=pulumi.Output.all(
                self.phase.arn, self.run.arn, *([self.writer_run.arn] if args.writer else [])
            ),
        )

        def targets(v: dict[str, Any]) -> Targets:
            return targets_from_outputs(
                v,
                names,
                dms_task_arn=v["dms_task"],
                dms_latency_alarm_name=v["dms_alarm"],
                stickiness_seconds=args.stickiness_seconds,
                writer=args.writer is not None,
            )

        def writer(v: dict[str, Any]) -> WriterTargets:
            assert args.writer is not None and v["dms_task"]
            return writer_targets_from_outputs(
                v["writer"],
                names,
                forward_task_arn=v["dms_task"],
                reverse_task_arn=v["writer"]["reverse"],
                latency_alarm_name=v["dms_alarm"],
                dormant_conditions=args.writer.dormant_conditions,
            )

        def defaults(v: dict[str, Any]) -> CutoverInput:
            check_gate_window(
                args.defaults.bake_seconds,
                int(v["observability"]["gateWindowSeconds"]),
                f"{PROJECT}:bakeSeconds",
                "payments-observability: evaluationPeriods x period of its longest gate alarm, plus the metrics' delay",
            )
            task_definition = args.defaults.task_definition or (v["app"] or {}).get("taskDefinitionArn")
            return dataclasses.replace(args.defaults, task_definition=task_definition)

        def machine(role: str, definition: Any, policy: Any) -> aws.sfn.StateMachine:
            trust = iam.service_trust("states.amazonaws.com", source_account=names.account_id)
            role_res = aws.iam.Role(
                f"{name}-{role}-role", name=n(f"role-{role}", Kind.IAM_ROLE), assume_role_policy=trust, opts=child
            )
            policy_res = aws.iam.RolePolicy(
                f"{name}-{role}-policy",
                role=role_res.id,
                policy=values.apply(lambda v: json.dumps(policy(v))),
                opts=child,
            )
            return aws.sfn.StateMachine(
                f"{name}-{role}",
                name=names.machine(role),
                type="STANDARD",
                role_arn=role_res.arn,
                definition=values.apply(lambda v: json.dumps(definition(v), indent=1)),
                logging_configuration=logging,
                tracing_configuration=tracing,
                # Step Functions checks log delivery permissions when the state machine is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy_res]),
            )

        self.cutover = machine(
            "cutover",
            lambda v: cutover_definition(targets(v), defaults(v)),
            lambda v: cutover_policy(
                targets(v),
                parameter_arns=list(v["parameter_arns"]),
                topic_key_arn=v["observability"]["alarmTopicKeyArn"],
                service_arns=list(((v["app"] or {}).get("serviceArns") or {}).values()),
                region=names.region,
            ),
        )
        self.rollback = machine(
            "rollback",
            lambda v: rollback_definition(targets(v)),
            lambda v: rollback_policy(
                targets(v),
                parameter_arns=list(v["parameter_arns"]),
                topic_key_arn=v["observability"]["alarmTopicKeyArn"],
                region=names.region,
            ),
        )
        self.writer_machines: dict[str, aws.sfn.StateMachine] = {}
        if args.writer:
            writer_args = args.writer
            builders = {
                "switchover": lambda v: move_definition(targets(v), writer(v), SWITCHOVER, writer_args.defaults),
                "fallback": lambda v: move_definition(targets(v), writer(v), FALLBACK, writer_args.defaults),
                "finish": lambda v: finish_definition(targets(v), writer(v)),
                "writer-recovery": lambda v: recovery_definition(targets(v), writer(v)),
            }
            for role, build in builders.items():
                self.writer_machines[role] = machine(
                    role,
                    build,
                    lambda v, role=role: writer_policy(
                        role,
                        targets(v),
                        writer(v),
                        parameter_arns=list(v["parameter_arns"]),
                        topic_key_arn=v["observability"]["alarmTopicKeyArn"],
                        region=names.region,
                        account_id=names.account_id,
                    ),
                )
        self.safety_net = SafetyNet(
            f"{name}-safety-net",
            SafetyNetArgs(
                names=names,
                cutover_arn=self.cutover.arn,
                rollback_arn=self.rollback.arn,
                gate_alarm_arn=args.upstream["observability"]["gateAlarmArn"],
                alarm_topic_arn=args.upstream["observability"]["alarmTopicArn"],
                writer_arns=[self.writer_machines[r].arn for r in ("switchover", "fallback", "finish")]
                if self.writer_machines
                else None,
                recovery_arn=self.writer_machines["writer-recovery"].arn if self.writer_machines else None,
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "cutoverArn": self.cutover.arn,
                "rollbackArn": self.rollback.arn,
                "phaseParameterName": self.phase.name,
                "runParameterName": self.run.name,
                "logGroupName": self.log_group.name,
            }
        )
