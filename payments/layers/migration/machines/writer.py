"""The pieces every writer machine (switchover, fallback, finish, their safety net) is built from.

Four mechanisms move or guard the writer, each one AWS call (DESIGN.md section 6):

* **the write pause**: the edge layer's priority-1 listener rule answers POST, PUT, PATCH and DELETE with a fixed
  503 while its condition matches them (``elbv2:ModifyRule``); lifting it puts back its dormant condition, which
  never matches. GET and HEAD keep flowing: reads do not make two writers. An ALB fixed response cannot carry
  ``Retry-After``: the body says to retry, and the client contract says to retry a 503 with the same
  idempotency key;
* **the fence**: NACL egress DENY entries on the app subnets to one database's address and port
  (``ec2:CreateNetworkAclEntry`` / ``DeleteNetworkAclEntry``). NACLs are stateless, so even a pooled connection
  opened before the flip can no longer send a byte to the old writer: the app contract (short connection
  lifetime, reconnect on error, re-resolve the name) is then a matter of recovering fast, not of correctness;
* **the flip**: ``route53:ChangeResourceRecordSets`` UPSERT of the indirection CNAME (TTL 5 s), atomic;
* **replication**: ``databasemigration:StartReplicationTask`` / ``StopReplicationTask`` of the forward (on-prem ->
  Aurora) and reverse (Aurora -> on-prem) tasks.

Every Task that runs while writes are paused has a short ``TimeoutSeconds`` and one retry
(:data:`~payments.layers.migration.budget.PAUSE_TASK_WORST_SECONDS`), so the pause has a bound the settings
decide (:class:`~payments.layers.migration.budget.PauseBudget`).
"""

from __future__ import annotations

from typing import Any

from payments.layers.migration import budget
from payments.layers.migration.machines.asl import States, equals, notify, present, sdk, task
from payments.layers.migration.machines.targets import AURORA, ONPREM, Fence, Targets, WriterTargets

#: The ALB rule condition that pauses writes: every method that can change a payment.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PAUSED_CONDITIONS = [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": list(WRITE_METHODS)}}]
#: Calls made while writes are paused: short, retried once (the pause's bound counts on it).
RETRY_IN_PAUSE = [
    {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": budget.PAUSE_TASK_RETRY_SECONDS,
        "MaxAttempts": 1,
        "BackoffRate": 1.0,
    }
]
#: DMS task states in which a task is (or is about to be) replicating.
REPLICATING = ("running", "starting", "resuming")


def in_pause(state: dict[str, Any]) -> dict[str, Any]:
    """A Task state bounded for use inside the write pause."""
    state["TimeoutSeconds"] = budget.PAUSE_TASK_TIMEOUT_SECONDS
    state["Retry"] = RETRY_IN_PAUSE
    return state


def bounded(states: States) -> States:
    """Every Task of `states` bounded as :func:`in_pause` (they may run while writes are paused)."""
    for state in states.values():
        if state["Type"] == "Task":
            in_pause(state)
    return states


def dms_describe(task_arn: str) -> dict[str, Any]:
    return {"Filters": [{"Name": "replication-task-arn", "Values": [task_arn]}], "WithoutSettings": True}


DMS_FIELDS = {
    "status.$": "$.ReplicationTasks[*].Status",
    "fullLoad.$": "$.ReplicationTasks[*].ReplicationTaskStats.FullLoadProgressPercent",
}


# --- the pause ---------------------------------------------------------------------------------------------


def pause(w: WriterTargets, name: str, next_: str, catch: str) -> dict[str, Any]:
    return in_pause(
        task(
            sdk("elasticloadbalancingv2", "modifyRule"),
            {"RuleArn": w.pause_rule_arn, "Conditions": PAUSED_CONDITIONS},
            next_,
            catch=catch,
            comment=f"pause writes: {', '.join(WRITE_METHODS)} answered 503 by the ALB",
        )
    )


def lift(w: WriterTargets, name: str, next_: str, catch: str) -> dict[str, Any]:
    """Lift the pause: the rule's dormant condition, which never matches (a failure here ends in the safety net)."""
    return in_pause(
        task(
            sdk("elasticloadbalancingv2", "modifyRule"),
            {"RuleArn": w.pause_rule_arn, "Conditions": [dict(c) for c in w.dormant_conditions]},
            next_,
            catch=catch,
            comment="lift the write pause (the rule's dormant condition)",
        )
    )


def read_pause(w: WriterTargets, name: str, next_: str, catch: str) -> dict[str, Any]:
    """``$.pauseRule.fields``: the rule's condition fields (``http-request-method`` while writes are paused)."""
    return task(
        sdk("elasticloadbalancingv2", "describeRules"),
        {"RuleArns": [w.pause_rule_arn]},
        next_,
        catch=catch,
        result_path="$.pauseRule",
        result_selector={"fields.$": "$.Rules[*].Conditions[*].Field"},
    )


# --- the fence ---------------------------------------------------------------------------------------------


