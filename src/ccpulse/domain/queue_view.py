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
from typing import TypeVar

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
    DailyReset,
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


# A queue stint: (contact id, queued_ts_ms), the same identity as the stint's fact id, held as
# the objects the facts already share instead of a new id string per fact.
StintId = tuple[str, int]
_K = TypeVar("_K")
_ARRIVED, _FINISHED = 1, 2  # which of a stint's two facts are live (bit flags)


class _Stints:
    """One queue x channel's stints: which of their facts are live, and who waits (arrived, not finished).

    Stints are filed by queued-time slot so that retention finds the old ones
    without a heap entry per stint; a stint filed twice (published, retracted,
    published again) is forgotten once, the second time finding nothing.
    """

    __slots__ = ("_filed", "_live", "_slot_ms", "_slots_due", "waiting")

    def __init__(self, slot_ms: int) -> None:
        self._slot_ms = slot_ms
        self._live: dict[StintId, int] = {}  # stint -> _ARRIVED | _FINISHED flags (never 0)
        self.waiting: dict[StintId, int] = {}  # stint -> queued_ts_ms
        self._filed: dict[int, list[StintId]] = {}  # slot start -> stints queued in it
        self._slots_due: list[int] = []  # heap of the slot starts in _filed

    def follow(self, fact: QueueArrivalFact | QueueOutcomeFact, sign: int) -> StintId:
        """Fold one of a stint's facts in; return the stint's id."""
        queued_ms = fact.queued_ts_ms
        stint = (fact.contact_id, queued_ms)
        flags = self._live.get(stint, 0)
        if sign > 0 and not flags:
            self._file(stint, queued_ms)
        if isinstance(fact, QueueArrivalFact):
            if sign > 0:
                flags |= _ARRIVED
                if not flags & _FINISHED:
                    self.waiting[stint] = queued_ms
            else:
                flags &= ~_ARRIVED
                self.waiting.pop(stint, None)
        elif sign > 0:
            flags |= _FINISHED
            self.waiting.pop(stint, None)
        else:
            flags &= ~_FINISHED
            if flags & _ARRIVED:
                self.waiting[stint] = queued_ms  # the arrival's own queued time: the stint id names it
        if flags:
            self._live[stint] = flags
        else:
            self._live.pop(stint, None)
        return stint

    def _file(self, stint: StintId, queued_ms: int) -> None:
        slot = queued_ms - queued_ms % self._slot_ms
        filed = self._filed.get(slot)
        if filed is None:
            self._filed[slot] = [stint]
            heapq.heappush(self._slots_due, slot)
        else:
            filed.append(stint)

    def forget_before(self, horizon_ms: int) -> None:
        """Forget the facts of stints queued before ``horizon_ms`` (who waits is left to the age limit)."""
        due, live = self._slots_due, self._live
        while due and due[0] < horizon_ms:
            slot = due[0]
            kept = [stint for stint in self._filed[slot] if stint[1] >= horizon_ms]
            for stint in self._filed[slot]:
                if stint[1] < horizon_ms:
                    live.pop(stint, None)
            if kept:  # the slot the horizon falls in: the rest is still in retention
                self._filed[slot] = kept
                return
            del self._filed[slot]
            heapq.heappop(due)

    def drop_waiting_before(self, before_ms: int) -> int:
        """Stop showing stints queued before ``before_ms`` as waiting; how many were dropped."""
        stuck = [stint for stint, queued_ms in self.waiting.items() if queued_ms < before_ms]
        for stint in stuck:
            del self.waiting[stint]
        return len(stuck)


