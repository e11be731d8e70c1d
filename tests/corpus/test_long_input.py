"""Very long utterances split in linear time, and ordinary ones exactly as before."""
from __future__ import annotations

import random
import threading

import polars as pl

from tests.corpus.conftest import base_calls, base_utterances
from workbench.corpus import prepare_import
from workbench.corpus.sentences import LONG_UTTERANCE_CHARS, WINDOW_CHARS, _split_window, split_text

_WORDS = ("sure thing we can do that next week the price is fine call me I'm here ok "
          "Dr. Smith said 3.5 percent e.g. the U.S. office at 5 p.m. well").split()


def transcript(n_chars: int, seed: int = 0) -> str:
    """Transcript-like text of about ``n_chars``: short sentences, abbreviations, decimals."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 16)))
        sentence = sentence.capitalize() + rng.choice([". ", "? ", "! ", "... ", " "])
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)[:n_chars]


def split_within(text: str, seconds: float) -> list[tuple[int, str]]:
    """split_text in a thread; fails (rather than hanging the suite) when it takes too long."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(split_text(text)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"splitting {len(text):,} characters took over {seconds} s"
    return result[0]


def test_a_one_megabyte_utterance_splits_in_bounded_time():
    text = transcript(1_000_000)
    sentences = split_within(text, 30)
    assert len(sentences) > 10_000
    # Every sentence is where it says, in order, and nothing but whitespace is left out.
    cursor = 0
    for offset, sentence in sentences:
        assert offset >= cursor and text[offset : offset + len(sentence)] == sentence
        assert not text[cursor:offset].strip()
        cursor = offset + len(sentence)
    assert not text[cursor:].strip()


def test_ordinary_utterances_split_as_a_whole_text():
    for seed in range(20):
        text = transcript(random.Random(seed).randint(10, WINDOW_CHARS), seed)
        assert split_text(text) == _split_window(text, "en")


def test_long_text_gives_the_whole_text_sentences():
    """Windows restart at their last sentence, so short sentences come out as a whole-text split would."""
    text = transcript(12_000, seed=3)
    assert split_text(text) == _split_window(text, "en")


def test_a_run_on_sentence_longer_than_a_window_is_cut_at_a_space():
    text = " ".join(["word"] * 2_000)  # 9,999 characters, no sentence end
    sentences = split_within(text, 30)
    assert len(sentences) > 1 and all(len(s) <= WINDOW_CHARS for _, s in sentences)
    assert " ".join(s for _, s in sentences) == text


def test_import_names_very_long_utterances():
    calls = pl.DataFrame(base_calls()[:1])
    utts = pl.DataFrame(base_utterances()[:2]).with_columns(
        text=pl.Series(["Hello there.", transcript(LONG_UTTERANCE_CHARS + 5)]))
    prepared = prepare_import(calls, utts)
    notes = [w for w in prepared.warnings if "longer than" in w]
    assert len(notes) == 1 and "c1 utterance 1" in notes[0] and "1 utterance is" in notes[0]
    assert prepared.sentences.filter(pl.col("utterance_id") == 1).height > 100
