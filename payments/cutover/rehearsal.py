"""``invoke rehearse``: the planned migration machines, executed in the embedded emulator.

Everything that runs is taken from the offline plan, never rebuilt: the state machine definitions (each machine's
``definition`` input) and the safety net's EventBridge rules (their event patterns and input transformers).
Stand-ins for what they act on are created from the planned outputs of the upstream layers: the load balancer and
HTTPS listener (HTTP in the emulator: no certificate), the legacy/blue/green target groups with healthy targets,
the ECS cluster and services, the gate (a metric alarm standing in for the composite), its member alarms and the
DMS-latency alarm, the phase and run parameters, and the alarm topic (with a queue subscribed, so notices can be
read back).

The executions run on the emulator's virtual clock: a rehearsal takes the configured waits (a 900 s bake is a
900 s bake on the timeline) in no real time.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from payments.core.errors import UserError
from payments.cutover import emulator, execution
from payments.layers.migration.machines import Targets
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.schedule import Pool

SFN_TYPE = "aws:sfn/stateMachine:StateMachine"
RULE_TYPE = "aws:cloudwatch/eventRule:EventRule"
RULE_TARGET_TYPE = "aws:cloudwatch/eventTarget:EventTarget"
#: Short waits for tests (seconds); the definition reads them from the input.
FAST = {"bakeSeconds": 0, "pollSeconds": 1, "holdSeconds": 0, "maxPolls": 3}
LEGACY_IPS = ("10.200.0.10", "10.200.0.11")  #: on-prem app servers stand-ins
TASK_IPS = {"blue": ("10.20.10.10", "10.20.11.10"), "green": ("10.20.10.20", "10.20.11.20")}


@dataclasses.dataclass(frozen=True)
class Rule:
    """A planned EventBridge rule and its one target, as the emulator installs them."""

    name: str
    pattern: str
    target_arn: str
    input_paths: Mapping[str, str]
    input_template: str


@dataclasses.dataclass(frozen=True)
class Planned:
    """What a rehearsal takes from the offline plan."""

    targets: Targets
    initial_weights: dict[str, int]
    machines: dict[str, tuple[str, str]]  #: role -> (name, definition)
    rules: tuple[Rule, ...]
    defaults: dict[str, Any]

    @property
    def cutover_definition(self) -> str:
        return self.machines["cutover"][1]

    @property
    def rollback_definition(self) -> str:
        return self.machines["rollback"][1]


@dataclasses.dataclass
class StandIns:
    """The emulated resources the machines act on, and how to read, poke and reset them."""

    session: emulator.Session
    targets: Targets
    queue_url: str
    task_definition_arn: str | None
    initial_weights: dict[str, int]
    machine_arns: dict[str, str] = dataclasses.field(default_factory=dict)

    def reset(self) -> None:
        """Everything back to how :func:`create_standins` left it, for the next execution in the same session."""
        self.session.reset()
        self.set_weights(self.initial_weights)
        # Only what an execution changed is put back: one question per service instead of a call per item (the
        # fault sweep resets before each of its ~300 executions).
        cloudwatch = self.client("cloudwatch")
        alarms = cloudwatch.describe_alarms(AlarmNames=self._alarms(), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for alarm in alarms["MetricAlarms"] + alarms["CompositeAlarms"]:
            if alarm["StateValue"] != "OK":
                cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="reset")
        ssm = self.client("ssm")
        wanted = {self.targets.phase_parameter_name: "parallel-run", self.targets.run_parameter_name: "none"}
        found = {p["Name"]: p["Value"] for p in ssm.get_parameters(Names=list(wanted))["Parameters"]}
        for name, value in wanted.items():
            if found.get(name) != value:
                ssm.put_parameter(Name=name, Value=value, Overwrite=True)
        self.notices()  # read and deleted (SQS allows one PurgeQueue a minute)
        if self.targets.cluster_name:
            from moto.ecs.models import ecs_backends

            backend = ecs_backends[emulator.ACCOUNT_ID][self.region]
            for pool, name in self.targets.service_names.items():
                if f"{self.targets.cluster_name}:{name}" not in backend.services:
                    self.client("ecs").create_service(
                        cluster=self.targets.cluster_name,
                        serviceName=name,
                        taskDefinition=self.task_definition_arn,
                        desiredCount=_initial_count(pool),
                    )
                service = backend.services[f"{self.targets.cluster_name}:{name}"]
                service.task_definition = self.task_definition_arn
                service.desired_count = service.running_count = _initial_count(pool)
                for deployment in service.deployments[:1]:
                    deployment.update(
                        {"taskDefinition": self.task_definition_arn, "rolloutState": "COMPLETED", "status": "PRIMARY"}
                    )
                del service.deployments[1:]
        if self.targets.dms_task_arn:
            from moto.dms.models import dms_backends

            dms_backends[emulator.ACCOUNT_ID][self.region].replication_tasks[self.targets.dms_task_arn].status = "ready"

    def _alarms(self) -> list[str]:
        names = [self.targets.gate_alarm_name, *self.targets.gate_members]
        names += [self.targets.dms_latency_alarm_name] if self.targets.dms_latency_alarm_name else []
        return list(dict.fromkeys(names))

    @property
    def region(self) -> str:
        return self.session.region

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def weights(self) -> dict[str, int]:
        return execution.listener_weights(
            self.client("elbv2"), self.targets.listener_arn, self.targets.target_group_arns
        )

    def set_weights(self, weights: Mapping[str, int]) -> None:
        groups = [
            {"TargetGroupArn": arn, "Weight": int(weights.get(pool, 0))}
            for pool, arn in self.targets.target_group_arns.items()
        ]
        self.client("elbv2").modify_listener(
            ListenerArn=self.targets.listener_arn,
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
        )

    def phase(self) -> str:
        return str(self.client("ssm").get_parameter(Name=self.targets.phase_parameter_name)["Parameter"]["Value"])

    def set_gate(self, state: str, reason: str = "rehearsal", member: str | None = None) -> None:
        """The gate (and, named, one of its members) goes to `state`."""
        cloudwatch = self.client("cloudwatch")
        if member:
            cloudwatch.set_alarm_state(AlarmName=member, StateValue=state, StateReason=reason)
        cloudwatch.set_alarm_state(AlarmName=self.targets.gate_alarm_name, StateValue=state, StateReason=reason)

    def set_dms_latency(self, state: str) -> None:
        assert self.targets.dms_latency_alarm_name
        self.client("cloudwatch").set_alarm_state(
            AlarmName=self.targets.dms_latency_alarm_name, StateValue=state, StateReason="rehearsal"
        )

    def pool_dies(self, pool: str) -> None:
        """Every target of `pool` fails its health checks (the VPN down, the servers stopped)."""
        self.session.elbv2.fail_health(self.targets.target_group_arns[pool])

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


def _alarm(cloudwatch: Any, name: str, topic: str) -> None:
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
                desiredCount=_initial_count(pool),
            )

    cloudwatch = session.client("cloudwatch")
    sns = session.client("sns")
    topic = sns.create_topic(Name=targets.topic_arn.rsplit(":", 1)[-1])["TopicArn"]
    if topic != targets.topic_arn:
        raise UserError(
            f"emulated topic {topic} differs from the planned {targets.topic_arn}. "
            "Fix: plan with the emulator's account"
        )
    standins = StandIns(session, targets, "", task_definition_arn, dict(initial_weights))
    # moto has no composite alarms: the gate's stand-in is a metric alarm with the planned name.
    for name in standins._alarms():
        _alarm(cloudwatch, name, topic)
    if targets.dms_latency_alarm_name and not dms_in_sync:
        cloudwatch.set_alarm_state(
            AlarmName=targets.dms_latency_alarm_name,
            StateValue="ALARM",
            StateReason="rehearsal: CDC latency above threshold",
        )

    ssm = session.client("ssm")
    ssm.put_parameter(Name=targets.phase_parameter_name, Value="parallel-run", Type="String")
    ssm.put_parameter(Name=targets.run_parameter_name, Value="none", Type="StringList")
    sqs = session.client("sqs")
    standins.queue_url = sqs.create_queue(QueueName="rehearsal-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=standins.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
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
    return standins


def _initial_count(pool: str) -> int:
    """Tasks each stand-in service runs before a cutover: blue serves, green is idle."""
    return 2 if pool == Pool.BLUE.value else 0


def create_state_machine(session: emulator.Session, definition: str | dict[str, Any], name: str) -> str:
    sfn = session.client("stepfunctions")
    body = definition if isinstance(definition, str) else json.dumps(definition)
    return str(
        sfn.create_state_machine(
            name=name, definition=body, roleArn=f"arn:aws:iam::{emulator.ACCOUNT_ID}:role/{name}-role", type="STANDARD"
        )["stateMachineArn"]
    )


def install_rules(session: emulator.Session, rules: tuple[Rule, ...]) -> None:
    """The safety net's EventBridge rules, exactly as planned."""
    events = session.client("events")
    for rule in rules:
        events.put_rule(Name=rule.name, EventPattern=rule.pattern, State="ENABLED")
        events.put_targets(
            Rule=rule.name,
            Targets=[
                {
                    "Id": "rollback",
                    "Arn": rule.target_arn,
                    "RoleArn": f"arn:aws:iam::{emulator.ACCOUNT_ID}:role/safety-net",
                    "InputTransformer": {"InputPathsMap": dict(rule.input_paths), "InputTemplate": rule.input_template},
                }
            ],
        )


