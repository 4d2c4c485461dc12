"""Bad cutover input and migration config: one clear line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from payments.core import config
from payments.core.errors import ConfigError
from payments.cutover.runner import cutover_input
from payments.layers.migration.schedule import CutoverInput, Pool, parse_steps
from payments.layers.migration.settings import MigrationSettings

W = "payments-migration"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf"


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ("10,5,100", "steps must increase, 5 follows 10"),
        ("10,10,100", "steps must increase, 10 follows 10"),
        ("10,50,120", "step 120 is outside 1-100 %"),
        ("0,100", "step 0 is outside 1-100 %"),
        ("", "'' is not a whole percentage"),
        ("10,50", "the last step is 50 %"),
        ("10,fifty,100", "'fifty' is not a whole percentage"),
    ],
)
def test_bad_step_schedules_are_one_line(steps: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        cutover_input(steps, None, None, None)
    assert err.value.key == "--steps" and problem in str(err.value) and "\n" not in str(err.value)


def test_empty_schedule_in_config() -> None:
    with pytest.raises(ConfigError, match=r"^payments-migration:trafficSteps: the step schedule is empty"):
        config.load(MigrationSettings, {"trafficSteps": []}, where=W)


@pytest.mark.parametrize(
    ("bake", "problem"), [("-1", "-1 seconds is negative"), ("soon", "not a whole number"), ("90000", "out of range")]
)
def test_bad_bake(bake: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as err:
        cutover_input(None, bake, None, None)
    assert err.value.key == "--bake"


@pytest.mark.parametrize(
    ("source", "target", "key", "problem"),
    [
        ("blue", "blue", "--to", "source and target are both 'blue'"),
        ("legacy", "legacy", "--to", "'legacy' is not allowed"),
        ("purple", "blue", "--from", "'purple' is not allowed"),
        ("legacy", None, "--from/--to", "only one of them is given"),
    ],
)
def test_bad_pools(source: str, target: str | None, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        cutover_input(None, None, source, target)
    assert err.value.key == key and problem in str(err.value)


def test_good_input_becomes_the_execution_document() -> None:
    assert cutover_input("5,25,100", "30", "blue", "green") == {
        "steps": [5, 25, 100],
        "bakeSeconds": 30,
        "sourcePool": "blue",
        "targetPool": "green",
    }
    assert cutover_input(None, None, None, None) == {}
    assert parse_steps([10, 50.0, 100], "k") == (10, 50, 100)
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3"
    doc = CutoverInput(task_definition=arn).as_json()
    assert doc["taskDefinition"] == arn and doc["sourcePool"] == "legacy"
    with pytest.raises(ConfigError, match="'app:3' is not a task definition ARN with a revision"):
        CutoverInput(task_definition="app:3")  # ECS reports full ARNs: the cutover compares with them


def test_config_same_pools_and_legacy_scale_down() -> None:
    with pytest.raises(ConfigError, match=r"^payments-migration:targetPool: source and target are both 'green'"):
        config.load(MigrationSettings, {"sourcePool": "green", "targetPool": "green"}, where=W)
    with pytest.raises(ConfigError, match=r"^payments-migration:scaleDownSource: the legacy pool is on-prem"):
        config.load(MigrationSettings, {"scaleDownSource": True}, where=W)


@pytest.mark.parametrize("key", ["dmsTargetSecretArn", "dmsSourceCaCertificateArn"])
def test_dms_on_without_a_source_secret(key: str) -> None:
    value = SECRET if key == "dmsTargetSecretArn" else "arn:aws:dms:us-east-1:123456789012:cert:ABC"
    with pytest.raises(ConfigError) as err:
        config.load(MigrationSettings, {key: value}, where=W)
    assert err.value.key == f"{W}:dmsSourceSecretArn" and "without a source secret" in str(err.value)


def test_dms_settings_checks() -> None:
    with pytest.raises(ConfigError, match="dmsSourceSecretArn: 'not-an-arn' is not an ARN"):
        config.load(MigrationSettings, {"dmsSourceSecretArn": "not-an-arn"}, where=W)
    with pytest.raises(ConfigError, match="dmsSourceCaCertificateArn: dmsSourceSslMode verify-full needs"):
        config.load(MigrationSettings, {"dmsSourceSecretArn": SECRET}, where=W)
    with pytest.raises(ConfigError, match=r"dmsExcludeTables: 'audit' is not schema\.table"):
        config.load(
            MigrationSettings,
            {"dmsSourceSecretArn": SECRET, "dmsSourceSslMode": "require", "dmsExcludeTables": ["audit"]},
            where=W,
        )
    ok = config.load(MigrationSettings, {"dmsSourceSecretArn": SECRET, "dmsSourceSslMode": "require"}, where=W)
    assert ok.dms_enabled and ok.cutover_defaults().source_pool is Pool.LEGACY


def test_only_the_traffic_schedule_and_engine_version_are_promotable() -> None:
    """Timing and capacity differ between dev and prod on purpose; `invoke promote` must never copy them."""
    assert set(config.promotable_keys(MigrationSettings)) == {"trafficSteps", "dmsEngineVersion"}


def test_dev_rehearses_the_schedule_prod_runs() -> None:
    """Every promotable key has the same value in dev and prod, so a promotion changes nothing in prod's cutover."""
    root = Path(__file__).resolve().parents[1] / "migration"
    stacks = {env: yaml.safe_load((root / f"Pulumi.{env}.yaml").read_text())["config"] for env in ("dev", "prod")}
    for key in config.promotable_keys(MigrationSettings):
        assert stacks["dev"].get(f"{W}:{key}") == stacks["prod"].get(f"{W}:{key}"), key
    assert stacks["dev"][f"{W}:trafficSteps"] == [5, 25, 50, 100]
