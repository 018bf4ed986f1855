"""plan_actions against its definition written row by row (signal rows, forced exits, reasons).

The plan is built with array lookups (sorted rows, searchsorted, one scatter for the exits);
the definition below visits each row and each name, so the two are checked to agree bit for bit
on random markets with late listings and delistings, random signal dates (on the last bar too),
NaN weights and missing reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engines import random_market, random_targets

from squeeze_lab.strategies.execution import market_exits, plan_actions
from squeeze_lab.strategies.targets import LEGS, Targets

MARKET = random_market(seed=3, n_names=12, n_days=90)


def plan_by_rows(market, targets):
    """The plan as defined: one row per signal row with a fill bar and per forced-exit row."""
    sig_rows = market.dates.get_indexer(targets.dates)
    can_trade, exit_row, delists = market_exits(market)
    n_rows, n_names = len(market.dates), len(market.tickers)
    rows = sorted({int(r) for r in sig_rows if r < n_rows - 1}
                  | {int(exit_row[j]) for j in range(n_names) if delists[j]})
    weights = np.zeros((len(rows), len(LEGS), n_names))
    resize = np.zeros((len(rows), n_names), dtype=bool)
    exits = np.zeros((len(rows), n_names), dtype=bool)
    reasons = []
    for r, row in enumerate(rows):
        hit = [k for k, s in enumerate(sig_rows) if s == row]
        if hit:
            k = hit[0]
            for li, leg in enumerate(LEGS):
                weights[r, li] = np.nan_to_num(targets.legs[leg].iloc[k].to_numpy(), nan=0.0)
            resize[r] = targets.resize.iloc[k].to_numpy() & can_trade[row]
            why = targets.reasons.get(targets.dates[k], "") if len(targets.reasons) else ""
            reasons.append("" if why is None or (isinstance(why, float) and np.isnan(why))
                           else str(why))
        else:
            reasons.append("delist_exit")
        for j in range(n_names):
            if delists[j] and exit_row[j] == row:
                exits[r, j] = True
                weights[r, :, j] = 0.0
                resize[r, j] = True
    return np.array(rows, dtype=np.int64), weights, resize, exits, tuple(reasons)


def some_targets(market, seed, pick, with_last, nan_at, drop_reason):
    """``random_targets`` on a subset of its dates (the last market date added if asked), a
    NaN weight, and a missing reason."""
    base = random_targets(market, seed=seed, every=3)
    keep = [d for d, p in zip(base.dates, pick, strict=False) if p] or [base.dates[0]]
    dates = pd.DatetimeIndex(sorted(set(keep) | ({market.dates[-1]} if with_last else set())))
    legs = {leg: base.legs[leg].reindex(dates, fill_value=0.0) for leg in LEGS}
    legs["long"].iloc[nan_at % len(dates), nan_at % len(market.tickers)] = np.nan
    resize = base.resize.reindex(dates, fill_value=True)
    reasons = base.reasons.reindex(dates)
    if drop_reason:
        reasons.iloc[0] = None
    return Targets(legs=legs, resize=resize, reasons=reasons)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.booleans(), min_size=1, max_size=30), st.booleans(),
       st.integers(0, 1000), st.booleans())
def test_plan_actions_as_defined_row_by_row(seed, pick, with_last, nan_at, drop_reason):
    targets = some_targets(MARKET, seed, pick, with_last, nan_at, drop_reason)
    plan = plan_actions(MARKET, targets)
    rows, weights, resize, exits, reasons = plan_by_rows(MARKET, targets)
    np.testing.assert_array_equal(plan.rows, rows)
    assert plan.weights.tobytes() == weights.tobytes()
    np.testing.assert_array_equal(plan.resize, resize)
    np.testing.assert_array_equal(plan.exits, exits)
    assert plan.reasons == reasons


def test_the_market_has_forced_exits_between_signals():
    """The premise: some names delist inside the range, on rows no signal falls on."""
    _, exit_row, delists = market_exits(MARKET)
    assert delists.sum() >= 2
    targets = random_targets(MARKET, seed=0, every=7)
    plan = plan_actions(MARKET, targets)
    assert "delist_exit" in plan.reasons and plan.exits.any()
    assert set(exit_row[delists]) - set(MARKET.dates.get_indexer(targets.dates))
