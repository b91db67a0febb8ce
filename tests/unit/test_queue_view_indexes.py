"""The queue view's compact side indexes against the plain structures they replaced.

The view files stints and repeat-contact arrivals in compact forms (flags per
stint id, a customer's arrivals as a multiset, filing by time slot) to keep
little memory per open contact. These tests drive each index and a
straightforward reference (dicts, a heap and an :class:`AgeIndex`, as the view
once had them) with the same random operations, and require the same
answers after every step: retractions, re-publications, late facts and
housekeeping included.
"""

from __future__ import annotations

import heapq
import random

import pytest

from ccpulse.domain.age_index import AgeIndex
from ccpulse.domain.events import Channel
from ccpulse.domain.facts import QueueArrivalFact, QueueOutcome, QueueOutcomeFact
from ccpulse.domain.queue_view import _ARRIVED, _FINISHED, _CustomerArrivals, _Stints

SLOT_MS = 60_000
WINDOW_MS = 3 * SLOT_MS + 7


class ReferenceStints:
    """Arrived, finished and waiting stints by fact id, with a heap for retention."""

    def __init__(self) -> None:
        self.arrived: dict[str, int] = {}
        self.finished: dict[str, int] = {}
        self.waiting: dict[str, int] = {}
        self.expiry: list[tuple[int, str]] = []

    def follow(self, fact: QueueArrivalFact | QueueOutcomeFact, sign: int) -> None:
        stint, queued_ms = fact.fact_id, fact.queued_ts_ms
        if sign > 0 and stint not in self.arrived and stint not in self.finished:
            heapq.heappush(self.expiry, (queued_ms, stint))
        if isinstance(fact, QueueArrivalFact):
            if sign > 0:
                self.arrived[stint] = queued_ms
                if stint not in self.finished:
                    self.waiting[stint] = queued_ms
            else:
                self.arrived.pop(stint, None)
                self.waiting.pop(stint, None)
        elif sign > 0:
            self.finished[stint] = queued_ms
            self.waiting.pop(stint, None)
        else:
            self.finished.pop(stint, None)
            if stint in self.arrived:
                self.waiting[stint] = self.arrived[stint]

    def reap(self, horizon_ms: int, stuck_before_ms: int) -> int:
        while self.expiry and self.expiry[0][0] < horizon_ms:
            _, stint = heapq.heappop(self.expiry)
            self.arrived.pop(stint, None)
            self.finished.pop(stint, None)
        stuck = [stint for stint, queued_ms in self.waiting.items() if queued_ms < stuck_before_ms]
        for stint in stuck:
            del self.waiting[stint]
        return len(stuck)


class ReferenceArrivals:
    """Arrivals by customer in lists, aged per (customer, contact) by the end of their repeat window."""

    def __init__(self) -> None:
        self.by_customer: dict[str, list[tuple[str, int]]] = {}
        self.ages = AgeIndex[tuple[str, str]](SLOT_MS)

    def index(self, customer: str, contact: str, queued_ms: int) -> None:
        self.by_customer.setdefault(customer, []).append((contact, queued_ms))
        self.ages.touch((customer, contact), queued_ms + WINDOW_MS)

    def unindex(self, customer: str, contact: str, queued_ms: int) -> None:
        arrivals = self.by_customer.get(customer)
        if arrivals and (contact, queued_ms) in arrivals:
            arrivals.remove((contact, queued_ms))

    def reap(self, now_ms: int) -> None:
        for customer, contact in self.ages.pop_older_than(now_ms):
            arrivals = self.by_customer.get(customer, [])
            arrivals[:] = [arrival for arrival in arrivals if arrival[0] != contact]
            if not arrivals:
                self.by_customer.pop(customer, None)


def _stint_fact(rng: random.Random, clock_ms: int) -> QueueArrivalFact | QueueOutcomeFact:
    contact = f"c{rng.randrange(12)}"
    queued_ms = clock_ms - rng.randrange(8) * (SLOT_MS // 2)
    if rng.random() < 0.5:
        return QueueArrivalFact(contact, "sales", Channel.VOICE, queued_ms)
    return QueueOutcomeFact(contact, "sales", Channel.VOICE, QueueOutcome.ANSWERED, queued_ms, queued_ms + 5)


@pytest.mark.parametrize("seed", range(40))
def test_stints_match_the_plain_dicts(seed: int) -> None:
    rng = random.Random(seed)
    stints, reference = _Stints(SLOT_MS), ReferenceStints()
    clock_ms = 10 * SLOT_MS
    published: list[QueueArrivalFact | QueueOutcomeFact] = []
    for _ in range(400):
        roll = rng.random()
        if roll < 0.55 or not published:
            fact = _stint_fact(rng, clock_ms)
            published.append(fact)
            stints.follow(fact, +1)
            reference.follow(fact, +1)
        elif roll < 0.8:
            fact = published.pop(rng.randrange(len(published)))
            stints.follow(fact, -1)
            reference.follow(fact, -1)
        else:
            clock_ms += rng.randrange(3) * SLOT_MS // 3
            horizon_ms = clock_ms - 2 * SLOT_MS - rng.randrange(3)
            stuck_before_ms = clock_ms - rng.randrange(3 * SLOT_MS)
            stints.forget_before(horizon_ms)
            assert stints.drop_waiting_before(stuck_before_ms) == reference.reap(horizon_ms, stuck_before_ms)
        assert {f"{contact}:{queued}": t for (contact, queued), t in stints.waiting.items()} == reference.waiting
        expected_flags = {
            stint: (stint in reference.arrived) * _ARRIVED | (stint in reference.finished) * _FINISHED
            for stint in {*reference.arrived, *reference.finished}
        }
        assert {f"{c}:{q}": flags for (c, q), flags in stints._live.items()} == expected_flags


@pytest.mark.parametrize("seed", range(60))
def test_customer_arrivals_match_the_age_index(seed: int) -> None:
    rng = random.Random(seed)
    arrivals, reference = _CustomerArrivals(WINDOW_MS, SLOT_MS), ReferenceArrivals()
    clock_ms = 10 * SLOT_MS
    indexed: list[tuple[str, str, int]] = []
    customers = [f"k{n}" for n in range(4)]
    for _ in range(500):
        roll = rng.random()
        if roll < 0.5 or not indexed:
            customer, contact = rng.choice(customers), f"c{rng.randrange(6)}"
            queued_ms = clock_ms - rng.randrange(10) * (SLOT_MS // 3)
            indexed.append((customer, contact, queued_ms))
            arrivals.index(customer, (contact, queued_ms))
            reference.index(customer, contact, queued_ms)
        elif roll < 0.75:
            customer, contact, queued_ms = indexed.pop(rng.randrange(len(indexed)))
            arrivals.unindex(customer, (contact, queued_ms))
            reference.unindex(customer, contact, queued_ms)
        else:
            clock_ms += rng.randrange(4) * SLOT_MS // 3 + rng.randrange(2)
            arrivals.forget_expired(clock_ms)
            reference.reap(clock_ms)
        for customer in customers:
            assert sorted(arrivals.of_customer(customer)) == sorted(reference.by_customer.get(customer, []))
