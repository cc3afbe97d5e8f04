"""A guard on the faust pins: every private faust-streaming, mode-streaming or aiokafka name the
worker relies on, and what the worker expects of it.

streams/transport.py and streams/app.py override or call internals of the pinned versions
(pyproject.toml: faust-streaming 0.15.3, mode-streaming 0.7.1, aiokafka 0.14.0): whole fetches
instead of faust's per-message drain loop, Kafka commits through faust's consumer thread,
``read_committed`` and position marks through aiokafka's consumer, fetcher and subscription
state, a table manager without its start-up sleep, a quiet sensor. The pins keep those
internals still; this test says what breaks when someone bumps one. Each entry names the
attribute, who relies on it and the signature (parameter names, coroutine or not) our code was
written against, and a failure reads like "faust-streaming 0.16.0 has no
Consumer._drain_messages, which streams/transport.py BatchConsumer overrides (...)".
tests/test_transactions.py checks, in aiokafka's source, how the position moves past
transaction markers.

Unit tests: no broker, no database. The app is built (not started) as the worker builds it.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import inspect
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import aiokafka
import faust
import mode
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.consumer.subscription_state import (
    Assignment,
    Subscription,
    SubscriptionState,
    TopicPartitionState,
)
from aiokafka.protocol.api import Request
from faust.sensors.monitor import Monitor as FaustMonitor
from faust.tables import TableManager
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.threads import QueueServiceThread

from vanphong.ground import kafka_protocol
from vanphong.ground.kafka import ISOLATION_LEVEL
from vanphong.ground.settings import Settings
from vanphong.streams import app as streams_app
from vanphong.streams import transport

#: The distribution that ships each top-level package, for the failure messages.
DISTRIBUTIONS = {"faust": "faust-streaming", "mode": "mode-streaming", "aiokafka": "aiokafka"}


@dataclass(frozen=True)
class Pin:
    """One attribute of a pinned library that our code overrides or calls."""

    owner: type
    name: str
    #: Who relies on it, and how: the end of the failure message.
    used_by: str
    #: The parameters our code was written against (``self`` included); ``None``: not callable.
    params: tuple[str, ...] | None = None
    #: ``True``: a coroutine function; ``False``: a plain one; ``None``: not callable.
    is_async: bool | None = None
    #: A property rather than a method; ``settable``: our code assigns it.
    is_property: bool = False
    settable: bool = False
    #: The return annotation our code unpacks or calls methods on (``None``: not checked).
    returns: Any = None


#: What BatchConsumerThread._drain reads of aiokafka's subscription state, to measure positions.
_DRAIN_READS: list[tuple[type, str, dict[str, Any]]] = [
    (SubscriptionState, "reassignment_in_progress", {"is_property": True}),
    (SubscriptionState, "subscription", {"is_property": True}),
    (Subscription, "assignment", {"is_property": True}),
    (Assignment, "state_value", {"params": ("self", "tp"), "is_async": False}),
    (TopicPartitionState, "has_valid_position", {"is_property": True}),
    (TopicPartitionState, "position", {"is_property": True}),
]

PINS = [
    Pin(
        faust_consumer.Consumer,
        "_drain_messages",
        "streams/transport.py BatchConsumer overrides (it hands each fetch over whole)",
        ("self", "fetcher"),
        is_async=True,
    ),
    Pin(
        faust_consumer.Consumer,
        "_wait_next_records",
        "streams/transport.py BatchConsumer._drain_messages calls "
        "(`records, _ = await self._wait_next_records(timeout=1.0)`)",
        ("self", "timeout"),
        is_async=True,
        # faust's annotation, written with typing's aliases as faust writes it
        returns=typing.Tuple[  # noqa: UP006
            typing.Optional[faust_consumer.RecordMap],  # noqa: UP045
            typing.Optional[typing.Set[TP]],  # noqa: UP006, UP045
        ],
    ),
    Pin(
        faust_consumer.Consumer,
        "_commit",
        "streams/checkpoint.py commit_offsets bypasses (its docstring says why); BatchConsumer "
        "acks nothing, so faust's periodic commit through it finds nothing to commit",
        ("self", "offsets"),
        is_async=True,
    ),
    Pin(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_ensure_consumer",
        "streams/checkpoint.py commit_offsets calls (on the consumer thread) for the aiokafka "
        "consumer it commits with",
        ("self",),
        is_async=False,
        returns=aiokafka.AIOKafkaConsumer,
    ),
    Pin(
        QueueServiceThread,
        "call_thread",
        "streams/checkpoint.py commit_offsets calls to run its commit on faust's consumer thread",
        ("self", "fun", "args", "kwargs"),
        is_async=True,
    ),
    Pin(
        aiokafka.AIOKafkaConsumer,
        "commit",
        "streams/checkpoint.py commit_offsets calls on the consumer of the thread",
        ("self", "offsets"),
        is_async=True,
    ),
    Pin(
        aiokafka.AIOKafkaConsumer,
        "assignment",
        "streams/checkpoint.py commit_offsets calls on the consumer of the thread",
        ("self",),
        is_async=False,
    ),
    Pin(
        faust.App,
        "_new_transport",
        "streams/transport.py BatchApp overrides (to put BatchTransport in)",
        ("self",),
        is_async=False,
    ),
    Pin(
        faust.App,
        "monitor",
        "streams/app.py create_app assigns (app.monitor = _QuietFaustMonitor())",
        is_property=True,
        settable=True,
    ),
    Pin(
        TableManager,
        "on_start",
        "streams/transport.py NoTablesManager overrides (faust's, without the sleep)",
        ("self",),
        is_async=True,
    ),
    Pin(
        TableManager,
        "_update_channels",
        "streams/transport.py NoTablesManager.on_start calls",
        ("self",),
        is_async=True,
    ),
    Pin(
        TableManager,
        "recovery",
        "streams/transport.py NoTablesManager.on_start starts",
        is_property=True,
    ),
    # --- read_committed and position marks (streams/transport.py BatchConsumerThread) ---
    Pin(
        faust_aiokafka.Consumer,
        "_new_consumer_thread",
        "streams/transport.py BatchConsumer overrides (to put BatchConsumerThread in)",
        ("self",),
        is_async=False,
    ),
    Pin(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_create_worker_consumer",
        "streams/transport.py BatchConsumerThread overrides (to read read_committed)",
        ("self", "transport"),
        is_async=False,
        returns=aiokafka.AIOKafkaConsumer,
    ),
    Pin(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_fetch_records",
        "streams/transport.py BatchConsumerThread overrides (positions measured around a drain)",
        ("self", "consumer", "active_partitions", "timeout", "max_records"),
        is_async=True,
    ),
    Pin(
        aiokafka_fetcher.Fetcher,
        "fetched_records",
        "streams/transport.py BatchConsumerThread._drain calls (one non-blocking drain)",
        ("self", "partitions", "timeout", "max_records"),
        is_async=True,
    ),
    Pin(
        aiokafka_fetcher.Fetcher,
        "_create_fetch_waiter",
        "streams/transport.py BatchConsumerThread._fetch_records waits on",
        ("self",),
        is_async=False,
    ),
    Pin(
        SubscriptionState,
        "fetch_context",
        "streams/transport.py BatchConsumerThread._fetch_records drains inside",
        ("self",),
        is_async=False,
    ),
    Pin(
        SubscriptionState,
        "wait_for_assignment",
        "streams/transport.py BatchConsumerThread._drain awaits (it returns a future)",
        ("self",),
        is_async=False,
    ),
    *(
        Pin(owner, name, f"streams/transport.py BatchConsumerThread._drain reads {name}", **how)
        for owner, name, how in _DRAIN_READS
    ),
    # --- topic ids through aiokafka's own client (vanphong/ground/kafka_protocol.py) ---
    Pin(
        AIOKafkaClient,
        "get_random_node",
        "vanphong/ground/kafka_protocol.py topic_ids calls (the broker it asks)",
        ("self",),
        is_async=False,
    ),
    Pin(
        AIOKafkaClient,
        "force_metadata_update",
        "vanphong/ground/kafka_protocol.py topic_ids awaits (it returns a future)",
        ("self",),
        is_async=False,
    ),
    Pin(
        AIOKafkaClient,
        "send",
        "vanphong/ground/kafka_protocol.py topic_ids sends its Metadata v12 request with",
        ("self", "node_id", "request", "group"),
        is_async=True,
    ),
    Pin(
        Request,
        "build",
        "vanphong/ground/kafka_protocol.py's TopicIdsRequest, GroupOperationsRequest and ACL "
        "requests implement",
        ("self", "request_struct_class"),
        is_async=False,
    ),
    Pin(
        Request,
        "prepare",
        "aiokafka's connection calls to pick the version of vanphong/ground/kafka_protocol.py "
        "TopicIdsRequest",
        ("self", "versions"),
        is_async=False,
    ),
    # --- the quiet sensor (streams/app.py) ---
    *(
        Pin(
            FaustMonitor,
            hook,
            "streams/app.py _QuietFaustMonitor overrides (a no-op, per message)",
            params,
            is_async=False,
        )
        for hook, params in [
            ("on_message_in", ("self", "tp", "offset", "message")),
            ("on_stream_event_in", ("self", "tp", "offset", "stream", "event")),
            ("on_stream_event_out", ("self", "tp", "offset", "stream", "event", "state")),
            ("on_message_out", ("self", "tp", "offset", "message")),
        ]
    ),
]

#: Our subclasses, to check that each override still matches what it overrides.
OVERRIDES: dict[tuple[type, str], Callable[..., Any]] = {
    (faust_consumer.Consumer, "_drain_messages"): transport.BatchConsumer._drain_messages,
    (faust.App, "_new_transport"): transport.BatchApp._new_transport,
    (faust_aiokafka.Consumer, "_new_consumer_thread"): transport.BatchConsumer._new_consumer_thread,
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer"): (
        transport.BatchConsumerThread._create_worker_consumer
    ),
    (faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records"): (
        transport.BatchConsumerThread._fetch_records
    ),
    (TableManager, "on_start"): transport.NoTablesManager.on_start,
    **{
        (FaustMonitor, hook): getattr(streams_app._QuietFaustMonitor, hook)
        for hook in ("on_message_in", "on_stream_event_in", "on_stream_event_out", "on_message_out")
    },
}


def _library(owner: type) -> str:
    """``faust-streaming 0.15.3``: the distribution and installed version that ``owner`` is from."""
    dist = DISTRIBUTIONS[owner.__module__.split(".")[0]]
    return f"{dist} {version(dist)}"


def _where(pin: Pin) -> str:
    return f"{pin.owner.__name__}.{pin.name}"


def _shape(fn: Callable[..., Any]) -> tuple[tuple[str, ...], bool]:
    """Parameter names and whether ``fn`` is a coroutine function."""
    return tuple(inspect.signature(fn).parameters), inspect.iscoroutinefunction(fn)


def _describe(params: tuple[str, ...], is_async: bool) -> str:
    return f"{'async ' if is_async else ''}({', '.join(params)})"


@pytest.mark.parametrize("pin", PINS, ids=_where)
def test_every_pinned_internal_the_worker_relies_on_is_there_with_the_same_signature(
    pin: Pin,
) -> None:
    lib, where = _library(pin.owner), _where(pin)
    static = inspect.getattr_static(pin.owner, pin.name, None)
    assert static is not None, f"{lib} has no {where}, which {pin.used_by}"
    if pin.is_property:
        assert isinstance(static, property), f"{lib}: {where} is no longer a property ({static!r})"
        if pin.settable:
            assert static.fset is not None, f"{lib}: {where} can no longer be set; {pin.used_by}"
        return
    assert pin.params is not None and pin.is_async is not None
    found = _shape(getattr(pin.owner, pin.name))
    wanted = (pin.params, pin.is_async)
    assert found == wanted, (
        f"{lib} changed the signature of {where}, which {pin.used_by}: "
        f"written against {_describe(*wanted)}, now {_describe(*found)}"
    )
    if pin.returns is not None:
        got = inspect.signature(getattr(pin.owner, pin.name)).return_annotation
        assert got == pin.returns, (
            f"{lib} changed what {where} returns, which {pin.used_by}: "
            f"written against {pin.returns}, now {got}"
        )


@pytest.mark.parametrize(
    ("base", "name"), list(OVERRIDES), ids=[f"{b.__name__}.{n}" for b, n in OVERRIDES]
)
def test_each_override_has_the_signature_of_what_it_overrides(base: type, name: str) -> None:
    ours = OVERRIDES[(base, name)]
    theirs = getattr(base, name)
    assert _shape(ours) == _shape(theirs), (
        f"{ours.__qualname__} is {_describe(*_shape(ours))} but {_library(base)}'s "
        f"{base.__name__}.{name} is {_describe(*_shape(theirs))}"
    )


# --- what the overrides assume of the code around them ---------------------------------------


def _body(fn: Callable[..., Any]) -> list[str]:
    """The statements of ``fn`` without its docstring, as AST dumps (comments and formatting
    do not count)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.dump(statement) for statement in body]


