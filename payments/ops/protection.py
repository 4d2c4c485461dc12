"""Deletion protection, and lifting it explicitly as the first step of a destroy.

Production databases and load balancers carry deletion protection (a guard against a stray delete; the
`deletion-protection-prod` guardrail). `pulumi destroy` does not run the program, so it cannot turn the protection
off, and AWS refuses to delete a protected resource. Destroying a layer that owns one therefore starts with a
*targeted* `pulumi up` of just the protected resources, from a copy of the stack file whose protection key is
false (`--config-file`: the stack file itself keeps saying "on", so a later deploy protects again), then
`pulumi destroy`. Declared once here: which layer owns which protected resource types, under which key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from payments.core import stackfiles
from payments.core.graph import project_name


@dataclasses.dataclass(frozen=True)
class Protected:
    key: str  #: the layer's config key that turns deletion protection on
    types: tuple[str, ...]  #: the resource types it protects

    def targets(self) -> list[str]:
        """URN globs of those resources, in Pulumi's target syntax (``**`` any text, ``*`` no colon)."""
        return [f"**{token}::*" for token in self.types]


PROTECTED: dict[str, Protected] = {
    "data": Protected("deletionProtection", ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance")),
    "edge": Protected("deletionProtection", ("aws:lb/loadBalancer:LoadBalancer",)),
}


def protected(layer: str, env: str, root: Path) -> Protected | None:
    """What `layer` protects in `env`, when its stack file turns the protection on."""
    spec = PROTECTED.get(layer)
    if spec is None:
        return None
    value = stackfiles.config(layer, env, root).get(f"{project_name(layer)}:{spec.key}")
    return spec if value is True or str(value).lower() == "true" else None


@contextlib.contextmanager
def lifted_config(layer: str, env: str, root: Path, spec: Protected) -> Iterator[Path]:
    """A temporary copy of the stack file with the protection off (secrets stay as the ciphertext they are)."""
    data = stackfiles.read(layer, env, root)
    data.setdefault("config", {})[f"{project_name(layer)}:{spec.key}"] = False
    with tempfile.TemporaryDirectory(prefix="payments-lift-") as folder:
        path = Path(folder) / f"Pulumi.{env}.lift.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        yield path
