"""Erlang C and Erlang A staffing (SPEC section 3, "Erlang").

Published vectors first (the SPEC's 100 calls per 30 min, Miller's 2015 table
for the Anonymous Bank data), then hand-worked cases, then Erlang A against an
independent numerical reference: the birth-death chain of M/M/N+M truncated at
a long queue, solved with plain floats, and a tagged caller's own Markov chain
for its wait. Properties last. Rates are per second, times in seconds.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.domain.erlang import (
    ErlangAPerformance,
    StaffingAdvice,
    erlang_a_performance,
    erlang_a_required_agents,
    erlang_a_service_level,
    erlang_c_asa_s,
    erlang_c_required_agents,
    erlang_c_required_agents_for_wait_probability,
    erlang_c_service_level,
    erlang_c_wait_probability,
    patience_s_estimate,
    staffing_advice,
)

# The SPEC's worked queue: 100 calls per 30 min (1800 s), AHT 180 s, so
# 100 / 1800 * 180 = 10 erlangs; the queue's target is 80 % answered in 20 s.
SPEC_ARRIVAL_RATE_PER_S = 100 / 1800
SPEC_AHT_S = 180.0
SPEC_THRESHOLD_S = 20.0
SPEC_TARGET_SL = 0.8

property_settings = settings(max_examples=60, deadline=None)


def erlang_b_by_sums(agents: int, offered_load_erlangs: float) -> float:
    """Erlang B straight from its definition (Aᴺ/N!) / Σ_{k≤N} Aᵏ/k!, for small N."""
    terms = [offered_load_erlangs**k / math.factorial(k) for k in range(agents + 1)]
    return terms[-1] / math.fsum(terms)


# --- Erlang C: published vectors -----------------------------------------------


def test_spec_vector_fourteen_agents() -> None:
    # 10 erlangs on 14 agents: P(wait) 0.1741, SL20 0.8884, ASA 7.84 s.
    load = SPEC_ARRIVAL_RATE_PER_S * SPEC_AHT_S
    assert round(erlang_c_wait_probability(14, load), 4) == 0.1741
    assert round(erlang_c_service_level(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S), 4) == 0.8884
    assert round(erlang_c_asa_s(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S), 2) == 7.84


def test_spec_vector_thirteen_agents_misses_the_target_so_fourteen_are_required() -> None:
    assert round(erlang_c_service_level(13, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S), 4) == 0.7956
    assert erlang_c_required_agents(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL) == 14


# Miller (2015, ch. 6), data/README.md: calls per hour (h = 0..23), averaged over
# the four Wednesdays of February 1999; 15 calls per hour per agent (AHT 240 s);
# each hour staffed with the smallest N whose P(wait) is at most 0.5. His loop
# skips hours without calls (0 agents) and counts up from one agent otherwise,
# so loads far below one erlang still get one agent (P(wait) = load ≤ 0.45).
MILLER_CALLS_PER_HOUR = (
    6.75, 1.75, 1.25, 0, 0.5, 0.25, 4.75, 39.5, 97.25, 107.5, 124, 110.25,
    95.5, 203.5, 115.75, 115.5, 67.75, 75, 88.75, 85.5, 68, 61.5, 57.5, 44.25,
)  # fmt: skip
MILLER_AGENTS_NEEDED = (1, 1, 1, 0, 1, 1, 1, 4, 8, 9, 10, 9, 8, 16, 10, 10, 6, 7, 8, 8, 6, 6, 5, 4)
MILLER_AHT_S = 3600 / 15


def test_miller_2015_hourly_agents_needed_for_wait_probability_at_most_one_half() -> None:
    needed = tuple(
        erlang_c_required_agents_for_wait_probability(calls / 3600, MILLER_AHT_S, 0.5)
        for calls in MILLER_CALLS_PER_HOUR
    )
    assert needed == MILLER_AGENTS_NEEDED


def test_miller_hours_below_one_erlang_get_one_agent_and_the_empty_hour_none() -> None:
    # 00:00: 6.75 calls/h → 0.45 erlangs; one agent is an M/M/1 queue, P(wait) = 0.45 ≤ 0.5.
    assert erlang_c_wait_probability(1, 6.75 / 15) == pytest.approx(0.45)
    assert erlang_c_required_agents_for_wait_probability(6.75 / 3600, MILLER_AHT_S, 0.5) == 1
    # 03:00: no calls at all, no agents.
    assert erlang_c_required_agents_for_wait_probability(0.0, MILLER_AHT_S, 0.5) == 0
    # 13:00: 203.5 calls/h → 13.57 erlangs; 15 agents leave P(wait) above one half.
    assert erlang_c_wait_probability(15, 203.5 / 15) > 0.5 >= erlang_c_wait_probability(16, 203.5 / 15)


# --- Erlang C: hand-worked cases and edges --------------------------------------


@pytest.mark.parametrize("load", [0.1, 0.45, 0.9])
def test_one_agent_is_mm1_whose_wait_probability_is_the_load(load: float) -> None:
    assert erlang_c_wait_probability(1, load) == pytest.approx(load, rel=1e-12)


def test_two_agents_one_erlang_by_hand() -> None:
    # Σ_{k<2} 1ᵏ/k! = 2; 1²/2! * 2/(2-1) = 1; C = 1 / (2 + 1) = 1/3.
    assert erlang_c_wait_probability(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)
    # ASA = C * AHT / (N - A) = 1/3 * 60 / 1 = 20 s; SL(T) = 1 - 1/3 * e^(-T/60).
    assert erlang_c_asa_s(2, 1 / 60, 60.0) == pytest.approx(20.0, rel=1e-12)
    assert erlang_c_service_level(2, 1 / 60, 60.0, 60.0) == pytest.approx(1 - math.exp(-1) / 3, rel=1e-12)


@pytest.mark.parametrize(("agents", "load"), [(0, 0.0), (0, 3.0), (3, 3.0), (3, 7.5)])
def test_unstable_queue_waits_for_ever(agents: int, load: float) -> None:
    assert erlang_c_wait_probability(agents, load) == 1.0
    assert erlang_c_service_level(agents, load / 100, 100.0, 20.0) == 0.0
    assert erlang_c_asa_s(agents, load / 100, 100.0) == math.inf


def test_no_traffic_nobody_waits_and_nobody_is_required() -> None:
    assert erlang_c_wait_probability(1, 0.0) == 0.0
    assert erlang_c_service_level(3, 0.0, 180.0, 20.0) == 1.0
    assert erlang_c_asa_s(3, 0.0, 180.0) == 0.0
    assert erlang_c_required_agents(0.0, 180.0, 20.0, 0.8) == 0
    assert erlang_a_required_agents(0.0, 180.0, 20.0, 0.8, 60.0) == 0


def test_zero_threshold_service_level_is_the_share_answered_at_once() -> None:
    load = SPEC_ARRIVAL_RATE_PER_S * SPEC_AHT_S
    assert erlang_c_service_level(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, 0.0) == pytest.approx(
        1 - erlang_c_wait_probability(14, load), abs=1e-15
    )


def log_erlang_c_reference(agents: int, load: float) -> float:
    """Erlang C from its definition in logarithms (no overflow), for large N."""
    log_terms = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents)]
    log_waiting = agents * math.log(load) - math.lgamma(agents + 1) + math.log(agents / (agents - load))
    largest = max([*log_terms, log_waiting])
    below = math.fsum(math.exp(t - largest) for t in log_terms)
    waiting = math.exp(log_waiting - largest)
    return waiting / (below + waiting)


@pytest.mark.parametrize(("agents", "load"), [(520, 500.0), (2000, 1900.0), (2000, 1990.0), (180, 170.0)])
def test_large_loads_and_agent_counts_do_not_overflow(agents: int, load: float) -> None:
    wait_probability = erlang_c_wait_probability(agents, load)
    assert 0 < wait_probability < 1
    assert wait_probability == pytest.approx(log_erlang_c_reference(agents, load), rel=1e-9)


def test_far_more_agents_than_load_gives_no_wait_not_an_error() -> None:
    assert erlang_c_wait_probability(2000, 10.0) == 0.0
    assert erlang_c_service_level(2000, 10 / 180, 180.0, 20.0) == 1.0


def test_required_agents_for_five_hundred_erlangs_is_fast_and_finite() -> None:
    arrival_rate_per_s, aht_s = 500 / 180, 180.0
    started = time.perf_counter()
    by_c = erlang_c_required_agents(arrival_rate_per_s, aht_s, 20.0, 0.8)
    by_a = erlang_a_required_agents(arrival_rate_per_s, aht_s, 20.0, 0.8, 120.0)
    performance = erlang_a_performance(by_a, arrival_rate_per_s, aht_s, 20.0, 120.0)
    assert time.perf_counter() - started < 1.0
    assert 500 < by_c < 600
    assert 400 < by_a <= by_c
    assert all(math.isfinite(v) for v in dataclasses.astuple(performance))


# --- Erlang A: hand-worked and limits -----------------------------------------


def test_erlang_a_one_agent_with_equal_rates_by_hand() -> None:
    # λ = μ = θ = 1/60 s: x = Nμ/θ = 1, y = λ/θ = 1, Erlang B(1, 1) = 1/2.
    # A(1, 1) = Σ 1/(m+1)! = e - 1, so P(wait) = A / (1/B - 1 + A) = (e - 1)/e.
    # A(2, 1) = Σ 2/(m+2)! = 2(e - 2), P(answered | wait) = ½·A(2,1)/A(1,1) = (e - 2)/(e - 1),
    # hence P(abandon) = (e - 1)/e * 1/(e - 1) = 1/e.
    performance = erlang_a_performance(1, 1 / 60, 60.0, 0.0, 60.0)
    assert performance.wait_probability == pytest.approx(1 - 1 / math.e, rel=1e-12)
    assert performance.abandon_probability == pytest.approx(1 / math.e, rel=1e-12)
    assert performance.service_level == pytest.approx(1 / math.e, rel=1e-12)  # T = 0: answered at once


@pytest.mark.parametrize("agents", [0, 5, 10, 11, 13, 14, 20])
@pytest.mark.parametrize("patience_s", [None, math.inf])
def test_erlang_a_with_infinite_patience_is_erlang_c(agents: int, patience_s: float | None) -> None:
    load = SPEC_ARRIVAL_RATE_PER_S * SPEC_AHT_S
    performance = erlang_a_performance(agents, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, patience_s)
    assert performance == ErlangAPerformance(
        wait_probability=erlang_c_wait_probability(agents, load),
        abandon_probability=0.0,
        service_level=erlang_c_service_level(agents, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S),
        asa_s=erlang_c_asa_s(agents, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S),
    )
    assert erlang_a_required_agents(
        SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, patience_s
    ) == erlang_c_required_agents(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL)


def test_erlang_a_with_very_long_patience_approaches_erlang_c() -> None:
    # A patience of 10⁷ s: abandons are ~ mean wait / patience ≈ 1e-6 of calls.
    load = SPEC_ARRIVAL_RATE_PER_S * SPEC_AHT_S
    performance = erlang_a_performance(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, 1e7)
    assert performance.wait_probability == pytest.approx(erlang_c_wait_probability(14, load), abs=1e-5)
    assert performance.service_level == pytest.approx(
        erlang_c_service_level(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S), abs=1e-5
    )
    assert performance.asa_s == pytest.approx(erlang_c_asa_s(14, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S), rel=1e-4)
    assert 0 < performance.abandon_probability < 1e-5


def test_abandonment_rises_as_patience_falls() -> None:
    patiences_s = [3600.0, 600.0, 120.0, 30.0, 5.0, 1.0]
    abandon = [
        erlang_a_performance(12, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, p).abandon_probability
        for p in patiences_s
    ]
    assert abandon == sorted(abandon)
    assert len(set(abandon)) == len(abandon)


@pytest.mark.parametrize("agents", [8, 12, 14])
def test_very_short_patience_tends_to_erlang_b_loss(agents: int) -> None:
    # Callers who find every agent busy leave (almost) at once: the loss system M/M/N/N.
    load = SPEC_ARRIVAL_RATE_PER_S * SPEC_AHT_S
    loss = erlang_b_by_sums(agents, load)
    nearly = erlang_a_performance(agents, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, 1e-6)
    assert nearly.wait_probability == pytest.approx(loss, abs=1e-6)
    assert nearly.abandon_probability == pytest.approx(loss, abs=1e-6)
    assert nearly.service_level == pytest.approx(1 - loss, abs=1e-6)
    at_once = erlang_a_performance(agents, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, 0.0)
    assert at_once.wait_probability == pytest.approx(loss, rel=1e-12)
    assert at_once.abandon_probability == at_once.wait_probability
    assert at_once.asa_s == 0.0


def test_erlang_a_without_agents_loses_everyone() -> None:
    assert erlang_a_performance(0, 0.1, 180.0, 20.0, 60.0) == ErlangAPerformance(1.0, 1.0, 0.0, math.inf)


def test_erlang_a_without_traffic_nobody_waits() -> None:
    assert erlang_a_performance(3, 0.0, 180.0, 20.0, 60.0) == ErlangAPerformance(0.0, 0.0, 1.0, 0.0)


def test_spec_queue_needs_fewer_agents_when_callers_abandon() -> None:
    # With a 2-minute mean patience, 12 agents reach 80 % in 20 s (answered within 20 s / offered).
    by_a = erlang_a_required_agents(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, 120.0)
    assert by_a == 12
    assert by_a < erlang_c_required_agents(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL)


# --- Erlang A against an independent birth-death reference -------------------


@dataclass(frozen=True)
class ChainReference:
    wait_probability: float
    abandon_probability: float
    answered_probability: float
    service_level: float
    asa_s: float


def birth_death_reference(
    agents: int, arrival_rate_per_s: float, aht_s: float, threshold_s: float, patience_s: float, queue_cap: int
) -> ChainReference:
    """M/M/N+M by brute force: the chain truncated at ``queue_cap`` queued callers.

    Stationary law from detailed balance (pⱼ₊₁ = pⱼ·λ / deaths(j+1)). A caller
    who arrives to m others queued (PASTA) then lives in its own chain: with i
    callers ahead it moves up at rate Nμ + iθ (to an agent from i = 0) and
    abandons at rate θ. Its chance of being answered within T comes from
    uniformization, and its expected wait-if-answered from first-step analysis.
    """
    service_rate, abandon_rate = 1 / aht_s, 1 / patience_s
    weights = [1.0]
    for j in range(1, agents + queue_cap + 1):
        deaths = min(j, agents) * service_rate + max(j - agents, 0) * abandon_rate
        weights.append(weights[-1] * arrival_rate_per_s / deaths)
    total = math.fsum(weights)
    idle = math.fsum(weights[:agents]) / total  # an arrival finds a free agent
    queued = [w / total for w in weights[agents:]]  # finds all busy and m = 0, 1, ... others queued

    moves = [agents * service_rate + i * abandon_rate for i in range(queue_cap + 1)]
    # First-step analysis: answered[i] = P(answered | i ahead), wait[i] = E[wait; answered | i ahead].
    answered: list[float] = []
    answered_wait: list[float] = []
    for i, move in enumerate(moves):
        leave = move + abandon_rate
        after_answered = 1.0 if i == 0 else answered[i - 1]
        after_wait = 0.0 if i == 0 else answered_wait[i - 1]
        answered.append(move / leave * after_answered)
        answered_wait.append(move / leave * (after_answered / leave + after_wait))
    # Uniformization at rate Λ: in_time[i] = Σₖ Poisson(k; ΛT) · P(answered within k jumps | i).
    uniform_rate = moves[-1] + abandon_rate
    within_jumps = [0.0] * (queue_cap + 1)
    in_time = [0.0] * (queue_cap + 1)
    poisson = math.exp(-uniform_rate * threshold_s)
    cumulative, k = 0.0, 0
    while cumulative < 1 - 1e-15:
        in_time = [acc + poisson * p for acc, p in zip(in_time, within_jumps, strict=True)]
        cumulative += poisson
        within_jumps = [
            moves[i] / uniform_rate * (1.0 if i == 0 else within_jumps[i - 1])
            + (1 - (moves[i] + abandon_rate) / uniform_rate) * within_jumps[i]
            for i in range(queue_cap + 1)
        ]
        k += 1
        poisson *= uniform_rate * threshold_s / k

    answered_probability = idle + math.fsum(q * a for q, a in zip(queued, answered, strict=True))
    return ChainReference(
        wait_probability=math.fsum(queued),
        abandon_probability=math.fsum(q * m * abandon_rate for m, q in enumerate(queued)) / arrival_rate_per_s,
        answered_probability=answered_probability,
        service_level=idle + math.fsum(q * t for q, t in zip(queued, in_time, strict=True)),
        asa_s=math.fsum(q * w for q, w in zip(queued, answered_wait, strict=True)) / answered_probability,
    )


REFERENCE_QUEUES = [
    # agents, arrival_rate_per_s, aht_s, threshold_s, patience_s, queue_cap
    pytest.param(14, SPEC_ARRIVAL_RATE_PER_S, 180.0, 20.0, 120.0, 200, id="spec-queue"),
    pytest.param(12, SPEC_ARRIVAL_RATE_PER_S, 180.0, 20.0, 120.0, 200, id="spec-queue-12-agents"),
    pytest.param(14, SPEC_ARRIVAL_RATE_PER_S, 180.0, 20.0, 5.0, 60, id="impatient"),
    pytest.param(30, 0.15, 180.0, 30.0, 200.0, 300, id="27-erlangs-near-capacity"),
    pytest.param(6, SPEC_ARRIVAL_RATE_PER_S, 180.0, 20.0, 300.0, 200, id="overloaded"),
    pytest.param(12, 0.1, 180.0, 60.0, 300.0, 300, id="18-erlangs-on-12-agents"),
    pytest.param(5, 0.1, 180.0, 600.0, 600.0, 400, id="18-erlangs-on-5-agents"),
]


@pytest.mark.parametrize(
    ("agents", "arrival_rate_per_s", "aht_s", "threshold_s", "patience_s", "queue_cap"), REFERENCE_QUEUES
)
def test_erlang_a_matches_the_truncated_birth_death_chain(
    agents: int, arrival_rate_per_s: float, aht_s: float, threshold_s: float, patience_s: float, queue_cap: int
) -> None:
    reference = birth_death_reference(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s, queue_cap)
    # The reference's two routes to abandonment agree: Little's law and the tagged caller's chain.
    assert reference.abandon_probability == pytest.approx(1 - reference.answered_probability, abs=1e-9)

    performance = erlang_a_performance(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s)

    assert performance.wait_probability == pytest.approx(reference.wait_probability, abs=1e-6)
    assert performance.abandon_probability == pytest.approx(reference.abandon_probability, abs=1e-6)
    assert performance.service_level == pytest.approx(reference.service_level, abs=1e-6)
    assert performance.asa_s == pytest.approx(reference.asa_s, rel=1e-6)
    assert erlang_a_service_level(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s) == (
        performance.service_level
    )


# --- required agents ------------------------------------------------------------


@pytest.mark.parametrize("arrival_rate_per_s", [0.001, 0.02, SPEC_ARRIVAL_RATE_PER_S, 0.5, 2.0])
@pytest.mark.parametrize("patience_s", [None, 30.0, 300.0])
def test_required_agents_meet_the_target_and_one_fewer_does_not(
    arrival_rate_per_s: float, patience_s: float | None
) -> None:
    def service_level(agents: int) -> float:
        return erlang_a_performance(agents, arrival_rate_per_s, SPEC_AHT_S, SPEC_THRESHOLD_S, patience_s).service_level

    required = erlang_a_required_agents(arrival_rate_per_s, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, patience_s)
    assert required >= 1
    assert service_level(required) >= SPEC_TARGET_SL > service_level(required - 1)


@pytest.mark.parametrize("arrival_rate_per_s", [0.001, 0.02, SPEC_ARRIVAL_RATE_PER_S, 0.5, 2.0])
def test_erlang_c_required_agents_meet_the_target_and_one_fewer_does_not(arrival_rate_per_s: float) -> None:
    required = erlang_c_required_agents(arrival_rate_per_s, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL)
    met = erlang_c_service_level(required, arrival_rate_per_s, SPEC_AHT_S, SPEC_THRESHOLD_S)
    missed = erlang_c_service_level(required - 1, arrival_rate_per_s, SPEC_AHT_S, SPEC_THRESHOLD_S)
    assert met >= SPEC_TARGET_SL > missed


arrival_rates_per_s = st.floats(min_value=0.0, max_value=0.5, allow_nan=False)
ahts_s = st.floats(min_value=20.0, max_value=600.0)
thresholds_s = st.sampled_from([0.0, 10.0, 20.0, 30.0, 60.0])
targets = st.floats(min_value=0.05, max_value=0.99)
patiences_s = st.one_of(st.none(), st.floats(min_value=1.0, max_value=3600.0))


@property_settings
@given(
    rates=st.lists(arrival_rates_per_s, min_size=2, max_size=2).map(sorted),
    aht_s=ahts_s,
    threshold_s=thresholds_s,
    target_sl=targets,
    patience_s=patiences_s,
)
def test_required_agents_never_fall_as_the_load_rises(
    rates: list[float], aht_s: float, threshold_s: float, target_sl: float, patience_s: float | None
) -> None:
    lower, higher = rates
    assert erlang_c_required_agents(lower, aht_s, threshold_s, target_sl) <= erlang_c_required_agents(
        higher, aht_s, threshold_s, target_sl
    )
    assert erlang_a_required_agents(lower, aht_s, threshold_s, target_sl, patience_s) <= erlang_a_required_agents(
        higher, aht_s, threshold_s, target_sl, patience_s
    )


@property_settings
@given(
    arrival_rate_per_s=arrival_rates_per_s.filter(lambda rate: rate > 0),
    aht_s=ahts_s,
    threshold_s=thresholds_s,
    target_sl=targets,
    patience_s=patiences_s,
)
def test_required_agents_are_the_smallest_that_meet_the_target(
    arrival_rate_per_s: float, aht_s: float, threshold_s: float, target_sl: float, patience_s: float | None
) -> None:
    required_c = erlang_c_required_agents(arrival_rate_per_s, aht_s, threshold_s, target_sl)
    assert required_c > arrival_rate_per_s * aht_s
    assert erlang_c_service_level(required_c, arrival_rate_per_s, aht_s, threshold_s) >= target_sl
    assert erlang_c_service_level(required_c - 1, arrival_rate_per_s, aht_s, threshold_s) < target_sl

    required_a = erlang_a_required_agents(arrival_rate_per_s, aht_s, threshold_s, target_sl, patience_s)
    met = erlang_a_performance(required_a, arrival_rate_per_s, aht_s, threshold_s, patience_s)
    missed = erlang_a_performance(required_a - 1, arrival_rate_per_s, aht_s, threshold_s, patience_s)
    assert met.service_level >= target_sl > missed.service_level
    for value in (met, missed):
        assert 0 <= value.abandon_probability <= value.wait_probability <= 1
        assert 0 <= value.service_level <= 1


# --- patience and staffing advice ---------------------------------------------


def test_patience_is_total_wait_of_everyone_who_waited_over_abandons() -> None:
    # 3 abandons; waits 40 + 50 + 90 s (abandoned) and 10 * 18 s (answered) = 360 s.
    # Abandonment rate 3 / 360 per second of waiting; mean patience 120 s.
    assert patience_s_estimate(3, 360.0) == 120.0
    assert patience_s_estimate(0, 360.0) is None
    assert patience_s_estimate(2, 0.0) == 0.0


def test_staffing_advice_for_the_spec_queue() -> None:
    advice = staffing_advice(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, 11, 120.0)

    assert advice.offered_load_erlangs == pytest.approx(10.0)
    assert (advice.required_erlang_c, advice.required_erlang_a, advice.staffed_agents) == (14, 12, 11)
    assert (advice.gap_erlang_c, advice.gap_erlang_a) == (3, 1)
    assert advice.predicted_sl_erlang_c == erlang_c_service_level(
        11, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S
    )
    predicted = erlang_a_performance(11, SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, 120.0)
    assert advice.predicted_sl_erlang_a == predicted.service_level
    assert advice.predicted_abandon_ratio_erlang_a == predicted.abandon_probability
    with pytest.raises(dataclasses.FrozenInstanceError):
        advice.staffed_agents = 14  # type: ignore[misc]


def test_staffing_advice_overstaffed_gap_is_negative_and_unknown_patience_is_erlang_c() -> None:
    advice = staffing_advice(SPEC_ARRIVAL_RATE_PER_S, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, 16, None)
    assert advice.required_erlang_a == advice.required_erlang_c == 14
    assert advice.gap_erlang_c == advice.gap_erlang_a == -2
    assert advice.predicted_abandon_ratio_erlang_a == 0.0


def test_staffing_advice_without_traffic_requires_nobody_and_predicts_nothing() -> None:
    advice = staffing_advice(0.0, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, 0, None)
    assert advice == StaffingAdvice(0.0, SPEC_AHT_S, SPEC_THRESHOLD_S, SPEC_TARGET_SL, None, 0, 0, 0, None, None, None)
    assert advice.gap_erlang_c == advice.gap_erlang_a == 0


# --- input validation ---------------------------------------------------------

GOOD = {
    "arrival_rate_per_s": SPEC_ARRIVAL_RATE_PER_S,
    "aht_s": SPEC_AHT_S,
    "threshold_s": SPEC_THRESHOLD_S,
    "target_sl": SPEC_TARGET_SL,
}


@pytest.mark.parametrize(
    ("argument", "bad"),
    [
        ("arrival_rate_per_s", -0.1),
        ("arrival_rate_per_s", math.nan),
        ("arrival_rate_per_s", math.inf),
        ("aht_s", 0.0),
        ("aht_s", -180.0),
        ("threshold_s", -1.0),
        ("target_sl", 0.0),
        ("target_sl", 1.0),
        ("target_sl", 80.0),
        ("target_sl", math.nan),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(argument: str, bad: float) -> None:
    arguments = {**GOOD, argument: bad}
    with pytest.raises(ValueError, match=argument):
        erlang_c_required_agents(**arguments)
    with pytest.raises(ValueError, match=argument):
        erlang_a_required_agents(**arguments, patience_s=60.0)
    with pytest.raises(ValueError, match=argument):
        staffing_advice(**arguments, staffed_agents=10, patience_s=60.0)
    if argument != "target_sl":
        del arguments["target_sl"]
        with pytest.raises(ValueError, match=argument):
            erlang_a_performance(10, **arguments, patience_s=60.0)
        if argument != "threshold_s":
            with pytest.raises(ValueError, match=argument):
                erlang_c_asa_s(10, arguments["arrival_rate_per_s"], arguments["aht_s"])


@pytest.mark.parametrize("agents", [-1, 2.0, True])
def test_agents_must_be_a_non_negative_integer(agents: object) -> None:
    with pytest.raises(ValueError, match="agents"):
        erlang_c_wait_probability(agents, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agents"):
        erlang_a_performance(agents, 0.1, 180.0, 20.0, 60.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="staffed_agents"):
        staffing_advice(0.1, 180.0, 20.0, 0.8, agents, 60.0)  # type: ignore[arg-type]


def test_other_arguments_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="offered_load_erlangs"):
        erlang_c_wait_probability(3, -1.0)
    with pytest.raises(ValueError, match="patience_s"):
        erlang_a_performance(3, 0.1, 180.0, 20.0, -5.0)
    with pytest.raises(ValueError, match="patience_s"):
        erlang_a_required_agents(0.1, 180.0, 20.0, 0.8, math.nan)
    with pytest.raises(ValueError, match="max_wait_probability"):
        erlang_c_required_agents_for_wait_probability(0.1, 180.0, 1.5)
    with pytest.raises(ValueError, match="abandoned"):
        patience_s_estimate(-1, 10.0)
    with pytest.raises(ValueError, match="total_wait_s"):
        patience_s_estimate(1, -10.0)
