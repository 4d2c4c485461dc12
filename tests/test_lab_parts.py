"""The lab's parts on real servers: MariaDB pair, binlog replication, HAProxy (ALB and fences), the payment
service and the writer record. One lab serves the module; each test puts back what it changes."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from payments.lab import database
from payments.lab.database import Credentials
from payments.lab.lab import SERVER_IDS, Lab, LabSettings
from payments.lab.proxy import Proxy
from payments.lab.replication import Direction, State

pytestmark = pytest.mark.xdist_group("lab")


@pytest.fixture(scope="module")
def passwords() -> Iterator[dict[str, Credentials]]:
    """The generated logins, captured for the tests that need to log in as the app or look for leaks."""
    made: dict[str, Credentials] = {}
    original = Credentials.generate

    def capture(user: str) -> Credentials:
        made[user] = original(user)
        return made[user]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Credentials, "generate", staticmethod(capture))
        yield made


@pytest.fixture(scope="module")
def lab(passwords: dict[str, Credentials]) -> Iterator[Lab]:
    with Lab(LabSettings(dns_ttl_seconds=1.0)) as running:
        running.replication_start(Direction.FORWARD)
        yield running


def request(lab: Lab, method: str, path: str, key: str | None = None,
            body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", lab.proxy.port, timeout=10)
    headers = {"Idempotency-Key": key} if key else {}
    payload = json.dumps(body if body is not None else {"amountCents": 1250, "currency": "EUR"}).encode()
    conn.request(method, path, body=payload if method != "GET" else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw) if raw else {}


def pay(lab: Lab, key: str) -> dict[str, Any]:
    """A payment through the proxy, retried while the service cannot reach its database (TTL, fences)."""
    deadline = time.monotonic() + 15
    while True:
        status, _, body = request(lab, "POST", "/payments", key)
        if status in (200, 201):
            return body
        assert time.monotonic() < deadline, f"payment {key} not taken: {status} {body}"
        time.sleep(0.1)


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def app_connection(lab: Lab, creds: dict[str, Credentials], port: int) -> pymysql.connections.Connection[Any]:
    app = creds[database.APP_USER]
    return pymysql.connect(host="127.0.0.1", port=port, user=app.user, password=app.password,
                           database="payments", connect_timeout=3, read_timeout=3, ssl_disabled=True)


# -- databases --------------------------------------------------------------------------------------------


def test_each_server_logs_row_images_with_its_own_gtid_domain(lab: Lab) -> None:
    seen = {}
    for name, db in lab.databases.items():
        row = db.query("SELECT @@log_bin AS log_bin, @@binlog_format AS fmt, @@binlog_row_image AS image, "
                       "@@log_slave_updates AS slave_updates, @@server_id AS id, @@gtid_domain_id AS domain")[0]
        assert (row["log_bin"], row["fmt"], row["image"], row["slave_updates"]) == (1, "ROW", "FULL", 1), name
        seen[name] = (row["id"], row["domain"])
    assert seen["onprem"] != seen["aws"]
    assert all(db.port != lab.proxy.port and db.running for db in lab.databases.values())


def test_app_and_replication_users_have_least_privilege(lab: Lab, passwords: dict[str, Credentials]) -> None:
    for db in lab.databases.values():
        app = [next(iter(r.values())) for r in db.query(f"SHOW GRANTS FOR '{database.APP_USER}'@'127.0.0.1'")]
        assert [g for g in app if not g.startswith("GRANT USAGE")] == [
            "GRANT SELECT, INSERT ON `payments`.`payments` TO `payments_app`@`127.0.0.1`"]
        repl = [next(iter(r.values())) for r in
                db.query(f"SHOW GRANTS FOR '{database.REPLICATION_USER}'@'127.0.0.1'")]
        assert repl[0].startswith("GRANT REPLICATION SLAVE ON *.* TO `payments_repl`@`127.0.0.1`") and len(repl) == 1
    conn = app_connection(lab, passwords, lab.databases["onprem"].port)
    with pytest.raises(pymysql.err.OperationalError, match="UPDATE command denied"):
        conn.cursor().execute("UPDATE payments SET amount_cents = 0")
    conn.close()


def test_generated_passwords_appear_in_no_command_line_and_no_lab_file(lab: Lab,
                                                                      passwords: dict[str, Credentials]) -> None:
    secrets = [c.password for c in passwords.values()]
    assert len(secrets) == 2 and all(len(s) >= 24 for s in secrets)
    children = [i.proc.pid for i in lab.instances] + [db._proc.pid for db in lab.databases.values() if db._proc]
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(s in cmdline for s in secrets), pid
    data_dirs = {db.data_dir for db in lab.databases.values()}
    for path in lab.folder.rglob("*"):
        if path.is_file() and not any(d in path.parents for d in data_dirs) and path.suffix != ".sock":
            text = path.read_bytes().decode(errors="replace")
            assert not any(s in text for s in secrets), f"a password is in {path}"
    # The replica keeps its source login in master.info, as MySQL does: only the lab's user can read the folder.
    assert os.stat(lab.folder).st_mode & 0o077 == 0


# -- payment service -------------------------------------------------------------------------------------------


def test_payments_are_idempotent_by_key(lab: Lab) -> None:
    first = pay(lab, "idem-1")
    status, headers, again = request(lab, "POST", "/payments", "idem-1")
    assert status == 200 and again["paymentId"] == first["paymentId"] and again["replayed"] is True
    assert headers["x-pool"] == "legacy"
    status, _, other = request(lab, "POST", "/payments", "idem-1", {"amountCents": 99, "currency": "EUR"})
    assert (status, other["error"]) == (422, "idempotency_key_reused")
    assert request(lab, "POST", "/payments")[0] == 400
    assert request(lab, "GET", "/payments/idem-1")[2]["paymentId"] == first["paymentId"]
    assert request(lab, "GET", "/payments/never-written")[0] == 404


# -- proxy (ALB) ------------------------------------------------------------------------------------------------


def pools_answering(lab: Lab, count: int) -> dict[str, int]:
    seen: dict[str, int] = {}
    for _ in range(count):
        pool = request(lab, "GET", "/payments/none")[1]["x-pool"]
        seen[pool] = seen.get(pool, 0) + 1
    return seen


def test_weights_split_traffic_and_a_zero_weight_gets_nothing(lab: Lab) -> None:
    try:
        lab.set_weights({"legacy": 0, "blue": 100})
        assert pools_answering(lab, 60) == {"blue": 60}
        lab.set_weights({"legacy": 25, "blue": 75})
        seen = pools_answering(lab, 200)
        assert 0.6 <= seen["blue"] / 200 <= 0.9, seen
    finally:
        lab.set_weights({"legacy": 100})
    assert pools_answering(lab, 30) == {"legacy": 30}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_pause_answers_writes_like_the_alb_rule_without_a_retry_after_header(lab: Lab, method: str) -> None:
    lab.set_write_pause(True)
    try:
        status, headers, body = request(lab, method, "/payments", "paused-1")
        assert (status, body) == (503, {"error": "write_paused", "retryAfterSeconds": 2})
        assert headers["content-type"] == "application/json"
        assert "retry-after" not in headers
        assert request(lab, "GET", "/payments/paused-1")[0] == 404, "reads pass the pause"
    finally:
        lab.set_write_pause(False)
    assert request(lab, "POST", "/payments", f"after-pause-{method}")[0] == 201


# -- replication (DMS) --------------------------------------------------------------------------------------------


def test_forward_replication_applies_payments_and_a_lag_shows_in_its_figures(lab: Lab) -> None:
    forward = Direction.FORWARD
    key = pay(lab, "repl-1")["idempotencyKey"]
    wait_for(lambda: lab.replication_status(forward).drained)
    assert key in {r.idempotency_key for r in lab.databases["aws"].rows()}
    lab.replication_lag(forward, 60)
    try:
        for n in range(3):
            pay(lab, f"lagged-{n}")
        time.sleep(1.5)
        lagging = lab.replication_status(forward)
        assert lagging.state is State.RUNNING
        assert lagging.incoming_changes >= 3 and lagging.latency_seconds >= 1 and not lagging.drained
    finally:
        lab.replication_lag(forward, 0)
    wait_for(lambda: lab.replication_status(forward).drained)
    assert {"lagged-0", "lagged-2"} <= {r.idempotency_key for r in lab.databases["aws"].rows()}


def test_replication_reports_failed_with_the_error_then_runs_again(lab: Lab) -> None:
    lab.replication_fail(Direction.FORWARD)
    try:
        wait_for(lambda: lab.replication_status(Direction.FORWARD).state is State.FAILED)
        status = lab.replication_status(Direction.FORWARD)
        assert status.error is not None and "Access denied" in status.error
    finally:
        lab.replication_start(Direction.FORWARD)
    wait_for(lambda: lab.replication_status(Direction.FORWARD).state is State.RUNNING)
    lab.replication_stop(Direction.FORWARD)
    assert lab.replication_status(Direction.FORWARD).state is State.STOPPED
    lab.replication_start(Direction.FORWARD)
    wait_for(lambda: lab.replication_status(Direction.FORWARD).drained)


# -- fences (NACL) and the writer record (Route 53) ------------------------------------------------------------------


def test_a_fence_cuts_open_connections_and_refuses_new_ones(lab: Lab, passwords: dict[str, Credentials]) -> None:
    port = lab.fences.port("onprem")
    pooled = app_connection(lab, passwords, port)
    lab.set_fence("onprem", True)
    try:
        with pytest.raises(pymysql.err.OperationalError):
            pooled.cursor().execute("SELECT 1")
        with pytest.raises(pymysql.err.OperationalError):
            app_connection(lab, passwords, port)
    finally:
        lab.set_fence("onprem", False)
    fresh = app_connection(lab, passwords, port)
    fresh.cursor().execute("SELECT 1")
    fresh.close()
    with pytest.raises(pymysql.err.OperationalError):
        app_connection(lab, passwords, lab.fences.port("aws"))  # fenced from the start: on-prem is the writer


def test_switch_and_fall_back_move_blue_writes_and_replicate_them_back(lab: Lab) -> None:
    """The single-writer sequence by hand, on a quiet lab: writes follow the record, reverse replication
    starts at the switch point (nothing replayed twice), forward again from the fallback point."""
    lab.set_weights({"legacy": 0, "blue": 100})
    try:
        before = pay(lab, "before-switch")
        assert before["pool"] == "blue" and before["writtenOn"] == 1
        for old, new, drain, back in (("onprem", "aws", Direction.FORWARD, Direction.REVERSE),
                                      ("aws", "onprem", Direction.REVERSE, Direction.FORWARD)):
            lab.set_write_pause(True)
            wait_for(lambda drain=drain: lab.replication_status(drain).drained)
            lab.replication_stop(drain)
            lab.set_indirection(new)
            lab.set_fence(old, True)
            lab.set_fence(new, False)
            lab.replication_start(back, from_switch_point=True)
            lab.set_write_pause(False)
            after = pay(lab, f"after-{new}")
            assert after["writtenOn"] == SERVER_IDS[new], f"blue writes {new} once the record's TTL has passed"
            wait_for(lambda back=back: lab.replication_status(back).drained)
            assert lab.replication_status(back).state is State.RUNNING, "nothing was applied twice"
            copies = {r.idempotency_key: r for r in lab.databases[old].rows()}
            assert copies[f"after-{new}"].payment_id == after["paymentId"]
        assert lab.writer() == "onprem" and lab.fence_state() == {"onprem": False, "aws": True}
    finally:
        lab.set_weights({"legacy": 100})


def test_killing_an_instance_takes_it_out_of_its_pool(lab: Lab) -> None:
    lab.set_weights({"legacy": 0, "blue": 100})
    try:
        lab.kill_instance("blue", 2)
        wait_for(lambda: lab.proxy.server_states()["blue-2"].startswith("DOWN"), timeout=10)
        assert pools_answering(lab, 20) == {"blue": 20}
    finally:
        lab.set_weights({"legacy": 100})


def test_a_lab_that_fails_to_start_leaves_nothing_running(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(LabSettings(instances={"legacy": 1, "blue": 1}))
    pids: list[int] = []
    original = Proxy.start

    def fail(self: Proxy, weights: Any) -> None:
        original(self, weights)
        pids.extend(p.pid for p in (self.haproxy._proc, lab.fences.haproxy._proc) if p)
        pids.extend([i.proc.pid for i in lab.instances] + [db._proc.pid for db in lab.databases.values() if db._proc])
        raise RuntimeError("injected start-up failure")

    monkeypatch.setattr(Proxy, "start", fail)
    with pytest.raises(RuntimeError, match="injected"):
        lab.__enter__()
    assert len(pids) == 6, "two databases, two services, two HAProxy processes were running"
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert not lab.folder.exists()


def test_a_starting_server_leaves_another_servers_temporary_tables_alone(tmp_path: Path) -> None:
    """mariadbd removes every ``#sql*`` file in its tmpdir as it starts. Servers sharing one tmpdir (/tmp, the
    default) delete each other's temporary tables: a bootstrap running beside a starting server then fails with
    ``Unknown table 'mysql.tmp_user_nopasswd…'`` (seen in CI, with 12 lab tests in error). Each server has its own."""
    from payments.lab import process

    programs = process.programs()
    first = database.Database("first", 1, tmp_path / "first", programs)
    first.install(database.template(programs))
    tmpdir = Path(next((line.split("=", 1)[1] for line in first.config_file.read_text().splitlines()
                        if line.startswith("tmpdir=")), "/tmp"))
    probe = tmpdir / f"#sql-temptable-payments-probe-{os.getpid()}"
    probe.write_text("an open temporary table of the first server")
    second = database.Database("second", 2, tmp_path / "second", programs)
    second.install(database.template(programs))
    second.launch()
    try:
        second.wait_ready()
        assert probe.exists(), f"the second server's start removed {probe}"
    finally:
        second.stop()
        probe.unlink(missing_ok=True)
