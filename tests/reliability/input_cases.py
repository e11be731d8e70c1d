"""Malformed imports, for tests/reliability and benchmarks/reliability.py: each must be refused
with a message naming the file, row or field, and leave the workspace byte-identical."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from tests.conftest import tiny_corpus


def tree_digest(folder: Path) -> str:
    """One digest of every file's path and bytes under ``folder`` (locks excluded)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.endswith(".lock")):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def malformed_cases(folder: Path) -> list[tuple[str, pl.DataFrame, pl.DataFrame | str]]:
    """(what is wrong, calls, utterances) for each malformed import; utterances may be a path."""

    calls, utts = tiny_corpus(2, start=500)
    loop = folder / "loop.csv"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    as_object = folder / "object-text.jsonl"  # a JSON object where the text should be
    rows = [json.dumps({**r, "text": {"a": 1} if i == 1 else r["text"]}) for i, r in enumerate(utts.iter_rows(named=True))]
    as_object.write_text("\n".join(rows) + "\n")
    bad_text = utts.with_columns(pl.when(pl.col("utterance_id") == 1).then(pl.lit("\u200b\x00 ")).otherwise("text")
                                 .alias("text"))
    return [
        ("a call dated in year 1", calls.with_columns(pl.lit("0001-01-01T00:00:00Z").alias("started_at")), utts),
        ("a call dated in year 9999", calls.with_columns(pl.lit("9999-01-01T00:00:00Z").alias("started_at")), utts),
        ("a negative utterance id", calls, utts.with_columns((pl.col("utterance_id") - 10).alias("utterance_id"))),
        ("a zero-width and NUL text", calls, bad_text),
        ("a JSON object as text", calls, str(as_object)),
        ("a missing column", calls.drop("team"), utts),
        ("an unknown side", calls, utts.with_columns(pl.lit("robot").alias("side"))),
        ("utterances of an unknown call", calls, utts.with_columns(pl.lit("nobody").alias("call_id"))),
        ("a duplicate call id", pl.concat([calls, calls]), utts),
        ("a symlink loop", calls, str(loop)),
    ]


def run_input_cases(workdir: Path, embedder) -> dict:
    """Each malformed import must be refused (InputError naming the file, row or field) and
    leave the workspace byte-identical."""
    from workbench import Workspace
    from workbench.core.errors import WorkbenchError

    ws = Workspace(workdir / "inputs", model=embedder)
    ws.import_calls(*tiny_corpus(4), progress=False)
    out = {"cases": 0, "refused": 0, "accepted": 0, "unclear_messages": 0, "workspace_changed": 0, "details": []}
    for what, calls, utts in malformed_cases(workdir):
        before = tree_digest(ws.path)
        out["cases"] += 1
        try:
            ws.import_calls(calls, utts, progress=False)
            out["accepted"] += 1
            out["details"].append(f"accepted: {what}")
        except WorkbenchError as err:
            out["refused"] += 1
            message = str(err)
            if not any(word in message for word in ("row", "column", "field", "file", "loop", "calls", "utterances")):
                out["unclear_messages"] += 1
                out["details"].append(f"unclear message for {what}: {message[:120]}")
        if tree_digest(ws.path) != before:
            out["workspace_changed"] += 1
            out["details"].append(f"workspace changed by: {what}")
    return out
