"""The interleaved timing loop shared by the embedding benchmarks (embedding.py, onnx_embedding.py).

Variants compared on a shared machine must run seconds apart, not minutes: the load from other
processes changes by the minute. So a round takes the texts in slices and runs every variant on
a slice before the next slice, in an order rotated per slice and per round so that no variant
always goes first; ratios are then taken between variants within a round.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable


def slices_of(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def interleaved_round(runs: dict[str, Callable[[list[str]], Any]], slices: list[list[str]], round_no: int,
                      loads: list) -> tuple[dict[str, float], dict[str, list]]:
    """One round of every variant (``runs``: variant name -> function of a slice of texts):
    (seconds per variant summed over the slices, each variant's outputs in slice order). Appends
    the load average to ``loads`` after each slice and prints the round's rates to stderr."""
    names = list(runs)
    spent = dict.fromkeys(names, 0.0)
    outputs: dict[str, list] = {v: [] for v in names}
    for slice_no, part in enumerate(slices):
        k = (round_no + slice_no) % len(names)
        for variant in names[k:] + names[:k]:
            start = time.perf_counter()
            outputs[variant].append(runs[variant](part))
            spent[variant] += time.perf_counter() - start
        loads.append(os.getloadavg())
    n = sum(len(part) for part in slices)
    print(f"round {round_no + 1}: " + ", ".join(f"{v} {n / spent[v]:.0f}/s" for v in names)
          + f" (load {loads[-1][0]:.2f})", file=sys.stderr)
    return spent, outputs


def load_record(loads: list, cores: int | None) -> dict:
    """The load averages seen during a run (``loads``, as interleaved_round appends them) and a
    note saying whether the machine was busy, for a results file."""
    load_max = max(load[0] for load in loads)
    busy = load_max > 0.75 * (cores or 1)
    return {
        "load_average_1_5_15": {"start": loads[0], "end": loads[-1], "max_1min": load_max},
        "load_note": (f"machine busy: 1-minute load reached {load_max:.1f} on {cores} cores; absolute rates "
                      "are low, the within-round ratios are the figures to trust"
                      if busy else "machine mostly idle during the run"),
    }


def write_results(out, name: str, result: dict, render: Callable[[dict], str]) -> None:
    """``<out>/<name>.json`` and ``<out>/<name>.md`` (the rendered table), and the table printed."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(render(result))
    print(render(result))
