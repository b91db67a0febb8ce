"""The queue stage's fact store: idempotent upserts, deletes and syncs, forgetting, reloading, the watermark.

T0 = 2026-09-22T00:00:00Z (1_790_035_200_000 ms). Keys follow the entity
stage's naming (``arrival:<fact id>``, ``outcome:<fact id>``...), entities
``contact:<id>``, ``agent:<id>``, ``ticket:<id>``. Numbers are worked by hand
in the comments.
"""

from __future__ import annotations

import pytest

from ccpulse.domain.entities import Delete, QueueChange, Sync, Upsert
from ccpulse.domain.events import AgentState, Channel
from ccpulse.domain.fact_store import FactStore, LiveFact, RowWrite
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcome,
    QueueOutcomeFact,
    TicketOpenFact,
)
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView, ViewConfig
from ccpulse.domain.windows import DAY_MS, HOUR_MS, MINUTE_MS, Window, WindowKind

T0 = 1_790_035_200_000
S = 1000
EVERYTHING = Window(WindowKind.ROLLING, "everything", T0 - DAY_MS, T0 + 10 * DAY_MS)

ARRIVAL_C1 = QueueArrivalFact("c1", "sales", Channel.VOICE, T0 + 5 * MINUTE_MS)
# Queued T0+5min, answered after 10 s.
ANSWERED_C1 = QueueOutcomeFact(
    "c1", "sales", Channel.VOICE, QueueOutcome.ANSWERED, T0 + 5 * MINUTE_MS, T0 + 5 * MINUTE_MS + 10 * S
)
# The same stint (same fact id, same key), abandoned after 30 s instead.
ABANDONED_C1 = QueueOutcomeFact(
    "c1", "sales", Channel.VOICE, QueueOutcome.ABANDONED, T0 + 5 * MINUTE_MS, T0 + 5 * MINUTE_MS + 30 * S
)


def upsert(fact: QueueArrivalFact | QueueOutcomeFact, queue: str = "sales") -> Upsert:
    kind = "arrival" if isinstance(fact, QueueArrivalFact) else "outcome"
    return Upsert(queue, f"{kind}:{fact.fact_id}", f"contact:{fact.contact_id}", fact)


def totals(store: FactStore, queue: str = "sales", channel: str = "voice") -> tuple[int, int, int]:
    agg = store.view.aggregate(queue, channel, EVERYTHING)
    return agg.arrivals, agg.answered, agg.abandoned


def test_an_upsert_applied_twice_writes_one_row_and_counts_once() -> None:
    store = FactStore(ViewConfig())
    change = upsert(ANSWERED_C1)
    assert store.apply(change) == [RowWrite("sales", change.key, LiveFact("contact:c1", ANSWERED_C1))]
    assert store.apply(change) == []
    assert len(store) == 1
    assert store.get("sales", change.key) == LiveFact("contact:c1", ANSWERED_C1)
    assert totals(store) == (0, 1, 0)


def test_an_upsert_with_new_content_replaces_the_old_fact() -> None:
    store = FactStore(ViewConfig())
    store.apply(upsert(ANSWERED_C1))
    change = upsert(ABANDONED_C1)
    assert change.key == upsert(ANSWERED_C1).key
    assert store.apply(change) == [RowWrite("sales", change.key, LiveFact("contact:c1", ABANDONED_C1))]
    assert len(store) == 1
    assert totals(store) == (0, 0, 1)
    agg = store.view.aggregate("sales", "voice", EVERYTHING)
    assert (agg.sum_wait_answered_ms, agg.sum_wait_abandoned_ms) == (0, 30 * S)


def test_delete_removes_a_held_fact_once_and_ignores_unknown_keys() -> None:
    store = FactStore(ViewConfig())
    assert store.apply(Delete("sales", "outcome:nobody:0", "contact:nobody")) == []

    change = upsert(ANSWERED_C1)
    store.apply(change)
    assert store.apply(Delete("sales", change.key, "contact:c1")) == [RowWrite("sales", change.key, None)]
    assert store.apply(Delete("sales", change.key, "contact:c1")) == []
    assert len(store) == 0
    assert totals(store) == (0, 0, 0)


def test_sync_deletes_only_the_entitys_unlisted_keys_in_that_queue() -> None:
    store = FactStore(ViewConfig())
    c1_arrival, c1_outcome = upsert(ARRIVAL_C1), upsert(ANSWERED_C1)
    # c1 was transferred to support too; c2 is another contact in sales.
    c1_support = upsert(QueueArrivalFact("c1", "support", Channel.VOICE, T0 + 6 * MINUTE_MS), queue="support")
    c2_arrival = upsert(QueueArrivalFact("c2", "sales", Channel.VOICE, T0 + 7 * MINUTE_MS))
    for change in (c1_arrival, c1_outcome, c1_support, c2_arrival):
        store.apply(change)
    assert len(store) == 4

    # c1's complete list in sales is its arrival: the outcome is stale.
    writes = store.apply(Sync("sales", "contact:c1", (c1_arrival.key,)))
    assert writes == [RowWrite("sales", c1_outcome.key, None)]
    assert store.get("sales", c1_outcome.key) is None
    assert store.get("sales", c1_arrival.key) is not None
    assert store.get("support", c1_support.key) is not None
    assert store.get("sales", c2_arrival.key) is not None
    assert totals(store) == (2, 0, 0)  # c1 and c2 arrived; no outcome left

    # A sync listing everything held changes nothing.
    assert store.apply(Sync("sales", "contact:c1", (c1_arrival.key,))) == []
    # An empty list in support deletes c1's fact there, and only there.
    assert store.apply(Sync("support", "contact:c1", ())) == [RowWrite("support", c1_support.key, None)]
    assert len(store) == 2