def test_faust_s_fetcher_still_runs_the_consumer_s_drain_loop() -> None:
    """BatchConsumer's whole-fetch delivery lives in ``_drain_messages``; if faust's Fetcher
    stopped calling it, the override would be dead code and the worker would process nothing."""
    task = faust_consumer.Fetcher._fetcher
    fetcher: Any = getattr(task, "fun", task)  # a mode ServiceTask wraps the coroutine function
    assert "_drain_messages" in fetcher.__code__.co_names, (
        f"{_library(faust.App)}: Fetcher._fetcher no longer calls Consumer._drain_messages, "
        "which streams/transport.py BatchConsumer overrides to receive every fetch"
    )


#: sha256 of the AST of faust-streaming 0.15.3's Consumer._drain_messages (see the test).
DRAIN_MESSAGES_SHA256 = "1fd39d98ecc3550f406baea74f2bfb9c616c1cb5fa747660f1195d46af684a79"


def test_faust_s_drain_loop_is_the_one_batch_consumer_replaces() -> None:
    """BatchConsumer replaces faust's drain loop whole. A new faust may give that loop new
    duties (flags, acks, gap tracking) the replacement lacks: then review streams/transport.py
    against the new loop, and update the fingerprint here."""
    digest = hashlib.sha256(
        "\n".join(_body(faust_consumer.Consumer._drain_messages)).encode()
    ).hexdigest()
    assert digest == DRAIN_MESSAGES_SHA256, (
        f"{_library(faust.App)} changed Consumer._drain_messages, which streams/transport.py "
        "BatchConsumer replaces: read the new loop for duties the replacement lacks, then "
        f"set DRAIN_MESSAGES_SHA256 = {digest!r}"
    )


