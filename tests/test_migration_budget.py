"""The event budget is measured, not guessed: each loop of the planned cutover costs what budget.py says.

Step Functions fails an execution whose history reaches 25,000 events, and no Catch sees it. budget.py derives
the accepted bounds (steps, bake and hold polls, maxPolls) from per-loop costs. These tests run the real
definition in the emulator, count the history events of runs that differ by exactly one iteration of one loop,
and require the constants to equal the measurement: change a state, and a test here names the new number.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.core.errors import ConfigError
from payments.cutover import emulator
from payments.layers.migration import budget
from payments.layers.migration.budget import Loops
from payments.layers.migration.schedule import CutoverInput, Pool
from tests.test_cutover_emulator import Rig
from tests.test_migration_state_machine import targets as make_targets

#: One step whose bake is one gate poll (bake = poll), no hold, one poll of each bounded wait.
ONE = {"steps": [100], "bakeSeconds": 240, "pollSeconds": 240, "holdSeconds": 0, "maxPolls": 1}
#: Blue to green, so the hold (and the scale-down after it) runs: the legacy pool is never scaled down.
BLUE_TO_GREEN = {**ONE, "sourcePool": "blue", "targetPool": "green", "scaleDownSource": True, "holdSeconds": 240}
ON_BLUE = {"legacy": 0, "blue": 100, "green": 0}


def events_of(payload: dict[str, Any], **options: Any) -> int:
    """Memoized: several tests compare against the same baseline run."""
    key = json.dumps([payload, options], sort_keys=True)
    if key not in _MEASURED:
        _MEASURED[key] = _measure(payload, **options)
    return _MEASURED[key]


_MEASURED: dict[str, int] = {}


def _measure(
    payload: dict[str, Any],
    *,
    dms: bool = False,
    start: dict[str, int] | None = None,
    alarm_in_hold: int = 0,
    **standins: Any,
) -> int:
    """History events of one cutover execution with this input (the safety net's own executions not counted)."""
    with emulator.emulator() as aws:
        rig = Rig(aws, make_targets(dms=dms), CutoverInput(), start=start, **standins)
        if alarm_in_hold:  # the gate goes to ALARM just before the hold's last reading (number alarm_in_hold)
            cloudwatch, ticks = aws.client("cloudwatch"), []

            def tick(_: object) -> None:
                ticks.append(1)
                if len(ticks) == alarm_in_hold:
                    cloudwatch.set_alarm_state(
                        AlarmName=rig.targets.gate_alarm_name, StateValue="ALARM", StateReason="budget test"
                    )

            aws.control.when_entered("HoldSourceTick", tick, once=False)
        rig.run(payload)
        return len(rig.history())


def test_each_further_step_costs_events_per_step() -> None:
    one, two = events_of(ONE), events_of({**ONE, "steps": [50, 100]})
    # the second step also reads the gate once in its bake
    assert two - one == budget.EVENTS_PER_STEP + budget.EVENTS_PER_GATE_POLL


def test_each_further_gate_reading_costs_events_per_gate_poll() -> None:
    in_bake = events_of({**ONE, "pollSeconds": 120}) - events_of(ONE)
    in_hold = events_of({**BLUE_TO_GREEN, "holdSeconds": 480}, start=ON_BLUE) - events_of(
        BLUE_TO_GREEN, start=ON_BLUE
    )
    assert in_bake == in_hold == budget.EVENTS_PER_GATE_POLL


def test_each_further_dms_poll_costs_events_per_dms_poll() -> None:
    one = events_of(ONE, dms=True, dms_in_sync=False)
    two = events_of({**ONE, "maxPolls": 2}, dms=True, dms_in_sync=False)
    assert two - one == budget.EVENTS_PER_DMS_POLL


def test_each_further_application_poll_costs_events_per_app_poll() -> None:
    one = events_of(ONE, target_pools_ready=False)
    two = events_of({**ONE, "maxPolls": 2}, target_pools_ready=False)
    assert two - one == budget.EVENTS_PER_APP_POLL


def test_fixed_cost_is_the_longest_one_iteration_run() -> None:
    """Every loop once, the DMS stage, the hold and the scale-down, ending in a rollback from the hold."""
    measured = events_of(BLUE_TO_GREEN, dms=True, start=ON_BLUE, alarm_in_hold=1)
    assert measured == budget.events(Loops(steps=1, bake_polls=1, hold_polls=1, dms_polls=1, app_polls=1))
    # a successful run of the same shape costs less: the formula is an upper bound, not an average
    assert events_of(BLUE_TO_GREEN, dms=True, start=ON_BLUE) < measured


def test_the_formula_predicts_a_longer_run_exactly() -> None:
    payload = {**BLUE_TO_GREEN, "steps": [10, 50, 100], "pollSeconds": 80, "holdSeconds": 160}
    measured = events_of(payload, dms=True, start=ON_BLUE, alarm_in_hold=2)
    assert measured == budget.events(budget.loops_of(3, 240, 160, 80, 1))


def test_no_accepted_input_can_reach_the_history_quota() -> None:
    worst = budget.events(budget.WORST_CASE)
    assert worst <= budget.SAFE_EVENTS < budget.HISTORY_QUOTA
    # the bounds are tight: one more poll of each wait would leave the safe budget
    one_more = Loops(budget.MAX_STEPS, budget.MAX_BAKE_POLLS, budget.MAX_HOLD_POLLS, budget.MAX_POLLS + 1,
                     budget.MAX_POLLS + 1)
    assert budget.events(one_more) > budget.SAFE_EVENTS


def test_the_largest_accepted_input_is_accepted_and_one_more_is_refused() -> None:
    poll = 60
    largest = CutoverInput(
        source_pool=Pool.BLUE,
        target_pool=Pool.GREEN,
        steps=tuple(range(10, 101, 10)),
        bake_seconds=budget.MAX_BAKE_POLLS * poll,
        poll_seconds=poll,
        hold_seconds=budget.MAX_HOLD_POLLS * poll,
        max_polls=budget.MAX_POLLS,
        scale_down_source=True,
    )
    loops = budget.loops_of(len(largest.steps), largest.bake_seconds, largest.hold_seconds, poll, largest.max_polls)
    assert loops == budget.WORST_CASE
    assert budget.events(loops) <= budget.SAFE_EVENTS
    with pytest.raises(ConfigError, match=r"maxPolls|max_polls"):
        CutoverInput(max_polls=budget.MAX_POLLS + 1)
    with pytest.raises(ConfigError):
        CutoverInput(steps=(*range(9, 100, 9), 100))  # 12 steps
    with pytest.raises(ConfigError):
        CutoverInput(bake_seconds=(budget.MAX_BAKE_POLLS + 1) * poll, poll_seconds=poll)
