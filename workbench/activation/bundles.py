"""Tracker bundles: one zip file that carries a trained tracker to another workspace.

A bundle holds the definition, the examples, the tags (with their text), one registered version
(the pyfunc model with its classifier as plain data, and its MLflow run's artifacts, exported by
TrackerRegistry.export_version) and its metrics::

    bundle.json            format, definition, settings, examples, version, embedding model, metrics
    tags.parquet           sentence_id, answer, round_number, strategy, text
    version/               model/, run/, version.json (TrackerRegistry.export_version)
    checksums.json         the sha256 and size of every other file (workbench.registry.bundle_files)

``preview`` shows what a bundle would add (name, version, model, examples, tags, files) after
checking it as import does: only data inside, and every file as its checksums.json lists it. A
bundle without checksums.json is refused unless ``allow_unverified=True``.

Importing (``Workspace.import_bundle``, which creates the tracker and then calls ``install``)
registers the version as the tracker's version in the target workspace's MLflow store and
publishes it, so ``t.activate()`` works at once, with no tagging.
Tags whose sentences are in the target workspace (the same calls) are restored as tags; the rest
stay in the imported run's artifacts. The version's row notes the bundle and the restored tags
(``metrics["bundle"]``), so that the tracker's overview shows the version's own figures until a
version is trained here (workbench.trackers.bundle_figures). The model inside is JSON (version/model/artifacts/linear_model.json);
bundles made before that hold a pickle (classifier.joblib), which is read by a restricted reader
that refuses anything but a tracker model's arrays (workbench.registry.legacy), so importing a
bundle never runs code from it.

The demo concepts ship as such bundles in ``workbench/pretrained/`` (``ws.import_pretrained()``).
"""
from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from workbench.activation.backfill import published_or_latest, record_definition, set_published
from workbench.activation.context import LiveContext
from workbench.core.files import zip_folder
from workbench.core.errors import NotFoundError, ValidationError
from workbench.embedding.backend import same_vectors
from workbench.registry.bundle_files import LEGACY_PICKLE, BundleFile, check_bundle, write_checksums
from workbench.registry.legacy import UnsafeModelError
from workbench.storage.store import loads
from workbench.storage.trackers import TrainingStore
from workbench.trackers.records import TrackerRecord

FORMAT = "workbench-tracker-bundle/1"
SUFFIX = ".tracker.zip"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MODEL_JSON = "version/model/artifacts/linear_model.json"


