"""The planned network, as a packet meets it: subnets with their route table and network ACL, security groups,
gateways and the VPN's routes. Built from planned resources (type token + camelCase inputs + id), so it reads the
offline plan and a real preview alike.

What AWS does that the model follows (VPC User Guide):
- routes: longest prefix match; among equal prefixes the local route, then static routes, then prefix-list routes
  (gateway endpoints), then routes propagated from a virtual private gateway;
- a subnet without an explicit association uses the VPC's main route table (local route only unless managed) and
  the VPC's default network ACL (allows everything unless managed);
- network ACLs are stateless: entries in rule-number order, the first match decides, the implicit ``*`` entry
  denies; replies are checked again on the way back;
- security groups are stateful (replies pass) and allow only what a rule names: a CIDR, another security group
  (an interface that carries it) or a prefix list. pulumi-aws removes the default allow-all egress rule AWS adds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from payments.plan import fabricate

Network = ipaddress.IPv4Network
ANY = ipaddress.IPv4Network("0.0.0.0/0")
ALL_PORTS = (0, 65535)
#: Route preference among routes to the same prefix (lower wins).
LOCAL, STATIC, PREFIX_LIST, PROPAGATED = 0, 1, 2, 3

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
DEFAULT_ROUTE_TABLE = "aws:ec2/defaultRouteTable:DefaultRouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
MAIN_ROUTE_TABLE_ASSOCIATION = "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
INTERNET_GATEWAY_ATTACHMENT = "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
VPN_GATEWAY = "aws:ec2/vpnGateway:VpnGateway"
VPN_GATEWAY_ATTACHMENT = "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment"
VPN_GATEWAY_PROPAGATION = "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation"
VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
VPN_CONNECTION_ROUTE = "aws:ec2/vpnConnectionRoute:VpnConnectionRoute"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
VPC_ENDPOINT_ROUTE_TABLE = "aws:ec2/vpcEndpointRouteTableAssociation:VpcEndpointRouteTableAssociation"
NETWORK_ACL = "aws:ec2/networkAcl:NetworkAcl"
DEFAULT_NETWORK_ACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
NETWORK_ACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
NETWORK_ACL_ASSOCIATION = "aws:ec2/networkAclAssociation:NetworkAclAssociation"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
#: Route inputs naming the target, and the kind of hop each leads to.
TARGETS = (
    ("gatewayId", None),  # an internet or a virtual private gateway, or "local": told apart by id
    ("natGatewayId", "nat"),
    ("vpcEndpointId", "vpce"),
    ("transitGatewayId", "other"),
    ("vpcPeeringConnectionId", "other"),
    ("networkInterfaceId", "other"),
    ("carrierGatewayId", "other"),
    ("localGatewayId", "other"),
    ("coreNetworkArn", "other"),
)


def protocol(value: Any) -> str:
    """``all``, ``tcp`` or the protocol as written (the flows here are TCP)."""
    text = str(value).lower()
    return {"-1": "all", "all": "all", "6": "tcp", "tcp": "tcp"}.get(text, text)


def ports_of(inputs: Mapping[str, Any], low: str = "fromPort", high: str = "toPort") -> tuple[int, int]:
    lo, hi = inputs.get(low), inputs.get(high)
    if lo is None or hi is None or int(lo) < 0:
        return ALL_PORTS  # ICMP's -1, or no ports: the rule does not narrow ports
    return int(lo), int(hi)


def items(value: Any) -> list[Any]:
    """A list input, or none: a value the plan could not know (a secret, an unknown output) names nothing."""
    return [v for v in value if v is not None] if isinstance(value, list) else []


def mapping(value: Any) -> dict[str, Any]:
    """A block input as a map ("[secret]" or unknown: empty); the bridge may wrap a single block in a list."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, dict) else {}


def _net(value: Any) -> Network | None:
    try:
        return ipaddress.IPv4Network(str(value)) if value else None
    except ValueError:
        return None


def label(resource: Any) -> str:
    """How messages name a resource: its Name tag (as AWS's console shows it), else its logical name."""
    tags = mapping(resource.inputs.get("tags"))
    return str(tags.get("Name") or resource.inputs.get("name") or resource.name)


@dataclasses.dataclass(frozen=True)
class Route:
    destination: Network
    target: str  #: the target's id, or "local"
    kind: str  #: local | igw | vgw | nat | vpce | other
    preference: int
    prefix_list: str | None = None  #: when the route came from a prefix list (gateway endpoint)

    @property
    def shown(self) -> str:
        return f"{self.prefix_list} ({self.destination})" if self.prefix_list else str(self.destination)


