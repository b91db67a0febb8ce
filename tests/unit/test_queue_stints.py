"""Queue stints of one contact: which outcome fact each stint yields (SPEC sections 3 and 5).

Hand-worked cases first, then properties: arrival order, duplicates and a
restart from serialized state must not change the facts. All times are epoch
milliseconds; T0_MS is 2024-03-01T12:00:00Z.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.records import state_from_dict, state_to_dict
from ccpulse.domain.changes import FactChanges
from ccpulse.domain.events import Channel, ContactEvent, ContactEventType, FlowOutReason
from ccpulse.domain.facts import QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_stints import (
    MAX_REMEMBERED_EVENT_IDS,
    NO_CHANGES,
    OUTCOME_OF_EVENT,
    ContactQueueState,
    apply_contact_event,
    stint_facts,
    unattributed_outcomes,
)
from tests.unit.lifecycle_support import FactsLedger, first_deliveries, insert_duplicates

# 2024-03-01T12:00:00Z: 19_783 days after 1970-01-01 (54 years with 13 leap days
# = 19_723 days to 2024-01-01, + 31 January + 29 February), 19_783 * 86_400 s
# = 1_709_251_200 s, + 12 h (43_200 s) = 1_709_294_400 s.
T0_MS = 1_709_294_400_000
CONTACT_ID = "c-1"
QUEUES = ("sales", "support", "billing")

property_settings = settings(max_examples=200, deadline=None)


def queued(event_id: str, ts_ms: int, queue: str = "sales", channel: Channel = Channel.VOICE) -> ContactEvent:
    return ContactEvent(event_id, ContactEventType.QUEUED, ts_ms, CONTACT_ID, queue=queue, channel=channel)


def outcome_event(event_id: str, event_type: ContactEventType, ts_ms: int) -> ContactEvent:
    """An answered, abandoned or flowed-out event with the fields the codec would require."""
    return ContactEvent(
        event_id,
        event_type,
        ts_ms,
        CONTACT_ID,
        agent_id="agent-07" if event_type is ContactEventType.ANSWERED else None,
        reason=FlowOutReason.TIMEOUT if event_type is ContactEventType.FLOWED_OUT else None,
    )


def hold_started(event_id: str, ts_ms: int) -> ContactEvent:
    return ContactEvent(event_id, ContactEventType.HOLD_STARTED, ts_ms, CONTACT_ID, agent_id="agent-07")


def fold(
    events: Iterable[ContactEvent],
    state: ContactQueueState | None = None,
    ledger: FactsLedger[QueueOutcomeFact] | None = None,
) -> tuple[ContactQueueState, list[QueueOutcomeFact]]:
    """Apply events in the given arrival order; return the final state and the live facts (by queued time)."""
    state = ContactQueueState() if state is None else state
    ledger = FactsLedger() if ledger is None else ledger
    for event in events:
        state, changes = apply_contact_event(state, event)
        ledger.apply(changes)
    return state, sorted(ledger.facts, key=lambda f: f.queued_ts_ms)


def fact(
    queue: str, outcome: QueueOutcome, queued_ts_ms: int, outcome_ts_ms: int, channel: Channel = Channel.VOICE
) -> QueueOutcomeFact:
    return QueueOutcomeFact(CONTACT_ID, queue, channel, outcome, queued_ts_ms, outcome_ts_ms)


# --- hand-worked cases ------------------------------------------------------


def test_queued_then_answered_yields_one_fact_whose_wait_is_the_difference() -> None:
    # Queued at T0, answered 18.5 s later: wait = 18_500 ms.
    state, first = apply_contact_event(ContactQueueState(), queued("e1", T0_MS))
    assert first == NO_CHANGES
    _, changes = apply_contact_event(state, outcome_event("e2", ContactEventType.ANSWERED, T0_MS + 18_500))

    assert changes.published == (fact("sales", QueueOutcome.ANSWERED, T0_MS, T0_MS + 18_500),)
    assert changes.retracted == ()
    assert changes.published[0].wait_ms == 18_500


def test_queued_then_abandoned_yields_an_abandoned_fact() -> None:
    # Abandoned after 4 s: wait = 4_000 ms (a short abandon under the default 5 s, counted by later stages).
    _, facts = fold([queued("e1", T0_MS), outcome_event("e2", ContactEventType.ABANDONED, T0_MS + 4_000)])

    assert facts == [fact("sales", QueueOutcome.ABANDONED, T0_MS, T0_MS + 4_000)]
    assert facts[0].wait_ms == 4_000


def test_queued_then_flowed_out_yields_a_flowed_out_fact() -> None:
    # Flowed out to voicemail at the 300 s queue timeout: wait = 300_000 ms.
    _, facts = fold([queued("e1", T0_MS), outcome_event("e2", ContactEventType.FLOWED_OUT, T0_MS + 300_000)])

    assert facts == [fact("sales", QueueOutcome.FLOWED_OUT, T0_MS, T0_MS + 300_000)]
    assert facts[0].wait_ms == 300_000


def test_outcome_arriving_before_its_queued_waits_and_yields_the_fact_when_queued_arrives() -> None:
    state, early = apply_contact_event(
        ContactQueueState(), outcome_event("e2", ContactEventType.ANSWERED, T0_MS + 7_000)
    )
    assert early == NO_CHANGES
    assert len(unattributed_outcomes(state)) == 1

    state, changes = apply_contact_event(state, queued("e1", T0_MS))

    # Same fact as in time order: wait = 7_000 ms.
    assert changes.published == (fact("sales", QueueOutcome.ANSWERED, T0_MS, T0_MS + 7_000),)
    assert unattributed_outcomes(state) == ()


def test_second_outcome_for_a_finished_stint_yields_nothing() -> None:
    state, facts = fold([queued("e1", T0_MS), outcome_event("e2", ContactEventType.ANSWERED, T0_MS + 10_000)])
    assert len(facts) == 1

    state, late = apply_contact_event(state, outcome_event("e3", ContactEventType.ABANDONED, T0_MS + 12_000))

    assert late == NO_CHANGES
    assert list(stint_facts(CONTACT_ID, state).values()) == [
        fact("sales", QueueOutcome.ANSWERED, T0_MS, T0_MS + 10_000)
    ]


@pytest.mark.parametrize("replayed_index", [0, 1], ids=["queued", "answered"])
def test_duplicate_event_id_changes_nothing_even_after_the_stint_finished(replayed_index: int) -> None:
    events = [queued("e1", T0_MS), outcome_event("e2", ContactEventType.ANSWERED, T0_MS + 10_000)]
    finished, facts = fold(events)
    assert len(facts) == 1

    after_replay, replay_facts = apply_contact_event(finished, events[replayed_index])

    assert replay_facts == NO_CHANGES
    assert after_replay == finished


def test_duplicate_queued_before_the_outcome_changes_nothing() -> None:
    state, _ = fold([queued("e1", T0_MS)])

    after_replay, changes = apply_contact_event(state, queued("e1", T0_MS))

    assert changes == NO_CHANGES
    assert after_replay == state


# A transfer: queued in sales at T0, answered at T0+10 s (wait 10_000 ms); the
# agent transfers; queued in billing at T0+200 s, abandoned at T0+230 s
# (wait 30_000 ms). Each outcome belongs to the latest stint queued at or before it.
TRANSFER_EVENTS = {
    "queued_sales": queued("t1", T0_MS, queue="sales"),
    "answered": outcome_event("t2", ContactEventType.ANSWERED, T0_MS + 10_000),
    "queued_billing": queued("t3", T0_MS + 200_000, queue="billing"),
    "abandoned": outcome_event("t4", ContactEventType.ABANDONED, T0_MS + 230_000),
}
TRANSFER_FACTS = Counter(
    [
        fact("sales", QueueOutcome.ANSWERED, T0_MS, T0_MS + 10_000),
        fact("billing", QueueOutcome.ABANDONED, T0_MS + 200_000, T0_MS + 230_000),
    ]
)


@pytest.mark.parametrize(
    "arrival_order",
    [
        pytest.param(("queued_sales", "answered", "queued_billing", "abandoned"), id="time-order"),
        pytest.param(("abandoned", "queued_billing", "answered", "queued_sales"), id="reverse-time-order"),
        pytest.param(("queued_billing", "abandoned", "queued_sales", "answered"), id="later-stint-first"),
        pytest.param(
            ("queued_sales", "abandoned", "answered", "queued_billing"),
            id="later-outcome-before-later-queued",
        ),
        pytest.param(
            ("answered", "abandoned", "queued_sales", "queued_billing"),
            id="outcomes-first-then-stints-in-time-order",
        ),
    ],
)
def test_transfer_attributes_each_outcome_to_the_latest_stint_queued_at_or_before_it(
    arrival_order: tuple[str, ...],
) -> None:
    state, facts = fold(TRANSFER_EVENTS[name] for name in arrival_order)

    assert Counter(facts) == TRANSFER_FACTS
    assert [s.queue for s in state.starts] == ["sales", "billing"]
    assert unattributed_outcomes(state) == ()


def test_out_of_order_transfer_retracts_the_early_guess_and_publishes_the_truth() -> None:
    # Arrival: queued sales (T0), abandoned (T0+230 s), answered (T0+10 s), queued billing (T0+200 s).
    state, changes = apply_contact_event(ContactQueueState(), TRANSFER_EVENTS["queued_sales"])
    assert changes == NO_CHANGES
    # Only the sales stint is known: the abandon looks like its end, wait 230_000 ms.
    early_guess = fact("sales", QueueOutcome.ABANDONED, T0_MS, T0_MS + 230_000)
    state, changes = apply_contact_event(state, TRANSFER_EVENTS["abandoned"])
    assert changes == FactChanges(published=(early_guess,))
    # The answer at T0+10 s is the sales stint's earliest outcome: swap, wait 10_000 ms.
    answered = fact("sales", QueueOutcome.ANSWERED, T0_MS, T0_MS + 10_000)
    state, changes = apply_contact_event(state, TRANSFER_EVENTS["answered"])
    assert changes == FactChanges(published=(answered,), retracted=(early_guess,))
    # The billing stint claims the abandon: wait 230_000 - 200_000 = 30_000 ms.
    state, changes = apply_contact_event(state, TRANSFER_EVENTS["queued_billing"])
    assert changes == FactChanges(
        published=(fact("billing", QueueOutcome.ABANDONED, T0_MS + 200_000, T0_MS + 230_000),)
    )
    assert Counter(stint_facts(CONTACT_ID, state).values()) == TRANSFER_FACTS


def test_fact_id_is_contact_and_queued_time_and_independent_of_arrival_order() -> None:
    _, in_order = fold(TRANSFER_EVENTS.values())
    _, reversed_order = fold(reversed(TRANSFER_EVENTS.values()))

    # T0 = 1_709_294_400_000; the billing stint was queued 200_000 ms later.
    assert sorted(f.fact_id for f in in_order) == ["c-1:1709294400000", "c-1:1709294600000"]
    assert sorted(f.fact_id for f in reversed_order) == sorted(f.fact_id for f in in_order)


def test_dedupe_memory_is_bounded_and_a_forgotten_replay_still_yields_no_fact() -> None:
    finished_stint = [queued("e-queued", T0_MS), outcome_event("e-answered", ContactEventType.ANSWERED, T0_MS + 5_000)]
    state, facts = fold(finished_stint)
    assert len(facts) == 1
    # 300 hold events push the first ids out of the memory (256 remembered).
    holds = [hold_started(f"hold-{n}", T0_MS + 6_000 + n) for n in range(300)]
    state, hold_facts = fold(holds, state)

    assert hold_facts == []
    assert len(state.seen_event_ids) == MAX_REMEMBERED_EVENT_IDS
    assert state.seen_event_ids[-1] == "hold-299"
    assert "e-queued" not in state.seen_event_ids
    # Forgotten ids are applied again, but stints and outcomes are sets: the
    # same queued time adds no stint, the same outcome id adds nothing.
    replayed_state, replay_facts = fold(finished_stint, state)
    assert replayed_state.starts == state.starts
    assert replayed_state.outcomes == state.outcomes
    assert replay_facts == []  # a fresh ledger: the replay published nothing new
    assert len(state.starts) == 1


def test_queued_without_queue_or_channel_is_a_programming_error() -> None:
    handmade = ContactEvent("e1", ContactEventType.QUEUED, T0_MS, CONTACT_ID, queue=None, channel=Channel.CHAT)

    with pytest.raises(ValueError, match="needs queue and channel"):
        apply_contact_event(ContactQueueState(), handmade)


# --- properties -------------------------------------------------------------


@dataclass(frozen=True)
class ContactStory:
    """One contact's events in event-time order and the facts they must yield."""

    events: tuple[ContactEvent, ...]
    expected_facts: tuple[QueueOutcomeFact, ...]


