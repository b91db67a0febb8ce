"""The facts topic gets each key's last value of a batch: an upsert, or a tombstone (None)."""

from __future__ import annotations

from typing import Any

from ccpulse.codec.outputs import fact_record_key
from ccpulse.domain.entities import Delete, Sync, Upsert
from ccpulse.domain.fact_store import RowWrite
from ccpulse.runtime.app import _stage_facts

FACT: Any = object()  # the staging never looks into the fact itself


def test_each_key_keeps_only_its_last_change_of_the_batch() -> None:
    facts: dict[bytes, Upsert | None] = {}
    first = Upsert("q1", "handling|c1", "contact:c1", FACT)
    again = Upsert("q1", "handling|c1", "contact:c1", FACT)
    other = Upsert("q2", "arrival|c2", "contact:c2", FACT)
    _stage_facts(facts, first, [])
    _stage_facts(facts, other, [])
    _stage_facts(facts, again, [])
    assert facts == {fact_record_key("q1", "handling|c1"): again, fact_record_key("q2", "arrival|c2"): other}
    _stage_facts(facts, Delete("q1", "handling|c1", "contact:c1"), [])
    assert facts[fact_record_key("q1", "handling|c1")] is None


def test_a_sync_withdraws_every_stale_fact_it_removed_and_a_later_upsert_brings_one_back() -> None:
    facts: dict[bytes, Upsert | None] = {}
    sync = Sync("q1", "agent:a1", ("state|a1|1",))
    _stage_facts(facts, sync, [RowWrite("q1", "state|a1|0", None), RowWrite("q1", "presence|a1", None)])
    assert facts == {fact_record_key("q1", "state|a1|0"): None, fact_record_key("q1", "presence|a1"): None}
    back = Upsert("q1", "presence|a1", "agent:a1", FACT)
    _stage_facts(facts, back, [])
    assert facts[fact_record_key("q1", "presence|a1")] is back
