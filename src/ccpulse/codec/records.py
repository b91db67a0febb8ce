"""JSON forms of what the worker stores and publishes: contact state and facts.

Table values are plain JSON-able dicts so a changelog topic stays readable
with any Kafka tool; these functions are their only readers and writers.
"""

from __future__ import annotations

from typing import Any

from ccpulse.codec import json
from ccpulse.domain.events import Channel
from ccpulse.domain.queue_stints import (
    ContactQueueState,
    PendingOutcome,
    QueueOutcome,
    QueueOutcomeFact,
    QueueStint,
)

FACT_SCHEMA_VERSION = 1


def fact_to_json(fact: QueueOutcomeFact) -> bytes:
    """The contact-facts topic record (``schemas/contact-fact.schema.json``)."""
    return json.dumps(
        {
            "version": FACT_SCHEMA_VERSION,
            "kind": "queue_stint",
            "fact_id": fact.fact_id,
            "contact_id": fact.contact_id,
            "queue": fact.queue,
            "channel": fact.channel.value,
            "outcome": fact.outcome.value,
            "queued_ts": fact.queued_ts_ms,
            "outcome_ts": fact.outcome_ts_ms,
            "wait_ms": fact.wait_ms,
        }
    )


def fact_from_json(raw: bytes) -> QueueOutcomeFact:
    document = json.loads(raw)
    return QueueOutcomeFact(
        contact_id=document["contact_id"],
        queue=document["queue"],
        channel=Channel(document["channel"]),
        outcome=QueueOutcome(document["outcome"]),
        queued_ts_ms=document["queued_ts"],
        outcome_ts_ms=document["outcome_ts"],
    )


def state_to_dict(state: ContactQueueState) -> dict[str, Any]:
    return {
        "stints": [
            [s.queue, s.channel.value, s.queued_ts_ms, s.outcome and s.outcome.value, s.outcome_ts_ms]
            for s in state.stints
        ],
        "pending": [[p.outcome.value, p.ts_ms] for p in state.pending_outcomes],
        "seen": list(state.seen_event_ids),
    }


def state_from_dict(document: dict[str, Any] | None) -> ContactQueueState:
    if not document:
        return ContactQueueState()
    return ContactQueueState(
        stints=tuple(
            QueueStint(queue, Channel(channel), queued, outcome and QueueOutcome(outcome), outcome_ts)
            for queue, channel, queued, outcome, outcome_ts in document["stints"]
        ),
        pending_outcomes=tuple(PendingOutcome(QueueOutcome(outcome), ts) for outcome, ts in document["pending"]),
        seen_event_ids=tuple(document["seen"]),
    )
