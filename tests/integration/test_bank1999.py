"""Real data end to end: a month of a bank call center (February 1999) imported, computed and published.

``ccpulse import-csv`` maps the records with the built-in ``anonymous-bank-1999``
profile onto the input topic (in event-time order, ending with a watermark); the
real worker runs on the stream-time clock with the site's zone, Asia/Jerusalem,
for every queue. Every final ``today`` row of the KPI topic (queue = call type,
channel voice) must equal the reference sums of tests/data exactly: answered,
abandoned (short ones included, as the reference counts them), short abandons,
answered and abandoned within 20 s and 30 s, total wait of answered and of
abandoned calls, handled calls and total talk time. Credit: Technion SEE Center.
"""

from __future__ import annotations

import csv
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ccpulse.codec import json
from tests.integration.support import CCPULSE, WorkerProcess, latest_by_key

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDS = DATA / "anonymous-bank-1999-02.tsv"
REFERENCE = DATA / "anonymous-bank-1999-02.reference.csv"
ZONE = ZoneInfo("Asia/Jerusalem")
QUEUES = """
[default]
time_zone = "Asia/Jerusalem"
sl_thresholds_s = [20, 30]
"""


def reference() -> dict[tuple[str, str], dict[str, int]]:
    with REFERENCE.open(newline="", encoding="ascii") as handle:
        return {
            (row["date"], row["queue"]): {k: int(v) for k, v in row.items() if k not in ("date", "queue")}
            for row in csv.DictReader(handle)
        }


def from_row(row: dict[str, Any]) -> dict[str, int]:
    """The reference's columns from a final KPI row (kpis: counts; totals: the sums behind the ratios)."""
    kpis, totals = row["kpis"], row["totals"]
    short = kpis["short_abandoned"]
    return {
        "answered": kpis["answered"],
        "abandoned": kpis["abandoned"] + short,
        "abandoned_short": short,
        "abandoned_within_20": totals["abandoned_within"]["20"] + short,
        "abandoned_within_30": totals["abandoned_within"]["30"] + short,
        "answered_within_20": totals["answered_within"]["20"],
        "answered_within_30": totals["answered_within"]["30"],
        "sum_wait_answered_s": round(totals["wait_answered_s"]),
        "sum_wait_abandoned_s": round(totals["wait_abandoned_s"] + totals["wait_short_abandoned_s"]),
        "handled": kpis["handled"],
        "sum_talk_s": round(totals["talk_s"]),
    }


def final_days(bootstrap: str, topic: str) -> dict[tuple[str, str], dict[str, int]]:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for message in latest_by_key(bootstrap, topic, idle_s=2.0, timeout_s=120).values():
        row = json.loads(message.value)
        if row["window"] == "today" and row["channel"] == "voice" and row["final"]:
            # window_start is the local midnight, written in UTC (1999-01-31T22:00:00.000Z for 1 February).
            day = datetime.fromisoformat(row["window_start"]).astimezone(ZONE).date().isoformat()
            rows[day, row["queue"]] = from_row(row)
    return rows


@pytest.mark.slow
def test_february_1999_daily_rows_equal_the_reference(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    queues = tmp_path / "queues.toml"
    queues.write_text(QUEUES)
    # Late events update windows as far back as the retention reaches: a month here, because the
    # worker reads the input partitions unevenly (a fetch holds about a day of this data), so one
    # partition's events can reach the queue stage days behind another's.
    worker = start_worker(
        CCPULSE_CLOCK="stream",
        CCPULSE_QUEUES_FILE=str(queues),
        CCPULSE_KPI_PUBLISH_INTERVAL_S="2",
        CCPULSE_RETENTION_HOURS="744",
    )
    worker.wait_ready()
    started = time.monotonic()
    imported = subprocess.run(
        [str(CCPULSE), "import-csv", str(RECORDS), "--profile", "anonymous-bank-1999", "--sort", "--end-watermark"],
        env=worker.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "31125 imported" in imported.stderr
    print(f"\nimport: {imported.stderr.strip().splitlines()[-1]}")

    expected = reference()
    kpi_topic = topic_names["CCPULSE_KPI_TOPIC"]
    deadline = time.monotonic() + 900
    ours: dict[tuple[str, str], dict[str, int]] = {}
    while time.monotonic() < deadline:
        ours = final_days(kafka_bootstrap, kpi_topic)
        if set(expected) <= set(ours) and all(ours[key] == expected[key] for key in expected):
            break
        assert worker.process is not None
        assert worker.process.poll() is None, worker.log_tail()
        time.sleep(10)
    print(f"worker: {len(expected)} day x queue rows final and equal after {time.monotonic() - started:.0f} s")

    missing = sorted(set(expected) - set(ours))
    different = [
        (key, ours[key], expected[key]) for key in sorted(expected) if key in ours and ours[key] != expected[key]
    ]
    assert missing == []
    assert different == []
