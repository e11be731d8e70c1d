"""The quality benchmark's corpora, truth and metrics, shared by the benchmark scripts.

A corpus is a folder of ../shared/datasets (the import format plus labels.parquet and
concepts.json), split into sentences and embedded with all-MiniLM-L6-v2 (cached on disk
outside the repository, see _text_cache.py). Truth is per utterance (speaker turn).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _text_cache import DEFAULT_DIR, TextEmbeddingCache  # noqa: E402

from workbench.corpus.prepare import prepare_import  # noqa: E402
from workbench.embedding.normalise import normaliser  # noqa: E402
from workbench.training.duplicates import text_codes  # noqa: E402
from workbench.training.model import best_f1_threshold  # noqa: E402

DATASETS = (REPO / ".." / "shared" / "datasets").resolve()
RESULTS = REPO / "benchmarks" / "results"
N_EXAMPLES = 5


# --- data ---------------------------------------------------------------------------------

@dataclass
class Corpus:
    name: str
    sentences: pl.DataFrame  # prepared sentences + "utt_key" (row of the utterance table)
    embeddings: np.ndarray
    utt_labels: list[set[str]]  # per utterance key
    utt_side: np.ndarray
    concepts: list[dict]
    normalisation: str | None = None  # the text normalisation the embeddings were made with
    segmentation: str | None = None  # a benchmark's own sentence rows (speech_text.py), else None

    @property
    def key(self) -> str:
        """The corpus's name, with its text normalisation and segmentation when it has them
        (their ceilings differ), e.g. "mrda-meetings@speech-1+windows"."""
        key = f"{self.name}@{self.normalisation or 'raw'}" if self.normalisation or self.segmentation else self.name
        return f"{key}+{self.segmentation}" if self.segmentation else key


def load_corpus(folder: Path, cache: TextEmbeddingCache, normalisation: str | None = None) -> Corpus:
    """A corpus of ../shared/datasets, its sentences embedded as the product embeds them under
    ``normalisation`` (workbench.embedding.normalise; None: the text as it is). The sentences
    keep their original text, as the workspace does."""
    split_cache = DEFAULT_DIR / f"{folder.name}-sentences.parquet"
    if split_cache.exists():
        sentences = pl.read_parquet(split_cache)
    else:
        prepared = prepare_import(folder / "calls.parquet", folder / "utterances.parquet")
        sentences = prepared.sentences
        sentences.write_parquet(split_cache)
    labels = pl.read_parquet(folder / "labels.parquet")
    utts = pl.read_parquet(folder / "utterances.parquet").select("call_id", "utterance_id", "side")
    utts = utts.join(labels, on=["call_id", "utterance_id"], how="left").with_row_index("utt_key")
    sentences = sentences.join(
        utts.select("call_id", "utterance_id", "utt_key"), on=["call_id", "utterance_id"], how="left"
    )
    texts = sentences["text"].to_list()
    normalise = normaliser(normalisation)
    emb = cache.get(normalise(texts) if normalise else texts)
    utt_labels = [set(x or []) for x in utts["labels"].to_list()]
    concepts = json.loads((folder / "concepts.json").read_text())
    return Corpus(folder.name, sentences, emb, utt_labels, utts["side"].to_numpy(), concepts, normalisation)


def _matches(label: str, wanted: list[str]) -> bool:
    # concepts.json uses "*-Request:Price" for "any domain's Request:Price".
    for w in wanted:
        if w.startswith("*"):
            if label.endswith(w[1:]):
                return True
        elif label == w:
            return True
    return False


def utterance_truth(corpus: Corpus, concept: dict) -> np.ndarray:
    side = concept["mentioned_by"]
    pos = np.array([any(_matches(l, concept["labels"]) for l in ls) for ls in corpus.utt_labels])
    if side != "any":
        pos &= corpus.utt_side == side
    return pos


def concept_scope(corpus: Corpus, concept: dict) -> np.ndarray:
    side = concept["mentioned_by"]
    sides = corpus.sentences["side"].to_numpy()
    return np.flatnonzero(sides == side) if side != "any" else np.arange(len(sides))


@dataclass(frozen=True)
class ConceptArrays:
    """A concept's scope in the arrays a benchmark's session runs on: the scope's rows of the
    corpus, their embeddings, utterances (the tracker's turns), texts, calls and text codes (as
    the Tracker codes them), and the truth per utterance and per sentence."""

    scope: np.ndarray
    X: np.ndarray
    utt_key: np.ndarray
    n_utts: int
    utt_truth: np.ndarray
    in_scope: np.ndarray
    truth_sent: np.ndarray
    n_sent_in_utt: np.ndarray
    texts: np.ndarray
    call_ids: np.ndarray
    duplicates: np.ndarray


def concept_arrays(corpus: Corpus, concept: dict) -> ConceptArrays:
    """``ConceptArrays`` of ``concept`` over ``corpus``."""
    scope = concept_scope(corpus, concept)
    utt_key_all = corpus.sentences["utt_key"].to_numpy()
    n_utts = len(corpus.utt_labels)
    utt_truth = utterance_truth(corpus, concept)
    in_scope = np.zeros(n_utts, bool)
    in_scope[utt_key_all[scope]] = True
    texts = corpus.sentences["text"].to_numpy()[scope]
    return ConceptArrays(
        scope=scope, X=corpus.embeddings[scope], utt_key=utt_key_all[scope], n_utts=n_utts, utt_truth=utt_truth,
        in_scope=in_scope, truth_sent=utt_truth[utt_key_all[scope]],
        n_sent_in_utt=np.bincount(utt_key_all, minlength=n_utts), texts=texts,
        call_ids=corpus.sentences["call_id"].to_numpy()[scope], duplicates=text_codes(texts))


def pick_examples(sent_pos: np.ndarray, utt_key: np.ndarray, n_sent_in_utt: np.ndarray,
                  seed: int) -> np.ndarray:
    """5 positive sentences; from one-sentence utterances where possible, since a user
    writes an example that says the concept, not a random sentence of a positive turn."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(sent_pos)
    clean = pos[n_sent_in_utt[utt_key[pos]] == 1]
    src = clean if clean.size >= N_EXAMPLES else pos
    return rng.choice(src, size=N_EXAMPLES, replace=False)


