"""Network reachability over the planned resources: which flows the VPC lets through, proven offline.

`model` builds the planned network (subnets, route tables, NACLs, security groups, gateways, the VPN's routes)
from a plan's resources; `walk` follows one packet through it, hop by hop, and names the hop that drops it;
`intent` declares the flows that must work and those that must not, and checks each for an environment.
No library fit (pybatfish needs a Batfish server, the AWS Reachability Analyzer needs an account), so the
model is small and exact: `ipaddress` for longest-prefix match, every address range split where any rule,
route or ACL entry changes its answer.
"""
