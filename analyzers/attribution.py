"""Where the money went: daily PnL by leg and cost, single names, and factor exposures.

Pure functions over a :class:`strategies.result.BacktestResult` (either engine) and the market's
closes. The split is exact: for every name and day,

    pnl = old_shares * (close - prev_close) + sum(fill_size * (close - fill_price))

(``old_shares`` = the previous close's holding), and the portfolio's equity change is the sum of
that over names minus the day's commission and borrow. The carry term is split by the legs'
previous shares (``BacktestResult.leg_shares``); the fill term by each leg's change in shares on
the day (every leg's delta is priced at the name's average fill price; a leg that crosses another
inside the book without a fill is priced at the close). Costs are kept apart (commission, borrow),
so ``long + short + hedge + commission + borrow == total`` to float rounding; ``residual`` shows
anything the result's holdings, fills and costs do not explain (0 for a consistent result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..strategies.result import BacktestResult
from ..strategies.targets import LEGS
from .episodes import iso_day, window_bounds

#: Columns of :attr:`Attribution.daily` (money; costs negative when paid).
DAILY_COLUMNS = ("long", "short", "hedge", "commission", "borrow", "total", "residual")
#: The parts that sum to ``total``.
PARTS = ("long", "short", "hedge", "commission", "borrow")
#: Reference columns used as factors when the market has no factor returns.
REFERENCE_FACTORS = ("index", "most_shorted")
#: Name attributes reported with top contributors/detractors (when the market has them).
NAME_ATTRIBUTES = ("sector", "short_interest", "days_to_cover", "profitable", "beta", "is_tech")


def _col_blocks(n: int) -> list[tuple[int, int]]:
    """Column blocks of about :data:`_BLOCK` names; never one of a single column (a lone column
    would be summed pairwise by NumPy instead of row by row, as the whole array is)."""
    cuts = list(range(0, n, _BLOCK)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] == 1:
        del cuts[-2]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def abs_row_sums(x: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """``np.abs(x).sum(axis=0)`` (or of ``x * other``) for a dates x tickers array, one block of
    columns at a time: each column's sum is the same float (rows added in order), with scratch
    the size of a block instead of the whole array."""
    out = np.empty(x.shape[1])
    for a, b in _col_blocks(x.shape[1]):
        blk = x[:, a:b] * other[:, a:b] if other is not None else x[:, a:b]
        out[a:b] = np.abs(blk).sum(axis=0)
    return out


def abs_col_sums(x: np.ndarray, cols: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """``abs_row_sums(x, other)[cols]``, reading only those columns (the same floats: each is
    summed row by row; a lone column of several is read twice, since alone it would be summed
    pairwise, as :func:`abs_row_sums` sums the one column of a one-column ``x``)."""
    take = np.concatenate([cols, cols[:1]]) if len(cols) == 1 and x.shape[1] > 1 else cols
    blk = x.take(take, axis=1)   # C order, as a block of columns is (x[:, take] is not)
    if other is not None:
        blk *= other.take(take, axis=1)
    return np.abs(blk, out=blk).sum(axis=0)[:len(cols)]


class LegValues:
    """End-of-day market value per (leg, date, ticker), ``shares * close``, computed on use from
    the legs' shares and the closes (no leg x date x ticker copy is kept). Indexes, iterates
    and converts (``np.asarray``) like that 3-D array; :meth:`rows` gives a window per leg."""

    def __init__(self, legs: list[np.ndarray], close: np.ndarray) -> None:
        self._legs = legs
        self._close = close

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self._legs), *self._close.shape)

    def __len__(self) -> int:
        return len(self._legs)

    def abs_sums(self, start: int, stop: int, cols: np.ndarray | None = None) -> np.ndarray:
        """(leg, ticker): the sum of |value| over rows ``start:stop`` (:func:`abs_row_sums`),
        of the tickers ``cols`` only when given (:func:`abs_col_sums`)."""
        if cols is not None:
            return np.stack([abs_col_sums(s[start:stop], cols, self._close[start:stop])
                             for s in self._legs])
        return np.stack([abs_row_sums(s[start:stop], self._close[start:stop])
                         for s in self._legs])

    def rows(self, start: int, stop: int) -> list[np.ndarray]:
        """Each leg's values on rows ``start:stop`` (dates x tickers arrays)."""
        return [s[start:stop] * self._close[start:stop] for s in self._legs]

    def __iter__(self) -> Any:
        return iter(self.rows(0, self._close.shape[0]))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape)
        for i, s in enumerate(self._legs):
            np.multiply(s, self._close, out=out[i])
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._legs[key] * self._close
        return np.asarray(self)[key]


