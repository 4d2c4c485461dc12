"""Which settings dataclass each layer reads (``payments/layers/<layer>/settings.py``).

Used by ``invoke promote`` (promotable keys) and the generated config reference.
Imports are lazy: a layer whose settings module does not exist yet simply has
no settings (and nothing to promote).
"""

from __future__ import annotations

import dataclasses
import importlib

from payments.core.graph import check_layer

#: layer -> "module:Class"
REGISTRY: dict[str, str] = {
    "network": "payments.layers.network.settings:NetworkSettings",
    "data": "payments.layers.data.settings:DataSettings",
    "edge": "payments.layers.edge.settings:EdgeSettings",
    "app": "payments.layers.app.settings:AppSettings",
    "observability": "payments.layers.observability.settings:ObservabilitySettings",
    "migration": "payments.layers.migration.settings:MigrationSettings",
}


def settings_class(layer: str) -> type | None:
    """The layer's settings dataclass, or None when its module or class does not exist (yet)."""
    module_name, _, class_name = REGISTRY[check_layer(layer)].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    cls = getattr(module, class_name, None)
    if cls is None:  # renamed: accept the module's one settings dataclass
        found = [obj for obj in vars(module).values()
                 if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__
                 and obj.__name__.endswith("Settings")]
        cls = found[0] if len(found) == 1 else None
    return cls
