"""The detection store: a tracker's stored results, as parquet parts under data/detections/.

Detections live as parquet files, not in SQLite: a tracker over a year of calls has hundreds of
thousands of them, and the results screens read them as frames::

    data/detections/tracker-<id>/<run>/part-000001.detections.parquet   detected sentences
    data/detections/tracker-<id>/<run>/part-000001.calls.parquet        every call scored, with counts

A run folder holds one published version's results: the backfill is part 1 and each import that
brings calls in scope adds a part. Each file is written to a temporary name and renamed; the calls
file is renamed last, so a part is visible only once both exist. When a call is scored again (a
re-import with ``--replace``), the newest part that scored it wins. Publishing writes a new run
folder, switches the pointer in SQLite (workbench.storage.activations) in one transaction and then
removes the old folder.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workbench.activation.frames import CALLS_SCORED_SCHEMA, DETECTION_SCHEMA, no_results
from workbench.core.errors import WorkbenchError
from workbench.core.files import atomic_path, file_lock


@dataclass
class LiveResults:
    """A tracker's stored results: the detections and every call they were looked for in."""

    tracker: str
    version: int | None
    detections: pl.DataFrame  # DETECTION_SCHEMA
    calls: pl.DataFrame  # CALLS_SCORED_SCHEMA: every call scored, mentions may be 0


class DetectionStore:
    """The run folders of every tracker of one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def lock(self):
        """One writer of detections at a time (a backfill, a publish, an import's scoring)."""
        return file_lock(self.root / ".lock")

    def run(self, tracker_id: int, run_dir: str) -> Path:
        return self.root / f"tracker-{tracker_id}" / run_dir

    def remove_run(self, tracker_id: int, run_dir: str) -> None:
        shutil.rmtree(self.run(tracker_id, run_dir), ignore_errors=True)

    def remove_tracker(self, tracker_id: int) -> None:
        shutil.rmtree(self.root / f"tracker-{tracker_id}", ignore_errors=True)

    def write_part(self, tracker_id: int, run_dir: str, detections: pl.DataFrame, calls: pl.DataFrame) -> int:
        """Append one part to a run folder (callers hold the lock); returns its number."""
        run = self.run(tracker_id, run_dir)
        run.mkdir(parents=True, exist_ok=True)
        parts = _parts(run)
        number = (max(parts) + 1) if parts else 1
        _write_parquet(detections.select(list(DETECTION_SCHEMA)), run / f"part-{number:06d}.detections.parquet")
        _write_parquet(calls.select(list(CALLS_SCORED_SCHEMA)), run / f"part-{number:06d}.calls.parquet")
        return number

    def read(self, tracker_id: int, run_dir: str, live_calls: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The detections and scored calls of one run folder: the newest part per call, and only
        the calls still in the workspace (``live_calls``: their ids)."""
        run = self.run(tracker_id, run_dir)
        for _ in range(3):
            parts = _parts(run)
            if not parts:
                return no_results()
            try:
                calls = pl.concat([
                    pl.read_parquet(run / f"part-{p:06d}.calls.parquet").with_columns(pl.lit(p, pl.Int32).alias("part"))
                    for p in parts])
                dets = pl.concat([
                    pl.read_parquet(run / f"part-{p:06d}.detections.parquet")
                    .with_columns(pl.lit(p, pl.Int32).alias("part")) for p in parts])
            except FileNotFoundError:  # a publish replaced the run folder while we read it
                continue
            latest = calls.sort("part").unique("call_id", keep="last", maintain_order=True)
            # A call re-imported out of scope is recorded with 0 sentences: it drops out here.
            latest = latest.filter(pl.col("call_id").is_in(live_calls.implode()) & (pl.col("sentences") > 0))
            dets = dets.join(latest.select("call_id", "part"), on=["call_id", "part"], how="semi")
            return dets.drop("part"), latest.drop("part")
        raise WorkbenchError(f"The detections in {run} keep changing; try again.")


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


def _parts(run: Path) -> list[int]:
    out = []
    for f in run.glob("part-*.calls.parquet"):
        try:
            out.append(int(f.name.split(".")[0].split("-")[1]))
        except (IndexError, ValueError):
            continue
    return sorted(out)
