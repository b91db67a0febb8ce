"""Sums and counts behind every KPI of one queue x channel over one time bucket.

A :class:`QueueAggregate` is the state of a quix-streams style aggregator: it
keeps numerators and denominators only (counts, sums of milliseconds, histogram
counts) and never a ratio; :mod:`ccpulse.domain.kpis` divides when a KPI is
read. Buckets of any length merge into windows (interval, rolling, today) with
:func:`merge`, which is associative and commutative with the empty aggregate
as identity.

Design choice: a small *mutable* accumulator (a slotted dataclass) rather
than a frozen value. The engine folds ~150k facts/s; rebuilding a frozen
record of ~60 fields (and four lists) per fact would dominate the cost, while
an in-place ``+=`` on a slot is what a hand-written loop would do. Purity is
kept at the edges: :func:`merge` returns a new aggregate and never touches its
inputs, :meth:`QueueAggregate.copy` is a deep copy, and equality compares
every field, so tests and the engine can treat aggregates as values.

Representation
--------------
- **Units**: every time is integer milliseconds (``sum_talk_ms``...). Survey
  scores are summed in integer *milli-points* (score x 1000, rounded), so sums
  stay exact under retraction and in any merge order (float sums would not).
- **Sign**: every ``add_*`` takes ``sign=+1`` (apply) or ``sign=-1`` (retract a
  fact that out-of-order events proved wrong, see
  :class:`ccpulse.domain.changes.FactChanges`). Retracting exactly undoes
  applying for every counter and sum. The two maxima (``max_wait_*_ms``) cannot
  be undone from the aggregate alone: a retraction leaves them as they are,
  except that they return to 0 when their count returns to 0, so on its own an
  aggregate's maximum after a retraction is an upper bound (never lower). Bucket
  owners that retract keep a :class:`LongestWaits` beside each bucket and write
  its exact maximum back (the queue view does), so published maxima and the
  percentiles they cap are the same for every order of the same facts.
- **Short abandons** (abandoned with wait <= ``short_abandon_ms``; 0 disables)
  are counted in ``short_abandoned`` (and ``sum_wait_short_abandoned_ms``) and
  nowhere else: not in ``abandoned``, ``abandoned_within``, the abandoned
  histogram, its sum or maximum. ``offered`` (a property) excludes them.
- **Thresholds**: ``answered_within[i]`` / ``abandoned_within[i]`` count waits
  ``<= sl_thresholds_ms[i]`` (inclusive, SPEC section 3).
- **Wait histograms** hold *per-bucket* (not cumulative) counts, which add and
  retract elementwise: index ``i`` counts waits in ``(bounds[i-1], bounds[i]]``
  (the first bucket from 0), and the last index counts waits above the last
  bound (+Inf). :func:`cumulative_counts` gives the Prometheus ``le`` form.
  Bounds are the queue's ``wait_bounds_s``, which always include every SL
  threshold and the short-abandon threshold (see ``QueueConfig``).
- **Agent time** (busy / acw / available / away milliseconds) is added per
  queue the agent serves: a span of an agent serving three queues counts in
  full for each of the three, so per-queue occupancy is right but summing
  agent time over queues counts an agent several times (site or team totals
  come from agent-keyed aggregates instead). Spans are split at bucket edges
  with :func:`split_span_ms`; logged-out time is not staffed and not counted.
  Agent states carry no channel: the engine keeps agent time in the queue's
  channel-independent aggregate (or merges it in) before reading occupancy,
  cost per contact or productivity.

The aggregate is keyed by nothing: the same type serves per-agent aggregates
(handled, AHT, occupancy, CSAT) when the engine keys it by agent.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace

from ccpulse.domain.events import AgentState, SurveyKind
from ccpulse.domain.facts import (
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcome,
    QueueOutcomeFact,
    SurveyFact,
    TicketFact,
    TicketStep,
)
from ccpulse.domain.queue_config import QueueConfig

# Survey scores are summed in these units so that sums are exact integers.
SCORE_SCALE = 1000

CSAT_SATISFIED_MIN = 4  # 1-5 scale: 4 and 5 are satisfied
NPS_PROMOTER_MIN = 9  # 0-10 scale: 9-10 promoters
NPS_DETRACTOR_MAX = 6  # 0-6 detractors
ONE_TOUCH_MAX_PUBLIC_REPLIES = 1


def check_sign(sign: int) -> None:
    if sign != 1 and sign != -1:  # noqa: PLR1714 - two int compares beat a tuple lookup per fact
        raise ValueError(f"sign must be +1 (apply) or -1 (retract), not {sign!r}")


@dataclass(slots=True)
class QueueAggregate:
    """Counts and sums for one queue x channel over one bucket or a merged set of buckets.

    Build with :meth:`empty`; fold facts with the ``add_*`` methods (in place);
    combine with :func:`merge`. Field names carry their unit; plain names are counts.
    """

    # The shape: aggregates merge only when both are equal.
    sl_thresholds_ms: tuple[int, ...]
    wait_bounds_ms: tuple[int, ...]

    # Queue stints (counted at the outcome time; arrivals at the queued time).
    arrivals: int = 0
    answered: int = 0
    abandoned: int = 0  # short abandons excluded
    short_abandoned: int = 0
    flowed_out: int = 0
    answered_within: list[int] = field(default_factory=list)  # per SL threshold
    abandoned_within: list[int] = field(default_factory=list)  # per SL threshold, short excluded
    sum_wait_answered_ms: int = 0
    sum_wait_abandoned_ms: int = 0  # short excluded
    sum_wait_short_abandoned_ms: int = 0
    sum_wait_flowed_out_ms: int = 0
    max_wait_answered_ms: int = 0  # see the module docstring on retraction
    max_wait_abandoned_ms: int = 0
    answered_wait_counts: list[int] = field(default_factory=list)  # per histogram bucket, +Inf last
    abandoned_wait_counts: list[int] = field(default_factory=list)

    # Handling segments (counted at completion).
    handled: int = 0
    sum_talk_ms: int = 0
    sum_hold_ms: int = 0
    sum_acw_ms: int = 0
    acw_timeouts: int = 0
    held_segments: int = 0
    transferred: int = 0
    resolved_true: int = 0
    resolved_known: int = 0
    complaints: int = 0
    escalations: int = 0
    # First contact resolution (counted when a handled contact's repeat status is final).
    fcr_eligible: int = 0
    repeats: int = 0

    # Agent time attributed to this queue (milliseconds).
    agent_busy_ms: int = 0
    agent_acw_ms: int = 0
    agent_available_ms: int = 0
    agent_away_ms: int = 0

    # Tickets (counted at each step's time).
    tickets_created: int = 0
    tickets_solved: int = 0
    tickets_reopened: int = 0
    tickets_escalated: int = 0
    tickets_closed: int = 0
    tickets_one_touch: int = 0
    first_response_count: int = 0
    sum_first_response_ms: int = 0
    resolution_count: int = 0
    sum_resolution_ms: int = 0

    # Surveys (counted at submission); sums in milli-points (SCORE_SCALE).
    csat_count: int = 0
    csat_satisfied: int = 0
    nps_count: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    ces_count: int = 0
    ces_sum_milli: int = 0
    esat_count: int = 0
    esat_sum_milli: int = 0

    def __post_init__(self) -> None:
        thresholds, bounds = self.sl_thresholds_ms, self.wait_bounds_ms
        if (thresholds, bounds) not in _CHECKED_SHAPES:
            _check_shape(thresholds, bounds)
        # Always lists of our own: an aggregate never shares a list with another
        # (dataclasses.replace and copy() pass the old lists in).
        sl_size, histogram_size = len(thresholds), len(bounds) + 1
        self.answered_within = _own_counts("answered_within", self.answered_within, sl_size)
        self.abandoned_within = _own_counts("abandoned_within", self.abandoned_within, sl_size)
        self.answered_wait_counts = _own_counts("answered_wait_counts", self.answered_wait_counts, histogram_size)
        self.abandoned_wait_counts = _own_counts("abandoned_wait_counts", self.abandoned_wait_counts, histogram_size)

    @classmethod
    def empty(cls, config: QueueConfig) -> QueueAggregate:
        """The identity of :func:`merge` for aggregates of this queue configuration."""
        shape = _SHAPES_MS.get((config.sl_thresholds_s, config.wait_bounds_s))
        if shape is None:
            shape = (tuple(t * 1000 for t in config.sl_thresholds_s), tuple(b * 1000 for b in config.wait_bounds_s))
            _SHAPES_MS[(config.sl_thresholds_s, config.wait_bounds_s)] = shape
        return cls(*shape)

    # -- derived counts (no division) -------------------------------------------

    @property
    def offered(self) -> int:
        """answered + abandoned + flowed_out; short abandons excluded (SPEC section 3)."""
        return self.answered + self.abandoned + self.flowed_out

    @property
    def sum_handle_ms(self) -> int:
        """AHT numerator: talk + hold + acw."""
        return self.sum_talk_ms + self.sum_hold_ms + self.sum_acw_ms

    @property
    def agent_staffed_ms(self) -> int:
        """available + busy + acw: the occupancy denominator and the paid time of cost per contact."""
        return self.agent_available_ms + self.agent_busy_ms + self.agent_acw_ms

    def threshold_index(self, threshold_ms: int) -> int:
        """Position of an SL threshold in ``sl_thresholds_ms``; ValueError if the queue has no such threshold."""
        try:
            return self.sl_thresholds_ms.index(threshold_ms)
        except ValueError:
            raise ValueError(
                f"no SL threshold of {threshold_ms} ms here; thresholds are {list(self.sl_thresholds_ms)} ms"
            ) from None

    def is_empty(self) -> bool:
        return self == QueueAggregate(self.sl_thresholds_ms, self.wait_bounds_ms)

    def copy(self) -> QueueAggregate:
        """A deep copy: changing it never changes this aggregate (``__post_init__`` copies the lists)."""
        return replace(self)

    # -- folding facts (in place) ------------------------------------------------

    def add_arrival(self, fact: QueueArrivalFact, *, sign: int = 1) -> None:
        """A contact entered the queue; counts at its queued time."""
        check_sign(sign)
        self.arrivals += sign

    def add_outcome(self, fact: QueueOutcomeFact, config: QueueConfig, *, sign: int = 1) -> None:
        """A finished queue stint. An abandon with wait <= ``config.short_abandon_ms`` (0 disables) is short."""
        check_sign(sign)
        wait_ms = fact.outcome_ts_ms - fact.queued_ts_ms
        outcome = fact.outcome
        if outcome is QueueOutcome.ANSWERED:
            self.answered += sign
            self.sum_wait_answered_ms += sign * wait_ms
            _count_within(self.answered_within, self.sl_thresholds_ms, wait_ms, sign)
            self.answered_wait_counts[bisect_left(self.wait_bounds_ms, wait_ms)] += sign
            if sign > 0:
                self.max_wait_answered_ms = max(self.max_wait_answered_ms, wait_ms)
            elif self.answered == 0:
                self.max_wait_answered_ms = 0
        elif outcome is QueueOutcome.ABANDONED:
            if is_short_abandon(wait_ms, config):
                self.short_abandoned += sign
                self.sum_wait_short_abandoned_ms += sign * wait_ms
                return
            self.abandoned += sign
            self.sum_wait_abandoned_ms += sign * wait_ms
            _count_within(self.abandoned_within, self.sl_thresholds_ms, wait_ms, sign)
            self.abandoned_wait_counts[bisect_left(self.wait_bounds_ms, wait_ms)] += sign
            if sign > 0:
                self.max_wait_abandoned_ms = max(self.max_wait_abandoned_ms, wait_ms)
            elif self.abandoned == 0:
                self.max_wait_abandoned_ms = 0
        else:
            self.flowed_out += sign
            self.sum_wait_flowed_out_ms += sign * wait_ms

    def add_handling(self, fact: HandlingFact, config: QueueConfig, *, sign: int = 1) -> None:
        """A completed handling segment; complaint/escalation from ``config``'s disposition sets (exact match)."""
        check_sign(sign)
        self.handled += sign
        hold_ms = fact.hold_ms
        self.sum_talk_ms += sign * (fact.ended_ts_ms - fact.answered_ts_ms - hold_ms)
        self.sum_hold_ms += sign * hold_ms
        self.sum_acw_ms += sign * (fact.completed_ts_ms - fact.ended_ts_ms)
        if fact.acw_timed_out:
            self.acw_timeouts += sign
        if fact.hold_count > 0 or hold_ms > 0:
            self.held_segments += sign
        if fact.transferred:
            self.transferred += sign
        if fact.resolved is not None:
            self.resolved_known += sign
            if fact.resolved:
                self.resolved_true += sign
        disposition = fact.disposition
        if disposition is not None:
            if disposition in config.complaint_dispositions:
                self.complaints += sign
            if disposition in config.escalation_dispositions:
                self.escalations += sign

    def add_fcr_result(self, *, repeat: bool, sign: int = 1) -> None:
        """One handled contact whose repeat status is final: a repeat was found, or the window passed without one.

        Call it once per handled contact, when ``repeat_window_h`` after it has
        passed (deciding repeats early would bias recent FCR downwards).
        """
        check_sign(sign)
        self.fcr_eligible += sign
        if repeat:
            self.repeats += sign

    def add_agent_state(self, fact: AgentStateFact, overlap_ms: int, *, sign: int = 1) -> None:
        """``overlap_ms`` of the agent's span that falls in this bucket (see :func:`split_span_ms`).

        Called once for each queue in ``fact.queues`` (each queue's aggregate
        gets the full overlap). Logged-out time is ignored.
        """
        check_sign(sign)
        if not 0 <= overlap_ms <= fact.end_ts_ms - fact.start_ts_ms:
            raise ValueError(f"overlap_ms {overlap_ms} is outside the span's 0..{fact.duration_ms} ms")
        self.add_agent_time(fact.state, overlap_ms, sign)

    def add_agent_time(self, state: AgentState, overlap_ms: int, sign: int) -> None:
        """:meth:`add_agent_state` without its checks, for pieces of :func:`split_span_ms` (valid by construction)."""
        if state is AgentState.BUSY:
            self.agent_busy_ms += sign * overlap_ms
        elif state is AgentState.ACW:
            self.agent_acw_ms += sign * overlap_ms
        elif state is AgentState.AVAILABLE:
            self.agent_available_ms += sign * overlap_ms
        elif state is AgentState.AWAY:
            self.agent_away_ms += sign * overlap_ms

    def add_ticket(self, fact: TicketFact, *, sign: int = 1) -> None:
        """A step in a ticket's life.

        FIRST_RESPONSE and SOLVED add their ``duration_ms`` to the first-response
        and resolution means when it is known. A SOLVED step is one-touch when
        ``public_replies`` is known and <= 1 (unknown counts as not one-touch).
        """
        check_sign(sign)
        step = fact.step
        if step is TicketStep.CREATED:
            self.tickets_created += sign
        elif step is TicketStep.FIRST_RESPONSE:
            if fact.duration_ms is not None:
                self.first_response_count += sign
                self.sum_first_response_ms += sign * fact.duration_ms
        elif step is TicketStep.SOLVED:
            self.tickets_solved += sign
            if fact.duration_ms is not None:
                self.resolution_count += sign
                self.sum_resolution_ms += sign * fact.duration_ms
            if fact.public_replies is not None and fact.public_replies <= ONE_TOUCH_MAX_PUBLIC_REPLIES:
                self.tickets_one_touch += sign
        elif step is TicketStep.REOPENED:
            self.tickets_reopened += sign
        elif step is TicketStep.ESCALATED:
            self.tickets_escalated += sign
        elif step is TicketStep.CLOSED:
            self.tickets_closed += sign

    def add_survey(self, fact: SurveyFact, *, sign: int = 1) -> None:
        """One survey answer: CSAT satisfied >= 4 (1-5), NPS promoter 9-10 / detractor 0-6, CES and ESAT summed."""
        check_sign(sign)
        kind, score = fact.kind, fact.score
        if kind is SurveyKind.CSAT:
            self.csat_count += sign
            if score >= CSAT_SATISFIED_MIN:
                self.csat_satisfied += sign
        elif kind is SurveyKind.NPS:
            self.nps_count += sign
            if score >= NPS_PROMOTER_MIN:
                self.nps_promoters += sign
            elif score <= NPS_DETRACTOR_MAX:
                self.nps_detractors += sign
        elif kind is SurveyKind.CES:
            self.ces_count += sign
            self.ces_sum_milli += sign * round(score * SCORE_SCALE)
        elif kind is SurveyKind.ESAT:
            self.esat_count += sign
            self.esat_sum_milli += sign * round(score * SCORE_SCALE)

    def add_fact(
        self,
        fact: QueueArrivalFact | QueueOutcomeFact | HandlingFact | TicketFact | SurveyFact,
        config: QueueConfig,
        *,
        sign: int = 1,
    ) -> None:
        """Dispatch on the fact's type; agent time goes through :meth:`add_agent_state` (it needs the overlap)."""
        if isinstance(fact, QueueOutcomeFact):
            self.add_outcome(fact, config, sign=sign)
        elif isinstance(fact, HandlingFact):
            self.add_handling(fact, config, sign=sign)
        elif isinstance(fact, QueueArrivalFact):
            self.add_arrival(fact, sign=sign)
        elif isinstance(fact, TicketFact):
            self.add_ticket(fact, sign=sign)
        elif isinstance(fact, SurveyFact):
            self.add_survey(fact, sign=sign)
        else:
            raise TypeError(f"cannot add {type(fact).__name__}; agent state facts need add_agent_state")

    # -- merging -----------------------------------------------------------------

    def merge_in(self, other: QueueAggregate) -> None:
        """Add ``other`` into this aggregate (in place). ValueError if the shapes differ."""
        _check_same_shape(self, other)
        for name in _SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _MAXIMA:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        for name, _ in _VECTOR_SIZES:
            mine: list[int] = getattr(self, name)
            theirs: list[int] = getattr(other, name)
            for i, value in enumerate(theirs):
                mine[i] += value


