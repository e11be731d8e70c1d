"""Why the precision interval after verify-until-sure undercovers: its error split, run by run.

Runs verify_until.py's own loop (tracker_quality's 5 examples and 4 rounds of 25 on an
ActiveLearningSession, then ``plan_verification(precision=0.05)`` rounds answered from the
labels until the round is empty), keeping each verification round's frame (the turns the
model detected when it was drawn). At the end it re-runs the session's honest estimate with
its units and bands kept, and splits the precision's error, est - truth:

* unit: the truth (utterances of the scope detected by the final model) against the
  estimator's own count of the same (its turns): ``truth_units - truth``;
* known: the tags that count as themselves, against their truth (copies, NOT SURE);
* unknown: the detected units nobody tagged, U_det (p_hat - p_true): what the band learns.

and the band's evidence by where it comes from: the learning rounds' probe tags (drawn from
an earlier model's detections, weighed by probe size) and the verification rounds' tags;
the tags read in the detected band (by out-of-fold score) and where their frame lies.
Then the same final state under counterfactual estimates (``CASES``): which input, left
out or reweighted, brings the interval back over the truth.

    PYTHONPATH=$PWD python benchmarks/verify_bias.py --corpus multidogo --seeds 0 1 --out /tmp/x.jsonl
    PYTHONPATH=$PWD python benchmarks/verify_bias.py --summarise /tmp/x.jsonl   # the tables

Seeds 0-11 only (diagnosis).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tracker_quality as tq  # noqa: E402
from _corpora import DATASETS, concept_arrays, each_concept, load_corpus, pick_examples  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.estimate import honest as honest_mod  # noqa: E402
from workbench.training.estimate.combine import configured_estimators  # noqa: E402
from workbench.training.estimate.units import turn_codes  # noqa: E402

GOAL = {"precision": 0.05}
FIRST_VERIFICATION_ROUND = tq.ROUNDS + 1
CAPTURE: dict = {}
KEEP_MODEL = False  # --keep-model-while-verifying: the session's option, the model held while verifying
_orig_from_units = honest_mod.HonestEstimate._from_units
_orig_cut_bands = honest_mod.cut_bands
_stratum_counts = honest_mod.stratum_counts


def _capturing_from_units(self, units, unit):
    CAPTURE["units"] = units
    return _orig_from_units(self, units, unit)


def _capturing_cut_bands(*args, **kw):
    CAPTURE["bands"] = _orig_cut_bands(*args, **kw)
    return CAPTURE["bands"]


honest_mod.HonestEstimate._from_units = _capturing_from_units
honest_mod.cut_bands = _capturing_cut_bands


def verify(session, truth_sent, inv, G, max_rounds=15) -> tuple[int, list[np.ndarray]]:
    """verify_until.verify_until's loop, keeping each round's frame (detected turns)."""
    extra, frames = 0, []
    for number in range(FIRST_VERIFICATION_ROUND, FIRST_VERIFICATION_ROUND + max_rounds):
        plan = session.plan_verification(number, **GOAL)
        if len(plan) == 0:
            break
        frame = np.zeros(G, bool)
        frame[inv[session.scores() > 0]] = True
        frames.append(frame)
        session.tag(plan.indices, truth_sent[plan.indices].astype(np.int8), number, plan.inclusion_prob,
                    kind=plan.kind)
        extra += len(plan)
    return extra, frames


def _honest(session, **over):
    """The session's honest estimate of its final state, with the estimate's inputs overridden."""
    params = {**session._estimator_params(), **over.pop("params", {})}
    honest_mod.stratum_counts = _exact_counts if over.pop("exact_copies", False) else _stratum_counts
    _, honest = configured_estimators(**params)
    _, shown, tag_round, inclusion_prob = session._own
    inputs = {"excluded": shown, "tag_round": tag_round, "inclusion_prob": inclusion_prob,
              "held_out": session.held_out(), **over}
    CAPTURE.clear()
    fig = honest.estimate(session.embeddings, session.answers, session.model(), scores=session.scores(),
                          groups=session.turns, example_embeddings=session.example_embeddings, **inputs)
    return fig, CAPTURE.get("units"), CAPTURE.get("bands")


def _verification_only(session) -> np.ndarray:
    """The recorded chances with the learning rounds' probe tags left out (NaN)."""
    _, _, tag_round, pi = session._own
    return np.where(tag_round >= FIRST_VERIFICATION_ROUND, pi, np.nan)


