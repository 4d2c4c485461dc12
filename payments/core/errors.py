"""User-facing errors: one line that names what is wrong and how to fix it."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input (config, arguments, environment) the user can fix.

    Tasks print `str(error)` and exit non-zero without a traceback; Pulumi
    programs let it propagate so the engine shows the same single line.
    """


class ConfigError(UserError):
    """A configuration value is missing, malformed or out of range."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{key}: {problem}. Fix: {fix}")
