"""Benchmark: how good a tracker gets in 4 rounds of 25 tags, and how honest its estimate is.

For every concept of every folder in ../shared/datasets: split utterances into sentences
(workbench.corpus.prepare_import), embed them (all-MiniLM-L6-v2, cached on disk outside the
repository), restrict to the concept's side, pick 5 example sentences from the positives
with a fixed seed, then run 4 rounds of 25 answered by a simulated user (YES when the
sentence's utterance carries one of the concept's labels on the concept's side, else NO),
through the Tracker's own loop, workbench.training.session.ActiveLearningSession (planner,
model with turn mates, estimate; a copy of a shown text never offered again). Only SQLite is
skipped. The final model's detections are compared with the ground truth over the whole
corpus at utterance level (an utterance is detected when any of its sentences is).

Baselines per concept: the keyword tracker built from the 5 examples' words
(workbench.trackers.keywords), and a ceiling: logistic regression trained on all labels with
the same embeddings, 5-fold out-of-fold, the better of C=1 and C=10, best threshold.

    .venv/bin/python benchmarks/tracker_quality.py            # all concepts, 12 seeds, then with a verification round
    .venv/bin/python benchmarks/tracker_quality.py --mixes    # also compare planner mixes
    .venv/bin/python benchmarks/tracker_quality.py --quick    # 1 seed, no timing

Writes benchmarks/results/tracker_quality.md and .json. This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _text_cache import DEFAULT_DIR, TextEmbeddingCache  # noqa: E402

from workbench.corpus.prepare import prepare_import  # noqa: E402
from workbench.trackers.keyword_baseline import compare_with_keywords, keyword_baseline  # noqa: E402
from workbench.training.estimate import detected_where  # noqa: E402
from workbench.training.model import best_f1_threshold  # noqa: E402
from workbench.training.session import ActiveLearningSession  # noqa: E402
from workbench.training.strategies import DiversityStrategy, StratifiedStrategy  # noqa: E402

DATASETS = (REPO / ".." / "shared" / "datasets").resolve()
RESULTS = REPO / "benchmarks" / "results"
ROUNDS, ROUND_SIZE, N_EXAMPLES = 4, 25, 5
MODEL_PARAMS: dict = {}  # overrides of TrackerModel's defaults (--model-param)
ESTIMATE_PARAMS: dict = {}  # overrides of estimate_performance's defaults (--estimate-param)
POOL_PARAMS: dict = {}  # overrides of Pool's defaults (--pool-param)
DUMP: Path | None = None  # --dump DIR: each run's tags and final scores, to study threshold rules offline

# Mixes compared with --mixes; "default" is the planner's own (rounds.EARLY_MIX/LATE_MIX).
MIXES: dict[str, dict | None] = {
    "default": None,
    "random": {"random": 1},
    "naive": {"similarity": 1},  # nearest to the examples; uncertainty from round 5 on
    "no_probe": {"similarity": 4, "top_scored": 7, "near_miss": 7, "diversity": 4, "uncertainty": 3},
    "probe_heavy": {"top_scored": 4, "near_miss": 3, "diversity": 2, "stratified": 16},
    "probe9": {"similarity": 4, "top_scored": 5, "near_miss": 4, "diversity": 3, "stratified": 9},
    "probe5": {"similarity": 5, "top_scored": 7, "near_miss": 5, "diversity": 3, "stratified": 5},
    "probe13": {"similarity": 3, "top_scored": 4, "near_miss": 3, "diversity": 2, "stratified": 13},
    "probe17": {"similarity": 2, "top_scored": 3, "near_miss": 2, "diversity": 1, "stratified": 17},
    # The probe's strata: fewer, wider ones put more probe tags just below the threshold.
    "strata5": [("similarity", 3), ("top_scored", 4), ("near_miss", 3), ("diversity", 2),
                (StratifiedStrategy(max_strata=5), 13)],
    "strata6": [("similarity", 3), ("top_scored", 4), ("near_miss", 3), ("diversity", 2),
                (StratifiedStrategy(max_strata=6), 13)],
    # Session 4: spread the confident picks over the top of the ranking (other ways of saying
    # the concept) instead of taking its very top.
    "diverse_top300": [("similarity", 3), (DiversityStrategy(top_k=300), 4), ("near_miss", 3), ("diversity", 2),
                       ("stratified", 13)],
    "diverse_top100": [("similarity", 3), (DiversityStrategy(top_k=100), 4), ("near_miss", 3), ("diversity", 2),
                       ("stratified", 13)],
    "diverse_top1000": [("similarity", 3), (DiversityStrategy(top_k=1000), 4), ("near_miss", 3), ("diversity", 2),
                        ("stratified", 13)],
}

WHAT_WAS_TRIED = """The prototypes below that needed a loop of their own (`--feature-map`, `--turn-context`,
`--keyword-choice`, `benchmarks/lexical_stack.py`) were removed when the benchmark came to drive
the Tracker's session (issue 11); their tables are kept as measured.

## Session 4: a YES is learnt from the best sentence of its turn (adopted)

A YES tag says that its speaker turn mentions the concept; the simulated user answers per
turn, and a user reading the context often does too ("Your booking is confirmed." in a turn
that ends "Is there anything else I can help with?"). Learnt as tagged, such sentences teach
the classifier the wrong words and pull the threshold down (next section). Now each YES tag
is learnt from the sentence of its turn the classifier scores highest, when that scores above
the tag itself (multiple-instance learning, as in MI-SVM: the turn is the bag). The first pass
scores with a classifier fitted without those YES tags, since a tag learnt from scores high
in its own turn whatever it says; a second pass refits on the first pass's choices. NO tags
speak for their own sentence only, and sentences tagged NOT SURE are never chosen.
(`TrackerModel(yes_sentence="best_of_turn")`, the default; `--model-param
yes_sentence=tagged` gives the previous behaviour.)

| YES tags learnt from | seeds | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|---|
| the tagged sentence (previous default) | 0-11 | 0.933 | 0.793 | 8 | 48% / 61% / 89% |
| the turn's best sentence, first pass on every tag | 0-11 | 0.951 | 0.793 | 9 | 44% / 62% / 88% |
| **the turn's best sentence, first pass without those tags (default)** | 0-11 | 0.950 | 0.793 | 9 | 44% / 60% / 86% |
| the tagged sentence and the turn's best one (both as YES) | 0-11 | 0.933 | 0.793 | 10 | 41% / 62% / 88% |
| the tagged sentence (previous default) | 12-17 | 0.922 | 0.782 | 7 | 41% / 64% / 88% |
| the turn's best sentence, first pass on every tag | 12-17 | 0.947 | 0.782 | 7 | 48% / 62% / 88% |
| **the turn's best sentence, first pass without those tags (default)** | 12-17 | 0.940 | 0.782 | 7 | 52% / 65% / 89% |

All of the gain is on multiwoz, whose turns hold several sentences (seeds 0-11: "Offers more
help" 0.874x to 0.973x, "Customer thanks" 0.885x to 0.936x, "Cannot fulfil the request" 0.820x
to 0.828x, the other three within 0.01); multidogo's figures do not move, since every customer
turn there is one sentence. The first pass
with every tag did as well on the benchmark, but with few tags a YES it has learnt from
outscores the rest of its turn whatever it says, so it seldom changes anything in a real
tracker's first rounds (the tracker test that tags one sentence of a discount-request turn
shows it). Keeping the tagged sentence as well as the best one gains nothing. The estimate's
accuracy moves within its noise (multiwoz coverage 85% to 80%, fresh seeds 88% to 89%). The
worst concept (multidogo "Reports a problem", one-sentence turns) and the keyword count are
unchanged: those gaps lie elsewhere. With the turn threshold on top
(`--model-param threshold_unit=turn`): 0.947x / 0.793x / 9 on seeds 0-11 and 0.928x /
0.782x / 7 on seeds 12-17, no better.

Then, with this default, the round's 4 confident picks spread over the top of the ranking
(`--mix diverse_top100/300/1000`: k-means++ picks among the K best-scored sentences, away
from what is tagged, instead of the 4 best), to find the other ways of saying a concept such
as "Reports a problem", which joins four intents (a disputed charge, a broken phone, broken
software, a lost card):

| confident picks | seeds | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|---|
| **the 4 best-scored (default)** | 0-11 | 0.950 | 0.793 | 9 | 44% / 60% / 86% |
| spread over the best 100 | 0-11 | 0.948 | 0.819 | 9 | 55% / 51% / 86% |
| spread over the best 300 | 0-11 | 0.955 | 0.832 | 10 | 45% / 52% / 78% |
| spread over the best 1000 | 0-11 | 0.938 | 0.834 | 8 | 51% / 62% / 85% |
| **the 4 best-scored (default)** | 12-17 | 0.940 | 0.782 | 7 | 52% / 65% / 89% |
| spread over the best 300 | 12-17 | 0.952 | 0.767 | 8 | 36% / 65% / 83% |

On seeds 0-11 every width lifts "Reports a problem" (0.793x to 0.82-0.85x), which would meet
the worst-concept target; on the fresh seeds it falls instead (0.782x to 0.767x), and the
interval coverage drops below the 85% target with the width that helps the median most. Not
adopted: the gain on the seeds it was tried on did not survive fresh ones.

