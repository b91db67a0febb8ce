"""Queue stints of one contact and the outcome fact each one yields.

A *queue stint* starts with ``contact.queued`` and ends with exactly one
outcome: answered, abandoned or flowed out (SPEC section 3). A contact can have
several stints (transfers back to a queue). The facts are a pure function of
the *set* of events seen, never of their arrival order:

- each outcome belongs to the latest stint queued at or before the outcome time;
- a stint takes the earliest outcome that belongs to it (ties: smallest event id);
- an outcome with no stint at or before it waits until one arrives.

Because events may arrive in any order, a fact published early can turn out
wrong: an abandon that arrived before the transfer's ``contact.queued`` first
looks like the end of the earlier stint. :func:`apply_contact_event` therefore
returns what changed: facts to publish and previously published facts to
retract. Folding any permutation of the same events, with any duplicates,
leaves the same set of published-minus-retracted facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from sys import intern

from ccpulse.domain.changes import FactChanges, diff_facts
from ccpulse.domain.events import Channel, ContactEvent, ContactEventType
from ccpulse.domain.facts import QueueOutcome, QueueOutcomeFact

# Bounded memory of applied event ids, for the duplicate count: a contact sees
# a few dozen events in its life; 256 covers long, many-transfer contacts. The
# facts do not depend on it: stints and outcomes are sets, so a replay of a
# forgotten event changes nothing either.
MAX_REMEMBERED_EVENT_IDS = 256


OUTCOME_OF_EVENT: dict[ContactEventType, QueueOutcome] = {
    ContactEventType.ANSWERED: QueueOutcome.ANSWERED,
    ContactEventType.ABANDONED: QueueOutcome.ABANDONED,
    ContactEventType.FLOWED_OUT: QueueOutcome.FLOWED_OUT,
}


@dataclass(frozen=True, slots=True, order=True)
class StintStart:
    """A ``contact.queued``: one per queued time (a stint's identity)."""

    queued_ts_ms: int
    queue: str
    channel: Channel


@dataclass(frozen=True, slots=True, order=True)
class OutcomeMark:
    """An answered/abandoned/flowed-out event, not yet tied to a stint."""

    ts_ms: int
    event_id: str
    outcome: QueueOutcome


@dataclass(frozen=True, slots=True)
class ContactQueueState:
    """Everything the worker remembers about one contact's queue stints.

    ``starts`` is sorted by queued time, ``outcomes`` by (time, event id);
    both are sets in tuple form so equal event sets give equal states.
    """

    starts: tuple[StintStart, ...] = ()
    outcomes: tuple[OutcomeMark, ...] = ()
    seen_event_ids: tuple[str, ...] = ()


# What one event changed: the same published/retracted protocol as every lifecycle.
StintChanges = FactChanges[QueueOutcomeFact]
NO_CHANGES: StintChanges = FactChanges()


def is_duplicate(state: ContactQueueState, event: ContactEvent) -> bool:
    """True if this event id was applied recently (at-least-once delivery re-sent it)."""
    return event.event_id in state.seen_event_ids


def apply_contact_event(state: ContactQueueState, event: ContactEvent) -> tuple[ContactQueueState, StintChanges]:
    """Fold one event into the state; return the new state and the facts it changed."""
    new_state = add_stint_event(state, event)
    if new_state.starts == state.starts and new_state.outcomes == state.outcomes:
        return new_state, NO_CHANGES
    return new_state, diff_facts(stint_facts(event.contact_id, state), stint_facts(event.contact_id, new_state))


def add_stint_event(state: ContactQueueState, event: ContactEvent) -> ContactQueueState:
    """The state with this event recorded (no facts derived): for callers that diff themselves."""
    if is_duplicate(state, event):
        return state
    seen = (*state.seen_event_ids, event.event_id)[-MAX_REMEMBERED_EVENT_IDS:]
    if event.type is ContactEventType.QUEUED:
        if event.queue is None or event.channel is None:
            # The codec guarantees both; an event built by hand without them is a bug.
            raise ValueError(f"{event.type} needs queue and channel (event {event.event_id})")
        # One string object per queue name (each decoded event brings its own copy).
        starts = _with_start(state.starts, StintStart(event.ts_ms, intern(event.queue), event.channel))
        return ContactQueueState(starts, state.outcomes, seen)
    outcome = OUTCOME_OF_EVENT.get(event.type)
    if outcome is not None:
        mark = OutcomeMark(event.ts_ms, event.event_id, outcome)
        if mark not in state.outcomes:
            outcomes = (*state.outcomes, mark)
            if state.outcomes and mark < state.outcomes[-1]:
                outcomes = tuple(sorted(outcomes))
            return ContactQueueState(state.starts, outcomes, seen)
    return ContactQueueState(state.starts, state.outcomes, seen)


def _with_start(starts: tuple[StintStart, ...], start: StintStart) -> tuple[StintStart, ...]:
    same_time = [s for s in starts if s.queued_ts_ms == start.queued_ts_ms]
    if same_time and same_time[0] <= start:
        return starts  # two queued events at one instant: the smaller (queue, channel) wins, in any order
    others = [s for s in starts if s.queued_ts_ms != start.queued_ts_ms]
    return tuple(sorted((*others, start)))


def stint_facts(contact_id: str, state: ContactQueueState) -> dict[str, QueueOutcomeFact]:
    """The finished stints implied by the state, by fact id."""
    facts: dict[str, QueueOutcomeFact] = {}
    for mark in state.outcomes:  # earliest first, so a stint keeps its first outcome
        start = latest_start_at(state.starts, mark.ts_ms)
        if start is None:
            continue
        fact = QueueOutcomeFact(contact_id, start.queue, start.channel, mark.outcome, start.queued_ts_ms, mark.ts_ms)
        facts.setdefault(fact.fact_id, fact)
    return facts


def unattributed_outcomes(state: ContactQueueState) -> tuple[OutcomeMark, ...]:
    """Outcomes with no stint queued at or before them yet (their ``contact.queued`` is late)."""
    return tuple(mark for mark in state.outcomes if latest_start_at(state.starts, mark.ts_ms) is None)


def latest_start_at(starts: tuple[StintStart, ...], ts_ms: int) -> StintStart | None:
    """The stint a contact was in at ``ts_ms``: the latest queued at or before it."""
    found: StintStart | None = None
    for start in starts:
        if start.queued_ts_ms > ts_ms:
            break
        found = start
    return found
