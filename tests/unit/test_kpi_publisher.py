"""Which KPI rows the worker publishes, and when: open windows on change, final rows at close, corrections.

T0 = 2026-09-22T00:00:00Z (1_790_035_200_000 ms), a UTC midnight: a 15-minute
interval boundary and the start of "today" for the default UTC queue config.
Default windows: interval_15m, rolling_5m/15m/60m and today, so every
(queue, channel) and (queue, "all") has 5 open windows. Numbers are worked by
hand in the comments.
"""

from __future__ import annotations

from typing import Any

from ccpulse.bench.engine_bench import BenchPlan, generate_messages
from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.domain.engine import Engine, EngineConfig
from ccpulse.domain.events import AgentState, CanonicalEvent, Channel
from ccpulse.domain.facts import AgentPresenceFact, HandlingFact, QueueArrivalFact, QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_view import QueueView, ViewConfig
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS
from ccpulse.runtime.kpi_publisher import KpiPublisher

T0 = 1_790_035_200_000
S = 1000
M = MINUTE_MS
DAY_START = "2026-09-22T00:00:00.000Z"
OPEN_WINDOWS = ("interval_15m", "rolling_5m", "rolling_15m", "rolling_60m", "today")


def stint(
    contact_id: str,
    queued_ms: int,
    wait_ms: int,
    result: QueueOutcome = QueueOutcome.ANSWERED,
    channel: Channel = Channel.VOICE,
) -> list[QueueArrivalFact | QueueOutcomeFact]:
    return [
        QueueArrivalFact(contact_id, "sales", channel, queued_ms),
        QueueOutcomeFact(contact_id, "sales", channel, result, queued_ms, queued_ms + wait_ms),
    ]


def open_keys(channel: str, interval_start: str = DAY_START) -> set[bytes]:
    keys = {f"sales|{channel}|interval_15m|{interval_start}", f"sales|{channel}|today|{DAY_START}"}
    keys |= {f"sales|{channel}|rolling_{n}m|latest" for n in (5, 15, 60)}
    return {key.encode() for key in keys}


def decoded(rows: list[tuple[bytes, bytes]]) -> dict[bytes, dict[str, Any]]:
    documents = {key: json.loads(value) for key, value in rows}
    assert len(documents) == len(rows), "one row per key in a batch"
    return documents


def finals(rows: list[tuple[bytes, bytes]]) -> dict[bytes, dict[str, Any]]:
    return {key: doc for key, doc in decoded(rows).items() if doc["final"]}


def started() -> tuple[QueueView, KpiPublisher, list[tuple[bytes, bytes]]]:
    """One answered call (queued T0+2min, answered after 10 s), published at T0+5min."""
    view = QueueView(track_changes=True)
    view.apply(stint("a", T0 + 2 * M, 10 * S))
    view.advance_to(T0 + 5 * M)
    publisher = KpiPublisher()
    return view, publisher, publisher.due_rows(view, T0 + 5 * M)


def test_the_first_run_publishes_every_open_window_of_each_channel_and_all() -> None:
    _, _, rows = started()
    documents = decoded(rows)
    assert set(documents) == open_keys("voice") | open_keys("all")  # 5 windows x 2 = 10 rows
    for key, doc in documents.items():
        queue, channel, window, start = key.decode().split("|")
        assert (doc["queue"], doc["channel"], doc["window"]) == (queue, channel, window)
        assert start == ("latest" if doc["window_kind"] == "rolling" else doc["window_start"])
        assert doc["final"] is False
        assert doc["as_of"] == "2026-09-22T00:05:00.000Z"
        # Every open window at T0+5min holds the call: 1 arrival, 1 answered within 20 s.
        assert (doc["kpis"]["arrivals"], doc["kpis"]["answered"], doc["kpis"]["offered"]) == (1, 1, 1)
        assert doc["kpis"]["asa_s"] == 10.0
        # The live part: agents and backlog on the queue's 'all' rows only.
        assert ("agents" in doc["now"], "open_tickets" in doc["now"]) == (channel == "all", channel == "all")
        assert doc["now"]["waiting"] == 0
    interval = documents[f"sales|voice|interval_15m|{DAY_START}".encode()]
    assert (interval["window_start"], interval["window_end"]) == (DAY_START, "2026-09-22T00:15:00.000Z")
    # rolling_5m at T0+5min: the current bucket plus 5 before it, [T0, T0+6min).
    rolling = documents[b"sales|voice|rolling_5m|latest"]
    assert (rolling["window_start"], rolling["window_end"]) == (DAY_START, "2026-09-22T00:06:00.000Z")


