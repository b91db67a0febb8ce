"""Batches on the internal topics: many records in one Kafka message.

Faust spends far more per *message* (stream machinery, acks, offsets,
sensors) than ccpulse spends per event, so the stages send each other one
message per destination partition per batch instead of one per record. A
batch is framed, not JSON, so each record inside stays the exact bytes a
single record would carry (and decodes with the same function):

    b"\\x00ccb1" then, per record, its length (4 bytes, big-endian) and its bytes

The leading zero byte can never begin a JSON document, which is how
:func:`split_batch` tells a batch from a single record: a single record (as
earlier versions wrote them) comes back as a one-record list, so a topic
holding both kinds reads correctly.

:func:`partition_for_key` is Kafka's default partitioner (murmur2 of the key,
as the Java client and aiokafka compute it), so records sent in batches to an
explicit partition land where a keyed send of each would have: tables keyed
the same way stay co-partitioned with their topics across versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

BATCH_MAGIC = b"\x00ccb1"
_LENGTH_BYTES = 4


class CorruptBatch(ValueError):
    """A batch whose framing does not add up (truncated or not written by ccpulse)."""


def encode_batch(records: Sequence[bytes]) -> bytes:
    """One message carrying ``records`` in order (at most 4 GiB each)."""
    parts = [BATCH_MAGIC]
    for record in records:
        parts.append(len(record).to_bytes(_LENGTH_BYTES, "big"))
        parts.append(record)
    return b"".join(parts)


def encode_batches(records: Sequence[bytes], max_bytes: int) -> list[bytes]:
    """``records`` in order as batches of at most ``max_bytes`` each (a larger record travels alone)."""
    batches: list[bytes] = []
    start, size = 0, len(BATCH_MAGIC)
    for index, record in enumerate(records):
        framed = _LENGTH_BYTES + len(record)
        if index > start and size + framed > max_bytes:
            batches.append(encode_batch(records[start:index]))
            start, size = index, len(BATCH_MAGIC)
        size += framed
    if start < len(records):
        batches.append(encode_batch(records[start:]))
    return batches


def is_batch(value: bytes) -> bool:
    return value.startswith(BATCH_MAGIC)


def split_batch(value: bytes) -> list[bytes]:
    """The records of a batch, in order; a single record (no magic) as a list of one."""
    if not is_batch(value):
        return [value]
    records: list[bytes] = []
    position, end = len(BATCH_MAGIC), len(value)
    while position < end:
        start = position + _LENGTH_BYTES
        if start > end:
            raise CorruptBatch(f"batch of {end} bytes ends inside a length field at byte {position}")
        stop = start + int.from_bytes(value[position:start], "big")
        if stop > end:
            raise CorruptBatch(f"batch of {end} bytes: a record at byte {start} claims to end at byte {stop}")
        records.append(value[start:stop])
        position = stop
    return records


@lru_cache(maxsize=1 << 16)
def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions
