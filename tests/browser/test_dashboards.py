"""Notebooks 3 to 7 served by a real Voila and read in headless Chromium.

Screenshots land in test-output/screenshots/ (04_performance_overview.png, ...), to look at
what a stakeholder sees.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.conftest import wait_for_widgets
from tests.demo_workspace import DEMO_TRACKER, END_DATE, copy_with_tracker, tag_by_truth

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
BROWSER_TRACKER = "Browser tagging"
# A kernel imports the workbench, reads the workspace and renders the figures before the
# page has widgets: on two shared cores that can take a while.
RENDER_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, embedder, request) -> Path:
    return copy_with_tracker(tmp_path_factory, embedder, request, "dashboards", BROWSER_TRACKER)


@pytest.fixture(scope="module")
def dashboards(workspace):
    """Voila serving the stakeholder dashboards and notebook 6 (its streams panel) with the
    default (demo) tracker."""
    from workbench.serve.servers import start_voila

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKBENCH_TRACKER", raising=False)
        server = start_voila([NOTEBOOKS / "04_performance_overview.ipynb", NOTEBOOKS / "05_tracker_results.ipynb",
                              NOTEBOOKS / "06_activate_and_publish.ipynb", NOTEBOOKS / "07_initiative_board.ipynb"],
                             workspace, show_tracebacks=True)
    with server:
        yield dict(zip(("04", "05", "06", "07"), server.urls))


def test_performance_overview_dashboard(dashboards, page, screenshot_dir):
    page.goto(dashboards["04"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.get_by_text("Precision: detections that are right").wait_for()
    assert page.locator("img.wb-figure").count() == 1
    assert page.locator("img.wb-figure").first.evaluate("img => img.naturalWidth") > 300  # a decoded image
    assert page.locator("li.wb-sample").count() > 0
    assert page.get_by_text("sample detections").count() >= 1
    assert "import os" not in page.inner_text("body")  # Voila strips the code
    page.screenshot(path=str(screenshot_dir / "04_performance_overview.png"), full_page=True)


def test_activating_from_the_overview_shows_the_plan_and_the_warning_first(dashboards, workspace, page):
    """The overview's Activate panel: the first click shows the plan and the concerns (2 rounds
    of the 4 of a basic model), "Activate anyway" activates, and makes the stream asked for in
    the same step. The results and board tests below then read the live results."""
    from workbench import Workspace

    page.goto(dashboards["04"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.get_by_label("Also create a stream of the calls it finds").check()
    page.get_by_label("Command", exact=True).fill("true")
    page.get_by_role("button", name="Activate").click()  # the icon glyph is part of its accessible name
    page.get_by_text("Before you activate it:").wait_for(timeout=60_000)
    assert page.get_by_text("Only 2 rounds tagged").count() == 1 and page.get_by_text("sentences in scope").count()
    assert not Workspace(workspace).tracker(DEMO_TRACKER).is_active
    assert Workspace(workspace).streams() == []
    page.get_by_role("button", name="Activate anyway").click()
    page.get_by_text("is active with version").wait_for(timeout=RENDER_TIMEOUT_S * 1000)
    page.get_by_text(f"Stream '{DEMO_TRACKER} mentions' created.").wait_for()
    ws = Workspace(workspace)
    assert ws.tracker(DEMO_TRACKER).is_active
    stream = ws.stream(f"{DEMO_TRACKER} mentions")
    assert stream.command == ["true"] and stream.search_spec["trackers"] == [DEMO_TRACKER]
    stream.delete()  # the streams panel's test starts from none


def test_tracker_results_dashboard(dashboards, page, screenshot_dir):
    page.goto(dashboards["05"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.locator(".wb-mention").first.wait_for()
    assert page.locator("img.wb-figure").count() == 3
    assert page.get_by_text("Calls that mention it (most mentions first)").count() == 1
    page.screenshot(path=str(screenshot_dir / "05_tracker_results.png"), full_page=True)


def test_initiative_board_dashboard(dashboards, page, screenshot_dir):
    page.goto(dashboards["07"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.locator("img.wb-figure").first.wait_for(timeout=60_000)
    assert page.locator("img.wb-figure").count() == 1 and page.get_by_text(DEMO_TRACKER).count() >= 1
    page.get_by_role("button", name="Per team").click()
    page.locator("table.wb-table th", has_text="team").first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "07_initiative_board.png"), full_page=True)


def _active_demo_tracker(workspace: Path, embedder=None):
    """The demo tracker, activated here if the activation test above has not run (a test run alone)."""
    from workbench import Workspace

    tracker = Workspace(workspace, model=embedder).tracker(DEMO_TRACKER)
    if not tracker.is_active:
        tracker.activate(12, as_of=END_DATE, progress=False, verbose=False)
    return tracker


def test_streams_panel_creates_pauses_resumes_and_deletes_a_stream(dashboards, workspace, page, screenshot_dir):
    """Notebook 6's streams panel: a refused webhook shows its reason and stores nothing; each of
    create, pause, resume and delete is then read back from the workspace, as another process would."""
    from workbench import Workspace

    _active_demo_tracker(workspace)
    page.goto(dashboards["06"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.get_by_text("No streams yet.").wait_for()
    page.get_by_label("Name", exact=True).fill("Discount asks in SMB")
    page.get_by_label("Filters", exact=True).fill("team=SMB")
    page.get_by_label("Webhook", exact=True).fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Create stream").click()
    page.get_by_text("an internal, loopback or link-local address").wait_for()
    assert Workspace(workspace).streams() == []

    page.get_by_label("Webhook", exact=True).fill("")
    page.get_by_label("Command", exact=True).fill("true")
    page.get_by_role("button", name="Create stream").click()
    page.get_by_text("Created stream 'Discount asks in SMB'").wait_for()
    stream = Workspace(workspace).stream("Discount asks in SMB")
    assert stream.command == ["true"] and stream.webhook is None and not stream.paused
    assert stream.search_spec["trackers"] == [DEMO_TRACKER] and "SMB" in str(stream.search_spec["filters"])
    assert page.locator("table.wb-table td", has_text="command true").count() == 1
    # The README's picture of the panel (workbench screenshots never serves notebook 6, whose cells
    # activate and publish): the panel centred in Voila's own scrolling pane.
    page.get_by_role("button", name="Create stream").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(screenshot_dir / "06_streams_panel.png"))

    for button, done, paused in (("Pause", "paused", True), ("Resume", "resumed", False)):
        page.get_by_role("button", name=button).click()
        page.get_by_text(f"Stream 'Discount asks in SMB': {done}.").wait_for()
        assert Workspace(workspace).stream("Discount asks in SMB").paused is paused
    page.get_by_role("button", name="Delete").click()
    page.get_by_text("Stream 'Discount asks in SMB': deleted.").wait_for()
    page.get_by_text("No streams yet.").wait_for()
    assert Workspace(workspace).streams() == []


def test_banner_publishes_and_the_overview_renames(dashboards, workspace, embedder, page, screenshot_dir):
    """A version trained without publishing puts the banner on the overview, with the change and
    the diff; Publish moves the alias and hides it. On the same page, a refused name shows why and
    a good one reaches the workspace with the versions. Runs last of the demo tracker's tests: it
    leaves the tracker renamed."""
    from workbench import Workspace
    from workbench.core.errors import NotFoundError

    tracker = _active_demo_tracker(workspace, embedder)
    published = tracker.published_version
    tag_by_truth(tracker, tracker.next_round())
    latest = tracker.train().version
    assert latest == published + 1 and tracker.unpublished_changes()

    page.goto(dashboards["04"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    banner = page.locator(".wb-unpublished")
    banner.get_by_text(f"version {latest} was trained after the published version {published}").wait_for()
    assert banner.get_by_text("Unpublished changes.").count() == 1
    banner.get_by_role("button", name="Show the diff").click()
    banner.get_by_text(f"version {published} -> version {latest}").wait_for(timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "04_performance_overview-unpublished.png"), full_page=True)
    banner.get_by_role("button", name="Publish").click()
    banner.wait_for(state="hidden", timeout=60_000)  # a failed publish would keep it, with the error
    page.get_by_text(f"Published version {latest}").wait_for()  # the outcome stays in sight
    ws = Workspace(workspace)
    assert ws.registry.get_alias(DEMO_TRACKER, "published") == latest
    assert ws.tracker(DEMO_TRACKER).unpublished_changes() == []

    rename = page.locator(".widget-hbox", has=page.get_by_role("button", name="Rename"))
    rename.locator("input").fill("x" * 61)
    rename.get_by_role("button", name="Rename").click()
    rename.get_by_text("at most 60").wait_for()
    assert Workspace(workspace).tracker(DEMO_TRACKER).name == DEMO_TRACKER
    rename.locator("input").fill("Discount requests")
    rename.get_by_role("button", name="Rename").click()
    rename.get_by_text("Renamed").wait_for()
    page.locator("h2", has_text="Discount requests").wait_for()
    ws = Workspace(workspace)
    renamed = ws.tracker("Discount requests")
    assert renamed.versions()["version"].to_list() == list(range(1, latest + 1))
    assert ws.registry.get_alias("Discount requests", "published") == latest and renamed.is_active
    with pytest.raises(NotFoundError):
        ws.tracker(DEMO_TRACKER)


def test_tagging_in_the_browser_reaches_the_workspace(workspace, page, screenshot_dir, monkeypatch):
    from workbench import Workspace
    from workbench.serve.servers import start_voila

    monkeypatch.setenv("WORKBENCH_TRACKER", BROWSER_TRACKER)
    with start_voila([NOTEBOOKS / "03_tag_rounds.ipynb"], workspace, show_tracebacks=True) as server:
        page.goto(server.urls[0])
        wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
        page.get_by_text("0 of 25, round 1").wait_for()
        first = Workspace(workspace).tracker(BROWSER_TRACKER).current_round()[0]
        assert page.locator(".wb-target").first.inner_text() == first.text
        page.get_by_role("button", name="YES", exact=True).click()
        page.get_by_text("1 of 25, round 1").wait_for()
        page.screenshot(path=str(screenshot_dir / "03_tag_rounds.png"), full_page=True)
        # The keyboard: with the pointer over the sentence, N answers NO (ipyevents).
        second = Workspace(workspace).tracker(BROWSER_TRACKER).current_round()[1]
        page.locator(".wb-target").first.hover()
        page.keyboard.press("n")
        page.get_by_text("2 of 25, round 1").wait_for()

        # The progress label is drawn after the tag is committed; read it as another process would.
        deadline = time.monotonic() + 10
        while True:
            tags = Workspace(workspace).tracker(BROWSER_TRACKER).tags()
            if tags.height >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert dict(zip(tags["sentence_id"], tags["answer"])) == {first.sentence_id: "yes", second.sentence_id: "no"}
