"""Fixtures for tests that drive a real headless Chromium (Debian's) through Playwright.

Playwright's own browser downloads are never used: the project's machines have no route to
them, and Debian's `chromium` is what the setup script installs. Set WORKBENCH_CHROMIUM to
use another binary.

    def test_dashboard(page, screenshot_dir):
        page.goto(server.urls[0])
        wait_for_widgets(page, timeout=30)
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.serve.browser import CHROMIUM_ARGS, find_chromium, widgets_state

REPO_ROOT = Path(__file__).resolve().parents[2]
# Voila and the MLflow SPA compile a lot of JavaScript on two shared cores; keep the
# default generous so a loaded machine does not read as a failure.
DEFAULT_TIMEOUT_MS = 30_000


_find_chromium = find_chromium


def _try_install_chromium() -> str:
    """apt-get install chromium where we may (root, Debian); returns why not otherwise."""
    if os.environ.get("WORKBENCH_NO_BROWSER_INSTALL"):
        return "WORKBENCH_NO_BROWSER_INSTALL is set"
    if not shutil.which("apt-get"):
        return "there is no apt-get here to install it with"
    if os.geteuid() != 0:
        return "installing it needs root: sudo apt-get install -y chromium"
    for argv in (["apt-get", "install", "-y", "-q", "chromium"],
                 ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(argv)} failed: {exc}"
        if done.returncode == 0 and argv[1] == "install":
            return ""
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _find_chromium()
    if path is None:
        why = _try_install_chromium()
        path = _find_chromium()
        if path is None:
            pytest.skip(f"no Chromium: none installed, and it could not be installed ({why or 'unknown'}); "
                        "install Debian's `chromium` or set WORKBENCH_CHROMIUM")
    return path


@pytest.fixture(scope="session")
def _playwright():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(_playwright, chromium_path):
    """One headless Chromium for the session; each test gets its own context (`page`).

    No --user-data-dir: Playwright refuses it for launch() and gives every launch a fresh
    temporary profile of its own, which is what the flag would have bought us."""
    instance = _playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so `page` can screenshot a failed test.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request, screenshot_dir):
    """A fresh page (own context: no cookies or storage shared between tests).

    A JavaScript dialog (alert/confirm/prompt) fails the test: the workbench's pages
    never open one, so one means injected script ran. A failed test leaves a screenshot
    `<test name>-failure.png` in the screenshot folder.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        try:
            tab.screenshot(path=str(screenshot_dir / f"{request.node.name}-failure.png"), full_page=True)
        except Exception:  # the page may be what broke; the test's own error matters more
            pass
    context.close()
    if dialogs:
        pytest.fail(f"the page opened JavaScript dialogs: {dialogs}")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """`test-output/screenshots/` in the repository root (ignored by git)."""
    path = REPO_ROOT / "test-output" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for_widgets(page, timeout: float = 30.0, *, min_count: int = 1) -> None:
    """Wait until Voila has rendered the page's widgets: no "Loading widget..." left and at
    least `min_count` rendered ipywidgets. Fails at once when Voila reports a cell error
    or the widget manager cannot display a widget. `timeout` is in seconds."""
    state = widgets_state(page, timeout, min_count=min_count)
    if state != "ok":
        body = page.inner_text("body")[-2000:]
        pytest.fail(f"Voila page {page.url} did not render its widgets ({state}):\n{body}")
