"""Tag on a sample, apply everywhere (issue 16, item 2): a workspace that embeds and tags only a
stratified sample of its calls, and activation that scores every call.

One module fixture: the session's 60 demo calls imported again with ``sample=20``; the sample's
vectors are copied from the session's fully embedded demo workspace, so the test pays only for
what the backfill must embed (the customer sentences of the 40 other calls)."""
from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from tests.activation.conftest import AS_OF, new_calls
from tests.activation.test_cli import run
from tests.conftest import tiny_corpus
from tests.demo_workspace import DEMO_TRACKER, EXAMPLES, demo_workspace, tag_by_truth
from workbench.activation import backfill
from workbench.core.errors import ValidationError, WorkbenchError
from workbench.corpus.sample import allocate, draw_sample
from workbench.embedding.cache import EmbeddingCache
from workbench.embedding.matrix import SentenceMatrix

SAMPLE = 20


@pytest.fixture(scope="module")
def template(tmp_path_factory, embedder, request):
    return demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))


@pytest.fixture(scope="module")
def sampled(template, tmp_path_factory, embedder):
    """(workspace, tracker) of the demo calls with a tagging sample of 20, one round tagged and trained."""
    from workbench import Workspace

    raw = template / "data" / "raw" / "demo"
    ws = Workspace(tmp_path_factory.mktemp("sampled") / "ws", model=embedder)
    ws.import_calls(raw / "calls.parquet", raw / "utterances.parquet", sample=SAMPLE, progress=False)
    texts = ws._sample_sentences(ws.sentences)["text"].unique().to_list()
    vectors, missing = EmbeddingCache(template / "data" / "embeddings", embedder.model_id).lookup(texts)
    assert not missing.any()
    EmbeddingCache(ws.embeddings_dir, embedder.model_id).add(texts, vectors)
    ws.embed(progress=False)  # embeds what the sample still lacks: nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning: small on purpose
        tracker = ws.create_tracker(DEMO_TRACKER, mentioned_by="customer", examples=EXAMPLES,
                                    description="The customer asks for a lower price or a discount.")
    ws.first_round = tracker.next_round()
    for _ in range(3):
        tag_by_truth(tracker, tracker.next_round())
        if tracker._session().model() is not None:
            break
    tracker.train()
    return ws, tracker


def test_the_sample_is_stratified_by_month_and_team_and_reproducible(template):
    calls = pl.read_parquet(template / "data" / "raw" / "demo" / "calls.parquet")
    strata = calls.with_columns(pl.col("started_at").dt.strftime("%Y-%m").alias("month")).group_by("month", "team")
    sizes = strata.len().rename({"len": "size"})
    for n in (40, 20):
        ids = draw_sample(calls, n, seed=0)
        assert len(ids) == n and len(set(ids)) == n
        assert draw_sample(calls, n, seed=0) == ids  # the same seed and corpus, the same sample
        assert draw_sample(calls.reverse(), n, seed=0) == list(reversed(ids))  # row order does not matter
        got = sizes.join(calls.filter(pl.col("call_id").is_in(ids))
                         .with_columns(pl.col("started_at").dt.strftime("%Y-%m").alias("month"))
                         .group_by("month", "team").len(), on=["month", "team"], how="left").fill_null(0)
        quota = got["size"] * n / calls.height
        assert ((got["len"] - quota).abs() < 1 + 1e-9).all(), got  # proportional, to within a call
        if n >= sizes.height:  # 36 strata: a sample of 40 leaves none out
            assert (got["len"] >= 1).all()
    assert draw_sample(calls, 20, seed=1) != draw_sample(calls, 20, seed=0)
    assert draw_sample(calls, 60) == calls["call_id"].to_list()  # no more calls than the size: all of them
    # Keys by call id: a larger sample keeps (nearly) every call of a smaller one, and their tags.
    assert len(set(draw_sample(calls, 20)) & set(draw_sample(calls, 30))) >= 18
    np.testing.assert_array_equal(allocate(np.array([1, 1, 8]), 3, np.arange(3)), [1, 1, 1])
    np.testing.assert_array_equal(allocate(np.array([2, 2, 6]), 5, np.arange(3)), [1, 1, 3])


