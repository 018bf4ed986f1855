"""Pure checks on price arrays (dates x tickers), shared by the feeds' panel validation and
:func:`feeds.market.validate`: the masks of what is wrong, and the suspicious-move rule.

Each function returns boolean masks (or positions); callers turn the first hit into one error line
that names ticker, date, the source (``file:line`` where there is one) and the fix.

**Suspicious one-day moves** (:func:`suspicious_moves`), on consecutive listed sessions of a name:

- *jump*: the close moves by a factor of :data:`JUMP_RATIO` (3) or more in one session, up or down
  (``|ln(c_t / c_{t-1})| >= ln 3``). Re-listings after a bankruptcy, unadjusted reverse splits and
  typos (a price x1e12) do this; a real stock almost never does.
- *spike*: a move of :data:`SPIKE_RATIO` (2) or more that the next session reverses by at least
  half (in log terms): a bad print or a tick-size artefact, not a price anyone traded at.

Moves are measured on the prices as they will be traded (after ``adj_close`` scaling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A one-day move by this factor or more (up or down) is a *jump*.
JUMP_RATIO = 3.0
#: A one-day move by this factor or more, reversed by at least half the next session, is a *spike*.
SPIKE_RATIO = 2.0
#: Relative tolerance of the OHLC bracket check (low <= open, close <= high).
OHLC_TOLERANCE = 1e-9
#: The values of ``data.suspicious``: stop with one line (default), keep the names (noted), or
#: drop the names that have a suspicious move (noted).
SUSPICIOUS_POLICIES = ("stop", "keep", "exclude")


def listed_span(live: np.ndarray) -> np.ndarray:
    """True from each column's first live cell to its last (the listed period), else False."""
    n = live.shape[0]
    first = np.argmax(live, axis=0)
    last = n - 1 - np.argmax(live[::-1], axis=0)
    span = np.arange(n)[:, None]
    return (span >= first) & (span <= last) & live.any(axis=0)


def holes(live: np.ndarray) -> np.ndarray:
    """Missing cells inside a column's listed period."""
    return listed_span(live) & ~live


def bad_prices(values: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Live cells whose price is not a positive finite number."""
    with np.errstate(invalid="ignore"):
        return live & ~(np.isfinite(values) & (values > 0))


def ohlc_inconsistent(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                      live: np.ndarray, tol: float = OHLC_TOLERANCE) -> np.ndarray:
    """Live bars whose low is above open/close or whose high is below them."""
    with np.errstate(invalid="ignore"):
        return live & ((lo > np.minimum(o, c) * (1 + tol)) | (h < np.maximum(o, c) * (1 - tol)))


@dataclass(frozen=True)
class Move:
    """A suspicious one-day move: row and column in the arrays, the factor, and its kind."""

    row: int
    col: int
    ratio: float
    kind: str   # "jump" | "spike"

    def describe(self) -> str:
        """``x16.0`` / ``/3.2`` (the factor, up or down), as shown to the user."""
        return f"x{self.ratio:.3g}" if self.ratio >= 1 else f"/{1 / self.ratio:.3g}"


def suspicious_moves(close: np.ndarray) -> list[Move]:
    """Jumps and spikes (see the module docstring) in a dates x tickers close array (NaN = not listed).

    Returned in ticker order, then date order.
    """
    c = np.asarray(close, dtype=np.float64)
    if c.shape[0] < 2:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.full(c.shape, np.nan)
        lr[1:] = np.log(c[1:] / c[:-1])
        nxt = np.full(c.shape, np.nan)
        nxt[:-1] = lr[1:]
        size = np.abs(lr)
        jump = np.isfinite(lr) & (size >= np.log(JUMP_RATIO))
        spike = (np.isfinite(lr) & np.isfinite(nxt) & (size >= np.log(SPIKE_RATIO))
                 & (np.sign(nxt) == -np.sign(lr)) & (np.abs(nxt) >= 0.5 * size) & ~jump)
    out = []
    for kind, mask in (("jump", jump), ("spike", spike)):
        jj, ii = np.nonzero(mask.T)
        out.extend(Move(int(i), int(j), float(np.exp(lr[i, j])), kind) for i, j in zip(ii, jj, strict=True))
    return sorted(out, key=lambda m: (m.col, m.row))


def untradable_prices(close: np.ndarray, position_value: float, quantum: float) -> np.ndarray:
    """Columns with a price at which one tradable unit (``quantum`` shares) costs more than
    ``position_value``: the book cannot hold the name at its size at share granularity."""
    with np.errstate(invalid="ignore"):
        top = np.nanmax(np.where(np.isfinite(close), close, np.nan), axis=0, initial=0.0)
    return top * quantum > position_value
