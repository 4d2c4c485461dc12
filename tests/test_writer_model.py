"""The model check (payments/cutover/model.py) over the real definitions, and a breaking test per invariant.

The definitions are the ones the migration layer builds (same functions, typed inputs). Every path of the
switchover, fallback, finish, writer-recovery, cutover and rollback machines is walked from every phase they may
meet, with a fault at every Task state and a person's stop at every state (each followed by the safety net), and
the invariants are judged on each. Each breaking test mutates one definition the way a plausible edit would, and
the model must name the broken invariant.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from payments.cutover import model
from payments.cutover.writer_rehearsal import writer_definitions, writer_targets
from payments.layers.migration import budget
from payments.layers.migration.machines.targets import Targets
from payments.layers.migration.names import MigrationNames
from payments.layers.migration.settings import MIN_PAUSE_POLLS, MigrationSettings

NAMES = MigrationNames("dev", "us-east-1", "123456789012")
TARGETS = Targets(
    environment="dev",
    listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb-dev/1/2",
    target_group_arns={
        p: f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-{p}/{i}"
        for i, p in enumerate(("legacy", "blue", "green"))
    },
    gate_alarm_name="payments-gate-dev",
    phase_parameter_name=NAMES.phase_parameter,
    topic_arn="arn:aws:sns:us-east-1:123456789012:payments-alarms-dev",
    machine_arns=NAMES.all_machine_arns,
    run_parameter_name=NAMES.run_parameter,
    gate_members=("payments-5xx-dev",),
    dms_task_arn="arn:aws:dms:us-east-1:123456789012:task:DMS-TASK-DEV",
    dms_latency_alarm_name="payments-dms-latency-dev",
)
WRITER = writer_targets(
    NAMES,
    nacl_id="acl-0123456789abcdef0",
    zone_id="Z0123456789ABCDEFGHIJ",
    pause_rule_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb-dev/1/2/3",
    forward_task_arn=TARGETS.dms_task_arn or "",
    reverse_task_arn="arn:aws:dms:us-east-1:123456789012:task:DMS-REVERSE-DEV",
    latency_alarm=TARGETS.dms_latency_alarm_name,
)
SHIPPED = MigrationSettings()
#: The smallest pause the settings accept: the same states, fewer polls, so every path is walked quickly.
SMALL = dataclasses.replace(
    SHIPPED,
    max_write_pause_seconds=dataclasses.replace(SHIPPED.pause, max_pause_seconds=0).longest_seconds
    + MIN_PAUSE_POLLS * (SHIPPED.pause_poll_seconds + budget.PAUSE_TASK_WORST_SECONDS),
)
SUBJECT = model.Subject(TARGETS, WRITER)
ARNS = dict(NAMES.all_machine_arns)
RELEASE = "arn:aws:ecs:us-east-1:123456789012:task-definition/payments-app:7"


def definitions(settings: MigrationSettings = SMALL) -> dict[str, dict[str, Any]]:
    return writer_definitions(TARGETS, WRITER, settings, task_definition=RELEASE)


def test_the_small_settings_still_give_every_pause_loop_a_poll() -> None:
    SMALL.check("payments-migration")  # accepted by the same checks as any config
    assert SMALL.pause.polls == 3 < SHIPPED.pause.polls


def test_every_path_of_every_machine_keeps_one_writer_and_ends_writable() -> None:
    results = model.run(SUBJECT, definitions(), ARNS, RELEASE)
    problems = [(sc.machine, sc.world, inj, found[:2]) for sc, r in results for inj, _, found in r.problems]
    assert not problems, problems[:5]
    by_machine: dict[str, int] = {}
    for sc, r in results:
        by_machine[sc.machine] = by_machine.get(sc.machine, 0) + r.paths
    # Every machine was walked on many paths (a fault at each Task, a stop at each state, and the safety net).
    assert by_machine["switchover"] > 1000 and by_machine["fallback"] > 500
    assert by_machine["cutover"] > 300 and by_machine["rollback"] > 50
    print(f"\nmodel check: {sum(by_machine.values())} paths {by_machine}")


def test_the_longest_write_pause_the_definitions_allow_fits_the_setting() -> None:
    """Every poll loop's interleaving (DMS slow to stop and to start), no injected fault: the worst pause."""
    slow = dataclasses.replace(SUBJECT, slow_dms=True)
    defs = definitions(SHIPPED)
    worlds = model.worlds(slow)
    longest = 0
    for role, world in (("switchover", "app-on-aws"), ("fallback", "db-on-aws")):
        result = model.check(
            slow, defs[role], ARNS[role], worlds[world], {"holdSeconds": 0, "pollSeconds": 30}, None, inject=False
        )
        assert not result.problems, result.problems[:3]
        longest = max(longest, result.longest_pause)
    assert 0 < longest <= SHIPPED.pause.longest_seconds <= SHIPPED.max_write_pause_seconds
    print(f"\nlongest write pause: {longest} s (bound {SHIPPED.pause.longest_seconds} s)")


