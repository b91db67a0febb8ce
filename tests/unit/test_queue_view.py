"""The queue side on its own: facts in, buckets, live view, presence, backlog and FCR out.

T0 = 2026-09-22T00:00:00Z (1_790_035_200_000 ms), a UTC midnight and so a
15-minute interval boundary and the start of "today" for the default UTC
queue config. Buckets are 1 minute; the default queue config has SL
thresholds 20/30/60 s, a 600 s ACW timeout, a 72 h repeat window and 5 s
short abandons. Numbers are worked by hand in the comments.
"""

from __future__ import annotations

import itertools

import pytest

from ccpulse.domain.events import AgentState, Channel
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcome,
    QueueOutcomeFact,
    TicketOpenFact,
)
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView, ViewConfig, ViewFact
from ccpulse.domain.windows import DAY_MS, HOUR_MS, MINUTE_MS, Window, WindowKind

T0 = 1_790_035_200_000
S = 1000
EVERYTHING = Window(WindowKind.ROLLING, "everything", T0 - DAY_MS, T0 + 10 * DAY_MS)


def span(start_ms: int, end_ms: int) -> Window:
    return Window(WindowKind.ROLLING, "span", start_ms, end_ms)


def arrival(
    contact_id: str,
    queued_ms: int,
    *,
    queue: str = "sales",
    channel: Channel = Channel.VOICE,
    customer: str | None = None,
) -> QueueArrivalFact:
    return QueueArrivalFact(contact_id, queue, channel, queued_ms, customer)


def outcome(
    contact_id: str,
    queued_ms: int,
    wait_ms: int,
    result: QueueOutcome = QueueOutcome.ANSWERED,
    *,
    queue: str = "sales",
    channel: Channel = Channel.VOICE,
) -> QueueOutcomeFact:
    return QueueOutcomeFact(contact_id, queue, channel, result, queued_ms, queued_ms + wait_ms)


def handled(
    contact_id: str,
    answered_ms: int,
    ended_ms: int,
    completed_ms: int,
    *,
    timed_out: bool = False,
    customer: str | None = None,
    queue: str = "sales",
) -> HandlingFact:
    return HandlingFact(
        contact_id,
        queue,
        Channel.VOICE,
        "ag1",
        answered_ts_ms=answered_ms,
        ended_ts_ms=ended_ms,
        completed_ts_ms=completed_ms,
        hold_ms=0,
        hold_count=0,
        acw_timed_out=timed_out,
        transferred=False,
        customer_key=customer,
    )


# -- buckets and windows ----------------------------------------------------------------


def test_outcomes_and_arrivals_count_in_their_own_minute_and_windows() -> None:
    view = QueueView()
    view.apply(
        [
            # a: queued T0+10s, answered after 15 s at T0+25s: both in bucket T0.
            arrival("a", T0 + 10 * S),
            outcome("a", T0 + 10 * S, 15 * S),
            # b: queued T0+50s (bucket T0), abandoned after 20 s at T0+70s (bucket T0+1min).
            arrival("b", T0 + 50 * S),
            outcome("b", T0 + 50 * S, 20 * S, QueueOutcome.ABANDONED),
            # c: second interval; queued T0+16min+5s, answered after 40 s at T0+16min+45s.
            arrival("c", T0 + 16 * MINUTE_MS + 5 * S),
            outcome("c", T0 + 16 * MINUTE_MS + 5 * S, 40 * S),
            # d: a chat in bucket T0, still waiting.
            arrival("d", T0 + 20 * S, channel=Channel.CHAT),
        ]
    )

    first = view.aggregate("sales", "voice", span(T0, T0 + MINUTE_MS))
    assert (first.arrivals, first.answered, first.abandoned) == (2, 1, 0)
    assert first.sum_wait_answered_ms == 15 * S
    second = view.aggregate("sales", "voice", span(T0 + MINUTE_MS, T0 + 2 * MINUTE_MS))
    assert (second.arrivals, second.answered, second.abandoned) == (0, 0, 1)
    assert second.sum_wait_abandoned_ms == 20 * S

    # 'all' merges the channels: 2 voice arrivals + 1 chat in bucket T0.
    assert view.aggregate("sales", ALL_CHANNELS, span(T0, T0 + MINUTE_MS)).arrivals == 3
    assert view.queues() == [("sales", "chat"), ("sales", "voice")]

    now = T0 + 17 * MINUTE_MS
    windows = {window.name: window for window in view.windows("sales", now)}
    assert set(windows) == {"interval_15m", "rolling_5m", "rolling_15m", "rolling_60m", "today"}
    # Current interval [T0+15min, T0+30min): only c. Its 40 s wait is within 60 s, not 20 or 30.
    interval = view.aggregate("sales", "voice", windows["interval_15m"])
    assert (interval.arrivals, interval.answered, interval.abandoned) == (1, 1, 0)
    assert interval.answered_within == [0, 0, 1]
    # The first interval [T0, T0+15min): a (15 s, within all thresholds) and b.
    closed = view.aggregate("sales", "voice", span(T0, T0 + 15 * MINUTE_MS))
    assert (closed.arrivals, closed.answered, closed.abandoned) == (2, 1, 1)
    assert closed.answered_within == [1, 1, 1]
    # rolling_5m at T0+17min covers buckets T0+12min .. T0+17min: only c.
    assert windows["rolling_5m"] == Window(WindowKind.ROLLING, "rolling_5m", T0 + 12 * MINUTE_MS, T0 + 18 * MINUTE_MS)
    assert view.aggregate("sales", "voice", windows["rolling_5m"]).answered == 1
    # today [T0, T0+24h): everything; offered = 2 answered + 1 abandoned.
    today = view.snapshot("sales", "voice", windows["today"])
    assert (today.arrivals, today.offered, today.answered, today.abandoned) == (3, 3, 2, 1)
    assert today.asa_s == pytest.approx(27.5)  # (15 + 40) / 2


