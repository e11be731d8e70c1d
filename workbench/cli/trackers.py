"""`workbench tracker …`, `workbench tag`, `workbench train`: the tracker workflow from a terminal."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli.common import open_workspace
from workbench.core.csv_cells import write_spreadsheet_safe_csv
from workbench.core.errors import ValidationError
from workbench.trackers.bundle_figures import KEYWORDS_NEED_A_VERSION_HERE
from workbench.trackers.examples import examples_needed
from workbench.trackers.filters import FILTER_HELP, parse_filters
from workbench.trackers.rounds import TaggingSession
from workbench.trackers.summary import candidate_text, performance_text
from workbench.training.verification import VerificationGoal


def _call_part(args) -> Any:
    if args.first and args.last:
        raise ValidationError("call_part", "--first and --last exclude each other", "Give one of them.")
    if args.first:
        return ("first", args.first)
    if args.last:
        return ("last", args.last)
    return "anytime"


def _read_lines(path: str) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def cmd_create(args) -> int:
    ws = open_workspace(args)
    examples = list(args.example or []) + (_read_lines(args.examples_file) if args.examples_file else [])
    t = ws.create_tracker(args.name, description=args.description or "", mentioned_by=args.mentioned_by,
                          filters=parse_filters(args.filter, dict(ws.calls.schema)), call_part=_call_part(args),
                          channels=args.channels, examples=examples or None, seed=args.seed)
    print(f"Created {t!r} with {len(t.examples)} examples; {t.scope().height:,} sentences in scope.")
    missing = examples_needed(t.examples)
    if missing:
        print(f"Add {missing} more example(s) before the first round: workbench tracker examples '{t.name}' --add '...'")
    return 0


def cmd_keyword(args) -> int:
    ws = open_workspace(args)
    phrases = list(args.phrase or []) + (_read_lines(args.phrases_file) if args.phrases_file else [])
    if args.from_examples_of:
        if phrases:
            raise ValidationError("--from-examples-of", "takes the phrases from that tracker's examples",
                                  "Leave out --phrase and --phrases-file, or leave out --from-examples-of.")
        kt = ws.tracker(args.from_examples_of).create_keyword_baseline(args.name)
        det = kt.detections(all_sentences=False)
        print(f"Created {kt!r} from the examples of '{args.from_examples_of}' (its side, filters and part of "
              f"the call), phrases {', '.join(kt.phrases)}: {det.height:,} sentences in "
              f"{det['call_id'].n_unique():,} calls match.")
        return 0
    kt = ws.create_keyword_tracker(args.name, phrases, related_forms=args.related_forms,
                                   question_only=args.question_only, mentioned_by=args.mentioned_by,
                                   filters=parse_filters(args.filter, dict(ws.calls.schema)),
                                   call_part=_call_part(args), channels=args.channels)
    det = kt.detections(all_sentences=False)
    print(f"Created {kt!r}: {det.height:,} sentences in {det['call_id'].n_unique():,} calls match.")
    return 0


def cmd_examples(args) -> int:
    t = open_workspace(args).tracker(args.name)
    added = t.add_examples(list(args.add or []) + (_read_lines(args.file) if args.file else []))
    print(f"Added {len(added)}; '{t.name}' has {len(t.examples)} examples:")
    for e in t.examples:
        print(f"  - {e}")
    return 0


def cmd_list(args) -> int:
    ws = open_workspace(args)
    trackers = ws.trackers()
    if not trackers:
        print("No trackers yet: `workbench tracker create NAME ...`")
    for t in trackers:
        extra = ""
        if t.kind == "smart":
            cur = t.current_round()
            extra = f", round {cur.number} ({cur.progress})" if cur else ", no rounds yet"
            extra += f", {t.versions().height} versions"
        print(f"{t.name}  [{t.kind}] {t.definition.describe_scope()}{extra}")
        if t.description:
            print(f"    {t.description}")
    return 0


def cmd_rename(args) -> int:
    t = open_workspace(args).rename_tracker(args.name, args.new_name)
    print(f"Renamed '{args.name}' to '{t.name}': its examples, tags, versions, results and streams follow.")
    return 0


def overview_text(t) -> str:
    """The performance overview in plain text: figures, learning curve, what they say and what to do."""
    advice = t.scope_advice()
    return (performance_text(t.performance(), t.learning_curve(), t.diagnosis(), basis=t.figures_basis())
            + (f"\n{advice}" if advice else ""))


def cmd_show(args) -> int:
    t = open_workspace(args).tracker(args.name)
    print(repr(t))
    if t.kind == "keyword":
        print("phrases: " + ", ".join(t.phrases))
        return 0
    print(f"description: {t.description}")
    print("examples:\n" + "\n".join(f"  - {e}" for e in t.examples))
    v = t.versions()
    if v.height:
        print(v)
        print(overview_text(t))
    return 0


def _tag_round(session) -> bool:
    """Prompt for each untagged candidate of the session's round; False when the user quits."""
    keys = {"y": "yes", "n": "no", "s": "not_sure"}
    while not session.round.complete:
        c = session.candidate
        print(f"\n[{session.round.progress}]" + (f" (tagged {c.answer})" if c.answer else ""))
        print(candidate_text(c))
        try:
            key = input("YES (y) / NO (n) / NOT SURE (s) / back (b) / quit (q): ").strip().lower()
        except EOFError:
            key = "q"
        if key == "q":
            return False
        if key == "b":
            session.cursor.back()
        elif key in keys:
            session.answer(keys[key])
        else:
            print("Type y, n, s, b or q.")
    return True


