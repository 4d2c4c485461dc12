"""The embedded AWS emulator (moto) with the small adapter that bridges its known gaps.

Everything that makes moto run our state machines lives here, and none of it
touches a definition: the definition that runs is the one the offline plan
produced, byte for byte. The gaps, all in moto 5.x's Step Functions
``aws-sdk:`` task (``StateTaskServiceAwsSdk``), and what we do about them:

1. Service names. Step Functions names services after the SDK models
   (``elasticloadbalancingv2``, ``databasemigration``); moto hands the name
   straight to ``boto3.client``, which knows them as ``elbv2`` and ``dms``.
   -> map the name before the client is built (keeping moto's own sfn mapping).
2. Parameter casing. Step Functions takes PascalCase parameters even for
   camelCase APIs (ECS: ``Cluster``, ``Services``) and returns PascalCase
   results (``Services[0].RunningCount``); moto passes both through untouched.
   -> rename request keys to the operation's input shape and response keys to
   PascalCase, with the botocore shape walkers moto already ships.
3. Dates. Some responses carry ``datetime`` values (``cloudwatch:describeAlarms``,
   ``ssm:getParameter``, ``ecs:describeServices``) that moto cannot serialise
   into the state's JSON. -> ISO-8601 strings, as Step Functions gives them.
4. JSONPath. moto returns a definite path that crosses an array index
   (``$.Services[0].RunningCount``) as a one-element list, where Step
   Functions returns the value (moto issue 7825's fix overshoots), so Choice
   rules on such paths never match. -> definite paths give their value;
   wildcards, slices, filters and deep scans still give lists.
5. Identifiers. moto picks random suffixes for ARNs it creates; the planned
   definition names the planned ARNs. -> stand-ins are re-keyed to the planned
   ARNs (:func:`pin_target_group`, :func:`pin_listener`, :func:`pin_dms_task`),
   so the definition needs no rewriting.

Step Functions ARNs, SNS topics, SSM parameters, alarms and ECS names need no
pinning: moto derives them from the name, account and region exactly as the
planner fabricates them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import botocore.session

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  #: moto's default account; the planner fabricates ARNs in the same one

#: Step Functions service name -> boto3 client name, where they differ.
SERVICE_NAMES = {"elasticloadbalancingv2": "elbv2", "databasemigration": "dms", "sfn": "stepfunctions"}

_models = botocore.session.get_session()


def _operation(task: Any) -> Any:
    service = SERVICE_NAMES.get(task.resource.api_name, task.resource.api_name)
    action = task.resource.api_action
    return _models.get_service_model(service).operation_model(action[:1].upper() + action[1:])


def _iso_dates(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    return value


def _boto_service_name(self: Any, boto_service_name: str | None = None) -> str:  # gap 1
    name = boto_service_name or self.resource.api_name
    return SERVICE_NAMES.get(name, name)


def _normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:  # gap 2, requests
    self._to_boto_request(parameters, _operation(self).input_shape)


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:  # gaps 2 and 3, responses
    if not isinstance(response, dict):
        return
    fixed = _iso_dates(response)
    response.clear()
    response.update(fixed)
    shape = _operation(self).output_shape
    if shape is not None:
        self._from_boto_response(response, shape)


#: A path is indefinite (yields a list) when it has a wildcard, slice, filter, union or deep scan.
_INDEFINITE = re.compile(r"\*|\.\.|\[[^\]]*[:?,][^\]]*\]")


def extract_json(path: str, data: Any) -> Any:  # gap 4
    from jsonpath_ng.ext import parse
    from moto.stepfunctions.parser.asl.utils import json_path

    matches = parse(path).find(data)
    if _INDEFINITE.search(path):
        return [match.value for match in matches]
    if not matches:
        raise json_path.NoSuchJsonPathError(json_path=path, data=data)
    return matches[0].value


def _json_path_patches() -> list[Any]:
    """Every moto Step Functions module that imported moto's extract_json, patched to ours."""
    import moto.stepfunctions.parser.asl.parse.asl_parser  # noqa: F401 - loads the modules that import it
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json
    return [
        mock.patch.object(module, "extract_json", extract_json)
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "extract_json", None) is original
    ]


@contextlib.contextmanager
def emulator(region: str = REGION) -> Iterator[None]:
    """moto with state-machine execution on, the adapter patched in, and throwaway credentials."""
    from moto import mock_aws
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

    sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    fake_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
    }
    with contextlib.ExitStack() as stack:
        # Never let a real profile or credential leak into (or out of) the emulator.
        stack.enter_context(mock.patch.dict(os.environ, fake_env))
        for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(var, None)
        stack.enter_context(mock.patch.object(sdk_task, "_get_boto_service_name", _boto_service_name))
        stack.enter_context(mock.patch.object(sdk_task, "_normalise_parameters", _normalise_parameters))
        stack.enter_context(mock.patch.object(sdk_task, "_normalise_response", _normalise_response))
        for patch in _json_path_patches():
            stack.enter_context(patch)
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        # The interpreter logs every caught error (IsPresent probes included) at ERROR level: noise, not news.
        quiet = logging.getLogger("moto.stepfunctions.parser")
        stack.callback(quiet.setLevel, quiet.level)
        quiet.setLevel(logging.CRITICAL)
        yield


# --- gap 5: planned identifiers ---------------------------------------------------


def _elbv2(region: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[ACCOUNT_ID][region]


def pin_target_group(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    backend = _elbv2(region)
    group = backend.target_groups.pop(current_arn)
    group.arn = planned_arn
    backend.target_groups[planned_arn] = group


def pin_listener(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    for balancer in _elbv2(region).load_balancers.values():
        if current_arn in balancer.listeners:
            listener = balancer.listeners.pop(current_arn)
            listener.arn = planned_arn
            for rule in listener._default_rule.values():
                rule.listener_arn = planned_arn
            balancer.listeners[planned_arn] = listener
            return
    raise KeyError(current_arn)


def pin_dms_task(current_arn: str, planned_arn: str, region: str = REGION) -> None:
    """Re-key the task to its planned ARN and make it 'ready' (moto leaves new tasks 'creating' forever)."""
    from moto.dms.models import dms_backends

    backend = dms_backends[ACCOUNT_ID][region]
    task = backend.replication_tasks.pop(current_arn)
    task.arn = planned_arn
    backend.replication_tasks[planned_arn] = task
    task.ready()
