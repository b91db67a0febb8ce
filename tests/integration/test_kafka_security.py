"""Kafka security end to end: SASL/SCRAM over TLS and mutual TLS, on a local broker set up for both.

The broker gets, beside its loopback PLAINTEXT listener, a SASL_SSL listener
(SCRAM-SHA-512, one user created when the storage is formatted) and an SSL
listener that requires a client certificate. The certificates (a CA, the
broker's, a client's, and a client's from a CA the broker does not trust) are
made here with ``openssl``. The real ``ccpulse worker`` and the real ``ccpulse
replay`` tool then talk to each secure listener; a wrong password or a missing
client certificate stops the worker at once with a message naming the setting.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import load_kafkactl
from tests.integration.support import CCPULSE, WorkerProcess, event, free_port, run_worker_to_exit, sample, unique_names

USER, PASSWORD = "ccpulse-worker", "s3cret-for-the-test"
KEYSTORE_PASSWORD = "keystore-pass"
T = (int(time.time() * 1000) - 10 * 60_000) // 1000 * 1000


@dataclass(frozen=True)
class SecureBroker:
    plaintext: str
    sasl_ssl: str
    mutual_tls: str
    certs: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def signed_certificate(certs: Path, name: str, ca: str, *, server: bool) -> None:
    """``name.key`` and ``name.pem`` signed by the CA ``ca`` (``ca.key``/``ca.pem``)."""
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={name}",
        cwd=certs,
    )
    extensions = certs / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    extensions.write_text(f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", extensions.name, cwd=certs,
    )  # fmt: skip


def make_certificates(certs: Path) -> None:
    for ca in ("ca", "rogue-ca"):
        new_key = ("-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key")
        openssl("req", "-x509", *new_key, "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}", cwd=certs)
    signed_certificate(certs, "broker", "ca", server=True)
    signed_certificate(certs, "client", "ca", server=False)
    signed_certificate(certs, "rogue-client", "rogue-ca", server=False)
    openssl(
        "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
        "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{KEYSTORE_PASSWORD}", cwd=certs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    certs = tmp_path_factory.mktemp("certs")
    make_certificates(certs)
    sasl_port, tls_port = free_port(), free_port()
    while tls_port == sasl_port:
        tls_port = free_port()
    kafkactl = load_kafkactl()
    broker = kafkactl.LocalKafka(
        run_dir=tmp_path_factory.mktemp("secure-kafka"),
        port=0,
        extra_listeners={"SASL_SSL": ("SASL_SSL", sasl_port), "SSL": ("SSL", tls_port)},
        extra_properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(certs / "broker.p12"),
            "ssl.keystore.password": KEYSTORE_PASSWORD,
            "ssl.key.password": KEYSTORE_PASSWORD,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(certs / "ca.pem"),
            "listener.name.ssl.ssl.client.auth": "required",
        },
        scram_credentials=[f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
    )
    broker.start(fresh=True)
    try:
        yield SecureBroker(broker.bootstrap, f"127.0.0.1:{sasl_port}", f"127.0.0.1:{tls_port}", certs)
    finally:
        broker.stop()


def sasl_env(broker: SecureBroker, password: str = PASSWORD) -> dict[str, str]:
    return {
        "CCPULSE_KAFKA_BOOTSTRAP": broker.sasl_ssl,
        "CCPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CCPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CCPULSE_KAFKA_SASL_USERNAME": USER,
        "CCPULSE_KAFKA_SASL_PASSWORD": password,
        "CCPULSE_KAFKA_SSL_CA_FILE": str(broker.certs / "ca.pem"),
    }


def mutual_tls_env(broker: SecureBroker, client: str = "client") -> dict[str, str]:
    return {
        "CCPULSE_KAFKA_BOOTSTRAP": broker.mutual_tls,
        "CCPULSE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "CCPULSE_KAFKA_SSL_CA_FILE": str(broker.certs / "ca.pem"),
        "CCPULSE_KAFKA_SSL_CERT_FILE": str(broker.certs / f"{client}.pem"),
        "CCPULSE_KAFKA_SSL_KEY_FILE": str(broker.certs / f"{client}.key"),
    }


def replay(events_file: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CCPULSE), "replay", str(events_file)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scenario_file(directory: Path) -> Path:
    """Two answered calls and an abandon in queue "secure"."""
    lines = [
        event("s1-q", "contact.queued", T, "s1", queue="secure", channel="voice"),
        event("s1-a", "contact.answered", T + 8_000, "s1", agent_id="a1"),
        event("s2-q", "contact.queued", T + 1_000, "s2", queue="secure", channel="voice"),
        event("s2-a", "contact.answered", T + 30_000, "s2", agent_id="a2"),
        event("s3-q", "contact.queued", T + 2_000, "s3", queue="secure", channel="voice"),
        event("s3-x", "contact.abandoned", T + 50_000, "s3"),
    ]
    path = directory / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("listener", ["sasl_ssl", "mutual_tls"])
def test_the_worker_and_the_replay_tool_work_over_a_secure_listener(
    secure_broker: SecureBroker, listener: str, tmp_path: Path
) -> None:
    env = sasl_env(secure_broker) if listener == "sasl_ssl" else mutual_tls_env(secure_broker)
    names = unique_names()
    worker = WorkerProcess(
        bootstrap=env["CCPULSE_KAFKA_BOOTSTRAP"], names=names, data_dir=tmp_path / "worker", extra_env=env
    ).start()
    try:
        worker.wait_ready(timeout_s=90)
        done = replay(scenario_file(tmp_path), {**names, **env})
        assert done.returncode == 0, done.stderr
        labels = {"queue": "secure", "channel": "voice"}
        samples = worker.wait_for(lambda s: sample(s, "ccpulse_queue_arrivals_total", **labels) == 3)
        assert sample(samples, "ccpulse_queue_outcomes_total", **labels, outcome="answered") == 2
        assert sample(samples, "ccpulse_queue_outcomes_total", **labels, outcome="abandoned") == 1
    finally:
        assert worker.stop() == 0, worker.log_tail()
    assert PASSWORD not in worker.log_path.read_text(errors="replace")


def test_a_wrong_password_stops_the_worker_at_once_naming_the_setting(secure_broker: SecureBroker) -> None:
    started = time.monotonic()
    done = run_worker_to_exit({**unique_names(), **sasl_env(secure_broker, password="not-the-password")}, 60)
    assert done.returncode == 2, done.stderr
    assert "kafka_sasl_password" in done.stderr
    assert "CCPULSE_KAFKA_SASL_PASSWORD" in done.stderr
    assert "not-the-password" not in done.stderr + done.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("client", ["none", "rogue-client"])
def test_mutual_tls_without_a_trusted_client_certificate_stops_the_worker_naming_the_tls_settings(
    secure_broker: SecureBroker, client: str
) -> None:
    env = mutual_tls_env(secure_broker, "client" if client == "none" else client)
    if client == "none":
        del env["CCPULSE_KAFKA_SSL_CERT_FILE"], env["CCPULSE_KAFKA_SSL_KEY_FILE"]
    done = run_worker_to_exit({**unique_names(), **env}, 60)
    assert done.returncode == 2, done.stderr
    assert "kafka_ssl_cert_file" in done.stderr


def test_a_plaintext_client_is_not_let_in_on_the_secure_listener(secure_broker: SecureBroker) -> None:
    done = run_worker_to_exit({**unique_names(), "CCPULSE_KAFKA_BOOTSTRAP": secure_broker.sasl_ssl}, 60)
    assert done.returncode == 2, done.stderr
    assert "kafka_" in done.stderr


def test_a_broker_certificate_from_an_untrusted_ca_stops_the_worker_naming_the_ca_setting(
    secure_broker: SecureBroker,
) -> None:
    env = {**sasl_env(secure_broker), "CCPULSE_KAFKA_SSL_CA_FILE": str(secure_broker.certs / "rogue-ca.pem")}
    done = run_worker_to_exit({**unique_names(), **env}, 60)
    assert done.returncode == 2, done.stderr
    assert "kafka_ssl_ca_file" in done.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
