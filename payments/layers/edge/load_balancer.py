"""The public load balancer: access-log bucket, ALB, legacy/blue/green target groups, HTTPS and HTTP listeners.

Traffic between the on-prem pool (``legacy``) and the AWS pools (``blue``,
``green``) moves through the HTTPS listener's weighted forward action, never
through DNS. Pulumi sets the weights once, at creation; from then on they
belong to the cutover state machine (payments-migration), so the listener
ignores later changes to them.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress

import pulumi
import pulumi_aws as aws

from payments.components.buckets import (
    AccessLogs,
    Lifecycle,
    SecureBucket,
    SecureBucketArgs,
    access_log_delivery_statement,
)
from payments.core.errors import ConfigError
from payments.core.naming import Kind, Namer
from payments.layers.edge.settings import POOLS, BackendProtocol, TargetType

lb = aws.lb

#: Where ALB access logs land inside the bucket.
LOG_PREFIX = "alb"
#: The property path of the forward weights inside the HTTPS listener's inputs (Pulumi's camelCase wire names).
#: `[*]` covers legacy, blue and green. Once created, the weights belong to the cutover: a routine `pulumi up`
#: must never move traffic back, so the engine keeps the weights it finds in state for this path.
WEIGHTS_PATH = "defaultActions[0].forward.targetGroups[*].weight"
#: Used when stickiness is off: ALB reports this duration anyway, so setting it avoids a phantom diff on refresh.
DEFAULT_STICKINESS_SECONDS = 3600


@dataclasses.dataclass
class HealthCheck:
    path: str
    interval: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclasses.dataclass
class LoadBalancerArgs:
    namer: Namer
    account_id: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    #: the regional ELB log-delivery principal (aws.elb.get_service_account)
    elb_account_arn: str
    certificate_arn: pulumi.Input[str]
    tls_policy: str
    target_type: TargetType
    weights: dict[str, int]
    app_port: int
    legacy_targets: tuple[ipaddress.IPv4Address, ...]
    legacy_port: int
    legacy_protocol: BackendProtocol
    #: on-prem networks from the network layer: legacy targets must sit inside them (the ALB's egress rules)
    on_prem_cidrs: pulumi.Input[list[str]]
    health: HealthCheck
    deregistration_delay: int
    slow_start: int
    stickiness_seconds: int
    idle_timeout: int
    deletion_protection: bool
    access_log_retention_days: int


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:edge:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer

        # ALB access logs accept SSE-S3 only; the bucket policy lets exactly the regional ELB account write,
        # and only under this account's log prefix. Reads of those logs are audited too (PCI DSS 10.2.1): the bucket
        # writes S3 server access logs into a second bucket (SSE-S3 as well, the only encryption S3 log delivery
        # accepts; a log target has no access logging of its own, as AWS advises).
        bucket_name = n.bucket("alb-logs", args.account_id)
        audit_name = n.bucket("alb-logs-access", args.account_id)
        self.logs_access = SecureBucket(
            f"{name}-logs-access",
            SecureBucketArgs(
                bucket_name=audit_name,
                kms_key_arn=None,
                lifecycle=Lifecycle(expire_days=args.access_log_retention_days),
                policy_statements=[
                    access_log_delivery_statement(
                        "S3ServerAccessLogs", audit_name, f"{LOG_PREFIX}/", bucket_name, args.account_id
                    )
                ],
            ),
            opts=child,
        )
        self.logs = SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=None,
                lifecycle=Lifecycle(expire_days=args.access_log_retention_days),
                policy_statements=[
                    {
                        "Sid": "ElbLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"AWS": args.elb_account_arn},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket_name}/{LOG_PREFIX}/AWSLogs/{args.account_id}/*",
                    }
                ],
                access_logs=AccessLogs(target=self.logs_access, prefix=f"{LOG_PREFIX}/"),
            ),
            opts=child,
        )

        self.alb = lb.LoadBalancer(
            name,
            name=n("alb", Kind.LOAD_BALANCER),
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[args.security_group_id],
            drop_invalid_header_fields=True,
            enable_waf_fail_open=False,
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=args.idle_timeout,
            access_logs=lb.LoadBalancerAccessLogsArgs(bucket=self.logs.name, prefix=LOG_PREFIX, enabled=True),
            # AWS checks it may write to the bucket when logging is switched on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.logs.policy]),
        )

        self.target_groups: dict[str, lb.TargetGroup] = {}
        for pool in POOLS:
            legacy = pool == "legacy"
            protocol = args.legacy_protocol.value if legacy else "HTTP"
            self.target_groups[pool] = lb.TargetGroup(
                f"{name}-{pool}",
                name=n(f"tg-{pool}", Kind.TARGET_GROUP),
                vpc_id=args.vpc_id,
                target_type=TargetType.IP.value if legacy else args.target_type.value,
                port=args.legacy_port if legacy else args.app_port,
                protocol=protocol,
                deregistration_delay=args.deregistration_delay,
                slow_start=args.slow_start,
                health_check=lb.TargetGroupHealthCheckArgs(
                    enabled=True,
                    path=args.health.path,
                    protocol=protocol,
                    port="traffic-port",
                    matcher="200",
                    interval=args.health.interval,
                    timeout=min(5, args.health.interval - 1),
                    healthy_threshold=args.health.healthy_threshold,
                    unhealthy_threshold=args.health.unhealthy_threshold,
                ),
                tags={"Pool": pool},
                opts=child,
            )

        # The on-prem servers live outside the VPC: IP targets there need availability_zone "all".
        for i, ip in enumerate(args.legacy_targets):
            lb.TargetGroupAttachment(
                f"{name}-legacy-{i}",
                target_group_arn=self.target_groups["legacy"].arn,
                target_id=pulumi.Output.from_input(args.on_prem_cidrs).apply(
                    functools.partial(_reachable, ip, i)
                ),
                port=args.legacy_port,
                availability_zone="all",
                opts=child,
            )

        sticky = args.stickiness_seconds > 0
        self.https = lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=args.tls_policy,
            certificate_arn=args.certificate_arn,
            routing_http_response_strict_transport_security_header_value="max-age=31536000",
            routing_http_response_x_content_type_options_header_value="nosniff",
            routing_http_response_server_enabled=False,
            default_actions=[
                lb.ListenerDefaultActionArgs(
                    type="forward",
                    forward=lb.ListenerDefaultActionForwardArgs(
                        target_groups=[
                            lb.ListenerDefaultActionForwardTargetGroupArgs(arn=tg.arn, weight=args.weights[pool])
                            for pool, tg in self.target_groups.items()
                        ],
                        stickiness=lb.ListenerDefaultActionForwardStickinessArgs(
                            enabled=sticky,
                            duration=args.stickiness_seconds if sticky else DEFAULT_STICKINESS_SECONDS,
                        ),
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=[WEIGHTS_PATH]),
        )
        # Port 80 exists only to send clients to HTTPS; it never forwards.
        self.http = lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
                )
            ],
            opts=child,
        )
        self.register_outputs({"albArn": self.alb.arn, "httpsListenerArn": self.https.arn})


def _reachable(ip: ipaddress.IPv4Address, index: int, cidrs: list[str]) -> str:
    """The target address, if the network layer routes and allows it (over the VPN); a config error otherwise."""
    if not any(ip in ipaddress.IPv4Network(c) for c in cidrs or []):
        raise ConfigError(
            f"payments-edge:legacyTargets[{index}]",
            f"{ip} is outside the on-prem networks the VPC routes to ({', '.join(cidrs or []) or 'none'})",
            "list a server inside payments-network:onPremCidrs, or add its network there",
        )
    return str(ip)
