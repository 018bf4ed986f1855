"""ArrayBroker vs backtrader's BackBroker on the same runs: the same fills and the same values.

Every comparison runs the same Cerebro twice, once per broker, and compares per-bar value, cash,
credit and every execution (to 1e-12 relative; in practice they are equal bit for bit). The fast
path is asserted taken (or not) so a test cannot pass by silently running BackBroker's code.
"""

from __future__ import annotations

import collections

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engines import random_market, random_targets

from squeeze_lab.strategies.array_broker import ArrayBroker, CreditBook, bar_days
from squeeze_lab.strategies.bt_feed import ArrayFeed, feeds_for
from squeeze_lab.strategies.bt_strategy import SqueezeBook
from squeeze_lab.strategies.engine import Recorder, make_cerebro, run_backtrader
from squeeze_lab.strategies.twin import run_vectorized

RTOL = 1e-12


class Tape(bt.Analyzer):
    """Per bar: value, cash, leverage-adjusted value, credit total, sizes; every executed bit."""

    def start(self) -> None:
        self.rows: list[tuple] = []
        self.fills: list[tuple] = []

    def next(self) -> None:
        br = self.strategy.broker
        sizes = tuple(br.getposition(d).size for d in self.datas)
        prices = tuple(br.getposition(d).price for d in self.datas)
        self.rows.append((br.getvalue(), br.getcash(), br.getvalue(lever=True),
                          br.get_value(mkt=True), sum(br.d_credit.values()), br.get_leverage(),
                          sizes, prices))

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Completed, order.Partial):
            for bit in order.executed.iterpending():
                self.fills.append((order.data._name, bit.dt, bit.size, bit.price, bit.comm,
                                   bit.pnl))
        elif order.status in (order.Margin, order.Rejected):
            self.fills.append((order.data._name, "refused", order.created.size))

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.fills.append((trade.data._name, "trade", trade.pnl, trade.pnlcomm))


class RandomTrader(bt.Strategy):
    """Buys, sells, reverses and closes random names with integer sizes on random bars."""

    params = (("seed", 0), ("every", 3))

    def start(self) -> None:
        self.rng = np.random.default_rng(self.p.seed)

    def next(self) -> None:
        if len(self) % self.p.every:
            return
        for d in self.datas:
            u = self.rng.random()
            size = int(self.rng.integers(1, 40))
            if u < 0.3:
                self.buy(data=d, size=size)
            elif u < 0.6:
                self.sell(data=d, size=size)
            elif u < 0.7:
                self.close(data=d)


def _assert_same(a: Tape, b: Tape) -> None:
    assert len(a.rows) == len(b.rows)
    assert a.fills == b.fills
    for ra, rb in zip(a.rows, b.rows, strict=True):
        np.testing.assert_allclose(np.asarray(ra[:6], float), np.asarray(rb[:6], float), rtol=RTOL)
        assert ra[6:] == rb[6:]


def _run(feeds_fn, broker: type | None, strategy=RandomTrader, setup=None, **kw):
    cerebro = bt.Cerebro(stdstats=False)
    if broker is not None:
        cerebro.broker = broker()
    cerebro.broker.set_cash(100_000.0)
    if setup is not None:
        setup(cerebro)
    for f in feeds_fn():
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(strategy, **kw)
    cerebro.addanalyzer(Tape, _name="tape")
    strat = cerebro.run()[0]
    return strat.analyzers.tape, cerebro.broker


@pytest.fixture(scope="module")
def market():
    return random_market(3, n_names=25, n_days=160)


