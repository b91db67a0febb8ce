"""A contact's whole life: arrivals, queue outcomes and handling segments (SPEC sections 3 and 5).

Times are epoch ms from T0 = 2024-03-01T12:00:00Z (1_709_294_400_000); every
duration below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.domain.changes import FactChanges
from ccpulse.domain.contacts import (
    NO_CHANGES,
    ContactFact,
    ContactRules,
    ContactState,
    advance_time,
    apply_event,
    next_deadline_ms,
)
from ccpulse.domain.events import Channel, ContactEvent, ContactEventType
from ccpulse.domain.facts import HandlingFact, QueueArrivalFact, QueueOutcome, QueueOutcomeFact

T0 = 1_709_294_400_000
F = TypeVar("F")
S = 1000  # one second in ms
ACW_TIMEOUT_MS = 600 * S
RULES = ContactRules(acw_timeout_ms=lambda queue: ACW_TIMEOUT_MS)
FAR_FUTURE = T0 + 86_400 * S  # every timeout has passed
CID = "c-1"
E = ContactEventType


def ev(event_id: str, kind: ContactEventType, at_s: float, **fields: object) -> ContactEvent:
    return ContactEvent(event_id, kind, T0 + int(at_s * S), CID, **fields)  # type: ignore[arg-type]


@dataclass
class Ledger:
    """A facts-topic consumer: applies retractions then publications, checking the protocol."""

    live: dict[tuple[str, str], ContactFact] = field(default_factory=dict)

    def apply(self, changes: FactChanges[ContactFact]) -> None:
        for fact in changes.retracted:
            key = (type(fact).__name__, fact.fact_id)
            assert self.live.pop(key) == fact, "retracted a fact that was not live"
        for fact in changes.published:
            key = (type(fact).__name__, fact.fact_id)
            assert key not in self.live, "two live facts for one piece of work"
            self.live[key] = fact

    def of_type(self, kind: type[F]) -> list[F]:
        return sorted((f for f in self.live.values() if isinstance(f, kind)), key=repr)


def fold(events: Iterable[ContactEvent], now_ms: int = FAR_FUTURE) -> tuple[ContactState, Ledger]:
    state, ledger = ContactState(), Ledger()
    for event in events:
        state, changes = apply_event(state, event, RULES, now_ms)
        ledger.apply(changes)
    return state, ledger


# A plain call: queued 0 s, answered 10 s by a1, hold 60-90 s, ended 200 s, wrap-up 230 s.
PLAIN_CALL = [
    ev("q", E.QUEUED, 0, queue="sales", channel=Channel.VOICE),
    ev("a", E.ANSWERED, 10, agent_id="a1"),
    ev("h1", E.HOLD_STARTED, 60, agent_id="a1"),
    ev("h2", E.HOLD_ENDED, 90, agent_id="a1"),
    ev("e", E.ENDED, 200, agent_id="a1", resolved=True),
    ev("w", E.WRAPUP_ENDED, 230, agent_id="a1", disposition="sale"),
]


def test_plain_call_yields_arrival_outcome_and_handling_with_hand_worked_durations() -> None:
    _, ledger = fold(PLAIN_CALL)

    assert ledger.of_type(QueueArrivalFact) == [QueueArrivalFact(CID, "sales", Channel.VOICE, T0)]
    (outcome,) = ledger.of_type(QueueOutcomeFact)
    assert (outcome.outcome, outcome.wait_ms) == (QueueOutcome.ANSWERED, 10 * S)
    (handling,) = ledger.of_type(HandlingFact)
    # talk = ended - answered - hold = 200 - 10 - 30 = 160 s; acw = 230 - 200 = 30 s; handle = 220 s.
    assert (handling.talk_ms, handling.hold_ms, handling.acw_ms) == (160 * S, 30 * S, 30 * S)
    assert handling.handle_ms == 220 * S
    assert (handling.hold_count, handling.acw_timed_out, handling.transferred) == (1, False, False)
    assert (handling.resolved, handling.disposition, handling.agent_id) == (True, "sale", "a1")
    assert handling.completed_ts_ms == T0 + 230 * S


def test_several_holds_add_up_and_a_hold_open_at_the_end_closes_there() -> None:
    events = [
        ev("q", E.QUEUED, 0, queue="sales", channel=Channel.VOICE),
        ev("a", E.ANSWERED, 10, agent_id="a1"),
        ev("h1", E.HOLD_STARTED, 30, agent_id="a1"),
        ev("h2", E.HOLD_ENDED, 40, agent_id="a1"),  # 10 s
        ev("h3", E.HOLD_STARTED, 50, agent_id="a1"),
        ev("h4", E.HOLD_ENDED, 70, agent_id="a1"),  # 20 s
        ev("h5", E.HOLD_STARTED, 150, agent_id="a1"),  # still on hold at the end, 200 - 150 = 50 s
        ev("e", E.ENDED, 200, agent_id="a1"),
        ev("w", E.WRAPUP_ENDED, 205, agent_id="a1"),
    ]
    (handling,) = fold(events)[1].of_type(HandlingFact)

    # hold = 10 + 20 + 50 = 80 s in 3 holds; talk = 200 - 10 - 80 = 110 s.
    assert (handling.hold_ms, handling.hold_count, handling.talk_ms) == (80 * S, 3, 110 * S)


def test_acw_timeout_completes_the_segment_at_ended_plus_timeout() -> None:
    events = PLAIN_CALL[:5]  # no wrap-up
    ended_ms = T0 + 200 * S
    state, ledger = fold(events, now_ms=ended_ms)
    assert ledger.of_type(HandlingFact) == []
    assert next_deadline_ms(state, RULES, ended_ms) == ended_ms + ACW_TIMEOUT_MS
    assert next_deadline_ms(state, RULES, ended_ms + ACW_TIMEOUT_MS) is None  # already due by then

    assert advance_time(CID, state, RULES, ended_ms, ended_ms + ACW_TIMEOUT_MS - 1) == NO_CHANGES
    ledger.apply(advance_time(CID, state, RULES, ended_ms, ended_ms + ACW_TIMEOUT_MS))

    (handling,) = ledger.of_type(HandlingFact)
    # acw = the timeout, 600 s; completed at 200 s + 600 s.
    assert (handling.acw_ms, handling.acw_timed_out) == (600 * S, True)
    assert handling.completed_ts_ms == ended_ms + ACW_TIMEOUT_MS


def test_a_wrapup_stamped_after_the_timeout_changes_nothing() -> None:
    state, ledger = fold(PLAIN_CALL[:5])  # the timeout has fired at FAR_FUTURE
    timed_out = ledger.of_type(HandlingFact)

    _, changes = apply_event(state, ev("w", E.WRAPUP_ENDED, 200 + 700, agent_id="a1"), RULES, FAR_FUTURE)

    assert changes == NO_CHANGES
    assert timed_out[0].acw_timed_out


def test_a_wrapup_stamped_before_the_timeout_but_delivered_late_replaces_the_timeout_fact() -> None:
    state, ledger = fold(PLAIN_CALL[:5])
    (timed_out,) = ledger.of_type(HandlingFact)

    _, changes = apply_event(state, ev("w", E.WRAPUP_ENDED, 200 + 100, agent_id="a1"), RULES, FAR_FUTURE)
    ledger.apply(changes)

    assert changes.retracted == (timed_out,)
    (handling,) = ledger.of_type(HandlingFact)
    assert (handling.acw_ms, handling.acw_timed_out) == (100 * S, False)


# A transfer: sales answered by a1 at 5 s, transferred at 100 s (wrap-up 120 s);
# billing queued at 101 s, answered by a2 at 130 s, ended 400 s, wrap-up 420 s.
TRANSFER = [
    ev("q1", E.QUEUED, 0, queue="sales", channel=Channel.VOICE),
    ev("a1", E.ANSWERED, 5, agent_id="a1"),
    ev("t1", E.TRANSFERRED, 100, agent_id="a1", to_queue="billing"),
    ev("w1", E.WRAPUP_ENDED, 120, agent_id="a1", queue="sales"),
    ev("q2", E.QUEUED, 101, queue="billing", channel=Channel.VOICE),
    ev("a2", E.ANSWERED, 130, agent_id="a2"),
    ev("e2", E.ENDED, 400, agent_id="a2"),
    ev("w2", E.WRAPUP_ENDED, 420, agent_id="a2"),
]


def test_transfer_yields_one_segment_per_agent_in_the_queue_each_answer_came_from() -> None:
    _, ledger = fold(TRANSFER)

    segments = {h.agent_id: h for h in ledger.of_type(HandlingFact)}
    # a1: talk 100 - 5 = 95 s, acw 120 - 100 = 20 s, transferred; a2: talk 400 - 130 = 270 s, acw 20 s.
    assert (segments["a1"].queue, segments["a1"].talk_ms, segments["a1"].acw_ms) == ("sales", 95 * S, 20 * S)
    assert segments["a1"].transferred
    assert (segments["a2"].queue, segments["a2"].talk_ms, segments["a2"].acw_ms) == ("billing", 270 * S, 20 * S)
    assert not segments["a2"].transferred
    waits = sorted((o.queue, o.wait_ms) for o in ledger.of_type(QueueOutcomeFact))
    assert waits == [("billing", 29 * S), ("sales", 5 * S)]  # 130 - 101 and 5 - 0
    assert len(ledger.of_type(QueueArrivalFact)) == 2


def test_wrapup_of_an_agent_with_two_segments_awaiting_goes_to_the_one_in_its_queue() -> None:
    # a1 answers in sales (10 s), transfers at 50 s to billing, answers again there
    # (80 s), ends at 200 s; both segments await wrap-up; the wrap-up names sales.
    events = [
        ev("q1", E.QUEUED, 0, queue="sales", channel=Channel.CHAT),
        ev("a1", E.ANSWERED, 10, agent_id="a1"),
        ev("t1", E.TRANSFERRED, 50, agent_id="a1"),
        ev("q2", E.QUEUED, 60, queue="billing", channel=Channel.CHAT),
        ev("a2", E.ANSWERED, 80, agent_id="a1"),
        ev("e2", E.ENDED, 200, agent_id="a1"),
        ev("w", E.WRAPUP_ENDED, 210, agent_id="a1", queue="sales"),
    ]
    segments = {h.queue: h for h in fold(events)[1].of_type(HandlingFact)}

    # sales: acw = 210 - 50 = 160 s from the wrap-up; billing never wrapped up: timeout.
    assert (segments["sales"].acw_ms, segments["sales"].acw_timed_out) == (160 * S, False)
    assert segments["billing"].acw_timed_out


def test_without_a_queue_in_the_wrapup_the_most_recent_segment_takes_it() -> None:
    events = list(TRANSFER[:4])
    events[3] = ev("w1", E.WRAPUP_ENDED, 120, agent_id="a1")
    (handling,) = fold(events)[1].of_type(HandlingFact)

    assert handling.acw_ms == 20 * S


# --- properties -------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([PLAIN_CALL, TRANSFER]).flatmap(st.permutations))
def test_any_arrival_order_gives_the_same_live_facts(arrival: list[ContactEvent]) -> None:
    story = PLAIN_CALL if len(arrival) == len(PLAIN_CALL) else TRANSFER
    assert fold(arrival)[1].live == fold(story)[1].live


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([PLAIN_CALL, TRANSFER]), st.data())
def test_duplicates_anywhere_change_nothing(story: list[ContactEvent], data: st.DataObject) -> None:
    arrival = list(story)
    for _ in range(data.draw(st.integers(1, 6))):
        copy = data.draw(st.sampled_from(story))
        arrival.insert(data.draw(st.integers(0, len(arrival))), copy)

    seen: set[str] = set()
    firsts = [e for e in arrival if not (e.event_id in seen or seen.add(e.event_id))]
    state_with, ledger_with = fold(arrival)
    state_without, ledger_without = fold(firsts)

    assert ledger_with.live == ledger_without.live == fold(story)[1].live
    assert state_with == state_without
