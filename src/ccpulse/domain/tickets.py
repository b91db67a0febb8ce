"""One ticket's life and the step facts it yields (SPEC section 3, "Tickets").

The facts are a pure function of the *set* of ``ticket.*`` events seen, never
of their arrival order. The ticket's life is read in event-time order from its
``ticket.created``:

- **Order.** Events are ordered by ``(ts_ms, step rank, event_id)`` where the
  rank follows a ticket's natural life at one instant: created, replied,
  escalated, solved, reopened, closed. So a public reply sent together with
  the solve ("submit as solved", one timestamp) counts before the solve.
- **Created.** The earliest ``ticket.created`` (ties: smallest event id) starts
  the ticket and gives it its queue and channel; the queue and channel other
  events carry are ignored, so a ticket moved between groups stays in the
  queue it was created in. Until it arrives, the other events wait and yield
  nothing (:func:`waiting_events`). Events timestamped before the creation are
  not part of the ticket's life and never count.
- **CREATED** at the creation time.
- **FIRST_RESPONSE** at the first *public* agent reply at or after creation;
  ``duration_ms = reply - created``. Internal notes (``public: false``) count
  nowhere and are not even stored. One per ticket: replies after a reopen do
  not start a new first response.
- **SOLVED** whenever an open ticket is solved: the first solve and each
  solve after a reopen. Every solve measures the resolution time from
  *creation*: ``duration_ms = solve - created``, so the first solve gives the
  first resolution time and the last one the full resolution time, and a
  reopened ticket never looks faster than it was. ``public_replies`` counts
  the public agent replies from creation up to the solve (at the same instant
  included); one-touch means ``<= 1``, so a ticket that needed a reopen and
  another reply is not one-touch at its second solve. The agent is the
  solve's ``agent_id``, else that of the latest public reply before it. A
  solve of a ticket already solved or closed changes nothing.
- **REOPENED** when a solved or closed ticket is reopened (each time, so the
  reopen ratio reopened / solved stays at most 1); a reopen of an open ticket
  changes nothing.
- **ESCALATED** at the *first* escalation only, so the escalation ratio
  escalated / created is a share of tickets.
- **CLOSED** when a ticket that is not closed is closed (solved first or
  not: a ticket closed unsolved leaves the backlog too).

Backlog (:func:`is_open`): created, and neither solved nor closed since its
creation or its latest reopen.

A late event can change facts published earlier (a public reply that arrives
after a later one was taken as the first response, a reopen that arrives
after the second solve): :func:`apply_ticket_event` returns facts to retract
and to publish. Fact ids are ``ticket:step:ts``; the rules above never yield
two facts with the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ccpulse.domain.changes import FactChanges, diff_facts
from ccpulse.domain.events import Channel, TicketEvent, TicketEventType
from ccpulse.domain.facts import TicketFact, TicketStep

# Bounded memory of applied event ids, for the duplicate count. The facts do
# not depend on it: marks are a set keyed by event id, so a replay of a
# forgotten event changes nothing either.
MAX_REMEMBERED_EVENT_IDS = 256

NO_CHANGES: FactChanges[TicketFact] = FactChanges()

# Where each event type sits in a ticket's life at one instant.
STEP_RANK: dict[TicketEventType, int] = {
    TicketEventType.CREATED: 0,
    TicketEventType.REPLIED: 1,
    TicketEventType.ESCALATED: 2,
    TicketEventType.SOLVED: 3,
    TicketEventType.REOPENED: 4,
    TicketEventType.CLOSED: 5,
}


@dataclass(frozen=True, slots=True)
class TicketMark:
    """One ticket event that can change a fact (internal notes are not kept).

    ``queue`` and ``channel`` are kept for ``ticket.created`` only, the only
    event they are read from; ``agent_id`` is the actor, if given.
    """

    ts_ms: int
    event_id: str
    type: TicketEventType
    agent_id: str | None = None
    queue: str | None = None
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class TicketState:
    """Everything the worker remembers about one ticket.

    ``marks`` is sorted by ``(ts_ms, step rank, event_id)``, one per event id:
    a set in tuple form, so equal event sets give equal states.
    """

    marks: tuple[TicketMark, ...] = ()
    seen_event_ids: tuple[str, ...] = ()


class _Status(Enum):
    OPEN = "open"
    SOLVED = "solved"
    CLOSED = "closed"


def is_duplicate(state: TicketState, event: TicketEvent) -> bool:
    """True if this event id was applied recently (at-least-once delivery re-sent it)."""
    return event.event_id in state.seen_event_ids


def apply_ticket_event(state: TicketState, event: TicketEvent) -> tuple[TicketState, FactChanges[TicketFact]]:
    """Fold one event into the ticket's state; return the new state and the facts it changed."""
    if is_duplicate(state, event):
        return state, NO_CHANGES
    new_state = record_ticket_event(state, event)
    if new_state.marks is state.marks:
        return new_state, NO_CHANGES
    before = ticket_facts(event.ticket_id, state)
    after = ticket_facts(event.ticket_id, new_state)
    return new_state, diff_facts(before, after)


def record_ticket_event(state: TicketState, event: TicketEvent) -> TicketState:
    """The state with the event recorded, no facts derived (for callers that derive them their own way).

    A duplicate gives back ``state``; an event that changes no fact (an
    internal note, a mark already held) keeps the very ``marks`` tuple.
    """
    if is_duplicate(state, event):
        return state
    mark = _mark_of(event)
    seen = (*state.seen_event_ids, event.event_id)[-MAX_REMEMBERED_EVENT_IDS:]
    if mark is None or any(m.event_id == mark.event_id for m in state.marks):
        return TicketState(state.marks, seen)
    return TicketState(tuple(sorted((*state.marks, mark), key=_mark_order)), seen)


