"""deploy/compose.yaml against the Compose Specification, the repository and the worker.

No Docker engine runs here, so the file is checked without one: against the
Compose Specification's JSON schema (the one Docker Compose itself validates
with, from compose-go; tools/fetch_deploy_linters.py fetches it, and a missing
schema fails these tests), and for what the schema cannot know: every file it
mounts or builds from exists, Prometheus loads the shipped rules and scrapes
the worker as job "ccpulse", Grafana gets the shipped dashboards and a
datasource with the uid the wallboard preselects, the services wait for what
they need, and the ccpulse settings and simulator flags are real ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from ccpulse.cli import build_parser
from ccpulse.config import Settings, load_settings
from tests.unit.tool_modules import load_module

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
RULES_DIR = DEPLOY / "prometheus" / "rules"
SHIPPED_DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "ccpulse-prometheus.yml"
SHIPPED_PROVIDER = DEPLOY / "grafana" / "provisioning" / "dashboards" / "ccpulse.yml"
SETTING_NAMES = {f.name for f in fields(Settings)}

INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    linters = load_module("fetch_deploy_linters", ROOT / "tools" / "fetch_deploy_linters.py")
    if not linters.is_current("compose-schema"):
        pytest.fail(
            f"the Compose Specification schema is missing from {linters.CACHE}; "
            "run `make setup` (or .venv/bin/python tools/fetch_deploy_linters.py)"
        )
    schema: dict[str, Any] = json.loads(linters.COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set: the default."""
    return INTERPOLATION.sub(lambda match: match.group(2) or "", value)


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """(host path, container path) of each bind mount; named volumes left out."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append(((DEPLOY / source).resolve(), PurePosixPath(target)))
    return mounts


def host_path(service: dict[str, Any], container_path: PurePosixPath) -> Path:
    """Where a path inside the container comes from on the host, through the service's bind mounts."""
    for source, target in bind_mounts(service):
        if container_path == target or container_path.is_relative_to(target):
            return source / container_path.relative_to(target)
    raise AssertionError(f"{container_path} is not bind-mounted into the service")


# -- schema -----------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(
    compose_schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    assert compose_schema["title"] == "Compose Specification"
    assert schema_errors(compose_schema, compose) == []


