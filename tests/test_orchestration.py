"""Deploy orchestration against the stand-in `pulumi` (tests/fake_pulumi): order, concurrency, failures,
resume, change detection, reverse destroy, confirmation, reports and records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from payments.core.errors import UserError
from payments.core.graph import LAYERS
from payments.ops import commands, records
from payments.ops.deploy import Orchestrator
from tests.fake_pulumi import Sandbox

QUIET = Console(file=open("/dev/null", "w"), width=200)  # noqa: SIM115 - lives for the session


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


def deploy(box: Sandbox, env: str = "dev", **kw):
    kw.setdefault("plan_check", False)
    return commands.deploy(env, box.root, kw.pop("layers", None), console=QUIET, commit="c0ffee",
                           package_dir=box.package_dir, **kw)


def ups(box: Sandbox) -> dict[str, dict]:
    return {c["layer"]: c for c in box.commands("up")}


def test_deploy_runs_each_layer_in_its_folder_after_its_upstreams(box: Sandbox) -> None:
    report = deploy(box)
    assert [r.outcome for r in report.layers] == ["succeeded"] * 6
    up = ups(box)
    assert set(up) == set(LAYERS)
    for layer, upstreams in LAYERS.items():
        assert up[layer]["cwd"] == str(box.root / layer)
        # --refresh first: ignored properties (listener weights) are then sent as AWS holds them, not as state did
        assert up[layer]["argv"][:5] == ["up", "--yes", "--refresh", "--stack", f"organization/payments-{layer}/dev"]
        assert "--non-interactive" in up[layer]["argv"]
        for upstream in upstreams:
            assert up[upstream]["end"] <= up[layer]["start"], f"{layer} started before {upstream} finished"
    # the stack is selected (created) in the layer folder before its update
    selects = {c["layer"]: c for c in box.commands("stack select")}
    for layer in LAYERS:
        assert selects[layer]["argv"][:4] == ["stack", "select", "--create", "--stack"]
        assert selects[layer]["end"] <= up[layer]["start"]
    # the embedded file backend, handed over in the environment (never `pulumi login`)
    backends = {c["env"]["PULUMI_BACKEND_URL"] for c in box.calls()}
    assert backends == {f"file://{(box.root / '.pulumi-state').resolve()}"}
    assert not any(c["argv"][0] == "login" for c in box.calls())
    assert box.state("migration")["outputs"] == {"migrationId": "migration-1"}


def test_data_and_edge_deploy_side_by_side(box: Sandbox) -> None:
    box.sleep(data=0.8, edge=0.8)
    deploy(box)
    up = ups(box)
    overlap = min(up["data"]["end"], up["edge"]["end"]) - max(up["data"]["start"], up["edge"]["start"])
    assert overlap > 0.4  # both were updating at the same time, not one after the other


def test_workers_bound_concurrency(box: Sandbox) -> None:
    box.sleep(data=0.4, edge=0.4)
    deploy(box, workers=1)
    up = ups(box)
    assert up["data"]["end"] <= up["edge"]["start"] or up["edge"]["end"] <= up["data"]["start"]


def test_failed_layer_stops_dependents_while_independent_layers_finish(box: Sandbox) -> None:
    box.fail("data")
    box.sleep(edge=0.5)  # edge is still running when data fails
    with pytest.raises(UserError) as err:
        deploy(box)
    assert "failed: data" in str(err.value) and "\n" not in str(err.value)
    report = json.loads(sorted((box.root / "reports").glob("up-dev-*.json"))[-1].read_text())
    outcome = {r["layer"]: r for r in report["layers"]}
    assert outcome["network"]["outcome"] == "succeeded"
    assert outcome["edge"]["outcome"] == "succeeded"
    assert outcome["data"]["outcome"] == "failed"
    assert "update failed" in outcome["data"]["reason"]
    assert (box.root / outcome["data"]["log"]).is_file()
    for layer in ("app", "observability", "migration"):
        assert outcome[layer]["outcome"] == "skipped"
        assert outcome[layer]["reason"] == "not run: upstream 'data' failed"
    assert set(ups(box)) == {"network", "data", "edge"}
    assert report["summary"] == {"succeeded": 2, "failed": 1, "skipped": 3}


def test_rerun_after_failure_resumes_where_it_stopped(box: Sandbox) -> None:
    box.fail("app")
    with pytest.raises(UserError):
        deploy(box)
    box.fail()
    before = len(box.commands("up"))
    report = deploy(box)
    outcome = {r.layer: r for r in report.layers}
    assert {k: v.outcome for k, v in outcome.items()} == {
        "network": "unchanged", "data": "unchanged", "edge": "unchanged",
        "app": "succeeded", "observability": "succeeded", "migration": "succeeded"}
    assert outcome["app"].changed == ["retry after failure"]
    assert [c["layer"] for c in box.commands("up")[before:]] == ["app", "observability", "migration"]


def test_noop_deploy_skips_every_layer_in_seconds(box: Sandbox) -> None:
    deploy(box)
    before = len(box.calls())
    started = time.perf_counter()
    report = deploy(box)
    elapsed = time.perf_counter() - started
    assert all(r.outcome == "unchanged" for r in report.layers)
    assert all("unchanged since" in r.reason for r in report.layers)
    new_calls = box.calls()[before:]
    assert {c["command"] for c in new_calls} == {"stack output"}  # only reads: no select, no up
    assert elapsed < 10  # seconds, even on a loaded machine (about 0.4 s unloaded)


def test_changed_program_redeploys_it_and_dependents_only_when_their_inputs_change(box: Sandbox) -> None:
    deploy(box)
    program = box.root / "app" / "__main__.py"
    program.write_text(program.read_text() + "\n# a change\n")
    report = deploy(box)
    outcome = {r.layer: r for r in report.layers}
    assert outcome["app"].outcome == "succeeded" and outcome["app"].changed == ["program"]
    # app's outputs did not change, so nothing downstream has new inputs
    assert outcome["observability"].outcome == "unchanged"
    assert outcome["migration"].outcome == "unchanged"
    assert outcome["network"].outcome == "unchanged"


def test_changed_stack_config_redeploys_that_layer(box: Sandbox) -> None:
    deploy(box)
    stack_file = box.root / "edge" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("deletionProtection: false", "deletionProtection: true"))
    report = deploy(box)
    assert report.result("edge").changed == ["config"]
    assert [r.layer for r in report.layers if r.outcome == "succeeded"] == ["edge"]


def test_upstream_output_change_propagates_to_readers(box: Sandbox) -> None:
    deploy(box)
    # someone ran `pulumi up` in network/ directly and its outputs changed
    state_file = box.root / ".pulumi-state" / ".pulumi" / "stacks" / "payments-network" / "dev.json"
    state = json.loads(state_file.read_text())
    state["outputs"] = {"networkId": "network-2"}
    state_file.write_text(json.dumps(state))
    report = deploy(box)
    outcome = {r.layer: r for r in report.layers}
    assert outcome["network"].outcome == "unchanged"
    for reader in ("data", "edge", "app", "migration"):  # every direct reader of network
        assert outcome[reader].outcome == "succeeded"
        assert outcome[reader].changed == ["upstream outputs"]
    assert outcome["observability"].outcome == "unchanged"  # reads data/edge/app, whose outputs did not change


def test_a_stack_destroyed_outside_invoke_is_redeployed_not_skipped(box: Sandbox) -> None:
    deploy(box)
    (box.root / ".pulumi-state" / ".pulumi" / "stacks" / "payments-migration" / "dev.json").unlink()
    report = deploy(box)
    outcome = {r.layer: r for r in report.layers}
    assert outcome["migration"].outcome == "succeeded"
    assert outcome["migration"].changed == ["stack missing or empty (destroyed outside invoke)"]
    assert [name for name, r in outcome.items() if r.outcome == "unchanged"] == [
        "network", "data", "edge", "app", "observability"]
    assert box.state("migration")["outputs"]


def test_a_fresh_clone_reads_as_nothing_deployed(box: Sandbox) -> None:
    """No state folder yet: outputs are "not deployed" and destroy has nothing to do (no CLI path error)."""
    assert not (box.root / ".pulumi-state").exists()
    assert commands.outputs("dev", box.root, console=QUIET, package_dir=box.package_dir) == dict.fromkeys(LAYERS)
    report = commands.destroy("dev", box.root, confirm="dev", console=QUIET, package_dir=box.package_dir)
    assert {r.outcome for r in report.layers} == {"unchanged"}
    assert box.commands("destroy") == []


def test_force_deploys_unchanged_layers(box: Sandbox) -> None:
    deploy(box)
    report = deploy(box, force=True, layers="network,data")
    assert [(r.layer, r.outcome, r.changed) for r in report.layers] == [
        ("network", "succeeded", ["forced"]), ("data", "succeeded", ["forced"])]


def test_deploying_a_layer_whose_upstream_is_not_deployed_fails_clearly(box: Sandbox) -> None:
    with pytest.raises(UserError):
        deploy(box, layers="data")
    report = json.loads(sorted((box.root / "reports").glob("up-dev-*.json"))[-1].read_text())
    assert report["layers"][0]["reason"].startswith("upstream 'network' is not deployed in dev")
    assert not box.commands("up")


def test_report_json_and_records(box: Sandbox) -> None:
    report = deploy(box)
    data = json.loads(report.path.read_text())
    assert data["action"] == "up" and data["env"] == "dev" and data["commit"] == "c0ffee"
    assert data["summary"] == {"succeeded": 6}
    assert [r["layer"] for r in data["layers"]] == list(LAYERS)
    for r in data["layers"]:
        assert r["seconds"] >= 0 and r["started"] <= r["finished"] and r["reason"] == "deployed: first deploy"
    store = records.RecordStore(box.root)
    rec = store.last("dev", "app")
    assert rec is not None and rec.outcome == "succeeded" and rec.commit == "c0ffee"
    assert rec.config_hash == records.config_hash("app", "dev", box.root)
    assert rec.inputs_hash and rec.outputs_hash and rec.deployed_at == rec.finished


def test_records_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = records.RecordStore(tmp_path)
    first = records.DeployRecord("app", "dev", "up", "succeeded", "", "r1", "c", records.now(), records.now(), 1.0)
    path = store.write(first)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies while the record is being written

    monkeypatch.setattr(records.json, "dump", killed)
    with pytest.raises(KeyboardInterrupt):
        store.write(records.DeployRecord("app", "dev", "up", "failed", "", "r2", "c", records.now(), records.now(), 1))
    assert list(path.parent.iterdir()) == [path]  # no torn file, no temporary left behind
    assert store.last("dev", "app") == first
    (path.parent / "garbage.json").write_text("{not json")  # and a damaged file is never trusted
    assert store.last("dev", "app") == first


def test_preview_selects_stacks_and_changes_nothing(box: Sandbox) -> None:
    report = commands.preview("dev", box.root, console=QUIET, commit="c0ffee")
    assert [r.outcome for r in report.layers] == ["succeeded"] * 6
    assert len(box.commands("preview")) == 6 and not box.commands("up")
    assert all(c["argv"][:2] == ["preview", "--refresh"] for c in box.commands("preview"))
    assert not (box.root / records.RECORDS_DIR).exists()


def test_destroy_runs_in_reverse_order(box: Sandbox) -> None:
    deploy(box)
    report = commands.destroy("dev", box.root, confirm="dev", console=QUIET, commit="c0ffee",
                                  package_dir=box.package_dir)
    assert [r.layer for r in report.layers] == list(reversed(LAYERS))
    assert all(r.outcome == "succeeded" for r in report.layers)
    destroys = {c["layer"]: c for c in box.commands("destroy")}
    for layer, upstreams in LAYERS.items():
        assert destroys[layer]["argv"][:2] == ["destroy", "--yes"]
        for upstream in upstreams:  # every reader is gone before what it reads
            assert destroys[layer]["end"] <= destroys[upstream]["start"]
    # after a destroy, a deploy does not consider the layers unchanged
    again = deploy(box)
    assert {r.outcome for r in again.layers} == {"succeeded"}
    assert again.result("network").changed == ["redeploy after destroy"]


def test_failed_destroy_keeps_what_it_reads(box: Sandbox) -> None:
    deploy(box)
    box.fail("app:destroy")
    with pytest.raises(UserError):
        commands.destroy("dev", box.root, confirm="dev", console=QUIET, commit="c0ffee",
                                  package_dir=box.package_dir)
    destroyed = {c["layer"] for c in box.commands("destroy") if c["rc"] == 0}
    assert destroyed == {"migration", "observability"}
    assert box.state("network")["outputs"]  # network, data, edge still there


def test_destroy_prod_refuses_without_confirmation(box: Sandbox) -> None:
    orch = Orchestrator("prod", box.root, commit="c0ffee")
    with pytest.raises(UserError, match="production environment: destroy needs --confirm prod"):
        orch.destroy(None, confirm=None)
    with pytest.raises(UserError, match="--confirm prod"):
        orch.destroy(None, confirm="dev")
    assert box.calls() == []


def test_destroy_of_a_layer_still_read_by_a_deployed_layer_is_refused(box: Sandbox) -> None:
    deploy(box)
    with pytest.raises(UserError, match="'app' is still deployed and reads it"):
        commands.destroy("dev", box.root, "edge", confirm="dev", console=QUIET, commit="c0ffee")
    assert not box.commands("destroy")


def test_outputs_mask_contract_secrets_and_never_ask_for_them(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.core import contract

    box.set_outputs({"network": {"vpcId": "vpc-123", "logsKeyArn": "arn:aws:kms:key"}})
    deploy(box, layers="network")
    real = contract.declared
    monkeypatch.setattr(contract, "declared", lambda layer: {
        **real(layer), "logsKeyArn": contract.Output("logsKeyArn", "string", "pretend secret", secret=True)})
    values = commands.outputs("dev", box.root, console=QUIET, commit="c0ffee")
    assert values["network"] == {"logsKeyArn": "[secret]", "vpcId": "vpc-123"}
    assert values["data"] is None  # never deployed
    assert not any("--show-secrets" in c["argv"] for c in box.calls())


def test_bad_stack_config_never_reaches_the_cli(box: Sandbox) -> None:
    stack_file = box.root / "network" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("10.20.0.0/16", "10.20.0.0/33"))
    with pytest.raises(UserError, match=r"payments-network:vpcCidr"):
        commands.deploy("dev", box.root, "network", console=QUIET, commit="c0ffee")
    assert box.calls() == []


def test_kms_secrets_provider_needs_no_passphrase(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("PAYMENTS_SECRETS_PROVIDER", "awskms://alias/pulumi?region=us-east-1")
    deploy(box, layers="network")
    select = box.commands("stack select")[0]["argv"]
    assert select[select.index("--secrets-provider") + 1] == "awskms://alias/pulumi?region=us-east-1"


def test_backend_url_from_the_environment_wins(box: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    other = tmp_path / "team-state"
    other.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{other}")
    deploy(box, layers="network")
    assert (other / ".pulumi" / "stacks" / "payments-network" / "dev.json").is_file()
    assert not (box.root / ".pulumi-state").exists()


# --- deletion protection: on in production, lifted explicitly by destroy ------------------------------------------


def test_destroy_prod_lifts_deletion_protection_first_then_destroys(box: Sandbox) -> None:
    deploy(box, "prod")
    stack_files = {layer: (box.root / layer / "Pulumi.prod.yaml").read_text() for layer in ("data", "edge")}
    report = commands.destroy("prod", box.root, confirm="prod", console=QUIET, commit="c0ffee",
                              package_dir=box.package_dir)
    assert [r.outcome for r in report.layers] == ["succeeded"] * 6
    lifts = {c["layer"]: c for c in box.commands("up") if "--config-file" in c["argv"]}
    assert set(lifts) == {"data", "edge"}  # the layers that own protected resources, and only those
    destroys = {c["layer"]: c for c in box.commands("destroy")}
    for layer, targets in (("data", ["**aws:rds/cluster:Cluster::*", "**aws:rds/instance:Instance::*"]),
                           ("edge", ["**aws:lb/loadBalancer:LoadBalancer::*"])):
        argv = lifts[layer]["argv"]
        assert argv[:4] == ["up", "--yes", "--stack", f"organization/payments-{layer}/prod"]
        # a targeted update: only the protected resources change, from a config copy with protection off
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--target"] == targets
        assert lifts[layer]["deletionProtection"] is False
        assert lifts[layer]["end"] <= destroys[layer]["start"]
        # the stack file itself still says "on": the next deploy protects again; the config copy is gone
        assert (box.root / layer / "Pulumi.prod.yaml").read_text() == stack_files[layer]
        assert not Path(argv[argv.index("--config-file") + 1]).exists()


def test_destroy_without_lifting_is_refused_as_aws_would(box: Sandbox) -> None:
    """The stand-in refuses to destroy a stack deployed with deletion protection: the lift is what makes it work."""
    deploy(box, "prod")
    orch = Orchestrator("prod", box.root, planner=None, package_dir=box.package_dir, commit="c0ffee")
    run = orch.cli.destroy("data", orch.stack("data"))
    assert not run.ok and "deletion protection" in run.last_error()


def test_dev_destroy_lifts_nothing(box: Sandbox) -> None:
    deploy(box)
    commands.destroy("dev", box.root, confirm="dev", console=QUIET, commit="c0ffee", package_dir=box.package_dir)
    assert not [c for c in box.commands("up") if "--config-file" in c["argv"]]
    assert len(box.commands("destroy")) == 6


def test_a_failed_lift_stops_that_layer_before_destroy(box: Sandbox) -> None:
    deploy(box, "prod")
    box.fail("edge:up")
    with pytest.raises(UserError):
        commands.destroy("prod", box.root, confirm="prod", console=QUIET, commit="c0ffee",
                         package_dir=box.package_dir)
    report = json.loads(sorted((box.root / "reports").glob("destroy-prod-*.json"))[-1].read_text())
    edge = next(r for r in report["layers"] if r["layer"] == "edge")
    assert edge["outcome"] == "failed" and edge["reason"].startswith("deletion protection not lifted:")
    assert "edge" not in {c["layer"] for c in box.commands("destroy")}
    assert "network" not in {c["layer"] for c in box.commands("destroy")}  # edge still reads it
