"""The twin's action row takes shortcuts that must not change a bit: tabulated borrow per day
count, precomputed limit prices, no mask when every name is resized, extreme-value cash checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_engines import random_market, random_targets

from squeeze_lab.strategies import twin
from squeeze_lab.strategies.borrow import short_charges
from squeeze_lab.strategies.execution import leg_targets
from squeeze_lab.strategies.limits import apply_limits, limit_price
from squeeze_lab.strategies.spec import EXECUTION

finite = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(days=hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(0, 9)),
       k=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_borrow_per_day_count_equals_the_rows_charges(days, k, seed):
    """A row's charges gathered from the table by its day count are the row's charges computed
    directly, and so are their totals (same operations on the same numbers)."""
    rng = np.random.default_rng(seed)
    rate = np.full(k, rng.uniform(1e-7, 1e-3))
    short = rng.uniform(1e-6, 1e5, k)
    avg = rng.uniform(0.01, 1e4, k)
    table = short_charges(np.arange(10)[:, None], rate, short, avg)
    direct = short_charges(days[:, None], rate, short, avg)
    np.testing.assert_array_equal(table[days], direct)
    np.testing.assert_array_equal(np.add.reduce(table, axis=1)[days], direct.sum(axis=1))


@pytest.mark.parametrize("detail", [True, False])
@pytest.mark.parametrize("exec_p", [{"borrow_bps": 300.0},
                                    {"borrow_bps": 80.0, "slippage_bps": 4.0,
                                     "max_leverage": 2.1, "margin_call_to": 1.9}])
def test_tabulated_borrow_gives_the_run_computed_row_by_row(monkeypatch, detail, exec_p):
    market = random_market(21, n_names=25, n_days=260)
    targets = random_targets(market, 21, every=9)
    fast = run_twin(market, targets, detail, exec_p)
    monkeypatch.setattr(twin, "_MAX_TABLE_DAYS", -1)    # every row computed directly
    slow = run_twin(market, targets, detail, exec_p)
    pd.testing.assert_series_equal(fast.equity, slow.equity, check_exact=True)
    pd.testing.assert_series_equal(fast.cash, slow.cash, check_exact=True)
    if detail:
        pd.testing.assert_frame_equal(fast.costs, slow.costs, check_exact=True)
        pd.testing.assert_frame_equal(fast.borrow_record.ledger, slow.borrow_record.ledger,
                                      check_exact=True)
        assert fast.costs["borrow"].sum() > 0


def run_twin(market, targets, detail, exec_p):
    return twin.run_vectorized(market, targets, detail=detail, **exec_p)


@settings(max_examples=40, deadline=None)
@given(w=hnp.arrays(np.float64, (3, 7), elements=st.floats(-0.3, 0.3)),
       value=finite, fractional=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_leg_targets_without_a_mask_is_every_name_resized(w, value, fractional, seed):
    rng = np.random.default_rng(seed)
    close = rng.uniform(1.0, 500.0, 7)
    held = rng.uniform(-50, 50, (3, 7))
    every = leg_targets(w, value, close, held, np.ones(7, bool)[None, :], fractional)
    np.testing.assert_array_equal(leg_targets(w, value, close, held, None, fractional), every)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), buffer=st.sampled_from([0.0, 0.05, 0.5, 0.99]),
       max_lev=st.sampled_from([0.0, 1.5, 4.0]))
def test_limits_given_the_limit_price_act_as_when_they_compute_it(seed, buffer, max_lev):
    rng = np.random.default_rng(seed)
    n = 9
    legs = rng.uniform(-200, 200, (3, n))
    current = rng.uniform(-200, 200, (3, n))
    close = rng.uniform(1.0, 100.0, n)
    signal = np.where(rng.random(n) < 0.2, np.nan, close)
    tradable = rng.random(n) < 0.85
    p = dict(EXECUTION.resolve({"cash_buffer": buffer, "max_leverage": max_lev,
                                "margin_call_to": min(max_lev, 1.2) or 2.0}))
    value, cash = float(rng.uniform(1e3, 5e4)), float(rng.uniform(-1e4, 5e4))
    args = (legs, current, close, signal, value, cash, tradable, p, 1e-4)
    new, records = apply_limits(*args)
    new2, records2 = apply_limits(*args, price=limit_price(signal, tradable))
    np.testing.assert_array_equal(new, new2)
    assert records == records2


@settings(max_examples=200, deadline=None)
@given(cash=st.floats(-1e6, 1e6), flow=hnp.arrays(
    np.float64, st.integers(1, 30),
    elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan), st.just(0.0))))
def test_the_largest_outflow_decides_the_cash_check(cash, flow):
    """``cash - max(running outflow) >= 0`` is ``all(cash - running outflow >= 0)``: the
    subtraction is monotone under rounding, and NaN fails both."""
    running = np.add.accumulate(flow)
    assert (cash - twin._max(running) >= 0) == bool((cash - running >= 0).all())
