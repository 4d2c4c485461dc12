"""Every IAM-language document the programs generate passes the parliament IAM linter.

Identity policies, trust policies and resource policies (key, bucket, topic, ...)
are collected from the offline plan of both environments, wherever an input
holds one, and linted with AWS's action/resource/condition model. Findings at
MEDIUM or above fail, and so do unknown actions or prefixes (typos AWS would
reject or, worse, silently never match).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from parliament import analyze_policy_string
from parliament import config as parliament_config

from tests.support import plan

FAIL_SEVERITIES = {"MEDIUM", "HIGH", "CRITICAL"}
ALWAYS_FAIL = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX", "MALFORMED_JSON", "MALFORMED"}
#: Linter false positives, each with the evidence. Keep this list short and specific.
KNOWN_FALSE_POSITIVES = {
    # parliament 1.6's database holds ELBv2 twice; resolving "listener/app*" through the copy
    # without it flags every application-listener ARN. AWS's Service Authorization Reference
    # lists listener/app* as a resource type of ModifyListener.
    ("RESOURCE_MISMATCH", "elasticloadbalancing:ModifyListener"),
    # The same duplicate for rules: AWS lists listener-rule/app* (and listener-rule/net*) as ModifyRule's resource
    # types; the write-pause rule is an application listener's rule, so it can match only the first.
    ("RESOURCE_MISMATCH", "elasticloadbalancing:ModifyRule"),
    # parliament expects both resource types AWS lists for ListExecutions (mapRun and stateMachine); a request
    # names one of them (stateMachineArn or mapRunArn), and the rollback role lists only its cutover machine's.
    ("RESOURCE_MISMATCH", "states:ListExecutions"),
}


def documents(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, str) and '"Statement"' in value:
        try:
            doc = json.loads(value)
        except json.JSONDecodeError:
            return
        if isinstance(doc, dict) and "Statement" in doc:
            yield path, doc
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from documents(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from documents(v, f"{path}[{i}]")


def all_documents(env: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for lp in plan(env).layers:
        for r in lp.resources:
            # any input holding a policy-language document: policy, assumeRolePolicy, policyDocument, ...
            for key, value in r.inputs.items():
                found.extend(documents(value, f"{lp.name}/{r.type.split(':')[-1]}/{r.name}.{key}"))
    return found


def known_false_positive(finding: Any) -> bool:
    detail = finding.detail if isinstance(finding.detail, list) else []
    actions = {d.get("action") for d in detail if isinstance(d, dict)}
    return bool(actions) and all((finding.issue, a) in KNOWN_FALSE_POSITIVES for a in actions)


def severity(issue: str) -> str:
    return str(parliament_config.get(issue, {}).get("severity", "")).upper()


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_generated_policies_have_no_findings(env: str) -> None:
    docs = all_documents(env)
    assert len(docs) >= 20, f"expected the plan to carry many policy documents, found {len(docs)}"
    problems = []
    for where, doc in docs:
        trust = where.endswith(".assumeRolePolicy")
        for finding in analyze_policy_string(json.dumps(doc)).findings:
            # parliament reads every document as an identity policy; a trust policy
            # has a Principal and, by AWS's grammar, no Resource.
            if trust and finding.issue == "MALFORMED" and "neither Resource" in str(finding.detail):
                continue
            if known_false_positive(finding):
                continue
            if finding.issue in ALWAYS_FAIL or severity(finding.issue) in FAIL_SEVERITIES:
                problems.append(f"{where}: {finding.issue} {finding.detail}")
        if trust:
            for stmt in doc["Statement"]:
                if "Principal" not in stmt or "Resource" in stmt:
                    problems.append(f"{where}: a trust statement needs a Principal and no Resource")
    assert problems == []


def test_the_linter_catches_a_typo() -> None:
    """Guard against a linter that silently passes everything."""
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}
    assert {f.issue for f in analyze_policy_string(json.dumps(doc)).findings} & ALWAYS_FAIL


@pytest.mark.parametrize("env", ["dev", "prod", "compact"])
def test_key_policies_let_the_account_administer_but_use_keys_only_through_services(env: str) -> None:
    """PCI DSS 3.6.1: no principal holds ``kms:*``; the account's principals use a key only with kms:ViaService,
    and AWS services only under a condition or as a named service role."""
    keys = [(lp.name, r) for lp in plan(env).layers for r in lp.resources if r.type == "aws:kms/key:Key"]
    assert len(keys) >= 3
    for layer, key in keys:
        statements = json.loads(key.inputs["policy"])["Statement"]
        by_sid = {s["Sid"]: s for s in statements}
        admin = by_sid["AccountAdministration"]
        assert "kms:*" not in admin["Action"] and not any(
            a in admin["Action"] for a in ("kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:Create*"))
        assert "kms:PutKeyPolicy" in admin["Action"]  # the account can never be locked out of its key
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert "kms:*" not in actions, (layer, key.name, s["Sid"])
            uses = any(a.startswith(("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")) for a in actions)
            root = s["Principal"].get("AWS", "").endswith(":root")
            if uses and root:
                assert s["Condition"]["StringEquals"]["kms:ViaService"], (layer, key.name, s["Sid"])
            elif uses:
                assert "Condition" in s or "aws-service-role" in s["Principal"].get("AWS", ""), (key.name, s["Sid"])
    data_key = next(r for layer, r in keys if layer == "data")
    use = next(s for s in json.loads(data_key.inputs["policy"])["Statement"] if s["Sid"] == "UseThroughServices")
    assert sorted(use["Condition"]["StringEquals"]["kms:ViaService"]) == sorted(
        f"{svc}.us-east-1.amazonaws.com" for svc in ("rds", "secretsmanager", "s3", "ssm", "backup", "dms"))