The rest of this section was measured before this change, against the previous default.

## Session 4: the speaker turn as a feature, and smoother threshold rules

Same protocol and scoring as above; seeds 0-11 (132 runs), then the fresh seeds 12-17 (66
runs), which the (previous) defaults score at 0.922x median, 0.782x worst concept, 7 beating
keywords.

**Where the chosen threshold goes wrong.** On the concepts that lose most to it ("Offers
more help" 0.088x below its best threshold in hindsight, multiwoz "Customer thanks" 0.065x),
the turns just above the best threshold in hindsight are positive about 40% of the time,
which is F1 / 2, as theory says they should be; the tags' own calibration puts the chance
there at 0.6-0.7. The tags speak about sentences and the truth about turns: the simulated
user answers YES for every sentence of a positive turn ("Your booking is confirmed." in a
turn that ends "Anything else?"), and a turn with several sentences has several chances to
score high. So on multi-sentence turns the tags pull the threshold down: the runs of those
two concepts that lose most detect 1.5-2.2x as many turns as there are positives.

**The turn as a feature** (`--turn-context MODE:W`: the model sees each sentence with its
turn's mean embedding; a user's example is its own turn):

| features | seeds | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|---|
| sentence (default) | 0-11 | 0.933 | 0.793 | 8 | 48% / 61% / 89% |
| joined with 0.5 x the turn | 0-11 | 0.947 | 0.776 | 8 | 46% / 66% / 86% |
| joined with 1.0 x the turn | 0-11 | 0.925 | 0.764 | 8 | 36% / 55% / 82% |
| plus 0.3 x the turn, renormalised | 0-11 | 0.933 | 0.800 | 10 | 44% / 59% / 88% |
| plus 0.5 x the turn, renormalised | 0-11 | 0.933 | 0.800 | 9 | 49% / 61% / 83% |
| the same, with the turn threshold | 0-11 | 0.939 | 0.800 | 9 | 51% / 55% / 82% |
| plus 0.5 x the turn, renormalised | 12-17 | 0.922 | 0.782 | 6 | 47% / 65% / 86% |

It lifts multiwoz "Customer thanks" (0.885x to 0.95-1.00x) and costs "Customer asks for the
reference number" and "Customer asks the price" 0.02-0.07; on the fresh seeds it gives
exactly the defaults' median and worst concept. Not adopted: it would also need each
sentence's turn at every scoring path (the pyfunc and Spark take sentences alone).

**Smoother threshold rules**, on the same final models (`benchmarks/threshold_rules.py`
over `--dump` folders; `results/threshold_rules.md`):

| rule | seeds 0-11: median / worst | seeds 12-17: median / worst |
|---|---|---|
| **best F1 of the tags' out-of-fold scores (default)** | 0.933 / 0.793 | 0.922 / 0.782 |
| best F1 counting turns, each tag's turn scored as its best sentence (the turn threshold) | 0.945 / 0.793 | 0.928 / 0.782 |
| best F1 counting a YES tag's turn (what a YES says) and a NO tag's sentence (all a NO says) | 0.945 / 0.793 | 0.922 / 0.782 |
| best expected F1 under a logistic calibration of those scores | 0.940 / 0.789 | 0.923 / 0.792 |
| median best cut over 50 bootstrap resamples of the tags | 0.934 / 0.814 | 0.922 / 0.765 |
| median of the cuts within 0.01 / 0.02 of the best F1 | 0.934 / 0.800, 0.935 / 0.801 | 0.925 / 0.770, 0.928 / 0.769 |
| best threshold in hindsight (needs the ground truth) | 0.966 / 0.831 | 0.960 / 0.831 |

All within the noise of the fold split (0.01 median, 0.03 worst concept): smoothing the
tags' F1 curve does not help, because the curve's error is a bias (sentences for turns),
not jaggedness. The rule that would fix it needs the turn-level rate of positives near the
threshold, which only random tags near it can give, and the probe spreads its random tags
over the whole score range so that the hit rate can be estimated.

**Other models on the same tags** (`benchmarks/model_variants.py`, seeds 0-11; each fitted
offline on the 100 tags the default loop chose, its threshold from its own out-of-fold
scores; `results/model_variants.md`): the product's logistic regression 0.933x median, 0.793x
worst concept (0.966x / 0.831x at the best threshold in hindsight); adding 1 or 3 x the
similarity to the nearest YES tags minus the nearest NO tags 0.927-0.933x / 0.794-0.802x
(best threshold 0.956-0.964x); an RBF support vector machine 0.907-0.920x / 0.700-0.761x;
10 bagged logistic regressions 0.928x / 0.772x. None ranks better than the linear model from
100 tags; we read the ranking's gap to the ceiling as the number of tags rather than the
model's form.

## Where the F1 gap is, and what did not close it (session 3)

All on the 12 seeds (132 runs), against the defaults: median F1 / ceiling, worst concept,
concepts beating keywords on every seed, then precision within 0.05 / hit rate within 0.10 /
interval coverage. For scale: reshuffling only the folds of the threshold's
cross-validation moves the defaults to 0.926x, 0.774x, 8, 48% / 58% / 88%, so differences
of 0.01 in the median and 0.03 in the worst concept are noise.

**Ranking or threshold?** The summary's "best threshold in hindsight" row scores the same
final models at the threshold that maximises each run's F1, known only from the ground
truth: median 0.966x, worst concept 0.831x. So with 100 tags the rankings themselves fall
short of the ceiling by about 0.03, and a perfect threshold would just reach the targets;
the chosen thresholds cost another 0.03. On multiwoz "Customer thanks", on the 7 seeds whose
keyword baseline reaches 0.82-0.83 F1, even the best threshold (0.79-0.82) loses to it: the
embedding ranking puts closings without thanks ("No, that's all I need.") among the
thanks, and only the word itself separates them.

Threshold rules, each scored on the same final models (no rerun of the rounds):

| rule | median | worst concept |
|---|---|---|
| **best F1 of the tags' out-of-fold scores (default)** | 0.933 | 0.793 |
| same count of detections as the fold models at that threshold (a scale-free transfer) | 0.927 | 0.782 |
| the fold models' averaged scores at that threshold | 0.928 | 0.792 |
| best F1 of the final model's own scores on the tags | 0.927 | 0.752 |
| threshold from 3 / 5 repeats of the 5-fold split, in the loop | 0.923 / 0.933 | 0.819 / 0.776 |
| best of λ x (tags' F1) + (1 - λ) x (corpus F1 estimated from the random probe tags, 1/π weights, by turn), λ = 0.75 / 0.5 / 0 | 0.937 / 0.935 / 0.927 | 0.768 / 0.767 / 0.768 |

Where the chosen threshold is wrong, it errs both ways (too low on "Offers more help" and
"Customer thanks", too high on "Cannot fulfil the request"), so no uniform shift fixes it.

**A threshold that counts turns** (`--model-param threshold_unit=turn`, that is
`TrackerModel(threshold_unit="turn")` fitted with `turn_mates`). The benchmark scores turns (a turn is detected
when any of its sentences is), but the threshold maximises F1 over the tagged sentences; on
multi-sentence turns that detects too many turns. With each tag's turn mates (the other
sentences of its turn, scored by the same fold model), the threshold can maximise F1 over
the tags' turns instead. That reads a NO tag as "nothing in this turn", as the simulated
user answers: a real user's NO on one sentence says
less, and a turn-level threshold would then be set too high.

| threshold | seeds | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|---|
| sentences (default) | 0-11 | 0.933 | 0.793 | 8 | 48% / 61% / 89% |
| turns | 0-11 | 0.947 | 0.793 | 9 | 46% / 63% / 86% |
| sentences (default) | 12-17 (fresh) | 0.922 | 0.782 | 7 | 41% / 64% / 88% |
| turns | 12-17 | 0.922 | 0.782 | 7 | 47% / 61% / 86% |

Multidogo's turns are mostly single sentences and nothing changes there. On multiwoz, over
seeds 0-11, "Customer thanks" rises from 0.885x to 0.927x and "Offers more help" from 0.874x
to 0.952x, the rest move by about 0.01; on seeds 12-17 those two gain 0.01 and 0.03, "Agent
asks the budget" 0.02, while "Cannot fulfil the request" (long agent turns) falls from
0.883x to 0.805x, two of its six thresholds landing far off in opposite directions. Turns
hold more sentences than tags, so the turn-level F1 curve over 100 tags is rougher and its
best point noisier. It helps where it was seen to help and not on fresh seeds, and it rests
on a reading of NO the product does not ask for: an option, not the default.

The model's features (`--feature-map`, a linear map fitted on the unlabelled scope, which
would compose with the model into a linear map of the raw embeddings):

| features | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|
| **raw embeddings (default)** | 0.933 | 0.793 | 8 | 48% / 61% / 89% |
| centred on the scope's mean | 0.942 | 0.778 | 8 | 46% / 53% / 83% |
| top 64 / 128 principal components | 0.901 / 0.937 | 0.748 / 0.776 | 7 / 8 | 41% / 55% / 81%, 43% / 53% / 81% |
| whitened with shrinkage (cov + 1 / 0.3 x mean eigenvalue) | 0.895 / 0.826 | 0.768 / 0.734 | 6 / 6 | 45% / 52% / 87%, 45% / 48% / 83% |