def test_nothing_changed_publishes_nothing() -> None:
    view, publisher, _ = started()
    assert publisher.due_rows(view, T0 + 5 * M) == []
    # 30 s later nothing waits and every window covers the same buckets: the rows differ only in as_of.
    view.advance_to(T0 + 5 * M + 30 * S)
    assert publisher.due_rows(view, T0 + 5 * M + 30 * S) == []


def test_a_waiting_contact_republishes_the_open_rows_whose_live_part_moved() -> None:
    view = QueueView(track_changes=True)
    view.apply([QueueArrivalFact("w", "sales", Channel.VOICE, T0 + 4 * M)])  # waits from T0+4min
    view.advance_to(T0 + 5 * M)
    publisher = KpiPublisher()
    first = decoded(publisher.due_rows(view, T0 + 5 * M))
    assert first[b"sales|voice|rolling_5m|latest"]["now"]["oldest_wait_s"] == 60.0

    view.advance_to(T0 + 5 * M + 30 * S)
    again = decoded(publisher.due_rows(view, T0 + 5 * M + 30 * S))
    # Only the live part moved (60 s -> 90 s, now beyond 60 s too): every open voice row again, none final.
    assert {key for key in again if b"|voice|" in key} == open_keys("voice")
    for key, doc in again.items():
        assert doc["final"] is False
        assert doc["kpis"] == first[key]["kpis"]
    voice = again[b"sales|voice|today|" + DAY_START.encode()]["now"]
    assert (voice["waiting"], voice["oldest_wait_s"], voice["waiting_beyond"]) == (1, 90.0, {"20": 1, "30": 1, "60": 1})


def test_the_all_rows_count_contacts_waiting_on_every_channel() -> None:
    view = QueueView(track_changes=True)
    view.apply([QueueArrivalFact("w", "sales", Channel.VOICE, T0 + 4 * M)])
    view.advance_to(T0 + 5 * M)
    documents = decoded(KpiPublisher().due_rows(view, T0 + 5 * M))
    now = documents[f"sales|all|interval_15m|{DAY_START}".encode()]["now"]
    assert (now["waiting"], now["oldest_wait_s"]) == (1, 60.0)


def test_a_closed_interval_gets_exactly_one_final_row() -> None:
    view, publisher, _ = started()
    view.advance_to(T0 + 16 * M)
    rows = publisher.due_rows(view, T0 + 16 * M)
    documents = decoded(rows)

    closed = f"interval_15m|{DAY_START}"
    assert set(finals(rows)) == {f"sales|voice|{closed}".encode(), f"sales|all|{closed}".encode()}
    for doc in finals(rows).values():
        assert (doc["window_start"], doc["window_end"]) == (DAY_START, "2026-09-22T00:15:00.000Z")
        assert (doc["kpis"]["arrivals"], doc["kpis"]["answered"]) == (1, 1)
        assert "now" not in doc  # no live part on a closed window
    # Open rows: the new interval and the rolling windows, which moved; today did not change.
    opened = {key for key, doc in documents.items() if not doc["final"]}
    assert opened == (open_keys("voice", "2026-09-22T00:15:00.000Z") | open_keys("all", "2026-09-22T00:15:00.000Z")) - {
        f"sales|voice|today|{DAY_START}".encode(),
        f"sales|all|today|{DAY_START}".encode(),
    }
    # rolling_5m at T0+16min is [T0+11min, T0+17min): the call at T0+2min has left it.
    assert documents[b"sales|voice|rolling_5m|latest"]["kpis"]["answered"] == 0

    view.advance_to(T0 + 17 * M)
    assert finals(publisher.due_rows(view, T0 + 17 * M)) == {}