@dataclasses.dataclass
class RouteTable:
    id: str
    name: str
    routes: list[Route] = dataclasses.field(default_factory=list)

    def lookup(self, ip: ipaddress.IPv4Address) -> Route | None:
        """The route AWS picks for `ip`: longest prefix, then preference."""
        matching = [r for r in self.routes if ip in r.destination]
        return min(matching, key=lambda r: (-r.destination.prefixlen, r.preference), default=None)


@dataclasses.dataclass(frozen=True)
class AclEntry:
    number: int
    egress: bool
    protocol: str
    allow: bool
    cidr: Network
    ports: tuple[int, int]

    def matches(self, ip: ipaddress.IPv4Address, port: int) -> bool:
        if self.protocol not in ("all", "tcp") or ip not in self.cidr:
            return False
        return self.protocol == "all" or self.ports[0] <= port <= self.ports[1]


@dataclasses.dataclass
class NetworkAcl:
    id: str
    name: str
    entries: list[AclEntry] = dataclasses.field(default_factory=list)

    def decide(self, egress: bool, ip: ipaddress.IPv4Address, port: int) -> tuple[bool, str]:
        """(allowed, the entry that decided: "rule 100" or "the default * rule"); first match in number order."""
        for entry in sorted((e for e in self.entries if e.egress == egress), key=lambda e: e.number):
            if entry.matches(ip, port):
                return entry.allow, f"rule {entry.number}"
        return False, "the default * rule"


#: The VPC's default network ACL while no program manages it: rule 100 allows everything both ways.
def open_acl(acl_id: str = "default", name: str = "default network ACL") -> NetworkAcl:
    return NetworkAcl(acl_id, name, [AclEntry(100, e, "all", True, ANY, ALL_PORTS) for e in (False, True)])


@dataclasses.dataclass(frozen=True)
class SgRule:
    ingress: bool
    protocol: str
    ports: tuple[int, int]
    cidr: Network | None = None
    group: str | None = None
    prefix_list: str | None = None

    def covers(self, port: int) -> bool:
        return self.protocol == "all" or (self.protocol == "tcp" and self.ports[0] <= port <= self.ports[1])


@dataclasses.dataclass
class SecurityGroup:
    id: str
    name: str
    rules: list[SgRule] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    cidr: Network
    table: RouteTable
    acl: NetworkAcl


@dataclasses.dataclass(frozen=True)
class NatGateway:
    id: str
    name: str
    subnet: str
    public: bool
    has_address: bool  #: a public NAT gateway needs an Elastic IP (allocationId)


@dataclasses.dataclass
class Model:
    """The planned network of one VPC (the first planned; the platform builds one per environment)."""

    vpc_cidr: Network
    subnets: dict[str, Subnet]
    groups: dict[str, SecurityGroup]
    nat_gateways: dict[str, NatGateway]
    internet_gateways: dict[str, str]  #: id -> name, attached to the VPC
    vpn_gateways: dict[str, str]  #: id -> name, attached to the VPC
    #: VPN gateway id -> the networks its VPN connections send over the tunnels (None: learned by BGP at run time)
    vpn_routes: dict[str, list[Network] | None]
    prefix_lists: dict[str, list[Network]]
    names: dict[str, str]  #: any id -> how messages name it

    def name(self, ident: str) -> str:
        return self.names.get(ident, ident)

    def prefixes(self) -> set[Network]:
        """Every prefix any route, rule or entry names: where an answer can change inside an address range."""
        found = {self.vpc_cidr, *(s.cidr for s in self.subnets.values())}
        for s in self.subnets.values():
            found |= {r.destination for r in s.table.routes} | {e.cidr for e in s.acl.entries}
        for g in self.groups.values():
            found |= {r.cidr for r in g.rules if r.cidr is not None}
        for nets in [*self.prefix_lists.values(), *(v for v in self.vpn_routes.values() if v)]:
            found |= set(nets)
        return found

    def ports(self) -> set[int]:
        """Every port where a rule or an entry starts or stops applying."""
        edges: set[int] = set()
        ranges = [r.ports for g in self.groups.values() for r in g.rules]
        ranges += [e.ports for s in self.subnets.values() for e in s.acl.entries]
        for lo, hi in ranges:
            edges |= {lo, hi + 1}
        return edges


class _Index:
    """Planned resources by type, and a resolver from any id to its resource."""

    def __init__(self, resources: Iterable[Any]) -> None:
        self.resources = list(resources)
        self.by_type: dict[str, list[Any]] = {}
        for r in self.resources:
            self.by_type.setdefault(r.type, []).append(r)

    def of(self, *types: str) -> list[Any]:
        return [r for t in types for r in self.by_type.get(t, [])]


