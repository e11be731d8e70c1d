"""Results of a live tracker: search, team stats, exports, the calls API and streams (with a real
HTTP server on 127.0.0.1 for the webhook and a real child process for the command)."""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import polars as pl
import pytest
from matplotlib.figure import Figure

from tests.activation.conftest import AS_OF, new_calls
from tests.activation.test_cli import run
from workbench.core.errors import NotFoundError, ValidationError


@pytest.fixture
def live(live_ws, tracker):
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    return tracker


def test_search_by_tracker_filters_dates_and_text(live_ws, live):
    det = live.results().detections
    found = live_ws.search(live.name)
    assert set(found.calls["call_id"]) == set(det["call_id"])
    assert found.calls["mentions"].sum() == det.height == found.calls[live.name].sum()
    assert found.calls["mentions"].is_sorted(descending=True)
    # Every detected sentence comes back, in context.
    assert set(found.sentences["sentence_id"]) == set(det["sentence_id"])
    row = found.sentences.row(0, named=True)
    assert row["matched_by"] == live.name and row["context_before"] and ":" in row["context_before"][0]
    live.update(description="The customer asks for a lower price.")
    described = live_ws.search(live.name)
    assert described.descriptions == {live.name: "The customer asks for a lower price."}
    assert f"  '{live.name}': The customer asks for a lower price." in str(described).splitlines()[1]

    team = live_ws.calls.filter(pl.col("call_id") == det["call_id"][0])["team"][0]
    by_team = live_ws.search(live.name, filters={"team": [team]})
    assert set(by_team.calls["team"]) == {team} and 0 < len(by_team) <= len(found)

    day = live_ws.calls.filter(pl.col("call_id") == det["call_id"][0])["started_at"][0].date()
    one_day = live_ws.search(live.name, date_from=day, date_to=day)
    assert det["call_id"][0] in set(one_day.calls["call_id"])
    assert all(d.date() == day for d in one_day.calls["started_at"])

    word = det["text"][0].split()[-1].strip("?.,!").lower()
    with_text = live_ws.search(live.name, text=word)
    assert 0 < len(with_text) <= len(found) and (with_text.calls["text_matches"] > 0).all()
    text_only = live_ws.search(text=word)
    assert len(text_only) >= len(with_text) and set(text_only.sentences["matched_by"]) == {"text"}
    assert live_ws.search(live.name, min_mentions=100).calls.height == 0

    for kwargs, field in (({"match": "some"}, "match"), ({"date_from": "last week"}, "date_from"),
                          ({"filters": {"region": "EMEA"}}, "filters.region"), ({"text": "  "}, "text"),
                          ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to")):
        with pytest.raises(ValidationError) as e:
            live_ws.search(live.name, **kwargs)
        assert e.value.field == field
    with pytest.raises(NotFoundError):
        live_ws.search("No such tracker")


def test_team_stats_tables_and_plots(live_ws, live):
    stats = live_ws.team_stats(live.name)
    calls = live.results().calls
    assert stats.overall["calls"] == calls.height
    assert stats.overall["calls_with_mention"] == int((calls["mentions"] > 0).sum())
    for by in ("team", "rep", "month"):
        t = stats.table(by)
        assert t["calls"].sum() == calls.height and t["mentions"].sum() == calls["mentions"].sum()
        assert ((t["share"] >= 0) & (t["share"] <= 1)).all()
        assert (t["mentions_per_call"] - t["mentions"] / t["calls"]).abs().max() < 1e-12
    fig = stats.plot("month")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [p.get_height() for p in fig.axes[0].patches] == stats.by_month["share"].to_list()
    with pytest.raises(ValidationError):
        stats.plot("quarter")


def test_exports_and_calls_api(live_ws, live, tmp_path):
    det = live.results().detections
    csv = live_ws.export_detections(tmp_path / "mentions.csv")
    back = pl.read_csv(csv)
    assert back.height == det.height and set(back["sentence_id"]) == set(det["sentence_id"])
    assert {"tracker", "version", "call_id", "team", "rep", "started_at", "text", "score", "speaker"} <= set(back.columns)
    per_call = pl.read_parquet(live_ws.export_detections(tmp_path / "calls.parquet", per="call"))
    assert per_call.height == live.results().calls.height and per_call["mentions"].sum() == det.height

    doc = json.loads(live_ws.export_detections(tmp_path / "calls.json").read_text())
    assert doc["records"]["totalRecords"] == live_ws.calls.height
    assert doc["trackers"] == [{"id": live.id, "name": live.name, "description": live.description, "version": 2}]
    looked = [c for c in doc["calls"] if c["content"]["trackers"]]
    assert len(looked) == per_call.height
    best = max(looked, key=lambda c: c["content"]["trackers"][0]["count"])
    entry = best["content"]["trackers"][0]
    assert entry["name"] == live.name and entry["version"] == 2 and entry["count"] == len(entry["occurrences"]) > 0
    occ = entry["occurrences"][0]
    assert {"startTime", "speaker", "side", "sentence"} <= set(occ) and occ["side"] == "customer"
    one = live_ws.calls_api([best["metaData"]["id"]])
    assert [c["metaData"]["id"] for c in one["calls"]] == [best["metaData"]["id"]]

    with pytest.raises(ValidationError) as e:
        live_ws.export_detections(tmp_path / "x.xlsx")
    assert e.value.field == "format"
    with pytest.raises(ValidationError) as e:
        live_ws.export_detections(tmp_path / "x.csv", per="utterance")
    assert e.value.field == "per"


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_stream_reports_new_calls_to_a_webhook_and_a_command(live_ws, live, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out_file = tmp_path / "notified.json"
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        stream = live_ws.create_stream("Discount asks", trackers=[live.name], webhook=url, allow_private=True)
        live_ws.create_stream("By command", trackers=[live.name], command=[
            sys.executable, "-c", f"import sys; open({str(out_file)!r}, 'wb').write(sys.stdin.buffer.read())"])
        assert stream.new().height == 0  # what matched at creation is the starting point, not news
        assert _Hook.received == []

        calls, utts = new_calls(2, start=940)
        live_ws.import_calls(calls, utts, progress=False)  # queues; a background thread sends
        live_ws.deliver_streams()  # waits for that thread, then sends what is still due
        assert len(_Hook.received) == 1
        sent = _Hook.received[0]
        assert sent["stream"] == "Discount asks" and sent["new_calls"] == 2
        assert {c["call_id"] for c in sent["calls"]} == {"call-0940", "call-0941"}
        by_command = json.loads(out_file.read_text())
        assert {c["call_id"] for c in by_command["calls"]} == {"call-0940", "call-0941"}

        fresh = live_ws.stream("discount asks").new()  # names are case-insensitive
        assert set(fresh["call_id"]) == {"call-0940", "call-0941"}
        assert live_ws.stream("Discount asks").new().height == 0  # read now
        live_ws.import_calls(*new_calls(1, start=950), progress=False)
        live_ws.deliver_streams()
        assert len(_Hook.received) == 2 and _Hook.received[1]["new_calls"] == 1
    finally:
        server.shutdown()
        server.server_close()
    # A webhook that does not answer: the import still succeeds, the delivery stays pending.
    live_ws.import_calls(*new_calls(1, start=960), progress=False)
    live_ws.deliver_streams()
    assert live_ws.stream("Discount asks").last_error
    status = live_ws.stream("Discount asks").status()
    assert (status["pending"], status["sent"], status["failed_attempts"]) == (1, 2, 1)
    with pytest.raises(ValidationError) as e:
        live_ws.create_stream("Bad", trackers=[live.name], webhook="ftp://127.0.0.1/x")
    assert e.value.field == "webhook"
    with pytest.raises(ValidationError) as e:
        live_ws.create_stream("Discount asks", trackers=[live.name])
    assert e.value.field == "name"


def test_calls_scored_later_reach_the_streams_too(live_ws, live, tmp_path):
    out_file = tmp_path / "notified.json"
    live_ws.create_stream("By command", trackers=[live.name], command=[
        sys.executable, "-c", f"import sys; open({str(out_file)!r}, 'wb').write(sys.stdin.buffer.read())"])
    calls, utts = new_calls(1, start=970)
    utts = utts.with_columns((pl.col("text") + " Truly.").alias("text"))  # new texts: not embedded yet
    with pytest.warns(UserWarning, match="score_pending"):
        live_ws.import_calls(calls, utts, embed=False, progress=False)
    assert not out_file.exists()  # nothing scored, nothing to tell
    live_ws.embed(progress=False)
    assert live_ws.score_pending(progress=False)[live.name] >= 1
    live_ws.deliver_streams()
    assert {c["call_id"] for c in json.loads(out_file.read_text())["calls"]} == {"call-0970"}


def test_the_dashboard_and_team_stats_report_the_same_breakdowns(live_ws, live):
    """One statistics module: the results dashboard's tables are the team stats' tables."""
    report = live.report()
    stats = live.team_stats()
    for by in ("team", "rep", "month"):
        assert getattr(report, f"by_{by}").equals(stats.table(by)), by


FORMULAS = {"team": "=cmd|' /C calc'!A0", "rep": "@SUM(A1:A9)", "title": '=HYPERLINK("http://x.example","y")'}


def test_csv_export_neutralises_formula_cells_and_parquet_json_keep_them(live_ws, live, tmp_path):
    calls, utts = new_calls(2, start=940)
    calls = calls.with_columns(*(pl.lit(v).alias(k) for k, v in FORMULAS.items()))
    calls = calls.with_columns(pl.Series("deal_stage", ["+1+1", "-2+3"]))
    live_ws.import_calls(calls, utts, progress=False)
    ids = {"call-0940", "call-0941"}

    back = pl.read_csv(live_ws.export_detections(tmp_path / "mentions.csv"), infer_schema=False)
    hostile = back.filter(pl.col("call_id").is_in(ids))
    assert hostile.height >= 2
    for column, typed in FORMULAS.items():
        assert set(hostile[column]) == {"'" + typed}
    assert set(hostile["deal_stage"]) == {"'+1+1", "'-2+3"}
    # Numbers, negative ones too, and ordinary text are left as they are.
    assert hostile["score"].cast(pl.Float64).is_not_null().all()
    assert not back.filter(~pl.col("call_id").is_in(ids))["team"].str.starts_with("'").any()

    raw = pl.read_parquet(live_ws.export_detections(tmp_path / "mentions.parquet")).filter(pl.col("call_id").is_in(ids))
    assert set(raw["team"]) == {FORMULAS["team"]} and set(raw["deal_stage"]) == {"+1+1", "-2+3"}
    doc = json.loads(live_ws.export_detections(tmp_path / "calls.json").read_text())
    assert {c["metaData"]["rep"] for c in doc["calls"] if c["metaData"]["id"] in ids} == {FORMULAS["rep"]}


def test_neutralise_formulas_only_touches_text_starting_like_a_formula():
    from workbench.core.csv_cells import neutralise_formulas

    frame = pl.DataFrame({"text": ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "a=b", "plain", None],
                          "number": [-1.5, 1, 2, 3, 4, 5, 6, 7, 8]})
    out = neutralise_formulas(frame)
    assert out["text"].to_list() == ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "a=b", "plain", None]
    assert out["number"].to_list() == frame["number"].to_list() and out.schema == frame.schema


