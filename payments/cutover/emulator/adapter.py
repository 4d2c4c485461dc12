"""The adapter between moto's Step Functions interpreter and our definitions: its gaps, bridged.

None of it touches a definition: the definition that runs is the one the offline plan produced, byte for byte.
Each patch below names the gap it bridges. The gaps, all in moto 5.x:

1. Service names. Step Functions names services after the SDK models (``elasticloadbalancingv2``,
   ``databasemigration``); moto hands the name straight to ``boto3.client``, which knows them as ``elbv2`` and
   ``dms``. -> map the name before the client is built (keeping moto's own sfn mapping).
2. Parameter casing. Step Functions takes PascalCase parameters even for camelCase APIs (ECS: ``Cluster``,
   ``Services``) and returns PascalCase results (``Services[0].RunningCount``); moto passes both through
   untouched. -> rename request keys to the operation's input shape and response keys to PascalCase, with the
   botocore shape walkers moto already ships.
3. Dates. Some responses carry ``datetime`` values (``cloudwatch:describeAlarms``, ``ssm:getParameter``,
   ``ecs:describeServices``) that moto cannot serialise into the state's JSON. -> ISO-8601 strings, as Step
   Functions gives them.
4. JSONPath. moto returns a definite path that crosses an array index (``$.Services[0].RunningCount``) as a
   one-element list, where Step Functions returns the value (moto issue 7825's fix overshoots), so Choice rules
   on such paths never match. -> definite paths give their value; wildcards, slices, filters and deep scans
   still give lists.
5. Identifiers: see :mod:`payments.cutover.emulator.pins`.
6. Time. moto sleeps for real in Wait states and retry intervals, and measures ``TimeoutSeconds`` and history
   timestamps on the wall clock. -> all of them on the session's virtual clock (:mod:`.clock`).

And the ones that only cost time, bridged so the suite and ``invoke rehearse`` stay fast (the same results:
memoisation, or work whose result moto never reads):

7. moto parses the ASL (ANTLR) at ``CreateStateMachine`` and again at every ``StartExecution``: a second or two
   for our definitions. -> parse each definition once per process and share the parsed program between its
   executions. The program is read-only while it runs (an execution's state lives in its own environment and
   heap); its one lazily written attribute, each component's ``heap_key`` (a uid naming the component in that
   per-execution heap), is assigned when it is parsed, so nothing changes afterwards.
   :func:`shared_programs_changed` compares each program with the pickle taken then; the tests assert it stays
   empty after executions of every machine, so a moto release that keeps state in the tree is caught.
   Across processes (test workers, ``invoke rehearse``, the lab) the pickled program is kept in a cache folder
   (:func:`cache_dir`), named by a digest of the definition, moto's version and Python's: loading it takes
   milliseconds where parsing takes up to a second. A definition that fails to parse is never cached. A program
   from the cache comes without ANTLR's parse tree (it cannot be pickled); moto's executions and validation use
   only the program.
8. Every JSONPath is compiled anew (a PLY parser built per call, in path extraction and in every ResultPath), and
   moto lists a response class's methods with ``inspect.getmembers`` at every API call. -> compile each path,
   and list each class, once.
9. Every SDK task builds a new boto3 client (loading the service model). -> one client per service and region
   for the session (boto3 clients are thread-safe).
10. Every state deep-copies the execution's JSON with ``copy.deepcopy`` (its memo and reduce protocol dominate an
    execution's CPU). -> JSON values (dict, list, str, numbers, bool, None) are copied through ``marshal`` (C code,
    the same values back); anything else still goes to ``copy.deepcopy``.
15. Every botocore session builds its own data loader, so each emulator session (moto resets boto3's default
    session) and each client parses the JSON service models and endpoint rules again: a quarter of a second per
    client. -> one loader per data path for the process; the model files never change while it runs.
16. moto's SNS makes a 2048-bit RSA signing key for every subscription (each emulator session). -> one key for
    the process: the messages are signed all the same.
17. botocore computes a SigV4 signature for every request (canonical request, payload digest, five HMACs): a
    twentieth of an execution's CPU. moto checks no signature; it reads the credential scope of the Authorization
    header (access key, date, region, service). -> inside an emulator session, requests carry that scope, the
    date and token headers as botocore sets them, and a signature of zeros.

18. moto's generic response serializer walks each history event through the 41 members of the HistoryEvent
    shape, trying up to a dozen attribute names for each: 0.14 s of moto's time for a history of 330 events, a
    fifth of the emulator tests' CPU. The events moto keeps are already the API's JSON (Step Functions' own typed
    dictionaries: the model's member names, strings, numbers, booleans) but for their timestamps. ->
    ``GetExecutionHistory`` is written with ``json.dumps``, with the content type moto sends: the same events, their
    timestamps converted by moto's own serializer; botocore still parses the response with the service model. A
    test compares what a client reads through both, event by event and with the content type, for executions that
    succeed, roll back, fail, run a Map, are stopped and time out.

:func:`process_caches` puts 7, 15 and 16 in place (the emulator does, and the test suite for its whole run).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import hashlib
import json
import marshal
import pickle
import re
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session

from payments.core import cache

#: Step Functions service name -> boto3 client name, where they differ.
SERVICE_NAMES = {"elasticloadbalancingv2": "elbv2", "databasemigration": "dms", "sfn": "stepfunctions"}

_models = botocore.session.get_session()


def operation_model(service: str, action: str) -> Any:
    """The botocore operation behind a Step Functions ``aws-sdk:<service>:<action>`` resource."""
    service = SERVICE_NAMES.get(service, service)
    return _models.get_service_model(service).operation_model(action[:1].upper() + action[1:])


def _operation(task: Any) -> Any:
    return operation_model(task.resource.api_name, task.resource.api_action)


def _iso_dates(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    return value


def _boto_service_name(self: Any, boto_service_name: str | None = None) -> str:  # gap 1
    name = boto_service_name or self.resource.api_name
    return SERVICE_NAMES.get(name, name)


def _normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:  # gap 2, requests
    self._to_boto_request(parameters, _operation(self).input_shape)


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:  # gaps 2 and 3, responses
    if not isinstance(response, dict):
        return
    fixed = _iso_dates(response)
    response.clear()
    response.update(fixed)
    shape = _operation(self).output_shape
    if shape is not None:
        self._from_boto_response(response, shape)


#: A path is indefinite (yields a list) when it has a wildcard, slice, filter, union or deep scan.
_INDEFINITE = re.compile(r"\*|\.\.|\[[^\]]*[:?,][^\]]*\]")


@functools.lru_cache(maxsize=4096)
def _compiled(path: str) -> Any:  # gap 8
    from jsonpath_ng.ext import parse

    return parse(path)


@functools.lru_cache(maxsize=4096)
def _compiled_plain(path: str) -> Any:  # gap 8: ResultPath uses jsonpath_ng's plain parser
    from jsonpath_ng import parse

    return parse(path)


@functools.lru_cache(maxsize=1024)
def _method_names(clazz: Any) -> list[str]:  # gap 8
    import inspect

    return [name for name, _ in inspect.getmembers(clazz, predicate=inspect.isfunction)]


def extract_json(path: str, data: Any) -> Any:  # gap 4
    from moto.stepfunctions.parser.asl.utils import json_path

    matches = _compiled(path).find(data)
    if _INDEFINITE.search(path):
        return [match.value for match in matches]
    if not matches:
        raise json_path.NoSuchJsonPathError(json_path=path, data=data)
    return matches[0].value


def _patch_everywhere(prefix: str, name: str, original: Any, replacement: Any) -> list[Any]:
    """Patch `name` in every loaded module under `prefix` that imported `original` by name."""
    return [
        mock.patch.object(module, name, replacement)
        for module_name, module in list(sys.modules.items())
        if module_name.startswith(prefix) and getattr(module, name, None) is original
    ]


# --- gap 7: parse once --------------------------------------------------------------------------------------

_parsed: dict[str, tuple[Any, Any, bytes]] = {}  #: definition -> (program, parse tree, pickle of the program)
_parsed_lock = threading.RLock()  #: re-entrant: a memo wrapped in another one (two sessions at once) cannot deadlock


def _assign_heap_keys(program: Any) -> None:
    """Touch ``heap_key`` on every evaluable component of the program, so none is written during an execution."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending = [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            _ = node.heap_key
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            pending.extend(node)
        elif hasattr(node, "__dict__") and not isinstance(node, type):
            pending.extend(vars(node).values())


