"""Tracker bundles: one zip file that carries a trained tracker to another workspace.

A bundle holds the definition, the examples, the tags (with their text), one registered version
(the pyfunc model with its classifier as plain data, and its MLflow run's artifacts, exported by
TrackerRegistry.export_version) and its metrics::

    bundle.json            format, definition, settings, examples, version, embedding model, metrics
    tags.parquet           sentence_id, answer, round_number, strategy, text
    version/               model/, run/, version.json (TrackerRegistry.export_version)

Importing creates the tracker, registers the version as the tracker's version in the target
workspace's MLflow store and publishes it, so ``t.activate()`` works at once, with no tagging.
Tags whose sentences are in the target workspace (the same calls) are restored as tags; the rest
stay in the imported run's artifacts. The model inside is JSON (version/model/artifacts/linear_model.json);
bundles made before that hold a pickle (classifier.joblib), which is read by a restricted reader
that refuses anything but a tracker model's arrays (workbench.registry.legacy), so importing a
bundle never runs code from it.

The demo concepts ship as such bundles in ``workbench/pretrained/`` (``ws.import_pretrained()``).
"""
from __future__ import annotations

import json
import tempfile
import warnings
import zipfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.core.errors import NotFoundError, ValidationError
from workbench.registry.legacy import UnsafeModelError
from workbench.storage.store import dumps, loads, now_iso

if TYPE_CHECKING:
    from workbench.trackers.tracker import Tracker
    from workbench.workspace import Workspace

FORMAT = "workbench-tracker-bundle/1"
SUFFIX = ".tracker.zip"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


