"""The scenario market: calibration targets on several seeds, structure, determinism, validity."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from squeeze_lab.feeds.episodes import EPISODES, MARKET_TARGETS, window_return
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.reference import reference_series
from squeeze_lab.feeds.scenario import (
    FACTORS,
    ORDINARY,
    SHORT_INTEREST,
    nyse_sessions,
    scenario_market,
)
from squeeze_lab.feeds.summary import market_summary

SEEDS = (7, 1, 2, 3, 11)


@cache
def market(seed: int = 7):
    return scenario_market(seed=seed)


def cumulative(r: pd.Series, start: str, end: str) -> pd.Series:
    return (1 + r.loc[start:end]).cumprod() - 1


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("target", MARKET_TARGETS, ids=[t.series for t in MARKET_TARGETS])
def test_every_market_target_on_several_seeds(seed, target):
    got = window_return(market(seed).reference[target.series], target.start, target.end)
    assert target.low <= got <= target.high, (seed, target.series, got)


@pytest.mark.parametrize("seed", SEEDS)
def test_unprofitable_tech_dips_mid_january_then_recovers(seed):
    path = cumulative(market(seed).reference["unprofitable_tech"], "2026-01-02", "2026-01-30")
    peak_day = path.loc[:"2026-01-16"].idxmax()
    trough_day = path.loc[peak_day:"2026-01-23"].idxmin()
    peak, trough, end = path[peak_day], path[trough_day], path.iloc[-1]
    assert pd.Timestamp("2026-01-09") <= peak_day < trough_day <= pd.Timestamp("2026-01-23")
    assert peak - trough >= 0.03, (seed, peak, trough)       # a real sell-off, not noise
    assert end - trough >= 0.02                                # and a recovery after it
    assert 0.08 <= end <= 0.16                                 # "about +12% year to date"
    assert peak > 0.08                                         # it had rallied before the dip


@pytest.mark.parametrize("seed", SEEDS)
def test_january_momentum_flat_to_positive_and_summer_momentum_loses(seed):
    f = market(seed).factors
    assert window_return(f["momentum"], "2026-01-02", "2026-01-21") >= -0.002
    ep = EPISODES["jun_jul_2025"]
    assert window_return(f["momentum"], ep.start, ep.end) < 0
    assert window_return(f["junk"], ep.start, ep.end) > 0
    assert window_return(f["junk"], "2026-01-02", "2026-01-21") > 0.08


def test_reference_is_built_from_the_constituents_not_pasted():
    m = market(7)
    rebuilt = reference_series(m.close, m.attributes, m.short_interest)
    pd.testing.assert_frame_equal(rebuilt, m.reference)
    assert list(m.reference.columns) == ["index", "growth", "most_shorted", "unprofitable_tech"]
    assert (m.reference.iloc[0] == 0).all()


def test_thirteen_sessions_in_the_january_window_on_the_nyse_calendar():
    d = market(7).dates
    window = d[(d >= "2026-01-02") & (d <= "2026-01-21")]
    assert len(window) == 13
    for holiday in ("2026-01-01", "2026-01-19", "2025-07-04", "2025-12-25"):
        assert pd.Timestamp(holiday) not in d
    assert d[0] == pd.Timestamp("2023-01-03") and d[-1] == pd.Timestamp("2026-03-31")
    assert d.name == "date" and d.dtype == "datetime64[ns]" and d.tz is None


# ----------------------------------------------------------------------------- structure
def test_junk_is_a_real_minority_and_often_under_five_dollars():
    m = market(7)
    att = m.attributes
    assert 0.12 <= m.meta["junk_share"] <= 0.22
    junk = (~att["profitable"]) & (att["short_interest"] >= 0.10) & (att["beta"] >= 1.3)
    assert 0.08 <= junk.mean() <= 0.25
    first = m.close.iloc[0]
    assert (first[junk] < 5).mean() >= 0.3
    assert (first[~junk] < 5).mean() <= 0.05
    tech = att["is_tech"].mean()
    assert 0.15 <= tech <= 0.35 and att["is_tech"].eq(att["sector"] == "Technology").all()


def _loadings(m, start="2023-01-03", end="2026-03-31") -> pd.DataFrame:
    """OLS of each name's daily returns on the true factors (listed days only)."""
    r = m.returns().loc[start:end].iloc[1:]
    f = m.factors.loc[r.index]
    X = np.column_stack([np.ones(len(f)), f.to_numpy()])
    R = r.to_numpy()
    ok = np.isfinite(R).all(axis=0)
    coef = np.linalg.lstsq(X, R[:, ok], rcond=None)[0]
    return pd.DataFrame(coef[1:].T, index=r.columns[ok], columns=f.columns)


