"""The contact-center simulation: reproducible, time-ordered, valid, and a faithful queueing model.

Every generated event must decode; a contact's events folded through the
queue-stint core give one fact per stint; agents serve one contact at a time,
only for their skills, only while logged in; no contact waits while an agent
with its skill is free; and one queue with always-available agents behaves
as Erlang C says. Start time T0 is 2024-03-01T12:00:00Z = 1_709_294_400_000 ms
(a Friday; the profile's hours are UTC unless a test says otherwise).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.config import ConfigError, Settings
from ccpulse.domain.erlang import erlang_c_asa_s, erlang_c_service_level, erlang_c_wait_probability
from ccpulse.domain.events import ContactEvent
from ccpulse.domain.queue_stints import (
    OUTCOME_OF_EVENT,
    ContactQueueState,
    apply_contact_event,
    unattributed_outcomes,
)
from ccpulse.sources.simulator import (
    DAY_PROFILE,
    ContactGenerator,
    SimulationPlan,
    break_shares,
    event_clock_start_ms,
    forecast_staffing,
    measure_throughput,
    run_simulation,
    shift_plan,
)

T0_MS = 1_709_294_400_000
MIDNIGHT_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z
HOUR_MS = 3_600_000
CONTACTS = 300
OUTCOME_TYPES = {event_type.value for event_type in OUTCOME_OF_EVENT}
Events = list[tuple[int, dict[str, Any]]]


def generate(start_ms: int = T0_MS, **plan_fields: Any) -> Events:
    plan = SimulationPlan(**{"contacts": CONTACTS, "paced": False, **plan_fields})
    return list(ContactGenerator(plan, start_ms).events())


def encoded(events: Events) -> list[bytes]:
    return [json.dumps(event) for _, event in events]


# A small center (two queues, staffed from the forecast but 15 % short, so that
# callers wait and abandon) over about two hours with everything switched on:
# transfers, holds, breaks, tickets and surveys.
BUSY_CENTER = {
    "contacts": 3_000,
    "rate_per_s": 0.5,
    "queues": ("sales", "support"),
    "staffing": 0.85,
    "transfer_share": 0.3,
    "mixed": True,
    "seed": 7,
}


@pytest.fixture(scope="module")
def busy_center() -> Events:
    return generate(**BUSY_CENTER)


@pytest.fixture(scope="module")
def whole_day() -> Events:
    """A small center staffed from its forecast, from midnight through a whole day of the day profile."""
    return generate(start_ms=MIDNIGHT_MS, **{**BUSY_CENTER, "contacts": 2_400, "rate_per_s": 0.05, "staffing": 1.0})


# Too few agents (70 % of the forecast's): long waits, many abandons.
UNDERSTAFFED = {**BUSY_CENTER, "staffing": 0.7, "transfer_share": 0.08, "mixed": False}


def events_by_contact(events: Events) -> dict[str, list[dict[str, Any]]]:
    by_contact: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, event in events:
        if event["type"].startswith("contact."):
            by_contact[event["contact_id"]].append(event)
    return by_contact


# --- reproducibility, order, validity -----------------------------------------------------------------------------


def test_same_plan_seed_and_start_give_byte_identical_output() -> None:
    assert encoded(generate(seed=3, mixed=True)) == encoded(generate(seed=3, mixed=True))


def test_different_seed_gives_different_events() -> None:
    first, second = generate(seed=3), generate(seed=4)

    assert [ts for ts, _ in first] != [ts for ts, _ in second]
    assert [e["queue"] for _, e in first if "queue" in e] != [e["queue"] for _, e in second if "queue" in e]


def test_a_later_start_gives_new_ids_so_a_rerun_is_not_taken_for_duplicates() -> None:
    first, later = generate(seed=3), generate(start_ms=T0_MS + 86_400_000 * 7, seed=3)

    assert not {e["event_id"] for _, e in first} & {e["event_id"] for _, e in later}
    assert not {e["contact_id"] for _, e in first} & {e["contact_id"] for _, e in later}


def test_events_come_out_in_non_decreasing_event_time(busy_center: Events) -> None:
    times = [ts_ms for ts_ms, _ in busy_center]

    assert times == sorted(times)
    assert times[0] >= T0_MS


def test_every_event_decodes_and_its_ts_string_is_the_yielded_time(busy_center: Events) -> None:
    for ts_ms, event in busy_center:
        decoded = decode_event(json.dumps(event))
        assert decoded.ts_ms == ts_ms
        assert decoded.event_id == event["event_id"]
        assert event["source"] == "simulator"


def test_event_ids_are_unique_and_ordered_like_the_events(busy_center: Events) -> None:
    event_ids = [event["event_id"] for _, event in busy_center]

    assert len(set(event_ids)) == len(event_ids)
    # The worker orders an agent's simultaneous state changes by event id.
    assert event_ids == sorted(event_ids)


def test_mixed_stream_has_every_family(busy_center: Events) -> None:
    types = Counter(event["type"] for _, event in busy_center)

    assert {
        "agent.state_changed",
        "contact.hold_started",
        "contact.transferred",
        "contact.abandoned",
        "survey.submitted",
        "ticket.created",
        "ticket.replied",
        "ticket.solved",
        "ticket.closed",
    } <= types.keys()
    states = Counter(e["state"] for _, e in busy_center if e["type"] == "agent.state_changed")
    assert {"available", "busy", "acw", "away"} <= states.keys()


def test_contact_only_and_mixed_runs_simulate_the_same_contacts() -> None:
    def contact_events(events: Events) -> list[tuple[int, dict[str, Any]]]:
        return [
            (ts, {k: v for k, v in e.items() if k != "event_id"})
            for ts, e in events
            if e["type"].startswith("contact.")
        ]

    plain, mixed = generate(seed=5), generate(seed=5, mixed=True)

    assert {e["type"].split(".")[0] for _, e in plain} == {"contact"}
    assert contact_events(plain) == contact_events(mixed)


# --- contacts and their stints ------------------------------------------------------------------------------------


def test_each_contact_starts_with_contact_queued(busy_center: Events) -> None:
    for contact_id, events in events_by_contact(busy_center).items():
        assert events[0]["type"] == "contact.queued", contact_id


def test_each_stint_has_exactly_one_outcome(busy_center: Events) -> None:
    two_stint_contacts = 0
    for contact_id, events in events_by_contact(busy_center).items():
        stints: list[list[str]] = []
        for event in events:
            if event["type"] == "contact.queued":
                stints.append([])
            stints[-1].append(event["type"])
        assert [sum(t in OUTCOME_TYPES for t in stint) for stint in stints] == [1] * len(stints), contact_id
        two_stint_contacts += len(stints) == 2
    assert two_stint_contacts > 0  # transfers re-queue contacts


def test_folding_each_contact_gives_one_fact_per_stint_and_nothing_pending(busy_center: Events) -> None:
    for contact_id, events in events_by_contact(busy_center).items():
        state = ContactQueueState()
        fact_count = 0
        for event in events:
            decoded = decode_event(json.dumps(event))
            assert isinstance(decoded, ContactEvent)
            state, changes = apply_contact_event(state, decoded)
            assert changes.retracted == ()  # in time order nothing is ever retracted
            fact_count += len(changes.published)
        assert fact_count == sum(event["type"] == "contact.queued" for event in events), contact_id
        assert unattributed_outcomes(state) == ()


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("contacts", [1, 17, 250])
def test_contacts_n_gives_exactly_n_distinct_contact_ids(contacts: int, mixed: bool) -> None:
    contact_ids = {
        event["contact_id"] for _, event in generate(contacts=contacts, mixed=mixed) if "contact_id" in event
    }

    assert len(contact_ids) == contacts


def test_some_wrapups_are_missing_so_the_acw_timeout_applies() -> None:
    events = generate(contacts=2_000, missing_wrapup_share=0.25)
    types = Counter(event["type"] for _, event in events)
    segments = types["contact.ended"] + types["contact.transferred"]

    assert types["contact.wrapup_ended"] / segments == pytest.approx(0.75, abs=0.04)


# --- agents and routing -------------------------------------------------------------------------------------------


@dataclass
class Replay:
    """The center as its events show it: agents' states and skills, waiting contacts, conversations."""

    agents: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # contact -> queue
    talking: dict[str, str] = field(default_factory=dict)  # agent -> contact
    problems: list[str] = field(default_factory=list)  # answers by the wrong agent, or by a busy one
    idle_while_waiting: list[str] = field(default_factory=list)

    def idle_agents_for(self, queue: str) -> list[str]:
        return [a for a, (state, queues) in self.agents.items() if state == "available" and queue in queues]

    def end_of_instant(self, ts_ms: int) -> None:
        for contact_id, queue in self.waiting.items():
            idle = self.idle_agents_for(queue)
            if idle:
                self.idle_while_waiting.append(f"{ts_ms}: {contact_id} waits in {queue} while {idle} are available")

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "agent.state_changed":
            self.agents[event["agent_id"]] = (event["state"], tuple(event["queues"]))
        elif kind == "contact.queued":
            self.waiting[event["contact_id"]] = event["queue"]
        elif kind in ("contact.abandoned", "contact.flowed_out"):
            del self.waiting[event["contact_id"]]
        elif kind == "contact.answered":
            agent_id, contact_id = event["agent_id"], event["contact_id"]
            queue = self.waiting.pop(contact_id)
            state, skills = self.agents.get(agent_id, ("never logged in", ()))
            if agent_id in self.talking:
                self.problems.append(f"{agent_id} answers {contact_id} while talking to {self.talking[agent_id]}")
            if state not in ("available", "acw"):  # straight from after-contact work to the next contact
                self.problems.append(f"{agent_id} answers {contact_id} while {state}")
            if queue not in skills:
                self.problems.append(f"{agent_id} ({skills}) answers {contact_id} in {queue}")
            self.talking[agent_id] = contact_id
        elif kind in ("contact.ended", "contact.transferred") and (
            self.talking.pop(event["agent_id"], None) != event["contact_id"]
        ):
            self.problems.append(f"{event['agent_id']} ends {event['contact_id']} it did not answer")


