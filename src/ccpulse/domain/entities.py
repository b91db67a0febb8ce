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
from dataclasses import dataclass, field, replace

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
    TicketFact,
    TicketOpenFact,
    TicketStep,
)
from ccpulse.domain.queue_view import ViewFact

# Stream time "at the end of time": every pending ACW timeout has passed.
EVENTUALLY_MS = 2**62
MAX_SURVEYS_PER_ENTITY = 64  # a contact or ticket is rated a handful of times; beyond this, the oldest go


@dataclass(frozen=True, slots=True)
class EntityRules:
    """What the entity stage needs from configuration."""

    contact: ContactRules
    customer_key: Callable[[str | None], str | None]  # keyed hash of a customer id


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
    recorded = _recorded(state, event, rules)
    if recorded is None:
        return state, True
    return replace(recorded, last_event_ms=max(state.last_event_ms, event.ts_ms)), False


def _recorded(state: EntityState, event: CanonicalEvent, rules: EntityRules) -> EntityState | None:
    """The state with the event in it; None for a duplicate."""
    if isinstance(event, ContactEvent):
        contact = state.contact or ContactState()
        duplicate = event.event_id in contact.seen_event_ids
        return (
            None
            if duplicate
            else replace(state, contact=record_event(contact, event, rules.customer_key(event.customer_id)))
        )
    if isinstance(event, AgentEvent):
        timeline = state.agent or agent_states.AgentTimeline()
        new_timeline, _ = agent_states.apply_agent_event(timeline, event)
        return None if new_timeline is timeline else replace(state, agent=new_timeline)
    if isinstance(event, TicketEvent):
        ticket = state.ticket or tickets.TicketState()
        duplicate = tickets.is_duplicate(ticket, event)
        return None if duplicate else replace(state, ticket=tickets.apply_ticket_event(ticket, event)[0])
    if isinstance(event, SurveyEvent):
        if any(known.event_id == event.event_id for known in state.surveys):
            return None
        kept = sorted((*state.surveys, event), key=lambda s: (s.ts_ms, s.event_id))[-MAX_SURVEYS_PER_ENTITY:]
        return replace(state, surveys=tuple(sorted(kept, key=lambda s: s.event_id)))
    return state  # watermarks carry no entity


def entity_facts(key: str, state: EntityState, rules: EntityRules) -> dict[str, ViewFact]:
    """Every fact and live record the entity implies once all its timeouts have passed, by fact key."""
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
    if isinstance(fact, AgentStateFact | AgentPresenceFact):
        return fact.queues
    if isinstance(fact, SurveyFact):
        return () if fact.queue is None or fact.channel is None else (fact.queue,)
    if isinstance(fact, TicketFact | TicketOpenFact):
        return (fact.queue,)
    return (fact.queue,)


def routed_changes(entity: str, before: dict[str, ViewFact], after: dict[str, ViewFact]) -> list[QueueChange]:
    """Deletes, then upserts, that turn the queue side's copy of ``before`` into ``after``."""
    before_routes = {(queue, key): fact for key, fact in before.items() for queue in routes_of(fact)}
    after_routes = {(queue, key): fact for key, fact in after.items() for queue in routes_of(fact)}
    changes: list[QueueChange] = [
        Delete(queue, key, entity) for (queue, key) in before_routes if (queue, key) not in after_routes
    ]
    changes += [
        Upsert(queue, key, entity, fact)
        for (queue, key), fact in after_routes.items()
        if before_routes.get((queue, key)) != fact
    ]
    return changes


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
    changes = routed_changes(key, entity_facts(key, state, rules), entity_facts(key, new_state, rules))
    return with_queues_sent_to(new_state, changes), changes, False


def with_queues_sent_to(state: EntityState, changes: list[QueueChange]) -> EntityState:
    """The state remembering every queue these changes went to."""
    queues = {change.queue for change in changes} - state.queues_sent_to
    if not queues:
        return state
    return replace(state, queues_sent_to=state.queues_sent_to | queues)
