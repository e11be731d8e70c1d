"""Headless Debian Chromium driven by Playwright: what the browser tests and `workbench screenshots` share.

Playwright's own browser downloads are never used (the project's machines have no route to
them); Debian's `chromium` is what scripts/setup.sh installs. WORKBENCH_CHROMIUM names another.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from workbench.core.errors import WorkbenchError

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# ipywidgets 8 under voila 0.5 renders each widget as an element with classes
# `lm-Widget jupyter-widgets widget-<kind>` (widget-button, widget-html, widget-vbox, ...).
# Before the widget manager has the model, the output holds the text "Loading widget..."
# (and with ipywidgets 7 that placeholder also carries `jupyter-widgets`, hence the text check).
WIDGETS_STATE_JS = """
(minCount) => {
    const body = document.body;
    if (!body) return null;
    const text = body.innerText || "";
    // Voila's message without --show_tracebacks, the traceback itself with it.
    if (text.includes("There was an error when executing cell")) return "a cell raised an error";
    if (text.includes("Traceback (most recent call last)")) return "a cell raised an error";
    if (text.includes("Cell execution timed out")) return "a cell timed out";
    if (text.includes("Error displaying widget")) return "a widget could not be displayed";
    if (text.includes("Loading widget")) return null;
    const rendered = document.querySelectorAll('.jupyter-widgets[class*="widget-"]').length;
    return rendered >= minCount ? "ok" : null;
}
"""


def find_chromium() -> str | None:
    configured = os.environ.get("WORKBENCH_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def widgets_state(page, timeout: float = 30.0, *, min_count: int = 1) -> str:
    """Wait until Voila has rendered the page's widgets; "ok", or why not (a cell error, ...)."""
    return page.wait_for_function(WIDGETS_STATE_JS, arg=min_count, timeout=timeout * 1000, polling=100).json_value()


def screenshot_notebooks(workspace: Path, notebooks: list[Path], out_dir: Path, *, timeout: float = 120.0,
                         suffix: str = "", scroll_to: str | None = None) -> list[Path]:
    """Serve notebooks with Voila on the workspace and save one PNG of each, as a person sees it:
    ``<notebook><suffix>.png`` (a suffix tells a screen's state apart, e.g. "-unpublished").
    ``scroll_to``: a text further down the page (e.g. the overview's "Also create a stream"), scrolled
    into view first; Voila scrolls inside its own pane, so a full-page picture would not reach it."""
    from playwright.sync_api import sync_playwright

    from workbench.serve.servers import start_voila

    chromium = find_chromium()
    if chromium is None:
        raise WorkbenchError("No Chromium found: install Debian's `chromium` (scripts/setup.sh does) or set WORKBENCH_CHROMIUM.")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with start_voila(notebooks, workspace) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            for nb, url in zip(notebooks, server.urls):
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.goto(url, timeout=timeout * 1000)
                state = widgets_state(page, timeout)
                if state != "ok":
                    raise WorkbenchError(f"{nb.name} did not render ({state}); see {server.log_path}")
                if scroll_to:
                    target = page.get_by_text(scroll_to).first
                    target.wait_for(timeout=timeout * 1000)
                    target.evaluate("e => e.scrollIntoView({block: 'center'})")  # with what surrounds it
                page.wait_for_timeout(1500)  # let figures (inline PNGs) finish decoding
                path = out_dir / f"{nb.stem}{suffix}.png"
                page.screenshot(path=str(path))
                written.append(path)
                page.close()
        finally:
            browser.close()
    return written
