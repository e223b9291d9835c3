"""Progress a person can follow: a live bar with rate and ETA on a terminal, a line per step otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import click

LINE_EVERY_S = 30.0  # without a terminal: a line at most this often (and at the end)


class Progress:
    """Counts done out of ``total``; ``advance_to`` sets the count (it never goes back)."""

    def __init__(self, total: int, label: str, unit: str, out: IO[str]) -> None:
        self.total, self.label, self.unit, self.out = total, label, unit, out
        self.done, self.started, self.last_line = 0, time.monotonic(), 0.0
        self.bar = (
            click.progressbar(  # type: ignore[call-overload]  # click's stubs omit item_show_func with length
                length=total, label=label, show_pos=True, show_eta=True, file=out, item_show_func=self._rate_text
            )
            if out.isatty()
            else None
        )

    def advance_to(self, done: int) -> None:
        step, self.done = max(done - self.done, 0), max(done, self.done)
        if self.bar is not None:
            self.bar.update(step, current_item=self.done)
        elif time.monotonic() - self.last_line >= LINE_EVERY_S or self.done >= self.total:
            self._line()

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def _rate_text(self, _: object) -> str:
        return f"{self.rate():.1f} {self.unit}/s"

    def _line(self) -> None:
        self.last_line = time.monotonic()
        share = 100 * self.done / self.total if self.total else 100.0
        click.echo(
            f"{self.label}: {self.done}/{self.total} {self.unit} ({share:.0f} %), {self._rate_text(None)}",
            file=self.out,
        )


@contextmanager
def progress(total: int, label: str, unit: str = "photos", out: IO[str] | None = None) -> Iterator[Progress]:
    shown = Progress(total, label, unit, out or sys.stderr)
    if shown.bar is None:
        yield shown
        if shown.done < shown.total:
            shown.advance_to(shown.done)  # a last line, wherever it stopped
        return
    with shown.bar:
        yield shown
