"""Settings: defaults, a TOML file, CCPULSE_* environment overrides, and errors that name the setting.

Every test passes ``environ`` explicitly, so the process environment never leaks in.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ccpulse.config import ConfigError, Settings, load_settings


def write_config(tmp_path: Path, text: str) -> Path:
    config_file = tmp_path / "ccpulse.toml"
    config_file.write_text(text, encoding="utf-8")
    return config_file


def test_defaults_are_valid_and_need_no_file_or_environment() -> None:
    settings = load_settings(None, environ={})

    assert settings == Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.metrics_port == 9464
    assert settings.broker_url == "kafka://127.0.0.1:9092"


def test_file_values_replace_defaults_with_their_types(tmp_path: Path) -> None:
    config_file = write_config(
        tmp_path,
        """
        kafka_bootstrap = "kafka-1:9092,kafka-2:9092"
        app_id = "ccpulse-eu"
        topic_partitions = 12
        metrics_port = 9500
        data_dir = "/var/lib/ccpulse"
        log_level = "debug"
        consumer_session_timeout_s = 30
        """,
    )

    settings = load_settings(config_file, environ={})

    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.app_id == "ccpulse-eu"
    assert settings.topic_partitions == 12
    assert settings.metrics_port == 9500
    assert settings.data_dir == Path("/var/lib/ccpulse")
    assert settings.log_level == "debug"
    # A TOML integer for a float setting is widened: 30 -> 30.0 s.
    assert settings.consumer_session_timeout_s == 30.0
    assert isinstance(settings.consumer_session_timeout_s, float)
    # Untouched settings keep their defaults.
    assert settings.input_topic == "ccpulse.events"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, 'metrics_port = 9500\nlog_level = "debug"\n')

    settings = load_settings(
        config_file,
        environ={"CCPULSE_METRICS_PORT": "9600", "CCPULSE_DATA_DIR": "/tmp/state", "UNRELATED": "x"},
    )

    assert settings.metrics_port == 9600  # env beats file
    assert settings.log_level == "debug"  # file beats default
    assert settings.data_dir == Path("/tmp/state")


def test_unknown_key_in_file_is_an_error_naming_the_key(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "metric_port = 9500\n")

    with pytest.raises(ConfigError, match=r"unknown setting 'metric_port'"):
        load_settings(config_file, environ={})


def test_table_in_file_is_an_unknown_key(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, '[kafka]\nbootstrap = "a:1"\n')

    with pytest.raises(ConfigError, match=r"unknown setting 'kafka'"):
        load_settings(config_file, environ={})


def test_bad_int_in_environment_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"env CCPULSE_METRICS_PORT: 'ninety' is not a valid int") as caught:
        load_settings(None, environ={"CCPULSE_METRICS_PORT": "ninety"})

    assert "metrics_port" in str(caught.value)


def test_bad_float_in_environment_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"CCPULSE_CONSUMER_SESSION_TIMEOUT_S"):
        load_settings(None, environ={"CCPULSE_CONSUMER_SESSION_TIMEOUT_S": "10s"})


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("topic_partitions = 4.0", id="float"),
        pytest.param("topic_partitions = true", id="boolean"),
        pytest.param('topic_partitions = "four"', id="word"),
    ],
)
def test_non_integer_in_file_for_an_int_setting_is_an_error_naming_file_and_setting(tmp_path: Path, line: str) -> None:
    config_file = write_config(tmp_path, line + "\n")

    with pytest.raises(ConfigError, match=r"setting topic_partitions from config file .*ccpulse\.toml"):
        load_settings(config_file, environ={})


def test_boolean_in_file_for_a_float_setting_is_an_error(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "consumer_session_timeout_s = true\n")

    with pytest.raises(ConfigError, match=r"consumer_session_timeout_s"):
        load_settings(config_file, environ={})


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "metrics_port = \n")

    with pytest.raises(ConfigError, match=r"not valid TOML"):
        load_settings(config_file, environ={})


@pytest.mark.parametrize(
    ("overrides", "named_setting"),
    [
        pytest.param({"kafka_bootstrap": "  "}, "kafka_bootstrap", id="bootstrap-empty"),
        pytest.param({"kafka_bootstrap": "broker"}, "kafka_bootstrap", id="bootstrap-without-port"),
        pytest.param({"kafka_bootstrap": "a:1,,b:2"}, "kafka_bootstrap", id="bootstrap-empty-entry"),
        pytest.param({"kafka_bootstrap": ":9092"}, "kafka_bootstrap", id="bootstrap-without-host"),
        pytest.param({"kafka_bootstrap": "a:port"}, "kafka_bootstrap", id="bootstrap-port-not-digits"),
        pytest.param({"app_id": "cc pulse"}, "app_id", id="app-id-with-space"),
        pytest.param({"app_id": ""}, "app_id", id="app-id-empty"),
        pytest.param({"input_topic": "events/in"}, "input_topic", id="input-topic-slash"),
        pytest.param({"facts_topic": ""}, "facts_topic", id="facts-topic-empty"),
        pytest.param({"dead_letter_topic": "d" * 250}, "dead_letter_topic", id="dead-letter-topic-250-chars"),
        pytest.param({"facts_topic": "ccpulse.events"}, "input_topic", id="topics-not-distinct"),
        pytest.param({"topic_partitions": 0}, "topic_partitions", id="partitions-zero"),
        pytest.param({"topic_partitions": 10_001}, "topic_partitions", id="partitions-above-10000"),
        pytest.param({"topic_replication_factor": 0}, "topic_replication_factor", id="replication-zero"),
        pytest.param({"topic_replication_factor": 33}, "topic_replication_factor", id="replication-above-32"),
        pytest.param({"metrics_port": -1}, "metrics_port", id="port-negative"),
        pytest.param({"metrics_port": 65_536}, "metrics_port", id="port-above-65535"),
        pytest.param({"log_level": "verbose"}, "log_level", id="log-level-unknown"),
        pytest.param({"log_level": "INFO"}, "log_level", id="log-level-upper-case"),
        pytest.param({"consumer_session_timeout_s": 0.5}, "consumer_session_timeout_s", id="session-below-1s"),
        pytest.param({"consumer_session_timeout_s": float("nan")}, "consumer_session_timeout_s", id="session-nan"),
        pytest.param({"kpi_topic": "ccpulse.events"}, "input_topic", id="kpi-topic-is-the-input"),
        pytest.param({"kpi_topic": "k p i"}, "kpi_topic", id="kpi-topic-space"),
        pytest.param({"group_instance_id": "pod 1"}, "group_instance_id", id="instance-id-space"),
        pytest.param({"clock": "event"}, "clock", id="clock-unknown"),
        pytest.param({"kpi_publish_interval_s": 0.05}, "kpi_publish_interval_s", id="publish-below-100ms"),
        pytest.param({"kpi_publish_interval_s": float("nan")}, "kpi_publish_interval_s", id="publish-nan"),
        pytest.param({"retention_hours": 23}, "retention_hours", id="retention-below-a-day"),
        pytest.param({"max_future_skew_s": -1}, "max_future_skew_s", id="skew-negative"),
    ],
)
def test_each_validation_raises_config_error_naming_the_setting(overrides: dict[str, Any], named_setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(**overrides)

    message = str(caught.value)
    assert message.startswith(f"setting {named_setting} ")
    assert f"CCPULSE_{named_setting.upper()}" in message


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"topic_partitions": 1, "topic_replication_factor": 1}, id="lower-bounds"),
        pytest.param({"topic_partitions": 10_000, "topic_replication_factor": 32}, id="upper-bounds"),
        pytest.param({"metrics_port": 0}, id="port-zero-picks-a-free-one"),
        pytest.param({"metrics_port": 65_535}, id="highest-port"),
        pytest.param({"consumer_session_timeout_s": 1.0}, id="session-exactly-1s"),
        pytest.param({"kafka_bootstrap": "kafka://a:1, b:2"}, id="bootstrap-with-scheme-and-space"),
        pytest.param({"dead_letter_topic": "d" * 249}, id="topic-249-chars"),
        pytest.param(
            {"clock": "stream", "retention_hours": 24, "max_future_skew_s": 0}, id="stream-clock-short-retention"
        ),
        pytest.param({"group_instance_id": "ccpulse-worker-0", "kpi_publish_interval_s": 0.1}, id="static-member"),
    ],
)
def test_boundary_values_are_accepted(overrides: dict[str, Any]) -> None:
    Settings(**overrides)


def test_validation_also_runs_for_values_from_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"^setting topic_partitions "):
        load_settings(None, environ={"CCPULSE_TOPIC_PARTITIONS": "0"})


@pytest.mark.parametrize(
    ("kafka_bootstrap", "broker_url"),
    [
        pytest.param("a:1,b:2", "kafka://a:1;kafka://b:2", id="two-hosts"),
        pytest.param("a:1, b:2", "kafka://a:1;kafka://b:2", id="space-after-comma"),
        pytest.param("kafka://a:1,b:2", "kafka://a:1;kafka://b:2", id="scheme-not-doubled"),
        pytest.param("127.0.0.1:9092", "kafka://127.0.0.1:9092", id="one-host"),
    ],
)
def test_broker_url_is_fausts_semicolon_form(kafka_bootstrap: str, broker_url: str) -> None:
    assert Settings(kafka_bootstrap=kafka_bootstrap).broker_url == broker_url


def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(AttributeError):
        settings.metrics_port = 1  # type: ignore[misc]


def test_shipped_example_config_loads_and_lists_every_setting() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "ccpulse.example.toml"

    assert load_settings(example, environ={}) == Settings()
    lines = [line for line in example.read_text().splitlines() if "=" in line and not line.startswith("#")]
    keys = {line.split("=", 1)[0].strip() for line in lines}
    assert keys == {f.name for f in fields(Settings)}


def printed_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> str:
    """What ``ccpulse settings`` prints with ``environ`` set."""
    from ccpulse.cli import main  # noqa: PLC0415 - the CLI is the edge under test

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["settings"]) == 0
    return capsys.readouterr().out


def test_printed_settings_never_show_the_customer_hash_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = printed_settings(capsys, monkeypatch, {"CCPULSE_CUSTOMER_HASH_KEY": "s3cret-pepper"})
    assert "s3cret-pepper" not in printed
    assert "customer_hash_key = <set, not shown>" in printed


def test_queues_file_gives_per_queue_rules(tmp_path: Path) -> None:
    queues = tmp_path / "queues.toml"
    queues.write_text(
        '[default]\nsl_target_ratio = 0.7\n\n[queues.vip]\nsl_target_ratio = 0.95\ntime_zone = "Asia/Jerusalem"\n'
    )

    configs = Settings(queues_file=str(queues)).queue_configs()

    assert configs.for_queue("sales").sl_target_ratio == 0.7
    assert configs.for_queue("vip").sl_target_ratio == 0.95
    assert configs.for_queue("vip").time_zone == "Asia/Jerusalem"


def test_the_shipped_queues_example_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "queues.example.toml"

    assert Settings(queues_file=str(example)).queue_configs().for_queue("billing").sl_target_ratio == 0.9


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("[default\n", "not readable TOML"),
        ("[queue.sales]\nsl_target_ratio = 0.9\n", "unknown tables"),
        ("[queues.sales]\nsl_target_ratoi = 0.9\n", "unknown queue setting 'sl_target_ratoi' for queue sales"),
        ('[default]\ntime_zone = "Mars/Olympus"\n', "time_zone"),
    ],
)
def test_a_bad_queues_file_fails_fast_naming_the_setting(tmp_path: Path, content: str | None, problem: str) -> None:
    queues = tmp_path / "queues.toml"
    if content is not None:
        queues.write_text(content)

    with pytest.raises(ConfigError, match="queues_file") as error:
        Settings(queues_file=str(queues))
    assert problem in str(error.value)


# -- Kafka security ------------------------------------------------------------------------------

SASL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u", "kafka_sasl_password": "p"}


@pytest.mark.parametrize(
    ("overrides", "named_setting", "problem"),
    [
        pytest.param({"kafka_security_protocol": "TLS"}, "kafka_security_protocol", "not one of", id="unknown"),
        pytest.param({**SASL, "kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism", "not one of", id="mech"),
        pytest.param(
            {**SASL, "kafka_security_protocol": "SASL_PLAINTEXT"},
            "kafka_security_protocol",
            "kafka_allow_sasl_without_tls",
            id="sasl-without-tls-refused",
        ),
        pytest.param({**SASL, "kafka_sasl_username": ""}, "kafka_sasl_username", "required", id="no-user"),
        pytest.param({**SASL, "kafka_sasl_password": ""}, "kafka_sasl_password", "required", id="no-password"),
        pytest.param(
            {"kafka_sasl_username": "u", "kafka_sasl_password": "p"},
            "kafka_sasl_username",
            "use SASL_SSL",
            id="credentials-over-plaintext",
        ),
        pytest.param({"kafka_ssl_ca_file": __file__}, "kafka_ssl_ca_file", "does not use TLS", id="ca-no-tls"),
        pytest.param(
            {"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"},
            "kafka_ssl_ca_file",
            "not a readable file",
            id="ca-missing",
        ),
        pytest.param(
            {"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": __file__},
            "kafka_ssl_cert_file",
            "both",
            id="cert-without-key",
        ),
        pytest.param(
            {"kafka_security_protocol": "SSL", "kafka_ssl_key_password": "k"},
            "kafka_ssl_key_password",
            "no kafka_ssl_key_file",
            id="key-password-without-key",
        ),
    ],
)
def test_kafka_security_settings_fail_fast_naming_the_setting(
    overrides: dict[str, Any], named_setting: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^setting {named_setting} .*{problem}"):
        Settings(**overrides)


def test_sasl_without_tls_is_accepted_only_when_explicitly_allowed() -> None:
    plain = {**SASL, "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_allow_sasl_without_tls": True}
    assert Settings(**plain).kafka_security_protocol == "SASL_PLAINTEXT"


def test_kafka_secrets_are_kept_out_of_repr_and_printed_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(**SASL | {"kafka_sasl_password": "hunter2-kafka"})
    assert "hunter2-kafka" not in repr(settings)
    environ = {f"CCPULSE_{name.upper()}": value for name, value in SASL.items()}
    printed = printed_settings(capsys, monkeypatch, environ | {"CCPULSE_KAFKA_SASL_PASSWORD": "hunter2-kafka"})
    assert "hunter2-kafka" not in printed
    assert "kafka_sasl_password = <set, not shown>" in printed


def test_a_secret_of_the_wrong_type_in_a_file_is_reported_without_its_value(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "kafka_sasl_password = 123456789\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, environ={})
    assert "kafka_sasl_password" in str(caught.value)
    assert "123456789" not in str(caught.value)
