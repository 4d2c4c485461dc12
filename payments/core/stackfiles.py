"""Reading a layer's ``Pulumi.<env>.yaml`` (the CLI's own stack config file), and which keys it may hold.

A stack file configures one project. Every key is ``<namespace>:<name>``, and a key no program reads is an error,
never silently ignored:

- ``payments-<layer>:`` of this layer: validated by the layer's settings (types, ranges, unknown names);
- another layer's namespace (``payments-data:...`` in ``network/``): that layer never reads this file;
- a misspelled namespace (``payments-netwrok:...``): no program reads it;
- ``aws:`` provider settings: every resource uses the layer's own AWS provider and default providers are disabled,
  and an explicit provider reads no ``aws:`` config (pulumi-aws issues 1307 and 3259, "by design"), so
  ``aws:region`` would change nothing; the region and tags come from ``environments/<env>.yaml``;
- ``pulumi:``: only ``pulumi:disable-default-providers``, which must list ``aws`` (or ``*``); that is what makes
  every resource use the tagged provider;
- ``payments:promotedFrom``: the provenance ``invoke promote`` writes (no layer reads it).
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from payments.core import yamlfiles
from payments.core.environment import REPO_ROOT
from payments.core.errors import ConfigError, UserError
from payments.core.graph import LAYERS, check_layer, project_name

#: Stack-file key holding promotion provenance; outside every layer's namespace (see payments.ops.promote).
PROVENANCE_KEY = "payments:promotedFrom"
#: The one key of Pulumi's own namespace the stack files carry: no resource may use an untagged default provider.
GUARD_KEY = "pulumi:disable-default-providers"
GUARD_FIX = f"write {GUARD_KEY}: [aws] under config:"
#: What an ``aws:`` key would have meant, and where that setting lives instead.
AWS_INSTEAD = {
    "region": "set region: {value} in environments/{env}.yaml and delete this line",
    "profile": "export AWS_PROFILE={value} before running invoke or pulumi, and delete this line",
    "defaultTags": "tags come from environments/{env}.yaml (costCenter, migrationPhase): delete this line",
    "accessKey": "export AWS_ACCESS_KEY_ID (never in a stack file) and delete this line",
    # pragma: allowlist nextline secret (fix text naming an environment variable)
    "secretKey": "export AWS_SECRET_ACCESS_KEY (never in a stack file) and delete this line",
    "token": "export AWS_SESSION_TOKEN (never in a stack file) and delete this line",
}


def path(layer: str, env: str, root: Path = REPO_ROOT) -> Path:
    return root / check_layer(layer) / f"Pulumi.{env}.yaml"


def read(layer: str, env: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The whole stack file (``config`` plus whatever the CLI added, e.g. ``encryptionsalt``)."""
    file = path(layer, env, root)
    if not file.is_file():
        raise UserError(f"{file.relative_to(root)} does not exist. Fix: create it (copy the dev one and adapt it)")
    shown = str(file.relative_to(root))
    data = yamlfiles.load(file, shown) or {}
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise UserError(f"{shown}: expected a 'config:' map. Fix: see docs/config.md")
    check_keys(layer, env, data.get("config") or {}, shown, guard_required=True)
    return data


