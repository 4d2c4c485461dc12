"""The guardrail rules as a Pulumi CrossGuard policy pack (`pulumi preview --policy-pack policy`).

Each rule becomes one policy with the same id. CrossGuard hands us the
resource's inputs with the engine's (camelCase) property names, exactly what
the offline plan records, so the rules run unchanged. Two things differ from
the plan and are bridged here: the environment comes from the provider's
default `Environment` tag, and CrossGuard does not expose `retainOnDelete`
(only `protect` and `ignore_changes`), so the `destroyable` rule sees protect only under CrossGuard.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from payments.core.environment import load_environment
from payments.core.errors import UserError
from payments.guardrails.engine import Resource, Rule, Severity, applies, load_rules

PCI = PolicyComplianceFramework(name="PCI DSS", version="4.0")


def _default_tags(provider: Any) -> dict[str, str]:
    if provider is None:
        return {}
    tags = (provider.props or {}).get("defaultTags")
    if isinstance(tags, str):
        tags = json.loads(tags)
    return dict((tags or {}).get("tags") or {})


def _environment(tags: Mapping[str, str]) -> tuple[bool, str]:
    """(production, suffix) of the stack's environment, from its Environment tag."""
    name = tags.get("Environment")
    if not name:
        return False, ""
    try:
        env = load_environment(name)
    except UserError:
        return False, ""
    return env.production, env.suffix


def to_resource(
    resource_type: str, name: str, props: Mapping[str, Any], provider: Any, opts: Any
) -> Resource:
    tags = _default_tags(provider)
    production, suffix = _environment(tags)
    return Resource(
        resource_type,
        name,
        dict(props or {}),
        tags,
        production,
        suffix,
        protect=bool(getattr(opts, "protect", False)),
        ignore_changes=tuple(getattr(opts, "ignore_changes", None) or ()),
    )


def _level(rule: Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.severity is Severity.MANDATORY else EnforcementLevel.ADVISORY


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies(rule, args.resource_type):
            return
        res = to_resource(args.resource_type, args.name, args.props, args.provider, args.opts)
        for message in rule.check(res):  # type: ignore[misc]
            report_violation(f"[PCI DSS {rule.pci}] {message}", None)

    return ResourceValidationPolicy(
        name=rule.id, description=rule.description, validate=validate, enforcement_level=_level(rule), framework=PCI
    )


def stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [to_resource(r.resource_type, r.name, r.props, r.provider, r.opts) for r in args.resources]
        urns = {r.name: r.urn for r in args.resources}
        for name, message in rule.stack_check(resources):  # type: ignore[misc]
            report_violation(f"[PCI DSS {rule.pci}] {message}", urns.get(name))

    return StackValidationPolicy(
        name=rule.id, description=rule.description, validate=validate, enforcement_level=_level(rule), framework=PCI
    )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [resource_policy(r) if r.check is not None else stack_policy(r) for r in load_rules().values()]
