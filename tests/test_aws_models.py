"""Every document the programs hand to AWS, checked by a tool that knows AWS's rules.

The inventory below names each kind of document (where it sits in the plan, what
validates it). For every planned environment (dev, prod, compact) and the DMS
profile, each document is replayed as the AWS API call the provider makes:

- botocore validates the request against the service's API model (types,
  required members, plus the model's max lengths and enums, which botocore
  itself leaves to the service), and moto runs it where it implements the call;
- state machine definitions also go through moto's ASL parser (the grammar
  Step Functions enforces) and every ``aws-sdk:`` task's parameters through the
  target API's model;
- IAM-language documents also go through the policy grammar AWS documents
  (principal rules per policy type, resource scoping, size quotas) and the
  parliament linter (zero findings at MEDIUM or above);
- DMS table mappings and task settings, which the DMS API takes as opaque
  strings, go through the schema of AWS's DMS user guide.

A guard test scans the plans for any JSON-valued input and fails if one is not
in the inventory, so a new kind of document cannot go unvalidated.
``docs/validation.md`` is checked against the counts computed here.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException
from parliament import analyze_policy_string

from payments.layers.observability import dashboards
from payments.plan.engine import SECRET, Plan, PlannedResource
from tests.support import plan
from tests.test_app_aws_validation import register_request
from tests.test_data_aws_validation import backup_rule
from tests.test_iam_documents import ALWAYS_FAIL, FAIL_SEVERITIES, known_false_positive, severity
from tests.test_migration_state_machine import check_sdk_tasks

REGION = "us-east-1"
ACCOUNT = "123456789012"
REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "validation.md"

DMS_SOURCE_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:onprem-mysql-AbCdEf"
#: DMS on (it is off in every environment file): the migration layer's tasks and the observability DMS alarms.
DMS_ON = {
    "migration": {
        "dmsSourceSecretArn": DMS_SOURCE_SECRET,
        "dmsSourceSslMode": "require",
        "dmsExcludeTables": ["payments.audit_tmp"],
    },
    "observability": {"dmsEnabled": True},
}
#: profile -> (environment, overrides): every environment file, plus the only configuration that adds documents.
PROFILES: dict[str, tuple[str, dict[str, dict[str, Any]] | None]] = {
    "dev": ("dev", None),
    "prod": ("prod", None),
    "compact": ("compact", None),
    "prod+dms": ("prod", DMS_ON),
}


def planned(profile: str) -> Plan:
    env, overrides = PROFILES[profile]
    return plan(env, None, overrides)


# --- the inventory ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    type: str  #: the resource type token holding the document
    key: str  #: the input holding it
    tool: str  #: what validates it (for docs/validation.md)
    json: bool = True  #: the input is a JSON string (the guard test looks for these)
    when: Callable[[PlannedResource], bool] = lambda r: True


def _archive(prefix: str) -> Callable[[PlannedResource], bool]:
    return lambda r: str(r.inputs.get("key", "")).startswith(prefix)


BOTO = "botocore model (strict)"
KINDS = [
    Kind(
        "ecs-container-definitions",
        "aws:ecs/taskDefinition:TaskDefinition",
        "containerDefinitions",
        f"{BOTO} + moto ecs:RegisterTaskDefinition",
    ),
    Kind(
        "task-definition-archive",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "content",
        f"{BOTO} + moto ecs:RegisterTaskDefinition (the archived request, replayed)",
        when=_archive("task-definitions/"),
    ),
    Kind(
        "launch-template-archive",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "content",
        f"{BOTO}: ecs:RegisterTaskDefinition (container spec), ec2:RunInstances (image, type)",
        when=_archive("launch-templates/"),
    ),
    Kind(
        "iam-trust-policy",
        "aws:iam/role:Role",
        "assumeRolePolicy",
        "IAM policy grammar (trust) + parliament + moto iam:CreateRole",
    ),
    Kind(
        "iam-permission-policy",
        "aws:iam/rolePolicy:RolePolicy",
        "policy",
        "IAM policy grammar (identity, 10,240-char role quota) + parliament + moto iam:PutRolePolicy",
    ),
    Kind(
        "kms-key-policy",
        "aws:kms/key:Key",
        "policy",
        f"IAM policy grammar (key policy) + parliament + {BOTO} + moto kms:CreateKey",
    ),
    Kind(
        "s3-bucket-policy",
        "aws:s3/bucketPolicy:BucketPolicy",
        "policy",
        "IAM policy grammar (bucket policy, own-bucket resources, 20 KB) + parliament + moto s3:PutBucketPolicy",
    ),
    Kind(
        "sns-topic-policy",
        "aws:sns/topicPolicy:TopicPolicy",
        "policy",
        "IAM policy grammar (topic policy, own-topic resource) + parliament + moto sns:SetTopicAttributes",
    ),
    Kind(
        "logs-resource-policy",
        "aws:cloudwatch/logResourcePolicy:LogResourcePolicy",
        "policyDocument",
        f"IAM policy grammar (resource policy) + parliament + {BOTO} + moto logs:PutResourcePolicy",
    ),
    Kind(
        "cloudwatch-dashboard-body",
        "aws:cloudwatch/dashboard:Dashboard",
        "dashboardBody",
        "dashboard body structure reference (dashboards.validate) + moto cloudwatch:PutDashboard",
    ),
    Kind(
        "sfn-definition",
        "aws:sfn/stateMachine:StateMachine",
        "definition",
        "moto's ASL parser + aws-sdk task parameters vs the target API models + moto sfn:CreateStateMachine",
    ),
    Kind(
        "dms-table-mappings",
        "aws:dms/replicationTask:ReplicationTask",
        "tableMappings",
        f"DMS user guide schema (selection rules) + {BOTO} + moto dms:CreateReplicationTask",
    ),
    Kind(
        "dms-task-settings",
        "aws:dms/replicationTask:ReplicationTask",
        "replicationTaskSettings",
        f"DMS user guide schema (task settings sections and keys) + {BOTO} + moto dms:CreateReplicationTask",
    ),
    Kind(
        "provider-default-tags",
        "pulumi:providers:aws",
        "defaultTags",
        f"{BOTO}: resourcegroupstaggingapi:TagResources (key/value limits, no aws: prefix)",
    ),
    Kind("backup-plan", "aws:backup/plan:Plan", "rules", f"{BOTO} + moto backup:CreateBackupPlan", json=False),
    Kind(
        "backup-selection",
        "aws:backup/selection:Selection",
        "resources",
        f"{BOTO}: backup:CreateBackupSelection (moto has no selections)",
        json=False,
    ),
    Kind("wafv2-web-acl", "aws:wafv2/webAcl:WebAcl", "rules", f"{BOTO} + moto wafv2:CreateWebACL", json=False),
    Kind(
        "wafv2-logging-configuration",
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "redactedFields",
        f"{BOTO} + moto wafv2:PutLoggingConfiguration",
        json=False,
    ),
    Kind(
        "elbv2-listener-rule",
        "aws:lb/listenerRule:ListenerRule",
        "actions[].fixedResponse.messageBody",
        f"{BOTO} + moto elbv2:CreateRule, then ModifyRule to the write-pause conditions and back; the fixed "
        "response body is JSON of at most 1024 characters",
    ),
    Kind("ssm-parameter", "aws:ssm/parameter:Parameter", "name", f"{BOTO} + moto ssm:PutParameter", json=False),
    Kind(
        "eventbridge-event-pattern",
        "aws:cloudwatch/eventRule:EventRule",
        "eventPattern",
        f"{BOTO} + moto events:PutRule; moto's rule matcher against the event AWS documents (must match) and a "
        "near miss (must not)",
    ),
    Kind(
        "eventbridge-input-template",
        "aws:cloudwatch/eventTarget:EventTarget",
        "inputTransformer.inputTemplate",
        f"{BOTO} + moto events:PutTargets; rendered with the documented event, it must be the JSON the rollback "
        "machine reads",
    ),
    Kind(
        "sqs-queue-policy",
        "aws:sqs/queuePolicy:QueuePolicy",
        "policy",
        "IAM policy grammar (queue policy, own-queue resource) + parliament + moto sqs:SetQueueAttributes",
    ),
    Kind(
        "launch-template-data",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "userData",
        f"{BOTO} + moto ec2:CreateLaunchTemplate; user data: base64, 16 KB, `bash -n`",
        json=False,
    ),
]
BY_NAME = {k.name: k for k in KINDS}


def nested(inputs: Any, key: str) -> Any:
    """``inputs["a"]["b"]`` for ``key`` "a.b" (None when missing); "a[].b" looks into the first item of a list."""
    for part in key.split("."):
        listed = part.endswith("[]")
        part = part.removesuffix("[]")
        if not isinstance(inputs, dict) or part not in inputs:
            return None
        inputs = inputs[part]
        if listed:
            if not isinstance(inputs, list) or not inputs:
                return None
            inputs = inputs[0]
    return inputs


def documents(p: Plan, kind: Kind) -> list[tuple[str, PlannedResource]]:
    """(layer, resource) for every document of `kind` in the plan."""
    return [
        (lp.name, r)
        for lp in p.layers
        for r in lp.resources
        if r.type == kind.type and nested(r.inputs, kind.key) is not None and kind.when(r)
    ]


def count(profile: str, kind: Kind) -> int:
    return len(documents(planned(profile), kind))


# --- strict botocore validation -----------------------------------------------------------------------------


MODELS = botocore.session.get_session()


def shape_of(service: str, operation: str) -> Shape:
    return MODELS.get_service_model(service).operation_model(operation).input_shape


def _limits(value: Any, shape: Shape, where: str, problems: list[str]) -> None:
    """What botocore's validator leaves to the service: max lengths/sizes and enums of the model."""
    meta = shape.metadata
    if shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} characters, the model allows {meta['max']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} is not one of {shape.enum}")
    elif shape.type_name in ("integer", "long"):
        if "max" in meta and value > meta["max"]:
            problems.append(f"{where}: {value} is above the model's maximum {meta['max']}")
    elif shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                _limits(value[name], member, f"{where}.{name}", problems)
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} items, the model allows {meta['max']}")
        for i, item in enumerate(value):
            _limits(item, shape.member, f"{where}[{i}]", problems)
    elif shape.type_name == "map":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} entries, the model allows {meta['max']}")
        for k, v in value.items():
            _limits(k, shape.key, f"{where} key", problems)
            _limits(v, shape.value, f"{where}[{k}]", problems)