def check_keys(layer: str, env: str, values: Mapping[str, Any], file: str, *, guard_required: bool) -> None:
    """Refuse any key of `values` (full ``namespace:name`` keys) that no program would read (see the module doc).

    `guard_required`: the file must carry the guard key (the engine may not hand ``pulumi:`` keys to programs, so a
    program checks only what it is given).
    """
    own = project_name(layer)
    projects = {project_name(name): name for name in LAYERS}
    for key, value in values.items():
        namespace, colon, name = str(key).partition(":")
        label = f"{key} ({file})"
        if namespace == own or key == PROVENANCE_KEY:
            continue
        if not colon:
            raise ConfigError(label, "has no namespace, so no program reads it", _rename(f"{own}:{key}", values))
        if namespace in projects:
            raise ConfigError(label, f"belongs to {namespace}, but this file configures {own}, so it would do "
                              "nothing", _foreign_fix(layer, projects[namespace], name, env, values))
        if namespace == "pulumi":
            _check_pulumi_key(key, value, label)
        elif namespace == "aws":
            fix = AWS_INSTEAD.get(name, "delete this line; the layer's provider is built in payments/core/stack.py")
            raise ConfigError(label, "has no effect: default providers are disabled and the layer's own AWS provider "
                              "reads no aws: config", fix.format(value=value, env=env))
        else:
            if name in _keys(layer):
                suggestion: str | None = f"{own}:{name}"
            else:
                near = difflib.get_close_matches(namespace, [*projects, "pulumi", "aws"], n=1)
                suggestion = f"{near[0]}:{name}" if near else None
            raise ConfigError(label, f"'{namespace}' is not a namespace any program here reads, so it would do "
                              "nothing", _rename(suggestion, values) if suggestion else
                              f"delete it, or write it as {own}:<key> (keys: docs/config.md)")
    if guard_required and GUARD_KEY not in values:
        raise ConfigError(f"{GUARD_KEY} ({file})", "is missing, so a resource could use an untagged default "
                          "provider", GUARD_FIX)


def _check_pulumi_key(key: str, value: Any, label: str) -> None:
    if key != GUARD_KEY:
        raise ConfigError(label, "is not a Pulumi setting these stacks use", f"delete it (the one pulumi: key here "
                          f"is {GUARD_KEY})")
    if isinstance(value, str):  # as the engine hands config to a program: structured values as JSON
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, list) or not ({"aws", "*"} & {str(v) for v in value}):
        raise ConfigError(label, f"is {value!r}; it must list aws (or '*'), so that no resource escapes the layer's "
                          "tagged provider", GUARD_FIX)


def _keys(layer: str) -> list[str]:
    from payments.core.config import describe
    from payments.ops.layer_settings import settings_class

    return [info.key for info in describe(settings_class(layer))]


def _rename(key: str, values: Mapping[str, Any]) -> str:
    """The fix for a key written under the wrong name: rename it, or, when the right key is already in the file
    (renaming would write it twice), put the value there."""
    if key in values:
        return f"did you mean {key}? It is already in this file: put the value you meant there, and delete this line"
    return f"did you mean {key}?"


def _foreign_fix(layer: str, other: str, name: str, env: str, values: Mapping[str, Any]) -> str:
    if name in _keys(other):
        return f"move it to {other}/Pulumi.{env}.yaml (where it is already set, change the value there instead)"
    if name in _keys(layer):
        return _rename(f"{project_name(layer)}:{name}", values)
    close = difflib.get_close_matches(name, _keys(other), n=1)
    if close:
        return f"did you mean {project_name(other)}:{close[0]}, in {other}/Pulumi.{env}.yaml?"
    return f"delete it: {project_name(other)} has no key '{name}' either"


def check_syntax(env: str, root: Path = REPO_ROOT, layers: Iterable[str] | None = None) -> None:
    """Read every layer's (or the given layers') stack file of `env` that exists: a YAML error or a key no program
    reads is one line before any CLI call or plan."""
    chosen = set(LAYERS if layers is None else layers)
    for layer in (name for name in LAYERS if name in chosen):
        if path(layer, env, root).is_file():
            read(layer, env, root)


def config(layer: str, env: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """``namespace:key`` -> value, as written in the stack file."""
    return dict(read(layer, env, root).get("config") or {})


def own(layer: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `layer`'s own namespace in stack-file `values`, without the namespace (what its settings load)."""
    prefix = f"{project_name(layer)}:"
    return {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}


def engine_config(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Config as the Pulumi engine hands it to a program: strings (structured values as JSON).

    ``secure:`` values cannot be decrypted offline; they become ``[secret]`` and are marked secret.
    """
    out: dict[str, str] = {}
    secret: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            out[key] = "[secret]"
            secret.append(key)
        else:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out, secret
