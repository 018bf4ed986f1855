"""Backtrader engine vs vectorized twin: same targets, same conventions, same numbers.

Reconciliation to 1e-9 relative on the daily equity (measured: ~1e-14), a drift in either side is
caught, plus the conventions themselves checked by hand (fills, costs, borrow, listings, sizing).
"""

from __future__ import annotations

import datetime
import warnings

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market, normalize_index
from squeeze_lab.strategies.bt_strategy import SqueezeBook, market_from_datas
from squeeze_lab.strategies.engine import Recorder, make_cerebro, run_backtrader, split_params
from squeeze_lab.strategies.execution import (
    SHARE_QUANTUM,
    fill_prices,
    plan_actions,
    target_shares,
    update_positions,
    update_traded,
)
from squeeze_lab.strategies.result import TRADE_COLUMNS, BacktestResult
from squeeze_lab.strategies.targets import LEGS, Targets
from squeeze_lab.strategies.twin import run_vectorized

RTOL = 1e-9


# --------------------------------------------------------------------------- markets, targets
def random_market(seed: int = 0, n_names: int = 30, n_days: int = 260,
                  listing: bool = True) -> Market:
    """Seeded random walks with valid OHLC; a few names list late / delist inside the range."""
    rng = np.random.default_rng(seed)
    dates = normalize_index(pd.bdate_range("2024-01-02", periods=n_days))
    tickers = pd.Index([f"T{j:03d}" for j in range(n_names)])
    r = rng.normal(0.0002, 0.02, (n_days, n_names))
    close = (20 + 80 * rng.random(n_names)) * np.exp(np.cumsum(r, axis=0))
    prev = np.vstack([close[:1], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.01, close.shape))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, close.shape)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, close.shape)))
    vol = rng.integers(10_000, 1_000_000, close.shape).astype(float)
    if listing:
        spans = {0: (40, None), 1: (n_days // 3, None), 2: (None, n_days // 2),
                 3: (None, n_days - 30), 4: (25, n_days - 60)}
        for j, (a, b) in spans.items():
            for arr in (open_, high, low, close, vol):
                if a is not None:
                    arr[:a, j] = np.nan
                if b is not None:
                    arr[b:, j] = np.nan

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=dates, columns=tickers)

    return Market(open=frame(open_), high=frame(high), low=frame(low), close=frame(close),
                  volume=frame(vol), attributes=pd.DataFrame({"sector": "Tech"}, index=tickers),
                  source="test", synthetic=True, seed=seed)


def random_targets(market: Market, seed: int = 0, every: int = 5, gross: float = 2.0,
                   hedge: float = 0.2) -> Targets:
    """Random long/short weights on listed names, gross ``gross`` and net 0 (hedge leg included);
    every third signal date resizes only ~30% of the names (an overlay-like row)."""
    rng = np.random.default_rng(seed + 1000)
    dates = market.dates[::every]
    live = market.tradable.loc[dates].to_numpy()
    n_d, n = live.shape
    legs = {leg: np.zeros((n_d, n)) for leg in LEGS}
    resize = np.ones((n_d, n), dtype=bool)
    for i in range(n_d):
        idx = np.flatnonzero(live[i])
        rng.shuffle(idx)
        lo, sh = idx[: len(idx) // 2], idx[len(idx) // 2:]
        wl, ws = rng.random(len(lo)), rng.random(len(sh))
        legs["long"][i, lo] = (gross / 2) * wl / wl.sum()
        legs["short"][i, sh] = -(gross / 2 - hedge) * ws / ws.sum()
        if hedge:
            legs["hedge"][i, sh[:3]] = -hedge / 3
        if i % 3 == 2:
            resize[i] = rng.random(n) < 0.3

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=dates, columns=market.tickers)

    reasons = pd.Series([f"signal {i}" for i in range(n_d)], index=dates, dtype=object)
    return Targets(legs={k: frame(v) for k, v in legs.items()}, resize=frame(resize),
                   reasons=reasons)


