"""The cutover state machine, composed from its stages.

Shape (DESIGN.md section 6)::

    defaults + input -> waits check -> pools -> schedule check -> listener 100 % on the source?
        any "no" here: Fail (InvalidInput, ListenerNotOnSource, ...): nothing changed
    read phase -> record "cutover" -> database (DMS) -> application -> preflight
        any failure so far: Abort = phase restored, notice, Fail (the listener is never touched)
    traffic: for each step: set weights -> bake -> gate OK?
        any alarm or error: Rollback = 100 % on the source pool, phase "rolled-back", notice, Fail
    finalize: phase "cutover-complete", notice, optional hold + gate + scale the source to 0

Each stage lives in its own module (:mod:`.inputs`, :mod:`.database`, :mod:`.application`, :mod:`.traffic`,
:mod:`.finalize`, :mod:`.rollback`) and builds its states from the vocabulary in :mod:`.asl`.
"""

from __future__ import annotations

from typing import Any

from payments.core.environment import MigrationPhase
from payments.layers.migration.machines import inputs
from payments.layers.migration.machines.application import application
from payments.layers.migration.machines.asl import States, error, gate_check, lit, put_phase, sdk, task
from payments.layers.migration.machines.database import database
from payments.layers.migration.machines.finalize import finalize
from payments.layers.migration.machines.rollback import cutover_abort_and_rollback
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.machines.traffic import traffic
from payments.layers.migration.schedule import CutoverInput


def _phase(targets: Targets) -> States:
    return {
        "ReadPhase": task(
            sdk("ssm", "getParameter"),
            {"Name": targets.phase_parameter_name},
            "RecordPhase",
            catch="PhaseUnreadable",
            result_path="$.phase",
            result_selector={"previous.$": "$.Parameter.Value"},
        ),
        "PhaseUnreadable": {
            "Type": "Fail",
            "Error": "PhaseUnreadable",
            "Cause": f"could not read {targets.phase_parameter_name}; nothing was changed",
        },
        "RecordPhase": put_phase(
            targets,
            MigrationPhase.CUTOVER.value,
            "DescribeDmsTask" if targets.dms_task_arn else "TargetHasService",
            catch="Abort",
        ),
    }


def _preflight(targets: Targets) -> States:
    states = gate_check(
        targets,
        "Preflight",
        ok="StartTraffic",
        not_ok="GateNotOkBeforeTraffic",
        on_error="Abort",
        when="before traffic moves",
    )
    states["GateNotOkBeforeTraffic"] = error(
        "GateAlarm",
        None,
        "gate alarm {} is not OK; no traffic was moved",
        f"'{lit(targets.gate_alarm_name)}'",
        next_="Abort",
    )
    return states


def cutover_definition(targets: Targets, defaults: CutoverInput) -> dict[str, Any]:
    """The cutover state machine; `defaults` fill whatever the execution input leaves out."""
    states: States = {}
    states.update(inputs.defaults(defaults, next_="CheckWaits"))
    states.update(inputs.check_waits(next_="ResolvePools"))
    states.update(inputs.resolve_pools(targets, "CheckSchedule", "InvalidPools"))
    states.update(inputs.schedule(next_="ReadListener"))
    states.update(inputs.check_listener(targets, next_="ReadPhase"))
    states.update(_phase(targets))
    if targets.dms_task_arn:
        states.update(database(targets, next_="TargetHasService"))
    states.update(application(targets, next_="Preflight"))
    states.update(_preflight(targets))
    states.update(traffic(targets, next_="RecordComplete", rollback="Rollback"))
    states.update(finalize(targets, rollback="Rollback"))
    states.update(cutover_abort_and_rollback(targets))
    return {
        "Comment": f"payments {lit(targets.environment)}: move traffic from the source pool to the target pool, "
        "rolling back on any alarm",
        "StartAt": "Defaults",
        "States": states,
    }
