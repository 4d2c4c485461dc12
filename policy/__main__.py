"""CrossGuard pack: `pulumi preview --policy-pack ../policy` from any layer folder."""

from pulumi_policy import EnforcementLevel, PolicyPack

from payments.guardrails.crossguard import policies

PolicyPack(name="payments-pci-dss", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
