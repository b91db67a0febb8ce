"""Queue aggregates: which counter each fact moves, retraction, merging, span splitting.

Hand-worked cases first, then properties: merge is a commutative monoid,
folding is independent of order and bucketing, retraction undoes. All times
are epoch milliseconds; T0_MS is 2024-03-01T12:00:00Z. The default queue
config has SL thresholds 20/30/60 s, short abandons <= 5 s and histogram
bounds 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200 s (+Inf): index
i of a histogram counts waits in (bound[i-1], bound[i]], index 13 is +Inf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.domain.aggregates import (
    LongestWaits,
    QueueAggregate,
    cumulative_counts,
    merge,
    merge_all,
    split_span_ms,
)
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
from ccpulse.domain.queue_config import QueueConfig

# 2024-03-01T12:00:00Z (worked out in test_queue_stints.py).
T0_MS = 1_709_294_400_000
MINUTE_MS = 60_000
INTERVAL_MS = 15 * MINUTE_MS
CONFIG = QueueConfig()
NO_SHORT_ABANDONS = QueueConfig(short_abandon_s=0)
INF_BUCKET = 13  # 13 finite bounds, then +Inf

property_settings = settings(max_examples=200, deadline=None)


def outcome(kind: QueueOutcome, wait_ms: int, queued_ts_ms: int = T0_MS, contact_id: str = "c-1") -> QueueOutcomeFact:
    return QueueOutcomeFact(contact_id, "sales", Channel.VOICE, kind, queued_ts_ms, queued_ts_ms + wait_ms)


def handling(
    talk_ms: int,
    hold_ms: int = 0,
    acw_ms: int = 0,
    *,
    hold_count: int | None = None,
    answered_ts_ms: int = T0_MS,
    acw_timed_out: bool = False,
    transferred: bool = False,
    resolved: bool | None = None,
    disposition: str | None = None,
) -> HandlingFact:
    ended = answered_ts_ms + talk_ms + hold_ms
    return HandlingFact(
        contact_id="c-1",
        queue="sales",
        channel=Channel.VOICE,
        agent_id="agent-07",
        answered_ts_ms=answered_ts_ms,
        ended_ts_ms=ended,
        completed_ts_ms=ended + acw_ms,
        hold_ms=hold_ms,
        hold_count=(1 if hold_ms else 0) if hold_count is None else hold_count,
        acw_timed_out=acw_timed_out,
        transferred=transferred,
        resolved=resolved,
        disposition=disposition,
    )


def agent_span(state: AgentState, start_ms: int, end_ms: int) -> AgentStateFact:
    return AgentStateFact("agent-07", state, start_ms, end_ms, queues=("sales",))


def ticket(step: TicketStep, duration_ms: int | None = None, public_replies: int | None = None) -> TicketFact:
    return TicketFact("t-1", "sales", Channel.EMAIL, step, T0_MS, duration_ms, public_replies)


def survey(kind: SurveyKind, score: float, survey_id: str = "s-1") -> SurveyFact:
    return SurveyFact(survey_id, kind, score, T0_MS, "sales", Channel.VOICE, "agent-07")


def empty(config: QueueConfig = CONFIG) -> QueueAggregate:
    return QueueAggregate.empty(config)


def only(agg: QueueAggregate, **expected: Any) -> None:
    """Assert that ``agg`` equals the empty aggregate with just these fields changed."""
    assert agg == replace(empty(), **expected)


# --- shape -------------------------------------------------------------------


def test_empty_aggregate_has_the_queue_thresholds_and_bounds_in_milliseconds() -> None:
    agg = empty()

    assert agg.sl_thresholds_ms == (20_000, 30_000, 60_000)
    assert agg.wait_bounds_ms[:4] == (5_000, 10_000, 15_000, 20_000)
    assert agg.wait_bounds_ms[-1] == 1_200_000
    assert agg.answered_within == [0, 0, 0]
    assert agg.abandoned_within == [0, 0, 0]
    assert agg.answered_wait_counts == [0] * 14  # 13 bounds + Inf
    assert agg.abandoned_wait_counts == [0] * 14
    assert agg.is_empty()
    assert agg.offered == 0


def test_histogram_bounds_include_a_threshold_the_config_did_not_list() -> None:
    # 25 s is neither a default bound nor the short-abandon threshold; QueueConfig adds it.
    agg = empty(QueueConfig(sl_thresholds_s=(25,), sl_target_threshold_s=25))

    assert 25_000 in agg.wait_bounds_ms
    assert len(agg.answered_wait_counts) == len(agg.wait_bounds_ms) + 1


def test_inconsistent_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="sl_thresholds_ms"):
        QueueAggregate((30_000, 20_000), (5_000,))
    with pytest.raises(ValueError, match="wait_bounds_ms"):
        QueueAggregate((20_000,), (20_000, 5_000))
    with pytest.raises(ValueError, match="answered_within needs 1 entries"):
        QueueAggregate((20_000,), (20_000,), answered_within=[1, 2])


def test_threshold_index_names_the_known_thresholds() -> None:
    assert empty().threshold_index(30_000) == 1
    with pytest.raises(ValueError, match=r"thresholds are \[20000, 30000, 60000\] ms"):
        empty().threshold_index(45_000)


# --- queue stints ------------------------------------------------------------


def test_arrival_counts_once() -> None:
    agg = empty()
    agg.add_arrival(QueueArrivalFact("c-1", "sales", Channel.VOICE, T0_MS))

    only(agg, arrivals=1)


@pytest.mark.parametrize(
    ("wait_ms", "within", "bucket"),
    [
        (0, [1, 1, 1], 0),  # (0, 5] s
        (5_000, [1, 1, 1], 0),  # a bound is the top of its own bucket (Prometheus le)
        (5_001, [1, 1, 1], 1),  # (5, 10] s
        (19_999, [1, 1, 1], 3),  # (15, 20] s
        (20_000, [1, 1, 1], 3),  # exactly T = 20 s is within 20 s
        (20_001, [0, 1, 1], 4),  # 1 ms over: within 30 and 60 only; (20, 30] s
        (60_000, [0, 0, 1], 6),  # (45, 60] s
        (60_001, [0, 0, 0], 7),  # (60, 90] s
        (1_200_000, [0, 0, 0], 12),  # (600, 1200] s
        (1_200_001, [0, 0, 0], INF_BUCKET),  # above the last bound
    ],
)
def test_answered_wait_is_within_each_threshold_inclusively_and_lands_in_one_bucket(
    wait_ms: int, within: list[int], bucket: int
) -> None:
    agg = empty()
    agg.add_outcome(outcome(QueueOutcome.ANSWERED, wait_ms), CONFIG)

    histogram = [0] * 14
    histogram[bucket] = 1
    only(
        agg,
        answered=1,
        answered_within=within,
        sum_wait_answered_ms=wait_ms,
        max_wait_answered_ms=wait_ms,
        answered_wait_counts=histogram,
    )


def test_answered_waits_add_up_and_the_maximum_is_kept() -> None:
    # Waits 12 s, 45 s, 3 s: sum 60 s, max 45 s; within 20 s: 12 and 3; within 30 s: same; within 60 s: all three.
    agg = empty()
    for wait_ms in (12_000, 45_000, 3_000):
        agg.add_outcome(outcome(QueueOutcome.ANSWERED, wait_ms), CONFIG)

    assert agg.answered == 3
    assert agg.sum_wait_answered_ms == 60_000
    assert agg.max_wait_answered_ms == 45_000
    assert agg.answered_within == [2, 2, 3]
    assert agg.answered_wait_counts[:6] == [1, 0, 1, 0, 0, 1]  # (0,5], (10,15], (30,45]


@pytest.mark.parametrize(
    ("config", "wait_ms", "short"),
    [
        (CONFIG, 0, True),
        (CONFIG, 4_999, True),
        (CONFIG, 5_000, True),  # exactly short_abandon_s is short
        (CONFIG, 5_001, False),
        (QueueConfig(short_abandon_s=10), 10_000, True),
        (QueueConfig(short_abandon_s=10), 10_001, False),
        (NO_SHORT_ABANDONS, 0, False),  # 0 disables: even an instant hang-up counts
        (NO_SHORT_ABANDONS, 3_000, False),
    ],
)
def test_short_abandon_is_decided_with_the_queue_threshold(config: QueueConfig, wait_ms: int, short: bool) -> None:
    agg = QueueAggregate.empty(config)
    agg.add_outcome(outcome(QueueOutcome.ABANDONED, wait_ms), config)

    assert agg.short_abandoned == int(short)
    assert agg.abandoned == int(not short)
    assert agg.offered == int(not short)


def test_short_abandon_touches_nothing_but_its_own_count_and_wait() -> None:
    agg = empty()
    agg.add_outcome(outcome(QueueOutcome.ABANDONED, 4_000), CONFIG)

    only(agg, short_abandoned=1, sum_wait_short_abandoned_ms=4_000)


def test_abandon_counts_waits_within_thresholds_and_in_its_own_histogram() -> None:
    # 18 s: within 20/30/60, bucket (15, 20] = index 3; not short (> 5 s).
    agg = empty()
    agg.add_outcome(outcome(QueueOutcome.ABANDONED, 18_000), CONFIG)

    histogram = [0] * 14
    histogram[3] = 1
    only(
        agg,
        abandoned=1,
        abandoned_within=[1, 1, 1],
        sum_wait_abandoned_ms=18_000,
        max_wait_abandoned_ms=18_000,
        abandoned_wait_counts=histogram,
    )


def test_flow_out_counts_as_offered_with_its_wait() -> None:
    agg = empty()
    agg.add_outcome(outcome(QueueOutcome.FLOWED_OUT, 300_000), CONFIG)

    only(agg, flowed_out=1, sum_wait_flowed_out_ms=300_000)
    assert agg.offered == 1


# --- handling ----------------------------------------------------------------


def test_handling_segment_splits_talk_hold_and_acw() -> None:
    # Answered T0, 240 s talk + 60 s on hold in 2 holds: ended at T0 + 300 s; wrap-up 30 s later.
    agg = empty()
    agg.add_handling(
        handling(240_000, 60_000, 30_000, hold_count=2, transferred=True, resolved=True, disposition="sale"),
        CONFIG,
    )

    only(
        agg,
        handled=1,
        sum_talk_ms=240_000,
        sum_hold_ms=60_000,
        sum_acw_ms=30_000,
        held_segments=1,
        transferred=1,
        resolved_true=1,
        resolved_known=1,
    )
    assert agg.sum_handle_ms == 330_000


def test_acw_timeout_counts_the_timeout_as_acw() -> None:
    # No wrap-up: completed at ended + acw_timeout_s (600 s), acw = 600 s, one timeout.
    agg = empty()
    agg.add_handling(handling(120_000, acw_ms=CONFIG.acw_timeout_ms, acw_timed_out=True), CONFIG)

    only(agg, handled=1, sum_talk_ms=120_000, sum_acw_ms=600_000, acw_timeouts=1)


def test_resolved_false_is_known_but_not_true_and_none_is_unknown() -> None:
    agg = empty()
    agg.add_handling(handling(1_000, resolved=False), CONFIG)
    agg.add_handling(handling(1_000, resolved=None), CONFIG)

    assert (agg.resolved_true, agg.resolved_known) == (0, 1)


@pytest.mark.parametrize(
    ("disposition", "complaints", "escalations"),
    [("complaint", 1, 0), ("escalated", 0, 1), ("escalation", 0, 1), ("sale", 0, 0), (None, 0, 0)],
)
def test_dispositions_from_the_queue_config_mark_complaints_and_escalations(
    disposition: str | None, complaints: int, escalations: int
) -> None:
    agg = empty()
    agg.add_handling(handling(1_000, disposition=disposition), CONFIG)

    assert (agg.complaints, agg.escalations) == (complaints, escalations)


def test_disposition_sets_are_per_queue() -> None:
    config = QueueConfig(complaint_dispositions=frozenset({"grievance"}), escalation_dispositions=frozenset())
    agg = QueueAggregate.empty(config)
    agg.add_handling(handling(1_000, disposition="grievance"), config)
    agg.add_handling(handling(1_000, disposition="complaint"), config)
    agg.add_handling(handling(1_000, disposition="escalated"), config)

    assert (agg.complaints, agg.escalations) == (1, 0)


def test_a_hold_of_zero_milliseconds_still_marks_the_segment_as_held() -> None:
    agg = empty()
    agg.add_handling(handling(1_000, 0, hold_count=1), CONFIG)

    assert agg.held_segments == 1


def test_fcr_results_count_eligible_contacts_and_repeats() -> None:
    agg = empty()
    agg.add_fcr_result(repeat=False)
    agg.add_fcr_result(repeat=True)

    only(agg, fcr_eligible=2, repeats=1)


# --- agent time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "field_name"),
    [
        (AgentState.BUSY, "agent_busy_ms"),
        (AgentState.ACW, "agent_acw_ms"),
        (AgentState.AVAILABLE, "agent_available_ms"),
        (AgentState.AWAY, "agent_away_ms"),
    ],
)
def test_agent_time_goes_to_its_state(state: AgentState, field_name: str) -> None:
    agg = empty()
    agg.add_agent_state(agent_span(state, T0_MS, T0_MS + 10 * MINUTE_MS), 4 * MINUTE_MS)

    only(agg, **{field_name: 4 * MINUTE_MS})


def test_logged_out_time_is_not_staffed_time() -> None:
    agg = empty()
    agg.add_agent_state(agent_span(AgentState.LOGGED_OUT, T0_MS, T0_MS + MINUTE_MS), MINUTE_MS)

    assert agg.is_empty()


def test_staffed_time_is_available_busy_and_acw_not_away() -> None:
    agg = empty()
    for state, minutes in ((AgentState.AVAILABLE, 5), (AgentState.BUSY, 7), (AgentState.ACW, 2), (AgentState.AWAY, 9)):
        agg.add_agent_state(agent_span(state, T0_MS, T0_MS + minutes * MINUTE_MS), minutes * MINUTE_MS)

    assert agg.agent_staffed_ms == 14 * MINUTE_MS


@pytest.mark.parametrize("overlap_ms", [-1, MINUTE_MS + 1])
def test_an_overlap_longer_than_the_span_is_a_bug(overlap_ms: int) -> None:
    with pytest.raises(ValueError, match="outside the span"):
        empty().add_agent_state(agent_span(AgentState.BUSY, T0_MS, T0_MS + MINUTE_MS), overlap_ms)


# --- tickets and surveys -------------------------------------------------------


def test_ticket_steps_each_move_their_counter() -> None:
    agg = empty()
    agg.add_ticket(ticket(TicketStep.CREATED))
    agg.add_ticket(ticket(TicketStep.FIRST_RESPONSE, duration_ms=900_000))
    agg.add_ticket(ticket(TicketStep.FIRST_RESPONSE))  # no duration: not in the mean
    agg.add_ticket(ticket(TicketStep.SOLVED, duration_ms=7_200_000, public_replies=1))  # one touch
    agg.add_ticket(ticket(TicketStep.SOLVED, duration_ms=3_600_000, public_replies=2))
    agg.add_ticket(ticket(TicketStep.SOLVED, public_replies=0))  # no duration; one touch
    agg.add_ticket(ticket(TicketStep.SOLVED))  # reply count unknown: not one touch
    agg.add_ticket(ticket(TicketStep.REOPENED))
    agg.add_ticket(ticket(TicketStep.ESCALATED))
    agg.add_ticket(ticket(TicketStep.CLOSED))

    only(
        agg,
        tickets_created=1,
        first_response_count=1,
        sum_first_response_ms=900_000,
        tickets_solved=4,
        resolution_count=2,
        sum_resolution_ms=10_800_000,
        tickets_one_touch=2,
        tickets_reopened=1,
        tickets_escalated=1,
        tickets_closed=1,
    )


def test_surveys_count_by_kind_with_sums_in_milli_points() -> None:
    agg = empty()
    for kind, score in (
        (SurveyKind.CSAT, 4),  # satisfied (>= 4)
        (SurveyKind.CSAT, 3.9),  # not satisfied
        (SurveyKind.NPS, 9),  # promoter
        (SurveyKind.NPS, 8),  # passive
        (SurveyKind.NPS, 6),  # detractor
        (SurveyKind.CES, 2.5),
        (SurveyKind.CES, 7),
        (SurveyKind.ESAT, 4),
    ):
        agg.add_survey(survey(kind, score))

    only(
        agg,
        csat_count=2,
        csat_satisfied=1,
        nps_count=3,
        nps_promoters=1,
        nps_detractors=1,
        ces_count=2,
        ces_sum_milli=9_500,
        esat_count=1,
        esat_sum_milli=4_000,
    )


# --- dispatch, signs and retraction ----------------------------------------------


ONE_OF_EACH: tuple[QueueArrivalFact | QueueOutcomeFact | HandlingFact | TicketFact | SurveyFact, ...] = (
    QueueArrivalFact("c-1", "sales", Channel.VOICE, T0_MS),
    outcome(QueueOutcome.ANSWERED, 12_000),
    outcome(QueueOutcome.ABANDONED, 40_000),
    outcome(QueueOutcome.ABANDONED, 2_000),
    outcome(QueueOutcome.FLOWED_OUT, 90_000),
    handling(200_000, 20_000, 600_000, acw_timed_out=True, transferred=True, resolved=True, disposition="complaint"),
    ticket(TicketStep.SOLVED, 3_600_000, 1),
    ticket(TicketStep.FIRST_RESPONSE, 60_000),
    survey(SurveyKind.NPS, 10),
    survey(SurveyKind.CES, 3.25),
)


@pytest.mark.parametrize("fact", ONE_OF_EACH, ids=lambda fact: type(fact).__name__)
def test_add_then_retract_returns_to_the_empty_aggregate(
    fact: QueueArrivalFact | QueueOutcomeFact | HandlingFact | TicketFact | SurveyFact,
) -> None:
    agg = empty()
    agg.add_fact(fact, CONFIG)
    assert not agg.is_empty()

    agg.add_fact(fact, CONFIG, sign=-1)
    assert agg.is_empty()


def test_agent_time_add_then_retract_returns_to_the_empty_aggregate() -> None:
    agg = empty()
    span = agent_span(AgentState.BUSY, T0_MS, T0_MS + MINUTE_MS)
    agg.add_agent_state(span, MINUTE_MS)
    agg.add_agent_state(span, MINUTE_MS, sign=-1)

    assert agg.is_empty()


def test_retracting_the_longest_wait_leaves_the_maximum_as_an_upper_bound() -> None:
    # Maxima cannot be undone in general: 45 s stays after retracting it while a 10 s wait remains,
    # and returns to 0 once no answered stint is left.
    agg = empty()
    agg.add_outcome(outcome(QueueOutcome.ANSWERED, 10_000), CONFIG)
    agg.add_outcome(outcome(QueueOutcome.ANSWERED, 45_000), CONFIG)
    agg.add_outcome(outcome(QueueOutcome.ANSWERED, 45_000), CONFIG, sign=-1)
    assert (agg.answered, agg.sum_wait_answered_ms, agg.max_wait_answered_ms) == (1, 10_000, 45_000)

    agg.add_outcome(outcome(QueueOutcome.ANSWERED, 10_000), CONFIG, sign=-1)
    assert agg.is_empty()


@pytest.mark.parametrize("sign", [0, 2, -2])
def test_sign_must_be_plus_or_minus_one(sign: int) -> None:
    with pytest.raises(ValueError, match="sign must be"):
        empty().add_outcome(outcome(QueueOutcome.ANSWERED, 1_000), CONFIG, sign=sign)


def test_add_fact_sends_agent_time_to_add_agent_state() -> None:
    with pytest.raises(TypeError, match="add_agent_state"):
        empty().add_fact(agent_span(AgentState.BUSY, T0_MS, T0_MS + 1), CONFIG)  # type: ignore[arg-type]


# --- merging -------------------------------------------------------------------


def test_merge_adds_sums_takes_the_larger_maximum_and_leaves_inputs_alone() -> None:
    a, b = empty(), empty()
    a.add_outcome(outcome(QueueOutcome.ANSWERED, 10_000), CONFIG)
    b.add_outcome(outcome(QueueOutcome.ANSWERED, 25_000), CONFIG)
    b.add_outcome(outcome(QueueOutcome.ABANDONED, 30_000), CONFIG)
    a_before, b_before = a.copy(), b.copy()

    merged = merge(a, b)

    assert (merged.answered, merged.abandoned) == (2, 1)
    assert merged.sum_wait_answered_ms == 35_000
    assert merged.max_wait_answered_ms == 25_000
    assert merged.answered_within == [1, 2, 2]
    assert merged.answered_wait_counts[1] == 1  # 10 s in (5, 10]
    assert merged.answered_wait_counts[4] == 1  # 25 s in (20, 30]
    assert (a, b) == (a_before, b_before)


def test_copy_is_deep() -> None:
    agg = empty()
    twin = agg.copy()
    twin.add_outcome(outcome(QueueOutcome.ANSWERED, 1_000), CONFIG)

    assert agg.is_empty()


def test_replace_does_not_share_lists_with_the_original() -> None:
    agg = empty()
    twin = replace(agg, answered=0)
    twin.add_outcome(outcome(QueueOutcome.ANSWERED, 1_000), CONFIG)

    assert agg.is_empty()


def test_aggregates_of_different_thresholds_or_bounds_do_not_merge() -> None:
    other_thresholds = QueueAggregate.empty(QueueConfig(sl_thresholds_s=(20, 30), wait_bounds_s=(60,)))
    only_bounds_differ = QueueAggregate.empty(QueueConfig(wait_bounds_s=(7,)))

    with pytest.raises(ValueError, match="different shapes"):
        merge(empty(), other_thresholds)
    with pytest.raises(ValueError, match="different shapes"):
        merge(empty(), only_bounds_differ)
    with pytest.raises(ValueError, match="different shapes"):
        merge_all([other_thresholds], CONFIG)


def test_merge_all_of_nothing_is_the_empty_aggregate() -> None:
    assert merge_all([], CONFIG) == empty()


def test_cumulative_counts_are_prometheus_le_counts() -> None:
    assert cumulative_counts([2, 0, 3, 1]) == [2, 2, 5, 6]
    assert cumulative_counts([]) == []


# --- splitting agent spans at bucket edges ---------------------------------------


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "bucket_ms", "origin_ms", "expected"),
    [
        (0, 0, 10, 0, []),  # empty span
        (3, 7, 10, 0, [(0, 4)]),  # inside one bucket
        (0, 10, 10, 0, [(0, 10)]),  # exactly one bucket: the end edge belongs to the next bucket
        (10, 10, 10, 0, []),
        (7, 23, 10, 0, [(0, 3), (10, 10), (20, 3)]),  # crosses two edges
        (10, 20, 10, 0, [(10, 10)]),
        (-5, 5, 10, 0, [(-10, 5), (0, 5)]),  # floor before the epoch
        (7, 23, 10, 4, [(4, 7), (14, 9)]),  # buckets aligned on 4: [4, 14), [14, 24)
        # A 15-min span 10:50-11:05 UTC on 2024-03-01 against 15-min intervals: 10 min in 10:45, 5 min in 11:00.
        (
            T0_MS - 70 * MINUTE_MS,
            T0_MS - 55 * MINUTE_MS,
            INTERVAL_MS,
            0,
            [(T0_MS - 75 * MINUTE_MS, 10 * MINUTE_MS), (T0_MS - 60 * MINUTE_MS, 5 * MINUTE_MS)],
        ),
    ],
)
def test_split_span_ms(
    start_ms: int, end_ms: int, bucket_ms: int, origin_ms: int, expected: list[tuple[int, int]]
) -> None:
    assert split_span_ms(start_ms, end_ms, bucket_ms, origin_ms) == expected


def test_split_span_ms_rejects_a_backwards_span_and_an_empty_bucket() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        split_span_ms(10, 9, 10)
    with pytest.raises(ValueError, match="bucket_ms must be positive"):
        split_span_ms(0, 10, 0)


@property_settings
@given(
    start_ms=st.integers(-(10**13), 10**13),
    bucket_ms=st.integers(1, 10**7),
    length_in_buckets=st.floats(0, 40),
    origin_ms=st.integers(-(10**9), 10**9),
)
def test_split_pieces_tile_the_span_on_bucket_edges(
    start_ms: int, bucket_ms: int, length_in_buckets: float, origin_ms: int
) -> None:
    length_ms = int(length_in_buckets * bucket_ms)
    pieces = split_span_ms(start_ms, start_ms + length_ms, bucket_ms, origin_ms)

    assert sum(overlap for _, overlap in pieces) == length_ms
    assert all(0 < overlap <= bucket_ms for _, overlap in pieces)
    assert all((bucket_start - origin_ms) % bucket_ms == 0 for bucket_start, _ in pieces)
    if pieces:  # consecutive buckets, the first one holding the start
        first = pieces[0][0]
        assert [b for b, _ in pieces] == [first + i * bucket_ms for i in range(len(pieces))]
        assert first <= start_ms < first + bucket_ms


# --- properties --------------------------------------------------------------------


@dataclass(frozen=True)
class FcrResult:
    """Test-only stand-in for the engine's 'repeat status is final' signal."""

    repeat: bool


