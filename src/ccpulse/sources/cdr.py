"""Call-detail records (CSV/TSV) to canonical events, through a declarative column mapping.

A *profile* says which columns hold what, how times are written, and what the
outcome values mean. Users write one as TOML (``--profile my-pbx.toml``); the
built-in ``anonymous-bank-1999`` profile reads the Anonymous Bank records (see
``tests/data/README.md``). The shape of a profile::

    [file]
    delimiter = ","                 # "\\t" for TSV
    encoding = "utf-8"
    time_zone = "Europe/Berlin"     # the zone the times are written in

    [columns]                       # header names; "" = not in this file
    contact_id = "call_id"          # or a list of columns, joined with "-"
    queue = "queue"
    channel = ""                    # empty: [values] channel for every record
    agent = "agent"
    customer = ""                   # pseudonymous customer id (the worker hashes it)
    date = ""                       # a date column when time columns hold times of day
    arrived = "start"               # when the contact reached the system
    queued = "queue_start"          # when it entered the queue
    wait_s = "queue_seconds"        # wait in seconds; or ...
    answered = ""                   # ... the time it was answered
    direct = ""                     # time a contact that never queued reached an agent
    talk_s = "talk_seconds"         # talk in seconds; or ...
    ended = ""                      # ... the time the call ended
    acw_s = ""                      # after-contact work in seconds (none: ends with the call)
    outcome = "disposition"

    [formats]
    date = "%Y-%m-%d"               # when [columns] date is set
    time = "%Y-%m-%d %H:%M:%S"      # times; with a date column, times of day such as "%H:%M:%S"

    [values]
    channel = "voice"
    answered = ["ANSWERED"]
    abandoned = ["ABANDONED"]
    flowed_out = ["TIMEOUT"]
    skip = []                       # records that are not calls
    not_queued = ["", "0:00:00"]    # values of the queued column meaning: never queued

The rules (SPEC section 3, as the reference data uses them): a skipped record
and an abandon that never queued (a hang-up in the IVR) produce nothing; a
queued record is ``contact.queued`` at its queued time and leaves the queue
after its wait (answered, abandoned or flowed out); an answered record that
never queued is queued and answered at its ``direct`` time, wait 0; the call
ends ``talk_s`` after the answer, and after-contact work ends ``acw_s`` later.
Times of day are placed at the occurrence nearest to ``arrived`` on the
record's date, so calls crossing midnight land on the right day. Event ids are
derived from the contact id, so importing a file twice changes nothing.

A record that cannot be mapped is reported with its line number and is not
imported; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccpulse.config import ConfigError
from ccpulse.sources.sink import EventSink, Progress

SOURCE = "cdr"


@dataclass(frozen=True, slots=True)
class CdrColumns:
    contact_id: tuple[str, ...]
    queue: str
    outcome: str
    channel: str = ""
    agent: str = ""
    customer: str = ""
    date: str = ""
    arrived: str = ""
    queued: str = ""
    wait_s: str = ""
    answered: str = ""
    direct: str = ""
    talk_s: str = ""
    ended: str = ""
    acw_s: str = ""

    def used(self) -> list[str]:
        names = list(self.contact_id)
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name != "contact_id" and value:
                names.append(value)
        return names


@dataclass(frozen=True, slots=True)
class CdrProfile:
    """How to read one kind of call-detail file (see the module docstring)."""

    name: str
    columns: CdrColumns
    delimiter: str = ","
    encoding: str = "utf-8"
    time_zone: str = "UTC"
    date_format: str = "%Y-%m-%d"
    time_format: str = "%Y-%m-%d %H:%M:%S"
    channel: str = "voice"
    answered: frozenset[str] = frozenset({"ANSWERED"})
    abandoned: frozenset[str] = frozenset({"ABANDONED"})
    flowed_out: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    not_queued: frozenset[str] = frozenset({""})

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"profile {self.name}: [file] time_zone {self.time_zone!r} is not an IANA zone") from None
        if len(self.delimiter) != 1:
            raise ConfigError(f"profile {self.name}: [file] delimiter must be one character, got {self.delimiter!r}")
        columns = self.columns
        if not (columns.queued or columns.direct):
            raise ConfigError(f"profile {self.name}: [columns] needs queued (or direct, for calls that never queue)")
        if columns.queued and not (columns.wait_s or columns.answered):
            raise ConfigError(f"profile {self.name}: [columns] needs wait_s or answered to know when a stint ended")
        if not (columns.talk_s or columns.ended):
            raise ConfigError(f"profile {self.name}: [columns] needs talk_s or ended for answered calls")
        overlap = (self.answered & self.abandoned) | (self.answered & self.skip) | (self.abandoned & self.skip)
        if overlap:
            raise ConfigError(f"profile {self.name}: [values] {sorted(overlap)} appear under two outcomes")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _strings(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return frozenset(value)


def profile_from_mapping(name: str, document: Mapping[str, Any]) -> CdrProfile:
    """A profile from its TOML tables; errors name the table and key."""
    unknown = set(document) - {"file", "columns", "formats", "values"}
    if unknown:
        raise ConfigError(
            f"profile {name}: unknown tables {sorted(unknown)}; use [file], [columns], [formats], [values]"
        )
    columns = _columns_from(name, document.get("columns", {}))
    file_table = document.get("file", {})
    formats = document.get("formats", {})
    values = dict(document.get("values", {}))
    options: dict[str, Any] = {}
    for key, target in (("delimiter", "delimiter"), ("encoding", "encoding"), ("time_zone", "time_zone")):
        if key in file_table:
            options[target] = file_table[key]
    for key, target in (("date", "date_format"), ("time", "time_format")):
        if key in formats:
            options[target] = formats[key]
    if "channel" in values:
        options["channel"] = values.pop("channel")
    for key in ("answered", "abandoned", "flowed_out", "skip", "not_queued"):
        if key in values:
            options[key] = _strings(values.pop(key), f"profile {name}: [values] {key}")
    if values:
        raise ConfigError(f"profile {name}: unknown [values] keys {sorted(values)}")
    return CdrProfile(name=name, columns=columns, **options)


def _columns_from(name: str, table: Mapping[str, Any]) -> CdrColumns:
    column_values = dict(table)
    known_columns = {spec.name for spec in fields(CdrColumns)}
    for key in column_values:
        if key not in known_columns:
            raise ConfigError(
                f"profile {name}: unknown [columns] key {key!r}; known: {', '.join(sorted(known_columns))}"
            )
    for required in ("contact_id", "queue", "outcome"):
        if not column_values.get(required):
            raise ConfigError(f"profile {name}: [columns] {required} is required")
    contact = column_values.pop("contact_id")
    contact_columns = (contact,) if isinstance(contact, str) else tuple(contact)
    return CdrColumns(contact_id=contact_columns, **column_values)


#: The Anonymous Bank records (Israel, February 1999; Technion SEE Center), per tests/data/README.md.
ANONYMOUS_BANK_1999 = profile_from_mapping(
    "anonymous-bank-1999",
    {
        "file": {"delimiter": "\t", "encoding": "ascii", "time_zone": "Asia/Jerusalem"},
        "columns": {
            "contact_id": ["vru+line", "call_id"],
            "queue": "type",
            "agent": "server",
            "customer": "customer_id",
            "date": "date",
            "arrived": "vru_entry",
            "queued": "q_start",
            # Never ser_start - q_start: ser_start is often a second before q_exit.
            "wait_s": "q_time",
            "direct": "vru_exit",
            "talk_s": "ser_time",
            "outcome": "outcome",
        },
        "formats": {"date": "%y%m%d", "time": "%H:%M:%S"},
        "values": {
            "channel": "voice",
            "answered": ["AGENT"],
            "abandoned": ["HANG"],
            "skip": ["PHANTOM"],
            "not_queued": ["0:00:00"],
        },
    },
)

BUILT_IN_PROFILES = {ANONYMOUS_BANK_1999.name: ANONYMOUS_BANK_1999}


def load_profile(name_or_path: str) -> CdrProfile:
    """A built-in profile by name, or a TOML profile file."""
    if name_or_path in BUILT_IN_PROFILES:
        return BUILT_IN_PROFILES[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(BUILT_IN_PROFILES))
        raise ConfigError(f"--profile {name_or_path!r}: no such file and no built-in profile of that name ({known})")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--profile {path}: not valid TOML: {exc}") from exc
    return profile_from_mapping(str(path), document)


class RecordError(ValueError):
    """One record cannot be mapped; the message says why."""


@dataclass
class CdrStats:
    """What an import read and did."""

    records: int = 0
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # outcome values listed under skip
    never_queued: int = 0  # abandons that never reached a queue (IVR hang-ups): not offered
    repaired: int = 0  # rows whose fields were joined by spaces instead of the delimiter
    problems: list[str] = field(default_factory=list)
    max_ts_ms: int | None = None
    # (date column value, outcome value) of every mapped or skipped record, when the profile has a date column.
    outcomes_by_date: Counter[tuple[str, str]] = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [
            f"{self.records} records: {self.imported} imported, {sum(self.skipped.values())} skipped "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.skipped.items())) or 'none'}), "
            f"{self.never_queued} never queued (not offered), {len(self.problems)} could not be mapped"
        ]
        if self.repaired:
            lines.append(f"{self.repaired} rows had two fields joined by spaces; split and imported")
        lines += [f"  {problem}" for problem in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)


class CdrMapper:
    """Maps the rows of one file (header first) onto canonical event dicts."""

    def __init__(self, profile: CdrProfile, header: Sequence[str]) -> None:
        self.profile = profile
        self.header = [name.strip() for name in header]
        missing = [name for name in profile.columns.used() if name not in self.header]
        if missing:
            raise ConfigError(
                f"profile {profile.name}: columns {missing} are not in the file's header ({', '.join(self.header)})"
            )
        self._zone = profile.zone

    def fields_of(self, row: list[str]) -> tuple[dict[str, str], bool]:
        """The row as header -> value; a row one field short with two space-joined values is split (True)."""
        repaired = False
        if len(row) == len(self.header) - 1:
            joined = [i for i, value in enumerate(row) if len(value.split()) == 2]
            if len(joined) == 1:
                i = joined[0]
                row = [*row[:i], *row[i].split(), *row[i + 1 :]]
                repaired = True
        if len(row) != len(self.header):
            raise RecordError(f"{len(row)} fields, the header has {len(self.header)}")
        return dict(zip(self.header, (value.strip() for value in row), strict=True)), repaired

    def events(self, values: Mapping[str, str]) -> list[tuple[int, dict[str, Any]]] | str:
        """(ts_ms, event) pairs of one record, or the name of the reason it produces none."""
        profile, columns = self.profile, self.profile.columns
        outcome = values[columns.outcome]
        if outcome in profile.skip:
            return f"skip:{outcome}"
        if outcome not in profile.answered | profile.abandoned | profile.flowed_out:
            known = sorted(profile.answered | profile.abandoned | profile.flowed_out | profile.skip)
            raise RecordError(f"outcome {outcome!r} is not in the profile's [values] ({', '.join(known)})")
        contact_id = "-".join(values[name] for name in columns.contact_id)
        if not contact_id.strip("-"):
            raise RecordError("empty contact id")
        day = self._day(values)
        anchor = self._time(values, columns.arrived, day, None) if columns.arrived else None
        queued = (values[columns.queued] if columns.queued else "") not in profile.not_queued
        if not queued and outcome not in profile.answered:
            return "never_queued"
        queued_ms, wait_ms = self._stint(values, day, anchor, queued=queued)
        queue = values[columns.queue]
        if not queue:
            raise RecordError(f"empty queue ({columns.queue})")
        channel = values[columns.channel] if columns.channel else profile.channel
        first: dict[str, Any] = {"queue": queue, "channel": channel}
        if columns.customer and values[columns.customer] not in ("", "0"):
            first["customer_id"] = values[columns.customer]
        out = [_event(contact_id, "q", "contact.queued", queued_ms, **first)]
        left_ms = queued_ms + wait_ms
        if outcome in profile.abandoned:
            out.append(_event(contact_id, "x", "contact.abandoned", left_ms))
        elif outcome in profile.flowed_out:
            out.append(_event(contact_id, "f", "contact.flowed_out", left_ms, reason="timeout"))
        else:
            out += self._handling(values, contact_id, left_ms, day, anchor)
        return out

    def _stint(
        self, values: Mapping[str, str], day: date | None, anchor: datetime | None, *, queued: bool
    ) -> tuple[int, int]:
        """(queued ms, wait ms); a contact that never queued waits 0 from its direct time."""
        columns = self.profile.columns
        if not queued:
            if not columns.direct:
                raise RecordError(f"{columns.queued} says never queued and the profile has no direct column")
            return self._ms(self._time(values, columns.direct, day, anchor)), 0
        queued_ms = self._ms(self._time(values, columns.queued, day, anchor))
        if columns.wait_s:
            wait_ms = self._seconds(values, columns.wait_s) * 1000
        else:
            wait_ms = self._ms(self._time(values, columns.answered, day, anchor)) - queued_ms
        if wait_ms < 0:
            raise RecordError(f"negative wait ({wait_ms / 1000:g} s)")
        return queued_ms, wait_ms

    def _handling(
        self, values: Mapping[str, str], contact_id: str, answered_ms: int, day: date | None, anchor: datetime | None
    ) -> list[tuple[int, dict[str, Any]]]:
        columns = self.profile.columns
        agent = (values[columns.agent] if columns.agent else "") or "unknown"
        if columns.talk_s:
            ended_ms = answered_ms + self._seconds(values, columns.talk_s) * 1000
        else:
            ended_ms = self._ms(self._time(values, columns.ended, day, anchor))
        if ended_ms < answered_ms:
            raise RecordError("the call ends before it was answered")
        acw_ms = self._seconds(values, columns.acw_s) * 1000 if columns.acw_s else 0
        return [
            _event(contact_id, "a", "contact.answered", answered_ms, agent_id=agent),
            _event(contact_id, "e", "contact.ended", ended_ms, agent_id=agent),
            _event(contact_id, "w", "contact.wrapup_ended", ended_ms + acw_ms, agent_id=agent),
        ]

    def _day(self, values: Mapping[str, str]) -> date | None:
        column = self.profile.columns.date
        if not column:
            return None
        try:
            return datetime.strptime(values[column], self.profile.date_format).date()
        except ValueError:
            raise RecordError(f"{column} {values[column]!r} does not match {self.profile.date_format}") from None

    def _time(self, values: Mapping[str, str], column: str, day: date | None, anchor: datetime | None) -> datetime:
        text = values[column]
        try:
            parsed = datetime.strptime(text, self.profile.time_format)
        except ValueError:
            raise RecordError(f"{column} {text!r} does not match {self.profile.time_format}") from None
        if day is None:
            return parsed
        if anchor is None:
            return datetime.combine(day, parsed.time())
        # A time of day without a date: the occurrence nearest the arrival (calls cross midnight).
        candidates = [datetime.combine(day + timedelta(days=shift), parsed.time()) for shift in (-1, 0, 1)]
        return min(candidates, key=lambda moment: abs(moment - anchor))

    def _ms(self, moment: datetime) -> int:
        return int(moment.replace(tzinfo=self._zone).timestamp() * 1000)

    @staticmethod
    def _seconds(values: Mapping[str, str], column: str) -> int:
        text = values[column]
        try:
            seconds = int(text)
        except ValueError:
            raise RecordError(f"{column} {text!r} is not a whole number of seconds") from None
        if seconds < 0:
            raise RecordError(f"{column} is negative ({seconds})")
        return seconds


def _event(contact_id: str, suffix: str, event_type: str, ts_ms: int, **extra: Any) -> tuple[int, dict[str, Any]]:
    event = {"event_id": f"{SOURCE}-{contact_id}-{suffix}", "type": event_type, "ts": ts_ms, "contact_id": contact_id}
    event.update(extra)
    event["source"] = SOURCE
    return ts_ms, event


def read_records(
    path: Path, profile: CdrProfile, stats: CdrStats
) -> Iterator[tuple[int, list[tuple[int, dict[str, Any]]]]]:
    """(line number, events) per mapped record; problems and skips go to ``stats``."""
    with path.open(newline="", encoding=profile.encoding, errors="strict") as handle:
        reader = csv.reader(handle, delimiter=profile.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ConfigError(f"{path} is empty: no header row") from None
        mapper = CdrMapper(profile, header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                stats.records += 1
                stats.problems.append(f"{path}:{reader.line_num}: unreadable: {exc}")
                continue
            if not row:
                continue
            stats.records += 1
            line = reader.line_num
            try:
                values, repaired = mapper.fields_of(row)
                outcome = mapper.events(values)
            except RecordError as exc:
                stats.problems.append(f"{path}:{line}: {exc}")
                continue
            stats.repaired += repaired
            if profile.columns.date:
                stats.outcomes_by_date[values[profile.columns.date], values[profile.columns.outcome]] += 1
            if outcome == "never_queued":
                stats.never_queued += 1
            elif isinstance(outcome, str):
                stats.skipped[outcome.removeprefix("skip:")] += 1
            else:
                stats.imported += 1
                last_ms = max(ts for ts, _ in outcome)
                stats.max_ts_ms = last_ms if stats.max_ts_ms is None else max(stats.max_ts_ms, last_ms)
                yield line, outcome


async def import_cdr(
    path: Path,
    profile: CdrProfile,
    sink: EventSink,
    *,
    end_watermark: bool = False,
    sort_by_time: bool = False,
    progress: Progress | None = None,
) -> CdrStats:
    """Map every record of ``path`` and send its events; see the options below.

    ``sort_by_time`` sends all events in event-time order (held in memory, about
    1 KB per event) rather than record by record: a file sorted by something else
    (agent, line) then never looks late to a stream-clock worker, and closed
    windows need no corrections. ``end_watermark`` finishes with a
    ``stream.watermark`` a day after the last event, which tells a worker on the
    stream-time clock that the file's time is over, so every day and interval in
    it closes and its final KPI rows are published.
    """
    stats = CdrStats()
    held: list[tuple[int, int, dict[str, Any]]] = []
    for line, events in read_records(path, profile, stats):
        if sort_by_time:
            held += [(ts_ms, line, event) for ts_ms, event in events]
        else:
            for _, event in events:
                await sink.send(event, origin=f"{path}:{line}")
        if progress is not None:
            progress.advance()
    held.sort(key=lambda item: item[0])
    for _, line, event in held:
        await sink.send(event, origin=f"{path}:{line}")
    if end_watermark and stats.max_ts_ms is not None:
        end_ms = stats.max_ts_ms + 25 * 3_600_000
        await sink.send({"event_id": f"{SOURCE}-end-{end_ms}", "type": "stream.watermark", "ts": end_ms})
    if progress is not None:
        progress.finish()
    return stats
