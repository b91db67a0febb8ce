"""`make demo`: a local Kafka broker, one ccpulse worker, the simulator and the wallboard, wired together.

Starts each process, prints where to look, then every few seconds a small
table of today's KPIs per queue and channel read from the worker's /metrics. Ctrl-C (or
``--duration``) stops the wallboard, the simulator, the worker and the broker, in that order,
each by its PID. Everything lives under .cache/demo (``--state-dir``) and starts fresh each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE / "kafka"))
sys.path.insert(0, str(HERE / "prometheus"))
import kafkactl  # noqa: E402 - lives beside this script, not in the package
import promctl  # noqa: E402 - likewise

DEFAULT_STATE_DIR = REPO_ROOT / ".cache" / "demo"
CCPULSE = Path(sys.executable).with_name("ccpulse")


def _stop(process: subprocess.Popen[bytes] | None, name: str, timeout_s: float = 20.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(f"demo: {name} (pid {process.pid}) ignored SIGTERM for {timeout_s:.0f} s; killing it")
        process.kill()
        process.wait()
    print(f"demo: stopped {name} (pid {process.pid})")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# Columns of the table: (heading, metric, extra labels); windowed KPIs are read for the window "today".
WINDOW = "today"
SL_THRESHOLD = "20"
COLUMNS = (
    ("offered", "ccpulse_contacts_offered", {"window": WINDOW}),
    ("answered", "ccpulse_contacts_answered", {"window": WINDOW}),
    ("abandoned", "ccpulse_contacts_abandoned", {"window": WINDOW}),
    ("SL 20 s", "ccpulse_service_level_ratio", {"window": WINDOW, "threshold": SL_THRESHOLD, "formula": "offered"}),
    ("ASA", "ccpulse_asa_seconds", {"window": WINDOW}),
    ("waiting", "ccpulse_waiting_contacts", {}),
)


def _scrape(url: str) -> dict[tuple[str, str], dict[str, float]] | None:
    """Per (queue, channel): the value of each column found; channel "all" is left out."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            channel = sample.labels.get("channel")
            if channel is None or channel == "all":
                continue
            for heading, name, labels in COLUMNS:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    table[(sample.labels["queue"], channel)][heading] = sample.value
    return table


def _print_table(table: dict[tuple[str, str], dict[str, float]], elapsed_s: float) -> None:
    print(f"\n  after {elapsed_s:.0f} s today    offered  answered  abandoned  SL 20 s     ASA  waiting")
    for (queue, channel), values in sorted(table.items()):
        counts = [int(values.get(name, 0)) for name in ("offered", "answered", "abandoned", "waiting")]
        level = values.get("SL 20 s")
        asa = values.get("ASA")
        sl_text = "-" if level is None else f"{level:.1%}"
        asa_text = "-" if asa is None else f"{asa:.1f} s"
        print(
            f"  {queue + '/' + channel:20} {counts[0]:8} {counts[1]:9} {counts[2]:10} {sl_text:>8} {asa_text:>7}"
            f" {counts[3]:8}"
        )


def _local_zone() -> str:
    """This machine's IANA zone (for the simulator's day profile), UTC if it cannot be told."""
    zone = os.environ.get("TZ", "").lstrip(":")
    if not zone:
        try:
            zone = Path("/etc/timezone").read_text().strip()
        except OSError:
            link = Path("/etc/localtime")
            zone = str(link.resolve()).split("zoneinfo/", 1)[1] if link.is_symlink() else ""
    return zone or "UTC"