def rules_for(targets: Targets) -> tuple[Rule, ...]:
    """The safety net's rules for `targets` (tests that build targets by hand; a plan carries its own)."""
    from payments.layers.migration.safety_net import rule_specs

    gate_arn = f"arn:aws:cloudwatch:{emulator.REGION}:{emulator.ACCOUNT_ID}:alarm:{targets.gate_alarm_name}"
    return tuple(
        Rule(
            f"safety-net-{spec.trigger}",
            json.dumps(spec.pattern),
            targets.machine_arns["rollback"],
            spec.input_paths,
            spec.input_template,
        )
        for spec in rule_specs(targets.machine_arns["cutover"], gate_arn)
    )


def install(session: emulator.Session, planned: Planned, **standin_options: Any) -> StandIns:
    """Stand-ins, every planned state machine (under its planned name) and the safety net's rules."""
    standins = create_standins(session, planned.targets, planned.initial_weights, **standin_options)
    for role, (name, definition) in planned.machines.items():
        standins.machine_arns[role] = create_state_machine(session, definition, name)
        if standins.machine_arns[role] != planned.targets.machine_arns[role]:
            raise UserError(
                f"emulated state machine {standins.machine_arns[role]} differs from the planned "
                f"{planned.targets.machine_arns[role]}. Fix: plan with the emulator's account"
            )
    install_rules(session, planned.rules)
    return standins


