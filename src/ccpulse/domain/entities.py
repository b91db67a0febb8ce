"""The entity side of a distributed run: one contact, agent or ticket at a time.

The Faust worker splits the engine in two stages joined by a topic keyed by
queue. The first stage sees every event of one entity (a contact with the
surveys that rate it, an agent, a ticket with its surveys) in order on one
partition and keeps that entity's state in a changelog-backed table row
(:class:`EntityState`). After each event it derives the entity's whole
*eventual* fact set (:func:`entity_facts`) and sends the queue stage what
changed, as *upserts* and *deletes* of facts keyed by id
(:func:`routed_changes`): re-sending an upsert or a delete is harmless, which
is what at-least-once delivery needs.

"Eventual" means as if stream time had run out: a handling segment with no
wrap-up is published at once as completed by ACW timeout at its deadline, and
the queue stage, which owns the clock, holds it back until the deadline
passes (:class:`~ccpulse.domain.queue_view.QueueView`). The entity stage
therefore needs no timers and its facts depend on its events only, so a
replay of the same events always yields the same facts.

Lost output after a crash: the worker writes the state row and the facts,
then commits the input offset once both are flushed. If it dies in between,
the event is delivered again, found a duplicate, and the entity is *resynced*:
every current fact is upserted again and every queue the entity ever sent to
gets the complete list of its facts there, so the queue stage deletes any it
still holds that a lost delete should have removed (:func:`resync`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ccpulse.domain import agent_states, surveys, tickets
from ccpulse.domain.contacts import ContactRules, ContactState, contact_facts, record_event
from ccpulse.domain.events import (
    AgentEvent,
    CanonicalEvent,
    ContactEvent,
    SurveyEvent,
    TicketEvent,
)
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    SurveyFact,
    TicketOpenFact,
    TicketStep,
)
from ccpulse.domain.memo import LatestReadings
from ccpulse.domain.queue_view import ViewFact

# Stream time "at the end of time": every pending ACW timeout has passed.
EVENTUALLY_MS = 2**62
MAX_SURVEYS_PER_ENTITY = 64  # a contact or ticket is rated a handful of times; beyond this, the oldest go
# Entities whose latest facts are kept for their next event (see memo).
ENTITIES_REMEMBERED = 8192


def _new_readings() -> LatestReadings[EntityState, dict[str, ViewFact]]:
    return LatestReadings(ENTITIES_REMEMBERED)


@dataclass(frozen=True, slots=True)
class EntityRules:
    """What the entity stage needs from configuration."""

    contact: ContactRules
    customer_key: Callable[[str | None], str | None]  # keyed hash of a customer id
    # The facts of each entity's latest row, derived under these rules: a memo, not configuration.
    facts: LatestReadings[EntityState, dict[str, ViewFact]] = field(
        default_factory=_new_readings, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class EntityState:
    """One table row of the entity stage. Exactly one of contact, agent or ticket is set."""

    contact: ContactState | None = None
    agent: agent_states.AgentTimeline | None = None
    ticket: tickets.TicketState | None = None
    surveys: tuple[SurveyEvent, ...] = ()  # the surveys rating this contact or ticket, by event id
    last_event_ms: int = 0  # latest event time, for forgetting the row after the retention
    queues_sent_to: frozenset[str] = field(default_factory=frozenset)  # every queue ever sent a fact


@dataclass(frozen=True, slots=True)
class Upsert:
    """The fact with this key is now ``fact``, for ``queue``'s partition."""

    queue: str
    key: str
    entity: str
    fact: ViewFact


@dataclass(frozen=True, slots=True)
class Delete:
    """The fact with this key no longer exists."""

    queue: str
    key: str
    entity: str


@dataclass(frozen=True, slots=True)
class Sync:
    """The complete list of the entity's fact keys in ``queue``: any other one it holds is stale."""

    queue: str
    entity: str
    keys: tuple[str, ...]


QueueChange = Upsert | Delete | Sync


def entity_key(event: CanonicalEvent) -> str | None:
    """The entity whose state the event changes (the first stage's partition key); None for watermarks."""
    if isinstance(event, ContactEvent):
        return f"contact:{event.contact_id}"
    if isinstance(event, AgentEvent):
        return f"agent:{event.agent_id}"
    if isinstance(event, TicketEvent):
        return f"ticket:{event.ticket_id}"
    if isinstance(event, SurveyEvent):
        return surveys.rated_key(event)  # a survey lives with what it rates
    return None


