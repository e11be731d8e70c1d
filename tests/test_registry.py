"""TrackerRegistry against a real MLflow SQLite store in a temporary folder.

One store serves the module (creating the database runs MLflow's migrations, which take
seconds); each test uses its own tracker names so tests stay independent. What the registry
wrote is read back through a plain MlflowClient, as the MLflow UI would see it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import LoggedModelStatus  # noqa: E402

from tests.clean_process import score_without_the_workbench  # noqa: E402
from workbench.core.errors import NotFoundError, ValidationError  # noqa: E402
from workbench.registry.linear_model import LinearTrackerModel  # noqa: E402
from workbench.registry.versions import (  # noqa: E402
    DEFAULT_EMBEDDING_MODEL,
    PUBLISHED_ALIAS,
    TrackerRegistry,
    experiment_name,
    registered_model_name,
)
from workbench.training.model import TrackerModel  # noqa: E402

DIM = 384


def make_classifier(seed: int, threshold: float | str = "cv") -> tuple[TrackerModel, np.ndarray]:
    """The workbench's classifier fitted over 384-d float32 vectors, and vectors to score with it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, DIM)).astype(np.float32)
    y = (x[:, seed % DIM] + 0.3 * x[:, 1] > 0).astype(int)
    return TrackerModel(C=0.5, threshold=threshold).fit(x, y), rng.normal(size=(25, DIM)).astype(np.float32)


def plain(clf: TrackerModel) -> LinearTrackerModel:
    return LinearTrackerModel.from_estimator(clf, DEFAULT_EMBEDDING_MODEL)


def tags_table(n_yes: int = 3, n_no: int = 2, n_not_sure: int = 1) -> pl.DataFrame:
    labels = ["YES"] * n_yes + ["NO"] * n_no + ["NOT SURE"] * n_not_sure
    return pl.DataFrame({
        "sentence_id": list(range(len(labels))),
        "text": [f"sentence {i}, with a comma" for i in range(len(labels))],
        "label": labels,
        "round": [1] * len(labels),
        # A nested column: kept in the parquet artifact, left out of the CSV one.
        "embedding": [[0.1, 0.2]] * len(labels),
    })


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workspace") / "mlruns"


@pytest.fixture(scope="module")
def registry(store: Path) -> TrackerRegistry:
    return TrackerRegistry(store)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> TrackerRegistry:
    """A second workspace's store, for what must not leak between stores."""
    return TrackerRegistry(tmp_path_factory.mktemp("other-workspace") / "mlruns")


@pytest.fixture(scope="module")
def client(registry: TrackerRegistry) -> MlflowClient:
    """An independent client on the same database, standing in for the MLflow UI."""
    return MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)


def log(registry: TrackerRegistry, name: str, round_no: int, clf=None, **kwargs):
    clf = clf if clf is not None else make_classifier(round_no)[0]
    kwargs.setdefault("params", {"round": round_no, "classifier": {"kind": "logreg", "C": 0.5}})
    kwargs.setdefault("metrics", {"precision": 0.8, "recall": 0.6})
    kwargs.setdefault("tags_table", tags_table())
    return registry.log_training(name, model=plain(clf), **kwargs)


