"""A seeded discrete-event simulation of a staffed contact center, to Kafka, NDJSON or nowhere.

The model
---------
One event list (a heap ordered by time, then by scheduling order) drives
everything; every event it emits carries the simulated time at which it
happened, so the stream comes out in non-decreasing event time. Times are
integer milliseconds.

- **Arrivals**: one non-homogeneous Poisson process for the whole center, at
  ``rate_per_s`` times the hourly multiplier of the time-of-day ``profile``
  (24 values, local hours of ``time_zone``; piecewise constant, sampled exactly
  by inverting the cumulative rate, so there is no thinning). ``"day"`` is a
  bank or retail day: quiet at night, a late-morning peak, a lunch dip, an
  early-afternoon peak, a long evening tail (its daily mean is about 0.63);
  ``"flat"`` is 1 around the clock. Each hour's actual volume departs from
  that forecast by a lognormal factor of mean 1 and relative spread
  ``forecast_error``. Each arrival picks a queue (all queues equally likely)
  and a channel from the queue's voice/chat/email mix. Voice and chat become
  contacts; email becomes a ticket (only with ``mixed``).
- **Agents**: each serves a primary queue and, for ``cross_skill_share`` of
  them, a second queue at lower priority. Unless ``agents`` fixes a head
  count per queue (then logged in for the whole run), the center is staffed
  from its own forecast, as workforce management would: per queue and local
  hour, Erlang A's agents (Erlang C's with infinite patience) for
  ``target_sl`` within ``sl_threshold_s`` at the forecast arrival rate (plus
  the transfers it receives), handle time and patience, times ``staffing``,
  grossed up for ``absence_share``; 8-hour and 4-hour shifts then keep that
  many available hour by hour, counting the time their agents are expected
  to spend on break (greedy, from the quietest hour). Agents log in and out
  around their shift (a few minutes' jitter), miss ``absence_share`` of their
  shifts, and take breaks about every two hours (15 min, a 30-min lunch,
  15 min), after finishing the contact in hand. With the defaults at the
  default rate a day's service level (20 s) comes out at about 80 % (73-94 %
  for seeds 1 to 6, abandonment 2-7 %), hour by hour from below 50 % (an
  hour busier than forecast) to 100 %.
- **Routing**: an arriving contact goes to the longest-idle available agent
  with the skill, primary-skilled agents first; an agent who becomes free
  takes the longest-waiting contact of its primary queues, else of its
  secondary ones (first come, first served across queues of one priority).
  An agent finishing after-contact work with contacts waiting goes straight
  to the next one (no zero-length ``available``).
- **Handling**: talk time lognormal (``talk_median_s``, ``talk_sigma``) or
  exponential (``talk_mean_s``); a hold in ``hold_share`` of conversations;
  a transfer to another queue in ``transfer_share`` of first conversations
  (``contact.transferred``, then a new ``contact.queued`` half a second
  later); after-contact work uniform on 0.5..1.5 times ``mean_acw_s``, with its
  ``contact.wrapup_ended`` missing in ``missing_wrapup_share`` of segments so
  that the worker's ACW timeout applies. Dispositions include ``complaint``
  and ``escalated``.
- **Customers**: exponential patience of mean ``mean_patience_s`` (None:
  infinite); a caller still waiting when it runs out abandons (short
  abandons happen by themselves), one still waiting at ``max_wait_s`` flows
  out (``reason: timeout``). ``repeat_share`` of callers are customers whose
  earlier contact on the queue was not resolved, which feeds the FCR KPIs.
- **Follow-ups** (``mixed`` only): agent state changes with the agent's
  queues and team; surveys (csat, nps, ces) after ``survey_share`` of handled
  contacts and solved tickets, scored lower after long waits, unresolved
  issues and transfers; tickets created, replied to (public replies and
  internal notes), sometimes escalated, solved, sometimes reopened, closed,
  hours apart. Without ``mixed`` the same contacts come out (the same
  simulation with separate random streams), agents and tickets unseen.

Identifiers are derived from the seed and the start time (``sim<seed>-<start
in base 36>``), so a rerun with the same seed later is not mistaken for
duplicates by the worker, while the same plan, seed and start time give
byte-identical output. Event ids carry a zero-padded sequence number: at one
instant the later change of an agent also has the larger id, which is how the
worker orders simultaneous state changes. Customer ids are pseudonymous.

Limits: ticket work takes no agent time (replies are signed by an agent with
the skill, logged in or not); one contact per agent at a time, chat included;
every queue gets the same share of arrivals and the same handle times; at
most one transfer per contact. A bounded run's agents stop changing state
with its last contact; the ticket steps and surveys already scheduled then
still follow, so a paced run with tickets runs on for hours of event time
after the last call.

Pacing
------
Unpaced (``--as-fast-as-possible``) runs start the event clock at the wall
clock and emit as fast as they can. Paced runs send each event when its time
comes, ``speed`` times faster than real time, but never before the wall
clock has reached its event time: the worker dead-letters events more than
``max_future_skew_s`` (300 s) ahead of its clock. So with ``speed`` above 1
the event clock starts in the past, at now - D·(speed - 1)/speed where D is
the event time the run is expected to span (contacts ÷ mean contact rate,
plus a few handle times for the last contacts; one hour for an unbounded
run; at most 12 hours, well inside the worker's retention). Accelerated,
event time then reaches the wall clock about when a bounded run ends; if the
run lasts longer (or is unbounded), it goes on in real time from there.
Event time is thus at most the wall clock, never ahead of it.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from heapq import heappop, heappush
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccpulse.config import ConfigError, Settings
from ccpulse.domain.erlang import erlang_a_required_agents
from ccpulse.sources.sink import Progress, SinkReport, open_sink, paced

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS

#: Hourly arrival multipliers of a bank or retail center, local hours 00..23.
DAY_PROFILE: tuple[float, ...] = (
    0.08, 0.05, 0.04, 0.04, 0.05, 0.10,  # night
    0.25, 0.55, 0.95, 1.30, 1.50, 1.45,  # morning, peak at 10-12
    1.15, 1.30, 1.40, 1.25, 1.05, 0.80,  # lunch dip, afternoon peak at 13-15
    0.55, 0.40, 0.30, 0.22, 0.15, 0.10,  # evening
)  # fmt: skip
FLAT_PROFILE: tuple[float, ...] = (1.0,) * 24
PROFILES: dict[str, tuple[float, ...]] = {"day": DAY_PROFILE, "flat": FLAT_PROFILE}
TALK_DISTRIBUTIONS = ("lognormal", "exponential")

# Shifts and breaks (offset from login, length, reason, each start jittered by
# up to BREAK_JITTER_MS either way); the forecast staffing plans for the time
# agents spend on them, hour by hour.
FULL_SHIFT_H = 8
PART_SHIFT_H = 4
BREAKS: tuple[tuple[int, int, str], ...] = (
    (2 * HOUR_MS, 15 * MINUTE_MS, "break"),
    (4 * HOUR_MS, 30 * MINUTE_MS, "lunch"),
    (6 * HOUR_MS, 15 * MINUTE_MS, "break"),
)
BREAK_CYCLE_MS = FULL_SHIFT_H * HOUR_MS  # agents without shifts repeat the pattern
BREAK_JITTER_MS = 30 * MINUTE_MS
MIN_BREAK_GAP_MS = 45 * MINUTE_MS  # a break postponed by a long contact pushes the next one back
EARLY_LOGIN_MAX_MS = 5 * MINUTE_MS
LATE_LOGOUT_MAX_MS = 3 * MINUTE_MS

TRANSFER_DELAY_MS = 500
SURVEY_DELAY_S = (60.0, 900.0)
# Survey kinds and their shares; dispositions of a handled segment and their shares.
SURVEY_KINDS: tuple[tuple[str, float], ...] = (("csat", 0.5), ("nps", 0.3), ("ces", 0.2))
DISPOSITIONS: tuple[tuple[str, float], ...] = (
    ("information", 0.45),
    ("service_request", 0.35),
    ("sale", 0.13),
    ("complaint", 0.04),
    ("escalated", 0.03),
)
RECENT_UNRESOLVED = 500  # unresolved customers per queue who may call again
TICKET_STEP_MEAN_S = 3600.0
TICKET_CLOSE_MEAN_S = 2 * 3600.0

#: Unbounded paced runs at speed > 1 start this much event time in the past (before dividing by speed).
UNBOUNDED_SPAN_S = 3600.0
HANDLING_TAIL_AHTS = 4  # a bounded run's last contacts are done within about this many handle times
MAX_BACKFILL_S = 12 * 3600.0
#: Start of the event clock for :func:`measure_throughput`: 2024-03-01T12:00:00Z.
MEASURE_START_MS = 1_709_294_400_000


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _is_share(value: float) -> bool:
    return 0.0 <= value <= 1.0  # also rejects NaN


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """What to simulate; the module docstring describes the model. ``contacts = 0`` means: until interrupted.

    Times are seconds, shares are ratios 0..1. ``rate_per_s`` counts every
    arrival (voice, chat and email) over all queues at profile multiplier 1;
    ``contacts`` counts voice and chat contacts only. ``agents`` is a head
    count per queue; None staffs each queue from the forecast (``target_sl``
    within ``sl_threshold_s``, times ``staffing``). ``channel_mix`` is the
    voice, chat and email share of every queue (normalised), overridden per
    queue by ``channel_mix_by_queue`` entries ``(queue, voice, chat, email)``.
    ``forecast_error`` is the relative spread of each hour's actual volume
    around the forecast the staffing is planned for; ``absence_share`` the
    share of shifts an agent does not turn up for (0 for both: the center
    gets exactly the traffic and the agents it planned for).
    """

    contacts: int = 0
    rate_per_s: float = 5.0
    speed: float = 1.0
    seed: int = 1
    queues: tuple[str, ...] = ("sales", "support", "billing")
    paced: bool = True
    # Agents, ticket events and surveys too; without it only contact events.
    mixed: bool = False
    # Arrivals
    profile: str | tuple[float, ...] = "day"
    time_zone: str = "UTC"
    channel_mix: tuple[float, float, float] = (0.7, 0.2, 0.1)
    channel_mix_by_queue: tuple[tuple[str, float, float, float], ...] = ()
    forecast_error: float = 0.08
    # Staffing
    agents: int | None = None
    staffing: float = 1.0
    target_sl: float = 0.8
    sl_threshold_s: float = 20.0
    cross_skill_share: float = 0.2
    breaks: bool = True
    absence_share: float = 0.05
    # Handling
    talk_distribution: str = "lognormal"
    talk_median_s: float = 150.0
    talk_sigma: float = 0.6
    talk_mean_s: float = 180.0
    hold_share: float = 0.2
    mean_hold_s: float = 40.0
    transfer_share: float = 0.08
    mean_acw_s: float = 30.0
    missing_wrapup_share: float = 0.02
    resolved_share: float = 0.8
    # Customers
    mean_patience_s: float | None = 120.0
    max_wait_s: float | None = 300.0
    repeat_share: float = 0.1
    # Follow-ups (mixed only)
    survey_share: float = 0.3

    def __post_init__(self) -> None:
        _check(self.contacts >= 0, "--contacts must be 0 (unbounded) or more")
        _check(_positive(self.rate_per_s), "--rate must be above 0 contacts per second")
        _check(_positive(self.speed), "--speed must be above 0")
        _check(bool(self.queues), "--queues must name at least one queue")
        _check(all(1 <= len(q) <= 200 for q in self.queues), "--queues: every name needs 1 to 200 characters")
        _check(len(set(self.queues)) == len(self.queues), "--queues must not name a queue twice")
        if isinstance(self.profile, str):
            _check(self.profile in PROFILES, f"--profile must be one of {', '.join(PROFILES)} or 24 multipliers")
        else:
            values = self.profile
            valid = len(values) == 24 and all(math.isfinite(v) and v >= 0 for v in values) and sum(values) > 0
            _check(valid, "--profile needs 24 hourly multipliers, each finite and >= 0, not all 0")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"--time-zone {self.time_zone!r} is not an IANA time zone") from None
        self._check_mix("--channel-mix", self.channel_mix)
        for entry in self.channel_mix_by_queue:
            _check(len(entry) == 4 and entry[0] in self.queues, "--channel-mix-by-queue names a queue not in --queues")
            self._check_mix(f"--channel-mix-by-queue {entry[0]}", entry[1:])
        _check(
            any(sum(self.mix_of(q)[:2]) > 0 for q in self.queues),
            "--channel-mix must give voice or chat a share on some queue",
        )
        _check(
            self.agents is None or (type(self.agents) is int and self.agents >= 1),
            "--agents must be at least 1 per queue (or unset: staffed from the forecast)",
        )
        _check(_positive(self.staffing), "--staffing must be above 0 (1 staffs to the service-level target)")
        _check(0 <= self.absence_share < 1, "--absence-share must be within 0..1 (1 excluded)")
        _check(
            math.isfinite(self.forecast_error) and 0 <= self.forecast_error <= 1,
            "--forecast-error must be within 0..1 (relative spread of each hour's volume)",
        )
        _check(0 < self.target_sl < 1, "--target-sl must be between 0 and 1 (exclusive)")
        _check(math.isfinite(self.sl_threshold_s) and self.sl_threshold_s >= 0, "--sl-threshold must be >= 0 s")
        _check(self.talk_distribution in TALK_DISTRIBUTIONS, "--talk-distribution must be lognormal or exponential")
        _check(_positive(self.talk_median_s), "--talk-median must be above 0 s")
        _check(math.isfinite(self.talk_sigma) and 0 <= self.talk_sigma <= 3, "--talk-sigma must be within 0..3")
        _check(_positive(self.talk_mean_s), "--talk-mean must be above 0 s")
        _check(_positive(self.mean_hold_s), "--mean-hold must be above 0 s")
        _check(math.isfinite(self.mean_acw_s) and self.mean_acw_s >= 0, "--mean-acw must be 0 s or more")
        _check(
            self.mean_patience_s is None or _positive(self.mean_patience_s),
            "--patience must be above 0 s (or unset: infinite patience)",
        )
        _check(self.max_wait_s is None or _positive(self.max_wait_s), "--max-wait must be above 0 s (or unset)")
        for option, share in (
            ("--cross-skill-share", self.cross_skill_share),
            ("--hold-share", self.hold_share),
            ("--transfer-share", self.transfer_share),
            ("--missing-wrapup-share", self.missing_wrapup_share),
            ("--resolved-share", self.resolved_share),
            ("--repeat-share", self.repeat_share),
            ("--survey-share", self.survey_share),
        ):
            _check(_is_share(share), f"{option} must be within 0..1")

    @staticmethod
    def _check_mix(option: str, shares: tuple[float, ...]) -> None:
        valid = len(shares) == 3 and all(math.isfinite(s) and s >= 0 for s in shares) and sum(shares) > 0
        _check(valid, f"{option} needs three shares voice,chat,email, each >= 0, not all 0")

    @property
    def profile_multipliers(self) -> tuple[float, ...]:
        """The 24 hourly arrival multipliers, local hours 00..23."""
        return PROFILES[self.profile] if isinstance(self.profile, str) else self.profile

    def mix_of(self, queue: str) -> tuple[float, float, float]:
        """Voice, chat and email shares of ``queue``'s arrivals, summing to 1."""
        shares = next((entry[1:] for entry in self.channel_mix_by_queue if entry[0] == queue), self.channel_mix)
        total = sum(shares)
        return shares[0] / total, shares[1] / total, shares[2] / total

    @property
    def mean_talk_s(self) -> float:
        if self.talk_distribution == "exponential":
            return self.talk_mean_s
        return self.talk_median_s * math.exp(self.talk_sigma**2 / 2)

    @property
    def mean_handle_s(self) -> float:
        """Mean talk + hold + ACW of a handled segment: the AHT the forecast staffs for."""
        return self.mean_talk_s + self.hold_share * (self.mean_hold_s + 1) + self.mean_acw_s

    @property
    def mean_contact_rate_per_s(self) -> float:
        """Voice and chat contacts per second over all queues, averaged over the day's profile."""
        profile = self.profile_multipliers
        contact_share = sum(sum(self.mix_of(q)[:2]) for q in self.queues) / len(self.queues)
        return self.rate_per_s * sum(profile) / len(profile) * contact_share


