"""Notebook 7's screen (a Voila dashboard for sales leaders): several trackers side by side over
time, per team and rep, as the share of calls that mention each; and, when calls carry a
deal_id, one deal's mentions across its calls in time order.

The numbers come from ``ws.initiative_board`` and ``ws.deal_activity``
(workbench.results.initiative); this module only draws them.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.widgets._render import dropdown, esc, figure_html, html_block, set_html
from workbench.widgets._text import show

DEALS_LISTED = 200


class InitiativeBoardView:
    """>>> InitiativeBoardView(ws)                       # every activated tracker
    >>> InitiativeBoardView(ws, ["Discovery question", "Next steps agreed"])"""

    def __init__(self, ws: Any, trackers: Any = None, *, by: str = "month") -> None:
        self.ws = ws
        active = [t.name for t in ws.active_trackers()]
        chosen = [getattr(t, "name", t) for t in trackers] if trackers is not None else active
        self.trackers = widgets.SelectMultiple(options=active, value=tuple(n for n in chosen if n in active),
                                               description="Trackers", rows=min(6, max(2, len(active))),
                                               layout=widgets.Layout(width="460px"))
        self.by = widgets.ToggleButtons(options=[("Per month", "month"), ("Per team", "team"), ("Per rep", "rep")],
                                        value=by)
        self.figure = html_block("")
        self.table = html_block("")
        self.trackers.observe(lambda _: self.render(), "value")
        self.by.observe(lambda _: self.render(), "value")
        deals = ws.services.results.deal_ids()[:DEALS_LISTED]
        self.deal = dropdown([("Choose a deal", None), *[(d, d) for d in deals]], description="Deal",
                             layout=widgets.Layout(width="460px", display=None if deals else "none"))
        self.deal.observe(lambda ch: self.show_deal(ch["new"]), "value")
        self.deal_view = html_block("" if deals else "<p class='wb-muted'>The calls carry no deal_id: import one "
                                                     "with the calls to follow deals here.</p>")
        self.board = None
        self.widget = widgets.VBox([self.trackers, self.by, self.figure,
                                    self.table, html_block("<h3>Deal activity</h3>"), self.deal, self.deal_view])
        self.render()

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def render(self) -> None:
        names = list(self.trackers.value)
        if not names:
            set_html(self.figure, "<p class='wb-muted'>Choose one or more activated trackers.</p>")
            set_html(self.table, "")
            return
        self.board = self.ws.initiative_board(names)
        by = self.by.value
        set_html(self.figure, figure_html(self.board.plot(by), f"Share of calls that mention each tracker, per {by}"))
        wide = self.board.wide(by)
        head = "".join(f"<th title='{esc(self.board.descriptions.get(c, ''))}'>{esc(c)}</th>" for c in wide.columns)
        rows = "".join("<tr>" + "".join(
            f"<td>{esc(v) if i == 0 else ('–' if v is None else f'{v:.0%}')}</td>" for i, v in enumerate(row))
            + "</tr>" for row in wide.iter_rows())
        set_html(self.table, f"<table class='wb-table'><tr>{head}</tr>{rows}</table>")

    def show_deal(self, deal_id: str | None):
        """The deal's calls in time order and every mention of the chosen trackers in them."""
        if deal_id is None:
            set_html(self.deal_view, "")
            return None
        activity = self.ws.deal_activity(deal_id, list(self.trackers.value) or None)
        calls = "".join(
            f"<li><b>{r['started_at']:%Y-%m-%d}</b> {esc(r['title'] or r['call_id'])} ({esc(r['rep'])})</li>"
            for r in activity.calls.iter_rows(named=True))
        mentions = "".join(
            f"<li class='wb-mention'>{r['started_at']:%Y-%m-%d} <b>[{esc(r['tracker'])}]</b> "
            f"{esc(r['speaker'])}: {esc(r['text'])}</li>" for r in activity.mentions.iter_rows(named=True))
        set_html(self.deal_view, f"<p>{activity.calls.height} calls, {activity.mentions.height} mentions</p>"
                                 f"<ol>{calls}</ol><h4>Mentions in time order</h4>"
                                 f"<ul>{mentions or '<li class=wb-muted>None.</li>'}</ul>")
        return activity
