"""The whole engine: events in, windowed KPIs, live view, timers and verdicts out.

T0 = 2026-09-21T00:00:00Z (1_790_035_200_000 ms), a UTC midnight, so "today"
starts at T0 for the default UTC queue config. Numbers are worked by hand in
the comments.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.domain.engine import ALL_CHANNELS, Engine, EngineConfig, Verdict, apply_all
from ccpulse.domain.events import AgentEvent, AgentState, CanonicalEvent, Channel, ContactEvent, ContactEventType
from ccpulse.domain.kpis import SlFormula
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS, Window, WindowKind
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan
from tests.unit.test_replay_direct import call

T0 = 1_790_035_200_000
S = 1000
E = ContactEventType


def contact(
    contact_id: str, queued_ms: int, wait_ms: int, outcome: ContactEventType, **queue: object
) -> list[ContactEvent]:
    fields = {"queue": "sales", "channel": Channel.VOICE, **queue}
    events = [ContactEvent(f"{contact_id}-q", E.QUEUED, queued_ms, contact_id, **fields)]  # type: ignore[arg-type]
    extra = {"agent_id": "a1"} if outcome is E.ANSWERED else {}
    events.append(ContactEvent(f"{contact_id}-o", outcome, queued_ms + wait_ms, contact_id, **extra))  # type: ignore[arg-type]
    return events


def today(engine: Engine, queue: str = "sales") -> Window:
    assert engine.stream_time_ms is not None
    return next(w for w in engine.windows(queue, engine.stream_time_ms) if w.kind is WindowKind.TODAY)


def icmi_events() -> list[ContactEvent]:
    """SPEC golden vector: 1000 answered (860 within 20 s), 60 abandoned (20 within 20 s)."""
    events: list[ContactEvent] = []
    waits = [(E.ANSWERED, 10 * S)] * 860 + [(E.ANSWERED, 40 * S)] * 140
    waits += [(E.ABANDONED, 15 * S)] * 20 + [(E.ABANDONED, 50 * S)] * 40  # none short (> 5 s)
    for n, (outcome, wait_ms) in enumerate(waits):
        events += contact(f"c{n}", T0 + HOUR_MS + n * S, wait_ms, outcome)
    return events


def test_icmi_golden_vector_through_the_engine() -> None:
    engine = Engine()
    apply_all(engine, icmi_events())

    kpis = engine.snapshot("sales", "voice", today(engine))
    # offered = 1000 + 60 = 1060
    assert (kpis.offered, kpis.answered, kpis.abandoned, kpis.short_abandoned) == (1060, 1000, 60, 0)
    expected = {
        SlFormula.OFFERED: 0.811,  # 860 / 1060
        SlFormula.ANSWERED: 0.860,  # 860 / 1000
        SlFormula.IGNORE_EARLY_ABANDONS: 0.827,  # 860 / (1060 - 20)
        SlFormula.ABANDONS_MET: 0.830,  # (860 + 20) / 1060
    }
    for formula, ratio in expected.items():
        value = kpis.service_level(20, formula)
        assert value is not None
        assert round(value, 3) == ratio, formula
    # ASA = (860 * 10 + 140 * 40) / 1000 = 14.2 s; abandonment = 60 / 1060
    assert kpis.asa_s == pytest.approx(14.2)
    assert kpis.abandonment_ratio == pytest.approx(60 / 1060)


def test_short_abandons_are_counted_apart_and_excluded_from_offered() -> None:
    engine = Engine(EngineConfig(queues=QueueConfigs(QueueConfig(short_abandon_s=5))))
    apply_all(engine, contact("a", T0, 5 * S, E.ABANDONED) + contact("b", T0, 6 * S, E.ABANDONED))
    apply_all(engine, contact("c", T0, 3 * S, E.ANSWERED))

    kpis = engine.snapshot("sales", "voice", today(engine))
    # "a" waited exactly 5 s: short. "b" 6 s: a real abandon. offered = 1 answered + 1 abandoned.
    assert (kpis.short_abandoned, kpis.abandoned, kpis.offered) == (1, 1, 2)
    assert kpis.abandonment_ratio == pytest.approx(0.5)


def test_interval_windows_partition_the_day() -> None:
    plan = SimulationPlan(contacts=400, seed=11, rate_per_s=0.05, queues=("sales", "support"))
    events = [decode_event(json.dumps(e)) for _, e in ContactGenerator(plan, T0 + 60 * S).events()]
    engine = Engine()
    apply_all(engine, events)
    assert engine.stream_time_ms is not None
    day = today(engine, "sales")

    for queue, channel in engine.queues():
        total = engine.aggregate(queue, channel, day)
        answered = handled = 0
        for start_ms in range(day.start_ms, day.end_ms, 15 * MINUTE_MS):
            interval = engine.aggregate(
                queue, channel, Window(WindowKind.INTERVAL, "i", start_ms, start_ms + 15 * MINUTE_MS)
            )
            answered += interval.answered
            handled += interval.handled
        assert (answered, handled) == (total.answered, total.handled), (queue, channel)
        assert total.answered > 0


def test_late_and_future_events_are_rejected_with_their_reason() -> None:
    engine = Engine()
    engine.apply(contact("a", T0 + 50 * HOUR_MS, 0, E.ANSWERED)[0])

    # 49 h before stream time: beyond the 48 h retention.
    assert engine.apply(contact("old", T0, 0, E.ANSWERED)[0]).verdict is Verdict.LATE
    # 10 min ahead of the wall clock: beyond the 5 min skew allowed.
    ahead = contact("new", T0 + 50 * HOUR_MS + 10 * MINUTE_MS, 0, E.ANSWERED)[0]
    assert engine.apply(ahead, wall_ms=T0 + 50 * HOUR_MS).verdict is Verdict.FUTURE
    assert engine.stats.events[Verdict.LATE] == 1
    assert engine.stats.events[Verdict.FUTURE] == 1


def test_a_duplicate_changes_nothing_and_is_counted() -> None:
    engine = Engine()
    events = contact("a", T0, 12 * S, E.ANSWERED)
    apply_all(engine, events)
    before = engine.aggregate("sales", "voice", today(engine))

    assert engine.apply(events[1]).verdict is Verdict.DUPLICATE
    assert engine.aggregate("sales", "voice", today(engine)) == before


def test_live_view_shows_who_waits_and_for_how_long() -> None:
    engine = Engine()
    engine.apply(contact("a", T0, 0, E.ANSWERED)[0])
    engine.apply(contact("b", T0 + 30 * S, 0, E.ANSWERED)[0])

    live = engine.live("sales", "voice", T0 + 45 * S)
    # a waits 45 s, b 15 s: beyond 20 s only a; beyond 30 s only a; beyond 60 s nobody.
    assert (live.waiting, live.oldest_wait_ms) == (2, 45 * S)
    assert live.waiting_beyond == {20: 1, 30: 1, 60: 0}

    engine.apply(contact("a", T0, 50 * S, E.ANSWERED)[1])
    assert engine.live("sales", "voice", T0 + 55 * S).waiting == 1


def test_acw_timeout_fires_when_stream_time_passes_it() -> None:
    engine = Engine()
    events = contact("a", T0, 10 * S, E.ANSWERED)
    events.append(ContactEvent("a-e", E.ENDED, T0 + 100 * S, "a", agent_id="a1"))
    apply_all(engine, events)
    assert engine.aggregate("sales", "voice", today(engine)).handled == 0

    engine.advance_to(T0 + 100 * S + 600 * S)

    kpis = engine.snapshot("sales", "voice", today(engine))
    # talk 90 s + acw 600 s (the timeout) = 690 s
    assert (kpis.handled, kpis.acw_timeouts) == (1, 1)
    assert kpis.aht_s == pytest.approx(690)


def handled_call(contact_id: str, customer: str, queued_ms: int) -> list[ContactEvent]:
    return [
        ContactEvent(f"{contact_id}-1", E.QUEUED, queued_ms, contact_id, queue="sales", channel=Channel.VOICE,
                     customer_id=customer),
        ContactEvent(f"{contact_id}-2", E.ANSWERED, queued_ms + 5 * S, contact_id, agent_id="a1"),
        ContactEvent(f"{contact_id}-3", E.ENDED, queued_ms + 65 * S, contact_id, agent_id="a1"),
        ContactEvent(f"{contact_id}-4", E.WRAPUP_ENDED, queued_ms + 70 * S, contact_id, agent_id="a1"),
    ]  # fmt: skip


def test_fcr_counts_a_repeat_within_the_window_when_the_window_has_passed() -> None:
    engine = Engine(EngineConfig(customer_hash_key=b"test-key"))
    # Customer X calls at T0 and again 1 h later; customer Y calls once.
    apply_all(engine, handled_call("x1", "+15551230001", T0) + handled_call("y1", "+15551230002", T0 + 10 * S))
    apply_all(engine, handled_call("x2", "+15551230001", T0 + HOUR_MS))

    engine.advance_to(T0 + 73 * HOUR_MS + 10 * MINUTE_MS)

    window = Window(WindowKind.ROLLING, "fcr", T0 + 72 * HOUR_MS, T0 + 74 * HOUR_MS)
    aggregate = engine.aggregate("sales", "voice", window)
    # x1 and y1 became eligible at completion + 72 h; x1 had a repeat (x2), y1 did not.
    # (x2's window closes at T0 + 1 h + 72 h + 70 s, also inside: no repeat after it.)
    assert (aggregate.fcr_eligible, aggregate.repeats) == (3, 1)


def test_customer_ids_are_keyed_hashes_inside_the_engine() -> None:
    engine = Engine(EngineConfig(customer_hash_key=b"k"))
    apply_all(engine, handled_call("x1", "+15551230001", T0))

    states = dict(engine.iter_contacts())
    assert states["x1"].customer_key is not None
    assert "5551230001" not in repr(states)


def test_staffing_advice_from_recent_traffic_and_staffed_agents() -> None:
    engine = Engine()
    assert engine.staffing("sales", T0) is None  # no AHT yet
    agents = [AgentEvent(f"ag{n}", T0, f"agent{n}", AgentState.AVAILABLE, queues=("sales",)) for n in range(3)]
    calls = [e for n in range(30) for e in handled_call(f"c{n}", f"cust{n}", T0 + n * 60 * S)]
    apply_all(engine, [*agents, *calls])

    advice = engine.staffing("sales", T0 + 30 * MINUTE_MS)
    assert advice is not None
    assert advice.staffed_agents == 3
    # ~1 call/min with AHT 65 s (60 s talk + 5 s acw): about 1.1 erlangs; 80 % in 20 s needs 2-3 agents.
    assert 1 <= advice.required_erlang_c <= 4
    assert advice.gap_erlang_c == advice.required_erlang_c - 3


def test_agents_by_state_and_occupancy() -> None:
    engine = Engine()
    events: list[CanonicalEvent] = [
        AgentEvent("s1", T0, "a1", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("s2", T0 + 10 * MINUTE_MS, "a1", AgentState.BUSY, queues=("sales",)),
        AgentEvent("s3", T0 + 40 * MINUTE_MS, "a1", AgentState.AVAILABLE, queues=("sales",)),
    ]
    apply_all(engine, events)

    assert engine.agents_by_state("sales")[AgentState.AVAILABLE] == 1
    kpis = engine.snapshot("sales", ALL_CHANNELS, today(engine))
    # closed spans: available 10 min, busy 30 min -> occupancy 30 / 40
    assert kpis.occupancy == pytest.approx(0.75)


def _today_totals(engine: Engine) -> dict[tuple[str, str], object]:
    """Today's aggregate per queue x channel: every sum, count, histogram bucket and maximum wait."""
    assert engine.stream_time_ms is not None
    return {key: engine.aggregate(*key, today(engine, key[0])) for key in engine.queues()}


