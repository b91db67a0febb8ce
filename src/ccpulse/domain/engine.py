"""The KPI engine: canonical events in, exact per-queue KPIs out, in one process.

It owns every lifecycle's state (contacts, agents, tickets, surveys), turns
their fact changes into per-queue bucket aggregates, keeps the live view
(who waits, since when; agents by state), runs the timers that stream time
drives (ACW timeouts, repeat-contact windows, reaping, retention), and reads
windows and KPIs on demand. Runtimes (the Faust worker, replays, benchmarks,
tests) feed it events; it never looks at a wall clock by itself.

Time: ``stream_time_ms`` is the largest event time applied. Events older
than ``stream_time - retention`` are rejected as late; with a wall clock
given to :meth:`Engine.apply`, events more than ``max_future_skew`` ahead of
it are rejected as future. Both are reported, never silently dropped.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from ccpulse.domain import agent_states, surveys, tickets
from ccpulse.domain.age_index import AgeIndex
from ccpulse.domain.aggregates import QueueAggregate
from ccpulse.domain.changes import FactChanges, diff_facts
from ccpulse.domain.contacts import (
    ContactFact,
    ContactRules,
    ContactState,
    advance_time,
    apply_event,
    contact_place_at,
    end_deadline_floor_ms,
    handling_may_change,
    next_deadline_ms,
)
from ccpulse.domain.erlang import StaffingAdvice
from ccpulse.domain.events import (
    AgentEvent,
    AgentState,
    CanonicalEvent,
    ContactEvent,
    ContactEventType,
    SurveyEvent,
    TicketEvent,
    WatermarkEvent,
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
from ccpulse.domain.handling import conversations
from ccpulse.domain.kpis import KpiSnapshot
from ccpulse.domain.memo import LatestReadings
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.queue_view import ALL_CHANNELS, STAFFED_STATES, LiveQueue, QueueView, ViewConfig, ViewStats
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS, Window, WindowConfig

AnyFact = ContactFact | AgentStateFact | TicketFact | SurveyFact
__all__ = ["ALL_CHANNELS", "STAFFED_STATES", "AnyFact", "ApplyResult", "Engine", "EngineConfig", "LiveQueue", "Verdict"]
# Only these can create or move an ACW deadline (an end starts after-contact
# work, an answer arriving after its end completes a segment, a queue sets the
# timeout, a late wrap-up can move to another segment); holds and queue
# outcomes cannot, and a stale timer finds nothing to do.
_TYPES_THAT_SET_DEADLINES = frozenset(
    {
        ContactEventType.ENDED,
        ContactEventType.TRANSFERRED,
        ContactEventType.QUEUED,
        ContactEventType.ANSWERED,
        ContactEventType.WRAPUP_ENDED,
    }
)
_TYPES_THAT_END_CONVERSATIONS = frozenset({ContactEventType.ENDED, ContactEventType.TRANSFERRED})
REAP_EVERY_MS = 5 * MINUTE_MS  # stream time between housekeeping passes


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"  # older than the retention allows
    FUTURE = "future"  # too far ahead of the wall clock


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything the engine needs to know; per-queue rules live in ``queues``."""

    queues: QueueConfigs = field(default_factory=QueueConfigs)
    windows: WindowConfig = field(default_factory=WindowConfig)
    retention_ms: int = 48 * HOUR_MS
    max_future_skew_ms: int = 5 * MINUTE_MS
    max_queue_age_ms: int = 4 * HOUR_MS
    max_segment_age_ms: int = 12 * HOUR_MS
    staffing_rate_window_ms: int = 30 * MINUTE_MS
    # Key of the keyed hash that replaces customer ids (repeat-contact detection).
    # Empty: customer ids are dropped and FCR by repeats is not computed.
    customer_hash_key: bytes = b""
    # Whether the view reports which buckets and queues changed (for a KPI publisher that only
    # recomputes what changed); off, every reader treats everything as changed.
    track_changes: bool = False

    def __post_init__(self) -> None:
        def check(ok: bool, setting: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"setting {setting}: {problem}")

        check(self.retention_ms >= 24 * HOUR_MS, "retention_hours", "must be at least 24 h (today's window)")
        check(self.max_future_skew_ms >= 0, "max_future_skew_s", "must not be negative")
        check(self.max_queue_age_ms > 0, "max_queue_age_s", "must be positive")
        check(self.max_segment_age_ms > 0, "max_segment_age_s", "must be positive")
        check(
            self.staffing_rate_window_ms > 0 and self.staffing_rate_window_ms % self.windows.bucket_ms == 0,
            "staffing_rate_window_minutes",
            "must be a positive whole number of buckets",
        )


