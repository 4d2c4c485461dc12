"""AWS's rules come from AWS's data shipped in botocore, not from a hand-written list (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pulumi
import pytest
from botocore.loaders import create_loader
from pulumi.runtime import mocks

from payments.core import aws_rules, cache, stack
from payments.core.errors import ConfigError
from payments.plan.engine import _in_thread


def test_regions_and_their_partitions_come_from_botocores_endpoints_data() -> None:
    endpoints = create_loader().load_data("endpoints")
    expected = {region: p["partition"] for p in endpoints["partitions"] for region in p["regions"]}
    assert aws_rules.known_regions() == expected
    assert aws_rules.check_region("us-east-1", "r") == "aws"
    assert aws_rules.check_region("cn-north-1", "r") == "aws-cn"
    assert aws_rules.check_region("us-gov-west-1", "r") == "aws-us-gov"
    with pytest.raises(ConfigError, match="did you mean eu-west-3 or eu-west-2 or eu-west-1"):
        aws_rules.check_region("eu-west-9", "r")


@pytest.mark.usefixtures("cache_folder")  # read from the models here, never from an earlier run's cache
def test_the_tag_rule_is_the_strictest_of_the_tagged_services_models() -> None:
    loader = create_loader()
    elbv2 = loader.load_service_model("elbv2", "service-2")["shapes"]
    value = aws_rules.tag_value()
    assert value.max == min(elbv2["TagValue"]["max"], 256) and elbv2["TagValue"]["pattern"] in value.patterns
    assert aws_rules.tag_key().max == 128 and aws_rules.tag_key().min == 1
    aws_rules.check_tag("CostCenter", "Zahlungsverkehr Plattform/ü 42", "k")  # letters of any script, spaces
    for bad in ("payments;platform", "a" * 257, "tab\there"):
        with pytest.raises(ConfigError, match=r"^k: as the CostCenter tag value"):
            aws_rules.check_tag("CostCenter", bad, "k")
    with pytest.raises(ConfigError, match="prefix AWS reserves"):
        aws_rules.check_tag("aws:cost", "x", "k")


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project cache, and tag rules not yet read in this process (as in a new one)."""
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    aws_rules._tag_rules.cache_clear()
    yield tmp_path / "aws-rules"
    aws_rules._tag_rules.cache_clear()


def _models_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    def unread(service: str) -> dict[str, Any]:
        raise AssertionError(f"the {service} model was read")

    monkeypatch.setattr(aws_rules, "_model", unread)


def test_the_tag_rules_read_from_the_models_once_are_the_next_processs_too(
    cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the 19 models costs every task a quarter of a second: the rules are kept in the project's cache."""
    first = (aws_rules.tag_key(), aws_rules.tag_value())
    (entry,) = cache_folder.glob("tags-*.json")
    aws_rules._tag_rules.cache_clear()  # the next process
    _models_unread(monkeypatch)
    assert (aws_rules.tag_key(), aws_rules.tag_value()) == first
    monkeypatch.undo()  # the models readable again, and the same cache folder
    monkeypatch.setenv(cache.ENV, str(cache_folder.parent))
    whole = entry.read_text()
    damaged = ['{"key": {"min": 1}}', "null", "[]", whole.replace('"min": 1', '"min": "1"'), whole[:-9]]
    for text in damaged:  # read the models again, and write the entry whole
        entry.write_text(text)
        aws_rules._tag_rules.cache_clear()
        assert (aws_rules.tag_key(), aws_rules.tag_value()) == first, text
        assert entry.read_text() == whole, text


def test_another_botocore_is_another_entry_and_an_open_folder_is_not_trusted(
    cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_rules.tag_key()
    monkeypatch.setattr(botocore, "__version__", "0.0.0-other")
    aws_rules._tag_rules.cache_clear()
    aws_rules.tag_key()
    assert len(list(cache_folder.glob("tags-*.json"))) == 2
    cache_folder.chmod(0o777)  # others may write to it: neither read nor written
    aws_rules._tag_rules.cache_clear()
    _models_unread(monkeypatch)
    with pytest.raises(AssertionError, match="model was read"):
        aws_rules.tag_key()


def test_off_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    aws_rules._tag_rules.cache_clear()
    try:
        assert aws_rules.tag_key().max == 128
    finally:
        aws_rules._tag_rules.cache_clear()
    assert not any(tmp_path.iterdir())


def test_an_arn_is_checked_against_the_partition_of_the_environments_region() -> None:
    gov = "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/abc"
    aws_rules.check_arn(gov, aws_rules.ACM_CERTIFICATE, "k", region="us-gov-west-1", account=None)
    with pytest.raises(ConfigError, match="partition 'aws' is not the partition of us-gov-west-1 \\('aws-us-gov'\\)"):
        aws_rules.check_arn(gov.replace("aws-us-gov", "aws"), aws_rules.ACM_CERTIFICATE, "k", region="us-gov-west-1",
                            account=None)
    too_long = "arn:aws:acm:us-east-1:123456789012:certificate/" + "a" * 2048
    with pytest.raises(ConfigError, match="is 2095 characters; AWS allows 20-2048 \\(acm CertificateArn\\)"):
        aws_rules.check_arn(too_long, aws_rules.ACM_CERTIFICATE, "k")


class _NoResources(mocks.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        raise AssertionError("the program must stop before it registers anything")

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def test_a_program_run_by_pulumi_up_refuses_a_key_no_program_reads() -> None:
    """`pulumi up` in a layer folder: the engine hands the stack's keys to the program, which checks them itself."""

    def run() -> None:
        pulumi.runtime.set_mocks(_NoResources(), project="payments-network", stack="dev", preview=False)
        pulumi.runtime.set_all_config({"payments-network:vpcCidr": "10.20.0.0/16", "payments-netwrok:azCount": "2",
                                       "pulumi:disable-default-providers": '["aws"]'})
        stack.start("network")

    with pytest.raises(ConfigError) as err:
        _in_thread(run)
    assert str(err.value) == (
        "payments-netwrok:azCount (network/Pulumi.dev.yaml): 'payments-netwrok' is not a namespace any program here "
        "reads, so it would do nothing. Fix: did you mean payments-network:azCount?")
