"""The output schemas (contact-fact, kpi-row) are valid, describe what ccpulse publishes, and their examples are right.

What is published is built from real data: the simulator's mixed stream folded by the
entity stage (every fact kind) and run through the engine (KPI rows of every window),
encoded by :mod:`ccpulse.codec.outputs` and parsed back from JSON bytes.
Examples: ``schemas/examples/{valid,invalid}/fact-*.json`` for contact facts,
``kpi-row-*.json`` for KPI rows.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, fields
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ccpulse.bench.engine_bench import BenchPlan, engine_config, generate_messages
from ccpulse.codec import json as codec_json
from ccpulse.codec.events import decode_event
from ccpulse.codec.outputs import fact_record, kpi_row, snapshot_numbers, totals_of
from ccpulse.domain.contacts import ContactRules
from ccpulse.domain.engine import Engine
from ccpulse.domain.entities import (
    EntityRules,
    EntityState,
    apply_entity_event,
    entity_facts,
    entity_key,
    routes_of,
)
from ccpulse.domain.events import AgentState, CanonicalEvent, Channel
from ccpulse.domain.facts import TicketOpenFact
from ccpulse.domain.kpis import KpiSnapshot, SlFormula
from ccpulse.domain.queue_view import ALL_CHANNELS

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
FACT_SCHEMA = json.loads((SCHEMAS / "contact-fact.schema.json").read_text(encoding="utf-8"))
KPI_SCHEMA = json.loads((SCHEMAS / "kpi-row.schema.json").read_text(encoding="utf-8"))
FACT_VALIDATOR = Draft202012Validator(FACT_SCHEMA)
KPI_VALIDATOR = Draft202012Validator(KPI_SCHEMA)
# Example file name prefix -> the validator of its schema.
VALIDATOR_OF_PREFIX = {"fact-": FACT_VALIDATOR, "kpi-row-": KPI_VALIDATOR}

RULES = EntityRules(
    ContactRules(acw_timeout_ms=lambda queue: 120_000),
    customer_key=lambda customer_id: None if customer_id is None else "k" + customer_id,
)
FACT_KINDS = {"arrival", "outcome", "handling", "agent_state", "ticket", "survey", "presence", "ticket_open"}
KPI_NAMES = [spec.name for spec in fields(KpiSnapshot) if spec.name not in {"definitions", "window_ms"}]


@cache
def simulated_events(contacts: int = 300, seed: int = 3) -> tuple[CanonicalEvent, ...]:
    messages, _ = generate_messages(BenchPlan(contacts=contacts, seed=seed, queues=4))
    return tuple(decode_event(message) for message in messages)


def published_facts(events: tuple[CanonicalEvent, ...]) -> list[dict[str, Any]]:
    """Every fact the entity stage derives from ``events``, as published for each queue it goes to."""
    states: dict[str, EntityState] = {}
    for event in events:
        key = entity_key(event)
        if key is not None:
            states[key], _ = apply_entity_event(states.get(key, EntityState()), event, RULES)
    return [
        json.loads(fact_record(queue, fact_key, entity, fact))
        for entity, state in states.items()
        for fact_key, fact in entity_facts(entity, state, RULES).items()
        for queue in routes_of(fact)
    ]


def engine_rows(events: tuple[CanonicalEvent, ...]) -> list[dict[str, Any]]:
    """For every queue x channel (and all channels) and every current window: an open row and a final one."""
    engine = Engine(engine_config())
    for event in events:
        engine.apply(event)
    now_ms = engine.stream_time_ms
    assert now_ms is not None
    pairs = [*engine.queues(), *((queue, ALL_CHANNELS) for queue in sorted({queue for queue, _ in engine.queues()}))]
    rows: list[dict[str, Any]] = []
    for queue, channel in pairs:
        for window in engine.windows(queue, now_ms):
            kpis = engine.snapshot(queue, channel, window)
            totals = totals_of(engine.aggregate(queue, channel, window))
            open_row = kpi_row(
                queue,
                channel,
                window,
                kpis,
                final=False,
                as_of_ms=now_ms,
                live=engine.live(queue, channel, now_ms),
                agents=engine.agents_by_state(queue),
                open_tickets=engine.open_tickets(queue),
                totals=totals,
            )
            final_row = kpi_row(queue, channel, window, kpis, final=True, as_of_ms=now_ms, totals=totals)
            rows += [json.loads(codec_json.dumps(open_row)), json.loads(codec_json.dumps(final_row))]
    return rows


def errors_of(validator: Draft202012Validator, document: Any) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


# --- the schemas ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [FACT_SCHEMA, KPI_SCHEMA], ids=["contact-fact", "kpi-row"])
def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:ccpulse:schema:")
    assert schema["title"]
    assert schema["description"]


def test_fact_schema_has_one_branch_per_fact_kind() -> None:
    branches = [
        FACT_SCHEMA["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in FACT_SCHEMA["properties"]["fact"]["oneOf"]
    ]
    assert {branch["properties"]["kind"]["const"] for branch in branches} == FACT_KINDS
    for branch in branches:
        assert set(branch["required"]) == set(branch["properties"])
        assert branch["additionalProperties"] is False


def test_kpi_schema_names_every_kpi_and_the_domain_enums() -> None:
    kpis = KPI_SCHEMA["properties"]["kpis"]
    assert kpis["required"] == KPI_NAMES
    assert set(kpis["properties"]) == set(KPI_NAMES)
    assert KPI_SCHEMA["$defs"]["serviceLevel"]["properties"]["formula"]["enum"] == [f.value for f in SlFormula]
    assert KPI_SCHEMA["properties"]["now"]["properties"]["agents"]["propertyNames"]["enum"] == [
        s.value for s in AgentState
    ]
    assert KPI_SCHEMA["properties"]["channel"]["enum"] == [*(c.value for c in Channel), ALL_CHANNELS]


# --- contact facts from real data -------------------------------------------------------------------------------------


def test_every_fact_kind_from_the_simulated_stream_matches_the_schema() -> None:
    records = published_facts(simulated_events())
    open_ticket = TicketOpenFact("t-1", "support")
    records.append(json.loads(fact_record("support", "ticket_open:t-1", "ticket:t-1", open_ticket)))

    for record in records:
        assert errors_of(FACT_VALIDATOR, record) == [], record
    assert {record["fact"]["kind"] for record in records} == FACT_KINDS


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(min_value=1, max_value=100_000))
def test_facts_of_any_simulated_stream_match_the_schema(seed: int) -> None:
    records = published_facts(simulated_events(contacts=40, seed=seed))
    assert records
    for record in records:
        assert errors_of(FACT_VALIDATOR, record) == [], record


def test_a_survey_fact_needs_its_survey_kind() -> None:
    record = next(r for r in published_facts(simulated_events()) if r["fact"]["kind"] == "survey")
    assert FACT_VALIDATOR.is_valid(record)
    record["fact"]["kind"] = record["fact"].pop("survey_kind")
    assert not FACT_VALIDATOR.is_valid(record)


# --- KPI rows from real data ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.5, 1.0], ids=["mid-stream", "whole-stream"])
def test_kpi_rows_of_every_queue_channel_and_window_match_the_schema(share: float) -> None:
    events = simulated_events()
    rows = engine_rows(events[: int(len(events) * share)])

    for row in rows:
        assert errors_of(KPI_VALIDATOR, row) == [], (row["queue"], row["channel"], row["window"], row["final"])
    assert {row["window_kind"] for row in rows} == {"interval", "rolling", "today"}
    assert {row["final"] for row in rows} == {False, True}
    assert all("now" in row for row in rows if not row["final"])


def test_snapshot_numbers_are_exactly_asdict_of_every_real_snapshot() -> None:
    engine = Engine(engine_config())
    for event in simulated_events():
        engine.apply(event)
    now_ms = engine.stream_time_ms
    assert now_ms is not None
    snapshots = [
        engine.snapshot(queue, channel, window)
        for queue, channel in engine.queues()
        for window in engine.windows(queue, now_ms)
    ]
    assert snapshots
    for kpis in snapshots:
        assert snapshot_numbers(kpis) == asdict(kpis)


@cache
def a_kpi_row() -> dict[str, Any]:
    rows = engine_rows(simulated_events()[:2000])
    return next(
        row for row in rows if row["window_kind"] == "interval" and not row["final"] and row["kpis"]["answered"] > 0
    )


def test_a_real_kpi_row_is_valid() -> None:
    assert errors_of(KPI_VALIDATOR, a_kpi_row()) == []


@pytest.mark.parametrize("name", KPI_NAMES)
def test_a_kpi_row_missing_a_kpi_fails(name: str) -> None:
    row = copy.deepcopy(a_kpi_row())
    del row["kpis"][name]
    assert not KPI_VALIDATOR.is_valid(row)


def test_a_kpi_row_with_an_unknown_sl_formula_fails() -> None:
    row = copy.deepcopy(a_kpi_row())
    row["kpis"]["service_levels"][0]["formula"] = "answered_within"
    assert not KPI_VALIDATOR.is_valid(row)


WRONG_VALUES = [
    pytest.param(("final",), "false", id="final-as-string"),
    pytest.param(("as_of",), "2024-03-01T12:00:00Z", id="as-of-without-milliseconds"),
    pytest.param(("window_start",), 1_709_294_400_000, id="window-start-as-epoch-ms"),
    pytest.param(("window_kind",), "sliding", id="unknown-window-kind"),
    pytest.param(("window",), "rolling_5m", id="window-label-of-another-kind"),
    pytest.param(("channel",), "phone", id="unknown-channel"),
    pytest.param(("kpis", "answered"), 1.5, id="fractional-count"),
    pytest.param(("kpis", "asa_s"), "12.5", id="kpi-as-string"),
    pytest.param(("kpis", "service_levels"), {"20": 0.8}, id="service-levels-not-a-list"),
    pytest.param(("now", "agents"), {"on_break": 1}, id="unknown-agent-state"),
    pytest.param(("now", "waiting_beyond"), {"20s": 0}, id="threshold-not-seconds"),
    pytest.param(("extra",), 1, id="extra-field"),
]


@pytest.mark.parametrize(("path", "value"), WRONG_VALUES)
def test_a_kpi_row_with_a_wrong_value_fails(path: tuple[str, ...], value: Any) -> None:
    row = copy.deepcopy(a_kpi_row())
    parent = row
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    assert not KPI_VALIDATOR.is_valid(row)


def test_a_final_kpi_row_has_no_now() -> None:
    row = copy.deepcopy(a_kpi_row())
    row["final"] = True
    assert not KPI_VALIDATOR.is_valid(row)
    del row["now"]
    assert KPI_VALIDATOR.is_valid(row)


# --- examples ---------------------------------------------------------------------------------------------------------


def _examples(folder: str) -> list[Any]:
    return [
        pytest.param(path, VALIDATOR_OF_PREFIX[prefix], id=path.name)
        for path in sorted((EXAMPLES / folder).glob("*.json"))
        for prefix in VALIDATOR_OF_PREFIX
        if path.name.startswith(prefix)
    ]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_each_output_schema_has_valid_and_invalid_examples() -> None:
    for folder in ("valid", "invalid"):
        names = [path.name for path in (EXAMPLES / folder).glob("*.json")]
        for prefix in VALIDATOR_OF_PREFIX:
            assert any(name.startswith(prefix) for name in names), (folder, prefix)


@pytest.mark.parametrize(("path", "validator"), _examples("valid"))
def test_valid_example_validates(path: Path, validator: Draft202012Validator) -> None:
    assert errors_of(validator, _load(path)) == []


@pytest.mark.parametrize(("path", "validator"), _examples("invalid"))
def test_invalid_example_fails(path: Path, validator: Draft202012Validator) -> None:
    assert not validator.is_valid(_load(path))


def test_kpi_row_totals_agree_with_its_kpis() -> None:
    row = a_kpi_row()
    kpis, totals = row["kpis"], row["totals"]

    assert totals["wait_answered_s"] / kpis["answered"] == pytest.approx(kpis["asa_s"])
    sl20 = next(v for v in kpis["service_levels"] if v["threshold_s"] == 20 and v["formula"] == "offered")
    assert totals["answered_within"]["20"] / kpis["offered"] == pytest.approx(sl20["ratio"])
