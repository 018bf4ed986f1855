"""Bulk orders: a rebalance bar's market orders handed to the broker at once, filled without
``bt.Order`` objects, with ``BackBroker``'s arithmetic order by order.

backtrader turns every order into an ``Order`` (two ``OrderData``), a submit check, a fill, three
notification copies each delivered to the strategy and every analyzer, and ``Trade`` updates:
most of an event-driven book's cost beyond the bare feed loop. :class:`SqueezeBook` instead
hands :class:`~strategies.array_broker.ArrayBroker` one :class:`OrderBatch` per bar (sizes per
data in submission order, sells then buys, with their leg/reason labels). The broker checks it
where ``BackBroker`` checks submitted orders, at the next bar's ``next`` (``checksubmit``:
:func:`pseudo_execute`, cash carried order to order as
``BackBroker.check_submitted`` does, refused orders marked ``Margin``) and fills the accepted
orders at the next bar's open (slippage capped at high/low by ``BackBroker``'s own
``_slip_up``/``_slip_down``) with :func:`execute`, a line-by-line copy of
``BackBroker._execute`` for a real execution: the same ``CommInfo`` calls, the same cash
sequence, ``Position.update``, ``shortcash``, ``int2pnl``, a fill whose opening part the cash
cannot pay becoming its closing part plus a ``Margin`` refusal. The results are the same floats
(tests/test_bulk_orders.py compares the bulk path with the per-order path and with plain
``BackBroker``). The fills reach the strategy's analyzers as one :class:`FillBatch` per bar
(:meth:`strategies.recorder.Recorder.notify_fills`), refusals the strategy as records, both at
the moment backtrader would deliver the order notifications (the strategy's next ``_notify``).

The rule (:func:`bulk_ready`, checked on the strategy's first order bar): bulk only when nothing
can observe individual orders, otherwise every order goes through backtrader as before —

- the broker is an :class:`~strategies.array_broker.ArrayBroker` on its fast path
  (``ArrayBroker.bulk_ready``: preloaded aligned datas, stock-like schemes) with no volume
  ``filler``, no ``coc``/``coo``, no order history, and slippage that always gives a price
  (``slip_match``);
- the strategy class does not override ``notify_order``, ``notify_trade`` or
  ``_addnotification`` (a user's subclass that wants orders gets them);
- no analyzer (child analyzers and observers' analyzers included) receives orders or trades:
  it does not override ``notify_order``/``notify_trade`` (``_notify_order``/``_notify_trade``)
  of ``bt.Analyzer`` — or, for a :class:`~strategies.recorder.Recorder` (the project's
  analyzers, which take the fills in bulk), of ``Recorder``. backtrader's ``TradeAnalyzer``,
  ``Transactions``, ``SQN`` or ``PyFolio`` mean per-order; ``SharpeRatio``, ``DrawDown``,
  ``TimeReturn``... do not;
- every observer only reads the broker (``Broker``, ``Cash``, ``Value``, ``DrawDown``,
  ``TimeReturn``... exactly): ``BuySell`` and ``Trades`` (``stdstats=True``'s) and any other
  observer read the strategy's order and trade lists, so they mean per-order; so does Cerebro's
  ``quicknotify``.

In bulk mode the broker keeps no ``Order`` objects (``broker.orders`` stays empty, no order
``ref`` is drawn) and the strategy no ``Trade`` objects; positions, cash, credit and values are
``BackBroker``'s. A strategy that places orders of its own (``buy``/``sell`` in a subclass's
``next``) in a bar with a batch leaves bulk mode there for good: the batch becomes orders in its
place in the sequence (before a later order, after an earlier one:
:meth:`strategies.array_broker.ArrayBroker.submit`), so all are checked with the cash carried
through them and filled in submission order, as backtrader would have them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import backtrader as bt

#: Strategy methods whose backtrader behaviour bulk mode relies on (overriding one = per-order).
_STRATEGY_HOOKS = ("notify_order", "notify_trade", "_addnotification")
#: Analyzer methods that receive orders and trades (overriding one = per-order).
_ANALYZER_HOOKS = ("notify_order", "notify_trade", "_notify_order", "_notify_trade")
#: Observers that read only the broker's cash and value (and their own analyzers): every other
#: observer may read the strategy's order and trade lists (``BuySell``, ``Trades`` do).
_QUIET_OBSERVERS = (bt.observers.Broker, bt.observers.Cash, bt.observers.Value,
                    bt.observers.FundValue, bt.observers.FundShares, bt.observers.DrawDown,
                    bt.observers.DrawDownLength, bt.observers.DrawDown_Old,
                    bt.observers.TimeReturn, bt.observers.LogReturns, bt.observers.LogReturns2,
                    bt.observers.Benchmark)


@dataclass
class OrderBatch:
    """One bar's market orders of one strategy, in submission order (``size`` > 0 buys)."""

    owner: Any
    datas: list[Any]
    size: list[float]
    price: list[float]          # the created price: each data's close on the submission bar
    dt: float                   # the submission bar's date number
    leg: list[str]
    reason: list[str]
    accepted: list[bool] = field(default_factory=list)