def _mark_of(event: TicketEvent) -> TicketMark | None:
    if event.type is TicketEventType.CREATED:
        if event.queue is None or event.channel is None:
            # The codec guarantees both; an event built by hand without them is a bug.
            raise ValueError(f"{event.type} needs queue and channel (event {event.event_id})")
        return TicketMark(event.ts_ms, event.event_id, event.type, event.agent_id, event.queue, event.channel)
    if event.type is TicketEventType.REPLIED:
        if event.agent_id is None or event.public is None:
            raise ValueError(f"{event.type} needs agent_id and public (event {event.event_id})")
        if not event.public:
            return None  # an internal note: no fact depends on it
    return TicketMark(event.ts_ms, event.event_id, event.type, event.agent_id)


def ticket_facts(ticket_id: str, state: TicketState) -> dict[str, TicketFact]:
    """The step facts implied by the state, by fact id (in event-time order)."""
    return _read_life(ticket_id, state)[0]


def is_open(state: TicketState) -> bool:
    """True if the ticket is in the backlog: created, and not solved or closed since (re)opening."""
    return _creation(state) is not None and _read_life("", state)[1] is _Status.OPEN


def ticket_life(ticket_id: str, state: TicketState) -> tuple[dict[str, TicketFact], bool]:
    """:func:`ticket_facts` and :func:`is_open` from one reading of the ticket's life."""
    facts, status = _read_life(ticket_id, state)
    return facts, status is _Status.OPEN and bool(facts)  # a created ticket has a CREATED fact


def waiting_events(state: TicketState) -> tuple[TicketMark, ...]:
    """Events that yield nothing: their ``ticket.created`` has not arrived, or they predate it."""
    created = _creation(state)
    if created is None:
        return state.marks
    return tuple(m for m in state.marks if m.ts_ms < created.ts_ms)


def _creation(state: TicketState) -> TicketMark | None:
    created = TicketEventType.CREATED
    return next((m for m in state.marks if m.type is created), None)


_STEP_TYPES = (
    TicketEventType.CREATED,
    TicketEventType.REPLIED,
    TicketEventType.ESCALATED,
    TicketEventType.SOLVED,
    TicketEventType.REOPENED,
)


@dataclass(frozen=True, slots=True)
class _CreatedTicket:
    """What every fact of a ticket takes from its creation."""

    ticket_id: str
    queue: str
    channel: Channel
    created_ts_ms: int

    def fact(
        self,
        step: TicketStep,
        mark: TicketMark,
        *,
        with_duration: bool = False,
        public_replies: int | None = None,
    ) -> TicketFact:
        return TicketFact(
            self.ticket_id,
            self.queue,
            self.channel,
            step,
            mark.ts_ms,
            duration_ms=mark.ts_ms - self.created_ts_ms if with_duration else None,
            public_replies=public_replies,
            agent_id=mark.agent_id,
        )


def _read_life(ticket_id: str, state: TicketState) -> tuple[dict[str, TicketFact], _Status]:
    """Walk the ticket's events from its creation; return its facts and its status now."""
    # Members read once: every attribute read on an enum class goes through its metaclass (slow).
    created_type, replied, escalation, solve, reopen = _STEP_TYPES
    is_open, is_solved, is_closed = _Status.OPEN, _Status.SOLVED, _Status.CLOSED
    created = _creation(state)
    if created is None:
        return {}, is_open
    assert created.queue is not None  # _mark_of checked both
    assert created.channel is not None
    ticket = _CreatedTicket(ticket_id, created.queue, created.channel, created.ts_ms)
    facts = [ticket.fact(TicketStep.CREATED, created)]
    status = is_open
    public_replies = 0
    last_replier: str | None = None
    escalated = False
    for mark in state.marks:
        if mark.ts_ms < created.ts_ms or mark.type is created_type:
            continue
        if mark.type is replied:
            if public_replies == 0:
                facts.append(ticket.fact(TicketStep.FIRST_RESPONSE, mark, with_duration=True))
            public_replies += 1
            last_replier = mark.agent_id
        elif mark.type is escalation:
            if not escalated:
                facts.append(ticket.fact(TicketStep.ESCALATED, mark))
            escalated = True
        elif mark.type is solve:
            if status is is_open:
                solver = mark if mark.agent_id is not None else _with_agent(mark, last_replier)
                facts.append(ticket.fact(TicketStep.SOLVED, solver, with_duration=True, public_replies=public_replies))
                status = is_solved
        elif mark.type is reopen:
            if status is not is_open:
                facts.append(ticket.fact(TicketStep.REOPENED, mark))
                status = is_open
        elif status is not is_closed:  # ticket.closed
            facts.append(ticket.fact(TicketStep.CLOSED, mark))
            status = is_closed
    return {fact.fact_id: fact for fact in facts}, status


def _with_agent(mark: TicketMark, agent_id: str | None) -> TicketMark:
    return TicketMark(mark.ts_ms, mark.event_id, mark.type, agent_id, mark.queue, mark.channel)


def _mark_order(mark: TicketMark) -> tuple[int, int, str]:
    return mark.ts_ms, STEP_RANK[mark.type], mark.event_id
