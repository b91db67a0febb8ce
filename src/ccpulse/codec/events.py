"""Decode and validate canonical events (SPEC section 2, ``schemas/``).

:func:`decode_event` returns the domain event of its type (contact, agent,
ticket, survey or watermark), accepting exactly the documents that
``schemas/event.schema.json`` accepts, or raises :class:`InvalidEvent` whose
``reason`` is one of :class:`RejectReason` (a bounded set: it becomes a metric
label and a dead-letter header). Messages never include field *values*, which
may be PII.

Fields the schema checks but the domain does not keep (a ticket's
``disposition`` and ``tags``, an agent or watermark event's ``source`` and
``tenant`` where the domain event has no place for them) are validated and
dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from enum import Enum, StrEnum
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from ccpulse.codec import json
from ccpulse.domain.events import (
    AGENT_STATE_CHANGED,
    STREAM_WATERMARK,
    SURVEY_SUBMITTED,
    AgentEvent,
    AgentState,
    CanonicalEvent,
    Channel,
    ContactEvent,
    ContactEventType,
    FlowOutReason,
    SurveyEvent,
    SurveyKind,
    TicketEvent,
    TicketEventType,
    WatermarkEvent,
)
from ccpulse.domain.surveys import SCORE_SCALES, score_problem

MAX_ID_LENGTH = 200
# Epoch-ms bounds that catch seconds-instead-of-milliseconds and garbage:
# 1990-01-01 .. 2200-01-01: history back to 1990 replays; epoch seconds (1970 as ms) do not pass.
MIN_TS_MS = 631_152_000_000
MAX_TS_MS = 7_258_118_400_000
MIN_INT32, MAX_INT32 = -(2**31), 2**31 - 1
# RFC 3339 date-time (section 5.6) with upper-case T and Z: seconds required,
# second 60 for a leap second, offsets +hh:mm only. Calendar validity (no
# 30 February) is left to datetime.fromisoformat.
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d):(?P<second>[0-5]\d|60)"
    r"(?P<fraction>\.\d+)?(?P<offset>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


class RejectReason(StrEnum):
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_VALUE = "bad_value"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_TYPE = "unknown_type"
    # Valid events the worker will not apply (SPEC section 5): older than the
    # retention, or further ahead of the wall clock than max_future_skew_s.
    LATE = "late"
    FUTURE = "future"


class InvalidEvent(ValueError):
    """The message is not a valid canonical event."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


DecodedEvent = CanonicalEvent
_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)

_CONTACT_TYPES = {member.value: member for member in ContactEventType}
_TICKET_TYPES = {member.value: member for member in TicketEventType}
_CHANNELS = {member.value: member for member in Channel}
_FLOW_OUT_REASONS = {member.value: member for member in FlowOutReason}
_AGENT_STATES = {member.value: member for member in AgentState}
_SURVEY_KINDS = {member.value: member for member in SurveyKind}


def member_by_value(enum: type[_E]) -> Callable[[Any], _E]:
    """``enum(value)`` as a dict lookup (several calls fewer); a value that is no member still raises
    ``ValueError`` through ``enum`` itself."""
    members: dict[Any, _E] = {member.value: member for member in enum}

    def member(value: Any) -> _E:
        try:
            return members[value]
        except (KeyError, TypeError):
            return enum(value)

    return member


def field_conversions(cls: type[Any]) -> dict[str, str]:
    """Each field of dataclass ``cls`` in order, with what makes it plain JSON: ``enum`` (its value),
    ``tuple`` (a list) or ``""`` (as it is), read from the type annotations."""
    hints = get_type_hints(cls)
    conversions: dict[str, str] = {}
    for spec in fields(cls):
        hint = hints[spec.name]
        kinds = get_args(hint) if get_origin(hint) in {Union, UnionType} else (hint,)
        if any(get_origin(kind) is tuple for kind in kinds):
            conversions[spec.name] = "tuple"
        elif any(isinstance(kind, type) and issubclass(kind, Enum) for kind in kinds):
            conversions[spec.name] = "enum"
        else:
            conversions[spec.name] = ""
    return conversions


def _compiled(lines: list[str], name: str, namespace: dict[str, Any]) -> Any:
    """The function ``name`` that ``lines`` define.

    Only for code written from a class's own field names, never from input,
    as :mod:`dataclasses` writes ``__init__``.
    """
    exec("\n".join(lines), namespace)  # noqa: S102
    return namespace[name]