def test_squeeze_book_same_as_backbroker(market):
    """The project's own run (SqueezeBook, make_cerebro's settings, slippage, borrow)."""
    targets = random_targets(market, 3, every=4)

    def run(broker_cls):
        c = make_cerebro(market, slippage_bps=8.0, borrow_bps=250.0)
        if broker_cls is not None:   # make_cerebro installs ArrayBroker: swap in BackBroker
            old = c.broker
            c.broker = broker_cls()
            c.broker.p.__dict__.update(old.p.__dict__)
            c.broker.comminfo = old.comminfo
        c.addstrategy(SqueezeBook, market=market, targets=targets)
        c.addanalyzer(Recorder, _name="rec")
        c.addanalyzer(Tape, _name="tape")
        s = c.run()[0]
        return s.analyzers.rec.get_analysis(), s.analyzers.tape, c.broker

    fast, tape_f, br_f = run(None)
    slow, tape_s, br_s = run(bt.brokers.BackBroker)
    assert isinstance(br_f, ArrayBroker) and br_f._fast
    assert type(br_s) is bt.brokers.BackBroker
    for key in ("value", "cash", "credit"):
        np.testing.assert_allclose(fast[key], slow[key], rtol=RTOL)
    assert fast["credit"][-1] > 0  # borrow was charged
    assert fast["fills"] == slow["fills"]
    _assert_same(tape_f, tape_s)
    # the Position objects end with BackBroker's last credit dates
    slow_pos = {d._name: p for d, p in br_s.positions.items()}
    for d, p in br_f.positions.items():
        assert getattr(p, "datetime", None) == getattr(slow_pos[d._name], "datetime", None)


def test_run_backtrader_reconciles_with_twin(market):
    targets = random_targets(market, 5, every=6)
    params = {"slippage_bps": 4.0, "borrow_bps": 120.0, "commission_bps": 2.0}
    res, _ = run_backtrader(market, params, targets=targets)
    twin = run_vectorized(market, targets, **params)
    rel = np.abs(res.equity.to_numpy() / twin.equity.to_numpy() - 1)
    assert rel.max() < 1e-9


@pytest.mark.parametrize("setting", ["default", "int2pnl", "noshortcash", "interest_long",
                                     "leverage", "slippage"])
def test_generic_strategies_same_as_backbroker(market, setting):
    """Plain backtrader usage: integer sizes, reversals, closes, Margin refusals, each setting."""
    def feeds():
        return feeds_for(market, market.tickers[:8])

    def setup(cerebro):
        br = cerebro.broker
        if setting == "int2pnl":
            br.setcommission(commission=0.001, interest=0.08)
            br.set_int2pnl(True)
        elif setting == "noshortcash":
            br.setcommission(commission=0.001, interest=0.05)
            br.set_shortcash(False)
        elif setting == "interest_long":
            br.setcommission(commission=0.002, interest=0.03, interest_long=True)
        elif setting == "leverage":
            br.setcommission(commission=0.001, interest=0.05, leverage=2.0)
        elif setting == "slippage":
            br.setcommission(commission=0.001, interest=0.05)
            br.set_slippage_perc(0.01)
        else:
            br.setcommission(commission=0.001, interest=0.05)

    a, br_a = _run(feeds, ArrayBroker, setup=setup, seed=11)
    b, _ = _run(feeds, None, setup=setup, seed=11)
    assert br_a._fast
    assert len(a.fills) > 50
    _assert_same(a, b)


def test_falls_back_to_backbroker_on_unaligned_feeds(market):
    """Feeds on different dates: BackBroker's own loop, same results."""
    def feeds():
        fs = feeds_for(market, market.tickers[:4])
        late = market.dates[20:]
        fs.append(ArrayFeed(dataname="LATE", dates=late,
                            close=market.close.iloc[20:, 5].to_numpy(),
                            open=market.open.iloc[20:, 5].to_numpy()))
        return fs

    def setup(cerebro):
        cerebro.broker.setcommission(commission=0.001, interest=0.05)

    a, br_a = _run(feeds, ArrayBroker, setup=setup, seed=4)
    b, _ = _run(feeds, None, setup=setup, seed=4)
    assert br_a._fast is False
    _assert_same(a, b)


def test_falls_back_for_futures_like_schemes(market):
    def feeds():
        return feeds_for(market, market.tickers[:4])

    def setup(cerebro):
        cerebro.broker.setcommission(commission=2.0, margin=1000.0, mult=10.0)

    a, br_a = _run(feeds, ArrayBroker, setup=setup, seed=2)
    b, _ = _run(feeds, None, setup=setup, seed=2)
    assert br_a._fast is False
    _assert_same(a, b)


