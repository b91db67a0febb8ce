"""Queue stints of one contact and the outcome fact each one yields.

A *queue stint* starts with ``contact.queued`` and ends with exactly one
outcome: answered, abandoned or flowed out (SPEC section 3). A contact can have
several stints (transfers back to a queue); an outcome belongs to the latest
stint queued at or before the outcome time. Events may arrive in any order: an
outcome that arrives before its ``contact.queued`` waits in the state until the
stint appears. A replayed event (same ``event_id``) changes nothing.

Attribution is decided when an outcome meets a stint: a stint whose
``contact.queued`` arrives after a later outcome was already attributed to an
earlier stint does not take that outcome back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from ccpulse.domain.events import Channel, ContactEvent, ContactEventType

# Bounded de-duplication memory per contact: a contact sees a few dozen events
# in its life; 256 covers long, many-transfer contacts with room to spare.
MAX_REMEMBERED_EVENT_IDS = 256


class QueueOutcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    FLOWED_OUT = "flowed_out"


OUTCOME_OF_EVENT: dict[ContactEventType, QueueOutcome] = {
    ContactEventType.ANSWERED: QueueOutcome.ANSWERED,
    ContactEventType.ABANDONED: QueueOutcome.ABANDONED,
    ContactEventType.FLOWED_OUT: QueueOutcome.FLOWED_OUT,
}


@dataclass(frozen=True, slots=True)
class QueueOutcomeFact:
    """The record behind queue KPIs: one finished queue stint."""

    contact_id: str
    queue: str
    channel: Channel
    outcome: QueueOutcome
    queued_ts_ms: int
    outcome_ts_ms: int

    @property
    def wait_ms(self) -> int:
        return self.outcome_ts_ms - self.queued_ts_ms

    @property
    def fact_id(self) -> str:
        """Stable identity: the same stint always yields the same id."""
        return f"{self.contact_id}:{self.queued_ts_ms}"


@dataclass(frozen=True, slots=True)
class QueueStint:
    queue: str
    channel: Channel
    queued_ts_ms: int
    outcome: QueueOutcome | None = None
    outcome_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PendingOutcome:
    outcome: QueueOutcome
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ContactQueueState:
    """Everything the worker remembers about one contact's queue stints."""

    stints: tuple[QueueStint, ...] = ()
    pending_outcomes: tuple[PendingOutcome, ...] = ()
    seen_event_ids: tuple[str, ...] = field(default=())


def is_duplicate(state: ContactQueueState, event: ContactEvent) -> bool:
    """True if this event was already applied (at-least-once delivery re-sent it)."""
    return event.event_id in state.seen_event_ids


def apply_contact_event(
    state: ContactQueueState, event: ContactEvent
) -> tuple[ContactQueueState, tuple[QueueOutcomeFact, ...]]:
    """Fold one event into the state; return the new state and newly finished stints."""
    if is_duplicate(state, event):
        return state, ()
    seen = (*state.seen_event_ids, event.event_id)[-MAX_REMEMBERED_EVENT_IDS:]
    state = replace(state, seen_event_ids=seen)

    if event.type is ContactEventType.QUEUED:
        if event.queue is None or event.channel is None:
            # The codec guarantees both; an event built by hand without them is a bug.
            raise ValueError(f"{event.type} needs queue and channel (event {event.event_id})")
        if any(stint.queued_ts_ms == event.ts_ms for stint in state.stints):
            return state, ()
        stint = QueueStint(event.queue, event.channel, event.ts_ms)
        stints = tuple(sorted((*state.stints, stint), key=lambda s: s.queued_ts_ms))
        return _settle(replace(state, stints=stints), event.contact_id)

    outcome = OUTCOME_OF_EVENT.get(event.type)
    if outcome is None:
        return state, ()
    pending = (*state.pending_outcomes, PendingOutcome(outcome, event.ts_ms))
    return _settle(replace(state, pending_outcomes=pending), event.contact_id)


def _settle(state: ContactQueueState, contact_id: str) -> tuple[ContactQueueState, tuple[QueueOutcomeFact, ...]]:
    """Attach pending outcomes to their stints; each stint takes its first outcome only."""
    stints = list(state.stints)
    still_pending: list[PendingOutcome] = []
    facts: list[QueueOutcomeFact] = []
    for pending in sorted(state.pending_outcomes, key=lambda p: p.ts_ms):
        index = _stint_index_at(stints, pending.ts_ms)
        if index is None:
            still_pending.append(pending)
            continue
        stint = stints[index]
        if stint.outcome is not None:
            continue  # a second outcome for a finished stint is not a new fact
        finished = replace(stint, outcome=pending.outcome, outcome_ts_ms=pending.ts_ms)
        stints[index] = finished
        facts.append(
            QueueOutcomeFact(
                contact_id=contact_id,
                queue=finished.queue,
                channel=finished.channel,
                outcome=pending.outcome,
                queued_ts_ms=finished.queued_ts_ms,
                outcome_ts_ms=pending.ts_ms,
            )
        )
    new_state = replace(state, stints=tuple(stints), pending_outcomes=tuple(still_pending))
    return new_state, tuple(facts)


def _stint_index_at(stints: list[QueueStint], ts_ms: int) -> int | None:
    found: int | None = None
    for index, stint in enumerate(stints):
        if stint.queued_ts_ms <= ts_ms:
            found = index
    return found
