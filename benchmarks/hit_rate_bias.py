"""Why the honest hit rate runs low: its missed and detected positives, band by band, against the truth.

Runs the benchmark's own loop (tracker_quality.run_tracker on an ActiveLearningSession, the 5
examples and 4 rounds), then re-runs the session's honest estimate with its band draws kept, and
compares per score band: the unknown units U_b, their true positives, the estimate's mean count,
the prior's calibrated mean rate (the calibration alone) and the probe's 1/pi-weighted rate (the
random tags alone). Seeds 0-11 only (diagnosis). Writes JSON lines to --out.

    PYTHONPATH=$PWD python benchmarks/hit_rate_bias.py --corpus multidogo --seeds 0 1 --out /tmp/x.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).parent))
import tracker_quality as tq  # noqa: E402
from _corpora import (DATASETS, concept_scope, each_concept, load_corpus, pick_examples,  # noqa: E402
                      utterance_truth)
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.duplicates import text_codes  # noqa: E402
from workbench.training.estimate import bands as bands_mod  # noqa: E402
from workbench.training.estimate import honest as honest_mod  # noqa: E402
from workbench.training.estimate.combine import configured_estimators  # noqa: E402
from workbench.training.estimate.units import turn_codes  # noqa: E402

CAPTURE: dict = {}

def _capturing_band_totals(bands, tp_known, fn_known, cal_draws, prior_sd, rng, *, detected_prior_sd=None,
                           tail_shift_sd=0.0, max_tail_slope=None, condition_tail=False):
    """bands.band_totals, keeping each band's draws (the same code, the same random stream)."""
    sd = np.where(bands.detected, prior_sd if detected_prior_sd is None else detected_prior_sd, prior_sd)
    centres = bands_mod.prior_centres(bands, cal_draws, sd, max_tail_slope)
    prior_mean = expit(centres)  # not the mean; the mean-matched q is recomputed below
    if tail_shift_sd > 0:
        centres = centres + np.where(bands.detected, 0.0, tail_shift_sd)[None, :] * rng.standard_normal(
            (len(cal_draws), 1))
    if condition_tail:
        centres = bands_mod.tail_conditioned(bands, centres, sd, rng)
    p = bands_mod.posterior_rates(bands, centres, sd, rng)
    counts = rng.binomial(bands.unknown.astype(np.int64)[None, :].repeat(len(cal_draws), 0), p)
    # The calibration's own mean rate per band (what the prior's mean is matched to).
    q = np.empty((len(cal_draws), bands.representatives.shape[0]))
    for d, (a, b, (a2, b2)) in enumerate(cal_draws):
        if max_tail_slope is not None:
            a = min(a, max_tail_slope)
        rep = bands.representatives
        q[d] = np.where(rep > 0, expit(a2 * rep + b2), expit(a * rep + b)).mean(axis=1)
    CAPTURE.update(bands=bands, counts=counts, q=q, p=p, tp_known=tp_known, fn_known=fn_known,
                   slope=np.array([c[0] for c in cal_draws]), prior_median=prior_mean)
    tp = tp_known + counts[:, bands.detected].sum(axis=1)
    fn = fn_known + counts[:, ~bands.detected].sum(axis=1)
    return np.column_stack([tp, fn]).astype(float)


_orig_from_units = honest_mod.HonestEstimate._from_units


def _capturing_from_units(self, units, unit):
    CAPTURE["units"] = units
    return _orig_from_units(self, units, unit)


honest_mod.band_totals = _capturing_band_totals
honest_mod.HonestEstimate._from_units = _capturing_from_units


