"""Reference series built from constituents, the way practitioners build them.

Pure functions over wide frames (dates x tickers). Conventions shared by every function here:

- A *members* frame is boolean, dates x tickers; row ``t`` is the membership known at the close of
  ``t`` (decided with data up to that close). A basket's return on ``t`` therefore uses the
  members of ``t - 1``: close-to-close, no look-ahead.
- Baskets are rebalanced at the close of the *last session before* each scheduled date of a pandas
  frequency (``"SMS"``: the 1st and the 15th, ``"MS"``: the 1st of each month), and at the first
  session; members are held in between.
- A name that is not listed on a date (NaN close) is never a member on that date; a member that
  delists simply drops out and the others are re-normalized.

Daily returns come back with a first row of 0 (there is no previous close to compare with).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SqueezeLabError

#: Most-shorted basket rule (docs/scenario.md): top 50 by short interest % of float, cap above $1bn,
#: equal weight, rebalanced twice a month.
MOST_SHORTED_RULE = {"n": 50, "min_cap": 1e9, "freq": "SMS"}
#: Unprofitable-tech rule: technology names with negative net income, liquid (market cap above
#: $1bn), top 50 by size (market cap as the revenue proxy), equal weight, rebalanced monthly.
UNPROFITABLE_TECH_RULE = {"n": 50, "min_cap": 1e9, "freq": "MS"}


def _as_float(df: pd.DataFrame, what: str) -> np.ndarray:
    if not isinstance(df, pd.DataFrame):
        raise SqueezeLabError(f"{what} must be a DataFrame of dates x tickers: build it at the feed")
    return df.to_numpy(dtype=np.float64, na_value=np.nan)


def _shares_frame(shares: pd.Series | pd.DataFrame, close: pd.DataFrame) -> np.ndarray:
    """Shares outstanding as an array shaped like ``close`` (a Series is broadcast over dates)."""
    if isinstance(shares, pd.DataFrame):
        if not (shares.index.equals(close.index) and shares.columns.equals(close.columns)):
            raise SqueezeLabError("shares frame is not aligned with close: reindex it to the prices")
        return shares.to_numpy(dtype=np.float64, na_value=np.nan)
    s = pd.Series(shares)
    missing = close.columns.difference(s.index)
    if len(missing):
        raise SqueezeLabError(
            f"no shares outstanding for {', '.join(map(str, missing[:5]))}: give one per ticker"
        )
    return np.broadcast_to(s.reindex(close.columns).to_numpy(np.float64), close.shape)


def market_cap(close: pd.DataFrame, shares: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Market capitalization ``shares * close`` (NaN where the name is not listed).

    Parameters
    ----------
    close : pd.DataFrame
        Closing prices, dates x tickers.
    shares : pd.Series or pd.DataFrame
        Shares outstanding per ticker, or a point-in-time frame aligned with ``close``.

    Returns
    -------
    pd.DataFrame
        Market cap, same shape as ``close``.
    """
    cap = _as_float(close, "close") * _shares_frame(shares, close)
    return pd.DataFrame(cap, index=close.index, columns=close.columns)


