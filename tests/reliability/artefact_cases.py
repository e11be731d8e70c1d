"""Hostile artefacts (issue 14, item 1): bundles and stored versions that try to run code.

Every payload writes a marker file when it runs: a pickle whose ``__reduce__`` opens the marker
for writing, or a line of Python that does. ``run_hostile_artefact_cases`` tries them all on a
workspace with a smart tracker and returns the counts: cases tried, refused, payloads run (0
expected) and failures (a case that was neither refused nor harmless);
``run_through_mlflow_server`` does the same with the versions' files replaced through a running
MLflow server. ``run_artefact_cases`` makes its own tiny workspace and is what
benchmarks/reliability.py calls. tests/reliability/test_artefacts.py
checks each case.
"""
from __future__ import annotations

import json
import re
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import joblib
import pandas as pd

from workbench.core.files import zip_folder
from workbench.core.errors import ArtefactChanged, WorkbenchError
from workbench.registry.bundle_files import CHECKSUMS_FILE, write_checksums

MODEL = "version/model"


class WritesMarker:
    """Unpickling this opens ``path`` for writing, which creates it: proof that the pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def payload_line(marker: Path) -> str:
    return f"\nopen({str(marker)!r}, 'w').write('payload ran')\n"


def pickle_bytes(marker: Path, workdir: Path) -> bytes:
    path = workdir / f"{marker.name}.joblib"
    joblib.dump(WritesMarker(marker), path)
    return path.read_bytes()


# -- bundles --------------------------------------------------------------------------------
Edit = Callable[[Path, Path], None]  # (extracted bundle folder, marker) -> None


def edited_bundle(source: Path, dest: Path, edit: Edit, marker: Path, *, rewrite_checksums: bool = False) -> Path:
    """A copy of bundle ``source`` with ``edit`` applied to its files; its checksums.json is left
    as exported (so it no longer matches) unless ``rewrite_checksums``, as a careful attacker would."""
    folder = dest.with_suffix(".d")
    with zipfile.ZipFile(source) as zf:
        zf.extractall(folder)
    edit(folder, marker)
    if rewrite_checksums:
        write_checksums(folder)
    zip_folder(folder, dest)
    shutil.rmtree(folder)
    return dest


def _pickle_beside_the_model(folder: Path, marker: Path) -> None:
    (folder / MODEL / "artifacts" / "classifier.joblib").write_bytes(pickle_bytes(marker, folder.parent))


def _pickle_as_the_model(folder: Path, marker: Path) -> None:
    (folder / MODEL / "artifacts" / "linear_model.json").unlink()
    _pickle_beside_the_model(folder, marker)


def _pickle_under_another_name(folder: Path, marker: Path) -> None:
    (folder / MODEL / "artifacts" / "model.pkl").write_bytes(pickle_bytes(marker, folder.parent))


def _edited_model_code(folder: Path, marker: Path) -> None:
    with open(folder / MODEL / "pyfunc.py", "a", encoding="utf-8") as fh:
        fh.write(payload_line(marker))


def _added_tracker_model_py(folder: Path, marker: Path) -> None:
    (folder / MODEL / "tracker_model.py").write_text(payload_line(marker), encoding="utf-8")


def _added_python_file(folder: Path, marker: Path) -> None:
    (folder / MODEL / "code").mkdir()
    (folder / MODEL / "code" / "sitecustomize.py").write_text(payload_line(marker), encoding="utf-8")


def _encoder_naming_other_code(folder: Path, marker: Path) -> None:
    encoder = folder / MODEL / "artifacts" / "encoder"
    encoder.mkdir()
    (encoder / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "os.system"}]))


def _checksums_removed(folder: Path, marker: Path) -> None:
    (folder / CHECKSUMS_FILE).unlink(missing_ok=True)
    _pickle_beside_the_model(folder, marker)


@dataclass(frozen=True)
class BundleCase:
    label: str
    edit: Edit
    rewrite_checksums: bool = False
    refused: bool = True  # False: accepted, because nothing in it is ever run (checked by using it)


BUNDLE_CASES = [
    BundleCase("malicious pickle beside the JSON model", _pickle_beside_the_model),
    BundleCase("malicious pickle under another name, checksums rewritten", _pickle_under_another_name, True),
    BundleCase("malicious pickle as the model, checksums rewritten", _pickle_as_the_model, True),
    BundleCase("model code edited", _edited_model_code),
    BundleCase("tracker_model.py added", _added_tracker_model_py),
    BundleCase("python file added, checksums rewritten", _added_python_file, True),
    BundleCase("encoder naming os.system, checksums rewritten", _encoder_naming_other_code, True),
    BundleCase("no checksums.json, malicious pickle beside the model", _checksums_removed),
    BundleCase("model code edited, checksums rewritten (never imported)", _edited_model_code, True, refused=False),
]


# -- stored versions ------------------------------------------------------------------------
def put_artifact(server_url: str, artifacts_dir: Path, file: Path, data: bytes) -> int:
    """Replace ``file`` (under the store's ``artifacts_dir``) as any local client can: a PUT to
    the MLflow server's artifact API. Returns the HTTP status."""
    rel = file.resolve().relative_to(artifacts_dir.resolve()).as_posix()
    request = urllib.request.Request(f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{rel}", data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


@dataclass(frozen=True)
class VersionCase:
    label: str
    file: str  # inside the version's model folder
    content: Callable[[bytes, Path], bytes]  # (original bytes, marker) -> replacement


VERSION_CASES = [
    VersionCase("pyfunc.py with a payload", "pyfunc.py", lambda old, m: old + payload_line(m).encode()),
    VersionCase("linear_model.json with other weights", "artifacts/linear_model.json",
                lambda old, m: old.replace(b"0.", b"9.", 1)),
    VersionCase("MLmodel naming another loader", "MLmodel",
                lambda old, m: re.sub(rb"loader_module: \S+", b"loader_module: os", old, count=1)),
    VersionCase("a pickle added", "artifacts/classifier.joblib", lambda old, m: b""),
]


# Every bundle case, every version case and a version registered outside the workbench.
EXPECTED_CASES = len(BUNDLE_CASES) + len(VERSION_CASES) + 1
EXPECTED_REFUSED = EXPECTED_CASES - sum(not c.refused for c in BUNDLE_CASES)


@dataclass
class ArtefactCounts:
    cases: int = 0
    refused: int = 0
    payloads_run: int = 0
    failures: list[str] = field(default_factory=list)


def run_hostile_artefact_cases(ws, tracker_name: str, workdir: Path, *, replace: Callable[[Path, bytes], None] | None = None
                               ) -> ArtefactCounts:
    """Try every bundle case (from a fresh export of ``tracker_name``) and every version case on
    ``ws``; ``replace(file, data)`` writes a version's file (default: on disk; pass one that PUTs
    through a running ``workbench mlflow`` to go through MLflow's API). Leaves ``ws`` as it was."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    counts = ArtefactCounts()
    source = ws.tracker(tracker_name).export_bundle(workdir / "source")
    for i, case in enumerate(BUNDLE_CASES):
        marker = workdir / f"bundle-payload-{i}"
        path = edited_bundle(source, workdir / f"hostile-{i}.tracker.zip", case.edit, marker,
                             rewrite_checksums=case.rewrite_checksums)
        counts.cases += 1
        refused = _try_bundle(ws, path, f"hostile bundle {i}", marker)
        counts.refused += refused
        counts.payloads_run += marker.exists()
        if refused != case.refused:
            counts.failures.append(f"{case.label}: {'refused' if refused else 'imported'}")
    for i, case in enumerate(VERSION_CASES):
        marker = workdir / f"version-payload-{i}"
        counts.cases += 1
        refused = _try_version(ws, tracker_name, case, marker, replace)
        counts.refused += refused
        counts.payloads_run += marker.exists()
        if not refused:
            counts.failures.append(f"{case.label}: loaded")
    counts.cases += 1
    refused = _try_foreign_version(ws, tracker_name)
    counts.refused += refused
    if not refused:
        counts.failures.append("a version registered outside the workbench: loaded")
    return counts


def run_through_mlflow_server(ws, tracker_name: str, workdir: Path) -> ArtefactCounts:
    """``run_hostile_artefact_cases`` with every version file replaced by a PUT through a
    ``workbench mlflow`` server started on ``ws`` (and stopped after), as any local process can."""
    from workbench.serve.servers import start_mlflow_ui

    artifacts_dir = ws.mlruns_dir / "artifacts"
    with start_mlflow_ui(ws.mlruns_dir) as server:
        def through_the_server(file: Path, data: bytes) -> None:
            status = put_artifact(server.base_url, artifacts_dir, file, data)
            if status != 200:
                raise AssertionError(f"the MLflow server answered {status} to a PUT of {file}")

        return run_hostile_artefact_cases(ws, tracker_name, workdir, replace=through_the_server)


def run_artefact_cases(workdir: Path, *, through_mlflow_server: bool = True) -> dict[str, int]:
    """Every artefact case once, counted, for benchmarks/reliability.py (under a minute): a tiny
    workspace with the shipped "Asking for a discount" tracker imported, then each bundle case and
    each version case, the version's files replaced through a running ``workbench mlflow`` (or on
    disk). Returns cases tried, refused, payloads run (0 expected) and failures (0 expected)."""
    from tests.conftest import tiny_corpus
    from workbench import Workspace

    ws = Workspace(Path(workdir) / "artefacts-workspace")
    ws.import_calls(*tiny_corpus(), progress=False)
    [tracker] = ws.import_pretrained(["Asking for a discount"])
    run = run_through_mlflow_server if through_mlflow_server else run_hostile_artefact_cases
    counts = run(ws, tracker.name, Path(workdir) / "artefact-cases")
    return dict(cases=counts.cases, refused=counts.refused, payloads_run=counts.payloads_run,
                failures=len(counts.failures))


def _try_bundle(ws, path: Path, name: str, marker: Path) -> bool:
    try:
        ws.import_bundle(path, name=name)
    except WorkbenchError:
        return True
    try:  # accepted: use it every way a version is used, then remove it
        ws.registry.load_model(name).predict(pd.DataFrame({"embedding": [[0.0] * 384]}))
        ws.registry.linear_model(name)
    finally:
        ws.delete_tracker(name, confirm=True)
    return False


def _try_version(ws, tracker_name: str, case: VersionCase, marker: Path, replace) -> bool:
    version = ws.registry.versions(tracker_name)[-1].version
    folder = Path(ws.registry.model_path(tracker_name, version=version).removeprefix("file://"))
    target = folder / case.file
    original = target.read_bytes() if target.exists() else None
    replacement = case.content(original or b"", marker)
    if replacement == original:
        raise AssertionError(f"{case.label}: the case leaves {target} as it is")
    (replace or _replace_on_disk)(target, replacement)
    try:
        ws.registry.load_model(tracker_name, version=version)
    except ArtefactChanged:
        return True
    finally:  # put the version back as it was for the next case
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)
    return False


def _try_foreign_version(ws, tracker_name: str) -> bool:
    """A version registered with MLflow's client on the workspace's store, as MLflow's REST API
    lets any local client do, pointing at the latest version's own files."""
    from workbench.registry.names import registered_model_name

    registry = ws.registry
    latest = registry.versions(tracker_name)[-1].version
    mv = registry.store.model_version(registered_model_name(tracker_name), latest)
    foreign = registry.client.create_model_version(mv.name, source=mv.source, run_id=mv.run_id).version
    try:
        registry.load_model(tracker_name, version=int(foreign))
    except ArtefactChanged:
        return True
    finally:
        registry.client.delete_model_version(mv.name, str(foreign))
    return False


def _replace_on_disk(file: Path, data: bytes) -> None:
    file.write_bytes(data)
