"""The performance overview, drawn from a real PerformanceEstimate of the trained demo tracker."""
from __future__ import annotations

import dataclasses
from html import escape

from workbench.trackers.summary import percent, reliability_notes
from workbench.widgets import PerformanceOverview


def test_overview_shows_the_estimate_its_counts_curve_and_samples(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    est = tracker.performance()
    view = PerformanceOverview(tracker, est)
    head = view.headline.value
    assert f"<div class='wb-big'>{percent(est.precision.value)}</div>" in head
    assert f"{percent(est.hit_rate.low)} to {percent(est.hit_rate.high)}" in head
    assert "model version 2, round 2" in head
    assert f"<th>YES tags</th><td>{est.n_yes:,}</td>" in view.counts.value
    assert f"{est.detected_sentences:,}" in view.counts.value
    assert view.figure.value.count("<img") == 1 and view.curve.rounds == [1, 2]
    assert "Another round is likely to help" in view.figure.value  # 2 of the 4 basic rounds done
    # 150 calls in scope: the seed's advice for a small corpus, in the overview and the terminal's
    assert "consider a keyword tracker" in head and "pre-trained" in head
    assert view.scope_advice == tracker.scope_advice()
    n = view.samples.height
    assert 0 < n <= 20 and view.sample_list.value.count("class='wb-sample'") == n
    k = view.keywords
    assert "Against the keyword baseline" in view.keyword_baseline.value
    assert all(f"<code>{p}</code>" in view.keyword_baseline.value for p in k.phrases)
    assert f"<td>{k.keyword_f1:.2f}</td><td>{k.tracker_f1:.2f}</td>" in view.keyword_baseline.value


def test_an_estimate_on_few_tags_says_so(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    est = tracker.performance()
    few = dataclasses.replace(est, honest_precision=dataclasses.replace(est.precision, n=12, low=0.35, high=0.95))
    view = PerformanceOverview(tracker, few)
    assert "The precision rests on only 12 tags" in view.headline.value and "rough guess" in view.headline.value
    assert "35% to 95%" in view.headline.value

    none = dataclasses.replace(est, honest_precision=None, reference_precision=None, honest_hit_rate=None,
                               reference_hit_rate=None)
    notes = reliability_notes(none)
    assert len(notes) == 1 and "not enough tags" in notes[0]
    assert "not enough tags to estimate" in PerformanceOverview(tracker, none).headline.value


def test_a_solid_estimate_carries_no_warning(demo_ws):
    est = demo_ws.tracker("Asking for a discount").performance()
    solid = dataclasses.replace(
        est, honest_precision=dataclasses.replace(est.precision, low=0.8, high=0.9, n=400),
        honest_hit_rate=dataclasses.replace(est.hit_rate, low=0.7, high=0.85, n=400))
    assert reliability_notes(solid) == []


def test_a_wide_precision_suggests_a_verification_round(demo_ws):
    est = demo_ws.tracker("Asking for a discount").performance()
    wide = dataclasses.replace(
        est, honest_precision=dataclasses.replace(est.precision, low=0.6, high=0.85, n=400),
        honest_hit_rate=dataclasses.replace(est.hit_rate, low=0.7, high=0.85, n=400))
    notes = reliability_notes(wide)
    assert len(notes) == 1 and "verification round" in notes[0] and "60% to 85%" in notes[0]


def test_the_keyword_baseline_button_creates_the_keyword_tracker(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    view = PerformanceOverview(tracker, tracker.performance())
    assert view.keyword_button.layout.display != "none"
    view.keyword_button.click()
    created = demo_ws.tracker("Asking for a discount (keywords)")
    assert tuple(created.phrases) == view.keywords.phrases and view.keyword_button.disabled
    assert "Created the keyword tracker" in view.keyword_status.value
    view.keyword_button.click()  # a second time: the name is taken, and the screen says so
    assert "wb-error" in view.keyword_status.value and "already" in view.keyword_status.value


def test_the_overview_says_what_the_figures_mean_and_what_to_do(demo_ws):
    from workbench.trackers.advice import TrackerDiagnosis, next_steps
    from workbench.training.diagnosis import diagnose

    tracker = demo_ws.tracker("Asking for a discount")
    est = tracker.performance()
    d = tracker.diagnosis()
    session = tracker._session_with_model()
    assert d.findings == diagnose(est, session.held_out(), session.labels)
    low = dataclasses.replace(est, honest_hit_rate=dataclasses.replace(est.hit_rate, value=0.05, low=0.01, high=0.2))
    findings = diagnose(low, session.held_out(), session.labels)
    shown = TrackerDiagnosis(findings, next_steps(findings, rounds_done=2, another_round_helps=True))
    view = PerformanceOverview(tracker, low, diagnosis=shown)
    html = view.findings.value
    assert "What the figures say" in html and "finds few of the mentions: an estimated 5% of them" in html
    assert "What to do next" in html and "Tag another round (2 of 10 done)" in html
    assert "What the figures say" not in PerformanceOverview(tracker, est, diagnosis=TrackerDiagnosis()).findings.value


def test_the_overview_shows_the_demo_truth_beside_the_estimate(demo_ws):
    from workbench.demo.job import DEMO_TRUTH, reference_labels

    tracker = demo_ws.tracker("Asking for a discount")
    est = tracker.performance()
    assert "class='wb-truth'" not in PerformanceOverview(tracker, est).headline.value  # no truth known: none shown
    labels = reference_labels(demo_ws.data_dir / "raw" / "demo" / "labels.parquet", ["discount_request"])
    tracker.set_reference_labels(labels, source=DEMO_TRUTH)
    truth = tracker.truth()
    head = PerformanceOverview(tracker, est).headline.value
    assert f"<b>Demo truth: precision {truth.precision:.2f}, hit rate {truth.hit_rate:.2f} (" in head
    assert escape(truth.reading(est)) in head and "interval" in truth.reading(est)
    assert head.index("wb-card") < head.index("Demo truth")  # beside the estimate, after its figures


def test_the_overview_renames_the_tracker_or_says_why_not(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    view = PerformanceOverview(tracker)
    view.new_name.value = "x" * 61
    view.rename_button.click()
    assert "at most 60" in view.rename_status.value and tracker.name == "Asking for a discount"
    view.new_name.value = "Discount requests"
    view.rename_button.click()
    assert "Renamed" in view.rename_status.value and tracker.name == "Discount requests"
    assert "Discount requests</h2>" in view.headline.value
    assert demo_ws.tracker("discount requests").versions().height == tracker.versions().height > 0
