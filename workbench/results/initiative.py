"""Initiative boards and deal activity: several live trackers side by side.

An initiative board is the view a sales leader follows an initiative with ("are reps asking the
discovery questions we trained?"): for each activated tracker, the share of calls that mention
it, per month, team and rep. The figures are the team statistics of each tracker
(workbench.results.stats), so a board and a tracker's own dashboard never disagree.

Deal activity follows one deal when calls carry a ``deal_id`` (an optional import column): the
deal's calls in time order, and each tracker's mentions in them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.activation.context import LiveContext
from workbench.core.errors import NotFoundError, ValidationError
from workbench.results.stats import BREAKDOWNS, team_stats
from workbench.trackers.records import TrackerRecord

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEAL_COLUMN = "deal_id"


@dataclass
class InitiativeBoard:
    """The share of calls that mention each tracker, per month, team and rep (long tables:
    tracker, the breakdown's value, calls, calls_with_mention, mentions, share)."""

    trackers: list[str]
    descriptions: dict[str, str]
    by_month: pl.DataFrame
    by_team: pl.DataFrame
    by_rep: pl.DataFrame

    def table(self, by: str = "month") -> pl.DataFrame:
        if by not in BREAKDOWNS:
            raise ValidationError("by", f"{by!r} is not one of team, rep, month", "Use by='month', 'team' or 'rep'.")
        return {"month": self.by_month, "team": self.by_team, "rep": self.by_rep}[by]

    def wide(self, by: str = "month") -> pl.DataFrame:
        """One row per value of ``by``, one column per tracker: the share of calls that mention it."""
        frame = self.table(by)
        if frame.height == 0:
            return pl.DataFrame({by: []})
        return (frame.pivot(on="tracker", index=by, values="share", aggregate_function="first")
                .select(by, *[t for t in self.trackers if t in frame["tracker"].unique().to_list()]).sort(by))

    def plot(self, by: str = "month") -> "Figure":
        """Lines over months, grouped bars per team or rep; names drawn as typed (no mathtext)."""
        from workbench.core.figures import plain_text_figure, slant_long_axis

        wide = self.wide(by)
        labels = [str(x) for x in wide[by].to_list()]
        fig = plain_text_figure(figsize=(max(6.5, 0.5 * len(labels) + 3), 3.6), layout="constrained")
        ax = fig.subplots()
        names = [c for c in wide.columns if c != by]
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            values = [v if v is not None else float("nan") for v in wide[name].to_list()]
            if by == "month":
                ax.plot(labels, values, marker="o", label=name)
            else:
                ax.bar([x + i * width - 0.4 + width / 2 for x in range(len(labels))], values, width=width, label=name)
        if by != "month":
            ax.set_xticks(range(len(labels)), labels)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_ylabel("share of calls that mention it")
        ax.set_xlabel(by)
        slant_long_axis(ax, len(labels))
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"Share of calls that mention each tracker, per {by}")
        return fig

    def text(self, by: str = "month") -> str:
        """The board as lines of text: one per month (or team, rep), each tracker's share in it."""
        wide = self.wide(by)
        lines = [f"Initiative board: {', '.join(self.trackers)} (share of calls that mention each, per {by})"]
        for row in wide.iter_rows(named=True):
            lines.append(f"  {row[by]}  " + "  ".join(
                f"{name}: {'-' if row[name] is None else format(row[name], '.0%')}" for name in wide.columns[1:]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text("month")


def initiative_board(ctx: LiveContext, records: list[TrackerRecord], **selection: Any) -> InitiativeBoard:
    """The board of ``records`` (activated trackers), optionally for some calls only (``filters``,
    ``date_from``, ``date_to``, as in ``ws.team_stats``)."""
    if not records:
        raise ValidationError("trackers", "an initiative board needs at least one activated tracker",
                              "Activate trackers first (t.activate()), then name them or pass none for all.")
    tables: dict[str, list[pl.DataFrame]] = {by: [] for by in BREAKDOWNS}
    for record in records:
        stats = team_stats(ctx, record, **selection)
        for by in BREAKDOWNS:
            tables[by].append(stats.table(by).with_columns(pl.lit(record.name).alias("tracker")))
    frames = {by: pl.concat(parts).select("tracker", by, "calls", "calls_with_mention", "mentions", "share")
              for by, parts in tables.items()}
    return InitiativeBoard(trackers=[r.name for r in records],
                           descriptions={r.name: r.definition.description for r in records},
                           by_month=frames["month"], by_team=frames["team"], by_rep=frames["rep"])


@dataclass
class DealActivity:
    """One deal's calls in time order (with each tracker's mentions per call) and the mentions."""

    deal_id: str
    calls: pl.DataFrame  # call_id, started_at, title, team, rep, one column of mentions per tracker
    mentions: pl.DataFrame  # started_at, call_id, tracker, speaker, side, start_s, text, score

    def __str__(self) -> str:
        lines = [f"Deal {self.deal_id}: {self.calls.height} calls, {self.mentions.height} mentions"]
        for r in self.mentions.iter_rows(named=True):
            lines.append(f"  {r['started_at']:%Y-%m-%d} {r['call_id']} [{r['tracker']}] {r['speaker']}: {r['text']}")
        return "\n".join(lines)


def deal_ids(ctx: LiveContext) -> list[str]:
    """The deals the calls carry, most calls first; [] when calls have no deal_id column."""
    calls = ctx.calls
    if DEAL_COLUMN not in calls.columns:
        return []
    counts = calls.drop_nulls(DEAL_COLUMN).group_by(DEAL_COLUMN).len().sort(["len", DEAL_COLUMN],
                                                                             descending=[True, False])
    return [str(x) for x in counts[DEAL_COLUMN].to_list()]


def deal_activity(ctx: LiveContext, records: list[TrackerRecord], deal_id: str) -> DealActivity:
    """The mentions of ``records`` (activated trackers) across the calls of one deal, in time order."""
    if not records:
        raise ValidationError("trackers", "deal activity needs at least one activated tracker",
                              "Activate trackers first (t.activate()), then name them or pass none for all.")
    calls = ctx.calls
    if DEAL_COLUMN not in calls.columns:
        raise ValidationError(DEAL_COLUMN, "the calls carry no deal id",
                              "Import calls with an optional 'deal_id' column to follow deals.")
    deal_calls = calls.filter(pl.col(DEAL_COLUMN).cast(pl.String) == str(deal_id)).sort("started_at")
    if deal_calls.height == 0:
        raise NotFoundError(f"No call carries deal_id {deal_id!r}.")
    keep = deal_calls.select("call_id", "started_at", "title", "team", "rep")
    found = []
    for record in records:
        live = ctx.live_results(record)
        per_call = live.calls.select("call_id", pl.col("mentions").alias(record.name))
        keep = keep.join(per_call, on="call_id", how="left")
        found.append(live.detections.join(deal_calls.select("call_id", "started_at"), on="call_id", how="inner")
                     .select("started_at", "call_id", pl.lit(record.name).alias("tracker"), "speaker", "side",
                             "start_s", "text", "score"))
    return DealActivity(deal_id=str(deal_id), calls=keep.sort("started_at"),
                        mentions=pl.concat(found).sort(["started_at", "start_s"]))
