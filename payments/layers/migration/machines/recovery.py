"""The writer's safety net (``writer-recovery``) and the finish machine.

**writer-recovery** runs when a switchover, fallback or finish ends ABORTED, FAILED or TIMED_OUT (EventBridge,
see :mod:`payments.layers.migration.safety_net`), and on demand (``invoke recover-writer``). It never moves the
writer: the indirection's current value says which database it is (W), and it makes the rest agree with W:

* replication: W -> other runs (resumed from its checkpoint, or from now when writes are paused: then nothing
  was written since it stopped), other -> W is stopped (never both: a loop);
* the fence: W is unfenced; the other database's fence is left as it is (a pooled connection may still reach it);
* the pause is lifted;
* a phase left at db-switchover / db-fallback becomes the phase of W (db-on-aws or app-on-aws).

If it cannot make W's way back run, it leaves writes paused and pages: a writer without a lossless way back must
not take payments. An execution-ended trigger acts only for the execution the writer run record names (one
refused before it recorded itself changed nothing), and not at all once the phase is cutover-complete.

**finish** ends the fallback window: the phase becomes cutover-complete first (from then on a fallback is
refused), then reverse replication stops.
"""

from __future__ import annotations

from typing import Any

from payments.core.environment import MigrationPhase
from payments.layers.migration.machines.asl import (
    States,
    equals,
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
    ensure_running,
    ensure_stopped,
    fail,
    fence_off,
    lift,
    page,
    read_pause,
    read_writer,
    record_run,
)

RECOVERY_TIMEOUT_SECONDS = 3600
FINISH_TIMEOUT_SECONDS = 3600
#: The finish waits up to this many polls of FINISH_POLL_SECONDS for the reverse task to stop.
FINISH_POLLS, FINISH_POLL_SECONDS = 20, 15
DURING = (MigrationPhase.DB_SWITCHOVER, MigrationPhase.DB_FALLBACK)
AFTER = {AURORA: MigrationPhase.DB_ON_AWS, ONPREM: MigrationPhase.APP_ON_AWS}


def _start(t: Targets, w: WriterTargets) -> States:
    return {
        "Defaults": {
            "Type": "Pass",
            "Result": {"trigger": "operator"},
            "ResultPath": "$.defaults",
            "Next": "ApplyInput",
        },
        "ApplyInput": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)"},
            "Next": "KnownTrigger",
        },
        "KnownTrigger": {
            "Type": "Choice",
            "Choices": [
                {**equals("$.config.trigger", "operator"), "Next": "ReadPhaseNow"},
                {**equals("$.config.trigger", "execution-ended"), "Next": "ReadRun"},
            ],
            "Default": "InvalidTrigger",
        },
        "InvalidTrigger": fail("InvalidInput", "trigger must be operator or execution-ended; nothing was changed"),
        "ReadRun": task(
            sdk("ssm", "getParameter"),
            {"Name": w.writer_run_parameter_name},
            "RunIsEnded",
            catch="ReadPhaseNow",
            result_path="$.run",
            result_selector={"fields.$": "States.StringSplit($.Parameter.Value, ',')"},
            comment="the writer run record: act only for the execution that recorded itself",
        ),
        "RunIsEnded": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.run.fields[0]"),
                        present("$.config.executionArn"),
                        {"Variable": "$.run.fields[0]", "StringEqualsPath": "$.config.executionArn"},
                    ],
                    "Next": "ReadPhaseNow",
                }
            ],
            "Default": "NothingToDo",
        },
        "NothingToDo": {"Type": "Succeed", "Comment": "the ended execution had changed nothing, or the move is over"},
        "ReadPhaseNow": task(
            sdk("ssm", "getParameter"),
            {"Name": t.phase_parameter_name},
            "Finished",
            catch="RecoveryFailed",
            result_path="$.phaseNow",
            result_selector={"value.$": "$.Parameter.Value"},
        ),
        "Finished": {
            "Type": "Choice",
            "Choices": [{**equals("$.phaseNow.value", MigrationPhase.COMPLETE.value), "Next": "NothingToDo"}],
            "Default": "ReadPause",
        },
        "ReadPause": read_pause(w, "ReadPause", "Paused", catch="RecoveryFailed"),
        "Paused": {
            "Type": "Pass",
            "Parameters": {"paused.$": "States.ArrayContains($.pauseRule.fields, 'http-request-method')"},
            "ResultPath": "$.pauseState",
            "Next": "ReadWriter",
        },
        **read_writer(
            w, "ReadWriter", onprem="OnpremOtherStopped", aurora="AuroraOtherStopped", unknown="RecoveryFailed"
        ),
    }


