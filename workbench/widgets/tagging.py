"""Notebook 3's screen: tag a round's 25 sentences, then train and go on.

The view only draws a TaggingSession (workbench/trackers/rounds.py) and forwards each click to
it; the session decides which round opens, which sentence comes next and when a round can be
trained, the same way for `workbench tag` in a terminal. Each click is written to the workspace
before the screen moves on, so a crashed kernel loses nothing, and reopening the notebook
continues the same round where it stopped.
"""
from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
import polars as pl

from workbench.core.errors import WorkbenchError
from workbench.trackers.rounds import ANSWERS, VERIFICATION_SIZE, TaggingSession
from workbench.training.verification import VerificationGoal
from workbench.widgets.banner import UnpublishedBanner
from workbench.widgets._render import (
    ANSWER_COLOURS,
    ANSWER_LABELS,
    esc,
    html_block,
    set_html,
    speaker_line,
    time_label,
)
from workbench.widgets._text import show

# Sentences shown either side of the candidate when the whole call is opened.
TRANSCRIPT_WINDOW = 12
# The accuracies "Verify until sure" offers: half-widths of the honest 90% interval.
ACCURACY_CHOICES = [
    ("precision ±0.05", VerificationGoal(precision=0.05)),
    ("precision ±0.10", VerificationGoal(precision=0.10)),
    ("hit rate ±0.10", VerificationGoal(hit_rate=0.10)),
    ("hit rate ±0.15", VerificationGoal(hit_rate=0.15)),
]