def is_short_abandon(wait_ms: int, config: QueueConfig) -> bool:
    """An abandon this quick counts only in ``short_abandoned`` (``short_abandon_ms`` 0 disables)."""
    short_abandon_ms = config.short_abandon_ms
    return short_abandon_ms > 0 and wait_ms <= short_abandon_ms


class LongestWaits:
    """The answered and (non-short) abandoned waits of one bucket, as wait -> count, for exact maxima.

    An aggregate alone cannot undo a maximum when the longest wait is
    retracted; this multiset can: :meth:`fold` writes the exact maximum of
    what is left back into the bucket's aggregate. One entry per distinct wait
    in milliseconds, dropped when its count returns to 0.
    """

    __slots__ = ("_abandoned", "_answered")

    def __init__(self) -> None:
        self._answered: dict[int, int] = {}
        self._abandoned: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._answered) + len(self._abandoned)

    def fold(self, fact: QueueOutcomeFact, config: QueueConfig, aggregate: QueueAggregate, sign: int) -> None:
        """Count ``fact``'s wait (sign +1) or uncount it (-1), after ``aggregate.add_outcome`` did the same."""
        wait_ms = fact.outcome_ts_ms - fact.queued_ts_ms
        if fact.outcome is QueueOutcome.ANSWERED:
            waits = self._answered
        elif fact.outcome is QueueOutcome.ABANDONED and not is_short_abandon(wait_ms, config):
            waits = self._abandoned
        else:
            return
        count = waits.get(wait_ms, 0) + sign
        if count > 0:
            waits[wait_ms] = count
        else:
            waits.pop(wait_ms, None)
        if sign > 0:
            return  # add_outcome already took the larger
        longest_ms = max(waits, default=0)
        if waits is self._answered:
            aggregate.max_wait_answered_ms = longest_ms
        else:
            aggregate.max_wait_abandoned_ms = longest_ms


