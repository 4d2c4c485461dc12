"""Putting traffic back: the cutover's own Abort and Rollback paths, and the rollback state machine.

Where traffic goes back to is one rule, built once (:func:`restore`) and used by both machines:

* the source pool has a healthy target: 100 % on the source;
* the source has none and the target has: traffic stays on the target (100 %), a PAGE goes out, and the
  execution fails ``SourcePoolUnhealthy``: the gate also fires when the *source* fails (VPN down, on-prem
  servers down), and a rollback must not send every payment to a dead pool;
* neither has: 100 % on the source (the known system; the ALB fails open inside a target group whose targets
  are all unhealthy), and the notice says so.

The rollback state machine runs on three triggers:

* ``operator`` (``invoke rollback``, the console): to ``pool`` if given, else to the source pool of the last
  cutover (from its run record); that pool must have a healthy target unless ``force`` is set;
* ``gate-alarm`` (EventBridge, the gate alarm going to ALARM): only while a cutover runs; it stops it and
  restores by the rule above;
* ``execution-ended`` (EventBridge, a cutover ABORTED, FAILED or TIMED_OUT: a person's StopExecution,
  States.Runtime, the history quota, a timeout, none of which a Catch sees): unless that execution had changed
  nothing, had completed, or had already put traffic back, it restores by the rule above.

The run record (an SSM StringList ``execution,source,target,previous phase,stage``) is what tells the rollback
which execution moved which pools: a cutover writes it with stage ``prepared`` before it changes anything, and
with stage ``traffic`` just before the first weights change. A StringList is split with
``States.StringSplit``, which cannot fail on any string: a JSON record would need ``States.StringToJson``, whose
failure on a mangled value is an uncatchable ``States.Runtime``.
"""

from __future__ import annotations

from typing import Any

from payments.core.environment import AURORA_PHASES, MigrationPhase
from payments.layers.migration.machines import inputs
from payments.layers.migration.machines.asl import (
    RETRY_ROLLBACK,
    States,
    equals,
    failure_text,
    healthy,
    lit,
    notify,
    present,
    put_phase,
    running_elsewhere,
    sdk,
    stickiness,
    task,
    weights,
)
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.schedule import Pool

#: What the run parameter holds before any cutover recorded itself.
NO_RUN = "none"
#: A rollback is a few API calls and their retries: anything still running after this has hung.
ROLLBACK_TIMEOUT_SECONDS = 3600
TRIGGERS = ("operator", "gate-alarm", "execution-ended")


# --- shared pieces ------------------------------------------------------------------------------------------


def restore(targets: Targets, prefix: str, *, done: str, source_dead: str, failed: str) -> States:
    """Traffic to 100 % on ``$.pools.source``, or kept on ``$.pools.target`` when only the target is healthy."""
    return {
        **healthy(
            targets,
            f"{prefix}SourceHealth",
            "$.pools.source.targetGroupArn",
            yes=f"{prefix}ToSource",
            no=f"{prefix}TargetHealth",
        ),
        **healthy(
            targets,
            f"{prefix}TargetHealth",
            "$.pools.target.targetGroupArn",
            yes=f"{prefix}ToTarget",
            no=f"{prefix}ToSource",
        ),
        f"{prefix}ToSource": task(
            sdk("elasticloadbalancingv2", "modifyListener"),
            weights(targets, 100, 0),
            done,
            catch=failed,
            retry=RETRY_ROLLBACK,
            comment="100% on the source pool",
        ),
        f"{prefix}ToTarget": task(
            sdk("elasticloadbalancingv2", "modifyListener"),
            weights(targets, 0, 100),
            source_dead,
            catch=failed,
            retry=RETRY_ROLLBACK,
            comment="the source has no healthy target and the target has: every payment to the target",
        ),
    }


