"""The database switchover (on-prem -> Aurora) and fallback (Aurora -> on-prem): one shape, two directions.

Shape (DESIGN.md section 6; the pieces are in :mod:`.writer`)::

    checks (nothing changes): input, alone, phase, the indirection names the old writer, the replication that
    drains (old -> new) runs, the way back (new -> old) is stopped, CDC latency and validation, and for the
    switchover 0 % on the legacy pool watched for holdSeconds
    record the run and the phase
    pause writes -> drain (drainSeconds) -> fence the old writer -> replication old -> new drained (polled) ->
    stop it (polled until stopped) -> FLIP -> unfence the new writer -> start new -> old from now (polled until
    running) -> lift the pause -> phase
        any failure or overrun before the flip: Revert = unfence the old writer, resume old -> new from its
        checkpoint, lift, phase back: the writer is unchanged and nothing was written meanwhile
        any failure after the flip before the way back runs: Undo = fence the new writer, flip back, stop new ->
        old, resume old -> new, unfence the old writer, lift: no write reached the new writer (writes were paused
        since the flip), so going back loses nothing. Without a running way back the new writer must not take a
        payment: there would be no lossless fallback
        the lift itself failing: PAGE, Fail; the safety net (writer-recovery) lifts it

The fence comes before the drained check (the lab found it): once no connection of the app can reach the old
writer, a pooled connection cannot write there after the position is read.

Every wait inside the pause shares one poll budget (``$.limits.maxPolls``), sized from ``maxWritePauseSeconds``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from payments.core.environment import MigrationPhase
from payments.layers.migration import budget
from payments.layers.migration.machines.asl import (
    States,
    equals,
    error,
    failure_text,
    lit,
    notify,
    present,
    put_phase,
    running_elsewhere,
    sdk,
    task,
)
from payments.layers.migration.machines.targets import AURORA, ONPREM, Targets, WriterTargets
from payments.layers.migration.machines.writer import (
    bounded,
    describe,
    fail,
    fence_off,
    fence_on,
    flip,
    in_pause,
    lift,
    page,
    pause,
    read_writer,
    record_run,
    replicating,
    resume,
    start_from_now,
    stop,
)
from payments.layers.migration.schedule import Pool

#: A writer move runs its checks and the pause in minutes; anything still running after this has hung.
CHECKS_SECONDS = 2 * 3600


@dataclasses.dataclass(frozen=True)
class Move:
    """One direction of the writer move."""

    role: str
    old: str  #: ONPREM or AURORA: the writer before
    new: str
    before: tuple[MigrationPhase, ...]  #: phases it may start from
    during: MigrationPhase
    after: MigrationPhase

    def drain_task(self, w: WriterTargets) -> str:
        """The replication old -> new: drained and stopped before the flip."""
        return w.forward_task_arn if self.old == ONPREM else w.reverse_task_arn

    def return_task(self, w: WriterTargets) -> str:
        """The replication new -> old: started from the flip, so the move can be undone without loss."""
        return w.reverse_task_arn if self.old == ONPREM else w.forward_task_arn


SWITCHOVER = Move(
    "switchover",
    ONPREM,
    AURORA,
    (MigrationPhase.APP_ON_AWS,),
    MigrationPhase.DB_SWITCHOVER,
    MigrationPhase.DB_ON_AWS,
)
FALLBACK = Move(
    "fallback", AURORA, ONPREM, (MigrationPhase.DB_ON_AWS,), MigrationPhase.DB_FALLBACK, MigrationPhase.APP_ON_AWS
)


@dataclasses.dataclass(frozen=True)
class MoveDefaults:
    """The execution's defaults (its input may override holdSeconds and pollSeconds) and the pause, fixed."""

    hold_seconds: int
    poll_seconds: int
    pause: budget.PauseBudget

    def as_json(self) -> dict[str, Any]:
        return {"holdSeconds": self.hold_seconds, "pollSeconds": self.poll_seconds}

    def limits(self) -> dict[str, Any]:
        return {
            "drainSeconds": self.pause.drain_seconds,
            "pollSeconds": self.pause.poll_seconds,
            "maxPolls": self.pause.polls,
            "maxPauseSeconds": self.pause.max_pause_seconds,
        }


#: Bounds of the input the execution may override (the hold is watched at most 120 times).
HOLD_RANGE, POLL_RANGE = (0, 3600), (30, budget.MAX_POLL_SECONDS)


