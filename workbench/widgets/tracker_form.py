"""Notebook 2's screen: define a smart tracker and give its example sentences.

The form reads its fields and draws; the checks are the core's (``definition_errors``, the
ones ``ws.create_tracker`` runs), each ValidationError shown beside the field it names
(``error.field``), all of them at once where they are independent, so a user fixes the form in
one pass rather than one error per click. The examples follow the API's rule: a tracker may be
created with fewer than 5, and the form says how many more the first round needs.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import ipywidgets as widgets

from workbench.core.errors import ValidationError
from workbench.trackers.definition import definition_errors
from workbench.trackers.examples import MAX_EXAMPLES, MIN_EXAMPLES, examples_needed
from workbench.widgets._render import esc, html_block, set_html
from workbench.widgets._text import show

# The call columns offered as pick-lists; any other column can still be filtered from the API.
PICK_COLUMNS = ("team", "rep", "deal_stage")
FIELDS = ("name", "description", "mentioned_by", "filters", "started_at", "call_part", "channels", "examples")
_LABEL = widgets.Layout(width="150px")


def _message(err: ValidationError) -> str:
    return esc(err.problem) + (f". {esc(err.fix)}" if err.fix else "")


class TrackerForm:
    """Create a tracker: name, description, who mentions it, call filters, part of the call,
    channels and example sentences (one per line). ``submit()`` is what the button calls.

    After a successful submit ``form.tracker`` is the new Tracker; otherwise ``form.errors``
    maps each field to the message shown beside it.
    """

    def __init__(self, ws: Any, *, name: str = "", description: str = "", mentioned_by: str = "any",
                 examples: list[str] | tuple[str, ...] = (), on_created: Callable[[Any], None] | None = None) -> None:
        self.ws = ws
        self.on_created = on_created
        self.tracker = None
        self.errors: dict[str, str] = {}
        calls = ws.calls

        self.name = widgets.Text(value=name, placeholder="Asking for a discount", layout=widgets.Layout(width="360px"))
        self.description = widgets.Textarea(value=description, placeholder="The customer asks for a lower price, a discount or better terms.",
                                            layout=widgets.Layout(width="360px", height="60px"))
        self.mentioned_by = widgets.ToggleButtons(
            options=[("The customer", "customer"), ("The company", "company"), ("Anyone", "any")],
            value=mentioned_by if mentioned_by in ("customer", "company", "any") else "any")
        self.is_external = widgets.Dropdown(
            options=[("External calls only", True), ("Internal calls only", False), ("All calls", None)], value=True)
        self.picks: dict[str, widgets.SelectMultiple] = {}
        for col in PICK_COLUMNS:
            if col in calls.columns:
                values = sorted(v for v in calls[col].unique().to_list() if v is not None)
                self.picks[col] = widgets.SelectMultiple(options=values, rows=min(5, max(2, len(values))),
                                                         layout=widgets.Layout(width="240px"))
        first, last = (calls["started_at"].min(), calls["started_at"].max()) if calls.height else (None, None)
        self.date_from = widgets.DatePicker(description="from", value=None)
        self.date_to = widgets.DatePicker(description="to", value=None)
        self.date_hint = f"calls run from {first:%Y-%m-%d} to {last:%Y-%m-%d}" if first else ""
        self.call_part = widgets.Dropdown(
            options=[("Anytime", "anytime"), ("In the first … minutes", "first"), ("In the last … minutes", "last")],
            value="anytime")
        self.minutes = widgets.BoundedIntText(value=5, min=1, max=600, layout=widgets.Layout(width="80px"),
                                              disabled=True)
        self.call_part.observe(lambda ch: setattr(self.minutes, "disabled", ch["new"] == "anytime"), "value")
        self.channels = widgets.Dropdown(options=[("Calls", "calls"), ("Calls and emails", "calls_and_emails")],
                                         value="calls")
        self.examples = widgets.Textarea(
            value="\n".join(examples),
            placeholder="One example sentence per line, e.g.\nCan you do a better price?\nIs there any discount for a two-year deal?",
            layout=widgets.Layout(width="480px", height="180px"))
        self.example_count = html_block("")
        self.examples.observe(lambda _: self._count_examples(), "value")
        self._count_examples()

        self.error_widgets = {f: html_block("") for f in FIELDS}
        self.pick_errors = {col: html_block("") for col in self.picks}
        self.general = html_block("")
        self.warning = html_block("")
        self.result = html_block("")
        self.submit_button = widgets.Button(description="Create tracker", button_style="primary", icon="check")
        self.submit_button.on_click(lambda _: self.submit())

        def row(label: str, control: Any, field: str | None, hint: str = "") -> widgets.HBox:
            parts = [widgets.HTML(f"<b>{esc(label)}</b>", layout=_LABEL), control]
            if hint:
                parts.append(html_block(f"<span class='wb-muted'>{esc(hint)}</span>"))
            if field:
                parts.append(self.error_widgets[field] if field in self.error_widgets else self.pick_errors[field])
            return widgets.HBox(parts, layout=widgets.Layout(align_items="flex-start"))

        rows = [
            row("Name", self.name, "name"),
            row("Description", self.description, "description"),
            row("Mentioned by", self.mentioned_by, "mentioned_by"),
            row("Calls", self.is_external, "filters"),
            *[row(col.replace("_", " ").capitalize(), w, col, "none picked: all") for col, w in self.picks.items()],
            row("Dates", widgets.VBox([self.date_from, self.date_to]), "started_at", self.date_hint),
            row("Part of the call", widgets.HBox([self.call_part, self.minutes]), "call_part"),
            row("Channels", self.channels, "channels"),
            row("Examples", widgets.VBox([self.examples, self.example_count]), "examples"),
        ]
        self.widget = widgets.VBox([*rows, self.general, self.submit_button, self.warning, self.result])

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    # ------------------------------------------------------------------ reading the form
    def example_lines(self) -> list[tuple[int, str]]:
        """(line number, text) of every non-blank line of the examples box."""
        return [(i, line) for i, line in enumerate(self.examples.value.splitlines(), start=1) if line.strip()]

    def _count_examples(self) -> None:
        n = len(self.example_lines())
        note = f"at least {MIN_EXAMPLES} to start tagging" if n < MIN_EXAMPLES else f"at most {MAX_EXAMPLES}"
        cls = "wb-muted" if MIN_EXAMPLES <= n <= MAX_EXAMPLES else "wb-warning"
        set_html(self.example_count, f"<span class='{cls}'>{n} example{'s' if n != 1 else ''} ({note})</span>")

    def filters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.is_external.value is not None:
            out["is_external"] = self.is_external.value
        for col, w in self.picks.items():
            if w.value:
                out[col] = list(w.value)
        if self.date_from.value or self.date_to.value:
            out["started_at"] = (self.date_from.value, self.date_to.value)
        return out

    def definition(self) -> dict[str, Any]:
        kind = self.call_part.value
        return {
            "name": self.name.value,
            "description": self.description.value,
            "mentioned_by": self.mentioned_by.value,
            "filters": self.filters(),
            "call_part": "anytime" if kind == "anytime" else (kind, self.minutes.value),
            "channels": self.channels.value,
        }

    # ------------------------------------------------------------------ errors
    def _field_of(self, field: str) -> str:
        if field.startswith("examples"):
            return "examples"
        if field.startswith("filters."):
            col = field.split(".", 1)[1]
            if col in self.picks or col == "started_at":
                return col
            return "filters"
        return field if field in self.error_widgets else "general"

    def show_error(self, err: ValidationError) -> None:
        target = self._field_of(err.field)
        msg = _message(err)
        if err.field.startswith("examples[") and err.field.endswith("]"):
            # The API counts non-blank examples; the user reads line numbers of the box.
            k = int(err.field[len("examples["):-1])
            lines = self.example_lines()
            if 1 <= k <= len(lines):
                msg = f"Line {lines[k - 1][0]}: {msg}"
        self.errors[target] = msg
        box = self.pick_errors.get(target) or self.error_widgets.get(target) or self.general
        set_html(box, f"<span class='wb-error'>{msg}</span>")

    def clear_errors(self) -> None:
        self.errors = {}
        for box in [*self.error_widgets.values(), *self.pick_errors.values(), self.general, self.warning]:
            set_html(box, "")

    # ------------------------------------------------------------------ submit
    def submit(self):
        """Validate, create the tracker with its examples, and return it (None when the form has errors)."""
        self.clear_errors()
        spec = self.definition()
        examples = [text for _, text in self.example_lines()]
        for err in definition_errors(spec, dict(self.ws.calls.schema), examples):
            self.show_error(err)
        if self.errors:
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tracker = self.ws.create_tracker(**spec, examples=examples)
            except ValidationError as err:
                self.show_error(err)
                return None
        notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        if notes:
            set_html(self.warning, "".join(f"<p class='wb-warning'>⚠ {esc(n)}</p>" for n in notes))
        self.tracker = tracker
        missing = examples_needed(tracker.examples)
        next_step = (f"Next: add {missing} more example{'s' if missing != 1 else ''} (at least {MIN_EXAMPLES} "
                     "start the first round)" if missing else "Next: tag its first round (notebook 3)")
        set_html(self.result, f"<p>Created the tracker <b>{esc(tracker.name)}</b> with {len(tracker.examples)} "
                              f"examples, {esc(tracker.definition.describe_scope())}. {next_step}.</p>")
        if self.on_created:
            self.on_created(tracker)
        return tracker
