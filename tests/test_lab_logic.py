"""The lab's pure logic, without servers: the checker, the weighted split, GTID arithmetic, the resolver's TTL,
the client's retry rules and the one-line errors of `invoke lab`."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from payments.lab import process, scenarios
from payments.lab.checker import check
from payments.lab.database import Row
from payments.lab.indirection import Resolver, Zone
from payments.lab.load import Ack, Answer, LoadGenerator
from payments.lab.proxy import ROLL, pause_body, shares
from payments.lab.replication import ReplicationStatus, State, parse_gtid_positions, pending_transactions

ROOT = Path(__file__).resolve().parents[1]
ONPREM, AWS = 1, 2


def ack(key: str, payment_id: str) -> Ack:
    return Ack(key, payment_id, "blue", "blue-1", 1.0, 1)


# -- checker ---------------------------------------------------------------------------------------------


def test_checker_passes_when_every_acknowledged_payment_is_on_the_writer_once() -> None:
    writer = [Row("k1", "p1", ONPREM), Row("k2", "p2", AWS)]
    other = [Row("k1", "p1", ONPREM)]  # replicated: same payment id, so one payment, not two
    result = check([ack("k1", "p1"), ack("k2", "p2")], writer, other)
    assert result.passed
    assert (result.lost, result.duplicated, result.missing_on_other) == ((), (), 1)


def test_checker_reports_an_acknowledged_payment_missing_on_the_writer_as_lost() -> None:
    result = check([ack("k1", "p1"), ack("k2", "p2")], [Row("k1", "p1", AWS)], [Row("k2", "p2", ONPREM)])
    assert result.lost == ("k2",)
    assert not result.passed


def test_checker_reports_one_payment_written_on_both_sides_as_duplicated() -> None:
    # The client's first attempt committed on-prem (answer lost), its retry landed on aws: two writes, one key.
    result = check([ack("k1", "p-aws")], [Row("k1", "p-aws", AWS)], [Row("k1", "p-onprem", ONPREM)])
    assert result.duplicated == ("k1",)
    assert not result.lost


def test_checker_reports_two_rows_for_one_key_on_one_server_as_duplicated() -> None:
    # A schema without the unique key would let a retry write twice on one server.
    result = check([ack("k1", "p1")], [Row("k1", "p1", AWS), Row("k1", "p1b", AWS)], [])
    assert result.duplicated == ("k1",)


def test_checker_reports_a_final_row_that_is_not_the_acknowledged_write_as_duplicated() -> None:
    result = check([ack("k1", "p1")], [Row("k1", "p2", AWS)], [])
    assert result.duplicated == ("k1",)


def test_checker_counts_rows_no_client_was_told_about_apart() -> None:
    result = check([ack("k1", "p1")], [Row("k1", "p1", AWS), Row("k9", "p9", AWS)], [])
    assert result.passed
    assert result.unacknowledged_rows == 1


# -- weighted split (ALB weights 0-999) -------------------------------------------------------------------


def test_shares_split_the_draw_in_proportion_to_the_weights() -> None:
    assert shares({"legacy": 95, "blue": 5}) == {"legacy": 950, "blue": ROLL, "green": ROLL}
    assert shares({"legacy": 1, "blue": 2, "green": 1}) == {"legacy": 250, "blue": 750, "green": ROLL}
    assert shares({"blue": 999}) == {"legacy": 0, "blue": ROLL, "green": ROLL}


@pytest.mark.parametrize(("weights", "message"), [
    ({"legacy": 1000}, "outside 0-999"),
    ({"legacy": -1}, "outside 0-999"),
    ({"legacy": 0, "blue": 0}, "every weight is 0"),
    ({"orange": 10}, "unknown pool"),
])
def test_shares_refuse_what_the_alb_refuses(weights: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shares(weights)


def test_pause_body_is_the_alb_rule_body() -> None:
    assert json.loads(pause_body(2)) == {"error": "write_paused", "retryAfterSeconds": 2}


# -- replication figures ---------------------------------------------------------------------------------


def test_gtid_positions_parse_per_domain() -> None:
    assert parse_gtid_positions("1-1-42,2-2-7") == {1: 42, 2: 7}
    assert parse_gtid_positions("") == {}


def test_incoming_changes_count_what_the_replica_has_not_applied_since_its_start_point() -> None:
    source = {1: 50, 2: 9}
    assert pending_transactions(source, applied={1: 45, 2: 9}, start={}) == 5
    # Started "from now" at 1-48: the three before it were skipped on purpose, not waiting.
    assert pending_transactions(source, applied={}, start={1: 48, 2: 9}) == 2
    assert pending_transactions(source, applied={1: 60, 2: 9}, start={}) == 0


def test_drained_needs_no_incoming_change_and_no_latency() -> None:
    assert ReplicationStatus(State.RUNNING, 0.0, 0).drained
    assert not ReplicationStatus(State.RUNNING, 0.0, 1).drained
    assert not ReplicationStatus(State.RUNNING, 2.0, 0).drained


# -- indirection -------------------------------------------------------------------------------------------


def test_resolver_keeps_an_answer_for_the_records_ttl(tmp_path: Path) -> None:
    now = [100.0]
    zone = Zone(tmp_path / "zone.json", "lab", {"onprem": "127.0.0.1:1001", "aws": "127.0.0.1:1002"}, 5)
    zone.point_at("onprem")
    resolver = Resolver(zone.path, clock=lambda: now[0])
    assert resolver.resolve(zone.name) == ("127.0.0.1", 1001)
    zone.point_at("aws")
    now[0] += 4.9
    assert resolver.resolve(zone.name) == ("127.0.0.1", 1001), "cached for the CNAME's TTL (5 s)"
    now[0] += 0.2
    assert resolver.resolve(zone.name) == ("127.0.0.1", 1002)
    assert zone.name == "db.lab.payments.internal"


def test_resolver_fails_on_a_name_the_zone_does_not_hold(tmp_path: Path) -> None:
    zone = Zone(tmp_path / "zone.json", "lab", {"onprem": "127.0.0.1:1001", "aws": "127.0.0.1:1002"}, 5)
    zone.point_at("onprem")
    with pytest.raises(LookupError, match="no such record"):
        Resolver(zone.path).resolve("db.other.payments.internal")


# -- the client's side of the contract -----------------------------------------------------------------------


def test_a_paused_answer_is_retried_after_the_body_hint_and_a_header_wins() -> None:
    load = LoadGenerator(1, 1.0)
    paused = Answer(503, {"error": "write_paused", "retryAfterSeconds": 2}, "edge", None)
    wait, _ = load._wait_before_retry(paused, 0.05)
    assert 2.0 <= wait <= 2.4
    with_header = Answer(503, {"error": "write_paused", "retryAfterSeconds": 2}, "edge", 7.0)
    assert 7.0 <= load._wait_before_retry(with_header, 0.05)[0] <= 8.4
    assert not paused.error, "the pause is not an error for the gate"


def test_other_failures_back_off_exponentially_up_to_the_cap() -> None:
    load = LoadGenerator(1, 1.0)
    backoff, waits = 0.05, []
    for _ in range(8):
        wait, backoff = load._wait_before_retry(Answer(None, {}, "unknown", None), backoff)
        waits.append(wait)
    assert backoff == load.retry.max_backoff_seconds
    assert all(0 <= w <= load.retry.max_backoff_seconds for w in waits)
    assert Answer(None, {}, "unknown", None).error and Answer(502, {}, "blue", None).error


# -- starting servers ------------------------------------------------------------------------------------------


def test_no_two_servers_are_given_the_same_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may offer a closed probe's port again; a port is bound only when its server starts."""
    offered = iter([40001, 40001, 40002])

    class Probe:
        def __enter__(self) -> Probe:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(process, "_handed_out", set())
    monkeypatch.setattr(process, "socket", types.SimpleNamespace(socket=Probe))  # this module's view only
    assert [process.free_port(), process.free_port()] == [40001, 40002]


