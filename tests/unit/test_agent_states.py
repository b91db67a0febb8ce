"""One agent's state spans (SPEC sections 2, 3 "Occupancy" and "agents by state", and 5).

Hand-worked cases first, then properties: arrival order, duplicates and a
restart from serialized state must not change the facts. All times are epoch
milliseconds; T0_MS is 2024-03-01T12:00:00Z (worked out in test_queue_stints.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.records import agent_timeline_from_dict, agent_timeline_to_dict
from ccpulse.domain.agent_states import (
    MAX_REMEMBERED_EVENT_IDS,
    NO_CHANGES,
    AgentTimeline,
    OpenState,
    agent_state_facts,
    apply_agent_event,
    is_duplicate,
    is_too_late,
    open_state,
    prune_agent_timeline,
)
from ccpulse.domain.changes import FactChanges
from ccpulse.domain.events import AgentEvent, AgentState
from ccpulse.domain.facts import AgentStateFact
from tests.unit.lifecycle_support import FactsLedger, first_deliveries, insert_duplicates

T0_MS = 1_709_294_400_000
MINUTE_MS = 60_000
AGENT_ID = "a-17"
SUPPORT = ("support",)
BOTH = ("support", "billing")

property_settings = settings(max_examples=200, deadline=None)


def changed(
    event_id: str,
    ts_ms: int,
    state: AgentState,
    queues: tuple[str, ...] = SUPPORT,
    team: str | None = "tier-1",
) -> AgentEvent:
    return AgentEvent(event_id, ts_ms, AGENT_ID, state, queues=queues, team=team)


def fold(
    events: Iterable[AgentEvent],
    timeline: AgentTimeline | None = None,
    ledger: FactsLedger[AgentStateFact] | None = None,
) -> tuple[AgentTimeline, set[AgentStateFact]]:
    """Apply events in the given arrival order; return the final timeline and the live facts."""
    timeline = AgentTimeline() if timeline is None else timeline
    ledger = FactsLedger() if ledger is None else ledger
    for event in events:
        timeline, changes = apply_agent_event(timeline, event)
        ledger.apply(changes)
    return timeline, ledger.facts


def span(
    state: AgentState,
    start_ts_ms: int,
    end_ts_ms: int,
    queues: tuple[str, ...] = SUPPORT,
    team: str | None = "tier-1",
) -> AgentStateFact:
    return AgentStateFact(AGENT_ID, state, start_ts_ms, end_ts_ms, queues=queues, team=team)


# --- hand-worked cases ------------------------------------------------------

# A short shift: available at T0, a call from T0+90 s, after-call work from
# T0+300 s, available again from T0+330 s (still open).
SHIFT = [
    changed("s1", T0_MS, AgentState.AVAILABLE, BOTH),
    changed("s2", T0_MS + 90_000, AgentState.BUSY),
    changed("s3", T0_MS + 300_000, AgentState.ACW),
    changed("s4", T0_MS + 330_000, AgentState.AVAILABLE, BOTH),
]


def test_each_state_lasts_until_the_next_change_and_the_last_stays_open() -> None:
    timeline, facts = fold(SHIFT)

    assert facts == {
        span(AgentState.AVAILABLE, T0_MS, T0_MS + 90_000, BOTH),  # 90_000 ms available
        span(AgentState.BUSY, T0_MS + 90_000, T0_MS + 300_000),  # 300 - 90 = 210 s busy
        span(AgentState.ACW, T0_MS + 300_000, T0_MS + 330_000),  # 330 - 300 = 30 s ACW
    }
    assert sorted(f.duration_ms for f in facts) == [30_000, 90_000, 210_000]
    assert open_state(timeline) == OpenState(AgentState.AVAILABLE, T0_MS + 330_000, BOTH)


def test_occupancy_numbers_from_the_shift() -> None:
    # Occupancy = (busy + acw) / (available + busy + acw) = (210 + 30) / (90 + 210 + 30) s = 240 / 330.
    _, facts = fold(SHIFT)
    by_state = {f.state: f.duration_ms for f in facts}

    worked = by_state[AgentState.BUSY] + by_state[AgentState.ACW]
    staffed = worked + by_state[AgentState.AVAILABLE]
    assert (worked, staffed) == (240_000, 330_000)


def test_first_change_yields_no_fact_only_an_open_state() -> None:
    timeline, changes = apply_agent_event(AgentTimeline(), SHIFT[0])

    assert changes == NO_CHANGES
    assert open_state(timeline) == OpenState(AgentState.AVAILABLE, T0_MS, BOTH)
    assert open_state(AgentTimeline()) is None


def test_span_carries_the_queues_and_team_of_the_event_that_started_it() -> None:
    # The busy event names only `support` and team tier-2; the span before it keeps BOTH and tier-1.
    _, facts = fold(
        [
            changed("q1", T0_MS, AgentState.AVAILABLE, BOTH, team="tier-1"),
            changed("q2", T0_MS + MINUTE_MS, AgentState.BUSY, SUPPORT, team="tier-2"),
            changed("q3", T0_MS + 2 * MINUTE_MS, AgentState.AWAY, (), team=None),
        ]
    )

    assert facts == {
        span(AgentState.AVAILABLE, T0_MS, T0_MS + MINUTE_MS, BOTH, team="tier-1"),
        span(AgentState.BUSY, T0_MS + MINUTE_MS, T0_MS + 2 * MINUTE_MS, SUPPORT, team="tier-2"),
    }


def test_logged_out_time_is_a_span_too() -> None:
    # Logged out at T0 for 14 hours (50_400_000 ms), then available.
    _, facts = fold(
        [
            changed("l1", T0_MS, AgentState.LOGGED_OUT, ()),
            changed("l2", T0_MS + 14 * 3_600_000, AgentState.AVAILABLE),
        ]
    )

    assert facts == {span(AgentState.LOGGED_OUT, T0_MS, T0_MS + 50_400_000, ())}


def test_late_change_splits_a_published_span_with_a_retraction() -> None:
    # Available at T0, busy at T0+30 min: available [T0, T0+30 min) is published.
    timeline, _ = apply_agent_event(AgentTimeline(), changed("v1", T0_MS, AgentState.AVAILABLE))
    timeline, changes = apply_agent_event(timeline, changed("v2", T0_MS + 30 * MINUTE_MS, AgentState.BUSY))
    whole = span(AgentState.AVAILABLE, T0_MS, T0_MS + 30 * MINUTE_MS)
    assert changes == FactChanges(published=(whole,))

    # Away at T0+10 min arrives last: 10 min available, then 20 min away.
    timeline, changes = apply_agent_event(timeline, changed("v3", T0_MS + 10 * MINUTE_MS, AgentState.AWAY))

    assert changes.retracted == (whole,)
    assert set(changes.published) == {
        span(AgentState.AVAILABLE, T0_MS, T0_MS + 10 * MINUTE_MS),  # 600_000 ms
        span(AgentState.AWAY, T0_MS + 10 * MINUTE_MS, T0_MS + 30 * MINUTE_MS),  # 1_200_000 ms
    }
    assert open_state(timeline) == OpenState(AgentState.BUSY, T0_MS + 30 * MINUTE_MS, SUPPORT)


def test_late_change_after_the_latest_only_closes_the_open_state() -> None:
    timeline, _ = fold(SHIFT[:2])

    _, changes = apply_agent_event(timeline, SHIFT[2])

    assert changes == FactChanges(published=(span(AgentState.BUSY, T0_MS + 90_000, T0_MS + 300_000),))


@pytest.mark.parametrize("arrival", [("tie-a", "tie-b"), ("tie-b", "tie-a")], ids=["a-first", "b-first"])
def test_changes_at_one_instant_the_largest_event_id_wins(arrival: tuple[str, str]) -> None:
    # Two changes at T0+60 s: "tie-b" (busy) > "tie-a" (away), so busy holds from T0+60 s;
    # the away lasted 0 ms and yields no fact.
    events = {
        "start": changed("tie-0", T0_MS, AgentState.AVAILABLE),
        "tie-a": changed("tie-a", T0_MS + 60_000, AgentState.AWAY),
        "tie-b": changed("tie-b", T0_MS + 60_000, AgentState.BUSY),
        "end": changed("tie-z", T0_MS + 100_000, AgentState.ACW),
    }

    _, facts = fold([events["start"], events[arrival[0]], events[arrival[1]], events["end"]])

    assert facts == {
        span(AgentState.AVAILABLE, T0_MS, T0_MS + 60_000),
        span(AgentState.BUSY, T0_MS + 60_000, T0_MS + 100_000),  # 40_000 ms busy
    }


def test_losing_change_at_an_instant_changes_nothing() -> None:
    timeline, _ = fold([changed("b", T0_MS, AgentState.AVAILABLE), changed("c", T0_MS + 5_000, AgentState.BUSY)])

    _, changes = apply_agent_event(timeline, changed("a", T0_MS + 5_000, AgentState.AWAY))  # "a" < "c"

    assert changes == NO_CHANGES


def test_repeated_state_keeps_the_since_of_the_first_but_splits_the_spans() -> None:
    # Available at T0, available again at T0+60 s with both queues (a queue assignment).
    timeline, facts = fold(
        [changed("r1", T0_MS, AgentState.AVAILABLE), changed("r2", T0_MS + 60_000, AgentState.AVAILABLE, BOTH)]
    )

    assert facts == {span(AgentState.AVAILABLE, T0_MS, T0_MS + 60_000)}
    assert open_state(timeline) == OpenState(AgentState.AVAILABLE, T0_MS, BOTH)


@pytest.mark.parametrize("replayed", range(len(SHIFT)))
def test_duplicate_event_id_changes_nothing(replayed: int) -> None:
    timeline, _ = fold(SHIFT)
    assert is_duplicate(timeline, SHIFT[replayed])

    after, changes = apply_agent_event(timeline, SHIFT[replayed])

    assert changes == NO_CHANGES
    assert after == timeline


def test_dedupe_memory_is_bounded_and_a_forgotten_replay_still_changes_nothing() -> None:
    # 300 alternating changes one second apart; only the last 256 ids are remembered.
    events = [
        changed(f"m{n:03d}", T0_MS + n * 1_000, AgentState.BUSY if n % 2 else AgentState.AVAILABLE) for n in range(300)
    ]
    timeline, facts = fold(events)
    assert len(facts) == 299
    assert len(timeline.seen_event_ids) == MAX_REMEMBERED_EVENT_IDS
    assert not is_duplicate(timeline, events[0])

    replayed, changes = apply_agent_event(timeline, events[0])

    assert changes == NO_CHANGES
    assert replayed.changes == timeline.changes


def test_pruning_forgets_final_spans_and_makes_older_events_too_late() -> None:
    timeline, facts = fold(SHIFT)
    # Stream time minus the lateness allowance is T0+310 s: the ACW change (T0+300 s) is in force then.
    pruned = prune_agent_timeline(timeline, T0_MS + 310_000)

    assert pruned.floor_ts_ms == T0_MS + 300_000
    assert [c.event_id for c in pruned.changes] == ["s3", "s4"]
    assert set(agent_state_facts(AGENT_ID, pruned).values()) == {span(AgentState.ACW, T0_MS + 300_000, T0_MS + 330_000)}
    assert open_state(pruned) == open_state(timeline)

    too_late = changed("late", T0_MS + 200_000, AgentState.AWAY)
    assert is_too_late(pruned, too_late)
    after, changes = apply_agent_event(pruned, too_late)
    assert changes == NO_CHANGES
    assert after.changes == pruned.changes

    # A change inside the kept history still splits a span: ACW 300..320 s, away 320..330 s.
    _, changes = apply_agent_event(pruned, changed("kept", T0_MS + 320_000, AgentState.AWAY))
    assert changes.retracted == (span(AgentState.ACW, T0_MS + 300_000, T0_MS + 330_000),)
    assert set(changes.published) == {
        span(AgentState.ACW, T0_MS + 300_000, T0_MS + 320_000),
        span(AgentState.AWAY, T0_MS + 320_000, T0_MS + 330_000),
    }
    assert len(facts) == 3


def test_pruning_before_the_first_change_or_twice_keeps_the_timeline() -> None:
    timeline, _ = fold(SHIFT)

    assert prune_agent_timeline(timeline, T0_MS - 1) == timeline
    once = prune_agent_timeline(timeline, T0_MS + 100_000)
    assert prune_agent_timeline(once, T0_MS + 100_000) == once


# --- properties -------------------------------------------------------------


@st.composite
def agent_days(draw: st.DrawFn) -> list[AgentEvent]:
    """1-8 changes with distinct ids; times from a small range so that ties happen."""
    count = draw(st.integers(1, 8))
    event_ids = draw(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=count, max_size=count, unique=True))
    return [
        changed(
            event_id,
            T0_MS + draw(st.integers(0, 10)) * 1_000,
            draw(st.sampled_from(AgentState)),
            draw(st.sampled_from([(), SUPPORT, BOTH])),
            draw(st.sampled_from([None, "tier-1"])),
        )
        for event_id in event_ids
    ]


def expected_spans(events: Sequence[AgentEvent]) -> set[AgentStateFact]:
    """The SPEC's rule, stated directly: per instant the largest event id; each lasts until the next instant."""
    winner_at: dict[int, AgentEvent] = {}
    for event in events:
        if event.ts_ms not in winner_at or event.event_id > winner_at[event.ts_ms].event_id:
            winner_at[event.ts_ms] = event
    instants = sorted(winner_at)
    return {
        span(winner_at[start].state, start, end, winner_at[start].queues, winner_at[start].team)
        for start, end in pairwise(instants)
    }