@dataclass(frozen=True, slots=True)
class ApplyResult:
    verdict: Verdict
    published: tuple[AnyFact, ...] = ()
    retracted: tuple[AnyFact, ...] = ()


@dataclass
class EngineStats(ViewStats):
    """Counters the runtime exports as self-metrics (the queue side's included)."""

    events: Counter[str] = field(default_factory=Counter)  # by Verdict
    reaped_segments: int = 0
    facts_published: int = 0
    facts_retracted: int = 0


# Most events change no fact: they share one (frozen) result per verdict.
_NO_FACTS = {verdict: ApplyResult(verdict) for verdict in Verdict}
# A timer is (due_ms, contact_id): the contact whose ACW timeout may be due then. Plain
# tuples order as the heap needs and cost far less to build and compare than a dataclass.
_Timer = tuple[int, str]
# Every contact starts from this state (frozen, so sharing it is safe).
_NEW_CONTACT = ContactState()
_NEW_TIMELINE = agent_states.AgentTimeline()
_NEW_TICKET = tickets.TicketState()
# Tickets whose latest reading is kept for their next event (see memo).
TICKETS_REMEMBERED = 4096


class Engine:
    """All KPI state of one worker (or one whole replay) in memory."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.stream_time_ms: int | None = None
        self.stats = EngineStats()
        self._acw_timeouts: dict[str, int] = {}  # each queue's, looked up once
        self._contact_rules = ContactRules(acw_timeout_ms=self._acw_timeout_ms)
        self._contacts: dict[str, ContactState] = {}
        self._contact_seen = AgeIndex[str](REAP_EVERY_MS)
        self._agents: dict[str, agent_states.AgentTimeline] = {}
        # (timeline, its presence) per agent, so each event derives only the new presence.
        self._presence_of_timeline: dict[str, tuple[agent_states.AgentTimeline, AgentPresenceFact | None]] = {}
        # (horizon from which the agent's timeline can be pruned, agent id); see _prune_agents.
        self._prune_due: list[tuple[int, str]] = []
        self._tickets: dict[str, tickets.TicketState] = {}
        self._ticket_lives = LatestReadings[tickets.TicketState, tuple[dict[str, TicketFact], bool]](TICKETS_REMEMBERED)
        self._surveys = surveys.SurveyInbox()
        self.view = QueueView(
            ViewConfig(
                queues=self.config.queues,
                windows=self.config.windows,
                retention_ms=self.config.retention_ms,
                max_queue_age_ms=self.config.max_queue_age_ms,
                staffing_rate_window_ms=self.config.staffing_rate_window_ms,
            ),
            self.stats,
            track_changes=self.config.track_changes,
        )
        self._timers: list[_Timer] = []
        # Live handling facts per contact: a survey rates the contact's last segment.
        self._segments_of_contact: dict[str, dict[str, HandlingFact]] = {}
        # Surveys by contact they rate, with their live facts, to re-attribute them
        # when a later segment of that contact turns up (order independence).
        self._survey_events: dict[str, SurveyEvent] = {}
        self._surveys_of_contact: dict[str, set[str]] = {}
        self._live_surveys: dict[str, SurveyFact] = {}
        self._reattribute: set[str] = set()
        self._ticket_attribution: dict[str, surveys.Attribution] = {}
        self._open_ticket_facts: dict[str, TicketOpenFact] = {}
        self._retry_surveys = False
        # Contacts that got a segment and tickets that got created since the last retry: the only
        # ones whose pending surveys a retry can attribute (every other lookup still finds nothing).
        self._newly_known_contacts: set[str] = set()
        self._newly_known_tickets: set[str] = set()
        self._next_reap_ms = 0
        self._reaped_segments: set[tuple[str, str]] = set()
        self._segments_checked_before_ms = -(2**62)

    # -- configuration helpers ---------------------------------------------------------

    def queue_config(self, queue: str) -> QueueConfig:
        return self.config.queues.for_queue(queue)

    def _acw_timeout_ms(self, queue: str) -> int:
        timeout_ms = self._acw_timeouts.get(queue)
        if timeout_ms is None:
            timeout_ms = self._acw_timeouts[queue] = self.queue_config(queue).acw_timeout_ms
        return timeout_ms

    def customer_key(self, customer_id: str | None) -> str | None:
        """Keyed hash of a customer id (HMAC-SHA256, 16 bytes hex); None without a key or id."""
        return hash_customer_id(self.config.customer_hash_key, customer_id)

    # -- input ---------------------------------------------------------------------------

    def apply(self, event: CanonicalEvent, *, wall_ms: int | None = None) -> ApplyResult:
        """Apply one event; fire the timers its event time makes due."""
        verdict = self._admit(event, wall_ms)
        if verdict is not Verdict.ACCEPTED:
            self.stats.events[verdict] += 1
            return _NO_FACTS[verdict]
        published: list[AnyFact] = []
        retracted: list[AnyFact] = []
        duplicate = self._dispatch(event, published, retracted)
        if self._reattribute or self._retry_surveys:
            self._retry_pending_surveys(published, retracted)
        verdict = Verdict.DUPLICATE if duplicate else Verdict.ACCEPTED
        self.stats.events[verdict] += 1
        if self.stream_time_ms is None or event.ts_ms > self.stream_time_ms:
            self._advance(event.ts_ms, published, retracted)
        if not published and not retracted:
            return _NO_FACTS[verdict]
        return ApplyResult(verdict, tuple(published), tuple(retracted))

    def _admit(self, event: CanonicalEvent, wall_ms: int | None) -> Verdict:
        if wall_ms is not None and event.ts_ms > wall_ms + self.config.max_future_skew_ms:
            return Verdict.FUTURE
        if self.stream_time_ms is not None and event.ts_ms < self.stream_time_ms - self.config.retention_ms:
            return Verdict.LATE
        return Verdict.ACCEPTED

    def _dispatch(self, event: CanonicalEvent, published: list[AnyFact], retracted: list[AnyFact]) -> bool:
        """Route the event to its lifecycle; True if it was a duplicate."""
        if isinstance(event, ContactEvent):
            return self._apply_contact(event, published, retracted)
        if isinstance(event, AgentEvent):
            return self._apply_agent(event, published, retracted)
        if isinstance(event, TicketEvent):
            return self._apply_ticket(event, published, retracted)
        if isinstance(event, SurveyEvent):
            return self._apply_survey(event, published, retracted)
        assert isinstance(event, WatermarkEvent)
        return False  # a watermark only moves stream time

    def _apply_agent(self, event: AgentEvent, published: list[AnyFact], retracted: list[AnyFact]) -> bool:
        agent_id = event.agent_id
        timeline = self._agents.get(agent_id, _NEW_TIMELINE)
        new_timeline, changes = agent_states.apply_agent_event(timeline, event)
        if new_timeline is timeline:
            return True  # only a duplicate leaves the timeline object as it was
        self._agents[agent_id] = new_timeline
        self._schedule_pruning(agent_id, new_timeline, agent_states.prunes_from_ms(timeline))
        self._record(changes, published, retracted)
        before, after = self._presence(agent_id, timeline), presence_of(agent_id, new_timeline)
        self._presence_of_timeline[agent_id] = (new_timeline, after)
        if before != after:
            self.view.apply(published=[after] if after else [], retracted=[before] if before else [])
        return False

    def _presence(self, agent_id: str, timeline: agent_states.AgentTimeline) -> AgentPresenceFact | None:
        """:func:`presence_of`, remembered for the agent's latest timeline object (pruning makes a new one)."""
        known = self._presence_of_timeline.get(agent_id)
        if known is not None and known[0] is timeline:
            return known[1]
        return presence_of(agent_id, timeline)

    def _schedule_pruning(self, agent_id: str, timeline: agent_states.AgentTimeline, previous_ms: int | None) -> None:
        """Keep an entry in the pruning heap at the horizon from which ``timeline`` can be pruned."""
        prunes_from_ms = agent_states.prunes_from_ms(timeline)
        if prunes_from_ms is not None and prunes_from_ms != previous_ms:
            heapq.heappush(self._prune_due, (prunes_from_ms, agent_id))

    def _apply_ticket(self, event: TicketEvent, published: list[AnyFact], retracted: list[AnyFact]) -> bool:
        ticket_id = event.ticket_id
        ticket = self._tickets.get(ticket_id, _NEW_TICKET)
        if tickets.is_duplicate(ticket, event):
            return True
        new_ticket = tickets.record_ticket_event(ticket, event)
        self._tickets[ticket_id] = new_ticket
        if new_ticket.marks is not ticket.marks:  # else no fact changed (tickets.apply_ticket_event)
            before, _ = self._ticket_life(ticket_id, ticket)
            after, _ = self._ticket_life(ticket_id, new_ticket)
            self._record(diff_facts(before, after), published, retracted)
        self._track_backlog(ticket_id, self._ticket_life(ticket_id, new_ticket)[1])
        return False

    def _ticket_life(self, ticket_id: str, ticket: tickets.TicketState) -> tuple[dict[str, TicketFact], bool]:
        """:func:`tickets.ticket_life`, read once per ticket state."""
        life = self._ticket_lives.get(ticket_id, ticket)
        if life is None:
            life = tickets.ticket_life(ticket_id, ticket)
            self._ticket_lives.put(ticket_id, ticket, life)
        return life

    def _apply_survey(self, event: SurveyEvent, published: list[AnyFact], retracted: list[AnyFact]) -> bool:
        if surveys.is_duplicate(self._surveys, event) or event.event_id in self._survey_events:
            return True
        self._survey_events[event.event_id] = event
        if event.contact_id is not None:
            self._surveys_of_contact.setdefault(event.contact_id, set()).add(event.event_id)
        self._surveys, changes = surveys.apply_survey_event(
            self._surveys, event, self._contact_attribution, self._ticket_attribution.get
        )
        self._record(changes, published, retracted)
        return False

    def _apply_contact(self, event: ContactEvent, published: list[AnyFact], retracted: list[AnyFact]) -> bool:
        state = self._contacts.get(event.contact_id, _NEW_CONTACT)
        if event.event_id in state.seen_event_ids:
            return True
        now_ms = max(self.stream_time_ms or event.ts_ms, event.ts_ms)
        # The first customer key seen sticks: hash only while the contact has none.
        customer_key = self.customer_key(event.customer_id) if state.customer_key is None else None
        new_state, changes = apply_event(state, event, self._contact_rules, now_ms, customer_key)
        self._contacts[event.contact_id] = new_state
        self._contact_seen.touch(event.contact_id, event.ts_ms)
        if event.type in _TYPES_THAT_SET_DEADLINES:
            if handling_may_change(state, event, self._contact_rules, now_ms):
                self._schedule_contact(event.contact_id, new_state, now_ms)
            elif event.type in _TYPES_THAT_END_CONVERSATIONS:
                floor_ms = end_deadline_floor_ms(state, event, self._contact_rules)
                if floor_ms is not None:
                    heapq.heappush(self._timers, (floor_ms, event.contact_id))
        self._record(changes, published, retracted, contact_id=event.contact_id)
        return False

    def _retry_pending_surveys(self, published: list[AnyFact], retracted: list[AnyFact]) -> None:
        """Surveys that arrived before what they rate: attribute them once it is known.

        A survey already published for a contact whose last segment has since
        changed (a later segment's events arrived late) is re-attributed: the
        old fact retracted, the new one published.
        """
        for contact_id in sorted(self._reattribute):
            for survey_id in sorted(self._surveys_of_contact.get(contact_id, ())):
                live = self._live_surveys.get(survey_id)
                if live is None:
                    continue
                fresh = surveys.attribute_survey(
                    self._survey_events[survey_id], self._contact_attribution, self._ticket_attribution.get
                )
                if isinstance(fresh, SurveyFact) and fresh != live:
                    self._record(FactChanges(published=(fresh,), retracted=(live,)), published, retracted)
        self._reattribute.clear()
        if not self._retry_surveys:
            return
        self._retry_surveys = False
        contact_ids, ticket_ids = self._newly_known_contacts, self._newly_known_tickets
        self._newly_known_contacts, self._newly_known_tickets = set(), set()
        if self._surveys.pending:
            self._surveys, changes = surveys.retry_pending(
                self._surveys,
                self._contact_attribution,
                self._ticket_attribution.get,
                only_rating=(contact_ids, ticket_ids),
            )
            self._record(changes, published, retracted)

    def _track_backlog(self, ticket_id: str, is_open: bool) -> None:
        before = self._open_ticket_facts.pop(ticket_id, None)
        attribution = self._ticket_attribution.get(ticket_id)
        queue = None if attribution is None or not is_open else attribution.queue
        after = None if queue is None else TicketOpenFact(ticket_id, queue)
        if after is not None:
            self._open_ticket_facts[ticket_id] = after
        if before != after:
            self.view.apply(published=[after] if after else [], retracted=[before] if before else [])

    # -- facts into buckets ----------------------------------------------------------

    def _record(
        self,
        changes: FactChanges[ContactFact]
        | FactChanges[AgentStateFact]
        | FactChanges[TicketFact]
        | FactChanges[SurveyFact],
        published: list[AnyFact],
        retracted: list[AnyFact],
        *,
        contact_id: str | None = None,
    ) -> None:
        self.view.apply(changes.published, changes.retracted)
        for fact in changes.retracted:
            self._follow(fact, -1)
            retracted.append(fact)
        for fact in changes.published:
            self._follow(fact, +1)
            published.append(fact)
        self.stats.facts_published += len(changes.published)
        self.stats.facts_retracted += len(changes.retracted)

    def _follow(self, fact: AnyFact, sign: int) -> None:
        """What the lifecycles need to know of each other's facts: survey attribution."""
        if isinstance(fact, HandlingFact):
            segments = self._segments_of_contact.setdefault(fact.contact_id, {})
            if sign > 0:
                segments[fact.fact_id] = fact
                self._retry_surveys = True
                self._newly_known_contacts.add(fact.contact_id)
            else:
                segments.pop(fact.fact_id, None)
            self._reattribute.add(fact.contact_id)
        elif isinstance(fact, SurveyFact):
            if sign > 0:
                self._live_surveys[fact.survey_id] = fact
            else:
                self._live_surveys.pop(fact.survey_id, None)
        elif isinstance(fact, TicketFact) and fact.step is TicketStep.CREATED and sign > 0:
            self._ticket_attribution[fact.ticket_id] = surveys.Attribution(fact.queue, fact.channel, None)
            self._retry_surveys = True
            self._newly_known_tickets.add(fact.ticket_id)

    def _contact_attribution(self, contact_id: str) -> surveys.Attribution | None:
        """What a survey of this contact is about: its last handling segment (latest answer)."""
        segments = self._segments_of_contact.get(contact_id)
        if not segments:
            return None
        last = max(segments.values(), key=lambda f: (f.answered_ts_ms, f.agent_id))
        return surveys.Attribution(last.queue, last.channel, last.agent_id)

    # -- time ---------------------------------------------------------------------

    def _schedule_contact(self, contact_id: str, state: ContactState, after_ms: int) -> None:
        deadline = next_deadline_ms(state, self._contact_rules, after_ms, contact_id=contact_id)
        if deadline is not None:
            heapq.heappush(self._timers, (deadline, contact_id))

    def advance_to(
        self, now_ms: int, published: list[AnyFact] | None = None, retracted: list[AnyFact] | None = None
    ) -> ApplyResult:
        """Move stream time forward to ``now_ms`` and fire every timer due by then."""
        published = [] if published is None else published
        retracted = [] if retracted is None else retracted
        if self.stream_time_ms is not None and now_ms <= self.stream_time_ms:
            return ApplyResult(Verdict.ACCEPTED)
        self._advance(now_ms, published, retracted)
        return ApplyResult(Verdict.ACCEPTED, tuple(published), tuple(retracted))

    def _advance(self, now_ms: int, published: list[AnyFact], retracted: list[AnyFact]) -> None:
        """:meth:`advance_to` for a ``now_ms`` past stream time, adding what it fires to the lists."""
        before_ms = self.stream_time_ms if self.stream_time_ms is not None else now_ms
        self.stream_time_ms = now_ms
        # The view's clock first: facts completing by now count as they arrive.
        self.view.advance_to(now_ms)
        if now_ms >= self._next_reap_ms:
            self.reap(now_ms)
            self._next_reap_ms = now_ms + REAP_EVERY_MS
        # A contact can have several timers queued (one per event that moved its
        # deadline); its facts move from before_ms to now_ms once.
        due_contacts: set[str] = set()
        while self._timers and self._timers[0][0] <= now_ms:
            due_contacts.add(heapq.heappop(self._timers)[1])
        for contact_id in sorted(due_contacts):
            state = self._contacts.get(contact_id)
            if state is None:
                continue
            deadline_ms = next_deadline_ms(state, self._contact_rules, before_ms, contact_id=contact_id)
            if deadline_ms is None:
                continue  # a stale timer: the segment got its wrap-up meanwhile
            if deadline_ms > now_ms:
                heapq.heappush(self._timers, (deadline_ms, contact_id))
                continue  # an early timer (see end_deadline_floor_ms): wait for the exact deadline
            changes = advance_time(contact_id, state, self._contact_rules, before_ms, now_ms)
            self._record(changes, published, retracted, contact_id=contact_id)
            self._schedule_contact(contact_id, state, now_ms)
        # A segment an ACW timeout just completed may be what a pending survey waited for:
        # attribute it now, not at some later event (advance_to has no later event).
        if self._reattribute or self._retry_surveys:
            self._retry_pending_surveys(published, retracted)

    # -- reading (the queue side answers) ----------------------------------------------

    def queues(self) -> list[tuple[str, str]]:
        """Every (queue, channel) with data in retention or contacts waiting."""
        return self.view.queues()

    def windows(self, queue: str, now_ms: int) -> list[Window]:
        """The windows current at ``now_ms`` for this queue (its own time zone for ``today``)."""
        return self.view.windows(queue, now_ms)

    def aggregate(self, queue: str, channel: str, window: Window) -> QueueAggregate:
        """Merged buckets of ``window``; ``channel`` ``'all'`` merges every channel and agent time."""
        return self.view.aggregate(queue, channel, window)

    def snapshot(self, queue: str, channel: str, window: Window) -> KpiSnapshot:
        return self.view.snapshot(queue, channel, window)

    def live(self, queue: str, channel: str, now_ms: int) -> LiveQueue:
        return self.view.live(queue, channel, now_ms)

    def agents_by_state(self, queue: str | None = None) -> dict[AgentState, int]:
        """Agents in each state now (optionally only those serving ``queue``)."""
        return self.view.agents_by_state(queue)

    def staffed(self, queue: str) -> int:
        return self.view.staffed(queue)

    def staffing(self, queue: str, now_ms: int) -> StaffingAdvice | None:
        """Erlang C/A required agents from the rolling arrival rate and AHT, against agents staffed now."""
        return self.view.staffing(queue, now_ms)

    def open_tickets(self, queue: str) -> int:
        """Backlog: tickets of ``queue`` open now."""
        return self.view.open_tickets(queue)

    def _prune_agents(self, horizon_ms: int) -> None:
        """Prune the timelines that a horizon this late can prune (every other one would stay as it is)."""
        due = self._prune_due
        while due and due[0][0] <= horizon_ms:
            _, agent_id = heapq.heappop(due)
            timeline = self._agents[agent_id]
            prunes_from_ms = agent_states.prunes_from_ms(timeline)
            if prunes_from_ms is None or prunes_from_ms > horizon_ms:
                continue  # a stale entry: the agent's own is further on
            pruned = agent_states.prune_agent_timeline(timeline, horizon_ms)
            self._agents[agent_id] = pruned
            # A pruned timeline prunes again only past this horizon; one that pruning left as it
            # was (not built by this engine) is looked at again at the next pass, as before.
            again_ms = agent_states.prunes_from_ms(pruned)
            if again_ms is not None:
                heapq.heappush(due, (max(again_ms, horizon_ms + 1), agent_id))

    def _reap_open_segments(self, now_ms: int) -> None:
        """Count conversations that never ended within ``max_segment_age`` (once each); they yield no fact."""
        stale_before_ms = now_ms - self.config.max_segment_age_ms
        checked_before_ms = self._segments_checked_before_ms
        self._segments_checked_before_ms = stale_before_ms
        # Each contact is looked at once, in the pass where it turns stale.
        for contact_id, _ in self._contact_seen.seen_between(checked_before_ms, stale_before_ms):
            state = self._contacts.get(contact_id)
            if state is None or not state.handling.answers:
                continue
            for answer_id in _open_answers(state):
                if (contact_id, answer_id) not in self._reaped_segments:
                    self._reaped_segments.add((contact_id, answer_id))
                    self.stats.reaped_segments += 1

    def iter_contacts(self) -> Iterator[tuple[str, ContactState]]:
        return iter(self._contacts.items())

    # -- housekeeping ------------------------------------------------------------------

    def reap(self, now_ms: int) -> None:
        """Forget what stream time has left behind: old buckets, finished contacts, stuck stints."""
        horizon_ms = now_ms - self.config.retention_ms
        self.view.reap(now_ms)
        for contact_id in self._contact_seen.pop_older_than(horizon_ms):
            self._contacts.pop(contact_id, None)
        self._reap_open_segments(now_ms)
        self._prune_agents(horizon_ms)
        self._surveys, changes = surveys.give_up_pending(self._surveys, horizon_ms)
        self._record(changes, [], [])