@st.composite
def contact_stories(draw: st.DrawFn) -> ContactStory:
    """1-2 stints; each outcome lies at or after its own queued time and strictly before the next queued time."""
    events: list[ContactEvent] = []
    expected: list[QueueOutcomeFact] = []
    queued_ts_ms = T0_MS + draw(st.integers(0, 86_400_000))
    for stint_no in range(1, draw(st.integers(1, 2)) + 1):
        queue = draw(st.sampled_from(QUEUES))
        channel = draw(st.sampled_from(Channel))
        event_type = draw(st.sampled_from(sorted(OUTCOME_OF_EVENT)))
        outcome_ts_ms = queued_ts_ms + draw(st.integers(0, 600_000))
        events.append(queued(f"q{stint_no}", queued_ts_ms, queue, channel))
        events.append(outcome_event(f"o{stint_no}", event_type, outcome_ts_ms))
        expected.append(
            QueueOutcomeFact(CONTACT_ID, queue, channel, OUTCOME_OF_EVENT[event_type], queued_ts_ms, outcome_ts_ms)
        )
        queued_ts_ms = outcome_ts_ms + draw(st.integers(1, 600_000))
    return ContactStory(tuple(events), tuple(expected))


@st.composite
def stories_in_any_arrival_order(draw: st.DrawFn) -> tuple[ContactStory, list[ContactEvent]]:
    story = draw(contact_stories())
    return story, draw(st.permutations(story.events))


