"""Throughput and memory of the pure KPI engine on a realistic mixed stream.

The stream comes from the seeded simulator (``mixed``: calls with holds,
transfers and ACW, agent state changes, surveys, email tickets) over queues
``q00``..``q49``. It is generated once, encoded to the bytes a worker would
read from Kafka, then measured on one core, in this process:

- ``engine_events_per_s``: :meth:`Engine.apply` over every already-decoded
  event, from a fresh engine;
- ``decode_events_per_s``: :func:`decode_event` (orjson and contract
  validation) over every message;
- ``decode_and_apply_events_per_s``: both per message, as a worker does
  between Kafka and its tables;
- ``bytes_per_open_contact``: growth of the engine's traced memory
  (tracemalloc, after a full collection) per contact that is queued and not
  finished, half of them answered; ``bytes_per_100k_open_contacts`` is that
  times 100,000;
- ``profile_top``: a cProfile of one more engine run, by cumulative time.

Rates are wall time (``time.perf_counter``) after a warm-up on a throwaway
engine; every timed run starts from a fresh engine and a collected heap, with
the garbage collector on as in production. Event times start at a fixed
instant, so one seed gives the same stream on every machine. Speed is reported,
never asserted: compare reports from the same machine.
"""

from __future__ import annotations

import cProfile
import gc
import os
import platform
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import CodeType
from typing import ParamSpec, TextIO

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.config import ConfigError
from ccpulse.domain.engine import Engine, EngineConfig
from ccpulse.domain.events import CanonicalEvent, Channel, ContactEvent, ContactEventType
from ccpulse.runtime.gc_tuning import STREAMING_GC_THRESHOLDS, tune_gc_for_streaming
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan

DEFAULT_OUTPUT = Path("build/bench-engine.json")
START_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z
WARMUP_EVENTS = 5_000
PER_100K = 100_000
PROFILE_TOP = 15  # functions in the report
PROFILE_PRINTED = 8  # functions in the printed table
# A customer hash key turns on repeat-contact (FCR) tracking, as in production.
BENCH_CUSTOMER_HASH_KEY = b"ccpulse-bench"
# One open contact every 10 ms: 100k arrive within 17 minutes of stream time,
# well inside max_queue_age, so the reaper keeps them all.
OPEN_CONTACT_SPACING_MS = 10
OPEN_AGENTS = 500

_P = ParamSpec("_P")


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """What to measure. ``contacts`` drives the mixed stream; ``open_contacts`` the memory test."""

    contacts: int = 30_000
    open_contacts: int = 100_000
    seed: int = 1
    queues: int = 50
    rate_per_s: float = 5.0  # new contacts per second of event time, over all queues
    profile: bool = True

    def __post_init__(self) -> None:
        if self.contacts < 1:
            raise ConfigError("--contacts must be at least 1")
        if self.open_contacts < 1:
            raise ConfigError("--open-contacts must be at least 1")
        if self.queues < 1:
            raise ConfigError("the bench needs at least one queue")

    @property
    def queue_names(self) -> tuple[str, ...]:
        width = max(2, len(str(self.queues - 1)))
        return tuple(f"q{n:0{width}d}" for n in range(self.queues))


@dataclass(frozen=True, slots=True)
class ProfileLine:
    """One function of the profile; times in seconds, inflated by cProfile's own overhead."""

    function: str
    calls: int
    cumulative_s: float
    own_s: float


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int | None
    python: str
    implementation: str
    platform: str


@dataclass(frozen=True, slots=True)
class EngineBenchReport:
    """The JSON report; rates in events per second, memory in bytes."""

    engine_events_per_s: float  # with the worker's garbage-collector settings
    engine_default_gc_events_per_s: float  # with CPython's default ones, for comparison
    decode_events_per_s: float
    decode_and_apply_events_per_s: float
    bytes_per_open_contact: float
    bytes_per_100k_open_contacts: int
    events: int
    contacts: int
    queues: int
    open_contacts: int
    seed: int
    event_mix: dict[str, int]  # event type -> count in the stream
    verdicts: dict[str, int]  # the engine's verdicts in the timed run (all accepted, normally)
    engine_s: float
    decode_s: float
    decode_and_apply_s: float
    open_contacts_bytes: int
    open_contacts_waiting: int  # the unanswered half, unless the engine dropped some
    profile_top: list[ProfileLine]  # by cumulative time; empty with --no-profile
    profile_top_own: list[ProfileLine]  # by own time
    machine: Machine
    generated_at: str
    notes: list[str] = field(default_factory=list)