def test_no_tables_manager_starts_as_faust_does_without_the_sleep() -> None:
    """NoTablesManager.on_start is a copy of faust's TableManager.on_start without its first
    statement, ``await self.sleep(1.0)``: anything faust adds there must be copied too."""
    theirs = _body(TableManager.on_start)
    ours = _body(transport.NoTablesManager.on_start)
    sleep = ast.dump(ast.parse("await self.sleep(1.0)", mode="exec").body[0])
    assert theirs[:1] == [sleep] and theirs[1:] == ours, (
        f"{_library(TableManager)} changed TableManager.on_start, which streams/transport.py "
        "NoTablesManager copies without its sleep; faust's is now:\n"
        + textwrap.dedent(inspect.getsource(TableManager.on_start))
    )


@pytest.fixture
def app(tmp_path: Path) -> faust.App:
    """The worker's faust app, built as ``vanphong worker`` builds it, and not started."""
    settings = Settings().model_copy(
        update={"worker_data_dir": tmp_path / "worker", "topic_prefix": "guard"}
    )
    return streams_app.create_app(settings)


def test_the_worker_s_app_gets_our_consumer_table_manager_and_sensor(app: faust.App) -> None:
    """What the overrides are for, on the app itself: ``_new_transport`` and
    ``Transport.Consumer`` give it BatchConsumer, the ``TableManager`` option NoTablesManager,
    and the ``monitor`` setter the quiet sensor."""
    lib = _library(faust.App)
    assert type(app.consumer) is transport.BatchConsumer, (
        f"{lib}: the app's consumer is {type(app.consumer)!r}, not BatchConsumer: "
        "App._new_transport or Transport.Consumer no longer decide it"
    )
    assert type(app.tables) is transport.NoTablesManager, (
        f"{lib}: the app's table manager is {type(app.tables)!r}: faust.App no longer takes the "
        "TableManager option that streams/transport.py BatchApp passes"
    )
    assert type(app.monitor) is streams_app._QuietFaustMonitor, (
        f"{lib}: app.monitor is {type(app.monitor)!r} after streams/app.py create_app set it"
    )


