"""The state-machine driver: the machines move the lab's traffic and its writer, through the lab bridge.

The environment is planned offline once per process (:func:`planned`), and its state-machine definitions and
safety-net rules are installed in an emulator session exactly as the rehearsal installs them
(:func:`payments.cutover.rehearsal.install`): nothing in a definition changes for the lab. The session runs on a
:class:`~payments.cutover.emulator.WallClock`, so the machines' Waits pass in real time while payments flow:
scaled so that one planned bake lasts the run's bake (``--quick``: dev's 240 s bake in 2 s, its 15 s poll in
0.125 s), and at the environment's own pace otherwise. :class:`~payments.cutover.emulator.lab_bridge.LabBridge`
mirrors their AWS calls onto the lab.

Which steps run through machines: every step of every scenario that must lose nothing — traffic (the cutover
machine; the rollback machine for an operator's rollback, and as the safety net), and the writer (the switchover,
fallback and finish machines; writer-recovery as their safety net). The writer machines are built by the
migration layer's functions from the plan's targets and their stand-ins (:mod:`payments.cutover.writer_rehearsal`)
until the plan holds them; their pause runs at its own scale (the planned ``maxWritePauseSeconds`` lasts the run's
bound). The breaking scenarios' switchover stays :mod:`payments.lab.manual`'s: a definition is never changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from payments.core.environment import load_environment
from payments.cutover import emulator, execution, rehearsal, writer_rehearsal
from payments.cutover.emulator.lab_bridge import LabBridge, Wiring
from payments.cutover.writer_rehearsal import WriterStandIns
from payments.lab import manual
from payments.lab.lab import Lab
from payments.lab.process import LabError
from payments.lab.proxy import POOLS
from payments.lab.scenarios import Scenario, Timing
from payments.layers.migration.machines.moves import POLL_RANGE
from payments.layers.migration.machines.targets import WriterTargets
from payments.layers.migration.names import WRITER_ROLES, MigrationNames
from payments.layers.migration.safety_net import writer_rule_spec
from payments.layers.migration.settings import for_environment

#: Gate readings per bake in a quick run (through the execution input; the definition is unchanged).
QUICK_READS_PER_BAKE = 4
SAFE = manual.Safeguards()  #: every safeguard on: what the planned switchover does
#: The app NACL's ALLOW entry the fences sit below (the network layer's; the stand-in NACL has none).
NETWORK_ALLOW_RULE = 100
#: A state of the switchover inside the pause, after the old writer is fenced: where faults are injected.
PAUSED_STATE = "StartPauseWaits"
#: Real seconds an execution may take beyond its scaled waits before the run reports it hung.
MARGIN_SECONDS = 60.0


@functools.lru_cache(maxsize=4)
def planned(env: str) -> rehearsal.Planned:
    """`env`'s machines, rules and targets from the offline plan (about 10 s; once per process)."""
    return rehearsal.from_plan(env)


def wiring_for(plan: rehearsal.Planned, timing: Timing, writer: WriterTargets) -> Wiring:
    """The AWS names the bridge mirrors: the plan's targets, and the writer machines' (pause rule, DMS tasks,
    the DB indirection and its two values, the app NACL and each database's networks and port)."""
    targets = plan.targets
    return Wiring(
        listener_arn=targets.listener_arn,
        target_groups=dict(targets.target_group_arns),
        gate_alarm=targets.gate_alarm_name,
        gate_members=tuple(targets.gate_members),
        gate_threshold=timing.gate_threshold,
        write_pause_rule_arn=writer.pause_rule_arn,
        replication_tasks={writer.forward_task_arn: "forward", writer.reverse_task_arn: "reverse"},
        dms_latency_alarm=writer.forward_latency_alarm_name or targets.dms_latency_alarm_name,
        writer_record=writer.indirection_name,
        record_targets={writer.onprem_name: "onprem", writer.aurora_endpoint: "aws"},
        network_acl_id=writer.nacl_id,
        database_networks={"onprem": writer.onprem_fence.cidrs, "aws": writer.aurora_fence.cidrs},
        database_ports={"onprem": writer.onprem_fence.port, "aws": writer.aurora_fence.port},
    )


