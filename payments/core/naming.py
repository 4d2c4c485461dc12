"""Physical names: ``<resource-type>-<environmentSuffix>``, within AWS's limits.

Every physical name goes through :class:`Namer`, which knows each kind's length
and character rules and refuses a name that breaks them. It never truncates:
a silently shortened name could collide with another environment's.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import time
import uuid

from payments.core.errors import UserError


@dataclasses.dataclass(frozen=True)
class Rule:
    label: str
    max_length: int
    pattern: str
    allowed: str
    min_length: int = 1


class Kind(enum.Enum):
    """Naming rules per AWS resource kind (label keeps members distinct)."""

    GENERIC = Rule("generic", 255, r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "letters, digits, '.', '_' and '-'")
    LOAD_BALANCER = Rule(
        "load balancer",
        32,
        r"^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        "letters, digits and hyphens, not starting or ending with a hyphen",
    )
    TARGET_GROUP = Rule(
        "target group",
        32,
        r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$",
        "letters, digits and hyphens, not starting or ending with a hyphen",
    )
    S3_BUCKET = Rule(
        "S3 bucket",
        63,
        r"^(?!xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
        "lowercase letters, digits and hyphens",
        min_length=3,
    )
    IAM_ROLE = Rule("IAM role", 64, r"^[A-Za-z0-9+=,.@_-]+$", "letters, digits and +=,.@_-")
    IAM_POLICY = Rule("IAM policy", 128, r"^[A-Za-z0-9+=,.@_-]+$", "letters, digits and +=,.@_-")
    STATE_MACHINE = Rule("state machine", 80, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'")
    DB_IDENTIFIER = Rule(
        "DB identifier",
        63,
        r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$",
        "lowercase letters, digits and single hyphens, starting with a letter",
    )
    DMS_IDENTIFIER = Rule(
        "DMS identifier",
        63,
        r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$",
        "lowercase letters, digits and single hyphens, starting with a letter",
    )
    LOG_GROUP = Rule("log group", 512, r"^[A-Za-z0-9_/.#-]+$", "letters, digits and _/.#-")
    SECURITY_GROUP = Rule(
        "security group", 255, r"^(?!sg-)[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]+$", "ASCII without the sg- prefix"
    )
    ECS = Rule("ECS name", 255, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'")
    WAF = Rule("WAF name", 128, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'")
    SNS_TOPIC = Rule("SNS topic", 256, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'")
    ALARM = Rule("alarm", 255, r"^[\x20-\x7e]+$", "printable ASCII")
    DASHBOARD = Rule("dashboard", 255, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'")
    BACKUP = Rule("backup vault/plan", 50, r"^[A-Za-z0-9_-]+$", "letters, digits, '_' and '-'", min_length=2)


class Namer:
    """Builds and checks the physical names of one environment."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __call__(self, resource_type: str, kind: Kind = Kind.GENERIC) -> str:
        """``namer("vpc")`` -> ``"vpc-dev"``; fails if the result breaks `kind`'s rules."""
        return check(f"{resource_type}-{self.suffix}", kind)

    def bucket(self, purpose: str, account_id: str) -> str:
        """A globally unique bucket name: ``<purpose>-<suffix>-<account id>``."""
        return check(f"{purpose}-{self.suffix}-{account_id}", Kind.S3_BUCKET)


def check(name: str, kind: Kind) -> str:
    rule = kind.value
    if not (rule.min_length <= len(name) <= rule.max_length):
        raise UserError(
            f"name '{name}' is {len(name)} characters; an AWS {rule.label} name allows "
            f"{rule.min_length}-{rule.max_length}. Fix: shorten environmentSuffix or the resource type"
        )
    if not re.match(rule.pattern, name):
        raise UserError(f"name '{name}' is not a valid {rule.label} name. Fix: use {rule.allowed}")
    return name


def run_stamp() -> str:
    """A run's identifier: its UTC start time and 6 random hex digits (``20261203T014933Z-542682``). Readable and
    sortable, and unique per call even for two starts in the same second (deploy runs, Step Functions executions,
    whose names cannot be reused for 90 days)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