def test_sync_returns_one_delete_per_stale_key_in_key_order() -> None:
    store = FactStore(ViewConfig())
    outcome, arrival = upsert(ANSWERED_C1), upsert(ARRIVAL_C1)
    store.apply(outcome)
    store.apply(arrival)
    # 'arrival:...' sorts before 'outcome:...'.
    assert store.apply(Sync("sales", "contact:c1", ())) == [
        RowWrite("sales", arrival.key, None),
        RowWrite("sales", outcome.key, None),
    ]
    assert len(store) == 0


def snapshot_of(view: QueueView, queues: list[str]) -> dict[object, object]:
    """Everything a KPI reader sees of these queues, for comparing two views."""
    seen: dict[object, object] = {"queues": view.queues(), "names": view.queue_names()}
    now = view.clock_ms
    assert now is not None
    for queue, channel in view.queues():
        seen[(queue, channel)] = view.aggregate(queue, channel, EVERYTHING)
        seen[(queue, channel, "live")] = view.live(queue, channel, now)
    for queue in queues:
        seen[(queue, ALL_CHANNELS)] = view.aggregate(queue, ALL_CHANNELS, EVERYTHING)
        seen[(queue, "agents")] = view.agents_by_state(queue)
        seen[(queue, "tickets")] = view.open_tickets(queue)
    seen["held"] = view.pending_completions()
    return seen


BUSY = AgentStateFact("ag1", AgentState.BUSY, T0 + 4 * MINUTE_MS, T0 + 20 * MINUTE_MS, queues=("sales", "support"))
PRESENT = AgentPresenceFact("ag1", AgentState.ACW, T0 + 20 * MINUTE_MS, queues=("sales", "support"))
OPEN = TicketOpenFact("t1", "support")
# Answered T0+5min+10s, ended T0+9min, no wrap-up: completes at T0+19min by timeout.
TIMED_OUT = HandlingFact(
    "c1",
    "sales",
    Channel.VOICE,
    "ag1",
    answered_ts_ms=T0 + 5 * MINUTE_MS + 10 * S,
    ended_ts_ms=T0 + 9 * MINUTE_MS,
    completed_ts_ms=T0 + 19 * MINUTE_MS,
    hold_ms=0,
    hold_count=0,
    acw_timed_out=True,
    transferred=False,
)


def mixed_changes() -> list[QueueChange]:
    return [
        upsert(ARRIVAL_C1),
        upsert(ANSWERED_C1),
        upsert(QueueArrivalFact("c2", "sales", Channel.CHAT, T0 + 8 * MINUTE_MS)),  # still waiting
        Upsert("sales", f"handling:{TIMED_OUT.fact_id}", "contact:c1", TIMED_OUT),
        # Agent records are routed to every queue the agent serves, under the same key.
        Upsert("sales", f"agent_state:{BUSY.fact_id}", "agent:ag1", BUSY),
        Upsert("support", f"agent_state:{BUSY.fact_id}", "agent:ag1", BUSY),
        Upsert("sales", "presence:ag1", "agent:ag1", PRESENT),
        Upsert("support", "presence:ag1", "agent:ag1", PRESENT),
        Upsert("support", "ticket_open:t1", "ticket:t1", OPEN),
    ]


def test_forget_before_drops_old_rows_but_not_the_view_nor_live_records() -> None:
    store = FactStore(ViewConfig())
    for change in mixed_changes():
        store.apply(change)
    store.view.advance_to(T0 + 30 * MINUTE_MS)  # releases the timed-out segment (T0+19min)
    before = snapshot_of(store.view, ["sales", "support"])
    assert len(store) == 9

    # Horizon T0+15min: the arrival (T0+5min), the outcome (T0+5min+10s) and c2's arrival
    # (T0+8min) count before it; the segment (T0+19min), agent spans (end T0+20min) do not.
    writes = store.forget_before(T0 + 15 * MINUTE_MS)
    assert sorted(writes, key=lambda w: w.key) == [
        RowWrite("sales", upsert(ARRIVAL_C1).key, None),
        RowWrite("sales", "arrival:c2:" + str(T0 + 8 * MINUTE_MS), None),
        RowWrite("sales", upsert(ANSWERED_C1).key, None),
    ]
    assert len(store) == 6
    assert snapshot_of(store.view, ["sales", "support"]) == before

    # Far in the future, every fact is old; presence and the open ticket are live records and stay.
    store.forget_before(T0 + 10 * DAY_MS)
    assert len(store) == 3
    assert store.get("sales", "presence:ag1") == LiveFact("agent:ag1", PRESENT)
    assert store.get("support", "presence:ag1") == LiveFact("agent:ag1", PRESENT)
    assert store.get("support", "ticket_open:t1") == LiveFact("ticket:t1", OPEN)


