"""A workspace is shared by copying its folder: the copy must work on its own, with the original
deleted, and keep no trace of where it came from (workspace item 3 of issue 14)."""
from __future__ import annotations

import shutil
import sqlite3
import zipfile

from tests.activation.conftest import AS_OF
from tests.demo_workspace import DEMO_TRACKER, tag_by_truth
from workbench.activation.bundles import read_manifest


def _files_naming(folder, needle: str) -> list[str]:
    """Files under ``folder`` whose bytes contain ``needle`` (SQLite stores text as UTF-8)."""
    data = needle.encode("utf-8")
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and data in p.read_bytes()]


def test_a_copied_workspace_works_after_the_original_is_deleted(live_ws, tracker, tmp_path, embedder):
    from workbench import Workspace

    tag_by_truth(tracker, tracker.next_round())
    tracker.train()  # version 3, whose files exist only in this folder
    original = live_ws.path.resolve()
    moved = tmp_path / "moved" / "ws"
    shutil.copytree(original, moved)
    del tracker, live_ws
    shutil.rmtree(original)

    ws = Workspace(moved, model=embedder)
    t = ws.tracker(DEMO_TRACKER)
    assert ws.registry.relocation is not None
    assert str(original) in ws.registry.relocation.note
    tag_by_truth(t, t.next_round())
    t.train()
    assert list(t.versions()["version"]) == [1, 2, 3, 4]
    for version in (1, 2, 3, 4):
        assert ws.registry.linear_model(DEMO_TRACKER, version=version).embedding_dim > 0
    result = t.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert result.version == 4 and t.is_active
    t.publish(3)  # the version trained in the original folder, re-applied to the history
    assert t.published_version == 3
    bundle = t.export_bundle(tmp_path / "discount", version=3)
    assert read_manifest(bundle)["version"] == 3
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
    assert _files_naming(moved / "mlruns", str(original)) == []
