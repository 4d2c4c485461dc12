"""The flows the platform must allow and those it must refuse, declared once, and their proof over a plan.

Every flow runs from each place its source lives (each subnet of each component, or a network outside the VPC)
to each place its target lives, for every piece of their address ranges on which any route, rule or ACL entry
answers differently, and every port piece likewise. A flow that must work is proven when every such packet and
its reply get through; a flow that must not work is proven refused when none does. A failure names the hop.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from payments.core import config
from payments.core.graph import project_name
from payments.guardrails.engine import Finding, Severity
from payments.layers.network.security_groups import CLOUDFRONT_PREFIX_LIST
from payments.layers.network.settings import AlbIngress, NetworkSettings
from payments.plan import fabricate
from payments.reachability import model as m
from payments.reachability.model import items, mapping
from payments.reachability.walk import INTERNET, ON_PREM, SERVICE, Eni, Place, Walk

RULE = "network-reachability"
PCI = "1.3.1, 1.3.2, 1.4.1"
HTTPS = 443
#: What the verdict cannot see, printed with it.
NOT_MODELLED = (
    "DNS; the on-prem side of the VPN (its routes and firewalls are taken to admit the flows); "
    "whether anything listens on a port; endpoint and bucket policies; IPv6"
)


@dataclasses.dataclass(frozen=True)
class Intent:
    source: str
    target: str
    port: str  #: a key of the environment's ports, or "any" (every port)
    must: bool  #: True: must work; False: must never work
    why: str


#: The intent table: the only place flows are declared.
INTENTS: tuple[Intent, ...] = (
    Intent("clients", "alb", "listener", True, "clients reach the HTTPS listener"),
    Intent("alb", "pool targets", "pool", True, "the ALB reaches every pool's targets, legacy over the VPN"),
    Intent("app", "database", "database", True, "the application uses its database"),
    Intent("app", "on-prem database", "on-prem database", True,
           "single writer: during the application cutover blue/green write to the on-prem MySQL over the VPN"),
    Intent("app", "endpoints", "https", True, "AWS APIs through the interface endpoints"),
    Intent("app", "s3", "https", True, "S3 through the gateway endpoint"),
    Intent("dms", "on-prem database", "on-prem database", True, "DMS reads the source over the VPN"),
    Intent("dms", "database", "database", True, "DMS writes the target"),
    Intent("dms", "endpoints", "https", True, "DMS reads its secrets through the interface endpoints"),
    Intent("dms", "s3", "https", True, "S3 through the gateway endpoint"),
    Intent("internet", "app", "any", False, "the application is reached only through the ALB"),
    Intent("internet", "database", "any", False, "the database is never reachable from the internet"),
    Intent("internet", "dms", "any", False, "DMS is never reachable from the internet"),
    Intent("data subnets", "internet", "any", False, "data subnets have no way to the internet"),
    Intent("alb", "database", "any", False, "only the application and DMS reach the database"),
    Intent("endpoints", "database", "any", False, "only the application and DMS reach the database"),
    Intent("on-prem", "database", "any", False, "only the application and DMS reach the database"),
    Intent("any other interface", "database", "any", False,
           "only the application and DMS reach the database (any other security group, any subnet)"),
)


@dataclasses.dataclass(frozen=True)
class Party:
    """One side of a flow: where it lives, with the addresses it has there; the port it serves, if its own."""

    label: str
    places: tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]], ...]
    port: int | None = None


@dataclasses.dataclass(frozen=True)
class Check:
    intent: Intent
    flow: str  #: "alb -> legacy 172.16.10.11:443"
    status: str  #: proven | refused | violated | not applicable
    detail: str  #: the path, the refusing hop, the hop that drops a must-flow, or why it does not apply
    resource: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "violated"


@dataclasses.dataclass
class Verdict:
    env: str
    checks: list[Check]

    def of(self, status: str) -> list[Check]:
        return [c for c in self.checks if c.status == status]

    def findings(self) -> list[Finding]:
        return [
            Finding(RULE, Severity.MANDATORY.value, PCI, c.resource or c.flow, "", f"{c.flow}: {c.detail}")
            for c in self.checks
            if c.failed
        ]

    def summary(self) -> str:
        return (
            f"reachability {self.env}: {len(self.of('proven'))} flows proven, {len(self.of('refused'))} refused as "
            f"intended, {len(self.of('not applicable'))} not applicable, {len(self.findings())} findings"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "notModelled": NOT_MODELLED,
            "checks": [
                {"flow": c.flow, "must": c.intent.must, "status": c.status, "detail": c.detail} for c in self.checks
            ],
        }


class Environment:
    """The parties and ports of one planned environment, read from its resources and the network's settings."""

    def __init__(self, resources: Sequence[Any], network: NetworkSettings, region: str, net: m.Model,
                 data_subnets: Iterable[str]) -> None:
        self.r = resources
        self.cfg = network
        self.region = region
        self.net = net
        self.data_subnets = [s for s in data_subnets if s in net.subnets]
        self.ports: dict[str, int | None] = {
            "https": HTTPS,
            "listener": next((int(x.inputs["port"]) for x in self._of("aws:lb/listener:Listener")
                              if x.inputs.get("protocol") == "HTTPS"), None),
            "database": next((int(x.inputs.get("port") or 3306) for x in self._of(*DATABASES)), None),
            "on-prem database": network.on_prem_db_port,
        }

    def _of(self, *types: str) -> list[Any]:
        return [x for x in self.r if x.type in types]

    def _enis(self, component: str, subnets: Iterable[Any], groups: Iterable[Any] | None,
              public: bool) -> tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]], ...]:
        chosen = frozenset(str(g) for g in groups) if groups is not None else None
        return tuple(
            (Place("eni", Eni(component, str(s), chosen, public)), (self.net.subnets[str(s)].cidr,))
            for s in dict.fromkeys(subnets)
            if str(s) in self.net.subnets
        )

    # --- parties --------------------------------------------------------------------------------------------

    def parties(self, name: str) -> tuple[list[Party], str]:
        """The parties a name stands for, or none and why."""
        found = getattr(self, "_" + name.replace(" ", "_").replace("-", "_"))()
        return found if isinstance(found, tuple) else (found, "")

    def _alb(self) -> tuple[list[Party], str]:
        lbs = [x for x in self._of("aws:lb/loadBalancer:LoadBalancer") if x.inputs.get("loadBalancerType",
                                                                                  "application") == "application"]
        if not lbs:
            return [], "no load balancer planned (edge layer)"
        places = sum((self._enis("alb", items(x.inputs.get("subnets")), items(x.inputs.get("securityGroups")),
                                 not x.inputs.get("internal")) for x in lbs), ())
        return [Party("alb", places)], ""

    def _app(self) -> tuple[list[Party], str]:
        places = self._app_places()
        return ([Party("app", places)], "") if places else ([], "no application planned (app layer)")

    def _app_places(self, target_group: str | None = None) -> tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]],
                                                                   ...]:
        places: tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]], ...] = ()
        for svc in self._of("aws:ecs/service:Service"):
            if target_group and target_group not in _target_groups(svc):
                continue
            nc = mapping(svc.inputs.get("networkConfiguration"))
            places += self._enis("app", items(nc.get("subnets")), items(nc.get("securityGroups")),
                                 bool(nc.get("assignPublicIp")))
        for asg in self._of("aws:autoscaling/group:Group"):
            if target_group and target_group not in items(asg.inputs.get("targetGroupArns")):
                continue
            for lt in self._of("aws:ec2/launchTemplate:LaunchTemplate"):
                nic = mapping(items(lt.inputs.get("networkInterfaces"))[:1])
                groups = items(nic.get("securityGroups")) or items(lt.inputs.get("vpcSecurityGroupIds"))
                public = str(nic.get("associatePublicIpAddress")).lower() == "true"
                places += self._enis("app", items(asg.inputs.get("vpcZoneIdentifiers")), groups, public)
        return tuple(dict.fromkeys(places))

    def _database(self) -> tuple[list[Party], str]:
        groups = {str(g.inputs.get("name")): items(g.inputs.get("subnetIds"))
                  for g in self._of("aws:rds/subnetGroup:SubnetGroup")}
        places: tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]], ...] = ()
        public = any(x.inputs.get("publiclyAccessible") for x in self._of(*DATABASES, CLUSTER_INSTANCE))
        for db in self._of(*DATABASES):
            places += self._enis("database", groups.get(str(db.inputs.get("dbSubnetGroupName")), []),
                                 items(db.inputs.get("vpcSecurityGroupIds")), public)
        return ([Party("database", places)], "") if places else ([], "no database planned (data layer)")

    def _dms(self) -> tuple[list[Party], str]:
        groups = {str(g.inputs.get("replicationSubnetGroupId")): items(g.inputs.get("subnetIds"))
                  for g in self._of("aws:dms/replicationSubnetGroup:ReplicationSubnetGroup")}
        places: tuple[tuple[Place, tuple[ipaddress.IPv4Network, ...]], ...] = ()
        for ri in self._of("aws:dms/replicationInstance:ReplicationInstance"):
            places += self._enis("dms", groups.get(str(ri.inputs.get("replicationSubnetGroupId")), []),
                                 items(ri.inputs.get("vpcSecurityGroupIds")), bool(ri.inputs.get("publiclyAccessible")))
        return ([Party("dms", places)], "") if places else ([], "DMS is off here (no dmsSourceSecretArn)")

    def _endpoints(self) -> tuple[list[Party], str]:
        found = [
            Party(f"endpoint {str(e.inputs.get('serviceName')).rsplit(self.region + '.', 1)[-1]}",
                  self._enis("endpoint", items(e.inputs.get("subnetIds")), items(e.inputs.get("securityGroupIds")),
                             False))
            for e in self._of(m.VPC_ENDPOINT)
            if e.inputs.get("vpcEndpointType") == "Interface"
        ]
        return found, "" if found else "no interface endpoints planned"

    def _s3(self) -> list[Party]:
        pl_id, entries = fabricate.prefix_list(f"com.amazonaws.{self.region}.s3")
        return [Party("s3", ((Place(SERVICE, prefix_list=pl_id), tuple(ipaddress.IPv4Network(e) for e in entries)),))]

    def _clients(self) -> list[Party]:
        if self.cfg.alb_ingress is AlbIngress.CLOUDFRONT:
            nets = tuple(ipaddress.IPv4Network(e) for e in fabricate.prefix_list(CLOUDFRONT_PREFIX_LIST)[1])
            return [Party("cloudfront", ((Place(INTERNET), nets),))]
        return [Party("clients", ((Place(INTERNET), tuple(self.cfg.alb_client_cidrs)),))]

    def _internet(self) -> list[Party]:
        return [Party("internet", ((Place(INTERNET), tuple(outside(self.net.vpc_cidr, *self.cfg.on_prem_cidrs))),))]

    def _on_prem(self) -> tuple[list[Party], str]:
        if not self.cfg.on_prem_cidrs:
            return [], "no on-prem networks (onPremCidrs)"
        return [Party("on-prem", ((Place(ON_PREM), tuple(self.cfg.on_prem_cidrs)),))], ""

    def _on_prem_database(self) -> tuple[list[Party], str]:
        found, why = self._on_prem()
        return [dataclasses.replace(p, label="on-prem database") for p in found], why

    def _data_subnets(self) -> tuple[list[Party], str]:
        places = tuple((Place("eni", Eni("data subnet", s, None, True)), (self.net.subnets[s].cidr,))
                       for s in self.data_subnets)
        return ([Party("data subnets", places)], "") if places else ([], "no data subnets")

    def _any_other_interface(self) -> list[Party]:
        return [Party("any other interface", tuple(
            (Place("eni", Eni("other interface", s, None, False)), (subnet.cidr,))
            for s, subnet in self.net.subnets.items()
        ))]

    def _pool_targets(self) -> tuple[list[Party], str]:
        pools = [tg for tg in self._of("aws:lb/targetGroup:TargetGroup") if mapping(tg.inputs.get("tags")).get("Pool")]
        if not pools:
            return [], "no target groups planned (edge layer)"
        found: list[Party] = []
        for tg in pools:
            pool, name = tg.inputs["tags"]["Pool"], str(tg.inputs.get("name"))
            before = len(found)
            for att in self._of("aws:lb/targetGroupAttachment:TargetGroupAttachment"):
                if _tg_name(att.inputs.get("targetGroupArn")) != name:
                    continue
                ip = ipaddress.IPv4Network(f"{att.inputs.get('targetId')}/32")
                found.append(Party(f"{pool} {ip.network_address}", ((Place(ON_PREM), (ip,)),),
                                   int(att.inputs.get("port") or tg.inputs.get("port"))))
            for svc in self._of("aws:ecs/service:Service"):
                for lb in map(mapping, items(svc.inputs.get("loadBalancers"))):
                    if _tg_name(lb.get("targetGroupArn")) == name and lb.get("containerPort"):
                        places = self._app_places(lb.get("targetGroupArn"))
                        found.append(Party(f"{pool} (app)", places, int(lb["containerPort"])))
            for asg in self._of("aws:autoscaling/group:Group"):
                arn = next((a for a in items(asg.inputs.get("targetGroupArns")) if _tg_name(a) == name), None)
                if arn:
                    found.append(Party(f"{pool} (app)", self._app_places(arn), int(tg.inputs.get("port"))))
            if len(found) == before:
                found.append(Party(pool, ()))  # no targets here: reported as not applicable
        return found, ""


