"""The Prometheus files in deploy/prometheus: scrape config, recording rules, alerts and their unit tests.

promtool (Debian package ``prometheus``; CI installs it) validates the config
and the rule files and runs the rule unit tests in deploy/prometheus/tests.
The tests here add what promtool does not check: every alert has a severity
and the annotations an operator needs, every alert has a firing and a quiet
case in the unit tests, and every metric a rule or a unit test names is one a
worker exports (``ccpulse.telemetry.catalog``) or a recording rule.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccpulse.telemetry.catalog import BY_NAME, MetricKind, sample_names

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
RULES = PROMETHEUS / "rules"
RECORDING = RULES / "ccpulse-recording.yml"
ALERTS = RULES / "ccpulse-alerts.yml"
RULE_FILES = sorted(RULES.glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))

# Dashboards, alerts and other teams' rules depend on these names.
RECORDS = {
    "ccpulse:service_level:ratio",
    "ccpulse:service_level_all_queues:ratio",
    "ccpulse:abandonment:ratio",
    "ccpulse:asa:seconds",
    "ccpulse:aht:seconds",
    "ccpulse:contacts_offered:sum",
    "ccpulse:waiting_contacts:sum",
    "ccpulse:oldest_wait_seconds:max",
    "ccpulse:agents:sum",
    "ccpulse:queue_wait_seconds:p90_15m",
}
ALERT_NAMES = {
    "CcpulseServiceLevelBelowTarget",
    "CcpulseAbandonmentHigh",
    "CcpulseOldestWaitHigh",
    "CcpulseCallersWaitingNoAgentAvailable",
    "CcpulseStaffingGap",
    "CcpulseKpiStale",
    "CcpulseWorkerNotReady",
    "CcpulseWorkerDown",
    "CcpulseWorkersAbsent",
    "CcpulseInputRejected",
}
SEVERITIES = {"page", "ticket"}
ANNOTATIONS = ("summary", "description", "runbook")

#: Series Prometheus makes itself for every target; the rules may read them.
PROMETHEUS_SERIES = {"up"}
#: Target labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

METRIC = re.compile(r"(?<![\w:])ccpulse_[a-z0-9_]+")
RECORD = re.compile(r"(?<![\w:])ccpulse:[a-z0-9_:]+")
UP = re.compile(r"(?<![\w:])up\b(?!\s*\()(\s*\{[^}]*\})?")
SERIES = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
LABEL_NAME = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"')


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in _load(path)["groups"] for rule in group["rules"]]


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _promtool(*args: str, cwd: Path = REPO) -> None:
    """Run promtool; a missing promtool fails the test (it is not optional: CI installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found on PATH: install Debian's 'prometheus' package "
            "(apt-get install prometheus), which provides it; CI installs it"
        )
    done = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    output = f"$ promtool {' '.join(args)}  (in {cwd})\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, output


def test_the_expected_files_exist() -> None:
    assert CONFIG.is_file()
    assert RULE_FILES == [ALERTS, RECORDING]
    assert TEST_FILES, "no promtool rule tests in deploy/prometheus/tests"


def test_promtool_accepts_the_scrape_config() -> None:
    # Also loads rule_files (rules/*.yml, relative to the config) and checks them.
    _promtool("check", "config", "--lint-fatal", _rel(CONFIG))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda path: path.name)
def test_promtool_accepts_the_rule_file(rule_file: Path) -> None:
    _promtool("check", "rules", "--lint-fatal", _rel(rule_file))


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_promtool_rule_unit_tests_pass(test_file: Path) -> None:
    # As documented: from the repo root, with the path relative to it.
    _promtool("test", "rules", _rel(test_file))


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_promtool_rule_unit_tests_pass_from_another_directory(test_file: Path, tmp_path: Path) -> None:
    # rule_files in a test file are relative to the test file, not to the working directory.
    _promtool("test", "rules", str(test_file), cwd=tmp_path)


def test_the_recording_rules_are_the_published_names() -> None:
    groups = _load(RECORDING)["groups"]
    assert [group["name"] for group in groups] == ["ccpulse-recording"]
    records = [rule["record"] for rule in _rules(RECORDING)]
    assert len(records) == len(set(records)), records
    assert set(records) == RECORDS


def test_the_alerts_are_the_documented_names() -> None:
    groups = _load(ALERTS)["groups"]
    assert [group["name"] for group in groups] == ["ccpulse-alerts"]
    alerts = [rule["alert"] for rule in _rules(ALERTS)]
    assert len(alerts) == len(set(alerts)), alerts
    assert set(alerts) == ALERT_NAMES