# --- metrics ------------------------------------------------------------------------------

def prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "hit_rate": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def to_utterances(sent_flags: np.ndarray, utt_key: np.ndarray, n_utts: int) -> np.ndarray:
    out = np.zeros(n_utts, dtype=bool)
    out[utt_key[sent_flags]] = True
    return out


def ceiling(X: np.ndarray, y_sent: np.ndarray, utt_key: np.ndarray, utt_truth: np.ndarray,
            utt_in_scope: np.ndarray) -> dict:
    best = None
    n_utts = len(utt_truth)
    for C in (1.0, 10.0):
        oof = np.empty(len(y_sent))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y_sent):
            lr = LogisticRegression(C=C, max_iter=2000).fit(X[tr], y_sent[tr])
            oof[te] = lr.decision_function(X[te])
        u_score = np.full(n_utts, -np.inf)
        np.maximum.at(u_score, utt_key, oof)
        s, t = u_score[utt_in_scope], utt_truth[utt_in_scope]
        thr = best_f1_threshold(s, t)
        m = prf(s > thr, t) | {"C": C}
        if best is None or m["f1"] > best["f1"]:
            best = m
    return best


def oracle_threshold_f1(scores, utt_key, n_utts, utt_in_scope, utt_truth) -> float:
    """Utterance-level F1 of the final scores at the threshold that maximises it, known only
    with the ground truth: the limit of the ranking, whatever threshold the tags suggest."""
    if scores is None:
        return 0.0
    best = np.full(n_utts, -np.inf)
    np.maximum.at(best, utt_key, scores)
    s, t = best[utt_in_scope], utt_truth[utt_in_scope].astype(bool)
    if not t.any():
        return 0.0
    tp = np.cumsum(t[np.argsort(-s, kind="stable")])
    return float((2 * tp / (np.arange(1, len(s) + 1) + t.sum())).max())


