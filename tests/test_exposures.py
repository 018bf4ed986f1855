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
