"""Notebook 4's screen (a Voila dashboard): how good the tracker is, and how sure we are of it.

Drawn from the tracker's PerformanceEstimate (workbench.training.performance), its learning
curve and 20 sample detections; nothing is computed here beyond wording.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.core.errors import WorkbenchError
from workbench.trackers.bundle_figures import KEYWORDS_NEED_A_VERSION_HERE
from workbench.trackers.summary import percent, reliability_notes
from workbench.widgets.activation import ActivationPanel
from workbench.widgets.banner import UnpublishedBanner
from workbench.widgets._render import esc, figure_html, html_block, set_html, speaker_line, tracker_title
from workbench.widgets._text import show


def _figure_card(title: str, fig: Any, explain: str) -> str:
    if fig is None:
        return (f"<div class='wb-card'><div class='wb-muted'>{esc(title)}</div><div class='wb-big'>–</div>"
                f"<div class='wb-warning'>not enough tags to estimate</div></div>")
    return (f"<div class='wb-card'><div class='wb-muted'>{esc(title)}</div><div class='wb-big'>{percent(fig.value)}</div>"
            f"<div>{percent(fig.low)} to {percent(fig.high)}</div>"
            f"<div class='wb-muted'>{esc(explain)}; rests on {fig.n:,} tags</div></div>")


class PerformanceOverview:
    """Precision and hit rate with intervals (and the true values beside them where the workspace
    knows them, see Tracker.truth), the counts behind them, the learning curve,
    expected detections in the corpus, the keyword baseline and 20 sample detections with
    their context.

    >>> PerformanceOverview(tracker)            # computes the estimate
    >>> PerformanceOverview(tracker, estimate)  # draws a given PerformanceEstimate
    """

    def __init__(self, tracker: Any, estimate: Any = None, *, curve: Any = None, samples: Any = None,
                 keywords: Any = None, learnt_from: Any = None, diagnosis: Any = None, deep: Any = None,
                 truth: Any = None, n_samples: int = 20) -> None:
        self.tracker = tracker
        # Which model and tags the figures rest on: a pre-trained tracker's are its bundle version's.
        self.basis = tracker.figures_basis()
        self.estimate = estimate if estimate is not None else tracker.performance()
        self.curve = curve if curve is not None else tracker.learning_curve()
        self.samples = samples if samples is not None else tracker.sample_detections(n_samples)
        self.keywords = keywords if keywords is not None else tracker.keyword_comparison()
        self.deep = deep if deep is not None else tracker.deep_comparison()
        # The known truth beside the estimate, where the workspace has one (the demo's ground truth).
        self.truth = truth if truth is not None else tracker.truth()
        self.notes = reliability_notes(self.estimate)
        self.diagnosis = diagnosis if diagnosis is not None else tracker.diagnosis()
        self.scope_advice = tracker.scope_advice()  # the seed's advice on how many calls are in scope
        self.banner = UnpublishedBanner(tracker)
        self.headline = html_block(self._headline())
        # Rename here (t.rename): tags, versions, results and streams follow the new name.
        self.new_name = widgets.Text(value=tracker.name, layout=widgets.Layout(width="360px"))
        self.rename_button = widgets.Button(description="Rename", icon="pencil", layout=widgets.Layout(width="110px"))
        self.rename_button.on_click(lambda _: self.rename())
        self.rename_status = html_block("")
        self.findings = html_block(self._findings())
        self.figure = html_block(self._figure())
        self.counts = html_block(self._counts())
        self.deep_line = html_block(self._deep())
        self.keyword_baseline = html_block(self._keywords())
        self.keyword_button = widgets.Button(description="Create this keyword tracker", icon="plus",
                                             layout=widgets.Layout(width="240px",
                                                                   display="" if self.keywords and self.keywords.phrases else "none"))
        self.keyword_button.on_click(lambda _: self.create_keyword_tracker())
        self.keyword_status = html_block("")
        self.sample_list = html_block(self._samples())
        self.learnt_from = html_block(self._learnt_from(learnt_from if learnt_from is not None
                                                        else tracker.yes_learnt_from()))
        # Activate from here: hidden once active (publishing then goes through the banner).
        self.activation = ActivationPanel(tracker, estimate=self.estimate)
        self.activation.widget.layout.display = "none" if tracker.is_active else None
        self.widget = widgets.VBox([self.banner.widget, self.headline,
                                    widgets.HBox([self.new_name, self.rename_button, self.rename_status]), self.findings, self.figure, self.counts, self.deep_line,
                                    self.learnt_from, self.keyword_baseline,
                                    widgets.HBox([self.keyword_button, self.keyword_status]), self.sample_list,
                                    self.activation.widget])

    def rename(self) -> Any:
        """The Rename button: the tracker under its new name, or the reason it was refused."""
        try:
            self.tracker.rename(self.new_name.value)  # renames this object too: the banner and panel follow
        except WorkbenchError as err:
            set_html(self.rename_status, f"<span class='wb-error'>{esc(err)}</span>")
            return None
        set_html(self.headline, self._headline())
        set_html(self.rename_status, "<span class='wb-muted'>Renamed: its tags, versions, results and streams "
                                     "follow.</span>")
        return self.tracker

    def create_keyword_tracker(self) -> Any:
        """The button: the keyword baseline as a tracker of its own (Tracker.create_keyword_baseline)."""
        from workbench.core.errors import WorkbenchError

        try:
            kt = self.tracker.create_keyword_baseline()
        except WorkbenchError as err:
            set_html(self.keyword_status, f"<span class='wb-error'>{esc(err)}</span>")
            return None
        self.keyword_button.disabled = True
        set_html(self.keyword_status, f"<span class='wb-muted'>Created the keyword tracker '{esc(kt.name)}'.</span>")
        return kt

    def _ipython_display_(self) -> None:
        show(self.widget)  # the widget, and what it shows as text beside it (widgets._text)

    def _headline(self) -> str:
        est = self.estimate
        versions = self.tracker.versions()
        if "training" in versions.columns:  # the figures are the frozen model's; a deep one is below
            versions = versions.filter(versions["training"] == "frozen")
        version = (f"model version {versions['version'][-1]}, round {versions['round'][-1]}" if versions.height
                   else "current tags, not trained yet")
        if self.basis.from_bundle:
            version = (f"model version {self.basis.version}, the one that scores the calls (the bundle "
                       f"'{self.basis.bundle_name}' version {self.basis.bundle_version})")
        basis = "".join(f"<div class='wb-muted wb-basis'>{esc(line)}</div>" for line in self.basis.lines())
        honest = est.honest_precision is not None
        kind = ("estimated for the whole corpus (random sample of the tags weighted by how it was drawn)"
                + ("; counted in speaker turns" if est.unit == "turn" else "") if honest
                else "from the tagged rounds (10 repeats of a 90/10 split)")
        cards = (_figure_card("Precision: detections that are right", est.precision, kind)
                 + _figure_card("Hit rate: mentions it finds", est.hit_rate, kind))
        warn = "".join(f"<p class='wb-warning'>⚠ {esc(n)}</p>" for n in
                       [*self.notes, *([self.scope_advice] if self.scope_advice else [])])
        truth = (f"<div class='wb-truth'><b>{esc(self.truth.line())}</b><br>{esc(self.truth.reading(est))}</div>"
                 if self.truth is not None else "")
        return (tracker_title(self.tracker) + f"<div class='wb-muted'>{esc(version)} · "
                f"{est.confidence:.0%} intervals</div>{basis}{warn}<div style='display:flex;flex-wrap:wrap;gap:8px 40px'>{cards}</div>"
                f"{truth}")

    def _findings(self) -> str:
        """What the figures say in plain words, and what to do next; nothing when all is well."""
        d = self.diagnosis
        if not d.findings:
            return ""
        said = "".join(f"<li>{esc(f.message)}</li>" for f in d.findings)
        todo = "".join(f"<li>{esc(s.message)}</li>" for s in d.suggestions)
        return (f"<div class='wb-warning'><b>What the figures say</b><ul>{said}</ul></div>"
                + (f"<div><b>What to do next</b><ul>{todo}</ul></div>" if todo else ""))

    def _figure(self) -> str:
        from workbench.trackers.plots import performance_figure

        advice = ""
        if self.curve is not None:
            cls = "" if self.curve.another_round_helps else "wb-muted"
            verdict = "Another round is likely to help." if self.curve.another_round_helps else \
                "Another round is unlikely to help much."
            advice = f"<p class='{cls}'><b>{esc(verdict)}</b> {esc(self.curve.advice)}</p>"
        fig = performance_figure(self.estimate, self.curve)
        return figure_html(fig, "Precision and hit rate with intervals, and the learning curve") + advice

    def _counts(self) -> str:
        est = self.estimate

        def fig_range(f: Any, fmt: str = "{:,.0f}") -> str:
            if f is None:
                return "–"
            return f"{fmt.format(f.value)} ({fmt.format(f.low)} to {fmt.format(f.high)})"

        rows = [
            ("YES tags", f"{est.n_yes:,}"), ("NO tags", f"{est.n_no:,}"),
            ("NOT SURE (left out of training)", f"{est.n_not_sure:,}"),
            ("Tags from the random sample", f"{est.n_probe_tags:,} {est.unit}s in {est.n_probe_rounds} round"
                                            f"{'s' if est.n_probe_rounds != 1 else ''}"),
            ("Sentences in scope", f"{est.population:,}"),
            ("Detected sentences (exact)", f"{est.detected_sentences:,}"
             + (f" in {est.detected_units:,} speaker turns" if est.unit == "turn" and est.detected_units is not None else "")
             + (f" in {est.detected_calls:,} calls" if est.detected_calls is not None else "")),
            (f"Detected {est.unit}s that are right (estimated)", fig_range(est.estimated_true_detections)),
            (f"Mentions in the corpus, found or not (estimated, {est.unit}s)", fig_range(est.estimated_positives)),
        ]
        if est.reference_precision is not None:
            rows.append(("Held-out tags (10 x 90/10): right / wrong / missed",
                         f"{est.reference_tp:,} / {est.reference_fp:,} / {est.reference_fn:,}"))
        if est.honest_tp is not None:
            rows.append((f"Corpus estimate ({est.unit}s): right / wrong / missed",
                         f"{est.honest_tp:,.0f} / {est.honest_fp:,.0f} / {est.honest_fn:,.0f}"))
        table = "".join(f"<tr><th>{esc(a)}</th><td>{esc(b)}</td></tr>" for a, b in rows)
        notes = "".join(f"<li>{esc(n)}</li>" for n in est.notes)
        return (f"<h3>Expected detections and the counts behind the figures</h3><table class='wb-table'>{table}</table>"
                + (f"<div class='wb-muted'>Notes:<ul>{notes}</ul></div>" if notes else ""))

    def _deep(self) -> str:
        """The latest deep version beside the frozen model on the same tags (train(deep=True))."""
        d = self.deep
        if d is None:
            return ""
        rows = "".join(
            f"<tr><th>{esc(r['model'])}</th>" + "".join(
                f"<td>{'–' if r[k] is None else f'{r[k]:.2f}'}</td>" for k in ("precision", "hit_rate", "f1",
                                                                                 "held_out_f1_on_tags"))
            + f"<td>{r['detected_sentences']:,}</td></tr>" for r in d.to_frame().iter_rows(named=True))
        head = "<tr><th></th><th>precision</th><th>hit rate</th><th>F1</th><th>held-out F1 on the tags</th>" \
               "<th>detected sentences</th></tr>"
        return (f"<h3>Deep training</h3><p>{esc(d.summary())}</p><table class='wb-table'>{head}{rows}</table>"
                f"<p class='wb-muted'>{esc(d.caveat)}</p>")

    def _learnt_from(self, learnt: Any) -> str:
        if learnt is None or learnt.height == 0:
            return ""
        items = "".join(f"<li>YES on “{esc(r['text'])}” → learnt from “{esc(r['learnt_from_text'])}”</li>"
                        for r in learnt.head(5).iter_rows(named=True))
        more = f"<li class='wb-muted'>… and {learnt.height - 5:,} more</li>" if learnt.height > 5 else ""
        return (f"<h3>How your YES tags were read</h3><p class='wb-muted'>A YES says that its speaker turn "
                f"mentions the concept, so the model learns each YES from the sentence of its turn it scores "
                f"highest. {learnt.height:,} of your YES tags were learnt from another sentence of their turn:</p>"
                f"<ul>{items}{more}</ul>")

    def _keywords(self) -> str:
        k = self.keywords
        title = "<h3>Against the keyword baseline</h3>"
        if k is None:  # a pre-trained tracker's bundle version: no tag here is held out from it
            return title + f"<p class='wb-muted'>{esc(KEYWORDS_NEED_A_VERSION_HERE.split(': ', 1)[1])}</p>"
        if not k.phrases:
            return title + ("<p class='wb-muted'>No content word recurs in the examples, so there is no keyword "
                            "tracker to compare with.</p>")
        words = ", ".join(f"<code>{esc(p)}</code>" for p in k.phrases)
        rows = [
            ("", "keywords", "this tracker (each tag held out)"),
            (f"YES tags found (of {k.n_yes:,})", f"{k.keyword_yes:,}", f"{k.tracker_yes:,}"),
            (f"NO tags detected (of {k.n_no:,})", f"{k.keyword_no:,}", f"{k.tracker_no:,}"),
            ("F1 on the tags", f"{k.keyword_f1:.2f}", f"{k.tracker_f1:.2f}"),
            ("Sentences detected in scope", f"{k.keyword_detected:,}", f"{k.tracker_detected:,}"),
        ]
        if k.keyword_f1_estimated is not None and k.tracker_f1_estimated is not None:
            rows.append((f"F1 on the calls, estimated from the {k.n_random_tags} random tags",
                         f"{k.keyword_f1_estimated:.2f}", f"{k.tracker_f1_estimated:.2f}"))
        table = "".join(f"<tr><th>{esc(a)}</th><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in rows)
        verdict = f"<p class='wb-warning'>{esc(k.advice)}</p>" if k.advice else ""
        return (f"{title}<p class='wb-muted'>The keyword tracker a person would write from the examples (their "
                f"recurring words, with related forms): {words}. The counts on your tags favour the tracker (the "
                f"rounds chose near misses, which share the concept's words); the random tags, weighted by their "
                f"chance of being drawn, estimate which would do better on the calls. Both detect "
                f"{k.both_detected:,} of the same sentences.</p>{verdict}<table class='wb-table'>{table}</table>")

    def _samples(self) -> str:
        s = self.samples
        if s is None or s.height == 0:
            return "<h3>Sample detections</h3><p class='wb-muted'>The model detects nothing outside the tags yet.</p>"
        items = []
        for row in s.iter_rows(named=True):
            before = "".join(f"<div class='wb-context'>{esc(t)}</div>" for t in row.get("context_before") or [])
            after = "".join(f"<div class='wb-context'>{esc(t)}</div>" for t in row.get("context_after") or [])
            target = speaker_line({"speaker": row.get("speaker"), "side": row.get("side"), "text": row["text"]},
                                  target=True)
            items.append(f"<li class='wb-sample' style='margin-bottom:10px'><span class='wb-muted'>score "
                         f"{row['score']:.2f} · call {esc(row['call_id'])}</span>{before}{target}{after}</li>")
        return (f"<h3>{s.height} sample detections</h3><p class='wb-muted'>Drawn across the score range from sentences "
                f"nobody tagged: the sure hits and the borderline ones, in proportion.</p><ol>{''.join(items)}</ol>")
