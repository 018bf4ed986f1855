"""Daily exposures of a run (market values, leverage, beta, names, turnover, hedge) and summaries.

Pure functions over a :class:`strategies.result.BacktestResult` and the market's closes. Money
columns are in the account currency at each close; ``*_exposure`` columns are fractions of that
close's equity (``gross_exposure`` 2.0 = 2x gross).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..strategies.result import BacktestResult
from ..strategies.targets import LEGS
from .attribution import close_array, date_positions, leg_list
from .episodes import window_bounds

#: Columns of :func:`exposures`.
EXPOSURE_COLUMNS = (
    "equity", "long_value", "short_value", "gross", "net", "beta_net",
    "long_leg_value", "short_leg_value", "hedge_value", "hedge_gross",
    "gross_exposure", "net_exposure", "long_exposure", "short_exposure", "beta_net_exposure",
    "hedge_exposure", "n_long", "n_short", "n_hedge", "traded_value", "turnover",
)
#: Statistics of :func:`summarize_exposures`.
SUMMARY_STATS = ("mean", "max", "min", "at_start", "at_end")


def exposures(result: BacktestResult, close: pd.DataFrame,
              betas: pd.Series | None = None) -> pd.DataFrame:
    """Daily market values, leverage, beta-adjusted net, names per leg, turnover and hedge size.

    Parameters
    ----------
    result : BacktestResult
        A run of either engine.
    close : pd.DataFrame
        The market's closes (dates x tickers).
    betas : pd.Series, optional
        Beta per ticker (``Market.attributes["beta"]``); a missing beta counts as 1. Without
        betas, ``beta_net`` equals ``net``.

    Returns
    -------
    pd.DataFrame
        Dates x :data:`EXPOSURE_COLUMNS`:

        - ``long_value`` / ``short_value``: sum of positive / negative net positions' value
          (short_value <= 0); ``gross`` = long - short; ``net`` = long + short;
        - ``beta_net``: sum of value * beta;
        - ``long_leg_value``, ``short_leg_value``, ``hedge_value``: net value held by each leg;
          ``hedge_gross``: sum of |value| of the hedge leg (the overlay hedge's size);
        - ``*_exposure``: the matching value / equity;
        - ``n_long``, ``n_short``, ``n_hedge``: names with a non-zero holding in that leg;
        - ``traded_value``: sum of |size| * fill price of the day's fills; ``turnover``: traded
          value / the previous close's equity (the first day: its own equity).
    """
    equity = result.equity.astype(np.float64)
    dates = pd.DatetimeIndex(equity.index)
    tickers = pd.Index(result.shares.columns)
    for df in (result.leg_shares or {}).values():
        tickers = tickers.union(df.columns, sort=False)
    S = leg_list(result, dates, tickers)
    C = close_array(close, dates, tickers)
    legval = [s * C for s in S]   # value held per leg (dates x tickers)
    pos = legval[0] + legval[1]   # the legs' sum, added in leg order (as sum(axis=0) does)
    for lv in legval[2:]:
        pos += lv
    b = np.ones(len(tickers))
    if betas is not None:
        b = np.nan_to_num(betas.reindex(tickers).to_numpy(np.float64), nan=1.0)
    eq = equity.to_numpy()
    out = pd.DataFrame(index=dates)
    out["equity"] = eq
    out["long_value"] = np.where(pos > 0, pos, 0.0).sum(axis=1)
    out["short_value"] = np.where(pos < 0, pos, 0.0).sum(axis=1)
    out["gross"] = out["long_value"] - out["short_value"]
    out["net"] = out["long_value"] + out["short_value"]
    out["beta_net"] = pos @ b
    for i, leg in enumerate(LEGS):
        out[f"{leg}_leg_value" if leg != "hedge" else "hedge_value"] = legval[i].sum(axis=1)
    out["hedge_gross"] = np.abs(legval[LEGS.index("hedge")]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for col in ("gross", "net", "long", "short", "beta_net", "hedge"):
            src = {"long": "long_value", "short": "short_value", "hedge": "hedge_value"}.get(col, col)
            out[f"{col}_exposure"] = out[src].to_numpy() / eq
    for i, leg in enumerate(LEGS):
        out[f"n_{leg}"] = (S[i] != 0).sum(axis=1).astype(np.int64)
    traded = np.zeros(len(dates))
    tr = result.trades
    if tr is not None and not tr.empty:
        p = date_positions(dates, tr["date"], "a fill")
        np.add.at(traded, p, np.abs(tr["size"].to_numpy(np.float64) * tr["price"].to_numpy(np.float64)))
    prev_eq = np.concatenate((eq[:1], eq[:-1]))
    out["traded_value"] = traded
    with np.errstate(divide="ignore", invalid="ignore"):
        out["turnover"] = traded / prev_eq
    return out[list(EXPOSURE_COLUMNS)]


def summarize_exposures(exp: pd.DataFrame, start: Any = None, end: Any = None,
                        columns: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Mean, max, min, first and last value of each exposure column over ``[start, end]``.

    Parameters
    ----------
    exp : pd.DataFrame
        Output of :func:`exposures`.
    start, end : date-like, optional
        Window (all dates by default).
    columns : tuple of str, optional
        Columns to summarize (all by default).

    Returns
    -------
    dict
        ``{column: {stat: value}}`` with stats :data:`SUMMARY_STATS`; plain floats, None for NaN.
    """
    dates = pd.DatetimeIndex(exp.index)
    a, b = window_bounds(dates, start if start is not None else dates[0],
                         end if end is not None else dates[-1])
    rows = exp.iloc[a: b + 1]
    cols = columns or tuple(exp.columns)

    def f(x: Any) -> float | None:
        x = float(x)
        return x if np.isfinite(x) else None

    out: dict[str, dict[str, Any]] = {}
    for c in cols:
        v = rows[c].to_numpy(np.float64)
        fin = v[np.isfinite(v)]
        out[c] = {
            "mean": f(fin.mean()) if fin.size else None,
            "max": f(fin.max()) if fin.size else None,
            "min": f(fin.min()) if fin.size else None,
            "at_start": f(v[0]),
            "at_end": f(v[-1]),
        }
    return out
