"""Run the book through backtrader with fast, documented settings; return a :class:`BacktestResult`.

Cerebro settings (:func:`make_cerebro`) and why:

- ``stdstats=False``: no Broker/BuySell/Trades observers (they cost a Python call per bar per
  observer and their lines are not used; :class:`strategies.recorder.Recorder` keeps what we
  need).
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
- borrow (``run_backtrader``): one :class:`strategies.bt_borrow.BorrowCommInfo` per data, so each
  name pays its own fee through backtrader's ``get_credit_interest`` hook (``flat``: the same
  numbers as one ``interest`` for all; ``file``/``crowding``: per-name, per-day fees on the
  previous close, :mod:`strategies.borrow`); locates and recalls in :class:`SqueezeBook`.
- the broker is :class:`strategies.array_broker.ArrayBroker`: ``BackBroker`` with its per-bar
  credit interest and valuation as one NumPy step (same fills and values, bit for bit);
  ``run_backtrader`` gives it the market's carried closes (``close_table``) so it values on
  them in place instead of stacking a copy of the feeds' closes. :class:`SqueezeBook` submits
  each bar's orders to it as one batch (:mod:`strategies.bulk_orders`: the same submit check,
  fills, refusals and values as per order, no ``bt.Order`` objects or notifications) unless
  something needs the orders one by one (the rule is in that module's docstring).
- ``run_backtrader`` computes the book and overlay targets before the feeds are loaded (the
  signals' scratch memory is then reused by the feeds, not stacked on top of them) and hands
  them to :class:`SqueezeBook` (``targets=``, ``overlay_log=``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .array_broker import ArrayBroker
from .borrow import BorrowTerms, make_record, resolve_terms
from .bt_borrow import add_borrow
from .bt_feed import feeds_for
from .bt_strategy import SqueezeBook, book_and_overlay, flat_params
from .execution import (
    SqueezeCommInfo,
    dates_to_num,
    price_arrays,
    resolve_exec_params,
    slippage_rate,
)
from .recorder import Recorder
from .result import BacktestResult, margin_calls_frame
from .spec import EXECUTION
from .targets import LEGS, Targets

__all__ = ["CEREBRO_SETTINGS", "RECORDER", "Recorder", "make_cerebro", "run_backtrader",
           "split_params"]

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


def make_cerebro(market: Any, *, cash: float = 1_000_000.0, commission_bps: float = 1.0,
                 slippage_bps: float = 0.0, borrow_bps: float = 50.0,
                 checksubmit: bool = True, feeds: list[Any] | None = None,
                 borrow: BorrowTerms | None = None) -> bt.Cerebro:
    """A Cerebro with the project's settings, broker costs and one feed per ticker of ``market``.

    See the module docstring for each setting. ``feeds`` replaces :func:`feeds_for` (tests).
    ``borrow``: per-name borrow terms; each feed then gets its own
    :class:`~strategies.bt_borrow.BorrowCommInfo` and ``cerebro.borrow_ledger`` is the array
    their charges are booked in (market rows x tickers).
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
    if borrow is not None:
        cerebro.borrow_ledger = add_borrow(broker, [str(t) for t in market.tickers], borrow,
                                           price_arrays(market).close, p["commission_bps"])
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
    strat_keys = set(SqueezeBook.params._getkeys()) - {"market", "targets", "overlay_log"}
    unknown = sorted(set(flat) - exec_keys - strat_keys)
    if unknown:
        raise SqueezeLabError(f"unknown parameter {unknown[0]!r}: check the config section keys")
    exec_p = resolve_exec_params({k: v for k, v in flat.items() if k in exec_keys})
    strat = {k: v for k, v in flat.items() if k in strat_keys and k not in exec_keys}
    for key in ("fractional", "max_leverage", "margin_call_to", "cash_buffer"):  # its rules
        strat[key] = exec_p[key]
    return strat, exec_p


