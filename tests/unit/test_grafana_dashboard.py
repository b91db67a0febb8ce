"""The Grafana wallboard in deploy/grafana/ against its generator, the metric catalog and the rules.

The dashboard JSON is written by tools/build_grafana_dashboard.py; the committed
file must be what the generator produces now. Every query may use only sample
names the worker exports (ccpulse.telemetry.catalog) and recording rules defined
in deploy/prometheus/rules/, and only template variables the dashboard defines.
To accept an intended change: python tools/build_grafana_dashboard.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ccpulse.telemetry.catalog import BY_NAME, sample_names

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "build_grafana_dashboard.py"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "ccpulse-wallboard.json"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "ccpulse-prometheus.yml"
PROVIDERS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "ccpulse.yml"

METRIC_NAME = re.compile(r"(?<![A-Za-z0-9_:])(ccpulse_[a-z0-9_]+|ccpulse:[a-z0-9_:]+)")
SELECTOR = re.compile(r"(?<![A-Za-z0-9_:])(ccpulse_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")

WINDOWS = {"interval_15m", "rolling_5m", "rolling_15m", "rolling_60m", "today"}
#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_grafana_dashboard", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in (collapsed) rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and query variables."""
    exprs = [target["expr"] for panel in query_panels(dashboard) for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"])
            exprs.append(variable["query"]["query"])
    return exprs


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def datasource_uids(node: Any) -> Iterator[str]:
    """The uid of every ``datasource`` reference in the dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value["uid"]
            else:
                yield from datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_uids(value)


def recording_rule_names() -> set[str]:
    files = sorted(RULES_DIR.glob("*.yml"))
    assert files, f"no Prometheus rule files in {RULES_DIR}"
    names: set[str] = set()
    for path in files:
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).get("groups") or []:
            names.update(rule["record"] for rule in group.get("rules") or [] if "record" in rule)
    return names


# -- the file is what the generator writes -----------------------------------------------------


def test_committed_dashboard_is_what_the_generator_writes(generator: ModuleType) -> None:
    expected = generator.render(generator.build_dashboard())
    assert DASHBOARD.read_text(encoding="utf-8") == expected, "stale: run python tools/build_grafana_dashboard.py"
    assert expected.endswith("}\n")
    assert generator.render(generator.build_dashboard()) == expected  # deterministic


def test_check_option_fails_on_a_stale_file_and_passes_after_writing(generator: ModuleType, tmp_path: Path) -> None:
    output = tmp_path / "dashboard.json"
    assert generator.main(["--check", "--output", str(output)]) == 1  # missing
    output.write_text("{}\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(output)]) == 1  # stale
    assert generator.main(["--output", str(output)]) == 0
    assert generator.main(["--check", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == DASHBOARD.read_text(encoding="utf-8")


# -- dashboard settings and layout ------------------------------------------------------------


def test_dashboard_settings(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "ccpulse-wallboard"
    assert dashboard["title"] == "ccpulse wallboard"
    assert dashboard["refresh"] == "5s"
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    queue = variables["queue"]
    assert queue["type"] == "query"
    assert queue["definition"] == "label_values(ccpulse_contacts_offered, queue)"
    assert queue["multi"] is True
    assert queue["includeAll"] is True
    for name, values in (("threshold", "20,30,60"), ("formula", "offered,answered,ignore_early_abandons,abandons_met")):
        assert variables[name]["type"] == "custom"
        assert variables[name]["query"] == values
        assert variables[name]["current"]["value"] == values.split(",")[0]


def test_one_row_repeats_per_queue_and_a_trends_row_follows(dashboard: dict[str, Any]) -> None:
    rows = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    assert [row.get("repeat") for row in rows] == ["queue", None]
    assert "$queue" in rows[0]["title"]
    repeated = [panel for panel in dashboard["panels"] if rows[0]["gridPos"]["y"] < panel["gridPos"]["y"]]
    repeated = [panel for panel in repeated if panel["gridPos"]["y"] < rows[1]["gridPos"]["y"]]
    for panel in repeated:
        assert panel["type"] == "stat"
        for target in panel["targets"]:
            assert 'queue="$queue"' in target["expr"], panel["title"]
    titles = [panel["title"] for panel in repeated]
    for title in ("Waiting now", "Oldest wait", "Service level today", "Staffing gap (Erlang C)", "Open tickets"):
        assert title in titles


def test_every_panel_has_a_unique_id_a_place_a_datasource_and_queries(dashboard: dict[str, Any]) -> None:
    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), ids
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
    for panel in query_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == panel["datasource"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard):
        pos = panel["gridPos"]
        assert pos["x"] >= 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


# -- queries ---------------------------------------------------------------------------------


def test_every_metric_in_a_query_is_exported_or_a_recording_rule(dashboard: dict[str, Any]) -> None:
    known = sample_names() | recording_rule_names()
    used = {name for expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert used, "no metric names found"
    assert used - known == set()


def test_recording_rules_the_dashboard_relies_on_are_defined() -> None:
    expected = {
        "ccpulse:service_level:ratio",
        "ccpulse:abandonment:ratio",
        "ccpulse:asa:seconds",
        "ccpulse:aht:seconds",
        "ccpulse:waiting_contacts:sum",
        "ccpulse:oldest_wait_seconds:max",
        "ccpulse:agents:sum",
        "ccpulse:queue_wait_seconds:p90_15m",
    }
    assert expected <= recording_rule_names()


def test_selectors_on_exported_metrics_use_their_labels(dashboard: dict[str, Any]) -> None:
    by_sample = {sample: spec for spec in BY_NAME.values() for sample in spec.sample_names()}
    for expr in expressions(dashboard):
        for name, matchers in SELECTOR.findall(expr):
            labels = {label for label, _, _ in MATCHER.findall(matchers)}
            extra = {"le"} if name.endswith("_bucket") else set()
            assert labels <= {*by_sample[name].labels, *TARGET_LABELS, *extra}, expr


def test_window_values_are_windows_the_worker_exports(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        for label, operator, value in MATCHER.findall(expr):
            if label == "window":
                assert operator == "="
                assert value in WINDOWS, expr


def test_ratios_come_from_recording_rules_not_averages(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        assert "avg" not in expr, expr
        assert "_ratio{" not in expr, f"raw per-worker ratio: {expr}"


def test_service_level_queries_follow_the_threshold_and_formula_variables(dashboard: dict[str, Any]) -> None:
    service_level = [expr for expr in expressions(dashboard) if "service_level" in expr]
    assert service_level
    for expr in service_level:
        assert 'threshold="$threshold"' in expr
        assert 'formula="$formula"' in expr


def test_every_variable_referenced_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    referenced = {
        braced or bare
        for text in strings(dashboard["panels"])
        for braced, bare in VARIABLE.findall(text)
        if not (braced or bare).startswith("__")  # Grafana's own: $__interval, $__all, ...
    }
    assert referenced, "no variables referenced"
    assert referenced <= defined
    assert {"datasource", "queue", "threshold", "formula"} <= referenced


def test_promtool_parses_every_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package 'prometheus')")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    values = {"queue": "sales", "threshold": "20", "formula": "offered", "datasource": "x"}
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for number, expr in enumerate(expressions(dashboard)):
        if expr.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        promql = VARIABLE.sub(lambda found: values[found.group(1) or found.group(2)], expr)
        lines += [f"      - record: dashboard:query_{number}", f"        expr: {json.dumps(promql)}"]
    rules = tmp_path / "dashboard.yml"
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


# -- provisioning ----------------------------------------------------------------------------


def test_provisioning_files_parse() -> None:
    datasources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "ccpulse-prometheus"
    assert source["url"] == "http://127.0.0.1:9090"
    providers = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/ccpulse"


def test_provisioning_matches_the_dashboard(dashboard: dict[str, Any]) -> None:
    [source] = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    uid = source["uid"]
    # The datasource variable preselects the provisioned datasource, and any datasource named
    # by uid rather than through the variable is that one.
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == uid
    assert variable["current"]["text"] == source["name"]
    assert set(datasource_uids(dashboard)) <= {uid, "${datasource}"}
