"""deploy/kafka/kafkactl.py: the local broker keeps its data across a restart and stops by PID."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.conftest import REPO_ROOT, load_kafkactl
from tests.integration.support import pid_alive


async def _topics(bootstrap: str, create: str | None = None) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(create, 2, 1)])
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_broker_restart_keeps_topics_and_port_and_stop_leaves_no_process(tmp_path: Path) -> None:
    kafkactl = load_kafkactl()
    broker = kafkactl.LocalKafka(run_dir=tmp_path / "kafka", port=0)
    broker.start(fresh=True)
    first_pid, port = broker.running_pid(), broker.port
    try:
        assert "kept" in asyncio.run(_topics(broker.bootstrap, create="kept"))
    finally:
        broker.stop()
    assert not pid_alive(first_pid)

    again = kafkactl.LocalKafka(run_dir=tmp_path / "kafka")
    again.start()
    try:
        assert again.port == port
        assert "kept" in asyncio.run(_topics(again.bootstrap))
    finally:
        again.stop()
    assert again.running_pid() is None


def test_cli_status_reports_a_stopped_broker_with_exit_code_1(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "deploy" / "kafka" / "kafkactl.py"), "status", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "not running" in done.stdout


def test_a_cluster_id_that_starts_with_a_dash_still_formats_and_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kafka's ids are URL-safe base64: one in 64 starts with '-', which a separate argument would turn into an option.
    kafkactl = load_kafkactl()
    monkeypatch.setattr(kafkactl, "_new_cluster_id", lambda: "-AbCdEfGhIjKlMnOpQrStUg")
    broker = kafkactl.LocalKafka(run_dir=tmp_path / "kafka", port=0)
    broker.start(fresh=True)
    try:
        assert "t" in asyncio.run(_topics(broker.bootstrap, create="t"))
    finally:
        broker.stop()
