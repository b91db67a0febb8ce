"""schemas/asyncapi.yaml is valid AsyncAPI 3.0 and says what the code does.

The document is checked against the official AsyncAPI 3.0.0 JSON Schema
(vendored in schemas/vendor/), and each statement it makes against the code
that makes it true: topic names against the Settings defaults, topic settings
against the topic plan (``ccpulse.runtime.topics``) and Faust's tables, keys
against the key functions, dead-letter headers against what the ingest stage
writes, payloads against the JSON Schemas and their examples.

The helpers at the top (:class:`Contract`) read the document the way a
consumer would; tests/integration/test_client_contract.py uses them to check
the records a real worker writes.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.protocols import Validator

import ccpulse
from ccpulse.client import parse_kpi_key
from ccpulse.codec.events import InvalidEvent, RejectReason
from ccpulse.codec.outputs import fact_record_key, kpi_row_key
from ccpulse.config import ENV_PREFIX, KAFKA_SASL_MECHANISMS, Settings
from ccpulse.domain.events import Channel
from ccpulse.domain.facts import QueueArrivalFact, QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView
from ccpulse.domain.windows import MINUTE_MS, Window, WindowKind
from ccpulse.runtime.app import (
    DEAD_LETTER_ALWAYS_HEADERS,
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_MAX_VALUE_BYTES,
    create_app,
)
from ccpulse.runtime.kpi_publisher import KpiPublisher
from ccpulse.runtime.topics import compacted_config, planned_topics

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
DOCUMENT_PATH = SCHEMAS / "asyncapi.yaml"
ASYNCAPI_SCHEMA_PATH = SCHEMAS / "vendor" / "asyncapi-3.0.0.json"
#: The schemaFormat a payload names, for each JSON Schema dialect its file declares.
SCHEMA_FORMAT_OF_DIALECT = {
    "https://json-schema.org/draft/2020-12/schema": "application/schema+json;version=draft-2020-12",
}
PUBLIC_CHANNELS = {"events", "kpiRows", "contactFacts", "deadLetters"}
T0 = 1_790_035_200_000  # 2026-09-22T00:00:00Z, an interval boundary and a UTC midnight


# -- reading the document ----------------------------------------------------------


@cache
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@cache
def _json_file(name: str) -> dict[str, Any]:
    loaded = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def resolve(ref: str) -> Any:
    """What a ``$ref`` of the document points at: ``#/...`` in the document, ``./file.json[#/...]`` beside it."""
    target, _, pointer = ref.partition("#")
    node: Any = document() if not target else _json_file(target.removeprefix("./"))
    for escaped in (p for p in pointer.split("/") if p):
        part = escaped.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def dereferenced(node: Any) -> Any:
    """``node``, or what it refers to if it is a Reference Object."""
    return resolve(node["$ref"]) if isinstance(node, dict) and set(node) == {"$ref"} else node


