"""A tagging round: the candidates one round shows, with their context, and the user's answers."""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

ANSWERS = ("yes", "no", "not_sure")
ROUND_SIZE = 25
CONTEXT_SENTENCES = 2
VERIFICATION_SIZE = 20
VERIFICATION_STRATEGY = "detected_sample"


def round_kind(strategies: list[str]) -> str:
    """"verification" when every pick of a round is a random detection, else "learning"."""
    return "verification" if strategies and all(s == VERIFICATION_STRATEGY for s in strategies) else "learning"


@dataclass
class Candidate:
    """One sentence to tag, with what a person needs to judge it."""

    sentence_id: int
    call_id: str
    utterance_id: int
    text: str
    speaker: str
    side: str
    start_s: float
    timing_estimated: bool
    context_before: list[dict] = field(default_factory=list)  # [{speaker, side, text}], oldest first
    context_after: list[dict] = field(default_factory=list)
    strategy: str = ""
    answer: str | None = None

    @property
    def time_label(self) -> str:
        m, s = divmod(int(self.start_s or 0), 60)
        return f"{'~' if self.timing_estimated else ''}{m}:{s:02d}"


@dataclass
class Round:
    number: int
    candidates: list[Candidate]

    @property
    def tagged(self) -> int:
        return sum(c.answer is not None for c in self.candidates)

    @property
    def complete(self) -> bool:
        return all(c.answer is not None for c in self.candidates)

    @property
    def kind(self) -> str:
        """"verification" for a round of random detections (``Tracker.verification_round``),
        else "learning"."""
        return round_kind([c.strategy for c in self.candidates])

    @property
    def progress(self) -> str:
        label = " (verification: random detections)" if self.kind == "verification" else ""
        return f"{self.tagged} of {len(self.candidates)}, round {self.number}{label}"

    def next_untagged(self) -> Candidate | None:
        return next((c for c in self.candidates if c.answer is None), None)

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self):
        return iter(self.candidates)

    def __getitem__(self, i: int) -> Candidate:
        return self.candidates[i]

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [{k: v for k, v in c.__dict__.items() if k not in ("context_before", "context_after")} for c in self.candidates]
        )


def with_context(sentences: pl.DataFrame, sentence_ids: list[int], n: int = CONTEXT_SENTENCES) -> dict[int, tuple[list[dict], list[dict]]]:
    """The n sentences before and after each given sentence in its call (across speaker turns)."""
    wanted = pl.DataFrame({"sentence_id": sentence_ids}, schema={"sentence_id": pl.Int64})
    calls = sentences.join(wanted, on="sentence_id", how="semi")["call_id"].unique()
    # Sentences are stored in call, utterance, sentence order; a running row number per call
    # gives each sentence its neighbours without sorting the whole corpus.
    sub = sentences.filter(pl.col("call_id").is_in(calls.implode())).with_columns(
        pl.int_range(pl.len()).over("call_id").alias("_pos")
    )
    by_call: dict[str, list[dict]] = {}
    for row in sub.select("call_id", "sentence_id", "speaker", "side", "text", "_pos").iter_rows(named=True):
        by_call.setdefault(row["call_id"], []).append(row)
    pos = {r["sentence_id"]: (r["call_id"], r["_pos"]) for rows in by_call.values() for r in rows}
    out: dict[int, tuple[list[dict], list[dict]]] = {}
    for sid in sentence_ids:
        if sid not in pos:
            out[sid] = ([], [])
            continue
        call_id, p = pos[sid]
        rows = by_call[call_id]
        strip = lambda r: {"speaker": r["speaker"], "side": r["side"], "text": r["text"]}  # noqa: E731
        out[sid] = ([strip(r) for r in rows[max(0, p - n):p]], [strip(r) for r in rows[p + 1:p + 1 + n]])
    return out
