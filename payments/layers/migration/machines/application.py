"""The application stage of a cutover: the target service runs the requested release, stable, every target healthy.

"Stable" is stricter than ``aws ecs wait services-stable`` (one deployment, running = desired): with the
deployment circuit breaker's rollback on, a failed release rolls back to the previous task definition, and then
"one deployment, running = desired" is true for the *old* release. So the primary (and only) deployment must run
exactly the task definition this cutover asked for, and its rollout must be ``COMPLETED``. A failed rollout, or a
service settled on another task definition, aborts at once with nothing moved.
"""

from __future__ import annotations

from payments.layers.migration.machines.asl import States, absent, equals, error, present, sdk, task
from payments.layers.migration.machines.targets import Targets

#: What DescribeServices leaves in the state: parallel lists, index 0 the first (primary) deployment.
SERVICE_FIELDS = {
    "taskDefinition.$": "$.Services[*].TaskDefinition",
    "running.$": "$.Services[*].RunningCount",
    "desired.$": "$.Services[*].DesiredCount",
    "status.$": "$.Services[*].Deployments[*].Status",
    "release.$": "$.Services[*].Deployments[*].TaskDefinition",
    "rollout.$": "$.Services[*].Deployments[*].RolloutState",
    "failed.$": "$.Services[*].Deployments[?(@.RolloutState == 'FAILED')].TaskDefinition",
}


def _deploy(targets: Targets) -> States:
    """Deploy the given task definition, or keep the service's own and only scale it; remember which is expected."""
    cluster = targets.cluster_name or ""
    return {
        "TargetHasService": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.pools.target.hasService", "BooleanEquals": True, "Next": "TaskDefinitionGiven"}
            ],
            "Default": "StartAppWait",
        },
        "TaskDefinitionGiven": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.config.taskDefinition"),
                        {"Variable": "$.config.taskDefinition", "IsString": True},
                    ],
                    "Next": "DeployTargetService",
                }
            ],
            "Default": "ReadTargetService",
        },
        "DeployTargetService": task(
            sdk("ecs", "updateService"),
            {
                "Cluster": cluster,
                "Service.$": "$.pools.target.service",
                "TaskDefinition.$": "$.config.taskDefinition",
                "DesiredCount.$": "$.config.desiredCount",
            },
            "ExpectGiven",
            catch="Abort",
        ),
        "ExpectGiven": {
            "Type": "Pass",
            "Parameters": {"taskDefinition.$": "$.config.taskDefinition"},
            "ResultPath": "$.expected",
            "Next": "StartAppWait",
        },
        "ReadTargetService": task(
            sdk("ecs", "describeServices"),
            {"Cluster": cluster, "Services.$": "States.Array($.pools.target.service)"},
            "TargetServiceFound",
            catch="Abort",
            result_path="$.service",
            result_selector=SERVICE_FIELDS,
            comment="no task definition given: the service keeps the one it has, and must end up running it",
        ),
        "TargetServiceFound": {
            "Type": "Choice",
            "Choices": [{**present("$.service.taskDefinition[0]"), "Next": "ExpectCurrent"}],
            "Default": "TargetServiceMissing",
        },
        "TargetServiceMissing": error(
            "TargetNotReady", None, "ECS service {} was not found", "$.pools.target.service", next_="Abort"
        ),
        "ExpectCurrent": {
            "Type": "Pass",
            "Parameters": {"taskDefinition.$": "$.service.taskDefinition[0]"},
            "ResultPath": "$.expected",
            "Next": "ScaleTargetService",
        },
        "ScaleTargetService": task(
            sdk("ecs", "updateService"),
            {"Cluster": cluster, "Service.$": "$.pools.target.service", "DesiredCount.$": "$.config.desiredCount"},
            "StartAppWait",
            catch="Abort",
        ),
    }