# --- the simulation -----------------------------------------------------------------------------------------------

LOGGED_OUT, AVAILABLE, BUSY, ACW, AWAY = range(5)
STATE_NAMES = ("logged_out", "available", "busy", "acw", "away")
WAITING, SERVING, DONE = range(3)

Handler = Callable[[int, Any], None]


class _Agent:
    __slots__ = (
        "agent_id",
        "break_anchor_ms",
        "break_no",
        "break_token",
        "contact",
        "idle_token",
        "levels",
        "logout_ms",
        "pending_break",
        "pending_logout",
        "queue_names",
        "shift_hours",
        "shift_start_h",
        "skills",
        "state",
        "team",
    )

    def __init__(self, agent_id: str, primary: int, secondary: int | None, queues: tuple[str, ...]) -> None:
        self.agent_id = agent_id
        self.skills = (primary,) if secondary is None else (primary, secondary)
        # Queues by priority: primary first, then secondary (FCFS within one level).
        self.levels: tuple[tuple[int, ...], ...] = ((primary,),) if secondary is None else ((primary,), (secondary,))
        self.queue_names = tuple(queues[q] for q in self.skills)
        self.team = f"team-{queues[primary]}"
        self.state = LOGGED_OUT
        self.idle_token = 0  # bumped whenever the agent stops being available: stale pool entries
        self.break_token = 0
        self.contact: _Contact | None = None
        self.pending_break: tuple[int, str] | None = None
        self.pending_logout = False
        self.logout_ms = -1  # -1: no shift, logged in for the whole run
        self.shift_start_h = 0
        self.shift_hours = 0
        self.break_anchor_ms = 0
        self.break_no = 0


