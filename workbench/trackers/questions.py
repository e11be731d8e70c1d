"""Whether a sentence is a question: the rule behind a keyword tracker's `question_only`."""
from __future__ import annotations

import numpy as np
import polars as pl

from workbench.trackers.words import APOSTROPHE, as_text_series, escape_regex

__all__ = ["question_expr", "question_mask"]

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
    rf"(?:(?:{'|'.join(_WH_WORDS)})(?:{APOSTROPHE}[a-z]+)?(?:$|[^\w'\u2019\u2018\u02bc])"
    rf"|(?:{'|'.join(_AUXILIARIES)})(?:n?{APOSTROPHE}[a-z]+)?[^\w'\u2019\u2018\u02bc]+"
    rf"(?:{'|'.join(escape_regex(s) for s in _SUBJECTS)})(?:$|[^\w'\u2019\u2018\u02bc]))"
)


def question_expr(col: pl.Expr) -> pl.Expr:
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
    s = as_text_series(texts)
    if len(s) == 0:
        return np.zeros(0, dtype=bool)
    return s.to_frame("t").select(question_expr(pl.col("t")).fill_null(False))["t"].to_numpy()
