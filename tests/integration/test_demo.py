"""`make demo` as a user sees it: processes start, per-queue counters rise, everything stops."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.support import pid_alive

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_shows_rising_counters_and_stops_everything_it_started(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "deploy" / "demo.py"),
            "--duration", "35", "--every", "4", "--rate", "10", "--speed", "4",
            "--metrics-port", "0", "--prometheus-port", "0", "--wallboard-port", "0",
            "--state-dir", str(tmp_path / "demo"),
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"metrics at http://127\.0\.0\.1:\d+/metrics", output)
    assert re.search(r"wallboard at http://127\.0\.0\.1:\d+/ ", output), output

    # Each table row: "  queue/channel  offered answered abandoned SL ASA waiting"; sum offered per table.
    totals = [
        sum(int(row) for row in re.findall(r"^  \S+/\S+\s+(\d+)\s+\d+\s+\d+\s", table, re.MULTILINE))
        for table in output.split("after ")[1:]
    ]
    assert len(totals) >= 2, output
    assert totals[-1] > totals[0] > 0, output

    with_prometheus = shutil.which("prometheus") is not None
    if with_prometheus:
        assert re.search(r"Prometheus at http://127\.0\.0\.1:\d+ ", output), output
    pids = [int(pid) for pid in re.findall(r"stopped \w+(?: \w+)? \(pid (\d+)\)", output)]
    # wallboard, simulator, worker, Prometheus, Kafka
    assert len(pids) == (5 if with_prometheus else 4), output
    assert not any(pid_alive(pid) for pid in pids)
