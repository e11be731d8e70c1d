"""Artefacts are data, and checked (issue 14, item 1): no code runs from a bundle or a changed
version, whether the file was edited on disk or replaced through MLflow's artifact API."""
from __future__ import annotations

import logging
import time
import zipfile
from pathlib import Path

import pytest

from tests.activation.conftest import AS_OF
from tests.demo_workspace import DEMO_TRACKER
from tests.test_legacy_models import opened_after_an_upgrade
from tests.reliability.artefact_cases import (
    BUNDLE_CASES,
    EXPECTED_CASES,
    EXPECTED_REFUSED,
    VERSION_CASES,
    edited_bundle,
    run_artefact_cases,
    run_through_mlflow_server,
)
from workbench.core.errors import ArtefactChanged, WorkbenchError
from workbench.registry.bundle_files import CHECKSUMS_FILE, BundleRefused


def _case(label_start: str):
    return next(c for c in BUNDLE_CASES if c.label.startswith(label_start))


def _hostile_bundle(tracker, tmp_path: Path, label: str, marker: Path) -> Path:
    """The tracker's bundle with the edit of the case named ``label``."""
    case = _case(label)
    source = tracker.export_bundle(tmp_path / "source")
    return edited_bundle(source, tmp_path / "hostile.tracker.zip", case.edit, marker,
                         rewrite_checksums=case.rewrite_checksums)


