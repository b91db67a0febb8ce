"""``ccpulse replay FILE --direct``: the KPI topic a stream-clock worker would leave, computed in process.

T0 = 2024-06-01T00:00:00Z (1_717_200_000_000 ms), a UTC midnight: an interval
boundary and the start of "today" for the default UTC queue config, and well
in the past, so no event is judged to be in the future. Default windows:
interval_15m, rolling_5m/15m/60m and today. Numbers are worked by hand in the
comments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccpulse import cli
from ccpulse.codec import json
from ccpulse.codec.outputs import iso_ms, kpi_row
from ccpulse.config import Settings
from ccpulse.domain.engine import Engine, Verdict
from ccpulse.domain.queue_config import QueueConfigs
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS, Window, WindowKind
from ccpulse.sources.direct import compute_kpi_rows, engine_config, replay_direct
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan

T0 = 1_717_200_000_000
S = 1000
M = MINUTE_MS
DAY = "2024-06-01T00:00:00.000Z"
CONFIG = engine_config(Settings())


def event(event_id: str, event_type: str, ts_ms: int, contact_id: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": event_type, "ts": ts_ms, "contact_id": contact_id, **fields}


def call(contact_id: str, queued_ms: int, wait_ms: int, agent_id: str | None) -> list[dict[str, Any]]:
    """A voice call of queue sales: answered by ``agent_id`` after ``wait_ms`` (2 min talk, 30 s ACW), or abandoned."""
    events = [event(f"{contact_id}-q", "contact.queued", queued_ms, contact_id, queue="sales", channel="voice")]
    outcome_ms = queued_ms + wait_ms
    if agent_id is None:
        return [*events, event(f"{contact_id}-x", "contact.abandoned", outcome_ms, contact_id)]
    return [
        *events,
        event(f"{contact_id}-a", "contact.answered", outcome_ms, contact_id, agent_id=agent_id),
        event(f"{contact_id}-e", "contact.ended", outcome_ms + 2 * M, contact_id, agent_id=agent_id),
        event(f"{contact_id}-w", "contact.wrapup_ended", outcome_ms + 2 * M + 30 * S, contact_id, agent_id=agent_id),
    ]


def three_calls() -> list[dict[str, Any]]:
    """c1 answered after 10 s, c2 after 40 s, c3 abandoned after 30 s (not short: > 5 s); all in 00:00-00:15.

    Ends with a watermark at T0+1h, so 00:00 .. 00:45 are closed and 01:00 is open.
    """
    events = (
        call("c1", T0 + 1 * M, 10 * S, "a1")
        + call("c2", T0 + 2 * M, 40 * S, "a2")
        + call("c3", T0 + 3 * M, 30 * S, None)
    )
    events.sort(key=lambda e: e["ts"])
    return [*events, {"event_id": "end", "type": "stream.watermark", "ts": T0 + HOUR_MS}]


def ndjson(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def rows_of(path: Path, **kwargs: Any) -> dict[str, dict[str, Any]]:
    result = compute_kpi_rows(path, CONFIG, **kwargs)
    return {key.decode(): json.loads(value) for key, value in result.rows.items()}


def test_three_calls_give_the_hand_worked_numbers(tmp_path: Path) -> None:
    source = ndjson(tmp_path / "calls.ndjson", [json.dumps(e) for e in three_calls()])
    output = tmp_path / "kpis.ndjson"

    report = replay_direct(source, Settings(), output)

    lines = [json.loads(line) for line in output.read_bytes().splitlines()]
    rows = {line["key"]: line["value"] for line in lines}
    assert [line["key"] for line in lines] == sorted(rows), "one line per key, sorted by key"
    kpis = rows[f"sales|voice|interval_15m|{DAY}"]["kpis"]
    # offered = 2 answered + 1 abandoned = 3; ASA = (10 + 40) / 2 = 25 s; abandonment = 1 / 3
    assert (kpis["arrivals"], kpis["offered"], kpis["answered"], kpis["abandoned"]) == (3, 3, 2, 1)
    assert kpis["asa_s"] == 25.0
    assert kpis["abandonment_ratio"] == pytest.approx(1 / 3)
    sl = {(v["threshold_s"], v["formula"]): v["ratio"] for v in kpis["service_levels"]}
    assert sl[(20, "offered")] == pytest.approx(1 / 3)  # only c1 within 20 s, of 3 offered
    assert sl[(20, "answered")] == pytest.approx(1 / 2)  # of 2 answered
    assert sl[(60, "offered")] == pytest.approx(2 / 3)  # c1 and c2 within 60 s
    # Both segments complete in 00:00-00:15 (c2: answered 00:02:40, wrap-up ends 00:05:10).
    assert kpis["handled"] == 2
    assert rows[f"sales|voice|today|{DAY}"]["kpis"]["offered"] == 3
    assert rows[f"sales|all|interval_15m|{DAY}"]["kpis"] == kpis  # one channel, no agent states: the same

    # Every interval up to the end, closed and final; the one holding the end open; rolling and today open.
    intervals = ["00:00", "00:15", "00:30", "00:45", "01:00"]
    expected = {
        f"sales|{channel}|interval_15m|2024-06-01T{hhmm}:00.000Z" for channel in ("voice", "all") for hhmm in intervals
    }
    expected |= {f"sales|{channel}|today|{DAY}" for channel in ("voice", "all")}
    expected |= {f"sales|{channel}|rolling_{n}m|latest" for channel in ("voice", "all") for n in (5, 15, 60)}
    assert set(rows) == expected
    assert {key for key, row in rows.items() if row["final"]} == {
        key for key in expected if "interval_15m" in key and "01:00" not in key
    }
    assert {row["as_of"] for row in rows.values()} == {iso_ms(T0 + HOUR_MS)}  # the stream time at the end
    assert rows["sales|voice|interval_15m|2024-06-01T00:30:00.000Z"]["kpis"]["offered"] == 0
    assert (report.lines, report.rows, report.verdicts[Verdict.ACCEPTED]) == (11, len(expected), 11)
    assert report.ends_with_watermark


def test_rows_equal_the_engine_for_every_window_of_a_simulated_day(tmp_path: Path) -> None:
    plan = SimulationPlan(contacts=300, rate_per_s=0.05, seed=7, paced=False, mixed=True)
    events = [e for _, e in ContactGenerator(plan, T0 + 8 * HOUR_MS).events()]
    source = ndjson(tmp_path / "day.ndjson", [json.dumps(e) for e in events])
    engine = Engine(CONFIG)
    from ccpulse.codec.events import decode_event  # noqa: PLC0415

    for e in events:
        engine.apply(decode_event(json.dumps(e)))

    rows = rows_of(source)

    assert len(rows) > 100
    for key, row in rows.items():
        end_ms = engine.stream_time_ms
        assert end_ms is not None
        window = Window(WindowKind(row["window_kind"]), row["window"], _ms(row["window_start"]), _ms(row["window_end"]))
        expected = kpi_row(
            row["queue"],
            row["channel"],
            window,
            engine.snapshot(row["queue"], row["channel"], window),
            final=True,
            as_of_ms=0,
        )
        assert row["kpis"] == json.loads(json.dumps(expected))["kpis"], key


def _ms(text: str) -> int:
    from datetime import datetime  # noqa: PLC0415

    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_a_late_event_corrects_the_final_row_of_its_closed_interval(tmp_path: Path) -> None:
    # Stream time reaches 00:40 (00:00-00:15 closed, its final row out), then an abandon queued at
    # 00:05 arrives: the interval's final row is corrected, as the worker republishes it.
    events = three_calls()[:-1]
    events.append(event("c9-q", "contact.queued", T0 + 40 * M, "c9", queue="sales", channel="voice"))
    events += [
        event("c4-q", "contact.queued", T0 + 5 * M, "c4", queue="sales", channel="voice"),
        event("c4-x", "contact.abandoned", T0 + 5 * M + 20 * S, "c4"),
    ]
    source = ndjson(tmp_path / "late.ndjson", [json.dumps(e) for e in events])

    row = rows_of(source)[f"sales|voice|interval_15m|{DAY}"]

    assert row["final"] is True
    assert (row["kpis"]["offered"], row["kpis"]["abandoned"]) == (4, 2)


def test_invalid_lines_are_reported_with_line_numbers_and_the_rest_applied(tmp_path: Path) -> None:
    good = [json.dumps(e) for e in three_calls()]
    lines = [good[0], b"{broken", *good[1:3], b"", json.dumps({"type": "contact.queued"}), *good[3:]]
    source = ndjson(tmp_path / "mixed.ndjson", lines)

    result = compute_kpi_rows(source, CONFIG)

    problems = result.report.problems
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == ["2", "6"]  # line 5 is blank, not an event
    assert "not_json" in problems[0]
    assert result.report.lines == len(good) + 2
    assert json.loads(result.rows[f"sales|voice|interval_15m|{DAY}".encode()])["kpis"]["offered"] == 3


def test_duplicates_late_and_future_events_are_counted_as_the_engine_reports_them(tmp_path: Path) -> None:
    events = three_calls()
    duplicate = events[1]
    late = event("old-q", "contact.queued", T0 - 50 * HOUR_MS, "old", queue="sales", channel="voice")
    future = event("far-q", "contact.queued", T0 + 2 * HOUR_MS, "far", queue="sales", channel="voice")
    lines = [json.dumps(e) for e in [*events, duplicate, late, future]]
    source = ndjson(tmp_path / "verdicts.ndjson", lines)

    # The wall clock at T0+1h: the event queued at T0+2h is more than max_future_skew (300 s) ahead.
    result = compute_kpi_rows(source, CONFIG, wall_ms=T0 + HOUR_MS)

    report = result.report
    assert (report.verdicts[Verdict.DUPLICATE], report.verdicts[Verdict.LATE], report.verdicts[Verdict.FUTURE]) == (
        1,
        1,
        1,
    )
    n = len(events)
    assert report.rejected == [
        f"{source}:{n + 2}: late (event_id 'old-q')",
        f"{source}:{n + 3}: future (event_id 'far-q')",
    ]
    assert "2 events not counted (the worker dead-letters them)" in report.summary()
    assert json.loads(result.rows[f"sales|voice|interval_15m|{DAY}".encode()])["kpis"]["offered"] == 3
    assert not report.ends_with_watermark  # the last line is an event, not the watermark


def test_the_command_writes_the_rows_file_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = ndjson(tmp_path / "calls.ndjson", [json.dumps(e) for e in three_calls()])
    output = tmp_path / "kpis.ndjson"

    assert cli.main(["replay", str(source), "--direct", "--output", str(output)]) == 0

    err = capsys.readouterr().err
    lines = output.read_bytes().splitlines()
    assert len(lines) == 18
    assert f"direct replay of {source}: 11 events read" in err
    assert f"18 KPI rows to {output}, as of 2024-06-01T01:00:00.000Z" in err
    assert "note:" not in err  # the file ends with a watermark


def test_the_command_writes_to_stdout_and_fails_on_invalid_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = ndjson(tmp_path / "bad.ndjson", [*(json.dumps(e) for e in three_calls()), b"[1, 2]"])

    assert cli.main(["replay", str(source), "--direct"]) == 1

    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 18
    assert json.loads(captured.out.splitlines()[0])["key"] == f"sales|all|interval_15m|{DAY}"
    assert "bad.ndjson:12: not_object" in captured.err
    assert "1 invalid lines not applied" in captured.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(["--direct", "--speed", "10"], "--direct and --speed cannot be combined", id="speed"),
        pytest.param(["--direct", "--dry-run"], "--direct and --dry-run cannot be combined", id="dry-run"),
        pytest.param(["--output", "x.ndjson"], "--output needs --direct", id="output"),
    ],
)
def test_options_that_do_not_go_with_direct_fail_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    source = ndjson(tmp_path / "calls.ndjson", [json.dumps(e) for e in three_calls()])

    assert cli.main(["replay", str(source), *options]) == 2

    assert message in capsys.readouterr().err


def test_help_explains_direct(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["replay", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--direct" in out
    assert "without Kafka" in out
    assert "as_of" in out


def test_the_engine_is_configured_from_the_settings_as_the_worker(tmp_path: Path) -> None:
    queues = tmp_path / "queues.toml"
    queues.write_text("[default]\nsl_thresholds_s = [20, 45]\n[queues.vip]\nacw_timeout_s = 120\n")
    settings = Settings(retention_hours=72, max_future_skew_s=60, customer_hash_key="secret", queues_file=str(queues))

    config = engine_config(settings)

    assert config.queues == settings.queue_configs() != QueueConfigs()
    assert config.queues.for_queue("vip").acw_timeout_ms == 120 * S
    assert (config.retention_ms, config.max_future_skew_ms) == (72 * HOUR_MS, 60 * S)
    assert config.customer_hash_key == b"secret"


def test_a_survey_of_a_segment_completed_by_its_acw_timeout_counts_at_the_end(tmp_path: Path) -> None:
    # c1 ends at 00:03:10 without a wrap-up; the survey (00:04) waits for its segment, which the
    # ACW timeout completes at 00:13:10, fired by the file's last line, the watermark at 00:14.
    events = call("c1", T0 + 1 * M, 10 * S, "a1")[:-1]
    events.append(
        {"event_id": "s1", "type": "survey.submitted", "ts": T0 + 4 * M, "kind": "csat", "score": 5, "contact_id": "c1"}
    )
    events.append({"event_id": "end", "type": "stream.watermark", "ts": T0 + 14 * M})
    source = ndjson(tmp_path / "survey.ndjson", [json.dumps(e) for e in events])

    kpis = rows_of(source)[f"sales|voice|interval_15m|{DAY}"]["kpis"]

    assert (kpis["handled"], kpis["acw_timeouts"], kpis["csat_count"]) == (1, 1, 1)