def hand_market(close: list[list[float]], open_: list[list[float]] | None = None,
                start: str = "2024-01-04") -> Market:
    """A tiny market: rows of closes (and opens); high/low bracket them by 1%."""
    c = np.asarray(close, dtype=float)
    o = np.asarray(open_, dtype=float) if open_ is not None else c.copy()
    dates = normalize_index(pd.bdate_range(start, periods=len(c)))
    tickers = pd.Index([f"N{j}" for j in range(c.shape[1])])

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=dates, columns=tickers)

    return Market(open=frame(o), high=frame(np.maximum(o, c) * 1.01),
                  low=frame(np.minimum(o, c) * 0.99), close=frame(c),
                  volume=frame(np.full(c.shape, 1e6)),
                  attributes=pd.DataFrame({"sector": "x"}, index=tickers))


def hand_targets(market: Market, rows: dict[int, dict[str, list[float]]]) -> Targets:
    dates = market.dates[sorted(rows)]
    legs = {leg: pd.DataFrame(0.0, index=dates, columns=market.tickers) for leg in LEGS}
    for r in sorted(rows):
        for leg, w in rows[r].items():
            legs[leg].loc[market.dates[r]] = w
    return Targets(legs=legs, resize=pd.DataFrame(True, index=dates, columns=market.tickers))


# --------------------------------------------------------------------------- comparison
def max_rel(a: pd.Series, b: pd.Series) -> float:
    assert a.index.equals(b.index)
    return float(np.max(np.abs(a.to_numpy() - b.to_numpy()) / np.abs(b.to_numpy())))


def assert_reconciled(r: BacktestResult, v: BacktestResult, rtol: float = RTOL) -> dict[str, float]:
    """Raise AssertionError unless the two results agree; return the measured differences."""
    scale = float(r.equity.abs().max())
    out = {"equity": max_rel(r.equity, v.equity),
           "cash": float((r.cash - v.cash).abs().max()) / scale}
    assert out["equity"] <= rtol, f"equity differs by {out['equity']:.3e} relative"
    assert out["cash"] <= rtol, f"cash differs by {out['cash']:.3e} of equity"
    assert len(r.trades) == len(v.trades), f"{len(r.trades)} vs {len(v.trades)} fills"
    for col in ("date", "ticker", "leg", "reason"):
        assert (r.trades[col].to_numpy() == v.trades[col].to_numpy()).all(), f"trades.{col} differ"
    for col in ("size", "price", "commission"):
        np.testing.assert_allclose(r.trades[col], v.trades[col], rtol=rtol, atol=1e-9,
                                   err_msg=f"trades.{col}")
    np.testing.assert_allclose(r.shares.to_numpy(), v.shares.to_numpy(), rtol=rtol, atol=1e-9)
    for leg in LEGS:
        np.testing.assert_allclose(r.leg_shares[leg].to_numpy(), v.leg_shares[leg].to_numpy(),
                                   rtol=rtol, atol=1e-9, err_msg=f"leg {leg}")
    for col in ("commission", "borrow"):
        np.testing.assert_allclose(r.costs[col], v.costs[col], rtol=rtol, atol=1e-6 * rtol * scale,
                                   err_msg=f"costs.{col}")
    return out


@pytest.fixture(scope="module")
def market() -> Market:
    return random_market(seed=11)


@pytest.fixture(scope="module")
def targets(market: Market) -> Targets:
    return random_targets(market, seed=11)


CASES = {
    "no_costs": dict(commission_bps=0.0, slippage_bps=0.0, borrow_bps=0.0),
    "all_costs": dict(commission_bps=1.5, slippage_bps=8.0, borrow_bps=250.0),
    "whole_shares": dict(commission_bps=1.0, slippage_bps=30.0, borrow_bps=100.0,
                         fractional=False),
}


@pytest.fixture(scope="module")
def runs(market: Market, targets: Targets) -> dict[str, tuple[BacktestResult, BacktestResult]]:
    return {name: (run_backtrader(market, ex, targets=targets)[0],
                   run_vectorized(market, targets, **ex)) for name, ex in CASES.items()}


