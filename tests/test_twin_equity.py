"""The twin's equity-only path (``run_vectorized(detail=False)``): the same numbers, fewer frames.

Sweeps and the run's reconciliation only need the equity curve and the traded value; they must
get exactly what the full result gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engines import random_market, random_targets

from squeeze_lab.pipeline.config import resolve_config
from squeeze_lab.pipeline.run import run_episodes
from squeeze_lab.pipeline.sweep import run_chunk, summary_row
from squeeze_lab.pipeline.sweep_grid import grid_points, parse_grid
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.overlay import apply_overlay
from squeeze_lab.strategies.twin import EquityRun, run_vectorized


@pytest.mark.parametrize("exec_p", [{}, {"slippage_bps": 9.0, "borrow_bps": 400.0,
                                         "commission_bps": 3.0, "fractional": False}])
def test_equity_only_equals_the_full_result(exec_p):
    market = random_market(12, n_names=20, n_days=200)
    targets = random_targets(market, 12, every=7)
    full = run_vectorized(market, targets, **exec_p)
    light = run_vectorized(market, targets, detail=False, **exec_p)
    assert isinstance(light, EquityRun)
    pd.testing.assert_series_equal(light.equity, full.equity, check_exact=True)
    pd.testing.assert_series_equal(light.cash, full.cash, check_exact=True)
    pd.testing.assert_series_equal(light.returns(), full.returns(), check_exact=True)
    assert light.n_trades == len(full.trades) > 0
    assert light.traded_value == (full.trades["size"].abs() * full.trades["price"]).sum()


def test_sweep_rows_equal_rows_from_the_full_result():
    market = random_market(13, n_names=24, n_days=300, listing=False)
    base = resolve_config({"name": "t", "book": {"momentum_lookback": 60, "momentum_skip": 5,
                                                 "vol_window": 20, "beta_window": 30,
                                                 "names_per_leg": 5, "max_weight": 0.5},
                           "overlay": {"enabled": True, "actions": ["degross"],
                                       "signal_lookback": 5, "signal_vol_window": 20}})
    points = grid_points(base, parse_grid(["overlay.threshold=0.5,1.5"]))
    rows = run_chunk(market, points, "vectorized")
    for p, row in zip(points, rows, strict=True):
        cfg = p.config
        book = book_targets(market, **cfg["book"])
        targets, log = apply_overlay(market, book, **cfg["overlay"])
        full = run_vectorized(market, targets, overlay_log=log, **cfg["execution"])
        expect = summary_row(full, market, run_episodes(cfg, market))
        got = {k: v for k, v in row.items() if k in expect}
        assert got.keys() == expect.keys()
        for k, v in expect.items():
            assert (got[k] == v) or (isinstance(v, float) and np.isnan(v) and np.isnan(got[k])), k


def test_sweep_metrics_equal_the_report_functions():
    """The sweep's array metrics are performance_stats' and episode_drawdown's numbers, exactly."""
    from squeeze_lab.analyzers.episodes import episode_drawdown
    from squeeze_lab.analyzers.performance import performance_stats
    from squeeze_lab.analyzers.warmup import first_invested, measured_equity
    from squeeze_lab.pipeline.sweep import PERFORMANCE_FUNCTIONS
    from squeeze_lab.pipeline.sweep_store import EPISODE_METRICS

    market = random_market(14, n_names=20, n_days=400, listing=False)
    cfg = resolve_config({"name": "t", "book": {"momentum_lookback": 60, "momentum_skip": 5,
                                                "vol_window": 20, "beta_window": 30,
                                                "names_per_leg": 5, "max_weight": 0.5},
                          "analysis": {"episodes": ["early:2024-01-01:2024-03-29",
                                                    "rally:2024-09-02:2024-11-15",
                                                    "late:2025-05-01:2025-07-31"]}})
    full = run_vectorized(market, book_targets(market, **cfg["book"]), **cfg["execution"])
    episodes = run_episodes(cfg, market)
    assert len(episodes) == 3
    row = summary_row(full, market, episodes)
    measured = measured_equity(full.equity, first_invested(full))
    r = measured.pct_change(fill_method=None)
    r.iloc[0] = 0.0
    perf = performance_stats(r, market.reference.get("index"))
    for k in PERFORMANCE_FUNCTIONS:
        assert row[k] == perf[k] and row[k] is not None, k
    for name, ep in episodes.items():
        ref = episode_drawdown(full.equity, ep)
        for k in EPISODE_METRICS:
            assert row[f"{name}.{k}"] == ref[k], (name, k)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 300), flat=st.integers(0, 50))
def test_performance_row_equals_performance_stats(seed, n, flat):
    from squeeze_lab.analyzers.performance import performance_stats
    from squeeze_lab.pipeline.sweep import PERFORMANCE_FUNCTIONS, performance_row

    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0005, rng.uniform(0.001, 0.05), n)
    steps[:min(flat, n)] = 0.0        # a flat start (undefined ratios become None)
    equity = 1e6 * np.cumprod(np.concatenate([[1.0], 1.0 + steps]))
    s = pd.Series(equity, index=pd.bdate_range("2020-01-01", periods=n + 1))
    r = s.pct_change(fill_method=None)
    r.iloc[0] = 0.0
    perf = performance_stats(r)
    got = performance_row(equity)
    assert got == {k: perf[k] for k in PERFORMANCE_FUNCTIONS}