def test_pandas_feeds_take_the_fast_path():
    """Any preloaded feeds on the same dates qualify, not only ArrayFeed."""
    idx = pd.bdate_range("2024-01-01", periods=60)
    rng = np.random.default_rng(0)

    def feeds():
        out = []
        for j in range(3):
            c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(idx))))
            df = pd.DataFrame({"open": c, "high": c * 1.01, "low": c * 0.99, "close": c,
                               "volume": 1e5}, index=idx)
            out.append(bt.feeds.PandasData(dataname=df, name=f"P{j}"))
        return out

    def setup(cerebro):
        cerebro.broker.setcommission(commission=0.001, interest=0.1)

    rng = np.random.default_rng(0)
    a, br_a = _run(feeds, ArrayBroker, setup=setup, seed=1, every=2)
    rng = np.random.default_rng(0)
    b, _ = _run(feeds, None, setup=setup, seed=1, every=2)
    assert br_a._fast
    _assert_same(a, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["get", "set", "pop", "popd", "add", "del"]),
                          st.lists(st.integers(0, 5), min_size=1, max_size=4),
                          st.floats(-10, 10)), max_size=40))
def test_creditbook_behaves_as_defaultdict(ops):
    keys = [object() for _ in range(6)]
    ref: collections.defaultdict = collections.defaultdict(float)
    book = CreditBook()
    for op, ks, x in ops:
        k = keys[ks[0]]
        if op == "get":
            assert book[k] == ref[k]
        elif op == "set":
            book[k] = x
            ref[k] = x
        elif op == "pop":
            assert book.pop(k, 0.0) == ref.pop(k, 0.0)
        elif op == "popd":
            if k in ref:
                assert book.pop(k) == ref.pop(k)
            else:
                with pytest.raises(KeyError):
                    book.pop(k)
        elif op == "del":
            if k in ref:
                del book[k]
                del ref[k]
            else:
                with pytest.raises(KeyError):
                    del book[k]
        else:
            uniq = list(dict.fromkeys(ks))
            slots = np.array([book.slot(keys[i]) for i in uniq], dtype=np.int64)
            book.add(slots, np.full(len(uniq), x))
            for i in uniq:
                ref[keys[i]] += x
        assert list(book) == list(ref)
        assert book.values() == list(ref.values())
        assert book.total() == sum(ref.values())   # the recorder's per-bar borrow total
        assert len(book) == len(ref)


@settings(max_examples=80, deadline=None)
@given(st.integers(700_000, 750_000), st.floats(0.0, 1.0, exclude_max=True),
       st.sampled_from([None, "UTC", "America/New_York", "Asia/Tokyo"]))
def test_bar_days_are_num2dates_days(day, frac, tzname):
    """The credit step's day per bar is ``num2date(x, tz).date().toordinal()``, stamps at the
    end of a day (rounded into the next by ``num2date``) and other timezones included."""
    from zoneinfo import ZoneInfo

    tz = None if tzname is None else ZoneInfo(tzname)
    nums = np.array([day + frac, day, day + 0.5, day + 1 - 2e-11, day + 1 - 1e-10,
                     bt.date2num(pd.Timestamp("2020-01-02 23:59:59.999989"))])
    expect = [bt.num2date(x, tz=tz, naive=True).date().toordinal() for x in nums]
    assert bar_days(nums, tz).tolist() == expect


