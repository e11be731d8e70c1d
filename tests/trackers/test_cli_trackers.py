"""The tracker workflow from the command line, including tagging a round at the terminal prompt."""
from __future__ import annotations

import builtins

import pytest

from workbench.cli.app import main
from workbench.trackers.filters import parse_filters
from tests.demo_workspace import tag_by_truth
from workbench import Workspace
from workbench.demo.concepts import sentence_label
from workbench.demo.job import DEMO_EXAMPLES
from workbench.core.errors import ValidationError


def test_filters_are_parsed_by_the_calls_column_types(demo_ws):
    schema = dict(demo_ws.calls.schema)
    f = parse_filters(["team=SMB,Enterprise", "is_external=true", "duration_s=60..", "started_at=2026-01-01..2026-06-30"],
                      schema)
    assert f == {"team": ["SMB", "Enterprise"], "is_external": True, "duration_s": (60, None),
                 "started_at": ("2026-01-01", "2026-06-30")}
    with pytest.raises(ValidationError, match="no column 'region'"):
        parse_filters(["region=EMEA"], schema)
    with pytest.raises(ValidationError, match="not true or false"):
        parse_filters(["is_external=maybe"], schema)


def test_create_tag_train_and_export_from_the_terminal(demo_ws, tmp_path, monkeypatch, capsys):
    w = ["-w", str(demo_ws.path)]
    ex = tmp_path / "examples.txt"
    ex.write_text("\n".join(DEMO_EXAMPLES))
    assert main(w + ["tracker", "create", "Discount", "--mentioned-by", "customer", "--examples-file", str(ex),
                     "--description", "The customer asks for a discount"]) == 0
    assert "5 examples" in capsys.readouterr().out

    # Answer the prompt as a person would: go back once, then answer from the demo's ground truth.
    t = demo_ws.tracker("Discount")
    rnd = t.next_round()
    answers = iter(["y", "b"] + ["y" if sentence_label(c.text) == "discount_request" else "n" for c in rnd])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    assert main(w + ["tag", "Discount"]) == 0
    out = capsys.readouterr().out
    assert "Round 1 done: model version 1" in out and "precision" in out
    tags = demo_ws.tracker("Discount").tags()
    assert tags.height == 25
    truth = {c.sentence_id: ("yes" if sentence_label(c.text) == "discount_request" else "no") for c in rnd}
    assert dict(zip(tags["sentence_id"], tags["answer"])) == truth  # the first answer was changed after "back"

    assert main(w + ["performance", "Discount"]) == 0
    out = capsys.readouterr().out
    assert "Keyword baseline" in out and "each tag held out" in out

    out_file = tmp_path / "det.csv"
    assert main(w + ["detections", "Discount", "--out", str(out_file)]) == 0
    assert out_file.read_text().startswith("call_id,")
    assert main(w + ["tracker", "list"]) == 0
    assert "Discount" in capsys.readouterr().out