@st.composite
def stories_with_each_outcome_after_its_own_queued(draw: st.DrawFn) -> tuple[ContactStory, list[ContactEvent]]:
    """Any interleaving in which an outcome never arrives before its own stint's contact.queued."""
    story = draw(contact_stories())
    arrival_rank: dict[str, int] = {}
    for queued_event, outcome in zip(story.events[::2], story.events[1::2], strict=True):
        arrival_rank[queued_event.event_id] = draw(st.integers(0, 100))
        arrival_rank[outcome.event_id] = arrival_rank[queued_event.event_id] + draw(st.integers(1, 100))
    shuffled = draw(st.permutations(story.events))  # breaks ties between equal ranks at random
    return story, sorted(shuffled, key=lambda event: arrival_rank[event.event_id])


def transfer_story() -> ContactStory:
    return ContactStory(tuple(TRANSFER_EVENTS.values()), tuple(TRANSFER_FACTS))


@property_settings
@given(contact_stories())
def test_time_order_yields_exactly_the_expected_fact_per_stint(story: ContactStory) -> None:
    state, facts = fold(story.events)

    assert Counter(facts) == Counter(story.expected_facts)
    assert unattributed_outcomes(state) == ()


@property_settings
@given(stories_in_any_arrival_order())
@example(
    (
        transfer_story(),
        [TRANSFER_EVENTS[name] for name in ("queued_sales", "abandoned", "answered", "queued_billing")],
    )
)
def test_any_arrival_order_yields_the_same_facts(story_and_arrival: tuple[ContactStory, list[ContactEvent]]) -> None:
    story, arrival = story_and_arrival

    _, facts = fold(arrival)

    assert Counter(facts) == Counter(story.expected_facts)


