"""Smart trackers end to end on a small embedded demo workspace (real model, real MLflow store)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import warnings
from html import escape

import numpy as np
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO
from workbench import Workspace
from workbench.training.duplicates import text_key
from workbench.training.estimate import HonestEstimate
from workbench.demo.concepts import sentence_label
from workbench.demo.job import DEMO_EXAMPLES
from workbench.core.errors import NotFoundError, ValidationError
from workbench.trackers.scope_check import SmallCorpusWarning

DESCRIPTION = "The customer asks for a lower price or a discount"


def make_tracker(ws, name="Asking for a discount", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCorpusWarning)
        t = ws.create_tracker(name, description=DESCRIPTION, mentioned_by="customer", **kw)
    return t


def answer_round(t, rnd, label="discount_request"):
    for c in rnd:
        t.tag(c.sentence_id, "yes" if sentence_label(c.text) == label else "no")


def test_create_validates_and_warns_on_small_corpus(demo_ws):
    with pytest.warns(SmallCorpusWarning, match="keyword tracker"):
        demo_ws.create_tracker("Discount", mentioned_by="customer")
    with pytest.raises(ValidationError) as e:
        demo_ws.create_tracker("discount")  # names are unique, whatever the case
    assert e.value.field == "name"
    with pytest.raises(ValidationError) as e:
        demo_ws.create_tracker("X", filters={"region": "EMEA"})
    assert e.value.field == "filters.region" and "team" in str(e.value)
    with pytest.raises(ValidationError) as e:
        demo_ws.create_tracker("X", filters={"team": ["Nobody"]})
    assert e.value.field == "filters"
    with pytest.raises(ValidationError) as e:
        demo_ws.create_tracker("X", mentioned_by="agent")
    assert e.value.field == "mentioned_by"
    with pytest.raises(ValidationError) as e:
        demo_ws.create_tracker("X", call_part=("middle", 5))
    assert e.value.field == "call_part"


def test_a_name_may_use_the_whole_limit_and_the_message_says_so():
    from workbench.trackers.definition import NAME_MAX, validate_name

    assert validate_name("x" * NAME_MAX) == "x" * NAME_MAX
    with pytest.raises(ValidationError, match=f"at most {NAME_MAX} characters"):
        validate_name("x" * (NAME_MAX + 1))


def test_examples_are_validated(demo_ws):
    t = make_tracker(demo_ws)
    with pytest.raises(ValidationError) as e:
        t.add_examples(["Can we get a discount? We are a small team."])
    assert e.value.field == "examples[1]" and "2 sentences" in str(e.value)
    t.add_examples(DEMO_EXAMPLES[:3])
    with pytest.raises(ValidationError) as e:
        t.add_examples(["can you give us a discount"])
    assert "duplicate" in str(e.value)
    with pytest.raises(ValidationError, match="at least 5"):
        t.next_round()
    with pytest.raises(ValidationError, match="more than the 100"):
        t.add_examples([f"Could we get {i} percent off the price?" for i in range(98)])
    assert len(t.examples) == 3  # a rejected batch adds nothing


def test_scope_follows_side_filters_and_call_part(demo_ws):
    t = make_tracker(demo_ws)
    scope = t.scope()
    assert set(scope["side"]) == {"customer"}
    internal = demo_ws.calls.filter(~pl.col("is_external"))["call_id"]
    assert not set(scope["call_id"]) & set(internal)  # external calls only by default
    t.update(call_part=("first", 1), filters={"is_external": True, "team": ["SMB"]})
    first = t.scope()
    assert first["start_s"].max() < 60
    smb = set(demo_ws.calls.filter(pl.col("team") == "SMB")["call_id"])
    assert set(first["call_id"]) <= smb


def test_rounds_tags_training_and_mlflow(demo_ws):
    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    rnd = t.next_round()
    assert rnd.number == 1 and len(rnd) == 25
    c = rnd[3]
    assert len(c.context_before) <= 2 and len(c.context_after) <= 2
    assert c.side == "customer" and c.text
    # A half-tagged round is the round you get back.
    t.tag(rnd[0].sentence_id, "not_sure")
    t.tag(rnd[1].sentence_id, "yes")
    t.tag(rnd[1].sentence_id, "no")  # changeable
    again = t.next_round()
    assert again.number == 1 and again.tagged == 2 and again[1].answer == "no"
    answer_round(t, again)
    t.tag(rnd[0].sentence_id, "not_sure")
    tags = t.tags()
    assert tags.height == 25 and (tags["answer"] == "not_sure").sum() == 1
    result = t.train()
    assert result.version == 1 and result.n_not_sure == 1
    shown = set(tags["sentence_id"])
    rnd2 = t.next_round()
    assert rnd2.number == 2 and not shown & {c.sentence_id for c in rnd2}  # never offered twice
    answer_round(t, rnd2)
    assert t.train().version == 2

    client = MlflowClient(tracking_uri=demo_ws.registry.tracking_uri, registry_uri=demo_ws.registry.tracking_uri)
    versions = demo_ws.registry.versions(t.name)
    assert [v.version for v in versions] == [1, 2]
    run = client.get_run(versions[-1].run_id)
    assert run.data.params["round"] == "2"
    assert run.data.params["n_not_sure"] == "1"
    assert "detected_sentences" in run.data.metrics and "detected_units" in run.data.metrics
    assert run.data.params["estimate_unit"] == "turn"
    assert run.data.params["estimator.honest.n_draws"] == str(HonestEstimate().get_params()["n_draws"])
    assert run.data.params["estimator.reference.n_repeats"] == "10"
    kw = t.keyword_comparison()
    assert run.data.params["keyword_baseline"] == ", ".join(kw.phrases)
    assert run.data.metrics["keyword_f1_on_tags"] == kw.keyword_f1
    assert run.data.metrics["tracker_f1_on_tags_held_out"] == kw.tracker_f1
    assert run.data.metrics["keyword_f1_from_random_tags"] == kw.keyword_f1_estimated
    artifacts = {a.path for d in ("", "figures", "tags") for a in client.list_artifacts(run.info.run_id, d or None)}
    assert {"figures/performance.png", "tags/tags.parquet", "estimate.json", "definition.json"} <= artifacts

    est = t.performance()
    assert est.n_yes + est.n_no + est.n_not_sure == 50
    assert est.precision is not None and 0 <= est.precision.low <= est.precision.value <= est.precision.high <= 1
    det = t.detections()
    assert {"call_id", "utterance_id", "sentence_id", "text", "score", "detected", "start_s"} <= set(det.columns)
    assert det.height == t.scope().height and det["detected"].sum() == est.detected_sentences
    samples = t.sample_detections()
    assert 0 < samples.height <= 20 and samples["text"].n_unique() == samples.height
    assert not set(samples["sentence_id"]) & set(t.tags()["sentence_id"])
    curve = t.learning_curve()
    assert curve.rounds == [1, 2] and curve.another_round_helps


def test_the_round_planned_while_training_is_the_one_next_round_shows(demo_ws):
    """train() plans the next round on a worker while it logs to MLflow (issue 16, item 5);
    next_round() stores and shows that round, the one the session plans on the round's path."""
    t = make_tracker(demo_ws, name="Planned ahead", examples=DEMO_EXAMPLES)
    answer_round(t, t.next_round())
    t.train()
    session = t._session()
    with session._planning:  # once the worker has planned
        key, number, n, planned = session._ahead
    assert (key, number, n) == (session.key, 2, 25)
    rnd = t.next_round()
    assert rnd.number == 2 and session._ahead is None  # taken by next_round()
    ids = t._scope_arrays().frame["sentence_id"].to_numpy()
    again = session._plan(2, 25, session.planner_params or {})
    shown = sorted(c.sentence_id for c in rnd.candidates)
    assert shown == sorted(ids[planned.indices].tolist()) == sorted(ids[again.indices].tolist())


