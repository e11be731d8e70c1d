"""Transcript normalisation before embedding (workbench.embedding.normalise), the embedder and
cache that keep its vectors apart from the raw text's, and the pyfunc that repeats it."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from workbench.core.errors import ValidationError
from workbench.embedding.cache import EmbeddingCache
from workbench.embedding.embedder import Embedder, embed_texts
from workbench.embedding.normalise import NORMALISATIONS, STRIP, normalise_text, normalise_texts, normaliser

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# (transcribed, embedded): meeting speech as in mrda-meetings (lower case, "um"/"uh", restarts,
# abandoned turns) and phone calls with disfluency marks ("-", "--", "==") and annotations.
EXAMPLES = [
    ("i i i think that's right.", "i think that's right."),
    ("a a a", "a"),
    ("the the", "the"),
    ("so uh why don't we uh do the i b m stuff?", "so why don't we do the i b m stuff?"),
    ("what what feeds the uh the three output net?", "what feeds the three output net?"),
    ("that's that's a good that's a good thought.", "that's a good thought."),
    ("and apparently it did even better than the original than the original versions.",
     "and apparently it did even better than the original versions."),
    ("um i don't i uh i don't need it.", "i don't need it."),
    ("no i mean if", "no i mean if"),  # abandoned, nothing to remove: the words carry it
    ("so, um, we could, uh, try it", "so, we could, try it"),
    ("uh, uh, the thing, um.", "the thing."),
    ("Um, I think so.", "I think so."),
    ("I- I was go- going to call th- the office", "I was going to call the office"),
    ("we should ask if-", "we should ask if"),
    ("well -- i don't know ==", "well i don't know"),
    ("so == we could <laughter> maybe [noise] do that", "so we could maybe do that"),
    ("the\tthe\nnext step", "the next step"),
    ("yeah yeah yeah.", "yeah."),
]
# Backchannels and answers mean something; hyphenated words and "ER" are words.
KEPT = ["uhhuh.", "uh-huh", "mm-hmm.", "mhm", "yeah.", "no.", "oh okay.", "huh?", "ah right.",
        "the speechdat-car data", "take me to the ER", "two-thirty-ish", "so-and-so talked"]
# Nothing left but fillers or marks: the original is embedded as it is.
ONLY_FILLERS = ["uh.", "um", "uh uh", "--", "==", "[laughter]", "hmm.", "uh, um,", "-"]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_fillers_repetitions_and_marks_are_removed(text, expected):
    assert normalise_text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_backchannels_answers_and_hyphenated_words_are_kept(text):
    assert normalise_text(text) == text


@pytest.mark.parametrize("text", ONLY_FILLERS)
def test_never_empty_the_original_when_nothing_is_left(text):
    assert normalise_text(text) == text


def _sample_sentences() -> list[str]:
    """Real meeting speech when the shared datasets are there, else the examples above."""
    path = SHARED / "mrda-meetings" / "utterances.parquet"
    texts = [t for t, _ in EXAMPLES] + KEPT + ONLY_FILLERS
    if path.exists():
        import polars as pl

        texts += pl.read_parquet(path, columns=["text"])["text"].head(20_000).to_list()
    return texts


def test_idempotent_and_never_empty_on_real_speech():
    texts = _sample_sentences()
    once = normalise_texts(texts)
    assert normalise_texts(once) == once
    assert all(out.strip() for t, out in zip(texts, once) if t.strip())
    assert all(out == out.strip(STRIP) or out == t for t, out in zip(texts, once))


def test_none_is_the_text_itself_and_unknown_names_are_refused():
    assert normalise_text("um i i think", None) == "um i i think"
    assert normaliser(None) is None
    assert normaliser("speech-1")(["um i i think", "um i i think"]) == ["i think", "i think"]
    with pytest.raises(ValueError, match="unknown text normalisation"):
        normaliser("speech-0")


def test_speed_on_100k_distinct_sentences():
    base = [t for t, _ in EXAMPLES] + KEPT
    # Distinct texts (no deduplication helps) of the length of meeting turns (about 8 words),
    # most of them with something to remove. Measured: about 1.5-2 s of CPU on the 2 shared
    # cores of the development machine (2.1 s for 100k sentences of mrda-meetings), against
    # about 200 s to embed them; the bound leaves room for a loaded machine.
    texts = [f"uh {base[i % len(base)]} {i}" for i in range(100_000)]
    start = time.process_time()
    out = normalise_texts(texts)
    elapsed = time.process_time() - start
    assert out[7] == f"{normalise_text(base[7])} 7"
    assert elapsed < 5.0, f"{elapsed:.1f} s of CPU for 100k sentences"


# --- the embedder and the cache ---------------------------------------------------------------

@pytest.fixture(scope="module")
def speech_embedder(embedder) -> Embedder:
    return Embedder(embedder.model_path, text_normalisation="speech-1")


def test_the_normalisation_ends_the_model_id(embedder, speech_embedder):
    assert speech_embedder.model_id == f"{embedder.model_id}+speech-1"
    assert "speech-1" in repr(speech_embedder)
    with pytest.raises(ValidationError, match="text_normalisation"):
        Embedder(embedder.model_path, text_normalisation="speech-0")


def test_normalised_text_is_embedded_as_its_normalised_form(embedder, speech_embedder):
    raw = ["um i i think we should uh go", "uhhuh."]
    got = speech_embedder.encode(raw)
    np.testing.assert_allclose(got, embedder.encode(["i think we should go", "uhhuh."]), atol=1e-6)
    assert float(got[0] @ embedder.encode(raw[:1])[0]) < 0.999  # the raw text embeds differently


def test_the_cache_never_mixes_raw_and_normalised_vectors(embedder, speech_embedder, tmp_path):
    texts = ["um so so we uh agreed", "i i i will send it", "yeah."]
    raw = embed_texts(texts, tmp_path, embedder, progress=False)
    speech = embed_texts(texts, tmp_path, speech_embedder, progress=False)
    # Same text keys, two caches: each model id reads back only its own vectors.
    raw_cache, speech_cache = EmbeddingCache(tmp_path, embedder.model_id), EmbeddingCache(tmp_path, speech_embedder.model_id)
    assert raw_cache.path != speech_cache.path and len(raw_cache) == len(speech_cache) == 3
    np.testing.assert_array_equal(raw_cache.lookup(texts)[0], raw.astype(np.float16))
    np.testing.assert_array_equal(speech_cache.lookup(texts)[0], speech.astype(np.float16))
    assert not np.allclose(raw[:2], speech[:2], atol=1e-3)
    np.testing.assert_allclose(raw[2], speech[2], atol=1e-3)  # nothing to normalise in "yeah."
    # A cache opened for the other id is refused rather than read.
    with pytest.raises(ValidationError, match="belongs to model"):
        embed_texts(texts, raw_cache, speech_embedder, progress=False)


# --- the MLflow pyfunc ------------------------------------------------------------------------

def test_the_pyfunc_repeats_the_same_rules():
    from workbench.registry import pyfunc

    assert pyfunc.TEXT_NORMALISATIONS == {name: tuple(rules) for name, rules in NORMALISATIONS.items()}
    assert pyfunc.STRIP == STRIP
    texts = _sample_sentences()
    assert pyfunc.normalise_texts(texts, "speech-1") == normalise_texts(texts, "speech-1")
    assert pyfunc._split_model_id("all-MiniLM-L6-v2-fp32-1a2b3c4d+speech-1") == ("all-MiniLM-L6-v2-fp32-1a2b3c4d", "speech-1")
    assert pyfunc._split_model_id("all-MiniLM-L6-v2-fp32-1a2b3c4d") == ("all-MiniLM-L6-v2-fp32-1a2b3c4d", None)


def test_the_spark_embedding_worker_applies_the_same_rules():
    """workbench.activation.spark_worker (shipped to Spark executors without the workbench) gets
    the rules as data and applies them as the workbench does."""
    import ast

    from workbench.activation import spark_worker

    texts = _sample_sentences()
    assert spark_worker.normalise(texts, NORMALISATIONS["speech-1"], STRIP) == normalise_texts(texts, "speech-1")
    tree = ast.parse(open(spark_worker.__file__, encoding="utf-8").read())
    imported = {n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert not any(name.split(".")[0] == "workbench" for name in imported)


@pytest.mark.slow
def test_a_version_scores_transcribed_text_as_the_workbench_does(speech_embedder, embedder, tmp_path):
    """A version trained on normalised embeddings, loaded in a process without the workbench,
    embeds text given to it as the workbench did (normalised), not as it is."""
    from tests.clean_process import score_without_the_workbench
    from tests.test_registry import tags_table
    from workbench.registry.linear_model import LinearTrackerModel
    from workbench.registry.versions import PUBLISHED_ALIAS, TrackerRegistry
    from workbench.training.model import TrackerModel

    train = [("um i i will uh send it tomorrow", 1), ("i'll i'll take care of that", 1),
             ("okay uh i can do the the slides", 1), ("i will write it up", 1),
             ("what what time is it", 0), ("uh the the data is noisy", 0),
             ("yeah.", 0), ("so um how did it go", 0)]
    x = speech_embedder.encode([t for t, _ in train])
    clf = TrackerModel(threshold="balanced").fit(x, [y for _, y in train])
    registry = TrackerRegistry(tmp_path / "mlruns")
    record = registry.log_training("Commits", model=LinearTrackerModel.from_estimator(clf, speech_embedder.model_id),
                                   params={"round": 1}, metrics={}, tags_table=tags_table())
    registry.set_alias("Commits", PUBLISHED_ALIAS, record.version)
    texts = ["um i i i will uh do it", "uh what what is the the plan", "i'll send the the notes"]
    given = x[0].astype(np.float64).tolist()  # a row with its embedding is not re-embedded
    result = score_without_the_workbench(registry, record.registered_model, texts + ["ignored"],
                                         [None] * len(texts) + [given])
    # Through float16, as the workbench's embedding cache stores the vectors it scores.
    expected = clf.predict_proba(speech_embedder.encode(texts).astype(np.float16).astype(np.float32))[:, 1]
    np.testing.assert_allclose(result["score"][:3], expected, atol=1e-5)
    as_is = clf.predict_proba(embedder.encode(texts))[:, 1]
    assert np.abs(as_is - expected).max() > 1e-3  # had the pyfunc skipped the rules, this test would fail


# --- the workspace setting ----------------------------------------------------------------------

def test_a_new_workspace_records_the_default_and_an_embedded_one_keeps_raw_text(tmp_path, monkeypatch):
    from workbench.embedding import normalise
    from workbench.workspace import Workspace

    assert Workspace(tmp_path / "new").embedder.text_normalisation == normalise.DEFAULT_NORMALISATION
    # Were the default to change, a workspace embedded before keeps its raw vectors (and the
    # versions trained on them), while a new one takes the new default and keeps it.
    monkeypatch.setattr(normalise, "DEFAULT_NORMALISATION", "speech-1")
    old = tmp_path / "old"
    (old / "data" / "embeddings" / "all-MiniLM-L6-v2-fp32-1a2b3c4d").mkdir(parents=True)
    assert Workspace(old).embedder.text_normalisation is None
    assert Workspace(tmp_path / "newer").embedder.text_normalisation == "speech-1"
    monkeypatch.setattr(normalise, "DEFAULT_NORMALISATION", None)
    assert Workspace(tmp_path / "newer").embedder.text_normalisation == "speech-1"  # recorded
    assert Workspace(tmp_path / "new").embedder.text_normalisation is None
    with pytest.raises(ValueError, match="unknown text normalisation"):
        normalise.set_workspace_normalisation(tmp_path / "new" / "data" / "embeddings", "speech-0")


def test_a_normalising_workspace_embeds_normalised_text_and_shows_the_original(tmp_path, embedder):
    import polars as pl

    from tests.conftest import tiny_corpus
    from workbench.embedding.backend import set_workspace_backend
    from workbench.embedding.normalise import set_workspace_normalisation
    from workbench.workspace import Workspace

    calls, utts = tiny_corpus(2)
    utts = utts.with_columns(pl.concat_str([pl.lit("um so so "), pl.col("text")]).alias("text"))
    set_workspace_normalisation(tmp_path / "ws" / "data" / "embeddings", "speech-1")
    set_workspace_backend(tmp_path / "ws" / "data" / "embeddings", "torch")  # the fixture's, to compare with
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(calls, utts)
    ws.embed(progress=False)
    assert ws.embedder.model_id == f"{embedder.model_id}+speech-1"
    texts = ws.sentences["text"].to_list()
    assert texts[0].startswith("um so so ")  # stored and shown as said
    expected = embedder.encode(normalise_texts(texts)).astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(ws.embeddings(), expected, atol=2e-3)
    assert not np.allclose(ws.embeddings()[0], embedder.encode(texts[:1])[0], atol=2e-3)
