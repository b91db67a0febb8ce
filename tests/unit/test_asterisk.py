"""Asterisk queue_log adapter: parsing, the mapping onto canonical events, stable ids, the reader and the import.

The sample ``tests/data/asterisk/queue_log`` covers 2026-09-21 08:50-09:31 UTC
(BASE = 09:00:00Z = epoch 1790067600). Its calls, with waits and talk times
worked out from the line times:

- A (sales): queued 09:01:00, answered 09:01:18 by PJSIP/1001 (wait 18), completed 09:04:18 (talk 180)
- B (support): queued 09:02:00, abandoned 09:02:40 (wait 40)
- C (sales): queued 09:03:00, timeout 09:05:00 (wait 120)
- D (support): queued 09:05:00, key 09:05:30 (wait 30)
- E: support 09:06:00, answered 09:06:10 by Agent/2001 (wait 10), blind transfer 09:08:10 (talk 120);
  sales 09:08:11, answered 09:08:31 by PJSIP/1001 (wait 20), completed 09:10:31 (talk 120)
- F (sales): queued 09:11:00, answered 09:11:07 (wait 7), transferred out 09:12:42 (talk 95)
- G (support): queued 09:13:00, EXITEMPTY 09:13:04 (wait 4)
- H (sales): queued 09:14:00, abandoned 09:14:03 (wait 3: a short abandon)
- I (support, Asterisk 1.4 fields): queued 09:15:00, answered 09:15:12 by Agent/2001 (wait 12),
  completed 09:16:40 (talk 88)

Line 45 has two fields and line 46 a non-numeric epoch: both are problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.domain.engine import Engine, Verdict, apply_all
from ccpulse.domain.events import AgentState, CanonicalEvent
from ccpulse.domain.windows import Window, WindowKind
from ccpulse.sources.asterisk import (
    MappedEvent,
    QueueLogMapper,
    QueueLogProblem,
    QueueLogRecord,
    QueueLogStats,
    import_queue_log,
    iter_queue_log,
    map_lines,
    parse_line,
)
from ccpulse.sources.sink import DryRunSink, SinkReport

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "asterisk" / "queue_log"
BASE_S = 1_790_067_600  # 2026-09-21T09:00:00Z
S = 1000
# Every phone number in the sample: caller ids, a DID, an outside transfer target, one in a broken line.
PHONE_NUMBERS = [
    "4165551212",
    "4165552323",
    "4165553434",
    "4165554545",
    "4165556767",
    "4165557878",
    "4165558989",
    "4165550101",
    "4165559999",
    "4165552020",
    "0800123456",
    "0049301234567",
]
CALL_A, CALL_B, CALL_C, CALL_D = "1790067658.10", "1790067720.14", "1790067780.16", "1790067900.18"
CALL_E, CALL_F, CALL_G, CALL_H, CALL_I = (
    "1790067960.20",
    "1790068260.25",
    "1790068380.28",
    "1790068440.30",
    "1790068500.32",
)


def at(hms: str) -> int:
    """Epoch ms of a time of day on the sample's day (UTC)."""
    hours, minutes, seconds = (int(part) for part in hms.split(":"))
    return (BASE_S + (hours - 9) * 3600 + minutes * 60 + seconds) * S


def sample_lines() -> list[str]:
    return SAMPLE.read_text().splitlines()


def sample_events(**options: Any) -> tuple[list[MappedEvent], QueueLogStats]:
    return map_lines(sample_lines(), **options)


def events_only(mapped: list[MappedEvent]) -> list[dict[str, Any]]:
    return [event for _, event in mapped]


