"""ccpulse.client without a broker: rows parsed from what the publisher writes, keys, errors, filters, latest rows.

Rows come from the real KPI publisher (one answered call per channel of two
queues, published while the windows are open and again after they closed) and
from schemas/examples; the subscription runs against a stand-in for aiokafka's
consumer that serves those records from two partitions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiokafka
import aiokafka.admin
import pytest
from aiokafka import TopicPartition

from ccpulse.client import (
    CHANNELS,
    DEFAULT_KPI_TOPIC,
    KpiFilter,
    KpiKey,
    KpiRow,
    KpiRowError,
    KpiTombstone,
    KpiTopicError,
    instant_ms,
    kpi_key,
    latest_by_key,
    parse_kpi_key,
    read_record,
    subscribe_kpi_records,
    subscribe_kpis,
)
from ccpulse.codec.batches import partition_for_key
from ccpulse.codec.outputs import kpi_row_key
from ccpulse.config import Settings
from ccpulse.domain.events import Channel
from ccpulse.domain.facts import QueueArrivalFact, QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_view import QueueView
from ccpulse.domain.windows import MINUTE_MS, Window, WindowKind
from ccpulse.runtime.kpi_publisher import KpiPublisher

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "schemas" / "examples" / "valid"
T0 = 1_790_035_200_000  # 2026-09-22T00:00:00Z
S = 1000


def published(queues: tuple[str, ...] = ("sales", "billing|de")) -> list[tuple[bytes, bytes]]:
    """What the publisher writes for one call per channel per queue (waits 9 s and 41 s), open then closed."""
    view = QueueView(track_changes=True)
    for queue in queues:
        for index, channel in enumerate([Channel.VOICE, Channel.CHAT]):
            queued_ms = T0 + 2 * MINUTE_MS + index * S
            wait_ms = (9 if channel is Channel.VOICE else 41) * S
            view.apply(
                [
                    QueueArrivalFact(f"{queue}-{index}", queue, channel, queued_ms),
                    QueueOutcomeFact(
                        f"{queue}-{index}", queue, channel, QueueOutcome.ANSWERED, queued_ms, queued_ms + wait_ms
                    ),
                ]
            )
    publisher = KpiPublisher()
    rows: list[tuple[bytes, bytes]] = []
    for now_ms in (T0 + 5 * MINUTE_MS, T0 + 20 * MINUTE_MS):
        view.advance_to(now_ms)
        rows += publisher.due_rows(view, now_ms)
    return rows


def example(name: str) -> dict[str, Any]:
    loaded = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


# -- rows --------------------------------------------------------------------------------


def test_every_row_the_publisher_writes_parses_and_names_its_own_key() -> None:
    rows = published()
    assert len(rows) > 20
    finals = 0
    for key, value in rows:
        row = KpiRow.from_json(value, key)
        assert row.key == key
        assert parse_kpi_key(key) == KpiKey(
            row.queue, row.channel, row.window, None if row.window_kind is WindowKind.ROLLING else row.window_start_ms
        )
        assert row.thresholds_s == (20, 30, 60)
        assert (row.now is None) == row.final
        assert row.totals is not None
        finals += row.final
    assert finals > 0


def test_a_rows_numbers_are_the_published_ones() -> None:
    rows = {key: KpiRow.from_json(value, key) for key, value in published(("sales",))}
    start = "2026-09-22T00:00:00.000Z"
    final = rows[f"sales|all|interval_15m|{start}".encode()]
    # Two calls answered after 9 s and 41 s: ASA 25 s; within 20 s 1 of 2; nothing abandoned.
    assert (final.final, final.window_start_ms, final.window_end_ms) == (True, T0, T0 + 15 * MINUTE_MS)
    assert final.asa_s == 25.0
    assert final.service_level() == 0.5
    assert final.service_level(30) == 0.5
    assert final.service_level(60, "answered") == 1.0
    assert final.abandonment_ratio == 0.0
    assert final.offered == 2
    assert final.kpis["answered"] == 2
    assert final.as_of_ms == T0 + 20 * MINUTE_MS
    voice = rows[b"sales|voice|rolling_5m|latest"]  # at T0+20min: the calls have left the last 5 minutes
    assert (voice.window_kind, voice.final, voice.asa_s, voice.offered) == (WindowKind.ROLLING, False, None, 0)
    first = next(KpiRow.from_json(v, k) for k, v in published(("sales",)) if k == b"sales|voice|rolling_5m|latest")
    assert (first.as_of_ms, first.asa_s, first.service_level()) == (T0 + 5 * MINUTE_MS, 9.0, 1.0)
    assert voice.now is not None
    assert voice.now["waiting"] == 0
    with pytest.raises(KeyError, match="thresholds"):
        final.service_level(45)


def test_the_schema_examples_parse() -> None:
    closed = KpiRow.from_dict(example("kpi-row-interval-final.json"))
    assert (closed.queue, closed.channel, closed.window, closed.final, closed.now) == (
        "q01",
        "voice",
        "interval_15m",
        True,
        None,
    )
    assert closed.window_start_ms == instant_ms("2024-03-01T12:00:00.000Z") == 1_709_294_400_000
    assert closed.service_level() == pytest.approx(0.532051282051282)
    assert closed.totals is None  # optional in the schema
    assert closed.key == b"q01|voice|interval_15m|2024-03-01T12:00:00.000Z"
    rolling = KpiRow.from_dict(example("kpi-row-rolling-open-all-channels.json"))
    assert rolling.key.endswith(b"|latest")
    assert rolling.now is not None


def test_a_rows_mappings_are_read_only() -> None:
    key, value = published(("sales",))[0]
    row = KpiRow.from_json(value, key)
    with pytest.raises(TypeError):
        row.kpis["asa_s"] = 0.0  # type: ignore[index]


def _without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.pop(name)


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.__setitem__(name, value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(_set("version", 2), "version 2 is not read", id="newer-version"),
        pytest.param(_set("version", True), "field 'version'", id="version-boolean"),
        pytest.param(_without("queue"), "field 'queue' is missing", id="no-queue"),
        pytest.param(_set("queue", ""), "field 'queue' is empty", id="empty-queue"),
        pytest.param(_set("channel", "phone"), "field 'channel'", id="bad-channel"),
        pytest.param(_set("window", "hourly"), "window 'hourly'", id="bad-window"),
        pytest.param(_set("window_kind", "rolling"), "does not agree", id="kind-disagrees"),
        pytest.param(_set("window_start", "2024-03-01 12:00:00"), "not an RFC 3339", id="bad-instant"),
        pytest.param(_set("window_end", "2024-02-30T12:15:00.000Z"), "not a date", id="february-30"),
        pytest.param(_set("window_end", "2024-03-01T12:00:00.000Z"), "before it starts", id="empty-span"),
        pytest.param(_set("final", "yes"), "field 'final'", id="final-string"),
        pytest.param(_set("now", {"waiting": 0}), "a final row has no 'now'", id="final-with-now"),
        pytest.param(_set("totals", []), "field 'totals'", id="totals-list"),
        pytest.param(_set("kpis", []), "field 'kpis'", id="kpis-list"),
        pytest.param(lambda d: d["kpis"].pop("service_levels"), "lacks service_levels", id="no-service-levels"),
        pytest.param(lambda d: d["kpis"].__setitem__("asa_s", "20"), "kpis.asa_s", id="asa-string"),
        pytest.param(
            lambda d: d["kpis"]["service_levels"][0].__setitem__("ratio", "high"), "service_levels", id="bad-level"
        ),
    ],
)
def test_a_row_that_does_not_match_is_refused_with_the_problem_named(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = example("kpi-row-interval-final.json")
    change(document)
    with pytest.raises(KpiRowError, match=problem):
        KpiRow.from_json(encoded(document))


def test_values_that_are_no_row_at_all_are_refused() -> None:
    with pytest.raises(KpiRowError, match="not JSON"):
        KpiRow.from_json(b"{not json")
    with pytest.raises(KpiRowError, match="a JSON object, not list"):
        KpiRow.from_json(b"[1, 2]")
    with pytest.raises(ValueError, match="does not describe the row"):  # KpiRowError is a ValueError too
        KpiRow.from_json(encoded(example("kpi-row-interval-final.json")), b"q02|voice|interval_15m|latest")


def test_an_error_located_on_the_topic_names_partition_and_offset() -> None:
    error = KpiRowError("field 'queue' is missing").at("ccpulse.kpis", 2, 7)
    assert str(error) == "ccpulse.kpis[2]@7: field 'queue' is missing"
    assert (error.topic, error.partition, error.offset, error.problem) == (
        "ccpulse.kpis",
        2,
        7,
        "field 'queue' is missing",
    )


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", ["sales", "billing|de", "a|b|c|d", "Kundendienst Zürich"])
@pytest.mark.parametrize(
    "window",
    [
        Window(WindowKind.INTERVAL, "interval_15m", T0, T0 + 15 * MINUTE_MS),
        Window(WindowKind.ROLLING, "rolling_5m", T0, T0 + 6 * MINUTE_MS),
        Window(WindowKind.TODAY, "today", T0 - 120 * MINUTE_MS, T0 + 1320 * MINUTE_MS),
    ],
    ids=lambda window: window.name,
)
def test_keys_are_the_workers_and_parse_back(queue: str, window: Window) -> None:
    for channel in sorted(CHANNELS):
        worker_key = kpi_row_key(queue, channel, window)
        start_ms = None if window.kind is WindowKind.ROLLING else window.start_ms
        assert kpi_key(queue, channel, window.name, start_ms) == worker_key
        assert parse_kpi_key(worker_key) == KpiKey(queue, channel, window.name, start_ms)
        assert parse_kpi_key(worker_key.decode()).encode() == worker_key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        pytest.param(b"\xffsales|voice|today|2026-09-22T00:00:00.000Z", "not UTF-8", id="not-utf8"),
        pytest.param(b"sales|voice|today", "not queue|channel|window|window_start", id="three-fields"),
        pytest.param(b"|voice|today|2026-09-22T00:00:00.000Z", "not queue|channel", id="no-queue"),
        pytest.param(b"sales|phone|today|2026-09-22T00:00:00.000Z", "channel 'phone'", id="bad-channel"),
        pytest.param(b"sales|voice|rolling_5m|2026-09-22T00:00:00.000Z", "ends in 'latest'", id="rolling-start"),
        pytest.param(b"sales|voice|interval_15m|latest", "not an RFC 3339", id="interval-latest"),
        pytest.param(b"sales|voice|weekly|2026-09-22T00:00:00.000Z", "window 'weekly'", id="bad-window"),
    ],
)
def test_keys_the_worker_never_writes_are_refused(key: bytes, problem: str) -> None:
    with pytest.raises(KpiRowError, match=problem):
        parse_kpi_key(key)


def test_kpi_key_wants_a_start_exactly_for_windows_that_have_one() -> None:
    with pytest.raises(ValueError, match="give window_start_ms"):
        kpi_key("sales", "voice", "interval_15m")
    with pytest.raises(ValueError, match="give window_start_ms"):
        kpi_key("sales", "voice", "rolling_5m", T0)
    with pytest.raises(ValueError, match="channel 'phone'"):
        kpi_key("sales", "phone", "today", T0)


def test_the_client_knows_the_workers_topic_and_channels() -> None:
    schema = json.loads((ROOT / "schemas" / "kpi-row.schema.json").read_text(encoding="utf-8"))
    assert set(schema["properties"]["channel"]["enum"]) == CHANNELS
    assert Settings().kpi_topic == DEFAULT_KPI_TOPIC


# -- filtering, records, latest rows ---------------------------------------------------------


def test_a_filter_matches_by_queue_channel_and_window() -> None:
    key = KpiKey("sales", "voice", "interval_15m", T0)
    assert KpiFilter().matches(key)
    assert KpiFilter.of(queues=["sales"]).matches(key)
    assert not KpiFilter.of(queues=["billing"]).matches(key)
    assert KpiFilter.of(channels=(c for c in ["voice", "all"])).matches(key)  # any iterable, read once
    assert not KpiFilter.of(channels={"all"}).matches(key)
    assert not KpiFilter.of(queues={"sales"}, windows={"today"}).matches(key)
    with pytest.raises(TypeError, match="not a string"):
        KpiFilter.of(queues="sales")
    with pytest.raises(ValueError, match="channel 'phone'"):
        KpiFilter.of(channels={"phone"})
    with pytest.raises(KpiRowError, match="window 'hourly'"):
        KpiFilter.of(windows={"hourly"})


def test_a_record_is_a_row_a_tombstone_or_left_out() -> None:
    key, value = published(("sales",))[0]
    row = read_record(key, value)
    assert isinstance(row, KpiRow)
    assert read_record(key, None) == KpiTombstone(parse_kpi_key(key))
    elsewhere = KpiFilter.of(queues={"billing"})
    assert read_record(key, b"{not json", elsewhere) is None  # filtered out by its key: its value is never read
    with pytest.raises(KpiRowError, match="has none"):
        read_record(None, value)


def test_latest_by_key_keeps_the_last_record_per_key_and_drops_tombstoned_keys() -> None:
    rows = [KpiRow.from_json(value, key) for key, value in published(("sales",))]
    latest = latest_by_key(rows)
    assert len(latest) == len({row.key for row in rows}) < len(rows)
    for row in rows:
        assert latest[row.key] == [r for r in rows if r.key == row.key][-1]
    rolling = b"sales|voice|rolling_5m|latest"
    removed = latest_by_key([KpiTombstone(parse_kpi_key(rolling))], latest)
    assert removed is latest
    assert rolling not in latest
    # Order decides, not as_of: a row read later wins even with an earlier as_of (a replayed worker).
    first, second = rows[0], rows[-1]
    assert first.as_of_ms < second.as_of_ms
    older = KpiRow.from_dict({**json.loads(published(("sales",))[0][1]), "as_of": "2020-01-01T00:00:00.000Z"})
    assert latest_by_key([first, older])[first.key].as_of_ms < first.as_of_ms


# -- the subscription, against a stand-in consumer ------------------------------------------


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    """aiokafka's consumer as the client uses it, serving ``LOG`` (partition -> records) two at a time."""

    LOG: ClassVar[dict[int, list[tuple[bytes | None, bytes | None]]]] = {}
    TOPIC: ClassVar[str] = DEFAULT_KPI_TOPIC
    made: ClassVar[list[FakeConsumer]] = []

    def __init__(self, *topics: str, **options: Any) -> None:
        self.options = options
        self.positions: dict[TopicPartition, int] = {}
        self.started = self.stopped = False
        self.subscribed: list[str] = []
        FakeConsumer.made.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def assign(self, partitions: list[TopicPartition]) -> None:
        start_at_end = self.options["auto_offset_reset"] == "latest"
        self.positions = {tp: len(self.LOG[tp.partition]) if start_at_end else 0 for tp in partitions}

    def subscribe(self, topics: list[str]) -> None:
        self.subscribed = topics
        self.assign([TopicPartition(self.TOPIC, p) for p in self.LOG])

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.LOG[tp.partition]) for tp in partitions}

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[_Record]]:
        batch: dict[TopicPartition, list[_Record]] = {}
        for tp, position in self.positions.items():
            records = self.LOG[tp.partition][position : position + 2]
            if records:
                batch[tp] = [
                    _Record(tp.topic, tp.partition, position + i, key, value) for i, (key, value) in enumerate(records)
                ]
                self.positions[tp] = position + len(records)
        if not batch:
            await asyncio.sleep(timeout_ms / 100_000)  # nothing new: a short wait, as a real poll
        return batch