def rebalance_dates(index: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """Sessions at whose close a basket is rebalanced under schedule ``freq``.

    The first session, then for each scheduled date of ``freq`` (e.g. ``"SMS"``, ``"MS"``) the last
    session strictly before it, so the new basket is held from the scheduled date on.

    Parameters
    ----------
    index : pd.DatetimeIndex
        The trading sessions.
    freq : str
        A pandas frequency alias.

    Returns
    -------
    pd.DatetimeIndex
        Rebalance sessions, sorted, a subset of ``index``.
    """
    idx = pd.DatetimeIndex(index)
    if len(idx) == 0:
        return idx
    try:
        sched = pd.date_range(idx[0] + pd.Timedelta(days=1), idx[-1] + pd.Timedelta(days=1),
                              freq=freq)
    except ValueError as err:
        raise SqueezeLabError(f"unknown rebalance frequency {freq!r}: use a pandas alias such as "
                              "'SMS' (twice a month) or 'MS' (monthly)") from err
    pos = idx.searchsorted(sched.as_unit(idx.unit) if len(sched) else sched, side="left") - 1
    pos = np.unique(np.concatenate([[0], pos[pos >= 0]]))
    return idx[pos]


def _rebalance_rows(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    return np.asarray(index.get_indexer(rebalance_dates(index, freq)), dtype=np.int64)


def _top_n_members(score: np.ndarray, eligible: np.ndarray, listed: np.ndarray, n: int,
                   rows: np.ndarray) -> np.ndarray:
    """Top ``n`` eligible names by ``score`` chosen on ``rows``, held until the next such row."""
    if n < 1:
        raise SqueezeLabError(f"basket size n={n} must be at least 1: use e.g. n=50")
    T, N = score.shape
    chosen = np.zeros((len(rows), N), dtype=bool)
    s = np.where(eligible[rows], score[rows], -np.inf)
    # stable sort on the negated score: ties are broken by column order
    order = np.argsort(-s, axis=1, kind="stable")[:, :n]
    take = np.take_along_axis(eligible[rows], order, axis=1)
    r_idx = np.repeat(np.arange(len(rows)), order.shape[1])
    chosen[r_idx[take.ravel()], order.ravel()[take.ravel()]] = True
    which = np.searchsorted(rows, np.arange(T), side="right") - 1
    members = np.zeros((T, N), dtype=bool)
    ok = which >= 0
    members[ok] = chosen[which[ok]]
    return members & listed


def most_shorted_members(short_interest: pd.DataFrame, market_cap: pd.DataFrame, n: int = 50,
                         min_cap: float = 1e9, freq: str = "SMS") -> pd.DataFrame:
    """Members of the most-shorted basket: top ``n`` by point-in-time short interest % of float.

    Eligible on a rebalance date: listed, short interest known, market cap at least ``min_cap``.
    Chosen at the close of each rebalance session (``rebalance_dates(index, freq)``) and held
    until the next one; a name that stops being listed drops out.

    Parameters
    ----------
    short_interest : pd.DataFrame
        Short interest as a fraction of float, the value *known* on each date (already lagged).
    market_cap : pd.DataFrame
        Market capitalization, aligned with ``short_interest``.
    n : int, optional
        Basket size (fewer when fewer names are eligible).
    min_cap : float, optional
        Size floor in currency units.
    freq : str, optional
        Rebalance schedule (pandas alias); ``"SMS"`` = twice a month.

    Returns
    -------
    pd.DataFrame
        Boolean members frame, dates x tickers.
    """
    si = _as_float(short_interest, "short_interest")
    cap = _as_float(market_cap, "market_cap")
    if si.shape != cap.shape or not short_interest.index.equals(market_cap.index):
        raise SqueezeLabError("short interest and market cap are not aligned: build both on the "
                              "price dates and tickers")
    listed = np.isfinite(cap) & (cap > 0)
    with np.errstate(invalid="ignore"):
        eligible = listed & np.isfinite(si) & (cap >= min_cap)
    rows = _rebalance_rows(short_interest.index, freq)
    m = _top_n_members(si, eligible, listed, n, rows)
    return pd.DataFrame(m, index=short_interest.index, columns=short_interest.columns)


def unprofitable_tech_members(attributes: pd.DataFrame, market_cap: pd.DataFrame, n: int = 50,
                              freq: str = "MS", min_cap: float = 1e9) -> pd.DataFrame:
    """Members of the unprofitable-tech basket: the ``n`` largest unprofitable technology names.

    Eligible: ``is_tech`` and not ``profitable`` (attributes), listed, cap at least ``min_cap``.
    Ranked by market cap (the size proxy for revenue), chosen at each rebalance close
    (monthly by default) and held until the next.

    Parameters
    ----------
    attributes : pd.DataFrame
        Indexed by ticker with boolean columns ``is_tech`` and ``profitable``.
    market_cap : pd.DataFrame
        Market capitalization, dates x tickers.
    n : int, optional
        Basket size.
    freq : str, optional
        Rebalance schedule (pandas alias); ``"MS"`` = monthly.
    min_cap : float, optional
        Size (liquidity) floor, $1bn by default.

    Returns
    -------
    pd.DataFrame
        Boolean members frame, dates x tickers.
    """
    for col in ("is_tech", "profitable"):
        if col not in attributes.columns:
            raise SqueezeLabError(f"attributes have no {col!r} column: add it to build the "
                                  "unprofitable-tech basket")
    att = attributes.reindex(market_cap.columns)
    tech = att["is_tech"].fillna(False).to_numpy(bool)
    unprofitable = ~att["profitable"].fillna(True).to_numpy(bool)
    cap = _as_float(market_cap, "market_cap")
    listed = np.isfinite(cap) & (cap > 0)
    with np.errstate(invalid="ignore"):
        eligible = listed & (tech & unprofitable)[None, :] & (cap >= min_cap)
    rows = _rebalance_rows(market_cap.index, freq)
    m = _top_n_members(cap, eligible, listed, n, rows)
    return pd.DataFrame(m, index=market_cap.index, columns=market_cap.columns)


def _returns(close: np.ndarray) -> np.ndarray:
    r = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = close[1:] / close[:-1] - 1.0
    return r


def _weighted_return(weights_prev: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Row-wise sum(w * r) / sum(w) over names with a finite return and a positive weight."""
    w = np.where(np.isfinite(weights_prev) & np.isfinite(r) & (weights_prev > 0), weights_prev, 0.0)
    num = (w * np.where(np.isfinite(r), r, 0.0)).sum(axis=1)
    den = w.sum(axis=1)
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return out


def cap_weighted_index(close: pd.DataFrame, shares: pd.Series | pd.DataFrame,
                       members: pd.DataFrame | None = None) -> pd.Series:
    """Daily returns of a cap-weighted index; the weight on day t is the market cap at t - 1.

    Parameters
    ----------
    close : pd.DataFrame
        Closing prices, dates x tickers (NaN where not listed).
    shares : pd.Series or pd.DataFrame
        Shares outstanding per ticker (or point-in-time, aligned with ``close``).
    members : pd.DataFrame, optional
        Boolean members frame (row t = membership known at close t); all listed names if None.

    Returns
    -------
    pd.Series
        Daily simple returns, first value 0.
    """
    c = _as_float(close, "close")
    cap = c * _shares_frame(shares, close)
    if members is not None:
        mem = _members_array(members, close)
        cap = np.where(mem, cap, 0.0)
    w_prev = np.zeros_like(cap)
    w_prev[1:] = cap[:-1]
    out = _weighted_return(w_prev, _returns(c))
    out[0] = 0.0
    return pd.Series(out, index=close.index, name="index")


def _members_array(members: pd.DataFrame, close: pd.DataFrame) -> np.ndarray:
    if not (members.index.equals(close.index) and members.columns.equals(close.columns)):
        raise SqueezeLabError("members frame is not aligned with close: build it on the price "
                              "dates and tickers")
    return members.to_numpy(dtype=bool, na_value=False)


def equal_weight_basket(close: pd.DataFrame, members: pd.DataFrame,
                        rebalance: pd.DatetimeIndex | None = None) -> pd.Series:
    """Daily returns of an equal-weight basket, re-weighted at rebalances and drifting in between.

    At the close of each rebalance date every member gets the same weight; weights then drift with
    prices (buy and hold) until the next rebalance. A name that joins between rebalances starts at
    the weight of a fresh member; one that stops being listed drops out.

    Parameters
    ----------
    close : pd.DataFrame
        Closing prices, dates x tickers.
    members : pd.DataFrame
        Boolean members frame (row t = membership known at close t).
    rebalance : pd.DatetimeIndex, optional
        Dates at whose close weights reset to equal; default: the first date and every date on
        which the member set changes.

    Returns
    -------
    pd.Series
        Daily simple returns, first value 0 (0 on days with no members).
    """
    c = _as_float(close, "close")
    mem = _members_array(members, close) & np.isfinite(c)
    T = c.shape[0]
    reset = np.zeros(T, dtype=bool)
    if T:
        reset[0] = True
    if rebalance is None:
        reset[1:] |= (mem[1:] != mem[:-1]).any(axis=1)
    else:
        rows = close.index.get_indexer(pd.DatetimeIndex(rebalance))
        reset[rows[rows >= 0]] = True
    joined = np.zeros_like(mem)
    joined[0] = mem[0]
    joined[1:] = mem[1:] & ~mem[:-1]
    start = mem & (reset[:, None] | joined)
    anchor = pd.DataFrame(np.where(start, c, np.nan)).ffill().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(mem, c / anchor, 0.0)
    w_prev = np.zeros_like(weight)
    w_prev[1:] = weight[:-1]
    out = _weighted_return(w_prev, _returns(c))
    if T:
        out[0] = 0.0
    return pd.Series(out, index=close.index, name="basket")