def build(resources: Iterable[Any], prefix_lists: Mapping[str, Iterable[str]] | None = None) -> Model | None:
    """The network of the first VPC among `resources`, or None when none is planned.

    `prefix_lists` maps prefix-list ids to their entries (default: the planner's managed lists).
    """
    index = _Index(resources)
    vpcs = index.of(VPC)
    if not vpcs:
        return None
    vpc = vpcs[0]
    lists = {
        pl_id: [ipaddress.IPv4Network(c) for c in entries]
        for pl_id, entries in (prefix_lists or {i: e for i, e in fabricate.PREFIX_LISTS.values()}).items()
    }
    names = {r.id: label(r) for r in index.resources if r.id}
    igws = {r.id: label(r) for r in index.of(INTERNET_GATEWAY) if r.inputs.get("vpcId") == vpc.id}
    igws |= {
        a.inputs["internetGatewayId"]: names.get(a.inputs["internetGatewayId"], a.inputs["internetGatewayId"])
        for a in index.of(INTERNET_GATEWAY_ATTACHMENT)
        if a.inputs.get("vpcId") == vpc.id and a.inputs.get("internetGatewayId")
    }
    vgws = {r.id: label(r) for r in index.of(VPN_GATEWAY) if r.inputs.get("vpcId") == vpc.id}
    vgws |= {
        a.inputs["vpnGatewayId"]: names.get(a.inputs["vpnGatewayId"], a.inputs["vpnGatewayId"])
        for a in index.of(VPN_GATEWAY_ATTACHMENT)
        if a.inputs.get("vpcId") == vpc.id and a.inputs.get("vpnGatewayId")
    }
    vpn_routes = _vpn_routes(index, vgws)
    nats = {
        r.id: NatGateway(
            r.id,
            label(r),
            str(r.inputs.get("subnetId")),
            r.inputs.get("connectivityType", "public") == "public",
            bool(r.inputs.get("allocationId")),
        )
        for r in index.of(NAT_GATEWAY)
    }
    tables = _route_tables(index, vpc, igws, vgws, nats, vpn_routes, lists)
    acls = _network_acls(index, vpc)
    subnets = {}
    main_table = tables.get("main") or RouteTable("main", "main route table", [_local(vpc)])
    table_of = {a.inputs.get("subnetId"): a.inputs.get("routeTableId") for a in index.of(ROUTE_TABLE_ASSOCIATION)}
    acl_of = _acl_associations(index)
    for s in index.of(SUBNET):
        if s.inputs.get("vpcId") != vpc.id or _net(s.inputs.get("cidrBlock")) is None:
            continue
        table = tables.get(table_of.get(s.id, ""), main_table)
        acl = acls.get(acl_of.get(s.id, ""), acls.get("default") or open_acl())
        subnets[s.id] = Subnet(s.id, label(s), ipaddress.IPv4Network(s.inputs["cidrBlock"]), table, acl)
    return Model(
        vpc_cidr=ipaddress.IPv4Network(vpc.inputs["cidrBlock"]),
        subnets=subnets,
        groups=_security_groups(index, vpc),
        nat_gateways=nats,
        internet_gateways=igws,
        vpn_gateways=vgws,
        vpn_routes=vpn_routes,
        prefix_lists=lists,
        names=names,
    )


def _local(vpc: Any) -> Route:
    return Route(ipaddress.IPv4Network(vpc.inputs["cidrBlock"]), "local", "local", LOCAL)


def _vpn_routes(index: _Index, vgws: Mapping[str, str]) -> dict[str, list[Network] | None]:
    routes: dict[str, list[Network] | None] = {vgw: [] for vgw in vgws}
    static = {}
    for c in index.of(VPN_CONNECTION):
        vgw = c.inputs.get("vpnGatewayId")
        if vgw not in routes:
            continue
        if c.inputs.get("staticRoutesOnly"):
            static[c.id] = vgw
        else:
            routes[vgw] = None  # BGP: what on-prem advertises is learned at run time
    for r in index.of(VPN_CONNECTION_ROUTE):
        vgw = static.get(r.inputs.get("vpnConnectionId"))
        dest = _net(r.inputs.get("destinationCidrBlock"))
        if vgw is not None and dest is not None and routes[vgw] is not None:
            routes[vgw].append(dest)  # type: ignore[union-attr]
    return routes