def _wait(targets: Targets, next_: str) -> States:
    cluster = targets.cluster_name or ""
    return {
        "StartAppWait": {"Type": "Pass", "Parameters": {"polls": 0}, "ResultPath": "$.wait", "Next": "WaitForTarget"},
        "WaitForTarget": {"Type": "Wait", "SecondsPath": "$.config.pollSeconds", "Next": "TargetServiceOrHealth"},
        "TargetServiceOrHealth": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.pools.target.hasService", "BooleanEquals": True, "Next": "DescribeTargetService"}
            ],
            "Default": "DescribeTargetHealth",
        },
        "DescribeTargetService": task(
            sdk("ecs", "describeServices"),
            {"Cluster": cluster, "Services.$": "States.Array($.pools.target.service)"},
            "ReleaseRolledBack",
            catch="Abort",
            result_path="$.service",
            result_selector=SERVICE_FIELDS,
        ),
        # The circuit breaker rolled the release back: a failed rollout, or one settled deployment of another
        # task definition. Waiting longer cannot help; nothing has moved yet.
        "ReleaseRolledBack": {
            "Type": "Choice",
            "Choices": [
                {**present("$.service.failed[0]"), "Next": "ReleaseFailed"},
                {
                    "And": [
                        present("$.service.release[0]"),
                        absent("$.service.release[1]"),
                        {
                            "Not": {
                                "Variable": "$.service.release[0]",
                                "StringEqualsPath": "$.expected.taskDefinition",
                            }
                        },
                    ],
                    "Next": "ReleaseReplaced",
                },
            ],
            "Default": "ServiceStable",
        },
        "ReleaseFailed": error(
            "ReleaseRolledBack",
            None,
            "the deployment of {} to {} failed (ECS rolled it back); no traffic was moved",
            "$.service.failed[0]",
            "$.pools.target.service",
            next_="Abort",
        ),
        "ReleaseReplaced": error(
            "ReleaseRolledBack",
            None,
            "service {} runs {} instead of {} (the release was rolled back); no traffic was moved",
            "$.pools.target.service",
            "$.service.release[0]",
            "$.expected.taskDefinition",
            next_="Abort",
        ),
        "ServiceStable": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present("$.service.running[0]"),
                        present("$.service.desired[0]"),
                        {"Variable": "$.service.running[0]", "NumericEqualsPath": "$.service.desired[0]"},
                        absent("$.service.release[1]"),
                        equals("$.service.status[0]", "PRIMARY"),
                        equals("$.service.rollout[0]", "COMPLETED"),
                        present("$.service.release[0]"),
                        {"Variable": "$.service.release[0]", "StringEqualsPath": "$.expected.taskDefinition"},
                    ],
                    "Next": "DescribeTargetHealth",
                }
            ],
            "Default": "CountAppPoll",
        },
        "DescribeTargetHealth": task(
            sdk("elasticloadbalancingv2", "describeTargetHealth"),
            {"TargetGroupArn.$": "$.pools.target.targetGroupArn"},
            "AnyTargets",
            catch="Abort",
            result_path="$.health",
            result_selector={"targets.$": "$.TargetHealthDescriptions[*].TargetHealth.State"},
        ),
        "AnyTargets": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.health.targets[0]", "IsPresent": True, "Next": "SummariseHealth"}],
            "Default": "CountAppPoll",
        },
        "SummariseHealth": {
            "Type": "Pass",
            "Parameters": {"states.$": "States.ArrayUnique($.health.targets)"},
            "ResultPath": "$.health",
            "Next": "TargetsHealthy",
        },
        # Every registered target healthy (draining ones from the previous revision keep us waiting).
        "TargetsHealthy": {
            "Type": "Choice",
            "Choices": [
                {"And": [equals("$.health.states[0]", "healthy"), absent("$.health.states[1]")], "Next": next_}
            ],
            "Default": "CountAppPoll",
        },
        "CountAppPoll": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.wait.polls, 1)"},
            "ResultPath": "$.wait",
            "Next": "AppWaitBounded",
        },
        "AppWaitBounded": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.wait.polls", "NumericLessThanPath": "$.config.maxPolls", "Next": "WaitForTarget"}
            ],
            "Default": "TargetNotReady",
        },
        "TargetNotReady": error(
            "TargetNotReady",
            None,
            "pool {} was not stable on the requested release with every target healthy after {} polls",
            "$.pools.target.name",
            "$.wait.polls",
            next_="Abort",
        ),
    }


def application(targets: Targets, next_: str) -> States:
    return {**_deploy(targets), **_wait(targets, next_)}
