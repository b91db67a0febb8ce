"""The /metrics endpoint over HTTPS with basic auth: a real server on loopback, a real certificate."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from ccpulse.telemetry.endpoint import EndpointSecurity, MetricsEndpoint


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command is needed to make a test certificate"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def serve_and_get(
    security: EndpointSecurity,
    requests: list[tuple[str, str, str | None]],
    trust: Path | None = None,
    is_ready: Callable[[], bool] = lambda: True,
) -> list[tuple[int, str]]:
    """Start the endpoint, make each (scheme, path, 'user:password' or None) request, stop; (status, body) each."""
    registry = CollectorRegistry()
    Counter("ccpulse_events_consumed", "test", registry=registry).inc(3)

    async def run() -> list[tuple[int, str]]:
        endpoint = MetricsEndpoint(registry, "127.0.0.1", 0, security=security, is_ready=is_ready)
        await endpoint.start()
        try:
            return [
                await asyncio.to_thread(fetch, f"{scheme}://127.0.0.1:{endpoint.bound_port}{path}", credentials, trust)
                for scheme, path, credentials in requests
            ]
        finally:
            await endpoint.stop()

    return asyncio.run(run())


def fetch(url: str, credentials: str | None, trust: Path | None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if credentials is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    context = ssl.create_default_context(cafile=str(trust)) if trust else None
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def secured(certificate: tuple[Path, Path]) -> EndpointSecurity:
    cert, key = certificate
    return EndpointSecurity(str(cert), str(key), "prometheus", "s3cret")


def test_plain_http_without_auth_serves_metrics() -> None:
    [(status, body)] = serve_and_get(EndpointSecurity(), [("http", "/metrics", None)])

    assert status == 200
    assert "ccpulse_events_consumed_total 3.0" in body


def test_https_with_basic_auth_needs_the_right_credentials(
    secured: EndpointSecurity, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    results = serve_and_get(
        secured,
        [
            ("https", "/metrics", "prometheus:s3cret"),
            ("https", "/metrics", None),
            ("https", "/metrics", "prometheus:wrong"),
            ("https", "/metrics", "someone:s3cret"),
            ("https", "/healthz", None),  # probes need no credentials
            ("https", "/readyz", None),
        ],
        trust=cert,
    )

    assert results[0][0] == 200
    assert "ccpulse_events_consumed_total 3.0" in results[0][1]
    assert [status for status, _ in results[1:]] == [401, 401, 401, 200, 200]


def test_readyz_follows_the_workers_readiness_and_healthz_does_not() -> None:
    ready = [False]
    results = serve_and_get(
        EndpointSecurity(),
        [("http", "/readyz", None), ("http", "/healthz", None)],
        is_ready=lambda: ready[0],
    )
    assert [status for status, _ in results] == [503, 200]
    assert "tables being restored" in results[0][1]

    ready[0] = True
    [(status, body)] = serve_and_get(EndpointSecurity(), [("http", "/readyz", None)], is_ready=lambda: ready[0])
    assert (status, body) == (200, "ready\n")


def test_a_malformed_authorization_header_is_refused() -> None:
    security = EndpointSecurity(username="prometheus", password="s3cret")

    assert not security.authorized("Basic !!!not-base64")
    assert not security.authorized("Bearer abc")
    assert not security.authorized(None)
    assert security.authorized("Basic " + base64.b64encode(b"prometheus:s3cret").decode())


def test_a_certificate_that_does_not_load_names_the_settings(tmp_path: Path) -> None:
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate")

    with pytest.raises(RuntimeError, match="metrics_tls_cert_file and metrics_tls_key_file"):
        EndpointSecurity(str(bogus), str(bogus)).ssl_context()