# Counterfactual estimates of the same final state: name -> overrides of _honest.
CASES = {
    "default": lambda s: {},
    "verification_only": lambda s: {"inclusion_prob": _verification_only(s)},
    "per_side": lambda s: {"params": {"round_weights": "per_side"}},
    "verification_only_per_side": lambda s: {"inclusion_prob": _verification_only(s),
                                             "params": {"round_weights": "per_side"}},
    # the fix: the detected copies of tagged texts read from their texts' tags
    "copies_from_tags": lambda s: {"copy_labels": s._labels, "texts": s._texts,
                                   "params": {"copies_from_tags": True}},
    # the same, each copy counted as its text's tag says, with no spread (issue 12's item 1 read
    # literally: "the estimate counts the copies as tagged")
    "copies_as_tagged": lambda s: {"copy_labels": s._labels, "texts": s._texts,
                                   "params": {"copies_from_tags": True}, "exact_copies": True},
}


def _exact_counts(stratum, n_draws, rng):
    """The stratum's positives as its texts' tags say (sum c_t y_t), the same in every draw."""
    return np.full(n_draws, stratum.k_eff / stratum.n_eff * stratum.size if stratum.size else 0.0)


def _hajek(w, y):
    return float((w * y).sum() / w.sum()) if w.sum() > 0 else float("nan")


def split_error(session, fig, units, bands, truth_u, frames, truth_precision) -> dict:
    """The precision's error by part (see the module docstring) and the detected band's evidence."""
    det = units.detected
    n_det = float(det.sum())
    known = units.shown & (units.labels >= 0)
    unk_det = det & ~known
    tags = units.tagged
    shown = np.flatnonzero(units.shown)
    labelled = units.labels[shown] >= 0
    probe_w, _, _ = honest_mod.probe_weights(units, shown, labelled)
    w_of = np.zeros(len(units.labels))
    w_of[shown] = probe_w
    oof_of = np.full(len(units.labels), np.nan)
    oof_of[tags] = units.oof
    tr = np.asarray(units.tag_round)
    verif = tr >= FIRST_VERIFICATION_ROUND
    in_det_band = np.zeros(len(units.labels), bool)
    in_det_band[tags] = units.oof > 0
    probe = w_of > 0
    truth_units = float((truth_u & det).sum()) / n_det
    known_tp = float(((units.labels == 1) & known & det).sum())
    known_true = float((truth_u & known & det).sum())
    unk_true = float((truth_u & unk_det).sum())
    U = float(unk_det.sum())
    b_det = bands.detected
    last_frame = frames[-1] if frames else np.zeros(len(det), bool)
    any_frame = np.any(frames, axis=0) if frames else np.zeros(len(det), bool)

    def evidence(mask):
        m = mask & probe & in_det_band
        return {"n": int(m.sum()), "w": float(w_of[m].sum()), "hajek": _hajek(w_of[m], units.labels[m]),
                "truth_rate": float(truth_u[m].mean()) if m.any() else None}

    # the unknown detections holding a copy of a tagged text (no later round can draw them)
    copy_u = np.zeros(len(det), bool)
    copy_sent = (session._labels >= 0) & ~session._own[1]
    copy_u[turn_codes(session.turns)[copy_sent]] = True
    in_c = unk_det & copy_u
    copy_yes = np.zeros(len(det), bool)
    copy_yes[turn_codes(session.turns)[copy_sent & (session._labels == 1)]] = True
    return {
        "copies_share": float(in_c.sum() / U) if U else None,
        "p_true_copies": float(truth_u[in_c].mean()) if in_c.any() else None,
        "p_tags_copies": float(copy_yes[in_c].mean()) if in_c.any() else None,
        "p_true_not_copies": float(truth_u[unk_det & ~copy_u].mean()) if (unk_det & ~copy_u).any() else None,
        "truth": truth_precision, "truth_units": truth_units, "n_det": n_det,
        "est": fig.precision.value, "low": fig.precision.low, "high": fig.precision.high,
        "err_unit": truth_units - truth_precision,
        "err_known": (known_tp - known_true) / n_det,
        "known_det": float((known & det).sum()), "U_det": U,
        "p_true_unk": unk_true / U if U else None,
        "band_hajek": float(bands.k_eff[b_det].sum() / max(bands.n_eff[b_det].sum(), 1e-12)),
        "band_n_eff": float(bands.n_eff[b_det].sum()),
        "ev_all": evidence(np.ones(len(det), bool)), "ev_learning": evidence(~verif), "ev_verif": evidence(verif),
        # verification tags: how many the band reads, how many fell to the missed side by their
        # out-of-fold score, and their truth rate where they landed
        "verif_tags": int((verif & probe).sum()), "verif_tags_oof_missed": int((verif & probe & ~in_det_band).sum()),
        "verif_missed_yes": float(truth_u[verif & probe & ~in_det_band].mean()) if (verif & probe & ~in_det_band).any() else None,
        # the frame: of the final unknown detections, the share in the last verification frame
        # and in none; the truth rate in and out of the last frame
        "unk_in_last_frame": float((unk_det & last_frame).sum() / U) if U else None,
        "unk_in_no_frame": float((unk_det & ~any_frame).sum() / U) if U else None,
        "p_true_unk_in_last": float(truth_u[unk_det & last_frame].mean()) if (unk_det & last_frame).any() else None,
        "p_true_unk_not_last": float(truth_u[unk_det & ~last_frame].mean()) if (unk_det & ~last_frame).any() else None,
        # the last frame's turns the final model no longer detects, and their truth rate
        "dropped_from_last": float((last_frame & ~det & ~known).sum()),
        "p_true_dropped": float(truth_u[last_frame & ~det & ~known].mean()) if (last_frame & ~det & ~known).any() else None,
    }


