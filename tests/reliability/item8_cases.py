"""Issue 14, item 8 in figures, for benchmarks/reliability.py: concurrent writers and kill -9
during training and backfill, on copies of a trained workspace.

    from tests.demo_workspace import build
    from tests.reliability.item8_cases import item8_counts
    template = build(Path("/tmp/template"), Embedder())      # or any copy of it
    figures = item8_counts(template, Path("/tmp/item8"))    # a dict, JSON-ready

``figures``: cases tried, raw errors seen (sqlite's own, or any exception on reopening),
stuck runs left, orphan folders left, versions missing, and the two detailed reports.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from tests.demo_workspace import DEMO_TRACKER, END_DATE
from tests.reliability.concurrency_cases import hammer
from tests.reliability.stale_state_cases import MOMENTS, kill_and_reopen

EXAMPLE_TRACKER = "Examples written at once"


def item8_counts(template: Path, workdir: Path, *, tracker: str = DEMO_TRACKER, as_of: str = END_DATE.isoformat(),
                 workers: int = 4, adds: int = 8) -> dict:
    """Run both families of cases on private copies of ``template`` under ``workdir``."""
    from workbench import Workspace

    workdir = Path(workdir)
    (workdir / "kills").mkdir(parents=True, exist_ok=True)
    kills = kill_and_reopen(Path(template), workdir / "kills", tracker, as_of, moments=tuple(MOMENTS))
    shared = workdir / "concurrent"
    shutil.copytree(template, shared, ignore=shutil.ignore_patterns("detections", "matrix", "*.lock"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning on a small template
        Workspace(shared).create_tracker(EXAMPLE_TRACKER, mentioned_by="customer")
    writers = hammer(shared, tracker, EXAMPLE_TRACKER, workers=workers, adds=adds)
    return {
        "cases": kills.cases + writers.calls,
        "raw_errors": len(kills.raw_errors) + len(writers.raw_sqlite_errors) + len(writers.other_errors),
        "retryable_errors": writers.retryable_errors,
        "stuck_runs_left": kills.stuck_runs_left,
        "orphan_folders_left": kills.orphan_folders_left,
        "versions_missing": kills.versions_missing + kills.versions_not_contiguous,
        "examples_lost_or_doubled": abs(writers.examples_expected - writers.examples_stored) + writers.examples_duplicated,
        "kills": kills.as_dict(),
        "concurrent_writers": writers.as_dict(),
    }