def contact_story(events: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Per call: (type, ts, queue, agent, reason) in sending order."""
    story: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for event in events:
        if event["type"].startswith("contact."):
            story[event["contact_id"]].append(
                (event["type"], event["ts"], event["queue"], event.get("agent_id"), event.get("reason"))
            )
    return dict(story)


def agent_story(events: list[dict[str, Any]], agent_id: str) -> list[tuple[Any, ...]]:
    """The agent's (ts, state, reason, queues) in sending order."""
    return [
        (event["ts"], event["state"], event.get("reason"), event["queues"])
        for event in events
        if event["type"] == "agent.state_changed" and event["agent_id"] == agent_id
    ]


def decoded(events: list[dict[str, Any]]) -> list[CanonicalEvent]:
    return [decode_event(json.dumps(event)) for event in events]


def today(engine: Engine, queue: str) -> Window:
    assert engine.stream_time_ms is not None
    return next(w for w in engine.windows(queue, engine.stream_time_ms) if w.kind is WindowKind.TODAY)


# -- parsing ---------------------------------------------------------------------------


def test_a_current_line_parses_into_its_fields() -> None:
    record = parse_line("1790067678|1790067658.10|sales|PJSIP/1001|CONNECT|18|1790067676.12|2\n", 7)
    assert isinstance(record, QueueLogRecord)
    assert (record.line_no, record.ts_ms, record.callid, record.queue, record.agent, record.event) == (
        7,
        1_790_067_678_000,
        "1790067658.10",
        "sales",
        "PJSIP/1001",
        "CONNECT",
    )
    assert record.data == ("18", "1790067676.12", "2")
    assert (record.seconds(0), record.field(2), record.field(4)) == (18, "2", "")


def test_none_fields_fewer_data_fields_crlf_and_fractional_epochs_parse() -> None:
    record = parse_line("1170000000.25|NONE|NONE|Agent/1001|PAUSEALL\r\n", 1)
    assert isinstance(record, QueueLogRecord)
    assert (record.ts_ms, record.callid, record.queue, record.data) == (1_170_000_000_250, None, None, ())
    assert record.field(0) == ""
    # The digest ignores the line break, so a CRLF file gives the ids of an LF one.
    other = parse_line("1170000000.25|NONE|NONE|Agent/1001|PAUSEALL", 1)
    assert isinstance(other, QueueLogRecord)
    assert other.digest == record.digest


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1790068620|garbage", "expected at least 5 '|'-separated fields"),
        ("notanumber|x|sales|NONE|ENTERQUEUE||4165552020|1", "epoch (field 1) is not a number"),
        ("1790068620.5x|x|sales|NONE|ENTERQUEUE", "epoch (field 1) is not a number"),
        ("12345|x|sales|NONE|ENTERQUEUE", "outside 2000-01-01"),
        ("1790068620|x|sales|NONE||", "event name (field 5)"),
        ("1790068620|x|sales|NONE|ENTER QUEUE|", "event name (field 5)"),
    ],
)
def test_unparseable_lines_are_problems_that_never_quote_the_line(line: str, reason: str) -> None:
    problem = parse_line(line, 12)
    assert isinstance(problem, QueueLogProblem)
    assert problem.line_no == 12
    assert reason in problem.reason
    assert "4165552020" not in str(problem)
    assert str(problem).startswith("line 12: ")


# -- the sample, event by event ---------------------------------------------------------


def test_every_event_of_the_sample_decodes_and_comes_from_asterisk() -> None:
    mapped, stats = sample_events()
    events = events_only(mapped)
    assert len(events) == 53
    for event in events:
        decode_event(json.dumps(event))
        assert event["source"] == "asterisk"
        assert isinstance(event["ts"], int)
    assert len({event["event_id"] for event in events}) == len(events)
    assert stats.events == {
        "contact.queued": 10,
        "contact.answered": 5,
        "contact.ended": 3,
        "contact.transferred": 2,
        "contact.wrapup_ended": 5,
        "contact.abandoned": 2,
        "contact.flowed_out": 3,
        "agent.state_changed": 23,
    }