def engine_config() -> EngineConfig:
    """The engine's defaults (SPEC rules for every queue) with repeat-contact tracking on."""
    return EngineConfig(customer_hash_key=BENCH_CUSTOMER_HASH_KEY)


# -- the stream --------------------------------------------------------------------------


def generate_messages(plan: BenchPlan) -> tuple[list[bytes], Counter[str]]:
    """The simulated mixed stream as encoded messages in event-time order, and its mix by type."""
    simulation = SimulationPlan(
        contacts=plan.contacts,
        rate_per_s=plan.rate_per_s,
        seed=plan.seed,
        queues=plan.queue_names,
        paced=False,
        mixed=True,
    )
    messages: list[bytes] = []
    mix: Counter[str] = Counter()
    for _, document in ContactGenerator(simulation, START_MS).events():
        mix[document["type"]] += 1
        messages.append(json.dumps(document))
    return messages, mix


def open_contact_events(contact_no: int, queues: Sequence[str]) -> Iterator[ContactEvent]:
    """A contact that stays open: queued, and answered (5 ms later) for every other one.

    The wait is short so that events stay in time order; how long a contact
    waited does not change what the engine stores for it.
    """
    contact_id = f"open-{contact_no}"
    queued_ms = START_MS + contact_no * OPEN_CONTACT_SPACING_MS
    yield ContactEvent(
        event_id=f"{contact_id}-1",
        type=ContactEventType.QUEUED,
        ts_ms=queued_ms,
        contact_id=contact_id,
        queue=queues[contact_no % len(queues)],
        channel=Channel.CHAT if contact_no % 4 == 0 else Channel.VOICE,
        customer_id=f"cust-{contact_no}",
        source="bench",
    )
    if contact_no % 2 == 0:
        yield ContactEvent(
            event_id=f"{contact_id}-2",
            type=ContactEventType.ANSWERED,
            ts_ms=queued_ms + OPEN_CONTACT_SPACING_MS // 2,
            contact_id=contact_id,
            agent_id=f"agent-{contact_no % OPEN_AGENTS:03d}",
            source="bench",
        )


# -- the measurements ----------------------------------------------------------------------


def _apply_every(engine: Engine, events: Sequence[CanonicalEvent]) -> None:
    apply = engine.apply
    for event in events:
        apply(event)


def _decode_and_apply_every(engine: Engine, messages: Sequence[bytes]) -> None:
    apply = engine.apply
    for message in messages:
        apply(decode_event(message))


def _decode_every(messages: Sequence[bytes], into: list[CanonicalEvent]) -> None:
    into.extend(decode_event(message) for message in messages)


def _timed(run: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs) -> float:
    """Seconds of wall time ``run(*args, **kwargs)`` takes, starting from a collected heap."""
    gc.collect()
    started = time.perf_counter()
    run(*args, **kwargs)
    return time.perf_counter() - started


@contextmanager
def _streaming_gc() -> Iterator[None]:
    """The worker's garbage-collector settings for the duration; the previous ones afterwards."""
    previous = tune_gc_for_streaming()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)


@dataclass(frozen=True, slots=True)
class _DecodedRuns:
    decode_s: float
    engine_s: float
    engine_default_gc_s: float
    verdicts: dict[str, int]
    profile: list[ProfileLine]
    profile_total_s: float


def _measure_decoded(messages: Sequence[bytes], config: EngineConfig, profile: bool, progress: TextIO) -> _DecodedRuns:
    """Decode every message (timed), apply the events to a fresh engine (timed), profile one more run.

    The decoded events and the engines die on return, before the next measurement.
    """
    # Warm-up: imports, caches and specialised bytecode, on throwaway state.
    warmup: list[CanonicalEvent] = []
    _decode_every(messages[:WARMUP_EVENTS], warmup)
    _apply_every(Engine(config), warmup)

    events: list[CanonicalEvent] = []
    decode_s = _timed(_decode_every, messages, events)
    engine_default_gc_s = _timed(_apply_every, Engine(config), events)
    engine = Engine(config)
    with _streaming_gc():
        engine_s = _timed(_apply_every, engine, events)
    verdicts = {str(verdict): count for verdict, count in engine.stats.events.most_common()}
    lines: list[ProfileLine] = []
    total_s = 0.0
    if profile:
        progress.write("bench: profiling one more engine run\n")
        lines, total_s = profile_engine(events, config)
    return _DecodedRuns(decode_s, engine_s, engine_default_gc_s, verdicts, lines, total_s)


