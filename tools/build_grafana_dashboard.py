"""Write the ccpulse wallboard: deploy/grafana/dashboards/ccpulse-wallboard.json.

    python tools/build_grafana_dashboard.py            # (re)write the dashboard
    python tools/build_grafana_dashboard.py --check    # exit 1 if the file is stale

The JSON is generated so that every query is written once, here, and reviewed
as Python; edit this file, not the JSON. Output is deterministic (sorted keys,
indent 2, trailing newline), so the committed file diffs cleanly and a unit test
holds it equal to what this script produces.

Layout, for a TV: one row per selected queue (Grafana repeats it over the
``queue`` variable) with stat tiles, then one row of trends for all selected
queues. Ratios come from the Prometheus recording rules in
deploy/prometheus/rules/, which sum numerators and denominators across workers
before dividing (a queue can be exported by two workers during a rebalance).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated_files import write_or_check

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "deploy" / "grafana" / "dashboards" / "ccpulse-wallboard.json"

Panel = dict[str, Any]

#: uid of the datasource in deploy/grafana/provisioning/datasources/ccpulse-prometheus.yml,
#: preselected in the ``datasource`` variable.
PROVISIONED_DATASOURCE_UID = "ccpulse-prometheus"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

GREEN, AMBER, RED, BLUE, PURPLE, GREY = "green", "orange", "red", "blue", "purple", "#8e8e8e"
TEXT = "text"  # the theme's text colour: tiles without thresholds

GRID_WIDTH = 24

#: Label matchers: a repeated row shows one queue; the trends show every selected one.
ONE_QUEUE = 'queue="$queue"'
SELECTED_QUEUES = 'queue=~"$queue"'

#: Agent states shown, with their label value and colour (logged_out is left out).
AGENT_STATES = (
    ("Available", "available", GREEN),
    ("Busy", "busy", BLUE),
    ("ACW", "acw", PURPLE),
    ("Away", "away", GREY),
)


# -- queries ---------------------------------------------------------------------------------


def service_level(queues: str, window: str) -> str:
    """Service level of the whole queue (channel "all") for the selected threshold and formula."""
    return (
        f'ccpulse:service_level:ratio{{{queues}, channel="all", window="{window}", '
        'threshold="$threshold", formula="$formula"}'
    )


def window_kpi(rule: str, window: str) -> str:
    """A per-queue KPI recording rule (channel "all") in one window, for the row's queue."""
    return f'{rule}{{{ONE_QUEUE}, channel="all", window="{window}"}}'


def per_minute(counter: str, by: str, *matchers: str) -> str:
    """Events per minute over the last 5 minutes, summed over the real channels."""
    selector = ", ".join((SELECTED_QUEUES, 'channel!="all"', *matchers))
    return f"60 * sum by ({by}) (rate({counter}{{{selector}}}[5m]))"


# -- panel pieces ----------------------------------------------------------------------------


