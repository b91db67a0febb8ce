"""Handling segments of one contact: answer, talk with holds, end, after-contact work.

A *handling segment* starts when an agent answers (``contact.answered``) and
is complete when that agent's wrap-up ends (``contact.wrapup_ended``) or the
ACW timeout passes. SPEC section 3 rules, applied to the *set* of events seen
(never to their arrival order):

- The conversation of a segment ends at the first ``contact.ended`` or
  ``contact.transferred`` at or after the answer, of the same agent when the
  end names one.
- Holds belong to the segment in conversation at their time (the same agent
  when named); a start opens a hold, an end closes the open one, a hold still
  open at the conversation end closes there. talk = ended - answered - hold.
- A wrap-up belongs to a segment of its agent whose conversation ended at or
  before it: the one in the wrap-up's queue if several await wrap-up, else the
  most recent. acw = wrapup - ended.
- With no wrap-up by ``ended + acw_timeout`` the segment completes there with
  acw = timeout (``acw_timed_out``); a wrap-up at or after that instant counts
  as the timeout too, so it changes nothing.

Only the timeout depends on time: a segment whose wrap-up has not arrived is
complete once stream time reaches ``ended + acw_timeout``. A wrap-up stamped
before that instant but delivered after the timeout fired replaces the
timeout fact (the engine retracts it), so the final facts do not depend on
arrival order; SPEC's "a wrap-up arriving after its segment timed out changes
nothing" is read in event time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from sys import intern
from typing import TypeVar

from ccpulse.domain.events import Channel, ContactEvent, ContactEventType
from ccpulse.domain.facts import HandlingFact


@dataclass(frozen=True, slots=True, order=True)
class AnswerMark:
    ts_ms: int
    agent_id: str
    event_id: str


@dataclass(frozen=True, slots=True, order=True)
class EndMark:
    """``contact.ended`` or ``contact.transferred``."""

    ts_ms: int
    event_id: str
    agent_id: str | None
    transferred: bool
    resolved: bool | None


@dataclass(frozen=True, slots=True, order=True)
class HoldMark:
    ts_ms: int
    event_id: str
    agent_id: str | None
    started: bool


@dataclass(frozen=True, slots=True, order=True)
class WrapupMark:
    ts_ms: int
    event_id: str
    agent_id: str | None
    queue: str | None
    disposition: str | None
    resolved: bool | None


@dataclass(frozen=True, slots=True)
class HandlingState:
    """The handling-relevant events of one contact, each kind as a sorted set."""

    answers: tuple[AnswerMark, ...] = ()
    ends: tuple[EndMark, ...] = ()
    holds: tuple[HoldMark, ...] = ()
    wrapups: tuple[WrapupMark, ...] = ()


Mark = TypeVar("Mark", AnswerMark, EndMark, HoldMark, WrapupMark)


def _insert(marks: tuple[Mark, ...], mark: Mark) -> tuple[Mark, ...]:
    if any(existing.event_id == mark.event_id for existing in marks):
        return marks
    merged = list(marks)
    merged.append(mark)
    if marks and mark < marks[-1]:  # usually the latest mark: appended, it is already in order
        merged.sort()
    return tuple(merged)


# Members read once: every attribute read on an enum class goes through its metaclass (slow).
_ANSWERED, _ENDED, _TRANSFERRED, _HOLD_STARTED, _HOLD_ENDED, _WRAPUP_ENDED = (
    ContactEventType.ANSWERED,
    ContactEventType.ENDED,
    ContactEventType.TRANSFERRED,
    ContactEventType.HOLD_STARTED,
    ContactEventType.HOLD_ENDED,
    ContactEventType.WRAPUP_ENDED,
)


def add_handling_event(state: HandlingState, event: ContactEvent) -> HandlingState:
    """Record one event; events that are not about handling leave the state as it is."""
    kind = event.type
    if kind is _ANSWERED:
        if event.agent_id is None:
            raise ValueError(f"{kind} needs agent_id (event {event.event_id})")
        answers = _insert(state.answers, AnswerMark(event.ts_ms, intern(event.agent_id), event.event_id))
        return HandlingState(answers, state.ends, state.holds, state.wrapups)
    if kind is _ENDED or kind is _TRANSFERRED:
        agent_id = _shared(event.agent_id)
        mark = EndMark(event.ts_ms, event.event_id, agent_id, kind is _TRANSFERRED, event.resolved)
        return HandlingState(state.answers, _insert(state.ends, mark), state.holds, state.wrapups)
    if kind is _HOLD_STARTED or kind is _HOLD_ENDED:
        hold = HoldMark(event.ts_ms, event.event_id, _shared(event.agent_id), kind is _HOLD_STARTED)
        return HandlingState(state.answers, state.ends, _insert(state.holds, hold), state.wrapups)
    if kind is _WRAPUP_ENDED:
        wrapup = WrapupMark(
            event.ts_ms,
            event.event_id,
            _shared(event.agent_id),
            _shared(event.queue),
            event.disposition,
            event.resolved,
        )
        return HandlingState(state.answers, state.ends, state.holds, _insert(state.wrapups, wrapup))
    return state


def _shared(name: str | None) -> str | None:
    """One string object per agent or queue name: every decoded event brings its own copy,
    and marks live as long as their contact (hours), many per agent and queue."""
    return None if name is None else intern(name)


@dataclass(frozen=True, slots=True)
class SegmentPlace:
    """Where a segment's contact waited: the queue stint its answer belongs to."""

    queue: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class Conversation:
    """A segment as far as it is known: ``end`` is None while the agent still talks."""

    answer: AnswerMark
    place: SegmentPlace
    end: EndMark | None
    hold_ms: int
    hold_count: int


