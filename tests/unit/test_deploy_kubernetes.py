"""The Kubernetes manifests in deploy/kubernetes/ against Kubernetes' schemas, the worker and each other.

kubeconform (-strict: unknown fields are errors) checks every manifest file and
what kustomize renders from the kustomization, alone and with each of its
components, against the schemas of two Kubernetes versions and of the
Prometheus Operator's CRDs, all offline: tools/fetch_deploy_linters.py (run by
``make setup``) fetches the tools and schemas into .cache/deploy-tools. A missing
tool fails these tests; it does not skip them. A deliberately broken manifest
must be rejected, so the check cannot pass by checking nothing.

The rest holds the manifests to the worker: settings are real Settings fields
and load into valid Settings, the probes use /readyz and /healthz on the
metrics port, the PodMonitor, Service and PodDisruptionBudget select the
StatefulSet's pods, and the PrometheusRule is what tools/build_kubernetes_rules.py
generates from deploy/prometheus/rules/.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml

from ccpulse.cli import build_parser
from ccpulse.config import Settings, load_settings
from tests.unit.tool_modules import load_module

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPONENTS = sorted(path.parent for path in (KUBERNETES / "components").glob("*/kustomization.yaml"))
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

#: Manifest files that are not Kubernetes resources, or not the base's.
NOT_RESOURCES = {"kustomization.yaml"}
EXAMPLES = {"secret.example.yaml"}
BASE_KINDS = ["ConfigMap", "PodDisruptionBudget", "PodMonitor", "PrometheusRule", "Service", "StatefulSet"]
SETTING_NAMES = {f.name for f in fields(Settings)}
#: Settings that name a file or directory in the container.
PATH_SETTINGS = {
    "data_dir",
    "queues_file",
    "kafka_ssl_ca_file",
    "kafka_ssl_cert_file",
    "kafka_ssl_key_file",
    "metrics_tls_cert_file",
    "metrics_tls_key_file",
}


@pytest.fixture(scope="module")
def linters() -> ModuleType:
    """tools/fetch_deploy_linters.py, with every tool and schema it fetches in place."""
    module = load_module("fetch_deploy_linters", ROOT / "tools" / "fetch_deploy_linters.py")
    missing = module.missing()
    if missing:
        pytest.fail(
            f"deploy linters missing from {module.CACHE}: {', '.join(missing)}; "
            "run `make setup` (or .venv/bin/python tools/fetch_deploy_linters.py)"
        )
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_module("build_kubernetes_rules", ROOT / "tools" / "build_kubernetes_rules.py")


def manifest_files() -> list[Path]:
    return sorted(path for path in KUBERNETES.glob("*.yaml") if path.name not in NOT_RESOURCES)


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for document in docs:
        assert document["kind"] not in kinds, f"two {document['kind']} resources"
        kinds[document["kind"]] = document
    return kinds


def kubeconform(linters: ModuleType, version: str, *files: Path, stdin: str | None = None) -> list[dict[str, Any]]:
    """kubeconform's verdict on each resource; fails unless it ran and judged every resource valid."""
    command = linters.kubeconform_command(version) + ([str(f) for f in files] if files else ["-"])
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    results: list[dict[str, Any]] = json.loads(done.stdout)["resources"] if done.stdout.strip() else []
    problems = [
        f"{r['kind']} {r['name']}: {r['status']} {r.get('msg', '')}" for r in results if r["status"] != "statusValid"
    ]
    assert done.returncode == 0, f"kubeconform (Kubernetes {version}) rejects:\n" + "\n".join(problems) + done.stderr
    assert not problems
    return results


