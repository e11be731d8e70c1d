"""Sentence splitting on transcript-like text."""
from __future__ import annotations

import pytest

from workbench.corpus.sentences import split_text, splitter_language

CASES = {
    "abbreviations": ("Can we get a better price? We're at $10,000 per year, e.g. with Dr. Smith.",
                      ["Can we get a better price?", "We're at $10,000 per year, e.g. with Dr. Smith."]),
    "decimals and commas": ("The price is 1,250.50 per seat. Is that ok?",
                            ["The price is 1,250.50 per seat.", "Is that ok?"]),
    "times and initials": ("I'm at the U.S. office. Call me at 5 p.m. tomorrow.",
                           ["I'm at the U.S. office.", "Call me at 5 p.m. tomorrow."]),
    "ellipsis": ("Well... I don't know. Maybe next quarter",
                 ["Well...", "I don't know.", "Maybe next quarter"]),
    "ellipsis after ok": ("Ok... I need more information.", ["Ok...", "I need more information."]),
    "questions and exclamations": ("What's the discount? 15%?! That's great.",
                                   ["What's the discount?", "15%?!", "That's great."]),
    "no punctuation": ("ok so um we looked at it and uh", ["ok so um we looked at it and uh"]),
    "lower case transcript": ("sure thing. which plan are you on?",
                              ["sure thing.", "which plan are you on?"]),
    "everyday word before I": ("Call me. I'm free after lunch.", ["Call me.", "I'm free after lunch."]),
    "sec before lower case": ("give me a sec. i'll check", ["give me a sec.", "i'll check"]),
    "number abbreviation": ("It is no. 5 on the list.", ["It is no. 5 on the list."]),
    "stray period after question": ("Anything else I can do for you?.",
                                    ["Anything else I can do for you?."]),
    "comma after question": ("yes, how about the pro plan?, thanks for checking.",
                             ["yes, how about the pro plan?, thanks for checking."]),
    "reference code": ("Your reference number is 0M3JW724. Anything else?",
                       ["Your reference number is 0M3JW724.", "Anything else?"]),
    "line break": ("first point\nsecond point", ["first point", "second point"]),
    "surrounding space": ("  hello there.  ", ["hello there."]),
}


@pytest.mark.parametrize("text,expected", CASES.values(), ids=CASES.keys())
def test_split_text(text, expected):
    pieces = split_text(text)
    assert [sentence for _, sentence in pieces] == expected
    for offset, sentence in pieces:
        assert text[offset:offset + len(sentence)] == sentence


def test_blank_text_has_no_sentences():
    assert split_text("   ") == []


def test_other_languages_use_their_rules():
    assert splitter_language("de-DE") == "de"
    assert splitter_language("xx") == ""
    assert [s for _, s in split_text("Das kostet 5 Euro. Ist das ok?", "de")] == [
        "Das kostet 5 Euro.", "Ist das ok?"]
