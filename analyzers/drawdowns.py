"""Drawdowns of a daily return (or equity) series: the underwater curve and the top-N table.

Pure functions over numpy/pandas, shared by the backtrader analyzers and the vectorized twin.

Conventions (the same as ``empyrical.drawdown_series`` / ``empyrical.max_drawdown``):

- The wealth index is anchored at 1 *before* the first return, so the starting capital is a
  peak. Engines' ``BacktestResult.returns()`` start with a 0 return, where this makes no
  difference; for such series the table agrees with ``pyfolio.timeseries.gen_drawdown_table``.
- A drawdown period is a maximal run of sessions strictly under water. Its *peak* is the session
  just before the run (the first session when the run starts at the anchor), its *valley* the
  first session of the run's minimum, its *recovery* the first session back at or above the
  peak (``None`` when the series ends under water).
- Drawdowns are negative fractions (-0.031 for a 3.1% loss from the peak).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Columns of :func:`drawdown_table`.
TABLE_COLUMNS = (
    "peak_date", "valley_date", "recovery_date", "drawdown", "duration",
    "peak_to_valley_sessions", "sessions", "recovered",
)


def _values(x: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def wealth_index(returns: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Compounded wealth ``prod(1 + r)`` after each return (NaN returns count as 0).

    Parameters
    ----------
    returns : pd.Series or np.ndarray
        Daily simple returns, noncumulative.

    Returns
    -------
    pd.Series or np.ndarray
        Wealth after each session, starting capital 1 (not included).
    """
    r = np.nan_to_num(_values(returns), nan=0.0)
    w = np.cumprod(1.0 + r)
    if isinstance(returns, pd.Series):
        return pd.Series(w, index=returns.index, name="wealth")
    return w


