"""One filter grammar: the same text means the same calls in every command, and the Python API
checks its values against the calls columns the same way."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from workbench.core.errors import ValidationError
from workbench.core.schema import CALLS_REQUIRED
from workbench.trackers.filters import check_filters, filter_expression, parse_filters

SCHEMA = dict(CALLS_REQUIRED)
CALLS = pl.DataFrame(
    {"call_id": ["a", "b", "c", "d"],
     "started_at": [dt.datetime(2026, m, 15, tzinfo=dt.timezone.utc) for m in (1, 3, 3, 6)],
     "duration_s": [30.0, 90.0, 600.0, 1200.0], "title": ["x"] * 4, "is_external": [True, True, False, True],
     "team": ["EMEA", "NA", "Sales, EMEA", "APAC"], "rep": ["r"] * 4, "deal_stage": ["Demo", None, "Demo", None],
     "channel": ["call"] * 4},
    schema=SCHEMA)


def kept(specs: list[str]) -> list[str]:
    return CALLS.filter(filter_expression(parse_filters(specs, SCHEMA), SCHEMA))["call_id"].to_list()


def test_values_lists_quotes_and_repeats():
    assert parse_filters(["team=EMEA,NA"], SCHEMA) == {"team": ["EMEA", "NA"]}
    assert kept(["team=EMEA,NA"]) == ["a", "b"]
    assert kept(["team=EMEA", "team=NA"]) == ["a", "b"]  # a repeated column adds alternatives
    assert kept(['team="Sales, EMEA",APAC']) == ["c", "d"]
    assert kept(["team = NA "]) == ["b"]
    assert parse_filters([], SCHEMA) is None


def test_values_are_read_by_the_column_type():
    assert parse_filters(["is_external=no", "duration_s=60..", "started_at=2026-03-01..2026-03-31"], SCHEMA) == {
        "is_external": False, "duration_s": (60, None), "started_at": ("2026-03-01", "2026-03-31")}
    assert kept(["is_external=yes", "duration_s=60..600"]) == ["b"]
    assert kept(["started_at=2026-03-01..2026-03-15"]) == ["b", "c"]  # the upper day is included whole
    assert kept(["duration_s=..90.5"]) == ["a", "b"]
    assert kept(["title=wait..what"]) == []  # in a text column ".." is text


@pytest.mark.parametrize("spec, field, words", [
    ("region=EMEA", "filters.region", "no column 'region'"),
    ("is_external=maybe", "filters.is_external", "not true or false"),
    ("duration_s=long", "filters.duration_s", "not a number"),
    ("started_at=2026-13-01..", "filters.started_at", "not a date"),
    ("duration_s=..", "filters.duration_s", "neither end"),
    ("team=EMEA,,NA", "filters.team", "empty value"),
    ('team="EMEA', "filters.team", "cannot read"),
    ("team", "--filter", "COLUMN=VALUE"),
])
def test_errors_name_the_column(spec, field, words):
    with pytest.raises(ValidationError, match=words) as e:
        parse_filters([spec], SCHEMA)
    assert e.value.field == field


def test_a_column_given_as_a_range_and_as_values_is_an_error():
    with pytest.raises(ValidationError, match="once as a range") as e:
        parse_filters(["duration_s=60..", "duration_s=30"], SCHEMA)
    assert e.value.field == "filters.duration_s"


@pytest.mark.parametrize("filters, field, words", [
    ({"is_external": "yes"}, "filters.is_external", "not true or false"),
    ({"duration_s": "long"}, "filters.duration_s", "not a number"),
    ({"duration_s": (None, "600")}, "filters.duration_s", "not a number"),
    ({"team": 5}, "filters.team", "not text"),
    ({"team": ("EMEA", "NA")}, "filters.team", "a range needs a number or date column"),
    ({"team": []}, "filters.team", "empty list"),
    ({"started_at": {"min": "soon"}}, "filters.started_at", "not a date"),
    ({"deal_stage": {"from": "Demo"}}, "filters.deal_stage", "not a range"),
])
def test_the_python_api_checks_values_against_the_column_types(filters, field, words):
    with pytest.raises(ValidationError, match=words) as e:
        filter_expression(filters, SCHEMA)
    assert e.value.field == field


def test_python_values_and_their_stored_form_keep_the_same_calls():
    assert check_filters({"team": {"EMEA", "NA"}, "deal_stage": None}, SCHEMA)
    assert CALLS.filter(filter_expression({"team": {"EMEA", "NA"}, "deal_stage": None}, SCHEMA))["call_id"].to_list() == ["b"]
    as_tuple = filter_expression({"started_at": (dt.date(2026, 3, 1), "2026-03-15")}, SCHEMA)
    as_stored = filter_expression({"started_at": {"min": "2026-03-01", "max": "2026-03-15"}}, SCHEMA)
    assert CALLS.filter(as_tuple)["call_id"].to_list() == CALLS.filter(as_stored)["call_id"].to_list() == ["b", "c"]
