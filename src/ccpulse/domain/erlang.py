"""Erlang C and Erlang A: how many agents a queue needs (SPEC section 3, "Erlang").

Both models describe one queue served by ``agents`` identical agents, with
Poisson arrivals at ``arrival_rate_per_s`` and exponential handling times of
mean ``aht_s``. The *offered load* is ``arrival_rate_per_s * aht_s`` erlangs:
the number of agents that would be busy if nobody ever waited.

- **Erlang C** (M/M/N): every caller waits as long as it takes. The queue is
  stable only with more agents than erlangs; with ``agents <= load`` the wait
  grows without bound and the functions say so (P(wait) 1, SL 0, ASA infinite).
- **Erlang A** (M/M/N+M, Garnett, Mandelbaum & Reiman 2002): each caller also
  has an exponentially distributed patience of mean ``patience_s`` and abandons
  when the wait exceeds it. Abandons relieve the queue, so Erlang A is stable at
  any staffing and usually needs fewer agents than Erlang C. ``patience_s=None``
  (infinite patience) *is* Erlang C; ``patience_s=0`` is the limit in which
  callers who find every agent busy leave at once (Erlang B).

The service level returned by both models is the SPEC's default ``offered``
formula: contacts answered with a wait ≤ T divided by all contacts offered
(answered + abandoned). The models know no short abandons; feed them arrival
rates and patience measured the same way as the published SL.

Numerics: Erlang B by its recursion (no factorials or powers, so no overflow
for thousands of agents), Erlang A through Mandelbaum & Zeltyn's function
A(x, y) = x·eʸ·y⁻ˣ·gamma(x, y), with the lower incomplete gamma function
gamma(x, y) computed by its power series below its mean and by a continued
fraction above it, in logarithms so that overloaded queues (where A is
astronomically large) stay finite. Everything here is pure standard library
arithmetic on floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# Relative size below which a further series term or continued-fraction step
# cannot change a double any more.
_EPSILON = 1e-17
# A bound on series terms and continued-fraction steps: far more than any
# realistic queue needs (the counts grow like the square root of
# agents * patience / AHT or of arrival rate * patience, a few thousand for a
# patience of a day), but it turns absurd input into an ArithmeticError within
# a second instead of a worker that spins.
_MAX_TERMS = 1_000_000
# Below this the continued fraction's modified Lentz algorithm replaces a zero
# denominator (Numerical Recipes, section 6.2).
_TINY = 1e-300


# --- input validation ---------------------------------------------------------


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def _check_open_unit_interval(name: str, value: float) -> None:
    if not 0 < value < 1:  # also rejects NaN
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _check_patience(patience_s: float | None) -> None:
    if patience_s is not None and not patience_s >= 0:  # inf is allowed and means None
        raise ValueError(f"patience_s must be None or >= 0, got {patience_s!r}")


def _check_traffic(arrival_rate_per_s: float, aht_s: float) -> float:
    """Validate the traffic arguments; return the offered load in erlangs."""
    _check_non_negative("arrival_rate_per_s", arrival_rate_per_s)
    _check_positive("aht_s", aht_s)
    return arrival_rate_per_s * aht_s


# --- Erlang B and C -----------------------------------------------------------


def _erlang_b(agents: int, offered_load_erlangs: float) -> float:
    """Blocking probability of the loss system M/M/N/N, by the stable recursion.

    B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)): every step stays in [0, 1],
    unlike Aᴺ/N! which overflows beyond N ≈ 170. For N far above the load B
    underflows gracefully to 0.
    """
    blocking = 1.0
    for k in range(1, agents + 1):
        carried = offered_load_erlangs * blocking
        blocking = carried / (k + carried)
    return blocking


def erlang_c_wait_probability(agents: int, offered_load_erlangs: float) -> float:
    """Probability that an arriving contact has to wait (Erlang C, P(wait > 0)).

    Computed from Erlang B as C = N·B / (N - A·(1 - B)), never from factorials,
    so it is exact to rounding for loads of hundreds of erlangs and thousands of
    agents. Returns 1.0 when ``agents <= offered_load_erlangs``: the queue is
    unstable and every contact waits (this includes ``agents == 0`` with no
    traffic: a contact that did arrive would wait). Returns 0.0 with no traffic
    and at least one agent.
    """
    _check_count("agents", agents)
    _check_non_negative("offered_load_erlangs", offered_load_erlangs)
    if agents <= offered_load_erlangs:
        return 1.0
    blocking = _erlang_b(agents, offered_load_erlangs)
    return agents * blocking / (agents - offered_load_erlangs * (1.0 - blocking))


def erlang_c_service_level(agents: int, arrival_rate_per_s: float, aht_s: float, threshold_s: float) -> float:
    """Erlang C fraction of contacts answered with a wait ≤ ``threshold_s``.

    SL = 1 - P(wait)·exp(-(N - A)·T / AHT). Without abandons every offered
    contact is answered, so this is the SPEC's ``offered`` formula. Returns 0.0
    for an unstable queue (``agents <= load``) and 1.0 with no traffic and at
    least one agent.
    """
    load = _check_traffic(arrival_rate_per_s, aht_s)
    _check_non_negative("threshold_s", threshold_s)
    wait_probability = erlang_c_wait_probability(agents, load)
    if agents <= load:
        return 0.0
    return 1.0 - wait_probability * math.exp(-(agents - load) * threshold_s / aht_s)


def erlang_c_asa_s(agents: int, arrival_rate_per_s: float, aht_s: float) -> float:
    """Erlang C average speed of answer in seconds: P(wait)·AHT / (N - A).

    The mean over all answered contacts, those answered at once included (the
    SPEC's ASA). ``math.inf`` for an unstable queue (``agents <= load``).
    """
    load = _check_traffic(arrival_rate_per_s, aht_s)
    wait_probability = erlang_c_wait_probability(agents, load)
    if agents <= load:
        return math.inf
    return wait_probability * aht_s / (agents - load)


def _smallest_agents(meets: Callable[[int], bool], lowest: int) -> int:
    """Smallest N ≥ ``lowest`` with ``meets(N)``, for a ``meets`` that never turns False again.

    Gallops up (1, 2, 4, ... above ``lowest``) and then bisects, so a load of
    thousands of erlangs takes a few dozen evaluations, not thousands.
    """
    if meets(lowest):
        return lowest
    failing, step = lowest, 1
    while not meets(failing + step):
        failing += step
        step *= 2
    meeting = failing + step
    while meeting - failing > 1:
        middle = (failing + meeting) // 2
        if meets(middle):
            meeting = middle
        else:
            failing = middle
    return meeting


def erlang_c_required_agents(arrival_rate_per_s: float, aht_s: float, threshold_s: float, target_sl: float) -> int:
    """Smallest number of agents whose Erlang C service level reaches ``target_sl``.

    ``target_sl`` is a ratio in (0, 1), e.g. 0.8 for "80 % in 20 s" with
    ``threshold_s=20``. Returns 0 when there is no traffic. Otherwise the
    answer is always more than the offered load (a stable queue).
    """
    load = _check_traffic(arrival_rate_per_s, aht_s)
    _check_non_negative("threshold_s", threshold_s)
    _check_open_unit_interval("target_sl", target_sl)
    if arrival_rate_per_s == 0:
        return 0
    return _smallest_agents(
        lambda agents: erlang_c_service_level(agents, arrival_rate_per_s, aht_s, threshold_s) >= target_sl,
        lowest=math.floor(load) + 1,
    )


def erlang_c_required_agents_for_wait_probability(
    arrival_rate_per_s: float, aht_s: float, max_wait_probability: float
) -> int:
    """Smallest number of agents whose Erlang C probability of waiting is ≤ ``max_wait_probability``.

    The rule of Miller (2015, ch. 6), who staffs each hour for P(wait) ≤ 0.5:
    an hour without calls needs 0 agents (he skips it), any other hour needs at
    least one agent and more than the offered load, even a load far below one
    erlang (with one agent P(wait) equals the load, e.g. 0.45 ≤ 0.5).
    """
    load = _check_traffic(arrival_rate_per_s, aht_s)
    _check_open_unit_interval("max_wait_probability", max_wait_probability)
    if arrival_rate_per_s == 0:
        return 0
    return _smallest_agents(
        lambda agents: erlang_c_wait_probability(agents, load) <= max_wait_probability,
        lowest=math.floor(load) + 1,
    )


# --- Erlang A -----------------------------------------------------------------
#
# Notation of Mandelbaum & Zeltyn ("The M/M/n+G queue: summary of performance
# measures", 2004/2009): service rate μ = 1/AHT, abandonment rate θ = 1/patience,
# x = Nμ/θ, y = λ/θ, and
#
#     A(x, y) = Σ_{m≥0} yᵐ / ((x+1)(x+2)…(x+m)) = x·eʸ·y⁻ˣ·gamma(x, y).
#
# The birth-death chain of M/M/N+M has π_{N+m} = π_N·yᵐ / ((x+1)…(x+m)) for the
# m callers queued behind N busy agents, so A(x, y) is the mass of the "all
# busy" states relative to π_N, and the mass below N relative to π_N is
# 1/B - 1 with B the Erlang B blocking probability. Arrivals see time averages
# (PASTA). A caller who finds m others queued reaches an agent after
# V = Σ_{i=0..m} Exp(Nμ + iθ); with z = e^(-θV) one finds z ~ Beta(x, m+1), and
# summing over m with the weights above gives the density of z over all callers
# who queue: x·z^(x-1)·e^(y(1-z)) on (0, 1). Every measure below integrates it:
#
#     P(wait)                  = A(x, y) / (1/B - 1 + A(x, y))
#     P(answered | wait)       = E[z] = x/(x+1) · A(x+1, y) / A(x, y)
#     P(answered, 0 < V ≤ T)   ∝ ∫_{e^(-θT)}^1 z·x·z^(x-1)·e^(y(1-z)) dz
#                              = x/(x+1) · [A(x+1, y) - e^(y(1-e^(-θT)) - (x+1)θT) · A(x+1, y·e^(-θT))]
#
# (a caller with patience τ is answered iff V < τ, which has probability
# e^(-θV) = z given V). These are the Erlang-A formulas of Mandelbaum & Zeltyn
# and of Garnett, Mandelbaum & Reiman (2002), in the form that is convenient
# for stable evaluation.


def _log1p_minus(u: float) -> float:
    """u - log(1 + u) for u > -1, without losing the small result to cancellation."""
    if abs(u) < 1e-3:
        # Taylor series: u²/2 - u³/3 + u⁴/4 - ...; five terms reach 1e-18 relative.
        return u * u * (1 / 2 - u * (1 / 3 - u * (1 / 4 - u * (1 / 5 - u / 6))))
    return u - math.log1p(u)


def _log_gamma_plus_one_over_power(x: float) -> float:
    """log Γ(x+1) - x·log x + x, i.e. log(x!·eˣ/xˣ), for x > 0.

    For large x both terms are huge and nearly cancel; Stirling's series gives
    the difference directly (error below 1e-12 from x = 10 on).
    """
    if x < 10:
        return math.lgamma(x + 1) - x * math.log(x) + x
    inverse, inverse_squared = 1 / x, 1 / (x * x)
    correction = inverse * (
        1 / 12 - inverse_squared * (1 / 360 - inverse_squared * (1 / 1260 - inverse_squared / 1680))
    )
    return 0.5 * math.log(2 * math.pi * x) + correction


def _upper_gamma_continued_fraction(x: float, y: float) -> float:
    """Γ(x, y)·eʸ·y⁻ˣ by the continued fraction of the upper incomplete gamma function.

    1 / (y+1-x - 1·(1-x) / (y+3-x - 2·(2-x) / (y+5-x - ...))), evaluated by the
    modified Lentz algorithm; it converges fast for y > x + 1, where the power
    series would need many terms.
    """
    b = y + 1 - x
    c = 1 / _TINY
    d = 1 / b
    result = d
    for i in range(1, _MAX_TERMS):
        a = -i * (i - x)
        b += 2
        d = a * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + a / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = c * d
        result *= delta
        if abs(delta - 1) < _EPSILON * 10:
            return result
    raise ArithmeticError(f"incomplete gamma continued fraction did not converge for x={x}, y={y}")


def _log_mz_a(x: float, y: float) -> float:
    """log A(x, y) = log(x·eʸ·y⁻ˣ·gamma(x, y)) for x > 0, y ≥ 0.

    Below y = x + 1 A is the positive power series Σ yᵐ/((x+1)…(x+m)), whose
    terms shrink from the first. Above it A = eᴸ - x·Γ(x, y)·eʸ·y⁻ˣ with
    L = log(Γ(x+1)·eʸ·y⁻ˣ); there the subtracted part is at most about half of
    eᴸ, and working with L keeps A finite when it exceeds any double.
    """
    if y < x + 1:
        total = term = 1.0
        for m in range(1, _MAX_TERMS):
            term *= y / (x + m)
            total += term
            ratio = y / (x + m + 1)
            # The remaining terms shrink at least geometrically by ``ratio``.
            if term * ratio <= _EPSILON * total * (1 - ratio):
                return math.log(total)
        raise ArithmeticError(f"incomplete gamma series did not converge for x={x}, y={y}")
    # L = log Γ(x+1) + y - x·log y, rewritten so that large x does not cancel.
    log_leading = _log_gamma_plus_one_over_power(x) + x * _log1p_minus((y - x) / x)
    upper_share = x * _upper_gamma_continued_fraction(x, y) * math.exp(-log_leading)
    return log_leading + math.log1p(-upper_share)


def _logistic(log_odds: float) -> float:
    """1 / (1 + e^(-log_odds)) without overflow for any sign."""
    if log_odds >= 0:
        return 1 / (1 + math.exp(-log_odds))
    odds = math.exp(log_odds)
    return odds / (1 + odds)


@dataclass(frozen=True, slots=True)
class ErlangAPerformance:
    """What Erlang A predicts for one queue at one staffing level.

    - ``wait_probability``: an arriving contact finds every agent busy and queues.
    - ``abandon_probability``: it abandons before an agent answers (the SPEC's
      abandonment ratio, abandoned / offered).
    - ``service_level``: it is answered with a wait ≤ ``threshold_s``: answered
      within T / offered, the SPEC's default ``offered`` formula. Abandons count
      against it, also those before T, since that is what the wallboard shows.
    - ``asa_s``: mean wait of the contacts that are answered (at once included),
      the SPEC's ASA; ``math.inf`` when nobody is ever answered (no agents).
    """

    wait_probability: float
    abandon_probability: float
    service_level: float
    asa_s: float


def erlang_a_performance(
    agents: int, arrival_rate_per_s: float, aht_s: float, threshold_s: float, patience_s: float | None
) -> ErlangAPerformance:
    """Erlang A (M/M/N+M) waiting, abandonment, service level and ASA.

    ``patience_s`` is the mean of the callers' exponential patience: ``None``
    (or ``math.inf``) gives exactly Erlang C with no abandons; 0 gives the
    limit in which a caller who finds all agents busy leaves at once
    (P(wait) = abandonment = Erlang B, SL = 1 - Erlang B, ASA 0).
    With no traffic and at least one agent nothing waits (SL 1, ASA 0); with no
    agents every caller queues and, with finite patience, abandons.

    Accurate to about 1e-12 for realistic queues (checked against the
    birth-death chain solved directly). Work and rounding error grow with the
    square roots of ``arrival_rate_per_s * patience_s`` and
    ``agents * patience_s / aht_s``: a patience of decades still takes
    milliseconds; absurd input (a patience of millennia, millions of calls a
    second) raises ArithmeticError rather than spinning.
    """
    return _erlang_a(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s, with_asa=True)


def erlang_a_service_level(
    agents: int, arrival_rate_per_s: float, aht_s: float, threshold_s: float, patience_s: float | None
) -> float:
    """Erlang A share of offered contacts answered with a wait ≤ ``threshold_s``.

    The ``service_level`` of :func:`erlang_a_performance`, without the cost of
    the ASA series (the staffing search evaluates it many times).
    """
    return _erlang_a(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s, with_asa=False).service_level


def _erlang_a(
    agents: int,
    arrival_rate_per_s: float,
    aht_s: float,
    threshold_s: float,
    patience_s: float | None,
    *,
    with_asa: bool,
) -> ErlangAPerformance:
    """Erlang A measures; ``asa_s`` is NaN unless ``with_asa`` (or a limit case makes it free)."""
    load = _check_traffic(arrival_rate_per_s, aht_s)
    _check_count("agents", agents)
    _check_non_negative("threshold_s", threshold_s)
    _check_patience(patience_s)
    if patience_s is None or patience_s == math.inf:
        return ErlangAPerformance(
            wait_probability=erlang_c_wait_probability(agents, load),
            abandon_probability=0.0,
            service_level=erlang_c_service_level(agents, arrival_rate_per_s, aht_s, threshold_s),
            asa_s=erlang_c_asa_s(agents, arrival_rate_per_s, aht_s),
        )
    if agents == 0:
        return ErlangAPerformance(wait_probability=1.0, abandon_probability=1.0, service_level=0.0, asa_s=math.inf)
    blocking = _erlang_b(agents, load)
    if patience_s == 0:
        return ErlangAPerformance(blocking, blocking, 1.0 - blocking, 0.0)
    if blocking == 0.0:  # no traffic, or so many agents that waiting underflows
        return ErlangAPerformance(wait_probability=0.0, abandon_probability=0.0, service_level=1.0, asa_s=0.0)

    x = agents * patience_s / aht_s  # Nμ/θ
    y = arrival_rate_per_s * patience_s  # λ/θ
    log_a = _log_mz_a(x, y)
    # P(wait) = A / (1/B - 1 + A); as log-odds it survives A beyond any double
    # (and B rounding to 1 under an absurd load).
    log_idle_odds = math.log1p(-blocking) - math.log(blocking) if blocking < 1 else -math.inf
    wait_probability = _logistic(log_a - log_idle_odds)
    answered_if_waiting = x / (x + 1) * math.exp(_log_mz_a(x + 1, y) - log_a)

    threshold_decay = threshold_s / patience_s  # θT
    log_late_share = (
        _log_mz_a(x + 1, y * math.exp(-threshold_decay)) - y * math.expm1(-threshold_decay) - (x + 1) * threshold_decay
    )
    answered_late_if_waiting = x / (x + 1) * math.exp(log_late_share - log_a)
    answered_in_time_if_waiting = max(0.0, answered_if_waiting - answered_late_if_waiting)

    return ErlangAPerformance(
        wait_probability=wait_probability,
        abandon_probability=wait_probability * max(0.0, 1.0 - answered_if_waiting),
        service_level=min(1.0, 1.0 - wait_probability + wait_probability * answered_in_time_if_waiting),
        asa_s=_erlang_a_asa_s(x, y, patience_s, wait_probability) if with_asa else math.nan,
    )


def _digamma(z: float) -> float:
    """ψ(z) = d/dz log Γ(z) for z > 0: recurrence up to z ≥ 10, then its asymptotic series (error < 1e-12)."""
    shift = 0.0
    while z < 10:
        shift -= 1 / z
        z += 1
    inverse_squared = 1 / (z * z)
    tail = inverse_squared * (
        1 / 12 - inverse_squared * (1 / 120 - inverse_squared * (1 / 252 - inverse_squared / 240))
    )
    return shift + math.log(z) - 1 / (2 * z) - tail


def _erlang_a_asa_s(x: float, y: float, patience_s: float, wait_probability: float) -> float:
    """Mean wait of answered contacts, from the queue-length series.

    A caller who finds m others queued (weight tₘ = yᵐ/((x+1)…(x+m))) is
    answered with probability x/(x+m+1), and its expected wait counted only if
    answered is that probability times patience_s·Hₘ with
    Hₘ = Σ_{k=1..m+1} 1/(x+k) = ψ(x+m+2) - ψ(x+1) (the derivative of
    E[e^(-sV)] = Π (x+i)/(x+i+s/θ) at s = θ). No incomplete gamma function
    gives this sum in closed form, so it is summed, outwards from the largest
    term (m ≈ y - x - 1 in an overloaded queue) with that term scaled to 1:
    the scale cancels in the ratio, nothing overflows, and the work grows like
    the square root of y instead of y.
    """
    peak = max(0, math.ceil(y - x - 1))
    peak_harmonic = _digamma(x + peak + 2) - _digamma(x + 1) if peak else 1 / (x + 1)
    queued = answered = answered_wait = 0.0  # Σ tₘ, Σ tₘ·P(answered), Σ tₘ·P(answered)·Hₘ, all / t_peak

    # Upwards from the peak: tₘ₊₁/tₘ = y/(x+m+1) < 1 and shrinking.
    term, harmonic = 1.0, peak_harmonic
    for m in range(peak, peak + _MAX_TERMS):
        answered_here = term * x / (x + m + 1)
        queued += term
        answered += answered_here
        answered_wait += answered_here * harmonic
        ratio = y / (x + m + 1)
        if ratio < 1:  # at the peak itself the ratio can round to 1
            # What is left shrinks geometrically while Hₘ grows by at most 1/(x+m+2) a term.
            tail = term * ratio / (1 - ratio)
            tail_wait = tail * (harmonic + 1 / ((1 - ratio) * (x + m + 2)))
            if tail <= _EPSILON * answered and tail_wait <= _EPSILON * answered_wait:
                break
        term *= ratio
        harmonic += 1 / (x + m + 2)
    else:
        raise ArithmeticError(f"Erlang A waiting-time series did not converge for x={x}, y={y}")

    # Downwards from the peak: tₘ₋₁/tₘ = (x+m)/y ≤ 1 and shrinking, Hₘ shrinking too.
    term, harmonic = 1.0, peak_harmonic
    for m in range(peak, 0, -1):
        ratio = (x + m) / y
        term *= ratio
        harmonic -= 1 / (x + m + 1)
        answered_here = term * x / (x + m)
        queued += term
        answered += answered_here
        answered_wait += answered_here * harmonic
        if term * ratio <= _EPSILON * answered * (1 - ratio):
            break

    answered_wait_share = wait_probability * answered_wait / queued * patience_s
    answered_share = 1.0 - wait_probability + wait_probability * answered / queued
    return answered_wait_share / answered_share


def erlang_a_required_agents(
    arrival_rate_per_s: float, aht_s: float, threshold_s: float, target_sl: float, patience_s: float | None
) -> int:
    """Smallest number of agents whose Erlang A service level reaches ``target_sl``.

    Same service level as :func:`erlang_a_service_level` (answered within T /
    offered). Returns 0 when there is no traffic. With ``patience_s=None`` it
    equals :func:`erlang_c_required_agents`. The search starts at
    ``target_sl * load``: N agents answer at most N/load of the offered
    contacts, so fewer can never reach the target.
    """
    load = _check_traffic(arrival_rate_per_s, aht_s)
    _check_non_negative("threshold_s", threshold_s)
    _check_open_unit_interval("target_sl", target_sl)
    _check_patience(patience_s)
    if arrival_rate_per_s == 0:
        return 0
    return _smallest_agents(
        lambda agents: erlang_a_service_level(agents, arrival_rate_per_s, aht_s, threshold_s, patience_s) >= target_sl,
        lowest=max(1, math.floor(target_sl * load)),
    )


def patience_s_estimate(abandoned: int, total_wait_s: float) -> float | None:
    """Mean caller patience in seconds: total waiting time / abandoned.

    ``total_wait_s`` is the waiting time of *every* contact that waited,
    answered and abandoned alike. The SPEC's "abandoned / total waiting time"
    is the abandonment *rate* θ (per second of waiting): with exponential
    patience it is the maximum-likelihood estimate, the waits of answered
    contacts being patience times cut short by the answer (censored). The mean
    patience Erlang A needs is its inverse. ``None`` when nobody abandoned:
    nothing is known about patience, and Erlang A with ``patience_s=None`` is
    Erlang C. 0.0 when callers abandoned without having waited at all.
    """
    _check_count("abandoned", abandoned)
    _check_non_negative("total_wait_s", total_wait_s)
    if abandoned == 0:
        return None
    return total_wait_s / abandoned


# --- staffing advice ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffingAdvice:
    """Agents a queue needs now, by Erlang C and Erlang A, against the agents it has.

    A positive gap means understaffed (that many agents short), a negative one
    overstaffed. The ``predicted_*`` figures are what each model expects at the
    staffed level; ``None`` with no traffic, where there is nothing to predict.
    """

    arrival_rate_per_s: float
    aht_s: float
    threshold_s: float
    target_sl: float
    patience_s: float | None
    staffed_agents: int
    required_erlang_c: int
    required_erlang_a: int
    predicted_sl_erlang_c: float | None
    predicted_sl_erlang_a: float | None
    predicted_abandon_ratio_erlang_a: float | None

    @property
    def offered_load_erlangs(self) -> float:
        return self.arrival_rate_per_s * self.aht_s

    @property
    def gap_erlang_c(self) -> int:
        """required_erlang_c - staffed_agents."""
        return self.required_erlang_c - self.staffed_agents

    @property
    def gap_erlang_a(self) -> int:
        """required_erlang_a - staffed_agents."""
        return self.required_erlang_a - self.staffed_agents


def staffing_advice(
    arrival_rate_per_s: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    staffed_agents: int,
    patience_s: float | None,
) -> StaffingAdvice:
    """Required agents and staffing gaps for one queue (SPEC: "staffing gap = required - staffed").

    Inputs as the worker has them: the rolling-30-min arrival rate, the AHT,
    the queue's SL target (e.g. ``threshold_s=20``, ``target_sl=0.8``), the
    agents staffed now and the patience from :func:`patience_s_estimate`
    (``None``: no abandons seen, Erlang A falls back to Erlang C).
    """
    _check_count("staffed_agents", staffed_agents)
    required_erlang_c = erlang_c_required_agents(arrival_rate_per_s, aht_s, threshold_s, target_sl)
    required_erlang_a = erlang_a_required_agents(arrival_rate_per_s, aht_s, threshold_s, target_sl, patience_s)
    predicted_sl_erlang_c: float | None = None
    predicted_erlang_a: ErlangAPerformance | None = None
    if arrival_rate_per_s > 0:
        predicted_sl_erlang_c = erlang_c_service_level(staffed_agents, arrival_rate_per_s, aht_s, threshold_s)
        predicted_erlang_a = _erlang_a(
            staffed_agents, arrival_rate_per_s, aht_s, threshold_s, patience_s, with_asa=False
        )
    return StaffingAdvice(
        arrival_rate_per_s=arrival_rate_per_s,
        aht_s=aht_s,
        threshold_s=threshold_s,
        target_sl=target_sl,
        patience_s=patience_s,
        staffed_agents=staffed_agents,
        required_erlang_c=required_erlang_c,
        required_erlang_a=required_erlang_a,
        predicted_sl_erlang_c=predicted_sl_erlang_c,
        predicted_sl_erlang_a=None if predicted_erlang_a is None else predicted_erlang_a.service_level,
        predicted_abandon_ratio_erlang_a=None if predicted_erlang_a is None else predicted_erlang_a.abandon_probability,
    )
