"""The database stage of a cutover: DMS running, full load done, CDC latency under its threshold."""

from __future__ import annotations

from payments.layers.migration.machines.asl import States, absent, equals, error, present, sdk, task
from payments.layers.migration.machines.targets import Targets


def database(targets: Targets, next_: str) -> States:
    dms_task = targets.dms_task_arn
    describe = {"Filters": [{"Name": "replication-task-arn", "Values": [dms_task]}], "WithoutSettings": True}
    status = "$.dms.tasks[0].Status"
    return {
        "DescribeDmsTask": task(
            sdk("databasemigration", "describeReplicationTasks"),
            describe,
            "DmsTaskState",
            catch="Abort",
            result_path="$.dms",
            result_selector={"tasks.$": "$.ReplicationTasks"},
        ),
        "DmsTaskState": {
            "Type": "Choice",
            "Choices": [
                {**equals(status, "running"), "Next": "StartDmsWait"},
                {**equals(status, "ready"), "Next": "StartDmsTask"},
                {**equals(status, "stopped"), "Next": "ResumeDmsTask"},
                {
                    "Or": [absent(status), equals(status, "failed"), equals(status, "deleting")],
                    "Next": "DmsTaskUnusable",
                },
            ],
            "Default": "StartDmsWait",
        },
        "DmsTaskUnusable": error(
            "DmsTaskNotRunnable", f"DMS task {dms_task} is missing, failed or being deleted", next_="Abort"
        ),
        "StartDmsTask": task(
            sdk("databasemigration", "startReplicationTask"),
            {"ReplicationTaskArn": dms_task, "StartReplicationTaskType": "start-replication"},
            "StartDmsWait",
            catch="Abort",
        ),
        "ResumeDmsTask": task(
            sdk("databasemigration", "startReplicationTask"),
            {"ReplicationTaskArn": dms_task, "StartReplicationTaskType": "resume-processing"},
            "StartDmsWait",
            catch="Abort",
        ),
        "StartDmsWait": {"Type": "Pass", "Parameters": {"polls": 0}, "ResultPath": "$.wait", "Next": "WaitForDms"},
        "WaitForDms": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": "CheckDmsProgress"},
        "CheckDmsProgress": task(
            sdk("databasemigration", "describeReplicationTasks"),
            describe,
            "CheckDmsLatency",
            catch="Abort",
            result_path="$.dms",
            result_selector={"tasks.$": "$.ReplicationTasks"},
        ),
        "CheckDmsLatency": task(
            sdk("cloudwatch", "describeAlarms"),
            {"AlarmNames": [targets.dms_latency_alarm_name]},
            "DmsInSync",
            catch="Abort",
            result_path="$.latency",
            result_selector={"alarms.$": "$.MetricAlarms"},
            comment="the latency alarm is OK only while CDC latency stays under the threshold",
        ),
        "DmsInSync": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        equals(status, "running"),
                        present("$.dms.tasks[0].ReplicationTaskStats.FullLoadProgressPercent"),
                        {
                            "Variable": "$.dms.tasks[0].ReplicationTaskStats.FullLoadProgressPercent",
                            "NumericEquals": 100,
                        },
                        equals("$.latency.alarms[0].StateValue", "OK"),
                    ],
                    "Next": next_,
                },
                {"Or": [absent(status), equals(status, "failed")], "Next": "DmsTaskUnusable"},
            ],
            "Default": "CountDmsPoll",
        },
        "CountDmsPoll": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.wait.polls, 1)"},
            "ResultPath": "$.wait",
            "Next": "DmsWaitBounded",
        },
        "DmsWaitBounded": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.wait.polls", "NumericLessThanPath": "$.config.maxPolls", "Next": "WaitForDms"}],
            "Default": "DmsNotInSync",
        },
        "DmsNotInSync": error(
            "DmsNotInSync",
            None,
            "DMS was not running with full load done and CDC latency under the threshold after {} polls",
            "$.wait.polls",
            next_="Abort",
        ),
    }