Item = QueueArrivalFact | QueueOutcomeFact | HandlingFact | TicketFact | SurveyFact | AgentStateFact | FcrResult

times_ms = st.integers(T0_MS - 12 * 3_600_000, T0_MS + 12 * 3_600_000)
waits_ms = st.one_of(
    st.sampled_from([0, 4_999, 5_000, 5_001, 20_000, 20_001, 30_000, 60_000, 1_200_000, 1_200_001]),
    st.integers(0, 2_000_000),
)


@st.composite
def handling_facts(draw: st.DrawFn) -> HandlingFact:
    hold_count = draw(st.integers(0, 3))
    timed_out = draw(st.booleans())
    return handling(
        talk_ms=draw(st.integers(0, 3_600_000)),
        hold_ms=0 if hold_count == 0 else draw(st.integers(0, 900_000)),
        acw_ms=CONFIG.acw_timeout_ms if timed_out else draw(st.integers(0, CONFIG.acw_timeout_ms - 1)),
        hold_count=hold_count,
        answered_ts_ms=draw(times_ms),
        acw_timed_out=timed_out,
        transferred=draw(st.booleans()),
        resolved=draw(st.sampled_from([None, True, False])),
        disposition=draw(st.sampled_from([None, "complaint", "escalated", "sale"])),
    )