def test_each_call_gives_exactly_its_events_in_line_order() -> None:
    mapped, _ = sample_events()
    story = contact_story(events_only(mapped))
    pj, ag = "PJSIP/1001", "Agent/2001"
    assert story == {
        CALL_A: [
            ("contact.queued", at("09:01:00"), "sales", None, None),
            ("contact.answered", at("09:01:18"), "sales", pj, None),
            ("contact.ended", at("09:04:18"), "sales", pj, None),
            ("contact.wrapup_ended", at("09:04:18"), "sales", pj, None),  # ACW 0 without wrapup_s
        ],
        CALL_B: [
            ("contact.queued", at("09:02:00"), "support", None, None),
            ("contact.abandoned", at("09:02:40"), "support", None, None),
        ],
        CALL_C: [
            ("contact.queued", at("09:03:00"), "sales", None, None),
            ("contact.flowed_out", at("09:05:00"), "sales", None, "timeout"),
        ],
        CALL_D: [
            ("contact.queued", at("09:05:00"), "support", None, None),
            ("contact.flowed_out", at("09:05:30"), "support", None, "key"),
        ],
        CALL_E: [
            ("contact.queued", at("09:06:00"), "support", None, None),
            ("contact.answered", at("09:06:10"), "support", ag, None),
            ("contact.transferred", at("09:08:10"), "support", ag, None),
            ("contact.wrapup_ended", at("09:08:10"), "support", ag, None),
            ("contact.queued", at("09:08:11"), "sales", None, None),  # the transfer lands in the sales queue
            ("contact.answered", at("09:08:31"), "sales", pj, None),
            ("contact.ended", at("09:10:31"), "sales", pj, None),
            ("contact.wrapup_ended", at("09:10:31"), "sales", pj, None),
        ],
        CALL_F: [
            ("contact.queued", at("09:11:00"), "sales", None, None),
            ("contact.answered", at("09:11:07"), "sales", pj, None),
            ("contact.transferred", at("09:12:42"), "sales", pj, None),
            ("contact.wrapup_ended", at("09:12:42"), "sales", pj, None),
        ],
        CALL_G: [
            ("contact.queued", at("09:13:00"), "support", None, None),
            ("contact.flowed_out", at("09:13:04"), "support", None, "no_agents"),
        ],
        CALL_H: [
            ("contact.queued", at("09:14:00"), "sales", None, None),
            ("contact.abandoned", at("09:14:03"), "sales", None, None),
        ],
        CALL_I: [  # Asterisk 1.4 lines: no position on ENTERQUEUE, no ringtime on CONNECT
            ("contact.queued", at("09:15:00"), "support", None, None),
            ("contact.answered", at("09:15:12"), "support", ag, None),
            ("contact.ended", at("09:16:40"), "support", ag, None),
            ("contact.wrapup_ended", at("09:16:40"), "support", ag, None),
        ],
    }
    for event in events_only(mapped):
        if event["type"].startswith("contact."):
            assert event["channel"] == "voice"
            assert "to_queue" not in event  # a transfer names an extension, never a queue


def test_agent_states_follow_logins_pauses_calls_and_removals() -> None:
    mapped, stats = sample_events()
    events = events_only(mapped)
    both = ["sales", "support"]
    assert agent_story(events, "PJSIP/1001") == [
        (at("08:50:05"), "available", None, ["sales"]),  # ADDMEMBER sales
        (at("08:50:05"), "available", None, both),  # ADDMEMBER support
        (at("08:58:00"), "away", None, both),  # PAUSEALL (no reason)
        (at("08:58:00"), "away", "briefing", both),  # PAUSE sales; PAUSE support changes nothing more
        (at("09:00:00"), "available", None, both),  # UNPAUSEALL; the UNPAUSE lines change nothing
        (at("09:01:18"), "busy", None, both),  # CONNECT A
        (at("09:04:18"), "available", None, both),  # COMPLETECALLER A
        # PAUSE sales only: still available in support, so no change; PAUSE support: away.
        (at("09:04:30"), "away", "coffee", both),
        (at("09:07:00"), "available", None, both),
        (at("09:08:31"), "busy", None, both),  # E in sales
        (at("09:10:31"), "available", None, both),
        (at("09:11:07"), "busy", None, both),  # F
        (at("09:12:42"), "available", None, both),  # TRANSFER F
        (at("09:31:00"), "available", None, ["support"]),  # REMOVEMEMBER sales
        (at("09:31:00"), "logged_out", None, []),  # REMOVEMEMBER support: in no queue any more
    ]
    assert agent_story(events, "Agent/2001") == [
        (at("08:55:00"), "available", None, []),  # AGENTLOGIN; a static member: queues learnt from calls
        (at("09:06:10"), "busy", None, ["support"]),
        (at("09:08:10"), "available", None, ["support"]),  # BLINDTRANSFER
        (at("09:12:50"), "away", "lunch", ["support"]),
        (at("09:14:30"), "available", None, ["support"]),
        (at("09:15:12"), "busy", None, ["support"]),
        (at("09:16:40"), "available", None, ["support"]),
        (at("09:30:00"), "logged_out", None, []),  # AGENTLOGOFF
    ]
    assert stats.unchanged == {"PAUSE": 2, "UNPAUSE": 3}


