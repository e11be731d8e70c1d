"""One copy of each embedding (issue 16, item 4): scoring reads the float16 embedding cache through
a small index, no float32 matrix beside it; workspaces of the old layout are migrated on first use
without losing a vector, and score as before."""
from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl

from tests.activation.conftest import AS_OF
from workbench.embedding.cache import EmbeddingCache
from workbench.embedding.matrix import SentenceMatrix, storage_bytes


def _scores(tracker) -> pl.DataFrame:
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    return tracker.results().detections.select("sentence_id", "score").sort("sentence_id")


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a["sentence_id"].to_list() == b["sentence_id"].to_list() and bool((a["score"] - b["score"]).abs().max() < 1e-6)


def _write_old_layout(ws) -> None:
    """The scoring matrix as workbench wrote it before issue 16: float32 rows beside the cache."""
    matrix = SentenceMatrix(ws)
    shutil.rmtree(matrix.path, ignore_errors=True)
    matrix.path.mkdir(parents=True)
    vectors, missing = EmbeddingCache(ws.embeddings_dir, matrix.model_id).lookup(ws.sentences["text"].to_list())
    assert not missing.any()
    vectors.astype("<f4").tofile(matrix.path / "vectors.f32")
    ws.sentences["sentence_id"].to_numpy().astype("<i8").tofile(matrix.path / "ids.i64")
    (matrix.path / "state.json").write_text(json.dumps(
        {"rows": ws.sentences.height, "dim": vectors.shape[1], "model_id": matrix.model_id}))


def test_an_embedded_sentence_takes_at_most_800_bytes_on_disk(live_ws):
    SentenceMatrix(live_ws).view()  # the scoring index exists, as after any activation
    per_sentence = storage_bytes(live_ws) / live_ws.sentences.height
    # 384 float16 values and a 16-byte key in the cache, 12 bytes of index (was 2.3 KB: 0.77 + 1.5)
    assert per_sentence <= 800, f"{per_sentence:.0f} bytes per sentence"
    assert not list(SentenceMatrix(live_ws).path.glob("*.f32"))


def test_old_layout_is_migrated_on_open_without_losing_a_vector_and_scores_identically(live_ws, tracker, embedder):
    from workbench import Workspace

    before = _scores(tracker)
    assert before.height > 0
    texts = live_ws.sentences["text"].to_list()
    _write_old_layout(live_ws)
    # The cache lost the vectors of a third of the sentences: the old matrix is their only copy.
    cache_dir = EmbeddingCache(live_ws.embeddings_dir, embedder.model_id).path
    vectors, _ = EmbeddingCache(live_ws.embeddings_dir, embedder.model_id).lookup(texts)
    shutil.rmtree(cache_dir)
    kept = [i for i in range(len(texts)) if i % 3]
    EmbeddingCache(live_ws.embeddings_dir, embedder.model_id).add([texts[i] for i in kept], vectors[kept])

    ws = Workspace(live_ws.path, model=embedder)
    after = _scores(ws.tracker(tracker.name))
    assert _same(after, before)
    matrix = SentenceMatrix(ws)
    assert json.loads((matrix.path / "state.json").read_text())["format"] == 2
    assert not (matrix.path / "vectors.f32").exists() and not (matrix.path / "ids.i64").exists()
    assert ws.embedded_count() == ws.sentences.height  # the lost third is back in the cache
    np.testing.assert_array_equal(ws.embeddings(), vectors)


def test_a_kill_at_any_step_of_the_migration_leaves_a_workspace_that_scores(live_ws, tracker, embedder):
    from workbench import Workspace

    before = _scores(tracker)
    matrix = SentenceMatrix(live_ws)
    # Killed after writing the new index, before flipping state.json: the old layout is intact.
    _write_old_layout(live_ws)
    (matrix.path / "index-000007.ids").write_bytes(b"\x01" * 24)
    (matrix.path / "index-000007.rows").write_bytes(b"\x02" * 12)
    ws = Workspace(live_ws.path, model=embedder)
    assert _same(_scores(ws.tracker(tracker.name)), before)
    assert sorted(p.name for p in matrix.path.iterdir() if not p.name.startswith(".")) == [
        "index-000008.ids", "index-000008.rows", "state.json"]
    # Killed after the flip, before deleting the float32 matrix: it is deleted on the next write.
    (matrix.path / "vectors.f32").write_bytes(b"\x00" * 64)
    shutil.copy(matrix.path / "index-000008.ids", matrix.path / "ids.i64")
    ws = Workspace(live_ws.path, model=embedder)
    assert _same(_scores(ws.tracker(tracker.name)), before)
    assert not (matrix.path / "vectors.f32").exists() and not (matrix.path / "ids.i64").exists()


def test_compacting_the_cache_rebuilds_the_index_and_scores_the_same(live_ws, tracker, embedder):
    before = _scores(tracker)
    cache = EmbeddingCache(live_ws.embeddings_dir, embedder.model_id)
    # Another batch of texts, so that there are shards to merge.
    cache.add(["A sentence only the cache knows.", "And another."], np.eye(2, cache.dimension, dtype=np.float32))
    assert cache.compact(min_shards=2)
    assert _same(_scores(tracker), before)
    state = json.loads((SentenceMatrix(live_ws).path / "state.json").read_text())
    assert [name for name, _ in state["shards"]] == [p.name for p in cache.path.glob("*.shard")]
