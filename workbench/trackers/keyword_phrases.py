"""The keyword tracker a person would write from a smart tracker's example sentences.

The smart tracker's keyword baseline (keyword_baseline.py) is these phrases, matched by a
KeywordMatcher; the rule is in `keyword_phrases_from_examples`.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from workbench.core.errors import ValidationError
from workbench.trackers.words import CURLY_TO_STRAIGHT, WORD_RE, stem_of

__all__ = ["keyword_phrases_from_examples"]

Candidate = tuple[str, ...]  # the stems of one word or of two adjacent words

# Contractions are function words ("don't", "we're", "i'm"); a possessive keeps its noun.
_POSSESSIVE = re.compile(r"'s$")


def _content_tokens(text: str) -> list[str | None]:
    """Words of `text` in order, with None where a stop word, contraction or short word was."""
    out: list[str | None] = []
    for word in WORD_RE.findall(text.translate(CURLY_TO_STRAIGHT).lower()):
        word = _POSSESSIVE.sub("", word)
        if "'" in word or len(word) < 3 or word in ENGLISH_STOP_WORDS:
            out.append(None)
        else:
            out.append(word)
    return out


def _candidates(text: str) -> dict[Candidate, tuple[str, ...]]:
    """Candidate (stems) -> its surface words, for one text: each content word, and each pair
    of content words that stand next to each other with nothing dropped between them."""
    tokens = _content_tokens(text)
    found: dict[Candidate, tuple[str, ...]] = {}
    for i, tok in enumerate(tokens):
        if tok is None:
            continue
        found.setdefault((stem_of(tok),), (tok,))
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None:
            found.setdefault((stem_of(tok), stem_of(nxt)), (tok, nxt))
    return found


@dataclass
class _Counts:
    """How the candidates occur among the examples."""

    doc_freq: Counter[Candidate] = field(default_factory=Counter)  # examples each occurs in
    surfaces: dict[Candidate, Counter[tuple[str, ...]]] = field(default_factory=dict)
    first_seen: dict[Candidate, int] = field(default_factory=dict)
    occurs_in: dict[Candidate, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, examples: list[str]) -> "_Counts":
        counts = cls()
        for j, example in enumerate(examples):
            for key, surface in _candidates(example).items():
                counts.doc_freq[key] += 1
                counts.surfaces.setdefault(key, Counter())[surface] += 1
                counts.occurs_in.setdefault(key, set()).add(j)
                counts.first_seen.setdefault(key, len(counts.first_seen))
        return counts

    def shown(self, key: Candidate) -> str:
        # Commonest surface; ties go to the first seen (Counter keeps insertion order).
        return " ".join(self.surfaces[key].most_common(1)[0][0])


def _lifted(keep: list[Candidate], counts: _Counts, n_examples: int, background: Sequence[str],
            min_lift: float) -> list[Candidate]:
    """The candidates `min_lift` times as frequent among the examples as in the background."""
    bg = [b for b in background if isinstance(b, str)]
    bg_freq: Counter[Candidate] = Counter()
    wanted = set(keep)
    for text in bg:
        bg_freq.update(k for k in _candidates(text) if k in wanted)
    return [k for k in keep
            if (counts.doc_freq[k] + 1) / (n_examples + 2) >= min_lift * (bg_freq[k] + 1) / (len(bg) + 2)]


def _choose(ranked: list[Candidate], counts: _Counts, max_phrases: int) -> list[Candidate]:
    """Best first, leaving out a word whose examples a chosen bigram with it covers already."""
    chosen: list[Candidate] = []
    for key in ranked:
        if len(key) == 1:
            covered: set[int] = set()
            for other in chosen:
                if len(other) == 2 and key[0] in other:
                    covered |= counts.occurs_in[other]
            if counts.occurs_in[key] <= covered:
                continue
        chosen.append(key)
        if len(chosen) == max_phrases:
            break
    return chosen


def keyword_phrases_from_examples(
    examples: Sequence[str],
    max_phrases: int = 10,
    *,
    min_examples: int | None = None,
    background: Sequence[str] | None = None,
    min_lift: float = 5.0,
) -> list[str]:
    """The keyword tracker a person would write from a smart tracker's example sentences.

    Used as the baseline a smart tracker must beat. The rule:

    1. Words are lowercased letter runs; stop words (scikit-learn's English list), words under
       three letters and contractions are dropped, and a possessive 's is removed.
    2. Candidates are single content words, grouped by Snowball stem ("discount", "discounts"
       and "discounted" are one candidate, shown in its commonest form), and bigrams of two
       content words that stand next to each other in an example with nothing dropped
       between them ("discount code", but not "discount for the code").
    3. A candidate's score is the number of examples it occurs in. It must occur in at least
       `min_examples` of them (default: 2, or 1 when there are fewer than 4 examples).
    4. With `background` (sentences that are mostly not about the concept, e.g. a sample of
       the corpus), a candidate must also be `min_lift` times as frequent among the examples
       as in the background (both rates add-one smoothed), which drops words that are common
       everywhere ("today", "account").
    5. Highest score first; at equal score a bigram comes before a single word (it is more
       precise), then earliest first appearance. A single word is left out when every example
       it occurs in is covered by an already chosen bigram that contains it: it would find
       nothing new among the examples and match more loosely elsewhere.
    6. At most `max_phrases` phrases are returned; the list may be shorter, or empty when
       nothing recurs.
    """
    examples = [e for e in examples if isinstance(e, str) and e.strip()]
    if max_phrases < 1:
        raise ValidationError("max_phrases", f"must be at least 1, got {max_phrases}")
    if not examples:
        return []
    if min_examples is None:
        min_examples = 2 if len(examples) >= 4 else 1
    counts = _Counts.of(examples)
    keep = [k for k, n in counts.doc_freq.items() if n >= min_examples]
    if background is not None:
        keep = _lifted(keep, counts, len(examples), background, min_lift)
    keep.sort(key=lambda k: (-counts.doc_freq[k], -len(k), counts.first_seen[k]))
    return [counts.shown(k) for k in _choose(keep, counts, max_phrases)]
