"""Activating from the overview dashboard: the plan first, a warning for a weak tracker, a
stream made in the same step (real workspace, real MLflow store)."""
from __future__ import annotations

import sys

from tests.activation.conftest import AS_OF
from workbench.widgets import ActivationPanel


def test_the_first_click_shows_the_plan_and_concerns_the_second_activates_with_a_stream(live_ws, tracker, tmp_path):
    out_file = tmp_path / "told.json"
    panel = ActivationPanel(tracker, as_of=AS_OF)
    panel.months.value = 6
    panel.with_stream.value = True
    assert panel.stream_box.layout.display is None
    panel.stream_name.value = "Discount asks, SMB"
    panel.stream_filters.value = "team=SMB"
    panel.command.value = f"{sys.executable} -c \"import sys; open('{out_file}', 'wb').write(sys.stdin.buffer.read())\""

    panel.activate_button.click()  # 1: the plan, and the concerns: 2 rounds of the 4 of a basic model
    plan = tracker.backfill_plan(6, as_of=AS_OF)
    assert not tracker.is_active and panel.plan.calls == plan.calls > 0
    assert f"{plan.calls:,} calls, {plan.sentences:,} sentences" in panel.plan_box.value
    assert "Only 2 rounds tagged: 4 rounds make a basic model." in panel.plan_box.value
    assert panel.concerns == tracker.activation_concerns() and panel.activate_button.description == "Activate anyway"

    panel.months.value = 0  # a change of mind: the plan is shown again before anything runs
    assert panel.plan is None and panel.activate_button.description == "Activate"
    panel.activate_button.click()
    assert "upcoming calls only" in panel.plan_box.value and not tracker.is_active
    panel.months.value = 6
    panel.activate_button.click()
    panel.activate_button.click()  # 2: activate anyway
    assert tracker.is_active and "is active with version 2" in panel.status.value
    assert "Stream 'Discount asks, SMB' created." in panel.status.value
    stream = live_ws.stream("Discount asks, SMB")
    assert stream.search_spec["trackers"] == [tracker.name] and stream.search_spec["filters"] == {"team": "SMB"}
    assert stream.command[0] == sys.executable
    live = tracker.results()
    assert live.detections.height > 0 and live.calls.height == plan.calls


def test_a_solid_tracker_raises_no_concern_and_a_keyword_tracker_none_at_all(live_ws, tracker):
    import dataclasses

    est = tracker.performance()
    solid = dataclasses.replace(est, honest_precision=dataclasses.replace(est.precision, value=0.9, low=0.8, high=0.95),
                                honest_hit_rate=dataclasses.replace(est.hit_rate, value=0.8, low=0.6, high=0.9))
    weak = dataclasses.replace(est, honest_precision=dataclasses.replace(est.precision, value=0.6, low=0.3, high=0.8),
                               honest_hit_rate=dataclasses.replace(est.hit_rate, value=0.4, low=0.1, high=0.7))
    from workbench.trackers.advice import activation_concerns

    assert activation_concerns(4, solid) == []
    lines = activation_concerns(4, weak)
    assert lines == ["Precision may be as low as 30%: more than half of its detections could be wrong.",
                     "The hit rate may be as low as 10%: it could miss most mentions."]
    keyword = live_ws.create_keyword_tracker("Price words", phrases=["price"])
    assert keyword.activation_concerns() == []
