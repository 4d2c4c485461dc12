"""Typed, validated configuration.

A layer declares its settings once, as a frozen dataclass whose fields are made
with :func:`setting`. That declaration is the single source for the program
(typed values), for validation at start-up (one line naming the key and the
fix), for promotion (``promotable``) and for the generated config reference.

Keys in stack files are the camelCase form of the field name
(``az_count`` -> ``azCount``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import ipaddress
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from payments.core.aws_rules import ArnKind, check_arn
from payments.core.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    doc: str,
    minimum: float | None = None,
    maximum: float | None = None,
    promotable: bool = False,
    example: str | None = None,
    arn: ArnKind | None = None,
) -> Any:
    """Declare one config key.

    `promotable` marks settings that ``invoke promote`` copies from dev to prod
    (what was tested: image, sizes, thresholds); everything else is
    environment-specific (names, CIDRs, capacity, domains) and never copied. `arn` says what an ARN-valued
    key must point at (:func:`load` checks it, against the environment when it is given).
    """
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "promotable": promotable, "example": example,
            "arn": arn}
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples or mappingproxy-free defaults; mutable defaults are shared")
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """What the docs and `invoke promote` need to know about one key."""

    key: str
    type_name: str
    default: Any
    required: bool
    doc: str
    promotable: bool


def describe(cls: type) -> list[KeyInfo]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        required = f.default is _MISSING and f.default_factory is _MISSING
        default = None if required else (f.default if f.default is not _MISSING else f.default_factory())  # type: ignore[operator]
        if isinstance(default, enum.Enum):
            default = default.value
        out.append(
            KeyInfo(
                key=camel(f.name),
                type_name=_type_name(hints[f.name]),
                default=default,
                required=required,
                doc=f.metadata.get("doc", ""),
                promotable=bool(f.metadata.get("promotable")),
            )
        )
    return out


def promotable_keys(cls: type) -> list[str]:
    return [info.key for info in describe(cls) if info.promotable]


def load(cls: type[T], values: Mapping[str, Any], *, where: str, region: str | None = None,
         account: str | None = None) -> T:
    """Build `cls` from raw `values` (strings or parsed YAML), validating every key.

    `where` prefixes keys in messages, e.g. ``payments-network`` gives
    ``payments-network:azCount: ...``. Unknown keys are errors too: a typo must
    not silently fall back to a default. ARN-valued keys (``arn=``) are checked
    against the environment's `region` (its partition) and `account` when given.
    """
    hints = typing.get_type_hints(cls)
    known = {camel(f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"remove it; known keys: {', '.join(sorted(known))}"
            raise ConfigError(f"{where}:{key}", "unknown key", fix)
    kwargs: dict[str, Any] = {}
    for key, f in known.items():
        label = f"{where}:{key}"
        required = f.default is _MISSING and f.default_factory is _MISSING
        raw = values.get(key)
        if isinstance(raw, str) and not raw.strip() and typing.get_origin(hints[f.name]) not in (
                types.UnionType, typing.Union):
            # Only a required key has no default to fall back to: its fix is a value, never "remove it".
            fix = (f"set {key}: {f.metadata.get('example') or '<value>'} ({f.metadata.get('doc', '')})" if required
                   else f"write a value, or delete the line to use the default ({_shown(f.default)})")
            raise ConfigError(label, "is empty", fix)
        if raw is None:
            if required:
                example = f.metadata.get("example") or "<value>"
                raise ConfigError(
                    label, "required key is missing", f"set {key}: {example} ({f.metadata.get('doc', '')})"
                )
            continue
        kwargs[f.name] = _convert(values[key], hints[f.name], label, f.metadata)
    obj = cls(**kwargs)
    for key, f in known.items():
        if f.metadata.get("arn") is not None and kwargs.get(f.name) is not None:
            check_arn(kwargs[f.name], f.metadata["arn"], f"{where}:{key}", region=region, account=account)
    check = getattr(obj, "check", None)
    if callable(check):
        check(where)
    return obj


def _shown(default: Any) -> str:
    value = default.value if isinstance(default, enum.Enum) else default
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} (optional)"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"map {_type_name(k)} -> {_type_name(v)}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " | ".join(str(m.value) for m in tp)
    if tp is ipaddress.IPv4Network:
        return "IPv4 CIDR"
    if tp is ipaddress.IPv4Address:
        return "IPv4 address"
    return getattr(tp, "__name__", str(tp))


def _convert(raw: Any, tp: Any, label: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        return None if raw in (None, "") else _convert(raw, inner, label, meta)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        items = _parse_collection(raw, list, label)
        return tuple(_convert(item, item_tp, f"{label}[{i}]", {}) for i, item in enumerate(items))
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        mapping = _parse_collection(raw, dict, label)
        return {
            _convert(k, key_tp, f"{label}.{k}", {}): _convert(v, val_tp, f"{label}.{k}", meta)
            for k, v in mapping.items()
        }
    converter = _SCALARS.get(tp)
    if converter is not None:
        value = converter(raw, label)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        value = _enum(raw, tp, label)
    else:  # pragma: no cover - a declaration error, not a user error
        raise TypeError(f"unsupported config type {tp!r} for {label}")
    _check_range(value, label, meta)
    return value


def _parse_collection(raw: Any, kind: type, label: str) -> Any:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            if kind is list:  # allow "a,b,c" for lists given on the command line
                raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, kind):
        shape = "a list, e.g. [a, b]" if kind is list else "a map, e.g. {key: value}"
        raise ConfigError(label, f"expected {shape}, got {raw!r}", f"write it as {shape}")
    return raw


def _int(raw: Any, label: str) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ConfigError(label, f"expected a whole number, got {raw!r}", "write an integer such as 3")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(label, f"expected a whole number, got {raw!r}", "write an integer such as 3") from None


def _float(raw: Any, label: str) -> float:
    if isinstance(raw, bool):
        raise ConfigError(label, f"expected a number, got {raw!r}", "write a number such as 0.5")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ConfigError(label, f"expected a number, got {raw!r}", "write a number such as 0.5") from None


def _bool(raw: Any, label: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ConfigError(label, f"expected true or false, got {raw!r}", "write true or false")


def _str(raw: Any, label: str) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ConfigError(label, f"expected text, got {raw!r}", "write a plain string")
    text = str(raw).strip()
    if not text:
        raise ConfigError(label, "is empty", "write a non-empty value, or delete this entry")
    return text


def _network(raw: Any, label: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(raw), strict=True)
    except ValueError as exc:
        raise ConfigError(
            label, f"'{raw}' is not a valid IPv4 CIDR ({exc})", "write a network address with prefix, e.g. 10.20.0.0/16"
        ) from None


def _address(raw: Any, label: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(raw))
    except ValueError:
        raise ConfigError(
            label, f"'{raw}' is not a valid IPv4 address", "write a dotted address, e.g. 203.0.113.10"
        ) from None


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {
    int: _int,
    float: _float,
    bool: _bool,
    str: _str,
    ipaddress.IPv4Network: _network,
    ipaddress.IPv4Address: _address,
}


def _enum(raw: Any, tp: type[enum.Enum], label: str) -> enum.Enum:
    try:
        return tp(raw)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in tp)
        raise ConfigError(label, f"'{raw}' is not allowed", f"use one of: {allowed}") from None


def _check_range(value: Any, label: str, meta: Mapping[str, Any]) -> None:
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = (
            f"between {lo:g} and {hi:g}"
            if lo is not None and hi is not None
            else (f">= {lo:g}" if lo is not None else f"<= {hi:g}")
        )
        raise ConfigError(label, f"{value:g} is out of range", f"use a value {bounds}")
