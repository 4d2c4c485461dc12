"""payments-edge: TLS load balancer with legacy/blue/green target groups, WAF and access logs."""

import pulumi_aws as aws

from payments.core.stack import start
from payments.layers.edge.certificate import Certificate, CertificateArgs, alias_record
from payments.layers.edge.load_balancer import HealthCheck, LoadBalancer, LoadBalancerArgs
from payments.layers.edge.settings import EdgeSettings, target_type
from payments.layers.edge.waf import WebAcl, WebAclArgs
from payments.layers.edge.write_pause import write_pause_rule

layer = start("edge")
cfg = layer.config(EdgeSettings)
env, n, opts = layer.env, layer.namer, layer.opts
network = layer.upstream("network")
weights = cfg.weights()

if cfg.certificate_arn is not None:
    certificate_arn = cfg.certificate_arn
else:
    certificate = Certificate(
        "cert",
        CertificateArgs(
            domain_name=cfg.domain_name,
            subject_alternative_names=cfg.subject_alternative_names,
            hosted_zone_id=cfg.hosted_zone_id,
            namer=n,
        ),
        opts=opts,
    )
    certificate_arn = certificate.arn

alb = LoadBalancer(
    "alb",
    LoadBalancerArgs(
        namer=n,
        account_id=layer.account_id,
        vpc_id=network["vpcId"],
        public_subnet_ids=network["publicSubnetIds"],
        security_group_id=network["albSecurityGroupId"],
        elb_account_arn=aws.elb.get_service_account(opts=layer.invoke_opts).arn,
        certificate_arn=certificate_arn,
        tls_policy=cfg.tls_policy,
        target_type=target_type(cfg.compute_mode),
        weights=weights,
        app_port=cfg.app_port,
        legacy_targets=cfg.legacy_targets,
        legacy_port=cfg.legacy_port,
        legacy_protocol=cfg.legacy_protocol,
        on_prem_cidrs=network["onPremCidrs"],
        health=HealthCheck(
            path=cfg.health_check_path,
            interval=cfg.health_check_interval_seconds,
            healthy_threshold=cfg.healthy_threshold,
            unhealthy_threshold=cfg.unhealthy_threshold,
        ),
        deregistration_delay=cfg.deregistration_delay_seconds,
        slow_start=cfg.slow_start_seconds,
        stickiness_seconds=cfg.stickiness_seconds,
        idle_timeout=cfg.idle_timeout_seconds,
        deletion_protection=cfg.deletion_protection,
        access_log_retention_days=cfg.access_log_retention_days,
    ),
    opts=opts,
)
if cfg.domain_name is not None:
    alias_record("dns-alias", cfg.hosted_zone_id, cfg.domain_name, alb.alb, opts)
# Dormant until the database switchover pauses writes with it (payments/layers/edge/write_pause.py).
pause = write_pause_rule("write-pause", alb.https.arn, opts)
acl = WebAcl(
    "waf",
    WebAclArgs(
        namer=n,
        account_id=layer.account_id,
        region=env.region,
        alb_arn=alb.alb.arn,
        logs_key_arn=network["logsKeyArn"],
        rate_limit=cfg.waf_rate_limit,
        log_retention_days=cfg.waf_log_retention_days,
    ),
    opts=opts,
)

layer.export("albArn", alb.alb.arn)
layer.export("albArnSuffix", alb.alb.arn_suffix)
layer.export("albDnsName", alb.alb.dns_name)
layer.export("albZoneId", alb.alb.zone_id)
layer.export("httpsListenerArn", alb.https.arn)
layer.export("httpListenerArn", alb.http.arn)
layer.export("writePauseRuleArn", pause.arn)
layer.export("targetGroupArns", {pool: tg.arn for pool, tg in alb.target_groups.items()})
layer.export("targetGroupArnSuffixes", {pool: tg.arn_suffix for pool, tg in alb.target_groups.items()})
layer.export("initialWeights", weights)
layer.export("appTargetType", target_type(cfg.compute_mode).value)
layer.export("webAclArn", acl.arn)
layer.export("accessLogBucketName", alb.logs.name)