def test_an_exported_bundle_carries_checksums_and_is_previewed_before_import(live_ws, tracker, tmp_path, capsys):
    from workbench.cli.app import main

    path = tracker.export_bundle(tmp_path / "discount")
    with zipfile.ZipFile(path) as zf:
        assert CHECKSUMS_FILE in zf.namelist()
    preview = live_ws.preview_bundle(path)
    assert (preview.name, preview.version, preview.verified) == (DEMO_TRACKER, 2, True)
    assert preview.examples == tracker.examples and preview.tags == tracker.tags().height
    assert preview.model.startswith("linear classifier over sentence embeddings")
    assert {"bundle.json", "version/model/artifacts/linear_model.json"} <= {f.name for f in preview.files}
    assert all(f.size > 0 for f in preview.files)
    before = len(live_ws.trackers())
    assert main(["--workspace", str(live_ws.path), "bundle", "import", str(path), "--name", "Copy", "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert "tracker 'Asking for a discount' version 2" in shown and "verified against checksums.json" in shown
    assert "version/model/artifacts/linear_model.json" in shown and "Dry run: nothing imported." in shown
    assert len(live_ws.refresh().trackers()) == before


@pytest.mark.parametrize("label", ["malicious pickle beside", "malicious pickle under", "malicious pickle as",
                                   "no checksums.json"])
def test_a_malicious_pickle_bundle_is_refused_and_never_runs(live_ws, tracker, tmp_path, label):
    marker = tmp_path / "created-by-the-pickle"
    hostile = _hostile_bundle(tracker, tmp_path, label, marker)
    before = len(live_ws.trackers())
    with pytest.raises(WorkbenchError) as e:
        live_ws.import_bundle(hostile, name="Hostile")
    assert str(hostile) in str(e.value)
    assert "version/model/artifacts/" in str(e.value) or "has no checksums.json" in str(e.value)
    assert not marker.exists()
    assert len(live_ws.trackers()) == before


@pytest.mark.parametrize("label", ["model code edited", "tracker_model.py added", "python file added", "encoder naming"])
def test_a_bundle_with_edited_or_added_code_is_refused(live_ws, tracker, tmp_path, label):
    marker = tmp_path / "created-by-the-code"
    hostile = _hostile_bundle(tracker, tmp_path, label, marker)
    with pytest.raises(BundleRefused) as e:
        live_ws.import_bundle(hostile, name="Hostile")
    assert str(hostile) in str(e.value) and "version/model/" in str(e.value)
    assert live_ws.catalog.find("Hostile") is None and not marker.exists()


def test_code_in_a_bundle_never_runs_even_when_its_checksums_agree(live_ws, tracker, tmp_path):
    """Whoever writes a bundle can write its checksums: the import rebuilds the version from
    linear_model.json with the workbench's own pyfunc.py, so the bundle's copy never runs."""
    marker = tmp_path / "created-by-the-code"
    hostile = edited_bundle(tracker.export_bundle(tmp_path / "source"), tmp_path / "hostile.tracker.zip",
                            _case("model code edited").edit, marker, rewrite_checksums=True)
    copy = live_ws.import_bundle(hostile, name="Edited code")
    copy.activate(12, as_of=AS_OF, progress=False, verbose=False)
    live_ws.registry.load_model(copy.name)
    assert copy.results().detections.height > 0
    assert not marker.exists()


def test_a_version_file_replaced_on_disk_is_refused_before_anything_loads(live_ws, tracker, tmp_path):
    marker = tmp_path / "created-by-the-model"
    folder = Path(live_ws.registry.model_path(tracker.name, version=2).removeprefix("file://"))
    code = folder / "pyfunc.py"
    original = code.read_bytes()
    code.write_bytes(VERSION_CASES[0].content(original, marker))
    for load in (lambda: tracker.activate(12, as_of=AS_OF, progress=False, verbose=False),
                 lambda: live_ws.registry.load_model(tracker.name, version=2),
                 lambda: tracker.export_bundle(tmp_path / "out")):
        with pytest.raises(ArtefactChanged) as e:
            load()
        assert (e.value.tracker, e.value.version, e.value.file) == (tracker.name, 2, str(code))
        assert "has changed since it was recorded when the version was trained" in str(e.value)
    assert not marker.exists() and not (tmp_path / "out.tracker.zip").exists()
    assert live_ws.registry.linear_model(tracker.name, version=1) is not None  # other versions still load
    code.write_bytes(original)
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)  # the recorded file loads again


def test_a_renamed_trackers_versions_keep_their_recorded_hashes(live_ws, tracker):
    from workbench.registry.names import registered_model_name

    folder = Path(live_ws.registry.model_path(tracker.name, version=2).removeprefix("file://"))
    renamed = live_ws.rename_tracker(tracker.name, "Discount asks")
    assert live_ws.registry.artefacts.hashes.get(registered_model_name("Discount asks"), 2).recorded_how == "trained"
    (folder / "artifacts" / "linear_model.json").write_text("{}")
    with pytest.raises(ArtefactChanged) as e:
        renamed.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert (e.value.tracker, e.value.version) == ("Discount asks", 2) and "when the version was trained" in str(e.value)


def test_a_version_stored_before_hashes_records_them_on_first_load(live_ws, tracker, caplog):
    from workbench.registry.names import registered_model_name

    model_name = registered_model_name(tracker.name)
    with live_ws.store.transaction() as con:  # as a workspace written before this change
        con.execute("DELETE FROM artefact_hashes WHERE model_name=?", (model_name,))
    registry = type(live_ws.registry)(live_ws.mlruns_dir)  # a fresh process: nothing verified yet
    opened_after_an_upgrade(registry)
    with caplog.at_level(logging.WARNING, logger="workbench.registry.artefacts"):
        registry.linear_model(tracker.name, version=2)
    assert "stored before the workbench recorded model hashes" in caplog.text
    assert registry.artefacts.hashes.get(model_name, 2).recorded_how == "first load"
    assert registry.artefacts.hashes.get(model_name, 1) is None  # recorded when loaded, not before


def test_a_version_registered_through_mlflows_api_is_refused(live_ws, tracker, tmp_path):
    """MLflow's API lets any local client register a version (and move the published alias to
    it); one the workbench did not train or import has no recorded hashes and never loads."""
    from workbench.registry.names import registered_model_name

    registry = live_ws.registry
    mv = registry.store.model_version(registered_model_name(tracker.name), 2)
    foreign = registry.client.create_model_version(mv.name, source=mv.source, run_id=mv.run_id)
    for load in (lambda: registry.linear_model(tracker.name, version=int(foreign.version)),
                 lambda: registry.load_model(tracker.name)):
        with pytest.raises(ArtefactChanged, match="workbench did not train or import it") as e:
            load()
        assert (e.value.tracker, e.value.version) == (tracker.name, int(foreign.version))


def test_every_hostile_case_is_refused_or_harmless_on_an_imported_version(tmp_path):
    """The benchmark's counter, on a fresh workspace whose only version was imported from a
    shipped bundle (the server test below covers a trained one)."""
    counts = run_artefact_cases(tmp_path, through_mlflow_server=False)
    assert counts == dict(cases=EXPECTED_CASES, refused=EXPECTED_REFUSED, payloads_run=0, failures=0)


@pytest.mark.slow
def test_an_artefact_replaced_through_the_mlflow_server_is_refused(live_ws, tracker, tmp_path, monkeypatch):
    """`workbench mlflow` answers a PUT to its artifact API from any local process (checked: 200
    for each file); the next load refuses the replaced file and nothing in it runs."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    started = time.monotonic()
    counts = run_through_mlflow_server(live_ws, tracker.name, tmp_path / "cases")
    assert counts.failures == [] and counts.payloads_run == 0
    assert (counts.cases, counts.refused) == (EXPECTED_CASES, EXPECTED_REFUSED)
    assert time.monotonic() - started < 240
