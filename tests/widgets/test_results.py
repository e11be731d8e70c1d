"""Tracker results for stakeholders: counts agree with the detections, plots and context shown."""
from __future__ import annotations

import html

import polars as pl

from workbench.widgets import TrackerResults


def test_report_counts_agree_with_the_detections(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    det = tracker.detections()
    report = tracker.report(det)
    detected = det.filter(pl.col("detected"))
    assert report.n_mentions == detected.height > 0
    assert report.calls_with_mention.height == detected["call_id"].n_unique()
    assert report.calls_in_scope == det["call_id"].n_unique()
    for frame in (report.by_team, report.by_rep, report.by_month):
        assert frame["calls"].sum() == report.calls_in_scope
        assert frame["mentions"].sum() == report.n_mentions
    row = report.by_team.row(0, named=True)
    assert row["share"] == row["calls_with_mention"] / row["calls"]


def test_results_screen_shows_plots_calls_and_mentions_in_context(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    view = TrackerResults(tracker)
    r = view.report
    assert f"{r.calls_with_mention.height:,} of {r.calls_in_scope:,} calls" in view.headline.value
    assert view.figures.value.count("<img") == 3
    assert view.calls_table.value.count("<tr>") == min(r.calls_with_mention.height, 50) + 1
    assert view.mentions.value.count("class='wb-mention'") == min(r.n_mentions, 20)

    call = r.calls_with_mention.row(0, named=True)
    view.call_picker.value = call["call_id"]
    assert view.mentions.value.count("class='wb-mention'") == call["mentions"]
    first = r.mentions.filter(pl.col("call_id") == call["call_id"]).sort("start_s")["text"][0]
    assert "wb-target" in view.mentions.value and html.escape(first.split()[0]) in view.mentions.value
