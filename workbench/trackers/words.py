"""Words as the keyword rules see them: apostrophes, Snowball stems, and regex escaping.

Shared by the keyword matcher (keywords.py), the question rule (questions.py) and the keyword
phrases drawn from a smart tracker's examples (keyword_phrases.py). Every pattern here runs in
both Python's `re` and the Rust regex engine polars uses.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import polars as pl
from nltk.stem.snowball import SnowballStemmer

APOSTROPHES = "'\u2019\u2018\u02bc"
APOSTROPHE = "['\u2019\u2018\u02bc]"  # one apostrophe of any kind, as a regex class
CURLY_TO_STRAIGHT = str.maketrans({c: "'" for c in APOSTROPHES[1:]})

# Escaping only the characters that are special in both Python's `re` and Rust's `regex`:
# Rust rejects some escapes that `re.escape` emits (e.g. an escaped space).
_META = set("\\.+*?()|[]{}^$#&-~")

# A word for stemming: letters with inner apostrophes ("can't", "price's").
WORD_RE = re.compile(rf"[^\W\d_]+(?:{APOSTROPHE}[^\W\d_]+)*")

_stemmer = SnowballStemmer("english")


@lru_cache(maxsize=200_000)
def stem_of(word: str) -> str:
    return _stemmer.stem(word)


def normalise_phrase(phrase: str) -> str:
    """The form two phrases are compared in: NFC, lowercase, straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFC", phrase).translate(CURLY_TO_STRAIGHT).lower()
    return " ".join(text.split())


def escape_regex(text: str) -> str:
    """`text` as a literal pattern, any apostrophe matching any other."""
    out = []
    for ch in text:
        if ch == "'":
            out.append(APOSTROPHE)
        elif ch in _META:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def as_text_series(texts) -> pl.Series:
    """A list, numpy array or polars Series of texts as a polars String Series."""
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
