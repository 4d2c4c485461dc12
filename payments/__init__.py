"""Shared code for the payment platform's Pulumi micro-stacks.

`payments.core` holds what every layer and tool needs (layer graph, output
contract, environment settings, typed config, naming, tagging); `payments.layers`
holds the components each layer composes; `payments.plan` is the offline
planner; `payments.guardrails` the PCI DSS rules; `payments.ops` the deploy
orchestration behind `tasks.py`.
"""
