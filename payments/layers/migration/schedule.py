"""The cutover's execution input: pools, traffic schedule, waits, validated in one place.

The stack config (defaults baked into the definition), ``invoke cutover``,
``invoke rehearse`` and the tests all build a :class:`CutoverInput` through
these checks, so a bad schedule is refused with one line before any execution
starts. The state machine re-checks the schedule itself before it changes
anything (someone may start it from the console).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any

from payments.core.errors import ConfigError
from payments.layers.migration import budget


class Pool(enum.Enum):
    """A target group behind the HTTPS listener."""

    LEGACY = "legacy"  #: IP targets of the on-prem servers, over the VPN
    BLUE = "blue"  #: ECS service (or ASG) blue
    GREEN = "green"  #: ECS service (or ASG) green


#: Where traffic may come from and go to: the on-prem pool is never a cutover target.
SOURCE_POOLS = (Pool.LEGACY, Pool.BLUE, Pool.GREEN)
TARGET_POOLS = (Pool.BLUE, Pool.GREEN)
PAIRS = tuple((s, t) for s in SOURCE_POOLS for t in TARGET_POOLS if s is not t)

#: Bounds of the waits and polls, derived from the history quota in :mod:`payments.layers.migration.budget`;
#: enforced here (config, command line) and again by the state machine itself before anything changes (an
#: execution may be started from the console with any input).
MAX_WAIT_SECONDS = budget.MAX_HOLD_SECONDS
MAX_POLLS = budget.MAX_POLLS
MAX_STEPS = budget.MAX_STEPS
#: What the cutover compares with the service's primary deployment (ECS reports full ARNs there).
TASK_DEFINITION_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]+:\d+")
TASK_DEFINITION_PATTERN = "arn:aws*:ecs:*:task-definition/*:*"


def parse_steps(raw: str | list[Any] | tuple[Any, ...], key: str) -> tuple[int, ...]:
    """``"10,50,100"`` or ``[10, 50, 100]`` -> ``(10, 50, 100)``, checked by :func:`check_steps`."""
    items = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else list(raw)
    steps: list[int] = []
    for item in items:
        if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
            raise ConfigError(key, f"'{item}' is not a whole percentage", "write whole numbers, e.g. 10,50,100")
        try:
            steps.append(int(item))
        except (TypeError, ValueError):
            raise ConfigError(
                key, f"'{item}' is not a whole percentage", "write whole numbers, e.g. 10,50,100"
            ) from None
    return check_steps(tuple(steps), key)


def check_steps(steps: tuple[int, ...], key: str) -> tuple[int, ...]:
    """A schedule is 1-100 %, strictly increasing, and ends at 100 % (the cutover completes)."""
    if not steps:
        raise ConfigError(key, "the step schedule is empty", "give at least one step, e.g. 10,50,100")
    if len(steps) > MAX_STEPS:
        raise ConfigError(
            key,
            f"{len(steps)} steps are more than the {MAX_STEPS} the execution history quota allows",
            f"use at most {MAX_STEPS} steps, e.g. 5,25,50,100",
        )
    for i, pct in enumerate(steps):
        if not 1 <= pct <= 100:
            raise ConfigError(
                key, f"step {pct} is outside 1-100 %", "use percentages of traffic on the target pool, e.g. 10,50,100"
            )
        if i and pct <= steps[i - 1]:
            raise ConfigError(key, f"steps must increase, {pct} follows {steps[i - 1]}", "order them, e.g. 10,50,100")
    if steps[-1] != 100:
        raise ConfigError(
            key, f"the last step is {steps[-1]} %, so the cutover would never complete", "end the schedule with 100"
        )
    return steps


def check_seconds(value: int | str, key: str, *, minimum: int = 0, maximum: int = MAX_WAIT_SECONDS) -> int:
    """Seconds from config or the command line (``"300"``), within minimum..maximum."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"'{value}' is not a whole number of seconds", "write e.g. 300")
    if value < 0:
        raise ConfigError(key, f"{value} seconds is negative", f"use {minimum}-{maximum} seconds")
    if not minimum <= value <= maximum:
        raise ConfigError(key, f"{value} seconds is out of range", f"use {minimum}-{maximum} seconds")
    return value


def check_gate_window(bake_seconds: int, gate_window_seconds: int, key: str, source: str) -> None:
    """A bake shorter than the gate can measure proves nothing: its errors cannot reach ALARM before it ends."""
    if bake_seconds < gate_window_seconds:
        raise ConfigError(
            key,
            f"a bake of {bake_seconds} s is shorter than the {gate_window_seconds} s the cutover gate needs to see "
            f"a failure ({source})",
            f"bake at least {gate_window_seconds} s, or shorten the gate's evaluation window",
        )


