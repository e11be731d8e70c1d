"""Reference labels: the known truth of a tracker's concept per utterance, kept beside the workspace.

    data/reference/tracker-<id>.parquet   call_id, utterance_id, positive, source

Who knows the truth writes it: the demo job from its generator's labels, a data scientist from
calls labelled by hand. Nothing trains on it; it only says how far the estimate is from the
truth (``workbench.trackers.truth``). Tracker ids are never reused (AUTOINCREMENT), so a file
cannot be read as the truth of a later tracker of the same name.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from workbench.core.errors import ValidationError
from workbench.core.files import atomic_path

COLUMNS = {"call_id": pl.String(), "utterance_id": pl.Int64(), "positive": pl.Boolean()}


class ReferenceLabels:
    """The reference labels of the trackers of one workspace's ``data/`` folder."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "reference"

    def _path(self, tracker_id: int) -> Path:
        return self.dir / f"tracker-{int(tracker_id)}.parquet"

    def write(self, tracker_id: int, labels: pl.DataFrame, source: str) -> int:
        """Replace the tracker's reference labels; returns how many utterances they cover."""
        missing = [c for c in COLUMNS if c not in labels.columns]
        if missing:
            raise ValidationError("labels", f"reference labels need the columns {', '.join(COLUMNS)}; "
                                            f"missing: {', '.join(missing)}",
                                  "One row per utterance: call_id, utterance_id and positive (true or false).")
        if not source.strip():
            raise ValidationError("source", "say where the labels come from", "For example source='Hand labels'.")
        frame = labels.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
        if frame.null_count().sum_horizontal().item():
            raise ValidationError("labels", "reference labels may not be empty (null)", "Leave unlabelled utterances out.")
        frame = frame.unique(["call_id", "utterance_id"], keep="last", maintain_order=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self._path(tracker_id)) as tmp:
            frame.with_columns(pl.lit(source.strip()).alias("source")).write_parquet(tmp)
        return frame.height

    def read(self, tracker_id: int) -> tuple[pl.DataFrame, str] | None:
        """(call_id, utterance_id, positive) and where they come from, or None when there are none."""
        path = self._path(tracker_id)
        if not path.exists():
            return None
        frame = pl.read_parquet(path)
        return frame.select(list(COLUMNS)), frame["source"][0] if frame.height else ""

    def delete(self, tracker_id: int) -> None:
        self._path(tracker_id).unlink(missing_ok=True)
