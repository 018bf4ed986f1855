"""Terminal output for the CLI: rich tables and progress, quiet with --quiet or when piped.

``--quiet`` hides progress and tables, never a note (:meth:`UI.note`) that changes what a result
means.

The pipeline prints only through the :class:`UI` object the CLI hands it.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class UI:
    """Terminal output: rich tables and progress on stdout/stderr, quiet when asked or piped."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        if not self.out.is_terminal:
            self.out.width = 132  # piped or captured: wide enough for the episode table
        self.err = Console(stderr=True, highlight=False)
        self.live = not quiet and self.err.is_terminal

    def print(self, *args: Any, **kw: Any) -> None:
        if not self.quiet:
            self.out.print(*args, **kw)

    def note(self, text: str) -> None:
        """One line on stderr about something that changes what a result means (a repaired,
        dropped or stale input, a clamped value): printed even with ``--quiet``, which hides
        only progress and tables."""
        self.err.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)

    def load_market(self, data: Any) -> Any:
        """Build the market with a progress bar; say what the feed repaired or dropped."""
        from .config import load_market

        with self.progress("loading market") as advance:
            market = load_market(data, progress=lambda t, d, n: advance(d, n, t))
        if not market.synthetic:
            for text in market.notes:
                self.note(text)
        return market

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Yield ``advance(done=None, total=None, text=None)``; draws a bar only on a terminal."""
        if not self.live:
            yield lambda *a, **k: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)

            def advance(done: int | None = None, total: int | None = None, text: str | None = None):
                kw: dict[str, Any] = {}
                if total is not None:
                    kw["total"] = total
                if text is not None:
                    kw["description"] = text
                if done is None:
                    bar.advance(task)
                    if kw:
                        bar.update(task, **kw)
                else:
                    bar.update(task, completed=done, **kw)

            yield advance


def versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("backtrader", "pandas", "numpy", "empyrical-reloaded", "yfinance", "matplotlib",
                "exchange-calendars", "pyarrow", "squeeze-lab"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:+.{digits}f}%"


def fmt_num(x: float | None, digits: int = 2, sign: bool = False) -> str:
    return "n/a" if x is None else f"{x:{'+' if sign else ''}.{digits}f}"


def measured_text(perf: Any) -> str:
    """One line saying which sessions the statistics cover and the warm-up left out of them
    (``perf``: :class:`analyzers.metrics.Performance`)."""
    text = f"statistics from {perf.start} to {perf.end}"
    w = perf.warmup
    if w is not None and w.sessions:
        text += (f" (first position {perf.invested_from}; the warm-up before it, {w.sessions} "
                 f"sessions {w.start}..{w.end}, is left out)")
    return text
