"""The one wrapper around the Pulumi CLI: backend, secrets, preflight and every command we run.

Flags follow the real CLI (checked against pulumi/pulumi ``pkg/cmd/pulumi``):
``stack select --create --stack``, ``up --yes``, ``preview``, ``destroy --yes``,
``stack output --json``, plus the global ``--non-interactive`` and ``--color``.
Stacks are always named fully (``<org>/<project>/<stack>``) and passed with
``--stack``, so nothing depends on which stack a folder has selected.

The backend is handed to the CLI through ``PULUMI_BACKEND_URL`` in the child's
environment only; ``pulumi login`` is never run (it would change the user's
global credentials file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from payments.core.errors import UserError
from payments.core.graph import check_layer

#: Where state lives when PULUMI_BACKEND_URL is unset (git-ignored).
STATE_DIR = ".pulumi-state"
#: Secrets provider for stacks created by the tasks (e.g. "awskms://alias/pulumi?region=us-east-1").
SECRETS_PROVIDER_VAR = "PAYMENTS_SECRETS_PROVIDER"
#: Self-managed ("DIY") backends: their default secrets provider is the passphrase one.
DIY_SCHEMES = ("file://", "s3://", "azblob://", "gs://")
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
#: Set to 1 when AWS credentials come from an EC2 instance role (the check then asks the metadata service).
INSTANCE_ROLE_VAR = "PAYMENTS_AWS_INSTANCE_ROLE"


def backend_url(root: Path, environ: Mapping[str, str] | None = None) -> str:
    """``PULUMI_BACKEND_URL`` when set, else the file backend inside the repository."""
    environ = os.environ if environ is None else environ
    return environ.get("PULUMI_BACKEND_URL") or f"file://{(root / STATE_DIR).resolve()}"


def is_diy(url: str) -> bool:
    return url.startswith(DIY_SCHEMES)


def secrets_provider(environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    return environ.get(SECRETS_PROVIDER_VAR) or None


def needs_passphrase(url: str, environ: Mapping[str, str] | None = None) -> bool:
    provider = secrets_provider(environ)
    return is_diy(url) and provider in (None, "default", "passphrase")


# --- preflight ----------------------------------------------------------------


def check_cli(executable: str = "pulumi") -> str:
    found = shutil.which(executable)
    if not found:
        raise UserError(
            "the Pulumi CLI ('pulumi') is not on PATH. "
            "Fix: install it (https://www.pulumi.com/docs/iac/download-install/) or run `invoke plan` to work offline"
        )
    return found


def check_passphrase(url: str, environ: Mapping[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    if needs_passphrase(url, environ) and not any(environ.get(var) for var in PASSPHRASE_VARS):
        raise UserError(
            f"the self-managed backend {url.split('://')[0]}:// encrypts stack secrets with a passphrase, and neither "
            "PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set. Fix: export one of them "
            f"(or set {SECRETS_PROVIDER_VAR}=awskms://... for a KMS secrets provider)"
        )


def check_backend(url: str, organization: str, environ: Mapping[str, str] | None = None) -> None:
    """The stack names' organization fits the backend, and a Pulumi Cloud backend has a login."""
    environ = os.environ if environ is None else environ
    if is_diy(url):
        if organization != "organization":
            raise UserError(
                f"organization '{organization}' (environments/<env>.yaml) needs Pulumi Cloud, but the backend "
                f"{url.split('://')[0]}:// is self-managed, where every stack lives under 'organization'. Fix: set "
                "organization: organization, or PULUMI_BACKEND_URL to your Pulumi Cloud URL"
            )
        return
    if organization == "organization":
        raise UserError(
            f"the backend {url} is Pulumi Cloud, and 'organization' is the self-managed backends' placeholder. "
            "Fix: set organization in environments/<env>.yaml to your Pulumi Cloud organization"
        )
    if environ.get("PULUMI_ACCESS_TOKEN"):
        return
    home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:  # only which backends hold a token is read here, never the token
        logged_in = json.loads((home / "credentials.json").read_text()).get("accessTokens", {})
    except (OSError, ValueError):
        logged_in = {}
    if url.rstrip("/") not in {str(k).rstrip("/") for k in logged_in}:
        raise UserError(f"not logged in to {url}. Fix: run `pulumi login {url}` or export PULUMI_ACCESS_TOKEN")


def check_credentials() -> None:
    """Fail when boto3 finds no AWS credentials; offline: the EC2 metadata lookup is skipped."""
    import boto3
    import botocore.exceptions
    import botocore.session

    try:
        core = botocore.session.get_session()
        # The instance-metadata provider would make a network call (with a timeout) on every machine that is
        # not an EC2 instance, so the check stays local unless the user says credentials come from an instance role.
        if os.environ.get(INSTANCE_ROLE_VAR) != "1":
            core.get_component("credential_provider").remove("iam-role")
        credentials = boto3.Session(botocore_session=core).get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
        raise UserError(f"AWS credentials: {exc}. Fix: set AWS_PROFILE to a profile in ~/.aws/config "
                        "(`aws configure list-profiles`), or unset it and export access keys") from None
    if credentials is None:
        raise UserError(
            "no AWS credentials found. Fix: set AWS_PROFILE (after `aws sso login`) or "
            f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (on EC2 with an instance role: {INSTANCE_ROLE_VAR}=1)"
        )


