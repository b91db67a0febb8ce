"""The ``ccpulse`` command.

Examples::

    ccpulse worker                              # consume, compute, serve /metrics
    ccpulse worker --config ccpulse.toml        # settings from a file, env overrides it
    ccpulse simulate --contacts 200 --rate 20   # produce a realistic event stream
    ccpulse simulate --output events.ndjson     # ... or write it to a file
    ccpulse replay events.ndjson --speed 60     # a recorded stream onto the input topic, paced
    ccpulse replay events.ndjson --direct --output kpis.ndjson   # its KPI rows, in process, no Kafka
    ccpulse import-csv calls.tsv --profile anonymous-bank-1999 --sort --end-watermark
    ccpulse import-csv cdr.csv --profile my-pbx.toml --dry-run   # validate and count only
    ccpulse import-asterisk /var/log/asterisk/queue_log --follow   # live from Asterisk
    ccpulse settings                            # print the effective settings
    ccpulse bench                               # engine events/s, memory per open contact, profile
    ccpulse capacity --agents 500,5000          # workers, partitions, memory from make bench's report
    ccpulse wallboard --port 8090               # the live wallboard page, fed by the KPI topic
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ccpulse import __version__
from ccpulse.config import ENV_PREFIX, SECRET_SETTINGS, ConfigError, Settings, load_settings


def _settings_help() -> str:
    lines = ["settings (TOML key = env var, default):"]
    for name, value in asdict(Settings()).items():
        lines.append(f"  {name:28} {ENV_PREFIX}{name.upper():34} {value}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccpulse",
        description="Streaming contact-center KPIs from Apache Kafka to Prometheus.",
        epilog=__doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ccpulse {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_help = "TOML file of settings; CCPULSE_* environment variables override it"
    worker = commands.add_parser(
        "worker",
        help="run a worker: consume events, keep KPI state, serve /metrics",
        description="Consume canonical events from the input topic, keep changelog-backed KPI "
        "state and serve Prometheus metrics. Stops cleanly on SIGTERM or Ctrl-C.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("--config", type=Path, help=config_help)

    show = commands.add_parser("settings", help="print the effective settings and exit")
    show.add_argument("--config", type=Path, help=config_help)

    _add_source_parsers(commands, config_help)

    bench = commands.add_parser(
        "bench",
        help="measure the pure KPI engine: events/s, memory per open contact, profile",
        description="Generate a seeded mixed stream (calls with holds, transfers and ACW, agent state "
        "changes, surveys, email tickets over queues q00..q49), encode it, then measure on one core: "
        "the engine applying decoded events (events/s), the codec decoding them, both together, and "
        "the memory the engine keeps per contact that is queued and not finished (tracemalloc, "
        "extrapolated to 100k). A cProfile of the engine shows where the time goes. Writes a JSON "
        "report and prints a table; progress goes to stderr. Needs no Kafka and no settings.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    bench.set_defaults(config=None)
    bench.add_argument("--contacts", type=int, default=30_000, help="contacts in the mixed stream")
    bench.add_argument(
        "--open-contacts", type=int, default=100_000, help="queued, unfinished contacts for the memory test"
    )
    bench.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same stream")
    bench.add_argument("--output", type=Path, default=Path("build/bench-engine.json"), help="JSON report")
    bench.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    bench.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        help="also measure on this broker: the floor, an empty Faust agent and the worker (make bench starts one)",
    )
    bench.add_argument("--kafka-contacts", type=int, default=5_000, help="contacts pre-produced for the broker runs")
    bench.add_argument("--kafka-version", default="unknown", help="the broker's version, for the report")
    bench.add_argument("--report", type=Path, default=Path("build/bench.json"), help="combined JSON report (--kafka)")
    _add_capacity_parser(commands, config_help)
    _add_wallboard_parser(commands, config_help)
    return parser


def _add_capacity_parser(commands: Any, config_help: str) -> None:
    capacity = commands.add_parser(
        "capacity",
        help="plan workers, partitions, memory and recovery time from make bench's figures",
        description="Compute, for contact centers of the sizes given, the busy-hour event rate, the "
        "workers needed for throughput and for memory, the partitions, the memory per worker and the "
        "time a worker takes to restore its partitions, from the per-worker figures `make bench` "
        "measured (build/bench.json). The retention comes from the settings (retention_hours). "
        "The model is in the docstring of ccpulse.bench.capacity; every input is an option.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    capacity.add_argument("--config", type=Path, help=config_help)
    capacity.add_argument("--report", type=Path, default=Path("build/bench.json"), help="make bench's JSON report")
    capacity.add_argument(
        "--agents", default="100,1000,10000,100000", help="comma-separated concurrent agent counts to plan for"
    )
    capacity.add_argument("--aht-s", type=float, default=300.0, help="average handle time, seconds")
    capacity.add_argument("--occupancy", type=float, default=0.85, help="share of staffed time agents handle contacts")
    capacity.add_argument("--busy-hours", type=float, default=10.0, help="busy-hour equivalents of traffic per day")
    capacity.add_argument(
        "--utilization", type=float, default=0.5, help="share of a worker's measured events/s to plan for"
    )
    capacity.add_argument("--worker-memory-gib", type=float, default=4.0, help="memory limit per worker, GiB")


def _add_wallboard_parser(commands: Any, config_help: str) -> None:
    wallboard = commands.add_parser(
        "wallboard",
        help="serve the live wallboard page (per-queue tiles) from the KPI topic",
        description="Read the KPI topic (kpi_topic, with the kafka_* settings) and serve a TV-mode page "
        "of per-queue tiles: waiting now, oldest wait, service level, ASA, abandonment, AHT, agents by "
        "state and the Erlang staffing gap, for the current interval and today, updated live over "
        "Server-Sent Events. A team's TV opens the page with ?queues=QUEUE1,QUEUE2; ?threshold=30 and "
        "?formula=answered pick the service level shown. Colours follow each queue's SL target "
        "(queues_file) and the limits below, which default to the shipped alerts' thresholds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    wallboard.add_argument("--config", type=Path, help=config_help)
    wallboard.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    wallboard.add_argument("--port", type=int, default=8090, help="port to listen on (0 picks a free one)")
    wallboard.add_argument(
        "--channel", default="all", help="the channel whose rows the tiles show (all: every channel)"
    )
    wallboard.add_argument("--title", default="ccpulse wallboard", help="the page's heading")
    wallboard.add_argument("--lookback-h", type=float, default=26.0, help="how far back to read the KPI topic at start")
    wallboard.add_argument(
        "--stale-after-s", type=float, default=120.0, help="a tile with no new row for this long shows 'data stale'"
    )
    wallboard.add_argument(
        "--sl-amber-margin", type=float, default=0.10, help="SL up to this far below the queue's target is amber"
    )
    wallboard.add_argument("--abandon-amber", type=float, default=0.05, help="abandonment ratio that turns amber")
    wallboard.add_argument("--abandon-red", type=float, default=0.10, help="abandonment ratio that turns red")
    wallboard.add_argument("--oldest-wait-red-s", type=float, default=180.0, help="oldest wait that turns red, s")
    wallboard.add_argument(
        "--staffing-gap-red", type=int, default=2, help="agents short (Erlang C) that turn red; 1 short is amber"
    )


def _add_source_parsers(commands: Any, config_help: str) -> None:
    """simulate, replay, import-csv and import-asterisk: the commands that produce events."""
    simulate = commands.add_parser(
        "simulate",
        help="simulate a staffed contact center and produce its events",
        description="A seeded discrete-event model of a contact center: Poisson arrivals shaped by a "
        "time-of-day profile, agents with skills, shifts and breaks (staffed by Erlang A from the forecast "
        "unless --agents is given), lognormal or exponential talk, holds, transfers, ACW, customer "
        "patience (abandons, short abandons) and flow-outs; with --mixed also agent states, email tickets "
        "and surveys. Events go to the input topic paced in real time (or --speed times faster, or "
        "--as-fast-as-possible), or to an NDJSON file. The same seed gives the same stream.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    simulate.add_argument("--config", type=Path, help=config_help)
    simulate.add_argument("--contacts", type=int, default=0, help="contacts to generate; 0 runs until Ctrl-C")
    simulate.add_argument("--rate", type=float, default=5.0, help="mean new contacts per second at profile 1.0")
    simulate.add_argument("--speed", type=float, default=1.0, help="time acceleration: 60 plays a minute per second")
    simulate.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same stream")
    simulate.add_argument("--queues", default="sales,support,billing", help="comma-separated queue names")
    simulate.add_argument(
        "--profile", default="day", help="arrival profile: day, flat, or 24 comma-separated hourly factors"
    )
    simulate.add_argument("--time-zone", default="UTC", help="zone of the profile's hours and the shifts")
    simulate.add_argument(
        "--agents", type=int, help="agents per queue, always logged in (default: shifts from the forecast)"
    )
    simulate.add_argument("--staffing", type=float, default=1.0, help="scale the planned staffing (0.8: understaffed)")
    simulate.add_argument(
        "--talk", choices=["lognormal", "exponential"], default="lognormal", help="talk time distribution"
    )
    simulate.add_argument("--talk-median", type=float, default=150.0, help="median talk seconds (lognormal)")
    simulate.add_argument(
        "--patience", type=float, default=120.0, help="mean customer patience in seconds; 0: infinite"
    )
    simulate.add_argument("--max-wait", type=float, default=300.0, help="flow out after this many seconds; 0: never")
    simulate.add_argument("--output", type=Path, help="write NDJSON here instead of sending to Kafka ('-' for stdout)")
    simulate.add_argument("--as-fast-as-possible", action="store_true", help="do not pace events by their time")
    simulate.add_argument("--dry-run", action="store_true", help="generate and validate; send nothing")
    simulate.add_argument(
        "--mixed", action="store_true", help="also agent state changes, surveys and email tickets, not only contacts"
    )

    replay = _source_parser(
        commands,
        "replay",
        config_help,
        help="send an NDJSON file of canonical events to the input topic, or compute its KPI rows (--direct)",
        description="Send each line of FILE (one canonical event per line, as `simulate --output` writes) "
        "to the input topic in file order, as fast as possible or paced by event time. With the worker "
        "on the stream-time clock (clock = stream) this re-computes historical KPIs exactly. Lines that "
        "are not valid events are reported with their line numbers and not sent (exit code 1). "
        "With --direct nothing is sent: the pure engine, configured from the settings as the worker is, "
        "applies FILE in process, and the KPI rows a stream-clock worker would leave on the compacted KPI "
        'topic are written as NDJSON lines {"key": "queue|channel|window|window_start", "value": KPI row}, '
        "one per key, sorted by key (for backfills and re-computation after a change of definitions). "
        "Only as_of differs from the worker's rows: it is the stream time at the end of FILE on every row. "
        "End FILE with a stream.watermark at or after its last event for a worker to reach the same rows.",
        file_help="NDJSON file of canonical events",
        with_output=False,
    )
    replay.add_argument("--speed", type=float, help="pace by event time, this many times faster (default: no pacing)")
    replay.add_argument(
        "--direct",
        action="store_true",
        help="compute the KPI rows in process, without Kafka, instead of sending the events",
    )
    replay.add_argument("--output", type=Path, help="with --direct: write the KPI rows here (default or '-': stdout)")

    import_csv = _source_parser(
        commands,
        "import-csv",
        config_help,
        help="import call-detail records (CSV/TSV) through a column-mapping profile",
        description="Map each record of FILE onto canonical events with a profile (a built-in name or a "
        "TOML file: which columns hold the queue, times, outcome and agent; time formats and zone) and "
        "send them to the input topic, or to --output as NDJSON. Records that cannot be mapped are "
        "reported with their line numbers (exit code 1). Built-in profiles: anonymous-bank-1999.",
        file_help="CSV or TSV file with a header row",
    )
    import_csv.add_argument("--profile", required=True, help="built-in profile name or a TOML profile file")
    import_csv.add_argument(
        "--sort", action="store_true", help="send in event-time order (reads the whole file first; ~1 KB per event)"
    )
    import_csv.add_argument(
        "--end-watermark",
        action="store_true",
        help="finish with a stream.watermark a day after the last record, so a stream-clock worker closes the last day",
    )

    asterisk = _source_parser(
        commands,
        "import-asterisk",
        config_help,
        help="map an Asterisk queue_log onto canonical events (read whole, or follow it)",
        description="Read an Asterisk app_queue queue_log (epoch|callid|queue|agent|event|data...) and send "
        "the canonical events it maps to (docs/asterisk.md has every mapping decision). Event ids are "
        "derived from the lines, so reading a file again sends only duplicates, which the worker ignores. "
        "Caller ids never leave this command; with customer_hash_key set they become a keyed hash.",
        file_help="the queue_log file, e.g. /var/log/asterisk/queue_log",
    )
    asterisk.add_argument(
        "--follow", action="store_true", help="keep reading lines appended (log rotation is followed)"
    )
    asterisk.add_argument("--wrapup-s", type=float, default=0.0, help="the members' wrapuptime: ACW after each call")


def _source_parser(
    commands: Any, name: str, config_help: str, *, help: str, description: str, file_help: str, with_output: bool = True
) -> argparse.ArgumentParser:
    """A command that reads FILE and sends events: FILE, --config, --dry-run and (usually) --output."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("file", type=Path, help=file_help)
    parser.add_argument("--config", type=Path, help=config_help)
    if with_output:
        parser.add_argument("--output", type=Path, help="write NDJSON here instead of sending to Kafka ('-': stdout)")
    parser.add_argument("--dry-run", action="store_true", help="map, validate and count; send nothing")
    return parser


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.runtime.worker import run_worker  # noqa: PLC0415 - keep `--help` fast

    run_worker(settings)
    return 0


