from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from workbench.core.errors import ValidationError
from workbench.trackers.keyword_phrases import keyword_phrases_from_examples
from workbench.trackers.keywords import MAX_PHRASE_WORDS, KeywordMatcher
from workbench.trackers.questions import question_mask

# (phrases, text, expected) for exact matching; every case is also run through find() and
# match_frame() so that the polars and Python patterns are checked against each other.
EXACT_CASES = [
    # case
    (["discount"], "Any DISCOUNT for us", True),
    (["Discount"], "any discount for us", True),
    (["best price"], "That's the Best Price I can do", True),
    # word boundaries
    (["price"], "the price is right", True),
    (["price"], "that's priceless", False),
    (["price"], "enterprise plan", False),
    (["price"], "prices went up", False),
    (["price"], "pricing page", False),
    (["price"], "price", True),
    (["price"], "price_list", False),
    (["price"], "price2", False),
    (["price"], "price-match guarantee", True),
    (["discount"], "rediscount", False),
    # multi-word phrases and whitespace
    (["best price"], "best  price", True),
    (["best price"], "best\nprice", True),
    (["best price"], "best\t \n price", True),
    (["best   price"], "best price", True),
    (["best price"], "bestprice", False),
    (["best price"], "best prices", False),
    (["best price"], "the best, price", False),
    (["give us a discount"], "could you give us a discount please", True),
    # punctuation next to the phrase
    (["price"], "price?", True),
    (["price"], "(price)", True),
    (["price"], "price, then", True),
    (["price"], '"price"', True),
    (["price"], "...price...", True),
    (["price"], "price.", True),
    # apostrophes
    (["can't"], "I can't do that", True),
    (["can't"], "I can\u2019t do that", True),
    (["can\u2019t"], "I can't do that", True),
    (["can"], "I can't do that", False),
    (["can"], "I can do that", True),
    (["don't"], "I DON\u2019T think so", True),
    (["price"], "the price's too high", True),
    (["we"], "we're close", True),
    (["we"], "we'd like that", True),
    (["t"], "can't", False),
    (["re"], "we're", False),
    (["o'clock"], "at five o\u2019clock", True),
    # numbers are kept whole
    (["10,000"], "it costs 10,000 a year", True),
    (["10,000"], "it costs $10,000 a year", True),
    (["10,000"], "it costs 110,000 a year", False),
    (["10,000"], "it costs 10,0001 a year", False),
    (["10,000"], "it costs 10,000.50 a year", False),
    (["10,000"], "it costs 10,000. Fine.", True),
    (["10,000"], "10,000, maybe less", True),
    (["10,000"], "10,000", True),
    (["10,000"], "ten thousand or 10000", False),
    (["10"], "it costs 10,000", False),
    (["10"], "it costs 10.5", False),
    (["10"], "it costs 10", True),
    (["10"], "it costs 10%", True),
    (["10"], "10th of May", False),
    (["000"], "it costs 10,000", False),
    (["10,000.50"], "exactly 10,000.50 dollars", True),
    (["$10,000"], "it costs $10,000 a year", True),
    (["$10,000"], "it costs 10,000 a year", False),
    (["$10,000"], "it costs US$10,000 a year", False),
    (["$10,000"], "it costs $10,000.50 a year", False),
    (["10%"], "a 10% discount", True),
    (["10%"], "a 110% discount", False),
    # phrases that start or end with punctuation
    (["C++"], "we write C++ mostly", True),
    (["C++"], "we write C++.", True),
    (["C++"], "we write C++11", False),
    (["C++"], "we write C mostly", False),
    (["c#"], "is it c# or java", True),
    (["a.k.a."], "Bob a.k.a. the closer", True),
    (["q&a"], "after the Q&A session", True),
    # regex metacharacters are literal
    (["(price)"], "the (price) is", True),
    (["(price)"], "the price is", False),
    (["a|b"], "a or b", False),
    (["a|b"], "choose a|b", True),
    # any of several phrases
    (["discount", "coupon", "promo code"], "got a promo   code?", True),
    (["discount", "coupon", "promo code"], "no deals", False),
    # non-ASCII
    (["café"], "meet at the CAFÉ", True),
    (["café"], "cafés", False),
]