def _side(t: Targets, w: WriterTargets, writer: str) -> States:
    """Make everything agree with `writer`, the database the indirection names."""
    side = writer.title()
    way_back = w.reverse_task_arn if writer == AURORA else w.forward_task_arn
    other_way = w.forward_task_arn if writer == AURORA else w.reverse_task_arn
    after = AFTER[writer]
    env = lit(t.environment)
    return {
        **ensure_stopped(other_way, f"{side}OtherStopped", f"{side}WayBack", "RecoveryFailed"),
        **ensure_running(
            way_back, f"{side}WayBack", f"{side}Unfence0", "WayBackFailed", from_now_path="$.pauseState.paused"
        ),
        **fence_off(w, w.fence_of(writer), f"{side}Unfence", f"{side}Lift", stuck="RecoveryFailed"),
        f"{side}Lift": lift(w, f"{side}Lift", f"{side}PhaseDuring", catch="RecoveryFailed"),
        f"{side}PhaseDuring": {
            "Type": "Choice",
            "Choices": [{**equals("$.phaseNow.value", p.value), "Next": f"{side}Phase"} for p in DURING],
            "Default": f"{side}Notify",
        },
        f"{side}Phase": put_phase(t, after.value, f"{side}Notify", catch=f"{side}Notify"),
        f"{side}Notify": notify(
            t,
            f"Writer recovered ({env})",
            f"payments {env}: writer-recovery ({{}}): {writer} is the writer, writes flow, its way back runs, "
            "the pause is lifted.",
            ["$.config.trigger"],
            "Recovered",
        ),
    }


def recovery_definition(t: Targets, w: WriterTargets) -> dict[str, Any]:
    env = lit(t.environment)
    states: States = {**_start(t, w), **_side(t, w, AURORA), **_side(t, w, ONPREM)}
    states.update(
        {
            "Recovered": {"Type": "Succeed"},
            "WayBackFailed": page(
                t,
                "WayBackFailed",
                "writes stay paused",
                "writer-recovery could not start the replication back from the writer; writes stay paused (a "
                "writer without a lossless way back must not take payments). Start the DMS task, then run invoke "
                "recover-writer. Error: {}",
                ["States.JsonToString($.error)"],
                "RecoveryFailedFail",
            ),
            "RecoveryFailed": page(
                t,
                "RecoveryFailed",
                "writer recovery failed",
                f"writer-recovery could not finish in {env}; writes may be paused or a fence left. Run invoke "
                "recover-writer, then check invoke status --live. Error: {}",
                ["States.JsonToString($.error)"],
                "RecoveryFailedFail",
            ),
            "RecoveryFailedFail": fail("RecoveryFailed", "see the notice; act by hand"),
        }
    )
    bounded(states)
    return {
        "Comment": f"payments {env}: make replication, fences and the write pause agree with the writer the DB "
        "indirection names (never moves the writer)",
        "StartAt": "Defaults",
        "TimeoutSeconds": RECOVERY_TIMEOUT_SECONDS,
        "States": states,
    }


# --- finish --------------------------------------------------------------------------------------------------


