"""Maintenance margin: a book whose losses push gross / equity past ``execution.max_leverage`` is
cut back to ``margin_call_to`` at the next open, in both engines, and the call is recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engines import assert_reconciled, hand_market, hand_targets, random_market, random_targets

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.strategies.engine import run_backtrader
from squeeze_lab.strategies.execution import SHARE_QUANTUM, resolve_exec_params
from squeeze_lab.strategies.limits import margin_call
from squeeze_lab.strategies.result import MARGIN_CALL_COLUMNS
from squeeze_lab.strategies.twin import run_vectorized

NO_COSTS = dict(commission_bps=0.0, slippage_bps=0.0, borrow_bps=0.0, cash=1_000_000.0)


def squeeze_market():
    """N0 flat at 100 (the long), N1 (the short) rips 100 -> 130 -> 145, then stays."""
    n0 = [100.0] * 8
    n1 = [100.0, 100.0, 130.0, 145.0, 145.0, 145.0, 145.0, 145.0]
    return hand_market([list(r) for r in zip(n0, n1, strict=True)])


def both(market, targets, **ex):
    bt_res = run_backtrader(market, ex, targets=targets)[0]
    tw_res = run_vectorized(market, targets, **ex)
    assert_reconciled(bt_res, tw_res)
    pd.testing.assert_frame_equal(bt_res.margin_calls, tw_res.margin_calls, check_exact=False,
                                  rtol=1e-9)
    return bt_res, tw_res


def test_a_squeezed_short_triggers_a_margin_call_at_the_next_open_by_hand():
    m = squeeze_market()
    t = hand_targets(m, {0: {"long": [1.0, 0.0], "short": [0.0, -1.0]}})
    r, _ = both(m, t, max_leverage=4.0, margin_call_to=2.0, **NO_COSTS)
    # filled at row 1's open (100 each): 10,000 shares long N0 and short N1, cash 1e6
    # row 2: equity 1e6 + 1e6 - 1.3e6 = 700k, gross 2.3e6: 3.29x, no call
    # row 3: equity 550k, gross 2.45e6: 4.4545x > 4 -> cut to 2x at row 4's open
    calls = r.margin_calls
    assert list(calls.columns) == list(MARGIN_CALL_COLUMNS)
    assert len(calls) == 1
    c = calls.iloc[0]
    assert c["date"] == m.dates[3] and c["fill_date"] == m.dates[4]
    assert c["rule"] == "max_leverage"
    assert c["equity"] == pytest.approx(550_000.0, rel=1e-12)
    assert c["gross"] == pytest.approx(2_450_000.0, rel=1e-12)
    assert c["leverage"] == pytest.approx(2_450_000 / 550_000, rel=1e-12)
    scale = 2.0 * 550_000 / 2_450_000
    assert c["scale"] == pytest.approx(scale, rel=1e-12)
    held = np.trunc(10_000 * scale / SHARE_QUANTUM) * SHARE_QUANTUM
    np.testing.assert_allclose(r.shares.iloc[4].to_numpy(), [held, -held], rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.shares.iloc[3].to_numpy(), [10_000, -10_000])
    cut = r.trades[r.trades["reason"] == "margin_call"]
    assert list(cut["date"]) == [m.dates[4], m.dates[4]]
    assert list(cut["ticker"]) == ["N0", "N1"]  # sells first, then the short bought back
    np.testing.assert_allclose(cut["size"], [held - 10_000, 10_000 - held], atol=1e-9)
    gross_after = held * (100 + 145)
    assert gross_after / r.equity.iloc[4] == pytest.approx(2.0, rel=1e-6)
    assert c["leverage_after"] == pytest.approx(2.0, rel=1e-6)
    # the legs follow the cut
    assert r.leg_shares["long"].iloc[4, 0] == held and r.leg_shares["short"].iloc[4, 1] == -held


def test_no_call_without_a_limit_and_whole_shares_truncate():
    m = squeeze_market()
    t = hand_targets(m, {0: {"long": [1.0, 0.0], "short": [0.0, -1.0]}})
    r, _ = both(m, t, max_leverage=0.0, **NO_COSTS)
    assert r.margin_calls.empty and (r.trades["reason"] != "margin_call").all()
    gross = (r.shares.abs() * m.close).sum(axis=1)
    assert (gross / r.equity).iloc[-1] == pytest.approx(2_450_000 / 550_000)
    r, _ = both(m, t, max_leverage=4.0, margin_call_to=2.0, fractional=False, **NO_COSTS)
    assert r.shares.iloc[4].tolist() == [4489.0, -4489.0]


def test_a_signal_row_over_the_limit_is_cut_the_same_day():
    # a rebalance that asks for 5x gross is itself cut to margin_call_to at its own fill
    m = squeeze_market()
    t = hand_targets(m, {0: {"long": [2.5, 0.0], "short": [0.0, -2.5]}})
    r, _ = both(m, t, max_leverage=4.0, margin_call_to=3.0, **NO_COSTS)
    first = r.margin_calls.iloc[0]
    assert first["date"] == m.dates[0] and first["leverage"] == pytest.approx(5.0)
    assert (r.shares.abs().iloc[1] * m.open.iloc[1]).sum() / 1e6 == pytest.approx(3.0, rel=1e-9)
    assert set(r.trades["reason"].iloc[:2]) == {"margin_call"}


def test_margin_call_keeps_names_that_cannot_trade():
    legs = np.array([[100.0, 50.0], [0.0, 0.0], [0.0, 0.0]])
    close = np.array([10.0, 10.0])
    new, rec = margin_call(legs, close, 200.0, np.array([True, False]), 4.0, 2.0, True)
    # gross 1500 on 200 equity (7.5x); N1 (500) cannot trade: N0 scaled to 400 - 500 < 0 -> 0
    assert rec["scale"] == 0.0 and new[0].tolist() == [0.0, 50.0]
    same, none = margin_call(legs, close, 1000.0, np.array([True, True]), 4.0, 2.0, True)
    assert none is None and same is legs
    bust, rec = margin_call(legs, close, -5.0, np.array([True, True]), 4.0, 2.0, True)
    assert rec["leverage"] == np.inf and not bust.any()


def test_margin_settings_are_checked():
    with pytest.raises(SqueezeLabError, match="margin_call_to=5 is above execution.max_leverage=4"):
        resolve_exec_params(max_leverage=4.0, margin_call_to=5.0)
    with pytest.raises(SqueezeLabError, match="margin_call_to=0.0 is outside"):
        resolve_exec_params(margin_call_to=0.0)
    assert resolve_exec_params(max_leverage=0.0, margin_call_to=9.0)["max_leverage"] == 0.0


def check_random_run(seed: int, fractional: bool):
    m = random_market(seed=seed, n_names=10, n_days=90)
    t = random_targets(m, seed=seed, every=20, gross=3.4, hedge=0.2)
    ex = dict(commission_bps=2.0, slippage_bps=5.0, borrow_bps=300.0, fractional=fractional,
              max_leverage=3.5, margin_call_to=2.5)
    r, _ = both(m, t, **ex)
    calls = r.margin_calls
    margin = calls[calls["rule"] == "max_leverage"]
    assert (margin["leverage"] > 3.5).all() and (margin["leverage_after"] <= 2.5 + 1e-9).all()
    funded = calls[calls["rule"] == "cash"]
    assert (funded["cash_after"] >= 0.05 * funded["equity"] - 1e-6).all()
    assert r.rejected_orders == 0
    return calls


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), fractional=st.booleans())
def test_engines_reconcile_with_margin_calls_on_random_markets(seed, fractional):
    check_random_run(seed, fractional)


def test_a_random_market_with_margin_calls_and_funding_cuts():
    # seed 851: 3.4x targets drift past 3.5x three times, and a delisting short is bought back
    # with cash the drifted book does not have (the funding rule cuts longs first)
    calls = check_random_run(851, False)
    assert set(calls["rule"]) == {"max_leverage", "cash"}


def test_a_refusal_names_date_ticker_and_the_setting():
    # buys sized to the close (funding keeps 5% of equity in cash) cannot be paid when the
    # next open gaps to 3x: the one-line error says where and which setting to change
    m = hand_market([[100.0, 100.0]] * 4, open_=[[100.0, 100.0], [300.0, 300.0],
                                                  [100.0, 100.0], [100.0, 100.0]])
    t = hand_targets(m, {0: {"long": [0.9, 0.9], "short": [0.0, 0.0]}})
    with pytest.raises(SqueezeLabError) as err:
        run_backtrader(m, NO_COSTS, targets=t)
    msg = str(err.value)
    assert "refused by the broker for cash" in msg and "signalled 2024-01-04" in msg
    assert "N0" in msg or "N1" in msg
    assert "raise execution.cash_buffer (now 0.05)" in msg
    with pytest.raises(SqueezeLabError, match="raise execution.cash_buffer"):
        run_vectorized(m, t, **NO_COSTS)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 40), st.sampled_from([2.0, 3.0, 4.0]),
       st.floats(-1e-12, 1e-12), st.booleans())
def test_the_strategys_leverage_screen_decides_as_the_exact_test(seed, n, max_lev, eps, nan):
    """``SqueezeBook._over_leverage`` (a bound for many rows, the exact sum near the limit)
    calls a breach exactly where ``leverage`` does, equity a hair above or below the limit,
    zero and NaN closes, zero and negative equity included."""
    from types import SimpleNamespace

    from squeeze_lab.strategies.bt_strategy import SqueezeBook
    from squeeze_lab.strategies.limits import leverage

    rng = np.random.default_rng(seed)
    close = rng.uniform(1, 200, (90, n))
    close[rng.random(close.shape) < 0.1] = 0.0
    if nan:
        close[rng.integers(0, 90), rng.integers(0, n)] = np.nan
    net = rng.normal(0, 1e3, n).round(3)
    book = SimpleNamespace(_value_close=close, _net=net, _last_row=89, _gross_bound=None,
                           p=SimpleNamespace(max_leverage=max_lev))
    for row in rng.permutation(90)[:40].tolist():
        gross, _ = leverage(net, close[row], 1.0)
        bound = float(close[row] @ np.abs(net))   # the same terms, summed in another order
        lo, hi = sorted((gross / max_lev, bound / max_lev))
        edge = [lo * (1 - 1e-15), lo, (lo + hi) / 2, hi, hi * (1 + 1e-15)]
        for value in (gross / max_lev * (1 + eps), *edge, gross, 0.0, -5.0):
            want = leverage(net, close[row], value)[1] > max_lev
            assert SqueezeBook._over_leverage(book, row, value) == want
