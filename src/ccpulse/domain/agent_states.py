"""One agent's presence states over time and the span fact each closed state yields.

An ``agent.state_changed`` at ``ts_ms`` says "from now on the agent is in
``state``" (SPEC section 2). The time an agent spent in a state is the span
from that change to the agent's next change: ``[start_ts_ms, end_ts_ms)``,
published as an :class:`~ccpulse.domain.facts.AgentStateFact` carrying the
queues and team of the event that *started* the span. Occupancy and staffed
time are sums of these spans (SPEC section 3).

The facts are a pure function of the *set* of changes seen, never of their
arrival order:

- changes are ordered by ``(ts_ms, event_id)``;
- several changes at one instant: the one with the largest ``event_id`` is
  the state from that instant on; the others lasted zero milliseconds and
  yield no fact (so no two facts share a start time, which is the fact id);
- only closed spans are facts; the latest state is still open and is what the
  live "agents by state" view shows (:func:`open_state`);
- every state yields facts, ``logged_out`` included (its span is the time
  between logging out and logging in again); consumers pick the states they
  count.

A change that arrives late can split a span published earlier: the agent went
available at 09:00 and busy at 09:30, and the away at 09:10 arrives last.
:func:`apply_agent_event` then retracts ``available [09:00, 09:30)`` and
publishes ``available [09:00, 09:10)`` and ``away [09:10, 09:30)``.

Memory: an agent changes state hundreds of times a day for years, so the
history cannot grow forever. :func:`prune_agent_timeline` forgets the changes
whose spans can no longer change (the engine calls it with stream time minus
the lateness allowance); a change older than the retained history is then
*too late* (:func:`is_too_late`) and is ignored by :func:`apply_agent_event`,
for the engine to count and dead-letter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import NamedTuple

from ccpulse.domain.changes import FactChanges, diff_facts
from ccpulse.domain.events import AgentEvent, AgentState
from ccpulse.domain.facts import AgentStateFact

# Bounded memory of applied event ids, for the duplicate count. The facts do
# not depend on it: changes are a set keyed by event id, so a replay of a
# forgotten event changes nothing either.
MAX_REMEMBERED_EVENT_IDS = 256

NO_CHANGES: FactChanges[AgentStateFact] = FactChanges()


@dataclass(frozen=True, slots=True)
class StateChange:
    """One ``agent.state_changed``: from ``ts_ms`` on, the agent is in ``state``."""

    ts_ms: int
    event_id: str
    state: AgentState
    queues: tuple[str, ...] = ()
    team: str | None = None


@dataclass(frozen=True, slots=True)
class AgentTimeline:
    """Everything the worker remembers about one agent's states.

    ``changes`` is sorted by ``(ts_ms, event_id)``, one entry per event id: a
    set in tuple form, so equal event sets give equal timelines.
    ``floor_ts_ms`` is set once older changes were pruned: changes before it
    are forgotten and an event before it is too late.
    """

    changes: tuple[StateChange, ...] = ()
    floor_ts_ms: int | None = None
    seen_event_ids: tuple[str, ...] = ()


class OpenState(NamedTuple):
    """The state an agent is in now, since when (ms), and the queues it serves in it."""

    state: AgentState
    since_ts_ms: int
    queues: tuple[str, ...]


def is_duplicate(timeline: AgentTimeline, event: AgentEvent) -> bool:
    """True if this event id was applied recently (at-least-once delivery re-sent it)."""
    return event.event_id in timeline.seen_event_ids


def is_too_late(timeline: AgentTimeline, event: AgentEvent) -> bool:
    """True if the event is older than the retained history (see :func:`prune_agent_timeline`)."""
    return timeline.floor_ts_ms is not None and event.ts_ms < timeline.floor_ts_ms


def apply_agent_event(timeline: AgentTimeline, event: AgentEvent) -> tuple[AgentTimeline, FactChanges[AgentStateFact]]:
    """Fold one state change into the timeline; return the new timeline and the facts it changed.

    Duplicates and too-late events change no fact; both are remembered as
    seen, so a re-delivery of either counts as a duplicate. A duplicate gets
    back the very timeline it was applied to (callers may test identity).
    """
    if is_duplicate(timeline, event):
        return timeline, NO_CHANGES
    seen = (*timeline.seen_event_ids, event.event_id)[-MAX_REMEMBERED_EVENT_IDS:]
    if is_too_late(timeline, event):
        return AgentTimeline(timeline.changes, timeline.floor_ts_ms, seen), NO_CHANGES
    change = StateChange(event.ts_ms, event.event_id, event.state, event.queues, event.team)
    last = timeline.changes[-1] if timeline.changes else None
    if last is None or change.ts_ms > last.ts_ms:
        # The usual case, an event later than every other: it closes the open
        # span and nothing else changes. Same result as the general path below,
        # without re-deriving the whole history.
        new_timeline = AgentTimeline((*timeline.changes, change), timeline.floor_ts_ms, seen)
        if last is None:
            return new_timeline, NO_CHANGES
        closed = AgentStateFact(
            event.agent_id, last.state, last.ts_ms, change.ts_ms, queues=last.queues, team=last.team
        )
        return new_timeline, FactChanges(published=(closed,))
    # A re-delivery older than the remembered ids is already in the set.
    if any(c.event_id == event.event_id for c in timeline.changes if c.ts_ms == change.ts_ms):
        return AgentTimeline(timeline.changes, timeline.floor_ts_ms, seen), NO_CHANGES
    new_timeline = AgentTimeline(
        tuple(sorted((*timeline.changes, change), key=_change_order)), timeline.floor_ts_ms, seen
    )
    before = agent_state_facts(event.agent_id, timeline)
    after = agent_state_facts(event.agent_id, new_timeline)
    return new_timeline, diff_facts(before, after)


def agent_state_facts(agent_id: str, timeline: AgentTimeline) -> dict[str, AgentStateFact]:
    """The closed spans of the retained history, by fact id (earliest first)."""
    facts: dict[str, AgentStateFact] = {}
    for current, following in pairwise(_effective_changes(timeline.changes)):
        fact = AgentStateFact(
            agent_id, current.state, current.ts_ms, following.ts_ms, queues=current.queues, team=current.team
        )
        facts[fact.fact_id] = fact
    return facts


def open_state(timeline: AgentTimeline) -> OpenState | None:
    """The agent's current (open) state for the live view, or None before its first change.

    ``since_ts_ms`` is when the agent entered this state: consecutive changes
    to the same state (a queue assignment re-sent as another ``available``)
    do not restart the clock, back to the start of the retained history at
    most. ``queues`` are those of the latest change.
    """
    changes = timeline.changes
    if not changes:
        return None
    latest = changes[-1]  # sorted by (ts_ms, event_id): the winner of the latest instant
    since_ts_ms = latest.ts_ms
    # Walk back over earlier instants (the last change of each is its winner) while
    # the state stays the same; only the tail is read, however long the history.
    instant_ms = latest.ts_ms
    for earlier in reversed(changes):
        if earlier.ts_ms == instant_ms:
            continue  # a loser of an instant already looked at
        instant_ms = earlier.ts_ms
        if earlier.state is not latest.state:
            break
        since_ts_ms = earlier.ts_ms
    return OpenState(latest.state, since_ts_ms, latest.queues)


def prune_agent_timeline(timeline: AgentTimeline, before_ts_ms: int) -> AgentTimeline:
    """Forget the changes whose spans ended at or before ``before_ts_ms``.

    The change in force at ``before_ts_ms`` and everything after it are kept,
    so every span that could still change stays; the facts of forgotten spans
    are final (pruning publishes and retracts nothing). Afterwards an event
    earlier than the kept history is too late. ``before_ts_ms`` is stream time
    minus the lateness allowance.
    """
    changes = timeline.changes
    if len(changes) < 2 or changes[1].ts_ms > before_ts_ms:
        return timeline  # nothing before the change in force: nothing to forget (the common case)
    in_force: StateChange | None = None
    for change in _effective_changes(changes):
        if change.ts_ms > before_ts_ms:
            break
        in_force = change
    if in_force is None or in_force.ts_ms == timeline.floor_ts_ms:
        return timeline
    kept = tuple(c for c in timeline.changes if c.ts_ms >= in_force.ts_ms)
    return replace(timeline, changes=kept, floor_ts_ms=in_force.ts_ms)


def prunes_from_ms(timeline: AgentTimeline) -> int | None:
    """The earliest ``before_ts_ms`` at which :func:`prune_agent_timeline` would change this timeline.

    Below it pruning is a no-op, so a housekeeper can skip the agent until its
    horizon reaches it. None: no horizon prunes it (fewer than two changes).
    A timeline whose floor is not its first change (never built by
    :func:`apply_agent_event` and pruning) may be prunable at any horizon: the
    earliest one is returned, and pruning it then may change nothing.
    """
    changes = timeline.changes
    if len(changes) < 2:
        return None
    floor_ts_ms = timeline.floor_ts_ms
    if floor_ts_ms is None or floor_ts_ms != changes[0].ts_ms:
        return changes[1].ts_ms
    # Pruned before: only a later instant coming in force moves the floor again.
    for change in changes:
        if change.ts_ms > floor_ts_ms:
            return change.ts_ms
    return None


def _change_order(change: StateChange) -> tuple[int, str]:
    return change.ts_ms, change.event_id


def _effective_changes(changes: tuple[StateChange, ...]) -> list[StateChange]:
    """One change per instant: of changes at the same ``ts_ms``, the one with the largest event id."""
    effective: list[StateChange] = []
    for change in changes:  # sorted by (ts_ms, event_id)
        if effective and effective[-1].ts_ms == change.ts_ms:
            effective[-1] = change
        else:
            effective.append(change)
    return effective