def test_ignored_lines_and_problems_are_counted_with_line_numbers() -> None:
    _, stats = sample_events()
    assert stats.lines == 50
    assert stats.records == 48
    assert stats.ignored == {"QUEUESTART": 1, "DID": 1, "RINGNOANSWER": 1, "RINGCANCELED": 1, "CONFIGRELOAD": 1}
    assert [(p.line_no, p.reason.split(" (")[0]) for p in stats.problems] == [
        (45, "expected at least 5 '|'-separated fields"),
        (46, "the epoch"),
    ]
    assert stats.problem_count == 2
    assert (stats.unmatched_calls, stats.wait_mismatches, stats.forgotten_calls) == (0, 0, 0)
    summary = stats.summary()
    assert "line 45: expected at least 5" in summary
    assert "RINGNOANSWER 1" in summary


def test_no_phone_number_appears_in_events_problems_or_summary() -> None:
    for key in ("", "site-secret"):
        mapped, stats = sample_events(customer_hash_key=key)
        text = json.dumps(events_only(mapped)).decode() + stats.summary() + repr(stats.problems)
        for number in PHONE_NUMBERS:
            assert number not in text, (key, number)


def test_customer_id_is_a_keyed_hash_of_the_caller_and_only_with_a_key() -> None:
    plain, _ = sample_events()
    assert all("customer_id" not in event for event in events_only(plain))

    mapped, _ = sample_events(customer_hash_key="site-secret")
    queued = [event for event in events_only(mapped) if event["type"] == "contact.queued"]
    assert all(len(event["customer_id"]) == 32 for event in queued)
    by_call = defaultdict(set)
    for event in queued:
        by_call[event["contact_id"]].add(event["customer_id"])
    assert len(by_call[CALL_E]) == 1  # one caller, one hash, in both stints
    assert len({next(iter(ids)) for ids in by_call.values()}) == len(by_call)  # different callers differ

    other, _ = sample_events(customer_hash_key="another-secret")
    assert {e["customer_id"] for e in events_only(other) if "customer_id" in e}.isdisjoint(
        {e["customer_id"] for e in queued}
    )


def test_anonymous_callers_get_no_customer_id() -> None:
    mapped, _ = map_lines(
        ["1790067660|c1|sales|NONE|ENTERQUEUE||anonymous|1", "1790067661|c2|sales|NONE|ENTERQUEUE||unknown|1"],
        customer_hash_key="k",
    )
    assert [("customer_id" in event) for event in events_only(mapped)] == [False, False]


# -- stable ids ------------------------------------------------------------------------


def test_mapping_the_file_twice_gives_identical_events() -> None:
    first, _ = sample_events()
    second, _ = sample_events()
    assert first == second


def test_a_file_that_grew_keeps_the_ids_of_its_first_lines() -> None:
    lines = sample_lines()
    head, _ = map_lines(lines[:30])
    whole, _ = map_lines(lines)
    assert head == [mapped for mapped in whole if mapped.line_no <= 30]


def test_ids_name_the_instant_the_line_and_the_slot_and_sort_in_line_order() -> None:
    mapped, _ = sample_events()
    events = {(line_no, event["type"]): event["event_id"] for line_no, event in mapped}
    # Line 14 (CONNECT at 09:01:18): the contact event is slot 0, the agent event slot 1.
    assert events[(14, "contact.answered")].startswith(f"ast-{at('09:01:18'):013d}-0000-")
    assert events[(14, "contact.answered")].endswith("-0")
    assert events[(14, "agent.state_changed")].endswith("-1")
    # Lines 5-7 share one second: their ids sort in line order (the engine's tie-break).
    same_second = [event["event_id"] for line_no, event in mapped if line_no in (5, 6)]
    assert same_second == sorted(same_second)
    assert same_second[0].split("-")[2] == "0000"
    assert same_second[1].split("-")[2] == "0001"


