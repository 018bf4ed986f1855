"""The backtrader analyzers inside a real Cerebro, checked against hand values and the pure functions.

A scripted strategy trades known sizes on known bars of a tiny market (fills at the next bar's
open); commission and short interest come from backtrader's own commission scheme.
"""

from __future__ import annotations

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from test_attribution import tiny_market

from squeeze_lab.analyzers.bt_analyzers import (
    EpisodeDrawdowns,
    Exposures,
    LegAttribution,
    Performance,
)
from squeeze_lab.analyzers.drawdowns import drawdown_summary
from squeeze_lab.analyzers.episodes import episode_drawdown
from squeeze_lab.analyzers.performance import performance_stats
from squeeze_lab.analyzers.report import canonical
from squeeze_lab.feeds.episodes import Episode
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.strategies.targets import LEGS

CASH = 100_000.0
COMM = 0.001      # 10 bps of traded value
INTEREST = 0.05   # 5% a year on shorts (backtrader's CommInfo interest rule)

#: bar -> [(ticker, signed size, leg)] decided at that bar's close, filled at the next open.
SCRIPT = {
    2: [("AAA", 100, "long"), ("BBB", -50, "short")],
    6: [("CCC", -30, "short")],
    9: [("BBB", 20, "hedge")],
    14: [("AAA", -40, "long"), ("CCC", 30, "short")],
}


class Scripted(bt.Strategy):
    """Trades SCRIPT; keeps its own per-leg positions; records broker value each bar."""

    params = (("script", SCRIPT), ("log_legs", False), ("warmup", 0), ("signal_log", False))

    def __init__(self) -> None:
        if self.p.warmup:  # an indicator makes backtrader call prenext() for the first bars
            self.sma = bt.indicators.SMA(self.data.close, period=self.p.warmup + 1)
        self.leg_pos = {leg: np.zeros(len(self.datas)) for leg in LEGS}
        self.values: list[float] = []
        if self.p.log_legs:
            self.leg_shares_log = {leg: [] for leg in LEGS}
        if self.p.signal_log:  # SqueezeBook's form: (signal date, legs x tickers after the fill)
            self.leg_log = []
            self.tickers = [d._name for d in self.datas]
            self._planned = np.zeros((len(LEGS), len(self.datas)))

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            i = next(k for k, d in enumerate(self.datas) if d is order.data)
            self.leg_pos[order.info.get("leg", "long")][i] += order.executed.size

    def next(self) -> None:
        self.values.append(self.broker.getvalue())
        if self.p.log_legs:
            for leg in LEGS:
                self.leg_shares_log[leg].append(self.leg_pos[leg].copy())
        for ticker, size, leg in self.p.script.get(len(self) - 1, []):
            data = self.getdatabyname(ticker)
            o = self.buy(data=data, size=size) if size > 0 else self.sell(data=data, size=-size)
            o.addinfo(leg=leg)
            if self.p.signal_log:
                self._planned[LEGS.index(leg), self.tickers.index(ticker)] += size
        if self.p.signal_log and len(self) - 1 in self.p.script:
            self.leg_log.append((self.datetime.date(0), self._planned.copy()))


def _cerebro(market, analyzers, log_legs=False, int2pnl=True, warmup=0, signal_log=False):
    cerebro = bt.Cerebro(stdstats=False)
    for t in market.tickers:
        df = pd.DataFrame({f: market.frame(f)[t] for f in ("open", "high", "low", "close",
                                                          "volume")})
        cerebro.adddata(bt.feeds.PandasData(dataname=df, openinterest=None), name=t)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMM, interest=INTEREST)
    cerebro.broker.set_int2pnl(int2pnl)
    cerebro.addstrategy(Scripted, log_legs=log_legs, warmup=warmup, signal_log=signal_log)
    for cls, name, kw in analyzers:
        cerebro.addanalyzer(cls, _name=name, **kw)
    return cerebro.run()[0]


@pytest.fixture(scope="module")
def market():
    return tiny_market(n_days=25, seed=11, start="2025-06-02")


def _values(strat) -> pd.Series:
    return pd.Series(strat.values, index=strat.analyzers[0]._dates())


def _returns(values: pd.Series) -> pd.Series:
    r = values.pct_change(fill_method=None)
    r.iloc[0] = 0.0
    return r


