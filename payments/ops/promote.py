"""Promote tested configuration from one environment's stack files to another's (dev -> prod).

Only settings declared ``promotable=True`` in a layer's settings dataclass are
copied (image, sizes, thresholds, engine version, schedules); environment-specific
ones (names, CIDRs, capacity, domains) never are. A promotable key that dev
leaves at its default is removed from prod, so prod runs what dev tested.

Promotion is all-or-nothing and refuses when, for any layer with something to
promote, the source environment's last deploy did not succeed, or was made from
other code or config than what is being promoted (deploy records, see
:mod:`payments.ops.records`). The target stack file records where the values
came from under ``payments:promotedFrom`` — a namespace no layer reads, so
config validation (which rejects unknown keys in the layer's own namespace) is
unaffected and the Pulumi CLI treats it as ordinary structured config.

Stack files are rewritten with ruamel.yaml in round-trip mode: comments, key
order and layout survive.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from payments.core import config as config_mod
from payments.core import stackfiles, yamlfiles
from payments.core.environment import load_environment
from payments.core.errors import UserError
from payments.core.graph import LAYERS, parse_layers, project_name
from payments.ops import records
from payments.ops.layer_settings import settings_class
from payments.ops.records import PROVENANCE_KEY, RecordStore

MISSING = object()


@dataclasses.dataclass
class Change:
    key: str  #: full stack-file key, e.g. payments-app:image
    old: Any  #: MISSING when prod does not set it
    new: Any  #: MISSING when dev does not set it (prod falls back to the default too)

    @property
    def kind(self) -> str:
        return "add" if self.old is MISSING else ("unset" if self.new is MISSING else "change")


@dataclasses.dataclass
class LayerPromotion:
    layer: str
    changes: list[Change]
    note: str = ""  #: why nothing is promoted, or the refusal
    refused: bool = False
    provenance: dict[str, Any] | None = None


@dataclasses.dataclass
class Promotion:
    source: str
    target: str
    layers: list[LayerPromotion]
    dry_run: bool
    written: list[Path] = dataclasses.field(default_factory=list)
    backward: bool = False  #: production -> non-production, asked for with --backward

    @property
    def refused(self) -> list[LayerPromotion]:
        return [lp for lp in self.layers if lp.refused]


def _yaml() -> YAML:
    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _plain(value: Any) -> Any:
    """A ruamel node as plain data (for comparisons and for copying into another file)."""
    return json.loads(json.dumps(value, default=str))


def diff_layer(layer: str, source: str, target: str, root: Path) -> tuple[list[Change], str]:
    cls = settings_class(layer)
    keys = config_mod.promotable_keys(cls)
    if not keys:
        return [], "no promotable settings"
    src, dst = stackfiles.config(layer, source, root), stackfiles.config(layer, target, root)
    changes = []
    for key in keys:
        full = f"{project_name(layer)}:{key}"
        new, old = src.get(full, MISSING), dst.get(full, MISSING)
        if new is MISSING and old is MISSING:
            continue
        if new is MISSING or old is MISSING or _plain(new) != _plain(old):
            changes.append(Change(full, old, new))
    return changes, ("" if changes else "already the same as " + source)


def check_source(layer: str, source: str, root: Path, store: RecordStore,
                 package_dir: Path = records.PACKAGE_DIR) -> tuple[str, dict[str, Any] | None]:
    """('' and the provenance) when `source`'s last deploy of `layer` succeeded from today's code and config."""
    last = store.last(source, layer)
    if last is None:
        return (f"{source} has no deploy record for {layer}. "
                f"Fix: invoke deploy --env {source} --layers {layer}, then promote"), None
    if not last.deployed:
        what = "was destroyed" if last.action == "destroy" else f"{last.outcome} ({last.reason})"
        return f"{source}'s last deploy of {layer} {what}. Fix: deploy {source} successfully first", None
    if records.config_hash(layer, source, root) != last.config_hash:
        return (f"{layer}/Pulumi.{source}.yaml changed since {source}'s last deploy ({last.finished[:19]}). "
                f"Fix: invoke deploy --env {source} to test it, then promote"), None
    if records.code_hash(layer, root, package_dir) != last.code_hash:
        return (f"the code of {layer} changed since {source} was deployed from commit {last.commit[:12]}. "
                f"Fix: invoke deploy --env {source} to test this code, then promote"), None
    return "", {
        "env": source, "commit": last.commit, "deployedAt": last.finished, "runId": last.run_id,
        "configHash": last.config_hash[:16],
    }


def check_direction(source: str, target: str, *, backward: bool = False) -> None:
    """Tested settings move toward production: production -> non-production needs ``backward``.

    Non-production environments (``production: false``: dev, branch stacks) come before production ones (prod,
    compact). Promoting between two of the same kind is allowed; from production to non-production (prod -> dev,
    say, to reproduce prod in dev) only on purpose.
    """
    if source == target:
        raise UserError(f"--from and --to are both '{source}'. Fix: promote between two environments, e.g. dev -> prod")
    source_env, target_env = load_environment(source), load_environment(target)
    if source_env.production and not target_env.production and not backward:
        raise UserError(
            f"'{source}' is a production environment and '{target}' is not, and promotion moves tested settings "
            f"toward production. Fix: promote --from {target} --to {source}, or add --backward to copy {source}'s "
            f"settings into {target} on purpose")


def plan_promotion(source: str, target: str, layers: list[str] | None, root: Path,
                   package_dir: Path = records.PACKAGE_DIR, *, backward: bool = False) -> Promotion:
    check_direction(source, target, backward=backward)
    selected = parse_layers(",".join(layers)) if layers else list(LAYERS)
    store = RecordStore(root)
    result = []
    for layer in [name for name in LAYERS if name in selected]:
        changes, note = diff_layer(layer, source, target, root)
        lp = LayerPromotion(layer, changes, note)
        if changes:
            refusal, provenance = check_source(layer, source, root, store, package_dir)
            lp.refused, lp.provenance = bool(refusal), provenance
            lp.note = refusal
            if not refusal:
                _validate(layer, target, root, changes)
        result.append(lp)
    return Promotion(source, target, result, dry_run=True, backward=backward)


def _validate(layer: str, target: str, root: Path, changes: list[Change]) -> None:
    """The target's config with the promoted values must still load (ranges, cross-field checks)."""
    cls = settings_class(layer)
    values = stackfiles.config(layer, target, root)
    for change in changes:
        if change.new is MISSING:
            values.pop(change.key, None)
        else:
            values[change.key] = _plain(change.new)
    config_mod.load(cls, stackfiles.own(layer, values), where=f"{project_name(layer)} ({target} after promotion)")


