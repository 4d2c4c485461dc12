"""The cutover state machine, composed from its stages.

Shape (DESIGN.md section 6)::

    defaults + input -> waits and budget -> pools -> schedule -> task definition -> alone? -> listener 100 %
    on the source?
        any "no" here: Fail (InvalidInput, AnotherExecutionRunning, ListenerNotOnSource, ...): nothing changed
    read phase -> record the run -> record "cutover" -> database (DMS) -> application -> preflight
        any failure so far: Abort = phase restored, notice, Fail (the listener is never touched)
    traffic: for each step: set weights -> bake, the gate read every pollSeconds
        any alarm or error: Rollback = traffic back by the rule in .rollback, notice, Fail
    finalize: phase "app-on-aws" (traffic on the target; on-prem still the writer), notice, optional hold
        (gate watched) + scale the source to 0;
        bookkeeping failures after completion end SUCCEEDED with warnings

Endings no Catch sees (a person's StopExecution, States.Runtime, the history quota, the TimeoutSeconds below)
are caught by the safety net: an EventBridge rule starts the rollback machine (see .rollback and
payments/layers/migration/safety_net.py).

Each stage lives in its own module (:mod:`.inputs`, :mod:`.database`, :mod:`.application`, :mod:`.traffic`,
:mod:`.finalize`, :mod:`.rollback`) and builds its states from the vocabulary in :mod:`.asl`.
"""

from __future__ import annotations

from typing import Any

from payments.core.environment import AURORA_PHASES, MigrationPhase
from payments.layers.migration import budget
from payments.layers.migration.machines import inputs
from payments.layers.migration.machines.application import application
from payments.layers.migration.machines.asl import (
    States,
    equals,
    error,
    gate_check,
    lit,
    put_phase,
    running_elsewhere,
    sdk,
    task,
)
from payments.layers.migration.machines.database import database
from payments.layers.migration.machines.finalize import finalize
from payments.layers.migration.machines.rollback import cutover_abort_and_rollback
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.machines.traffic import traffic
from payments.layers.migration.schedule import CutoverInput


def _alone(targets: Targets, next_: str) -> States:
    """Every deployed machine of the migration (the writer machines too): a cutover runs beside none of them."""
    states = running_elsewhere(targets, "Alone", tuple(targets.machine_arns), alone=next_, busy="AnotherExecution")
    states["AnotherExecution"] = {
        "Type": "Fail",
        "Error": "AnotherExecutionRunning",
        "Cause": "another cutover or a rollback is running (or could not be listed); nothing was changed. Watch "
        "it to its end (invoke status --live), then start again",
    }
    return states


def _phase(targets: Targets) -> States:
    """Read the phase, record the run (what the safety net needs), then set the phase to "cutover"."""
    return {
        "ReadPhase": task(
            sdk("ssm", "getParameter"),
            {"Name": targets.phase_parameter_name},
            "WriterOnPrem",
            catch="PhaseUnreadable",
            result_path="$.phase",
            result_selector={"previous.$": "$.Parameter.Value"},
        ),
        "PhaseUnreadable": {
            "Type": "Fail",
            "Error": "PhaseUnreadable",
            "Cause": f"could not read {targets.phase_parameter_name}; nothing was changed",
        },
        # Traffic moves only while on-prem is the writer: the legacy pool writes on-prem, so with Aurora the
        # writer no traffic may ever reach it, and a rollback to it would be refused half way.
        "WriterOnPrem": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [equals("$.phase.previous", p.value) for p in sorted(AURORA_PHASES, key=lambda p: p.value)],
                    "Next": "DatabaseOnAws",
                }
            ],
            "Default": "RecordRun",
        },
        "DatabaseOnAws": {
            "Type": "Fail",
            "Error": "DatabaseOnAws",
            "Cause": "Aurora is the writer (or the database is moving): the traffic cutover runs only while on-prem is "
            "the writer; nothing was changed. With Aurora the writer, move traffic between blue and green with "
            f"invoke rollback --env {lit(targets.environment)} --pool <blue|green>; to go back to legacy, fall the "
            f"database back first: invoke fallback --env {lit(targets.environment)}",
        },
        "RecordRun": task(
            sdk("ssm", "putParameter"),
            {
                "Name": targets.run_parameter_name,
                "Overwrite": True,
                "Value.$": "States.Format('{},{},{},{},prepared', $$.Execution.Id, $.pools.source.name, "
                "$.pools.target.name, $.phase.previous)",
            },
            "RecordPhase",
            catch="RunUnrecorded",
            comment="execution, source, target, phase before, stage: how a rollback finds what this execution moved",
        ),
        "RunUnrecorded": {
            "Type": "Fail",
            "Error": "RunUnrecorded",
            "Cause": f"could not write the run record {targets.run_parameter_name}; nothing was changed",
        },
        "RecordPhase": put_phase(
            targets,
            MigrationPhase.APP_CUTOVER.value,
            "DescribeDmsTask" if targets.dms_task_arn else "TargetHasService",
            catch="Abort",
        ),
    }


