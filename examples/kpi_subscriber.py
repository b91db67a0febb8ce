"""Print one queue's service level, ASA and abandonment per window as ccpulse publishes them.

    python examples/kpi_subscriber.py --bootstrap 127.0.0.1:9092 --queue q01

Reads the KPI topic from the beginning (its latest row per key is the current
state of every window), then follows it. Kafka security comes from the same
settings as the worker's: ``--config ccpulse.toml`` and the ``CCPULSE_*``
environment variables (``CCPULSE_KAFKA_SECURITY_PROTOCOL``,
``CCPULSE_KAFKA_SASL_USERNAME``, ...), and so does the topic name
(``kpi_topic``). One line per row, e.g.::

    2024-03-01 12:00-12:15Z  interval_15m  voice  final  SL 20 s  53.2 %  ASA  20.4 s  abandoned  14.4 %  offered 780

``-`` stands for a KPI without a value (nothing offered or answered yet).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.errors import KafkaError

from ccpulse.client import KpiClientError, KpiRow, subscribe_kpis
from ccpulse.config import ConfigError, load_settings


def percent(ratio: float | None) -> str:
    return "    -  " if ratio is None else f"{ratio * 100:5.1f} %"


def seconds(value: float | None) -> str:
    return "    -  " if value is None else f"{value:5.1f} s"


def describe(row: KpiRow) -> str:
    """One line for a row: its window, whether it is final, SL at the queue's first threshold, ASA, abandonment."""
    start = datetime.fromtimestamp(row.window_start_ms / 1000, UTC)
    end = datetime.fromtimestamp(row.window_end_ms / 1000, UTC)
    threshold_s = row.thresholds_s[0] if row.thresholds_s else None
    level = None if threshold_s is None else row.service_level(threshold_s)
    return (
        f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}Z  {row.window:<13} {row.channel:<6} "
        f"{'final' if row.final else 'open ':<5}  SL {threshold_s} s {percent(level)}  "
        f"ASA {seconds(row.asa_s)}  abandoned {percent(row.abandonment_ratio)}  offered {row.offered}"
    )


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Print one queue's SL, ASA and abandonment per window from ccpulse's KPI topic as rows arrive.",
        epilog="Kafka security and the topic name come from --config and the CCPULSE_* variables, as for the worker.",
    )
    parser.add_argument("--bootstrap", help="Kafka brokers, host:port[,...] (default: the kafka_bootstrap setting)")
    parser.add_argument("--queue", required=True, help="the queue to show")
    parser.add_argument(
        "--channel", default="all", help="voice, chat, email, messaging, video, other, or all (default: all)"
    )
    parser.add_argument(
        "--window",
        action="append",
        dest="windows",
        metavar="WINDOW",
        help="only this window (interval_15m, rolling_5m, today, ...); repeat for several (default: every window)",
    )
    parser.add_argument("--topic", help="the KPI topic (default: the kpi_topic setting, ccpulse.kpis)")
    parser.add_argument("--config", type=Path, help="the worker's TOML settings file, for Kafka security")
    parser.add_argument("--latest", action="store_true", help="only rows published from now on, not the current ones")
    parser.add_argument("--once", action="store_true", help="print the rows on the topic now and exit")
    return parser.parse_args(argv)


async def show(args: argparse.Namespace) -> None:
    settings = load_settings(args.config)
    subscription = subscribe_kpis(
        args.bootstrap or settings.kafka_bootstrap,
        topic=args.topic or settings.kpi_topic,
        queues={args.queue},
        channels={args.channel},
        windows=args.windows,
        from_beginning=not args.latest,
        follow=not args.once,
        security=settings,
    )
    async with contextlib.aclosing(subscription) as rows:
        async for row in rows:
            sys.stdout.write(describe(row) + "\n")
            sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        asyncio.run(show(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, KpiClientError, ValueError) as error:  # a setting, a name, a missing topic, a bad row
        sys.stderr.write(f"kpi_subscriber: {error}\n")
        return 2
    except KafkaError as error:  # no broker at --bootstrap, refused credentials
        sys.stderr.write(f"kpi_subscriber: Kafka: {error!r}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