#: Environment variable naming the folder of parsed programs shared between processes; ``off`` turns it off.
CACHE_ENV = "PAYMENTS_EMULATOR_CACHE"
_CACHE_FORMAT = "1"  #: bump when what is pickled changes


def cache_dir() -> Path | None:
    """Where parsed programs are kept between processes: ``$PAYMENTS_EMULATOR_CACHE`` (``off``: nowhere), else the
    ``asl`` folder of the project's cache (:mod:`payments.core.cache`).

    The files are pickles, which run code when loaded, so the folder is the user's own (created private, like the
    virtualenv that runs it); a folder others may write to is not used."""
    return cache.folder("asl", own=CACHE_ENV)


def _entry_name(definition: str) -> str:
    import moto

    key = hashlib.sha256("\0".join([_CACHE_FORMAT, moto.__version__, sys.version, definition]).encode()).hexdigest()
    return f"{key}.pickle"


def _cached_program(definition: str) -> tuple[Any, bytes] | None:
    pickled = cache.load(cache_dir(), _entry_name(definition))
    if pickled is None:
        return None
    try:
        return pickle.loads(pickled), pickled
    except Exception:  # damaged, or written by another moto: parse again, and the entry is rewritten
        return None


def _keep_program(definition: str, pickled: bytes) -> None:
    cache.store(cache_dir(), _entry_name(definition), pickled)