@dataclass
class FillBatch:
    """The fills of one bar in execution order, as an order's executed bits would carry them."""

    dt: list[float] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)
    size: list[float] = field(default_factory=list)
    price: list[float] = field(default_factory=list)
    comm: list[float] = field(default_factory=list)        # closedcomm + openedcomm
    closed: list[float] = field(default_factory=list)
    openedcomm: list[float] = field(default_factory=list)
    comminfo: list[Any] = field(default_factory=list)
    leg: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)


def _overrides(obj: Any, base: type, names: tuple[str, ...]) -> bool:
    return any(getattr(type(obj), n) is not getattr(base, n) for n in names)


def _analyzers_quiet(analyzers: Any) -> bool:
    """No analyzer (or child) listens to orders or trades beyond what it is given in bulk."""
    from .recorder import Recorder

    for a in analyzers:
        base = Recorder if isinstance(a, Recorder) else bt.Analyzer
        if _overrides(a, base, _ANALYZER_HOOKS) or not _analyzers_quiet(a._children):
            return False
    return True


def bulk_ready(strategy: Any, own: type) -> bool:
    """Can ``strategy`` (an instance of ``own`` or a subclass) trade in batches? See the module
    docstring for the rule."""
    ready = getattr(strategy.broker, "bulk_ready", None)
    return bool(ready is not None and ready()
                and not _overrides(strategy, own, _STRATEGY_HOOKS)
                and not getattr(strategy.cerebro.p, "quicknotify", False)
                and all(type(o) in _QUIET_OBSERVERS for o in strategy.observers)
                and _analyzers_quiet(itertools.chain(strategy.analyzers,
                                                     strategy._slave_analyzers)))


def deliver(analyzers: Any, fills: FillBatch) -> None:
    """Hand a fill batch to the analyzers that take one (:meth:`strategies.recorder.Recorder.
    notify_fills`), walking them as ``Analyzer._notify_order`` does (children first)."""
    for a in analyzers:
        deliver(a._children, fills)
        take = getattr(a, "notify_fills", None)
        if take is not None:
            take(fills)


# --------------------------------------------------------------------------- the arithmetic
def position_update(size0: float, price0: float, size: float, price: float
                    ) -> tuple[float, float, float, float]:
    """``Position(size0, price0).update(size, price)``: (size, price, opened, closed) after
    adding ``size`` at ``price``, without making a ``Position`` (backtrader's arithmetic, once
    per order in the submit check and the fill's pseudo-update)."""
    new = size0 + size
    if not new:
        return new, 0.0, 0, size
    if not size0:
        return new, price, size, 0
    if size0 > 0:
        if size > 0:   # increased
            return new, (price0 * size0 + size * price) / new, size, 0
        if new > 0:    # reduced
            return new, price0, 0, size
        return new, price, new, -size0   # reversed
    if size < 0:
        return new, (price0 * size0 + size * price) / new, size, 0
    if new < 0:
        return new, price0, 0, size
    return new, price, new, -size0


def pseudo_execute(broker: Any, ci: Any, held: tuple[float, float], size: float, price: float,
                   cash: float) -> tuple[float, tuple[float, float]]:
    """``BackBroker._execute(order, cash=cash, position=position)``: the submit check of a
    market order created at ``price`` (no ``coo``) on a position copy holding ``held`` (size,
    price); returns the cash left (below 0: refused, and the next order is checked against
    that) and the copy's (size, price) after the order."""
    pprice_orig = held[1]
    psize, pprice, opened, closed = position_update(held[0], held[1], size, price)
    if closed:
        cash += _closed_cash(broker, ci, closed, pprice_orig) + 0 * ci.stocklike
        cash -= ci.getcommission(closed, price)
    if opened:
        cash -= _opened_cash(broker, ci, opened, price)
        cash -= ci.getcommission(opened, price)
    return cash, (psize, pprice)


def _closed_cash(broker: Any, ci: Any, closed: float, pprice_orig: float) -> float:
    """``_execute``'s cash back for the ``closed`` part (its value, over leverage if positive)."""
    if broker.p.shortcash:
        closedvalue = ci.getvaluesize(-closed, pprice_orig)
    else:
        closedvalue = ci.getoperationcost(closed, pprice_orig)
    closecash = closedvalue
    if closedvalue > 0:
        closecash /= ci.get_leverage()
    return closecash