def frozen_builder(cls: type[_T]) -> Callable[..., _T]:
    """A faster constructor of the frozen, slotted dataclass ``cls``: same parameters, equal instances.

    A frozen dataclass's ``__init__`` stores every field through
    ``object.__setattr__``, several times slower than a plain slot store, and
    the codec builds one or more such values per record. The builder stores
    the fields into an unfrozen twin class with the very same slots, then
    makes the object a ``cls`` (``__class__`` assignment between classes of
    identical layout), so what it returns is an ordinary ``cls`` instance.
    A class this does not fit (no slots, ``__post_init__``, fields outside
    ``__init__`` or with a default factory) gets ``cls`` itself.
    """
    specs = fields(cls)  # type: ignore[arg-type]
    names = tuple(spec.name for spec in specs)
    fits = (
        getattr(cls, "__slots__", None) == names
        and not hasattr(cls, "__post_init__")
        and all(spec.init and spec.default_factory is MISSING for spec in specs)
    )
    if not fits:
        return cls
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": names})
    if twin.__basicsize__ != cls.__basicsize__:
        return cls
    namespace: dict[str, Any] = {"cls": cls, "twin": twin, "new": object.__new__}
    parameters = []
    for spec in specs:
        if spec.default is MISSING:
            parameters.append(spec.name)
        else:
            namespace[f"default_{spec.name}"] = spec.default
            parameters.append(f"{spec.name}=default_{spec.name}")
    lines = [
        f"def build({', '.join(parameters)}):",
        "    built = new(twin)",
        *(f"    built.{name} = {name}" for name in names),
        "    built.__class__ = cls",
        "    return built",
    ]
    build: Callable[..., _T] = _compiled(lines, "build", namespace)
    return build


# The fast path calls these with positional arguments in field order (faster than keywords); the tests hold
# its events equal to the strict path's, built with keywords.
_NEW_CONTACT_EVENT = frozen_builder(ContactEvent)
_NEW_AGENT_EVENT = frozen_builder(AgentEvent)
_NEW_TICKET_EVENT = frozen_builder(TicketEvent)
_NEW_SURVEY_EVENT = frozen_builder(SurveyEvent)
_NEW_WATERMARK_EVENT = frozen_builder(WatermarkEvent)


@dataclass(frozen=True, slots=True)
class _Common:
    """The fields every event carries, already validated."""

    event_id: str
    type: str
    ts_ms: int
    source: str | None
    tenant: str | None


