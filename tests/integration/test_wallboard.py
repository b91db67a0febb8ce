"""The wallboard as a supervisor's TV shows it: real broker, real worker, ``ccpulse wallboard``, headless Chromium.

The worker runs on the stream-time clock and its default KPI publish interval
(5 s), so the measured event-to-tile time is what a live floor gets. Event
time starts three hours ago on a whole hour (``T``); every call below falls
in the interval [T, T+15 min) and in the same day. Queue rules (queues file):
``sales`` and ``billing`` the defaults (80 % within 20 s), ``support`` 90 %
within 30 s.

Phase 1 (watermark T+6 min), numbers by hand:

- ``sales``: 5 calls, waits 5, 10, 12, 15, 30 s, talk 120 s, ACW 10 s:
  SL(20 s, offered) = 4/5 = 80.0 % (green: at target), ASA = 72/5 = 14.4 s,
  abandoned 0 %, AHT = 130 s (2:10), offered 5; two agents available, and
  Erlang C on the rolling 30 minutes (A = 5 x 130 / 1800 = 0.36 Erlang) needs
  two: one agent would give SL = 1 - 0.36 x exp(-0.64 x 20/130) = 67 % < 80 %,
  so the staffing gap is 0;
- ``billing``: 4 calls, waits 10, 12, 15, 25 s: SL 3/4 = 75.0 % (amber: within
  10 points of the target), ASA 15.5 s; two agents, who are enough (A = 0.29);
- ``support``: 2 calls, waits 10, 20 s: SL(30 s) = 100.0 % (green).

Phase 2 (watermark T+9 min): 6 more ``sales`` calls queued from T+6 min, each
abandoned after 60 s, and one queued at T+8 min still waiting: offered 11 (the
waiting call is not offered yet), SL = 4/11 = 36.4 % (red), abandoned 6/11 =
54.5 % (red), ASA still 14.4 s; waiting now 1, its wait 60 s (1:00, amber:
past the 20 s threshold, below the 180 s red limit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ccpulse.codec import json
from tests.integration.support import CCPULSE, WorkerProcess, event, free_port, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MINUTE_MS = 60_000
STALE_AFTER_S = 8
QUEUES_TOML = """
[queues.support]
sl_target_threshold_s = 30
sl_target_ratio = 0.9
"""


def answered_calls(queue: str, first_ms: int, waits_s: list[int]) -> list[bytes]:
    """One call every 30 s from ``first_ms``, answered after each wait, talk 120 s, ACW 10 s."""
    records: list[bytes] = []
    for number, wait_s in enumerate(waits_s):
        queued_ms = first_ms + number * 30_000
        contact = f"{queue}-{queued_ms}"
        answered_ms = queued_ms + wait_s * 1000
        agent = f"{queue}-agent-{number % 2}"
        records += [
            event(f"{contact}-q", "contact.queued", queued_ms, contact, queue=queue, channel="voice"),
            event(f"{contact}-a", "contact.answered", answered_ms, contact, agent_id=agent),
            event(f"{contact}-e", "contact.ended", answered_ms + 120_000, contact, agent_id=agent),
            event(f"{contact}-w", "contact.wrapup_ended", answered_ms + 130_000, contact, agent_id=agent),
        ]
    return records


def abandoned_calls(queue: str, first_ms: int, count: int, wait_s: int) -> list[bytes]:
    records: list[bytes] = []
    for number in range(count):
        queued_ms = first_ms + number * 10_000
        contact = f"{queue}-{queued_ms}"
        records += [
            event(f"{contact}-q", "contact.queued", queued_ms, contact, queue=queue, channel="voice"),
            event(
                f"{contact}-x", "contact.abandoned", queued_ms + wait_s * 1000, contact, queue=queue, channel="voice"
            ),
        ]
    return records


def agents_available(queue: str, at_ms: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "event_id": f"{queue}-agent-{number}-login",
                "type": "agent.state_changed",
                "ts": at_ms,
                "agent_id": f"{queue}-agent-{number}",
                "state": "available",
                "queues": [queue],
            }
        )
        for number in range(2)
    ]


def watermark(ts_ms: int) -> bytes:
    return json.dumps({"event_id": f"watermark-{ts_ms}", "type": "stream.watermark", "ts": ts_ms})


class Wallboard:
    """A ``ccpulse wallboard`` process on the test's KPI topic, stopped by its PID at teardown."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._log = log_path.open("wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [str(CCPULSE), "wallboard", "--port", str(self.port), "--stale-after-s", str(STALE_AFTER_S)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_listening(self, timeout_s: float = 20) -> Wallboard:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the wallboard did not listen in {timeout_s:.0f} s: {self.log_path.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def wallboard(
    kafka_bootstrap: str, topic_names: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[Path], Wallboard]]:
    boards: list[Wallboard] = []

    def start(queues_file: Path) -> Wallboard:
        env = {
            **os.environ,
            **topic_names,
            "CCPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CCPULSE_QUEUES_FILE": str(queues_file),
        }
        board = Wallboard(env, tmp_path / f"wallboard-{len(boards)}.log")
        boards.append(board)
        return board.wait_listening()

    yield start
    for board in boards:
        board.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("the wallboard test drives Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this test needs it

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def tile_text(page: Any, queue: str, figure: str) -> str:
    """A figure's value as shown (a big figure's number without its label)."""
    shown = page.locator(f'.tile[data-queue="{queue}"] [data-figure="{figure}"]').first.evaluate(
        "figure => (figure.querySelector('.value') || figure).textContent"
    )
    return str(shown).strip()


SHOWN = ("interval-sl", "interval-asa", "interval-abandonment", "interval-aht", "interval-offered", "today-sl",
         "waiting", "oldest-wait", "staffing-gap")  # fmt: skip


def shown(page: Any, queue: str) -> dict[str, str]:
    return {figure: tile_text(page, queue, figure) for figure in SHOWN}


def figure_colour(page: Any, queue: str, figure: str) -> str | None:
    colour = page.locator(f'.tile[data-queue="{queue}"] [data-figure="{figure}"]').first.get_attribute("data-colour")
    return None if colour is None else str(colour)


def tile_attribute(page: Any, queue: str, attribute: str) -> str | None:
    value = page.locator(f'.tile[data-queue="{queue}"]').get_attribute(attribute)
    return None if value is None else str(value)


def wait_for_page(
    page: Any, condition: Callable[[], bool], what: str, board: Wallboard, timeout_s: float = 45
) -> float:
    """Poll the page until ``condition``; seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # a tile not drawn yet: poll again
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not shown in {timeout_s:.0f} s\n{board.log_path.read_text(errors='replace')[-3000:]}")


def test_the_wallboard_shows_each_queues_numbers_turns_red_when_sl_collapses_and_says_when_data_is_stale(
    kafka_bootstrap: str,
    topic_names: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    wallboard: Callable[[Path], Wallboard],
    browser: Any,
    tmp_path: Path,
) -> None:
    queues_file = tmp_path / "queues.toml"
    queues_file.write_text(QUEUES_TOML)
    base_ms = (int(time.time() * 1000) // (60 * MINUTE_MS) - 3) * 60 * MINUTE_MS
    worker = start_worker(CCPULSE_CLOCK="stream", CCPULSE_QUEUES_FILE=str(queues_file))
    worker.wait_ready()
    board = wallboard(queues_file)
    topic = topic_names["CCPULSE_INPUT_TOPIC"]

    def play(records: list[bytes], watermark_ms: int) -> None:
        # In a thread: Playwright's sync API keeps an event loop running on this one.
        messages = [(None, record) for record in [*records, watermark(watermark_ms)]]
        with ThreadPoolExecutor(1) as pool:
            pool.submit(produce, kafka_bootstrap, topic, messages).result()

    page = browser.new_page(viewport={"width": 1600, "height": 620})
    page.goto(board.url)
    play(
        [
            *agents_available("sales", base_ms),
            *agents_available("billing", base_ms),
            *agents_available("support", base_ms),
            *answered_calls("sales", base_ms, [5, 10, 12, 15, 30]),
            *answered_calls("billing", base_ms, [10, 12, 15, 25]),
            *answered_calls("support", base_ms, [10, 20]),
        ],
        base_ms + 6 * MINUTE_MS,
    )

    def phase_one_shown() -> bool:
        return (
            tile_text(page, "sales", "interval-sl") == "80%"
            and tile_text(page, "billing", "interval-sl") == "75%"
            and tile_text(page, "support", "interval-sl") == "100%"
        )

    wait_for_page(page, phase_one_shown, "phase 1's service levels", board)
    assert tile_attribute(page, "sales", "data-status") == "green"
    assert shown(page, "sales") == {
        "interval-sl": "80%",
        "interval-asa": "14 s",  # 14.4 s, shown to the second
        "interval-abandonment": "0%",
        "interval-aht": "2:10",
        "interval-offered": "5",
        "today-sl": "80%",
        "waiting": "0",
        "oldest-wait": "0 s",
        "staffing-gap": "0",
    }
    assert tile_attribute(page, "billing", "data-status") == "amber"
    assert figure_colour(page, "billing", "interval-sl") == "amber"
    assert tile_text(page, "billing", "interval-asa") == "16 s"  # (10 + 12 + 15 + 25) / 4 = 15.5 s
    assert "SL 30 s" in page.locator('.tile[data-queue="support"] .sl-heading').inner_text()
    assert tile_attribute(page, "support", "data-status") == "green"

    # Phase 2: SL collapses in sales. Time from producing the events to the red tile on the page.
    produced_at = time.monotonic()
    play(
        [
            *abandoned_calls("sales", base_ms + 6 * MINUTE_MS, 6, wait_s=60),
            *abandoned_calls("sales", base_ms + 8 * MINUTE_MS, 1, wait_s=0)[:1],  # queued, still waiting
        ],
        base_ms + 9 * MINUTE_MS,
    )

    def collapsed() -> bool:
        return (
            tile_text(page, "sales", "interval-sl") == "36.4%" and tile_attribute(page, "sales", "data-status") == "red"
        )

    wait_for_page(page, collapsed, "sales turning red", board)
    event_to_tile_s = time.monotonic() - produced_at
    print(f"\nwallboard freshness: events produced -> red tile in the browser: {event_to_tile_s:.2f} s")
    assert shown(page, "sales") == {
        "interval-sl": "36.4%",
        "interval-asa": "14 s",
        "interval-abandonment": "54.5%",
        "interval-aht": "2:10",
        "interval-offered": "11",
        "today-sl": "36.4%",
        "waiting": "1",
        "oldest-wait": "1:00",
        # 12 arrivals in the rolling 30 minutes: A = 12 x 130 / 1800 = 0.87 Erlang; with two agents
        # P(wait) = 0.26 and SL = 1 - 0.26 x exp(-1.13 x 20/130) = 78 % < 80 %: Erlang C needs three.
        "staffing-gap": "+1",
    }
    colours = {
        figure: figure_colour(page, "sales", figure)
        for figure in ("interval-sl", "interval-abandonment", "oldest-wait")
    }
    assert colours == {"interval-sl": "red", "interval-abandonment": "red", "oldest-wait": "amber"}
    assert tile_attribute(page, "sales", "data-stale") == "false"
    assert page.locator("#banner").get_attribute("data-state") == "live"
    screenshot_dir = os.environ.get("CCPULSE_SCREENSHOT_DIR")
    page.screenshot(path=str(Path(screenshot_dir or tmp_path) / "wallboard.png"))

    # A team's TV: only its queues, from the URL.
    team = browser.new_page()
    team.goto(board.url + "?queues=sales,support")
    wait_for_page(team, lambda: team.locator(".tile").count() == 2, "the team's two tiles", board)
    team_queues = team.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.queue)")
    assert sorted(team_queues) == ["sales", "support"]

    # The stream clock stops with the input: no row changes, so every tile goes stale, and the page says so.
    wait_for_page(
        page,
        lambda: (
            page.locator("#banner").get_attribute("data-state") == "stale"
            and tile_attribute(page, "sales", "data-stale") == "true"
        ),
        "the stale state",
        board,
        timeout_s=STALE_AFTER_S + 20,
    )
    assert "data stale" in page.locator("#banner").inner_text()
    assert page.locator('.tile[data-queue="sales"] .stale-note').is_visible()
    assert board.stop() == 0  # SIGTERM: a clean exit
