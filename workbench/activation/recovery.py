"""What killed processes left in a workspace, cleaned when it is opened (issue 14, item 8).

- **Detection folders.** A backfill writes a new run folder under ``data/detections/tracker-<id>/``,
  points the tracker at it, then removes the old one (``backfill.apply_version``). Killed between
  those steps it leaves a folder nothing points at (the new one, or the old one); a killed
  import's scoring leaves a temporary part file (``.part-…``) in the live folder; a tracker
  deleted while its folder was being removed leaves ``tracker-<id>/`` behind.
- **Spark staging folders** (``data/.spark-staging/<id>/``) of a killed Spark backfill.
- **MLflow** runs left RUNNING, versions registered but not recorded, and training figures not
  yet logged (drawn in the background, workbench.registry.later), healed through
  workbench.registry.recovery and workbench.trackers.recovery when ``probe`` finds them.

Every writer of detections holds the detection lock (an flock, released when its process dies),
so the cleanup takes it without waiting: if it is free, no backfill, publish or import is
writing, and whatever no stored activation points at is left over. If it is held, the cleanup
waits for the next open. A staging folder is removed once the process named in it is gone.
Opening stays fast: a lock, a directory listing and one query, and MLflow is opened only when a
direct read of its database finds something to heal (``workbench.trackers.recovery.probe``).
"""
from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from workbench.activation.context import LiveContext
from workbench.activation.spark import OWNER_FILE, STAGING_FOLDER
from workbench.core.files import try_file_lock
from workbench.core.processes import left_behind
from workbench.trackers.recovery import probe, reconcile_versions, redraw_figures

log = logging.getLogger(__name__)

_TRACKER_FOLDER = re.compile(r"tracker-(\d+)")


def recover_left_behind(ctx: LiveContext, mlruns_dir: Path) -> list[str]:
    """Clean what killed processes left (see the module); returns a note per thing healed."""
    found = probe(mlruns_dir, ctx.store)
    notes = [f"Removed {p}, left by a killed backfill, publish or import." for p in remove_orphan_folders(ctx)]
    notes += [version.note for version in found.lost]
    for note in notes:  # the MLflow notes below are logged where they are made
        log.warning(note)
    if found.heal:
        try:
            registry = ctx.registry  # opening it ends the runs killed trainings left RUNNING
            notes += registry.completed_records  # records a killed training left to complete
            notes += [run.note for run in registry.ended_runs]
            notes += [version.note for version in reconcile_versions(ctx.store, registry)]
            notes += redraw_figures(ctx.store, registry, found.figures)  # after adoption: their versions
        except Exception as e:  # noqa: BLE001 - healing is for later opens too; opening must work
            notes.append(f"Could not check {mlruns_dir} for runs and versions left by a killed training "
                         f"({type(e).__name__}: {e}); the next open tries again.")
            log.warning(notes[-1])
    return notes


def remove_orphan_folders(ctx: LiveContext, *, now: float | None = None) -> list[Path]:
    """Remove detection folders and files no activation points at, and staging folders of
    processes that are gone; nothing while another process writes detections."""
    root = ctx.detections.root
    staging = ctx.data_dir / STAGING_FOLDER
    if not root.is_dir() and not staging.is_dir():
        return []
    now = time.time() if now is None else now
    removed: list[Path] = []
    with try_file_lock(root / ".lock") as free:
        if not free:
            return []
        live = {r["tracker_id"]: r["run_dir"] for r in ctx.store.query("SELECT tracker_id, run_dir FROM activations")}
        trackers = {r["id"] for r in ctx.store.query("SELECT id FROM trackers")}
        for folder in sorted(root.glob("tracker-*")):
            match = _TRACKER_FOLDER.fullmatch(folder.name)
            if match and folder.is_dir():
                removed += _orphans_of_tracker(folder, int(match.group(1)) in trackers, live.get(int(match.group(1))))
        for stage in sorted(staging.glob("*")) if staging.is_dir() else []:
            if stage.is_dir() and _stage_left_behind(stage, now):
                removed.append(stage)
        for path in removed:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return removed


def _orphans_of_tracker(folder: Path, tracker_exists: bool, live_run: str | None) -> list[Path]:
    if not tracker_exists:
        return [folder]
    found = []
    for run in folder.iterdir():
        if run.is_dir() and run.name != live_run:
            found.append(run)
        elif run.is_dir():  # the live run: only the temporary part files of a killed writer
            found += [f for f in run.iterdir() if f.name.startswith(".") and f.is_file()]
    return found


def _stage_left_behind(stage: Path, now: float) -> bool:
    owner = stage / OWNER_FILE
    try:
        token = owner.read_text(encoding="utf-8")
    except OSError:
        token = None
    return left_behind(token, stage.stat().st_mtime, now)
