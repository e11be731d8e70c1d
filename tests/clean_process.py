"""Scoring a registered version in a process where the workbench cannot be imported: what shows that
a logged model loads and scores with MLflow (and, for text, sentence-transformers) alone.

One such process serves a test session: most of a fresh interpreter's time goes to importing
MLflow and torch, ~15 s each time on a busy core, and four checks paid it four times. The process
never imports the workbench (blocked from its start, as it was in each fresh process); a check
that blocks more (scikit-learn, joblib) is refused by it once an earlier check imported those,
and then runs in a fresh process of its own, so every check still sees the modules it blocks
unimportable."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ALWAYS_BLOCKED = ("workbench",)

SCORER = textwrap.dedent(
    """
    import json, sys, traceback
    # The logged model must not need the workbench: importing it fails here from the start.
    for blocked in json.loads(sys.argv[1]):
        sys.modules[blocked] = None

    def imported(name):
        return any(m is not None and (k == name or k.startswith(name + ".")) for k, m in sys.modules.items())

    def score(request):
        import mlflow, numpy as np, pandas as pd
        mlflow.set_tracking_uri(request["tracking_uri"])
        mlflow.set_registry_uri(request["tracking_uri"])
        model = mlflow.pyfunc.load_model(f"models:/{request['model_name']}@published")
        out = model.predict(pd.DataFrame({"text": request["texts"], "embedding": request["embeddings"]}))
        given = [e for e in request["embeddings"] if e is not None]
        fast = model.unwrap_python_model().score_embeddings(np.asarray(given, dtype=np.float64).reshape(len(given), -1))
        return {"score": out["score"].tolist(), "detected": out["detected"].tolist(), "fast": fast.tolist()}

    def answer(result):  # marked, as a library may print to stdout too
        print("ANSWER " + json.dumps(result), flush=True)

    for line in sys.stdin:
        request = json.loads(line)
        # What an earlier check imported cannot be made unimportable again: the caller starts afresh.
        refused = [name for name in request["blocked"] if imported(name)]
        if refused:
            answer({"refused": refused})
            continue
        for name in request["blocked"]:
            sys.modules[name] = None
        try:
            answer(score(request))
        except Exception:
            answer({"error": traceback.format_exc()})
        finally:  # blocked for this check only
            for name in request["blocked"]:
                del sys.modules[name]
    """
)

_session: subprocess.Popen | None = None


def _start() -> subprocess.Popen:
    """A new scoring process, in a folder of its own (its error output goes to a file there: a pipe
    nobody reads would fill with warnings and stop it)."""
    folder = Path(tempfile.mkdtemp(prefix="workbench-scoring-"))
    # Neither our MLflow settings nor our source folder: the model finds what it needs by itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    with open(folder / "stderr.txt", "w") as errors:
        process = subprocess.Popen([sys.executable, "-c", SCORER, json.dumps(list(ALWAYS_BLOCKED))], cwd=folder,
                                   env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
    process.folder = folder
    return process


def _ask(process: subprocess.Popen, request: dict) -> dict:
    process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    for line in process.stdout:
        if line.startswith("ANSWER "):
            return json.loads(line[len("ANSWER "):])
    process.wait(timeout=60)  # it exited: its error output says why
    raise AssertionError(f"the scoring process exited ({process.returncode}): "
                         f"{(process.folder / 'stderr.txt').read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(process.folder, ignore_errors=True)


def score_without_the_workbench(registry, model_name: str, texts: list, embeddings: list,
                                blocked: tuple[str, ...] = ALWAYS_BLOCKED) -> dict:
    """The published version of ``model_name`` in ``registry``, loaded with MLflow and scoring
    ``texts`` (None where the row gives its embedding) and ``embeddings``, in a process where the
    workbench and the modules ``blocked`` cannot be imported: the session's scoring process, or a
    fresh one where that process already imported one of ``blocked``. Returns ``score``,
    ``detected`` (predict) and ``fast`` (score_embeddings on the given embeddings)."""
    global _session
    request = {"tracking_uri": registry.tracking_uri, "model_name": model_name, "texts": texts,
               "embeddings": embeddings, "blocked": [b for b in blocked if b not in ALWAYS_BLOCKED]}
    if _session is None or _session.poll() is not None:
        _session = _start()
        atexit.register(_stop, _session)
    answer = _ask(_session, request)
    if "refused" in answer:
        fresh = _start()
        try:
            answer = _ask(fresh, request)
        finally:
            _stop(fresh)
    assert "error" not in answer, answer.get("error")
    return answer
