"""``ccpulse wallboard``: the KPI topic read into a :class:`~ccpulse.wallboard.board.Board`, served live to TVs.

One process, no consumer group: every wallboard reads every partition of the
compacted KPI topic itself, from ``lookback`` ago (rows of today and of the
current interval are rewritten often, so a day's look back finds them), and
then follows it. Pages get the tiles over Server-Sent Events:

- ``GET /``: the page (static HTML, CSS and JavaScript, no build step);
- ``GET /events?queues=a,b&threshold=30&formula=answered``: an SSE stream: a
  ``hello`` (the options), the ``tiles`` of the screen's queues, then the tiles
  that changed (coalesced, at most one message per ``push_interval_s``) and a
  ``heartbeat`` every few seconds carrying the server clock and when the last
  KPI row arrived, so a page can tell "no data" from "no connection";
- ``GET /api/tiles`` (same query): the tiles as JSON, for scripts and checks;
- ``GET /healthz``.

A tile's ``updated_ms`` is when this process last received a row for its
queue. The worker republishes each queue's rolling windows at least every
minute on the wall clock, so a tile with nothing newer than ``stale_after_s``
means the pipeline stopped, and the page says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from ccpulse.client import KpiRow, KpiRowError, KpiTopicError, subscribe_kpi_records
from ccpulse.codec import json
from ccpulse.codec.outputs import iso_ms
from ccpulse.config import Settings
from ccpulse.wallboard.board import Board, BoardError, ColourRules, QueueTarget, View

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
_STATIC = ("index.html", "wallboard.css", "wallboard.js")
_CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}


@dataclass(frozen=True, slots=True)
class WallboardOptions:
    """How the wallboard listens, reads the topic and judges staleness."""

    host: str = "127.0.0.1"
    port: int = 8090
    channel: str = "all"
    lookback_h: float = 26.0
    stale_after_s: float = 120.0
    push_interval_s: float = 0.5
    title: str = "ccpulse wallboard"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise BoardError("--port: must be 0 to 65535 (0 picks a free port)")
        if self.lookback_h <= 0:
            raise BoardError("--lookback-h: must be positive hours")
        if self.stale_after_s <= 0:
            raise BoardError("--stale-after-s: must be positive seconds")


def board_for(settings: Settings, rules: ColourRules, channel: str) -> Board:
    """A board whose queues have the SL targets of the worker's ``queues_file``."""
    configs = settings.queue_configs()

    def target(config: Any) -> QueueTarget:
        return QueueTarget(config.sl_target_threshold_s, config.sl_target_ratio)

    targets = {queue: target(config) for queue, config in configs.overrides.items()}
    return Board(targets=targets, default_target=target(configs.default), rules=rules, channel=channel)


def view_of(query: Mapping[str, str]) -> View:
    """The screen's choice from its URL: ``queues`` (comma-separated), ``threshold`` (s), ``formula``."""
    queues = frozenset(name.strip() for name in query.get("queues", "").split(",") if name.strip())
    threshold = query.get("threshold", "").strip()
    if threshold and not threshold.isdigit():
        raise BoardError(f"threshold: {threshold!r} is not whole seconds")
    return View(
        queues=queues, threshold_s=int(threshold) if threshold else None, formula=query.get("formula", "offered")
    )