class Machines:
    """An emulator session on the wall clock with the planned machines installed and the bridge on (open it with
    :func:`machines`)."""

    def __init__(self, lab: Lab, plan: rehearsal.Planned, timing: Timing, session: emulator.Session) -> None:
        self.lab = lab
        self.plan = plan
        self.timing = timing
        self.session = session
        self.scale = scale_of(plan, timing)
        self.settings = for_environment(plan.targets.environment)
        #: the write pause's scale: the planned maxWritePauseSeconds lasts the run's bound (quick: 300 s in 10 s)
        self.pause_scale = timing.max_write_pause_seconds / float(self.settings.max_write_pause_seconds)
        self.executions: list[dict[str, Any]] = []  #: each execution: machine, status, error, states entered
        self.standins = rehearsal.install(session, plan)
        self._align_targets()
        self.writer = self._install_writer()
        self.bridge = LabBridge(session, lab, wiring_for(plan, timing, self.writer.targets))
        self.bridge.check_agrees()

    def _install_writer(self) -> WriterStandIns:
        """The writer machines, built by the migration layer's own functions from the plan's targets and the
        writer's stand-ins (the plan does not hold them until the upstream layers export what they act on), their
        safety net's rule, and stand-ins as the lab starts: on-prem the writer, Aurora fenced, writes not paused."""
        plan, session = self.plan, self.session
        names = MigrationNames(load_environment(plan.targets.environment).suffix, emulator.REGION,
                               emulator.ACCOUNT_ID)
        forward = plan.targets.dms_task_arn or self._forward_task(names.suffix)
        writer = writer_rehearsal.create_writer_standins(session, names, plan.targets.listener_arn, forward)
        w = writer.targets
        # The network layer's ALLOW entries on the app NACL, above which the fences deny (lowest number first).
        session.client("ec2").create_network_acl_entry(
            NetworkAclId=w.nacl_id, RuleNumber=NETWORK_ALLOW_RULE, Protocol="-1", RuleAction="allow", Egress=True,
            CidrBlock="0.0.0.0/0")
        writer.reset(writer="onprem", fence=tuple(rule for rule, _ in w.aurora_fence.entries()))
        targets = dataclasses.replace(plan.targets, machine_arns=names.all_machine_arns)
        definitions = writer_rehearsal.writer_definitions(targets, w, self.settings)
        for role in WRITER_ROLES:
            self.standins.machine_arns[role] = rehearsal.create_state_machine(session, definitions[role],
                                                                              names.machine(role))
        spec = writer_rule_spec([self.standins.machine_arns[r] for r in ("switchover", "fallback", "finish")])
        rehearsal.install_rules(session, (rehearsal.Rule(
            f"safety-net-{spec.trigger}", json.dumps(spec.pattern), self.standins.machine_arns["writer-recovery"],
            spec.input_paths, spec.input_template),))
        return writer

    def _forward_task(self, suffix: str) -> str:
        """The forward DMS task's stand-in, when the plan has none (dev plans no DMS source)."""
        dms = self.session.client("dms")
        region, account = self.session.region, emulator.ACCOUNT_ID
        created = dms.create_replication_task(
            ReplicationTaskIdentifier=f"dms-forward-{suffix}",
            SourceEndpointArn=f"arn:aws:dms:{region}:{account}:endpoint:ONPREM",
            TargetEndpointArn=f"arn:aws:dms:{region}:{account}:endpoint:AURORA",
            ReplicationInstanceArn=f"arn:aws:dms:{region}:{account}:rep:INSTANCE",
            MigrationType="full-load-and-cdc", TableMappings=json.dumps({"rules": []}),
        )["ReplicationTask"]["ReplicationTaskArn"]
        emulator.pin_dms_task(created, created, region)
        return str(created)

    def _align_targets(self) -> None:
        """One registered target per lab instance of each pool, in order (target n stands for ``<pool>-n``)."""
        elbv2 = self.session.client("elbv2")
        for pool, arn in self.plan.targets.target_group_arns.items():
            ids = self.bridge_target_ids(arn)
            count = sum(1 for i in self.lab.instances if i.pool == pool)
            if ids[count:]:
                elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": t} for t in ids[count:]])
            base = 10 + POOLS.index(pool) if pool in POOLS else 90
            extra = [{"Id": f"10.250.{base}.{n}", "Port": 8080} for n in range(len(ids) + 1, count + 1)]
            if extra:
                elbv2.register_targets(TargetGroupArn=arn, Targets=extra)

    def bridge_target_ids(self, arn: str) -> list[str]:
        from moto.elbv2.models import elbv2_backends

        return list(elbv2_backends[emulator.ACCOUNT_ID][self.session.region].target_groups[arn].targets)

    def _budget(self, steps: int) -> float:
        """Real seconds an execution may legitimately take: its waits, scaled, plus a margin."""
        d = self.plan.defaults
        poll = float(d.get("pollSeconds") or 1)
        virtual = steps * (float(d["bakeSeconds"]) + poll) + float(d.get("holdSeconds") or 0)
        virtual += 2 * float(d.get("maxPolls") or 1) * poll
        return virtual * self.scale + MARGIN_SECONDS

    def _pause_budget(self) -> float:
        """Real seconds a writer machine may take: its hold, and its pause many times over, scaled, plus a margin."""
        virtual = float(self.settings.switchover_hold_seconds) + 4 * float(self.settings.max_write_pause_seconds)
        return virtual * self.pause_scale + MARGIN_SECONDS

    def run(self, role: str, payload: dict[str, Any], steps: int = 1) -> execution.Outcome:
        """Start the `role` machine with `payload`, wait for it and whatever it set off (the safety net); each
        execution, the safety net's too, is recorded in :attr:`executions`."""
        writer_role = role in WRITER_ROLES
        assert isinstance(self.session.clock, emulator.WallClock)
        self.session.clock.set_scale(self.pause_scale if writer_role else self.scale)
        sfn = self.session.client("stepfunctions")
        delivered = len(self.session.events.delivered)
        arn = sfn.start_execution(stateMachineArn=self.standins.machine_arns[role], name=f"lab-{uuid.uuid4().hex[:12]}",
                                  input=json.dumps(payload))["executionArn"]
        budget = self._budget(steps) if not writer_role else self._pause_budget()
        self.session.wait(arn, timeout=budget)
        self.session.settle(timeout=budget)
        result = self._record(role, arn)
        for started in self.session.events.delivered[delivered:]:
            self._record(f"{self._role_of(started['executionArn'])} (safety net: {started['rule']})",
                         started["executionArn"])
        if self.bridge.errors:
            raise LabError(f"the lab could not mirror the {role} machine's calls: {'; '.join(self.bridge.errors)}")
        return result

    def _role_of(self, execution_arn: str) -> str:
        machine = execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
        return next((role for role, arn in self.standins.machine_arns.items() if arn == machine), machine)

    def _record(self, machine: str, arn: str) -> execution.Outcome:
        sfn = self.session.client("stepfunctions")
        history = execution.events(sfn, arn)
        result = execution.outcome(sfn, arn, execution.steps_of(history), self.standins.weights())
        failed = [e["type"] for e in history if e["type"] in ("TaskFailed", "TaskTimedOut")]
        self.executions.append({
            "machine": machine, "status": result.status, "error": result.error, "states": len(result.steps),
            "tasksFailedOrTimedOut": len(failed),
            "seconds": round((history[-1]["timestamp"] - history[0]["timestamp"]).total_seconds(), 1),
            "weights": result.weights})
        return result

    def rolled_back_by_safety_net(self, since: int) -> bool:
        """Did the safety net's gate-alarm rule start a rollback that succeeded, among executions since `since`?"""
        return any(e["machine"].startswith("rollback (safety net") and "gate-alarm" in e["machine"]
                   and e["status"] == "SUCCEEDED" for e in self.executions[since:])


