"""payments-edge: TLS load balancer with legacy/blue/green target groups, WAF and access logs (program arrives with its issue)."""

from payments.core.stack import start

start("edge")