def diagnose_run(session, utt_key, utt_truth, dup_codes) -> dict:
    """Re-run the session's honest estimate with its draws kept; compare band by band."""
    _, honest = configured_estimators(**session._estimator_params())
    _, shown, tag_round, inclusion_prob = session._own
    CAPTURE.clear()
    fig = honest.estimate(session.embeddings, session.answers, session.model(), scores=session.scores(),
                          excluded=shown, tag_round=tag_round, inclusion_prob=inclusion_prob, groups=session.turns,
                          example_embeddings=session.example_embeddings, held_out=session.held_out())
    units, bands = CAPTURE["units"], CAPTURE["bands"]
    inv = turn_codes(utt_key)
    G = int(inv.max()) + 1
    truth_u = np.zeros(G, bool)
    truth_u[inv] = utt_truth[utt_key]
    # Turns holding a copy of a text the user tagged (its other copies are estimated as unknown).
    tagged_codes = np.unique(dup_codes[session.answers >= 0])
    copy_sent = np.isin(dup_codes, tagged_codes) & (session.answers < 0)
    copy_u = np.zeros(G, bool)
    copy_u[inv[copy_sent]] = True
    known = units.shown & (units.labels >= 0)
    unk = np.flatnonzero(~known)
    b_of = np.searchsorted(bands.edges, units.scores[unk], side="left")
    B = bands.edges.size + 1
    true_b = np.bincount(b_of, truth_u[unk], minlength=B)
    copies_b = np.bincount(b_of, copy_u[unk], minlength=B)
    copies_pos_b = np.bincount(b_of, copy_u[unk] & truth_u[unk], minlength=B)
    counts = CAPTURE["counts"]
    band_rows = []
    for b in range(B):
        band_rows.append({
            "detected": bool(bands.detected[b]), "U": float(bands.unknown[b]), "true": float(true_b[b]),
            "est_mean": float(counts[:, b].mean()), "est_median": float(np.median(counts[:, b])),
            "calib_mean": float(bands.unknown[b] * CAPTURE["q"][:, b].mean()),
            "probe_n_eff": float(bands.n_eff[b]), "probe_k_eff": float(bands.k_eff[b]),
            "copies": float(copies_b[b]), "copies_true": float(copies_pos_b[b]),
        })
    det_truth = truth_u & units.detected
    return {
        "tp_true": int(det_truth.sum()), "fn_true": int((truth_u & ~units.detected).sum()),
        "tp_known": CAPTURE["tp_known"], "fn_known": CAPTURE["fn_known"],
        "hit_rate": {"value": fig.hit_rate.value, "low": fig.hit_rate.low, "high": fig.hit_rate.high},
        "precision": {"value": fig.precision.value, "low": fig.precision.low, "high": fig.precision.high},
        "slope_median": float(np.median(CAPTURE["slope"])), "slope_capped": float(np.mean(CAPTURE["slope"] > 2.0)),
        "bands": band_rows, "n_probe": fig.n_probe_tags,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    ap.add_argument("--concept", default=None)
    ap.add_argument("--estimate-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if any(s > 11 for s in args.seeds):
        raise SystemExit("diagnosis on seeds 0-11 only")
    tq.ESTIMATE_PARAMS.update(tq.key_values(args.estimate_param))
    cache = TextEmbeddingCache()
    corpora = [load_corpus(d, cache, tq.DEFAULT_NORMALISATION) for d in sorted(DATASETS.iterdir())
               if (d / "concepts.json").exists() and args.corpus in d.name]
    with args.out.open("a") as out:
        for corpus, concept in each_concept(corpora, args.concept):
            scope = concept_scope(corpus, concept)
            utt_key_all = corpus.sentences["utt_key"].to_numpy()
            utt_key = utt_key_all[scope]
            utt_truth = utterance_truth(corpus, concept)
            truth_sent = utt_truth[utt_key]
            n_sent_in_utt = np.bincount(utt_key_all, minlength=len(corpus.utt_labels))
            texts = corpus.sentences["text"].to_numpy()[scope]
            call_ids = corpus.sentences["call_id"].to_numpy()[scope]
            dup = text_codes(texts)
            X = corpus.embeddings[scope]
            for seed in args.seeds:
                examples = pick_examples(truth_sent, utt_key, n_sent_in_utt, seed)
                session = tq.new_session(X, examples, seed, None, call_ids=call_ids, groups=utt_key, duplicates=dup)
                tq.run_tracker(session, truth_sent)
                if session.model() is None:
                    continue
                row = {"corpus": corpus.name, "concept": concept["name"], "seed": seed,
                       **diagnose_run(session, utt_key, utt_truth, dup)}
                out.write(json.dumps(row) + "\n")
                out.flush()
                h = row["hit_rate"]
                print(f"{concept['name'][:30]:30s} {seed}: hr true {row['tp_true']/(row['tp_true']+row['fn_true']):.2f} "
                      f"est {h['value']:.2f} [{h['low']:.2f},{h['high']:.2f}]", flush=True)


if __name__ == "__main__":
    main()