def cmd_tag(args) -> int:
    """Tag in the terminal: y / n / s (not sure), b (back), q (quit, tags are already saved).

    The same session as the tagging screen: it resumes the round in progress, or trains a
    round that was tagged to the end but never trained, before it starts a new one."""
    t = open_workspace(args).tracker(args.name)
    if args.until is not None:
        return _verify_until(t, args.until, args.verify)
    session = TaggingSession(t, verify=args.verify)
    for number in range(args.rounds):
        if number:
            session.open(verify=args.verify)
        if not _tag_round(session):
            print("Stopped; every tag so far is saved. `workbench tag` continues this round.")
            return 0
        result = session.finish()
        if result is None:
            print(f"\nRound {session.round.number} tagged. {session.no_model_yet()}")
            continue
        print(f"\nRound {session.round.number} done: model version {result.version} "
              f"({result.n_yes} YES, {result.n_no} NO, {result.n_not_sure} NOT SURE).")
        print(overview_text(t))
    return 0


def _verify_until(t, goal: VerificationGoal, size: int) -> int:
    """`workbench tag NAME --verify --until precision=0.05`: how many more tags it will likely
    take, then verification rounds (each trained) until the round comes back empty."""
    print(t.verification_need(**goal.asked).describe())
    session = TaggingSession(t, verify=size, until=goal)
    while len(session.round):
        if not _tag_round(session):
            print("Stopped; every tag so far is saved. `workbench tag --verify --until` continues this round.")
            return 0
        result = session.finish()
        print(f"\nRound {session.round.number} done: model version {result.version}.")
        print(t.verification_need(**goal.asked).describe())
        session.open(verify=size, until=goal)
    print(overview_text(t))
    return 0


def _accuracy(text: str) -> VerificationGoal:
    """--until's value, or argparse's error naming what to write."""
    try:
        return VerificationGoal.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_train(args) -> int:
    t = open_workspace(args).tracker(args.name)
    if args.deep:
        return _train_deep(t)
    result = t.train()
    print(f"Trained '{t.name}': model version {result.version} after round {result.round_number}.")
    print(overview_text(t))
    return 0


def _train_deep(t) -> int:
    """`workbench train NAME --deep`: the time estimate first, a bar per stage, then the comparison."""
    from tqdm.auto import tqdm

    print(f"Deep training of '{t.name}' takes {t.deep_training_estimate().describe()}.", flush=True)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=stage.capitalize(), unit="step" if stage == "fine-tuning"
                                     else "sentence", dynamic_ncols=True)
        bar.update(done - bar.n)

    try:
        result = t.train(deep=True, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    comparison = t.deep_comparison()
    print(f"Trained '{t.name}' with its own fine-tuned encoder: model version {result.version} after round "
          f"{result.round_number}.")
    print(comparison.text())
    print(f'To score calls with it: workbench publish "{t.name}" --version {result.version}')
    return 0


def cmd_performance(args) -> int:
    from workbench.trackers.plots import performance_figure
    t = open_workspace(args).tracker(args.name)
    est, curve = t.performance(), t.learning_curve()
    print(performance_text(est, curve, t.diagnosis(), t.truth(), t.figures_basis()))
    learnt = t.yes_learnt_from()
    if learnt.height:
        print(f"\n{learnt.height} YES tag(s) learnt from another sentence of their speaker turn, the one the model "
              "scores highest:")
        for row in learnt.head(5).iter_rows(named=True):
            print(f"  YES on \"{row['text']}\"  ->  learnt from \"{row['learnt_from_text']}\"")
        if learnt.height > 5:
            print(f"  ... and {learnt.height - 5} more (t.yes_learnt_from())")
    print()
    keywords = t.keyword_comparison()
    print(keywords.text() if keywords is not None else KEYWORDS_NEED_A_VERSION_HERE)
    deep = t.deep_comparison()
    if deep is not None:
        print("\n" + deep.text())
    samples = t.sample_detections()
    print(f"\n{samples.height} sample detections from the calls (not from the tags):")
    for row in samples.iter_rows(named=True):
        print(f"  {row['score']:+.2f}  {row['text']}")
    if args.plot:
        performance_figure(est, curve).savefig(args.plot, dpi=120)
        print(f"Plot written to {args.plot}")
    return 0


def cmd_detections(args) -> int:
    t = open_workspace(args).tracker(args.name)
    det = t.detections(all_sentences=args.all)
    out = Path(args.out)
    if out.suffix == ".parquet":
        det.write_parquet(out)
    elif out.suffix == ".csv":
        write_spreadsheet_safe_csv(det, out)  # formula-like cells start with ', as in every CSV export
    else:
        raise ValidationError("--out", f"'{out.name}' is neither .csv nor .parquet", "Name a .csv or .parquet file.")
    print(f"Wrote {det.height:,} rows to {out}")
    return 0


def _scope_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mentioned-by", choices=["company", "customer", "any"], default="any",
                   help="which side says it (default: any)")
    p.add_argument("--filter", action="append", metavar="COLUMN=VALUE", help=FILTER_HELP + " (default: is_external=true)")
    p.add_argument("--first", type=float, metavar="MIN", help="only the first MIN minutes of each call")
    p.add_argument("--last", type=float, metavar="MIN", help="only the last MIN minutes of each call")
    p.add_argument("--channels", choices=["calls", "calls_and_emails"], default="calls")


