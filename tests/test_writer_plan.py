"""The writer machines in the offline plan, wired to the upstream layers' real outputs (DMS on)."""

from __future__ import annotations

import json

from payments.layers.migration.machines.asl import task_resources
from tests.support import of_type, one, plan
from tests.test_migration_plan import DMS_ON

SFN = "aws:sfn/stateMachine:StateMachine"


def test_with_dms_the_plan_has_the_writer_machines_wired_to_the_upstream_outputs() -> None:
    p = plan("dev", ["network", "data", "edge", "migration"], DMS_ON)
    layer = p.layer("migration")
    network, data, edge = (p.layer(n).values for n in ("network", "data", "edge"))
    assert p.mandatory == []
    machines = {r.inputs["name"]: r.inputs for r in of_type(layer, SFN)}
    assert set(machines) == {f"{r}-dev" for r in ("cutover", "rollback", "switchover", "fallback", "finish",
                                                   "writer-recovery")}
    for key, role in (("switchover", "switchover"), ("fallback", "fallback"), ("finish", "finish"),
                      ("writerRecovery", "writer-recovery")):
        assert layer.outputs[f"{key}StateMachineArn"].endswith(f":stateMachine:{role}-dev")
    switchover = json.loads(machines["switchover-dev"]["definition"])
    flip = switchover["States"]["Flip"]["Parameters"]
    record = flip["ChangeBatch"]["Changes"][0]["ResourceRecordSet"]
    assert record["Name"] == data["dbIndirectionName"] and record["TTL"] == 5
    assert record["ResourceRecords"] == [{"Value": data["dbWriterEndpoint"]}]
    assert flip["HostedZoneId"] == data["dbZoneId"]
    fence = switchover["States"]["FenceOld0"]["Parameters"]
    assert fence["NetworkAclId"] == network["appNetworkAclId"] and fence["RuleNumber"] == 50
    assert fence["CidrBlock"] == network["onPremCidrs"][0] and fence["PortRange"]["From"] == network["onPremDbPort"]
    assert switchover["States"]["PauseWrites"]["Parameters"]["RuleArn"] == edge["writePauseRuleArn"]
    lift = switchover["States"]["LiftPause"]["Parameters"]["Conditions"][0]
    assert lift["HttpHeaderConfig"]["HttpHeaderName"] == "X-Payments-Write-Pause"  # the edge layer's dormant rule
    # every machine of the migration refuses to run beside the others, the cutover included
    cutover = json.loads(machines["cutover-dev"]["definition"])
    listed = {s["Parameters"]["StateMachineArn"] for s in cutover["States"].values()
              if s["Type"] == "Task" and s["Resource"].endswith("sfn:listExecutions")}
    assert len(listed) == 6
    assert any(r.endswith("route53:changeResourceRecordSets") for r in task_resources(switchover))
    rule = one(layer, "aws:cloudwatch/eventRule:EventRule", "workflow-safety-net-writer-ended")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert len(pattern["detail"]["stateMachineArn"]) == 3
    target = one(layer, "aws:cloudwatch/eventTarget:EventTarget", "workflow-safety-net-writer-ended-target")
    assert target.inputs["arn"] == layer.outputs["writerRecoveryStateMachineArn"]


def test_without_dms_no_writer_machine_is_built() -> None:
    layer = plan("dev", ["migration"]).layer("migration")
    assert {r.inputs["name"] for r in of_type(layer, SFN)} == {"cutover-dev", "rollback-dev"}
    assert not any(k.startswith(("switchover", "fallback", "finish", "writerRecovery")) for k in layer.outputs)