def test_identical_lines_get_different_ids() -> None:
    line = "1790067870|NONE|support|PJSIP/1001|PAUSE|coffee"
    mapped, _ = map_lines(
        [line, "1790067870|NONE|support|PJSIP/1001|UNPAUSE|", line, "1790067870|NONE|NONE|NONE|QUEUESTART|"]
    )
    ids = [event["event_id"] for event in events_only(mapped)]
    assert len(ids) == 3
    assert len(set(ids)) == 3


# -- through the engine --------------------------------------------------------------


def test_the_engine_computes_the_kpis_worked_out_by_hand() -> None:
    mapped, _ = sample_events()
    engine = Engine()
    verdicts = apply_all(engine, decoded(events_only(mapped)))
    assert verdicts == {Verdict.ACCEPTED: 53}

    sales = engine.snapshot("sales", "voice", today(engine, "sales"))
    # answered A (18 s), E's second stint (20 s), F (7 s); C timed out; H abandoned after 3 s: short.
    assert (sales.arrivals, sales.offered, sales.answered, sales.abandoned) == (5, 4, 3, 0)
    assert (sales.short_abandoned, sales.flowed_out) == (1, 1)
    assert sales.asa_s == pytest.approx((18 + 20 + 7) / 3)
    assert sales.abandonment_ratio == 0
    # handled: A talk 180, E 120, F 95 (transferred); ACW 0.
    assert (sales.handled, sales.transferred) == (3, 1)
    assert sales.aht_s == pytest.approx((180 + 120 + 95) / 3)
    assert sales.avg_acw_s == 0

    support = engine.snapshot("support", "voice", today(engine, "support"))
    # answered E (10 s) and I (12 s); B abandoned after 40 s; D (key) and G (no agents) flowed out.
    assert (support.arrivals, support.offered, support.answered, support.abandoned) == (5, 5, 2, 1)
    assert (support.short_abandoned, support.flowed_out) == (0, 2)
    assert support.asa_s == pytest.approx((10 + 12) / 2)
    assert support.abandonment_ratio == pytest.approx(1 / 5)
    assert (support.handled, support.transferred) == (2, 1)
    assert support.aht_s == pytest.approx((120 + 88) / 2)


def test_the_engine_sees_agent_occupancy_and_final_states() -> None:
    mapped, _ = sample_events()
    engine = Engine()
    apply_all(engine, decoded(events_only(mapped)))
    assert engine.view.agent_states() == {"PJSIP/1001": AgentState.LOGGED_OUT, "Agent/2001": AgentState.LOGGED_OUT}
    # support, closed spans: PJSIP/1001 available 475 + 78 + 12 + 91 + 36 + 1098 s, busy 180 + 120 + 95 s;
    # Agent/2001 (in support from its first call) available 280 + 42 + 800 s, busy 120 + 88 s.
    busy = 180 + 120 + 95 + 120 + 88
    available = 475 + 78 + 12 + 91 + 36 + 1098 + 280 + 42 + 800
    support = engine.snapshot("support", "all", today(engine, "support"))
    assert support.occupancy == pytest.approx(busy / (busy + available))


def test_wrapup_s_puts_agents_in_acw_and_adds_it_to_aht() -> None:
    mapped, _ = sample_events(wrapup_s=30)
    events = events_only(mapped)
    story = contact_story(events)
    assert story[CALL_A][-2:] == [
        ("contact.ended", at("09:04:18"), "sales", "PJSIP/1001", None),
        ("contact.wrapup_ended", at("09:04:48"), "sales", "PJSIP/1001", None),
    ]
    both = ["sales", "support"]
    assert agent_story(events, "PJSIP/1001")[5:9] == [
        (at("09:01:18"), "busy", None, both),
        (at("09:04:18"), "acw", None, both),
        # The PAUSE lines at 09:04:30 change nothing while in ACW; away once the wrap-up ends.
        (at("09:04:48"), "away", "coffee", both),
        (at("09:07:00"), "available", None, both),
    ]
    # The deferred events keep the line they come from and its id.
    wrapup_a = next(m for m in mapped if m.event["type"] == "contact.wrapup_ended" and m.line_no == 18)
    assert wrapup_a.event["event_id"].startswith(f"ast-{at('09:04:18'):013d}-")
    assert wrapup_a.event["event_id"].endswith("-2")

    engine = Engine()
    assert apply_all(engine, decoded(events)) == {Verdict.ACCEPTED: len(events)}
    sales = engine.snapshot("sales", "voice", today(engine, "sales"))
    support = engine.snapshot("support", "voice", today(engine, "support"))
    assert sales.aht_s == pytest.approx((180 + 120 + 95 + 3 * 30) / 3)
    assert support.aht_s == pytest.approx((120 + 88 + 2 * 30) / 2)
    assert (sales.avg_acw_s, support.avg_acw_s, sales.acw_timeouts) == (30, 30, 0)


