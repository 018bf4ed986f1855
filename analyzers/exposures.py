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
    b = np.ones(len(tickers))
    if betas is not None:
        b = np.nan_to_num(betas.reindex(tickers).to_numpy(np.float64), nan=1.0)
    eq = equity.to_numpy()
    cols, pos = value_sums(S, C)
    cols["beta_net"] = pos @ b
    del pos
    cols["gross"] = cols["long_value"] - cols["short_value"]
    cols["net"] = cols["long_value"] + cols["short_value"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for col in ("gross", "net", "long", "short", "beta_net", "hedge"):
            src = {"long": "long_value", "short": "short_value", "hedge": "hedge_value"}.get(col, col)
            cols[f"{col}_exposure"] = cols[src] / eq
    traded = np.zeros(len(dates))
    tr = result.trades
    if tr is not None and not tr.empty:
        p = date_positions(dates, tr["date"], "a fill")
        np.add.at(traded, p, np.abs(tr["size"].to_numpy(np.float64) * tr["price"].to_numpy(np.float64)))
    prev_eq = np.concatenate((eq[:1], eq[:-1]))
    cols["equity"] = eq
    cols["traded_value"] = traded
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["turnover"] = traded / prev_eq
    return pd.DataFrame({c: cols[c] for c in EXPOSURE_COLUMNS}, index=dates)


#: Rows per block of :func:`value_sums` (its scratch arrays are this many rows x tickers).
_ROWS = 256


def value_sums(S: list[np.ndarray], C: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-row sums of the legs' values ``S[i] * C`` (dates x tickers): long/short value of the
    net position, each leg's value, the hedge's gross, names held per leg; and the net position
    value ``pos`` (dates x tickers). Done in blocks of rows (scratch of one block besides
    ``pos``); a row's sum is the same float as the whole array's ``sum(axis=1)`` gives."""
    n = C.shape[0]
    names = [f"{leg}_leg_value" if leg != "hedge" else "hedge_value" for leg in LEGS]
    out = {k: np.empty(n) for k in ("long_value", "short_value", *names, "hedge_gross")}
    counts = [np.empty(n, dtype=np.int64) for _ in LEGS]
    pos = np.empty(C.shape)
    h = LEGS.index("hedge")
    for a in range(0, n, _ROWS):
        z = slice(a, min(a + _ROWS, n))
        lv = [s[z] * C[z] for s in S]   # value held per leg
        p = pos[z]
        np.add(lv[0], lv[1], out=p)   # the legs' sum, added in leg order (as sum(axis=0) does)
        for x in lv[2:]:
            p += x
        out["long_value"][z] = np.where(p > 0, p, 0.0).sum(axis=1)
        out["short_value"][z] = np.where(p < 0, p, 0.0).sum(axis=1)
        for i, name in enumerate(names):
            out[name][z] = lv[i].sum(axis=1)
            counts[i][z] = (S[i][z] != 0).sum(axis=1)
        out["hedge_gross"][z] = np.abs(lv[h]).sum(axis=1)
    out.update({f"n_{leg}": counts[i] for i, leg in enumerate(LEGS)})
    return out, pos


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
