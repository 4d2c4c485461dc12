"""``invoke rehearse``: the planned cutover definition, executed in the embedded emulator.

The definition is taken from the offline plan (the migration layer's state
machine resource, its ``definition`` input), never rebuilt. Stand-ins for what
it acts on are created from the planned outputs of the upstream layers: the
load balancer and HTTPS listener (HTTP in the emulator: no certificate), the
legacy/blue/green target groups with healthy targets, the ECS cluster and
services, the gate and DMS-latency alarms, the phase parameter and the alarm
topic (with a queue subscribed, so notices can be read back). Waits are
shortened through the execution input, not the definition.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console

from payments.core.errors import UserError
from payments.cutover import emulator, execution
from payments.layers.migration.machines import Targets
from payments.layers.migration.schedule import Pool

SFN_TYPE = "aws:sfn/stateMachine:StateMachine"
#: Short waits for a rehearsal (seconds); the definition reads them from the input.
FAST = {"bakeSeconds": 1, "pollSeconds": 1, "holdSeconds": 1, "maxPolls": 3}
LEGACY_IPS = ("10.200.0.10", "10.200.0.11")  #: on-prem app servers stand-ins
TASK_IPS = {"blue": ("10.20.10.10", "10.20.11.10"), "green": ("10.20.10.20", "10.20.11.20")}


@dataclasses.dataclass
class StandIns:
    """The emulated resources a cutover acts on, and how to read and poke them."""

    session: emulator.Session
    targets: Targets
    queue_url: str
    task_definition_arn: str | None

    @property
    def region(self) -> str:
        return self.session.region

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def weights(self) -> dict[str, int]:
        return execution.listener_weights(
            self.client("elbv2"), self.targets.listener_arn, self.targets.target_group_arns
        )

    def phase(self) -> str:
        return self.client("ssm").get_parameter(Name=self.targets.phase_parameter_name)["Parameter"]["Value"]

    def set_gate(self, state: str, reason: str = "rehearsal") -> None:
        self.client("cloudwatch").set_alarm_state(
            AlarmName=self.targets.gate_alarm_name, StateValue=state, StateReason=reason
        )

    def set_dms_latency(self, state: str) -> None:
        assert self.targets.dms_latency_alarm_name
        self.client("cloudwatch").set_alarm_state(
            AlarmName=self.targets.dms_latency_alarm_name, StateValue=state, StateReason="rehearsal"
        )

    def notices(self) -> list[dict[str, str]]:
        """SNS notices published so far (subject, message)."""
        sqs = self.client("sqs")
        out: list[dict[str, str]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for msg in got:
                body = json.loads(msg["Body"])
                out.append({"subject": body.get("Subject", ""), "message": body.get("Message", "")})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])


def create_standins(
    session: emulator.Session,
    targets: Targets,
    initial_weights: Mapping[str, int],
    *,
    target_pools_ready: bool = True,
    dms_in_sync: bool = True,
    task_family: str = "payments-app",
) -> StandIns:
    """Create every stand-in inside the emulator session."""
    region = session.region
    ec2 = session.client("ec2")
    elbv2 = session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elbv2.create_load_balancer(Name="alb-rehearsal", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    for pool, planned_arn in targets.target_group_arns.items():
        group = elbv2.create_target_group(Name=f"tg-{pool}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        emulator.pin_target_group(group, planned_arn, region)
        ips = LEGACY_IPS if pool == Pool.LEGACY.value else (TASK_IPS[pool] if target_pools_ready else ())
        if ips:
            elbv2.register_targets(TargetGroupArn=planned_arn, Targets=[{"Id": ip, "Port": 8080} for ip in ips])
    forward = {
        "TargetGroups": [
            {"TargetGroupArn": arn, "Weight": int(initial_weights.get(pool, 0))}
            for pool, arn in targets.target_group_arns.items()
        ]
    }
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=443, DefaultActions=[{"Type": "forward", "ForwardConfig": forward}]
    )["Listeners"][0]
    emulator.pin_listener(listener["ListenerArn"], targets.listener_arn, region)

    task_definition_arn = None
    if targets.cluster_name:
        ecs = session.client("ecs")
        ecs.create_cluster(clusterName=targets.cluster_name)
        task_definition_arn = ecs.register_task_definition(
            family=task_family,
            containerDefinitions=[{"name": "app", "image": "payments:rehearsal", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        for pool, service in targets.service_names.items():
            ecs.create_service(
                cluster=targets.cluster_name,
                serviceName=service,
                taskDefinition=task_definition_arn,
                desiredCount=2 if pool == Pool.BLUE.value else 0,
            )

    cloudwatch = session.client("cloudwatch")
    sns = session.client("sns")
    topic = sns.create_topic(Name=targets.topic_arn.rsplit(":", 1)[-1])["TopicArn"]
    if topic != targets.topic_arn:
        raise UserError(
            f"emulated topic {topic} differs from the planned {targets.topic_arn}. "
            "Fix: plan with the emulator's account"
        )
    alarms = [targets.gate_alarm_name] + ([targets.dms_latency_alarm_name] if targets.dms_latency_alarm_name else [])
    for name in alarms:
        # moto has no composite alarms: the gate's stand-in is a metric alarm with the planned name.
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="Payments/Rehearsal",
            MetricName=name,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[topic],
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="rehearsal start")
    if targets.dms_latency_alarm_name and not dms_in_sync:
        cloudwatch.set_alarm_state(
            AlarmName=targets.dms_latency_alarm_name,
            StateValue="ALARM",
            StateReason="rehearsal: CDC latency above threshold",
        )

    ssm = session.client("ssm")
    ssm.put_parameter(Name=targets.phase_parameter_name, Value="parallel-run", Type="String")
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName="rehearsal-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    if targets.dms_task_arn:
        dms = session.client("dms")
        task_id = targets.dms_task_arn.rsplit(":", 1)[-1]
        created = dms.create_replication_task(
            ReplicationTaskIdentifier=task_id.lower(),
            SourceEndpointArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:endpoint:SOURCE",
            TargetEndpointArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:endpoint:TARGET",
            ReplicationInstanceArn=f"arn:aws:dms:{region}:{emulator.ACCOUNT_ID}:rep:INSTANCE",
            MigrationType="full-load-and-cdc",
            TableMappings=json.dumps({"rules": []}),
        )["ReplicationTask"]["ReplicationTaskArn"]
        emulator.pin_dms_task(created, targets.dms_task_arn, region)
    return StandIns(session, targets, queue_url, task_definition_arn)


def create_state_machine(session: emulator.Session, definition: str | dict[str, Any], name: str) -> str:
    sfn = session.client("stepfunctions")
    body = definition if isinstance(definition, str) else json.dumps(definition)
    return sfn.create_state_machine(
        name=name, definition=body, roleArn=f"arn:aws:iam::{emulator.ACCOUNT_ID}:role/{name}-role", type="STANDARD"
    )["stateMachineArn"]


def run(
    standins: StandIns,
    state_machine_arn: str,
    payload: Mapping[str, Any],
    *,
    fail_at: int | None = None,
    on_step: Callable[[execution.Step], None] | None = None,
) -> execution.Outcome:
    """Run an execution to its end; with `fail_at`, the gate goes to ALARM once that step's weights are set.

    The execution runs on the session's virtual clock: its waits are the ones it asks for, and cost no real
    time. States are shown live through `on_step`; the outcome is read once the execution has ended.
    """
    session = standins.session
    if on_step is not None:
        session.control.every_state(lambda entered: on_step(execution.step_of(entered.state, entered.at,
                                                                              entered.raw_input)))
    if fail_at is not None:
        alarm_at_step(standins, fail_at)
    sfn = standins.client("stepfunctions")
    # Always named: moto gives every unnamed execution the same name.
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=f"rehearsal-{uuid.uuid4().hex[:12]}", input=json.dumps(dict(payload))
    )["executionArn"]
    session.wait(arn)
    return execution.outcome(sfn, arn, execution.steps_of(execution.events(sfn, arn)), standins.weights())


def alarm_at_step(standins: StandIns, percent: int) -> None:
    """The gate alarm goes to ALARM as soon as the target pool's weight is set to `percent`."""

    def check(entered: emulator.Entered) -> None:
        weights = ((entered.input().get("traffic") or {}).get("weights")) or {}
        if weights.get("target") == percent:
            standins.set_gate("ALARM", f"rehearsal: fault injected at {percent}%")

    standins.session.control.when_entered("Bake", check, once=False)