# --------------------------------------------------------------------------- reconciliation
@pytest.mark.parametrize("case", list(CASES))
def test_backtrader_and_twin_agree(runs, case):
    r, v = runs[case]
    assert r.engine == "backtrader" and v.engine == "vectorized"
    diffs = assert_reconciled(r, v)
    assert diffs["equity"] < 1e-12  # measured ~1e-14; 1e-9 is the contract
    assert r.rejected_orders == 0
    assert len(r.trades) > 500
    assert set(r.trades["leg"]) >= {"long", "short", "short+hedge"}
    if case != "no_costs":
        assert r.costs["commission"].sum() > 0 and r.costs["borrow"].sum() > 0
    else:
        assert r.costs.to_numpy().sum() == 0


def test_whole_shares_and_capped_slippage_are_exercised(runs, market):
    r, _ = runs["whole_shares"]
    assert (r.shares.to_numpy() == np.round(r.shares.to_numpy())).all()
    t = r.trades
    rows = market.dates.get_indexer(t["date"])
    cols = market.tickers.get_indexer(t["ticker"])
    high, low = market.high.to_numpy()[rows, cols], market.low.to_numpy()[rows, cols]
    capped = ((t["size"] > 0) & (t["price"] == high)) | ((t["size"] < 0) & (t["price"] == low))
    assert capped.sum() > 0  # backtrader's slip_match capping happened and the twin matched it


def test_fractional_sizes_are_multiples_of_the_quantum(runs):
    r, _ = runs["all_costs"]
    q = r.trades["size"].to_numpy() / SHARE_QUANTUM
    assert (q == np.round(q)).all()
    assert (r.trades["size"] != np.round(r.trades["size"])).any()


@pytest.mark.parametrize("perturb", [dict(commission_bps=1.5 * 1.001), dict(borrow_bps=251.0),
                                     dict(slippage_bps=8.01)])
def test_a_drift_in_either_engine_is_detected(runs, market, targets, perturb):
    r, v = runs["all_costs"]
    drifted = run_vectorized(market, targets, **{**CASES["all_costs"], **perturb})
    with pytest.raises(AssertionError):
        assert_reconciled(r, drifted)
    with pytest.raises(AssertionError):  # and the other way round: backtrader drifted
        assert_reconciled(run_backtrader(market, {**CASES["all_costs"], **perturb},
                                         targets=targets)[0], v)


def test_accounting_identity_holds_in_both_engines(runs, market):
    """Daily P&L = holdings x close move + fills marked to the close - commission - borrow."""
    close = market.close.ffill().bfill().to_numpy()
    for r in runs["all_costs"]:
        sh = r.shares.to_numpy()
        t = r.trades
        rows = market.dates.get_indexer(t["date"])
        cols = market.tickers.get_indexer(t["ticker"])
        fill_pnl = np.zeros(len(market.dates))
        np.add.at(fill_pnl, rows, t["size"].to_numpy() * (close[rows, cols] - t["price"].to_numpy()))
        expected = ((sh[:-1] * (close[1:] - close[:-1])).sum(axis=1) + fill_pnl[1:]
                    - r.costs["commission"].to_numpy()[1:] - r.costs["borrow"].to_numpy()[1:])
        got = np.diff(r.equity.to_numpy())
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * r.equity.abs().max())


def test_no_order_rejected_at_2x_gross_and_exposure_is_2x(runs, market, targets):
    r, _ = runs["all_costs"]
    assert r.rejected_orders == 0
    assert abs(targets.total().sum(axis=1)).max() < 1e-12
    assert np.allclose(targets.gross(), 2.0)
    close = market.close.ffill().bfill()
    gross = (r.shares * close).abs().sum(axis=1) / r.equity
    net = (r.shares * close).sum(axis=1) / r.equity
    full_rows = market.dates.get_indexer(targets.dates[[i % 3 != 2 for i in range(len(targets.dates))]])
    on_fill = market.dates[full_rows[full_rows < len(market.dates) - 1] + 1]
    assert ((gross.loc[on_fill] > 1.9) & (gross.loc[on_fill] < 2.1)).all()
    assert (net.loc[on_fill].abs() < 0.05).all()


