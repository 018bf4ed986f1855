"""The result assembly's array steps: shares from fills, leg frames built on first use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.strategies.borrow import flat_terms
from squeeze_lab.strategies.result import Fills, LegFrames, frames_by_leg, legs_from_log
from squeeze_lab.strategies.targets import LEGS


def fills_of(rows, cols, size) -> Fills:
    n = len(rows)
    return Fills(rows=np.asarray(rows, np.int64), cols=np.asarray(cols, np.int64),
                 size=np.asarray(size, np.float64), price=np.ones(n), commission=np.zeros(n),
                 leg=np.full(n, "long", dtype=object), reason=np.full(n, "", dtype=object))


def test_shares_by_hand():
    f = fills_of([1, 1, 3, 3], [0, 1, 0, 0], [10.0, -5.0, -4.0, 1.5])
    got = f.shares(5, 2)
    np.testing.assert_array_equal(got, [[0, 0], [10, -5], [10, -5], [7.5, -5], [7.5, -5]])
    assert not fills_of([], [], []).shares(3, 2).any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 40), n_fills=st.integers(0, 60))
def test_shares_equal_the_running_sum_of_fills(seed, n_rows, n_fills):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.integers(0, n_rows, n_fills))
    f = fills_of(rows, rng.integers(0, 4, n_fills), rng.normal(0, 100, n_fills))
    delta = np.zeros((n_rows, 4))
    np.add.at(delta, (f.rows, f.cols), f.size)
    np.testing.assert_array_equal(f.shares(n_rows, 4), np.cumsum(delta, axis=0))


def test_leg_frames_equal_the_log_and_build_on_first_use():
    dates = pd.bdate_range("2024-01-01", periods=6)
    tickers = pd.Index(["A", "B"])
    rows = np.array([1, 3, 3, 4])   # of equal rows the last counts
    states = np.arange(len(rows) * len(LEGS) * 2, dtype=np.float64).reshape(len(rows), len(LEGS), 2)
    lazy = LegFrames(dates, tickers, rows, states)
    assert not lazy._frames and len(lazy) == 3 and list(lazy) == list(LEGS)
    ref = frames_by_leg(legs_from_log(6, 2, rows, states), dates, tickers)
    for leg in LEGS:
        pd.testing.assert_frame_equal(lazy[leg], ref[leg], check_exact=True)
    assert lazy["short"].iloc[0].tolist() == [0.0, 0.0]               # before the first fill
    assert lazy["long"].iloc[3].tolist() == states[2, 0].tolist()      # the last of row 3
    assert dict(lazy).keys() == ref.keys() and "hedge" in lazy and "cash" not in lazy
    empty = LegFrames(dates, tickers, np.zeros(0, np.int64), np.zeros(0))
    assert not empty["long"].to_numpy().any()


def test_flat_terms_broadcast_one_row():
    t = flat_terms(4, 3, 250.0)
    assert t.fee_bps.shape == t.rate.shape == t.available.shape == (4, 3)
    np.testing.assert_array_equal(t.rate, np.full((4, 3), 250.0 / 1e4 / 365.0))
    assert t.charging and not t.limited and not flat_terms(4, 3, 0.0).charging
    assert not t.fee_bps.flags.writeable   # shared rows: read-only