def decode_event(raw: bytes) -> DecodedEvent:
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as utf_exc:
            raise InvalidEvent(RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {utf_exc.start}") from exc
        raise InvalidEvent(RejectReason.NOT_JSON, str(exc)) from exc
    if not isinstance(document, dict):
        raise InvalidEvent(RejectReason.NOT_OBJECT, f"top level is a JSON {type(document).__name__}")
    return event_from_dict(document)


def event_from_dict(document: dict[str, Any]) -> DecodedEvent:
    """The event of a decoded JSON object, validated as :func:`decode_event` does.

    A well-formed document takes a fast path of direct type tests; whatever
    that path does not accept outright goes through the strict one, which
    alone decides what is wrong with it. Both accept the same documents and
    give the same events.
    """
    event = _fast_event(document)
    return _strict_event(document) if event is None else event


# --- fast path: well-formed documents only; None sends the document to the strict path --------------------------------


def _fast_event(document: dict[str, Any]) -> DecodedEvent | None:
    get = document.get
    event_type = get("type")
    event_id = get("event_id")
    source = get("source")
    tenant = get("tenant")
    if not (
        type(event_type) is str
        and type(event_id) is str
        and 0 < len(event_id) <= MAX_ID_LENGTH
        and (source is None or type(source) is str)
        and (tenant is None or type(tenant) is str)
    ):
        return None
    decode_fields = _FAST_DECODERS.get(event_type)
    ts = get("ts")
    ts_ms = ts if type(ts) is int else _fast_rfc3339_ms(ts) if type(ts) is str else None
    if decode_fields is None or ts_ms is None or not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        return None
    return decode_fields(document, event_type, event_id, ts_ms, source, tenant)


def _fast_contact(
    document: dict[str, Any], event_type: str, event_id: str, ts_ms: int, source: str | None, tenant: str | None
) -> ContactEvent | None:
    get = document.get
    contact_type, needs_place, needs_agent, reads_reason = _CONTACT_RULES[event_type]
    contact_id = get("contact_id")
    queue = get("queue")
    channel = get("channel")
    agent_id = get("agent_id")
    priority = get("priority")
    customer_id = get("customer_id")
    to_queue = get("to_queue")
    resolved = get("resolved")
    disposition = get("disposition")
    reason = _fast_member(_FLOW_OUT_REASONS, get("reason")) if reads_reason else None
    if (needs_place and (queue is None or channel is None)) or (needs_agent and agent_id is None):
        return None
    if reads_reason and reason is None:
        return None
    if channel is not None:
        channel = _fast_member(_CHANNELS, channel)
        if channel is None:
            return None
    if not (
        type(contact_id) is str
        and 0 < len(contact_id) <= MAX_ID_LENGTH
        and (queue is None or (type(queue) is str and 0 < len(queue) <= MAX_ID_LENGTH))
        and (agent_id is None or (type(agent_id) is str and 0 < len(agent_id) <= MAX_ID_LENGTH))
        and (customer_id is None or (type(customer_id) is str and 0 < len(customer_id) <= MAX_ID_LENGTH))
        and (to_queue is None or (type(to_queue) is str and 0 < len(to_queue) <= MAX_ID_LENGTH))
        and (priority is None or (type(priority) is int and MIN_INT32 <= priority <= MAX_INT32))
        and (resolved is None or type(resolved) is bool)
        and (disposition is None or type(disposition) is str)
    ):
        return None
    return _NEW_CONTACT_EVENT(
        event_id,
        contact_type,
        ts_ms,
        contact_id,
        queue,
        channel,
        agent_id,
        reason,
        priority,
        customer_id,
        to_queue,
        resolved,
        disposition,
        source,
        tenant,
    )


def _fast_agent(
    document: dict[str, Any], event_type: str, event_id: str, ts_ms: int, source: str | None, tenant: str | None
) -> AgentEvent | None:
    get = document.get
    agent_id = get("agent_id")
    state = _fast_member(_AGENT_STATES, get("state"))
    reason = get("reason")
    queues = get("queues")
    team = get("team")
    if not (
        type(agent_id) is str
        and 0 < len(agent_id) <= MAX_ID_LENGTH
        and state is not None
        and (reason is None or type(reason) is str)
        and (team is None or (type(team) is str and 0 < len(team) <= MAX_ID_LENGTH))
    ):
        return None
    if queues is None:
        queues = ()
    elif type(queues) is list:
        for queue in queues:
            if type(queue) is not str or not 0 < len(queue) <= MAX_ID_LENGTH:
                return None
        queues = tuple(queues)
    else:
        return None
    return _NEW_AGENT_EVENT(event_id, ts_ms, agent_id, state, reason, queues, team, source, tenant)


def _fast_ticket(
    document: dict[str, Any], event_type: str, event_id: str, ts_ms: int, source: str | None, tenant: str | None
) -> TicketEvent | None:
    get = document.get
    ticket_type = _TICKET_TYPES[event_type]
    ticket_id = get("ticket_id")
    queue = get("queue")
    channel = _fast_member(_CHANNELS, get("channel"))
    agent_id = get("agent_id")
    disposition = get("disposition")
    tags = get("tags")
    public = None
    if ticket_type is TicketEventType.REPLIED:
        public = get("public")
        if agent_id is None or type(public) is not bool:
            return None
    if not (
        type(ticket_id) is str
        and 0 < len(ticket_id) <= MAX_ID_LENGTH
        and type(queue) is str
        and 0 < len(queue) <= MAX_ID_LENGTH
        and channel is not None
        and (agent_id is None or (type(agent_id) is str and 0 < len(agent_id) <= MAX_ID_LENGTH))
        and (disposition is None or type(disposition) is str)
    ):
        return None
    if tags is not None:
        if type(tags) is not list:
            return None
        for tag in tags:
            if type(tag) is not str:
                return None
    return _NEW_TICKET_EVENT(event_id, ticket_type, ts_ms, ticket_id, queue, channel, agent_id, public, source, tenant)


def _fast_survey(
    document: dict[str, Any], event_type: str, event_id: str, ts_ms: int, source: str | None, tenant: str | None
) -> SurveyEvent | None:
    get = document.get
    kind = _fast_member(_SURVEY_KINDS, get("kind"))
    score = get("score")
    contact_id = get("contact_id")
    ticket_id = get("ticket_id")
    queue = get("queue")
    channel = get("channel")
    agent_id = get("agent_id")
    if kind is None or (type(score) is not float and type(score) is not int):
        return None
    low, high = SCORE_SCALES[kind]
    if channel is not None:
        channel = _fast_member(_CHANNELS, channel)
        if channel is None:
            return None
    if not (
        low <= score <= high
        and (contact_id is not None or ticket_id is not None)
        and (contact_id is None or (type(contact_id) is str and 0 < len(contact_id) <= MAX_ID_LENGTH))
        and (ticket_id is None or (type(ticket_id) is str and 0 < len(ticket_id) <= MAX_ID_LENGTH))
        and (queue is None or (type(queue) is str and 0 < len(queue) <= MAX_ID_LENGTH))
        and (agent_id is None or (type(agent_id) is str and 0 < len(agent_id) <= MAX_ID_LENGTH))
    ):
        return None
    return _NEW_SURVEY_EVENT(
        event_id, ts_ms, kind, float(score), contact_id, ticket_id, queue, channel, agent_id, source, tenant
    )


def _fast_watermark(
    document: dict[str, Any], event_type: str, event_id: str, ts_ms: int, source: str | None, tenant: str | None
) -> WatermarkEvent:
    return _NEW_WATERMARK_EVENT(event_id=event_id, ts_ms=ts_ms)


def _fast_member(members: dict[str, Any], value: Any) -> Any:
    """The enum member named ``value``, or None (also for a value that is not a string, or unhashable)."""
    return members.get(value) if type(value) is str else None


# contact type -> (member, queue and channel required, agent_id required, reason read and required)
_CONTACT_RULES = {
    name: (
        member,
        member is ContactEventType.QUEUED,
        member is ContactEventType.ANSWERED,
        member is ContactEventType.FLOWED_OUT,
    )
    for name, member in _CONTACT_TYPES.items()
}
_FastDecoder = Callable[[dict[str, Any], str, str, int, str | None, str | None], DecodedEvent | None]
_FAST_DECODERS: dict[str, _FastDecoder] = {
    **dict.fromkeys(_CONTACT_TYPES, _fast_contact),
    **dict.fromkeys(_TICKET_TYPES, _fast_ticket),
    AGENT_STATE_CHANGED: _fast_agent,
    SURVEY_SUBMITTED: _fast_survey,
    STREAM_WATERMARK: _fast_watermark,
}

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CACHE_SIZE = 4096
# Events of a stream share few seconds and fewer minutes, so the date arithmetic is done once per minute and
# the rest once per second. Keys are validated ASCII text only; each cache is cleared when full.
_minute_ms_cache: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> epoch ms of that minute read as UTC
_second_ms_cache: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch ms of that second read as UTC
_MILLIS = {f"{ms:03d}": ms for ms in range(1000)}


def _fast_rfc3339_ms(text: str) -> int | None:
    """Epoch ms of an RFC 3339 date-time in ASCII digits, or None for anything else (left to the strict parser).

    ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of any length (truncated
    to milliseconds), then ``Z`` or ``+hh:mm`` / ``-hh:mm``; second 60 is a
    leap second, one second after second 59. The calendar is checked, the
    1990..2200 range is not.
    """
    if len(text) == 24 and text[23] == "Z" and text[19] == ".":  # the common shape: milliseconds in UTC
        second_ms = _second_ms_cache.get(text[:19])
        millis = _MILLIS.get(text[20:23])
        if second_ms is not None and millis is not None:
            return second_ms + millis
    if len(text) < 20 or not text.isascii():
        return None
    second_ms = _second_ms(text[:19])
    zone = text[-1:] if text[-1] == "Z" else text[-6:]
    offset_ms = _offset_ms(zone)
    fraction = text[19 : len(text) - len(zone)]
    if second_ms is None or offset_ms is None:
        return None
    if not fraction:
        return second_ms - offset_ms
    if fraction[0] != "." or not fraction[1:].isdigit():
        return None
    return second_ms - offset_ms + int(fraction[1:4].ljust(3, "0"))


def _offset_ms(zone: str) -> int | None:
    """Milliseconds east of UTC of ``Z`` or ``+hh:mm`` / ``-hh:mm`` (hh 00..23, mm 00..59); None for anything else."""
    if zone == "Z":
        return 0
    hours, minutes = zone[1:3], zone[4:]
    if not (
        len(zone) == 6
        and zone[0] in "+-"
        and zone[3] == ":"
        and hours.isdigit()
        and minutes.isdigit()
        and hours <= "23"
        and minutes <= "59"
    ):
        return None
    offset_ms = (int(hours) * 60 + int(minutes)) * 60_000
    return offset_ms if zone[0] == "+" else -offset_ms


def _second_ms(second: str) -> int | None:
    """Epoch ms of ASCII ``YYYY-MM-DDTHH:MM:SS`` read as UTC (cached), or None if it is no calendar second."""
    known = _second_ms_cache.get(second)
    if known is not None:
        return known
    if second[16] != ":" or not second[17:].isdigit() or second[17:] > "60":
        return None
    minute_ms = _minute_ms_cache.get(second[:16])
    if minute_ms is None:
        minute_ms = _minute_ms(second[:16])
        if minute_ms is None:
            return None
    ms = minute_ms + int(second[17:]) * 1000
    _cache(_second_ms_cache, second, ms)
    return ms


def _cache(cache: dict[str, int], key: str, ms: int) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = ms


def _minute_ms(minute: str) -> int | None:
    """Epoch ms of ASCII ``YYYY-MM-DDTHH:MM`` read as UTC, or None if it is no calendar minute."""
    digits = (minute[:4], minute[5:7], minute[8:10], minute[11:13], minute[14:16])
    if minute[4] != "-" or minute[7] != "-" or minute[10] != "T" or minute[13] != ":":
        return None
    if not all(part.isdigit() for part in digits):
        return None
    year, month, day, hour, minute_of_hour = map(int, digits)
    if hour > 23 or minute_of_hour > 59:
        return None
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    ms = ((days * 24 + hour) * 60 + minute_of_hour) * 60_000
    _cache(_minute_ms_cache, minute, ms)
    return ms


# --- strict path: every check in the order the reasons are decided ----------------------------------------------------


def _strict_event(document: dict[str, Any]) -> DecodedEvent:
    event_id = _identifier(document, "event_id")
    event_type = _required(document, "type", str)
    ts_ms = parse_ts(_required(document, "ts", (int, float, str)))
    decode_fields = _decoder_for(event_type)
    if decode_fields is None:
        # The value itself stays out of the message: it lands in logs and headers.
        raise InvalidEvent(RejectReason.UNKNOWN_TYPE, "type is not part of the contract")
    common = _Common(
        event_id=event_id,
        type=event_type,
        ts_ms=ts_ms,
        source=_field(document, "source", str, required=False),
        tenant=_field(document, "tenant", str, required=False),
    )
    return decode_fields(document, common)


_FieldsDecoder = Callable[[dict[str, Any], _Common], DecodedEvent]


def _decoder_for(event_type: str) -> _FieldsDecoder | None:
    if event_type in _CONTACT_TYPES:
        return _contact_event
    if event_type in _TICKET_TYPES:
        return _ticket_event
    others: dict[str, _FieldsDecoder] = {
        AGENT_STATE_CHANGED: _agent_event,
        SURVEY_SUBMITTED: _survey_event,
        STREAM_WATERMARK: _watermark_event,
    }
    return others.get(event_type)


def _contact_event(document: dict[str, Any], common: _Common) -> ContactEvent:
    contact_type = _CONTACT_TYPES[common.type]
    queued = contact_type is ContactEventType.QUEUED
    flowed_out = contact_type is ContactEventType.FLOWED_OUT
    channel_name = _field(document, "channel", str, required=queued)
    # `reason` belongs to flowed_out; other systems put free text there on other
    # types (a hang-up cause), which is theirs to send and ours to ignore.
    reason_name = _field(document, "reason", str, required=True) if flowed_out else None
    return ContactEvent(
        event_id=common.event_id,
        type=contact_type,
        ts_ms=common.ts_ms,
        contact_id=_identifier(document, "contact_id"),
        queue=_identifier(document, "queue", required=queued),
        channel=None if channel_name is None else _member(_CHANNELS, "channel", channel_name),
        agent_id=_identifier(document, "agent_id", required=contact_type is ContactEventType.ANSWERED),
        reason=None if reason_name is None else _member(_FLOW_OUT_REASONS, "reason", reason_name),
        priority=_integer(document, "priority"),
        customer_id=_identifier(document, "customer_id", required=False),
        to_queue=_identifier(document, "to_queue", required=False),
        resolved=_field(document, "resolved", bool, required=False),
        disposition=_field(document, "disposition", str, required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _agent_event(document: dict[str, Any], common: _Common) -> AgentEvent:
    return AgentEvent(
        event_id=common.event_id,
        ts_ms=common.ts_ms,
        agent_id=_identifier(document, "agent_id"),
        state=_member(_AGENT_STATES, "state", _required(document, "state", str)),
        reason=_field(document, "reason", str, required=False),
        queues=_identifiers(document, "queues"),
        team=_identifier(document, "team", required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _ticket_event(document: dict[str, Any], common: _Common) -> TicketEvent:
    ticket_type = _TICKET_TYPES[common.type]
    replied = ticket_type is TicketEventType.REPLIED
    event = TicketEvent(
        event_id=common.event_id,
        type=ticket_type,
        ts_ms=common.ts_ms,
        ticket_id=_identifier(document, "ticket_id"),
        queue=_identifier(document, "queue"),
        channel=_member(_CHANNELS, "channel", _required(document, "channel", str)),
        agent_id=_identifier(document, "agent_id", required=replied),
        # `public` is part of ticket.replied only; elsewhere it is the producer's to send.
        public=_field(document, "public", bool, required=True) if replied else None,
        source=common.source,
        tenant=common.tenant,
    )
    # Checked as the schema does, not kept: the ticket lifecycle does not read them yet.
    _field(document, "disposition", str, required=False)
    _strings(document, "tags")
    return event


def _survey_event(document: dict[str, Any], common: _Common) -> SurveyEvent:
    kind = _member(_SURVEY_KINDS, "kind", _required(document, "kind", str))
    score = _required(document, "score", (int, float))
    contact_id = _identifier(document, "contact_id", required=False)
    ticket_id = _identifier(document, "ticket_id", required=False)
    if contact_id is None and ticket_id is None:
        raise InvalidEvent(RejectReason.MISSING_FIELD, "contact_id or ticket_id is required")
    channel_name = _field(document, "channel", str, required=False)
    problem = score_problem(kind, score)
    if problem is not None:
        raise InvalidEvent(RejectReason.BAD_VALUE, problem)
    return SurveyEvent(
        event_id=common.event_id,
        ts_ms=common.ts_ms,
        kind=kind,
        score=float(score),
        contact_id=contact_id,
        ticket_id=ticket_id,
        queue=_identifier(document, "queue", required=False),
        channel=None if channel_name is None else _member(_CHANNELS, "channel", channel_name),
        agent_id=_identifier(document, "agent_id", required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _watermark_event(document: dict[str, Any], common: _Common) -> WatermarkEvent:
    return WatermarkEvent(event_id=common.event_id, ts_ms=common.ts_ms)


def parse_ts(value: int | float | str) -> int:
    """Event time as epoch ms, from epoch ms or an RFC 3339 string with offset.

    A JSON number with a zero fraction (``1709284500000.0``, ``1.7092845e12``)
    is an integer in JSON Schema's eyes, so it is accepted as one. A leap
    second (``23:59:60``) is the instant one second after ``23:59:59``.
    """
    if isinstance(value, bool):
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts in milliseconds must be a whole number")
        value = int(value)
    ts_ms = value if isinstance(value, int) else _parse_rfc3339_ms(value)
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise InvalidEvent(
            RejectReason.BAD_TIMESTAMP, "ts is outside 1990..2200 (epoch seconds instead of milliseconds?)"
        )
    return ts_ms


def _parse_rfc3339_ms(text: str) -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is not an RFC 3339 date-time with offset")
    leap_ms = 1000 if match["second"] == "60" else 0
    offset = "+00:00" if match["offset"] == "Z" else match["offset"]
    second = "59" if leap_ms else match["second"]
    iso = f"{match['date']}T{match['hour']}:{match['minute']}:{second}{match['fraction'] or ''}{offset}"
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is not a calendar date") from exc
    delta = parsed - datetime.fromtimestamp(0, parsed.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000 + leap_ms


def _required(document: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = _field(document, name, kind, required=True)
    assert value is not None
    return value


def _field(document: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool) -> Any:
    value = document.get(name)
    if value is None:
        if required:
            raise InvalidEvent(RejectReason.MISSING_FIELD, f"{name} is required")
        return None
    # bool is an int subclass in Python; JSON true is never a number.
    is_stray_bool = isinstance(value, bool) and kind is not bool
    if is_stray_bool or not isinstance(value, kind):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} has type {type(value).__name__}")
    return value


def _integer(document: dict[str, Any], name: str) -> int | None:
    """An optional 32-bit integer; a whole-valued JSON float (``2.0``) counts, as in JSON Schema."""
    value = _field(document, name, (int, float), required=False)
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must be a whole number")
    if not MIN_INT32 <= value <= MAX_INT32:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be within -2^31 .. 2^31-1")
    return int(value)


def _identifier(document: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = _field(document, name, str, required=required)
    return None if value is None else _check_identifier(name, value)


def _check_identifier(name: str, value: Any) -> str:
    """An identifier is a string of 1..200 characters (code points, as JSON Schema counts them)."""
    if not isinstance(value, str):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must hold strings")
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be 1..{MAX_ID_LENGTH} characters")
    return value


def _identifiers(document: dict[str, Any], name: str) -> tuple[str, ...]:
    """An optional array of identifiers, as a tuple in the order given (absent or null: empty)."""
    return tuple(_check_identifier(name, item) for item in _array(document, name))


def _strings(document: dict[str, Any], name: str) -> tuple[str, ...]:
    """An optional array of free-text strings (absent or null: empty)."""
    items = _array(document, name)
    if not all(isinstance(item, str) for item in items):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must be an array of strings")
    return tuple(items)


def _array(document: dict[str, Any], name: str) -> list[Any]:
    value = _field(document, name, list, required=False)
    return [] if value is None else value


def _member(members: dict[str, Any], name: str, value: str) -> Any:
    member = members.get(value)
    if member is None:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be one of {', '.join(members)}")
    return member


def encode_contact_event(event: ContactEvent) -> bytes:
    """Canonical compact form of a contact event (see :func:`encode_event`)."""
    return encode_event(event)


def encode_event(event: CanonicalEvent) -> bytes:
    """Canonical compact form (ts as epoch ms, no empty fields) for internal topics.

    :func:`decode_event` reads it back to an equal event.
    """
    return json.dumps(event_document(event))


def event_document(event: CanonicalEvent) -> dict[str, Any]:
    """The document :func:`encode_event` writes, as plain JSON values (strings, numbers, booleans, lists).

    ``event_id``, ``type`` and ``ts`` first, then every other field that is
    set, in declaration order; enums by value, tuples as lists (an empty one
    left out).
    """
    return _DOCUMENT_OF[type(event)](event)


def _document_writer(cls: type[Any], type_name: str | None) -> Callable[[Any], dict[str, Any]]:
    """:func:`event_document` for one event class, written out field by field (a loop costs more than the encoding).

    ``type_name`` is the event's type, or None to write its ``type`` field.
    """
    lines = [
        "def write(event):",
        f"    document = {{'event_id': event.event_id, 'type': {'type_name' if type_name else 'event.type.value'}, "
        "'ts': event.ts_ms}",
    ]
    for name, conversion in field_conversions(cls).items():
        if name in {"event_id", "type", "ts_ms"}:
            continue
        if conversion == "tuple":
            lines += [f"    if event.{name}:", f"        document[{name!r}] = list(event.{name})"]
            continue
        lines += [
            f"    if event.{name} is not None:",
            f"        document[{name!r}] = event.{name}{'.value' if conversion == 'enum' else ''}",
        ]
    lines.append("    return document")
    write: Callable[[Any], dict[str, Any]] = _compiled(lines, "write", {"type_name": type_name})
    return write


_DOCUMENT_OF: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
    ContactEvent: _document_writer(ContactEvent, None),
    AgentEvent: _document_writer(AgentEvent, AGENT_STATE_CHANGED),
    TicketEvent: _document_writer(TicketEvent, None),
    SurveyEvent: _document_writer(SurveyEvent, SURVEY_SUBMITTED),
    WatermarkEvent: _document_writer(WatermarkEvent, STREAM_WATERMARK),
}
