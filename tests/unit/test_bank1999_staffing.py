"""Miller's (2015, ch. 6) Erlang C staffing of the Anonymous Bank's Wednesdays, recomputed from the records.

Method (tests/data/README.md): drop PHANTOM records and records with a negative
``vru_time``; count calls by the hour of ``vru_entry`` on the four Wednesdays of
February 1999 and divide by 4. The service rate is the mean over the 24 hours of
3600 / (mean ``ser_time`` of that hour's Wednesday calls with a named server +
60 s of wrap-up): 14.86443 calls per hour per agent as published (14.889 here, see
below), which Miller rounds to 15.
Each hour gets the smallest N whose Erlang C probability of waiting at load
λ/15 is at most 0.5. Credit: Technion SEE Center (data).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from ccpulse.domain.erlang import erlang_c_required_agents_for_wait_probability

RECORDS = Path(__file__).resolve().parents[1] / "data" / "anonymous-bank-1999-02.tsv"
PUBLISHED_CALLS_PER_HOUR = (
    6.75, 1.75, 1.25, 0, 0.5, 0.25, 4.75, 39.5, 97.25, 107.5, 124, 110.25,
    95.5, 203.5, 115.75, 115.5, 67.75, 75, 88.75, 85.5, 68, 61.5, 57.5, 44.25,
)  # fmt: skip
PUBLISHED_AGENTS = (1, 1, 1, 0, 1, 1, 1, 4, 8, 9, 10, 9, 8, 16, 10, 10, 6, 7, 8, 8, 6, 6, 5, 4)
WRAP_UP_S = 60
WEDNESDAY = 2


def wednesday_calls() -> list[dict[str, str]]:
    with RECORDS.open(newline="", encoding="ascii") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        row
        for row in rows
        if row["outcome"] != "PHANTOM"
        and int(row["vru_time"]) >= 0
        and datetime.strptime(row["date"], "%y%m%d").weekday() == WEDNESDAY
    ]


def hour_of(row: dict[str, str]) -> int:
    return int(row["vru_entry"].split(":")[0])


@pytest.fixture(scope="module")
def calls() -> list[dict[str, str]]:
    return wednesday_calls()


def test_hourly_arrival_rates_match_the_published_vector(calls: list[dict[str, str]]) -> None:
    per_hour = [0] * 24
    for row in calls:
        per_hour[hour_of(row)] += 1

    assert tuple(count / 4 for count in per_hour) == PUBLISHED_CALLS_PER_HOUR


def test_service_rate_rounds_to_the_published_15_calls_per_hour(calls: list[dict[str, str]]) -> None:
    # Hours 3..5 and a few others have no Wednesday call with a named server; the mean runs over
    # the 18 hours that do. That gives 14.889 calls per hour; Miller reports 14.86443 (0.16 %
    # lower: his exact filtering is not published). Both round to the 15 the staffing uses.
    talk: dict[int, list[int]] = defaultdict(list)
    for row in calls:
        if row["server"] != "NO_SERVER":
            talk[hour_of(row)].append(int(row["ser_time"]))
    rates = [3600 / (sum(seconds) / len(seconds) + WRAP_UP_S) for seconds in talk.values()]
    service_rate = sum(rates) / len(rates)

    assert len(rates) == 18
    assert service_rate == pytest.approx(14.86443, rel=0.002)
    assert round(service_rate) == 15


def test_staffing_vector_from_the_data_matches_the_published_one(calls: list[dict[str, str]]) -> None:
    per_hour = [0] * 24
    for row in calls:
        per_hour[hour_of(row)] += 1
    aht_s = 3600 / 15  # the service rate rounded to 15 calls per hour, as published

    needed = tuple(erlang_c_required_agents_for_wait_probability(count / 4 / 3600, aht_s, 0.5) for count in per_hour)

    assert needed == PUBLISHED_AGENTS
