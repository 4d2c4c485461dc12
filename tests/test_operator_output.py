"""What operators read (issue 14).

- Values are printed exactly as they are: an ARN with ``:secret:`` stays an ARN (rich would print the ㊙ emoji) and
  ``[bold]`` in a value is printed (rich would eat it as a style tag), in every table and line the tasks print.
- At 80 columns no value is cut: plan, outputs, status and the deploy report wrap or stack; every full value can
  still be read off the screen.
- ``--json`` prints data for scripts, with no rich at all.
- ``invoke status`` tells the last deploy from the last run (a no-op skip is a run), and ``--live`` shows what it
  could read before its one-line error.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from invoke import Context
from rich.console import Console, RenderableType
from rich.table import Table

from payments.core.errors import UserError
from payments.cutover import execution
from payments.guardrails.engine import Finding
from payments.ops import commands, records, status
from payments.ops.console import Rows, make_console
from payments.ops.deploy import LayerResult, Report
from payments.ops.progress import report_table
from payments.plan import render
from tests.fake_pulumi import Sandbox
from tests.support import plan

#: An ARN rich would rewrite twice: ':secret:' is an emoji code, '[bold]' a style tag.
TRICKY = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pay[bold]db[/bold]-AbCdEf"
QUIET = make_console(file=io.StringIO(), width=200)
#: Box-drawing characters and white space: what folding and stacking add between the pieces of a value.
LAYOUT = re.compile(r"[\s│┃━─┏┓┗┛┡┩└┘┌┐├┤┬┴┼┳┻╇╈]")


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


def printed(*renderables: RenderableType, width: int = 80, console: Console | None = None) -> str:
    con = console or make_console(record=True, width=width, file=io.StringIO())
    for renderable in renderables:
        con.print(renderable)
    return con.export_text()


def whole(value: str, text: str) -> bool:
    """`value` can be read in `text` in full, allowing for the line breaks and borders folding puts inside it."""
    return LAYOUT.sub("", value) in LAYOUT.sub("", text)


def assert_nothing_cut(text: str, values: list[str], width: int = 80) -> None:
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    missing = [v for v in values if not whole(v, text)]
    assert not missing, f"cut or missing at {width} columns: {missing[:5]}"


def test_the_check_catches_a_cut_value() -> None:
    """The control: rich's default table shortens a long ARN at 80 columns, and `whole` notices."""
    arn = plan("dev").layer("data").outputs["dbSecretArn"]
    table = Table("output", "planned value")
    table.add_row("dbSecretArn", arn)
    assert not whole(arn, printed(table))
    assert whole(arn, printed(render.outputs_table(plan("dev").layer("data"))))


# --- 80 columns ------------------------------------------------------------------------------------------------


def test_plan_at_80_columns_cuts_no_resource_type_and_no_output() -> None:
    p = plan("dev")
    con = make_console(record=True, width=80, file=io.StringIO())
    render.show(p, con)
    text = con.export_text()
    values = [render.text(v) for lp in p.layers for v in lp.outputs.values()]
    values += [t for lp in p.layers for t in lp.counts()]
    assert_nothing_cut(text, values)
    assert whole(render.summary(p), text)


def test_findings_at_80_columns_are_stacked_with_every_message_whole() -> None:
    p = plan("dev")
    layer = p.layer("network")
    long_resource = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::open-https-to-the-world-dev"
    findings = [Finding("no-open-ingress", "mandatory", "1.3.1, 1.4.1", long_resource, "ingress",
                        "0.0.0.0/0 reaches port 443; list client networks or put CloudFront in front " * 2)]
    shown = type(p)(env="dev", layers=[type(layer)(**{**layer.__dict__, "findings": findings})])
    text = printed(render.findings_table(shown))
    assert_nothing_cut(text, [long_resource, findings[0].message, "1.3.1, 1.4.1"])


def test_outputs_at_80_columns_show_every_value_whole(box: Sandbox) -> None:
    planned = {lp.name: dict(lp.outputs) for lp in plan("dev").layers}
    planned["data"]["dbSecretArn"] = TRICKY
    box.set_outputs(planned)
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    con = make_console(record=True, width=80, file=io.StringIO())
    values = commands.outputs("dev", box.root, console=con, package_dir=box.package_dir)
    text = con.export_text()
    shown = [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for outs in values.values()
             for v in (outs or {}).values()]
    assert len(shown) > 50
    assert_nothing_cut(text, shown)
    assert whole(TRICKY, text) and "㊙" not in text


