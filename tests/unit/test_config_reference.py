"""docs/configuration.md against its generator and the settings, and docs/operations.md against the code and rules.

docs/configuration.md is written by tools/build_config_reference.py from
``ccpulse.config.Settings`` (names, types, defaults), the comments above its
fields (descriptions) and the checks of ``Settings`` (errors). The committed
file must be what the generator produces now; to accept a change:
python tools/build_config_reference.py

docs/operations.md is written by hand; the tests here hold it to what can be
checked: a runbook heading for every alert, every topic the worker uses, every
dead-letter reason and header, and commands whose options exist.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ccpulse.cli import build_parser
from ccpulse.codec.events import RejectReason
from ccpulse.config import (
    CLOCKS,
    ENV_PREFIX,
    KAFKA_SASL_MECHANISMS,
    KAFKA_SECURITY_PROTOCOLS,
    LOG_LEVELS,
    SECRET_SETTINGS,
    ConfigError,
    Settings,
    load_settings,
)
from ccpulse.domain.queue_config import QueueConfig
from ccpulse.runtime.topics import planned_topics

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "build_config_reference.py"
REFERENCE = ROOT / "docs" / "configuration.md"
OPERATIONS = ROOT / "docs" / "operations.md"
ALERTS = ROOT / "deploy" / "prometheus" / "rules" / "ccpulse-alerts.yml"
APP_SOURCE = ROOT / "src" / "ccpulse" / "runtime" / "app.py"

SETTING_NAMES = [spec.name for spec in fields(Settings)]
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_config_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def entries(text: str) -> dict[str, str]:
    """Level-3 heading -> the text up to the next heading."""
    found: dict[str, str] = {}
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        found[title.strip()] = re.split(r"^#{1,6} ", body, flags=re.MULTILINE)[0]
    return found


# -- docs/configuration.md -----------------------------------------------------------------------


def test_the_configuration_reference_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_check_mode_fails_with_a_message_when_the_file_is_stale(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# an old version\n", encoding="utf-8")
    monkeypatch.setattr(generator, "TARGET", stale)

    assert generator.main(["--check"]) == 1
    assert stale.read_text(encoding="utf-8") == "# an old version\n"  # --check never writes


def test_every_setting_has_an_entry_with_its_env_var_type_and_default(reference: str) -> None:
    found = entries(reference)
    for name in SETTING_NAMES:
        assert name in found, f"no '### {name}' in docs/configuration.md"
        assert f"- env var: `{ENV_PREFIX}{name.upper()}`" in found[name], name
        assert "- type: " in found[name], name
        assert "- default: " in found[name], name
        assert f"| [`{name}`](#{name}) | `{ENV_PREFIX}{name.upper()}` |" in reference, name


def test_every_setting_has_a_description_in_config_py(generator: ModuleType) -> None:
    descriptions = generator.field_descriptions(generator.CONFIG_SOURCE.read_text(encoding="utf-8"), "Settings")

    assert set(descriptions) == set(SETTING_NAMES)
    assert [name for name, text in descriptions.items() if len(text) < 20] == []
    assert not any("noqa" in text for text in descriptions.values())


def test_every_setting_is_in_exactly_one_section(generator: ModuleType) -> None:
    listed = [name for _, _, names in generator.SECTIONS for name in names]

    assert sorted(listed) == sorted(SETTING_NAMES), "add the new setting to SECTIONS in the generator"
    assert len(listed) == len(set(listed))


def test_a_setting_in_no_section_stops_the_generator(generator: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    title, text, names = generator.SECTIONS[0]
    monkeypatch.setattr(generator, "SECTIONS", ((title, text, names[1:]), *generator.SECTIONS[1:]))

    with pytest.raises(ValueError, match=names[0]):
        generator.render()


def test_a_secrets_default_is_never_printed(generator: ModuleType) -> None:
    defaults = generator.settings_defaults()
    planted = {name: f"planted-secret-{name}" for name in SECRET_SETTINGS}
    text = generator.render({**defaults, **planted})

    assert not [value for value in planted.values() if value in text]
    found = entries(text)
    for name in SECRET_SETTINGS:
        assert "- default: (secret)" in found[name], name


def test_the_committed_secrets_show_as_secret(reference: str) -> None:
    found = entries(reference)

    assert set(found) >= SECRET_SETTINGS
    for name in SECRET_SETTINGS:
        assert "(secret)" in found[name], name
        assert "never printed" in found[name], name


def test_choices_and_ranges_come_from_the_checks(reference: str) -> None:
    found = entries(reference)
    for name, choices in (
        ("log_level", LOG_LEVELS),
        ("kafka_security_protocol", KAFKA_SECURITY_PROTOCOLS),
        ("kafka_sasl_mechanism", KAFKA_SASL_MECHANISMS),
        ("clock", CLOCKS),
    ):
        assert ", ".join(choices) in found[name], name
    assert "must be between 1 and 10000" in found["topic_partitions"]
    assert "must be between 24 and 744" in found["retention_hours"]
    # A check inside `for name in (...)` applies to each name of the tuple.
    for name in ("input_topic", "facts_topic", "dead_letter_topic", "kpi_topic"):
        assert "is not a valid Kafka topic name" in found[name], name


def test_every_check_names_a_setting(generator: ModuleType) -> None:
    assert set(generator.settings_checks()) <= set(SETTING_NAMES)
    assert set(generator.queue_checks()) <= {spec.name for spec in fields(QueueConfig)}


def test_the_source_reader_takes_comments_above_and_beside_a_field(generator: ModuleType) -> None:
    source = (
        "class Example:\n"
        "    # Above, first line,\n"
        "    # second line.\n"
        "    first: int = 1  # beside it\n"
        "\n"
        "    # Not this one: a blank line is in between.\n"
        "\n"
        "    second: str = '#not a comment'  # noqa: S105 - a note for the linter\n"
        "    third: bool = False\n"
    )

    assert generator.field_descriptions(source, "Example") == {
        "first": "Above, first line, second line. Beside it.",
        "second": "",
        "third": "",
    }


def test_the_check_reader_follows_loops_over_names(generator: ModuleType) -> None:
    source = (
        "class Example:\n"
        "    def __post_init__(self):\n"
        "        _check(ok, 'a', 'plain')\n"
        "        for name in ('b', 'c'):\n"
        "            _check(ok, name, f'{value!r} is not one of {\", \".join(CHOICES)}')\n"
        "        files = ('d', 'e')\n"
        "        if ok:\n"
        "            for name in files:\n"
        "                _check(ok, name, 'is not a file')\n"
        "        raise ConfigError(_named('f', f'{path}: {exc}'))\n"
    )
    checks = generator.checks_in(source, {"_check": (1, 2), "_named": (0, 1)}, {"CHOICES": ("x", "y")}, "Example")

    assert checks == {
        "a": ["plain"],
        "b": ["… is not one of x, y"],
        "c": ["… is not one of x, y"],
        "d": ["is not a file"],
        "e": ["is not a file"],
    }


def test_the_example_settings_file_loads(generator: ModuleType, reference: str, tmp_path: Path) -> None:
    assert generator.EXAMPLE_TOML.rstrip("\n") in reference
    path = tmp_path / "ccpulse.toml"
    path.write_text(generator.EXAMPLE_TOML, encoding="utf-8")

    settings = load_settings(path, environ={"CCPULSE_KAFKA_SASL_PASSWORD": "example"})

    assert settings.topic_replication_factor == 3
    assert settings.kafka_security_protocol == "SASL_SSL"


def test_what_the_reference_says_about_reading_values_holds(tmp_path: Path) -> None:
    path = tmp_path / "ccpulse.toml"
    path.write_text('input_topic = "from.file"\nlog_level = "warn"\n', encoding="utf-8")

    # The environment overrides the file, which overrides the defaults.
    settings = load_settings(path, environ={"CCPULSE_LOG_LEVEL": "error"})
    assert (settings.input_topic, settings.log_level, settings.app_id) == ("from.file", "error", "ccpulse")
    # An empty variable empties a string setting; unknown CCPULSE_ variables are ignored.
    settings = load_settings(path, environ={"CCPULSE_INPUT_TOPIC": "x", "CCPULSE_NO_SUCH_SETTING": "1"})
    assert settings.input_topic == "x"
    assert load_settings(None, environ={"CCPULSE_GROUP_INSTANCE_ID": ""}).group_instance_id == ""
    assert load_settings(None, environ={"CCPULSE_DATA_DIR": ""}).data_dir == Path()
    for word in ("1", "on", "TRUE", "Yes"):
        assert load_settings(None, environ={"CCPULSE_METRICS_PER_AGENT": word}).metrics_per_agent
    for word in ("0", "off", "False", "NO"):
        assert not load_settings(None, environ={"CCPULSE_METRICS_PER_AGENT": word}).metrics_per_agent
    with pytest.raises(ConfigError, match="topic_partitions"):
        load_settings(None, environ={"CCPULSE_TOPIC_PARTITIONS": "4.0"})
    with pytest.raises(ConfigError, match="metrics_port"):
        load_settings(None, environ={"CCPULSE_METRICS_PORT": ""})
    with pytest.raises(ConfigError, match="metrics_per_agent"):
        load_settings(None, environ={"CCPULSE_METRICS_PER_AGENT": ""})
    path.write_text("topic_partitions = 4.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="topic_partitions"):
        load_settings(path, environ={})


def test_every_queue_rule_is_described(generator: ModuleType, reference: str) -> None:
    keys = {spec.name for spec in fields(QueueConfig)} - {"queue_name"}

    assert set(generator.QUEUE_KEY_DESCRIPTIONS) == keys
    for key in keys:
        assert f"| `{key}` |" in reference, key
    assert (ROOT / "deploy" / "queues.example.toml").read_text(encoding="utf-8").rstrip("\n") in reference


# -- both documents ------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {slug(title) for _, title in HEADING.findall(text)}


@pytest.mark.parametrize("document", [REFERENCE, OPERATIONS], ids=lambda path: path.name)
def test_links_within_the_docs_resolve(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f"{document.name}: link to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked.read_text(encoding="utf-8")), f"{document.name}: no anchor {target}"


@pytest.mark.parametrize("document", [REFERENCE, OPERATIONS], ids=lambda path: path.name)
def test_the_commands_in_the_docs_parse(document: Path) -> None:
    """Every `ccpulse ...` line in a sh block names a command and options that exist."""
    blocks = re.findall(r"```sh\n(.*?)```", document.read_text(encoding="utf-8"), flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("ccpulse ")]
    assert commands
    for argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{document.name}: `ccpulse {' '.join(argv)}` does not parse")


# -- docs/operations.md --------------------------------------------------------------------------


def alert_names() -> list[str]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule["alert"] for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_runbook_heading_in_the_operations_guide(operations: str) -> None:
    headings = {title.strip() for _, title in HEADING.findall(operations)}
    names = alert_names()

    assert names, "no alerts found in the rules file"
    assert [name for name in names if name not in headings] == []


def test_the_runbook_entries_follow_the_rules_severity(operations: str) -> None:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    found = entries(operations)
    for group in document["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                entry = " ".join(found[rule["alert"]].split())
                assert f"Severity `{rule['labels']['severity']}`" in entry, rule["alert"]


def test_the_operations_guide_names_every_topic(operations: str) -> None:
    settings = Settings()
    tables = re.findall(r'app\.Table\("([^"]+)"', APP_SOURCE.read_text(encoding="utf-8"))
    names = [plan.name for plan in planned_topics(settings)]
    names += [f"{settings.app_id}-{table}-changelog" for table in tables]

    assert len(tables) == 2
    assert [name for name in names if f"`{name}`" not in operations] == []


def test_the_operations_guide_explains_every_dead_letter_reason_and_header(operations: str) -> None:
    found = entries(operations)["Dead letters"]
    assert [reason.value for reason in RejectReason if f"| `{reason.value}` |" not in found] == []
    headers = set(re.findall(r'"(ccpulse\.[a-z_.0-9]+)"', APP_SOURCE.read_text(encoding="utf-8")))
    assert headers
    assert sorted(header for header in headers if f"`{header}`" not in found) == []
