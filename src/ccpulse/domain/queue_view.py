"""The queue side of the engine: facts in, per-queue buckets, live view and KPIs out.

Everything a queue's KPIs need is a function of the facts that are live now
and of the clock: bucket aggregates (per queue x channel, and agent time per
queue), who is waiting, which agents are in which state, which tickets are
open, and which handled contacts turned out to be first-contact resolutions.
:class:`QueueView` keeps those derived structures up to date as facts are
published and retracted (:meth:`QueueView.apply`) and as the clock moves
(:meth:`QueueView.advance_to`).

The in-process :class:`~ccpulse.domain.engine.Engine` feeds one view with
the changes of its lifecycles; the Faust worker feeds one view per partition
of its queue-keyed topic with the facts routed there, and rebuilds it from its
changelog-backed fact table after a restart. Both read KPIs the same way.

Two kinds of fact may be ahead of the clock here:

- a handling segment that completes by ACW timeout (``acw_timed_out``) at a
  deadline later than the clock: the worker's entity stage publishes every
  segment's eventual fact at once, so the view holds it back until the clock
  reaches its completion (:meth:`QueueView.pending_completions`), exactly when
  the engine's own timer would have published it;
- the repeat-contact decision for a handled contact, which is final only when
  the queue's repeat window after it has passed.

The view trusts its caller to send consistent changes (a retraction only of a
fact it holds); the worker checks that against its fact table.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ccpulse.domain.age_index import AgeIndex
from ccpulse.domain.aggregates import LongestWaits, QueueAggregate, split_span_ms
from ccpulse.domain.erlang import StaffingAdvice, staffing_advice
from ccpulse.domain.events import AgentState, Channel
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcomeFact,
    SurveyFact,
    TicketFact,
    TicketOpenFact,
)
from ccpulse.domain.kpis import KpiSnapshot, abandonment_hazard_per_s, aht_s, snapshot
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.windows import (
    HOUR_MS,
    MINUTE_MS,
    Window,
    WindowConfig,
    WindowKind,
    rolling_buckets,
    windows_at,
)

ALL_CHANNELS = "all"
STAFFED_STATES = frozenset({AgentState.AVAILABLE, AgentState.BUSY, AgentState.ACW})

QueueFact = QueueArrivalFact | QueueOutcomeFact | HandlingFact | AgentStateFact | TicketFact | SurveyFact
LiveFact = AgentPresenceFact | TicketOpenFact
ViewFact = QueueFact | LiveFact


@dataclass(frozen=True, slots=True)
class ViewConfig:
    """What the queue side needs from the engine's configuration."""

    queues: QueueConfigs = field(default_factory=QueueConfigs)
    windows: WindowConfig = field(default_factory=WindowConfig)
    retention_ms: int = 48 * HOUR_MS
    max_queue_age_ms: int = 4 * HOUR_MS
    staffing_rate_window_ms: int = 30 * MINUTE_MS


@dataclass
class ViewStats:
    """Counters the runtime exports as self-metrics."""

    reaped_stints: int = 0
    expired_facts: int = 0  # facts for buckets already dropped by retention


@dataclass(frozen=True, slots=True)
class LiveQueue:
    """The "now" view of one queue x channel."""

    waiting: int
    oldest_wait_ms: int | None
    waiting_beyond: dict[int, int]  # SL threshold (s) -> contacts waiting longer than it


@dataclass(frozen=True, slots=True)
class _PendingFcr:
    customer_key: str
    queue: str
    channel: Channel
    completed_ts_ms: int
    contact_id: str


