"""Notebook 5's screen (a Voila dashboard for stakeholders): which calls mention the concept,
how often per team, rep and month, and the sentences in their context.

The numbers come from ``tracker.report()`` (workbench.results.reports: the tracker's detections
joined with the calls); this module only draws them.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import polars as pl

from workbench.results.reports import TrackerReport
from workbench.trackers.rounds import with_context
from workbench.widgets.banner import UnpublishedBanner
from workbench.widgets._render import (bar_figure, dropdown, esc, figure_html, html_block, set_html, speaker_line, time_label,
                                      tracker_title)
from workbench.widgets._text import show

CALLS_LISTED = 50
MENTIONS_IN_CONTEXT = 20


class TrackerResults:
    """The results of a tracker over every call in its scope.

    >>> TrackerResults(tracker)
    >>> results.show_call("call-0042")   # a call's mentions in context
    """

    def __init__(self, tracker: Any, report: TrackerReport | None = None) -> None:
        self.tracker = tracker
        self.ws = tracker.ws
        self.report = report if report is not None else tracker.report()
        self.banner = UnpublishedBanner(tracker, on_publish=lambda _: self.refresh())
        self.headline = html_block(self._headline())
        self.figures = html_block(self._figures())
        self.calls_table = html_block(self._calls_table())
        calls = self.report.calls_with_mention
        options = [(f"{r['started_at']:%Y-%m-%d} · {r['title'] or r['call_id']} ({r['mentions']})", r["call_id"])
                   for r in calls.head(200).iter_rows(named=True)]
        self.call_picker = dropdown([("Best-scored mentions across calls", None), *options],
                                    description="Show", layout=widgets.Layout(width="620px"))
        self.call_picker.observe(lambda ch: self.show_call(ch["new"]), "value")
        self.mentions = html_block("")
        self.show_call(None)
        self.widget = widgets.VBox([self.banner.widget, self.headline, self.figures, self.calls_table,
                                    html_block("<h3>The sentences in context</h3>"), self.call_picker, self.mentions])

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def refresh(self) -> None:
        """Recompute the report (after publishing, say) and draw it again."""
        self.report = self.tracker.report()
        set_html(self.headline, self._headline())
        set_html(self.figures, self._figures())
        set_html(self.calls_table, self._calls_table())
        self.show_call(None)

    def _headline(self) -> str:
        r = self.report
        n, k = r.calls_in_scope, r.calls_with_mention.height
        share = f" ({k / n:.0%})" if n else ""
        return (tracker_title(self.tracker) + f"<div class='wb-muted'>{esc(self._what_is_shown())}</div>"
                f"<p class='wb-big'>{k:,} of {n:,} calls{share}</p>"
                f"<p>mention it, in {r.n_mentions:,} sentences.</p>")

    def _what_is_shown(self) -> str:
        """The version and scope the figures are of: once active, the published ones (the
        stored results), whatever was trained or edited since; before, the latest model's."""
        state = self.tracker.live_state() if self.tracker.is_active else None
        if state is not None:
            return state.describe()
        versions = self.tracker.versions() if hasattr(self.tracker, "versions") else None
        version = (f" · model version {versions['version'][-1]} (not active yet)"
                   if versions is not None and versions.height else "")
        return self.tracker.definition.describe_scope() + version

    def _figures(self) -> str:
        r = self.report
        if r.calls_in_scope == 0:
            return "<p class='wb-muted'>No calls are in the tracker's scope.</p>"
        out = []
        for frame, key, title, width in ((r.by_month, "month", "Share of calls that mention it, per month", 7),
                                         (r.by_team, "team", "Per team", 4),
                                         (r.by_rep, "rep", "Per rep", 6)):
            fig = bar_figure(frame[key], frame["share"], title=title, ylabel="calls with a mention",
                             percent=True, rotate=frame.height > 6, width=width)
            out.append(figure_html(fig, title))
        return "".join(out)

    def _calls_table(self) -> str:
        calls = self.report.calls_with_mention
        if calls.height == 0:
            return "<h3>Calls that mention it</h3><p class='wb-muted'>None.</p>"
        head = "<tr><th>date</th><th>call</th><th>team</th><th>rep</th><th>mentions</th></tr>"
        rows = "".join(
            f"<tr><td>{r['started_at']:%Y-%m-%d}</td><td>{esc(r['title'] or r['call_id'])}</td><td>{esc(r['team'])}</td>"
            f"<td>{esc(r['rep'])}</td><td>{r['mentions']}</td></tr>" for r in calls.head(CALLS_LISTED).iter_rows(named=True))
        more = f"<p class='wb-muted'>and {calls.height - CALLS_LISTED:,} more.</p>" if calls.height > CALLS_LISTED else ""
        return f"<h3>Calls that mention it (most mentions first)</h3><table class='wb-table'>{head}{rows}</table>{more}"

    def show_call(self, call_id: str | None) -> None:
        """Show one call's mentions in context, or (None) the best-scored mentions across calls."""
        if call_id is None:
            items = self.report.in_context(self.ws, limit=MENTIONS_IN_CONTEXT)
        else:
            rows = self.report.mentions.filter(pl.col("call_id") == call_id).sort("start_s")
            ctx = with_context(self.ws.sentences, rows["sentence_id"].to_list())
            items = [{**r, "context_before": ctx[r["sentence_id"]][0], "context_after": ctx[r["sentence_id"]][1]}
                     for r in rows.iter_rows(named=True)]
        if not items:
            set_html(self.mentions, "<p class='wb-muted'>No mentions.</p>")
            return
        blocks = []
        for it in items:
            when = f"{it['started_at']:%Y-%m-%d}" if it.get("started_at") else ""
            body = "".join(speaker_line(c) for c in it["context_before"])
            body += speaker_line(it, target=True)
            body += "".join(speaker_line(c) for c in it["context_after"])
            blocks.append(f"<div class='wb-mention' style='margin-bottom:12px;border-left:3px solid #1f5fa8;"
                          f"padding-left:8px'><div class='wb-muted'>{esc(when)} · {esc(it.get('title') or it['call_id'])}"
                          f" · {esc(it.get('team'))} · {esc(it.get('rep'))} · at {esc(time_label(it.get('start_s')))}"
                          f"</div>{body}</div>")
        set_html(self.mentions, "".join(blocks))
