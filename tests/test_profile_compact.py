"""The seed-B system as the `compact` environment: 2 AZs, RDS MySQL Multi-AZ, EC2 Auto Scaling 2-6, no DMS."""

from __future__ import annotations

from tests.support import of_type, one, plan


def test_compact_plans_cleanly() -> None:
    p = plan("compact")
    assert [lp.name for lp in p.layers] == ["network", "data", "edge", "app", "observability", "migration"]
    assert p.mandatory == []


def test_two_azs_with_a_nat_each() -> None:
    net = plan("compact").layer("network")
    assert net.outputs["azNames"] == ["us-east-1a", "us-east-1b"]
    assert len(of_type(net, "aws:ec2/subnet:Subnet")) == 6
    assert len(of_type(net, "aws:ec2/natGateway:NatGateway")) == 2


def test_rds_mysql_multi_az_encrypted_with_the_layer_key() -> None:
    data = plan("compact").layer("data")
    assert not of_type(data, "aws:rds/cluster:Cluster")
    db = one(data, "aws:rds/instance:Instance")
    assert db.inputs["engine"] == "mysql" and db.inputs["multiAz"] is True
    assert db.inputs["storageEncrypted"] is True and db.inputs["kmsKeyId"] == data.outputs["dataKeyArn"]
    assert db.inputs.get("publiclyAccessible") is not True
    assert data.outputs["dbEngine"] == "mysql"


def test_auto_scaling_group_of_two_to_six_over_both_azs() -> None:
    p = plan("compact")
    app, net = p.layer("app"), p.layer("network")
    asg = one(app, "aws:autoscaling/group:Group")
    assert (asg.inputs["minSize"], asg.inputs["maxSize"]) == (2, 6)
    assert sorted(asg.inputs["vpcZoneIdentifiers"]) == sorted(net.outputs["appSubnetIds"])
    assert asg.inputs["healthCheckType"] == "ELB"
    assert not of_type(app, "aws:ecs/service:Service")
    assert app.outputs["computeMode"] == "ec2" and app.outputs["asgName"] == asg.inputs["name"]


def test_no_dms_and_ec2_alarms() -> None:
    p = plan("compact")
    assert not [r for r in p.layer("migration").resources if r.type.startswith("aws:dms/")]
    names = p.layer("observability").outputs["alarmNames"]
    assert "asgCpuHigh" in names and not any(k.startswith("dmsCdc") for k in names)