@pytest.mark.parametrize(("phrases", "text", "expected"), EXACT_CASES)
def test_exact_matching(phrases, text, expected):
    m = KeywordMatcher(phrases)
    assert m.matches([text]).tolist() == [expected]
    assert bool(m.find(text)) is expected
    frame = m.match_frame(pl.DataFrame({"text": [text]}))
    assert frame["matched"].to_list() == [expected]
    assert (frame["matched_phrase"][0] is not None) is expected


def test_exact_cases_vectorised_in_one_call():
    # All texts in one column against one tracker: the per-row answer must not depend on
    # the other rows.
    phrases = ["price"]
    rows = [(t, e) for p, t, e in EXACT_CASES if p == phrases]
    m = KeywordMatcher(phrases)
    assert m.matches([t for t, _ in rows]).tolist() == [e for _, e in rows]


RELATED_CASES = [
    ("discount", "do you offer discounts", False, True),
    ("discount", "is it discounted", False, True),
    ("discount", "we're discounting it", False, True),
    ("discount", "any discount", True, True),
    ("discount", "do you offer discounts", True, False),
    ("price", "what about pricing", False, True),
    ("price", "what about pricing", True, False),
    ("price", "it's priced fairly", False, True),
    ("price", "prices went up", False, True),
    ("price", "PRICES went up", False, True),
    ("price", "that's priceless", False, False),
    ("price", "enterprise", False, False),
    ("price", "priced2go", False, False),
    ("best price", "our best pricing", False, True),
    ("best price", "our best pricing", True, False),
    ("best price", "the best prices", False, True),
    ("best price", "best\n  prices", False, True),
    ("best price", "best of prices", False, False),
    ("give a discount", "gives a discount", False, True),
    ("give a discount", "giving a discounted", False, True),
    ("cheap", "it's cheaper", False, False),  # Snowball keeps comparatives apart
    ("dying", "the deal is dying", False, True),
    ("die", "the deal is dying", False, True),
    ("10 seats", "10 seat", False, True),
    ("10 seats", "110 seats", False, False),
]


@pytest.mark.parametrize(("phrase", "text", "exact_only", "expected"), RELATED_CASES)
def test_related_forms(phrase, text, exact_only, expected):
    m = KeywordMatcher([phrase], related_forms=not exact_only)
    assert m.matches([text]).tolist() == [expected]
    assert bool(m.find(text)) is expected
    frame = m.match_frame(pl.DataFrame({"text": [text]}))
    assert frame["matched_phrase"].to_list() == [phrase if expected else None]


def test_related_forms_in_a_large_column():
    texts = ["we discounted it", "no deal", "pricing?", "priceless"] * 5000 + ["discounting"]
    m = KeywordMatcher(["discount", "price"], related_forms=True)
    got = m.matches(pl.Series(texts))
    assert got.sum() == 5000 * 2 + 1
    assert got[-1] and got[0] and not got[1] and got[2] and not got[3]


def test_related_forms_do_not_depend_on_earlier_calls():
    # Forms are learned from each call's texts and kept; a text's answer must be the same
    # whether it is matched alone, in a batch, or after other batches.
    texts = ["we discounted it", "discounter", "rediscounted", "discounts?", "dis count",
             "a discount", "discounting", "priceless discounts"]
    expected = [KeywordMatcher(["discount"], related_forms=True).matches([t])[0] for t in texts]
    assert expected == [True, True, False, True, False, True, True, True]
    m = KeywordMatcher(["discount"], related_forms=True)
    assert m.matches(texts).tolist() == expected
    assert m.matches(texts[::-1]).tolist() == expected[::-1]
    assert [bool(m.find(t)) for t in texts] == expected


