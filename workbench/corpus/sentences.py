"""Split utterances into sentences, the unit that trackers tag and classify.

Splitter: pysbd (rule-based, keeps the text as is, many languages). Compared on
transcript-like text with syntok and NLTK punkt:
- syntok never splits before a lower-case word ("sure thing. which hotel?" stays one
  sentence), and speech-to-text output is often all lower case;
- NLTK punkt needs a model download, which the project cannot rely on;
- pysbd handles abbreviations (Dr., e.g., U.S., p.m.), decimals and thousands separators,
  "?!" and ellipses, but its English abbreviation list holds everyday words ("is", "me",
  "ok", "sec", ...) after which it never splits before "I" or a lower-case word ("Call
  me. I'm here." stays one). Those words are taken out of the list here (units and titles
  such as "min." and "Dr." stay), and two of its slips are mended: a piece without letters
  or digits (the "." of "else?.") or one that starts with , ; or : is glued back to the
  sentence before it.
Texts without a sentence end followed by more text skip the splitter: most utterances are
one sentence, and pysbd costs about 0.2 ms a text.

Sentence ids: ``sentence_id`` is the first 8 bytes of the BLAKE2b digest of
``call_id, utterance_id, sentence_index, text`` (joined with U+001F, UTF-8), read as an
unsigned big-endian integer with the top bit cleared, so it fits Int64 and is never
negative. Re-importing the same data gives the same ids; changing a sentence's text or
position gives a new one. Two different sentences collide with odds of about 1 in 2**63.
"""
from __future__ import annotations

import re
from functools import lru_cache
from hashlib import blake2b

import polars as pl
import pysbd
from pysbd.languages import LANGUAGE_CODES
from pysbd.lang.english import English

from workbench.core import schema

# Everyday words in pysbd's English abbreviation list (state names, "Rep.", "Id." ...):
# after them pysbd never splits before "I", "I'm" or a lower-case word. Number
# abbreviations such as "no." only hold before a digit in pysbd, so they stay.
_SPOKEN_WORDS = frozenset(
    "bart cal con hon id ill is ken man mass may me miss mm ok rep reps sec wash".split()
)


class TranscriptEnglish(English):
    """pysbd's English without the abbreviations that are everyday spoken words."""

    iso_code = "en"

    class Abbreviation(English.Abbreviation):
        ABBREVIATIONS = [a for a in English.Abbreviation.ABBREVIATIONS if a not in _SPOKEN_WORDS]
        PREPOSITIVE_ABBREVIATIONS = [a for a in English.Abbreviation.PREPOSITIVE_ABBREVIATIONS
                                     if a not in _SPOKEN_WORDS]
        NUMBER_ABBREVIATIONS = [a for a in English.Abbreviation.NUMBER_ABBREVIATIONS
                                if a not in _SPOKEN_WORDS]


# A sentence end followed by more text, or a line break inside the text. Without one the
# text is a single sentence and the splitter is skipped. CJK full stops need no space.
_MAYBE_SEVERAL = re.compile(r"[.!?…][\"'”’)\]]*\s+\S|[。！？]\s*\S|\n\s*\S")
_HAS_WORD = re.compile(r"\w")
# pysbd's cost per text grows with the square of its length; windows of 2,000 characters
# split a 1 MB text in about 3 s (measured: 2 KB 6 ms, 8 KB 47 ms, 40 KB 1.3 s). Texts up
# to this length are split whole, as before.
WINDOW_CHARS = 2_000
# Utterances longer than this are named in the import's warnings: usually a whole transcript
# in one row, or a missing speaker-turn split, which trackers see as one long turn.
LONG_UTTERANCE_CHARS = 10_000
_GLUE_START = (",", ";", ":")


def splitter_language(language: str | None) -> str:
    """pysbd language code for a call's language ("en-US" -> "en"); "" when unsupported."""
    code = (language or "en").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGE_CODES else ""


@lru_cache(maxsize=None)
def _segmenter(code: str) -> pysbd.Segmenter:
    segmenter = pysbd.Segmenter(language=code or "en", clean=False, char_span=False)
    if segmenter.language_module is English:
        segmenter.language_module = TranscriptEnglish
    return segmenter


