"""`invoke deploy/preview/destroy/outputs` through invoke itself: every bad input is one line, exit 1,
and nothing changes (no CLI call, no state, no record, no report)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_pulumi import REPO, Sandbox

INVOKE = [sys.executable, "-m", "invoke"]


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = Sandbox(tmp_path, monkeypatch)
    shutil.copy(REPO / "tasks.py", sandbox.root / "tasks.py")  # tasks.py's folder is the repo root it acts on
    return sandbox


def run(box: Sandbox, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return subprocess.run([*INVOKE, *args], cwd=box.root, env=environ, capture_output=True, text=True, timeout=120)


def assert_refused(box: Sandbox, result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert box.calls() == []
    for leftover in (".pulumi-state", ".deploy-records", "reports"):
        assert not (box.root / leftover).exists(), leftover


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["deploy", "--env", "dev"], {"PATH": "/usr/bin:/bin"}, "the Pulumi CLI ('pulumi') is not on PATH"),
    (["deploy", "--env", "dev"], {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
     "no AWS credentials found"),
    (["deploy", "--env", "dev"], {"AWS_PROFILE": "no-such-profile", "AWS_ACCESS_KEY_ID": None,
                                  "AWS_SECRET_ACCESS_KEY": None},
     "The config profile (no-such-profile) could not be found"),
    (["deploy", "--env", "dev"], {"PULUMI_CONFIG_PASSPHRASE": None},
     "neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set"),
    (["deploy", "--env", "dev"], {"PULUMI_BACKEND_URL": "https://api.pulumi.com"},
     "'organization' is the self-managed backends' placeholder"),
    (["deploy", "--env", "staging"], {}, "unknown environment 'staging'"),
    (["deploy", "--env", "dev", "--layers", "network,databse"], {}, "unknown layer 'databse'"),
    (["preview", "--env", "dev"], {"PULUMI_CONFIG_PASSPHRASE": None}, "PULUMI_CONFIG_PASSPHRASE"),
    (["outputs", "--env", "dev"], {"PATH": "/usr/bin:/bin"}, "is not on PATH"),
    (["destroy", "--env", "prod"], {}, "'prod' is a production environment: destroy needs --confirm prod"),
    (["destroy", "--env", "dev"], {}, "Fix: re-run with --confirm dev"),
], ids=["no-cli", "no-credentials", "unknown-profile", "no-passphrase", "cloud-backend-placeholder-org", "unknown-env",
        "unknown-layer",
        "preview-no-passphrase", "outputs-no-cli", "destroy-prod", "destroy-dev"])
def test_bad_input_is_one_line_and_changes_nothing(box: Sandbox, args: list[str], env: dict[str, str | None],
                                                   expected: str) -> None:
    assert_refused(box, run(box, *args, env=env), expected)


def test_s3_backend_needs_a_passphrase_too(box: Sandbox) -> None:
    result = run(box, "deploy", "--env", "dev", env={"PULUMI_BACKEND_URL": "s3://state-bucket",
                                                     "PULUMI_CONFIG_PASSPHRASE": None})
    assert_refused(box, result, "the self-managed backend s3:// encrypts stack secrets with a passphrase")


def test_deploy_through_invoke_writes_report_and_exits_nonzero_on_failure(box: Sandbox) -> None:
    box.fail("edge")
    result = run(box, "deploy", "--env", "dev", "--no-plan-check")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: up dev: failed: edge; not run: app, observability, migration")
    assert "report: " in result.stdout
    assert len(list((box.root / "reports").glob("up-dev-*.json"))) == 1
    box.fail()
    again = run(box, "deploy", "--env", "dev", "--no-plan-check")
    assert again.returncode == 0, again.stderr
    assert {c["layer"] for c in box.commands("up")} == {"network", "data", "edge", "app", "observability",
                                                         "migration"}
    status = run(box, "status", "--env", "dev")
    assert status.returncode == 0, status.stderr
    assert "dev (non-production)" in status.stdout and "succeeded" in status.stdout


def test_the_stand_in_rejects_flags_the_real_cli_lacks(box: Sandbox) -> None:
    exe = str(box.bin / "pulumi")
    cwd = box.root / "network"
    for argv, message in (
        (["up", "--yes", "--auto-approve"], "unknown flag: --auto-approve"),
        (["preview", "--yes"], "unknown flag: --yes"),  # preview has no --yes
        (["stack", "output", "--show-ids"], "unknown flag: --show-ids"),
        (["destroy", "-z"], "unknown shorthand flag: -z"),
        (["up", "--stack", "dev", "--non-interactive"], "no stack named"),
    ):
        result = subprocess.run([exe, *argv], cwd=cwd, capture_output=True, text=True,
                                env={**os.environ, "PULUMI_BACKEND_URL": f"file://{box.root}"})
        assert result.returncode == 255 and message in result.stderr, (argv, result.stderr)


def test_pulumi_cloud_needs_a_login_and_a_real_organization(box: Sandbox, tmp_path: Path) -> None:
    """Checked before any CLI call: a Pulumi Cloud backend needs a token (env or `pulumi login`), and a
    self-managed one only knows the organization 'organization'."""
    from payments.core.errors import UserError
    from payments.ops.pulumi_cli import check_backend

    cloud, home = "https://api.pulumi.com", tmp_path / "pulumi-home"
    with pytest.raises(UserError, match=re.escape("not logged in to https://api.pulumi.com. Fix: run `pulumi login")):
        check_backend(cloud, "acme", {"PULUMI_HOME": str(home)})
    check_backend(cloud, "acme", {"PULUMI_HOME": str(home), "PULUMI_ACCESS_TOKEN": "pul-test-only"})
    home.mkdir()
    (home / "credentials.json").write_text('{"current": "https://api.pulumi.com", '
                                           '"accessTokens": {"https://api.pulumi.com": "pul-test-only"}}')
    check_backend(cloud + "/", "acme", {"PULUMI_HOME": str(home)})
    with pytest.raises(UserError, match=r"organization 'acme' .* self-managed"):
        check_backend("file:///tmp/state", "acme", {})
    check_backend("s3://team-state", "organization", {})
