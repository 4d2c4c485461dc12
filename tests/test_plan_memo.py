"""The plan memo the suite turns on (issue 11): which layers it may serve, and that a different input misses it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from payments.plan import engine


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh memo; every layer the engine really plans, in order."""
    monkeypatch.setattr(engine, "PLAN_MEMO", {})
    calls: list[str] = []
    real = engine.plan_layer

    def counted(layer: str, *args: Any, **kwargs: Any) -> engine.LayerPlan:
        calls.append(layer)
        return real(layer, *args, **kwargs)

    monkeypatch.setattr(engine, "plan_layer", counted)
    return calls


def test_a_requested_layer_is_planned_afresh_unless_the_caller_opts_in(planned: list[str]) -> None:
    first = engine.plan_environment("dev", ["network"]).layer("network")
    again = engine.plan_environment("dev", ["network"]).layer("network")
    assert planned == ["network", "network"] and again is not first  # what a caller inspects is its own
    assert engine.PLAN_MEMO == {}  # and reaches no one else
    with engine.requested_from_memo():
        kept = engine.plan_environment("dev", ["network"]).layer("network")
        shared = engine.plan_environment("dev", ["network"]).layer("network")
    assert planned == ["network"] * 3 and shared is kept
    assert engine.plan_environment("dev", ["network"]).layer("network") is not kept  # the opt-in has ended


def test_an_upstream_is_served_from_the_memo_and_any_changed_input_misses_it(planned: list[str]) -> None:
    with engine.requested_from_memo():
        engine.plan_environment("dev", ["network"])
    engine.plan_environment("dev", ["data"])
    assert planned == ["network", "data"]  # network came from the memo as data's upstream
    with engine.requested_from_memo():
        two = engine.plan_environment("dev", ["network"], overrides={"network": {"azCount": 2}})
        engine.plan_environment("prod", ["network"])
        engine.plan_environment("dev", ["data"], overrides={"network": {"azCount": 2}})
    assert planned == ["network", "data", "network", "network", "data"]  # other config, other env, other upstream
    assert len(two.layer("network").values["appSubnetIds"]) == 2


def test_a_plan_made_under_a_patched_contract_reaches_no_other_caller(
    planned: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test declares an output secret for its own run (tests/test_secret_hygiene.py): whether it plans through
    the engine or through the tests' plan cache, no caller after it may be served its masked plans."""
    from payments.core import contract

    secret = tuple(dataclasses.replace(o, secret=o.name == "httpsListenerArn") for o in contract.EXPORTS["edge"])
    with monkeypatch.context() as patch:
        patch.setitem(contract.EXPORTS, "edge", secret)
        assert engine.plan_environment("dev", ["edge"]).layer("edge").outputs["httpsListenerArn"] == engine.SECRET
        with engine.requested_from_memo():
            engine.plan_environment("dev", ["edge"])
    with engine.requested_from_memo():
        edge = engine.plan_environment("dev", ["edge"]).layer("edge")
    assert edge.outputs["httpsListenerArn"].startswith("arn:aws:elasticloadbalancing:")
    assert planned.count("edge") == 3  # the contract is part of the key: the masked plan was not served
