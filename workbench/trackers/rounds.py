"""A tagging round: the candidates one round shows, with their context, and the user's answers;
and the tagging session the screen and the terminal share (which round opens, which sentence is
shown, where an answer or a move goes, when the round is trained).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.core.errors import ValidationError, WorkbenchError
from workbench.training.session import (  # noqa: F401  (the round sizes, said once, in the loop)
    ROUND_SIZE,
    VERIFICATION_SIZE,
    VERIFICATION_STRATEGIES,
    VERIFICATION_STRATEGY,
    round_kind,
)
from workbench.training.verification import SAMPLERS, VerificationGoal

ANSWERS = ("yes", "no", "not_sure")
CONTEXT_SENTENCES = 2


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
        label = ""
        if self.kind == "verification":
            drawn = "likely misses" if self.candidates[0].strategy == SAMPLERS["hit_rate"] else "random detections"
            label = f" (verification: {drawn})"
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


@dataclass
class RoundCursor:
    """Which candidate of a round is shown, and where answering or moving goes next.

    It opens on the first candidate not tagged yet. An answer moves to the next one not tagged
    after it, else the first one before it, else stays (the round is complete); back and
    forward step one candidate, within the round.
    """

    round: Round
    index: int = 0

    @classmethod
    def at_first_gap(cls, rnd: Round) -> "RoundCursor":
        first = rnd.next_untagged()
        return cls(rnd, rnd.candidates.index(first) if first is not None else 0)

    @property
    def candidate(self) -> Candidate:
        return self.round[self.index]

    @property
    def at_start(self) -> bool:
        return self.index == 0

    @property
    def at_end(self) -> bool:
        return self.index >= len(self.round) - 1

    def answered(self, answer: str) -> None:
        self.candidate.answer = answer
        gaps = [i for i, c in enumerate(self.round) if c.answer is None]
        following = [i for i in gaps if i > self.index]
        if gaps:
            self.index = (following or gaps)[0]

    def go_to(self, index: int) -> None:
        self.index = max(0, min(len(self.round) - 1, index))

    def back(self) -> None:
        self.go_to(self.index - 1)

    def forward(self) -> None:
        self.go_to(self.index + 1)


def round_trained(tracker: Any, number: int) -> bool:
    """Whether a model version was trained after this round (versions record their round)."""
    versions = tracker.versions()
    return versions.height > 0 and versions.filter(pl.col("round") == number).height > 0


def no_model_yet(tracker: Any) -> str | None:
    """Why the tags so far cannot make a model (no YES, or no NO), or None when they can.

    A round answered all NO is complete all the same: there is nothing to train yet, and the
    next round is served rather than the same round again."""
    answers = tracker.tags()["answer"]
    n_yes, n_no = int((answers == "yes").sum()), int((answers == "no").sum())
    if n_yes and n_no:
        return None
    return (f"{n_yes} YES and {n_no} NO tags so far: a model needs at least one of each, so no version is "
            "trained yet. The next round looks for likely YES sentences again (expect many NO answers in "
            "the first rounds).")


def open_round(tracker: Any, *, verify: int = 0, until: VerificationGoal | None = None) -> Round:
    """The round a person tags now.

    The last round when it is not finished: some candidates untagged, or all tagged but no
    version trained on it (the kernel or the terminal stopped between the last tag and
    training; it is trained next, not skipped). Otherwise a new round: 25 candidates, or with
    ``verify=N`` a verification round of N random detections; with ``until`` (the asked
    accuracy) the next round of verify-until-sure, empty once it is reached. A complete round
    whose tags cannot make a model yet (``no_model_yet``) is done: a new one follows.
    """
    current = tracker.current_round()
    if current is not None and (not current.complete or (not round_trained(tracker, current.number)
                                                         and no_model_yet(tracker) is None)):
        return current
    if until is not None:
        return tracker.verification_round(verify or VERIFICATION_SIZE, **until.asked)
    return tracker.verification_round(verify) if verify else tracker.next_round()


class TaggingSession:
    """A person tagging a tracker's rounds: what the tagging screen and `workbench tag` both drive.

    Each answer is saved (``tracker.tag``) before the cursor moves, so a stopped session loses
    nothing and the next one resumes the same round (``open_round``).
    """

    def __init__(self, tracker: Any, rnd: Round | None = None, *, verify: int = 0,
                 until: VerificationGoal | None = None) -> None:
        self.tracker = tracker
        self.last_training = None  # the TrainingResult of this session's last finish()
        self.finished_round: int | None = None  # the round that finish() closed, trained or not
        self.until = until  # the accuracy being verified until, while its rounds go on
        rnd = rnd if rnd is not None else open_round(tracker, verify=verify, until=until)
        self.cursor = RoundCursor.at_first_gap(rnd)

    @property
    def round(self) -> Round:
        return self.cursor.round

    @property
    def candidate(self) -> Candidate:
        return self.cursor.candidate

    @property
    def untagged(self) -> int:
        return len(self.round) - self.round.tagged

    @property
    def trained(self) -> bool:
        """This round has been trained in this session: the next round may start."""
        return self.last_training is not None and self.last_training.round_number == self.round.number

    @property
    def finished(self) -> bool:
        """This round has been finished in this session, with or without a model: the next
        round may start (``trained`` says whether a version was trained on it)."""
        return self.finished_round == self.round.number and self.round.complete

    def answer(self, answer: str) -> None:
        """Tag the shown candidate (saved at once) and move to the next one not tagged yet."""
        if answer not in ANSWERS:
            raise ValidationError("answer", f"{answer!r} is not an answer", "Use 'yes', 'no' or 'not_sure'.")
        self.tracker.tag(self.candidate.sentence_id, answer)
        self.cursor.answered(answer)

    def finish(self):
        """Train a new model version on every tag so far; the round must be complete. Returns
        the TrainingResult, or None when the tags cannot make a model yet (all NO so far):
        ``no_model_yet`` then says why, and ``open()`` serves the next round."""
        if not self.round.complete:
            left = self.untagged
            raise WorkbenchError(f"{left} sentence{'s' if left != 1 else ''} of round {self.round.number} "
                                 "not tagged yet.")
        self.last_training = None if self.no_model_yet() else self.tracker.train()
        self.finished_round = self.round.number
        return self.last_training

    def no_model_yet(self) -> str | None:
        """Why the tags so far make no model yet, or None when they do (``no_model_yet``)."""
        return no_model_yet(self.tracker)

    def open(self, *, verify: int = 0, until: VerificationGoal | None = None) -> Round:
        """Move on to the round to tag now (``open_round``): a new one once this one is trained,
        with ``verify=N`` a verification round of N random detections, with ``until`` the next
        round of verify-until-sure (empty once the accuracy is reached)."""
        self.cursor = RoundCursor.at_first_gap(open_round(self.tracker, verify=verify, until=until))
        self.until = until
        return self.round

    def open_verification(self, until: VerificationGoal, size: int = VERIFICATION_SIZE):
        """Verify until sure: where the asked accuracy stands (``tracker.verification_need``:
        ``.reached``, ``.describe()``) and, unless it is reached, its next round opened (the
        round in progress first, as ``open``). The round shown stays when it is reached."""
        need = self.tracker.verification_need(**until.asked)
        if need.reached:
            self.until = None
            return need
        self.open(verify=size, until=until)
        return need

    def verification_need(self):
        """Where the accuracy being verified until stands now, or None when none is."""
        return None if self.until is None else self.tracker.verification_need(**self.until.asked)


def with_context(sentences: pl.DataFrame, sentence_ids: list[int], n: int = CONTEXT_SENTENCES) -> dict[int, tuple[list[dict], list[dict]]]:
    """The n sentences before and after each given sentence in its call (across speaker turns)."""
    wanted = pl.DataFrame({"sentence_id": sentence_ids}, schema={"sentence_id": pl.Int64})
    calls = sentences.join(wanted, on="sentence_id", how="semi")["call_id"].unique()
    # Sentences are stored in call, utterance, sentence order; a running row number per call
    # gives each sentence its neighbours without sorting the whole corpus.
    sub = sentences.filter(pl.col("call_id").is_in(calls.implode())).with_columns(
        pl.int_range(pl.len()).over("call_id").alias("_pos")
    ).select("call_id", "sentence_id", "speaker", "side", "text", "_pos")
    hits = sub.join(wanted, on="sentence_id", how="semi").select("call_id", "sentence_id", pl.col("_pos").alias("_at"))
    pos = {sid: (call_id, p) for call_id, sid, p in hits.iter_rows()}
    # Only the rows within n of a given sentence become Python objects: a round's 25 picks in
    # calls of 100 sentences made 2,500 dicts for the 100 shown (at 1M sentences 0.025 -> 0.017 CPU s).
    near = (sub.join(hits.select("call_id", "_at"), on="call_id")
            .filter((pl.col("_pos") - pl.col("_at")).abs() <= n).drop("_at").unique(["call_id", "_pos"]))
    at = {(r["call_id"], r["_pos"]): {"speaker": r["speaker"], "side": r["side"], "text": r["text"]}
          for r in near.iter_rows(named=True)}
    out: dict[int, tuple[list[dict], list[dict]]] = {}
    for sid in sentence_ids:
        if sid not in pos:
            out[sid] = ([], [])
            continue
        call_id, p = pos[sid]
        # A neighbour is missing only past either end of its call.
        out[sid] = ([dict(at[call_id, q]) for q in range(max(0, p - n), p)],
                    [dict(at[call_id, q]) for q in range(p + 1, p + 1 + n) if (call_id, q) in at])
    return out