def _show_settings(settings: Settings, args: argparse.Namespace) -> int:
    for name, value in asdict(settings).items():
        if name in SECRET_SETTINGS and value:
            value = "<set, not shown>"  # noqa: PLW2901 - a secret never reaches a terminal or a log
        print(f"{name} = {value}")
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.sources.simulator import SimulationPlan, run_simulation  # noqa: PLC0415

    profile: str | tuple[float, ...] = args.profile
    if args.profile not in ("day", "flat"):
        try:
            profile = tuple(float(part) for part in args.profile.split(","))
        except ValueError:
            raise ConfigError(f"--profile {args.profile!r}: use day, flat or 24 comma-separated numbers") from None
    plan = SimulationPlan(
        contacts=args.contacts,
        rate_per_s=args.rate,
        speed=args.speed,
        seed=args.seed,
        queues=tuple(q.strip() for q in args.queues.split(",") if q.strip()),
        paced=not args.as_fast_as_possible,
        mixed=args.mixed,
        profile=profile,
        time_zone=args.time_zone,
        agents=args.agents,
        staffing=args.staffing,
        talk_distribution=args.talk,
        talk_median_s=args.talk_median,
        mean_patience_s=args.patience or None,
        max_wait_s=args.max_wait or None,
    )
    try:
        report = asyncio.run(run_simulation(plan, settings, args.output, dry_run=args.dry_run))
    except KeyboardInterrupt:
        return 130
    return _finish(report.summary(), [], report.invalid)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.sources.replay import replay_file  # noqa: PLC0415
    from ccpulse.sources.sink import Progress, count_lines, open_sink  # noqa: PLC0415

    if not args.file.is_file():
        raise ConfigError(f"replay: {args.file} is not a file")
    if args.direct:
        return _replay_direct(settings, args)
    if args.output is not None:
        raise ConfigError("replay: --output needs --direct (without it, events go to the input topic)")
    if args.speed is not None and args.speed <= 0:
        raise ConfigError("--speed must be above 0")

    async def run() -> int:
        sink = await open_sink(settings, None, dry_run=args.dry_run)
        progress = Progress(f"replay {args.file.name}", count_lines(args.file))
        try:
            stats = await replay_file(args.file, sink, speed=args.speed, progress=progress)
        finally:
            await sink.close()
        return _finish(sink.report.summary(), stats.problems, sink.report.invalid)

    return asyncio.run(run())