@st.composite
def survey_facts(draw: st.DrawFn) -> SurveyFact:
    kind = draw(st.sampled_from(SurveyKind))
    top = {SurveyKind.CSAT: 5, SurveyKind.NPS: 10, SurveyKind.CES: 7, SurveyKind.ESAT: 5}[kind]
    quarters = draw(st.integers(0 if kind is SurveyKind.NPS else 4, 4 * top))
    return SurveyFact(draw(st.text("s0123", max_size=3)), kind, quarters / 4, draw(times_ms), "sales", None, None)


@st.composite
def agent_spans(draw: st.DrawFn) -> AgentStateFact:
    start = draw(times_ms)
    return agent_span(draw(st.sampled_from(AgentState)), start, start + draw(st.integers(0, 4 * 3_600_000)))


items: st.SearchStrategy[Item] = st.one_of(
    st.builds(QueueArrivalFact, st.just("c-1"), st.just("sales"), st.just(Channel.VOICE), times_ms),
    st.builds(outcome, st.sampled_from(QueueOutcome), waits_ms, times_ms),
    handling_facts(),
    st.builds(
        TicketFact,
        st.just("t-1"),
        st.just("sales"),
        st.just(Channel.EMAIL),
        st.sampled_from(TicketStep),
        times_ms,
        st.none() | st.integers(0, 10**9),
        st.none() | st.integers(0, 4),
    ),
    survey_facts(),
    agent_spans(),
    st.builds(FcrResult, st.booleans()),
)
item_lists = st.lists(items, max_size=20)


