"""Performance statistics (empyrical) and the whole metrics.json built by analyzers.report."""

from __future__ import annotations

import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from test_attribution import simulate, tiny_market

from squeeze_lab.analyzers.performance import PERFORMANCE_KEYS, performance_stats, to_float
from squeeze_lab.analyzers.report import SECTIONS, build_metrics, canonical, daily_table
from squeeze_lab.feeds.episodes import SCENARIO_EPISODES as EPISODES  # the scenario's two
from squeeze_lab.feeds.episodes import Episode, resolve_episodes, window_return


def _walk_plain(obj, path="$"):
    """Every leaf is a plain JSON value (no numpy, no NaN, no Timestamp)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str, path
            _walk_plain(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk_plain(v, f"{path}[{i}]")
    else:
        assert obj is None or type(obj) in (str, int, float, bool), (path, type(obj))
        if type(obj) is float:
            assert math.isfinite(obj), path


def _series(values, start="2025-01-01"):
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


def test_every_number_is_empyricals():
    rng = np.random.default_rng(4)
    r = _series(np.r_[0.0, rng.normal(0.0005, 0.01, 299)])
    b = _series(np.r_[0.0, rng.normal(0.0003, 0.008, 299)])
    out = performance_stats(r, benchmark=b, benchmark_name="index")
    assert set(out) == set(PERFORMANCE_KEYS)
    x, bx = r.iloc[1:], b.iloc[1:]
    alpha, beta = empyrical.alpha_beta(x, bx)
    expected = {
        "cumulative_return": empyrical.cum_returns_final(x),
        "annual_return": empyrical.annual_return(x),
        "annual_volatility": empyrical.annual_volatility(x),
        "sharpe_ratio": empyrical.sharpe_ratio(x),
        "sortino_ratio": empyrical.sortino_ratio(x),
        "calmar_ratio": empyrical.calmar_ratio(x),
        "max_drawdown": empyrical.max_drawdown(x),
        "tail_ratio": empyrical.tail_ratio(x),
        "stability": empyrical.stability_of_timeseries(x),
        "value_at_risk": empyrical.value_at_risk(x),
        "conditional_value_at_risk": empyrical.conditional_value_at_risk(x),
        "alpha": alpha,
        "beta": beta,
    }
    for k, v in expected.items():
        assert out[k] == float(v), k
        assert type(out[k]) is float, k
    assert out["n_days"] == 299 and out["start"] == "2025-01-02" and out["benchmark"] == "index"
    assert out["hit_rate"] == pytest.approx((x > 0).mean())
    up = bx >= 0
    assert out["up_market_hit_rate"] == pytest.approx(((x - bx)[up] > 0).mean())
    _walk_plain(out)


def test_hand_checked_hit_rate_and_undefined_numbers():
    r = _series([0.0, 0.01, -0.02, 0.03, 0.0, 0.01])
    out = performance_stats(r)
    assert out["hit_rate"] == pytest.approx(0.6)
    assert out["cumulative_return"] == pytest.approx(1.01 * 0.98 * 1.03 * 1.01 - 1)
    assert out["alpha"] is None and out["beta"] is None and out["benchmark"] is None
    flat = performance_stats(_series([0.0] * 10))
    assert flat["sharpe_ratio"] is None and flat["annual_volatility"] == 0.0
    up_only = performance_stats(_series([0.0, 0.01, 0.02, 0.01]))
    assert up_only["sortino_ratio"] is None  # empyrical gives inf
    empty = performance_stats(_series([0.0]))
    assert empty["n_days"] == 0 and empty["sharpe_ratio"] is None
    _walk_plain([out, flat, up_only, empty])
    assert to_float(np.float64(1.5)) == 1.5 and type(to_float(np.float64(1.5))) is float
    assert to_float(np.nan) is None and to_float(np.array([2.0])) == 2.0


# --------------------------------------------------------------------------- metrics.json
def _run(seed: int = 2, n_days: int = 90):
    mk = tiny_market(n_days=n_days, seed=seed, start="2025-05-01")
    rng = np.random.default_rng(seed)
    orders = {}
    for t in range(0, n_days - 1, 10):
        orders[t] = {"long": {"AAA": float(rng.integers(500, 1500)),
                              "DDD": float(rng.integers(100, 400))},
                     "short": {"BBB": -float(rng.integers(500, 1500)),
                               "CCC": -float(rng.integers(100, 400))},
                     "hedge": {"BBB": float(rng.integers(0, 200))}}
    res = simulate(mk, orders, cash=1e5, commission_bps=5.0, borrow_bps=200.0)
    if n_days < 80:
        return mk, res
    res.overlay_log = pd.DataFrame({
        "date": [mk.dates[5], mk.dates[30], mk.dates[31], mk.dates[70]],
        "signal": [0.1, 0.4, 0.5, 0.2],
        "action": ["degross", "hedge_basket", "cover_crowded", "hedge_basket"],
        "size": [0.1, 0.2, 0.3, 0.0],
        "detail": ["", "", "", ""],
    })
    return mk, res


def test_build_metrics_schema_and_numbers():
    mk, res = _run()
    user = Episode("mid_june", "2025-06-10", "2025-06-20", "user-defined")
    eps = {**EPISODES, "mid_june": user}
    m = build_metrics(res, mk, eps, top_n=3, top_k=2)
    assert set(m) == set(SECTIONS)
    _walk_plain(m)
    r = res.returns()
    # performance and drawdowns agree with empyrical on the same returns
    assert m["performance"]["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(r.iloc[1:]),
                                                            rel=1e-10)
    assert m["drawdowns"]["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), abs=1e-12)
    assert len(m["drawdowns"]["table"]) <= 3
    # named episodes: in range analyzed, out of range skipped with a reason
    ep = m["episodes"]
    assert set(ep["named"]) == {"jun_jul_2025", "mid_june"}
    assert [s["name"] for s in ep["skipped"]] == ["jan_2026"]
    jj = ep["named"]["jun_jul_2025"]
    assert jj["kind"] == "named" and jj["first_session"] == "2025-06-02"
    assert jj["return"] == pytest.approx(window_return(r, "2025-06-02", "2025-07-31"), rel=1e-10)
    legs = jj["legs"]
    parts = legs["long"] + legs["short"] + legs["hedge"] + legs["commission"] + legs["borrow"]
    assert parts == pytest.approx(jj["return"], rel=1e-9, abs=1e-12)
    assert legs["costs"] == pytest.approx(legs["commission"] + legs["borrow"])
    assert legs["borrow"] < 0 and legs["commission"] < 0
    assert set(jj["factors"]["contribution"]) == {"market", "junk", "momentum", "quality"}
    assert set(jj["reference_returns"]) == {"index", "growth", "most_shorted", "unprofitable_tech"}
    # detected episodes: disjoint, inside the data, each with attribution and exposures
    det = ep["detected"]
    assert det and all(d["kind"] in {"drawdown", "junk_rally", "drawdown+junk_rally"} for d in det)
    for a, b in zip(det, det[1:], strict=False):
        assert a["end"] < b["start"]
    names = set(ep["named"]) | {d["name"] for d in det}
    assert set(m["attribution"]["episodes"]) == names == set(m["exposures"]["episodes"])
    assert set(m["overlay"]["episodes"]) == names
    # attribution: overall legs add up to the whole return; top names carry attributes
    at = m["attribution"]
    assert at["factor_source"] == "factors" and at["max_abs_residual"] < 1e-6
    ov = at["overall"]["legs"]["contribution"]
    assert ov["total"] == pytest.approx(res.equity.iloc[-1] / res.equity.iloc[0] - 1, rel=1e-10)
    top = at["episodes"]["jun_jul_2025"]["top_names"]
    for rec in top["contributors"] + top["detractors"]:
        assert {"ticker", "pnl", "contribution", "leg", "beta", "profitable",
                "short_interest"} <= set(rec)
    # exposures and overlay
    assert m["exposures"]["overall"]["gross_exposure"]["max"] > 0
    assert m["overlay"]["n_decisions"] == 4
    assert m["overlay"]["actions"] == {"cover_crowded": 1, "degross": 1, "hedge_basket": 2}
    jo = m["overlay"]["episodes"]["jun_jul_2025"]
    assert jo["first_date"] == mk.dates[30].strftime("%Y-%m-%d")
    assert jo["first_action"] == "hedge_basket"
    assert jo["sessions_to_first"] == int(((mk.dates >= "2025-06-02")
                                           & (mk.dates < mk.dates[30])).sum())


def test_build_metrics_is_deterministic_json():
    mk, res = _run(seed=3)
    eps = resolve_episodes(["wk:2025-06-02:2025-06-06"])
    a = json.dumps(build_metrics(res, mk, eps), sort_keys=True, allow_nan=False)
    b = json.dumps(build_metrics(res, mk, eps), sort_keys=True, allow_nan=False)
    assert a == b
    assert "NaN" not in a and "Infinity" not in a


def test_build_metrics_detection_options_and_reference_factors():
    mk, res = _run(seed=4)
    sig = pd.Series(False, index=mk.dates)
    sig.iloc[40:46] = True
    m = build_metrics(res, mk, {}, detect=True, junk_signal=sig, detect_top=0)
    det = m["episodes"]["detected"]
    assert [(d["start"], d["end"], d["kind"]) for d in det] == [
        (mk.dates[40].strftime("%Y-%m-%d"), mk.dates[45].strftime("%Y-%m-%d"), "junk_rally")]
    assert m["episodes"]["detection"]["signal"] == "user"
    assert m["episodes"]["detection"]["threshold"] == 0.5
    off = build_metrics(res, mk, {}, detect=False)
    assert off["episodes"]["detected"] == [] and off["episodes"]["detection"]["enabled"] is False
    # without factor returns the market's reference baskets are the factors
    from dataclasses import replace
    mk2 = replace(mk, factors=pd.DataFrame())
    m2 = build_metrics(res, mk2, {}, detect=False)
    assert m2["attribution"]["factor_source"] == "reference"
    assert set(m2["attribution"]["overall"]["factors"]["betas"]) == {"index", "most_shorted"}


def test_canonical_and_daily_table():
    assert canonical({"a": np.float64(0.1 + 0.2), "b": np.nan, "c": pd.Timestamp("2025-01-02"),
                      "d": (np.int64(3), np.bool_(True)), "e": -0.0}) == {
        "a": 0.3, "b": None, "c": "2025-01-02", "d": [3, True], "e": 0.0}
    mk, res = _run(seed=5, n_days=30)
    d = daily_table(res, mk)
    assert d.index.name == "date" and len(d) == 30
    assert {"equity", "cash", "return", "drawdown", "gross", "net", "hedge_value",
            "pnl_long", "pnl_total"} <= set(d.columns)
    assert np.allclose(d["pnl_total"].iloc[1:], np.diff(res.equity.to_numpy()))
    assert (d["drawdown"] <= 0).all()


def test_build_metrics_without_reference_or_factors():
    from dataclasses import replace

    mk = replace(tiny_market(n_days=30, seed=6), reference=pd.DataFrame(), factors=pd.DataFrame())
    tk = str(mk.tickers[0])
    res = simulate(mk, {0: {"long": {tk: 10.0}}}, cash=1e5)
    m = build_metrics(res, mk, EPISODES)
    _walk_plain(m)
    assert m["performance"]["beta"] is None and m["performance"]["benchmark"] is None
    assert m["episodes"]["detection"]["signal"] == "none"
    jj = m["episodes"]["named"]["jun_jul_2025"]
    assert jj["factors"] is None and jj["reference_returns"] == {}
    assert m["attribution"]["factor_source"] == "none"
    assert m["attribution"]["overall"]["factors"] is None
    assert m["overlay"]["n_decisions"] == 0


def test_build_metrics_of_a_book_that_never_trades_is_a_clean_error():
    """A run with no position has no measured period: one error naming the settings to change."""
    from squeeze_lab.feeds.errors import SqueezeLabError

    mk = tiny_market(n_days=30, seed=6)
    res = simulate(mk, {}, cash=1e5)
    with pytest.raises(SqueezeLabError, match=r"never held a position in .*data\.start"):
        build_metrics(res, mk, EPISODES)


def test_statistics_cover_the_measured_period_not_the_warm_up():
    """A book that waits 20 sessions in cash: Sharpe, up days, annual return and drawdowns are
    empyrical's on the returns from its first position on; the warm-up is recorded."""
    mk = tiny_market(n_days=60, seed=11)
    tk = [str(t) for t in mk.tickers]
    # decided at close 19, filled at the open of session 20: the first invested session
    res = simulate(mk, {19: {"long": {tk[0]: 300.0, tk[1]: 200.0}, "short": {tk[2]: -150.0}}},
                   cash=1e5)
    first = mk.dates[20]
    m = build_metrics(res, mk, {}, detect=False)
    perf = m["performance"]
    measured = res.returns().loc[first:]
    # hand check: the warm-up's returns are exactly 0, the first measured one is not
    assert (res.returns().iloc[:20] == 0).all() and measured.iloc[0] != 0
    assert perf["invested_from"] == first.strftime("%Y-%m-%d") == perf["start"]
    assert perf["warmup"] == {"start": mk.dates[0].strftime("%Y-%m-%d"),
                              "end": mk.dates[19].strftime("%Y-%m-%d"), "sessions": 20}
    assert perf["n_days"] == 40
    assert perf["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(measured), rel=1e-9)
    assert perf["annual_return"] == pytest.approx(empyrical.annual_return(measured), rel=1e-9)
    up = float((measured > 0).mean())
    assert perf["hit_rate"] == pytest.approx(up, rel=1e-9)
    # the whole-run figures (warm-up zeros averaged in) would differ
    whole = res.returns().iloc[1:]
    assert float((whole > 0).mean()) < up
    assert m["drawdowns"]["max_drawdown"] == pytest.approx(empyrical.max_drawdown(measured),
                                                           rel=1e-9)
    assert perf["max_drawdown"] == pytest.approx(empyrical.max_drawdown(measured), rel=1e-9)
    # exposures average over invested sessions only
    gross = m["exposures"]["overall"]["gross_exposure"]
    assert gross["at_start"] > 0 and gross["min"] > 0


def test_an_episode_in_the_warm_up_is_skipped_and_one_across_it_is_measured_from_the_first_position():
    mk = tiny_market(n_days=60, seed=11)
    tk = str(mk.tickers[0])
    res = simulate(mk, {19: {"long": {tk: 300.0}}}, cash=1e5)
    d = mk.dates
    eps = {"early": Episode("early", d[2], d[10], "in the warm-up"),
           "across": Episode("across", d[15], d[30], "starts in the warm-up")}
    m = build_metrics(res, mk, eps, detect=False)
    skipped = {s["name"]: s for s in m["episodes"]["skipped"]}
    assert "warm-up" in skipped["early"]["reason"] and "early" not in m["episodes"]["named"]
    across = m["episodes"]["named"]["across"]
    assert across["start"] == d[15].strftime("%Y-%m-%d")
    assert across["first_session"] == d[20].strftime("%Y-%m-%d") and across["truncated"] is True
    assert across["sessions"] == 11
    eq = res.equity
    assert across["return"] == pytest.approx(eq.loc[d[30]] / eq.loc[d[19]] - 1, rel=1e-12)
