"""The stand-in ``pulumi`` executable (see cli.py) and a helper that puts it on PATH."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CLI = Path(__file__).resolve().parent / "cli.py"


def install(bin_dir: Path) -> Path:
    """Write an executable ``pulumi`` into `bin_dir` that runs the stand-in with this interpreter.

    The stand-in needs only the standard library, so it starts without ``site`` (-S): 38 ms of CPU per call instead
    of 50, and the suite makes about 1,700 calls."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "pulumi"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{CLI}" "$@"\n')
    exe.chmod(0o755)
    return exe


def calls(log: Path) -> list[dict[str, Any]]:
    """The calls the stand-in recorded, in the order they finished."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


LAYER_DIRS = ("network", "data", "edge", "app", "observability", "migration")
REPO = Path(__file__).resolve().parents[2]


class Sandbox:
    """A copy of the layer folders in a temporary repo root, with the stand-in CLI on PATH.

    Tests deploy into it (records, reports and the file backend land under `root`), never into the real tree.
    """

    def __init__(self, tmp_path: Path, monkeypatch: Any) -> None:
        import shutil

        self.root = tmp_path / "repo"
        for name in LAYER_DIRS:
            shutil.copytree(REPO / name, self.root / name, ignore=shutil.ignore_patterns("__pycache__"))
        # A snapshot of the shared package for code hashes: the real one may be edited while tests run.
        self.package_dir = tmp_path / "package" / "payments"
        shutil.copytree(REPO / "payments", self.package_dir, ignore=shutil.ignore_patterns("__pycache__"))
        self.bin = tmp_path / "bin"
        install(self.bin)
        self.log = tmp_path / "calls.jsonl"
        self.outputs_file = tmp_path / "outputs.json"
        self.set_outputs({name: {f"{name}Id": f"{name}-1"} for name in LAYER_DIRS})
        self.monkeypatch = monkeypatch
        import os

        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")
        for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "PAYMENTS_SECRETS_PROVIDER", "AWS_PROFILE",
                    "FAKE_PULUMI_FAIL", "FAKE_PULUMI_SLEEP", "PAYMENTS_AWS_INSTANCE_ROLE"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("FAKE_PULUMI_LOG", str(self.log))
        monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", str(self.outputs_file))
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-only-passphrase")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests")
        # Nothing outside the sandbox may supply credentials.
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        # The deploy freeze asks Step Functions for running migration executions; the sandbox has no AWS, so it
        # answers "none running" and records each question (tests/test_deploy_freeze.py asks moto instead).
        from payments.ops import freeze

        self.freeze_questions: list[list[str]] = []

        def none_running(arns: list[str], region: str) -> list[str]:
            self.freeze_questions.append(arns)
            return []

        monkeypatch.setattr(freeze, "running_executions", none_running)

    def set_outputs(self, outputs: dict[str, dict[str, Any]]) -> None:
        self.outputs_file.write_text(json.dumps(outputs))

    def fail(self, *layers: str) -> None:
        self.monkeypatch.setenv("FAKE_PULUMI_FAIL", ",".join(layers))

    def sleep(self, **seconds: float) -> None:
        self.monkeypatch.setenv("FAKE_PULUMI_SLEEP", ",".join(f"{k}={v}" for k, v in seconds.items()))

    def calls(self) -> list[dict[str, Any]]:
        return calls(self.log)

    def commands(self, command: str) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c.get("command") == command]

    def state(self, layer: str, env: str = "dev") -> dict[str, Any] | None:
        path = self.root / ".pulumi-state" / ".pulumi" / "stacks" / f"payments-{layer}" / f"{env}.json"
        return json.loads(path.read_text()) if path.is_file() else None
