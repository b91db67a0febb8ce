"""The ``/metrics`` HTTP endpoint as a mode service on the worker's event loop.

Serving from the loop (not prometheus_client's thread server) means collectors
read tables between event-processing steps, never while a step mutates them.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)


class MetricsEndpoint(Service):
    """Serves ``GET /metrics`` (Prometheus text format) and ``GET /healthz``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(loop=loop)
        self._registry = registry
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def on_start(self) -> None:
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            raise RuntimeError(
                f"cannot serve metrics on {self._host}:{self._port} ({exc.strerror}); "
                "choose another port with metrics_port / CCPULSE_METRICS_PORT"
            ) from exc
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        logger.info("metrics at http://%s:%s/metrics", self._host, self.bound_port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
