"""The wallboard's tiles: which rows they hold, the figures they pick and the colours, worked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from ccpulse.client import KpiRow
from ccpulse.wallboard.board import (
    AMBER,
    GREEN,
    NONE,
    RED,
    Board,
    BoardError,
    ColourRules,
    QueueTarget,
    View,
    abandon_colour,
    asa_colour,
    oldest_wait_colour,
    sl_colour,
    staffing_colour,
    waiting_colour,
)
from ccpulse.wallboard.server import view_of

RULES = ColourRules()


def row(
    window: str = "interval_15m",
    start: str = "2026-03-02T10:00:00.000Z",
    as_of: str = "2026-03-02T10:05:00.000Z",
    *,
    queue: str = "sales",
    channel: str = "all",
    sl20: float | None = 0.8,
    now: dict[str, Any] | None = None,
    final: bool = False,
) -> KpiRow:
    length = timedelta(days=1) if window == "today" else timedelta(minutes=15)
    end = (datetime.fromisoformat(start) + length).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document: dict[str, Any] = {
        "version": 1,
        "definitions": "v1",
        "queue": queue,
        "channel": channel,
        "window": window,
        "window_kind": window.split("_", maxsplit=1)[0],
        "window_start": start,
        "window_end": end,
        "final": final,
        "as_of": as_of,
        "kpis": {
            "offered": 5,
            "answered": 5,
            "abandoned": 0,
            "service_levels": [
                {"threshold_s": 20, "formula": "offered", "ratio": sl20},
                {"threshold_s": 30, "formula": "offered", "ratio": 1.0},
                {"threshold_s": 20, "formula": "answered", "ratio": 0.9},
            ],
            "asa_s": 14.4,
            "abandonment_ratio": 0.0,
            "aht_s": 130.0,
        },
    }
    if now is not None:
        document["now"] = now
    return KpiRow.from_dict(document)


def test_sl_is_green_at_target_amber_within_the_margin_and_red_below() -> None:
    assert sl_colour(0.80, 0.80, 0.10) == GREEN  # 4 of 5 within 20 s meets an 80 % target
    assert sl_colour(0.75, 0.80, 0.10) == AMBER
    assert sl_colour(0.70, 0.80, 0.10) == AMBER  # exactly 10 points short
    assert sl_colour(4 / 11, 0.80, 0.10) == RED
    assert sl_colour(None, 0.80, 0.10) == NONE  # nothing offered yet


def test_the_other_figures_follow_the_shipped_alert_thresholds() -> None:
    assert [abandon_colour(ratio, RULES) for ratio in (0.0, 0.049, 0.05, 0.099, 0.10, None)] == [
        GREEN, GREEN, AMBER, AMBER, RED, NONE,
    ]  # fmt: skip
    # Oldest wait: green while it can still be answered within the 20 s threshold, red past 180 s.
    assert [oldest_wait_colour(wait, 20, RULES) for wait in (None, 20.0, 20.5, 180.0, 180.5)] == [
        GREEN, GREEN, AMBER, AMBER, RED,
    ]  # fmt: skip
    assert [asa_colour(asa, 20) for asa in (14.4, 20.0, 40.0, 40.1, None)] == [GREEN, GREEN, AMBER, RED, NONE]
    assert [staffing_colour(gap, RULES) for gap in (-3, 0, 1, 2, None)] == [GREEN, GREEN, AMBER, RED, NONE]
    assert waiting_colour(3, available=0) == RED  # callers waiting, nobody available
    assert waiting_colour(3, available=1) == GREEN
    assert waiting_colour(0, available=0) == GREEN


def test_a_tile_picks_the_chosen_threshold_and_formula_and_takes_the_worst_colour() -> None:
    board = Board(targets={"support": QueueTarget(30, 0.9)})
    board.fold(row(sl20=0.8), received_ms=1_000)
    tile = board.tile("sales", View())
    assert (tile["threshold_s"], tile["interval"]["sl"], tile["interval"]["colours"]["sl"]) == (20, 0.8, GREEN)
    assert tile["status"] == GREEN
    assert board.tile("sales", View(threshold_s=30))["interval"]["sl"] == 1.0
    assert board.tile("sales", View(formula="answered"))["interval"]["sl"] == 0.9
    # Waiting 2 with nobody available makes the whole tile red, whatever its SL.
    board.fold(row(as_of="2026-03-02T10:06:00.000Z", now={"waiting": 2, "oldest_wait_s": 12.0,
               "agents": {"available": 0, "busy": 3}}), received_ms=2_000)  # fmt: skip
    tile = board.tile("sales", View())
    assert (tile["now"]["waiting"], tile["now"]["colours"]["waiting"], tile["status"]) == (2, RED, RED)
    assert tile["updated_ms"] == 2_000


def test_a_queue_without_an_override_gets_the_default_target() -> None:
    board = Board(targets={"support": QueueTarget(30, 0.9)}, default_target=QueueTarget(20, 0.75))
    board.fold(row(queue="support", sl20=0.8), received_ms=1)
    board.fold(row(queue="sales", sl20=0.8), received_ms=1)
    support, sales = board.tile("support", View()), board.tile("sales", View())
    assert (support["threshold_s"], support["interval"]["sl"], support["interval"]["colours"]["sl"]) == (30, 1.0, GREEN)
    assert (sales["target_ratio"], sales["interval"]["colours"]["sl"]) == (0.75, GREEN)


def test_rows_in_any_order_leave_the_newest_interval_and_the_latest_as_of() -> None:
    newer_interval = row(start="2026-03-02T10:15:00.000Z", as_of="2026-03-02T10:16:00.000Z", sl20=0.5)
    older_update = row(as_of="2026-03-02T10:14:00.000Z", sl20=0.9)
    for order in ([newer_interval, older_update], [older_update, newer_interval]):
        board = Board()
        for kpi_row in order:
            board.fold(kpi_row, received_ms=5)
        assert board.tile("sales", View())["interval"]["window_start"] == "2026-03-02T10:15:00.000Z"
    board = Board()
    board.fold(row(as_of="2026-03-02T10:07:00.000Z", sl20=0.6), received_ms=1)
    assert board.fold(row(as_of="2026-03-02T10:06:00.000Z", sl20=0.9), received_ms=2) is None  # an older update
    assert board.tile("sales", View())["interval"]["sl"] == 0.6


def test_other_channels_and_unknown_windows_are_not_shown() -> None:
    board = Board()
    assert board.fold(row(channel="voice"), received_ms=1) is None
    assert board.fold(row(window="rolling_5m"), received_ms=1) is None  # no live part: nothing to show
    assert board.tiles(View()) == []
    empty = board.tile("sales", View())  # a queue not seen: every figure there, none known
    assert (empty["interval"]["sl"], empty["now"]["waiting"], empty["status"]) == (None, None, NONE)


def test_the_url_chooses_queues_threshold_and_formula_and_bad_values_name_themselves() -> None:
    view = view_of({"queues": "sales, support,", "threshold": "30", "formula": "answered"})
    assert (view.queues, view.threshold_s, view.formula) == (frozenset({"sales", "support"}), 30, "answered")
    assert view.shows("sales")
    assert not view.shows("billing")
    assert view_of({}).shows("anything")
    with pytest.raises(BoardError, match="threshold"):
        view_of({"threshold": "20s"})
    with pytest.raises(BoardError, match="formula"):
        view_of({"formula": "best"})
    with pytest.raises(BoardError, match="--abandon-red"):
        ColourRules(abandon_amber_ratio=0.2, abandon_red_ratio=0.1)