def thresholds(base: str, *steps: tuple[float, str]) -> dict[str, Any]:
    """Grafana threshold steps: ``base`` below the first step; each step applies from its value up."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}, *({"color": color, "value": value} for value, color in steps)],
    }


SERVICE_LEVEL_COLOURS = thresholds(RED, (0.7, AMBER), (0.8, GREEN))
ABANDONMENT_COLOURS = thresholds(GREEN, (0.05, AMBER), (0.1, RED))
OLDEST_WAIT_COLOURS = thresholds(GREEN, (60, AMBER), (120, RED))
STAFFING_GAP_COLOURS = thresholds(GREEN, (1, AMBER), (2, RED))
NEUTRAL = thresholds(TEXT)


def target(expr: str, legend: str = "", ref_id: str = "A", *, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref_id,
    }


def colour_by_name(name: str, colour: str) -> dict[str, Any]:
    """A field override giving the series called ``name`` a fixed colour."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}],
    }


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    colours: dict[str, Any] = NEUTRAL,
    decimals: int | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> Panel:
    """A big-number tile; with colours (thresholds or per-series overrides) its background takes them."""
    coloured = colours is not NEUTRAL or bool(overrides)
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds"},
        "noValue": "-",
        "thresholds": colours,
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "colorMode": "background" if coloured else "none",
            "graphMode": "none",
            "justifyMode": "center",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showPercentChange": False,
            "textMode": "value_and_name" if len(targets) > 1 else "value",
            "wideLayout": True,
        },
        "targets": targets,
        "title": title,
        "type": "stat",
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    colours: dict[str, Any] | None = None,
    stacked: bool = False,
    minimum: float | None = 0,
    maximum: float | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> Panel:
    """A line chart; ``colours`` are drawn as dashed threshold lines."""
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 60 if stacked else 0,
            "lineWidth": 2,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
            "thresholdsStyle": {"mode": "dashed" if colours else "off"},
        },
        "thresholds": colours or NEUTRAL,
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"calcs": ["lastNotNull"], "displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "title": title,
        "type": "timeseries",
    }


def row(title: str, *, repeat: str | None = None) -> Panel:
    panel: Panel = {"collapsed": False, "panels": [], "title": title, "type": "row"}
    if repeat:
        panel["repeat"] = repeat
    return panel


def lay_out(lines: list[tuple[int, list[tuple[int, Panel]]]]) -> list[Panel]:
    """Place lines of (width, panel) left to right, each line ``height`` units tall, top to bottom."""
    placed: list[Panel] = []
    y = 0
    for height, line in lines:
        x = 0
        for width, panel in line:
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            placed.append(panel)
            x += width
        if x > GRID_WIDTH:
            raise ValueError(f"line at y={y} is {x} units wide; the grid has {GRID_WIDTH}")
        y += height
    return placed


# -- the rows --------------------------------------------------------------------------------


def queue_tiles() -> list[tuple[int, list[tuple[int, Panel]]]]:
    """The stat tiles of one queue; the row repeats them for every selected queue."""
    sl_note = "met / eligible, all channels, for the SL threshold $threshold s and formula $formula"
    first = [
        stat(
            "Waiting now",
            "Contacts waiting in the queue now, all channels.",
            [target(f"ccpulse:waiting_contacts:sum{{{ONE_QUEUE}}}", instant=True)],
            unit="none",
            decimals=0,
        ),
        stat(
            "Oldest wait",
            "How long the longest-waiting contact has waited now (0: nobody waits). "
            "Green below 60 s, amber below 120 s, red from 120 s.",
            [target(f"ccpulse:oldest_wait_seconds:max{{{ONE_QUEUE}}}", instant=True)],
            unit="s",
            colours=OLDEST_WAIT_COLOURS,
            decimals=0,
        ),
        stat(
            "Service level rolling 15m",
            f"Service level over the last 15 minutes: {sl_note}. Red below 70 %, amber below 80 %, green.",
            [target(service_level(ONE_QUEUE, "rolling_15m"), instant=True)],
            unit="percentunit",
            colours=SERVICE_LEVEL_COLOURS,
            decimals=1,
        ),
        stat(
            "Service level this interval",
            f"Service level in the current 15-minute interval: {sl_note}. Same colours.",
            [target(service_level(ONE_QUEUE, "interval_15m"), instant=True)],
            unit="percentunit",
            colours=SERVICE_LEVEL_COLOURS,
            decimals=1,
        ),
        stat(
            "Service level today",
            f"Service level since the queue's daily reset: {sl_note}. Same colours.",
            [target(service_level(ONE_QUEUE, "today"), instant=True)],
            unit="percentunit",
            colours=SERVICE_LEVEL_COLOURS,
            decimals=1,
        ),
        stat(
            "ASA rolling 15m",
            "Average speed of answer over the last 15 minutes: answered wait / answered, all channels.",
            [target(window_kpi("ccpulse:asa:seconds", "rolling_15m"), instant=True)],
            unit="s",
            decimals=0,
        ),
        stat(
            "Abandonment rolling 15m",
            "Abandoned / offered over the last 15 minutes (short abandons excluded), all channels. "
            "Green below 5 %, amber below 10 %, red from 10 %.",
            [target(window_kpi("ccpulse:abandonment:ratio", "rolling_15m"), instant=True)],
            unit="percentunit",
            colours=ABANDONMENT_COLOURS,
            decimals=1,
        ),
        stat(
            "AHT today",
            "Average handle time (talk + hold + ACW) since the queue's daily reset, all channels.",
            [target(window_kpi("ccpulse:aht:seconds", "today"), instant=True)],
            unit="s",
        ),
    ]
    second = [
        stat(
            "Agents",
            "Agents serving the queue now, by state (an agent serving several queues counts in each).",
            [
                target(f'ccpulse:agents:sum{{{ONE_QUEUE}, state="{state}"}}', name, ref_id, instant=True)
                for ref_id, (name, state, _) in zip("ABCD", AGENT_STATES, strict=True)
            ],
            unit="none",
            decimals=0,
            overrides=[colour_by_name(name, colour) for name, _, colour in AGENT_STATES],
        ),
        stat(
            "Staffing gap (Erlang C)",
            "Agents needed now for the queue's SL target (Erlang C) minus agents staffed; positive means "
            "understaffed. Green at 0 or below, amber at 1, red from 2.",
            [target(f'max(ccpulse_staffing_gap_agents{{{ONE_QUEUE}, model="erlang_c"}})', instant=True)],
            unit="none",
            colours=STAFFING_GAP_COLOURS,
            decimals=0,
        ),
        stat(
            "Open tickets",
            "Tickets of the queue open now.",
            [target(f"max(ccpulse_open_tickets{{{ONE_QUEUE}}})", instant=True)],
            unit="none",
            decimals=0,
        ),
    ]
    return [(5, [(3, panel) for panel in first]), (4, [(12, second[0]), (6, second[1]), (6, second[2])])]


