"""AWS's own rules for values that reach AWS, read from the botocore data installed with boto3.

Nothing here is a hand-written list of AWS facts:

- **regions and partitions**: botocore's ``endpoints.json`` (every partition, its regions and region pattern);
- **tag keys and values**: the ``Tag`` shape of each service this project tags, in that service's API model
  (``service-2.json``): lengths and patterns; a value must satisfy all of them, since the same default tags
  reach every resource;
- **ARN shapes**: the API model's shape of the parameter the ARN is passed in (lengths, pattern where the model has
  one), plus the ARN structure (``arn:<partition>:<service>:<region>:<account>:<resource>``) checked against the
  environment: the partition of its region, its region, and its account when ``accountId`` is set.

A model's pattern is a Java regular expression (``\\p{L}`` and the like), so it is compiled with the ``regex``
package, and applied to the whole value.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import regex
from botocore.loaders import create_loader

from payments.core import cache
from payments.core.errors import ConfigError

#: botocore service models of the resources this project creates and tags (through the provider's default tags).
TAGGED_SERVICES = (
    "acm", "application-autoscaling", "autoscaling", "backup", "cloudwatch", "dms", "ec2", "ecs", "elbv2", "iam",
    "kms", "logs", "rds", "s3", "secretsmanager", "sns", "ssm", "stepfunctions", "wafv2",
)


@functools.cache
def _loader() -> Any:
    return create_loader()


@functools.cache
def _model(service: str) -> dict[str, Any]:
    model: dict[str, Any] = _loader().load_service_model(service, "service-2")
    return model


@functools.cache
def partitions() -> tuple[dict[str, Any], ...]:
    """The partitions of botocore's endpoints data (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    return tuple(_loader().load_data("endpoints")["partitions"])


def known_regions() -> dict[str, str]:
    """region -> its partition, for every region botocore knows."""
    return {region: p["partition"] for p in partitions() for region in p["regions"]}


def partition_of(region: str) -> str | None:
    return known_regions().get(region)