class _Screen:
    """One connected page: its view, and the queues whose tiles changed since it was last sent."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()

    def mark(self, queue: str) -> None:
        if self.view.shows(queue):
            self.dirty.add(queue)
            self.wake.set()


class KpiFeed:
    """Reads the KPI topic into the board from ``lookback`` ago, then follows it; tells screens what changed."""

    def __init__(self, settings: Settings, board: Board, lookback_h: float, screens: set[_Screen]) -> None:
        self._settings = settings
        self._board = board
        self._lookback_ms = int(lookback_h * 3_600_000)
        self._screens = screens
        self.rows = 0
        self.unreadable = 0

    async def run(self) -> None:
        topic = self._settings.kpi_topic
        warned = False
        while True:
            since_ms = int(time.time() * 1000) - self._lookback_ms
            records = subscribe_kpi_records(
                self._settings.kafka_bootstrap,
                topic=topic,
                channels={self._board.channel},
                since_ms=since_ms,
                security=self._settings,
                client_id="ccpulse-wallboard",
                on_invalid=self._unreadable,
            )
            try:
                logger.info("wallboard: reading %s from %s on", topic, iso_ms(since_ms))
                async for record in records:
                    if isinstance(record, KpiRow):
                        self.take(record, int(time.time() * 1000))
            except KpiTopicError:
                if not warned:
                    logger.warning("wallboard: KPI topic %s does not exist yet (is a worker running?); waiting", topic)
                    warned = True
                await asyncio.sleep(2)
            finally:
                await records.aclose()

    def take(self, row: KpiRow, received_ms: int) -> None:
        self.rows += 1
        queue = self._board.fold(row, received_ms)
        if queue is not None:
            for screen in self._screens:
                screen.mark(queue)

    def _unreadable(self, error: KpiRowError) -> None:
        self.unreadable += 1
        if self.unreadable <= 10:
            logger.warning("wallboard: skipped a record that is no KPI row: %s", error)


class WallboardServer:
    """The HTTP side: the page, the SSE stream and the JSON tiles, from one board."""

    def __init__(self, settings: Settings, options: WallboardOptions, board: Board) -> None:
        self.options = options
        self.board = board
        self._screens: set[_Screen] = set()
        self.feed = KpiFeed(settings, board, options.lookback_h, self._screens)
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.bound_port: int | None = None

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/", self._page)
        for name in _STATIC:
            application.router.add_get(f"/{name}", self._static)
        application.router.add_get("/events", self._events)
        application.router.add_get("/api/tiles", self._tiles)
        application.router.add_get("/healthz", self._healthz)
        return application

    async def start(self) -> str:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        try:
            await site.start()
        except OSError as exc:
            raise BoardError(
                f"--port: cannot listen on {self.options.host}:{self.options.port} ({exc.strerror})"
            ) from exc
        sockets = getattr(site._server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.options.port
        return f"http://{self.options.host}:{self.bound_port}/"

    async def stop(self) -> None:
        # Open event streams never end by themselves; the server's clean-up waits for them.
        self._closing = True
        for screen in self._screens:
            screen.wake.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _hello(self, view: View) -> dict[str, Any]:
        return {
            "title": self.options.title,
            "channel": self.board.channel,
            "queues": sorted(view.queues),
            "threshold_s": view.threshold_s,
            "formula": view.formula,
            "stale_after_s": self.options.stale_after_s,
            "heartbeat_s": HEARTBEAT_S,
            "server_ms": int(time.time() * 1000),
        }

    def _heartbeat(self) -> dict[str, Any]:
        return {
            "server_ms": int(time.time() * 1000),
            "last_row_ms": self.board.last_received_ms,
        }

    async def _page(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        return self._file(request.path.lstrip("/"))

    def _file(self, name: str) -> web.Response:
        body = resources.files("ccpulse.wallboard").joinpath("static", name).read_bytes()
        content_type = _CONTENT_TYPES[name[name.rindex(".") :]]
        return web.Response(
            body=body, content_type=content_type, charset="utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _tiles(self, request: web.Request) -> web.Response:
        try:
            view = view_of(request.query)
        except BoardError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        body = {"tiles": self.board.tiles(view), **self._heartbeat()}
        return web.Response(body=json.dumps(body), content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        try:
            view = view_of(request.query)
        except BoardError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        screen = _Screen(view)
        self._screens.add(screen)
        try:
            await _send(response, "hello", self._hello(view))
            await _send(response, "tiles", {"tiles": self.board.tiles(view), **self._heartbeat()})
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(screen.wake.wait(), timeout=HEARTBEAT_S)
                if self._closing:
                    break
                if screen.dirty:
                    await asyncio.sleep(self.options.push_interval_s)  # coalesce a burst of rows into one message
                    queues, screen.dirty = sorted(screen.dirty), set()
                    screen.wake.clear()
                    tiles = [self.board.tile(queue, view) for queue in queues]
                    await _send(response, "tiles", {"tiles": tiles, **self._heartbeat()})
                else:
                    screen.wake.clear()
                    await _send(response, "heartbeat", self._heartbeat())
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            self._screens.discard(screen)
        return response


async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    await response.write(b"event: " + event.encode() + b"\ndata: " + json.dumps(data) + b"\n\n")


class _OncePerMinute(logging.Filter):
    """Lets each distinct message through once a minute: a broker that is down would log every few ms."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        now = time.monotonic()
        if now - self._last.get(text, -60.0) < 60.0:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[text] = now
        return True


def configure_logging() -> None:
    """INFO to stderr with times; the Kafka client's repeated complaints once a minute each."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").addFilter(_OncePerMinute())
    for name in ("aiokafka.conn", "aiokafka.client", "aiokafka.consumer.fetcher"):
        logging.getLogger(name).addFilter(_OncePerMinute())


async def serve(
    settings: Settings, options: WallboardOptions, rules: ColourRules, on_listening: Callable[[str], None]
) -> None:
    """Run the wallboard until cancelled (Ctrl-C or SIGTERM); ``on_listening`` gets the page's URL."""
    server = WallboardServer(settings, options, board_for(settings, rules, options.channel))
    on_listening(await server.start())
    running = asyncio.current_task()
    if running is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, running.cancel)
    try:
        await server.feed.run()
    except asyncio.CancelledError:
        logger.info("wallboard: stopping")
    finally:
        await server.stop()
