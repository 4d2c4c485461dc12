"""Reading and writing a layer's ``Pulumi.<env>.yaml`` (the CLI's own stack config file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from payments.core import yamlfiles
from payments.core.environment import REPO_ROOT
from payments.core.errors import UserError
from payments.core.graph import check_layer


def path(layer: str, env: str, root: Path = REPO_ROOT) -> Path:
    return root / check_layer(layer) / f"Pulumi.{env}.yaml"


def read(layer: str, env: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The whole stack file (``config`` plus whatever the CLI added, e.g. ``encryptionsalt``)."""
    file = path(layer, env, root)
    if not file.is_file():
        raise UserError(f"{file.relative_to(root)} does not exist. Fix: create it (copy the dev one and adapt it)")
    data = yamlfiles.load(file, str(file.relative_to(root))) or {}
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise UserError(f"{file.relative_to(root)}: expected a 'config:' map. Fix: see docs/config.md")
    return data


def check_syntax(env: str, root: Path = REPO_ROOT) -> None:
    """Read every layer's stack file of `env` that exists: a YAML error is one line before any CLI call."""
    from payments.core.graph import LAYERS

    for layer in LAYERS:
        if path(layer, env, root).is_file():
            read(layer, env, root)


def config(layer: str, env: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """``namespace:key`` -> value, as written in the stack file."""
    return dict(read(layer, env, root).get("config") or {})


def engine_config(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Config as the Pulumi engine hands it to a program: strings (structured values as JSON).

    ``secure:`` values cannot be decrypted offline; they become ``[secret]`` and are marked secret.
    """
    import json

    out: dict[str, str] = {}
    secret: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            out[key] = "[secret]"
            secret.append(key)
        else:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out, secret