def replay(events: Events) -> Replay:
    center = Replay()
    for ts_ms, group in itertools.groupby(events, key=lambda pair: pair[0]):
        for _, event in group:
            center.apply(event)
        center.end_of_instant(ts_ms)
    return center


def test_agents_answer_one_contact_at_a_time_for_their_skills_while_logged_in(busy_center: Events) -> None:
    assert replay(busy_center).problems == []


def test_no_contact_waits_while_an_agent_with_its_skill_is_available(busy_center: Events, whole_day: Events) -> None:
    """Checked at the end of every instant. So a caller abandons only when patience ran out before any agent
    with the skill was free: patience shorter than the wait it would have had."""
    assert replay(busy_center).idle_while_waiting == []
    assert replay(whole_day).idle_while_waiting == []


def test_shift_change_logs_agents_out_and_in_and_still_routes_correctly(whole_day: Events) -> None:
    states = Counter(e["state"] for _, e in whole_day if e["type"] == "agent.state_changed")

    assert states["logged_out"] > 0
    assert states["available"] > states["logged_out"]
    assert replay(whole_day).problems == []


def test_an_agent_finishes_the_contact_in_hand_before_a_break_or_logout(whole_day: Events) -> None:
    last_state: dict[str, tuple[str, int]] = {}
    breaks = logouts_after_acw = 0
    for ts_ms, event in whole_day:
        if event["type"] != "agent.state_changed":
            continue
        state, since_ms = last_state.get(event["agent_id"], ("logged_out", 0))
        if event["state"] in ("away", "logged_out"):
            assert state != "busy", event
            if state == "acw":
                # After-contact work lasts at least half of mean_acw_s (30 s): it was not cut short.
                assert ts_ms - since_ms >= 15_000, event
                logouts_after_acw += 1
            breaks += event["state"] == "away"
        last_state[event["agent_id"]] = (event["state"], ts_ms)
    assert breaks > 0
    assert logouts_after_acw > 0


