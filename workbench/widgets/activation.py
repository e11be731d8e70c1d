"""Activate a tracker from the performance overview: upcoming calls or a backfill of 1-12 months,
the plan before it runs, an optional stream made in the same step, and a warning when the
tracker looks weak.

Everything it does is the API's: ``tracker.backfill_plan``, ``tracker.activation_concerns``,
``tracker.activate`` and ``ws.create_stream`` (the CLI: ``workbench backfill`` and
``workbench streams create``). The first click on Activate shows the plan and any concerns; a
second click ("Activate anyway" when there are concerns) runs it.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.core.errors import WorkbenchError
from workbench.trackers.filters import parse_filters
from workbench.widgets._render import esc, html_block, set_html
from workbench.widgets._text import show

MONTH_CHOICES = [("Upcoming calls only", 0)] + [(f"Backfill {m} month{'s' if m > 1 else ''}", m)
                                                for m in range(1, 13)]


class ActivationPanel:
    """>>> ActivationPanel(tracker)   # choose, read the plan, activate"""

    def __init__(self, tracker: Any, *, estimate: Any = None, as_of: Any = None) -> None:
        self.tracker = tracker
        self.estimate = estimate  # the overview's, so the concerns need no second estimate
        self.as_of = as_of  # the day the months count back from (default today); tests and demos pin it
        self.months = widgets.Dropdown(options=MONTH_CHOICES, value=12, description="Apply to",
                                       layout=widgets.Layout(width="300px"))
        self.months.observe(lambda _: self._reset(), "value")
        self.with_stream = widgets.Checkbox(value=False, description="Also create a stream of the calls it finds")
        self.stream_name = widgets.Text(value=f"{tracker.name} mentions", description="Stream")
        self.stream_filters = widgets.Text(value="", placeholder="team=SMB,Enterprise; duration_s=60..",
                                           description="Filters")
        self.webhook = widgets.Text(value="", placeholder="https://hooks.example.com/…", description="Webhook")
        self.command = widgets.Text(value="", placeholder="notify-send 'new calls'", description="Command")
        self.stream_box = widgets.VBox([self.stream_name, self.stream_filters, self.webhook, self.command],
                                       layout=widgets.Layout(display="none"))
        self.with_stream.observe(lambda ch: setattr(self.stream_box.layout, "display", None if ch["new"] else "none"),
                                 "value")
        self.activate_button = widgets.Button(description="Activate", icon="play", button_style="success",
                                              layout=widgets.Layout(width="180px"))
        self.activate_button.on_click(lambda _: self.activate())
        self.plan_box = html_block("")
        self.status = html_block("")
        self.plan = None  # the BackfillPlan shown, once the first click has shown it
        self.concerns: list[str] = []
        self.widget = widgets.VBox([html_block("<h3>Activate</h3>"), self.months, self.with_stream, self.stream_box,
                                    self.plan_box, self.activate_button, self.status])

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def _reset(self) -> None:
        self.plan = None
        set_html(self.plan_box, "")
        self.activate_button.description = "Activate"

    def show_plan(self):
        """The plan for the months chosen and any concerns; the next click activates."""
        self.plan = self.tracker.backfill_plan(self.months.value, as_of=self.as_of)
        self.concerns = self.tracker.activation_concerns(self.estimate)
        warn = ("<div class='wb-warning'><b>Before you activate it:</b><ul>"
                + "".join(f"<li>{esc(c)}</li>" for c in self.concerns) + "</ul>You can go on anyway.</div>"
                if self.concerns else "")
        set_html(self.plan_box, f"<p>{esc(str(self.plan))}</p>{warn}")
        self.activate_button.description = "Activate anyway" if self.concerns else "Confirm and activate"
        return self.plan

    def activate(self):
        """First click: show the plan. Second click: activate, then create the stream if asked."""
        if self.plan is None or self.plan.months != self.months.value:
            return self.show_plan()
        self.activate_button.disabled = True
        set_html(self.status, "<p class='wb-muted'>Activating…</p>")
        try:
            self.tracker.activate(self.months.value, as_of=self.as_of, progress=False, verbose=False)
            stream = self._create_stream() if self.with_stream.value else None
        except WorkbenchError as err:  # a bad stream setting: the tracker is active, the stream is not
            set_html(self.status, f"<p class='wb-error'>{esc(err)}</p>")
            return None
        finally:
            self.activate_button.disabled = False
        live = self.tracker.results()
        found = int((live.calls["mentions"] > 0).sum()) if live.calls.height else 0
        made = f" Stream '{esc(stream.name)}' created." if stream is not None else ""
        set_html(self.status, f"<p>'{esc(self.tracker.name)}' is active with version {live.version}: "
                              f"{live.detections.height:,} mentions in {found:,} of {live.calls.height:,} calls. "
                              f"New calls are scored on import.{made}</p>")
        self._reset()
        return live

    def _create_stream(self):
        ws = self.tracker.ws
        filters = parse_filters([f for f in self.stream_filters.value.split(";") if f.strip()], dict(ws.calls.schema))
        return ws.create_stream(self.stream_name.value, trackers=[self.tracker.name], filters=filters,
                                webhook=self.webhook.value.strip() or None, command=self.command.value.strip() or None)