def test_every_alert_has_a_severity_summary_description_and_runbook() -> None:
    problems = []
    for rule in _rules(ALERTS):
        name = rule.get("alert") or rule.get("record")
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r}, expected one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations") or {}
        problems.extend(
            f"{name}: no {key} annotation"
            for key in ANNOTATIONS
            if not isinstance(annotations.get(key), str) or not annotations[key].strip()
        )
    assert not problems, "\n".join(problems)


def test_every_alert_fires_in_a_unit_test_and_stays_quiet_in_another() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    problems = []
    for test_file in TEST_FILES:
        for case in _load(test_file).get("tests") or []:
            for check in case.get("alert_rule_test") or []:
                expected = check.get("exp_alerts") or []
                (firing if expected else quiet).add(check["alertname"])
                problems.extend(
                    f"{test_file.name}: {check['alertname']} at {check['eval_time']}: summary not checked"
                    for alert in expected
                    if "summary" not in (alert.get("exp_annotations") or {})
                )
    alerts = {rule["alert"] for rule in _rules(ALERTS)}
    problems.extend(f"{name}: no unit test where it fires" for name in sorted(alerts - firing))
    problems.extend(f"{name}: no unit test where it does not fire" for name in sorted(alerts - quiet))
    problems.extend(f"{name}: tested but not an alert in {ALERTS.name}" for name in sorted((firing | quiet) - alerts))
    assert not problems, "\n".join(problems)


def test_every_metric_the_rules_read_is_exported_or_recorded() -> None:
    exported = sample_names()
    recorded = {rule["record"] for rule in _rules(RECORDING)}
    problems = []
    seen: set[str] = set()
    for path in RULE_FILES:
        for rule in _rules(path):
            name = rule.get("alert") or rule.get("record")
            # The annotations too: a runbook or a template query that names a metric must name a real one.
            texts = [rule["expr"], *(rule.get("annotations") or {}).values()]
            for text in map(str, texts):
                for metric in METRIC.findall(text):
                    seen.add(metric)
                    if metric not in exported:
                        problems.append(f"{path.name}: {name}: {metric} is not in the metric catalog")
                for record in RECORD.findall(text):
                    seen.add(record)
                    if record not in recorded:
                        problems.append(f"{path.name}: {name}: {record} is not a recording rule")
            for match in UP.finditer(str(rule["expr"])):
                seen.add("up")
                if 'job="ccpulse"' not in (match.group(1) or ""):
                    problems.append(f'{path.name}: {name}: {match.group(0)!r} is not limited to job="ccpulse"')
    assert not problems, "\n".join(problems)
    # The check above is not vacuous: the rules read exported series, recordings and `up`.
    assert seen & exported
    assert seen & recorded
    assert seen >= PROMETHEUS_SERIES


def _family(sample: str) -> tuple[str, set[str]]:
    """The catalog family of a sample name, and the labels its kind adds (``le`` for buckets)."""
    if sample in BY_NAME:
        return sample, set()
    for suffix, kind, extra in (
        ("_total", MetricKind.COUNTER, set()),
        ("_bucket", MetricKind.HISTOGRAM, {"le"}),
        ("_sum", MetricKind.HISTOGRAM, set()),
        ("_count", MetricKind.HISTOGRAM, set()),
    ):
        family = sample.removesuffix(suffix)
        if family != sample and family in BY_NAME and BY_NAME[family].kind is kind:
            return family, extra
    raise KeyError(sample)


def test_unit_test_input_series_look_like_the_real_exposition() -> None:
    problems = []
    for test_file in TEST_FILES:
        for case in _load(test_file).get("tests") or []:
            for series in case.get("input_series") or []:
                match = SERIES.match(series["series"])
                if match is None:
                    problems.append(f"{test_file.name}: cannot read series {series['series']!r}")
                    continue
                sample, labels = match.group(1), set(LABEL_NAME.findall(match.group(2) or ""))
                where = f"{test_file.name}: {case['name']}: {sample}"
                if sample in PROMETHEUS_SERIES:
                    continue
                try:
                    family, extra = _family(sample)
                except KeyError:
                    problems.append(f"{where}: not a sample name in the metric catalog")
                    continue
                if not TARGET_LABELS.issubset(labels):
                    problems.append(f"{where}: without the target labels {sorted(TARGET_LABELS)}")
                expected = set(BY_NAME[family].labels) | extra
                if labels - TARGET_LABELS != expected:
                    problems.append(f"{where}: labels {sorted(labels - TARGET_LABELS)}, exported {sorted(expected)}")
    assert not problems, "\n".join(problems)
