#!/usr/bin/env python3
"""Run a local single-node Apache Kafka broker (KRaft) from Maven Central jars.

No Docker and no tarball: Maven fetches the official broker artifacts listed in
``pom.xml`` beside this file into a cache folder once, then the broker runs with
plain ``java``. Standard library only, so it works before any virtualenv exists.

Commands::

    kafkactl.py fetch            download the jars (once; later calls are instant)
    kafkactl.py up               fetch, format storage (first time), start, wait until
                                 it accepts connections, print the bootstrap address;
                                 a later `up` keeps topics, offsets and the port
    kafkactl.py down             stop the broker started by `up` (by its PID)
    kafkactl.py status           say whether it runs and where
    kafkactl.py reset            stop it and delete its data

Settings (flags win over environment variables):

    --version / CCPULSE_KAFKA_VERSION   Apache Kafka version (default below)
    --port    / CCPULSE_KAFKA_PORT      client port for a new broker; 0 picks a free one
                                        (default 9092)
    --run-dir / CCPULSE_KAFKA_RUN_DIR   data, logs, PID file (default .cache/kafka/run)
    CCPULSE_KAFKA_CACHE                 jar cache (default .cache/kafka)
    CCPULSE_KAFKA_HEAP                  JVM heap (default 512m)

Python callers (the test-suite fixture, ``make demo``) use :class:`LocalKafka`.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_VERSION = "4.4.0"
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
SERVER_TEMPLATE = HERE / "server.properties"
LOG4J_CONFIG = HERE / "log4j2.properties"
READY_MARKER = ".complete"


class KafkaError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def cache_dir() -> Path:
    return _env_path("CCPULSE_KAFKA_CACHE", REPO_ROOT / ".cache" / "kafka")


def fetch_jars(version: str, *, quiet: bool = False) -> Path:
    """Return the folder holding the broker jars for ``version``, fetching it once."""
    libs = cache_dir() / version / "libs"
    if (libs / READY_MARKER).exists():
        return libs
    if shutil.which("mvn") is None:
        raise KafkaError(
            "Maven ('mvn') is needed once to fetch the Apache Kafka jars; install it "
            "(Debian: apt-get install maven) or point CCPULSE_KAFKA_BOOTSTRAP at an existing cluster"
        )
    if not quiet:
        print(f"kafkactl: fetching Apache Kafka {version} jars from Maven Central into {libs}", file=sys.stderr)
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-Dkafka.version={version}",
        f"-DoutputDirectory={partial}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise KafkaError(
            f"Maven could not fetch Apache Kafka {version} (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    (partial / READY_MARKER).write_text(version + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, no padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def format_arguments(cluster_id: str, config_file: Path, scram_credentials: Sequence[str] = ()) -> list[str]:
    """``kafka-storage format`` options. One token each: a cluster id can start with '-' (1 in 64).

    ``scram_credentials``: SCRAM users created with the cluster (KRaft has no
    ZooKeeper to add them to later without a client), each as
    ``SCRAM-SHA-512=[name=alice,password=secret]``.
    """
    return [
        f"--cluster-id={cluster_id}",
        f"--config={config_file}",
        *(f"--add-scram={credential}" for credential in scram_credentials),
    ]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalKafka:
    """One broker process with its own data directory.

    ``start()`` returns once the client port accepts connections and the broker
    answers metadata requests; ``stop()`` sends SIGTERM to the recorded PID and
    escalates to SIGKILL after ``stop_timeout_s``.
    """

    run_dir: Path
    version: str = DEFAULT_VERSION
    port: int = 0
    heap: str = "512m"
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0
    # More listeners beside PLAINTEXT, name -> (security protocol, port), e.g. {"SASL_SSL":
    # ("SASL_SSL", 9094)}, with the broker properties they need (keystores, SASL mechanisms,
    # client auth) and SCRAM users to create when the storage is formatted.
    extra_listeners: dict[str, tuple[str, int]] = field(default_factory=dict)
    extra_properties: dict[str, str] = field(default_factory=dict)
    scram_credentials: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).resolve()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaError("Java 17+ ('java') is needed to run the local Kafka broker")
        return [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    @property
    def config_file(self) -> Path:
        return self.run_dir / "server.properties"

    def _formatted(self) -> bool:
        return (self.run_dir / "data" / "meta.properties").exists() and self.config_file.exists()

    def _configured_port(self) -> int:
        for line in self.config_file.read_text().splitlines():
            if line.startswith("advertised.listeners="):
                plaintext = line.split("=", 1)[1].split(",")[0]
                return int(plaintext.rsplit(":", 1)[1])
        raise KafkaError(f"{self.config_file} has no advertised.listeners; run `kafkactl.py reset`")

    def _write_config(self) -> None:
        controller_port = free_port()
        while controller_port == self.port:
            controller_port = free_port()
        text = (
            SERVER_TEMPLATE.read_text()
            .replace("@PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(controller_port))
            .replace("@DATA_DIR@", str(self.run_dir / "data"))
        )
        self.config_file.write_text(self._with_extras(text))

    def _with_extras(self, text: str) -> str:
        """``text`` with the extra listeners added to the listener lines, and the extra properties."""
        extra = {
            "listeners": [f"{name}://127.0.0.1:{port}" for name, (_, port) in self.extra_listeners.items()],
            "advertised.listeners": [f"{name}://127.0.0.1:{port}" for name, (_, port) in self.extra_listeners.items()],
            "listener.security.protocol.map": [
                f"{name}:{protocol}" for name, (protocol, _) in self.extra_listeners.items()
            ],
        }
        lines = [",".join([line, *extra.get(line.split("=", 1)[0], [])]) for line in text.splitlines()]
        lines += [f"{key}={value}" for key, value in self.extra_properties.items()]
        return "\n".join(lines) + "\n"

    def _format(self, libs: Path) -> None:
        shutil.rmtree(self.run_dir / "data", ignore_errors=True)
        self._write_config()
        fmt = subprocess.run(
            self._java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                *format_arguments(_new_cluster_id(), self.config_file, self.scram_credentials),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise KafkaError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")

    def start(self, *, fresh: bool = False) -> LocalKafka:
        """Start the broker; keep earlier data and ports unless ``fresh`` or none exist."""
        existing = self.running_pid()
        if existing is not None:
            self.port = self._configured_port()
            return self
        libs = fetch_jars(self.version)
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        if fresh or not self._formatted():
            if self.port == 0:
                self.port = free_port()
            self._check_port_free()
            self._format(libs)
        else:
            # A restart keeps topics and offsets, so it must keep the ports the
            # metadata log and the clients already know.
            self.port = self._configured_port()
            self._check_port_free()
        self.log_file.unlink(missing_ok=True)
        stdout = open(self.run_dir / "logs" / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self._process = subprocess.Popen(
            self._java(libs, "kafka.Kafka", str(self.config_file)),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches our stop(), not the JVM directly
        )
        stdout.close()
        self.pid_file.write_text(f"{self._process.pid}\n")
        self._wait_ready()
        return self

    def _check_port_free(self) -> None:
        if port_accepts(self.port):
            raise KafkaError(
                f"port {self.port} is already in use; stop what listens there or choose "
                "another with --port / CCPULSE_KAFKA_PORT (0 picks a free port)"
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise KafkaError(
                    f"Kafka exited with code {self._process.returncode} while starting; "
                    f"see {self.log_file} and {self.run_dir / 'logs' / 'stdout.log'}"
                )
            if port_accepts(self.port) and self._log_says_started():
                return
            time.sleep(0.1)
        self.stop()
        raise KafkaError(f"Kafka did not start within {self.start_timeout_s:.0f} s; see {self.log_file}")

    def _log_says_started(self) -> bool:
        try:
            return "Kafka Server started" in self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return False

    def stop(self) -> None:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        while time.monotonic() < deadline and _pid_alive(pid):
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.1)
        if _pid_alive(pid) and (self._process is None or self._process.poll() is None):
            os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _from_args(args: argparse.Namespace) -> LocalKafka:
    return LocalKafka(
        run_dir=args.run_dir,
        version=args.version,
        port=args.port,
        heap=os.environ.get("CCPULSE_KAFKA_HEAP", "512m"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kafkactl.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  kafkactl.py up --port 9092\n  kafkactl.py down",
    )
    parser.add_argument("command", choices=["fetch", "up", "down", "status", "reset"])
    parser.add_argument("--version", default=os.environ.get("CCPULSE_KAFKA_VERSION", DEFAULT_VERSION))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CCPULSE_KAFKA_PORT", "9092")))
    parser.add_argument("--run-dir", type=Path, default=_env_path("CCPULSE_KAFKA_RUN_DIR", cache_dir() / "run"))
    args = parser.parse_args(argv)
    kafka = _from_args(args)
    try:
        if args.command == "fetch":
            print(fetch_jars(args.version))
        elif args.command == "up":
            started = time.monotonic()
            already = kafka.running_pid()
            kafka.start()
            how = "already running" if already else f"started in {time.monotonic() - started:.1f} s"
            print(f"Apache Kafka {args.version} {how}: bootstrap {kafka.bootstrap} (pid {kafka.running_pid()})")
            print(f"logs: {kafka.log_file}")
        elif args.command == "down":
            pid = kafka.running_pid()
            kafka.stop()
            print(f"stopped Kafka (pid {pid})" if pid else "Kafka was not running")
        elif args.command == "status":
            pid = kafka.running_pid()
            if pid is None:
                print("Kafka is not running")
                return 1
            print(f"Kafka running: pid {pid}, bootstrap 127.0.0.1:{kafka._configured_port()}")
        elif args.command == "reset":
            kafka.stop()
            shutil.rmtree(kafka.run_dir, ignore_errors=True)
            print(f"removed {kafka.run_dir}")
    except KafkaError as exc:
        print(f"kafkactl: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