def export_bundle(tracker: "Tracker", path: str | Path, *, version: int | None = None) -> Path:
    """Write ``tracker`` with ``version`` (default: the published one, else the latest) to ``path``
    (a ``.tracker.zip`` file; the suffix is added when missing). Returns the path written."""
    from workbench.activation import service as act

    ws = tracker.ws
    if tracker.kind != "smart":
        raise ValidationError("tracker", f"'{tracker.name}' is a keyword tracker", "Only smart trackers are bundled.")
    if version is None:
        version = act._published_or_latest(tracker)
    path = Path(path)
    if not path.name.endswith(".zip"):
        path = path.with_name(path.name + SUFFIX)
    row = ws.store.query_one("SELECT * FROM versions WHERE tracker_id=? AND version=?", (tracker.id, int(version)))
    versions = {v.version: v for v in ws.registry.versions(tracker.name)}
    if int(version) not in versions:
        raise NotFoundError(f"'{tracker.name}' has no version {version}; it has {sorted(versions) or 'none'}.")
    info = versions[int(version)]
    manifest = {
        "format": FORMAT,
        "name": tracker.name,
        "kind": "smart",
        "definition": act.definition_of(tracker),
        "settings": tracker.settings,
        "examples": tracker.examples,
        "version": int(version),
        "round": info.round,
        "embedding_model": ws.embedder.model_id,
        "metrics": info.metrics,
        "estimate": loads(row["metrics"]) if row is not None else None,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exported_from": str(ws.path),
        "workbench_version": _version(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="workbench-bundle-") as tmp:
        root = Path(tmp)
        ws.registry.export_version(tracker.name, int(version), root / "version")
        tracker.tags().write_parquet(root / "tags.parquet")
        (root / "bundle.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        partial = path.with_name(f".{path.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(root).as_posix())
        partial.replace(path)
    return path


def read_manifest(path: str | Path) -> dict:
    """The bundle.json of a bundle file, checked."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError("path", f"{path} is not a file", "Give the path of a .tracker.zip bundle.")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("bundle.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValidationError("path", f"{path} is not a tracker bundle ({exc})",
                              "Make bundles with t.export_bundle() or `workbench bundle export`.") from exc
    if manifest.get("format") != FORMAT:
        raise ValidationError("path", f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}",
                              "Export it again with this version of the workbench.")
    return manifest


def import_bundle(ws: "Workspace", path: str | Path, *, name: str | None = None, publish: bool = True,
                  filters: dict | None = None) -> "Tracker":
    """Create a tracker from a bundle, with its model as a registered and (by default) published
    version. ``name`` renames it (e.g. when the name is taken); ``filters`` replaces the bundle's
    call filters when they name columns or values this workspace does not have."""
    from workbench.activation import service as act
    from workbench.trackers.tracker import SmallCorpusWarning

    manifest = read_manifest(path)
    if manifest["embedding_model"] != ws.embedder.model_id:
        raise ValidationError(
            "embedding_model", f"the bundle was trained on {manifest['embedding_model']} embeddings, this workspace "
            f"uses {ws.embedder.model_id}", "Open the workspace with the bundle's embedding model (model=...).")
    d = manifest["definition"]
    new_name = name or manifest["name"]
    if ws.store.query_one("SELECT id FROM trackers WHERE name=?", (" ".join(new_name.split()),)):
        raise ValidationError("name", f"a tracker named '{new_name}' already exists in {ws.path}",
                              "Import it under another name: name='...'.")
    with warnings.catch_warnings():
        # The corpus-size advice is about finding examples to tag; a pre-trained tracker needs none.
        warnings.simplefilter("ignore", SmallCorpusWarning)
        tracker = ws.create_tracker(
            new_name, description=d.get("description", ""), mentioned_by=d["mentioned_by"],
            filters=d["filters"] if filters is None else filters, call_part=tuple(d["call_part"]),
            channels=d["channels"], examples=manifest.get("examples") or None,
            seed=int((manifest.get("settings") or {}).get("seed", 0)))
    try:
        extra = {k: v for k, v in (manifest.get("settings") or {}).items() if k != "seed"}
        if extra:
            with ws.store.transaction() as con:
                con.execute("UPDATE trackers SET settings=? WHERE id=?", (dumps({**tracker.settings, **extra}), tracker.id))
        with tempfile.TemporaryDirectory(prefix="workbench-bundle-") as tmp:
            root = Path(tmp)
            with zipfile.ZipFile(path) as zf:
                _safe_extract(zf, root)
            try:
                record = ws.registry.import_version(tracker.name, root / "version")
            except UnsafeModelError as exc:
                member = Path(exc.field).relative_to(root).as_posix()
                raise UnsafeModelError(str(path), f"{member} {exc.problem}", exc.fix) from None
            tags = pl.read_parquet(root / "tags.parquet") if (root / "tags.parquet").exists() else None
        restored = _restore_tags(ws, tracker, tags)
        with ws.store.transaction() as con:
            con.execute("INSERT INTO versions(tracker_id, version, run_id, round_number, created_at, metrics)"
                        " VALUES (?,?,?,?,?,?)",
                        (tracker.id, record.version, record.run_id, int(manifest.get("round") or 0), now_iso(),
                         dumps(manifest.get("estimate") or {})))
        ws.registry.client.set_model_version_tag(
            record.registered_model, str(record.version), "workbench.bundle",
            f"{manifest['name']} v{manifest['version']} exported {manifest.get('exported_at', '')}")
        if publish:
            act._set_published(tracker, record.version)
            act.record_definition(ws, tracker.name, record.version, act.definition_of(tracker))
    except BaseException:
        # Leave no half-imported tracker behind: the import can simply be run again.
        act.forget(ws, tracker.id)
        ws.delete_tracker(tracker.name, confirm=True)
        raise
    tracker.refresh()
    tracker.bundle_tags_restored = restored
    return tracker


def _safe_extract(zf: zipfile.ZipFile, root: Path) -> None:
    for member in zf.namelist():
        target = (root / member).resolve()
        if not str(target).startswith(str(root.resolve())):
            raise ValidationError("path", f"the bundle holds a file outside its folder: {member}",
                                  "Do not import this bundle.")
    zf.extractall(root)


def _restore_tags(ws: "Workspace", tracker, tags: pl.DataFrame | None) -> int:
    if tags is None or tags.height == 0:
        return 0
    present = tags.join(ws.sentences.select("sentence_id", pl.col("text").alias("_text")), on="sentence_id", how="inner")
    present = present.filter(pl.col("text") == pl.col("_text"))  # same id, same words: the same sentence
    if present.height == 0:
        return 0
    with ws.store.transaction() as con:
        con.executemany(
            "INSERT OR IGNORE INTO tags(tracker_id, sentence_id, answer, round_number, strategy, inclusion_prob, text,"
            " tagged_at) VALUES (?,?,?,?,?,?,?,?)",
            [(tracker.id, r["sentence_id"], r["answer"], r.get("round_number"), r.get("strategy"),
              r.get("inclusion_prob"), r["text"], r.get("tagged_at") or now_iso()) for r in present.iter_rows(named=True)])
    return present.height


# ---------------------------------------------------------------------------------------------
# Pre-trained trackers shipped with the project
# ---------------------------------------------------------------------------------------------
def pretrained() -> dict[str, Path]:
    """The bundles shipped in workbench/pretrained/, by tracker name."""
    out = {}
    for f in sorted(PRETRAINED_DIR.glob(f"*{SUFFIX}")):
        out[read_manifest(f)["name"]] = f
    return out


def import_pretrained(ws: "Workspace", names: Any = None, *, skip_existing: bool = True, publish: bool = True) -> list:
    """Import shipped pre-trained trackers (all by default, or the names given)."""
    available = pretrained()
    if not available:
        raise NotFoundError(f"No pre-trained trackers in {PRETRAINED_DIR}; build them with "
                            "`python -m workbench.pretrained.build`.")
    if names is None:
        wanted = list(available)
    else:
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in wanted if n not in available]
        if unknown:
            raise ValidationError("names", f"no pre-trained tracker named {', '.join(map(repr, unknown))}",
                                  f"Choose from: {', '.join(available)}.")
    out = []
    for n in wanted:
        if skip_existing and ws.store.query_one("SELECT id FROM trackers WHERE name=?", (n,)):
            out.append(ws.tracker(n))
            continue
        out.append(import_bundle(ws, available[n], publish=publish))
    return out


def _version() -> str:
    try:
        return metadata.version("smart-tracker-workbench")
    except metadata.PackageNotFoundError:
        return "unknown"

