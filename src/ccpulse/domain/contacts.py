"""One contact's whole life: queue stints, handling segments, and the facts they yield.

Combines :mod:`queue_stints` (arrivals and outcomes) and :mod:`handling`
(talk, hold, ACW). All facts are a pure function of the set of events seen
and of stream time (for ACW timeouts); every call returns what changed since
the previous state as facts to publish and facts to retract, so a consumer
that applies the changes in order holds exactly the facts of the event set,
whatever order the events came in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ccpulse.domain.changes import FactChanges, diff_facts
from ccpulse.domain.events import Channel, ContactEvent, ContactEventType
from ccpulse.domain.facts import HandlingFact, QueueArrivalFact, QueueOutcomeFact
from ccpulse.domain.handling import (
    HandlingReading,
    HandlingState,
    SegmentPlace,
    add_handling_event,
    facts_at,
    pending_timeout_ms,
    read_handling,
)
from ccpulse.domain.memo import LatestReadings
from ccpulse.domain.queue_stints import (
    ContactQueueState,
    add_stint_event,
    is_duplicate,
    latest_start_at,
    stint_facts,
)

ContactFact = QueueArrivalFact | QueueOutcomeFact | HandlingFact


ContactChanges = FactChanges[ContactFact]
NO_CHANGES: ContactChanges = FactChanges()


# Contacts whose latest handling reading is kept for their next event or timer (see memo).
CONTACTS_REMEMBERED = 8192


def _new_readings() -> LatestReadings[ContactState, HandlingReading]:
    return LatestReadings(CONTACTS_REMEMBERED)


@dataclass(frozen=True, slots=True)
class ContactRules:
    """What the contact lifecycle needs from configuration."""

    acw_timeout_ms: Callable[[str], int]
    # Handling readings derived under these rules, by contact id: a memo, not configuration.
    readings: LatestReadings[ContactState, HandlingReading] = field(
        default_factory=_new_readings, compare=False, repr=False
    )


# Shared empty parts: states are frozen, so every new contact can start from the same ones.
_NO_STINTS = ContactQueueState()
_NO_HANDLING = HandlingState()


@dataclass(frozen=True, slots=True)
class ContactState:
    stints: ContactQueueState = _NO_STINTS
    handling: HandlingState = _NO_HANDLING
    customer_key: str | None = None  # keyed hash, never the customer id

    @property
    def seen_event_ids(self) -> tuple[str, ...]:
        return self.stints.seen_event_ids


# One SegmentPlace per (queue, channel): places are frozen, and there are few of them.
_PLACES: dict[tuple[str, Channel], SegmentPlace] = {}


def contact_place_at(state: ContactState) -> Callable[[int], SegmentPlace | None]:
    """Where the contact waited before an answer at a given time: the stint it was in."""
    starts = state.stints.starts

    def place_at(ts_ms: int) -> SegmentPlace | None:
        start = latest_start_at(starts, ts_ms)
        if start is None:
            return None
        key = (start.queue, start.channel)
        place = _PLACES.get(key)
        if place is None:
            place = _PLACES[key] = SegmentPlace(start.queue, start.channel)
        return place

    return place_at


ALL_PARTS = frozenset({"arrival", "outcome", "handling"})
# Which facts an event of each type can change: a diff over only those parts
# gives the same changes for less work.
_PARTS_CHANGED_BY: dict[ContactEventType, frozenset[str]] = {
    ContactEventType.QUEUED: ALL_PARTS,
    ContactEventType.ANSWERED: frozenset({"outcome", "handling"}),
    ContactEventType.ABANDONED: frozenset({"outcome"}),
    ContactEventType.FLOWED_OUT: frozenset({"outcome"}),
}
_HANDLING_ONLY = frozenset({"handling"})
_OUTCOME_ONLY = frozenset({"outcome"})


def contact_facts(
    contact_id: str, state: ContactState, rules: ContactRules, now_ms: int, parts: frozenset[str] = ALL_PARTS
) -> dict[str, ContactFact]:
    """Every fact the state implies at stream time ``now_ms``, keyed by kind and fact id."""
    facts: dict[str, ContactFact] = {}
    if "arrival" in parts:
        for start in state.stints.starts:
            arrival = QueueArrivalFact(contact_id, start.queue, start.channel, start.queued_ts_ms, state.customer_key)
            facts[f"arrival:{arrival.fact_id}"] = arrival
    if "outcome" in parts:
        for fact_id, outcome in stint_facts(contact_id, state.stints).items():
            facts[f"outcome:{fact_id}"] = outcome
    if "handling" in parts and state.handling.answers:
        for fact_id, handling in facts_at(handling_reading(contact_id, state, rules), now_ms).items():
            facts[f"handling:{fact_id}"] = handling
    return facts


def handling_reading(contact_id: str, state: ContactState, rules: ContactRules) -> HandlingReading:
    """The contact's handling segments at any stream time (:func:`~ccpulse.domain.handling.read_handling`).

    Read once per state object: the event that made the state and the timers
    that follow it ask about the same one.
    """
    if not state.handling.answers:
        return ()
    reading = rules.readings.get(contact_id, state)
    if reading is None:
        reading = read_handling(
            contact_id, state.handling, contact_place_at(state), rules.acw_timeout_ms, customer_key=state.customer_key
        )
        rules.readings.put(contact_id, state, reading)
    return reading


def apply_event(
    state: ContactState,
    event: ContactEvent,
    rules: ContactRules,
    now_ms: int,
    customer_key: str | None = None,
) -> tuple[ContactState, ContactChanges]:
    """Fold one event in at stream time ``now_ms``; return the new state and what changed.

    ``customer_key`` is the keyed hash of the event's customer id, computed by
    the caller (who holds the key); the first one seen sticks.
    """
    if is_duplicate(state.stints, event):
        return state, NO_CHANGES
    new_state = record_event(state, event, customer_key)
    if new_state.customer_key != state.customer_key:
        # Every fact carries the key: the first event naming the customer changes them all.
        after = contact_facts(event.contact_id, new_state, rules, now_ms)
        # No stint, so no fact before (the usual first event): all of them are new.
        before = contact_facts(event.contact_id, state, rules, now_ms) if state.stints.starts else {}
        return new_state, diff_facts(before, after)
    if event.type is _QUEUED:
        queued_changes = _queued_changes(event.contact_id, state, new_state)
        if queued_changes is not None:
            return new_state, queued_changes
    parts = _PARTS_CHANGED_BY.get(event.type, _HANDLING_ONLY)
    if "handling" in parts and not handling_may_change(state, event, rules, now_ms):
        parts = parts - _HANDLING_ONLY
        if not parts:
            return new_state, NO_CHANGES
    if parts == _OUTCOME_ONLY and _outcome_appended(state, new_state):
        return new_state, _later_outcome(event.contact_id, state, new_state)
    before = contact_facts(event.contact_id, state, rules, now_ms, parts)
    after = contact_facts(event.contact_id, new_state, rules, now_ms, parts)
    return new_state, diff_facts(before, after)


def _queued_changes(contact_id: str, state: ContactState, new_state: ContactState) -> ContactChanges | None:
    """What a ``contact.queued`` changed, when that is plain without a diff; None otherwise.

    No new stint (another queued event at that instant won): nothing. A stint
    later than every stint, outcome and answer of the contact changes no
    outcome (each belongs to the stint it was in then) and no segment's place:
    its arrival is the only change.
    """
    starts, new_starts = state.stints.starts, new_state.stints.starts
    if new_starts == starts:
        return NO_CHANGES
    if len(new_starts) != len(starts) + 1 or (starts and new_starts[-2] is not starts[-1]):
        return None  # not appended after the others
    start = new_starts[-1]
    outcomes, answers = state.stints.outcomes, state.handling.answers
    if (outcomes and outcomes[-1].ts_ms >= start.queued_ts_ms) or (answers and answers[-1].ts_ms >= start.queued_ts_ms):
        return None
    arrival = QueueArrivalFact(contact_id, start.queue, start.channel, start.queued_ts_ms, new_state.customer_key)
    return FactChanges(published=(arrival,))


def _outcome_appended(state: ContactState, new_state: ContactState) -> bool:
    """Whether the event added an outcome later (in time, then event id) than every other."""
    outcomes, new_outcomes = state.stints.outcomes, new_state.stints.outcomes
    return len(new_outcomes) == len(outcomes) + 1 and (not outcomes or new_outcomes[-2] is outcomes[-1])


def _later_outcome(contact_id: str, state: ContactState, new_state: ContactState) -> ContactChanges:
    """What an outcome later than every other changes (see :func:`~ccpulse.domain.queue_stints.stint_facts`).

    It comes last, so every other outcome keeps its stint; it finishes its own
    stint unless an earlier outcome did, and only the latest earlier outcome
    can be in that stint (outcomes are sorted, stints begin at their queued time).
    """
    mark = new_state.stints.outcomes[-1]
    start = latest_start_at(new_state.stints.starts, mark.ts_ms)
    earlier = state.stints.outcomes
    if start is None or (earlier and earlier[-1].ts_ms >= start.queued_ts_ms):
        return NO_CHANGES
    fact = QueueOutcomeFact(contact_id, start.queue, start.channel, mark.outcome, start.queued_ts_ms, mark.ts_ms)
    return FactChanges(published=(fact,))


def record_event(state: ContactState, event: ContactEvent, customer_key: str | None = None) -> ContactState:
    """The state with the event recorded, no facts derived (for callers that derive them their own way)."""
    return ContactState(
        add_stint_event(state.stints, event),
        add_handling_event(state.handling, event),
        state.customer_key or customer_key,
    )


# Members read once: every attribute read on an enum class goes through its metaclass (slow).
_QUEUED, _ANSWERED, _ENDED, _TRANSFERRED = (
    ContactEventType.QUEUED,
    ContactEventType.ANSWERED,
    ContactEventType.ENDED,
    ContactEventType.TRANSFERRED,
)


def handling_may_change(state: ContactState, event: ContactEvent, rules: ContactRules, now_ms: int) -> bool:
    """False only when this event provably leaves every handling fact as it was.

    The common in-order life (queued, answered, holds, ended, wrap-up) then
    derives handling facts only for the wrap-up, the one event that completes
    a segment. Every "may" here errs towards True; a False is exact: a segment
    yields a fact only once it has an end and a wrap-up or a passed timeout.
    """
    handling = state.handling
    kind = event.type
    if kind is _ENDED or kind is _TRANSFERRED:
        if not handling.answers:
            return False
        if handling.wrapups or any(end.ts_ms >= event.ts_ms for end in handling.ends):
            return True
        return now_ms >= event.ts_ms + _shortest_acw_timeout_ms(state, rules)
    if kind is _ANSWERED:
        return any(end.ts_ms >= event.ts_ms for end in handling.ends)
    if kind is _QUEUED:
        return bool(handling.answers)
    # Holds and wrap-ups matter only to a conversation that has ended.
    return bool(handling.ends)


def end_deadline_floor_ms(state: ContactState, event: ContactEvent, rules: ContactRules) -> int | None:
    """A time no later than any ACW deadline an end event adds, when it cannot change handling facts.

    Call it only when :func:`handling_may_change` is False for an ``ENDED`` or
    ``TRANSFERRED`` event. Such an end is later than every end seen and the
    contact has no wrap-up, so the conversations that already had an end keep
    it (ends go to answers earliest first) and their deadlines; the only new
    deadline is this end's, at its time plus its queue's ACW timeout, never
    earlier than plus the shortest timeout of the contact's queues. A timer at
    this floor that fires early finds the exact deadline then, without this
    event paying for deriving every conversation now. None: no answer, so no
    conversation this end could close.
    """
    if not state.handling.answers:
        return None
    return event.ts_ms + _shortest_acw_timeout_ms(state, rules)


def _shortest_acw_timeout_ms(state: ContactState, rules: ContactRules) -> int:
    """The shortest ACW timeout of the queues this contact waited in (0 before any)."""
    return min((rules.acw_timeout_ms(s.queue) for s in state.stints.starts), default=0)


def advance_time(
    contact_id: str, state: ContactState, rules: ContactRules, before_ms: int, now_ms: int
) -> ContactChanges:
    """Facts that stream time moving from ``before_ms`` to ``now_ms`` completes (ACW timeouts)."""
    deadline = pending_timeout_ms(handling_reading(contact_id, state, rules), before_ms)
    if deadline is None or deadline > now_ms:
        return NO_CHANGES
    before = contact_facts(contact_id, state, rules, before_ms, _HANDLING_ONLY)
    return diff_facts(before, contact_facts(contact_id, state, rules, now_ms, _HANDLING_ONLY))


def next_deadline_ms(
    state: ContactState, rules: ContactRules, after_ms: int, *, contact_id: str | None = None
) -> int | None:
    """When, after stream time ``after_ms``, this contact next needs :func:`advance_time` (None: never).

    ``contact_id``, if given, lets the reading of the state be shared with the contact's facts.
    """
    return pending_timeout_ms(handling_reading("" if contact_id is None else contact_id, state, rules), after_ms)