def test_leg_attribution_by_sign_matches_hand_and_broker(market):
    strat = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}, "top_k": 3,
                                                       "attributes": market.attributes})])
    a = strat.analyzers.legs.get_analysis()
    json.dumps(a, allow_nan=False)
    assert a["legs_from"] == "sign"
    d = pd.DataFrame({k: v for k, v in a["daily"].items() if k != "dates"},
                     index=pd.DatetimeIndex(a["daily"]["dates"]))
    values = _values(strat)
    # totals are the broker's value changes; the parts add up to them
    assert np.allclose(d["total"].iloc[1:], np.diff(values.to_numpy()), rtol=0, atol=1e-8)
    assert d["total"].iloc[0] == pytest.approx(values.iloc[0] - CASH)
    parts = d[["long", "short", "hedge", "commission", "borrow"]].sum(axis=1)
    assert np.allclose(parts, d["total"], rtol=1e-9, atol=1e-8)
    assert a["max_abs_residual"] < 1e-8
    # hand: AAA long 100 filled at open[3], 40 sold at open[15], 60 held to the end
    o, c = market.open, market.close
    aaa = 100 * (c["AAA"].iloc[14] - o["AAA"].iloc[3]) + 60 * (c["AAA"].iloc[-1] - c["AAA"].iloc[14]) \
        + 40 * (o["AAA"].iloc[15] - c["AAA"].iloc[14])
    assert d["long"].sum() == pytest.approx(aaa, rel=1e-9)  # daily values kept to 12 digits
    # commission: 10 bps of every fill's value
    fills = [(3, "AAA", 100), (3, "BBB", 50), (7, "CCC", 30), (10, "BBB", 20), (15, "AAA", 40),
             (15, "CCC", 30)]
    comm = sum(COMM * n * o[t].iloc[i] for i, t, n in fills)
    assert -d["commission"].sum() == pytest.approx(comm, rel=1e-9)
    assert (d["borrow"] <= 0).all() and d["borrow"].iloc[:4].eq(0).all()
    top = a["overall"]["top_names"]
    names = {r["ticker"]: r for r in top["contributors"] + top["detractors"]}
    assert names["AAA"]["pnl"] == pytest.approx(aaa, rel=1e-10)
    assert names["BBB"]["leg"] == "short" and names["BBB"]["short_interest"] == 0.3


def test_borrow_is_backtraders_short_interest(market):
    # without int2pnl the broker keeps the interest it charged per data in d_credit
    strat = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})], int2pnl=False)
    d = strat.analyzers.legs.get_analysis()["daily"]
    credit = sum(strat.broker.d_credit[dd] for dd in strat.datas)
    assert credit > 0 and -sum(d["borrow"]) == pytest.approx(credit, rel=1e-9)
    # hand: BBB short 50 from open[3] (avg price = that fill) until 20 are covered at open[10]
    o, dates = market.open, market.dates
    days_50 = (dates[10] - dates[3]).days
    days_30 = (dates[-1] - dates[10]).days
    bbb = INTEREST / 365 * o["BBB"].iloc[3] * (50 * days_50 + 30 * days_30)
    assert strat.broker.d_credit[strat.getdatabyname("BBB")] == pytest.approx(bbb, rel=1e-12)
    with_int2pnl = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})])
    assert with_int2pnl.analyzers.legs.get_analysis()["daily"]["borrow"] == d["borrow"]


def test_leg_attribution_uses_the_strategy_leg_log(market):
    strat = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})], log_legs=True)
    a = strat.analyzers.legs.get_analysis()
    assert a["legs_from"] == "strategy"
    assert a["max_abs_residual"] < 1e-8 and a["max_abs_leg_mismatch"] == 0.0
    d = a["daily"]
    c, o = market.close["BBB"], market.open["BBB"]
    # the hedge leg bought 20 BBB at open[10] and held them
    hedge = 20 * (c.iloc[-1] - o.iloc[10])
    assert sum(d["hedge"]) == pytest.approx(hedge, rel=1e-10)
    # a strategy that logs only from next() (after a 2-bar prenext warm-up) is aligned
    warm = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})], log_legs=True,
                    warmup=2).analyzers.legs.get_analysis()
    assert len(warm["daily"]["dates"]) == len(market.dates)
    assert warm["max_abs_leg_mismatch"] == 0.0 and warm["daily"]["hedge"] == d["hedge"]
    # SqueezeBook's (signal date, legs x tickers) log gives the same legs
    sig = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})],
                   signal_log=True).analyzers.legs.get_analysis()
    assert sig["legs_from"] == "strategy" and sig["max_abs_leg_mismatch"] == 0.0
    assert sig["daily"] == d
    # the same run classified by sign would show no hedge at all
    plain = _cerebro(market, [(LegAttribution, "legs", {"episodes": {}})]).analyzers.legs
    assert sum(plain.get_analysis()["daily"]["hedge"]) == 0.0
    total_log = sum(d["long"]) + sum(d["short"]) + sum(d["hedge"])
    p = plain.get_analysis()["daily"]
    assert total_log == pytest.approx(sum(p["long"]) + sum(p["short"]), rel=1e-10)