def test_only_the_sample_is_embedded_and_the_tagging_loop_stays_in_it(sampled, capsys):
    ws, tracker = sampled
    sample = ws.tagging_sample()
    assert (sample.calls, sample.corpus_calls, sample.seed) == (SAMPLE, 60, 0)
    assert repr(sample).startswith(f"The tagging sample: {SAMPLE} of 60 calls")
    assert ws.set_tagging_sample(SAMPLE).call_ids == sample.call_ids  # redrawn from the recorded seed
    in_sample = pl.col("call_id").is_in(list(sample.call_ids))
    # ws.embed() embedded the sample's texts, and no text that only calls outside it say.
    outside = set(ws.sentences.filter(~in_sample)["text"]) - set(ws.sentences.filter(in_sample)["text"])
    _, missing = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id).lookup(sorted(outside))
    assert outside and missing.all()
    assert ws.sentences.filter(in_sample).height <= ws.embedded_count() < ws.sentences.height
    # The scoring index over such a workspace (what the Spark engine reads) holds what has a vector.
    view = SentenceMatrix(ws).view()
    rows = ws.sentences.with_row_index("_row")
    assert view.embeddings(rows.filter(in_sample)["_row"].head(3).to_numpy()).shape == (3, view.dim)
    with pytest.raises(WorkbenchError, match="not in the scoring index"):
        view.embeddings(rows.filter(pl.col("text").is_in(sorted(outside)))["_row"].head(1).to_numpy())
    assert {c.call_id for c in ws.first_round} <= set(sample.call_ids)
    frame = tracker._scope_arrays().frame
    assert set(frame["call_id"]) <= set(sample.call_ids)
    assert frame.height == tracker.scope(training=True).filter(in_sample).height
    assert tracker.performance().population == frame.height
    assert set(tracker.sample_detections(10)["call_id"]) <= set(sample.call_ids)
    assert set(tracker.detections()["call_id"]) <= set(sample.call_ids)
    assert run(ws, "performance", tracker.name) == 0  # the overview says the same (FiguresBasis.lines)
    assert f"These figures rest on a sample of {SAMPLE} of 60 calls" in capsys.readouterr().out


def test_the_plan_counts_local_embedding_time_only_where_it_happens(sampled, capsys):
    ws, tracker = sampled
    local = tracker.backfill_plan(2, as_of=AS_OF)
    spark = tracker.backfill_plan(2, as_of=AS_OF, engine="spark")
    texts = tracker.backfill_plan(2, as_of=AS_OF, engine="spark", from_texts=True)
    assert local.unembedded > 0 and local.unembedded == spark.unembedded and local.executor_texts == 0
    embedding = local.unembedded / backfill.EMBED_RATE  # what this machine would spend embedding them
    assert local.estimated_seconds == pytest.approx(spark.estimated_seconds + embedding)
    assert spark.estimated_seconds == texts.estimated_seconds == pytest.approx(
        backfill.MODEL_LOAD_S + local.sentences / local.rate)
    assert (spark.executor_texts, texts.executor_texts) == (local.unembedded, local.sentences)
    assert "embedded first, at about 500 sentences/s" in str(local) and "executors" not in str(local)
    hours = f"{local.unembedded / backfill.SPARK_EMBED_RATE_PER_CORE / 3600:,.2g} core-hours"
    assert f"{local.unembedded:,} of the sentences go to the Spark executors as texts" in str(spark)
    assert hours in str(spark) and "embedded first" not in str(spark)
    # The command line's plan (--dry-run starts no Spark session) is the engine's.
    assert run(ws, "backfill", tracker.name, "--months", "2", "--as-of", str(AS_OF), "--engine", "spark",
               "--from-texts", "--dry-run") == 0
    assert f"{local.sentences:,} of the sentences go to the Spark executors" in capsys.readouterr().out
    with pytest.raises(ValidationError, match="from_texts"):
        tracker.backfill_plan(2, as_of=AS_OF, from_texts=True)


