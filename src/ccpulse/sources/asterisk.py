"""Asterisk ``queue_log`` onto the canonical event contract (SPEC section 2); docs/asterisk.md has the full table.

app_queue writes one line per event, ``epoch|callid|queue|agent|event|data1..data5``
(older versions write fewer data fields; ``NONE`` marks an absent queue, agent
or call). :func:`parse_line` turns a line into a :class:`QueueLogRecord` or a
:class:`QueueLogProblem`; :class:`QueueLogMapper` (pure, stateful) turns records
into canonical event dicts; :func:`iter_queue_log` reads or tails the file and
:func:`import_queue_log` feeds the events to an :class:`~ccpulse.sources.sink.EventSink`.

Mapping decisions, in brief:

- Times are the line's epoch (``ts`` in epoch ms). The waits Asterisk writes
  (CONNECT holdtime, ABANDON/EXIT* waittime) are only compared with the line
  times; disagreements over 1 s are counted (``wait_mismatches``).
- ENTERQUEUE -> ``contact.queued`` (queue, channel voice). The caller id is
  never put in an event: with ``customer_hash_key`` it becomes a keyed hash
  (HMAC-SHA256) in ``customer_id``; without one, or for anonymous callers,
  ``customer_id`` is left out.
- CONNECT -> ``contact.answered``; agent ids are the queue_log agent field as
  written (``PJSIP/1001``, ``Agent/1001`` or a member name), only trimmed.
- COMPLETECALLER/COMPLETEAGENT -> ``contact.ended``; TRANSFER, BLINDTRANSFER,
  ATTENDEDTRANSFER -> ``contact.transferred`` (no ``to_queue``: the target is
  an extension; a transfer into a queue shows up as a new ENTERQUEUE of the
  same call, which starts the next stint). queue_log has no wrap-up signal, so
  ``contact.wrapup_ended`` follows at end + ``wrapup_s`` (the member's
  wrapuptime; default 0: ACW 0), earlier if the agent answers another call or
  logs off first.
- ABANDON -> ``contact.abandoned``; EXITWITHTIMEOUT -> ``flowed_out`` reason
  ``timeout``; EXITWITHKEY -> ``key``; EXITEMPTY -> ``no_agents``.
- Agent presence is derived per agent from its lines and published as
  ``agent.state_changed`` whenever the derived (state, reason, queues)
  changes: logged out > busy (on a call) > acw (wrap-up pending) > away
  (paused in all its queues) > available. Queues are the memberships seen
  (ADDMEMBER, PAUSE/UNPAUSE per queue, and the queues the agent took calls in).
- RINGNOANSWER, RINGCANCELED, AGENTDUMP, SYSCOMPAT, CONFIGRELOAD, QUEUESTART
  and unknown events give no event and are counted by name (QUEUESTART also
  makes the mapper forget calls in flight: Asterisk restarted).
- Event ids are ``ast-<ts ms>-<n-th line of that ms>-<sha1 of the line>[:16]-<slot>``:
  the same file, or the same file with lines appended, gives the same ids, so
  the worker drops re-sent events; ids of one instant sort in line order, which
  is the engine's tie-break for agent states. ``contact_id`` is the callid.
- Lines that cannot be parsed or mapped become problems with their line
  number and a reason; a problem never quotes the line (it may hold a caller id).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import math
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ccpulse.codec.events import MAX_ID_LENGTH, MAX_TS_MS, MIN_TS_MS
from ccpulse.domain.engine import hash_customer_id
from ccpulse.domain.events import AGENT_STATE_CHANGED, AgentState, ContactEventType, FlowOutReason
from ccpulse.sources.sink import EventSink, Progress

SOURCE = "asterisk"
CHANNEL = "voice"
#: A wait Asterisk wrote may differ from the line times by the truncation to whole seconds.
WAIT_TOLERANCE_MS = 1_000
#: Problems kept with their line number; beyond that they are only counted.
MAX_PROBLEMS = 1_000
#: Distinct ignored event names counted by name; the rest under ``other``.
MAX_IGNORED_NAMES = 100
#: A call without a line for this long (log time) is forgotten: Asterisk lost it.
MAX_CALL_AGE_MS = 24 * 3_600_000
SWEEP_EVERY_MS = 10 * 60_000
#: How long the per-instant line counters are kept (lines are written in time order, give or take a second).
SAME_TS_MEMORY_MS = 10 * 60_000
#: In follow mode, a wrap-up due at T is released once the wall clock passes T plus this.
RELEASE_GRACE_MS = 5_000

# Fixed slot of each event a line can give, so a line's event keeps its id whatever else it gives.
SLOT_CONTACT = 0
SLOT_AGENT = 1
SLOT_WRAPUP = 2
SLOT_AGENT_AFTER_WRAPUP = 3
SLOT_OTHER_AGENTS = 4  # agents re-derived after QUEUESTART or a forgotten call: 4, 5, ...

_EPOCH = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?")
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_ABSENT = frozenset({"", "NONE"})
# Caller ids that name nobody: hashing them would make every anonymous caller one "repeat" customer.
_ANONYMOUS_CALLERS = frozenset({"", "unknown", "anonymous", "restricted", "private", "unavailable", "<unknown>"})

_OUTCOMES: dict[str, tuple[ContactEventType, FlowOutReason | None, int]] = {
    # queue_log event: (canonical type, flow-out reason, index of the waittime data field)
    "ABANDON": (ContactEventType.ABANDONED, None, 2),
    "EXITWITHTIMEOUT": (ContactEventType.FLOWED_OUT, FlowOutReason.TIMEOUT, 2),
    "EXITWITHKEY": (ContactEventType.FLOWED_OUT, FlowOutReason.KEY, 3),
    "EXITEMPTY": (ContactEventType.FLOWED_OUT, FlowOutReason.NO_AGENTS, 2),
}
_ENDS: dict[str, ContactEventType] = {
    "COMPLETECALLER": ContactEventType.ENDED,
    "COMPLETEAGENT": ContactEventType.ENDED,
    "TRANSFER": ContactEventType.TRANSFERRED,
    "BLINDTRANSFER": ContactEventType.TRANSFERRED,
    "ATTENDEDTRANSFER": ContactEventType.TRANSFERRED,
}
_LOGINS = frozenset({"AGENTLOGIN", "AGENTCALLBACKLOGIN"})
_LOGOFFS = frozenset({"AGENTLOGOFF", "AGENTCALLBACKLOGOFF"})
_AGENT_EVENTS = _LOGINS | _LOGOFFS | {"ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL"}
#: Known events that give no canonical event (counted by name, like unknown ones).
IGNORED_EVENTS = frozenset({"RINGNOANSWER", "RINGCANCELED", "AGENTDUMP", "SYSCOMPAT", "CONFIGRELOAD", "QUEUESTART"})


# -- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueLogRecord:
    """One parsed queue_log line. ``None`` stands for ``NONE`` or an empty field."""

    line_no: int
    ts_ms: int
    callid: str | None
    queue: str | None
    agent: str | None
    event: str  # upper case
    data: tuple[str, ...]
    digest: str  # sha1 of the line (without its line break), hex, first 16 characters

    def field(self, index: int) -> str:
        """Data field ``index`` (0 = data1), trimmed; ``""`` where an older Asterisk wrote fewer fields."""
        return self.data[index].strip() if index < len(self.data) else ""

    def seconds(self, index: int) -> int | None:
        """Data field ``index`` as whole seconds, None if absent or not a number."""
        text = self.field(index)
        return int(text) if text.isdigit() else None


@dataclass(frozen=True, slots=True)
class QueueLogProblem:
    """A line that could not be parsed or mapped. ``reason`` never quotes the line (caller ids are PII)."""

    line_no: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.reason}"


def _present(value: str) -> str | None:
    value = value.strip()
    return None if value in _ABSENT else value


def parse_line(line: str, line_no: int) -> QueueLogRecord | QueueLogProblem:
    """Parse one queue_log line (with or without its line break)."""
    text = line.rstrip("\r\n")
    fields = text.split("|")
    if len(fields) < 5:
        return QueueLogProblem(
            line_no, f"expected at least 5 '|'-separated fields (epoch|callid|queue|agent|event), found {len(fields)}"
        )
    epoch_text, callid, queue, agent, event, *data = fields
    epoch = _EPOCH.fullmatch(epoch_text.strip())
    if epoch is None:
        return QueueLogProblem(line_no, "the epoch (field 1) is not a number of seconds")
    fraction = (epoch.group(2) or "").ljust(3, "0")[:3]
    ts_ms = int(epoch.group(1)) * 1000 + int(fraction)
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        return QueueLogProblem(line_no, "the epoch (field 1) is outside 2000-01-01 .. 2200-01-01")
    name = event.strip()
    if _EVENT_NAME.fullmatch(name) is None:
        return QueueLogProblem(line_no, "the event name (field 5) is empty or not a queue_log event name")
    return QueueLogRecord(
        line_no=line_no,
        ts_ms=ts_ms,
        callid=_present(callid),
        queue=_present(queue),
        agent=_present(agent),
        event=name.upper(),
        data=tuple(data),
        digest=hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:16],  # noqa: S324 - an id, not security
    )


# -- statistics ---------------------------------------------------------------------------


@dataclass
class QueueLogStats:
    """What one run read and mapped."""

    lines: int = 0
    blank_lines: int = 0
    records: int = 0  # lines parsed
    events: Counter[str] = field(default_factory=Counter)  # events mapped, by canonical type
    ignored: Counter[str] = field(default_factory=Counter)  # lines giving no event by design, by queue_log event
    unchanged: Counter[str] = field(default_factory=Counter)  # agent lines that changed no derived state
    problems: list[QueueLogProblem] = field(default_factory=list)  # the first MAX_PROBLEMS
    problem_count: int = 0
    unmatched_calls: int = 0  # call lines for a call whose ENTERQUEUE (or CONNECT) was not seen
    wait_mismatches: int = 0  # Asterisk's holdtime/waittime disagrees with the line times by over 1 s
    forgotten_calls: int = 0  # calls dropped after QUEUESTART or MAX_CALL_AGE_MS without a line
    rejected: int = 0  # events the sink refused (its report has the reasons)
    rotations: int = 0  # follow mode: the file was replaced (log rotation)
    truncations: int = 0  # follow mode: the file was truncated in place (copytruncate)

    def add_problem(self, problem: QueueLogProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def count_ignored(self, event: str) -> None:
        if event in self.ignored or len(self.ignored) < MAX_IGNORED_NAMES:
            self.ignored[event] += 1
        else:
            self.ignored["other"] += 1

    def summary(self) -> str:
        def listing(counts: Counter[str]) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"

        lines = [
            f"{self.lines} lines read ({self.records} records, {self.blank_lines} blank), "
            f"{sum(self.events.values())} events mapped: {listing(self.events)}",
            f"ignored: {listing(self.ignored)}",
        ]
        if self.unchanged:
            lines.append(f"agent lines changing no state: {listing(self.unchanged)}")
        notes = [
            (self.unmatched_calls, "call lines for calls not seen entering a queue"),
            (self.wait_mismatches, "waits differing from the line times"),
            (self.forgotten_calls, "calls forgotten without an outcome"),
            (self.rejected, "events rejected by the sink"),
            (self.rotations, "log rotations followed"),
            (self.truncations, "truncations followed"),
        ]
        lines += [f"{count} {text}" for count, text in notes if count]
        if self.problem_count:
            lines.append(f"{self.problem_count} lines not mapped:")
            lines += [f"  {problem}" for problem in self.problems[:20]]
            if self.problem_count > 20:
                lines.append(f"  ... and {self.problem_count - 20} more")
        return "\n".join(lines)


# -- mapping ------------------------------------------------------------------------------


class MappedEvent(NamedTuple):
    """A canonical event (JSON-ready dict) and the queue_log line it came from."""

    line_no: int
    event: dict[str, Any]


class _Ref(NamedTuple):
    """Where an event comes from: its line number and the id prefix of that line."""

    line_no: int
    id_prefix: str

    def event_id(self, slot: int) -> str:
        return f"{self.id_prefix}-{slot}"


@dataclass(slots=True)
class _Call:
    queue: str
    queued_ms: int | None  # None: ENTERQUEUE not seen
    last_ms: int
    agent: str | None = None  # in conversation with


@dataclass(slots=True)
class _Wrapup:
    due_ms: int
    callid: str
    agent: str
    queue: str
    ref: _Ref
    done: bool = False


@dataclass(slots=True)
class _Agent:
    memberships: dict[str, bool] = field(default_factory=dict)  # queue -> paused
    logged_in: bool | None = None  # None: no AGENTLOGIN/AGENTLOGOFF seen (queue members)
    paused_everywhere: bool = False  # PAUSEALL until an UNPAUSE(ALL)
    pause_reason: str | None = None
    calls: set[str] = field(default_factory=set)
    wrapups: dict[str, _Wrapup] = field(default_factory=dict)
    published: tuple[AgentState, str | None, tuple[str, ...]] | None = None

    def derived(self) -> tuple[AgentState, str | None, tuple[str, ...]]:
        queues = tuple(sorted(self.memberships))
        if self.logged_in is False:
            return AgentState.LOGGED_OUT, None, ()
        if self.calls:
            return AgentState.BUSY, None, queues
        if self.wrapups:
            return AgentState.ACW, None, queues
        if not queues and not self.logged_in:
            return AgentState.LOGGED_OUT, None, ()
        if self.paused_everywhere or (queues and all(self.memberships.values())):
            return AgentState.AWAY, self.pause_reason, queues
        return AgentState.AVAILABLE, None, queues


class _Unmappable(Exception):
    """A record that cannot be mapped; becomes a :class:`QueueLogProblem`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueLogMapper:
    """Turns queue_log records into canonical events, remembering calls in flight and agent states.

    Feed records in file order with :meth:`map` (or raw lines with
    :meth:`map_line`); call :meth:`finish` at the end of the input for the
    wrap-ups still pending. In follow mode, :meth:`release_due` releases
    wrap-ups whose time has come while no line arrives.
    """

    def __init__(self, *, customer_hash_key: str = "", wrapup_s: float = 0.0) -> None:
        if not (math.isfinite(wrapup_s) and wrapup_s >= 0):
            raise ValueError("wrapup_s must be a number of seconds, 0 or more")
        self.stats = QueueLogStats()
        self._hash_key = customer_hash_key.encode()
        self._wrapup_ms = round(wrapup_s * 1000)
        self._calls: dict[str, _Call] = {}
        self._agents: dict[str, _Agent] = {}
        self._pending: list[tuple[int, int, _Wrapup]] = []
        self._pending_seq = 0
        self._same_ts: dict[int, int] = {}
        self._next_sweep_ms: int | None = None
        self._out: list[MappedEvent] = []
        self._other_slot = SLOT_OTHER_AGENTS

    # -- input --------------------------------------------------------------------------

    def map_line(self, line: str, line_no: int) -> list[MappedEvent]:
        """Parse and map one line; a problem is recorded in :attr:`stats` and gives no event."""
        self.stats.lines += 1
        if not line.strip():
            self.stats.blank_lines += 1
            return []
        parsed = parse_line(line, line_no)
        if isinstance(parsed, QueueLogProblem):
            self.stats.add_problem(parsed)
            return []
        return self.map(parsed)

    def map(self, record: QueueLogRecord) -> list[MappedEvent]:
        """The events of one record, preceded by the wrap-ups that came due by its time."""
        self.stats.records += 1
        self._out = []
        self._other_slot = SLOT_OTHER_AGENTS
        ref = self._ref(record)
        self._release_due(record.ts_ms)
        self._sweep(record.ts_ms, ref)
        try:
            self._dispatch(record, ref)
        except _Unmappable as problem:
            self.stats.add_problem(QueueLogProblem(record.line_no, problem.reason))
        return self._take()

    def release_due(self, now_ms: int) -> list[MappedEvent]:
        """Wrap-ups due at or before ``now_ms`` (follow mode, while the log is quiet)."""
        self._out = []
        self._release_due(now_ms)
        return self._take()

    def finish(self) -> list[MappedEvent]:
        """End of input: every pending wrap-up, at its due time."""
        self._out = []
        while self._pending:
            due_ms, _, wrapup = heapq.heappop(self._pending)
            if not wrapup.done:
                self._release(wrapup, due_ms, announce=True)
        return self._take()

    # -- plumbing -----------------------------------------------------------------------

    def _take(self) -> list[MappedEvent]:
        out, self._out = self._out, []
        return out

    def _ref(self, record: QueueLogRecord) -> _Ref:
        nth = self._same_ts.get(record.ts_ms, 0)
        self._same_ts[record.ts_ms] = nth + 1
        return _Ref(record.line_no, f"ast-{record.ts_ms:013d}-{nth:04d}-{record.digest}")

    def _emit(self, ref: _Ref, slot: int, event_type: str, ts_ms: int, **fields: Any) -> None:
        event: dict[str, Any] = {"event_id": ref.event_id(slot), "type": event_type, "ts": ts_ms, "source": SOURCE}
        event.update({name: value for name, value in fields.items() if value is not None})
        self.stats.events[event_type] += 1
        self._out.append(MappedEvent(ref.line_no, event))

    def _contact(
        self, ref: _Ref, slot: int, event_type: ContactEventType, ts_ms: int, callid: str, queue: str, **fields: Any
    ) -> None:
        self._emit(ref, slot, event_type.value, ts_ms, contact_id=callid, queue=queue, channel=CHANNEL, **fields)

    def _announce(self, agent_id: str, ts_ms: int, ref: _Ref, slot: int | None = None) -> bool:
        """Publish the agent's derived state if it changed; True if it did."""
        agent = self._agents[agent_id]
        derived = agent.derived()
        if derived == agent.published:
            return False
        agent.published = derived
        state, reason, queues = derived
        if slot is None:
            slot = self._other_slot
            self._other_slot += 1
        self._emit(
            ref,
            slot,
            AGENT_STATE_CHANGED,
            ts_ms,
            agent_id=agent_id,
            state=state.value,
            reason=reason,
            queues=list(queues),
        )
        return True

    def _agent(self, agent_id: str) -> _Agent:
        _check_id(agent_id, "agent")
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = _Agent()
        return agent

    def _check_wait(self, call: _Call | None, record: QueueLogRecord, index: int) -> None:
        written_s = record.seconds(index)
        if call is None or call.queued_ms is None or written_s is None:
            return
        if abs(record.ts_ms - call.queued_ms - written_s * 1000) > WAIT_TOLERANCE_MS:
            self.stats.wait_mismatches += 1

    # -- wrap-ups and housekeeping -------------------------------------------------------

    def _release_due(self, now_ms: int) -> None:
        while self._pending and self._pending[0][0] <= now_ms:
            due_ms, _, wrapup = heapq.heappop(self._pending)
            if not wrapup.done:
                self._release(wrapup, due_ms, announce=True)

    def _release(self, wrapup: _Wrapup, at_ms: int, *, announce: bool) -> None:
        wrapup.done = True
        agent = self._agents[wrapup.agent]
        if agent.wrapups.get(wrapup.callid) is wrapup:
            del agent.wrapups[wrapup.callid]
        self._contact(
            wrapup.ref,
            SLOT_WRAPUP,
            ContactEventType.WRAPUP_ENDED,
            at_ms,
            wrapup.callid,
            wrapup.queue,
            agent_id=wrapup.agent,
        )
        if announce:
            self._announce(wrapup.agent, at_ms, wrapup.ref, SLOT_AGENT_AFTER_WRAPUP)

    def _end_wrapups(self, agent: _Agent, at_ms: int) -> None:
        """The agent's pending wrap-ups end now (it answers another call or logs off)."""
        for wrapup in sorted(agent.wrapups.values(), key=lambda w: (w.due_ms, w.callid)):
            self._release(wrapup, at_ms, announce=False)

    def _forget_calls(self, callids: Iterable[str], ts_ms: int, ref: _Ref) -> None:
        """Drop calls that will never get another line; agents on them are derived again."""
        touched: set[str] = set()
        for callid in callids:
            call = self._calls.pop(callid)
            self.stats.forgotten_calls += 1
            if call.agent is not None and call.agent in self._agents:
                self._agents[call.agent].calls.discard(callid)
                touched.add(call.agent)
        for agent_id in sorted(touched):
            self._announce(agent_id, ts_ms, ref)

    def _sweep(self, ts_ms: int, ref: _Ref) -> None:
        if self._next_sweep_ms is None:
            self._next_sweep_ms = ts_ms + SWEEP_EVERY_MS
            return
        if ts_ms < self._next_sweep_ms:
            return
        self._next_sweep_ms = ts_ms + SWEEP_EVERY_MS
        stale = [callid for callid, call in self._calls.items() if call.last_ms < ts_ms - MAX_CALL_AGE_MS]
        self._forget_calls(stale, ts_ms, ref)
        self._same_ts = {at: n for at, n in self._same_ts.items() if at >= ts_ms - SAME_TS_MEMORY_MS}

    # -- the mapping itself -----------------------------------------------------------

    def _dispatch(self, record: QueueLogRecord, ref: _Ref) -> None:
        event = record.event
        if event == "ENTERQUEUE":
            self._enter(record, ref)
        elif event == "CONNECT":
            self._connect(record, ref)
        elif event in _ENDS:
            self._end(record, ref, _ENDS[event])
        elif event in _OUTCOMES:
            self._outcome(record, ref)
        elif event in _AGENT_EVENTS:
            self._agent_line(record, ref)
        else:
            self.stats.count_ignored(event)
            if event == "QUEUESTART":
                self._forget_calls(list(self._calls), record.ts_ms, ref)

    def _call_fields(self, record: QueueLogRecord) -> tuple[str, str]:
        if record.callid is None:
            raise _Unmappable(f"{record.event} without a call id (field 2)")
        if record.queue is None:
            raise _Unmappable(f"{record.event} without a queue (field 3)")
        _check_id(record.callid, "call id")
        _check_id(record.queue, "queue")
        return record.callid, record.queue

    def _enter(self, record: QueueLogRecord, ref: _Ref) -> None:
        callid, queue = self._call_fields(record)
        previous = self._calls.get(callid)
        if previous is not None and previous.agent is not None:
            # Queued again while we thought it was talking: that conversation's end was not logged.
            self._forget_calls([callid], record.ts_ms, ref)
        self._calls[callid] = _Call(queue, record.ts_ms, record.ts_ms)
        customer_id = None
        caller = record.field(1)  # ENTERQUEUE data: url|callerid|position
        if self._hash_key and caller.lower() not in _ANONYMOUS_CALLERS:
            customer_id = hash_customer_id(self._hash_key, caller)
        self._contact(ref, SLOT_CONTACT, ContactEventType.QUEUED, record.ts_ms, callid, queue, customer_id=customer_id)

    def _connect(self, record: QueueLogRecord, ref: _Ref) -> None:
        callid, queue = self._call_fields(record)
        if record.agent is None:
            raise _Unmappable("CONNECT without an agent (field 4): contact.answered needs agent_id")
        agent = self._agent(record.agent)
        call = self._calls.get(callid)
        if call is None:
            self.stats.unmatched_calls += 1
            call = self._calls[callid] = _Call(queue, None, record.ts_ms)
        else:
            self._check_wait(call, record, 0)  # CONNECT data: holdtime|bridgedchanneluniqueid|ringtime
        call.agent = record.agent
        call.last_ms = record.ts_ms
        self._end_wrapups(agent, record.ts_ms)
        agent.memberships.setdefault(queue, agent.paused_everywhere)
        agent.calls.add(callid)
        self._contact(ref, SLOT_CONTACT, ContactEventType.ANSWERED, record.ts_ms, callid, queue, agent_id=record.agent)
        self._announce(record.agent, record.ts_ms, ref, SLOT_AGENT)

    def _end(self, record: QueueLogRecord, ref: _Ref, event_type: ContactEventType) -> None:
        callid, queue = self._call_fields(record)
        call = self._calls.pop(callid, None)
        if call is None or call.agent is None:
            self.stats.unmatched_calls += 1
        agent_id = record.agent or (call.agent if call is not None else None)
        self._contact(ref, SLOT_CONTACT, event_type, record.ts_ms, callid, queue, agent_id=agent_id)
        if agent_id is None:
            return  # no agent to wrap up: the engine's ACW timeout completes the segment
        agent = self._agent(agent_id)
        agent.calls.discard(callid)
        if call is not None and call.agent is not None and call.agent != agent_id:
            # The line names another agent than the CONNECT did: free the one that answered too.
            self._agent(call.agent).calls.discard(callid)
            self._announce(call.agent, record.ts_ms, ref)
        agent.memberships.setdefault(queue, agent.paused_everywhere)
        wrapup = _Wrapup(record.ts_ms + self._wrapup_ms, callid, agent_id, queue, ref)
        if self._wrapup_ms == 0:
            self._release(wrapup, record.ts_ms, announce=False)
        else:
            previous = agent.wrapups.get(callid)
            if previous is not None:
                self._release(previous, record.ts_ms, announce=False)
            agent.wrapups[callid] = wrapup
            self._pending_seq += 1
            heapq.heappush(self._pending, (wrapup.due_ms, self._pending_seq, wrapup))
        self._announce(agent_id, record.ts_ms, ref, SLOT_AGENT)

    def _outcome(self, record: QueueLogRecord, ref: _Ref) -> None:
        callid, queue = self._call_fields(record)
        event_type, reason, wait_index = _OUTCOMES[record.event]
        call = self._calls.pop(callid, None)
        if call is None:
            self.stats.unmatched_calls += 1
        else:
            self._check_wait(call, record, wait_index)
        self._contact(
            ref, SLOT_CONTACT, event_type, record.ts_ms, callid, queue, reason=None if reason is None else reason.value
        )

    def _agent_line(self, record: QueueLogRecord, ref: _Ref) -> None:
        event = record.event
        if record.agent is None:
            raise _Unmappable(f"{event} without an agent (field 4)")
        if event in {"PAUSEALL", "UNPAUSEALL"} and record.agent not in self._agents:
            # Asterisk names the interface here and follows with one PAUSE/UNPAUSE per queue
            # naming the member: those carry the change for a member known by another name.
            self.stats.count_ignored(event)
            return
        agent = self._agent(record.agent)
        if record.queue is not None:
            _check_id(record.queue, "queue")
        if event in _LOGINS:
            agent.logged_in = True
        elif event in _LOGOFFS:
            agent.logged_in = False
            self._end_wrapups(agent, record.ts_ms)
        elif event in {"ADDMEMBER", "REMOVEMEMBER"}:
            _change_membership(agent, record)
        else:
            _change_pause(agent, record)
        if not self._announce(record.agent, record.ts_ms, ref, SLOT_AGENT):
            self.stats.unchanged[event] += 1