def finish_definition(t: Targets, w: WriterTargets) -> dict[str, Any]:
    env = lit(t.environment)
    roles = tuple(t.machine_arns)
    states: States = {
        **running_elsewhere(t, "Alone", roles, alone="ReadPhase", busy="AnotherExecution"),
        "AnotherExecution": fail(
            "AnotherExecutionRunning", "another migration machine is running; nothing was changed. Start again later"
        ),
        "ReadPhase": task(
            sdk("ssm", "getParameter"),
            {"Name": t.phase_parameter_name},
            "PhaseAllowed",
            catch="WrongPhase",
            result_path="$.phase",
            result_selector={"previous.$": "$.Parameter.Value"},
        ),
        "PhaseAllowed": {
            "Type": "Choice",
            "Choices": [{**equals("$.phase.previous", MigrationPhase.DB_ON_AWS.value), "Next": "ReadWriter"}],
            "Default": "WrongPhase",
        },
        "WrongPhase": fail(
            "WrongPhase", f"the finish starts from {MigrationPhase.DB_ON_AWS.value} only; nothing was changed"
        ),
        **read_writer(w, "ReadWriter", onprem="NotOnAurora", aurora="RecordRun", unknown="NotOnAurora"),
        "NotOnAurora": fail(
            "WrongWriter", f"{w.indirection_name} does not name the Aurora writer; nothing was changed"
        ),
        "RecordRun": record_run(w, "finish", "prepared", "RecordComplete", catch="RunUnrecorded"),
        "RunUnrecorded": fail("RunUnrecorded", "could not write the writer run record; nothing was changed"),
        # The phase first: from this instant a fallback is refused, so a stopped reverse path is never needed.
        "RecordComplete": put_phase(t, MigrationPhase.COMPLETE.value, "StopReverse", catch="PhaseNotRecorded"),
        "PhaseNotRecorded": fail(
            "PhaseNotRecorded", "could not set the phase to cutover-complete; reverse replication keeps running"
        ),
        "StopReverse": describe(w.reverse_task_arn, "$.reverse", "ReverseRunning", catch="StopFailed"),
        "ReverseRunning": {
            "Type": "Choice",
            "Choices": [
                {**equals("$.reverse.status[0]", "stopped"), "Next": "RecordRunDone"},
                {**equals("$.reverse.status[0]", "running"), "Next": "StopReverseTask"},
            ],
            "Default": "FinishCount",
        },
        "StopReverseTask": task(
            sdk("databasemigration", "stopReplicationTask"),
            {"ReplicationTaskArn": w.reverse_task_arn},
            "FinishCount",
            catch="StopFailed",
        ),
        "FinishCount": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.finishPolls.n, 1)"},
            "ResultPath": "$.finishPolls",
            "Next": "FinishBounded",
        },
        "FinishBounded": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.finishPolls.polls", "NumericLessThan": FINISH_POLLS, "Next": "FinishWait"}],
            "Default": "StopFailed",
        },
        "FinishWait": {"Type": "Wait", "Seconds": FINISH_POLL_SECONDS, "Next": "FinishPolls"},
        "FinishPolls": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.finishPolls.polls"},
            "ResultPath": "$.finishPolls",
            "Next": "StopReverse",
        },
        "StopFailed": notify(
            t,
            f"Finish: reverse replication still running ({env})",
            f"payments {env}: the phase is cutover-complete but the reverse DMS task {lit(w.reverse_task_arn)} "
            "could not be stopped: stop it by hand.",
            [],
            "FinishedWithWarning",
        ),
        "FinishedWithWarning": {"Type": "Succeed", "Comment": "complete; the reverse task is to stop by hand"},
        "RecordRunDone": record_run(w, "finish", "done", "NotifyFinished", catch="NotifyFinished"),
        "NotifyFinished": notify(
            t,
            f"Migration complete ({env})",
            f"payments {env}: Aurora is the writer for good; reverse replication is stopped. Phase: "
            f"{MigrationPhase.COMPLETE.value}.",
            [],
            "Finished",
        ),
        "Finished": {"Type": "Succeed"},
    }
    # The poll counter starts at 0 before the first describe.
    states["Start"] = {"Type": "Pass", "Result": {"n": 0}, "ResultPath": "$.finishPolls", "Next": "Alone"}
    return {
        "Comment": f"payments {env}: end the fallback window: phase cutover-complete, reverse replication stopped",
        "StartAt": "Start",
        "TimeoutSeconds": FINISH_TIMEOUT_SECONDS,
        "States": states,
    }
