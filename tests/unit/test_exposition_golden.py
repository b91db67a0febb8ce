"""The worker's Prometheus exposition, byte for byte, and promtool's verdict on it.

The golden file is what a scrape returns for a fixed table state; a change to
any name, label, help text or type shows up here as a diff to review. To accept
an intended change: CCPULSE_UPDATE_GOLDEN=1 pytest tests/unit/test_exposition_golden.py
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
from ccpulse.domain.facts import QueueOutcome
from ccpulse.telemetry.metrics import OutcomeCount, QueueOutcomeCollector, SelfMetrics

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "metrics.prom"


def _exposition() -> bytes:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)
    counts = [
        OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 120),
        OutcomeCount("sales", "voice", QueueOutcome.ABANDONED, 14, 1),
        OutcomeCount("support", "chat", QueueOutcome.FLOWED_OUT, 3),
    ]
    collector: Collector = QueueOutcomeCollector(lambda: counts, lambda: True)
    registry.register(collector)
    metrics.events_consumed.inc(1_000)
    metrics.events_rejected.labels(reason=RejectReason.NOT_JSON.value).inc(2)
    metrics.facts_emitted.labels(kind="published").inc(137)
    metrics.facts_emitted.labels(kind="retracted").inc(1)
    metrics.last_event_time.set(1_790_000_302.0)
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
