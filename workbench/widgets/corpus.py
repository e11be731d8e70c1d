"""Notebook 1's screen: what is in the workspace, with a progress bar while importing and embedding."""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.results.reports import sentences_per_call
from workbench.widgets._render import (
    bar_figure,
    esc,
    figure_html,
    html_block,
    new_figure,
    set_html,
    BAR_COLOUR,
)
from workbench.widgets._text import show


class CorpusOverview:
    """Calls per month, per team, sides of the call and sentence counts, from ``ws.info()``.

    >>> overview = CorpusOverview(ws)
    >>> overview.import_calls("calls.parquet", "utterances.parquet")
    >>> overview.embed()
    >>> overview          # shows the summary and the figures
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.summary = html_block("")
        # tqdm.auto draws its bar as a widget inside this area while import or embedding runs.
        self.progress = widgets.Output()
        self.figures = html_block("")
        self.widget = widgets.VBox([self.summary, self.progress, self.figures])
        self.info = None
        self.refresh()

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def import_calls(self, calls: Any, utterances: Any, **kwargs: Any):
        """Import calls (see Workspace.import_calls) and redraw; returns the ImportResult."""
        self.progress.clear_output()
        with self.progress:
            result = self.ws.import_calls(calls, utterances, **kwargs)
            print(result)
        self.refresh()
        return result

    def embed(self) -> int:
        """Embed every sentence not embedded yet (cached), showing progress; returns how many were new."""
        with self.progress:
            n = self.ws.embed(progress=True)
            print(f"Embedded {n:,} new sentences." if n else "Every sentence is embedded already.")
        self.refresh()
        return n

    def refresh(self) -> None:
        info = self.info = self.ws.info()
        if not info.calls:
            set_html(self.summary, f"<p>The workspace <code>{esc(info.path)}</code> is empty. Import calls "
                                   "with <code>overview.import_calls(calls, utterances)</code> or run "
                                   "<code>workbench demo</code>.</p>")
            set_html(self.figures, "")
            return
        total_t = info.timings_measured + info.timings_estimated
        estimated = f"{info.timings_estimated / total_t:.0%}" if total_t else "0%"
        rows = [
            ("Calls", f"{info.calls:,}", f"{info.first_call:%Y-%m-%d} to {info.last_call:%Y-%m-%d}"),
            ("Utterances", f"{info.utterances:,}", f"timings estimated from word counts for {estimated}"),
            ("Sentences", f"{info.sentences:,}", ""),
            ("Embedded", f"{info.embedded_sentences:,}",
             f"{info.embedded_share:.0%} of sentences" + (f", model {esc(info.model_id)}" if info.model_id else "")),
            ("Trackers", f"{info.trackers:,}", ""),
        ]
        table = "".join(f"<tr><th>{a}</th><td>{b}</td><td class='wb-muted'>{c}</td></tr>" for a, b, c in rows)
        set_html(self.summary, f"<h3>Workspace <code>{esc(info.path)}</code></h3><table class='wb-table'>{table}</table>")
        set_html(self.figures, "".join(self._figures()))

    def _figures(self) -> list[str]:
        info = self.info
        month = info.calls_per_month
        out = [figure_html(bar_figure(month["month"], month["calls"], title="Calls per month", ylabel="calls",
                                      rotate=month.height > 6, width=7), "Calls per month")]
        out.append(figure_html(bar_figure(info.teams["team"], info.teams["calls"], title="Calls per team",
                                          ylabel="calls", width=4), "Calls per team"))
        out.append(figure_html(bar_figure(info.sides["side"], info.sides["utterances"], title="Utterances per side",
                                          ylabel="utterances", width=4), "Utterances per side"))
        counts = sentences_per_call(self.ws)["sentences"].to_numpy()
        fig = new_figure(5, 2.8)
        ax = fig.add_subplot()
        ax.hist(counts, bins=min(30, max(5, len(set(counts.tolist())))), color=BAR_COLOUR)
        ax.set_title(f"Sentences per call (median {int(sorted(counts)[len(counts) // 2])})", fontsize=11)
        ax.set_xlabel("sentences")
        ax.set_ylabel("calls")
        ax.spines[["top", "right"]].set_visible(False)
        out.append(figure_html(fig, "Sentences per call"))
        return out
