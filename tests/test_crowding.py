"""The squeeze score, its flags and the last-report change, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.analyzers.crowding import crowding_flags, last_report_change, squeeze_score


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols, index=[f"N{i}" for i in range(len(next(iter(cols.values()))))])


def test_score_by_hand() -> None:
    f = frame(short_interest=[0.30], days_to_cover=[6.0], si_change=[0.02], recent_return=[0.15],
              beta=[1.75], under_5=[1.0])
    # 0.30 x 0.30/0.40 + 0.20 x 6/10 + 0.10 x 0.02/0.05 + 0.20 x 0.15/0.30 + 0.10 x 0.75/1.5 + 0.10 x 1
    expected = 0.30 * 0.75 + 0.20 * 0.6 + 0.10 * 0.4 + 0.20 * 0.5 + 0.10 * 0.5 + 0.10 * 1.0
    assert squeeze_score(f).iloc[0] == pytest.approx(100 * expected)
    assert squeeze_score(f).iloc[0] == pytest.approx(63.5)


def test_components_are_capped_and_floored() -> None:
    f = frame(short_interest=[0.90, 0.0], days_to_cover=[50.0, 0.0], si_change=[0.5, -0.2],
              recent_return=[3.0, -0.5], beta=[4.0, 0.2], under_5=[1.0, 0.0])
    s = squeeze_score(f)
    assert s.iloc[0] == pytest.approx(100.0)   # every component at its cap
    assert s.iloc[1] == pytest.approx(0.0)     # falls and low beta count 0, never negative


def test_unknown_components_are_left_out_and_the_rest_renormalized() -> None:
    # no short interest data: only return (0.20), beta (0.10), under_5 (0.10) are known
    f = frame(short_interest=[np.nan], days_to_cover=[np.nan], si_change=[np.nan],
              recent_return=[0.30], beta=[1.0], under_5=[1.0])
    assert squeeze_score(f).iloc[0] == pytest.approx(100 * (0.20 * 1 + 0.10 * 0 + 0.10 * 1) / 0.40)
    none = frame(short_interest=[np.nan], recent_return=[np.nan])
    assert np.isnan(squeeze_score(none).iloc[0])


def test_flags_follow_the_practitioners_lines() -> None:
    f = frame(short_interest=[0.25, 0.2501, np.nan], days_to_cover=[5.0, 5.01, 7.0])
    fl = crowding_flags(f)
    assert fl["si_over_25"].tolist() == [False, True, False]
    assert fl["dtc_over_5"].tolist() == [False, True, True]


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.floats(0, 60), st.floats(-0.2, 0.2), st.floats(-0.9, 3), st.floats(0, 4),
       st.booleans(), st.floats(0, 0.5))
def test_more_short_interest_never_lowers_the_score(si, dtc, chg, ret, beta, low, extra) -> None:
    a = frame(short_interest=[si], days_to_cover=[dtc], si_change=[chg], recent_return=[ret],
              beta=[beta], under_5=[float(low)])
    b = a.assign(short_interest=si + extra)
    sa, sb = squeeze_score(a).iloc[0], squeeze_score(b).iloc[0]
    assert 0.0 <= sa <= 100.0 and sb >= sa - 1e-12


def test_last_report_change_by_hand() -> None:
    idx = pd.bdate_range("2026-01-01", periods=8)
    h = pd.DataFrame({"A": [np.nan, 0.10, 0.10, 0.12, 0.12, 0.12, 0.15, 0.15],
                      "B": [np.nan, np.nan, np.nan, 0.20, 0.20, 0.20, 0.20, 0.20],
                      "C": [np.nan] * 8}, index=idx)
    value, change, since = last_report_change(h, idx[5])
    assert value["A"] == 0.12 and change["A"] == pytest.approx(0.02) and since["A"] == idx[3]
    assert value["B"] == 0.20 and np.isnan(change["B"]) and since["B"] == idx[3]
    assert np.isnan(value["C"]) and pd.isna(since["C"])
    value, change, since = last_report_change(h, idx[7])   # a later report
    assert change["A"] == pytest.approx(0.03) and since["A"] == idx[6]