def trends() -> list[tuple[int, list[tuple[int, Panel]]]]:
    """Charts over the dashboard's time range, one series per selected queue."""
    charts_1 = [
        timeseries(
            "Service level rolling 15m",
            "Service level over the last 15 minutes at each moment, per queue, all channels, for the SL "
            "threshold $threshold s and formula $formula. Dashed lines at 70 % and 80 %.",
            [target(service_level(SELECTED_QUEUES, "rolling_15m"), "{{queue}}")],
            unit="percentunit",
            colours=SERVICE_LEVEL_COLOURS,
            maximum=1,
        ),
        timeseries(
            "Waiting now",
            "Contacts waiting, per queue, all channels.",
            [target(f"ccpulse:waiting_contacts:sum{{{SELECTED_QUEUES}}}", "{{queue}}")],
            unit="none",
        ),
        timeseries(
            "Oldest wait",
            "Longest current wait, per queue. Dashed lines at 60 s and 120 s.",
            [target(f"ccpulse:oldest_wait_seconds:max{{{SELECTED_QUEUES}}}", "{{queue}}")],
            unit="s",
            colours=OLDEST_WAIT_COLOURS,
        ),
    ]
    charts_2 = [
        timeseries(
            "Arrivals and outcomes per minute",
            "Contacts entering each queue, and queue stints answered or abandoned, per minute over the "
            "last 5 minutes (all channels).",
            [
                target(per_minute("ccpulse_queue_arrivals_total", "queue"), "{{queue}} arrived", "A"),
                target(
                    per_minute("ccpulse_queue_outcomes_total", "queue, outcome", 'outcome=~"answered|abandoned"'),
                    "{{queue}} {{outcome}}",
                    "B",
                ),
            ],
            unit="none",
        ),
        timeseries(
            "Agents by state",
            "Agents serving the selected queues, by state, stacked (an agent serving several of them counts in each).",
            [
                target(f'sum by (state) (ccpulse:agents:sum{{{SELECTED_QUEUES}, state="{state}"}})', name, ref_id)
                for ref_id, (name, state, _) in zip("ABCD", AGENT_STATES, strict=True)
            ],
            unit="none",
            stacked=True,
            overrides=[colour_by_name(name, colour) for name, _, colour in AGENT_STATES],
        ),
        timeseries(
            "Wait p90 (15m)",
            "90th percentile wait of answered contacts over the last 15 minutes, per queue, all channels.",
            [target(f"ccpulse:queue_wait_seconds:p90_15m{{{SELECTED_QUEUES}}}", "{{queue}}")],
            unit="s",
        ),
    ]
    return [(8, [(12, charts_1[0]), (6, charts_1[1]), (6, charts_1[2])]), (8, [(8, chart) for chart in charts_2])]