def run(
    standins: StandIns,
    state_machine_arn: str,
    payload: Mapping[str, Any],
    *,
    fail_at: int | None = None,
    on_step: Callable[[execution.Step], None] | None = None,
) -> execution.Outcome:
    """Run an execution to its end, and whatever it set off (the safety net) to theirs.

    With `fail_at`, the gate goes to ALARM once that step's weights are set. The execution runs on the session's
    virtual clock. States are shown live through `on_step`; the outcome is read once everything has settled.
    """
    session = standins.session
    if on_step is not None:
        session.control.every_state(
            lambda entered: on_step(execution.step_of(entered.state, entered.at, entered.raw_input))
        )
    if fail_at is not None:
        alarm_at_step(standins, fail_at)
    sfn = standins.client("stepfunctions")
    # Always named: moto gives every unnamed execution the same name.
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=f"rehearsal-{uuid.uuid4().hex[:12]}", input=json.dumps(dict(payload))
    )["executionArn"]
    session.wait(arn)
    session.settle()
    return execution.outcome(sfn, arn, execution.steps_of(execution.events(sfn, arn)), standins.weights())


def alarm_at_step(standins: StandIns, percent: int, after_seconds: int = 0) -> None:
    """The gate goes to ALARM `after_seconds` into the bake of the step that puts `percent` on the target."""

    def check(entered: emulator.Entered) -> None:
        weights = ((entered.input().get("traffic") or {}).get("weights")) or {}
        if weights.get("target") == percent:
            member = next(iter(standins.targets.gate_members), None)

            def alarm() -> None:
                standins.set_gate("ALARM", f"rehearsal: fault at {percent}%", member)

            if after_seconds:
                standins.session.control.after(after_seconds, alarm)
            else:
                alarm()  # now: the bake's first gate reading sees it

    standins.session.control.when_entered("Bake", check, once=False)


