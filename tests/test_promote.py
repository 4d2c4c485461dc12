"""`invoke promote` and `invoke status` against the stand-in CLI: diff, dry run, refusals, provenance,
environment-specific keys never copied, comments kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from payments.core import config as config_mod
from payments.core.errors import UserError
from payments.core.graph import LAYERS
from payments.ops import commands, promote, records, status
from payments.ops.layer_settings import REGISTRY, settings_class
from tests.fake_pulumi import Sandbox

QUIET = Console(file=open("/dev/null", "w"), width=200)  # noqa: SIM115 - lives for the session


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


def deploy(box: Sandbox, env: str = "dev", layers: str | None = None) -> None:
    commands.deploy(env, box.root, layers, console=QUIET, commit="c0ffee", plan_check=False,
                    package_dir=box.package_dir)


def promote_(box: Sandbox, **kw) -> promote.Promotion:
    return commands.promote("dev", "prod", box.root, kw.pop("layers", None), console=QUIET,
                            package_dir=box.package_dir, **kw)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def stack(box: Sandbox, layer: str, env: str) -> dict:
    return yaml.safe_load((box.root / layer / f"Pulumi.{env}.yaml").read_text())["config"]


@pytest.fixture
def tested(box: Sandbox) -> Sandbox:
    """dev deployed with changed data settings: two promotable, one environment-specific."""
    data_dev = box.root / "data" / "Pulumi.dev.yaml"
    edit(data_dev, "payments-data:slowQuerySeconds: 1", "payments-data:slowQuerySeconds: 2")
    edit(data_dev, 'paymentTimeoutMs: "3000"', 'paymentTimeoutMs: "2500"')
    edit(data_dev, "payments-data:maxCapacity: 2", "payments-data:maxCapacity: 4")  # capacity: env-specific
    # prod pins a promotable key dev leaves at its default: promotion removes it so prod runs what dev tested
    data_prod = box.root / "data" / "Pulumi.prod.yaml"
    data_prod.write_text(data_prod.read_text() + "  payments-data:backupWindow: 01:00-02:00\n")
    deploy(box)
    return box


def test_every_layer_registers_its_settings_dataclass() -> None:
    assert set(REGISTRY) == set(LAYERS)
    for layer in REGISTRY:
        cls = settings_class(layer)
        assert dataclasses.is_dataclass(cls) and cls.__module__ == f"payments.layers.{layer}.settings", layer


def test_dry_run_shows_the_diff_and_changes_nothing(tested: Sandbox) -> None:
    prod_file = tested.root / "data" / "Pulumi.prod.yaml"
    before = prod_file.read_text()
    result = promote_(tested, dry_run=True)
    data = next(lp for lp in result.layers if lp.layer == "data")
    assert {(c.key, c.kind) for c in data.changes} == {
        ("payments-data:slowQuerySeconds", "change"), ("payments-data:appSettings", "change"),
        ("payments-data:backupWindow", "unset")}
    assert prod_file.read_text() == before
    assert not result.written


def test_promotion_copies_promotable_settings_only_and_records_provenance(tested: Sandbox) -> None:
    prod_file = tested.root / "data" / "Pulumi.prod.yaml"
    original = prod_file.read_text()
    dev_record = records.RecordStore(tested.root).last("dev", "data")
    promote_(tested)
    prod = stack(tested, "data", "prod")
    assert prod["payments-data:slowQuerySeconds"] == 2
    assert prod["payments-data:appSettings"] == {"featureCardVault": "true", "paymentTimeoutMs": "2500"}
    assert "payments-data:backupWindow" not in prod
    # environment-specific settings are never copied
    assert prod["payments-data:maxCapacity"] == 16
    assert prod["payments-data:instanceClass"] == "db.r6g.large"
    # provenance: which dev deploy the values come from
    prov = prod[records.PROVENANCE_KEY]
    assert prov["env"] == "dev" and prov["commit"] == "c0ffee" and prov["deployedAt"] == dev_record.finished
    assert prov["runId"] == dev_record.run_id
    assert sorted(prov["keys"]) == ["appSettings", "backupWindow", "slowQuerySeconds"]
    # comments and untouched lines survive the rewrite
    text = prod_file.read_text()
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in text.splitlines() for line in comments)
    assert '  payments-data:mysqlEngineVersion: "8.0.42"\n' in text
    # the promoted prod config still validates, and the provenance key does not upset the layer's config loader
    cls = settings_class("data")
    own = {k.split(":", 1)[1]: v for k, v in prod.items() if k.startswith("payments-data:")}
    config_mod.load(cls, own, where="payments-data")
    assert promote.provenance("data", "prod", tested.root)["commit"] == "c0ffee"
    # layers with nothing to promote are left alone
    assert records.PROVENANCE_KEY not in stack(tested, "network", "prod")


def test_second_promotion_finds_nothing_to_do(tested: Sandbox) -> None:
    promote_(tested)
    again = promote_(tested)
    assert not any(lp.changes for lp in again.layers)


def test_refused_when_dev_config_changed_since_its_deploy(tested: Sandbox) -> None:
    edit(tested.root / "data" / "Pulumi.dev.yaml", "slowQuerySeconds: 2", "slowQuerySeconds: 3")
    before = (tested.root / "data" / "Pulumi.prod.yaml").read_text()
    with pytest.raises(UserError, match=r"data/Pulumi.dev.yaml changed since dev's last deploy"):
        promote_(tested)
    assert (tested.root / "data" / "Pulumi.prod.yaml").read_text() == before


def test_refused_when_the_code_changed_since_dev_was_deployed(tested: Sandbox) -> None:
    program = tested.root / "data" / "__main__.py"
    program.write_text(program.read_text() + "\n# new code, not yet deployed to dev\n")
    with pytest.raises(UserError, match=r"the code of data changed since dev was deployed from commit c0ffee"):
        promote_(tested)


def test_refused_when_devs_last_deploy_failed(tested: Sandbox) -> None:
    edit(tested.root / "data" / "Pulumi.dev.yaml", "slowQuerySeconds: 2", "slowQuerySeconds: 3")
    tested.fail("data")
    with pytest.raises(UserError):
        deploy(tested)
    with pytest.raises(UserError, match=r"dev's last deploy of data failed"):
        promote_(tested)


def test_refused_when_dev_was_never_deployed(box: Sandbox) -> None:
    edit(box.root / "edge" / "Pulumi.dev.yaml", "payments-edge:deletionProtection: false",
         "payments-edge:deletionProtection: false\n  payments-edge:healthCheckPath: /ready")
    with pytest.raises(UserError, match=r"dev has no deploy record for edge"):
        promote_(box, layers="edge")


def test_promotion_is_all_or_nothing(tested: Sandbox) -> None:
    # edge has a promotable change but its dev deploy is stale: data is not promoted either
    edit(tested.root / "edge" / "Pulumi.dev.yaml", "payments-edge:deletionProtection: false",
         "payments-edge:deletionProtection: false\n  payments-edge:healthCheckPath: /ready")
    before = (tested.root / "data" / "Pulumi.prod.yaml").read_text()
    with pytest.raises(UserError, match="promotion refused for edge"):
        promote_(tested)
    assert (tested.root / "data" / "Pulumi.prod.yaml").read_text() == before


def test_layer_filter_and_same_environment(tested: Sandbox) -> None:
    result = promote_(tested, layers="network", dry_run=True)
    assert [lp.layer for lp in result.layers] == ["network"]
    with pytest.raises(UserError, match="--from and --to are both"):
        commands.promote("dev", "dev", tested.root, console=QUIET)


def test_status_shows_last_deploys_provenance_and_phase(tested: Sandbox) -> None:
    promote_(tested)
    deploy(tested, "prod")
    prod = status.collect("prod", tested.root)
    assert prod.production and prod.migration_phase == "parallel-run"
    data = next(ls for ls in prod.layers if ls.layer == "data")
    assert data.deploy is not None and data.deploy.outcome == "succeeded" and data.deploy.commit == "c0ffee"
    assert data.provenance is not None and data.provenance["env"] == "dev"
    wide = Console(record=True, width=250, file=open("/dev/null", "w"))  # noqa: SIM115
    wide.print(status.render(prod))
    text = wide.export_text()
    assert "migration phase tag: parallel-run" in text and "dev @ c0ffee" in text
    # a no-op redeploy is a run, not a deploy: the last deploy stays the real one
    first = {ls.layer: ls.deploy for ls in status.collect("dev", tested.root).layers}
    deploy(tested)
    dev = status.collect("dev", tested.root)
    assert {ls.run.outcome for ls in dev.layers if ls.run} == {"unchanged"}
    assert {ls.layer: ls.deploy for ls in dev.layers} == first


def test_status_live_reads_the_phase_the_cutover_recorded(box: Sandbox) -> None:
    """--live: the parameter's name from the migration stack, its value from SSM (the emulator here)."""
    import boto3
    from moto import mock_aws

    box.set_outputs({"migration": {"phaseParameterName": "/payments/dev/migration-phase"}})
    with mock_aws():
        before = status.collect("dev", box.root, live=True)
        assert before.live_phase == "unknown (the migration layer is not deployed)"
        deploy(box)
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/payments/dev/migration-phase", Value="cutover-complete", Type="String")
        after = status.collect("dev", box.root, live=True)
    assert after.live_phase == "cutover-complete" and after.migration_phase == "parallel-run"
    wide = Console(record=True, width=250, file=open("/dev/null", "w"))  # noqa: SIM115
    wide.print(status.render(after))
    assert "deployed phase (SSM): cutover-complete" in wide.export_text()