def test_a_late_fact_in_a_closed_interval_publishes_one_corrected_final_row() -> None:
    view, publisher, _ = started()
    view.advance_to(T0 + 16 * M)
    publisher.due_rows(view, T0 + 16 * M)

    # Late: queued T0+3min, abandoned after 30 s (not short): the closed interval [T0, T0+15min) changes.
    view.apply(stint("late", T0 + 3 * M, 30 * S, QueueOutcome.ABANDONED))
    rows = publisher.due_rows(view, T0 + 16 * M)
    corrected = finals(rows)
    assert set(corrected) == {
        f"sales|voice|interval_15m|{DAY_START}".encode(),
        f"sales|all|interval_15m|{DAY_START}".encode(),
    }
    for doc in corrected.values():
        kpis = doc["kpis"]
        # arrivals 2; offered = 1 answered + 1 abandoned; abandonment 1/2.
        assert (kpis["arrivals"], kpis["offered"], kpis["answered"], kpis["abandoned"]) == (2, 2, 1, 1)
        assert kpis["abandonment_ratio"] == 0.5
    # The open windows that hold T0+3min change too: rolling_15m [T0+1min, ...), rolling_60m, today.
    opened = {key for key, doc in decoded(rows).items() if not doc["final"]}
    assert opened == {
        f"sales|{channel}|{window}".encode()
        for channel in ("voice", "all")
        for window in ("rolling_15m|latest", "rolling_60m|latest", f"today|{DAY_START}")
    }

    assert publisher.due_rows(view, T0 + 16 * M) == []


def test_a_late_change_that_nets_to_nothing_publishes_no_correction() -> None:
    view, publisher, _ = started()
    view.advance_to(T0 + 16 * M)
    publisher.due_rows(view, T0 + 16 * M)

    late = stint("late", T0 + 3 * M, 30 * S, QueueOutcome.ABANDONED)
    view.apply(late)
    view.apply(retracted=late)  # proved wrong before the next run
    assert finals(publisher.due_rows(view, T0 + 16 * M)) == {}


def test_a_late_fact_in_a_new_channel_publishes_that_channels_final_row() -> None:
    view, publisher, _ = started()
    view.advance_to(T0 + 16 * M)
    publisher.due_rows(view, T0 + 16 * M)

    view.apply(stint("chat", T0 + 7 * M, 5 * S, channel=Channel.CHAT))
    corrected = finals(publisher.due_rows(view, T0 + 16 * M))
    assert set(corrected) == {
        f"sales|chat|interval_15m|{DAY_START}".encode(),
        f"sales|all|interval_15m|{DAY_START}".encode(),
    }
    assert corrected[f"sales|chat|interval_15m|{DAY_START}".encode()]["kpis"]["answered"] == 1
    assert corrected[f"sales|all|interval_15m|{DAY_START}".encode()]["kpis"]["answered"] == 2  # voice + chat


def test_a_closed_day_gets_final_rows_for_today_and_its_last_interval() -> None:
    view = QueueView(track_changes=True)
    view.apply(stint("a", T0 + 23 * HOUR_MS + 50 * M, 10 * S))  # in [T0+23h45min, T0+24h)
    view.advance_to(T0 + 23 * HOUR_MS + 55 * M)
    publisher = KpiPublisher()
    publisher.due_rows(view, T0 + 23 * HOUR_MS + 55 * M)

    view.advance_to(T0 + 24 * HOUR_MS + M)
    closed = finals(publisher.due_rows(view, T0 + 24 * HOUR_MS + M))
    assert set(closed) == {
        f"sales|{channel}|{window}".encode()
        for channel in ("voice", "all")
        for window in (f"today|{DAY_START}", "interval_15m|2026-09-22T23:45:00.000Z")
    }
    day = closed[f"sales|voice|today|{DAY_START}".encode()]
    assert (day["window_start"], day["window_end"]) == (DAY_START, "2026-09-23T00:00:00.000Z")
    assert day["kpis"]["answered"] == 1


