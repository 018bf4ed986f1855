"""Analyzers read the closes once at stop() from the feeds' buffers: the same as a per-bar read.

A spy analyzer reads ``data.close[0]`` on every bar (what the analyzers used to do); the closes
gathered at ``stop()`` must equal it on feeds that start late, end early and tick on other dates,
and the analyzers' output must not depend on the buffer mode (``exactbars`` keeps a per-bar read).
"""

from __future__ import annotations

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from test_engines import random_market, random_targets

from squeeze_lab.analyzers.bt_analyzers import Exposures, LegAttribution, closes_at
from squeeze_lab.strategies.bt_feed import ArrayFeed, feeds_for
from squeeze_lab.strategies.bt_strategy import SqueezeBook
from squeeze_lab.strategies.engine import make_cerebro


class Spy(bt.Analyzer):
    def start(self) -> None:
        self.dt: list[float] = []
        self.rows: list[list[float]] = []

    def next(self) -> None:
        self.dt.append(self.strategy.datetime[0])
        self.rows.append([d.close[0] if len(d) else np.nan for d in self.datas])

    def stop(self) -> None:
        self.gathered = closes_at(list(self.datas), np.asarray(self.dt))


def test_closes_at_equals_a_per_bar_read():
    market = random_market(8, n_names=6, n_days=90, listing=False)
    d = market.dates
    feeds = feeds_for(market, market.tickers[:3])
    c = market.close.to_numpy()
    feeds.append(ArrayFeed(dataname="LATE", dates=d[30:], close=c[30:, 3]))
    feeds.append(ArrayFeed(dataname="EARLY_END", dates=d[:50], close=c[:50, 4]))
    feeds.append(ArrayFeed(dataname="ODD_DAYS", dates=d[::3], close=c[::3, 5]))
    cerebro = bt.Cerebro(stdstats=False)
    for f in feeds:
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(bt.Strategy)
    cerebro.addanalyzer(Spy, _name="spy")
    spy = cerebro.run()[0].analyzers.spy
    per_bar = np.asarray(spy.rows)
    assert np.isnan(per_bar[:, 3]).any() and np.isfinite(per_bar[:, 4]).all()
    np.testing.assert_array_equal(spy.gathered, per_bar)


@pytest.mark.parametrize("exactbars", [False, 1])
def test_analysis_independent_of_buffer_mode(exactbars):
    market = random_market(9, n_names=12, n_days=120)
    targets = random_targets(market, 9, every=10)

    def run(eb):
        c = make_cerebro(market)
        c.p.exactbars = eb
        c.addstrategy(SqueezeBook, market=market, targets=targets)
        c.addanalyzer(LegAttribution, _name="legs")
        c.addanalyzer(Exposures, _name="exp")
        s = c.run()[0]
        return (s.analyzers.legs, s.analyzers.exp)

    base = run(False)
    other = run(exactbars)
    assert base[0]._per_bar is False
    assert other[0]._per_bar is bool(exactbars)
    for a, b in zip(base, other, strict=True):
        assert json.dumps(a.get_analysis(), sort_keys=True) == json.dumps(b.get_analysis(),
                                                                          sort_keys=True)
    frame = base[1]._close_frame()
    expect = market.close.ffill().bfill()  # unlisted bars carry the first open / last close
    listed = market.tradable.to_numpy()
    np.testing.assert_array_equal(frame.to_numpy()[listed], expect.to_numpy()[listed])
    assert isinstance(frame.index, pd.DatetimeIndex)


def test_analyzers_share_one_recording():
    """Several recorders on one strategy: the first writes the tape, the others read it, and
    each analysis is the same as with that analyzer alone."""
    from squeeze_lab.analyzers.bt_analyzers import EpisodeDrawdowns, Performance
    from squeeze_lab.strategies.recorder import Recorder

    market = random_market(11, n_names=10, n_days=120)
    targets = random_targets(market, 11, every=9)
    kinds = {"legs": LegAttribution, "exp": Exposures, "dd": EpisodeDrawdowns,
             "perf": Performance}

    def run(names, recorder=True):
        c = make_cerebro(market)
        c.addstrategy(SqueezeBook, market=market, targets=targets)
        if recorder:
            c.addanalyzer(Recorder, _name="rec")
        for n in names:
            c.addanalyzer(kinds[n], _name=n)
        return c.run()[0]

    together = run(list(kinds))
    writers = [a for a in together.analyzers if a._writer]
    assert writers == [together.analyzers.rec]
    assert all(a._tape is together._squeeze_tape for a in together.analyzers)
    assert len(together.analyzers.rec.get_analysis()["fills"]["dt"]) > 0
    for name in kinds:
        alone = run([name], recorder=False)   # the analyzer writes its own tape
        assert getattr(alone.analyzers, name)._writer
        assert (json.dumps(getattr(together.analyzers, name).get_analysis(), sort_keys=True)
                == json.dumps(getattr(alone.analyzers, name).get_analysis(), sort_keys=True))


