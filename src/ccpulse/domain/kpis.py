"""KPIs read off a :class:`~ccpulse.domain.aggregates.QueueAggregate` (SPEC section 3, ``definitions: v1``).

Every function divides a numerator by a denominator kept in the aggregate and
returns ``None`` when the denominator is 0 (an empty window has no service
level, not a service level of 0 or 100 %). A negative denominator can only
come from retracting more than was added, so it is treated as empty too.
Ratios are fractions 0..1 (Prometheus ``_ratio``), times are seconds, except
NPS, which is in points from -100 to +100 as the industry quotes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ccpulse.domain.aggregates import SCORE_SCALE, QueueAggregate
from ccpulse.domain.facts import QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_config import QueueConfig

DEFINITIONS_VERSION = "v1"

MS_PER_S = 1000
MS_PER_HOUR = 3_600_000
REPORTED_WAIT_QUANTILES = (0.5, 0.9, 0.95)


class SlFormula(StrEnum):
    """The four service-level formulas, published side by side with a ``formula`` label."""

    OFFERED = "offered"  # answered_within_T / offered (the default)
    ANSWERED = "answered"  # answered_within_T / answered
    IGNORE_EARLY_ABANDONS = "ignore_early_abandons"  # answered_within_T / (offered - abandoned_within_T)
    ABANDONS_MET = "abandons_met"  # (answered_within_T + abandoned_within_T) / offered


class WaitOutcome(StrEnum):
    """Which wait histogram a percentile is read from."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # short abandons excluded


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def _mean_s(sum_ms: int, count: int) -> float | None:
    return None if count <= 0 else sum_ms / count / MS_PER_S


# -- queue stints -----------------------------------------------------------------


def service_level(agg: QueueAggregate, threshold_s: int, formula: str = SlFormula.OFFERED) -> float | None:
    """Service level for one of the queue's SL thresholds (seconds), by one of the four formulas.

    "Within T" is wait <= T. Short abandons are in no denominator.
    ValueError for a threshold the aggregate does not track or an unknown formula.
    """
    met, eligible = service_level_parts(agg, threshold_s, formula)
    return _ratio(met, eligible)


def service_level_parts(agg: QueueAggregate, threshold_s: int, formula: str = SlFormula.OFFERED) -> tuple[int, int]:
    """(numerator, denominator) of :func:`service_level`: sums of these merge across workers and queues."""
    i = agg.threshold_index(threshold_s * MS_PER_S)
    answered_within = agg.answered_within[i]
    abandoned_within = agg.abandoned_within[i]
    offered = agg.offered
    if formula == SlFormula.OFFERED:
        return answered_within, offered
    if formula == SlFormula.ANSWERED:
        return answered_within, agg.answered
    if formula == SlFormula.IGNORE_EARLY_ABANDONS:
        return answered_within, offered - abandoned_within
    if formula == SlFormula.ABANDONS_MET:
        return answered_within + abandoned_within, offered
    raise ValueError(f"unknown service level formula {formula!r}; known: {', '.join(f.value for f in SlFormula)}")


def asa_s(agg: QueueAggregate) -> float | None:
    """Average speed of answer: sum of answered waits / answered, in seconds."""
    return _mean_s(agg.sum_wait_answered_ms, agg.answered)


def abandonment_ratio(agg: QueueAggregate) -> float | None:
    """abandoned / offered, short abandons excluded from both."""
    return _ratio(agg.abandoned, agg.offered)


def flow_out_ratio(agg: QueueAggregate) -> float | None:
    """flowed_out / offered."""
    return _ratio(agg.flowed_out, agg.offered)


def avg_wait_abandoned_s(agg: QueueAggregate) -> float | None:
    """Mean wait before a (non-short) abandon, in seconds."""
    return _mean_s(agg.sum_wait_abandoned_ms, agg.abandoned)


def max_wait_answered_s(agg: QueueAggregate) -> float | None:
    """Longest answered wait in seconds (exact in a queue view's windows; see ``LongestWaits``)."""
    return None if agg.answered <= 0 else agg.max_wait_answered_ms / MS_PER_S