def test_verification_round_draws_random_detections_and_feeds_the_estimate(demo_ws):
    t = make_tracker(demo_ws, name="Verified discount", examples=DEMO_EXAMPLES)
    with pytest.raises(ValidationError, match="at least one of each"):
        t.verification_round()  # no model yet
    for _ in range(2):
        answer_round(t, t.next_round())
        t.train()
    before = t.performance()
    det = t.detections().filter(pl.col("detected"))
    detected = set(det["sentence_id"])
    tagged_texts = {text_key(x) for x in t.tags()["text"]}
    # Untagged detected texts (a text whose words were already tagged is never offered again,
    # and a round offers each text once).
    open_texts = {text_key(x) for x in det["text"]} - tagged_texts
    assert len(open_texts) >= 2
    rnd = t.verification_round(10)
    assert rnd.kind == "verification" and "verification" in rnd.progress and rnd.number == 3
    ids = {c.sentence_id for c in rnd}
    assert len(ids) == min(10, len(open_texts)) and ids <= detected  # detections only
    assert len({text_key(c.text) for c in rnd}) == len(ids)
    assert not ids & set(t.tags()["sentence_id"])  # never a tagged one
    assert t.verification_round(10).number == 3  # the unfinished round comes back
    answer_round(t, rnd)
    tags = t.tags().filter(pl.col("round_number") == 3)
    assert (tags["strategy"] == "detected_sample").all() and tags["inclusion_prob"].is_not_null().all()
    result = t.train()
    assert result.round_number == 3
    client = MlflowClient(tracking_uri=demo_ws.registry.tracking_uri, registry_uri=demo_ws.registry.tracking_uri)
    runs = {v.version: client.get_run(v.run_id).data.params for v in demo_ws.registry.versions(t.name)}
    assert runs[result.version]["round_kind"] == "verification"  # a reviewer can tell it in the MLflow UI
    assert runs[result.version - 1]["round_kind"] == "learning"
    after = t.performance()
    # The verification tags are random ones: the honest estimate counts them.
    assert after.n_probe_tags > before.n_probe_tags  # counted by turn: two in one turn count once
    assert after.n_probe_rounds == before.n_probe_rounds + 1
    assert t.next_round().kind == "learning"
    # The option to hold the model while verifying (a tracker setting, stored with the tracker;
    # set here in memory): the version trained after a verification round is the model the
    # round was drawn from (same threshold, same detections), with the estimate its tags narrowed.
    answer_round(t, t.current_round())
    learnt = t.train()
    t.settings["keep_model_while_verifying"] = True
    detections_before = t.detections()
    answer_round(t, t.verification_round(5))
    result = t.train()
    assert result.round_number == 5 and result.threshold == learnt.threshold
    assert t.detections().equals(detections_before)
    run = client.get_run(next(v.run_id for v in demo_ws.registry.versions(t.name) if v.version == result.version))
    assert run.data.metrics["detection_change"] == 0.0 and run.data.params["verification_rounds_not_fitted"] == "5"
    following = t.next_round()  # planned with the held model; its first answer ends the hold
    assert following.kind == "learning" and t._session().held_rounds == {5}
    t.tag(following[0].sentence_id, "no")
    assert t._session().held_rounds == frozenset()


