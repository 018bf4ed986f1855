"""The measured period (analyzers/warmup.py): hand-checked cases and hypothesis properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.analyzers.performance import performance_stats
from squeeze_lab.analyzers.warmup import (
    first_invested_session,
    measured_equity,
    require_invested,
    warmup_record,
)
from squeeze_lab.feeds.errors import SqueezeLabError

DATES = pd.bdate_range("2024-01-01", periods=12)


def test_first_invested_session_by_hand() -> None:
    shares = pd.DataFrame(0.0, index=DATES, columns=["A", "B"])
    assert first_invested_session(shares) is None
    shares.loc[DATES[5], "B"] = -10.0
    shares.loc[DATES[7]:, "A"] = 3.0
    assert first_invested_session(shares) == DATES[5]
    # a fill closed by the close still starts the measured period
    trades = pd.DataFrame({"date": [DATES[4]], "ticker": ["A"], "size": [5.0]})
    assert first_invested_session(shares, trades) == DATES[4]


def test_measured_equity_and_warmup_record_by_hand() -> None:
    eq = pd.Series([100.0, 100.0, 100.0, 101.0, 99.0, 102.0], index=DATES[:6])
    m = measured_equity(eq, DATES[3])
    assert list(m.index) == list(DATES[2:6]) and m.iloc[0] == 100.0   # from the base close
    assert warmup_record(DATES[:6], DATES[3]) == {"start": "2024-01-01", "end": "2024-01-03",
                                                  "sessions": 3}
    assert warmup_record(DATES[:6], DATES[0]) == {"start": None, "end": None, "sessions": 0}
    r = m.pct_change().fillna(0.0)
    perf = performance_stats(r)
    assert perf["n_days"] == 3 and perf["start"] == "2024-01-04"
    assert perf["hit_rate"] == pytest.approx(2 / 3)   # +1%, -1.98%, +3.03%: two up days of three


def test_a_book_that_never_invests_is_a_clean_error() -> None:
    with pytest.raises(SqueezeLabError, match=r"never held a position .*300 sessions.*data\.start"):
        require_invested(None, DATES, warmup=300)


@settings(max_examples=60, deadline=None)
@given(lead=st.integers(0, 8), n=st.integers(1, 6),
       seed=st.integers(0, 2 ** 16))
def test_first_invested_session_is_the_first_row_with_a_position(lead: int, n: int,
                                                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    held = rng.integers(-3, 4, (len(DATES), n)).astype(float)
    held[:lead] = 0.0
    shares = pd.DataFrame(held, index=DATES)
    rows = np.flatnonzero((held != 0).any(axis=1))
    expected = DATES[rows[0]] if rows.size else None
    assert first_invested_session(shares) == expected


@settings(max_examples=40, deadline=None)
@given(warm=st.integers(0, 300), seed=st.integers(0, 2 ** 16), n=st.integers(5, 80))
def test_statistics_do_not_depend_on_the_warm_up(warm: int, seed: int, n: int) -> None:
    """Any number of flat sessions before the first position leaves every statistic unchanged."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0005, 0.01, n)
    invested = np.r_[1e6, 1e6 * np.cumprod(1.0 + r)]           # base close, then n sessions
    dates = pd.bdate_range("2020-01-01", periods=warm + n + 1)
    eq = pd.Series(np.r_[np.full(warm, 1e6), invested], index=dates)
    first = dates[warm + 1]
    m = measured_equity(eq, first)
    alone = pd.Series(invested, index=dates[warm:])
    assert m.equals(alone)
    rets = m.pct_change()
    rets.iloc[0] = 0.0
    a = performance_stats(rets)
    b = performance_stats(pd.Series(np.r_[0.0, r], index=dates[warm:]))
    for k in ("sharpe_ratio", "annual_return", "max_drawdown", "hit_rate", "n_days"):
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-15), k
    assert warmup_record(dates, first)["sessions"] == warm + 1
