"""deploy/alertmanager/: the Alertmanager config for the Prometheus rules, against amtool, the rules and Grafana.

tools/build_grafana_alerting.py writes alertmanager.yml and templates/ from
deploy/alerting/teams.yaml and deploy/alerting/ccpulse.tmpl, with the routing
tree it also writes as Grafana's notification policies. amtool (Debian package
``prometheus-alertmanager``) checks the config, routes a sample alert of every
team and alert, and renders the templates; a deliberately broken config must be
rejected. Without amtool these tests are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccpulse.telemetry.catalog import OTHER_QUEUE, sample_names
from tests.unit.test_grafana_dashboard import METRIC_NAME, recording_rule_names

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
CONFIG = ALERTMANAGER / "alertmanager.yml"
TEMPLATES = ALERTMANAGER / "templates"
ALERTS = ROOT / "deploy" / "prometheus" / "rules" / "ccpulse-alerts.yml"
TEAMS = ROOT / "deploy" / "alerting" / "teams.yaml"
GRAFANA_POLICIES = ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "policies.yaml"
GRAFANA_CONTACT_POINTS = ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "contact-points.yaml"

ON_CALL, OPERATORS = "ccpulse-on-call", "ccpulse-operators"
#: The alerts whose firing mutes the queue alerts (a worker down or stuck).
INHIBITING = {"CcpulseWorkerDown", "CcpulseKpiStale"}
MATCHER = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"$')
INTEGRATIONS = ("email_configs", "slack_configs", "webhook_configs")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    document: dict[str, Any] = load(CONFIG)
    return document


# -- amtool -----------------------------------------------------------------------------------


def amtool_path() -> str:
    """amtool, or a skip (a failure in CI, which must install it)."""
    found = shutil.which("amtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("amtool is required in CI (Debian package 'prometheus-alertmanager')")
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    return found


@pytest.fixture(scope="module")
def amtool() -> str:
    return amtool_path()


def run_amtool(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, check=False)


def routed_to(amtool: str, config_file: Path, labels: dict[str, str]) -> str:
    """The receivers (comma-separated) amtool routes an alert with these labels to."""
    done = run_amtool(
        amtool, "config", "routes", "test", f"--config.file={config_file}", *(f"{k}={v}" for k, v in labels.items())
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def render_template(amtool: str, template_glob: str, text: str, data: dict[str, Any], tmp_path: Path) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data), encoding="utf-8")
    done = run_amtool(
        amtool,
        "template",
        "render",
        f"--template.glob={template_glob}",
        f"--template.text={text}",
        f"--template.data={data_file}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# -- sample alerts: one per alert and team ------------------------------------------------------


def prometheus_alerts() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def is_queue_alert(rule: dict[str, Any]) -> bool:
    """Queue alerts keep the ``queue`` label; the others are about ccpulse itself (no queue)."""
    return "$labels.queue" in rule["annotations"]["summary"]


def sample_queues(pattern: str) -> list[str]:
    """Queue names the pattern matches, for a pattern that is a name, or a name and ``.*`` / ``.+``."""
    if pattern in {".*", ".+"}:
        return ["a-queue-no-team-claims", OTHER_QUEUE]
    for wildcard in (".*", ".+"):
        prefix = pattern.removesuffix(wildcard)
        if prefix != pattern and re.fullmatch(r"[\w-]+", prefix):
            return [f"{prefix}east"]
    if re.fullmatch(r"[\w-]+", pattern):
        return [pattern]
    pytest.fail(f"no sample queue for the pattern {pattern!r}; extend sample_queues")
    return []


def expected_team(teams: list[dict[str, Any]], queue: str) -> str:
    """The receiver teams.yaml means for a queue: its first team with a matching pattern."""
    for team in teams:
        if any(re.fullmatch(pattern, queue) for pattern in team["queues"]):
            return f"supervisors-{team['team']}"
    return ON_CALL


def sample_alerts() -> Iterator[tuple[dict[str, str], str]]:
    """(labels, expected receiver) for every alert, and every queue alert in a sample queue of every team."""
    teams = load(TEAMS)["teams"]
    queues = [queue for team in teams for pattern in team["queues"] for queue in sample_queues(pattern)]
    for rule in prometheus_alerts():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        if not is_queue_alert(rule):
            yield labels, ON_CALL if rule["labels"]["severity"] == "page" else OPERATORS
            continue
        for queue in queues:
            yield {**labels, "queue": queue}, expected_team(teams, queue)


def check_routing(amtool: str, config_file: Path) -> None:
    problems = []
    count = 0
    for labels, expected in sample_alerts():
        count += 1
        got = routed_to(amtool, config_file, labels)
        if got != expected:
            problems.append(f"{labels}: routed to {got!r}, expected {expected!r}")
    assert not problems, "\n".join(problems)
    assert count > len(prometheus_alerts()), "no queue alerts sampled"


# -- the config against amtool ------------------------------------------------------------------


def test_amtool_accepts_the_config(amtool: str) -> None:
    done = run_amtool(amtool, "check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    # The templates were found and parsed, not silently matched by an empty glob.
    assert "1 templates" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("receiver: supervisors-billing\n", "receiver: supervisors-biling\n", "undefined receiver"),
        ("send_resolved: true", "send_resolve: true", "send_resolve"),
        ('queue=~"sales|sales_.*"', 'queue=~"sales|(sales_.*"', "missing closing"),
    ],
    ids=["unknown receiver", "misspelled field", "bad regex"],
)
def test_amtool_rejects_a_broken_config(amtool: str, tmp_path: Path, old: str, new: str, complaint: str) -> None:
    """Proof that the check above checks something."""
    shutil.copytree(ALERTMANAGER, tmp_path / "alertmanager")
    broken = tmp_path / "alertmanager" / CONFIG.name
    text = broken.read_text(encoding="utf-8")
    assert old in text
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    done = run_amtool(amtool, "check-config", str(broken))
    assert done.returncode != 0
    assert complaint in done.stdout + done.stderr


def test_every_team_and_alert_routes_to_its_receiver(amtool: str) -> None:
    check_routing(amtool, CONFIG)


def test_routing_examples_by_hand(amtool: str) -> None:
    """The routing in words, independent of the sample generator above."""
    cases = [
        ({"alertname": "CcpulseWorkerDown", "severity": "page"}, ON_CALL),
        ({"alertname": "CcpulseKpiStale", "severity": "page", "instance": "worker-1:9464"}, ON_CALL),
        ({"alertname": "CcpulseWorkerNotReady", "severity": "ticket"}, OPERATORS),
        (
            {"alertname": "CcpulseServiceLevelBelowTarget", "severity": "page", "queue": "billing"},
            "supervisors-billing",
        ),
        ({"alertname": "CcpulseAbandonmentHigh", "severity": "page", "queue": "sales"}, "supervisors-sales"),
        ({"alertname": "CcpulseStaffingGap", "severity": "ticket", "queue": "support"}, "supervisors-support"),
        # Anchored: "salesforce" is not "sales" nor "sales_...".
        ({"alertname": "CcpulseOldestWaitHigh", "severity": "page", "queue": "salesforce"}, "supervisors-duty-manager"),
        ({"alertname": "CcpulseOldestWaitHigh", "severity": "page", "queue": OTHER_QUEUE}, "supervisors-duty-manager"),
    ]
    for labels, expected in cases:
        assert routed_to(amtool, CONFIG, labels) == expected, labels


def test_amtool_route_verification_can_fail(amtool: str) -> None:
    labels = ["alertname=CcpulseWorkerDown", "severity=page"]
    done = run_amtool(
        amtool, "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=nobody", *labels
    )
    assert done.returncode != 0


# -- the config against Grafana's and the rules ---------------------------------------------------


def parse_matcher(text: str) -> tuple[str, str, str]:
    found = MATCHER.match(text)
    assert found is not None, f"not a matcher: {text!r}"
    label, operator, value = found.groups()
    return label, operator, json.loads(f'"{value}"')


def normalized_route(node: dict[str, Any], *, grafana: bool) -> dict[str, Any]:
    """A route or policy node in one shape: matchers as triples, children normalized."""
    if grafana:
        matchers = [tuple(matcher) for matcher in node.get("object_matchers") or []]
        assert "matchers" not in node, "Grafana policies use object_matchers only"
    else:
        matchers = [parse_matcher(matcher) for matcher in node.get("matchers") or []]
    return {
        "receiver": node.get("receiver"),
        "matchers": matchers,
        **{key: node.get(key) for key in ("group_by", "group_wait", "group_interval", "repeat_interval", "continue")},
        "routes": [normalized_route(child, grafana=grafana) for child in node.get("routes") or []],
    }


def route_receivers(node: dict[str, Any]) -> Iterator[str]:
    if node.get("receiver"):
        yield node["receiver"]
    for child in node.get("routes") or []:
        yield from route_receivers(child)


def test_the_routing_tree_is_grafanas_policy_tree(config: dict[str, Any]) -> None:
    (policy,) = load(GRAFANA_POLICIES)["policies"]
    assert policy.pop("orgId") == 1
    alertmanager = normalized_route(config["route"], grafana=False)
    assert alertmanager == normalized_route(policy, grafana=True)
    assert alertmanager["group_by"] == ["alertname", "queue"]
    assert alertmanager["routes"], "no child routes"


def test_receivers_are_grafanas_contact_points_and_all_are_used(config: dict[str, Any]) -> None:
    names = [receiver["name"] for receiver in config["receivers"]]
    assert len(names) == len(set(names)), names
    assert names == [point["name"] for point in load(GRAFANA_CONTACT_POINTS)["contactPoints"]]
    used = set(route_receivers(config["route"]))
    assert used == set(names), f"unused: {sorted(set(names) - used)}, undefined: {sorted(used - set(names))}"
    for receiver in config["receivers"]:
        assert any(receiver.get(kind) for kind in INTEGRATIONS), f"{receiver['name']} notifies nobody"


def test_every_team_has_a_route_to_its_receiver(config: dict[str, Any]) -> None:
    routes = {(route.get("receiver"), tuple(route.get("matchers") or [])) for route in config["route"]["routes"]}
    for team in load(TEAMS)["teams"]:
        matcher = f"queue=~{json.dumps('|'.join(team['queues']))}"
        assert (f"supervisors-{team['team']}", (matcher,)) in routes, team["team"]
    assert (ON_CALL, ('queue=""',)) in routes


def test_every_integration_sends_resolve_notifications(config: dict[str, Any]) -> None:
    seen = 0
    for receiver in config["receivers"]:
        for kind in INTEGRATIONS:
            for integration in receiver.get(kind) or []:
                seen += 1
                assert integration.get("send_resolved") is True, f"{receiver['name']} {kind}"
    assert seen >= len(config["receivers"])


def test_queue_alerts_are_muted_while_a_worker_is_down_or_stale(config: dict[str, Any]) -> None:
    (rule,) = config["inhibit_rules"]
    ((label, operator, value),) = [parse_matcher(m) for m in rule["source_matchers"]]
    assert (label, operator) == ("alertname", "=~")
    sources = set(value.split("|"))
    assert sources == INHIBITING
    rules = {rule["alert"]: rule for rule in prometheus_alerts()}
    assert sources <= set(rules), "inhibiting alerts that are not Prometheus alerts"
    # The sources carry no queue, so the target matcher (any queue) never mutes them.
    assert not any(is_queue_alert(rules[name]) for name in sources)
    assert [parse_matcher(m) for m in rule["target_matchers"]] == [("queue", "=~", ".+")]
    # Queue alerts have no instance (the recording rules sum over workers): nothing to be equal on.
    assert "equal" not in rule


def test_no_secret_is_in_the_config(config: dict[str, Any]) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    addresses = set(re.findall(r"[\w.+-]+@[\w.-]+", text))
    assert addresses
    assert {address.rsplit("@", 1)[1] for address in addresses} == {"example.com"}
    for url in re.findall(r"https?://[^\s'\"]+", text):
        assert re.match(r"https://[\w.-]*example\.com/", url), url
    files = re.findall(r"^[\s-]*(\w+_file): (\S+)$", text, flags=re.MULTILINE)
    assert {key for key, _ in files} >= {"smtp_auth_password_file", "api_url_file", "credentials_file"}
    assert all(path.startswith("/etc/alertmanager/secrets/") for _, path in files)
    for key in ("api_url", "smtp_auth_password", "credentials", "password"):
        assert not re.search(rf"^[\s-]*{key}:", text, flags=re.MULTILINE), key


def test_names_in_the_config_and_templates_are_real(config: dict[str, Any]) -> None:
    text = CONFIG.read_text(encoding="utf-8") + (TEMPLATES / "ccpulse.tmpl").read_text(encoding="utf-8")
    known = sample_names() | recording_rule_names()
    assert set(METRIC_NAME.findall(text)) <= known
    alerts = {rule["alert"] for rule in prometheus_alerts()}
    named = set(re.findall(r"\bCcpulse[A-Za-z]+\b", text))
    assert named
    assert named <= alerts


# -- templates -------------------------------------------------------------------------------------


def group_data(status: str, queue: str, start: str, end: str) -> dict[str, Any]:
    labels = {"alertname": "CcpulseServiceLevelBelowTarget", "queue": queue, "severity": "page", "channel": "all"}
    alert = {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"Service level of queue {queue} is below target", "description": "61% in 20 s"},
        "startsAt": start,
        "endsAt": end,
        "generatorURL": "http://prometheus.example.com/graph",
        "fingerprint": "0123456789abcdef",
    }
    return {
        "receiver": f"supervisors-{queue}",
        "status": status,
        "alerts": [alert],
        "groupLabels": {"alertname": labels["alertname"], "queue": queue},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example.com",
    }


def render_notification(amtool: str, template_glob: str, data: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    title = render_template(amtool, template_glob, '{{ template "ccpulse.title" . }}', data, tmp_path)
    message = render_template(amtool, template_glob, '{{ template "ccpulse.message" . }}', data, tmp_path)
    return title, message


def check_firing_and_resolved_text(amtool: str, template_glob: str, tmp_path: Path) -> None:
    """The notification of a firing and of a resolved alert, as a supervisor reads them."""
    base = load(TEAMS)["runbook_base_url"]
    firing = group_data("firing", "billing", "2024-05-06T09:00:00Z", "0001-01-01T00:00:00Z")
    title, message = render_notification(amtool, template_glob, firing, tmp_path)
    assert title == "[FIRING] CcpulseServiceLevelBelowTarget, queue billing"
    assert message.startswith("FIRING: Service level of queue billing is below target\n")
    assert "Queue: billing\n" in message
    assert "Since: 2024-05-06 09:00 UTC\n" in message
    assert f"Runbook: {base}#ccpulseservicelevelbelowtarget" in message
    assert "RESOLVED" not in message

    resolved = group_data("resolved", "billing", "2024-05-06T09:00:00Z", "2024-05-06T09:42:00Z")
    title, message = render_notification(amtool, template_glob, resolved, tmp_path)
    assert title == "[RESOLVED] CcpulseServiceLevelBelowTarget, queue billing"
    assert message.startswith("RESOLVED: CcpulseServiceLevelBelowTarget is over for queue billing.\n")
    assert "Back to normal at 2024-05-06 09:42 UTC, after 42m0s." in message
    assert "FIRING" not in message


def test_the_templates_render_a_firing_and_a_resolve_message(amtool: str, tmp_path: Path) -> None:
    check_firing_and_resolved_text(amtool, str(TEMPLATES / "*.tmpl"), tmp_path)


def test_the_config_uses_the_templates_it_ships(config: dict[str, Any]) -> None:
    assert config["templates"] == ["templates/*.tmpl"]
    defined = set(re.findall(r'\{\{-?\s*define "([^"]+)"', (TEMPLATES / "ccpulse.tmpl").read_text(encoding="utf-8")))
    used = set(re.findall(r'\{\{-?\s*template "([^"]+)"', CONFIG.read_text(encoding="utf-8")))
    assert used == {"ccpulse.title", "ccpulse.message"}
    assert used <= defined
