"""Site-to-site VPN to the on-prem data centre, for the parallel run.

The legacy target group reaches the on-prem app servers, DMS and (during the
application cutover) blue/green reach the on-prem MySQL, through this tunnel.
Every tier routes the on-prem CIDRs to the virtual private gateway: the ALB
sends to its legacy IP targets from its own (public) subnets, so their route
table needs the routes too (ELB docs, IP targets outside the VPC); the app and
data tables serve the application and DMS.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pulumi
import pulumi_aws as aws

from payments.core.naming import Namer

#: Diffie-Hellman groups both tunnels accept in both IKE phases: ECP 256/384/521 (NIST SP 800-77r1). Left unset,
#: AWS also accepts group 2 (1024-bit) in phase 1 and groups 2 and 5 in phase 2. The on-prem device must offer one.
DH_GROUPS = [19, 20, 21]


@dataclasses.dataclass
class VpnArgs:
    vpc_id: pulumi.Input[str]
    customer_gateway_ip: ipaddress.IPv4Address
    customer_gateway_asn: int
    on_prem_cidrs: tuple[ipaddress.IPv4Network, ...]
    #: app and data route tables
    route_table_ids: list[pulumi.Output[str]]
    #: the public subnets' table: the ALB reaches the legacy pool from there
    public_route_table_id: pulumi.Input[str]
    namer: Namer


class Vpn(pulumi.ComponentResource):
    def __init__(self, name: str, args: VpnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payments:network:Vpn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n = args.namer
        cgw = aws.ec2.CustomerGateway(
            f"{name}-cgw",
            bgp_asn=str(args.customer_gateway_asn),
            ip_address=str(args.customer_gateway_ip),
            type="ipsec.1",
            tags={"Name": n("cgw-onprem")},
            opts=child,
        )
        vgw = aws.ec2.VpnGateway(f"{name}-vgw", vpc_id=args.vpc_id, tags={"Name": n("vgw")}, opts=child)
        self.connection = aws.ec2.VpnConnection(
            name,
            customer_gateway_id=cgw.id,
            vpn_gateway_id=vgw.id,
            type="ipsec.1",
            static_routes_only=True,
            # IKEv2 only, strong ciphers (PCI DSS 4.2.1 applies to the tunnel too).
            tunnel1_ike_versions=["ikev2"],
            tunnel2_ike_versions=["ikev2"],
            tunnel1_phase1_encryption_algorithms=["AES256"],
            tunnel2_phase1_encryption_algorithms=["AES256"],
            tunnel1_phase2_encryption_algorithms=["AES256"],
            tunnel2_phase2_encryption_algorithms=["AES256"],
            tunnel1_phase1_integrity_algorithms=["SHA2-256"],
            tunnel2_phase1_integrity_algorithms=["SHA2-256"],
            tunnel1_phase2_integrity_algorithms=["SHA2-256"],
            tunnel2_phase2_integrity_algorithms=["SHA2-256"],
            tunnel1_phase1_dh_group_numbers=DH_GROUPS,
            tunnel2_phase1_dh_group_numbers=DH_GROUPS,
            tunnel1_phase2_dh_group_numbers=DH_GROUPS,
            tunnel2_phase2_dh_group_numbers=DH_GROUPS,
            tags={"Name": n("vpn-onprem")},
            opts=child,
        )
        for i, cidr in enumerate(args.on_prem_cidrs):
            aws.ec2.VpnConnectionRoute(
                f"{name}-onprem-{i}", vpn_connection_id=self.connection.id, destination_cidr_block=str(cidr), opts=child
            )
            # Logical names of the private tables' routes predate the public one's and stay as they were.
            tables: list[tuple[str, pulumi.Input[str]]] = [
                (f"{name}-route-{i}-{j}", rt) for j, rt in enumerate(args.route_table_ids)
            ]
            tables.append((f"{name}-route-public-{i}", args.public_route_table_id))
            for route_name, rt in tables:
                aws.ec2.Route(
                    route_name, route_table_id=rt, destination_cidr_block=str(cidr), gateway_id=vgw.id, opts=child
                )
        self.register_outputs({"vpnConnectionId": self.connection.id})
