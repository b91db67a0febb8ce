"""The worker's Prometheus exposition, byte for byte, and promtool's verdict on it.

The golden file is what a scrape returns for a fixed state: an engine fed a
few fixed events and read at a fixed clock, plus self-metrics with a few
increments. A change to any name, label, help text, type or value shows up
here as a diff to review. Everything in it is deterministic: the events, the
clock, and the collector's order (queues and channels sorted, windows in
config order). To accept an intended change:
CCPULSE_UPDATE_GOLDEN=1 pytest tests/unit/test_exposition_golden.py

The window and threshold settings are trimmed (one rolling window, one SL
threshold) to keep the file reviewable; every metric family has a sample.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from ccpulse.codec.events import RejectReason
from ccpulse.domain.engine import Engine, EngineConfig, apply_all
from ccpulse.domain.events import AgentEvent, AgentState, CanonicalEvent, Channel, ContactEvent, ContactEventType
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS, WindowConfig
from ccpulse.telemetry.metrics import ConsumerLagCollector, KpiCollector, MetricsLimits, SelfMetrics

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "metrics.prom"

BASE = 1_790_035_200_000 + 9 * HOUR_MS  # 2026-09-21T09:00:00Z
NOW = BASE + 10 * MINUTE_MS  # the interval [09:00, 09:15) is open
S = 1000
E = ContactEventType


def _events() -> list[CanonicalEvent]:
    """sales/voice: handled (wait 10 s, talk 60 s, ACW 5 s), abandoned (40 s), short abandon (3 s), one waiting.

    Agents serving sales: a1 available 09:00-09:01, busy 09:01-09:04, then
    available (occupancy 3/4 of closed spans); a2 away.
    """
    return [
        ContactEvent("c1-q", E.QUEUED, BASE + 1 * MINUTE_MS, "c1", queue="sales", channel=Channel.VOICE),
        ContactEvent("c1-a", E.ANSWERED, BASE + 1 * MINUTE_MS + 10 * S, "c1", agent_id="a1"),
        ContactEvent("c1-e", E.ENDED, BASE + 1 * MINUTE_MS + 70 * S, "c1", agent_id="a1"),
        ContactEvent("c1-w", E.WRAPUP_ENDED, BASE + 1 * MINUTE_MS + 75 * S, "c1", agent_id="a1"),
        ContactEvent("c2-q", E.QUEUED, BASE + 2 * MINUTE_MS, "c2", queue="sales", channel=Channel.VOICE),
        ContactEvent("c2-x", E.ABANDONED, BASE + 2 * MINUTE_MS + 40 * S, "c2"),
        ContactEvent("c3-q", E.QUEUED, BASE + 3 * MINUTE_MS, "c3", queue="sales", channel=Channel.VOICE),
        ContactEvent("c3-x", E.ABANDONED, BASE + 3 * MINUTE_MS + 3 * S, "c3"),
        ContactEvent("w1-q", E.QUEUED, BASE + 8 * MINUTE_MS, "w1", queue="sales", channel=Channel.VOICE),
        AgentEvent("a1-1", BASE, "a1", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("a1-2", BASE + 1 * MINUTE_MS, "a1", AgentState.BUSY, queues=("sales",)),
        AgentEvent("a1-3", BASE + 4 * MINUTE_MS, "a1", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("a2-1", BASE, "a2", AgentState.AWAY, queues=("sales",)),
    ]


def _exposition() -> bytes:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, clock=lambda: NOW / 1000 + 2.5)
    engine = Engine(
        EngineConfig(
            queues=QueueConfigs(QueueConfig(sl_thresholds_s=(20,))),
            windows=WindowConfig(rolling_sizes_ms=(15 * MINUTE_MS,)),
        )
    )
    apply_all(engine, _events())
    engine.advance_to(NOW)
    limits = MetricsLimits(per_agent=True)
    collector: Collector = KpiCollector(lambda: [(engine.view, NOW)], lambda: True, engine.stats, limits)
    registry.register(collector)
    registry.register(ConsumerLagCollector(lambda: {("ccpulse.events", 0): 12, ("ccpulse.events", 1): 0}))
    metrics.events_consumed.inc(1_000)
    metrics.events_rejected.labels(reason=RejectReason.NOT_JSON.value).inc(2)
    metrics.events_rejected.labels(reason=RejectReason.LATE.value).inc(1)
    metrics.duplicates.inc(3)
    metrics.facts_emitted.labels(kind="upsert").inc(137)
    metrics.facts_emitted.labels(kind="delete").inc(1)
    metrics.kpi_rows_published.inc(42)
    metrics.out_of_order.inc(4)
    metrics.note_event_time(NOW / 1000)
    metrics.last_processed_time.set(NOW / 1000 + 2)
    # `_created` samples carry the wall clock of the test run; the worker disables them too.
    lines = generate_latest(registry).decode().splitlines(keepends=True)
    return "".join(line for line in lines if "_created" not in line).encode()


def test_exposition_matches_the_golden_file() -> None:
    text = _exposition()
    if os.environ.get("CCPULSE_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(text)
    assert text.decode() == GOLDEN.read_text()


def test_promtool_finds_no_naming_problems_in_the_exposition() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package 'prometheus')")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    done = subprocess.run([promtool, "check", "metrics"], input=GOLDEN.read_bytes(), capture_output=True, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert done.stdout.decode() + done.stderr.decode() == ""
