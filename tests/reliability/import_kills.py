"""Kill an import at random moments, then check the workspace: the harness of
tests/reliability/test_import_kills.py and of benchmarks/reliability.py (``run_import_kills``).

Loading the embedding model takes a new process about 8 s, so the imports do not each start a
Python: one worker process (``python -m tests.reliability.import_kills serve``) loads the real
model once and forks a child per import. The child is an ordinary process running
``Workspace.import_calls`` through the real model; the harness SIGKILLs it at a random moment,
then re-runs the same import once, and checks what a user would see:

* every sentence of the live generation has an embedding (a reader never fails),
* the live calls are either the ones before the import or all of them after the re-run,
* every active tracker has scored every live call, and no tag was lost.

For benchmarks/reliability.py: ``run_import_kills(workdir, n).counts()`` (cases, kills,
kills survived, tags lost, sentences unembedded and calls unscored after the re-run, failed
reads) and ``run_reads_during_imports(workdir)`` (reads and failed reads while imports embed).
Both start their own worker unless given one; each needs about 10 s to start it, then about 2 s
per kill case.

``python -m tests.reliability.import_kills read WS STOP_FILE`` is a reader: a new Workspace
(as a new Voila page or kernel opens one) reading embeddings and live results until STOP_FILE
appears; it prints how many reads it made and how many failed.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[2]
KEYWORD_TRACKER = "Price talk"
TAGGED_TRACKER = "Price questions"
BASE_CALLS = 4
NEW_CALLS = 6
JOB_TIMEOUT_S = 120  # a job that takes longer is stuck: fail, do not hang the suite


# ---------------------------------------------------------------------------------- the corpus
def corpus(n_calls: int, *, start: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """External calls whose sentences are distinct (so an import has texts to embed), each
    mentioning the price once."""
    lines = [("company", "Thanks for joining today. This call is being recorded."),
             ("customer", "Happy to be here."),
             ("company", "What are the biggest challenges your team faces?"),
             ("customer", "Honestly the price is too high for us."),
             ("company", "Let's set up a follow-up next Tuesday."),
             ("customer", "Sounds good, talk then.")]
    base = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.timezone.utc)
    calls, utts = [], []
    for i in range(start, start + n_calls):
        cid = f"call-{i:04d}"
        calls.append({"call_id": cid, "started_at": base + dt.timedelta(days=i), "duration_s": 40.0,
                      "title": f"Call {i}", "is_external": True, "team": "EMEA", "rep": f"rep-{i % 3}", "deal_stage": "Demo",
                      "channel": "call"})
        for u, (side, text) in enumerate(lines):
            utts.append({"call_id": cid, "utterance_id": u, "speaker": "Dana" if side == "company" else "Sam",
                         "side": side, "start_s": 6.0 * u, "end_s": 6.0 * u + 5.0,
                         "text": f"{text[:-1]} on call {i}{text[-1]}"})
    return pl.DataFrame(calls), pl.DataFrame(utts)


def write_batch(folder: Path, n_calls: int, *, start: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    calls, utts = corpus(n_calls, start=start)
    paths = folder / "calls.parquet", folder / "utterances.parquet"
    calls.write_parquet(paths[0])
    utts.write_parquet(paths[1])
    return paths


def build_template(path: Path, embedder) -> None:
    """An embedded workspace with an active keyword tracker over every call, and a smart
    tracker holding three tags (runs in a forked child of the worker)."""
    from workbench.embedding.normalise import set_workspace_normalisation
    from workbench.workspace import Workspace

    ws = Workspace(path, model=embedder)
    # Recorded, so that a plain Workspace(path) (a reader, the CLI) embeds as the worker does.
    set_workspace_normalisation(ws.embeddings_dir, embedder.text_normalisation)
    ws.import_calls(*corpus(BASE_CALLS, start=0), embed=False, progress=False)
    ws.embed(progress=False)
    kt = ws.create_keyword_tracker(KEYWORD_TRACKER, ["price"], filters={})
    kt.activate(12, as_of="2026-01-31", progress=False, verbose=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning: tiny on purpose
        tagged = ws.create_tracker(TAGGED_TRACKER, filters={})
    for sentence_id in ws.sentences["sentence_id"].head(3).to_list():
        tagged.tag(sentence_id, "no")


# ---------------------------------------------------------------------------------- the worker
def serve() -> None:
    """Load the model once, then run each job read from stdin in a forked child."""
    import torch

    torch.set_num_threads(1)  # one thread: a forked child then has no pool to miss
    from workbench.core.settings import use_offline_environment
    from workbench.embedding.embedder import Embedder

    use_offline_environment()
    embedder = Embedder()
    embedder.encode(["warm up"])
    # Imported here, not used: the children start at once. Nothing here runs a polars query:
    # polars starts its thread pool on the first one, and a forked child would wait on threads
    # it does not have.
    for module in ("workbench.workspace", "workbench.corpus.prepare", "workbench.activation.scoring",
                   "workbench.activation.new_calls", "workbench.trackers.keywords"):
        importlib.import_module(module)
    _say({"ready": True})
    for line in sys.stdin:
        job = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _run_child(job, embedder)
        _say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _say({"pid": pid, "killed": os.WIFSIGNALED(status),
              "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
              "seconds": time.monotonic() - started})


def _run_child(job: dict, embedder) -> None:
    try:
        from workbench.workspace import Workspace

        if job["op"] == "build":
            build_template(Path(job["workspace"]), embedder)
        elif job["op"] == "embed":  # what `workbench embed` does, with the worker's loaded model
            ws = Workspace(job["workspace"], model=embedder)
            ws.embed(progress=False)
            ws.score_pending(progress=False)
        else:
            Workspace(job["workspace"], model=embedder).import_calls(job["calls"], job["utterances"], progress=False)
        code = 0
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


def _say(message: dict) -> None:
    print(json.dumps(message), flush=True)


class ImportWorker:
    """The driver's handle on the worker process."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.import_kills", "serve"], cwd=REPO,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buffer = b""
        if not self._hear().get("ready"):
            raise RuntimeError("the import worker did not start")

    def _hear(self) -> dict:
        """The worker's next line; unbuffered reads, so that select sees every line waiting."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], JOB_TIMEOUT_S)
            if not ready:
                self.proc.kill()
                raise RuntimeError(f"the import worker said nothing for {JOB_TIMEOUT_S} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the import worker stopped (exit {self.proc.wait()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, job: dict, *, kill_after: float | None = None, once: Callable[[], bool] | None = None) -> dict:
        """Run one job; with ``kill_after`` SIGKILL it that many seconds after it started, or
        after ``once()`` first returns True."""
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        pid = self._hear()["pid"]
        if kill_after is not None:
            deadline = time.monotonic() + JOB_TIMEOUT_S
            while once is not None and not once() and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished first
        return self._hear()

    def build(self, path: Path) -> None:
        if self.run({"op": "build", "workspace": str(path)})["exit"] != 0:
            raise RuntimeError(f"building the template workspace {path} failed (see stderr)")

    def run_import(self, path: Path, batch: tuple[Path, Path], *, kill_after: float | None = None,
                   once_live: bool = False) -> dict:
        """Import ``batch``; ``once_live`` counts ``kill_after`` from the moment its tables go live."""
        current = path / "data" / "tables" / "CURRENT"
        before = current.read_bytes() if current.exists() else b""
        went_live = (lambda: current.exists() and current.read_bytes() != before) if once_live else None
        return self.run({"op": "import", "workspace": str(path), "calls": str(batch[0]),
                         "utterances": str(batch[1])}, kill_after=kill_after, once=went_live)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------------------------- the checks
@dataclass
class WorkspaceState:
    """What a user of the workspace sees, as counts."""

    calls: frozenset
    unembedded: int
    unscored: int
    pending: int
    tags: int
    read_error: str = ""

    def complete(self, expected_calls: frozenset) -> bool:
        return self.calls == expected_calls and not (self.unembedded or self.unscored or self.pending)


def inspect(path: Path) -> WorkspaceState:
    """Open the workspace as a new reader does and count what is missing."""
    from workbench.core.errors import WorkbenchError
    from workbench.embedding.cache import EmbeddingCache
    from workbench.workspace import Workspace

    ws = Workspace(path)
    try:
        calls = frozenset(ws.calls["call_id"].to_list())
        _, missing = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id).lookup(ws.sentences["text"].to_list())
        unscored = 0
        for tracker in ws.active_trackers():
            unscored += len(calls - set(tracker.results().calls["call_id"].to_list()))
        pending = ws.store.query_one("SELECT COUNT(*) AS n FROM activation_pending")["n"]
        tags = ws.store.query_one("SELECT COUNT(*) AS n FROM tags")["n"]
        error = ""
        try:
            ws.embeddings()
        except WorkbenchError as exc:
            error = str(exc)
    finally:
        # Closed here, not whenever the garbage collector gets to it: closing the last
        # connection checkpoints SQLite's WAL and deletes its -wal and -shm files, which made a
        # copy of the template taken meanwhile fail (shutil.Error: No such file, session 13).
        ws.store.close()
    return WorkspaceState(calls, int(missing.sum()), unscored, int(pending), int(tags), error)


@dataclass
class KillReport:
    """The figures of ``run_import_kills``, one entry per problem in ``problems``."""

    cases: int = 0
    kills: int = 0                 # imports actually killed (not finished before the signal)
    absent_after_kill: int = 0     # killed before its calls went live: the workspace as before
    live_after_kill: int = 0       # killed after: all calls live (their scoring may be pending)
    survived: int = 0              # cases as before or complete after one re-run, all checks passed
    tags_lost: int = 0
    unembedded_after_kill: int = 0  # sentences of the live generation without a vector, right after a kill
    unembedded_after_heal: int = 0
    unscored_after_heal: int = 0   # live calls an active tracker has not scored, after the re-run
    failed_reads: int = 0          # reads of the killed workspace that raised
    import_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        """The figures for benchmarks/reliability.py."""
        return {"cases": self.cases, "kills": self.kills, "kills_survived": self.survived,
                "absent_after_kill": self.absent_after_kill, "live_after_kill": self.live_after_kill,
                "tags_lost": self.tags_lost, "unembedded_after_kill": self.unembedded_after_kill,
                "unembedded_after_heal": self.unembedded_after_heal,
                "unscored_after_heal": self.unscored_after_heal, "failed_reads": self.failed_reads,
                "import_seconds": round(self.import_seconds, 2), "problems": len(self.problems)}


def run_import_kills(workdir: Path, n_kills: int = 20, *, seed: int = 14, worker: ImportWorker | None = None) -> KillReport:
    """SIGKILL imports at random moments of their measured duration until ``n_kills`` were killed
    before they finished (at most 3 * n_kills cases: an import that runs faster than the
    slower of its two reference runs finishes before a kill drawn late in its last slices); after each, check the killed workspace,
    re-run the import once and check it again. Returns the counts."""
    workdir = Path(workdir)
    own = worker is None
    worker = worker or ImportWorker()
    try:
        template = workdir / "template"
        worker.build(template)
        batch = write_batch(workdir / "batch", NEW_CALLS, start=100)
        before = inspect(template)
        seconds = []
        for name in ("reference", "reference-2"):  # two, as the time of one varies with the load
            shutil.copytree(template, workdir / name)
            seconds.append(worker.run_import(workdir / name, batch)["seconds"])
        expected = inspect(workdir / "reference").calls
        report = KillReport(import_seconds=max(seconds))
        rng = random.Random(seed)
        for case in range(3 * n_kills):
            if report.kills >= n_kills:
                break
            path = workdir / f"case-{case:02d}"
            shutil.copytree(template, path)
            if case % 4 == 3:  # the short last step: the calls are live, the trackers scoring them
                outcome = worker.run_import(path, batch, kill_after=rng.uniform(0.0, 0.03), once_live=True)
            else:  # a random moment in one of n equal slices of the import: every part of it is hit
                kill_after = report.import_seconds * (case % n_kills + rng.random()) / n_kills
                outcome = worker.run_import(path, batch, kill_after=kill_after)
            _check_case(report, case, path, outcome, before, expected, worker, batch)
            shutil.rmtree(path, ignore_errors=True)
        return report
    finally:
        if own:
            worker.close()


def _check_case(report: KillReport, case: int, path: Path, outcome: dict, before: WorkspaceState,
                expected: frozenset, worker: ImportWorker, batch: tuple[Path, Path]) -> None:
    report.cases += 1
    report.kills += bool(outcome["killed"])
    killed = inspect(path)
    problems = []
    report.absent_after_kill += killed.calls == before.calls
    report.live_after_kill += killed.calls == expected
    if killed.calls not in (before.calls, expected):
        problems.append(f"{len(killed.calls)} live calls: neither the {len(before.calls)} before nor all {len(expected)}")
    report.unembedded_after_kill += killed.unembedded
    report.failed_reads += bool(killed.read_error)
    if killed.unembedded or killed.read_error:
        problems.append(f"{killed.unembedded} live sentences without an embedding after the kill: {killed.read_error}")
    rerun = worker.run_import(path, batch)
    healed = inspect(path)
    report.tags_lost += max(0, before.tags - healed.tags)
    report.unembedded_after_heal += healed.unembedded
    report.unscored_after_heal += healed.unscored
    if rerun["exit"] != 0 or not healed.complete(expected) or healed.tags < before.tags:
        problems.append(f"after one re-run (exit {rerun['exit']}): {len(healed.calls)} of {len(expected)} calls, "
                        f"{healed.unembedded} sentences unembedded, {healed.unscored} calls unscored, "
                        f"{healed.pending} pending, {healed.tags} of {before.tags} tags")
    if problems:
        report.problems.append(f"case {case} (killed={outcome['killed']}): " + "; ".join(problems))
    else:
        report.survived += 1


# ---------------------------------------------------------------------------------- the reader
def read_until(path: Path, stop_file: Path) -> None:
    """Open the workspace again and again (as a new page or kernel does) and read what needs
    embeddings and results, until ``stop_file`` exists; print the counts as JSON."""
    from workbench.workspace import Workspace

    reads, failures, first = 0, 0, ""
    _say({"ready": True})
    while not stop_file.exists():
        reads += 1
        try:
            ws = Workspace(path)
            ws.embeddings()
            for tracker in ws.active_trackers():
                tracker.results()
        except Exception as exc:  # any failure is what this reader counts
            failures += 1
            first = first or f"{type(exc).__name__}: {exc}"
    _say({"reads": reads, "failures": failures, "first_error": first})


def run_reads_during_imports(workdir: Path, n_imports: int = 3, *, worker: ImportWorker | None = None) -> dict:
    """A reader process opens the workspace again and again while ``n_imports`` imports embed
    and publish; returns the reads made, the reads that failed (the first error) and what the
    workspace lacks at the end."""
    workdir = Path(workdir)
    own = worker is None
    worker = worker or ImportWorker()
    try:
        worker.build(workdir / "template")
        path = workdir / "ws"
        shutil.copytree(workdir / "template", path)
        stop = workdir / "stop"
        reader = start_reader(path, stop)
        exits = []
        try:
            for i in range(n_imports):
                batch = write_batch(workdir / f"batch-{i}", NEW_CALLS, start=200 + 10 * i)
                exits.append(worker.run_import(path, batch)["exit"])
        finally:
            reads = finish_reader(reader, stop)
        state = inspect(path)
        return {"imports": n_imports, "failed_imports": sum(e != 0 for e in exits), "reads": reads["reads"],
                "failed_reads": reads["failures"], "first_error": reads["first_error"], "calls": len(state.calls),
                "unembedded": state.unembedded, "unscored": state.unscored, "pending": state.pending}
    finally:
        if own:
            worker.close()


def start_reader(path: Path, stop_file: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.import_kills", "read", str(path), str(stop_file)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    if not json.loads(proc.stdout.readline() or "{}").get("ready"):
        raise RuntimeError("the reader did not start")
    return proc


def finish_reader(proc: subprocess.Popen, stop_file: Path) -> dict:
    stop_file.touch()
    out, _ = proc.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    elif sys.argv[1] == "read":
        read_until(Path(sys.argv[2]), Path(sys.argv[3]))
