"""The architecture diagram, drawn from an offline plan (never by hand).

Every node's label comes from what the plan registers — physical names,
counts, engines, policies — so the picture cannot drift from the code: the
docs test regenerates it and fails when `docs/architecture.md` is stale.
"""

from __future__ import annotations

from typing import Any

from payments.plan.engine import LayerPlan, Plan, PlannedResource


def _of(lp: LayerPlan, token: str) -> list[PlannedResource]:
    return [r for r in lp.resources if r.type == token]


def _names(resources: list[PlannedResource], key: str = "name") -> str:
    return ", ".join(sorted(str(r.inputs.get(key, r.name)) for r in resources))


def facts(plan: Plan) -> dict[str, Any]:
    net, data, edge, app, obs, mig = (plan.layer(n) for n in
                                      ("network", "data", "edge", "app", "observability", "migration"))
    lb = _of(edge, "aws:lb/loadBalancer:LoadBalancer")[0]
    https = next(r for r in _of(edge, "aws:lb/listener:Listener") if r.inputs.get("port") == 443)
    groups = {r.inputs["name"]: r.inputs.get("targetType") for r in _of(edge, "aws:lb/targetGroup:TargetGroup")}
    services = _of(app, "aws:ecs/service:Service")
    asgs = _of(app, "aws:autoscaling/group:Group")
    if services:
        ordered = sorted(services, key=lambda s: s.name)
        compute = "ECS Fargate services " + ", ".join(
            f"{s.inputs['name']} x{int(s.inputs.get('desiredCount', 0))}" for s in ordered)
    else:
        compute = "EC2 Auto Scaling group " + ", ".join(
            f"{g.inputs['name']} {int(g.inputs['minSize'])}-{int(g.inputs['maxSize'])} instances" for g in asgs)
    clusters = _of(data, "aws:rds/cluster:Cluster")
    if clusters:
        members = _of(data, "aws:rds/clusterInstance:ClusterInstance")
        database = (f"Aurora MySQL {clusters[0].inputs['clusterIdentifier']}, "
                    f"{len(members)} x db.serverless: writer + {len(members) - 1} reader")
    else:
        inst = _of(data, "aws:rds/instance:Instance")[0]
        database = (f"RDS MySQL {inst.inputs['identifier']} {inst.inputs.get('instanceClass')}"
                    + (", Multi-AZ" if inst.inputs.get("multiAz") else ", single-AZ"))
    dms = _of(mig, "aws:dms/replicationTask:ReplicationTask")
    return {
        "env": plan.env,
        "azs": len(net.outputs["azNames"]),
        "nats": len(net.outputs["natGatewayIds"]),
        "endpoints": len(_of(net, "aws:ec2/vpcEndpoint:VpcEndpoint")),
        "vpn": bool(_of(net, "aws:ec2/vpnConnection:VpnConnection")),
        "alb": lb.inputs["name"],
        "tls": https.inputs.get("sslPolicy"),
        "waf": _names(_of(edge, "aws:wafv2/webAcl:WebAcl")),
        "groups": groups,
        "compute": compute,
        "database": database,
        # What the backup plan selects besides the database (the config archive), not every bucket of the layer.
        "buckets": sum(
            str(arn).startswith("arn:aws:s3:::")
            for sel in _of(data, "aws:backup/selection:Selection")
            for arn in sel.inputs.get("resources", [])
        ),
        "vault": _names(_of(data, "aws:backup/vault:Vault")),
        "alarms": len(_of(obs, "aws:cloudwatch/metricAlarm:MetricAlarm")),
        "gate": obs.outputs.get("gateAlarmName"),
        "topic": _names(_of(obs, "aws:sns/topic:Topic")),
        "machines": _names(_of(mig, "aws:sfn/stateMachine:StateMachine")),
        "dms": _names(dms, "replicationTaskId") if dms else None,
    }


TEMPLATE = """\
flowchart LR
    clients(["clients"]) -->|HTTPS| waf
    subgraph vpc["VPC over {azs} AZs, {nats} NAT, {endpoints} VPC endpoints"]
      subgraph public["public subnets"]
        waf["WAF {waf}"] --> alb["ALB {alb}<br/>{tls}"]
      end
      subgraph appnet["app subnets"]
        compute["{compute}"]
      end
      subgraph datanet["data subnets, no internet route"]
        db[("{database}")]
      end
    end
    alb --> tgs["target groups<br/>{pools}"]
    tgs -->|blue / green| compute
    compute -->|TLS 3306| db
    db -.->|AWS Backup| vault[("vault {vault}<br/>+ {buckets} S3 bucket(s) backed up")]
    alarms["{alarms} alarms + gate {gate}"] --> topic["SNS {topic}"]
    sfn[["Step Functions {machines}"]] -->|weights| alb
    alarms -.->|gate| sfn"""


def mermaid(plan: Plan) -> str:
    """A Mermaid flowchart of the deployed system, labelled from the plan."""
    f = facts(plan)
    pools = "<br/>".join(f"{name} ({kind})" for name, kind in sorted(f["groups"].items()))
    lines = [TEMPLATE.format(pools=pools, **f)]
    if f["vpn"]:
        lines.append('    tgs -->|legacy, over site-to-site VPN| onprem[("on-prem app servers + MySQL")]')
    if f["dms"]:
        lines.append(f"    onprem -->|DMS {f['dms']}: full load + CDC| db")
    return "\n".join(lines)