def persisted_rows(writes: list[RowWrite]) -> list[tuple[str, str, LiveFact]]:
    """What a changelog-backed table holds after these writes, in write order of the last write."""
    table: dict[tuple[str, str], LiveFact] = {}
    for write in writes:
        if write.value is None:
            table.pop((write.queue, write.key), None)
        else:
            table.pop((write.queue, write.key), None)
            table[(write.queue, write.key)] = write.value
    return [(queue, key, live) for (queue, key), live in table.items()]


@pytest.mark.parametrize("clock_before_load", [T0 + 10 * MINUTE_MS, T0 + 30 * MINUTE_MS])
def test_load_from_rows_rebuilds_the_same_view(clock_before_load: int) -> None:
    original = FactStore(ViewConfig())
    original.view.advance_to(clock_before_load)
    writes: list[RowWrite] = []
    for change in mixed_changes():
        writes += original.apply(change)
    # Some churn: c1's outcome deleted, then upserted again; a ticket opened and closed.
    writes += original.apply(Delete("sales", upsert(ANSWERED_C1).key, "contact:c1"))
    writes += original.apply(upsert(ANSWERED_C1))
    writes += original.apply(Upsert("sales", "ticket_open:t2", "ticket:t2", TicketOpenFact("t2", "sales")))
    writes += original.apply(Delete("sales", "ticket_open:t2", "ticket:t2"))
    rows = persisted_rows(writes)
    assert len(rows) == len(original) == 9

    rebuilt = FactStore(ViewConfig())
    rebuilt.load(rows)
    assert len(rebuilt) == 9
    # The view is a function of the rows and the clock: bring the rebuilt one to the same time.
    for now in (clock_before_load, T0 + HOUR_MS):
        original.view.advance_to(now)
        rebuilt.view.advance_to(now)
        assert snapshot_of(rebuilt.view, ["sales", "support"]) == snapshot_of(original.view, ["sales", "support"])
    sales = rebuilt.view.aggregate("sales", ALL_CHANNELS, EVERYTHING)
    # 2 arrivals, 1 answered, 1 handled (by timeout), 16 min busy: counted once for sales.
    assert (sales.arrivals, sales.answered, sales.handled, sales.agent_busy_ms) == (2, 1, 1, 16 * MINUTE_MS)
    assert rebuilt.view.agents_by_state("support")[AgentState.ACW] == 1
    assert rebuilt.view.open_tickets("support") == 1


def test_load_marks_every_loaded_bucket_changed() -> None:
    rebuilt = FactStore(ViewConfig())
    rebuilt.load([("sales", upsert(ANSWERED_C1).key, LiveFact("contact:c1", ANSWERED_C1))])
    # Answered at T0+5min+10s: bucket T0+5min.
    assert rebuilt.view.take_changed_buckets() == {("sales", T0 + 5 * MINUTE_MS)}


def test_load_refuses_a_store_that_holds_facts() -> None:
    store = FactStore(ViewConfig())
    store.load([])  # nothing loaded: still empty, may load again
    store.apply(upsert(ARRIVAL_C1))
    with pytest.raises(ValueError, match="empty store"):
        store.load([("sales", upsert(ANSWERED_C1).key, LiveFact("contact:c1", ANSWERED_C1))])
    assert len(store) == 1
    assert totals(store) == (1, 0, 0)


def test_the_stream_clock_is_the_slowest_reported_source() -> None:
    store = FactStore(ViewConfig())
    assert store.stream_clock_ms() is None

    assert store.observe_source_clock(0, T0 + 10 * S)
    assert store.stream_clock_ms() == T0 + 10 * S
    assert store.observe_source_clock(1, T0 + 5 * S)
    assert store.stream_clock_ms() == T0 + 5 * S  # min(10 s, 5 s)

    assert not store.observe_source_clock(1, T0 + 5 * S)  # the same time: no move
    assert not store.observe_source_clock(1, T0 + 3 * S)  # backwards: ignored
    assert store.stream_clock_ms() == T0 + 5 * S

    assert store.observe_source_clock(1, T0 + 20 * S)
    assert store.stream_clock_ms() == T0 + 10 * S  # min(10 s, 20 s)
    assert store.source_clocks() == {0: T0 + 10 * S, 1: T0 + 20 * S}
    assert store.observe_source_clock(0, T0 + HOUR_MS)
    assert store.stream_clock_ms() == T0 + 20 * S