def measure_open_contacts(plan: BenchPlan, config: EngineConfig, progress: TextIO) -> tuple[int, int]:
    """Bytes the engine keeps for ``plan.open_contacts`` open contacts (tracemalloc growth),
    and how many of them its live view shows waiting (the unanswered half, if none were reaped).

    Events are built while tracing and dropped after applying, so what remains
    traced is exactly what the engine holds on to, ids included.
    """
    queues = plan.queue_names
    engine = Engine(config)
    step = max(1, plan.open_contacts // 4)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for contact_no in range(plan.open_contacts):
            for event in open_contact_events(contact_no, queues):
                engine.apply(event)
            if (contact_no + 1) % step == 0:
                progress.write(f"bench: memory test: {contact_no + 1:,} of {plan.open_contacts:,} open contacts\n")
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    now_ms = engine.stream_time_ms or START_MS
    waiting = sum(engine.live(queue, channel, now_ms).waiting for queue, channel in engine.queues())
    return after - before, waiting


def profile_engine(events: Sequence[CanonicalEvent], config: EngineConfig) -> tuple[list[ProfileLine], float]:
    """Every function the engine ran, by cumulative time, and the profiled run's total seconds."""
    profiler = cProfile.Profile()
    profiler.runcall(_apply_every, Engine(config), events)
    lines: list[ProfileLine] = []
    total_s = 0.0
    for entry in profiler.getstats():
        code = entry.code
        if not isinstance(code, str) and code is _apply_every.__code__:
            total_s = entry.totaltime  # the driver loop: everything else happens inside it
            continue
        if isinstance(code, str) and "_lsprof.Profiler" in code:
            continue  # the profiler switching itself off
        lines.append(ProfileLine(_function_name(code), entry.callcount, entry.totaltime, entry.inlinetime))
    lines.sort(key=lambda line: line.cumulative_s, reverse=True)
    return lines, total_s


def _function_name(code: CodeType | str) -> str:
    """``Engine.apply (ccpulse/domain/engine.py:190)``; built-ins keep cProfile's own name."""
    if isinstance(code, str):
        return code
    parts = Path(code.co_filename).parts
    # Inside the package: the path from ``ccpulse/`` on; elsewhere (stdlib, <string>): the file name.
    where = "/".join(parts[len(parts) - 1 - parts[::-1].index("ccpulse") :]) if "ccpulse" in parts else parts[-1]
    return f"{code.co_qualname} ({where}:{code.co_firstlineno})"


def _rounded(line: ProfileLine) -> ProfileLine:
    return ProfileLine(line.function, line.calls, round(line.cumulative_s, 4), round(line.own_s, 4))


def machine() -> Machine:
    return Machine(
        cores=os.cpu_count(),
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
    )


def run_engine_bench(
    plan: BenchPlan,
    output: Path = DEFAULT_OUTPUT,
    *,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> EngineBenchReport:
    """Measure, write the JSON report to ``output`` and print the table to ``out``."""
    out = sys.stdout if out is None else out
    progress = sys.stderr if progress is None else progress
    config = engine_config()

    progress.write(f"bench: generating {plan.contacts:,} contacts over {plan.queues} queues (seed {plan.seed})\n")
    started = time.perf_counter()
    messages, mix = generate_messages(plan)
    progress.write(f"bench: {len(messages):,} events in {time.perf_counter() - started:.1f} s; measuring\n")

    decoded = _measure_decoded(messages, config, plan.profile, progress)
    with _streaming_gc():
        decode_and_apply_s = _timed(_decode_and_apply_every, Engine(config), messages)
    profile, profile_total_s = decoded.profile, decoded.profile_total_s
    engine_s, decode_s = decoded.engine_s, decoded.decode_s

    progress.write(f"bench: memory test: {plan.open_contacts:,} open contacts under tracemalloc\n")
    open_bytes, open_waiting = measure_open_contacts(plan, config, progress)
    per_contact = open_bytes / plan.open_contacts

    report = EngineBenchReport(
        engine_events_per_s=round(len(messages) / engine_s, 1),
        engine_default_gc_events_per_s=round(len(messages) / decoded.engine_default_gc_s, 1),
        decode_events_per_s=round(len(messages) / decode_s, 1),
        decode_and_apply_events_per_s=round(len(messages) / decode_and_apply_s, 1),
        bytes_per_open_contact=round(per_contact, 1),
        bytes_per_100k_open_contacts=round(per_contact * PER_100K),
        events=len(messages),
        contacts=plan.contacts,
        queues=plan.queues,
        open_contacts=plan.open_contacts,
        seed=plan.seed,
        event_mix=dict(mix.most_common()),
        verdicts=decoded.verdicts,
        engine_s=round(engine_s, 4),
        decode_s=round(decode_s, 4),
        decode_and_apply_s=round(decode_and_apply_s, 4),
        open_contacts_bytes=open_bytes,
        open_contacts_waiting=open_waiting,
        profile_top=[_rounded(line) for line in profile[:PROFILE_TOP]],
        profile_top_own=[_rounded(line) for line in sorted(profile, key=lambda p: p.own_s, reverse=True)[:PROFILE_TOP]],
        machine=machine(),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=[
            "rates: wall time on one core after a warm-up, fresh engine per run, GC on with the worker's "
            f"thresholds {STREAMING_GC_THRESHOLDS} (engine_default_gc_events_per_s: CPython's defaults)",
            "profile times include cProfile overhead; compare shares, not absolute seconds",
            "memory: tracemalloc growth of engine state per open contact (queued; every other one answered)",
        ],
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(json.dumps(report) + b"\n")
    out.write(format_table(report, profile_total_s, output))
    return report


def format_table(report: EngineBenchReport, profile_total_s: float, output: Path) -> str:
    """The human summary: rates, memory, where the time goes."""
    mb_100k = report.bytes_per_100k_open_contacts / 1_000_000
    lines = [
        f"ccpulse engine bench: {report.contacts:,} contacts, {report.events:,} events, "
        f"{report.queues} queues, seed {report.seed}",
        f"  machine          {report.machine.cores} cores, {report.machine.implementation} "
        f"{report.machine.python}, {report.machine.platform}",
        f"  engine apply     {report.engine_events_per_s:>12,.0f} events/s  ({report.engine_s:.2f} s; "
        f"{report.engine_default_gc_events_per_s:,.0f}/s with default GC settings)",
        f"  decode           {report.decode_events_per_s:>12,.0f} events/s  ({report.decode_s:.2f} s)",
        f"  decode + apply   {report.decode_and_apply_events_per_s:>12,.0f} events/s  "
        f"({report.decode_and_apply_s:.2f} s)",
        f"  open contacts    {report.bytes_per_open_contact:>12,.0f} bytes each, "
        f"{mb_100k:,.1f} MB per 100k (measured on {report.open_contacts:,})",
        "  event mix        " + ", ".join(f"{family} {count:,}" for family, count in _families(report.event_mix)),
    ]
    if report.profile_top:
        lines += [
            f"where the time goes (cProfile of one engine run, {profile_total_s:.2f} s profiled):",
            f"  {'cum s':>7} {'share':>6} {'own s':>7} {'calls':>10}  function",
        ]
        for line in report.profile_top[:PROFILE_PRINTED]:
            share = line.cumulative_s / profile_total_s if profile_total_s else 0.0
            lines.append(f"  {line.cumulative_s:7.2f} {share:6.0%} {line.own_s:7.2f} {line.calls:10,}  {line.function}")
        own = [f"{line.function.split(' (')[0]} {line.own_s:.2f} s" for line in report.profile_top_own[:5]]
        lines.append("  most own time: " + "; ".join(own))
    lines.append(f"report: {output}")
    return "\n".join(lines) + "\n"


def _families(event_mix: dict[str, int]) -> list[tuple[str, int]]:
    """Event counts by family (``contact``, ``agent``, ...), largest first."""
    families: Counter[str] = Counter()
    for event_type, count in event_mix.items():
        families[event_type.split(".", 1)[0]] += count
    return families.most_common()
