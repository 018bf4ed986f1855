"""Execution conventions shared by the backtrader engine and the vectorized twin.

Both engines call the functions below, so order generation, fill prices, commissions and borrow
cannot diverge; both hand their fills to one assembly (``BacktestResult.from_fills``):

- a signal at the close of row ``t`` is filled at the open of row ``t + 1``;
- target shares per leg = ``w_leg * V_t / close_t`` (:func:`target_shares`), fractional or
  truncated toward zero per leg; the order per name is the change of the net (sum over legs);
- all sells are submitted before all buys (:func:`order_sequence`);
- fill price = the open slipped by ``slippage_bps`` and capped at the bar's high/low, exactly as
  backtrader's ``set_slippage_perc(slip_match=True, slip_out=False)`` does (:func:`fill_prices`);
- commission = ``commission_bps`` of ``|size| * fill price`` (:class:`SqueezeCommInfo`);
- borrow = backtrader's credit-interest rule on short positions: each bar, for a position held
  since the previous bar, ``days * (borrow / 365) * |size| * average price``, with the average
  price following backtrader's ``Position.update``: backtrader charges it through
  :class:`SqueezeCommInfo` (``CommInfoBase.get_credit_interest``), the twin through
  :func:`strategies.borrow.short_charges` and :func:`update_traded`, which replicate it;
- a name is traded only if it is listed at the signal close and at the fill bar
  (``Market.tradable_next``); a position in a
  name that delists inside the data is closed at the open of its last listed bar (the signal is
  given the bar before: the delisting date is treated as known one bar ahead, like an announced
  merger); unlisted bars carry the first open / last close with volume 0 (:func:`carry_unlisted`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from .once import computed_once
from .spec import EXECUTION
from .targets import LEGS, Targets

#: Order of legs in every (leg, ticker) array.
LEG_INDEX = {leg: i for i, leg in enumerate(LEGS)}

#: Fractional shares are multiples of this (2**-20, about a millionth of a share): sums of such
#: sizes below 2**32 shares are exact in float64, so positions, leg sums and order sizes carry no
#: rounding residue (otherwise backtrader leaves a 1e-13-share remainder on a reversing order,
#: split into closed + opened, and fills it the next bar).
SHARE_QUANTUM = 2.0 ** -20

#: backtrader's date number of 1970-01-01 (``date2num`` is the proleptic ordinal).
_EPOCH_ORDINAL = 719163


def resolve_exec_params(params: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Execution parameters with defaults filled in and checked (the ``[execution]`` table of
    :mod:`strategies.spec`); unknown keys are an error."""
    return dict(EXECUTION.resolve({**(dict(params) if params else {}), **overrides}))


def commission_rate(commission_bps: float) -> float:
    """Commission as a fraction of traded value (what backtrader's CommInfo ``commission`` holds)."""
    return commission_bps / 1e4


def slippage_rate(slippage_bps: float) -> float:
    """Slippage as a fraction of the price (backtrader's ``slip_perc``)."""
    return slippage_bps / 1e4


def borrow_rate(borrow_bps: float) -> float:
    """Yearly borrow fee as a fraction (backtrader's CommInfo ``interest``)."""
    return borrow_bps / 1e4


def daily_credit_rate(borrow_bps: float) -> float:
    """Per-calendar-day rate, computed exactly as backtrader's ``CommInfoBase._creditrate``."""
    return borrow_rate(borrow_bps) / 365.0


class SqueezeCommInfo(bt.CommInfoBase):
    """Stock-like commission scheme: percentage commission, short borrow via ``interest``.

    ``commission`` is a fraction of traded value (``percabs=True``: 0.0001 = 1 bp), charged by
    backtrader as ``|size| * commission * price``; ``interest`` is the yearly borrow fee on short
    positions, charged by the broker every bar as ``days * interest / 365 * |size| * pos.price``
    (``CommInfoBase.get_credit_interest``). Longs pay nothing (``interest_long=False``); leverage
    stays 1 so cash and value keep their plain meaning (short proceeds are cash: ``shortcash``).
    """

    params = (
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("commission", 0.0),
        ("interest", 0.0),
        ("interest_long", False),
        ("leverage", 1.0),
    )

    @classmethod
    def from_bps(cls, commission_bps: float, borrow_bps: float) -> SqueezeCommInfo:
        """The scheme for ``commission_bps`` of traded value and ``borrow_bps`` a year on shorts."""
        return cls(commission=commission_rate(commission_bps), interest=borrow_rate(borrow_bps))


