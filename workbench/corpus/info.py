"""What an import did and what a workspace holds: the printable records of ``ws.import_calls``
and ``ws.info()``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from workbench.corpus.sample import TaggingSample


BACKEND_NAMES = {"onnx": "ONNX Runtime", "torch": "torch"}


@dataclass
class ImportResult:
    imported_calls: int
    imported_utterances: int
    imported_sentences: int
    skipped_call_ids: list[str] = field(default_factory=list)
    replaced_call_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    embedded: int = 0
    scored: dict[str, int] = field(default_factory=dict)
    new_call_ids: list[str] = field(default_factory=list)  # the calls this import added (replaced ones too)

    def __str__(self) -> str:
        lines = [
            f"Imported {self.imported_calls:,} calls, {self.imported_utterances:,} utterances, "
            f"{self.imported_sentences:,} sentences."
        ]
        if self.replaced_call_ids:
            lines.append(f"Replaced {len(self.replaced_call_ids):,} calls.")
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class WorkspaceInfo:
    path: Path
    calls: int
    utterances: int
    sentences: int
    embedded_sentences: int
    model_id: str | None
    calls_per_month: pl.DataFrame
    sides: pl.DataFrame
    channels: pl.DataFrame
    teams: pl.DataFrame
    timings_measured: int
    timings_estimated: int
    trackers: int
    first_call: Any = None
    last_call: Any = None
    sample: TaggingSample | None = None  # the tagging sample (workbench.corpus.sample); None: every call
    embedding_backend: str | None = None  # what runs the embedding model: torch or onnx (workbench.embedding.backend)

    def sample_line(self) -> str:
        """How many calls trackers are tagged on, and how they were drawn."""
        s = self.sample
        if s is None:
            return "every call (no tagging sample)"
        if s.is_everything:
            return f"every call ({s.corpus_calls:,}; sample size {s.size:,} is not smaller, seed {s.seed})"
        return (f"{s.calls:,} of {s.corpus_calls:,} calls (stratified by month and team, seed {s.seed}; "
                "activation applies trackers to every call)")

    @property
    def embedded_share(self) -> float:
        return self.embedded_sentences / self.sentences if self.sentences else 0.0

    def __str__(self) -> str:
        out = [f"Workspace {self.path}"]
        if not self.calls:
            out.append("  empty: import calls with `workbench import` or run `workbench demo`")
            return "\n".join(out)
        out += [
            f"  calls        {self.calls:>10,}   ({self.first_call:%Y-%m-%d} to {self.last_call:%Y-%m-%d})",
            f"  utterances   {self.utterances:>10,}",
            f"  sentences    {self.sentences:>10,}",
            f"  embedded     {self.embedded_sentences:>10,}   ({self.embedded_share:.0%}"
            + (f", model {self.model_id})" if self.model_id else ")"),
            *([f"  embeds with  {BACKEND_NAMES.get(self.embedding_backend, self.embedding_backend)} (this workspace's "
               "setting: `workbench embedding-backend`)"] if self.embedding_backend else []),
            f"  trackers     {self.trackers:>10,}",
            f"  tagged on    {self.sample_line()}",
        ]
        total_t = self.timings_measured + self.timings_estimated
        if total_t:
            out.append(
                f"  timings      {self.timings_measured:>10,} utterances measured, "
                f"{self.timings_estimated:,} estimated from word counts "
                f"({self.timings_estimated / total_t:.0%} estimated)"
            )
        out.append("  sides        " + ", ".join(f"{r['side']} {r['utterances']:,}" for r in self.sides.iter_rows(named=True)))
        out.append("  channels     " + ", ".join(f"{r['channel']} {r['calls']:,}" for r in self.channels.iter_rows(named=True)))
        out.append("  teams        " + ", ".join(f"{r['team']} {r['calls']:,}" for r in self.teams.iter_rows(named=True)))
        out.append("  calls per month")
        peak = max(self.calls_per_month["calls"].max() or 1, 1)
        for r in self.calls_per_month.iter_rows(named=True):
            bar = "#" * max(1, round(30 * r["calls"] / peak))
            out.append(f"    {r['month']}  {r['calls']:>7,}  {bar}")
        return "\n".join(out)


def workspace_info(path: Path, calls: pl.DataFrame, utts: pl.DataFrame, sents: pl.DataFrame, *, embedded: int,
                   model_id: str | None, trackers: int, sample: TaggingSample | None = None,
                   embedding_backend: str | None = None) -> WorkspaceInfo:
    """Counts, sides, channels, teams and calls per month of a workspace's tables."""
    by_month = (
        calls.group_by(pl.col("started_at").dt.strftime("%Y-%m").alias("month"))
        .agg(pl.len().alias("calls"))
        .sort("month")
    )
    estimated = int(utts["timing_estimated"].sum()) if utts.height else 0
    return WorkspaceInfo(
        path=path,
        calls=calls.height,
        utterances=utts.height,
        sentences=sents.height,
        embedded_sentences=embedded,
        model_id=model_id,
        calls_per_month=by_month,
        sides=utts.group_by("side").agg(pl.len().alias("utterances")).sort("side"),
        channels=calls.group_by("channel").agg(pl.len().alias("calls")).sort("channel"),
        teams=calls.group_by("team").agg(pl.len().alias("calls")).sort("team"),
        timings_measured=utts.height - estimated,
        timings_estimated=estimated,
        trackers=trackers,
        first_call=calls["started_at"].min() if calls.height else None,
        last_call=calls["started_at"].max() if calls.height else None,
        sample=sample,
        embedding_backend=embedding_backend,
    )
