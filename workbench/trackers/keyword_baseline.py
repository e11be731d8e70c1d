"""The keyword tracker a person would write from the examples, set beside the smart tracker.

A smart tracker earns its keep only if it beats the keyword tracker its own examples suggest
(``keyword_phrases_from_examples``: their recurring content words and word pairs, with related
forms). Both are judged on the same sentences: the user's YES and NO tags, where the smart
tracker's verdict on each tag comes from a model that did not see that tag (10-fold), so
neither side is graded on what it learnt from; the counts of detections in scope are exact.

The rounds chose most tags for looking like the concept, so counts on all tags favour the
tracker: near misses share the concept's words, and the keywords match them. Which one would
do better on the calls is estimated from the random-sample tags alone (the rounds' stratified
probe and verification rounds), each weighted by 1 / its chance of being drawn, by speaker
turn, as the honest estimate counts. On the quality benchmark (11 concepts x 12 seeds) that
estimate named 7 of the 8 runs where the keywords really did as well on the corpus, with 10
false alarms in 132 runs; with the earlier model (YES tags learnt as tagged) it named 8 of 12,
where the counts on all tags named 1, with 6 false alarms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.training.codes import in_codes

# How many background sentences (a seeded sample of the scope) tell a concept's words from
# words common everywhere: enough for stable rates, cheap to match.
BACKGROUND_SIZE = 5000


def _f1(tp: float, fp: float, fn: float) -> float:
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


@dataclass(frozen=True)
class KeywordComparison:
    """Keywords from the examples against the smart tracker, on the tags and in scope.

    phrases: the keyword tracker's phrases (empty when no word recurs in the examples).
    n_yes, n_no: YES and NO tags.
    keyword_yes, keyword_no: tags the keywords match.
    tracker_yes, tracker_no: tags the smart tracker detects, each judged by a model fitted
        without it.
    keyword_detected, tracker_detected, both_detected: sentences in scope each detects, and
        both (exact counts over the whole scope).
    n_random_tags: tags from random samples (known chance of being drawn);
    keyword_f1_estimated, tracker_f1_estimated: F1 on the corpus estimated from them, by
        speaker turn (None without random tags).
    """

    phrases: tuple[str, ...]
    n_yes: int
    n_no: int
    keyword_yes: int
    keyword_no: int
    tracker_yes: int
    tracker_no: int
    keyword_detected: int
    tracker_detected: int
    both_detected: int
    n_random_tags: int = 0
    keyword_f1_estimated: float | None = None
    tracker_f1_estimated: float | None = None

    @property
    def keyword_f1(self) -> float:
        """F1 of the keywords on the tags."""
        return _f1(self.keyword_yes, self.keyword_no, self.n_yes - self.keyword_yes)

    @property
    def tracker_f1(self) -> float:
        """F1 of the smart tracker on the tags, each tag held out."""
        return _f1(self.tracker_yes, self.tracker_no, self.n_yes - self.tracker_yes)

    @property
    def keywords_do_as_well(self) -> bool:
        """The keywords' estimated F1 on the corpus (from the random tags) is at least the
        tracker's; False without keywords or random tags."""
        return (bool(self.phrases) and self.keyword_f1_estimated is not None
                and self.tracker_f1_estimated is not None and self.keyword_f1_estimated >= self.tracker_f1_estimated)

    @property
    def advice(self) -> str | None:
        """What to do when the keywords do as well, else None."""
        if not self.keywords_do_as_well:
            return None
        return (f"The keywords may do as well on your calls: estimated from the {self.n_random_tags} random tags, "
                f"their F1 is {self.keyword_f1_estimated:.2f} against the tracker's {self.tracker_f1_estimated:.2f}. "
                "A keyword tracker with these phrases may be enough, or tag another round to teach the tracker "
                "what they miss.")

    def text(self) -> str:
        """A few lines for the terminal and the overview."""
        if not self.phrases:
            return ("Keyword baseline: no content word recurs in the examples, so there is no keyword "
                    "tracker to compare with.")
        words = ", ".join(f"'{p}'" for p in self.phrases)
        lines = [
            f"Keyword baseline (the examples' words, related forms: {words}):",
            f"  on your tags   keywords match {self.keyword_yes} of {self.n_yes} YES and {self.keyword_no} of "
            f"{self.n_no} NO (F1 {self.keyword_f1:.2f}); the tracker, each tag held out, "
            f"{self.tracker_yes} and {self.tracker_no} (F1 {self.tracker_f1:.2f})",
            f"  in scope       keywords detect {self.keyword_detected:,} sentences, the tracker "
            f"{self.tracker_detected:,}, both {self.both_detected:,}",
        ]
        if self.keyword_f1_estimated is not None and self.tracker_f1_estimated is not None:
            lines.append(f"  on the calls   F1 estimated from the {self.n_random_tags} random tags: keywords "
                         f"{self.keyword_f1_estimated:.2f}, the tracker {self.tracker_f1_estimated:.2f}")
        if self.advice:
            lines.append(f"  {self.advice}")
        return "\n".join(lines)