@st.composite
def days_in_any_arrival_order(draw: st.DrawFn) -> tuple[list[AgentEvent], list[AgentEvent]]:
    events = draw(agent_days())
    return events, draw(st.permutations(events))


@property_settings
@given(days_in_any_arrival_order())
def test_any_arrival_order_yields_the_expected_spans(day: tuple[list[AgentEvent], list[AgentEvent]]) -> None:
    events, arrival = day

    timeline, facts = fold(arrival)

    assert facts == expected_spans(events)
    assert facts == set(agent_state_facts(AGENT_ID, timeline).values())
    in_order_timeline, _ = fold(sorted(events, key=lambda e: (e.ts_ms, e.event_id)))
    assert timeline.changes == in_order_timeline.changes
    assert open_state(timeline) == open_state(in_order_timeline)


@property_settings
@given(days_in_any_arrival_order(), st.data())
def test_duplicates_inserted_anywhere_change_neither_facts_nor_timeline(
    day: tuple[list[AgentEvent], list[AgentEvent]], data: st.DataObject
) -> None:
    _, arrival = day
    with_duplicates = insert_duplicates(arrival, data)

    timeline_with, facts_with = fold(with_duplicates)
    timeline_without, facts_without = fold(first_deliveries(with_duplicates))

    assert facts_with == facts_without
    assert timeline_with == timeline_without


