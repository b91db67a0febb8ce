"""Faust's own ceiling on this machine: an agent that only counts the messages of a topic.

    python -m ccpulse.bench.faust_empty --broker 127.0.0.1:9092 --topic bench.events --expect 100000

Same Faust settings as the worker (uvloop when installed, in-memory store, at
least once, quiet logs), no decoding and no state. It prints one JSON line,
``{"events": N, "elapsed_s": T}``, timed from the first message to the N-th;
the harness then stops it with SIGTERM and compares the real worker with this number.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from typing import Any

import faust

from ccpulse.codec import json
from ccpulse.runtime.gc_tuning import tune_gc_for_streaming
from ccpulse.runtime.worker import new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of a Kafka broker")
    parser.add_argument("--topic", required=True, help="the pre-produced topic to read")
    parser.add_argument("--expect", type=int, required=True, help="messages to count before stopping")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topic")
    args = parser.parse_args(argv)

    # Faust keeps a data directory even for in-memory tables; in the working directory by default.
    with tempfile.TemporaryDirectory(prefix="ccpulse-bench-empty-") as datadir:
        _run(args, datadir)


def _run(args: argparse.Namespace, datadir: str) -> None:
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    app = faust.App(
        f"ccpulse-bench-empty-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{args.broker}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        topic_partitions=args.partitions,
        autodiscover=False,
    )
    topic = app.topic(args.topic, partitions=args.partitions)
    state: dict[str, Any] = {"count": 0, "first": None}

    async def count(stream: faust.StreamT[bytes]) -> None:
        async for _ in stream:
            if state["first"] is None:
                state["first"] = time.perf_counter()
            state["count"] += 1
            if state["count"] == args.expect:
                elapsed = time.perf_counter() - state["first"]
                sys.stdout.write(json.dumps({"events": args.expect, "elapsed_s": elapsed}).decode() + "\n")
                sys.stdout.flush()  # the harness reads this line, then stops the process with SIGTERM

    app.agent(topic, name="count")(count)
    # Faust sends stdout to its log by default; the result line must reach the harness.
    worker = faust.Worker(app, loop=loop, loglevel="warning", quiet=True, redirect_stdouts=False)
    tune_gc_for_streaming()
    worker.execute_from_commandline()  # runs until SIGTERM, then exits the process


if __name__ == "__main__":
    main()