def run(corpus, concept, seeds, out) -> None:
    c = concept_arrays(corpus, concept)
    inv = turn_codes(c.utt_key)
    G = int(inv.max()) + 1
    truth_u = np.zeros(G, bool)
    truth_u[inv] = c.utt_truth[c.utt_key]
    for seed in seeds:
        examples = pick_examples(c.truth_sent, c.utt_key, c.n_sent_in_utt, seed)
        session = tq.new_session(c.X, examples, seed, call_ids=c.call_ids, groups=c.utt_key, duplicates=c.duplicates,
                                 keep_model_while_verifying=KEEP_MODEL)
        tq.run_tracker(session, c.truth_sent)
        if session.model() is None:
            continue
        extra, frames = verify(session, c.truth_sent, inv, G)
        det_u = np.zeros(G, bool)
        det_u[inv[session.scores() > 0]] = True
        truth_precision = float(truth_u[det_u].mean()) if det_u.any() else 0.0
        row = {"corpus": corpus.name, "concept": concept["name"], "seed": seed, "extra_tags": extra,
               "reached": bool(session.verification_need(**GOAL).reached)}
        for name, overrides in CASES.items():
            fig, units, bands = _honest(session, **overrides(session))
            row[name] = split_error(session, fig, units, bands, truth_u, frames, truth_precision)
        out.write(json.dumps(row) + "\n")
        out.flush()
        d = row["default"]
        print(f"{corpus.name[:8]} {concept['name'][:28]:28s} {seed}: truth {d['truth']:.3f} est {d['est']:.3f} "
              f"[{d['low']:.3f},{d['high']:.3f}] p_unk {d['p_true_unk']} band {d['band_hajek']:.3f} "
              f"learn {d['ev_learning']['hajek']:.3f}/{d['ev_learning']['w']:.2f} verif {d['ev_verif']['hajek']:.3f}"
              f" | vo {row['verification_only']['est']:.3f} [{row['verification_only']['low']:.3f},"
              f"{row['verification_only']['high']:.3f}] | copies {row['copies_from_tags']['est']:.3f} "
              f"[{row['copies_from_tags']['low']:.3f},{row['copies_from_tags']['high']:.3f}]", flush=True)


def _or_none(f, row):
    """``f(row)``, None where the row lacks a field (files written before it was kept)."""
    try:
        return f(row)
    except KeyError:
        return None