@dataclass(frozen=True)
class Attribution:
    """Daily PnL split of one run (see the module docstring).

    - ``daily``: DataFrame dates x :data:`DAILY_COLUMNS` (money).
    - ``by_leg``: array (leg, date, ticker) of PnL before costs, legs in :data:`LEGS` order.
    - ``held``: (leg, date, ticker) end-of-day market value (shares * close), a
      :class:`LegValues` (computed on use; ``np.asarray(held)`` is the array).
    - ``equity``: the run's equity (index = dates); ``tickers``: columns of the arrays.
    """

    daily: pd.DataFrame
    by_leg: np.ndarray
    held: LegValues
    equity: pd.Series
    tickers: pd.Index

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.daily.index  # type: ignore[return-value]

    def names(self) -> pd.DataFrame:
        """Per-name daily PnL before costs (dates x tickers), all legs together."""
        return pd.DataFrame(self.by_leg.sum(axis=0), index=self.dates, columns=self.tickers)


def sign_legs(shares: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Classify holdings by sign: positive shares are the long leg, negative the short leg.

    Parameters
    ----------
    shares : pd.DataFrame
        End-of-day shares, dates x tickers.

    Returns
    -------
    dict
        ``{"long", "short", "hedge"}`` frames (hedge all zero) summing to ``shares``.
    """
    s = shares.fillna(0.0).astype(np.float64)
    return {"long": s.clip(lower=0.0), "short": s.clip(upper=0.0), "hedge": s * 0.0}


def date_positions(dates: pd.DatetimeIndex, values: Any, what: str) -> np.ndarray:
    """Row of each date of ``values`` in ``dates``; a date off the curve is an error naming ``what``."""
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(values).to_numpy())).normalize()
    pos = dates.get_indexer(d)
    if (pos < 0).any():
        bad = d[np.flatnonzero(pos < 0)[0]]
        raise SqueezeLabError(
            f"{what} dated {bad.date()} is not a trading date of the equity curve "
            f"({iso_day(dates[0])}..{iso_day(dates[-1])}): date fills by their trading day"
        )
    return pos


def leg_arrays(result: BacktestResult, dates: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray:
    """Shares held per leg as one (leg, date, ticker) array, zero where none (attribution, exposures)."""
    legs = result.leg_shares if result.leg_shares else sign_legs(result.shares)
    out = np.zeros((len(LEGS), len(dates), len(tickers)))
    for i, leg in enumerate(LEGS):
        df = legs.get(leg)
        if df is None or df.empty:
            continue
        out[i] = np.nan_to_num(
            df.reindex(index=dates, columns=tickers).to_numpy(np.float64), nan=0.0)
    return out


def leg_list(result: BacktestResult, dates: pd.DatetimeIndex, tickers: pd.Index
             ) -> list[np.ndarray]:
    """:func:`leg_arrays` as one (date, ticker) array per leg, read in place from the leg
    frames when they are already on that grid, float64 and finite (no copy); else as built by
    :func:`leg_arrays`."""
    legs = result.leg_shares if result.leg_shares else sign_legs(result.shares)
    out: list[np.ndarray] = []
    for leg in LEGS:
        df = legs.get(leg)
        a = None
        if (df is not None and not df.empty and df.index.equals(dates)
                and df.columns.equals(tickers) and (df.dtypes == np.float64).all()):
            a = df.to_numpy()
            if a.dtype != np.float64 or not np.isfinite(a).all():
                a = None
        out.append(a)
    if any(a is None for a in out):
        full = leg_arrays(result, dates, tickers)
        out = [full[i] if a is None else a for i, a in enumerate(out)]
    return out


def close_array(close: pd.DataFrame, dates: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray:
    """Closes on the curve's (date, ticker) grid, carried forward, zero before listing
    (read-only: the frame's own array when it is already that)."""
    missing = tickers.difference(close.columns)
    if len(missing):
        raise SqueezeLabError(
            f"no close prices for {', '.join(map(str, missing[:5]))}: pass the market the run used"
        )
    if close.index.equals(dates) and close.columns.equals(tickers):
        a = close.to_numpy()
        if a.dtype == np.float64 and np.isfinite(a).all():
            return a   # already on the grid, nothing to carry or zero: read in place
    c = close.reindex(index=dates, columns=tickers).ffill()
    return np.nan_to_num(c.to_numpy(np.float64), nan=0.0)


def _cost_series(result: BacktestResult, dates: pd.DatetimeIndex, col: str) -> np.ndarray:
    costs = result.costs
    if costs is not None and not costs.empty and col in costs.columns:
        idx = pd.DatetimeIndex(costs.index).normalize()
        s = pd.Series(costs[col].to_numpy(np.float64), index=idx).groupby(level=0).sum()
        return np.nan_to_num(s.reindex(dates).to_numpy(np.float64), nan=0.0)
    tr = result.trades
    if col == "commission" and tr is not None and not tr.empty and "commission" in tr.columns:
        pos = date_positions(dates, tr["date"], "a fill")
        out = np.zeros(len(dates))
        np.add.at(out, pos, np.nan_to_num(tr["commission"].to_numpy(np.float64)))
        return out
    return np.zeros(len(dates))


def _fill_pnl(trades: pd.DataFrame | None, dates: pd.DatetimeIndex, tickers: pd.Index,
              C: np.ndarray) -> np.ndarray:
    """Money made by each day's fills of each name, marked at the close (dates x tickers)."""
    return FillPnl(trades, dates, tickers)(C, 0, C.shape[1])


class FillPnl:
    """:func:`_fill_pnl` for a block of names at a time (``fill_pnl(C_block, a, b)``), so the
    split needs no dates x tickers arrays of it: each fill is added in the order of ``trades``
    as :func:`_fill_pnl` adds it, so every number is the same."""

    def __init__(self, trades: pd.DataFrame | None, dates: pd.DatetimeIndex,
                 tickers: pd.Index) -> None:
        self.rows = self.cols = np.zeros(0, dtype=np.int64)
        self.size = self.value = np.zeros(0)
        if trades is not None and not trades.empty:
            self.rows = date_positions(dates, trades["date"], "a fill")
            self.cols = tickers.get_indexer(trades["ticker"])
            self.size = trades["size"].to_numpy(np.float64)
            self.value = self.size * trades["price"].to_numpy(np.float64)

    def __call__(self, C: np.ndarray, a: int, b: int) -> np.ndarray:
        """Fill PnL of names ``a:b`` (``C``: their closes, dates x (b - a))."""
        D = np.zeros(C.shape)
        V = np.zeros(C.shape)
        m = (self.cols >= a) & (self.cols < b)
        if m.any():
            at = (self.rows[m], self.cols[m] - a)
            np.add.at(D, at, self.size[m])
            np.add.at(V, at, self.value[m])
        D *= C
        D -= V
        return D


#: Names per block of :func:`_leg_pnl` (its scratch arrays are dates x this many names).
_BLOCK = 64


def _leg_pnl(S: list[np.ndarray], C: np.ndarray, F: np.ndarray | FillPnl) -> np.ndarray:
    """PnL per (leg, date, ticker): the leg's carry plus its share of the fills' PnL ``F``.

    Each leg's share of a name's fills is its change in shares over the net change; where the
    legs' changes cancel (a crossing inside the book), the whole fill PnL goes to the leg that
    held the most shares (the long leg when none). Every number depends on one name only, so
    the names are done in blocks (small scratch arrays), each with the same float operations in
    the same order as the whole-array form ``prevS * dC + where(ok, dS / sum(dS), fallback) * F``.
    ``F`` is the fill PnL (dates x tickers) or a :class:`FillPnl` that gives it block by block.
    """
    by_leg = np.empty((len(S), *C.shape))
    for a in range(0, C.shape[1], _BLOCK):
        b = min(a + _BLOCK, C.shape[1])
        Fb = F(C[:, a:b], a, b) if isinstance(F, FillPnl) else F[:, a:b]
        _leg_pnl_block([s[:, a:b] for s in S], C[:, a:b], Fb, by_leg[:, :, a:b])
    return by_leg


def _leg_pnl_block(S: list[np.ndarray], C: np.ndarray, F: np.ndarray, out: np.ndarray) -> None:
    """:func:`_leg_pnl` for one block of names, written into ``out``.

    On a quiet row (no leg's shares change, no fill: ``F`` is +0.0) the split gives every leg
    ``prevS * dC + 0.0`` (the fill share is 0 or 1 times +0.0), so only the other rows, a few
    per rebalance, go through the whole formula (:func:`_split_rows`)."""
    dC = np.empty(C.shape)
    dC[:1] = C[:1] - C[:1]
    np.subtract(C[1:], C[:-1], out=dC[1:])
    busy = (F != 0.0).any(axis=1) | np.signbit(F).any(axis=1)
    for i, s in enumerate(S):   # the previous shares are s one row up (0.0 before row 0)
        busy[0] |= (s[0] != 0.0).any()
        busy[1:] |= (s[1:] != s[:-1]).any(axis=1)
        np.multiply(0.0, dC[:1], out=out[i][:1])
        np.multiply(s[:-1], dC[1:], out=out[i][1:])
        out[i] += 0.0
    rows = np.flatnonzero(busy)
    if len(rows):
        up = rows - 1
        P = [np.where((up >= 0)[:, None], s[np.maximum(up, 0)], 0.0) for s in S]
        out[:, rows] = _split_rows([s[rows] for s in S], P, dC[rows], F[rows])


def _split_rows(S: list[np.ndarray], P: list[np.ndarray], dC: np.ndarray,
                F: np.ndarray) -> np.ndarray:
    """The split on some rows: each leg's carry ``P * dC`` plus its share of the fill PnL
    ``F`` (legs x rows x names; ``P`` the legs' previous shares, see :func:`_leg_pnl`)."""
    n_legs = len(S)
    out = np.empty((n_legs, *dC.shape))
    tot = np.zeros(dC.shape)
    scale = np.zeros(dC.shape)
    best = np.zeros(dC.shape)
    fallback = np.zeros(dC.shape, dtype=np.int8)
    for i in range(n_legs):
        p = P[i]
        d = S[i] - p
        if i == 0:
            tot[:] = d
            scale[:] = np.abs(d)
        else:
            tot += d
            scale += np.abs(d)
        a = np.abs(p)
        a += np.abs(S[i])
        if i == 0:
            best[:] = a
        else:   # argmax over legs: the first leg with the largest holding
            more = a > best
            fallback[more] = i
            best[more] = a[more]
    np.maximum(scale, 1e-300, out=scale)
    scale *= 1e-9
    ok = np.abs(tot) > scale
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(n_legs):
            w = S[i] - P[i]
            w /= tot
            np.copyto(w, fallback == i, where=~ok)   # 1.0 for the fallback leg, else 0.0
            w *= F
            np.add(P[i] * dC, w, out=out[i])
    return out


def attribute(result: BacktestResult, close: pd.DataFrame,
              initial_equity: float | None = None) -> Attribution:
    """Split each day's PnL into long, short and hedge legs, commission and borrow.

    Parameters
    ----------
    result : BacktestResult
        A run of either engine (equity, shares, leg_shares, trades, costs).
    close : pd.DataFrame
        The market's closes (dates x tickers); reindexed to the run's dates and tickers
        (forward-filled after a delisting; a held name must have a close).
    initial_equity : float, optional
        Capital before the first close; when given, day 0's total is ``equity[0] - initial``
        (otherwise day 0's total is the sum of its parts).

    Returns
    -------
    Attribution
        ``daily`` parts sum to ``total`` (the equity change) to float rounding.
    """
    equity = result.equity.astype(np.float64)
    dates = pd.DatetimeIndex(equity.index)
    tickers = pd.Index(result.shares.columns)
    for df in (result.leg_shares or {}).values():
        tickers = tickers.union(df.columns, sort=False)
    trades = result.trades
    if trades is not None and not trades.empty:
        tickers = tickers.union(pd.Index(trades["ticker"].unique()), sort=False)
    n = len(dates)

    S = leg_list(result, dates, tickers)
    C = close_array(close, dates, tickers)
    by_leg = _leg_pnl(S, C, FillPnl(trades, dates, tickers))
    held = LegValues(S, C)

    commission = -_cost_series(result, dates, "commission")
    borrow = -_cost_series(result, dates, "borrow")
    legs_total = by_leg.sum(axis=2)
    parts = np.column_stack([legs_total[i] for i in range(len(LEGS))] + [commission, borrow])
    parts_sum = parts.sum(axis=1)
    total = np.empty(n)
    total[1:] = np.diff(equity.to_numpy())
    if n:
        total[0] = parts_sum[0] if initial_equity is None else equity.iloc[0] - initial_equity
    daily = pd.DataFrame(parts, index=dates, columns=list(PARTS))
    daily["total"] = total
    daily["residual"] = total - parts_sum
    return Attribution(daily=daily, by_leg=by_leg, held=held, equity=equity,
                       tickers=tickers)


# --------------------------------------------------------------------------- windows
def _window(attr: Attribution, start: Any, end: Any) -> tuple[int, int, int]:
    a, b = window_bounds(attr.dates, start, end)
    return a, b, (a - 1 if a > 0 else 0)


def window_legs(attr: Attribution, start: Any = None, end: Any = None) -> dict[str, Any]:
    """Leg and cost contributions to the return over ``[start, end]`` (all dates by default).

    Parameters
    ----------
    attr : Attribution
    start, end : date-like, optional

    Returns
    -------
    dict
        ``base_equity`` (close before the window), ``pnl`` {part: money, plus ``costs``,
        ``total``, ``residual``} and ``contribution`` {the same / base equity}. The
        contributions of :data:`PARTS` sum to the window's compounded return (up to the
        residual).
    """
    dates = attr.dates
    a, b, base = _window(attr, start if start is not None else dates[0],
                         end if end is not None else dates[-1])
    rows = attr.daily.iloc[a: b + 1]
    pnl = {k: float(rows[k].sum()) for k in DAILY_COLUMNS}
    if a == 0:  # the window's return starts from the first close
        pnl = {k: float(rows[k].iloc[1:].sum()) for k in DAILY_COLUMNS}
    pnl["costs"] = pnl["commission"] + pnl["borrow"]
    base_eq = float(attr.equity.iloc[base])
    return {
        "base_equity": base_eq,
        "pnl": pnl,
        "contribution": {k: v / base_eq for k, v in pnl.items()},
    }


def _name_attrs(tickers: pd.Index, attributes: pd.DataFrame | None,
                point_in_time: dict[str, pd.DataFrame | None], asof: pd.Timestamp
                ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {str(t): {} for t in tickers}
    if attributes is not None and not attributes.empty:
        att = attributes.reindex(tickers)
        for col in NAME_ATTRIBUTES:
            if col in att.columns:
                for t, v in zip(tickers, att[col].tolist(), strict=True):
                    out[str(t)][col] = v
    for col, hist in point_in_time.items():
        if hist is not None and not hist.empty:
            row = hist.reindex(columns=tickers).loc[:asof]
            if len(row):
                for t, v in zip(tickers, row.iloc[-1].tolist(), strict=True):
                    out[str(t)][col] = v
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return str(v) if not isinstance(v, str) else v


def _main_legs(attr: Attribution, cols: np.ndarray, base: int, first: int, stop: int
               ) -> np.ndarray:
    """Per ticker of ``cols``, the leg that held the most |value| over rows ``base:stop`` (the
    one with the most |pnl| over ``first:stop`` when none held any)."""
    if not len(cols):
        return np.zeros(0, dtype=np.int64)
    held = attr.held.abs_sums(base, stop, cols)
    lpnl = np.stack([abs_col_sums(p[first:stop], cols) for p in attr.by_leg])
    return np.where(held.max(axis=0) > 0, held.argmax(axis=0), lpnl.argmax(axis=0))


def top_names(attr: Attribution, start: Any = None, end: Any = None, k: int = 5,
              attributes: pd.DataFrame | None = None,
              short_interest: pd.DataFrame | None = None,
              days_to_cover: pd.DataFrame | None = None) -> dict[str, list[dict[str, Any]]]:
    """Top ``k`` single-name contributors and detractors over a window, with their attributes.

    Parameters
    ----------
    attr : Attribution
    start, end : date-like, optional
        Window (all dates by default).
    k : int
        Names per list.
    attributes : pd.DataFrame, optional
        ``Market.attributes`` (sector, short_interest, profitable, beta, ...).
    short_interest, days_to_cover : pd.DataFrame, optional
        Point-in-time histories; when given, the value known at the window's first session
        replaces the static attribute.

    Returns
    -------
    dict
        ``contributors`` (pnl > 0, best first) and ``detractors`` (pnl < 0, worst first); each
        item: ``ticker``, ``pnl`` (money, before costs), ``contribution`` (pnl / equity at the
        window's base close), ``leg`` (the leg that held most value in the window) and the
        attributes of :data:`NAME_ATTRIBUTES` the market has. Ties break by ticker.
    """
    dates = attr.dates
    a, b, base = _window(attr, start if start is not None else dates[0],
                         end if end is not None else dates[-1])
    first = 1 if a == 0 else a
    pnl = attr.by_leg[:, first: b + 1].sum(axis=(0, 1))
    base_eq = float(attr.equity.iloc[base])
    tick = np.asarray(attr.tickers.astype(str))
    order_pos = np.lexsort((tick, -pnl))
    order_neg = np.lexsort((tick, pnl))
    pos = [i for i in order_pos if pnl[i] > 0][:k]
    neg = [i for i in order_neg if pnl[i] < 0][:k]
    picked = np.array(sorted(set(pos) | set(neg)), dtype=np.int64)
    chosen = attr.tickers[picked]
    leg_idx = dict(zip(picked.tolist(), _main_legs(attr, picked, base, first, b + 1).tolist(),
                       strict=True))
    info = _name_attrs(chosen, attributes,
                       {"short_interest": short_interest, "days_to_cover": days_to_cover},
                       dates[a])

    def rec(i: int) -> dict[str, Any]:
        t = str(attr.tickers[i])
        out = {"ticker": t, "pnl": float(pnl[i]), "contribution": float(pnl[i] / base_eq),
               "leg": LEGS[int(leg_idx[i])]}
        out.update({key: _plain(v) for key, v in info.get(t, {}).items()})
        return out

    return {"contributors": [rec(i) for i in pos], "detractors": [rec(i) for i in neg]}


# --------------------------------------------------------------------------- factors
def factor_frame(factors: pd.DataFrame | None, reference: pd.DataFrame | None
                 ) -> tuple[pd.DataFrame, str]:
    """The factor returns to regress on: the market's factors, else its reference baskets.

    Parameters
    ----------
    factors : pd.DataFrame or None
        ``Market.factors`` (market, junk, momentum, quality), possibly empty.
    reference : pd.DataFrame or None
        ``Market.reference``; its :data:`REFERENCE_FACTORS` columns are used when there are no
        factors (all of its columns when none of those exist).

    Returns
    -------
    (pd.DataFrame, str)
        Daily factor returns and their source (``"factors"``, ``"reference"`` or ``"none"``).
    """
    if factors is not None and not factors.empty:
        return factors.astype(np.float64), "factors"
    if reference is not None and not reference.empty:
        cols = [c for c in REFERENCE_FACTORS if c in reference.columns] or list(reference.columns)
        return reference[cols].astype(np.float64), "reference"
    return pd.DataFrame(), "none"


def factor_attribution(returns: pd.Series, factors: pd.DataFrame, start: Any = None,
                       end: Any = None) -> dict[str, Any]:
    """Regress the book's daily returns on factor returns over a window (OLS with intercept).

    ``sum(returns) = alpha * n + sum_f beta_f * sum(factor_f) + sum(residuals)``, and with an
    intercept the residuals sum to 0, so ``contribution[f] = beta_f * sum(factor_f)`` and
    ``specific = sum(returns) - sum(contributions)`` (= alpha * n) add up to ``sum_return``.
    The first date of the data has no return and is left out.

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns of the book.
    factors : pd.DataFrame
        Daily factor returns (see :func:`factor_frame`), aligned on dates.
    start, end : date-like, optional
        Window (all dates by default).

    Returns
    -------
    dict
        ``n_obs``, ``factors`` (names), ``betas``, ``alpha`` (daily intercept), ``r2``,
        ``factor_returns`` (compounded over the window), ``contribution``, ``specific``,
        ``sum_return`` (arithmetic), ``window_return`` (compounded). Betas, alpha, r2,
        contributions and specific are None when there are fewer than ``k + 2`` observations.
    """
    r = returns.iloc[1:]
    if start is not None or end is not None:
        lo = pd.Timestamp(start) if start is not None else r.index[0]
        hi = pd.Timestamp(end) if end is not None else r.index[-1]
        r = r.loc[lo:hi]
    names = [str(c) for c in factors.columns]
    f = factors.reindex(r.index)
    ok = np.isfinite(r.to_numpy(np.float64)) & np.isfinite(f.to_numpy(np.float64)).all(axis=1)
    y = r.to_numpy(np.float64)[ok]
    X = f.to_numpy(np.float64)[ok]
    n, k = X.shape
    out: dict[str, Any] = {
        "n_obs": int(n),
        "factors": names,
        "factor_returns": {c: float(np.prod(1.0 + X[:, j]) - 1.0) for j, c in enumerate(names)},
        "sum_return": float(y.sum()),
        "window_return": float(np.prod(1.0 + y) - 1.0),
        "betas": None, "alpha": None, "r2": None, "contribution": None, "specific": None,
    }
    if k == 0 or n < k + 2:
        return out
    A = np.column_stack([np.ones(n), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    fitted = A @ coef
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - fitted) ** 2).sum())
    contrib = {c: float(coef[j + 1] * X[:, j].sum()) for j, c in enumerate(names)}
    out.update({
        "betas": {c: float(coef[j + 1]) for j, c in enumerate(names)},
        "alpha": float(coef[0]),
        "r2": (1.0 - ss_res / ss_tot) if ss_tot > 0 else None,
        "contribution": contrib,
        "specific": float(y.sum() - sum(contrib.values())),
    })
    return out