class FakeAdmin:
    """aiokafka's admin client as the client uses it: the cluster's topics, the stand-in consumer's among them."""

    made: ClassVar[list[FakeAdmin]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.closed = False
        FakeAdmin.made.append(self)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        assert topics is None  # by name, a broker may auto-create a wrong one
        partitions = [{"partition": p, "error_code": 0} for p in sorted(FakeConsumer.LOG)]
        return [
            {"topic": "__consumer_offsets", "error_code": 0, "partitions": [{"partition": 0, "error_code": 0}]},
            {"topic": FakeConsumer.TOPIC, "error_code": 0, "partitions": partitions},
        ]


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> dict[int, list[tuple[bytes | None, bytes | None]]]:
    """The KPI topic the stand-in consumer serves: the published rows of two queues on two partitions."""
    log: dict[int, list[tuple[bytes | None, bytes | None]]] = {0: [], 1: []}
    for key, value in published():
        log[partition_for_key(key, 2)].append((key, value))  # as a keyed send: one key, one partition
    monkeypatch.setattr(FakeConsumer, "LOG", log)
    monkeypatch.setattr(FakeConsumer, "made", [])
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", FakeConsumer)
    monkeypatch.setattr(aiokafka.admin, "AIOKafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(FakeAdmin, "made", [])
    return log


async def _collect(records: AsyncIterator[Any]) -> list[Any]:
    return [record async for record in records]


def test_a_snapshot_subscription_yields_one_queues_rows_in_topic_order_and_ends(topic: dict[int, list[Any]]) -> None:
    rows = asyncio.run(_collect(subscribe_kpis("broker:9092", queues={"billing|de"}, follow=False)))
    expected = [
        KpiRow.from_json(value, key)
        for partition in sorted(topic)
        for key, value in topic[partition]
        if key is not None and key.startswith(b"billing|de|")
    ]
    assert rows
    assert {row.queue for row in rows} == {"billing|de"}
    assert sorted(rows, key=lambda r: r.key) == sorted(expected, key=lambda r: r.key)
    assert latest_by_key(rows) == latest_by_key(expected)
    consumer = FakeConsumer.made[-1]
    assert consumer.stopped
    assert consumer.options["group_id"] is None
    assert consumer.options["enable_auto_commit"] is False
    assert consumer.options["auto_offset_reset"] == "earliest"


def test_filters_by_channel_and_window_and_starts_at_the_end_when_asked(topic: dict[int, list[Any]]) -> None:
    rows = asyncio.run(_collect(subscribe_kpis("b:9092", channels={"all"}, windows={"today"}, follow=False)))
    assert {(row.channel, row.window) for row in rows} == {("all", "today")}
    assert {row.queue for row in rows} == {"sales", "billing|de"}
    assert asyncio.run(_collect(subscribe_kpis("b:9092", from_beginning=False, follow=False))) == []


def test_tombstones_are_skipped_by_subscribe_kpis_and_yielded_by_subscribe_kpi_records(
    topic: dict[int, list[Any]],
) -> None:
    rolling = b"sales|voice|rolling_5m|latest"
    topic[1].append((rolling, None))
    rows = asyncio.run(_collect(subscribe_kpis("b:9092", queues={"sales"}, follow=False)))
    assert all(isinstance(row, KpiRow) for row in rows)
    records = asyncio.run(_collect(subscribe_kpi_records("b:9092", queues={"sales"}, follow=False)))
    assert records[-1] == KpiTombstone(parse_kpi_key(rolling))
    latest = latest_by_key(records)
    assert rolling not in latest
    assert rolling in latest_by_key(rows)


def test_an_invalid_record_stops_the_subscription_with_its_location_unless_handled(
    topic: dict[int, list[Any]],
) -> None:
    topic[0].insert(1, (b"sales|voice|hourly|x", b"{}"))
    with pytest.raises(KpiRowError, match=r"ccpulse\.kpis\[0\]@1: window 'hourly'"):
        asyncio.run(_collect(subscribe_kpis("b:9092", follow=False)))
    assert FakeConsumer.made[-1].stopped
    seen: list[KpiRowError] = []
    rows = asyncio.run(_collect(subscribe_kpis("b:9092", follow=False, on_invalid=seen.append)))
    assert [(error.partition, error.offset) for error in seen] == [(0, 1)]
    assert len(rows) == sum(len(records) for records in topic.values()) - 1


def test_a_following_subscription_closes_its_consumer_when_left(topic: dict[int, list[Any]]) -> None:
    async def first_three() -> list[KpiRow]:
        rows = []
        async with aclosing(subscribe_kpis("b:9092", security=Settings())) as subscription:
            async for row in subscription:
                rows.append(row)
                if len(rows) == 3:
                    break
        return rows

    assert len(asyncio.run(first_three())) == 3
    consumer = FakeConsumer.made[-1]
    assert consumer.stopped
    assert consumer.options["security_protocol"] == "PLAINTEXT"  # the worker's own security settings
    [admin] = FakeAdmin.made
    assert admin.closed
    assert admin.options["security_protocol"] == "PLAINTEXT"


def test_a_group_subscribes_and_commits(topic: dict[int, list[Any]]) -> None:
    async def one() -> KpiRow:
        async with aclosing(subscribe_kpis("b:9092", group_id="wallboard-7")) as subscription:
            async for row in subscription:
                return row
        raise AssertionError("no row")

    asyncio.run(one())
    consumer = FakeConsumer.made[-1]
    assert consumer.subscribed == [DEFAULT_KPI_TOPIC]
    assert (consumer.options["group_id"], consumer.options["enable_auto_commit"]) == ("wallboard-7", True)
    with pytest.raises(ValueError, match="cannot be combined with group_id"):
        asyncio.run(_collect(subscribe_kpis("b:9092", group_id="g", follow=False)))


def test_a_missing_topic_names_the_setting(topic: dict[int, list[Any]]) -> None:
    with pytest.raises(KpiTopicError, match="kpi_topic"):
        asyncio.run(_collect(subscribe_kpis("b:9092", topic="cc.kpis", follow=False)))
    assert FakeConsumer.made == []  # found out before a consumer is made
