"""The app's generated AWS documents against AWS's own API models (botocore validation in the moto emulator).

botocore validates every request against the service model before moto sees
it, so a misspelt key, a wrong type or a missing required field in the
container definitions fails here, not at deploy time.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from moto import mock_aws

from tests.support import of_type, one, plan

EC2 = {"edge": {"computeMode": "ec2"}, "app": {"computeMode": "ec2"}}


def register_request(task: dict[str, Any]) -> dict[str, Any]:
    """RegisterTaskDefinition's request from the planned task definition's inputs."""
    i = task
    return {
        "family": i["family"],
        "containerDefinitions": json.loads(i["containerDefinitions"]),
        "cpu": i["cpu"],
        "memory": i["memory"],
        "networkMode": i["networkMode"],
        "requiresCompatibilities": i["requiresCompatibilities"],
        "executionRoleArn": i["executionRoleArn"],
        "taskRoleArn": i["taskRoleArn"],
        "runtimePlatform": i["runtimePlatform"],
        "volumes": i["volumes"],
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_container_definitions_pass_ecs_register_task_definition(env: str) -> None:
    lp = plan(env, ["app"]).layer("app")
    request = register_request(one(lp, "aws:ecs/taskDefinition:TaskDefinition").inputs)
    with mock_aws():
        ecs = boto3.client("ecs", region_name="us-east-1")
        registered = ecs.register_task_definition(**request)["taskDefinition"]
        assert registered["family"] == f"app-{env}"
        (container,) = registered["containerDefinitions"]
        assert container["readonlyRootFilesystem"] is True and container["user"] == "1000:1000"
        assert {s["name"] for s in container["secrets"]} >= {"DB_USERNAME", "DB_PASSWORD", "DB_HOST"}
        # The archived copy is the same request: a restore is one call.
        archived = json.loads(one(lp, "aws:s3/bucketObjectv2:BucketObjectv2").inputs["content"])
        again = ecs.register_task_definition(**archived["registerTaskDefinition"])["taskDefinition"]
        assert again["revision"] == 2 and again["containerDefinitions"] == registered["containerDefinitions"]


def test_botocore_rejects_a_malformed_container_definition() -> None:
    """The check above can fail: a wrong type in a container definition is refused before any call."""
    lp = plan("dev", ["app"]).layer("app")
    request = register_request(one(lp, "aws:ecs/taskDefinition:TaskDefinition").inputs)
    request["containerDefinitions"][0]["portMappings"][0]["containerPort"] = "8080"
    with mock_aws(), pytest.raises(ParamValidationError):
        boto3.client("ecs", region_name="us-east-1").register_task_definition(**request)


@pytest.mark.parametrize("overrides", [None, EC2], ids=["fargate", "ec2"])
def test_iam_documents_are_accepted_by_iam(overrides: dict | None) -> None:
    lp = plan("dev", ["app"], overrides).layer("app")
    roles = {r.id: r for r in of_type(lp, "aws:iam/role:Role")}
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        for role in roles.values():
            iam.create_role(RoleName=role.inputs["name"], AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"])
        for policy in of_type(lp, "aws:iam/rolePolicy:RolePolicy"):
            role = roles[policy.inputs["role"]]
            iam.put_role_policy(
                RoleName=role.inputs["name"], PolicyName=policy.inputs["name"], PolicyDocument=policy.inputs["policy"]
            )
        assert len(iam.list_roles()["Roles"]) == len(roles)