@property_settings
@given(days_in_any_arrival_order(), st.data())
def test_restart_from_serialized_timeline_yields_the_same_facts(
    day: tuple[list[AgentEvent], list[AgentEvent]], data: st.DataObject
) -> None:
    _, arrival = day
    cut = data.draw(st.integers(0, len(arrival)), label="events folded before the restart")
    redelivered = data.draw(st.integers(0, cut), label="redelivered events")
    uninterrupted_timeline, uninterrupted_facts = fold(arrival)

    ledger: FactsLedger[AgentStateFact] = FactsLedger()
    before, _ = fold(arrival[:cut], ledger=ledger)
    restored = agent_timeline_from_dict(json.loads(json.dumps(agent_timeline_to_dict(before))))
    assert restored == before
    after, facts_after = fold(arrival[cut - redelivered :], restored, ledger)

    assert facts_after == uninterrupted_facts
    assert after == uninterrupted_timeline


@property_settings
@given(agent_days(), st.integers(-1_000, 12_000))
def test_pruning_keeps_every_span_from_the_floor_on_and_survives_a_restart(
    events: list[AgentEvent], horizon_offset_ms: int
) -> None:
    timeline, facts = fold(events)

    pruned = prune_agent_timeline(timeline, T0_MS + horizon_offset_ms)
    restored = agent_timeline_from_dict(json.loads(json.dumps(agent_timeline_to_dict(pruned))))

    floor = pruned.floor_ts_ms
    kept = set(agent_state_facts(AGENT_ID, restored).values())
    assert restored == pruned
    assert kept == {f for f in facts if floor is None or f.start_ts_ms >= floor}
    now, pruned_now = open_state(timeline), open_state(pruned)
    assert now is not None
    assert pruned_now is not None
    assert (pruned_now.state, pruned_now.queues) == (now.state, now.queues)