def conversations(state: HandlingState, place_at: Callable[[int], SegmentPlace | None]) -> list[Conversation]:
    """Every answered segment whose queue is known, with its conversation end and holds."""
    found: list[Conversation] = []
    used_ends: set[str] = set()
    answers = state.answers
    for index, answer in enumerate(answers):
        place = place_at(answer.ts_ms)
        if place is None:
            continue  # the stint's contact.queued has not arrived yet
        # Answers are sorted, so the next one (if any) is the next in time.
        next_answer_ts = answers[index + 1].ts_ms if index + 1 < len(answers) else None
        end = _conversation_end(state, answer, next_answer_ts, used_ends)
        if end is not None:
            used_ends.add(end.event_id)
        hold_ms, hold_count = _holds(state, answer, end)
        found.append(Conversation(answer, place, end, hold_ms, hold_count))
    return found


def _conversation_end(
    state: HandlingState, answer: AnswerMark, next_answer_ts: int | None, used: set[str]
) -> EndMark | None:
    for end in state.ends:
        if end.ts_ms < answer.ts_ms or end.event_id in used:
            continue
        if end.agent_id is not None and end.agent_id != answer.agent_id:
            continue
        if end.agent_id is None and next_answer_ts is not None and end.ts_ms >= next_answer_ts:
            return None  # an anonymous end after the next answer belongs to that one
        return end
    return None


def _holds(state: HandlingState, answer: AnswerMark, end: EndMark | None) -> tuple[int, int]:
    """Total hold time and number of holds inside ``[answer, end]`` for this agent."""
    stop_ms = end.ts_ms if end is not None else None
    total_ms = 0
    count = 0
    open_since: int | None = None
    for hold in state.holds:
        if hold.ts_ms < answer.ts_ms or (stop_ms is not None and hold.ts_ms > stop_ms):
            continue
        if hold.agent_id is not None and hold.agent_id != answer.agent_id:
            continue
        if hold.started and open_since is None:
            open_since = hold.ts_ms
        elif not hold.started and open_since is not None:
            total_ms += hold.ts_ms - open_since
            count += 1
            open_since = None
    if open_since is not None and stop_ms is not None:
        total_ms += stop_ms - open_since  # a hold still open when the conversation ends closes there
        count += 1
    return total_ms, count


# Every ended segment's fact, with the stream time from which it counts (None: it counts at once).
# A segment still in after-contact work has the fact it gets at its ACW deadline, due then.
HandlingReading = tuple[tuple[HandlingFact, int | None], ...]


