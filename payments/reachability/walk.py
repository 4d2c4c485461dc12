"""One packet through the planned network, hop by hop, and its reply.

A packet leaves a place (a network interface in a subnet, or the internet, or the on-prem networks behind the
VPN), meets the source's security groups and its subnet's network ACL, follows its subnet's route table (through
a NAT gateway, out of an internet gateway, into the VPN, to a gateway endpoint, or locally to an interface), then
meets the destination subnet's network ACL and security groups. Security groups are stateful; network ACLs are
not, so the reply is checked too: the ACLs it crosses on ephemeral ports, and the route back from the
destination's subnet.

Not modelled, and said so in every verdict: DNS, the on-prem side of the VPN (its routes and firewalls are taken
to admit the flows), what listens on a port, and services behind an endpoint (policies, IAM).
"""

from __future__ import annotations

import dataclasses
import ipaddress

from payments.reachability.model import Model, Route, Subnet

Address = ipaddress.IPv4Address
#: The ports clients reply to: AWS's network ACL guidance covers every client OS with 1024-65535.
EPHEMERAL = (1024, 65535)
#: Places a packet can start or end at outside the VPC.
INTERNET, ON_PREM, SERVICE = "internet", "on-prem", "service"


@dataclasses.dataclass(frozen=True)
class Eni:
    """Network interfaces of one component in one subnet."""

    component: str
    subnet: str
    #: security group ids; None: any group (a hypothetical interface: its egress is not checked, and no rule
    #: naming a group admits it)
    groups: frozenset[str] | None
    public_ip: bool = False


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a flow starts or ends: an interface, or outside the VPC (internet, on-prem, an AWS service)."""

    kind: str  #: "eni", INTERNET, ON_PREM or SERVICE
    eni: Eni | None = None
    prefix_list: str | None = None  #: SERVICE: the service's prefix list

    @property
    def shown(self) -> str:
        return f"{self.eni.component} in {self.eni.subnet}" if self.eni else self.kind


@dataclasses.dataclass(frozen=True)
class Result:
    """Whether the packet and its reply get through; the hop that stops them; the path they took."""

    ok: bool
    hop: str = ""  #: why it stops (empty when it gets through)
    resource: str = ""  #: the resource of that hop
    path: tuple[str, ...] = ()


class Walk:
    """Packets through one model. `strict`: replies must pass on every ephemeral port (proving a flow), not on
    at least one (proving a flow impossible needs every way through refused)."""

    def __init__(self, model: Model, strict: bool) -> None:
        self.m = model
        self.strict = strict
        self._reply_ports = sorted({p for p in model.ports() if EPHEMERAL[0] <= p <= EPHEMERAL[1]} | {EPHEMERAL[0]})

    # --- network ACLs ---------------------------------------------------------------------------------------

    def _acl(self, subnet: Subnet, egress: bool, ip: Address, port: int) -> str:
        allowed, entry = subnet.acl.decide(egress, ip, port)
        if allowed:
            return ""
        way = "egress to" if egress else "ingress from"
        return f"network ACL {subnet.acl.name} of {subnet.name} denies {way} {ip} port {port} ({entry})"

    def _acl_reply(self, subnet: Subnet, egress: bool, ip: Address) -> str:
        """The reply's ephemeral ports through an ACL: all of them (strict) or any of them."""
        refusals = [self._acl(subnet, egress, ip, p) for p in self._reply_ports]
        refused = [r for r in refusals if r]
        if (self.strict and refused) or (not self.strict and len(refused) == len(refusals)):
            return f"{refused[0]} for replies on ephemeral ports {EPHEMERAL[0]}-{EPHEMERAL[1]}"
        return ""

    # --- security groups ------------------------------------------------------------------------------------

    def _sg_allows(self, eni: Eni, ingress: bool, peer_ip: Address, peer_groups: frozenset[str] | None,
                   port: int) -> bool:
        if eni.groups is None:
            return True
        for group_id in eni.groups:
            group = self.m.groups.get(group_id)
            for rule in group.rules if group else []:
                if rule.ingress != ingress or not rule.covers(port):
                    continue
                if rule.cidr is not None and peer_ip in rule.cidr:
                    return True
                if rule.group is not None and peer_groups is not None and rule.group in peer_groups:
                    return True
                if rule.prefix_list is not None and any(
                    peer_ip in net for net in self.m.prefix_lists.get(rule.prefix_list, [])
                ):
                    return True
        return False

    def _groups(self, eni: Eni) -> str:
        return ", ".join(sorted(self.m.name(g) for g in eni.groups or [])) or "(none)"

    # --- routes ---------------------------------------------------------------------------------------------

    def _route(self, subnet: Subnet, ip: Address) -> Route | None:
        return subnet.table.lookup(ip)

    def _vpn_carries(self, vgw: str, ip: Address) -> str:
        """Why the VPN gateway cannot send `ip` over a tunnel ("" when it can)."""
        if vgw not in self.m.vpn_routes:
            return f"{self.m.name(vgw)} is not attached to the VPC"
        routes = self.m.vpn_routes[vgw]
        if routes is None:
            return ""  # BGP: taken to be advertised by on-prem
        if not routes:
            return f"{self.m.name(vgw)} has no VPN connection with a route"
        if not any(ip in net for net in routes):
            return f"the VPN connection(s) of {self.m.name(vgw)} have no static route to {ip}"
        return ""

    # --- the walk -------------------------------------------------------------------------------------------

    def flow(self, src: Place, a: Address, dst: Place, b: Address, port: int) -> Result:
        """Packet a -> b:port from `src` to `dst`, and its reply."""
        if src.eni is not None:
            return self._from_eni(src.eni, a, dst, b, port)
        if dst.eni is None:
            return Result(False, f"{src.kind} -> {dst.kind} does not cross this VPC")
        return self._from_outside(src.kind, a, dst.eni, b, port)

    def _from_eni(self, eni: Eni, a: Address, dst: Place, b: Address, port: int) -> Result:
        subnet = self.m.subnets[eni.subnet]
        dst_groups = dst.eni.groups if dst.eni else None
        if eni.groups is not None and not self._egress_ok(eni, dst, b, dst_groups, port):
            return Result(False, f"security group(s) {self._groups(eni)} allow no egress to {b} port {port}",
                          self._groups(eni))
        same_subnet = dst.eni is not None and dst.eni.subnet == eni.subnet
        if not same_subnet:
            refused = self._acl(subnet, True, b, port)
            if refused:
                return Result(False, refused, subnet.acl.name)
        return self._routed(subnet, eni, a, dst, b, port, ())

    def _egress_ok(self, eni: Eni, dst: Place, b: Address, dst_groups: frozenset[str] | None, port: int) -> bool:
        return self._sg_allows(eni, False, b, dst_groups, port)

    def _routed(self, subnet: Subnet, eni: Eni, a: Address, dst: Place, b: Address, port: int,
                path: tuple[str, ...], depth: int = 0, via: tuple[str, ...] = ()) -> Result:
        """Route b from `subnet`; `via`: the tables and NAT gateways already crossed (messages name the first)."""
        route = self._route(subnet, b)
        table = subnet.table.name
        if route is None:
            return Result(False, f"route table {table} has no route to {b}", table)
        hop = f"{table}: {route.shown} -> {self.m.name(route.target)}"
        via = via or (table,)
        if route.kind == "local":
            if dst.eni is None or b not in self.m.subnets[dst.eni.subnet].cidr:
                return Result(False, f"route table {table} keeps {b} inside the VPC (local), not the {dst.kind}",
                              table)
            return self._arrive(dst.eni, a, eni.groups, b, port, ("eni", subnet), (*path, hop))
        if route.kind == "igw":
            if not eni.public_ip:
                return Result(False, f"{eni.component} has no public IP address: the internet gateway "
                                     f"{self.m.name(route.target)} drops its packets ({table} sends {b} there)",
                              table)
            return self._exit(INTERNET, route, subnet, b, dst, via, (*path, hop))
        if route.kind == "nat":
            return self._through_nat(route, subnet, a, dst, b, port, (*path, hop), depth, via)
        if route.kind == "vgw":
            refused = self._vpn_carries(route.target, b)
            if refused:
                return Result(False, refused, self.m.name(route.target))
            return self._exit(ON_PREM, route, subnet, b, dst, via, (*path, hop))
        if route.kind == "vpce":
            return self._exit(SERVICE, route, subnet, b, dst, via, (*path, hop))
        return Result(False, f"route table {table} sends {b} to {self.m.name(route.target)}, "
                             "a target this model does not follow", table)

    def _through_nat(self, route: Route, subnet: Subnet, a: Address, dst: Place, b: Address, port: int,
                     path: tuple[str, ...], depth: int, via: tuple[str, ...]) -> Result:
        nat = self.m.nat_gateways.get(route.target)
        if nat is None or nat.subnet not in self.m.subnets or depth > 2:
            return Result(False, f"route table {subnet.table.name} sends {b} to {self.m.name(route.target)}, "
                                 "which is not in this VPC", subnet.table.name)
        if nat.public and not nat.has_address:
            return Result(False, f"NAT gateway {nat.name} has no Elastic IP (allocationId)", nat.name)
        nat_subnet = self.m.subnets[nat.subnet]
        for refused in (self._acl(nat_subnet, False, a, port), self._acl(nat_subnet, True, b, port)):
            if refused:
                return Result(False, refused, nat_subnet.acl.name)
        translated = Eni(f"NAT gateway {nat.name}", nat.subnet, None, public_ip=nat.public)
        result = self._routed(nat_subnet, translated, a, dst, b, port, path, depth + 1, (*via, nat.name))
        if not result.ok:
            return result
        # The reply comes back to the NAT, which sends it on to the interface: two more ACL crossings.
        for refused in (self._acl_reply(nat_subnet, True, a), self._acl_reply(subnet, False, b)):
            if refused:
                return Result(False, refused, "network ACL")
        return result

    def _exit(self, kind: str, route: Route, subnet: Subnet, b: Address, dst: Place, via: tuple[str, ...],
              path: tuple[str, ...]) -> Result:
        """The packet leaves the VPC by `route`; it must be where the flow goes, and the reply must get back in."""
        if kind != dst.kind or (kind == SERVICE and route.prefix_list != dst.prefix_list):
            where = {INTERNET: "the internet", ON_PREM: "the VPN", SERVICE: "a gateway endpoint"}
            chain = "".join(f"{hop}, then " for hop in via[1:])
            return Result(False, f"route table {via[0]} has no route to {b} {self._way(dst)} (it goes to {chain}"
                                 f"{self.m.name(route.target)}, {where[kind]}, by {route.shown})", via[0])
        refused = self._acl_reply(subnet, False, b)
        if refused:
            return Result(False, refused, subnet.acl.name)
        return Result(True, path=path)

    @staticmethod
    def _way(dst: Place) -> str:
        return {ON_PREM: "over the VPN", SERVICE: "through its gateway endpoint", INTERNET: "to the internet"}.get(
            dst.kind, "inside the VPC"
        )

    def _from_outside(self, kind: str, a: Address, eni: Eni, b: Address, port: int) -> Result:
        if kind == INTERNET:
            if not self.m.internet_gateways:
                return Result(False, "the VPC has no internet gateway")
            if not eni.public_ip:
                return Result(False, f"{eni.component} has no public IP address: nothing routes to it from the "
                                     "internet", eni.component)
        elif kind == ON_PREM and not self.m.vpn_gateways:
            return Result(False, "the VPC has no VPN gateway")
        gateways = self.m.internet_gateways if kind == INTERNET else self.m.vpn_gateways
        return self._arrive(eni, a, None, b, port, (kind, None), (f"{kind} -> {', '.join(gateways.values())}",))

    def _arrive(self, eni: Eni, a: Address, src_groups: frozenset[str] | None, b: Address, port: int,
                origin: tuple[str, Subnet | None], path: tuple[str, ...]) -> Result:
        """The packet reaches `eni`'s subnet: its ACL, the interface's groups, then the reply's way back."""
        subnet = self.m.subnets[eni.subnet]
        src_subnet = origin[1]
        same_subnet = src_subnet is not None and src_subnet.id == subnet.id
        if not same_subnet:
            refused = self._acl(subnet, False, a, port)
            if refused:
                return Result(False, refused, subnet.acl.name)
        if not self._sg_allows(eni, True, a, src_groups, port):
            return Result(False, f"security group(s) {self._groups(eni)} of {eni.component} admit no port {port} "
                                 f"from {a}", self._groups(eni))
        if same_subnet:
            return Result(True, path=(*path, f"within {subnet.name}"))
        refused = self._acl_reply(subnet, True, a)
        if refused:
            return Result(False, refused, subnet.acl.name)
        back = self._route(subnet, a)
        wanted = {"eni": "local", INTERNET: "igw", ON_PREM: "vgw"}[origin[0]]
        if back is None or back.kind != wanted:
            went = f"it goes to {self.m.name(back.target)}" if back else "no route"
            return Result(False, f"route table {subnet.table.name} sends replies to {a} elsewhere ({went}), not "
                                 f"back {'over the VPN' if wanted == 'vgw' else 'the way they came'}",
                          subnet.table.name)
        if wanted == "vgw":
            refused = self._vpn_carries(back.target, a)
            if refused:
                return Result(False, refused, self.m.name(back.target))
        if src_subnet is not None:
            refused = self._acl_reply(src_subnet, False, b)
            if refused:
                return Result(False, refused, src_subnet.acl.name)
        return Result(True, path=(*path, eni.component))
