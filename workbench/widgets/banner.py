"""The unpublished-changes banner at the top of the overview, results and tagging screens.

While a tracker has changes its live results do not reflect (``tracker.unpublished_changes``:
a newer version, an edited scope, tags not trained yet), the banner lists them, shows the diff
of publishing on request (``tracker.diff``) and publishes (``tracker.publish``). It is hidden
otherwise, and for trackers that were never activated: before activation nothing is live.
"""
from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets

from workbench.widgets._render import esc, html_block, set_html


class UnpublishedBanner:
    """>>> UnpublishedBanner(tracker).widget   # its box is hidden when nothing is pending"""

    def __init__(self, tracker: Any, *, on_publish: Callable[[Any], None] | None = None) -> None:
        self.tracker = tracker
        self.on_publish = on_publish  # the screen's refresh after publishing
        self.message = html_block("")
        self.diff_button = widgets.Button(description="Show the diff", icon="columns",
                                          layout=widgets.Layout(width="150px"))
        self.publish_button = widgets.Button(description="Publish", icon="upload", button_style="warning",
                                             layout=widgets.Layout(width="120px"))
        self.diff_button.on_click(lambda _: self.show_diff())
        self.publish_button.on_click(lambda _: self.publish())
        self.details = html_block("")
        self.box = widgets.VBox([self.message, widgets.HBox([self.diff_button, self.publish_button]), self.details],
                                layout=widgets.Layout(border="1px solid #d9b300", padding="4px 10px",
                                                      margin="0 0 8px 0"))
        self.box.add_class("wb-unpublished")
        # Below the box, so that it stays in sight when publishing empties and hides the box.
        self.outcome = html_block("")
        self.published = None  # what the last Publish here answered, shown under the box
        self.widget = widgets.VBox([self.box, self.outcome])
        self.refresh()

    def changes(self) -> list[str]:
        # Keyword trackers have no versions to publish: their phrases apply as soon as they change.
        return self.tracker.unpublished_changes() if hasattr(self.tracker, "unpublished_changes") else []

    def refresh(self) -> list[str]:
        """Show or hide the banner for the tracker's pending changes; returns them."""
        changes = self.changes()
        self.box.layout.display = None if changes else "none"
        self.widget.layout.display = None if changes or self.published is not None else "none"
        state = self.tracker.live_state() if changes else None
        live = f" The results shown are of the {esc(state.describe())}." if state is not None else ""
        set_html(self.message, "<p class='wb-warning'><b>Unpublished changes.</b>" + live + "</p><ul>"
                 + "".join(f"<li>{esc(c)}</li>" for c in changes) + "</ul>")
        return changes

    def show_diff(self):
        """What publishing the latest version with the current definition would change."""
        set_html(self.details, "<p class='wb-muted'>Comparing the published version with the latest…</p>")
        diff = self.tracker.diff(progress=False)
        set_html(self.details, f"<pre>{esc(str(diff))}</pre>")
        return diff

    def publish(self):
        """Publish the latest version with the current definition (re-applied to the history)."""
        self.publish_button.disabled = True
        set_html(self.details, "<p class='wb-muted'>Publishing…</p>")
        try:
            result = self.tracker.publish(progress=False, verbose=False)
        except Exception as err:  # shown, not swallowed: the user must see why it failed
            set_html(self.details, f"<p class='wb-error'>Publishing failed: {esc(err)}</p>")
            raise
        finally:
            self.publish_button.disabled = False
        set_html(self.details, "")
        self.published = result
        set_html(self.outcome, f"<p class='wb-muted'>{esc(str(result))}</p>")
        self.refresh()
        if self.on_publish is not None:
            self.on_publish(result)
        return result
