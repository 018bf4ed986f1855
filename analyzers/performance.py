"""Headline performance statistics of a daily return series, all computed by empyrical.

Nothing here re-implements a statistic: each number is one empyrical call on the same returns,
converted to a plain float (NaN and infinities become None, for JSON).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

#: Keys of :func:`performance_stats` (``alpha``/``beta``/``*_vs_benchmark`` are None without a
#: benchmark).
PERFORMANCE_KEYS = (
    "start", "end", "n_days", "cumulative_return", "annual_return", "annual_volatility",
    "sharpe_ratio", "sortino_ratio", "calmar_ratio", "max_drawdown", "tail_ratio",
    "stability", "value_at_risk", "conditional_value_at_risk", "hit_rate", "alpha", "beta",
    "hit_rate_vs_benchmark", "up_market_hit_rate", "down_market_hit_rate", "benchmark",
)


def load_empyrical() -> Any:
    """empyrical, imported on first use: it imports scipy (about a second), so the modules that
    only might compute statistics do not pay for it at import.

    empyrical's ``utils`` also imports yfinance (half a second more) when it is installed, only
    for its data-download helpers, which this project never calls. Unless yfinance is already
    loaded, empyrical is imported with yfinance marked absent and its ``utils.yf`` then set to
    a stand-in that imports yfinance on first use, so those helpers still work.
    """
    if "empyrical" in sys.modules:
        return sys.modules["empyrical"]
    defer = "yfinance" not in sys.modules and importlib.util.find_spec("yfinance") is not None
    if defer:
        sys.modules["yfinance"] = None  # type: ignore[assignment]  # `import yfinance` fails
    try:
        import empyrical
        import empyrical.utils
    finally:
        if defer and "yfinance" in sys.modules and sys.modules["yfinance"] is None:
            del sys.modules["yfinance"]
    if defer and getattr(empyrical.utils, "yf", 0) is None:
        empyrical.utils.yf = _ImportOnUse("yfinance")
    return empyrical


class _ImportOnUse:
    """A module imported when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


def to_float(x: Any) -> float | None:
    """A plain python float, or None for NaN/inf/None (numpy scalars and 0-d arrays accepted).

    Parameters
    ----------
    x : scalar

    Returns
    -------
    float or None
    """
    if x is None:
        return None
    f = float(np.asarray(x, dtype=np.float64).reshape(-1)[0]) if np.ndim(x) else float(x)
    return f if math.isfinite(f) else None


def performance_stats(returns: pd.Series, benchmark: pd.Series | None = None,
                      risk_free: float = 0.0, benchmark_name: str | None = None,
                      drop_first: bool = True) -> dict[str, Any]:
    """Annual return, volatility, Sharpe, Sortino, Calmar, max drawdown, tail ratio, alpha/beta,
    hit rate (all empyrical, daily data annualized with 252).

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns indexed by date.
    benchmark : pd.Series, optional
        Daily benchmark returns (e.g. ``Market.reference["index"]``), aligned by date.
    risk_free : float
        Constant daily risk-free return for Sharpe and alpha/beta.
    benchmark_name : str, optional
        Reported as ``benchmark``.
    drop_first : bool
        Leave out the first date (an equity curve's first "return" is 0 by construction).

    Returns
    -------
    dict
        Keys :data:`PERFORMANCE_KEYS`. ``hit_rate`` is empyrical's batting average against a
        zero benchmark (share of days with a positive return); ``*_vs_benchmark`` /
        ``up_market_hit_rate`` / ``down_market_hit_rate`` its batting average against the
        benchmark.
    """
    r = returns.astype(np.float64)
    if drop_first and len(r):
        r = r.iloc[1:]
    out: dict[str, Any] = dict.fromkeys(PERFORMANCE_KEYS)
    out["n_days"] = int(len(r))
    out["benchmark"] = benchmark_name if benchmark is not None else None
    if len(r) == 0:
        return out
    out["start"] = r.index[0].strftime("%Y-%m-%d")
    out["end"] = r.index[-1].strftime("%Y-%m-%d")
    # empyrical warns where a statistic is undefined (e.g. 0/0 tail ratio on flat returns): the
    # number is NaN/inf and becomes None, so the warning is not needed.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _fill(out, r, benchmark, risk_free)
    return out


def _fill(out: dict[str, Any], r: pd.Series, benchmark: pd.Series | None,
          risk_free: float) -> None:
    empyrical = load_empyrical()
    out.update({
        "cumulative_return": to_float(empyrical.cum_returns_final(r)),
        "annual_return": to_float(empyrical.annual_return(r)),
        "annual_volatility": to_float(empyrical.annual_volatility(r)),
        "sharpe_ratio": to_float(empyrical.sharpe_ratio(r, risk_free=risk_free)),
        "sortino_ratio": to_float(empyrical.sortino_ratio(r)),
        "calmar_ratio": to_float(empyrical.calmar_ratio(r)),
        "max_drawdown": to_float(empyrical.max_drawdown(r)),
        "tail_ratio": to_float(empyrical.tail_ratio(r)),
        "stability": to_float(empyrical.stability_of_timeseries(r)),
        "value_at_risk": to_float(empyrical.value_at_risk(r)),
        "conditional_value_at_risk": to_float(empyrical.conditional_value_at_risk(r)),
        "hit_rate": to_float(
            empyrical.batting_average(r, pd.Series(0.0, index=r.index))["batting average"]),
    })
    if benchmark is not None and len(benchmark):
        bm = benchmark.astype(np.float64).reindex(r.index)
        alpha, beta = empyrical.alpha_beta(r, bm, risk_free=risk_free)
        ba = empyrical.batting_average(r, bm)
        out.update({
            "alpha": to_float(alpha),
            "beta": to_float(beta),
            "hit_rate_vs_benchmark": to_float(ba["batting average"]),
            "up_market_hit_rate": to_float(ba["up market"]),
            "down_market_hit_rate": to_float(ba["down market"]),
        })
