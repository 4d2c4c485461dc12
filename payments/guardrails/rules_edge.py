"""Edge rules: TLS on every listener, HTTP only redirects, WAF in front, ALB hardening and access logs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from payments.guardrails.engine import Resource, rule, stack_rule
from payments.layers.edge.settings import TlsPolicy

LISTENER = "aws:lb/listener:Listener"
LISTENER_CERTIFICATE = "aws:lb/listenerCertificate:ListenerCertificate"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
TLS12_POLICIES = frozenset(p.value for p in TlsPolicy)
#: An ACM certificate (rotated by ACM), not an IAM server certificate uploaded by hand.
ACM_ARN = re.compile(r"^arn:aws(-[a-z]+)*:acm:")


def _public_albs(resources: list[Resource]) -> list[Resource]:
    return [
        r
        for r in resources
        if r.type == LOAD_BALANCER
        and r.inputs.get("loadBalancerType", "application") == "application"
        and not r.inputs.get("internal")
    ]


def _names(resource: Resource) -> list[str]:
    """Strings that identify `resource` inside another resource's ARN input (name and id)."""
    return [v for v in (resource.inputs.get("name"), resource.id) if isinstance(v, str) and v]


@rule(
    "listener-tls12",
    pci="4.2.1",
    types=[LISTENER, LISTENER_CERTIFICATE],
    description="HTTPS/TLS listeners use a TLS 1.2+ security policy and ACM certificates (arn:aws:acm:)",
)
def listener_tls12(r: Resource) -> Iterator[str]:
    if r.type == LISTENER_CERTIFICATE:
        yield from _acm_certificate(r.inputs.get("certificateArn"))
        return
    if r.inputs.get("protocol") not in ("HTTPS", "TLS"):
        return
    policy = r.inputs.get("sslPolicy")
    if policy not in TLS12_POLICIES:
        yield f"sslPolicy {policy!r} allows protocols older than TLS 1.2 (the API default is ELBSecurityPolicy-2016-08)"
    yield from _acm_certificate(r.inputs.get("certificateArn"))


def _acm_certificate(arn: object) -> Iterator[str]:
    if not arn:
        yield "no certificateArn"
    elif not isinstance(arn, str) or not ACM_ARN.match(arn):
        yield f"certificateArn {arn!r} is not an ACM certificate (arn:aws:acm:...); ACM renews and guards the key"


@rule(
    "http-listener-redirects",
    pci="4.2.1",
    types=[LISTENER],
    description="Plain-HTTP listeners only redirect to HTTPS, never forward",
)
def http_listener_redirects(r: Resource) -> Iterator[str]:
    if r.inputs.get("protocol") != "HTTP":
        return
    actions = r.inputs.get("defaultActions") or []
    if not actions:
        yield "HTTP listener without a default action"
    for action in actions:
        redirect = action.get("redirect") or {}
        if action.get("type") != "redirect" or redirect.get("protocol") != "HTTPS":
            yield f"HTTP listener action {action.get('type')!r} serves traffic in clear text; redirect to HTTPS"


@rule(
    "alb-access-logs",
    pci="10.2.1",
    types=[LOAD_BALANCER],
    description="Application load balancers write access logs to S3",
)
def alb_access_logs(r: Resource) -> Iterator[str]:
    if r.inputs.get("loadBalancerType", "application") != "application":
        return
    logs = r.get("accessLogs") or {}
    if logs.get("enabled") is not True or not logs.get("bucket"):
        yield "access logs are off (accessLogs.enabled defaults to false)"


@rule(
    "alb-drops-invalid-headers",
    pci="6.2.4",
    types=[LOAD_BALANCER],
    description="Application load balancers drop HTTP headers with invalid names (request smuggling defence)",
)
def alb_drops_invalid_headers(r: Resource) -> Iterator[str]:
    if (
        r.inputs.get("loadBalancerType", "application") == "application"
        and r.inputs.get("dropInvalidHeaderFields") is not True
    ):
        yield "dropInvalidHeaderFields is not true"


@stack_rule(
    "waf-on-public-alb",
    pci="6.4.2",
    description="Every internet-facing application load balancer has a WAFv2 web ACL associated",
)
def waf_on_public_alb(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    associations = [r for r in resources if r.type == WEB_ACL_ASSOCIATION]
    albs = _public_albs(resources)
    for alb in albs:
        arns = [str(a.inputs.get("resourceArn") or "") for a in associations]
        if any(f"/{name}/" in arn or arn.endswith(f"/{name}") for arn in arns for name in _names(alb)):
            continue
        if any(not arn for arn in arns) and len(associations) >= len(albs):  # ARNs unknown during a real preview
            continue
        yield alb.name, "internet-facing load balancer without a WAFv2 web ACL association"


@stack_rule("waf-logging", pci="10.2.1", description="Every WAFv2 web ACL logs its decisions")
def waf_logging(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    configs = [r for r in resources if r.type == WEB_ACL_LOGGING]
    acls = [r for r in resources if r.type == WEB_ACL]
    for acl in acls:
        arns = [str(c.inputs.get("resourceArn") or "") for c in configs]
        if any(f"/{name}/" in arn for arn in arns for name in _names(acl)):
            continue
        if any(not arn for arn in arns) and len(configs) >= len(acls):
            continue
        yield acl.name, "web ACL without a logging configuration"
