"""Real data: a month of a bank call center (1999) through the engine, day by day and queue by queue.

The records are mapped onto canonical events by the CSV importer's built-in
``anonymous-bank-1999`` profile (the attribution rules of tests/data/README.md),
applied to the engine, and every (day, queue) row of the
reference file must come out exactly. Credit: Technion SEE Center (data),
T. W. Miller (2015) for this copy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.domain.engine import Engine, EngineConfig, Verdict, apply_all
from ccpulse.domain.events import CanonicalEvent
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.windows import DAY_MS, Window, WindowKind
from ccpulse.sources.cdr import ANONYMOUS_BANK_1999, CdrStats, read_records

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDS = DATA / "anonymous-bank-1999-02.tsv"
REFERENCE = DATA / "anonymous-bank-1999-02.reference.csv"
ZONE = ZoneInfo("Asia/Jerusalem")


def bank_events() -> Iterator[CanonicalEvent]:
    """Canonical events for every record that reached a queue or an agent, by the built-in importer profile."""
    stats = CdrStats()
    for _, events in read_records(RECORDS, ANONYMOUS_BANK_1999, stats):
        for _, event in events:
            yield decode_event(json.dumps(event))
    assert stats.problems == []


@pytest.fixture(scope="module")
def replayed() -> Engine:
    config = EngineConfig(
        queues=QueueConfigs(QueueConfig(time_zone="Asia/Jerusalem", sl_thresholds_s=(20, 30, 60))),
        retention_ms=40 * DAY_MS,  # the whole month stays readable after the replay
    )
    engine = Engine(config)
    verdicts = apply_all(engine, bank_events())
    assert set(verdicts) == {Verdict.ACCEPTED}
    return engine


def _day_window(day: str) -> Window:
    start = datetime.fromisoformat(day).replace(tzinfo=ZONE)
    return Window(WindowKind.TODAY, "today", int(start.timestamp() * 1000), int(start.timestamp() * 1000) + DAY_MS)


def _reference_rows() -> list[dict[str, str]]:
    with REFERENCE.open(newline="", encoding="ascii") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_every_day_and_queue_matches_the_reference(replayed: Engine) -> None:
    mismatches = []
    for row in _reference_rows():
        agg = replayed.aggregate(row["queue"], "voice", _day_window(row["date"]))
        t20, t30 = agg.threshold_index(20_000), agg.threshold_index(30_000)
        ours = {
            "answered": agg.answered,
            # The reference counts short abandons (<= 5 s) among the abandons; the engine keeps them apart.
            "abandoned": agg.abandoned + agg.short_abandoned,
            "abandoned_short": agg.short_abandoned,
            "abandoned_within_20": agg.abandoned_within[t20] + agg.short_abandoned,
            "abandoned_within_30": agg.abandoned_within[t30] + agg.short_abandoned,
            "answered_within_20": agg.answered_within[t20],
            "answered_within_30": agg.answered_within[t30],
            "sum_wait_answered_s": agg.sum_wait_answered_ms // 1000,
            "sum_wait_abandoned_s": (agg.sum_wait_abandoned_ms + agg.sum_wait_short_abandoned_ms) // 1000,
            "handled": agg.handled,
            "sum_talk_s": agg.sum_talk_ms // 1000,
        }
        expected = {key: int(row[key]) for key in ours}
        if ours != expected:
            mismatches.append((row["date"], row["queue"], ours, expected))
    assert mismatches == []


@pytest.mark.slow
def test_month_totals_give_the_published_asa_and_aht(replayed: Engine) -> None:
    month = Window(WindowKind.TODAY, "month", _day_window("1999-02-01").start_ms, _day_window("1999-03-01").start_ms)
    answered = handled = abandoned = within_20 = wait_ms = talk_ms = 0
    for queue, channel in replayed.queues():
        agg = replayed.aggregate(queue, channel, month)
        answered += agg.answered
        handled += agg.handled
        abandoned += agg.abandoned + agg.short_abandoned
        within_20 += agg.answered_within[agg.threshold_index(20_000)]
        wait_ms += agg.sum_wait_answered_ms
        talk_ms += agg.sum_talk_ms
    # Data README: answered 27,162; abandoned 3,963; within 20 s 16,210; ASA 40.77 s; AHT 176.35 s.
    assert (answered, abandoned, within_20, handled) == (27_162, 3_963, 16_210, 27_162)
    assert round(wait_ms / 1000 / answered, 2) == 40.77
    assert round(talk_ms / 1000 / handled, 2) == 176.35
