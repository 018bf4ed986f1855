"""Run the book through backtrader with fast, documented settings; return a :class:`BacktestResult`.

Cerebro settings (:func:`make_cerebro`) and why:

- ``stdstats=False``: no Broker/BuySell/Trades observers (they cost a Python call per bar per
  observer and their lines are not used; the recorder analyzer keeps what we need).
- ``preload=True, runonce=True``: feeds are loaded once (:class:`ArrayFeed` copies whole columns)
  and the loop runs in backtrader's vector mode.
- ``exactbars=False``: any non-zero value turns ``runonce`` off (and ``1`` also ``preload``), so
  it only slows the run; 500 names x 800 bars x 7 lines is ~22 MB of line buffers. (``1``,
  ``-1`` and bar-by-bar modes give the identical run, recorder included: tests/test_engines.py.)
- ``cheat_on_open=False`` and broker ``coc=False``/``coo=False``: market orders decided at a close
  fill at the next bar's open, never at the signal bar's own prices.
- broker ``checksubmit=True`` (default; ``checksubmit=`` changes it): each order is pseudo-executed
  at its signal close against the running cash before it is accepted, so an order the account
  cannot pay for is refused (``Margin``) as soon as it is submitted; :class:`SqueezeBook` counts
  those and raises. It costs one pseudo-execution and one notification per order, nothing per
  bar (an order that passes the check can still be refused at the fill if the open gapped; that
  is counted the same way).
- ``maxcpus=1``, ``quicknotify=False``: no process pool; notifications once per bar.
- ``shortcash=True``: short proceeds are cash, so a gross-2 / net-0 book is fully funded.
- ``int2pnl=False``: borrow interest stays in ``broker.d_credit`` (per data, cumulative) instead
  of being folded into the commission of the order that next reduces the position, so fills
  report commission only and borrow per date is the day-to-day change of ``d_credit``.
- slippage via ``set_slippage_perc(slip_open=True, slip_match=True, slip_out=False)`` (fills at
  the open slipped, capped at high/low); commission and borrow via
  :class:`strategies.execution.SqueezeCommInfo` (``addcommissioninfo``).
- the broker is :class:`strategies.array_broker.ArrayBroker`: ``BackBroker`` with its per-bar
  credit interest and valuation as one NumPy step (same fills and values, bit for bit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .array_broker import ArrayBroker
from .bt_feed import feeds_for
from .bt_strategy import SqueezeBook, flat_params
from .execution import (
    SqueezeCommInfo,
    costs_frame,
    dates_to_num,
    frames_by_leg,
    legs_from_log,
    resolve_exec_params,
    shares_from_fills,
    slippage_rate,
    trades_frame,
)
from .result import BacktestResult
from .spec import EXECUTION
from .targets import LEGS, Targets

#: The Cerebro keyword arguments :func:`make_cerebro` uses (see the module docstring).
CEREBRO_SETTINGS: dict[str, Any] = {
    "stdstats": False,
    "preload": True,
    "runonce": True,
    "exactbars": False,
    "cheat_on_open": False,
    "quicknotify": False,
    "maxcpus": 1,
}

#: Name under which the recorder analyzer is added.
RECORDER = "_squeeze_recorder"


class Recorder(bt.Analyzer):
    """Broker value, cash and cumulative borrow per bar (preallocated arrays) and every fill.

    ``next()`` stores three floats per bar; ``notify_order`` keeps each execution bit with the
    order's leg/reason labels. Needs the broker's ``int2pnl`` off (see :func:`make_cerebro`).
    """

    def start(self) -> None:
        if getattr(self.strategy.broker.p, "int2pnl", False):
            raise SqueezeLabError("Recorder needs cerebro.broker.set_int2pnl(False) to read borrow costs")
        n = max((d.buflen() for d in self.datas), default=0) or 256
        self._value = np.full(n, np.nan)
        self._cash = np.full(n, np.nan)
        self._credit = np.full(n, np.nan)
        self._dt = np.full(n, np.nan)
        self._n = 0
        self.fills: dict[str, list[Any]] = {k: [] for k in
                                            ("dt", "data", "size", "price", "comm", "leg", "reason")}

    def _grow(self) -> None:
        for name in ("_value", "_cash", "_credit", "_dt"):
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.full(len(arr), np.nan)]))

    def next(self) -> None:
        i = len(self.strategy) - 1
        if i >= len(self._value):
            self._grow()
        broker = self.strategy.broker
        self._value[i] = broker.getvalue()
        self._cash[i] = broker.getcash()
        self._credit[i] = sum(broker.d_credit.values())
        self._dt[i] = self.strategy.datetime[0]
        self._n = i + 1

    def notify_order(self, order: bt.Order) -> None:
        if order.status not in (order.Completed, order.Partial):
            return
        f = self.fills
        for bit in order.executed.iterpending():
            f["dt"].append(bit.dt)
            f["data"].append(order.data._name)
            f["size"].append(bit.size)
            f["price"].append(bit.price)
            f["comm"].append(bit.comm)
            f["leg"].append(order.info.get("leg", ""))
            f["reason"].append(order.info.get("reason", ""))

    def get_analysis(self) -> dict[str, Any]:
        n = self._n
        return {"dt": self._dt[:n], "value": self._value[:n], "cash": self._cash[:n],
                "credit": self._credit[:n], "fills": self.fills}


def make_cerebro(market: Any, *, cash: float = 1_000_000.0, commission_bps: float = 1.0,
                 slippage_bps: float = 0.0, borrow_bps: float = 50.0,
                 checksubmit: bool = True, feeds: list[Any] | None = None) -> bt.Cerebro:
    """A Cerebro with the project's settings, broker costs and one feed per ticker of ``market``.

    See the module docstring for each setting. ``feeds`` replaces :func:`feeds_for` (tests).
    """
    p = resolve_exec_params(cash=cash, commission_bps=commission_bps, slippage_bps=slippage_bps,
                            borrow_bps=borrow_bps)
    cerebro = bt.Cerebro(**CEREBRO_SETTINGS)
    cerebro.broker = broker = ArrayBroker()
    broker.set_cash(p["cash"])
    broker.set_checksubmit(bool(checksubmit))
    broker.set_coc(False)
    broker.set_coo(False)
    broker.set_shortcash(True)
    broker.set_int2pnl(False)
    slip = slippage_rate(p["slippage_bps"])
    if slip:
        broker.set_slippage_perc(slip, slip_open=True, slip_limit=True, slip_match=True,
                                 slip_out=False)
    broker.addcommissioninfo(SqueezeCommInfo.from_bps(p["commission_bps"], p["borrow_bps"]))
    for feed in feeds if feeds is not None else feeds_for(market):
        cerebro.adddata(feed, name=feed._name)
    return cerebro


def split_params(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(strategy params, execution params) from a flat dict or a config with sections.

    Accepts ``{"book": {...}, "overlay": {...}, "execution": {...}}`` (other sections ignored)
    or one flat mapping; unknown keys are an error naming them.
    """
    params = dict(params or {})
    if any(isinstance(params.get(s), Mapping) for s in ("book", "overlay", "execution")):
        flat = flat_params(params.get("book"), params.get("overlay"), params.get("execution"))
    else:
        flat = params
    exec_keys = set(EXECUTION.names)
    strat_keys = set(SqueezeBook.params._getkeys()) - {"market", "targets"}
    unknown = sorted(set(flat) - exec_keys - strat_keys)
    if unknown:
        raise SqueezeLabError(f"unknown parameter {unknown[0]!r}: check the config section keys")
    exec_p = resolve_exec_params({k: v for k, v in flat.items() if k in exec_keys})
    strat = {k: v for k, v in flat.items() if k in strat_keys and k not in exec_keys}
    strat["fractional"] = exec_p["fractional"]
    return strat, exec_p