def page_source_dead(targets: Targets, prefix: str) -> States:
    """Traffic stayed on the target because the source is dead: record, page, fail ``SourcePoolUnhealthy``."""
    env = lit(targets.environment)
    return {
        f"{prefix}Record": put_phase(targets, MigrationPhase.APP_ON_AWS.value, f"{prefix}Page", catch=f"{prefix}Page"),
        f"{prefix}Page": notify(
            targets,
            f"PAGE: source pool unhealthy ({env})",
            f"payments {env}: a rollback to {{}} was needed ({{}}) but {{}} has no healthy target; 100% of traffic "
            "stays on {}, which is healthy. Restore the source pool before any further move.",
            ["$.pools.source.name", "$.failure.text", "$.pools.source.name", "$.pools.target.name"],
            f"{prefix}Fail",
        ),
        f"{prefix}Fail": {
            "Type": "Fail",
            "Error": "SourcePoolUnhealthy",
            "Cause": "the source pool has no healthy target: traffic was kept on the healthy target pool and "
            "on-call was paged",
        },
    }


def stop_cutovers(targets: Targets, name: str, next_: str, on_error: str) -> States:
    """Stop every running cutover: it would move traffic again at its next step."""
    return {
        name: task(
            sdk("sfn", "listExecutions"),
            {"StateMachineArn": targets.machine_arns["cutover"], "StatusFilter": "RUNNING"},
            f"{name}Each",
            catch=on_error,
            result_path="$.stopping",
            result_selector={"executions.$": "$.Executions[*].ExecutionArn"},
            comment="a running cutover would move traffic again at its next step",
        ),
        f"{name}Each": {
            "Type": "Map",
            "ItemsPath": "$.stopping.executions",
            "ItemSelector": {"executionArn.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": f"{name}One",
                "States": {
                    f"{name}One": task(
                        sdk("sfn", "stopExecution"),
                        {
                            "ExecutionArn.$": "$.executionArn",
                            "Error": "ForcedRollback",
                            "Cause": "stopped by the rollback state machine",
                        },
                        None,
                        catch=None,
                    )
                },
            },
            "ResultPath": None,
            "Next": next_,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": on_error}],
        },
    }


def _rolled_back_notice(targets: Targets, name: str, next_: str) -> dict[str, Any]:
    env = lit(targets.environment)
    return notify(
        targets,
        f"Cutover rolled back ({env})",
        f"payments {env}: traffic is back to 100% on {{}}. Cause: {{}}",
        ["$.pools.source.name", "$.failure.text"],
        next_,
    )


def _rollback_failed_notice(targets: Targets, name: str, next_: str) -> dict[str, Any]:
    env = lit(targets.environment)
    return notify(
        targets,
        f"ROLLBACK FAILED ({env})",
        f"payments {env}: the listener could not be set back to the source pool {{}}; move traffic by hand now "
        "(invoke rollback --force). Error: {}",
        ["$.pools.source.name", "States.JsonToString($.error)"],
        next_,
    )


# --- inside the cutover -------------------------------------------------------------------------------------


def cutover_abort_and_rollback(targets: Targets) -> States:
    """Abort (nothing moved yet: restore the phase, notify, fail) and Rollback (traffic back, by :func:`restore`)."""
    env = lit(targets.environment)
    states: States = {}
    states.update(failure_text("Abort", next_="AbortPhase"))
    states.update(
        {
            "AbortPhase": put_phase(targets, None, "NotifyAbort", catch="NotifyAbort", value_path="$.phase.previous"),
            "NotifyAbort": notify(
                targets,
                f"Cutover aborted ({env})",
                f"payments {env}: cutover aborted before any traffic moved: {{}}",
                ["$.failure.text"],
                "AbortReason",
            ),
            "AbortReason": {
                "Type": "Pass",
                "Parameters": {"message.$": "States.Format('aborted before any traffic moved ({})', $.failure.text)"},
                "ResultPath": "$.outcome",
                "Next": "Aborted",
            },
            "Aborted": {"Type": "Fail", "Error": "CutoverAborted", "CausePath": "$.outcome.message"},
        }
    )
    states.update(failure_text("Rollback", next_="RollbackSourceHealth"))
    states.update(
        restore(targets, "Rollback", done="RecordRolledBack", source_dead="SourceDeadRecord", failed="RollbackFailed")
    )
    states.update(page_source_dead(targets, "SourceDead"))
    states.update(
        {
            "RecordRolledBack": put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRollback", catch="NotifyRollback"
            ),
            "NotifyRollback": _rolled_back_notice(targets, "NotifyRollback", "RollbackReason"),
            "RollbackReason": {
                "Type": "Pass",
                "Parameters": {
                    "message.$": "States.Format('rolled back to 100% on {} ({})', $.pools.source.name, $.failure.text)"
                },
                "ResultPath": "$.outcome",
                "Next": "RolledBack",
            },
            "RolledBack": {"Type": "Fail", "Error": "CutoverRolledBack", "CausePath": "$.outcome.message"},
            "RollbackFailed": _rollback_failed_notice(targets, "RollbackFailed", "RollbackFailedFail"),
            "RollbackFailedFail": {
                "Type": "Fail",
                "Error": "RollbackFailed",
                "Cause": "the listener could not be reset to the source pool; act by hand",
            },
        }
    )
    return states


