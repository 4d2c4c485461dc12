"""How long audit logs are kept: at least PCI DSS 10.5.1's year, in a value CloudWatch Logs accepts."""

from __future__ import annotations

from payments.core.errors import ConfigError

#: PCI DSS 10.5.1: at least 12 months of audit history.
MIN_RETENTION_DAYS = 365
#: The values CloudWatch Logs accepts for retentionInDays.
ALLOWED_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


def allowed(days: int) -> bool:
    return days in ALLOWED_RETENTION_DAYS and days >= MIN_RETENTION_DAYS


def choices() -> str:
    """The values that are allowed, for a message."""
    return ", ".join(str(d) for d in ALLOWED_RETENTION_DAYS if d >= MIN_RETENTION_DAYS)


def check(days: int, key: str) -> None:
    """Refuse a retention of `days` set by config `key` unless it is a CloudWatch value of at least a year."""
    if not allowed(days):
        raise ConfigError(key, f"{days} is not allowed (PCI DSS 10.5.1)", f"use one of {choices()}")
