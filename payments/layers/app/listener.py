"""The edge layer's target groups, as the app may use them.

ECS rejects a service whose target group no listener uses yet ("does not have
an associated load balancer"). The app gets the listener only as an ARN through
a StackReference, so there is no resource to `depends_on`. The guarantee is
structural: the edge stack registers the target groups *and* the HTTPS
listener that forwards to all three of them (weight 0 still associates a
group), and the app reads `httpsListenerArn`, which the edge stack exports only
once that listener exists; `require_output` fails otherwise. Each target group
ARN handed to a service or the Auto Scaling group is derived from the listener
ARN, so the dependency is also visible in the program, not only in the
deploy order.
"""

from __future__ import annotations

from typing import Any

import pulumi

from payments.core.errors import ConfigError
from payments.layers.app.settings import ComputeMode
from payments.layers.edge.settings import target_type


def gated_target_groups(
    arns: pulumi.Output[Any],
    listener_arn: pulumi.Output[Any],
    built_type: pulumi.Output[Any],
    mode: ComputeMode,
    where: str,
) -> pulumi.Output[dict[str, str]]:
    """pool -> target group ARN, resolved only with the listener, and only if edge built them for `mode`."""

    def check(values: dict[str, Any]) -> dict[str, str]:
        needed = target_type(mode).value
        if not values["listener"]:
            raise ConfigError(
                "payments-edge:httpsListenerArn", "the edge stack exports no HTTPS listener", "deploy edge first"
            )
        if values["built"] != needed:
            raise ConfigError(
                f"{where}:computeMode",
                f"'{mode.value}' needs '{needed}' target groups but payments-edge built '{values['built']}' ones",
                f"set payments-edge:computeMode: {mode.value} and deploy edge first (or change computeMode here)",
            )
        return dict(values["arns"])

    return pulumi.Output.all(arns=arns, listener=listener_arn, built=built_type).apply(check)