def test_a_wrapup_ends_early_when_the_agent_answers_again_or_logs_off() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067605|c1|sales|PJSIP/1001|CONNECT|5|x|1",
        "1790067665|c1|sales|PJSIP/1001|COMPLETEAGENT|5|60|1",
        "1790067670|c2|sales|NONE|ENTERQUEUE||200|1",
        "1790067675|c2|sales|PJSIP/1001|CONNECT|5|y|1",  # 10 s into a 60 s wrap-up
        "1790067700|c2|sales|PJSIP/1001|COMPLETECALLER|5|25|1",
        "1790067720|NONE|NONE|PJSIP/1001|AGENTLOGOFF|PJSIP/1001-1|120",  # 20 s into the wrap-up
    ]
    mapped, _ = map_lines(lines, wrapup_s=60)
    events = events_only(mapped)
    wrapups = [(e["contact_id"], e["ts"]) for e in events if e["type"] == "contact.wrapup_ended"]
    assert wrapups == [("c1", 1_790_067_675_000), ("c2", 1_790_067_720_000)]
    assert [(ts // S - 1_790_067_600, state) for ts, state, _, _ in agent_story(events, "PJSIP/1001")] == [
        (5, "busy"),
        (65, "acw"),
        (75, "busy"),
        (100, "acw"),
        (120, "logged_out"),
    ]


def test_pending_wrapups_are_released_when_their_time_comes() -> None:
    mapper = QueueLogMapper(wrapup_s=20)
    for n, line in enumerate(
        ["1790067600|c1|sales|NONE|ENTERQUEUE||1|1", "1790067601|c1|sales|A|CONNECT|1|x|1"], start=1
    ):
        mapper.map_line(line, n)
    mapper.map_line("1790067610|c1|sales|A|COMPLETEAGENT|1|9|1", 3)
    assert mapper.release_due(1_790_067_629_999) == []
    released = mapper.release_due(1_790_067_630_000)
    assert [(m.line_no, m.event["type"], m.event["ts"]) for m in released] == [
        (3, "contact.wrapup_ended", 1_790_067_630_000),
        (3, "agent.state_changed", 1_790_067_630_000),
    ]
    assert mapper.finish() == []


# -- odd input ---------------------------------------------------------------------------


def test_lines_that_cannot_be_mapped_are_problems_with_their_line_numbers() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067605|c1|sales|NONE|CONNECT|5|x|1",  # no agent: contact.answered needs one
        "1790067606|c2|NONE|NONE|ENTERQUEUE||100|1",  # no queue
        "1790067607|NONE|sales|NONE|ABANDON|1|1|7",  # no call id
        f"1790067608|c3|{'q' * 201}|NONE|ENTERQUEUE||100|1",  # longer than an id may be
        "1790067609|NONE|NONE|NONE|PAUSE|lunch",  # no agent
        "",
    ]
    mapped, stats = map_lines(lines)
    assert [m.line_no for m in mapped] == [1]
    assert [(p.line_no, p.reason) for p in stats.problems] == [
        (2, "CONNECT without an agent (field 4): contact.answered needs agent_id"),
        (3, "ENTERQUEUE without a queue (field 3)"),
        (4, "ABANDON without a call id (field 2)"),
        (5, "the queue is longer than 200 characters"),
        (6, "PAUSE without an agent (field 4)"),
    ]
    assert stats.blank_lines == 1


def test_calls_seen_only_from_the_middle_are_still_mapped_and_counted() -> None:
    lines = [
        "1790067605|c1|sales|PJSIP/1001|CONNECT|5|x|1",  # its ENTERQUEUE was in the previous file
        "1790067665|c1|sales|PJSIP/1001|COMPLETEAGENT|5|60|1",
        "1790067670|c2|sales|NONE|ABANDON|1|1|9",
    ]
    mapped, stats = map_lines(lines)
    assert [e["type"] for e in events_only(mapped) if e["type"].startswith("contact.")] == [
        "contact.answered",
        "contact.ended",
        "contact.wrapup_ended",
        "contact.abandoned",
    ]
    assert stats.unmatched_calls == 2  # the CONNECT and the ABANDON; the COMPLETE matches the CONNECT
    decoded(events_only(mapped))


