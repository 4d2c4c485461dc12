"""Carving subnet CIDRs out of the VPC range (pure, tested without Pulumi)."""

from __future__ import annotations

import dataclasses
import ipaddress

TIERS = ("public", "app", "data")
#: the VPC is split in 4 tier blocks (3 used, 1 spare) of 8 AZ slots each (6 used at most)
_TIER_SPLIT_BITS = 2
_AZ_SPLIT_BITS = 3
MIN_VPC_PREFIX = 16  # AWS's largest VPC
MAX_VPC_PREFIX = 28 - _TIER_SPLIT_BITS - _AZ_SPLIT_BITS  # smallest subnet AWS allows is /28


@dataclasses.dataclass(frozen=True)
class SubnetPlan:
    tier: str
    az_index: int
    cidr: ipaddress.IPv4Network


def carve(vpc: ipaddress.IPv4Network, az_count: int) -> list[SubnetPlan]:
    """One subnet per tier and AZ; a tier's subnets share a contiguous block.

    Contiguous tier blocks let a single rule (e.g. a NACL or an on-prem
    firewall) name a whole tier. Adding AZs later never moves existing subnets.
    """
    if not 1 <= az_count <= 2**_AZ_SPLIT_BITS:
        raise ValueError(f"az_count must be between 1 and {2**_AZ_SPLIT_BITS}")
    blocks = list(vpc.subnets(prefixlen_diff=_TIER_SPLIT_BITS))
    plans = []
    for tier, block in zip(TIERS, blocks, strict=False):
        for index, cidr in enumerate(list(block.subnets(prefixlen_diff=_AZ_SPLIT_BITS))[:az_count]):
            plans.append(SubnetPlan(tier, index, cidr))
    return plans


def overlapping(a: ipaddress.IPv4Network, b: ipaddress.IPv4Network) -> bool:
    return a.overlaps(b)
