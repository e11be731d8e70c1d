"""Plain-text views of a tracker, for the command line and for logs."""
from __future__ import annotations

from workbench.trackers.rounds import Candidate

# Below this many tags behind a figure, or with an interval wider than this, the overview says
# plainly that the figure is a rough guess: ±15 points is what 30 tags give at best.
FEW_TAGS = 30
WIDE_INTERVAL = 0.30


def percent(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def reliability_notes(est) -> list[str]:
    """Plain statements of what the estimate cannot be trusted for; empty when it is solid."""
    out = []
    if est.precision is None or est.hit_rate is None:
        out.append(f"There are not enough tags for an estimate yet ({est.n_yes} YES, {est.n_no} NO). "
                   "Tag another round before reading any figure.")
    for name, fig in (("precision", est.precision), ("hit rate", est.hit_rate)):
        if fig is None:
            continue
        if fig.n < FEW_TAGS or fig.high - fig.low > WIDE_INTERVAL:
            out.append(f"The {name} rests on only {fig.n:,} tags: the true value could be anywhere from "
                       f"{percent(fig.low)} to {percent(fig.high)}. Treat it as a rough guess until more rounds are tagged.")
    p = est.honest_precision
    if p is not None and p.high - p.low > WIDE_INTERVAL / 2:
        out.append(f"The precision could be anywhere from {percent(p.low)} to {percent(p.high)}. A verification round "
                   "(\"Verify 20 detections\" in the tagging view, `workbench tag NAME --verify` or "
                   "tracker.verification_round()) tags 20 random "
                   "detections and narrows it.")
    if est.honest_precision is None and est.reference_precision is not None:
        out.append("No tags came from the random sample yet, so these figures come from the tagged rounds alone, "
                   "which over-represent the sentences the model already finds: the hit rate is likely lower.")
    return out


def figure_text(fig) -> str:
    if fig is None:
        return "not enough tags yet"
    return f"{fig.value:.2f}  [{fig.low:.2f}, {fig.high:.2f}]  ({fig.n} tags)"


def performance_text(est, curve=None, diagnosis=None, truth=None, basis=None) -> str:
    """The overview as lines for the terminal; ``diagnosis`` (Tracker.diagnosis()) adds what
    the figures say in plain words and what to do next, ``truth`` (Tracker.truth()) the true
    values beside the estimate, ``basis`` (Tracker.figures_basis()) on which model and tags the
    figures rest, for a tracker imported from a bundle."""
    lines = [*(basis.lines() if basis is not None else []),
        f"Tags: {est.n_yes} YES, {est.n_no} NO, {est.n_not_sure} NOT SURE (not used as labels)",
        f"Estimates with {est.confidence:.0%} intervals:",
        f"  precision   honest    {figure_text(est.honest_precision)}",
        f"              10x90/10  {figure_text(est.reference_precision)}",
        f"  hit rate    honest    {figure_text(est.honest_hit_rate)}",
        f"              10x90/10  {figure_text(est.reference_hit_rate)}",
        f"Detections in scope: {est.detected_sentences:,} of {est.population:,} sentences"
        + (f", in {est.detected_units:,} speaker turns" if est.unit == "turn" and est.detected_units is not None else "")
        + (f", in {est.detected_calls:,} calls" if est.detected_calls is not None else ""),
    ]
    if truth is not None:
        lines += [truth.line(), f"  {truth.reading(est)}"]
    if est.unit == "turn":
        lines.insert(lines.index(f"Estimates with {est.confidence:.0%} intervals:") + 1, "  (honest figures count speaker turns: a turn is a mention when any of its sentences says it)")
    if est.estimated_true_detections is not None:
        t = est.estimated_true_detections
        lines.append(f"  {est.unit}s detected that are right (estimated): {t.value:,.0f}  [{t.low:,.0f}, {t.high:,.0f}]")
    lines += [f"Note: {n}" for n in est.notes]
    lines += [f"Note: {n}" for n in reliability_notes(est)]
    if curve is not None and curve.rounds:
        pts = ", ".join(f"r{r}: {f:.2f}" for r, f in zip(curve.rounds, curve.f1) if f is not None)
        lines.append(f"Learning curve (F1): {pts}")
        verdict = "Another round is likely to help" if curve.another_round_helps else "Another round is unlikely to help much"
        lines.append(f"{verdict}. {curve.advice}")
    if diagnosis is not None and diagnosis.concerns:
        lines.append(diagnosis.text())
    return "\n".join(lines)


def candidate_text(c: Candidate, *, width: int = 100) -> str:
    """A candidate as a person reads it in a terminal: context dim, the sentence in bold."""
    bold, dim, end = "\033[1m", "\033[2m", "\033[0m"
    out = [f"{dim}{c.call_id} at {c.time_label}{end}"]
    for ctx in c.context_before:
        out.append(f"{dim}  {ctx['speaker']} ({ctx['side']}): {ctx['text'][:width]}{end}")
    out.append(f"{bold}> {c.speaker} ({c.side}): {c.text}{end}")
    for ctx in c.context_after:
        out.append(f"{dim}  {ctx['speaker']} ({ctx['side']}): {ctx['text'][:width]}{end}")
    return "\n".join(out)