def test_listing_and_delisting_are_respected(runs, market):
    r, v = runs["all_costs"]
    listed = market.tradable
    for res in (r, v):
        assert (res.shares.where(~listed).fillna(0.0) == 0).all().all()
        traded = res.trades.set_index(["date", "ticker"]).index
        live = listed.stack()
        assert live.loc[traded].all()  # never a fill on an unlisted bar
        exits = res.trades[res.trades["reason"] == "delist_exit"]
        assert set(exits["ticker"]) <= {"T002", "T003", "T004"} and len(exits) >= 2
        for tkr in exits["ticker"]:  # closed at the open of the last listed bar
            last = market.close[tkr].last_valid_index()
            assert exits.loc[exits["ticker"] == tkr, "date"].iloc[0] == last
            assert res.shares.loc[last, tkr] == 0
    first = market.close["T001"].first_valid_index()
    assert r.trades.loc[r.trades["ticker"] == "T001", "date"].min() > first


# --------------------------------------------------------------------------- conventions by hand
def q_trunc(x: float) -> float:
    return float(np.trunc(x / SHARE_QUANTUM) * SHARE_QUANTUM)


def test_trades_semantics_fill_day_signed_size_fill_price():
    m = hand_market([[10.0, 20.0], [11.0, 19.0], [12.0, 18.0], [13.0, 17.0], [12.0, 18.0]],
                    open_=[[10.0, 20.0], [10.5, 19.5], [11.5, 18.5], [12.5, 17.5], [12.5, 17.5]])
    tg = hand_targets(m, {0: {"long": [0.5, 0.0], "short": [0.0, -0.5]},
                          2: {"long": [0.0, 0.0], "short": [0.0, -0.25]}})
    ex = dict(commission_bps=10.0, slippage_bps=0.0, borrow_bps=0.0)
    r, _ = run_backtrader(m, ex, targets=tg)
    v = run_vectorized(m, tg, **ex)
    assert_reconciled(r, v)
    t = r.trades
    assert list(t.columns[: len(TRADE_COLUMNS)]) == list(TRADE_COLUMNS)
    # date = the fill's trading day (the bar after the signal)
    assert t["date"].tolist() == [m.dates[1]] * 2 + [m.dates[3]] * 2
    # all sells before all buys on each fill day
    assert t["ticker"].tolist() == ["N1", "N0", "N0", "N1"]
    v2 = r.equity.iloc[2]  # the value at the second signal close sizes the second round
    np.testing.assert_array_equal(
        t["size"], [-25_000.0, 50_000.0, -50_000.0, q_trunc(-0.25 * v2 / 18.0) + 25_000.0])
    np.testing.assert_array_equal(t["price"], [19.5, 10.5, 12.5, 17.5])  # the fill bar's open
    np.testing.assert_allclose(t["commission"], t["size"].abs() * t["price"] * 10 / 1e4,
                               rtol=1e-15)
    assert t["leg"].tolist() == ["short", "long", "long", "short"]
    # equity by hand on the first fill day: cash after fills + holdings at the close
    cash1 = 1e6 + 25_000 * 19.5 - 50_000 * 10.5 - (25_000 * 19.5 + 50_000 * 10.5) * 1e-3
    assert r.equity.iloc[1] == pytest.approx(cash1 + 50_000 * 11.0 - 25_000 * 19.0, rel=1e-14)


