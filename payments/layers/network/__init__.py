"""Network layer (project payments-network): VPC, subnets, routing, endpoints, VPN, all security groups."""