def fence_on(w: WriterTargets, fence: Fence, prefix: str, next_: str, catch: str) -> States:
    """One DENY entry per CIDR, in sequence (``{prefix}0``, ``{prefix}1``...)."""
    entries = fence.entries()
    states: States = {}
    for i, (rule, cidr) in enumerate(entries):
        following = f"{prefix}{i + 1}" if i + 1 < len(entries) else next_
        states[f"{prefix}{i}"] = in_pause(
            task(
                sdk("ec2", "createNetworkAclEntry"),
                {
                    "NetworkAclId": w.nacl_id,
                    "RuleNumber": rule,
                    "Egress": True,
                    "Protocol": "6",
                    "RuleAction": "deny",
                    "CidrBlock": cidr,
                    "PortRange": {"From": fence.port, "To": fence.port},
                },
                following,
                catch=catch,
                comment=f"fence: the app subnets can no longer reach {cidr} on port {fence.port}",
            )
        )
    return states


def fence_off(w: WriterTargets, fence: Fence, prefix: str, next_: str, stuck: str) -> States:
    """Delete each entry (an entry already gone is fine), then check that none is left: else `stuck`."""
    entries = fence.entries()
    states: States = {}
    for i, (rule, cidr) in enumerate(entries):
        following = f"{prefix}{i + 1}" if i + 1 < len(entries) else f"{prefix}Check"
        state = in_pause(
            task(
                sdk("ec2", "deleteNetworkAclEntry"),
                {"NetworkAclId": w.nacl_id, "RuleNumber": rule, "Egress": True},
                following,
                catch=None,
                comment=f"lift the fence on {cidr} (already absent is fine: the check below decides)",
            )
        )
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.fenceError", "Next": following}]
        states[f"{prefix}{i}"] = state
    states[f"{prefix}Check"] = in_pause(
        task(
            sdk("ec2", "describeNetworkAcls"),
            {"NetworkAclIds": [w.nacl_id]},
            f"{prefix}Left",
            catch=stuck,
            result_path="$.nacl",
            result_selector={"rules.$": "$.NetworkAcls[*].Entries[?(@.Egress == true)].RuleNumber"},
        )
    )
    states[f"{prefix}Left"] = {
        "Type": "Pass",
        "Parameters": {f"r{rule}.$": f"States.ArrayContains($.nacl.rules, {rule})" for rule, _ in entries},
        "ResultPath": "$.naclLeft",
        "Next": f"{prefix}Gone",
    }
    states[f"{prefix}Gone"] = {
        "Type": "Choice",
        "Choices": [
            {
                "And": [{"Variable": f"$.naclLeft.r{rule}", "BooleanEquals": False} for rule, _ in entries],
                "Next": next_,
            }
        ],
        "Default": stuck,
    }
    return states


# --- the flip and the writer ---------------------------------------------------------------------------------


def flip(w: WriterTargets, writer: str, next_: str, catch: str) -> dict[str, Any]:
    return in_pause(
        task(
            sdk("route53", "changeResourceRecordSets"),
            {
                "HostedZoneId": w.zone_id,
                "ChangeBatch": {
                    "Comment": f"the writer is {writer}",
                    "Changes": [
                        {
                            "Action": "UPSERT",
                            "ResourceRecordSet": {
                                "Name": w.indirection_name,
                                "Type": "CNAME",
                                "TTL": w.ttl_seconds,
                                "ResourceRecords": [{"Value": w.value_of(writer)}],
                            },
                        }
                    ],
                },
            },
            next_,
            catch=catch,
            comment=f"flip {w.indirection_name} to {w.value_of(writer)}: {writer} takes the writes",
        )
    )


def read_writer(w: WriterTargets, prefix: str, *, onprem: str, aurora: str, unknown: str) -> States:
    """Which database the indirection names: branch to `onprem`, `aurora` or (anything else) `unknown`."""

    def names(writer: str) -> dict[str, Any]:
        value = w.value_of(writer)
        # Route 53 may hand the value back with the root dot.
        return {
            "And": [
                present("$.writer.values[0]"),
                {
                    "Or": [
                        {"Variable": "$.writer.values[0]", "StringEquals": value},
                        {"Variable": "$.writer.values[0]", "StringEquals": f"{value}."},
                    ]
                },
                {
                    "Or": [
                        equals("$.writer.names[0]", w.indirection_name),
                        equals("$.writer.names[0]", f"{w.indirection_name}."),
                    ]
                },
            ]
        }

    return {
        prefix: task(
            sdk("route53", "listResourceRecordSets"),
            {
                "HostedZoneId": w.zone_id,
                "StartRecordName": w.indirection_name,
                "StartRecordType": "CNAME",
                "MaxItems": "1",
            },
            f"{prefix}Which",
            catch=unknown,
            result_path="$.writer",
            result_selector={
                "names.$": "$.ResourceRecordSets[*].Name",
                "values.$": "$.ResourceRecordSets[*].ResourceRecords[*].Value",
            },
            comment=f"the writer, from {w.indirection_name}",
        ),
        f"{prefix}Which": {
            "Type": "Choice",
            "Choices": [{**names(ONPREM), "Next": onprem}, {**names(AURORA), "Next": aurora}],
            "Default": unknown,
        },
    }


# --- replication -------------------------------------------------------------------------------------------