def test_the_initiative_board_sets_trackers_side_by_side_as_their_own_team_stats(live_ws, live, capsys):
    from workbench.widgets import InitiativeBoardView

    keyword = live_ws.create_keyword_tracker("Price words", phrases=["price"], mentioned_by="customer")
    keyword.activate(12, as_of=AS_OF, progress=False, verbose=False)
    board = live_ws.initiative_board()
    assert board.trackers == [live.name, "Price words"]
    for name in board.trackers:
        stats = live_ws.team_stats(name)
        for by in ("month", "team", "rep"):
            mine = board.table(by).filter(pl.col("tracker") == name).drop("tracker")
            assert mine.equals(stats.table(by).select(mine.columns)), (name, by)
    wide = board.wide("team")
    assert wide.columns == ["team", live.name, "Price words"] and wide.height == live_ws.calls["team"].n_unique()
    assert f"Initiative board: {live.name}, Price words" in str(board)
    with pytest.raises(ValidationError, match="team, rep, month"):
        board.table("region")

    # The terminal prints the same board: `workbench board --by team`.
    assert run(live_ws, "board", "--by", "team") == 0
    out = capsys.readouterr().out
    assert out.startswith(board.text("team")) and f"  {live.name}: {live.record.definition.description}" in out
    assert run(live_ws, "board", "--tracker", "Price words", "--filter", "team=SMB") == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("per month)") and all("Price words: " in line for line in printed[1:])

    view = InitiativeBoardView(live_ws)
    assert view.trackers.value == (live.name, "Price words") and view.figure.value.count("<img") == 1
    view.by.value = "rep"
    assert view.table.value.count("<tr>") == live_ws.calls["rep"].n_unique() + 1
    view.trackers.value = ("Price words",)
    assert view.board.trackers == ["Price words"]


