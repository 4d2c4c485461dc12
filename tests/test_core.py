"""Pure logic of the shared package: graph, config parsing, naming, environments, contract."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from pathlib import Path

import pytest

from payments.core import config, contract, graph
from payments.core.config import setting
from payments.core.environment import load_environment
from payments.core.errors import ConfigError, UserError
from payments.core.naming import Kind, Namer, check

# --- graph ---------------------------------------------------------------------


def test_deploy_order_respects_every_edge() -> None:
    order = graph.deploy_order()
    assert order[0] == "network" and order[-1] == "migration"
    for layer, ups in graph.LAYERS.items():
        for up in ups:
            assert order.index(up) < order.index(layer), (up, layer)


def test_destroy_order_is_reverse() -> None:
    assert graph.destroy_order() == list(reversed(graph.deploy_order()))


def test_data_and_edge_depend_only_on_network() -> None:
    assert graph.LAYERS["data"] == ("network",) and graph.LAYERS["edge"] == ("network",)


def test_dependents_are_transitive() -> None:
    assert graph.dependents("edge") == {"app", "observability", "migration"}
    assert graph.dependents("migration") == set()
    assert graph.upstream_closure("app") == {"network", "data", "edge"}


def test_parse_layers_rejects_unknown_with_the_fix() -> None:
    with pytest.raises(UserError, match=r"unknown layer 'databse'.*use one of network"):
        graph.parse_layers("network,databse")
    assert graph.parse_layers(None) == list(graph.LAYERS)
    assert graph.parse_layers("edge, data") == ["edge", "data"]


def test_mermaid_has_every_edge() -> None:
    text = graph.mermaid()
    edges = sum(len(ups) for ups in graph.LAYERS.values())
    assert text.count("-->") == edges


# --- config ----------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Sample:
    cidr: ipaddress.IPv4Network = setting(doc="a range", example="10.0.0.0/16")
    count: int = setting(3, minimum=2, maximum=6, doc="how many")
    colour: Colour = setting(Colour.RED, doc="which", promotable=True)
    ratio: float = setting(0.5, minimum=0, maximum=1, doc="share")
    names: tuple[str, ...] = setting(("a",), doc="names")
    weights: dict[str, int] = setting(None, doc="weights")  # type: ignore[assignment]
    on: bool = setting(False, doc="flag")


def load(values: dict) -> Sample:
    return config.load(Sample, values, where="payments-x")


def test_config_converts_engine_strings() -> None:
    s = load(
        {
            "cidr": "10.1.0.0/16",
            "count": "4",
            "colour": "blue",
            "ratio": "0.25",
            "names": '["x","y"]',
            "weights": '{"blue": 10}',
            "on": "true",
        }
    )
    assert s.count == 4 and s.colour is Colour.BLUE and s.ratio == 0.25 and s.names == ("x", "y")
    assert s.weights == {"blue": 10} and s.on is True and s.cidr.prefixlen == 16


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "payments-x:cidr: required key is missing. Fix: set cidr: 10.0.0.0/16"),
        ({"cidr": "10.1.0.0/33"}, "payments-x:cidr: '10.1.0.0/33' is not a valid IPv4 CIDR"),
        ({"cidr": "10.1.0.1/16"}, "payments-x:cidr: '10.1.0.1/16' is not a valid IPv4 CIDR"),
        ({"cidr": "10.1.0.0/16", "count": "seven"}, "payments-x:count: expected a whole number, got 'seven'"),
        ({"cidr": "10.1.0.0/16", "count": 7}, "payments-x:count: 7 is out of range. Fix: use a value between 2 and 6"),
        ({"cidr": "10.1.0.0/16", "count": 2.5}, "payments-x:count: expected a whole number"),
        (
            {"cidr": "10.1.0.0/16", "colour": "green"},
            "payments-x:colour: 'green' is not allowed. Fix: use one of: red, blue",
        ),
        ({"cidr": "10.1.0.0/16", "on": "yes"}, "payments-x:on: expected true or false"),
        ({"cidr": "10.1.0.0/16", "colur": "red"}, "payments-x:colur: unknown key. Fix: did you mean 'colour'?"),
        ({"cidr": "10.1.0.0/16", "weights": "[1]"}, "payments-x:weights: expected a map"),
        ({"cidr": "10.1.0.0/16", "ratio": 2}, "payments-x:ratio: 2 is out of range"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(values)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text and "Fix:" in text


def test_describe_and_promotable_keys() -> None:
    infos = {i.key: i for i in config.describe(Sample)}
    assert infos["cidr"].required and infos["count"].default == 3
    assert infos["colour"].type_name == "red | blue"
    assert config.promotable_keys(Sample) == ["colour"]


# --- naming ----------------------------------------------------------------------


def test_namer_builds_type_dash_suffix() -> None:
    n = Namer("dev")
    assert n("vpc") == "vpc-dev"
    assert n("alb", Kind.LOAD_BALANCER) == "alb-dev"
    assert n.bucket("app-logs", "123456789012") == "app-logs-dev-123456789012"


@pytest.mark.parametrize(
    ("name", "kind", "fragment"),
    [
        ("a" * 33, Kind.LOAD_BALANCER, "allows 1-32"),
        ("App-Logs-dev", Kind.S3_BUCKET, "not a valid S3 bucket name"),
        ("x" * 64, Kind.S3_BUCKET, "allows 3-63"),
        ("sg-app-dev", Kind.SECURITY_GROUP, "not a valid security group name"),
        ("1db-dev", Kind.DB_IDENTIFIER, "not a valid DB identifier name"),
        ("db--dev", Kind.DB_IDENTIFIER, "not a valid DB identifier name"),
        ("r" * 65, Kind.IAM_ROLE, "allows 1-64"),
        ("s" * 81, Kind.STATE_MACHINE, "allows 1-80"),
        ("alb-dev-", Kind.LOAD_BALANCER, "not a valid load balancer name"),
    ],
)
def test_naming_limits_fail_loudly(name: str, kind: Kind, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        check(name, kind)


def test_names_at_the_limit_are_kept_whole() -> None:
    name = "tg-green-feature-branch-pr1234-x"
    assert len(name) == 32 and check(name, Kind.TARGET_GROUP) == name


def test_bucket_name_over_63_after_suffix_is_an_error() -> None:
    with pytest.raises(UserError, match=r"is 64 characters.*shorten environmentSuffix"):
        Namer("feature-pr12345").bucket("payments-application-logs-archive-x", "123456789012")


# --- environments ------------------------------------------------------------------


def test_shipped_environments_load() -> None:
    dev, prod = load_environment("dev"), load_environment("prod")
    assert dev.suffix == "dev" and prod.suffix == "prod"
    assert not dev.production and prod.production
    assert dev.tags == {"Environment": "dev", "CostCenter": "payments-platform", "MigrationPhase": "parallel-run"}
    assert dev.stack_ref("payments-network") == "organization/payments-network/dev"


def test_unknown_environment_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown environment 'stage'.*use one of: compact, dev, prod"):
        load_environment("stage")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("costCenter: x\nregion: useast1\n", "region: 'useast1' is not an AWS region"),
        ("costCenter: x\nenvironmentSuffix: Dev_1\n", "environmentSuffix: 'Dev_1' is not a valid suffix"),
        ("region: us-east-1\n", "costCenter: required key is missing"),
        ("costCenter: x\nmigrationPhase: done\n", "migrationPhase: 'done' is not allowed"),
    ],
)
def test_bad_environment_files(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "qa.yaml").write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_environment("qa", tmp_path)


# --- contract ----------------------------------------------------------------------


def test_contract_covers_every_layer_and_names_are_unique() -> None:
    assert set(contract.EXPORTS) == set(graph.LAYERS)
    for layer, outputs in contract.EXPORTS.items():
        names = [o.name for o in outputs]
        assert len(names) == len(set(names)), layer


def test_reader_refuses_undeclared_names_and_non_upstreams() -> None:
    with pytest.raises(UserError, match=r"'data' reads 'network.vpcIdentifier', which 'network' does not declare"):
        contract.check_read("data", "network", "vpcIdentifier")
    with pytest.raises(UserError, match="'network' reads 'data', which is not one of its upstreams"):
        contract.check_read("network", "data", "dbArn")
    with pytest.raises(UserError, match="exports 'bogus'"):
        contract.check_export("network", "bogus")
    assert contract.check_read("app", "data", "dbSecretArn").name == "dbSecretArn"