def _replay_direct(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.sources.direct import replay_direct  # noqa: PLC0415
    from ccpulse.sources.sink import Progress, count_lines  # noqa: PLC0415

    # A direct run reads the file as fast as it can and sends nothing.
    for given, option in ((args.speed is not None, "--speed"), (args.dry_run, "--dry-run")):
        if given:
            raise ConfigError(f"replay: --direct and {option} cannot be combined (a direct run sends no events)")
    progress = Progress(f"replay {args.file.name} (direct)", count_lines(args.file))
    report = replay_direct(args.file, settings, args.output, progress=progress)
    return _finish(report.summary(), report.problems, 0)


def _import_csv(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.sources.cdr import import_cdr, load_profile  # noqa: PLC0415
    from ccpulse.sources.sink import Progress, count_lines, open_sink  # noqa: PLC0415

    if not args.file.is_file():
        raise ConfigError(f"import-csv: {args.file} is not a file")
    profile = load_profile(args.profile)

    async def run() -> int:
        sink = await open_sink(settings, args.output, dry_run=args.dry_run)
        progress = Progress(f"import {args.file.name}", max(0, count_lines(args.file) - 1))
        try:
            stats = await import_cdr(
                args.file, profile, sink, end_watermark=args.end_watermark, sort_by_time=args.sort, progress=progress
            )
        finally:
            await sink.close()
        print(stats.summary(), file=sys.stderr)
        return _finish(sink.report.summary(), [], sink.report.invalid + len(stats.problems))

    return asyncio.run(run())


def _import_asterisk(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.sources.asterisk import QueueLogStats, import_queue_log  # noqa: PLC0415
    from ccpulse.sources.sink import Progress, count_lines, open_sink  # noqa: PLC0415

    if not args.file.is_file():
        raise ConfigError(f"import-asterisk: {args.file} is not a file")
    if args.wrapup_s < 0:
        raise ConfigError("--wrapup-s must be 0 or more")
    stats = QueueLogStats()

    async def run() -> int:
        sink = await open_sink(settings, args.output, dry_run=args.dry_run)
        progress = Progress(f"queue_log {args.file.name}", None if args.follow else count_lines(args.file))
        try:
            await import_queue_log(
                args.file,
                sink,
                follow=args.follow,
                customer_hash_key=settings.customer_hash_key,
                wrapup_s=args.wrapup_s,
                progress=progress,
                stats=stats,
            )
        finally:
            await sink.close()
            print(stats.summary(), file=sys.stderr)
        return _finish(sink.report.summary(), [], sink.report.invalid + stats.problem_count)

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130


def _finish(summary: str, problems: list[str], failures: int) -> int:
    """Print what a source command did; exit code 1 if anything could not be sent."""
    print(summary, file=sys.stderr)
    for problem in problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > 50:
        print(f"  ... and {len(problems) - 50} more", file=sys.stderr)
    return 1 if failures or problems else 0


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.bench.engine_bench import BenchPlan, run_engine_bench  # noqa: PLC0415

    plan = BenchPlan(
        contacts=args.contacts, open_contacts=args.open_contacts, seed=args.seed, profile=not args.no_profile
    )
    engine = run_engine_bench(plan, args.output)
    if not args.kafka:
        return 0
    from ccpulse.bench import kafka_bench  # noqa: PLC0415
    from ccpulse.codec import json  # noqa: PLC0415

    result = kafka_bench.run_kafka_bench(
        kafka_bench.KafkaBenchPlan(args.kafka, contacts=args.kafka_contacts, seed=args.seed),
        args.report.parent / "bench-work",
        sys.stderr,
    )
    document = kafka_bench.combined_report(engine, result, args.kafka_version)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_bytes(json.dumps(document) + b"\n")
    sys.stdout.write(kafka_bench.format_combined(document))
    sys.stdout.write(f"report: {args.report}\n")
    return 0


def _wallboard(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.wallboard.board import BoardError, ColourRules  # noqa: PLC0415 - keep `--help` fast
    from ccpulse.wallboard.server import WallboardOptions, configure_logging, serve  # noqa: PLC0415

    configure_logging()
    try:
        rules = ColourRules(
            sl_amber_margin=args.sl_amber_margin,
            abandon_amber_ratio=args.abandon_amber,
            abandon_red_ratio=args.abandon_red,
            oldest_wait_red_s=args.oldest_wait_red_s,
            staffing_gap_red_agents=args.staffing_gap_red,
        )
        options = WallboardOptions(
            host=args.host,
            port=args.port,
            channel=args.channel,
            lookback_h=args.lookback_h,
            stale_after_s=args.stale_after_s,
            title=args.title,
        )
        asyncio.run(serve(settings, options, rules, _announce_wallboard))
    except BoardError as exc:
        print(f"ccpulse wallboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _announce_wallboard(url: str) -> None:
    print(f"wallboard at {url}  (a team's TV: {url}?queues=QUEUE1,QUEUE2)", flush=True)


def _capacity(settings: Settings, args: argparse.Namespace) -> int:
    from ccpulse.bench import capacity  # noqa: PLC0415
    from ccpulse.codec import json  # noqa: PLC0415

    try:
        measured = capacity.MeasuredWorker.from_bench_report(json.loads(args.report.read_bytes()))
        agents = [int(value.replace("_", "")) for value in args.agents.split(",") if value.strip()]
        plans = [
            capacity.plan_capacity(
                capacity.ContactCenter(
                    count, args.aht_s, args.occupancy, args.busy_hours, retention_hours=settings.retention_hours
                ),
                measured,
                target_utilization=args.utilization,
                memory_per_worker_bytes=args.worker_memory_gib * capacity.GIB,
            )
            for count in agents
        ]
    except FileNotFoundError:
        print(f"ccpulse capacity: no bench report at {args.report}; run `make bench` first", file=sys.stderr)
        return 2
    except (ValueError, capacity.CapacityError) as exc:
        print(f"ccpulse capacity: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(capacity.format_plans(plans, measured))
    return 0


COMMANDS = {
    "worker": _worker,
    "settings": _show_settings,
    "simulate": _simulate,
    "replay": _replay,
    "import-csv": _import_csv,
    "import-asterisk": _import_asterisk,
    "bench": _bench,
    "capacity": _capacity,
    "wallboard": _wallboard,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](load_settings(args.config), args)
    except ConfigError as exc:
        print(f"ccpulse: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