def _start_prometheus(args: argparse.Namespace, state_dir: Path, metrics_port: int) -> promctl.LocalPrometheus | None:
    """Prometheus with the shipped config and rules, scraping the worker, if it is installed."""
    if args.no_prometheus:
        return None
    if shutil.which("prometheus") is None:
        print("demo: Prometheus not installed (apt-get install prometheus); skipping alerts and recording rules")
        return None
    port = args.prometheus_port
    if port == 0 or kafkactl.port_accepts(port):
        port = kafkactl.free_port()
    server = promctl.LocalPrometheus(
        state_dir / "prometheus", [f"127.0.0.1:{metrics_port}"], port=port, scrape_interval_s=5, evaluation_interval_s=5
    )
    try:
        server.start()
    except promctl.PrometheusError as exc:
        print(f"demo: Prometheus did not start, going on without it: {exc}", file=sys.stderr)
        return None
    print(f"demo: Prometheus at {server.url} (pid {server.process.pid if server.process else '?'}); "
          f"alerts at {server.url}/alerts, rules at {server.url}/rules")  # fmt: skip
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: until Ctrl-C)")
    parser.add_argument("--rate", type=float, default=2.0, help="simulated new contacts per second (day profile 1.0)")
    parser.add_argument("--staffing", type=float, default=0.9, help="simulated staffing against the plan")
    parser.add_argument("--speed", type=float, default=1.0, help="simulation time acceleration")
    parser.add_argument("--metrics-port", type=int, default=9464, help="worker /metrics port (0: any free port)")
    parser.add_argument("--wallboard-port", type=int, default=8090, help="wallboard page port (0: any free port)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between printed tables")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="broker data, worker state, logs")
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=9090,
        help="Prometheus UI port when Debian's prometheus is installed (0: any free port)",
    )
    parser.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus even if installed")
    args = parser.parse_args()
    state_dir: Path = args.state_dir.resolve()

    if not CCPULSE.exists():
        print(f"demo: {CCPULSE} not found; run `make setup` first", file=sys.stderr)
        return 2
    metrics_port = args.metrics_port
    if metrics_port == 0 or kafkactl.port_accepts(metrics_port):
        metrics_port = kafkactl.free_port()
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)

    broker = kafkactl.LocalKafka(run_dir=state_dir / "kafka", port=0)
    worker: subprocess.Popen[bytes] | None = None
    simulator: subprocess.Popen[bytes] | None = None
    wallboard: subprocess.Popen[bytes] | None = None
    prometheus: promctl.LocalPrometheus | None = None
    # SIGTERM (e.g. from a supervisor) gets the same clean shutdown as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = time.monotonic()
        broker.start(fresh=True)
        print(f"demo: Apache Kafka {broker.version} up at {broker.bootstrap} in {time.monotonic() - started:.1f} s")
        env = {
            **os.environ,
            "CCPULSE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CCPULSE_METRICS_HOST": "127.0.0.1",
            "CCPULSE_METRICS_PORT": str(metrics_port),
            "CCPULSE_DATA_DIR": str(state_dir / "worker"),
            "CCPULSE_LOG_LEVEL": "warn",
        }
        worker_log = (state_dir / "worker.log").open("wb")
        # Own sessions: Ctrl-C reaches only this script, which then stops the children in order.
        worker = subprocess.Popen(
            [str(CCPULSE), "worker"], env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True
        )
        zone = _local_zone()
        # A mixed stream on the day profile of this machine's zone, staffed a little short of the
        # plan, so agent states, occupancy, staffing gaps and (at busy hours) alerts all show.
        sim_command = [
            str(CCPULSE), "simulate", "--rate", str(args.rate), "--speed", str(args.speed),
            "--mixed", "--profile", "day", "--time-zone", zone, "--staffing", str(args.staffing),
        ]  # fmt: skip
        print(
            f"demo: simulating {args.rate:g} contacts/s at the day profile's peak ({zone}), staffing x{args.staffing:g}"
        )
        simulator = subprocess.Popen(
            sim_command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        print(f"demo: worker pid {worker.pid} (log {state_dir / 'worker.log'}), simulator pid {simulator.pid}")
        print(f"demo: metrics at {url}")
        print(f"demo: try   curl -s {url} | grep -E '^ccpulse_(contacts_offered|waiting_contacts)'")
        wallboard_port = args.wallboard_port
        if wallboard_port == 0 or kafkactl.port_accepts(wallboard_port):
            wallboard_port = kafkactl.free_port()
        wallboard = subprocess.Popen(
            [str(CCPULSE), "wallboard", "--port", str(wallboard_port), "--title", "ccpulse demo wallboard"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(state_dir / "wallboard.log").open("wb"),
            start_new_session=True,
        )
        print(f"demo: wallboard at http://127.0.0.1:{wallboard_port}/ (pid {wallboard.pid}; one team's TV: "
              f"http://127.0.0.1:{wallboard_port}/?queues=sales,support)")  # fmt: skip
        prometheus = _start_prometheus(args, state_dir, metrics_port)
        print("demo: Ctrl-C stops everything")
        next_table = time.monotonic() + args.every
        while not args.duration or time.monotonic() - started < args.duration:
            time.sleep(0.5)
            for process, name in ((worker, "worker"), (simulator, "simulator"), (wallboard, "wallboard")):
                if process.poll() is not None:
                    print(f"demo: the {name} exited with code {process.returncode}; see {state_dir}", file=sys.stderr)
                    return 1
            if time.monotonic() >= next_table:
                next_table += args.every
                table = _scrape(url)
                if table:
                    _print_table(table, time.monotonic() - started)
                else:
                    print("demo: waiting for the worker's first KPIs ...")
    except KeyboardInterrupt:
        print("\ndemo: stopping")
    except kafkactl.KafkaError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stop(wallboard, "wallboard")
        _stop(simulator, "simulator")
        _stop(worker, "worker")
        if prometheus is not None and prometheus.process is not None:
            prometheus.stop()
            print(f"demo: stopped Prometheus (pid {prometheus.process.pid})")
        pid = broker.running_pid()
        broker.stop()
        if pid:
            print(f"demo: stopped Kafka (pid {pid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
