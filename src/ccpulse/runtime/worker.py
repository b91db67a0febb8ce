"""Run one ccpulse worker process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc

import faust
from prometheus_client import disable_created_metrics

from ccpulse.config import Settings
from ccpulse.runtime.app import create_app
from ccpulse.runtime.gc_tuning import tune_gc_for_streaming
from ccpulse.runtime.topics import ensure_topics
from ccpulse.telemetry.endpoint import EndpointSecurity, MetricsEndpoint

logger = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (``pip install ccpulse[speed]``), else asyncio's default."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class CcpulseWorker(faust.Worker):
    """Faust's worker without its terminal spinner.

    At log levels of WARN and above Faust adds a spinner handler to the root
    logger and sets the root logger to DEBUG, so that every debug record of
    Faust and aiokafka (several per message sent) is built only to turn the
    spinner; that cost a worker several per cent of its time. The root logger
    stays at the configured level instead.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None

    def _on_sigusr2(self) -> None:
        # mode would stop the worker in pdb here, a hang in production; SIGUSR2 profiles memory instead.
        log_memory_profile()


class ChangelogUnreadable(RuntimeError):
    """A table changelog holds a record the worker cannot read back."""


class UnreadableChangelogGuard(logging.Handler):
    """Stops the worker, loudly, when Faust cannot read a changelog record during table recovery.

    Faust only logs a warning ("Error in recovery ...") and then waits for
    that offset for ever: the worker would stay unready without saying why,
    or, were the record skipped, serve state with a row missing. Neither may
    pass silently, so the worker logs an error naming the cause and exits;
    the record has to be removed or repaired (or the topic rebuilt by a replay).
    """

    def __init__(self, app: faust.App, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(level=logging.WARNING)
        self._app = app
        self._loop = loop
        self.tripped = False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.tripped or not message.startswith("Error in recovery"):
            return
        self.tripped = True
        cause = message.removeprefix("Error in recovery ")
        error = ChangelogUnreadable(
            f"a table changelog record could not be read while restoring state ({cause}); "
            "refusing to serve state without it: remove or repair that record, or rebuild the tables by a replay "
            "into a new app_id"
        )
        logger.error("%s", error)
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._app.crash(error)))


def log_memory_profile(top: int = 25) -> None:
    """SIGUSR2: log the worker's largest allocation sites, when it runs with ``PYTHONTRACEMALLOC=1``.

    Tracing every allocation costs CPU, so it is off unless that standard
    Python variable starts it; without it the signal only says how to turn it on.
    """
    if not tracemalloc.is_tracing():
        logger.warning("memory profile: restart the worker with PYTHONTRACEMALLOC=1 to record allocations")
        return
    snapshot = tracemalloc.take_snapshot()
    traced_bytes, peak_bytes = tracemalloc.get_traced_memory()
    # With PYTHONTRACEMALLOC=N > 1 each site comes with its callers (most recent first).
    by_caller = tracemalloc.get_traceback_limit() > 1
    lines = [
        f"{stat.size / 2**20:8.1f} MiB {stat.count:>10,} blocks  " + " <- ".join(str(frame) for frame in stat.traceback)
        for stat in snapshot.statistics("traceback" if by_caller else "lineno")[:top]
    ]
    logger.warning(
        "memory profile: %.1f MiB traced (peak %.1f MiB); largest sites:\n%s",
        traced_bytes / 2**20,
        peak_bytes / 2**20,
        "\n".join(lines),
    )


def run_worker(settings: Settings) -> None:
    """Check topics, then hand the loop to Faust's worker (which exits the process)."""
    # `_created` samples double the series count and no dashboard reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    # Fails fast, naming the setting, if the broker is unreachable or a topic clashes.
    loop.run_until_complete(ensure_topics(settings))
    pipeline = create_app(settings)
    security = EndpointSecurity(
        settings.metrics_tls_cert_file,
        settings.metrics_tls_key_file,
        settings.metrics_basic_auth_username,
        settings.metrics_basic_auth_password,
    )
    # A bad certificate fails here, before Faust starts, with the settings named.
    security.ssl_context()
    endpoint = MetricsEndpoint(
        pipeline.registry, settings.metrics_host, settings.metrics_port, loop, security, pipeline.is_ready
    )
    worker = CcpulseWorker(
        pipeline.app,
        endpoint,
        loop=loop,
        loglevel=settings.log_level,
        # The banner lists tables and the broker URL; logs are for operators, not a splash screen.
        quiet=True,
    )
    logging.getLogger("faust.tables.recovery").addHandler(UnreadableChangelogGuard(pipeline.app, loop))
    tune_gc_for_streaming()
    worker.execute_from_commandline()
