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
