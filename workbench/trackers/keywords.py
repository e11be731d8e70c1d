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
* With `question_only`, a match counts only when its text is a question; see `question_mask`
  for the rule. Each text is judged as one sentence: pass the sentences table's sentences,
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
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
from nltk.stem.snowball import SnowballStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from workbench.core.errors import ValidationError

__all__ = [
    "KeywordMatcher",
    "MAX_PHRASE_WORDS",
    "MAX_PHRASES",
    "keyword_phrases_from_examples",
    "normalise_phrase",
    "question_mask",
]

MAX_PHRASE_WORDS = 8
# Far more than anyone types by hand; keeps the compiled alternation well inside the regex
# engine's size limit even with related forms spliced in.
MAX_PHRASES = 500

_APOSTROPHES = "'\u2019\u2018\u02bc"
_A = "['\u2019\u2018\u02bc]"  # one apostrophe of any kind, as a regex class
_CURLY = str.maketrans({c: "'" for c in _APOSTROPHES[1:]})
_CLITICS = "(?:s|re|ve|ll|d|m)"

# Escaping only the characters that are special in both Python's `re` and Rust's `regex`:
# Rust rejects some escapes that `re.escape` emits (e.g. an escaped space).
_META = set("\\.+*?()|[]{}^$#&-~")

# Context a phrase edge needs, by the kind of character at that edge. The consuming forms
# run in polars (Rust regex has no look-arounds); the look-around forms run in Python for
# `find`, where the context must not be consumed or adjacent matches would be lost. The two
# say the same thing and a test checks they agree.
_LEFT = {
    "word": rf"(?:^|[^\w'\u2019\u2018\u02bc]|^{_A}|\W{_A})",
    "digit": r"(?:^|[^\w.,]|^[.,]|\D[.,])",
    "other": r"(?:^|\W)",
}
_RIGHT = {
    "word": rf"(?:$|[^\w'\u2019\u2018\u02bc]|{_A}$|{_A}\W|{_A}{_CLITICS}(?:$|\W))",
    "digit": r"(?:$|[^\w.,]|[.,]$|[.,]\D)",
    "other": r"(?:$|\W)",
}
_LEFT_LOOK = {
    "word": rf"(?<!\w)(?<!\w{_A})",
    "digit": r"(?<!\w)(?<!\d[.,])",
    "other": r"(?<!\w)",
}
_RIGHT_LOOK = {
    "word": rf"(?!\w)(?!{_A}(?!{_CLITICS}(?!\w))\w)",
    "digit": r"(?!\w)(?![.,]\d)",
    "other": r"(?!\w)",
}

# A word for stemming: letters with inner apostrophes ("can't", "price's").
_WORD = rf"[^\W\d_]+(?:{_A}[^\W\d_]+)*"
_WORD_RE = re.compile(_WORD)
# Pieces of a phrase: runs of word characters (kept together with inner apostrophes),
# whitespace, and single other characters.
_PIECE_RE = re.compile(rf"\w+(?:{_A}\w+)*|\s+|.", re.S)

_stemmer = SnowballStemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer.stem(word)


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
        stem = _stem(word)
        if not word.startswith(_stem_prefix(stem)):
            out.setdefault(stem, []).append(word[:2])
    return {k: tuple(v) for k, v in out.items()}


_IRREGULAR_PREFIXES = _irregular_prefixes()


