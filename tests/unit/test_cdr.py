"""The call-detail-record importer: declarative profiles, the rules of the contract, reported problems."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path

import pytest

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.config import ConfigError
from ccpulse.sources.cdr import ANONYMOUS_BANK_1999, CdrStats, import_cdr, load_profile, read_records
from ccpulse.sources.sink import DryRunSink, FileSink

DATA = Path(__file__).resolve().parents[1] / "data"
BANK = DATA / "anonymous-bank-1999-02.tsv"
THIRD_PARTY = DATA / "anonymous-bank-1999-02.daily-third-party.csv"

PROFILE = """
[file]
delimiter = ","
time_zone = "Europe/Berlin"

[columns]
contact_id = "call_id"
queue = "queue"
agent = "agent"
queued = "queue_start"
wait_s = "wait_s"
talk_s = "talk_s"
acw_s = "acw_s"
outcome = "disposition"

[formats]
time = "%Y-%m-%d %H:%M:%S"

[values]
channel = "voice"
answered = ["ANSWERED"]
abandoned = ["ABANDONED"]
flowed_out = ["VOICEMAIL"]
skip = ["TEST"]
"""

HEADER = "call_id,queue,agent,queue_start,wait_s,talk_s,acw_s,disposition\n"


def write(tmp_path: Path, rows: str, profile: str = PROFILE) -> tuple[Path, Path]:
    calls = tmp_path / "calls.csv"
    calls.write_text(HEADER + rows)
    profile_path = tmp_path / "pbx.toml"
    profile_path.write_text(profile)
    return calls, profile_path


def mapped(calls: Path, profile_path: Path) -> tuple[list[dict[str, object]], CdrStats]:
    stats = CdrStats()
    events = [event for _, events in read_records(calls, load_profile(str(profile_path)), stats) for _, event in events]
    return events, stats


def test_each_outcome_maps_to_the_contract_events_at_the_right_times(tmp_path: Path) -> None:
    calls, profile = write(
        tmp_path,
        "c1,sales,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n"
        "c2,sales,,2026-03-02 09:01:00,40,0,0,ABANDONED\n"
        "c3,sales,,2026-03-02 09:02:00,300,0,0,VOICEMAIL\n"
        "c4,sales,,2026-03-02 09:03:00,0,0,0,TEST\n",
    )
    events, stats = mapped(calls, profile)
    # 09:00 in Berlin (UTC+1 in March before DST) is 08:00Z.
    t0 = 1_772_438_400_000

    assert [(e["contact_id"], e["type"], e["ts"]) for e in events] == [
        ("c1", "contact.queued", t0),
        ("c1", "contact.answered", t0 + 12_000),
        ("c1", "contact.ended", t0 + 192_000),
        ("c1", "contact.wrapup_ended", t0 + 222_000),
        ("c2", "contact.queued", t0 + 60_000),
        ("c2", "contact.abandoned", t0 + 100_000),
        ("c3", "contact.queued", t0 + 120_000),
        ("c3", "contact.flowed_out", t0 + 420_000),
    ]
    assert stats.imported == 3
    assert stats.skipped == Counter({"TEST": 1})
    assert all(decode_event(json.dumps(event)) for event in events)


def test_event_ids_are_stable_so_a_second_import_is_all_duplicates(tmp_path: Path) -> None:
    calls, profile = write(tmp_path, "c1,sales,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n")

    first, _ = mapped(calls, profile)
    second, _ = mapped(calls, profile)

    assert [e["event_id"] for e in first] == [e["event_id"] for e in second]
    assert len({e["event_id"] for e in first}) == 4


def test_records_that_cannot_be_mapped_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    calls, profile = write(
        tmp_path,
        "c1,sales,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n"
        "c2,sales,ann,09:00,12,180,30,ANSWERED\n"
        "c3,sales,ann,2026-03-02 09:00:00,twelve,180,30,ANSWERED\n"
        "c4,sales,ann,2026-03-02 09:00:00,12,180,30,TRANSFERRED\n"
        "c5,,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n"
        "c6,sales,ann,2026-03-02 09:00:00,12\n",
    )
    _, stats = mapped(calls, profile)

    assert stats.imported == 1
    assert [problem.split(": ", 1)[0].rsplit(":", 1)[1] for problem in stats.problems] == ["3", "4", "5", "6", "7"]
    assert "queue_start '09:00' does not match %Y-%m-%d %H:%M:%S" in stats.problems[0]
    assert "wait_s 'twelve' is not a whole number of seconds" in stats.problems[1]
    assert "outcome 'TRANSFERRED' is not in the profile's [values]" in stats.problems[2]
    assert "empty queue" in stats.problems[3]
    assert "5 fields, the header has 8" in stats.problems[4]


def test_a_profile_naming_a_column_the_file_lacks_fails_before_reading(tmp_path: Path) -> None:
    calls, profile = write(tmp_path, "", PROFILE.replace('talk_s = "talk_s"', 'talk_s = "talk_seconds"'))

    with pytest.raises(ConfigError, match=r"columns \['talk_seconds'\] are not in the file's header"):
        mapped(calls, profile)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('time_zone = "Europe/Berlin"', 'time_zone = "Berlin"'), "time_zone 'Berlin' is not an IANA zone"),
        (('outcome = "disposition"', ""), r"\[columns\] outcome is required"),
        (('wait_s = "wait_s"', ""), "needs wait_s or answered"),
        (("[values]", "[value]"), "unknown tables"),
        (('skip = ["TEST"]', 'skip = ["ANSWERED"]'), "appear under two outcomes"),
        (('agent = "agent"', 'agnet = "agent"'), "unknown \\[columns\\] key 'agnet'"),
    ],
)
def test_a_bad_profile_names_the_table_and_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(PROFILE.replace(*change))

    with pytest.raises(ConfigError, match=message):
        load_profile(str(profile))


def test_an_unknown_profile_name_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match="anonymous-bank-1999"):
        load_profile("no-such-profile")


# -- the Anonymous Bank records (Technion SEE Center) ---------------------------------------------


@pytest.fixture(scope="module")
def bank_stats() -> CdrStats:
    stats = CdrStats()
    for _ in read_records(BANK, ANONYMOUS_BANK_1999, stats):
        pass
    return stats


def test_the_bank_file_maps_without_problems(bank_stats: CdrStats) -> None:
    # 33,344 records: 31,125 reached a queue or an agent; PHANTOM and IVR hang-ups make the rest.
    assert bank_stats.records == 33_344
    assert bank_stats.problems == []
    assert bank_stats.imported == 27_162 + 3_963
    assert bank_stats.imported + sum(bank_stats.skipped.values()) + bank_stats.never_queued == 33_344


def test_the_bank_file_agrees_with_the_third_party_daily_counts(bank_stats: CdrStats) -> None:
    # Their totals keep PHANTOM records and count every HANG, queued or not.
    records_by_day: Counter[str] = Counter()
    hangs_by_day: Counter[str] = Counter()
    for (day, outcome), count in bank_stats.outcomes_by_date.items():
        records_by_day[day] += count
        if outcome == "HANG":
            hangs_by_day[day] += count
    with THIRD_PARTY.open(newline="") as handle:
        published = list(csv.DictReader(handle))

    for row in published:
        day = row["date"].replace("-", "")[2:]  # 1999-02-01 -> 990201
        assert (records_by_day[day], hangs_by_day[day]) == (int(row["total_calls"]), int(row["hangs"])), row["date"]


def test_a_row_with_two_fields_joined_by_spaces_is_split_and_counted(tmp_path: Path) -> None:
    lines = BANK.read_text(encoding="ascii").splitlines(keepends=True)
    fields = lines[1].split("\t")
    fields[3:5] = [f"{fields[3]}  {fields[4]}"]  # priority and type joined with spaces
    damaged = tmp_path / "bank.tsv"
    damaged.write_text(lines[0] + "\t".join(fields) + lines[2])
    stats = CdrStats()

    events = list(read_records(damaged, ANONYMOUS_BANK_1999, stats))

    assert stats.problems == []
    assert stats.repaired == 1
    assert len(events) == 2


def test_import_sends_through_a_sink_and_closes_the_last_day_with_a_watermark(tmp_path: Path) -> None:
    calls, profile = write(tmp_path, "c1,sales,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n")
    output = tmp_path / "events.ndjson"

    async def run() -> CdrStats:
        sink = FileSink(output)
        try:
            return await import_cdr(calls, load_profile(str(profile)), sink, end_watermark=True)
        finally:
            await sink.close()

    stats = asyncio.run(run())
    lines = [json.loads(line) for line in output.read_bytes().splitlines()]

    assert [line["type"] for line in lines][-1] == "stream.watermark"
    assert lines[-1]["ts"] == stats.max_ts_ms + 25 * 3_600_000
    assert len(lines) == 5


def test_dry_run_counts_without_sending(tmp_path: Path) -> None:
    calls, profile = write(tmp_path, "c1,sales,ann,2026-03-02 09:00:00,12,180,30,ANSWERED\n")
    sink = DryRunSink()

    asyncio.run(import_cdr(calls, load_profile(str(profile)), sink))

    assert sink.report.events == 4
    assert sink.report.by_type["contact.queued"] == 1


def test_sorted_import_sends_in_event_time_order(tmp_path: Path) -> None:
    calls, profile = write(
        tmp_path,
        "late,sales,ann,2026-03-02 10:00:00,5,60,0,ANSWERED\nearly,sales,ann,2026-03-02 09:00:00,5,60,0,ANSWERED\n",
    )
    output = tmp_path / "events.ndjson"

    async def run() -> None:
        sink = FileSink(output)
        try:
            await import_cdr(calls, load_profile(str(profile)), sink, sort_by_time=True)
        finally:
            await sink.close()

    asyncio.run(run())
    times = [json.loads(line)["ts"] for line in output.read_bytes().splitlines()]

    assert times == sorted(times)
    assert json.loads(output.read_bytes().splitlines()[0])["contact_id"] == "early"
