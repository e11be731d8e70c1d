"""The Spark engine: the same backfill through a real local Spark session gives the same results."""
from __future__ import annotations

import shutil

import pytest

from tests.activation.conftest import AS_OF

pytest.importorskip("pyspark", reason="the optional extra 'spark' (pyspark) is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 (not found on PATH)")
    from workbench.activation.spark import session

    # One executor core: the suite runs two pytest workers on two cores, and every Python
    # worker Spark starts loads torch and the encoder (benchmarks/spark_embedding.py compares
    # local[1] with local[2]).
    s = session("local[1]")
    yield s
    s.stop()


def test_spark_backfill_equals_the_local_engine(live_ws, tracker, spark):
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    local = tracker.results()
    result = tracker.activate(12, as_of=AS_OF, progress=False, verbose=False, engine="spark", spark=spark)
    assert result.engine == "spark" and result.sentences_scored == int(local.calls["sentences"].sum())
    remote = tracker.results()
    a, b = local.detections.sort("sentence_id"), remote.detections.sort("sentence_id")
    assert a.height > 0 and a["sentence_id"].to_list() == b["sentence_id"].to_list()
    assert (a["score"] - b["score"]).abs().max() < 1e-6
    cols = ["call_id", "sentences", "mentions"]
    assert local.calls.select(cols).sort("call_id").equals(remote.calls.select(cols).sort("call_id"))
    assert not (live_ws.data_dir / ".spark-staging").exists() or not any((live_ws.data_dir / ".spark-staging").iterdir())


def _drop_embeddings(ws, texts: set) -> int:
    """Remove ``texts``' vectors from the workspace's cache (the others kept as they are), as in a
    workspace that embedded only a sample; returns how many were removed."""
    from workbench.embedding.cache import EmbeddingCache

    cache = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id)
    every = ws.sentences["text"].unique(maintain_order=True).to_list()
    vectors, missing = cache.lookup(every)
    assert not missing.any()
    keep = [i for i, t in enumerate(every) if t not in texts]
    shutil.rmtree(cache.path)
    shutil.rmtree(ws.embeddings_dir / "matrix", ignore_errors=True)
    EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id).add([every[i] for i in keep], vectors[keep])
    return len(every) - len(keep)


def test_spark_scores_from_texts_equal_the_local_engine(live_ws, tracker, spark, tmp_path):
    """The executors embed texts with the tracker's encoder and score them in the same pass: every
    sentence's score as the local engine's (from the float16 cache), to 1e-5. Sentences the
    workspace has no embedding of go as texts without being asked (a workspace that embedded a
    sample); and `activate(engine="spark", from_texts=True)` stores the local engine's detections."""
    import numpy as np
    import polars as pl

    from workbench.activation.scorer import load_scorer
    from workbench.activation.spark import spark_sentence_scores
    from workbench.embedding.matrix import SentenceMatrix

    ctx = live_ws.services.activation.ctx
    version = tracker.versions()["version"].max()
    sentences = ctx.sentences.with_row_index("_row")
    local = load_scorer(ctx.registry, tracker.name, version).score(SentenceMatrix(ctx).view(), sentences["_row"].to_numpy())
    # A few hundred sentences: the 3 calls with the highest scores (the detections among them).
    top = sentences.with_columns(pl.Series("score", local[0])).group_by("call_id").agg(pl.col("score").max())
    calls = top.sort("score", descending=True)["call_id"].head(3)
    scope = sentences.filter(pl.col("call_id").is_in(calls.implode()))
    expected = local[0][scope["_row"].to_numpy()], local[1][scope["_row"].to_numpy()]
    assert 100 < scope.height < 600 and expected[1].any() and not expected[1].all()

    from_texts = spark_sentence_scores(ctx, tracker.name, version, scope, spark=spark, from_texts=True)
    assert from_texts["sentence_id"].to_list() == scope["sentence_id"].cast(pl.Int64).to_list()
    assert np.abs(from_texts["score"].to_numpy() - expected[0]).max() < 1e-5
    assert np.array_equal(from_texts["detected"].to_numpy(), expected[1])

    # The sentences of two of the three calls lose their embeddings.
    assert _drop_embeddings(live_ws, set(scope.filter(pl.col("call_id") != calls[0])["text"].to_list())) > 50
    # Through a staging URI, as on a cluster: Spark writes and reads it, in a folder of the job's own.
    mixed = spark_sentence_scores(ctx, tracker.name, version, scope, spark=spark, staging=tmp_path / "shared")
    assert np.abs(mixed["score"].to_numpy() - expected[0]).max() < 1e-5
    assert np.array_equal(mixed["detected"].to_numpy(), expected[1])
    assert not any((live_ws.data_dir / ".spark-staging").iterdir())
    (job,) = (tmp_path / "shared").iterdir()
    assert {p.name for p in job.iterdir()} == {"input", "scores"}