class _CustomerArrivals:
    """One queue's arrivals by customer key, for repeat detection, each contact's kept for a while.

    A contact's arrivals go together once the repeat window after the latest
    of them has passed (its latest queued time is before ``now - window``).
    An arrival withdrawn meanwhile no longer counts as a repeat, but its time
    still counts as the contact's latest until then. The arrivals are the
    stint ids the view already holds; customers are filed by the slot of each
    contact's latest queued time, so forgetting visits only the old slots and
    no per-arrival key or deadline is built. A customer's arrivals are a
    multiset (their order never matters); most customers have one, held alone
    rather than in a tuple of one.
    """

    __slots__ = ("_filed", "_one", "_several", "_slot_ms", "_slots_due", "_window_ms", "_withdrawn")

    def __init__(self, window_ms: int, slot_ms: int) -> None:
        self._window_ms = window_ms
        self._slot_ms = slot_ms
        self._one: dict[str, StintId] = {}  # customer key -> its only arrival
        self._several: dict[str, tuple[StintId, ...]] = {}  # customer key -> its arrivals (two or more)
        self._withdrawn: dict[str, tuple[StintId, ...]] = {}  # arrivals withdrawn since their contact was kept
        self._filed: dict[int, list[str]] = {}  # slot start -> customers with a contact's latest time in it
        self._slots_due: list[int] = []  # heap of the slot starts in _filed

    def of_customer(self, customer_key: str) -> tuple[StintId, ...]:
        one = self._one.get(customer_key)
        return (one,) if one is not None else self._several.get(customer_key, ())

    def _set_arrivals(self, customer_key: str, arrivals: tuple[StintId, ...]) -> None:
        self._one.pop(customer_key, None)
        self._several.pop(customer_key, None)
        if len(arrivals) == 1:
            self._one[customer_key] = arrivals[0]
        elif arrivals:
            self._several[customer_key] = arrivals

    def _latest_ms(self, customer_key: str, contact_id: str) -> int | None:
        """The contact's latest queued time among the arrivals kept for it (withdrawn ones included)."""
        latest: int | None = None
        for arrivals in (self.of_customer(customer_key), self._withdrawn.get(customer_key, ())):
            for arrival_contact, queued_ms in arrivals:
                if arrival_contact == contact_id and (latest is None or queued_ms > latest):
                    latest = queued_ms
        return latest

    def index(self, customer_key: str, arrival: StintId) -> None:
        contact_id, queued_ms = arrival
        previous_ms = self._latest_ms(customer_key, contact_id)
        self._set_arrivals(customer_key, (*self.of_customer(customer_key), arrival))
        slot_ms = self._slot_ms
        slot = queued_ms - queued_ms % slot_ms
        if previous_ms is not None and (queued_ms <= previous_ms or slot == previous_ms - previous_ms % slot_ms):
            return  # the contact's latest time stays, or stays in its slot: already filed there
        filed = self._filed.get(slot)
        if filed is None:
            self._filed[slot] = [customer_key]
            heapq.heappush(self._slots_due, slot)
        else:
            filed.append(customer_key)

    def unindex(self, customer_key: str, arrival: StintId) -> None:
        arrivals = self.of_customer(customer_key)
        if arrival in arrivals:
            at = arrivals.index(arrival)  # one of them, as list.remove would
            self._set_arrivals(customer_key, (*arrivals[:at], *arrivals[at + 1 :]))
            self._withdrawn[customer_key] = (*self._withdrawn.get(customer_key, ()), arrival)

    def forget_expired(self, now_ms: int) -> None:
        """Forget the contacts whose latest arrival's repeat window ended before ``now_ms``."""
        before_ms = now_ms - self._window_ms
        slot_ms, due = self._slot_ms, self._slots_due
        while due and due[0] < before_ms:
            slot = due[0]
            kept: list[str] = []
            for customer_key in dict.fromkeys(self._filed[slot]):  # each customer once, in filing order
                keep = False
                for contact_id in self._contacts_of(customer_key):
                    latest_ms = self._latest_ms(customer_key, contact_id)
                    if latest_ms is None or latest_ms - latest_ms % slot_ms != slot:
                        continue  # filed in another slot (later, or already forgotten)
                    if latest_ms < before_ms:
                        self._forget(customer_key, contact_id)
                    else:
                        keep = True
                if keep:
                    kept.append(customer_key)
            if kept:  # the slot ``before_ms`` falls in: the rest is still needed
                self._filed[slot] = kept
                return
            del self._filed[slot]
            heapq.heappop(due)

    def _contacts_of(self, customer_key: str) -> list[str]:
        arrivals = (*self.of_customer(customer_key), *self._withdrawn.get(customer_key, ()))
        return list(dict.fromkeys(contact_id for contact_id, _ in arrivals))

    def _forget(self, customer_key: str, contact_id: str) -> None:
        self._set_arrivals(customer_key, tuple(a for a in self.of_customer(customer_key) if a[0] != contact_id))
        withdrawn = tuple(a for a in self._withdrawn.pop(customer_key, ()) if a[0] != contact_id)
        if withdrawn:
            self._withdrawn[customer_key] = withdrawn