QUESTIONS = [
    ("Can we get a discount?", True),
    ("can we get a discount", True),
    ("Do you offer discounts", True),
    ("do you offer discounts?", True),
    ("What's the price", True),
    ("what discount can you give", True),
    ("How much is the discount", True),
    ("how much", True),
    ("So, um, can you do a discount", True),
    ("okay and is there a discount", True),
    ("Won't you give us a discount", True),
    ("don't you have a discount", True),
    ("is that the discounted price?", True),
    ('You said "a discount?"', True),
    ("A discount (for us?)", True),
    ("you offer discounts?", True),
    ("Can we get a discount...", True),  # trails off: the opening decides
    ("We offer a discount.", False),
    ("we offer a discount", False),
    ("What we can do is offer a discount.", False),
    ("Can we get a discount.", False),  # punctuation decides over the opening
    ("How about that!", False),
    ("will do", False),
    ("have a good one", False),
    ("do the demo first", True),  # an imperative the rule cannot tell from a question
    ("whatever works", False),
    ("canned response", False),
    ("is", False),
    ("", False),
]


@pytest.mark.parametrize(("text", "expected"), QUESTIONS)
def test_question_rule(text, expected):
    assert question_mask([text]).tolist() == [expected]


@pytest.mark.parametrize(("text", "expected"), QUESTIONS)
def test_question_only(text, expected):
    has_phrase = any(w in text.lower() for w in ("discount", "price", "much"))
    m = KeywordMatcher(["discount", "price", "how much"], related_forms=True, question_only=True)
    assert m.matches([text]).tolist() == [expected and has_phrase]
    assert bool(m.find(text)) is (expected and has_phrase)
    off = KeywordMatcher(["discount", "price", "how much"], related_forms=True)
    assert off.matches([text]).tolist() == [has_phrase]


def test_question_only_match_frame_nulls_the_phrase_of_statements():
    m = KeywordMatcher(["discount"], question_only=True)
    frame = m.match_frame(pl.DataFrame({"text": ["any discount?", "a discount."]}))
    assert frame["matched"].to_list() == [True, False]
    assert frame["matched_phrase"].to_list() == ["discount", None]


FIND_CASES = [
    (["price"], "Price? The price!", [(0, 5, "price"), (11, 16, "price")]),
    (["price"], "price price", [(0, 5, "price"), (6, 11, "price")]),
    (["best price"], "our best\n price", [(4, 15, "best price")]),
    (["discount", "discount code"], "a discount code", [(2, 15, "discount code")]),
    (["discount code", "discount"], "a discount, code", [(2, 10, "discount")]),
    (["10,000", "$10,000"], "$10,000 or 10,000", [(0, 7, "$10,000"), (11, 17, "10,000")]),
    (["Can't"], "I can\u2019t", [(2, 7, "Can't")]),
    (["price"], "priceless", []),
    (["café"], "Café crème", [(0, 4, "café")]),
]


@pytest.mark.parametrize(("phrases", "text", "expected"), FIND_CASES)
def test_find_spans(phrases, text, expected):
    assert KeywordMatcher(phrases).find(text) == expected


def test_find_related_forms_reports_the_phrase_and_the_surface_span():
    m = KeywordMatcher(["discount", "best price"], related_forms=True)
    text = "Discounted? Our best PRICING."
    spans = m.find(text)
    assert spans == [(0, 10, "discount"), (16, 28, "best price")]
    assert [text[a:b] for a, b, _ in spans] == ["Discounted", "best PRICING"]


def test_find_none_and_types():
    m = KeywordMatcher(["price"])
    assert m.find(None) == []
    assert m.find("") == []
    with pytest.raises(TypeError):
        m.find(["price"])


