"""Attribution: legs + costs sum to the equity change exactly; top names; factor regression.

Also holds the small helpers other analyzer tests import (``tiny_market``, ``simulate``): a tiny
valid Market and an independent, deliberately naive day-by-day simulator producing a
BacktestResult whose equity is cash + sum(shares * close) (so the attribution is checked against
bookkeeping it did not do itself).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.analyzers.attribution import (
    DAILY_COLUMNS,
    PARTS,
    attribute,
    factor_attribution,
    factor_frame,
    sign_legs,
    top_names,
    window_legs,
)
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market, normalize_index
from squeeze_lab.strategies.result import TRADE_COLUMNS, BacktestResult
from squeeze_lab.strategies.targets import LEGS

TICKERS = ("AAA", "BBB", "CCC", "DDD")


# --------------------------------------------------------------------------- helpers
def tiny_market(n_days: int = 40, tickers: tuple[str, ...] = TICKERS, seed: int = 0,
                start: str = "2025-05-01", factors: bool = True) -> Market:
    """A small valid Market: random-walk closes, opens near the previous close, attributes,
    reference series and factor returns."""
    rng = np.random.default_rng(seed)
    dates = normalize_index(pd.bdate_range(start, periods=n_days))
    m = len(tickers)
    rets = rng.normal(0.0005, 0.02, (n_days, m))
    rets[0] = 0.0
    close = 20.0 * np.cumprod(1.0 + rets, axis=0) * (1 + np.arange(m))
    gap = rng.normal(0.0, 0.005, (n_days, m))
    open_ = np.vstack([close[:1], close[:-1]]) * (1.0 + gap)
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    cols = pd.Index(tickers)

    def df(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=dates, columns=cols)

    attributes = pd.DataFrame({
        "sector": ["Technology", "Energy", "Technology", "Health"][:m] * (m // 4 + 1),
        "profitable": [True, False, False, True][:m] * (m // 4 + 1),
        "beta": [1.0, 1.5, 2.0, 0.5][:m] * (m // 4 + 1),
        "short_interest": [0.02, 0.30, 0.25, 0.05][:m] * (m // 4 + 1),
        "days_to_cover": [1.0, 6.0, 5.5, 2.0][:m] * (m // 4 + 1),
        "shares": [1e8, 5e7, 2e7, 3e8][:m] * (m // 4 + 1),
        "is_tech": [True, False, True, False][:m] * (m // 4 + 1),
    }).iloc[:m]
    attributes.index = cols
    r = pd.DataFrame(rets, index=dates, columns=cols)
    reference = pd.DataFrame({
        "index": r.mean(axis=1),
        "growth": r.iloc[:, ::2].mean(axis=1),
        "most_shorted": r.iloc[:, 1:3].mean(axis=1),
        "unprofitable_tech": r.iloc[:, 2],
    }, index=dates)
    fac = pd.DataFrame(rng.normal(0.0, 0.01, (n_days, 4)), index=dates,
                       columns=["market", "junk", "momentum", "quality"])
    fac.iloc[0] = 0.0
    return Market(open=df(open_), high=df(high), low=df(low), close=df(close),
                  volume=df(np.full((n_days, m), 1e6)), attributes=attributes,
                  reference=reference, factors=fac if factors else pd.DataFrame(),
                  source="test", synthetic=True, seed=seed)


def simulate(market: Market, orders: dict[int, dict[str, dict[str, float]]],
             cash: float = 1e6, commission_bps: float = 10.0, borrow_bps: float = 100.0,
             record_legs: bool = True) -> BacktestResult:
    """Naive reference engine: ``orders[t][leg][ticker]`` = target leg shares decided at close t,
    filled at the open of t + 1 (net delta per name, one fill); commission in bps of traded value;
    borrow on short net positions: rate / 365 * |shares| * previous close per day."""
    dates, tickers = market.dates, market.tickers
    n, m = len(dates), len(tickers)
    o, c = market.open.to_numpy(), market.close.to_numpy()
    legs = np.zeros((len(LEGS), m))
    pending: dict[str, dict[str, float]] | None = None
    cash_v = cash
    eq, cash_s = np.zeros(n), np.zeros(n)
    leg_hist = np.zeros((len(LEGS), n, m))
    trades, comm, borrow = [], np.zeros(n), np.zeros(n)
    for t in range(n):
        pos = legs.sum(axis=0)
        if t > 0:  # borrow on yesterday's shorts
            b = borrow_bps / 1e4 / 365.0 * np.abs(np.minimum(pos, 0.0)) @ c[t - 1]
            borrow[t] = b
            cash_v -= b
        if pending is not None:
            new = legs.copy()
            for leg, tgt in pending.items():
                for tk, sh in tgt.items():
                    new[LEGS.index(leg), tickers.get_loc(tk)] = sh
            delta = new.sum(axis=0) - legs.sum(axis=0)
            for j in np.flatnonzero(delta != 0):
                size, price = float(delta[j]), float(o[t, j])
                fee = commission_bps / 1e4 * abs(size) * price
                cash_v -= size * price + fee
                comm[t] += fee
                trades.append((dates[t], tickers[j], size, price, fee, ""))
            legs = new
            pending = None
        if t in orders:
            pending = orders[t]
        leg_hist[:, t] = legs
        cash_s[t] = cash_v
        eq[t] = cash_v + legs.sum(axis=0) @ c[t]
    leg_shares = {leg: pd.DataFrame(leg_hist[i], index=dates, columns=tickers)
                  for i, leg in enumerate(LEGS)} if record_legs else {}
    return BacktestResult(
        equity=pd.Series(eq, index=dates, name="equity"),
        cash=pd.Series(cash_s, index=dates, name="cash"),
        shares=pd.DataFrame(leg_hist.sum(axis=0), index=dates, columns=tickers),
        leg_shares=leg_shares,
        trades=pd.DataFrame(trades, columns=list(TRADE_COLUMNS)),
        costs=pd.DataFrame({"commission": comm, "borrow": borrow}, index=dates),
        engine="test-sim",
    )


def hand_market() -> Market:
    """Two names, five days, round prices (opens given explicitly)."""
    dates = normalize_index(pd.bdate_range("2025-06-02", periods=5))
    cols = pd.Index(["AAA", "BBB"])
    close = pd.DataFrame({"AAA": [10.0, 11.0, 12.0, 11.0, 13.0],
                          "BBB": [20.0, 19.0, 21.0, 18.0, 17.0]}, index=dates)
    open_ = pd.DataFrame({"AAA": [10.0, 10.5, 11.5, 11.5, 12.0],
                          "BBB": [20.0, 19.5, 20.0, 19.0, 17.5]}, index=dates)
    high = np.maximum(open_, close) + 0.5
    low = np.minimum(open_, close) - 0.5
    att = pd.DataFrame({"sector": ["Tech", "Energy"], "profitable": [True, False],
                        "beta": [1.0, 2.0], "short_interest": [0.01, 0.4]}, index=cols)
    return Market(open=open_, high=high, low=low, close=close,
                  volume=close * 0 + 1e6, attributes=att, source="test")


def test_hand_two_legs_known_pnl():
    mk = hand_market()
    # decided at close 0, filled at open 1: long 100 AAA @10.5, short 50 BBB @19.5
    # decided at close 2, filled at open 3: long leg to 40 AAA (sell 60 @11.5)
    orders = {0: {"long": {"AAA": 100.0}, "short": {"BBB": -50.0}}, 2: {"long": {"AAA": 40.0}}}
    res = simulate(mk, orders, cash=10_000.0, commission_bps=0.0, borrow_bps=0.0)
    attr = attribute(res, mk.close, initial_equity=10_000.0)
    d = attr.daily
    # long: day1 100*(11-10.5)=50; day2 100*(12-11)=100; day3 100*(11-12) + (-60)*(11-11.5)=-70;
    # day4 40*(13-11)=80
    assert d["long"].tolist() == pytest.approx([0.0, 50.0, 100.0, -70.0, 80.0], abs=1e-12)
    # short: day1 -50*(19-19.5)=25; day2 -50*(21-19)=-100; day3 -50*(18-21)=150; day4 -50*(17-18)=50
    assert d["short"].tolist() == pytest.approx([0.0, 25.0, -100.0, 150.0, 50.0], abs=1e-12)
    assert d["hedge"].abs().max() == 0.0
    assert np.allclose(d["total"], [0.0, 75.0, 0.0, 80.0, 130.0])
    assert np.abs(d["residual"]).max() < 1e-9
    w = window_legs(attr)
    assert w["pnl"]["long"] == pytest.approx(160.0)
    assert w["pnl"]["short"] == pytest.approx(125.0)
    assert w["contribution"]["total"] == pytest.approx(res.equity.iloc[-1] / 10_000.0 - 1.0)
    tn = top_names(attr, k=1, attributes=mk.attributes)
    assert tn["contributors"][0]["ticker"] == "AAA" and tn["contributors"][0]["leg"] == "long"
    assert tn["contributors"][0]["pnl"] == pytest.approx(160.0)
    assert tn["detractors"] == []  # both names made money


def test_costs_are_separate_and_sum_exactly():
    mk = hand_market()
    orders = {0: {"long": {"AAA": 100.0}, "short": {"BBB": -50.0}}, 3: {"short": {"BBB": 0.0}}}
    res = simulate(mk, orders, cash=10_000.0, commission_bps=10.0, borrow_bps=500.0)
    attr = attribute(res, mk.close)
    d = attr.daily
    assert (d["commission"] <= 0).all() and (d["borrow"] <= 0).all()
    assert d["commission"].iloc[1] == pytest.approx(-(100 * 10.5 + 50 * 19.5) * 1e-3)
    assert d["borrow"].iloc[2] == pytest.approx(-0.05 / 365 * 50 * 19.0)
    assert d["borrow"].iloc[1] == 0.0  # nothing was short at close 0
    assert np.allclose(d[list(PARTS)].sum(axis=1), d["total"], rtol=1e-9, atol=1e-9)
    assert list(d.columns) == list(DAILY_COLUMNS)


def test_internal_cross_between_legs_is_priced_at_close():
    mk = hand_market()
    # long buys 30 AAA while the hedge sells 30 AAA: no fill, only the book's labels move.
    orders = {0: {"long": {"AAA": 100.0}}, 1: {"long": {"AAA": 130.0}, "hedge": {"AAA": -30.0}}}
    res = simulate(mk, orders, cash=10_000.0, commission_bps=0.0, borrow_bps=0.0)
    assert len(res.trades) == 1
    d = attribute(res, mk.close).daily
    # day 3: long carries 130 shares, hedge -30: 130*(11-12) and -30*(11-12)
    assert d["long"].iloc[3] == pytest.approx(-130.0)
    assert d["hedge"].iloc[3] == pytest.approx(30.0)
    assert np.abs(d["residual"]).max() < 1e-9


def test_sign_legs_when_no_leg_shares():
    mk = hand_market()
    orders = {0: {"long": {"AAA": 100.0}, "short": {"BBB": -50.0}}}
    res = simulate(mk, orders, cash=10_000.0, record_legs=False)
    legs = sign_legs(res.shares)
    assert (legs["long"]["AAA"].iloc[1:] == 100).all() and (legs["short"]["BBB"].iloc[1:] == -50).all()
    with_legs = attribute(simulate(mk, orders, cash=10_000.0), mk.close).daily
    without = attribute(res, mk.close).daily
    pd.testing.assert_frame_equal(with_legs, without)


def test_inconsistent_result_shows_residual():
    """The residual is a real check: drop a fill and it appears."""
    mk = hand_market()
    res = simulate(mk, {0: {"long": {"AAA": 100.0}}}, cash=10_000.0, commission_bps=0.0)
    res.trades = res.trades.iloc[0:0]
    d = attribute(res, mk.close).daily
    assert abs(d["residual"].iloc[1]) == pytest.approx(100 * (11.0 - 10.5))


def test_fill_on_unknown_date_is_an_error():
    mk = hand_market()
    res = simulate(mk, {0: {"long": {"AAA": 100.0}}}, cash=10_000.0)
    res.trades.loc[0, "date"] = pd.Timestamp("2025-06-07")  # a Saturday
    with pytest.raises(SqueezeLabError, match="not a trading date"):
        attribute(res, mk.close)


def _random_orders(draw_seed: int, market: Market, n_orders: int) -> dict:
    rng = np.random.default_rng(draw_seed)
    out: dict[int, dict[str, dict[str, float]]] = {}
    for t in sorted(rng.choice(len(market.dates) - 1, size=n_orders, replace=False)):
        legs: dict[str, dict[str, float]] = {}
        for tk in rng.choice(market.tickers, size=2, replace=False):
            leg = str(rng.choice(LEGS))
            sign = {"long": 1.0, "short": -1.0, "hedge": float(rng.choice([-1.0, 1.0]))}[leg]
            legs.setdefault(leg, {})[str(tk)] = sign * float(rng.integers(0, 500)) * rng.random()
        out[int(t)] = legs
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_orders=st.integers(1, 8),
       comm=st.floats(0.0, 50.0), borrow=st.floats(0.0, 2000.0))
def test_property_legs_sum_to_total(seed, n_orders, comm, borrow):
    mk = tiny_market(n_days=25, seed=seed % 7)
    res = simulate(mk, _random_orders(seed, mk, n_orders), cash=1e5, commission_bps=comm,
                   borrow_bps=borrow)
    d = attribute(res, mk.close, initial_equity=1e5).daily
    parts = d[list(PARTS)].sum(axis=1).to_numpy()
    total = d["total"].to_numpy()
    scale = np.maximum(np.abs(total), 1e-9 * res.equity.abs().max())
    assert np.all(np.abs(parts - total) <= 1e-9 * scale + 1e-9)
    assert np.allclose(total[1:], np.diff(res.equity.to_numpy()))
    # names sum to the legs
    attr = attribute(res, mk.close)
    assert np.allclose(attr.names().sum(axis=1), d[["long", "short", "hedge"]].sum(axis=1))


def test_top_names_with_point_in_time_short_interest():
    mk = tiny_market(n_days=30, seed=3)
    si = pd.DataFrame(0.1, index=mk.dates, columns=mk.tickers)
    si.loc[mk.dates[10]:, "BBB"] = 0.45
    orders = {0: {"long": {"AAA": 1000.0, "DDD": 300.0}, "short": {"BBB": -800.0, "CCC": -200.0}}}
    res = simulate(mk, orders, cash=1e6)
    attr = attribute(res, mk.close)
    names = attr.names()
    win = (mk.dates[12], mk.dates[20])
    tn = top_names(attr, *win, k=2, attributes=mk.attributes, short_interest=si)
    pnl = names.loc[win[0]:win[1]].sum()
    best = pnl[pnl > 0].sort_values(ascending=False).index[:2].tolist()
    worst = pnl[pnl < 0].sort_values().index[:2].tolist()
    assert [x["ticker"] for x in tn["contributors"]] == best
    assert [x["ticker"] for x in tn["detractors"]] == worst
    base_eq = res.equity.iloc[11]
    for rec in tn["contributors"] + tn["detractors"]:
        assert rec["pnl"] == pytest.approx(pnl[rec["ticker"]])
        assert rec["contribution"] == pytest.approx(pnl[rec["ticker"]] / base_eq)
        assert rec["leg"] == ("long" if rec["ticker"] in ("AAA", "DDD") else "short")
        assert isinstance(rec["profitable"], bool) and isinstance(rec["beta"], float)
        if rec["ticker"] == "BBB":
            assert rec["short_interest"] == 0.45
        else:
            assert rec["short_interest"] == 0.1


def test_factor_attribution_recovers_betas_and_adds_up():
    mk = tiny_market(n_days=60, seed=5)
    f = mk.factors
    y = 0.0002 + 0.5 * f["market"] - 0.8 * f["junk"] + 0.3 * f["momentum"]
    y.iloc[0] = 0.0
    out = factor_attribution(y, f)
    assert out["n_obs"] == 59
    assert out["betas"]["market"] == pytest.approx(0.5, abs=1e-10)
    assert out["betas"]["junk"] == pytest.approx(-0.8, abs=1e-10)
    assert out["betas"]["quality"] == pytest.approx(0.0, abs=1e-10)
    assert out["alpha"] == pytest.approx(0.0002, abs=1e-12)
    assert out["r2"] == pytest.approx(1.0)
    assert sum(out["contribution"].values()) + out["specific"] == pytest.approx(out["sum_return"])
    assert out["contribution"]["junk"] == pytest.approx(-0.8 * f["junk"].iloc[1:].sum())
    w = factor_attribution(y, f, mk.dates[10], mk.dates[15])  # 6 obs, 4 factors + intercept
    assert w["n_obs"] == 6 and w["betas"]["momentum"] == pytest.approx(0.3, abs=1e-8)
    short = factor_attribution(y, f, mk.dates[10], mk.dates[13])
    assert short["betas"] is None and short["contribution"] is None
    assert short["window_return"] == pytest.approx(float(np.prod(1 + y.iloc[10:14]) - 1))


def test_factor_frame_prefers_factors_then_reference():
    mk = tiny_market(seed=1)
    f, src = factor_frame(mk.factors, mk.reference)
    assert src == "factors" and list(f.columns) == ["market", "junk", "momentum", "quality"]
    f, src = factor_frame(pd.DataFrame(), mk.reference)
    assert src == "reference" and list(f.columns) == ["index", "most_shorted"]
    f, src = factor_frame(pd.DataFrame(), pd.DataFrame())
    assert src == "none" and f.empty


def _leg_pnl_whole(S: list[np.ndarray], C: np.ndarray, F: np.ndarray) -> np.ndarray:
    """The split as one whole-array pass over every row (the form ``_leg_pnl`` must equal bit
    for bit): ``prevS * dC + where(ok, dS / sum(dS), fallback) * F``."""
    dC = np.empty(C.shape)
    dC[:1] = C[:1] - C[:1]
    np.subtract(C[1:], C[:-1], out=dC[1:])
    prev = [np.vstack([np.zeros((1, C.shape[1])), s[:-1]]) for s in S]
    tot, scale = S[0] - prev[0], np.abs(S[0] - prev[0])
    best, fallback = np.abs(prev[0]) + np.abs(S[0]), np.zeros(C.shape, dtype=np.int8)
    for i in range(1, len(S)):
        d = S[i] - prev[i]
        tot = tot + d
        scale = scale + np.abs(d)
        a = np.abs(prev[i]) + np.abs(S[i])
        fallback[a > best] = i
        best = np.where(a > best, a, best)
    ok = np.abs(tot) > np.maximum(scale, 1e-300) * 1e-9
    out = np.empty((len(S), *C.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(len(S)):
            w = np.where(ok, (S[i] - prev[i]) / tot, (fallback == i).astype(np.float64))
            out[i] = prev[i] * dC + w * F
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 70), st.integers(1, 40))
def test_leg_split_skips_quiet_rows_bit_for_bit(seed, n_names, n_rows):
    """Rows where no leg changes and nothing fills take the short form; every number (signed
    zeros included) equals the whole-array split: legs that hold, change, cross and cancel,
    fills on rows with and without leg changes, -0.0 shares and fill PnL, unlisted zeros."""
    from squeeze_lab.analyzers.attribution import _leg_pnl

    rng = np.random.default_rng(seed)
    shape = (n_rows, n_names)
    S = []
    for _ in LEGS:
        steps = np.where(rng.random(shape) < 0.15, rng.integers(-3, 4, shape) * 10.0, 0.0)
        s = np.cumsum(steps, axis=0)
        s[rng.random(shape) < 0.05] = -0.0
        S.append(s)
    S[2] = np.where(rng.random(shape) < 0.1, -S[0], S[2])   # crossings, some cancelling
    C = rng.uniform(1, 100, shape)
    C[rng.random(shape) < 0.05] = 0.0
    F = np.where(rng.random(shape) < 0.1, rng.normal(0, 50, shape), 0.0)
    F[rng.random(shape) < 0.05] = -0.0
    got = _leg_pnl(S, C, F)
    want = _leg_pnl_whole(S, C, F)
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


def _fill_pnl_whole(rows, cols, size, price, C):
    """The fills' PnL as one dates x tickers pass (the form ``FillPnl`` blocks must equal)."""
    D, V = np.zeros(C.shape), np.zeros(C.shape)
    np.add.at(D, (rows, cols), size)
    np.add.at(V, (rows, cols), size * price)
    return D * C - V


