"""Drawdowns and episodes: hand-checked curves, agreement with empyrical and pyfolio, detection."""

from __future__ import annotations

import warnings

import empyrical
import empyrical.stats
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.analyzers.drawdowns import (
    drawdown_series,
    drawdown_summary,
    drawdown_table,
    max_drawdown,
    table_records,
    underwater,
)
from squeeze_lab.analyzers.episodes import (
    check_episodes_in_range,
    default_junk_signal,
    detect_episodes,
    drawdown_windows,
    episode_drawdown,
    merge_windows,
    signal_spells,
    split_episodes,
)
from squeeze_lab.feeds.episodes import SCENARIO_EPISODES as EPISODES  # the scenario's two
from squeeze_lab.feeds.episodes import Episode, window_return
from squeeze_lab.feeds.errors import SqueezeLabError

with warnings.catch_warnings():  # pyfolio is noisy at import (zipline, seaborn, fonts)
    warnings.simplefilter("ignore")
    import pyfolio.timeseries as pf_ts

DATES = pd.bdate_range("2025-06-02", periods=10)  # Mon 2 June .. Fri 13 June 2025
EQUITY = pd.Series([100.0, 102.0, 105.0, 103.0, 99.0, 101.0, 104.0, 106.0, 104.0, 103.0],
                   index=DATES)


def _returns(equity: pd.Series) -> pd.Series:
    r = equity.pct_change(fill_method=None)
    r.iloc[0] = 0.0
    return r


def _pyfolio_table(r: pd.Series, top: int) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf_ts.gen_drawdown_table(r, top=top)


def test_hand_checked_ten_day_curve():
    r = _returns(EQUITY)
    t = drawdown_table(r, top=5)
    assert len(t) == 2
    first, second = t.iloc[0], t.iloc[1]
    assert first["peak_date"] == DATES[2] and first["valley_date"] == DATES[4]
    assert first["recovery_date"] == DATES[7]
    assert first["drawdown"] == pytest.approx(99 / 105 - 1, abs=1e-15)
    assert first["duration"] == 6  # business days 4 June .. 11 June, both included
    assert first["peak_to_valley_sessions"] == 2 and first["sessions"] == 5
    assert bool(first["recovered"])
    assert second["peak_date"] == DATES[7] and second["valley_date"] == DATES[9]
    assert pd.isna(second["recovery_date"]) and pd.isna(second["duration"])
    assert second["drawdown"] == pytest.approx(103 / 106 - 1, abs=1e-15)
    assert not bool(second["recovered"]) and second["sessions"] == 2
    assert max_drawdown(r) == pytest.approx(99 / 105 - 1, abs=1e-15)
    rec = table_records(t)
    assert rec[1]["recovery_date"] is None and rec[1]["duration"] is None
    assert rec[0]["peak_date"] == "2025-06-04" and rec[0]["duration"] == 6
    s = drawdown_summary(r, top=1)
    assert s["current_drawdown"] == pytest.approx(103 / 106 - 1) and s["n_periods"] == 2
    assert len(s["table"]) == 1
    assert np.allclose(underwater(EQUITY), drawdown_series(r), atol=1e-15)


def test_no_drawdown_gives_empty_table():
    r = pd.Series([0.0, 0.01, 0.02, 0.0], index=DATES[:4])
    assert drawdown_table(r).empty and max_drawdown(r) == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_empyrical_and_pyfolio(seed):
    rng = np.random.default_rng(seed)
    r = pd.Series(rng.normal(0.0003, 0.012, 400), index=pd.bdate_range("2023-01-02", periods=400))
    r.iloc[0] = 0.0  # an equity curve's first return (pyfolio does not anchor; empyrical does)
    assert abs(max_drawdown(r) - empyrical.max_drawdown(r)) < 1e-12
    assert np.allclose(drawdown_series(r), empyrical.stats.drawdown_series(r), rtol=0, atol=1e-12)
    ours = drawdown_table(r, top=5)
    ref = _pyfolio_table(r, 5).dropna(subset=["Peak date"])
    assert len(ours) == len(ref) >= 3
    for i in range(len(ref)):
        assert ours["peak_date"][i] == ref["Peak date"][i]
        assert ours["valley_date"][i] == ref["Valley date"][i]
        if pd.isna(ref["Recovery date"][i]):
            assert pd.isna(ours["recovery_date"][i]) and pd.isna(ours["duration"][i])
        else:
            assert ours["recovery_date"][i] == ref["Recovery date"][i]
            assert ours["duration"][i] == ref["Duration"][i]
        assert abs(ours["drawdown"][i] + ref["Net drawdown in %"][i] / 100.0) < 1e-12


