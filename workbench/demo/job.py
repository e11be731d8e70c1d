"""The quick start's main job: demo calls -> workspace -> embeddings -> a trained demo tracker.

Raw inputs are written once under data/raw/demo/ and never edited; everything else in the
workspace is derived from them and rebuilt by running the job again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from workbench.workspace import Workspace, default_workspace_path

DEMO_TRACKER = "Asking for a discount"
DEMO_TRUTH = "Demo truth"  # how the overview names the generator's labels beside the estimate
DEMO_ROUNDS = 4
DEMO_EXAMPLES = [
    "Can you give us a discount?",
    "Is there any flexibility on the price?",
    "We'd need a better price to move forward.",
    "Could you knock something off the list price?",
    "Any chance of a discount if we sign this quarter?",
]


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
        concepts = {c["name"]: c for c in json.loads(Path(paths.concepts).read_text())}
        print(f"4. Training the demo tracker '{DEMO_TRACKER}': {DEMO_ROUNDS} rounds of 25, answered by a simulated "
              "user from the demo's ground truth")
        tracker = train_demo_tracker(ws, concepts[DEMO_TRACKER])
        # The generator knows the truth: stored with the tracker, the overview shows it beside the estimate.
        tracker.set_reference_labels(reference_labels(paths.labels, concepts[DEMO_TRACKER]["labels"]),
                                     source=DEMO_TRUTH)
        print("   " + estimate_beside_truth(tracker).replace("\n", "\n   "))
        print("5. Activating it over the past 12 months of calls")
        if tracker.has_unpublished_changes or not tracker.is_active:
            if tracker.is_active:
                tracker.publish()
            else:
                tracker.activate(backfill_months=12, progress=progress)
    print()
    print(ws.info())
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Next:")
    print("  workbench tag 'Asking for a discount'   tag another round in the terminal")
    print("  workbench lab                           the notebooks in JupyterLab (01 to 07)")
    print("  workbench dashboards                    the overview, results and initiative board dashboards (Voila)")
    print("  workbench mlflow                        every run and model version in the MLflow UI")
    return ws


def train_demo_tracker(ws: Workspace, concept: dict, *, rounds: int = DEMO_ROUNDS, examples: list[str] | None = None):
    """Create the demo tracker (``examples``: DEMO_EXAMPLES by default) and tag its first rounds
    as a person who knows the answers would.

    The answers come from the generator's ground truth (``sentence_label``), so the demo shows
    a trained tracker without anyone tagging; a tracker that already has versions is kept.
    """
    import warnings

    from workbench.demo.concepts import sentence_label
    from workbench.core.errors import NotFoundError
    from workbench.trackers.scope_check import SmallCorpusWarning

    try:
        tracker = ws.tracker(concept["name"])
    except NotFoundError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallCorpusWarning)  # the demo is small on purpose
            tracker = ws.create_tracker(concept["name"], description=concept["description"],
                                        mentioned_by=concept["mentioned_by"], examples=examples or DEMO_EXAMPLES)
    label = concept["labels"][0]
    while True:
        done = tracker.current_round()
        if done is not None and done.complete and done.number >= rounds:
            break
        rnd = tracker.next_round()
        for cand in rnd:
            if cand.answer is None:
                tracker.tag(cand.sentence_id, "yes" if sentence_label(cand.text) == label else "no")
        result = tracker.train()
        print(f"   round {rnd.number}: {result.n_yes} YES, {result.n_no} NO so far -> model version {result.version}")
    if tracker.versions().height == 0:
        tracker.train()
    return tracker


def reference_labels(labels_path: str | Path, concept_labels: list[str]):
    """The demo's ground truth for one concept, per utterance (call_id, utterance_id, positive),
    from the generator's labels.parquet: what Tracker.set_reference_labels takes."""
    import polars as pl

    return pl.read_parquet(labels_path).select(
        "call_id", "utterance_id",
        pl.col("labels").list.eval(pl.element().is_in(concept_labels)).list.any().alias("positive"))


def estimate_beside_truth(tracker) -> str:
    """The estimate and the true values, in two lines and a plain reading."""
    est, truth = tracker.performance(), tracker.truth()
    p, h = est.precision, est.hit_rate
    lines = []
    if p is not None and h is not None:
        lines.append(f"Estimate:   precision {p.value:.2f} [{p.low:.2f}, {p.high:.2f}], hit rate {h.value:.2f} "
                     f"[{h.low:.2f}, {h.high:.2f}] ({est.confidence:.0%} intervals; "
                     f"{est.detected_sentences:,} sentences detected)")
    if truth is not None:
        lines += [truth.line(), truth.reading(est)]
    return "\n".join(lines)
