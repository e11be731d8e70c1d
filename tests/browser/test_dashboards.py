"""Notebooks 3, 4 and 5 served by a real Voila and read in headless Chromium.

Screenshots land in test-output/screenshots/ (04_performance_overview.png, ...), to look at
what a stakeholder sees.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.conftest import wait_for_widgets
from tests.demo_workspace import DEMO_TRACKER, copy_with_tracker

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
    """Voila serving the two stakeholder dashboards with the default (demo) tracker."""
    from workbench.serve.servers import start_voila

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKBENCH_TRACKER", raising=False)
        server = start_voila([NOTEBOOKS / "04_performance_overview.ipynb", NOTEBOOKS / "05_tracker_results.ipynb",
                              NOTEBOOKS / "07_initiative_board.ipynb"], workspace, show_tracebacks=True)
    with server:
        yield dict(zip(("04", "05", "07"), server.urls))


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
    of the 4 of a basic model), "Activate anyway" activates. The results and board tests below
    then read the live results."""
    from workbench import Workspace

    page.goto(dashboards["04"])
    wait_for_widgets(page, timeout=RENDER_TIMEOUT_S)
    page.get_by_role("button", name="Activate").click()  # the icon glyph is part of its accessible name
    page.get_by_text("Before you activate it:").wait_for(timeout=60_000)
    assert page.get_by_text("Only 2 rounds tagged").count() == 1 and page.get_by_text("sentences in scope").count()
    assert not Workspace(workspace).tracker(DEMO_TRACKER).is_active
    page.get_by_role("button", name="Activate anyway").click()
    page.get_by_text("is active with version").wait_for(timeout=RENDER_TIMEOUT_S * 1000)
    assert Workspace(workspace).tracker(DEMO_TRACKER).is_active


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