def test_the_consumer_and_fetcher_have_the_private_attributes_the_drain_loop_reads(
    app: faust.App,
) -> None:
    """``_thread`` (faust's consumer thread, where commit_offsets commits) and mode's
    ``_stopped`` event (BatchConsumer._drain_messages stops on the consumer's or the fetcher's)
    are set in constructors, so they are checked on real instances."""
    consumer = app.consumer
    thread = getattr(consumer, "_thread", None)
    assert isinstance(thread, faust_aiokafka.AIOKafkaConsumerThread), (
        f"{_library(faust.App)}: Consumer._thread is {thread!r}, not an AIOKafkaConsumerThread; "
        "streams/checkpoint.py commit_offsets calls its call_thread and _ensure_consumer"
    )
    fetcher = faust_consumer.Fetcher(app)
    for service in (consumer, fetcher):
        stopped = getattr(service, "_stopped", None)
        assert callable(getattr(stopped, "is_set", None)), (
            f"{_library(mode.Service)}: {type(service).__name__}._stopped is {stopped!r}, not "
            "an event; streams/transport.py BatchConsumer._drain_messages reads its is_set"
        )


def test_the_worker_s_kafka_consumer_has_the_private_attributes_its_thread_reads(
    app: faust.App,
) -> None:
    """BatchConsumerThread sets aiokafka's ``_isolation_level`` before ``start()`` (that is how
    the worker reads ``read_committed``), and reads the consumer's ``_client``, ``_closed`` and
    ``_fetcher`` and the fetcher's ``_closed``, ``_records`` and ``_subscriptions``. The
    consumer is made as the worker's thread makes it (not started: no broker); what only
    ``start()`` or a broker creates is checked in the code that sets it."""
    lib = _library(aiokafka.AIOKafkaConsumer)
    thread = cast(transport.BatchConsumer, app.consumer)._thread

    async def made() -> dict[str, Any]:
        consumer = thread._create_worker_consumer(cast(faust_aiokafka.Transport, app.transport))
        try:
            return {
                n: getattr(consumer, n, None) for n in ("_isolation_level", "_client", "_closed")
            }
        finally:
            await consumer.stop()

    attrs = asyncio.run(made())
    assert attrs["_isolation_level"] == ISOLATION_LEVEL, (
        f"{lib}: the worker's consumer has _isolation_level {attrs['_isolation_level']!r}: "
        "streams/transport.py BatchConsumerThread._create_worker_consumer sets it to read only "
        "committed records"
    )
    assert isinstance(attrs["_client"], AIOKafkaClient), (
        f"{lib}: AIOKafkaConsumer._client is {attrs['_client']!r}; streams/transport.py reads "
        "topic ids through it (vanphong/ground/kafka_protocol.py topic_ids)"
    )
    assert attrs["_closed"] is False, f"{lib}: AIOKafkaConsumer._closed is {attrs['_closed']!r}"
    for setter, names in [
        (aiokafka.AIOKafkaConsumer.start, ("_fetcher",)),
        (aiokafka_fetcher.Fetcher.__init__, ("_closed", "_records", "_subscriptions")),
    ]:
        gone = [n for n in names if n not in setter.__code__.co_names]
        assert not gone, (
            f"{lib}: {setter.__qualname__} no longer sets {', '.join(gone)}, which "
            "streams/transport.py BatchConsumerThread reads"
        )