def run_backtrader(market: Any, params: Mapping[str, Any] | None = None,
                   targets: Targets | None = None,
                   analyzers: Mapping[str, tuple[type, Mapping[str, Any]]] | None = None,
                   checksubmit: bool = True) -> tuple[BacktestResult, dict[str, Any]]:
    """Run :class:`SqueezeBook` on ``market`` through backtrader.

    Parameters
    ----------
    market : feeds.market.Market
    params : book/overlay/execution params, flat or by config section (see :func:`split_params`).
    targets : execute these instead of computing book + overlay (tests, reconciliation).
    analyzers : {name: (AnalyzerClass, kwargs)} added to Cerebro; their ``get_analysis()`` is
        returned by name.

    Returns
    -------
    (BacktestResult with ``engine="backtrader"``, {name: analysis}).
    """
    strat_p, exec_p = split_params(params)
    cerebro = make_cerebro(market, cash=exec_p["cash"], commission_bps=exec_p["commission_bps"],
                           slippage_bps=exec_p["slippage_bps"], borrow_bps=exec_p["borrow_bps"],
                           checksubmit=checksubmit)
    cerebro.addstrategy(SqueezeBook, market=market, targets=targets, **strat_p)
    cerebro.addanalyzer(Recorder, _name=RECORDER)
    for name, spec in (analyzers or {}).items():
        if name == RECORDER:
            raise SqueezeLabError(f"analyzer name {name!r} is reserved: pick another name")
        cls, kwargs = spec
        cerebro.addanalyzer(cls, _name=name, **dict(kwargs or {}))
    strat = cerebro.run()[0]
    rec = strat.analyzers.getbyname(RECORDER).get_analysis()
    result = _result_from_run(market, strat, rec, exec_p)
    outputs = {name: strat.analyzers.getbyname(name).get_analysis() for name in (analyzers or {})}
    return result, outputs


