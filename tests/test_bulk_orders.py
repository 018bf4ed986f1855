"""Bulk orders (strategies.bulk_orders): SqueezeBook's batches filled by ArrayBroker against the
per-order path on the same broker and against plain BackBroker, on the same runs.

Each case runs the book three ways: in batches, one order at a time through ArrayBroker (a
SqueezeBook subclass that overrides ``notify_order`` forces it, which is the fallback rule
itself), and one order at a time through ``BackBroker``. Per bar values, cash, credit, every
position, every fill, every refusal and every account-limit record must be equal (bit for bit;
``BackBroker``'s values to 1e-12, as tests/test_array_broker.py holds them). Which path ran is
asserted, so a case cannot pass by silently taking the per-order path twice.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_borrow_engines import availability_case
from test_engines import random_market, random_targets

from squeeze_lab.feeds.borrow import borrow_table
from squeeze_lab.feeds.market import Market
from squeeze_lab.strategies import borrow as B
from squeeze_lab.strategies.array_broker import ArrayBroker
from squeeze_lab.strategies.bt_strategy import SqueezeBook
from squeeze_lab.strategies.engine import Recorder, make_cerebro, run_backtrader
from squeeze_lab.strategies.targets import LEGS, Targets

RTOL = 1e-12


class PerOrderBook(SqueezeBook):
    """Wants every order notification: the book trades one order at a time."""

    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)


class State(Recorder):
    """The recording plus every position (size, price) per bar: still one of ours (bulk)."""

    def start(self) -> None:
        super().start()
        self.rows: list[tuple] = []

    def next(self) -> None:
        super().next()
        br = self.strategy.broker
        self.rows.append((br.getvalue(lever=True), br.get_value(mkt=True), br.get_leverage(),
                          tuple((p.size, p.price) for p in map(br.getposition, self.datas))))


class Foreign(bt.Analyzer):
    """An analyzer that is not one of ours and wants every order."""

    def start(self) -> None:
        self.n = 0

    def notify_order(self, order: bt.Order) -> None:
        self.n += 1


def run(market, targets, way="bulk", *, exec_kw=None, borrow=None, setup=None, extra=None,
        strategy=None, **strat_kw):
    """The book on ``market`` in one of three ways: "bulk", "per_order", "backbroker"."""
    c = make_cerebro(market, borrow=borrow, **(exec_kw or {}))
    if way == "backbroker":   # make_cerebro installs ArrayBroker: swap in BackBroker
        old = c.broker
        c.broker = bt.brokers.BackBroker()
        c.broker.p.__dict__.update(old.p.__dict__)
        c.broker.comminfo = old.comminfo
        c.broker.set_cash(old.startingcash)
    if setup is not None:
        setup(c)
    cls = strategy or (SqueezeBook if way == "bulk" else PerOrderBook)
    c.addstrategy(cls, market=market, targets=targets, borrow=borrow, raise_on_reject=False,
                  **strat_kw)
    c.addanalyzer(State, _name="state")
    for name, an in (extra or {}).items():
        c.addanalyzer(an, _name=name)
    strat = c.run()[0]
    if way != "bulk" or strategy is not None:
        assert strat._bulk is False
    if strat._bulk:   # no bt.Order was made (checksubmit lists every order it checks)
        assert not c.broker.orders and not c.broker.pending
    elif c.broker.p.checksubmit:
        assert c.broker.orders
    return strat


def assert_same(a, b, exact: bool = True) -> None:
    ga, gb = a.analyzers.state.get_analysis(), b.analyzers.state.get_analysis()
    for key in ("dt", "value", "cash", "credit"):
        if exact:
            np.testing.assert_array_equal(ga[key], gb[key])
        else:
            np.testing.assert_allclose(ga[key], gb[key], rtol=RTOL)
    assert ga["fills"] == gb["fills"]
    ra, rb = a.analyzers.state.rows, b.analyzers.state.rows
    assert [r[3] for r in ra] == [r[3] for r in rb]
    if exact:
        assert [r[:3] for r in ra] == [r[:3] for r in rb]
    else:
        np.testing.assert_allclose([r[:3] for r in ra], [r[:3] for r in rb], rtol=RTOL)
    assert (a.rejected, a.rejections) == (b.rejected, b.rejections)
    assert a.margin_calls == b.margin_calls
    pa = {d._name: (p.size, p.price, getattr(p, "datetime", None)) for d, p in a.broker.positions.items()}
    pb = {d._name: (p.size, p.price, getattr(p, "datetime", None)) for d, p in b.broker.positions.items()}
    assert pa == pb
    ca = {d._name: v for d, v in a.broker.d_credit.items()}
    cb = {d._name: v for d, v in b.broker.d_credit.items()}
    assert ca.keys() == cb.keys()
    np.testing.assert_allclose(list(ca.values()), [cb[k] for k in ca], rtol=RTOL)


def three_ways(market, targets, **kw):
    bulk = run(market, targets, "bulk", **kw)
    per_order = run(market, targets, "per_order", **kw)
    back = run(market, targets, "backbroker", **kw)
    assert_same(bulk, per_order, exact=True)
    assert_same(bulk, back, exact=False)
    return bulk


@pytest.fixture(scope="module")
def market():
    return random_market(3, n_names=25, n_days=160)


def test_slippage_borrow_listings_and_delistings(market):
    targets = random_targets(market, 3, every=4)
    s = three_ways(market, targets, exec_kw={"slippage_bps": 8.0, "borrow_bps": 250.0})
    fills = s.analyzers.state.get_analysis()["fills"]
    assert len(fills["dt"]) > 300 and "delist_exit" in fills["reason"]
    assert s.analyzers.state.get_analysis()["credit"][-1] > 0


@pytest.mark.parametrize("setting", ["int2pnl", "noshortcash", "nochecksubmit", "fixed_slip"])
def test_broker_settings(market, setting):
    targets = random_targets(market, 7, every=9)

    def setup(c):
        if setting == "int2pnl":
            c.broker.set_int2pnl(True)
        elif setting == "noshortcash":
            c.broker.set_shortcash(False)
        elif setting == "nochecksubmit":
            c.broker.set_checksubmit(False)
        else:
            c.broker.set_slippage_fixed(0.05, slip_open=True, slip_match=True)

    three_ways(market, targets, exec_kw={"borrow_bps": 400.0}, setup=setup)


def gap_market() -> tuple[Market, Targets]:
    """3x long on 1x of cash, the open after the first signal gapping to 3x the close."""
    m = random_market(seed=5, n_names=8, n_days=30, listing=False)
    gap = {f: m.frame(f).copy() for f in ("open", "high", "low", "close", "volume")}
    gap["open"].iloc[4] = 3 * m.close.iloc[3]
    gap["high"].iloc[4] = np.maximum(gap["high"].iloc[4], gap["open"].iloc[4])
    m = Market(**gap, attributes=m.attributes, source="test", synthetic=True)
    dates = m.dates[[3, 10, 17]]
    legs = {leg: pd.DataFrame(0.0, index=dates, columns=m.tickers) for leg in LEGS}
    legs["long"].iloc[:, :] = 3.0 / len(m.tickers)
    legs["long"].iloc[1, :3] = 0.0
    legs["short"].iloc[2, 3:] = -1.0 / len(m.tickers)
    return m, Targets(legs=legs, resize=pd.DataFrame(True, index=dates, columns=m.tickers))


def test_refusals_at_the_fill_and_at_submission():
    m, tg = gap_market()
    s = three_ways(m, tg)   # the funding rule fits the close; the gapped open cannot be paid
    assert s.rejected > 0 and s.rejections[0]["status"] == "Margin"

    def fixed_fee(c):   # a per-share fee the funding rule does not budget for: refused at submit
        c.broker.setcommission(commission=4.0, commtype=bt.CommInfoBase.COMM_FIXED,
                               stocklike=True)

    s = three_ways(m, tg, setup=fixed_fee)
    assert s.rejected > 0
    assert s.rejections[0]["date"] == m.dates[3].date().isoformat()


def test_margin_calls_and_funding_cuts():
    m = random_market(seed=851, n_names=10, n_days=90)
    t = random_targets(m, seed=851, every=20, gross=3.4, hedge=0.2)
    s = three_ways(m, t, exec_kw={"commission_bps": 2.0, "slippage_bps": 5.0, "borrow_bps": 300.0},
                   max_leverage=3.5, margin_call_to=2.5, fractional=False)
    assert {r["rule"] for r in s.margin_calls} == {"max_leverage", "cash"}


def test_recalls_and_locate_cuts_with_per_name_borrow():
    m = random_market(5, n_names=20, n_days=120, listing=False)
    t = random_targets(m, seed=2, every=10, hedge=0.0)
    _, _, raw = availability_case(m, t)
    terms = B.resolve_terms("file", m, 50.0, borrow_table(raw, m.dates, m.tickers))
    s = three_ways(m, t, borrow=terms, exec_kw={"slippage_bps": 5.0})
    reasons = set(s.analyzers.state.get_analysis()["fills"]["reason"])
    assert any("recall" in r for r in reasons) and any("locate" in r for r in reasons)


def test_run_backtrader_takes_the_bulk_path_and_matches_per_order(market):
    """The engine's own run (recorder + the project's analyzers) is unchanged by bulk fills."""
    from squeeze_lab.analyzers.bt_analyzers import Exposures, LegAttribution

    targets = random_targets(market, 4, every=5)
    an = {"legs": (LegAttribution, {}), "exp": (Exposures, {})}
    res, out = run_backtrader(market, {"borrow_bps": 90.0}, targets=targets, analyzers=an)
    bulk_seen = {}
    orig = SqueezeBook._submit

    def spy(self, *a, **k):
        orig(self, *a, **k)
        bulk_seen[self._bulk] = True
    try:
        SqueezeBook._submit = spy
        res2, out2 = run_backtrader(market, {"borrow_bps": 90.0}, targets=targets,
                                    analyzers={**an, "foreign": (Foreign, {})})
        res3, _ = run_backtrader(market, {"borrow_bps": 90.0}, targets=targets, analyzers=an)
    finally:
        SqueezeBook._submit = orig
    assert bulk_seen == {False: True, True: True}
    pd.testing.assert_series_equal(res.equity, res2.equity, check_exact=True)
    pd.testing.assert_frame_equal(res.trades, res2.trades, check_exact=True)
    assert out["legs"] == out2["legs"] and out["exp"] == out2["exp"]
    pd.testing.assert_series_equal(res.equity, res3.equity, check_exact=True)


class TradeBook(SqueezeBook):
    """Wants trade notifications."""

    def notify_trade(self, trade: bt.Trade) -> None:
        pass


class OwnRecorder(Recorder):
    """One of ours, but it wants each order."""

    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)


FALLBACKS = {
    "analyzer": {"extra": {"foreign": Foreign}},
    "trade_analyzer": {"extra": {"trades": bt.analyzers.TradeAnalyzer}},
    "observer_trades": {"setup": lambda c: c.addobserver(bt.observers.Trades)},
    "recorder_override": {"extra": {"own": OwnRecorder}},
    "notify_trade": {"strategy": TradeBook},
    "observer": {"setup": lambda c: c.addobserver(bt.observers.BuySell)},
    "quicknotify": {"setup": lambda c: setattr(c.p, "quicknotify", True)},
    "filler": {"setup": lambda c: c.broker.set_filler(bt.broker.fillers.FixedSize(size=10**9))},
    "no_slip_match": {"setup": lambda c: c.broker.set_slippage_perc(0.001, slip_match=False)},
}


@pytest.mark.parametrize("why", sorted(FALLBACKS))
def test_falls_back_to_per_order_when_something_needs_orders(market, why):
    """Each trigger alone turns bulk off (``run`` asserts the path), and the run is the same."""
    targets = random_targets(market, 1, every=15)
    kw = FALLBACKS[why]
    strat = run(market, targets, "bulk", **kw)
    assert strat._bulk is False
    if why not in ("filler", "no_slip_match"):   # those change the fills themselves
        assert_same(run(market, targets, "bulk"), strat)


def test_backbroker_takes_the_per_order_path(market):
    targets = random_targets(market, 1, every=15)
    strat = run(market, targets, "backbroker", strategy=SqueezeBook)
    assert strat._bulk is False and not isinstance(strat.broker, ArrayBroker)


def test_quiet_analyzers_and_observers_keep_bulk(market):
    """Analyzers and observers that only read values (backtrader's own included) do not need
    orders: the book stays in bulk, and they see what they see on the per-order path."""
    targets = random_targets(market, 2, every=6)

    def setup(c):
        c.addobserver(bt.observers.Broker)
        c.addobserver(bt.observers.DrawDown)

    quiet = {"sharpe": bt.analyzers.SharpeRatio, "dd": bt.analyzers.DrawDown,
             "ret": bt.analyzers.TimeReturn}
    bulk = run(market, targets, "bulk", setup=setup, extra=quiet)
    per_order = run(market, targets, "per_order", setup=setup, extra=quiet)
    assert bulk._bulk is True and per_order._bulk is False
    assert_same(bulk, per_order)
    for name in quiet:
        assert (bulk.analyzers.getbyname(name).get_analysis()
                == per_order.analyzers.getbyname(name).get_analysis())
    np.testing.assert_array_equal(np.asarray(bulk.observers[1].lines.drawdown.array),
                                  np.asarray(per_order.observers[1].lines.drawdown.array))


class LeaveFast(State):
    """Sends the broker off its fast path at bar 30 (a signal bar: its batch is in flight)."""

    def next(self) -> None:
        super().next()
        br = self.strategy.broker
        if len(self.rows) == 31 and br._fast:
            br._leave_fast()
            br._fast = False


def test_a_broker_leaving_its_fast_path_fills_batches_in_flight(market, monkeypatch):
    """Batches submitted on the fast path are still filled (BackBroker's loop around them), the
    orders after go one by one, and the run is the per-order run."""
    targets = random_targets(market, 5, every=3)
    c = make_cerebro(market, borrow_bps=300.0)
    c.addstrategy(SqueezeBook, market=market, targets=targets, raise_on_reject=False)
    c.addanalyzer(LeaveFast, _name="state")
    slow_batches = []
    check = ArrayBroker._bulk_check

    def spy(self):
        slow_batches.append(not self._fast)
        check(self)
    monkeypatch.setattr(ArrayBroker, "_bulk_check", spy)
    moved = c.run()[0]
    assert moved._bulk is True and c.broker._fast is False and len(c.broker.orders) > 0
    assert slow_batches.count(True) == 1   # the batch in flight, checked and filled off the path
    assert_same(moved, run(market, targets, "per_order", exec_kw={"borrow_bps": 300.0}),
                exact=False)


def test_own_book_with_the_overlay(tmp_path):
    """A user's book file (strategies.own_book) with the overlay on the scenario market."""
    from test_own_book import END, START, WEIGHTS

    from squeeze_lab.feeds.scenario import scenario_market
    from squeeze_lab.strategies.borrow import flat_terms
    from squeeze_lab.strategies.bt_strategy import book_and_overlay

    m = scenario_market(seed=7, n_names=60, start=START, end=END)
    path = tmp_path / "book.csv"
    path.write_text(WEIGHTS)
    params = {**dict(SqueezeBook.params._gettuple()), "path": str(path), "enabled": True,
              "actions": ["cover_crowded", "hedge_basket"]}
    targets, log = book_and_overlay(m, params, flat_terms(*m.close.shape, 50.0))
    s = three_ways(m, targets, exec_kw={"slippage_bps": 5.0}, overlay_log=log)
    fills = s.analyzers.state.get_analysis()["fills"]
    assert len(fills["dt"]) > 6 and len(log) > 0, (len(fills["dt"]), len(log))


class HedgeAfter(SqueezeBook):
    """Places an order of its own after the book's on each rebalance bar (an index hedge)."""

    def next(self) -> None:
        n = len(self.leg_log)
        super().next()
        if len(self.leg_log) != n:
            d = self.datas[0]
            self.buy(data=d, size=float(int(0.1 * self.broker.getvalue() / d.close[0])))


class HedgeBefore(SqueezeBook):
    """Places an order of its own before the book's, on every bar (one share, buy then sell)."""

    def next(self) -> None:
        if len(self) > 1:
            self.buy(data=self.datas[1], size=1.0 if len(self) % 2 else -1.0)
        super().next()


class HedgeAfterPerOrder(HedgeAfter):
    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)


class HedgeBeforePerOrder(HedgeBefore):
    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)


