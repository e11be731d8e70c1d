"""Deep training's fine-tuning step: real sentence-transformers and setfit on a few dozen sentences."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.core.errors import ValidationError
from workbench.training.deep import MIN_NO_TAGS, MIN_YES_TAGS, EncoderFineTuning

YES = ["Can we get a discount on the licence?", "Is there a lower price if we sign today?",
       "Could you knock something off the list price?", "Any flexibility on the price?",
       "We need a better price to go ahead.", "Is the price negotiable at all?",
       "What discount can you offer for two years?", "Can you match the other vendor's price?"]
NO = ["Let me share my screen.", "Thanks for joining the call today.", "Can everyone hear me?",
      "I'll send the slides after the meeting.", "Who else should be on the next call?",
      "Let's start with a quick round of introductions.", "The weather has been lovely here.",
      "Our team uses the reporting module every day.", "We rolled it out to the sales team in May.",
      "I have a hard stop at three.", "Can you walk me through the dashboard?",
      "Our IT department handles the single sign-on.", "Let's look at the integration next.",
      "I'm joining from the Berlin office.", "The onboarding took two weeks."]
EXAMPLES = ["Is there any discount for a two-year deal?", "Can we get a better price?"]
TEXTS, LABELS = YES + NO, [1] * len(YES) + [0] * len(NO)
PROBES = ["Could we get a reduced rate?", "Please share the agenda.", "Any chance of a price cut?"]


@pytest.fixture(scope="module")
def tuned():
    reports = []
    tuning = EncoderFineTuning(num_iterations=1, learning_rate=1e-4, seed=3)
    tuning.fit(TEXTS, LABELS, EXAMPLES, progress=lambda *report: reports.append(report))
    return tuning, reports


def _separation(vectors: np.ndarray, n_yes: int) -> float:
    """Mean cosine within the YES sentences minus mean cosine between YES and NO ones."""
    sim = vectors @ vectors.T
    within = sim[:n_yes, :n_yes][~np.eye(n_yes, dtype=bool)].mean()
    return float(within - sim[:n_yes, n_yes:].mean())


def test_fine_tuning_pulls_the_concept_together(tuned, embedder):
    tuning, reports = tuned
    before = _separation(embedder.encode(TEXTS), len(YES))
    after = _separation(tuning.transform(TEXTS), len(YES))
    assert after > before + 0.05, (before, after)
    # 1 iteration x 2 pairs x 25 sentences (23 tags + 2 examples) = 50 pairs, 4 steps of 16.
    assert (tuning.n_pairs_, tuning.n_steps_) == (50, 4)
    assert reports == [("fine-tuning", step, 4) for step in range(1, 5)]
    vectors = tuning.transform(PROBES, progress=lambda *report: reports.append(report))
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert reports[-1] == ("embedding", 3, 3)


def test_same_seed_same_encoder_and_the_saved_folder_loads(tuned, tmp_path):
    from sentence_transformers import SentenceTransformer

    tuning, _ = tuned
    again = EncoderFineTuning(num_iterations=1, learning_rate=1e-4, seed=3).fit(TEXTS, LABELS, EXAMPLES)
    np.testing.assert_array_equal(again.transform(PROBES), tuning.transform(PROBES))
    folder = tuning.save(tmp_path / "encoder")
    loaded = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    np.testing.assert_allclose(loaded.encode(PROBES, normalize_embeddings=True), tuning.transform(PROBES), atol=1e-6)


def test_time_estimate_is_measured_and_scales_with_the_work():
    tuning = EncoderFineTuning(seed=0)
    small = tuning.estimate_time(TEXTS, LABELS, EXAMPLES, NO)
    # The defaults: 2 iterations x 2 pairs x 25 sentences = 100 pairs, 7 steps of 16.
    assert small.pairs == 100 and small.steps == 7 and small.sentences == len(NO)
    assert small.seconds_per_step > 0 and small.seconds_per_sentence > 0
    big = EncoderFineTuning(num_iterations=4, seed=0).estimate_time(TEXTS, LABELS, EXAMPLES, NO * 100)
    assert big.steps == 13 and big.sentences == 100 * len(NO)
    assert big.fine_tuning_s > small.fine_tuning_s and big.embedding_s > small.embedding_s
    assert big.describe().startswith("about ") and "1,500 sentences" in big.describe()


def test_too_few_tags_says_how_many_are_needed():
    with pytest.raises(ValidationError, match=f"at least {MIN_YES_TAGS} YES and {MIN_NO_TAGS} NO tags; "
                                              "there are 2 YES and 15 NO"):
        EncoderFineTuning().fit(YES[:2] + NO, [1, 1] + [0] * len(NO), EXAMPLES)
    with pytest.raises(ValidationError, match="NOT SURE is not a label"):
        EncoderFineTuning().fit(TEXTS, [1] * len(YES) + [-1] * len(NO))
    with pytest.raises(ValidationError, match="num_iterations"):
        EncoderFineTuning(num_iterations=0).fit(TEXTS, LABELS)
    with pytest.raises(ValidationError, match="not fine-tuned yet"):
        EncoderFineTuning().transform(PROBES)
