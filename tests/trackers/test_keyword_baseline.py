"""The keyword baseline beside a smart tracker: counts on the tags and in scope."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.trackers.keyword_baseline import KeywordComparison, compare_with_keywords

EXAMPLES = [
    "Can we get a discount on the licence?",
    "Is there any discount for two years?",
    "We would need a discount to sign today.",
    "Could you lower the price a bit?",
    "A better price would help us.",
]


def _scope():
    texts = np.array([
        "Any discount for nonprofits?",           # 0 YES, keyword
        "Could the price come down?",             # 1 YES, keyword (price)
        "We want to pay less next year.",         # 2 YES, no keyword
        "The discount code did not work.",        # 3 NO, keyword
        "Let's schedule the demo.",               # 4 NO
        "Thanks for the call.",                   # 5 untagged
        "Discounts are discussed at renewal.",    # 6 untagged, keyword (related form)
    ] + [f"Filler sentence number {i} about the weather." for i in range(40)], dtype=object)
    labels = np.full(len(texts), -1)
    labels[[0, 1, 2]] = 1
    labels[[3, 4]] = 0
    return texts, labels


def test_counts_on_the_tags_and_in_scope():
    texts, labels = _scope()
    tracker_detected = np.zeros(len(texts), bool)
    tracker_detected[[0, 2, 5]] = True
    held_out = np.zeros(len(texts), bool)
    held_out[[0, 2, 4]] = True  # found YES 0 and 2, wrongly detects NO 4
    k = compare_with_keywords(texts, labels, tracker_detected, held_out, EXAMPLES)
    assert "discount" in k.phrases and "price" in k.phrases
    assert (k.n_yes, k.n_no) == (3, 2)
    assert (k.keyword_yes, k.keyword_no) == (2, 1)      # rows 0, 1 and the NO row 3
    assert (k.tracker_yes, k.tracker_no) == (2, 1)
    assert k.keyword_detected == 4                      # rows 0, 1, 3 and "Discounts" (related form)
    assert k.tracker_detected == 3 and k.both_detected == 1
    assert k.keyword_f1 == k.tracker_f1 == 2 * 2 / (2 + 1 + 3)
    # Without random tags there is no estimate for the calls, and no advice.
    assert k.n_random_tags == 0 and k.keyword_f1_estimated is None and not k.keywords_do_as_well
    text = k.text()
    assert "'discount'" in text and "2 of 3 YES and 1 of 2 NO" in text and "may be enough" not in text


def test_the_random_tags_estimate_which_does_better_on_the_calls():
    texts, labels = _scope()
    inclusion = np.full(len(texts), np.nan)
    inclusion[[0, 2, 3, 4]] = [0.5, 0.25, 0.5, 0.1]  # row 1 was picked by a non-random strategy
    groups = np.arange(len(texts))
    groups[5] = groups[4]  # the untagged "Thanks for the call." shares the turn of NO tag 4
    tracker_detected = np.zeros(len(texts), bool)
    tracker_detected[[0, 2, 5]] = True
    held_out = np.zeros(len(texts), bool)
    held_out[[0, 2]] = True
    k = compare_with_keywords(texts, labels, tracker_detected, held_out, EXAMPLES,
                              inclusion_prob=inclusion, groups=groups)
    # Weights 2, 4, 2, 10. Keywords: found row 0 (2), missed row 2 (4), wrongly row 3 (2).
    assert k.n_random_tags == 4 and abs(k.keyword_f1_estimated - 4 / (4 + 2 + 4)) < 1e-12
    # The tracker found rows 0 and 2 (6) but detects NO tag 4's turn through its mate (10).
    assert abs(k.tracker_f1_estimated - 12 / (12 + 10)) < 1e-12
    assert not k.keywords_do_as_well and k.advice is None

    held_out[2] = False  # now the tracker misses YES tag 2 too
    k = compare_with_keywords(texts, labels, tracker_detected, held_out, EXAMPLES,
                              inclusion_prob=inclusion, groups=groups)
    assert abs(k.tracker_f1_estimated - 4 / (4 + 10 + 4)) < 1e-12
    assert k.keywords_do_as_well and "4 random tags" in k.advice and "may be enough" in k.text()


def test_a_better_tracker_gets_no_advice():
    texts, labels = _scope()
    held_out = labels == 1  # every YES found, no NO detected
    k = compare_with_keywords(texts, labels, held_out.copy(), held_out, EXAMPLES)
    assert k.tracker_f1 == 1.0 and k.keyword_f1 < 1.0
    assert not k.keywords_do_as_well and "may be enough" not in k.text()


def test_examples_without_recurring_words_have_no_baseline():
    texts, labels = _scope()
    odd = ["Apples are red.", "The sky looks grey.", "Trains run late.", "Bread is warm.", "Rivers flow east."]
    k = compare_with_keywords(texts, labels, np.zeros(len(texts), bool), np.zeros(len(texts), bool), odd)
    assert k.phrases == () and k.keyword_detected == 0 and not k.keywords_do_as_well
    assert "no content word recurs" in k.text()


def test_the_tracker_compares_itself_with_its_examples_keywords(demo_ws):
    from tests.trackers.test_tracker import answer_round, make_tracker
    from workbench.demo.job import DEMO_EXAMPLES

    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    for _ in range(2):
        answer_round(t, t.next_round())
    k = t.keyword_comparison()
    assert isinstance(k, KeywordComparison) and k.phrases
    est = t.performance()
    assert (k.n_yes, k.n_no) == (est.n_yes, est.n_no)
    assert k.tracker_detected == est.detected_sentences
    assert k.both_detected <= min(k.keyword_detected, k.tracker_detected)
    # Held-out verdicts, not the final model's own: the counts stay within the tags.
    assert 0 < k.tracker_yes <= k.n_yes and 0 <= k.tracker_no <= k.n_no
    # The rounds' stratified probe gives the random tags the estimate for the calls rests on.
    assert k.n_random_tags > 0 and 0 <= k.keyword_f1_estimated <= 1 and 0 < k.tracker_f1_estimated <= 1
    # Another round: the same keywords (kept), new tags counted.
    answer_round(t, t.next_round())
    again = t.keyword_comparison()
    assert again.phrases == k.phrases and again.keyword_detected == k.keyword_detected
    assert again.n_yes + again.n_no == k.n_yes + k.n_no + 25


def test_a_kept_baseline_gives_the_same_comparison():
    from workbench.trackers.keyword_baseline import keyword_baseline

    texts, labels = _scope()
    det = labels == 1
    kept = keyword_baseline(texts, EXAMPLES)
    assert kept[0] and kept[1].dtype == bool and kept[1].sum() == 4
    assert compare_with_keywords(texts, labels, det, det, EXAMPLES, baseline=kept) == \
        compare_with_keywords(texts, labels, det, det, EXAMPLES)


def test_the_baseline_becomes_a_keyword_tracker_with_the_same_scope(demo_ws, capsys):
    from tests.trackers.test_tracker import answer_round, make_tracker
    from workbench.cli.app import main
    from workbench.demo.job import DEMO_EXAMPLES
    from workbench.core.errors import ValidationError

    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    answer_round(t, t.next_round())
    k = t.keyword_comparison()
    kt = t.create_keyword_baseline()
    assert kt.name == "Asking for a discount (keywords)" and tuple(kt.phrases) == k.phrases
    assert kt.settings["related_forms"] is True
    assert (kt.definition.mentioned_by, kt.definition.filters) == (t.definition.mentioned_by, t.definition.filters)
    # The same keywords over the same scope: the comparison's count is the tracker's.
    assert kt.detections(all_sentences=False).height == k.keyword_detected

    assert main(["-w", str(demo_ws.path), "tracker", "keyword", "Discount words",
                 "--from-examples-of", t.name]) == 0
    out = capsys.readouterr().out
    assert "from the examples of 'Asking for a discount'" in out and k.phrases[0] in out
    assert demo_ws.tracker("Discount words").phrases == list(k.phrases)

    odd = make_tracker(demo_ws, name="Odd", examples=[
        "Apples are red.", "The sky looks grey.", "Trains run late.", "Bread is warm.", "Rivers flow east."])
    with pytest.raises(ValidationError, match="suggest no keywords"):
        odd.create_keyword_baseline()
