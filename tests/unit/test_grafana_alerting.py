"""Grafana-managed alerting (deploy/grafana/provisioning/alerting/) against its generator, the rules and the teams.

tools/build_grafana_alerting.py writes rules.yaml, contact-points.yaml,
policies.yaml and templates.yaml from deploy/prometheus/rules/ccpulse-alerts.yml,
deploy/alerting/teams.yaml and deploy/alerting/ccpulse.tmpl; the committed
files must be what it writes now. Every Grafana rule is one Prometheus alert
(same name, expression, ``for`` and labels), every metric a rule reads is in the
worker's catalog or a recording rule, every policy ends at a contact point that
exists and every contact point and team is used. Grafana itself does not run
here: the policy tree is routed with amtool (Grafana uses Alertmanager's
routing), and the templates are rendered with it (they are written to the
subset both engines share). To accept an intended change:
python tools/build_grafana_alerting.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ccpulse.telemetry.catalog import sample_names
from tests.unit.test_alertmanager_example import (
    ON_CALL,
    OPERATORS,
    amtool_path,
    check_firing_and_resolved_text,
    check_routing,
    prometheus_alerts,
    routed_to,
)
from tests.unit.test_grafana_dashboard import METRIC_NAME, recording_rule_names
from tests.unit.tool_modules import load_module

ROOT = Path(__file__).resolve().parents[2]
ALERTING = ROOT / "deploy" / "grafana" / "provisioning" / "alerting"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "ccpulse-prometheus.yml"
DASHBOARD_PROVIDERS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "ccpulse.yml"
TEAMS = ROOT / "deploy" / "alerting" / "teams.yaml"
ALERTMANAGER_TEMPLATE = ROOT / "deploy" / "alertmanager" / "templates" / "ccpulse.tmpl"
OPERATIONS = ROOT / "docs" / "operations.md"
FILES = ("rules.yaml", "contact-points.yaml", "policies.yaml", "templates.yaml")

#: The alerts that compare a ratio, with the guard that keeps a quiet queue from paging.
GUARDED = ("CcpulseServiceLevelBelowTarget", "CcpulseAbandonmentHigh")
VOLUME_GUARD = re.compile(
    r'\)\s*and on \(queue\)\s*\(\s*ccpulse:contacts_offered:sum\{window="rolling_15m", channel="all"\} >= 10\s*\)\s*$'
)
#: PromQL words that are not series names.
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan",
}  # fmt: skip
#: Series Prometheus makes for every target.
PROMETHEUS_SERIES = {"up"}
ENV_SECRET = re.compile(r"\$__env\{CCPULSE_ALERTING_[A-Z0-9_]+\}")
DURATION = re.compile(r"^(\d+)([smh])$")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_module("build_grafana_alerting", ROOT / "tools" / "build_grafana_alerting.py")


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    (group,) = load(ALERTING / "rules.yaml")["groups"]
    found: list[dict[str, Any]] = group["rules"]
    return found


@pytest.fixture(scope="module")
def contact_points() -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = load(ALERTING / "contact-points.yaml")["contactPoints"]
    return points


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    (root,) = load(ALERTING / "policies.yaml")["policies"]
    found: dict[str, Any] = root
    return found


def expr_of(rule: dict[str, Any]) -> str:
    (query,) = [step for step in rule["data"] if step["refId"] == "A"]
    expr: str = query["model"]["expr"]
    return expr


def series_names(expr: str) -> set[str]:
    """The series a PromQL expression selects: identifiers that are not functions, keywords or label names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set(re.findall(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text))
    return names - PROMQL_WORDS


def seconds(duration: str) -> int:
    found = DURATION.match(duration)
    assert found is not None, duration
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]


