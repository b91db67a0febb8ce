"""The JSON codec's memory: a document kept in memory holds its length, not orjson's write buffer.

With orjson 3.13 a 2 KB KPI row from ``dumps`` holds 32 KB (orjson returns
its write buffer untrimmed); the worker kept one per published window.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from ccpulse.codec import json

KPI_ROW = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas/examples/valid/kpi-row-interval-final.json").read_bytes()
)


def traced_bytes_per_result(encode: Callable[[object], bytes], copies: int = 200) -> tuple[float, int]:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode(KPI_ROW) for _ in range(copies)]
        return (tracemalloc.get_traced_memory()[0] - before) / copies, len(kept[0])
    finally:
        tracemalloc.stop()


def test_a_document_to_keep_holds_about_its_length() -> None:
    per_row, length = traced_bytes_per_result(json.dumps_to_keep)
    assert per_row < length + 128  # the bytes object's header, the list's slot


def test_the_same_bytes_as_dumps() -> None:
    assert json.dumps_to_keep(KPI_ROW) == json.dumps(KPI_ROW)
    assert json.loads(json.dumps_to_keep(KPI_ROW)) == KPI_ROW
