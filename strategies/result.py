"""What an engine returns: the same shape from backtrader and from the vectorized twin.

Analyzers' pure functions take these frames, so a sweep on the twin gets the same measures as a
backtrader run, and the reconciliation test compares two of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .targets import Targets

#: Columns of ``BacktestResult.trades`` (one row per fill; size signed: + buy, - sell).
TRADE_COLUMNS = ("date", "ticker", "size", "price", "commission", "leg")


@dataclass
class BacktestResult:
    """Daily equity, holdings by leg, fills and costs of one run.

    - ``equity``/``cash``: portfolio value and cash at each close (index: market dates).
    - ``shares``: end-of-day shares held per ticker; ``leg_shares[leg]`` the same split by leg
      (long, short, hedge), summing to ``shares``.
    - ``trades``: one row per fill, columns :data:`TRADE_COLUMNS` (+ anything else).
    - ``costs``: per date, columns ``commission`` and ``borrow`` (money, positive = paid).
    - ``overlay_log``: one row per overlay decision (date, signal, action, size, ...).
    """

    equity: pd.Series
    cash: pd.Series
    shares: pd.DataFrame
    leg_shares: dict[str, pd.DataFrame]
    trades: pd.DataFrame
    costs: pd.DataFrame
    targets: Targets | None = None
    overlay_log: pd.DataFrame = field(default_factory=pd.DataFrame)
    engine: str = ""
    rejected_orders: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def returns(self) -> pd.Series:
        """Daily simple returns of the equity curve (first day 0)."""
        r = self.equity.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r
