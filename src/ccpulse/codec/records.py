"""JSON forms of what the worker stores and publishes: contact state and facts.

Table values are plain JSON-able dicts so a changelog topic stays readable
with any Kafka tool; these functions are their only readers and writers.
"""

from __future__ import annotations

from typing import Any

from ccpulse.codec import json
from ccpulse.domain.events import Channel
from ccpulse.domain.facts import QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_stints import (
    ContactQueueState,
    OutcomeMark,
    StintStart,
)

FACT_SCHEMA_VERSION = 1


def fact_to_json(fact: QueueOutcomeFact, *, retracted: bool = False) -> bytes:
    """The contact-facts topic record (``schemas/contact-fact.schema.json``).

    ``retracted: true`` withdraws a fact published earlier under the same
    ``fact_id`` (its contact's events arrived out of order); a consumer that
    keeps the latest record per ``fact_id`` and drops retracted ones holds the
    true set of finished stints.
    """
    return json.dumps(
        {
            "version": FACT_SCHEMA_VERSION,
            "kind": "queue_stint",
            "fact_id": fact.fact_id,
            "retracted": retracted,
            "contact_id": fact.contact_id,
            "queue": fact.queue,
            "channel": fact.channel.value,
            "outcome": fact.outcome.value,
            "queued_ts": fact.queued_ts_ms,
            "outcome_ts": fact.outcome_ts_ms,
            "wait_ms": fact.wait_ms,
        }
    )


def fact_from_json(raw: bytes) -> tuple[QueueOutcomeFact, bool]:
    """A contact-facts record as (fact, retracted)."""
    document = json.loads(raw)
    fact = QueueOutcomeFact(
        contact_id=document["contact_id"],
        queue=document["queue"],
        channel=Channel(document["channel"]),
        outcome=QueueOutcome(document["outcome"]),
        queued_ts_ms=document["queued_ts"],
        outcome_ts_ms=document["outcome_ts"],
    )
    return fact, bool(document["retracted"])


def state_to_dict(state: ContactQueueState) -> dict[str, Any]:
    return {
        "starts": [[s.queued_ts_ms, s.queue, s.channel.value] for s in state.starts],
        "outcomes": [[m.ts_ms, m.event_id, m.outcome.value] for m in state.outcomes],
        "seen": list(state.seen_event_ids),
    }


def state_from_dict(document: dict[str, Any] | None) -> ContactQueueState:
    if not document:
        return ContactQueueState()
    return ContactQueueState(
        starts=tuple(StintStart(ts, queue, Channel(channel)) for ts, queue, channel in document["starts"]),
        outcomes=tuple(
            OutcomeMark(ts, event_id, QueueOutcome(outcome)) for ts, event_id, outcome in document["outcomes"]
        ),
        seen_event_ids=tuple(document["seen"]),
    )