def check_pools(
    source: Pool | str, target: Pool | str, from_key: str = "--from", to_key: str = "--to"
) -> tuple[Pool, Pool]:
    src = _pool(source, from_key, SOURCE_POOLS)
    dst = _pool(target, to_key, TARGET_POOLS)
    if src is dst:
        raise ConfigError(
            to_key,
            f"source and target are both '{src.value}'",
            "move traffic between two different pools, e.g. "
            + ("--from legacy --to blue" if from_key.startswith("--") else
               f"{from_key.rsplit(':', 1)[-1]}: legacy and {to_key.rsplit(':', 1)[-1]}: blue"),
        )
    return src, dst


def _pool(value: Pool | str, key: str, allowed: tuple[Pool, ...]) -> Pool:
    if isinstance(value, Pool) and value in allowed:
        return value
    names = [p.value for p in allowed]
    if getattr(value, "value", value) not in names:
        raise ConfigError(key, f"'{getattr(value, 'value', value)}' is not allowed", f"use one of: {', '.join(names)}")
    return Pool(getattr(value, "value", value))


@dataclasses.dataclass(frozen=True)
class CutoverInput:
    """One execution's input; :meth:`as_json` gives the camelCase document the state machine reads."""

    source_pool: Pool = Pool.LEGACY
    target_pool: Pool = Pool.BLUE
    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: int = 300  #: wait after each step before checking the gate
    poll_seconds: int = 30  #: interval of the bounded waits (DMS in sync, target service stable)
    max_polls: int = 40  #: bounded waits give up after this many polls
    desired_count: int = 2  #: tasks of the target service
    task_definition: str | None = None  #: task definition ARN (with revision); None keeps the service's
    scale_down_source: bool = False  #: scale the source service to 0 after the hold
    hold_seconds: int = 3600  #: how long the source stays warm after the last step
    #: how the user spelled each field, for errors (config keys, command-line flags); not part of the input
    keys: Mapping[str, str] | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.validate(dict(self.keys) if self.keys else None)

    def validate(self, keys: dict[str, str] | None = None) -> None:
        """Raise one ConfigError for the first bad field; `keys` maps field -> how the user spelled it."""
        k = {f.name: f.name for f in dataclasses.fields(self)} | {
            "source_pool": "--from",
            "target_pool": "--to",
            "steps": "--steps",
            "bake_seconds": "--bake",
        }
        k.update(keys or {})
        check_pools(self.source_pool, self.target_pool, k["source_pool"], k["target_pool"])
        check_steps(self.steps, k["steps"])
        check_seconds(self.bake_seconds, k["bake_seconds"], maximum=budget.MAX_BAKE_SECONDS)
        check_seconds(self.poll_seconds, k["poll_seconds"], minimum=1, maximum=budget.MAX_POLL_SECONDS)
        check_seconds(self.hold_seconds, k["hold_seconds"], maximum=budget.MAX_HOLD_SECONDS)
        if isinstance(self.max_polls, bool) or not 1 <= self.max_polls <= MAX_POLLS:
            raise ConfigError(k["max_polls"], f"{self.max_polls} is out of range", f"use 1-{MAX_POLLS} polls")
        for key, seconds, most in (
            ("bake_seconds", self.bake_seconds, budget.MAX_BAKE_POLLS),
            ("hold_seconds", self.hold_seconds, budget.MAX_HOLD_POLLS),
        ):
            if seconds > most * self.poll_seconds:
                raise ConfigError(
                    k[key],
                    f"{seconds} s would read the gate {-(-seconds // self.poll_seconds)} times at "
                    f"{k['poll_seconds']} {self.poll_seconds} s; the execution history quota allows {most}",
                    f"raise {k['poll_seconds']} to at least {-(-seconds // most)} s, or shorten it",
                )
        if self.task_definition is not None and not TASK_DEFINITION_ARN.fullmatch(self.task_definition):
            raise ConfigError(
                k["task_definition"],
                f"'{self.task_definition}' is not a task definition ARN with a revision",
                "give the full ARN, e.g. arn:aws:ecs:us-east-1:123456789012:task-definition/payments-app:7 "
                "(the cutover checks the service really runs it)",
            )
        if isinstance(self.desired_count, bool) or not 1 <= self.desired_count <= 100:
            raise ConfigError(k["desired_count"], f"{self.desired_count} tasks is out of range", "use 1-100 tasks")

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "sourcePool": self.source_pool.value,
            "targetPool": self.target_pool.value,
            "steps": list(self.steps),
            "bakeSeconds": self.bake_seconds,
            "pollSeconds": self.poll_seconds,
            "maxPolls": self.max_polls,
            "desiredCount": self.desired_count,
            "scaleDownSource": self.scale_down_source,
            "holdSeconds": self.hold_seconds,
        }
        if self.task_definition:
            doc["taskDefinition"] = self.task_definition
        return doc
