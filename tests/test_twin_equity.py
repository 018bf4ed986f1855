"""The twin's equity-only path (``run_vectorized(detail=False)``): the same numbers, fewer frames.

Sweeps and the run's reconciliation only need the equity curve and the traded value; they must
get exactly what the full result gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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
