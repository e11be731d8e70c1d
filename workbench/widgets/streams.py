"""Streams from a dashboard: list them with how their notifications went, create, pause,
resume and delete one.

Every button calls the API (``ws.create_stream``, ``stream.pause`` / ``resume`` / ``delete``;
the CLI: ``workbench streams``). Failed deliveries are shown with the last error, never hidden.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.core.errors import WorkbenchError
from workbench.trackers.filters import parse_filters
from workbench.widgets._render import esc, html_block, set_html
from workbench.widgets._text import show


class StreamsPanel:
    """>>> StreamsPanel(ws)"""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.table = html_block("")
        self.chosen = widgets.Dropdown(options=[], description="Stream", layout=widgets.Layout(width="360px"))
        self.pause_button = widgets.Button(description="Pause", icon="pause", layout=widgets.Layout(width="100px"))
        self.resume_button = widgets.Button(description="Resume", icon="play", layout=widgets.Layout(width="100px"))
        self.delete_button = widgets.Button(description="Delete", icon="trash", button_style="danger",
                                            layout=widgets.Layout(width="100px"))
        self.pause_button.on_click(lambda _: self.pause())
        self.resume_button.on_click(lambda _: self.resume())
        self.delete_button.on_click(lambda _: self.delete())
        active = [t.name for t in ws.active_trackers()]
        self.name = widgets.Text(description="Name", placeholder="Discount asks in SMB")
        self.trackers = widgets.SelectMultiple(options=active, value=tuple(active[:1]), description="Trackers",
                                               rows=min(5, max(2, len(active))))
        self.filters = widgets.Text(description="Filters", placeholder="team=SMB; duration_s=60..")
        self.webhook = widgets.Text(description="Webhook", placeholder="https://hooks.example.com/…")
        self.command = widgets.Text(description="Command", placeholder="notify-send 'new calls'")
        self.create_button = widgets.Button(description="Create stream", icon="plus", button_style="primary",
                                            layout=widgets.Layout(width="160px"))
        self.create_button.on_click(lambda _: self.create())
        self.status = html_block("")
        self.widget = widgets.VBox([
            html_block("<h3>Streams</h3>"), self.table,
            widgets.HBox([self.chosen, self.pause_button, self.resume_button, self.delete_button]),
            html_block("<h4>New stream</h4>"), self.name, self.trackers, self.filters, self.webhook, self.command,
            self.create_button, self.status])
        self.refresh()

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def refresh(self) -> None:
        table = self.ws.services.streams.status()
        self.chosen.options = table["stream"].to_list()
        if table.height == 0:
            set_html(self.table, "<p class='wb-muted'>No streams yet.</p>")
            return
        head = ("<tr><th>stream</th><th>sends to</th><th>state</th><th>pending</th><th>sent</th><th>failed</th>"
                "<th>last error</th></tr>")
        rows = "".join(
            f"<tr><td>{esc(r['stream'])}</td><td>{esc(r['target'])}</td><td>{'paused' if r['paused'] else 'on'}</td>"
            f"<td>{r['pending']}</td><td>{r['sent']}</td>"
            f"<td class='{'wb-error' if r['failed'] else ''}'>{r['failed']}</td><td>{esc(r['last_error'] or '')}</td>"
            "</tr>" for r in table.iter_rows(named=True))
        set_html(self.table, f"<table class='wb-table'>{head}{rows}</table>")

    def _act(self, action: str) -> None:
        if self.chosen.value is None:
            set_html(self.status, "<p class='wb-warning'>Choose a stream first.</p>")
            return
        stream = self.ws.stream(self.chosen.value)
        getattr(stream, action)()
        set_html(self.status, f"<p>Stream '{esc(stream.name)}': {action}d.</p>")
        self.refresh()

    def pause(self) -> None:
        self._act("pause")

    def resume(self) -> None:
        self._act("resume")

    def delete(self) -> None:
        self._act("delete")

    def create(self):
        """Create a stream from the form; a bad setting is shown, nothing is stored."""
        try:
            filters = parse_filters([f for f in self.filters.value.split(";") if f.strip()],
                                    dict(self.ws.calls.schema))
            stream = self.ws.create_stream(self.name.value, trackers=list(self.trackers.value) or None,
                                           filters=filters, webhook=self.webhook.value.strip() or None,
                                           command=self.command.value.strip() or None)
        except WorkbenchError as err:
            set_html(self.status, f"<p class='wb-error'>{esc(err)}</p>")
            return None
        set_html(self.status, f"<p>Created stream '{esc(stream.name)}': {stream.matches().height:,} calls match "
                              "now, its starting point.</p>")
        self.refresh()
        self.chosen.value = stream.name  # ready for Pause or Delete (the first one was left unchosen)
        return stream