# --- checks --------------------------------------------------------------------------------------------------


def _inputs(defaults: MoveDefaults, next_: str) -> States:
    keys = {"holdSeconds": HOLD_RANGE, "pollSeconds": POLL_RANGE}
    in_range: list[dict[str, Any]] = []
    for key, (low, high) in keys.items():
        path = f"$.config.{key}"
        in_range += [
            present(path),
            {"Variable": path, "IsNumeric": True},
            {"Variable": path, "NumericGreaterThanEquals": low},
            {"Variable": path, "NumericLessThanEquals": high},
        ]
    return {
        "Defaults": {
            "Type": "Pass",
            "Comment": "configured defaults; the execution input may override holdSeconds and pollSeconds",
            "Result": defaults.as_json(),
            "ResultPath": "$.defaults",
            "Next": "ApplyInput",
        },
        "ApplyInput": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)"},
            "Next": "Limits",
        },
        "Limits": {
            "Type": "Pass",
            "Comment": "the write pause's bounds: fixed in the definition, never from the input",
            "Result": defaults.limits(),
            "ResultPath": "$.limits",
            "Next": "CheckWaits",
        },
        "CheckWaits": {
            "Type": "Choice",
            "Choices": [{"And": in_range, "Next": "WholeWaits"}],
            "Default": "WaitsInvalid",
        },
        # A fraction would be rounded by MathAdd: whole exactly when unchanged (see inputs.check_waits).
        "WholeWaits": {
            "Type": "Pass",
            "Parameters": {f"{key}.$": f"States.MathAdd($.config.{key}, 0)" for key in keys},
            "ResultPath": "$.whole",
            "Next": "WaitsWhole",
        },
        "WaitsWhole": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [{"Variable": f"$.whole.{k}", "NumericEqualsPath": f"$.config.{k}"} for k in keys],
                    "Next": next_,
                }
            ],
            "Default": "WaitsInvalid",
        },
        "WaitsInvalid": fail(
            "InvalidInput",
            "holdSeconds must be a whole number 0-3600 and pollSeconds 30-900; nothing was changed",
        ),
    }


def _alone(t: Targets, move: Move, next_: str) -> States:
    roles = tuple(t.machine_arns)
    states = running_elsewhere(t, "Alone", roles, alone=next_, busy="AnotherExecution")
    states["AnotherExecution"] = fail(
        "AnotherExecutionRunning",
        f"another migration machine ({', '.join(roles)}) is running, or could not be listed; nothing was "
        "changed. Watch it to its end (invoke status --live), then start again",
    )
    return states


def _phase(t: Targets, move: Move, next_: str) -> States:
    allowed = ", ".join(p.value for p in move.before)
    return {
        "ReadPhase": task(
            sdk("ssm", "getParameter"),
            {"Name": t.phase_parameter_name},
            "PhaseAllowed",
            catch="PhaseUnreadable",
            result_path="$.phase",
            result_selector={"previous.$": "$.Parameter.Value"},
        ),
        "PhaseUnreadable": fail("PhaseUnreadable", f"could not read {t.phase_parameter_name}; nothing was changed"),
        "PhaseAllowed": {
            "Type": "Choice",
            "Choices": [{**equals("$.phase.previous", p.value), "Next": next_} for p in move.before],
            "Default": "WrongPhase",
        },
        "WrongPhase": {
            "Type": "Pass",
            "Parameters": {
                "message.$": f"States.Format('the phase is {{}}; the {move.role} starts from {lit(allowed)} only. "
                "Nothing was changed', $.phase.previous)"
            },
            "ResultPath": "$.refusal",
            "Next": "WrongPhaseFail",
        },
        "WrongPhaseFail": fail("WrongPhase", cause_path="$.refusal.message"),
    }


def _writer_check(w: WriterTargets, move: Move, next_: str) -> States:
    states = read_writer(w, "ReadWriter", onprem="WriterIsOnprem", aurora="WriterIsAurora", unknown="WriterUnknown")
    for writer in (ONPREM, AURORA):
        states[f"WriterIs{writer.title()}"] = {"Type": "Pass", "Next": next_ if writer == move.old else "WrongWriter"}
    states["WrongWriter"] = fail(
        "WrongWriter",
        f"{w.indirection_name} already names {w.value_of(move.new)}: {move.new} is the writer; nothing was changed",
    )
    states["WriterUnknown"] = fail(
        "WriterUnknown",
        f"{w.indirection_name} names neither {w.onprem_name} nor {w.aurora_endpoint} (or could not be read); "
        "nothing was changed. Check the record in the private zone",
    )
    return states


