"""Small HTML and figure helpers shared by the screens.

Every string that comes from a transcript, a tracker or the user passes through `esc` before it
becomes HTML: a sentence reading "<script>" must show as text, in JupyterLab and in Voila.
Figures are rendered to PNG and inlined, so they show the same in a notebook, in Voila and in a
saved notebook, and no pyplot state (or open-figure leak) is left behind.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable

import ipywidgets as widgets
from matplotlib.figure import Figure

from workbench.core.figures import plain_text_figure

# One palette for the whole workbench: YES / NO / NOT SURE and the two sides of a call.
ANSWER_COLOURS = {"yes": "#1b7f3b", "no": "#b3261e", "not_sure": "#8a6d00", None: "#666"}
ANSWER_LABELS = {"yes": "YES", "no": "NO", "not_sure": "NOT SURE", None: "not tagged"}
SIDE_COLOURS = {"customer": "#1f5fa8", "company": "#5b5b5b"}
BAR_COLOUR = "#1f5fa8"

STYLE = """
<style>
.wb { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px; line-height: 1.45; }
.wb .wb-muted { color: #666; }
.wb .wb-description { color: #444; font-style: italic; margin: -6px 0 4px 0; }
.wb .wb-error { color: #b3261e; }
.wb .wb-warning { color: #8a6d00; }
.wb .wb-context { color: #444; }
.wb .wb-target { font-weight: 700; font-size: 16px; }
.wb .wb-speaker { color: #666; font-size: 12px; }
.wb table.wb-table { border-collapse: collapse; }
.wb table.wb-table td, .wb table.wb-table th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
.wb .wb-big { font-size: 28px; font-weight: 700; }
.wb .wb-card { display: inline-block; margin: 0 24px 12px 0; vertical-align: top; }
.wb .wb-truth { border-left: 3px solid #1b7f3b; padding-left: 8px; margin: 0 0 12px; }
.wb mark { background: #fff3b0; }
</style>
"""


def esc(value: Any) -> str:
    """HTML-escape anything shown: transcript text, names, values from the user's calls."""
    return html.escape("" if value is None else str(value), quote=True)


def tracker_title(tracker: Any) -> str:
    """A tracker's name as a heading, its description shown on hover and under it."""
    description = getattr(tracker, "description", "") or ""
    under = f"<div class='wb-description'>{esc(description)}</div>" if description else ""
    return f"<h2 title='{esc(description)}'>{esc(tracker.name)}</h2>{under}"


def html_block(body: str, **layout: Any) -> widgets.HTML:
    """An HTML widget carrying the workbench style; `body` must already be escaped."""
    return widgets.HTML(STYLE + f'<div class="wb">{body}</div>', layout=widgets.Layout(**layout))


def set_html(widget: widgets.HTML, body: str) -> None:
    widget.value = STYLE + f'<div class="wb">{body}</div>'


def new_figure(width: float = 6.0, height: float = 2.8) -> Figure:
    # A bare Figure (not pyplot): nothing global is touched, and it is garbage once rendered.
    # Plain text: a name like "Deals $5k_$10k" shows as typed, never as mathtext.
    return plain_text_figure(figsize=(width, height), dpi=100, layout="constrained")


def figure_html(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="wb-figure" alt="{esc(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def bar_figure(labels: Iterable[Any], values: Iterable[float], *, title: str, ylabel: str,
               percent: bool = False, rotate: bool = False, width: float = 6.0) -> Figure:
    labels = [str(x) if x is not None else "(none)" for x in labels]
    values = list(values)
    # Slanted labels once they would run into each other at about 7 characters per inch.
    rotate = rotate or sum(len(x) + 2 for x in labels) > width * 7
    fig = new_figure(width, 2.8)
    ax = fig.add_subplot()
    ax.bar(range(len(values)), values, color=BAR_COLOUR)
    ax.set_xticks(range(len(values)), labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(ylabel)
    if percent:
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def dropdown(options: list[tuple[str, Any]], **kwargs: Any) -> widgets.Dropdown:
    """A dropdown that opens on its first choice, even one whose value is None ("Choose a deal").

    Left to pick its default, ipywidgets sets the first label and a None value together, and,
    depending on the order its notifications fire (which follows the process's string hashing),
    the None value may clear the choice: the dropdown then shows blank in about 3 runs in 8."""
    return widgets.Dropdown(options=options, index=0 if options else None, **kwargs)


def speaker_line(row: dict, *, target: bool = False) -> str:
    """One sentence of a transcript with its speaker; the target sentence in bold."""
    side = row.get("side") or ""
    colour = SIDE_COLOURS.get(side, "#333")
    cls = "wb-target" if target else "wb-context"
    return (f'<div><span class="wb-speaker" style="color:{colour}">{esc(row.get("speaker"))} ({esc(side)})</span><br>'
            f'<span class="{cls}">{esc(row.get("text"))}</span></div>')



def time_label(start_s: float | None, estimated: bool = False) -> str:
    m, s = divmod(int(start_s or 0), 60)
    return f"{'~' if estimated else ''}{m}:{s:02d}"