class QueueView:
    """Bucket aggregates, live state and KPI reading for the queues whose facts it is given."""

    def __init__(
        self, config: ViewConfig | None = None, stats: ViewStats | None = None, *, track_changes: bool = False
    ) -> None:
        self.config = config or ViewConfig()
        self._track_changes = track_changes
        self.stats = stats or ViewStats()
        self.clock_ms: int | None = None
        bucket_ms = self.config.windows.bucket_ms
        self._buckets: dict[tuple[str, str, int], QueueAggregate] = {}
        self._agent_buckets: dict[tuple[str, int], QueueAggregate] = {}
        # Beside the buckets that hold queue outcomes: their waits, so maxima stay exact under retraction.
        self._longest_waits: dict[tuple[str, str, int], LongestWaits] = {}
        self._bucket_ages = AgeIndex[tuple[str, str, int]](bucket_ms)
        self._agent_bucket_ages = AgeIndex[tuple[str, int]](bucket_ms)
        # (queue, channel) -> {stint fact id: queued_ts_ms}: stints arrived, finished, and waiting (the difference)
        self._arrived: dict[tuple[str, str], dict[str, int]] = {}
        self._finished: dict[tuple[str, str], dict[str, int]] = {}
        self._waiting: dict[tuple[str, str], dict[str, int]] = {}
        # (queue, channel) -> heap of (queued_ts_ms, stint) for every stint in arrived or finished:
        # reaping pops only those older than the horizon instead of scanning 48 hours of stints.
        self._stint_expiry: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._presence: dict[tuple[str | None, str], AgentPresenceFact] = {}  # (route, agent id)
        self._open_tickets: dict[str, dict[str, TicketOpenFact]] = {}
        # Segments completing by timeout after the clock, by fact id.
        self._held: dict[str, HandlingFact] = {}
        self._held_due: list[tuple[int, str]] = []
        self._fcr_pending: dict[str, _PendingFcr] = {}
        self._fcr_due: list[tuple[int, str]] = []
        # (customer_key, queue) -> {contact_id: [queued_ts_ms, ...]} for repeat detection.
        # A list of (contact_id, queued_ts_ms) pairs: one customer rarely has more than a few.
        self._arrivals_by_customer: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._arrival_ages = AgeIndex[tuple[str, str, str]](bucket_ms)
        # (queue, bucket start) whose aggregates changed since take_changed_buckets(), if tracked.
        self._changed: set[tuple[str, int]] = set()
        self._queue_configs: dict[str, QueueConfig] = {}  # each queue's rules, looked up once
        self._bucket_ms = bucket_ms

    def queue_config(self, queue: str) -> QueueConfig:
        config = self._queue_configs.get(queue)
        if config is None:
            config = self._queue_configs[queue] = self.config.queues.for_queue(queue)
        return config

    @property
    def tracks_changes(self) -> bool:
        """Whether :meth:`take_changed_buckets` reports every bucket changed (else it reports none)."""
        return self._track_changes

    # -- input ---------------------------------------------------------------------

    def apply(
        self,
        published: Iterable[ViewFact] = (),
        retracted: Iterable[ViewFact] = (),
        *,
        only_queue: str | None = None,
    ) -> None:
        """Retract, then publish. ``only_queue``: count facts that name several queues for that one only.

        Agent facts name every queue the agent served; the worker routes one
        copy to each queue's partition and passes that queue here, so each copy
        counts once. The engine passes None and every named queue counts.
        """
        for fact in retracted:
            self._fold(fact, -1, only_queue)
        for fact in published:
            self._fold(fact, +1, only_queue)

    def _fold(self, fact: ViewFact, sign: int, only_queue: str | None) -> None:
        if isinstance(fact, AgentPresenceFact):
            # One copy per queue partition the worker routed it to; the engine's has no route.
            key = (only_queue, fact.agent_id)
            if sign > 0:
                self._presence[key] = fact
            elif self._presence.get(key) == fact:
                del self._presence[key]
            return
        if isinstance(fact, TicketOpenFact):
            open_ids = self._open_tickets.setdefault(fact.queue, {})
            if sign > 0:
                open_ids[fact.ticket_id] = fact
            else:
                open_ids.pop(fact.ticket_id, None)
            return
        if isinstance(fact, AgentStateFact):
            self._count_agent_time(fact, sign, only_queue)
            return
        if isinstance(fact, HandlingFact) and fact.acw_timed_out and self._ahead(fact.completed_ts_ms):
            self._hold(fact, sign)
            return
        self._count(fact, sign)
        self._follow(fact, sign)

    def _ahead(self, ts_ms: int) -> bool:
        return self.clock_ms is None or ts_ms > self.clock_ms

    def _hold(self, fact: HandlingFact, sign: int) -> None:
        if sign > 0:
            self._held[fact.fact_id] = fact
            heapq.heappush(self._held_due, (fact.completed_ts_ms, fact.fact_id))
        elif self._held.get(fact.fact_id) == fact:
            del self._held[fact.fact_id]

    def pending_completions(self) -> int:
        """Segments completing by ACW timeout after the clock, held back until it gets there."""
        return len(self._held)

    def _bucket(self, queue: str, channel: str, start_ms: int) -> QueueAggregate | None:
        """The aggregate of the bucket starting at ``start_ms``; None if retention has dropped it."""
        if self.clock_ms is not None and start_ms < self.clock_ms - self.config.retention_ms:
            self.stats.expired_facts += 1
            return None
        key = (queue, channel, start_ms)
        aggregate = self._buckets.get(key)
        if aggregate is None:
            aggregate = self._buckets[key] = QueueAggregate.empty(self.queue_config(queue))
            self._bucket_ages.touch(key, start_ms)
        if self._track_changes:
            self._changed.add((queue, start_ms))
        return aggregate

    def _count(self, fact: QueueFact, sign: int) -> None:
        if isinstance(fact, QueueOutcomeFact):
            ts_ms = fact.outcome_ts_ms
        elif isinstance(fact, QueueArrivalFact):
            ts_ms = fact.queued_ts_ms
        elif isinstance(fact, HandlingFact):
            ts_ms = fact.completed_ts_ms
        elif isinstance(fact, AgentStateFact):  # pragma: no cover - routed to _count_agent_time
            return
        else:
            ts_ms = fact.ts_ms
        queue, channel = fact.queue, fact.channel
        if queue is None or channel is None:
            return  # a survey nobody could attribute: counted by the inbox, not by a queue
        # _value_ is the member's plain string (Enum.value is a much slower property).
        start_ms = ts_ms - ts_ms % self._bucket_ms
        aggregate = self._bucket(queue, channel._value_, start_ms)
        if aggregate is None:
            return
        config = self.queue_config(queue)
        if isinstance(fact, QueueOutcomeFact):
            aggregate.add_outcome(fact, config, sign=sign)
            key = (queue, channel._value_, start_ms)
            longest = self._longest_waits.get(key)
            if longest is None:
                longest = self._longest_waits[key] = LongestWaits()
            longest.fold(fact, config, aggregate, sign)
        else:
            aggregate.add_fact(fact, config, sign=sign)

    def _count_agent_time(self, fact: AgentStateFact, sign: int, only_queue: str | None) -> None:
        bucket_ms = self._bucket_ms
        queues = fact.queues if only_queue is None else [q for q in fact.queues if q == only_queue]
        for queue in queues:
            config = self.queue_config(queue)
            for start_ms, overlap_ms in split_span_ms(fact.start_ts_ms, fact.end_ts_ms, bucket_ms):
                key = (queue, start_ms)
                aggregate = self._agent_buckets.get(key)
                if aggregate is None:
                    aggregate = self._agent_buckets[key] = QueueAggregate.empty(config)
                    self._agent_bucket_ages.touch(key, start_ms)
                aggregate.add_agent_state(fact, overlap_ms, sign=sign)
                if self._track_changes:
                    self._changed.add((queue, start_ms))

    def _follow(self, fact: QueueFact, sign: int) -> None:
        """Side indexes: the live waiting view and repeat-contact windows."""
        if isinstance(fact, QueueArrivalFact | QueueOutcomeFact):
            self._follow_stint(fact, sign)
            if isinstance(fact, QueueArrivalFact):
                (self._index_arrival if sign > 0 else self._unindex_arrival)(fact)
        elif isinstance(fact, HandlingFact) and fact.customer_key is not None:
            if sign < 0:
                self._fcr_pending.pop(fact.fact_id, None)
                return
            window_ms = self.queue_config(fact.queue).repeat_window_ms
            self._fcr_pending[fact.fact_id] = _PendingFcr(
                fact.customer_key, fact.queue, fact.channel, fact.completed_ts_ms, fact.contact_id
            )
            heapq.heappush(self._fcr_due, (fact.completed_ts_ms + window_ms, fact.fact_id))

    def _follow_stint(self, fact: QueueArrivalFact | QueueOutcomeFact, sign: int) -> None:
        """Waiting = stints arrived and not finished, whichever of the two facts came first."""
        key = (fact.queue, fact.channel._value_)
        arrived = self._arrived.setdefault(key, {})
        finished = self._finished.setdefault(key, {})
        waiting = self._waiting.setdefault(key, {})
        stint, queued_ms = fact.fact_id, fact.queued_ts_ms
        if sign > 0 and stint not in arrived and stint not in finished:
            heapq.heappush(self._stint_expiry.setdefault(key, []), (queued_ms, stint))
        if isinstance(fact, QueueArrivalFact):
            if sign > 0:
                arrived[stint] = queued_ms
                if stint not in finished:
                    waiting[stint] = queued_ms
            else:
                arrived.pop(stint, None)
                waiting.pop(stint, None)
        elif sign > 0:
            finished[stint] = queued_ms
            waiting.pop(stint, None)
        else:
            finished.pop(stint, None)
            if stint in arrived:
                waiting[stint] = arrived[stint]

    def _index_arrival(self, fact: QueueArrivalFact) -> None:
        if fact.customer_key is None:
            return
        arrival = (fact.contact_id, fact.queued_ts_ms)
        arrivals = self._arrivals_by_customer.get((fact.customer_key, fact.queue))
        if arrivals is None:
            self._arrivals_by_customer[(fact.customer_key, fact.queue)] = [arrival]
        else:
            arrivals.append(arrival)
        # Needed until every handled contact it could repeat has settled: its repeat window after it.
        expires_ms = fact.queued_ts_ms + self.queue_config(fact.queue).repeat_window_ms
        self._arrival_ages.touch((fact.customer_key, fact.queue, fact.contact_id), expires_ms)

    def _unindex_arrival(self, fact: QueueArrivalFact) -> None:
        if fact.customer_key is None:
            return
        arrivals = self._arrivals_by_customer.get((fact.customer_key, fact.queue))
        arrival = (fact.contact_id, fact.queued_ts_ms)
        if arrivals and arrival in arrivals:
            arrivals.remove(arrival)

    # -- time ------------------------------------------------------------------------

    def advance_to(self, now_ms: int) -> None:
        """Move the clock forward: release held completions, settle repeat windows, forget old buckets."""
        if self.clock_ms is not None and now_ms <= self.clock_ms:
            return
        self.clock_ms = now_ms
        while self._held_due and self._held_due[0][0] <= now_ms:
            _, fact_id = heapq.heappop(self._held_due)
            fact = self._held.pop(fact_id, None)
            if fact is not None and fact.completed_ts_ms <= now_ms:
                self._count(fact, +1)
                self._follow(fact, +1)
            elif fact is not None:  # a newer version, held until later
                self._held[fact_id] = fact
        while self._fcr_due and self._fcr_due[0][0] <= now_ms:
            _, fact_id = heapq.heappop(self._fcr_due)
            self._settle_fcr(fact_id, now_ms)

    def _settle_fcr(self, fact_id: str, now_ms: int) -> None:
        pending = self._fcr_pending.get(fact_id)
        if pending is None:
            return  # retracted meanwhile, or settled by an earlier timer
        window_ms = self.queue_config(pending.queue).repeat_window_ms
        due_ms = pending.completed_ts_ms + window_ms
        if due_ms > now_ms:
            return  # a newer version of the fact moved its window; its own timer settles it
        del self._fcr_pending[fact_id]
        later = self._arrivals_by_customer.get((pending.customer_key, pending.queue), ())
        repeat = any(
            pending.completed_ts_ms < queued_ms <= due_ms
            for contact_id, queued_ms in later
            if contact_id != pending.contact_id
        )
        aggregate = self._bucket(pending.queue, pending.channel.value, due_ms - due_ms % self._bucket_ms)
        if aggregate is not None:
            aggregate.add_fcr_result(repeat=repeat)

    def reap(self, now_ms: int) -> None:
        """Forget buckets older than the retention; drop stints waiting longer than ``max_queue_age``."""
        horizon_ms = now_ms - self.config.retention_ms
        for key in self._bucket_ages.pop_older_than(horizon_ms):
            del self._buckets[key]
            self._longest_waits.pop(key, None)
        for agent_key in self._agent_bucket_ages.pop_older_than(horizon_ms):
            del self._agent_buckets[agent_key]
        # A stint's id names its queued time, so the heap entry's time is the one both indexes hold.
        for queue_channel, expiry in self._stint_expiry.items():
            arrived, finished = self._arrived[queue_channel], self._finished[queue_channel]
            while expiry and expiry[0][0] < horizon_ms:
                _, stint = heapq.heappop(expiry)
                arrived.pop(stint, None)
                finished.pop(stint, None)
        stuck_before_ms = now_ms - self.config.max_queue_age_ms
        for waiting in self._waiting.values():
            stuck = [stint for stint, queued_ms in waiting.items() if queued_ms < stuck_before_ms]
            for stint in stuck:
                del waiting[stint]
            self.stats.reaped_stints += len(stuck)
        for customer_key, queue, contact_id in self._arrival_ages.pop_older_than(now_ms):
            arrivals = self._arrivals_by_customer.get((customer_key, queue), [])
            arrivals[:] = [arrival for arrival in arrivals if arrival[0] != contact_id]
            if not arrivals:
                self._arrivals_by_customer.pop((customer_key, queue), None)

    def take_changed_buckets(self) -> set[tuple[str, int]]:
        """(queue, bucket start) whose aggregates changed since the last call, for republishing KPI rows."""
        changed, self._changed = self._changed, set()
        return changed

    # -- reading -------------------------------------------------------------------

    def queues(self) -> list[tuple[str, str]]:
        """Every (queue, channel) with data in retention or contacts waiting."""
        seen = {(queue, channel) for queue, channel, _ in self._buckets}
        seen |= {key for key, waiting in self._waiting.items() if waiting}
        return sorted(seen)

    def queue_names(self) -> list[str]:
        """Every queue with data, contacts waiting, agents serving it or tickets open."""
        names = {queue for queue, _ in self.queues()}
        for (route, _), presence in self._presence.items():
            names.update(presence.queues if route is None else (route,))
        names.update(queue for queue, open_ids in self._open_tickets.items() if open_ids)
        return sorted(names)

    def windows(self, queue: str, now_ms: int) -> list[Window]:
        """The windows current at ``now_ms`` for this queue (its own time zone for ``today``)."""
        config = self.queue_config(queue)
        return windows_at(now_ms, replace(self.config.windows, reset=config.reset))

    def aggregate(self, queue: str, channel: str, window: Window) -> QueueAggregate:
        """Merged buckets of ``window``; ``channel`` ``'all'`` merges every channel and agent time."""
        config = self.queue_config(queue)
        total = QueueAggregate.empty(config)
        bucket_ms = self.config.windows.bucket_ms
        channels = [c.value for c in Channel] if channel == ALL_CHANNELS else [channel]
        for start_ms in window.bucket_starts(bucket_ms):
            for name in channels:
                found = self._buckets.get((queue, name, start_ms))
                if found is not None:
                    total.merge_in(found)
            if channel == ALL_CHANNELS:
                agent_time = self._agent_buckets.get((queue, start_ms))
                if agent_time is not None:
                    total.merge_in(agent_time)
        return total

    def snapshot(self, queue: str, channel: str, window: Window) -> KpiSnapshot:
        return snapshot(self.aggregate(queue, channel, window), self.queue_config(queue), window.duration_ms)

    def live(self, queue: str, channel: str, now_ms: int) -> LiveQueue:
        """Who waits now in ``queue`` x ``channel`` (``'all'``: every channel of the queue)."""
        waits = self.waits(queue, channel, now_ms)
        thresholds = self.queue_config(queue).sl_thresholds_s
        return LiveQueue(
            waiting=len(waits),
            oldest_wait_ms=max(waits) if waits else None,
            waiting_beyond={t: sum(1 for w in waits if w > t * 1000) for t in thresholds},
        )

    def waits(self, queue: str, channel: str, now_ms: int) -> list[int]:
        """How long (ms) each contact waiting now in ``queue`` x ``channel`` (or ``'all'``) has waited."""
        channels = [c.value for c in Channel] if channel == ALL_CHANNELS else [channel]
        # A contact queued after ``now_ms`` (the clock of a slower partition) has waited 0 so far.
        return [
            max(0, now_ms - queued_ms)
            for name in channels
            for queued_ms in self._waiting.get((queue, name), {}).values()
        ]

    def agent_states(self, queue: str | None = None) -> dict[str, AgentState]:
        """Each agent's state now, by agent id (optionally only agents serving ``queue``)."""
        return {
            agent_id: presence.state
            for (route, agent_id), presence in self._presence.items()
            if queue is None or (queue in presence.queues and route in (None, queue))
        }

    def agents_by_state(self, queue: str | None = None) -> dict[AgentState, int]:
        """Agents in each state now (optionally only those serving ``queue``)."""
        counts: dict[AgentState, int] = dict.fromkeys(AgentState, 0)
        for state in self.agent_states(queue).values():
            counts[state] += 1
        return counts

    def staffed(self, queue: str) -> int:
        counts = self.agents_by_state(queue)
        return sum(counts[state] for state in STAFFED_STATES)

    def staffing(self, queue: str, now_ms: int) -> StaffingAdvice | None:
        """Erlang C/A required agents from the rolling arrival rate and AHT, against agents staffed now.

        None until the window has a handled contact (no AHT to plan with).
        """
        config = self.queue_config(queue)
        buckets = rolling_buckets(now_ms, self.config.staffing_rate_window_ms, self.config.windows.bucket_ms)
        window = Window(WindowKind.ROLLING, "staffing", buckets.start, buckets.stop)
        recent = self.aggregate(queue, ALL_CHANNELS, window)
        handle_s = aht_s(recent)
        if not handle_s:
            return None
        hazard = abandonment_hazard_per_s(recent)
        return staffing_advice(
            arrival_rate_per_s=recent.arrivals / (window.duration_ms / 1000),
            aht_s=handle_s,
            threshold_s=config.sl_target_threshold_s,
            target_sl=config.sl_target_ratio,
            staffed_agents=self.staffed(queue),
            patience_s=(1 / hazard) if hazard else None,
        )

    def open_tickets(self, queue: str) -> int:
        """Backlog: tickets of ``queue`` open now."""
        return len(self._open_tickets.get(queue, ()))
