"""Progress on a terminal is a bar with rate and ETA; without one, a plain line now and then and at the end."""

from __future__ import annotations

import io

from serving.cli import progress as module
from serving.cli.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_lines_come_at_the_end_and_not_for_every_step() -> None:
    out = io.StringIO()
    with progress(100, "scanning", "files", out=out) as shown:
        for done in range(1, 101):
            shown.advance_to(done)
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 2 and lines[-1].startswith("scanning: 100/100 files (100 %), ")
    assert "files/s" in lines[-1]


def test_on_a_terminal_a_bar_shows_rate_and_eta(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(module, "LINE_EVERY_S", 0.0)
    out = Terminal()
    with progress(10, "scanning", "files", out=out) as shown:
        for done in range(1, 11):
            shown.advance_to(done)
    text = out.getvalue()
    assert "scanning" in text and "10/10" in text and "files/s" in text