class _BucketIndex:
    """Which buckets each queue holds: their starts (channel buckets and agent time together) and channels.

    Reading a window then visits only the buckets a queue really has, not
    every bucket start the window spans: with thousands of quiet queues, most
    windows of most queues hold one bucket or none.
    """

    __slots__ = ("_channels", "_starts")

    def __init__(self) -> None:
        self._starts: dict[str, dict[int, int]] = {}  # queue -> bucket start -> buckets there
        self._channels: dict[str, dict[str, int]] = {}  # queue -> channel -> buckets of it

    def add(self, queue: str, channel: str | None, start_ms: int) -> None:
        """A bucket was created (``channel`` None: agent time)."""
        starts = self._starts.setdefault(queue, {})
        starts[start_ms] = starts.get(start_ms, 0) + 1
        if channel is not None:
            channels = self._channels.setdefault(queue, {})
            channels[channel] = channels.get(channel, 0) + 1

    def remove(self, queue: str, channel: str | None, start_ms: int) -> None:
        """A bucket was dropped by retention."""
        _count_down(self._starts, queue, start_ms)
        if channel is not None:
            _count_down(self._channels, queue, channel)

    def starts_in(self, queue: str, starts: range) -> Iterable[int]:
        """The bucket starts of ``queue`` among ``starts``, or ``starts`` itself when that is the shorter list."""
        own = self._starts.get(queue)
        if not own:
            return ()
        if len(own) < len(starts):
            return [start_ms for start_ms in own if start_ms in starts]
        return starts

    def starts_of(self, queue: str) -> Iterable[int]:
        return self._starts.get(queue, {}).keys()

    def channels_of(self, queue: str) -> Iterable[str]:
        return self._channels.get(queue, {}).keys()

    def queue_channels(self) -> Iterable[tuple[str, str]]:
        return ((queue, channel) for queue, channels in self._channels.items() for channel in channels)


def _count_down(counts: dict[str, dict[_K, int]], queue: str, key: _K) -> None:
    own = counts[queue]
    if own[key] > 1:
        own[key] -= 1
        return
    del own[key]
    if not own:
        del counts[queue]