# --- direction: tested settings move toward production ------------------------------------------------------------


def test_promoting_from_production_to_non_production_is_refused_unless_asked_for(tested: Sandbox) -> None:
    """The rule in one line: production -> non-production needs --backward. The fix is checked by doing it."""
    deploy(tested, "prod")
    dev_file = tested.root / "data" / "Pulumi.dev.yaml"
    before = dev_file.read_text()
    with pytest.raises(UserError) as err:
        commands.promote("prod", "dev", tested.root, console=QUIET, package_dir=tested.package_dir)
    assert str(err.value) == (
        "'prod' is a production environment and 'dev' is not, and promotion moves tested settings toward "
        "production. Fix: promote --from dev --to prod, or add --backward to copy prod's settings into dev on purpose")
    assert dev_file.read_text() == before
    # either half of the fix works: the intended direction ...
    assert promote_(tested, dry_run=True).refused == []
    # ... or the backward copy, recorded as such
    result = commands.promote("prod", "dev", tested.root, console=QUIET, package_dir=tested.package_dir,
                              backward=True)
    assert result.written and all(stack(tested, p.parent.name, "dev")[records.PROVENANCE_KEY]["backward"] is True
                                  for p in result.written)


@pytest.mark.parametrize(("source", "target"), [("dev", "prod"), ("dev", "compact"), ("prod", "compact"),
                                                ("compact", "prod")])
def test_promotion_toward_production_or_between_equals_needs_no_flag(source: str, target: str) -> None:
    promote.check_direction(source, target)