def _replication_check(t: Targets, w: WriterTargets, move: Move, next_: str) -> States:
    drain, back = move.drain_task(w), move.return_task(w)
    ready = [equals("$.drainTask.status[0]", "running")]
    if move.old == ONPREM:  # the forward task loads everything first
        ready += [present("$.drainTask.fullLoad[0]"), {"Variable": "$.drainTask.fullLoad[0]", "NumericEquals": 100}]
    latency = "CheckLatency" if (move.old == ONPREM and w.forward_latency_alarm_name) else "CheckValidation"
    states: States = {
        "DescribeDrainTask": task(
            sdk("databasemigration", "describeReplicationTasks"),
            {"Filters": [{"Name": "replication-task-arn", "Values": [drain]}], "WithoutSettings": True},
            "DrainTaskReady",
            catch="DrainTaskNotReady",
            result_path="$.drainTask",
            result_selector={
                "status.$": "$.ReplicationTasks[*].Status",
                "fullLoad.$": "$.ReplicationTasks[*].ReplicationTaskStats.FullLoadProgressPercent",
            },
            comment=f"{move.old} -> {move.new} replication: running (full load done)",
        ),
        "DrainTaskReady": {
            "Type": "Choice",
            "Choices": [{"And": ready, "Next": "DescribeReturnTask"}],
            "Default": "DrainTaskNotReady",
        },
        "DrainTaskNotReady": fail(
            "ReplicationNotReady",
            f"the {move.old} -> {move.new} DMS task {drain} is not running with its full load done (or could not "
            "be read); nothing was changed",
        ),
        "DescribeReturnTask": task(
            sdk("databasemigration", "describeReplicationTasks"),
            {"Filters": [{"Name": "replication-task-arn", "Values": [back]}], "WithoutSettings": True},
            "ReturnTaskReady",
            catch="ReturnTaskNotReady",
            result_path="$.returnTask",
            result_selector={"status.$": "$.ReplicationTasks[*].Status"},
            comment=f"the way back ({move.new} -> {move.old}) exists and is stopped",
        ),
        "ReturnTaskReady": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [equals("$.returnTask.status[0]", "ready"), equals("$.returnTask.status[0]", "stopped")],
                    "Next": latency,
                }
            ],
            "Default": "ReturnTaskNotReady",
        },
        "ReturnTaskNotReady": fail(
            "WayBackNotReady",
            f"the {move.new} -> {move.old} DMS task {back} is missing, failed or already running; nothing was changed",
        ),
    }
    if latency == "CheckLatency":
        states["CheckLatency"] = task(
            sdk("cloudwatch", "describeAlarms"),
            {"AlarmNames": [w.forward_latency_alarm_name]},
            "LatencyLow",
            catch="LatencyHigh",
            result_path="$.latency",
            result_selector={"states.$": "$.MetricAlarms[*].StateValue"},
            comment="CDC latency (CDCLatencySource/Target) under its threshold",
        )
        states["LatencyLow"] = {
            "Type": "Choice",
            "Choices": [{**equals("$.latency.states[0]", "OK"), "Next": "CheckValidation"}],
            "Default": "LatencyHigh",
        }
        states["LatencyHigh"] = fail(
            "CdcLatencyHigh",
            f"the CDC latency alarm {w.forward_latency_alarm_name} is not OK: the drain would not fit the pause; "
            "nothing was changed",
        )
    states["CheckValidation"] = task(
        sdk("databasemigration", "describeTableStatistics"),
        {"ReplicationTaskArn": drain, "MaxRecords": 500},
        "ValidationClean",
        catch="ValidationUnreadable",
        result_path="$.validation",
        result_selector={
            "failed.$": "$.TableStatistics[?(@.ValidationFailedRecords > 0)].TableName",
            "errored.$": "$.TableStatistics[?(@.TableState == 'Table error')].TableName",
        },
        comment="no table with validation failures or in error (validation, when on, must be clean)",
    )
    states["ValidationClean"] = {
        "Type": "Choice",
        "Choices": [
            {
                "And": [{"Not": present("$.validation.failed[0]")}, {"Not": present("$.validation.errored[0]")}],
                "Next": next_,
            }
        ],
        "Default": "ValidationFailed",
    }
    states["ValidationFailed"] = {
        "Type": "Pass",
        "Parameters": {
            "message.$": "States.Format('DMS reports tables with validation failures {} or in error {}; nothing "
            "was changed. Fix them (or reload them) first', States.JsonToString($.validation.failed), "
            "States.JsonToString($.validation.errored))"
        },
        "ResultPath": "$.refusal",
        "Next": "ValidationFailedFail",
    }
    states["ValidationFailedFail"] = fail("ValidationFailed", cause_path="$.refusal.message")
    states["ValidationUnreadable"] = fail(
        "ValidationUnreadable", f"could not read the table statistics of {drain}; nothing was changed"
    )
    return states