def strict(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """botocore's validation of a request, plus the model's max lengths and enums; returns the request."""
    shape = shape_of(service, operation)
    validate_parameters(params, shape)
    problems: list[str] = []
    _limits(params, shape, f"{service}:{operation}", problems)
    assert problems == []
    return params


def to_api(value: Any, shape: Shape, where: str, rename: dict[str, str] | None = None) -> Any:
    """Planned inputs (camelCase wire names) as the API's shape: members matched case-insensitively
    (or through `rename`), wire numbers to integers, wire "true"/"false" strings to booleans.

    A planned key without a member in the model fails: it would never reach AWS.
    """
    rename = rename or {}
    if shape.type_name == "structure":
        members = {n.lower(): n for n in shape.members}
        out = {}
        for key, item in value.items():
            name = rename.get(key) or members.get(key.lower())
            assert name in shape.members, f"{where}.{key}: no member of {shape.name} (members: {sorted(shape.members)})"
            out[name] = to_api(item, shape.members[name], f"{where}.{name}", rename)
        return out
    if shape.type_name == "list":
        return [to_api(item, shape.member, f"{where}[]", rename) for item in value]
    if shape.type_name == "map":
        return {k: to_api(v, shape.value, f"{where}[{k}]", rename) for k, v in value.items()}
    if shape.type_name in ("integer", "long") and isinstance(value, float):
        assert value.is_integer(), f"{where}: {value} is not an integer"
        return int(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        assert value in ("true", "false"), f"{where}: {value!r} is not a boolean"
        return value == "true"
    return value


# --- the IAM policy grammar ---------------------------------------------------------------------------------

TRUST, IDENTITY, RESOURCE = "trust", "identity", "resource"
#: Quotas from the IAM/S3 user guides (characters, whitespace excluded for IAM).
ROLE_INLINE_QUOTA = 10_240
TRUST_QUOTA = 2_048
BUCKET_POLICY_QUOTA = 20 * 1024


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grammar(doc: dict[str, Any], kind: str) -> list[str]:
    """Problems against the IAM JSON policy grammar for the policy type (empty when AWS would accept it)."""
    problems = []
    if doc.get("Version") != "2012-10-17":
        problems.append("Version must be 2012-10-17 (older versions ignore policy variables)")
    if set(doc) - {"Version", "Id", "Statement"}:
        problems.append(f"unknown top-level elements {sorted(set(doc) - {'Version', 'Id', 'Statement'})}")
    statements = _list(doc.get("Statement"))
    if not statements or statements == [None]:
        return [*problems, "no Statement"]
    sids = [s.get("Sid") for s in statements if "Sid" in s]
    if len(sids) != len(set(sids)):
        problems.append(f"duplicate Sid in {sids}")
    known = {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
    for i, s in enumerate(statements):
        where = f"Statement[{s.get('Sid', i)}]"
        if set(s) - known:
            problems.append(f"{where}: unknown elements {sorted(set(s) - known)}")
        if s.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{where}: Effect must be Allow or Deny")
        if ("Action" in s) == ("NotAction" in s):
            problems.append(f"{where}: exactly one of Action / NotAction")
        if kind == IDENTITY and sids and "Sid" in s and not re.fullmatch(r"[A-Za-z0-9]+", s["Sid"]):
            problems.append(f"{where}: an IAM policy Sid is alphanumeric only")
        has_principal = "Principal" in s or "NotPrincipal" in s
        has_resource = "Resource" in s or "NotResource" in s
        if kind == IDENTITY and has_principal:
            problems.append(f"{where}: an identity policy has no Principal")
        if kind in (TRUST, RESOURCE) and not has_principal:
            problems.append(f"{where}: a {kind} policy needs a Principal")
        if kind == TRUST and has_resource:
            problems.append(f"{where}: a trust policy has no Resource")
        if kind in (IDENTITY, RESOURCE) and not has_resource:
            problems.append(f"{where}: a {kind} policy needs a Resource")
        if kind == TRUST:
            for action in _list(s.get("Action", [])):
                if not action.startswith("sts:"):
                    problems.append(f"{where}: a trust policy allows only sts: actions, not {action}")
        for op, block in (s.get("Condition") or {}).items():
            if not isinstance(block, dict) or not block:
                problems.append(f"{where}: condition {op} needs key/value pairs")
    return problems


def parliament_findings(doc: dict[str, Any], kind: str) -> list[str]:
    """parliament at MEDIUM or above (as tests/test_iam_documents.py judges it)."""
    out = []
    for finding in analyze_policy_string(json.dumps(doc)).findings:
        # parliament reads every document as an identity policy; a trust policy has no Resource by AWS's grammar.
        if kind == TRUST and finding.issue == "MALFORMED" and "neither Resource" in str(finding.detail):
            continue
        if known_false_positive(finding):
            continue
        if finding.issue in ALWAYS_FAIL or severity(finding.issue) in FAIL_SEVERITIES:
            out.append(f"{finding.issue} {finding.detail}")
    return out


def check_policy(text: str, kind: str, where: str) -> dict[str, Any]:
    doc = json.loads(text)
    problems = grammar(doc, kind) + parliament_findings(doc, kind)
    assert problems == [], f"{where}: {problems}"
    return doc


def resources_of(doc: dict[str, Any]) -> list[str]:
    return [r for s in doc["Statement"] for r in _list(s.get("Resource", s.get("NotResource", [])))]


# --- validators, one per kind -------------------------------------------------------------------------------

Docs = list[tuple[str, PlannedResource]]


def v_container_definitions(docs: Docs) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    for _, r in docs:
        request = strict("ecs", "RegisterTaskDefinition", register_request(r.inputs))
        registered = ecs.register_task_definition(**request)["taskDefinition"]
        assert [c["name"] for c in registered["containerDefinitions"]] == [
            c["name"] for c in json.loads(r.inputs["containerDefinitions"])
        ]


def v_task_definition_archive(docs: Docs) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    for _, r in docs:
        archived = json.loads(r.inputs["content"])
        request = strict("ecs", "RegisterTaskDefinition", archived["registerTaskDefinition"])
        assert ecs.register_task_definition(**request)["taskDefinition"]["family"] == request["family"]


def v_launch_template_archive(docs: Docs) -> None:
    for _, r in docs:
        archived = json.loads(r.inputs["content"])
        assert set(archived) == {
            "autoScalingGroupName",
            "containerDefinitions",
            "imageId",
            "instanceType",
            "launchTemplateId",
        }, sorted(archived)
        # The container the instances run, in ECS's container-definition language (its restore path).
        strict(
            "ecs",
            "RegisterTaskDefinition",
            {"family": archived["autoScalingGroupName"], "containerDefinitions": archived["containerDefinitions"]},
        )
        strict(
            "ec2",
            "RunInstances",
            {"ImageId": archived["imageId"], "InstanceType": archived["instanceType"], "MinCount": 1, "MaxCount": 1},
        )


def v_trust_policy(docs: Docs) -> None:
    iam = boto3.client("iam", region_name=REGION)
    for layer, r in docs:
        text = r.inputs["assumeRolePolicy"]
        check_policy(text, TRUST, f"{layer}/{r.name}")
        assert len(re.sub(r"\s", "", text)) <= TRUST_QUOTA, f"{r.name}: trust policy over the default IAM quota"
        strict("iam", "CreateRole", {"RoleName": r.inputs["name"], "AssumeRolePolicyDocument": text})
        iam.create_role(RoleName=r.inputs["name"], AssumeRolePolicyDocument=text)


def v_permission_policy(docs: Docs) -> None:
    iam = boto3.client("iam", region_name=REGION)
    per_role: Counter[str] = Counter()
    for layer, r in docs:
        text = r.inputs["policy"]
        check_policy(text, IDENTITY, f"{layer}/{r.name}")
        per_role[f"{layer}/{r.inputs['role']}"] += len(re.sub(r"\s", "", text))
        # The planned role (an id here) is created in its own check; a stand-in carries its policies.
        role = re.sub(r"[^\w+=,.@-]", "-", f"{layer}-{r.inputs['role']}")[:64]
        if role not in {x["RoleName"] for x in iam.list_roles()["Roles"]}:
            iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ecs.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )
        request = strict(
            "iam",
            "PutRolePolicy",
            {"RoleName": role, "PolicyName": r.inputs.get("name", r.name), "PolicyDocument": text},
        )
        iam.put_role_policy(**request)
    over = {role: n for role, n in per_role.items() if n > ROLE_INLINE_QUOTA}
    assert over == {}, f"inline policies over IAM's {ROLE_INLINE_QUOTA}-character quota per role"


def v_key_policy(docs: Docs) -> None:
    kms = boto3.client("kms", region_name=REGION)
    for layer, r in docs:
        doc = check_policy(r.inputs["policy"], RESOURCE, f"{layer}/{r.name}")
        # In a key policy "*" is the key itself; any other resource never matches.
        assert set(resources_of(doc)) == {"*"}, f"{r.name}: key policy resources {resources_of(doc)}"
        request = strict("kms", "CreateKey", {"Policy": r.inputs["policy"], "Description": r.inputs["description"]})
        key = kms.create_key(**request)["KeyMetadata"]["KeyId"]
        assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == doc


def v_bucket_policy(docs: Docs) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for layer, r in docs:
        bucket = r.inputs["bucket"]
        doc = check_policy(r.inputs["policy"], RESOURCE, f"{layer}/{r.name}")
        # S3 refuses a policy naming other buckets ("Policy has invalid resource").
        foreign = [
            x
            for x in resources_of(doc)
            if x != f"arn:aws:s3:::{bucket}" and not x.startswith(f"arn:aws:s3:::{bucket}/")
        ]
        assert foreign == [], f"{bucket}: resources outside the bucket {foreign}"
        assert len(re.sub(r"\s", "", r.inputs["policy"])) <= BUCKET_POLICY_QUOTA
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_policy(**strict("s3", "PutBucketPolicy", {"Bucket": bucket, "Policy": r.inputs["policy"]}))
        assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == doc


def v_topic_policy(docs: Docs) -> None:
    sns = boto3.client("sns", region_name=REGION)
    for layer, r in docs:
        topic_arn = r.inputs["arn"]
        doc = check_policy(r.inputs["policy"], RESOURCE, f"{layer}/{r.name}")
        assert set(resources_of(doc)) == {topic_arn}, f"{r.name}: topic policy resources {resources_of(doc)}"
        arn = sns.create_topic(Name=topic_arn.rsplit(":", 1)[1])["TopicArn"]
        assert arn == topic_arn
        request = {"TopicArn": arn, "AttributeName": "Policy", "AttributeValue": r.inputs["policy"]}
        sns.set_topic_attributes(**strict("sns", "SetTopicAttributes", request))
        assert json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"]) == doc


def v_logs_resource_policy(docs: Docs) -> None:
    logs = boto3.client("logs", region_name=REGION)
    for layer, r in docs:
        check_policy(r.inputs["policyDocument"], RESOURCE, f"{layer}/{r.name}")
        request = strict(
            "logs",
            "PutResourcePolicy",
            {"policyName": r.inputs["policyName"], "policyDocument": r.inputs["policyDocument"]},
        )
        logs.put_resource_policy(**request)


def v_dashboard(docs: Docs) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION)
    for _, r in docs:
        body = r.inputs["dashboardBody"]
        assert dashboards.validate(json.loads(body)) == [], r.name
        request = strict(
            "cloudwatch", "PutDashboard", {"DashboardName": r.inputs["dashboardName"], "DashboardBody": body}
        )
        assert cw.put_dashboard(**request)["DashboardValidationMessages"] == []


def v_state_machine(docs: Docs) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for _, r in docs:
        i = r.inputs
        AmazonStateLanguageParser.parse(i["definition"])  # raises ASLParserException on a grammar error
        assert check_sdk_tasks(json.loads(i["definition"])) >= 1
        logging = i["loggingConfiguration"]
        request = strict(
            "stepfunctions",
            "CreateStateMachine",
            {
                "name": i["name"],
                "definition": i["definition"],
                "roleArn": i["roleArn"],
                "type": i["type"],
                "loggingConfiguration": {
                    "level": logging["level"],
                    "includeExecutionData": logging["includeExecutionData"],
                    "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}],
                },
                "tracingConfiguration": {"enabled": i["tracingConfiguration"]["enabled"]},
            },
        )
        # With execution on, moto's backend is the one that parses the definition (as Step Functions does).
        created = sfn.create_state_machine(**request)["stateMachineArn"]
        assert sfn.describe_state_machine(stateMachineArn=created)["definition"] == i["definition"]


#: AWS DMS user guide, "Specifying task settings": the sections and the keys of those this project sets.
DMS_SECTIONS: dict[str, set[str] | None] = {
    "TargetMetadata": {
        "TargetSchema",
        "SupportLobs",
        "FullLobMode",
        "LobChunkSize",
        "LimitedSizeLobMode",
        "LobMaxSize",
        "InlineLobMaxSize",
        "LoadMaxFileSize",
        "ParallelLoadThreads",
        "ParallelLoadBufferSize",
        "BatchApplyEnabled",
        "TaskRecoveryTableEnabled",
        "ParallelLoadQueuesPerThread",
        "ParallelApplyThreads",
        "ParallelApplyBufferSize",
        "ParallelApplyQueuesPerThread",
    },
    "FullLoadSettings": {
        "TargetTablePrepMode",
        "CreatePkAfterFullLoad",
        "StopTaskCachedChangesApplied",
        "StopTaskCachedChangesNotApplied",
        "MaxFullLoadSubTasks",
        "TransactionConsistencyTimeout",
        "CommitRate",
    },
    "Logging": {"EnableLogging", "EnableLogContext", "LogComponents"},  # CloudWatchLogGroup/Stream: not on create
    "ValidationSettings": {
        "EnableValidation",
        "ValidationMode",
        "ThreadCount",
        "PartitionSize",
        "FailureMaxCount",
        "RecordFailureDelayInMinutes",
        "RecordSuspendDelayInMinutes",
        "MaxKeyColumnSize",
        "TableFailureMaxCount",
        "ValidationOnly",
        "HandleCollationDiff",
        "RecordFailureDelayLimitInMinutes",
        "SkipLobColumns",
        "ValidationPartialLobSize",
        "ValidationQueryCdcDelaySeconds",
    },
    "ChangeProcessingTuning": {
        "BatchApplyPreserveTransaction",
        "BatchApplyTimeoutMin",
        "BatchApplyTimeoutMax",
        "BatchApplyMemoryLimit",
        "BatchSplitSize",
        "MinTransactionSize",
        "CommitTimeout",
        "MemoryLimitTotal",
        "MemoryKeepTime",
        "StatementCacheSize",
    },
    "ErrorBehavior": {
        "DataErrorPolicy",
        "DataTruncationErrorPolicy",
        "DataErrorEscalationPolicy",
        "DataErrorEscalationCount",
        "TableErrorPolicy",
        "TableErrorEscalationPolicy",
        "TableErrorEscalationCount",
        "RecoverableErrorCount",
        "RecoverableErrorInterval",
        "RecoverableErrorThrottling",
        "RecoverableErrorThrottlingMax",
        "RecoverableErrorStopRetryAfterThrottlingMax",
        "ApplyErrorDeletePolicy",
        "ApplyErrorInsertPolicy",
        "ApplyErrorUpdatePolicy",
        "ApplyErrorEscalationPolicy",
        "ApplyErrorEscalationCount",
        "ApplyErrorFailOnTruncationDdl",
        "FullLoadIgnoreConflicts",
        "FailOnTransactionConsistencyBreached",
        "FailOnNoTablesCaptured",
        "EventErrorPolicy",
    },
    # Sections this project does not set: accepted as a whole.
    "TTSettings": None,
    "ControlTablesSettings": None,
    "StreamBufferSettings": None,
    "ChangeProcessingDdlHandlingPolicy": None,
    "CharacterSetSettings": None,
    "BeforeImageSettings": None,
    "LoopbackPreventionSettings": None,
    "PostProcessingRules": None,
    "FailTaskWhenCleanTaskResourceFailed": None,
}
DMS_LOG_COMPONENTS = {
    "TRANSFORMATION",
    "SOURCE_UNLOAD",
    "IO",
    "TARGET_LOAD",
    "PERFORMANCE",
    "SOURCE_CAPTURE",
    "SORTER",
    "REST_SERVER",
    "VALIDATOR_EXT",
    "TARGET_APPLY",
    "TASK_MANAGER",
    "TABLES_MANAGER",
    "METADATA_MANAGER",
    "FILE_FACTORY",
    "COMMON",
    "ADDONS",
    "DATA_STRUCTURE",
    "COMMUNICATION",
    "FILE_TRANSFER",
}
DMS_SEVERITIES = {
    "LOGGER_SEVERITY_DEFAULT",
    "LOGGER_SEVERITY_ERROR",
    "LOGGER_SEVERITY_WARNING",
    "LOGGER_SEVERITY_INFO",
    "LOGGER_SEVERITY_DEBUG",
    "LOGGER_SEVERITY_DETAILED_DEBUG",
}
DMS_ERROR_POLICIES = {"IGNORE_RECORD", "LOG_ERROR", "SUSPEND_TABLE", "STOP_TASK"}


def dms_settings_problems(settings: dict[str, Any]) -> list[str]:
    problems = [f"unknown section {s}" for s in settings if s not in DMS_SECTIONS]
    for section, keys in DMS_SECTIONS.items():
        body = settings.get(section)
        if body is None or keys is None:
            continue
        problems += [f"{section}.{k} is not a {section} setting" for k in body if k not in keys]
    full_load = settings.get("FullLoadSettings", {})
    if full_load.get("TargetTablePrepMode", "DO_NOTHING") not in {
        "DO_NOTHING",
        "DROP_AND_CREATE",
        "TRUNCATE_BEFORE_LOAD",
    }:
        problems.append(f"FullLoadSettings.TargetTablePrepMode {full_load['TargetTablePrepMode']!r}")
    for c in settings.get("Logging", {}).get("LogComponents", []):
        if c.get("Id") not in DMS_LOG_COMPONENTS or c.get("Severity") not in DMS_SEVERITIES:
            problems.append(f"Logging.LogComponents {c}")
    meta = settings.get("TargetMetadata", {})
    if meta.get("SupportLobs") and not (
        meta.get("FullLobMode") or meta.get("LimitedSizeLobMode") or meta.get("InlineLobMaxSize")
    ):
        problems.append("TargetMetadata: SupportLobs needs FullLobMode, LimitedSizeLobMode or InlineLobMaxSize")
    if meta.get("LimitedSizeLobMode") and not 0 < meta.get("LobMaxSize", 0) <= 102_400:
        problems.append("TargetMetadata.LobMaxSize must be 1-102400 KB in limited LOB mode")
    for key, value in settings.get("ErrorBehavior", {}).items():
        if key.endswith("Policy") and value not in DMS_ERROR_POLICIES:
            problems.append(f"ErrorBehavior.{key} {value!r}")
    validation = settings.get("ValidationSettings", {})
    if validation.get("ValidationMode", "ROW_LEVEL") not in {"ROW_LEVEL", "GROUP_LEVEL"}:
        problems.append(f"ValidationSettings.ValidationMode {validation['ValidationMode']!r}")
    return problems


def dms_mapping_problems(mappings: dict[str, Any]) -> list[str]:
    problems = [f"unknown top-level key {k}" for k in mappings if k != "rules"]
    rules = mappings.get("rules") or []
    selections = [r for r in rules if r.get("rule-type") == "selection"]
    if not selections:
        problems.append("a table mapping needs at least one selection rule")
    ids = [r.get("rule-id") for r in rules]
    names = [r.get("rule-name") for r in rules]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        problems.append("rule-id and rule-name must be unique")
    for r in rules:
        where = f"rule {r.get('rule-name')}"
        if not str(r.get("rule-id", "")).isdigit():
            problems.append(f"{where}: rule-id must be numeric")
        if r.get("rule-type") not in ("selection", "transformation", "table-settings"):
            problems.append(f"{where}: rule-type {r.get('rule-type')!r}")
        if r.get("rule-type") == "selection":
            known = {"rule-type", "rule-id", "rule-name", "object-locator", "rule-action", "load-order", "filters"}
            problems += [f"{where}: unknown key {k}" for k in r if k not in known]
            if r.get("rule-action") not in ("include", "exclude", "explicit"):
                problems.append(f"{where}: rule-action {r.get('rule-action')!r}")
            locator = r.get("object-locator") or {}
            if not {"schema-name", "table-name"} <= set(locator) or set(locator) - {
                "schema-name",
                "table-name",
                "table-type",
            }:
                problems.append(f"{where}: object-locator needs schema-name and table-name, got {sorted(locator)}")
            if r.get("rule-action") == "explicit" and "%" in json.dumps(locator):
                problems.append(f"{where}: explicit selection takes no wildcard")
    return problems


def _dms_request(i: dict[str, Any]) -> dict[str, Any]:
    return strict(
        "dms",
        "CreateReplicationTask",
        {
            "ReplicationTaskIdentifier": i["replicationTaskId"],
            "SourceEndpointArn": i["sourceEndpointArn"],
            "TargetEndpointArn": i["targetEndpointArn"],
            "ReplicationInstanceArn": i["replicationInstanceArn"],
            "MigrationType": i["migrationType"],
            "TableMappings": i["tableMappings"],
            "ReplicationTaskSettings": i["replicationTaskSettings"],
            "ResourceIdentifier": i["resourceIdentifier"],
        },
    )


def v_dms_table_mappings(docs: Docs) -> None:
    dms = boto3.client("dms", region_name=REGION)
    for _, r in docs:
        assert dms_mapping_problems(json.loads(r.inputs["tableMappings"])) == [], r.name
        task = dms.create_replication_task(**_dms_request(r.inputs))["ReplicationTask"]
        assert json.loads(task["TableMappings"]) == json.loads(r.inputs["tableMappings"])


def v_dms_task_settings(docs: Docs) -> None:
    dms = boto3.client("dms", region_name=REGION)
    for _, r in docs:
        assert dms_settings_problems(json.loads(r.inputs["replicationTaskSettings"])) == [], r.name
        dms.create_replication_task(**_dms_request(r.inputs))


def v_default_tags(docs: Docs) -> None:
    for layer, r in docs:
        tags = json.loads(r.inputs["defaultTags"])
        assert set(tags) == {"tags"}, f"{layer}: defaultTags holds {sorted(tags)}"
        assert not [k for k in tags["tags"] if k.lower().startswith("aws:")], "the aws: prefix is reserved"
        strict(
            "resourcegroupstaggingapi",
            "TagResources",
            {"ResourceARNList": [f"arn:aws:s3:::{layer}"], "Tags": tags["tags"]},
        )


def v_backup_plan(docs: Docs) -> None:
    backup = boto3.client("backup", region_name=REGION)
    for _, r in docs:
        rules = [backup_rule(rule) for rule in r.inputs["rules"]]
        mapped = {
            "ruleName",
            "targetVaultName",
            "schedule",
            "startWindow",
            "completionWindow",
            "lifecycle",
            "recoveryPointTags",
            "enableContinuousBackup",
        }
        assert all(set(rule) <= mapped for rule in r.inputs["rules"]), "a planned rule input is not mapped"
        for rule in rules:
            with contextlib.suppress(backup.exceptions.AlreadyExistsException):
                backup.create_backup_vault(BackupVaultName=rule["TargetBackupVaultName"])
        request = strict(
            "backup", "CreateBackupPlan", {"BackupPlan": {"BackupPlanName": r.inputs["name"], "Rules": rules}}
        )
        plan_id = backup.create_backup_plan(**request)["BackupPlanId"]
        assert len(backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"]) == len(rules)


def v_backup_selection(docs: Docs) -> None:
    for _, r in docs:
        i = r.inputs
        assert set(i) <= {"name", "iamRoleArn", "planId", "resources"}, sorted(i)
        strict(
            "backup",
            "CreateBackupSelection",
            {
                "BackupPlanId": i["planId"],
                "BackupSelection": {
                    "SelectionName": i["name"],
                    "IamRoleArn": i["iamRoleArn"],
                    "Resources": i["resources"],
                },
            },
        )


def v_web_acl(docs: Docs) -> None:
    waf = boto3.client("wafv2", region_name=REGION)
    shape = shape_of("wafv2", "CreateWebACL")
    for _, r in docs:
        request = to_api({k: v for k, v in r.inputs.items() if k != "tags"}, shape, "CreateWebACL")
        created = waf.create_web_acl(**strict("wafv2", "CreateWebACL", request))["Summary"]
        stored = waf.get_web_acl(Name=created["Name"], Scope=request["Scope"], Id=created["Id"])["WebACL"]
        assert [x["Name"] for x in stored["Rules"]] == [x["Name"] for x in request["Rules"]]


def v_waf_logging(docs: Docs) -> None:
    waf = boto3.client("wafv2", region_name=REGION)
    shape = shape_of("wafv2", "PutLoggingConfiguration").members["LoggingConfiguration"]
    for _, r in docs:
        config = to_api(r.inputs, shape, "LoggingConfiguration")
        # The planned web ACL does not exist in the emulator: an equivalent one stands in.
        acl = waf.create_web_acl(
            Name=f"standin-{r.name}",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            VisibilityConfig={
                "SampledRequestsEnabled": False,
                "CloudWatchMetricsEnabled": False,
                "MetricName": "standin",
            },
        )["Summary"]["ARN"]
        request = strict("wafv2", "PutLoggingConfiguration", {"LoggingConfiguration": {**config, "ResourceArn": acl}})
        stored = waf.put_logging_configuration(**request)["LoggingConfiguration"]
        assert stored["LogDestinationConfigs"] == config["LogDestinationConfigs"]


def _aws_event(pattern: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event AWS documents for a pattern's source (one that must match), and a near miss (one that must not)."""
    base = {"version": "0", "id": "5", "account": ACCOUNT, "region": REGION, "time": "2026-12-02T00:00:00Z"}
    if pattern["source"] == ["aws.states"]:
        machine = pattern["detail"]["stateMachineArn"][0]
        execution = machine.replace(":stateMachine:", ":execution:") + ":run-1"
        event = {**base, "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
                 "resources": [execution],
                 "detail": {"executionArn": execution, "stateMachineArn": machine, "name": "run-1",
                            "status": "ABORTED", "startDate": 1, "stopDate": 2, "input": "{}", "output": None}}
        return event, {**event, "detail": {**event["detail"], "status": "SUCCEEDED"}}
    alarm = pattern["resources"][0]
    event = {**base, "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": [alarm],
             "detail": {"alarmName": alarm.rsplit(":", 1)[1], "state": {"value": "ALARM"},
                        "previousState": {"value": "OK"}}}
    return event, {**event, "detail": {**event["detail"], "state": {"value": "OK"}}}


def v_event_pattern(docs: Docs) -> None:
    from moto.events.models import EventPattern

    events = boto3.client("events", region_name=REGION)
    for _, r in docs:
        pattern = json.loads(r.inputs["eventPattern"])
        rule = {"Name": r.inputs["name"], "EventPattern": r.inputs["eventPattern"]}
        events.put_rule(**strict("events", "PutRule", rule))
        matching, near_miss = _aws_event(pattern)
        for event, expected in ((matching, True), (near_miss, False)):
            strict("events", "TestEventPattern", {"EventPattern": r.inputs["eventPattern"], "Event": json.dumps(event)})
            # moto answers TestEventPattern with nothing: its rule matcher (what fires rules) decides instead.
            assert EventPattern.load(r.inputs["eventPattern"]).matches_event(event) is expected, (r.name, event)


def v_input_template(docs: Docs) -> None:
    from moto.events.utils import EventTemplateParser

    events = boto3.client("events", region_name=REGION)
    for _, r in docs:
        transformer = r.inputs["inputTransformer"]
        events.put_rule(Name=r.inputs["rule"], EventPattern=json.dumps({"source": ["aws.states"]}))
        target = {"Id": "t", "Arn": r.inputs["arn"], "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
                  "InputTransformer": {"InputPathsMap": transformer["inputPaths"],
                                       "InputTemplate": transformer["inputTemplate"]}}
        events.put_targets(**strict("events", "PutTargets", {"Rule": r.inputs["rule"], "Targets": [target]}))
        source = "aws.states" if "execution" in transformer["inputPaths"] else "aws.cloudwatch"
        machine = r.inputs["arn"].replace("rollback", "cutover")
        pattern = ({"source": [source], "detail": {"stateMachineArn": [machine]}} if source == "aws.states"
                   else {"source": [source], "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:gate"]})
        event, _ = _aws_event(pattern)
        rendered = EventTemplateParser.parse(transformer["inputTemplate"], transformer["inputPaths"],
                                             {**event, "ingestion-time": 0})
        assert rendered["trigger"] in ("execution-ended", "gate-alarm"), rendered
        if rendered["trigger"] == "execution-ended":
            assert rendered["executionArn"] == event["detail"]["executionArn"], rendered


def v_queue_policy(docs: Docs) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    for layer, r in docs:
        doc = check_policy(r.inputs["policy"], RESOURCE, f"{layer}/{r.name}")
        (queue_arn,) = set(resources_of(doc))
        url = sqs.create_queue(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        request = {"QueueUrl": url, "Attributes": {"Policy": r.inputs["policy"]}}
        sqs.set_queue_attributes(**strict("sqs", "SetQueueAttributes", request))
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        assert json.loads(got) == doc


def v_ssm_parameter(docs: Docs) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    standin_key = None
    for _, r in docs:
        i = r.inputs
        value = i.get("insecureValue", i.get("value"))
        assert value is not None, f"{r.name}: no value"
        if value == SECRET:  # secret in the plan (never printed); a value of the same kind stands in
            value = "placeholder"
        request = {"Name": i["name"], "Type": i["type"], "Value": value, "Description": i.get("description", "")}
        if "tier" in i:
            request["Tier"] = i["tier"]
        if "keyId" in i:
            request["KeyId"] = i["keyId"]
        strict("ssm", "PutParameter", request)
        if "KeyId" in request:  # the planned key does not exist in the emulator
            standin_key = standin_key or kms.create_key()["KeyMetadata"]["KeyId"]
            request["KeyId"] = standin_key
        assert ssm.put_parameter(**request)["Version"] == 1


def v_launch_template(docs: Docs) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    data_shape = shape_of("ec2", "CreateLaunchTemplate").members["LaunchTemplateData"]
    for _, r in docs:
        i = dict(r.inputs)
        script = base64.b64decode(i["userData"], validate=True)
        assert len(script) <= 16 * 1024, "EC2 user data is limited to 16 KB before base64"
        assert script.startswith(b"#!/bin/bash\n")
        syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, check=False)
        assert syntax.returncode == 0, syntax.stderr.decode()
        top = {"name": "LaunchTemplateName", "description": "VersionDescription"}
        pulumi_only = {"updateDefaultVersion", "tags"}  # provider behaviour, not template data
        template = {k: v for k, v in i.items() if k not in top and k not in pulumi_only}
        for spec in template.get("tagSpecifications", []):
            spec["tags"] = [{"Key": k, "Value": v} for k, v in spec["tags"].items()]
        data = to_api(template, data_shape, "LaunchTemplateData", rename={"securityGroups": "Groups"})
        request = {"LaunchTemplateName": i.get("name") or f"lt-{r.name}", "LaunchTemplateData": data}
        if "description" in i:
            request["VersionDescription"] = i["description"]
        created = ec2.create_launch_template(**strict("ec2", "CreateLaunchTemplate", request))["LaunchTemplate"]
        stored = ec2.describe_launch_template_versions(LaunchTemplateId=created["LaunchTemplateId"])
        assert stored["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"] == i["userData"]


#: Pulumi's condition blocks -> the API's Field and config member.
RULE_CONDITIONS = {"httpHeader": ("http-header", "HttpHeaderConfig"),
                   "httpRequestMethod": ("http-request-method", "HttpRequestMethodConfig")}


def v_listener_rule(docs: Docs) -> None:
    from payments.layers.edge import write_pause

    elbv2, ec2 = boto3.client("elbv2", region_name=REGION), boto3.client("ec2", region_name=REGION)
    shape = shape_of("elbv2", "CreateRule")
    # The planned listener does not exist in the emulator: an equivalent one stands in.
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"][
        "SubnetId"] for i, z in enumerate("ab")]
    lb = elbv2.create_load_balancer(Name="standin", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    for _, r in docs:
        i = r.inputs
        actions = [to_api({k: v for k, v in a.items() if k != "fixedResponse"}, shape.members["Actions"].member,
                          "Actions[]") | {"FixedResponseConfig": to_api(a["fixedResponse"], shape.members["Actions"]
                                          .member.members["FixedResponseConfig"], "FixedResponseConfig")}
                   for a in i["actions"]]
        conditions = []
        for c in i["conditions"]:
            (block, value), = c.items()
            field, member = RULE_CONDITIONS[block]
            config_shape = shape.members["Conditions"].member.members[member]
            conditions.append({"Field": field, member: to_api(value, config_shape, member)})
        for a in actions:
            body = a["FixedResponseConfig"].get("MessageBody", "")
            assert len(body) <= 1024 and json.loads(body), body
        request = {"ListenerArn": listener, "Priority": int(i["priority"]), "Actions": actions,
                   "Conditions": conditions}
        rule = elbv2.create_rule(**strict("elbv2", "CreateRule", request))["Rules"][0]["RuleArn"]
        for swap in (write_pause.paused_conditions(), conditions):
            elbv2.modify_rule(**strict("elbv2", "ModifyRule", {"RuleArn": rule, "Conditions": swap}))
            stored = elbv2.describe_rules(RuleArns=[rule])["Rules"][0]["Conditions"]
            assert [c["Field"] for c in stored] == [c["Field"] for c in swap]


VALIDATORS: dict[str, Callable[[Docs], None]] = {
    "elbv2-listener-rule": v_listener_rule,
    "ecs-container-definitions": v_container_definitions,
    "task-definition-archive": v_task_definition_archive,
    "launch-template-archive": v_launch_template_archive,
    "iam-trust-policy": v_trust_policy,
    "iam-permission-policy": v_permission_policy,
    "kms-key-policy": v_key_policy,
    "s3-bucket-policy": v_bucket_policy,
    "sns-topic-policy": v_topic_policy,
    "logs-resource-policy": v_logs_resource_policy,
    "cloudwatch-dashboard-body": v_dashboard,
    "sfn-definition": v_state_machine,
    "dms-table-mappings": v_dms_table_mappings,
    "dms-task-settings": v_dms_task_settings,
    "provider-default-tags": v_default_tags,
    "backup-plan": v_backup_plan,
    "backup-selection": v_backup_selection,
    "wafv2-web-acl": v_web_acl,
    "wafv2-logging-configuration": v_waf_logging,
    "ssm-parameter": v_ssm_parameter,
    "launch-template-data": v_launch_template,
    "eventbridge-event-pattern": v_event_pattern,
    "eventbridge-input-template": v_input_template,
    "sqs-queue-policy": v_queue_policy,
}
@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_planned_documents_pass_aws_models(kind: str) -> None:
    """Each profile's documents of `kind`, in a fresh emulator; all profiles run, failures are reported together."""
    failures: dict[str, str] = {}
    validated = 0
    for profile in PROFILES:
        docs = documents(planned(profile), BY_NAME[kind])
        if not docs:
            continue
        try:
            with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
                VALIDATORS[kind](docs)
            validated += len(docs)
        except (AssertionError, ParamValidationError, ASLParserException, ClientError) as exc:
            failures[profile] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    assert validated or failures, f"no profile generates {kind}"
    assert failures == {}, failures


def test_every_kind_has_a_validator_and_appears_somewhere() -> None:
    assert set(VALIDATORS) == set(BY_NAME)
    missing = [k.name for k in KINDS if not any(count(p, k) for p in PROFILES)]
    assert missing == [], f"inventory kinds no profile generates (stale inventory?): {missing}"


# --- the guard: no JSON document outside the inventory -------------------------------------------------------


def json_inputs(value: Any, path: str = "") -> Iterator[str]:
    """Paths of the string values that hold a JSON object or array."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                json.loads(text)
            except ValueError:
                return
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from json_inputs(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from json_inputs(v, f"{path}[]")


@pytest.mark.parametrize("profile", PROFILES)
def test_no_json_document_outside_the_inventory(profile: str) -> None:
    known = {(k.type, k.key) for k in KINDS if k.json}
    unknown = sorted(
        {(r.type, path) for lp in planned(profile).layers for r in lp.resources for path in json_inputs(r.inputs)}
        - known
    )
    assert unknown == [], (
        f"JSON-valued inputs no test validates: {unknown}. Fix: add a Kind and a validator in tests/test_aws_models.py"
    )


def test_guard_sees_a_new_document_type() -> None:
    """The guard can fail: a resource with a JSON-valued input of a new type is reported."""
    fake = {"queuePolicy": json.dumps({"Version": "2012-10-17", "Statement": []}), "name": "{not json"}
    assert list(json_inputs(fake)) == ["queuePolicy"]
    assert list(json_inputs({"nested": [{"doc": "[1, 2]"}]})) == ["nested[].doc"]


# --- the validators can fail --------------------------------------------------------------------------------


def test_strict_validation_enforces_model_limits_botocore_leaves_to_the_service() -> None:
    long_doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "x" * 60_000}]})
    with pytest.raises(AssertionError, match="the model allows 51200"):
        strict("logs", "PutResourcePolicy", {"policyName": "p", "policyDocument": long_doc})
    with pytest.raises(AssertionError, match="is not one of"):
        strict("ssm", "PutParameter", {"Name": "/x", "Value": "v", "Type": "Text"})
    with pytest.raises(ParamValidationError):
        strict("backup", "CreateBackupPlan", {"BackupPlan": {"BackupPlanName": "p", "Rules": [{"RuleName": "r"}]}})


def test_conversion_refuses_a_key_the_api_does_not_have() -> None:
    acl = dict(documents(planned("dev"), BY_NAME["wafv2-web-acl"])[0][1].inputs)
    acl["rules"] = [{**acl["rules"][0], "statement": {"rateBasedStatment": {"limit": 100.0}}}]
    with pytest.raises(AssertionError, match="rateBasedStatment: no member"):
        to_api(acl, shape_of("wafv2", "CreateWebACL"), "CreateWebACL")


def test_asl_parser_rejects_a_broken_definition() -> None:
    definition = json.loads(documents(planned("dev"), BY_NAME["sfn-definition"])[0][1].inputs["definition"])
    first = definition["StartAt"]
    definition["States"][first]["Type"] = "Wait4"
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(json.dumps(definition))


@pytest.mark.parametrize(
    ("doc", "kind", "words"),
    [
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]},
            TRUST,
            "needs a Principal",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}],
            },
            IDENTITY,
            "has no Principal",
        ),
        (
            {"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
            IDENTITY,
            "Version",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}]},
            IDENTITY,
            "Effect",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish"}],
            },
            RESOURCE,
            "needs a Resource",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "s3:GetObject"}
                ],
            },
            TRUST,
            "only sts: actions",
        ),
    ],
)
def test_policy_grammar_catches_what_aws_refuses(doc: dict[str, Any], kind: str, words: str) -> None:
    assert any(words in p for p in grammar(doc, kind)), grammar(doc, kind)


def test_dms_schemas_catch_misplaced_settings_and_bad_rules() -> None:
    assert dms_settings_problems({"ChangeProcessingTuning": {"BatchApplyEnabled": False}}) == [
        "ChangeProcessingTuning.BatchApplyEnabled is not a ChangeProcessingTuning setting"
    ]
    assert dms_settings_problems({"TargetMetadata": {"BatchApplyEnabled": False}}) == []
    assert "unknown section Loging" in dms_settings_problems({"Loging": {}})
    bad = {
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": "one",
                "rule-name": "a",
                "rule-action": "explicit",
                "object-locator": {"schema-name": "payments", "table-name": "%"},
            }
        ]
    }
    problems = dms_mapping_problems(bad)
    assert any("numeric" in p for p in problems) and any("wildcard" in p for p in problems)


def test_user_data_checks_fail_on_a_broken_script() -> None:
    lt = documents(planned("compact"), BY_NAME["launch-template-data"])[0]
    broken = base64.b64encode(base64.b64decode(lt[1].inputs["userData"]) + b"\nif then fi\n").decode()
    bad = dataclasses.replace(lt[1], inputs={**lt[1].inputs, "userData": broken})
    with mock_aws(), pytest.raises(AssertionError, match="syntax error"):
        v_launch_template([(lt[0], bad)])


# --- docs/validation.md is the inventory, with the counts computed here --------------------------------------


def table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_validation_doc_lists_every_kind_with_its_counts() -> None:
    rows = table_rows()
    assert set(rows) == set(BY_NAME), f"docs/validation.md kinds differ: {set(rows) ^ set(BY_NAME)}"
    wrong = {}
    for kind in KINDS:
        counts = [str(count(p, kind)) for p in PROFILES]
        if rows[kind.name][-len(PROFILES) :] != counts:
            wrong[kind.name] = f"expected counts {' | '.join(counts)} ({', '.join(PROFILES)})"
    assert wrong == {}, wrong