def test_tags_persist_across_processes_and_survive_a_killed_kernel(demo_ws):
    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    rnd = t.next_round()
    ids = [c.sentence_id for c in rnd]
    # A second process tags three sentences and is killed before it can exit cleanly.
    script = textwrap.dedent(f"""
        import os, signal, sys
        from workbench import Workspace
        ws = Workspace({str(demo_ws.path)!r})
        t = ws.tracker("asking for a discount")
        for sid in {ids[:3]!r}:
            t.tag(sid, "yes")
        print("tagged", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == -signal.SIGKILL and "tagged" in proc.stdout
    reopened = Workspace(demo_ws.path).tracker("Asking for a discount")
    rnd_again = reopened.next_round()
    assert rnd_again.number == 1 and [c.sentence_id for c in rnd_again] == ids
    assert rnd_again.tagged == 3 and {c.answer for c in rnd_again[:3]} == {"yes"}


def test_unknown_answers_and_sentences_are_refused(demo_ws):
    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    rnd = t.next_round()
    with pytest.raises(ValidationError, match="not an answer"):
        t.tag(rnd[0].sentence_id, "maybe")
    with pytest.raises(NotFoundError):
        t.tag(12345, "yes")
    with pytest.raises(ValidationError, match="at least one of each"):
        t.train()
    with pytest.raises(NotFoundError, match="There are: Asking for a discount"):
        demo_ws.tracker("nope")


def test_delete_needs_confirmation(demo_ws):
    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    with pytest.raises(ValidationError, match="confirm"):
        demo_ws.delete_tracker(t.name)
    demo_ws.delete_tracker(t.name, confirm=True)
    assert demo_ws.trackers() == []


def test_keyword_tracker_detections(demo_ws):
    kt = demo_ws.create_keyword_tracker("Discount words", ["discount"], related_forms=True, mentioned_by="customer")
    det = kt.detections()
    assert det.height == kt.scope().height
    hits = det.filter(pl.col("detected"))
    assert hits.height > 0
    assert all("discount" in t.lower() for t in hits["text"])
    assert demo_ws.tracker("discount words").phrases == ["discount"]
    with pytest.raises(ValidationError):
        demo_ws.create_keyword_tracker("Nothing", [])


def test_a_yes_is_learnt_from_its_turn_but_never_from_a_not_sure(demo_ws, tmp_path, capsys):
    t = make_tracker(demo_ws, name="Turn witnesses", examples=DEMO_EXAMPLES)
    answer_round(t, t.next_round())
    scope, session = t._scope_arrays(), t._session()
    texts = scope.frame["text"].to_list()
    ids = scope.frame["sentence_id"].to_numpy()
    free = ~session.shown
    # A turn of 3+ untagged sentences, one of them a discount request: a user who reads the
    # context tags another sentence of it YES (the turn asks for a discount).
    size = np.bincount(scope.turns)
    asks = np.bincount(scope.turns, weights=[sentence_label(x) == "discount_request" for x in texts])
    untouched = np.bincount(scope.turns, weights=free) == size
    turn = int(np.flatnonzero((size >= 3) & (asks == 1) & untouched)[0])
    rows = np.flatnonzero(scope.turns == turn)
    ask = next(r for r in rows if sentence_label(texts[r]) == "discount_request")
    yes, not_sure = [r for r in rows if r != ask][:2]
    t.tag(int(ids[yes]), "yes")
    t.tag(int(ids[not_sure]), "not_sure")
    session = t._session()
    tagged = np.flatnonzero(session.labels >= 0)
    mates, of = session.turn_mates(tagged)
    yes_at = int(np.flatnonzero(tagged == yes)[0])
    # The rest of the YES tag's turn may stand in for it, except the sentence tagged NOT SURE.
    assert sorted(mates[of == yes_at].tolist()) == sorted(set(rows.tolist()) - {yes, not_sure})
    assert session.model().get_params()["yes_sentence"] == "best_of_turn"
    # The classifier learns that YES from the discount request, and MLflow records it.
    result = t.train()
    # Read straight from MLflow, as the UI reads it: once the registry's worker has completed
    # the run (train() returns with the run and version made, workbench.registry.deferred).
    assert demo_ws.registry.wait_for_figures(timeout=120)
    client = MlflowClient(tracking_uri=demo_ws.registry.tracking_uri, registry_uri=demo_ws.registry.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.metrics["yes_tags_learnt_from_their_turn"] >= 1
    local = client.download_artifacts(result.run_id, "tags/tags.parquet", str(tmp_path))
    recorded = pl.read_parquet(local).filter(pl.col("sentence_id") == int(ids[yes]))
    assert recorded["learnt_from_sentence_id"].to_list() == [int(ids[ask])]
    # The user sees it too: the Python API, `workbench performance` and the overview.
    learnt = t.yes_learnt_from()
    row = learnt.filter(pl.col("sentence_id") == int(ids[yes])).row(0, named=True)
    assert row["text"] == texts[yes] and row["learnt_from_text"] == texts[ask]
    from workbench.cli.app import main
    from workbench.widgets.overview import PerformanceOverview

    assert main(["--workspace", str(demo_ws.path), "performance", t.name]) == 0
    out = capsys.readouterr().out
    assert "learnt from another sentence of their speaker turn" in out and texts[ask] in out
    html = PerformanceOverview(t).learnt_from.value
    assert "How your YES tags were read" in html and escape(texts[ask]) in html


def test_a_changed_answer_is_seen_at_once(demo_ws, monkeypatch):
    """Changing YES to NO and reading the figures within the same second shows the new answer.

    The clock is frozen so that both answers carry the same second, as two clicks within a
    second do; the tracker must not take the unchanged tag count and time for unchanged tags."""
    from datetime import datetime, timezone

    from workbench.storage import store

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 5, 9, 30, 0, tzinfo=timezone.utc)

    monkeypatch.setattr(store, "datetime", FrozenClock)
    t = make_tracker(demo_ws, name="Changed answers", examples=DEMO_EXAMPLES)
    rnd = t.next_round()
    answer_round(t, rnd)
    yes = [c.sentence_id for c in t.current_round() if c.answer == "yes"]
    assert len(yes) >= 2
    before = t.performance()
    scores_before = t.detections()["score"].to_numpy()
    t.tag(yes[0], "no")
    after = t.performance()
    assert (after.n_yes, after.n_no) == (before.n_yes - 1, before.n_no + 1)
    assert not np.array_equal(t.detections()["score"].to_numpy(), scores_before)  # a model refitted on it
    t.tag(yes[0], "yes")
    assert t.performance().n_yes == before.n_yes


def test_verify_until_sure_serves_rounds_until_the_asked_accuracy(demo_ws):
    # ±0.20: since the calibration's tail carries a shared shift (session 7), the hit-rate
    # interval on this 150-call corpus narrows more slowly than ±0.10 in 30 rounds. ±0.20 takes 6
    # verification rounds (±0.15 took 15 on the same path, for ~10 CPU s more of the suite), and
    # still one where the interval widens again (0.23 to 0.30) before it is reached.
    t = make_tracker(demo_ws, name="Verified until sure", examples=DEMO_EXAMPLES)
    for _ in range(2):
        answer_round(t, t.next_round())
        t.train()
    with pytest.raises(ValidationError, match="half-width must lie between 0 and 0.5"):
        t.verification_round(precision=0.7)
    with pytest.raises(ValidationError, match="ask for an accuracy"):
        t.verification_need()
    need = t.verification_need(hit_rate=0.20)
    assert not need.reached and need.more > 0 and need.describe().startswith("About")
    rnd = t.verification_round(hit_rate=0.20)
    assert rnd.kind == "verification" and "likely misses" in rnd.progress and 0 < len(rnd) <= 20
    assert {c.strategy for c in rnd} == {"likely_miss"}
    assert not {c.sentence_id for c in rnd} & set(t.detections().filter(pl.col("detected"))["sentence_id"])
    assert t.verification_round(precision=0.05).number == rnd.number  # the unfinished round comes back
    for number in range(rnd.number, rnd.number + 30):
        assert len(rnd) and rnd.number == number
        answer_round(t, rnd)
        t.train()
        rnd = t.verification_round(hit_rate=0.20)
        if not len(rnd):
            break
    assert len(rnd) == 0 and t.verification_need(hit_rate=0.20).reached
    hit_rate = t.performance().honest_hit_rate
    assert (hit_rate.high - hit_rate.low) / 2 <= 0.20 or t.verification_need(hit_rate=0.20).figures[0].left == 0
    assert t.current_round().complete  # an empty round is never stored
    assert t.verification_round().kind == "verification"  # the plain round is as before


def test_a_tag_finds_its_sentence_by_id(demo_ws):
    # tag() finds the sentence's row by a binary search in the ids (CorpusTables.sentence_row)
    # rather than a filter over every sentence: the same row, and an unknown id is refused.
    sentences = demo_ws.sentences
    ids = sentences["sentence_id"].to_numpy()
    for row in (0, len(ids) // 3, len(ids) - 1):
        assert demo_ws.tables.sentence_row(int(ids[row])) == row
    missing = int(ids.max()) + 1
    assert demo_ws.tables.sentence_row(missing) is None
    t = make_tracker(demo_ws, name="Tags by id", examples=DEMO_EXAMPLES)
    t.tag(int(ids[len(ids) // 3]), "no")
    assert t.tags()["text"].to_list() == [sentences["text"][len(ids) // 3]]
    with pytest.raises(NotFoundError):
        t.tag(missing, "yes")