def normalise_phrase(phrase: str) -> str:
    """The form two phrases are compared in: NFC, lowercase, straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFC", phrase).translate(_CURLY).lower()
    return " ".join(text.split())


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch == "'":
            out.append(_A)
        elif ch in _META:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


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
        elif related and len(text) >= 3 and _WORD_RE.fullmatch(text):
            out.append(_Piece(text, _stem(text)))
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
                parts.append("(?:" + "|".join(_escape(v) for v in variants) + ")")
            else:
                parts.append(_escape(p.text))
        return "".join(parts)


def _as_series(texts) -> pl.Series:
    if isinstance(texts, pl.Series):
        s = texts
    elif isinstance(texts, str):
        raise TypeError("matches() takes a sequence of texts; use find() for a single text")
    else:
        s = pl.Series("text", list(texts) if not isinstance(texts, np.ndarray) else texts.tolist(),
                      dtype=pl.String, strict=False)
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    return s


# ---------------------------------------------------------------------------------------------
# Questions
# ---------------------------------------------------------------------------------------------

_CLOSERS = "\\s\"'\u2019\u201d)\\]"
_ENDS_WITH_QUESTION = rf"\?[{_CLOSERS}]*$"
# A single "." or "!" ends a statement; "..." and "…" trail off and say nothing.
_ENDS_WITH_STATEMENT = rf"(?:^|[^.])[.!][{_CLOSERS}]*$"
_FILLERS = ("so", "and", "but", "um", "umm", "uh", "uhm", "er", "erm", "ah", "oh", "hmm", "mm",
            "ok", "okay", "well", "yeah", "yes", "right", "alright", "hey", "hi", "hello", "now",
            "then", "also", "just", "like", "sorry", "actually", "basically", "anyway")
_WH_WORDS = ("what", "when", "where", "which", "who", "whom", "whose", "why", "how")
# "wo" is the stem of "won't" (wo + n't); "can't" is can + 't.
_AUXILIARIES = ("is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "will",
                "wo", "would", "shall", "should", "may", "might", "have", "has", "had")
_SUBJECTS = ("i", "you", "we", "they", "he", "she", "it", "there", "that", "this", "these",
             "those", "the", "any", "my", "your", "our", "their", "his", "her", "its",
             "someone", "somebody", "anyone", "anybody", "everyone", "y'all", "u", "ya")
_OPENS_WITH_QUESTION = (
    r"(?i)^[\W_]*"
    rf"(?:(?:{'|'.join(_FILLERS)})[\W_]+)*"
    rf"(?:(?:{'|'.join(_WH_WORDS)})(?:{_A}[a-z]+)?(?:$|[^\w'\u2019\u2018\u02bc])"
    rf"|(?:{'|'.join(_AUXILIARIES)})(?:n?{_A}[a-z]+)?[^\w'\u2019\u2018\u02bc]+"
    rf"(?:{'|'.join(_escape(s) for s in _SUBJECTS)})(?:$|[^\w'\u2019\u2018\u02bc]))"
)


def _question_expr(col: pl.Expr) -> pl.Expr:
    return col.str.contains(_ENDS_WITH_QUESTION) | (
        ~col.str.contains(_ENDS_WITH_STATEMENT) & col.str.contains(_OPENS_WITH_QUESTION)
    )


def question_mask(texts) -> np.ndarray:
    """Which texts are questions, one bool per text (null texts are not).

    The rule, for one sentence at a time:

    1. Ending punctuation decides when there is any: a final "?" (closing quotes or brackets
       may follow) makes a question, a final "." or "!" a statement. Punctuated transcripts
       get their punctuation from a model that heard the intonation, which beats guessing
       from the words.
    2. Without it (many transcripts are unpunctuated, or a sentence trails off with "..."),
       the opening words decide, after skipping fillers such as "so", "okay", "um", "and":
       a wh-word ("what", "how much", "why's") opens a question, and so does an auxiliary
       followed by a subject ("can we", "do you", "is there", "won't they", "could the").
       An auxiliary alone is not enough: "will do" and "have a good one" are statements.
       ("a"/"an" do not count as a subject for the same reason: "have a look", "do a demo".)

    Known misses: tag questions ("that works, right"), declarative questions without a "?"
    ("you offer discounts"), and unpunctuated statements that open with a wh-word ("what we
    can do is ...").
    """
    s = _as_series(texts)
    if len(s) == 0:
        return np.zeros(0, dtype=bool)
    return s.to_frame("t").select(_question_expr(pl.col("t")).fill_null(False))["t"].to_numpy()


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
            alternation = "|".join(_escape(x) for x in sorted(prefixes, key=len, reverse=True))
            self._candidates = rf"(?:{alternation})[^\W\d_]*(?:{_A}[^\W\d_]+)*"
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
            word = raw.translate(_CURLY).lower()
            if word in self._checked_words:
                continue
            self._checked_words.add(word)
            stem = _stem(word)
            if stem in self._forms:
                self._forms[stem].add(word)

    def _forms_in(self, words: Iterable[str]) -> dict[str, list[str]] | None:
        """The forms of each phrase stem among `words` (the words of the texts at hand)."""
        if not self._stems:
            return None
        words = {w.translate(_CURLY).lower() for w in words}
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
        forms = self._forms_in(_WORD_RE.findall(surface))
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
            expr = expr & _question_expr(pl.col("t"))
        return s.to_frame("t").select(expr.fill_null(False))["t"].to_numpy()

    def matches(self, texts) -> np.ndarray:
        """One bool per text: does it contain any phrase (and, with `question_only`, is it a
        question). Takes a list, numpy array or polars Series of strings; nulls are False."""
        s = _as_series(texts)
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
        forms = self._forms_in(_WORD_RE.findall(text)) if self._stems else None
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
        s = _as_series(sentences.get_column(text_column))
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


# ---------------------------------------------------------------------------------------------
# Phrases from a smart tracker's examples
# ---------------------------------------------------------------------------------------------

# Contractions are function words ("don't", "we're", "i'm"); a possessive keeps its noun.
_POSSESSIVE = re.compile(r"'s$")


def _content_tokens(text: str) -> list[str | None]:
    """Words of `text` in order, with None where a stop word, contraction or short word was."""
    out: list[str | None] = []
    for word in _WORD_RE.findall(text.translate(_CURLY).lower()):
        word = _POSSESSIVE.sub("", word)
        if "'" in word or len(word) < 3 or word in ENGLISH_STOP_WORDS:
            out.append(None)
        else:
            out.append(word)
    return out


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

    def candidates(text: str) -> dict[tuple[str, ...], tuple[str, ...]]:
        """Candidate key (stems) -> surface words, for one text."""
        tokens = _content_tokens(text)
        found: dict[tuple[str, ...], tuple[str, ...]] = {}
        for i, tok in enumerate(tokens):
            if tok is None:
                continue
            found.setdefault((_stem(tok),), (tok,))
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None:
                found.setdefault((_stem(tok), _stem(nxt)), (tok, nxt))
        return found

    doc_freq: Counter[tuple[str, ...]] = Counter()
    surfaces: dict[tuple[str, ...], Counter[tuple[str, ...]]] = {}
    first_seen: dict[tuple[str, ...], int] = {}
    occurs_in: dict[tuple[str, ...], set[int]] = {}
    order = 0
    for j, example in enumerate(examples):
        for key, surface in candidates(example).items():
            doc_freq[key] += 1
            surfaces.setdefault(key, Counter())[surface] += 1
            occurs_in.setdefault(key, set()).add(j)
            if key not in first_seen:
                first_seen[key] = order
                order += 1

    keep = [k for k, n in doc_freq.items() if n >= min_examples]
    if background is not None:
        bg = [b for b in background if isinstance(b, str)]
        bg_freq: Counter[tuple[str, ...]] = Counter()
        wanted = set(keep)
        for text in bg:
            bg_freq.update(k for k in candidates(text) if k in wanted)
        n_ex, n_bg = len(examples), len(bg)
        keep = [
            k for k in keep
            if (doc_freq[k] + 1) / (n_ex + 2) >= min_lift * (bg_freq[k] + 1) / (n_bg + 2)
        ]
    keep.sort(key=lambda k: (-doc_freq[k], -len(k), first_seen[k]))

    chosen: list[tuple[str, ...]] = []
    for key in keep:
        if len(key) == 1:
            covered = set()
            for other in chosen:
                if len(other) == 2 and key[0] in other:
                    covered |= occurs_in[other]
            if occurs_in[key] <= covered:
                continue
        chosen.append(key)
        if len(chosen) == max_phrases:
            break

    def shown(key: tuple[str, ...]) -> str:
        # Commonest surface; ties go to the first seen (Counter keeps insertion order).
        return " ".join(surfaces[key].most_common(1)[0][0])

    return [shown(k) for k in chosen]
