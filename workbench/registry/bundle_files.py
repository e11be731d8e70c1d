"""What a tracker bundle may hold, and the manifest of its files' hashes that import checks.

A bundle (a ``.tracker.zip``, workbench.activation.bundles) carries ``checksums.json``::

    {"format": "workbench-bundle-checksums/1",
     "files": {"bundle.json": {"sha256": "…", "size": 5289}, "version/model/MLmodel": {…}, …}}

over every other file in it. ``check_bundle`` runs before anything is extracted or created and
refuses, naming the bundle and the file:

- a file that is not data: a bundle holds JSON, YAML, text, parquet, CSV, PNG and safetensors
  weights, plus two kinds of file the workbench reads without running them: MLflow's copy of the
  model code (``version/model/pyfunc.py``, ``tracker_model.py`` in older bundles), which import
  never imports (it rebuilds the version from ``linear_model.json`` with the workbench's own
  pyfunc.py), and an older bundle's ``classifier.joblib``, which only the restricted reader of
  workbench.registry.legacy opens. Anything else (``.py`` elsewhere, ``.pkl``, ``.bin``, ``.so``)
  is refused;
- an encoder whose ``modules.json`` names a class outside sentence-transformers (loading it would
  import that module);
- a bundle without ``checksums.json`` (made before bundles carried one, or not by the workbench),
  unless the caller allows unverified bundles; the checks above still apply to it;
- a file missing from the manifest, listed but absent, or whose size or sha256 differs.

The manifest detects a bundle edited after export (a changed model, an added file); it is not a
signature: whoever writes a bundle can write its manifest. What keeps a hostile bundle from
running anything is that the workbench reads every file of one as data.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from workbench.core.errors import ValidationError

CHECKSUMS_FILE = "checksums.json"
CHECKSUMS_FORMAT = "workbench-bundle-checksums/1"
DATA_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".txt", ".parquet", ".csv", ".png", ".md", ".safetensors"})
DATA_NAMES = frozenset({"MLmodel"})
# Read without running them (see module doc); only at these places.
MODEL_CODE_COPIES = frozenset({"version/model/pyfunc.py", "version/model/tracker_model.py"})
LEGACY_PICKLE = "version/model/artifacts/classifier.joblib"
ENCODER_MODULES = "sentence_transformers."
_FIX = "Do not import this bundle; export it again from the workspace it came from"


class BundleRefused(ValidationError):
    """A bundle that holds something other than data, or whose files do not match its manifest."""


@dataclass(frozen=True)
class BundleFile:
    name: str
    size: int


def write_checksums(root: Path) -> Path:
    """Write ``checksums.json`` in a bundle's folder, over every file under it."""
    root = Path(root)
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != CHECKSUMS_FILE:
            files[path.relative_to(root).as_posix()] = {"sha256": _sha256(path.read_bytes()), "size": path.stat().st_size}
    target = root / CHECKSUMS_FILE
    target.write_text(json.dumps({"format": CHECKSUMS_FORMAT, "files": files}, indent=1), encoding="utf-8")
    return target


def check_bundle(zf: zipfile.ZipFile, path: Path | str, *, allow_unverified: bool = False) -> tuple[list[BundleFile], bool]:
    """The bundle's files (name and size, manifest excluded) and whether a manifest verified them;
    raises BundleRefused for anything the module doc lists."""
    members = [info for info in zf.infolist() if not info.is_dir()]
    names = [info.filename for info in members]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise BundleRefused(str(path), f"holds two files named {duplicated[0]}", _FIX)
    files = [BundleFile(info.filename, info.file_size) for info in members if info.filename != CHECKSUMS_FILE]
    for f in files:
        _check_kind(zf, path, f.name)
    if CHECKSUMS_FILE not in names:
        if not allow_unverified:
            raise BundleRefused(
                str(path), f"has no {CHECKSUMS_FILE}, so its files cannot be checked (bundles made before the "
                "workbench wrote one, or not by the workbench)", "Export it again from its workspace, or import it "
                "only if you trust where it came from: import_bundle(..., allow_unverified=True) or "
                "`workbench bundle import --allow-unverified`")
        return files, False
    _check_manifest(zf, path, files)
    return files, True


def _check_kind(zf: zipfile.ZipFile, path: Path | str, name: str) -> None:
    member = PurePosixPath(name)
    if name in MODEL_CODE_COPIES or name == LEGACY_PICKLE:
        return
    if member.suffix.lower() not in DATA_SUFFIXES and member.name not in DATA_NAMES:
        raise BundleRefused(str(path), f"holds {name}, which is not data (a bundle carries JSON, parquet, text, "
                                       "images and safetensors weights, and the workbench runs no code from one)", _FIX)
    if member.name == "modules.json":
        try:
            modules = json.loads(zf.read(name))
            kinds = [str(m["type"]) for m in modules]
        except (ValueError, TypeError, KeyError) as exc:
            raise BundleRefused(str(path), f"{name} is not a sentence-transformers module list ({exc})", _FIX) from None
        foreign = [k for k in kinds if not k.startswith(ENCODER_MODULES)]
        if foreign:
            raise BundleRefused(str(path), f"{name} asks to load {foreign[0]}, which is not part of sentence-transformers "
                                           "(loading it would import that code)", _FIX)


def _check_manifest(zf: zipfile.ZipFile, path: Path | str, files: list[BundleFile]) -> None:
    try:
        manifest = json.loads(zf.read(CHECKSUMS_FILE))
        listed = manifest["files"] if manifest.get("format") == CHECKSUMS_FORMAT else None
        if not isinstance(listed, dict):
            raise ValueError(f"format {manifest.get('format')!r}, expected {CHECKSUMS_FORMAT!r}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BundleRefused(str(path), f"{CHECKSUMS_FILE} cannot be read ({exc})", _FIX) from None
    present = {f.name for f in files}
    unlisted, absent = sorted(present - listed.keys()), sorted(listed.keys() - present)
    if unlisted:
        raise BundleRefused(str(path), f"holds {unlisted[0]}, which its {CHECKSUMS_FILE} does not list "
                                       "(added after the bundle was exported)", _FIX)
    if absent:
        raise BundleRefused(str(path), f"lacks {absent[0]}, which its {CHECKSUMS_FILE} lists", _FIX)
    for f in files:
        entry = listed[f.name]
        # The size first: a member far larger than listed is refused without being read.
        if (not isinstance(entry, dict) or entry.get("size") != f.size
                or entry.get("sha256") != _sha256(zf.read(f.name))):
            raise BundleRefused(str(path), f"{f.name} differs from the file its {CHECKSUMS_FILE} lists "
                                           "(changed after the bundle was exported)", _FIX)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
