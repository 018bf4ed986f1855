"""Signals computed once per market: the book, the overlay and the scores share one pass.

Counts calls of the underlying pure functions and checks that what is shared cannot be changed
by a caller, and that the shared values are the ones a fresh computation gives.
"""

from __future__ import annotations

import collections
import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from test_engines import random_market

from squeeze_lab.strategies import once
from squeeze_lab.strategies import signals as sg
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.overlay import apply_overlay


@pytest.fixture()
def counts(monkeypatch):
    """{(function name, window): calls} of the wrapped pure functions."""
    seen: collections.Counter = collections.Counter()
    for name, pos in (("rolling_beta", 2), ("realized_vol", 1), ("rolling_beta_rows", 2),
                      ("realized_vol_rows", 1)):
        real = getattr(sg, name)

        def wrapped(*a, _real=real, _name=name, _pos=pos, **k):
            seen[(_name, a[_pos] if len(a) > _pos else k["window"])] += 1
            return _real(*a, **k)

        monkeypatch.setattr(sg, name, wrapped)
    real_rows = sg.close_moments_rows

    def rows_pass(close, index, rows, beta_windows=(), vol_windows=(), *a, **k):
        seen[("close_moments_rows", tuple(beta_windows), tuple(vol_windows))] += 1
        return real_rows(close, index, rows, beta_windows, vol_windows, *a, **k)

    monkeypatch.setattr(sg, "close_moments_rows", rows_pass)
    return seen


BOOK = {"momentum_lookback": 60, "momentum_skip": 5, "vol_window": 20, "beta_window": 30,
        "names_per_leg": 5, "max_weight": 0.5, "neutral": "beta"}


def test_book_and_overlay_compute_beta_and_vol_once(counts):
    market = random_market(2, n_names=30, n_days=200)
    targets = book_targets(market, **BOOK)
    # the book: beta and volatility once each, together in one pass over the returns, on its
    # rebalance rows only (quality, junk and the beta-neutral sizing share them)
    book = {("close_moments_rows", (30,), (20,)): 1}
    assert counts == book
    apply_overlay(market, targets, enabled=True, actions=["neutralize_beta"],
                  overlay_beta_window=30)
    # the overlay needs the full frames: its beta, and the junk-rally basket's own 63-session
    # proxies, once each
    assert counts == {**book, ("rolling_beta", 30): 1, ("rolling_beta", 63): 1,
                      ("realized_vol", 63): 1}
    apply_overlay(market, targets, enabled=True, actions=["neutralize_beta"],
                  overlay_beta_window=30)   # shared with the first call
    assert counts[("rolling_beta", 30)] == 1 and counts[("rolling_beta", 63)] == 1
    apply_overlay(market, targets, enabled=True, actions=["neutralize_beta"],
                  overlay_beta_window=40)   # another window is another computation
    assert counts[("rolling_beta", 40)] == 1
    assert max(counts.values()) == 1


def test_shared_values_equal_a_fresh_computation_and_cannot_be_changed():
    market = random_market(4, n_names=12, n_days=120, listing=False)
    beta = sg.market_beta(market, 20)
    fresh = sg.rolling_beta(market.returns().where(market.tradable), sg.index_returns(market), 20)
    pd.testing.assert_frame_equal(beta, fresh)
    beta.iloc[:, :] = 99.0                     # a caller scribbling on its copy
    r = sg.listed_returns(market)
    r.iloc[0, 0] = 99.0
    m = sg.index_returns(market)
    m.iloc[:] = 99.0
    pd.testing.assert_frame_equal(sg.market_beta(market, 20), fresh)
    assert not (sg.listed_returns(market) == 99.0).any().any()
    assert not (sg.index_returns(market) == 99.0).any()


def test_memo_is_bounded_and_per_market():
    m1 = random_market(5, n_names=6, n_days=80, listing=False)
    m2 = random_market(6, n_names=6, n_days=80, listing=False)
    for w in range(2, 2 + 3 * once._ONCE_SIZE):
        sg.market_vol(m1, w)
    assert len(once._ONCE[m1]) == once._ONCE_SIZE
    assert not np.allclose(sg.market_vol(m1, 10).fillna(0), sg.market_vol(m2, 10).fillna(0))
    ref = weakref.ref(m2)
    del m2
    gc.collect()
    assert ref() is None   # the memo does not keep a market alive


def test_scores_on_the_rebalance_rows_equal_the_full_frames_rows():
    from squeeze_lab.strategies.book import book_scores

    market = random_market(7, n_names=30, n_days=220)
    rows = np.arange(70, 219, 9)
    full = book_scores(market, **BOOK)
    part = book_scores(market, rows=rows, **BOOK)
    assert full.keys() == part.keys()
    for key, frame in full.items():
        # the rows are computed on arrays (signals.window_sums), the full frames by pandas'
        # rolling windows: the same values to rounding, the same NaN cells
        pd.testing.assert_frame_equal(part[key], frame.iloc[rows], check_exact=False,
                                      rtol=1e-12, atol=1e-12, check_freq=False)
        assert np.isfinite(part[key].to_numpy()).any()
    # momentum (shifts) and the drawdown (a maximum) take the same operations: exact
    for key in ("momentum",):
        pd.testing.assert_frame_equal(part[key], full[key].iloc[rows], check_exact=True,
                                      check_freq=False)
