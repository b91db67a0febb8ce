"""When the worker serves numbers: only once the tables of its current assignment are restored."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from ccpulse.domain.fact_store import FactStore
from ccpulse.domain.queue_view import ViewConfig
from ccpulse.runtime.app import CcpulseApp, _PartitionState
from tests.unit.test_offset_guard import Consumer, pipeline


def worker_app() -> tuple[CcpulseApp, Any]:
    app = pipeline(Consumer())
    faust_app = SimpleNamespace(
        consumer=app.app.consumer, consumer_generation_id=0, in_recovery=False, rebalancing=False
    )
    app.app = faust_app  # type: ignore[assignment]
    return app, faust_app


def test_not_ready_until_the_tables_of_the_assignment_are_restored() -> None:
    # Faust's recovery "completed" event stays set from an earlier (even empty) assignment,
    # and "rebalancing" ends before the new recovery starts: neither may make the worker ready.
    app, faust_app = worker_app()
    faust_app.consumer_generation_id = 3
    assert not app.is_ready()
    asyncio.run(app.on_tables_recovered(faust_app))
    assert app.is_ready()
    faust_app.rebalancing = True
    assert not app.is_ready()
    faust_app.rebalancing = False
    faust_app.in_recovery = True
    assert not app.is_ready()


def test_a_revocation_ends_readiness_and_drops_the_stores_built_from_tables() -> None:
    app, faust_app = worker_app()
    asyncio.run(app.on_tables_recovered(faust_app))
    app.partitions[0] = _PartitionState(FactStore(ViewConfig()))
    asyncio.run(app.forget_offsets(faust_app, set()))
    assert not app.is_ready()
    assert app.partitions == {}


def test_a_recovery_of_a_replaced_generation_does_not_make_the_next_one_ready() -> None:
    app, faust_app = worker_app()
    faust_app.consumer_generation_id = 7
    asyncio.run(app.on_tables_recovered(faust_app))  # late, for generation 7
    faust_app.consumer_generation_id = 8  # the new assignment, its recovery not done yet
    assert not app.is_ready()
    asyncio.run(app.on_tables_recovered(faust_app))
    assert app.is_ready()
