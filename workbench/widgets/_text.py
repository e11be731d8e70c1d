"""A screen as plain text: what its reader sees, for the places where no widget can be drawn.

Every dashboard displays as its widget and, beside it in the same display bundle, as this text
(its text/plain). ipywidgets' own text/plain is the first 110 characters of the widget's repr,
that is the style sheet; with this one a saved notebook says what the screen showed (in a text
front end, a diff, a page with no widget manager), and the notebook checks (nbval, see the
README's Tests) compare what each dashboard shows, not only that its cell ran.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import ipywidgets as widgets

_BLOCKS = {"div", "p", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "li", "br", "table", "ul", "ol", "pre"}
_CELLS = {"td", "th"}
_HIDDEN = {"style", "script"}
_CHOICES_LISTED = 8


class _HTMLText(HTMLParser):
    """The text of an HTML fragment: blocks on their own lines, table cells split by " | ",
    pictures as "[figure: alt]", style sheets and scripts left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" | ")
        elif tag == "img":
            self.parts.append(f"[figure: {dict(attrs).get('alt') or 'no description'}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup or "")
    parser.close()
    return "".join(parser.parts)


def _labelled(label: str, value: str) -> str:
    return f"{label}: {value}" if label else value


def _control_text(w: widgets.Widget) -> str:
    label = getattr(w, "description", "") or ""
    if isinstance(w, (widgets.Button, widgets.ToggleButton)):
        return f"[{label}]"
    if isinstance(w, widgets.Checkbox):
        return f"[{'x' if w.value else ' '}] {label}"
    if isinstance(w, (widgets.SelectMultiple, widgets.ToggleButtons, widgets.RadioButtons, widgets.Select)):
        chosen = set(w.label) if isinstance(w, widgets.SelectMultiple) else {w.label}
        # Every choice is on the screen: the chosen ones in brackets.
        return _labelled(label, ", ".join(f"[{o}]" if o in chosen else str(o) for o in w._options_labels))
    if isinstance(w, widgets.Dropdown):  # shows its choice; the others are a click away
        others = [str(o) for o in w._options_labels if o != w.label]
        listed = ", ".join(others[:_CHOICES_LISTED]) + (f" and {len(others) - _CHOICES_LISTED} more"
                                                        if len(others) > _CHOICES_LISTED else "")
        return _labelled(label, f"{w.label if w.label is not None else ''}" + (f" (or {listed})" if others else ""))
    if isinstance(w, widgets.IntProgress):
        return _labelled(label, f"{w.value} of {w.max}")
    if hasattr(w, "value"):  # Text, Textarea, BoundedIntText, DatePicker
        return _labelled(label, "" if w.value is None else str(w.value))
    return label


def _parts(w: Any) -> list[str]:
    layout = getattr(w, "layout", None)
    if layout is not None and (layout.display == "none" or layout.visibility == "hidden"):
        return []  # hidden (e.g. the banner when nothing is unpublished): not part of what is seen
    if isinstance(w, widgets.Box):
        return [p for child in w.children for p in _parts(child)]
    if isinstance(w, (widgets.HTML, widgets.HTMLMath)):
        return [html_text(w.value)]
    if isinstance(w, widgets.Output):
        return [o.get("text") or o.get("data", {}).get("text/plain", "") for o in w.outputs]
    if isinstance(w, widgets.DOMWidget):
        return [_control_text(w)]
    return []


def plain_text(widget: widgets.Widget) -> str:
    """What the widget shows, as lines of text (blank lines and repeated spaces dropped)."""
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for p in _parts(widget) for line in p.splitlines())
    return "\n".join(line for line in lines if line)


def show(widget: widgets.Widget) -> None:
    """Display a screen: the live widget, with its plain text as the text/plain beside it."""
    from IPython.display import display

    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = plain_text(widget)
    display(bundle, raw=True)