def test_deal_activity_follows_one_deal_across_its_calls_in_time_order(live_ws, live, capsys):
    from workbench.widgets import InitiativeBoardView

    deals = live_ws.services.results.deal_ids()
    calls = live_ws.calls.filter(pl.col("deal_id") == deals[0])
    assert deals and calls.height == live_ws.calls.group_by("deal_id").len().drop_nulls()["len"].max()
    # the deal whose calls hold the most mentions, so there is something to follow
    mentioned = live.results().detections.join(live_ws.calls.select("call_id", "deal_id"), on="call_id")
    deal = mentioned.drop_nulls("deal_id").group_by("deal_id").len().sort("len", descending=True)["deal_id"][0]
    activity = live_ws.deal_activity(deal)
    assert activity.calls["call_id"].to_list() == (
        live_ws.calls.filter(pl.col("deal_id") == deal).sort("started_at")["call_id"].to_list())
    assert activity.mentions.height == mentioned.filter(pl.col("deal_id") == deal).height > 0
    assert activity.mentions["started_at"].is_sorted() and set(activity.mentions["tracker"]) == {live.name}
    assert activity.calls[live.name].sum() == activity.mentions.height
    with pytest.raises(NotFoundError):
        live_ws.deal_activity("DEAL-NOBODY")
    # The terminal: `workbench deal` lists the deals, `workbench deal ID` prints the activity.
    assert run(live_ws, "deal") == 0
    assert capsys.readouterr().out.startswith(f"{len(deals):,} deals, most calls first: {deals[0]}, ")
    assert run(live_ws, "deal", deal) == 0
    assert capsys.readouterr().out.strip() == str(activity)

    view = InitiativeBoardView(live_ws)
    view.deal.value = deal
    assert view.deal_view.value.count("class='wb-mention'") == activity.mentions.height