def test_longest_waiting_contact_is_answered_first_within_a_queue(busy_center: Events) -> None:
    queued_ms: dict[str, int] = {}
    answered_queued_ms: dict[str, list[int]] = defaultdict(list)
    for ts_ms, event in busy_center:
        if event["type"] == "contact.queued":
            queued_ms[event["contact_id"]] = ts_ms
        elif event["type"] == "contact.answered":
            answered_queued_ms[event["queue"]].append(queued_ms[event["contact_id"]])

    for queue, order in answered_queued_ms.items():
        assert order == sorted(order), queue


# --- patience ------------------------------------------------------------------------------------------------------


def waits_by_outcome(events: Events) -> dict[str, list[int]]:
    queued_ms: dict[str, int] = {}
    waits: dict[str, list[int]] = defaultdict(list)
    for ts_ms, event in events:
        if event["type"] == "contact.queued":
            queued_ms[event["contact_id"]] = ts_ms
        elif event["type"] in OUTCOME_TYPES:
            waits[event["type"]].append(ts_ms - queued_ms[event["contact_id"]])
    return waits


def test_abandons_and_flow_outs_happen_only_while_waiting_and_within_the_maximum_wait(busy_center: Events) -> None:
    waits = waits_by_outcome(busy_center)

    assert waits["contact.abandoned"]
    assert all(0 < wait < 300_000 for wait in waits["contact.abandoned"])
    assert all(wait == 300_000 for wait in waits["contact.flowed_out"])
    # Some are short abandons (<= 5 s), as in real queues.
    assert any(wait <= 5_000 for wait in waits["contact.abandoned"])