def test_a_failed_deploy_report_and_status_at_80_columns_name_the_whole_log_path(box: Sandbox) -> None:
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    box.fail("data")
    edit = box.root / "data" / "Pulumi.dev.yaml"
    edit.write_text(edit.read_text().replace("slowQuerySeconds: 1", "slowQuerySeconds: 2"))
    con = make_console(record=True, width=80, file=io.StringIO())
    with pytest.raises(UserError, match="see the logs named above"):
        commands.deploy("dev", box.root, console=con, commit="c0ffee", package_dir=box.package_dir,
                        plan_check=False)
    report = json.loads(sorted((box.root / "reports").glob("up-dev-*.json"))[-1].read_text())
    failed = next(r for r in report["layers"] if r["layer"] == "data")
    assert_nothing_cut(con.export_text(), [failed["log"], failed["reason"]])

    con = make_console(record=True, width=80, file=io.StringIO())
    (dev,) = commands.status("dev", box.root, console=con)
    text = con.export_text()
    data = next(ls for ls in dev.layers if ls.layer == "data")
    assert data.deploy is not None and data.deploy.outcome == "failed"
    network = next(ls for ls in dev.layers if ls.layer == "network")
    assert network.run is not None and network.run.outcome == "unchanged"
    assert_nothing_cut(text, [data.deploy.reason, data.deploy.finished[:19].replace("T", " "), "c0ffee",
                              f"skipped (unchanged since {network.run.deployed_at[:19].replace('T', ' ')})"])


def test_a_wide_terminal_gets_a_table_and_a_narrow_one_a_stacked_list() -> None:
    rows = Rows("t", [("layer", "key"), ("what", "value"), ("more", "value")], stack=True)
    rows.add_row("network", "x" * 40, "y" * 40)
    assert "┃ layer" in printed(rows, width=200)
    narrow = printed(rows, width=80)
    assert "┃" not in narrow and re.search(r"^ +what +x{40} *$", narrow, re.M)


# --- values are never rewritten -----------------------------------------------------------------------------


def _cases() -> dict[str, RenderableType]:
    lp = plan("dev").layer("data")
    masked = type(lp)(**{**lp.__dict__, "outputs": {**lp.outputs, "dbSecretArn": TRICKY}})
    report = Report("up", "dev", "r1", "c0ffee", 4, False, records.now())
    report.layers = [LayerResult("data", "failed", f"error: AccessDenied on {TRICKY}", 1.0, log="reports/x/data.log")]
    finding = Finding("rule", "mandatory", "3.5.1", TRICKY, "type", f"message about {TRICKY}")
    shown = type(plan("dev"))(env="dev", layers=[type(lp)(**{**lp.__dict__, "findings": [finding]})])
    return {
        "plan outputs": render.outputs_table(masked),
        "plan findings": render.findings_table(shown),
        "deploy report": report_table(report),
    }


@pytest.mark.parametrize("case", ["plan outputs", "plan findings", "deploy report"])
def test_tables_print_values_as_they_are(case: str) -> None:
    text = printed(_cases()[case], width=250)
    assert TRICKY in text and "㊙" not in text


def test_a_rows_table_is_safe_even_on_a_console_with_markup_and_emoji() -> None:
    rows = Rows("t", [("k", "key"), ("v", "value")])
    rows.add_row("dbSecretArn", TRICKY)
    default = Console(record=True, width=250, file=io.StringIO())  # rich's defaults: markup and emoji on
    assert TRICKY in printed(rows, console=default)


def test_the_task_console_prints_strings_as_they_are() -> None:
    from payments.ops.console import console

    assert (console._markup, console._emoji) == (False, False)  # what every task prints through
    assert printed(f"report: {TRICKY}", width=250).strip() == f"report: {TRICKY}"


def test_the_cutover_timeline_prints_aws_details_as_they_are() -> None:
    con = make_console(record=True, width=250, file=io.StringIO())
    now = datetime.now(UTC)
    execution.print_step(con, now, execution.Step("Rollback", now, detail=f"cause [bold]x[/bold] {TRICKY}"))
    execution.print_outcome(con, execution.Outcome("FAILED", "CutoverRolledBack", f"alarm on {TRICKY}", [],
                                                   {"legacy": 100}))
    text = con.export_text()
    assert f"cause [bold]x[/bold] {TRICKY}" in text and f"cause: alarm on {TRICKY}" in text


def test_status_and_promote_print_values_as_they_are(box: Sandbox) -> None:
    dev = box.root / "data" / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace('paymentTimeoutMs: "3000"', f'paymentTimeoutMs: "{TRICKY}"'))
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    con = make_console(record=True, width=250, file=io.StringIO())
    commands.promote("dev", "prod", box.root, "data", dry_run=True, console=con, package_dir=box.package_dir)
    assert TRICKY in con.export_text()
    store = records.RecordStore(box.root)
    last = store.latest("dev", "edge")
    assert last is not None
    store.write(records.DeployRecord("edge", "dev", "up", "failed", f"error: {TRICKY}", "r9", "c0ffee",
                                     records.now(), records.now(), 1.0))
    con = make_console(record=True, width=250, file=io.StringIO())
    commands.status("dev", box.root, console=con)
    assert f"failed: error: {TRICKY}" in con.export_text()


