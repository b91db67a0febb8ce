"""One frozen settings object, built at the edge and passed explicitly.

Sources, later ones winning: built-in defaults, a TOML file (``--config``), then
``CCPULSE_<NAME>`` environment variables (``CCPULSE_KAFKA_BOOTSTRAP``,
``CCPULSE_METRICS_PORT``, ...). Every error names the setting and where it came
from, and is raised before anything connects to Kafka.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ccpulse.domain.queue_config import QueueConfigError, QueueConfigs

ENV_PREFIX = "CCPULSE_"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_APP_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
LOG_LEVELS = ("debug", "info", "warn", "error", "crit")
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
SECRET_SETTINGS = frozenset(
    {"kafka_sasl_password", "kafka_ssl_key_password", "customer_hash_key", "metrics_basic_auth_password"}
)
CLOCKS = ("wall", "stream")


class ConfigError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""

    @classmethod
    def of(cls, name: str, problem: str) -> ConfigError:
        """The error for setting ``name``, worded as every configuration error is (setting and env var)."""
        return cls(_named(name, problem))


@dataclass(frozen=True, slots=True)
class Settings:
    """Worker settings. Field names are the TOML keys; env vars are CCPULSE_ + upper case."""

    # Comma-separated host:port list of the Kafka brokers to bootstrap from.
    kafka_bootstrap: str = "127.0.0.1:9092"
    # How every ccpulse client (worker, sources, topic set-up) talks to Kafka:
    # PLAINTEXT, SSL (TLS; with a client certificate and key: mutual TLS), SASL_SSL
    # (SASL over TLS), or SASL_PLAINTEXT (refused unless kafka_allow_sasl_without_tls).
    kafka_security_protocol: str = "PLAINTEXT"
    # SASL mechanism of the SASL_* protocols: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    # SASL user name: required with the SASL_* protocols, refused with the others.
    kafka_sasl_username: str = ""
    # SASL password: required with the SASL_* protocols; pass it by environment
    # (e.g. from a Kubernetes Secret) rather than in the TOML file.
    kafka_sasl_password: str = field(default="", repr=False)
    # PEM file of the CA that signed the brokers' certificates (TLS protocols only).
    # Empty: the system's CAs.
    kafka_ssl_ca_file: str = ""
    # Mutual TLS: this client's PEM certificate; set it with kafka_ssl_key_file (both or neither).
    kafka_ssl_cert_file: str = ""
    # Mutual TLS: the PEM private key of kafka_ssl_cert_file.
    kafka_ssl_key_file: str = ""
    # Password of kafka_ssl_key_file, if that key is encrypted.
    kafka_ssl_key_password: str = field(default="", repr=False)
    # True allows SASL_PLAINTEXT, which sends the session (and, with PLAIN, the password) in clear.
    kafka_allow_sasl_without_tls: bool = False
    # Kafka consumer group, and prefix of the internal topics and table changelogs;
    # workers with the same app_id share the work.
    app_id: str = "ccpulse"
    # Canonical events in (schemas/event.schema.json).
    input_topic: str = "ccpulse.events"
    # Compacted: the live contact facts keyed queue|fact key, tombstones for withdrawn
    # ones (schemas/contact-fact.schema.json).
    facts_topic: str = "ccpulse.contact-facts"
    # Input that cannot be applied: the original bytes, with reason and origin in headers.
    dead_letter_topic: str = "ccpulse.dead-letters"
    # Compacted: KPI rows keyed queue|channel|window|window_start (schemas/kpi-row.schema.json).
    kpi_topic: str = "ccpulse.kpis"
    # Partitions of the topics ccpulse creates and of the table changelogs; the upper
    # bound on the number of workers that share the work.
    topic_partitions: int = 4
    # Replication factor of the topics ccpulse creates and of the table changelogs;
    # use 3 on a production cluster.
    topic_replication_factor: int = 1
    # Address the HTTP endpoint (/metrics and the probes) listens on.
    metrics_host: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes from another host
    # TCP port of the HTTP endpoint (/metrics and the probes); 0 picks a free one.
    metrics_port: int = 9464
    # Directory for the worker's local files, created at start. The tables are held in
    # memory and rebuilt from their changelogs, not kept here.
    data_dir: Path = Path(".ccpulse-data")
    # Log level: debug, info, warn, error or crit.
    log_level: str = "info"
    # Kafka consumer session timeout, in seconds: how long the group waits for a silent
    # worker before its partitions go to the others. Short enough that a restarted worker's
    # partitions are noticed as free in seconds; long enough to ride out a GC pause or a slow scrape.
    consumer_session_timeout_s: float = 10.0
    # Static group membership: a stable id per worker (e.g. the pod name) lets a
    # restarted worker take its partitions back without a rebalance. Empty: dynamic.
    group_instance_id: str = ""
    # "wall": windows, timeouts and rolling windows follow the wall clock (live use).
    # "stream": they follow event time, the slowest partition's (replays of history).
    clock: str = "wall"
    # Seconds between two runs of the KPI publisher, which writes the open windows that
    # changed, the final rows of windows that closed, and corrections to closed windows.
    kpi_publish_interval_s: float = 5.0  # open windows: at most one KPI row per window per interval
    # Input is taken in batches of up to this many events, or what arrived within
    # batch_max_wait_ms; the internal stages then exchange one message per partition per batch.
    batch_max_events: int = 1000
    # How long a stage waits to fill a batch: larger batches cost less per event, and add
    # up to this many milliseconds of latency per stage.
    batch_max_wait_ms: int = 100
    # ccpulse's own sources (simulate, replay, import-*) put up to this many events in one
    # input message (a framed batch, one per partition) instead of one event per message;
    # Faust's per-message cost is then paid once per batch. 0: one JSON event per message,
    # what any other consumer of the input topic expects. The worker reads both.
    input_batch_events: int = 0
    # Dead letters carry the rejected message's original bytes, which may hold customer data.
    # True: an empty payload instead, with the original's size and SHA-256 in headers (the
    # original stays on the input topic, at the offset the headers name, for its retention).
    dead_letter_redact_payload: bool = False
    # Hours of history kept, counted back from the latest event time seen on each input partition.
    retention_hours: int = 48  # late events update windows this far back; older ones are dead-lettered
    # Seconds an event time may lie ahead of the worker's wall clock.
    max_future_skew_s: int = 300  # events further ahead of the wall clock are dead-lettered
    # Key of the keyed hash (HMAC-SHA256) that replaces customer ids for repeat-contact (FCR)
    # detection; keep it secret and stable. Empty: no FCR, customer ids are dropped.
    customer_hash_key: str = field(default="", repr=False)
    # Cardinality guard for /metrics: queues beyond this many per worker (in name order)
    # are exported together as queue="other".
    metrics_max_queues: int = 200
    # Export ccpulse_agent_status per agent (one series per agent); off unless asked for.
    metrics_per_agent: bool = False
    # Cap on the per-agent series; the agents beyond it are counted in ccpulse_metrics_dropped_agents.
    metrics_max_agents: int = 500
    # HTTPS for /metrics: a PEM certificate (with its chain); set it with metrics_tls_key_file
    # (both or neither).
    metrics_tls_cert_file: str = ""
    # HTTPS for /metrics: the PEM private key of metrics_tls_cert_file.
    metrics_tls_key_file: str = ""
    # HTTP basic auth for /metrics: the user name; both or neither with the password. Use it
    # with TLS, or the password crosses the network in clear.
    metrics_basic_auth_username: str = ""
    # HTTP basic auth for /metrics: the password of metrics_basic_auth_username.
    metrics_basic_auth_password: str = field(default="", repr=False)
    # KPI rules per queue (SL thresholds and target, short-abandon threshold, ACW timeout,
    # time zone and daily reset, ...): a TOML file with a [default] table and [queues.<name>]
    # tables. Empty: the defaults of the contract for every queue.
    queues_file: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.kafka_bootstrap.strip()), "kafka_bootstrap", "must name at least one host:port")
        for entry in self.kafka_bootstrap.split(","):
            host, _, port = entry.strip().removeprefix("kafka://").rpartition(":")
            valid = bool(host) and port.isdigit() and 0 < int(port) <= 65_535
            _check(valid, "kafka_bootstrap", f"{entry!r} is not host:port")
        self._check_kafka_security()
        _check(bool(_APP_ID.match(self.app_id)), "app_id", "use letters, digits, '.', '_' or '-'")
        for name in ("input_topic", "facts_topic", "dead_letter_topic", "kpi_topic"):
            value = getattr(self, name)
            _check(bool(_TOPIC_NAME.match(value)), name, f"{value!r} is not a valid Kafka topic name")
        topics = [self.input_topic, self.facts_topic, self.dead_letter_topic, self.kpi_topic]
        _check(len(set(topics)) == len(topics), "input_topic", "input, facts, dead-letter and KPI topics must differ")
        _check(1 <= self.topic_partitions <= 10_000, "topic_partitions", "must be between 1 and 10000")
        _check(1 <= self.topic_replication_factor <= 32, "topic_replication_factor", "must be between 1 and 32")
        _check(0 <= self.metrics_port <= 65_535, "metrics_port", "must be a TCP port (0 picks a free one)")
        _check(self.log_level in LOG_LEVELS, "log_level", f"must be one of {', '.join(LOG_LEVELS)}")
        _check(self.consumer_session_timeout_s >= 1.0, "consumer_session_timeout_s", "must be at least 1 s")
        _check(
            self.group_instance_id == "" or bool(_APP_ID.match(self.group_instance_id)),
            "group_instance_id",
            "use letters, digits, '.', '_' or '-' (or leave empty for dynamic membership)",
        )
        _check(self.clock in CLOCKS, "clock", f"must be one of {', '.join(CLOCKS)}")
        _check(0.1 <= self.kpi_publish_interval_s <= 3600, "kpi_publish_interval_s", "must be between 0.1 and 3600")
        _check(1 <= self.batch_max_events <= 100_000, "batch_max_events", "must be between 1 and 100000")
        _check(1 <= self.batch_max_wait_ms <= 10_000, "batch_max_wait_ms", "must be between 1 and 10000")
        _check(0 <= self.input_batch_events <= 10_000, "input_batch_events", "must be between 0 and 10000")
        _check(24 <= self.retention_hours <= 24 * 31, "retention_hours", "must be between 24 and 744 (today's window)")
        _check(0 <= self.max_future_skew_s <= 86_400, "max_future_skew_s", "must be between 0 and 86400")
        _check(1 <= self.metrics_max_queues <= 100_000, "metrics_max_queues", "must be between 1 and 100000")
        _check(1 <= self.metrics_max_agents <= 100_000, "metrics_max_agents", "must be between 1 and 100000")
        _check(
            bool(self.metrics_tls_cert_file) == bool(self.metrics_tls_key_file),
            "metrics_tls_cert_file",
            "set both metrics_tls_cert_file and metrics_tls_key_file, or neither",
        )
        for name in ("metrics_tls_cert_file", "metrics_tls_key_file"):
            path = getattr(self, name)
            _check(not path or Path(path).is_file(), name, f"{path!r} is not a readable file")
        _check(
            bool(self.metrics_basic_auth_username) == bool(self.metrics_basic_auth_password),
            "metrics_basic_auth_username",
            "set both metrics_basic_auth_username and metrics_basic_auth_password, or neither",
        )
        _check(":" not in self.metrics_basic_auth_username, "metrics_basic_auth_username", "must not contain ':'")
        if self.queues_file:
            self.queue_configs()  # fails fast, naming queues_file

    def _check_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol
        _check(
            protocol in KAFKA_SECURITY_PROTOCOLS,
            "kafka_security_protocol",
            f"{protocol!r} is not one of {', '.join(KAFKA_SECURITY_PROTOCOLS)}",
        )
        sasl, tls = self.kafka_uses_sasl, self.kafka_uses_tls
        _check(
            self.kafka_sasl_mechanism in KAFKA_SASL_MECHANISMS,
            "kafka_sasl_mechanism",
            f"{self.kafka_sasl_mechanism!r} is not one of {', '.join(KAFKA_SASL_MECHANISMS)}",
        )
        _check(
            protocol != "SASL_PLAINTEXT" or self.kafka_allow_sasl_without_tls,
            "kafka_security_protocol",
            "SASL_PLAINTEXT sends the Kafka session unencrypted (with PLAIN, the password too); "
            "use SASL_SSL, or set kafka_allow_sasl_without_tls = true on a network you trust",
        )
        if sasl:
            for name in ("kafka_sasl_username", "kafka_sasl_password"):
                _check(bool(getattr(self, name)), name, f"is required with kafka_security_protocol {protocol}")
        else:
            _check(
                not self.kafka_sasl_username and not self.kafka_sasl_password,
                "kafka_sasl_username",
                f"SASL credentials are set but kafka_security_protocol is {protocol}; use SASL_SSL to send them",
            )
        tls_files = ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file")
        for name in tls_files:
            path = getattr(self, name)
            _check(not path or tls, name, f"is set but kafka_security_protocol {protocol} does not use TLS")
            _check(not path or Path(path).is_file(), name, f"{path!r} is not a readable file")
        _check(
            bool(self.kafka_ssl_cert_file) == bool(self.kafka_ssl_key_file),
            "kafka_ssl_cert_file",
            "set both kafka_ssl_cert_file and kafka_ssl_key_file (mutual TLS), or neither",
        )
        _check(
            not self.kafka_ssl_key_password or bool(self.kafka_ssl_key_file),
            "kafka_ssl_key_password",
            "is set but there is no kafka_ssl_key_file to decrypt",
        )

    def queue_configs(self) -> QueueConfigs:
        """The per-queue KPI rules of ``queues_file`` (the defaults if it is empty)."""
        if not self.queues_file:
            return QueueConfigs()
        path = Path(self.queues_file)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(_named("queues_file", f"{path} does not exist")) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(_named("queues_file", f"{path} is not readable TOML: {exc}")) from exc
        unknown = set(document) - {"default", "queues"}
        _check(
            not unknown, "queues_file", f"{path}: unknown tables {sorted(unknown)}; use [default] and [queues.<name>]"
        )
        try:
            return QueueConfigs.from_mapping(document.get("default", {}), document.get("queues", {}))
        except (QueueConfigError, TypeError, ValueError) as exc:
            raise ConfigError(_named("queues_file", f"{path}: {exc}")) from exc

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol.endswith("SSL")

    @property
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def broker_url(self) -> str:
        """The bootstrap list in Faust's ``kafka://host:port;host:port`` form."""
        hosts = [entry.strip().removeprefix("kafka://") for entry in self.kafka_bootstrap.split(",")]
        return ";".join(f"kafka://{host}" for host in hosts)


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(_named(name, problem))