def _mixed_stream(seed: int) -> list[CanonicalEvent]:
    plan = SimulationPlan(contacts=60, seed=seed, rate_per_s=0.2, mixed=True, queues=("sales", "support"))
    return [decode_event(json.dumps(e)) for _, e in ContactGenerator(plan, T0 + 60 * S).events()]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_any_arrival_order_gives_the_same_day_totals(shuffle_seed: int) -> None:
    events = _mixed_stream(5)
    shuffled = list(events)
    random.Random(shuffle_seed).shuffle(shuffled)
    end_ms = max(e.ts_ms for e in events) + HOUR_MS

    in_order, out_of_order = Engine(), Engine()
    apply_all(in_order, events)
    apply_all(out_of_order, shuffled)
    for engine in (in_order, out_of_order):
        engine.advance_to(end_ms)

    assert _today_totals(out_of_order) == _today_totals(in_order)


def test_replaying_everything_twice_changes_nothing() -> None:
    events = _mixed_stream(9)
    once, twice = Engine(), Engine()
    apply_all(once, events)
    verdicts = apply_all(twice, _interleave(events, events))

    assert _today_totals(twice) == _today_totals(once)
    assert verdicts[Verdict.DUPLICATE] == len(events)


def _interleave(first: Iterable[CanonicalEvent], second: Iterable[CanonicalEvent]) -> list[CanonicalEvent]:
    return [e for pair in zip(first, second, strict=True) for e in pair]