def read_handling(
    contact_id: str,
    state: HandlingState,
    place_at: Callable[[int], SegmentPlace | None],
    acw_timeout_ms: Callable[[str], int],
    *,
    customer_key: str | None = None,
) -> HandlingReading:
    """What every ended segment yields, at any stream time: see :func:`facts_at` and :func:`pending_timeout_ms`.

    Only the ACW timeout depends on time, so one reading of the state serves
    every stream time it is asked about.
    """
    ended = [c for c in conversations(state, place_at) if c.end is not None]
    wrapup_of = _assign_wrapups(state, ended)
    reading: list[tuple[HandlingFact, int | None]] = []
    for conversation in ended:
        end = conversation.end
        assert end is not None
        deadline_ms = end.ts_ms + acw_timeout_ms(conversation.place.queue)
        wrapup = wrapup_of.get(conversation.answer.event_id)
        due_ms: int | None = None
        if wrapup is not None and wrapup.ts_ms < deadline_ms:
            completed_ms, timed_out = wrapup.ts_ms, False
        else:  # a wrap-up at or after the deadline counts as the timeout too
            completed_ms, timed_out = deadline_ms, True
            if wrapup is None:
                due_ms = deadline_ms  # still in after-contact work until then
        resolved = wrapup.resolved if wrapup is not None and wrapup.resolved is not None else end.resolved
        fact = HandlingFact(
            contact_id=contact_id,
            queue=conversation.place.queue,
            channel=conversation.place.channel,
            agent_id=conversation.answer.agent_id,
            answered_ts_ms=conversation.answer.ts_ms,
            ended_ts_ms=end.ts_ms,
            completed_ts_ms=completed_ms,
            hold_ms=conversation.hold_ms,
            hold_count=conversation.hold_count,
            acw_timed_out=timed_out,
            transferred=end.transferred,
            resolved=resolved,
            disposition=wrapup.disposition if wrapup is not None else None,
            customer_key=customer_key,
        )
        reading.append((fact, due_ms))
    return tuple(reading)


def facts_at(reading: HandlingReading, now_ms: int) -> dict[str, HandlingFact]:
    """Completed segments by fact id, as of stream time ``now_ms``."""
    return {fact.fact_id: fact for fact, due_ms in reading if due_ms is None or now_ms >= due_ms}


def pending_timeout_ms(reading: HandlingReading, after_ms: int) -> int | None:
    """The earliest ACW deadline after ``after_ms`` of a segment with no wrap-up, if any."""
    pending = [due_ms for _, due_ms in reading if due_ms is not None and due_ms > after_ms]
    return min(pending) if pending else None


def handling_facts(
    contact_id: str,
    state: HandlingState,
    place_at: Callable[[int], SegmentPlace | None],
    acw_timeout_ms: Callable[[str], int],
    now_ms: int,
    *,
    customer_key: str | None = None,
) -> dict[str, HandlingFact]:
    """Completed segments by fact id, as of stream time ``now_ms``."""
    return facts_at(read_handling(contact_id, state, place_at, acw_timeout_ms, customer_key=customer_key), now_ms)


def _assign_wrapups(state: HandlingState, ended: list[Conversation]) -> dict[str, WrapupMark]:
    """Answer event id -> the wrap-up that completes that segment (SPEC section 3 rule)."""
    assigned: dict[str, WrapupMark] = {}
    for wrapup in state.wrapups:
        awaiting = [
            c
            for c in ended
            if c.end is not None
            and c.end.ts_ms <= wrapup.ts_ms
            and c.answer.event_id not in assigned
            and (wrapup.agent_id is None or c.answer.agent_id == wrapup.agent_id)
        ]
        if not awaiting:
            continue
        in_queue = [c for c in awaiting if wrapup.queue is not None and c.place.queue == wrapup.queue]
        chosen = max(in_queue or awaiting, key=lambda c: (c.end.ts_ms if c.end else 0, c.answer))
        assigned[chosen.answer.event_id] = wrapup
    return assigned


def next_timeout_ms(
    state: HandlingState,
    place_at: Callable[[int], SegmentPlace | None],
    acw_timeout_ms: Callable[[str], int],
    after_ms: int,
) -> int | None:
    """The earliest stream time after ``after_ms`` at which a segment completes by timeout, if any.

    Timeouts at or before ``after_ms`` are already part of the facts computed
    at that time, so they are not pending any more.
    """
    return pending_timeout_ms(read_handling("", state, place_at, acw_timeout_ms), after_ms)