def _change_membership(agent: _Agent, record: QueueLogRecord) -> None:
    """ADDMEMBER (data1 ``PAUSED`` when added paused) or REMOVEMEMBER."""
    if record.queue is None:
        raise _Unmappable(f"{record.event} without a queue (field 3)")
    if record.event == "ADDMEMBER":
        agent.memberships[record.queue] = record.field(0).upper() == "PAUSED"
    else:
        agent.memberships.pop(record.queue, None)


def _change_pause(agent: _Agent, record: QueueLogRecord) -> None:
    """PAUSE/UNPAUSE in one queue (data1: reason), or PAUSEALL/UNPAUSEALL (queue ``NONE``) in every queue."""
    queue = record.queue
    if record.event in {"PAUSE", "PAUSEALL"}:
        if queue is None:
            agent.paused_everywhere = True
            agent.memberships = dict.fromkeys(agent.memberships, True)
        else:
            agent.memberships[queue] = True
        agent.pause_reason = record.field(0) or agent.pause_reason
        return
    agent.paused_everywhere = False
    if queue is None:
        agent.memberships = dict.fromkeys(agent.memberships, False)
    else:
        agent.memberships[queue] = False
    if not any(agent.memberships.values()):
        agent.pause_reason = None


def _check_id(value: str, what: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise _Unmappable(f"the {what} is longer than {MAX_ID_LENGTH} characters")


def map_lines(
    lines: Iterable[str], *, customer_hash_key: str = "", wrapup_s: float = 0.0
) -> tuple[list[MappedEvent], QueueLogStats]:
    """Map a whole log held in memory (lines numbered from 1); wrap-ups pending at the end are released."""
    mapper = QueueLogMapper(customer_hash_key=customer_hash_key, wrapup_s=wrapup_s)
    events: list[MappedEvent] = []
    for line_no, line in enumerate(lines, start=1):
        events += mapper.map_line(line, line_no)
    events += mapper.finish()
    return events, mapper.stats


# -- reading ------------------------------------------------------------------------------


class _LineReader:
    """Reads a file's complete lines; in follow mode also the lines appended later, across rotations.

    Yields ``(line_no, line)``, and ``None`` each time it finds nothing new
    (follow mode), so the caller can do timed work. Line numbers start again
    at 1 in the file that replaces a rotated one, and after a truncation.
    """

    def __init__(self, path: Path, *, follow: bool, poll_s: float) -> None:
        if poll_s <= 0:
            raise ValueError("poll_s must be above 0")
        self.path = path
        self.follow = follow
        self.poll_s = poll_s
        self.rotations = 0
        self.truncations = 0

    async def lines(self) -> AsyncIterator[tuple[int, str] | None]:
        handle = self.path.open("rb")
        identity = _identity(os.fstat(handle.fileno()))
        line_no = 0
        partial = b""
        try:
            while True:
                chunk = handle.readline()
                if chunk.endswith(b"\n"):
                    line_no += 1
                    yield line_no, _decode(partial + chunk)
                    partial = b""
                    if line_no % 1000 == 0:
                        await asyncio.sleep(0)  # let a cancellation in during long files
                    continue
                partial += chunk  # a line still being written, or the last line without a line break
                if not self.follow:
                    if partial:
                        yield line_no + 1, _decode(partial)
                    return
                yield None
                await asyncio.sleep(self.poll_s)
                try:
                    status = os.stat(self.path)
                except FileNotFoundError:
                    continue  # rotated away, the new file is not there yet: keep the old one
                if _identity(status) != identity:
                    # Rotated: finish the old file (lines written before the rename), then open the new one.
                    rest = partial + handle.read()
                    for text in rest.splitlines():
                        line_no += 1
                        yield line_no, _decode(text)
                    handle.close()
                    handle = self.path.open("rb")
                    identity = _identity(os.fstat(handle.fileno()))
                    line_no, partial = 0, b""
                    self.rotations += 1
                elif status.st_size < handle.tell():
                    handle.seek(0)  # truncated in place (copytruncate): start over
                    line_no, partial = 0, b""
                    self.truncations += 1
        finally:
            handle.close()


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", "replace")


async def iter_queue_log(path: Path, *, follow: bool = False, poll_s: float = 0.5) -> AsyncIterator[tuple[int, str]]:
    """``(line_no, line)`` for every line of ``path``; with ``follow``, then every line appended, until cancelled.

    Follow mode checks every ``poll_s`` seconds whether the file was rotated (a
    new file at ``path``: the rest of the old one is read first) or truncated
    (it restarts at the top).
    """
    async for item in _LineReader(path, follow=follow, poll_s=poll_s).lines():
        if item is not None:
            yield item


async def import_queue_log(
    path: Path,
    sink: EventSink,
    *,
    follow: bool = False,
    customer_hash_key: str = "",
    wrapup_s: float = 0.0,
    progress: Progress | None = None,
    poll_s: float = 0.5,
    stats: QueueLogStats | None = None,
) -> QueueLogStats:
    """Map ``path`` and send every event to ``sink`` (origin ``<path>:<line>``); return the statistics.

    With ``follow`` it keeps tailing the file until cancelled; pass ``stats``
    to read the statistics after a cancellation. ``progress`` advances by one
    per line read and is finished at the end. The caller closes the sink.
    """
    mapper = QueueLogMapper(customer_hash_key=customer_hash_key, wrapup_s=wrapup_s)
    if stats is not None:
        mapper.stats = stats
    stats = mapper.stats
    reader = _LineReader(path, follow=follow, poll_s=poll_s)

    async def send(mapped: list[MappedEvent]) -> None:
        for line_no, event in mapped:
            if not await sink.send(event, origin=f"{path}:{line_no}"):
                stats.rejected += 1

    try:
        async for item in reader.lines():
            if item is None:
                await send(mapper.release_due(int(time.time() * 1000) - RELEASE_GRACE_MS))
                continue
            line_no, line = item
            await send(mapper.map_line(line, line_no))
            if progress is not None:
                progress.advance()
        await send(mapper.finish())
    finally:
        stats.rotations = reader.rotations
        stats.truncations = reader.truncations
        if progress is not None:
            progress.finish()
    return stats
