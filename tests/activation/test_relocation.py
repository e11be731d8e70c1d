"""A workspace is shared by copying its folder: the copy must work on its own, with the original
deleted, and keep no trace of where it came from (workspace item 3 of issue 14)."""
from __future__ import annotations

import shutil
import sqlite3
import zipfile

from tests.activation.conftest import AS_OF
from tests.demo_workspace import DEMO_TRACKER, build, demo_workspace, tag_by_truth
from workbench.activation.bundles import read_manifest


def _files_naming(folder, needle: str) -> list[str]:
    """Files under ``folder`` whose bytes contain ``needle`` (SQLite stores text as UTF-8)."""
    data = needle.encode("utf-8")
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and data in p.read_bytes()]


def _columns_naming(db, needle: str) -> set[tuple[str, str]]:
    """(table, column) of a SQLite database whose values contain ``needle``."""
    con = sqlite3.connect(db)
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {(t, c) for t in tables for (_, c, *_) in con.execute(f'PRAGMA table_info("{t}")')
                if con.execute(f'SELECT 1 FROM "{t}" WHERE instr(CAST("{c}" AS TEXT), ?) LIMIT 1',
                               (needle,)).fetchone()}
    finally:
        con.close()


def test_a_copied_workspace_works_after_the_original_is_deleted(tmp_path_factory, tmp_path, embedder, request):
    from workbench import Workspace

    # A workspace built in place (not a copy of the session's template, whose store would still
    # name the template): versions 1 and 2 are stored only in this folder.
    template = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    embeddings = shutil.copytree(template / "data" / "embeddings", tmp_path / "embeddings")
    original = build(tmp_path / "original", embedder, embedding_cache=embeddings).resolve()
    moved = tmp_path / "moved" / "ws"
    shutil.copytree(original, moved)
    shutil.rmtree(original)

    ws = Workspace(moved, model=embedder)
    t = ws.tracker(DEMO_TRACKER)
    assert ws.registry.relocation is not None
    assert str(original) in ws.registry.relocation.note
    tag_by_truth(t, t.next_round())
    t.train()
    assert list(t.versions()["version"]) == [1, 2, 3]
    for version in (1, 2, 3):
        assert ws.registry.linear_model(DEMO_TRACKER, version=version).embedding_dim > 0
    result = t.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert result.version == 3 and t.is_active
    t.publish(2)  # a version trained in the original folder, re-applied to the history
    assert t.published_version == 2
    bundle = t.export_bundle(tmp_path / "discount", version=1)
    assert read_manifest(bundle)["version"] == 1
    with zipfile.ZipFile(bundle) as zf:
        assert "version/model/MLmodel" in zf.namelist()
        assert str(original).encode() not in zf.read("version/model/MLmodel")

    # Reopening finds the store already at home and changes nothing.
    again = Workspace(moved, model=embedder)
    assert again.registry.relocation is None

    con = sqlite3.connect(moved / "mlruns" / "mlflow.db")
    sources = [s for (s,) in con.execute("SELECT source FROM model_versions")]
    con.close()
    assert sources and all(s.startswith((moved / "mlruns").resolve().as_uri()) for s in sources)
    # Nothing else names the original folder: no file byte, and in the workspace's own database
    # only the import log, which records where each import read its files from (history, not
    # a location anything is loaded from).
    db = moved / "data" / "workbench.sqlite"
    assert [f for f in _files_naming(moved, str(original)) if not f.startswith(db.name, len("data/"))] == []
    assert _columns_naming(db, str(original)) <= {("imports", "calls_source"), ("imports", "utterances_source")}


def test_the_mlflow_ui_started_on_a_copy_serves_the_copy(tmp_path_factory, tmp_path, embedder, request):
    """`workbench mlflow` on a copied folder: the server's model versions and their artifacts are
    the copy's, before anything else has opened it (the UI's start rewrites the locations)."""
    import json
    import re
    import urllib.request

    from workbench.registry.versions import registered_model_name
    from workbench.serve.servers import start_mlflow_ui

    template = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    copy = tmp_path / "copy"
    shutil.copytree(template, copy, ignore=shutil.ignore_patterns("*.lock"))
    model = registered_model_name(DEMO_TRACKER)
    with start_mlflow_ui(copy / "mlruns") as server:
        url = f"{server.base_url}/api/2.0/mlflow/model-versions/search?filter=" + urllib.request.quote(
            f"name='{model}'")
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        versions = json.loads(body)["model_versions"]
        assert sorted(int(v["version"]) for v in versions) == [1, 2]
        locations = re.findall(r"file://[^\"]+", body)
        home = (copy / "mlruns").resolve().as_uri()
        assert locations and all(loc.startswith(home) for loc in locations), locations
        assert str(template.resolve()) not in body
        # A version's files download from the copy through the server's artifact API.
        model_file = next((copy / "mlruns" / "artifacts").rglob("MLmodel"))
        relative = model_file.relative_to(copy / "mlruns" / "artifacts").as_posix()
        got = urllib.request.urlopen(f"{server.base_url}/api/2.0/mlflow-artifacts/artifacts/{relative}",
                                     timeout=30).read()
        assert got == model_file.read_bytes() and str(template.resolve()).encode() not in got