def fold(
    items_: Iterable[Item], agg: QueueAggregate | None = None, sign: int = 1, longest: LongestWaits | None = None
) -> QueueAggregate:
    """Apply each item in full (agent spans with their whole duration); ``longest`` keeps the maxima exact."""
    agg = empty() if agg is None else agg
    for item in items_:
        if isinstance(item, AgentStateFact):
            agg.add_agent_state(item, item.duration_ms, sign=sign)
        elif isinstance(item, FcrResult):
            agg.add_fcr_result(repeat=item.repeat, sign=sign)
        else:
            agg.add_fact(item, CONFIG, sign=sign)
            if longest is not None and isinstance(item, QueueOutcomeFact):
                longest.fold(item, CONFIG, agg, sign)
    return agg


def counted_at_ms(item: Item) -> int:
    """When an item counts (SPEC section 3); agent spans are split instead."""
    if isinstance(item, QueueArrivalFact):
        return item.queued_ts_ms
    if isinstance(item, QueueOutcomeFact):
        return item.outcome_ts_ms
    if isinstance(item, HandlingFact):
        return item.completed_ts_ms
    if isinstance(item, TicketFact | SurveyFact):
        return item.ts_ms
    return T0_MS  # FcrResult: the engine decides; any one bucket will do here


@settings(max_examples=100, deadline=None)
@given(item_lists, item_lists, item_lists)
def test_merge_is_associative_and_commutative_with_the_empty_identity(
    xs: list[Item], ys: list[Item], zs: list[Item]
) -> None:
    a, b, c = fold(xs), fold(ys), fold(zs)
    before = (a.copy(), b.copy(), c.copy())

    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, b) == merge(b, a)
    assert merge(a, empty()) == a == merge(empty(), a)
    assert (a, b, c) == before


