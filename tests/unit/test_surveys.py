"""Survey facts and their attribution (SPEC sections 2 and 3 "Surveys", section 5).

Hand-worked cases first, then properties: whether a survey arrives before or
after the contact it rates, duplicates and a restart from serialized state
must not change the facts. T0_MS is 2024-03-01T12:00:00Z (worked out in
test_queue_stints.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.events import InvalidEvent, RejectReason, decode_event
from ccpulse.codec.records import survey_inbox_from_dict, survey_inbox_to_dict
from ccpulse.domain.events import Channel, SurveyEvent, SurveyKind
from ccpulse.domain.facts import SurveyFact
from ccpulse.domain.surveys import (
    NO_CHANGES,
    SCORE_SCALES,
    Attribution,
    AttributionLookup,
    PendingSurvey,
    SurveyInbox,
    apply_survey_event,
    attribute_survey,
    give_up_pending,
    rated_key,
    retry_pending,
    score_problem,
    unattributed_fact,
    validate_score,
)
from tests.unit.lifecycle_support import FactsLedger

T0_MS = 1_709_294_400_000
HOUR_MS = 3_600_000

CONTACT_SUPPORT = Attribution("support", Channel.VOICE, "a-17")
TICKET_BILLING = Attribution("billing", Channel.EMAIL, "a-22")

property_settings = settings(max_examples=200, deadline=None)


def lookup(known: Mapping[str, Attribution]) -> AttributionLookup:
    return known.get


def unused(rated_id: str) -> Attribution | None:
    raise AssertionError(f"no lookup expected, asked for {rated_id}")


def survey(
    event_id: str = "s-1",
    kind: SurveyKind = SurveyKind.CSAT,
    score: float = 5.0,
    *,
    contact_id: str | None = "c-1",
    ticket_id: str | None = None,
    queue: str | None = None,
    channel: Channel | None = None,
    agent_id: str | None = None,
    ts_ms: int = T0_MS,
) -> SurveyEvent:
    return SurveyEvent(event_id, ts_ms, kind, score, contact_id, ticket_id, queue, channel, agent_id)


def survey_fact(event: SurveyEvent, attribution: Attribution) -> SurveyFact:
    return SurveyFact(
        event.event_id,
        event.kind,
        event.score,
        event.ts_ms,
        attribution.queue,
        attribution.channel,
        attribution.agent_id,
    )


# --- attribution ------------------------------------------------------------


def test_survey_takes_queue_channel_and_agent_of_the_contact_it_rates() -> None:
    event = survey()

    result = attribute_survey(event, lookup({"c-1": CONTACT_SUPPORT}), unused)

    assert result == SurveyFact("s-1", SurveyKind.CSAT, 5.0, T0_MS, "support", Channel.VOICE, "a-17")


def test_fields_given_on_the_survey_win_one_by_one() -> None:
    # The survey tool knows the queue (sales) but not channel or agent: those come from the contact.
    event = survey(queue="sales")

    result = attribute_survey(event, lookup({"c-1": CONTACT_SUPPORT}), unused)

    assert result == survey_fact(event, Attribution("sales", Channel.VOICE, "a-17"))


def test_survey_with_every_field_given_needs_no_lookup() -> None:
    event = survey(queue="sales", channel=Channel.CHAT, agent_id="a-1")

    assert attribute_survey(event, unused, unused) == survey_fact(event, Attribution("sales", Channel.CHAT, "a-1"))


def test_ticket_survey_takes_the_ticket_attribution() -> None:
    event = survey(kind=SurveyKind.NPS, score=9, contact_id=None, ticket_id="t-501")

    result = attribute_survey(event, unused, lookup({"t-501": TICKET_BILLING}))

    assert result == survey_fact(event, TICKET_BILLING)


def test_survey_naming_contact_and_ticket_is_about_the_contact_and_waits_for_it() -> None:
    both = survey(contact_id="c-1", ticket_id="t-501")
    tickets = lookup({"t-501": TICKET_BILLING})

    assert attribute_survey(both, lookup({"c-1": CONTACT_SUPPORT}), tickets) == survey_fact(both, CONTACT_SUPPORT)
    # The ticket being known first must not decide: that would depend on arrival order.
    assert attribute_survey(both, lookup({}), tickets) == PendingSurvey(both)


def test_partial_attribution_of_the_contact_leaves_the_rest_unknown() -> None:
    # An abandoned-then-called-back contact may have a queue but no agent.
    event = survey()

    result = attribute_survey(event, lookup({"c-1": Attribution("support", Channel.VOICE, None)}), unused)

    assert result == survey_fact(event, Attribution("support", Channel.VOICE, None))


def test_survey_about_an_unknown_contact_is_pending() -> None:
    event = survey(queue="sales")

    assert attribute_survey(event, lookup({}), lookup({})) == PendingSurvey(event)


def test_unattributed_fact_keeps_only_the_surveys_own_fields() -> None:
    event = survey(queue="sales")

    assert unattributed_fact(event) == survey_fact(event, Attribution("sales", None, None))


def test_rated_key_names_the_contact_else_the_ticket() -> None:
    assert rated_key(survey(contact_id="c-1", ticket_id="t-1")) == "contact:c-1"
    assert rated_key(survey(contact_id=None, ticket_id="t-1")) == "ticket:t-1"
    with pytest.raises(ValueError, match="neither a contact nor a ticket"):
        rated_key(survey(contact_id=None))


# --- the inbox: pending, retry, give up, duplicates --------------------------


def test_pending_survey_is_published_when_its_contact_becomes_known() -> None:
    event = survey()
    inbox, changes = apply_survey_event(SurveyInbox(), event, lookup({}), lookup({}))
    assert changes == NO_CHANGES
    assert inbox.pending == (event,)

    inbox, changes = retry_pending(inbox, lookup({"c-1": CONTACT_SUPPORT}), lookup({}))

    assert changes.published == (survey_fact(event, CONTACT_SUPPORT),)
    assert inbox.pending == ()


def test_retry_keeps_surveys_whose_contact_is_still_unknown() -> None:
    waiting = survey("s-1", contact_id="c-1")
    other = survey("s-2", contact_id="c-2")
    inbox, _ = apply_survey_event(SurveyInbox(), waiting, lookup({}), lookup({}))
    inbox, _ = apply_survey_event(inbox, other, lookup({}), lookup({}))

    inbox, changes = retry_pending(inbox, lookup({"c-2": CONTACT_SUPPORT}), lookup({}))

    assert changes.published == (survey_fact(other, CONTACT_SUPPORT),)
    assert inbox.pending == (waiting,)
    assert retry_pending(inbox, lookup({}), lookup({})) == (inbox, NO_CHANGES)


def test_retry_only_rating_tries_just_the_surveys_of_newly_known_contacts_and_tickets() -> None:
    of_contact = survey("s-1", contact_id="c-1")
    of_other = survey("s-2", contact_id="c-2")
    inbox, _ = apply_survey_event(SurveyInbox(), of_contact, lookup({}), lookup({}))
    inbox, _ = apply_survey_event(inbox, of_other, lookup({}), lookup({}))
    both_known = lookup({"c-1": CONTACT_SUPPORT, "c-2": CONTACT_SUPPORT})

    # Only c-2 is newly known: s-1 is not looked at, though its lookup would answer.
    kept, changes = retry_pending(inbox, both_known, lookup({}), only_rating=({"c-2"}, set()))

    assert changes.published == (survey_fact(of_other, CONTACT_SUPPORT),)
    assert kept.pending == (of_contact,)
    assert retry_pending(inbox, both_known, lookup({}), only_rating=(set(), {"c-1"})) == (inbox, NO_CHANGES)


def test_giving_up_publishes_old_pending_surveys_with_their_own_fields() -> None:
    old = survey("s-1", ts_ms=T0_MS, agent_id="a-3")
    recent = survey("s-2", ts_ms=T0_MS + 2 * HOUR_MS)
    inbox = SurveyInbox(pending=(old, recent))

    # Stream time T0+25 h minus a 24 h wait = T0+1 h: only the survey at T0 gave up.
    inbox, changes = give_up_pending(inbox, T0_MS + HOUR_MS)

    assert changes.published == (survey_fact(old, Attribution(None, None, "a-3")),)
    assert inbox.pending == (recent,)
    assert give_up_pending(inbox, T0_MS + HOUR_MS) == (inbox, NO_CHANGES)


@pytest.mark.parametrize("known", [True, False], ids=["published", "pending"])
def test_duplicate_survey_changes_nothing(known: bool) -> None:
    contacts = lookup({"c-1": CONTACT_SUPPORT} if known else {})
    inbox, _ = apply_survey_event(SurveyInbox(), survey(), contacts, lookup({}))

    after, changes = apply_survey_event(inbox, survey(), contacts, lookup({}))

    assert changes == NO_CHANGES
    assert after == inbox


# --- score scales -----------------------------------------------------------

SCALE_CASES = [
    # (kind, score, on the scale)
    (SurveyKind.CSAT, 1, True),
    (SurveyKind.CSAT, 5, True),
    (SurveyKind.CSAT, 4.5, True),
    (SurveyKind.CSAT, 0, False),
    (SurveyKind.CSAT, 5.5, False),
    (SurveyKind.ESAT, 1, True),
    (SurveyKind.ESAT, 6, False),
    (SurveyKind.NPS, 0, True),
    (SurveyKind.NPS, 10, True),
    (SurveyKind.NPS, -1, False),
    (SurveyKind.NPS, 11, False),
    (SurveyKind.CES, 1, True),
    (SurveyKind.CES, 7, True),
    (SurveyKind.CES, 0.99, False),
    (SurveyKind.CES, 7.01, False),
    (SurveyKind.CSAT, float("nan"), False),
    (SurveyKind.NPS, float("inf"), False),
]


@pytest.mark.parametrize(("kind", "score", "on_scale"), SCALE_CASES)
def test_score_scale_per_kind(kind: SurveyKind, score: float, on_scale: bool) -> None:
    assert (score_problem(kind, score) is None) == on_scale
    if on_scale:
        validate_score(kind, score)
    else:
        with pytest.raises(ValueError, match=rf"{kind.value} score must be"):
            validate_score(kind, score)


def test_out_of_scale_score_is_a_programming_error_when_attributing() -> None:
    with pytest.raises(ValueError, match=r"csat score must be within 1\.\.5"):
        attribute_survey(survey(score=9), unused, unused)


def test_scale_reason_never_contains_the_score() -> None:
    problem = score_problem(SurveyKind.NPS, 15_551_234_567)

    assert problem == "nps score must be within 0..10"


def survey_document(kind: SurveyKind, score: float) -> bytes:
    return json.dumps(
        {
            "event_id": "s",
            "type": "survey.submitted",
            "ts": T0_MS,
            "kind": kind.value,
            "score": score,
            "contact_id": "c",
        }
    )


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(SurveyKind),
    score=st.one_of(
        st.integers(-2, 12), st.floats(-2, 12), st.sampled_from([0.0, 1.0, 5.0, 7.0, 10.0, 0.999999, 10.000001])
    ),
)
def test_codec_and_domain_agree_on_every_scale(kind: SurveyKind, score: float) -> None:
    low, high = SCORE_SCALES[kind]
    problem = score_problem(kind, score)
    if low <= score <= high:
        assert problem is None
        assert decode_event(survey_document(kind, score)) is not None
    else:
        assert problem is not None
        with pytest.raises(InvalidEvent) as caught:
            decode_event(survey_document(kind, score))
        assert (caught.value.reason, caught.value.detail) == (RejectReason.BAD_VALUE, problem)


# --- properties: arrival order, duplicates, restart -------------------------

CONTACTS = {"c-1": CONTACT_SUPPORT, "c-2": Attribution("sales", Channel.CHAT, None)}
TICKETS = {"t-1": TICKET_BILLING}


@dataclass(frozen=True)
class Known:
    """The engine learned the attribution of a contact or ticket (its events arrived)."""

    rated_id: str


Arrival = SurveyEvent | Known


@st.composite
def survey_batches(draw: st.DrawFn) -> list[SurveyEvent]:
    """1-5 surveys with distinct ids about known-later contacts and tickets, some fields given."""
    surveys: list[SurveyEvent] = []
    for n in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(SurveyKind))
        low, high = SCORE_SCALES[kind]
        rates = draw(st.sampled_from(["c-1", "c-2", "t-1", "both"]))
        surveys.append(
            survey(
                f"s-{n}",
                kind,
                float(draw(st.integers(low, high))),
                contact_id="c-1" if rates == "both" else (rates if rates.startswith("c") else None),
                ticket_id="t-1" if rates in {"t-1", "both"} else None,
                queue=draw(st.sampled_from([None, "sales"])),
                channel=draw(st.sampled_from([None, Channel.VIDEO])),
                agent_id=draw(st.sampled_from([None, "a-9"])),
                ts_ms=T0_MS + n * 1_000,
            )
        )
    return surveys


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[SurveyEvent], list[Arrival]]:
    """The surveys interleaved in any order with the moments their contacts and tickets become known."""
    surveys = draw(survey_batches())
    everything: list[Arrival] = [*surveys, *(Known(rated_id) for rated_id in [*CONTACTS, *TICKETS])]
    return surveys, draw(st.permutations(everything))


def run_engine(
    arrival: Iterable[Arrival],
    inbox: SurveyInbox | None = None,
    known: dict[str, Attribution] | None = None,
    ledger: FactsLedger[SurveyFact] | None = None,
) -> tuple[SurveyInbox, dict[str, Attribution], set[SurveyFact]]:
    """What the engine does: apply surveys as they come, retry the pending ones when something becomes known."""
    inbox = SurveyInbox() if inbox is None else inbox
    known = {} if known is None else known
    ledger = FactsLedger() if ledger is None else ledger
    contacts, tickets = lookup(known), lookup(known)
    for item in arrival:
        if isinstance(item, Known):
            known[item.rated_id] = {**CONTACTS, **TICKETS}[item.rated_id]
            inbox, changes = retry_pending(inbox, contacts, tickets)
        else:
            inbox, changes = apply_survey_event(inbox, item, contacts, tickets)
        ledger.apply(changes)
    return inbox, known, ledger.facts


def expected_facts(surveys: Sequence[SurveyEvent]) -> set[SurveyFact]:
    everything_known = lookup({**CONTACTS, **TICKETS})
    facts: set[SurveyFact] = set()
    for event in surveys:
        result = attribute_survey(event, everything_known, everything_known)
        assert isinstance(result, SurveyFact)
        facts.add(result)
    return facts


@property_settings
@given(arrivals())
def test_any_arrival_order_yields_the_same_facts(batch: tuple[list[SurveyEvent], list[Arrival]]) -> None:
    surveys, arrival = batch

    inbox, _, facts = run_engine(arrival)

    assert facts == expected_facts(surveys)
    assert inbox.pending == ()


@property_settings
@given(arrivals(), st.data())
def test_duplicate_surveys_change_nothing(batch: tuple[list[SurveyEvent], list[Arrival]], data: st.DataObject) -> None:
    surveys, arrival = batch
    with_duplicates = list(arrival)
    for _ in range(data.draw(st.integers(1, 6), label="duplicate count")):
        copy = data.draw(st.sampled_from(surveys), label="duplicated survey")
        with_duplicates.insert(data.draw(st.integers(0, len(with_duplicates)), label="position"), copy)

    _, _, facts = run_engine(with_duplicates)  # the ledger fails on a second publication of one survey

    assert facts == expected_facts(surveys)


@property_settings
@given(arrivals(), st.data())
def test_restart_from_serialized_inbox_yields_the_same_facts(
    batch: tuple[list[SurveyEvent], list[Arrival]], data: st.DataObject
) -> None:
    surveys, arrival = batch
    cut = data.draw(st.integers(0, len(arrival)), label="arrivals before the restart")
    redelivered = data.draw(st.integers(0, cut), label="redelivered arrivals")

    ledger: FactsLedger[SurveyFact] = FactsLedger()
    inbox, known, _ = run_engine(arrival[:cut], ledger=ledger)
    restored = survey_inbox_from_dict(json.loads(json.dumps(survey_inbox_to_dict(inbox))))
    assert restored == inbox
    # The contacts' own state survives the restart in its own table.
    final_inbox, _, facts = run_engine(arrival[cut - redelivered :], restored, known, ledger)

    assert facts == expected_facts(surveys)
    assert final_inbox.pending == ()