def abandonment_hazard_per_s(agg: QueueAggregate) -> float | None:
    """Erlang A patience rate theta: abandoned / total waiting time of the offered stints (per second).

    The waiting time is that of answered, abandoned and flowed-out stints
    (short abandons excluded, as from every denominator); 1/theta is the
    mean patience.
    """
    total_wait_ms = agg.sum_wait_answered_ms + agg.sum_wait_abandoned_ms + agg.sum_wait_flowed_out_ms
    return _ratio(agg.abandoned * MS_PER_S, total_wait_ms)


def wait_percentile_s(agg: QueueAggregate, quantile: float, outcome: str = WaitOutcome.ANSWERED) -> float | None:
    """Estimate a wait quantile (0 < quantile <= 1) in seconds from the wait histogram.

    As Prometheus ``histogram_quantile``: rank = quantile x count; find the
    bucket whose cumulative count first reaches the rank and interpolate
    linearly between its lower edge (the previous bound, or 0 for the first
    bucket) and its upper edge. Two refinements use the tracked maximum wait:
    it is the upper edge of the +Inf bucket (Prometheus would answer the last
    finite bound), and it caps the upper edge of the bucket holding the
    maximum, so an estimate never exceeds the longest wait. None when the
    histogram is empty.
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if outcome == WaitOutcome.ANSWERED:
        counts, max_wait_ms = agg.answered_wait_counts, agg.max_wait_answered_ms
    elif outcome == WaitOutcome.ABANDONED:
        counts, max_wait_ms = agg.abandoned_wait_counts, agg.max_wait_abandoned_ms
    else:
        raise ValueError(f"unknown wait outcome {outcome!r}; known: {', '.join(o.value for o in WaitOutcome)}")
    total = sum(counts)
    if total <= 0:
        return None
    rank = quantile * total
    bounds = agg.wait_bounds_ms
    below = 0
    for i, count in enumerate(counts):
        if count > 0 and below + count >= rank:
            lower_ms = bounds[i - 1] if i > 0 else 0
            upper_ms = min(bounds[i], max_wait_ms) if i < len(bounds) else max_wait_ms
            upper_ms = max(upper_ms, lower_ms)
            return (lower_ms + (upper_ms - lower_ms) * (rank - below) / count) / MS_PER_S
        below += count
    return None  # only reachable with negative bucket counts (over-retraction)


# -- handling ---------------------------------------------------------------------


def aht_s(agg: QueueAggregate) -> float | None:
    """Average handle time: sum of (talk + hold + acw) / handled segments, in seconds."""
    return _mean_s(agg.sum_handle_ms, agg.handled)


def avg_talk_s(agg: QueueAggregate) -> float | None:
    """Talk time per handled segment, in seconds."""
    return _mean_s(agg.sum_talk_ms, agg.handled)


def avg_hold_s(agg: QueueAggregate) -> float | None:
    """Hold time per handled segment (held or not), in seconds; so AHT = avg talk + avg hold + avg ACW."""
    return _mean_s(agg.sum_hold_ms, agg.handled)


def avg_acw_s(agg: QueueAggregate) -> float | None:
    """After-contact work per handled segment, in seconds (a timed-out wrap-up counts ``acw_timeout_s``)."""
    return _mean_s(agg.sum_acw_ms, agg.handled)


def transfer_ratio(agg: QueueAggregate) -> float | None:
    """Handled segments that ended in a transfer / handled."""
    return _ratio(agg.transferred, agg.handled)


def hold_ratio(agg: QueueAggregate) -> float | None:
    """Handled segments with any hold / handled."""
    return _ratio(agg.held_segments, agg.handled)


def acw_timeout_ratio(agg: QueueAggregate) -> float | None:
    """Handled segments whose wrap-up never came in time / handled."""
    return _ratio(agg.acw_timeouts, agg.handled)


def resolved_ratio(agg: QueueAggregate) -> float | None:
    """Agent-reported ``resolved``: true / segments that reported it at all."""
    return _ratio(agg.resolved_true, agg.resolved_known)


def fcr_ratio(agg: QueueAggregate) -> float | None:
    """First contact resolution: 1 - repeats / handled contacts whose repeat window has passed."""
    share = _ratio(agg.repeats, agg.fcr_eligible)
    return None if share is None else 1.0 - share


def complaint_ratio(agg: QueueAggregate) -> float | None:
    """Handled segments with a complaint disposition / handled."""
    return _ratio(agg.complaints, agg.handled)


def contact_escalation_ratio(agg: QueueAggregate) -> float | None:
    """Handled segments with an escalation disposition / handled."""
    return _ratio(agg.escalations, agg.handled)


# -- agent time -------------------------------------------------------------------


def occupancy(agg: QueueAggregate) -> float | None:
    """(busy + acw) / (available + busy + acw) agent time."""
    return _ratio(agg.agent_busy_ms + agg.agent_acw_ms, agg.agent_staffed_ms)


def staffed_hours(agg: QueueAggregate) -> float:
    """Agent hours available, busy or in ACW."""
    return agg.agent_staffed_ms / MS_PER_HOUR


def cost_per_contact(agg: QueueAggregate, cost_per_agent_hour: float | None) -> float | None:
    """cost_per_agent_hour x staffed hours / handled; None without a configured cost or with nothing handled."""
    if cost_per_agent_hour is None:
        return None
    return _ratio(cost_per_agent_hour * agg.agent_staffed_ms, agg.handled * MS_PER_HOUR)


def productivity_per_hour(agg: QueueAggregate) -> float | None:
    """Handled segments per staffed agent hour."""
    return _ratio(agg.handled * MS_PER_HOUR, agg.agent_staffed_ms)


# -- tickets ----------------------------------------------------------------------


def first_response_mean_s(agg: QueueAggregate) -> float | None:
    """Mean time from ticket creation to the first public agent reply, in seconds."""
    return _mean_s(agg.sum_first_response_ms, agg.first_response_count)


def resolution_mean_s(agg: QueueAggregate) -> float | None:
    """Mean time from ticket creation to solved, in seconds."""
    return _mean_s(agg.sum_resolution_ms, agg.resolution_count)


def one_touch_ratio(agg: QueueAggregate) -> float | None:
    """Tickets solved with at most one public agent reply / solved."""
    return _ratio(agg.tickets_one_touch, agg.tickets_solved)


def reopen_ratio(agg: QueueAggregate) -> float | None:
    """Reopened / solved tickets (both counted in the window, at their own times)."""
    return _ratio(agg.tickets_reopened, agg.tickets_solved)


def ticket_escalation_ratio(agg: QueueAggregate) -> float | None:
    """Escalated / created tickets (both counted in the window, at their own times)."""
    return _ratio(agg.tickets_escalated, agg.tickets_created)


# -- surveys ----------------------------------------------------------------------


def csat_ratio(agg: QueueAggregate) -> float | None:
    """Share of CSAT answers scoring 4 or 5 (on 1-5)."""
    return _ratio(agg.csat_satisfied, agg.csat_count)


def nps(agg: QueueAggregate) -> float | None:
    """Net promoter score in points, -100..100: % promoters (9-10) minus % detractors (0-6)."""
    return _ratio(100 * (agg.nps_promoters - agg.nps_detractors), agg.nps_count)


def ces_mean(agg: QueueAggregate) -> float | None:
    """Mean customer effort score (1-7)."""
    return _ratio(agg.ces_sum_milli, agg.ces_count * SCORE_SCALE)


def esat_mean(agg: QueueAggregate) -> float | None:
    """Mean employee satisfaction score (1-5)."""
    return _ratio(agg.esat_sum_milli, agg.esat_count * SCORE_SCALE)


# -- volume -----------------------------------------------------------------------


def arrival_rate_per_s(agg: QueueAggregate, window_ms: int) -> float | None:
    """Arrivals per second over a window of ``window_ms`` (the caller's window length); None if not positive."""
    return _ratio(agg.arrivals * MS_PER_S, window_ms)


# -- snapshot ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceLevelValue:
    threshold_s: int
    formula: SlFormula
    ratio: float | None


@dataclass(frozen=True, slots=True)
class KpiSnapshot:
    """Every KPI of one aggregate, for the output layers (Prometheus, KPI topic).

    Counts are included as they are (volumes); ratios are 0..1, times in
    seconds, NPS in points; None where the denominator was 0.
    """

    definitions: str
    window_ms: int
    # volumes
    arrivals: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    flowed_out: int
    handled: int
    acw_timeouts: int
    transferred: int
    complaints: int
    escalations: int
    tickets_created: int
    tickets_solved: int
    tickets_reopened: int
    tickets_escalated: int
    tickets_closed: int
    csat_count: int
    nps_count: int
    ces_count: int
    esat_count: int
    staffed_hours: float
    # queue stints
    service_levels: tuple[ServiceLevelValue, ...]
    asa_s: float | None
    abandonment_ratio: float | None
    flow_out_ratio: float | None
    avg_wait_abandoned_s: float | None
    max_wait_answered_s: float | None
    wait_answered_p50_s: float | None
    wait_answered_p90_s: float | None
    wait_answered_p95_s: float | None
    wait_abandoned_p50_s: float | None
    wait_abandoned_p90_s: float | None
    wait_abandoned_p95_s: float | None
    abandonment_hazard_per_s: float | None
    arrival_rate_per_s: float | None
    # handling
    aht_s: float | None
    avg_talk_s: float | None
    avg_hold_s: float | None
    avg_acw_s: float | None
    transfer_ratio: float | None
    hold_ratio: float | None
    acw_timeout_ratio: float | None
    resolved_ratio: float | None
    fcr_ratio: float | None
    complaint_ratio: float | None
    contact_escalation_ratio: float | None
    # agents
    occupancy: float | None
    cost_per_contact: float | None
    productivity_per_hour: float | None
    # tickets
    first_response_mean_s: float | None
    resolution_mean_s: float | None
    one_touch_ratio: float | None
    reopen_ratio: float | None
    ticket_escalation_ratio: float | None
    # surveys
    csat_ratio: float | None
    nps: float | None
    ces_mean: float | None
    esat_mean: float | None

    def service_level(self, threshold_s: int, formula: str = SlFormula.OFFERED) -> float | None:
        """The published SL for a threshold and formula; KeyError if not in the snapshot."""
        for value in self.service_levels:
            if value.threshold_s == threshold_s and value.formula == formula:
                return value.ratio
        raise KeyError((threshold_s, formula))


def snapshot(agg: QueueAggregate, config: QueueConfig, window_ms: int) -> KpiSnapshot:
    """All KPIs of ``agg``, a window of ``window_ms`` (for the arrival rate), priced with ``config``."""
    p50, p90, p95 = REPORTED_WAIT_QUANTILES
    return KpiSnapshot(
        definitions=DEFINITIONS_VERSION,
        window_ms=window_ms,
        arrivals=agg.arrivals,
        offered=agg.offered,
        answered=agg.answered,
        abandoned=agg.abandoned,
        short_abandoned=agg.short_abandoned,
        flowed_out=agg.flowed_out,
        handled=agg.handled,
        acw_timeouts=agg.acw_timeouts,
        transferred=agg.transferred,
        complaints=agg.complaints,
        escalations=agg.escalations,
        tickets_created=agg.tickets_created,
        tickets_solved=agg.tickets_solved,
        tickets_reopened=agg.tickets_reopened,
        tickets_escalated=agg.tickets_escalated,
        tickets_closed=agg.tickets_closed,
        csat_count=agg.csat_count,
        nps_count=agg.nps_count,
        ces_count=agg.ces_count,
        esat_count=agg.esat_count,
        staffed_hours=staffed_hours(agg),
        service_levels=tuple(
            ServiceLevelValue(threshold_ms // MS_PER_S, formula, service_level(agg, threshold_ms // MS_PER_S, formula))
            for threshold_ms in agg.sl_thresholds_ms
            for formula in SlFormula
        ),
        asa_s=asa_s(agg),
        abandonment_ratio=abandonment_ratio(agg),
        flow_out_ratio=flow_out_ratio(agg),
        avg_wait_abandoned_s=avg_wait_abandoned_s(agg),
        max_wait_answered_s=max_wait_answered_s(agg),
        wait_answered_p50_s=wait_percentile_s(agg, p50, WaitOutcome.ANSWERED),
        wait_answered_p90_s=wait_percentile_s(agg, p90, WaitOutcome.ANSWERED),
        wait_answered_p95_s=wait_percentile_s(agg, p95, WaitOutcome.ANSWERED),
        wait_abandoned_p50_s=wait_percentile_s(agg, p50, WaitOutcome.ABANDONED),
        wait_abandoned_p90_s=wait_percentile_s(agg, p90, WaitOutcome.ABANDONED),
        wait_abandoned_p95_s=wait_percentile_s(agg, p95, WaitOutcome.ABANDONED),
        abandonment_hazard_per_s=abandonment_hazard_per_s(agg),
        arrival_rate_per_s=arrival_rate_per_s(agg, window_ms),
        aht_s=aht_s(agg),
        avg_talk_s=avg_talk_s(agg),
        avg_hold_s=avg_hold_s(agg),
        avg_acw_s=avg_acw_s(agg),
        transfer_ratio=transfer_ratio(agg),
        hold_ratio=hold_ratio(agg),
        acw_timeout_ratio=acw_timeout_ratio(agg),
        resolved_ratio=resolved_ratio(agg),
        fcr_ratio=fcr_ratio(agg),
        complaint_ratio=complaint_ratio(agg),
        contact_escalation_ratio=contact_escalation_ratio(agg),
        occupancy=occupancy(agg),
        cost_per_contact=cost_per_contact(agg, config.cost_per_agent_hour),
        productivity_per_hour=productivity_per_hour(agg),
        first_response_mean_s=first_response_mean_s(agg),
        resolution_mean_s=resolution_mean_s(agg),
        one_touch_ratio=one_touch_ratio(agg),
        reopen_ratio=reopen_ratio(agg),
        ticket_escalation_ratio=ticket_escalation_ratio(agg),
        csat_ratio=csat_ratio(agg),
        nps=nps(agg),
        ces_mean=ces_mean(agg),
        esat_mean=esat_mean(agg),
    )


@dataclass(frozen=True, slots=True)
class ThresholdVerdict:
    """How one finished stint counts for the service level at one threshold."""

    threshold_s: int
    met: bool  # counts in the numerator of the 'offered' formula
    reason: str


def explain_outcome(fact: QueueOutcomeFact, config: QueueConfig) -> tuple[ThresholdVerdict, ...]:
    """For the contact-facts topic: which SL thresholds this stint met, and why.

    The reasons mirror exactly how :class:`QueueAggregate` counts the stint:
    answered within T (wait <= T) meets T; a short abandon is outside every
    denominator; any other abandon or a flow-out misses T, an abandon within
    T being noted because two SL formulas treat it apart.
    """
    wait_ms = fact.wait_ms
    verdicts: list[ThresholdVerdict] = []
    for threshold_s in config.sl_thresholds_s:
        within = wait_ms <= threshold_s * 1000
        if fact.outcome is QueueOutcome.ANSWERED:
            reason = "answered within threshold" if within else "answered after threshold"
            verdicts.append(ThresholdVerdict(threshold_s, within, reason))
        elif fact.outcome is QueueOutcome.ABANDONED:
            if config.short_abandon_ms and wait_ms <= config.short_abandon_ms:
                reason = "short abandon: excluded from offered"
            else:
                reason = "abandoned within threshold" if within else "abandoned after threshold"
            verdicts.append(ThresholdVerdict(threshold_s, False, reason))
        else:
            verdicts.append(ThresholdVerdict(threshold_s, False, "flowed out unanswered"))
    return tuple(verdicts)