# -- segments completing by ACW timeout after the clock -----------------------------------

# Answered T0+1min, ended T0+3min, no wrap-up: completes at T0+3min+600s = T0+13min.
TIMED_OUT = handled("h", T0 + MINUTE_MS, T0 + 3 * MINUTE_MS, T0 + 13 * MINUTE_MS, timed_out=True)


def test_a_timed_out_segment_ahead_of_the_clock_is_held_until_its_completion_then_counted_once() -> None:
    view = QueueView()
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply([TIMED_OUT])
    assert view.pending_completions() == 1
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 0

    view.advance_to(T0 + 13 * MINUTE_MS - 1)
    assert view.pending_completions() == 1
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 0

    view.advance_to(T0 + 13 * MINUTE_MS)  # completion <= clock: released
    assert view.pending_completions() == 0
    bucket = view.aggregate("sales", "voice", span(T0 + 13 * MINUTE_MS, T0 + 14 * MINUTE_MS))
    # talk = 2 min = 120 s, acw = 10 min = 600 s, counted in the completion's bucket.
    assert (bucket.handled, bucket.acw_timeouts, bucket.sum_talk_ms, bucket.sum_acw_ms) == (1, 1, 120 * S, 600 * S)

    view.advance_to(T0 + HOUR_MS)
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 1


def test_a_segment_that_did_not_time_out_counts_at_once_even_if_it_completes_after_the_clock() -> None:
    view = QueueView()
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply([handled("w", T0 + MINUTE_MS, T0 + 3 * MINUTE_MS, T0 + 6 * MINUTE_MS)])
    assert view.pending_completions() == 0
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 1


def test_a_held_segment_retracted_before_its_completion_never_counts() -> None:
    view = QueueView()
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply([TIMED_OUT])
    view.apply(retracted=[TIMED_OUT])
    assert view.pending_completions() == 0

    view.advance_to(T0 + HOUR_MS)
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 0


def test_a_held_segment_retracted_after_its_release_is_subtracted() -> None:
    view = QueueView()
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply([TIMED_OUT])
    view.advance_to(T0 + 20 * MINUTE_MS)
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 1

    view.apply(retracted=[TIMED_OUT])
    total = view.aggregate("sales", "voice", EVERYTHING)
    assert (total.handled, total.acw_timeouts, total.sum_acw_ms) == (0, 0, 0)


def test_a_held_segment_published_twice_is_released_once() -> None:
    view = QueueView()
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply([TIMED_OUT])
    view.apply([TIMED_OUT], retracted=[TIMED_OUT])  # a replacement by an equal fact
    view.advance_to(T0 + 20 * MINUTE_MS)
    assert view.aggregate("sales", "voice", EVERYTHING).handled == 1


# -- who is waiting ----------------------------------------------------------------------