def refs(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` in ``node`` with where it sits."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield path, node["$ref"]
        for key, value in node.items():
            yield from refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{path}/{index}")


@dataclass(frozen=True)
class Contract:
    """What the document states for one channel (topic), as a consumer reads it."""

    channel_id: str

    @property
    def channel(self) -> dict[str, Any]:
        channel: dict[str, Any] = document()["channels"][self.channel_id]
        return channel

    @classmethod
    def of_setting(cls, setting: str) -> Contract:
        """The public channel whose topic ``setting`` names (``kpi_topic``, ...)."""
        (channel_id,) = [
            channel_id
            for channel_id, channel in document()["channels"].items()
            if channel["x-ccpulse"]["setting"] == setting and channel["x-ccpulse"]["audience"] == "public"
        ]
        return cls(channel_id)

    def address(self, app_id: str | None = None) -> str:
        """The topic name, for the internal topics with ``app_id`` (default: the setting's default)."""
        address: str = self.channel["address"]
        return address.replace("{app_id}", Settings().app_id if app_id is None else app_id)

    @property
    def kafka(self) -> dict[str, Any]:
        binding: dict[str, Any] = self.channel["bindings"]["kafka"]
        return binding

    def messages(self) -> dict[str, dict[str, Any]]:
        return {name: dereferenced(message) for name, message in self.channel["messages"].items()}

    def message(self, name: str) -> dict[str, Any]:
        return self.messages()[name]

    def key_validator(self, name: str) -> Validator:
        """The key schema of message ``name`` (AsyncAPI Schema: JSON Schema draft-07 and more)."""
        return Draft7Validator(self.message(name)["bindings"]["kafka"].get("key", {}))

    def headers_validator(self, name: str) -> Validator:
        return Draft7Validator(self.message(name).get("headers", {}))

    def payload_validator(self, name: str) -> Validator:
        """The payload's schema: a JSON Schema file the payload refers to, or the AsyncAPI schema inline."""
        payload = self.message(name)["payload"]
        if "schemaFormat" not in payload:
            return Draft7Validator(payload)
        schema = dereferenced(payload["schema"])
        assert SCHEMA_FORMAT_OF_DIALECT[schema["$schema"]] == payload["schemaFormat"]
        return Draft202012Validator(schema)


# -- the document as a whole -------------------------------------------------------


def test_the_vendored_asyncapi_schema_is_the_file_its_readme_names() -> None:
    digest = hashlib.sha256(ASYNCAPI_SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest in (SCHEMAS / "vendor" / "README.md").read_text(encoding="utf-8")
    schema = json.loads(ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    Draft7Validator.check_schema(schema)


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = Draft7Validator(json.loads(ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8")))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document())]
    assert problems == []
    # The schema is strict enough to catch a slip: a misspelt binding field is refused.
    broken = copy.deepcopy(document())
    broken["channels"]["kpiRows"]["bindings"]["kafka"]["partition"] = 4
    assert not validator.is_valid(broken)


def test_the_document_describes_this_version_of_ccpulse() -> None:
    assert document()["asyncapi"] == "3.0.0"
    assert document()["info"]["version"] == ccpulse.__version__


def test_every_ref_resolves_and_operations_name_messages_of_their_channel() -> None:
    found = list(refs(document()))
    assert len(found) > 40
    for path, ref in found:
        assert ref.startswith(("#/", "./")), f"{path}: {ref}"
        try:
            resolve(ref)
        except (KeyError, IndexError, FileNotFoundError) as exc:
            pytest.fail(f"{path}: $ref {ref} does not resolve ({exc!r})")
    for name, operation in document()["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation.get("messages", []):
            # AsyncAPI 3: an operation's messages are a subset of its channel's.
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), name


def test_every_payload_refers_to_a_schema_file_of_its_declared_dialect() -> None:
    files = set()
    for channel_id in document()["channels"]:
        contract = Contract(channel_id)
        for name, message in contract.messages().items():
            if "payload" in message:
                contract.payload_validator(name)  # asserts schemaFormat matches the file's $schema
            ref = message.get("payload", {}).get("schema", {}).get("$ref")
            if ref:
                files.add(ref)
    assert files == {"./event.schema.json", "./kpi-row.schema.json", "./contact-fact.schema.json"}


# -- topics: names, settings, configuration ---------------------------------------


def test_public_topics_are_the_settings_defaults_and_name_their_settings() -> None:
    defaults = Settings()
    topic_settings = {plan.setting for plan in planned_topics(defaults) if plan.setting != "app_id"}
    public = {cid: c for cid, c in document()["channels"].items() if c["x-ccpulse"]["audience"] == "public"}
    assert set(public) == PUBLIC_CHANNELS
    assert {c["x-ccpulse"]["setting"] for c in public.values()} == topic_settings
    for channel_id, channel in public.items():
        setting = channel["x-ccpulse"]["setting"]
        assert channel["address"] == getattr(defaults, setting), channel_id
        assert channel["x-ccpulse"]["env"] == ENV_PREFIX + setting.upper(), channel_id


def test_internal_topics_are_named_after_app_id_as_the_worker_names_them(tmp_path: Path) -> None:
    settings = Settings(app_id="cc-test", data_dir=tmp_path)
    internal = [Contract(cid) for cid, c in document()["channels"].items() if c["x-ccpulse"]["audience"] == "internal"]
    for contract in internal:
        assert "{app_id}" in contract.channel["address"]
        assert contract.channel["x-ccpulse"]["setting"] == "app_id"
        assert contract.channel["x-ccpulse"]["env"] == "CCPULSE_APP_ID"
        parameter = dereferenced(contract.channel["parameters"]["app_id"])
        assert parameter["default"] == Settings().app_id
    by_creator = {
        creator: {c.address("cc-test") for c in internal if c.channel["x-ccpulse"]["created_by"] == creator}
        for creator in ("ensure_topics", "faust")
    }
    assert by_creator["ensure_topics"] == {plan.name for plan in planned_topics(settings) if plan.setting == "app_id"}
    pipeline = create_app(settings)
    faust_topics = {
        pipeline.entities.changelog_topic.get_topic_name(),
        pipeline.queue_rows.changelog_topic.get_topic_name(),
        pipeline.app._leader_assignor._leader_topic_name,  # Faust's own; no public name for it
    }
    assert by_creator["faust"] == faust_topics


def _kafka_text(value: Any) -> str:
    """A topicConfiguration value as Kafka's topic config string (a list of policies is comma-joined)."""
    return ",".join(value) if isinstance(value, list) else str(value)


def _stated_config(contract: Contract) -> dict[str, str]:
    return {name: _kafka_text(value) for name, value in contract.kafka["topicConfiguration"].items()}


def test_topics_ccpulse_creates_have_the_stated_cleanup_policy_partitions_and_replicas() -> None:
    settings = Settings()
    plans = {plan.name: plan for plan in planned_topics(settings)}
    created = [
        Contract(cid) for cid, c in document()["channels"].items() if c["x-ccpulse"]["created_by"] == "ensure_topics"
    ]
    assert {contract.address() for contract in created} == set(plans)
    setting_names = {f.name for f in fields(Settings)}
    for contract in created:
        plan = plans[contract.address()]
        assert _stated_config(contract) == plan.config, contract.channel_id
        assert contract.kafka["partitions"] == plan.partitions == settings.topic_partitions
        assert contract.kafka["replicas"] == settings.topic_replication_factor
        assert contract.kafka["x-ccpulse-partitions-setting"] == "topic_partitions"
        assert contract.kafka["x-ccpulse-replicas-setting"] == "topic_replication_factor"
        assert {"topic_partitions", "topic_replication_factor"} <= setting_names
    compacted = {c.channel_id for c in created if _stated_config(c)["cleanup.policy"] == "compact"}
    assert compacted == {"kpiRows", "contactFacts"}


def test_topics_faust_creates_have_the_stated_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    pipeline = create_app(settings)
    topics = {
        topic.get_topic_name(): topic
        for topic in (
            pipeline.entities.changelog_topic,
            pipeline.queue_rows.changelog_topic,
            pipeline.app._leader_assignor._leader_topic,
        )
    }
    faust_made = [Contract(cid) for cid, c in document()["channels"].items() if c["x-ccpulse"]["created_by"] == "faust"]
    assert {c.address() for c in faust_made} == set(topics)
    for contract in faust_made:
        topic = topics[contract.address()]
        # What Faust's Kafka driver sends when it creates the topic (Transport._topic_config + topic.config).
        flags = {"compact"} if topic.compacting else set()
        flags |= {"delete"} if topic.deleting else set()
        expected = ({"cleanup.policy": ",".join(sorted(flags))} if flags else {}) | dict(topic.config)
        assert topic.retention is None
        stated = _stated_config(contract)
        if not flags:  # the broker's default applies, which the document states (checked on a broker too)
            assert stated.pop("cleanup.policy") == "delete"
        assert stated == expected, contract.channel_id
        assert contract.kafka["partitions"] == topic.partitions
        assert contract.kafka["replicas"] == (topic.replicas or pipeline.app.conf.topic_replication_factor)
    changelogs = [c for c in faust_made if c.address().endswith("-changelog")]
    assert len(changelogs) == 2
    assert all(_stated_config(c) == {"cleanup.policy": "compact", **compacted_config()} for c in changelogs)


def test_operations_receive_what_ccpulse_reads_and_send_what_it_writes() -> None:
    actions: dict[str, set[str]] = {}
    for operation in document()["operations"].values():
        channel_id = operation["channel"]["$ref"].removeprefix("#/channels/")
        actions.setdefault(channel_id, set()).add(operation["action"])
    assert set(actions) == set(document()["channels"])
    assert actions["events"] == {"receive"}
    assert actions["kpiRows"] == actions["contactFacts"] == actions["deadLetters"] == {"send"}
    for channel_id in ("entityEvents", "queueChanges", "entitiesChangelog", "queueFactsChangelog"):
        assert actions[channel_id] == {"send", "receive"}, channel_id
    assert actions["assignorLeader"] == {"receive"}
    group = document()["operations"]["receiveEvents"]["bindings"]["kafka"]["groupId"]
    assert group["default"] == Settings().app_id


def test_the_security_schemes_are_the_ones_the_worker_supports() -> None:
    schemes = document()["components"]["securitySchemes"]
    asyncapi_type = {"SCRAM-SHA-512": "scramSha512", "SCRAM-SHA-256": "scramSha256", "PLAIN": "plain"}
    assert set(asyncapi_type) == set(KAFKA_SASL_MECHANISMS)
    assert {scheme["type"] for scheme in schemes.values()} == {*asyncapi_type.values(), "X509"}
    cluster = document()["servers"]["cluster"]
    assert [dereferenced(s)["type"] for s in cluster["security"]] == [s["type"] for s in schemes.values()]
    assert document()["servers"]["local"]["host"] == Settings().kafka_bootstrap


# -- keys ------------------------------------------------------------------------------


def _key_pattern(contract: Contract, message: str) -> re.Pattern[str]:
    return re.compile(contract.message(message)["bindings"]["kafka"]["key"]["pattern"])


def published_kpi_keys(queue: str) -> list[bytes]:
    """Every key the publisher writes for ``queue``: open windows of each kind, then the finals of closed ones."""
    view = QueueView(track_changes=True)
    for index, channel in enumerate(Channel):
        queued_ms = T0 + 2 * MINUTE_MS + index * 1000
        view.apply(
            [
                QueueArrivalFact(f"c{index}", queue, channel, queued_ms),
                QueueOutcomeFact(f"c{index}", queue, channel, QueueOutcome.ANSWERED, queued_ms, queued_ms + 9000),
            ]
        )
    publisher = KpiPublisher()
    keys = []
    for now_ms in (T0 + 5 * MINUTE_MS, T0 + 25 * MINUTE_MS, T0 + 25 * 60 * MINUTE_MS):
        view.advance_to(now_ms)
        keys += [key for key, _ in publisher.due_rows(view, now_ms)]
    return keys


@pytest.mark.parametrize("queue", ["sales", "billing|de", "Kundendienst Zürich", "q" * 200])
def test_kpi_keys_the_publisher_writes_match_the_stated_pattern_and_parse_back(queue: str) -> None:
    pattern = _key_pattern(Contract.of_setting("kpi_topic"), "kpiRow")
    keys = published_kpi_keys(queue)
    kinds = {parse_kpi_key(key).window_kind for key in keys}
    assert kinds == set(WindowKind)  # intervals and days open and final, rolling windows
    assert {parse_kpi_key(key).channel for key in keys} == {*Channel, ALL_CHANNELS}
    for key in keys:
        assert pattern.match(key.decode()), key
        parsed = parse_kpi_key(key)
        assert parsed.queue == queue
        assert parsed.encode() == key


def test_the_kpi_key_pattern_refuses_keys_the_worker_never_writes() -> None:
    pattern = _key_pattern(Contract.of_setting("kpi_topic"), "kpiRow")
    start = "2026-09-22T00:00:00.000Z"
    for key in (
        f"sales|voice|rolling_5m|{start}",  # a rolling window's key ends in latest
        f"sales|voice|rolling_5m|{T0}",
        "sales|voice|interval_15m|latest",
        f"sales|phone|interval_15m|{start}",
        f"|voice|today|{start}",
        f"sales|voice|interval_15m|{start[:-1]}",
        f"sales|voice|hourly|{start}",
    ):
        assert not pattern.match(key), key


def test_the_kpi_key_pattern_uses_the_row_schemas_channels_and_instants() -> None:
    contract = Contract.of_setting("kpi_topic")
    key = contract.message("kpiRow")["bindings"]["kafka"]["key"]
    row_schema = _json_file("kpi-row.schema.json")
    assert "|".join(row_schema["properties"]["channel"]["enum"]) in key["pattern"]
    assert row_schema["$defs"]["instant"]["pattern"].strip("^$") in key["pattern"]
    validator = contract.key_validator("kpiRow")
    for example in key["examples"]:
        validator.validate(example)
        assert parse_kpi_key(example).encode() == example.encode()
    start_ms = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)
    window = Window(WindowKind.INTERVAL, "interval_15m", start_ms, start_ms + 15 * MINUTE_MS)
    assert key["examples"][0].encode() == kpi_row_key("q01", "voice", window)


def test_fact_keys_the_worker_writes_match_the_stated_pattern() -> None:
    from tests.unit.test_output_schemas import published_facts, simulated_events  # noqa: PLC0415

    contract = Contract.of_setting("facts_topic")
    pattern = _key_pattern(contract, "contactFact")
    assert _key_pattern(contract, "contactFactTombstone").pattern == pattern.pattern
    facts = published_facts(simulated_events())
    kinds = set()
    for fact in facts:
        key = fact_record_key(fact["queue"], fact["key"]).decode()
        assert pattern.match(key), key
        kinds.add(fact["key"].split(":", 1)[0])
    for queue, fact_key in (("billing|de", "outcome:c|1:1709284500000"), ("q01", "presence:agent-7")):
        assert pattern.match(fact_record_key(queue, fact_key).decode())
    stated = re.search(r"\|\(([a-z_|]+)\):", pattern.pattern)
    in_schema = re.search(r"\^\(([a-z_|]+)\):", _json_file("contact-fact.schema.json")["properties"]["key"]["pattern"])
    assert stated is not None
    assert in_schema is not None
    assert set(stated.group(1).split("|")) == set(in_schema.group(1).split("|"))  # the fact schema's kinds
    assert kinds <= set(stated.group(1).split("|"))
    assert len(kinds) >= 7  # the simulated day has every kind but open tickets (all are solved by its end)
    for example in contract.message("contactFact")["bindings"]["kafka"]["key"]["examples"]:
        assert pattern.match(example), example


def test_internal_message_keys_are_the_workers_batch_and_clock_keys() -> None:
    from ccpulse.runtime.app import BATCH_KEY  # noqa: PLC0415
    from ccpulse.sources.sink import BATCH_KEY as SOURCE_BATCH_KEY  # noqa: PLC0415

    assert Contract("events").message("eventBatch")["bindings"]["kafka"]["key"]["const"] == SOURCE_BATCH_KEY.decode()
    for channel in ("entityEvents", "queueChanges"):
        assert Contract(channel).message("internalBatch")["bindings"]["kafka"]["key"]["const"] == BATCH_KEY.decode()
    assert Contract("queueChanges").message("streamClock")["bindings"]["kafka"]["key"]["const"] == "~clock"


# -- dead letters ----------------------------------------------------------------------


@dataclass
class _Message:
    """The parts of a Faust message the ingest stage reads for a dead letter."""

    topic: str = "ccpulse.events"
    partition: int = 3
    offset: int = 1234
    key: bytes | None = b"contact:c-1"


class _DeadLetterTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = []

    async def send(self, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((key, value, dict(headers)))


def dead_letters(tmp_path: Path, *, redact: bool, value: bytes, batch_index: int | None) -> list[Any]:
    """What the real ingest stage sends to the dead-letter topic for one rejected record."""
    pipeline = create_app(Settings(data_dir=tmp_path, dead_letter_redact_payload=redact))
    topic = _DeadLetterTopic()
    pipeline.dead_letter_topic = topic
    error = InvalidEvent(RejectReason.NOT_JSON, "expected a JSON object")
    asyncio.run(pipeline._dead_letter(_Message(), value, error, batch_index))
    return topic.sent


def test_the_stated_dead_letter_headers_are_the_worker_constants() -> None:
    headers = Contract.of_setting("dead_letter_topic").message("deadLetter")["headers"]
    assert set(headers["properties"]) == set(DEAD_LETTER_HEADERS)
    assert set(headers["required"]) == set(DEAD_LETTER_ALWAYS_HEADERS)
    assert headers["properties"]["ccpulse.reason"]["enum"] == [reason.value for reason in RejectReason]


@pytest.mark.parametrize(
    ("redact", "value", "batch_index", "extra"),
    [
        pytest.param(False, b"{not json", None, set(), id="plain"),
        pytest.param(False, b"{not json", 2, {"ccpulse.source.batch_index"}, id="in-a-batch"),
        pytest.param(True, b"{not json", None, {"ccpulse.redacted.bytes", "ccpulse.redacted.sha256"}, id="redacted"),
        pytest.param(False, b"x" * 1_000_000, None, {"ccpulse.truncated_from_bytes"}, id="truncated"),
    ],
)
def test_dead_letters_the_worker_writes_carry_the_stated_headers_key_and_payload(
    tmp_path: Path, redact: bool, value: bytes, batch_index: int | None, extra: set[str]
) -> None:
    contract = Contract.of_setting("dead_letter_topic")
    [(key, payload, headers)] = dead_letters(tmp_path, redact=redact, value=value, batch_index=batch_index)
    assert set(headers) == set(DEAD_LETTER_ALWAYS_HEADERS) | extra
    decoded = {name: raw.decode() for name, raw in headers.items()}
    contract.headers_validator("deadLetter").validate(decoded)
    assert (decoded["ccpulse.source.partition"], decoded["ccpulse.source.offset"]) == ("3", "1234")
    assert key == _Message().key  # the rejected record's key, unchanged
    contract.key_validator("deadLetter").validate(key)
    expected = b"" if redact else value[:DEAD_LETTER_MAX_VALUE_BYTES]
    assert payload == expected


def test_the_dead_letter_header_schema_refuses_what_the_worker_never_writes() -> None:
    validator = Contract.of_setting("dead_letter_topic").headers_validator("deadLetter")
    good = {
        "ccpulse.reason": "late",
        "ccpulse.detail": "event time is older than the retention allows",
        "ccpulse.source.topic": "ccpulse.events",
        "ccpulse.source.partition": "0",
        "ccpulse.source.offset": "7",
    }
    validator.validate(good)
    assert not validator.is_valid({**good, "ccpulse.reason": "too_late"})
    assert not validator.is_valid({**good, "ccpulse.source.offset": "-1"})
    assert not validator.is_valid({**good, "ccpulse.origin": "x"})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "ccpulse.source.topic"})


# -- payloads ----------------------------------------------------------------------------

#: Example file name prefix -> the public channel and message whose payload it illustrates.
EXAMPLE_MESSAGES = {"fact-": ("facts_topic", "contactFact"), "kpi-row-": ("kpi_topic", "kpiRow")}


def _message_of_example(path: Path) -> tuple[str, str]:
    for prefix, message in EXAMPLE_MESSAGES.items():
        if path.name.startswith(prefix):
            return message
    return ("input_topic", "canonicalEvent")


def test_the_valid_examples_validate_against_the_schemas_the_document_refers_to() -> None:
    examples = sorted((SCHEMAS / "examples" / "valid").glob("*.json"))
    seen = set()
    for path in examples:
        setting, message = _message_of_example(path)
        validator = Contract.of_setting(setting).payload_validator(message)
        instance = json.loads(path.read_text(encoding="utf-8"))
        problems = [error.message for error in validator.iter_errors(instance)]
        assert problems == [], path.name
        seen.add(message)
    assert seen == {"canonicalEvent", "contactFact", "kpiRow"}


def test_the_referenced_schemas_refuse_the_invalid_output_examples() -> None:
    for prefix, (setting, message) in EXAMPLE_MESSAGES.items():
        validator = Contract.of_setting(setting).payload_validator(message)
        invalid = sorted((SCHEMAS / "examples" / "invalid").glob(f"{prefix}*.json"))
        assert invalid, prefix
        for path in invalid:
            assert not validator.is_valid(json.loads(path.read_text(encoding="utf-8"))), path.name


def test_a_tombstone_payload_is_null_and_a_fact_is_not() -> None:
    contract = Contract.of_setting("facts_topic")
    tombstone = contract.payload_validator("contactFactTombstone")
    assert tombstone.is_valid(None)
    assert not tombstone.is_valid({"version": 2})
    assert not contract.payload_validator("contactFact").is_valid(None)
