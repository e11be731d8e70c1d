"""The activation and results subcommands, driven through the `workbench` parser."""
from __future__ import annotations

import json

import polars as pl
import pytest

from tests.activation.conftest import AS_OF
from workbench.core.errors import ValidationError


def run(ws, *argv: str) -> int:
    from workbench.cli import app as cli

    args = cli.build_parser().parse_args(["--workspace", str(ws.path), *argv])
    args.model = ws.embedder  # share the session's loaded model
    return args.func(args)


def test_backfill_search_export_publish_from_the_command_line(live_ws, tracker, tmp_path, capsys):
    name = tracker.name
    assert run(live_ws, "backfill", name, "--months", "12", "--as-of", str(AS_OF), "--dry-run") == 0
    assert "calls" in capsys.readouterr().out and not tracker.is_active
    assert run(live_ws, "backfill", name, "--as-of", str(AS_OF), "--yes", "--quiet") == 0
    out = capsys.readouterr().out
    assert "Backfilling" in out and "is active with version 2" in out and tracker.is_active

    n = tracker.results().detections.height
    assert run(live_ws, "search", "--tracker", name, "--filter", "is_external=true") == 0
    assert f"{tracker.results().calls.filter(pl.col('mentions') > 0).height:,} calls mention" in capsys.readouterr().out
    assert run(live_ws, "export", "--out", str(tmp_path / "d.parquet")) == 0
    assert pl.read_parquet(tmp_path / "d.parquet").height == n
    capsys.readouterr()
    assert run(live_ws, "export", "--out", "-", "--from", "2026-01-01") == 0
    doc = json.loads(capsys.readouterr().out)
    assert all(c["metaData"]["started"] >= "2026-01-01" for c in doc["calls"])

    assert run(live_ws, "publish", name, "--version", "1", "--diff-only") == 0
    assert "version 2 -> version 1" in capsys.readouterr().out
    assert live_ws.registry.get_alias(name, "published") == 2
    assert run(live_ws, "publish", name, "--version", "1", "--yes", "--quiet") == 0
    assert live_ws.registry.get_alias(name, "published") == 1
    assert run(live_ws, "deactivate", name) == 0 and not tracker.is_active

    assert run(live_ws, "bundle", "pretrained") == 0
    assert "Pricing objection" in capsys.readouterr().out
    with pytest.raises(ValidationError) as e:
        run(live_ws, "search", "--filter", "team")
    assert e.value.field == "--filter"
