"""Matplotlib figures of a tracker's performance: shown in the overview and logged to MLflow."""
from __future__ import annotations

# matplotlib.figure.Figure needs no pyplot and no backend: safe in a server, a kernel or a test.
from matplotlib.figure import Figure

from workbench.core.figures import plain_text_figure
from workbench.trackers.learning_curve import LearningCurve


def performance_figure(est, curve: LearningCurve | None = None) -> Figure:
    """Precision and hit rate with their intervals (reference and honest), and the learning curve."""
    fig = plain_text_figure(figsize=(9, 3.4), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.3])
    rows = [
        ("precision (honest)", est.honest_precision, "#1f77b4"),
        ("precision (10 x 90/10)", est.reference_precision, "#9ecae1"),
        ("hit rate (honest)", est.honest_hit_rate, "#d62728"),
        ("hit rate (10 x 90/10)", est.reference_hit_rate, "#fc9272"),
    ]
    labels = []
    for i, (label, fig_, color) in enumerate(rows):
        labels.append(label)
        if fig_ is None:
            ax.text(0.02, i, "not enough tags", va="center", fontsize=8, color="grey")
            continue
        # An interval need not contain its point estimate (a posterior's bulk can sit beside the
        # model-assisted value): draw the interval and the point separately.
        ax.hlines(i, fig_.low, fig_.high, color=color, linewidth=1.5)
        ax.vlines([fig_.low, fig_.high], i - 0.12, i + 0.12, color=color, linewidth=1.5)
        ax.plot(fig_.value, i, "o", color=color)
        # Label beside the point, inside the axes even when the interval reaches 1.
        ax.text(fig_.value, i - 0.22, f"{fig_.value:.2f}", fontsize=8, ha="center", va="bottom")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.set_title(f"Estimates with {est.confidence:.0%} intervals", fontsize=9)
    ax.grid(axis="x", alpha=0.3)

    if curve is not None and curve.rounds:
        for values, label, color in ((curve.precision, "precision", "#1f77b4"), (curve.hit_rate, "hit rate", "#d62728"),
                                     (curve.f1, "F1", "black")):
            ax2.plot(curve.rounds, [v if v is not None else float("nan") for v in values], marker="o", label=label,
                     color=color)
        ax2.set_xticks(curve.rounds)
        ax2.set_ylim(0, 1.05)
        ax2.legend(fontsize=8, loc="lower right")
    else:
        ax2.text(0.5, 0.5, "the curve starts after the first trained round", ha="center", va="center", fontsize=8,
                 transform=ax2.transAxes)
    ax2.set_xlabel("round", fontsize=8)
    ax2.set_title("Learning curve", fontsize=9)
    ax2.grid(alpha=0.3)
    return fig