def _legacy_hold(t: Targets, next_: str) -> States:
    """The legacy pool (it writes on-prem) must have no traffic, watched for holdSeconds every pollSeconds."""
    legacy = t.target_group_arns[Pool.LEGACY.value]
    weight = f"$.Listeners[*].DefaultActions[*].ForwardConfig.TargetGroups[?(@.TargetGroupArn == '{legacy}')].Weight"
    return {
        "HoldLegacy": {"Type": "Pass", "Parameters": {"elapsed": 0}, "ResultPath": "$.hold", "Next": "HoldRead"},
        "HoldRead": task(
            sdk("elasticloadbalancingv2", "describeListeners"),
            {"ListenerArns": [t.listener_arn]},
            "HoldLegacyOff",
            catch="LegacyUnknown",
            result_path="$.legacy",
            result_selector={"weights.$": weight},
            comment="the legacy pool's weight on the listener",
        ),
        "HoldLegacyOff": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.legacy.weights[0]"),
                        {"Variable": "$.legacy.weights[0]", "NumericGreaterThan": 0},
                    ],
                    "Next": "LegacyServing",
                },
                {"Variable": "$.hold.elapsed", "NumericGreaterThanEqualsPath": "$.config.holdSeconds", "Next": next_},
            ],
            "Default": "HoldWait",
        },
        "HoldWait": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": "HoldTick"},
        "HoldTick": {
            "Type": "Pass",
            "Parameters": {"elapsed.$": "States.MathAdd($.hold.elapsed, $.config.pollSeconds)"},
            "ResultPath": "$.hold",
            "Next": "HoldRead",
        },
        "LegacyServing": fail(
            "LegacyServing",
            "the legacy pool (which writes on-prem) has traffic; nothing was changed. Finish the traffic cutover "
            "(invoke cutover) first",
        ),
        "LegacyUnknown": fail("ListenerUnreadable", "could not read the listener's weights; nothing was changed"),
    }


# --- the move ----------------------------------------------------------------------------------------------


def _pause_loop(
    prefix: str,
    read: dict[str, Any],
    done: dict[str, Any],
    next_: str,
    overrun: str,
    what: str,
    previous: str = "$.pause.previous",
) -> States:
    """Wait pollSeconds, read, `done` (a Choice rule) -> `next_`; else count against the pause's poll budget.

    `previous` is kept in ``$.pause.previous`` for the next poll to compare with."""
    return {
        f"{prefix}Wait": {"Type": "Wait", "SecondsPath": "$.limits.pollSeconds", "Next": f"{prefix}Read"},
        f"{prefix}Read": read,
        f"{prefix}Done": {"Type": "Choice", "Choices": [{**done, "Next": next_}], "Default": f"{prefix}Count"},
        f"{prefix}Count": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.pause.polls, 1)", "previous.$": previous},
            "ResultPath": "$.pause",
            "Next": f"{prefix}Bounded",
        },
        f"{prefix}Bounded": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.pause.polls", "NumericLessThanPath": "$.limits.maxPolls", "Next": f"{prefix}Wait"}
            ],
            "Default": overrun,
        },
        overrun: error(
            "WritePauseOverrun",
            None,
            f"{what} within {{}} polls of the write pause (maxWritePauseSeconds {{}})",
            "$.limits.maxPolls",
            "$.limits.maxPauseSeconds",
            next_=f"{prefix}Give",
        ),
    }


