"""The ``/metrics`` HTTP endpoint as a mode service on the worker's event loop.

Serving from the loop (not prometheus_client's thread server) means collectors
read tables between event-processing steps, never while a step mutates them.
Optional HTTPS (a PEM certificate and key) and HTTP basic auth protect it;
the probes stay open so they need no credentials, and they tell nothing:

- ``/healthz``: 200 while the process serves HTTP at all (a liveness probe);
- ``/readyz``: 200 once the partitions of the current assignment are assigned
  and their tables restored, 503 before and during each rebalance (a
  readiness probe: the worker's KPIs are whole only when it says ready).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EndpointSecurity:
    """HTTPS and basic-auth settings of the endpoint; empty strings switch each off."""

    tls_cert_file: str = ""
    tls_key_file: str = ""
    username: str = ""
    password: str = ""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls_cert_file:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise RuntimeError(
                f"cannot load the /metrics TLS certificate {self.tls_cert_file} with key {self.tls_key_file}: {exc}; "
                "check metrics_tls_cert_file and metrics_tls_key_file"
            ) from exc
        return context

    def authorized(self, header: str | None) -> bool:
        """True if basic auth is off, or ``header`` (an Authorization value) carries the right credentials."""
        if not self.username:
            return True
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, _, password = decoded.partition(":")
        # Both compared in constant time, and both always compared, so timing tells nothing.
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


class MetricsEndpoint(Service):
    """Serves ``GET /metrics`` (Prometheus text format), ``GET /healthz`` and ``GET /readyz``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None = None,
        security: EndpointSecurity | None = None,
        is_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(loop=loop)
        self._registry = registry
        self._is_ready = is_ready
        self._host = host
        self._port = port
        self._security = security or EndpointSecurity()
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self._security.authorized(request.headers.get("Authorization")):
            return web.Response(
                status=401, text="unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="ccpulse metrics"'}
            )
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._is_ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: partitions being assigned or tables being restored\n")

    async def on_start(self) -> None:
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        ssl_context = self._security.ssl_context()
        if self._security.username and ssl_context is None:
            logger.warning("/metrics uses basic auth without TLS: the password crosses the network in clear text")
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=ssl_context)
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
        scheme = "https" if ssl_context is not None else "http"
        logger.info("metrics at %s://%s:%s/metrics", scheme, self._host, self.bound_port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