def test_factor_loadings_have_the_documented_signs():
    m = market(7)
    b = _loadings(m)
    att = m.attributes.loc[b.index]
    crowded = (~att["profitable"]) & (att["short_interest"] >= 0.18) & (att["beta"] >= 1.3)
    quality = att["profitable"] & (att["beta"] <= 0.9) & (att["short_interest"] <= 0.05)
    assert crowded.sum() >= 20 and quality.sum() >= 50
    assert b.loc[crowded, "junk"].mean() > 0.7
    assert b.loc[quality, "junk"].mean() < 0.15
    assert b.loc[quality, "quality"].mean() > 0.4
    assert b.loc[crowded, "quality"].mean() < 0
    assert b.loc[crowded, "market"].mean() > b.loc[quality, "market"].mean() + 0.4


def test_momentum_factor_is_what_a_12_1_sort_earns():
    m = market(7)
    lp = np.log(m.close)
    mom = (lp.shift(21) - lp.shift(252)).shift(1)       # known before the day's return
    r = m.returns()
    rank = mom.rank(axis=1, pct=True)
    spread = r.where(rank >= 0.9).mean(axis=1) - r.where(rank <= 0.1).mean(axis=1)
    ok = spread.notna() & (mom.notna().sum(axis=1) > 100)
    corr = np.corrcoef(spread[ok], m.factors.loc[ok, "momentum"])[0, 1]
    assert corr > 0.3, corr


def test_junk_earns_a_premium_for_shorting_in_ordinary_times():
    assert ORDINARY["junk"][0] < 0 and ORDINARY["quality"][0] > 0
    j = market(7).factors["junk"]
    assert window_return(j, "2023-01-03", "2024-12-31") < 0


def test_short_interest_is_point_in_time_published_twice_a_month_with_a_lag():
    m = market(7)
    si, dtc = m.short_interest, m.days_to_cover
    assert si.shape == m.close.shape and dtc.shape == m.close.shape
    changed = (si.ffill().diff().abs() > 0).any(axis=1)
    change_days = m.dates[changed.to_numpy()]
    # settlement: last session on or before the 15th / of the month; known `lag` sessions later
    d = nyse_sessions("2022-11-01", m.dates[-1])
    key = np.asarray(d.year * 24 + (d.month - 1) * 2 + (d.day > 15))
    settle = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    published = set(d[settle[settle + SHORT_INTEREST["lag"] < len(d)] + SHORT_INTEREST["lag"]])
    assert len(change_days) > 60
    assert set(change_days) <= published
    assert not (si.notna() & m.close.isna()).any().any()
    live = si.to_numpy()[m.tradable.to_numpy()]
    assert np.isfinite(live).all() and (live > 0).all() and (live < 1).all()
    att = m.attributes
    np.testing.assert_allclose(att["short_interest"], si.ffill().iloc[-1].round(6))
    assert (dtc.stack().dropna() > 0).all()
    assert dtc.stack().median() < 10 and (dtc.stack() > 5).any()


def test_prices_are_valid_ohlc_with_realistic_volume():
    m = market(7)                      # construction ran Market validation already
    o, h, lo, c, v = (m.frame(k).to_numpy() for k in ("open", "high", "low", "close", "volume"))
    live = np.isfinite(c)
    assert (lo[live] <= np.minimum(o, c)[live]).all() and (h[live] >= np.maximum(o, c)[live]).all()
    assert (v[live] > 0).all() and np.array_equal(np.isfinite(v), live)
    assert (v[live] == np.round(v[live])).all()
    turnover = (m.volume / m.attributes["shares"]).stack().median()
    assert 0.002 <= turnover <= 0.03
    daily = m.returns().stack()
    assert 0.01 <= daily.std() <= 0.05 and daily.abs().max() < 3
    assert (c[live] > 0.01).all()
    # a few late listings and delistings, as real universes have
    first_live = m.tradable.idxmax()
    assert 1 <= (first_live > m.dates[0]).sum() <= 0.05 * m.n_names
    assert 1 <= m.tradable.iloc[-1].eq(False).sum() - (first_live > m.dates[-1]).sum()