def test_first_negative_return_counts_from_starting_capital_like_empyrical():
    r = pd.Series([-0.05, 0.01, 0.02, 0.03], index=DATES[:4])
    assert max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), abs=1e-15)
    t = drawdown_table(r)
    assert t["drawdown"][0] == pytest.approx(-0.05) and t["peak_date"][0] == DATES[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=2, max_size=60))
def test_property_drawdowns_non_positive_and_match_empyrical(values):
    r = pd.Series([0.0] + values, index=pd.bdate_range("2024-01-01", periods=len(values) + 1))
    dd = np.asarray(drawdown_series(r))
    assert (dd <= 0).all()
    assert abs(max_drawdown(r) - empyrical.max_drawdown(r)) < 1e-12
    t = drawdown_table(r, top=3)
    assert (t["drawdown"] < 0).all() and t["drawdown"].is_monotonic_increasing
    if len(t):
        assert t["drawdown"][0] == pytest.approx(max_drawdown(r), abs=1e-15)
        assert len(t) == len(_pyfolio_table(r, 3).dropna(subset=["Peak date"]))
        ref = _pyfolio_table(r, 3).dropna(subset=["Peak date"])
        assert abs(t["drawdown"][0] + ref["Net drawdown in %"][0] / 100.0) < 1e-12
        assert t["valley_date"][0] == ref["Valley date"][0]


# --------------------------------------------------------------------------- episodes
def test_episode_drawdown_peak_before_window_and_recovery():
    ep = Episode("mid", DATES[3], DATES[5])
    out = episode_drawdown(EQUITY, ep)
    assert out["peak_date"] == "2025-06-04" and not out["peak_in_window"]
    assert out["trough_date"] == "2025-06-06"
    assert out["depth"] == pytest.approx(99 / 105 - 1)
    assert out["peak_to_trough_sessions"] == 2 and out["peak_to_trough_days"] == 2
    assert out["recovered"] and out["recovery_date"] == "2025-06-11"
    assert out["trough_to_recovery_sessions"] == 3
    assert out["base_date"] == "2025-06-04" and out["sessions"] == 3
    assert out["return"] == pytest.approx(101 / 105 - 1)
    assert out["return"] == pytest.approx(window_return(_returns(EQUITY), ep.start, ep.end))
    win = _returns(EQUITY).loc[ep.start: ep.end]
    assert out["max_drawdown_in_window"] == pytest.approx(empyrical.max_drawdown(win), abs=1e-12)
    assert not out["truncated"]


def test_episode_drawdown_not_recovered_and_truncated():
    out = episode_drawdown(EQUITY, Episode("late", DATES[8], "2025-06-20"))
    assert out["peak_date"] == "2025-06-11" and out["trough_date"] == "2025-06-13"
    assert out["depth"] == pytest.approx(103 / 106 - 1)
    assert not out["recovered"] and out["recovery_date"] is None
    assert out["trough_to_recovery_sessions"] is None
    assert out["truncated"] and out["last_session"] == "2025-06-13"
    rising = episode_drawdown(EQUITY, Episode("up", "2025-06-01", DATES[2]))  # a Sunday start
    assert rising["depth"] == 0.0 and rising["recovered"] and not rising["truncated"]
    assert rising["base_date"] == "2025-06-02"


def test_out_of_range_episodes_error_or_skip():
    user = {"may_2024": Episode("may_2024", "2024-05-01", "2024-05-31", "user-defined")}
    with pytest.raises(SqueezeLabError) as err:
        check_episodes_in_range(user, DATES)
    assert str(err.value).startswith(
        "episode may_2024 (2024-05-01..2024-05-31) is outside the data (2025-06-02..2025-06-13):")
    with pytest.raises(SqueezeLabError, match="weekend"):
        check_episodes_in_range([Episode("weekend", "2025-06-07", "2025-06-08")], DATES)
    check_episodes_in_range([Episode("ok", "2025-06-01", "2025-06-03")], DATES)
    keep, skipped = split_episodes({**EPISODES, **user, "ok": Episode("ok", DATES[1], DATES[2])},
                                   pd.DatetimeIndex(DATES))
    assert list(keep) == ["jun_jul_2025", "ok"]
    assert [s["name"] for s in skipped] == ["jan_2026", "may_2024"]
    assert skipped[0]["reason"] == "outside the data (2025-06-02..2025-06-13)"