def _trades_frame(dates, tickers, rows, cols, size, price):
    return pd.DataFrame({"date": dates[rows], "ticker": np.asarray(tickers, dtype=object)[cols],
                         "size": size, "price": price})


def test_fill_pnl_hand_checked():
    """Two fills of one name on one day, marked at that close: 10 @ 5 and -4 @ 6, close 7:
    6 * 7 - (50 - 24) = 16; a fill of another name on another day: 3 * (9 - 8) = 3."""
    from squeeze_lab.analyzers.attribution import FillPnl

    dates = pd.date_range("2025-01-02", periods=3, freq="B")
    tickers = pd.Index(["AAA", "BBB"], dtype=object)
    tr = _trades_frame(dates, tickers, [1, 1, 2], [0, 0, 1], [10.0, -4.0, 3.0], [5.0, 6.0, 8.0])
    C = np.array([[1.0, 2.0], [7.0, 2.0], [7.0, 9.0]])
    fills = FillPnl(tr, dates, tickers)
    assert fills(C, 0, 2).tolist() == [[0.0, 0.0], [16.0, 0.0], [0.0, 3.0]]
    assert fills(C[:, 1:], 1, 2).tolist() == [[0.0], [0.0], [3.0]]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 150), st.integers(1, 30), st.integers(0, 60))
