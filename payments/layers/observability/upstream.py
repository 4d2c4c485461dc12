"""Checks of upstream outputs against this layer's settings, run when the values arrive (preview or up).

``computeMode`` and ``dbEngine`` decide which alarms exist, so they are plain
settings here (see settings.py); these helpers make every value that depends
on them wait for the check, so a mismatch stops the program with one line
before a wrong alarm is registered.
"""

from __future__ import annotations

from typing import Any

import pulumi

from payments.core.errors import ConfigError, UserError


def expect(actual: pulumi.Output[Any], expected: str, *, key: str, where: str, upstream: str) -> pulumi.Output[str]:
    """`actual` (an upstream export) once it is known to equal `expected` (this layer's `key`)."""

    def check(value: Any) -> str:
        if value != expected:
            raise ConfigError(f"{where}:{key}", f"is '{expected}' but the {upstream} layer runs '{value}'",
                              f"set {key}: {value} in this layer's stack file (or change the {upstream} layer)")
        return str(value)

    return actual.apply(check)


def after(value: pulumi.Input[Any], *checks: pulumi.Output[Any]) -> pulumi.Output[Any]:
    """`value`, available only once every check has passed."""
    return pulumi.Output.all(value, *checks).apply(lambda parts: parts[0])


def pick(mapping: pulumi.Output[Any], key: str, *, upstream: str, output: str) -> pulumi.Output[str]:
    """One entry of an upstream map export, with a clear error when the upstream lacks it."""

    def get(values: Any) -> str:
        if not isinstance(values, dict) or key not in values:
            have = ", ".join(sorted(values)) if isinstance(values, dict) else repr(values)
            raise UserError(f"{upstream} export '{output}' has no '{key}' (it has: {have}). "
                            f"Fix: deploy the {upstream} layer with its {key} pool")
        return str(values[key])

    return mapping.apply(get)