def _sequence(t: Targets, w: WriterTargets, move: Move) -> States:
    env = lit(t.environment)
    drain, back = move.drain_task(w), move.return_task(w)
    old_fence, new_fence = w.fence_of(move.old), w.fence_of(move.new)
    states: States = {
        "RecordRun": record_run(w, move.role, "prepared", "RecordPhase", catch="RunUnrecorded"),
        "RunUnrecorded": fail("RunUnrecorded", f"could not write {w.writer_run_parameter_name}; nothing was changed"),
        "RecordPhase": put_phase(t, move.during.value, "NotifyPausing", catch="Abort"),
        "NotifyPausing": notify(
            t,
            f"Writes pausing ({env})",
            f"payments {env}: {move.role} {move.old} -> {move.new}: writes are paused now for at most {{}} s.",
            ["$.limits.maxPauseSeconds"],
            "PauseWrites",
        ),
        "PauseWrites": pause(w, "PauseWrites", "Drain", catch="Revert"),
        "Drain": {
            "Type": "Wait",
            "SecondsPath": "$.limits.drainSeconds",
            "Comment": "requests already past the ALB finish",
            "Next": "FenceOld0",
        },
        **fence_on(w, old_fence, "FenceOld", "StartPauseWaits", catch="Revert"),
        "StartPauseWaits": {
            "Type": "Pass",
            "Parameters": {"polls": 0, "previous": "none"},
            "ResultPath": "$.pause",
            "Next": "DrainedWait",
        },
        # Drained: every change DMS captured has been applied, and nothing more was captured since the last poll.
        **_pause_loop(
            "Drained",
            in_pause(
                task(
                    sdk("databasemigration", "describeTableStatistics"),
                    {"ReplicationTaskArn": drain, "MaxRecords": 500},
                    "DrainedSums",
                    catch="Revert",
                    result_path="$.stats",
                    result_selector={
                        "inserts.$": "$.TableStatistics[*].Inserts",
                        "updates.$": "$.TableStatistics[*].Updates",
                        "deletes.$": "$.TableStatistics[*].Deletes",
                        "ddls.$": "$.TableStatistics[*].Ddls",
                        "appliedInserts.$": "$.TableStatistics[*].AppliedInserts",
                        "appliedUpdates.$": "$.TableStatistics[*].AppliedUpdates",
                        "appliedDeletes.$": "$.TableStatistics[*].AppliedDeletes",
                        "appliedDdls.$": "$.TableStatistics[*].AppliedDdls",
                        "more.$": "$..Marker",
                    },
                    comment=f"{move.old} -> {move.new}: changes captured and applied, per table",
                )
            ),
            {
                "And": [
                    {"Not": present("$.stats.more[0]")},
                    {"Variable": "$.counts.captured", "StringEqualsPath": "$.counts.applied"},
                    {"Variable": "$.counts.captured", "StringEqualsPath": "$.pause.previous"},
                ]
            },
            "StopDrainTask",
            "NotDrained",
            f"{move.old} -> {move.new} replication did not drain",
            previous="$.counts.captured",
        ),
        "DrainedSums": {
            "Type": "Pass",
            "Parameters": {
                "captured.$": "States.JsonToString(States.Array($.stats.inserts, $.stats.updates, $.stats.deletes, "
                "$.stats.ddls))",
                "applied.$": "States.JsonToString(States.Array($.stats.appliedInserts, $.stats.appliedUpdates, "
                "$.stats.appliedDeletes, $.stats.appliedDdls))",
            },
            "ResultPath": "$.counts",
            "Next": "DrainedDone",
        },
        "StopDrainTask": stop(drain, "StoppedWait", catch="Revert"),
        **_pause_loop(
            "Stopped",
            describe(drain, "$.drainTask", "StoppedDone", catch="Revert"),
            equals("$.drainTask.status[0]", "stopped"),
            "Flip",
            "NotStopped",
            f"the {move.old} -> {move.new} task did not stop",
        ),
        "Flip": flip(w, move.new, "UnfenceNew0", catch="FlipUnsure"),
        # A failed call may still have been applied: the record decides which way to go.
        **read_writer(
            w,
            "FlipUnsure",
            onprem="Revert" if move.old == ONPREM else "UnfenceNew0",
            aurora="Revert" if move.old == AURORA else "UnfenceNew0",
            unknown="Undo",
        ),
        **fence_off(w, new_fence, "UnfenceNew", "StartReturn", stuck="Undo"),
        "StartReturn": {
            "Type": "Choice",
            "Choices": [{**equals("$.returnTask.status[0]", "ready"), "Next": "StartReturnFirst"}],
            "Default": "StartReturnAgain",
        },
        "StartReturnFirst": start_from_now(back, "ReturnWait", "Undo", fresh=True),
        "StartReturnAgain": start_from_now(back, "ReturnWait", "Undo", fresh=False),
        **_pause_loop(
            "Return",
            describe(back, "$.returnTask", "ReturnDone", catch="Undo"),
            equals("$.returnTask.status[0]", "running"),
            "LiftPause",
            "ReturnNotRunning",
            f"the way back ({move.new} -> {move.old}) was not running",
        ),
        "LiftPause": lift(w, "LiftPause", "RecordDone", catch="LiftFailed"),
        "RecordDone": put_phase(t, move.after.value, "RecordRunDone", catch="PhaseNotRecorded"),
        # Writes flow on the new writer; a phase left at "during" is set by the safety net (writer-recovery).
        "PhaseNotRecorded": fail(
            "PhaseNotRecorded", f"{move.new} is the writer, but the phase could not be set to {move.after.value}"
        ),
        "RecordRunDone": record_run(w, move.role, "done", "NotifyDone", catch="NotifyDone"),
        "NotifyDone": notify(
            t,
            f"Writer moved ({env})",
            f"payments {env}: {move.new} is the writer ({move.role} done); {move.new} -> {move.old} replication "
            f"runs. Phase: {move.after.value}.",
            [],
            "Moved",
        ),
        "Moved": {"Type": "Succeed"},
        "LiftFailed": page(
            t,
            "LiftFailed",
            "writes still paused",
            f"the {move.role} could not lift the write pause (rule {lit(w.pause_rule_arn)}); the safety net "
            "(writer-recovery) retries. If writes are still refused: invoke recover-writer. Error: {}",
            ["States.JsonToString($.error)"],
            "LiftFailedFail",
        ),
        "LiftFailedFail": fail("WritesStillPaused", "the pause could not be lifted; see the notice"),
    }
    # The overrun states name their way out: before the flip Revert, after it Undo.
    for prefix, way in (("Drained", "Revert"), ("Stopped", "Revert"), ("Return", "Undo")):
        states[f"{prefix}Give"] = {"Type": "Pass", "Next": way}
    states.update(_abort(t, move))
    states.update(_revert(t, w, move, drain))
    states.update(_undo(t, w, move, drain, back))
    return bounded(states)