DATABASES = ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance")
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


def _tg_name(arn: Any) -> str:
    parts = str(arn or "").split("targetgroup/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else ""


def _target_groups(service: Any) -> list[str]:
    return [str(mapping(lb).get("targetGroupArn")) for lb in items(service.inputs.get("loadBalancers"))]


def outside(*inside: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    """0.0.0.0/0 without `inside`: the internet as seen from this VPC."""
    pieces = [m.ANY]
    for net in inside:
        pieces = [rest for piece in pieces for rest in (piece.address_exclude(net) if net.subnet_of(piece)
                                                        else [piece] if not piece.subnet_of(net) else [])]
    return sorted(pieces)


def representatives(
    net: ipaddress.IPv4Network, prefixes: Iterable[ipaddress.IPv4Network]
) -> list[ipaddress.IPv4Address]:
    """One address of every piece of `net` on which every prefix answers the same (in or out)."""
    start, end = int(net.network_address), int(net.broadcast_address)
    edges = {start}
    for p in prefixes:
        for edge in (int(p.network_address), int(p.broadcast_address) + 1):
            if start < edge <= end:
                edges.add(edge)
    return [ipaddress.IPv4Address(e) for e in sorted(edges)]


def port_pieces(model: m.Model) -> list[int]:
    """One port of every piece of 1-65535 on which every rule and ACL entry answers the same."""
    return sorted({1} | {p for p in model.ports() if 1 <= p <= 65535})


def check(env_name: str, resources: Sequence[Any], network_config: dict[str, Any], region: str,
          data_subnets: Iterable[str]) -> Verdict | None:
    """Every intent over one environment's planned resources; None when no VPC is planned."""
    net = m.build(resources)
    if net is None:
        return None
    settings = config.load(NetworkSettings, network_config, where=project_name("network"))
    env = Environment(resources, settings, region, net, data_subnets)
    return Verdict(env_name, [c for intent in INTENTS for c in _checks(env, intent)])


def _checks(env: Environment, intent: Intent) -> Iterator[Check]:
    sources, why_src = env.parties(intent.source)
    targets, why_dst = env.parties(intent.target)
    if not sources or not targets:
        yield Check(intent, f"{intent.source} -> {intent.target}", "not applicable", why_src or why_dst)
        return
    walk = Walk(env.net, strict=intent.must)
    prefixes = env.net.prefixes()
    for src in sources:
        for dst in targets:
            port = dst.port if intent.port == "pool" else env.ports.get(intent.port)
            ports = port_pieces(env.net) if intent.port == "any" else [port] if port is not None else []
            shown = f"{src.label} -> {dst.label}" + (f":{port}" if port is not None and intent.port != "any" else "")
            if not dst.places or not src.places:
                yield Check(intent, shown, "not applicable", f"{(dst if not dst.places else src).label} has no "
                            "targets or interfaces here")
                continue
            if not ports:
                yield Check(intent, shown, "not applicable", f"no {intent.port} port planned")
                continue
            yield _prove(walk, intent, src, dst, ports, prefixes, shown)


def _prove(walk: Walk, intent: Intent, src: Party, dst: Party, ports: list[int],
           prefixes: set[ipaddress.IPv4Network], shown: str) -> Check:
    refusals: dict[str, str] = {}
    passed: tuple[str, ...] = ()
    for src_place, src_nets in src.places:
        for dst_place, dst_nets in dst.places:
            for a in (x for n in src_nets for x in representatives(n, prefixes)):
                for b in (x for n in dst_nets for x in representatives(n, prefixes)):
                    if a == b:
                        continue
                    for port in ports:
                        result = walk.flow(src_place, a, dst_place, b, port)
                        if intent.must and not result.ok:
                            return Check(intent, shown, "violated", result.hop, result.resource)
                        if not intent.must and result.ok:
                            path = " -> ".join(result.path)
                            return Check(intent, shown, "violated", f"reachable: {a} -> {b}:{port} via {path}",
                                         dst.label)
                        if result.ok:
                            passed = passed or result.path
                        else:
                            refusals.setdefault(_kind_of(result.hop), result.hop)
    if intent.must:
        return Check(intent, shown, "proven", " -> ".join(passed))
    hops = list(refusals.values()) or ["no packet leaves"]
    more = f"; and {len(hops) - 2} more" if len(hops) > 2 else ""
    return Check(intent, shown, "refused", "; ".join(hops[:2]) + more)


def _kind_of(hop: str) -> str:
    """A refusal without its addresses and ports: refusals of one kind are shown once."""
    return re.sub(r"\d+\.\d+\.\d+\.\d+|port \d+|subnet-[\w-]+", "_", hop)