def hash_customer_id(key: bytes, customer_id: str | None) -> str | None:
    """Keyed hash of a customer id (HMAC-SHA256, 16 bytes hex); None without a key or an id.

    The id itself is never kept: only this hash, for repeat-contact detection.
    """
    if customer_id is None or not key:
        return None
    return hmac.new(key, customer_id.encode(), hashlib.sha256).digest()[:16].hex()


def presence_of(agent_id: str, timeline: agent_states.AgentTimeline) -> AgentPresenceFact | None:
    """The agent's live record for the queue side (None before its first change)."""
    current = agent_states.open_state(timeline)
    if current is None:
        return None
    return AgentPresenceFact(agent_id, current.state, current.since_ts_ms, current.queues)


def open_ticket_fact(
    ticket_id: str, ticket: tickets.TicketState, attribution: surveys.Attribution | None
) -> TicketOpenFact | None:
    """The ticket's backlog record: present while it is open and its queue is known."""
    if attribution is None or attribution.queue is None or not tickets.is_open(ticket):
        return None
    return TicketOpenFact(ticket_id, attribution.queue)


def _open_answers(state: ContactState) -> list[str]:
    """Answer event ids of this contact whose conversation has no end yet."""
    place_at = contact_place_at(state)
    return [c.answer.event_id for c in conversations(state.handling, place_at) if c.end is None]


def apply_all(engine: Engine, events: Iterable[CanonicalEvent]) -> Counter[Verdict]:
    """Apply events in order; count the verdicts (for replays and tests)."""
    verdicts: Counter[Verdict] = Counter()
    for event in events:
        verdicts[engine.apply(event).verdict] += 1
    return verdicts