def kustomize_build(linters: ModuleType, directory: Path) -> str:
    done = subprocess.run(
        [str(linters.KUSTOMIZE), "build", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kustomize build {directory} failed:\n{done.stderr}"
    return done.stdout


def render(linters: ModuleType, component: Path | None, tmp_path: Path) -> str:
    """kustomize build of deploy/kubernetes, with ``component`` enabled as a user would enable it."""
    if component is None:
        return kustomize_build(linters, KUBERNETES)
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(KUBERNETES, overlay)],
        "components": [os.path.relpath(component, overlay)],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    return kustomize_build(linters, overlay)


@pytest.fixture(scope="module")
def base() -> dict[str, dict[str, Any]]:
    """The base's resources by kind, as committed."""
    return by_kind([doc for path in manifest_files() if path.name not in EXAMPLES for doc in documents(path)])


def pod_spec(statefulset: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = statefulset["spec"]["template"]["spec"]
    return spec


def worker_container(statefulset: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod_spec(statefulset)["containers"] if c["name"] == "worker"]
    return container


# -- kubeconform, kustomize --------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_manifest_file_is_a_valid_kubernetes_resource(linters: ModuleType, version: str) -> None:
    assert version in linters.KUBERNETES_VERSIONS
    files = manifest_files()
    results = kubeconform(linters, version, *files)
    expected = sorted((doc["kind"], doc["metadata"]["name"]) for path in files for doc in documents(path))
    assert sorted((r["kind"], r["name"]) for r in results) == expected
    assert {kind for kind, _ in expected} >= {*BASE_KINDS, "Secret"}


@pytest.mark.parametrize("component", [None, *COMPONENTS], ids=lambda c: "base" if c is None else c.name)
@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_what_kustomize_renders_is_valid(
    linters: ModuleType, component: Path | None, version: str, tmp_path: Path
) -> None:
    rendered = render(linters, component, tmp_path)
    results = kubeconform(linters, version, stdin=rendered)
    assert sorted(r["kind"] for r in results) == BASE_KINDS
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    assert {doc["metadata"].get("namespace") for doc in docs} == {kustomization["namespace"]}
    image = worker_container(by_kind(docs)["StatefulSet"])["image"]
    (entry,) = kustomization["images"]
    assert image == f"{entry['newName']}:{entry['newTag']}"


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = kustomization["resources"]
    assert len(set(listed)) == len(listed)
    assert set(listed) == {path.name for path in manifest_files()} - EXAMPLES
    # The components it offers (commented out) are the ones that exist.
    text = (KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8")
    offered = set(re.findall(r"^#\s+- (components/[\w-]+)", text, flags=re.MULTILINE))
    assert offered == {str(path.relative_to(KUBERNETES)) for path in COMPONENTS}
    assert COMPONENTS, "no components under deploy/kubernetes/components"


def test_kubeconform_rejects_a_misspelled_field(linters: ModuleType, tmp_path: Path) -> None:
    """Proof that the check above checks something: -strict and the offline schemas are in force."""
    good = (KUBERNETES / "statefulset.yaml").read_text(encoding="utf-8")
    assert "podManagementPolicy:" in good
    broken = tmp_path / "statefulset.yaml"
    broken.write_text(good.replace("podManagementPolicy:", "podManagmentPolicy:"), encoding="utf-8")
    command = [*linters.kubeconform_command("1.30.0"), str(broken)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    (result,) = json.loads(done.stdout)["resources"]
    assert result["status"] == "statusInvalid"
    assert "podManagmentPolicy" in result["msg"]


def test_kubeconform_rejects_a_bad_type_and_an_unknown_crd_field(linters: ModuleType, tmp_path: Path) -> None:
    statefulset = (KUBERNETES / "statefulset.yaml").read_text(encoding="utf-8")
    podmonitor = (KUBERNETES / "podmonitor.yaml").read_text(encoding="utf-8")
    (tmp_path / "a.yaml").write_text(statefulset.replace("replicas: 2", "replicas: two"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(podmonitor.replace("interval: 15s", "intervall: 15s"), encoding="utf-8")
    command = [*linters.kubeconform_command("1.37.0"), str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    results = json.loads(done.stdout)["resources"]
    assert sorted((r["kind"], r["status"]) for r in results) == [
        ("PodMonitor", "statusInvalid"),
        ("StatefulSet", "statusInvalid"),
    ]


def test_kubeconform_fails_a_kind_it_has_no_schema_for(linters: ModuleType) -> None:
    """Offline there is no fallback: an unknown kind is an error, never skipped."""
    unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    command = [*linters.kubeconform_command("1.37.0"), "-"]
    done = subprocess.run(command, input=unknown, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    (result,) = json.loads(done.stdout)["resources"]
    assert result["status"] == "statusError"


# -- the PrometheusRule and its generator -----------------------------------------------------


def test_committed_prometheusrule_is_what_the_generator_writes(generator: ModuleType) -> None:
    expected = generator.render(generator.build_rule())
    committed = (KUBERNETES / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == expected, "stale: run .venv/bin/python tools/build_kubernetes_rules.py"
    assert generator.render(generator.build_rule()) == expected  # deterministic


def test_check_option_fails_on_a_stale_file_and_passes_after_writing(generator: ModuleType, tmp_path: Path) -> None:
    output = tmp_path / "prometheusrule.yaml"
    assert generator.main(["--check", "--output", str(output)]) == 1  # missing
    output.write_text("kind: PrometheusRule\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(output)]) == 1  # stale
    assert generator.main(["--output", str(output)]) == 0
    assert generator.main(["--check", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == (KUBERNETES / "prometheusrule.yaml").read_text(encoding="utf-8")


def test_prometheusrule_holds_every_rule_group_unchanged(base: dict[str, dict[str, Any]]) -> None:
    groups = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["groups"])
    assert {group["name"] for group in groups} == {"ccpulse-alerts", "ccpulse-recording"}
    assert base["PrometheusRule"]["spec"]["groups"] == groups


def test_generator_refuses_a_repeated_group_name(generator: ModuleType, tmp_path: Path) -> None:
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text("groups:\n  - name: same\n    rules: []\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="repeat"):
        generator.build_rule(tmp_path)


# -- settings ---------------------------------------------------------------------------------


def config_toml(base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return tomllib.loads(base["ConfigMap"]["data"]["ccpulse.toml"])


def test_configmap_settings_are_real_settings(base: dict[str, dict[str, Any]]) -> None:
    keys = set(config_toml(base))
    assert keys <= SETTING_NAMES, f"not settings: {sorted(keys - SETTING_NAMES)}"
    for key, value in base["ConfigMap"]["data"].items():
        assert key.endswith(".toml")
        tomllib.loads(value)  # every file in it is TOML


def env_vars(statefulset: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = worker_container(statefulset).get("env", [])
    return env


@pytest.mark.parametrize("component", [None, *COMPONENTS], ids=lambda c: "base" if c is None else c.name)
def test_env_vars_name_real_settings(linters: ModuleType, component: Path | None, tmp_path: Path) -> None:
    statefulset = by_kind([d for d in yaml.safe_load_all(render(linters, component, tmp_path)) if d])["StatefulSet"]
    names = [var["name"] for var in env_vars(statefulset)]
    assert len(set(names)) == len(names), f"an env var is set twice: {names}"
    for name in names:
        assert name.startswith("CCPULSE_"), name
        assert name.removeprefix("CCPULSE_").lower() in SETTING_NAMES, f"{name} is no setting"


def _pod_filesystem(statefulset: dict[str, Any], docs: dict[str, dict[str, Any]], root: Path) -> None:
    """Lay out under ``root`` the files the worker container would see in its mounts."""
    volumes = {volume["name"]: volume for volume in pod_spec(statefulset)["volumes"]}
    for mount in worker_container(statefulset)["volumeMounts"]:
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            configmap = docs["ConfigMap"]
            assert volume["configMap"]["name"] == configmap["metadata"]["name"]
            for key, value in configmap["data"].items():
                (target / key).write_text(value, encoding="utf-8")
        sources = volume.get("projected", {}).get("sources", [])
        if "secret" in volume:
            sources = [{"secret": volume["secret"]}]
        for source in sources:
            for item in source["secret"]["items"]:
                (target / item["path"]).write_text("not a real certificate\n", encoding="utf-8")


@pytest.mark.parametrize("component", [None, *COMPONENTS], ids=lambda c: "base" if c is None else c.name)
def test_the_pod_starts_with_valid_settings(linters: ModuleType, component: Path | None, tmp_path: Path) -> None:
    """The settings a worker pod gets (ConfigMap file, env, mounted files) pass Settings' checks.

    Files are laid out under a temporary root as the pod would see them; a
    Secret's value is a placeholder when it is required, and left out when it
    is optional (the Secret may not exist).
    """
    docs = by_kind([d for d in yaml.safe_load_all(render(linters, component, tmp_path)) if d])
    statefulset = docs["StatefulSet"]
    root = tmp_path / "pod"
    _pod_filesystem(statefulset, docs, root)
    container = worker_container(statefulset)
    args = build_parser().parse_args(container["args"])  # the image's ENTRYPOINT is ccpulse
    assert args.command == "worker"
    config = PurePosixPath(args.config)
    environ: dict[str, str] = {}
    for var in env_vars(statefulset):
        source = var.get("valueFrom", {})
        if "value" in var:
            environ[var["name"]] = var["value"]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            environ[var["name"]] = f"{statefulset['metadata']['name']}-0"
        elif "secretKeyRef" in source:
            if not source["secretKeyRef"].get("optional", False):
                environ[var["name"]] = "placeholder-secret"
        else:
            pytest.fail(f"unexpected env source {var}")
    # Paths in the container are paths under the root here.
    for name in PATH_SETTINGS:
        env_name = f"CCPULSE_{name.upper()}"
        value = environ.get(env_name, config_toml(docs).get(name, ""))
        if value.startswith("/"):
            environ[env_name] = str(root / value.lstrip("/"))
    settings = load_settings(root / str(config).lstrip("/"), environ)
    assert settings.group_instance_id == "ccpulse-0"
    assert settings.metrics_port == 9464
    assert settings.topic_partitions >= statefulset["spec"]["replicas"], "workers beyond the partitions idle"
    if component is not None and "mtls" in component.name:
        assert settings.kafka_security_protocol == "SSL"
        assert settings.kafka_ssl_cert_file
    if component is not None and "scram" in component.name:
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_password == "placeholder-secret"


# -- the StatefulSet --------------------------------------------------------------------------


def test_statefulset_shape(base: dict[str, dict[str, Any]]) -> None:
    statefulset = base["StatefulSet"]
    assert statefulset["spec"]["replicas"] == 2
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert statefulset["spec"]["serviceName"] == base["Service"]["metadata"]["name"]
    assert "volumeClaimTemplates" not in statefulset["spec"], "the worker keeps no durable local state"
    template_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    # Kubernetes would put CCPULSE_SERVICE_HOST etc. into the settings' env namespace.
    assert pod_spec(statefulset)["enableServiceLinks"] is False


def test_group_instance_id_is_the_pod_name(base: dict[str, dict[str, Any]]) -> None:
    (var,) = [v for v in env_vars(base["StatefulSet"]) if v["name"] == "CCPULSE_GROUP_INSTANCE_ID"]
    assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_secrets_come_from_a_secret_and_the_example_matches(base: dict[str, dict[str, Any]]) -> None:
    (example,) = documents(KUBERNETES / "secret.example.yaml")
    refs = {
        var["name"]: var["valueFrom"]["secretKeyRef"]
        for var in env_vars(base["StatefulSet"])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert set(refs) == {"CCPULSE_CUSTOMER_HASH_KEY", "CCPULSE_KAFKA_SASL_PASSWORD"}
    for name, ref in refs.items():
        assert ref["name"] == example["metadata"]["name"]
        assert ref["key"] == name.removeprefix("CCPULSE_").lower(), "key named after the setting"
        assert ref["optional"] is True, "pods must start without the Secret (no SASL, no FCR)"
    assert set(example["stringData"]) == {ref["key"] for ref in refs.values()}
    assert all(value.startswith("CHANGE-ME") for value in example["stringData"].values())
    # No secret in the ConfigMap.
    assert not {"kafka_sasl_password", "customer_hash_key", "kafka_ssl_key_password"} & set(config_toml(base))


def _probe(container: dict[str, Any], kind: str) -> dict[str, Any]:
    probe: dict[str, Any] = container[kind]["httpGet"]
    return probe


def test_probes_use_readyz_and_healthz_on_the_metrics_port(base: dict[str, dict[str, Any]]) -> None:
    container = worker_container(base["StatefulSet"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": config_toml(base)["metrics_port"]}
    assert ports["metrics"] == Settings().metrics_port
    assert _probe(container, "readinessProbe") == {"path": "/readyz", "port": "metrics"}
    assert _probe(container, "livenessProbe") == {"path": "/healthz", "port": "metrics"}
    assert _probe(container, "startupProbe") == {"path": "/healthz", "port": "metrics"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "start-up may wait 30 s for Kafka alone"


def _worker_stop_timeout_s() -> float:
    """How long the integration tests give a worker to stop on SIGTERM (WorkerProcess.stop)."""
    from tests.integration.support import WorkerProcess  # noqa: PLC0415 - only for this number

    default = inspect.signature(WorkerProcess.stop).parameters["timeout_s"].default
    assert isinstance(default, float)
    return default


def test_termination_grace_period_exceeds_the_worker_shutdown(base: dict[str, dict[str, Any]]) -> None:
    grace = pod_spec(base["StatefulSet"])["terminationGracePeriodSeconds"]
    assert grace > _worker_stop_timeout_s()
    assert grace == 60


def test_pod_security(base: dict[str, dict[str, Any]]) -> None:
    spec = pod_spec(base["StatefulSet"])
    container = worker_container(base["StatefulSet"])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # The pod's user is the image's (deploy/Dockerfile USER).
    (user,) = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    uid, _, gid = user.partition(":")
    assert spec["securityContext"]["runAsUser"] == int(uid) != 0
    assert spec["securityContext"]["runAsGroup"] == int(gid or uid)


def test_the_data_dir_and_tmp_are_writable_empty_dirs(base: dict[str, dict[str, Any]]) -> None:
    spec = pod_spec(base["StatefulSet"])
    container = worker_container(base["StatefulSet"])
    empty_dirs = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
    writable = [
        PurePosixPath(m["mountPath"])
        for m in container["volumeMounts"]
        if m["name"] in empty_dirs and not m.get("readOnly")
    ]
    env = {var["name"]: var.get("value") for var in env_vars(base["StatefulSet"])}
    data_dir = PurePosixPath(env["CCPULSE_DATA_DIR"])
    assert any(data_dir.is_relative_to(mount) for mount in writable), f"{data_dir} is on the read-only root"
    assert PurePosixPath("/tmp") in writable


def test_resources_request_a_core_and_limit_memory(base: dict[str, dict[str, Any]]) -> None:
    resources = worker_container(base["StatefulSet"])["resources"]
    assert resources["requests"]["cpu"] == "1"
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]
    assert "cpu" not in resources["limits"], "a CPU limit throttles the worker into missed heartbeats"


# -- Service, PodMonitor, PodDisruptionBudget --------------------------------------------------


def test_headless_service_selects_the_workers(base: dict[str, dict[str, Any]]) -> None:
    service = base["Service"]["spec"]
    template_labels = base["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert service["clusterIP"] == "None"
    assert service["selector"].items() <= template_labels.items()
    assert service["selector"] == base["StatefulSet"]["spec"]["selector"]["matchLabels"]
    (port,) = service["ports"]
    assert port["name"] == "metrics"
    assert port["targetPort"] == "metrics"
    assert port["port"] == 9464


def test_podmonitor_scrapes_the_workers_metrics_port_as_job_ccpulse(base: dict[str, dict[str, Any]]) -> None:
    monitor = base["PodMonitor"]["spec"]
    template_labels = base["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= template_labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    port_names = {port["name"] for port in worker_container(base["StatefulSet"])["ports"]}
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    # The rules alert on up{job="ccpulse"}: the job comes from this pod label.
    assert template_labels[monitor["jobLabel"]] == "ccpulse"
    alerts = (RULES_DIR / "ccpulse-alerts.yml").read_text(encoding="utf-8")
    assert 'up{job="ccpulse"}' in alerts


def test_disruption_budget_keeps_a_worker(base: dict[str, dict[str, Any]]) -> None:
    budget = base["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"] == base["StatefulSet"]["spec"]["selector"]["matchLabels"]
    assert budget["maxUnavailable"] == 1 < base["StatefulSet"]["spec"]["replicas"]


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_component_files_are_mounted_where_the_settings_point(
    linters: ModuleType, component: Path, tmp_path: Path
) -> None:
    docs = by_kind([d for d in yaml.safe_load_all(render(linters, component, tmp_path)) if d])
    statefulset = docs["StatefulSet"]
    volumes = {volume["name"]: volume for volume in pod_spec(statefulset)["volumes"]}
    provided: set[PurePosixPath] = set()
    for mount in worker_container(statefulset)["volumeMounts"]:
        volume = volumes[mount["name"]]
        sources = (
            [{"secret": volume["secret"]}] if "secret" in volume else volume.get("projected", {}).get("sources", [])
        )
        for source in sources:
            for item in source["secret"]["items"]:
                provided.add(PurePosixPath(mount["mountPath"]) / item["path"])
    files = [var for var in env_vars(statefulset) if var["name"].endswith("_FILE")]
    assert files, f"{component.name} sets no file"
    for var in files:
        assert PurePosixPath(var["value"]) in provided, f"{var['name']}={var['value']} is not mounted"