def test_borrow_follows_backtraders_average_price_rule_by_hand():
    """Short ~100 at 50, add at 40 (average price moves), cover part, flip long; weekend days."""
    closes = [50.0, 50.0, 40.0, 40.0, 45.0, 45.0, 45.0, 60.0, 60.0, 60.0]
    m = hand_market([[c] for c in closes], start="2024-01-03")  # open == close; Fri -> Mon inside
    weights = {0: ("short", -0.005), 2: ("short", -0.008), 4: ("short", -0.00225),
               7: ("long", 0.003)}
    tg = hand_targets(m, {row: {leg: [w]} for row, (leg, w) in weights.items()})
    ex = dict(commission_bps=0.0, slippage_bps=0.0, borrow_bps=365.0, fractional=False)
    r, _ = run_backtrader(m, ex, targets=tg)
    v = run_vectorized(m, tg, **ex)
    assert_reconciled(r, v)
    days = np.diff(m.dates.asi8 // 86_400_000_000_000, prepend=0)
    assert days.tolist()[1:5] == [1, 1, 3, 1]
    shares, avg = 0.0, 0.0
    expected = np.zeros(len(closes))
    sizes = []
    for t in range(len(closes)):
        if shares < 0:  # charged at the start of each bar on the overnight position
            expected[t] = days[t] * (0.0365 / 365.0) * abs(shares) * avg
        if t - 1 in weights:  # the order decided at the previous close fills at this open
            _, w = weights[t - 1]
            new = float(np.trunc(w * r.equity.iloc[t - 1] / closes[t - 1]))
            px = closes[t]
            if shares == 0 or np.sign(new) != np.sign(shares):
                avg = px  # opened or reversed: the fill price
            elif abs(new) > abs(shares):
                avg = (avg * shares + (new - shares) * px) / new  # increased: averaged
            sizes.append(new - shares)
            shares = new  # reduced: the average price stays
    np.testing.assert_allclose(sizes, [-100.0, -100.0, 150.0, 100.0], atol=3)  # P&L moves V
    assert expected[2] > 0 and expected[3] == pytest.approx(3 * expected[2])  # Fri -> Mon: 3 days
    assert expected[4] == pytest.approx(1e-4 * 200 * 45.0)  # 200 short at the average 45
    np.testing.assert_allclose(r.costs["borrow"], expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(v.costs["borrow"], expected, rtol=1e-13, atol=0)
    assert r.trades["size"].tolist() == sizes


def test_impossible_order_is_counted_and_raises():
    m = random_market(seed=5, n_names=8, n_days=30, listing=False)
    # the funding rule sizes the buys to the cash at the signal close; an open gapping to 3x
    # the close on the fill bar still leaves the account short of cash
    gap = {f: m.frame(f).copy() for f in ("open", "high", "low", "close", "volume")}
    gap["open"].iloc[4] = 3 * m.close.iloc[3]
    gap["high"].iloc[4] = np.maximum(gap["high"].iloc[4], gap["open"].iloc[4])
    m = Market(**gap, attributes=m.attributes, source="test", synthetic=True)
    dates = m.dates[[3, 10]]
    legs = {leg: pd.DataFrame(0.0, index=dates, columns=m.tickers) for leg in LEGS}
    legs["long"].iloc[:, :] = 3.0 / len(m.tickers)  # net 3x long with 1x of cash
    tg = Targets(legs=legs, resize=pd.DataFrame(True, index=dates, columns=m.tickers))
    with pytest.raises(SqueezeLabError, match="refused by the broker"):
        run_backtrader(m, {}, targets=tg)
    with pytest.raises(SqueezeLabError, match="rejected for cash"):
        run_vectorized(m, tg)
    cerebro = make_cerebro(m)
    cerebro.addstrategy(SqueezeBook, market=m, targets=tg, raise_on_reject=False)
    strat = cerebro.run()[0]
    assert strat.rejected > 0
    assert strat.rejections[0]["status"] == "Margin"
    assert strat.rejections[0]["date"] == m.dates[3].date().isoformat()


def test_strategy_drops_into_a_plain_cerebro_without_a_market():
    """PandasData feeds, no market: the strategy builds one from the datas."""
    m = random_market(seed=6, n_names=5, n_days=40, listing=False)
    tg = random_targets(m, seed=6, every=7, hedge=0.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.set_cash(1_000_000.0)
    for t in m.tickers:
        df = pd.DataFrame({f: m.frame(f)[t] for f in ("open", "high", "low", "close", "volume")})
        cerebro.adddata(bt.feeds.PandasData(dataname=df), name=t)
    cerebro.addstrategy(SqueezeBook, targets=tg)
    strat = cerebro.run()[0]
    assert strat.market.close.equals(m.close)
    assert len(strat.leg_log) == len(plan_actions(m, tg).rows)
    v = run_vectorized(m, tg, commission_bps=0.0, borrow_bps=0.0)  # the broker's defaults
    assert cerebro.broker.getvalue() == pytest.approx(v.equity.iloc[-1], rel=1e-9)
    legs = strat.leg_shares_log
    assert set(legs) == set(LEGS)
    assert (legs["long"].index == m.dates[plan_actions(m, tg).rows + 1]).all()


def test_market_from_datas_marks_unlisted_bars_of_array_feeds(market):
    from squeeze_lab.strategies.bt_feed import feeds_for

    cerebro = bt.Cerebro(stdstats=False)
    for f in feeds_for(market):
        cerebro.adddata(f, name=f._name)

    class Grab(bt.Strategy):
        def start(self):
            self.built = market_from_datas(list(self.datas))

    cerebro.addstrategy(Grab)
    built = cerebro.run()[0].built
    pd.testing.assert_frame_equal(built.close, market.close)
    pd.testing.assert_frame_equal(built.tradable, market.tradable)


@pytest.fixture(scope="module")
def small() -> tuple[Market, Targets, BacktestResult]:
    m = random_market(seed=12, n_names=12, n_days=100)
    t = random_targets(m, seed=12)
    return m, t, run_backtrader(m, {"borrow_bps": 200.0}, targets=t)[0]


@pytest.mark.parametrize("mode", [dict(exactbars=1), dict(exactbars=-1), dict(runonce=False),
                                  dict(preload=False, runonce=False)])
def test_other_cerebro_modes_give_the_same_run(small, mode):
    """The fast settings change speed only: memory-saving and bar-by-bar modes agree exactly."""
    m, t, ref = small
    cerebro = make_cerebro(m, borrow_bps=200.0)
    for k, val in mode.items():
        setattr(cerebro.p, k, val)
    cerebro.addstrategy(SqueezeBook, market=m, targets=t)
    cerebro.addanalyzer(Recorder, _name="rec")
    got = cerebro.run()[0].analyzers.rec.get_analysis()
    np.testing.assert_array_equal(got["value"], ref.equity.to_numpy())
    np.testing.assert_array_equal(np.diff(got["credit"], prepend=0.0), ref.costs["borrow"])
    assert len(got["fills"]["size"]) == len(ref.trades)


def test_user_analyzers_are_run_and_returned(market, targets):
    class Count(bt.Analyzer):
        params = (("scale", 1),)

        def start(self):
            self.n = 0

        def next(self):
            self.n += self.p.scale

        def get_analysis(self):
            return {"bars": self.n}

    res, out = run_backtrader(market, {}, targets=targets,
                              analyzers={"count": (Count, {"scale": 2})})
    assert out == {"count": {"bars": 2 * len(market.dates)}}
    assert res.info["cerebro"]["stdstats"] is False


def test_params_split_by_section_and_unknown_keys_rejected():
    strat, ex = split_params({"book": {"gross": 1.5}, "overlay": {"enabled": True},
                              "execution": {"commission_bps": 2.0, "fractional": False}})
    assert strat == {"gross": 1.5, "enabled": True, "fractional": False,  # + the account limits
                     "max_leverage": 4.0, "margin_call_to": 2.0, "cash_buffer": 0.05}
    assert ex["commission_bps"] == 2.0 and ex["cash"] == 1_000_000.0
    with pytest.raises(SqueezeLabError, match="unknown parameter 'grosss'"):
        split_params({"grosss": 2})
    with pytest.raises(SqueezeLabError, match=r"borrow_bps=-1.0 is outside \[0, "):
        split_params({"borrow_bps": -1.0})


# --------------------------------------------------------------------------- shared functions
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-300, 300), st.floats(1.0, 500.0)), min_size=1, max_size=12))
def test_update_positions_matches_backtrader_position(steps):
    pos = bt.Position()
    size, price = np.zeros(1), np.zeros(1)
    for d, px in steps:
        delta = np.array([d * 0.25])
        if d:
            pos.update(float(delta[0]), px, datetime.datetime(2024, 1, 2))
        size, price = update_positions(size, price, delta, np.array([px]))
        assert size[0] == pos.size
        assert price[0] == pos.price


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-300, 300), st.floats(1.0, 500.0)), min_size=3,
                         max_size=3), min_size=1, max_size=10))