class TaggingView:
    """One round of candidates, one at a time (or as a list), with YES / NO / NOT SURE.

    Methods are what the buttons call, so a test drives the screen as a user would:

    >>> view = TaggingView(tracker)
    >>> view.yes(); view.back(); view.no()   # tag, go back, change the tag
    >>> view.finish_round()                  # once all 25 are tagged: train a new version
    >>> view.start_next_round()
    """

    def __init__(self, tracker: Any, round: Any = None, *,
                 on_overview: Callable[[Any], None] | None = None) -> None:
        self.tracker = tracker
        self.ws = tracker.ws
        self.on_overview = on_overview

        self.progress = html_block("")
        self.card = html_block("", min_height="180px")
        self.buttons = {a: widgets.Button(description=ANSWER_LABELS[a], layout=widgets.Layout(width="120px"))
                        for a in ANSWERS}
        for answer, colour in (("yes", "success"), ("no", "danger"), ("not_sure", "warning")):
            self.buttons[answer].button_style = colour
            self.buttons[answer].on_click(lambda _, a=answer: self.answer(a))
        self.back_button = widgets.Button(description="Back", icon="arrow-left", layout=widgets.Layout(width="90px"))
        self.forward_button = widgets.Button(description="Forward", icon="arrow-right",
                                             layout=widgets.Layout(width="100px"))
        self.back_button.on_click(lambda _: self.back())
        self.forward_button.on_click(lambda _: self.forward())
        self.call_button = widgets.ToggleButton(description="Open the call", icon="file-text-o", value=False)
        self.call_button.observe(lambda ch: self._render_transcript(), "value")
        self.transcript = html_block("")
        self.mode = widgets.ToggleButtons(options=[("One at a time", "one"), ("List", "list")], value="one")
        self.mode.observe(lambda _: self.render(), "value")
        self.list_box = widgets.VBox()

        self.finish_button = widgets.Button(description="Finish round and train", button_style="primary",
                                            icon="cogs", layout=widgets.Layout(width="220px"))
        self.finish_button.on_click(lambda _: self.finish_round())
        self.next_button = widgets.Button(description="Next round", icon="forward", layout=widgets.Layout(width="160px"))
        self.next_button.on_click(lambda _: self.start_next_round())
        self.verify_button = widgets.Button(description="Verify 20 detections", icon="check-square-o",
                                            tooltip="A round of 20 random detections: the honest precision rests on them",
                                            layout=widgets.Layout(width="200px"))
        self.verify_button.on_click(lambda _: self.start_verification_round())
        self.accuracy = widgets.Dropdown(options=ACCURACY_CHOICES, value=ACCURACY_CHOICES[0][1],
                                         layout=widgets.Layout(width="150px"))
        self.until_button = widgets.Button(description="Verify until sure", icon="bullseye",
                                           tooltip="Rounds of up to 20 random tags until the 90% interval is as "
                                                   "narrow as the accuracy chosen; says first how many tags it takes",
                                           layout=widgets.Layout(width="160px"))
        self.until_button.on_click(lambda _: self.verify_until())
        self.overview_button = widgets.Button(description="Performance overview", icon="line-chart",
                                              layout=widgets.Layout(width="200px"))
        self.overview_button.on_click(lambda _: self.show_overview())
        self.deep_button = widgets.Button(description="Deep training", icon="graduation-cap",
                                          tooltip="Fine-tune the tracker's own copy of the encoder on its tags, then "
                                                  "train: minutes; the time estimate comes first",
                                          layout=widgets.Layout(width="160px"))
        self.deep_button.on_click(lambda _: self.deep_training())
        self.deep_bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(display="none"))
        self.status = html_block("")
        self.after = widgets.VBox()  # the performance overview, when asked for

        self.one_box = widgets.VBox([
            self.card,
            widgets.HBox(list(self.buttons.values())),
            widgets.HBox([self.back_button, self.forward_button, self.call_button]),
            html_block("<span class='wb-muted'>Keys, with the pointer over the sentence: <b>Y</b> yes · "
                       "<b>N</b> no · <b>S</b> not sure · <b>←</b> <b>→</b> back and forward</span>"),
            self.transcript,
        ])
        self.finish_box = widgets.VBox([self.status, self.deep_bar,
                                        widgets.HBox([self.finish_button, self.next_button, self.verify_button,
                                                      self.overview_button, self.deep_button]),
                                        widgets.HBox([self.accuracy, self.until_button])])
        self.banner = UnpublishedBanner(tracker)
        self.widget = widgets.VBox([self.banner.widget, self.progress, self.mode, self.one_box, self.list_box, self.finish_box, self.after])
        # Keyboard answers: ipyevents forwards key presses made while the pointer is over
        # the card (it focuses the card on mouse enter), so tagging 25 sentences needs no
        # mouse travel. The keys only call the same methods the buttons do.
        from ipyevents import Event

        self.keys = Event(source=self.one_box, watched_events=["keydown"], prevent_default_action=True)
        self.keys.on_dom_event(self.on_key)
        self.session = TaggingSession(tracker, round)
        self._shown()

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    KEYS = {"y": "yes", "n": "no", "s": "not_sure"}

    def on_key(self, event: dict) -> None:
        """Y / N / S answer the sentence shown; the arrow keys move back and forward."""
        key = str(event.get("key", ""))
        if event.get("ctrlKey") or event.get("metaKey") or event.get("altKey") or self.mode.value == "list":
            return
        if key.lower() in self.KEYS:
            self.answer(self.KEYS[key.lower()])
        elif key == "ArrowLeft" and not self.session.cursor.at_start:
            self.back()
        elif key == "ArrowRight" and not self.session.cursor.at_end:
            self.forward()

    # ------------------------------------------------------------------ state (the session's)
    @property
    def round(self):
        return self.session.round

    @property
    def index(self) -> int:
        return self.session.cursor.index

    @property
    def candidate(self):
        return self.session.candidate

    @property
    def last_training(self):
        return self.session.last_training

    def _shown(self) -> None:
        """A round was opened: show it from its first untagged sentence."""
        self.call_button.value = False
        set_html(self.status, "")
        self.after.children = ()
        self.render()

    # ------------------------------------------------------------------ actions (what the buttons call)
    def answer(self, value: str) -> None:
        """Tag the shown sentence (saved at once) and move to the next one not tagged yet."""
        self.session.answer(value)
        self.call_button.value = False
        self.render()

    def yes(self) -> None:
        self.answer("yes")

    def no(self) -> None:
        self.answer("no")

    def not_sure(self) -> None:
        self.answer("not_sure")

    def back(self) -> None:
        self.go_to(self.index - 1)

    def forward(self) -> None:
        self.go_to(self.index + 1)

    def go_to(self, index: int) -> None:
        self.session.cursor.go_to(index)
        self.call_button.value = False
        self.mode.value = "one"
        self.render()

    def open_call(self) -> None:
        """Show the transcript around the sentence (what the "Open the call" button toggles)."""
        self.call_button.value = True
        self._render_transcript()

    def finish_round(self):
        """Train a new model version on every tag so far; returns the TrainingResult, or None
        when the tags make no model yet (all NO so far), which the status then explains."""
        if not self.round.complete:
            left = self.session.untagged
            set_html(self.status, f"<p class='wb-warning'>{left} sentence{'s' if left != 1 else ''} of this round "
                                  "not tagged yet.</p>")
            return None
        set_html(self.status, "<p class='wb-muted'>Training a new model version…</p>")
        self.finish_button.disabled = True
        try:
            result = self.session.finish()
        except Exception as err:  # shown, not swallowed: the user must see why training failed
            set_html(self.status, f"<p class='wb-error'>Training failed: {esc(err)}</p>")
            self.finish_button.disabled = False
            raise
        self.render()
        self.banner.refresh()  # once active, a new version is an unpublished change
        return result

    def start_next_round(self):
        self.session.open()
        self._shown()
        return self.round

    def start_verification_round(self):
        try:
            self.session.open(verify=VERIFICATION_SIZE)
        except WorkbenchError as err:  # e.g. every detection is tagged already: say so, keep the round
            set_html(self.status, f"<p class='wb-warning'>{esc(err)}</p>")
            return None
        self._shown()
        return self.round

    def verify_until(self):
        """Verify until the accuracy chosen: how many more tags it will likely take, and its
        next round (none once it is reached). Returns the session's VerificationNeed."""
        try:
            need = self.session.open_verification(self.accuracy.value, VERIFICATION_SIZE)
        except WorkbenchError as err:
            set_html(self.status, f"<p class='wb-warning'>{esc(err)}</p>")
            return None
        if need.reached:
            set_html(self.status, f"<p>{esc(need.describe())}</p>")
            return need
        self._shown()
        set_html(self.status, f"<p>{esc(need.describe())}</p>")
        return need

    def deep_training(self):
        """Deep training (Tracker.train(deep=True)): the measured time estimate first, a bar per
        stage, then the deep version beside the frozen one. Returns the TrainingResult."""
        self.deep_button.disabled = True
        set_html(self.status, "<p class='wb-muted'>Measuring how long deep training takes here…</p>")
        try:
            estimate = self.tracker.deep_training_estimate()
            set_html(self.status, f"<p>Deep training takes {esc(estimate.describe())}.</p>")
            self.deep_bar.layout.display = None
            result = self.tracker.train(deep=True, progress=self._deep_progress)
        except Exception as err:  # shown, not swallowed: e.g. too few tags, with how many are needed
            set_html(self.status, f"<p class='wb-error'>Deep training failed: {esc(err)}</p>")
            if not isinstance(err, WorkbenchError):
                raise
            return None
        finally:
            self.deep_bar.layout.display = "none"
            self.deep_button.disabled = False
        set_html(self.status, f"<p>Deep version <b>{result.version}</b> trained.</p>"
                              f"<pre>{esc(self.tracker.deep_comparison().text())}</pre>")
        return result

    def _deep_progress(self, stage: str, done: int, total: int) -> None:
        self.deep_bar.description = stage.capitalize()
        self.deep_bar.max = max(total, 1)
        self.deep_bar.value = done

    def show_overview(self):
        if self.on_overview is not None:
            return self.on_overview(self.tracker)
        from workbench.widgets.overview import PerformanceOverview

        overview = PerformanceOverview(self.tracker)
        self.after.children = (overview.widget,)
        return overview

    # ------------------------------------------------------------------ drawing
    def render(self) -> None:
        rnd = self.round
        trained = self.session.trained
        set_html(self.progress, f"<b>{esc(self.tracker.name)}</b> &nbsp; <span class='wb-muted'>{esc(rnd.progress)}"
                                "</span>")
        listing = self.mode.value == "list"
        self.one_box.layout.display = "none" if listing else None
        self.list_box.layout.display = None if listing else "none"
        if listing:
            self._render_list()
        else:
            self._render_card()
        self.back_button.disabled = self.session.cursor.at_start
        self.forward_button.disabled = self.session.cursor.at_end
        complete = rnd.complete
        self.finish_box.layout.display = None if complete else "none"
        self.finish_button.disabled = self.session.finished
        self.next_button.disabled = not self.session.finished
        self.verify_button.disabled = not trained
        self.until_button.disabled = not trained
        self.overview_button.disabled = not trained
        self.deep_button.disabled = not trained
        if trained:
            r = self.last_training
            need = self.session.verification_need()
            then = ("Start the next round, verify 20 random detections (sharper precision), verify until sure, or "
                    "read the performance overview." if need is None else
                    f"{need.describe()} {'' if need.reached else 'Verify until sure goes on with the next round.'}")
            set_html(self.status, f"<p>Round {r.round_number} done: model version <b>{r.version}</b> trained on "
                                  f"{r.n_yes} YES and {r.n_no} NO tags ({r.n_not_sure} NOT SURE left out). "
                                  f"{esc(then)}</p>")
        elif self.session.finished:  # all NO so far: nothing to train yet; the next round may start
            set_html(self.status, f"<p class='wb-warning'>{esc(self.session.no_model_yet())}</p>")
        elif complete:
            set_html(self.status, f"<p>All {len(rnd)} sentences of round {rnd.number} are tagged. Change any tag "
                                  "with Back, or finish the round to train a new model version.</p>")

    def _render_card(self) -> None:
        c = self.candidate
        before = "".join(speaker_line(r) for r in c.context_before)
        after = "".join(speaker_line(r) for r in c.context_after)
        target = speaker_line({"speaker": c.speaker, "side": c.side, "text": c.text}, target=True)
        answer = (f"<span style='color:{ANSWER_COLOURS[c.answer]};font-weight:700'>{ANSWER_LABELS[c.answer]}</span>"
                  if c.answer else "<span class='wb-muted'>not tagged</span>")
        set_html(self.card,
                 f"<div class='wb-muted'>Sentence {self.index + 1} of {len(self.round)} · {esc(c.speaker)} "
                 f"({esc(c.side)}) at {esc(c.time_label)} · call {esc(c.call_id)} · your answer: {answer}</div>"
                 f"<div style='margin-top:8px'>{before}{target}{after}</div>")
        for a, button in self.buttons.items():
            button.icon = "check" if c.answer == a else ""
        self._render_transcript()

    def _render_list(self) -> None:
        rows = []
        for i, c in enumerate(self.round):
            label = (f"<span style='color:{ANSWER_COLOURS[c.answer]};font-weight:700'>{ANSWER_LABELS[c.answer]}</span>"
                     if c.answer else "<span class='wb-muted'>–</span>")
            text = html_block(f"{i + 1}. {esc(c.text)} &nbsp; {label}", width="640px")
            button = widgets.Button(description="Show", layout=widgets.Layout(width="70px"))
            button.on_click(lambda _, i=i: self.go_to(i))
            rows.append(widgets.HBox([button, text]))
        self.list_box.children = rows

    def _render_transcript(self) -> None:
        if not self.call_button.value:
            set_html(self.transcript, "")
            return
        c = self.candidate
        sents = self.ws.transcript(c.call_id)
        pos = sents["sentence_id"].to_list().index(c.sentence_id)
        lo, hi = max(0, pos - TRANSCRIPT_WINDOW), pos + TRANSCRIPT_WINDOW + 1
        lines = []
        for row in sents[lo:hi].iter_rows(named=True):
            line = (f"<span class='wb-muted'>{esc(time_label(row['start_s'], row['timing_estimated']))}</span> "
                    f"<b>{esc(row['speaker'])}</b> <span class='wb-muted'>({esc(row['side'])})</span>: {esc(row['text'])}")
            lines.append(f"<div><mark>{line}</mark></div>" if row["sentence_id"] == c.sentence_id else f"<div>{line}</div>")
        call = self.ws.calls.filter(pl.col("call_id") == c.call_id)
        title = call["title"][0] if call.height and call["title"][0] else c.call_id
        when = f"{call['started_at'][0]:%Y-%m-%d}" if call.height else ""
        more = f" Showing sentences {lo + 1} to {min(hi, sents.height)} of {sents.height}."
        set_html(self.transcript, f"<div style='border-left:3px solid #ccc;padding-left:8px;margin-top:8px'>"
                                  f"<b>{esc(title)}</b> <span class='wb-muted'>{esc(when)}.{more}</span>{''.join(lines)}</div>")