def test_waits_that_disagree_with_the_line_times_are_counted() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067610|c1|sales|A|CONNECT|10|x|1",  # agrees
        "1790067600|c2|sales|NONE|ENTERQUEUE||100|1",
        "1790067630|c2|sales|NONE|ABANDON|1|1|20",  # 30 s by the line times
    ]
    _, stats = map_lines(lines)
    assert stats.wait_mismatches == 1


def test_queuestart_forgets_calls_in_flight_and_frees_their_agents() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067605|c1|sales|PJSIP/1001|CONNECT|5|x|1",
        "1790067700|NONE|NONE|NONE|QUEUESTART|",  # Asterisk restarted: c1 will never complete
    ]
    mapped, stats = map_lines(lines)
    assert [(m.line_no, m.event["type"], m.event.get("state")) for m in mapped][-1:] == [
        (3, "agent.state_changed", "available")
    ]
    assert mapped[-1].event["event_id"].endswith("-4")
    assert (stats.forgotten_calls, stats.ignored["QUEUESTART"]) == (1, 1)


def test_calls_silent_for_a_day_are_forgotten() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067605|c1|sales|PJSIP/1001|CONNECT|5|x|1",  # its COMPLETE never comes
        f"{1790067605 + 25 * 3600}|c2|sales|NONE|ENTERQUEUE||200|1",
    ]
    mapped, stats = map_lines(lines)
    assert [(m.line_no, m.event["type"], m.event.get("state")) for m in mapped][-2:] == [
        (3, "agent.state_changed", "available"),
        (3, "contact.queued", None),
    ]
    assert stats.forgotten_calls == 1


def test_an_end_naming_another_agent_frees_the_one_that_answered() -> None:
    lines = [
        "1790067600|c1|sales|NONE|ENTERQUEUE||100|1",
        "1790067605|c1|sales|A|CONNECT|5|x|1",
        "1790067665|c1|sales|B|COMPLETEAGENT|5|60|1",
    ]
    mapped, _ = map_lines(lines)
    states = [(m.event["agent_id"], m.event["state"]) for m in mapped if m.event["type"] == "agent.state_changed"]
    assert states == [("A", "busy"), ("A", "available"), ("B", "available")]


def test_pauseall_for_an_unknown_agent_is_ignored_and_per_queue_pauses_carry_the_change() -> None:
    lines = [
        "1790067600|MANAGER|sales|Alice|ADDMEMBER|",
        "1790067610|NONE|NONE|PJSIP/1001|PAUSEALL|",  # the interface, not the member name
        "1790067610|NONE|sales|Alice|PAUSE|",
    ]
    mapped, stats = map_lines(lines)
    assert [(m.event["agent_id"], m.event["state"]) for m in mapped] == [("Alice", "available"), ("Alice", "away")]
    assert stats.ignored == {"PAUSEALL": 1}


def test_addmember_paused_and_agents_paused_everywhere() -> None:
    lines = [
        "1790067600|MANAGER|sales|Alice|ADDMEMBER|PAUSED",
        "1790067610|NONE|sales|Alice|UNPAUSE|",
        "1790067620|a1|NONE|Agent/7|AGENTLOGIN|PJSIP/7-1",
        "1790067630|NONE|NONE|Agent/7|PAUSEALL|",
        "1790067640|NONE|NONE|Agent/7|UNPAUSEALL|",
    ]
    mapped, _ = map_lines(lines)
    assert [(m.event["agent_id"], m.event["state"]) for m in mapped] == [
        ("Alice", "away"),
        ("Alice", "available"),
        ("Agent/7", "available"),
        ("Agent/7", "away"),
        ("Agent/7", "available"),
    ]


def test_wrapup_s_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="wrapup_s"):
        QueueLogMapper(wrapup_s=-1)


# -- reading and importing -----------------------------------------------------------------


