"""WAFv2 web ACL in front of the load balancer (PCI DSS 6.4.2), logging to an encrypted, year-long log group."""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from payments.components import iam
from payments.components.logs import log_group
from payments.core.naming import Kind, Namer

waf = aws.wafv2

#: AWS managed rule groups, in evaluation order after the rate limit.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",  #: known bad IPs (bots, reconnaissance)
    "AWSManagedRulesCommonRuleSet",  #: OWASP top-10 style protections
    "AWSManagedRulesKnownBadInputsRuleSet",  #: exploit patterns (Log4j, ...)
    "AWSManagedRulesSQLiRuleSet",  #: SQL injection
)
#: Headers that carry credentials or session ids: never written to WAF logs (PCI DSS 3.3, 8.3.2).
REDACTED_HEADERS = ("authorization", "cookie")
#: WAF only delivers to CloudWatch log groups whose name starts with this.
LOG_GROUP_PREFIX = "aws-waf-logs-"


@dataclasses.dataclass
class WebAclArgs:
    namer: Namer
    account_id: str
    region: str
    alb_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    rate_limit: int
    log_retention_days: int


def _visibility(metric: str) -> waf.WebAclRuleVisibilityConfigArgs:
    return waf.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


class WebAcl(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:edge:WebAcl", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        rules = [
            waf.WebAclRuleArgs(
                name="rate-limit-per-ip",
                priority=0,
                action=waf.WebAclRuleActionArgs(block=waf.WebAclRuleActionBlockArgs()),
                statement=waf.WebAclRuleStatementArgs(
                    rate_based_statement=waf.WebAclRuleStatementRateBasedStatementArgs(
                        aggregate_key_type="IP", limit=args.rate_limit, evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("rate-limit-per-ip"),
            )
        ]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
            rules.append(
                waf.WebAclRuleArgs(
                    name=group,
                    priority=priority,
                    override_action=waf.WebAclRuleOverrideActionArgs(none=waf.WebAclRuleOverrideActionNoneArgs()),
                    statement=waf.WebAclRuleStatementArgs(
                        managed_rule_group_statement=waf.WebAclRuleStatementManagedRuleGroupStatementArgs(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=_visibility(group),
                )
            )
        acl_name = n("waf-alb", Kind.WAF)
        self.acl = waf.WebAcl(
            name,
            name=acl_name,
            description="Payments ALB: managed protections and a per-IP rate limit (PCI DSS 6.4.2)",
            scope="REGIONAL",
            default_action=waf.WebAclDefaultActionArgs(allow=waf.WebAclDefaultActionAllowArgs()),
            rules=rules,
            visibility_config=waf.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=acl_name, sampled_requests_enabled=True
            ),
            opts=child,
        )
        self.association = waf.WebAclAssociation(
            f"{name}-alb", resource_arn=args.alb_arn, web_acl_arn=self.acl.arn, opts=child
        )

        self.log_group = log_group(
            f"{name}-logs",
            n(f"{LOG_GROUP_PREFIX}payments", Kind.LOG_GROUP),
            args.logs_key_arn,
            args.log_retention_days,
            opts=child,
        )
        # WAF delivers through CloudWatch's log-delivery service. Writing this policy ourselves keeps it to
        # this one log group and this account (otherwise WAF adds a broad one on first use).
        delivery = aws.cloudwatch.LogResourcePolicy(
            f"{name}-log-delivery",
            policy_name=n("waf-log-delivery"),
            policy_document=iam.document(
                {
                    "Sid": "WafLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "delivery.logs.amazonaws.com"},
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(self.log_group.arn, ":log-stream:*"),
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": args.account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{args.region}:{args.account_id}:*"},
                    },
                }
            ),
            opts=child,
        )
        self.logging = waf.WebAclLoggingConfiguration(
            name,
            resource_arn=self.acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[
                waf.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=waf.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name=header)
                )
                for header in REDACTED_HEADERS
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[delivery]),
        )
        self.arn = self.acl.arn
        self.register_outputs({"arn": self.arn, "logGroupName": self.log_group.name})
