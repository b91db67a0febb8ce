"""The broker part of ``make bench`` in smoke mode: it runs end to end and reports every rate.

Speed is measured by ``make bench``, never asserted here; only the shape and sanity of the report.
"""

from __future__ import annotations

import io
from pathlib import Path

from ccpulse.bench.engine_bench import BenchPlan, run_engine_bench
from ccpulse.bench.kafka_bench import KafkaBenchPlan, combined_report, format_combined, run_kafka_bench

CONTRACT_KEYS = {
    "floor_events_per_s",
    "faust_empty_events_per_s",
    "worker_events_per_s",
    "engine_events_per_s",
    "latency_p99_ms_at_1000",
    "bytes_per_open_contact",
    "recovery_s",
    "machine",
}


def test_the_broker_bench_measures_floor_faust_and_worker_on_the_same_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    progress = io.StringIO()
    result = run_kafka_bench(
        KafkaBenchPlan(kafka_bootstrap, contacts=300, timeout_s=90, latency_rates=(50,), latency_duration_s=2),
        tmp_path,
        progress,
    )
    engine = run_engine_bench(
        BenchPlan(contacts=300, open_contacts=2000, profile=False), tmp_path / "engine.json", out=io.StringIO()
    )

    document = combined_report(engine, result, "4.4.0")

    assert set(document) >= CONTRACT_KEYS
    assert result.events > 300  # contacts plus agents, tickets, surveys and the closing watermark
    for rate in ("floor_events_per_s", "faust_empty_events_per_s", "worker_events_per_s"):
        assert document[rate] > 0, rate
    assert document["ratios"]["worker"]["to_floor"] > 0
    assert document["machine"]["kafka_version"] == "4.4.0"
    table = format_combined(document)
    assert "empty Faust agent" in table
    assert "ccpulse worker" in table
    assert result.worker_batched_events_per_s is not None
    assert result.worker_batched_events_per_s > 0
    assert "worker, batched input" in table
    assert "floor (aiokafka + orjson)" in progress.getvalue()
    assert not list(Path.cwd().glob("ccpulse-bench-empty-*"))  # the empty agent's data directory is gone
    assert result.latency["50"]["visible"] == 100  # every event produced was seen on /metrics
    assert document["latency_p99_ms_at_1000"] is None  # not measured at 1,000/s in smoke mode
    # Recovery is measured when the restarted worker reaches the same numbers within the timeout.
    assert result.recovery_s is None or result.recovery_s > 0
    assert result.changelog_records is not None
    assert result.changelog_records > 0  # rows were written
    assert result.changelog_live_keys is not None
    assert 0 < result.changelog_live_keys <= result.changelog_records
    assert result.scaling is not None
    assert set(result.scaling) == {"1", "2"}
    assert all(rate > 0 for rate in result.scaling.values())
    assert "one -> two workers" in table
    assert result.worker_rss_bytes is not None
    assert result.worker_peak_rss_bytes is not None
    assert 20 * 2**20 < result.worker_rss_bytes <= result.worker_peak_rss_bytes  # a Python process, measured
    assert "worker memory (RSS)" in table
