"""What a wallboard tile shows: KPI rows folded per queue, figures picked, colours decided.

Pure: KPI rows (:class:`ccpulse.client.KpiRow`, parsed and checked by the
client every consumer uses) in, plain JSON-able tiles out; the server only
moves them. A tile per queue, from the
rows of one channel (``all`` by default):

- **now**: waiting, oldest wait, agents by state and the Erlang staffing gap,
  from the ``now`` part of the queue's newest open-window row;
- **interval**: the current interval (``interval_15m``), the newest one seen;
- **today**: since the queue's daily reset.

Colours (green, amber, red; ``none`` when there is nothing to judge) follow the
queue's own service-level target and the limits of :class:`ColourRules`,
which default to the shipped Prometheus alerts' thresholds so the floor and
the pager agree. A tile's status is its worst colour.

Rows may arrive in any order (a compacted topic read from the middle, several
partitions): a row replaces the held one of its window only if it is for a
later window, or the same window as of the same time or later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccpulse.client import KpiRow
from ccpulse.codec.outputs import iso_ms

GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"
_RANK = {NONE: 0, GREEN: 1, AMBER: 2, RED: 3}
INTERVAL_WINDOW = "interval_15m"
TODAY_WINDOW = "today"
FORMULAS = ("offered", "answered", "ignore_early_abandons", "abandons_met")


class BoardError(ValueError):
    """A wallboard option is invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class QueueTarget:
    """A queue's service-level goal: ``ratio`` of contacts answered within ``threshold_s``."""

    threshold_s: int = 20
    ratio: float = 0.8


@dataclass(frozen=True, slots=True)
class ColourRules:
    """Where green turns amber and amber turns red, beyond each queue's own SL target."""

    sl_amber_margin: float = 0.10  # SL this far below target is amber; further below, red
    abandon_amber_ratio: float = 0.05
    abandon_red_ratio: float = 0.10  # the CcpulseAbandonmentHigh alert's threshold
    oldest_wait_red_s: float = 180.0  # the CcpulseOldestWaitHigh alert's threshold
    staffing_gap_red_agents: int = 2  # one agent short is amber

    def __post_init__(self) -> None:
        def check(ok: bool, option: str, problem: str) -> None:
            if not ok:
                raise BoardError(f"{option}: {problem}")

        check(0 <= self.sl_amber_margin < 1, "--sl-amber-margin", "must be between 0 and 1 (e.g. 0.10)")
        check(0 < self.abandon_amber_ratio <= 1, "--abandon-amber", "must be a ratio above 0 (e.g. 0.05)")
        check(
            self.abandon_amber_ratio <= self.abandon_red_ratio <= 1,
            "--abandon-red",
            "must be a ratio from --abandon-amber up to 1 (e.g. 0.10)",
        )
        check(self.oldest_wait_red_s > 0, "--oldest-wait-red-s", "must be positive seconds")
        check(self.staffing_gap_red_agents >= 1, "--staffing-gap-red", "must be at least 1 agent")


@dataclass(frozen=True, slots=True)
class View:
    """What one screen asked for: which queues, the SL threshold and formula, and the channel."""

    queues: frozenset[str] = frozenset()  # empty: every queue
    threshold_s: int | None = None  # None: each queue's target threshold
    formula: str = "offered"
    channel: str = "all"

    def __post_init__(self) -> None:
        if self.formula not in FORMULAS:
            raise BoardError(f"formula: {self.formula!r} is not one of {', '.join(FORMULAS)}")
        if self.threshold_s is not None and self.threshold_s <= 0:
            raise BoardError("threshold: must be positive seconds")

    def shows(self, queue: str) -> bool:
        return not self.queues or queue in self.queues


_EPSILON = 1e-9  # 0.8 - 0.1 is 0.7000000000000001: a ratio of exactly 0.7 is still within the margin