# --- the rollback state machine -------------------------------------------------------------------------------


def _start(targets: Targets) -> States:
    return {
        "Defaults": {
            "Type": "Pass",
            "Result": {"force": False, "trigger": "operator"},
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
                {**equals("$.config.trigger", "operator"), "Next": "OnlyRollback"},
                *({**equals("$.config.trigger", t), "Next": "ReadRun"} for t in TRIGGERS if t != "operator"),
            ],
            "Default": "InvalidTrigger",
        },
        "InvalidTrigger": {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": f"trigger must be one of {', '.join(TRIGGERS)}; nothing was changed",
        },
        # An operator's rollback names a pool: it must not race another rollback. Automatic ones restore what the
        # run record says, by the same rule, so two of them at once set the same weights: they never wait.
        **running_elsewhere(targets, "OnlyRollback", ("rollback",), alone="ReadRun", busy="AnotherRollbackRunning"),
        "AnotherRollbackRunning": {
            "Type": "Fail",
            "Error": "AnotherExecutionRunning",
            "Cause": "another rollback is running; nothing was changed. Watch it, then run this one again if needed",
        },
        "ReadRun": task(
            sdk("ssm", "getParameter"),
            {"Name": targets.run_parameter_name},
            "RunRecorded",
            catch="NoRun",
            result_path="$.runRecord",
            result_selector={"fields.$": "States.StringSplit($.Parameter.Value, ',')"},
            comment="the last cutover's run record: execution, source, target, phase before, stage",
        ),
        "NoRun": {"Type": "Pass", "Result": {"fields": []}, "ResultPath": "$.runRecord", "Next": "RunRecorded"},
        "RunRecorded": {
            "Type": "Choice",
            "Choices": [{**present("$.runRecord.fields[4]"), "Next": "Run"}],
            "Default": "NoRunRecorded",
        },
        "Run": {
            "Type": "Pass",
            "Parameters": {
                "execution.$": "$.runRecord.fields[0]",
                "source.$": "$.runRecord.fields[1]",
                "target.$": "$.runRecord.fields[2]",
                "previousPhase.$": "$.runRecord.fields[3]",
                "stage.$": "$.runRecord.fields[4]",
            },
            "ResultPath": "$.run",
            "Next": "Trigger",
        },
        "NoRunRecorded": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [equals("$.config.trigger", "operator"), {"Variable": "$.config.pool", "IsPresent": True}],
                    "Next": "OperatorPool",
                },
                {**equals("$.config.trigger", "operator"), "Next": "NoPool"},
            ],
            "Default": "NothingToDo",
        },
        "NoPool": {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": "no cutover has recorded a source pool; give the pool (invoke rollback --pool legacy); "
            "nothing was changed",
        },
        "Trigger": {
            "Type": "Choice",
            "Choices": [
                {**equals("$.config.trigger", "operator"), "Next": "OperatorPool"},
                {**equals("$.config.trigger", "gate-alarm"), "Next": "RunningCutovers"},
            ],
            "Default": "EndedRunRecorded",
        },
        # execution-ended: the record names another execution when the ended one stopped before recording itself,
        # that is before it changed anything.
        "EndedRunRecorded": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.config.executionArn"),
                        {"Variable": "$.config.executionArn", "StringEqualsPath": "$.run.execution"},
                    ],
                    "Next": "ReadPhaseNow",
                }
            ],
            "Default": "NothingToDo",
        },
        # gate-alarm: only a running, recorded cutover is rolled back; one not yet recorded has moved nothing and
        # checks the gate itself before traffic moves.
        "RunningCutovers": task(
            sdk("sfn", "listExecutions"),
            {"StateMachineArn": targets.machine_arns["cutover"], "StatusFilter": "RUNNING"},
            "RunningIsRecorded",
            catch="AutomaticFailed",
            result_path="$.running",
            result_selector={"arns.$": "$.Executions[*].ExecutionArn"},
        ),
        "RunningIsRecorded": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.running.arns[0]"),
                        {"Variable": "$.running.arns[0]", "StringEqualsPath": "$.run.execution"},
                    ],
                    "Next": "ReadPhaseNow",
                }
            ],
            "Default": "NothingToDo",
        },
        "NothingToDo": {
            "Type": "Succeed",
            "Comment": "nothing to put back: no cutover had moved traffic, it completed, or another rollback acts",
        },
    }


