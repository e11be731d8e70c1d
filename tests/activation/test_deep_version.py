"""Deep training through the product: `workbench train --deep` (t.train(deep=True) underneath), the
version it registers (its own encoder inside) and activation scoring with that encoder. Real
fine-tuning (setfit, one iteration) on the trained demo tracker's 50 tags; the tagging screen's
button is tested in tests/widgets/test_tagging.py."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests.activation.conftest import AS_OF
from tests.activation.test_cli import run
from workbench.core.errors import ValidationError


def test_deep_training_from_the_terminal_makes_a_version_that_scores_with_its_own_encoder(live_ws, tracker, capsys):
    # One iteration (half the default's pairs, for speed) at a bolder learning rate, so that it
    # moves the encoder visibly: the tracker's settings["deep"].
    live_ws.catalog.update_settings(tracker.id, {**tracker.settings,
                                                 "deep": {"num_iterations": 1, "learning_rate": 1e-4}})
    tracker.refresh()
    frozen_before = tracker.performance()
    assert run(live_ws, "train", tracker.name, "--deep") == 0
    out = capsys.readouterr().out
    # The measured estimate comes first: 50 tags and 6 examples, one positive and one negative
    # partner each, make 112 pairs, 7 steps of 16.
    assert out.startswith(f"Deep training of '{tracker.name}' takes about ")
    assert "fine-tuning on 112 sentence pairs (7 steps" in out.splitlines()[0]
    assert "model version 3 after round 2" in out and "held-out F1 on tags" in out
    assert f'workbench publish "{tracker.name}" --version 3' in out

    tracker.refresh()
    comparison = tracker.deep_comparison()
    assert comparison.version == 3 and comparison.round_number == 2
    assert comparison.frozen.detected_sentences == frozen_before.detected_sentences
    assert comparison.frozen.precision == frozen_before.precision
    assert (comparison.deep.n_yes, comparison.deep.n_no) == (3, 47)
    assert comparison.to_frame()["model"].to_list() == ["frozen", "deep"]
    assert tracker.versions()["training"].to_list() == ["frozen", "frozen", "deep"]
    assert tracker.learning_curve().rounds == [1, 2]  # the deep version is compared, not a round

    registry = live_ws.registry
    assert (registry.encoder_path(tracker.name, version=3) / "modules.json").is_file()
    assert registry.encoder_path(tracker.name, version=2) is None
    assert registry.linear_model(tracker.name, version=3).embedding_model.startswith("deep-encoder-fp32-")

    # Activation embeds the scope with the version's encoder: the stored scores are the pyfunc's.
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert tracker.record.published_version == 3
    found = tracker.results().detections
    assert found.height > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyfunc = registry.load_model(tracker.name, version=3)
        scores = pyfunc.predict(pd.DataFrame({"text": found["text"].to_list()}))["score"].to_numpy()
    # The stored vectors are float16-rounded (the cache); the pyfunc's are fresh float32.
    np.testing.assert_allclose(found["score"].to_numpy(), scores, atol=3e-3)
    # On the workspace's shared embeddings the same weights would score otherwise.
    shared = registry.linear_model(tracker.name, version=3).score(live_ws.embeddings(found["sentence_id"].to_numpy()))
    assert np.abs(shared - found["score"].to_numpy()).max() > 0.05

    # A frozen training afterwards compares its detections with the frozen version 2, not version 3.
    again = tracker.train()
    assert again.version == 4 and not again.deep
    assert tracker.versions()["detection_change"].to_list()[-1] == 0.0
    assert tracker.deep_comparison().version == 3


def test_too_few_yes_tags_for_deep_training_say_how_many_are_needed(live_ws):
    from tests.demo_workspace import EXAMPLES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = live_ws.create_tracker("Two YES only", mentioned_by="customer", examples=EXAMPLES)
    for i, c in enumerate(t.next_round()):
        t.tag(c.sentence_id, "yes" if i < 2 else "no")
    t.train()
    with pytest.raises(ValidationError, match=r"at least 3 YES and 3 NO tags; there are 2 YES and 23 NO"):
        t.train(deep=True)
    assert t.versions()["training"].to_list() == ["frozen"] and t.deep_comparison() is None
