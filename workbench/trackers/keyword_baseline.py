"""The keyword tracker a person would write from the examples, set beside the smart tracker.

A smart tracker earns its keep only if it beats the keyword tracker its own examples suggest
(``keyword_phrases_from_examples``: their recurring content words and word pairs, with related
forms). Both are judged on the same sentences: the user's YES and NO tags, where the smart
tracker's verdict on each tag comes from a model that did not see that tag (10-fold), so
neither side is graded on what it learnt from. The tags were chosen by the smart tracker's
rounds, not at random, so these are figures *on the tags*, like the reference estimate, not
corpus figures; the counts of detections in scope are exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# How many background sentences (a seeded sample of the scope) tell a concept's words from
# words common everywhere: enough for stable rates, cheap to match.
BACKGROUND_SIZE = 5000


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

    @staticmethod
    def _f1(tp: int, fp: int, positives: int) -> float:
        return 2 * tp / (tp + fp + positives) if tp + fp + positives else 0.0

    @property
    def keyword_f1(self) -> float:
        """F1 of the keywords on the tags."""
        return self._f1(self.keyword_yes, self.keyword_no, self.n_yes)

    @property
    def tracker_f1(self) -> float:
        """F1 of the smart tracker on the tags, each tag held out."""
        return self._f1(self.tracker_yes, self.tracker_no, self.n_yes)

    @property
    def keywords_do_as_well(self) -> bool:
        """The keywords match the smart tracker's F1 on the tags (and there are keywords)."""
        return bool(self.phrases) and self.n_yes > 0 and self.keyword_f1 >= self.tracker_f1

    @property
    def advice(self) -> str | None:
        """What to do when the keywords do as well, else None."""
        if not self.keywords_do_as_well:
            return None
        return ("The keywords do as well on your tags: a keyword tracker with these phrases may be enough, "
                "or tag another round to teach the tracker what they miss.")

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
        if self.advice:
            lines.append(f"  {self.advice}")
        return "\n".join(lines)


def keyword_baseline(texts, examples, *, random_state: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """The examples' keyword tracker over a scope: (phrases, one bool per text).

    It depends on the examples and the scope only, not on the tags, so a caller can keep it
    across rounds (about a second on 100,000 sentences)."""
    from workbench.trackers.keywords import KeywordMatcher, keyword_phrases_from_examples

    texts = np.asarray(texts, dtype=object)
    rng = np.random.default_rng(random_state)
    background = texts[rng.choice(len(texts), size=min(BACKGROUND_SIZE, len(texts)), replace=False)].tolist()
    phrases = keyword_phrases_from_examples(list(examples), background=background)
    if not phrases:
        return (), np.zeros(len(texts), bool)
    return tuple(phrases), np.asarray(KeywordMatcher(phrases, related_forms=True).matches(texts.tolist()), bool)


def compare_with_keywords(texts, labels, tracker_detected, tracker_tag_detected, examples,
                          *, random_state: int = 0, baseline=None) -> KeywordComparison:
    """Build the comparison over one tracker's scope.

    texts: (n,) sentence texts in scope; labels: (n,) 1 YES, 0 NO, -1 untagged or NOT SURE;
    tracker_detected: (n,) bool, the smart tracker's detections over the scope;
    tracker_tag_detected: (n,) bool, its held-out verdict on each tagged row (read only
    where labels >= 0); examples: the tracker's example sentences; baseline: the result of
    ``keyword_baseline(texts, examples)`` when the caller kept it.
    """
    phrases, keyword = baseline if baseline is not None else keyword_baseline(texts, examples,
                                                                              random_state=random_state)
    labels = np.asarray(labels)
    tracker_detected = np.asarray(tracker_detected, bool)
    held_out = np.asarray(tracker_tag_detected, bool)
    yes, no = labels == 1, labels == 0
    return KeywordComparison(
        phrases=tuple(phrases), n_yes=int(yes.sum()), n_no=int(no.sum()),
        keyword_yes=int((keyword & yes).sum()), keyword_no=int((keyword & no).sum()),
        tracker_yes=int((held_out & yes).sum()), tracker_no=int((held_out & no).sum()),
        keyword_detected=int(keyword.sum()), tracker_detected=int(tracker_detected.sum()),
        both_detected=int((keyword & tracker_detected).sum()),
    )
