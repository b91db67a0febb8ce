"""The wallboard's HTTP side on a board filled by hand (no broker): page, JSON tiles, the event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from ccpulse.codec import json
from ccpulse.config import Settings
from ccpulse.wallboard.board import Board
from ccpulse.wallboard.server import WallboardOptions, WallboardServer
from tests.unit.test_wallboard_board import row


def server() -> WallboardServer:
    return WallboardServer(Settings(), WallboardOptions(push_interval_s=0.01), Board())


@pytest_asyncio.fixture
async def client() -> AsyncIterator[tuple[WallboardServer, TestClient[Any, Any]]]:
    wallboard = server()
    wallboard.board.fold(row(queue="sales"), received_ms=1_000)
    wallboard.board.fold(row(queue="support"), received_ms=1_000)
    test_client = TestClient(TestServer(wallboard.application()))
    await test_client.start_server()
    yield wallboard, test_client
    await wallboard.stop()
    await test_client.close()


async def next_event(stream: asyncio.StreamReader) -> tuple[str, dict[str, object]]:
    name, data = "", b""
    while True:
        line = await asyncio.wait_for(stream.readline(), timeout=5)
        if line.startswith(b"event: "):
            name = line[7:].strip().decode()
        elif line.startswith(b"data: "):
            data = line[6:].strip()
        elif line == b"\n" and name:
            return name, json.loads(data)


@pytest.mark.asyncio
async def test_the_page_and_its_files_are_served(client: tuple[WallboardServer, TestClient[Any, Any]]) -> None:
    _, test_client = client
    page = await test_client.get("/")
    assert page.status == 200
    assert "text/html" in page.headers["Content-Type"]
    assert 'src="wallboard.js"' in await page.text()
    for name, kind in (("wallboard.js", "javascript"), ("wallboard.css", "text/css")):
        response = await test_client.get(f"/{name}")
        assert response.status == 200
        assert kind in response.headers["Content-Type"]


@pytest.mark.asyncio
async def test_the_json_tiles_follow_the_url_and_reject_a_bad_threshold(
    client: tuple[WallboardServer, TestClient[Any, Any]],
) -> None:
    _, test_client = client
    everything = await (await test_client.get("/api/tiles")).json()
    assert [tile["queue"] for tile in everything["tiles"]] == ["sales", "support"]
    assert everything["last_row_ms"] == 1_000
    team = await (await test_client.get("/api/tiles?queues=support&threshold=30")).json()
    assert [(tile["queue"], tile["interval"]["sl"]) for tile in team["tiles"]] == [("support", 1.0)]
    bad = await test_client.get("/api/tiles?threshold=soon")
    assert bad.status == 400
    assert "threshold" in await bad.text()


@pytest.mark.asyncio
async def test_the_event_stream_sends_the_screens_tiles_then_only_what_changed(
    client: tuple[WallboardServer, TestClient[Any, Any]],
) -> None:
    wallboard, test_client = client
    response = await test_client.get("/events?queues=sales")
    assert response.headers["Content-Type"] == "text/event-stream"
    hello = await next_event(response.content)
    assert hello[0] == "hello"
    assert hello[1]["queues"] == ["sales"]
    first = await next_event(response.content)
    assert first[0] == "tiles"
    assert [tile["queue"] for tile in first[1]["tiles"]] == ["sales"]
    # A row for another screen's queue is not sent here; one for sales is.
    wallboard.feed.take(row(queue="support", as_of="2026-03-02T10:09:00.000Z"), received_ms=2_000)
    wallboard.feed.take(row(queue="sales", as_of="2026-03-02T10:09:00.000Z", sl20=0.5), received_ms=3_000)
    name, update = await next_event(response.content)
    assert name == "tiles"
    assert [(tile["queue"], tile["interval"]["sl"]) for tile in update["tiles"]] == [("sales", 0.5)]
    assert update["last_row_ms"] == 3_000
    response.close()