def test_schema_rejects_a_misspelled_key(compose_schema: dict[str, Any], compose: dict[str, Any]) -> None:
    """Proof that the check above checks something."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["healthcheck"]["intervall"] = broken["services"]["worker"]["healthcheck"].pop(
        "interval"
    )
    assert any("intervall" in error for error in schema_errors(compose_schema, broken))
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["kafka"]["condition"] = "service_ready"
    assert schema_errors(compose_schema, broken)


# -- files ------------------------------------------------------------------------------------


def test_every_mounted_and_built_path_exists(compose: dict[str, Any]) -> None:
    seen = 0
    for name, service in compose["services"].items():
        for source, _ in bind_mounts(service):
            assert source.exists(), f"service {name} mounts {source}, which does not exist"
            assert source.is_relative_to(ROOT), f"service {name} mounts {source}, outside the repository"
            seen += 1
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == ROOT, "the build context is the repository root (.dockerignore is there)"
            assert (context / service["build"]["dockerfile"]).is_file()
            assert (context / ".dockerignore").is_file()
    assert seen >= 5


def test_worker_simulator_and_wallboard_use_the_same_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in ("worker", "simulator", "wallboard")}
    builds = [services[name]["build"] for name in ("worker", "simulator", "wallboard")]
    assert len(images) == 1
    assert builds == [{"context": "..", "dockerfile": "deploy/Dockerfile"}] * 3


def test_prometheus_loads_the_shipped_rules_and_scrapes_the_worker(compose: dict[str, Any]) -> None:
    service = compose["services"]["prometheus"]
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    config_in_container = PurePosixPath(config_flag.removeprefix("--config.file="))
    config_file = host_path(service, config_in_container)
    assert config_file == DEPLOY / "compose" / "prometheus.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    loaded: set[Path] = set()
    for pattern in config["rule_files"]:
        directory, glob = (config_in_container.parent / pattern).parent, PurePosixPath(pattern).name
        loaded.update(host_path(service, directory).glob(glob))
    assert loaded == set(RULES_DIR.glob("*.yml")), "Prometheus must load exactly the shipped rule files"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "ccpulse", "the rules expect job=ccpulse"
    (targets,) = job["static_configs"]
    worker = compose["services"]["worker"]
    port = int(worker["environment"].get("CCPULSE_METRICS_PORT", Settings().metrics_port))
    assert targets["targets"] == [f"worker:{port}"]
    assert worker["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_promtool_accepts_the_compose_scrape_config_with_the_rules(compose: dict[str, Any], tmp_path: Path) -> None:
    """The config and rules as Prometheus sees them in the container, laid out here."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found on PATH: install Debian's 'prometheus' package (CI installs it)")
    service = compose["services"]["prometheus"]
    for source, target in bind_mounts(service):
        if target.is_relative_to("/etc/prometheus"):
            placed = tmp_path / target.relative_to("/etc/prometheus")
            placed.parent.mkdir(parents=True, exist_ok=True)
            placed.symlink_to(source)
    done = subprocess.run(
        [promtool, "check", "config", "--lint-fatal", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rule files found" in done.stdout + done.stderr


def test_grafana_gets_the_shipped_dashboards_and_a_datasource_for_the_compose_prometheus(
    compose: dict[str, Any],
) -> None:
    service = compose["services"]["grafana"]
    mounts = {target: source for source, target in bind_mounts(service)}
    provisioning = PurePosixPath("/etc/grafana/provisioning")
    # The shipped dashboard provider, and the dashboards where it looks for them.
    provider_dir = mounts[provisioning / "dashboards"]
    assert provider_dir == SHIPPED_PROVIDER.parent
    (provider,) = yaml.safe_load(SHIPPED_PROVIDER.read_text(encoding="utf-8"))["providers"]
    dashboards = host_path(service, PurePosixPath(provider["options"]["path"]))
    assert dashboards == DEPLOY / "grafana" / "dashboards"
    assert sorted(path.name for path in dashboards.glob("*.json")) == ["ccpulse-wallboard.json"]
    # A compose datasource: the shipped one but for the prometheus service.
    (datasource_file,) = [source for target, source in mounts.items() if target.parent == provisioning / "datasources"]
    assert datasource_file == DEPLOY / "compose" / "grafana-datasource.yml"
    (ours,) = yaml.safe_load(datasource_file.read_text(encoding="utf-8"))["datasources"]
    (shipped,) = yaml.safe_load(SHIPPED_DATASOURCE.read_text(encoding="utf-8"))["datasources"]
    assert ours["uid"] == shipped["uid"] == "ccpulse-prometheus"
    assert ours["type"] == shipped["type"] == "prometheus"
    assert ours["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]
    dashboard = json.loads((dashboards / "ccpulse-wallboard.json").read_text(encoding="utf-8"))
    assert ours["uid"] in json.dumps(dashboard["templating"])


# -- services ---------------------------------------------------------------------------------


def test_kafka_image_is_the_version_the_tests_run(compose: dict[str, Any]) -> None:
    kafkactl = (DEPLOY / "kafka" / "kafkactl.py").read_text(encoding="utf-8")
    (version,) = re.findall(r'^DEFAULT_VERSION = "([^"]+)"', kafkactl, flags=re.MULTILINE)
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{version}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image, _, tag = service["image"].partition(":")
        assert tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: pin a version, not latest"


def test_depends_on_waits_for_health_only_where_there_is_a_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            if condition["condition"] == "service_healthy":
                check = services[dependency].get("healthcheck", {})
                assert check.get("test"), f"{name} waits on {dependency}'s health, which it does not check"
                assert not check.get("disable"), f"{name} waits on {dependency}'s health, which it does not check"
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["simulator"]["depends_on"]["worker"]["condition"] == "service_healthy"


def test_worker_health_is_readiness_and_its_stop_grace_exceeds_the_shutdown(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    test = " ".join(worker["healthcheck"]["test"])
    assert "http://127.0.0.1:9464/readyz" in test
    assert worker["stop_grace_period"] == "60s"
    assert worker["read_only"] is True
    data_dir = PurePosixPath(worker["environment"]["CCPULSE_DATA_DIR"])
    volume_targets = [PurePosixPath(volume.split(":")[1]) for volume in worker["volumes"]]
    assert any(data_dir.is_relative_to(target) for target in volume_targets)


def test_ccpulse_services_have_real_settings(compose: dict[str, Any], tmp_path: Path) -> None:
    for name in ("worker", "simulator", "wallboard"):
        env = {key: interpolate(str(value)) for key, value in compose["services"][name]["environment"].items()}
        for key in env:
            assert key.startswith("CCPULSE_")
            assert key.removeprefix("CCPULSE_").lower() in SETTING_NAMES, f"{name}: {key} is no setting"
        env["CCPULSE_DATA_DIR"] = str(tmp_path)
        settings = load_settings(None, env)
        assert settings.kafka_bootstrap == "kafka:9092"
    assert compose["services"]["worker"]["environment"]["CCPULSE_GROUP_INSTANCE_ID"]


def test_ccpulse_commands_parse(compose: dict[str, Any]) -> None:
    parser = build_parser()
    worker = parser.parse_args(compose["services"]["worker"]["command"])
    assert worker.command == "worker"
    simulator = parser.parse_args([interpolate(arg) for arg in compose["services"]["simulator"]["command"]])
    assert simulator.command == "simulate"
    assert simulator.output is None, "the simulator must send to Kafka"
    assert simulator.contacts == 0, "runs until stopped"
    assert not simulator.dry_run
    wallboard = parser.parse_args(compose["services"]["wallboard"]["command"])
    assert wallboard.command == "wallboard"
    # Listening on every interface inside the container, published on the host's loopback only.
    assert wallboard.host == "0.0.0.0"
    assert compose["services"]["wallboard"]["ports"] == [f"127.0.0.1:{wallboard.port}:{wallboard.port}"]
    assert f"http://127.0.0.1:{wallboard.port}/healthz" in " ".join(
        compose["services"]["wallboard"]["healthcheck"]["test"]
    )
