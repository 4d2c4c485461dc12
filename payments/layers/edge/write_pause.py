"""The write pause: a listener rule that answers writes with 503 while the database switches writer.

During the database switchover (and the fallback) no database may take a write for a few seconds. The pause is
app-agnostic, at the edge: the HTTPS listener's rule of priority 1 (evaluated before the default weighted
forward) answers matching requests itself, with a fixed response, so no write reaches any pool.

- **Dormant** (as created): its only condition is an HTTP header no client sends (:data:`DORMANT_HEADER` =
  :data:`DORMANT_VALUE`). A listener rule needs at least one condition, and AWS offers no "never" condition; a
  header with a value that no client, proxy or the application ever sets is the cheapest condition that every
  real request fails. Anyone who sends it on purpose gets a 503 for that request only: the rule never forwards,
  so it opens nothing. (A source-ip condition on an address that cannot open a TCP connection would also match
  nothing, but behind CloudFront the source is CloudFront's, and AWS does not document which such addresses it
  accepts.)
- **Paused**: the switchover sets the conditions to ``http-request-method`` :data:`WRITE_METHODS`
  (``elasticloadbalancingv2:ModifyRule``), and back to the dormant condition to lift it. The writes of an
  HTTP payment API are exactly the methods with side effects: POST (create a payment), PUT and PATCH (change
  one), DELETE (cancel). GET, HEAD and OPTIONS are safe methods (RFC 9110 §9.2.1): reads keep working from the
  current writer during the pause, so status pages and health checks do not fail. An application that changes
  data on a GET breaks this contract (docs/app-contract.md says so).

An ALB fixed response sets only the status code, the content type and the body: it cannot add a ``Retry-After``
header. The body carries the machine-readable hint instead, and the client contract says what to do with a 503:
retry with backoff, with the same ``Idempotency-Key``.

Once created, the conditions belong to the migration process: the program ignores changes to them and the edge
folder refreshes before every update, so a ``pulumi up`` never lifts or sets a pause.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

lb = aws.lb

#: Evaluated first: before any other rule and before the default (weighted forward) action.
PRIORITY = 1
DORMANT_HEADER = "X-Payments-Write-Pause"
#: Never sent by anyone: the rule is dormant while this is its condition.
DORMANT_VALUE = "dormant-never-sent"
#: The requests that count as writes (module docstring); the switchover sets exactly these.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
STATUS = "503"
CONTENT_TYPE = "application/json"
BODY = json.dumps({"error": "write_paused", "retry": "same Idempotency-Key, backoff"}, separators=(",", ":"))
#: The rule's conditions, as the engine names them: owned by the migration once created.
OWNED_BY_MIGRATION = ["conditions"]


def dormant_conditions() -> list[dict[str, object]]:
    """The rule's conditions while no pause is on, in the API's shape (ModifyRule ``Conditions``)."""
    return [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": DORMANT_HEADER,
                                                          "Values": [DORMANT_VALUE]}}]


def paused_conditions() -> list[dict[str, object]]:
    """The rule's conditions during a pause, in the API's shape (ModifyRule ``Conditions``)."""
    return [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": list(WRITE_METHODS)}}]


def write_pause_rule(name: str, listener_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> lb.ListenerRule:
    """The dormant write-pause rule on the HTTPS listener."""
    return lb.ListenerRule(
        name,
        listener_arn=listener_arn,
        priority=PRIORITY,
        actions=[
            lb.ListenerRuleActionArgs(
                type="fixed-response",
                fixed_response=lb.ListenerRuleActionFixedResponseArgs(
                    status_code=STATUS, content_type=CONTENT_TYPE, message_body=BODY
                ),
            )
        ],
        conditions=[
            lb.ListenerRuleConditionArgs(
                http_header=lb.ListenerRuleConditionHttpHeaderArgs(
                    http_header_name=DORMANT_HEADER, values=[DORMANT_VALUE]
                )
            )
        ],
        tags={"Purpose": "write-pause"},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=OWNED_BY_MIGRATION)),
    )
