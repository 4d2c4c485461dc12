"""Secret hygiene: secret outputs never appear in plaintext, no password exists anywhere, stack files hold no
secrets, and the CI scanner (.ci/scan-secrets) catches what its exclusions must not hide.

No output is declared secret today, so the masking path is proven with a test-only contract in which the edge
layer's ``httpsListenerArn`` is secret. That output is read downstream (app, migration) and, unlike most outputs,
its value appears in one input of its own layer only (the write-pause rule's ``listenerArn``, the listener's own
attribute, not the export), so any other plaintext copy would be a leak of the export path.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import io
import json
import os
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from invoke import Context
from rich.console import Console

from payments.core import contract
from payments.core.graph import LAYERS
from payments.ops import commands
from payments.plan import render
from payments.plan.engine import SECRET, Plan, plan_environment
from tests.fake_pulumi import Sandbox
from tests.support import plan
from tests.test_aws_models import PROFILES, planned

REPO = Path(__file__).resolve().parents[1]
#: The edge layer's own use of the listener ARN (the write-pause rule on the listener): not the export path.
OWN_USE = re.compile(r'"listenerArn": "[^"]*"')


def leaked(secret: str, text: str) -> bool:
    """The token appears in `text` outside the edge layer's own listener rule."""
    return secret in OWN_USE.sub('"listenerArn": "<own>"', text)
SECRET_LAYER, SECRET_OUTPUT = "edge", "httpsListenerArn"  # pragma: allowlist secret (an output name, no value)


def wide() -> tuple[Console, io.StringIO]:
    """A console wide enough that no value is folded across lines (a fold could hide a leak from a search)."""
    buf = io.StringIO()
    return Console(file=buf, width=1000, color_system=None), buf


def token(value: str) -> str:
    """The listener's own id (last ARN segment): distinctive, unlike the shared ARN prefix."""
    last = value.rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{16}", last), value
    return last


