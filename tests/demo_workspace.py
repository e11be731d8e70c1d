"""A small trained demo workspace, built by code once per test session and shared by the widget,
notebook and browser tests (each makes its own trackers where it changes state).

Built under pytest's session base temp, guarded by a marker file, so several conftests (or
several test modules) that ask for it pay for it once.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import functools
import os
import shutil
import warnings
from pathlib import Path
from typing import Callable, Sequence

DEMO_TRACKER = "Asking for a discount"
N_CALLS = 60
SEED = 11
ROUNDS = 2
END_DATE = dt.date(2026, 6, 30)
EXAMPLES = [
    "Can you do any better on the price?",
    "Is there a discount if we sign for two years?",
    "We would need a lower price to get this approved.",
    "Could you throw in the onboarding for free?",
    "What's the best price you can give us?",
    "Any chance of a discount for a nonprofit?",
]


@functools.cache
def session_embedder():
    """The real offline model, one per test session: the `embedder` fixture, and the notebook
    checks' hooks (tests/notebook_checks.py), which cannot ask for fixtures."""
    from workbench.embedding.embedder import Embedder

    return Embedder()


def tag_by_truth(tracker, rnd) -> None:
    """Answer a round as a careful person would, from the demo corpus's ground truth."""
    from workbench.demo.concepts import sentence_label

    for c in rnd:
        tracker.tag(c.sentence_id, "yes" if sentence_label(c.text) == "discount_request" else "no")


# Names the vectors kept in pytest's cache between runs: vectors made before the embedder batched
# texts by token length differ in their last bits, and must not be reused for today's.
KEPT_VECTORS = "equal-length-batches"


def embedding_batches(texts: Sequence[str]) -> list[list[str]]:
    """The chunks ``ws.embed()`` embeds ``texts`` in: distinct texts in first-seen order, longest
    first (a stable sort), cut every DEFAULT_CHUNK_SIZE. (A text's vector no longer depends on its
    chunk: the embedder batches texts of one token length. The chunks still order the work.)"""
    from workbench.embedding.embedder import DEFAULT_CHUNK_SIZE

    distinct = sorted(dict.fromkeys(texts), key=lambda t: -len(t))
    return [distinct[i:i + DEFAULT_CHUNK_SIZE] for i in range(0, len(distinct), DEFAULT_CHUNK_SIZE)]


def embed_sharing(ws, shared: Path | None, *, reference_texts: Sequence[str] | None = None) -> None:
    """Embed the workspace's sentences through ``shared``, an embedding cache that all processes of
    the test run write to (see shared_root), then copy their vectors into the workspace's own cache.

    The 60-call and the 150-call fixture corpora come from the same generator and seed, so most of
    the smaller one's sentences are in the larger one too, and pytest-xdist builds the two on
    different workers at the same time. The texts the two have in common are embedded in the
    chunks of the *reference* corpus (``reference_texts``, the 60-call one's sentences; default:
    this workspace's own), whichever process gets there first. Every vector is bit for bit the one
    the workspace's own ``ws.embed()`` makes, however the run's processes are scheduled (the
    embedder batches texts of one token length, so a vector does not depend on its companions;
    ``test_fixture_vectors_do_not_depend_on_which_process_embeds_first`` checks it, since the
    notebooks' stored figures depend on it). This workspace's other texts come first, then the
    reference chunks it needs, from the last, while the reference corpus works from the first: a
    text is embedded once in the run (give or take the chunk both were on), and neither process
    waits for the other. ``shared`` None: embed here alone, as ``ws.embed()``."""
    from workbench.embedding.cache import EmbeddingCache, text_keys

    if shared is not None:
        own_texts = ws.sentences["text"].unique(maintain_order=True).to_list()
        own = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id)
        keys = text_keys(own_texts)
        todo = own.lookup_keys(keys)[1]  # what the workspace's cache (kept between runs) lacks
        needed = {t for t, lacking in zip(own_texts, todo) if lacking}
        reference = embedding_batches(own_texts if reference_texts is None else reference_texts)
        in_reference = {t for batch in reference for t in batch}
        work = (embedding_batches([t for t in own_texts if t in needed and t not in in_reference])
                + [batch for batch in reference if needed.intersection(batch)][:: 1 if reference_texts is None else -1])
        common = EmbeddingCache(shared, ws.embedder.model_id)
        for batch in work:
            _embed_batch(batch, common, ws.embedder)
        if todo.any():  # none when the kept cache (pytest's, a session before) holds every text
            found, missing = common.lookup_keys(keys[todo])
            own.add_keys(keys[todo][~missing], found[~missing])
            own.compact()
    ws.embed(progress=False)  # finds every vector cached, or embeds what is not


def _embed_batch(batch: list[str], common, embedder) -> None:
    """Embed one chunk into ``common`` unless another process already has all of it."""
    from workbench.embedding.cache import text_keys
    from workbench.embedding.embedder import embed_texts

    keys = text_keys(batch)
    missing = common.lookup_keys(keys)[1]
    if missing.any():
        vectors = embed_texts(batch, None, embedder, progress=False)
        common.add_keys(keys[missing], vectors[missing])


