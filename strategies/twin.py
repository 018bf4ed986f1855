"""The vectorized twin: the same targets, executed with the same conventions, in NumPy.

It reproduces what :mod:`strategies.engine` gets from backtrader (fills at the next open, the same
sizing from the portfolio value at the signal close, commission, slippage capped at high/low, and
the same per-name borrow charges, locates and recalls, :mod:`strategies.borrow`) so that a sweep of thousands of parameter
points can run on it and any backtrader run can be reconciled against it. Python loops only over
action rows — signal rows and margin calls (:mod:`strategies.limits`) — each O(n_names) NumPy;
the days in between are valued and checked against ``max_leverage`` vectorized. The result is
assembled by ``BacktestResult.from_fills``, like backtrader's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .borrow import (
    BorrowBook,
    BorrowTerms,
    charges,
    make_record,
    order_reason,
    resolve_terms,
    row_charges,
)
from .execution import (
    SHARE_QUANTUM,
    commission_rate,
    commissions,
    fill_prices,
    leg_labels,
    order_sequence,
    plan_actions,
    price_arrays,
    rejected_orders,
    resolve_exec_params,
    slippage_rate,
    target_shares,
    update_positions,
)
from .limits import LIMIT_REASON, apply_limits, refusal_message
from .result import BacktestResult, Fills, margin_calls_frame
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
    margin_calls: pd.DataFrame = field(default_factory=margin_calls_frame)

    def returns(self) -> pd.Series:
        """Daily simple returns of the equity curve (first day 0), as ``BacktestResult.returns``."""
        r = self.equity.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r


def run_vectorized(market: Any, targets: Targets, overlay_log: pd.DataFrame | None = None,
                   detail: bool = True, borrow: BorrowTerms | None = None,
                   max_net_long: float = 0.9, **exec_params: Any) -> BacktestResult | EquityRun:
    """Execute ``targets`` on ``market`` without backtrader; same result shape and numbers.

    Parameters
    ----------
    market : feeds.market.Market
    targets : Targets with signal dates on the market's dates.
    overlay_log : passed through to the result.
    detail : False returns an :class:`EquityRun` (same equity, no trades/positions/legs frames).
    borrow : the run's borrow terms (default: from ``borrow_model`` / ``borrow_bps``; the
        ``file`` model needs them given, :func:`strategies.borrow.resolve_terms`).
    max_net_long : funding cap after a locate cut or recall (``overlay.max_net_long``).
    **exec_params : the ``[execution]`` table of :mod:`strategies.spec` (cash, commission_bps,
        slippage_bps, borrow_bps, fractional, max_leverage, margin_call_to, cash_buffer).

    Returns
    -------
    BacktestResult with ``engine="vectorized"``. Raises SqueezeLabError where backtrader would
    refuse an order for cash (checked at the signal close like ``checksubmit`` and at the fill).

    The loop visits action rows only: the targets' signal rows, any row whose close breaks
    ``max_leverage`` (found vectorized over the rows valued since the last fill) and any row
    where a held short exceeds what can be borrowed (:meth:`strategies.borrow.BorrowBook.
    first_recall`), each handled as backtrader's ``SqueezeBook.next`` handles it.
    """
    p = resolve_exec_params(exec_params)
    px = price_arrays(market)
    plan = plan_actions(market, targets)
    n_rows, n_names = px.close.shape
    close_raw = market.close.to_numpy(np.float64)
    c_rate = commission_rate(p["commission_bps"])
    slip = slippage_rate(p["slippage_bps"])
    terms = borrow if borrow is not None else resolve_terms(p["borrow_model"], market,
                                                            p["borrow_bps"])
    book = BorrowBook(terms, max_net_long, SHARE_QUANTUM if p["fractional"] else 1.0)
    charging = bool(terms.fee_bps.any())
    ledger = np.zeros((n_rows, n_names))  # borrow per row and name (BacktestResult.borrow_record)
    days = px.days

    equity = np.empty(n_rows)
    cash_arr = np.empty(n_rows)
    borrow_day = np.zeros(n_rows)
    pos = np.zeros(n_names)
    avgp = np.zeros(n_names)
    legs = np.zeros((len(LEGS), n_names))
    cash = p["cash"]
    nxt = 0  # first row not yet valued

    fills: list[dict[str, np.ndarray]] = []
    fill_rows: list[int] = []
    leg_states: list[np.ndarray] = []

    def value_rows(start: int, stop: int, cash: float) -> float:
        """Value rows start..stop (inclusive) with no fills; returns the cash at ``stop``."""
        if stop < start:
            return cash
        seg = slice(start, stop + 1)
        short = pos < 0
        ledger[seg] = 0.0  # rows valued again after an earlier action are booked anew
        if charging and short.any():
            cols = np.flatnonzero(short)
            rows = np.arange(start, stop + 1)
            per_name = row_charges(terms, rows, days[seg], cols, pos[cols], avgp[cols], px.close)
            ledger[np.ix_(rows, cols)] = per_name
            b = per_name.sum(axis=1)
            borrow_day[seg] = b
            cash_seg = cash - np.cumsum(b)
        else:
            borrow_day[seg] = 0.0
            cash_seg = np.full(stop + 1 - start, cash)
        cash_arr[seg] = cash_seg
        equity[seg] = cash_seg + px.close[seg] @ pos
        return float(cash_seg[-1])

    first_fill: int | None = None
    max_lev = p["max_leverage"]
    calls: list[dict[str, Any]] = []
    checked = 0  # first row whose close has not been checked against max_leverage

    def first_breach(start: int, stop: int) -> int | None:
        """First row in start..stop (inclusive, valued, no fills) whose gross / equity exceeds
        max_leverage, or None; the last market row has no next open and is never called."""
        stop = min(stop, n_rows - 2)
        if not max_lev or stop < start or not pos.any():
            return None
        seg = slice(start, stop + 1)
        gross = np.abs(px.close[seg] * pos).sum(axis=1)
        eq = equity[seg]
        with np.errstate(divide="ignore", invalid="ignore"):
            lev = np.where(eq > 0, gross / np.where(eq > 0, eq, 1.0),
                           np.where(gross > 0, np.inf, 0.0))
        hit = np.flatnonzero(lev > max_lev)
        return start + int(hit[0]) if len(hit) else None

    k = 0
    while True:
        t_plan = int(plan.rows[k]) if k < len(plan.rows) else n_rows - 1
        cash_plan = value_rows(nxt, t_plan, cash)
        r = first_breach(checked, t_plan - 1)
        rc = book.first_recall(checked, min(t_plan - 1, n_rows - 2), legs)
        hits = [x for x in (r, rc) if x is not None]
        if not hits and k >= len(plan.rows):
            break
        if not hits:
            t, cash, weights, resize = t_plan, cash_plan, plan.weights[k], plan.resize[k]
            new_legs, delta = target_shares(weights, equity[t], close_raw[t], legs, resize,
                                            p["fractional"])
            reason_k, exits, resized = plan.reasons[k], plan.exits[k], resize
            k += 1
        else:  # a margin call or a recall on a row without a signal: the book as held, then
            t = min(hits)  # the rules below
            cash = float(cash_arr[t])
            new_legs, exits, resized = legs, np.zeros(n_names, dtype=bool), None
            reason_k = "margin_call" if t == r else ""
        f = t + 1
        nxt = max(nxt, t + 1)
        # locates and recalls (strategies.borrow), then the account limits
        new_legs, why = book.adjust(t, new_legs, close_raw[t], float(equity[t]), resized)
        new_legs, acted = apply_limits(new_legs, legs, px.close[t], close_raw[t], float(equity[t]),
                                       cash, plan.tradable_next[t], p, c_rate)
        for rec in acted:
            calls.append({"date": market.dates[t], "fill_date": market.dates[f], **rec})
        if acted:
            reason_k = LIMIT_REASON[acted[0]["rule"]]
        delta = new_legs.sum(axis=0) - legs.sum(axis=0)
        seq = order_sequence(delta)
        # the fill bar: borrow on the position held overnight, then the orders at the open
        b = 0.0
        if charging:
            mark = avgp if terms.mark == "average" else px.close[t]
            per = charges(days[f], terms.rate[t], pos, mark)
            ledger[f] = per
            b = float(np.sum(per))
        cash_before = cash
        cash -= b
        if len(seq):
            price = fill_prices(px.open[f], px.high[f], px.low[f], delta > 0, slip)
            pre = rejected_orders(cash_before, delta, np.where(np.isfinite(close_raw[t]), close_raw[t], 0.0),
                                  pos, c_rate, seq, submit_check=True)
            real = rejected_orders(cash, delta, price, pos, c_rate, seq)
            if pre.any() or real.any():
                j = seq[int(np.argmax(pre | real))]
                raise SqueezeLabError("vectorized twin: " + refusal_message(
                    int((pre | real).sum()), str(market.tickers[j]), float(delta[j]),
                    market.dates[t].date().isoformat(), float(equity[t]), p["cash_buffer"],
                    verb="would be rejected"))
            first_fill = f if first_fill is None else first_fill
            d = delta[seq]
            pr = price[seq]
            cm = commissions(d, pr, c_rate)
            cash -= float(np.sum(d * pr)) + float(np.sum(cm))
            pos, avgp = update_positions(pos, avgp, delta, price)
            labels = leg_labels(legs, new_legs)
            reason = np.array([order_reason(reason_k, why[j] if why is not None else "")
                               for j in seq], dtype=object)
            reason[exits[seq]] = "delist_exit"
            fills.append({"rows": np.full(len(seq), f), "cols": seq, "size": d, "price": pr,
                          "commission": cm, "leg": labels[seq], "reason": reason})
        legs = new_legs
        fill_rows.append(f)
        leg_states.append(new_legs)
        borrow_day[f] = b
        cash_arr[f] = cash
        equity[f] = cash + px.close[f] @ pos
        nxt = f + 1
        checked = f

    log = overlay_log if overlay_log is not None else pd.DataFrame()
    if not detail:
        traded = [np.abs(x["size"]) * x["price"] for x in fills]
        return EquityRun(equity=pd.Series(equity, index=market.dates, name="equity"),
                         cash=pd.Series(cash_arr, index=market.dates, name="cash"),
                         # summed as the trades table's column would be (pandas)
                         traded_value=float(pd.Series(np.concatenate(traded) if traded
                                                      else np.zeros(0)).sum()),
                         n_trades=int(sum(len(x) for x in traded)), overlay_log=log,
                         first_fill=None if first_fill is None else market.dates[first_fill],
                         margin_calls=margin_calls_frame(calls))
    return BacktestResult.from_fills(
        market.dates, market.tickers, equity=equity, cash=cash_arr, borrow=borrow_day,
        fills=Fills.from_parts(fills),
        legs=(np.asarray(fill_rows, dtype=np.int64), np.asarray(leg_states)),
        targets=targets,
        overlay_log=log,
        engine="vectorized",
        rejected_orders=0,
        margin_calls=margin_calls_frame(calls),
        info={"exec": p, "n_signals": int(len(plan.rows))},
        borrow_record=make_record(terms, ledger, book, market.dates, market.tickers),
    )
