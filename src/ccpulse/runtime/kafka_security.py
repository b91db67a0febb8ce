"""How ccpulse's Kafka clients authenticate and encrypt: one place for the worker, the sources and topic set-up.

Built from the ``kafka_*`` settings (already validated by
:class:`~ccpulse.config.Settings`): TLS with the brokers' CA, optionally a
client certificate and key (mutual TLS), and SASL (SCRAM-SHA-512,
SCRAM-SHA-256 or PLAIN) over TLS. The same options go to aiokafka clients
(:meth:`KafkaSecurity.client_options`) and to Faust
(:meth:`KafkaSecurity.faust_credentials`).

Failures that a wrong setting causes are turned into :class:`ConfigError`
naming the setting (:func:`explain_connection_failure`), so a wrong password
or an untrusted certificate stops a worker at once with a message, not after
minutes of retries.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

from faust.auth import SASLCredentials, SSLCredentials

from ccpulse.config import ConfigError, Settings


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The ``kafka_*`` security settings of one process, and the client options they mean."""

    settings: Settings

    @property
    def protocol(self) -> str:
        return self.settings.kafka_security_protocol

    @property
    def uses_tls(self) -> bool:
        return self.settings.kafka_uses_tls

    @property
    def uses_sasl(self) -> bool:
        return self.settings.kafka_uses_sasl

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context (TLS 1.2+, the broker's name checked), or None without TLS."""
        if not self.uses_tls:
            return None
        settings = self.settings
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "setting kafka_ssl_ca_file (env CCPULSE_KAFKA_SSL_CA_FILE): cannot load "
                f"{settings.kafka_ssl_ca_file!r} as PEM CA certificates: {exc}"
            ) from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.kafka_ssl_cert_file:
            try:
                context.load_cert_chain(
                    settings.kafka_ssl_cert_file,
                    settings.kafka_ssl_key_file,
                    password=settings.kafka_ssl_key_password or None,
                )
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    "setting kafka_ssl_cert_file (env CCPULSE_KAFKA_SSL_CERT_FILE): cannot load the client "
                    f"certificate {settings.kafka_ssl_cert_file!r} with key {settings.kafka_ssl_key_file!r}: {exc}; "
                    "check kafka_ssl_cert_file, kafka_ssl_key_file and kafka_ssl_key_password"
                ) from exc
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.uses_sasl:
            options["sasl_mechanism"] = self.settings.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.settings.kafka_sasl_username
            options["sasl_plain_password"] = self.settings.kafka_sasl_password
        return options

    def faust_credentials(self) -> SASLCredentials | SSLCredentials | None:
        """Faust's ``broker_credentials`` (None: plaintext)."""
        context = self.ssl_context()
        if self.uses_sasl:
            return SASLCredentials(
                username=self.settings.kafka_sasl_username,
                password=self.settings.kafka_sasl_password,
                ssl_context=context,
                mechanism=self.settings.kafka_sasl_mechanism,
            )
        if context is not None:
            return SSLCredentials(context)
        return None


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """Why a connection failed: in the ``tls`` handshake, or at the ``kafka`` level (SASL, first request)."""

    stage: str
    error: BaseException


async def probe_connection(settings: Settings, timeout_s: float) -> ConnectionProblem | None:
    """Connect to the first bootstrap broker as the clients do and ask for metadata; the problem, if any.

    aiokafka's clients report a failed TLS handshake or SASL exchange only as
    "unable to bootstrap"; one connection made by hand tells where it failed.
    """
    from aiokafka.conn import create_conn  # noqa: PLC0415 - only when a connection failed
    from aiokafka.protocol.metadata import MetadataRequest  # noqa: PLC0415

    host, _, port = settings.kafka_bootstrap.split(",")[0].strip().removeprefix("kafka://").rpartition(":")
    options = KafkaSecurity(settings).client_options()
    context = options.get("ssl_context")
    if context is not None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), ssl=context, server_hostname=host), timeout_s
            )
            writer.close()
        except Exception as exc:
            return ConnectionProblem("tls", exc)
    try:
        connect = create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options)
        connection = await asyncio.wait_for(connect, timeout_s)
    except Exception as exc:
        return ConnectionProblem("kafka", exc)
    try:
        await asyncio.wait_for(connection.send(MetadataRequest[0]([])), timeout_s)
    except Exception as exc:
        return ConnectionProblem("kafka", exc)
    finally:
        connection.close()
    return None


def explain_connection_failure(
    settings: Settings, exc: BaseException, timeout_s: float, problem: ConnectionProblem | None = None
) -> ConfigError:
    """The setting to blame when no Kafka connection could be made, in words an operator can act on."""
    cause = exc if problem is None else problem.error
    text = f"{type(cause).__name__}: {cause}"
    lowered = text.lower()
    security = KafkaSecurity(settings)
    if security.uses_sasl and ("authentication" in lowered or "sasl" in lowered):
        return ConfigError(
            "setting kafka_sasl_password (env CCPULSE_KAFKA_SASL_PASSWORD): the broker at "
            f"{settings.kafka_bootstrap} refused SASL {settings.kafka_sasl_mechanism} authentication of user "
            f"{settings.kafka_sasl_username!r} ({text}); check kafka_sasl_username, kafka_sasl_password "
            "and kafka_sasl_mechanism"
        )
    if security.uses_tls and problem is not None and problem.stage == "tls":
        return ConfigError(
            "setting kafka_ssl_ca_file (env CCPULSE_KAFKA_SSL_CA_FILE): the TLS handshake with "
            f"{settings.kafka_bootstrap} failed ({text}); check kafka_security_protocol, kafka_ssl_ca_file "
            "and, for mutual TLS, kafka_ssl_cert_file and kafka_ssl_key_file"
        )
    if security.uses_tls and not security.uses_sasl and problem is not None and problem.stage == "kafka":
        # TLS 1.3 finishes the handshake before the broker checks the client's certificate;
        # a broker that wants one it trusts then just closes the connection.
        return ConfigError(
            "setting kafka_ssl_cert_file (env CCPULSE_KAFKA_SSL_CERT_FILE): the broker at "
            f"{settings.kafka_bootstrap} closed the connection right after the TLS handshake ({text}); it "
            "requires a client certificate signed by a CA it trusts: check kafka_ssl_cert_file and "
            "kafka_ssl_key_file (or the listener: kafka_security_protocol)"
        )
    return ConfigError(
        f"setting kafka_bootstrap (env CCPULSE_KAFKA_BOOTSTRAP): no Kafka broker answers at "
        f"{settings.kafka_bootstrap} within {timeout_s:.0f} s over {settings.kafka_security_protocol} ({text}); "
        "check kafka_bootstrap and kafka_security_protocol"
    )