def test_a_conversation_that_never_ends_is_reaped_and_counted_once() -> None:
    engine = Engine()
    apply_all(engine, contact("a", T0, 10 * S, E.ANSWERED))  # answered, never ended

    engine.advance_to(T0 + 13 * HOUR_MS)  # past the 12 h max_segment_age
    engine.advance_to(T0 + 14 * HOUR_MS)

    assert engine.stats.reaped_segments == 1
    assert engine.aggregate("sales", "voice", today(engine)).handled == 0


def test_a_survey_waiting_for_a_segment_counts_once_an_acw_timeout_completes_it() -> None:
    # c1 ends without a wrap-up; its survey waits for the segment, which the ACW timeout
    # completes when stream time passes it: the survey counts then, with no later event needed.
    engine = Engine()
    documents = call("c1", T0 + 1 * MINUTE_MS, 10_000, "a1")[:-1]  # no wrap-up
    documents.append(
        {
            "event_id": "s1",
            "type": "survey.submitted",
            "ts": T0 + 4 * MINUTE_MS,
            "kind": "csat",
            "score": 5,
            "contact_id": "c1",
        }
    )
    for document in documents:
        engine.apply(decode_event(json.dumps(document)))
    now_ms = T0 + 14 * MINUTE_MS  # past the default ACW timeout
    engine.advance_to(now_ms)

    [interval] = [w for w in engine.windows("sales", now_ms) if w.kind is WindowKind.INTERVAL]
    snapshot = engine.snapshot("sales", "voice", interval)
    assert (snapshot.handled, snapshot.acw_timeouts, snapshot.csat_count) == (1, 1, 1)