@pytest.mark.parametrize("mine, reference", [(HedgeAfter, HedgeAfterPerOrder),
                                             (HedgeBefore, HedgeBeforePerOrder)])
def test_own_orders_beside_the_book_are_one_sequence(market, mine, reference):
    """A subclass's own orders in a bar with a batch: the batch becomes orders in its place
    (checked with the cash carried through all of them), as backtrader would have them."""
    targets = random_targets(market, 3, every=20)
    a = run(market, targets, "bulk", strategy=mine, cash_buffer=0.0)
    b = run(market, targets, "per_order", strategy=reference, cash_buffer=0.0)
    assert_same(a, b, exact=True)
    assert [d._name for d in a.broker.positions] == [d._name for d in b.broker.positions]
    if mine is HedgeAfter:   # the case the reviewer found: one order refused for cash
        assert a.rejected == 1 and a.rejections[0]["ticker"] == "T000"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(-50, 50), st.floats(-50, 50, allow_nan=False)),
       st.floats(0.5, 500, allow_nan=False), st.one_of(st.integers(-60, 60),
                                                        st.floats(-60, 60, allow_nan=False)),
       st.floats(0.5, 500, allow_nan=False))
def test_position_update_is_backtraders(size0, price0, size, price):
    """The submit check's and the fill's pseudo-update equal ``Position(size0, price0).update``
    (size, price, opened, closed; types included): opening, adding, reducing, closing and
    reversing, from long, short and flat."""
    from squeeze_lab.strategies.bulk_orders import position_update

    want = bt.Position(size0, price0).update(size, price)
    got = position_update(size0, bt.Position(size0, price0).price, size, price)
    assert [(type(v), v) for v in got] == [(type(v), v) for v in want]