def policies(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The node and every policy below it."""
    return [node, *(child for route in node.get("routes") or [] for child in policies(route))]


def headings(markdown: str) -> set[str]:
    """The anchors GitHub and GitLab give the headings of a Markdown file."""
    titles = re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in titles}


# -- the files are what the generator writes --------------------------------------------------------


def test_committed_files_are_what_the_generator_writes(generator: ModuleType) -> None:
    files = generator.render_all()
    assert {path.relative_to(ALERTING).as_posix() for path in files if path.parent == ALERTING} == set(FILES)
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python tools/build_grafana_alerting.py"
    assert generator.render_all() == files  # deterministic


def test_check_option_fails_on_a_stale_file_and_passes_after_writing(generator: ModuleType, tmp_path: Path) -> None:
    dirs = ["--grafana-dir", str(tmp_path / "grafana"), "--alertmanager-dir", str(tmp_path / "alertmanager")]
    assert generator.main(["--check", *dirs]) == 1  # missing
    assert generator.main(dirs) == 0
    assert generator.main(["--check", *dirs]) == 0
    for name in FILES:
        written = (tmp_path / "grafana" / name).read_text(encoding="utf-8")
        assert written == (ALERTING / name).read_text(encoding="utf-8"), name
    (tmp_path / "grafana" / "policies.yaml").write_text("apiVersion: 1\n", encoding="utf-8")
    assert generator.main(["--check", *dirs]) == 1  # stale


def test_every_generated_file_says_so_and_names_its_generator() -> None:
    for name in FILES:
        text = (ALERTING / name).read_text(encoding="utf-8")
        assert text.startswith("# GENERATED by tools/build_grafana_alerting.py"), name


# -- rules: one per Prometheus alert ------------------------------------------------------------------


def test_every_grafana_rule_is_a_prometheus_alert_with_the_same_definition(rules: list[dict[str, Any]]) -> None:
    alerts = prometheus_alerts()
    assert [rule["title"] for rule in rules] == [alert["alert"] for alert in alerts]
    for rule, alert in zip(rules, alerts, strict=True):
        assert expr_of(rule) == alert["expr"], rule["title"]
        assert rule["for"] == alert["for"], rule["title"]
        assert rule["labels"] == alert["labels"], rule["title"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
    uids = [rule["uid"] for rule in rules]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", uid) for uid in uids), uids


def test_the_group_runs_in_the_wallboards_folder_at_an_interval_grafana_accepts() -> None:
    (group,) = load(ALERTING / "rules.yaml")["groups"]
    (provider,) = load(DASHBOARD_PROVIDERS)["providers"]
    assert group["folder"] == provider["folder"]
    assert group["orgId"] == provider["orgId"] == 1
    interval = seconds(group["interval"])
    assert interval % 10 == 0, "Grafana evaluates on a 10 s base interval"
    for alert in prometheus_alerts():
        assert seconds(alert["for"]) % interval == 0, f"{alert['alert']}: for is not a multiple of the interval"


def test_rules_query_the_provisioned_prometheus_and_fire_for_any_series_returned(rules: list[dict[str, Any]]) -> None:
    (source,) = load(DATASOURCES)["datasources"]
    for rule in rules:
        query, any_series, condition = rule["data"]
        assert [query["refId"], any_series["refId"], condition["refId"]] == ["A", "B", "C"]
        assert rule["condition"] == "C"
        assert query["datasourceUid"] == source["uid"]
        assert query["model"]["datasource"] == {"type": source["type"], "uid": source["uid"]}
        assert query["model"]["instant"] is True
        assert query["model"]["range"] is False
        for expression in (any_series, condition):
            assert expression["datasourceUid"] == "__expr__"
            assert expression["model"]["datasource"] == {"type": "__expr__", "uid": "__expr__"}
        # As Prometheus: a returned sample fires whatever its value (0 for `up == 0`, NaN, ...).
        assert any_series["model"]["type"] == "math"
        assert any_series["model"]["expression"] == "is_number($A) || is_nan($A) || is_inf($A)"
        assert condition["model"]["type"] == "threshold"
        assert condition["model"]["expression"] == "B"
        assert condition["model"]["conditions"] == [{"evaluator": {"params": [0], "type": "gt"}}]
        assert rule["missing_series_evals_to_resolve"] == 1


def test_no_data_is_healthy_and_a_failed_query_raises_an_alert(rules: list[dict[str, Any]]) -> None:
    """Every expression filters (returns series only while its condition holds), so no data is OK.

    The "no data at all" case is an alert of its own: CcpulseWorkersAbsent uses
    absent(), which returns a series exactly when there is none.
    """
    for rule in rules:
        expr = expr_of(rule)
        assert re.search(r"[<>]=?|==|!=|\babsent\(", expr), f"{rule['title']}: not a filtering expression"
        assert rule["noDataState"] == "OK", rule["title"]
        assert rule["execErrState"] == "Error", rule["title"]
    absent = [rule["title"] for rule in rules if "absent(up{" in expr_of(rule)]
    assert absent == ["CcpulseWorkersAbsent"]


def test_the_ratio_alerts_keep_the_minimum_volume_guard(rules: list[dict[str, Any]]) -> None:
    by_title = {rule["title"]: rule for rule in rules}
    for title in GUARDED:
        expr = expr_of(by_title[title])
        assert VOLUME_GUARD.search(expr), f"{title}: no minimum-volume guard in {expr!r}"
        assert expr.count('window="rolling_15m"') == 2, "the guard counts the window the ratio covers"
    # The pattern finds a removed guard: the check can fail.
    unguarded = expr_of(by_title["CcpulseAbandonmentHigh"]).split("and on (queue)")[0]
    assert not VOLUME_GUARD.search(unguarded)


def test_every_metric_a_rule_reads_is_exported_or_recorded(rules: list[dict[str, Any]]) -> None:
    exported = sample_names()
    recorded = recording_rule_names()
    problems = []
    used: set[str] = set()
    for rule in rules:
        expr = expr_of(rule)
        names = series_names(expr) | set(METRIC_NAME.findall(expr))
        used |= names
        problems.extend(
            f"{rule['title']}: {name} is neither exported nor recorded"
            for name in sorted(names - exported - recorded - PROMETHEUS_SERIES)
        )
        for text in rule["annotations"].values():
            problems.extend(
                f"{rule['title']}: annotation names {name}, which does not exist"
                for name in METRIC_NAME.findall(text)
                if name not in exported | recorded
            )
        problems.extend(
            f'{rule["title"]}: {found!r} is not limited to job="ccpulse"'
            for found in re.findall(r"(?<![\w:])up\b(?!\s*\()\s*(?:\{[^}]*\})?", expr)
            if 'job="ccpulse"' not in found
        )
    assert not problems, "\n".join(problems)
    assert used & exported
    assert used & recorded
    assert used >= PROMETHEUS_SERIES


def test_the_series_parser_finds_unknown_names() -> None:
    """Proof that the check above reads names out of PromQL, not only ccpulse_ prefixes."""
    expr = 'sum by (queue) (rate(ccpulse_x_total{a="b"}[5m])) > on (queue) group_left () node_load1 and up{job="x"}'
    assert series_names(expr) == {"ccpulse_x_total", "node_load1", "up"}


# -- annotations ---------------------------------------------------------------------------------------


def test_annotations_are_the_prometheus_ones_as_grafana_renders_them(
    rules: list[dict[str, Any]], generator: ModuleType
) -> None:
    base = load(TEAMS)["runbook_base_url"]
    anchors = headings(OPERATIONS.read_text(encoding="utf-8"))
    for rule, alert in zip(rules, prometheus_alerts(), strict=True):
        annotations = dict(rule["annotations"])
        assert annotations.pop("runbook_url") == f"{base}#{rule['title'].lower()}"
        assert rule["title"].lower() in anchors, f"{rule['title']}: no section in {OPERATIONS.name}"
        assert set(annotations) == set(alert["annotations"]) >= {"summary", "description", "runbook"}
        overridden = generator.GRAFANA_ANNOTATIONS.get(rule["title"], {})
        for key, text in annotations.items():
            # Grafana's $value is every query's values as text; the number is $values.A.Value.
            assert not re.search(r"\$value\b", text), f"{rule['title']}.{key}"
            assert "${" not in text
            assert "$__" not in text, "Grafana's provisioning would expand it"
            for action in re.findall(r"\{\{(.*?)\}\}", text, flags=re.DOTALL):
                assert not re.search(r"(?<![.$\w])(query|first|value|label)\b", action), (rule["title"], key, action)
            if key in overridden:
                prometheus = alert["annotations"][key]
                labels = set(re.findall(r"\$labels\.\w+", prometheus))
                assert labels <= set(re.findall(r"\$labels\.\w+", text)), f"{rule['title']}.{key} drops a label"
            else:
                assert text == alert["annotations"][key].replace("$value", "$values.A.Value"), rule["title"]


def test_the_runbook_anchor_check_can_fail() -> None:
    anchors = headings("# Operating\n### CcpulseWorkerDown\n### A worker that never becomes ready\n")
    assert anchors == {"operating", "ccpulseworkerdown", "a-worker-that-never-becomes-ready"}


def test_the_generator_refuses_what_grafana_cannot_render(generator: ModuleType) -> None:
    with pytest.raises(SystemExit, match="query"):
        generator.grafana_annotation("CcpulseX", "description", '{{ with "up" | query }}{{ . | first }}{{ end }}')
    with pytest.raises(SystemExit, match="expand"):
        generator.grafana_annotation("CcpulseX", "summary", "queue ${QUEUE}")
    text = generator.grafana_annotation("CcpulseX", "summary", "{{ $value | humanize }} of {{ $values.B }}")
    assert text == "{{ $values.A.Value | humanize }} of {{ $values.B }}"


# -- contact points, policies, templates -------------------------------------------------------------


def test_every_policy_ends_at_a_contact_point_and_every_contact_point_is_used(
    policy: dict[str, Any], contact_points: list[dict[str, Any]]
) -> None:
    names = [point["name"] for point in contact_points]
    assert len(names) == len(set(names))
    assert policy["receiver"] == ON_CALL, "the default policy is the on-call"
    used = {node["receiver"] for node in policies(policy) if node.get("receiver")}
    assert used <= set(names), f"undefined: {sorted(used - set(names))}"
    assert set(names) <= used, f"unused: {sorted(set(names) - used)}"
    for node in policies(policy)[1:]:
        assert node["object_matchers"], "a child policy without matchers swallows every alert after it"
        for label, operator, value in node["object_matchers"]:
            assert re.fullmatch(r"[a-z_]+", label)
            assert operator in {"=", "!=", "=~", "!~"}
            assert "$" not in value, "Grafana's provisioning would expand it"
            if operator in {"=~", "!~"}:
                re.compile(value)


def test_every_team_has_a_policy_and_ccpulse_alerts_go_to_the_operators(policy: dict[str, Any]) -> None:
    children = {
        tuple(tuple(matcher) for matcher in node["object_matchers"]): node.get("receiver") for node in policy["routes"]
    }
    teams = load(TEAMS)["teams"]
    for team in teams:
        key = (("queue", "=~", "|".join(team["queues"])),)
        assert children.get(key) == f"supervisors-{team['team']}", team["team"]
    assert children.get((("queue", "=", ""),)) == ON_CALL
    (own,) = [node for node in policy["routes"] if node["object_matchers"] == [["queue", "=", ""]]]
    assert own["routes"] == [
        {"receiver": OPERATORS, "object_matchers": [["severity", "=", "ticket"]], "repeat_interval": "12h"}
    ]
    # Worker alerts first, the catch-all team last: order is the routing.
    assert policy["routes"][0] is own
    assert policy["routes"][-1]["object_matchers"] == [["queue", "=~", ".+"]]
    assert len(policy["routes"]) == len(teams) + 1


def test_grouping_and_timings(policy: dict[str, Any]) -> None:
    assert policy["group_by"] == ["alertname", "queue"]
    assert seconds(policy["group_wait"]) <= 60, "a page should not wait long for its group"
    assert seconds(policy["group_wait"]) <= seconds(policy["group_interval"]) <= seconds(policy["repeat_interval"])
    for node in policies(policy):
        if "repeat_interval" in node:
            assert seconds(node["repeat_interval"]) >= seconds(policy["group_interval"])
        assert "group_by" not in node or node is policy, "one grouping for the whole tree"
    # Tickets are reminded less often than pages.
    repeats = {
        tuple(map(tuple, node["object_matchers"])): seconds(node["repeat_interval"]) for node in policies(policy)[1:]
    }
    assert repeats[(("severity", "=", "ticket"),)] > repeats[(("queue", "=", ""),)]


def test_contact_points_send_resolve_messages_and_hold_no_secrets(contact_points: list[dict[str, Any]]) -> None:
    uids: list[str] = []
    kinds: set[str] = set()
    for point in contact_points:
        assert point["orgId"] == 1
        assert point["receivers"], point["name"]
        for integration in point["receivers"]:
            uids.append(integration["uid"])
            kinds.add(integration["type"])
            assert integration["disableResolveMessage"] is False, integration["uid"]
            settings = integration["settings"]
            for key, value in settings.items():
                if isinstance(value, str) and "$" in value:
                    assert ENV_SECRET.fullmatch(value), f"{integration['uid']}.{key}: only $__env{{...}} secrets"
            if integration["type"] == "email":
                assert settings["addresses"].endswith("@example.com"), "placeholder addresses only"
            if integration["type"] == "slack":
                assert ENV_SECRET.fullmatch(settings["url"]), "a Slack webhook URL is a secret"
            if integration["type"] == "webhook":
                assert re.match(r"https://[\w.-]*example\.com/", settings["url"]), "a placeholder URL"
                assert ENV_SECRET.fullmatch(settings["authorization_credentials"])
    assert len(uids) == len(set(uids))
    assert all(len(uid) <= 40 for uid in uids)
    assert kinds == {"email", "slack", "webhook"}


def test_messages_use_the_shipped_templates(contact_points: list[dict[str, Any]]) -> None:
    (template,) = load(ALERTING / "templates.yaml")["templates"]
    defined = set(re.findall(r'\{\{-?\s*define "([^"]+)"', template["template"]))
    referenced = set(re.findall(r'\{\{-?\s*template "([^"]+)"', template["template"]))
    assert referenced <= defined, f"undefined: {sorted(referenced - defined)}"
    used = {
        name
        for point in contact_points
        for integration in point["receivers"]
        for value in integration["settings"].values()
        if isinstance(value, str)
        for name in re.findall(r'\{\{-?\s*template "([^"]+)"', value)
    }
    assert used == {"ccpulse.title", "ccpulse.message"}
    assert used <= defined


def test_grafana_and_alertmanager_send_the_same_words() -> None:
    (template,) = load(ALERTING / "templates.yaml")["templates"]
    assert template["name"] == "ccpulse"
    assert template["orgId"] == 1
    assert template["template"] == ALERTMANAGER_TEMPLATE.read_text(encoding="utf-8")
    assert "$" not in template["template"], "Grafana's provisioning would expand it"


def test_the_grafana_templates_render_a_firing_and_a_resolve_message(tmp_path: Path) -> None:
    amtool = amtool_path()
    (template,) = load(ALERTING / "templates.yaml")["templates"]
    copy = tmp_path / "grafana.tmpl"
    copy.write_text(template["template"], encoding="utf-8")
    check_firing_and_resolved_text(amtool, str(copy), tmp_path)


def test_the_policy_tree_routes_every_team_and_alert(
    policy: dict[str, Any], contact_points: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Grafana routes with Alertmanager's code: the policy tree as an Alertmanager route, tested by amtool."""
    amtool = amtool_path()

    def route(node: dict[str, Any]) -> dict[str, Any]:
        converted = {key: value for key, value in node.items() if key not in {"orgId", "object_matchers", "routes"}}
        converted["matchers"] = [
            f"{label}{op}{json.dumps(value)}" for label, op, value in node.get("object_matchers") or []
        ]
        converted["routes"] = [route(child) for child in node.get("routes") or []]
        return converted

    config = {"route": route(policy), "receivers": [{"name": point["name"]} for point in contact_points]}
    config_file = tmp_path / "grafana-policies.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    check_routing(amtool, config_file)
    labels = {"alertname": "DatasourceError", "rulename": "CcpulseWorkerDown", "severity": "page"}
    assert routed_to(amtool, config_file, labels) == ON_CALL, "a failed query pages the operator"


def test_the_generator_refuses_a_bad_teams_file(generator: ModuleType, tmp_path: Path) -> None:
    good = TEAMS.read_text(encoding="utf-8")
    for old, new, complaint in [
        ('"sales_.*"', '"^sales_.*$"', "without"),
        ("team: billing", "team: Billing Team", "lower-case"),
        ("team: support", "team: sales", "repeat"),
        ('"tech_.*"', '"tech_(.*"', "regular expression"),
    ]:
        assert old in good
        broken = tmp_path / "teams.yaml"
        broken.write_text(good.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(SystemExit, match=complaint):
            generator.load_contacts(broken)