def test_a_clock_that_jumps_days_publishes_every_closed_interval_and_day_with_its_data() -> None:
    # A stream clock can move days between two runs (a replay of history). Calls at 00:02 on
    # day 1, 10:00 on day 2 and 10:00 on day 3; the next run sees the clock on day 4.
    view, publisher, _ = started()
    day = 24 * HOUR_MS
    view.apply(stint("b", T0 + day + 10 * HOUR_MS, 40 * S))
    view.apply(stint("c", T0 + 2 * day + 10 * HOUR_MS, 5 * S))
    view.advance_to(T0 + 3 * day + HOUR_MS)

    final_rows = finals(publisher.due_rows(view, T0 + 3 * day + HOUR_MS))
    voice = {key.decode(): doc for key, doc in final_rows.items() if doc["channel"] == "voice"}
    days = {key: doc["kpis"]["answered"] for key, doc in voice.items() if doc["window"] == "today"}
    intervals = [doc for doc in voice.values() if doc["window"] == "interval_15m"]

    assert days == {
        "sales|voice|today|2026-09-22T00:00:00.000Z": 1,
        "sales|voice|today|2026-09-23T00:00:00.000Z": 1,
        "sales|voice|today|2026-09-24T00:00:00.000Z": 1,
    }
    # Every 15-minute interval from 00:00 on day 1 to 00:45 on day 4: 3 days and 4 intervals.
    assert len(intervals) == 3 * 96 + 4
    assert sum(doc["kpis"]["answered"] for doc in intervals) == 3
    assert publisher.last_run_ms == T0 + 3 * day + HOUR_MS