@property_settings
@given(stories_with_each_outcome_after_its_own_queued())
def test_arrival_orders_with_each_outcome_after_its_own_queued_yield_the_same_facts(
    story_and_arrival: tuple[ContactStory, list[ContactEvent]],
) -> None:
    story, arrival = story_and_arrival

    _, facts = fold(arrival)

    assert Counter(facts) == Counter(story.expected_facts)


@property_settings
@given(stories_in_any_arrival_order(), st.data())
def test_duplicates_inserted_anywhere_change_neither_facts_nor_state(
    story_and_arrival: tuple[ContactStory, list[ContactEvent]], data: st.DataObject
) -> None:
    _, arrival = story_and_arrival
    with_duplicates = insert_duplicates(arrival, data)
    # The first delivery of an id is the original; every later one is the duplicate.
    without_duplicates = first_deliveries(with_duplicates)

    state_with, facts_with = fold(with_duplicates)
    state_without, facts_without = fold(without_duplicates)

    assert Counter(facts_with) == Counter(facts_without)
    assert state_with == state_without


@property_settings
@given(stories_in_any_arrival_order(), st.data())
def test_restart_from_serialized_state_yields_the_same_facts(
    story_and_arrival: tuple[ContactStory, list[ContactEvent]], data: st.DataObject
) -> None:
    _, arrival = story_and_arrival
    cut = data.draw(st.integers(0, len(arrival)), label="events folded before the restart")
    # At-least-once: events after the last commit are delivered again after the restart.
    redelivered = data.draw(st.integers(0, cut), label="redelivered events")
    uninterrupted_state, uninterrupted_facts = fold(arrival)

    # The ledger is the downstream consumer: it keeps what it received before the restart.
    ledger: FactsLedger[QueueOutcomeFact] = FactsLedger()
    state_before, _ = fold(arrival[:cut], ledger=ledger)
    stored = json.dumps(state_to_dict(state_before))
    restored = state_from_dict(json.loads(stored))
    assert restored == state_before
    state_after, facts_after = fold(arrival[cut - redelivered :], restored, ledger)

    assert Counter(facts_after) == Counter(uninterrupted_facts)
    assert state_after == uninterrupted_state