def split_text(text: str, language: str | None = "en") -> list[tuple[int, str]]:
    """Split ``text`` into ``(character offset, sentence)`` pairs; sentences are stripped
    and non-empty. Unsupported languages are split with the English rules.

    pysbd's time grows with the square of its input (2 s for 40 KB, over 500 s for 1 MB), so
    a text longer than WINDOW_CHARS is split a window at a time: every sentence of a window
    but its last (which the window may cut) is kept, and the next window starts where that
    last sentence starts. Linear time, the same sentences as a whole-text split wherever a
    sentence is shorter than a window, and texts up to WINDOW_CHARS split exactly as before.
    """
    if len(text) <= WINDOW_CHARS:
        return _split_window(text, language)
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > WINDOW_CHARS:
        window = text[start : start + WINDOW_CHARS]
        spans = _split_window(window, language)
        if len(spans) < 2:  # one run-on sentence fills the window: cut it at a space
            space = max(window.rfind(" "), window.rfind("\n"))
            cut = space + 1 if space > WINDOW_CHARS // 2 else WINDOW_CHARS
            spans = _split_window(window[:cut], language) + [(cut, "")]
        out += [(start + offset, sentence) for offset, sentence in spans[:-1]]
        start += spans[-1][0]
    out += [(start + offset, sentence) for offset, sentence in _split_window(text[start:], language)]
    return out


def _split_window(text: str, language: str | None) -> list[tuple[int, str]]:
    stripped = text.strip()
    if not stripped:
        return []
    if not _MAYBE_SEVERAL.search(stripped):
        return [(text.index(stripped[0]), stripped)]
    # Segmenter.segment() would also locate each sentence with a freshly compiled regex,
    # which costs as much as the splitting; the offsets are found with str.find below.
    pieces = _segmenter(splitter_language(language)).processor(text).process()
    spans: list[list[int]] = []  # [start, end) in text
    cursor = 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        start = text.find(piece, cursor)
        if start < 0:  # pysbd changed the text; fall back to the running position
            start = cursor
        end = max(start + len(piece), cursor)
        if spans and (not _HAS_WORD.search(piece) or piece.startswith(_GLUE_START)):
            spans[-1][1] = end
        else:
            spans.append([start, end])
        cursor = end
    if not spans:
        return [(text.index(stripped[0]), stripped)]
    spans[-1][1] = max(spans[-1][1], len(text.rstrip()))
    return [(s, text[s:e].strip()) for s, e in spans if text[s:e].strip()]


def sentence_id(call_id: str, utterance_id: int, sentence_index: int, text: str) -> int:
    key = "\x1f".join((call_id, str(utterance_id), str(sentence_index), text)).encode("utf-8")
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "big") & (2**63 - 1)


def split_utterances(utterances: pl.DataFrame, languages: dict[str, str] | None = None) -> pl.DataFrame:
    """Sentences of stored utterances, in schema.SENTENCES layout.

    ``languages`` maps call_id to the call's language (default English). A sentence starts
    at the utterance's start_s plus its share of the utterance's duration, by character
    offset.
    """
    languages = languages or {}
    columns: dict[str, list] = {name: [] for name in schema.SENTENCES}
    rows = utterances.select("call_id", "utterance_id", "speaker", "side", "start_s", "end_s",
                             "timing_estimated", "text").iter_rows()
    for call_id, utterance_id, speaker, side, start_s, end_s, estimated, text in rows:
        length = len(text)
        span = (end_s - start_s) if start_s is not None and end_s is not None else 0.0
        for index, (offset, sentence) in enumerate(split_text(text, languages.get(call_id, "en"))):
            columns["sentence_id"].append(sentence_id(call_id, utterance_id, index, sentence))
            columns["call_id"].append(call_id)
            columns["utterance_id"].append(utterance_id)
            columns["sentence_index"].append(index)
            columns["speaker"].append(speaker)
            columns["side"].append(side)
            columns["start_s"].append(None if start_s is None else start_s + span * offset / length)
            columns["timing_estimated"].append(estimated)
            columns["text"].append(sentence)
    return pl.DataFrame(columns, schema=schema.SENTENCES)