def apply_entity_event(state: EntityState, event: CanonicalEvent, rules: EntityRules) -> tuple[EntityState, bool]:
    """Record the event in the entity's state; True as second item if it was a duplicate."""
    last_event_ms = max(state.last_event_ms, event.ts_ms)
    contact, agent, ticket, rated_by = state.contact, state.agent, state.ticket, state.surveys
    if isinstance(event, ContactEvent):
        contact = contact or _NEW_CONTACT
        if event.event_id in contact.seen_event_ids:
            return state, True
        # The first customer key seen sticks: hash only while the contact has none.
        customer_key = rules.customer_key(event.customer_id) if contact.customer_key is None else None
        contact = record_event(contact, event, customer_key)
    elif isinstance(event, AgentEvent):
        timeline = agent or _NEW_TIMELINE
        agent, _ = agent_states.apply_agent_event(timeline, event)
        if agent is timeline:
            return state, True
    elif isinstance(event, TicketEvent):
        ticket = ticket or _NEW_TICKET
        if tickets.is_duplicate(ticket, event):
            return state, True
        ticket = tickets.record_ticket_event(ticket, event)
    elif isinstance(event, SurveyEvent):
        if any(known.event_id == event.event_id for known in rated_by):
            return state, True
        kept = sorted((*rated_by, event), key=lambda s: (s.ts_ms, s.event_id))[-MAX_SURVEYS_PER_ENTITY:]
        rated_by = tuple(sorted(kept, key=lambda s: s.event_id))
    return EntityState(contact, agent, ticket, rated_by, last_event_ms, state.queues_sent_to), False


# Every entity starts from these (frozen, so sharing them is safe).
_NEW_CONTACT = ContactState()
_NEW_TIMELINE = agent_states.AgentTimeline()
_NEW_TICKET = tickets.TicketState()


def entity_facts(key: str, state: EntityState, rules: EntityRules) -> dict[str, ViewFact]:
    """Every fact and live record the entity implies once all its timeouts have passed, by fact key.

    Derived once per row object (the event after the one that made the row asks again);
    the dict returned may be shared, so callers must not change it.
    """
    facts = rules.facts.get(key, state)
    if facts is None:
        facts = _derive_entity_facts(key, state, rules)
        rules.facts.put(key, state, facts)
    return facts


def _facts_after(
    key: str, before_state: EntityState, before: dict[str, ViewFact], state: EntityState, rules: EntityRules
) -> dict[str, ViewFact]:
    """:func:`entity_facts` of ``state``, the row one event made of ``before_state`` (whose facts are ``before``)."""
    facts = rules.facts.get(key, state)
    if facts is None:
        facts = _with_latest_agent_change(key, before_state, before, state)
        if facts is None:
            facts = _derive_entity_facts(key, state, rules)
        rules.facts.put(key, state, facts)
    return facts


def _with_latest_agent_change(
    key: str, before_state: EntityState, before: dict[str, ViewFact], state: EntityState
) -> dict[str, ViewFact] | None:
    """The agent's facts when its event is later than all others: one more span, a new presence.

    The usual case, and the same facts as deriving the whole history again
    (see :func:`agent_states.apply_agent_event`); the spans already known stay the
    very same objects. None when the event did anything else.
    """
    old, new = before_state.agent, state.agent
    if old is None or new is None or not old.changes or state.surveys or not key.startswith("agent:"):
        return None
    changes, last = new.changes, old.changes[-1]
    if (
        len(changes) != len(old.changes) + 1
        or changes[-1].ts_ms <= last.ts_ms
        or new.floor_ts_ms != old.floor_ts_ms
        or changes[:-1] != old.changes
    ):
        return None
    agent_id = key.partition(":")[2]
    presence_key = f"presence:{agent_id}"
    facts = dict(before)
    del facts[presence_key]  # it goes last again, after the new span
    span = AgentStateFact(agent_id, last.state, last.ts_ms, changes[-1].ts_ms, queues=last.queues, team=last.team)
    facts[f"agent_state:{span.fact_id}"] = span
    _add_presence(agent_id, new, facts)
    return facts


def _derive_entity_facts(key: str, state: EntityState, rules: EntityRules) -> dict[str, ViewFact]:
    kind, _, entity_id = key.partition(":")
    facts: dict[str, ViewFact] = {}
    attribution: surveys.Attribution | None = None
    if kind == "contact" and state.contact is not None:
        attribution = _contact_part(entity_id, state.contact, rules, facts)
    elif kind == "agent" and state.agent is not None:
        _agent_part(entity_id, state.agent, facts)
    elif kind == "ticket" and state.ticket is not None:
        attribution = _ticket_part(entity_id, state.ticket, facts)

    def lookup(_: str) -> surveys.Attribution | None:
        return attribution

    for survey in state.surveys:
        rated = surveys.attribute_survey(survey, lookup, lookup)
        if isinstance(rated, SurveyFact):
            facts[f"survey:{rated.survey_id}"] = rated
    return facts


def _contact_part(
    contact_id: str, contact: ContactState, rules: EntityRules, facts: dict[str, ViewFact]
) -> surveys.Attribution | None:
    """Add the contact's facts; return what a survey of it is about (its last segment, as the engine decides)."""
    last: HandlingFact | None = None
    for fact_key, fact in contact_facts(contact_id, contact, rules.contact, EVENTUALLY_MS).items():
        facts[fact_key] = fact
        if isinstance(fact, HandlingFact) and (
            last is None or (fact.answered_ts_ms, fact.agent_id) > (last.answered_ts_ms, last.agent_id)
        ):
            last = fact
    return None if last is None else surveys.Attribution(last.queue, last.channel, last.agent_id)


