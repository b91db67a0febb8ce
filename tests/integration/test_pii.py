"""Customer ids and phone numbers never leave the input: not on /metrics, in logs, or on any topic but the dead letters.

Recognisable values are seeded as customer ids (one a phone number), as an
extra field the contract does not know, and inside a rejected event; then
every output is searched for them: the metrics page, the worker's log, the
KPI, contact-facts and internal topics, both table changelogs and the
dead-letter headers. Only a dead letter's payload (the original bytes, kept
so nothing is lost) may still hold one, unless dead_letter_redact_payload
empties it too.
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Callable

import pytest

from ccpulse.codec import json
from tests.integration.support import WorkerProcess, event, produce, read_all, sample

T = (int(time.time() * 1000) - 20 * 60_000) // 1000 * 1000
PHONE = "+15550199377"
CUSTOMER = "CUST-7741-PII"
CALLER = "+15550188442"
SEEDED = (PHONE, CUSTOMER, CALLER)


@pytest.mark.parametrize("redact", [False, True], ids=["original-dead-letters", "redacted-dead-letters"])
def test_no_customer_id_or_phone_number_reaches_any_output(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess], redact: bool
) -> None:
    worker = start_worker(
        CCPULSE_CUSTOMER_HASH_KEY="pii-test-secret",
        CCPULSE_LOG_LEVEL="info",
        CCPULSE_DEAD_LETTER_REDACT_PAYLOAD=str(redact).lower(),
    )
    worker.wait_ready()
    records = [
        (b"p1", event("p1-q", "contact.queued", T, "p1", queue="sales", channel="voice", customer_id=PHONE)),
        (b"p1", event("p1-a", "contact.answered", T + 10_000, "p1", agent_id="a1")),
        (b"p2", event("p2-q", "contact.queued", T + 1_000, "p2", queue="sales", channel="voice", customer_id=CUSTOMER)),
        (b"p2", event("p2-x", "contact.abandoned", T + 90_000, "p2")),
        # A field the contract does not know, on a valid event: dropped, not passed on.
        (b"p3", event("p3-q", "contact.queued", T + 2_000, "p3", queue="sales", channel="voice", caller=CALLER)),
        # The same customer again (a repeat contact), then an event the contract rejects.
        (b"p4", event("p4-q", "contact.queued", T + 3_000, "p4", queue="sales", channel="voice", customer_id=PHONE)),
        (b"p5", json.dumps({"event_id": "p5", "type": "contact.queued", "ts": T, "customer_id": PHONE})),
    ]
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records)
    samples = worker.wait_for(lambda s: sample(s, "ccpulse_events_consumed_total") == len(records))
    worker.wait_for(lambda s: sum(v for (name, _), v in s.items() if name == "ccpulse_events_rejected_total") == 1)
    assert samples is not None
    metrics_text = worker.metrics_text()
    assert metrics_text is not None
    app_id = topic_names["CCPULSE_APP_ID"]
    topics = [
        topic_names["CCPULSE_KPI_TOPIC"],
        topic_names["CCPULSE_FACTS_TOPIC"],
        f"{app_id}-entity-events",
        f"{app_id}-queue-changes",
        f"{app_id}-entities-changelog",
        f"{app_id}-queue-facts-changelog",
    ]
    outputs: dict[str, bytes] = {"/metrics": metrics_text.encode()}
    for topic in topics:
        outputs[topic] = b"\n".join((m.key or b"") + b" " + (m.value or b"") for m in read_all(kafka_bootstrap, topic))
    letters = read_all(kafka_bootstrap, topic_names["CCPULSE_DEAD_LETTER_TOPIC"])
    rejected = records[-1][1]
    if redact:  # only its size and digest, pointing at the original on the input topic
        assert [m.value or b"" for m in letters] == [b""]
        headers = dict(letters[0].headers)
        assert headers["ccpulse.redacted.bytes"] == str(len(rejected)).encode()
        assert headers["ccpulse.redacted.sha256"] == hashlib.sha256(rejected).hexdigest().encode()
        outputs["dead-letter payloads"] = b"\n".join(m.value or b"" for m in letters)
    else:
        assert [m.value for m in letters] == [rejected]  # the rejected event itself: nothing lost
    outputs["dead-letter headers"] = b"\n".join(
        name.encode() + b"=" + value for m in letters for name, value in m.headers
    )
    assert worker.stop(signal.SIGTERM) == 0, worker.log_tail()
    outputs["worker log"] = worker.log_path.read_bytes()

    assert outputs["/metrics"]  # the search had something to read
    assert outputs[topic_names["CCPULSE_FACTS_TOPIC"]]
    leaks = {(where, value) for where, text in outputs.items() for value in SEEDED if value.encode() in text}
    assert leaks == set()
