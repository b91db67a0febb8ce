"""The one home of orjson: every JSON encode and decode goes through here."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def dumps_to_keep(value: Any) -> bytes:
    """:func:`dumps` for a document held in memory long after it is written.

    orjson hands back its whole write buffer: 4 KiB at least, grown by powers
    of two, whatever the document's length (a 2 KB KPI row holds 32 KB). A
    copy of exactly the document's length frees the rest; it costs a fraction
    of the encoding, so only values kept for a while are copied.
    """
    return bytes(memoryview(orjson.dumps(value)))
