"""The synthetic demo corpus: determinism, import format, structure and ground truth."""
from __future__ import annotations

import datetime as dt
import json
import re

import polars as pl
import pytest

from workbench.corpus.sentences import split_text
from workbench.demo import CONCEPTS, generate_demo, phrases, sentence_label
from workbench.demo.__main__ import main as cli_main
from workbench.demo.concepts import DEAL_STAGES, HARDNEG_PREFIX
from workbench.core.schema import CALLS_OPTIONAL, CALLS_NULLABLE, CALLS_REQUIRED, SIDES, UTTERANCES_REQUIRED

END = dt.date(2026, 1, 15)
FILES = ("calls.parquet", "utterances.parquet", "labels.parquet", "concepts.json", "README.md")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The default-size corpus, generated once (about a second)."""
    paths = generate_demo(tmp_path_factory.mktemp("demo"), end_date=END)
    calls = pl.read_parquet(paths.calls)
    utts = pl.read_parquet(paths.utterances)
    labels = pl.read_parquet(paths.labels)
    joined = utts.join(labels, on=["call_id", "utterance_id"], how="inner")
    return paths, calls, utts, labels, joined


def _texts_with(joined: pl.DataFrame, label: str) -> pl.DataFrame:
    return joined.filter(pl.col("labels").list.contains(label))


def _body(sentence: str) -> str:
    """What of a bank sentence is said verbatim whatever words go around it: all but its first
    letter (lowercased after an opener) and its final punctuation (a tail goes before it)."""
    return sentence[1:-1]


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate_demo(tmp_path / "a", n_calls=60, seed=3, end_date=END)
    b = generate_demo(tmp_path / "b", n_calls=60, seed=3, end_date=END)
    for name in FILES:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name


def test_other_seed_gives_other_corpus(tmp_path):
    a = generate_demo(tmp_path / "a", n_calls=60, seed=3, end_date=END)
    b = generate_demo(tmp_path / "b", n_calls=60, seed=4, end_date=END)
    assert not pl.read_parquet(a.utterances).equals(pl.read_parquet(b.utterances))
    assert not pl.read_parquet(a.calls).equals(pl.read_parquet(b.calls))


def test_end_date_moves_the_dates_and_nothing_else(tmp_path):
    a = generate_demo(tmp_path / "a", n_calls=60, seed=3, end_date=END)
    b = generate_demo(tmp_path / "b", n_calls=60, seed=3, end_date=END + dt.timedelta(days=100))
    for name in ("utterances.parquet", "labels.parquet", "concepts.json"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    ca, cb = pl.read_parquet(a.calls), pl.read_parquet(b.calls)
    assert ca.drop("started_at").equals(cb.drop("started_at"))
    assert not ca["started_at"].equals(cb["started_at"])


def test_default_end_date_is_today_utc(tmp_path):
    paths = generate_demo(tmp_path, n_calls=20)
    started = pl.read_parquet(paths.calls)["started_at"]
    today = dt.datetime.now(dt.timezone.utc).date()
    # Allow for a run straddling midnight UTC.
    assert started.max().date() < today + dt.timedelta(days=1)
    assert started.min().date() >= today - dt.timedelta(days=366)


# -- import format -------------------------------------------------------------------------


def test_frames_match_the_import_schema(full):
    _, calls, utts, labels, _ = full
    # the import format's columns, and the optional deal_id that deal activity follows
    expected_calls = {**CALLS_REQUIRED, **{k: t for k, (t, _) in CALLS_OPTIONAL.items()}, "deal_id": pl.String()}
    assert dict(calls.schema) == expected_calls
    assert dict(utts.schema) == UTTERANCES_REQUIRED
    assert dict(labels.schema) == {"call_id": pl.String(), "utterance_id": pl.Int64(), "labels": pl.List(pl.String())}
    for col in calls.columns:
        if col not in ("deal_stage", "deal_id"):  # null on purpose: internal calls about no deal
            assert calls[col].null_count() == 0, col
    assert "deal_stage" in CALLS_NULLABLE
    assert utts.null_count().sum_horizontal().item() == 0
    assert calls["call_id"].is_unique().all()
    assert set(calls["channel"]) == {"call"}
    assert set(calls["language"]) == {"en"}
    assert set(utts["side"]) <= set(SIDES) - {"unknown"}
    assert (utts["text"].str.len_chars() > 0).all()


def test_labels_align_one_to_one_with_utterances(full):
    _, _, utts, labels, _ = full
    assert labels.height == utts.height
    assert labels.select("call_id", "utterance_id").equals(utts.select("call_id", "utterance_id"))
    assert (labels["labels"].list.len() >= 1).all()


def test_the_importer_accepts_it_without_warnings(tmp_path):
    from workbench.corpus.prepare import prepare_import

    paths = generate_demo(tmp_path, n_calls=15, seed=2, end_date=END)
    prepared = prepare_import(paths.calls, paths.utterances)
    assert prepared.warnings == []
    assert prepared.calls.height == 15
    assert not prepared.utterances["timing_estimated"].any()


def test_readme_says_synthetic(full):
    paths = full[0]
    assert "synthetic" in paths.readme.read_text(encoding="utf-8").lower()


# -- structure ----------------------------------------------------------------------------


def test_calls_teams_reps_and_stages(full):
    _, calls, _, _, _ = full
    assert calls.height == 600
    assert calls["team"].n_unique() >= 3
    assert calls["rep"].n_unique() >= 10
    # Every rep belongs to exactly one team.
    assert calls.group_by("rep").agg(pl.col("team").n_unique())["team"].max() == 1
    assert set(calls["deal_stage"].drop_nulls()) == set(DEAL_STAGES)
    assert 0 < calls["deal_stage"].null_count() < calls.height * 0.3
    assert calls["is_external"].not_().sum() == 60


def test_dates_fall_in_the_twelve_months_before_end_date(full):
    _, calls, _, _, _ = full
    days = calls["started_at"].dt.date()
    assert days.min() >= END - dt.timedelta(days=365)
    assert days.max() < END
    assert (calls["started_at"].dt.weekday() <= 5).all()  # Monday=1 .. Friday=5
    # Spread over the year, not bunched up.
    assert calls["started_at"].dt.month().n_unique() == 12


def test_utterance_counts_and_ids(full):
    _, _, utts, _, _ = full
    per_call = utts.group_by("call_id").agg(
        pl.len().alias("n"), pl.col("utterance_id").min().alias("lo"), pl.col("utterance_id").max().alias("hi")
    )
    assert per_call["n"].min() >= 40 and per_call["n"].max() <= 80
    assert (per_call["lo"] == 0).all() and (per_call["hi"] == per_call["n"] - 1).all()


def test_sides_alternate_in_external_calls_and_internal_calls_are_company_only(full):
    _, calls, utts, _, _ = full
    u = utts.join(calls.select("call_id", "is_external", "rep"), on="call_id")
    ext = u.filter(pl.col("is_external"))
    expected = pl.when(pl.col("utterance_id") % 2 == 0).then(pl.lit("company")).otherwise(pl.lit("customer"))
    assert (ext["side"] == ext.select(expected).to_series()).all()
    # The company side of an external call is the call's rep.
    assert (ext.filter(pl.col("side") == "company")["speaker"] == ext.filter(pl.col("side") == "company")["rep"]).all()
    internal = u.filter(~pl.col("is_external"))
    assert set(internal["side"]) == {"company"}
    assert internal.group_by("call_id").agg(pl.col("speaker").n_unique())["speaker"].to_list() == [2] * 60
    customers = ext.filter(pl.col("side") == "customer").group_by("call_id").agg(pl.col("speaker").n_unique())
    two = (customers["speaker"] == 2).sum()
    assert 0.1 * 540 < two < 0.3 * 540
    assert customers["speaker"].max() == 2


def test_timings_are_monotone_and_plausible(full):
    _, calls, utts, _, _ = full
    u = utts.with_columns(prev_end=pl.col("end_s").shift(1).over("call_id"))
    assert (u["start_s"] >= 0).all()
    assert (u["end_s"] > u["start_s"]).all()
    assert (u.drop_nulls("prev_end").select(pl.col("start_s") >= pl.col("prev_end")).to_series()).all()
    # Durations follow a speaking rate of roughly 2-3.5 words a second.
    words = u["text"].str.split(" ").list.len()
    rate = words / (u["end_s"] - u["start_s"])
    assert rate.median() > 1.8 and rate.median() < 3.5
    last = u.group_by("call_id").agg(pl.col("end_s").max()).join(calls, on="call_id")
    assert (last["duration_s"] >= last["end_s"]).all()


# -- concepts and ground truth ------------------------------------------------------------


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.label)
def test_each_concept_is_rare_trainable_varied_and_on_its_side(full, concept):
    _, _, utts, _, joined = full
    pos = _texts_with(joined, concept.label)
    side = concept.mentioned_by
    if side != "any":
        assert set(pos["side"]) == {side}
    population = utts.height if side == "any" else utts.filter(pl.col("side") == side).height
    assert pos.height >= 100
    assert 0.004 <= pos.height / population <= 0.035

    bank = [s for by_role in [phrases.POSITIVES[concept.label]] for b in by_role.values() for s in b]
    present = {s for s in bank if pos["text"].str.contains(_body(s), literal=True).any()}
    assert len(present) >= 30
    # Concept sentences also sit next to unrelated sentences, not only alone.
    assert (~pos["text"].is_in(bank)).sum() > pos.height * 0.3


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.label)
def test_concept_sentences_never_hide_in_unlabelled_utterances(full, concept):
    _, _, _, _, joined = full
    others = joined.filter(~pl.col("labels").list.contains(concept.label))
    for s in (s for b in phrases.POSITIVES[concept.label].values() for s in b):
        assert not others["text"].str.contains(_body(s), literal=True).any(), s


def test_any_side_concepts_are_said_by_both_sides(full):
    joined = full[4]
    for label in ("competitor_mention", "next_steps"):
        assert set(_texts_with(joined, label)["side"]) == {"company", "customer"}


def test_recording_disclosure_is_near_the_start_of_most_external_calls(full):
    _, calls, _, _, joined = full
    rec = _texts_with(joined, "recording_disclosure")
    assert rec["utterance_id"].max() <= 2
    assert rec["call_id"].is_unique().all()
    assert rec.height >= 0.8 * calls["is_external"].sum()


def test_discount_requests_come_with_hard_negatives_on_both_sides(full):
    joined = full[4]
    hard = _texts_with(joined, HARDNEG_PREFIX + "discount_request")
    # A price named by the customer without an ask, and the rep talking about discounts.
    assert set(hard["side"]) == {"company", "customer"}
    assert hard.filter(pl.col("side") == "company")["text"].str.contains("discount").all()


@pytest.mark.parametrize("label", sorted(phrases.HARD_NEGATIVES))
def test_hard_negatives_are_present_and_never_positive(full, label):
    joined = full[4]
    hard = _texts_with(joined, HARDNEG_PREFIX + label)
    assert hard.height >= 40
    assert not hard["labels"].list.contains(label).any()
    bank = [s for b in phrases.HARD_NEGATIVES[label].values() for s in b]
    assert sum(hard["text"].str.contains(_body(s), literal=True).any() for s in bank) >= 0.6 * len(bank)


def test_sentence_labels_recover_the_utterance_labels_after_splitting(full):
    """The project's splitter isolates each concept sentence, and the sentence-level
    ground truth agrees with the utterance labels."""
    joined = full[4]
    sample = joined.filter(pl.col("call_id").is_in([f"demo-{i:04d}" for i in range(1, 121)]))
    mismatches = []
    for text, labels in sample.select("text", "labels").iter_rows():
        found = {lab for _, sent in split_text(text) if (lab := sentence_label(sent))}
        expected = {lab for lab in labels if not lab.startswith("topic:")}
        if found != expected:
            mismatches.append((text, labels, found))
    assert mismatches == []
    assert sentence_label("Is there any flexibility on the price if we sign this quarter?") == "discount_request"
    assert sentence_label("The list price is on the website, I saw it.") == "hardneg:discount_request"
    assert sentence_label("Sounds good, bye.") is None


def test_most_sentences_in_a_trackers_scope_are_distinct_texts(full):
    """Real calls rarely repeat a sentence word for word: at least 80% of the sentences on each
    side (a tracker's scope) are distinct texts, while the ground truth stays exact (above)."""
    utts = full[2]
    for side in ("customer", "company"):
        texts = [s for t in utts.filter(pl.col("side") == side)["text"] for _, s in split_text(t)]
        assert len(set(texts)) >= 0.8 * len(texts), side


def test_wrapped_sentences_unwrap_to_their_bank_sentence():
    import random

    from workbench.demo.wording import unwrapped, wrap

    rng = random.Random(0)
    bank = [s for src in (phrases.POSITIVES, phrases.HARD_NEGATIVES) for roles in src.values()
            for b in roles.values() for s in b]
    said = [(s, wrap(s, rng, address="Dana")) for s in bank for _ in range(5)]
    assert sum(w != s for s, w in said) > 0.8 * len(said)
    assert all(s in unwrapped(w) for s, w in said)
    assert sentence_label("Okay, and honestly, is there any flexibility on the price if we sign this quarter, Dana?") \
        == "discount_request"


def test_concepts_json_matches_the_labels(full):
    paths, _, utts, _, joined = full
    entries = json.loads(paths.concepts.read_text(encoding="utf-8"))
    shared_keys = ["name", "description", "mentioned_by", "labels", "positives", "population", "prevalence"]
    assert [c.label for c in CONCEPTS] == [e["labels"][0] for e in entries]
    for e in entries:
        assert list(e) == shared_keys
        pop = joined if e["mentioned_by"] == "any" else joined.filter(pl.col("side") == e["mentioned_by"])
        positives = pop.filter(pl.col("labels").list.eval(pl.element().is_in(e["labels"])).list.any()).height
        assert (e["positives"], e["population"]) == (positives, pop.height), e["name"]
        assert e["prevalence"] == round(positives / pop.height, 4)


# -- the phrase banks themselves ------------------------------------------------------------

_INNER_BREAK = re.compile(r"[.!?]\s+[A-Z]")


@pytest.mark.parametrize("label", sorted(phrases.POSITIVES))
def test_banks_are_large_distinct_single_sentences(label):
    bank = [s for b in phrases.POSITIVES[label].values() for s in b]
    hard = [s for b in phrases.HARD_NEGATIVES[label].values() for s in b]
    assert len(set(bank)) == len(bank) >= 30
    assert len(set(hard)) == len(hard) >= 10
    for s in bank + hard:
        assert not _INNER_BREAK.search(s), s
        assert s[-1] in ".?!" and "{" not in s, s


def test_concept_and_hard_negative_sentences_are_unique_across_banks():
    # sentence_label() relies on it: a sentence in two banks would have two truths.
    every = [s for src in (phrases.POSITIVES, phrases.HARD_NEGATIVES) for roles in src.values()
             for b in roles.values() for s in b]
    assert len(every) == len(set(every))


def test_concepts_cover_the_issue_list():
    assert {c.label for c in CONCEPTS} == set(phrases.POSITIVES) == set(phrases.HARD_NEGATIVES)
    assert len(CONCEPTS) >= 8


def test_filler_stays_clear_of_concept_vocabulary():
    keywords = [re.compile(k, re.IGNORECASE) for k in phrases.CONCEPT_KEYWORDS]
    filler = [s for t in phrases.FILLER.values() for b in t.values() for s in b]
    filler += [s for b in phrases.BACKCHANNELS.values() for s in b] + list(phrases.DISCOUNT_REPLIES)
    # The words said around any sentence, concepts included, must not carry a concept either.
    filler += [*phrases.OPENERS, *phrases.STATEMENT_TAILS, *phrases.QUESTION_TAILS, *phrases.CONTEXT_TAILS]
    filler += [v for values in phrases.SLOTS.values() for v in values]
    offending = [s for s in filler if any(k.search(s) for k in keywords)]
    assert offending == []
    # The keywords do catch the concepts they stand for.
    assert any(k.search("Is there a discount?") for k in keywords)


# -- entry points -------------------------------------------------------------------------


def test_cli_writes_the_corpus(tmp_path, capsys):
    assert cli_main([str(tmp_path / "out"), "--calls", "12", "--seed", "5", "--end-date", "2025-06-30"]) == 0
    for name in FILES:
        assert (tmp_path / "out" / name).is_file()
    assert pl.read_parquet(tmp_path / "out" / "calls.parquet").height == 12
    assert "Asking for a discount" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        cli_main([str(tmp_path), "--calls", "0"])
    with pytest.raises(SystemExit):
        cli_main([str(tmp_path), "--end-date", "yesterday"])


def test_rejects_zero_calls(tmp_path):
    with pytest.raises(ValueError, match="n_calls"):
        generate_demo(tmp_path, n_calls=0)
