"""Transcript normalisation: the text a sentence is embedded as, when it was spoken.

Speech-to-text and human transcripts keep what people say, not what they mean: fillers ("um",
"uh"), restarts ("i i i think", "in the in the"), cut-off words ("th- the") and abandonment
marks ("--", "=="). To a sentence encoder these are words like any other, and on short turns
they outweigh the meaning. :func:`normalise_text` removes them from the text *to embed*; the
workspace keeps and shows the original text everywhere.

The normalisation is plain data: an ordered list of ``(trigger characters, pattern,
replacement)`` rules for Python's ``re`` (case-insensitive), each applied until the text stops
changing (a rule with triggers only to texts holding one of them), then the ends stripped of
STRIP, and the original returned if nothing with a letter or digit is left. The MLflow pyfunc
(workbench/registry/pyfunc.py, which cannot import the workbench) repeats the same table and
steps, so a logged version embeds text exactly as the workspace did;
tests/test_text_normalisation.py checks that both tables and their outputs are equal. About
15 microseconds a sentence (1.5 s of CPU for 100,000), against about 2 ms to embed it.

Kept on purpose: backchannels and answers that carry meaning ("uhhuh", "mhm", "yeah", "no",
"oh", "huh?"), discourse markers ("you know", "i mean", "like": they are words as often as
fillers), case (the bundled encoder is uncased) and hyphenated words ("speechdat-car").

A normalisation has a name with a version ("speech-1"). Changing a rule means a new name: the
name is part of the embedder's model id, which keys the embedding cache, the embedding matrix
and each version's recorded embedding model, so vectors of differently normalised text are
never mixed.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = ["DEFAULT_NORMALISATION", "NORMALISATIONS", "STRIP", "normalise_text", "normalise_texts", "normaliser",
           "set_workspace_normalisation", "workspace_normalisation"]

# Hesitation sounds that mean nothing on their own. Not "uhhuh"/"mhm"/"mm-hmm" (yes), "oh"
# (news, surprise), "huh" ("what?"), "ah" ("I see"), "eh" (a tag question).
# "er"/"erm" only in lower case or capitalised, so that "ER" (a ward) stays.
_FILLERS = r"u+h+|u+m+|u+h+m+|(?-i:[Ee]r+m*)|e+h+m+|h+m+"
# A word with its contraction ("that's", "i'm"); possessive, as a word never gives back
# letters: this keeps the repetition rule linear (3x faster on MRDA).
_WORD = r"[^\W_]++(?:'[^\W_]++)?+"

# (trigger, pattern, replacement), applied in order, each until the text no longer changes
# (re.IGNORECASE); a rule with a trigger runs only on texts holding one of its characters,
# which halves the time on transcripts without marks.
_DISFLUENCIES: tuple[tuple[str, str, str], ...] = (
    # Non-speech annotations ("<laughter>", "[noise]", "{breath}"), abandonment and
    # interruption marks ("==", "--"), and dashes standing alone between words.
    ("<[{=-", r"<[^<>]*+>|\[[^\[\]]*+\]|\{[^{}]*+\}|={2,}|-{2,}|(?<!\S)[-=](?!\S)", " "),
    # A cut-off word followed by the word it began ("th- the", "go- going", "i- i"): drop it.
    ("-", rf"(?<![\w-])({_WORD})-\s+(?=\1)", ""),
    # Any other cut-off word keeps its letters without the mark ("if-" -> "if").
    ("-", r"(?<=\w)-(?=\s|[,.?!]|$)", ""),
    # Fillers, with the comma that sets them off ("so, um, we" -> "so, we").
    ("", rf"(?<![\w'-])(?:{_FILLERS})(?![\w'-])\s*+,?", " "),
    # One space between words, so that the repetitions below are seen through the gaps.
    ("", r"\s{2,}|[^\S ]", " "),
    # Immediate repetitions of a word or a phrase of up to four words ("i i i think",
    # "in the in the", "that's a good that's a good thought"), a comma between allowed.
    ("", rf"(?<![\w'-])({_WORD}(?: {_WORD}){{0,3}})(?:,? \1)+(?![\w'-])", r"\1"),
)
# Tidying what the removals leave: space before punctuation, commas left dangling.
_TIDY: tuple[tuple[str, str, str], ...] = (
    ("", r" (?=[,.?!;:])", ""),
    (",", r",(?: ?,)++", ","),
    (",", r",(?=[.?!])", ""),
)

# Every normalisation by name: its rules in order. After them the ends of the text are
# stripped of STRIP, and the original is kept when no letter or digit is left.
NORMALISATIONS: dict[str, tuple[tuple[str, str, str], ...]] = {"speech-1": _DISFLUENCIES + _TIDY}
STRIP = " ,;:"
# What a new workspace's embedder uses (None: the text as it is). None, by measurement: on real
# meeting speech speech-1 left the ceiling within 0.01 F1 and the trackers' median F1 within the
# loop's noise (-0.008 on seeds 0-11, +0.009 on held-out seeds; benchmarks/results/speech_text.md).
DEFAULT_NORMALISATION: str | None = None
_HAS_CONTENT = re.compile(r"[^\W_]")


@lru_cache(maxsize=None)
def _compiled(name: str) -> tuple[tuple[frozenset, re.Pattern, str], ...]:
    if name not in NORMALISATIONS:
        raise ValueError(f"unknown text normalisation {name!r}; known: {', '.join(sorted(NORMALISATIONS))}")
    rules = NORMALISATIONS[name]
    return tuple((frozenset(trigger), re.compile(pattern, re.IGNORECASE), replacement)
                 for trigger, pattern, replacement in rules)


def normalise_text(text: str, name: str | None = "speech-1") -> str:
    """The text to embed for a transcribed ``text``: fillers, repetitions and disfluency marks
    removed, spaces tidied. Never empty for a text with a letter or digit: when nothing
    meaningful is left ("uh.", "--") the original is returned unchanged.

    >>> normalise_text("so uh i i i think we we should, um, go--")
    'so i think we should, go'

    ``name`` None returns the text itself.
    """
    if name is None:
        return text
    out = text
    for trigger, pattern, replacement in _compiled(name):
        if trigger and trigger.isdisjoint(out):
            continue
        while (new := pattern.sub(replacement, out)) != out:  # a pass can uncover another repetition
            out = new
    out = out.strip(STRIP)
    return out if _HAS_CONTENT.search(out) else text


def normalise_texts(texts: Iterable[str], name: str = "speech-1") -> list[str]:
    """:func:`normalise_text` of each text; each distinct text is normalised once."""
    texts = list(texts)
    done: dict[str, str] = {}
    return [done[t] if t in done else done.setdefault(t, normalise_text(t, name)) for t in texts]


def normaliser(name: str | None):
    """The function that turns a text into the text to embed under normalisation ``name``
    (None: the text itself)."""
    if name is None:
        return None
    _compiled(name)  # fail early on an unknown name

    def apply(texts: Iterable[str]) -> list[str]:
        return normalise_texts(texts, name)

    return apply


# --- the workspace setting ------------------------------------------------------------------

SETTING_FILE = "text_normalisation.json"  # in the workspace's embeddings folder


def workspace_normalisation(embeddings_dir: str | Path) -> str | None:
    """The text normalisation a workspace embeds with.

    Recorded in ``<embeddings_dir>/text_normalisation.json``. A workspace without a record gets
    DEFAULT_NORMALISATION when it has no embeddings yet (recorded now, so it keeps it if the
    default changes), and None when it was embedded before the setting existed: its vectors, and
    the versions trained on them, stay valid without re-embedding.
    """
    folder = Path(embeddings_dir)
    path = folder / SETTING_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["text_normalisation"]
    embedded = folder.is_dir() and any(p.is_dir() for p in folder.iterdir())
    name = None if embedded else DEFAULT_NORMALISATION
    set_workspace_normalisation(folder, name)
    return name


def set_workspace_normalisation(embeddings_dir: str | Path, name: str | None) -> None:
    """Record that the workspace embeds with text normalisation ``name`` (None: the text as it
    is). Its sentences must then be embedded again (``ws.embed()``), and versions trained under
    the other setting no longer score there: their embedding model differs."""
    if name is not None:
        _compiled(name)  # refuse unknown names before anything is written
    folder = Path(embeddings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{SETTING_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"text_normalisation": name}), encoding="utf-8")
    tmp.replace(folder / SETTING_FILE)
