"""The quick start's main job: demo calls -> workspace -> embeddings -> a trained demo tracker.

Raw inputs are written once under data/raw/demo/ and never edited; everything else in the
workspace is derived from them and rebuilt by running the job again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from workbench.workspace import Workspace, default_workspace_path


def run_demo(
    workspace: str | Path | None = None,
    *,
    n_calls: int = 600,
    seed: int = 7,
    train: bool = True,
    progress: bool = True,
) -> Workspace:
    from workbench.demo.generator import generate_demo

    ws = Workspace(workspace if workspace is not None else default_workspace_path())
    raw = ws.data_dir / "raw" / "demo"
    t0 = time.perf_counter()
    print(f"1. Generating {n_calls} synthetic demo calls (seed {seed}) into {raw}")
    paths = generate_demo(raw, n_calls=n_calls, seed=seed)
    print(f"2. Importing into the workspace {ws.path}")
    print("   " + str(ws.import_calls(paths.calls, paths.utterances, replace=True, embed=False)).replace("\n", "\n   "))
    print("3. Embedding sentences (cached: a second run costs nothing)")
    ws.embed(progress=progress)
    if train:
        from workbench.demo.tracker import train_demo_tracker

        concepts = json.loads(Path(paths.concepts).read_text())
        print("4. Training the demo tracker")
        train_demo_tracker(ws, concepts, Path(paths.labels), progress=progress)
    print()
    print(ws.info())
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Next: `workbench info`, or open the notebooks (README).")
    return ws
