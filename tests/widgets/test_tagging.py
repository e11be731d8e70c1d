"""The tagging screen, driven by its buttons: every click reaches the workspace at once."""
from __future__ import annotations

import warnings

import polars as pl
import pytest

from tests.conftest import tiny_corpus
from tests.demo_workspace import EXAMPLES, answer_from_truth, tag_by_truth, untagged_detected_texts
from workbench import Workspace
from workbench.core.errors import WorkbenchError
from workbench.demo.concepts import sentence_label
from workbench.widgets import TaggingView


def saved_tags(ws, tracker) -> dict[int, str]:
    """The tags as another process sees them: through a new Workspace on the same folder."""
    tags = Workspace(ws.path).tracker(tracker.name).tags()
    return dict(zip(tags["sentence_id"].to_list(), tags["answer"].to_list()))


def test_a_click_is_saved_at_once_and_can_be_changed(demo_ws, new_tracker):
    view = TaggingView(new_tracker)
    first = view.candidate
    assert view.round.number == 1 and "0 of 25, round 1" in view.progress.value
    view.buttons["yes"].click()
    assert saved_tags(demo_ws, new_tracker) == {first.sentence_id: "yes"}
    assert view.index == 1 and "1 of 25, round 1" in view.progress.value

    view.back_button.click()
    assert view.candidate.sentence_id == first.sentence_id and "YES" in view.card.value
    view.buttons["not_sure"].click()
    assert saved_tags(demo_ws, new_tracker) == {first.sentence_id: "not_sure"}
    # Changing a tag moves on to the first sentence still untagged, not past it.
    assert view.index == 1 and "1 of 25, round 1" in view.progress.value


def test_reopening_continues_the_same_round_where_it_stopped(demo_ws, new_tracker, embedder):
    view = TaggingView(new_tracker)
    for _ in range(3):
        view.no()
    again = TaggingView(Workspace(demo_ws.path, model=embedder).tracker(new_tracker.name))
    assert again.round.number == 1
    assert [c.sentence_id for c in again.round] == [c.sentence_id for c in view.round]
    assert again.index == 3 and "3 of 25, round 1" in again.progress.value


def test_the_card_shows_context_speaker_side_and_time(demo_ws, new_tracker):
    view = TaggingView(new_tracker)
    c = next(c for c in view.round if c.context_before and c.context_after)
    view.go_to(view.round.candidates.index(c))
    card = view.card.value
    assert card.count('class="wb-target"') == 1
    assert card.count('class="wb-context"') == len(c.context_before) + len(c.context_after) == 4
    assert card.index(c.context_before[-1]["text"].replace("'", "&#x27;")) < card.index('class="wb-target"')
    assert c.time_label in card and f"({c.side})" in card
    assert view.transcript.value.endswith('<div class="wb"></div>')
    view.call_button.value = True  # "Open the call"
    transcript = view.transcript.value
    assert transcript.count("<mark>") == 1 and f"of {demo_ws.transcript(c.call_id).height}" in transcript


def test_list_view_lists_the_round_and_jumps_to_a_sentence(new_tracker):
    view = TaggingView(new_tracker)
    view.mode.value = "list"
    assert len(view.list_box.children) == len(view.round) == 25
    assert view.one_box.layout.display == "none"
    view.list_box.children[7].children[0].click()
    assert view.mode.value == "one" and view.index == 7


def test_finishing_a_round_trains_a_new_version_and_offers_the_next_round(demo_ws, new_tracker):
    view = TaggingView(new_tracker)
    assert view.finish_box.layout.display == "none"
    for c in list(view.round):
        view.go_to(view.round.candidates.index(c))
        view.buttons["yes" if sentence_label(c.text) == "discount_request" else "no"].click()
    assert view.round.complete and view.finish_box.layout.display is None
    assert view.next_button.disabled  # no next round before this one is trained

    view.finish_button.click()
    versions = Workspace(demo_ws.path).tracker(new_tracker.name).versions()
    assert versions["version"].to_list() == [1] and versions["round"].to_list() == [1]
    assert [v.version for v in demo_ws.registry.versions(new_tracker.name)] == [1]  # the MLflow model version
    assert "model version <b>1</b>" in view.status.value and not view.next_button.disabled

    view.overview_button.click()
    overview = view.after.children
    assert len(overview) == 1 and "Precision" in overview[0].children[1].value  # under the (hidden) banner
    assert overview[0].children[0].layout.display == "none"  # never activated: nothing unpublished

    assert not view.verify_button.disabled
    view.next_button.click()
    assert view.round.number == 2 and "0 of 25, round 2" in view.progress.value
    assert view.after.children == ()


def test_verify_with_nothing_left_to_verify_says_so_and_keeps_the_round(new_tracker):
    # On this small corpus the first round holds one YES: its model detects that sentence only.
    # (The verification rounds themselves are tested on the 150-call corpus, in
    # tests/trackers/test_verification_view.py.)
    view = TaggingView(new_tracker)
    answer_from_truth(view)
    view.finish_button.click()
    assert untagged_detected_texts(new_tracker) == 0, "the fixture changed: this test needs a model with nothing left to verify"
    view.verify_button.click()
    assert view.round.number == 1 and view.round.kind != "verification"
    assert "no untagged detections" in view.status.value
    with pytest.raises(WorkbenchError, match="no untagged detections"):
        new_tracker.verification_round()


