"""Real data: a month of a bank call center (1999) through the engine, day by day and queue by queue.

The records are mapped onto canonical events with the attribution rules of
tests/data/README.md, applied to the engine, and every (day, queue) row of the
reference file must come out exactly. Credit: Technion SEE Center (data),
T. W. Miller (2015) for this copy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccpulse.domain.engine import Engine, EngineConfig, Verdict, apply_all
from ccpulse.domain.events import Channel, ContactEvent, ContactEventType
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.windows import DAY_MS, Window, WindowKind

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDS = DATA / "anonymous-bank-1999-02.tsv"
REFERENCE = DATA / "anonymous-bank-1999-02.reference.csv"
ZONE = ZoneInfo("Asia/Jerusalem")
NO_QUEUE = "0:00:00"
E = ContactEventType


def _clock(text: str) -> time:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return time(hours, minutes, seconds)


def _nearest(day: date, clock: time, anchor: datetime) -> datetime:
    """The occurrence of ``clock`` nearest to ``anchor``, on the record's date or the day next to it."""
    candidates = [datetime.combine(day + timedelta(days=shift), clock) for shift in (-1, 0, 1)]
    return min(candidates, key=lambda moment: abs(moment - anchor))


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=ZONE).timestamp() * 1000)


def bank_events() -> Iterator[ContactEvent]:
    """Canonical events for every record that reached a queue or an agent."""
    with RECORDS.open(newline="", encoding="ascii") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            outcome = row["outcome"].strip()
            queued_at_all = row["q_start"] != NO_QUEUE
            if outcome == "PHANTOM" or (outcome == "HANG" and not queued_at_all):
                continue
            day = datetime.strptime(row["date"], "%y%m%d").date()
            entry = datetime.combine(day, _clock(row["vru_entry"]))
            contact_id = f"{row['vru+line']}-{row['call_id']}"
            queue = row["type"].strip()
            if queued_at_all:
                queued_ms = _ms(_nearest(day, _clock(row["q_start"]), entry))
                wait_ms = int(row["q_time"]) * 1000  # never ser_start - q_start: off by one second
            else:
                queued_ms = _ms(_nearest(day, _clock(row["vru_exit"]), entry))
                wait_ms = 0
            yield ContactEvent(f"{contact_id}-q", E.QUEUED, queued_ms, contact_id, queue=queue, channel=Channel.VOICE)
            if outcome == "HANG":
                yield ContactEvent(f"{contact_id}-x", E.ABANDONED, queued_ms + wait_ms, contact_id)
                continue
            answered_ms = queued_ms + wait_ms
            ended_ms = answered_ms + int(row["ser_time"]) * 1000
            agent = row["server"].strip()
            yield ContactEvent(f"{contact_id}-a", E.ANSWERED, answered_ms, contact_id, agent_id=agent)
            yield ContactEvent(f"{contact_id}-e", E.ENDED, ended_ms, contact_id, agent_id=agent)
            # No after-contact work in this data: the wrap-up ends with the call.
            yield ContactEvent(f"{contact_id}-w", E.WRAPUP_ENDED, ended_ms, contact_id, agent_id=agent)


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
