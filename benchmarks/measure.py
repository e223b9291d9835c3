"""What the benchmark scripts share: timing, memory and a Markdown table that prints rows as they come."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import numpy as np


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def print_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """Rows as they come (a long run shows its progress), in a Markdown table."""
    widths = [max(12, len(h)) for h in header]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |", flush=True)
