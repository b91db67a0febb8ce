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


# Event types of the contract that a contact-outcome consumer recognises but
# does not act on; they are valid input, not dead letters.
NON_CONTACT_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "agent.state_changed",
        "ticket.created",
        "ticket.replied",
        "ticket.escalated",
        "ticket.solved",
        "ticket.reopened",
        "ticket.closed",
        "survey.submitted",
        "stream.watermark",
    }
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
