"""Crowding of short positions: a documented squeeze score and practitioners' flags, as pure functions.

The squeeze score (0-100, higher = more exposed to a short squeeze) is a weighted mean of six
components, each scaled to [0, 1] and capped, so one extreme input cannot dominate:

=================  ======  =====================================================================
component          weight  scaled value
=================  ======  =====================================================================
short interest     0.30    short interest as a share of float / 0.40 (40% of float or more = 1)
days to cover      0.20    days to cover / 10 (10 days or more = 1)
short-interest     0.10    rise in short interest since the previous report / 0.05 (5 points of
change                     float = 1; a fall counts 0: shorts adding is fuel, covering is not)
recent return      0.20    return over the lookback / 0.30 (+30% = 1; a fall counts 0: a name
                           already ripping is where a squeeze is under way)
beta               0.10    (beta - 1) / 1.5 (beta 2.5 or more = 1; beta <= 1 counts 0)
price under $5     0.10    1 if the last close is under the low-price line, else 0
=================  ======  =====================================================================

A component that is unknown for a name (NaN: no short-interest data, no beta yet) is left out
and the weights of the known ones are renormalized, so a name without short interest keeps its
other components instead of scoring 0. A name with no known component scores NaN.

Flags (docs/scenario.md): short interest above 25% of float, days to cover above 5.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Component -> (weight, value at which the scaled component reaches 1).
SCORE_COMPONENTS: dict[str, tuple[float, float]] = {
    "short_interest": (0.30, 0.40),
    "days_to_cover": (0.20, 10.0),
    "si_change": (0.10, 0.05),
    "recent_return": (0.20, 0.30),
    "beta": (0.10, 1.5),        # scaled on beta - 1
    "under_5": (0.10, 1.0),
}

#: Practitioners' crowded-short flags.
SI_FLAG = 0.25
DTC_FLAG = 5.0


def scaled_components(frame: pd.DataFrame) -> pd.DataFrame:
    """Each score component scaled to [0, 1] (NaN stays NaN), one column per component.

    ``frame`` has columns ``short_interest``, ``days_to_cover``, ``si_change``,
    ``recent_return``, ``beta`` and ``under_5`` (bool or 0/1; NaN = unknown); missing columns
    count as unknown.
    """
    out = {}
    for name, (_w, full) in SCORE_COMPONENTS.items():
        col = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
        x = pd.to_numeric(col, errors="coerce").astype(np.float64)
        if name == "beta":
            x = x - 1.0
        out[name] = (x / full).clip(lower=0.0, upper=1.0)
    return pd.DataFrame(out, index=frame.index)


def squeeze_score(frame: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.Series:
    """The squeeze score per row, 0-100 (see the module docstring for the components).

    Parameters
    ----------
    frame : pd.DataFrame
        One row per name, the component columns of :func:`scaled_components` (raw values).
    weights : mapping, optional
        Component -> weight, replacing the defaults of :data:`SCORE_COMPONENTS`.

    Returns
    -------
    pd.Series
        Weighted mean of the known scaled components x 100; NaN when no component is known.
    """
    w = {k: (weights or {}).get(k, v[0]) for k, v in SCORE_COMPONENTS.items()}
    comp = scaled_components(frame)
    wv = np.array([w[c] for c in comp.columns])
    vals = comp.to_numpy(np.float64)
    known = np.isfinite(vals)
    num = np.where(known, vals, 0.0) @ wv
    den = known.astype(np.float64) @ wv
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, 100.0 * num / den, np.nan)
    return pd.Series(score, index=frame.index, name="score")


def crowding_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Boolean flags per row: ``si_over_25`` (short interest > 25% of float), ``dtc_over_5``."""
    si = pd.to_numeric(frame.get("short_interest"), errors="coerce")
    dtc = pd.to_numeric(frame.get("days_to_cover"), errors="coerce")
    return pd.DataFrame({"si_over_25": (si > SI_FLAG).fillna(False).astype(bool),
                         "dtc_over_5": (dtc > DTC_FLAG).fillna(False).astype(bool)},
                        index=frame.index)


def last_report_change(history: pd.DataFrame, asof: pd.Timestamp) -> tuple[pd.Series, pd.Series,
                                                                            pd.Series]:
    """Value known at ``asof``, its change since the previous report, and when it became known.

    ``history`` is a point-in-time frame (dates x tickers, the value known on each date, e.g.
    short interest already lagged by its publication delay). A "report" is a date on which the
    known value changes.

    Returns
    -------
    (value, change, known_since) : pd.Series each, indexed by ticker; change is NaN when there is
    no earlier report in the history, known_since is NaT when nothing is known.
    """
    h = history.loc[:asof]
    arr = h.to_numpy(np.float64)
    n, m = arr.shape
    value = np.full(m, np.nan)
    change = np.full(m, np.nan)
    since = np.full(m, np.datetime64("NaT"), dtype="datetime64[ns]")
    if n == 0:
        idx = history.columns
        return (pd.Series(value, idx), pd.Series(change, idx), pd.Series(since, idx))
    filled = pd.DataFrame(arr).ffill().to_numpy()
    value = filled[-1]
    prev = np.vstack([np.full((1, m), np.nan), filled[:-1]])
    new = np.isfinite(filled) & ~(np.isclose(filled, prev, rtol=0, atol=0) & np.isfinite(prev))
    rows = np.arange(n)[:, None]
    last_new = np.where(new, rows, -1).max(axis=0)
    has = last_new >= 0
    since[has] = h.index.to_numpy()[last_new[has]]
    before = np.where(has & (last_new > 0), prev[np.maximum(last_new, 0), np.arange(m)], np.nan)
    change = value - before
    idx = history.columns
    return pd.Series(value, idx), pd.Series(change, idx), pd.Series(since, idx)
