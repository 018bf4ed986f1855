"""Reference baskets built from constituents: small cases worked out by hand, plus properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.feeds.baskets import (
    cap_weighted_index,
    equal_weight_basket,
    market_cap,
    most_shorted_members,
    rebalance_dates,
    unprofitable_tech_members,
)
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.reference import reference_series

NAN = np.nan


def frame(rows: list[list[float]], dates: list[str], cols: str = "ABCD") -> pd.DataFrame:
    return pd.DataFrame(rows, index=pd.DatetimeIndex(dates, name="date"), columns=list(cols))


SIX = ["2026-01-12", "2026-01-13", "2026-01-14", "2026-01-15", "2026-01-16", "2026-01-20"]


# ----------------------------------------------------------------------------- schedule
def test_rebalance_dates_twice_monthly_is_last_session_before_the_1st_and_15th():
    idx = pd.DatetimeIndex(["2025-12-10", "2025-12-12", "2025-12-15", "2025-12-31",
                            "2026-01-02", "2026-01-14", "2026-01-15", "2026-01-16"])
    got = rebalance_dates(idx, "SMS")
    # first session; 12-12 (before 12-15); 12-31 (before 01-01); 01-14 (before 01-15)
    assert list(got.strftime("%Y-%m-%d")) == ["2025-12-10", "2025-12-12", "2025-12-31",
                                              "2026-01-14"]


def test_rebalance_dates_monthly_and_bad_frequency():
    idx = pd.DatetimeIndex(["2025-12-30", "2025-12-31", "2026-01-02", "2026-01-30",
                            "2026-02-02"])
    assert list(rebalance_dates(idx, "MS").strftime("%Y-%m-%d")) == [
        "2025-12-30", "2025-12-31", "2026-01-30"]
    with pytest.raises(SqueezeLabError, match="unknown rebalance frequency"):
        rebalance_dates(idx, "every full moon")


# ----------------------------------------------------------------------------- cap weighted
def test_cap_weighted_index_by_hand():
    close = frame([[10, 20, NAN], [11, 20, 5], [11, 18, 5.5], [12.1, 18, 5.5]], SIX[:4], "ABC")
    shares = pd.Series({"A": 100.0, "B": 50.0, "C": 200.0})
    r = cap_weighted_index(close, shares)
    # day 1: caps at day 0 A=1000, B=1000 (C not listed): (0.1*1000 + 0)/2000
    # day 2: caps at day 1 A=1100, B=1000, C=1000: (0 - 0.1*1000 + 0.1*1000)/3100
    # day 3: caps at day 2 A=1100, B=900, C=1100: (0.1*1100)/3100
    np.testing.assert_allclose(r.to_numpy(), [0.0, 0.05, 0.0, 110 / 3100], atol=1e-15)
    assert r.index.equals(close.index)


def test_cap_weighted_index_with_members_uses_yesterdays_membership():
    close = frame([[10, 20], [11, 22], [11, 11]], SIX[:3], "AB")
    shares = pd.Series({"A": 1.0, "B": 1.0})
    members = pd.DataFrame([[True, False], [False, True], [True, True]], index=close.index,
                           columns=close.columns)
    r = cap_weighted_index(close, shares, members)
    # day 1 uses day-0 members {A}: +10%; day 2 uses day-1 members {B}: -50%
    np.testing.assert_allclose(r.to_numpy(), [0.0, 0.1, -0.5])


# ----------------------------------------------------------------------------- equal weight
def test_equal_weight_basket_drifts_between_rebalances_by_hand():
    close = frame([
        [10, 10, 10, 10],
        [11, 9, 10, 10],
        [12.1, 9, 11, 10],
        [12.1, 9.9, 11, 5],
        [13.31, 9.9, 11, NAN],   # D delists
        [13.31, 9.9, 12.1, NAN],
    ], SIX)
    members = pd.DataFrame(False, index=close.index, columns=close.columns)
    members.iloc[0:2, [0, 1]] = True          # {A, B} decided at day 0
    members.iloc[2:, [0, 2, 3]] = True        # {A, C, D} decided at the day-2 rebalance
    r = equal_weight_basket(close, members, rebalance=close.index[[0, 2]])
    expected = [
        0.0,
        (0.1 - 0.1) / 2,                      # equal weights at day 0
        (1.1 * 0.1 + 0.9 * 0.0) / 2.0,        # drifted weights A 1.1, B 0.9
        (0.0 + 0.0 - 0.5) / 3,                # fresh equal weights at day 2
        (1.0 * 0.1 + 1.0 * 0.0) / 2.0,        # D has no price: dropped, others re-normalized
        (1.1 * 0.0 + 1.0 * 0.1) / 2.1,        # D no longer a member (not listed)
    ]
    np.testing.assert_allclose(r.to_numpy(), expected, atol=1e-15)


def test_equal_weight_basket_default_resets_when_members_change():
    close = frame([[10, 10], [20, 10], [20, 10], [40, 10]], SIX[:4], "AB")
    members = pd.DataFrame([[True, False], [True, False], [True, True], [True, True]],
                           index=close.index, columns=close.columns)
    r = equal_weight_basket(close, members)
    # the set changes at day 2: weights reset to equal there, so day 3 = (1.0 + 0.0) / 2
    # (without the reset A would weigh 2 against B's 1: 2/3)
    np.testing.assert_allclose(r.to_numpy(), [0.0, 1.0, 0.0, 0.5])


def test_equal_weight_basket_without_members_is_flat():
    close = frame([[10, 10], [11, 9]], SIX[:2], "AB")
    members = pd.DataFrame(False, index=close.index, columns=close.columns)
    assert equal_weight_basket(close, members).tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------- members
def test_most_shorted_members_by_hand():
    cols = "VWXYZ"
    si = frame([
        [0.05, 0.30, 0.20, 0.10, 0.25],
        [0.05, 0.30, 0.20, 0.01, 0.25],   # Y's short interest collapses: held until rebalance
        [0.05, 0.30, 0.20, 0.01, 0.25],
        [0.05, 0.30, 0.20, 0.01, 0.25],
        [0.05, 0.30, 0.20, 0.01, 0.25],
        [0.05, 0.30, 0.20, 0.01, 0.25],
    ], SIX, cols)
    cap = frame([
        [3e9, 0.5e9, 2e9, 5e9, NAN],      # Z not listed yet, W below the $1bn floor
        [3e9, 0.5e9, 2e9, 5e9, NAN],
        [3e9, 0.5e9, 2e9, 5e9, 4e9],
        [3e9, 0.5e9, 2e9, 5e9, 4e9],
        [3e9, 0.5e9, 2e9, 5e9, 4e9],
        [3e9, 0.5e9, NAN, 5e9, 4e9],      # X delists
    ], SIX, cols)
    m = most_shorted_members(si, cap, n=2, min_cap=1e9, freq="SMS")
    # rebalances: first session (01-12) and the last session before 01-15 (01-14)
    held = [sorted(m.columns[row]) for row in m.to_numpy()]
    assert held == [["X", "Y"], ["X", "Y"], ["X", "Z"], ["X", "Z"], ["X", "Z"], ["Z"]]


def test_most_shorted_members_breaks_ties_by_column_order_and_caps_at_eligible():
    si = frame([[0.2, 0.2, 0.2]], SIX[:1], "ABC")
    cap = frame([[2e9, 2e9, 2e9]], SIX[:1], "ABC")
    assert most_shorted_members(si, cap, n=2).iloc[0].tolist() == [True, True, False]
    assert most_shorted_members(si, cap, n=50).iloc[0].sum() == 3
    with pytest.raises(SqueezeLabError, match="basket size"):
        most_shorted_members(si, cap, n=0)


def test_unprofitable_tech_members_by_hand():
    att = pd.DataFrame({"is_tech": [True, True, True, False, True],
                        "profitable": [False, False, True, False, False]}, index=list("ABCDE"))
    dates = ["2026-01-29", "2026-01-30", "2026-02-02"]
    cap = frame([[2e9, 3e9, 9e9, 9e9, 0.5e9],
                 [2e9, 1e9, 9e9, 9e9, 5e9],
                 [2e9, 1e9, 9e9, 9e9, 5e9]], dates, "ABCDE")
    m = unprofitable_tech_members(att, cap, n=1, freq="MS", min_cap=1e9)
    # first session: largest unprofitable tech above the floor is B; month-end rebalance: E
    assert [list(m.columns[row]) for row in m.to_numpy()] == [["B"], ["E"], ["E"]]
    with pytest.raises(SqueezeLabError, match="is_tech"):
        unprofitable_tech_members(att.drop(columns="is_tech"), cap)


# ----------------------------------------------------------------------------- reference
def _toy():
    close = frame([[10, 20, 5, 2], [11, 19, 5.5, 2.2], [12, 19, 6, 2.1], [12, 20, 6.6, 2.3]],
                  SIX[:4])
    att = pd.DataFrame({"shares": [1e9, 2e8, 4e8, 1e9], "is_tech": [True, False, True, True],
                        "profitable": [True, True, False, False],
                        "short_interest": [0.01, 0.02, 0.30, 0.25]}, index=list("ABCD"))
    return close, att


def test_reference_series_builds_each_series_from_constituents():
    close, att = _toy()
    ref = reference_series(close, att, n=2, min_cap=1e9)
    assert list(ref.columns) == ["index", "growth", "most_shorted", "unprofitable_tech"]
    assert ref.index.name == "date" and (ref.iloc[0] == 0).all()
    pd.testing.assert_series_equal(ref["index"], cap_weighted_index(close, att["shares"]),
                                   check_names=False)
    tech = pd.DataFrame(np.broadcast_to(att["is_tech"].to_numpy(), close.shape),
                        index=close.index, columns=close.columns)
    pd.testing.assert_series_equal(ref["growth"], cap_weighted_index(close, att["shares"], tech),
                                   check_names=False)
    # static short interest: C (cap 2bn) and D (cap 2bn) are the two most shorted above $1bn
    np.testing.assert_allclose(ref["most_shorted"].iloc[1], (0.1 + 0.1) / 2)
    np.testing.assert_allclose(ref["unprofitable_tech"].iloc[1], (0.1 + 0.1) / 2)


def test_reference_series_leaves_out_what_it_cannot_build():
    close, att = _toy()
    ref = reference_series(close, att.drop(columns=["is_tech", "short_interest"]))
    assert list(ref.columns) == ["index"]
    with pytest.raises(SqueezeLabError, match="shares"):
        reference_series(close, att.drop(columns="shares"))


def test_market_cap_and_misaligned_inputs():
    close, att = _toy()
    cap = market_cap(close, att["shares"])
    assert cap.loc[close.index[0], "A"] == 10 * 1e9
    with pytest.raises(SqueezeLabError, match="no shares outstanding"):
        market_cap(close, att["shares"].drop("D"))
    with pytest.raises(SqueezeLabError, match="not aligned"):
        most_shorted_members(close.iloc[:2], cap)


# ----------------------------------------------------------------------------- properties
prices = st.lists(st.floats(0.5, 2.0), min_size=3, max_size=12)


@settings(max_examples=25, deadline=None)
@given(prices, st.integers(1, 6), st.floats(0.1, 100.0))
def test_property_index_of_identical_names_is_their_return(rel, n, scale):
    path = np.cumprod(rel)
    close = pd.DataFrame(np.outer(path, np.arange(1, n + 1)),
                         index=pd.bdate_range("2026-01-05", periods=len(rel), name="date"))
    shares = pd.Series(np.linspace(1.0, 3.0, n) * scale, index=close.columns)
    r = cap_weighted_index(close, shares)
    expected = np.r_[0.0, path[1:] / path[:-1] - 1]
    np.testing.assert_allclose(r.to_numpy(), expected, rtol=1e-10, atol=1e-12)
    # scaling every name's shares by one constant does not move a cap-weighted index
    np.testing.assert_allclose(cap_weighted_index(close, shares * 7.0), r, rtol=1e-12, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.6), st.floats(1e8, 5e9), st.booleans()),
                min_size=4, max_size=30), st.integers(1, 10))
def test_property_members_are_listed_eligible_and_at_most_n(cells, n):
    k = len(cells)
    dates = pd.bdate_range("2026-01-12", periods=6, name="date")
    si = pd.DataFrame(np.tile([c[0] for c in cells], (6, 1)), index=dates)
    cap = pd.DataFrame(np.tile([c[1] for c in cells], (6, 1)), index=dates)
    unlisted = np.array([c[2] for c in cells])
    cap.iloc[3:, unlisted] = np.nan               # some names stop being listed mid-way
    m = most_shorted_members(si, cap, n=n, min_cap=1e9)
    mem = m.to_numpy()
    assert not (mem & cap.isna().to_numpy()).any()
    assert (mem.sum(axis=1) <= n).all()
    first = mem[0]
    eligible = cap.iloc[0].to_numpy() >= 1e9
    assert not (first & ~eligible).any()
    assert first.sum() == min(n, int(eligible.sum()))
    # the chosen names have the highest short interest among the eligible ones
    if first.any() and (eligible & ~first).any():
        assert si.iloc[0].to_numpy()[first].min() >= si.iloc[0].to_numpy()[eligible & ~first].max()
    assert k == m.shape[1]