class _OwnSlip(ArrayBroker):
    def _slip_up(self, pmax, price, doslip=True, lim=False):  # noqa: ANN001, ANN202
        return price + 0.01


@pytest.mark.parametrize(("setup", "slips"), [
    (lambda b: None, False),
    (lambda b: b.set_slippage_perc(0.01, slip_open=True), True),
    (lambda b: b.set_slippage_perc(0.01, slip_open=False), False),
    (lambda b: b.set_slippage_fixed(0.05, slip_open=True), True),
    (lambda b: b.set_slippage_perc(0.0, slip_open=True), False),
], ids=["none", "perc", "perc_not_open", "fixed", "zero"])
@pytest.mark.parametrize("cls", [ArrayBroker, _OwnSlip])
def test_fills_at_the_open_when_the_broker_slips_nothing(setup, slips, cls):
    """A batch's fills skip the slippage step only when BackBroker's own step would return the
    open: no slippage set or not on opens, and ``_slip_up``/``_slip_down`` not overridden."""
    from types import SimpleNamespace

    from squeeze_lab.strategies import bulk_orders as bulk

    broker = cls()
    setup(broker)
    assert bulk.slips_open(broker) is (slips or cls is _OwnSlip)
    data = SimpleNamespace(open=[10.0], high=[10.4], low=[9.7])
    for buy in (True, False):
        assert bulk.fill_price(broker, data, buy, bulk.slips_open(broker)) == \
            bulk.fill_price(broker, data, buy)