def _abort(t: Targets, move: Move) -> States:
    env = lit(t.environment)
    return {
        **failure_text("Abort", next_="AbortPhase"),
        "AbortPhase": put_phase(t, None, "NotifyAbort", catch="NotifyAbort", value_path="$.phase.previous"),
        "NotifyAbort": notify(
            t,
            f"{move.role.title()} aborted ({env})",
            f"payments {env}: {move.role} aborted before writes were paused: {{}}",
            ["$.failure.text"],
            "Aborted",
        ),
        "Aborted": fail(f"{move.role.title()}Aborted", "aborted before writes were paused; nothing changed"),
    }


def _revert(t: Targets, w: WriterTargets, move: Move, drain: str) -> States:
    """Before the flip: the old writer stays, unfenced; its replication resumes where it stopped; lift."""
    env = lit(t.environment)
    return {
        **failure_text("Revert", next_="RevertFence0"),
        **fence_off(w, w.fence_of(move.old), "RevertFence", "RevertReplication", stuck="RevertFenceStuck"),
        "RevertFenceStuck": page(
            t,
            "RevertFenceStuck",
            "fence left on the writer",
            f"the {move.role} was reverted but the NACL fence on {move.old} could not be removed: the app cannot "
            f"reach its writer. Remove the DENY entries of {lit(w.nacl_id)} by hand (invoke recover-writer).",
            [],
            "RevertReplication",
        ),
        "RevertReplication": describe(drain, "$.drainTask", "RevertReplicating", catch="RevertReplicationPage"),
        "RevertReplicating": {
            "Type": "Choice",
            "Choices": [{**replicating("$.drainTask"), "Next": "RevertLift"}],
            "Default": "RevertResume",
        },
        "RevertResume": resume(drain, "RevertLift", "RevertReplicationPage"),
        "RevertReplicationPage": page(
            t,
            "RevertReplicationPage",
            "replication stopped",
            f"the {move.role} was reverted; {move.old} stays the writer but its DMS task {lit(drain)} could not be "
            "resumed: start it (resume-processing) before anything else.",
            [],
            "RevertLift",
        ),
        "RevertLift": lift(w, "RevertLift", "RevertPhase", catch="LiftFailed"),
        "RevertPhase": put_phase(t, None, "NotifyReverted", catch="NotifyReverted", value_path="$.phase.previous"),
        "NotifyReverted": notify(
            t,
            f"{move.role.title()} reverted ({env})",
            f"payments {env}: {move.role} reverted before the flip; {move.old} is still the writer and writes flow "
            "again. Cause: {}",
            ["$.failure.text"],
            "Reverted",
        ),
        "Reverted": fail(f"{move.role.title()}Reverted", f"reverted before the flip; {move.old} is still the writer"),
    }


