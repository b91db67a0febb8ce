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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ccpulse.domain.queue_config import QueueConfigError, QueueConfigs

ENV_PREFIX = "CCPULSE_"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_APP_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
LOG_LEVELS = ("debug", "info", "warn", "error", "crit")
CLOCKS = ("wall", "stream")


class ConfigError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Worker settings. Field names are the TOML keys; env vars are CCPULSE_ + upper case."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    app_id: str = "ccpulse"
    input_topic: str = "ccpulse.events"
    facts_topic: str = "ccpulse.contact-facts"
    dead_letter_topic: str = "ccpulse.dead-letters"
    kpi_topic: str = "ccpulse.kpis"
    topic_partitions: int = 4
    topic_replication_factor: int = 1
    metrics_host: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes from another host
    metrics_port: int = 9464
    data_dir: Path = Path(".ccpulse-data")
    log_level: str = "info"
    # Short enough that a restarted worker's partitions are noticed as free in
    # seconds; long enough to ride out a GC pause or a slow scrape.
    consumer_session_timeout_s: float = 10.0
    # Static group membership: a stable id per worker (e.g. the pod name) lets a
    # restarted worker take its partitions back without a rebalance. Empty: dynamic.
    group_instance_id: str = ""
    # "wall": windows, timeouts and rolling windows follow the wall clock (live use).
    # "stream": they follow event time, the slowest partition's (replays of history).
    clock: str = "wall"
    kpi_publish_interval_s: float = 5.0  # open windows: at most one KPI row per window per interval
    # Input is taken in batches of up to this many events, or what arrived within
    # batch_max_wait_ms; the internal stages then exchange one message per partition per batch.
    batch_max_events: int = 1000
    batch_max_wait_ms: int = 100
    retention_hours: int = 48  # late events update windows this far back; older ones are dead-lettered
    max_future_skew_s: int = 300  # events further ahead of the wall clock are dead-lettered
    # Key of the keyed hash (HMAC-SHA256) that replaces customer ids for repeat-contact (FCR)
    # detection; keep it secret and stable. Empty: no FCR, customer ids are dropped.
    customer_hash_key: str = ""
    # Cardinality guards for /metrics: queues beyond the cap are exported together as
    # queue="other"; per-agent status series only when asked for, and capped.
    metrics_max_queues: int = 200
    metrics_per_agent: bool = False
    metrics_max_agents: int = 500
    # HTTPS for /metrics: both files (PEM) or neither.
    metrics_tls_cert_file: str = ""
    metrics_tls_key_file: str = ""
    # HTTP basic auth for /metrics: both or neither; use it with TLS, or the password crosses the network in clear.
    metrics_basic_auth_username: str = ""
    metrics_basic_auth_password: str = ""
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
        raise ConfigError(f"setting {name} from {origin}: {raw!r} is not a valid {target.__name__}") from exc


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