@dataclass
class DumpedRun:
    """One run written by ``--dump``, with what scoring its detections needs (for the offline
    studies: threshold_rules.py, model_variants.py)."""

    key: str  # "corpus/concept"
    seed: int
    X: np.ndarray  # the scope's embeddings
    utt_key: np.ndarray  # per scope sentence
    truth: np.ndarray  # per utterance
    in_scope: np.ndarray  # per utterance
    labels: np.ndarray
    examples: np.ndarray
    raw: np.ndarray  # the final model's scores before its threshold
    threshold: float
    ceiling_f1: float

    def f1_ratio(self, scores: np.ndarray, cut: float) -> float:
        """Utterance-level F1 of ``scores > cut`` (a turn detected when any sentence is), as a
        ratio to the ceiling."""
        best = np.full(len(self.truth), -np.inf)
        np.maximum.at(best, self.utt_key, scores)
        return prf(best[self.in_scope] > cut, self.truth[self.in_scope])["f1"] / self.ceiling_f1

    def oracle_ratio(self, scores: np.ndarray) -> float:
        return oracle_threshold_f1(scores, self.utt_key, len(self.truth), self.in_scope, self.truth) / self.ceiling_f1


def dumped_runs(folder: Path, corpora: dict[str, Corpus]):
    """Each run of a ``--dump`` folder, in file order."""
    ceilings = json.loads((DEFAULT_DIR / "ceilings.json").read_text())
    for f in sorted(Path(folder).glob("*.npz")):
        corpus_name, concept_name, seed = f.stem.split("__")
        corpus = corpora[corpus_name]
        concept = next(c for c in corpus.concepts if c["name"] == concept_name)
        d = np.load(f)
        scope = d["scope"]
        utt_key = corpus.sentences["utt_key"].to_numpy()[scope]
        in_scope = np.zeros(len(corpus.utt_labels), bool)
        in_scope[utt_key] = True
        yield DumpedRun(
            key=f"{corpus_name}/{concept_name}", seed=int(seed), X=corpus.embeddings[scope], utt_key=utt_key,
            truth=utterance_truth(corpus, concept), in_scope=in_scope, labels=d["labels"], examples=d["examples"],
            raw=d["raw"].astype(float), threshold=float(d["threshold"]),
            ceiling_f1=ceilings[f"{corpus_name}/{concept_name}"]["f1"],
        )


def median_and_worst(by_concept: dict[str, list[float]]) -> tuple[float, float]:
    """The median over concepts of each concept's mean ratio, and the worst concept's."""
    means = [float(np.mean(v)) for v in by_concept.values()]
    return float(np.median(means)), float(min(means))


def write_study(filename: str, title: str, script: str, sections: list[str]) -> None:
    """An offline study's markdown under benchmarks/results/."""
    (RESULTS / filename).write_text(f"# {title}\n\nGenerated by `benchmarks/{script}`; do not edit by hand.\n\n"
                                    + "\n\n".join(sections) + "\n")


def write_results(name: str, result: dict, markdown: str) -> None:
    """A benchmark's figures as benchmarks/results/NAME.json and its report as NAME.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    (RESULTS / f"{name}.md").write_text(markdown)


def each_concept(corpora: list[Corpus], wanted: str | None):
    """(corpus, concept) for every concept whose name contains ``wanted`` (all when None),
    saying which corpus it is on."""
    for corpus in corpora:
        print(f"{corpus.name}: {len(corpus.sentences)} sentences", flush=True)
        for concept in corpus.concepts:
            if not wanted or wanted.lower() in concept["name"].lower():
                yield corpus, concept


def load_corpora(cache: TextEmbeddingCache) -> dict[str, Corpus]:
    return {d.name: load_corpus(d, cache) for d in sorted(DATASETS.iterdir()) if (d / "concepts.json").exists()}