def sl_colour(ratio: float | None, target: float, margin: float) -> str:
    if ratio is None:
        return NONE
    if ratio >= target - _EPSILON:
        return GREEN
    return AMBER if ratio >= target - margin - _EPSILON else RED


def abandon_colour(ratio: float | None, rules: ColourRules) -> str:
    if ratio is None:
        return NONE
    if ratio >= rules.abandon_red_ratio:
        return RED
    return AMBER if ratio >= rules.abandon_amber_ratio else GREEN


def oldest_wait_colour(oldest_wait_s: float | None, threshold_s: int, rules: ColourRules) -> str:
    """Green while the oldest contact can still be answered within the SL threshold."""
    if oldest_wait_s is None:
        return GREEN  # nobody waits
    if oldest_wait_s > rules.oldest_wait_red_s:
        return RED
    return AMBER if oldest_wait_s > threshold_s else GREEN


def asa_colour(asa_s: float | None, threshold_s: int) -> str:
    if asa_s is None:
        return NONE
    if asa_s <= threshold_s:
        return GREEN
    return AMBER if asa_s <= 2 * threshold_s else RED


def staffing_colour(gap: int | None, rules: ColourRules) -> str:
    if gap is None:
        return NONE
    if gap >= rules.staffing_gap_red_agents:
        return RED
    return AMBER if gap > 0 else GREEN


def waiting_colour(waiting: int, available: int | None) -> str:
    """Red when contacts wait and no agent is available (the CcpulseCallersWaitingNoAgentAvailable alert's case)."""
    if waiting > 0 and available == 0:
        return RED
    return GREEN


def worst(colours: Iterable[str]) -> str:
    return max(colours, key=_RANK.__getitem__, default=NONE)


def service_level(row: KpiRow, threshold_s: int, formula: str) -> float | None:
    """The row's SL at ``threshold_s`` by ``formula``; None if nothing was offered or there is no such threshold."""
    try:
        return row.service_level(threshold_s, formula)
    except KeyError:
        return None


@dataclass(slots=True)
class _Held:
    """The row held for one window of a queue, and when this process received it (wall-clock ms)."""

    row: KpiRow
    received_ms: int

    def order(self) -> tuple[int, int]:
        return (self.row.window_start_ms, self.row.as_of_ms)


@dataclass(slots=True)
class _QueueRows:
    interval: _Held | None = None
    today: _Held | None = None
    live: _Held | None = None  # the newest row carrying a 'now' part
    received_ms: int = 0


def _newer(held: _Held | None, candidate: _Held) -> bool:
    return held is None or candidate.order() >= held.order()


@dataclass
class Board:
    """The newest KPI rows of every queue on one channel, and the tiles they make."""

    targets: Mapping[str, QueueTarget] = field(default_factory=dict)  # per queue; others get default_target
    default_target: QueueTarget = field(default_factory=QueueTarget)
    rules: ColourRules = field(default_factory=ColourRules)
    channel: str = "all"
    _queues: dict[str, _QueueRows] = field(default_factory=dict)
    last_received_ms: int | None = None

    def target(self, queue: str) -> QueueTarget:
        return self.targets.get(queue, self.default_target)

    def fold(self, row: KpiRow, received_ms: int) -> str | None:
        """Take one KPI row in; the queue whose tile may have changed, or None if the row is not shown."""
        if row.channel != self.channel:
            return None
        rows = self._queues.setdefault(row.queue, _QueueRows())
        held = _Held(row, received_ms)
        changed = False
        if row.window == INTERVAL_WINDOW and _newer(rows.interval, held):
            rows.interval, changed = held, True
        elif row.window == TODAY_WINDOW and _newer(rows.today, held):
            rows.today, changed = held, True
        if row.now is not None and (rows.live is None or row.as_of_ms >= rows.live.row.as_of_ms):
            rows.live, changed = held, True
        if changed:
            rows.received_ms = max(rows.received_ms, received_ms)
        elif rows.received_ms == 0:
            del self._queues[row.queue]  # a first row with nothing to show: no empty tile
        self.last_received_ms = max(self.last_received_ms or 0, received_ms)
        return row.queue if changed else None

    def queues(self) -> list[str]:
        return sorted(self._queues)

    def tiles(self, view: View) -> list[dict[str, Any]]:
        return [self.tile(queue, view) for queue in self.queues() if view.shows(queue)]

    def tile(self, queue: str, view: View) -> dict[str, Any]:
        """One queue's tile as JSON for the page: figures, their colours and the tile's status."""
        rows = self._queues.get(queue, _QueueRows())
        target = self.target(queue)
        threshold_s = view.threshold_s or target.threshold_s
        now = _now_figures(rows.live, threshold_s, self.rules)
        periods = {
            name: _period_figures(held, threshold_s, view.formula, target, self.rules)
            for name, held in (("interval", rows.interval), ("today", rows.today))
        }
        colours = [now["colours"][name] for name in ("waiting", "oldest_wait", "staffing_gap")]
        colours += [periods["interval"]["colours"][name] for name in ("sl", "abandonment", "asa")]
        return {
            "queue": queue,
            "channel": self.channel,
            "threshold_s": threshold_s,
            "formula": view.formula,
            "target_ratio": target.ratio,
            "status": worst(colours),
            "updated_ms": rows.received_ms,
            "now": now,
            **periods,
        }


