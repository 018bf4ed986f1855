"""Pure, point-in-time signals over market frames: momentum, volatility, beta, quality, junk, squeeze.

Every function here is vectorized over (dates x tickers) frames, computed once before a run, and
uses data up to each date's close only: a value on date ``t`` never changes when prices after
``t`` change. Short interest and days to cover come from the market's point-in-time history
(``Market.short_interest`` / ``Market.days_to_cover``, already lagged by the publication delay)
when present, else from the static attributes (the latest known value, broadcast over dates).

Cross-sectional z-scores and ranks ignore names that are not listed on the date (NaN close).
Composite scores average the z-scores of their components and are NaN for a listed name unless
every price-based component is known for it (a name needs enough history to be scored); the
short-interest components (short interest, days to cover) are optional per name: a name without
short-interest data is scored on its other components, since public short interest rarely covers
a whole universe. The components actually used are reported in ``score.attrs["components"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.crowding import BasketSource, describe_members, most_shorted_membership
from ..feeds.crowding import most_shorted as _most_shorted
from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from ..feeds.reference import index_from_constituents
from ..feeds.short_interest import MEASURES, Coverage, ShortInterestInfo, coverage
from .once import computed_once

#: Trading sessions per year, for annualizing volatility.
TRADING_DAYS = 252

#: Quality components (higher = better quality).
QUALITY_COMPONENTS = ("profitable", "low_beta", "low_volatility")

#: Junk components from attributes / short-interest data (higher = junkier).
JUNK_ATTRIBUTE_COMPONENTS = ("unprofitable", "short_interest", "days_to_cover")
#: Junk components always computable from prices.
JUNK_PRICE_COMPONENTS = ("beta", "low_price", "momentum")
#: Price-based proxies added when an attribute component is missing.
JUNK_PROXY_COMPONENTS = ("volatility", "drawdown")
JUNK_COMPONENTS = JUNK_ATTRIBUTE_COMPONENTS + JUNK_PRICE_COMPONENTS + JUNK_PROXY_COMPONENTS

#: Squeeze-pressure components (higher = more squeezable).
SQUEEZE_COMPONENTS = ("short_interest", "days_to_cover", "recent_return")

#: Components a name may lack and still be scored on the others (short-interest data is partial).
OPTIONAL_COMPONENTS = frozenset({"short_interest", "days_to_cover"})

#: Modes of :func:`junk_rally_signal`.
SIGNAL_MODES = ("zscore", "return")


# --------------------------------------------------------------------------- basic helpers
def _check_window(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SqueezeLabError(f"{name}={value!r} is not a whole number >= {minimum}: pass e.g. {name}=21")
    return int(value)


def _check_windows(window: int, min_periods: int | None) -> tuple[int, int]:
    """A rolling window (>= 2) and its min_periods (default: the whole window), checked."""
    window = _check_window("window", window, 2)
    return window, window if min_periods is None else _check_window("min_periods", min_periods, 2)


def _no_rows(returns: np.ndarray) -> np.ndarray:
    """The empty result of a ``*_rows`` function asked for no rows."""
    return np.empty((0,) + np.shape(returns)[1:])


def listed_returns(market: Market) -> pd.DataFrame:
    """Daily close-to-close returns, NaN wherever the name is not listed (first row 0 if listed)."""
    return computed_once(market, ("listed_returns",),
                         lambda: market.returns().where(market.tradable))


def market_beta(market: Market, window: int) -> pd.DataFrame:
    """:func:`rolling_beta` of every name's listed returns on :func:`index_returns` (computed once)."""
    return computed_once(market, ("beta", window), lambda: rolling_beta(
        listed_returns(market), index_returns(market), window))


def market_vol(market: Market, window: int) -> pd.DataFrame:
    """:func:`realized_vol` (annualized) of every name's listed returns (computed once)."""
    return computed_once(market, ("vol", window),
                         lambda: realized_vol(listed_returns(market), window))


def cross_sectional_zscore(frame: pd.DataFrame, clip: float | None = 3.0) -> pd.DataFrame:
    """Z-score each row across its finite cells (population std); NaN cells stay NaN.

    Parameters
    ----------
    frame : pd.DataFrame
        Dates x tickers; cells of names not listed must already be NaN.
    clip : float, optional
        Clip |z| at this value (None: no clipping).

    Returns
    -------
    pd.DataFrame
        Same shape. A row whose finite values are all equal (or a single value) scores 0.
    """
    return pd.DataFrame(zscore_rows(frame.to_numpy(np.float64), clip), index=frame.index,
                        columns=frame.columns)


def zscore_rows(x: np.ndarray, clip: float | None = 3.0) -> np.ndarray:
    """:func:`cross_sectional_zscore` of a (dates x names) float64 array.

    The sums along a row run over the names in order, as on a frame's (names-major) values,
    whatever the caller's layout, so the bits do not depend on it; each full-size step is done
    once, in place where it can be.
    """
    x = np.asarray(x, np.float64, order="F")
    ok = np.isfinite(x)
    n = ok.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=1, keepdims=True) / n
        dev = np.subtract(x, mean, out=np.empty_like(x))
        sq = np.multiply(dev, dev, out=np.empty_like(x))
        np.copyto(sq, 0.0, where=~ok)
        sd = np.sqrt(sq.sum(axis=1, keepdims=True) / n)
        z = np.divide(dev, sd, out=dev)
    tiny = ~(sd > 1e-12 * np.maximum(1.0, np.abs(mean)))   # a row of equal values scores 0
    if tiny.any():
        np.copyto(z, 0.0, where=tiny & ok)
    np.copyto(z, np.nan, where=~ok)
    if clip is not None:
        np.clip(z, -clip, clip, out=z)
    return z