A word model stacked with the embedding model (`benchmarks/lexical_stack.py`: a tf-idf
logistic regression over the tags' words and word pairs, joined with the embedding model by
a two-input logistic regression on their out-of-fold scores; the planner sees the stacked
scores):

| word model | median | worst concept | beat keywords | P / HR / coverage |
|---|---|---|---|---|
| vocabulary of the tags, C = 3 | 0.942 | 0.816 | 7 | 43% / 50% / 80% |
| vocabulary of the tags, C = 10 | 0.930 | 0.838 | 8 | 40% / 53% / 81% |
| corpus idf, C = 3 | 0.947 | 0.790 | 10 | 48% / 54% / 81% |
| corpus idf, C = 3, final model only (rounds unchanged) | 0.945 | 0.785 | – | – |

It lifts multiwoz (price 0.95 -> 0.98, "Offers more help" and "Cannot fulfil" by 0.03-0.04)
and costs multidogo's "Customer thanks" and "reference number" about 0.01-0.02; every
variant drops interval coverage to 80-81% (the stacked scores are not the smooth
log-linear ranking the honest estimate's calibration assumes), below the 85% target the
default meets. Within noise on F1, worse on the estimate, and it would need text at every
scoring path (activation's linear scoring, the pyfunc, Spark, bundles): not adopted.

The description, with `--with-description` (each tracker also given its concept's
description): its weight against the examples in similarity, fixed at 0.3 (default) /
0.1, or fading as positives accumulate (0.3 x 5 / (examples + YES tags)): 0.920x / 0.927x /
0.922x median, 0.824x / 0.786x / 0.811x worst concept, 7 / 8 / 8 beating keywords,
precision 38% / 42% / 45%, hit rate 57% / 61% / 55%, coverage 84% / 80% / 84%. No
difference beyond noise; the default stays.

## The estimate by speaker turn (session 2)

The issue's "true precision, hit rate" are at utterance level, as its F1 is; the earlier
estimate spoke about sentences, whose hit rate is much lower on multi-sentence turns (a
turn labelled "cannot fulfil the request" also holds "Thank you.", which no tracker should
detect). Measured against utterance-level truth, the earlier estimator was within 0.05 /
0.10 on 58% / 23% of runs, coverage 79%. The Tracker now passes each sentence's speaker
turn: the probe still draws sentences, but states for each the chance that its *turn* was
reached; the banded estimator counts turns (detected when any sentence is; a mention when
a tagged sentence is YES). Then, in order, on all 66 runs (precision within 0.05 / hit rate
within 0.10 / interval coverage, against utterance-level truth):

| estimator | P ok | HR ok | coverage | HR bias |
|---|---|---|---|---|
| previous, sentence level, vs utterance truth | 58% | 23% | 79% | -0.235 |
| turns drawn by the probe (each shown by its best sentence), posterior mean | 52% | 36% | 86% | -0.115 |
| ... posterior median instead of mean (the mean is pulled by draws whose calibration has a flat tail) | 53% | 45% | 86% | -0.060 |
| ... prior from the point calibration, sd 1.5 / 1.0 / 2.0 | 53% / 50% / 52% | 39% / 42% / 36% | 67% / 63% / 73% | – |
| ... calibration on a log-rank scale (log-odds linear in doublings of rank) | 52% | 52% | 82% | -0.072 |
| ... log-rank, prior sd 1.0 / 0.7 | 50% / 44% | 48% / 47% | 83% / 78% | – |
| ... log-rank, calibration on all tags / probe terms shrunk | 53% / 53% | 35% / 44% | 83% / 81% | – |
| ... log-rank, probe at most 5 / 6 strata (F1 0.929x / 0.941x) | 44% / 52% | 50% / 48% | 83% / 81% | – |
| sentences drawn, turn probabilities stated | 61% | 48% | 87% | -0.075 |
| ... slope ridge 0.001 / 1.0 (default 0.1) | 61% / 59% | 47% / 30% | 88% / 77% | – |
| ... raw score scale | 59% | 39% | 88% | -0.059 |
| by sentence (--sentences), new defaults, vs sentence truth | 59% | 48% | 86% | -0.013 |
| default, probe at most 5 / 6 strata (F1 0.947x / 0.922x) | 48% / 47% | 58% / 48% | 86% / 86% | – |
| default, 17 of 25 stratified (F1 0.928x) | 45% | 55% | 85% | – |
| default, 2 / 3 bands above the threshold | 58% / 56% | 47% / 45% | 89% / 86% | – |
| default, every tag in the bands above the threshold | 39% | 47% | 68% | -0.055 |
| default, prior sd 0.7 / 0.4 above the threshold | 56% / 44% | 48% / 45% | 85% / 80% | – |

Then the band prior. Its logit was centred on the calibrated rate, which puts the prior's
*median* there and its mean about 3x higher for a small rate (sd 1.5); summed over the large
bands below the threshold, that overstated the missed positives, and it was the hit rate's
bias. Centring the prior so that its *mean* is the calibrated rate:

| estimator | P ok | HR ok | coverage | HR bias |
|---|---|---|---|---|
| **prior mean = calibrated rate (default)** | 58% | 61% | 91% | -0.008 |
| ... posterior mean as the point | 62% | 47% | 91% | -0.071 |
| ... prior sd 1.0 / 2.0 | 65% / 52% | 53% / 62% | 89% / 92% | -0.040 / +0.019 |
| ... raw score scale | 52% | 58% | 87% | +0.018 |
| ... a normal prior on the calibration slope (log-rank), (2, 1) / (2.5, 1) / (3, 1) | 59% / 58% / 58% | 62% / 62% / 65% | 91% / 91% / 90% | – |
| ... slope prior (2.5, 0.5) / (3, 0.5) | 59% / 61% | 73% / 70% | 88% / 90% | +0.032 / – |

The tight slope priors help on both corpora and on held-out seeds (2.5, 0.5: multidogo 77%
against 70%, multiwoz 69% against 53%; seeds 3-5 64% against 55%), but a slope of 2.5 per
doubling of rank is knowledge of these two corpora and these embeddings, not of a user's
calls, and the loose priors (sd 1) give nothing. It is an option
(`estimate_performance(slope_prior=(2.5, 0.5))`), not the default.

Also tried for the model (session 2): a threshold chosen to maximise the corpus F1 expected
from the probe's calibration of out-of-fold scores, instead of the tags' cross-validated F1
(tags over-represent positives, so their best threshold is low: on multiwoz "Customer
thanks", half the detections are short closings such as "Yes, please."). Measured 0.923x
median, worst concept 0.800x, 7/11 beating keywords: worse on every count, not adopted.

Also tried for precision: counting the score-selected tags (top-scored and uncertainty picks,
chosen by score alone) with the random ones in the bands above the threshold. With 2 such
bands: 67% / 59% / 89% (multidogo precision 83%, multiwoz 53%); with 1, 3 or 4 bands: 47%,
61%, 55-58% precision. Not monotone in the number of bands, so read as noise; not adopted.

On all 12 seeds (132 runs), the defaults against the nearest alternatives (median F1 ratio,
worst concept, concepts beating keywords on every seed, then precision within 0.05 / hit rate
within 0.10 / coverage):

| setting | median | worst concept | beat keywords | P ok / HR ok / coverage |
|---|---|---|---|---|
| **default (C=10, example weight 1, 13 of 25 stratified over 8 strata)** | 0.933 | 0.793 | 8 | 48% / 61% / 89% |
| C=5 | 0.939 | 0.816 | 6 | 45% / 55% / 85% |
| C=20 | 0.932 | 0.787 | 9 | 41% / 53% / 87% |
| example weight 0.5 / 2 | 0.935 / 0.942 | 0.762 / 0.782 | 7 / 7 | 54% / 59% / 84%, 52% / 62% / 91% |
| 9 of 25 stratified | 0.916 | 0.735 | 6 | 35% / 52% / 83% |
| 17 of 25 stratified | 0.929 | 0.779 | 7 | 48% / 65% / 83% |
| probe at most 5 / 6 strata | 0.931 / 0.931 | 0.793 / 0.805 | 8 / 9 | 52% / 60% / 85%, 45% / 54% / 82% |

None is better on every count; the keyword count moves by 3 between neighbouring settings,
which is the noise of 12 seeds on concepts where the keyword is near the ceiling.

A lexical feature (prototype, `--keyword-feature W`): the keyword tracker's match from the 5
examples' words as one more feature column of weight W. W = 0.3 / 1 / 2 / 3: median 0.931x /
0.956x / 0.958x / 0.944x, worst concept 0.775x / 0.761x / 0.724x / 0.739x, beating keywords
7 / 8 / 9 / 9. It lifts the typical concept and hurts the hardest ones (whose example words
mislead), so it would need a per-tracker choice, and text at every scoring path (live
scoring, Spark, bundles); not adopted yet. The obvious choice, keeping the column only when
the tags' cross-validated F1 prefers it (`--keyword-choice`), does not see the harm: W = 1 /
2 give 0.947x / 0.936x median, 0.762x / 0.721x worst concept, 9 / 8 beating keywords.

With 66 runs, a share near 50% has a standard error of about 6 points: differences under
about 10 points between rows are noise, and none of the variants is clearly better than the
default. Trusting the calibration more above the threshold (smaller prior sd) makes
precision worse, so the calibration is biased there; the precision error is mostly spread
(sd 0.075 around a bias of -0.02), which is what about 17 random tags among the detections
give. Within ±0.05 on 80% of runs needs a standard error near 0.04, about 100 random tags
among the detections at a precision of 0.8; the protocol's 100 tags hold about 17 of them,
the rest being chosen for what they teach the model. A verification round of 20 random
detections (above) adds 20.

Drawing turns cost the model: the worst concept fell to 0.765x (turns' best sentences teach
less about the boundary than random sentences do), so the probe draws sentences. Where the
remaining hit-rate error sits, from the bands of every run: with the truth put in for the
detected band and the first band below the threshold, and the calibration's median
elsewhere, 76% of runs would be within 0.10; the deep bands (90% of the corpus, about 8% of
the positives, rates of 0.0001-0.006) are beyond what 5-8 random tags can measure, so their
share comes from the calibration's extrapolation, which overstates it about 1.6x there.

## What was tried (11 concepts x 3 seeds each; F1 as ratio to the ceiling)

Every setting below was chosen on seeds 0-2; the table above adds seeds 3-5 as a held-out
check. On seeds 3-5 alone the defaults measure 0.922x median, 0.802x worst concept, 9/11
beating keywords, against 0.958x, 0.814x, 10/11 on seeds 0-2: part of the seeds-0-2 figures
is the luck of the draw the settings were picked on, and a change of the first round moves the
median by about 0.03. The estimate (session 2, turn level; precision within 0.05, hit rate
within 0.10, coverage): seeds 0-2 58% / 67% / 94%, seeds 3-5 58% / 55% / 88%; multidogo
67% / 70% / 97%, multiwoz 50% / 53% / 86%.

The "probe tags 0" of the previous table was the estimator ignoring the probe (its
design correction was off by default), not the benchmark: inclusion probabilities did
reach it. Also fixed: the planner's filler never filled a shortfall (dead code).

Classifier settings, with the previous mix (9 of 25 stratified):

| model | median | worst concept | worst run |
|---|---|---|---|
| C=10, balanced, CV-F1 threshold (default) | 0.885 | 0.825 | 0.656 |
| C=1 | 0.908 | 0.715 | 0.517 |
| C=3 | 0.911 | 0.686 | 0.464 |
| C=30 | 0.869 | 0.726 | 0.628 |
| C=100 | 0.842 | 0.679 | 0.523 |
| C=1000 | 0.813 | 0.589 | 0.180 |
| C=10, threshold at probability 0.5 | 0.907 | 0.788 | 0.757 |
| C=100, threshold at probability 0.5 | 0.870 | 0.768 | 0.683 |
| C=10, no class weights | 0.925 | 0.772 | 0.594 |
| C=3, no class weights | 0.917 | 0.723 | 0.519 |
| C=10, no class weights, threshold 0.5 | 0.914 | 0.791 | 0.724 |
| C=10, example weight 0.3 | 0.909 | 0.662 | 0.552 |
| C=100, example weight 3 | 0.877 | 0.655 | 0.522 |

A less regularised classifier (C >= 30) was worse here, not better. Mixes (C=10 default):

| mix (per 25) | median | worst concept | worst run |
|---|---|---|---|
| 5 stratified, 7 top, 5 similarity, 5 near miss, 3 diverse | 0.889 | 0.740 | 0.684 |
| 9 stratified (previous default) | 0.885 | 0.825 | 0.656 |
| 13 stratified, 4 top, 3 similarity, 3 near miss, 2 diverse, balanced weights | 0.948 | 0.828 | 0.629 |
| 13 stratified, uncertainty instead of diversity | 0.936 | 0.733 | 0.504 |
| 17 stratified | 0.927 | 0.810 | 0.728 |
| **13 stratified, no class weights (the default)** | 0.958 | 0.814 | 0.728 |
| 13 stratified, threshold at probability 0.5 | 0.942 | 0.752 | 0.713 |

Probe size trades F1 against the estimate (planner-mix table of commit 0d63155, previous estimator: 9 stratified picks
give the best estimate, 61% / 48% / 77% coverage, at 0.885x; 13 give 0.948x with
55% / 39% / 62%). The default favours F1; the estimate misses its targets either way.
"No class weights" has the best median and the best worst run. Under the earlier
estimators it gave a worse honest estimate, so balanced weights were kept for a while;
under the banded estimator (below) it measures 58% / 33% / 95% (precision within 0.05,
hit rate within 0.10, interval coverage) against 55% / 36% / 89% with balanced weights,
and beats the keyword baseline on 10 concepts instead of 9, so it is the default now. The probe's strata (no class weights, banded estimator): at most
5 strata -> 0.928x median, worst concept 0.782x, 58% / 52% / 92%; at most 12 -> 0.923x,
0.837x, 58% / 33% / 91%; the default 8 -> 0.958x, 0.814x, 58% / 33% / 95%. Fewer, wider
strata put more probe tags just below the threshold, where missed positives are, which
helps the hit-rate estimate and costs F1. Context features (each sentence's embedding joined
with w x the mean of its neighbours' in the call, renormalised; ratios still to the sentence-only
ceiling): w=0.3 -> 0.940x median, 0.790x worst concept, 9/11 beat keywords, 52% / 45% / 89%;
w=0.5 -> 0.951x, 0.816x, 11/11, 45% / 45% / 86%; w=0.7 -> 0.925x, 0.804x, 9/11, 39% / 58% / 82%.
Not monotonic in w, so read as noise around the default rather than a gain; not adopted.
With each concept's description given too (`--with-description`, as a user would write one):
description weight 0.3 (the default) -> 0.922x median, 0.751x worst concept, 10/11, 48% / 48% / 82%;
weight 0.1 -> 0.927x, 0.783x, 9/11, 45% / 45% / 82%. A description written about the concept
("The customer thanks the agent.") sits far from how people say it, and pulls the first rounds
off course once 5 examples exist; these swings also show how much the F1 ratio moves (about
±0.03) when the first round changes. Not tried for lack of time: a description weight that
fades as examples and YES tags accumulate.

Honest estimators, on the previous mix and model (the F1 runs above):

| estimator | precision within 0.05 | hit rate within 0.10 | 90% intervals cover | mean hit-rate error |
|---|---|---|---|---|
| calibration on all tags (previous default; no outcome noise) | 61% | 42% | 68% | -0.087 |
| same, bootstrap draws the untagged outcomes too | 61% | 42% | 74% | -0.087 |
| calibration with probe terms shrunk to the shared ones | 42% | 48% | 73% | -0.043 |
| calibration on the probe only | 39% | 48% | 76% | +0.000 |
| **detected side on all tags, missed side on the probe (new default)** | 61% | 48% | 77% | +0.012 |
| same, missed side with shrunk probe terms | 61% | 45% | 77% | -0.035 |
| Horvitz-Thompson over the probe alone | 18% | 21% | 65% | +0.176 |
| difference estimator (calibration + HT correction) | 33% | 24% | 67% | +0.203 |

The design-based estimators are unbiased over repeated probes (tested) but with ~9
probe tags a round the positives the model misses deep in the ranking are rarely drawn,
so a typical run underestimates them; the calibrated estimators extrapolate instead.

Honest estimators on the current default mix (13 stratified) and model, 11 concepts x 3
seeds (the final model and tags are the same in every row; only the estimate differs):

| estimator | precision within 0.05 | hit rate within 0.10 | 90% intervals cover (P / HR) | bias P / HR |
|---|---|---|---|---|
| calibrated scores, split calibration, bootstrap (previous default) | 55% | 39% | 62% (61% / 64%) | +0.017 / +0.045 |
| banded: Jeffreys prior per band, no calibration | 48% | 9% | 47% (73% / 21%) | +0.043 / -0.425 |
| banded: prior sd 1, 3 detected bands, other tags in detected bands | 58% | 42% | 73% (64% / 82%) | +0.044 / +0.019 |
| same, prior sd 2 | 48% | 45% | 74% (61% / 88%) | +0.057 / -0.027 |
| same, prior sd 0.5 | 55% | 42% | 68% (61% / 76%) | +0.031 / +0.036 |
| banded, probe only: prior sd 1, 3 detected bands | 52% | 39% | 74% (70% / 79%) | +0.014 / +0.012 |
| same, detected-side prior from probe-only calibration | 42% | 42% | 82% (82% / 82%) | +0.002 / +0.009 |
| banded, probe only, sd 1, 1 detected band | 55% | 42% | 83% (85% / 82%) | +0.019 / +0.015 |
| banded, probe only, sd 1.5, 2 detected bands | 48% | 39% | 85% (82% / 88%) | +0.015 / -0.015 |
| **banded, probe only, sd 1.5, 1 detected band (new default)** | 55% | 36% | 89% (91% / 88%) | +0.022 / -0.011 |
| same, other tags in the detected band | 30% | 42% | 67% (45% / 88%) | +0.106 / +0.011 |

"Banded" (``method="banded"``): the unknown rows are post-stratified by the final score
(the detected rows; below the threshold, bands of doubling size as in the probe design),
each band's positive rate gets a posterior from the probe rows in it (1/pi weights, Kish
effective size) under a logit-normal prior centred on the calibrated P(YES | score), and
Monte Carlo draws of the rates and of each band's realised count give the intervals.
Counting the non-probe tags in the detected band (similarity, top-scored picks) biases
precision up by ~0.1: they are chosen for looking like positives even within a band.
Intervals now cover the truth; the point estimates are limited by the data, ~13 random
tags a round (mean absolute hit-rate error 0.15 for every estimator above, precision
0.065). Not tried for lack of time: moving probe allocation towards the band just below
the threshold, a hierarchical (learned) prior sd.
"""


# --- data ---------------------------------------------------------------------------------

@dataclass
class Corpus:
    name: str
    sentences: pl.DataFrame  # prepared sentences + "utt_key" (row of the utterance table)
    embeddings: np.ndarray
    utt_labels: list[set[str]]  # per utterance key
    utt_side: np.ndarray
    concepts: list[dict]


def load_corpus(folder: Path, cache: TextEmbeddingCache) -> Corpus:
    split_cache = DEFAULT_DIR / f"{folder.name}-sentences.parquet"
    if split_cache.exists():
        sentences = pl.read_parquet(split_cache)
    else:
        prepared = prepare_import(folder / "calls.parquet", folder / "utterances.parquet")
        sentences = prepared.sentences
        sentences.write_parquet(split_cache)
    labels = pl.read_parquet(folder / "labels.parquet")
    utts = pl.read_parquet(folder / "utterances.parquet").select("call_id", "utterance_id", "side")
    utts = utts.join(labels, on=["call_id", "utterance_id"], how="left").with_row_index("utt_key")
    sentences = sentences.join(
        utts.select("call_id", "utterance_id", "utt_key"), on=["call_id", "utterance_id"], how="left"
    )
    emb = cache.get(sentences["text"].to_list())
    utt_labels = [set(x or []) for x in utts["labels"].to_list()]
    concepts = json.loads((folder / "concepts.json").read_text())
    return Corpus(folder.name, sentences, emb, utt_labels, utts["side"].to_numpy(), concepts)


def _matches(label: str, wanted: list[str]) -> bool:
    # concepts.json uses "*-Request:Price" for "any domain's Request:Price".
    for w in wanted:
        if w.startswith("*"):
            if label.endswith(w[1:]):
                return True
        elif label == w:
            return True
    return False


def utterance_truth(corpus: Corpus, concept: dict) -> np.ndarray:
    side = concept["mentioned_by"]
    pos = np.array([any(_matches(l, concept["labels"]) for l in ls) for ls in corpus.utt_labels])
    if side != "any":
        pos &= corpus.utt_side == side
    return pos


def concept_scope(corpus: Corpus, concept: dict) -> np.ndarray:
    side = concept["mentioned_by"]
    sides = corpus.sentences["side"].to_numpy()
    return np.flatnonzero(sides == side) if side != "any" else np.arange(len(sides))


def pick_examples(sent_pos: np.ndarray, utt_key: np.ndarray, n_sent_in_utt: np.ndarray,
                  seed: int) -> np.ndarray:
    """5 positive sentences; from one-sentence utterances where possible, since a user
    writes an example that says the concept, not a random sentence of a positive turn."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(sent_pos)
    clean = pos[n_sent_in_utt[utt_key[pos]] == 1]
    src = clean if clean.size >= N_EXAMPLES else pos
    return rng.choice(src, size=N_EXAMPLES, replace=False)


# --- metrics ------------------------------------------------------------------------------

def prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "hit_rate": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def to_utterances(sent_flags: np.ndarray, utt_key: np.ndarray, n_utts: int) -> np.ndarray:
    out = np.zeros(n_utts, dtype=bool)
    out[utt_key[sent_flags]] = True
    return out


def ceiling(X: np.ndarray, y_sent: np.ndarray, utt_key: np.ndarray, utt_truth: np.ndarray,
            utt_in_scope: np.ndarray) -> dict:
    best = None
    n_utts = len(utt_truth)
    for C in (1.0, 10.0):
        oof = np.empty(len(y_sent))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y_sent):
            lr = LogisticRegression(C=C, max_iter=2000).fit(X[tr], y_sent[tr])
            oof[te] = lr.decision_function(X[te])
        u_score = np.full(n_utts, -np.inf)
        np.maximum.at(u_score, utt_key, oof)
        s, t = u_score[utt_in_scope], utt_truth[utt_in_scope]
        thr = best_f1_threshold(s, t)
        m = prf(s > thr, t) | {"C": C}
        if best is None or m["f1"] > best["f1"]:
            best = m
    return best


# --- one simulated tracker ----------------------------------------------------------------

_TEXT_CACHE = None  # set by main(): embeds the concepts' descriptions
USE_DESCRIPTION = False  # the protocol: trackers start from their 5 examples
KEYWORD_FEATURE = 0.0  # --keyword-feature W: prototype, the keyword match as a feature column
VERIFY = 0  # --verify N: a verification round of N random detections after the 4 rounds
USE_TURNS = True  # the Tracker's default: probe and estimate by speaker turn (--sentences: off)


def _description(concept: dict):
    if not USE_DESCRIPTION or _TEXT_CACHE is None or not concept.get("description"):
        return None
    return _TEXT_CACHE.get([concept["description"]])[0]


def new_session(X, examples, seed, mix=None, call_ids=None, description=None, groups=None, duplicates=None):
    """The session a Tracker builds over this scope (turns, duplicate texts), with the
    benchmark's overrides (--model-param, --estimate-param, --pool-param, --mix)."""
    return ActiveLearningSession(
        X, X[examples], description, turns=groups, call_ids=call_ids, duplicates=duplicates,
        planner_params={"early_mix": mix, "late_mix": mix}, model_params=MODEL_PARAMS,
        estimate_params=ESTIMATE_PARAMS, pool_params=POOL_PARAMS, seed=seed,
    )


def run_tracker(session: ActiveLearningSession, truth_sent, rounds=ROUNDS) -> list[dict]:
    """The rounds a user tags, answered by the simulated user (YES when the sentence's
    utterance carries the concept), then a verification round of VERIFY detections when
    --verify asks for one. Returns each round's YES count and the planner's notes."""
    history = []
    for number in range(1, rounds + 1):
        plan = session.plan_round(number, ROUND_SIZE)
        answers = truth_sent[plan.indices].astype(np.int8)
        session.tag(plan.indices, answers, number, plan.inclusion_prob)
        history.append({"round": number, "yes": int(answers.sum()), "notes": list(plan.notes)})
    if VERIFY and session.model() is not None:
        plan = session.plan_verification(rounds + 1, VERIFY)
        answers = truth_sent[plan.indices].astype(np.int8)
        session.tag(plan.indices, answers, rounds + 1, plan.inclusion_prob)
        history.append({"round": rounds + 1, "yes": int(answers.sum()), "notes": ["verification"]})
    return history


def oracle_threshold_f1(scores, utt_key, n_utts, utt_in_scope, utt_truth) -> float:
    """Utterance-level F1 of the final scores at the threshold that maximises it, known only
    with the ground truth: the limit of the ranking, whatever threshold the tags suggest."""
    if scores is None:
        return 0.0
    best = np.full(n_utts, -np.inf)
    np.maximum.at(best, utt_key, scores)
    s, t = best[utt_in_scope], utt_truth[utt_in_scope].astype(bool)
    if not t.any():
        return 0.0
    tp = np.cumsum(t[np.argsort(-s, kind="stable")])
    return float((2 * tp / (np.arange(1, len(s) + 1) + t.sum())).max())


@dataclass
class DumpedRun:
    """One run written by ``--dump``, with what scoring its detections needs (for the offline
    studies: threshold_rules.py, model_variants.py)."""

    key: str  # "corpus/concept"
    seed: int
    X: np.ndarray  # the scope's embeddings
    utt_key: np.ndarray  # per scope sentence
    truth: np.ndarray  # per utterance
    in_scope: np.ndarray  # per utterance
    labels: np.ndarray
    examples: np.ndarray
    raw: np.ndarray  # the final model's scores before its threshold
    threshold: float
    ceiling_f1: float

    def f1_ratio(self, scores: np.ndarray, cut: float) -> float:
        """Utterance-level F1 of ``scores > cut`` (a turn detected when any sentence is), as a
        ratio to the ceiling."""
        best = np.full(len(self.truth), -np.inf)
        np.maximum.at(best, self.utt_key, scores)
        return prf(best[self.in_scope] > cut, self.truth[self.in_scope])["f1"] / self.ceiling_f1

    def oracle_ratio(self, scores: np.ndarray) -> float:
        return oracle_threshold_f1(scores, self.utt_key, len(self.truth), self.in_scope, self.truth) / self.ceiling_f1


def dumped_runs(folder: Path, corpora: dict[str, Corpus]):
    """Each run of a ``--dump`` folder, in file order."""
    ceilings = json.loads((DEFAULT_DIR / "ceilings.json").read_text())
    for f in sorted(Path(folder).glob("*.npz")):
        corpus_name, concept_name, seed = f.stem.split("__")
        corpus = corpora[corpus_name]
        concept = next(c for c in corpus.concepts if c["name"] == concept_name)
        d = np.load(f)
        scope = d["scope"]
        utt_key = corpus.sentences["utt_key"].to_numpy()[scope]
        in_scope = np.zeros(len(corpus.utt_labels), bool)
        in_scope[utt_key] = True
        yield DumpedRun(
            key=f"{corpus_name}/{concept_name}", seed=int(seed), X=corpus.embeddings[scope], utt_key=utt_key,
            truth=utterance_truth(corpus, concept), in_scope=in_scope, labels=d["labels"], examples=d["examples"],
            raw=d["raw"].astype(float), threshold=float(d["threshold"]),
            ceiling_f1=ceilings[f"{corpus_name}/{concept_name}"]["f1"],
        )


def median_and_worst(by_concept: dict[str, list[float]]) -> tuple[float, float]:
    """The median over concepts of each concept's mean ratio, and the worst concept's."""
    means = [float(np.mean(v)) for v in by_concept.values()]
    return float(np.median(means)), float(min(means))


def write_study(filename: str, title: str, script: str, sections: list[str]) -> None:
    """An offline study's markdown under benchmarks/results/."""
    (RESULTS / filename).write_text(f"# {title}\n\nGenerated by `benchmarks/{script}`; do not edit by hand.\n\n"
                                    + "\n\n".join(sections) + "\n")


def load_corpora(cache: TextEmbeddingCache) -> dict[str, Corpus]:
    return {d.name: load_corpus(d, cache) for d in sorted(DATASETS.iterdir()) if (d / "concepts.json").exists()}


def fig(f):
    return None if f is None else {"value": f.value, "low": f.low, "high": f.high, "n": f.n}


def run_concept(corpus: Corpus, concept: dict, seeds: list[int], mix, ceiling_cache: dict,
                with_keywords: bool = True) -> list[dict]:
    scope = concept_scope(corpus, concept)
    X = corpus.embeddings[scope]
    utt_key_all = corpus.sentences["utt_key"].to_numpy()
    utt_key = utt_key_all[scope]
    n_utts = len(corpus.utt_labels)
    utt_truth = utterance_truth(corpus, concept)
    utt_in_scope = np.zeros(n_utts, bool)
    utt_in_scope[utt_key] = True
    truth_sent = utt_truth[utt_key]
    n_sent_in_utt = np.bincount(utt_key_all, minlength=n_utts)
    texts = corpus.sentences["text"].to_numpy()[scope]
    call_ids = corpus.sentences["call_id"].to_numpy()[scope]

    key = f"{corpus.name}/{concept['name']}"
    if key not in ceiling_cache:
        t = time.time()
        ceiling_cache[key] = ceiling(X, truth_sent.astype(int), utt_key, utt_truth, utt_in_scope)
        print(f"  ceiling {key}: F1 {ceiling_cache[key]['f1']:.3f} ({time.time() - t:.0f}s)", flush=True)
    ceil = ceiling_cache[key]

    out = []
    X_base = X
    # The Tracker's code of each sentence's text: a copy of a shown sentence is never offered again.
    duplicates = np.unique(texts, return_inverse=True)[1]
    for seed in seeds:
        examples = pick_examples(truth_sent, utt_key, n_sent_in_utt, seed)
        X = X_base
        if KEYWORD_FEATURE:
            # Prototype: the keyword tracker's match (from the 5 examples' words) as one more
            # feature column, so the classifier can weigh the exact words against the meaning.
            _, kw = keyword_baseline(texts, texts[examples].tolist(), random_state=seed)
            X = np.column_stack([X_base, KEYWORD_FEATURE * kw.astype(np.float32)]).astype(np.float32)
        t = time.time()
        session = new_session(X, examples, seed, mix, call_ids=call_ids, description=_description(concept),
                              groups=utt_key if USE_TURNS else None, duplicates=duplicates)
        history = run_tracker(session, truth_sent)
        model, scores, labels, est = session.model(), session.scores(), session.labels, session.estimate()
        elapsed = time.time() - t
        collapsed = model is None
        if DUMP is not None and model is not None:
            DUMP.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                DUMP / f"{corpus.name}__{concept['name']}__{seed}.npz", labels=labels,
                inclusion=session.inclusion_prob, examples=examples, raw=(scores + model.threshold_).astype(np.float32),
                threshold=model.threshold_, scope=scope,
            )
        det_sent = scores > 0 if scores is not None else np.zeros(len(X), bool)
        det_utt = to_utterances(det_sent, utt_key, n_utts)
        utt_m = prf(det_utt[utt_in_scope], utt_truth[utt_in_scope])
        sent_m = prf(det_sent, truth_sent)
        oracle = oracle_threshold_f1(scores, utt_key, n_utts, utt_in_scope, utt_truth)
        row = {
            "corpus": corpus.name, "concept": concept["name"], "seed": seed,
            "population_sentences": int(len(X)), "prevalence_sentences": float(truth_sent.mean()),
            "collapsed": collapsed, "seconds": elapsed,
            "tags_yes": int((labels == 1).sum()), "tags_no": int((labels == 0).sum()),
            "utterance": utt_m, "sentence": sent_m, "ceiling": ceil,
            # The truth the estimate speaks about: turns (utterances) when the tracker knows them.
            "estimate_truth": "utterance" if USE_TURNS else "sentence",
            "ratio_to_ceiling": utt_m["f1"] / ceil["f1"] if ceil["f1"] else None,
            # The same final scores at the best threshold in hindsight: what the ranking
            # allows, so that a gap to the ceiling splits into ranking and threshold.
            "oracle_threshold_ratio": oracle / ceil["f1"] if ceil["f1"] else None,
            "history": history,
        }
        if est is not None:
            row["estimate"] = {
                "reference_precision": fig(est.reference_precision),
                "reference_hit_rate": fig(est.reference_hit_rate),
                "honest_precision": fig(est.honest_precision),
                "honest_hit_rate": fig(est.honest_hit_rate),
                "n_probe_tags": est.n_probe_tags, "n_yes": est.n_yes, "n_no": est.n_no,
                "detected_sentences": est.detected_sentences, "detected_calls": est.detected_calls,
                "notes": list(est.notes),
            }
        if with_keywords:
            # The product's keyword baseline (Tracker.keyword_comparison), and whether its advice
            # ("the keywords do as well on your tags") matches the corpus truth.
            baseline = keyword_baseline(texts, texts[examples].tolist(), random_state=seed)
            kw_utt = to_utterances(baseline[1], utt_key, n_utts)
            row["keyword"] = prf(kw_utt[utt_in_scope], utt_truth[utt_in_scope]) | {"phrases": list(baseline[0])}
            if model is not None and not KEYWORD_FEATURE:
                held_out = detected_where(session.held_out(), len(labels))
                k = compare_with_keywords(texts, labels, det_sent, held_out, [], inclusion_prob=session.inclusion_prob,
                                          groups=utt_key if USE_TURNS else None, baseline=baseline)
                row["keyword_advice"] = {"keywords_do_as_well": k.keywords_do_as_well,
                                         "keyword_f1_on_tags": k.keyword_f1, "tracker_f1_on_tags": k.tracker_f1}
        out.append(row)
        e = row.get("estimate") or {}
        hp, hr = e.get("honest_precision"), e.get("honest_hit_rate")
        print(
            f"  {concept['name'][:34]:34s} seed {seed}: F1 {utt_m['f1']:.3f} "
            f"({row['ratio_to_ceiling'] or 0:.2f}x ceiling {ceil['f1']:.3f}) "
            f"sentP {sent_m['precision']:.2f} sentR {sent_m['hit_rate']:.2f} "
            f"est P {hp['value'] if hp else float('nan'):.2f} [{hp['low'] if hp else 0:.2f},{hp['high'] if hp else 0:.2f}] "
            f"R {hr['value'] if hr else float('nan'):.2f} [{hr['low'] if hr else 0:.2f},{hr['high'] if hr else 0:.2f}] "
            f"kw {row.get('keyword', {}).get('f1', float('nan')):.3f} {elapsed:.1f}s",
            flush=True,
        )
    return out


