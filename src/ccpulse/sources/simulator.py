"""A seeded generator of realistic contact lifecycles, to Kafka or to NDJSON.

Each contact is drawn on its own: Poisson arrivals, a queue and channel, a wait
(exponential), a patience (exponential) that turns long waits into abandons,
a flow-out to voicemail after ``max_wait_s``, then talk (lognormal), an
occasional hold, an occasional transfer to another queue, and after-contact
work. Waits are drawn, not produced by a staffed queue; that keeps the stream
reproducible and cheap, which is what a demo and the tests need.

Event times start at the wall clock when the run starts. With ``speed`` above
1, event time runs ahead of the wall clock by that factor.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ccpulse.codec import json
from ccpulse.config import ConfigError, Settings

PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """What to simulate. ``contacts = 0`` means: until interrupted."""

    contacts: int = 0
    rate_per_s: float = 5.0
    speed: float = 1.0
    seed: int = 1
    queues: tuple[str, ...] = ("sales", "support", "billing")
    paced: bool = True
    mean_wait_s: float = 25.0
    mean_patience_s: float = 120.0
    max_wait_s: float = 300.0
    median_talk_s: float = 150.0
    hold_share: float = 0.2
    transfer_share: float = 0.08
    chat_share: float = 0.25
    # Mixed stream: agent state changes around every handled segment, surveys
    # after some contacts, and email tickets opened after some contacts.
    mixed: bool = False
    survey_share: float = 0.3
    ticket_share: float = 0.1

    def __post_init__(self) -> None:
        if self.contacts < 0:
            raise ConfigError("--contacts must be 0 (unbounded) or more")
        if not self.rate_per_s > 0:
            raise ConfigError("--rate must be above 0 contacts per second")
        if not self.speed > 0:
            raise ConfigError("--speed must be above 0")
        if not self.queues:
            raise ConfigError("--queues must name at least one queue")


def _rfc3339(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")


class ContactGenerator:
    """Yields ``(ts_ms, event)`` in event-time order for ``plan`` starting at ``start_ms``."""

    def __init__(self, plan: SimulationPlan, start_ms: int) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)  # noqa: S311 - reproducible simulation, not secrets
        self._start_ms = start_ms

    def events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        plan = self._plan
        pending: list[tuple[int, int, dict[str, Any]]] = []
        order = itertools.count()
        next_arrival_ms = self._start_ms
        for contact_no in itertools.count(1):
            if plan.contacts and contact_no > plan.contacts:
                break
            next_arrival_ms += round(self._rng.expovariate(plan.rate_per_s) * 1000)
            # Everything that happens before this arrival is final: emit it first.
            while pending and pending[0][0] <= next_arrival_ms:
                ts_ms, _, event = heapq.heappop(pending)
                yield ts_ms, event
            for ts_ms, event in self._contact(contact_no, next_arrival_ms):
                heapq.heappush(pending, (ts_ms, next(order), event))
        while pending:
            ts_ms, _, event = heapq.heappop(pending)
            yield ts_ms, event

    def _contact(self, contact_no: int, arrival_ms: int) -> list[tuple[int, dict[str, Any]]]:
        plan, rng = self._plan, self._rng
        contact_id = f"c-{plan.seed}-{contact_no}"
        channel = "chat" if rng.random() < plan.chat_share else "voice"
        customer_id = f"cust-{rng.randrange(1, 5000):05d}"
        queue = rng.choice(plan.queues)
        events: list[tuple[int, dict[str, Any]]] = []
        contact_events = 0

        def emit(ts_ms: int, event_type: str, **fields: Any) -> None:
            nonlocal contact_events
            contact_events += 1
            event = {
                "event_id": f"{contact_id}-{contact_events}",
                "type": event_type,
                "ts": _rfc3339(ts_ms),
                "contact_id": contact_id,
                "source": "simulator",
                **fields,
            }
            events.append((ts_ms, event))

        now_ms = arrival_ms
        for stint in range(2):  # at most one transfer back into a queue
            emit(now_ms, "contact.queued", queue=queue, channel=channel, customer_id=customer_id)
            wait_s = rng.expovariate(1 / plan.mean_wait_s)
            patience_s = rng.expovariate(1 / plan.mean_patience_s)
            if patience_s < min(wait_s, plan.max_wait_s):
                emit(now_ms + round(patience_s * 1000), "contact.abandoned", queue=queue)
                break
            if wait_s >= plan.max_wait_s:
                emit(now_ms + round(plan.max_wait_s * 1000), "contact.flowed_out", queue=queue, reason="timeout")
                break
            agent_id = f"agent-{rng.randrange(1, 40):02d}"
            answered_ms = now_ms + round(wait_s * 1000)
            emit(answered_ms, "contact.answered", queue=queue, agent_id=agent_id)
            talk_ms = round(rng.lognormvariate(math.log(plan.median_talk_s), 0.6) * 1000)
            if rng.random() < plan.hold_share:
                hold_start_ms = answered_ms + rng.randrange(1, max(2, talk_ms // 2))
                hold_ms = round(rng.expovariate(1 / 40) * 1000) + 1000
                emit(hold_start_ms, "contact.hold_started", agent_id=agent_id)
                emit(hold_start_ms + hold_ms, "contact.hold_ended", agent_id=agent_id)
                talk_ms += hold_ms
            ended_ms = answered_ms + talk_ms
            transfer = stint == 0 and len(plan.queues) > 1 and rng.random() < plan.transfer_share
            if transfer:
                target = rng.choice([q for q in plan.queues if q != queue])
                emit(ended_ms, "contact.transferred", agent_id=agent_id, queue=queue, to_queue=target)
            else:
                emit(ended_ms, "contact.ended", agent_id=agent_id, queue=queue, resolved=rng.random() < 0.8)
            acw_ms = round(rng.uniform(5, 60) * 1000)
            emit(ended_ms + acw_ms, "contact.wrapup_ended", agent_id=agent_id, queue=queue)
            if plan.mixed:
                self._agent_day(
                    events, f"{contact_id}-s{stint}", agent_id, queue, answered_ms, ended_ms, ended_ms + acw_ms
                )
                self._follow_up(events, f"{contact_id}-s{stint}", contact_id, queue, agent_id, ended_ms + acw_ms)
            if not transfer:
                break
            queue, now_ms = target, ended_ms + 500
        return events

    def _agent_day(
        self, events: list[tuple[int, dict[str, Any]]], segment_id: str, agent_id: str, queue: str, *spans_ms: int
    ) -> None:
        """busy at the answer, acw at the end, available after wrap-up (sometimes a break first)."""
        busy_ms, acw_ms, free_ms = spans_ms
        states = [(busy_ms, "busy"), (acw_ms, "acw"), (free_ms, "available")]
        if self._rng.random() < 0.05:
            states.append((free_ms + 1, "away"))
            states.append((free_ms + round(self._rng.uniform(60, 900) * 1000), "available"))
        for n, (ts_ms, state) in enumerate(states, 1):
            event_id = f"{segment_id}-agent-{n}"
            events.append(
                (
                    ts_ms,
                    {
                        "event_id": event_id,
                        "type": "agent.state_changed",
                        "ts": _rfc3339(ts_ms),
                        "agent_id": agent_id,
                        "state": state,
                        "queues": [queue],
                        "source": "simulator",
                    },
                )
            )

    def _follow_up(
        self,
        events: list[tuple[int, dict[str, Any]]],
        segment_id: str,
        contact_id: str,
        queue: str,
        agent_id: str,
        done_ms: int,
    ) -> None:
        """A survey about the contact, and sometimes an email ticket with replies, a solve, a reopen."""
        rng = self._rng
        if rng.random() < self._plan.survey_share:
            kind, low, high = rng.choice([("csat", 1, 5), ("nps", 0, 10), ("ces", 1, 7)])
            at_ms = done_ms + round(rng.uniform(30, 600) * 1000)
            survey = {"kind": kind, "score": rng.randint(low, high), "contact_id": contact_id}
            events.append((at_ms, self._common(f"{segment_id}-survey", "survey.submitted", at_ms) | survey))
        if rng.random() < self._plan.ticket_share:
            ticket_id = f"t-{segment_id}"
            at_ms = done_ms + 1000
            steps: list[tuple[str, dict[str, Any]]] = [("ticket.created", {})]
            for _ in range(rng.randint(1, 3)):
                steps.append(("ticket.replied", {"agent_id": agent_id, "public": rng.random() < 0.8}))
            steps.append(("ticket.solved", {}))
            if rng.random() < 0.15:
                steps += [("ticket.reopened", {}), ("ticket.replied", {"agent_id": agent_id, "public": True})]
                steps.append(("ticket.solved", {}))
            steps.append(("ticket.closed", {}))
            for n, (kind, fields) in enumerate(steps, 1):
                at_ms += round(rng.expovariate(1 / 3600) * 1000) + 1
                # Every ticket event names its ticket, queue and channel (SPEC section 2).
                owner = {"ticket_id": ticket_id, "queue": queue, "channel": "email"}
                event = self._common(f"{ticket_id}-{n}", kind, at_ms) | owner | fields
                events.append((at_ms, event))

    @staticmethod
    def _common(event_id: str, event_type: str, ts_ms: int) -> dict[str, Any]:
        return {"event_id": event_id, "type": event_type, "ts": _rfc3339(ts_ms), "source": "simulator"}


class _Progress:
    def __init__(self, destination: str) -> None:
        self._destination = destination
        self._started = time.monotonic()
        self._last = self._started
        self.events = 0

    def tick(self) -> None:
        self.events += 1
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self.report()

    def report(self) -> None:
        elapsed = time.monotonic() - self._started
        print(f"simulate: {self.events} events to {self._destination} in {elapsed:.0f} s", file=sys.stderr)


async def _paced(plan: SimulationPlan, start_ms: int) -> AsyncIterator[dict[str, Any]]:
    """Yield events, sleeping so each leaves when its (accelerated) time comes."""
    wall_start = time.monotonic()
    for ts_ms, event in ContactGenerator(plan, start_ms).events():
        if plan.paced:
            due = wall_start + (ts_ms - start_ms) / 1000 / plan.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield event


async def run_simulation(plan: SimulationPlan, settings: Settings, output: Path | None) -> int:
    start_ms = int(time.time() * 1000)
    if output is not None:
        return await _to_file(plan, start_ms, output)
    return await _to_kafka(plan, settings, start_ms)


async def _to_file(plan: SimulationPlan, start_ms: int, output: Path) -> int:
    stream: IO[bytes]
    stream = sys.stdout.buffer if str(output) == "-" else output.open("wb")
    progress = _Progress(str(output))
    try:
        async for event in _paced(plan, start_ms):
            stream.write(json.dumps(event) + b"\n")
            progress.tick()
    finally:
        stream.flush()
        if stream is not sys.stdout.buffer:
            stream.close()
    progress.report()
    return 0


async def _to_kafka(plan: SimulationPlan, settings: Settings, start_ms: int) -> int:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - file output needs no Kafka client

    from ccpulse.runtime.topics import ensure_topics  # noqa: PLC0415

    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_idempotence=True,
        linger_ms=5,
    )
    await producer.start()
    progress = _Progress(f"topic {settings.input_topic}")
    try:
        async for event in _paced(plan, start_ms):
            # Keyed by contact so a contact's events keep their order on one partition.
            key = event["contact_id"].encode()
            await producer.send(settings.input_topic, key=key, value=json.dumps(event))
            progress.tick()
        await producer.flush()
    finally:
        await producer.stop()
    progress.report()
    return 0
