"""PCI DSS guardrails, written once over (resource type, inputs).

`payments.guardrails.engine` defines rules and evaluates them; the rule
modules (`rules_*`) register them; the offline plan and the CrossGuard policy
pack in `policy/` both run the same registry.
"""