@pytest.mark.parametrize(
    "texts",
    [
        ["price", None, "nope"],
        np.array(["price", None, "nope"], dtype=object),
        pl.Series(["price", None, "nope"]),
        ("price", None, "nope"),
    ],
    ids=["list", "numpy", "polars", "tuple"],
)
def test_matches_accepts_sequences(texts):
    got = KeywordMatcher(["price"]).matches(texts)
    assert got.dtype == np.bool_
    assert got.tolist() == [True, False, False]


def test_matches_empty_and_string():
    m = KeywordMatcher(["price"])
    assert m.matches([]).shape == (0,)
    assert m.matches(pl.Series([], dtype=pl.String)).dtype == np.bool_
    with pytest.raises(TypeError, match="find"):
        m.matches("price")


def _sentences(texts):
    n = len(texts)
    return pl.DataFrame(
        {
            "sentence_id": list(range(n)),
            "call_id": ["c1"] * n,
            "utterance_id": list(range(n)),
            "sentence_index": [0] * n,
            "speaker": ["Ann"] * n,
            "side": ["customer"] * n,
            "start_s": [float(i) for i in range(n)],
            "timing_estimated": [False] * n,
            "text": texts,
        },
        schema_overrides={"sentence_index": pl.Int32},
    )


def test_match_frame_columns_and_dtypes():
    df = _sentences(["Any discount?", "best prices here", "nothing", None, "price and discount"])
    out = KeywordMatcher(["discount", "best price", "price"], related_forms=True).match_frame(df)
    assert out.columns == [*df.columns, "matched", "matched_phrase"]
    assert out.schema["matched"] == pl.Boolean
    assert out.schema["matched_phrase"] == pl.String
    assert out.drop("matched", "matched_phrase").equals(df)
    assert out["matched"].to_list() == [True, True, False, False, True]
    # The first match in the sentence names the phrase.
    assert out["matched_phrase"].to_list() == ["discount", "best price", None, None, "price"]


def test_match_frame_empty_and_missing_column():
    m = KeywordMatcher(["price"])
    out = m.match_frame(_sentences([]))
    assert out.height == 0
    assert out.schema["matched"] == pl.Boolean and out.schema["matched_phrase"] == pl.String
    with pytest.raises(ValidationError, match="no 'text' column") as err:
        m.match_frame(pl.DataFrame({"sentence": ["price"]}))
    assert err.value.field == "text"
    assert m.match_frame(pl.DataFrame({"s": ["price"]}), text_column="s")["matched"][0]


def test_match_frame_all_null_text_column():
    out = KeywordMatcher(["price"]).match_frame(pl.DataFrame({"text": [None, None]}))
    assert out["matched"].to_list() == [False, False]
    assert out["matched_phrase"].to_list() == [None, None]


def test_match_frame_reports_original_spelling_of_the_phrase():
    m = KeywordMatcher(["Best  Price", "Can\u2019t"])
    out = m.match_frame(pl.DataFrame({"text": ["best price", "CAN'T"]}))
    assert out["matched_phrase"].to_list() == ["Best  Price", "Can\u2019t"]


INVALID = [
    ([], "at least one phrase", None),
    ("discount", "single string", None),
    (["discount", ""], "phrase 2 is empty", None),
    (["discount", "   \n "], "phrase 2 is empty", None),
    (["discount", None], "phrase 2 is NoneType", None),
    (["?!"], "'?!' has no letters or digits", "?!"),
    (["Discount", "discount "], "'discount ' and 'Discount' are the same phrase", "discount "),
    (["best price", "BEST\nprice"], "'BEST\\nprice' and 'best price'", "best price"),
    (["can't", "can\u2019t"], "the same phrase", "can't"),
    (["one two three four five six seven eight nine"], "9 words, more than 8", "nine"),
]


@pytest.mark.parametrize(("phrases", "message", "named"), INVALID)
def test_validation(phrases, message, named):
    with pytest.raises(ValidationError) as err:
        KeywordMatcher(phrases)
    assert err.value.field == "phrases"
    assert message in str(err.value)
    if named:
        assert named in str(err.value)


