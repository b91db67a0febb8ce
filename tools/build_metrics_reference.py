"""Write docs/metrics.md, the reference of every metric a worker exports, from the catalog.

python tools/build_metrics_reference.py           # rewrite the file
python tools/build_metrics_reference.py --check   # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccpulse.telemetry.catalog import (
    CUMULATIVE,
    LIVE_FIGURES,
    SELF,
    SERVICE_LEVEL,
    WINDOW_KPIS,
    WINDOW_VOLUMES,
    MetricSpec,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated_files import write_or_check

TARGET = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"

SECTIONS = (
    (
        "Volumes per window",
        "Labels `queue`, `channel` (a channel, or `all`: the queue's channels together) and `window` "
        "(`interval_15m`: the 15-minute interval open now; `rolling_5m`, `rolling_15m`, `rolling_60m`: "
        "the last N minutes; `today`: since the queue's daily reset).",
        WINDOW_VOLUMES,
    ),
    (
        "Service level",
        "For every SL threshold of the queue (20, 30 and 60 s by default) and each of the four formulas. "
        "Aggregate across workers or queues with `sum(met) / sum(eligible)`, never by averaging ratios.",
        SERVICE_LEVEL,
    ),
    (
        "Other KPIs per window",
        "A ratio or mean whose denominator is 0 (an ASA with nothing answered) has no series rather than a 0. "
        "Agent time, occupancy, cost and productivity are exported for channel `all` only.",
        WINDOW_KPIS,
    ),
    ("Now", "Read at the worker's clock at scrape time.", LIVE_FIGURES),
    (
        "Counters and histograms since the daily reset",
        "Rebuilt from the `today` window at every scrape, so they survive restarts and follow a queue to "
        "another worker; at the queue's daily reset they start again at 0, which `rate()` and `increase()` "
        "treat as a counter reset.",
        CUMULATIVE,
    ),
    ("The worker itself", "", SELF),
)


def _row(spec: MetricSpec) -> str:
    names = ", ".join(f"`{name}`" for name in spec.sample_names())
    labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
    return f"| {names} | {spec.kind.value} | {labels} | {spec.help.replace('|', '/')} |"


def render() -> str:
    lines = [
        "# Metrics reference",
        "",
        "Every series a ccpulse worker may expose on `/metrics`. Generated from",
        "`src/ccpulse/telemetry/catalog.py` by `python tools/build_metrics_reference.py`; do not edit by hand.",
        "",
    ]
    for title, text, specs in SECTIONS:
        lines += [f"## {title}", ""]
        if text:
            lines += [text, ""]
        lines += ["| series | type | labels | meaning |", "|---|---|---|---|"]
        lines += [_row(spec) for spec in specs]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/metrics.md is not up to date")
    args = parser.parse_args(argv)
    text = render()
    return write_or_check({TARGET: text}, check=args.check, tool="build_metrics_reference.py")


if __name__ == "__main__":
    raise SystemExit(main())