def _preflight(targets: Targets) -> States:
    states = gate_check(
        targets,
        "Preflight",
        ok="RecordTraffic",
        not_ok="GateNotOkBeforeTraffic",
        on_error="Abort",
        when="before traffic moves",
    )
    # The last thing before traffic moves: the run record says traffic may move from now on.
    states["RecordTraffic"] = task(
        sdk("ssm", "putParameter"),
        {
            "Name": targets.run_parameter_name,
            "Overwrite": True,
            "Value.$": "States.Format('{},{},{},{},traffic', $$.Execution.Id, $.pools.source.name, "
            "$.pools.target.name, $.phase.previous)",
        },
        "StartTraffic",
        catch="Abort",
    )
    states["GateNotOkBeforeTraffic"] = error(
        "GateAlarm",
        None,
        "gate alarm {} is not OK; no traffic was moved",
        f"'{lit(targets.gate_alarm_name)}'",
        next_="Abort",
    )
    return states


def timeout_seconds() -> int:
    """Longer than the longest accepted input can legitimately run; past it, the safety net takes over."""
    waits = budget.MAX_STEPS * budget.MAX_BAKE_SECONDS + budget.MAX_HOLD_SECONDS
    polls = 2 * budget.MAX_POLLS * budget.MAX_POLL_SECONDS  # the DMS and the application waits
    return waits + polls + 3600


def cutover_definition(targets: Targets, defaults: CutoverInput) -> dict[str, Any]:
    """The cutover state machine; `defaults` fill whatever the execution input leaves out."""
    states: States = {}
    states.update(inputs.defaults(defaults, next_="CheckWaits"))
    states.update(inputs.check_waits(targets, next_="ResolvePools"))
    states.update(inputs.resolve_pools(targets, "CheckSchedule", "InvalidPools"))
    states.update(inputs.schedule(next_="CheckTaskDefinition"))
    states.update(inputs.check_task_definition(next_="Alone"))
    states.update(_alone(targets, next_="ReadListener"))
    states.update(inputs.check_listener(targets, next_="ReadPhase"))
    states.update(_phase(targets))
    if targets.dms_task_arn:
        states.update(database(targets, next_="TargetHasService"))
    states.update(application(targets, next_="Preflight"))
    states.update(_preflight(targets))
    states.update(traffic(targets, next_="Completing", rollback="Rollback"))
    states.update(finalize(targets, rollback="Rollback"))
    states.update(cutover_abort_and_rollback(targets))
    return {
        "Comment": f"payments {lit(targets.environment)}: move traffic from the source pool to the target pool, "
        "rolling back on any alarm",
        "StartAt": "Defaults",
        "TimeoutSeconds": timeout_seconds(),
        "States": states,
    }
