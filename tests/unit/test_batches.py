"""Framing of the internal topics' batches, and Kafka's default partitioner."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from ccpulse.codec.batches import (
    BATCH_MAGIC,
    CorruptBatch,
    encode_batch,
    encode_batches,
    is_batch,
    partition_for_key,
    split_batch,
)


@given(st.lists(st.binary(max_size=300), max_size=50))
def test_a_batch_gives_back_its_records_in_order(records: list[bytes]) -> None:
    batch = encode_batch(records)
    assert is_batch(batch)
    assert split_batch(batch) == records


def test_a_single_json_record_is_a_batch_of_one() -> None:
    # What earlier versions wrote: one JSON document per message.
    record = b'{"op":"clock","source":1,"ts":5}'
    assert not is_batch(record)
    assert split_batch(record) == [record]


def test_the_framing_is_four_byte_big_endian_lengths_after_the_magic() -> None:
    assert encode_batch([b"ab", b""]) == b"\x00ccb1" + b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("keep", "problem"),
    [(7, "ends inside a length field at byte 5"), (20, "a record at byte 17 claims to end at byte 21")],
)
def test_a_truncated_batch_is_reported_not_misread(keep: int, problem: str) -> None:
    batch = encode_batch([b"abcd", b"efgh"])  # 21 bytes: magic 5, then 4 + 4 twice
    with pytest.raises(CorruptBatch, match=problem):
        split_batch(batch[:keep])


@given(st.binary(min_size=1, max_size=40), st.integers(1, 64))
def test_partitions_are_kafkas_default_partitioners(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert partition_for_key(key, partitions) == DefaultPartitioner()(key, every, every)


def test_known_partitions_of_the_java_client() -> None:
    # murmur2 values published with the Java client's tests (Utils.murmur2): "21" -> -973932308.
    assert partition_for_key(b"21", 2**31 - 1) == (-973932308 & 0x7FFFFFFF) % (2**31 - 1)


@given(st.lists(st.binary(max_size=120), max_size=60), st.integers(1, 400))
def test_batches_under_a_size_keep_every_record_in_order(records: list[bytes], max_bytes: int) -> None:
    batches = encode_batches(records, max_bytes)
    assert [r for batch in batches for r in split_batch(batch)] == records
    for batch in batches:
        # Over the limit only when a single record cannot fit.
        assert len(batch) <= max_bytes or len(split_batch(batch)) == 1


def test_three_records_of_ten_bytes_in_batches_of_forty() -> None:
    # magic 5 + (4 + 10) x 2 = 33 fits 40; a third would make 47.
    batches = encode_batches([b"a" * 10, b"b" * 10, b"c" * 10], 40)
    assert [len(b) for b in batches] == [len(BATCH_MAGIC) + 28, len(BATCH_MAGIC) + 14]