def scale_of(plan: rehearsal.Planned, timing: Timing) -> float:
    """Real seconds per planned second: one planned bake lasts the run's bake."""
    return timing.bake_seconds / float(plan.defaults["bakeSeconds"])


@contextlib.contextmanager
def machines(lab: Lab, plan: rehearsal.Planned, timing: Timing) -> Iterator[Machines]:
    """The planned machines in an emulator session on a scaled wall clock, their calls mirrored onto `lab`."""
    with emulator.emulator(clock=emulator.WallClock(scale_of(plan, timing))) as session, \
            contextlib.ExitStack() as stack:
        m = Machines(lab, plan, timing, session)
        for patch in m.bridge.patches():
            stack.enter_context(patch)
        stack.enter_context(m.bridge.feeding())
        yield m


class MachineSteps(manual.ManualSteps):
    """:class:`payments.lab.manual.Steps` through the machines: the cutover and the rollback machine move
    traffic, the switchover, fallback and finish machines move the writer. A switchover with a safeguard removed
    (the breaking scenarios) stays :class:`~payments.lab.manual.ManualSteps`': a definition is never changed for
    the lab."""

    def __init__(self, machines: Machines) -> None:
        self.machines = machines

    def cut_over(self, lab: Lab, timing: Timing, on_step: Callable[[int], None] | None = None) -> int | None:
        manual.wait_gate_ok(lab, timing, "blue")  # as an operator would: the machine refuses a gate not OK
        reached: list[int] = []

        def at_bake(entered: emulator.Entered) -> None:
            step = ((entered.input().get("traffic") or {}).get("weights") or {}).get("target")
            if isinstance(step, int) and (not reached or reached[-1] != step):
                reached.append(step)
                if on_step:
                    on_step(step)

        m = self.machines
        m.session.control.when_entered("Bake", at_bake, once=False)
        payload: dict[str, Any] = {"steps": list(timing.steps)}
        if timing.is_quick:  # the gate read 4 times a bake (dev's 15 s poll is 16 reads of 2 s): CPU, not cover
            bake = int(m.plan.defaults["bakeSeconds"])
            payload["pollSeconds"] = max(int(m.plan.defaults.get("pollSeconds") or 1), bake // QUICK_READS_PER_BAKE)
            # the hold after the last step (gate watched, source warm) as long as the run's hold
            payload["holdSeconds"] = max(payload["pollSeconds"], round(timing.hold_seconds / m.scale))
        if m.standins.task_definition_arn:
            payload["taskDefinition"] = m.standins.task_definition_arn
        since = len(m.executions)
        try:
            with lab.phase("app-cutover"):
                result = m.run("cutover", payload, steps=len(timing.steps))
        finally:
            m.session.control.reset()
        if result.succeeded and lab.weights().get("blue") == 100 and not lab.weights().get("legacy"):
            with lab.phase("app-on-aws"):
                time.sleep(timing.hold_seconds)  # 0 % on legacy for the configured hold
            return None
        rolled_back = lab.weights().get("legacy") == 100
        # The gate alarmed during that step's bake: the cutover rolled traffic back itself, or the safety net's
        # rule on the gate alarm stopped it and the rollback machine did (whichever came first).
        gate = "GateAlarm" in f"{result.error} {result.cause}" or (
            result.status == "ABORTED" and m.rolled_back_by_safety_net(since))
        if gate and reached and rolled_back:
            return reached[-1]
        raise LabError(f"the cutover machine ended {result.status} ({result.error}: {result.cause}); "
                       f"lab weights {lab.weights()}")

    def roll_back(self, lab: Lab) -> None:
        before = lab.weights()
        result = self.machines.run("rollback", {"trigger": "operator", "pool": "legacy"})
        if result.error == "DatabaseOnAws" and lab.weights() == before:
            raise manual.RefusedError(f"the rollback machine refused: {result.cause}")
        if not result.succeeded or lab.weights().get("legacy") != 100:
            raise LabError(f"the rollback machine ended {result.status} ({result.error}: {result.cause}); "
                           f"lab weights {lab.weights()}")


    # -- the writer ------------------------------------------------------------------------------------------

    def _writer_input(self, timing: Timing) -> dict[str, Any]:
        m = self.machines
        payload: dict[str, Any] = {"pollSeconds": POLL_RANGE[0]}
        if timing.is_quick:  # the hold on 0 % legacy, as long as the run's hold
            payload["holdSeconds"] = max(0, round(timing.hold_seconds / m.pause_scale))
        return payload

    def _move(self, lab: Lab, timing: Timing, role: str, phase: str,
              during_pause: Callable[[], None] | None = None, stop: bool = False) -> execution.Outcome:
        control = self.machines.session.control
        if during_pause:
            control.when_entered(PAUSED_STATE, lambda entered: during_pause())
        if stop:
            control.stop_at(PAUSED_STATE, cause="lab: a person stops the execution mid-pause")
        try:
            with lab.phase(phase):
                return self.machines.run(role, self._writer_input(timing))
        finally:
            control.reset()

    def switch_over(self, lab: Lab, timing: Timing, safeguards: manual.Safeguards = SAFE,
                    during_pause: Callable[[], None] | None = None) -> None:
        if safeguards != SAFE:
            super().switch_over(lab, timing, safeguards, during_pause)
            return
        result = self._move(lab, timing, "switchover", "db-switchover", during_pause)
        self._moved(lab, result, "aws")

    def fall_back(self, lab: Lab, timing: Timing) -> None:
        self._moved(lab, self._move(lab, timing, "fallback", "db-fallback"), "onprem")

    def _moved(self, lab: Lab, result: execution.Outcome, new: str) -> None:
        if result.succeeded and lab.writer() == new and not lab.write_paused:
            return
        old = "onprem" if new == "aws" else "aws"
        if not result.succeeded and lab.writer() == old and not lab.write_paused:
            raise manual.AbortedError(f"{result.error}: {result.cause}")
        raise LabError(f"the {'switchover' if new == 'aws' else 'fallback'} machine ended {result.status} "
                       f"({result.error}: {result.cause}); lab: {lab.summary()}")

    def stop_mid_pause(self, lab: Lab, timing: Timing) -> None:
        result = self._move(lab, timing, "switchover", "db-switchover", stop=True)
        recovered = [e for e in self.machines.executions if e["machine"] == "writer-recovery"]
        if result.status != "ABORTED" or lab.write_paused:
            raise LabError(f"the stopped switchover ended {result.status}; lab: {lab.summary()}")
        del recovered  # the recovery's own execution is listed with the run (machineExecutions)

    def complete(self, lab: Lab) -> None:
        with lab.phase("cutover-complete"):
            result = self.machines.run("finish", {})
        if not result.succeeded:
            raise LabError(f"the finish machine ended {result.status} ({result.error}: {result.cause})")


@dataclasses.dataclass
class MachineDriver:
    """Runs every scenario with its traffic moved by the planned machines (database steps: see the module)."""

    env: str = "dev"
    name: str = "machines"
    #: the last run's machine executions (machine, status, error, states entered), for the report
    executions: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def supports(self, scenario: Scenario) -> bool:
        return scenario.name in manual.SCENARIO_STEPS

    def run(self, lab: Lab, scenario: Scenario, timing: Timing) -> str:
        plan = planned(self.env)
        with machines(lab, plan, timing) as m:
            try:
                return manual.SCENARIO_STEPS[scenario.name](lab, timing, MachineSteps(m))
            finally:
                self.executions = list(m.executions)
