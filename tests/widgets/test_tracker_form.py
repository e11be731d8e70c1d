"""The create-tracker form: errors beside their fields, nothing half-created, warnings shown."""
from __future__ import annotations

import datetime as dt

import pytest

from workbench import Workspace
from workbench.core.errors import ValidationError
from workbench.widgets import TrackerForm

GOOD_EXAMPLES = "\n".join([
    "Can you do a better price?",
    "Is there a discount for two years?",
    "",  # blank lines are ignored, and do not shift the line numbers errors quote
    "We need a lower price.",
    "Could you include onboarding for free?",
    "What is the best price you can give us?",
])


def fill(form: TrackerForm, **values) -> TrackerForm:
    form.name.value = values.get("name", "Asking for a discount")
    form.examples.value = values.get("examples", GOOD_EXAMPLES)
    return form


def test_each_error_shows_beside_its_field_and_nothing_is_created(tiny_ws):
    form = fill(TrackerForm(tiny_ws), name="   ",
                examples="Can you do a better price?\n\nIs there a discount. For two years?\nLower it.")
    form.submit_button.click()
    assert form.tracker is None
    assert set(form.errors) == {"name", "examples"}
    assert "needs a name" in form.error_widgets["name"].value
    # The second non-blank example is the box's third line: the message says so.
    assert "Line 3" in form.error_widgets["examples"].value and "2 sentences" in form.error_widgets["examples"].value
    assert form.error_widgets["mentioned_by"].value.endswith('<div class="wb"></div>')
    assert Workspace(tiny_ws.path).trackers() == []


def test_fewer_than_five_examples_create_the_tracker_as_the_api_does(tiny_ws):
    """One rule for the examples, the API's: a tracker may start with fewer than 5, and the
    first round needs 5 (the form used to refuse to create it)."""
    form = fill(TrackerForm(tiny_ws), examples="Can you do a better price?\nAny discount?")
    tracker = form.submit()
    assert tracker is not None and form.errors == {}
    assert "2 examples (at least 5 to start tagging)" in form.example_count.value
    assert tracker.examples == ["Can you do a better price?", "Any discount?"]
    assert "add 3 more examples" in form.result.value
    with pytest.raises(ValidationError, match="at least 5") as e:
        tracker.next_round()
    assert e.value.field == "examples"


def test_filters_that_leave_no_calls_are_shown_at_the_filters(tiny_ws):
    form = fill(TrackerForm(tiny_ws))
    form.is_external.value = False           # the internal calls are all NA or EMEA
    form.picks["team"].value = ("APAC",)
    assert form.submit() is None
    assert list(form.errors) == ["filters"]
    assert "no sentences are left in scope" in form.error_widgets["filters"].value


def test_errors_clear_on_the_next_submit_and_a_duplicate_name_is_a_name_error(tiny_ws):
    form = fill(TrackerForm(tiny_ws), name="")
    assert form.submit() is None and "name" in form.errors
    form.name.value = "Asking for a discount"
    assert form.submit() is not None
    assert form.errors == {} and "needs a name" not in form.error_widgets["name"].value
    again = fill(TrackerForm(tiny_ws))
    assert again.submit() is None
    assert list(again.errors) == ["name"] and "already exists" in again.errors["name"]


def test_a_valid_form_creates_the_tracker_with_its_examples_and_warns_of_a_small_corpus(tiny_ws):
    form = fill(TrackerForm(tiny_ws), name="Discount <script>alert(1)</script>")
    form.description.value = "The customer asks for a lower price."
    form.mentioned_by.value = "customer"
    form.picks["team"].value = ("EMEA", "NA")
    form.date_from.value = dt.date(2026, 1, 1)
    form.date_to.value = dt.date(2026, 3, 31)
    form.call_part.value = "last"
    form.minutes.value = 10
    tracker = form.submit()
    assert tracker is not None and form.errors == {}
    assert "500 calls" in form.warning.value  # the SmallCorpusWarning, shown rather than lost
    assert "<script>" not in form.result.value and "&lt;script&gt;" in form.result.value

    reopened = Workspace(tiny_ws.path).tracker(tracker.name)
    assert reopened.mentioned_by == "customer"
    assert reopened.call_part == ("last", 10.0)
    assert reopened.filters["team"] == ["EMEA", "NA"] and reopened.filters["is_external"] is True
    assert reopened.filters["started_at"] == {"min": "2026-01-01", "max": "2026-03-31"}
    assert reopened.examples[2] == "We need a lower price."
    assert len(reopened.examples) == 5
    # The date range keeps the calls of the first quarter only.
    months = reopened.scope().join(tiny_ws.calls.select("call_id", "started_at"), on="call_id")["started_at"]
    assert months.min() >= dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert months.max() < dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


def test_pick_lists_offer_the_imported_calls_values(tiny_ws):
    form = TrackerForm(tiny_ws)
    assert form.picks["team"].options == ("APAC", "EMEA", "NA")
    assert form.picks["deal_stage"].options == ("Demo", "Discovery")  # calls without a stage are not a value
    assert form.date_hint.startswith("calls run from 2026-01-05 to ")