# --- from the offline plan -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Planned:
    """What a rehearsal takes from the offline plan."""

    targets: Targets
    initial_weights: dict[str, int]
    cutover_name: str
    cutover_definition: str
    rollback_name: str
    rollback_definition: str
    defaults: dict[str, Any]


def from_plan(env: str, console: Console | None = None) -> Planned:
    """Plan `env` offline and pick out the state machines and the upstream outputs they act on."""
    from payments.layers.migration.workflow import targets_from_outputs
    from payments.plan.engine import plan_environment

    layers = ["edge", "app", "observability", "migration"]
    if console:
        with console.status(f"planning {env} offline…"):
            plan = plan_environment(env, layers)
    else:
        plan = plan_environment(env, layers)
    outputs = {lp.name: lp.values for lp in plan.layers}
    migration = plan.layer("migration")
    machines = {r.inputs.get("name"): r.inputs for r in migration.resources if r.type == SFN_TYPE}
    cutover_name = _physical(migration.values["cutoverStateMachineArn"])
    rollback_name = _physical(migration.values["rollbackStateMachineArn"])
    try:
        cutover_definition = machines[cutover_name]["definition"]
        rollback_definition = machines[rollback_name]["definition"]
    except KeyError:
        raise UserError(
            f"the {env} plan has no state machine named {cutover_name}/{rollback_name}. Fix: check the migration layer"
        ) from None
    cutover_doc = json.loads(cutover_definition)
    targets = targets_from_outputs(
        outputs,
        env,
        phase_parameter=migration.values["phaseParameterName"],
        dms_latency_alarm_name=_latency_alarm(cutover_doc),
        dms_task_arn=migration.values.get("dmsTaskArn"),
    )
    initial = {k: int(v) for k, v in (outputs["edge"].get("initialWeights") or {}).items()}
    return Planned(
        targets,
        initial,
        cutover_name,
        cutover_definition,
        rollback_name,
        rollback_definition,
        cutover_doc["States"]["Defaults"]["Result"],
    )