def cross_sectional_rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Percentile rank of each row across its finite cells (0 < rank <= 1; NaN stays NaN)."""
    return frame.rank(axis=1, pct=True, method="average")


def top_n_members(score: pd.DataFrame, n: int, eligible: pd.DataFrame | None = None) -> pd.DataFrame:
    """Boolean frame: the ``n`` highest finite scores of each row (ties broken by column order).

    Parameters
    ----------
    score : pd.DataFrame
        Dates x tickers.
    n : int
        Members per date (fewer when fewer names qualify).
    eligible : pd.DataFrame of bool, optional
        Names allowed on each date.
    """
    n = _check_window("n", n)
    s = score.to_numpy(np.float64)
    ok = np.isfinite(s)
    if eligible is not None:
        ok &= eligible.reindex_like(score).fillna(False).to_numpy(bool)
    key = np.where(ok, -s, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(s.shape[1])[None, :].repeat(s.shape[0], 0), axis=1)
    return pd.DataFrame((rank < n) & ok, index=score.index, columns=score.columns)


def _on_rows(market: Market, rows: np.ndarray | None, close_rows: np.ndarray | None = None
             ) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """The market's closes and dates on ``rows`` (all when None); ``close_rows``: the closes there
    when the caller already has them (a date's row is scattered over a dates-major frame's
    memory, so each gather costs)."""
    if rows is None:
        return market.close.to_numpy(np.float64), market.dates
    if close_rows is None:
        close_rows = market.close.to_numpy(np.float64)[rows]
    return close_rows, market.dates[rows]


def _attribute_frame(market: Market, column: str, rows: np.ndarray | None = None,
                     close_rows: np.ndarray | None = None) -> pd.DataFrame | None:
    """A static attribute broadcast over dates (NaN where not listed), or None if unknown;
    ``rows``: on those date positions only (``close_rows``: see :func:`_on_rows`)."""
    att = market.attributes
    if column not in att.columns:
        return None
    col = att[column]
    if col.dtype == object:
        col = col.map(lambda v: np.nan if v is None else v)
    vals = pd.to_numeric(col, errors="coerce").astype(np.float64).to_numpy()
    if not np.isfinite(vals).any():
        return None
    close, dates = _on_rows(market, rows, close_rows)
    return pd.DataFrame(np.where(np.isfinite(close), vals, np.nan), index=dates,
                        columns=market.tickers)


def point_in_time(market: Market, name: str, rows: np.ndarray | None = None,
                  close_rows: np.ndarray | None = None) -> tuple[pd.DataFrame | None, str]:
    """Short interest or days to cover known on each date, and where it came from.

    Returns the point-in-time history when the market has one (``"point_in_time"``), else the
    static attribute broadcast over dates (``"static"``), else ``(None, "missing")``.
    Non-listed cells are NaN. ``rows``: the values on those date positions only (the source is
    decided on every date); ``close_rows``: the closes there when the caller has them.
    """
    if name not in ("short_interest", "days_to_cover"):
        raise SqueezeLabError(f"unknown point-in-time field {name!r}: use short_interest or days_to_cover")
    hist = getattr(market, name)
    if hist is not None:
        values = hist.to_numpy(np.float64)
        at_rows = values if rows is None else values[rows]
        # any value on the scored rows settles it; otherwise look at every date
        if np.isfinite(at_rows).any() or (rows is not None and np.isfinite(values).any()):
            close, dates = _on_rows(market, rows, close_rows)
            return pd.DataFrame(np.where(np.isfinite(close), at_rows, np.nan), index=dates,
                                columns=market.tickers), "point_in_time"
    static = _attribute_frame(market, name, rows, close_rows)
    if static is not None:
        return static, "static"
    return None, "missing"


def crowding(market: Market) -> tuple[pd.DataFrame | None, str | None, str]:
    """The crowding measure of each name on each date, which measure, and its source.

    Short interest as a fraction of float when known, else days to cover (FINRA's files give no
    float), point-in-time when the market has the history (``"point_in_time"``), else the static
    attribute (``"static"``); ``(None, None, "missing")`` without either.
    """
    for name in MEASURES:
        frame, src = point_in_time(market, name)
        if frame is not None:
            return frame, name, src
    return None, None, "missing"


def crowding_coverage(market: Market) -> Coverage:
    """How many names have crowding data on the market's dates (``short interest for 6 of 252``)."""
    frame, measure, src = crowding(market)
    return coverage(frame, measure, src == "point_in_time", market.n_names)


def market_cap(market: Market) -> pd.DataFrame | None:
    """Shares outstanding x close (NaN where not listed), or None without a ``shares`` attribute."""
    shares = _attribute_frame(market, "shares")
    return None if shares is None else shares * market.close


def index_returns(market: Market) -> pd.Series:
    """The broad index's daily returns: ``reference["index"]`` if given, else built from prices.

    Without a reference series the index is built by the feeds' builder
    (:func:`feeds.reference.index_from_constituents`): cap-weighted with weights at the previous
    close when every name's ``shares`` are known, equal-weighted over listed names (reset daily)
    otherwise (both use only data up to each date).
    """
    return computed_once(market, ("index_returns",), lambda: _index_returns(market))


def _index_returns(market: Market) -> pd.Series:
    ref = market.reference
    if not ref.empty and "index" in ref.columns and np.isfinite(ref["index"].to_numpy(np.float64)).any():
        return ref["index"].astype(np.float64).fillna(0.0).rename("index")
    out, _label = index_from_constituents(market.close, market.attributes, rebalance="daily")
    return out.fillna(0.0).rename("index")


# --------------------------------------------------------------------------- basic signals
def _check_momentum(lookback: int, skip: int) -> tuple[int, int]:
    """Momentum windows checked: whole numbers, ``0 <= skip < lookback``."""
    lookback = _check_window("lookback", lookback)
    skip = _check_window("skip", skip, 0)
    if skip >= lookback:
        raise SqueezeLabError(f"momentum skip={skip} must be smaller than lookback={lookback}: "
                              "e.g. lookback=252, skip=21")
    return lookback, skip


def momentum_12_1(close: pd.DataFrame | pd.Series, lookback: int = 252, skip: int = 21
                  ) -> pd.DataFrame | pd.Series:
    """12-1 momentum: the return from ``lookback`` to ``skip`` sessions ago.

    Parameters
    ----------
    close : pd.DataFrame or pd.Series
        Closing prices (dates x tickers), NaN where not listed.
    lookback : int
        Sessions back to the start of the window (252 ~ 12 months).
    skip : int
        Most recent sessions left out (21 ~ 1 month, the short-term reversal).

    Returns
    -------
    Same kind as ``close``
        ``close[t - skip] / close[t - lookback] - 1``; NaN without enough history or when the
        name is not listed on ``t``.
    """
    lookback, skip = _check_momentum(lookback, skip)
    mom = close.shift(skip) / close.shift(lookback) - 1.0
    return mom.where(close.notna())


def realized_vol(returns: pd.DataFrame | pd.Series, window: int, annualize: bool = True,
                 min_periods: int | None = None) -> pd.DataFrame | pd.Series:
    """Rolling standard deviation of daily returns (sample std, ddof=1).

    Parameters
    ----------
    returns : pd.DataFrame or pd.Series
        Daily simple returns, NaN where not listed.
    window : int
        Sessions in the rolling window (>= 2).
    annualize : bool
        Multiply by sqrt(252).
    min_periods : int, optional
        Observations needed for a value (default: the whole window).

    Returns
    -------
    Same kind as ``returns``
    """
    window, mp = _check_windows(window, min_periods)
    vol = returns.rolling(window, min_periods=mp).std()
    return vol * np.sqrt(TRADING_DAYS) if annualize else vol