_PERIOD_FIGURES = (
    "window_start", "window_end", "final", "as_of", "offered", "answered", "abandoned",
    "sl", "asa_s", "abandonment_ratio", "aht_s",
)  # fmt: skip
_NOW_FIGURES = ("as_of", "waiting", "oldest_wait_s", "agents", "staffing", "staffing_gap")


def _period_figures(
    held: _Held | None, threshold_s: int, formula: str, target: QueueTarget, rules: ColourRules
) -> dict[str, Any]:
    if held is None:
        return {**dict.fromkeys(_PERIOD_FIGURES), "colours": dict.fromkeys(("sl", "abandonment", "asa"), NONE)}
    row = held.row
    kpis = row.kpis
    sl = service_level(row, threshold_s, formula)
    return {
        "window_start": iso_ms(row.window_start_ms),
        "window_end": iso_ms(row.window_end_ms),
        "final": row.final,
        "as_of": iso_ms(row.as_of_ms),
        "offered": row.offered,
        "answered": kpis.get("answered"),
        "abandoned": kpis.get("abandoned"),
        "sl": sl,
        "asa_s": row.asa_s,
        "abandonment_ratio": row.abandonment_ratio,
        "aht_s": kpis.get("aht_s"),
        "colours": {
            "sl": sl_colour(sl, target.ratio, rules.sl_amber_margin),
            "abandonment": abandon_colour(row.abandonment_ratio, rules),
            "asa": asa_colour(row.asa_s, threshold_s),
        },
    }


def _now_figures(held: _Held | None, threshold_s: int, rules: ColourRules) -> dict[str, Any]:
    if held is None:
        return {
            **dict.fromkeys(_NOW_FIGURES),
            "colours": dict.fromkeys(("waiting", "oldest_wait", "staffing_gap"), NONE),
        }
    now = held.row.now or {}
    agents = now.get("agents")
    staffing = now.get("staffing")
    gap = None if staffing is None else int(staffing["gap_erlang_c"])
    waiting = int(now["waiting"])
    return {
        "as_of": iso_ms(held.row.as_of_ms),
        "waiting": waiting,
        "oldest_wait_s": now.get("oldest_wait_s"),
        "agents": None if agents is None else dict(agents),
        "staffing": None if staffing is None else dict(staffing),
        "staffing_gap": gap,
        "colours": {
            "waiting": waiting_colour(waiting, None if agents is None else int(agents.get("available", 0))),
            "oldest_wait": oldest_wait_colour(now.get("oldest_wait_s"), threshold_s, rules),
            "staffing_gap": staffing_colour(gap, rules),
        },
    }