def _count_within(counts: list[int], thresholds_ms: tuple[int, ...], wait_ms: int, sign: int) -> None:
    # Thresholds are increasing: once a wait is within one, it is within every later one.
    for i, threshold_ms in enumerate(thresholds_ms):
        if wait_ms <= threshold_ms:
            for j in range(i, len(counts)):
                counts[j] += sign
            return


# Shapes already found valid, and the millisecond shapes of queue settings (both a handful).
_CHECKED_SHAPES: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
_SHAPES_MS: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], tuple[int, ...]]] = {}


def _check_shape(thresholds: tuple[int, ...], bounds: tuple[int, ...]) -> None:
    if not thresholds or list(thresholds) != sorted(set(thresholds)):
        raise ValueError(f"sl_thresholds_ms must be increasing without repeats, got {thresholds}")
    if list(bounds) != sorted(set(bounds)) or any(b <= 0 for b in bounds):
        raise ValueError(f"wait_bounds_ms must be increasing positive milliseconds, got {bounds}")
    if type(thresholds) is tuple and type(bounds) is tuple:
        _CHECKED_SHAPES.add((thresholds, bounds))


def _own_counts(name: str, given: list[int], size: int) -> list[int]:
    """A fresh list of ``size`` counts: a copy of ``given``, or zeros if it is empty."""
    if not given:
        return [0] * size
    if len(given) != size:
        raise ValueError(f"{name} needs {size} entries, got {len(given)}")
    return list(given)


