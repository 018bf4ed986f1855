"""Exposures: hand-checked market values, leverage, beta, names per leg, turnover, hedge size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_attribution import hand_market, simulate, tiny_market

from squeeze_lab.analyzers.exposures import (
    EXPOSURE_COLUMNS,
    SUMMARY_STATS,
    exposures,
    summarize_exposures,
)
from squeeze_lab.strategies.targets import LEGS


def _hand_run():
    mk = hand_market()
    # close 0 -> open 1: long 100 AAA @10.5, short 50 BBB @19.5;
    # close 2 -> open 3: hedge buys 20 BBB (net BBB -30, one buy of 20 @19.0)
    orders = {0: {"long": {"AAA": 100.0}, "short": {"BBB": -50.0}}, 2: {"hedge": {"BBB": 20.0}}}
    return mk, simulate(mk, orders, cash=10_000.0, commission_bps=0.0, borrow_bps=0.0)


def test_hand_checked_exposures():
    mk, res = _hand_run()
    exp = exposures(res, mk.close, betas=mk.attributes["beta"])
    assert list(exp.columns) == list(EXPOSURE_COLUMNS)
    d1, d3 = exp.iloc[1], exp.iloc[3]
    # day 1 closes: AAA 11, BBB 19
    assert d1["long_value"] == 1100.0 and d1["short_value"] == -950.0
    assert d1["gross"] == 2050.0 and d1["net"] == 150.0
    assert d1["beta_net"] == pytest.approx(1100.0 * 1.0 - 950.0 * 2.0)
    eq1 = res.equity.iloc[1]
    assert eq1 == pytest.approx(10_000.0 + 100 * (11 - 10.5) - 50 * (19 - 19.5))
    assert d1["gross_exposure"] == pytest.approx(2050.0 / eq1)
    assert d1["beta_net_exposure"] == pytest.approx(-800.0 / eq1)
    assert (d1["n_long"], d1["n_short"], d1["n_hedge"]) == (1, 1, 0)
    assert d1["traded_value"] == pytest.approx(100 * 10.5 + 50 * 19.5)
    assert d1["turnover"] == pytest.approx((100 * 10.5 + 50 * 19.5) / 10_000.0)
    # day 3 closes: AAA 11, BBB 18; the hedge leg holds +20 BBB, net BBB -30
    assert d3["short_value"] == -30 * 18.0 and d3["long_value"] == 1100.0
    assert d3["short_leg_value"] == -50 * 18.0 and d3["hedge_value"] == 20 * 18.0
    assert d3["hedge_gross"] == 360.0 and d3["n_hedge"] == 1
    assert d3["hedge_exposure"] == pytest.approx(360.0 / res.equity.iloc[3])
    assert d3["turnover"] == pytest.approx(20 * 19.0 / res.equity.iloc[2])
    assert exp["turnover"].iloc[[0, 2, 4]].eq(0).all()
    no_beta = exposures(res, mk.close)
    assert np.allclose(no_beta["beta_net"], no_beta["net"])


def test_summary_per_window():
    mk, res = _hand_run()
    exp = exposures(res, mk.close)
    s = summarize_exposures(exp, mk.dates[1], mk.dates[3], ("gross", "n_hedge"))
    g = exp["gross"].iloc[1:4]
    assert set(s) == {"gross", "n_hedge"} and set(s["gross"]) == set(SUMMARY_STATS)
    assert s["gross"]["mean"] == pytest.approx(g.mean())
    assert s["gross"]["max"] == g.max() and s["gross"]["min"] == g.min()
    assert s["gross"]["at_start"] == g.iloc[0] and s["gross"]["at_end"] == g.iloc[-1]
    assert s["n_hedge"] == {"mean": 1 / 3, "max": 1.0, "min": 0.0, "at_start": 0.0, "at_end": 1.0}
    full = summarize_exposures(exp)
    assert set(full) == set(EXPOSURE_COLUMNS)
    assert all(isinstance(v, float) or v is None for c in full.values() for v in c.values())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000))
def test_property_gross_net_identities(seed):
    mk = tiny_market(n_days=20, seed=seed % 5)
    rng = np.random.default_rng(seed)
    orders = {int(t): {"long": {"AAA": float(rng.integers(0, 300))},
                       "short": {"BBB": -float(rng.integers(0, 300))},
                       "hedge": {"CCC": float(rng.integers(-100, 100))}}
              for t in rng.choice(18, size=3, replace=False)}
    res = simulate(mk, orders, cash=1e5)
    exp = exposures(res, mk.close)
    assert (exp["gross"] >= exp["net"].abs() - 1e-9).all()
    assert np.allclose(exp["long_value"] + exp["short_value"], exp["net"])
    assert np.allclose(exp["long_leg_value"] + exp["short_leg_value"] + exp["hedge_value"],
                       exp["net"])
    held = (res.shares * mk.close).sum(axis=1)
    assert np.allclose(exp["net"], held)
    assert np.allclose(exp["equity"], res.equity)
    assert (exp["turnover"] >= 0).all()
    assert isinstance(exp.index, pd.DatetimeIndex)


def _value_sums_whole(S, C):
    """The per-row sums as whole-array passes (the form ``value_sums`` blocks must equal)."""
    legval = [s * C for s in S]
    pos = legval[0] + legval[1]
    for lv in legval[2:]:
        pos += lv
    out = {"long_value": np.where(pos > 0, pos, 0.0).sum(axis=1),
           "short_value": np.where(pos < 0, pos, 0.0).sum(axis=1),
           "hedge_gross": np.abs(legval[2]).sum(axis=1)}
    for i, leg in enumerate(LEGS):
        out[f"{leg}_leg_value" if leg != "hedge" else "hedge_value"] = legval[i].sum(axis=1)
        out[f"n_{leg}"] = (S[i] != 0).sum(axis=1).astype(np.int64)
    return out, pos


def test_value_sums_hand_checked():
    """One row: long 2 AAA @ 10, short -3 BBB @ 5, hedge +1 BBB @ 5: net AAA +20, BBB -10."""
    from squeeze_lab.analyzers.exposures import value_sums

    S = [np.array([[2.0, 0.0]]), np.array([[0.0, -3.0]]), np.array([[0.0, 1.0]])]
    out, pos = value_sums(S, np.array([[10.0, 5.0]]))
    assert pos.tolist() == [[20.0, -10.0]]
    assert (out["long_value"][0], out["short_value"][0]) == (20.0, -10.0)
    assert (out["long_leg_value"][0], out["short_leg_value"][0], out["hedge_value"][0]) == (
        20.0, -15.0, 5.0)
    assert out["hedge_gross"][0] == 5.0
    assert (out["n_long"][0], out["n_short"][0], out["n_hedge"][0]) == (1, 1, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 90), st.integers(1, 40), st.integers(1, 7))
def test_value_sums_by_row_blocks_bit_for_bit(seed, n_names, n_rows, block):
    """Row blocks (of 1 to 7 rows here) give every row's sums as the whole-array form does."""
    import squeeze_lab.analyzers.exposures as ex

    rng = np.random.default_rng(seed)
    shape = (n_rows, n_names)
    S = [np.where(rng.random(shape) < 0.3, rng.normal(0, 100, shape), 0.0) for _ in LEGS]
    S[1][rng.random(shape) < 0.05] = -0.0
    C = rng.uniform(1, 100, shape)
    want, want_pos = _value_sums_whole(S, C)
    old = ex._ROWS
    try:
        ex._ROWS = block
        got, pos = ex.value_sums(S, C)
    finally:
        ex._ROWS = old
    assert np.array_equal(pos.view(np.int64), want_pos.view(np.int64))
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k].view(np.int64), v.view(np.int64)), k