def run_backtrader(market: Any, params: Mapping[str, Any] | None = None,
                   targets: Targets | None = None,
                   analyzers: Mapping[str, tuple[type, Mapping[str, Any]]] | None = None,
                   checksubmit: bool = True, borrow: BorrowTerms | None = None
                   ) -> tuple[BacktestResult, dict[str, Any]]:
    """Run :class:`SqueezeBook` on ``market`` through backtrader.

    Parameters
    ----------
    market : feeds.market.Market
    params : book/overlay/execution params, flat or by config section (see :func:`split_params`).
    targets : execute these instead of computing book + overlay (tests, reconciliation).
    analyzers : {name: (AnalyzerClass, kwargs)} added to Cerebro; their ``get_analysis()`` is
        returned by name.
    borrow : the run's borrow terms (default: ``execution.borrow_model`` on ``market``; the
        ``file`` model needs them given, :func:`strategies.borrow.resolve_terms`).

    Returns
    -------
    (BacktestResult with ``engine="backtrader"``, {name: analysis}).
    """
    strat_p, exec_p = split_params(params)
    terms = borrow if borrow is not None else resolve_terms(exec_p["borrow_model"], market,
                                                            exec_p["borrow_bps"])
    overlay_log = None
    if targets is None:   # before the feeds are loaded: the signals' scratch memory is reused
        targets, overlay_log = book_and_overlay(
            market, {**dict(SqueezeBook.params._gettuple()), **strat_p}, terms)
    cerebro = make_cerebro(market, cash=exec_p["cash"], commission_bps=exec_p["commission_bps"],
                           slippage_bps=exec_p["slippage_bps"], borrow_bps=exec_p["borrow_bps"],
                           checksubmit=checksubmit, borrow=terms)
    cerebro.broker.p.close_table = price_arrays(market).close   # what the feeds hold: no copy
    cerebro.addstrategy(SqueezeBook, market=market, targets=targets, overlay_log=overlay_log,
                        borrow=terms, **strat_p)
    cerebro.addanalyzer(Recorder, _name=RECORDER)
    for name, spec in (analyzers or {}).items():
        if name == RECORDER:
            raise SqueezeLabError(f"analyzer name {name!r} is reserved: pick another name")
        cls, kwargs = spec
        cerebro.addanalyzer(cls, _name=name, **dict(kwargs or {}))
    strat = cerebro.run()[0]
    result = _result_from_run(market, strat, strat.analyzers.getbyname(RECORDER), exec_p)
    result.borrow_record = make_record(terms, cerebro.borrow_ledger, strat.borrow_book,
                                       market.dates, market.tickers)
    outputs = {name: strat.analyzers.getbyname(name).get_analysis() for name in (analyzers or {})}
    return result, outputs


def _result_from_run(market: Any, strat: SqueezeBook, rec: Recorder,
                     exec_p: dict[str, Any]) -> BacktestResult:
    """The run's :class:`BacktestResult` from the recorder (one assembly, see ``from_fills``)."""
    dates, tickers = market.dates, market.tickers
    got = rec.get_analysis()
    day_nums = np.floor(got["dt"]).astype(np.int64)
    market_days = np.floor(dates_to_num(dates)).astype(np.int64)
    if len(day_nums) != len(dates) or not np.array_equal(day_nums, market_days):
        raise SqueezeLabError(
            f"backtrader delivered {len(day_nums)} bars for {len(dates)} market dates: "
            "give every feed every market date (strategies.bt_feed.feeds_for does)"
        )
    log = strat.leg_log
    fill_rows = dates.get_indexer(pd.DatetimeIndex([d for d, _ in log])) + 1
    states = np.stack([st for _, st in log]) if log else np.zeros((0, len(LEGS), len(tickers)))
    return BacktestResult.from_fills(
        dates, tickers, equity=got["value"], cash=got["cash"], borrow=rec.borrow(),
        fills=rec.fills_on(market_days, tickers), legs=(fill_rows, states),
        targets=strat.targets,
        overlay_log=strat.overlay_log,
        engine="backtrader",
        rejected_orders=int(strat.rejected),
        margin_calls=margin_calls_frame(strat.margin_calls),
        info={"exec": exec_p, "cerebro": dict(CEREBRO_SETTINGS), "n_signals": int(len(strat.plan.rows))},
    )