A = arrival("a", T0)
A_DONE = outcome("a", T0, 50 * S)
B = arrival("b", T0 + 30 * S)


@pytest.mark.parametrize("order", list(itertools.permutations([A, A_DONE, B])))
def test_waiting_is_the_same_whichever_fact_of_a_stint_comes_first(order: tuple[ViewFact, ...]) -> None:
    view = QueueView()
    for fact in order:
        view.apply([fact])
    # a finished; b queued at T0+30s has waited 45 s at T0+75s: beyond 20 and 30 s, not 60 s.
    live = view.live("sales", "voice", T0 + 75 * S)
    assert (live.waiting, live.oldest_wait_ms, live.waiting_beyond) == (1, 45 * S, {20: 1, 30: 1, 60: 0})


def test_waiting_follows_retractions_of_either_fact() -> None:
    # The outcome first, then the arrival: a is not waiting.
    view = QueueView()
    view.apply([A_DONE])
    view.apply([A])
    assert view.live("sales", "voice", T0 + 60 * S).waiting == 0
    # The outcome proved wrong: a waits again, since T0.
    view.apply(retracted=[A_DONE])
    live = view.live("sales", "voice", T0 + 60 * S)
    assert (live.waiting, live.oldest_wait_ms) == (1, 60 * S)
    # The arrival retracted too: nobody waits, and an outcome now does not bring it back.
    view.apply(retracted=[A])
    assert view.live("sales", "voice", T0 + 60 * S).waiting == 0
    view.apply([A_DONE])
    assert view.live("sales", "voice", T0 + 60 * S).waiting == 0

    # The same facts the other way round end the same.
    other = QueueView()
    other.apply([A])
    other.apply([A_DONE])
    other.apply(retracted=[A])
    assert other.live("sales", "voice", T0 + 60 * S) == view.live("sales", "voice", T0 + 60 * S)


def test_a_contact_queued_after_now_has_waited_zero_not_a_negative_time() -> None:
    view = QueueView()
    view.apply([arrival("early", T0 + 100 * S)])
    live = view.live("sales", "voice", T0 + 50 * S)
    assert (live.waiting, live.oldest_wait_ms, live.waiting_beyond) == (1, 0, {20: 0, 30: 0, 60: 0})


# -- agents --------------------------------------------------------------------------------

# Busy for 90 s from T0 serving a and b: 60 s in bucket T0, 30 s in bucket T0+1min.
BUSY = AgentStateFact("ag1", AgentState.BUSY, T0, T0 + 90 * S, queues=("a", "b"))