def register(sub) -> None:
    tracker = sub.add_parser("tracker", help="create, list and show trackers; add examples")
    tsub = tracker.add_subparsers(dest="tracker_command", metavar="ACTION")
    tsub.required = True

    p = tsub.add_parser("create", help="define a smart tracker")
    p.add_argument("name")
    p.add_argument("--description", help="what the concept is, in words (helps the first rounds)")
    p.add_argument("--example", action="append", help="an example sentence, repeatable (up to 100; the first round needs 5)")
    p.add_argument("--examples-file", help="a text file with one example sentence per line")
    p.add_argument("--seed", type=int, default=0)
    _scope_args(p)
    p.set_defaults(func=cmd_create)

    p = tsub.add_parser("keyword", help="define a keyword tracker (exact words and phrases)")
    p.add_argument("name")
    p.add_argument("--phrase", action="append", help="a word or phrase, repeatable")
    p.add_argument("--phrases-file", help="a text file with one phrase per line")
    p.add_argument("--related-forms", action="store_true", help="also match other forms (discount -> discounted)")
    p.add_argument("--question-only", action="store_true", help="only when said as part of a question")
    p.add_argument("--from-examples-of", metavar="TRACKER",
                   help="the keywords of a smart tracker's examples (its keyword baseline), with its scope")
    _scope_args(p)
    p.set_defaults(func=cmd_keyword)

    p = tsub.add_parser("examples", help="add example sentences to a tracker")
    p.add_argument("name")
    p.add_argument("--add", action="append", help="an example sentence, repeatable")
    p.add_argument("--file", help="a text file with one example per line")
    p.set_defaults(func=cmd_examples)

    p = tsub.add_parser("rename", help="give a tracker a new name (tags, versions, results and streams follow)")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_rename)

    tsub.add_parser("list", help="the workspace's trackers").set_defaults(func=cmd_list)
    p = tsub.add_parser("show", help="a tracker's definition, examples, versions and performance")
    p.add_argument("name")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("tag", help="tag rounds in the terminal (y/n/s, b to go back, q to stop)")
    p.add_argument("name")
    p.add_argument("--rounds", type=int, default=1, help="how many rounds to tag now (default 1)")
    p.add_argument("--verify", type=int, nargs="?", const=20, default=0, metavar="N",
                   help="tag a verification round instead: N random detections (default 20), which the "
                        "honest estimate takes as random tags")
    p.add_argument("--until", type=_accuracy, default=None, metavar="ACCURACY",
                   help="verify until sure: rounds of random tags until the 90%% interval is this narrow, e.g. "
                        "precision=0.05 or hit_rate=0.10 (or both, comma-separated); says first how many more "
                        "tags that will likely take")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("train", help="train on every tag so far: a new model version in MLflow")
    p.add_argument("name")
    p.add_argument("--deep", action="store_true",
                   help="fine-tune the tracker's own copy of the encoder on its tags first, then re-embed its "
                        "scope (minutes; prints the time estimate first)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("performance", help="the performance overview: precision, hit rate, samples")
    p.add_argument("name")
    p.add_argument("--plot", help="also write the figure to this PNG file")
    p.set_defaults(func=cmd_performance)

    p = sub.add_parser("detections", help="write the current model's detections to CSV or Parquet")
    p.add_argument("name")
    p.add_argument("--out", required=True, help="a .csv or .parquet file")
    p.add_argument("--all", action="store_true", help="every sentence in scope with its score, not only detections")
    p.set_defaults(func=cmd_detections)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run `workbench --help`")
