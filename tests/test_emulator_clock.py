"""The emulator's virtual clock and hooks: waits, retries, timeouts and stops happen in order, in no real time.

These are the properties every emulator test relies on, proven on small definitions of their own.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from payments.cutover import emulator
from payments.cutover.emulator.clock import Clock, WallClock


def test_sleepers_wake_in_virtual_order_and_time_moves_only_when_everyone_sleeps() -> None:
    clock = Clock()
    woke: list[tuple[str, float]] = []

    def sleeper(name: str, seconds: float) -> None:
        clock.sleep(seconds)
        woke.append((name, clock.elapsed))
        clock.finished()

    with clock.held():  # nothing moves until both sleepers are asleep
        threads = []
        for name, seconds in (("long", 900.0), ("short", 60.0)):
            clock.started()
            threads.append(threading.Thread(target=sleeper, args=(name, seconds)))
            threads[-1].start()
        time.sleep(0.05)
        assert clock.elapsed == 0.0 and woke == []
    for thread in threads:
        thread.join(timeout=5)
    assert woke == [("short", 60.0), ("long", 900.0)]


def test_a_timer_fires_at_its_virtual_time_before_sleepers_due_then() -> None:
    clock = Clock()
    seen: list[str] = []
    clock.started()  # an execution is busy: scheduling the timer does not move time
    clock.call_later(30, lambda: seen.append(f"timer at {clock.elapsed:.0f}"))
    assert clock.elapsed == 0.0
    clock.sleep(30)
    seen.append(f"sleeper at {clock.elapsed:.0f}")
    clock.finished()
    assert seen == ["timer at 30", "sleeper at 30"]


def test_a_stopped_sleeper_returns_at_once() -> None:
    clock = Clock()
    running = threading.Event()
    running.set()

    def stop() -> None:
        time.sleep(0.05)
        running.clear()
        clock.poke()

    with clock.held():  # another actor is busy: the sleeper cannot be woken by time
        clock.started()
        threading.Thread(target=stop).start()
        started = time.monotonic()
        clock.sleep(3600, awake=running.is_set)
        assert time.monotonic() - started < 2 and clock.elapsed == 0.0
        clock.finished()


def test_on_the_wall_clock_time_moves_while_an_execution_is_busy_and_waits_take_scaled_real_time() -> None:
    clock = WallClock(scale=0.01)  # 1 virtual second = 10 real milliseconds
    try:
        seen: list[float] = []
        clock.started()  # busy: a virtual clock would never move now
        clock.call_later(20, lambda: seen.append(clock.elapsed))
        started = time.monotonic()
        while not seen and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert seen and seen[0] >= 20, "the timer fired at its time although an execution was busy"
        started = time.monotonic()
        clock.sleep(30)  # 30 virtual seconds: about 0.3 real ones
        real = time.monotonic() - started
        clock.finished()
        assert 0.25 <= real < 3, real
        assert clock.elapsed >= 50
        clock.started()
        started = time.monotonic()
        clock.pass_time(20)  # a retry interval: a real (scaled) sleep
        assert time.monotonic() - started >= 0.18
        clock.finished()
    finally:
        clock.close()


def test_the_wall_clock_scale_can_change_between_phases() -> None:
    clock = WallClock(scale=0.001)  # 1000 virtual seconds a real second
    try:
        clock.started()
        clock.sleep(100)  # 0.1 real seconds
        clock.set_scale(0.01)
        started, before = time.monotonic(), clock.elapsed
        clock.sleep(20)  # now 0.2 real seconds
        clock.finished()
        assert time.monotonic() - started >= 0.18
        assert 20 <= clock.elapsed - before < 100, "time did not jump or restart when the scale changed"
    finally:
        clock.close()


def test_a_stopped_sleeper_on_the_wall_clock_returns_at_once() -> None:
    clock = WallClock(scale=1.0)
    try:
        running = threading.Event()
        running.set()
        threading.Timer(0.05, lambda: (running.clear(), clock.poke())).start()
        clock.started()
        started = time.monotonic()
        clock.sleep(3600, awake=running.is_set)
        clock.finished()
        assert time.monotonic() - started < 2
    finally:
        clock.close()


# --- the clock inside the emulator ----------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[emulator.Session]:
    with emulator.emulator() as session:
        yield session


def machine(session: emulator.Session, states: dict[str, Any], **top: Any) -> str:
    name = f"m-{uuid.uuid4().hex[:8]}"
    definition = {"StartAt": next(iter(states)), "States": states, **top}
    return session.client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{emulator.ACCOUNT_ID}:role/r"
    )["stateMachineArn"]


def run(session: emulator.Session, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sfn = session.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input="{}")["executionArn"]
    session.wait(execution)
    return sfn.describe_execution(executionArn=execution), sfn.get_execution_history(executionArn=execution)["events"]


def at(events: list[dict[str, Any]], event_type: str, name: str | None = None) -> datetime:
    for event in events:
        if event["type"] == event_type and (name is None or event["stateEnteredEventDetails"]["name"] == name):
            return event["timestamp"]
    raise AssertionError(f"no {event_type} {name or ''}")


def test_a_long_wait_takes_its_virtual_seconds_and_no_real_ones(aws: emulator.Session) -> None:
    arn = machine(aws, {"Bake": {"Type": "Wait", "Seconds": 900, "Next": "Done"}, "Done": {"Type": "Succeed"}})
    started = time.monotonic()
    described, events = run(aws, arn)
    assert described["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 10
    assert (at(events, "SucceedStateEntered", "Done") - at(events, "WaitStateEntered", "Bake")).total_seconds() == 900


def test_timeout_seconds_ends_the_execution_on_the_virtual_clock(aws: emulator.Session) -> None:
    arn = machine(aws, {"Bake": {"Type": "Wait", "Seconds": 7200, "End": True}}, TimeoutSeconds=3600)
    described, events = run(aws, arn)
    assert described["status"] == "TIMED_OUT"
    assert (at(events, "ExecutionTimedOut") - at(events, "ExecutionStarted")).total_seconds() == pytest.approx(
        3600, abs=1
    )


def test_retry_intervals_pass_virtual_time_with_their_backoff(aws: emulator.Session) -> None:
    arn = machine(
        aws,
        {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
                "Parameters": {"Name": "/missing"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 3.0}],
                "End": True,
            }
        },
    )
    described, events = run(aws, arn)
    assert described["status"] == "FAILED"
    scheduled = [e["timestamp"] for e in events if e["type"] == "TaskScheduled"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(scheduled)]
    assert gaps == [2, 6, 18]  # 2 s, then x3, then x3: the definition's own backoff, in virtual time


def test_a_stop_at_a_state_aborts_the_execution_there(aws: emulator.Session) -> None:
    arn = machine(
        aws,
        {
            "First": {"Type": "Pass", "Next": "Bake"},
            "Bake": {"Type": "Wait", "Seconds": 600, "Next": "After"},
            "After": {"Type": "Succeed"},
        },
    )
    aws.control.stop_at("Bake")
    described, events = run(aws, arn)
    assert described["status"] == "ABORTED" and aws.control.fired == ["Bake"]
    assert "After" not in [e.get("stateEnteredEventDetails", {}).get("name") for e in events]


def test_the_history_quota_fails_an_execution_that_reaches_it(aws: emulator.Session) -> None:
    arn = machine(
        aws,
        {
            "Loop": {"Type": "Pass", "Next": "Again"},
            "Again": {"Type": "Wait", "Seconds": 1, "Next": "Loop"},
        },
    )
    aws.control.history_quota = 200  # the same rule as AWS's 25,000, reached sooner
    described, events = run(aws, arn)
    assert described["status"] == "FAILED" and described["error"] == "States.Runtime"
    assert "200-event quota" in described["cause"]
    assert 200 <= len(events) <= 203
    assert emulator.HISTORY_QUOTA == 25_000


def test_an_injected_fault_fails_the_state_the_way_an_api_error_would(aws: emulator.Session) -> None:
    arn = machine(
        aws,
        {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ssm:putParameter",
                "Parameters": {"Name": "/p", "Value": "v", "Type": "String"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "End": True,
            }
        },
    )
    aws.control.fail("Put", times=2)  # the first try and the first retry fail; the second retry succeeds
    described, _ = run(aws, arn)
    assert described["status"] == "SUCCEEDED" and aws.control.fired == ["Put", "Put"]
    assert aws.client("ssm").get_parameter(Name="/p")["Parameter"]["Value"] == "v"
