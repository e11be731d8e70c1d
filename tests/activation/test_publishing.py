"""Training after activation: unpublished changes, diff, publish (real MLflow aliases)."""
from __future__ import annotations

import json

import pytest

from tests.activation.conftest import AS_OF
from workbench.core.errors import NotFoundError, ValidationError
from workbench.registry.versions import registered_model_name


def test_changes_stay_unpublished_until_publish(live_ws, tracker):
    live_ws.registry.set_alias(tracker.name, "published", 1)  # version 2 is the newer training
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert set(tracker.results().detections["version"]) == {1}
    assert tracker.unpublished_changes() == ["version 2 was trained after the published version 1"]

    # Editing the scope is a change too; the live results do not move.
    before = tracker.results().detections
    import polars as pl

    # Drop a team where the published version finds something, so the diff has losses to show.
    published_teams = live_ws.calls.filter(pl.col("call_id").is_in(before["call_id"].implode()))["team"]
    dropped = published_teams.value_counts(sort=True)["team"][0]
    teams = sorted(set(live_ws.calls["team"]) - {dropped})
    with pytest.warns(UserWarning):
        tracker.update(filters={"is_external": True, "team": teams})
    assert any(c.startswith("filters changed") for c in tracker.unpublished_changes())
    assert tracker.results().detections.equals(before)

    d = tracker.diff()
    assert (d.published_version, d.candidate_version) == (1, 2)
    assert d.mentions_before == before.height
    assert d.mentions_after - d.mentions_before == d.gained.height - d.lost.height
    assert d.by_team["gained"].sum() == d.gained.height and d.by_team["lost"].sum() == d.lost.height
    assert d.by_month["mentions_after"].sum() == d.mentions_after
    assert set(d.gained["team"].drop_nulls()) <= set(teams)  # new detections only in the new scope
    assert any(c.startswith("filters changed") for c in d.definition_changes)
    text = str(d)
    assert "version 1 -> version 2" in text and f"{d.calls_before:>8,} -> {d.calls_after:,}" in text
    assert d.lost.height > 0 and "per team" in text and d.lost["text"][0] in text
    assert set(d.lost["team"].drop_nulls()) >= {dropped}

    result = tracker.publish(progress=False, verbose=False)
    assert result.reapplied and result.version == 2 and result.previous_version == 1
    assert live_ws.registry.get_alias(tracker.name, "published") == 2 and tracker.published_version == 2
    live = tracker.results()
    assert live.detections.height == d.mentions_after > 0 and set(live.detections["version"]) == {2}
    assert set(live.detections["sentence_id"]) == (set(before["sentence_id"]) - set(d.lost["sentence_id"])) | set(
        d.gained["sentence_id"])
    assert tracker.unpublished_changes() == [] and not tracker.has_unpublished_changes
    assert not tracker.diff().changed
    # The published definition is on the registered version: the version is reproducible from MLflow.
    mv = live_ws.registry.client.get_model_version(registered_model_name(tracker.name), "2")
    assert json.loads(mv.tags["workbench.published_definition"])["filters"]["team"] == teams
    assert "already published" in str(tracker.publish(verbose=False))

    # Rolling back is publishing the older version: its detections again, in the current scope
    # (the dropped team's are gone; on the demo corpus they may be all of them).
    rolled_back = tracker.publish(1, progress=False, verbose=False)
    assert rolled_back.reapplied and live_ws.registry.get_alias(tracker.name, "published") == 1
    after = tracker.results().detections
    assert set(after["version"]) <= {1}
    kept_calls = live_ws.calls.filter(pl.col("team") != dropped)["call_id"].implode()
    assert set(after["sentence_id"]) == set(before.filter(pl.col("call_id").is_in(kept_calls))["sentence_id"])
    with pytest.raises(NotFoundError, match=f"tracker '{tracker.name}' has no version 99"):
        tracker.publish(99, verbose=False)


def test_publish_before_activation_only_moves_the_alias(live_ws, tracker):
    result = tracker.publish(1, verbose=False)
    assert not result.reapplied and live_ws.registry.get_alias(tracker.name, "published") == 1
    d = tracker.diff(as_of=AS_OF)  # against the published version over the last 12 months
    assert (d.published_version, d.candidate_version) == (1, 2) and d.calls_before == d.calls_after > 0
    assert tracker.activate(12, as_of=AS_OF, progress=False, verbose=False).version == 1


