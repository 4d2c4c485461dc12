"""Bad-input sweep (issue 7): one table of bad config keys, environment files and task arguments.

Every row must end the same way: one line that names the key or argument and says how to fix it, a non-zero
exit (an ``Exit(code=1)`` through the tasks' ``user_errors`` wrapper in-process, exit code 1 from the real
``invoke``), no traceback anywhere, and nothing changed on disk (tracked files, stack files, environments/,
deploy records, reports, the file backend).

Config rows run the engine ``invoke plan`` runs (``plan_environment`` with overrides laid over the real stack
files); environment-file rows use a copy of ``environments/dev.yaml`` in a temporary folder (never a file in
environments/, which other tests enumerate); task rows run invoke's own ``Program`` (what ``.venv/bin/invoke`` runs)
in this process, in the repository; rows that break a file run the real ``.venv/bin/invoke`` in a broken copy of
the repository, so the whole CLI path (a fresh interpreter, exit code 1, stderr) is exercised too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import invoke
import pytest
from invoke import Program
from invoke.exceptions import Exit

from payments.core import environment
from payments.core.errors import UserError
from payments.ops.console import user_errors
from payments.plan.engine import plan_environment

REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"
#: Untracked (git-ignored) places where tasks keep state; tracked files come from `git ls-files`.
STATE = (".deploy-records", "reports", ".pulumi-state", "environments")
LONG_SUFFIX = "dev-feature-4242"  # 16 characters: the longest suffix allowed
#: 37 characters: fits a bucket name with the suffix 'dev' (37+1+3+1+12 = 54), not with LONG_SUFFIX (67 > 63).
PREFIX_37 = "payments-static-content-feature-build"


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    names: str  #: what the one line must name (key or argument)
    layer: str | None = None  #: config row: the layer whose stack config gets `values`
    values: dict[str, Any] | None = None
    env_file: str | None = None  #: environment-file row: YAML lines appended to a copy of environments/dev.yaml
    argv: tuple[str, ...] = ()  #: task row: the invoke arguments
    #: broken-file row: (file, text, replacement) applied in a copy of the repository the task then runs in
    edit: tuple[str, str, str] | None = None


def cfg(id_: str, layer: str, values: dict[str, Any], names: str) -> Bad:
    return Bad(id_, f"payments-{layer}:{names}", layer=layer, values=values)


def env_file(id_: str, lines: str, names: str, layer: str = "network", values: dict[str, Any] | None = None) -> Bad:
    return Bad(id_, names, layer=layer, values=values or {}, env_file=lines)


def task(id_: str, names: str, *argv: str) -> Bad:
    return Bad(id_, names, argv=argv)


#: Every task that reads environments/<env>.yaml or the stack files, and how to call it for dev.
FILE_TASKS = {
    "plan": ("plan", "--env", "dev"),
    "status": ("status", "--env", "dev"),
    "promote": ("promote", "--from", "dev", "--to", "prod", "--dry-run"),
    "rehearse": ("rehearse", "--env", "dev"),
    "docs": ("docs", "--check"),
    "deploy": ("deploy", "--env", "dev"),
    "preview": ("preview", "--env", "dev"),
    "outputs": ("outputs", "--env", "dev"),
    "destroy": ("destroy", "--env", "dev", "--confirm", "dev"),
    "cutover": ("cutover", "--env", "dev", "--yes"),
    "rollback": ("rollback", "--env", "dev", "--yes"),
}
#: Tasks that read only environments/<env>.yaml and AWS (no stack file, no Pulumi CLI).
AWS_ONLY = ("rollback",)
#: A tab before a key of the environment file, and an unclosed quote in a stack file.
ENV_TAB = ("environments/dev.yaml", "\ncostCenter:", "\n\tcostCenter:")
STACK_QUOTE = ("data/Pulumi.dev.yaml", "payments-data:engine: aurora-mysql", 'payments-data:engine: "aurora-mysql')


PLAN = ("plan", "--env", "dev")
AZ = "  payments-network:azCount: 3\n"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf"


def broken(id_: str, edit: tuple[str, str, str], names: str, argv: tuple[str, ...]) -> Bad:
    return Bad(id_, names, argv=argv, edit=edit)


CASES = [
    # --- network: types, ranges, CIDRs that do not fit or overlap on-prem, AZ count, enums, typos
    cfg("vpc-cidr-bad-prefix", "network", {"vpcCidr": "10.20.0.0/33"}, "vpcCidr"),
    cfg("vpc-cidr-not-a-cidr", "network", {"vpcCidr": "ten.twenty"}, "vpcCidr"),
    cfg("vpc-cidr-host-bits", "network", {"vpcCidr": "10.20.0.1/16"}, "vpcCidr"),
    cfg("subnets-do-not-fit", "network", {"vpcCidr": "10.20.0.0/24"}, "vpcCidr"),
    cfg("vpc-overlaps-on-prem", "network", {"vpcCidr": "172.16.0.0/16"}, "onPremCidrs"),
    cfg("on-prem-overlaps-vpc", "network", {"onPremCidrs": ["10.20.128.0/20"]}, "onPremCidrs"),
    cfg("az-count-1", "network", {"azCount": 1}, "azCount"),
    cfg("az-count-7", "network", {"azCount": 7}, "azCount"),
    cfg("az-count-text", "network", {"azCount": "three"}, "azCount"),
    cfg("nat-strategy-unknown", "network", {"natStrategy": "two"}, "natStrategy"),
    cfg("alb-open-to-world", "network", {"albClientCidrs": ["0.0.0.0/0"]}, "albClientCidrs"),
    cfg("flow-log-retention-30", "network", {"flowLogRetentionDays": 30}, "flowLogRetentionDays"),
    cfg("vpn-without-gateway", "network", {"customerGatewayIp": None}, "customerGatewayIp"),
    cfg("misspelt-key", "network", {"azCunt": 3}, "azCunt"),
    # --- data
    cfg("engine-unknown", "data", {"engine": "postgres"}, "engine"),
    cfg("rotation-over-30-days", "data", {"secretRotationDays": 90}, "secretRotationDays"),
    cfg("capacity-min-above-max", "data", {"minCapacity": 3, "maxCapacity": 2}, "minCapacity"),
    cfg("backup-window-bad-time", "data", {"backupWindow": "25:00-26:00"}, "backupWindow"),
    cfg("master-user-reserved", "data", {"masterUsername": "admin"}, "masterUsername"),
    cfg("bucket-name-too-long", "data", {"staticBucketPrefix": PREFIX_37 + "-with-more-words"}, "staticBucketPrefix"),
    # --- edge
    cfg("tls-policy-tls10", "edge", {"tlsPolicy": "ELBSecurityPolicy-2016-08"}, "tlsPolicy"),
    cfg("weights-all-zero", "edge", {"initialWeights": {"legacy": 0, "blue": 0, "green": 0}}, "initialWeights"),
    cfg("weight-over-999", "edge", {"initialWeights": {"legacy": 1000, "blue": 0, "green": 0}}, "initialWeights"),
    cfg("legacy-target-off-prem", "edge", {"legacyTargets": ["10.20.1.5"]}, "legacyTargets"),
    # --- app
    cfg("image-empty", "app", {"image": ""}, "image"),
    cfg("image-unpinned", "app", {"image": "nginx:latest"}, "image"),
    cfg("cpu-not-fargate-size", "app", {"cpu": 300}, "cpu"),
    cfg("memory-text", "app", {"memory": "lots"}, "memory"),
    cfg("compute-mode-disagrees-with-edge", "app", {"computeMode": "ec2"}, "computeMode"),
    cfg("asg-min-above-max", "app", {"computeMode": "ec2", "asgMin": 5, "asgMax": 2}, "asgMin"),
    cfg("container-as-root", "app", {"containerUser": "root"}, "containerUser"),
    # --- observability
    cfg("alarm-email-malformed", "observability", {"alarmEmails": ["oncall"]}, "alarmEmails"),
    cfg("datapoints-over-periods", "observability", {"datapointsToAlarm": 5, "evaluationPeriods": 3},
        "datapointsToAlarm"),
    # --- migration: bad step schedules and conflicting options
    cfg("steps-decrease", "migration", {"trafficSteps": [50, 10, 100]}, "trafficSteps"),
    cfg("steps-never-complete", "migration", {"trafficSteps": [10, 50]}, "trafficSteps"),
    cfg("steps-empty", "migration", {"trafficSteps": []}, "trafficSteps"),
    cfg("source-equals-target", "migration", {"sourcePool": "blue", "targetPool": "blue"}, "targetPool"),
    cfg("scale-down-on-prem", "migration", {"scaleDownSource": True}, "scaleDownSource"),
    cfg("dms-target-without-source", "migration",
        {"dmsTargetSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora"}, "dmsSourceSecretArn"),
    # --- environment files
    env_file("suffix-17-chars", "environmentSuffix: dev-feature-42424", "environments/dev.yaml:environmentSuffix"),
    env_file("suffix-uppercase", "environmentSuffix: Dev_42", "environments/dev.yaml:environmentSuffix"),
    env_file("region-unknown", "region: mars-1", "environments/dev.yaml:region"),
    env_file("production-not-bool", "production: maybe", "environments/dev.yaml:production"),
    env_file("environment-key-unknown", "colour: blue", "environments/dev.yaml:colour"),
    # a suffix that is valid on its own pushes a bucket name past S3's 63 characters
    env_file("name-over-limit-after-suffix", f"environmentSuffix: {LONG_SUFFIX}", "payments-data:staticBucketPrefix",
             layer="data", values={"staticBucketPrefix": PREFIX_37}),
    # --- task arguments, through the real invoke
    task("plan-unknown-env", "unknown environment 'nope'", "plan", "--env", "nope"),
    task("plan-env-is-a-path", "environment name '/etc/passwd'", "plan", "--env", "/etc/passwd"),
    task("plan-unknown-layer", "unknown layer 'netwrk'", "plan", "--env", "dev", "--layers", "netwrk"),
    task("plan-empty-layers", "--layers", "plan", "--env", "dev", "--layers", ","),
    task("plan-out-missing-folder", "--out", "plan", "--env", "dev", "--out", "/nonexistent-sweep-dir/plan.json"),
    task("deploy-unknown-env", "unknown environment 'staging'", "deploy", "--env", "staging"),
    task("deploy-zero-workers", "--workers", "deploy", "--env", "dev", "--workers", "0"),
    task("preview-unknown-layer", "unknown layer 'foo'", "preview", "--env", "dev", "--layers", "foo"),
    task("destroy-without-confirmation", "--confirm dev", "destroy", "--env", "dev"),
    task("destroy-prod-wrong-confirmation", "--confirm prod", "destroy", "--env", "prod", "--confirm", "dev"),
    task("promote-from-equals-to", "--from and --to", "promote", "--from", "dev", "--to", "dev"),
    task("promote-unknown-target", "unknown environment 'qa'", "promote", "--from", "dev", "--to", "qa"),
    task("promote-unknown-layer", "unknown layer 'bogus'", "promote", "--layers", "bogus"),
    task("cutover-from-equals-to", "--to", "cutover", "--env", "dev", "--from", "blue", "--to", "blue"),
    task("cutover-from-without-to", "--from/--to", "cutover", "--env", "dev", "--from", "legacy"),
    task("cutover-unknown-pool", "--from", "cutover", "--env", "dev", "--from", "purple", "--to", "blue"),
    task("cutover-steps-decrease", "--steps", "cutover", "--env", "dev", "--steps", "50,10,100"),
    task("cutover-steps-not-100", "--steps", "cutover", "--env", "dev", "--steps", "10,50"),
    task("cutover-steps-text", "--steps", "cutover", "--env", "dev", "--steps", "ten"),
    task("cutover-step-zero", "--steps", "cutover", "--env", "dev", "--steps", "0,100"),
    task("cutover-negative-bake", "--bake", "cutover", "--env", "dev", "--bake", "-1"),
    task("rehearse-fail-at-not-a-step", "--fail-at 33", "rehearse", "--env", "dev", "--fail-at", "33"),
    task("rehearse-fail-at-text", "--fail-at", "rehearse", "--env", "dev", "--fail-at", "abc"),
    task("rollback-unknown-pool", "--pool", "rollback", "--env", "dev", "--pool", "purple"),
    task("status-unknown-env", "unknown environment 'nope'", "status", "--env", "nope"),
    task("outputs-unknown-env", "unknown environment 'nope'", "outputs", "--env", "nope"),
    task("deploy-workers-text", "--workers", "deploy", "--env", "dev", "--workers", "four"),
    task("destroy-workers-zero", "--workers", "destroy", "--env", "dev", "--confirm", "dev", "--workers", "0"),
    # --- issue 14: fix texts, ARNs checked against the environment (botocore's partitions), empty values
    cfg("min-capacity-above-desired", "app", {"minCapacity": 2}, "minCapacity"),
    cfg("desired-above-max-capacity", "app", {"desiredCount": 5}, "maxCapacity"),
    cfg("defaulted-key-empty", "network", {"natStrategy": ""}, "natStrategy"),
    cfg("certificate-other-region", "edge", {"certificateArn": CERT.replace("us-east-1", "eu-west-1"),
                                             "domainName": None, "hostedZoneId": None}, "certificateArn"),
    cfg("certificate-other-partition", "edge", {"certificateArn": CERT.replace("arn:aws:", "arn:aws-cn:"),
                                                "domainName": None, "hostedZoneId": None}, "certificateArn"),
    cfg("certificate-of-another-service", "edge", {"certificateArn": SECRET_ARN, "domainName": None,
                                                   "hostedZoneId": None}, "certificateArn"),
    cfg("dms-secret-other-region", "migration", {"dmsSourceSecretArn": SECRET_ARN.replace("us-east-1", "us-west-2"),
                                                 "dmsSourceSslMode": "require"}, "dmsSourceSecretArn"),
    cfg("dms-ca-is-not-a-dms-certificate", "migration", {"dmsSourceSecretArn": SECRET_ARN,
                                                         "dmsSourceCaCertificateArn": CERT},
        "dmsSourceCaCertificateArn"),
    # --- issue 14: environment values checked against AWS's data (regions, tag shapes), account ids
    env_file("region-typo", "region: us-east-7", "environments/dev.yaml:region"),
    env_file("cost-center-not-a-tag-value", "costCenter: payments;platform", "environments/dev.yaml:costCenter"),
    env_file("cost-center-empty", 'costCenter: ""', "environments/dev.yaml:costCenter"),
    env_file("account-id-short", 'accountId: "1234"', "environments/dev.yaml:accountId"),
    env_file("certificate-other-account", 'accountId: "210987654321"', "payments-edge:certificateArn",
             layer="edge", values={"certificateArn": CERT, "domainName": None, "hostedZoneId": None}),
    # --- issue 14: keys no program reads (another layer's, a misspelled namespace, aws:, pulumi:), the guard
    broken("foreign-namespace", ("network/Pulumi.dev.yaml", AZ, AZ + "  payments-data:slowQuerySeconds: 2\n"),
           "payments-data:slowQuerySeconds (network/Pulumi.dev.yaml): belongs to payments-data", PLAN),
    broken("misspelled-namespace", ("network/Pulumi.dev.yaml", AZ, AZ + "  payments-netwrok:azCount: 2\n"),
           "payments-netwrok:azCount (network/Pulumi.dev.yaml)", PLAN),
    broken("key-without-namespace", ("network/Pulumi.dev.yaml", AZ, AZ + "  flowLogRetentionDays: 400\n"),
           "flowLogRetentionDays (network/Pulumi.dev.yaml): has no namespace", PLAN),
    broken("aws-region-in-stack-file", ("network/Pulumi.dev.yaml", AZ, AZ + "  aws:region: eu-west-1\n"),
           "aws:region (network/Pulumi.dev.yaml): has no effect", PLAN),
    broken("aws-region-stops-deploy-before-the-cli", ("data/Pulumi.dev.yaml", "config:\n",
                                                     "config:\n  aws:region: eu-west-1\n"),
           "aws:region (data/Pulumi.dev.yaml): has no effect", FILE_TASKS["deploy"]),
    broken("pulumi-key-unknown", ("network/Pulumi.dev.yaml", AZ, AZ + "  pulumi:template: aws-python\n"),
           "pulumi:template (network/Pulumi.dev.yaml)", PLAN),
    broken("provider-guard-missing", ("edge/Pulumi.dev.yaml", "  pulumi:disable-default-providers:\n    - aws\n",
                                      ""), "pulumi:disable-default-providers (edge/Pulumi.dev.yaml): is missing",
           PLAN),
    broken("provider-guard-misspelt", ("app/Pulumi.dev.yaml", "    - aws\n", "    - awss\n"),
           "pulumi:disable-default-providers (app/Pulumi.dev.yaml): is ['awss']", PLAN),
    broken("key-written-twice", ("network/Pulumi.dev.yaml", AZ, AZ + "  payments-network:azCount: 2\n"),
           "'payments-network:azCount' is written twice", PLAN),
    # --- issue 14: promotion direction; status --live shows the offline part, then one line
    task("promote-production-to-dev", "'prod' is a production environment", "promote", "--from", "prod", "--to",
         "dev"),
    task("status-live-without-cli", "dev: the Pulumi CLI", "status", "--env", "dev", "--live"),
    # --- YAML syntax errors, in every task that reads the files (issue 14)
    *(broken(f"{name}-env-file-tab", ENV_TAB, "environments/dev.yaml line 5, column 1: a tab", argv)
      for name, argv in FILE_TASKS.items()),
    *(broken(f"{name}-stack-file-unclosed-quote", STACK_QUOTE, "data/Pulumi.dev.yaml line 7, column 25: the value "
             'quoted with " here is never closed. Fix: add the closing " at its end', argv)
      for name, argv in FILE_TASKS.items() if name not in AWS_ONLY),
    # A rollback needs AWS credentials only (issue 12): a broken layer stack file must not stand in its way.
    *(broken(f"{name}-ignores-a-broken-stack-file", STACK_QUOTE, "finding the account of your AWS credentials: no AWS "
             "credentials", argv) for name, argv in FILE_TASKS.items() if name in AWS_ONLY),
]


def _case_id(case: Any) -> str:
    return case.id if isinstance(case, Bad) else str(case)


# --- nothing may change ----------------------------------------------------------------------------------


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def snapshot() -> dict[str, str]:
    """SHA-256 of every tracked file and of every file under the state folders (path -> digest)."""
    paths = set(_tracked())
    for folder in STATE:
        base = REPO / folder
        if base.is_dir():
            paths.update(str(p.relative_to(REPO)) for p in base.rglob("*") if p.is_file())
    paths.update(p.name for p in REPO.glob("plan*.json"))
    out = {}
    for rel in sorted(paths):
        path = REPO / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# --- the three ways in ------------------------------------------------------------------------------------


def _in_process(case: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plan engine, wrapped like a task: returns the Exit message a user would see."""
    if case.env_file is not None:
        folder = tmp_path / "environments"
        folder.mkdir()
        (folder / "dev.yaml").write_text(with_lines((REPO / "environments" / "dev.yaml").read_text(), case.env_file))
        # Every reader (planner, layer programs) calls load_environment(name) with the default folder.
        monkeypatch.setattr(environment.load_environment, "__defaults__", (folder,))

    @user_errors
    def plan_task() -> None:
        assert case.layer is not None
        plan_environment("dev", [case.layer], overrides={case.layer: case.values or {}})

    with pytest.raises(Exit) as exited:
        plan_task()
    assert exited.value.code == 1
    assert isinstance(exited.value.__context__, UserError)  # a user error, not a crash in a program
    return str(exited.value.message)