@pytest.fixture
def secret_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only contract: edge.httpsListenerArn declared secret (in this process only)."""
    outputs = tuple(
        dataclasses.replace(o, secret=True) if o.name == SECRET_OUTPUT else o for o in contract.EXPORTS[SECRET_LAYER]
    )
    monkeypatch.setitem(contract.EXPORTS, SECRET_LAYER, outputs)


def test_the_canary_would_show_if_it_were_not_masked() -> None:
    """Without the secret declaration the token is visible in the plan: the checks below can fail."""
    p = plan("dev")
    value = p.layer(SECRET_LAYER).values[SECRET_OUTPUT]
    assert token(value) in p.to_json()
    assert [r for r, o in p.layer("migration").reads if o == SECRET_OUTPUT] == [SECRET_LAYER]
    own_inputs = json.dumps([r.inputs for r in p.layer(SECRET_LAYER).resources])
    assert not leaked(token(value), own_inputs)  # the value leaves its layer only through the export


@pytest.mark.usefixtures("secret_contract")
def test_a_secret_output_is_masked_in_the_plan_and_reaches_readers_only_as_a_secret() -> None:
    p: Plan = plan_environment("dev")
    edge = p.layer(SECRET_LAYER)
    value = edge.values[SECRET_OUTPUT]  # kept in memory for the StackReferences of the downstream layers
    secret = token(value)
    assert edge.outputs[SECRET_OUTPUT] == SECRET and SECRET_OUTPUT in edge.secret_outputs
    assert not leaked(secret, p.to_json())
    console, buf = wide()
    render.show(p, console)
    assert SECRET_OUTPUT in buf.getvalue() and secret not in buf.getvalue()
    # Downstream, every input built from it is a secret too (the plan shows "[secret]").
    migration = p.layer("migration")
    masked = [r.name for r in migration.resources if SECRET in json.dumps(r.inputs)]
    assert "workflow-cutover" in masked and p.mandatory == []


@pytest.mark.usefixtures("secret_contract")
def test_invoke_plan_tables_and_plan_file_never_show_a_secret_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks

    console, buf = wide()
    monkeypatch.setattr(tasks, "console", console)
    out = tmp_path / "plan-dev.json"
    tasks.plan(Context(), env="dev", out=str(out))
    secret = token(plan("dev").layer(SECRET_LAYER).values[SECRET_OUTPUT])
    printed = buf.getvalue()
    assert SECRET_OUTPUT in printed and secret not in printed
    written = out.read_text()
    assert not leaked(secret, written)
    assert json.loads(written)["layers"][2]["outputs"][SECRET_OUTPUT] == SECRET


@pytest.mark.usefixtures("secret_contract")
def test_deploy_records_reports_logs_and_outputs_table_never_show_a_secret_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Sandbox(tmp_path, monkeypatch)
    value = plan("dev").layer(SECRET_LAYER).values[SECRET_OUTPUT]
    secret = token(value)
    # The stand-in stacks hold what the program exports: the secret output as the CLI shows it ("[secret]").
    planned_outputs = {lp.name: dict(lp.outputs) for lp in plan("dev").layers}
    planned_outputs[SECRET_LAYER][SECRET_OUTPUT] = SECRET
    box.set_outputs(planned_outputs)
    quiet, _ = wide()
    commands.deploy("dev", box.root, console=quiet, commit="c0ffee", package_dir=box.package_dir, plan_check=False)
    written = [p for d in (".deploy-records", "reports") for p in (box.root / d).rglob("*") if p.is_file()]
    assert len(written) >= 2 * len(LAYERS)
    assert [p for p in written if secret in p.read_text()] == []
    # A stack that holds the value in plaintext (deployed before the output was declared secret, or a CLI
    # that reveals it): `invoke outputs` still masks it, from the contract.
    planned_outputs[SECRET_LAYER][SECRET_OUTPUT] = value
    box.set_outputs(planned_outputs)
    commands.deploy(
        "dev",
        box.root,
        "edge",
        console=quiet,
        commit="c0ffee",
        package_dir=box.package_dir,
        plan_check=False,
        force=True,
    )
    console, buf = wide()
    values = commands.outputs("dev", box.root, console=console, package_dir=box.package_dir)
    assert values[SECRET_LAYER][SECRET_OUTPUT] == SECRET
    assert SECRET_OUTPUT in buf.getvalue() and secret not in buf.getvalue()
    assert [p.name for p in (box.root / ".deploy-records").rglob("*.json") if secret in p.read_text()] == []


@pytest.mark.usefixtures("secret_contract")
def test_a_masked_output_reads_secret_in_the_printed_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lp = plan("dev").layer(SECRET_LAYER)
    masked = dataclasses.replace(lp, outputs={**lp.outputs, SECRET_OUTPUT: SECRET})
    console, buf = wide()
    console.print(render.outputs_table(masked))
    row = next(line for line in buf.getvalue().splitlines() if SECRET_OUTPUT in line)
    assert SECRET in row, row


# --- the master password never exists -----------------------------------------------------------------------

PASSWORD_KEY = re.compile(r"pass(word|phrase)|secretstring", re.IGNORECASE)
#: Inputs whose name mentions a password but hold none: the switch that makes RDS generate and keep it.
NOT_A_PASSWORD = {"manageMasterUserPassword"}


def password_inputs(value: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if PASSWORD_KEY.search(k) and k not in NOT_A_PASSWORD:
                found.append(f"{path}.{k}")
            found += password_inputs(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += password_inputs(v, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("profile", PROFILES)  # Aurora (dev, prod), RDS MySQL (compact), DMS endpoints
def test_the_database_master_password_exists_nowhere(profile: str) -> None:
    p = planned(profile)
    resources = [r for lp in p.layers for r in lp.resources]
    assert [f"{r.name}{path}" for r in resources for path in password_inputs(r.inputs, "")] == []
    # Nothing generates one (random provider) or writes one (a secret version with a value).
    assert [r.type for r in resources if r.type.startswith("random:") or "secretVersion" in r.type] == []
    databases = [
        r for r in p.layer("data").resources if r.type in ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance")
    ]
    assert databases and all(r.inputs["manageMasterUserPassword"] is True for r in databases)
    # Readers get the secret's ARN (with a JSON key) and fetch the value at run time.
    assert not [o for lp in p.layers for o in lp.values if PASSWORD_KEY.search(o)]


def test_tasks_and_instances_read_credentials_from_secrets_manager_at_run_time() -> None:
    for profile in PROFILES:
        for lp in planned(profile).layers:
            for r in lp.resources:
                if r.type == "aws:ecs/taskDefinition:TaskDefinition":
                    (container,) = json.loads(r.inputs["containerDefinitions"])
                    env_names = {e["name"] for e in container.get("environment", [])}
                    assert not {n for n in env_names if PASSWORD_KEY.search(n)}, env_names
                    db_password = next(s for s in container["secrets"] if s["name"] == "DB_PASSWORD")
                    assert db_password["valueFrom"].startswith("arn:aws:secretsmanager:")
                if r.type == "aws:ec2/launchTemplate:LaunchTemplate":
                    script = base64.b64decode(r.inputs["userData"]).decode()
                    assert "get-secret-value" in script and "DB_PASSWORD" in script
                    assert not re.search(r"(?i)password\s*=\s*['\"]?\w", script), "a literal password in user data"


# --- stack files -----------------------------------------------------------------------------------------------

#: A key that names a secret value (ends with the noun); `secretRotationDays`, `dmsSourceSecretArn` do not.
SECRET_KEY = re.compile(r"(?i)(pass(word|phrase)|secret|token|api[-_]?key|private[-_]?key|credentials?)$")


def config_files() -> list[Path]:
    files = sorted(REPO.glob("*/Pulumi*.yaml")) + sorted((REPO / "environments").glob("*.yaml"))
    assert len(files) >= 3 * len(LAYERS)
    return files


def walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(f"{path}.{k}", v) for k, v in value.items()] + [
            x for k, v in value.items() for x in walk(v, f"{path}.{k}")
        ]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in walk(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("path", config_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_stack_files_hold_no_secure_values_and_no_password_like_keys(path: Path) -> None:
    data = yaml.safe_load(path.read_text()) or {}
    entries = walk(data)
    secure = [k for k, v in entries if isinstance(v, dict) and "secure" in v]
    assert secure == [], f"{path.name}: encrypted config values {secure} (passwords are generated by AWS)"
    keys = [k for k, _ in entries if SECRET_KEY.search(k.rsplit(".", 1)[-1].rsplit(":", 1)[-1])]
    assert keys == [], f"{path.name}: password-like keys {keys}"
    assert "secure:" not in path.read_text()


def test_key_check_sees_secret_keys_but_not_secret_arns() -> None:
    assert SECRET_KEY.search("masterPassword") and SECRET_KEY.search("apiToken") and SECRET_KEY.search("dbSecret")
    for harmless in ("dmsSourceSecretArn", "masterUsername", "secretRotationDays"):
        assert not SECRET_KEY.search(harmless), harmless
    assert walk({"config": {"payments-data:dbPassword": {"secure": "v1:abc"}}})[-1] == (
        ".config.payments-data:dbPassword.secure",
        "v1:abc",
    )


def test_contract_exports_secret_addresses_never_secret_values() -> None:
    for layer, outputs in contract.EXPORTS.items():
        for o in outputs:
            if SECRET_KEY.search(o.name):
                assert o.name.endswith(("Arn", "Name")), f"{layer}.{o.name}: export the secret's ARN, not its value"


# --- the CI scanner ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanner() -> ModuleType:
    loader = SourceFileLoader("scan_secrets", str(REPO / ".ci" / "scan-secrets"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("scan_secrets", loader))
    loader.exec_module(module)
    return module


def planted() -> dict[str, str]:
    """Secrets of the shapes detect-secrets knows, assembled at run time (none is literal in this file)."""
    return {
        "aws": "AKIA" + "Q7ZC4X2M9B8N3V5R",
        "key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "keyword": "db_pass" + "word = 'S3cure-" + "Payment-Pw-9x7'",
    }


def test_scanner_finds_planted_secrets_in_plans_records_and_user_data(scanner: ModuleType, tmp_path: Path) -> None:
    p = planted()
    plan_doc = json.loads(plan("compact").to_json())
    lt = next(
        r for lp in plan_doc["layers"] for r in lp["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate"
    )
    lt["inputs"]["userData"] = base64.b64encode(f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={p['aws']}\n".encode()).decode()
    (tmp_path / "plan.json").write_text(json.dumps(plan_doc, indent=2))
    (tmp_path / "record.json").write_text(json.dumps({"note": p["key"]}, indent=2))
    (tmp_path / "printed.txt").write_text(p["keyword"] + "\n")
    scanner.decode_user_data(tmp_path / "plan.json", tmp_path / "decoded")
    found = scanner.detect([tmp_path], tmp_path, all_files=True)
    kinds = {(Path(f).name, x["type"]) for f, xs in found.items() for x in xs}
    assert ("record.json", "Private Key") in kinds
    assert ("printed.txt", "Secret Keyword") in kinds
    assert ("plan-app-asg.sh", "AWS Access Key") in kinds  # hidden in base64, found once decoded
    # The plan itself (ARNs, account-suffixed names, base64 user data) is clean under the exclusions.
    assert "plan.json" not in {Path(f).name for f in found}


def test_scanner_exclusions_are_narrow(scanner: ModuleType) -> None:
    def excluded(value: str) -> bool:
        return any(re.search(pattern, value) for pattern, _ in scanner.EXCLUDED_SECRETS)

    assert excluded(f"arn:aws:secretsmanager:us-east-1:{'1' * 12}:secret:db-AbCdEf")
    assert excluded("payments-config-archive-dev-123456789012")
    for real in (planted()["aws"], "S3cure-Payment-Pw-9x7", "testing123", "password1", "hunter22", "wJalrXUtnFEMI"):
        assert not excluded(real), real
    assert all(reason for _, reason in scanner.EXCLUDED_SECRETS + scanner.EXCLUDED_LINES)



def test_scanner_drives_the_sandbox_and_restores_the_process(scanner: ModuleType, tmp_path: Path) -> None:
    """The scanner's stand-in deploy builds the test Sandbox over its own `monkeypatch` shim: everything the
    Sandbox patches (environment, the deploy freeze's AWS question) must work there and be undone afterwards."""
    from payments.ops import freeze
    from tests.fake_pulumi import Sandbox

    before_env, before_freeze = dict(os.environ), freeze.running_executions
    shim = scanner._Env()
    try:
        box = Sandbox(tmp_path, shim)
        assert freeze.running_executions(["arn:machine"], "us-east-1") == []
        assert box.freeze_questions == [["arn:machine"]] and os.environ["FAKE_PULUMI_LOG"] == str(box.log)
    finally:
        shim.undo()
    assert freeze.running_executions is before_freeze
    assert dict(os.environ) == before_env