def test_streams_from_the_panel_pause_and_resume_without_a_burst_of_old_news(live_ws, live, tmp_path):
    from workbench.widgets import StreamsPanel

    out_file = tmp_path / "told.jsonl"
    panel = StreamsPanel(live_ws)
    assert "No streams yet" in panel.table.value and panel.trackers.value == (live.name,)
    panel.name.value = "Asks"
    panel.command.value = (f"{sys.executable} -c \"import sys; open('{out_file}', 'ab').write(sys.stdin.buffer.read()"
                           " + b'\\n')\"")
    panel.create_button.click()
    assert "Created stream 'Asks'" in panel.status.value and "<td>Asks</td>" in panel.table.value
    assert panel.chosen.value == "Asks"  # chosen for Pause and Delete, not left blank
    panel.filters.value = "region=EMEA"
    panel.name.value = "Bad"
    panel.create_button.click()  # a bad filter is shown; nothing is stored
    assert "region" in panel.status.value and [s.name for s in live_ws.streams()] == ["Asks"]

    panel.chosen.value = "Asks"
    panel.pause_button.click()
    assert live_ws.stream("Asks").paused and "<td>paused</td>" in panel.table.value
    live_ws.import_calls(*new_calls(2, start=940), progress=False)
    live_ws.deliver_streams()
    assert not out_file.exists()  # paused: nothing told
    assert set(live_ws.stream("Asks").peek()["call_id"]) == {"call-0940", "call-0941"}  # but listed
    panel.resume_button.click()
    live_ws.deliver_streams()
    assert not out_file.exists()  # what entered while paused is the starting point, not news
    live_ws.import_calls(*new_calls(1, start=950), progress=False)
    live_ws.deliver_streams()
    told = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [{c["call_id"] for c in t["calls"]} for t in told] == [{"call-0950"}]
    panel.delete_button.click()
    assert live_ws.streams() == [] and "No streams yet" in panel.table.value