def _physical(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _latency_alarm(definition: dict[str, Any]) -> str | None:
    state = definition["States"].get("CheckDmsLatency")
    return state["Parameters"]["AlarmNames"][0] if state else None


def parse_fail_at(raw: int | str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise UserError(
            f"--fail-at '{raw}' is not a step percentage. Fix: use a step of the schedule, e.g. 50"
        ) from None


def rehearse(env: str, fail_at: int | str | None, console: Console) -> execution.Outcome:
    """Plan `env`, run its cutover definition in the embedded emulator, print the timeline and the final weights."""
    fail_at = parse_fail_at(fail_at)
    planned = from_plan(env, console)
    steps = planned.defaults.get("steps") or []
    if fail_at is not None and fail_at not in steps:
        raise UserError(
            f"--fail-at {fail_at}: not a step of the {env} schedule {','.join(map(str, steps))}. "
            f"Fix: use one of {', '.join(map(str, steps))}"
        )
    with emulator.emulator() as session:
        standins = create_standins(session, planned.targets, planned.initial_weights)
        arn = create_state_machine(session, planned.cutover_definition, planned.cutover_name)
        create_state_machine(session, planned.rollback_definition, planned.rollback_name)
        payload: dict[str, Any] = dict(FAST)
        if standins.task_definition_arn:
            payload["taskDefinition"] = standins.task_definition_arn
        console.print(
            f"[bold]rehearsal[/bold] of {planned.cutover_name} in the embedded emulator "
            f"({planned.defaults.get('sourcePool')} -> {planned.defaults.get('targetPool')}, "
            f"steps {','.join(map(str, steps))}%"
            + (f", gate alarm injected at {fail_at}%" if fail_at is not None else "")
            + ")"
        )
        console.print(f"  start weights: {_weights_text(standins.weights())}")
        first: list[Any] = []

        def show(step: execution.Step) -> None:
            if not first:
                first.append(step.at)
            execution.print_step(console, first[0], step)

        result = run(standins, arn, payload, fail_at=fail_at, on_step=show)
        execution.print_outcome(console, result, standins.phase())
        for notice in standins.notices():
            console.print(f"  notice: {notice['subject']}: {notice['message']}")
    return result


def _weights_text(weights: Mapping[str, int]) -> str:
    return ", ".join(f"{pool} {w}%" for pool, w in weights.items())