# --- round timing ---------------------------------------------------------------------------

def time_round(X: np.ndarray, seed: int = 0, repeats: int = 3) -> dict:
    """Tag 25 -> next 25 ready: retrain, rescore all rows, estimate, plan. On len(X) rows,
    through the session the Tracker builds (a fresh one per repeat: nothing cached)."""
    rng = np.random.default_rng(seed)
    N = len(X)
    # A plausible state after 4 rounds: 100 tags, a quarter YES, a third of them random.
    tagged = rng.choice(N, 100, replace=False)
    tag_round = np.full(N, -1, np.int64)
    tag_round[tagged] = np.repeat(np.arange(1, 5), 25)
    inclusion = np.full(N, np.nan)
    inclusion[tagged[::3]] = 0.001
    labels = np.full(N, -1, np.int8)
    labels[tagged] = rng.random(100) < 0.25
    examples = rng.choice(N, 5, replace=False)
    # Speaker turns of 1-4 sentences, as the Tracker passes them.
    groups = np.repeat(np.arange(N), rng.integers(1, 5, N))[:N]
    times = {"fit": [], "score": [], "estimate": [], "plan": [], "total": []}
    for _ in range(repeats):
        session = new_session(X, examples, seed, groups=groups)
        session.set_tags(labels, labels >= 0, tag_round, inclusion)
        t0 = time.perf_counter()
        model = session.model()
        t1 = time.perf_counter()
        session.scores()
        t2 = time.perf_counter()
        session.estimate()
        t3 = time.perf_counter()
        session.plan_round(6, ROUND_SIZE)
        t4 = time.perf_counter()
        assert model is not None
        for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            times[k].append(v)
    return {k: float(np.median(v)) for k, v in times.items()} | {"rows": N}