def keyword_baseline(texts, examples, *, random_state: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """The examples' keyword tracker over a scope: (phrases, one bool per text).

    It depends on the examples and the scope only, not on the tags, so a caller can keep it
    across rounds (about a second on 100,000 sentences)."""
    from workbench.trackers.keyword_phrases import keyword_phrases_from_examples
    from workbench.trackers.keywords import KeywordMatcher

    texts = np.asarray(texts, dtype=object)
    rng = np.random.default_rng(random_state)
    background = texts[rng.choice(len(texts), size=min(BACKGROUND_SIZE, len(texts)), replace=False)].tolist()
    phrases = keyword_phrases_from_examples(list(examples), background=background)
    if not phrases:
        return (), np.zeros(len(texts), bool)
    return tuple(phrases), np.asarray(KeywordMatcher(phrases, related_forms=True).matches(texts.tolist()), bool)


def _estimated_f1s(labels, keyword, tracker_detected, held_out, inclusion_prob, groups):
    """(n random tags, keyword F1, tracker F1) on the corpus from the random-sample tags, by turn.

    Each random round is a sample of the whole scope, so its 1/pi-weighted counts estimate the
    corpus counts; summed over rounds they estimate them times the number of rounds, which F1
    does not see. A probe turn counts as detected by the tracker when its tagged sentence is
    (held out) or any untagged sentence of it is; by the keywords when any sentence of it
    matches."""
    tagged = labels >= 0
    probe = np.flatnonzero(tagged & np.isfinite(inclusion_prob) & (inclusion_prob > 0))
    if probe.size == 0 or not (labels[probe] == 1).any():
        return int(probe.size), None, None
    g = np.arange(len(labels)) if groups is None else np.asarray(groups)
    # Only the probe's turns are read: their sentences alone are gathered (two passes over a
    # million rows to fill every turn's flags took most of this).
    in_probe_turn = np.flatnonzero(in_codes(g, g[probe]))
    gi = g[in_probe_turn]
    turn_keyword = np.zeros(int(g.max()) + 1, bool)
    np.logical_or.at(turn_keyword, gi, np.asarray(keyword, bool)[in_probe_turn])
    mates = np.zeros(int(g.max()) + 1, bool)
    untagged = ~tagged[in_probe_turn]
    np.logical_or.at(mates, gi[untagged], np.asarray(tracker_detected, bool)[in_probe_turn][untagged])
    y = labels[probe] == 1
    w = 1.0 / inclusion_prob[probe]

    def f1(d):
        return _f1((w * (d & y)).sum(), (w * (d & ~y)).sum(), (w * (~d & y)).sum())

    return int(probe.size), f1(turn_keyword[g[probe]]), f1(held_out[probe] | mates[g[probe]])


def compare_with_keywords(texts, labels, tracker_detected, tracker_tag_detected, examples,
                          *, inclusion_prob=None, groups=None, random_state: int = 0,
                          baseline=None) -> KeywordComparison:
    """Build the comparison over one tracker's scope.

    texts: (n,) sentence texts in scope; labels: (n,) 1 YES, 0 NO, -1 untagged or NOT SURE;
    tracker_detected: (n,) bool, the smart tracker's detections over the scope;
    tracker_tag_detected: (n,) bool, its held-out verdict on each tagged row (read only
    where labels >= 0); examples: the tracker's example sentences; inclusion_prob, groups:
    each row's chance of being drawn by a random sample (NaN otherwise) and its speaker turn,
    for the estimated corpus F1s (without inclusion_prob there are none, and no advice);
    baseline: the result of ``keyword_baseline(texts, examples)`` when the caller kept it
    (``texts`` are then not read, and may be None).
    """
    phrases, keyword = baseline if baseline is not None else keyword_baseline(texts, examples,
                                                                              random_state=random_state)
    labels = np.asarray(labels)
    tracker_detected = np.asarray(tracker_detected, bool)
    held_out = np.asarray(tracker_tag_detected, bool)
    yes, no = labels == 1, labels == 0
    n_random, kw_f1, tr_f1 = 0, None, None
    if inclusion_prob is not None:
        n_random, kw_f1, tr_f1 = _estimated_f1s(labels, keyword, tracker_detected, held_out,
                                                np.asarray(inclusion_prob, dtype=float), groups)
    return KeywordComparison(
        phrases=tuple(phrases), n_yes=int(yes.sum()), n_no=int(no.sum()),
        keyword_yes=int((keyword & yes).sum()), keyword_no=int((keyword & no).sum()),
        tracker_yes=int((held_out & yes).sum()), tracker_no=int((held_out & no).sum()),
        keyword_detected=int(keyword.sum()), tracker_detected=int(tracker_detected.sum()),
        both_detected=int((keyword & tracker_detected).sum()),
        n_random_tags=n_random, keyword_f1_estimated=kw_f1, tracker_f1_estimated=tr_f1,
    )