def _parse_once(real: Callable[[str], tuple[Any, Any]]) -> Callable[[str], tuple[Any, Any]]:
    def parse(definition: str) -> tuple[Any, Any]:
        with _parsed_lock:
            if definition not in _parsed:
                cached = _cached_program(definition)
                if cached is not None:
                    _parsed[definition] = (cached[0], None, cached[1])
                else:
                    program, tree = real(definition)  # a syntax error raises, and is not cached
                    _assign_heap_keys(program)
                    pickled = pickle.dumps(program)
                    _parsed[definition] = (program, tree, pickled)
                    _keep_program(definition, pickled)
            program, tree, _ = _parsed[definition]
        return program, tree

    parse.__wrapped__ = real  # type: ignore[attr-defined]  # the parser itself, for tests
    return parse


class _ParseOnce(staticmethod):  # type: ignore[type-arg]
    """The parser's ``parse``, memoised (a staticmethod of its own type, so a nested patch can tell it is in)."""


def shared_programs_changed() -> list[str]:
    """The names of the parsed programs that differ from their state at parse time (should be none): an
    execution that wrote into a shared program would leak into the next execution of the same definition."""
    with _parsed_lock:
        entries = list(_parsed.items())
    return [
        _definition_name(definition) for definition, (program, _, pickled) in entries
        if pickle.dumps(program) != pickled
    ]


def _definition_name(definition: str) -> str:
    """A short name for a definition in messages: its Comment, else its first state."""
    doc = json.loads(definition)
    return str(doc.get("Comment") or doc.get("StartAt"))


# --- gap 9: one client per service ----------------------------------------------------------------------------


def _client_cache(real: Callable[..., Any]) -> Callable[..., Any]:
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = real(region, service, state_credentials)
            return clients[(region, service)]

    return boto_client_for


# --- gaps 15 and 16: caches for the process ----------------------------------------------------------------------

_loaders: dict[str | None, Any] = {}
_loaders_lock = threading.RLock()  #: re-entrant, as _parsed_lock


def _shared_loader(real: Callable[..., Any]) -> Callable[..., Any]:
    def create_loader(search_path_string: str | None = None) -> Any:
        with _loaders_lock:
            if search_path_string not in _loaders:
                _loaders[search_path_string] = real(search_path_string)
            return _loaders[search_path_string]

    return create_loader


_rsa_key: list[Any] = []


def _one_private_key(self: Any) -> Any:
    if not _rsa_key:
        from cryptography.hazmat.primitives.asymmetric import rsa

        _rsa_key.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _rsa_key[0]


