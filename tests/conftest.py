"""Suite-wide speed-ups that change no result (issue 11): memoisation of work whose inputs are identical, on from
the start of collection (several test modules plan an environment as they are imported) to the end of the run.

* botocore's parsed service models and endpoint rules are shared by every boto3 session of the run (moto makes a
  new default session per ``mock_aws``, and each used to parse the same JSON again), and moto's SNS signing key is made
  once: :func:`payments.cutover.emulator.adapter.process_caches`;
* a layer plan made through the tests' plan cache (:func:`tests.support.plan`) is reused when everything its
  program reads is identical, the output contract included (:data:`payments.plan.engine.PLAN_MEMO`): for any
  layer planned as an upstream, and for the layers asked for through that cache. A test that plans with the engine
  itself (to watch what the monitor sees, or under a patch) gets its layers planned afresh and shares none of them;
* the cyclic garbage collector runs less often (``gc.set_threshold``): a worker holds over a million objects
  (plans, parsed programs, models). Over the plan, fault-sweep and emulator tests (364 tests, one process), with
  Python's default thresholds it ran 10,180 times (26 over the whole heap) for 27.7 s of CPU; from 50,000
  allocations, 243 times (1) for 8.7 s, at a peak of 714 MB instead of 623. What is collected is the same, only
  later;
* each state-machine definition is parsed once and its program shared by its executions (gap 7 in
  :mod:`payments.cutover.emulator.adapter`): at the end of every worker's run, no program may differ from its state
  at parse time, or an execution could have leaked state into the next.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import pytest

from payments.cutover.emulator import adapter
from payments.plan import engine

_speedups = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    _speedups.callback(gc.set_threshold, *thresholds)
    _speedups.enter_context(adapter.process_caches())
    engine.PLAN_MEMO = {}
    _speedups.callback(setattr, engine, "PLAN_MEMO", None)


@pytest.fixture(scope="session", autouse=True)
def shared_programs_stay_unchanged() -> Iterator[None]:
    yield
    changed = adapter.shared_programs_changed()
    assert not changed, f"an execution wrote into the shared parsed program of {changed} (adapter gap 7)"


def pytest_unconfigure(config: pytest.Config) -> None:
    _speedups.close()