# --- breaking tests: one mutation per invariant -----------------------------------------------------------------


def mutated(role: str, **edits: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defs = copy.deepcopy(definitions())
    for state, changes in edits.items():
        defs[role]["States"][state].update(changes)
    return defs


def problems_of(defs: dict[str, dict[str, Any]], role: str, world: str, payload: dict[str, Any],
                net: str | None, *, inject: bool = False) -> list[str]:
    found = model.check(
        SUBJECT,
        defs[role],
        ARNS[role],
        model.worlds(SUBJECT)[world],
        payload,
        (defs[net], ARNS[net]) if net else None,
        inject=inject,
    )
    return [p for _, _, ps in found.problems for p in ps]


FAST = {"holdSeconds": 0, "pollSeconds": 30}


def test_the_unmutated_switchover_passes_the_same_check() -> None:
    assert problems_of(definitions(), "switchover", "app-on-aws", FAST, "writer-recovery") == []


def test_a_flip_before_the_drain_is_caught() -> None:
    defs = mutated("switchover", FenceOld0={"Next": "StopDrainTask"})
    assert any("before onprem -> aurora replication was drained" in p for p in
               problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery"))


def test_fencing_after_reading_the_drained_position_is_caught() -> None:
    # The lab's finding: a pooled connection can still write on-prem after the position was read.
    defs = mutated("switchover", Drain={"Next": "StartPauseWaits"}, FenceOld0={"Next": "Flip"})
    defs["switchover"]["States"]["StoppedDone"]["Choices"][0]["Next"] = "FenceOld0"
    assert any("before onprem -> aurora replication was drained" in p for p in
               problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery"))


def test_no_fence_lets_a_pooled_connection_write_the_old_writer() -> None:
    defs = mutated("switchover", Drain={"Next": "StartPauseWaits"})
    found = problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery")
    assert any("two writers" in p for p in found), found[:3]


def test_lifting_the_pause_before_reverse_replication_runs_is_caught() -> None:
    defs = mutated("switchover")
    defs["switchover"]["States"]["UnfenceNewGone"]["Choices"][0]["Next"] = "LiftPause"
    assert any("Aurora takes writes without reverse replication" in p for p in
               problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery"))


def test_a_forward_task_left_running_across_the_flip_is_caught() -> None:
    defs = mutated("switchover")
    defs["switchover"]["States"]["DrainedDone"]["Choices"][0]["Next"] = "Flip"
    found = problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery")
    assert any("both running" in p for p in found) and any("drained and stopped" in p for p in found)


def test_a_pause_never_lifted_is_caught() -> None:
    defs = mutated("fallback", LiftPause={"Type": "Pass", "Next": "RecordDone"})
    for key in ("Resource", "Parameters", "Catch", "Retry", "TimeoutSeconds", "ResultPath", "Comment"):
        defs["fallback"]["States"]["LiftPause"].pop(key, None)
    assert any("writes left paused" in p for p in problems_of(defs, "fallback", "db-on-aws", FAST, "writer-recovery"))


def test_a_rollback_to_legacy_while_aurora_writes_is_caught() -> None:
    defs = mutated("rollback", LegacyAllowed={"Choices": []})
    found = problems_of(defs, "rollback", "db-on-aws", {"pool": "legacy", "force": True}, None)
    assert any("legacy traffic while Aurora is the writer" in p for p in found)


def test_a_traffic_cutover_while_aurora_writes_is_caught() -> None:
    defs = mutated("cutover", WriterOnPrem={"Choices": []})
    payload = {"bakeSeconds": 0, "pollSeconds": 60, "holdSeconds": 0, "maxPolls": 1, "sourcePool": "blue",
               "targetPool": "green", "taskDefinition": RELEASE}
    found = problems_of(defs, "cutover", "db-on-aws", payload, "rollback")
    assert any("while aurora is the writer" in p for p in found), found[:3]


def test_a_recovery_that_starts_the_way_back_after_lifting_is_caught_under_a_stop() -> None:
    defs = mutated("writer-recovery", AuroraOtherStoppedRunning={"Default": "AuroraUnfence0"})
    defs["writer-recovery"]["States"]["AuroraOtherStoppedRunning"]["Choices"][0]["Next"] = "AuroraUnfence0"
    found = problems_of(defs, "switchover", "app-on-aws", FAST, "writer-recovery", inject=True)
    assert any("without reverse replication" in p for p in found), found[:3]


@pytest.mark.parametrize("role", ["switchover", "fallback", "writer-recovery", "finish"])
def test_every_api_action_of_the_writer_machines_is_in_the_effects_or_answers_table(role: str) -> None:
    from payments.layers.migration.machines.asl import task_resources

    for resource in task_resources(definitions()[role]):
        action = model.action_of(resource)
        assert action in model.EFFECTS or action in model.ANSWERS or action in model.SILENT, action


def test_a_pause_too_short_for_its_waits_is_refused_with_the_least_that_fits() -> None:
    from payments.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        dataclasses.replace(SHIPPED, max_write_pause_seconds=120).check("payments-migration")
    text = str(err.value)
    assert text.startswith("payments-migration:maxWritePauseSeconds: 120 s leaves room for 0 polls")
    assert f"at least {SMALL.max_write_pause_seconds}" in text and "\n" not in text


def test_only_the_switchover_and_the_fallback_may_flip_the_writer() -> None:
    from payments.layers.migration.writer_workflow import writer_policy

    def actions(role: str) -> dict[str, Any]:
        doc = writer_policy(role, TARGETS, WRITER, parameter_arns=["arn:aws:ssm:us-east-1:123456789012:parameter/x"],
                            topic_key_arn="arn:aws:kms:us-east-1:123456789012:key/k", region="us-east-1",
                            account_id="123456789012")
        return {a: st for st in doc["Statement"] for a in st["Action"]}

    for role in ("switchover", "fallback"):
        flip = actions(role)["route53:ChangeResourceRecordSets"]
        assert flip["Resource"] == f"arn:aws:route53:::hostedzone/{WRITER.zone_id}"
        names = flip["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
        assert names == [WRITER.indirection_name]
    recovery, finish = actions("writer-recovery"), actions("finish")
    assert "route53:ChangeResourceRecordSets" not in recovery and "ec2:CreateNetworkAclEntry" in recovery
    assert set(finish) >= {"dms:StopReplicationTask"} and "dms:StartReplicationTask" not in finish
    assert finish["dms:StopReplicationTask"]["Resource"] == [WRITER.reverse_task_arn]
    assert not any(a.startswith(("ec2:Create", "elasticloadbalancing:Modify")) for a in finish)


@pytest.mark.parametrize("role", ["switchover", "fallback", "writer-recovery", "finish"])
def test_each_writer_role_allows_every_action_its_definition_calls(role: str) -> None:
    from payments.layers.migration.machines.asl import task_resources
    from payments.layers.migration.writer_workflow import writer_policy

    doc = writer_policy(role, TARGETS, WRITER, parameter_arns=["p"], topic_key_arn="k", region="us-east-1",
                        account_id="123456789012")
    allowed = {a.lower() for st in doc["Statement"] for a in st["Action"]}
    prefix = {"elasticloadbalancingv2": "elasticloadbalancing", "databasemigration": "dms", "sfn": "states"}
    for resource in task_resources(definitions()[role]):
        action = model.action_of(resource)
        service, name = action.split(":")
        assert f"{prefix.get(service, service)}:{name}".lower() in allowed, (role, action)


def test_the_longest_writer_execution_stays_far_inside_the_history_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    """The longest hold the input accepts (3600 s read every 30 s) and every pause poll: a Task state costs at most
    5 history events (entered, scheduled, started, succeeded, exited), any other state 2."""
    from payments.layers.migration import budget

    monkeypatch.setattr(model, "MAX_VISITS", 200)
    defs = definitions(SHIPPED)
    worst = 0
    for role, world in (("switchover", "app-on-aws"), ("fallback", "db-on-aws"), ("finish", "db-on-aws")):
        states = defs[role]["States"]
        for path in model.walk(SUBJECT, defs[role], role, model.worlds(SUBJECT)[world],
                               {"holdSeconds": 3600, "pollSeconds": 30}, inject=False, machine_arn=ARNS[role]):
            events = sum(5 if states[s]["Type"] == "Task" else 2 for s in path.steps)
            worst = max(worst, events)
    assert 1000 < worst < budget.SAFE_EVENTS // 4, worst


def test_dms_without_an_on_prem_record_is_one_line_naming_the_data_layer_key() -> None:
    from payments.core.errors import ConfigError
    from payments.layers.migration.writer_workflow import require_on_prem_name

    assert require_on_prem_name("onprem-db.dev.payments.internal", "payments-migration") == (
        "onprem-db.dev.payments.internal"
    )
    with pytest.raises(ConfigError) as err:
        require_on_prem_name(None, "payments-migration")
    assert str(err.value).startswith("payments-migration:dmsSourceSecretArn: DMS is on here")
    assert "payments-data:onPremDbAddress" in str(err.value) and "\n" not in str(err.value)