def _result_from_run(market: Any, strat: SqueezeBook, rec: dict[str, Any],
                     exec_p: dict[str, Any]) -> BacktestResult:
    dates, tickers = market.dates, market.tickers
    n_rows, n_names = len(dates), len(tickers)
    day_nums = np.floor(rec["dt"]).astype(np.int64)
    market_days = np.floor(dates_to_num(dates)).astype(np.int64)
    if len(day_nums) != n_rows or not np.array_equal(day_nums, market_days):
        raise SqueezeLabError(
            f"backtrader delivered {len(day_nums)} bars for {n_rows} market dates: "
            "give every feed every market date (strategies.bt_feed.feeds_for does)"
        )
    fills = rec["fills"]
    col_of = {str(t): j for j, t in enumerate(tickers)}
    row_of = {int(d): i for i, d in enumerate(market_days)}
    rows = np.array([row_of[int(np.floor(x))] for x in fills["dt"]], dtype=np.int64)
    cols = np.array([col_of[n] for n in fills["data"]], dtype=np.int64)
    size = np.asarray(fills["size"], dtype=np.float64)
    comm = np.asarray(fills["comm"], dtype=np.float64)
    trades = trades_frame(dates, tickers, rows, cols, size, np.asarray(fills["price"], np.float64),
                          comm, np.asarray(fills["leg"], dtype=object),
                          np.asarray(fills["reason"], dtype=object))
    shares = pd.DataFrame(shares_from_fills(n_rows, n_names, rows, cols, size),
                          index=dates, columns=tickers)
    log_dates = pd.DatetimeIndex([d for d, _ in strat.leg_log])
    fill_rows = dates.get_indexer(log_dates) + 1
    states = (np.stack([s for _, s in strat.leg_log]) if strat.leg_log
              else np.zeros((0, len(LEGS), n_names)))
    leg_arr = legs_from_log(n_rows, n_names, fill_rows, states)
    comm_day = np.zeros(n_rows)
    np.add.at(comm_day, rows, comm)
    credit = rec["credit"]
    borrow = np.diff(credit, prepend=0.0)
    return BacktestResult(
        equity=pd.Series(rec["value"], index=dates, name="equity"),
        cash=pd.Series(rec["cash"], index=dates, name="cash"),
        shares=shares,
        leg_shares=frames_by_leg(leg_arr, dates, tickers),
        trades=trades,
        costs=costs_frame(dates, comm_day, borrow),
        targets=strat.targets,
        overlay_log=strat.overlay_log,
        engine="backtrader",
        rejected_orders=int(strat.rejected),
        info={"exec": exec_p, "cerebro": dict(CEREBRO_SETTINGS), "n_signals": int(len(strat.plan.rows))},
    )

