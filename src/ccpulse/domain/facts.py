"""Facts: the records behind every KPI.

A fact is what one finished piece of work yields: a queue stint with its
outcome, a handling segment with its talk/hold/ACW, an agent's time in one
state, a step in a ticket's life, a survey answer. Facts are immutable,
carry a stable ``fact_id`` (the same piece of work always has the same id, so
a re-emitted fact is recognisably the same), and hold raw durations in
milliseconds; which SL threshold a wait met, whether an abandon was short,
and every ratio are decided when facts are aggregated, with the queue's
configuration.

When facts count (SPEC section 3): queue outcomes at the outcome time,
arrivals at the queued time, handling at completion (wrap-up end or ACW
timeout), agent state time over the span, ticket steps at their own time,
surveys at submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ccpulse.domain.events import AgentState, Channel, SurveyKind


class QueueOutcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    FLOWED_OUT = "flowed_out"


class TicketStep(StrEnum):
    CREATED = "created"
    FIRST_RESPONSE = "first_response"
    SOLVED = "solved"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class QueueArrivalFact:
    """A contact entered a queue (a new queue stint); counts at ``queued_ts_ms``."""

    contact_id: str
    queue: str
    channel: Channel
    queued_ts_ms: int
    customer_key: str | None = None  # keyed hash, for repeat-contact detection

    @property
    def fact_id(self) -> str:
        return f"{self.contact_id}:{self.queued_ts_ms}"


@dataclass(frozen=True, slots=True)
class QueueOutcomeFact:
    """One finished queue stint; counts at ``outcome_ts_ms``."""

    contact_id: str
    queue: str
    channel: Channel
    outcome: QueueOutcome
    queued_ts_ms: int
    outcome_ts_ms: int

    @property
    def wait_ms(self) -> int:
        return self.outcome_ts_ms - self.queued_ts_ms

    @property
    def fact_id(self) -> str:
        """Stable identity of the stint: the same stint always has the same id."""
        return f"{self.contact_id}:{self.queued_ts_ms}"


@dataclass(frozen=True, slots=True)
class HandlingFact:
    """One completed handling segment: answered, talk (with holds), ended, after-contact work.

    ``completed_ts_ms`` is the wrap-up end, or ``ended_ts_ms + acw_timeout`` when
    the wrap-up never came in time (``acw_timed_out``). The fact counts at
    ``completed_ts_ms``. ``customer_key`` is a keyed hash of the customer id
    (never the id itself), used only for repeat-contact detection.
    """

    contact_id: str
    queue: str
    channel: Channel
    agent_id: str
    answered_ts_ms: int
    ended_ts_ms: int
    completed_ts_ms: int
    hold_ms: int
    hold_count: int
    acw_timed_out: bool
    transferred: bool
    resolved: bool | None = None
    disposition: str | None = None
    customer_key: str | None = None

    @property
    def talk_ms(self) -> int:
        return self.ended_ts_ms - self.answered_ts_ms - self.hold_ms

    @property
    def acw_ms(self) -> int:
        return self.completed_ts_ms - self.ended_ts_ms

    @property
    def handle_ms(self) -> int:
        """AHT numerator for this segment: talk + hold + acw."""
        return self.completed_ts_ms - self.answered_ts_ms

    @property
    def fact_id(self) -> str:
        return f"{self.contact_id}:{self.answered_ts_ms}:{self.agent_id}"


@dataclass(frozen=True, slots=True)
class AgentStateFact:
    """An agent spent ``[start_ts_ms, end_ts_ms)`` in ``state`` while serving ``queues``."""

    agent_id: str
    state: AgentState
    start_ts_ms: int
    end_ts_ms: int
    queues: tuple[str, ...] = ()
    team: str | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ts_ms - self.start_ts_ms

    @property
    def fact_id(self) -> str:
        return f"{self.agent_id}:{self.start_ts_ms}"


@dataclass(frozen=True, slots=True)
class TicketFact:
    """A step in a ticket's life; counts at ``ts_ms``.

    ``duration_ms`` is the first response time for FIRST_RESPONSE and the
    resolution time (created to solved) for SOLVED; ``public_replies`` is the
    number of public agent replies before a SOLVED step (one-touch: <= 1).
    """

    ticket_id: str
    queue: str
    channel: Channel
    step: TicketStep
    ts_ms: int
    duration_ms: int | None = None
    public_replies: int | None = None
    agent_id: str | None = None

    @property
    def fact_id(self) -> str:
        return f"{self.ticket_id}:{self.step.value}:{self.ts_ms}"


@dataclass(frozen=True, slots=True)
class SurveyFact:
    """One survey answer attributed to the queue, channel and agent of what it rates."""

    survey_id: str
    kind: SurveyKind
    score: float
    ts_ms: int
    queue: str | None
    channel: Channel | None
    agent_id: str | None

    @property
    def fact_id(self) -> str:
        return self.survey_id


# -- live records --------------------------------------------------------------------
# Not facts about finished work but the state of something now; they travel and
# are kept like facts (published, replaced, withdrawn by id) so the live view
# survives restarts the same way KPIs do.


@dataclass(frozen=True, slots=True)
class AgentPresenceFact:
    """The state an agent is in now, since when, and the queues it serves in it; one per agent."""

    agent_id: str
    state: AgentState
    since_ts_ms: int
    queues: tuple[str, ...] = ()

    @property
    def fact_id(self) -> str:
        return self.agent_id


@dataclass(frozen=True, slots=True)
class TicketOpenFact:
    """A ticket of ``queue`` open now (the backlog); withdrawn when it is solved or closed."""

    ticket_id: str
    queue: str

    @property
    def fact_id(self) -> str:
        return self.ticket_id
