"""Matplotlib figures that show every string as typed.

Team, rep and tracker names come from the user's data, and matplotlib reads any text holding two
`$` as mathtext: "Deals $5k_$10k" raises a ValueError when the figure is drawn (or, worse, shows
as subscripts). The workbench draws no formula anywhere, so its figures turn mathtext off for
every text they hold, including tick labels and legends created while drawing.
"""
from __future__ import annotations

from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

PLAIN_TEXT_RC = {"text.parse_math": False, "text.usetex": False}


class PlainTextFigure(Figure):
    """A bare Figure (no pyplot, no backend state) whose texts are never parsed as mathtext.

    Texts capture `text.parse_math` when they are created, and tick labels are created while the
    figure is drawn: so each draw switches every existing text to plain and draws under an rc
    context that makes the new ones plain too. This covers savefig, Jupyter's inline display and
    MLflow's logged figures alike.
    """

    def draw(self, renderer: Any) -> None:
        with matplotlib.rc_context(PLAIN_TEXT_RC):
            for text in self.findobj(Text):
                text.set_parse_math(False)
            super().draw(renderer)


def plain_text_figure(**kwargs: Any) -> PlainTextFigure:
    """The figure every workbench plot is built on; keyword arguments as for matplotlib's Figure."""
    return PlainTextFigure(**kwargs)


def slant_long_axis(ax: Any, n_labels: int, limit: int = 6) -> None:
    """Slant the x tick labels when there are more than ``limit``, so long names do not overlap."""
    if n_labels > limit:
        for label in ax.get_xticklabels():
            label.set_rotation(45)
            label.set_ha("right")