def test_update_traded_on_the_orders_only_matches_backtrader(steps):
    """The twin's in-place update of the traded names: each name as its own Position."""
    positions = [bt.Position() for _ in range(3)]
    size, price = np.zeros(3), np.zeros(3)
    for row in steps:
        delta = np.array([d * 0.25 for d, _ in row])
        fill = np.array([px for _, px in row])
        for p, d, px in zip(positions, delta, fill, strict=True):
            if d:
                p.update(float(d), px, datetime.datetime(2024, 1, 2))
        cols = np.flatnonzero(delta)
        update_traded(size, price, cols, delta[cols], fill[cols])
        assert size.tolist() == [p.size for p in positions]
        assert price.tolist() == [p.price for p in positions]


@settings(max_examples=25, deadline=None)
@given(st.floats(50.0, 150.0), st.floats(0.0, 0.05), st.floats(0.0, 0.05), st.floats(0.0, 0.02))
def test_fill_prices_match_the_broker_slippage(open_, up, down, slip):
    high, low = open_ * (1 + up), open_ * (1 - down)
    broker = bt.brokers.BackBroker()
    broker.set_slippage_perc(slip)
    got = fill_prices(np.array([open_, open_]), np.array([high, high]), np.array([low, low]),
                      np.array([True, False]), slip)
    assert got[0] == broker._slip_up(high, open_, doslip=True)
    assert got[1] == broker._slip_down(low, open_, doslip=True)


