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


def test_search_reads_a_list_of_teams_as_any_of_them(live_ws, capsys):
    """`--filter team=A,B` means the same in `search` as in `tracker create`: either team."""
    first, second = live_ws.calls["team"].unique().sort().to_list()[:2]

    def calls_found(*filters: str) -> int:
        assert run(live_ws, "search", *(arg for f in filters for arg in ("--filter", f)), "--sentences", "0") == 0
        return int(capsys.readouterr().out.split(" calls", 1)[0].replace(",", ""))

    each = calls_found(f"team={first}") + calls_found(f"team={second}")
    assert each > 0
    assert calls_found(f"team={first},{second}") == each
    assert calls_found(f"team={first}", f"team={second}") == each
    with pytest.raises(ValidationError) as e:
        run(live_ws, "search", "--filter", "is_external=maybe")
    assert e.value.field == "filters.is_external"


def test_streams_are_created_listed_and_deleted_from_the_command_line(live_ws, tracker, tmp_path, capsys):
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    out_file = tmp_path / "told.json"
    command = f"python -c \"import sys; open('{out_file}', 'wb').write(sys.stdin.buffer.read())\""
    assert run(live_ws, "streams", "create", "SMB asks", "--tracker", tracker.name, "--filter", "team=SMB",
               "--command", command) == 0
    out = capsys.readouterr().out
    assert "Created stream 'SMB asks'" in out and "calls match now" in out and "command python -c" in out
    stream = live_ws.stream("SMB asks")
    assert stream.search_spec["filters"] == {"team": "SMB"} and stream.command[:2] == ["python", "-c"]
    with pytest.raises(ValidationError, match="private|internal|loopback"):
        run(live_ws, "streams", "create", "Hook", "--tracker", tracker.name, "--webhook", "http://127.0.0.1:9/x")
    assert run(live_ws, "streams", "create", "Hook", "--tracker", tracker.name, "--webhook", "http://127.0.0.1:9/x",
               "--allow-private") == 0
    capsys.readouterr()
    assert run(live_ws, "streams") == 0
    listing = capsys.readouterr().out
    assert "SMB asks: command python -c" in listing and "Hook: webhook http://127.0.0.1:9/x" in listing
    assert run(live_ws, "streams", "delete", "Hook") == 0
    assert [s.name for s in live_ws.streams()] == ["SMB asks"]
    assert run(live_ws, "streams", "pause", "SMB asks") == 0 and live_ws.stream("SMB asks").paused
    capsys.readouterr()
    assert run(live_ws, "streams") == 0 and "(paused)" in capsys.readouterr().out
    assert run(live_ws, "streams", "resume", "SMB asks") == 0 and not live_ws.stream("SMB asks").paused


def test_workbench_embed_lets_the_active_trackers_score_the_calls_that_waited(live_ws, tracker, tmp_path, capsys):
    """`import --no-embed` leaves the new calls pending for a smart tracker; `workbench embed`
    embeds them and completes that journal, as ws.embed() + ws.score_pending() do."""
    from tests.activation.conftest import new_calls

    tracker.activate(0, as_of=AS_OF, progress=False, verbose=False)
    calls, utts = new_calls(1, start=940)
    utts = utts.with_columns(pl.col("text").str.replace("Happy to be here.", "Happy to be here, at last."))
    calls.write_parquet(tmp_path / "calls.parquet")
    utts.write_parquet(tmp_path / "utterances.parquet")
    with pytest.warns(UserWarning, match="score_pending"):
        assert run(live_ws, "import", str(tmp_path / "calls.parquet"), str(tmp_path / "utterances.parquet"),
                   "--no-embed") == 0
    live_ws.refresh()  # the command imported through a Workspace of its own
    assert "call-0940" in set(live_ws.calls["call_id"]) and "call-0940" not in set(tracker.results().calls["call_id"])
    assert run(live_ws, "embed", "--quiet") == 0
    assert f"'{tracker.name}' scored its pending calls" in capsys.readouterr().out
    assert "call-0940" in set(tracker.results().calls["call_id"])
