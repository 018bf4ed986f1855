"""Twin runs resumed from an earlier run's state (:mod:`strategies.twin_resume`): bit-identical.

Variants of one set of targets part at different signal rows; each is run once from the start and
once through a shared :class:`Checkpoints`, on a market where margin calls, locate cuts, recalls
and crowding borrow act after the rows where the variants part.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_engines import random_market, random_targets

from squeeze_lab.pipeline.run import borrow_terms
from squeeze_lab.strategies import borrow as B
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.execution import plan_actions
from squeeze_lab.strategies.overlay import apply_overlay
from squeeze_lab.strategies.targets import Targets
from squeeze_lab.strategies.twin import run_vectorized
from squeeze_lab.strategies.twin_resume import STEP, Checkpoints, common_rows

EX = dict(commission_bps=2.0, slippage_bps=5.0, borrow_bps=300.0, max_leverage=3.45,
          margin_call_to=2.5)


@pytest.fixture(scope="module")
def crowded():
    """A market with late listings and delistings whose most crowded names run out of shares
    to borrow (crowding fees, locate cuts and recalls), and its borrow terms."""
    market = random_market(21, n_names=16, n_days=160)
    rng = np.random.default_rng(3)
    n_rows, n = market.close.shape
    si = np.clip(rng.lognormal(np.log(0.2), 0.5, n), 0.01, 0.6)
    si_t = np.tile(si, (n_rows, 1)) * np.linspace(0.8, 1.4, n_rows)[:, None]
    mk = dataclasses.replace(market, attributes=market.attributes.assign(
        shares=np.full(n, 6e4), short_interest=si),
        short_interest=pd.DataFrame(si_t, index=market.dates, columns=market.tickers))
    return mk, B.resolve_terms("crowding", mk, 50.0)


def variant(targets: Targets, start: int, scale: float, reason: str | None = None) -> Targets:
    """``targets`` with every signal row from ``start`` on scaled by ``scale`` (and the row at
    ``start`` given ``reason``)."""
    legs = {k: v.copy() for k, v in targets.legs.items()}
    for v in legs.values():
        v.iloc[start:] *= scale
    reasons = targets.reasons.copy()
    if reason is not None:
        reasons.iloc[start] = reason
    return Targets(legs=legs, resize=targets.resize.copy(), reasons=reasons)


def assert_same_run(a, b, detail: bool) -> None:
    """Bit for bit: equity, cash, and what else the run reports."""
    np.testing.assert_array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    np.testing.assert_array_equal(a.cash.to_numpy(), b.cash.to_numpy())
    pd.testing.assert_frame_equal(a.margin_calls, b.margin_calls, check_exact=True)
    if not detail:
        assert (a.traded_value, a.n_trades, a.first_fill) == (b.traded_value, b.n_trades,
                                                              b.first_fill)
        return
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    pd.testing.assert_frame_equal(a.borrow_record.ledger, b.borrow_record.ledger, check_exact=True)
    pd.testing.assert_frame_equal(a.borrow_record.events, b.borrow_record.events,
                                  check_exact=True)


@pytest.mark.parametrize("detail", [False, True])
@pytest.mark.parametrize("sizes", [(8, 120), (1, 2)])   # (1, 2): runs age and drop
def test_resumed_runs_equal_runs_from_the_start(crowded, detail, sizes):
    market, terms = crowded
    base = random_targets(market, seed=4, every=8, gross=3.4, hedge=0.2)
    n = len(base.dates)
    # parting late, early, at the same row as another, only by a reason, and not at all
    variants = [base, variant(base, n - 4, 0.7), variant(base, 5, 0.8), variant(base, n - 4, 0.9),
                variant(base, 9, 1.0, reason="overlay on"), base, variant(base, n - 2, 0.9)]
    ck = Checkpoints(*sizes)
    resumed = []
    for targets in variants:
        before = ck.rows_resumed
        fresh = run_vectorized(market, targets, detail=detail, borrow=terms, **EX)
        got = run_vectorized(market, targets, detail=detail, borrow=terms, checkpoints=ck, **EX)
        assert_same_run(fresh, got, detail)
        resumed.append(ck.rows_resumed - before)
    plans = [plan_actions(market, t) for t in variants]
    parts = [max([common_rows(p, plans[i], 10**6) for p in plans[:i]], default=0)
             for i in range(len(plans))]
    assert parts[1] >= n - 4 and parts[4] >= 9 and parts[6] >= n - 2
    assert parts[5] == len(plans[0].rows)   # the same plan again
    if sizes[0] > len(variants):   # each at most STEP rows before it parts from an earlier
        assert all(p - STEP < r <= p for p, r in zip(parts[1:], resumed[1:], strict=True))
        # where an earlier plan parted, and after the same plan: exactly there
        assert resumed[3] == parts[3] and resumed[5] == parts[5]
    else:
        assert 0 < sum(resumed) <= sum(parts)
        # the older runs keep no run, the dropped runs are out of the trie
        assert all(isinstance(t.run, SimpleNamespace) and t.alive for t in ck.old)
        assert ck.dropped == len(variants) - sum(sizes)
        nodes = list(ck.roots)
        while nodes:
            node = nodes.pop()
            assert node.trace.alive
            nodes.extend(node.values())
    # the rules act after the rows where variants part (so resumed runs go through them)
    late = market.dates[market.dates.get_indexer(base.dates[5:6])[0]]
    calls = fresh.margin_calls
    assert (calls["date"] > late).any() and set(calls["rule"]) == {"max_leverage", "cash"}
    if detail:
        events = fresh.borrow_record.events
        assert (events["date"] > late).any() and set(events["event"]) == {"locate_cut", "recall"}


def test_runs_on_other_terms_or_execution_do_not_resume(crowded):
    market, terms = crowded
    base = random_targets(market, seed=4, every=8, gross=3.4, hedge=0.2)
    ck = Checkpoints()
    run_vectorized(market, base, detail=False, borrow=terms, checkpoints=ck, **EX)
    flat = B.resolve_terms("flat", market, 300.0)
    for borrow, ex in ((flat, EX), (terms, {**EX, "slippage_bps": 6.0})):
        fresh = run_vectorized(market, base, detail=False, borrow=borrow, **ex)
        got = run_vectorized(market, base, detail=False, borrow=borrow, checkpoints=ck, **ex)
        assert_same_run(fresh, got, detail=False)
    assert ck.rows_resumed == 0


def test_sweep_rows_are_the_same_with_and_without_shared_states():
    """run_chunk's points resume from each other (the default) or each run from the start: the
    same rows, on a sweep where margin calls, locate cuts and recalls act after the points part."""
    import math
    import warnings

    from squeeze_lab.feeds.scenario import scenario_market
    from squeeze_lab.pipeline.config import resolve_config
    from squeeze_lab.pipeline.sweep import run_chunk
    from squeeze_lab.pipeline.sweep_executors import BookCache
    from squeeze_lab.pipeline.sweep_grid import grid_points, parse_grid

    with warnings.catch_warnings():  # exchange_calendars under pandas 3.1 (not our code)
        warnings.simplefilter("ignore")
        m = scenario_market(seed=7, n_names=50, start="2024-06-03", end="2025-09-30")
    m = dataclasses.replace(m, attributes=m.attributes.assign(shares=m.attributes["shares"] / 100))
    base = resolve_config({
        "name": "t", "book": dict(names_per_leg=10, max_weight=0.2, momentum_lookback=60,
                                  momentum_skip=5, vol_window=20, beta_window=40,
                                  rebalance="weekly", gross=3.4),
        "overlay": {"enabled": True, "actions": ["degross", "cover_crowded"], "basket_names": 5,
                    "basket_min_cap": 0.0, "signal_vol_window": 20, "cooloff": 3},
        "execution": {"borrow_model": "crowding", "max_leverage": 3.45, "margin_call_to": 2.5}})
    points = grid_points(base, parse_grid(["overlay.threshold=0.5,1.0",
                                           "overlay.degross_to=0.3,0.6"]))
    alone = BookCache()
    alone.checkpoints = Checkpoints(recent=0)
    shared = BookCache()
    expect = run_chunk(m, points, "vectorized", books=alone)
    got = run_chunk(m, points, "vectorized", books=shared)
    assert alone.checkpoints.rows_resumed == 0 < shared.checkpoints.rows_resumed
    for a, b in zip(expect, got, strict=True):
        assert a.keys() == b.keys()
        for k, v in a.items():
            assert v == b[k] or (isinstance(v, float) and math.isnan(v) and math.isnan(b[k])), k
    # what acts after the points part (the overlay's first decision)
    cfg = points[-1].config
    terms = borrow_terms(cfg, m)
    targets, log = apply_overlay(m, book_targets(m, **cfg["book"]), borrow_fees=terms.fee_bps,
                                 **cfg["overlay"])
    r = run_vectorized(m, targets, borrow=terms, max_net_long=cfg["overlay"]["max_net_long"],
                       **cfg["execution"])
    first = log["date"].min()
    assert (r.margin_calls["date"] > first).any()
    events = r.borrow_record.events
    assert set(events.loc[events["date"] > first, "event"]) == {"locate_cut", "recall"}


def test_keys_that_collide_are_caught_by_the_exact_check(crowded, monkeypatch):
    """Keys are only a filter: with keys blind to the weights (every variant collides), resumed
    runs still part where the plans differ bit for bit (one ulp, a negative zero)."""
    import squeeze_lab.strategies.twin_resume as R

    market, terms = crowded
    monkeypatch.setattr(R, "row_keys", lambda plan: list(zip(plan.rows.tolist(), plan.reasons,
                                                             strict=True)))
    base = random_targets(market, seed=4, every=8, gross=3.4, hedge=0.2)
    late = len(base.dates) - 3   # after the first STEP plan rows (a state kept there)
    ulp = variant(base, late, 1.0)
    ulp.legs["long"].iloc[late] = np.nextafter(ulp.legs["long"].iloc[late].to_numpy(), 1.0)
    plan_b, plan_u = plan_actions(market, base), plan_actions(market, ulp)
    w = plan_b.weights.copy()
    w[3][w[3] == 0.0] = -0.0
    assert common_rows(plan_b, dataclasses.replace(plan_b, weights=w), 10**6) == 3
    ck = Checkpoints()
    run_vectorized(market, base, detail=False, borrow=terms, checkpoints=ck, **EX)
    fresh = run_vectorized(market, ulp, detail=False, borrow=terms, **EX)
    got = run_vectorized(market, ulp, detail=False, borrow=terms, checkpoints=ck, **EX)
    assert_same_run(fresh, got, detail=False)
    assert 0 < ck.rows_resumed <= common_rows(plan_b, plan_u, 10**6) < len(plan_u.rows)


@pytest.mark.parametrize("detail", [False, True])
def test_a_result_changed_in_place_does_not_reach_later_points(detail):
    """Later points copy rows from an earlier run's records: its result holds copies (equity
    only) or read-only views (full result) of them, never the records themselves."""
    m = random_market(21, n_names=16, n_days=160)
    base = random_targets(m, seed=4, every=8)
    other = variant(base, len(base.dates) - 2, 0.9)
    terms = B.resolve_terms("flat", m, 50.0)
    ck = Checkpoints()
    a = run_vectorized(m, base, detail=detail, borrow=terms, checkpoints=ck)
    try:
        a.equity.iloc[:100] = 0.0
    except ValueError:   # read-only: the full result's views of the records
        assert detail
    fresh = run_vectorized(m, other, detail=detail, borrow=terms)
    resumed = run_vectorized(m, other, detail=detail, borrow=terms, checkpoints=ck)
    assert ck.rows_resumed > 0
    np.testing.assert_array_equal(resumed.equity.to_numpy(), fresh.equity.to_numpy())
