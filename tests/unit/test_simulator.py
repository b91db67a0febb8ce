"""The seeded contact simulator: reproducible, time-ordered, and valid under the event contract.

Every generated event must decode, and folding a contact's events through the
queue-stint core must give one fact per stint. Start time T0 is
2024-03-01T12:00:00Z = 1_709_294_400_000 ms.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.config import ConfigError, Settings
from ccpulse.domain.events import ContactEvent
from ccpulse.domain.queue_stints import (
    OUTCOME_OF_EVENT,
    ContactQueueState,
    apply_contact_event,
    unattributed_outcomes,
)
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan, run_simulation

T0_MS = 1_709_294_400_000
CONTACTS = 300
OUTCOME_TYPES = {event_type.value for event_type in OUTCOME_OF_EVENT}


def generate(**plan_fields: Any) -> list[tuple[int, dict[str, Any]]]:
    plan = SimulationPlan(**{"contacts": CONTACTS, "paced": False, **plan_fields})
    return list(ContactGenerator(plan, T0_MS).events())


@pytest.fixture(scope="module")
def generated() -> list[tuple[int, dict[str, Any]]]:
    # A higher transfer share than the default 8 % so that two-stint contacts are common.
    return generate(seed=7, transfer_share=0.5)


def events_by_contact(generated: list[tuple[int, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    by_contact: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, event in generated:
        by_contact[event["contact_id"]].append(event)
    return by_contact


def test_same_seed_gives_identical_events() -> None:
    assert generate(seed=3) == generate(seed=3)


def test_different_seed_gives_different_events() -> None:
    first, second = generate(seed=3), generate(seed=4)

    assert [event for _, event in first] != [event for _, event in second]
    assert [ts for ts, _ in first] != [ts for ts, _ in second]


def test_events_come_out_in_non_decreasing_event_time(generated: list[tuple[int, dict[str, Any]]]) -> None:
    times = [ts_ms for ts_ms, _ in generated]

    assert times == sorted(times)
    assert times[0] >= T0_MS


def test_every_event_decodes_and_its_ts_string_is_the_yielded_time(
    generated: list[tuple[int, dict[str, Any]]],
) -> None:
    for ts_ms, event in generated:
        decoded = decode_event(json.dumps(event))
        assert decoded.ts_ms == ts_ms
        assert decoded.event_id == event["event_id"]


def test_event_ids_are_unique(generated: list[tuple[int, dict[str, Any]]]) -> None:
    event_ids = [event["event_id"] for _, event in generated]

    assert len(set(event_ids)) == len(event_ids)


def test_each_contact_starts_with_contact_queued(generated: list[tuple[int, dict[str, Any]]]) -> None:
    for contact_id, events in events_by_contact(generated).items():
        assert events[0]["type"] == "contact.queued", contact_id


def test_each_stint_has_exactly_one_outcome(generated: list[tuple[int, dict[str, Any]]]) -> None:
    two_stint_contacts = 0
    for contact_id, events in events_by_contact(generated).items():
        # Split the contact's events at each contact.queued: one list per stint.
        stints: list[list[str]] = []
        for event in events:
            if event["type"] == "contact.queued":
                stints.append([])
            stints[-1].append(event["type"])
        outcomes_per_stint = [sum(t in OUTCOME_TYPES for t in stint) for stint in stints]
        assert outcomes_per_stint == [1] * len(stints), contact_id
        two_stint_contacts += len(stints) == 2
    # With transfer_share 0.5 some contacts must have been transferred back into a queue.
    assert two_stint_contacts > 0


def test_folding_each_contact_gives_one_fact_per_stint_and_nothing_pending(
    generated: list[tuple[int, dict[str, Any]]],
) -> None:
    for contact_id, events in events_by_contact(generated).items():
        state = ContactQueueState()
        fact_count = 0
        for event in events:
            decoded = decode_event(json.dumps(event))
            assert isinstance(decoded, ContactEvent)
            state, changes = apply_contact_event(state, decoded)
            # Events come in time order: nothing is ever retracted.
            assert changes.retracted == ()
            fact_count += len(changes.published)
        queued_count = sum(event["type"] == "contact.queued" for event in events)
        assert fact_count == queued_count, contact_id
        assert unattributed_outcomes(state) == ()


@pytest.mark.parametrize("contacts", [1, 17, 250])
def test_contacts_n_gives_exactly_n_distinct_contact_ids(contacts: int) -> None:
    contact_ids = {event["contact_id"] for _, event in generate(contacts=contacts)}

    assert len(contact_ids) == contacts


@pytest.mark.parametrize(
    ("plan_fields", "message"),
    [
        pytest.param({"rate_per_s": 0.0}, "--rate", id="rate-zero"),
        pytest.param({"rate_per_s": -1.0}, "--rate", id="rate-negative"),
        pytest.param({"rate_per_s": float("nan")}, "--rate", id="rate-nan"),
        pytest.param({"speed": 0.0}, "--speed", id="speed-zero"),
        pytest.param({"queues": ()}, "--queues", id="no-queues"),
        pytest.param({"contacts": -1}, "--contacts", id="negative-contacts"),
    ],
)
def test_invalid_simulation_plan_raises_config_error(plan_fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimulationPlan(**plan_fields)


@pytest.mark.asyncio
async def test_run_simulation_writes_one_ndjson_line_per_generated_event(tmp_path: Path) -> None:
    plan = SimulationPlan(contacts=40, seed=11, paced=False)
    output = tmp_path / "events.ndjson"
    # The event count depends only on the seed, not on the start time run_simulation picks.
    expected_count = sum(1 for _ in ContactGenerator(plan, T0_MS).events())

    exit_code = await run_simulation(plan, Settings(), output)

    lines = output.read_bytes().splitlines()
    assert exit_code == 0
    assert len(lines) == expected_count
    decoded = [decode_event(line) for line in lines]
    assert len({event.contact_id for event in decoded if isinstance(event, ContactEvent)}) == 40


def test_mixed_stream_adds_agents_surveys_and_tickets_all_valid_and_in_time_order() -> None:
    plan = SimulationPlan(contacts=400, mixed=True, seed=7, queues=tuple(f"q{n}" for n in range(50)))
    events = list(ContactGenerator(plan, T0_MS).events())

    types = {event["type"] for _, event in events}
    assert {"agent.state_changed", "survey.submitted", "ticket.created", "ticket.solved"} <= types
    assert all(earlier[0] <= later[0] for earlier, later in itertools.pairwise(events))
    assert len({event["event_id"] for _, event in events}) == len(events)
    for _, event in events:
        decode_event(json.dumps(event))  # raises on anything the contract rejects