def test_spark_backfill_from_texts_stores_the_local_engines_detections(live_ws, tracker, spark):
    from workbench.core.errors import ValidationError

    with pytest.raises(ValidationError, match="from_texts"):
        tracker.activate(2, as_of=AS_OF, progress=False, verbose=False, from_texts=True)
    tracker.activate(2, as_of=AS_OF, progress=False, verbose=False)
    local = tracker.results()
    result = tracker.activate(2, as_of=AS_OF, progress=False, verbose=False, engine="spark", spark=spark,
                              from_texts=True)
    remote = tracker.results()
    assert result.engine == "spark" and result.sentences_scored == int(local.calls["sentences"].sum()) > 100
    a, b = local.detections.sort("sentence_id"), remote.detections.sort("sentence_id")
    assert a.height > 0 and a["sentence_id"].to_list() == b["sentence_id"].to_list()
    assert (a["score"] - b["score"]).abs().max() < 1e-5
    cols = ["call_id", "sentences", "mentions"]
    assert local.calls.select(cols).sort("call_id").equals(remote.calls.select(cols).sort("call_id"))


def test_embed_on_spark_fills_the_cache_as_the_local_embedder(live_ws, spark, tmp_path):
    """`ws.embed(engine="spark")` stores, for the texts that have no embedding, the vectors the
    local embedder stores, bit for bit (both embed texts of one token length together, so a
    vector does not depend on the other texts of its task or chunk), under the same model id; a
    local `ws.embed()` then has nothing left to do."""
    import polars as pl

    from workbench.core.errors import ValidationError
    from workbench.embedding.cache import EmbeddingCache

    every = live_ws.sentences["text"].unique(maintain_order=True).to_list()
    before, _ = EmbeddingCache(live_ws.embeddings_dir, live_ws.embedder.model_id).lookup(every)
    calls = live_ws.calls["call_id"].head(3)
    dropped = _drop_embeddings(live_ws, set(live_ws.sentences.filter(pl.col("call_id").is_in(calls.implode()))["text"]))
    assert dropped > 100 and live_ws.embedded_count() < live_ws.sentences.height

    # Through a staging URI, as on a cluster (the vectors come back through Spark, in row ranges).
    assert live_ws.embed(engine="spark", spark=spark, staging=tmp_path / "shared") == dropped
    after, missing = EmbeddingCache(live_ws.embeddings_dir, live_ws.embedder.model_id).lookup(every)
    assert not missing.any()
    assert (after == before).all()
    assert live_ws.embed(progress=False) == 0 and live_ws.embedded_count() == live_ws.sentences.height
    assert live_ws.embed(engine="spark", spark=spark) == 0  # nothing left: no Spark job at all
    with pytest.raises(ValidationError, match="engine"):
        live_ws.embed(engine="dask")
    assert not (live_ws.data_dir / ".spark-staging").exists()


def test_embed_on_spark_runs_the_workspaces_onnx_graph(tmp_path, spark, embedder):
    """A workspace on ONNX Runtime (a new one's default) embeds on Spark with the graph its local
    embedder runs: the cache then holds the local vectors bit for bit, never torch's."""
    import numpy as np
    import polars as pl

    from tests.conftest import tiny_corpus
    from workbench.embedding.cache import EmbeddingCache
    from workbench.embedding.embedder import Embedder, embed_texts
    from workbench.embedding.onnx_encoder import onnx_missing
    from workbench.workspace import Workspace

    if onnx_missing() is not None:
        pytest.skip(f"onnx backend: {onnx_missing()}")
    ws = Workspace(tmp_path / "onnx-ws")
    assert ws.embedding_backend == "onnx"
    calls, utts = tiny_corpus(4)
    said = ["ok", "Sounds good.", "Could you do any better on the price?", "Is there a discount for two years?",
            "We need to talk to legal before we sign the order form this week.", "yes"]
    utts = utts.with_columns(pl.Series("text", [said[i % len(said)] + f" Line {i}." * (i % 3) for i in range(utts.height)]))
    ws.import_calls(calls, utts, embed=False)
    texts = ws.sentences["text"].unique(maintain_order=True).to_list()
    assert ws.embed(engine="spark", spark=spark, all_calls=True) == len(texts) > 10
    stored, missing = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id).lookup(texts)
    assert not missing.any() and "-onnx-" in ws.embedder.model_id
    local = embed_texts(texts, None, Embedder(backend="onnx"), progress=False)
    assert np.array_equal(stored, local)
    torch = embed_texts(texts, None, embedder, progress=False)  # the suite's torch embedder
    assert not np.array_equal(stored, torch)  # it is the ONNX graph that ran, not torch


def test_embed_on_spark_from_the_command_line(live_ws, spark, capsys):
    """`workbench embed --engine spark`. Last in this file: the command stops its session, which
    is the module's (getOrCreate hands it the running one)."""
    import polars as pl

    from workbench.cli import app as cli

    call = live_ws.calls["call_id"][0]
    dropped = _drop_embeddings(live_ws, set(live_ws.sentences.filter(pl.col("call_id") == call)["text"]))
    args = cli.build_parser().parse_args(["--workspace", str(live_ws.path), "embed", "--engine", "spark",
                                          "--spark-master", "local[1]"])
    args.model = live_ws.embedder  # share the session's loaded model
    assert args.func(args) == 0
    n = live_ws.sentences.height
    assert f"Embedded {dropped:,} new distinct sentence texts; {n:,} of {n:,} sentences have embeddings." in capsys.readouterr().out