def with_lines(text: str, lines: str) -> str:
    """`text` with each ``key: value`` of `lines` replacing that key's line, or appended (a key is never doubled)."""
    out = text.splitlines()
    for line in lines.splitlines():
        key = line.split(":", 1)[0]
        at = next((i for i, old in enumerate(out) if old.split(":", 1)[0] == key), None)
        if at is None:
            out.append(line)
        else:
            out[at] = line
    return "\n".join(out) + "\n"


def _task(case: Bad, repo: Path = REPO) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_", "FAKE_PULUMI"))}
    # No real pulumi may ever run here, and no credentials reach AWS.
    environ["PATH"] = f"{INVOKE.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    environ["AWS_SHARED_CREDENTIALS_FILE"] = environ["AWS_CONFIG_FILE"] = "/nonexistent-sweep-credentials"
    if repo != REPO:  # the copy's `payments` package and files, not the installed (editable) one
        environ["PYTHONPATH"] = str(repo)
    result = subprocess.run([str(INVOKE), *case.argv], cwd=repo, env=environ, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def _task_in_process(case: Bad, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
                     ) -> tuple[int, str, str]:
    """:func:`_task` without the process: invoke's own Program (what ``.venv/bin/invoke`` runs) on the same argv, in
    the repository, with the same environment; the exit code it would exit with, and everything printed."""
    for name in list(os.environ):
        if name.startswith(("PULUMI_", "AWS_", "FAKE_PULUMI")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{INVOKE.parent}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent-sweep-credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent-sweep-credentials")
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    capfd.readouterr()
    program = Program(name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=invoke.__version__)
    try:
        program.run([str(INVOKE), *case.argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    printed = capfd.readouterr()
    return code, printed.out, printed.err


def _copy_with_edit(case: Bad, tmp_path: Path) -> Path:
    """The repository's files (tracked, and new ones not ignored) in a temporary folder, with the row's file broken."""
    assert case.edit is not None
    copy = tmp_path / "repo"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if not (REPO / rel).is_file():
            continue
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((REPO / rel).read_bytes())
    file, old, new = case.edit
    text = (copy / file).read_text()
    assert old in text, (file, old)
    (copy / file).write_text(text.replace(old, new, 1))
    return copy


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bad_input_is_one_line_naming_the_key_and_the_fix_and_changes_nothing(
        case: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    before = snapshot()
    copy = _copy_with_edit(case, tmp_path) if case.edit else None
    copied = _files(copy) if copy else {}
    if case.argv:
        # Rows that break a file run the real `invoke` in the broken copy (the CLI path, end to end); the rest run
        # the same Program in this process (no interpreter start-up and imports per row).
        code, stdout, stderr = _task(case, copy) if copy else _task_in_process(case, monkeypatch, capfd)
        assert "Traceback" not in stdout + stderr, stderr
        assert code == 1, (code, stdout, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        line = lines[0]
        assert line.startswith("error: "), line
    else:
        line = _in_process(case, tmp_path, monkeypatch)
        printed = capfd.readouterr()
        assert "Traceback" not in printed.out + printed.err, printed.err
    assert "\n" not in line.strip(), line
    assert case.names in line, f"{case.names!r} not named in: {line}"
    assert "Fix:" in line, f"no fix in: {line}"
    after = snapshot()
    assert not changed(before, after), f"files changed by {case.id}: {changed(before, after)}"
    if copy is not None:
        assert not changed(copied, _files(copy)), f"files changed by {case.id}: {changed(copied, _files(copy))}"


def test_the_sweep_is_large_enough_and_covers_every_layer() -> None:
    rows = [c.values[0] if not isinstance(c, Bad) else c for c in CASES]
    assert len(rows) >= 30
    assert {c.layer for c in rows if c.layer and c.env_file is None} == {
        "network", "data", "edge", "app", "observability", "migration"}
    assert sum(1 for c in rows if c.argv) >= 15 and sum(1 for c in rows if c.env_file) >= 5
    assert len({c.id for c in rows}) == len(rows)


def test_the_long_suffix_alone_is_what_breaks_the_bucket_name() -> None:
    """The control for 'name-over-limit-after-suffix': the same prefix plans cleanly with the suffix 'dev'."""
    plan = plan_environment("dev", ["data"], overrides={"data": {"staticBucketPrefix": PREFIX_37}})
    buckets = [r.inputs.get("bucket", "") for r in plan.layer("data").resources if r.type == "aws:s3/bucket:Bucket"]
    assert any(b.startswith(PREFIX_37 + "-dev-") and len(b) <= 63 for b in buckets), buckets