# --- --json ------------------------------------------------------------------------------------------------------


def _no_rich(out: str) -> Any:
    assert "\x1b[" not in out and "│" not in out and "┃" not in out
    return json.loads(out)


def test_plan_json_is_the_plan_document(capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    tasks.plan(Context(), env="dev", layers="network", json=True)
    doc = _no_rich(capsys.readouterr().out)
    expected = render.document(plan("dev", ["network"]))
    assert doc == json.loads(json.dumps(expected))
    assert doc["summary"] == {"layers": 1, "resources": len(plan("dev", ["network"]).layer("network").resources),
                              "mandatory": 0, "advisory": 0, "suppressed": 0}


def test_outputs_and_status_json(box: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    box.set_outputs({"network": {"vpcId": "vpc-1", "logsKeyArn": TRICKY}})
    commands.deploy("dev", box.root, "network", console=QUIET, commit="c0ffee", package_dir=box.package_dir,
                    plan_check=False)
    capsys.readouterr()
    commands.outputs("dev", box.root, as_json=True, package_dir=box.package_dir)
    doc = _no_rich(capsys.readouterr().out)
    network = next(entry for entry in doc["layers"] if entry["layer"] == "network")
    assert network["outputs"] == {"logsKeyArn": TRICKY, "vpcId": "vpc-1"}
    assert network["stack"] == "organization/payments-network/dev"
    assert next(entry for entry in doc["layers"] if entry["layer"] == "data")["deployed"] is False
    commands.deploy("dev", box.root, "network", console=QUIET, commit="c0ffee", package_dir=box.package_dir,
                    plan_check=False)  # a no-op run
    capsys.readouterr()
    commands.status("dev", box.root, as_json=True)
    (env,) = _no_rich(capsys.readouterr().out)["environments"]
    net = next(entry for entry in env["layers"] if entry["layer"] == "network")
    assert net["lastDeploy"]["outcome"] == "succeeded" and net["lastRun"]["outcome"] == "unchanged"
    assert net["lastDeploy"]["finished"] < net["lastRun"]["finished"]
    assert env["migrationPhaseTag"] == "parallel-run" and env["deployedPhase"] is None


# --- status: a deploy is not a run; --live shows what it could read ------------------------------------------------


def test_status_shows_the_last_deploy_and_the_last_run_separately(box: Sandbox) -> None:
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    deployed = {ls.layer: ls.deploy for ls in status.collect("dev", box.root).layers}
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    con = make_console(record=True, width=250, file=io.StringIO())
    (dev,) = commands.status("dev", box.root, console=con)
    text = con.export_text()
    for ls in dev.layers:
        assert ls.deploy == deployed[ls.layer] and ls.deploy is not None and ls.deploy.outcome == "succeeded"
        assert ls.run is not None and ls.run.outcome == "unchanged" and ls.run.finished > ls.deploy.finished
        assert ls.deploy.finished[:19].replace("T", " ") in text
    assert text.count("succeeded (first deploy), commit c0ffee") == 6
    assert text.count("skipped (unchanged since") == 6
    assert "last deploy (UTC)" in text and "last run (UTC)" in text


def test_status_live_shows_what_it_could_read_then_one_line_error(box: Sandbox) -> None:
    from moto import mock_aws

    box.set_outputs({"migration": {"phaseParameterName": "/payments/dev/migration-phase"}})
    commands.deploy("dev", box.root, console=QUIET, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    con = make_console(record=True, width=80, file=io.StringIO())
    with mock_aws(), pytest.raises(UserError) as err:  # the parameter was never written: AWS says so
        commands.status("dev", box.root, live=True, console=con)
    text = con.export_text()
    assert whole("deployed phase (SSM): unavailable, see the error below", text)
    assert all(layer in text for layer in ("network", "data", "edge", "app", "observability", "migration"))
    assert text.count("succeeded (first deploy)") == 6
    line = str(err.value)
    assert "\n" not in line and line.startswith("dev: reading /payments/dev/migration-phase: ParameterNotFound")
    assert "Fix:" in line


# --- the summary line ------------------------------------------------------------------------------------------


def test_quiet_and_full_plan_print_the_same_summary_line_and_count_one_layer_as_one() -> None:
    p = plan("dev", ["network"])
    full, quiet = io.StringIO(), io.StringIO()
    render.show(p, make_console(file=full, width=250))
    render.show(p, make_console(file=quiet, width=250), quiet=True)
    assert full.getvalue().splitlines()[-1] == quiet.getvalue().splitlines()[-1] == render.summary(p)
    assert render.summary(p).startswith("plan dev: 1 layer, ")
    assert "network outputs" in full.getvalue() and "network outputs" not in quiet.getvalue()