def import_demo(path: Path, embedder, *, n_calls: int = N_CALLS):
    """A workspace at ``path`` with the demo corpus of the fixtures' seed imported, not embedded."""
    from workbench import Workspace
    from workbench.demo.generator import generate_demo

    ws = Workspace(path, model=embedder)
    # A fixed end date: the same seed then gives the same calls (and cached texts) every day.
    paths = generate_demo(ws.data_dir / "raw" / "demo", n_calls=n_calls, seed=SEED, end_date=END_DATE)
    ws.import_calls(paths.calls, paths.utterances, embed=False, progress=False)
    return ws


def build(path: Path, embedder, *, n_calls: int = N_CALLS, rounds: int = ROUNDS,
          embedding_cache: Path | None = None, shared_embeddings: Path | None = None) -> Path:
    """Generate, import, embed and train. ``embedding_cache`` (a folder kept between sessions,
    e.g. pytest's cache) holds the embeddings of the demo sentences, so only the first session
    on a machine pays for embedding them; the workspace's own cache format is reused as is.
    ``shared_embeddings``: the run's shared embedding cache (embed_sharing)."""
    ws = import_demo(path, embedder, n_calls=n_calls)
    if embedding_cache is not None and embedding_cache.exists():
        shutil.copytree(embedding_cache, ws.embeddings_dir, dirs_exist_ok=True)
    embed_sharing(ws, shared_embeddings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning: a small corpus is the point here
        tracker = ws.create_tracker(
            DEMO_TRACKER, description="The customer asks for a lower price, a discount, free extras or better terms.",
            mentioned_by="customer", examples=EXAMPLES)
    for _ in range(rounds):
        tag_by_truth(tracker, tracker.next_round())
        tracker.train()
    # The last training's figures are drawn on a worker after train() returned (registry.later):
    # wait for them, so that the folder handed back is finished and a copy or a delete of it
    # does not race the worker's writes (a CI run failed on rmtree: "Directory not empty").
    ws.registry.wait_for_figures()
    if embedding_cache is not None:  # now with the examples' embeddings too
        shutil.rmtree(embedding_cache, ignore_errors=True)
        shutil.copytree(ws.embeddings_dir, embedding_cache)
    return path


def shared_root(tmp_path_factory) -> Path:
    """The folder a whole test run shares: pytest's base temp, or with pytest-xdist its parent,
    which all workers of the run have in common (each worker's base temp is its own)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def shared_embeddings(tmp_path_factory) -> Path:
    """The embedding cache the fixtures of one test run share (embed_sharing)."""
    return shared_root(tmp_path_factory) / "fixture-embeddings"


def build_once(tmp_path_factory, name: str, build_into: Callable[[Path], None]) -> Path:
    """``<shared root>/<name>``, built by ``build_into`` by whichever process asks first; the
    others wait for it under a file lock. A build that failed leaves no marker and is redone."""
    root = shared_root(tmp_path_factory)
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            build_into(path)
            done.write_text("ok")
    return path


def demo_workspace(tmp_path_factory, embedder, cache=None) -> Path:
    """The session's demo workspace; ``cache`` is pytest's ``request.config.cache`` (or None)."""
    emb_cache = cache.mkdir(f"workbench-demo-embeddings-{N_CALLS}-{SEED}-{KEPT_VECTORS}") if cache is not None else None
    return build_once(tmp_path_factory, "demo-workspace",
                      lambda path: build(path, embedder, embedding_cache=emb_cache,
                                         shared_embeddings=shared_embeddings(tmp_path_factory)))


def private_copy(template: Path, dest: Path) -> Path:
    """A copy of the session's demo workspace that a test may change without reaching other tests.

    (Opening the copy's MLflow store rewrites its locations to the copy, see
    workbench.registry.relocation, so the copy reads and writes only its own artifacts.)
    """
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("detections", "matrix", "*.lock"))
    return dest


def copy_with_tracker(tmp_path_factory, embedder, request, folder: str, tracker_name: str) -> Path:
    """A private copy of the demo workspace with an untrained tracker of its own, for tests that
    tag through a screen (so the demo tracker stays as trained)."""
    from workbench import Workspace

    template = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    path = private_copy(template, tmp_path_factory.mktemp(folder) / "ws")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning: the fixture corpus is small on purpose
        Workspace(path, model=embedder).create_tracker(tracker_name, mentioned_by="customer", examples=EXAMPLES)
    return path


def answer_from_truth(view) -> None:
    """Tag every candidate of the round shown with the demo generator's own label."""
    from workbench.demo.concepts import sentence_label

    for c in list(view.round):
        view.go_to(view.round.candidates.index(c))
        view.buttons["yes" if sentence_label(c.text) == "discount_request" else "no"].click()


def untagged_detected_texts(tracker) -> int:
    """Detected texts none of whose copies is tagged: what a verification round can draw."""
    import polars as pl

    from workbench.training.duplicates import text_key

    tagged = set(tracker.tags()["sentence_id"].to_list())
    scope = tracker.detections()
    tagged_keys = {text_key(t) for t in scope.filter(pl.col("sentence_id").is_in(tagged))["text"].to_list()}
    detected = scope.filter(pl.col("detected"))["text"].to_list()
    return len({text_key(t) for t in detected} - tagged_keys)
