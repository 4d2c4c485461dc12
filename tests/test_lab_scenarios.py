"""Whole runs on real servers with live load: the full single-writer migration, its traffic moved by the planned
machines, loses nothing, and each way of breaking the design makes the checker report lost or duplicated
payments.

The other scenarios (fallback, gate alarm, faults) run in CI through ``invoke lab --quick`` (.ci/run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments.lab import scenarios
from payments.lab.database import Credentials
from payments.lab.machines import MachineDriver
from payments.lab.manual import ManualDriver

pytestmark = pytest.mark.xdist_group("lab")
QUICK = scenarios.timing_for("dev", quick=True)


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    made: list[str] = []
    original = Credentials.generate

    def capture(user: str) -> Credentials:
        creds = original(user)
        made.append(creds.password)
        return creds

    monkeypatch.setattr(Credentials, "generate", staticmethod(capture))
    yield made


def test_the_full_migration_driven_by_the_planned_machines_loses_and_duplicates_no_payment(
        tmp_path: Path, passwords: list[str]) -> None:
    """dev's planned cutover machine moves the traffic, the switchover and finish machines move the writer (their
    waits on a scaled wall clock, their calls mirrored onto the lab by the bridge)."""
    figures = scenarios.run("full", MachineDriver("dev"), QUICK)

    assert figures.passed, figures.verdict()
    assert (figures.check.lost, figures.check.duplicated) == ((), ())
    assert figures.check.acknowledged >= 300, "50 payments/s for the whole run"
    assert figures.final_writer == "aws"
    assert figures.replication["forward"]["state"] == "stopped" and figures.replication["reverse"]["state"] == "stopped"
    assert [name for name, _ in figures.phases] == [
        "parallel-run", "app-cutover", "app-on-aws", "db-switchover", "db-on-aws", "cutover-complete", "settle"]
    assert 0 < figures.load.longest_write_pause_seconds <= QUICK.max_write_pause_seconds + 5.0
    answered = {key.split()[0] for key in figures.answers}
    assert {"legacy", "blue", "edge"} <= answered, "both pools took payments and the pause answered some"
    ran = [(e["machine"], e["status"]) for e in figures.machine_executions if "safety net" not in e["machine"]]
    assert ran == [("cutover", "SUCCEEDED"), ("switchover", "SUCCEEDED"), ("finish", "SUCCEEDED")]
    # The fenced pause fails blue's reads, so the gate may alarm during the switchover: its safety-net rollback
    # acts only while a cutover runs, and moved nothing.
    assert all(e["weights"]["blue"] == 100 for e in figures.machine_executions if "safety net" in e["machine"])
    mirrored = [e["operation"] for e in figures.events if e["operation"] in (
        "set_write_pause", "set_fence", "replication_stop", "set_indirection", "replication_start")]
    assert mirrored == ["replication_start", "set_write_pause", "set_fence", "replication_stop", "set_indirection",
                        "set_fence", "replication_start", "set_write_pause", "replication_stop"], (
        "pause, fence on-prem, drained and stopped, flip, open aws, reverse from now, lift; finish stops reverse")
    weights = [json.loads(e["detail"]) for e in figures.events if e["operation"] == "set_weights"]
    assert [w["blue"] for w in weights] == [5, 25, 50, 100], "each ModifyListener of the machine reached the proxy"

    report = scenarios.write_report(figures, tmp_path)
    data = json.loads(report.read_text())
    assert report.name == "lab-full.json" and data["driver"] == "machines"
    assert data["machineExecutions"][0]["machine"] == "cutover"
    assert (data["payments"]["lost"], data["payments"]["duplicated"], data["verdict"]) == (
        0, 0, "passed: lost 0, duplicated 0")
    assert len(passwords) == 2 and not any(p in report.read_text() for p in passwords)


@pytest.mark.parametrize("name", ["flip-before-drain", "no-fence", "early-lift", "fence-at-flip"])
def test_breaking_the_single_writer_design_makes_the_checker_report_it(name: str) -> None:
    """Each run removes one safeguard of the switchover (quick: traffic goes to blue in one step first)."""
    figures = scenarios.run(name, ManualDriver(), QUICK)

    assert len(figures.check.lost) + len(figures.check.duplicated) > 0, figures.verdict()
    assert figures.passed and figures.verdict().startswith("caught:")