def _automatic(targets: Targets) -> States:
    """A cutover ended or its gate fired: put traffic back by the rule, unless it had completed or is back."""
    env = lit(targets.environment)
    serving = "$.Listeners[*].DefaultActions[*].ForwardConfig.TargetGroups[?(@.Weight > 0)].TargetGroupArn"
    states: States = {
        "ReadPhaseNow": task(
            sdk("ssm", "getParameter"),
            {"Name": targets.phase_parameter_name},
            "CutoverCompleted",
            catch="AutomaticFailed",
            result_path="$.phaseNow",
            result_selector={"value.$": "$.Parameter.Value"},
        ),
        "CutoverCompleted": {
            "Type": "Choice",
            # Traffic complete on the target (app-on-aws), or the database moved since: nothing to put back.
            "Choices": [
                {**equals("$.phaseNow.value", p.value), "Next": "NothingToDo"}
                for p in (MigrationPhase.APP_ON_AWS, *sorted(AURORA_PHASES, key=lambda p: p.value))
            ],
            "Default": "RunPools",
        },
        "RunPools": {
            "Type": "Pass",
            "Parameters": {"sourcePool.$": "$.run.source", "targetPool.$": "$.run.target"},
            "ResultPath": "$.config",
            "Next": "ResolvePools",
        },
        **inputs.resolve_pools(targets, "StopForRestore", "RunPoolsInvalid"),
        **stop_cutovers(targets, "StopForRestore", "ReadListenerNow", "AutomaticFailed"),
        "ReadListenerNow": task(
            sdk("elasticloadbalancingv2", "describeListeners"),
            {"ListenerArns": [targets.listener_arn]},
            "AlreadyOnSource",
            catch="AutomaticFailed",
            result_path="$.listener",
            result_selector={"serving.$": serving},
        ),
        "AlreadyOnSource": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.listener.serving[0]"),
                        {"Variable": "$.listener.serving[0]", "StringEqualsPath": "$.pools.source.targetGroupArn"},
                        {"Variable": "$.listener.serving[1]", "IsPresent": False},
                    ],
                    "Next": "AlreadyRecorded",
                }
            ],
            "Default": "WhyRestore",
        },
        # Traffic is already all on the source. If the cutover recorded that itself (rolled-back), there is nothing
        # left; if it never moved traffic, only a phase left at "cutover" goes back to what it was; if it was
        # stopped half way through its own rollback, the record and the notice are finished here.
        "AlreadyRecorded": {
            "Type": "Choice",
            "Choices": [
                {**equals("$.phaseNow.value", MigrationPhase.ROLLED_BACK.value), "Next": "NothingToDo"},
                {**equals("$.run.stage", "traffic"), "Next": "WhyRestored"},
                {**equals("$.phaseNow.value", MigrationPhase.APP_CUTOVER.value), "Next": "RestorePhase"},
            ],
            "Default": "NothingToDo",
        },
        "RestorePhase": put_phase(
            targets, None, "NotifyNothingMoved", catch="NotifyNothingMoved", value_path="$.run.previousPhase"
        ),
        "NotifyNothingMoved": notify(
            targets,
            f"Cutover stopped ({env})",
            f"payments {env}: cutover {{}} ended ({{}}) before any traffic moved; the phase is back to {{}}.",
            ["$.run.execution", "$.config.trigger", "$.run.previousPhase"],
            "NothingToDo",
        ),
        "WhyRestored": {
            "Type": "Pass",
            "Parameters": {
                "text.$": "States.Format('safety net ({}): cutover {} ended with traffic already back', "
                "$.config.trigger, $.run.execution)"
            },
            "ResultPath": "$.failure",
            "Next": "RecordRestored",
        },
        "WhyRestore": {
            "Type": "Pass",
            "Parameters": {
                "text.$": "States.Format('safety net ({}): cutover {} left traffic off the source', "
                "$.config.trigger, $.run.execution)"
            },
            "ResultPath": "$.failure",
            "Next": "RestoreSourceHealth",
        },
    }
    # The trigger and the run are in $.config before RunPools overwrote it: keep them for the notice.
    states["RunPools"]["Parameters"].update({"trigger.$": "$.config.trigger"})
    states.update(
        restore(
            targets, "Restore", done="RecordRestored", source_dead="RestoreSourceDeadRecord", failed="AutomaticFailed"
        )
    )
    states.update(page_source_dead(targets, "RestoreSourceDead"))
    states.update(
        {
            "RunPoolsInvalid": {
                "Type": "Fail",
                "Error": "RunRecordInvalid",
                "Cause": "the run record names pools that are not a cutover pair; nothing was changed. "
                "Run invoke rollback --pool <pool>",
            },
            "RecordRestored": put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRestored", catch="NotifyRestored"
            ),
            "NotifyRestored": _rolled_back_notice(targets, "NotifyRestored", "Restored"),
            "Restored": {"Type": "Succeed"},
            "AutomaticFailed": notify(
                targets,
                f"ROLLBACK FAILED ({env})",
                f"payments {env}: the automatic rollback could not finish; traffic may be split. Run invoke "
                "rollback --force now. Error: {}",
                ["States.JsonToString($.error)"],
                "AutomaticFailedFail",
            ),
            "AutomaticFailedFail": {"Type": "Fail", "Error": "RollbackFailed", "Cause": "see the notice; act by hand"},
        }
    )
    return states