def test_clone_order_is_backtraders_clone(market):
    """The broker's notification copies equal ``Order.clone()``: same attributes, own executed."""
    from squeeze_lab.strategies.array_broker import clone_order

    seen: list[tuple[dict, dict]] = []

    class Check(bt.Analyzer):
        def notify_order(self, order: bt.Order) -> None:
            state = dict(order.executed.__dict__)   # clone() marks the executed bits pending
            a = clone_order(order)
            after_a = dict(order.executed.__dict__)
            order.executed.__dict__.update(state)
            b = order.clone()
            assert after_a == order.executed.__dict__
            assert type(a) is type(b) and a is not order and a.executed is not order.executed
            da, db = dict(a.__dict__), dict(b.__dict__)
            ea, eb = da.pop("executed").__dict__, db.pop("executed").__dict__
            seen.append((da, db))
            assert da == db and ea == eb

    c = make_cerebro(market, borrow_bps=250.0)
    c.addstrategy(SqueezeBook, market=market, targets=random_targets(market, 4, every=5))
    c.addanalyzer(Check, _name="check")
    c.run()
    assert len(seen) > 10


def test_borrow_tables_are_read_in_place(market):
    """The per-name borrow schemes hold column views of the terms' tables; the broker reads the
    tables themselves (no per-name lists, no stacked copy)."""
    from squeeze_lab.strategies.borrow import resolve_terms
    from squeeze_lab.strategies.execution import price_arrays

    terms = resolve_terms("crowding", market, 250.0)
    c = make_cerebro(market, borrow=terms)
    c.addstrategy(SqueezeBook, market=market, targets=random_targets(market, 4, every=5),
                  borrow=terms)
    c.run()
    br = c.broker
    assert br._fast
    assert br._rate_rows is terms.rate
    np.testing.assert_array_equal(br._rate_col, np.arange(len(market.tickers)))
    assert br._mark_rows is price_arrays(market).close   # crowding fees: marked at the close
    flat = resolve_terms("flat", market, 250.0)
    c = make_cerebro(market, borrow=flat)
    c.addstrategy(SqueezeBook, market=market, targets=random_targets(market, 4, every=5),
                  borrow=flat)
    c.run()
    assert c.broker._fast and c.broker._rate_rows is flat.rate and c.broker._mark_rows is None


def test_run_backtrader_values_on_the_markets_closes(market):
    """run_backtrader hands the broker the market's carried closes: read in place, not copied;
    a table that does not match the feeds is not used."""
    from squeeze_lab.strategies import engine
    from squeeze_lab.strategies.execution import price_arrays

    made = []
    orig = engine.make_cerebro

    def spy(*a, **k):
        made.append(orig(*a, **k))
        return made[-1]

    engine.make_cerebro = spy
    try:
        run_backtrader(market, {}, targets=random_targets(market, 6, every=7))
    finally:
        engine.make_cerebro = orig
    br = made[0].broker
    assert br._fast and br._close is price_arrays(market).close

    c = make_cerebro(market)
    c.broker.p.close_table = price_arrays(market).close + 1.0   # not the feeds' closes
    c.addstrategy(SqueezeBook, market=market, targets=random_targets(market, 6, every=7))
    c.run()
    assert c.broker._fast and c.broker._close is not c.broker.p.close_table
    np.testing.assert_array_equal(c.broker._close, price_arrays(market).close)


@pytest.mark.parametrize("setting", ["default", "noshortcash", "leverage"])
def test_values_by_blocks_of_bars_as_bar_by_bar(market, setting, monkeypatch):
    """Valued a block of bars at a time while the positions stay (up to 64 bars) or one bar at
    a time: every value, cash, leverage and credit total is the same float."""
    def feeds():
        return feeds_for(market, market.tickers[:8])

    def setup(cerebro):
        cerebro.broker.setcommission(commission=0.001, interest=0.05,
                                     leverage=2.0 if setting == "leverage" else 1.0)
        cerebro.broker.set_shortcash(setting != "noshortcash")

    blocks, _ = _run(feeds, ArrayBroker, setup=setup, seed=5, every=9)
    monkeypatch.setattr(ArrayBroker, "value_block", 1)
    by_bar, br = _run(feeds, ArrayBroker, setup=setup, seed=5, every=9)
    assert br._fast and len(by_bar.fills) > 20
    assert blocks.rows == by_bar.rows and blocks.fills == by_bar.fills