def test_min_period_status_keeps_backtraders_sign():
    """SqueezeBook stops recomputing the min-period status once it is negative: on every bar its
    sign is the one backtrader computes (feeds starting late included)."""
    market = random_market(12, n_names=6, n_days=80, listing=False)
    d, c = market.dates, market.close.to_numpy()
    signs = []

    class Spy(SqueezeBook):
        def _getminperstatus(self) -> int:
            mine = super()._getminperstatus()
            full = bt.Strategy._getminperstatus(self)
            signs.append((np.sign(mine), np.sign(full)))
            return mine

    feeds = feeds_for(market, market.tickers[:5])
    feeds.append(ArrayFeed(dataname=str(market.tickers[5]), dates=d[20:], close=c[20:, 5]))
    cerebro = bt.Cerebro(stdstats=False)
    for f in feeds:
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(Spy, market=market, targets=random_targets(market, 12, every=9))
    cerebro.run()
    assert len(signs) == len(d)
    assert [a for a, _ in signs] == [b for _, b in signs]
    assert signs[0][1] > 0 and signs[-1][1] < 0   # prenext while a feed had not started


@pytest.mark.parametrize("broker", ["array", "array_with_table", "back"])
def test_closes_read_in_place_from_the_brokers_table(broker):
    """With an ArrayBroker on its fast path the analyzers' closes are the table it values on
    (read-only, no copy), equal to the feeds' closes; any other broker: read from the feeds."""
    market = random_market(12, n_names=7, n_days=80, listing=False)
    targets = random_targets(market, 12, every=9)
    c = make_cerebro(market)
    if broker == "array_with_table":
        from squeeze_lab.strategies.execution import price_arrays

        c.broker.p.close_table = price_arrays(market).close
    elif broker == "back":
        c.broker = bt.brokers.BackBroker()
    c.addstrategy(SqueezeBook, market=market, targets=targets)
    c.addanalyzer(LegAttribution, _name="legs")
    strat = c.run()[0]
    got = strat.analyzers.legs.closes(shared=True)
    tape = strat._squeeze_tape
    want = closes_at(list(strat.datas), tape.dt[:tape.n])
    np.testing.assert_array_equal(got.to_numpy(), want)
    shared = np.shares_memory(got.to_numpy(), getattr(strat.broker, "_close", np.zeros(1)))
    assert shared is (broker != "back")
    if shared:
        assert not got.to_numpy().flags.writeable
    own = strat.analyzers.legs.closes()   # the public default: a frame of its own
    np.testing.assert_array_equal(own.to_numpy(), want)
    own.iloc[0, 0] = -1.0
    assert strat.analyzers.legs.closes().iloc[0, 0] == want[0, 0]


def test_recorders_give_backtraders_data_aliases_on_use():
    """A Recorder (the project's analyzers) makes the per-data aliases ``data{d}`` and
    ``data{d}_{line}`` when first read instead of up front: every one a plain ``bt.Analyzer``
    has is there and the same object; other names still raise AttributeError."""
    from squeeze_lab.strategies.recorder import Recorder

    market = random_market(13, n_names=4, n_days=40, listing=False)
    c = make_cerebro(market)
    c.addstrategy(bt.Strategy)
    c.addanalyzer(bt.Analyzer, _name="plain")
    c.addanalyzer(Recorder, _name="rec")
    strat = c.run()[0]
    plain, rec = strat.analyzers.plain, strat.analyzers.rec
    names = [k for k in vars(plain) if k.startswith("data")]
    assert len(names) == 2 + 14 + 4 * 15   # data, datas, data_*; per data: data{d} + 14
    assert not any(k.startswith("data3") for k in vars(rec))   # not made up front
    for k in names:
        assert getattr(rec, k) is getattr(plain, k), k
    for bad in ("data4", "data0_nope", "data0_7", "dataX", "nothing"):
        assert not hasattr(rec, bad)