def _check_same_shape(a: QueueAggregate, b: QueueAggregate) -> None:
    if a.sl_thresholds_ms != b.sl_thresholds_ms or a.wait_bounds_ms != b.wait_bounds_ms:
        raise ValueError(
            "cannot merge aggregates of different shapes: SL thresholds "
            f"{list(a.sl_thresholds_ms)} vs {list(b.sl_thresholds_ms)} ms, wait bounds "
            f"{list(a.wait_bounds_ms)} vs {list(b.wait_bounds_ms)} ms"
        )


def _threshold_count(agg: QueueAggregate) -> int:
    return len(agg.sl_thresholds_ms)


def _histogram_size(agg: QueueAggregate) -> int:
    return len(agg.wait_bounds_ms) + 1  # + the +Inf bucket


# The list fields and the length each needs for an aggregate's shape.
_VECTOR_SIZES: tuple[tuple[str, Callable[[QueueAggregate], int]], ...] = (
    ("answered_within", _threshold_count),
    ("abandoned_within", _threshold_count),
    ("answered_wait_counts", _histogram_size),
    ("abandoned_wait_counts", _histogram_size),
)
_SHAPE = ("sl_thresholds_ms", "wait_bounds_ms")
_MAXIMA = ("max_wait_answered_ms", "max_wait_abandoned_ms")
_VECTORS = tuple(name for name, _ in _VECTOR_SIZES)
_SUMS = tuple(f.name for f in fields(QueueAggregate) if f.name not in _SHAPE + _VECTORS + _MAXIMA)


