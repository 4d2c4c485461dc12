"""payments-network: VPC over N AZs, routing, endpoints, VPN, and every security group."""

import pulumi_aws as aws

from payments.components.kms import Key, KeyArgs, logs_service_statement
from payments.core.stack import start
from payments.layers.network.endpoints import Endpoints, EndpointsArgs
from payments.layers.network.fence import WriteFence, WriteFenceArgs
from payments.layers.network.flow_logs import FlowLogs, FlowLogsArgs
from payments.layers.network.security_groups import CLOUDFRONT_PREFIX_LIST, SecurityGroups, SecurityGroupsArgs
from payments.layers.network.settings import AlbIngress, NetworkSettings
from payments.layers.network.vpc import Vpc, VpcArgs
from payments.layers.network.vpn import Vpn, VpnArgs

layer = start("network")
cfg = layer.config(NetworkSettings)
env, n, opts = layer.env, layer.namer, layer.opts
azs = layer.availability_zones(cfg.az_count)

logs_key = Key(
    "logs-key",
    KeyArgs(
        description=f"CloudWatch Logs encryption, payments {n.suffix}",
        alias=n("logs"),
        account_id=layer.account_id,
        region=env.region,
        service_statements=[logs_service_statement(layer.account_id, env.region)],
    ),
    opts=opts,
)
vpc = Vpc("vpc", VpcArgs(cidr=cfg.vpc_cidr, azs=azs, nat_strategy=cfg.nat_strategy, namer=n), opts=opts)
flow = FlowLogs(
    "flow-logs",
    FlowLogsArgs(
        vpc_id=vpc.vpc.id,
        kms_key_arn=logs_key.arn,
        retention_days=cfg.flow_log_retention_days,
        namer=n,
        account_id=layer.account_id,
        region=env.region,
    ),
    opts=opts,
)
s3_prefix_list = aws.ec2.get_prefix_list_output(name=f"com.amazonaws.{env.region}.s3", opts=layer.invoke_opts)
cloudfront = (
    aws.ec2.get_managed_prefix_list(name=CLOUDFRONT_PREFIX_LIST, opts=layer.invoke_opts).id
    if cfg.alb_ingress is AlbIngress.CLOUDFRONT
    else None
)
sgs = SecurityGroups(
    "sg",
    SecurityGroupsArgs(
        vpc_id=vpc.vpc.id,
        vpc_cidr=cfg.vpc_cidr,
        app_port=cfg.app_port,
        alb_ingress=cfg.alb_ingress,
        alb_client_cidrs=cfg.alb_client_cidrs,
        cloudfront_prefix_list_id=cloudfront,
        s3_prefix_list_id=s3_prefix_list.id,
        on_prem_cidrs=cfg.on_prem_cidrs,
        on_prem_app_port=cfg.on_prem_app_port,
        on_prem_db_port=cfg.on_prem_db_port,
        namer=n,
    ),
    opts=opts,
)
Endpoints(
    "vpce",
    EndpointsArgs(
        vpc_id=vpc.vpc.id,
        region=env.region,
        services=cfg.interface_endpoints,
        subnet_ids=vpc.subnet_ids("app"),
        route_table_ids=[rt.id for rt in vpc.private_route_tables],
        security_group_id=sgs.endpoint.id,
        namer=n,
    ),
    opts=opts,
)
# The app subnets' ACL, open until the database switchover fences the old writer (payments/layers/network/fence.py).
fence = WriteFence("app-nacl", WriteFenceArgs(vpc_id=vpc.vpc.id, app_subnet_ids=vpc.subnet_ids("app"), namer=n),
                   opts=opts)
if cfg.vpn_enabled:
    vpn = Vpn(
        "vpn",
        VpnArgs(
            vpc_id=vpc.vpc.id,
            customer_gateway_ip=cfg.customer_gateway_ip,
            customer_gateway_asn=cfg.customer_gateway_asn,
            on_prem_cidrs=cfg.on_prem_cidrs,
            route_table_ids=[rt.id for rt in vpc.private_route_tables],
            public_route_table_id=vpc.public_route_table.id,
            namer=n,
        ),
        opts=opts,
    )
    layer.export("vpnConnectionId", vpn.connection.id)

layer.export("vpcId", vpc.vpc.id)
layer.export("vpcCidr", str(cfg.vpc_cidr))
layer.export("azNames", azs)
for tier in ("public", "app", "data"):
    layer.export(f"{tier}SubnetIds", vpc.subnet_ids(tier))
layer.export("publicRouteTableId", vpc.public_route_table.id)
layer.export("appRouteTableIds", [rt.id for rt in vpc.app_route_tables])
layer.export("dataRouteTableIds", [rt.id for rt in vpc.data_route_tables])
layer.export("natGatewayIds", [nat.id for nat in vpc.nat_gateways])
for role in ("alb", "app", "db", "dms", "endpoint"):
    layer.export(f"{role}SecurityGroupId", getattr(sgs, role).id)
layer.export("onPremCidrs", [str(c) for c in cfg.on_prem_cidrs])
layer.export("onPremDbPort", cfg.on_prem_db_port)
layer.export("appNetworkAclId", fence.acl.id)
layer.export("flowLogGroupName", flow.log_group.name)
layer.export("logsKeyArn", logs_key.arn)