def _agent_part(agent_id: str, timeline: agent_states.AgentTimeline, facts: dict[str, ViewFact]) -> None:
    for fact_id, span in agent_states.agent_state_facts(agent_id, timeline).items():
        facts[f"agent_state:{fact_id}"] = span
    _add_presence(agent_id, timeline, facts)


def _add_presence(agent_id: str, timeline: agent_states.AgentTimeline, facts: dict[str, ViewFact]) -> None:
    current = agent_states.open_state(timeline)
    if current is not None:
        facts[f"presence:{agent_id}"] = AgentPresenceFact(agent_id, current.state, current.since_ts_ms, current.queues)


def _ticket_part(ticket_id: str, ticket: tickets.TicketState, facts: dict[str, ViewFact]) -> surveys.Attribution | None:
    """Add the ticket's steps and its backlog record; return its queue and channel (from its creation)."""
    attribution: surveys.Attribution | None = None
    for fact_id, step in tickets.ticket_facts(ticket_id, ticket).items():
        facts[f"ticket:{fact_id}"] = step
        if step.step is TicketStep.CREATED:
            attribution = surveys.Attribution(step.queue, step.channel, None)
    if attribution is not None and attribution.queue is not None and tickets.is_open(ticket):
        facts[f"ticket_open:{ticket_id}"] = TicketOpenFact(ticket_id, attribution.queue)
    return attribution


def routes_of(fact: ViewFact) -> tuple[str, ...]:
    """The queues whose partitions need this fact: agent records go to every queue the agent serves."""
    if isinstance(fact, _MANY_QUEUE_FACTS):
        return fact.queues
    if isinstance(fact, SurveyFact):
        return () if fact.queue is None or fact.channel is None else (fact.queue,)
    return (fact.queue,)


_MANY_QUEUE_FACTS = (AgentStateFact, AgentPresenceFact)


def routed_changes(entity: str, before: dict[str, ViewFact], after: dict[str, ViewFact]) -> list[QueueChange]:
    """Deletes, then upserts, that turn the queue side's copy of ``before`` into ``after``.

    Each (queue, fact key) once, in the order of the facts and of their routes;
    an unchanged fact sends nothing (the very same object is not even compared).
    """
    changes: list[QueueChange] = []
    unchanged: set[str] = set()
    for key, fact in before.items():
        now = after.get(key)
        if now is fact:
            continue
        if now is None:
            kept: tuple[str, ...] = ()
        elif now == fact:
            unchanged.add(key)
            continue
        else:
            kept = routes_of(now)
        changes += [Delete(queue, key, entity) for queue in _each_once(routes_of(fact)) if queue not in kept]
    for key, fact in after.items():
        if key in unchanged or before.get(key) is fact:
            continue
        changes += [Upsert(queue, key, entity, fact) for queue in _each_once(routes_of(fact))]
    return changes


def _each_once(queues: tuple[str, ...]) -> tuple[str, ...] | dict[str, None]:
    return queues if len(queues) < 2 else dict.fromkeys(queues)


def resync(entity: str, state: EntityState, facts: dict[str, ViewFact]) -> list[QueueChange]:
    """Everything the queue side must hold for this entity, and a :class:`Sync` for every queue it touched."""
    changes: list[QueueChange] = []
    keys_by_queue: dict[str, list[str]] = {queue: [] for queue in state.queues_sent_to}
    for key, fact in facts.items():
        for queue in routes_of(fact):
            changes.append(Upsert(queue, key, entity, fact))
            keys_by_queue.setdefault(queue, []).append(key)
    changes += [Sync(queue, entity, tuple(sorted(keys))) for queue, keys in sorted(keys_by_queue.items())]
    return changes


def process_event(
    key: str, state: EntityState, event: CanonicalEvent, rules: EntityRules
) -> tuple[EntityState, list[QueueChange], bool]:
    """One first-stage step: the new row, what to send the queue stage, and whether it was a duplicate.

    A duplicate leaves the row as it is and resyncs the entity (see the module doc).
    """
    new_state, duplicate = apply_entity_event(state, event, rules)
    if duplicate:
        return state, resync(key, state, entity_facts(key, state, rules)), True
    before = entity_facts(key, state, rules)  # first: the memo holds one row per key
    after = _facts_after(key, state, before, new_state, rules)
    changes = routed_changes(key, before, after)
    row = with_queues_sent_to(new_state, changes)
    if row is not new_state:
        rules.facts.put(key, row, after)  # the queues sent to are no part of the facts
    return row, changes, False


def with_queues_sent_to(state: EntityState, changes: list[QueueChange]) -> EntityState:
    """The state remembering every queue these changes went to."""
    queues = {change.queue for change in changes} - state.queues_sent_to
    if not queues:
        return state
    return EntityState(
        state.contact, state.agent, state.ticket, state.surveys, state.last_event_ms, state.queues_sent_to | queues
    )
