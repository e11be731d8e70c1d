"""Mention statistics per team, rep and month: one definition for the dashboard and the API.

``per_call`` holds one row per call the tracker looked in, with its ``mentions`` (0 included)
and the call's ``team``, ``rep`` and ``started_at``. A share is "calls that mention it / calls it
was looked for in", never out of calls the tracker cannot see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.activation.context import LiveContext
from workbench.core.errors import ValidationError
from workbench.results.search import select_calls
from workbench.trackers.records import TrackerRecord

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BREAKDOWNS: dict[str, pl.Expr] = {
    "team": pl.col("team"),
    "rep": pl.col("rep"),
    "month": pl.col("started_at").dt.strftime("%Y-%m"),
}


def breakdown(per_call: pl.DataFrame, by: str) -> pl.DataFrame:
    """by, calls, calls_with_mention, mentions, share, mentions_per_call; one row per value of ``by``."""
    return (per_call.group_by(BREAKDOWNS[by].alias(by))
            .agg(pl.len().alias("calls"), (pl.col("mentions") > 0).sum().alias("calls_with_mention"),
                 pl.col("mentions").sum().alias("mentions"))
            .with_columns((pl.col("calls_with_mention") / pl.col("calls")).alias("share"),
                          (pl.col("mentions") / pl.col("calls")).alias("mentions_per_call"))
            .sort(by, nulls_last=True))


def overall(per_call: pl.DataFrame) -> dict:
    """The same figures over all the calls."""
    n = per_call.height
    k = int((per_call["mentions"] > 0).sum()) if n else 0
    m = int(per_call["mentions"].sum()) if n else 0
    return {"calls": n, "calls_with_mention": k, "mentions": m, "share": k / n if n else 0.0,
            "mentions_per_call": m / n if n else 0.0}


@dataclass
class TeamStats:
    """Mention rate of one tracker per team, rep and month.

    ``share`` is the share of calls looked in (in the tracker's scope) with at least one mention;
    ``mentions_per_call`` the mentions over those same calls.
    """

    tracker: str
    version: int | None
    by_team: pl.DataFrame
    by_rep: pl.DataFrame
    by_month: pl.DataFrame
    overall: dict

    def table(self, by: str) -> pl.DataFrame:
        tables = {"team": self.by_team, "rep": self.by_rep, "month": self.by_month}
        if by not in tables:
            raise ValidationError("by", f"{by!r} is not one of team, rep, month", "Use by='team', 'rep' or 'month'.")
        return tables[by]

    def plot(self, by: str = "team") -> "Figure":
        """Two panels: share of calls with a mention, and mentions per call."""
        # Team and rep names are the user's data: plain text, never mathtext.
        from workbench.core.figures import plain_text_figure, slant_long_axis

        frame = self.table(by)
        labels = [str(x) for x in frame[by].to_list()]
        fig = plain_text_figure(figsize=(max(6, 0.45 * len(labels) + 3), 5.5), layout="constrained")
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        ax1.bar(labels, frame["share"].to_list(), color="#3b7dd8")
        ax1.set_ylabel("calls with a mention")
        ax1.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax1.axhline(self.overall["share"], color="#888", linestyle="--", linewidth=1, label="all calls")
        ax1.legend(loc="upper right", fontsize=8)
        ax2.bar(labels, frame["mentions_per_call"].to_list(), color="#e08a2c")
        ax2.set_ylabel("mentions per call")
        ax2.set_xlabel(by)
        slant_long_axis(ax2, len(labels))
        version = f" (version {self.version})" if self.version is not None else ""
        fig.suptitle(f"{self.tracker}{version}: mentions per {by}")
        return fig

    def figures(self) -> dict[str, "Figure"]:
        return {by: self.plot(by) for by in ("team", "rep", "month")}

    def __str__(self) -> str:
        o = self.overall
        lines = [f"'{self.tracker}': {o['calls_with_mention']:,} of {o['calls']:,} calls ({o['share']:.0%}), "
                 f"{o['mentions_per_call']:.2f} mentions per call"]
        for r in self.by_team.iter_rows(named=True):
            lines.append(f"  {str(r['team']):<16} {r['calls_with_mention']:>6,} / {r['calls']:<6,} {r['share']:>5.0%}"
                         f"  {r['mentions_per_call']:.2f}/call")
        return "\n".join(lines)


def team_stats(ctx: LiveContext, record: TrackerRecord, *, filters: dict | None = None, date_from: Any = None,
               date_to: Any = None) -> TeamStats:
    """Mention rate of an activated tracker per team, rep and month (optionally for some calls only)."""
    live = ctx.live_results(record)
    calls = select_calls(ctx, filters=filters, date_from=date_from, date_to=date_to)
    per_call = live.calls.select("call_id", "mentions").join(calls.select("call_id", "team", "rep", "started_at"),
                                                              on="call_id", how="inner")
    return TeamStats(tracker=record.name, version=live.version, by_team=breakdown(per_call, "team"),
                     by_rep=breakdown(per_call, "rep"), by_month=breakdown(per_call, "month"), overall=overall(per_call))