def test_topic_ids_go_through_aiokafka_s_client_in_metadata_v12() -> None:
    """vanphong/ground/kafka_protocol.py topic_ids asks a consumer's or an admin client's private
    ``_client`` for Metadata v12 (aiokafka's own requests stop at v5, which has no topic ids):
    aiokafka must still pick our v12 struct from the broker's version range, and refuse an older
    broker with ``NotImplementedError`` as topic_ids documents."""
    lib = _library(AIOKafkaClient)

    async def client() -> Any:
        admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9")  # never started
        try:
            return getattr(admin, "_client", None)
        finally:
            await admin.close()

    found = asyncio.run(client())
    assert isinstance(found, AIOKafkaClient), (
        f"{lib}: AIOKafkaAdminClient._client is {found!r}; vanphong/status/caught_up.py and "
        "vanphong/status/ pass it to vanphong/ground/kafka_protocol.py topic_ids"
    )
    request = kafka_protocol.TopicIdsRequest(["a-topic"])
    struct = request.prepare({3: (0, 12)})  # Metadata: API key 3, versions 0 to 12
    assert type(struct) is kafka_protocol._MetadataRequestV12 and struct.encode(), (
        f"{lib}: Request.prepare no longer builds the Metadata v12 request of "
        "vanphong/ground/kafka_protocol.py"
    )
    with pytest.raises(NotImplementedError):
        request.prepare({3: (0, 9)})
