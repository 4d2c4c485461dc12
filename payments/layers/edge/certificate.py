"""The HTTPS listener's certificate: an ACM certificate validated through Route 53 (PCI DSS 4.2.1)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pulumi
import pulumi_aws as aws

from payments.core.naming import Namer


@dataclasses.dataclass
class CertificateArgs:
    domain_name: str
    subject_alternative_names: tuple[str, ...]
    hosted_zone_id: str
    namer: Namer


class Certificate(pulumi.ComponentResource):
    """A DNS-validated ACM certificate; `arn` resolves only once ACM has issued it."""

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:edge:Certificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = aws.acm.Certificate(
            name,
            domain_name=args.domain_name,
            subject_alternative_names=list(args.subject_alternative_names) or None,
            validation_method="DNS",
            tags={"Name": args.namer("cert")},
            opts=child,
        )
        # ACM reports one validation option per name; the count is known here, so no resource is made in an apply.
        # `*.example.com` and `example.com` share one record, hence allow_overwrite.
        names = [args.domain_name, *args.subject_alternative_names]
        records = []
        for i in range(len(names)):
            option = self.certificate.domain_validation_options.apply(functools.partial(_option, i))
            records.append(
                aws.route53.Record(
                    f"{name}-validation-{i}",
                    zone_id=args.hosted_zone_id,
                    name=option.apply(lambda o: o.resource_record_name),
                    type=option.apply(lambda o: o.resource_record_type),
                    records=[option.apply(lambda o: o.resource_record_value)],
                    ttl=60,
                    allow_overwrite=True,
                    opts=child,
                )
            )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[r.fqdn for r in records],
            opts=child,
        )
        self.arn = self.validation.certificate_arn
        self.register_outputs({"arn": self.arn})


def alias_record(
    name: str, zone_id: str, domain_name: str, alb: aws.lb.LoadBalancer, opts: pulumi.ResourceOptions
) -> aws.route53.Record:
    """``domain_name`` -> the load balancer. DNS stays put during the cutover: traffic moves by listener weights."""
    return aws.route53.Record(
        name,
        zone_id=zone_id,
        name=domain_name,
        type="A",
        aliases=[aws.route53.RecordAliasArgs(name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True)],
        opts=opts,
    )


def _option(index: int, options: list[Any]) -> Any:
    """The `index`-th domain validation option (one per name on the certificate)."""
    return options[index]
