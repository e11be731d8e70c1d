"""Round navigation, said once: the cursor the tagging screen and `workbench tag` both move."""
from __future__ import annotations

from workbench.trackers.rounds import Candidate, Round, RoundCursor


def round_of(answers: list[str | None]) -> Round:
    return Round(1, [Candidate(sentence_id=i, call_id="c", utterance_id=i, text=f"s{i}", speaker="A",
                               side="customer", start_s=0.0, timing_estimated=False, answer=a)
                     for i, a in enumerate(answers)])


def test_opens_on_the_first_sentence_not_tagged():
    assert RoundCursor.at_first_gap(round_of(["yes", "no", None, None])).index == 2
    assert RoundCursor.at_first_gap(round_of(["yes", "no"])).index == 0  # complete: from the start


def test_an_answer_goes_to_the_next_gap_after_it_then_back_to_an_earlier_one():
    cursor = RoundCursor.at_first_gap(round_of([None, "no", None, None]))
    cursor.answered("yes")
    assert cursor.index == 2 and cursor.round[0].answer == "yes"
    cursor.go_to(3)
    cursor.answered("no")
    assert cursor.index == 2  # nothing untagged after it: the earlier gap
    cursor.answered("not_sure")
    assert cursor.round.complete and cursor.index == 2  # complete: stays where it is


def test_changing_an_answer_moves_to_the_first_gap_not_to_the_next_sentence():
    cursor = RoundCursor.at_first_gap(round_of([None, None, None]))
    cursor.answered("yes")
    cursor.back()
    cursor.answered("no")
    assert cursor.index == 1 and cursor.round.tagged == 1


def test_back_and_forward_stay_within_the_round():
    cursor = RoundCursor(round_of([None, None]))
    assert cursor.at_start and not cursor.at_end
    cursor.back()
    assert cursor.index == 0
    cursor.forward()
    cursor.forward()
    assert cursor.index == 1 and cursor.at_end
    cursor.go_to(-5)
    assert cursor.index == 0