def test_infinitely_patient_callers_never_abandon_and_without_maximum_wait_never_flow_out() -> None:
    events = generate(**{**UNDERSTAFFED, "mean_patience_s": None, "max_wait_s": None})
    waits = waits_by_outcome(events)

    assert set(waits) == {"contact.answered"}
    assert max(waits["contact.answered"]) > 60_000  # understaffed: they did wait


def test_more_patience_means_fewer_abandons() -> None:
    def abandon_ratio(patience_s: float) -> float:
        waits = waits_by_outcome(generate(**{**UNDERSTAFFED, "mean_patience_s": patience_s}))
        return len(waits["contact.abandoned"]) / sum(len(w) for w in waits.values())

    assert abandon_ratio(30) > abandon_ratio(120) > abandon_ratio(600)


# --- arrivals --------------------------------------------------------------------------------------------------------


def arrival_times(events: Events) -> list[int]:
    """When each contact first entered a queue (a transfer's re-queue is not an arrival)."""
    first_queued: dict[str, int] = {}
    for ts_ms, event in events:
        if event["type"] == "contact.queued":
            first_queued.setdefault(event["contact_id"], ts_ms)
    return list(first_queued.values())


def arrivals_by_hour(events: Events, midnight_ms: int) -> Counter[int]:
    return Counter((ts_ms - midnight_ms) // HOUR_MS % 24 for ts_ms in arrival_times(events))


def test_day_profile_brings_many_more_contacts_in_peak_hours_than_at_night() -> None:
    plan = SimulationPlan(rate_per_s=0.2, contacts=round(0.2 * 0.9 * sum(DAY_PROFILE) * 3600), paced=False)
    events = list(ContactGenerator(plan, MIDNIGHT_MS).events())
    by_hour = arrivals_by_hour(events, MIDNIGHT_MS)

    peak = by_hour[10] + by_hour[11] + by_hour[13] + by_hour[14]
    night = by_hour[1] + by_hour[2] + by_hour[3] + by_hour[4]
    assert peak > 10 * night > 0
    assert by_hour[12] < (by_hour[11] + by_hour[13]) / 2  # the lunch dip


def test_the_profile_follows_the_local_time_zone() -> None:
    # Tokyo is 9 hours ahead: its 10-12 peak is 01-03 UTC, and UTC 15-19 is its night.
    plan = SimulationPlan(rate_per_s=0.2, contacts=2_000, paced=False, time_zone="Asia/Tokyo")
    by_hour = arrivals_by_hour(list(ContactGenerator(plan, MIDNIGHT_MS).events()), MIDNIGHT_MS)

    assert by_hour[1] + by_hour[2] > 10 * (by_hour[17] + by_hour[18])


def test_flat_profile_and_no_forecast_error_give_the_planned_rate() -> None:
    plan = SimulationPlan(rate_per_s=1.0, contacts=20_000, paced=False, profile="flat", forecast_error=0.0)
    arrivals = arrival_times(list(ContactGenerator(plan, T0_MS).events()))
    span_s = (max(arrivals) - T0_MS) / 1000

    # Voice and chat are 90 % of arrivals; a Poisson count of 20,000 has a relative SE of 0.7 %.
    assert len(arrivals) / span_s == pytest.approx(0.9, rel=0.03)


def test_channel_mix_per_queue() -> None:
    # Without transfers, which keep a contact's channel in the queue they go to.
    plan_fields = {"channel_mix_by_queue": (("support", 0.0, 1.0, 0.0),), "contacts": 1_000, "transfer_share": 0.0}
    channels = {(e["queue"], e["channel"]) for _, e in generate(**plan_fields) if e["type"] == "contact.queued"}

    assert ("support", "chat") in channels
    assert ("support", "voice") not in channels
    assert {("sales", "voice"), ("sales", "chat")} <= channels


# --- staffing -----------------------------------------------------------------------------------------------------


def test_forecast_staffing_follows_the_day_and_the_target() -> None:
    plan = SimulationPlan()
    hourly = forecast_staffing(plan)

    for queue in hourly:
        assert queue[10] > 5 * queue[3] > 0
    tighter = forecast_staffing(SimulationPlan(target_sl=0.95))
    assert sum(map(sum, tighter)) > sum(map(sum, hourly))


@pytest.mark.parametrize("breaks", [False, True])
@pytest.mark.parametrize(
    "required",
    [[5] * 24, [1, 1, 1, 1, 1, 2, 4, 9, 15, 20, 24, 23, 18, 20, 22, 19, 16, 12, 9, 6, 5, 3, 2, 1], [0] * 20 + [3] * 4],
    ids=["flat", "day", "evening-only"],
)
def test_shift_plan_keeps_the_required_agents_available_every_hour(required: list[int], breaks: bool) -> None:
    shares = {hours: break_shares(hours) if breaks else (0.0,) * hours for hours in (4, 8)}
    available = [0.0] * 24
    for start, hours in shift_plan(required, breaks=breaks):
        for k in range(hours):
            available[(start + k) % 24] += 1 - shares[hours][k]

    assert all(available[h] >= required[h] - 1e-9 for h in range(24))


def test_fixed_head_count_logs_everyone_in_for_the_whole_run() -> None:
    events = generate(contacts=200, agents=4, breaks=False, mixed=True, queues=("a", "b"))
    states = [(e["agent_id"], e["state"]) for _, e in events if e["type"] == "agent.state_changed"]

    assert len({agent for agent, _ in states}) == 8
    assert {state for _, state in states} <= {"available", "busy", "acw"}


# --- surveys and tickets --------------------------------------------------------------------------------------------


def test_surveys_score_lower_after_long_waits() -> None:
    surveyed = generate(**{**UNDERSTAFFED, "mixed": True, "survey_share": 1.0})
    wait_ms: dict[str, int] = defaultdict(int)
    queued_ms: dict[str, int] = {}
    for ts_ms, event in surveyed:
        if event["type"] == "contact.queued":
            queued_ms[event["contact_id"]] = ts_ms
        elif event["type"] == "contact.answered":
            wait_ms[event["contact_id"]] += ts_ms - queued_ms[event["contact_id"]]
    csat = [
        (wait_ms[e["contact_id"]], e["score"])
        for _, e in surveyed
        if e["type"] == "survey.submitted" and e["kind"] == "csat" and "contact_id" in e
    ]
    quick = [score for wait, score in csat if wait <= 10_000]
    slow = [score for wait, score in csat if wait > 60_000]

    assert len(quick) > 20
    assert len(slow) > 20
    assert statistics.fmean(slow) < statistics.fmean(quick) - 0.3


def test_every_ticket_is_created_first_and_closed_last(busy_center: Events) -> None:
    steps: dict[str, list[str]] = defaultdict(list)
    for _, event in busy_center:
        if event["type"].startswith("ticket."):
            steps[event["ticket_id"]].append(event["type"])
            assert event["channel"] == "email"

    assert steps
    for ticket_id, kinds in steps.items():
        assert kinds[0] == "ticket.created", ticket_id
        assert kinds[-1] == "ticket.closed", ticket_id
        assert "ticket.solved" in kinds, ticket_id


# --- the Erlang C check -------------------------------------------------------------------------------------------


ERLANG_AGENTS = 10
ERLANG_RATE_PER_S = 1.0
ERLANG_AHT_S = 8.0  # offered load 8 erlangs on 10 agents: P(wait) about 0.41
ERLANG_THRESHOLD_S = 4.0  # half the handle time: SL about 0.85
ERLANG_CONTACTS = 200_000
WARM_UP_MS = 1_000_000  # 125 handle times
BATCHES = 20


def batch_mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    size = len(values) // BATCHES
    means = [statistics.fmean(values[i * size : (i + 1) * size]) for i in range(BATCHES)]
    return statistics.fmean(means), statistics.stdev(means) / BATCHES**0.5


def test_one_queue_with_always_available_agents_matches_erlang_c() -> None:
    """M/M/10 at 8 erlangs: P(wait), ASA and SL(4 s) of the simulated events against Erlang C's closed forms.

    One queue, 10 agents logged in throughout (no shifts, breaks or absence),
    Poisson arrivals at 1/s (flat profile, no forecast error), exponential
    talk of mean 8 s, no hold, transfer or ACW, infinite patience: exactly the
    M/M/N queue that ``ccpulse.domain.erlang`` solves. 200,000 contacts (about
    55 simulated hours), the first 1,000 s dropped as warm-up since the run
    starts with an empty queue.

    Tolerance: waits of successive callers are correlated, so the standard
    error comes from 20 batch means of consecutive callers (about 10,000 each,
    many times the queue's relaxation time, hence nearly independent batches).
    Each estimate must lie within 4 standard errors of the exact value, a
    chance failure probability below 1e-4 per measure for a correct model,
    and also within a loose absolute bound, so that a run whose batches all
    agree on a wrong value cannot pass. The test must also be sharp: the
    standard errors must be small (P(wait) to within 0.01), so that a queue
    that does not really queue (e.g. independent waits) would fail; one agent
    more than the model assumes already misses P(wait) by 47 standard errors.
    Seed 2024 gives P(wait) 0.4001 against 0.4092 (SE 0.0052), ASA 1.566 s
    against 1.637 s (SE 0.046), SL(4 s) 0.856 against 0.850 (SE 0.004).
    """
    plan = SimulationPlan(
        contacts=ERLANG_CONTACTS,
        seed=2024,
        queues=("erlang",),
        agents=ERLANG_AGENTS,
        breaks=False,
        profile="flat",
        forecast_error=0.0,
        rate_per_s=ERLANG_RATE_PER_S,
        channel_mix=(1.0, 0.0, 0.0),
        talk_distribution="exponential",
        talk_mean_s=ERLANG_AHT_S,
        hold_share=0.0,
        transfer_share=0.0,
        mean_acw_s=0.0,
        mean_patience_s=None,
        max_wait_s=None,
        paced=False,
    )
    queued_ms: dict[str, int] = {}
    waits_ms: list[int] = []
    for ts_ms, event in ContactGenerator(plan, T0_MS).events():
        if event["type"] == "contact.queued":
            queued_ms[event["contact_id"]] = ts_ms
        elif event["type"] == "contact.answered":
            arrived_ms = queued_ms.pop(event["contact_id"])
            if arrived_ms - T0_MS >= WARM_UP_MS:
                waits_ms.append(ts_ms - arrived_ms)
    assert not queued_ms  # infinite patience: everyone is answered

    load = ERLANG_RATE_PER_S * ERLANG_AHT_S
    checks: list[tuple[str, Callable[[int], float], float, float]] = [
        ("P(wait)", lambda wait: float(wait > 0), erlang_c_wait_probability(ERLANG_AGENTS, load), 0.03),
        ("ASA s", lambda wait: wait / 1000, erlang_c_asa_s(ERLANG_AGENTS, ERLANG_RATE_PER_S, ERLANG_AHT_S), 0.25),
        (
            "SL(4 s)",
            lambda wait: float(wait <= ERLANG_THRESHOLD_S * 1000),
            erlang_c_service_level(ERLANG_AGENTS, ERLANG_RATE_PER_S, ERLANG_AHT_S, ERLANG_THRESHOLD_S),
            0.03,
        ),
    ]
    for name, measure, exact, absolute in checks:
        simulated, standard_error = batch_mean_and_standard_error([measure(wait) for wait in waits_ms])
        message = f"{name}: simulated {simulated:.4f}, Erlang C {exact:.4f}, SE {standard_error:.4f}"
        assert abs(simulated - exact) < 4 * standard_error, message
        assert abs(simulated - exact) < absolute, message
        if name == "P(wait)":
            assert standard_error < 0.01, message


# --- plans ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_fields", "message"),
    [
        pytest.param({"rate_per_s": 0.0}, "--rate", id="rate-zero"),
        pytest.param({"rate_per_s": -1.0}, "--rate", id="rate-negative"),
        pytest.param({"rate_per_s": float("nan")}, "--rate", id="rate-nan"),
        pytest.param({"speed": 0.0}, "--speed", id="speed-zero"),
        pytest.param({"queues": ()}, "--queues", id="no-queues"),
        pytest.param({"queues": ("a", "a")}, "--queues", id="queue-twice"),
        pytest.param({"contacts": -1}, "--contacts", id="negative-contacts"),
        pytest.param({"agents": 0}, "--agents", id="no-agents"),
        pytest.param({"staffing": 0.0}, "--staffing", id="staffing-zero"),
        pytest.param({"profile": "weekend"}, "--profile", id="unknown-profile"),
        pytest.param({"profile": (1.0,) * 23}, "--profile", id="profile-23-hours"),
        pytest.param({"profile": (0.0,) * 24}, "--profile", id="profile-all-zero"),
        pytest.param({"time_zone": "Mars/Olympus"}, "--time-zone", id="unknown-zone"),
        pytest.param({"channel_mix": (0.0, 0.0, 1.0)}, "--channel-mix", id="email-only"),
        pytest.param({"channel_mix": (1.0, -0.1, 0.0)}, "--channel-mix", id="negative-share"),
        pytest.param({"channel_mix_by_queue": (("nope", 1.0, 0.0, 0.0),)}, "--channel-mix-by-queue", id="mix-queue"),
        pytest.param({"talk_distribution": "gamma"}, "--talk-distribution", id="talk-distribution"),
        pytest.param({"talk_median_s": 0.0}, "--talk-median", id="talk-median"),
        pytest.param({"mean_patience_s": 0.0}, "--patience", id="patience-zero"),
        pytest.param({"max_wait_s": -5.0}, "--max-wait", id="max-wait"),
        pytest.param({"hold_share": 1.5}, "--hold-share", id="hold-share"),
        pytest.param({"target_sl": 1.0}, "--target-sl", id="target-sl"),
        pytest.param({"absence_share": 1.0}, "--absence-share", id="everyone-absent"),
        pytest.param({"forecast_error": -0.1}, "--forecast-error", id="forecast-error"),
    ],
)
def test_invalid_simulation_plan_raises_config_error_naming_the_option(
    plan_fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        SimulationPlan(**plan_fields)


def test_event_clock_starts_in_the_past_when_faster_than_real_time() -> None:
    now_ms = T0_MS
    real_time = SimulationPlan(contacts=1_000)
    fast = SimulationPlan(contacts=1_000, speed=10)
    unbounded = SimulationPlan(speed=4)

    assert event_clock_start_ms(real_time, now_ms) == now_ms
    assert event_clock_start_ms(SimulationPlan(contacts=1_000, speed=10, paced=False), now_ms) == now_ms
    # 1,000 contacts at about 2.8/s span about 6 minutes plus the last handling: started 90 % of that ago.
    assert now_ms - 20 * 60_000 < event_clock_start_ms(fast, now_ms) < now_ms - 5 * 60_000
    assert event_clock_start_ms(unbounded, now_ms) == now_ms - 45 * 60_000


# --- running it ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_run_simulation_writes_exactly_the_generated_events_as_ndjson(tmp_path: Path) -> None:
    plan = SimulationPlan(contacts=40, seed=11, paced=False, mixed=True)
    output = tmp_path / "x.ndjson"

    report = await run_simulation(plan, Settings(), output, start_ms=T0_MS)

    lines = output.read_bytes().splitlines()
    assert lines == encoded(list(ContactGenerator(plan, T0_MS).events()))
    assert (report.events, report.invalid, report.destination) == (len(lines), 0, str(output))
    assert report.by_type["contact.queued"] >= 40


@pytest.mark.asyncio
async def test_dry_run_validates_and_counts_without_writing(tmp_path: Path) -> None:
    plan = SimulationPlan(contacts=25, seed=2, paced=False)

    report = await run_simulation(plan, Settings(), tmp_path / "never.ndjson", dry_run=True, start_ms=T0_MS)

    assert not (tmp_path / "never.ndjson").exists()
    assert report.events == len(generate(contacts=25, seed=2))
    assert report.invalid == 0
    assert "dry run" in report.summary()


@pytest.mark.asyncio
async def test_a_fast_paced_run_finishes_quickly_and_never_ahead_of_the_wall_clock(tmp_path: Path) -> None:
    # A flat profile: with the day profile, a run started at night (wall clock) sees a tenth of the
    # arrival rate and needs ten times the event time for its 30 contacts.
    plan = SimulationPlan(contacts=30, rate_per_s=20, seed=4, speed=100_000, paced=True, profile="flat")
    output = tmp_path / "paced.ndjson"
    started = time.monotonic()

    report = await run_simulation(plan, Settings(), output)

    assert time.monotonic() - started < 10
    wall_ms = time.time() * 1000
    lines = output.read_bytes().splitlines()
    assert len(lines) == report.events > 30
    assert all(decode_event(line).ts_ms <= wall_ms for line in lines)


def test_measure_throughput_reports_events_per_second() -> None:
    assert measure_throughput(SimulationPlan(contacts=500, mixed=True)) > 1_000
