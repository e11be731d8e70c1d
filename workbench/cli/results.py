"""`workbench` subcommands for activation, publishing, results and bundles.

``register(subparsers)`` adds them to the main parser (workbench/cli/app.py):

    workbench backfill TRACKER [--months 12] [--engine local|spark [--from-texts]] [--yes]
    workbench deactivate TRACKER
    workbench publish TRACKER [--version N] [--diff-only] [--yes]
    workbench search [--tracker NAME]... [--filter COL=VALUE]... [--from DATE] [--to DATE] [--text WORDS]
    workbench export --out FILE [--format csv|parquet|json] [--per sentence|call] [--tracker NAME]...
    workbench stream NAME                    new calls of a saved search (marks them read)
    workbench streams [send [--deadline S]]  every stream's notifications (pending, sent, failed); send the due ones
    workbench streams create NAME [--tracker T]... [--filter C=V]... [--webhook URL | --command CMD]   save a search
    workbench streams delete|pause|resume NAME   delete a stream; stop or restart sending its new calls
    workbench streams allow-private NAME [--refuse]   let a stream's webhook reach a private address
    workbench bundle export TRACKER FILE | bundle pretrained [NAME]...
    workbench bundle import FILE [--name NAME] [--dry-run] [--allow-unverified]
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.cli.common import open_workspace
from workbench.core.errors import ValidationError
from workbench.results.streams import describe_target
from workbench.trackers.filters import FILTER_HELP, parse_filters


def _confirm(args, question: str) -> bool:
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print(f"{question} Not confirmed (no terminal): pass --yes.", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _filters(ws, args) -> dict[str, Any] | None:
    return parse_filters(args.filter, dict(ws.calls.schema))


def cmd_backfill(args) -> int:
    ws = open_workspace(args)
    tracker = ws.tracker(args.tracker)
    plan = tracker.backfill_plan(args.months, as_of=args.as_of, engine=args.engine, from_texts=args.from_texts)
    print(plan)
    concerns = tracker.activation_concerns()
    if concerns:
        print("Before you activate it:\n" + "\n".join(f"  - {c}" for c in concerns))
    if args.dry_run:
        return 0
    if not _confirm(args, "Start?"):
        return 1
    spark = None
    if args.engine == "spark":
        from workbench.activation.spark import session

        spark = session(args.spark_master)
    try:
        tracker.activate(args.months, as_of=args.as_of, progress=not args.quiet, engine=args.engine, spark=spark,
                         from_texts=args.from_texts, verbose=False)
    finally:
        if spark is not None:
            spark.stop()
    live = tracker.results()
    print(f"'{tracker.name}' is active with version {live.version}: {live.detections.height:,} mentions in "
          f"{int((live.calls['mentions'] > 0).sum()):,} of {live.calls.height:,} calls. New calls are scored on import.")
    return 0


def cmd_deactivate(args) -> int:
    open_workspace(args).tracker(args.tracker).deactivate()
    print(f"'{args.tracker}' no longer scores new calls; its results are kept.")
    return 0


def cmd_publish(args) -> int:
    tracker = open_workspace(args).tracker(args.tracker)
    changes = tracker.unpublished_changes()
    if changes:
        print("Unpublished changes:\n" + "\n".join(f"  {c}" for c in changes))
    print(tracker.diff(args.version))
    if args.diff_only:
        return 0
    if not _confirm(args, "Publish?"):
        return 1
    tracker.publish(args.version, progress=not args.quiet)
    return 0


def cmd_search(args) -> int:
    ws = open_workspace(args)
    result = ws.search(args.tracker or None, filters=_filters(ws, args), date_from=args.date_from,
                    date_to=args.date_to, text=args.text, match=args.match, min_mentions=args.min_mentions)
    print(result)
    if args.sentences:
        for r in result.sentences.head(args.sentences).iter_rows(named=True):
            print(f"  [{r['call_id']} {r['start_s']:.0f}s] {r['speaker']}: {r['text']}  ({r['matched_by']})")
    return 0


def cmd_export(args) -> int:
    ws = open_workspace(args)
    selection = {"filters": _filters(ws, args), "date_from": args.date_from, "date_to": args.date_to}
    if str(args.out) == "-":
        if (args.format or "json") != "json":
            raise ValidationError("--out", "only JSON can be written to standard output", "Name a file for CSV or Parquet.")
        json.dump(ws.calls_api(trackers=args.tracker or None, **selection), sys.stdout, indent=1, default=str)
        print()
        return 0
    path = ws.export_detections(args.out, args.tracker or None, format=args.format, per=args.per, **selection)
    print(f"Wrote {path}")
    return 0


def cmd_board(args) -> int:
    """The initiative board as text: one row per month (or team, rep), one column per tracker."""
    ws = open_workspace(args)
    board = ws.initiative_board(args.tracker or None, filters=_filters(ws, args), date_from=args.date_from,
                                date_to=args.date_to)
    print(board.text(args.by))
    for name in board.trackers:  # what each tracker finds, as its dashboards show on hover
        if board.descriptions.get(name):
            print(f"  {name}: {board.descriptions[name]}")
    return 0


def cmd_deal(args) -> int:
    """One deal's calls in time order and the trackers' mentions in them; without an id, the deals."""
    ws = open_workspace(args)
    if args.deal_id is None:
        deals = ws.services.results.deal_ids()
        print(f"{len(deals):,} deals, most calls first: " + ", ".join(deals[:20]) + (" ..." if len(deals) > 20 else ""))
        return 0
    print(ws.deal_activity(args.deal_id, args.tracker or None))
    return 0


def cmd_stream(args) -> int:
    new = open_workspace(args).stream(args.name).new()
    if new.height == 0:
        print(f"No new calls in '{args.name}'.")
        return 0
    print(f"{new.height:,} new calls in '{args.name}':")
    for r in new.iter_rows(named=True):
        print(f"  {r['started_at']:%Y-%m-%d} {r['call_id']}  {r['team']}  {r['rep']}  {r['mentions']} mentions")
    return 0


def cmd_streams(args) -> int:
    ws = open_workspace(args)
    streams = ws.services.streams
    if args.streams_command == "send":
        if args.deadline is not None:
            streams.settings.deadline_s = args.deadline
        report = ws.deliver_streams()
        if not args.quiet:
            print(f"Stream notifications: {report}.")
        return 1 if report.failed_attempts else 0
    if args.streams_command == "create":
        return _create_stream(ws, args)
    if args.streams_command in ("pause", "resume"):
        stream = ws.stream(args.name)
        stream.pause() if args.streams_command == "pause" else stream.resume()
        print(f"Stream '{stream.name}' " + ("paused: new calls are listed, not sent." if stream.paused
                                            else "resumed: new calls from now on are sent."))
        return 0
    if args.streams_command == "delete":
        ws.stream(args.name).delete()
        print(f"Deleted stream '{args.name}'.")
        return 0
    if args.streams_command == "allow-private":
        ws.stream(args.name).allow_private_addresses(not args.refuse)
        print(f"Stream '{args.name}': webhooks to internal, loopback and link-local addresses are "
              + ("refused." if args.refuse else "allowed."))
        return 0
    table = streams.status()
    if table.height == 0:
        print(f"No streams in {ws.path}. Create one with `workbench streams create` or ws.create_stream().")
    for r in table.iter_rows(named=True):
        print(f"{r['stream']}: {r['target']}" + (" (paused)" if r["paused"] else ""))
        if r["target"] != "-":
            print(f"  {r['pending']} pending, {r['sent']} sent, {r['failed']} failed; "
                  f"{r['failed_attempts']} failed attempts" + (f"; last error: {r['last_error']}" if r["last_error"] else ""))
    return 0


def _create_stream(ws, args) -> int:
    command = shlex.split(args.command) if args.command else None
    stream = ws.create_stream(args.name, trackers=args.tracker or None, filters=_filters(ws, args),
                              date_from=args.date_from, date_to=args.date_to, text=args.text, match=args.match,
                              min_mentions=args.min_mentions, webhook=args.webhook, command=command,
                              allow_private=args.allow_private)
    told = (f"are sent to the {describe_target(stream)}" if stream.webhook or stream.command
            else f"are listed by `workbench stream {shlex.quote(stream.name)}`")
    print(f"Created stream '{stream.name}': {stream.matches().height:,} calls match now (its starting point); "
          f"new calls that match {told}.")
    return 0


def send_streams_detached(ws) -> None:
    """Send the notifications an import queued from a process of their own, so that the command
    that imported exits at once instead of waiting on a webhook (its output goes nowhere;
    `workbench streams` shows how the deliveries went)."""
    if ws.services.streams.outbox.rows.pending_count() == 0:
        return
    subprocess.Popen([sys.executable, "-m", "workbench.cli.app", "-w", str(ws.path), "streams", "send", "--quiet"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def cmd_bundle(args) -> int:
    from workbench.activation import bundles

    ws = open_workspace(args)
    if args.bundle_command == "export":
        print(f"Wrote {ws.tracker(args.tracker).export_bundle(args.file, version=args.version)}")
    elif args.bundle_command == "import":
        # What it will add, checked as the import checks it, before anything is written.
        print(ws.preview_bundle(args.file, allow_unverified=args.allow_unverified))
        if args.dry_run:
            print("Dry run: nothing imported.")
            return 0
        t = ws.import_bundle(args.file, name=args.name, publish=not args.no_publish,
                             allow_unverified=args.allow_unverified)
        print(f"Imported '{t.name}' (version {t.published_version} published). Activate it with "
              f"`workbench backfill '{t.name}'`.")
    else:
        if not args.names:
            for name, path in bundles.pretrained().items():
                print(f"  {name}  ({path.name})")
            print("Import with `workbench bundle pretrained NAME...` or `--all`.")
            if not args.all:
                return 0
        for t in ws.import_pretrained(None if args.all else args.names):
            print(f"  '{t.name}': version {t.published_version} published")
    return 0


def _selection(p) -> None:
    p.add_argument("--tracker", action="append", help="an activated tracker (repeat for several)")
    p.add_argument("--filter", action="append", metavar="COLUMN=VALUE", help=FILTER_HELP)
    p.add_argument("--from", dest="date_from", default=None, help="first day, e.g. 2026-01-01")
    p.add_argument("--to", dest="date_to", default=None, help="last day (included)")


def _register_board(sub) -> None:
    """The initiative board and a deal's activity (notebook 7's two views)."""
    p = sub.add_parser("board", help="the initiative board: share of calls that mention each tracker per month, team or rep")
    _selection(p)
    p.add_argument("--by", choices=("month", "team", "rep"), default="month")
    p.set_defaults(func=cmd_board)

    p = sub.add_parser("deal", help="one deal's calls in time order with the trackers' mentions (calls need deal_id)")
    p.add_argument("deal_id", nargs="?", default=None, help="the deal; none lists the deals")
    p.add_argument("--tracker", action="append", help="an activated tracker (repeat for several; default all)")
    p.set_defaults(func=cmd_deal)


def _register_streams(sub) -> None:
    p = sub.add_parser("streams", help="every stream's notifications: pending, sent, failed (and why); send the due ones")
    ssub = p.add_subparsers(dest="streams_command", metavar="ACTION")
    s = ssub.add_parser("send", help="send the queued notifications now, each within its deadline (retries are due "
                                     "after a backoff; run this from cron to keep retrying)")
    s.add_argument("--deadline", type=float, default=None, help="seconds for each webhook's whole exchange (default 15)")
    s.add_argument("--quiet", action="store_true")
    s = ssub.add_parser("create", help="save a search as a stream, optionally with a webhook or a command to tell")
    s.add_argument("name")
    _selection(s)
    s.add_argument("--text", default=None, help="words that must appear in one sentence (case-insensitive)")
    s.add_argument("--match", choices=("all", "any"), default="all", help="every tracker (default) or any of them")
    s.add_argument("--min-mentions", type=int, default=1)
    s.add_argument("--webhook", default=None, help="URL that gets the new calls as JSON (POST) after each import")
    s.add_argument("--command", default=None, help="command that gets the new calls as JSON on its standard input")
    s.add_argument("--allow-private", action="store_true",
                   help="let the webhook reach an internal, loopback or link-local address")
    s = ssub.add_parser("delete", help="delete a stream (its queued notifications go with it)")
    s.add_argument("name")
    for action, what in (("pause", "stop sending a stream's new calls (they are still listed)"),
                         ("resume", "send a paused stream's new calls again, from now on")):
        ssub.add_parser(action, help=what).add_argument("name")
    s = ssub.add_parser("allow-private", help="let a stream's webhook reach an internal, loopback or link-local "
                                              "address (a receiver on this machine or network)")
    s.add_argument("name")
    s.add_argument("--refuse", action="store_true", help="refuse such addresses again (the default)")
    p.set_defaults(func=cmd_streams)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the activation, publishing, results and bundle subcommands to the `workbench` parser."""
    p = sub.add_parser("backfill", help="activate a tracker: apply its published version to past calls and new ones",
                       description="Apply the tracker's published version to the last N months of calls and, from "
                                   "now on, to every imported call. Shows what it covers and how long it takes first.")
    p.add_argument("tracker", help="tracker name")
    p.add_argument("--months", type=int, default=12, help="months of history to score, 0 (upcoming only) to 12")
    p.add_argument("--as-of", default=None, help="the day the months count back from (default: today)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local (default): a matrix product here; spark: through Spark (pip extra 'spark')")
    p.add_argument("--spark-master", default=None,
                   help="Spark master URL (default $SPARK_MASTER, else local[*]); set $WORKBENCH_SPARK_STAGING to a "
                        "folder every executor can reach when it is a cluster")
    p.add_argument("--from-texts", action="store_true",
                   help="with --engine spark: the executors embed every sentence's text and score it in one pass "
                        "(sentences not embedded here go as texts anyway)")
    p.add_argument("--dry-run", action="store_true", help="only show what the backfill covers")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("deactivate", help="stop scoring new calls with a tracker (keeps its results)")
    p.add_argument("tracker")
    p.set_defaults(func=cmd_deactivate)

    p = sub.add_parser("publish", help="show what changes on the history, then publish a tracker's latest version",
                       description="Print the unpublished changes and the diff (mentions gained and lost per team and "
                                   "month, with examples), then move the 'published' alias and re-apply.")
    p.add_argument("tracker")
    p.add_argument("--version", type=int, default=None, help="version to publish (default: the latest trained)")
    p.add_argument("--diff-only", action="store_true", help="show the diff, publish nothing")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_publish)


    p = sub.add_parser("search", help="find calls by tracker mentions, call filters, dates and free text")
    _selection(p)
    p.add_argument("--text", default=None, help="words that must appear in one sentence (case-insensitive)")
    p.add_argument("--match", choices=("all", "any"), default="all", help="every tracker (default) or any of them")
    p.add_argument("--min-mentions", type=int, default=1)
    p.add_argument("--sentences", type=int, default=10, help="matching sentences to print (0: none)")
    p.set_defaults(func=cmd_search)

    _register_board(sub)

    p = sub.add_parser("export", help="export detections (CSV/Parquet) or the calls API document (JSON)")
    _selection(p)
    p.add_argument("--out", type=Path, required=True, help="output file; '-' writes the JSON document to stdout")
    p.add_argument("--format", choices=("csv", "parquet", "json"), default=None, help="default: from the suffix")
    p.add_argument("--per", choices=("sentence", "call"), default="sentence",
                   help="CSV/Parquet: one row per detected sentence (default) or per call and tracker")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stream", help="the new calls of a saved search (ws.create_stream); marks them read")
    p.add_argument("name")
    p.set_defaults(func=cmd_stream)

    _register_streams(sub)

    p = sub.add_parser("bundle", help="export and import trackers as bundles; import the pre-trained demo trackers")
    bsub = p.add_subparsers(dest="bundle_command", metavar="ACTION")
    bsub.required = True
    b = bsub.add_parser("export", help="write a tracker as a .tracker.zip bundle")
    b.add_argument("tracker")
    b.add_argument("file", type=Path)
    b.add_argument("--version", type=int, default=None, help="default: the published version, else the latest")
    b = bsub.add_parser("import", help="create a tracker from a bundle (published, ready to activate)")
    b.add_argument("file", type=Path)
    b.add_argument("--name", default=None, help="import under another name")
    b.add_argument("--no-publish", action="store_true")
    b.add_argument("--dry-run", action="store_true", help="show what the bundle would add, check it, import nothing")
    b.add_argument("--allow-unverified", action="store_true",
                   help="accept a bundle without checksums.json (made by an older workbench); it is still read as data only")
    b = bsub.add_parser("pretrained", help="list the shipped pre-trained trackers, or import some")
    b.add_argument("names", nargs="*")
    b.add_argument("--all", action="store_true", help="import all of them")
    p.set_defaults(func=cmd_bundle)