# --- report ---------------------------------------------------------------------------------

def summarise(rows: list[dict]) -> dict:
    ratios = [r["ratio_to_ceiling"] or 0.0 for r in rows]
    by_concept: dict[str, list[float]] = {}
    for r in rows:
        by_concept.setdefault(f"{r['corpus']}/{r['concept']}", []).append(r["ratio_to_ceiling"] or 0.0)
    concept_ratio = {k: float(np.mean(v)) for k, v in by_concept.items()}
    kw_beaten = {}
    for r in rows:
        k = f"{r['corpus']}/{r['concept']}"
        kw_beaten.setdefault(k, []).append(r["utterance"]["f1"] > r.get("keyword", {}).get("f1", -1))
    est_ok_p = est_ok_r = cov = total_cov = n_est = 0
    ref_ok_p = ref_ok_r = ref_cov = 0
    for r in rows:
        e = r.get("estimate")
        if not e:
            continue
        n_est += 1
        truth = r[r.get("estimate_truth", "sentence")]
        tp, tr = truth["precision"], truth["hit_rate"]
        hp, hr = e["honest_precision"], e["honest_hit_rate"]
        rp, rr = e["reference_precision"], e["reference_hit_rate"]
        if hp and abs(hp["value"] - tp) <= 0.05:
            est_ok_p += 1
        if hr and abs(hr["value"] - tr) <= 0.10:
            est_ok_r += 1
        for f, t in ((hp, tp), (hr, tr)):
            total_cov += 1
            cov += bool(f and f["low"] <= t <= f["high"])
        if rp and abs(rp["value"] - tp) <= 0.05:
            ref_ok_p += 1
        if rr and abs(rr["value"] - tr) <= 0.10:
            ref_ok_r += 1
        ref_cov += bool(rp and rp["low"] <= tp <= rp["high"]) + bool(rr and rr["low"] <= tr <= rr["high"])
    n = max(n_est, 1)
    advice = [(r["keyword_advice"]["keywords_do_as_well"], r["keyword"]["f1"] >= r["utterance"]["f1"])
              for r in rows if r.get("keyword_advice") and r.get("keyword")]
    oracle: dict[str, list[float]] = {}
    for r in rows:
        if r.get("oracle_threshold_ratio") is not None:
            oracle.setdefault(f"{r['corpus']}/{r['concept']}", []).append(r["oracle_threshold_ratio"])
    oracle_ratio = {k: float(np.mean(v)) for k, v in oracle.items()}
    return {
        # Runs where the overview says "the keywords do as well", and where they really do (corpus F1).
        "keyword_advice": {"said_and_true": sum(a and t for a, t in advice), "said_and_false": sum(a and not t for a, t in advice),
                           "not_said_but_true": sum(t and not a for a, t in advice),
                           "not_said_and_false": sum(not a and not t for a, t in advice)} if advice else None,
        "oracle_threshold_median_ratio": float(np.median(list(oracle_ratio.values()))) if oracle_ratio else None,
        "oracle_threshold_min_concept_ratio": float(min(oracle_ratio.values())) if oracle_ratio else None,
        "runs": len(rows),
        "median_ratio_over_concepts": float(np.median(list(concept_ratio.values()))),
        "min_concept_ratio": float(min(concept_ratio.values())),
        "min_run_ratio": float(min(ratios)),
        "collapsed_runs": int(sum(r["collapsed"] for r in rows)),
        "concepts_beating_keywords_every_seed": int(sum(all(v) for v in kw_beaten.values())),
        "concepts": len(by_concept),
        "concept_ratio": concept_ratio,
        "honest_precision_within_0.05": est_ok_p / n,
        "honest_hit_rate_within_0.10": est_ok_r / n,
        "honest_both_within": sum(
            1 for r in rows if r.get("estimate") and r["estimate"]["honest_precision"]
            and r["estimate"]["honest_hit_rate"]
            and abs(r["estimate"]["honest_precision"]["value"] - r[r.get("estimate_truth", "sentence")]["precision"]) <= 0.05
            and abs(r["estimate"]["honest_hit_rate"]["value"] - r[r.get("estimate_truth", "sentence")]["hit_rate"]) <= 0.10
        ) / n,
        "honest_interval_coverage": cov / max(total_cov, 1),
        "reference_precision_within_0.05": ref_ok_p / n,
        "reference_hit_rate_within_0.10": ref_ok_r / n,
        "reference_interval_coverage": ref_cov / max(2 * n_est, 1),
        "reference_hit_rate_bias": float(np.mean([
            r["estimate"]["reference_hit_rate"]["value"] - r[r.get("estimate_truth", "sentence")]["hit_rate"]
            for r in rows if r.get("estimate") and r["estimate"]["reference_hit_rate"]
        ] or [np.nan])),
        "honest_hit_rate_bias": float(np.mean([
            r["estimate"]["honest_hit_rate"]["value"] - r[r.get("estimate_truth", "sentence")]["hit_rate"]
            for r in rows if r.get("estimate") and r["estimate"]["honest_hit_rate"]
        ] or [np.nan])),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # Twelve seeds: session 1 chose its defaults on seeds 0-2 (3-5 held out); session 2
    # looked at 0-5; seeds 6-11 were never used to choose anything.
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    ap.add_argument("--quick", action="store_true", help="1 seed, no round timing")
    ap.add_argument("--mixes", nargs="*", default=None,
                    help="also compare these planner mixes (default: all of MIXES)")
    ap.add_argument("--concept", default=None, help="only concepts whose name contains this")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--with-description", action="store_true",
                    help="also give each tracker its concept's description, as a user would")
    ap.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--estimate-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--pool-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--keyword-feature", type=float, default=0.0, metavar="W",
                    help="prototype: add the examples' keyword match as a feature column of weight W")
    ap.add_argument("--sentences", action="store_true",
                    help="probe and estimate by sentence instead of by speaker turn (the earlier default)")
    ap.add_argument("--verify", type=int, default=20, metavar="N",
                    help="also measure a second pass with a verification round of N random detections after "
                         "the 4 rounds (reported separately; 0: skip)")
    ap.add_argument("--dump", type=Path, default=None, metavar="DIR",
                    help="write each run's tags and final scores to DIR (to study threshold rules offline)")
    ap.add_argument("--mix", default=None, help="run with this mix of MIXES instead of the default")
    args = ap.parse_args(argv)
    for target, pairs in ((MODEL_PARAMS, args.model_param), (ESTIMATE_PARAMS, args.estimate_param),
                          (POOL_PARAMS, args.pool_param)):
        for kv in pairs:
            k, v = kv.split("=", 1)
            try:
                target[k] = json.loads(v)  # numbers, lists, true/false
            except json.JSONDecodeError:
                target[k] = v  # a bare string such as threshold_unit=turn
    seeds = args.seeds[:1] if args.quick else args.seeds

    cache = TextEmbeddingCache()
    global _TEXT_CACHE, USE_DESCRIPTION, USE_TURNS, VERIFY, KEYWORD_FEATURE, DUMP
    KEYWORD_FEATURE = args.keyword_feature
    DUMP = args.dump
    _TEXT_CACHE, USE_DESCRIPTION, USE_TURNS = cache, args.with_description, not args.sentences
    ceiling_path = DEFAULT_DIR / "ceilings.json"
    ceiling_cache = json.loads(ceiling_path.read_text()) if ceiling_path.exists() else {}
    corpora = [load_corpus(d, cache) for d in sorted(DATASETS.iterdir()) if (d / "concepts.json").exists()]

    def run_all(mix, with_keywords=True):
        rows = []
        for corpus in corpora:
            print(f"{corpus.name}: {len(corpus.sentences)} sentences", flush=True)
            for concept in corpus.concepts:
                if args.concept and args.concept.lower() not in concept["name"].lower():
                    continue
                rows += run_concept(corpus, concept, seeds, mix, ceiling_cache, with_keywords)
                ceiling_path.write_text(json.dumps(ceiling_cache))
        return rows

    rows = run_all(MIXES[args.mix] if args.mix else None)
    summary = summarise(rows)
    verified = None
    if args.verify:
        print(f"== with a verification round of {args.verify}", flush=True)
        VERIFY = args.verify
        verified = summarise(run_all(MIXES[args.mix] if args.mix else None, with_keywords=False))
        verified["size"] = args.verify
        VERIFY = 0
    mixes = {}
    if args.mixes is not None:
        for name in args.mixes or [m for m in MIXES if m != "default"]:
            print(f"== mix {name}", flush=True)
            mixes[name] = summarise(run_all(MIXES[name], with_keywords=False))
        mixes["default"] = summary
    timing = None
    if not args.quick:
        big = max(corpora, key=lambda c: len(c.sentences))
        X = big.embeddings
        if len(X) < 100_000:
            # Pad to 100,000 rows with real sentences of the other corpora.
            others = np.concatenate([c.embeddings for c in corpora if c is not big])
            X = np.concatenate([X, others[: 100_000 - len(X)]])
        timing = time_round(X[:100_000])
        print(f"round on {timing['rows']} rows: {timing}", flush=True)

    result = {"summary": summary, "verified": verified, "mixes": mixes, "round_timing": timing, "runs": rows,
              "seeds": seeds, "keyword_baseline": "workbench.trackers.keywords (related_forms, background-filtered)"}
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "tracker_quality.json").write_text(json.dumps(result, indent=1, default=float))
        (RESULTS / "tracker_quality.md").write_text(render_markdown(result))