def test_fill_pnl_by_blocks_bit_for_bit(seed, n_names, n_rows, n_fills):
    """The split fed block by block (``FillPnl``) equals the split of the whole fill-PnL array,
    every number (signed zeros included): repeated fills of one cell, unlisted zero closes."""
    from squeeze_lab.analyzers.attribution import FillPnl, _leg_pnl

    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-02", periods=n_rows, freq="B")
    tickers = pd.Index([f"T{i}" for i in range(n_names)], dtype=object)
    rows, cols = rng.integers(0, n_rows, n_fills), rng.integers(0, n_names, n_fills)
    size = rng.integers(-5, 6, n_fills) * 10.0
    price = rng.uniform(1, 100, n_fills)
    C = rng.uniform(1, 100, (n_rows, n_names))
    C[rng.random(C.shape) < 0.05] = 0.0
    S = [np.cumsum(np.where(rng.random(C.shape) < 0.1, rng.integers(-3, 4, C.shape) * 10.0, 0.0),
                   axis=0) for _ in LEGS]
    whole = _fill_pnl_whole(rows, cols, size, price, C)
    fills = FillPnl(_trades_frame(dates, tickers, rows, cols, size, price), dates, tickers)
    assert np.array_equal(fills(C, 0, n_names).view(np.int64), whole.view(np.int64))
    got, want = _leg_pnl(S, C, fills), _leg_pnl(S, C, whole)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


