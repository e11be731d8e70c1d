"""Names and text from the user's data show as typed on every screen: `$`, `_`, `^` and braces
are never read as mathtext (which raised a ValueError, and Voila then showed only an error), and
HTML stays escaped."""
from __future__ import annotations

import datetime as dt
import html
import io
import warnings

import polars as pl

from tests.conftest import tiny_corpus
from tests.demo_workspace import END_DATE
from workbench import Workspace
from workbench.widgets import CorpusOverview, TrackerResults
from workbench.widgets._render import bar_figure

# Two `$` make matplotlib read the text as mathtext; "_$" then fails to parse.
HOSTILE_TEAM = "Deals $5k_$10k"
HOSTILE_REP = "Rep ${x^2}$ <b>&"
_END = dt.datetime.combine(END_DATE, dt.time(15), tzinfo=dt.timezone.utc)


def _with_hostile_names(calls: pl.DataFrame) -> pl.DataFrame:
    return calls.with_columns(pl.lit(HOSTILE_TEAM).alias("team"), pl.lit(HOSTILE_REP).alias("rep"))


def _drawn_tick_labels(fig) -> list[str]:
    fig.savefig(io.BytesIO(), format="png")  # raised "ValueError: ... 5k_ ^" before the fix
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def test_bar_figures_draw_dollars_underscores_carets_and_braces_as_typed():
    labels = [HOSTILE_TEAM, HOSTILE_REP, "a_{b}^c", "$$"]
    fig = bar_figure(labels, [1, 2, 3, 4], title=f"Per team: {HOSTILE_TEAM}", ylabel="$share$")
    assert _drawn_tick_labels(fig) == labels
    assert fig.axes[0].get_title() == f"Per team: {HOSTILE_TEAM}"
    # Every text of the drawn figure, tick labels made while drawing included, is plain.
    assert not [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_parse_math")) if t.get_parse_math()]


def test_corpus_overview_with_a_dollar_team_and_rep(tmp_path):
    calls, utts = tiny_corpus(6)
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(_with_hostile_names(calls), utts, embed=False, progress=False)
    view = CorpusOverview(ws)
    assert view.figures.value.count("<img") == 4
    assert "<th>Calls</th><td>6</td>" in view.summary.value


def test_results_screen_with_a_dollar_team_and_rep(demo_ws):
    tracker = demo_ws.tracker("Asking for a discount")
    calls, utts = tiny_corpus(3, start=900)  # the customer asks "Can you do a better price?" in each
    calls = calls.with_columns(pl.Series("started_at", [_END - dt.timedelta(days=10 + i) for i in range(3)],
                                         dtype=pl.Datetime("us", "UTC")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        demo_ws.import_calls(_with_hostile_names(calls), utts, progress=False)
    view = TrackerResults(tracker)
    assert HOSTILE_TEAM in view.report.by_team["team"].to_list()
    assert HOSTILE_REP in view.report.by_rep["rep"].to_list()
    assert view.figures.value.count("<img") == 3
    # The calls table lists them first (their calls carry the most mentions), escaped, never as markup.
    assert html.escape(HOSTILE_REP) in view.calls_table.value and HOSTILE_REP not in view.calls_table.value


def test_team_stats_plot_with_a_dollar_team():
    from workbench.results.stats import TeamStats, breakdown, overall

    per_call = pl.DataFrame({"call_id": ["a", "b"], "mentions": [1, 0], "team": [HOSTILE_TEAM, "a_{b}^c"],
                             "rep": [HOSTILE_REP, "r"]}).with_columns(
        pl.lit("2026-01-05").str.to_datetime("%Y-%m-%d").alias("started_at"))
    stats = TeamStats(tracker="Deals $5k_$10k tracker", version=1, by_team=breakdown(per_call, "team"),
                      by_rep=breakdown(per_call, "rep"), by_month=breakdown(per_call, "month"), overall=overall(per_call))
    for by, typed in (("team", [HOSTILE_TEAM, "a_{b}^c"]), ("rep", [HOSTILE_REP, "r"])):
        fig = stats.plot(by)
        fig.savefig(io.BytesIO(), format="png")
        assert sorted(t.get_text() for t in fig.axes[1].get_xticklabels()) == sorted(typed)
        assert fig.get_suptitle().startswith("Deals $5k_$10k tracker")