def test_a_round_complete_but_not_trained_reopens_to_be_trained(demo_ws, new_tracker, embedder):
    tag_by_truth(new_tracker, new_tracker.next_round())  # the kernel died before "finish"
    view = TaggingView(Workspace(demo_ws.path, model=embedder).tracker(new_tracker.name))
    assert view.round.number == 1 and view.round.complete
    assert not view.finish_button.disabled and view.finish_box.layout.display is None


def test_a_round_answered_all_no_finishes_without_a_model_and_offers_the_next(new_tracker):
    view = TaggingView(new_tracker)
    for _ in range(len(view.round)):
        view.session.answer("no")
    view.render()
    assert view.finish_round() is None
    assert "a model needs at least one of each" in view.status.value
    assert not view.next_button.disabled and view.finish_button.disabled and view.verify_button.disabled
    view.next_button.click()
    assert view.round.number == 2 and not view.round.complete


def test_transcript_text_is_escaped(tmp_path, embedder):
    calls, utts = tiny_corpus(6)
    utts = utts.with_columns(
        pl.when(pl.col("utterance_id") == 3).then(pl.lit("<script>alert('x')</script> Can we get a discount?"))
        .otherwise(pl.col("text")).alias("text"))
    ws = Workspace(tmp_path / "ws", model=embedder)
    ws.import_calls(calls, utts, progress=False)
    ws.embed(progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = ws.create_tracker("<b>Discount</b>", examples=EXAMPLES)
    view = TaggingView(tracker)
    hit = next(i for i, c in enumerate(view.round) if "<script>" in c.text
               or any("<script>" in x["text"] for x in c.context_before + c.context_after))
    view.go_to(hit)
    view.open_call()
    for html in (view.card.value, view.transcript.value, view.progress.value):
        assert "<script>" not in html and "<b>Discount" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in view.card.value + view.transcript.value
    assert "&lt;b&gt;Discount&lt;/b&gt;" in view.progress.value


def test_keys_answer_and_move_like_the_buttons(demo_ws, new_tracker):
    view = TaggingView(new_tracker)
    first, second = view.round[0], view.round[1]
    view.on_key({"type": "keydown", "key": "y"})
    assert saved_tags(demo_ws, new_tracker) == {first.sentence_id: "yes"} and view.index == 1
    view.on_key({"type": "keydown", "key": "ArrowLeft"})
    assert view.index == 0
    view.on_key({"type": "keydown", "key": "N"})  # upper case too
    view.on_key({"type": "keydown", "key": "c", "ctrlKey": True})  # a shortcut of the page, not ours
    view.on_key({"type": "keydown", "key": "s"})
    assert saved_tags(demo_ws, new_tracker) == {first.sentence_id: "no", second.sentence_id: "not_sure"}
    view.on_key({"type": "keydown", "key": "ArrowRight"})
    assert view.index == 3
    view.mode.value = "list"
    view.on_key({"type": "keydown", "key": "y"})  # the list view has no "shown sentence"
    assert len(saved_tags(demo_ws, new_tracker)) == 2
    assert any("<b>Y</b> yes" in getattr(w, "value", "") for w in view.one_box.children)


def test_deep_training_button_shows_the_estimate_progress_and_the_comparison(demo_ws):
    """The button calls Tracker.train(deep=True) (real fine-tuning, one iteration) and shows what
    it says; the overview then sets the deep version beside the frozen one."""
    from workbench.widgets import PerformanceOverview

    tracker = demo_ws.tracker("Asking for a discount")
    demo_ws.catalog.update_settings(tracker.id, {**tracker.settings, "deep": {"num_iterations": 1}})  # for speed
    tracker.refresh()
    view = TaggingView(tracker, tracker.current_round())  # round 2: tagged, trained before this view
    assert view.deep_button.disabled  # deep training follows a training in this view
    view.finish_button.click()
    assert not view.deep_button.disabled
    view.deep_button.click()
    status = view.status.value
    assert "Deep version <b>4</b> trained" in status and "held-out F1 on tags" in status and "flattering" in status
    assert view.deep_bar.layout.display == "none" and view.deep_bar.value == view.deep_bar.max > 1
    assert view.deep_bar.description == "Embedding" and not view.deep_button.disabled
    assert tracker.versions()["training"].to_list() == ["frozen", "frozen", "frozen", "deep"]

    overview = PerformanceOverview(tracker)
    assert "model version 3, round 2" in overview.headline.value  # the figures are the frozen model's
    deep = overview.deep_line.value
    assert "<h3>Deep training</h3>" in deep and "Deep version 4 (round 2)" in deep
    assert deep.count("<tr>") == 3 and "<th>frozen</th>" in deep and "<th>deep</th>" in deep