@property_settings
@given(st.data(), item_lists)
def test_any_order_and_any_bucketing_folds_to_the_same_aggregate(data: st.DataObject, xs: list[Item]) -> None:
    shuffled = data.draw(st.permutations(xs))
    groups = data.draw(st.lists(st.integers(0, 3), min_size=len(xs), max_size=len(xs)))
    buckets = [fold(item for item, group in zip(shuffled, groups, strict=True) if group == g) for g in range(4)]
    bucket_order = data.draw(st.permutations(buckets))

    assert merge_all(bucket_order, CONFIG) == fold(xs)


@property_settings
@given(st.data(), item_lists)
def test_add_then_retract_everything_is_the_identity(data: st.DataObject, xs: list[Item]) -> None:
    agg = fold(xs)
    fold(data.draw(st.permutations(xs)), agg, sign=-1)

    assert agg.is_empty()


def without_maxima(agg: QueueAggregate) -> QueueAggregate:
    return replace(agg, max_wait_answered_ms=0, max_wait_abandoned_ms=0)


@property_settings
@given(st.data(), item_lists, item_lists)
def test_retracting_some_facts_leaves_exactly_the_others(
    data: st.DataObject, kept: list[Item], wrong: list[Item]
) -> None:
    # Interleave: the wrong facts are published, mixed with the kept ones, then retracted in any order.
    agg = fold(data.draw(st.permutations(kept + wrong)))
    fold(data.draw(st.permutations(wrong)), agg, sign=-1)
    expected = fold(kept)

    assert without_maxima(agg) == without_maxima(expected)
    # Maxima are upper bounds after a retraction, and exact when nothing of that outcome is left.
    assert agg.max_wait_answered_ms >= expected.max_wait_answered_ms
    assert agg.max_wait_abandoned_ms >= expected.max_wait_abandoned_ms
    if expected.answered == 0:
        assert agg.max_wait_answered_ms == 0


