"""The warm-up and the measured period of a run.

A book needs a year or so of history before its first rebalance; until then it holds cash and
its "returns" are zero. Averaging those days into Sharpe, annual return or the share of up days
dilutes every statistic, so the statistics cover the measured period: from the first session the
book holds positions to the end (RUN_FOLDER.md). The warm-up before it is recorded, not averaged
in. Pure functions over the frames a :class:`strategies.result.BacktestResult` holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError


def first_invested_session(shares: pd.DataFrame, trades: pd.DataFrame | None = None
                           ) -> pd.Timestamp | None:
    """The first session the book holds a position (or fills an order), None if it never does.

    Parameters
    ----------
    shares : pd.DataFrame
        End-of-day shares per ticker (dates x tickers), as in ``BacktestResult.shares``.
    trades : pd.DataFrame, optional
        Fills with a ``date`` column; a fill on a session makes it invested even if the position
        was closed by the close.

    Returns
    -------
    pd.Timestamp or None
    """
    first: pd.Timestamp | None = None
    if shares is not None and len(shares) and shares.shape[1]:
        held = np.flatnonzero((np.nan_to_num(shares.to_numpy(np.float64)) != 0).any(axis=1))
        if held.size:
            first = pd.Timestamp(shares.index[held[0]])
    if trades is not None and len(trades) and "date" in trades.columns:
        d = pd.to_datetime(trades["date"]).min()
        if pd.notna(d) and (first is None or d < first):
            first = pd.Timestamp(d).normalize()
    return first


def first_invested(result: Any) -> pd.Timestamp | None:
    """:func:`first_invested_session` of an engine's result: a ``BacktestResult`` (shares and
    trades) or the twin's equity-only ``EquityRun`` (its ``first_fill``)."""
    if hasattr(result, "shares"):
        return first_invested_session(result.shares, getattr(result, "trades", None))
    return getattr(result, "first_fill", None)


def measured_equity(equity: pd.Series, first: pd.Timestamp) -> pd.Series:
    """The equity curve of the measured period, from the last warm-up close (the base) on.

    Its first return is 0 by construction (like any equity curve's), so the statistics that
    leave out the first date cover exactly the sessions from ``first`` to the end, and the first
    of them is measured against the capital the book started trading with.
    """
    k = int(pd.DatetimeIndex(equity.index).searchsorted(pd.Timestamp(first)))
    return equity.iloc[max(k - 1, 0):]


def warmup_record(dates: pd.DatetimeIndex, first: pd.Timestamp) -> dict[str, Any]:
    """``{"start", "end", "sessions"}`` of the warm-up before ``first`` (dates None if none)."""
    k = int(pd.DatetimeIndex(dates).searchsorted(pd.Timestamp(first)))
    if k == 0:
        return {"start": None, "end": None, "sessions": 0}
    return {"start": dates[0].strftime("%Y-%m-%d"), "end": dates[k - 1].strftime("%Y-%m-%d"),
            "sessions": k}


def require_invested(first: pd.Timestamp | None, dates: pd.DatetimeIndex,
                     warmup: int | None = None) -> pd.Timestamp:
    """``first``, or a clean error saying the book never held a position and what to change."""
    if first is not None:
        return first
    span = (f"{dates[0].strftime('%Y-%m-%d')}..{dates[-1].strftime('%Y-%m-%d')} "
            f"({len(dates)} sessions)") if len(dates) else "an empty range"
    need = (f"; the book needs {warmup} sessions of history before its first rebalance"
            if warmup else "")
    raise SqueezeLabError(
        f"the book never held a position in {span}{need}: start the data earlier (data.start) or "
        "shorten the lookbacks (book.momentum_lookback, book.vol_window, book.beta_window)")