def _target(
    inputs: Mapping[str, Any], igws: Mapping[str, str], vgws: Mapping[str, str], nats: Mapping[str, NatGateway]
) -> tuple[str, str] | None:
    for key, kind in TARGETS:
        value = inputs.get(key)
        if not value:
            continue
        value = str(value)
        if kind is not None:
            return value, "nat" if kind == "nat" and value in nats else kind
        if value == "local":
            return value, "local"
        if value in igws or value.startswith("igw-"):
            return value, "igw"
        if value in vgws or value.startswith("vgw-"):
            return value, "vgw"
        return value, "other"
    return None


def _route_tables(
    index: _Index,
    vpc: Any,
    igws: Mapping[str, str],
    vgws: Mapping[str, str],
    nats: Mapping[str, NatGateway],
    vpn_routes: Mapping[str, list[Network] | None],
    lists: Mapping[str, list[Network]],
) -> dict[str, RouteTable]:
    tables: dict[str, RouteTable] = {}
    for r in index.of(ROUTE_TABLE):
        if r.inputs.get("vpcId") == vpc.id:
            tables[r.id] = RouteTable(r.id, label(r), [_local(vpc)])
    for r in index.of(DEFAULT_ROUTE_TABLE):
        tables[str(r.inputs.get("defaultRouteTableId"))] = RouteTable(r.id, label(r), [_local(vpc)])
        tables["main"] = tables[str(r.inputs.get("defaultRouteTableId"))]
    for a in index.of(MAIN_ROUTE_TABLE_ASSOCIATION):
        if a.inputs.get("vpcId") == vpc.id and a.inputs.get("routeTableId") in tables:
            tables["main"] = tables[a.inputs["routeTableId"]]

    def add(table_id: Any, inputs: Mapping[str, Any], cidr_key: str, list_key: str) -> None:
        table, target = tables.get(str(table_id)), _target(inputs, igws, vgws, nats)
        if table is None or target is None:
            return
        dest, pl = _net(inputs.get(cidr_key)), inputs.get(list_key)
        if dest is not None:
            table.routes.append(Route(dest, *target, STATIC))
        for entry in lists.get(str(pl), []) if pl else []:
            table.routes.append(Route(entry, *target, PREFIX_LIST, str(pl)))

    for r in index.of(ROUTE):
        add(r.inputs.get("routeTableId"), r.inputs, "destinationCidrBlock", "destinationPrefixListId")
    for r in index.of(ROUTE_TABLE, DEFAULT_ROUTE_TABLE):
        table_id = r.id if r.type == ROUTE_TABLE else r.inputs.get("defaultRouteTableId")
        for route in items(r.inputs.get("routes")):
            add(table_id, route, "cidrBlock", "destinationPrefixListId")
        for vgw in items(r.inputs.get("propagatingVgws")):
            _propagate(tables.get(str(table_id)), str(vgw), vpn_routes)
    for p in index.of(VPN_GATEWAY_PROPAGATION):
        _propagate(tables.get(str(p.inputs.get("routeTableId"))), str(p.inputs.get("vpnGatewayId")), vpn_routes)
    # A gateway endpoint adds a route to its service's prefix list in each table it is associated with.
    gateway_tables: dict[str, set[str]] = {}
    services: dict[str, str] = {}
    for e in index.of(VPC_ENDPOINT):
        if e.inputs.get("vpcEndpointType") == "Gateway" and e.inputs.get("vpcId") == vpc.id:
            services[e.id] = fabricate.prefix_list(str(e.inputs.get("serviceName")))[0]
            gateway_tables.setdefault(e.id, set()).update(str(t) for t in items(e.inputs.get("routeTableIds")))
    for a in index.of(VPC_ENDPOINT_ROUTE_TABLE):
        gateway_tables.setdefault(str(a.inputs.get("vpcEndpointId")), set()).add(str(a.inputs.get("routeTableId")))
    for endpoint, table_ids in gateway_tables.items():
        pl = services.get(endpoint)
        for table_id in table_ids:
            if pl is not None and table_id in tables:
                tables[table_id].routes += [Route(e, endpoint, "vpce", PREFIX_LIST, pl) for e in lists.get(pl, [])]
    return tables


def _propagate(table: RouteTable | None, vgw: str, vpn_routes: Mapping[str, list[Network] | None]) -> None:
    if table is None or vgw not in vpn_routes:
        return
    table.routes += [Route(dest, vgw, "vgw", PROPAGATED) for dest in vpn_routes[vgw] or []]