def export_bundle(ctx: LiveContext, record: TrackerRecord, path: str | Path, *, examples: list[str],
                  tags: pl.DataFrame, version: int | None = None) -> Path:
    """Write the tracker with its ``examples`` and ``tags`` and ``version`` (default: the published
    one, else the latest) to ``path`` (a ``.tracker.zip`` file; the suffix is added when
    missing). Returns the path written."""
    if record.kind != "smart":
        raise ValidationError("tracker", f"'{record.name}' is a keyword tracker", "Only smart trackers are bundled.")
    if version is None:
        version = published_or_latest(ctx, record)
    path = Path(path)
    if not path.name.endswith(".zip"):
        path = path.with_name(path.name + SUFFIX)
    estimate = ctx.catalog.version_metrics(record.id, int(version))
    versions = {v.version: v for v in ctx.registry.versions(record.name)}
    if int(version) not in versions:
        raise NotFoundError(f"'{record.name}' has no version {version}; it has {sorted(versions) or 'none'}.")
    info = versions[int(version)]
    manifest = {
        "format": FORMAT,
        "name": record.name,
        "kind": "smart",
        "definition": record.snapshot(),
        "settings": record.settings,
        "examples": examples,
        "version": int(version),
        "round": info.round,
        "embedding_model": ctx.embedder.model_id,
        "metrics": info.metrics,
        "estimate": loads(estimate) if estimate is not None else None,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exported_from": str(ctx.path),
        "workbench_version": _version(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="workbench-bundle-") as tmp:
        root = Path(tmp)
        ctx.registry.export_version(record.name, int(version), root / "version")
        tags.write_parquet(root / "tags.parquet")
        (root / "bundle.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        write_checksums(root)
        partial = path.with_name(f".{path.name}.partial")
        zip_folder(root, partial)
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


@dataclass(frozen=True)
class BundlePreview:
    """What importing a bundle would add, read from the bundle without running anything in it."""

    path: Path
    name: str
    version: int
    round: int | None
    model: str
    embedding_model: str
    examples: list[str]
    tags: int
    metrics: dict = field(default_factory=dict)
    exported_at: str = ""
    exported_from: str = ""
    verified: bool = False  # checksums.json present and every file matches it
    files: list[BundleFile] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Bundle {self.path}: tracker '{self.name}' version {self.version}"
                 + (f" (round {self.round})" if self.round is not None else ""),
                 f"  model: {self.model}", f"  embeddings: {self.embedding_model}",
                 f"  exported {self.exported_at or '(unknown)'} from {self.exported_from or '(unknown)'}",
                 f"  {len(self.examples)} examples, {self.tags} tags",
                 "  files: " + ("verified against checksums.json" if self.verified else "NOT verified (no checksums.json)")]
        lines += [f"    {f.size:>10,}  {f.name}" for f in self.files]
        return "\n".join(lines)


def preview(path: str | Path, *, allow_unverified: bool = False) -> BundlePreview:
    """What ``Workspace.import_bundle`` would add from the bundle at ``path``; checks the bundle as
    import does (BundleRefused otherwise: see workbench.registry.bundle_files)."""
    manifest = read_manifest(path)
    with zipfile.ZipFile(path) as zf:
        files, verified = check_bundle(zf, path, allow_unverified=allow_unverified)
        names = {f.name for f in files}
        tags = pl.read_parquet(io.BytesIO(zf.read("tags.parquet"))).height if "tags.parquet" in names else 0
    model = ("linear classifier over sentence embeddings, plain JSON" if MODEL_JSON in names else
             "linear classifier, an older bundle's pickle (read by the restricted reader, never unpickled freely)"
             if LEGACY_PICKLE in names else "none found")
    if any(n.startswith("version/model/") and n.endswith("/modules.json") for n in names):  # a sentence-transformers folder
        model += ", with its own fine-tuned encoder"
    return BundlePreview(
        path=Path(path), name=manifest["name"], version=int(manifest["version"]), round=manifest.get("round"),
        model=model, embedding_model=manifest["embedding_model"], examples=list(manifest.get("examples") or []),
        tags=tags, metrics=dict(manifest.get("metrics") or {}), exported_at=str(manifest.get("exported_at", "")),
        exported_from=str(manifest.get("exported_from", "")), verified=verified, files=files)


def check_importable(ctx: LiveContext, manifest: dict, name: str) -> None:
    """Refuse a bundle made with other embeddings, or whose name is taken, before anything is written."""
    if not same_vectors(manifest["embedding_model"], ctx.embedder.model_id):
        raise ValidationError(
            "embedding_model", f"the bundle was trained on {manifest['embedding_model']} embeddings, this workspace "
            f"uses {ctx.embedder.model_id}", "Open the workspace with the bundle's embedding model (model=...).")
    if ctx.catalog.find(name) is not None:
        raise ValidationError("name", f"a tracker named '{name}' already exists in {ctx.path}",
                              "Import it under another name: name='...'.")


def tracker_arguments(manifest: dict, filters: dict | None) -> dict:
    """The keyword arguments of ``Workspace.create_tracker`` that recreate the bundle's tracker;
    ``filters`` replaces the bundle's call filters when given."""
    d = manifest["definition"]
    return {"description": d.get("description", ""), "mentioned_by": d["mentioned_by"],
            "filters": d["filters"] if filters is None else filters, "call_part": tuple(d["call_part"]),
            "channels": d["channels"], "examples": manifest.get("examples") or None,
            "seed": int((manifest.get("settings") or {}).get("seed", 0))}


def install(ctx: LiveContext, record: TrackerRecord, path: str | Path, manifest: dict, *, publish: bool = True,
            allow_unverified: bool = False) -> int:
    """Give the newly created tracker ``record`` the bundle's settings, tags and version (registered,
    and published unless ``publish=False``); returns how many tags were restored. The bundle's
    files are checked again as they are extracted (see ``preview``)."""
    extra = {k: v for k, v in (manifest.get("settings") or {}).items() if k != "seed"}
    if extra:
        ctx.catalog.update_settings(record.id, {**record.settings, **extra})
    with tempfile.TemporaryDirectory(prefix="workbench-bundle-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(path) as zf:
            check_bundle(zf, path, allow_unverified=allow_unverified)
            _safe_extract(zf, root)
        try:
            registered = ctx.registry.import_version(record.name, root / "version")
        except UnsafeModelError as exc:
            member = Path(exc.field).relative_to(root).as_posix()
            raise UnsafeModelError(str(path), f"{member} {exc.problem}", exc.fix) from None
        tags = pl.read_parquet(root / "tags.parquet") if (root / "tags.parquet").exists() else None
    restored = _restore_tags(ctx, record, tags)
    # The version's figures are the bundle's; "bundle" says so, and which of its tags are in this
    # corpus, so that the overview shows these figures until a version is trained here.
    origin = {"name": manifest["name"], "version": int(manifest["version"]),
              "exported_at": str(manifest.get("exported_at", "")), "tags": 0 if tags is None else tags.height,
              "sentence_ids": restored}
    estimate = {k: v for k, v in (manifest.get("estimate") or {}).items() if k != "bundle"}
    TrainingStore(ctx.store, record.id).add_version(registered.version, registered.run_id,
                                                   int(manifest.get("round") or 0), {**estimate, "bundle": origin})
    ctx.registry.client.set_model_version_tag(
        registered.registered_model, str(registered.version), "workbench.bundle",
        f"{manifest['name']} v{manifest['version']} exported {manifest.get('exported_at', '')}")
    if publish:
        set_published(ctx, record, registered.version)
        record_definition(ctx, record.name, registered.version, record.snapshot())
    return len(restored)


def _safe_extract(zf: zipfile.ZipFile, root: Path) -> None:
    for member in zf.namelist():
        target = (root / member).resolve()
        if not str(target).startswith(str(root.resolve())):
            raise ValidationError("path", f"the bundle holds a file outside its folder: {member}",
                                  "Do not import this bundle.")
    zf.extractall(root)


def _restore_tags(ctx: LiveContext, record: TrackerRecord, tags: pl.DataFrame | None) -> list[int]:
    """Restore the bundle's tags whose sentences are in this corpus; returns their sentence ids."""
    if tags is None or tags.height == 0:
        return []
    present = tags.join(ctx.sentences.select("sentence_id", pl.col("text").alias("_text")), on="sentence_id", how="inner")
    present = present.filter(pl.col("text") == pl.col("_text"))  # same id, same words: the same sentence
    if present.height == 0:
        return []
    TrainingStore(ctx.store, record.id).add_imported_tags(list(present.iter_rows(named=True)))
    return [int(i) for i in present["sentence_id"]]


# ---------------------------------------------------------------------------------------------
# Pre-trained trackers shipped with the project
# ---------------------------------------------------------------------------------------------
def pretrained() -> dict[str, Path]:
    """The bundles shipped in workbench/pretrained/, by tracker name."""
    out = {}
    for f in sorted(PRETRAINED_DIR.glob(f"*{SUFFIX}")):
        out[read_manifest(f)["name"]] = f
    return out


def pretrained_bundles(names: Any = None) -> dict[str, Path]:
    """The shipped bundles to import: all, or the names given (checked), by tracker name."""
    available = pretrained()
    if not available:
        raise NotFoundError(f"No pre-trained trackers in {PRETRAINED_DIR}; build them with "
                            "`python -m workbench.pretrained.build`.")
    if names is None:
        return available
    wanted = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ValidationError("names", f"no pre-trained tracker named {', '.join(map(repr, unknown))}",
                              f"Choose from: {', '.join(available)}.")
    return {n: available[n] for n in wanted}


def _version() -> str:
    try:
        return metadata.version("smart-tracker-workbench")
    except metadata.PackageNotFoundError:
        return "unknown"

