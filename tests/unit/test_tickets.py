"""One ticket's step facts (SPEC section 3 "Tickets", section 5).

Hand-worked cases first, then properties: arrival order, duplicates and a
restart from serialized state must not change the facts. All times are epoch
milliseconds; T0_MS is 2024-03-01T12:00:00Z (worked out in test_queue_stints.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.records import ticket_state_from_dict, ticket_state_to_dict
from ccpulse.domain.changes import FactChanges
from ccpulse.domain.events import Channel, TicketEvent, TicketEventType
from ccpulse.domain.facts import TicketFact, TicketStep
from ccpulse.domain.tickets import (
    MAX_REMEMBERED_EVENT_IDS,
    NO_CHANGES,
    STEP_RANK,
    TicketState,
    apply_ticket_event,
    is_duplicate,
    is_open,
    ticket_facts,
    waiting_events,
)
from tests.unit.lifecycle_support import FactsLedger, first_deliveries, insert_duplicates

T0_MS = 1_709_294_400_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TICKET_ID = "t-501"

property_settings = settings(max_examples=200, deadline=None)


def ticket_event(
    event_id: str,
    event_type: TicketEventType,
    ts_ms: int,
    agent_id: str | None = None,
    *,
    public: bool | None = None,
    queue: str = "support",
    channel: Channel = Channel.EMAIL,
) -> TicketEvent:
    """A ticket event as the codec yields it: every type carries queue and channel."""
    return TicketEvent(event_id, event_type, ts_ms, TICKET_ID, queue, channel, agent_id, public)


def created(event_id: str = "c", ts_ms: int = T0_MS, queue: str = "support") -> TicketEvent:
    return ticket_event(event_id, TicketEventType.CREATED, ts_ms, queue=queue)


def reply(event_id: str, ts_ms: int, agent_id: str = "a-1", *, public: bool = True) -> TicketEvent:
    return ticket_event(event_id, TicketEventType.REPLIED, ts_ms, agent_id, public=public)


def step(event_id: str, event_type: TicketEventType, ts_ms: int, agent_id: str | None = None) -> TicketEvent:
    return ticket_event(event_id, event_type, ts_ms, agent_id)


def fold(
    events: Iterable[TicketEvent], state: TicketState | None = None, ledger: FactsLedger[TicketFact] | None = None
) -> tuple[TicketState, set[TicketFact]]:
    """Apply events in the given arrival order; return the final state and the live facts."""
    state = TicketState() if state is None else state
    ledger = FactsLedger() if ledger is None else ledger
    for event in events:
        state, changes = apply_ticket_event(state, event)
        ledger.apply(changes)
    return state, ledger.facts


def fact(
    ticket_step: TicketStep,
    ts_ms: int,
    duration_ms: int | None = None,
    public_replies: int | None = None,
    agent_id: str | None = None,
) -> TicketFact:
    return TicketFact(TICKET_ID, "support", Channel.EMAIL, ticket_step, ts_ms, duration_ms, public_replies, agent_id)


# --- hand-worked cases ------------------------------------------------------

# Created at T0; an internal note at T0+5 min; the first public reply at T0+2 h;
# solved by the same agent at T0+3 h.
ONE_TOUCH = [
    created(),
    reply("note", T0_MS + 5 * MINUTE_MS, "a-2", public=False),
    reply("r1", T0_MS + 2 * HOUR_MS),
    step("s1", TicketEventType.SOLVED, T0_MS + 3 * HOUR_MS, "a-1"),
]


def test_created_first_response_and_one_touch_solve() -> None:
    state, facts = fold(ONE_TOUCH)

    assert facts == {
        fact(TicketStep.CREATED, T0_MS),
        # First response = 2 h = 7_200_000 ms; the internal note does not count.
        fact(TicketStep.FIRST_RESPONSE, T0_MS + 2 * HOUR_MS, 7_200_000, agent_id="a-1"),
        # Resolution = 3 h = 10_800_000 ms, one public reply: one-touch.
        fact(TicketStep.SOLVED, T0_MS + 3 * HOUR_MS, 10_800_000, public_replies=1, agent_id="a-1"),
    }
    assert not is_open(state)


def test_internal_note_is_not_stored_but_remembered_as_seen() -> None:
    state, changes = apply_ticket_event(TicketState(), reply("note", T0_MS, public=False))

    assert changes == NO_CHANGES
    assert state.marks == ()
    assert is_duplicate(state, reply("note", T0_MS, public=False))


def test_backlog_follows_the_ticket_through_solve_reopen_and_close() -> None:
    state, _ = fold([created()])
    assert is_open(state)
    state, _ = fold([step("s1", TicketEventType.SOLVED, T0_MS + HOUR_MS)], state)
    assert not is_open(state)
    state, _ = fold([step("o1", TicketEventType.REOPENED, T0_MS + DAY_MS)], state)
    assert is_open(state)
    state, _ = fold([step("z1", TicketEventType.CLOSED, T0_MS + 2 * DAY_MS)], state)
    assert not is_open(state)
    assert not is_open(TicketState())


def test_reopened_ticket_is_resolved_again_measured_from_creation() -> None:
    # Solved one-touch at T0+3 h, reopened at T0+1 day, another public reply at
    # T0+1 day+1 h, solved again at T0+1 day+2 h: 26 h = 93_600_000 ms from creation, 2 replies.
    _, facts = fold(
        [
            *ONE_TOUCH,
            step("o1", TicketEventType.REOPENED, T0_MS + DAY_MS),
            reply("r2", T0_MS + DAY_MS + HOUR_MS, "a-3"),
            step("s2", TicketEventType.SOLVED, T0_MS + DAY_MS + 2 * HOUR_MS),
        ]
    )

    solved = sorted((f for f in facts if f.step is TicketStep.SOLVED), key=lambda f: f.ts_ms)
    assert solved == [
        fact(TicketStep.SOLVED, T0_MS + 3 * HOUR_MS, 10_800_000, public_replies=1, agent_id="a-1"),
        # No agent on the second solve: the latest public replier (a-3) gets it.
        fact(TicketStep.SOLVED, T0_MS + DAY_MS + 2 * HOUR_MS, 93_600_000, public_replies=2, agent_id="a-3"),
    ]
    assert fact(TicketStep.REOPENED, T0_MS + DAY_MS) in facts
    assert sum(f.step is TicketStep.FIRST_RESPONSE for f in facts) == 1  # replies after a reopen are not first


def test_events_before_created_wait_for_it() -> None:
    state, facts = fold(ONE_TOUCH[1:])
    assert facts == set()
    assert [m.event_id for m in waiting_events(state)] == ["r1", "s1"]

    state, changes = apply_ticket_event(state, ONE_TOUCH[0])

    assert changes.retracted == ()
    assert {f.step for f in changes.published} == {TicketStep.CREATED, TicketStep.FIRST_RESPONSE, TicketStep.SOLVED}
    assert waiting_events(state) == ()


def test_queue_and_channel_come_from_created_whatever_later_events_carry() -> None:
    moved = ticket_event("s1", TicketEventType.SOLVED, T0_MS + HOUR_MS, "a-1", queue="billing", channel=Channel.CHAT)

    _, facts = fold([moved, created()])

    assert {(f.queue, f.channel) for f in facts} == {("support", Channel.EMAIL)}


def test_earliest_created_wins() -> None:
    _, facts = fold([created("c2", T0_MS + MINUTE_MS, queue="billing"), created("c1", T0_MS)])

    assert facts == {fact(TicketStep.CREATED, T0_MS)}


def test_late_earlier_public_reply_replaces_the_first_response_and_the_solve() -> None:
    state, _ = fold(
        [created(), reply("r2", T0_MS + 2 * HOUR_MS), step("s1", TicketEventType.SOLVED, T0_MS + 3 * HOUR_MS)]
    )

    # A reply at T0+30 min arrives late: first response 1_800_000 ms, and the solve had 2 replies.
    _, changes = apply_ticket_event(state, reply("r1", T0_MS + 30 * MINUTE_MS, "a-9"))

    assert set(changes.retracted) == {
        fact(TicketStep.FIRST_RESPONSE, T0_MS + 2 * HOUR_MS, 7_200_000, agent_id="a-1"),
        fact(TicketStep.SOLVED, T0_MS + 3 * HOUR_MS, 10_800_000, public_replies=1, agent_id="a-1"),
    }
    assert set(changes.published) == {
        fact(TicketStep.FIRST_RESPONSE, T0_MS + 30 * MINUTE_MS, 1_800_000, agent_id="a-9"),
        fact(TicketStep.SOLVED, T0_MS + 3 * HOUR_MS, 10_800_000, public_replies=2, agent_id="a-1"),
    }


def test_reply_sent_with_the_solve_at_one_instant_counts_before_it() -> None:
    # "Submit as solved": reply and solve both at T0+1 h (in either arrival order).
    events = [created(), step("s", TicketEventType.SOLVED, T0_MS + HOUR_MS, "a-1"), reply("r", T0_MS + HOUR_MS)]

    _, facts = fold(events)
    _, reversed_facts = fold(reversed(events))

    assert fact(TicketStep.FIRST_RESPONSE, T0_MS + HOUR_MS, 3_600_000, agent_id="a-1") in facts
    assert fact(TicketStep.SOLVED, T0_MS + HOUR_MS, 3_600_000, public_replies=1, agent_id="a-1") in facts
    assert facts == reversed_facts


def test_events_timestamped_before_creation_never_count() -> None:
    # A reply stamped a minute before the ticket exists (clock skew): no first response from it.
    state, facts = fold([created(), reply("early", T0_MS - MINUTE_MS)])

    assert facts == {fact(TicketStep.CREATED, T0_MS)}
    assert [m.event_id for m in waiting_events(state)] == ["early"]


def test_only_the_first_escalation_counts() -> None:
    _, facts = fold(
        [
            created(),
            step("x1", TicketEventType.ESCALATED, T0_MS + HOUR_MS, "a-1"),
            step("x2", TicketEventType.ESCALATED, T0_MS + 2 * HOUR_MS, "a-2"),
        ]
    )

    assert [f for f in facts if f.step is TicketStep.ESCALATED] == [
        fact(TicketStep.ESCALATED, T0_MS + HOUR_MS, agent_id="a-1")
    ]


def test_steps_that_do_not_change_the_status_yield_nothing() -> None:
    state, _ = fold([created(), step("s1", TicketEventType.SOLVED, T0_MS + HOUR_MS)])

    for no_op in [
        step("s2", TicketEventType.SOLVED, T0_MS + 2 * HOUR_MS),  # solved again without a reopen
        step("z1", TicketEventType.CLOSED, T0_MS + 3 * HOUR_MS),
    ]:
        state, _ = apply_ticket_event(state, no_op)
    _, changes = apply_ticket_event(state, step("z2", TicketEventType.CLOSED, T0_MS + 4 * HOUR_MS))
    assert changes == NO_CHANGES  # closed twice
    open_state, _ = fold([created("c"), step("o", TicketEventType.REOPENED, T0_MS + HOUR_MS)])
    assert ticket_facts(TICKET_ID, open_state) == {f"{TICKET_ID}:created:{T0_MS}": fact(TicketStep.CREATED, T0_MS)}


def test_closed_without_solve_leaves_the_backlog() -> None:
    state, facts = fold([created(), step("z", TicketEventType.CLOSED, T0_MS + DAY_MS)])

    assert fact(TicketStep.CLOSED, T0_MS + DAY_MS) in facts
    assert not any(f.step is TicketStep.SOLVED for f in facts)
    assert not is_open(state)


def test_late_reopen_between_two_solves_publishes_the_second_solve() -> None:
    state, facts = fold(
        [
            created(),
            step("s1", TicketEventType.SOLVED, T0_MS + HOUR_MS),
            step("s2", TicketEventType.SOLVED, T0_MS + 5 * HOUR_MS),  # looks like a repeat: ignored for now
        ]
    )
    assert sum(f.step is TicketStep.SOLVED for f in facts) == 1

    _, changes = apply_ticket_event(state, step("o1", TicketEventType.REOPENED, T0_MS + 3 * HOUR_MS))

    assert changes == FactChanges(
        published=(
            fact(TicketStep.REOPENED, T0_MS + 3 * HOUR_MS),
            fact(TicketStep.SOLVED, T0_MS + 5 * HOUR_MS, 18_000_000, public_replies=0),  # 5 h from creation
        )
    )


@pytest.mark.parametrize("replayed", range(len(ONE_TOUCH)))
def test_duplicate_event_id_changes_nothing(replayed: int) -> None:
    state, _ = fold(ONE_TOUCH)

    after, changes = apply_ticket_event(state, ONE_TOUCH[replayed])

    assert changes == NO_CHANGES
    assert after == state


def test_dedupe_memory_is_bounded_and_a_forgotten_replay_still_changes_nothing() -> None:
    notes = [reply(f"n{n}", T0_MS + n, public=False) for n in range(300)]
    state, _ = fold([*ONE_TOUCH, *notes])
    assert len(state.seen_event_ids) == MAX_REMEMBERED_EVENT_IDS
    assert not is_duplicate(state, ONE_TOUCH[2])

    after, changes = apply_ticket_event(state, ONE_TOUCH[2])

    assert changes == NO_CHANGES
    assert after.marks == state.marks


@pytest.mark.parametrize(
    "handmade",
    [
        pytest.param(TicketEvent("c", TicketEventType.CREATED, T0_MS, TICKET_ID, None, Channel.EMAIL), id="no-queue"),
        pytest.param(TicketEvent("r", TicketEventType.REPLIED, T0_MS, TICKET_ID, "q", Channel.EMAIL), id="no-agent"),
    ],
)
def test_events_missing_what_the_codec_requires_are_programming_errors(handmade: TicketEvent) -> None:
    with pytest.raises(ValueError, match="needs"):
        apply_ticket_event(TicketState(), handmade)


def test_fact_ids_are_ticket_step_and_time() -> None:
    _, facts = fold(ONE_TOUCH)

    assert sorted(f.fact_id for f in facts) == [
        "t-501:created:1709294400000",
        "t-501:first_response:1709301600000",  # T0 + 7_200_000
        "t-501:solved:1709305200000",  # T0 + 10_800_000
    ]


# --- properties -------------------------------------------------------------

NON_CREATED_TYPES = [t for t in TicketEventType if t is not TicketEventType.CREATED]
# The steps that move a ticket in or out of the backlog, in their order at one instant.
STATUS_STEP_RANK = {
    TicketStep.CREATED: STEP_RANK[TicketEventType.CREATED],
    TicketStep.SOLVED: STEP_RANK[TicketEventType.SOLVED],
    TicketStep.REOPENED: STEP_RANK[TicketEventType.REOPENED],
    TicketStep.CLOSED: STEP_RANK[TicketEventType.CLOSED],
}


@st.composite
def ticket_lives(draw: st.DrawFn) -> list[TicketEvent]:
    """A ticket.created and 0-8 other events with distinct ids, some before creation, ties likely."""
    events = [created("c", T0_MS + draw(st.integers(0, 3)) * HOUR_MS)]
    if draw(st.booleans()):
        events.append(created("c-other", T0_MS + draw(st.integers(0, 6)) * HOUR_MS, queue="billing"))
    for n in range(draw(st.integers(0, 8))):
        event_type = draw(st.sampled_from(NON_CREATED_TYPES))
        ts_ms = T0_MS + draw(st.integers(-1, 10)) * HOUR_MS
        agent_id = draw(st.sampled_from(["a-1", "a-2", None]))
        if event_type is TicketEventType.REPLIED:
            events.append(reply(f"e{n}", ts_ms, agent_id or "a-3", public=draw(st.booleans())))
        else:
            events.append(step(f"e{n}", event_type, ts_ms, agent_id))
    return events


@st.composite
def lives_in_any_arrival_order(draw: st.DrawFn) -> tuple[list[TicketEvent], list[TicketEvent]]:
    events = draw(ticket_lives())
    return events, draw(st.permutations(events))


def in_event_time_order(events: Sequence[TicketEvent]) -> list[TicketEvent]:
    return sorted(events, key=lambda e: (e.ts_ms, STEP_RANK[e.type], e.event_id))


@property_settings
@given(lives_in_any_arrival_order())
def test_any_arrival_order_yields_the_facts_of_event_time_order(
    life: tuple[list[TicketEvent], list[TicketEvent]],
) -> None:
    events, arrival = life

    state, facts = fold(arrival)
    ordered_state, ordered_facts = fold(in_event_time_order(events))

    assert facts == ordered_facts
    assert facts == set(ticket_facts(TICKET_ID, state).values())
    assert is_open(state) == is_open(ordered_state)
    assert state.marks == ordered_state.marks


@property_settings
@given(ticket_lives())
def test_facts_keep_the_ticket_invariants(events: list[TicketEvent]) -> None:
    state, facts = fold(events)
    steps = Counter(f.step for f in facts)
    creation = min((e for e in events if e.type is TicketEventType.CREATED), key=lambda e: (e.ts_ms, e.event_id))
    created_ts_ms = creation.ts_ms

    assert steps[TicketStep.CREATED] == 1
    assert steps[TicketStep.FIRST_RESPONSE] <= 1
    assert steps[TicketStep.ESCALATED] <= 1
    # Every reopen follows a solve or a close; every solve but the first follows a reopen.
    assert steps[TicketStep.REOPENED] <= steps[TicketStep.SOLVED] + steps[TicketStep.CLOSED]
    assert steps[TicketStep.SOLVED] <= steps[TicketStep.REOPENED] + 1
    assert all(f.queue == creation.queue and f.ts_ms >= created_ts_ms for f in facts)
    assert all(f.duration_ms == f.ts_ms - created_ts_ms for f in facts if f.duration_ms is not None)
    assert all(f.public_replies is not None for f in facts if f.step is TicketStep.SOLVED)
    # In the backlog exactly when the latest status step is the creation or a reopen.
    latest_status = max(
        (f for f in facts if f.step in STATUS_STEP_RANK), key=lambda f: (f.ts_ms, STATUS_STEP_RANK[f.step])
    )
    assert is_open(state) == (latest_status.step in {TicketStep.CREATED, TicketStep.REOPENED})


@property_settings
@given(lives_in_any_arrival_order(), st.data())
def test_duplicates_inserted_anywhere_change_neither_facts_nor_state(
    life: tuple[list[TicketEvent], list[TicketEvent]], data: st.DataObject
) -> None:
    _, arrival = life
    with_duplicates = insert_duplicates(arrival, data)

    state_with, facts_with = fold(with_duplicates)
    state_without, facts_without = fold(first_deliveries(with_duplicates))

    assert facts_with == facts_without
    assert state_with == state_without


@property_settings
@given(lives_in_any_arrival_order(), st.data())
def test_restart_from_serialized_state_yields_the_same_facts(
    life: tuple[list[TicketEvent], list[TicketEvent]], data: st.DataObject
) -> None:
    _, arrival = life
    cut = data.draw(st.integers(0, len(arrival)), label="events folded before the restart")
    redelivered = data.draw(st.integers(0, cut), label="redelivered events")
    uninterrupted_state, uninterrupted_facts = fold(arrival)

    ledger: FactsLedger[TicketFact] = FactsLedger()
    before, _ = fold(arrival[:cut], ledger=ledger)
    restored = ticket_state_from_dict(json.loads(json.dumps(ticket_state_to_dict(before))))
    assert restored == before
    after, facts_after = fold(arrival[cut - redelivered :], restored, ledger)

    assert facts_after == uninterrupted_facts
    assert after == uninterrupted_state
