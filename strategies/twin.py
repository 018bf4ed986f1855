"""The vectorized twin: the same targets, executed with the same conventions, in NumPy.

It reproduces what :mod:`strategies.engine` gets from backtrader (fills at the next open, the same
sizing from the portfolio value at the signal close, commission, slippage capped at high/low, and
backtrader's borrow rule on the average short price) so that a sweep of thousands of parameter
points can run on it and any backtrader run can be reconciled against it. Python loops only over
signal rows (O(n_signals) steps of O(n_names) NumPy); the days in between are vectorized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .execution import (
    commission_rate,
    commissions,
    costs_frame,
    daily_credit_rate,
    fill_prices,
    frames_by_leg,
    leg_labels,
    legs_from_log,
    order_sequence,
    plan_actions,
    price_arrays,
    rejected_orders,
    resolve_exec_params,
    shares_from_fills,
    slippage_rate,
    target_shares,
    trades_frame,
    update_positions,
)
from .result import BacktestResult
from .targets import LEGS, Targets


@dataclass(frozen=True)
class EquityRun:
    """What :func:`run_vectorized` returns with ``detail=False``: the equity and trading totals.

    For sweeps, the run's reconciliation and generators that only need the equity curve: the
    same loop as the full result, without building trades, positions and legs.
    """

    equity: pd.Series
    cash: pd.Series
    traded_value: float          # sum of |size| x fill price over every fill
    n_trades: int
    overlay_log: pd.DataFrame
    engine: str = "vectorized"
    #: The first session with a fill (the end of the warm-up), None when nothing was traded.
    first_fill: pd.Timestamp | None = None

    def returns(self) -> pd.Series:
        """Daily simple returns of the equity curve (first day 0), as ``BacktestResult.returns``."""
        r = self.equity.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r


def run_vectorized(market: Any, targets: Targets, overlay_log: pd.DataFrame | None = None,
                   detail: bool = True, **exec_params: Any) -> BacktestResult | EquityRun:
    """Execute ``targets`` on ``market`` without backtrader; same result shape and numbers.

    Parameters
    ----------
    market : feeds.market.Market
    targets : Targets with signal dates on the market's dates.
    overlay_log : passed through to the result.
    detail : False returns an :class:`EquityRun` (same equity, no trades/positions/legs frames).
    **exec_params : the ``[execution]`` table of :mod:`strategies.spec` (cash, commission_bps,
        slippage_bps, borrow_bps, fractional).

    Returns
    -------
    BacktestResult with ``engine="vectorized"``. Raises SqueezeLabError where backtrader would
    refuse an order for cash (checked at the signal close like ``checksubmit`` and at the fill).
    """
    p = resolve_exec_params(exec_params)
    px = price_arrays(market)
    plan = plan_actions(market, targets)
    n_rows, n_names = px.close.shape
    close_raw = market.close.to_numpy(np.float64)
    c_rate = commission_rate(p["commission_bps"])
    slip = slippage_rate(p["slippage_bps"])
    credit = daily_credit_rate(p["borrow_bps"])
    days = px.days

    equity = np.empty(n_rows)
    cash_arr = np.empty(n_rows)
    borrow = np.zeros(n_rows)
    comm_day = np.zeros(n_rows)
    pos = np.zeros(n_names)
    avgp = np.zeros(n_names)
    legs = np.zeros((len(LEGS), n_names))
    cash = p["cash"]
    nxt = 0  # first row not yet valued

    t_rows: list[np.ndarray] = []
    t_cols: list[np.ndarray] = []
    t_size: list[np.ndarray] = []
    t_price: list[np.ndarray] = []
    t_comm: list[np.ndarray] = []
    t_leg: list[np.ndarray] = []
    t_reason: list[np.ndarray] = []
    fill_rows: list[int] = []
    leg_states: list[np.ndarray] = []
    traded: list[np.ndarray] = []   # |size| x price per fill (detail=False)

    def value_rows(start: int, stop: int, cash: float) -> float:
        """Value rows start..stop (inclusive) with no fills; returns the cash at ``stop``."""
        if stop < start:
            return cash
        seg = slice(start, stop + 1)
        short = pos < 0
        if credit and short.any():
            per_name = days[seg, None] * credit * np.abs(pos[short])[None, :] * avgp[short][None, :]
            b = per_name.sum(axis=1)
            borrow[seg] = b
            cash_seg = cash - np.cumsum(b)
        else:
            cash_seg = np.full(stop + 1 - start, cash)
        cash_arr[seg] = cash_seg
        equity[seg] = cash_seg + px.close[seg] @ pos
        return float(cash_seg[-1])

    first_fill: int | None = None
    for k, t in enumerate(plan.rows):
        t = int(t)
        f = t + 1
        cash = value_rows(nxt, t, cash)
        nxt = max(nxt, t + 1)
        new_legs, delta = target_shares(plan.weights[k], equity[t], close_raw[t], legs,
                                        plan.resize[k], p["fractional"])
        seq = order_sequence(delta)
        # the fill bar: borrow on the position held overnight, then the orders at the open
        b = 0.0
        if credit:
            b = float(np.sum(np.where(pos < 0, days[f] * credit * np.abs(pos) * avgp, 0.0)))
        cash_before = cash
        cash -= b
        if len(seq):
            price = fill_prices(px.open[f], px.high[f], px.low[f], delta > 0, slip)
            pre = rejected_orders(cash_before, delta, np.where(np.isfinite(close_raw[t]), close_raw[t], 0.0),
                                  pos, c_rate, seq)
            real = rejected_orders(cash, delta, price, pos, c_rate, seq)
            if pre.any() or real.any():
                j = seq[int(np.argmax(pre | real))]
                raise SqueezeLabError(
                    f"vectorized twin: {int((pre | real).sum())} order(s) would be rejected for cash "
                    f"(first: {market.tickers[j]} {delta[j]:+.4g} shares "
                    f"signalled {market.dates[t].date()}): lower the book's net long exposure or gross"
                )
            first_fill = f if first_fill is None else first_fill
            d = delta[seq]
            pr = price[seq]
            cm = commissions(d, pr, c_rate)
            cash -= float(np.sum(d * pr)) + float(np.sum(cm))
            pos, avgp = update_positions(pos, avgp, delta, price)
            comm_day[f] = float(np.sum(cm))
            if detail:
                labels = leg_labels(legs, new_legs)
                t_rows.append(np.full(len(seq), f))
                t_cols.append(seq)
                t_size.append(d)
                t_price.append(pr)
                t_comm.append(cm)
                t_leg.append(labels[seq])
                reason = np.full(len(seq), plan.reasons[k], dtype=object)
                reason[plan.exits[k][seq]] = "delist_exit"
                t_reason.append(reason)
            else:
                traded.append(np.abs(d) * pr)
        legs = new_legs
        fill_rows.append(f)
        leg_states.append(new_legs)
        borrow[f] = b
        cash_arr[f] = cash
        equity[f] = cash + px.close[f] @ pos
        nxt = f + 1
    value_rows(nxt, n_rows - 1, cash)
    dates, tickers = market.dates, market.tickers

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    if not detail:
        return EquityRun(equity=pd.Series(equity, index=dates, name="equity"),
                         cash=pd.Series(cash_arr, index=dates, name="cash"),
                         # summed as the trades table's column would be (pandas)
                         traded_value=float(pd.Series(cat(traded, np.float64)).sum()),
                         n_trades=int(sum(len(x) for x in traded)),
                         overlay_log=overlay_log if overlay_log is not None else pd.DataFrame(),
                         first_fill=None if first_fill is None else dates[first_fill])

    rows_a, cols_a = cat(t_rows, np.int64), cat(t_cols, np.int64)
    size_a = cat(t_size, np.float64)
    trades = trades_frame(dates, tickers, rows_a, cols_a, size_a, cat(t_price, np.float64),
                          cat(t_comm, np.float64), cat(t_leg, object), cat(t_reason, object))
    shares = pd.DataFrame(shares_from_fills(n_rows, n_names, rows_a, cols_a, size_a),
                          index=dates, columns=tickers)
    leg_arr = legs_from_log(n_rows, n_names, np.asarray(fill_rows, dtype=np.int64),
                            np.asarray(leg_states) if leg_states else np.zeros((0, len(LEGS), n_names)))
    return BacktestResult(
        equity=pd.Series(equity, index=dates, name="equity"),
        cash=pd.Series(cash_arr, index=dates, name="cash"),
        shares=shares,
        leg_shares=frames_by_leg(leg_arr, dates, tickers),
        trades=trades,
        costs=costs_frame(dates, comm_day, borrow),
        targets=targets,
        overlay_log=overlay_log if overlay_log is not None else pd.DataFrame(),
        engine="vectorized",
        rejected_orders=0,
        info={"exec": p, "n_signals": int(len(plan.rows))},
    )