@property_settings
@given(st.data(), item_lists, item_lists)
def test_with_its_longest_waits_a_retraction_leaves_exactly_the_others_maxima_included(
    data: st.DataObject, kept: list[Item], wrong: list[Item]
) -> None:
    longest = LongestWaits()
    agg = fold(data.draw(st.permutations(kept + wrong)), longest=longest)
    fold(data.draw(st.permutations(wrong)), agg, sign=-1, longest=longest)

    assert agg == fold(kept)


def test_longest_waits_fall_back_to_the_next_longest_when_the_longest_is_retracted() -> None:
    # Answered 10 s, 45 s, 45 s and 30 s; retract one 45 s: still 45 s; the other: 30 s; then 30 s: 10 s.
    agg, longest = empty(), LongestWaits()
    waits_ms = (10_000, 45_000, 45_000, 30_000)
    fold([outcome(QueueOutcome.ANSWERED, w) for w in waits_ms], agg, longest=longest)
    assert agg.max_wait_answered_ms == 45_000
    for retracted_ms, longest_left_ms in ((45_000, 45_000), (45_000, 30_000), (30_000, 10_000), (10_000, 0)):
        fold([outcome(QueueOutcome.ANSWERED, retracted_ms)], agg, sign=-1, longest=longest)
        assert agg.max_wait_answered_ms == longest_left_ms
    assert agg.is_empty()
    assert len(longest) == 0


