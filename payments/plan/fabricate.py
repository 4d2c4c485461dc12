"""Plausible, deterministic IDs, ARNs and computed attributes for mocked resources.

Nothing here talks to AWS. Values are derived from the resource's type and
name, so two plans of the same code are identical and dev/prod never share an
ARN by accident (their names differ by the environment suffix).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"
#: us-east-1's regional ELB account (AWS documentation, "Enable access logs").
ELB_ACCOUNT_ID = "127311923021"
AZ_NAMES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]

#: Prefixes AWS uses for EC2-style ids.
ID_PREFIX = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "DefaultSecurityGroup": "sg",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "RouteTable": "rtb",
    "RouteTableAssociation": "rtbassoc",
    "VpcEndpoint": "vpce",
    "FlowLog": "fl",
    "CustomerGateway": "cgw",
    "VpnGateway": "vgw",
    "VpnConnection": "vpn",
    "SecurityGroupIngressRule": "sgr",
    "SecurityGroupEgressRule": "sgr",
    "LaunchTemplate": "lt",
    "Route": "r",
}


#: AWS-managed prefix lists the programs look up, by name: (id, entries). Stand-ins: the real lists hold more
#: ranges and change over time; the reachability model treats an address as "in the list" by these entries.
PREFIX_LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "com.amazonaws.us-east-1.s3": ("pl-63a5400a", ("52.216.0.0/15",)),
    "com.amazonaws.global.cloudfront.origin-facing": ("pl-3b927c52", ("130.176.0.0/17", "64.252.64.0/18")),
}


def prefix_list(name: str) -> tuple[str, tuple[str, ...]]:
    """(id, entries) of a managed prefix list by name; unknown names get a deterministic id and no entries."""
    return PREFIX_LISTS.get(name, (f"pl-{digest('prefix-list', name, length=8)}", ()))


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("::".join(parts).encode()).hexdigest()[:length]


def split_token(token: str) -> tuple[str, str, str]:
    """``aws:ec2/vpc:Vpc`` -> (``aws``, ``ec2``, ``Vpc``)."""
    package, middle, cls = token.split(":")
    return package, middle.split("/")[0], cls


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _uuid(seed: str) -> str:
    h = digest(seed, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def resource_id(token: str, name: str, inputs: dict[str, Any]) -> str:
    cls = split_token(token)[2] if token.count(":") == 2 else token
    if cls in ID_PREFIX:
        return f"{ID_PREFIX[cls]}-{digest(token, name)}"
    for key in ("name", "bucket", "identifier", "clusterIdentifier", "replicationInstanceId", "replicationTaskId"):
        if isinstance(inputs.get(key), str):
            return inputs[key]
    if cls == "Key":
        return _uuid(name)
    return f"{name}-{digest(token, name, length=8)}"


def arn(service: str, resource: str, region: str, *, global_service: bool = False) -> str:
    return f"arn:aws:{service}:{'' if global_service else region}:{ACCOUNT_ID}:{resource}"


def _generic_arn(token: str, rid: str, inputs: dict[str, Any], region: str) -> str:
    _, module, cls = split_token(token)
    return arn(module, f"{_lower_first(cls)}/{inputs.get('name', rid)}", region)


# token -> f(seed, inputs, id, region) -> extra state; `seed` is "<stack>/<logical name>".
# Each layer adds what its resources need in its own section below.
Extra = Callable[[str, dict[str, Any], str, str], dict[str, Any]]
EXTRA: dict[str, Extra] = {}


def extra(*tokens: str) -> Callable[[Extra], Extra]:
    def register(fn: Extra) -> Extra:
        for token in tokens:
            EXTRA[token] = fn
        return fn

    return register


@extra("aws:kms/key:Key")
def _kms_key(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"keyId": rid, "arn": arn("kms", f"key/{rid}", region)}


@extra("aws:kms/alias:Alias")
def _kms_alias(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("kms", inputs.get("name", rid), region)}


@extra("aws:cloudwatch/logGroup:LogGroup")
def _log_group(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("logs", f"log-group:{inputs.get('name', rid)}", region)}


def _iam_arn(token: str, rid: str, inputs: dict[str, Any]) -> str:
    kind = {"Role": "role", "Policy": "policy", "InstanceProfile": "instance-profile"}[split_token(token)[2]]
    return arn("iam", f"{kind}/{inputs.get('name', rid)}", "", global_service=True)


@extra("aws:iam/serviceLinkedRole:ServiceLinkedRole")
def _service_linked_role(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # IAM names it AWSServiceRoleFor<Service>[_<suffix>] under aws-service-role/<service>/ (Auto Scaling's form;
    # each service documents its own role name).
    service = str(inputs.get("awsServiceName", ""))
    base = {"autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling"}.get(service, f"AWSServiceRoleFor{rid}")
    role = f"{base}_{inputs['customSuffix']}" if inputs.get("customSuffix") else base
    path = f"/aws-service-role/{service}/"
    return {"name": role, "path": path, "arn": arn("iam", f"role{path}{role}", "", global_service=True)}


# --- network layer ------------------------------------------------------------


@extra("aws:ec2/eip:Eip")
def _eip(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # The allocation id is what a NAT gateway names (allocationId); without it the EIP -> NAT link is lost.
    h = int(digest(name, "ip", length=4), 16)
    return {"allocationId": rid, "publicIp": f"198.18.{h >> 8}.{h & 0xFF}", "domain": inputs.get("domain", "vpc")}


@extra("aws:ec2/vpcEndpoint:VpcEndpoint")
def _vpc_endpoint(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # A gateway endpoint routes to its service's prefix list; the same list security group rules name.
    if inputs.get("vpcEndpointType") == "Gateway":
        return {"prefixListId": prefix_list(str(inputs.get("serviceName")))[0]}
    return {}


@extra("aws:s3/bucket:Bucket")
def _bucket(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    bucket = inputs.get("bucket", rid)
    return {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
    }


@extra("aws:lb/loadBalancer:LoadBalancer")
def _lb(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    lb_name = inputs.get("name", rid)
    suffix = f"app/{lb_name}/{digest(name, length=16)}"
    return {
        "arn": arn("elasticloadbalancing", f"loadbalancer/{suffix}", region),
        "arnSuffix": suffix,
        "dnsName": f"{lb_name}-{digest(name, length=10)}.{region}.elb.amazonaws.com",
        "zoneId": "Z35SXDOTRQ7X7K",
    }


@extra("aws:route53/zone:Zone")
def _zone(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # Route 53 zone ids: "Z" and upper-case letters and digits; the record-changing roles are scoped to it.
    return {"zoneId": "Z" + digest(name, length=20).upper()}


@extra("aws:lb/targetGroup:TargetGroup")
def _tg(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    suffix = f"targetgroup/{inputs.get('name', rid)}/{digest(name, length=16)}"
    return {"arn": arn("elasticloadbalancing", suffix, region), "arnSuffix": suffix}


@extra("aws:lb/listener:Listener")
def _listener(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    name = name.replace("/", "-")  # the seed carries the stack; ARN path segments cannot
    return {
        "arn": arn(
            "elasticloadbalancing",
            f"listener/app/{name}/{digest(name, length=16)}/{digest(name, 'l', length=16)}",
            region,
        )
    }


@extra("aws:lb/listenerRule:ListenerRule")
def _listener_rule(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    """AWS's form (``listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>``), from the rule's own name: built
    from the listener's ARN it would carry that output's text into another, which a secret output must not."""
    seed = name.replace("/", "-")
    ids = "/".join(digest(seed, part, length=16) for part in ("lb", "l", "r"))
    return {"arn": arn("elasticloadbalancing", f"listener-rule/app/{seed}/{ids}", region)}


@extra("aws:sns/topic:Topic")
def _topic(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("sns", inputs.get("name", rid), region)}


@extra("aws:sqs/queue:Queue")
def _queue(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    queue = inputs.get("name", rid)
    return {"arn": arn("sqs", queue, region), "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}"}


@extra("aws:sfn/stateMachine:StateMachine")
def _sfn(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("states", f"stateMachine:{inputs.get('name', rid)}", region)}


@extra("aws:ssm/parameter:Parameter")
def _param(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("ssm", f"parameter{inputs.get('name', rid)}", region)}


@extra("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
def _alarm(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("cloudwatch", f"alarm:{inputs.get('alarmName', rid)}", region)}


def state(token: str, name: str, inputs: dict[str, Any], region: str, stack: str) -> tuple[str, dict[str, Any]]:
    """(id, output state) for a mocked resource: its inputs plus fabricated attributes.

    Random parts are seeded with the stack name, so dev and prod never share an id.
    """
    name = f"{stack}/{name}"
    rid = resource_id(token, name, inputs)
    out = dict(inputs)
    out["id"] = rid
    if token.startswith("aws:"):
        if split_token(token)[1] == "iam" and split_token(token)[2] in ("Role", "Policy", "InstanceProfile"):
            out["arn"] = _iam_arn(token, rid, inputs)
            out.setdefault("name", rid)
        else:
            out["arn"] = _generic_arn(token, rid, inputs, region)
        fn = EXTRA.get(token)
        if fn is not None:
            out.update(fn(name, inputs, rid, region))
    return rid, out


def call(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    """Results of data-source invokes, or a clear error for one the planner does not know."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return {"names": AZ_NAMES, "zoneIds": [f"use1-az{i + 1}" for i in range(len(AZ_NAMES))], "id": region}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ACCOUNT_ID,
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/planner",
            "userId": "AIDAPLANNER",
            "id": ACCOUNT_ID,
        }
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if token == "aws:elb/getServiceAccount:getServiceAccount":
        return {"arn": f"arn:aws:iam::{ELB_ACCOUNT_ID}:root", "id": ELB_ACCOUNT_ID}
    if token == "aws:ec2/getPrefixList:getPrefixList":
        pl_id, entries = prefix_list(str(args.get("name")))
        return {"id": pl_id, "prefixListId": pl_id, "name": args.get("name"), "cidrBlocks": list(entries)}
    if token == "aws:ec2/getManagedPrefixList:getManagedPrefixList":
        pl_id, entries = prefix_list(str(args.get("name")))
        return {
            "id": pl_id,
            "name": args.get("name"),
            "maxEntries": 55,
            "entries": [{"cidr": cidr, "description": ""} for cidr in entries],
        }
    if token == "aws:ssm/getParameter:getParameter":
        return {"name": args.get("name"), "value": "ami-0abcdef1234567890", "type": "String", "id": args.get("name")}
    fn = CALLS.get(token)
    if fn is not None:
        return fn(args, region)
    raise NotImplementedError(
        f"the offline planner has no result for invoke '{token}'; add one to payments/plan/fabricate.py"
    )


