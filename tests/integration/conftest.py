"""Fixtures for integration tests: a real Apache Kafka broker and real worker processes.

The broker is started once per test session from deploy/kafka (Maven-fetched
jars, KRaft, loopback, a free port) and stopped by PID at the end. Set
CCPULSE_KAFKA_BOOTSTRAP to run against an existing cluster instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration.support import WorkerProcess, unique_names

REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


def load_deploy_module(name: str, relative_path: str) -> ModuleType:
    """A script under deploy/ (not part of the package), imported by path."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "deploy" / relative_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def load_kafkactl() -> ModuleType:
    return load_deploy_module("kafkactl", "kafka/kafkactl.py")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("CCPULSE_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    kafkactl = load_kafkactl()
    broker = kafkactl.LocalKafka(run_dir=tmp_path_factory.mktemp("kafka"), port=0)
    broker.start(fresh=True)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_names() -> dict[str, str]:
    return unique_names()


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, topic_names: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``ccpulse worker`` processes for this test; all are stopped at teardown.

    When the test fails, every worker's recent log (without debug lines) is
    printed, so a failure on CI shows what each worker was doing.
    """
    started: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        worker = WorkerProcess(
            bootstrap=kafka_bootstrap,
            names=topic_names,
            data_dir=tmp_path / f"worker-{len(started)}",
            extra_env=extra_env,
        )
        started.append(worker.start())
        return worker

    yield start
    call_report = getattr(request.node, "report_call", None)
    if call_report is not None and call_report.failed:
        for worker in started:
            print(worker.diagnosis())
    for worker in started:
        if worker.process is not None and worker.process.poll() is None:
            worker.stop()