class _Contact:
    __slots__ = (
        "channel",
        "contact_id",
        "customer_id",
        "queue",
        "queued_ms",
        "resolved",
        "state",
        "stint",
        "transfers",
        "wait_ms",
    )

    def __init__(self, contact_id: str, channel: str, customer_id: str) -> None:
        self.contact_id = contact_id
        self.channel = channel
        self.customer_id = customer_id
        self.queue = 0
        self.queued_ms = 0
        self.stint = 0
        self.state = WAITING
        self.transfers = 0
        self.wait_ms = 0
        self.resolved = True


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text


def _cumulative(weighted: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    total = 0.0
    out = []
    for name, weight in weighted:
        total += weight
        out.append((name, total))
    return tuple(out)


def _pick(cumulative: tuple[tuple[str, float], ...], u: float) -> str:
    for name, bound in cumulative:
        if u < bound:
            return name
    return cumulative[-1][0]


def break_shares(shift_hours: int) -> tuple[float, ...]:
    """Expected share of each hour of a shift that an agent spends on break (jitter included)."""
    steps = 60  # the jitter, integrated on a grid of one-minute steps
    shares = [0.0] * shift_hours
    for offset_ms, length_ms, _ in BREAKS:
        if offset_ms + length_ms > shift_hours * HOUR_MS:
            continue
        for step in range(steps + 1):
            start_ms = offset_ms - BREAK_JITTER_MS + 2 * BREAK_JITTER_MS * step / steps
            for hour in range(shift_hours):
                overlap = min(start_ms + length_ms, (hour + 1) * HOUR_MS) - max(start_ms, hour * HOUR_MS)
                shares[hour] += max(0.0, overlap) / HOUR_MS / (steps + 1)
    return tuple(shares)


def shift_plan(required: list[int], *, breaks: bool = True) -> list[tuple[int, int]]:
    """Shifts ``(start_hour, hours)`` that keep ``required`` agents available in each of 24 hours.

    Greedy from the quietest hour round the clock: at each hour short of
    agents, add 8-hour shifts while every hour they span is still short of
    agents, else 4-hour ones. An agent counts in each hour of its shift by
    the share of the hour it is expected not to be on break. Coverage may
    exceed the need (a shift outlives the peak it was added for), never fall
    short of it.
    """
    shares = {hours: break_shares(hours) if breaks else (0.0,) * hours for hours in (FULL_SHIFT_H, PART_SHIFT_H)}
    coverage = [0.0] * 24
    shifts: list[tuple[int, int]] = []
    first = min(range(24), key=lambda h: (required[h], h))
    for step in range(24):
        hour = (first + step) % 24
        while coverage[hour] < required[hour] - 1e-9:
            needed_all_along = all(coverage[(hour + k) % 24] < required[(hour + k) % 24] for k in range(FULL_SHIFT_H))
            hours = FULL_SHIFT_H if needed_all_along else PART_SHIFT_H
            shifts.append((hour, hours))
            for k in range(hours):
                coverage[(hour + k) % 24] += 1 - shares[hours][k]
    return shifts


def forecast_staffing(plan: SimulationPlan) -> list[list[int]]:
    """Agents needed available per queue (index as in ``plan.queues``) and local hour 00..23.

    Erlang A's agents for ``target_sl`` within ``sl_threshold_s`` at the
    hour's arrival rate (including transfers from other queues),
    ``mean_handle_s`` and ``mean_patience_s`` (Erlang C if patience is
    infinite), times ``staffing``, grossed up for absence (rounded up). With
    patience Erlang C would overstaff: abandons relieve the queue, the more
    so the larger the center.
    """
    queues = plan.queues
    shares = [sum(plan.mix_of(q)[:2]) / len(queues) for q in queues]
    targets = _transfer_targets(plan)
    inflow = [0.0] * len(queues)  # transferred-in contacts per contact arriving at the whole center
    for q, share in enumerate(shares):
        for target in targets[q]:
            inflow[target] += share * plan.transfer_share / len(targets[q])
    # Absent agents are planned for, as workforce management does with its shrinkage.
    gross_up = plan.staffing / (1 - plan.absence_share) if plan.agents is None else plan.staffing
    staffing: list[list[int]] = []
    for q, share in enumerate(shares):
        hourly = []
        for multiplier in plan.profile_multipliers:
            rate_per_s = plan.rate_per_s * multiplier * (share + inflow[q])
            needed = 0
            if rate_per_s > 0:
                needed = erlang_a_required_agents(
                    rate_per_s, plan.mean_handle_s, plan.sl_threshold_s, plan.target_sl, plan.mean_patience_s
                )
            hourly.append(math.ceil(needed * gross_up - 1e-9) if needed else 0)
        staffing.append(hourly)
    return staffing


def _transfer_targets(plan: SimulationPlan) -> list[tuple[int, ...]]:
    """For each queue, the other queues that take contacts (voice or chat) and so can receive a transfer."""
    contact_queues = [q for q, name in enumerate(plan.queues) if sum(plan.mix_of(name)[:2]) > 0]
    return [tuple(t for t in contact_queues if t != q) for q in range(len(plan.queues))]


class _Simulation:
    """The state of one run: event list, agents, waiting contacts, and the events emitted so far."""

    def __init__(self, plan: SimulationPlan, start_ms: int) -> None:
        self.plan = plan
        self.start_ms = start_ms
        self.run = f"sim{plan.seed}-{_base36(start_ms)}"
        seed = plan.seed
        # Separate streams, so that mixed and contact-only runs give the same contacts.
        self.arrival_rng = random.Random(f"{seed}/arrivals")  # noqa: S311 - reproducible simulation, not secrets
        self.service_rng = random.Random(f"{seed}/service")  # noqa: S311
        self.agent_rng = random.Random(f"{seed}/agents")  # noqa: S311
        self.follow_rng = random.Random(f"{seed}/follow-ups")  # noqa: S311
        self.volume_rng = random.Random(f"{seed}/volume")  # noqa: S311
        self.zone = ZoneInfo(plan.time_zone)
        self.queues = plan.queues
        self.mixed = plan.mixed
        self.heap: list[tuple[int, int, Handler, Any]] = []
        self.order = itertools.count()
        self.out: list[tuple[int, dict[str, Any]]] = []
        self.emitted = 0
        self.ts_second = -1
        self.ts_prefix = ""
        # Arrivals: the rate per ms of each local hour, and the current hour's end and rate.
        self.rate_per_ms = [plan.rate_per_s * m / SECOND_MS for m in plan.profile_multipliers]
        self.arrival_clock_ms = float(start_ms)
        self.hour_end_ms = -math.inf
        self.hour_rate_per_ms = 0.0
        self.channel_bounds = []
        for name in self.queues:
            voice, chat, _ = plan.mix_of(name)
            self.channel_bounds.append((voice, voice + chat))
        self.arriving = True
        self.contacts_arrived = 0
        self.tickets_created = 0
        self.open_contacts = 0
        self.pending_emits = 0
        self.waiting: list[deque[tuple[int, int, _Contact, int]]] = [deque() for _ in self.queues]
        self.enqueued = 0
        self.recent_unresolved: list[list[str]] = [[] for _ in self.queues]
        self.transfer_targets = _transfer_targets(plan)
        # Service
        self.talk_log_median = math.log(plan.talk_median_s)
        self.patience_rate = None if plan.mean_patience_s is None else 1 / plan.mean_patience_s
        self.max_wait_ms = None if plan.max_wait_s is None else round(plan.max_wait_s * SECOND_MS)
        self.dispositions = _cumulative(DISPOSITIONS)
        self.survey_kinds = _cumulative(SURVEY_KINDS)
        self.midnights: dict[date, int] = {}
        # Agents, and for each queue its available agents by priority level, longest idle first.
        self.agents: list[_Agent] = []
        self.idle: list[list[deque[tuple[int, _Agent]]]] = [[deque(), deque()] for _ in self.queues]
        self.skilled: list[list[_Agent]] = [[] for _ in self.queues]
        self._hire()

    # -- plumbing ----------------------------------------------------------------------------------------------

    def push(self, at_ms: int, handler: Handler, item: Any) -> None:
        heappush(self.heap, (at_ms, next(self.order), handler, item))

    def emit(self, ts_ms: int, event_type: str, fields: dict[str, Any]) -> None:
        self.emitted += 1
        second, millis = divmod(ts_ms, SECOND_MS)
        if second != self.ts_second:
            self.ts_second = second
            self.ts_prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        event = {
            "event_id": f"{self.run}-{self.emitted:012d}",
            "type": event_type,
            "ts": f"{self.ts_prefix}.{millis:03d}Z",
            **fields,
            "source": "simulator",
        }
        self.out.append((ts_ms, event))

    def emit_later(self, at_ms: int, event_type: str, fields: dict[str, Any]) -> None:
        """Schedule an event fixed in advance (hold, survey, ticket step); its id is given when it happens."""
        self.pending_emits += 1
        self.push(at_ms, self.on_emit, (event_type, fields))

    def on_emit(self, now_ms: int, item: tuple[str, dict[str, Any]]) -> None:
        self.pending_emits -= 1
        self.emit(now_ms, item[0], item[1])

    def agent_changed(self, now_ms: int, agent: _Agent, state: int, reason: str | None = None) -> None:
        agent.state = state
        if self.mixed:
            fields: dict[str, Any] = {
                "agent_id": agent.agent_id,
                "state": STATE_NAMES[state],
                "queues": list(agent.queue_names),
                "team": agent.team,
            }
            if reason is not None:
                fields["reason"] = reason
            self.emit(now_ms, "agent.state_changed", fields)

    def run_events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        heap, out = self.heap, self.out
        self.push(self.start_ms, self.on_start, None)
        while heap:
            now_ms, _, handler, item = heappop(heap)
            handler(now_ms, item)
            if out:
                yield from out
                out.clear()
            if not self.arriving and self.open_contacts == 0:
                break
        # The last contact is done: what is left is the follow-ups already fixed (tickets, surveys).
        while heap:
            now_ms, _, handler, item = heappop(heap)
            if handler == self.on_emit:
                self.on_emit(now_ms, item)
                yield out.pop()

    # -- staffing and shifts -----------------------------------------------------------------------------------

    def _hire(self) -> None:
        plan, rng = self.plan, self.agent_rng
        contact_queues = [q for q, name in enumerate(self.queues) if sum(plan.mix_of(name)[:2]) > 0]
        hires: list[tuple[int, tuple[int, int] | None]] = []  # (primary queue, shift or None: always on duty)
        if plan.agents is not None:
            hires = [(q, None) for q in range(len(self.queues)) for _ in range(plan.agents)]
        else:
            for q, hourly in enumerate(forecast_staffing(plan)):
                hires += [(q, shift) for shift in shift_plan(hourly, breaks=plan.breaks)]
        for number, (primary, shift) in enumerate(hires, 1):
            others = [q for q in contact_queues if q != primary]
            secondary = None
            if others and rng.random() < plan.cross_skill_share:
                secondary = others[rng.randrange(len(others))]
            agent = _Agent(f"agent-{number:04d}", primary, secondary, self.queues)
            self.agents.append(agent)
            for q in agent.skills:
                self.skilled[q].append(agent)
            if shift is None:
                # On duty for the whole run; breaks staggered by a random phase.
                agent.break_anchor_ms = self.start_ms - round(rng.uniform(0, BREAK_CYCLE_MS))
                self.push(self.start_ms, self.on_login, agent)
            else:
                agent.shift_start_h, agent.shift_hours = shift
                today = datetime.fromtimestamp(self.start_ms / SECOND_MS, self.zone).date()
                self._next_shift(agent, today - timedelta(days=1), self.start_ms)

    def _midnight_ms(self, day: date) -> int:
        midnight = self.midnights.get(day)
        if midnight is None:
            midnight = round(datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp() * SECOND_MS)
            self.midnights[day] = midnight
        return midnight

    def _shift_window(self, agent: _Agent, day: date) -> tuple[int, int]:
        start = self._midnight_ms(day) + agent.shift_start_h * HOUR_MS
        early = round(self.agent_rng.uniform(0, EARLY_LOGIN_MAX_MS))
        late = round(self.agent_rng.uniform(0, LATE_LOGOUT_MAX_MS))
        return start - early, start + agent.shift_hours * HOUR_MS + late

    def _next_shift(self, agent: _Agent, day: date, after_ms: int) -> None:
        """Schedule the agent's first shift from ``day`` on that ends after ``after_ms`` and is not missed."""
        while True:
            login_ms, logout_ms = self._shift_window(agent, day)
            absent = self.agent_rng.random() < self.plan.absence_share
            if logout_ms > after_ms and not absent:
                agent.logout_ms = logout_ms
                agent.break_anchor_ms = login_ms
                self.push(max(login_ms, after_ms), self.on_login, (agent, day))
                return
            day += timedelta(days=1)

    def on_login(self, now_ms: int, item: _Agent | tuple[_Agent, date]) -> None:
        agent, day = (item, None) if isinstance(item, _Agent) else item
        if agent.state != LOGGED_OUT:
            return
        agent.pending_logout = False
        agent.pending_break = None
        if day is not None:
            self.push(agent.logout_ms, self.on_logout, (agent, day))
        agent.break_no = 0
        self._schedule_break(agent, now_ms, postpone=False)
        self.agent_changed(now_ms, agent, AVAILABLE)
        self._ready(now_ms, agent)

    def on_logout(self, now_ms: int, item: tuple[_Agent, date]) -> None:
        agent, day = item
        if agent.state in (AVAILABLE, AWAY):
            self._log_out(now_ms, agent)
        elif agent.state in (BUSY, ACW):
            agent.pending_logout = True
        self._next_shift(agent, day + timedelta(days=1), now_ms)

    def _log_out(self, now_ms: int, agent: _Agent) -> None:
        agent.idle_token += 1
        agent.break_token += 1
        agent.pending_logout = False
        agent.pending_break = None
        self.agent_changed(now_ms, agent, LOGGED_OUT)

    def _schedule_break(self, agent: _Agent, not_before_ms: int, *, postpone: bool) -> None:
        """Plan the agent's next break of the pattern.

        At login, breaks whose time has passed are skipped (an agent on duty
        when the run starts); after a break, one that is due too soon is
        postponed to ``not_before_ms``. A shift has one round of breaks, those
        that fit in it; agents without a shift repeat the pattern.
        """
        if not self.plan.breaks:
            return
        while True:
            cycle, index = divmod(agent.break_no, len(BREAKS))
            offset_ms, length_ms, reason = BREAKS[index]
            on_shift = agent.logout_ms >= 0
            if on_shift and (cycle > 0 or offset_ms + length_ms > agent.shift_hours * HOUR_MS):
                return
            agent.break_no += 1
            jitter = round(self.agent_rng.uniform(-BREAK_JITTER_MS, BREAK_JITTER_MS))
            at_ms = agent.break_anchor_ms + cycle * BREAK_CYCLE_MS + offset_ms + jitter
            if at_ms < not_before_ms:
                if not postpone:
                    continue
                at_ms = not_before_ms
            if on_shift and at_ms + length_ms > agent.logout_ms:
                return
            self.push(at_ms, self.on_break, (agent, agent.break_token, length_ms, reason))
            return

    def on_break(self, now_ms: int, item: tuple[_Agent, int, int, str]) -> None:
        agent, token, length_ms, reason = item
        if token != agent.break_token or agent.pending_logout:
            return
        if agent.state == AVAILABLE:
            self._go_away(now_ms, agent, length_ms, reason)
        elif agent.state in (BUSY, ACW):
            agent.pending_break = (length_ms, reason)  # after the contact in hand

    def _go_away(self, now_ms: int, agent: _Agent, length_ms: int, reason: str) -> None:
        agent.idle_token += 1
        agent.break_token += 1
        agent.pending_break = None
        self.agent_changed(now_ms, agent, AWAY, reason)
        self.push(now_ms + length_ms, self.on_break_end, (agent, agent.break_token))

    def on_break_end(self, now_ms: int, item: tuple[_Agent, int]) -> None:
        agent, token = item
        if agent.state != AWAY or token != agent.break_token:
            return
        self._schedule_break(agent, now_ms + MIN_BREAK_GAP_MS, postpone=True)
        self.agent_changed(now_ms, agent, AVAILABLE)
        self._ready(now_ms, agent)

    # -- routing -----------------------------------------------------------------------------------------------

    def _ready(self, now_ms: int, agent: _Agent) -> None:
        """An agent free for work (and already shown as such): the longest-waiting contact, or the idle pools."""
        contact = self._longest_waiting(agent)
        if contact is not None:
            self._answer(now_ms, contact, agent)
            return
        if agent.state != AVAILABLE:
            self.agent_changed(now_ms, agent, AVAILABLE)
        agent.idle_token += 1
        token = agent.idle_token
        for level, queues in enumerate(agent.levels):
            for q in queues:
                pool = self.idle[q][level]
                pool.append((token, agent))
                if len(pool) > 2 * len(self.agents) + 64:
                    # Entries of agents who left the pool from another queue: drop them now and then.
                    self.idle[q][level] = deque(e for e in pool if e[1].idle_token == e[0] and e[1].state == AVAILABLE)

    def _idle_agent(self, q: int) -> _Agent | None:
        """Take the longest-idle available agent with skill ``q``, primary skills first."""
        for pool in self.idle[q]:
            while pool:
                token, agent = pool.popleft()
                if token == agent.idle_token and agent.state == AVAILABLE:
                    agent.idle_token += 1
                    return agent
        return None

    def _longest_waiting(self, agent: _Agent) -> _Contact | None:
        """Take the longest-waiting contact of the agent's highest-priority queues that have any."""
        for queues in agent.levels:
            best: deque[tuple[int, int, _Contact, int]] | None = None
            for q in queues:
                line = self.waiting[q]
                while line:
                    _, _, contact, stint = line[0]
                    if contact.state == WAITING and contact.stint == stint:
                        break
                    line.popleft()
                if line and (best is None or line[0][:2] < best[0][:2]):
                    best = line
            if best is not None:
                return best.popleft()[2]
        return None

    # -- contacts ----------------------------------------------------------------------------------------------

    def next_arrival_ms(self) -> float:
        """The next arrival of the non-homogeneous Poisson process, by inverting its cumulative rate."""
        work = self.arrival_rng.expovariate(1.0)
        clock = self.arrival_clock_ms
        while True:
            if clock >= self.hour_end_ms:
                self._enter_hour(clock)
            rate = self.hour_rate_per_ms
            if rate > 0:
                step = work / rate
                if clock + step < self.hour_end_ms:
                    return clock + step
                work -= (self.hour_end_ms - clock) * rate
            clock = self.hour_end_ms

    def _enter_hour(self, clock_ms: float) -> None:
        offset = datetime.fromtimestamp(clock_ms / SECOND_MS, self.zone).utcoffset()
        offset_ms = 0 if offset is None else round(offset.total_seconds() * SECOND_MS)
        hour_start_local = (clock_ms + offset_ms) // HOUR_MS * HOUR_MS
        self.hour_end_ms = hour_start_local + HOUR_MS - offset_ms
        self.hour_rate_per_ms = self.rate_per_ms[int(hour_start_local // HOUR_MS) % 24]
        spread = self.plan.forecast_error
        if spread:
            # Lognormal with mean 1: the forecast is right on average, not hour by hour.
            sigma = math.sqrt(math.log1p(spread * spread))
            self.hour_rate_per_ms *= math.exp(self.volume_rng.gauss(-sigma * sigma / 2, sigma))

    def on_start(self, now_ms: int, _: None) -> None:
        """Schedule the first arrival (at ``start_ms``, after the agents on duty have logged in)."""
        self.arrival_clock_ms = self.next_arrival_ms()
        self.push(round(self.arrival_clock_ms), self.on_arrival, None)

    def on_arrival(self, now_ms: int, _: None) -> None:
        plan, rng = self.plan, self.arrival_rng
        q = rng.randrange(len(self.queues)) if len(self.queues) > 1 else 0
        voice_bound, chat_bound = self.channel_bounds[q]
        u = rng.random()
        if u >= chat_bound:
            if self.mixed:
                self._open_ticket(now_ms, q)
        else:
            self.contacts_arrived += 1
            recent = self.recent_unresolved[q]
            if rng.random() < plan.repeat_share and recent:
                index = rng.randrange(len(recent))
                recent[index], recent[-1] = recent[-1], recent[index]
                customer_id = recent.pop()
            else:
                customer_id = f"cust-{rng.randrange(100_000_000):08d}"
            contact = _Contact(
                f"{self.run}-c{self.contacts_arrived}", "voice" if u < voice_bound else "chat", customer_id
            )
            self.open_contacts += 1
            self._enqueue(now_ms, contact, q)
        if plan.contacts and self.contacts_arrived >= plan.contacts:
            self.arriving = False
            return
        self.arrival_clock_ms = self.next_arrival_ms()
        self.push(round(self.arrival_clock_ms), self.on_arrival, None)

    def _enqueue(self, now_ms: int, contact: _Contact, q: int) -> None:
        contact.queue = q
        contact.stint += 1
        contact.queued_ms = now_ms
        contact.state = WAITING
        queue = self.queues[q]
        self.emit(
            now_ms,
            "contact.queued",
            {
                "contact_id": contact.contact_id,
                "queue": queue,
                "channel": contact.channel,
                "customer_id": contact.customer_id,
            },
        )
        agent = self._idle_agent(q)
        if agent is not None:
            self._answer(now_ms, contact, agent)
            return
        self.enqueued += 1
        self.waiting[q].append((now_ms, self.enqueued, contact, contact.stint))
        deadline_ms = self.max_wait_ms
        outcome = "contact.flowed_out"
        if self.patience_rate is not None:
            patience_ms = max(1, round(self.service_rng.expovariate(self.patience_rate) * SECOND_MS))
            if deadline_ms is None or patience_ms < deadline_ms:
                deadline_ms, outcome = patience_ms, "contact.abandoned"
        if deadline_ms is not None:
            self.push(now_ms + deadline_ms, self.on_deadline, (contact, contact.stint, outcome))

    def on_deadline(self, now_ms: int, item: tuple[_Contact, int, str]) -> None:
        """Patience ran out (abandon) or the queue's maximum wait was reached (flow-out), if still waiting."""
        contact, stint, outcome = item
        if contact.state != WAITING or contact.stint != stint:
            return
        contact.state = DONE
        contact.wait_ms += now_ms - contact.queued_ms
        self.open_contacts -= 1
        fields: dict[str, Any] = {"contact_id": contact.contact_id, "queue": self.queues[contact.queue]}
        if outcome == "contact.flowed_out":
            fields["reason"] = "timeout"
        self.emit(now_ms, outcome, fields)

    def _answer(self, now_ms: int, contact: _Contact, agent: _Agent) -> None:
        plan, rng = self.plan, self.service_rng
        contact.state = SERVING
        contact.wait_ms += now_ms - contact.queued_ms
        agent.contact = contact
        queue = self.queues[contact.queue]
        self.emit(
            now_ms,
            "contact.answered",
            {"contact_id": contact.contact_id, "queue": queue, "channel": contact.channel, "agent_id": agent.agent_id},
        )
        self.agent_changed(now_ms, agent, BUSY)
        if plan.talk_distribution == "exponential":
            talk_s = rng.expovariate(1 / plan.talk_mean_s)
        else:
            talk_s = rng.lognormvariate(self.talk_log_median, plan.talk_sigma)
        talk_ms = max(1, round(talk_s * SECOND_MS))
        if plan.hold_share and rng.random() < plan.hold_share:
            hold_ms = SECOND_MS + round(rng.expovariate(1 / plan.mean_hold_s) * SECOND_MS)
            hold_at_ms = now_ms + max(1, round(talk_ms * rng.uniform(0.1, 0.8)))
            on_hold = {"contact_id": contact.contact_id, "queue": queue, "agent_id": agent.agent_id}
            self.emit_later(hold_at_ms, "contact.hold_started", on_hold)
            self.emit_later(hold_at_ms + hold_ms, "contact.hold_ended", dict(on_hold))
            talk_ms += hold_ms
        self.push(now_ms + talk_ms, self.on_talk_end, agent)

    def on_talk_end(self, now_ms: int, agent: _Agent) -> None:
        plan, rng = self.plan, self.service_rng
        contact = agent.contact
        assert contact is not None  # set by _answer, cleared after wrap-up
        q = contact.queue
        queue = self.queues[q]
        targets = self.transfer_targets[q]
        base = {"contact_id": contact.contact_id, "queue": queue, "agent_id": agent.agent_id}
        finished = True
        if contact.transfers == 0 and targets and plan.transfer_share and rng.random() < plan.transfer_share:
            target = targets[rng.randrange(len(targets))]
            contact.transfers += 1
            self.emit(now_ms, "contact.transferred", {**base, "to_queue": self.queues[target]})
            self.push(now_ms + TRANSFER_DELAY_MS, self.on_requeue, (contact, target))
            finished = False
        else:
            contact.resolved = rng.random() < plan.resolved_share
            contact.state = DONE
            self.emit(now_ms, "contact.ended", {**base, "resolved": contact.resolved})
        acw_ms = round(rng.uniform(0.5, 1.5) * plan.mean_acw_s * SECOND_MS) if plan.mean_acw_s else 0
        missing = bool(plan.missing_wrapup_share) and rng.random() < plan.missing_wrapup_share
        wrapup = None if missing else {**base, "disposition": _pick(self.dispositions, rng.random())}
        if acw_ms > 0:
            self.agent_changed(now_ms, agent, ACW)
            self.push(now_ms + acw_ms, self.on_acw_end, (agent, contact, wrapup, finished))
        else:
            self.on_acw_end(now_ms, (agent, contact, wrapup, finished))

    def on_acw_end(self, now_ms: int, item: tuple[_Agent, _Contact, dict[str, Any] | None, bool]) -> None:
        agent, contact, wrapup, finished = item
        if wrapup is not None:
            self.emit(now_ms, "contact.wrapup_ended", wrapup)
        agent.contact = None
        if finished:
            self.open_contacts -= 1
            if not contact.resolved:
                recent = self.recent_unresolved[contact.queue]
                recent.append(contact.customer_id)
                if len(recent) > RECENT_UNRESOLVED:
                    recent.pop(0)
            if self.mixed:
                self._survey_contact(now_ms, contact)
        if agent.pending_logout:
            self._log_out(now_ms, agent)
        elif agent.pending_break is not None:
            self._go_away(now_ms, agent, *agent.pending_break)
        else:
            self._ready(now_ms, agent)

    def on_requeue(self, now_ms: int, item: tuple[_Contact, int]) -> None:
        contact, target = item
        self._enqueue(now_ms, contact, target)

    # -- follow-ups (mixed) ------------------------------------------------------------------------------------

    def _survey(self, at_ms: int, satisfaction: float, rated: dict[str, str]) -> None:
        """A survey of a random kind; ``satisfaction`` about 0 is a typical customer, each unit a notch."""
        kind = _pick(self.survey_kinds, self.follow_rng.random())
        if kind == "csat":
            score = min(5, max(1, round(4 + satisfaction)))
        elif kind == "nps":
            score = min(10, max(0, round(8 + 1.8 * satisfaction)))
        else:  # ces: 1..7, higher is easier
            score = min(7, max(1, round(5.5 + 1.2 * satisfaction)))
        self.emit_later(at_ms, "survey.submitted", {"kind": kind, "score": score, **rated})

    def _survey_contact(self, now_ms: int, contact: _Contact) -> None:
        rng = self.follow_rng
        if rng.random() >= self.plan.survey_share:
            return
        satisfaction = (
            0.6
            + rng.gauss(0, 0.9)
            - contact.wait_ms / (120 * SECOND_MS)
            - (0 if contact.resolved else 1.0)
            - 0.4 * contact.transfers
        )
        at_ms = now_ms + round(rng.uniform(*SURVEY_DELAY_S) * SECOND_MS)
        self._survey(at_ms, satisfaction, {"contact_id": contact.contact_id})

    def _open_ticket(self, now_ms: int, q: int) -> None:
        """An email: a ticket's whole life, scheduled now (replies, maybe escalation, solve, reopen, close)."""
        rng, plan = self.follow_rng, self.plan
        self.tickets_created += 1
        ticket_id = f"{self.run}-t{self.tickets_created}"
        owner = {"ticket_id": ticket_id, "queue": self.queues[q], "channel": "email"}
        skilled = self.skilled[q] or self.agents
        agent_id = skilled[rng.randrange(len(skilled))].agent_id
        steps: list[tuple[str, dict[str, Any]]] = []
        if rng.random() < 0.2:
            steps.append(("ticket.replied", {"agent_id": agent_id, "public": False}))  # an internal note first
        steps += [("ticket.replied", {"agent_id": agent_id, "public": True}) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.05:
            steps.append(("ticket.escalated", {}))
        steps.append(("ticket.solved", {}))
        reopened = rng.random() < 0.1
        if reopened:
            steps += [("ticket.reopened", {}), ("ticket.replied", {"agent_id": agent_id, "public": True})]
            steps.append(("ticket.solved", {}))
        self.emit(now_ms, "ticket.created", dict(owner))
        at_ms = now_ms
        for kind, fields in steps:
            at_ms += round(rng.expovariate(1 / TICKET_STEP_MEAN_S) * SECOND_MS) + 1
            self.emit_later(at_ms, kind, {**owner, **fields})
        solved_ms = at_ms
        at_ms += round(rng.expovariate(1 / TICKET_CLOSE_MEAN_S) * SECOND_MS) + 1
        self.emit_later(at_ms, "ticket.closed", dict(owner))
        if rng.random() < plan.survey_share:
            hours_open = (solved_ms - now_ms) / HOUR_MS
            satisfaction = 0.6 + rng.gauss(0, 0.9) - hours_open / 4 - (0.8 if reopened else 0)
            self._survey(
                solved_ms + round(rng.uniform(*SURVEY_DELAY_S) * SECOND_MS), satisfaction, {"ticket_id": ticket_id}
            )


class ContactGenerator:
    """Yields ``(ts_ms, event)`` in event-time order for ``plan`` starting at ``start_ms``.

    Each call of :meth:`events` runs the simulation afresh; ``contacts_arrived``
    counts the voice and chat contacts of the latest run so far.
    """

    def __init__(self, plan: SimulationPlan, start_ms: int) -> None:
        self._plan = plan
        self._start_ms = start_ms
        self._simulation: _Simulation | None = None

    @property
    def contacts_arrived(self) -> int:
        return 0 if self._simulation is None else self._simulation.contacts_arrived

    @property
    def agents(self) -> int:
        """Agents the plan staffs (all queues, all shifts)."""
        return len(_Simulation(self._plan, self._start_ms).agents)

    def events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        self._simulation = _Simulation(self._plan, self._start_ms)
        return self._simulation.run_events()


# --- running it -----------------------------------------------------------------------------------------------


def expected_span_s(plan: SimulationPlan) -> float:
    """Event time a bounded run is expected to span; one hour if unbounded.

    Its arrivals (contacts ÷ mean contact rate) and the handling of the last
    ones (a few handle times; ticket steps hours later are not counted).
    """
    if not plan.contacts:
        return UNBOUNDED_SPAN_S
    return plan.contacts / plan.mean_contact_rate_per_s + HANDLING_TAIL_AHTS * plan.mean_handle_s


def event_clock_start_ms(plan: SimulationPlan, now_ms: int) -> int:
    """Where a run started at wall time ``now_ms`` starts its event clock (see "Pacing" in the module docstring)."""
    if not plan.paced or plan.speed <= 1:
        return now_ms
    backfill_s = min(expected_span_s(plan), MAX_BACKFILL_S) * (plan.speed - 1) / plan.speed
    return now_ms - round(backfill_s * SECOND_MS)


def _pace_keys(
    events: Iterator[tuple[int, dict[str, Any]]], plan: SimulationPlan, start_ms: int, now_ms: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each event with the wall-clock offset (ms after the run's start) at which it may leave.

    ``speed`` times faster than event time, but never before the wall clock
    has reached the event's time. Non-decreasing, as event time is.
    """
    speed = plan.speed
    for ts_ms, event in events:
        yield max(round((ts_ms - start_ms) / speed), ts_ms - now_ms), event


async def run_simulation(
    plan: SimulationPlan,
    settings: Settings,
    output: Path | None,
    *,
    dry_run: bool = False,
    start_ms: int | None = None,
) -> SinkReport:
    """Simulate ``plan`` into the input topic, an NDJSON file (``-``: stdout) or nowhere (``dry_run``).

    Paced unless ``plan.paced`` is False; progress (contacts) on stderr. The
    event clock starts at :func:`event_clock_start_ms` unless ``start_ms`` is
    given. Returns the sink's report, for ``report.summary()``.
    """
    now_ms = time.time_ns() // 1_000_000
    if start_ms is None:
        start_ms = event_clock_start_ms(plan, now_ms)
    generator = ContactGenerator(plan, start_ms)
    sink = await open_sink(settings, output, dry_run=dry_run)
    progress = Progress("simulate: contacts", total=plan.contacts or None)
    counted = 0
    try:
        if plan.paced:
            keyed = _pace_keys(generator.events(), plan, start_ms, now_ms)
            first = next(keyed, None)
            if first is None:
                return sink.report
            # paced() sends its first event at once: wait for that one's own offset first.
            await asyncio.sleep(max(0, first[0]) / SECOND_MS)
            stream = paced(itertools.chain([first], keyed), 1.0)
        else:
            stream = paced(generator.events(), None)
        async for _, event in stream:
            await sink.send(event, "simulator")
            arrived = generator.contacts_arrived
            if arrived != counted:
                progress.advance(arrived - counted)
                counted = arrived
    finally:
        await sink.close()
        progress.finish()
    return sink.report


def measure_throughput(plan: SimulationPlan, *, max_events: int = 1_000_000) -> float:
    """Events the generator yields per second of wall time, as fast as possible, without encoding or a sink.

    Stops after ``max_events`` (so an unbounded plan is fine); the event clock
    starts at a fixed instant (2024-03-01T12:00:00Z).
    """
    started = time.perf_counter()
    count = sum(1 for _ in itertools.islice(ContactGenerator(plan, MEASURE_START_MS).events(), max_events))
    elapsed = time.perf_counter() - started
    return count / elapsed if elapsed > 0 else 0.0