def underwater(equity: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Drawdown of an equity (or wealth) curve from its running peak: ``equity / cummax - 1``.

    Parameters
    ----------
    equity : pd.Series or np.ndarray
        Positive portfolio values (money or a wealth index).

    Returns
    -------
    pd.Series or np.ndarray
        Non-positive fractions, 0 at every new high.
    """
    v = _values(equity)
    if v.size == 0:
        out = v.copy()
    else:
        peak = np.fmax.accumulate(v)
        out = (v - peak) / peak
    if isinstance(equity, pd.Series):
        return pd.Series(out, index=equity.index, name="drawdown")
    return out


def drawdown_series(returns: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Drawdown after each session from the running peak of the anchored wealth index.

    Agrees with ``empyrical.drawdown_series`` (starting capital counts as a peak).

    Parameters
    ----------
    returns : pd.Series or np.ndarray
        Daily simple returns, noncumulative.

    Returns
    -------
    pd.Series or np.ndarray
        Non-positive fractions, one per return.
    """
    w = np.concatenate(([1.0], wealth_index(_values(returns))))  # starting capital as a peak
    out = underwater(w)[1:]
    if isinstance(returns, pd.Series):
        return pd.Series(out, index=returns.index, name="drawdown")
    return out


def max_drawdown(returns: pd.Series | np.ndarray) -> float:
    """Largest drawdown (most negative value of :func:`drawdown_series`); NaN when empty.

    Parameters
    ----------
    returns : pd.Series or np.ndarray
        Daily simple returns, noncumulative.

    Returns
    -------
    float
        A non-positive fraction (agrees with ``empyrical.max_drawdown``).
    """
    dd = _values(drawdown_series(returns))
    return float(dd.min()) if dd.size else float("nan")


def drawdown_periods(dd: np.ndarray) -> list[tuple[int, int, int | None]]:
    """Every drawdown period of an underwater array as ``(peak, valley, recovery)`` positions.

    Parameters
    ----------
    dd : np.ndarray
        Underwater values (<= 0), e.g. from :func:`drawdown_series`.

    Returns
    -------
    list of tuple
        In time order; ``peak`` is -1 when the period starts at the anchor (before the first
        session), ``recovery`` is None when the series ends under water.
    """
    dd = _values(dd)
    neg = dd < 0.0
    if not neg.any():
        return []
    edges = np.diff(np.concatenate(([0], neg.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # one past the last negative session
    out: list[tuple[int, int, int | None]] = []
    n = dd.size
    for a, b in zip(starts, ends, strict=True):
        valley = int(a + np.argmin(dd[a:b]))
        out.append((int(a) - 1, valley, int(b) if b < n else None))
    return out


def drawdown_table(returns: pd.Series, top: int = 5) -> pd.DataFrame:
    """The ``top`` worst drawdown periods, like pyfolio's ``gen_drawdown_table``.

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns indexed by date.
    top : int
        Number of periods to keep (worst first; ties: earliest valley first).

    Returns
    -------
    pd.DataFrame
        Columns :data:`TABLE_COLUMNS`: ``peak_date``, ``valley_date``, ``recovery_date`` (NaT when
        not recovered), ``drawdown`` (negative fraction), ``duration`` (business days from peak to
        recovery, both included, as pyfolio counts; NaN when not recovered),
        ``peak_to_valley_sessions``, ``sessions`` (trading sessions from peak to recovery or to the
        last date), ``recovered`` (bool). Empty when the series never goes under water.
    """
    if not isinstance(returns, pd.Series):
        raise TypeError("drawdown_table needs a pd.Series of returns indexed by date")
    # wealth / running peak - 1 (pyfolio's arithmetic, so equal-depth ties order the same way)
    r = np.nan_to_num(_values(returns), nan=0.0)
    w = np.cumprod(np.concatenate(([1.0], 1.0 + r)))
    dd = (w / np.fmax.accumulate(w) - 1.0)[1:]
    periods = drawdown_periods(dd)
    periods.sort(key=lambda p: (dd[p[1]], p[1]))
    periods = periods[: max(int(top), 0)]
    idx = returns.index
    rows: list[dict[str, Any]] = []
    last = len(idx) - 1
    for peak, valley, rec in periods:
        p = max(peak, 0)
        rows.append({
            "peak_date": idx[p],
            "valley_date": idx[valley],
            "recovery_date": idx[rec] if rec is not None else pd.NaT,
            "drawdown": float(dd[valley]),
            "duration": (float(len(pd.bdate_range(idx[p], idx[rec])))
                         if rec is not None else float("nan")),
            "peak_to_valley_sessions": int(valley - p),
            "sessions": int((rec if rec is not None else last) - p),
            "recovered": rec is not None,
        })
    out = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("peak_date", "valley_date", "recovery_date"):
        out[col] = pd.to_datetime(out[col])
    return out


def _iso(ts: Any) -> str | None:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return None
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A :func:`drawdown_table` frame as JSON-able records (ISO dates, None for missing).

    Parameters
    ----------
    table : pd.DataFrame
        Output of :func:`drawdown_table`.

    Returns
    -------
    list of dict
        One dict per period, keys :data:`TABLE_COLUMNS`.
    """
    out = []
    for row in table.itertuples(index=False):
        d = row._asdict()
        out.append({
            "peak_date": _iso(d["peak_date"]),
            "valley_date": _iso(d["valley_date"]),
            "recovery_date": _iso(d["recovery_date"]),
            "drawdown": float(d["drawdown"]),
            "duration": None if pd.isna(d["duration"]) else int(d["duration"]),
            "peak_to_valley_sessions": int(d["peak_to_valley_sessions"]),
            "sessions": int(d["sessions"]),
            "recovered": bool(d["recovered"]),
        })
    return out


def drawdown_summary(returns: pd.Series, top: int = 5) -> dict[str, Any]:
    """Max drawdown, current drawdown and the top-``top`` table of a return series, JSON-able.

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns indexed by date.
    top : int
        Rows of the table.

    Returns
    -------
    dict
        ``max_drawdown``, ``current_drawdown`` (at the last date), ``n_periods`` (all periods
        under water), ``table`` (records of :func:`drawdown_table`).
    """
    dd = _values(drawdown_series(returns))
    return {
        "max_drawdown": float(dd.min()) if dd.size else None,
        "current_drawdown": float(dd[-1]) if dd.size else None,
        "n_periods": len(drawdown_periods(dd)),
        "table": table_records(drawdown_table(returns, top=top)),
    }
