"""Reliability in figures (issue 14, item 9): what survives kills, concurrent writers, malformed
and hostile input, webhooks and artefacts changed behind the workbench's back.

    python benchmarks/reliability.py                 # every family (about 10 minutes on 2 cores)
    python benchmarks/reliability.py --kills 5       # fewer import kills
    python benchmarks/reliability.py --only inputs webhooks

Each family runs the product's own code on real workspaces, real processes (SIGKILL), a real
SQLite store and MLflow store, and real local HTTP servers; the cases are the ones the tests
under tests/reliability/ keep, run at full size here:

- imports:    SIGKILL at random moments of an import until N were killed; each workspace must be
              as before, or complete after one re-run, with every live sentence embedded and
              every call scored by the active tracker (tests/reliability/import_kills.py);
- reads:      a reader process reopening the workspace while imports run;
- training:   kill -9 during training and backfill, then reopen; and concurrent writers
              (examples, rounds, tags) on one tracker (tests/reliability/item8_cases.py);
- inputs:     malformed imports, each refused with a message naming the file, row or field, the
              workspace byte-identical afterwards (tests/reliability/input_cases.py);
- webhooks:   a trickling webhook, internal addresses, a good webhook
              (tests/reliability/webhook_cases.py);
- artefacts:  a malicious-pickle bundle, an edited-code bundle, an artefact replaced behind
              the registry's back (tests/reliability/artefact_cases.py, when present).

Writes benchmarks/results/reliability.json and reliability.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


RESULTS = REPO / "benchmarks" / "results"
FAMILIES = ("imports", "reads", "training", "inputs", "webhooks", "artefacts")
# The "done when": these must all be 0.
ZERO_TARGETS = ("tags_lost", "calls_unembedded_or_unscored", "payloads_run", "failed_reads")


def run_imports(workdir: Path, kills: int) -> tuple[dict, dict]:
    from tests.reliability.import_kills import ImportWorker, run_import_kills, run_reads_during_imports

    worker = ImportWorker()
    try:
        killed = run_import_kills(workdir / "kills", n_kills=kills, worker=worker).counts()
        reads = run_reads_during_imports(workdir / "reads", 3, worker=worker)
    finally:
        worker.close()
    return killed, reads


def run_inputs(workdir: Path, embedder) -> dict:
    from tests.reliability.input_cases import run_input_cases

    return run_input_cases(workdir, embedder)


def run_training(workdir: Path, embedder) -> dict:
    from tests.demo_workspace import build
    from tests.reliability.item8_cases import item8_counts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        template = build(workdir / "template", embedder)
    counts = item8_counts(template, workdir / "item8")
    kills = counts["kills"]
    flat = {k: v for k, v in counts.items() if not isinstance(v, dict)}
    return {**flat, "training_and_backfill_kills": kills["killed"], "trained_again_after_a_kill": kills["trained_again"]}


def run_webhooks(workdir: Path) -> dict:
    from tests.reliability.webhook_cases import run_webhook_cases

    return run_webhook_cases(workdir)


def run_artefacts(workdir: Path) -> dict | None:
    try:
        from tests.reliability.artefact_cases import run_artefact_cases
    except ImportError:
        return None
    return run_artefact_cases(workdir, through_mlflow_server=True)


def summary(families: dict) -> dict:
    """The issue's figures over every family that ran."""
    imports, reads = families.get("imports") or {}, families.get("reads") or {}
    training, inputs = families.get("training") or {}, families.get("inputs") or {}
    hooks, artefacts = families.get("webhooks") or {}, families.get("artefacts") or {}
    return {
        "cases_tried": sum(int(f.get("cases", f.get("imports", 0)) or 0) for f in families.values() if f),
        "import_kills": int(imports.get("kills", 0)),
        "import_cases_complete_or_absent": f"{imports.get('kills_survived', 0)} of {imports.get('cases', 0)}",
        "training_and_backfill_kills": int(training.get("training_and_backfill_kills", 0)),
        "tags_lost": int(imports.get("tags_lost", 0)),
        "calls_unembedded_or_unscored": int(imports.get("unembedded_after_heal", 0))
        + int(imports.get("unscored_after_heal", 0)) + int(reads.get("unembedded", 0)) + int(reads.get("unscored", 0)),
        "payloads_run": int(artefacts.get("payloads_run", 0)),
        "failed_reads": int(imports.get("failed_reads", 0)) + int(reads.get("failed_reads", 0)),
        "raw_errors": int(training.get("raw_errors", 0)),
        "stuck_runs_left": int(training.get("stuck_runs_left", 0)),
        "orphan_folders_left": int(training.get("orphan_folders_left", 0)),
        "versions_missing": int(training.get("versions_missing", 0)),
        "malformed_accepted": int(inputs.get("accepted", 0)),
        "workspace_changed_by_a_refused_import": int(inputs.get("workspace_changed", 0)),
        "imports_held_by_a_webhook": int(hooks.get("imports_held_over_1s", 0)),
        "internal_addresses_accepted": int(hooks.get("internal_addresses_accepted", 0)),
    }


def render(results: dict) -> str:
    s = results["summary"]
    lines = ["# Reliability (issue 14, item 9)", "",
             f"`python benchmarks/reliability.py {' '.join(results['argv'])}` on {results['machine']}, "
             f"{results['seconds']:.0f} s.", "",
             "| figure | value | target |", "|---|---:|---:|"]
    for key, value in s.items():
        counts = ("cases_tried", "import_kills", "import_cases_complete_or_absent", "training_and_backfill_kills")
        target = "" if key in counts else "0"
        lines.append(f"| {key.replace('_', ' ')} | {value} | {target} |")
    for family, figures in results["families"].items():
        lines += ["", f"## {family}", ""]
        if figures is None:
            lines.append("not run (its cases are not in this checkout)")
            continue
        for key, value in figures.items():
            if key == "details":
                lines += [f"- {d}" for d in value] or ["- no problem found"]
            else:
                lines.append(f"- {key.replace('_', ' ')}: {value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="imports to kill (default 20)")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--no-write", action="store_true", help="print, write nothing under benchmarks/results")
    args = parser.parse_args(argv)
    from workbench.embedding.embedder import Embedder

    embedder = Embedder()
    families: dict[str, dict | None] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-reliability-") as tmp:
        work = Path(tmp)
        for family in args.only:
            t0 = time.perf_counter()
            folder = work / family
            folder.mkdir()
            if family == "imports":
                families["imports"], families["reads"] = run_imports(folder, args.kills)
            elif family == "reads":
                continue  # measured with the imports
            elif family == "training":
                families["training"] = run_training(folder, embedder)
            elif family == "inputs":
                families["inputs"] = run_inputs(folder, embedder)
            elif family == "webhooks":
                families["webhooks"] = run_webhooks(folder)
            elif family == "artefacts":
                families["artefacts"] = run_artefacts(folder)
            print(f"{family}: {time.perf_counter() - t0:.0f} s {json.dumps(families.get(family), default=str)}",
                  flush=True)
    results = {"argv": argv if argv is not None else sys.argv[1:], "machine": f"{platform.machine()}, "
               f"Python {platform.python_version()}", "seconds": time.perf_counter() - began,
               "families": families, "summary": summary(families)}
    text = render(results)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "reliability.json").write_text(json.dumps(results, indent=1, default=str))
        (RESULTS / "reliability.md").write_text(text)
    missed = [k for k in ZERO_TARGETS if results["summary"][k]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