def summarise(path: Path) -> str:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    lines = []
    corpora = sorted({r["corpus"] for r in rows})
    lines += ["| corpus | case | runs | covered | within ±0.05 | mean err | mean |err| | median half-width |",
              "|---|---|---|---|---|---|---|---|"]
    for c in corpora + ["all"]:
        rs = [r for r in rows if c == "all" or r["corpus"] == c]
        for case in [c for c in CASES if all(c in r for r in rs)]:
            e = np.array([r[case]["est"] - r[case]["truth"] for r in rs])
            cov = np.mean([r[case]["low"] <= r[case]["truth"] <= r[case]["high"] for r in rs])
            hw = np.median([(r[case]["high"] - r[case]["low"]) / 2 for r in rs])
            lines.append(f"| {c} | {case} | {len(rs)} | {cov:.0%} | {np.mean(np.abs(e) <= 0.05):.0%} | {e.mean():+.3f} "
                         f"| {np.abs(e).mean():.3f} | {hw:.3f} |")
    lines += ["", "| corpus | err unit | err known | U_det/n_det | p_hat - p_true (unknown) | band rate - p_true | "
              "learning tags in band (n, weight share, rate - p_true) | verification tags in band (n, rate - p_true) | "
              "verification tags read as missed | unknown dets in last frame | in no frame | p_true in last - not "
              "| copies of tagged texts among them | their p_true (tags say) | p_true of the others |",
              "|---" * 15 + "|"]
    for c in corpora + ["all"]:
        rs = [r["default"] for r in rows if c == "all" or r["corpus"] == c]
        rs = [r for r in rs if r["p_true_unk"] is not None]

        def m(f):
            v = [_or_none(f, r) for r in rs]
            v = [x for x in v if x is not None and np.isfinite(x)]
            return float(np.mean(v)) if v else float("nan")
        lines.append(
            f"| {c} | {m(lambda r: r['err_unit']):+.4f} | {m(lambda r: r['err_known']):+.4f} "
            f"| {m(lambda r: r['U_det'] / r['n_det']):.2f} "
            f"| {m(lambda r: (r['est'] - r['truth_units']) * r['n_det'] / r['U_det'] if r['U_det'] else None):+.3f} "
            f"| {m(lambda r: r['band_hajek'] - r['p_true_unk']):+.3f} "
            f"| {m(lambda r: r['ev_learning']['n']):.1f}, "
            f"{m(lambda r: r['ev_learning']['w'] / (r['ev_learning']['w'] + r['ev_verif']['w']) if r['ev_verif']['w'] + r['ev_learning']['w'] else None):.2f}, "
            f"{m(lambda r: r['ev_learning']['hajek'] - r['p_true_unk']):+.3f} "
            f"| {m(lambda r: r['ev_verif']['n']):.1f}, {m(lambda r: r['ev_verif']['hajek'] - r['p_true_unk']):+.3f} "
            f"| {m(lambda r: r['verif_tags_oof_missed']):.1f} of {m(lambda r: r['verif_tags']):.1f} "
            f"| {m(lambda r: r['unk_in_last_frame']):.2f} | {m(lambda r: r['unk_in_no_frame']):.2f} "
            f"| {m(lambda r: r['p_true_unk_in_last']):.3f} - {m(lambda r: r['p_true_unk_not_last']):.3f} "
            f"| {m(lambda r: r['copies_share']):.2f} | {m(lambda r: r['p_true_copies']):.3f} "
            f"({m(lambda r: r['p_tags_copies']):.3f}) | {m(lambda r: r['p_true_not_copies']):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", action="append", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    ap.add_argument("--concept", default=None)
    ap.add_argument("--estimate-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--keep-model-while-verifying", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--summarise", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(args.summarise))
        return
    if any(s > 11 for s in args.seeds):
        raise SystemExit("diagnosis on seeds 0-11 only")
    global KEEP_MODEL
    KEEP_MODEL = args.keep_model_while_verifying
    tq.ESTIMATE_PARAMS.update(tq.key_values(args.estimate_param))
    cache = TextEmbeddingCache()
    corpora = [load_corpus(d, cache, tq.DEFAULT_NORMALISATION) for d in sorted(DATASETS.iterdir())
               if (d / "concepts.json").exists() and (not args.corpus or any(c in d.name for c in args.corpus))]
    with args.out.open("a") as out:
        for corpus, concept in each_concept(corpora, args.concept):
            run(corpus, concept, args.seeds, out)


if __name__ == "__main__":
    main()