def _named(name: str, problem: str) -> str:
    return f"setting {name} (env {ENV_PREFIX}{name.upper()}): {problem}"


def _coerce(name: str, raw: Any, target: type[Any], origin: str) -> Any:
    if target is bool:
        return _coerce_bool(name, raw, origin)
    try:
        # TOML gives typed values: a boolean or a fraction where a number of
        # seconds or partitions belongs, or a number where a name belongs, is a mistake.
        if isinstance(raw, bool) or (target is int and isinstance(raw, float)):
            raise ValueError(raw)
        if target in (str, Path) and not isinstance(raw, str):
            raise ValueError(raw)
        return target(raw)
    except (TypeError, ValueError) as exc:
        shown = "the value" if name in SECRET_SETTINGS else repr(raw)  # a secret never reaches a log
        raise ConfigError(f"setting {name} from {origin}: {shown} is not a valid {target.__name__}") from exc


_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def _coerce_bool(name: str, raw: Any, origin: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return raw.strip().lower() in _TRUE_WORDS
    raise ConfigError(f"setting {name} from {origin}: {raw!r} is not a boolean (true/false)")


_FIELD_TYPES: dict[str, type[Any]] = {
    "kafka_bootstrap": str,
    "kafka_security_protocol": str,
    "kafka_sasl_mechanism": str,
    "kafka_sasl_username": str,
    "kafka_sasl_password": str,
    "kafka_ssl_ca_file": str,
    "kafka_ssl_cert_file": str,
    "kafka_ssl_key_file": str,
    "kafka_ssl_key_password": str,
    "kafka_allow_sasl_without_tls": bool,
    "app_id": str,
    "input_topic": str,
    "facts_topic": str,
    "dead_letter_topic": str,
    "topic_partitions": int,
    "topic_replication_factor": int,
    "metrics_host": str,
    "metrics_port": int,
    "data_dir": Path,
    "log_level": str,
    "consumer_session_timeout_s": float,
    "kpi_topic": str,
    "group_instance_id": str,
    "clock": str,
    "kpi_publish_interval_s": float,
    "batch_max_events": int,
    "batch_max_wait_ms": int,
    "input_batch_events": int,
    "dead_letter_redact_payload": bool,
    "retention_hours": int,
    "max_future_skew_s": int,
    "customer_hash_key": str,
    "metrics_max_queues": int,
    "metrics_per_agent": bool,
    "metrics_max_agents": int,
    "metrics_tls_cert_file": str,
    "metrics_tls_key_file": str,
    "metrics_basic_auth_username": str,
    "metrics_basic_auth_password": str,
    "queues_file": str,
}


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, an optional TOML file and the environment."""
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)}
    assert known == set(_FIELD_TYPES), "every setting needs a type for parsing"
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            document = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {config_file} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc
        for key, raw in document.items():
            if key not in known:
                raise ConfigError(
                    f"config file {config_file}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
                )
            values[key] = _coerce(key, raw, _FIELD_TYPES[key], f"config file {config_file}")
    for name in known:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name], _FIELD_TYPES[name], f"env {env_name}")
    return Settings(**values)
