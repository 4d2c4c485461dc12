"""The safety net: EventBridge starts the rollback machine for endings no Catch can handle, and on the gate alarm.

AWS's error-handling guide: ``States.ALL`` does not catch ``States.Runtime`` or ``States.DataLimitExceeded``, and
a person's ``StopExecution``, the execution's ``TimeoutSeconds`` and the 25,000-event history quota end an
execution without any Catch running; it suggests an EventBridge rule on *Step Functions Execution Status
Change* for them. So:

* **cutover ended**: ``aws.states`` / *Step Functions Execution Status Change*, the cutover machine, status
  ABORTED, FAILED or TIMED_OUT -> the rollback machine with ``{"trigger": "execution-ended", "executionArn":
  ...}``. The rollback decides, from the run record, the phase and the listener, whether that execution had
  changed anything, had completed, or had already put traffic back; only otherwise does it act.
* **gate alarm**: ``aws.cloudwatch`` / *CloudWatch Alarm State Change* of the gate alarm to ALARM -> the
  rollback machine with ``{"trigger": "gate-alarm"}``: it acts only while a recorded cutover runs, at once rather
  than at the cutover's next poll.

A delivery EventBridge cannot make (throttled, denied) lands in a dead-letter queue, whose alarm pages on-call:
a safety net that silently fails is worse than none.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.core.naming import Kind, Namer
from payments.layers.migration.names import MigrationNames

ENDINGS = ("ABORTED", "FAILED", "TIMED_OUT")


def execution_ended_pattern(*machine_arns: str) -> dict[str, Any]:
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": list(machine_arns), "status": list(ENDINGS)},
    }



def gate_alarm_pattern(gate_alarm_arn: str) -> dict[str, Any]:
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [gate_alarm_arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """One rule of the safety net, as data: its event pattern and what the rollback machine receives."""

    trigger: str
    description: str
    pattern: dict[str, Any]
    input_paths: dict[str, str]
    input_template: str


#: What writer-recovery receives when a writer machine ends badly (the same shape as the rollback's input).
WRITER_TEMPLATE = '{"trigger": "execution-ended", "executionArn": "<execution>", "status": "<status>"}'


def writer_rule_spec(writer_arns: list[str]) -> RuleSpec:
    """The writer machines' safety net: a switchover, fallback or finish ended ABORTED, FAILED or TIMED_OUT."""
    return RuleSpec(
        "writer-ended",
        "a switchover, fallback or finish ended ABORTED, FAILED or TIMED_OUT: writer-recovery lifts the pause and "
        "makes replication and fences agree with the writer the DB indirection names",
        execution_ended_pattern(*writer_arns),
        {"execution": "$.detail.executionArn", "status": "$.detail.status"},
        WRITER_TEMPLATE,
    )


def rule_specs(cutover_arn: str, gate_alarm_arn: str) -> list[RuleSpec]:
    """The safety net's rules (the layer deploys them; the emulator and tests install exactly these)."""
    return [
        RuleSpec(
            "cutover-ended",
            "a cutover ended ABORTED, FAILED or TIMED_OUT: the rollback puts traffic back unless it was safe",
            execution_ended_pattern(cutover_arn),
            {"execution": "$.detail.executionArn", "status": "$.detail.status"},
            '{"trigger": "execution-ended", "executionArn": "<execution>", "status": "<status>"}',
        ),
        RuleSpec(
            "gate-alarm",
            "the cutover gate went to ALARM: the rollback stops a running cutover and puts traffic back",
            gate_alarm_pattern(gate_alarm_arn),
            {"alarm": "$.detail.alarmName"},
            '{"trigger": "gate-alarm", "alarm": "<alarm>"}',
        ),
    ]


@dataclasses.dataclass
class SafetyNetArgs:
    names: MigrationNames
    cutover_arn: pulumi.Input[str]
    rollback_arn: pulumi.Input[str]
    gate_alarm_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    #: the writer machines whose bad endings start writer-recovery (None: not deployed)
    writer_arns: list[pulumi.Output[str]] | None = None
    recovery_arn: pulumi.Input[str] | None = None


class SafetyNet(pulumi.ComponentResource):
    """Two EventBridge rules that start the rollback machine, their role, and a watched dead-letter queue."""

    def __init__(self, name: str, args: SafetyNetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:migration:SafetyNet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = args.names
        n = Namer(names.suffix)
        role = aws.iam.Role(
            f"{name}-role",
            name=n("role-safety-net", Kind.IAM_ROLE),
            assume_role_policy=iam.service_trust("events.amazonaws.com", source_account=names.account_id),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=iam.document(
                iam.allow(
                    ["states:StartExecution"],
                    [args.rollback_arn, args.recovery_arn] if args.recovery_arn else args.rollback_arn,
                    sid="StartRollback",
                )
            ),
            opts=child,
        )
        self.dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            name=n("safety-net-dlq", Kind.GENERIC),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dead_letters.url,
            policy=iam.document(
                iam.allow(
                    ["sqs:SendMessage"],
                    self.dead_letters.arn,
                    sid="EventBridgeDeadLetters",
                    Principal={"Service": "events.amazonaws.com"},
                    Condition={"StringEquals": {"aws:SourceAccount": names.account_id}},
                )
            ),
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-dlq-alarm",
            name=n("safety-net-undelivered", Kind.ALARM),
            alarm_description="The safety net could not start the rollback state machine (EventBridge put the event "
            "in the dead-letter queue). A cutover may have ended with traffic split: run invoke rollback --env "
            f"{names.suffix} now, then read the queue for the event.",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dead_letters.name},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            opts=child,
        )
        self.rules: dict[str, aws.cloudwatch.EventRule] = {}
        specs = pulumi.Output.all(args.cutover_arn, args.gate_alarm_arn).apply(lambda arns: rule_specs(*arns))

        def nth(i: int) -> pulumi.Output[RuleSpec]:
            return specs.apply(lambda all_specs: all_specs[i])

        for i, trigger in enumerate(("cutover-ended", "gate-alarm")):
            self.rules[trigger] = self._rule(name, n, trigger, nth(i), args.rollback_arn, role)
        if args.writer_arns and args.recovery_arn:
            writer_spec = pulumi.Output.all(*args.writer_arns).apply(lambda arns: writer_rule_spec(list(arns)))
            self.rules["writer-ended"] = self._rule(name, n, "writer-ended", writer_spec, args.recovery_arn, role)
        self.register_outputs({"rules": {k: r.name for k, r in self.rules.items()}})

    def _rule(
        self, name: str, n: Namer, trigger: str, spec: pulumi.Output[RuleSpec], target_arn: pulumi.Input[str],
        role: aws.iam.Role,
    ) -> aws.cloudwatch.EventRule:
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(
            f"{name}-{trigger}",
            name=n(f"safety-net-{trigger}", Kind.GENERIC),
            description=spec.apply(lambda x: f"payments {n.suffix}: {x.description}"),
            event_pattern=spec.apply(lambda x: json.dumps(x.pattern)),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{trigger}-target",
            rule=rule.name,
            arn=target_arn,
            role_arn=role.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=spec.apply(lambda x: x.input_paths),
                input_template=spec.apply(lambda x: x.input_template),
            ),
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=20
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dead_letters.arn),
            opts=child,
        )
        return rule