def _operator(targets: Targets) -> States:
    """An operator's rollback: to the pool asked for (or the last cutover's source), healthy unless forced."""
    env = lit(targets.environment)
    states: States = {
        "OperatorPool": {
            "Type": "Choice",
            "Choices": [{**present("$.config.pool"), "Next": "ResolvePool"}],
            "Default": "PoolFromRun",
        },
        "PoolFromRun": {
            "Type": "Pass",
            "Parameters": {"pool.$": "$.run.source"},
            "ResultPath": "$.fromRun",
            "Next": "UsePoolFromRun",
        },
        "UsePoolFromRun": {
            "Type": "Pass",
            "Parameters": {"config.$": "States.JsonMerge($.config, $.fromRun, false)"},
            "ResultPath": "$.merged",
            "Next": "MergedConfig",
        },
        "MergedConfig": {
            "Type": "Pass",
            "InputPath": "$.merged.config",
            "ResultPath": "$.config",
            "Next": "ResolvePool",
        },
        "ResolvePool": {
            "Type": "Choice",
            "Choices": [{**equals("$.config.pool", p.value), "Next": f"Pool{p.value.title()}"} for p in Pool],
            "Default": "InvalidPool",
        },
        "InvalidPool": {
            "Type": "Fail",
            "Error": "InvalidInput",
            "Cause": f"pool must be one of {', '.join(p.value for p in Pool)}; nothing was changed",
        },
    }
    for pool in Pool:
        states[f"Pool{pool.value.title()}"] = {
            "Type": "Pass",
            "Result": {
                "name": pool.value,
                "targetGroupArn": targets.target_group_arns[pool.value],
                "targetGroups": [
                    {"TargetGroupArn": targets.target_group_arns[p.value], "Weight": 100 if p is pool else 0}
                    for p in Pool
                ],
            },
            "ResultPath": "$.pool",
            "Next": "OperatorPhase",
        }
    aurora = [equals("$.phaseNow.value", p.value) for p in sorted(AURORA_PHASES, key=lambda p: p.value)]
    states.update(
        {
            # The legacy pool writes on-prem: while Aurora is the writer no traffic may reach it, forced or not.
            "OperatorPhase": task(
                sdk("ssm", "getParameter"),
                {"Name": targets.phase_parameter_name},
                "LegacyAllowed",
                catch="PhaseUnknown",
                result_path="$.phaseNow",
                result_selector={"value.$": "$.Parameter.Value"},
                retry=RETRY_ROLLBACK,
            ),
            "PhaseUnknown": {
                "Type": "Pass",
                "Result": {"value": "unknown"},
                "ResultPath": "$.phaseNow",
                "Next": "LegacyAllowed",
            },
            "LegacyAllowed": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            equals("$.pool.name", Pool.LEGACY.value),
                            {"Or": [*aurora, equals("$.phaseNow.value", "unknown")]},
                        ],
                        "Next": "DatabaseOnAws",
                    }
                ],
                "Default": "Forced",
            },
            "DatabaseOnAws": {
                "Type": "Fail",
                "Error": "DatabaseOnAws",
                "Cause": "Aurora is the writer (or the phase could not be read) and the legacy pool writes on-prem: "
                "no traffic was moved. Fall the database back first: invoke fallback --env "
                f"{lit(targets.environment)}, then roll back to legacy",
            },
            "Forced": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.config.force", "BooleanEquals": True, "Next": "StopCutovers"}],
                "Default": "PoolHealth",
            },
            **healthy(targets, "PoolHealth", "$.pool.targetGroupArn", yes="StopCutovers", no="PoolUnhealthy"),
            "PoolUnhealthy": {
                "Type": "Fail",
                "Error": "PoolUnhealthy",
                "Cause": "the pool has no healthy target; nothing was changed. Scale it up, or start the "
                "rollback with force=true to move traffic anyway",
            },
            **stop_cutovers(targets, "StopCutovers", "SetRollbackWeights", "RollbackNotDone"),
            "SetRollbackWeights": task(
                sdk("elasticloadbalancingv2", "modifyListener"),
                {
                    "ListenerArn": targets.listener_arn,
                    "DefaultActions": [
                        {
                            "Type": "forward",
                            "ForwardConfig": {
                                "TargetGroups.$": "$.pool.targetGroups",
                                "TargetGroupStickinessConfig": stickiness(targets),
                            },
                        }
                    ],
                },
                "KeepPhase",
                catch="RollbackNotDone",
                retry=RETRY_ROLLBACK,
            ),
            # Between blue and green while Aurora is the writer, the phase (who writes) does not change.
            "KeepPhase": {
                "Type": "Choice",
                "Choices": [{"Or": [*aurora, equals("$.phaseNow.value", "unknown")], "Next": "NotifyRolledBack"}],
                "Default": "RecordRolledBack",
            },
            "RecordRolledBack": put_phase(
                targets, MigrationPhase.ROLLED_BACK.value, "NotifyRolledBack", catch="NotifyRolledBack"
            ),
            "NotifyRolledBack": notify(
                targets,
                f"Rollback done ({env})",
                f"payments {env}: rollback by an operator, 100% of traffic is on {{}}.",
                ["$.pool.name"],
                "RolledBack",
            ),
            "RolledBack": {"Type": "Succeed"},
            "RollbackNotDone": notify(
                targets,
                f"ROLLBACK FAILED ({env})",
                f"payments {env}: rollback to {{}} failed; act by hand now. Error: {{}}",
                ["$.pool.name", "States.JsonToString($.error)"],
                "RollbackFailed",
            ),
            "RollbackFailed": {"Type": "Fail", "Error": "RollbackFailed", "Cause": "see the notice; act by hand"},
        }
    )
    return states


def rollback_definition(targets: Targets) -> dict[str, Any]:
    """Force traffic back (see the module docstring for the three triggers and the rule).

    Input (all optional): ``{"pool": "legacy", "force": false, "trigger": "operator", "executionArn": ...}``.
    """
    return {
        "Comment": f"payments {lit(targets.environment)}: put traffic back on one pool, stopping any running cutover",
        "StartAt": "Defaults",
        "TimeoutSeconds": ROLLBACK_TIMEOUT_SECONDS,
        "States": {**_start(targets), **_automatic(targets), **_operator(targets)},
    }
