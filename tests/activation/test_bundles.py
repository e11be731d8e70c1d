"""Tracker bundles: export and import, and the shipped pre-trained trackers on a new workspace."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import joblib
import numpy as np
import polars as pl
import pytest

from tests.activation.conftest import AS_OF
from workbench.activation.bundles import pretrained, read_manifest
from workbench.demo.concepts import sentence_label
from workbench.core.errors import ValidationError


def test_bundle_round_trip(live_ws, tracker, tmp_path):
    path = tracker.export_bundle(tmp_path / "discount")
    assert path.name == "discount.tracker.zip"
    manifest = read_manifest(path)
    assert manifest["name"] == tracker.name and manifest["version"] == 2
    assert manifest["examples"] == tracker.examples and manifest["definition"]["mentioned_by"] == "customer"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {"bundle.json", "tags.parquet", "version/version.json", "version/model/MLmodel"} <= names

    copy = live_ws.import_bundle(path, name="Discount (imported)")
    assert copy.published_version == 1 == live_ws.registry.get_alias(copy.name, "published")
    assert copy.examples == tracker.examples
    # Same calls here, so every tag comes back as a tag.
    assert copy.bundle_tags_restored == tracker.tags().height == copy.tags().height
    # Until it is trained here, its figures are the bundle version's, resting on the bundle's tags found here.
    basis = copy.figures_basis()
    assert basis.from_bundle and (basis.bundle_tags_here, basis.new_tags) == (tracker.tags().height, 0)
    assert copy.performance().hit_rate.value == tracker.versions()["hit_rate"][-1]
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    copy.activate(12, as_of=AS_OF, progress=False, verbose=False)
    a, b = tracker.results().detections, copy.results().detections
    assert a.height > 0 and a.select("sentence_id", "score").sort("sentence_id").equals(
        b.select("sentence_id", "score").sort("sentence_id"))

    with pytest.raises(ValidationError) as e:
        live_ws.import_bundle(path)  # the name is taken
    assert e.value.field == "name"
    bad = tmp_path / "bad.tracker.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValidationError) as e:
        live_ws.import_bundle(bad)
    assert e.value.field == "path"
    assert len(live_ws.trackers()) == 2  # the failed imports left nothing behind


def test_pretrained_trackers_work_on_a_new_workspace_without_tagging(live_ws, tmp_path, embedder):
    from workbench import Workspace

    shipped = pretrained()
    assert len(shipped) == 8 and "Asking for a discount" in shipped
    # A workspace of other calls (the demo generator with another seed than the bundles'), no trackers.
    ws = Workspace(tmp_path / "fresh", model=embedder)
    raw = live_ws.data_dir / "raw" / "demo"
    ws.import_calls(raw / "calls.parquet", raw / "utterances.parquet", embed=False, progress=False)
    shutil.copytree(live_ws.embeddings_dir, ws.embeddings_dir, dirs_exist_ok=True)
    assert ws.embedded_count() == ws.sentences.height

    [t] = ws.import_pretrained(["Asking for a discount"])
    assert t.tags().height == 0 and t.published_version is not None
    t.activate(12, as_of=AS_OF, progress=False, verbose=False)
    det = t.results().detections
    labels = [sentence_label(x) for x in det["text"]]
    truth = ws.sentences.join(ws.calls.filter(pl.col("is_external")).select("call_id"), on="call_id").filter(
        (pl.col("side") == "customer")
        & pl.col("text").map_elements(lambda x: sentence_label(x) == "discount_request", return_dtype=bool))
    hits = sum(label == "discount_request" for label in labels)
    assert hits / len(labels) >= 0.6  # precision on calls the tracker never saw
    assert hits / truth.height >= 0.6  # and recall
    with pytest.raises(ValidationError) as e:
        ws.import_pretrained(["Asking for a refund"])
    assert e.value.field == "names"


def test_a_bundle_from_the_previous_release_imports_and_scores_as_before(live_ws):
    from tests.test_legacy_models import LEGACY_BUNDLE, legacy_expectation
    from workbench.activation.scorer import load_scorer
    from workbench.registry.model_files import is_plain

    from workbench.registry.bundle_files import BundleRefused

    # Made before bundles carried checksums.json: imported only when the user says so.
    with pytest.raises(BundleRefused, match="has no checksums.json"):
        live_ws.import_bundle(LEGACY_BUNDLE, name="Discount (previous release)")
    t = live_ws.import_bundle(LEGACY_BUNDLE, name="Discount (previous release)", allow_unverified=True)
    assert t.published_version == 1
    vectors, expected = legacy_expectation()
    np.testing.assert_array_equal(live_ws.registry.linear_model(t.name, version=1).score(vectors), expected)
    assert load_scorer(live_ws.registry, t.name, 1).model.threshold == live_ws.registry.linear_model(t.name).threshold
    # Imported as plain data: the pickle stays in the bundle.
    assert is_plain(Path(live_ws.registry.model_path(t.name, version=1).removeprefix("file://")))
    t.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert t.results().detections.height > 0


class _WritesAFile:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_bundle_with_a_malicious_pickle_is_refused_and_leaves_nothing(live_ws, tmp_path):
    from tests.test_legacy_models import LEGACY_BUNDLE
    from workbench.registry.legacy import UnsafeModelError

    marker = tmp_path / "created-by-the-bundle"
    evil = tmp_path / "evil.tracker.zip"
    member = "version/model/artifacts/classifier.joblib"
    with zipfile.ZipFile(LEGACY_BUNDLE) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.infolist():
            if item.filename != member:
                dst.writestr(item, src.read(item))
        payload = tmp_path / "payload.joblib"
        joblib.dump(_WritesAFile(marker), payload)
        dst.write(payload, member)
    before = len(live_ws.trackers())
    with pytest.raises(UnsafeModelError) as e:
        live_ws.import_bundle(evil, name="Evil", allow_unverified=True)
    assert str(evil) in str(e.value) and member in str(e.value)
    assert not marker.exists()
    assert len(live_ws.trackers()) == before


def test_a_pretrained_tracker_shows_the_version_that_scores_the_calls_until_trained_here(live_ws, capsys):
    """Issue 13, item 4: refitted on the few tags found or given here, the overview described
    another model than the live one (hit rate 0.21 beside the versions table's 0.74, a sentence
    scored 0.46 in detections() and 0.90 in live search)."""
    from tests.activation.test_cli import run
    from workbench.widgets.overview import PerformanceOverview

    t = live_ws.import_bundle(pretrained()["Asking for a discount"], name="Discount (pre-trained)")
    # The bundle was made on other calls, so none of its tags is here; a user checks a few sentences.
    texts = t.scope(training=True).select("sentence_id", "text").unique("text").sort("sentence_id")
    yes = texts.filter(pl.col("text").map_elements(lambda x: sentence_label(x) == "discount_request",
                                                   return_dtype=bool)).head(3)
    no = texts.filter(~pl.col("sentence_id").is_in(yes["sentence_id"].to_list())).head(3)
    for answer, rows in (("yes", yes), ("no", no)):
        for sid in rows["sentence_id"]:
            t.tag(sid, answer)

    live = t.versions().filter(pl.col("version") == t.published_version).row(0, named=True)
    est = t.performance()
    assert (est.precision.value, est.hit_rate.value) == (live["precision"], live["hit_rate"])
    basis = t.figures_basis()
    assert basis.from_bundle and basis.version == t.published_version == 1
    assert (basis.bundle_name, basis.bundle_tags_here, basis.new_tags) == ("Asking for a discount", 0, 6)
    assert basis.bundle_tags > 0 and "the bundle 'Asking for a discount' version" in basis.text()
    # Its rounds were tagged where the bundle was made: activating it is not "after 0 rounds".
    assert not any("rounds tagged" in c for c in t.activation_concerns())

    t.activate(12, as_of=AS_OF, progress=False, verbose=False)
    searched = t.results().detections.select("sentence_id", pl.col("score").alias("live"))
    det = t.detections().join(searched, on="sentence_id", how="left")
    assert searched.height > 0 and det.filter(pl.col("detected")).height == searched.height
    both = det.drop_nulls("live")
    np.testing.assert_allclose(both["score"].to_numpy(), both["live"].to_numpy(), atol=1e-6)

    assert run(live_ws, "performance", t.name) == 0
    out = capsys.readouterr().out
    assert basis.lines()[0] in out and f"{live['hit_rate']:.2f}" in out
    view = PerformanceOverview(t)
    assert "the one that scores the calls" in view.headline.value and "6 new tags given here" in view.headline.value

    # A training here makes the current tags' model the tracker's; the overview still names the bundle.
    trained = t.train()
    basis = t.figures_basis()
    assert not basis.from_bundle and basis.version == trained.version == 2
    assert "came from the bundle 'Asking for a discount' version" in basis.text()
    latest = t.versions().row(-1, named=True)
    assert t.performance().hit_rate.value == latest["hit_rate"]