def test_only_queue_counts_an_agent_span_for_that_queue_alone() -> None:
    view = QueueView()
    view.apply([BUSY], only_queue="a")
    assert view.aggregate("a", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 90 * S
    assert view.aggregate("a", ALL_CHANNELS, span(T0, T0 + MINUTE_MS)).agent_busy_ms == 60 * S
    assert view.aggregate("a", ALL_CHANNELS, span(T0 + MINUTE_MS, T0 + 2 * MINUTE_MS)).agent_busy_ms == 30 * S
    assert view.aggregate("b", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 0
    # Agent time has no channel: only the 'all' aggregate holds it.
    assert view.aggregate("a", "voice", EVERYTHING).agent_busy_ms == 0


def test_without_only_queue_an_agent_span_counts_in_full_for_every_queue_it_names() -> None:
    view = QueueView()
    view.apply([BUSY])
    assert view.aggregate("a", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 90 * S
    assert view.aggregate("b", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 90 * S

    view.apply(retracted=[BUSY])
    assert view.aggregate("a", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 0
    assert view.aggregate("b", ALL_CHANNELS, EVERYTHING).agent_busy_ms == 0


PRESENT = AgentPresenceFact("ag1", AgentState.AVAILABLE, T0, queues=("a", "b"))


def test_routed_presence_copies_count_per_queue_and_deleting_one_keeps_the_other() -> None:
    view = QueueView()
    view.apply([PRESENT], only_queue="a")
    view.apply([PRESENT], only_queue="b")
    assert view.agents_by_state("a")[AgentState.AVAILABLE] == 1
    assert view.agents_by_state("b")[AgentState.AVAILABLE] == 1
    assert view.agents_by_state(None)[AgentState.AVAILABLE] == 1  # one agent, two copies
    assert view.queue_names() == ["a", "b"]

    view.apply(retracted=[PRESENT], only_queue="a")
    assert view.agents_by_state("a")[AgentState.AVAILABLE] == 0
    assert view.agents_by_state("b")[AgentState.AVAILABLE] == 1
    assert view.staffed("b") == 1
    assert view.agents_by_state(None)[AgentState.AVAILABLE] == 1
    assert view.queue_names() == ["b"]


def test_unrouted_presence_counts_for_every_queue_the_agent_serves() -> None:
    view = QueueView()
    view.apply([PRESENT])
    assert view.agents_by_state("a")[AgentState.AVAILABLE] == 1
    assert view.agents_by_state("b")[AgentState.AVAILABLE] == 1
    assert view.agents_by_state("c")[AgentState.AVAILABLE] == 0
    assert sum(view.agents_by_state(None).values()) == 1
    # A new state replaces the old one; retracting a stale copy changes nothing.
    away = AgentPresenceFact("ag1", AgentState.AWAY, T0 + MINUTE_MS, queues=("a", "b"))
    view.apply([away], retracted=[PRESENT])
    view.apply(retracted=[PRESENT])
    assert view.agents_by_state("a")[AgentState.AWAY] == 1
    assert view.staffed("a") == 0


def test_queue_names_include_queues_with_only_agents_or_only_tickets() -> None:
    view = QueueView()
    view.apply([outcome("c", T0, 10 * S)])
    view.apply([AgentPresenceFact("ag1", AgentState.AVAILABLE, T0, queues=("support",))])
    view.apply([TicketOpenFact("t1", "billing")])
    assert view.queues() == [("sales", "voice")]
    assert view.queue_names() == ["billing", "sales", "support"]

    view.apply(retracted=[TicketOpenFact("t1", "billing")])
    assert view.queue_names() == ["sales", "support"]


def test_open_tickets_are_the_backlog_of_their_queue() -> None:
    view = QueueView()
    view.apply([TicketOpenFact("t1", "billing"), TicketOpenFact("t2", "billing"), TicketOpenFact("t3", "sales")])
    assert (view.open_tickets("billing"), view.open_tickets("sales"), view.open_tickets("other")) == (2, 1, 0)
    view.apply(retracted=[TicketOpenFact("t1", "billing")])
    view.apply([TicketOpenFact("t2", "billing")])  # the same ticket again: still one
    view.apply(retracted=[TicketOpenFact("t9", "billing")])  # never open: nothing to withdraw
    assert view.open_tickets("billing") == 1


# -- first contact resolution ------------------------------------------------------------

# Customer X: contact x1 queued T0, handled until T0+5min; calls again (x2) at T0+1h.
# Customer Y: contact y1 handled until T0+6min, never calls again.
# x1's repeat window closes at T0+5min+72h, y1's at T0+6min+72h.
X1_DONE = T0 + 5 * MINUTE_MS
Y1_DONE = T0 + 6 * MINUTE_MS
FCR_FACTS: list[ViewFact] = [
    arrival("x1", T0, customer="X"),
    handled("x1", T0 + MINUTE_MS, T0 + 4 * MINUTE_MS, X1_DONE, customer="X"),
    arrival("y1", T0 + MINUTE_MS, customer="Y"),
    handled("y1", T0 + 2 * MINUTE_MS, T0 + 5 * MINUTE_MS, Y1_DONE, customer="Y"),
    arrival("x2", T0 + HOUR_MS, customer="X"),
    # The same customer in another queue is not a repeat in sales.
    arrival("y2", T0 + HOUR_MS, customer="Y", queue="support"),
]


def test_fcr_counts_a_repeat_only_once_its_window_has_passed() -> None:
    view = QueueView()
    view.apply(FCR_FACTS)
    view.advance_to(X1_DONE + 72 * HOUR_MS - 1)
    before = view.aggregate("sales", "voice", EVERYTHING)
    assert (before.fcr_eligible, before.repeats) == (0, 0)

    view.advance_to(X1_DONE + 72 * HOUR_MS)
    x_only = view.aggregate("sales", "voice", EVERYTHING)
    assert (x_only.fcr_eligible, x_only.repeats) == (1, 1)
    # Counted in the bucket of the window's end.
    settled = view.aggregate("sales", "voice", span(X1_DONE + 72 * HOUR_MS, X1_DONE + 72 * HOUR_MS + MINUTE_MS))
    assert (settled.fcr_eligible, settled.repeats) == (1, 1)

    view.advance_to(Y1_DONE + 72 * HOUR_MS)
    both = view.snapshot("sales", "voice", EVERYTHING)
    totals = view.aggregate("sales", "voice", EVERYTHING)
    assert (totals.fcr_eligible, totals.repeats) == (2, 1)
    assert both.fcr_ratio == pytest.approx(0.5)  # 1 - 1/2


def test_fcr_finds_a_repeat_when_the_view_is_reaped_along_the_way() -> None:
    view = QueueView()
    view.apply(FCR_FACTS)
    # Time moves on in 10-minute steps with housekeeping, as in the engine and the worker.
    now = T0
    while now < X1_DONE + 72 * HOUR_MS:
        now += 10 * MINUTE_MS
        view.advance_to(now)
        view.reap(now)
    totals = view.aggregate("sales", "voice", EVERYTHING)
    # x2 (T0+1h) lies within x1's window (T0+5min, T0+72h+5min]: a repeat.
    assert (totals.fcr_eligible, totals.repeats) == (2, 1)


# -- change tracking and housekeeping ---------------------------------------------------------


def test_take_changed_buckets_returns_the_touched_buckets_once() -> None:
    view = QueueView(track_changes=True)
    view.advance_to(T0 + 5 * MINUTE_MS)
    view.apply(
        [
            arrival("a", T0 + 10 * S),  # bucket T0
            outcome("a", T0 + 10 * S, 60 * S),  # at T0+70s: bucket T0+1min
            # Available T0+2min+50s .. T0+3min+10s serving sales: buckets T0+2min and T0+3min.
            AgentStateFact("ag1", AgentState.AVAILABLE, T0 + 170 * S, T0 + 190 * S, queues=("sales",)),
            TIMED_OUT,  # held: no bucket yet
            TicketOpenFact("t1", "sales"),  # live records touch no bucket
        ]
    )
    minute = MINUTE_MS
    assert view.take_changed_buckets() == {
        ("sales", T0),
        ("sales", T0 + minute),
        ("sales", T0 + 2 * minute),
        ("sales", T0 + 3 * minute),
    }
    assert view.take_changed_buckets() == set()

    view.advance_to(T0 + 13 * MINUTE_MS)  # releases the held segment
    assert view.take_changed_buckets() == {("sales", T0 + 13 * MINUTE_MS)}
    assert view.take_changed_buckets() == set()


def test_take_changed_buckets_is_empty_when_changes_are_not_tracked() -> None:
    view = QueueView()
    view.apply([arrival("a", T0)])
    assert view.take_changed_buckets() == set()


def test_reap_forgets_old_buckets_and_counts_stints_waiting_too_long() -> None:
    view = QueueView(ViewConfig(retention_ms=2 * HOUR_MS, max_queue_age_ms=HOUR_MS))
    view.apply(
        [
            # Finished long ago: buckets T0+10min and T0+11min.
            arrival("old", T0 + 10 * MINUTE_MS),
            outcome("old", T0 + 10 * MINUTE_MS, MINUTE_MS),
            # Waiting since T0+1h30min, and since T0+2h30min.
            arrival("stuck", T0 + 90 * MINUTE_MS),
            arrival("fresh", T0 + 150 * MINUTE_MS),
        ]
    )
    now = T0 + 3 * HOUR_MS
    # Retention horizon T0+1h: buckets before it go. Stints queued before now - 1 h = T0+2h are stuck.
    view.reap(now)
    total = view.aggregate("sales", "voice", EVERYTHING)
    assert (total.arrivals, total.answered) == (2, 0)  # stuck and fresh; old's buckets are gone
    live = view.live("sales", "voice", now)
    assert (live.waiting, live.oldest_wait_ms) == (1, 30 * MINUTE_MS)
    assert view.stats.reaped_stints == 1

    view.reap(now)
    assert view.stats.reaped_stints == 1


def test_facts_for_buckets_already_past_the_retention_are_counted_as_expired() -> None:
    view = QueueView(ViewConfig(retention_ms=2 * HOUR_MS))
    view.advance_to(T0 + 3 * HOUR_MS)
    view.apply([outcome("late", T0 + 30 * MINUTE_MS, 10 * S)])  # bucket T0+30min < horizon T0+1h
    assert view.aggregate("sales", "voice", EVERYTHING).answered == 0
    assert view.stats.expired_facts == 1
