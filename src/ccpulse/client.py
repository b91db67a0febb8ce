"""Read ccpulse's KPI topic from another service: typed rows, their keys, a subscription.

The KPI topic (``kpi_topic``, default ``ccpulse.kpis``; described for every
language in ``schemas/asyncapi.yaml``) is compacted: each record is the row of
one queue x channel x window, keyed by what it describes, and the latest record
per key is the current truth. Reading it from the beginning gives every row,
then the changes as they come::

    from contextlib import aclosing
    from ccpulse.client import subscribe_kpis

    async with aclosing(subscribe_kpis("kafka:9092", queues={"sales"}, windows={"interval_15m"})) as rows:
        async for row in rows:
            print(row.window_start_ms, row.final, row.service_level(), row.asa_s, row.abandonment_ratio)

What a consumer should know about the rows:

- ``final`` false: an open window (the current interval, a rolling window,
  today), replaced as events arrive; its ``now`` holds the live figures
  (contacts waiting, oldest wait, agents by state). ``final`` true: the window
  has closed; a closed window that late events change comes again, still
  final, with the corrected numbers. Keep the last row per key
  (:func:`latest_by_key`), never add rows up.
- Ratios are fractions 0..1, times seconds; a KPI whose denominator is 0 is
  ``None`` (an empty window has no service level). To combine windows, queues
  or channels, add the counts and ``totals`` and divide; never average ratios.
- A restarted worker publishes each current row once more (the same numbers,
  a later ``as_of``).

Errors::

    KpiClientError              anything this module raises on purpose
     ├── KpiRowError            a record that is not a KPI row this client reads (also a ValueError);
     │                          carries the record's topic, partition and offset when it came from Kafka
     └── KpiTopicError          the topic does not exist, or its partitions cannot be listed

A broker that cannot be reached or refuses the credentials raises aiokafka's
own errors (``aiokafka.errors.KafkaError`` and its subclasses), unchanged.

Only :func:`subscribe_kpis` and :func:`subscribe_kpi_records` talk to Kafka
(through aiokafka, imported when first called); the rest is pure and works on
bytes from any client.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ccpulse.codec import json
from ccpulse.codec.outputs import KEY_SEPARATOR, KPI_ROW_VERSION, kpi_row_key
from ccpulse.config import Settings
from ccpulse.domain.events import Channel
from ccpulse.domain.kpis import SlFormula
from ccpulse.domain.queue_view import ALL_CHANNELS
from ccpulse.domain.windows import Window, WindowKind

if TYPE_CHECKING:
    from ccpulse.runtime.kafka_security import KafkaSecurity

#: The KPI topic's name unless ``kpi_topic`` (``CCPULSE_KPI_TOPIC``) renames it.
DEFAULT_KPI_TOPIC = "ccpulse.kpis"
#: The ``channel`` of a row: one media channel, or ``all`` of the queue's channels together.
CHANNELS = frozenset({*(channel.value for channel in Channel), ALL_CHANNELS})
#: What a rolling window's key has instead of a start: it moves on every minute.
ROLLING_KEY_START = "latest"
#: How long one poll of the broker waits for records, in milliseconds.
POLL_TIMEOUT_MS = 500

_WINDOW_LABEL = re.compile(r"^((interval|rolling)_[1-9][0-9]*m|today)$")
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
_INSTANT = re.compile(f"^{_DATE}T{_TIME}Z$")  # the kpi-row schema's $defs/instant
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_T = TypeVar("_T")


class KpiClientError(Exception):
    """Base of the errors this module raises."""


class KpiRowError(KpiClientError, ValueError):
    """A record that is not a KPI row this client reads: its key, its JSON or one of its fields.

    ``topic``, ``partition`` and ``offset`` say where it was, for a record read
    from Kafka (None otherwise); the message names them too.
    """

    def __init__(
        self, problem: str, *, topic: str | None = None, partition: int | None = None, offset: int | None = None
    ) -> None:
        self.problem = problem
        self.topic = topic
        self.partition = partition
        self.offset = offset
        where = "" if topic is None else f"{topic}[{partition}]@{offset}: "
        super().__init__(where + problem)

    def at(self, topic: str, partition: int, offset: int) -> KpiRowError:
        """The same problem, located at a record of the topic."""
        return KpiRowError(self.problem, topic=topic, partition=partition, offset=offset)


class KpiTopicError(KpiClientError):
    """The KPI topic cannot be read: it does not exist (check ``kpi_topic``), or lists no partitions."""


def window_kind_of(window: str) -> WindowKind:
    """The kind of a window label: ``interval_15m`` -> interval, ``rolling_5m`` -> rolling, ``today`` -> today.

    Raises :class:`KpiRowError` for anything else.
    """
    if not _WINDOW_LABEL.match(window):
        raise KpiRowError(f"window {window!r} is not interval_<N>m, rolling_<N>m or today")
    if window == "today":
        return WindowKind.TODAY
    return WindowKind.INTERVAL if window.startswith("interval_") else WindowKind.ROLLING


def instant_ms(text: str) -> int:
    """Epoch milliseconds of an instant as the rows write them: ``2026-11-23T14:15:00.000Z`` (UTC, milliseconds)."""
    if not _INSTANT.match(text):
        raise KpiRowError(f"{text!r} is not an RFC 3339 UTC instant with milliseconds (2026-11-23T14:15:00.000Z)")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:  # e.g. February 30th, which the pattern lets through
        raise KpiRowError(f"{text!r} is not a date: {exc}") from exc
    return (moment - _EPOCH) // _MILLISECOND


@dataclass(frozen=True, slots=True)
class KpiKey:
    """What a KPI record's key says: the row's queue, channel, window label and start.

    ``window_start_ms`` is None for a rolling window, whose key ends in ``latest``.
    """

    queue: str
    channel: str
    window: str
    window_start_ms: int | None

    @property
    def window_kind(self) -> WindowKind:
        return window_kind_of(self.window)

    def encode(self) -> bytes:
        """The key as the worker writes it (:func:`kpi_key`)."""
        return kpi_key(self.queue, self.channel, self.window, self.window_start_ms)


def kpi_key(queue: str, channel: str, window: str, window_start_ms: int | None = None) -> bytes:
    """The KPI topic's key of a row, as the worker writes it: ``queue|channel|window|window_start`` in UTF-8.

    ``window_start_ms`` (epoch milliseconds) is required for intervals and
    ``today`` and must be None for rolling windows (their key ends in
    ``latest``). Use it to look a row up in what :func:`latest_by_key` keeps,
    e.g. ``kpi_key("sales", "voice", "interval_15m", start_ms)``.
    """
    kind = window_kind_of(window)
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
    if (window_start_ms is None) != (kind is WindowKind.ROLLING):
        raise ValueError(f"window {window}: give window_start_ms for intervals and today, and only for them")
    start_ms = 0 if window_start_ms is None else window_start_ms
    # The worker's own key function; the key names the window's label and start, not its end.
    return kpi_row_key(queue, channel, Window(kind, window, start_ms, start_ms + 1))


def parse_kpi_key(key: bytes | str) -> KpiKey:
    """Read a KPI record's key; :class:`KpiRowError` if it is not one the worker writes.

    The queue may itself contain ``|``; the three fields after it never do, so
    the key is split from the right.
    """
    try:
        text = key.decode() if isinstance(key, bytes) else key
    except UnicodeDecodeError as exc:
        raise KpiRowError(f"key {key!r} is not UTF-8") from exc
    parts = text.rsplit(KEY_SEPARATOR, 3)
    if len(parts) != 4 or not parts[0]:
        raise KpiRowError(f"key {text!r} is not queue|channel|window|window_start")
    queue, channel, window, start = parts
    if channel not in CHANNELS:
        raise KpiRowError(f"key {text!r}: channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
    kind = window_kind_of(window)
    if kind is WindowKind.ROLLING:
        if start != ROLLING_KEY_START:
            raise KpiRowError(f"key {text!r}: a rolling window's key ends in {ROLLING_KEY_START!r}")
        return KpiKey(queue, channel, window, None)
    return KpiKey(queue, channel, window, instant_ms(start))


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One KPI row: every KPI of one queue and channel over one window (``schemas/kpi-row.schema.json``).

    Times are epoch milliseconds of event time; the window is
    ``[window_start_ms, window_end_ms)``. ``kpis``, ``now`` and ``totals`` are
    the row's objects as published (read-only at the top level), so a KPI added
    in a later ccpulse release is there without a new client:
    ``row.kpis["aht_s"]``. ``now`` (the live figures) is present only on rows of
    open windows, ``totals`` (the additive sums behind the ratios) on every row
    the worker writes. Rows compare equal field by field; they are not hashable
    (their mappings are not): index them by :attr:`key`.
    """

    queue: str
    channel: str
    window: str
    window_kind: WindowKind
    window_start_ms: int
    window_end_ms: int
    final: bool
    as_of_ms: int
    kpis: Mapping[str, Any]
    now: Mapping[str, Any] | None
    totals: Mapping[str, Any] | None
    definitions: str = "v1"
    version: int = KPI_ROW_VERSION

    @classmethod
    def from_json(cls, value: bytes | str, key: bytes | None = None) -> KpiRow:
        """Parse a record's value; with ``key``, also check the key is the row's.

        Raises :class:`KpiRowError` naming the first problem: not JSON, a
        version this client does not read, a field missing or of the wrong
        type, or a key that does not describe the row.
        """
        try:
            document = json.loads(value)
        except json.JSONDecodeError as exc:
            raise KpiRowError(f"value is not JSON: {exc}") from exc
        row = cls.from_dict(document)
        if key is not None and key != row.key:
            raise KpiRowError(f"key {key!r} does not describe the row, whose key is {row.key!r}")
        return row

    @classmethod
    def from_dict(cls, document: object) -> KpiRow:
        """A row from its decoded JSON document (see :meth:`from_json`)."""
        if not isinstance(document, dict):
            raise KpiRowError(f"a KPI row is a JSON object, not {type(document).__name__}")
        version = _field(document, "version", int)
        if version != KPI_ROW_VERSION:
            raise KpiRowError(f"version {version} is not read by this client (it reads version {KPI_ROW_VERSION})")
        queue = _field(document, "queue", str)
        channel = _field(document, "channel", str)
        if not queue:
            raise KpiRowError("field 'queue' is empty")
        if channel not in CHANNELS:
            raise KpiRowError(f"field 'channel': {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
        window = _field(document, "window", str)
        kind_text = _field(document, "window_kind", str)
        if kind_text != window_kind_of(window).value:
            raise KpiRowError(f"field 'window_kind': {kind_text!r} does not agree with window {window!r}")
        start_ms = instant_ms(_field(document, "window_start", str))
        end_ms = instant_ms(_field(document, "window_end", str))
        if end_ms <= start_ms:
            raise KpiRowError(f"window {window} ends ({document['window_end']}) before it starts")
        final = _field(document, "final", bool)
        now = document.get("now")
        if now is not None and not isinstance(now, dict):
            raise KpiRowError(f"field 'now' is {type(now).__name__}, not an object")
        if final and now is not None:
            raise KpiRowError("a final row has no 'now' (live figures belong to open windows)")
        totals = document.get("totals")
        if totals is not None and not isinstance(totals, dict):
            raise KpiRowError(f"field 'totals' is {type(totals).__name__}, not an object")
        kpis = _field(document, "kpis", dict)
        _check_kpis(kpis)
        return cls(
            queue=queue,
            channel=channel,
            window=window,
            window_kind=WindowKind(kind_text),
            window_start_ms=start_ms,
            window_end_ms=end_ms,
            final=final,
            as_of_ms=instant_ms(_field(document, "as_of", str)),
            kpis=MappingProxyType(kpis),
            now=None if now is None else MappingProxyType(now),
            totals=None if totals is None else MappingProxyType(totals),
            definitions=_field(document, "definitions", str),
            version=version,
        )

    @property
    def key(self) -> bytes:
        """The row's key on the KPI topic, as the worker writes it."""
        window = Window(self.window_kind, self.window, self.window_start_ms, self.window_end_ms)
        return kpi_row_key(self.queue, self.channel, window)

    @property
    def thresholds_s(self) -> tuple[int, ...]:
        """The queue's service-level thresholds in seconds, lowest first (default 20, 30, 60)."""
        return tuple(sorted({entry["threshold_s"] for entry in self.kpis["service_levels"]}))

    def service_level(self, threshold_s: int | None = None, formula: str = SlFormula.OFFERED) -> float | None:
        """The share of contacts served within ``threshold_s`` (default: the queue's lowest threshold), 0..1.

        ``formula`` is one of the four the SPEC publishes side by side:
        ``offered`` (the default: answered within T / offered), ``answered``,
        ``ignore_early_abandons``, ``abandons_met``. None when nothing was
        offered in the window. A threshold the queue does not have is a KeyError.
        """
        wanted_s = self.thresholds_s[0] if threshold_s is None and self.thresholds_s else threshold_s
        for entry in self.kpis["service_levels"]:
            if entry["threshold_s"] == wanted_s and entry["formula"] == formula:
                ratio = entry["ratio"]
                return None if ratio is None else float(ratio)
        raise KeyError(f"no service level for {wanted_s} s by formula {formula!r}; thresholds {self.thresholds_s}")

    @property
    def asa_s(self) -> float | None:
        """Average speed of answer in seconds; None when no contact was answered."""
        return _number(self.kpis["asa_s"])

    @property
    def abandonment_ratio(self) -> float | None:
        """Abandoned / offered (short abandons excluded), 0..1; None when nothing was offered."""
        return _number(self.kpis["abandonment_ratio"])

    @property
    def offered(self) -> int:
        """Finished queue stints (answered, abandoned, flowed out), short abandons excluded."""
        return int(self.kpis["offered"])


#: KPIs that :class:`KpiRow`'s accessors read; a row without them is refused when parsed.
_ACCESSED_KPIS = ("service_levels", "asa_s", "abandonment_ratio", "offered")


def _check_kpis(kpis: dict[str, Any]) -> None:
    missing = [name for name in _ACCESSED_KPIS if name not in kpis]
    if missing:
        raise KpiRowError(f"field 'kpis' lacks {', '.join(missing)}")
    levels = kpis["service_levels"]
    if not isinstance(levels, list):
        raise KpiRowError("field 'kpis.service_levels' is not a list")
    for entry in levels:
        if not (
            isinstance(entry, dict)
            and _is_int(entry.get("threshold_s"))
            and isinstance(entry.get("formula"), str)
            and (entry.get("ratio") is None or _is_number(entry.get("ratio")))
        ):
            raise KpiRowError(f"field 'kpis.service_levels': {entry!r} is not {{threshold_s, formula, ratio}}")
    for name in ("asa_s", "abandonment_ratio"):
        if kpis[name] is not None and not _is_number(kpis[name]):
            raise KpiRowError(f"field 'kpis.{name}' is {kpis[name]!r}, not a number or null")
    if not _is_int(kpis["offered"]):
        raise KpiRowError(f"field 'kpis.offered' is {kpis['offered']!r}, not an integer")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _field(document: dict[str, Any], name: str, kind: type[_T]) -> _T:
    """``document[name]``, which must be a ``kind`` (True is no int here)."""
    if name not in document:
        raise KpiRowError(f"field {name!r} is missing")
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KpiRowError(f"field {name!r} is {value!r}, not {kind.__name__}")
    return value


@dataclass(frozen=True, slots=True)
class KpiTombstone:
    """A record without a value: its key withdrawn from the topic (compaction removes it for good).

    The worker writes none on the KPI topic; an operator may, to purge a row.
    """

    key: KpiKey

    @property
    def raw_key(self) -> bytes:
        return self.key.encode()


#: What a KPI topic record is: a row, or (without a value) a tombstone.
KpiRecord: TypeAlias = KpiRow | KpiTombstone


@dataclass(frozen=True, slots=True)
class KpiFilter:
    """Which rows a subscriber wants, by the fields of their key; None means any.

    ``queues``: queue names; ``channels``: ``voice``, ..., or ``all`` (every
    channel of the queue together); ``windows``: labels such as
    ``interval_15m``, ``rolling_5m``, ``today``. Keys are read before values,
    so rows filtered out are never decoded.
    """

    queues: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    windows: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        queues: Iterable[str] | None = None,
        channels: Iterable[str] | None = None,
        windows: Iterable[str] | None = None,
    ) -> KpiFilter:
        """A filter from any iterables (a single string is refused: ``queues="q1"`` would mean q and 1)."""

        def frozen(name: str, values: Iterable[str] | None) -> frozenset[str] | None:
            if isinstance(values, str):
                raise TypeError(f"{name}: give a collection of names, e.g. {{{values!r}}}, not a string")
            return None if values is None else frozenset(values)

        chosen = cls(frozen("queues", queues), frozen("channels", channels), frozen("windows", windows))
        for channel in chosen.channels or ():
            if channel not in CHANNELS:
                raise ValueError(f"channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
        for window in chosen.windows or ():
            window_kind_of(window)
        return chosen

    def matches(self, key: KpiKey) -> bool:
        return (
            (self.queues is None or key.queue in self.queues)
            and (self.channels is None or key.channel in self.channels)
            and (self.windows is None or key.window in self.windows)
        )


def read_record(key: bytes | None, value: bytes | None, wanted: KpiFilter | None = None) -> KpiRecord | None:
    """One KPI topic record as a row or a tombstone; None if ``wanted`` does not want it.

    The key is read first, so a filtered-out row costs no JSON decoding.
    Raises :class:`KpiRowError` for a record that is not a KPI row (without a
    key, with a key the worker does not write, or a value that does not match
    its key).
    """
    if key is None:
        raise KpiRowError("a KPI record has a key; this one has none")
    parsed = parse_kpi_key(key)
    if wanted is not None and not wanted.matches(parsed):
        return None
    if value is None:
        return KpiTombstone(parsed)
    return KpiRow.from_json(value, key)


def latest_by_key(records: Iterable[KpiRecord], latest: dict[bytes, KpiRow] | None = None) -> dict[bytes, KpiRow]:
    """The last row per key, as a compacted topic keeps it: a later record replaces an earlier one.

    Give the records in the order they were read (one key is always on one
    partition, so read order is offset order for it); a tombstone removes its
    key. ``latest`` is updated in place and returned, so a long-running
    consumer can keep one dict and feed it as rows arrive::

        rows: dict[bytes, KpiRow] = {}
        async for record in subscribe_kpi_records(bootstrap, queues={"sales"}):
            latest_by_key([record], rows)

    Order is what counts, not ``as_of``: a worker restarted on a replay may
    publish a row again with an earlier ``as_of``, and it is still the truth.
    """
    latest = {} if latest is None else latest
    for record in records:
        if isinstance(record, KpiTombstone):
            latest.pop(record.raw_key, None)
        else:
            latest[record.key] = record
    return latest


async def subscribe_kpi_records(
    bootstrap: str,
    *,
    topic: str = DEFAULT_KPI_TOPIC,
    queues: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    windows: Iterable[str] | None = None,
    from_beginning: bool = True,
    since_ms: int | None = None,
    follow: bool = True,
    security: KafkaSecurity | Settings | None = None,
    group_id: str | None = None,
    client_id: str = "ccpulse-kpi-client",
    on_invalid: Callable[[KpiRowError], None] | None = None,
) -> AsyncGenerator[KpiRecord, None]:
    """The KPI topic's rows and tombstones, filtered; see :func:`subscribe_kpis` for the arguments."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415 - pure use needs no Kafka client

    wanted = KpiFilter.of(queues, channels, windows)
    _check_without_group(group_id, follow=follow, since_ms=since_ms)
    options = _client_options(security)
    partitions = await _partitions_of(bootstrap, topic, client_id, options)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=group_id is not None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **options,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, partition) for partition in partitions]
        if group_id is None:
            consumer.assign(assigned)  # every partition, no group: nothing to coordinate or commit
            if since_ms is not None:
                await _seek_to_time(consumer, assigned, since_ms)
        else:
            consumer.subscribe([topic])
        end_offsets: dict[Any, int] = {} if follow else dict(await consumer.end_offsets(assigned))
        while True:
            if not follow and await _caught_up(consumer, end_offsets):
                return
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for messages in batches.values():
                for message in messages:
                    try:
                        record = read_record(message.key, message.value, wanted)
                    except KpiRowError as error:
                        located = error.at(message.topic, message.partition, message.offset)
                        if on_invalid is None:
                            raise located from error
                        on_invalid(located)
                        continue
                    if record is not None:
                        yield record
    finally:
        await consumer.stop()


async def subscribe_kpis(
    bootstrap: str,
    *,
    topic: str = DEFAULT_KPI_TOPIC,
    queues: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    windows: Iterable[str] | None = None,
    from_beginning: bool = True,
    since_ms: int | None = None,
    follow: bool = True,
    security: KafkaSecurity | Settings | None = None,
    group_id: str | None = None,
    client_id: str = "ccpulse-kpi-client",
    on_invalid: Callable[[KpiRowError], None] | None = None,
) -> AsyncGenerator[KpiRow, None]:
    """KPI rows as they are on the topic and then as they arrive, only those of ``queues``/``channels``/``windows``.

    - ``bootstrap``: the brokers, ``host:port[,host:port...]``.
    - ``topic``: the KPI topic (the worker's ``kpi_topic``).
    - ``queues``, ``channels``, ``windows``: collections of names, None for
      all (:class:`KpiFilter`); e.g. ``channels={"all"}`` for the queue totals.
    - ``from_beginning``: True reads the whole (compacted) topic first, which is
      the current state of every row; False starts with the next row published.
    - ``since_ms``: start each partition at its first record published at or
      after this epoch time instead (the broker's record timestamps): e.g. a
      day back finds today's and the current interval's rows, which the
      worker rewrites as they change, without reading older history.
    - ``follow``: False stops once every partition has been read up to where
      it ended when the subscription started: a snapshot, e.g. for a report
      (with ``from_beginning`` False, an empty one).
    - ``security``: the worker's own Kafka security options, as a
      :class:`~ccpulse.config.Settings` (``load_settings(path)`` reads the
      worker's TOML file and ``CCPULSE_*`` variables) or a
      :class:`~ccpulse.runtime.kafka_security.KafkaSecurity`; None: PLAINTEXT.
    - ``group_id``: None (the default) reads every partition without a
      consumer group and commits nothing, so each start reads the topic
      again. A group id shares the partitions among the group's consumers and
      commits offsets (with ``from_beginning`` only for a group without
      committed offsets). Never the worker's ``app_id``.
    - ``on_invalid``: called with each record that is not a row this client
      reads, which is then skipped; None raises :class:`KpiRowError`, naming
      the record's topic, partition and offset.

    Tombstones (records without a value) are skipped here; a consumer that
    keeps the latest rows uses :func:`subscribe_kpi_records`, which yields them
    too, with :func:`latest_by_key`.

    The consumer is closed when the iteration ends: wrap the iterator in
    :func:`contextlib.aclosing` when you may leave the loop early.
    """
    records = subscribe_kpi_records(
        bootstrap,
        topic=topic,
        queues=queues,
        channels=channels,
        windows=windows,
        from_beginning=from_beginning,
        since_ms=since_ms,
        follow=follow,
        security=security,
        group_id=group_id,
        client_id=client_id,
        on_invalid=on_invalid,
    )
    try:
        async for record in records:
            if isinstance(record, KpiRow):
                yield record
    finally:
        await records.aclose()


def _check_without_group(group_id: str | None, *, follow: bool, since_ms: int | None) -> None:
    """``follow=False`` and ``since_ms`` act on every partition, so they need the consumer without a group."""
    if group_id is not None and not follow:
        raise ValueError("follow=False reads every partition to its end; it cannot be combined with group_id")
    if group_id is not None and since_ms is not None:
        raise ValueError("since_ms seeks every partition by time; it cannot be combined with group_id")


async def _partitions_of(bootstrap: str, topic: str, client_id: str, options: dict[str, Any]) -> list[int]:
    """The topic's partitions, from the cluster's metadata; :class:`KpiTopicError` if it has none."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id, **options)
    await admin.start()
    try:
        # Every topic's metadata: asking for this one by name lets a broker with
        # auto.create.topics.enable create it when the name is wrong.
        described = await admin.describe_topics()
    finally:
        await admin.close()
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0 and entry["partitions"]:
            return sorted(int(partition["partition"]) for partition in entry["partitions"])
    raise KpiTopicError(f"topic {topic!r} does not exist or has no partitions (setting kpi_topic)")


async def _seek_to_time(consumer: Any, partitions: list[Any], since_ms: int) -> None:
    """Each partition from its first record published at or after ``since_ms``; at its end if it has none."""
    found = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
    ends = await consumer.end_offsets(partitions)
    for partition in partitions:
        at = found.get(partition)
        consumer.seek(partition, ends[partition] if at is None else at.offset)


async def _caught_up(consumer: Any, end_offsets: dict[Any, int]) -> bool:
    """True once the consumer's position in every partition has reached the end offset noted at the start."""
    for partition, end_offset in end_offsets.items():
        if await consumer.position(partition) < end_offset:
            return False
    return True


def _client_options(security: KafkaSecurity | Settings | None) -> dict[str, Any]:
    """aiokafka's keyword arguments for the worker's security settings (none for PLAINTEXT)."""
    if security is None:
        return {}
    from ccpulse.runtime.kafka_security import KafkaSecurity  # noqa: PLC0415 - it imports Faust

    chosen = KafkaSecurity(security) if isinstance(security, Settings) else security
    return chosen.client_options()