def check_region(region: str, label: str) -> str:
    """The region's partition; a region botocore does not know is refused with the closest known names."""
    partition = partition_of(region)
    if partition is None:
        close = difflib.get_close_matches(region, list(known_regions()), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "use a region such as us-east-1"
        raise ConfigError(label, f"'{region}' is not an AWS region (botocore's endpoints data)", hint)
    return partition


# --- shapes ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shape:
    """Length bounds and patterns a string must satisfy, and where they come from."""

    min: int
    max: int
    patterns: tuple[str, ...]
    source: str

    def problem(self, value: str) -> str | None:
        if not self.min <= len(value) <= self.max:
            return f"is {len(value)} characters; AWS allows {self.min}-{self.max} ({self.source})"
        for pattern in self.patterns:
            if not _compiled(pattern).fullmatch(value):
                return f"has characters AWS does not allow ({self.source})"
        return None


@functools.cache
def _compiled(pattern: str) -> Any:
    # Java writes supplementary characters as a surrogate-pair range; Python's engines want the code points.
    return regex.compile(pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF"))


def shape(service: str, name: str) -> Shape:
    """One string shape of a service model."""
    spec = _model(service)["shapes"][name]
    return Shape(spec.get("min", 0), spec.get("max", 1 << 16), tuple(p for p in [spec.get("pattern")] if p),
                 f"{service} {name}")


def _merge(shapes: list[Shape], source: str) -> Shape:
    return Shape(max(s.min for s in shapes), min(s.max for s in shapes),
                 tuple(sorted({p for s in shapes for p in s.patterns})), source)


def _tag_member(service: str, member: str) -> Shape:
    """The shape of a tag's key or value in one service: its ``Tag`` structure, or its tag map."""
    shapes = _model(service)["shapes"]
    tag = shapes.get("Tag")
    if tag is not None and tag.get("type") == "structure":
        members = {name.lower().removeprefix("tag"): spec["shape"] for name, spec in tag["members"].items()}
        return shape(service, members[member])
    tag_map = next(spec for name, spec in shapes.items() if name in ("Tags", "TagMap") and spec.get("type") == "map")
    return shape(service, tag_map[member]["shape"])


_TAG_RULES_FORMAT = "1"  #: bump when what is kept changes


def _tag_rules_name() -> str:
    """The cache entry of the tag rules, named by everything they come from: botocore's version and where it looks
    for models, and this module's code, which reads them."""
    import botocore

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    parts = [_TAG_RULES_FORMAT, botocore.__version__, code, *_loader().search_paths, *TAGGED_SERVICES]
    return f"tags-{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()}.json"


def _kept_rules(kept: bytes) -> dict[str, Shape] | None:
    """The rules of a cache entry, or None unless it holds exactly what :func:`_tag_rules` writes."""
    try:
        data = json.loads(kept)
        rules = {member: Shape(**{**data[member], "patterns": tuple(data[member]["patterns"])})
                 for member in ("key", "value")}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    well_formed = set(data) == {"key", "value"} and all(
        type(r.min) is int and type(r.max) is int and isinstance(r.source, str)
        and all(isinstance(p, str) for p in r.patterns)
        for r in rules.values()
    )
    return rules if well_formed else None


@functools.cache
def _tag_rules() -> dict[str, Shape]:
    """What every tagged service accepts as a tag key and value. Reading 19 API models takes a quarter of a second,
    at the start of every task, so the result is kept in the project's cache (:mod:`payments.core.cache`); an entry
    that is not exactly what is written here is read from the models again, and rewritten."""
    where, name = cache.folder("aws-rules"), _tag_rules_name()
    kept = cache.load(where, name)
    rules = _kept_rules(kept) if kept is not None else None
    if rules is None:
        rules = {member: _merge([_tag_member(s, member) for s in TAGGED_SERVICES], "the services' Tag shapes")
                 for member in ("key", "value")}
        cache.store(where, name, json.dumps({m: dataclasses.asdict(r) for m, r in rules.items()}).encode())
    return rules


def tag_key() -> Shape:
    """What every tagged service accepts as a tag key."""
    return _tag_rules()["key"]


def tag_value() -> Shape:
    """What every tagged service accepts as a tag value."""
    return _tag_rules()["value"]


def check_tag(key: str, value: str, label: str) -> None:
    """A default tag every resource will carry: its key and value must suit every tagged service."""
    for what, text, rule in (("tag key", key, tag_key()), ("tag value", value, tag_value())):
        problem = rule.problem(text)
        if problem is not None:
            raise ConfigError(label, f"as the {key} {what}, '{text}' {problem}",
                              f"use at most {rule.max} letters, digits, spaces and _ . : / = + - @")
    if key.lower().startswith("aws:"):
        raise ConfigError(label, f"'{key}' starts with aws:, a prefix AWS reserves", "choose another tag key")


# --- ARNs --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArnKind:
    """What a config key's ARN must point at, and the API parameter shape it is passed in."""

    what: str  #: in words, e.g. an ACM certificate
    service: str  #: the ARN's service part, e.g. acm
    resource: str  #: how its resource part starts, e.g. certificate/
    model: tuple[str, str]  #: (botocore service, shape) of the parameter that takes it
    example: str  #: the resource part of an example, e.g. certificate/<id>

    def describe(self, partition: str | None, region: str | None, account: str | None) -> str:
        return (f"arn:{partition or '<partition>'}:{self.service}:{region or '<region>'}:{account or '<account id>'}:"
                f"{self.example}")


ACM_CERTIFICATE = ArnKind("an ACM certificate", "acm", "certificate/", ("acm", "CertificateArn"), "certificate/<id>")
SECRET = ArnKind("a Secrets Manager secret", "secretsmanager", "secret:", ("secretsmanager", "SecretARNType"),
                 "secret:<name>")
KMS_KEY = ArnKind("a KMS key", "kms", "key/", ("kms", "ArnType"), "key/<id>")
DMS_CERTIFICATE = ArnKind("a DMS certificate", "dms", "cert:", ("dms", "String"), "cert:<id>")


def check_arn(value: str, kind: ArnKind, label: str, *, region: str | None = None, account: str | None = None) -> None:
    """`value` is an ARN of `kind`; with the environment's `region`, in its partition and region (and `account`)."""
    partition = partition_of(region) if region else None
    expected = kind.describe(partition, region, account)
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ConfigError(label, f"'{value}' is not an ARN", f"write it as {expected}")
    _, arn_partition, service, arn_region, arn_account, resource = parts
    if service != kind.service or not resource.startswith(kind.resource):
        raise ConfigError(label, f"'{value}' is not the ARN of {kind.what}",
                          f"write it as {expected}")
    problem = shape(*kind.model).problem(value)
    if problem is not None:
        raise ConfigError(label, f"'{value}' {problem}", f"write it as {expected}")
    if region is None or partition is None:
        return
    if arn_partition != partition:
        raise ConfigError(label, f"partition '{arn_partition}' is not the partition of {region} ('{partition}')",
                          f"use the {partition} ARN: {expected}")
    if arn_region != region:
        raise ConfigError(label, f"the ARN is in {arn_region or 'no region'}, the environment in {region}; AWS uses "
                          "it only in its own region", f"create or import it in {region} and use that ARN")
    if not regex.fullmatch(r"\d{12}", arn_account):
        raise ConfigError(label, f"account '{arn_account}' is not a 12-digit account id", f"write it as {expected}")
    if account is not None and arn_account != account:
        raise ConfigError(label, f"the ARN is in account {arn_account}, the environment deploys to {account} "
                          "(accountId)", f"use the ARN from account {account}")
