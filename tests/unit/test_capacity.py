"""The capacity plan, on a bench report with round numbers; every expected figure worked by hand below.

The report: 5,000 events/s per worker; 60,000 events for 5,000 contacts (12 per
contact); 100 MiB resident when ready, 150 MiB after the stream (50 MiB / 5,000
= 10,485.76 bytes per retained contact); 80,000 changelog records (16 per
contact) of which 40,000 live keys (8 per contact), replayed in 10 s (8,000
records/s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccpulse.bench.capacity import (
    GIB,
    CapacityError,
    ContactCenter,
    MeasuredWorker,
    format_plans,
    plan_capacity,
)
from ccpulse.cli import main
from ccpulse.codec import json

MIB = 2**20
REPORT = {
    "kafka": {
        "worker_events_per_s": 5_000.0,
        "events": 60_000,
        "contacts": 5_000,
        "worker_ready_rss_bytes": 100 * MIB,
        "worker_rss_bytes": 150 * MIB,
        "changelog_records": 80_000,
        "changelog_live_keys": 40_000,
        "recovery_s": 10.0,
    }
}
MEASURED = MeasuredWorker.from_bench_report(REPORT)


def test_the_measured_figures_are_per_contact_and_per_second() -> None:
    assert MEASURED.events_per_s == 5_000
    assert MEASURED.events_per_contact == 12
    assert MEASURED.base_bytes == 100 * MIB
    assert MEASURED.bytes_per_retained_contact == pytest.approx(10_485.76)
    assert MEASURED.changelog_records_per_contact == 16
    assert MEASURED.live_keys_per_contact == 8
    assert MEASURED.recovery_records_per_s == 8_000


def test_a_thousand_agents_fit_one_worker() -> None:
    plan = plan_capacity(ContactCenter(agents=1_000), MEASURED)

    # 1,000 x 0.85 x 3,600 / 300 s = 10,200 contacts an hour; x 12 / 3,600 = 34 events/s.
    assert plan.center.contacts_per_hour == pytest.approx(10_200)
    assert plan.events_per_s == pytest.approx(34)
    assert plan.workers_for_throughput == 1  # 34 / (5,000 x 0.5)
    # Retained: 10,200 x 10 busy hours x 48 h / 24 h = 204,000 contacts, x 10,485.76 B = 2,139,095,040 B,
    # within 4 GiB - 100 MiB = 4,190,109,696 B.
    assert plan.center.retained_contacts == pytest.approx(204_000)
    assert plan.workers_for_memory == 1
    assert (plan.workers, plan.partitions) == (1, 4)
    assert plan.memory_per_worker_bytes == pytest.approx(104_857_600 + 2_139_095_040)
    # Records: 204,000 x 8 live keys + 10,200 x 16 (an hour of writes) = 1,795,200, at 8,000/s.
    assert plan.recovery_s == pytest.approx(224.4)


def test_a_hundred_thousand_agents_need_workers_for_their_state_not_for_their_events() -> None:
    plan = plan_capacity(ContactCenter(agents=100_000), MEASURED)

    assert plan.events_per_s == pytest.approx(3_400)  # 1,020,000 contacts an hour x 12 / 3,600
    assert plan.workers_for_throughput == 2  # 3,400 / 2,500, rounded up
    # 20,400,000 retained contacts x 10,485.76 B = 213,909,504,000 B; / 4,190,109,696 B = 51.05 -> 52.
    assert plan.workers_for_memory == 52
    assert (plan.workers, plan.partitions) == (52, 104)
    # (20,400,000 x 8 + 1,020,000 x 16) / 52 workers / 8,000 per s = 179,520,000 / 416,000.
    assert plan.recovery_s == pytest.approx(431.538, abs=0.001)


def test_a_shorter_retention_and_more_memory_need_fewer_workers() -> None:
    plan = plan_capacity(ContactCenter(agents=100_000, retention_hours=24), MEASURED, memory_per_worker_bytes=16 * GIB)

    # 10,200,000 retained x 10,485.76 B = 106,954,752,000 B; / (16 GiB - 100 MiB) = 6.26 -> 7.
    assert plan.workers_for_memory == 7
    assert plan.workers == 7


def test_a_report_without_the_broker_part_names_what_is_missing() -> None:
    with pytest.raises(CapacityError, match=r"kafka\.worker_rss_bytes.*make bench"):
        MeasuredWorker.from_bench_report({"kafka": {**REPORT["kafka"], "worker_rss_bytes": None}})
    with pytest.raises(CapacityError, match=r"kafka\.worker_events_per_s"):
        MeasuredWorker.from_bench_report({"kafka": None})


def test_out_of_range_inputs_are_refused_with_a_reason() -> None:
    with pytest.raises(CapacityError, match="occupancy"):
        ContactCenter(agents=10, occupancy=1.5)
    with pytest.raises(CapacityError, match="memory per worker"):
        plan_capacity(ContactCenter(agents=10), MEASURED, memory_per_worker_bytes=50 * MIB)


def test_the_table_shows_each_plan_and_the_figures_it_rests_on() -> None:
    table = format_plans([plan_capacity(ContactCenter(agents=n), MEASURED) for n in (1_000, 100_000)], MEASURED)

    assert "5,000 events/s, 12.0 events per contact" in table
    lines = table.splitlines()
    assert lines[2].split()[:4] == ["1,000", "10,200", "34", "204,000"]
    assert lines[3].split()[:5] == ["100,000", "1,020,000", "3,400", "20,400,000", "52"]


def test_the_command_reads_the_report_and_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCPULSE_RETENTION_HOURS", raising=False)
    report = tmp_path / "bench.json"
    report.write_bytes(json.dumps(REPORT))

    assert main(["capacity", "--report", str(report), "--agents", "1000,100_000"]) == 0
    out = capsys.readouterr().out
    assert "10,200" in out
    assert "1,020,000" in out

    assert main(["capacity", "--report", str(tmp_path / "missing.json")]) == 2
    assert "run `make bench` first" in capsys.readouterr().err
