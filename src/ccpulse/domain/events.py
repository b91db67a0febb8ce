"""Canonical contact events as typed, immutable values.

Parsing from bytes (JSON, both timestamp forms) lives in :mod:`ccpulse.codec`;
here an event is already valid and its time is integer epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ContactEventType(StrEnum):
    QUEUED = "contact.queued"
    ANSWERED = "contact.answered"
    ABANDONED = "contact.abandoned"
    FLOWED_OUT = "contact.flowed_out"
    HOLD_STARTED = "contact.hold_started"
    HOLD_ENDED = "contact.hold_ended"
    TRANSFERRED = "contact.transferred"
    ENDED = "contact.ended"
    WRAPUP_ENDED = "contact.wrapup_ended"


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    MESSAGING = "messaging"
    VIDEO = "video"
    OTHER = "other"


class FlowOutReason(StrEnum):
    TIMEOUT = "timeout"
    KEY = "key"
    NO_AGENTS = "no_agents"
    TRANSFER = "transfer"
    CALLBACK = "callback"
    OTHER = "other"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    BUSY = "busy"
    ACW = "acw"
    AWAY = "away"


class SurveyKind(StrEnum):
    CSAT = "csat"  # 1-5, satisfied = 4 or 5
    NPS = "nps"  # 0-10, promoter 9-10, detractor 0-6
    CES = "ces"  # 1-7, mean
    ESAT = "esat"  # 1-5 from agents about their own work, mean


class TicketEventType(StrEnum):
    CREATED = "ticket.created"
    REPLIED = "ticket.replied"
    ESCALATED = "ticket.escalated"
    SOLVED = "ticket.solved"
    REOPENED = "ticket.reopened"
    CLOSED = "ticket.closed"


AGENT_STATE_CHANGED = "agent.state_changed"
SURVEY_SUBMITTED = "survey.submitted"
STREAM_WATERMARK = "stream.watermark"

# Event types of the contract other than contact.*.
NON_CONTACT_EVENT_TYPES: frozenset[str] = frozenset(
    {AGENT_STATE_CHANGED, SURVEY_SUBMITTED, STREAM_WATERMARK} | {t.value for t in TicketEventType}
)


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """One step in a contact's life.

    ``queue`` and ``channel`` are required on ``contact.queued`` and optional
    elsewhere; ``agent_id`` is required on ``contact.answered`` and ``reason``
    on ``contact.flowed_out`` (the only type it is kept for).
    ``customer_id`` never leaves the worker in clear text.
    """

    event_id: str
    type: ContactEventType
    ts_ms: int
    contact_id: str
    queue: str | None = None
    channel: Channel | None = None
    agent_id: str | None = None
    reason: FlowOutReason | None = None
    priority: int | None = None
    customer_id: str | None = None
    to_queue: str | None = None
    resolved: bool | None = None
    disposition: str | None = None
    source: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """``agent.state_changed``: from ``ts_ms`` on, the agent is in ``state``."""

    event_id: str
    ts_ms: int
    agent_id: str
    state: AgentState
    reason: str | None = None
    queues: tuple[str, ...] = ()
    team: str | None = None
    source: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A step in a ticket's life. ``queue`` and ``channel`` are required on ``ticket.created``;
    ``agent_id`` and ``public`` on ``ticket.replied``."""

    event_id: str
    type: TicketEventType
    ts_ms: int
    ticket_id: str
    queue: str | None = None
    channel: Channel | None = None
    agent_id: str | None = None
    public: bool | None = None
    source: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class SurveyEvent:
    """``survey.submitted``: a score for a contact or a ticket.

    Queue, channel and agent are taken from the rated contact/ticket when not
    given here.
    """

    event_id: str
    ts_ms: int
    kind: SurveyKind
    score: float
    contact_id: str | None = None
    ticket_id: str | None = None
    queue: str | None = None
    channel: Channel | None = None
    agent_id: str | None = None
    source: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class WatermarkEvent:
    """``stream.watermark``: advances stream time on its partition; nothing else."""

    event_id: str
    ts_ms: int


CanonicalEvent = ContactEvent | AgentEvent | TicketEvent | SurveyEvent | WatermarkEvent