def start_from_now(task_arn: str, next_: str, catch: str, *, fresh: bool) -> dict[str, Any]:
    """Start CDC from this instant: writes are paused, so nothing is written before it and nothing is missed.

    A task that never ran starts with ``start-replication``; one that ran before resumes with
    ``resume-processing`` from the given time (never from its old checkpoint: what it would re-read since then
    came the other way and is already on the other side).
    """
    return in_pause(
        task(
            sdk("databasemigration", "startReplicationTask"),
            {
                "ReplicationTaskArn": task_arn,
                "StartReplicationTaskType": "start-replication" if fresh else "resume-processing",
                "CdcStartTime.$": "$$.State.EnteredTime",
            },
            next_,
            catch=catch,
            comment="CDC from now (inside the write pause)",
        )
    )


def resume(task_arn: str, next_: str, catch: str) -> dict[str, Any]:
    """Resume from the task's own checkpoint: exactly where it stopped, so nothing written since is missed."""
    return in_pause(
        task(
            sdk("databasemigration", "startReplicationTask"),
            {"ReplicationTaskArn": task_arn, "StartReplicationTaskType": "resume-processing"},
            next_,
            catch=catch,
            comment="resume from the task's checkpoint",
        )
    )


def stop(task_arn: str, next_: str, catch: str) -> dict[str, Any]:
    return in_pause(
        task(sdk("databasemigration", "stopReplicationTask"), {"ReplicationTaskArn": task_arn}, next_, catch=catch)
    )


def describe(task_arn: str, result_path: str, next_: str, catch: str) -> dict[str, Any]:
    return in_pause(
        task(
            sdk("databasemigration", "describeReplicationTasks"),
            dms_describe(task_arn),
            next_,
            catch=catch,
            result_path=result_path,
            result_selector=DMS_FIELDS,
        )
    )


def replicating(path: str) -> dict[str, Any]:
    return {"Or": [equals(f"{path}.status[0]", s) for s in REPLICATING]}


def ensure_stopped(task_arn: str, prefix: str, next_: str, failed: str) -> States:
    """Stop the task unless it is stopped already (or never ran)."""
    return {
        prefix: describe(task_arn, f"$.{prefix[0].lower()}{prefix[1:]}", f"{prefix}Running", failed),
        f"{prefix}Running": {
            "Type": "Choice",
            "Choices": [{**replicating(f"$.{prefix[0].lower()}{prefix[1:]}"), "Next": f"{prefix}Stop"}],
            "Default": next_,
        },
        f"{prefix}Stop": stop(task_arn, next_, failed),
    }


def ensure_running(task_arn: str, prefix: str, next_: str, failed: str, *, from_now_path: str | None) -> States:
    """Start the task unless it replicates already.

    With `from_now_path` (a boolean in the state): CDC from now when it is true (writes paused), else from the
    task's checkpoint. Without it: always from the checkpoint.
    """
    path = f"$.{prefix[0].lower()}{prefix[1:]}"
    states: States = {
        prefix: describe(task_arn, path, f"{prefix}Running", failed),
        f"{prefix}Running": {
            "Type": "Choice",
            "Choices": [{**replicating(path), "Next": next_}],
            "Default": f"{prefix}How" if from_now_path else f"{prefix}Resume",
        },
        f"{prefix}Resume": resume(task_arn, next_, failed),
    }
    if from_now_path:
        states[f"{prefix}How"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [present(from_now_path), {"Variable": from_now_path, "BooleanEquals": True}],
                    "Next": f"{prefix}Fresh",
                }
            ],
            "Default": f"{prefix}Resume",
        }
        states[f"{prefix}Fresh"] = {
            "Type": "Choice",
            "Choices": [{**equals(f"{path}.status[0]", "ready"), "Next": f"{prefix}FromNowFirst"}],
            "Default": f"{prefix}FromNow",
        }
        states[f"{prefix}FromNowFirst"] = start_from_now(task_arn, next_, failed, fresh=True)
        states[f"{prefix}FromNow"] = start_from_now(task_arn, next_, failed, fresh=False)
    return states


# --- records and notices -------------------------------------------------------------------------------------


def record_run(w: WriterTargets, role: str, stage: str, next_: str, catch: str | None) -> dict[str, Any]:
    """The writer run record: ``execution,machine,phase before,stage`` (a StringList, split safely)."""
    return task(
        sdk("ssm", "putParameter"),
        {
            "Name": w.writer_run_parameter_name,
            "Overwrite": True,
            "Value.$": f"States.Format('{{}},{role},{{}},{stage}', $$.Execution.Id, $.phase.previous)",
        },
        next_,
        catch=catch,
        comment=f"run record: this execution ({role}), the phase before, stage {stage}",
    )


def page(t: Targets, name: str, subject: str, message: str, args: list[str], next_: str) -> dict[str, Any]:
    return notify(t, f"PAGE: {subject} ({t.environment})", f"payments {t.environment}: {message}", args, next_)


def fail(error: str, cause: str | None = None, cause_path: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Fail", "Error": error}
    if cause_path:
        state["CausePath"] = cause_path
    else:
        state["Cause"] = cause
    return state
