"""Rule registry and evaluation, shared by the offline plan and the CrossGuard pack.

A rule looks at one resource (its type token and its inputs with camelCase
wire names, as the engine and CrossGuard both see them) or at the whole stack
(for rules such as "every VPC has a flow log"). It yields messages; each
message becomes a finding.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from payments.core.errors import UserError


class Severity(enum.Enum):
    MANDATORY = "mandatory"  #: blocks `invoke plan` and `pulumi preview --policy-pack`
    ADVISORY = "advisory"  #: reported, does not block


#: The `severity` of a finding a written suppression covers: reported with its reason, never blocking.
SUPPRESSED = "suppressed"


@dataclasses.dataclass(frozen=True)
class Resource:
    """What a rule sees of a resource."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    #: the provider's default tags (merged into every taggable resource by AWS's provider)
    default_tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: true when the stack's environment carries real payments
    production: bool = False
    #: the environment suffix every physical name must carry
    suffix: str = ""
    #: the resource id when known (plan: fabricated; CrossGuard preview: often unknown)
    id: str | None = None
    protect: bool = False
    retain_on_delete: bool = False
    #: input paths the engine ignores changes to (the resource option `ignore_changes`)
    ignore_changes: tuple[str, ...] = ()

    def get(self, *path: str, default: Any = None) -> Any:
        """Nested lookup tolerant of lists-of-one (how the bridge encodes blocks)."""
        value: Any = self.inputs
        for key in path:
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value

    def json(self, key: str) -> Any:
        """An input that holds a JSON document (policies, definitions), parsed."""
        raw = self.inputs.get(key)
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return None
        return raw


Check = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[list[Resource]], Iterable[tuple[str, str]]]


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    pci: str  #: PCI DSS v4.0 requirement(s) served
    description: str
    severity: Severity
    types: frozenset[str] | None  #: type tokens checked; None = every AWS resource
    check: Check | None = None
    stack_check: StackCheck | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  #: the rule's severity, or SUPPRESSED when a suppression covers the finding
    pci: str
    resource: str
    type: str
    message: str
    #: the written reason of the suppression covering this finding ("" when none does)
    suppressed: str = ""

    def as_dict(self) -> dict[str, str]:
        data = dataclasses.asdict(self)
        if not self.suppressed:
            del data["suppressed"]  # the plan's JSON keeps its documented shape for active findings
        return data


RULES: dict[str, Rule] = {}


def _register(rule: Rule) -> None:
    if rule.id in RULES:
        raise ValueError(f"guardrail '{rule.id}' is defined twice")
    RULES[rule.id] = rule


def rule(
    id: str, *, pci: str, description: str, types: Iterable[str] | None = None, severity: Severity = Severity.MANDATORY
) -> Callable[[Check], Check]:
    """Register a per-resource rule."""

    def register(fn: Check) -> Check:
        _register(Rule(id, pci, description, severity, frozenset(types) if types is not None else None, check=fn))
        return fn

    return register


def stack_rule(
    id: str, *, pci: str, description: str, severity: Severity = Severity.MANDATORY
) -> Callable[[StackCheck], StackCheck]:
    """Register a rule over all resources of a stack; it yields (resource name, message)."""

    def register(fn: StackCheck) -> StackCheck:
        _register(Rule(id, pci, description, severity, None, stack_check=fn))
        return fn

    return register


def missing_companions(
    resources: list[Resource],
    owner: str,
    companion: str,
    link: str,
    ok: Callable[[Resource], bool],
    what: str,
    exempt: Callable[[Resource], str | None] | None = None,
) -> Iterator[tuple[str, str]]:
    """(owner name, message) for each `owner` resource no compliant `companion` points at through input `link`.

    E.g. every VPC needs a FlowLog whose `vpcId` is the VPC's id. During a real
    preview ids are often unknown; then enough compliant companions must exist.
    `exempt` returns the written reason an owner needs no companion (None: it needs one);
    exempt owners are neither checked nor counted.
    """
    owners = [r for r in resources if r.type == owner and (exempt is None or not exempt(r))]
    companions = [r for r in resources if r.type == companion and ok(r)]
    for o in owners:
        if o.id is not None and any(c.inputs.get(link) == o.id for c in companions):
            continue
        if o.id is None and len(companions) >= len(owners):
            continue
        yield o.name, f"no {what}"


def applies(r: Rule, resource_type: str) -> bool:
    if r.types is None:
        return resource_type.startswith("aws:")
    return resource_type in r.types


def evaluate(
    resources: list[Resource], rules: Iterable[Rule] | None = None, suppressions: Mapping[str, str] | None = None
) -> list[Finding]:
    """Run rules over a stack's resources. `suppressions` maps rule id -> written reason.

    A suppressed rule still runs: its findings come back with severity SUPPRESSED and the
    reason, so the plan shows a reviewer what was waived and why; they never block.
    """
    load_rules()
    suppressions = check_suppressions(suppressions or {})
    findings: list[Finding] = []
    for r in rules if rules is not None else RULES.values():
        reason = suppressions.get(r.id, "")
        severity = SUPPRESSED if reason else r.severity.value
        hits: list[tuple[str, str, str]] = []  # (resource name, type, message)
        if r.check is not None:
            hits += [(res.name, res.type, msg) for res in resources if applies(r, res.type) for msg in r.check(res)]
        if r.stack_check is not None:
            by_name = {res.name: res.type for res in resources}
            hits += [(name, by_name.get(name, ""), msg) for name, msg in r.stack_check(resources)]
        findings += [Finding(r.id, severity, r.pci, name, type_, msg, reason) for name, type_, msg in hits]
    return findings


def check_suppressions(suppressions: Mapping[str, str]) -> dict[str, str]:
    """`suppressions` with reasons stripped, or a one-line UserError for an unknown rule id or a blank reason."""
    checked: dict[str, str] = {}
    for rule_id, reason in suppressions.items():
        if rule_id not in RULES:
            close = difflib.get_close_matches(str(rule_id), RULES, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "rule ids are listed in docs/pci-dss.md"
            raise UserError(
                f"guardrail suppression '{rule_id}' names no rule. Fix: use an existing rule id ({hint})"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise UserError(
                f"guardrail suppression of '{rule_id}' has no reason. "
                "Fix: write why the rule does not apply to this stack, for the reviewer and the assessor"
            )
        checked[rule_id] = reason.strip()
    return checked


def load_rules() -> dict[str, Rule]:
    """Import every ``payments.guardrails.rules_*`` module once (rules register on import)."""
    import importlib
    import pkgutil

    import payments.guardrails as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("rules_"):
            importlib.import_module(f"payments.guardrails.{info.name}")
    return RULES