def render_markdown(result: dict) -> str:
    s, rows = result["summary"], result["runs"]
    by_turn = bool(rows) and rows[0].get("estimate_truth") == "utterance"
    unit_text = ("speaker turns (utterances; the Tracker's default: a turn is detected when any of its "
                 "sentences is, and a mention when its utterance carries the label)" if by_turn
                 else "sentences (--sentences)")
    unit_short = "turn" if by_turn else "sent"
    lines = ["# Tracker quality benchmark", "",
             "Generated by `benchmarks/tracker_quality.py`; do not edit by hand.", "",
             f"Seeds {result['seeds']}; 4 rounds of 25 tags from a simulated user; 5 examples per concept; "
             "F1 at utterance level over the concept's side; estimates compared with the truth at the level "
             f"they speak about: {unit_text}.", "",
             f"| corpus | concept | seed | F1 | ceiling | ratio | keyword F1 | true P ({unit_short}) | ref. P [90%] | honest P [90%] "
             f"| true hit rate ({unit_short}) | ref. HR [90%] | honest HR [90%] | YES/NO tags | probe tags |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(x):
        return "–" if not x else f"{x['value']:.2f} [{x['low']:.2f}, {x['high']:.2f}]"

    for r in rows:
        e = r.get("estimate") or {}
        truth = r[r.get("estimate_truth", "sentence")]
        lines.append(
            f"| {r['corpus']} | {r['concept']} | {r['seed']} | {r['utterance']['f1']:.3f} | "
            f"{r['ceiling']['f1']:.3f} | {r['ratio_to_ceiling'] or 0:.2f} | {r.get('keyword', {}).get('f1', float('nan')):.3f} | "
            f"{truth['precision']:.2f} | {f(e.get('reference_precision'))} | {f(e.get('honest_precision'))} | "
            f"{truth['hit_rate']:.2f} | {f(e.get('reference_hit_rate'))} | {f(e.get('honest_hit_rate'))} | "
            f"{r['tags_yes']}/{r['tags_no']} | {e.get('n_probe_tags', 0)} |"
        )
    t = result.get("round_timing")
    lines += ["", "## Summary against the targets", "",
              "| target | goal | measured |", "|---|---|---|",
              f"| median F1 / ceiling over concepts | >= 0.95 | {s['median_ratio_over_concepts']:.3f} |",
              f"| worst concept F1 / ceiling (mean over seeds) | >= 0.80 | {s['min_concept_ratio']:.3f} (worst single run {s['min_run_ratio']:.3f}) |",
              f"| collapsed runs | 0 | {s['collapsed_runs']} of {s['runs']} |",
              *([f"| the same scores at the best threshold in hindsight (the ranking's limit) | – | "
                 f"median {s['oracle_threshold_median_ratio']:.3f}, worst concept {s['oracle_threshold_min_concept_ratio']:.3f} |"]
                if s.get("oracle_threshold_median_ratio") is not None else []),
              f"| concepts beating the keyword baseline on every seed | all {s['concepts']} | {s['concepts_beating_keywords_every_seed']} |",
              f"| honest precision within ±0.05 of truth | >= 80% of runs | {s['honest_precision_within_0.05']:.0%} (reference {s['reference_precision_within_0.05']:.0%}) |",
              f"| honest hit rate within ±0.10 of truth | >= 80% of runs | {s['honest_hit_rate_within_0.10']:.0%} (reference {s['reference_hit_rate_within_0.10']:.0%}) |",
              f"| 90% intervals contain the truth | >= 85% | {s['honest_interval_coverage']:.0%} (reference {s['reference_interval_coverage']:.0%}) |",
              f"| mean hit-rate error (estimate - truth) | – | honest {s['honest_hit_rate_bias']:+.3f}, reference {s['reference_hit_rate_bias']:+.3f} |",
              f"| a round on 100,000 sentences | <= 1 s | {t['total']:.2f} s (fit {t['fit']:.2f}, score {t['score']:.2f}, estimate {t['estimate']:.2f}, plan {t['plan']:.2f}) |" if t else "| a round on 100,000 sentences | <= 1 s | not timed (--quick) |",
              ]
    groups = [("all runs", lambda r: True),
              ("seeds 0-5 (looked at while choosing settings)", lambda r: r["seed"] <= 5),
              ("seeds 6-11 (never used to choose anything)", lambda r: r["seed"] >= 6),
              ("multidogo-train", lambda r: "multidogo" in r["corpus"]),
              ("multiwoz-val", lambda r: "multiwoz" in r["corpus"])]
    lines += ["", "## Breakdown", "",
              "| runs | n | median F1 / ceiling | worst concept | beat keywords | P within 0.05 | HR within 0.10 | coverage | HR bias |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, keep in groups:
        sub = [r for r in rows if keep(r)]
        if not sub:
            continue
        g = summarise(sub)
        lines.append(f"| {name} | {g['runs']} | {g['median_ratio_over_concepts']:.3f} | {g['min_concept_ratio']:.3f} | "
                     f"{g['concepts_beating_keywords_every_seed']}/{g['concepts']} | {g['honest_precision_within_0.05']:.0%} | "
                     f"{g['honest_hit_rate_within_0.10']:.0%} | {g['honest_interval_coverage']:.0%} | "
                     f"{g['honest_hit_rate_bias']:+.3f} |")
    v = result.get("verified")
    if v:
        lines += ["", f"## With a verification round ({v['size']} random detections tagged after the 4 rounds)", "",
                  "Not the issue's protocol (it adds tags): what a user gets by also tagging "
                  "`t.verification_round()`. The new tags also train the final model.", "",
                  "| measure | 4 rounds | 4 rounds + verification |", "|---|---|---|",
                  f"| median F1 / ceiling | {s['median_ratio_over_concepts']:.3f} | {v['median_ratio_over_concepts']:.3f} |",
                  f"| worst concept | {s['min_concept_ratio']:.3f} | {v['min_concept_ratio']:.3f} |",
                  f"| honest precision within ±0.05 | {s['honest_precision_within_0.05']:.0%} | {v['honest_precision_within_0.05']:.0%} |",
                  f"| honest hit rate within ±0.10 | {s['honest_hit_rate_within_0.10']:.0%} | {v['honest_hit_rate_within_0.10']:.0%} |",
                  f"| 90% intervals contain the truth | {s['honest_interval_coverage']:.0%} | {v['honest_interval_coverage']:.0%} |"]
    if result.get("mixes"):
        lines += ["", "## Planner mixes", "",
                  "| mix | median ratio | worst concept | collapsed | honest P ok | honest HR ok | coverage |",
                  "|---|---|---|---|---|---|---|"]
        for name, m in result["mixes"].items():
            lines.append(f"| {name} | {m['median_ratio_over_concepts']:.3f} | {m['min_concept_ratio']:.3f} | "
                         f"{m['collapsed_runs']} | {m['honest_precision_within_0.05']:.0%} | "
                         f"{m['honest_hit_rate_within_0.10']:.0%} | {m['honest_interval_coverage']:.0%} |")
    a = s.get("keyword_advice")
    if a:
        lines += ["", "## The overview's keyword advice, against the corpus", "",
                  "After the 4 rounds, `Tracker.keyword_comparison()` says \"the keywords may do as well on your "
                  "calls\" when the examples' keyword tracker has at least the tracker's F1 as estimated from the "
                  "random tags (1/π weights, by turn). The table sets that against whether the keywords really do "
                  "as well over the corpus (utterance F1). Judged instead by their counts on all tags (each tag held out for the tracker), "
                  "the advice named 1 of the 12 runs where the keywords did as well, with 6 false alarms (session 3, "
                  "before YES tags were learnt from their turns): the rounds' "
                  "near misses share the concept's words, so counts on all tags favour the tracker.", "",
                  "| | keywords do as well on the corpus | they do not |", "|---|---|---|",
                  f"| the overview says they do | {a['said_and_true']} | {a['said_and_false']} |",
                  f"| it says nothing | {a['not_said_but_true']} | {a['not_said_and_false']} |"]
    lines += ["", f"Keyword baseline: {result['keyword_baseline']}.", "", WHAT_WAS_TRIED]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