def test_validation_duplicates_under_related_forms_only():
    KeywordMatcher(["discount", "discounts"])
    with pytest.raises(ValidationError, match="'discounts' and 'discount' are the same with "
                       "related forms on"):
        KeywordMatcher(["discount", "discounts"], related_forms=True)


def test_longest_allowed_phrase_and_many_phrases():
    eight = " ".join(["word"] * MAX_PHRASE_WORDS)
    assert KeywordMatcher([eight]).matches([eight + "."]).tolist() == [True]
    many = [f"phrase {i}" for i in range(500)]
    assert KeywordMatcher(many).matches(["say phrase 499 now", "phrase 5000"]).tolist() == [
        True, False]
    with pytest.raises(ValidationError, match="more than the 500"):
        KeywordMatcher([*many, "one more"])


# ---------------------------------------------------------------------------------------------
# Phrases from examples
# ---------------------------------------------------------------------------------------------

DISCOUNT_EXAMPLES = [
    "Is there any discount if we sign for two years?",
    "Can you give us a discount on the annual plan?",
    "We'd need a better price to get this approved.",
    "Any chance of a discount for a multi-year deal?",
    "Do you offer discounts for nonprofits?",
    "Could you do a better price if we add more seats?",
    "Is there a discount code we could use?",
    "What's the best price you can do?",
    "If you can knock ten percent off the price we'll sign today.",
    "Are there volume discounts for more than fifty seats?",
    "Can you match the price our current vendor gives us?",
    "Our budget is tight, is there room on the price?",
]


def test_phrases_from_discount_examples():
    phrases = keyword_phrases_from_examples(DISCOUNT_EXAMPLES, max_phrases=6)
    assert phrases[:3] == ["discount", "price", "better price"]
    assert "seats" in phrases
    assert len(phrases) <= 6
    # Stop words never become keywords on their own.
    assert not {"any", "there", "can", "you", "we"} & set(phrases)
    # The output is a valid keyword tracker, with and without related forms.
    m = KeywordMatcher(phrases, related_forms=True)
    assert m.matches(DISCOUNT_EXAMPLES).mean() >= 0.9
    KeywordMatcher(phrases)


def test_phrases_from_examples_background_drops_words_common_everywhere():
    examples = [
        "can we get a discount on this",
        "any discount for the annual plan",
        "is there a discount today",
        "what discount can you do today",
        "we want the plan today",
    ]
    background = ["let's talk today", "today we review the plan", "the plan is ready today",
                  "see you today", "plan looks good"] * 4
    plain = keyword_phrases_from_examples(examples)
    assert "today" in plain and "plan" in plain
    assert keyword_phrases_from_examples(examples, background=background) == ["discount"]


def test_phrases_from_examples_bigram_hides_a_word_it_always_covers():
    examples = ["send the discount code", "where is the discount code", "discount code please",
                "no discount code yet", "a discount would help"]
    # "code" only ever appears inside "discount code"; "discount" also appears alone.
    assert keyword_phrases_from_examples(examples) == ["discount", "discount code"]


def test_phrases_from_examples_edge_cases():
    assert keyword_phrases_from_examples([]) == []
    assert keyword_phrases_from_examples(["", "  "]) == []
    # Nothing recurs across enough examples.
    assert keyword_phrases_from_examples(["alpha", "beta", "gamma", "delta"]) == []
    # Few examples: a word seen once is enough, and adjacent content words make a bigram.
    assert keyword_phrases_from_examples(["I want a rebate"]) == ["want", "rebate"]
    # ... and the bigram covers both its words in every example they occur in.
    assert keyword_phrases_from_examples(["volume rebate please"]) == ["volume rebate"]
    with pytest.raises(ValidationError) as err:
        keyword_phrases_from_examples(["x"], max_phrases=0)
    assert err.value.field == "max_phrases"
