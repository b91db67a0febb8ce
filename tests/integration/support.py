"""Helpers for tests that run the real worker process against the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families

from ccpulse.codec import json

CCPULSE = Path(sys.executable).with_name("ccpulse")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_worker_to_exit(env: Mapping[str, str], timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``ccpulse worker`` in the foreground, for runs expected to stop on their own."""
    return subprocess.run(
        [str(CCPULSE), "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def unique_names() -> dict[str, str]:
    """Settings that isolate one test's app and topics on a shared broker."""
    run = uuid.uuid4().hex[:8]
    return {
        "CCPULSE_APP_ID": f"ccpulse-test-{run}",
        "CCPULSE_INPUT_TOPIC": f"test-{run}.events",
        "CCPULSE_FACTS_TOPIC": f"test-{run}.contact-facts",
        "CCPULSE_DEAD_LETTER_TOPIC": f"test-{run}.dead-letters",
        "CCPULSE_KPI_TOPIC": f"test-{run}.kpis",
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@dataclass
class WorkerProcess:
    """One ``ccpulse worker`` subprocess with its own metrics port and data dir."""

    bootstrap: str
    names: Mapping[str, str]
    data_dir: Path
    metrics_port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"worker-{self.metrics_port}.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.names,
            "CCPULSE_KAFKA_BOOTSTRAP": self.bootstrap,
            "CCPULSE_METRICS_HOST": "127.0.0.1",
            "CCPULSE_METRICS_PORT": str(self.metrics_port),
            "CCPULSE_DATA_DIR": str(self.data_dir),
            "CCPULSE_TOPIC_PARTITIONS": "4",
            **self.extra_env,
        }

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CCPULSE), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def log_count(self, text: str) -> int:
        """How many times the worker's log holds ``text`` so far."""
        return self.log_path.read_text(errors="replace").count(text) if self.log_path.exists() else 0

    def wait_for_log(self, text: str, times: int = 1, timeout_s: float = 60.0) -> None:
        """Wait until the log holds ``text`` at least ``times`` times (0.02 s polls: a cue, not a trend)."""
        deadline = time.monotonic() + timeout_s
        while self.log_count(text) < times:
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker never logged {text!r} {times} times:\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def diagnosis(self, lines: int = 120) -> str:
        """Exit status, readiness and the last non-debug log lines: what a failed test prints."""
        assert self.process is not None
        status = self.process.poll()
        samples = self.scrape() if status is None else None
        ready = None if samples is None else sample(samples, "ccpulse_worker_ready")
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = "(no log)"
        kept = [line for line in text.splitlines() if "] [DEBUG] " not in line][-lines:]
        header = f"--- worker on metrics port {self.metrics_port}: exit status {status}, ready {ready}"
        return "\n".join([header, *kept])

    def metrics_text(self) -> str | None:
        """The /metrics page as served, or None if the worker does not answer."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return None

    def scrape(self) -> Samples | None:
        text = self.metrics_text()
        return None if text is None else parse_metrics(text)

    def wait_for(self, condition: Callable[[Samples], bool], timeout_s: float = 60.0) -> Samples:
        """Poll /metrics until ``condition`` holds; fail with the worker's log otherwise."""
        deadline = time.monotonic() + timeout_s
        last: Samples | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            last = self.scrape()
            if last is not None and condition(last):
                return last
            time.sleep(0.25)
        shown = {k: v for k, v in (last or {}).items() if k[0].startswith("ccpulse_queue")}
        raise AssertionError(f"condition not met in {timeout_s} s; last queue samples {shown}\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float = 60.0) -> Samples:
        return self.wait_for(lambda s: sample(s, "ccpulse_worker_ready") == 1.0, timeout_s)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"worker ignored signal {sig} for {timeout_s} s:\n{self.log_tail()}") from None
        return self.process.returncode


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> None:
    async def send_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for key, value in records:
                await producer.send(topic, key=key, value=value)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send_all())


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Read ``expected`` records from the start of ``topic`` (or fail after ``timeout_s``)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(records) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(messages)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def event(event_id: str, event_type: str, ts_ms: int, contact_id: str, **fields: Any) -> bytes:
    return json.dumps({"event_id": event_id, "type": event_type, "ts": ts_ms, "contact_id": contact_id, **fields})


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    """The broker's effective settings of ``topic`` (name -> value)."""

    async def describe() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        finally:
            await admin.close()
        return {entry[0]: entry[1] for response in configs for entry in response.resources[0][4]}

    return asyncio.run(describe())


def read_all(bootstrap: str, topic: str, idle_s: float = 1.5, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``topic`` from the start, in partition order, until nothing new arrives for ``idle_s``."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + timeout_s
            quiet_since = time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - quiet_since < idle_s:
                batch = await consumer.getmany(timeout_ms=300)
                for messages in batch.values():
                    if messages:
                        quiet_since = time.monotonic()
                    records.extend(messages)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def latest_by_key(bootstrap: str, topic: str, idle_s: float = 1.5, timeout_s: float = 30.0) -> dict[bytes, Any]:
    """Read ``topic`` from the start until nothing new arrives for ``idle_s``: the latest record per key.

    A compacted topic's view: a tombstone removes its key.
    """
    latest: dict[bytes, Any] = {}
    for message in read_all(bootstrap, topic, idle_s, timeout_s):
        if message.value is None:
            latest.pop(message.key, None)
        else:
            latest[message.key] = message
    return latest