def merge(a: QueueAggregate, b: QueueAggregate) -> QueueAggregate:
    """A new aggregate of both (sums add, maxima take the larger); inputs unchanged.

    Associative and commutative, with ``QueueAggregate.empty(config)`` as identity.
    ValueError if the SL thresholds or wait bounds differ.
    """
    merged = a.copy()
    merged.merge_in(b)
    return merged


def merge_all(aggregates: Iterable[QueueAggregate], config: QueueConfig) -> QueueAggregate:
    """A new aggregate of all (e.g. the buckets of a rolling window); the empty one when there are none."""
    total = QueueAggregate.empty(config)
    for agg in aggregates:
        total.merge_in(agg)
    return total


def cumulative_counts(per_bucket: Iterable[int]) -> list[int]:
    """Per-bucket histogram counts to Prometheus ``le`` counts (the last is the +Inf total)."""
    running = 0
    cumulative: list[int] = []
    for count in per_bucket:
        running += count
        cumulative.append(running)
    return cumulative


def split_span_ms(start_ms: int, end_ms: int, bucket_ms: int, origin_ms: int = 0) -> list[tuple[int, int]]:
    """Split the half-open span ``[start_ms, end_ms)`` at bucket edges.

    Buckets are ``bucket_ms`` long and aligned on ``origin_ms`` (epoch-aligned by
    default; pass e.g. a local midnight for day buckets). Returns
    ``(bucket_start_ms, overlap_ms)`` for each bucket the span covers, in time
    order; the overlaps add up to ``end_ms - start_ms``. An empty span yields
    ``[]``. ValueError if ``end_ms < start_ms`` or ``bucket_ms <= 0``.
    """
    if bucket_ms <= 0:
        raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
    if end_ms < start_ms:
        raise ValueError(f"span ends before it starts: {start_ms}..{end_ms} ms")
    pieces: list[tuple[int, int]] = []
    bucket_start = start_ms - (start_ms - origin_ms) % bucket_ms  # floor, also before the origin
    position = start_ms
    while position < end_ms:
        bucket_end = bucket_start + bucket_ms
        piece_end = min(bucket_end, end_ms)
        pieces.append((bucket_start, piece_end - position))
        position = piece_end
        bucket_start = bucket_end
    return pieces