def test_exposures_hand_values(market):
    betas = market.attributes["beta"].to_dict()
    strat = _cerebro(market, [(Exposures, "exp", {"betas": betas, "episodes": {}})])
    a = strat.analyzers.exp.get_analysis()
    json.dumps(a, allow_nan=False)
    d = a["daily"]
    c = market.close
    i = 12  # holdings after bar 10's fill: AAA +100, BBB -30, CCC -30
    long_v = 100 * c["AAA"].iloc[i]
    short_v = -30 * c["BBB"].iloc[i] - 30 * c["CCC"].iloc[i]
    assert d["long_value"][i] == pytest.approx(long_v)
    assert d["short_value"][i] == pytest.approx(short_v)
    assert d["gross"][i] == pytest.approx(long_v - short_v)
    assert d["gross_exposure"][i] == pytest.approx((long_v - short_v) / strat.values[i])
    beta_net = 100 * c["AAA"].iloc[i] * 1.0 - 30 * c["BBB"].iloc[i] * 1.5 - 30 * c["CCC"].iloc[i] * 2.0
    assert d["beta_net"][i] == pytest.approx(beta_net)
    assert (d["n_long"][i], d["n_short"][i], d["n_hedge"][i]) == (1, 2, 0)
    assert d["turnover"][3] == pytest.approx(
        (100 * market.open["AAA"].iloc[3] + 50 * market.open["BBB"].iloc[3]) / strat.values[2])
    assert a["overall"]["gross"]["max"] == pytest.approx(max(d["gross"]))


def test_performance_matches_pure_function(market):
    bench = market.reference["index"]
    strat = _cerebro(market, [(Performance, "perf", {"benchmark": bench})])
    a = strat.analyzers.perf.get_analysis()
    # SCRIPT's first order (bar 2) fills at the open of bar 3: measured from the close of bar 2
    expected = canonical(performance_stats(_returns(_values(strat).iloc[2:]), benchmark=bench,
                                           benchmark_name="index"))
    assert a == expected
    assert a["beta"] is not None and a["n_days"] == len(market.dates) - 3
    json.dumps(a, allow_nan=False)


def test_performance_with_a_benchmark_feed(market):
    cerebro = bt.Cerebro(stdstats=False)
    feeds = {}
    for t in market.tickers:
        df = pd.DataFrame({f: market.frame(f)[t] for f in ("open", "high", "low", "close",
                                                          "volume")})
        feeds[t] = bt.feeds.PandasData(dataname=df, openinterest=None)
        cerebro.adddata(feeds[t], name=t)
    cerebro.broker.setcash(CASH)
    cerebro.addstrategy(Scripted)
    cerebro.addanalyzer(Performance, _name="perf", benchmark=feeds["DDD"])
    strat = cerebro.run()[0]
    a = strat.analyzers.perf.get_analysis()
    bench = market.close["DDD"].pct_change(fill_method=None)
    expected = canonical(performance_stats(_returns(_values(strat).iloc[2:]), benchmark=bench,
                                           benchmark_name="DDD"))
    assert a == expected and a["benchmark"] == "DDD"


def test_episode_drawdowns(market):
    eps = {"mid": Episode("mid", market.dates[5], market.dates[15]),
           "old": Episode("old", "2020-01-01", "2020-02-01")}
    strat = _cerebro(market, [(EpisodeDrawdowns, "dd", {"episodes": eps, "top_n": 3})])
    a = strat.analyzers.dd.get_analysis()
    json.dumps(a, allow_nan=False)
    values = _values(strat).iloc[2:]  # the measured period (first fill at bar 3)
    expected = canonical(drawdown_summary(_returns(values), top=3))
    for k in ("max_drawdown", "current_drawdown", "n_periods", "table"):
        assert a[k] == expected[k]
    assert a["episodes"]["mid"] == canonical(episode_drawdown(values, eps["mid"]))
    assert [s["name"] for s in a["skipped"]] == ["old"]
    default = _cerebro(market, [(EpisodeDrawdowns, "dd", {})]).analyzers.dd.get_analysis()
    assert set(default["episodes"]) == {"jun_jul_2025"}  # the data is June-July 2025
    assert default["skipped"] == []  # built-ins outside the data do not apply
    with pytest.raises(SqueezeLabError, match="episode old"):
        _cerebro(market, [(EpisodeDrawdowns, "dd", {"episodes": eps, "strict": True})])


@pytest.mark.parametrize("block", [1, 2, 3, 256])
def test_max_mismatch_by_row_blocks(block, monkeypatch):
    """max |legs - shares| read block by block: the whole-array value (hand-checked: 0.5 on row
    2), NaN kept, and frames on another grid compared as frames."""
    import squeeze_lab.analyzers.bt_analyzers as ba

    monkeypatch.setattr(ba, "_ROWS", block)
    idx = pd.date_range("2025-01-02", periods=5, freq="B")
    legs = {"long": pd.DataFrame({"A": [1.0, 1, 2, 2, 0], "B": 0.0}, index=idx),
            "short": pd.DataFrame({"A": 0.0, "B": [0.0, -1, -1, -3, -3]}, index=idx),
            "hedge": pd.DataFrame({"A": 0.0, "B": [0.0, 0, 0.5, 0, 0]}, index=idx)}
    shares = pd.DataFrame({"A": [1.0, 1, 2, 2, 0], "B": [0.0, -1, -1, -3, -3]}, index=idx)
    assert ba._max_mismatch(legs, shares) == 0.5
    legs["long"].iloc[4, 0] = np.nan
    assert np.isnan(ba._max_mismatch(legs, shares))
    assert ba._max_mismatch({"long": shares.iloc[::-1]}, shares) == 0.0   # aligned as frames