def _merge_at(
    buckets: dict[int, QueueAggregate], start_ms: int, aggregate: QueueAggregate, config: QueueConfig
) -> None:
    total = buckets.get(start_ms)
    if total is None:
        total = buckets[start_ms] = QueueAggregate.empty(config)
    total.merge_in(aggregate)


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
        self._index = _BucketIndex()
        # (queue, channel) -> the stints that arrived or finished, and those waiting (arrived, not finished).
        self._stints: dict[tuple[str, str], _Stints] = {}
        self._presence: dict[tuple[str | None, str], AgentPresenceFact] = {}  # (route, agent id)
        # queue -> the presences of agents serving it (a presence counts for a queue it names, if routed there).
        self._presence_of_queue: dict[str, dict[tuple[str | None, str], AgentPresenceFact]] = {}
        self._open_tickets: dict[str, dict[str, TicketOpenFact]] = {}
        # Segments completing by timeout after the clock, by fact id.
        self._held: dict[str, HandlingFact] = {}
        self._held_due: list[tuple[int, str]] = []
        self._fcr_pending: dict[str, _PendingFcr] = {}
        self._fcr_due: list[tuple[int, str]] = []
        # queue -> arrivals by customer key, for repeat detection.
        self._arrivals: dict[str, _CustomerArrivals] = {}
        # (queue, bucket start) whose aggregates changed since take_changed_buckets(), if tracked.
        self._changed: set[tuple[str, int]] = set()
        # Queues whose agents or open tickets changed since take_changed_live(), if tracked.
        self._changed_live: set[str] = set()
        self._queue_configs: dict[str, QueueConfig] = {}  # each queue's rules, looked up once
        self._windows_at: dict[DailyReset, tuple[int, list[Window]]] = {}  # the last windows per time zone
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
            current = self._presence.get(key)
            if sign > 0:
                if current is not None:
                    self._index_presence(key, current, present=False)
                self._presence[key] = fact
                self._index_presence(key, fact, present=True)
            elif current == fact:
                del self._presence[key]
                self._index_presence(key, fact, present=False)
            return
        if isinstance(fact, TicketOpenFact):
            open_ids = self._open_tickets.setdefault(fact.queue, {})
            if sign > 0:
                open_ids[fact.ticket_id] = fact
            else:
                open_ids.pop(fact.ticket_id, None)
            if self._track_changes:
                self._changed_live.add(fact.queue)
            return
        if isinstance(fact, AgentStateFact):
            self._count_agent_time(fact, sign, only_queue)
            return
        if isinstance(fact, HandlingFact) and fact.acw_timed_out and self._ahead(fact.completed_ts_ms):
            self._hold(fact, sign)
            return
        self._count(fact, sign)
        self._follow(fact, sign)

    def _index_presence(self, key: tuple[str | None, str], fact: AgentPresenceFact, *, present: bool) -> None:
        route = key[0]
        for queue in fact.queues:
            if route is not None and route != queue:
                continue
            if present:
                self._presence_of_queue.setdefault(queue, {})[key] = fact
            else:
                serving = self._presence_of_queue.get(queue)
                if serving is not None:
                    serving.pop(key, None)
                    if not serving:
                        del self._presence_of_queue[queue]
            if self._track_changes:
                self._changed_live.add(queue)

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
            self._index.add(queue, channel, start_ms)
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
        queues = fact.queues if only_queue is None else [q for q in fact.queues if q == only_queue]
        if not queues:
            return
        # The span's pieces are the same for every queue: split it once.
        pieces = split_span_ms(fact.start_ts_ms, fact.end_ts_ms, self._bucket_ms)
        state, buckets = fact.state, self._agent_buckets
        for queue in queues:
            config = self.queue_config(queue)
            for start_ms, overlap_ms in pieces:
                key = (queue, start_ms)
                aggregate = buckets.get(key)
                if aggregate is None:
                    aggregate = buckets[key] = QueueAggregate.empty(config)
                    self._agent_bucket_ages.touch(key, start_ms)
                    self._index.add(queue, None, start_ms)
                aggregate.add_agent_time(state, overlap_ms, sign)  # sign is apply()'s own +1 or -1
                if self._track_changes:
                    self._changed.add(key)

    def _follow(self, fact: QueueFact, sign: int) -> None:
        """Side indexes: the live waiting view and repeat-contact windows."""
        if isinstance(fact, QueueArrivalFact | QueueOutcomeFact):
            stint = self._follow_stint(fact, sign)
            if isinstance(fact, QueueArrivalFact) and fact.customer_key is not None:
                self._follow_arrival(fact, fact.customer_key, stint, sign)
        elif isinstance(fact, HandlingFact) and fact.customer_key is not None:
            if sign < 0:
                self._fcr_pending.pop(fact.fact_id, None)
                return
            window_ms = self.queue_config(fact.queue).repeat_window_ms
            self._fcr_pending[fact.fact_id] = _PendingFcr(
                fact.customer_key, fact.queue, fact.channel, fact.completed_ts_ms, fact.contact_id
            )
            heapq.heappush(self._fcr_due, (fact.completed_ts_ms + window_ms, fact.fact_id))

    def _follow_stint(self, fact: QueueArrivalFact | QueueOutcomeFact, sign: int) -> StintId:
        """Waiting = stints arrived and not finished, whichever of the two facts came first."""
        key = (fact.queue, fact.channel._value_)
        stints = self._stints.get(key)
        if stints is None:
            stints = self._stints[key] = _Stints(self._bucket_ms)
        return stints.follow(fact, sign)

    def _follow_arrival(self, fact: QueueArrivalFact, customer_key: str, stint: StintId, sign: int) -> None:
        """Index (or withdraw) an arrival of a known customer for repeat detection."""
        arrivals = self._arrivals.get(fact.queue)
        if arrivals is None:
            window_ms = self.queue_config(fact.queue).repeat_window_ms
            arrivals = self._arrivals[fact.queue] = _CustomerArrivals(window_ms, self._bucket_ms)
        if sign > 0:
            arrivals.index(customer_key, stint)
        else:
            arrivals.unindex(customer_key, stint)

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
        arrivals = self._arrivals.get(pending.queue)
        later = () if arrivals is None else arrivals.of_customer(pending.customer_key)
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
            self._index.remove(key[0], key[1], key[2])
        for agent_key in self._agent_bucket_ages.pop_older_than(horizon_ms):
            del self._agent_buckets[agent_key]
            self._index.remove(agent_key[0], None, agent_key[1])
        stuck_before_ms = now_ms - self.config.max_queue_age_ms
        for stints in self._stints.values():
            stints.forget_before(horizon_ms)
            self.stats.reaped_stints += stints.drop_waiting_before(stuck_before_ms)
        for arrivals in self._arrivals.values():
            arrivals.forget_expired(now_ms)

    def take_changed_buckets(self) -> set[tuple[str, int]]:
        """(queue, bucket start) whose aggregates changed since the last call, for republishing KPI rows."""
        changed, self._changed = self._changed, set()
        return changed

    def take_changed_live(self) -> set[str]:
        """Queues whose agents or open tickets changed since the last call (none unless changes are tracked)."""
        changed, self._changed_live = self._changed_live, set()
        return changed

    # -- reading -------------------------------------------------------------------

    def queues(self) -> list[tuple[str, str]]:
        """Every (queue, channel) with data in retention or contacts waiting."""
        seen = set(self._index.queue_channels())
        seen.update(self.waiting_queue_channels())
        return sorted(seen)

    def waiting_queue_channels(self) -> list[tuple[str, str]]:
        """Every (queue, channel) with contacts waiting now."""
        return [key for key, stints in self._stints.items() if stints.waiting]

    def channels_of(self, queue: str) -> list[str]:
        """The channels of ``queue`` with data in retention or contacts waiting (not ``'all'``)."""
        channels = set(self._index.channels_of(queue))
        channels.update(c.value for c in Channel if self._waiting_of(queue, c.value))
        return sorted(channels)

    def bucket_starts_of(self, queue: str) -> Iterable[int]:
        """The starts of the buckets ``queue`` holds (any channel, or agent time), in no order."""
        return self._index.starts_of(queue)

    def queue_names(self) -> list[str]:
        """Every queue with data, contacts waiting, agents serving it or tickets open."""
        names = {queue for queue, _ in self.queues()}
        for (route, _), presence in self._presence.items():
            names.update(presence.queues if route is None else (route,))
        names.update(queue for queue, open_ids in self._open_tickets.items() if open_ids)
        return sorted(names)

    def windows(self, queue: str, now_ms: int) -> list[Window]:
        """The windows current at ``now_ms`` for this queue (its own time zone for ``today``)."""
        reset = self.queue_config(queue).reset
        cached = self._windows_at.get(reset)
        if cached is None or cached[0] != now_ms:
            cached = self._windows_at[reset] = (now_ms, windows_at(now_ms, replace(self.config.windows, reset=reset)))
        return list(cached[1])

    def aggregate(self, queue: str, channel: str, window: Window) -> QueueAggregate:
        """Merged buckets of ``window``; ``channel`` ``'all'`` merges every channel and agent time."""
        config = self.queue_config(queue)
        total = QueueAggregate.empty(config)
        bucket_ms = self.config.windows.bucket_ms
        channels = [c.value for c in Channel] if channel == ALL_CHANNELS else [channel]
        for start_ms in self._index.starts_in(queue, window.bucket_starts(bucket_ms)):
            for name in channels:
                found = self._buckets.get((queue, name, start_ms))
                if found is not None:
                    total.merge_in(found)
            if channel == ALL_CHANNELS:
                agent_time = self._agent_buckets.get((queue, start_ms))
                if agent_time is not None:
                    total.merge_in(agent_time)
        return total

    def merged_windows(self, queues: list[str], now_ms: int) -> dict[tuple[str, str], tuple[QueueAggregate, int]]:
        """(channel, window name) -> (aggregate, window duration) of ``queues`` taken together.

        For many quiet queues at once (the ``other`` series beyond the metrics
        cap): the queues' buckets are merged per channel and bucket start
        first, then each window is read once from the merged buckets, so the
        cost follows the buckets the queues hold, not queues times windows.
        The queues must share one aggregate shape (SL thresholds and wait
        bounds) and one ``today`` reset: ValueError otherwise. The windows are
        the first queue's at ``now_ms``; ``'all'`` merges every channel and
        agent time, as :meth:`aggregate` does.
        """
        if not queues:
            return {}
        config = self.queue_config(queues[0])
        for queue in queues[1:]:
            other = self.queue_config(queue)
            if (other.reset, other.sl_thresholds_s, other.wait_bounds_s) != (
                config.reset,
                config.sl_thresholds_s,
                config.wait_bounds_s,
            ):
                raise ValueError(f"queue {queue!r} has other windows or aggregate shape than {queues[0]!r}")
        windows = self.windows(queues[0], now_ms)
        first_ms = min(window.start_ms for window in windows)
        end_ms = max(window.end_ms for window in windows)
        bucket_ms = self.config.windows.bucket_ms
        result: dict[tuple[str, str], tuple[QueueAggregate, int]] = {}
        for channel, buckets in self._merged_buckets(queues, config, first_ms, end_ms).items():
            for window in windows:
                total = QueueAggregate.empty(config)
                starts = window.bucket_starts(bucket_ms)
                for start_ms, aggregate in buckets.items():
                    if start_ms in starts:
                        total.merge_in(aggregate)
                result[channel, window.name] = (total, window.duration_ms)
        return result

    def _merged_buckets(
        self, queues: list[str], config: QueueConfig, first_ms: int, end_ms: int
    ) -> dict[str, dict[int, QueueAggregate]]:
        """channel (and ``'all'``) -> bucket start in ``[first_ms, end_ms)`` -> the queues' buckets merged."""
        merged: dict[str, dict[int, QueueAggregate]] = {ALL_CHANNELS: {}}
        for queue in queues:
            channels = self.channels_of(queue)
            for channel in channels:
                merged.setdefault(channel, {})
            for start_ms in self._index.starts_of(queue):
                if not first_ms <= start_ms < end_ms:
                    continue
                for channel in channels:
                    found = self._buckets.get((queue, channel, start_ms))
                    if found is not None:
                        _merge_at(merged[channel], start_ms, found, config)
                        _merge_at(merged[ALL_CHANNELS], start_ms, found, config)
                agent_time = self._agent_buckets.get((queue, start_ms))
                if agent_time is not None:
                    _merge_at(merged[ALL_CHANNELS], start_ms, agent_time, config)
        return merged

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
        return [max(0, now_ms - queued_ms) for name in channels for queued_ms in self._waiting_of(queue, name).values()]

    def _waiting_of(self, queue: str, channel: str) -> dict[StintId, int]:
        stints = self._stints.get((queue, channel))
        return {} if stints is None else stints.waiting

    def agent_states(self, queue: str | None = None) -> dict[str, AgentState]:
        """Each agent's state now, by agent id (optionally only agents serving ``queue``)."""
        presences = self._presence if queue is None else self._presence_of_queue.get(queue, {})
        return {agent_id: presence.state for (_, agent_id), presence in presences.items()}

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
