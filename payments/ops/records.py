"""Deploy records, input fingerprints and run reports.

A *deploy record* is written for every layer an ``invoke deploy``/``destroy``
touches: layer, env, commit, hashes of its inputs, outcome, time. Records are
append-only JSON files under ``.deploy-records/<env>/<layer>/`` (git-ignored),
each written atomically (temporary file, fsync, rename), so a killed deploy
never leaves a half-written record behind. They drive change-aware deploys,
promotion checks and ``invoke status``.

Fingerprints (SHA-256 over canonical JSON / file bytes):

- ``code``: the layer folder (``Pulumi.yaml``, ``__main__.py``, ... — not the
  stack files), ``payments/layers/<layer>`` and those of its upstreams, the
  shared code that runs inside programs (``payments/core``, ``payments/components``)
  and the installed ``pulumi``/``pulumi-aws`` versions;
- ``config``: the layer's ``config:`` in ``Pulumi.<env>.yaml`` (minus the
  promotion provenance) and ``environments/<env>.yaml``;
- ``upstream``: the upstream stacks' current outputs (as ``pulumi stack output
  --json`` shows them, secrets masked);
- ``inputs``: all three together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import payments
from payments.core import stackfiles, yamlfiles
from payments.core.environment import ENVIRONMENTS_DIR
from payments.core.graph import upstream_closure
from payments.core.stackfiles import PROVENANCE_KEY

RECORDS_DIR = ".deploy-records"
REPORTS_DIR = "reports"
PACKAGE_DIR = Path(payments.__file__).resolve().parent
#: Shared code that runs inside every layer program.
SHARED_CODE = ("__init__.py", "core", "components", "layers/__init__.py")
DEPENDENCIES = ("pulumi", "pulumi-aws")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _files(path: Path) -> Iterable[Path]:
    if path.is_file():
        yield path
    elif path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
                yield p


def files_digest(paths: Iterable[Path], base: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        for f in _files(path):
            try:
                rel = f.relative_to(base)
            except ValueError:
                rel = f
            h.update(str(rel).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def code_hash(layer: str, root: Path, package_dir: Path = PACKAGE_DIR) -> str:
    program = [p for p in _files(root / layer) if not (p.name.startswith("Pulumi.") and p.name != "Pulumi.yaml")]
    own = [package_dir / "layers" / name for name in sorted({layer, *upstream_closure(layer)})]
    shared = [package_dir / part for part in SHARED_CODE]
    return digest({
        "program": files_digest(program, root),
        "package": files_digest([*own, *shared], package_dir),
        "dependencies": {d: _version(d) for d in DEPENDENCIES},
    })


def layer_config(layer: str, env: str, root: Path) -> dict[str, Any]:
    values = stackfiles.config(layer, env, root)
    values.pop(PROVENANCE_KEY, None)
    return values


def config_hash(layer: str, env: str, root: Path, environments_dir: Path = ENVIRONMENTS_DIR) -> str:
    env_file = environments_dir / f"{env}.yaml"
    env_settings = yamlfiles.load(env_file, f"environments/{env}.yaml") if env_file.is_file() else None
    return digest({"stack": layer_config(layer, env, root), "environment": env_settings})


def upstream_hash(outputs: dict[str, dict[str, Any]]) -> str:
    return digest(outputs)


def inputs_hash(code: str, config: str, upstream: str) -> str:
    return digest({"code": code, "config": config, "upstream": upstream})


def git_commit(root: Path) -> str:
    """HEAD's id (``+dirty`` when the tree has changes); read-only git commands only."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain"], cwd=root,
                                capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


# --- atomic files -----------------------------------------------------------------


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the whole new one, never a torn write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- deploy records -------------------------------------------------------------------


@dataclasses.dataclass
class DeployRecord:
    layer: str
    env: str
    action: str  #: "up" or "destroy"
    outcome: str  #: succeeded | unchanged | failed | skipped
    reason: str
    run_id: str
    commit: str
    started: str
    finished: str
    seconds: float
    code_hash: str = ""
    config_hash: str = ""
    upstream_hash: str = ""
    inputs_hash: str = ""
    outputs_hash: str = ""
    #: what differed from the previous successful deploy: program, config, upstream outputs, first deploy, forced
    changed: list[str] = dataclasses.field(default_factory=list)
    forced: bool = False
    #: when the update that produced the stack's current state finished (an unchanged run keeps the earlier one)
    deployed_at: str = ""

    @property
    def deployed(self) -> bool:
        """The stack is in the state these inputs produce (a successful or unchanged deploy)."""
        return self.action == "up" and self.outcome in ("succeeded", "unchanged")

    @property
    def attempted(self) -> bool:
        """A real attempt (not skipped because an upstream failed)."""
        return self.outcome != "skipped"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class RecordStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / RECORDS_DIR

    def write(self, record: DeployRecord) -> Path:
        stamp = record.finished.replace(":", "").replace("-", "")
        path = self.dir / record.env / record.layer / f"{stamp}-{record.action}-{record.run_id}.json"
        write_json_atomic(path, dataclasses.asdict(record))
        return path

    def history(self, env: str, layer: str) -> list[DeployRecord]:
        """Every readable record, oldest first (file names start with the UTC finish time)."""
        folder = self.dir / env / layer
        out = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                out.append(DeployRecord.from_dict(json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue  # unreadable: ignored, never trusted
        return out

    def last(self, env: str, layer: str) -> DeployRecord | None:
        """The last real attempt (deploy or destroy), ignoring runs where the layer was only skipped."""
        attempts = [r for r in self.history(env, layer) if r.attempted]
        return attempts[-1] if attempts else None

    def last_change(self, env: str, layer: str) -> DeployRecord | None:
        """The last time the CLI ran for the layer (``pulumi up`` or destroy, succeeded or failed); skips are not."""
        changes = [r for r in self.history(env, layer) if r.outcome in ("succeeded", "failed")]
        return changes[-1] if changes else None

    def latest(self, env: str, layer: str) -> DeployRecord | None:
        history = self.history(env, layer)
        return history[-1] if history else None

    def baseline(self, env: str, layer: str) -> DeployRecord | None:
        """The inputs the stack is known to be deployed with: the last attempt, if it was a successful deploy.

        A failed deploy leaves the stack partly updated and a destroy leaves nothing, so neither has a baseline.
        """
        last = self.last(env, layer)
        return last if last is not None and last.deployed else None


def report_path(root: Path, action: str, env: str, run_id: str) -> Path:
    return root / REPORTS_DIR / f"{action}-{env}-{run_id}.json"
