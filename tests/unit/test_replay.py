"""Replay of NDJSON event files, pacing by event time, and the source commands' dry runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ccpulse import cli
from ccpulse.codec import json
from ccpulse.sources import sink as sink_module
from ccpulse.sources.replay import replay_file
from ccpulse.sources.sink import DryRunSink, FileSink, paced

T0 = 1_790_035_200_000
DATA = Path(__file__).resolve().parents[1] / "data"


def queued(n: int, ts_ms: int) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "type": "contact.queued",
        "ts": ts_ms,
        "contact_id": f"c{n}",
        "queue": "q",
        "channel": "voice",
    }


def ndjson(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_replay_sends_every_event_in_file_order_and_reports_bad_lines(tmp_path: Path) -> None:
    source = ndjson(
        tmp_path / "in.ndjson",
        [json.dumps(queued(2, T0 + 5_000)), b"{broken", json.dumps(queued(1, T0)), b"", json.dumps({"type": "x"})],
    )
    output = tmp_path / "out.ndjson"

    async def run() -> list[str]:
        sink = FileSink(output)
        try:
            stats = await replay_file(source, sink)
        finally:
            await sink.close()
        return stats.problems

    problems = asyncio.run(run())

    # Order kept, even where event time goes backwards; the blank line is not an event.
    assert [json.loads(line)["event_id"] for line in output.read_bytes().splitlines()] == ["e2", "e1"]
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == ["2", "5"]


def test_pacing_keeps_event_time_distances_divided_by_the_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        clock[0] += seconds

    monkeypatch.setattr(sink_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sink_module.asyncio, "sleep", fake_sleep)
    events = [(T0, queued(1, T0)), (T0 + 10_000, queued(2, T0 + 10_000)), (T0 + 30_000, queued(3, T0 + 30_000))]

    async def run(speed: float | None) -> list[int]:
        return [ts async for ts, _ in paced(events, speed)]

    assert asyncio.run(run(10.0)) == [T0, T0 + 10_000, T0 + 30_000]
    assert sleeps == [1.0, 2.0]  # 10 s and 20 s of event time at 10x
    sleeps.clear()
    asyncio.run(run(None))
    assert sleeps == []


def test_replay_command_dry_run_counts_and_fails_on_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = ndjson(tmp_path / "good.ndjson", [json.dumps(queued(1, T0)), json.dumps(queued(2, T0 + 1))])
    bad = ndjson(tmp_path / "bad.ndjson", [json.dumps(queued(1, T0)), b"[1, 2]"])

    assert cli.main(["replay", str(good), "--dry-run"]) == 0
    assert "2 events to nowhere (dry run)" in capsys.readouterr().err
    assert cli.main(["replay", str(bad), "--dry-run"]) == 1
    assert "bad.ndjson:2: not_object" in capsys.readouterr().err


def test_import_csv_command_dry_run_on_the_bank_data(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["import-csv", str(DATA / "anonymous-bank-1999-02.tsv"), "--profile", "anonymous-bank-1999", "--dry-run"]
    )
    err = capsys.readouterr().err

    assert code == 0
    assert "33344 records: 31125 imported, 278 skipped (PHANTOM 278), 1941 never queued" in err
    assert "116574 events to nowhere (dry run)" in err


def test_source_commands_name_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.ndjson")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert cli.main(["import-csv", str(tmp_path / "nope.csv"), "--profile", "anonymous-bank-1999"]) == 2


def test_dry_run_sink_reports_invalid_events_with_their_origin() -> None:
    sink = DryRunSink()

    async def run() -> None:
        await sink.send(queued(1, T0), origin="f:1")
        await sink.send({"event_id": "x", "type": "contact.queued", "ts": 5, "contact_id": "c"}, origin="f:2")
        await sink.close()

    asyncio.run(run())

    assert (sink.report.events, sink.report.invalid) == (1, 1)
    assert sink.report.problems[0].startswith("f:2: bad_timestamp")


def test_import_asterisk_command_dry_run_reports_unmappable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["import-asterisk", str(DATA / "asterisk" / "queue_log"), "--dry-run"])
    err = capsys.readouterr().err

    assert code == 1  # the sample has two malformed lines on purpose
    assert "line 45:" in err
    assert "53 events to nowhere (dry run)" in err