# -- the dashboard ---------------------------------------------------------------------------


def custom_variable(name: str, label: str, values: tuple[str, ...], description: str) -> dict[str, Any]:
    """A single-choice list of fixed values; the first is the default."""
    return {
        "current": {"selected": True, "text": values[0], "value": values[0]},
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [{"selected": value == values[0], "text": value, "value": value} for value in values],
        "query": ",".join(values),
        "skipUrlSync": False,
        "type": "custom",
    }


def variables() -> list[dict[str, Any]]:
    queues = "label_values(ccpulse_contacts_offered, queue)"
    return [
        {
            "current": {"selected": False, "text": "ccpulse Prometheus", "value": PROVISIONED_DATASOURCE_UID},
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "skipUrlSync": False,
            "type": "datasource",
        },
        {
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": DATASOURCE,
            "definition": queues,
            "hide": 0,
            "includeAll": True,
            "label": "Queue",
            "multi": True,
            "name": "queue",
            "options": [],
            "query": {"qryType": 1, "query": queues, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        },
        custom_variable(
            "threshold", "SL threshold (s)", ("20", "30", "60"), "Answered within this many seconds counts as met."
        ),
        custom_variable(
            "formula",
            "SL formula",
            ("offered", "answered", "ignore_early_abandons", "abandons_met"),
            "Which contacts the service level counts; see the KPI definitions in the README.",
        ),
    ]


def panels() -> list[Panel]:
    """The row of one queue (repeated), then the trends row, with ids in order."""
    queue_row = lay_out([(1, [(GRID_WIDTH, row("Queue $queue", repeat="queue"))]), *queue_tiles()])
    trends_row = lay_out([(1, [(GRID_WIDTH, row("Trends"))]), *trends()])
    below = max(panel["gridPos"]["y"] + panel["gridPos"]["h"] for panel in queue_row)
    for panel in trends_row:
        panel["gridPos"]["y"] += below
    placed = [*queue_row, *trends_row]
    for panel_id, panel in enumerate(placed, start=1):
        panel["id"] = panel_id
    return placed


def build_dashboard() -> dict[str, Any]:
    """The wallboard as Grafana dashboard JSON (schema version 39)."""
    return {
        "annotations": {"list": []},
        "description": "Contact-center wallboard from the ccpulse workers' Prometheus metrics: one row per queue, "
        "then trends. Generated by tools/build_grafana_dashboard.py; edit that, not this file.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "liveNow": False,
        "panels": panels(),
        "refresh": "5s",
        "schemaVersion": 39,
        "tags": ["ccpulse", "contact-center", "wallboard"],
        "templating": {"list": variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m", "15m"]},
        "timezone": "browser",
        "title": "ccpulse wallboard",
        "uid": "ccpulse-wallboard",
        "version": 1,
        "weekStart": "",
    }


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file differs")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    text = render(build_dashboard())
    return write_or_check({args.output: text}, check=args.check, tool="build_grafana_dashboard.py")


if __name__ == "__main__":
    sys.exit(main())
