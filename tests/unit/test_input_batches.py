"""Our sources' batched input: each partition's events in order, as a keyed send would place them."""

from __future__ import annotations

from ccpulse.codec.batches import partition_for_key
from ccpulse.sources.sink import PartitionBatches


def test_a_partition_leaves_once_it_holds_max_events_in_arrival_order() -> None:
    batches = PartitionBatches(partitions=4, max_events=3)
    keys = [f"contact:c{n}".encode() for n in range(40)]
    sent: list[tuple[int, list[bytes]]] = []
    for n, key in enumerate(keys):
        full = batches.add(key, b"event-%d" % n)
        if full is not None:
            sent.append(full)
    sent += batches.take_all()
    assert batches.take_all() == []
    assert all(len(values) == 3 for _, values in sent[:-4])  # the last ones were taken before they filled
    by_partition: dict[int, list[bytes]] = {}
    for partition, values in sent:
        by_partition.setdefault(partition, []).extend(values)
    expected: dict[int, list[bytes]] = {}
    for n, key in enumerate(keys):
        expected.setdefault(partition_for_key(key, 4), []).append(b"event-%d" % n)
    assert by_partition == expected  # every event once, on its key's partition, in order