def test_abs_col_sums_hand_checked():
    from squeeze_lab.analyzers.attribution import abs_col_sums

    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    assert abs_col_sums(x, np.array([2, 0])).tolist() == [9.0, 5.0]
    assert abs_col_sums(x, np.array([1]), other=x).tolist() == [29.0]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 150), st.integers(1, 300), st.integers(1, 5))
def test_abs_col_sums_bit_for_bit(seed, n_names, n_rows, n_cols):
    """Some columns' sums of |x| (or |x * other|) are those of every column, bit for bit: lone
    columns, a one-column x, rows enough for NumPy's pairwise sum to differ from row order."""
    from squeeze_lab.analyzers.attribution import abs_col_sums, abs_row_sums

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1e3, (n_rows, n_names)) * rng.choice([1.0, 1e-9, 1e9], (n_rows, n_names))
    other = rng.uniform(1, 100, x.shape)
    cols = rng.choice(n_names, min(n_cols, n_names), replace=False)
    for o in (None, other):
        want = abs_row_sums(x, o)[cols]
        assert np.array_equal(abs_col_sums(x, cols, o).view(np.int64), want.view(np.int64))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 8))
def test_top_names_leg_is_the_whole_array_choice(seed, k):
    """The leg reported for each top name is the argmax over legs of |value| held (else of
    |pnl|) computed on every name, as before only the picked names were read."""
    mk = tiny_market(n_days=30, seed=seed % 1000)
    rng = np.random.default_rng(seed)
    orders = {d: {leg: {t: float(rng.integers(-20, 21)) for t in TICKERS if rng.random() < 0.5}
                  for leg in LEGS} for d in range(0, 28, 4)}
    attr = attribute(simulate(mk, orders, cash=1e5), mk.close)
    held = np.abs(np.asarray(attr.held)[:, 4:21]).sum(axis=1)
    lpnl = np.abs(attr.by_leg[:, 5:21]).sum(axis=1)
    legs = np.where(held.max(axis=0) > 0, held.argmax(axis=0), lpnl.argmax(axis=0))
    tn = top_names(attr, mk.dates[5], mk.dates[20], k=k)
    for rec in tn["contributors"] + tn["detractors"]:
        assert rec["leg"] == LEGS[int(legs[list(attr.tickers).index(rec["ticker"])])]
