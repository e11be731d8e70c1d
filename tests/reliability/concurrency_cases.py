"""Real processes writing the same tracker at once: examples, rounds and tags (issue 14, item 8).

``hammer(workspace, ...)`` starts ``workers`` Python processes on one workspace. Each opens it,
waits for a common start signal (a file), then adds examples to one tracker (a text of its own
and a text every worker adds), asks another tracker for its next round and tags what it got.
It reports every exception it saw by class and message. The counts say whether concurrent
callers got a raw sqlite error, lost or doubled an example, or saw different rounds.

Used by tests/reliability/test_concurrency.py and by benchmarks/reliability.py
(``hammer(...).as_dict()``). Run a worker by hand with
``python -m tests.reliability.concurrency_cases WORKSPACE ROUND_TRACKER EXAMPLE_TRACKER INDEX ADDS GO_FILE``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_TEXT = "Could we agree on a lower price for the first {i} months?"  # every worker adds these


@dataclass
class HammerCounts:
    """What the concurrent callers saw, and what the workspace holds afterwards."""

    workers: int
    calls: int = 0                      # add_examples and next_round calls made
    raw_sqlite_errors: list[str] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    retryable_errors: int = 0           # ConcurrentChangeError: clear, and nothing written
    refused_duplicates: int = 0         # ValidationError: the shared text was already there
    examples_expected: int = 0
    examples_stored: int = 0
    examples_duplicated: int = 0
    example_positions_ok: bool = True   # 0..n-1, no gap
    rounds_seen: list[int] = field(default_factory=list)
    rounds_stored: list[int] = field(default_factory=list)
    tags_lost: int = 0

    @property
    def ok(self) -> bool:
        return (not self.raw_sqlite_errors and not self.other_errors and self.examples_duplicated == 0
                and self.examples_stored == self.examples_expected and self.example_positions_ok
                and len(set(self.rounds_seen)) == 1 and self.rounds_stored == list(range(1, len(self.rounds_stored) + 1))
                and self.tags_lost == 0)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def hammer(workspace: Path, round_tracker: str, example_tracker: str, *, workers: int = 4, adds: int = 8,
           timeout: float = 120.0) -> HammerCounts:
    """Run ``workers`` processes at once on ``workspace`` and count what went wrong (see module)."""
    go = Path(workspace) / f".hammer-go-{os.getpid()}"
    go.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.concurrency_cases", str(workspace), round_tracker, example_tracker,
         str(i), str(adds), str(go)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(workers)]
    ready = [Path(f"{go}.ready-{i}") for i in range(workers)]
    deadline = time.monotonic() + timeout
    while not all(r.exists() for r in ready) and time.monotonic() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    go.touch()  # every worker has imported and opened the workspace: start them together
    counts = HammerCounts(workers=workers)
    for p in procs:
        out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        report = _report(out)
        if report is None:
            counts.other_errors.append(f"worker exited {p.returncode}: {err.strip()[-400:]}")
            continue
        counts.calls += report["calls"]
        counts.retryable_errors += report["retryable"]
        counts.refused_duplicates += report["duplicates"]
        counts.raw_sqlite_errors += report["sqlite"]
        counts.other_errors += report["other"]
        counts.rounds_seen += report["rounds"]
    for r in ready:
        r.unlink(missing_ok=True)
    go.unlink(missing_ok=True)
    _check_workspace(counts, workspace, round_tracker, example_tracker, workers, adds)
    return counts


def _report(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.startswith("REPORT ")]
    return json.loads(lines[-1][len("REPORT "):]) if lines else None


def _check_workspace(counts: HammerCounts, workspace: Path, round_tracker: str, example_tracker: str,
                     workers: int, adds: int) -> None:
    from workbench import Workspace

    ws = Workspace(workspace)
    rows = ws.store.query("SELECT position, text FROM examples WHERE tracker_id=? ORDER BY position",
                          (ws.tracker(example_tracker).id,))
    texts = [r["text"] for r in rows]
    counts.examples_expected = workers * adds + adds  # each worker's own, plus the shared ones once
    counts.examples_stored = len(set(texts))
    counts.examples_duplicated = len(texts) - len(set(texts))
    counts.example_positions_ok = [r["position"] for r in rows] == list(range(len(rows)))
    t = ws.tracker(round_tracker)
    counts.rounds_stored = [r.number for r in t.rounds()]
    current = t.current_round()
    tagged = set(t.tags()["sentence_id"].to_list())
    counts.tags_lost = sum(c.sentence_id not in tagged for c in current) if current is not None else 0


def _worker(workspace: str, round_tracker: str, example_tracker: str, index: int, adds: int, go: str) -> dict:
    """One concurrent caller; returns what it saw (never raises: every error is counted)."""
    import sqlite3

    from workbench import Workspace
    from workbench.core.errors import ConcurrentChangeError, ValidationError

    ws = Workspace(workspace)
    rt, et = ws.tracker(round_tracker), ws.tracker(example_tracker)
    rt.examples, et.examples  # noqa: B018 - open the connection before the start
    Path(f"{go}.ready-{index}").touch()
    while not Path(go).exists():
        time.sleep(0.01)
    seen = {"calls": 0, "retryable": 0, "duplicates": 0, "sqlite": [], "other": [], "rounds": []}

    def attempt(fn):
        seen["calls"] += 1
        try:
            return fn()
        except ConcurrentChangeError:
            seen["retryable"] += 1
        except ValidationError as e:
            if "duplicate" not in str(e):
                raise
            seen["duplicates"] += 1
        except sqlite3.Error as e:
            seen["sqlite"].append(f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - the report says what it was
            seen["other"].append(f"{type(e).__name__}: {e}")
        return None

    rnd = attempt(rt.next_round)
    for i in range(adds):
        attempt(lambda: et.add_examples([f"Worker {index} asks about discount number {i}?"]))
        attempt(lambda: et.add_examples([SHARED_TEXT.format(i=i)]))
    if rnd is not None:
        seen["rounds"].append(rnd.number)
        for c in rnd:
            attempt(lambda: rt.tag(c.sentence_id, "no"))
    return seen


if __name__ == "__main__":
    from workbench.core.settings import use_offline_environment

    use_offline_environment()
    ws_path, rt_name, et_name, idx, n_adds, go_file = sys.argv[1:7]
    result = _worker(ws_path, rt_name, et_name, int(idx), int(n_adds), go_file)
    print("REPORT " + json.dumps(result), flush=True)
