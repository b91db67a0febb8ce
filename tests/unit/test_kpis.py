"""KPIs read off aggregates, with the numbers worked by hand (SPEC section 3).

Aggregates are built from facts, so each case also checks the path from a
fact to the KPI. Times are epoch milliseconds; T0_MS is 2024-03-01T12:00:00Z.
Ratios are fractions (0.811 = 81.1 %).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import pytest

from ccpulse.domain import kpis
from ccpulse.domain.aggregates import QueueAggregate, split_span_ms
from ccpulse.domain.events import AgentState, Channel, SurveyKind
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
from ccpulse.domain.kpis import SlFormula, WaitOutcome, explain_outcome
from ccpulse.domain.queue_config import QueueConfig

T0_MS = 1_709_294_400_000
SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
INTERVAL_MS = 15 * MINUTE_MS
CONFIG = QueueConfig()

ANSWERED, ABANDONED, FLOWED_OUT = QueueOutcome.ANSWERED, QueueOutcome.ABANDONED, QueueOutcome.FLOWED_OUT


def add_stints(agg: QueueAggregate, config: QueueConfig, kind: QueueOutcome, wait_s: float, count: int = 1) -> None:
    """``count`` queue stints with this outcome and wait (one fact object, applied ``count`` times)."""
    fact = QueueOutcomeFact("c-1", "sales", Channel.VOICE, kind, T0_MS, T0_MS + round(wait_s * SECOND_MS))
    for _ in range(count):
        agg.add_outcome(fact, config)


def stints(*specs: tuple[QueueOutcome, float, int], config: QueueConfig = CONFIG) -> QueueAggregate:
    agg = QueueAggregate.empty(config)
    for kind, wait_s, count in specs:
        add_stints(agg, config, kind, wait_s, count)
    return agg


def handling(
    talk_s: float,
    hold_s: float = 0,
    acw_s: float = 0,
    *,
    acw_timed_out: bool = False,
    transferred: bool = False,
    resolved: bool | None = None,
    disposition: str | None = None,
) -> HandlingFact:
    ended = T0_MS + round((talk_s + hold_s) * SECOND_MS)
    return HandlingFact(
        "c-1",
        "sales",
        Channel.VOICE,
        "agent-07",
        answered_ts_ms=T0_MS,
        ended_ts_ms=ended,
        completed_ts_ms=ended + round(acw_s * SECOND_MS),
        hold_ms=round(hold_s * SECOND_MS),
        hold_count=1 if hold_s else 0,
        acw_timed_out=acw_timed_out,
        transferred=transferred,
        resolved=resolved,
        disposition=disposition,
    )


def add_agent_time(agg: QueueAggregate, state: AgentState, minutes: float) -> None:
    span = AgentStateFact("agent-07", state, T0_MS, T0_MS + round(minutes * MINUTE_MS), ("sales",))
    agg.add_agent_state(span, span.duration_ms)


# --- service level: the ICMI golden vector ---------------------------------------


def icmi_example() -> QueueAggregate:
    # 1000 answered, 860 of them within 20 s (10 s) and 140 after (40 s);
    # 60 abandoned, 20 within 20 s (10 s: above the 5 s short threshold) and 40 after (40 s).
    return stints((ANSWERED, 10, 860), (ANSWERED, 40, 140), (ABANDONED, 10, 20), (ABANDONED, 40, 40))


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (SlFormula.OFFERED, 0.811),  # 860 / 1060 = 0.81132
        (SlFormula.ANSWERED, 0.860),  # 860 / 1000
        (SlFormula.IGNORE_EARLY_ABANDONS, 0.827),  # 860 / (1060 - 20) = 860 / 1040 = 0.82692
        (SlFormula.ABANDONS_MET, 0.830),  # (860 + 20) / 1060 = 0.83019
    ],
)
def test_icmi_golden_vector(formula: SlFormula, expected: float) -> None:
    agg = icmi_example()
    assert (agg.offered, agg.short_abandoned, agg.flowed_out) == (1060, 0, 0)

    ratio = kpis.service_level(agg, 20, formula)

    assert ratio is not None
    assert round(ratio, 3) == expected


def test_service_level_formula_defaults_to_offered_and_accepts_plain_strings() -> None:
    agg = icmi_example()

    assert kpis.service_level(agg, 20) == kpis.service_level(agg, 20, "offered") == 860 / 1060


def test_service_level_for_other_thresholds() -> None:
    # Waits of 10 s and 40 s: within 30 s as within 20 s; within 60 s everything.
    agg = icmi_example()

    assert kpis.service_level(agg, 30) == 860 / 1060
    assert kpis.service_level(agg, 60) == 1000 / 1060  # every answered call, but 60 abandons in the denominator
    assert kpis.service_level(agg, 60, SlFormula.ABANDONS_MET) == 1.0  # (1000 + 60) / 1060


def test_service_level_refuses_unknown_thresholds_and_formulas() -> None:
    with pytest.raises(ValueError, match="no SL threshold of 45000 ms"):
        kpis.service_level(icmi_example(), 45)
    with pytest.raises(ValueError, match="unknown service level formula 'median'"):
        kpis.service_level(icmi_example(), 20, "median")


# --- the anonymous bank, February 1999 (month totals of data/README.md) ------------


def anonymous_bank(config: QueueConfig) -> QueueAggregate:
    """The month totals, rebuilt from facts with waits and talk times chosen to match them.

    Answered 27,162: 16,210 within 20 s (at 10 s: 162,100 s) and 10,952 after, whose waits
    must add up to 1,107,485 - 162,100 = 945,385 s: 945,385 = 86 x 10,952 + 3,513, so
    3,513 calls at 87 s and 7,439 at 86 s. Abandoned 3,963: 274 short (3 s) and 3,689 at 60 s.
    Handled 27,162 with talk 4,790,100 s = 176 x 27,162 + 9,588: 9,588 at 177 s, 17,574 at 176 s.
    """
    agg = stints(
        (ANSWERED, 10, 16_210),
        (ANSWERED, 87, 3_513),
        (ANSWERED, 86, 7_439),
        (ABANDONED, 3, 274),
        (ABANDONED, 60, 3_689),
        config=config,
    )
    for talk_s, count in ((177, 9_588), (176, 17_574)):
        fact = handling(talk_s)
        for _ in range(count):
            agg.add_handling(fact, config)
    return agg


def test_anonymous_bank_month_with_short_abandons_not_excluded() -> None:
    agg = anonymous_bank(QueueConfig(short_abandon_s=0))

    assert (agg.answered, agg.abandoned, agg.short_abandoned) == (27_162, 3_963, 0)
    assert agg.answered_within[0] == 16_210
    assert agg.sum_wait_answered_ms == 1_107_485_000
    assert agg.offered == 31_125  # 27,162 + 3,963
    assert round(kpis.asa_s(agg) or 0, 2) == 40.77  # 1,107,485 / 27,162 = 40.773
    assert round(kpis.aht_s(agg) or 0, 2) == 176.35  # 4,790,100 / 27,162 = 176.353
    assert round(100 * (kpis.abandonment_ratio(agg) or 0), 2) == 12.73  # 3,963 / 31,125 = 0.127325
    assert round(100 * (kpis.service_level(agg, 20) or 0), 2) == 52.08  # 16,210 / 31,125 = 0.520803


def test_anonymous_bank_month_with_the_default_5_s_short_abandons() -> None:
    # 274 short abandons leave every denominator: abandoned 3,963 - 274 = 3,689; offered 27,162 + 3,689 = 30,851.
    agg = anonymous_bank(CONFIG)

    assert (agg.abandoned, agg.short_abandoned, agg.offered) == (3_689, 274, 30_851)
    assert round(kpis.asa_s(agg) or 0, 2) == 40.77  # answered side unchanged
    assert round(kpis.aht_s(agg) or 0, 2) == 176.35
    # 3,689 / 30,851: 30,851 x 0.1196 = 3,689.8, a little over, so 0.11957 -> 11.96 %.
    assert round(100 * (kpis.abandonment_ratio(agg) or 0), 2) == 11.96
    # 16,210 / 30,851: 30,851 x 0.5254 = 16,209.1, a little under, so 0.52543 -> 52.54 %.
    assert round(100 * (kpis.service_level(agg, 20) or 0), 2) == 52.54


# --- short abandons and boundaries ---------------------------------------------------


def test_short_abandons_are_in_no_denominator() -> None:
    # 3 answered at 10 s, 1 at 25 s; short abandons at 2 s and exactly 5 s; 1 abandon at 15 s; 1 flow-out at 40 s.
    # offered = 4 + 1 + 1 = 6 (the two short abandons are out).
    agg = stints(
        (ANSWERED, 10, 3),
        (ANSWERED, 25, 1),
        (ABANDONED, 2, 1),
        (ABANDONED, 5, 1),
        (ABANDONED, 15, 1),
        (FLOWED_OUT, 40, 1),
    )

    assert (agg.offered, agg.short_abandoned) == (6, 2)
    assert kpis.service_level(agg, 20, SlFormula.OFFERED) == 3 / 6
    assert kpis.service_level(agg, 20, SlFormula.ANSWERED) == 3 / 4
    assert kpis.service_level(agg, 20, SlFormula.IGNORE_EARLY_ABANDONS) == 3 / 5  # 6 - 1 abandoned within 20 s
    assert kpis.service_level(agg, 20, SlFormula.ABANDONS_MET) == 4 / 6
    assert kpis.abandonment_ratio(agg) == 1 / 6
    assert kpis.flow_out_ratio(agg) == 1 / 6
    assert kpis.asa_s(agg) == 13.75  # (3 x 10 + 25) / 4
    assert kpis.avg_wait_abandoned_s(agg) == 15.0  # the short ones are out of this mean too


def test_only_short_abandons_leave_no_denominator() -> None:
    agg = stints((ABANDONED, 1, 5))

    assert agg.short_abandoned == 5
    assert kpis.abandonment_ratio(agg) is None
    assert all(kpis.service_level(agg, 20, formula) is None for formula in SlFormula)


def test_short_abandon_threshold_zero_keeps_every_abandon() -> None:
    # With 0, an abandon after 1 s is an ordinary abandon: 1 answered + 1 abandoned = 2 offered.
    config = QueueConfig(short_abandon_s=0)
    agg = stints((ANSWERED, 8, 1), (ABANDONED, 1, 1), config=config)

    assert kpis.abandonment_ratio(agg) == 0.5
    assert kpis.service_level(agg, 20, SlFormula.IGNORE_EARLY_ABANDONS) == 1.0  # 1 / (2 - 1)


def test_a_wait_of_exactly_t_meets_t() -> None:
    # 20.000 s meets 20 s; 20.001 s does not but meets 30 s.
    agg = stints((ANSWERED, 20, 1), (ANSWERED, 20.001, 1))

    assert kpis.service_level(agg, 20) == 0.5
    assert kpis.service_level(agg, 30) == 1.0


def test_ignore_early_abandons_with_every_contact_abandoned_early_has_no_denominator() -> None:
    # 2 abandons at 10 s, nothing else: offered 2, abandoned within 20 s 2, 2 - 2 = 0.
    agg = stints((ABANDONED, 10, 2))

    assert kpis.service_level(agg, 20, SlFormula.IGNORE_EARLY_ABANDONS) is None
    assert kpis.service_level(agg, 20, SlFormula.ANSWERED) is None
    assert kpis.service_level(agg, 20, SlFormula.OFFERED) == 0.0
    assert kpis.service_level(agg, 20, SlFormula.ABANDONS_MET) == 1.0


def test_abandonment_hazard_is_abandons_per_second_of_waiting() -> None:
    # Waits: answered 10 s + 30 s, abandoned 20 s (not short), flowed out 40 s, short 3 s (left out): 100 s, 1 abandon.
    agg = stints((ANSWERED, 10, 1), (ANSWERED, 30, 1), (ABANDONED, 20, 1), (FLOWED_OUT, 40, 1), (ABANDONED, 3, 1))

    assert kpis.abandonment_hazard_per_s(agg) == 1 / 100


# --- wait percentiles --------------------------------------------------------------------


def test_wait_percentiles_interpolate_inside_the_bucket() -> None:
    # 4 answered at 10 s -> (5, 10]; 4 at 25 s -> (20, 30]; 2 at 100 s -> (90, 120]. n = 10, max 100 s.
    # p50: rank 5; 4 below (20, 30], which holds 4 -> 20 + 10 x (5 - 4) / 4 = 22.5 s.
    # p90: rank 9; 8 below (90, 120], whose top is capped at the max 100 s -> 90 + 10 x (9 - 8) / 2 = 95 s.
    # p95: rank 9.5 -> 90 + 10 x 1.5 / 2 = 97.5 s.
    agg = stints((ANSWERED, 10, 4), (ANSWERED, 25, 4), (ANSWERED, 100, 2))

    assert kpis.wait_percentile_s(agg, 0.5) == 22.5
    assert kpis.wait_percentile_s(agg, 0.9) == 95.0
    assert kpis.wait_percentile_s(agg, 0.95) == 97.5
    assert kpis.wait_percentile_s(agg, 1.0) == 100.0  # the maximum


def test_wait_percentile_in_the_first_bucket_starts_at_zero_and_stops_at_the_max() -> None:
    # One wait of 2 s in (0, 5]: the bucket's top is capped at the max 2 s, so p50 = 0 + 2 x 0.5 = 1 s.
    assert kpis.wait_percentile_s(stints((ANSWERED, 2, 1)), 0.5) == 1.0
    # Every wait 0: every percentile 0.
    assert kpis.wait_percentile_s(stints((ANSWERED, 0, 3)), 0.95) == 0.0


def test_wait_percentile_above_the_last_bound_uses_the_maximum() -> None:
    # One wait of 1500 s, above the last bound 1200 s: p50 = 1200 + (1500 - 1200) x 0.5 = 1350 s.
    assert kpis.wait_percentile_s(stints((ANSWERED, 1500, 1)), 0.5) == 1350.0


def test_abandoned_wait_percentiles_come_from_their_own_histogram() -> None:
    # Abandons at 12 s and 50 s (and a short one at 4 s, left out); answered waits do not matter.
    # p50: rank 1 -> (10, 15] holds 1 -> 10 + 5 x 1 / 1 = 15 s. p95: rank 1.9 -> (45, 60] capped at 50 -> 45 + 5 x 0.9.
    agg = stints((ABANDONED, 12, 1), (ABANDONED, 50, 1), (ABANDONED, 4, 1), (ANSWERED, 300, 5))

    assert kpis.wait_percentile_s(agg, 0.5, WaitOutcome.ABANDONED) == 15.0
    assert kpis.wait_percentile_s(agg, 0.95, "abandoned") == pytest.approx(49.5)


def test_wait_percentile_refuses_a_bad_quantile_or_outcome() -> None:
    agg = stints((ANSWERED, 2, 1))
    with pytest.raises(ValueError, match="quantile"):
        kpis.wait_percentile_s(agg, 0)
    with pytest.raises(ValueError, match="quantile"):
        kpis.wait_percentile_s(agg, 1.5)
    with pytest.raises(ValueError, match="unknown wait outcome"):
        kpis.wait_percentile_s(agg, 0.5, "flowed_out")


# --- handling ------------------------------------------------------------------------------


def handled_example() -> QueueAggregate:
    # Segment 1: 240 s talk, 60 s hold, 30 s wrap-up -> 330 s; transferred; resolved; a complaint.
    # Segment 2: 120 s talk, no hold, no wrap-up: ACW timeout 600 s -> 720 s; resolved unknown; escalated.
    # Segment 3: 90 s talk, 10 s hold, 20 s wrap-up -> 120 s; not resolved.
    agg = QueueAggregate.empty(CONFIG)
    for fact in (
        handling(240, 60, 30, transferred=True, resolved=True, disposition="complaint"),
        handling(120, acw_s=CONFIG.acw_timeout_s, acw_timed_out=True, disposition="escalated"),
        handling(90, 10, 20, resolved=False),
    ):
        agg.add_handling(fact, CONFIG)
    return agg


def test_aht_is_talk_plus_hold_plus_acw_per_segment() -> None:
    agg = handled_example()

    assert kpis.aht_s(agg) == 390.0  # (330 + 720 + 120) / 3 = 1170 / 3
    assert kpis.avg_talk_s(agg) == 150.0  # (240 + 120 + 90) / 3
    assert kpis.avg_hold_s(agg) == pytest.approx(70 / 3)  # (60 + 0 + 10) / 3, over all segments
    assert kpis.avg_acw_s(agg) == 650 / 3  # (30 + 600 + 20) / 3
    assert (kpis.avg_talk_s(agg) or 0) + (kpis.avg_hold_s(agg) or 0) + (kpis.avg_acw_s(agg) or 0) == pytest.approx(390)
    assert agg.acw_timeouts == 1
    assert kpis.acw_timeout_ratio(agg) == 1 / 3


def test_handling_ratios() -> None:
    agg = handled_example()

    assert kpis.transfer_ratio(agg) == 1 / 3
    assert kpis.hold_ratio(agg) == 2 / 3  # segments 1 and 3 held
    assert kpis.resolved_ratio(agg) == 1 / 2  # known for 1 and 3; true for 1
    assert kpis.complaint_ratio(agg) == 1 / 3
    assert kpis.contact_escalation_ratio(agg) == 1 / 3


def test_fcr_is_one_minus_repeats_over_contacts_past_their_repeat_window() -> None:
    # 10 contacts past the window, 2 of them repeats: 1 - 2 / 10 = 0.8.
    agg = QueueAggregate.empty(CONFIG)
    for i in range(10):
        agg.add_fcr_result(repeat=i < 2)

    assert kpis.fcr_ratio(agg) == pytest.approx(0.8)


# --- agent time ------------------------------------------------------------------------------


def test_occupancy_per_interval_with_spans_split_across_intervals() -> None:
    # One agent, 15-min intervals starting at 10:45, 11:00, 11:15 (UTC, T0 = 12:00):
    #   available 10:50-11:05 -> 10 min in 10:45, 5 min in 11:00
    #   busy      11:05-11:20 -> 10 min in 11:00, 5 min in 11:15
    #   acw       11:20-11:25 -> 5 min in 11:15
    #   away      11:25-11:30 -> 5 min in 11:15 (not staffed)
    # 10:45: 0 / 10 = 0; 11:00: 10 / (5 + 10) = 2/3; 11:15: (5 + 5) / (5 + 5) = 1.
    # The three intervals together: (15 + 5) / (15 + 15 + 5) = 20 / 35 = 4/7.
    def at(hh: int, mm: int) -> int:
        return T0_MS + ((hh - 12) * 60 + mm) * MINUTE_MS

    spans = [
        AgentStateFact("agent-07", AgentState.AVAILABLE, at(10, 50), at(11, 5), ("sales",)),
        AgentStateFact("agent-07", AgentState.BUSY, at(11, 5), at(11, 20), ("sales",)),
        AgentStateFact("agent-07", AgentState.ACW, at(11, 20), at(11, 25), ("sales",)),
        AgentStateFact("agent-07", AgentState.AWAY, at(11, 25), at(11, 30), ("sales",)),
    ]
    intervals: dict[int, QueueAggregate] = {}
    for span in spans:
        for start_ms, overlap_ms in split_span_ms(span.start_ts_ms, span.end_ts_ms, INTERVAL_MS):
            intervals.setdefault(start_ms, QueueAggregate.empty(CONFIG)).add_agent_state(span, overlap_ms)

    assert sorted(intervals) == [at(10, 45), at(11, 0), at(11, 15)]
    assert kpis.occupancy(intervals[at(10, 45)]) == 0.0
    assert kpis.occupancy(intervals[at(11, 0)]) == pytest.approx(2 / 3)
    assert kpis.occupancy(intervals[at(11, 15)]) == 1.0
    total = QueueAggregate.empty(CONFIG)
    for agg in intervals.values():
        total.merge_in(agg)
    assert kpis.occupancy(total) == pytest.approx(4 / 7)


def test_cost_per_contact_and_productivity() -> None:
    # Staffed 2 h (60 min available + 45 busy + 15 acw; 30 min away not paid here), 12 handled, 30.00 per agent hour:
    # cost = 30 x 2 / 12 = 5.00 per contact; productivity = 12 / 2 = 6 per hour; occupancy = 60 / 120 = 0.5.
    agg = QueueAggregate.empty(CONFIG)
    for state, minutes in (
        (AgentState.AVAILABLE, 60),
        (AgentState.BUSY, 45),
        (AgentState.ACW, 15),
        (AgentState.AWAY, 30),
    ):
        add_agent_time(agg, state, minutes)
    fact = handling(60)
    for _ in range(12):
        agg.add_handling(fact, CONFIG)

    assert kpis.staffed_hours(agg) == 2.0
    assert kpis.cost_per_contact(agg, 30.0) == 5.0
    assert kpis.cost_per_contact(agg, None) is None  # no cost configured
    assert kpis.productivity_per_hour(agg) == 6.0
    assert kpis.occupancy(agg) == 0.5


# --- tickets and surveys -------------------------------------------------------------------


def test_ticket_kpis() -> None:
    # Created 4; first responses after 10 min and 30 min -> mean 20 min = 1200 s;
    # solved 2, after 1 h (1 public reply: one touch) and 2 h (3 replies) -> mean 5400 s, one-touch 1/2;
    # reopened 1 -> 1/2 of solved; escalated 1 -> 1/4 of created.
    agg = QueueAggregate.empty(CONFIG)
    steps = [
        *(TicketFact(f"t-{i}", "sales", Channel.EMAIL, TicketStep.CREATED, T0_MS) for i in range(4)),
        TicketFact("t-0", "sales", Channel.EMAIL, TicketStep.FIRST_RESPONSE, T0_MS, 10 * MINUTE_MS),
        TicketFact("t-1", "sales", Channel.EMAIL, TicketStep.FIRST_RESPONSE, T0_MS, 30 * MINUTE_MS),
        TicketFact("t-0", "sales", Channel.EMAIL, TicketStep.SOLVED, T0_MS, HOUR_MS, public_replies=1),
        TicketFact("t-1", "sales", Channel.EMAIL, TicketStep.SOLVED, T0_MS, 2 * HOUR_MS, public_replies=3),
        TicketFact("t-1", "sales", Channel.EMAIL, TicketStep.REOPENED, T0_MS),
        TicketFact("t-2", "sales", Channel.EMAIL, TicketStep.ESCALATED, T0_MS),
    ]
    for step in steps:
        agg.add_ticket(step)

    assert kpis.first_response_mean_s(agg) == 1200.0
    assert kpis.resolution_mean_s(agg) == 5400.0
    assert kpis.one_touch_ratio(agg) == 0.5
    assert kpis.reopen_ratio(agg) == 0.5
    assert kpis.ticket_escalation_ratio(agg) == 0.25


def test_survey_kpis() -> None:
    # CSAT 5, 4, 3, 1, 4: satisfied (>= 4) 3 of 5 = 0.6.
    # NPS 10, 9, 9, 8, 7, 6, 2, 10, 10, 4: promoters 5 (50 %), detractors 3 (30 %) -> +20 points.
    # CES 2, 3, 5, 1.5: 11.5 / 4 = 2.875. ESAT 4, 5, 3: 12 / 3 = 4.0.
    agg = QueueAggregate.empty(CONFIG)
    answers = [
        *((SurveyKind.CSAT, s) for s in (5, 4, 3, 1, 4)),
        *((SurveyKind.NPS, s) for s in (10, 9, 9, 8, 7, 6, 2, 10, 10, 4)),
        *((SurveyKind.CES, s) for s in (2, 3, 5, 1.5)),
        *((SurveyKind.ESAT, s) for s in (4, 5, 3)),
    ]
    for i, (kind, score) in enumerate(answers):
        agg.add_survey(SurveyFact(f"s-{i}", kind, score, T0_MS, "sales", Channel.VOICE, "agent-07"))

    assert kpis.csat_ratio(agg) == 0.6
    assert kpis.nps(agg) == 20.0
    assert kpis.ces_mean(agg) == 2.875
    assert kpis.esat_mean(agg) == 4.0


def test_nps_spans_minus_100_to_100_points() -> None:
    only_detractors, only_promoters = QueueAggregate.empty(CONFIG), QueueAggregate.empty(CONFIG)
    only_detractors.add_survey(SurveyFact("s-1", SurveyKind.NPS, 0, T0_MS, "sales", None, None))
    only_promoters.add_survey(SurveyFact("s-2", SurveyKind.NPS, 10, T0_MS, "sales", None, None))

    assert kpis.nps(only_detractors) == -100.0
    assert kpis.nps(only_promoters) == 100.0


# --- volume --------------------------------------------------------------------------------------


def test_arrival_rate_over_the_callers_window() -> None:
    # 90 arrivals in a 15-min window (900 s): 0.1 per second.
    agg = QueueAggregate.empty(CONFIG)
    arrival = QueueArrivalFact("c-1", "sales", Channel.VOICE, T0_MS)
    for _ in range(90):
        agg.add_arrival(arrival)

    assert kpis.arrival_rate_per_s(agg, INTERVAL_MS) == pytest.approx(0.1)
    assert kpis.arrival_rate_per_s(agg, 0) is None


# --- empty denominators ----------------------------------------------------------------------

NO_ARGUMENT_KPIS: list[Callable[[QueueAggregate], float | None]] = [
    kpis.asa_s,
    kpis.abandonment_ratio,
    kpis.flow_out_ratio,
    kpis.avg_wait_abandoned_s,
    kpis.max_wait_answered_s,
    kpis.abandonment_hazard_per_s,
    kpis.aht_s,
    kpis.avg_talk_s,
    kpis.avg_hold_s,
    kpis.avg_acw_s,
    kpis.transfer_ratio,
    kpis.hold_ratio,
    kpis.acw_timeout_ratio,
    kpis.resolved_ratio,
    kpis.fcr_ratio,
    kpis.complaint_ratio,
    kpis.contact_escalation_ratio,
    kpis.occupancy,
    kpis.productivity_per_hour,
    kpis.first_response_mean_s,
    kpis.resolution_mean_s,
    kpis.one_touch_ratio,
    kpis.reopen_ratio,
    kpis.ticket_escalation_ratio,
    kpis.csat_ratio,
    kpis.nps,
    kpis.ces_mean,
    kpis.esat_mean,
]


@pytest.mark.parametrize("kpi", NO_ARGUMENT_KPIS, ids=lambda kpi: kpi.__name__)
def test_every_kpi_of_an_empty_aggregate_is_none(kpi: Callable[[QueueAggregate], float | None]) -> None:
    assert kpi(QueueAggregate.empty(CONFIG)) is None


def test_parameterised_kpis_of_an_empty_aggregate_are_none() -> None:
    empty = QueueAggregate.empty(CONFIG)

    assert all(kpis.service_level(empty, t, f) is None for t in CONFIG.sl_thresholds_s for f in SlFormula)
    assert all(kpis.wait_percentile_s(empty, q, o) is None for q in (0.5, 0.9, 0.95) for o in WaitOutcome)
    assert kpis.cost_per_contact(empty, 30.0) is None
    assert kpis.arrival_rate_per_s(empty, INTERVAL_MS) == 0.0  # no arrivals in a real window is a rate of 0


def test_a_kpi_whose_numerator_is_empty_is_zero_not_none() -> None:
    # One handled contact, not transferred: transfer ratio 0; but no surveys at all: CSAT None.
    agg = QueueAggregate.empty(CONFIG)
    agg.add_handling(handling(60), CONFIG)

    assert kpis.transfer_ratio(agg) == 0.0
    assert kpis.csat_ratio(agg) is None


# --- snapshot ------------------------------------------------------------------------------------


def test_snapshot_of_an_empty_aggregate_has_zero_volumes_and_no_ratios() -> None:
    snap = kpis.snapshot(QueueAggregate.empty(CONFIG), CONFIG, INTERVAL_MS)

    assert snap.definitions == "v1"
    assert snap.window_ms == INTERVAL_MS
    assert len(snap.service_levels) == 3 * 4  # thresholds x formulas
    assert all(value.ratio is None for value in snap.service_levels)
    for field in fields(snap):
        value = getattr(snap, field.name)
        if field.name in {"definitions", "window_ms", "service_levels"}:
            continue
        if field.name == "arrival_rate_per_s":
            assert value == 0.0
        elif field.type == "int" or field.name == "staffed_hours":
            assert value == 0, field.name
        else:
            assert value is None, field.name


def test_snapshot_agrees_with_the_kpi_functions() -> None:
    config = QueueConfig(cost_per_agent_hour=30.0)
    agg = icmi_example()
    agg.merge_in(handled_example())
    add_agent_time(agg, AgentState.BUSY, 30)
    add_agent_time(agg, AgentState.AVAILABLE, 30)
    agg.add_arrival(QueueArrivalFact("c-1", "sales", Channel.VOICE, T0_MS))

    snap = kpis.snapshot(agg, config, INTERVAL_MS)

    assert (snap.offered, snap.answered, snap.abandoned, snap.handled, snap.arrivals) == (1060, 1000, 60, 3, 1)
    assert snap.service_level(20, SlFormula.IGNORE_EARLY_ABANDONS) == 860 / 1040
    assert snap.service_level(60) == 1000 / 1060
    assert snap.asa_s == kpis.asa_s(agg)
    assert snap.aht_s == 390.0
    assert snap.occupancy == 0.5
    assert snap.cost_per_contact == 30.0 * 1.0 / 3  # 1 staffed hour over 3 handled
    assert snap.productivity_per_hour == 3.0
    assert snap.wait_answered_p50_s == kpis.wait_percentile_s(agg, 0.5)
    assert snap.wait_abandoned_p95_s == kpis.wait_percentile_s(agg, 0.95, WaitOutcome.ABANDONED)
    assert snap.arrival_rate_per_s == 1 / 900
    with pytest.raises(KeyError):
        snap.service_level(45)


def test_explain_outcome_says_which_thresholds_a_stint_met_and_why() -> None:
    config = QueueConfig()  # thresholds 20/30/60 s, short abandon 5 s
    t0 = 1_790_000_000_000

    def stint(outcome: QueueOutcome, wait_s: int) -> QueueOutcomeFact:
        return QueueOutcomeFact("c", "sales", Channel.VOICE, outcome, t0, t0 + wait_s * 1000)

    answered = explain_outcome(stint(QueueOutcome.ANSWERED, 30), config)
    # 30 s: misses 20, meets 30 (inclusive) and 60.
    assert [(v.threshold_s, v.met) for v in answered] == [(20, False), (30, True), (60, True)]
    assert answered[1].reason == "answered within threshold"
    short = explain_outcome(stint(QueueOutcome.ABANDONED, 5), config)
    assert {v.reason for v in short} == {"short abandon: excluded from offered"}
    early = explain_outcome(stint(QueueOutcome.ABANDONED, 25), config)
    # 25 s: after 20, within 30 and within 60; an abandon never meets a threshold.
    assert [v.reason for v in early] == [
        "abandoned after threshold",
        "abandoned within threshold",
        "abandoned within threshold",
    ]
    assert not any(v.met for v in early)
    assert not any(v.met for v in explain_outcome(stint(QueueOutcome.FLOWED_OUT, 1), config))