CALLS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {}


# --- data layer ---------------------------------------------------------------


@extra("aws:secretsmanager/secret:Secret")
def _secret(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    """Secrets Manager ARNs end with the name and a hyphen plus six random characters."""
    return {"arn": arn("secretsmanager", f"secret:{inputs.get('name', rid)}-{digest(name, length=6)}", region)}


def _rds_secret(name: str, inputs: dict[str, Any], region: str, kind: str) -> list[dict[str, Any]]:
    """The AWS-managed master secret RDS creates with manageMasterUserPassword (never a value)."""
    if not inputs.get("manageMasterUserPassword"):
        return []
    secret = f"secret:rds!{kind}-{_uuid(name)}-{digest(name, 'secret', length=6)}"
    return [
        {
            "secretArn": arn("secretsmanager", secret, region),
            "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
            "secretStatus": "active",
        }
    ]


@extra("aws:rds/cluster:Cluster")
def _rds_cluster(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    host = f"{rid}.cluster-{digest(name, length=12)}.{region}.rds.amazonaws.com"
    return {
        "arn": arn("rds", f"cluster:{rid}", region),
        "clusterResourceId": f"cluster-{digest(name, 'res', length=26).upper()}",
        "endpoint": host,
        "readerEndpoint": host.replace(".cluster-", ".cluster-ro-"),
        "port": inputs.get("port", 3306),
        "engineVersionActual": inputs.get("engineVersion"),
        "masterUserSecrets": _rds_secret(name, inputs, region, "cluster"),
    }


@extra("aws:rds/clusterInstance:ClusterInstance")
def _rds_cluster_instance(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {
        "arn": arn("rds", f"db:{rid}", region),
        "endpoint": f"{rid}.{digest(name, length=12)}.{region}.rds.amazonaws.com",
        "port": 3306,
        "writer": inputs.get("promotionTier") == 0,
    }


@extra("aws:rds/instance:Instance")
def _rds_instance(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    address = f"{rid}.{digest(name, length=12)}.{region}.rds.amazonaws.com"
    port = inputs.get("port", 3306)
    return {
        "arn": arn("rds", f"db:{rid}", region),
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "resourceId": f"db-{digest(name, 'res', length=26).upper()}",
        "masterUserSecrets": _rds_secret(name, inputs, region, "db"),
    }


def _rds_named(kind: str) -> Extra:
    def fabricate(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
        return {"arn": arn("rds", f"{kind}:{inputs.get('name', rid)}", region)}

    return fabricate


for _data_token, _data_kind in (
    ("aws:rds/subnetGroup:SubnetGroup", "subgrp"),
    ("aws:rds/parameterGroup:ParameterGroup", "pg"),
    ("aws:rds/clusterParameterGroup:ClusterParameterGroup", "cluster-pg"),
    ("aws:rds/optionGroup:OptionGroup", "og"),
):
    EXTRA[_data_token] = _rds_named(_data_kind)


@extra("aws:backup/vault:Vault")
def _backup_vault(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("backup", f"backup-vault:{inputs.get('name', rid)}", region), "recoveryPoints": 0}


@extra("aws:backup/plan:Plan")
def _backup_plan(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("backup", f"backup-plan:{_uuid(name)}", region), "version": digest(name, "v", length=32)}


# --- edge layer ---------------------------------------------------------------


@extra("aws:acm/certificate:Certificate")
def _acm_certificate(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # One DNS validation option per name, as ACM reports them (a wildcard shares its apex's record).
    names = [inputs.get("domainName", rid), *(inputs.get("subjectAlternativeNames") or [])]
    options = []
    for domain in names:
        apex = domain.removeprefix("*.")
        options.append(
            {
                "domainName": domain,
                "resourceRecordName": f"_{digest(name, apex, length=32)}.{apex}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{digest(name, domain, 'v', length=32)}.acm-validations.aws.",
            }
        )
    return {
        "arn": arn("acm", f"certificate/{_uuid(name)}", region),
        "domainValidationOptions": options,
        "status": "ISSUED",
    }


@extra("aws:acm/certificateValidation:CertificateValidation")
def _acm_validation(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"certificateArn": inputs.get("certificateArn")}


@extra("aws:route53/record:Record")
def _route53_record(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"fqdn": str(inputs.get("name", rid)).rstrip(".")}


@extra("aws:wafv2/webAcl:WebAcl")
def _web_acl(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    acl = inputs.get("name", rid)
    return {"arn": arn("wafv2", f"regional/webacl/{acl}/{_uuid(name)}", region), "capacity": 1000}


# --- app layer ----------------------------------------------------------------


@extra("aws:ecs/cluster:Cluster")
def _ecs_cluster(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("ecs", f"cluster/{inputs.get('name', rid)}", region)}


@extra("aws:ecs/taskDefinition:TaskDefinition")
def _ecs_task_definition(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    family = inputs.get("family", rid)
    return {
        "arn": arn("ecs", f"task-definition/{family}:1", region),
        "arnWithoutRevision": arn("ecs", f"task-definition/{family}", region),
        "revision": 1,
    }


@extra("aws:ecs/service:Service")
def _ecs_service(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    cluster = str(inputs.get("cluster", "default")).rsplit("/", 1)[-1]
    return {"arn": arn("ecs", f"service/{cluster}/{inputs.get('name', rid)}", region)}


@extra("aws:ec2/launchTemplate:LaunchTemplate")
def _launch_template(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"arn": arn("ec2", f"launch-template/{rid}", region), "latestVersion": 1, "defaultVersion": 1}


@extra("aws:autoscaling/group:Group")
def _asg(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    group = inputs.get("name", rid)
    return {"arn": arn("autoscaling", f"autoScalingGroup:{_uuid(name)}:autoScalingGroupName/{group}", region)}


# --- observability layer ------------------------------------------------------


@extra("aws:cloudwatch/dashboard:Dashboard")
def _dashboard(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # Dashboards are global: their ARN has no region.
    board = inputs.get("dashboardName", rid)
    return {"dashboardArn": arn("cloudwatch", f"dashboard/{board}", "", global_service=True)}


@extra("aws:sns/topicSubscription:TopicSubscription")
def _subscription(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # A subscription's ARN is its topic's ARN plus an id; e-mail ones stay pending until confirmed.
    return {
        "arn": f"{inputs.get('topic', arn('sns', 'topic', region))}:{_uuid(name)}",
        "pendingConfirmation": inputs.get("protocol") == "email",
    }


# --- migration layer ----------------------------------------------------------


@extra("aws:dms/replicationTask:ReplicationTask")
def _dms_task(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    # A task ARN ends with its resource identifier (random unless set; the migration layer sets it).
    ident = inputs.get("resourceIdentifier") or digest(name, length=26).upper()
    return {"replicationTaskArn": arn("dms", f"task:{ident}", region)}


@extra("aws:dms/replicationInstance:ReplicationInstance")
def _dms_instance(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {
        "replicationInstanceArn": arn("dms", f"rep:{digest(name, length=26).upper()}", region),
        "replicationInstancePrivateIps": ["10.20.200.10"],
    }


@extra("aws:dms/endpoint:Endpoint")
def _dms_endpoint(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"endpointArn": arn("dms", f"endpoint:{digest(name, length=26).upper()}", region)}


@extra("aws:dms/replicationSubnetGroup:ReplicationSubnetGroup")
def _dms_subnet_group(name: str, inputs: dict[str, Any], rid: str, region: str) -> dict[str, Any]:
    return {"replicationSubnetGroupArn": arn("dms", f"subgrp:{inputs.get('replicationSubnetGroupId', rid)}", region)}
