"""A duplicate text is one item, through the Tracker: the demo's scope says the same sentences
in many calls ("Okay.", "Can I get a discount?")."""
from __future__ import annotations

import numpy as np
import polars as pl

from tests.trackers.test_tracker import answer_round, make_tracker
from workbench.demo.job import DEMO_EXAMPLES
from workbench.training.duplicates import text_key


def test_a_tag_answers_every_copy_and_a_round_offers_each_text_once(demo_ws):
    t = make_tracker(demo_ws, examples=DEMO_EXAMPLES)
    scope = t.scope(training=True)
    keys = scope["text"].map_elements(text_key, return_dtype=pl.String)
    assert keys.n_unique() < scope.height  # the demo repeats some sentences ("Okay.", greetings)

    first = t.next_round()
    assert len({text_key(c.text) for c in first}) == len(first)  # never one text twice in a round
    answer_round(t, first)
    t.train()
    tags = t.tags()
    assert tags.height == len(first)  # stored on the sentences shown, once per text
    tagged = {text_key(x): a for x, a in zip(tags["text"], tags["answer"])}

    session = t._session()
    copies = keys.is_in(list(tagged)).to_numpy()
    assert copies.sum() >= len(tagged)
    # Every copy of a tagged text reads as tagged with its text's answer ...
    expected = np.array([{"yes": 1, "no": 0}.get(tagged.get(k), -1) for k in keys])
    np.testing.assert_array_equal(session.labels[copies], expected[copies])
    assert session.shown[copies].all() and not session.available[copies].any()
    # ... the estimate reports the user's answers once per text (it leaves the untagged copies
    # to be estimated: a text's meaning can depend on its turn) ...
    est = t.performance()
    assert est.n_yes + est.n_no + est.n_not_sure == len(tagged)
    # (The session counts the calls with a detection on integer codes, not on the call ids'
    # strings, which took a quarter of a second at a million sentences.)
    assert session.call_ids.dtype.kind in "iu"
    assert est.detected_calls == scope.filter(pl.Series(session.scores() > 0))["call_id"].n_unique()
    # ... and no copy is ever offered again.
    for rnd in (t.next_round(), t.verification_round(10)):
        offered = [text_key(c.text) for c in rnd]
        assert len(set(offered)) == len(offered) and not set(offered) & set(tagged)
