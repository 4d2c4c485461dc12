"""The application stage of a cutover: the target service deployed (or scaled), stable, every target healthy."""

from __future__ import annotations

from payments.layers.migration.machines.asl import States, absent, equals, error, present, sdk, task
from payments.layers.migration.machines.targets import Targets


def application(targets: Targets, next_: str) -> States:
    cluster = targets.cluster_name or ""
    service = "$.service.services[0]"
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
            "Default": "ScaleTargetService",
        },
        "DeployTargetService": task(
            sdk("ecs", "updateService"),
            {
                "Cluster": cluster,
                "Service.$": "$.pools.target.service",
                "TaskDefinition.$": "$.config.taskDefinition",
                "DesiredCount.$": "$.config.desiredCount",
            },
            "StartAppWait",
            catch="Abort",
        ),
        "ScaleTargetService": task(
            sdk("ecs", "updateService"),
            {"Cluster": cluster, "Service.$": "$.pools.target.service", "DesiredCount.$": "$.config.desiredCount"},
            "StartAppWait",
            catch="Abort",
        ),
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
            "ServiceStable",
            catch="Abort",
            result_path="$.service",
            result_selector={"services.$": "$.Services"},
        ),
        # Stable as `aws ecs wait services-stable` defines it: one deployment, running == desired.
        "ServiceStable": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        present(f"{service}.RunningCount"),
                        present(f"{service}.DesiredCount"),
                        {"Variable": f"{service}.RunningCount", "NumericEqualsPath": f"{service}.DesiredCount"},
                        present(f"{service}.Deployments[0]"),
                        absent(f"{service}.Deployments[1]"),
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
            result_selector={"targets.$": "$.TargetHealthDescriptions"},
        ),
        "AnyTargets": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.health.targets[0]", "IsPresent": True, "Next": "SummariseHealth"}],
            "Default": "CountAppPoll",
        },
        "SummariseHealth": {
            "Type": "Pass",
            "Parameters": {"states.$": "States.ArrayUnique($.health.targets[*].TargetHealth.State)"},
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
            "pool {} was not stable with every target healthy after {} polls",
            "$.pools.target.name",
            "$.wait.polls",
            next_="Abort",
        ),
    }
