"""Run Debian's Prometheus on loopback with ccpulse's shipped rules, for the demo and the end-to-end tests.

    python deploy/prometheus/promctl.py --target 127.0.0.1:9464      # until Ctrl-C

The config written into the run directory is the shipped
``deploy/prometheus/prometheus.yml`` with its scrape targets, intervals and
rule files replaced, so what runs is what users deploy. ``for_override``
shortens every alert's ``for:`` (tests cannot wait five minutes; the shipped
file keeps its durations). The server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SHIPPED_CONFIG = HERE / "prometheus.yml"
RULES_DIR = HERE / "rules"


class PrometheusError(RuntimeError):
    """Prometheus could not be found, started or queried."""


def find_prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusError("the prometheus server is not installed; on Debian: apt-get install prometheus")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    run_dir: Path,
    targets: list[str],
    scrape_interval_s: float,
    evaluation_interval_s: float,
    for_override: str | None = None,
) -> Path:
    """The shipped config with these targets and intervals, and copies of the shipped rules."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    config["global"]["scrape_interval"] = f"{scrape_interval_s:g}s"
    config["global"]["evaluation_interval"] = f"{evaluation_interval_s:g}s"
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "ccpulse"]
    job["static_configs"] = [{"targets": targets}]
    job.pop("file_sd_configs", None)
    rules_dir = run_dir / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(RULES_DIR.glob("*.yml")):
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        if for_override is not None:
            for group in document["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rule["for"] = for_override
        (rules_dir / source.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    config["rule_files"] = [str(rules_dir / "*.yml")]
    path = run_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class LocalPrometheus:
    """One Prometheus server process on 127.0.0.1 with its data under ``run_dir``."""

    def __init__(
        self,
        run_dir: Path,
        targets: list[str],
        *,
        port: int = 0,
        scrape_interval_s: float = 1.0,
        evaluation_interval_s: float = 1.0,
        for_override: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.targets = targets
        self.port = port or free_port()
        self.scrape_interval_s = scrape_interval_s
        self.evaluation_interval_s = evaluation_interval_s
        self.for_override = for_override
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "prometheus.log"

    def start(self, timeout_s: float = 30.0) -> LocalPrometheus:
        binary = find_prometheus()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = write_config(
            self.run_dir, self.targets, self.scrape_interval_s, self.evaluation_interval_s, self.for_override
        )
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310 - our http URL
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus was not ready in {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our http URL
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise PrometheusError(f"GET {url}: {error.code} {error.read().decode(errors='replace')}") from error
        if body.get("status") != "success":
            raise PrometheusError(f"GET {url}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) per series."""
        data = self.api("query", query=expr)
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending or firing), as the API returns them."""
        return list(self.api("alerts")["alerts"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run Prometheus on loopback with ccpulse's shipped config and rules until Ctrl-C."
    )
    parser.add_argument("--target", action="append", default=[], help="host:port of a worker's /metrics (repeat)")
    parser.add_argument("--port", type=int, default=9090, help="Prometheus UI/API port (default 9090)")
    parser.add_argument("--run-dir", type=Path, default=Path(".cache/prometheus"), help="config and data folder")
    parser.add_argument("--scrape-interval", type=float, default=5.0, help="seconds between scrapes (default 5)")
    args = parser.parse_args()
    server = LocalPrometheus(
        args.run_dir,
        args.target or ["127.0.0.1:9464"],
        port=args.port,
        scrape_interval_s=args.scrape_interval,
        evaluation_interval_s=args.scrape_interval,
    )
    server.start()
    print(f"prometheus at {server.url} (pid {server.process.pid if server.process else '?'}); Ctrl-C stops it")
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
