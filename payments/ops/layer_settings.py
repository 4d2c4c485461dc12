"""Which settings dataclass each layer reads (``payments/layers/<layer>/settings.py``).

Used by ``invoke promote`` (promotable keys) and the generated config reference
(``docs/config.md``). Imports are lazy so tasks start fast.
"""

from __future__ import annotations

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


def settings_class(layer: str) -> type:
    """The layer's settings dataclass."""
    module_name, _, class_name = REGISTRY[check_layer(layer)].partition(":")
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls
