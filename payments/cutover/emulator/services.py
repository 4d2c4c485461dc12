"""Gaps in moto's other services that the migration's behaviour depends on, bridged as AWS documents them.

10. EventBridge, producing. moto's Step Functions and CloudWatch emit no events. AWS emits *Step Functions
    Execution Status Change* when a standard execution ends (source ``aws.states``, detail with executionArn,
    stateMachineArn, status, input, error, cause) and *CloudWatch Alarm State Change* when an alarm changes state
    (source ``aws.cloudwatch``, resources = the alarm ARN, detail with alarmName, state, previousState).
    -> the session publishes both to the default bus with ``PutEvents``; moto's own rule matching decides which
    rules fire (the event patterns from the plan, unchanged).
11. EventBridge, delivering. moto delivers to logs, SQS and buses only; a Step Functions target raises
    NotImplementedError. -> start an execution of the target state machine with the target's input transformer
    applied (moto's own template parser), as EventBridge's ``states:StartExecution`` target does, one virtual
    second after the event (:data:`DELIVERY_SECONDS`: EventBridge delivers in near real time, not instantly).
13. Target health. moto reports every registered IP target healthy. -> :meth:`Elbv2.fail_health` makes a target
    group's targets report ``unhealthy`` (Target.FailedHealthChecks), as ALB health checks would for a pool that
    died (the VPN down, the servers stopped).
12. ECS deployments. moto's UpdateService changes the service's task definition but leaves its deployments
    untouched, so a new release would never show as the primary deployment. -> after UpdateService with a task
    definition, the service has one PRIMARY deployment of that task definition, rollout COMPLETED (what ECS
    reports once a rollout has finished). :meth:`Ecs.fail_rollout` makes the next rollout of a service fail the
    way the deployment circuit breaker with rollback ends it: the previous task definition is PRIMARY and
    COMPLETED again.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from payments.cutover.emulator.session import Session


#: Virtual seconds between an event and the start of the execution a rule delivers it to.
DELIVERY_SECONDS = 1.0


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value) if value is not None else None


class Events:
    """Gaps 10 and 11."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.delivered: list[dict[str, Any]] = []  #: every start of a state machine by a rule (for tests)
        self.pending = 0  #: deliveries scheduled and not yet started
        self._lock = threading.Lock()

    def _put(self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        self.session.client("events").put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": resources,
                }
            ]
        )

    def execution_ended(self, execution: Any) -> None:
        status = getattr(execution.exec_status, "value", execution.exec_status)
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": _iso(execution.start_date),
            "stopDate": _iso(execution.stop_date),
            "input": json.dumps(execution.input_data),
            "error": execution.error,
            "cause": execution.cause,
        }
        self._put("aws.states", "Step Functions Execution Status Change", detail, [execution.exec_arn])

    def alarm_changed(self, alarm: Any, previous: str) -> None:
        if alarm.state_value == previous:
            return
        detail = {
            "alarmName": alarm.name,
            "state": {"value": alarm.state_value, "reason": alarm.state_reason},
            "previousState": {"value": previous},
        }
        self._put("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [alarm.alarm_arn])

    def reset(self) -> None:
        with self._lock:
            self.delivered.clear()

    def deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        from moto.events.utils import EventTemplateParser

        transformer = target.get("InputTransformer") or {}
        payload = EventTemplateParser.parse(
            input_template=str(transformer.get("InputTemplate") or ""),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,  # type: ignore[arg-type]
        )

        def start() -> None:
            arn = self.session.client("stepfunctions").start_execution(
                stateMachineArn=target["Arn"], name=f"{rule.name}-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
            )["executionArn"]
            with self._lock:
                self.delivered.append({"rule": rule.name, "input": payload, "executionArn": arn})
                self.pending -= 1
            self.session.poke()

        with self._lock:
            self.pending += 1
        self.session.clock.call_later(DELIVERY_SECONDS, start)

    def patches(self) -> list[Any]:
        from moto.cloudwatch import models as cloudwatch
        from moto.events import models as events

        bridge = self
        real_send = events.Rule.send_to_targets

        def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
            if not self.event_pattern.matches_event(original_event):
                return
            states = [t for t in self.targets if ":states:" in t["Arn"] and ":stateMachine:" in t["Arn"]]
            others = [t for t in self.targets if t not in states]
            for target in states:
                bridge.deliver(self, target, original_event)
            if others:
                kept = self.targets
                self.targets = others
                try:
                    real_send(self, original_event, transform_input)
                finally:
                    self.targets = kept

        real_update = cloudwatch.Alarm.update_state

        def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
            previous = self.state_value
            real_update(self, reason, reason_data, state_value)
            bridge.alarm_changed(self, previous)

        return [
            mock.patch.object(events.Rule, "send_to_targets", send_to_targets),
            mock.patch.object(cloudwatch.Alarm, "update_state", update_state),
        ]


class Ecs:
    """Gap 12."""

    def __init__(self) -> None:
        self._failing: set[str] = set()

    def reset(self) -> None:
        self._failing.clear()

    def fail_rollout(self, service_name: str) -> None:
        """The next rollout of `service_name` fails; the circuit breaker rolls it back to the previous release."""
        self._failing.add(service_name)

    def patches(self) -> list[Any]:
        from moto.ecs import models as ecs

        gap = self
        real_update = ecs.EC2ContainerServiceBackend.update_service

        def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
            requested = service_properties.get("task_definition")
            name = str(service_properties.get("service", "")).split("/")[-1]
            cluster = service_properties.get("cluster", "default")
            before = self._get_service(cluster, name).task_definition if requested else None
            service = real_update(self, service_properties)
            if requested:
                if name in gap._failing:
                    gap._failing.discard(name)
                    service.task_definition = before  # the circuit breaker's rollback
                deployment = dict(service.deployments[0]) if service.deployments else {}
                deployment.update(
                    {
                        "id": f"ecs-svc/{uuid.uuid4().int % 10**16}",
                        "status": "PRIMARY",
                        "taskDefinition": service.task_definition,
                        "rolloutState": "COMPLETED",
                        "desiredCount": service.desired_count,
                        "runningCount": service.desired_count,
                        "pendingCount": 0,
                    }
                )
                service.deployments = [deployment]
            return service

        return [mock.patch.object(ecs.EC2ContainerServiceBackend, "update_service", update_service)]


class Elbv2:
    """Gap 13."""

    def __init__(self) -> None:
        self._failing: set[str] = set()
        self._failing_targets: dict[str, frozenset[str]] = {}

    def reset(self) -> None:
        self._failing.clear()
        self._failing_targets.clear()

    def fail_health(self, target_group_arn: str) -> None:
        self._failing.add(target_group_arn)

    def set_unhealthy_targets(self, target_group_arn: str, target_ids: set[str]) -> None:
        """Exactly these targets of the group fail their health checks (the lab: its dead instances)."""
        self._failing_targets[target_group_arn] = frozenset(target_ids)

    def restore_health(self, target_group_arn: str) -> None:
        self._failing.discard(target_group_arn)

    def patches(self) -> list[Any]:
        from moto.elbv2 import models as elbv2

        gap = self
        real_health = elbv2.FakeTargetGroup.health_for

        def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
            status = real_health(self, target, ec2_backend)
            failing = self.arn in gap._failing or target.get("Id") in gap._failing_targets.get(self.arn, ())
            if failing and status.status == "healthy":
                return elbv2.FakeHealthStatus(
                    status.instance_id,
                    status.port,
                    status.health_check_port,
                    "unhealthy",
                    "Target.FailedHealthChecks",
                    "Health checks failed",
                )
            return status

        return [mock.patch.object(elbv2.FakeTargetGroup, "health_for", health_for)]


class Dms:
    """Gap 15. moto has no ``DescribeTableStatistics``, and ignores ``StartReplicationTaskType`` and ``CdcStartTime``.

    -> table statistics from here: one table whose captured changes are all applied (drained), unless
    :meth:`lag` says the task never catches up (each read then shows more captured than applied, as a source
    still taking writes would). Every start is recorded with its type and CDC start time, for tests to read.
    """

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self._lagging: set[str] = set()
        self._reads: dict[str, int] = {}

    def reset(self) -> None:
        self.starts.clear()
        self._lagging.clear()
        self._reads.clear()

    def lag(self, task_arn: str) -> None:
        self._lagging.add(task_arn)

    def statistics(self, task_arn: str) -> dict[str, Any]:
        self._reads[task_arn] = reads = self._reads.get(task_arn, 0) + 1
        captured = 100 + (reads if task_arn in self._lagging else 0)
        applied = 100
        table = {
            "SchemaName": "payments",
            "TableName": "payments",
            "Inserts": captured,
            "Deletes": 0,
            "Updates": 7,
            "Ddls": 0,
            "AppliedInserts": applied,
            "AppliedDeletes": 0,
            "AppliedUpdates": 7,
            "AppliedDdls": 0,
            "FullLoadRows": 1000,
            "TableState": "Table completed",
            "ValidationFailedRecords": 0,
            "ValidationState": "Validated",
        }
        return {"ReplicationTaskArn": task_arn, "TableStatistics": [table]}

    def patches(self) -> list[Any]:
        from moto.dms.responses import DatabaseMigrationServiceResponse as Responses

        gap = self
        real_start = Responses.start_replication_task

        def describe_table_statistics(self: Any) -> str:
            return json.dumps(gap.statistics(self._get_param("ReplicationTaskArn")))

        def start_replication_task(self: Any) -> str:
            gap.starts.append(
                {
                    "arn": self._get_param("ReplicationTaskArn"),
                    "type": self._get_param("StartReplicationTaskType"),
                    "cdcStartTime": self._get_param("CdcStartTime"),
                }
            )
            return str(real_start(self))

        return [
            mock.patch.object(Responses, "describe_table_statistics", describe_table_statistics, create=True),
            mock.patch.object(Responses, "start_replication_task", start_replication_task),
        ]
