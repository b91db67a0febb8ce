"""The worker end to end on the wall clock: real broker, real ``ccpulse worker`` process, real /metrics."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from ccpulse.codec import json
from ccpulse.codec.batches import encode_batch
from tests.integration.support import (
    Samples,
    WorkerProcess,
    consume_all,
    event,
    free_port,
    latest_by_key,
    produce,
    run_worker_to_exit,
    sample,
    topic_config,
    unique_names,
)

# Twenty minutes ago, so the whole scenario (5.5 min) lies in the rolling 60-minute window that
# ends at the wall clock, whatever the time of day.
T = (int(time.time() * 1000) - 20 * 60_000) // 1000 * 1000
WINDOW = "rolling_60m"

# Six queue stints over five contacts. Keys are deliberately not the contact id
# (the worker must route by contact itself), c4's answer is produced before its
# queued event, c5 is transferred from support/chat to sales/chat, and c1's
# answer is delivered twice.
SCENARIO: list[tuple[bytes | None, bytes]] = [
    (b"wrong-key-1", event("c1-1", "contact.queued", T, "c1", queue="sales", channel="voice")),
    (None, event("c2-1", "contact.queued", T + 1_000, "c2", queue="sales", channel="voice")),
    (b"c3", event("c3-1", "contact.queued", T + 2_000, "c3", queue="sales", channel="voice")),
    (b"x", event("c4-2", "contact.answered", T + 9_000, "c4", agent_id="a2")),
    (b"y", event("c4-1", "contact.queued", T + 3_000, "c4", queue="support", channel="chat")),
    (b"c5", event("c5-1", "contact.queued", T + 4_000, "c5", queue="support", channel="chat")),
    (b"c5", event("c5-2", "contact.answered", T + 5_000, "c5", agent_id="a3")),
    (b"wrong-key-2", event("c1-2", "contact.answered", T + 12_000, "c1", agent_id="a1")),
    (b"c2", event("c2-2", "contact.abandoned", T + 40_000, "c2")),
    (b"c5", event("c5-3", "contact.transferred", T + 60_000, "c5", agent_id="a3", to_queue="sales")),
    (b"c5", event("c5-4", "contact.queued", T + 60_500, "c5", queue="sales", channel="chat")),
    (b"c5", event("c5-5", "contact.abandoned", T + 70_000, "c5")),
    (b"c3", event("c3-2", "contact.flowed_out", T + 302_000, "c3", reason="timeout")),
    # c7 is transferred, and its events arrive out of order: the abandon first
    # looks like the end of the sales stint, until the answer and the billing
    # stint arrive. Net: sales/voice answered (wait 10 s), billing/voice abandoned (30 s).
    (b"c7", event("c7-1", "contact.queued", T + 100_000, "c7", queue="sales", channel="voice")),
    (b"c7", event("c7-4", "contact.abandoned", T + 330_000, "c7")),
    (b"c7", event("c7-2", "contact.answered", T + 110_000, "c7", agent_id="a4")),
    (b"c7", event("c7-3", "contact.queued", T + 300_000, "c7", queue="billing", channel="voice")),
    (b"again", event("c1-2", "contact.answered", T + 12_000, "c1", agent_id="a1")),  # duplicate
    (
        b"a9",
        json.dumps(
            {
                "event_id": "a9-1",
                "type": "agent.state_changed",
                "ts": T,
                "agent_id": "a9",
                "state": "available",
                "queues": ["sales"],
            }
        ),
    ),
]

# Finished stints per queue x channel x outcome, by hand.
EXPECTED_OUTCOMES = {
    ("sales", "voice", "answered"): 2,
    ("sales", "voice", "abandoned"): 1,
    ("sales", "voice", "flowed_out"): 1,
    ("support", "chat", "answered"): 2,
    ("support", "chat", "abandoned"): 0,
    ("support", "chat", "flowed_out"): 0,
    ("sales", "chat", "answered"): 0,
    ("sales", "chat", "abandoned"): 1,
    ("sales", "chat", "flowed_out"): 0,
    ("billing", "voice", "answered"): 0,
    ("billing", "voice", "abandoned"): 1,
}
# wait_ms of each stint, by hand: outcome time minus queued time.
EXPECTED_WAITS_MS = {
    ("c1", "answered"): 12_000,
    ("c2", "abandoned"): 39_000,
    ("c3", "flowed_out"): 300_000,
    ("c4", "answered"): 6_000,
    ("c5", "answered"): 1_000,
    ("c5", "abandoned"): 9_500,
    ("c7", "answered"): 10_000,
    ("c7", "abandoned"): 30_000,
}


def outcomes(samples: Samples, queue: str, channel: str, outcome: str) -> float | None:
    return sample(samples, f"ccpulse_contacts_{outcome}", queue=queue, channel=channel, window=WINDOW)


def outcomes_match(expected: dict[tuple[str, str, str], int]) -> Callable[[Samples], bool]:
    def check(samples: Samples) -> bool:
        return all((outcomes(samples, q, c, o) or 0) == n for (q, c, o), n in expected.items())

    return check


def test_worker_counts_queue_outcomes_per_queue_and_publishes_facts(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    worker.wait_ready()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], SCENARIO)

    samples = worker.wait_for(outcomes_match(EXPECTED_OUTCOMES))
    assert sample(samples, "ccpulse_events_consumed_total") == len(SCENARIO)
    assert sample(samples, "ccpulse_duplicate_events_total") == 1
    assert sample(samples, "ccpulse_events_rejected_total", reason="not_json") == 0
    assert sample(samples, "ccpulse_last_event_timestamp_seconds") == (T + 330_000) / 1000
    # c1 waited 12 s, c3 flowed out after 300 s, c7 waited 10 s: SL 20 s (offered) for sales/voice is 2/4.
    assert (
        sample(
            samples,
            "ccpulse_service_level_ratio",
            queue="sales",
            channel="voice",
            window=WINDOW,
            threshold="20",
            formula="offered",
        )
        == 0.5
    )
    assert sample(samples, "ccpulse_agents", queue="sales", state="available") == 1.0

    # What a consumer of the compacted facts topic holds: the latest record per key.
    facts = [json.loads(m.value) for m in latest_by_key(kafka_bootstrap, topic_names["CCPULSE_FACTS_TOPIC"]).values()]
    stints = [d["fact"] for d in facts if d["fact"]["kind"] == "outcome"]
    assert {
        (f["contact_id"], f["outcome"]): f["outcome_ts_ms"] - f["queued_ts_ms"] for f in stints
    } == EXPECTED_WAITS_MS
    assert all("customer_id" not in json.dumps(d).decode() for d in facts)

    # Compacted topics and table changelogs close a segment every hour, so compaction keeps
    # what a restart replays near the latest record per key (the default waits 7 days).
    app_id = topic_names["CCPULSE_APP_ID"]
    for topic in (
        topic_names["CCPULSE_FACTS_TOPIC"],
        f"{app_id}-entities-changelog",
        f"{app_id}-queue-facts-changelog",
    ):
        config = topic_config(kafka_bootstrap, topic)
        assert (config["cleanup.policy"], config["segment.ms"]) == ("compact", "3600000"), topic

    assert worker.stop(signal.SIGTERM) == 0, worker.log_tail()


def test_restarted_worker_restores_its_view_from_changelog_and_continues(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    first = start_worker()
    first.wait_ready()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], SCENARIO)
    first.wait_for(outcomes_match(EXPECTED_OUTCOMES))
    assert first.stop(signal.SIGTERM) == 0, first.log_tail()

    second = start_worker()
    second.wait_ready()
    # The numbers come back from the changelog topics, before any new input.
    samples = second.wait_for(outcomes_match(EXPECTED_OUTCOMES), timeout_s=30)
    assert sample(samples, "ccpulse_events_consumed_total") == 0  # committed offsets: nothing re-read

    more = [
        (b"c6", event("c6-1", "contact.queued", T + 400_000, "c6", queue="sales", channel="voice")),
        (b"c6", event("c6-2", "contact.answered", T + 415_000, "c6", agent_id="a1")),
        (b"c1", event("c1-2", "contact.answered", T + 12_000, "c1", agent_id="a1")),  # old duplicate
    ]
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], more)
    expected = {**EXPECTED_OUTCOMES, ("sales", "voice", "answered"): 3}
    second.wait_for(outcomes_match(expected))
    second.wait_for(lambda s: sample(s, "ccpulse_duplicate_events_total") == 1)
    assert second.stop(signal.SIGTERM) == 0, second.log_tail()


def test_bad_input_goes_to_dead_letter_topic_with_reason_and_origin(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    worker.wait_ready()
    now_ms = int(time.time() * 1000)
    good = [
        (b"g", event("g-1", "contact.queued", T, "g", queue="billing", channel="email")),
        (b"g", event("g-2", "contact.answered", T + 60_000, "g", agent_id="a1")),
    ]
    # About 1 MB, valid: the field the contract does not know is dropped, the event applied.
    huge_good = [(b"j", event("j-1", "contact.queued", T, "j", queue="billing", channel="email", notes="y" * 999_000))]
    bad = [
        (b"k1", b"this is not json"),
        (b"k2", b'\xff\xfe{"event_id": "x"}'),
        (b"k3", b'{"event_id": "e3", "type": "contact.teleported", "ts": 1790000000000, "contact_id": "c"}'),
        (b"k4", b"[1, 2, 3]"),
        (b"k5", b'{"event_id": "e5", "type": "contact.queued", "ts": 1790000000000, "contact_id": "c"}'),
        (b"k6", b'{"event_id": "e6", "type": "contact.queued", "ts": NaN, "contact_id": "c"}'),
        # A day ahead of the wall clock, and (same key, so same partition as g) older than the retention.
        (b"k7", event("e7", "contact.queued", now_ms + 86_400_000, "c7", queue="billing", channel="email")),
        (b"g", event("e8", "contact.queued", T - 49 * 3_600_000, "c8", queue="billing", channel="email")),
    ]
    # A batch as ccpulse's sources send them (input_batch_events): a bad event inside is
    # dead-lettered on its own, the others are applied; a batch whose framing is broken goes whole.
    in_batch = [
        event("h-1", "contact.queued", T, "h", queue="billing", channel="email"),
        event("h-2", "contact.answered", T + 30_000, "h", agent_id="a1"),
    ]
    bad_in_batch = b"not json, inside a batch"
    corrupt = encode_batch([b"{}"])[:-1]
    batches = [(b"batch", encode_batch([*in_batch, bad_in_batch])), (b"broken", corrupt)]
    # Deeply nested (past the JSON parser's depth limit), and a message just under the 1 MiB
    # limit that the contract rejects: its dead letter, with headers, must still fit.
    nested = b'{"event_id": "n1", "type": "contact.queued", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    huge_bad = json.dumps({"event_id": "h1", "type": "contact.queued", "ts": T, "notes": "x" * 1_048_300})
    bad += [(b"k9", nested), (b"k10", huge_bad)]
    # Wrong type, a value outside the contract, a timestamp that is not one.
    contact = {"event_id": "e11", "type": "contact.queued", "ts": T, "queue": "billing", "channel": "email"}
    bad += [
        (b"k11", json.dumps({**contact, "contact_id": 42})),
        (b"k12", json.dumps({**contact, "event_id": "e12", "contact_id": "c12", "channel": "fax"})),
        (b"k13", json.dumps({**contact, "event_id": "e13", "contact_id": "c13", "ts": "yesterday"})),
    ]
    reasons = ["not_json", "not_utf8", "unknown_type", "not_object", "missing_field", "not_json", "future", "late"]
    reasons += ["not_json", "missing_field", "wrong_type", "bad_value", "bad_timestamp"]
    reasons += ["not_json", "not_json"]
    produce(
        kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], good + huge_good + bad + batches + [good[0]]
    )  # and a duplicate

    samples = worker.wait_for(outcomes_match({("billing", "email", "answered"): 2}))
    arrivals = {"queue": "billing", "channel": "email"}
    worker.wait_for(lambda s: sample(s, "ccpulse_queue_arrivals_total", **arrivals) == 3)  # g, h and the 1 MB j
    samples = worker.wait_for(lambda s: sample(s, "ccpulse_duplicate_events_total") == 1)
    rejected = {reason: sample(samples, "ccpulse_events_rejected_total", reason=reason) for reason in set(reasons)}
    assert rejected == {reason: float(reasons.count(reason)) for reason in set(reasons)}

    letters = consume_all(kafka_bootstrap, topic_names["CCPULSE_DEAD_LETTER_TOPIC"], expected=len(bad) + 2)
    # The original bytes, nothing lost; only the one that would not fit with its headers is cut,
    # and says so (the original stays on the input topic at the offset named).
    originals = [*bad, (b"batch", bad_in_batch), (b"broken", corrupt)]
    originals[originals.index((b"k10", huge_bad))] = (b"k10", huge_bad[:900_000])
    assert sorted((r.key, r.value) for r in letters) == sorted(originals)
    [cut] = [dict(r.headers) for r in letters if r.key == b"k10"]
    assert cut["ccpulse.truncated_from_bytes"] == str(len(huge_bad)).encode()
    for record in letters:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers["ccpulse.source.topic"] == topic_names["CCPULSE_INPUT_TOPIC"]
        assert int(headers["ccpulse.source.offset"]) >= 0
        assert headers["ccpulse.reason"] in rejected
        assert headers.get("ccpulse.source.batch_index") == ("2" if record.value == bad_in_batch else None)
    assert worker.stop(signal.SIGTERM) == 0, worker.log_tail()


def test_worker_fails_fast_naming_the_setting_when_no_broker_answers(tmp_path: object) -> None:
    done = run_worker_to_exit({**unique_names(), "CCPULSE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"})
    assert done.returncode == 2
    assert "kafka_bootstrap" in done.stderr
    assert "CCPULSE_KAFKA_BOOTSTRAP" in done.stderr


def test_worker_fails_fast_naming_the_setting_when_the_broker_refuses_to_create_a_topic(
    kafka_bootstrap: str,
) -> None:
    # One broker cannot hold three replicas; aiokafka reports that as an error code, not an exception.
    names = unique_names()
    done = run_worker_to_exit(
        {**names, "CCPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap, "CCPULSE_TOPIC_REPLICATION_FACTOR": "3"}
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "CCPULSE_TOPIC_REPLICATION_FACTOR" in done.stderr
    assert f"cannot create topic {names['CCPULSE_INPUT_TOPIC']}" in done.stderr
    assert "InvalidReplicationFactorError" in done.stderr
    assert "created topic" not in done.stderr


def test_ten_thousand_queue_ids_are_folded_into_other_counted_exactly_and_the_worker_stays_responsive(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    # A producer gone wrong: every contact in a queue of its own. The metrics keep 50 queues and fold
    # the rest into "other" without losing a contact; the KPI topic still gets every queue's rows, and
    # the worker still answers scrapes and SIGTERM while it publishes them.
    worker = start_worker(CCPULSE_METRICS_MAX_QUEUES="50", CCPULSE_KPI_PUBLISH_INTERVAL_S="1")
    worker.wait_ready()
    queues = [f"junk-{i:05d}" for i in range(10_000)]
    records = []
    for i, queue in enumerate(queues):
        contact = f"flood-{i}"
        records.append(
            (contact.encode(), event(f"{contact}-q", "contact.queued", T + i, contact, queue=queue, channel="voice"))
        )
        if i % 2:
            answered = event(f"{contact}-a", "contact.answered", T + i + 5_000, contact, agent_id="a1")
            records.append((contact.encode(), answered))
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records)

    def arrivals(samples: Samples) -> dict[str, float]:
        return {
            dict(labels)["queue"]: value
            for (name, labels), value in samples.items()
            if name == "ccpulse_queue_arrivals_total" and dict(labels)["channel"] == "voice"
        }

    samples = worker.wait_for(lambda s: sum(arrivals(s).values()) == 10_000, timeout_s=240)
    exported = arrivals(samples)
    assert len(exported) == 51
    assert exported["other"] == 9_950
    assert set(exported) - {"other"} == set(queues[:50])
    assert sample(samples, "ccpulse_metrics_folded_queues") == 9_950
    answered = sum(
        value
        for (name, labels), value in samples.items()
        if name == "ccpulse_queue_outcomes_total"
        and dict(labels).get("outcome") == "answered"
        and dict(labels)["channel"] == "voice"
    )
    assert answered == 5_000

    last_row = f"{queues[-1]}|voice|today|".encode()
    deadline = time.monotonic() + 240
    while not any(key.startswith(last_row) for key in latest_by_key(kafka_bootstrap, topic_names["CCPULSE_KPI_TOPIC"])):
        assert time.monotonic() < deadline, "the last queue's rows never reached the KPI topic"
        time.sleep(2)
    # Half the queues have a caller waiting, so every run republishes thousands of rows and takes
    # longer than the interval: the next run starts as the "overlapping" line is logged, and the
    # signal lands while it sends. (Faust stops the producer before it cancels the timer; a send
    # in between used to crash the shutdown, in some runs.)
    overlapping = "publish_kpis is overlapping"
    worker.wait_for_log(overlapping, times=worker.log_count(overlapping) + 1, timeout_s=120)
    assert worker.stop(signal.SIGTERM, timeout_s=30) == 0, worker.log_tail()