class RecordingSink:
    """An EventSink that validates like the real ones and keeps what it was sent."""

    def __init__(self) -> None:
        self.report = SinkReport("memory")
        self.sent: list[tuple[dict[str, Any], str]] = []

    async def send(self, event: dict[str, Any], origin: str = "") -> bool:
        decode_event(json.dumps(event))
        self.sent.append((event, origin))
        self.report.events += 1
        return True

    async def close(self) -> None:
        return None


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_import_sends_every_event_with_its_origin_and_returns_the_statistics() -> None:
    sink = RecordingSink()
    stats = await import_queue_log(SAMPLE, sink)
    expected, expected_stats = sample_events()
    assert [event for event, _ in sink.sent] == events_only(expected)
    assert [origin for _, origin in sink.sent] == [f"{SAMPLE}:{m.line_no}" for m in expected]
    assert stats == expected_stats

    dry = DryRunSink()
    await import_queue_log(SAMPLE, dry, wrapup_s=30)
    await dry.close()
    # One more agent event per end of a conversation (acw, then the state after it), except after call A,
    # whose agent paused during the wrap-up: acw + away instead of available + away.
    assert (dry.report.events, dry.report.invalid) == (53 + 4, 0)


@pytest.mark.asyncio
async def test_iter_queue_log_reads_the_whole_file_including_a_last_line_without_break(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(b"one\r\ntwo\n\nthree")
    assert [item async for item in iter_queue_log(path)] == [(1, "one"), (2, "two"), (3, ""), (4, "three")]


@pytest.mark.asyncio
async def test_follow_reads_appended_lines_and_survives_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("a\nb\n")
    seen: list[tuple[int, str]] = []

    async def tail() -> None:
        async for item in iter_queue_log(path, follow=True, poll_s=0.02):
            seen.append(item)

    task = asyncio.create_task(tail())
    try:
        await wait_until(lambda: len(seen) == 2)
        with path.open("a") as log:
            log.write("c\npart")  # a line being written is not read yet
            log.flush()
            await asyncio.sleep(0.1)
            assert seen[-1] == (3, "c")
            log.write("ial\n")
        await wait_until(lambda: len(seen) == 4)
        assert seen[-1] == (4, "partial")

        # logrotate: the old file is renamed (and written to once more), a new one is created.
        with path.open("a") as log:
            log.write("last of old\n")
        path.rename(tmp_path / "queue_log.1")
        path.write_text("new 1\nnew 2\n")
        await wait_until(lambda: len(seen) == 7)
        assert seen[4:] == [(5, "last of old"), (1, "new 1"), (2, "new 2")]

        # copytruncate: the same file, emptied and written again.
        os.truncate(path, 0)
        await asyncio.sleep(0.1)
        with path.open("a") as log:
            log.write("after truncate\n")
        await wait_until(lambda: len(seen) == 8)
        assert seen[-1] == (1, "after truncate")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


@pytest.mark.asyncio
async def test_import_follow_maps_appended_lines_and_rotation_until_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    lines = sample_lines()
    path.write_text("\n".join(lines[:20]) + "\n")
    sink = RecordingSink()
    stats = QueueLogStats()
    task = asyncio.create_task(import_queue_log(path, sink, follow=True, poll_s=0.02, stats=stats))
    try:
        whole, _ = sample_events()
        first = [m for m in whole if m.line_no <= 20]
        await wait_until(lambda: len(sink.sent) == len(first))
        with path.open("a") as log:
            log.write("\n".join(lines[20:40]) + "\n")
        upto_40 = [m for m in whole if m.line_no <= 40]
        await wait_until(lambda: len(sink.sent) == len(upto_40))
        assert [event for event, _ in sink.sent] == events_only(upto_40)

        path.rename(tmp_path / "queue_log.1")
        path.write_text("\n".join(lines[40:]) + "\n")
        await wait_until(lambda: len(sink.sent) == len(whole))
        assert [event for event, _ in sink.sent] == events_only(whole)
        assert sink.sent[-1][1] == f"{path}:{len(lines) - 40}"  # line numbers restart in the new file
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (stats.lines, stats.rotations, stats.problem_count) == (50, 1, 2)
    assert [p.line_no for p in stats.problems] == [5, 6]  # lines 45 and 46 of the sample, in the new file