def test_a_database_that_accepts_connections_but_serves_no_login_is_not_ready(tmp_path: Path) -> None:
    """mariadbd binds its socket file and TCP port before it serves logins; readiness is a login that answers."""
    import socket

    from payments.lab.database import Database

    db = Database("onprem", ONPREM, tmp_path, programs={})
    with socket.socket(socket.AF_UNIX) as unix, socket.socket() as tcp:
        unix.bind(str(db.socket))
        unix.listen()
        tcp.bind(("127.0.0.1", db.port))
        tcp.listen()
        with pytest.raises(process.LabError, match=rf"onprem database on port {db.port}: not ready after 1s"):
            db.wait_ready(timeout=1)


def test_a_failed_install_names_the_servers_own_error_and_keeps_its_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mariadb-install-db prints only a generic trailer; the reason is in the server's error log (log-error), and
    the shared template's folder must outlive the failure so the logs the message names can be read."""
    from payments.lab import database

    fake = tmp_path / "mariadb-install-db"
    # Like the real script: the bootstrap server writes its reason to log-error, the script a generic trailer.
    fake.write_text(
        "#!/bin/sh\n"
        'log=$(sed -n "s/^log-error=//p" "${1#--defaults-file=}")\n'
        'echo "2026-12-03  8:00:00 0 [ERROR] InnoDB: io_uring_queue_init() failed with ENOMEM" >> "$log"\n'
        'echo "2026-12-03  8:00:00 0 [ERROR] Plugin \'InnoDB\' init function returned error." >> "$log"\n'
        "echo 'Installation of system tables failed!'\n"
        "echo 'Please check all of the above before submitting a bug report'\necho 'at https://mariadb.org/jira'\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(database, "_templates", {})
    monkeypatch.setattr(database, "_template_failed", [])
    monkeypatch.setattr(database.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(process.LabError) as caught:
        database.template({"mariadb-install-db": str(fake)})
    message = str(caught.value)
    assert "\n" not in message
    assert "[ERROR] Plugin 'InnoDB' init function returned error." in message  # the reason,
    assert "jira" not in message  # not the trailer
    (folder,) = tmp_path.glob("payments-lab-template-*")
    assert str(folder / "error.log") in message and (folder / "error.log").is_file()  # named and still there
    with pytest.raises(process.LabError) as again:  # the next server of this process: the same error, no new folder
        database.template({"mariadb-install-db": str(fake)})
    assert again.value is caught.value and len(list(tmp_path.glob("payments-lab-template-*"))) == 1
    assert database._templates == {}  # nothing for the exit handler to remove
    database._remove_templates()
    assert (folder / "error.log").is_file()


# -- invoke lab: one-line user errors --------------------------------------------------------------------------


def test_missing_servers_fail_in_one_line_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(process, "PROGRAMS", {"mariadbd": "/nonexistent/mariadbd", "haproxy": "/nonexistent/haproxy"})
    with pytest.raises(process.LabError) as caught:
        process.programs()
    message = str(caught.value)
    assert "haproxy, mariadbd" in message
    assert "apt-get install -y --no-install-recommends mariadb-server haproxy" in message
    assert "\n" not in message


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(process.LabError, match=r"--scenario nope: unknown\. Fix: use one of full, fallback"):
        scenarios.scenario("nope")


def test_timing_follows_the_environments_migration_settings() -> None:
    from payments.core import stackfiles

    timing = scenarios.timing_for("dev", quick=False)
    dev = stackfiles.config("migration", "dev")
    assert timing.steps == tuple(dev["payments-migration:trafficSteps"]) == (5, 25, 50, 100)
    # dev bakes at least the gate's evaluation window (240 s), so the lab's full run bakes that long too
    assert timing.bake_seconds == float(dev["payments-migration:bakeSeconds"]) == 240.0
    assert scenarios.timing_for("dev", quick=True).bake_seconds == 2.0


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


@pytest.mark.parametrize(("args", "expected"), [
    (("--env", "nowhere"), "error: unknown environment 'nowhere'"),
    (("--scenario", "nope"), "error: --scenario nope: unknown. Fix: use one of"),
    (("--rate", "fast"), "error: --rate 'fast' is not a number"),
    (("--driver", "robot"), "error: --driver 'robot' is unknown. Fix: use one of machines, manual"),
])
def test_invoke_lab_refuses_bad_arguments_in_one_line(args: tuple[str, ...], expected: str) -> None:
    done = _invoke(*args)
    assert done.returncode == 1
    assert done.stderr.startswith(expected), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# -- verdicts -------------------------------------------------------------------------------------------------


def figures(*, lost: tuple[str, ...] = (), writer: str = "aws", pause: float = 1.0, failed_writes: int = 0,
            catches_loss: bool = False, driver_error: str | None = None) -> scenarios.Figures:
    from payments.lab.checker import CheckResult
    from payments.lab.load import LoadFigures

    result = CheckResult(acknowledged=10, rows_on_writer=10, lost=lost, duplicated=(), unacknowledged_rows=0,
                         missing_on_other=0)
    load = LoadFigures(writes_started=10, acknowledged=10, writes_failed_after_retries=failed_writes,
                       writes_rejected=0, write_attempts=12, reads=5, reads_failed_after_retries=0, reads_not_found=0,
                       pause_answers=2, longest_write_pause_seconds=pause, write_pauses_seconds=(pause,))
    return scenarios.Figures(
        scenario="full", driver="manual", outcome="completed", catches_loss=catches_loss, expected_writer="aws",
        final_writer=writer, pause_bound_seconds=15.0, check=result, load=load, phases=(), startup_seconds=1.0,
        wall_seconds=2.0, replication={}, answers={}, events=[], driver_error=driver_error)


def test_a_clean_scenario_fails_on_anything_a_zero_downtime_migration_must_not_do() -> None:
    assert figures().passed and figures().verdict() == "passed: lost 0, duplicated 0"
    assert figures(lost=("k1",)).problems() == ["1 lost, 0 duplicated"]
    assert figures(writer="onprem").problems() == ["the writer is onprem, expected aws"]
    assert figures(pause=15.5).problems() == ["a write pause of 15.5s exceeds 15s"]
    assert figures(failed_writes=2).problems() == ["2 writes failed after retries"]
    failed = figures(driver_error="the manual driver failed: AbortedError: no drain")
    assert not failed.passed and failed.verdict().startswith("FAILED: the manual driver failed")


def test_a_breaking_scenario_passes_only_when_the_checker_reports_the_loss() -> None:
    assert figures(lost=("k1",), catches_loss=True).verdict() == "caught: 1 lost, 0 duplicated"
    assert not figures(catches_loss=True).passed
    assert not figures(lost=("k1",), catches_loss=True, driver_error="boom").passed
