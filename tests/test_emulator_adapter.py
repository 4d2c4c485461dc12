"""The emulator adapter's speed gaps, held to their promise of the same results.

Gap 7 across processes: a parsed state-machine program is kept in a private cache folder and loaded, not parsed,
by the next process; what fails to parse, a damaged entry and a folder others may write to are never trusted. (Each
test clears the process's own memo, as a new process would start.)

Gap 17: inside an emulator session a request carries the credential scope moto reads, without a computed
signature; outside one, botocore signs as always.

Gap 18: an execution history written directly reads the same, to a client, as through moto's serializer."""

from __future__ import annotations

import json
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException
from moto.stepfunctions.responses import StepFunctionResponse

from payments.cutover import emulator
from payments.cutover.emulator import adapter

DEFINITION = json.dumps({
    "Comment": "parse-cache test",
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Succeed"}},
})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cache = tmp_path / "asl"
    monkeypatch.setenv(adapter.CACHE_ENV, str(cache))
    monkeypatch.setattr(adapter, "_parsed", {})
    yield cache


def counting_parser() -> tuple[Callable[[str], tuple[Any, Any]], list[str]]:
    """The real ANTLR parser behind the memo, counting what it is given."""
    calls: list[str] = []
    real = AmazonStateLanguageParser.__dict__["parse"].__func__  # the parser without any memo around it
    while hasattr(real, "__wrapped__"):
        real = real.__wrapped__

    def parse(definition: str) -> tuple[Any, Any]:
        calls.append(definition)
        return real(definition)  # type: ignore[no-any-return]

    return adapter._parse_once(parse), calls


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "_parsed", {})


