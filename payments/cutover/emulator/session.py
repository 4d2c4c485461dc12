"""One emulator session: moto with state-machine execution on, the adapter, the virtual clock, and hooks.

Open it with :func:`payments.cutover.emulator.emulator`. Besides the adapter's gaps it gives tests and
``invoke rehearse`` three things moto does not have:

* **time** (:class:`.clock.Clock`): Waits, retry intervals, ``TimeoutSeconds`` and history timestamps are
  virtual, so a 900 s bake costs nothing and still happens in order;
* **completion by event**: :meth:`Session.wait` returns when an execution ends (no polling, no sleeping);
* **hooks** (:class:`.control.Control`): callbacks on every state an execution enters, faults injected into
  chosen Task states, actions at a virtual time, and the 25,000-event history quota that AWS enforces.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import threading
import types
from collections.abc import Iterator
from typing import Any
from unittest import mock

from payments.cutover.emulator import adapter
from payments.cutover.emulator.clock import Clock, WallClock
from payments.cutover.emulator.control import Control
from payments.cutover.emulator.services import Dms, Ecs, Elbv2, Events

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  #: moto's default account; the planner fabricates ARNs in the same one

#: Real seconds :meth:`Session.wait` allows an execution before it reports a hang.
WAIT_SECONDS = 120.0


class Session:
    """The running emulator: its clock, its hooks, and a way to wait for an execution to end."""

    def __init__(self, region: str, clock: Clock) -> None:
        self.region = region
        self.clock = clock
        self.control = Control(self)
        self.events = Events(self)
        self.ecs = Ecs()
        self.elbv2 = Elbv2()
        self.dms = Dms()
        self._ended: dict[str, threading.Event] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._quiet = threading.Condition(self._lock)

    def _event(self, execution_arn: str) -> threading.Event:
        with self._lock:
            return self._ended.setdefault(execution_arn, threading.Event())

    def started(self, execution_arn: str) -> None:
        with self._lock:
            self._running.add(execution_arn)

    def ended(self, execution_arn: str) -> None:
        self._event(execution_arn).set()
        with self._lock:
            self._running.discard(execution_arn)
            self._quiet.notify_all()

    def settle(self, timeout: float = WAIT_SECONDS) -> None:
        """Block until no execution runs and none is about to: what one set off (the safety net) has ended too."""
        with self._lock:
            if not self._quiet.wait_for(lambda: not self._running and not self.events.pending, timeout):
                raise TimeoutError(
                    f"executions still running after {timeout:.0f} real seconds: {self._running} "
                    f"({self.clock.describe()})"
                )

    def poke(self) -> None:
        """Something :meth:`settle` waits on changed."""
        with self._lock:
            self._quiet.notify_all()

    def wait(self, execution_arn: str, timeout: float = WAIT_SECONDS) -> None:
        """Block until the execution has ended (it may already have)."""
        if not self._event(execution_arn).wait(timeout):
            raise TimeoutError(f"execution still running after {timeout:.0f} real seconds: {execution_arn}")

    def reset(self) -> None:
        """Hooks, injected faults and service gaps back to normal (the AWS resources are the caller's to reset)."""
        self.settle()
        self.control.reset()
        self.events.reset()
        self.ecs.reset()
        self.elbv2.reset()
        self.dms.reset()

    def client(self, service: str) -> Any:
        """A boto3 client of the emulated service (one per service for the session: clients are thread-safe)."""
        import boto3

        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(service, region_name=self.region)
            return self._clients[service]


# --- gap 6: time, and the execution life cycle --------------------------------------------------------------


def _virtual_datetime(clock: Clock) -> types.SimpleNamespace:
    """A stand-in for the ``datetime`` module inside moto's state evaluation (``$$.State.EnteredTime``)."""

    class VirtualDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Any:
            now = clock.now()
            return now.astimezone(tz) if tz else now.replace(tzinfo=None)

    return types.SimpleNamespace(datetime=VirtualDatetime, timezone=datetime.timezone, UTC=datetime.UTC)


def _lifecycle_patches(session: Session) -> list[Any]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state import state
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
    from moto.stepfunctions.parser.asl.eval import environment, program_state
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.backend import execution

    clock = session.clock

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        clock.sleep(wait_seconds, awake=env.is_running)

    def program_eval(self: Any, env: Any) -> None:
        # The execution's TimeoutSeconds, measured on the virtual clock (moto joins its worker thread with a
        # real-time timeout).
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        env.next_state_name = self.start_at.start_at_name
        timer = None
        if timeout:
            timer = clock.call_later(timeout, lambda: env.set_timed_out() if env.is_running() else None)

        def evaluate() -> None:
            if env.is_frame():  # a Map iteration runs inside its execution, which holds the slot already
                super(program.Program, self).eval(env)
                return
            clock.begin(env.states.context_object.context_object_data["Execution"]["Id"])  # one at a time (.clock)
            try:
                super(program.Program, self).eval(env)
            finally:
                clock.end()

        worker = threading.Thread(target=evaluate, daemon=True)
        worker.start()
        worker.join()
        if timer is not None:
            clock.cancel(timer)

    real_start = execution.Execution.start
    real_terminated = execution.BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        clock.started(self.exec_arn)
        session.started(self.exec_arn)
        try:
            real_start(self)
        except BaseException:
            session.ended(self.exec_arn)
            clock.finished()
            raise

    def terminated(self: Any) -> None:
        # Whatever the end starts (the safety net) is running before this execution counts as ended.
        real_terminated(self)
        session.control.execution_ended(self.execution)
        session.events.execution_ended(self.execution)
        session.ended(self.execution.exec_arn)
        clock.finished()

    patches = [
        mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait_interval),
        mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=clock.pass_time)),
        mock.patch.object(program.Program, "eval", program_eval),
        mock.patch.object(event_manager.EventManager, "_get_current_timestamp", staticmethod(clock.now)),
        mock.patch.object(state, "datetime", _virtual_datetime(clock)),
        mock.patch.object(execution.Execution, "start", start),
        mock.patch.object(execution.BaseExecutionWorkerCommunication, "terminated", terminated),
    ]
    # A stop, an error or a timeout must wake a Wait that sleeps on the clock.
    for name in ("set_stop", "set_error", "set_timed_out", "set_ended"):
        real = getattr(environment.Environment, name)

        def poked(self: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            # Gap 14: a stop that lands while a Task runs makes moto evaluate the rest of the task on the stopped
            # frame, which fails (States.Runtime), and set_error then overwrites the stop. AWS reports such an
            # execution ABORTED: once stopped, it stays stopped.
            if _name == "set_error" and isinstance(self._program_state, program_state.ProgramStopped):
                return None
            result = _real(self, *args, **kwargs)
            clock.poke()
            return result

        patches.append(mock.patch.object(environment.Environment, name, poked))
    return patches


@contextlib.contextmanager
def emulator(region: str = REGION, *, clock: Clock | None = None) -> Iterator[Session]:
    """moto with state-machine execution on, the adapter patched in, a virtual clock (or the given one, e.g. a
    :class:`~.clock.WallClock` for the lab), throwaway credentials."""
    from moto import mock_aws

    session = Session(region, clock or Clock())
    fake_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        # The stand-ins need a VPC and subnets, never an image: without this moto builds ~2,600 AMIs, volumes and
        # snapshots for every EC2 backend (seconds of CPU per session).
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
    with contextlib.ExitStack() as stack:
        if isinstance(session.clock, WallClock):
            stack.callback(session.clock.close)
        # Never let a real profile or credential leak into (or out of) the emulator.
        stack.enter_context(mock.patch.dict(os.environ, fake_env))
        for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(var, None)
        stack.enter_context(adapter.patched())
        for patch in (
            _lifecycle_patches(session)
            + session.control.patches()
            + session.events.patches()
            + session.ecs.patches()
            + session.elbv2.patches()
            + session.dms.patches()
        ):
            stack.enter_context(patch)
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        # The interpreter logs every caught error (IsPresent probes included) at ERROR level: noise, not news.
        quiet = logging.getLogger("moto.stepfunctions.parser")
        stack.callback(quiet.setLevel, quiet.level)
        quiet.setLevel(logging.CRITICAL)
        yield session
