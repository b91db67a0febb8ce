"""The engine bench in smoke mode: it runs end to end and writes a complete report.

Only the shape of the report is checked: speed is measured by ``make bench``,
never asserted by a test.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from ccpulse.bench.engine_bench import BenchPlan, run_engine_bench
from ccpulse.cli import main
from ccpulse.codec import json
from ccpulse.config import ConfigError

SMOKE = {"contacts": 300, "open_contacts": 2000}
RATES = (
    "engine_events_per_s",
    "engine_default_gc_events_per_s",
    "decode_events_per_s",
    "decode_and_apply_events_per_s",
)
REQUIRED = {
    *RATES,
    "bytes_per_open_contact",
    "bytes_per_100k_open_contacts",
    "events",
    "contacts",
    "queues",
    "event_mix",
    "profile_top",
    "machine",
    "generated_at",
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    output = tmp_path_factory.mktemp("bench") / "bench-engine.json"
    table, progress = io.StringIO(), io.StringIO()
    run_engine_bench(BenchPlan(**SMOKE), output, out=table, progress=progress)
    return json.loads(output.read_bytes()), table.getvalue(), progress.getvalue()


@pytest.fixture
def report(smoke_run: tuple[dict[str, Any], str, str]) -> dict[str, Any]:
    return smoke_run[0]


def test_report_has_every_required_key(report: dict[str, Any]) -> None:
    assert report.keys() >= REQUIRED


def test_rates_and_memory_are_positive_numbers(report: dict[str, Any]) -> None:
    for rate in RATES:
        assert isinstance(report[rate], float), rate
        assert report[rate] > 0, rate
    assert isinstance(report["bytes_per_open_contact"], float)
    assert report["bytes_per_open_contact"] > 0
    assert isinstance(report["bytes_per_100k_open_contacts"], int)
    # bytes_per_open_contact is rounded to 0.1 byte: 100k of them may differ by 0.05 * 100k.
    assert abs(report["bytes_per_100k_open_contacts"] - report["bytes_per_open_contact"] * 100_000) <= 5_000


def test_stream_is_the_planned_mixed_stream(report: dict[str, Any]) -> None:
    assert report["contacts"] == 300
    assert report["queues"] == 50
    mix = report["event_mix"]
    assert sum(mix.values()) == report["events"] > report["contacts"]
    families = {event_type.split(".")[0] for event_type in mix}
    assert families >= {"contact", "agent", "ticket", "survey"}
    assert {"contact.hold_started", "contact.transferred", "contact.wrapup_ended"} <= mix.keys()
    # Every simulated event is valid and in retention: the engine accepts them all.
    assert report["verdicts"] == {"accepted": report["events"]}


def test_open_contacts_stay_open(report: dict[str, Any]) -> None:
    # Half of them were answered; the other half is still waiting (none reaped).
    assert report["open_contacts"] == 2000
    assert report["open_contacts_waiting"] == 1000


def test_profile_lists_engine_functions(report: dict[str, Any]) -> None:
    top = report["profile_top"]
    assert 0 < len(top) <= 15
    for line in top:
        assert set(line) == {"function", "calls", "cumulative_s", "own_s"}
        assert isinstance(line["function"], str)
        assert isinstance(line["calls"], int)
        assert line["calls"] > 0
        assert line["cumulative_s"] >= line["own_s"] >= 0
    cumulative = [line["cumulative_s"] for line in top]
    assert cumulative == sorted(cumulative, reverse=True)
    assert any("Engine.apply" in line["function"] for line in top)


def test_machine_facts(report: dict[str, Any]) -> None:
    machine = report["machine"]
    assert machine["cores"] is None or machine["cores"] >= 1
    assert machine["python"].count(".") == 2
    assert machine["platform"]
    assert report["generated_at"].endswith("+00:00")


def test_table_and_progress(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    _, table, progress = smoke_run
    assert "engine apply" in table
    assert "events/s" in table
    assert "where the time goes" in table
    assert "generating 300 contacts" in progress
    assert "memory test" in progress


def test_cli_runs_the_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out" / "report.json"
    argv = ["bench", "--contacts", "300", "--open-contacts", "2000", "--seed", "3", "--no-profile"]

    assert main([*argv, "--output", str(output)]) == 0

    report = json.loads(output.read_bytes())
    assert report["profile_top"] == []
    assert report["seed"] == 3
    captured = capsys.readouterr()
    assert "decode + apply" in captured.out
    assert "where the time goes" not in captured.out
    assert "bench:" in captured.err


def test_cli_rejects_an_empty_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--contacts", "0"]) == 2
    assert "--contacts" in capsys.readouterr().err


def test_plan_validation() -> None:
    with pytest.raises(ConfigError, match="--open-contacts"):
        BenchPlan(open_contacts=0)
    assert BenchPlan(queues=50).queue_names[::49] == ("q00", "q49")