def test_provenance_says_synthetic():
    m = market(7)
    assert m.source == "scenario" and m.synthetic is True and m.seed == 7
    assert any("synthetic" in n.lower() and "calibrated" in n.lower() for n in m.notes)
    assert list(m.factors.columns) == list(FACTORS) and m.factors.index.equals(m.dates)
    assert m.meta["calibration_residual"] < 1e-6
    assert m.fill_model == "next_open"


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs():
    a, b = market(7), scenario_market(seed=7)
    assert a.content_hash == b.content_hash
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(a.frame(name).to_numpy(), b.frame(name).to_numpy(), equal_nan=True)
    for x, y in ((a.short_interest, b.short_interest), (a.days_to_cover, b.days_to_cover),
                 (a.reference, b.reference), (a.factors, b.factors)):
        assert np.array_equal(x.to_numpy(), y.to_numpy(), equal_nan=True)
    pd.testing.assert_frame_equal(a.attributes, b.attributes)
    c = market(1)
    assert c.content_hash != a.content_hash
    assert not np.allclose(c.close.iloc[-1].fillna(0), a.close.iloc[-1].fillna(0))


def test_small_custom_market_is_valid_and_fast_enough_for_other_tests():
    m = scenario_market(seed=3, n_names=60, start="2025-10-01", end="2026-02-27")
    assert m.n_names == 60 and m.dates[0] == pd.Timestamp("2025-10-01")
    assert set(m.reference.columns) >= {"index", "most_shorted"}
    got = window_return(m.reference["most_shorted"], "2026-01-02", "2026-01-21")
    assert 0.163 <= got <= 0.203


def test_window_outside_the_data_skips_calibration_quietly():
    m = scenario_market(seed=5, n_names=60, start="2023-01-03", end="2023-06-30")
    assert not any(k.startswith("calibration_") for k in m.meta)
    assert m.dates[-1] == pd.Timestamp("2023-06-30")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_names": 10}, "n_names=10 is out of range"),
    ({"seed": -1}, "seed=-1 is negative"),
    ({"seed": "x"}, "must be integers"),
    ({"start": "2026-03-01", "end": "2026-01-01"}, "is after end"),
    ({"start": "1990-01-01"}, "outside the NYSE calendar"),
    ({"start": "2026-01-02", "end": "2026-01-30"}, "needs at least 60"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(SqueezeLabError, match=message):
        scenario_market(**kwargs)


# ----------------------------------------------------------------------------- summary
def test_market_summary_is_plain_json_with_episodes_and_targets():
    m = market(7)
    s = market_summary(m)
    json.dumps(s, allow_nan=False)
    assert s["source"] == "scenario" and s["synthetic"] is True and s["seed"] == 7
    assert s["n_names"] == 500 and s["n_days"] == len(m.dates) and s["market_hash"]
    assert s["series"] == ["index", "growth", "most_shorted", "unprofitable_tech"]
    names = [w["name"] for w in s["windows"]]
    assert names[:2] == [k for k, e in EPISODES.items() if e.scenario]
    thirteen = [w for w in s["windows"] if w["start"] == "2026-01-02" and w["end"] == "2026-01-21"]
    assert len(thirteen) == 1 and thirteen[0]["sessions"] == 13
    assert abs(thirteen[0]["returns"]["most_shorted"] - 0.183) < 0.02
    assert len(s["targets"]) == len(MARKET_TARGETS) and all(t["ok"] for t in s["targets"])
    jan = s["windows"][names.index("jan_2026")]
    assert set(jan["factor_returns"]) == set(FACTORS)


def test_market_summary_of_a_market_without_the_windows():
    m = scenario_market(seed=5, n_names=60, start="2023-01-03", end="2023-06-30")
    s = market_summary(m)
    json.dumps(s, allow_nan=False)
    assert all(t["got"] is None and t["ok"] is None for t in s["targets"])
    assert all(not w["covered"] and all(v is None for v in w["returns"].values())
               for w in s["windows"])