def test_signal_spells_and_merge():
    sig = pd.Series([0, 0.2, 0.3, 0, 0, 0.5, 0.5, 0.5, np.nan, 0], index=DATES, dtype=float)
    spells = signal_spells(sig, 0.1)
    assert [(s.start, s.end) for s in spells] == [(DATES[1], DATES[2]), (DATES[5], DATES[7])]
    assert [(s.start, s.end) for s in signal_spells(sig, 0.1, min_sessions=3, lookback=2)] == [
        (DATES[3], DATES[7])]
    merged = merge_windows([
        Episode("a", DATES[1], DATES[3], "junk_rally"),
        Episode("c", DATES[7], DATES[8], "drawdown"),
        Episode("b", DATES[3], DATES[5], "drawdown"),
        Episode("d", DATES[6], DATES[6], "junk_rally"),  # touches c's neighbour, no overlap
    ])
    assert [(m.start, m.end, m.description) for m in merged] == [
        (DATES[1], DATES[5], "drawdown+junk_rally"),
        (DATES[6], DATES[6], "junk_rally"),
        (DATES[7], DATES[8], "drawdown"),
    ]
    assert merged[0].name == "detected_2025-06-03_2025-06-09"


def test_drawdown_windows_return_equals_depth():
    r = _returns(EQUITY)
    ws = drawdown_windows(r, top=5)
    assert [(w.start, w.end) for w in ws] == [(DATES[3], DATES[4]), (DATES[8], DATES[9])]
    for w in ws:
        depth = episode_drawdown(EQUITY, w)["depth"]
        assert window_return(r, w.start, w.end) == pytest.approx(depth)
    assert drawdown_windows(r, top=5, min_depth=0.04) == ws[:1]


def test_default_junk_signal():
    ref = pd.DataFrame({"index": [0.0] + [0.001] * 11, "most_shorted": [0.0] + [0.02] * 11},
                       index=pd.bdate_range("2026-01-01", periods=12))
    sig = default_junk_signal(ref, window=10)
    assert sig.iloc[:9].isna().all()
    assert sig.iloc[10] == pytest.approx(1.02 ** 10 - 1.001 ** 10)
    assert default_junk_signal(ref[["index"]]).empty


@settings(max_examples=25, deadline=None)
@given(returns=st.lists(st.floats(-0.1, 0.1, allow_nan=False), min_size=5, max_size=80),
       signal=st.lists(st.floats(-1, 1, allow_nan=False), min_size=5, max_size=80),
       lookback=st.integers(0, 12), top=st.integers(0, 6))
def test_property_detected_episodes_inside_and_disjoint(returns, signal, lookback, top):
    dates = pd.bdate_range("2025-01-01", periods=len(returns))
    r = pd.Series([0.0] + returns[1:], index=dates)
    sig = pd.Series(signal[: len(dates)], index=dates[: len(signal)])
    eps = detect_episodes(r, sig, threshold=0.3, lookback=lookback, top=top)
    for e in eps:
        assert dates[0] <= e.start <= e.end <= dates[-1]
        assert ((dates >= e.start) & (dates <= e.end)).any()
    for a, b in zip(eps, eps[1:], strict=False):
        assert a.end < b.start
    assert len({e.name for e in eps}) == len(eps)


def test_episode_peak_is_the_last_close_at_the_high_water_mark():
    eq = pd.Series([100.0, 105.0, 104.0, 105.0, 101.0, 103.0, 106.0], index=DATES[:7])
    out = episode_drawdown(eq, Episode("e", DATES[4], DATES[5]))
    assert out["peak_date"] == DATES[3].strftime("%Y-%m-%d")  # 105 again on day 3
    assert out["peak_to_trough_sessions"] == 1 and out["recovery_date"] == "2025-06-10"
    t = drawdown_table(_returns(eq))
    assert t["peak_date"][0] == DATES[3] and t["valley_date"][0] == DATES[4]