def test_a_program_parsed_in_one_process_is_loaded_by_the_next(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = counting_parser()
    program, tree = parse(DEFINITION)
    assert tree is not None and len(calls) == 1
    assert [p.suffix for p in folder.iterdir()] == [".pickle"]
    assert folder.stat().st_mode & 0o777 == 0o700

    new_process(monkeypatch)
    loaded, tree = parse(DEFINITION)
    assert len(calls) == 1, "the second process parsed again"
    assert tree is None  # ANTLR's tree is not kept; executions use the program
    assert type(loaded) is type(program) and loaded is not program
    assert pickle.dumps(loaded) == pickle.dumps(program)
    assert adapter.shared_programs_changed() == []


def test_another_definition_moto_or_python_is_another_entry(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = counting_parser()
    parse(DEFINITION)
    parse(DEFINITION.replace("parse-cache test", "another comment"))
    assert len(calls) == 2 and len(list(folder.iterdir())) == 2

    new_process(monkeypatch)
    monkeypatch.setattr("moto.__version__", "0.0.0-other")
    parse(DEFINITION)
    assert len(calls) == 3, "a program pickled by another moto was trusted"


def test_a_definition_that_fails_to_parse_is_never_cached(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = counting_parser()
    broken = DEFINITION.replace('"Wait", "Seconds"', '"Wait4", "Seconds"')
    for _ in range(2):
        with pytest.raises(ASLParserException):
            parse(broken)
        new_process(monkeypatch)
    assert len(calls) == 2
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_damaged_entry_is_parsed_again_and_rewritten(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = counting_parser()
    parse(DEFINITION)
    (entry,) = folder.iterdir()
    entry.write_bytes(b"not a pickle")

    new_process(monkeypatch)
    parse(DEFINITION)
    assert len(calls) == 2
    assert pickle.loads(entry.read_bytes()) is not None


def test_a_folder_others_may_write_to_is_not_used(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = counting_parser()
    folder.mkdir()
    os.chmod(folder, 0o777)
    parse(DEFINITION)
    assert list(folder.iterdir()) == [], "a program was written where others can replace it"

    os.chmod(folder, 0o700)
    parse(DEFINITION.replace("parse-cache test", "kept"))
    (entry,) = folder.iterdir()
    os.chmod(folder, 0o775)
    new_process(monkeypatch)
    parse(DEFINITION.replace("parse-cache test", "kept"))
    assert len(calls) == 3, "a program was loaded from a folder others can write to"
    assert entry.exists()


def test_off_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(adapter.CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    new_process(monkeypatch)
    parse, calls = counting_parser()
    parse(DEFINITION)
    new_process(monkeypatch)
    parse(DEFINITION)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_the_suite_and_every_emulator_session_share_one_set_of_process_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest turns the process caches on for the whole run; a session inside it wraps nothing twice. (Wrapped
    twice, botocore's loader cache waited on its own lock when a session made the process's first client.)"""
    import botocore.session

    parse, loader = AmazonStateLanguageParser.__dict__["parse"], botocore.session.create_loader
    assert isinstance(parse, adapter._ParseOnce)
    monkeypatch.setattr(adapter, "_loaders", {})  # as in a process whose first client a session makes
    seen: list[bool] = []

    def first_client() -> None:
        with emulator.emulator() as session:
            seen.append(AmazonStateLanguageParser.__dict__["parse"] is parse)
            seen.append(botocore.session.create_loader is loader)
            session.client("ssm").describe_parameters()
            seen.append(True)

    worker = threading.Thread(target=first_client, daemon=True)  # a deadlock fails the test instead of hanging it
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the session's first client is still waiting"
    assert seen == [True, True, True]
    assert AmazonStateLanguageParser.__dict__["parse"] is parse and botocore.session.create_loader is loader


def _authorization(client: Any) -> list[str]:
    """The Authorization header of each request the client sends from now on (as text)."""
    seen: list[str] = []

    def keep(request: Any, **_: Any) -> None:
        header = request.headers["Authorization"]
        seen.append(header.decode() if isinstance(header, bytes) else header)

    client.meta.events.register("before-send", keep)
    return seen


def test_inside_a_session_a_request_carries_the_scope_moto_reads_and_no_computed_signature() -> None:
    with emulator.emulator() as session:
        sfn = session.client("stepfunctions")
        seen = _authorization(sfn)
        assert sfn.list_state_machines()["stateMachines"] == []
    (text,) = seen
    assert text.startswith("AWS4-HMAC-SHA256 Credential=") and "/us-east-1/states/aws4_request," in text
    assert text.endswith("Signature=" + "0" * 64)


def test_outside_a_session_botocore_signs_as_always() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        seen = _authorization(sfn)
        sfn.list_state_machines()
    (text,) = seen
    signature = text.rsplit("Signature=", 1)[1]
    assert len(signature) == 64 and signature != "0" * 64


# --- gap 18: the execution history as JSON ---------------------------------------------------------------------

#: moto's own GetExecutionHistory (its generic serializer), taken before any session patches it.
MOTO_HISTORY = StepFunctionResponse.get_execution_history


def test_a_history_reads_the_same_as_through_motos_serializer() -> None:
    """Every kind of history the tests read: a success, rollbacks (the cutover's and the rollback machine's Map
    over the pools), an input refused, a failed API call, a stop by a person, a timeout. Event by event, what a
    client reads through gap 18 is what it reads through moto's serializer."""
    from payments.layers.migration.schedule import CutoverInput
    from tests.test_cutover_emulator import Rig
    from tests.test_migration_state_machine import targets

    with emulator.emulator() as session:
        rig = Rig(session, targets(), CutoverInput(desired_count=3))
        faults: list[Callable[[], None]] = [
            lambda: None,
            lambda: session.control.stop_at("BakeWait"),
            lambda: session.control.time_out_at("BakeWait"),
            lambda: session.control.fail("SetWeights"),
        ]
        outcomes = []
        for fault in faults:
            rig.standins.reset()
            fault()
            outcomes.append(rig.run().status)
        rig.standins.reset()
        outcomes += [rig.run(fail_at=50).error, rig.run({"steps": [50, 10, 100]}).error]
        assert outcomes == ["SUCCEEDED", "ABORTED", "TIMED_OUT", "FAILED", "CutoverRolledBack", "InvalidInput"]
        sfn = session.client("stepfunctions")
        arns = [
            run["executionArn"]
            for machine in (rig.cutover_arn, rig.rollback_arn)
            for run in sfn.list_executions(stateMachineArn=machine)["executions"]
        ]
        assert StepFunctionResponse.get_execution_history is adapter._history_as_json  # gap 18 is what runs
        fast = {arn: sfn.get_execution_history(executionArn=arn) for arn in arns}
        with mock.patch.object(StepFunctionResponse, "get_execution_history", MOTO_HISTORY):
            serialized = {arn: sfn.get_execution_history(executionArn=arn) for arn in arns}
    assert MOTO_HISTORY is not adapter._history_as_json
    for arn in arns:
        assert fast[arn]["events"] == serialized[arn]["events"]
        headers = [response["ResponseMetadata"]["HTTPHeaders"] for response in (fast[arn], serialized[arn])]
        assert headers[0]["content-type"] == headers[1]["content-type"] == adapter.HISTORY_CONTENT_TYPE
    fast = {arn: response["events"] for arn, response in fast.items()}
    ends = {events[-1]["type"] for events in fast.values()}
    assert {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"} <= ends
    kinds = {event["type"] for events in fast.values() for event in events}
    assert {"MapStateEntered", "MapIterationStarted", "TaskFailed", "TaskSucceeded"} <= kinds