def test_target_shares_resize_whole_and_fractional():
    w = np.array([[0.5, 0.0, 0.2], [0.0, -0.3, 0.0], [0.0, -0.1, 0.0]])
    cur = np.array([[10.0, 0.0, 7.0], [0.0, -4.0, 0.0], [0.0, 0.0, 0.0]])
    close = np.array([3.0, 7.0, np.nan])
    new, delta = target_shares(w, 100.0, close, cur, np.array([True, True, False]), False)
    np.testing.assert_array_equal(new[:, 2], cur[:, 2])  # not resized: kept (NaN close unused)
    np.testing.assert_array_equal(new[:, :2], [[16.0, 0.0], [0.0, -4.0], [0.0, -1.0]])  # trunc to 0
    np.testing.assert_array_equal(delta, new.sum(0) - cur.sum(0))
    new_f, _ = target_shares(w, 100.0, close, cur, np.array([True, True, False]), True)
    assert new_f[0, 0] == q_trunc(50.0 / 3.0) and 0 < 50.0 / 3.0 - new_f[0, 0] < SHARE_QUANTUM


# --------------------------------------------------------------------------- through book + overlay
def test_book_and_overlay_targets_reconcile_on_the_scenario_market():
    from squeeze_lab.feeds.scenario import scenario_market

    with warnings.catch_warnings():  # exchange_calendars under pandas 3.1 (not our code)
        warnings.simplefilter("ignore")
        m = scenario_market(seed=7, n_names=50, start="2024-06-03", end="2025-09-30")
    params = {"book": dict(names_per_leg=10, max_weight=0.2, momentum_lookback=60,
                           momentum_skip=5, vol_window=20, beta_window=40, rebalance="weekly"),
              "overlay": dict(enabled=True, actions=["degross", "hedge_basket", "cover_crowded"],
                              threshold=0.5, cooloff=3, basket_names=5, basket_min_cap=0.0,
                              signal_vol_window=20, overlay_beta_window=40),
              "execution": dict(commission_bps=1.0, slippage_bps=5.0, borrow_bps=100.0)}
    r, _ = run_backtrader(m, params)
    assert not r.overlay_log.empty
    assert r.targets.legs["hedge"].abs().to_numpy().sum() > 0
    v = run_vectorized(m, r.targets, overlay_log=r.overlay_log, **params["execution"])
    assert_reconciled(r, v)
    assert (r.trades["leg"].str.contains("hedge")).any()