# --- running the CLI ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def missing_stack(self) -> bool:
        """The CLI said the stack does not exist (``error: no stack named '...' found``)."""
        return not self.ok and "no stack named" in self.output

    def last_error(self) -> str:
        """The most telling line of the CLI's output, for a one-line report."""
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        for line in reversed(lines):
            if line.lower().startswith(("error:", "error ")) or "error:" in line.lower():
                return line[:300]
        return (lines[-1] if lines else f"exit code {self.returncode}")[:300]


class PulumiCli:
    """Runs ``pulumi`` inside a layer's folder, with the backend in the environment."""

    def __init__(self, root: Path, executable: str = "pulumi", environ: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.executable = executable
        base = dict(os.environ if environ is None else environ)
        self.backend = backend_url(root, base)
        base["PULUMI_BACKEND_URL"] = self.backend
        base.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
        self.environ = base

    def prepare_backend(self) -> None:
        """The file backend's folder must exist; other backends are the user's to create."""
        if self.backend.startswith("file://"):
            Path(self.backend[len("file://"):]).mkdir(parents=True, exist_ok=True)

    def _run(self, layer: str, args: list[str], log: Path | None = None, merge: bool = True) -> Result:
        cwd = self.root / check_layer(layer)
        argv = [self.executable, *args, "--non-interactive", "--color", "never"]
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=self.environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True, check=False)
        seconds = time.perf_counter() - started
        if not merge and proc.returncode != 0:
            proc.stdout = (proc.stdout or "") + (proc.stderr or "")
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as fh:
                fh.write(f"$ {' '.join(argv)}  (in {cwd.name}/, exit {proc.returncode}, {seconds:.1f}s)\n")
                fh.write(proc.stdout)
                if not proc.stdout.endswith("\n"):
                    fh.write("\n")
        return Result(argv, proc.returncode, proc.stdout, seconds)

    def select(self, layer: str, stack: str, log: Path | None = None) -> Result:
        """Select the stack, creating it when it does not exist yet (idempotent)."""
        args = ["stack", "select", "--create", "--stack", stack]
        provider = secrets_provider(self.environ)
        if provider:
            args += ["--secrets-provider", provider]
        return self._run(layer, args, log)

    def up(self, layer: str, stack: str, log: Path | None = None, skip_preview: bool = False) -> Result:
        # The preview runs first unless skipped: a program or provider error then stops before any change.
        # --refresh: resources whose properties belong to the cutover (listener weights, service task definitions)
        # have them in ignore_changes, and Pulumi then sends the value from state; refreshing first makes that the
        # value AWS holds now, so an update for another reason never moves traffic back.
        args = ["up", "--yes", "--refresh", "--stack", stack, "--suppress-progress"]
        if skip_preview:
            args.append("--skip-preview")
        return self._run(layer, args, log)

    def preview(self, layer: str, stack: str, log: Path | None = None, diff: bool = False) -> Result:
        args = ["preview", "--refresh", "--stack", stack, "--suppress-progress"]  # diff against AWS, as `up` will
        if diff:
            args.append("--diff")
        return self._run(layer, args, log)

    def up_targets(self, layer: str, stack: str, config_file: Path, targets: list[str],
                   log: Path | None = None) -> Result:
        """A targeted ``pulumi up``: only the resources matching `targets` change, with config from `config_file`."""
        args = ["up", "--yes", "--stack", stack, "--config-file", str(config_file)]
        for target in targets:
            args += ["--target", target]
        return self._run(layer, [*args, "--suppress-progress"], log)

    def destroy(self, layer: str, stack: str, log: Path | None = None) -> Result:
        return self._run(layer, ["destroy", "--yes", "--stack", stack, "--suppress-progress"], log)

    def outputs(self, layer: str, stack: str) -> tuple[dict[str, Any] | None, Result]:
        """The stack's outputs, or None with the failed result (e.g. the stack does not exist).

        Never ``--show-secrets``: secret outputs stay ``[secret]`` and no plaintext reaches this process.
        """
        result = self._run(layer, ["stack", "output", "--json", "--stack", stack], merge=False)
        if not result.ok:
            return None, result
        try:
            data = json.loads(result.output or "{}")
        except json.JSONDecodeError:
            bad = f"error: unreadable JSON from pulumi stack output: {result.output[:200]}"
            return None, dataclasses.replace(result, returncode=1, output=bad)
        return (data if isinstance(data, dict) else {}), result