def test_quitting_keeps_the_tags(demo_ws, monkeypatch, capsys):
    w = ["-w", str(demo_ws.path)]
    assert main(w + ["tracker", "create", "Discount", "--mentioned-by", "customer",
                     *sum((["--example", e] for e in DEMO_EXAMPLES), [])]) == 0
    answers = iter(["n", "s", "q"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    assert main(w + ["tag", "Discount"]) == 0
    assert "every tag so far is saved" in capsys.readouterr().out
    assert sorted(demo_ws.tracker("Discount").tags()["answer"]) == ["no", "not_sure"]


def test_the_terminal_and_the_screen_both_train_a_round_tagged_but_never_trained(demo_ws, embedder, monkeypatch,
                                                                               capsys):
    """The process stopped between the last tag and training: `workbench tag` trains that round,
    as the tagging screen offers to, instead of starting round 2 over untrained tags."""
    from workbench.widgets import TaggingView

    w = ["-w", str(demo_ws.path)]
    assert main(w + ["tracker", "create", "Discount", "--mentioned-by", "customer",
                     *sum((["--example", e] for e in DEMO_EXAMPLES), [])]) == 0
    t = demo_ws.tracker("Discount")
    tag_by_truth(t, t.next_round())

    view = TaggingView(Workspace(demo_ws.path, model=embedder).tracker("Discount"))
    assert view.round.number == 1 and view.round.complete and not view.finish_button.disabled

    monkeypatch.setattr(builtins, "input", lambda prompt="": "q")  # nothing is left to ask
    assert main(w + ["tag", "Discount"]) == 0
    assert "Round 1 done: model version 1" in capsys.readouterr().out
    reopened = Workspace(demo_ws.path, model=embedder).tracker("Discount")
    assert reopened.versions()["round"].to_list() == [1]
    assert [r.number for r in reopened.rounds()] == [1]
    # Both now open round 2, where they would both have gone on.
    assert TaggingView(reopened).round.number == 2


def test_a_round_answered_all_no_is_complete_and_the_next_one_follows(demo_ws, monkeypatch, capsys):
    """All NO makes no model yet; the round is done all the same (exit 0), and the next
    `workbench tag` serves round 2 instead of the same round again."""
    w = ["-w", str(demo_ws.path)]
    assert main(w + ["tracker", "create", "Discount", "--mentioned-by", "customer",
                     *sum((["--example", e] for e in DEMO_EXAMPLES), [])]) == 0
    monkeypatch.setattr(builtins, "input", lambda prompt="": "n")
    assert main(w + ["tag", "Discount", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "Round 1 tagged. 0 YES and 25 NO tags so far: a model needs at least one of each" in out
    assert "Round 2 tagged. 0 YES and 50 NO" in out
    t = demo_ws.tracker("Discount")
    assert [r.number for r in t.rounds()] == [1, 2] and t.versions().height == 0
    assert t.tags().height == 50 and set(t.tags()["answer"]) == {"no"}


def test_keyword_tracker_from_the_terminal(demo_ws, capsys):
    assert main(["-w", str(demo_ws.path), "tracker", "keyword", "Discount words", "--phrase", "discount",
                 "--related-forms", "--mentioned-by", "customer"]) == 0
    assert "sentences in" in capsys.readouterr().out
    assert main(["-w", str(demo_ws.path), "tracker", "keyword", "Empty"]) == 2


def test_verification_round_from_the_terminal(demo_ws, monkeypatch, capsys):
    import itertools

    import polars as pl

    from workbench.demo.concepts import sentence_label as label

    w = ["-w", str(demo_ws.path)]
    assert main(w + ["tracker", "create", "Verified", "--mentioned-by", "customer",
                     *sum((["--example", e] for e in DEMO_EXAMPLES), [])]) == 0
    t = demo_ws.tracker("Verified")
    for _ in range(2):
        for c in t.next_round():
            t.tag(c.sentence_id, "yes" if label(c.text) == "discount_request" else "no")
        t.train()
    monkeypatch.setattr(builtins, "input", lambda prompt="", a=itertools.repeat("y"): next(a))
    assert main(w + ["tag", "Verified", "--verify", "5"]) == 0
    out = capsys.readouterr().out
    assert "(verification: random detections)" in out and "Round 3 done" in out
    last = demo_ws.tracker("Verified").tags().filter(pl.col("round_number") == 3)
    assert 0 < last.height <= 5 and (last["strategy"] == "detected_sample").all()


def test_verify_until_sure_from_the_terminal(demo_ws, monkeypatch, capsys):
    import itertools

    from workbench.demo.concepts import sentence_label as label

    w = ["-w", str(demo_ws.path)]
    for bad, why in (("recall=0.05", "not an accuracy"), ("precision=0.6", "between 0 and 0.5"),
                     ("precision=abc", "not an accuracy")):
        with pytest.raises(SystemExit) as exit_:
            main(w + ["tag", "Nobody", "--verify", "--until", bad])
        assert exit_.value.code == 2 and why in capsys.readouterr().err
    assert main(w + ["tracker", "create", "Until sure", "--mentioned-by", "customer",
                     *sum((["--example", e] for e in DEMO_EXAMPLES), [])]) == 0
    t = demo_ws.tracker("Until sure")
    for _ in range(2):
        for c in t.next_round():
            t.tag(c.sentence_id, "yes" if label(c.text) == "discount_request" else "no")
        t.train()
    # Quitting stops it, every tag saved; the next run continues the same round.
    answers = itertools.chain(["n"], itertools.repeat("q"))
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    assert main(w + ["tag", "Until sure", "--until", "precision=0.02"]) == 0
    out = capsys.readouterr().out
    assert out.index("more tags") < out.index("(verification: random detections)") < out.index("Stopped")
    assert not t.current_round().complete and t.current_round().tagged == 1
    # The person answers from the demo's truth: the prompt's candidate is the one shown last.
    shown = []
    monkeypatch.setattr("workbench.cli.trackers.candidate_text", lambda c: shown.append(c) or c.text)
    monkeypatch.setattr(builtins, "input", lambda prompt="": "y" if label(shown[-1].text) == "discount_request" else "n")
    assert main(w + ["tag", "Until sure", "--verify", "--until", "precision=0.02"]) == 0
    out = capsys.readouterr().out
    assert out.index("more tags") < out.index("Round 3 done") < out.index("Precision to ±0.02 is reached")
    assert t.verification_need(precision=0.02).reached and t.current_round().complete