def rolling_beta(returns: pd.DataFrame | pd.Series, index_returns: pd.Series, window: int,
                 min_periods: int | None = None) -> pd.DataFrame | pd.Series:
    """Rolling OLS beta of each name's returns on the index: cov(r, m) / var(m).

    Vectorized with rolling sums over pairwise-complete observations (no per-name loop).

    Parameters
    ----------
    returns : pd.DataFrame or pd.Series
        Daily returns, NaN where not listed.
    index_returns : pd.Series
        Daily index returns on the same dates.
    window : int
        Sessions in the rolling window (>= 2).
    min_periods : int, optional
        Paired observations needed (default: the whole window).

    Returns
    -------
    Same kind as ``returns``
        NaN where there are too few observations or the index did not move.
    """
    window, mp = _check_windows(window, min_periods)
    is_series = isinstance(returns, pd.Series)
    x = returns.to_frame() if is_series else returns
    m = index_returns.reindex(x.index).astype(np.float64)
    xv = x.to_numpy(np.float64)
    mv = np.broadcast_to(m.to_numpy()[:, None], xv.shape)
    ok = np.isfinite(xv) & np.isfinite(mv)
    frames = {
        "n": ok.astype(np.float64),
        "x": np.where(ok, xv, 0.0),
        "y": np.where(ok, mv, 0.0),
        "xy": np.where(ok, xv * mv, 0.0),
        "yy": np.where(ok, mv * mv, 0.0),
    }
    s = {k: pd.DataFrame(v, index=x.index, columns=x.columns).rolling(window, min_periods=1).sum()
         .to_numpy() for k, v in frames.items()}
    n = s["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = s["xy"] - s["x"] * s["y"] / n
        var = s["yy"] - s["y"] * s["y"] / n
        beta = cov / var
    scale = np.maximum(s["yy"], 1e-300)
    good = (n >= mp) & (var > 1e-12 * scale) & ok
    out = pd.DataFrame(np.where(good, beta, np.nan), index=x.index, columns=x.columns)
    return out.iloc[:, 0].rename(returns.name) if is_series else out


def drawdown_from_peak(close: pd.DataFrame, window: int = 252) -> pd.DataFrame:
    """``close / rolling max(close over window) - 1`` (<= 0; NaN where not listed)."""
    window = _check_window("window", window)
    peak = close.rolling(window, min_periods=1).max()
    return (close / peak - 1.0).where(close.notna())


# --------------------------------------------------------------------------- on given rows
def window_sums(values: np.ndarray, window: int, rows: np.ndarray) -> np.ndarray:
    """Sums of ``values[r - window + 1 : r + 1]`` along axis 0 (clipped at row 0), one per row.

    One pass over the data: the sums of the segments between the windows' edges
    (``np.add.reduceat``), then each window as the sum of its few segments; no running total,
    so no error grows with the length of the history. ``values`` must be finite.
    """
    return _window_reduce(np.add, values, window, rows)


def window_max(values: np.ndarray, window: int, rows: np.ndarray) -> np.ndarray:
    """NaN-skipping maxima of ``values[r - window + 1 : r + 1]`` (clipped at row 0), one per row
    (NaN where the whole window is NaN), as ``rolling(window, min_periods=1).max()``."""
    return _window_reduce(np.fmax, values, window, rows)


def _window_reduce(ufunc: np.ufunc, values: np.ndarray, window: int, rows: np.ndarray
                   ) -> np.ndarray:
    """``ufunc`` reduced over each trailing window ending on ``rows`` (segments shared)."""
    values = np.asarray(values, np.float64)
    rows = np.asarray(rows, np.int64)
    out = np.empty((len(rows),) + values.shape[1:])
    if len(rows) == 0:
        return out
    start = np.maximum(rows - window + 1, 0)
    edges = np.unique(np.concatenate([start, rows + 1]))
    edges = edges[edges < values.shape[0]]
    seg = ufunc.reduceat(values, edges, axis=0)   # seg[k]: edges[k] up to the next edge
    first = np.searchsorted(edges, start)
    last = np.searchsorted(edges, rows + 1)
    for i, (a, b) in enumerate(zip(first, last, strict=True)):
        out[i] = ufunc.reduce(seg[a:b], axis=0)
    return out


def listed_returns_array(close: np.ndarray) -> np.ndarray:
    """:func:`listed_returns` of a close array: ``close[t] / close[t - 1] - 1`` (NaN where either
    is NaN), 0 on the first row where listed."""
    return _returns_from(np.asarray(close, np.float64).T, 0).T


def _returns_from(close_t: np.ndarray, lo: int) -> np.ndarray:
    """:func:`listed_returns_array` of names-major closes (names x dates), from date ``lo`` on:
    the divide and the subtraction done in place (no temporaries of the whole array)."""
    out = np.empty((close_t.shape[0], close_t.shape[1] - lo))
    if out.shape[1] == 0:
        return out
    first = max(lo, 1)
    if lo == 0:
        out[:, 0] = np.where(np.isfinite(close_t[:, 0]), 0.0, np.nan)
    ret = out[:, first - lo:]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(close_t[:, first:], close_t[:, first - 1:-1], out=ret)
    np.subtract(ret, 1.0, out=ret)
    return out


#: Names per block of :func:`window_comoments`: a block's dates x names scratch stays in cache.
COMOMENT_BLOCK = 64


def name_blocks(n_names: int, width: int = COMOMENT_BLOCK) -> np.ndarray:
    """Bounds of near-equal blocks of about ``width`` names, each 2 names wide or more.

    Never a lone column out of several: numpy sums a one-column (rows, segments, 1) array over its
    segments in another order than the same column inside a wider block, so the bits would change.
    """
    n_blocks = max(1, min(-(-n_names // max(int(width), 1)), n_names // 2))
    return np.linspace(0, n_names, n_blocks + 1).round().astype(np.int64)


@dataclass(frozen=True)
class _Windows:
    """Trailing windows ending on some rows, cut into the segments between their edges: the
    first date used (``lo``), segment starts from it (``cut``), their lengths (``counts``), and
    each window's segments (``k``, rows x most segments, padded with the empty ``len(cut)``)."""

    lo: int
    cut: np.ndarray
    counts: np.ndarray
    k: np.ndarray


def _windows(n_dates: int, window: int, rows: np.ndarray) -> _Windows:
    """The :class:`_Windows` of ``window`` dates ending on ``rows`` (clipped at row 0)."""
    start = np.maximum(rows - window + 1, 0)
    edges = np.unique(np.concatenate([start, rows + 1]))
    edges = edges[edges < n_dates]
    lo = int(edges[0]) if len(edges) else 0
    cut = edges - lo
    first, last = np.searchsorted(edges, start), np.searchsorted(edges, rows + 1)
    k = first[:, None] + np.arange(int((last - first).max()))[None, :]
    return _Windows(lo, cut, np.diff(np.append(cut, n_dates - lo)),
                    np.where(k < last[:, None], k, len(cut)))


def _segment_moments(w: _Windows, x: np.ndarray, y: np.ndarray, ok: np.ndarray | None,
                     same: bool) -> tuple[np.ndarray, ...]:
    """Count, sums, means and co-moment (two-pass) of each segment of ``w``, for names-major
    ``x`` and ``y`` (names x dates from ``w.lo``; ``y`` may be one row shared by every name).

    Returns ``(n_k, sx_k, sy_k, mx_k, my_k, c_k)``, each segments x names (one column when
    shared by every name).
    """
    if ok is None:
        n_k = w.counts.astype(np.float64)[None, :]
        sx_k = np.add.reduceat(x, w.cut, axis=1)
        sy_k = sx_k if same else np.add.reduceat(y, w.cut, axis=1)
    else:
        n_k = np.add.reduceat(ok.astype(np.float64), w.cut, axis=1)
        sx_k = np.add.reduceat(np.where(ok, x, 0.0), w.cut, axis=1)
        sy_k = sx_k if same else np.add.reduceat(np.where(ok, y, 0.0), w.cut, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx_k = np.where(n_k > 0, sx_k / n_k, 0.0)
        my_k = mx_k if same else np.where(n_k > 0, sy_k / n_k, 0.0)
        dev = np.repeat(mx_k, w.counts, axis=1)   # the block's one names x dates scratch
        np.subtract(x, dev, out=dev)
        if same:
            np.multiply(dev, dev, out=dev)
        else:
            dev *= y - np.repeat(my_k, w.counts, axis=1)
        if ok is not None:
            dev[~ok] = 0.0
        c_k = np.add.reduceat(dev, w.cut, axis=1)
    return n_k.T, sx_k.T, sy_k.T, mx_k.T, my_k.T, c_k.T


def _merge_segments(w: _Windows, n_k: np.ndarray, sx_k: np.ndarray, sy_k: np.ndarray,
                    mx_k: np.ndarray, my_k: np.ndarray, c_k: np.ndarray, same: bool
                    ) -> tuple[np.ndarray, ...]:
    """Each window's ``(n, mean_x, mean_y, comoment)`` from its segments' (segments x names),
    by Chan, Golub and LeVeque's pairwise update: no sum of squares is differenced."""
    def pad(a: np.ndarray) -> np.ndarray:   # the empty segment len(cut): all zeros
        return np.concatenate([a, np.zeros((1,) + a.shape[1:])])

    n_w = pad(n_k)[w.k]
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n_w.sum(axis=1)
        part = pad(sx_k)[w.k]   # rows x segments x names; the buffer is reused below
        mx = part.sum(axis=1) / n
        my = mx if same else pad(sy_k)[w.k].sum(axis=1) / n
        c = np.take(pad(c_k), w.k, axis=0, out=part, mode="clip").sum(axis=1)
        dmx = pad(mx_k)[w.k]
        dmx -= mx[:, None]
        if same:   # n_w * dmx * dmx
            spread = np.multiply(dmx, n_w, out=part)
            spread *= dmx
        else:      # n_w * dmx * dmy
            spread = np.multiply(dmx, n_w, out=dmx)
            spread *= pad(my_k)[w.k] - my[:, None]
        c += spread.sum(axis=1)
    return n, mx, my, c


def window_comoments(x: np.ndarray, y: np.ndarray, ok: np.ndarray | None, window: int,
                     rows: np.ndarray, block: int = COMOMENT_BLOCK) -> tuple[np.ndarray, ...]:
    """Count, means and co-moment ``sum((x - mean_x) * (y - mean_y))`` of the pairs where ``ok``
    (None: everywhere) in each trailing window ending on ``rows`` (clipped at row 0).

    One pass over the data per moment: each segment between the windows' edges gets its own
    count, means and co-moment (two-pass inside the segment), and a window combines its segments
    as Chan, Golub and LeVeque's pairwise update does, so no sum of squares is differenced (no
    cancellation when the mean dwarfs the spread). ``y`` may be one column, broadcast over ``x``'s.
    The work goes ``block`` names at a time (:func:`name_blocks`), so the scratch stays in cache;
    the bits do not depend on ``block``.
    Returns ``(n, mean_x, mean_y, comoment)``, each rows x names (NaN where ``n`` is 0; one
    column where it is the same for every name).
    """
    same = y is x   # a variance: one set of deviations
    x = np.asarray(x, np.float64)
    y = x if same else np.asarray(y, np.float64)
    w = _windows(len(x), window, np.asarray(rows, np.int64))
    xt, yt = x[w.lo:].T, y[w.lo:].T   # names x dates: a name's dates contiguous (F-order input)
    okt = None if ok is None else ok[w.lo:].T
    shared_y = len(yt) == 1
    parts = []
    bounds = name_blocks(x.shape[1], block)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        xb = xt[a:b]
        yb = xb if same else (yt if shared_y else yt[a:b])
        moments = _segment_moments(w, xb, yb, None if okt is None else okt[a:b], same)
        parts.append(_merge_segments(w, *moments, same))
    return _join(parts)


def _join(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The blocks' results side by side (a one-column result is the same for every block)."""
    if len(parts) == 1:
        return parts[0]
    return tuple(p[0] if p[0].shape[1] == 1 else np.concatenate(p, axis=1)
                 for p in zip(*parts, strict=True))


def rolling_beta_rows(returns: np.ndarray, index: np.ndarray, window: int, rows: np.ndarray,
                      min_periods: int | None = None) -> np.ndarray:
    """:func:`rolling_beta` on ``rows`` only, from arrays (dates x names, index per date).

    The same pairwise-complete windows, with the co-moments of :func:`window_comoments`
    (O(dates x names) however many rows, no cancellation); equal to the rolling version to
    rounding.
    """
    window, mp = _check_windows(window, min_periods)
    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return _no_rows(returns)
    x = np.asarray(returns, np.float64)
    m = np.asarray(index, np.float64).reshape(-1, 1)
    ok = np.isfinite(x) & np.isfinite(m)
    all_ok = bool(ok.all())
    xy = window_comoments(x, m, None if all_ok else ok, window, rows)
    mm = m if all_ok else np.broadcast_to(m, x.shape)
    yy = window_comoments(mm, mm, None if all_ok else ok, window, rows)
    return _beta(xy, yy, mp, ok[rows])


def _beta(xy: tuple[np.ndarray, ...], yy: tuple[np.ndarray, ...], mp: int, ok_rows: np.ndarray
          ) -> np.ndarray:
    """Beta from the windows' co-moments with the index (``xy``) and the index's own (``yy``):
    NaN with fewer than ``mp`` pairs, where the index did not move, or where ``ok_rows`` is False."""
    n, _, _, cxy = xy
    _, my, _, cyy = yy
    n = np.broadcast_to(n, cxy.shape)
    cyy = np.broadcast_to(cyy, cxy.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = cxy / cyy
        syy = cyy + n * np.broadcast_to(my, cxy.shape) ** 2   # the window's sum of squares
    good = (n >= mp) & (cyy > 1e-12 * np.maximum(syy, 1e-300)) & ok_rows
    return np.where(good, beta, np.nan)


def realized_vol_rows(returns: np.ndarray, window: int, rows: np.ndarray, annualize: bool = True,
                      min_periods: int | None = None) -> np.ndarray:
    """:func:`realized_vol` on ``rows`` only, from an array: the sample std of each window's
    finite returns from :func:`window_comoments`; equal to the rolling version to rounding."""
    window, mp = _check_windows(window, min_periods)
    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return _no_rows(returns)
    x = np.asarray(returns, np.float64)
    ok = np.isfinite(x)
    return _vol(window_comoments(x, x, None if ok.all() else ok, window, rows), mp, annualize)


def _vol(xx: tuple[np.ndarray, ...], mp: int, annualize: bool) -> np.ndarray:
    """The sample std from the windows' moments ``xx`` (NaN with fewer than ``mp`` returns)."""
    n, _, _, sxx = xx
    n = np.broadcast_to(n, sxx.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        vol = np.where(n >= mp, np.sqrt(np.maximum(sxx, 0.0) / (n - 1)), np.nan)
    return vol * np.sqrt(TRADING_DAYS) if annualize else vol


def close_moments_rows(close: np.ndarray, index: np.ndarray, rows: np.ndarray,
                       beta_windows: Sequence[int] = (), vol_windows: Sequence[int] = (),
                       block: int = COMOMENT_BLOCK, offsets: Sequence[int] = ()
                       ) -> dict[tuple[str, int], np.ndarray]:
    """Betas and annualized volatilities of a close array's listed returns on ``rows``, for each
    window, and the closes ``offsets`` dates from each row, in one pass over blocks of names:
    ``{("beta", w): rolling_beta_rows(...), ("vol", w): realized_vol_rows(...)}`` of
    :func:`listed_returns_array` bit for bit, and ``{("close", k): close[rows + k]}`` (NaN off
    the dates).

    Each block's returns are computed in cache and feed every window, so no dates x names
    returns (or finiteness) array is built, and the closes are taken from the block while it is
    in cache (a date's closes are scattered over a dates-major array). Whether every return is
    finite decides the path, as in those functions: the pass assumes so and starts again with
    masks if a block says no.
    """
    keys = [("beta", _check_windows(w, None)[0]) for w in beta_windows]
    keys += [("vol", _check_windows(w, None)[0]) for w in vol_windows]
    keys += [("close", int(k)) for k in offsets]
    rows = np.asarray(rows, np.int64)
    close = np.asarray(close, np.float64)
    if len(rows) == 0:
        return {key: _no_rows(close) for key in keys}
    plans = {key: _windows(len(close), key[1], rows) for key in keys if key[0] != "close"}
    m = np.asarray(index, np.float64).reshape(-1, 1)
    offsets = [k for kind, k in keys if kind == "close"]
    got = _close_moment_blocks(close, m, rows, plans, offsets, False, block)
    if got is None:   # some return is not finite: pairwise-complete windows
        got = _close_moment_blocks(close, m, rows, plans, offsets, True, block)
    return {(kind, w): got[kind, w] if kind == "close" else
            _vol(got[kind, w], w, annualize=True) if kind == "vol" else
            _beta(got[kind, w], got["index", w], w, got["ok_rows"]) for kind, w in keys}


def _close_moment_blocks(close: np.ndarray, m: np.ndarray, rows: np.ndarray,
                         plans: dict[tuple[str, int], _Windows], offsets: Sequence[int],
                         masked: bool, block: int) -> dict[Any, Any] | None:
    """The windows' moments and the closes for :func:`close_moments_rows`, block by block of
    names; None when not ``masked`` and a return is not finite. Keys: the plans',
    ``("index", w)`` (the index's own moments for beta window ``w``), ``"ok_rows"`` (the finite
    pairs on ``rows``) and ``("close", k)``."""
    n_dates, n_names = close.shape
    lo = min((w.lo for w in plans.values()), default=0)
    m_t = m[lo:].T
    m_ok = np.isfinite(m_t)
    beta_masked = masked or not m_ok.all()   # as rolling_beta_rows decides
    parts: dict[Any, list[tuple[np.ndarray, ...]]] = {}
    out: dict[Any, Any] = {("close", k): np.empty((len(rows), n_names)) for k in offsets}
    ok_rows = []
    bounds = name_blocks(n_names, block)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        block_t = close[:, a:b].T   # names x dates
        x = _returns_from(block_t, lo) if plans else None
        for k in offsets:   # the block is in cache now
            out["close", k][:, a:b] = block_t[:, np.clip(rows + k, 0, n_dates - 1)].T
        if x is None:
            continue
        ok_x = np.isfinite(x) if masked else None
        if ok_x is None and not np.isfinite(x).all():
            return None
        ok = ((ok_x if masked else np.isfinite(x)) & m_ok) if beta_masked else None
        ok_rows.append(np.isfinite(x[:, rows - lo]).T & m_ok[:, rows - lo].T)
        for (kind, window), w in plans.items():
            cut = w.lo - lo
            xs, ms = x[:, cut:], m_t[:, cut:]
            if kind == "vol":
                moments = _segment_moments(w, xs, xs, ok_x[:, cut:] if masked else None, True)
                parts.setdefault((kind, window), []).append(_merge_segments(w, *moments, True))
                continue
            oks = None if ok is None else ok[:, cut:]
            moments = _segment_moments(w, xs, ms, oks, False)
            parts.setdefault((kind, window), []).append(_merge_segments(w, *moments, False))
            if beta_masked:
                mm = np.broadcast_to(ms, xs.shape)
                moments = _segment_moments(w, mm, mm, oks, True)
                parts.setdefault(("index", window), []).append(_merge_segments(w, *moments, True))
    for k in offsets:
        off = (rows + k < 0) | (rows + k >= n_dates)
        if off.any():
            out["close", k][off] = np.nan
    out.update({key: _join(p) for key, p in parts.items()})
    for kind, window in plans:
        if kind == "beta" and not beta_masked:
            out["index", window] = window_comoments(m, m, None, window, rows)
    if ok_rows:
        out["ok_rows"] = np.concatenate(ok_rows, axis=1)
    return out


def momentum_rows(close: np.ndarray, lookback: int, skip: int, rows: np.ndarray,
                  close_rows: np.ndarray | None = None) -> np.ndarray:
    """:func:`momentum_12_1` on ``rows`` only: ``close[r - skip] / close[r - lookback] - 1`` (NaN
    without the history or where the name is not listed on ``r``); the same operations.
    ``close_rows``: ``close[rows]`` when the caller has it."""
    c = np.asarray(close, np.float64)
    rows = np.asarray(rows, np.int64)
    back = np.where((rows >= lookback)[:, None], c[np.maximum(rows - lookback, 0)], np.nan)
    near = np.where((rows >= skip)[:, None], c[np.maximum(rows - skip, 0)], np.nan)
    return _momentum(c[rows] if close_rows is None else close_rows, near, back)


def _momentum(now: np.ndarray, near: np.ndarray, back: np.ndarray) -> np.ndarray:
    """``near / back - 1`` where the name is listed ``now`` (NaN elsewhere)."""
    return np.where(np.isfinite(now), near / back - 1.0, np.nan)


def drawdown_rows(close: np.ndarray, window: int, rows: np.ndarray,
                  close_rows: np.ndarray | None = None) -> np.ndarray:
    """:func:`drawdown_from_peak` on ``rows`` only (the peak by :func:`window_max`, exact);
    ``close_rows``: ``close[rows]`` when the caller has it."""
    c = np.asarray(close, np.float64)
    rows = np.asarray(rows, np.int64)
    now = c[rows] if close_rows is None else close_rows
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = now / window_max(c, window, rows) - 1.0
    return np.where(np.isfinite(now), dd, np.nan)


def date_positions(n_dates: int, rows: Any) -> np.ndarray:
    """``rows`` (as ``iloc`` takes them: positions, negative ones, a boolean mask) as increasing
    non-negative positions, the order the ``*_rows`` functions need; anything else is one line."""
    try:
        pos = np.arange(n_dates)[np.asarray(rows) if np.ndim(rows) else [rows]]
    except (IndexError, TypeError, ValueError) as err:
        raise SqueezeLabError(f"rows={rows!r} are not date positions of the {n_dates} dates "
                              f"({err}): pass positions 0..{n_dates - 1} or a boolean mask") from None
    if pos.ndim != 1 or (len(pos) > 1 and not (np.diff(pos) > 0).all()):
        raise SqueezeLabError(f"rows must be distinct date positions in date order (got "
                              f"{np.asarray(rows).tolist()[:5]}...): sort them first")
    return pos


class SignalRows:
    """A market's price-based signals on some date rows (all rows when ``rows`` is None), each
    computed once on first use and shared by every score of one call.

    On given rows it uses the ``*_rows`` functions above (float64 arrays, work on those rows
    only); on all rows the shared full frames (:func:`market_beta`, :func:`market_vol`, ...).
    ``rows`` are date positions as ``iloc`` takes them (negative ones, a boolean mask), in date
    order. The signal methods return DataFrames on :attr:`dates` x the market's tickers;
    ``close``, ``close_rows``, ``close_at``, ``returns`` and ``at`` return arrays,
    ``point_in_time`` a (frame, source) pair. :meth:`moments` computes the betas, volatilities
    and closes a caller will ask for together, in one pass over the closes.
    """

    def __init__(self, market: Market, rows: np.ndarray | None = None) -> None:
        self.market = market
        self.rows = None if rows is None else date_positions(len(market.dates), rows)
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], compute: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The dates scored."""
        d = self.market.dates
        return d if self.rows is None else self._once(("dates",), lambda: d[self.rows])

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """Rows x tickers values as a frame on :attr:`dates`."""
        return pd.DataFrame(values, index=self.dates, columns=self.market.tickers)

    def close(self) -> np.ndarray:
        """The market's closes (float64, all rows)."""
        return self._once(("close",), lambda: self.market.close.to_numpy(np.float64))

    def close_rows(self) -> np.ndarray:
        """The closes on the scored rows, gathered once for every signal that needs them."""
        return self.close() if self.rows is None else self.close_at(0)

    def listed(self) -> pd.DataFrame:
        """True where the name is listed on the scored dates."""
        return self._once(("listed",), lambda: self.frame(np.isfinite(self.close_rows())))

    def at(self, values: np.ndarray) -> np.ndarray:
        """An all-rows array on the scored rows."""
        return values if self.rows is None else values[self.rows]

    def returns(self) -> np.ndarray:
        """:func:`listed_returns` as an array (all rows)."""
        return self._once(("returns",), lambda: listed_returns_array(self.close()))

    def moments(self, beta_windows: Sequence[int] = (), vol_windows: Sequence[int] = (),
                offsets: Sequence[int] = ()) -> None:
        """Compute these betas, volatilities and closes ``offsets`` dates from the scored rows
        together, in one pass over the closes (:func:`close_moments_rows`), for :meth:`beta`,
        :meth:`vol` and :meth:`close_at` to hand out."""
        if self.rows is None:
            return
        todo = [("beta", w) for w in beta_windows] + [("vol", w) for w in vol_windows]
        todo = [key for key in dict.fromkeys(todo + [("close", k) for k in offsets])
                if key not in self._memo]
        if todo:
            got = close_moments_rows(
                self.close(), index_returns(self.market).to_numpy(np.float64), self.rows,
                *([w for kind, w in todo if kind == want] for want in ("beta", "vol")),
                offsets=[k for kind, k in todo if kind == "close"])
            self._memo.update({key: values if key[0] == "close" else self.frame(values)
                               for key, values in got.items()})

    def close_at(self, offset: int) -> np.ndarray:
        """The closes ``offset`` dates from each scored row (NaN off the dates), all rows' when
        none are given."""
        if self.rows is None:
            return self.market.close.shift(-offset).to_numpy(np.float64)
        self.moments(offsets=(offset,))
        return self._memo[("close", int(offset))]

    def beta(self, window: int) -> pd.DataFrame:
        """:func:`market_beta` on the scored rows."""
        if self.rows is None:
            return market_beta(self.market, window)
        self.moments(beta_windows=(window,))
        return self._memo[("beta", _check_windows(window, None)[0])]

    def vol(self, window: int) -> pd.DataFrame:
        """:func:`market_vol` on the scored rows."""
        if self.rows is None:
            return market_vol(self.market, window)
        self.moments(vol_windows=(window,))
        return self._memo[("vol", _check_windows(window, None)[0])]

    def momentum(self, lookback: int, skip: int) -> pd.DataFrame:
        """:func:`momentum_12_1` of the closes on the scored rows."""
        if self.rows is None:
            return momentum_12_1(self.market.close, lookback, skip)
        lookback, skip = _check_momentum(lookback, skip)
        return self._once(("momentum", lookback, skip), lambda: self.frame(_momentum(
            self.close_rows(), self.close_at(-skip), self.close_at(-lookback))))

    def recent_return(self, lookback: int) -> pd.DataFrame:
        """``close[t] / close[t - lookback] - 1`` on the scored rows (NaN without the history)."""
        if self.rows is None:
            return self.market.close / self.market.close.shift(lookback) - 1.0
        return self.frame(self.close_rows() / self.close_at(-lookback) - 1.0)

    def drawdown(self, window: int) -> pd.DataFrame:
        """:func:`drawdown_from_peak` of the closes on the scored rows."""
        if self.rows is None:
            return drawdown_from_peak(self.market.close, window)
        window = _check_window("window", window)
        return self.frame(drawdown_rows(self.close(), window, self.rows, self.close_rows()))

    def low_price(self, level: float) -> pd.DataFrame:
        """1.0 where the close is below ``level``, 0.0 above, NaN where not listed."""
        c = self.close_rows()
        return self.frame(np.where(np.isfinite(c), (c < level).astype(np.float64), np.nan))

    def attribute(self, column: str) -> pd.DataFrame | None:
        """:func:`_attribute_frame` on the scored rows (computed once)."""
        return self._once(("attribute", column), lambda: _attribute_frame(
            self.market, column, self.rows, None if self.rows is None else self.close_rows()))

    def point_in_time(self, name: str) -> tuple[pd.DataFrame | None, str]:
        """:func:`point_in_time` on the scored rows."""
        return point_in_time(self.market, name, self.rows,
                             None if self.rows is None else self.close_rows())


# --------------------------------------------------------------------------- composites
def _composite(components: dict[str, pd.DataFrame], listed: pd.DataFrame, clip: float | None,
               what: str) -> pd.DataFrame:
    """Average of the components' cross-sectional z-scores.

    NaN unless every required component is finite; the :data:`OPTIONAL_COMPONENTS` a name lacks
    are left out of its average (it keeps its other components) as long as one component is known.
    The components and ``listed`` are on the same dates and tickers (e.g. only the book's
    rebalance dates: each row is cross-sectional, so it is the full frame's row).
    """
    if not components:
        raise SqueezeLabError(f"{what}: no component can be computed from this market: "
                              "provide prices with enough history or the attributes it needs")
    live = listed.to_numpy(bool)
    everywhere = bool(live.all())
    total = np.zeros(live.shape)   # summed component by component, as a stack's sum would be
    n = np.zeros(live.shape, np.int64)
    complete = np.ones(live.shape, bool)
    required = [name not in OPTIONAL_COMPONENTS for name in components]
    for need, c in zip(required, components.values(), strict=True):
        values = c.to_numpy(np.float64)
        z = zscore_rows(values if everywhere else np.where(live, values, np.nan), clip)
        ok = np.isfinite(z)
        n += ok
        np.copyto(z, 0.0, where=~ok)
        total += z
        if need:
            complete &= ok
    if not any(required):
        complete = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    score = np.where(complete & (n > 0), mean, np.nan)
    out = pd.DataFrame(score, index=listed.index, columns=listed.columns)
    out.attrs["components"] = tuple(components)
    return out


def _pick(available: dict[str, Any], wanted: Sequence[str] | None, default: Sequence[str],
          universe: Sequence[str], what: str) -> list[str]:
    if wanted is None:
        return [c for c in default if c in available]
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    for c in wanted:
        if c not in universe:
            raise SqueezeLabError(f"{what}: unknown component {c!r}: use some of {', '.join(universe)}")
        if c not in available:
            raise SqueezeLabError(f"{what}: component {c!r} needs data this market lacks: "
                                  f"use some of {', '.join(available) or 'none'}")
    return wanted


def quality_score(market: Market | SignalRows, beta_window: int = 126, vol_window: int = 63,
                  components: Sequence[str] | None = None, clip: float | None = 3.0,
                  rows: np.ndarray | None = None) -> pd.DataFrame:
    """Quality: profitable, low beta, low volatility; mean of cross-sectional z-scores per date.

    Parameters
    ----------
    market : Market
    beta_window, vol_window : int
        Rolling windows (sessions) for beta to the index and realized volatility.
    components : sequence of str, optional
        Subset of :data:`QUALITY_COMPONENTS` (default: all the market supports).
    clip : float, optional
        Clip each component's |z| at this value.
    rows : array of int, optional
        Score only these date positions, as ``iloc`` takes them (the full frame's rows, to rounding).

    Returns
    -------
    pd.DataFrame
        Dates x tickers, higher = better quality; ``attrs["components"]`` lists what was used.
    """
    at = market if isinstance(market, SignalRows) else SignalRows(market, rows)
    return _quality(at, beta_window, vol_window, components, clip)


def _quality(at: SignalRows, beta_window: int, vol_window: int,
             components: Sequence[str] | None, clip: float | None) -> pd.DataFrame:
    """:func:`quality_score` on the rows of ``at``."""
    avail: dict[str, Any] = {}
    prof = at.attribute("profitable")
    if prof is not None:
        avail["profitable"] = lambda: prof
    avail["low_beta"] = lambda: -at.beta(beta_window)
    avail["low_volatility"] = lambda: -at.vol(vol_window)
    use = _pick(avail, components, QUALITY_COMPONENTS, QUALITY_COMPONENTS, "quality_score")
    return _composite({c: avail[c]() for c in use}, at.listed(), clip, "quality_score")


def junk_components(market: Market | SignalRows, momentum_lookback: int = 252,
                    momentum_skip: int = 21, beta_window: int = 126, vol_window: int = 63,
                    drawdown_window: int = 252, low_price: float = 5.0,
                    components: Sequence[str] | None = None
                    ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The raw junk components (higher = junkier) and a report of what was used.

    Components: ``unprofitable`` (1 - profitable), ``short_interest`` (% of float),
    ``days_to_cover``, ``beta`` (rolling, to the index), ``low_price`` (1 if close < low_price),
    ``momentum`` (minus 12-1 momentum), ``volatility`` (realized), ``drawdown`` (depth below the
    rolling peak). By default the attribute components the market has, the price components, and
    — when any attribute component is missing — the price proxies volatility and drawdown.

    Returns
    -------
    (dict, dict)
        name -> frame (dates x tickers), and a report ``{"components", "fallback", "sources"}``
        where ``sources`` says whether short interest / days to cover were point-in-time or static.
        A :class:`SignalRows` instead of the market: the components on its rows.
    """
    at = market if isinstance(market, SignalRows) else SignalRows(market)
    avail: dict[str, Any] = {}
    sources: dict[str, str] = {}
    prof = at.attribute("profitable")
    if prof is not None:
        avail["unprofitable"] = lambda: 1.0 - prof
    for name in ("short_interest", "days_to_cover"):
        frame, src = at.point_in_time(name)
        sources[name] = src
        if frame is not None:
            avail[name] = (lambda f=frame: f)
    avail["beta"] = lambda: at.beta(beta_window)
    avail["low_price"] = lambda: at.low_price(low_price)
    avail["momentum"] = lambda: -at.momentum(momentum_lookback, momentum_skip)
    avail["volatility"] = lambda: at.vol(vol_window)
    avail["drawdown"] = lambda: -at.drawdown(drawdown_window)
    fallback = any(c not in avail for c in JUNK_ATTRIBUTE_COMPONENTS)
    default = JUNK_ATTRIBUTE_COMPONENTS + JUNK_PRICE_COMPONENTS
    if fallback:
        default = default + JUNK_PROXY_COMPONENTS
    use = _pick(avail, components, default, JUNK_COMPONENTS, "junk_score")
    report = {"components": tuple(use), "fallback": bool(components is None and fallback),
              "sources": sources}
    return {c: avail[c]() for c in use}, report


def junk_score(market: Market | SignalRows, momentum_lookback: int = 252, momentum_skip: int = 21,
               beta_window: int = 126, vol_window: int = 63, drawdown_window: int = 252,
               low_price: float = 5.0, components: Sequence[str] | None = None,
               clip: float | None = 3.0, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Junk: unprofitable, heavily shorted, high beta, low price, poor momentum (higher = junkier).

    Mean of the cross-sectional z-scores of :func:`junk_components`; when attributes are missing
    it falls back to price-based proxies (beta, volatility, low price, drawdown, momentum).
    ``rows`` (date positions), or a :class:`SignalRows` for ``market``, scores those dates only,
    with the full frame's values (to rounding).

    Returns
    -------
    pd.DataFrame
        Dates x tickers; ``attrs["components"]`` (tuple of names used), ``attrs["fallback"]``
        (True when price proxies stood in for missing attributes) and ``attrs["sources"]``.
    """
    at = market if isinstance(market, SignalRows) else SignalRows(market, rows)
    comps, report = junk_components(at, momentum_lookback, momentum_skip, beta_window,
                                    vol_window, drawdown_window, low_price, components)
    out = _composite(comps, at.listed(), clip, "junk_score")
    out.attrs.update(report)
    return out


def squeeze_pressure(market: Market, lookback: int = 10, components: Sequence[str] | None = None,
                     clip: float | None = 3.0, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Single-name squeeze pressure: short interest, days to cover and the recent return.

    Parameters
    ----------
    market : Market
    lookback : int
        Sessions for the recent return ``close[t] / close[t - lookback] - 1``.
    components : sequence of str, optional
        Subset of :data:`SQUEEZE_COMPONENTS` (default: all the market supports).
    rows : array of int, optional
        Score only these date positions, as ``iloc`` takes them (the full frame's rows, to rounding).

    Returns
    -------
    pd.DataFrame
        Dates x tickers, mean of cross-sectional z-scores, higher = more squeezable;
        ``attrs["components"]`` lists what was used.
    """
    lookback = _check_window("lookback", lookback)
    at = SignalRows(market, rows)
    avail: dict[str, Any] = {}
    for name in ("short_interest", "days_to_cover"):
        frame, _ = at.point_in_time(name)
        if frame is not None:
            avail[name] = (lambda f=frame: f)
    avail["recent_return"] = lambda: at.recent_return(lookback)
    use = _pick(avail, components, SQUEEZE_COMPONENTS, SQUEEZE_COMPONENTS, "squeeze_pressure")
    return _composite({c: avail[c]() for c in use}, at.listed(), clip, "squeeze_pressure")


# --------------------------------------------------------------------------- baskets and the rally
def most_shorted_members(market: Market, n: int = 50, min_cap: float = 1e9,
                         proxy_window: int = 63) -> tuple[pd.DataFrame, BasketSource]:
    """Members of the most-shorted basket on each date (known at that date's close), and how.

    Ranked by :func:`crowding` (short interest % of float, else days to cover) with
    :func:`feeds.crowding.most_shorted` (twice-monthly rebalance, cap floor when shares are known);
    without any short-interest data, the ``n`` junkiest names by :func:`junk_score` on price
    proxies (beta, volatility, low price, drawdown over ``proxy_window`` sessions) stand in.

    Returns
    -------
    (pd.DataFrame, BasketSource)
        Boolean members (dates x tickers) and what was built.
    """
    n = _check_window("n", n)
    crowd, measure, src = crowding(market)
    if crowd is not None:
        members, source = most_shorted_membership(market.close, crowd, measure,
                                                  src == "point_in_time", market_cap(market),
                                                  n=n, min_cap=min_cap)
        return members.astype(bool), source
    js = junk_score(market, beta_window=proxy_window, vol_window=proxy_window,
                    drawdown_window=proxy_window,
                    components=("beta", "volatility", "low_price", "drawdown"))
    members = top_n_members(js, n, market.tradable)
    return members, describe_members(members.to_numpy(), "junk_proxy", n, 0, market.n_names,
                                     None, None, "daily")


def basket_returns(market: Market, members: pd.DataFrame) -> pd.Series:
    """Equal-weight daily returns of a basket whose members are decided at the previous close."""
    r = listed_returns(market)
    held = members.reindex_like(r).fillna(False).astype(bool).shift(1, fill_value=False)
    ok = held & r.notna()
    num = r.where(ok, 0.0).sum(axis=1)
    den = ok.sum(axis=1)
    out = (num / den.where(den > 0, 1)).where(den > 0, 0.0)
    out.iloc[0] = 0.0
    return out.rename("basket")


def _reference_basket(market: Market) -> pd.Series | None:
    """The market's own most_shorted series when it is given as such (not rebuilt by the feed)."""
    ref = market.reference
    if ref.empty or "most_shorted" not in ref.columns or \
            not np.isfinite(ref["most_shorted"].to_numpy(np.float64)).any():
        return None
    info: ShortInterestInfo | None = market.short_info
    if info is not None and info.reference_basket:
        return None  # built by the feed from the user's short interest: rebuild with our settings
    return ref["most_shorted"].astype(np.float64)


def most_shorted_returns(market: Market, n: int = 50, min_cap: float = 1e9
                         ) -> tuple[pd.Series, BasketSource]:
    """Daily returns of the most-shorted basket, and what it is.

    The market's ``reference["most_shorted"]`` when it comes as data (the scenario's, a
    ``reference.csv``); otherwise rebuilt from the short-interest data with ``n`` and ``min_cap``
    (:func:`feeds.crowding.most_shorted`: NaN after a close with no member, so no signal is made
    from an empty basket), or from price proxies without any short-interest data.
    """
    ref = _reference_basket(market)
    if ref is not None:
        return ref.fillna(0.0), BasketSource(
            kind="reference", requested=None, built_median=None, built_max=None,
            sessions_with_basket=None, n_sessions=len(market.dates), covered=None,
            n_names=market.n_names, point_in_time=None, min_cap=None, rebalance=None)
    crowd, measure, src = crowding(market)
    if crowd is not None:
        _, ret, source = _most_shorted(market.close, crowd, measure, src == "point_in_time",
                                       market_cap(market), n=n, min_cap=min_cap)
        return ret, source
    members, source = most_shorted_members(market, n, min_cap)
    from ..feeds.baskets import equal_weight_basket

    b = equal_weight_basket(market.close, members)
    return b.astype(np.float64), source


def _compound(r: pd.Series, lookback: int) -> pd.Series:
    return np.expm1(np.log1p(r).rolling(lookback, min_periods=lookback).sum())


def junk_rally_signal(market: Market, lookback: int = 10, vol_window: int = 63, mode: str = "zscore",
                      basket: pd.Series | None = None, n_names: int = 50, min_cap: float = 1e9
                      ) -> pd.Series:
    """Is junk rallying? The most-shorted basket's move over a short lookback.

    Parameters
    ----------
    market : Market
    lookback : int
        Sessions of the move (10 ~ two weeks).
    vol_window : int
        Sessions of the trailing volatility (zscore mode).
    mode : {"zscore", "return"}
        ``"zscore"``: compounded basket return minus compounded index return over ``lookback``,
        divided by the excess return's volatility, ``std(daily basket - index returns)`` over the
        ``vol_window`` sessions ending ``lookback`` sessions before ``t`` (the move being scored is
        not in its own yardstick) times ``sqrt(lookback)``.
        ``"return"``: the raw compounded basket return over ``lookback``; the practitioners'
        "most-shorted basket up more than 15% in two weeks" is ``mode="return", lookback=10``
        with a threshold of 0.15.
    basket : pd.Series, optional
        Daily basket returns to use instead of the market's (default:
        :func:`most_shorted_returns`).
    n_names, min_cap : int, float
        Basket size and cap floor when the basket has to be rebuilt from short interest.

    Returns
    -------
    pd.Series
        On the market's dates, NaN during warm-up and where there is no basket;
        ``attrs["basket"]`` is the :class:`~feeds.crowding.BasketSource` it was built from.
    """
    lookback = _check_window("lookback", lookback)
    vol_window = _check_window("vol_window", vol_window, 2)
    if mode not in SIGNAL_MODES:
        raise SqueezeLabError(f"junk_rally_signal mode={mode!r} is not valid: use one of "
                              f"{', '.join(SIGNAL_MODES)}")
    if basket is None:
        b, src = most_shorted_returns(market, n_names, min_cap)
    else:
        b = basket.reindex(market.dates).astype(np.float64).fillna(0.0)
        src = BasketSource(kind="given", requested=None, built_median=None, built_max=None,
                           sessions_with_basket=None, n_sessions=len(market.dates), covered=None,
                           n_names=market.n_names, point_in_time=None, min_cap=None,
                           rebalance=None)
    if mode == "return":
        out = _compound(b, lookback)
    else:
        m = index_returns(market)
        excess = _compound(b, lookback) - _compound(m, lookback)
        vol = (b - m).rolling(vol_window, min_periods=vol_window).std().shift(lookback)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = excess / (vol * np.sqrt(lookback))
        out = out.where(vol > 0)
    out = pd.Series(out.to_numpy(np.float64), index=market.dates, name=f"junk_rally_{mode}")
    out.attrs["basket"] = src
    return out


@dataclass(frozen=True)
class CrowdingReport:
    """Short-interest coverage, the file it came from and the signal's basket (typed, for reports)."""

    coverage: Coverage
    basket: BasketSource
    info: ShortInterestInfo | None

    @property
    def notes(self) -> tuple[str, ...]:
        """What a reader must know: true coverage (with its measure) and the basket built."""
        return (self.coverage.text, f"junk-rally signal basket: {self.basket.text}")

    def to_dict(self) -> dict[str, Any]:
        return {"coverage": self.coverage.to_dict(), "signal_basket": self.basket.to_dict(),
                "file": self.info.to_dict() if self.info is not None else None,
                "notes": list(self.notes)}


def crowding_report(market: Market, n_names: int = 50, min_cap: float = 1e9) -> CrowdingReport:
    """:class:`CrowdingReport` of a market with the overlay's basket settings."""
    _, source = most_shorted_returns(market, n_names, min_cap)
    return CrowdingReport(crowding_coverage(market), source, market.short_info)


def short_breadth(close: pd.DataFrame, shorts: pd.DataFrame, lookback: int = 10) -> pd.Series:
    """Share of the current shorts whose price rose over ``lookback`` sessions (NaN if no shorts).

    Parameters
    ----------
    close : pd.DataFrame
        Closing prices.
    shorts : pd.DataFrame of bool
        True where the name is held short on the date (e.g. the book's forward-filled short leg).
    lookback : int
    """
    lookback = _check_window("lookback", lookback)
    ret = close / close.shift(lookback) - 1.0
    held = shorts.reindex_like(close).fillna(False).astype(bool)
    known = held & ret.notna()
    up = (known & (ret > 0)).sum(axis=1)
    n = known.sum(axis=1)
    return (up / n.where(n > 0, 1)).where(n > 0).rename("short_breadth")