# --------------------------------------------------------------------------- prices
def dates_to_num(dates: pd.Index | np.ndarray) -> np.ndarray:
    """backtrader date numbers (``bt.date2num``: ordinal days + fraction) of naive datetimes."""
    idx = pd.DatetimeIndex(dates)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    ns = idx.as_unit("ns").asi8
    day_ns = 86_400 * 10**9
    days = np.floor_divide(ns, day_ns)
    rem = ns - days * day_ns
    out = (days + _EPOCH_ORDINAL).astype(np.float64)
    if rem.any():  # intraday stamps: use backtrader's own formula to stay bit-identical
        slow = np.flatnonzero(rem)
        stamps = idx[slow].to_pydatetime()
        out[slow] = [bt.date2num(s) for s in stamps]
    return out


def num_to_dates(nums: np.ndarray) -> pd.DatetimeIndex:
    """Inverse of :func:`dates_to_num` (to a few microseconds: float day numbers), as a DatetimeIndex."""
    nums = np.asarray(nums, dtype=np.float64)
    days = np.floor(nums)
    us = np.round((nums - days) * 86_400e6).astype(np.int64)
    base = (days.astype(np.int64) - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DatetimeIndex(base + us.astype("timedelta64[us]"))


def carry_unlisted(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """OHLCV (dates x names) with unlisted bars filled: first open before listing, last close after.

    backtrader needs a bar from every feed on every date; before a name lists its bars are flat at
    its first open, after it delists flat at its last close, both with volume 0. Engines never
    trade those bars (see :func:`plan_actions`), they only value a position there.

    Returns
    -------
    (prices, listed): ``prices`` maps open/high/low/close/volume to float64 arrays without NaN in
    the price fields; ``listed`` is the bool mask of real bars (close is finite).
    """
    c = np.asarray(close, dtype=np.float64)
    listed = np.isfinite(c)
    out = {
        "open": np.array(open_, dtype=np.float64), "high": np.array(high, dtype=np.float64),
        "low": np.array(low, dtype=np.float64), "close": c.copy(),
        "volume": np.array(volume, dtype=np.float64),
    }
    if listed.all():
        return out, listed
    n_rows = c.shape[0]
    any_live = listed.any(axis=0)
    first = np.argmax(listed, axis=0)
    last = n_rows - 1 - np.argmax(listed[::-1], axis=0)
    rows = np.arange(n_rows)[:, None]
    before = (rows < first) & any_live
    after = (rows > last) & any_live
    cols = np.arange(c.shape[1])
    first_open = out["open"][first, cols]
    last_close = c[last, cols]
    for name in ("open", "high", "low", "close"):
        arr = out[name]
        np.copyto(arr, np.broadcast_to(first_open, arr.shape), where=before)
        np.copyto(arr, np.broadcast_to(last_close, arr.shape), where=after)
    out["volume"][before | after] = 0.0
    return out, listed


@dataclass(frozen=True)
class PriceArrays:
    """A market's prices as arrays (dates x tickers), unlisted bars carried; see :func:`carry_unlisted`."""

    dates: pd.DatetimeIndex
    tickers: pd.Index
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    listed: np.ndarray

    @functools.cached_property
    def days(self) -> np.ndarray:
        """Calendar days since the previous row (0 on the first), as backtrader's credit counts
        them (computed on first use; read-only)."""
        day_ns = 86_400 * 10**9
        d = (self.dates.asi8 if self.dates.tz is None else self.dates.normalize().asi8) // day_ns
        out = np.zeros(len(d), dtype=np.int64)
        out[1:] = np.diff(d)
        out.flags.writeable = False
        return out


def price_arrays(market: Any) -> PriceArrays:
    """The market's OHLCV as carried arrays plus the listed mask (what both engines trade on).

    Computed once per market (:func:`strategies.once.computed_once`; every point of a sweep
    reuses it); the arrays are read-only.
    """
    def build() -> PriceArrays:
        raw = [market.frame(f).to_numpy(np.float64) for f in ("open", "high", "low", "close",
                                                              "volume")]
        if np.isfinite(raw[3]).all():   # nothing to carry: the frames' arrays, close in rows
            prices = dict(zip(("open", "high", "low", "volume"), raw[:3] + raw[4:], strict=True))
            prices["close"] = np.ascontiguousarray(raw[3])
            listed = np.ones(raw[3].shape, dtype=bool)
        else:
            prices, listed = carry_unlisted(*raw)
        for arr in (*prices.values(), listed):
            arr.flags.writeable = False
        return PriceArrays(dates=market.dates, tickers=market.tickers, listed=listed, **prices)

    return computed_once(market, ("price_arrays",), build)


def fill_prices(open_: np.ndarray, high: np.ndarray, low: np.ndarray, buy: np.ndarray,
                slip: float) -> np.ndarray:
    """Market-order fill prices at the open, replicating backtrader's ``_slip_up``/``_slip_down``.

    With ``slip`` (a fraction) non-zero a buy pays ``open * (1 + slip)`` unless that is above the
    high, then the high; a sell gets ``open * (1 - slip)`` unless below the low, then the low
    (``slip_match=True, slip_out=False``). With ``slip == 0`` the fill is the open itself.
    """
    open_ = np.asarray(open_, dtype=np.float64)
    if not slip:
        return open_.copy()
    up = open_ * (1 + slip)
    down = open_ * (1 - slip)
    p_buy = np.where(up <= high, up, high)
    p_sell = np.where(down >= low, down, low)
    return np.where(buy, p_buy, p_sell)


def commissions(size: np.ndarray, price: np.ndarray, rate: float) -> np.ndarray:
    """Commission per fill: ``|size| * rate * price`` (backtrader's COMM_PERC formula)."""
    return np.abs(size) * rate * price


def update_positions(size: np.ndarray, price: np.ndarray, delta: np.ndarray,
                     fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New (size, average price) after one fill per name, as backtrader's ``Position.update``.

    Closing to zero resets the price to 0; opening from zero or reversing sets it to the fill
    price; increasing averages ``(price * size + delta * fill) / new size``; reducing keeps it.
    Names with ``delta == 0`` are untouched.
    """
    size = np.array(size, dtype=np.float64)
    price = np.array(price, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    cols = np.flatnonzero(delta)
    update_traded(size, price, cols, delta[cols], np.asarray(fill, dtype=np.float64)[cols])
    return size, price


def update_traded(size: np.ndarray, price: np.ndarray, cols: np.ndarray, delta: np.ndarray,
                  fill: np.ndarray) -> None:
    """:func:`update_positions` in place for the traded names ``cols`` only (``delta`` and
    ``fill`` given for them, every ``delta`` non-zero): the same values, on the orders alone."""
    s, p = size[cols], price[cols]
    new = s + delta
    # share counts are at least SHARE_QUANTUM (2**-20) in size, so the product of two non-zero
    # ones is never 0: s * delta > 0 is "held and increased"; s * new > 0 "held, same side
    # after" (reduced, or increased: overwritten by the average below); neither: opened/reversed
    out = np.where(s * new > 0, p, fill)
    np.divide(p * s + delta * fill, new, out=out, where=s * delta > 0)
    out[new == 0] = 0.0
    size[cols] = new
    price[cols] = out


# --------------------------------------------------------------------------- orders
def target_shares(weights_by_leg: np.ndarray, value: float, close: np.ndarray,
                  current_leg_shares: np.ndarray, resize: np.ndarray,
                  fractional: bool) -> tuple[np.ndarray, np.ndarray]:
    """New shares per leg and the order per name for one signal close.

    Parameters
    ----------
    weights_by_leg : (n_legs, n_names) target weights (fractions of ``value``; NaN = 0).
    value : portfolio value at the signal close.
    close : (n_names,) closes at the signal date (NaN allowed where ``resize`` is False).
    current_leg_shares : (n_legs, n_names) shares held per leg.
    resize : (n_names,) bool, names traded back to target; the others keep their leg shares.
    fractional : True truncates each leg's target toward zero to a multiple of
        :data:`SHARE_QUANTUM`; False to whole shares.

    Returns
    -------
    (new_leg_shares, order_delta): ``order_delta`` is the new net minus the current net per name.
    """
    w = np.asarray(weights_by_leg, dtype=np.float64)
    if not np.isfinite(w).all():   # (the engines' plans are already finite)
        w = np.nan_to_num(w, nan=0.0)
    cur = np.asarray(current_leg_shares, dtype=np.float64)
    rs = np.asarray(resize, dtype=bool)
    new = leg_targets(w, value, np.where(rs, close, 1.0), cur, rs[None, :], fractional)
    delta = new.sum(axis=0) - cur.sum(axis=0)
    return new, delta


def leg_targets(weights_by_leg: np.ndarray, value: float, sizing_close: np.ndarray,
                current_leg_shares: np.ndarray, resize: np.ndarray | None,
                fractional: bool) -> np.ndarray:
    """The new shares per leg of :func:`target_shares`, from inputs already prepared: finite
    weights, ``sizing_close`` the close where resized (1.0 elsewhere), ``resize`` broadcastable
    to (n_legs, n_names) or None when every name is resized. The twin prepares them for every
    signal row at once."""
    raw = truncate_shares(weights_by_leg * value / sizing_close, fractional)
    return raw if resize is None else np.where(resize, raw, current_leg_shares)


def order_sequence(delta: np.ndarray) -> np.ndarray:
    """Column indices of the orders in submission order: every sell, then every buy."""
    return np.concatenate(((delta < 0).nonzero()[0], (delta > 0).nonzero()[0]))


#: The label of each :func:`leg_codes` code: the legs changed, joined with '+' ("none": none).
LEG_CODE_LABELS = np.array(["+".join(leg for i, leg in enumerate(LEGS) if code >> i & 1) or
                            "none" for code in range(2 ** len(LEGS))], dtype=object)


def leg_codes(old_leg_shares: np.ndarray, new_leg_shares: np.ndarray) -> np.ndarray:
    """Per name, which legs' shares changed as a code (bit i: leg i; :data:`LEG_CODE_LABELS`)."""
    return change_codes(np.asarray(new_leg_shares) != np.asarray(old_leg_shares))


def change_codes(changed: np.ndarray, axis: int = 0) -> np.ndarray:
    """:func:`leg_codes` from the mask of changed shares, legs along ``axis`` (dropped)."""
    code = np.zeros(np.delete(changed.shape, axis), dtype=np.int64)
    for i in range(changed.shape[axis]):
        code |= np.take(changed, i, axis=axis).astype(np.int64) << i
    return code


def leg_labels(old_leg_shares: np.ndarray, new_leg_shares: np.ndarray) -> np.ndarray:
    """Per name, the legs whose shares changed, joined with '+' (e.g. 'long', 'short+hedge')."""
    return LEG_CODE_LABELS[leg_codes(old_leg_shares, new_leg_shares)]


def rejected_orders(cash: float, delta: np.ndarray, price: np.ndarray, position: np.ndarray,
                    rate: float, sequence: np.ndarray, submit_check: bool = False) -> np.ndarray:
    """Bool per order in ``sequence``: would backtrader refuse it for cash (``Order.Margin``)?

    Orders run in sequence with the running cash (short proceeds are cash: ``shortcash=True``).
    At the fill (``BackBroker._execute``) a part that closes a position is always done and the
    part that opens one is refused if it leaves cash below zero. At submission
    (``submit_check=True``: ``checksubmit``'s pseudo-execution at the signal close) any order,
    closing ones too, is refused once the running cash is below zero.
    """
    d = delta[sequence]
    p = price[sequence]
    pos = position[sequence]
    flow = d * p + np.abs(d) * rate * p
    running = cash - np.cumsum(flow)
    if submit_check:
        return running < 0
    same_side = (pos == 0) | (np.sign(pos) == np.sign(d))
    opens = same_side | (np.abs(d) > np.abs(pos))
    return opens & (running < 0)


def truncate_shares(shares: np.ndarray, fractional: bool) -> np.ndarray:
    """Shares truncated toward zero to a multiple of :data:`SHARE_QUANTUM` (or to whole shares)."""
    if fractional:
        return np.trunc(shares / SHARE_QUANTUM) * SHARE_QUANTUM
    return np.trunc(shares)


def market_exits(market: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What of a plan depends on the market alone, computed once per market (read-only):
    ``Market.tradable_next`` (listed at a close and at the next bar), and per name the row of
    its forced exit (the bar before its last listed bar) and whether it delists in range."""
    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        listed = price_arrays(market).listed
        n_rows, n_names = listed.shape
        can_trade = np.zeros_like(listed)
        can_trade[:-1] = listed[:-1] & listed[1:]
        # only names not listed on the last bar can delist: the others' last listed bar is last
        any_live = np.ones(n_names, dtype=bool)
        last = np.full(n_names, n_rows - 1)
        gone = np.flatnonzero(~listed[-1])
        if len(gone):
            sub = listed[:, gone]
            any_live[gone] = sub.any(axis=0)
            last[gone] = n_rows - 1 - np.argmax(sub[::-1], axis=0)
        exit_row = last - 1
        delists = any_live & (last < n_rows - 1) & (exit_row >= 0)
        delists &= listed[np.clip(exit_row, 0, None), np.arange(n_names)]
        for arr in (can_trade, exit_row, delists):
            arr.flags.writeable = False
        return can_trade, exit_row, delists

    return computed_once(market, ("market_exits",), build)


def _signal_arrays(targets: Targets, tickers: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per signal date, the weights (legs x market tickers, NaN = 0) and the resize mask."""
    n_names = len(tickers)
    weights = np.stack([targets.legs[leg].to_numpy(np.float64) for leg in LEGS], axis=1)
    if not np.isfinite(weights).all():   # (checked first: the usual weights are all finite)
        np.nan_to_num(weights, copy=False, nan=0.0)   # (a new array: stack copies)
    resize = targets.resize.to_numpy(bool)
    if targets.tickers.equals(tickers):   # the usual case: the market's own columns
        return weights, resize
    cols = tickers.get_indexer(targets.tickers)
    w_all = np.zeros((len(weights), len(LEGS), n_names))
    w_all[:, :, cols] = weights
    rs_all = np.zeros((len(resize), n_names), dtype=bool)
    rs_all[:, cols] = resize
    return w_all, rs_all


def _plan_rows(sig_rows: np.ndarray, exit_row: np.ndarray, delists: np.ndarray, n_rows: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """The plan's rows (signal rows with a fill bar, and forced-exit rows, sorted) and per row
    its signal's index in ``sig_rows`` (sorted, unique), -1 on exit-only rows."""
    keep = sig_rows < n_rows - 1  # a signal on the last bar has no fill bar
    rows = np.union1d(sig_rows[keep], exit_row[delists]).astype(np.int64)
    if not len(sig_rows):
        return rows, np.full(len(rows), -1, dtype=np.int64)
    k = np.searchsorted(sig_rows, rows)
    found = (k < len(sig_rows)) & (sig_rows[np.minimum(k, len(sig_rows) - 1)] == rows)
    return rows, np.where(found, k, -1).astype(np.int64)


def _plan_reasons(targets: Targets, ks: np.ndarray) -> tuple[str, ...]:
    """Each plan row's reason: its signal's (targets.reasons; ``ks``: the signal's index, -1 on
    an exit-only row: ``delist_exit``)."""
    reasons_src = targets.reasons if isinstance(targets.reasons, pd.Series) else pd.Series(dtype=object)
    if len(reasons_src) and not reasons_src.index.has_duplicates:   # one lookup, not one per row
        sig_reason = reasons_src.reindex(targets.dates).tolist()
    else:
        sig_reason = [reasons_src.get(d, "") if len(reasons_src) else "" for d in targets.dates]
    reasons: list[str] = []
    for k in ks.tolist():
        reason = sig_reason[k] if k >= 0 else "delist_exit"
        reasons.append("" if reason is None or (isinstance(reason, float) and np.isnan(reason))
                       else str(reason))
    return tuple(reasons)


@dataclass(frozen=True)
class ActionPlan:
    """The signal rows both engines act on, with weights and the effective resize mask.

    ``rows[k]`` is a market row whose close decides orders filled at ``rows[k] + 1``;
    ``weights[k]`` is (n_legs, n_names); ``resize[k]`` already excludes names not listed at the
    signal close or at the fill bar and includes forced exits (``exits[k]``) before a delisting.
    """

    rows: np.ndarray
    weights: np.ndarray
    resize: np.ndarray
    exits: np.ndarray
    reasons: tuple[str, ...]
    tradable_next: np.ndarray  # (rows, names): listed at a close and at the next bar


def plan_actions(market: Any, targets: Targets) -> ActionPlan:
    """Signal rows of ``targets`` on ``market`` plus forced exits before delistings."""
    dates, tickers = market.dates, market.tickers
    n_rows, n_names = len(dates), len(tickers)
    sig_rows = targets.check_against(market)
    weights_all, resize_all = _signal_arrays(targets, tickers)
    can_trade, exit_row, delists = market_exits(market)
    rows, ks = _plan_rows(sig_rows, exit_row, delists, n_rows)
    on_sig = ks >= 0
    kk = ks[on_sig]
    if on_sig.all() and np.array_equal(kk, np.arange(len(kk))):   # no exit-only rows
        weights, resize = weights_all[:len(kk)], resize_all[:len(kk)] & can_trade[rows]
    else:
        weights = np.zeros((len(rows), len(LEGS), n_names))
        resize = np.zeros((len(rows), n_names), dtype=bool)
        weights[on_sig] = weights_all[kk]
        resize[on_sig] = resize_all[kk] & can_trade[rows[on_sig]]
    reasons = _plan_reasons(targets, ks)
    exits = np.zeros((len(rows), n_names), dtype=bool)
    gone = np.flatnonzero(delists)   # each forced out on its exit row (one of the plan's rows)
    exits[np.searchsorted(rows, exit_row[gone]), gone] = True
    if len(gone):
        weights = np.where(exits[:, None, :], 0.0, weights)
        resize |= exits
    return ActionPlan(rows=rows, weights=weights, resize=resize, exits=exits,
                      reasons=reasons, tradable_next=can_trade)
