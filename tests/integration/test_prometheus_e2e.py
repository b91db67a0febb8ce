"""A real Prometheus, with the shipped config and rules, scraping a real worker while service level collapses.

The worker runs on the stream-time clock, so a scenario covering an hour of
event time plays in seconds; each phase ends with a watermark that moves every
partition's clock. Queue ``e2e`` gets one call every 30 s of event time:

- phase 1 (minutes 0-16): every call answered after 10 s, so in ``rolling_15m``
  SL(20 s) = 1.0 and ASA = 10 s;
- phase 2 (minutes 16-34): every call answered after 60 s; the rolling 15
  minutes then hold only these calls: SL(20 s) = 0.0, ASA = 60 s, about 30
  offered (above the alert's volume guard of 10), and the SL alert goes
  pending, then firing;
- phase 3 (minutes 34-52): answered after 10 s again: SL = 1.0, the alert resolves.

The shipped alert durations (minutes) are shortened to 5 s in the test's copy of the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccpulse.codec import json
from tests.integration.conftest import load_deploy_module
from tests.integration.support import WorkerProcess, event, produce

promctl = load_deploy_module("promctl", "prometheus/promctl.py")

QUEUE = "e2e"
MINUTE_MS = 60_000
CALL_EVERY_MS = 30_000
ALERT = "CcpulseServiceLevelBelowTarget"
SELECTOR = f'queue="{QUEUE}",channel="all",window="rolling_15m"'


def calls(first_minute: int, last_minute: int, wait_s: int, base_ms: int) -> list[bytes]:
    """One call every 30 s queued in [first_minute, last_minute), answered after ``wait_s``, talk 60 s, ACW 5 s."""
    records: list[bytes] = []
    for queued_ms in range(base_ms + first_minute * MINUTE_MS, base_ms + last_minute * MINUTE_MS, CALL_EVERY_MS):
        contact = f"c{queued_ms}"
        answered_ms = queued_ms + wait_s * 1000
        records += [
            event(f"{contact}-q", "contact.queued", queued_ms, contact, queue=QUEUE, channel="voice"),
            event(f"{contact}-a", "contact.answered", answered_ms, contact, agent_id="a1"),
            event(f"{contact}-e", "contact.ended", answered_ms + 60_000, contact, agent_id="a1"),
            event(f"{contact}-w", "contact.wrapup_ended", answered_ms + 65_000, contact, agent_id="a1"),
        ]
    return records


def watermark(ts_ms: int) -> bytes:
    return json.dumps({"event_id": f"watermark-{ts_ms}", "type": "stream.watermark", "ts": ts_ms})


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[WorkerProcess], Any]]:
    servers: list[Any] = []

    def start(worker: WorkerProcess) -> Any:
        server = promctl.LocalPrometheus(
            tmp_path / "prometheus", [f"127.0.0.1:{worker.metrics_port}"], for_override="5s"
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def wait_until(condition: Callable[[], Any], what: str, server: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout_s:.0f} s; alerts {server.alerts()}\n{server.log_tail()}")


def value(server: Any, expr: str) -> float | None:
    result = server.query(expr)
    return result[0][1] if len(result) == 1 else None


def values_reach(server: Any, wanted: dict[str, float]) -> bool:
    """All recorded series at their wanted values in one poll.

    Prometheus commits each recording rule's result separately within a group
    evaluation, so a query may see one rule's new sample beside another's
    previous one; the test therefore waits for the pair, not one then the other.
    """
    return all(value(server, expr) == expected for expr, expected in wanted.items())


def sl_alert_state(server: Any) -> str | None:
    for alert in server.alerts():
        if alert["labels"].get("alertname") == ALERT and alert["labels"].get("queue") == QUEUE:
            return str(alert["state"])
    return None


def test_recording_rules_and_the_service_level_alert_follow_the_worker(
    kafka_bootstrap: str,
    topic_names: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    prometheus: Callable[[WorkerProcess], Any],
) -> None:
    # Event time three hours ago, on a whole hour: far enough back that no event is "in the future".
    base_ms = (int(time.time() * 1000) // (60 * MINUTE_MS) - 3) * 60 * MINUTE_MS
    worker = start_worker(CCPULSE_CLOCK="stream", CCPULSE_KPI_PUBLISH_INTERVAL_S="0.5")
    worker.wait_ready()
    server = prometheus(worker)
    topic = topic_names["CCPULSE_INPUT_TOPIC"]
    sl = f'ccpulse:service_level:ratio{{{SELECTOR},threshold="20",formula="offered"}}'
    asa = f"ccpulse:asa:seconds{{{SELECTOR}}}"

    def play(first_minute: int, last_minute: int, wait_s: int) -> None:
        records = [*calls(first_minute, last_minute, wait_s, base_ms), watermark(base_ms + last_minute * MINUTE_MS)]
        produce(kafka_bootstrap, topic, [(None, record) for record in records])

    play(0, 16, wait_s=10)
    abandonment = f"ccpulse:abandonment:ratio{{{SELECTOR}}}"
    wait_until(lambda: values_reach(server, {sl: 1.0, asa: 10.0, abandonment: 0.0}), "SL 1.0, ASA 10 s", server)
    assert sl_alert_state(server) is None

    play(16, 34, wait_s=60)
    wait_until(lambda: values_reach(server, {sl: 0.0, asa: 60.0}), "SL 0.0, ASA 60 s in phase 2", server)
    offered = value(server, f"ccpulse:contacts_offered:sum{{{SELECTOR}}}")
    assert offered is not None
    assert offered >= 10  # the alert's volume guard
    states_seen = []

    def firing() -> bool:
        state = sl_alert_state(server)
        if state is not None and (not states_seen or states_seen[-1] != state):
            states_seen.append(state)
        return state == "firing"

    wait_until(firing, "the SL alert firing", server)
    assert states_seen[0] == "pending", states_seen  # it waited out its `for` before firing
    [alert] = [a for a in server.alerts() if a["labels"]["alertname"] == ALERT]
    assert alert["labels"]["severity"] == "page"
    assert QUEUE in alert["annotations"]["summary"]

    play(34, 52, wait_s=10)
    wait_until(lambda: values_reach(server, {sl: 1.0, asa: 10.0}), "SL 1.0, ASA 10 s in phase 3", server)
    wait_until(lambda: sl_alert_state(server) is None, "the SL alert resolving", server)