def _undo(t: Targets, w: WriterTargets, move: Move, drain: str, back: str) -> States:
    """After the flip, before the way back runs: writes were paused all along, so flip back without loss."""
    env = lit(t.environment)
    return {
        **failure_text("Undo", next_="UndoFence0"),
        **fence_on(w, w.fence_of(move.new), "UndoFence", "UndoFlip", catch="Stuck"),
        "UndoFlip": flip(w, move.old, "UndoReturn", catch="Stuck"),
        "UndoReturn": describe(back, "$.returnTask", "UndoReturnRunning", catch="Stuck"),
        "UndoReturnRunning": {
            "Type": "Choice",
            "Choices": [{**replicating("$.returnTask"), "Next": "UndoReturnStop"}],
            "Default": "UndoReplication",
        },
        "UndoReturnStop": stop(back, "UndoReplication", catch="Stuck"),
        "UndoReplication": resume(drain, "UndoUnfence0", "UndoReplicationPage"),
        "UndoReplicationPage": page(
            t,
            "UndoReplicationPage",
            "replication stopped",
            f"the {move.role} was undone; {move.old} is the writer again but its DMS task {lit(drain)} could not "
            "be resumed: start it (resume-processing) now.",
            [],
            "UndoUnfence0",
        ),
        **fence_off(w, w.fence_of(move.old), "UndoUnfence", "UndoLift", stuck="RevertFenceStuck"),
        "UndoLift": lift(w, "UndoLift", "UndoPhase", catch="LiftFailed"),
        "UndoPhase": put_phase(t, None, "NotifyUndone", catch="NotifyUndone", value_path="$.phase.previous"),
        "NotifyUndone": notify(
            t,
            f"{move.role.title()} undone ({env})",
            f"payments {env}: the {move.role} flipped but its way back could not start; it flipped back before "
            f"any write: {move.old} is the writer again. Cause: {{}}",
            ["$.failure.text"],
            "Undone",
        ),
        "Undone": fail(f"{move.role.title()}Undone", f"flipped back before any write; {move.old} is the writer"),
        "Stuck": page(
            t,
            "Stuck",
            "writes paused, writer moving",
            f"the {move.role} could neither finish nor go back; writes stay paused so that no database takes a "
            "payment the other misses. The safety net (writer-recovery) acts next. Error: {}",
            ["States.JsonToString($.error)"],
            "StuckFail",
        ),
        "StuckFail": fail("WriterStuck", "writes stay paused; the safety net acts"),
    }


def move_definition(t: Targets, w: WriterTargets, move: Move, defaults: MoveDefaults) -> dict[str, Any]:
    """The switchover (or fallback) state machine."""
    states: States = {}
    states.update(_inputs(defaults, next_="Alone"))
    states.update(_alone(t, move, next_="ReadPhase"))
    states.update(_phase(t, move, next_="ReadWriter"))
    states.update(_writer_check(w, move, next_="DescribeDrainTask"))
    states.update(_replication_check(t, w, move, next_="HoldLegacy" if move.old == ONPREM else "RecordRun"))
    if move.old == ONPREM:
        states.update(_legacy_hold(t, next_="RecordRun"))
    states.update(_sequence(t, w, move))
    return {
        "Comment": f"payments {lit(t.environment)}: {move.role}: the writer moves {move.old} -> {move.new} inside a "
        f"bounded write pause ({defaults.pause.longest_seconds} s at most)",
        "StartAt": "Defaults",
        "TimeoutSeconds": CHECKS_SECONDS + HOLD_RANGE[1],
        "States": states,
    }
