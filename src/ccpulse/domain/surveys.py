"""Survey answers and who they are about (SPEC sections 2 and 3, "Surveys").

A ``survey.submitted`` rates a contact or a ticket. Its :class:`SurveyFact`
is attributed to a queue, a channel and an agent:

- fields given on the survey itself win, each on its own;
- the missing ones come from what it rates: the contact's handling when the
  survey names a contact, else the ticket's (:func:`rated_key`). A survey
  naming both waits for its contact even if the ticket is known: choosing
  whichever became known first would make the attribution depend on arrival
  order. The engine passes one lookup per kind of id; a contact's lookup
  should answer with its last handling segment (the agent who finished the
  conversation);
- a survey with every field given needs no lookup;
- when a lookup is needed and what it rates is not known yet (the survey
  tool was faster than the contact's events), the survey is
  *pending*: :func:`attribute_survey` returns a :class:`PendingSurvey`, the
  engine keeps it in a :class:`SurveyInbox` and calls :func:`retry_pending`
  whenever a contact or ticket becomes known (or changes); :func:`give_up_pending`
  publishes surveys that waited too long with their own fields only (so they
  still count in the totals, unattributed where unknown).

A survey's attribution is decided once, when it is first published: surveys
arrive long after the contact finished, and re-attributing a published
answer would only churn the KPIs. The fact counts at the submission time,
and its id is the survey's event id.

Scales (:data:`SCORE_SCALES`): csat and esat 1-5, nps 0-10, ces 1-7, ends
included, fractions allowed (a CES of 6.5 is a valid average answer). The
codec rejects an out-of-scale score with the same check, so an out-of-scale
score here is a programming error (``ValueError``).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from ccpulse.domain.changes import FactChanges
from ccpulse.domain.events import Channel, SurveyEvent, SurveyKind
from ccpulse.domain.facts import SurveyFact

# Bounded memory of applied survey ids, for the duplicate count. The engine
# keeps one inbox per rated contact or ticket (:func:`rated_key`), which gets
# a handful of surveys in its life.
MAX_REMEMBERED_EVENT_IDS = 256

SCORE_SCALES: Mapping[SurveyKind, tuple[int, int]] = MappingProxyType(
    {
        SurveyKind.CSAT: (1, 5),
        SurveyKind.ESAT: (1, 5),
        SurveyKind.NPS: (0, 10),
        SurveyKind.CES: (1, 7),
    }
)

NO_CHANGES: FactChanges[SurveyFact] = FactChanges()


@dataclass(frozen=True, slots=True)
class Attribution:
    """Queue, channel and agent a survey is about; any of them may be unknown (None)."""

    queue: str | None = None
    channel: Channel | None = None
    agent_id: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.queue is not None and self.channel is not None and self.agent_id is not None

    def filled_from(self, other: Attribution) -> Attribution:
        """This attribution with its unknown fields taken from ``other``."""
        return Attribution(
            self.queue if self.queue is not None else other.queue,
            self.channel if self.channel is not None else other.channel,
            self.agent_id if self.agent_id is not None else other.agent_id,
        )


AttributionLookup = Callable[[str], Attribution | None]
"""Attribution of a contact id or ticket id, or None while the worker does not know it."""


@dataclass(frozen=True, slots=True)
class PendingSurvey:
    """A survey that waits for the contact or ticket it rates to become known."""

    event: SurveyEvent


@dataclass(frozen=True, slots=True)
class SurveyInbox:
    """Pending surveys (sorted by event id) and recently applied survey ids."""

    pending: tuple[SurveyEvent, ...] = ()
    seen_event_ids: tuple[str, ...] = ()


def score_problem(kind: SurveyKind, score: float) -> str | None:
    """Why ``score`` is not on the scale of ``kind``, or None if it is.

    The reason names the scale, never the score (it goes to logs and
    dead-letter headers). NaN and infinities are never on a scale.
    """
    low, high = SCORE_SCALES[kind]
    if not low <= score <= high:  # false for NaN too
        return f"{kind.value} score must be within {low}..{high}"
    return None


def validate_score(kind: SurveyKind, score: float) -> None:
    """Raise ``ValueError`` with the reason if ``score`` is not on the scale of ``kind``."""
    problem = score_problem(kind, score)
    if problem is not None:
        raise ValueError(problem)


def rated_key(event: SurveyEvent) -> str:
    """The key of what the survey rates: ``contact:<id>``, else ``ticket:<id>`` (for the engine's tables)."""
    if event.contact_id is not None:
        return f"contact:{event.contact_id}"
    if event.ticket_id is not None:
        return f"ticket:{event.ticket_id}"
    raise ValueError(f"survey names neither a contact nor a ticket (event {event.event_id})")


def attribute_survey(
    event: SurveyEvent,
    contact_attribution: AttributionLookup,
    ticket_attribution: AttributionLookup,
) -> SurveyFact | PendingSurvey:
    """The survey's fact, or :class:`PendingSurvey` if what it rates is not known yet.

    Raises ``ValueError`` for a score off its kind's scale or a survey that
    names neither a contact nor a ticket (the codec rejects both).
    """
    validate_score(event.kind, event.score)
    rated_key(event)  # names a contact or a ticket
    given = Attribution(event.queue, event.channel, event.agent_id)
    if given.is_complete:
        return _fact(event, given)
    rated = _rated_attribution(event, contact_attribution, ticket_attribution)
    if rated is None:
        return PendingSurvey(event)
    return _fact(event, given.filled_from(rated))


def unattributed_fact(event: SurveyEvent) -> SurveyFact:
    """The fact of a survey whose contact or ticket never became known: its own fields only."""
    validate_score(event.kind, event.score)
    return _fact(event, Attribution(event.queue, event.channel, event.agent_id))


def is_duplicate(inbox: SurveyInbox, event: SurveyEvent) -> bool:
    """True if this survey id was applied recently (at-least-once delivery re-sent it)."""
    return event.event_id in inbox.seen_event_ids


def apply_survey_event(
    inbox: SurveyInbox,
    event: SurveyEvent,
    contact_attribution: AttributionLookup,
    ticket_attribution: AttributionLookup,
) -> tuple[SurveyInbox, FactChanges[SurveyFact]]:
    """Publish the survey's fact now, or keep it pending; a duplicate changes nothing."""
    if is_duplicate(inbox, event) or any(p.event_id == event.event_id for p in inbox.pending):
        return inbox, NO_CHANGES
    seen = (*inbox.seen_event_ids, event.event_id)[-MAX_REMEMBERED_EVENT_IDS:]
    result = attribute_survey(event, contact_attribution, ticket_attribution)
    if isinstance(result, PendingSurvey):
        pending = tuple(sorted((*inbox.pending, event), key=_survey_order))
        return SurveyInbox(pending, seen), NO_CHANGES
    return replace(inbox, seen_event_ids=seen), FactChanges(published=(result,))


def retry_pending(
    inbox: SurveyInbox,
    contact_attribution: AttributionLookup,
    ticket_attribution: AttributionLookup,
    *,
    only_rating: tuple[Container[str], Container[str]] | None = None,
) -> tuple[SurveyInbox, FactChanges[SurveyFact]]:
    """Publish the pending surveys whose contact or ticket is known now; keep the others.

    ``only_rating``: (contact ids, ticket ids) whose lookups may have changed
    since the surveys went pending; a survey rating anything else stays
    pending without being looked at (its lookup would still find nothing).
    """
    published: list[SurveyFact] = []
    still_pending: list[SurveyEvent] = []
    for event in inbox.pending:
        if only_rating is not None and not _rates_one_of(event, *only_rating):
            still_pending.append(event)
            continue
        result = attribute_survey(event, contact_attribution, ticket_attribution)
        if isinstance(result, PendingSurvey):
            still_pending.append(event)
        else:
            published.append(result)
    if not published:
        return inbox, NO_CHANGES
    return replace(inbox, pending=tuple(still_pending)), FactChanges(published=tuple(published))


def _rates_one_of(event: SurveyEvent, contact_ids: Container[str], ticket_ids: Container[str]) -> bool:
    """Whether the survey rates one of these (a survey naming a contact rates that contact only)."""
    if event.contact_id is not None:
        return event.contact_id in contact_ids
    return event.ticket_id is not None and event.ticket_id in ticket_ids


def give_up_pending(inbox: SurveyInbox, before_ts_ms: int) -> tuple[SurveyInbox, FactChanges[SurveyFact]]:
    """Publish, unattributed, the pending surveys submitted before ``before_ts_ms`` (ms).

    The engine passes stream time minus how long a survey may wait for its
    contact; the answer still counts, with the fields the survey gave.
    """
    expired = [event for event in inbox.pending if event.ts_ms < before_ts_ms]
    if not expired:
        return inbox, NO_CHANGES
    kept = tuple(event for event in inbox.pending if event.ts_ms >= before_ts_ms)
    return replace(inbox, pending=kept), FactChanges(published=tuple(unattributed_fact(e) for e in expired))


def _rated_attribution(
    event: SurveyEvent, contact_attribution: AttributionLookup, ticket_attribution: AttributionLookup
) -> Attribution | None:
    if event.contact_id is not None:
        return contact_attribution(event.contact_id)
    if event.ticket_id is not None:
        return ticket_attribution(event.ticket_id)
    return None


def _fact(event: SurveyEvent, attribution: Attribution) -> SurveyFact:
    return SurveyFact(
        survey_id=event.event_id,
        kind=event.kind,
        score=event.score,
        ts_ms=event.ts_ms,
        queue=attribution.queue,
        channel=attribution.channel,
        agent_id=attribution.agent_id,
    )


def _survey_order(event: SurveyEvent) -> str:
    return event.event_id
