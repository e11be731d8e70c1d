"""``python -m workbench.demo OUT_DIR [--calls N] [--seed S] [--end-date YYYY-MM-DD]``."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from workbench.demo.generator import generate_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.demo",
        description="Write a synthetic, seeded corpus of sales calls with ground-truth labels.",
    )
    parser.add_argument("out_dir", help="folder to write calls, utterances, labels and concepts into")
    parser.add_argument("--calls", type=int, default=600, help="number of calls (default 600)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--end-date", type=dt.date.fromisoformat, default=None,
        help="calls are dated in the 12 months before this day, YYYY-MM-DD (default today, UTC)",
    )
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")

    paths = generate_demo(args.out_dir, n_calls=args.calls, seed=args.seed, end_date=args.end_date)
    concepts = json.loads(paths.concepts.read_text(encoding="utf-8"))
    print(f"Wrote {args.calls} synthetic calls to {paths.out_dir}")
    for c in concepts:
        print(f"  {c['name']:<38} {c['positives']:>5} positives ({c['prevalence']:.2%} of {c['mentioned_by']} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
