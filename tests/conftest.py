"""Fixtures shared by the suite. Corpora are built by code; the real datasets come from ../shared."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from workbench.core.settings import use_offline_environment

use_offline_environment()  # models load offline in every test, however a test loads them

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WORKBENCH_SHARED", REPO.parent / "shared")) / "datasets"


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or skip the test with the reason."""
    path = SHARED / name
    if not (path / "calls.parquet").exists():
        pytest.skip(f"needs the shared dataset {path} (absent in a user's clone; set WORKBENCH_SHARED)")
    return path


def tiny_corpus(n_calls: int = 6, *, start: int = 0, utterances_per_call: int = 6) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A small, valid corpus: alternating company and customer turns, a few with two sentences."""
    lines = [
        ("company", "Thanks for joining today. This call is being recorded."),
        ("customer", "Happy to be here."),
        ("company", "What are the biggest challenges your team faces?"),
        ("customer", "Honestly the price is too high for us. Can you do a better price?"),
        ("company", "Let's set up a follow-up next Tuesday."),
        ("customer", "Sounds good, talk then."),
    ]
    calls, utts = [], []
    base = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.timezone.utc)
    for i in range(start, start + n_calls):
        cid = f"call-{i:04d}"
        # Weekly for the first 40 calls, then hourly: later calls (start=500) stay in order but
        # in the past, since the import refuses dates after now + 1 day.
        started_at = base + dt.timedelta(days=7 * min(i, 40), hours=max(0, i - 40))
        calls.append({
            "call_id": cid, "started_at": started_at, "duration_s": 60.0 * utterances_per_call,
            "title": f"Call {i}", "is_external": i % 5 != 4, "team": ["EMEA", "NA", "APAC"][i % 3],
            "rep": f"rep-{i % 4}", "deal_stage": ["Discovery", "Demo", None][i % 3], "channel": "call",
        })
        t = 0.0
        for u in range(utterances_per_call):
            side, text = lines[u % len(lines)]
            utts.append({"call_id": cid, "utterance_id": u, "speaker": "Dana" if side == "company" else "Sam",
                         "side": side, "start_s": t, "end_s": t + 5.0, "text": text})
            t += 6.0
    return pl.DataFrame(calls), pl.DataFrame(utts)


@pytest.fixture
def corpus_files(tmp_path: Path) -> tuple[Path, Path]:
    calls, utts = tiny_corpus()
    cp, up = tmp_path / "calls.parquet", tmp_path / "utterances.parquet"
    calls.write_parquet(cp)
    utts.write_parquet(up)
    return cp, up


@pytest.fixture(scope="session")
def embedder():
    """The real offline model, loaded once per session (and shared with the notebook checks)."""
    from tests.demo_workspace import session_embedder

    return session_embedder()


@pytest.fixture(scope="session")
def demo_workspace_template(tmp_path_factory, embedder, request) -> Path:
    """A small embedded demo workspace (150 calls), built once per session; copy it before changing it.

    Its embeddings are kept in pytest's cache between sessions (as tests/demo_workspace.py does):
    the demo's sentences are nearly all distinct, so embedding them is most of the fixture's time.
    It has the 60-call demo workspace's seed (tests/demo_workspace.py), so about 80% of that one's
    sentences are sentences of this one too: in a fresh run they are embedded once, by whichever
    worker comes first (embed_sharing), and this one embeds its other calls first."""
    import shutil

    from tests.demo_workspace import KEPT_VECTORS, SEED, build_once, embed_sharing, import_demo, shared_embeddings
    from workbench.demo.generator import generate_demo
    from workbench.workspace import Workspace

    def build_into(root: Path) -> None:
        paths = generate_demo(root / "raw", n_calls=150, seed=SEED, end_date=dt.date(2026, 11, 1))
        ws = Workspace(root / "ws", model=embedder)
        ws.import_calls(paths.calls, paths.utterances, embed=False)
        cache = getattr(request.config, "cache", None)
        kept = cache.mkdir(f"workbench-demo-embeddings-150-{SEED}-{KEPT_VECTORS}") if cache is not None else None
        if kept is not None:
            shutil.copytree(kept, ws.embeddings_dir, dirs_exist_ok=True)
        # The 60-call corpus's sentences, imported but not embedded (a second or two), so that
        # the two workers embed the texts they share from opposite ends (embed_sharing).
        reference = import_demo(root / "reference", embedder).sentences["text"].to_list()
        embed_sharing(ws, shared_embeddings(tmp_path_factory), reference_texts=reference)
        if kept is not None:  # only this corpus's texts, so the cache does not grow with every change
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(ws.embeddings_dir, kept)

    return build_once(tmp_path_factory, "demo-template", build_into)


@pytest.fixture
def demo_ws(demo_workspace_template, tmp_path, embedder):
    """A private copy of the embedded demo workspace (150 calls), with its ground truth folder."""
    import shutil

    from workbench.workspace import Workspace

    shutil.copytree(demo_workspace_template / "ws", tmp_path / "ws")
    ws = Workspace(tmp_path / "ws", model=embedder)
    ws.raw_demo = demo_workspace_template / "raw"
    return ws