def test_longest_waits_leave_short_abandons_and_flow_outs_out_of_the_abandoned_maximum() -> None:
    # Short abandon threshold 5 s (inclusive): a 5 s abandon and a 300 s flow-out never set the maximum.
    agg, longest = empty(), LongestWaits()
    facts = [
        outcome(QueueOutcome.ABANDONED, 18_000),
        outcome(QueueOutcome.ABANDONED, 40_000),
        outcome(QueueOutcome.ABANDONED, 5_000),
        outcome(QueueOutcome.FLOWED_OUT, 300_000),
    ]
    fold(facts, agg, longest=longest)
    assert (agg.max_wait_abandoned_ms, len(longest)) == (40_000, 2)
    fold([facts[1], facts[2], facts[3]], agg, sign=-1, longest=longest)
    assert (agg.max_wait_abandoned_ms, agg.abandoned, agg.short_abandoned, agg.flowed_out) == (18_000, 1, 0, 0)


@property_settings
@given(item_lists)
def test_interval_buckets_add_up_to_the_day(xs: list[Item]) -> None:
    # Each fact counts in the 15-min interval of its counting time; agent spans are split across intervals.
    buckets: dict[int, QueueAggregate] = {}

    def bucket(start_ms: int) -> QueueAggregate:
        return buckets.setdefault(start_ms, empty())

    for item in xs:
        if isinstance(item, AgentStateFact):
            for start_ms, overlap_ms in split_span_ms(item.start_ts_ms, item.end_ts_ms, INTERVAL_MS):
                bucket(start_ms).add_agent_state(item, overlap_ms)
        else:
            at_ms = counted_at_ms(item)
            fold([item], bucket(at_ms - at_ms % INTERVAL_MS))

    assert merge_all(buckets.values(), CONFIG) == fold(xs)


def test_one_of_each_kind_of_fact_reaches_every_field() -> None:
    # A guard for new fields: each one must be moved by some fact (and so by the strategies above).
    agg = fold(
        [
            *ONE_OF_EACH,
            handling(1_000, 500, 600_000, acw_timed_out=True, transferred=True, resolved=True, disposition="complaint"),
            handling(1_000, disposition="escalated"),
            *(ticket(step, 1_000, 0) for step in TicketStep),
            *(survey(kind, 5) for kind in SurveyKind),
            survey(SurveyKind.NPS, 0),
            *(agent_span(state, T0_MS, T0_MS + 1_000) for state in AgentState),
            FcrResult(repeat=True),
        ]
    )
    untouched = [f.name for f in fields(QueueAggregate) if _is_zero(getattr(agg, f.name))]

    assert untouched == []


def _is_zero(value: object) -> bool:
    return value == 0 or (isinstance(value, list) and not any(value))
