"""Target weights by leg: what the book (and the overlay) want to hold, decided at a close.

Weights are fractions of portfolio value, signed (+ long, - short), one row per *signal date*:
the targets are decided with data up to that date's close and executed at the next bar
(see ``Market.fill_model``). Legs keep the book's long and short sides and the overlay's hedge
apart so attribution can follow them; the executed position of a name is the sum over legs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError

LEGS = ("long", "short", "hedge")


@dataclass
class Targets:
    """Per-leg target weights on signal dates.

    ``legs[leg]`` is a DataFrame (signal dates x tickers) of weights; every leg has the same index
    and columns. ``resize`` (same shape, bool) says which names are traded back to their target on
    that date: True for every name on a book rebalance, only the names whose target changed on an
    overlay-only date (so an overlay action does not silently rebalance the whole book).
    """

    legs: dict[str, pd.DataFrame]
    resize: pd.DataFrame
    reasons: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))

    def __post_init__(self) -> None:
        ref = self.resize
        for leg in LEGS:
            if leg not in self.legs:
                self.legs[leg] = pd.DataFrame(0.0, index=ref.index, columns=ref.columns)
        for leg, w in self.legs.items():
            if leg not in LEGS:
                raise ValueError(f"unknown leg {leg!r}; legs are {LEGS}")
            if not (w.index.equals(ref.index) and w.columns.equals(ref.columns)):
                raise ValueError(f"leg {leg!r} is not aligned with the resize mask")

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.resize.index  # type: ignore[return-value]

    @property
    def tickers(self) -> pd.Index:
        return self.resize.columns

    def total(self) -> pd.DataFrame:
        """Net target weight per name (sum over legs)."""
        out = self.legs["long"] + self.legs["short"] + self.legs["hedge"]
        return out

    def gross(self) -> pd.Series:
        """Gross target exposure per signal date (sum of absolute net weights)."""
        return self.total().abs().sum(axis=1)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(weights[leg, date, ticker], resize[date, ticker]) as float64 / bool arrays."""
        w = np.stack([self.legs[leg].to_numpy(np.float64) for leg in LEGS])
        return w, self.resize.to_numpy(bool)

    def check_against(self, market: Any) -> np.ndarray:
        """Check the targets fit ``market`` (tickers in it, sorted unique signal dates on its
        dates); return the signal rows (market row of each signal date)."""
        tickers = market.tickers
        if not self.tickers.equals(tickers) and not self.tickers.isin(tickers).all():
            bad = self.tickers[~self.tickers.isin(tickers)]
            raise SqueezeLabError(
                f"targets name tickers not in the market ({', '.join(map(str, bad[:5]))}): "
                "build targets from the same market"
            )
        rows = market.dates.get_indexer(self.dates)
        if (rows < 0).any():
            d = self.dates[rows < 0][0]
            raise SqueezeLabError(
                f"target date {pd.Timestamp(d).date()} is not a market date: "
                "build targets on the market's dates"
            )
        if self.dates.has_duplicates or not self.dates.is_monotonic_increasing:
            raise SqueezeLabError("target dates are not unique and sorted: sort the targets by date")
        return rows.astype(np.int64)
