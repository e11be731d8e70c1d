"""The suite's own fixture helpers, where a mistake would cost time silently rather than fail a test."""
from __future__ import annotations

import polars as pl

from tests.conftest import tiny_corpus
from tests.demo_workspace import embed_sharing


def test_fixture_workspaces_embed_a_text_once_per_run_and_keep_every_vector(tmp_path, embedder):
    """Two fixture corpora with texts in common, embedded through the run's shared cache: the second
    embeds only its own texts and still ends up with every vector in its own cache."""
    from workbench import Workspace
    from workbench.embedding.embedder import Embedder

    class Counting(Embedder):
        """The session's embedder (its model already loaded), recording the texts it embeds."""
        encoded: list[str] = []

        def __init__(self, loaded: Embedder) -> None:
            super().__init__(loaded.model_path)
            self._model = loaded.model  # loading the same weights again would cost seconds

        def encode(self, texts, **kwargs):
            Counting.encoded += list(texts)
            return super().encode(texts, **kwargs)

    counting = Counting(embedder)
    shared = tmp_path / "shared"
    calls, utts = tiny_corpus(4)
    first = Workspace(tmp_path / "first", model=counting)
    first.import_calls(calls, utts, embed=False, progress=False)
    embed_sharing(first, shared)
    assert sorted(Counting.encoded) == sorted(first.sentences["text"].unique().to_list())

    # The second corpus: the same calls, and two more whose customer says something new.
    more_calls, more_utts = tiny_corpus(2, start=4)
    more_utts = more_utts.with_columns(
        pl.when(pl.col("side") == "customer").then(pl.col("text") + " In " + pl.col("call_id") + ".")
        .otherwise(pl.col("text")).alias("text"))
    second = Workspace(tmp_path / "second", model=counting)
    second.import_calls(pl.concat([calls, more_calls]), pl.concat([utts, more_utts]), embed=False, progress=False)
    Counting.encoded = []
    embed_sharing(second, shared, reference_texts=first.sentences["text"].to_list())
    new = set(second.sentences["text"].to_list()) - set(first.sentences["text"].to_list())
    assert new and sorted(Counting.encoded) == sorted(new)
    assert second.embedded_count() == second.sentences.height
    np_first = first.embeddings()
    assert (second.embeddings()[: len(np_first)] == np_first).all()



def test_fixture_vectors_do_not_depend_on_which_process_embeds_first(tmp_path, embedder):
    """The larger corpus embedding the texts the two share before the reference corpus does (as
    a busy xdist worker may) leaves the reference corpus with the very vectors its own
    ``ws.embed()`` makes: the notebooks' stored figures are compared to the digit, and a text
    batched with other texts comes out different in its last bits."""
    from tests.demo_workspace import END_DATE
    from workbench import Workspace
    from workbench.demo.generator import generate_demo

    def demo_calls(seed: int, prefix: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        paths = generate_demo(tmp_path / f"raw-{seed}", n_calls=3, seed=seed, end_date=END_DATE)
        renamed = pl.lit(prefix) + pl.col("call_id")
        return (pl.read_parquet(paths.calls).with_columns(renamed.alias("call_id")),
                pl.read_parquet(paths.utterances).with_columns(renamed.alias("call_id")))

    def workspace(name: str, *frames: tuple[pl.DataFrame, pl.DataFrame]) -> Workspace:
        ws = Workspace(tmp_path / name, model=embedder)
        ws.import_calls(pl.concat([c for c, _ in frames]), pl.concat([u for _, u in frames]), embed=False,
                        progress=False)
        return ws

    ours, theirs = demo_calls(11, "a-"), demo_calls(12, "b-")
    alone = workspace("alone", ours)
    alone.embed(progress=False)
    reference, larger = workspace("reference", ours), workspace("larger", ours, theirs)

    shared = tmp_path / "shared"
    embed_sharing(larger, shared, reference_texts=reference.sentences["text"].to_list())
    embed_sharing(reference, shared)
    assert (reference.embeddings() == alone.embeddings()).all()
    assert (larger.embeddings(alone.sentences["sentence_id"].to_numpy()) == alone.embeddings()).all()


def test_a_fixture_whose_kept_cache_holds_every_vector_embeds_nothing(tmp_path, embedder):
    """A second session: pytest's cache, copied into the workspace, already holds every vector, and
    the run's shared cache is still empty (the other worker has not embedded yet). Nothing is
    embedded and the build goes on (it raised: an empty lookup in an empty cache has no width)."""
    import shutil

    from workbench import Workspace

    calls, utts = tiny_corpus(2)
    before = Workspace(tmp_path / "before", model=embedder)
    before.import_calls(calls, utts, embed=False, progress=False)
    before.embed(progress=False)  # its cache is what a session keeps
    again = Workspace(tmp_path / "again", model=embedder)
    again.import_calls(calls, utts, embed=False, progress=False)
    shutil.copytree(before.embeddings_dir, again.embeddings_dir, dirs_exist_ok=True)
    embed_sharing(again, tmp_path / "shared-empty")
    assert again.embedded_count() == again.sentences.height
    assert (again.embeddings() == before.embeddings()).all()


def test_a_words_only_cell_compares_its_words_not_its_numbers():
    """Notebook 4's overview is compared with its numbers blanked (they move with the machine's
    floating point); a changed word, warning or section still fails the comparison."""
    from tests.notebook_checks import numbers_blanked

    blank = numbers_blanked(lambda text: text.replace("/tmp/x", "TMP-PATH"))
    stored = "⚠ The hit rate rests on only 50 tags: anywhere from 23% to 100%.\n| F1 on the tags | 0.00 | 0.80\n"
    assert blank(stored) == blank(stored.replace("23%", "27%").replace("0.80", "0.67"))
    assert blank(stored) != blank(stored.replace("hit rate", "precision"))
    assert blank(stored) != blank(stored.replace("| F1 on the tags | 0.00 | 0.80\n", ""))
    assert blank("in /tmp/x at 1,234.5") == "in TMP-PATH at N"
