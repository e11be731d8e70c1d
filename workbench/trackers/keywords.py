"""Keyword trackers: exact words and phrases, the baseline every smart tracker is compared to.

Matching rules (the same in `matches`, `find` and `match_frame`):

* Case is ignored, curly apostrophes (’ ‘ ʼ) count as straight ones and any run of whitespace,
  newlines included, matches the single space between two words of a phrase.
* A phrase matches only as whole words: it may not be glued to a letter or digit on either
  side, so "price" is not found in "priceless" or "enterprise". Punctuation around it is fine:
  "price?", "(price)", "price," all match.
* An apostrophe inside a word belongs to the word: "can" is not found in "can't", and "t" not
  in "can't". The clitics 's 're 've 'll 'd 'm may follow a phrase ("price" matches "price's",
  "we" matches "we're") because they are separate words said fast.
* Numbers are kept whole: "10,000" matches "10,000" and "$10,000" but not "110,000",
  "10,0001" or "10,000.50", and "10" does not match "10,000" (a "." or "," between digits
  continues the number).
* With `related_forms`, each word of three or more letters also matches the words that share
  its Snowball (Porter 2) stem: "discount" matches "discounts", "discounted", "discounting";
  "price" matches "prices", "priced", "pricing" but not "priceless". Shorter words and words
  with digits stay exact (the stemmer leaves them alone anyway).
* With `question_only`, a match counts only when its text is a question; see
  `questions.question_mask` for the rule. Each text is judged as one sentence: pass the sentences table's sentences,
  not whole utterances.

How it stays fast over a million sentences: all phrases go into one alternation regex that
polars runs in Rust over the whole column (word boundaries are spelled out as consuming
context instead of look-arounds, which Rust's regex engine lacks). Related forms do not
stem every word of the corpus: one vectorised pass pulls out the distinct words that start
like a phrase word's stem, only those are stemmed (and cached), and the forms that share a
phrase word's stem are spliced into the same single regex.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench.core.errors import ValidationError
from workbench.trackers.questions import question_expr, question_mask
from workbench.trackers.words import (
    APOSTROPHE,
    CURLY_TO_STRAIGHT,
    WORD_RE,
    as_text_series,
    escape_regex,
    normalise_phrase,
    stem_of,
)

__all__ = ["KeywordMatcher", "MAX_PHRASE_WORDS", "MAX_PHRASES"]

MAX_PHRASE_WORDS = 8
# Far more than anyone types by hand; keeps the compiled alternation well inside the regex
# engine's size limit even with related forms spliced in.
MAX_PHRASES = 500

_CLITICS = "(?:s|re|ve|ll|d|m)"

# Context a phrase edge needs, by the kind of character at that edge. The consuming forms
# run in polars (Rust regex has no look-arounds); the look-around forms run in Python for
# `find`, where the context must not be consumed or adjacent matches would be lost. The two
# say the same thing and a test checks they agree.
_LEFT = {
    "word": rf"(?:^|[^\w'\u2019\u2018\u02bc]|^{APOSTROPHE}|\W{APOSTROPHE})",
    "digit": r"(?:^|[^\w.,]|^[.,]|\D[.,])",
    "other": r"(?:^|\W)",
}
_RIGHT = {
    "word": rf"(?:$|[^\w'\u2019\u2018\u02bc]|{APOSTROPHE}$|{APOSTROPHE}\W|{APOSTROPHE}{_CLITICS}(?:$|\W))",
    "digit": r"(?:$|[^\w.,]|[.,]$|[.,]\D)",
    "other": r"(?:$|\W)",
}
_LEFT_LOOK = {
    "word": rf"(?<!\w)(?<!\w{APOSTROPHE})",
    "digit": r"(?<!\w)(?<!\d[.,])",
    "other": r"(?<!\w)",
}
_RIGHT_LOOK = {
    "word": rf"(?!\w)(?!{APOSTROPHE}(?!{_CLITICS}(?!\w))\w)",
    "digit": r"(?!\w)(?![.,]\d)",
    "other": r"(?!\w)",
}

# Pieces of a phrase: runs of word characters (kept together with inner apostrophes),
# whitespace, and single other characters.
_PIECE_RE = re.compile(rf"\w+(?:{APOSTROPHE}\w+)*|\s+|.", re.S)


def _stem_prefix(stem: str) -> str:
    """A prefix every word with this Snowball stem starts with.

    Snowball only rewrites a word's ending, and at most its last kept letter (y -> i,
    "hoping" -> "hope"), so all but the stem's last letter is a prefix of every word that
    has it. The only exceptions are in the stemmer's own irregular list (e.g. "dying" ->
    "die"), handled by `_IRREGULAR_PREFIXES`.
    """
    return stem[:-1] if len(stem) > 1 else stem


def _irregular_prefixes() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    # The English Snowball stemmer's exception list (snowball.tartarus.org/algorithms/english).
    for word in ("skis", "skies", "dying", "lying", "tying", "idly", "gently", "ugly",
                 "early", "only", "singly"):
        stem = stem_of(word)
        if not word.startswith(_stem_prefix(stem)):
            out.setdefault(stem, []).append(word[:2])
    return {k: tuple(v) for k, v in out.items()}


_IRREGULAR_PREFIXES = _irregular_prefixes()


def _edge_kind(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isalnum() or ch == "_":
        return "word"
    return "other"


@dataclass(frozen=True)
class _Piece:
    text: str  # normalised surface
    stem: str | None  # set for words that related forms may vary


def _pieces(normalised: str, related: bool) -> tuple[_Piece, ...]:
    out = []
    for m in _PIECE_RE.finditer(normalised):
        text = m.group()
        if text.isspace():
            out.append(_Piece(" ", None))
        elif related and len(text) >= 3 and WORD_RE.fullmatch(text):
            out.append(_Piece(text, stem_of(text)))
        else:
            out.append(_Piece(text, None))
    return tuple(out)


def _key(pieces: Iterable[_Piece]) -> tuple[str, ...]:
    """What two surfaces share when they are the same phrase (stems stand in for words)."""
    return tuple(p.stem if p.stem is not None else p.text for p in pieces)


@dataclass(frozen=True)
class _Phrase:
    original: str
    normalised: str
    pieces: tuple[_Piece, ...]
    left: str
    right: str

    def body(self, forms: dict[str, list[str]] | None) -> str:
        """Regex for the phrase itself; `forms` maps a stem to the surface words seen for it."""
        parts = []
        for p in self.pieces:
            if p.text == " ":
                parts.append(r"\s+")
            elif p.stem is not None and forms:
                variants = sorted(set(forms.get(p.stem, ())) | {p.text}, key=lambda w: (-len(w), w))
                parts.append("(?:" + "|".join(escape_regex(v) for v in variants) + ")")
            else:
                parts.append(escape_regex(p.text))
        return "".join(parts)


# ---------------------------------------------------------------------------------------------
# The matcher
# ---------------------------------------------------------------------------------------------


class KeywordMatcher:
    """Finds any of a keyword tracker's phrases in sentences; see the module doc for the rules.

    >>> m = KeywordMatcher(["discount", "best price"], related_forms=True)
    >>> m.matches(["Any discounts?", "What's your best   pricing", "priceless"]).tolist()
    [True, True, False]
    >>> m.find("Can we get a discount on the best price?")
    [(13, 21, 'discount'), (29, 39, 'best price')]
    """

    def __init__(self, phrases: Sequence[str], *, related_forms: bool = False,
                 question_only: bool = False) -> None:
        self.related_forms = bool(related_forms)
        self.question_only = bool(question_only)
        self._phrases = self._validate(phrases)
        self.phrases: list[str] = [p.original for p in self._phrases]
        self._by_key = {_key(p.pieces): p.original for p in self._phrases}
        # Longest first, so that where two phrases start at the same place the longer one is
        # the one reported ("discount code" over "discount").
        ordered = sorted(self._phrases, key=lambda p: -len(p.normalised))
        self._groups: dict[tuple[str, str], list[_Phrase]] = {}
        for p in ordered:
            self._groups.setdefault((p.left, p.right), []).append(p)
        self._stems = {p.stem for ph in self._phrases for p in ph.pieces if p.stem is not None}
        # Surface forms seen so far for each stem; only grows, and a form can only match where
        # it occurs, so what earlier calls added never changes a later call's result.
        self._forms: dict[str, set[str]] = {s: set() for s in self._stems}
        self._checked_words: set[str] = set()
        self._py_cache: dict[tuple, re.Pattern] = {}
        if self._stems:
            prefixes = set()
            for stem in self._stems:
                prefixes.add(_stem_prefix(stem))
                prefixes.update(_IRREGULAR_PREFIXES.get(stem, ()))
            alternation = "|".join(escape_regex(x) for x in sorted(prefixes, key=len, reverse=True))
            self._candidates = rf"(?:{alternation})[^\W\d_]*(?:{APOSTROPHE}[^\W\d_]+)*"
            self._candidates_re = re.compile(self._candidates, re.I)

    def __repr__(self) -> str:
        flags = "".join(
            f", {name}=True" for name in ("related_forms", "question_only") if getattr(self, name)
        )
        return f"KeywordMatcher({self.phrases!r}{flags})"

    # -- validation ----------------------------------------------------------------------------

    def _validate(self, phrases: Sequence[str]) -> list[_Phrase]:
        fix_dupe = "Remove one of them"
        if isinstance(phrases, str) or phrases is None:
            raise ValidationError(
                "phrases", "expected a list of phrases, got "
                + ("a single string" if isinstance(phrases, str) else "nothing"),
                f"Wrap it in a list: [{phrases!r}]" if isinstance(phrases, str) else None,
            )
        phrases = list(phrases)
        if not phrases:
            raise ValidationError("phrases", "a keyword tracker needs at least one phrase",
                                  "Add the words or phrases to look for")
        if len(phrases) > MAX_PHRASES:
            raise ValidationError("phrases", f"{len(phrases)} phrases is more than the "
                                  f"{MAX_PHRASES} a keyword tracker takes",
                                  "Split them over several trackers or use a smart tracker")
        out: list[_Phrase] = []
        seen: dict[tuple[str, ...], str] = {}
        for i, phrase in enumerate(phrases, start=1):
            where = f"phrase {i}"
            if not isinstance(phrase, str):
                raise ValidationError("phrases", f"{where} is {type(phrase).__name__} "
                                      f"{phrase!r}, not text", "Give every phrase as a string")
            norm = normalise_phrase(phrase)
            if not norm:
                raise ValidationError("phrases", f"{where} is empty", "Remove it or type a phrase")
            if not re.search(r"\w", norm):
                raise ValidationError(
                    "phrases", f"{where} {phrase!r} has no letters or digits",
                    "A keyword phrase is matched as whole words, so it needs at least one word",
                )
            n_words = len(norm.split())
            if n_words > MAX_PHRASE_WORDS:
                raise ValidationError(
                    "phrases", f"{where} {phrase!r} has {n_words} words, more than "
                    f"{MAX_PHRASE_WORDS}", "Shorten it to its distinctive words; long phrases "
                    "are almost never said word for word",
                )
            pieces = _pieces(norm, self.related_forms)
            key = _key(pieces)
            if key in seen:
                same = ("the same with related forms on" if self.related_forms
                        and normalise_phrase(seen[key]) != norm else
                        "the same phrase once case, apostrophes and spacing are ignored")
                raise ValidationError(
                    "phrases", f"{where} {phrase!r} and {seen[key]!r} are {same}", fix_dupe
                )
            seen[key] = phrase
            out.append(_Phrase(phrase, norm, pieces, _edge_kind(norm[0]), _edge_kind(norm[-1])))
        return out

    # -- regex building ------------------------------------------------------------------------

    def _learn_forms(self, words: Iterable[str]) -> None:
        for raw in words:
            word = raw.translate(CURLY_TO_STRAIGHT).lower()
            if word in self._checked_words:
                continue
            self._checked_words.add(word)
            stem = stem_of(word)
            if stem in self._forms:
                self._forms[stem].add(word)

    def _forms_in(self, words: Iterable[str]) -> dict[str, list[str]] | None:
        """The forms of each phrase stem among `words` (the words of the texts at hand)."""
        if not self._stems:
            return None
        words = {w.translate(CURLY_TO_STRAIGHT).lower() for w in words}
        self._learn_forms(words)
        return {s: sorted(f & words) for s, f in self._forms.items()}

    def _polars_pattern(self, forms: dict[str, list[str]] | None) -> str:
        alternatives = [
            f"{_LEFT[left]}({'|'.join(p.body(forms) for p in group)}){_RIGHT[right]}"
            for (left, right), group in self._groups.items()
        ]
        return "(?i)" + "|".join(alternatives)

    def _python_pattern(self, forms: dict[str, list[str]] | None) -> re.Pattern:
        cache_key = tuple(sorted((k, tuple(v)) for k, v in forms.items())) if forms else ()
        pattern = self._py_cache.get(cache_key)
        if pattern is None:
            alternatives = [
                f"{_LEFT_LOOK[p.left]}(?:{p.body(forms)}){_RIGHT_LOOK[p.right]}"
                for p in sorted(self._phrases, key=lambda p: -len(p.normalised))
            ]
            pattern = re.compile("|".join(alternatives), re.I)
            if len(self._py_cache) > 256:
                self._py_cache.clear()
            self._py_cache[cache_key] = pattern
        return pattern

    def _phrase_of(self, surface: str) -> str:
        key = _key(_pieces(normalise_phrase(surface), self.related_forms))
        found = self._by_key.get(key)
        if found is not None:
            return found
        # Rust and Python lowercase a few letters differently; fall back to asking each
        # phrase's own pattern.
        forms = self._forms_in(WORD_RE.findall(surface))
        for p in self._phrases:
            if re.fullmatch(p.body(forms), surface, re.I):
                return p.original
        return self.phrases[0]

    # -- matching ------------------------------------------------------------------------------

    def _series_pattern(self, s: pl.Series) -> str:
        forms = None
        if self._stems:
            vocab = s.str.extract_all("(?i)" + self._candidates).explode().drop_nulls().unique()
            forms = self._forms_in(vocab.to_list())
        return self._polars_pattern(forms)

    def _mask(self, s: pl.Series, pattern: str) -> np.ndarray:
        expr = pl.col("t").str.contains(pattern)
        if self.question_only:
            expr = expr & question_expr(pl.col("t"))
        return s.to_frame("t").select(expr.fill_null(False))["t"].to_numpy()

    def matches(self, texts) -> np.ndarray:
        """One bool per text: does it contain any phrase (and, with `question_only`, is it a
        question). Takes a list, numpy array or polars Series of strings; nulls are False."""
        s = as_text_series(texts)
        if len(s) == 0:
            return np.zeros(0, dtype=bool)
        return self._mask(s, self._series_pattern(s))

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, phrase) for each match in `text`, as character offsets for highlighting.

        Matches do not overlap; where two phrases start at the same place the longer wins.
        With `question_only` there are none unless the text is a question.
        """
        if text is None:
            return []
        if not isinstance(text, str):
            raise TypeError(f"find() takes one text, got {type(text).__name__}")
        if self.question_only and not question_mask([text])[0]:
            return []
        forms = self._forms_in(WORD_RE.findall(text)) if self._stems else None
        pattern = self._python_pattern(forms)
        return [(m.start(), m.end(), self._phrase_of(m.group())) for m in pattern.finditer(text)]

    def match_frame(self, sentences: pl.DataFrame, *, text_column: str = "text") -> pl.DataFrame:
        """`sentences` with two columns added: `matched` (bool) and `matched_phrase` (the
        phrase of the first match in the sentence, null where nothing matched)."""
        if text_column not in sentences.columns:
            raise ValidationError(
                text_column, f"the table has no '{text_column}' column "
                f"(it has {', '.join(sentences.columns) or 'none'})",
                "Pass a sentences table, or name its text column with text_column=",
            )
        s = as_text_series(sentences.get_column(text_column))
        n = len(s)
        if n == 0:
            return sentences.with_columns(
                pl.lit(None, pl.Boolean).alias("matched"),
                pl.lit(None, pl.String).alias("matched_phrase"),
            ).clear()
        pattern = self._series_pattern(s)
        mask = self._mask(s, pattern)
        phrase = pl.Series("matched_phrase", [None] * n, dtype=pl.String)
        idx = np.flatnonzero(mask)
        if len(idx):
            groups = s.gather(idx).str.extract_groups(pattern)
            surfaces = groups.struct.unnest().select(pl.coalesce(pl.all()))
            surfaces = surfaces.to_series()
            mapping = {u: self._phrase_of(u) for u in surfaces.unique().to_list()}
            phrase = phrase.scatter(idx, surfaces.replace_strict(mapping, return_dtype=pl.String))
        return sentences.with_columns(
            pl.Series("matched", mask, dtype=pl.Boolean), phrase
        )