def test_activation_scores_every_call_as_a_fully_embedded_workspace_does(sampled, template, embedder, monkeypatch):
    ws, tracker = sampled
    sample = set(ws.tagging_sample().call_ids)
    looked_up, lookup = [], SentenceMatrix.unembedded

    def counted(matrix, rows):  # the real lookup, counted: the plan's rows must reach the backfill
        looked_up.append(len(rows))
        return lookup(matrix, rows)

    monkeypatch.setattr(SentenceMatrix, "unembedded", counted)
    activated = tracker.activate(backfill_months=2, as_of=AS_OF, progress=False, verbose=False)  # 2: less to embed
    assert activated.plan.unembedded > 0 and "have no embedding yet (outside the tagging sample)" in str(activated.plan)
    assert looked_up == [activated.plan.sentences]  # the plan's lookup only: the backfill did not look again
    results = tracker.results()
    window = ws.calls.filter(pl.col("started_at") >= activated.plan.window_start)["call_id"]
    scope = tracker.scope().filter(pl.col("call_id").is_in(window.implode()))
    assert set(results.calls["call_id"]) == set(scope["call_id"])
    assert set(results.calls["call_id"]) - sample  # calls outside the sample are scored too
    # What a workspace that embedded every call gives: the session's demo workspace's vectors.
    full, missing = EmbeddingCache(template / "data" / "embeddings", embedder.model_id).lookup(scope["text"].to_list())
    assert not missing.any()
    decision = ws.registry.linear_model(tracker.name, version=tracker.published_version).decision(full)
    expected = set(scope.filter(pl.Series(decision >= 0))["sentence_id"].to_list())
    assert set(results.detections["sentence_id"].to_list()) == expected and expected
    # New calls after activation are embedded at import and scored, as without a sample.
    calls, utts = new_calls(2)
    result = ws.import_calls(calls, utts, progress=False)
    assert result.embedded > 0 and tracker.name in result.scored
    assert ws.embedded_count() < ws.sentences.height  # the import embedded its calls, not the rest of the corpus
    assert set(calls["call_id"]) <= set(tracker.results().calls["call_id"])
    assert ws.tagging_sample().calls == SAMPLE  # new calls do not enter a full sample


def test_the_command_line_imports_with_a_sample_embeds_it_and_draws_it_again(tmp_path, embedder, capsys):
    from workbench import Workspace

    calls, utts = tiny_corpus(30)
    calls.write_parquet(tmp_path / "c.parquet")
    utts.write_parquet(tmp_path / "u.parquet")
    ws = Workspace(tmp_path / "ws", model=embedder)
    assert run(ws, "import", str(tmp_path / "c.parquet"), str(tmp_path / "u.parquet"), "--sample", "10") == 0
    assert "The tagging sample: 10 of 30 calls" in capsys.readouterr().out
    assert run(ws, "embed", "--quiet") == 0
    assert "Embedded the tagging sample: 10 of 30 calls" in capsys.readouterr().out
    assert run(ws, "sample", "12", "--seed", "5") == 0
    assert "12 of 30 calls" in capsys.readouterr().out and ws.tagging_sample().seed == 5
    assert run(ws, "embed", "--all", "--quiet") == 0
    assert "tagging sample" not in capsys.readouterr().out
    assert run(ws, "import", str(tmp_path / "c.parquet"), str(tmp_path / "u.parquet"), "--sample") == 0
    assert "holds every call (30; sample size 1,500" in capsys.readouterr().out  # --sample alone: 1,500
    assert run(ws, "sample", "--none") == 0 and ws.tagging_sample() is None
    big_calls, big_utts = tiny_corpus(1501, start=100, utterances_per_call=1)
    big_calls = big_calls.with_columns(pl.col("started_at").min() + pl.duration(minutes=pl.int_range(pl.len())))
    big_calls.write_parquet(tmp_path / "bc.parquet")
    big_utts.write_parquet(tmp_path / "bu.parquet")
    assert run(ws, "import", str(tmp_path / "bc.parquet"), str(tmp_path / "bu.parquet"), "--no-embed") == 0
    assert "Tip: `workbench sample 1500`" in capsys.readouterr().out
    # A sample smaller than its size takes in the calls imported later (and keeps its own).
    before = set(ws.set_tagging_sample(2000).call_ids)
    more, more_utts = tiny_corpus(3, start=5000, utterances_per_call=1)
    ws.import_calls(more.with_columns(big_calls["started_at"].head(3)), more_utts, embed=False, progress=False)
    after = ws.tagging_sample()
    assert after.is_everything and after.calls == 1534 and before <= set(after.call_ids)
