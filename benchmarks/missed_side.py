"""The honest estimate's options for the missed side, on the benchmark's own sessions.

Runs the benchmark's loop once per run with the default estimator (tracker_quality.new_session /
run_tracker: 5 examples, 4 rounds answered from the labels, ActiveLearningSession), then
re-runs the session's honest estimate (``HonestEstimate.estimate`` on the session's own arrays,
as ``hit_rate_bias.py`` does) under each option set given, and reports per corpus the coverage
of the 90% intervals, their median width, the bias and the share within +-0.10 (hit rate) and
the precision's coverage and width. The defaults reproduce tracker_quality.json exactly.

What it does not show: where the model's threshold leans on the estimate (the bound's count,
``TrackerModel(positives_from="estimate_median")``, while a tracker has fewer than 30 YES
texts: the speech corpus), an option moves the model too; there tracker_quality.py with
``--estimate-param`` is the measure. Seeds 0-11 only (choosing settings).

    PYTHONPATH=$PWD python benchmarks/missed_side.py --corpus mrda \
        --options '{}' '{"missed_fit": "line"}' --out /tmp/missed.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tracker_quality as tq  # noqa: E402
from _corpora import DATASETS, concept_scope, each_concept, load_corpus, pick_examples, utterance_truth  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.duplicates import text_codes  # noqa: E402
from workbench.training.estimate.combine import configured_estimators  # noqa: E402
from workbench.training.estimate.units import turn_codes  # noqa: E402


def estimates(session, options: list[dict]) -> list[dict]:
    """The session's honest precision and hit rate under each option set."""
    _, shown, tag_round, inclusion_prob = session._own
    out = []
    for opts in options:
        _, honest = configured_estimators(**{**session._estimator_params(), **opts})
        f = honest.estimate(session.embeddings, session.answers, session.model(), scores=session.scores(),
                            excluded=shown, tag_round=tag_round, inclusion_prob=inclusion_prob, groups=session.turns,
                            example_embeddings=session.example_embeddings, held_out=session.held_out())
        out.append({name: [fig.value, fig.low, fig.high] for name, fig in
                    (("precision", f.precision), ("hit_rate", f.hit_rate))})
    return out


def summary(rows: list[dict], k: int) -> str:
    """One line of figures for option set ``k`` over ``rows``."""
    hr = np.array([r["estimates"][k]["hit_rate"] for r in rows])
    pr = np.array([r["estimates"][k]["precision"] for r in rows])
    t_hr, t_p = np.array([r["true_hit_rate"] for r in rows]), np.array([r["true_precision"] for r in rows])
    cov = np.mean((hr[:, 1] - 1e-9 <= t_hr) & (t_hr <= hr[:, 2] + 1e-9))
    above = np.mean(t_hr > hr[:, 2] + 1e-9)
    pcov = np.mean((pr[:, 1] - 1e-9 <= t_p) & (t_p <= pr[:, 2] + 1e-9))
    return (f"n {len(rows)} | hit rate: coverage {cov:.2f} (above {above:.2f}), width {np.median(hr[:, 2] - hr[:, 1]):.3f}"
            f" (p90 {np.quantile(hr[:, 2] - hr[:, 1], 0.9):.3f}), bias {np.mean(hr[:, 0] - t_hr):+.3f}, within 0.10 "
            f"{np.mean(np.abs(hr[:, 0] - t_hr) <= 0.10):.2f} | precision: coverage {pcov:.2f}, width "
            f"{np.median(pr[:, 2] - pr[:, 1]):.3f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    ap.add_argument("--options", nargs="+", default=["{}"], help="JSON option sets of HonestEstimate")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if any(s > 11 for s in args.seeds):
        raise SystemExit("seeds 0-11 only")
    options = [json.loads(o) for o in args.options]
    cache = TextEmbeddingCache()
    corpora = [load_corpus(d, cache, tq.DEFAULT_NORMALISATION) for d in sorted(DATASETS.iterdir())
               if (d / "concepts.json").exists() and args.corpus in d.name]
    rows = []
    with args.out.open("a") as out:
        for corpus, concept in each_concept(corpora, None):
            scope = concept_scope(corpus, concept)
            utt_key_all = corpus.sentences["utt_key"].to_numpy()
            utt_key = utt_key_all[scope]
            truth_sent = utterance_truth(corpus, concept)[utt_key]
            n_sent_in_utt = np.bincount(utt_key_all, minlength=len(corpus.utt_labels))
            dup = text_codes(corpus.sentences["text"].to_numpy()[scope])
            X = corpus.embeddings[scope]
            inv = turn_codes(utt_key)
            truth_u = np.zeros(int(inv.max()) + 1, bool)
            truth_u[inv] = truth_sent
            for seed in args.seeds:
                examples = pick_examples(truth_sent, utt_key, n_sent_in_utt, seed)
                session = tq.new_session(X, examples, seed, None, call_ids=corpus.sentences["call_id"].to_numpy()[scope],
                                         groups=utt_key, duplicates=dup)
                tq.run_tracker(session, truth_sent)
                if session.model() is None:
                    continue
                det_u = np.zeros(truth_u.size, bool)
                det_u[inv[session.scores() > 0]] = True
                tp = int((truth_u & det_u).sum())
                row = {"corpus": corpus.name, "concept": concept["name"], "seed": seed,
                       "true_hit_rate": tp / max(int(truth_u.sum()), 1), "true_precision": tp / max(int(det_u.sum()), 1),
                       "options": options, "estimates": estimates(session, options)}
                rows.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
    for name in sorted({r["corpus"] for r in rows}):
        for k, opts in enumerate(options):
            print(f"{name:15s} {json.dumps(opts):60s} {summary([r for r in rows if r['corpus'] == name], k)}")


if __name__ == "__main__":
    main()