def apply(promotion: Promotion, root: Path, now: str | None = None) -> Promotion:
    """Write the promoted values and provenance into the target stack files (all-or-nothing)."""
    if promotion.refused:
        first = promotion.refused[0]
        raise UserError(f"promotion refused for {first.layer}: {first.note}")
    promoted_at = now or records.now()
    staged: list[tuple[Path, str]] = []
    for lp in promotion.layers:
        if not lp.changes:
            continue
        path = stackfiles.path(lp.layer, promotion.target, root)
        y = _yaml()
        # Copy the source's own nodes, so quoting and layout of the values travel with them.
        source_path = stackfiles.path(lp.layer, promotion.source, root)
        source_doc = yamlfiles.load_roundtrip(source_path, str(source_path.relative_to(root)), y) or {}
        source_cfg = source_doc.get("config") or {}
        doc = yamlfiles.load_roundtrip(path, str(path.relative_to(root)), y)
        if doc is None:
            doc = CommentedMap()
        if doc.get("config") is None:
            doc["config"] = CommentedMap()
        cfg = doc["config"]
        for change in lp.changes:
            if change.new is MISSING:
                cfg.pop(change.key, None)
            else:
                cfg[change.key] = copy.deepcopy(source_cfg.get(change.key, change.new))
        fresh = PROVENANCE_KEY not in cfg
        cfg[PROVENANCE_KEY] = {**(lp.provenance or {}), "promotedAt": promoted_at,
                               "keys": [c.key.split(":", 1)[1] for c in lp.changes],
                               **({"backward": True} if promotion.backward else {})}
        if fresh:
            cfg.yaml_set_comment_before_after_key(
                PROVENANCE_KEY, before=f"Written by `invoke promote`: the {promotion.source} deploy these settings "
                                       "were tested in (read by `invoke status`; no layer reads it).", indent=2)
        out = io.StringIO()
        y.dump(doc, out)
        staged.append((path, out.getvalue()))
    for path, text in staged:
        _write_atomic(path, text)
        promotion.written.append(path)
    promotion.dry_run = False
    return promotion


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def provenance(layer: str, env: str, root: Path) -> dict[str, Any] | None:
    """What ``promote`` recorded in ``<layer>/Pulumi.<env>.yaml``, if anything (a broken file is an error)."""
    if not stackfiles.path(layer, env, root).is_file():
        return None
    value = stackfiles.config(layer, env, root).get(PROVENANCE_KEY)
    return value if isinstance(value, dict) else None


def show(value: Any) -> str:
    if value is MISSING:
        return "(default)"
    return json.dumps(_plain(value)) if not isinstance(value, str) else value