def _acl_entry(inputs: Mapping[str, Any], egress: bool, number_key: str, action_key: str) -> AclEntry | None:
    cidr = _net(inputs.get("cidrBlock"))
    if cidr is None or inputs.get(number_key) is None:
        return None  # IPv6 entries: the flows here are IPv4
    return AclEntry(
        int(inputs[number_key]),
        egress,
        protocol(inputs.get("protocol")),
        str(inputs.get(action_key)).lower() == "allow",
        cidr,
        ports_of(inputs),
    )


def _network_acls(index: _Index, vpc: Any) -> dict[str, NetworkAcl]:
    acls: dict[str, NetworkAcl] = {}
    for r in index.of(NETWORK_ACL, DEFAULT_NETWORK_ACL):
        if r.type == NETWORK_ACL and r.inputs.get("vpcId") != vpc.id:
            continue
        acl = NetworkAcl(r.id, label(r))
        for key, egress in (("ingress", False), ("egress", True)):
            for block in items(r.inputs.get(key)):
                entry = _acl_entry(block, egress, "ruleNo", "action")
                if entry is not None:
                    acl.entries.append(entry)
        acls[r.id] = acl
        if r.type == DEFAULT_NETWORK_ACL:
            acls["default"] = acl
    for r in index.of(NETWORK_ACL_RULE):
        owner = acls.get(str(r.inputs.get("networkAclId")))
        entry = _acl_entry(r.inputs, bool(r.inputs.get("egress")), "ruleNumber", "ruleAction")
        if owner is not None and entry is not None:
            owner.entries.append(entry)
    return acls


def _acl_associations(index: _Index) -> dict[str, str]:
    acl_of: dict[str, str] = {}
    for r in index.of(NETWORK_ACL, DEFAULT_NETWORK_ACL):
        for subnet in items(r.inputs.get("subnetIds")):
            acl_of[str(subnet)] = r.id
    for a in index.of(NETWORK_ACL_ASSOCIATION):
        acl_of[str(a.inputs.get("subnetId"))] = str(a.inputs.get("networkAclId"))
    return acl_of


def _security_groups(index: _Index, vpc: Any) -> dict[str, SecurityGroup]:
    groups = {
        r.id: SecurityGroup(r.id, str(r.inputs.get("name") or label(r)))
        for r in index.of(SECURITY_GROUP, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
        if r.inputs.get("vpcId") == vpc.id
    }
    for r in index.of(SECURITY_GROUP, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
        for key, ingress in (("ingress", True), ("egress", False)):
            for block in items(r.inputs.get(key)):
                _add_block(groups.get(r.id), ingress, block, r.id)
    for r in index.of(INGRESS_RULE, EGRESS_RULE):
        group = groups.get(str(r.inputs.get("securityGroupId")))
        if group is not None:
            group.rules.append(
                SgRule(
                    r.type == INGRESS_RULE,
                    protocol(r.inputs.get("ipProtocol")),
                    ports_of(r.inputs),
                    _net(r.inputs.get("cidrIpv4")),
                    r.inputs.get("referencedSecurityGroupId"),
                    r.inputs.get("prefixListId"),
                )
            )
    for r in index.of(SECURITY_GROUP_RULE):
        block = {
            "protocol": r.inputs.get("protocol"),
            "fromPort": r.inputs.get("fromPort"),
            "toPort": r.inputs.get("toPort"),
            "cidrBlocks": r.inputs.get("cidrBlocks"),
            "securityGroups": [r.inputs["sourceSecurityGroupId"]] if r.inputs.get("sourceSecurityGroupId") else [],
            "prefixListIds": r.inputs.get("prefixListIds"),
            "self": r.inputs.get("self"),
        }
        group_id = str(r.inputs.get("securityGroupId"))
        _add_block(groups.get(group_id), r.inputs.get("type") == "ingress", block, group_id)
    return groups


def _add_block(group: SecurityGroup | None, ingress: bool, block: Mapping[str, Any], own_id: str) -> None:
    """An inline (or legacy-rule) block: one rule per CIDR, group and prefix list it names."""
    if group is None:
        return
    proto, ports = protocol(block.get("protocol")), ports_of(block)
    rules = [SgRule(ingress, proto, ports, cidr=net) for net in map(_net, items(block.get("cidrBlocks"))) if net]
    groups = [*(items(block.get("securityGroups"))), *([own_id] if block.get("self") else [])]
    rules += [SgRule(ingress, proto, ports, group=str(g)) for g in groups]
    rules += [SgRule(ingress, proto, ports, prefix_list=str(p)) for p in items(block.get("prefixListIds"))]
    group.rules += rules
