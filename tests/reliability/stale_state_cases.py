"""kill -9 at chosen moments of a training or a backfill, then open the workspace (issue 14, item 8).

Each case is a real Python process on its own copy of a trained workspace. It patches one
function of the workbench or MLflow so that the process kills itself with SIGKILL when that
function is reached, then trains or activates the tracker: the process really dies there, with
nothing run after it (no ``finally``, no ``except``). The parent then opens the workspace and
counts what is left: MLflow runs still RUNNING, registered versions the workspace does not list
(or the reverse), orphan folders under ``data/detections`` and ``data/.spark-staging``.

Used by tests/reliability/test_stale_state.py and by benchmarks/reliability.py
(``kill_and_reopen(...).as_dict()``).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Where each case dies: (what it runs, the function whose call kills it).
MOMENTS = {
    "training: logging the model": ("train", "mlflow.MlflowClient.finalize_logged_model"),
    "training: ending the run": ("train", "mlflow.MlflowClient.set_terminated"),
    "training: recording the version": ("train", "workbench.storage.trackers.TrainingStore.add_version"),
    "backfill: pointing at the new results": ("activate", "workbench.storage.activations.ActivationRows.save"),
    "backfill: Spark staging": ("stage", ""),
}


@dataclass
class StaleCounts:
    """What was left after each kill and one open of the workspace."""

    cases: int = 0
    killed: int = 0                      # processes that really died of SIGKILL
    raw_errors: list[str] = field(default_factory=list)   # exceptions opening or training again
    stuck_runs_left: int = 0
    versions_missing: int = 0            # registered in MLflow, not in t.versions(), or the reverse
    versions_not_contiguous: int = 0
    orphan_folders_left: int = 0
    trained_again: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.killed == self.cases and not self.raw_errors and self.stuck_runs_left == 0
                and self.versions_missing == 0 and self.versions_not_contiguous == 0 and self.orphan_folders_left == 0)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def kill_and_reopen(template: Path, workdir: Path, tracker: str, as_of: str, *, moments=tuple(MOMENTS),
                    train_again: tuple[str, ...] = ("training: recording the version",), timeout: float = 120) -> StaleCounts:
    """Copy ``template`` once per moment, kill a process there (all at once), reopen, count."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    copies, procs = {}, {}
    for i, moment in enumerate(moments):
        copies[moment] = workdir / f"case-{i}"
        shutil.copytree(template, copies[moment], ignore=shutil.ignore_patterns("detections", "matrix", "*.lock"))
        procs[moment] = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.stale_state_cases", str(copies[moment]), tracker, as_of, moment],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    counts = StaleCounts(cases=len(moments))
    for moment, proc in procs.items():
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode == -signal.SIGKILL and "REACHED" in out:
            counts.killed += 1
        else:
            counts.raw_errors.append(f"{moment}: exited {proc.returncode}, not killed: {err.strip()[-400:]}")
    for moment, path in copies.items():
        _count_after_open(counts, moment, path, tracker, train=moment in train_again)
    return counts


def _count_after_open(counts: StaleCounts, moment: str, path: Path, tracker: str, *, train: bool) -> None:
    from mlflow import MlflowClient

    from workbench import Workspace

    try:
        ws = Workspace(path)
        counts.notes += [f"{moment}: {n}" for n in getattr(ws, "recovered", [])]  # [] before issue 14
        t = ws.tracker(tracker)
        listed = t.versions()["version"].to_list()
        registered = sorted(v.version for v in ws.registry.versions(tracker))
        counts.versions_missing += len(set(listed) ^ set(registered))
        counts.versions_not_contiguous += listed != list(range(1, len(listed) + 1))
        client = MlflowClient(ws.registry.tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        counts.stuck_runs_left += len(client.search_runs(experiments, "attributes.status = 'RUNNING'"))
        counts.orphan_folders_left += len(orphan_folders(ws))
        if train:
            result = t.train()
            counts.trained_again += result.version == max(listed) + 1
    except Exception as e:  # noqa: BLE001 - counted: the report says what it was
        counts.raw_errors.append(f"{moment}: {type(e).__name__}: {e}")


def orphan_folders(ws) -> list[Path]:
    """Run folders no activation points at, temporary part files, and Spark staging folders."""
    live = {r["tracker_id"]: r["run_dir"] for r in ws.store.query("SELECT tracker_id, run_dir FROM activations")}
    found = []
    for folder in (ws.data_dir / "detections").glob("tracker-*"):
        for run in folder.iterdir():
            if run.name != live.get(int(folder.name.split("-")[1])):
                found.append(run)
            else:
                found += [f for f in run.iterdir() if f.name.startswith(".")]
    staging = ws.data_dir / ".spark-staging"
    return found + (list(staging.iterdir()) if staging.is_dir() else [])


def _die_at(dotted: str) -> None:
    """Make the function at ``dotted`` (module.Class.method) kill this process when called."""
    import importlib

    module, cls, name = dotted.rsplit(".", 2)
    owner = getattr(importlib.import_module(module), cls)

    def die(*args, **kwargs):
        if name == "set_terminated" and args[-1] != "FINISHED":
            return original(*args, **kwargs)  # only the end of a run that succeeded
        print("REACHED", dotted, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    original = getattr(owner, name)
    setattr(owner, name, die)


def _case(path: str, tracker: str, as_of: str, moment: str) -> None:
    from workbench import Workspace

    action, dotted = MOMENTS[moment]
    ws = Workspace(path)
    t = ws.tracker(tracker)
    if action == "stage":  # what spark_score writes before Spark starts: a folder naming its owner
        from workbench.activation.spark import OWNER_FILE, STAGING_FOLDER
        from workbench.core.processes import owner_token

        stage = ws.data_dir / STAGING_FOLDER / "killed-stage" / "input"
        stage.mkdir(parents=True)
        (stage.parent / OWNER_FILE).write_text(owner_token(), encoding="utf-8")
        (stage / "part-00000.parquet").write_bytes(b"PAR1")
        print("REACHED staging", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    _die_at(dotted)
    if action == "train":
        t.train()
    else:
        t.activate(backfill_months=12, as_of=as_of, progress=False, verbose=False)


if __name__ == "__main__":
    from workbench.core.settings import use_offline_environment

    use_offline_environment()
    _case(*sys.argv[1:5])
    sys.exit(3)  # not killed: the moment was never reached