@contextlib.contextmanager
def process_caches() -> Iterator[None]:
    """Gaps 7, 15 and 16: parsed state-machine programs, botocore's parsed models and SNS's signing key, made once
    for the process (programs: once for every process, see :func:`cache_dir`).

    Inside one already in place (an emulator session during the test suite's run) it changes nothing: the caches
    are the process's, and a second layer of wrappers would only repeat the same lookups."""
    import moto.stepfunctions.parser.asl.parse.asl_parser as asl_parser
    from moto.sns import models as sns

    parser = asl_parser.AmazonStateLanguageParser
    if isinstance(parser.__dict__["parse"], _ParseOnce):
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(botocore.session, "create_loader", _shared_loader(botocore.session.create_loader))
        )
        stack.enter_context(mock.patch.object(sns.Subscription, "private_key", _one_private_key))
        stack.enter_context(mock.patch.object(parser, "parse", _ParseOnce(_parse_once(parser.parse))))
        yield


# --- gap 17: the credential scope without the signature ---------------------------------------------------------

_NO_SIGNATURE = "0" * 64


def _scope_only(self: Any, request: Any) -> None:
    """``SigV4Auth.add_auth`` as moto reads it: botocore's own headers and scope, no signature computed."""
    from botocore.auth import SIGV4_TIMESTAMP
    from botocore.exceptions import NoCredentialsError
    from botocore.utils import get_current_datetime

    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
    self._modify_request_before_signing(request)  # drops an earlier attempt's header; date and token headers
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, SignedHeaders=host;x-amz-date, Signature={_NO_SIGNATURE}"
    )


# --- gap 18: the execution history as JSON --------------------------------------------------------------------


#: What moto's serializer sends with a Step Functions response (its protocol, awsJson1_0).
HISTORY_CONTENT_TYPE = "application/x-amz-json-1.0"


def _history_as_json(self: Any) -> tuple[str, dict[str, str]]:
    """``StepFunctionResponse.get_execution_history``, its body written directly (see gap 18)."""
    from moto.core.serialize import TimestampSerializer

    history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
    unix = TimestampSerializer.TIMESTAMP_FORMAT_UNIX
    convert = TimestampSerializer(unix)._convert_timestamp_to_str
    events = [{**event, "timestamp": convert(event["timestamp"], unix)} for event in history["events"]]
    return json.dumps({**history, "events": events}), {"Content-Type": HISTORY_CONTENT_TYPE}


# --- gap 10: copying JSON ------------------------------------------------------------------------------------

_ATOMS = (str, int, float, bool, type(None))


def json_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for JSON values, through marshal; other objects are handed to ``copy.deepcopy``."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or kind is list:
        try:
            return marshal.loads(marshal.dumps(value))
        except ValueError:  # something marshal cannot hold (an object inside): the careful way
            pass
    return copy.deepcopy(value, memo)


_COPY = types.SimpleNamespace(deepcopy=json_copy, copy=copy.copy)


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Gaps 1-4, 7-10 and 15-18 patched in for the duration (time, gap 6, is wired by the session)."""
    import botocore.auth
    import moto.core.responses as responses
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
    from moto.stepfunctions.parser.asl.utils import boto_client, json_path
    from moto.stepfunctions.responses import StepFunctionResponse

    sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    patches = [
        process_caches(),
        mock.patch.object(sdk_task, "_get_boto_service_name", _boto_service_name),
        mock.patch.object(sdk_task, "_normalise_parameters", _normalise_parameters),
        mock.patch.object(sdk_task, "_normalise_response", _normalise_response),
        *_patch_everywhere("moto.stepfunctions.parser", "extract_json", json_path.extract_json, extract_json),
        *_patch_everywhere("moto.stepfunctions.parser", "copy", copy, _COPY),
        mock.patch.object(result_path, "parse", _compiled_plain),
        mock.patch.object(responses, "method_names_from_class", _method_names),
        mock.patch.object(botocore.auth.SigV4Auth, "add_auth", _scope_only),
        mock.patch.object(StepFunctionResponse, "get_execution_history", _history_as_json),
        *_patch_everywhere(
            "moto.stepfunctions.parser",
            "boto_client_for",
            boto_client.boto_client_for,
            _client_cache(boto_client.boto_client_for),
        ),
    ]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
