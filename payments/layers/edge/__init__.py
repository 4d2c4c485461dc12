"""Edge layer (project payments-edge): TLS load balancer, legacy/blue/green target groups, WAF, access logs."""