def test_dashboards_label_the_published_version_and_scope_and_carry_a_banner_to_publish(live_ws, tracker):
    """After a newer training and an edited scope, the results screen still says what its figures
    are of (published version 1, the scope it went live with); the banner on the results,
    overview and tagging screens lists the changes, shows the diff and publishes."""
    from workbench.widgets import TaggingView, TrackerResults
    from workbench.widgets.banner import UnpublishedBanner

    live_ws.registry.set_alias(tracker.name, "published", 1)
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    live_scope = tracker.definition.describe_scope()
    assert TrackerResults(tracker).banner.changes() == ["version 2 was trained after the published version 1"]
    with pytest.warns(UserWarning):
        tracker.update(filters={"is_external": True, "team": ["SMB"]})

    tracker.update(description="The customer asks for a lower price & better terms")
    view = TrackerResults(tracker)
    assert "title='The customer asks for a lower price &amp; better terms'" in view.headline.value
    assert "published version 1 · " + live_scope in view.headline.value.replace("&#x27;", "'")
    assert "SMB" not in view.headline.value and "model version 2" not in view.headline.value
    assert view.banner.box.layout.display is None
    banner = view.banner.message.value
    assert "version 2 was trained after the published version 1" in banner and "filters changed" in banner
    assert TaggingView(tracker).banner.box.layout.display is None
    assert UnpublishedBanner(tracker).changes() == tracker.unpublished_changes()

    view.banner.diff_button.click()
    assert "version 1 -&gt; version 2" in view.banner.details.value
    view.banner.publish_button.click()
    assert tracker.unpublished_changes() == [] and live_ws.registry.get_alias(tracker.name, "published") == 2
    # The box hides once nothing is pending; the outcome stays in sight below it.
    assert view.banner.box.layout.display == "none" and "Published version 2" in view.banner.outcome.value
    assert "published version 2 · " in view.headline.value and "SMB" in view.headline.value
    assert view.report.calls_in_scope == tracker.report().calls_in_scope


def test_renaming_keeps_versions_aliases_results_and_streams(live_ws, tracker, capsys):
    from workbench.cli.app import main

    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    live_ws.create_stream("Asks", trackers=[tracker.name])
    versions, results = tracker.versions(), tracker.results().detections
    tags, published = tracker.tags(), live_ws.registry.get_alias(tracker.name, "published")
    old = tracker.name
    with pytest.raises(ValidationError, match="t.rename"):
        tracker.update(name="Discount asks")
    with pytest.raises(ValidationError, match="at most 60"):
        tracker.rename("x" * 61)

    renamed = tracker.rename("Discount asks")
    assert renamed.name == tracker.name == "Discount asks" and renamed.id == tracker.id
    assert renamed.versions().select("version", "round").equals(versions.select("version", "round"))
    assert live_ws.registry.get_alias("Discount asks", "published") == published
    assert live_ws.registry.get_alias(old, "published") is None and live_ws.registry.versions(old) == []
    assert renamed.results().detections.equals(results) and renamed.tags().equals(tags)
    assert renamed.is_active and renamed.unpublished_changes() == []
    assert live_ws.stream("Asks").search_spec["trackers"] == ["Discount asks"]
    assert live_ws.search("Discount asks").calls.height > 0
    with pytest.raises(NotFoundError):
        live_ws.tracker(old)
    renamed.train()  # the next version lands in the renamed experiment and model
    assert renamed.versions()["version"].to_list()[-1] == versions["version"].max() + 1

    live_ws.create_keyword_tracker("Price words", phrases=["price"])
    with pytest.raises(ValidationError, match="already exists"):
        renamed.rename("price words")
    assert main(["-w", str(live_ws.path), "tracker", "rename", "Discount asks", "Discount requests"]) == 0
    assert "Renamed 'Discount asks' to 'Discount requests'" in capsys.readouterr().out
    assert live_ws.tracker("discount requests").versions().height == versions.height + 1