def test_rows_from_cached_blocks_equal_rows_read_afresh_as_late_and_new_facts_arrive() -> None:
    # Two identical views; one publisher keeps its blocks between runs, the other reads every block afresh.
    # Facts arrive over four hours of runs, some late (into blocks already cached), some retracted.
    views = [QueueView(track_changes=True), QueueView(track_changes=True)]
    cached, fresh = KpiPublisher(), KpiPublisher()
    for step in range(16):
        now_ms = T0 + (step + 1) * 15 * M
        facts = stint(f"c{step}", now_ms - 7 * M, (step % 5) * 9 * S)
        late = stint(f"late{step}", T0 + (step // 2) * 15 * M + 3 * M, 25 * S, QueueOutcome.ABANDONED, Channel.CHAT)
        for view in views:
            view.apply(facts + late)
            if step % 3 == 2:
                view.apply(retracted=stint(f"c{step - 1}", now_ms - 22 * M, ((step - 1) % 5) * 9 * S))
            view.advance_to(now_ms)
        fresh._blocks = type(fresh._blocks)()
        assert cached.due_rows(views[0], now_ms) == fresh.due_rows(views[1], now_ms)


def two_engines_fed_alike(
    rate_per_s: float = 0.02, queues: int = 12, contacts: int = 120
) -> tuple[list[Engine], list[CanonicalEvent]]:
    """Two identical engines whose views track changes, and a sparse mixed stream over many queues."""
    messages, _ = generate_messages(BenchPlan(contacts=contacts, seed=11, queues=queues, rate_per_s=rate_per_s))
    events = sorted((decode_event(message) for message in messages), key=lambda e: e.ts_ms)
    return [Engine(EngineConfig(track_changes=True)) for _ in range(2)], events


def test_skipping_queues_that_cannot_have_changed_publishes_exactly_the_rows_of_reading_every_queue() -> None:
    # The reference publisher forgets the windows it saw, so it reads every queue on every run. Steps of
    # 20 s leave the windows in place for two or three runs in a row; agents change state, tickets open
    # and close, contacts wait, and intervals and days close, all in queues that are mostly idle.
    engines, events = two_engines_fed_alike()
    skipping, reference = KpiPublisher(), KpiPublisher()
    now_ms = events[0].ts_ms
    position, runs, skipped = 0, 0, 0
    while position < len(events) and runs < 200:  # 67 min of event time: four intervals close
        now_ms += 20 * S
        while position < len(events) and events[position].ts_ms <= now_ms:
            for engine in engines:
                engine.apply(events[position])
            position += 1
        for engine in engines:
            engine.advance_to(now_ms)
        reference._windows_of = {}
        read = list(skipping.rows_by_queue(engines[0].view, now_ms))
        expected = reference.due_rows(engines[1].view, now_ms)
        assert [row for rows in read for row in rows] == expected, f"run at {now_ms}"
        runs += 1
        skipped += len({queue for queue, _ in engines[0].view.queues()}) - len(read)
    assert skipped > 5 * runs  # the comparison means something only if many queues were skipped


def test_a_run_cut_short_leaves_the_queues_it_did_not_reach_to_the_next_run() -> None:
    engines, events = two_engines_fed_alike(rate_per_s=1.0, contacts=60)
    third_size = len(events) // 3
    thirds = [events[:third_size], events[third_size : 2 * third_size], events[2 * third_size :]]
    cut, whole = KpiPublisher(), KpiPublisher()
    latest: list[dict[bytes, Any]] = [{}, {}]
    for third, part in enumerate(thirds):
        now_ms = part[-1].ts_ms
        for engine in engines:
            for event in part:
                engine.apply(event)
            engine.advance_to(now_ms)
        runs = cut.rows_by_queue(engines[0].view, now_ms)
        for index, rows in enumerate(runs):
            latest[0].update(decoded(rows))
            if third == 1 and index == 1:
                runs.close()  # as the worker stops a run when the partition is revoked
        latest[1].update(decoded(whole.due_rows(engines[1].view, now_ms)))
    # The windows open now have the same rows. (Finals of windows that closed while a queue was not
    # reached are not sent: the worker drops a publisher whose run it cut, with its partition's state.)
    open_rows = [{key: _sans_as_of(doc) for key, doc in rows.items() if not doc["final"]} for rows in latest]
    assert len(open_rows[1]) > 100
    assert open_rows[0] == open_rows[1]


def _sans_as_of(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "as_of"}


def test_an_agent_changing_state_in_a_quiet_queue_republishes_its_all_rows() -> None:
    view, publisher, _ = started()
    later = T0 + 5 * M + 10 * S
    view.advance_to(later)
    assert publisher.due_rows(view, later) == []
    view.apply([AgentPresenceFact("agent-1", AgentState.AVAILABLE, T0 + 5 * M, ("sales",))])
    rows = decoded(publisher.due_rows(view, later))
    assert set(rows) == open_keys("all")
    assert all(doc["now"]["agents"]["available"] == 1 for doc in rows.values())


def test_a_queue_whose_last_waiting_contact_is_dropped_republishes_its_rows_with_nobody_waiting() -> None:
    # A stint stuck longer than max_queue_age leaves the waiting list without any fact changing a
    # bucket: only the memory of who waited at the last run says the rows moved.
    view = QueueView(ViewConfig(max_queue_age_ms=10 * M), track_changes=True)
    view.apply([QueueArrivalFact("stuck", "sales", Channel.VOICE, T0 + 2 * M)])
    publisher = KpiPublisher()
    first = T0 + 12 * M + 5 * S  # the stint is over the age limit, not yet reaped
    view.advance_to(first)
    assert decoded(publisher.due_rows(view, first))[b"sales|voice|rolling_5m|latest"]["now"]["waiting"] == 1
    later = first + 10 * S  # the same bucket: no window moved
    view.advance_to(later)
    view.reap(later)
    rows = decoded(publisher.due_rows(view, later))
    assert rows[b"sales|voice|rolling_5m|latest"]["now"]["waiting"] == 0


def test_the_all_rows_carry_the_erlang_staffing_advice_once_a_contact_was_handled() -> None:
    view, publisher, rows = started()
    assert all("staffing" not in doc["now"] for doc in decoded(rows).values())  # no AHT to plan with yet
    # The call of started(): answered T0+2min10s, ended T0+4min, wrapped up T0+4min30s: handled in 260 s.
    view.apply(
        [
            HandlingFact(
                "a", "sales", Channel.VOICE, "agent-1", T0 + 130 * S, T0 + 4 * M, T0 + 270 * S, 0, 0, False, False
            ),
            AgentPresenceFact("agent-1", AgentState.AVAILABLE, T0, ("sales",)),
        ]
    )
    documents = decoded(publisher.due_rows(view, T0 + 5 * M))
    # 1 arrival in the 30-minute staffing window, 260 s AHT: A = 260/1800 = 0.144 Erlang. With one agent
    # P(wait) = A and SL(20 s) = 1 - 0.144 * exp(-(1 - 0.144) * 20/260) = 0.865 >= 0.80: one agent is enough.
    expected = {
        "staffed_agents": 1,
        "required_agents_erlang_c": 1,
        "required_agents_erlang_a": 1,
        "gap_erlang_c": 0,
        "gap_erlang_a": 0,
    }
    for key, doc in documents.items():
        assert doc["now"].get("staffing") == (expected if b"|all|" in key else None), key