# ---------------------------------------------------------------------------------------------
def test_training_is_one_run_with_params_metrics_and_artifacts(registry, client, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    table = tags_table(n_yes=4, n_no=3, n_not_sure=2)
    record = log(
        registry, "Discount asks", 1,
        metrics={"precision": 0.75, "recall": 0.5, "per_side": {"customer": 0.9}},
        tags_table=table,
        figures={"precision recall": fig},
        extra_artifacts={"performance": {"f1": float("nan"), "n": 9}, "notes.md": "# Round 1"},
        description="first round",
    )
    plt.close(fig)

    run = client.get_run(record.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "round 1"
    assert run.info.experiment_id == record.experiment_id
    assert client.get_experiment(record.experiment_id).name == "tracker: Discount asks"
    params = run.data.params
    assert params["tracker"] == "Discount asks"
    assert params["round"] == "1"
    assert (params["n_yes"], params["n_no"], params["n_not_sure"], params["n_tags"]) == ("4", "3", "2", "9")
    assert params["classifier.C"] == "0.5" and params["classifier.kind"] == "logreg"
    assert params["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert run.data.metrics == {"precision": 0.75, "recall": 0.5, "per_side.customer": 0.9}
    assert run.data.tags["mlflow.note.content"] == "first round"
    assert run.data.tags["workbench.round"] == "1"

    files = {a.path for a in client.list_artifacts(record.run_id)}
    files |= {a.path for d in ("tags", "figures") for a in client.list_artifacts(record.run_id, d)}
    assert {"tags/tags.parquet", "tags/tags.csv", "figures/precision recall.png",
            "performance.json", "notes.md"} <= files
    local = Path(client.download_artifacts(record.run_id, "", str(tmp_path)))
    assert pl.read_parquet(local / "tags" / "tags.parquet").equals(table)
    csv = pl.read_csv(local / "tags" / "tags.csv")
    assert csv.columns == ["sentence_id", "text", "label", "round"]
    assert csv["text"].to_list() == table["text"].to_list()
    assert (local / "figures" / "precision recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((local / "performance.json").read_text()) == {"f1": None, "n": 9}
    assert (local / "notes.md").read_text() == "# Round 1"

    mv = client.get_model_version(record.registered_model, str(record.version))
    assert mv.run_id == record.run_id and mv.description == "first round"
    assert mv.tags["workbench.tracker"] == "Discount asks"
    rm = client.get_registered_model(record.registered_model)
    assert rm.tags["workbench.tracker"] == "Discount asks" and "Discount asks" in rm.description
    logged = client.get_logged_model(record.model_id)
    assert logged.status == LoggedModelStatus.READY and logged.source_run_id == record.run_id
    assert {m.key: m.value for m in logged.metrics}["precision"] == 0.75
    assert record.model_uri == f"models:/{record.registered_model}/{record.version}"


def test_tags_csv_artifact_neutralises_formula_cells(registry, client, tmp_path):
    """tags.csv is downloaded from the MLflow UI and opened in spreadsheets: a sentence that reads
    like a formula gets a leading quote there, and stays as typed in tags.parquet."""
    table = tags_table().with_columns(pl.Series("text", ["=HYPERLINK(\"http://x\")", "-2+3 a year", "@SUM(A1)",
                                                        "+1 for that", "fine", "a = b"]))
    record = log(registry, "Formula tags", 1, tags_table=table)
    local = Path(client.download_artifacts(record.run_id, "tags", str(tmp_path)))
    csv = pl.read_csv(local / "tags.csv")
    assert csv["text"].to_list() == ["'=HYPERLINK(\"http://x\")", "'-2+3 a year", "'@SUM(A1)", "'+1 for that", "fine",
                                     "a = b"]
    assert pl.read_parquet(local / "tags.parquet")["text"].to_list() == table["text"].to_list()


def test_versions_increase_with_each_training(registry):
    records = [log(registry, "Versions", r, metrics={"recall": r / 10}) for r in (1, 2, 3)]
    assert [r.version for r in records] == [1, 2, 3]
    versions = registry.versions("Versions")
    assert [(v.version, v.round, v.run_id) for v in versions] == [(r.version, i + 1, r.run_id) for i, r in enumerate(records)]
    assert [v.metrics["recall"] for v in versions] == [0.1, 0.2, 0.3]
    assert versions[0].created <= versions[1].created <= versions[2].created
    assert versions[0].created.tzinfo is not None
    assert registry.versions("Never trained") == []


def test_aliases_set_move_and_read(registry):
    for r in (1, 2):
        log(registry, "Aliases", r)
    assert registry.get_alias("Aliases", PUBLISHED_ALIAS) is None
    registry.set_alias("Aliases", PUBLISHED_ALIAS, 1)
    assert registry.get_alias("Aliases", PUBLISHED_ALIAS) == 1
    registry.set_alias("Aliases", PUBLISHED_ALIAS, 2)  # moving, not adding
    registry.set_alias("Aliases", "candidate", 2)
    assert registry.get_alias("Aliases", PUBLISHED_ALIAS) == 2
    assert [v.aliases for v in registry.versions("Aliases")] == [(), ("candidate", "published")]

    with pytest.raises(NotFoundError, match="no version 7"):
        registry.set_alias("Aliases", PUBLISHED_ALIAS, 7)
    with pytest.raises(ValidationError, match="alias"):
        registry.set_alias("Aliases", "latest", 1)  # reserved by MLflow
    with pytest.raises(NotFoundError):
        registry.set_alias("Unknown tracker", PUBLISHED_ALIAS, 1)
    assert registry.get_alias("Unknown tracker", PUBLISHED_ALIAS) is None


def test_two_trackers_do_not_mix(registry):
    a = log(registry, "Mix A", 1)
    b1 = log(registry, "Mix B", 1)
    b2 = log(registry, "Mix B", 2)
    assert a.experiment_id != b1.experiment_id == b2.experiment_id
    assert a.registered_model != b1.registered_model
    assert (a.version, b1.version, b2.version) == (1, 1, 2)
    assert registry.runs("Mix A")["run_id"].to_list() == [a.run_id]
    assert registry.runs("Mix B")["run_id"].to_list() == [b1.run_id, b2.run_id]
    registry.set_alias("Mix B", PUBLISHED_ALIAS, 2)
    assert registry.get_alias("Mix A", PUBLISHED_ALIAS) is None


@pytest.mark.parametrize(
    "name",
    ["Asking for a discount", "price/discount: Q3", "Réduction ✓ 折扣", "..", "折扣", "a" * 300],
)
def test_registered_model_names_are_safe_and_distinct(name):
    model = registered_model_name(name)
    assert model and set(model) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    assert not model.startswith((".", "-")) and len(model) <= 120
    assert registered_model_name(name) == model  # stable across calls and processes
    assert experiment_name(name) == f"tracker: {name}"


def test_name_sanitising_keeps_safe_names_and_separates_lossy_ones():
    assert registered_model_name("discount_asks") == "discount_asks"
    assert registered_model_name("Price / discount") != registered_model_name("Price - discount")
    assert registered_model_name("Réduction").startswith("Reduction-")
    assert registered_model_name("Discount") != registered_model_name("discount")
    for bad in ("", "   "):
        with pytest.raises(ValidationError, match="tracker name"):
            registered_model_name(bad)


def test_awkward_tracker_name_end_to_end(registry, client):
    name = "Prix / remise: «réduction» 折扣"
    record = log(registry, name, 1)
    assert "/" not in record.registered_model and ":" not in record.registered_model
    assert client.get_experiment(record.experiment_id).name == f"tracker: {name}"
    assert [v.version for v in registry.versions(name)] == [1]
    assert registry.runs(name)["params.tracker"].to_list() == [name]
    registry.set_alias(name, PUBLISHED_ALIAS, 1)
    assert registry.load_model(name, alias=PUBLISHED_ALIAS) is not None


def test_loaded_model_scores_exactly_like_the_classifier(registry):
    clf1, x = make_classifier(11, threshold=-0.8)
    clf2, _ = make_classifier(12, threshold=0.9)
    log(registry, "Scores", 1, clf=clf1)
    log(registry, "Scores", 2, clf=clf2)
    registry.set_alias("Scores", PUBLISHED_ALIAS, 1)
    expected1 = clf1.predict_proba(x)[:, 1]
    expected2 = clf2.predict_proba(x)[:, 1]
    assert not np.allclose(expected1, expected2)  # else the checks below could not tell them apart
    assert 0 < (expected1 >= 0.5).sum() < len(x)

    by_version = registry.load_model("Scores", version=1)
    by_alias = registry.load_model("Scores", alias=PUBLISHED_ALIAS)
    latest = registry.load_model("Scores")
    frame = pd.DataFrame({"embedding": list(x)})
    for model, expected in ((by_version, expected1), (by_alias, expected1), (latest, expected2)):
        out = model.predict(frame)
        assert list(out.columns) == ["score", "detected"]
        np.testing.assert_array_equal(out["score"].to_numpy(), expected)
        np.testing.assert_array_equal(out["detected"].to_numpy(), expected >= 0.5)
    # float64 lists (how embeddings arrive from JSON or Spark) score the same.
    out = by_version.predict(pd.DataFrame({"embedding": [row.astype(float).tolist() for row in x]}))
    np.testing.assert_allclose(out["score"].to_numpy(), expected1, rtol=1e-6)
    # A threshold passed at predict time overrides the version's.
    out = by_version.predict(frame, params={"threshold": 0.9})
    np.testing.assert_array_equal(out["detected"].to_numpy(), expected1 >= 0.9)

    inner = by_version.unwrap_python_model()
    np.testing.assert_array_equal(inner.coef, clf1.lr_.coef_.ravel())
    np.testing.assert_array_equal(inner.score_embeddings(x), expected1)
    with pytest.raises(ValueError, match=r"shape \(n, 384\)"):
        inner.score_embeddings(x[:, :10])
    # The workbench reads the same plain data without the pyfunc, and scores the same.
    stored = registry.linear_model("Scores", version=1)
    assert (stored.threshold, stored.embedding_model) == (-0.8, DEFAULT_EMBEDDING_MODEL)
    np.testing.assert_array_equal(stored.score(x), expected1)
    np.testing.assert_array_equal(stored.decision(x.astype(np.float64)), clf1.decision_function(x.astype(np.float64)))
    np.testing.assert_array_equal(registry.linear_model("Scores").score(x), expected2)

    with pytest.raises(ValidationError):
        registry.load_model("Scores", version=1, alias=PUBLISHED_ALIAS)
    with pytest.raises(NotFoundError):
        registry.load_model("Scores", version=9)
    with pytest.raises(NotFoundError):
        registry.linear_model("Scores", alias="nobody-set-this")
    with pytest.raises(NotFoundError):
        registry.load_model("Never trained")


def test_a_version_is_stored_as_plain_json(registry, client):
    clf, _ = make_classifier(5)
    record = log(registry, "Plain", 1, clf=clf)
    model_dir = Path(registry.model_path("Plain", version=record.version).removeprefix("file://"))
    stored = json.loads((model_dir / "artifacts" / "linear_model.json").read_text())
    assert stored["format"] == "workbench-linear-tracker-model/1" and stored["score"] == "logistic"
    assert (stored["embedding_model"], stored["embedding_dim"], stored["tracker"]) == (DEFAULT_EMBEDDING_MODEL, DIM, "Plain")
    assert stored["coef"] == clf.lr_.coef_.ravel().tolist()
    assert (stored["intercept"], stored["threshold"]) == (float(clf.lr_.intercept_[0]), clf.threshold_)
    # Nothing pickled, and the pyfunc asks for no library that reads pickles.
    assert not [f for f in model_dir.rglob("*") if f.suffix in (".pkl", ".joblib", ".pickle")]
    requirements = (model_dir / "requirements.txt").read_text()
    assert "mlflow==" in requirements and "joblib" not in requirements and "scikit-learn" not in requirements

def test_metrics_none_and_nan_are_logged_as_nan(registry, client):
    record = log(
        registry, "NaN metrics", 1,
        metrics={"precision": None, "recall": float("nan"), "f1": np.float32(0.25), "n_found": np.int64(4),
                 "calibrated": True},
    )
    metrics = client.get_run(record.run_id).data.metrics
    assert math.isnan(metrics["precision"]) and math.isnan(metrics["recall"])
    assert (metrics["f1"], metrics["n_found"], metrics["calibrated"]) == (0.25, 4.0, 1.0)
    runs = registry.runs("NaN metrics")
    assert runs.schema["metrics.precision"] == pl.Float64 and runs["metrics.precision"].is_nan().all()


def test_bad_input_is_refused_before_anything_is_logged(registry):
    clf, _ = make_classifier(3)
    with pytest.raises(ValidationError, match="metrics.precision"):
        log(registry, "Refused", 1, clf=clf, metrics={"precision": "high"})
    with pytest.raises(ValidationError, match="^model: is a TrackerModel"):
        registry.log_training("Refused", model=clf, params={}, metrics={}, tags_table=tags_table())
    with pytest.raises(ValidationError, match="not a fitted TrackerModel"):
        log(registry, "Refused", 1, clf=TrackerModel())
    with pytest.raises(ValidationError, match="intercept"):
        LinearTrackerModel(coef=np.ones(DIM), intercept=float("nan"), threshold=0.0, embedding_model="m")
    with pytest.raises(ValidationError, match="figures.roc"):
        log(registry, "Refused", 1, clf=clf, figures={"roc": b"not a figure"})
    with pytest.raises(ValidationError, match="extra_artifacts.counts"):
        log(registry, "Refused", 1, clf=clf, extra_artifacts={"counts": [1, 2]})
    assert registry.runs("Refused").height == 0


class BrokenFigure:
    """A figure that fails while the run's artifacts are being written."""

    def savefig(self, *args, **kwargs):
        raise RuntimeError("cannot draw this figure")


def test_failed_logging_marks_the_run_failed_and_registers_nothing(registry):
    with pytest.raises(RuntimeError, match="cannot draw"):
        log(registry, "Fails", 1, figures={"broken": BrokenFigure()})
    runs = registry.runs("Fails")
    assert runs["status"].to_list() == ["FAILED"] and runs["version"].to_list() == [None]
    assert registry.versions("Fails") == []
    assert log(registry, "Fails", 2).version == 1  # the failure consumed no version number


def test_runs_table_for_comparisons(registry):
    log(registry, "Runs", 1, metrics={"precision": 0.5})
    log(registry, "Runs", 2, metrics={"precision": 0.7, "recall": 0.4})
    runs = registry.runs("Runs")
    assert runs.columns[:6] == ["run_id", "run_name", "round", "version", "status", "started"]
    assert runs["round"].to_list() == [1, 2] and runs["version"].to_list() == [1, 2]
    assert runs["run_name"].to_list() == ["round 1", "round 2"]
    assert runs.schema["started"] == pl.Datetime("us", "UTC")
    assert runs["metrics.precision"].to_list() == [0.5, 0.7]
    assert runs["metrics.recall"].to_list() == [None, 0.4]  # never logged in round 1
    assert runs["params.n_yes"].to_list() == ["3", "3"]
    empty = registry.runs("Never trained")
    assert empty.height == 0 and empty.columns[:2] == ["run_id", "run_name"]


def test_delete_tracker_frees_the_name(registry, client):
    first = log(registry, "Deleted", 1)
    registry.set_alias("Deleted", PUBLISHED_ALIAS, 1)
    assert registry.delete_tracker("Deleted") is True
    assert registry.versions("Deleted") == [] and registry.runs("Deleted").height == 0
    assert client.search_registered_models(f"name = '{first.registered_model}'") == []
    old = client.get_experiment(first.experiment_id)
    assert old.lifecycle_stage == "deleted" and old.name.startswith("tracker: Deleted (deleted ")
    assert client.get_run(first.run_id).info.run_id == first.run_id  # soft: the run is still there

    again = log(registry, "Deleted", 1)
    assert again.version == 1 and again.experiment_id != first.experiment_id
    assert registry.get_alias("Deleted", PUBLISHED_ALIAS) is None
    assert registry.delete_tracker("Never trained") is False


def test_two_registries_share_a_folder_and_separate_folders_stay_apart(
    registry, store, elsewhere, tmp_path, monkeypatch
):
    # Anything that went through MLflow's process-wide tracking URI would create this file.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'global.db'}")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{tmp_path / 'global.db'}")
    monkeypatch.chdir(tmp_path)
    import mlflow

    global_uri = mlflow.get_tracking_uri()
    first = log(registry, "Shared", 1)
    other = TrackerRegistry(store)
    assert [v.run_id for v in other.versions("Shared")] == [first.run_id]
    second = log(other, "Shared", 2)
    assert second.version == 2
    other.set_alias("Shared", PUBLISHED_ALIAS, 2)
    assert registry.get_alias("Shared", PUBLISHED_ALIAS) == 2

    assert log(elsewhere, "Shared", 1).version == 1
    assert [v.version for v in registry.versions("Shared")] == [1, 2]
    assert elsewhere.runs("Shared").height == 1
    assert other.load_model("Shared", alias=PUBLISHED_ALIAS).metadata.run_id == second.run_id
    # Nothing went through MLflow's process-wide settings or into the working directory.
    assert mlflow.get_tracking_uri() == global_uri
    assert list(tmp_path.iterdir()) == []


def test_export_and_import_a_version(registry, elsewhere, tmp_path):
    clf, x = make_classifier(21)
    record = log(registry, "Exported", 4, clf=clf, metrics={"precision": 0.9, "recall": None},
                 description="good one")
    bundle = registry.export_version("Exported", record.version, tmp_path / "bundle")
    manifest = json.loads((bundle / "version.json").read_text())
    assert manifest["tracker"] == "Exported" and manifest["params"]["round"] == "4"
    assert manifest["metrics"] == {"precision": 0.9, "recall": None}
    assert (bundle / "run" / "tags" / "tags.parquet").is_file()
    with pytest.raises(ValidationError, match="not empty"):
        registry.export_version("Exported", record.version, tmp_path / "bundle")

    target = elsewhere
    imported = target.import_version("Exported here", bundle)
    assert imported.version == 1
    run = target.client.get_run(imported.run_id)
    assert run.data.params["round"] == "4" and run.data.params["tracker"] == "Exported here"
    assert run.data.metrics["precision"] == 0.9 and math.isnan(run.data.metrics["recall"])
    assert run.data.tags["workbench.imported_from"] == "Exported v1"
    assert target.versions("Exported here")[0].description == "good one"
    scores = target.load_model("Exported here").predict(pd.DataFrame({"embedding": list(x)}))["score"]
    np.testing.assert_array_equal(scores.to_numpy(), clf.predict_proba(x)[:, 1])
    with pytest.raises(ValidationError, match="no exported version"):
        target.import_version("X", tmp_path)


def test_a_version_scores_where_workbench_cannot_be_imported(registry):
    """The registered version of a workbench TrackerModel loads with mlflow, numpy and pandas
    alone and scores embeddings exactly as the workbench does."""
    clf, x = make_classifier(31)
    record = log(registry, "No workbench", 1, clf=clf)
    registry.set_alias("No workbench", PUBLISHED_ALIAS, record.version)
    rows = x[:12].astype(np.float64)  # exact in JSON and in the DataFrame's float64 lists
    result = score_without_the_workbench(registry, record.registered_model, [None] * len(rows),
                                         rows.tolist(), blocked=("workbench", "joblib", "sklearn"))
    expected = registry.linear_model("No workbench").score(rows)
    np.testing.assert_array_equal(result["fast"], expected)
    # predict() hands the classifier float32 rows, as the workbench's sentence matrix does.
    np.testing.assert_allclose(result["score"], expected, rtol=1e-6)
    np.testing.assert_array_equal(result["score"], registry.linear_model("No workbench").score(rows.astype(np.float32)))
    np.testing.assert_array_equal(result["score"], clf.predict_proba(rows.astype(np.float32))[:, 1])
    assert result["detected"] == (np.asarray(result["score"]) >= 0.5).tolist()


@pytest.mark.slow
def test_pyfunc_scores_text_where_workbench_cannot_be_imported(registry, embedder):
    """Embeds with the real model (sentence-transformers, which needs scikit-learn), in a process
    where the workbench cannot be imported (tests/clean_process.py)."""
    train = [
        ("Can you knock ten percent off the list price for us?", 1),
        ("Is that price negotiable?", 1),
        ("Our budget is allocated, so the number has to come down.", 1),
        ("Any chance of a discount for a longer contract?", 1),
        ("Thanks for joining the call today.", 0),
        ("What does the onboarding look like?", 0),
        ("I'll send the proposal over by Friday.", 0),
        ("Who else should be in the next meeting?", 0),
    ]
    x = embedder.encode([t for t, _ in train])
    clf = TrackerModel(threshold="balanced").fit(x, [y for _, y in train])
    record = log(registry, "Fresh process", 1, clf=clf)
    registry.set_alias("Fresh process", PUBLISHED_ALIAS, record.version)
    texts = ["Could you do any better on the price?", "Let me share my screen.",
             "Is there a discount if we sign for two years?"]
    given = x[0].astype(np.float64).tolist()
    result = score_without_the_workbench(
        registry, record.registered_model, texts + ["ignored: the embedding is given"],
        [None, None, None, given])
    # Text is embedded through float16, as the workbench's embedding cache stores the vectors it
    # scores; a given embedding is used as it is.
    embedded = embedder.encode(texts).astype(np.float16).astype(np.float32)
    expected = clf.predict_proba(np.vstack([embedded, x[0][None, :]]))[:, 1]
    np.testing.assert_allclose(result["score"], expected, atol=1e-5)
    assert result["detected"] == [True, False, True, True]


@pytest.mark.slow
def test_a_deep_version_carries_its_encoder_and_scores_text_without_the_workbench(registry, elsewhere, embedder,
                                                                                  tmp_path):
    """A deep-trained version (its own fine-tuned encoder as the pyfunc's `encoder` artifact) embeds
    text with that encoder in a process where the workbench cannot be imported; versions without
    one are unchanged, and export/import keeps the encoder."""
    from workbench.training.deep import EncoderFineTuning

    train = [("Can you knock ten percent off the list price for us?", 1), ("Is that price negotiable?", 1),
             ("Any chance of a discount for a longer contract?", 1), ("We need a better price to sign.", 1),
             ("Thanks for joining the call today.", 0), ("What does the onboarding look like?", 0),
             ("I'll send the proposal over by Friday.", 0), ("Who else should be in the next meeting?", 0)]
    texts, labels = [t for t, _ in train], [y for _, y in train]
    # Two steps of 8 pairs: the first step of a run is its warm-up, at learning rate 0.
    tuning = EncoderFineTuning(num_iterations=1, batch_size=8, learning_rate=1e-4, seed=0).fit(texts, labels)
    folder = tuning.save(tmp_path / "deep-encoder")
    # A weak penalty would push every score to 0 or 1 on 8 sentences; these stay in between.
    clf = TrackerModel(C=0.5, threshold="balanced").fit(tuning.transform(texts), labels)
    name = "Deep fresh process"
    log(registry, name, 1)
    record = registry.log_training(name, model=LinearTrackerModel.from_estimator(clf, "deep-encoder-test"),
                                   params={"round": 1}, metrics={}, tags_table=tags_table(), encoder=folder)
    registry.set_alias(name, PUBLISHED_ALIAS, record.version)
    assert registry.encoder_path(name, version=1) is None
    assert (registry.encoder_path(name, version=2) / "model.safetensors").is_file()

    probes = ["Could you do any better on the price?", "Let me share my screen.", "Is there a discount for two years?"]
    vectors = tuning.transform(probes)
    # The last row gives its embedding (from the version's encoder), so it is not embedded again.
    result = score_without_the_workbench(registry, record.registered_model, probes + ["ignored: the embedding is given"],
                                         [None] * 3 + [vectors[0].astype(np.float64).tolist()])
    expected = clf.predict_proba(vectors)[:, 1]
    np.testing.assert_allclose(result["score"], [*expected, expected[0]], atol=1e-5)
    # The bundled encoder would have scored the same texts otherwise.
    assert 0.05 < expected.min() and expected.max() < 0.95
    assert np.abs(clf.predict_proba(embedder.encode(probes))[:, 1] - expected).max() > 1e-3

    exported = registry.export_version(name, record.version, tmp_path / "exported")
    imported = elsewhere.import_version("Deep imported", exported)
    np.testing.assert_allclose(
        elsewhere.load_model("Deep imported").predict(pd.DataFrame({"text": probes}))["score"], expected, atol=1e-5)
    assert elsewhere.encoder_path("Deep imported", version=imported.version) is not None
    with pytest.raises(ValidationError, match="not a sentence-transformers folder"):
        registry.log_training(name, model=plain(make_classifier(1)[0]), params={}, metrics={},
                              tags_table=tags_table(), encoder=tmp_path)


def test_the_scoring_process_never_claims_to_block_a_module_it_already_imported():
    """The session's scoring process (tests/clean_process.py) serves several checks; one that blocks
    a module an earlier check imported is refused, and then runs in a fresh process."""
    from tests.clean_process import _ask, _start, _stop

    process = _start()
    try:
        assert _ask(process, {"blocked": ["json", "mlflow"]}) == {"refused": ["json"]}
    finally:
        _stop(process)