def _opened_cash(broker: Any, ci: Any, opened: float, price: float) -> float:
    """``_execute``'s cash paid for the ``opened`` part (its value, over leverage if positive)."""
    openedvalue = (ci.getvaluesize(opened, price) if broker.p.shortcash
                   else ci.getoperationcost(opened, price))
    opencash = openedvalue
    if openedvalue > 0:
        opencash /= ci.get_leverage()
    return opencash


def _close_part(broker: Any, ci: Any, position: Any, closed: float, pprice_orig: float,
                price: float, pnl: float) -> float:
    """The closing part of ``_execute``: cash back, commission; returns the closing commission."""
    cash = broker.cash
    cash += _closed_cash(broker, ci, closed, pprice_orig) + pnl * ci.stocklike
    closedcomm = ci.getcommission(closed, price)
    cash -= closedcomm
    cash += ci.cashadjust(-closed, position.adjbase, price)
    broker.cash = cash
    return closedcomm


def _open_part(broker: Any, ci: Any, position: Any, opened: float, psize: float,
               price: float) -> tuple[float, float]:
    """The opening part of ``_execute``: (opened, commission), opened 0 when cash falls short."""
    cash = broker.cash
    cash -= _opened_cash(broker, ci, opened, price)
    openedcomm = ci.getcommission(opened, price)
    cash -= openedcomm
    if cash < 0.0:
        return 0, 0.0
    if abs(psize) > abs(opened):
        cash += ci.cashadjust(psize - opened, position.adjbase, price)
    position.adjbase = price
    broker.cash = cash
    return opened, openedcomm


def execute(broker: Any, data: Any, size: float, price: float, dt: float, when: Any,
            fills: FillBatch, leg: str, reason: str) -> bool:
    """``BackBroker._execute(order, ago=0, price=price)`` for a market order of ``size`` on
    ``data`` (no volume filler, no ``_compensate``): cash, position, ``int2pnl``; the fill is
    appended to ``fills``. ``dt``, ``when``: ``data.datetime[0]`` and
    ``data.datetime.datetime()``. Returns False when the opening part was refused for cash
    (the order ends ``Margin``)."""
    ci = broker.getcommissioninfo(data)
    position = broker.positions[data]
    pprice_orig = position.price
    psize, pprice, opened, closed = position_update(position.size, pprice_orig, size, price)
    pnl = ci.profitandloss(-closed, pprice_orig, price)
    closedcomm = _close_part(broker, ci, position, closed, pprice_orig, price, pnl) if closed else 0.0
    popened = opened
    openedcomm = 0.0
    if opened:
        opened, openedcomm = _open_part(broker, ci, position, opened, psize, price)
    execsize = closed + opened
    if execsize:
        ci.confirmexec(execsize, price)
        position.update(execsize, price, when)
        if closed and broker.p.int2pnl:
            closedcomm += broker.d_credit.pop(data, 0.0)
        fills.dt.append(dt)
        fills.data.append(data)
        fills.size.append(execsize)
        fills.price.append(price)
        fills.comm.append(closedcomm + openedcomm)
        fills.closed.append(closed)
        fills.openedcomm.append(openedcomm)
        fills.comminfo.append(ci)
        fills.leg.append(leg)
        fills.reason.append(reason)
    return not (popened and not opened)


def fill_price(broker: Any, data: Any, buy: bool, slips: bool = True) -> float:
    """``BackBroker._try_exec`` / ``_try_exec_market``'s price for a market order (no ``coc``):
    the open, slipped and capped at the high (buys) or the low (sells). ``slips=False``
    (:func:`slips_open`): the broker slips no open, so the price is the open."""
    popen = getattr(data, "tick_open", None)
    if popen is None:
        popen = data.open[0]
    if not slips:
        return popen
    if buy:
        phigh = getattr(data, "tick_high", None)
        return broker._slip_up(data.high[0] if phigh is None else phigh, popen,
                               doslip=broker.p.slip_open)
    plow = getattr(data, "tick_low", None)
    return broker._slip_down(data.low[0] if plow is None else plow, popen,
                             doslip=broker.p.slip_open)


def slips_open(broker: Any) -> bool:
    """Can ``broker`` move a market order's fill off the open? Not when ``BackBroker``'s own
    ``_slip_up``/``_slip_down`` run without ``slip_open`` or with no slippage set (they return
    the open as given)."""
    cls, p = type(broker), broker.p
    own = (cls._slip_up is bt.brokers.BackBroker._slip_up
           and cls._slip_down is bt.brokers.BackBroker._slip_down)
    return not own or bool(p.slip_open and (p.slip_perc or p.slip_fixed))


def refusal(data: Any, size: float, created_dt: float) -> dict[str, Any]:
    """What a ``Margin`` notification tells: the data, the order's created size and date."""
    return {"data": data, "size": size, "dt": created_dt, "status": bt.Order.Margin}
