"""Hooks into the emulator's interpreter: watch states, inject faults, enforce AWS's history quota.

Everything here acts on the emulated AWS, never on a definition:

* :meth:`Control.every_state` and :meth:`Control.when_entered` call back as an execution enters a state (the
  live timeline of ``invoke rehearse``, a person's StopExecution at a chosen state, a gate alarm at a step);
* :meth:`Control.fail` makes the service call of a Task state fail (always, or its first N attempts), the way a
  throttled or broken AWS API would (the state's own Retry and Catch then run as written);
* the **history quota**: AWS fails an execution whose history reaches 25,000 events ("Maximum execution
  history size ... If the execution history reaches this quota the execution will fail", Step Functions
  service quotas); moto has no such limit, so the hook ends the execution FAILED there.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from payments.cutover.emulator.session import Session

#: AWS's hard quota on an execution's history (events).
HISTORY_QUOTA = 25_000
#: The error the emulator records when the quota ends an execution (AWS documents the failure, not its name).
HISTORY_ERROR = "States.Runtime"
INJECTED_ERROR = "InternalFailure"


@dataclasses.dataclass(frozen=True)
class Entered:
    """An execution entering a state: what a hook sees."""

    execution_arn: str
    state: str
    at: Any  #: virtual datetime
    raw_input: str | None
    events: int  #: events in the execution's history so far

    def input(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.raw_input or "{}")
        except json.JSONDecodeError:
            return {}
        return doc if isinstance(doc, dict) else {}


Hook = Callable[[Entered], None]


def injected_error(state: str, action: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": INJECTED_ERROR, "Message": f"emulator: injected failure at {state}"},
            "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "emulator-fault"},
        },
        action,
    )


class Control:
    """Hooks of one emulator session (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.history_quota = HISTORY_QUOTA
        self.fired: list[str] = []  #: states where an injected fault or a one-shot hook fired, in order
        self._failures: dict[str, int | None] = {}
        self._on_entry: dict[str, list[tuple[Hook, bool]]] = {}
        self._listeners: list[Hook] = []
        self._ended_listeners: list[Callable[[Any], None]] = []
        self._executions: dict[int, tuple[str, Any]] = {}  # id(event manager) -> (execution ARN, environment)
        self._lock = threading.RLock()

    # --- what tests and the rehearsal call -------------------------------------------------------------------

    def every_state(self, hook: Hook) -> None:
        """Call `hook` each time any execution enters any state."""
        self._listeners.append(hook)

    def when_entered(self, state: str, hook: Hook, *, once: bool = True) -> None:
        """Call `hook` when an execution enters `state` (only the first time, unless `once` is false)."""
        with self._lock:
            self._on_entry.setdefault(state, []).append((hook, once))

    def fail(self, state: str, times: int | None = None) -> None:
        """The service call of Task `state` fails: every attempt (`times` None), or its first `times` attempts."""
        with self._lock:
            self._failures[state] = times

    def stop_at(self, state: str, cause: str = "stopped by an operator") -> None:
        """A person's StopExecution while the execution is in `state` (after the state began its work)."""

        def stop(entered: Entered) -> None:
            self.session.client("stepfunctions").stop_execution(
                executionArn=entered.execution_arn, error="Operator", cause=cause
            )

        self.when_entered(state, stop)

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` once `seconds` of virtual time have passed."""
        self.session.clock.call_later(seconds, action)

    def on_execution_ended(self, listener: Callable[[Any], None]) -> None:
        """Call `listener` with moto's execution object whenever an execution ends (any status)."""
        self._ended_listeners.append(listener)

    # --- called by the session's patches ---------------------------------------------------------------------

    def execution_ended(self, execution: Any) -> None:
        for listener in list(self._ended_listeners):
            listener(execution)

    def _entered(self, event_manager: Any, details: dict[str, Any]) -> None:
        with self._lock:
            arn, _ = self._executions.get(id(event_manager), ("", None))
            name = details["name"]
            hooks = self._on_entry.get(name, [])
            due = list(hooks)
            self._on_entry[name] = [(hook, once) for hook, once in hooks if not once]
            if any(once for _, once in due):
                self.fired.append(name)
        entered = Entered(
            arn, name, self.session.clock.now(), details.get("input"), len(event_manager._history_event_list)
        )
        for listener in list(self._listeners):
            listener(entered)
        for hook, _ in due:
            hook(entered)

    def _should_fail(self, state: str) -> bool:
        with self._lock:
            if state not in self._failures:
                return False
            remaining = self._failures[state]
            if remaining is not None:
                if remaining <= 0:
                    return False
                self._failures[state] = remaining - 1
            self.fired.append(state)
            return True

    def _over_quota(self, event_manager: Any) -> None:
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails

        with self._lock:
            _, env = self._executions.get(id(event_manager), ("", None))
        if env is not None and env.is_running() and len(event_manager._history_event_list) >= self.history_quota:
            env.set_error(
                ExecutionFailedEventDetails(
                    error=HISTORY_ERROR,
                    cause=f"the execution history reached the {self.history_quota}-event quota",
                )
            )

    def patches(self) -> list[Any]:
        from moto.stepfunctions.parser.asl.component.program import program
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk,
            state_task_service_sns,
        )
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

        control = self
        patches: list[Any] = []
        for cls in (state_task_service_aws_sdk.StateTaskServiceAwsSdk, state_task_service_sns.StateTaskServiceSns):
            real_call = cls._eval_service_task

            def call(self: Any, env: Any, *args: Any, _real: Any = real_call, **kwargs: Any) -> Any:
                if control._should_fail(self.name):
                    raise injected_error(self.name, self.resource.api_action)
                return _real(self, env, *args, **kwargs)

            patches.append(mock.patch.object(cls, "_eval_service_task", call))

        real_add = EventManager.add_event

        def add_event(self: Any, context: Any, event_type: Any, event_details: Any = None, *a: Any, **k: Any) -> Any:
            result = real_add(self, context, event_type, event_details, *a, **k)
            if str(getattr(event_type, "value", event_type)).endswith("StateEntered") and event_details:
                control._entered(self, event_details["stateEnteredEventDetails"])
            control._over_quota(self)
            return result

        patches.append(mock.patch.object(EventManager, "add_event", add_event))

        real_program_eval_body = program.Program._eval_body

        def eval_body(self: Any, env: Any) -> None:
            # Remember which execution owns this history, for the hooks above (frames share the manager).
            if not env.is_frame():
                arn = env.states.context_object.context_object_data["Execution"]["Id"]
                with control._lock:
                    control._executions[id(env.event_manager)] = (arn, env)
            real_program_eval_body(self, env)

        patches.append(mock.patch.object(program.Program, "_eval_body", eval_body))
        return patches