# --- from the offline plan -------------------------------------------------------------


def from_plan(env: str, console: Console | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Planned:
    """Plan `env` offline and pick out the state machines, the safety net and the upstream outputs they act on."""
    from payments.core.environment import load_environment
    from payments.layers.migration.workflow import targets_from_outputs
    from payments.plan.engine import plan_environment

    layers = ["edge", "app", "observability", "migration"]
    if console:
        with console.status(f"planning {env} offline…"):
            plan = plan_environment(env, layers, overrides=overrides)
    else:
        plan = plan_environment(env, layers, overrides=overrides)
    outputs = {lp.name: lp.values for lp in plan.layers}
    migration = plan.layer("migration")
    by_name = {r.inputs.get("name"): r.inputs for r in migration.resources if r.type == SFN_TYPE}
    cutover_arn = migration.values["cutoverStateMachineArn"]
    names = MigrationNames(load_environment(env).suffix, emulator.REGION, cutover_arn.split(":")[4])
    machines: dict[str, tuple[str, str]] = {}
    for role in names.all_machine_arns:
        name = names.machine(role)
        if name in by_name:
            machines[role] = (name, by_name[name]["definition"])
        elif role in names.machine_arns:  # the writer machines exist only with the database stage
            raise UserError(f"the {env} plan has no state machine named {name}. Fix: check the migration layer")
    cutover_doc = json.loads(machines["cutover"][1])
    targets = targets_from_outputs(
        outputs,
        names,
        dms_latency_alarm_name=_latency_alarm(cutover_doc),
        dms_task_arn=migration.values.get("dmsTaskArn"),
        writer="switchover" in machines,
    )
    initial = {k: int(v) for k, v in (outputs["edge"].get("initialWeights") or {}).items()}
    return Planned(targets, initial, machines, _rules(migration), cutover_doc["States"]["Defaults"]["Result"])


def _rules(migration: Any) -> tuple[Rule, ...]:
    rules = {r.inputs["name"]: r.inputs for r in migration.resources if r.type == RULE_TYPE}
    found = []
    for target in (r.inputs for r in migration.resources if r.type == RULE_TARGET_TYPE):
        transformer = target.get("inputTransformer") or {}
        rule = rules[target["rule"]]
        found.append(
            Rule(
                rule["name"],
                rule["eventPattern"],
                target["arn"],
                transformer.get("inputPaths") or {},
                transformer.get("inputTemplate") or "",
            )
        )
    return tuple(found)


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


# --- invoke rehearse --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What a rehearsal injects, and so what it must end with."""

    fail_at: int | None = None  #: the gate goes to ALARM at this step
    alarm_during_bake: bool = False  #: ... halfway through that step's bake instead of at its start
    stop_at: str | None = None  #: a person stops the execution in this state

    def expected(self, planned: Planned, result: execution.Outcome, stopped: bool) -> tuple[str, dict[str, int]]:
        """What must have happened: a description, and the weights traffic must end with."""
        source, target = planned.defaults["sourcePool"], planned.defaults["targetPool"]

        def only(pool: str) -> dict[str, int]:
            return {p.value: 100 if p.value == pool else 0 for p in Pool}

        completed = "RecordComplete" in [s.name for s in result.steps]
        if self.fail_at is not None:
            when = "halfway through its bake" if self.alarm_during_bake else "as its weights were set"
            return f"the gate alarm at {self.fail_at}% ({when}) rolled back to {source}", only(source)
        if self.stop_at is not None and stopped and not completed:
            return f"the stop at {self.stop_at} left 100% on {source} (the safety net put traffic back)", only(source)
        if self.stop_at is not None and stopped:
            return f"the stop at {self.stop_at}, after completion, left 100% on {target}", only(target)
        return f"the cutover completed: 100% on {target}", only(target)


def rehearse(env: str, scenario: Scenario, console: Console) -> tuple[execution.Outcome, str | None]:
    """Plan `env`, run its cutover in the emulator with `scenario` injected; return the outcome and, when the
    outcome is not the expected one, what went wrong (None when the rehearsal passed)."""
    from payments.layers.migration.settings import for_environment

    steps = list(for_environment(env).traffic_steps)  # checked before planning: a wrong step is one line at once
    if scenario.fail_at is not None and scenario.fail_at not in steps:
        raise UserError(
            f"--fail-at {scenario.fail_at}: not a step of the {env} schedule {','.join(map(str, steps))}. "
            f"Fix: use one of {', '.join(map(str, steps))}"
        )
    planned = from_plan(env, console)
    states = execution.state_names(json.loads(planned.cutover_definition))
    if scenario.stop_at is not None and scenario.stop_at not in states:
        raise UserError(
            f"--stop-at {scenario.stop_at}: no such state in the {env} cutover. Fix: use one of "
            + ", ".join(sorted(execution.MEANING.keys() & states))
        )
    with emulator.emulator() as session:
        standins = install(session, planned)
        payload: dict[str, Any] = {}
        if standins.task_definition_arn:
            payload["taskDefinition"] = standins.task_definition_arn
        console.print(
            Text.assemble(
                ("rehearsal", "bold"),
                f" of {planned.machines['cutover'][0]} in the embedded emulator "
                f"({planned.defaults.get('sourcePool')} -> {planned.defaults.get('targetPool')}, steps "
                f"{','.join(map(str, steps))}%, bake {planned.defaults.get('bakeSeconds')} s read every "
                f"{planned.defaults.get('pollSeconds')} s, on a virtual clock)",
            )
        )
        console.print(Text(f"  start weights: {_weights_text(standins.weights())}"))
        if scenario.fail_at is not None:
            bake = int(planned.defaults.get("bakeSeconds") or 0)
            alarm_at_step(standins, scenario.fail_at, bake // 2 if scenario.alarm_during_bake else 0)
        if scenario.stop_at is not None:
            session.control.stop_at(scenario.stop_at, cause="rehearsal: stopped by a person")
        first: list[Any] = []
        machine_of = {arn: role for role, arn in standins.machine_arns.items()}

        def show(entered: emulator.Entered) -> None:
            if not first:
                first.append(entered.at)
            role = machine_of.get(entered.execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:"))
            step = execution.step_of(entered.state, entered.at, entered.raw_input)
            execution.print_step(console, first[0], step, machine=None if role == "cutover" else role)

        session.control.every_state(show)
        result = run(standins, standins.machine_arns["cutover"], payload)
        execution.print_outcome(console, result, standins.phase())
        for started in session.events.delivered:
            console.print(
                Text(f"  safety net: {started['rule']} started the rollback ({started['input'].get('trigger')})")
            )
        for notice in standins.notices():
            console.print(Text(f"  notice: {notice['subject']}: {notice['message']}"))
        stopped = scenario.stop_at is not None and scenario.stop_at in session.control.fired
    what, expected_weights = scenario.expected(planned, result, stopped)
    problem = None
    if result.weights != expected_weights:
        problem = f"expected {_weights_text(expected_weights)}, got {_weights_text(result.weights)}"
    if problem is None and scenario.stop_at is None and scenario.fail_at is None and not result.succeeded:
        problem = f"the execution ended {result.status} ({result.error})"
    verdict = f"rehearsal passed: {what}" if problem is None else f"rehearsal FAILED: {what} was expected; {problem}"
    console.print(Text(verdict, style="green" if problem is None else "red"))
    return result, problem


def _weights_text(weights: Mapping[str, int]) -> str:
    return ", ".join(f"{pool} {w}%" for pool, w in weights.items())
