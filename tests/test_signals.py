"""Signals on a hand-built 5-name, 30-day market whose answers are worked out by hand.

The hand market: index returns m_t alternate +1% (odd t) / -1% (even t), m_0 = 0. Each name's
daily return is r = a * m + c exactly (first row 0), so over any window that excludes row 0 its
beta is exactly ``a`` and its sample volatility is ``a * 0.01 * sqrt(w / (w - 1))`` for an even
window ``w``. E delists after row 24 (NaN from row 25).

    name  a    c       price0  profitable  SI    DTC  shares
    A     0.5  +0.002  100     True        0.05  1    1e8
    B     1.0  +0.001   50     True        0.10  2    1e8
    C     1.5   0.0     20     False       0.15  3    1e8
    D     2.0  -0.001    4     False       0.20  4    1e9
    E     2.5  -0.002    3     False       0.25  5    1e9

Equally spaced a, SI and DTC all have the z-scores L = [-sqrt2, -sqrt2/2, 0, sqrt2/2, sqrt2]
across five names (population std).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market, normalize_index
from squeeze_lab.strategies import signals as sg

TICKERS = ["A", "B", "C", "D", "E"]
A_COEF = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
C_COEF = np.array([0.002, 0.001, 0.0, -0.001, -0.002])
P0 = np.array([100.0, 50.0, 20.0, 4.0, 3.0])
N_DAYS = 30
S2 = math.sqrt(2.0)
L_Z = np.array([-S2, -S2 / 2, 0.0, S2 / 2, S2])


def index_path(n: int = N_DAYS) -> np.ndarray:
    t = np.arange(n)
    m = np.where(t % 2 == 1, 0.01, -0.01)
    m[0] = 0.0
    return m


def make_market(close: pd.DataFrame, attributes: pd.DataFrame | None = None,
                reference: pd.DataFrame | None = None, short_interest: pd.DataFrame | None = None,
                days_to_cover: pd.DataFrame | None = None) -> Market:
    """A close-only Market (open = high = low = close) around the given frames."""
    close = close.astype(np.float64)
    close.index = normalize_index(close.index)
    if attributes is None:
        attributes = pd.DataFrame({"sector": ["Technology"] * close.shape[1]}, index=close.columns)
    vol = pd.DataFrame(np.where(close.notna(), 1e6, np.nan), index=close.index, columns=close.columns)
    if reference is not None:
        reference = reference.copy()
        reference.index = close.index
    for f in (short_interest, days_to_cover):
        if f is not None:
            f.index = close.index
    return Market(open=close.copy(), high=close.copy(), low=close.copy(), close=close, volume=vol,
                  attributes=attributes, reference=reference if reference is not None else
                  pd.DataFrame(), short_interest=short_interest, days_to_cover=days_to_cover,
                  source="hand", synthetic=True, fill_model="next_close",
                  suspicious="keep")   # random perturbations make x2 spikes on purpose


def hand_attributes() -> pd.DataFrame:
    return pd.DataFrame({
        "sector": ["Tech", "Health", "Tech", "Energy", "Tech"],
        "profitable": [True, True, False, False, False],
        "beta": A_COEF,
        "short_interest": [0.05, 0.10, 0.15, 0.20, 0.25],
        "days_to_cover": [1.0, 2.0, 3.0, 4.0, 5.0],
        "shares": [1e8, 1e8, 1e8, 1e9, 1e9],
        "is_tech": [True, False, True, False, True],
    }, index=pd.Index(TICKERS))


def hand_market(attributes: bool = True, reference: bool = True, delist_e: bool = True,
                most_shorted: np.ndarray | None = None) -> Market:
    """The 5-name, 30-day hand market described in the module docstring."""
    m = index_path()
    r = m[:, None] * A_COEF[None, :] + C_COEF[None, :]
    r[0] = 0.0
    close = P0[None, :] * np.cumprod(1.0 + r, axis=0)
    if delist_e:
        close[25:, 4] = np.nan
    dates = pd.bdate_range("2024-01-01", periods=N_DAYS)
    df = pd.DataFrame(close, index=dates, columns=TICKERS)
    ref = None
    if reference:
        ref = pd.DataFrame({"index": m}, index=dates)
        if most_shorted is not None:
            ref["most_shorted"] = most_shorted
    att = hand_attributes() if attributes else None
    return make_market(df, att, ref)


def mom_closed_form(a: float, c: float, days: int) -> float:
    """Return over ``days`` (even) sessions of r = a*m + c with m alternating +-1%."""
    return ((1 + c) ** 2 - (0.01 * a) ** 2) ** (days // 2) - 1.0


def vol_closed_form(a: float, w: int) -> float:
    return a * 0.01 * math.sqrt(w / (w - 1))


def zs(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


# --------------------------------------------------------------------------- basic signals
def test_momentum_12_1_by_hand():
    close = pd.DataFrame({"X": 100.0 + np.arange(20), "Y": 50.0 - np.arange(20)},
                         index=pd.bdate_range("2024-01-01", periods=20))
    close.iloc[:3, 1] = np.nan  # Y lists on row 3
    mom = sg.momentum_12_1(close, lookback=10, skip=2)
    # row 15: close[13] / close[5] - 1
    assert mom["X"].iloc[15] == pytest.approx(113 / 105 - 1)
    assert mom["Y"].iloc[15] == pytest.approx(37 / 45 - 1)
    assert mom["X"].iloc[:10].isna().all()          # not enough history
    assert math.isnan(mom["Y"].iloc[12])            # t-10 = row 2, before Y listed
    assert mom["Y"].iloc[13] == pytest.approx(39 / 47 - 1)
    with pytest.raises(SqueezeLabError, match="skip"):
        sg.momentum_12_1(close, lookback=5, skip=5)


def test_momentum_on_hand_market():
    mk = hand_market()
    mom = sg.momentum_12_1(mk.close, lookback=10, skip=2)
    for j, t in enumerate(TICKERS):
        assert mom[t].iloc[20] == pytest.approx(mom_closed_form(A_COEF[j], C_COEF[j], 8), rel=1e-12)
    assert math.isnan(mom["E"].iloc[26])  # delisted: not listed on t


def test_realized_vol_by_hand():
    mk = hand_market()
    r = sg.listed_returns(mk)
    vol = sg.realized_vol(r, 4, annualize=False)
    for j, t in enumerate(TICKERS):
        assert vol[t].iloc[10] == pytest.approx(vol_closed_form(A_COEF[j], 4), rel=1e-9)
    ann = sg.realized_vol(r, 4)
    assert ann["A"].iloc[10] == pytest.approx(vol_closed_form(0.5, 4) * math.sqrt(252), rel=1e-9)
    assert vol["A"].iloc[:3].isna().all()
    # a Series in, a Series out
    s = sg.realized_vol(r["B"], 4, annualize=False)
    assert isinstance(s, pd.Series) and s.iloc[10] == pytest.approx(vol_closed_form(1.0, 4))
    with pytest.raises(SqueezeLabError, match="window"):
        sg.realized_vol(r, 1)


def test_rolling_beta_by_hand():
    mk = hand_market()
    r = sg.listed_returns(mk)
    beta = sg.rolling_beta(r, sg.index_returns(mk), window=4)
    np.testing.assert_allclose(beta.iloc[10].to_numpy(), A_COEF, rtol=1e-9)
    np.testing.assert_allclose(beta.iloc[24].to_numpy(), A_COEF, rtol=1e-9)
    assert beta.iloc[:3].isna().all().all()        # fewer than 4 observations
    assert math.isnan(beta["E"].iloc[25])           # delisted
    # pairwise-complete: E's window 21..24 still gives 2.5 at row 24, nothing after
    assert beta["E"].iloc[24] == pytest.approx(2.5)
    # a Series in, a Series out; a flat index gives NaN, not inf
    b1 = sg.rolling_beta(r["D"], sg.index_returns(mk), window=6)
    assert isinstance(b1, pd.Series) and b1.iloc[12] == pytest.approx(2.0)
    flat = sg.rolling_beta(r, pd.Series(0.0, index=r.index), window=4)
    assert flat.isna().all().all()


# --------------------------------------------------------------------------- on given rows
def test_window_sums_and_max_by_hand():
    v = np.arange(10.0)[:, None]
    np.testing.assert_array_equal(sg.window_sums(v, 3, np.array([0, 1, 5, 9]))[:, 0],
                                  [0.0, 1.0, 12.0, 24.0])      # 0; 0+1; 3+4+5; 7+8+9
    np.testing.assert_array_equal(sg.window_sums(v, 20, np.array([9, 4]))[:, 0], [45.0, 10.0])
    w = np.array([1.0, np.nan, 3.0, 2.0, np.nan, np.nan, np.nan])[:, None]
    out = sg.window_max(w, 3, np.array([1, 4, 5, 6]))[:, 0]
    np.testing.assert_array_equal(out, [1.0, 3.0, 2.0, np.nan])  # NaN only when all are NaN
    assert sg.window_sums(v, 3, np.array([], dtype=int)).shape == (0, 1)


def test_rows_signals_on_hand_market():
    mk = hand_market()
    close = mk.close.to_numpy()
    r = sg.listed_returns_array(close)
    np.testing.assert_array_equal(r, sg.listed_returns(mk).to_numpy())
    rows = np.array([2, 10, 24, 25])
    beta = sg.rolling_beta_rows(r, sg.index_returns(mk).to_numpy(), 4, rows)
    assert np.isnan(beta[0]).all()                       # fewer than 4 observations
    np.testing.assert_allclose(beta[1], A_COEF, rtol=1e-9)
    np.testing.assert_allclose(beta[2], A_COEF, rtol=1e-9)
    assert np.isnan(beta[3, 4]) and np.isfinite(beta[3, :4]).all()   # E delisted after row 24
    vol = sg.realized_vol_rows(r, 4, rows, annualize=False)
    np.testing.assert_allclose(vol[1], [vol_closed_form(a, 4) for a in A_COEF], rtol=1e-9)
    assert np.isnan(vol[0]).all()
    mom = sg.momentum_rows(close, 10, 2, np.array([9, 20]))
    assert np.isnan(mom[0]).all()                        # row 9 - 10 < 0: no history
    want = [mom_closed_form(a, c, 8) for a, c in zip(A_COEF, C_COEF, strict=True)]
    np.testing.assert_allclose(mom[1], want, rtol=1e-12)
    with pytest.raises(SqueezeLabError, match="window"):
        sg.rolling_beta_rows(r, sg.index_returns(mk).to_numpy(), 1, rows)


def test_rows_as_iloc_takes_them():
    """Negative positions and boolean masks score the same dates as ``iloc``; unordered or
    out-of-range rows are one line, not a numpy traceback or silently wrong rows."""
    mk = hand_market()
    full = sg.junk_score(mk)
    n = len(mk.dates)
    for rows in (np.array([-16, -1]), np.arange(n) >= n - 3, [n - 2, n - 1]):
        got = sg.junk_score(mk, rows=rows)
        want = full.iloc[rows]
        assert got.index.equals(want.index)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(sg.date_positions(n, np.arange(n) >= n - 2), [n - 2, n - 1])
    with pytest.raises(SqueezeLabError, match="date order"):
        sg.junk_score(mk, rows=np.array([-1, -16]))
    with pytest.raises(SqueezeLabError, match="not date positions"):
        sg.quality_score(mk, rows=np.array([n]))


def exact_window_moments(x: np.ndarray, m: np.ndarray, window: int, r: int):
    """(n, co-moment x.m, co-moment m.m, sum m.m) of the pairwise-finite window ending on r, per
    name, two-pass in long double: the reference the array versions are held to."""
    xs = x[max(r - window + 1, 0): r + 1].astype(np.longdouble)
    ms = np.broadcast_to(m[max(r - window + 1, 0): r + 1, None], xs.shape).astype(np.longdouble)
    ok = np.isfinite(xs) & np.isfinite(ms)
    n = ok.sum(axis=0)
    xz, mz = np.where(ok, xs, 0), np.where(ok, ms, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, mm = xz.sum(axis=0) / n, mz.sum(axis=0) / n
    dx, dm = np.where(ok, xs - mx, 0), np.where(ok, ms - mm, 0)
    return n, (dx * dm).sum(axis=0), (dm * dm).sum(axis=0), (mz * mz).sum(axis=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), window=st.integers(2, 30), n_days=st.integers(6, 90),
       listing=st.booleans(), every=st.integers(1, 25))
def test_rows_signals_equal_the_rolling_references(seed, window, n_days, listing, every):
    """The array versions on any rows: equal to an exact (long double, two-pass) computation to
    1e-12, and to the pandas rolling frames to 1e-9 wherever those are well conditioned (the
    rolling sums lose digits when a window's mean dwarfs its spread; the array versions do not)."""
    mk = random_market(seed, n_names=7, n_days=n_days)
    if not listing:   # also the all-listed fast path (late names carried flat: zero returns)
        mk = make_market(mk.close.ffill().bfill())
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_days, size=max(1, n_days // every), replace=False))
    r_frame = sg.listed_returns(mk)
    r = sg.listed_returns_array(mk.close.to_numpy())
    m = sg.index_returns(mk).to_numpy()
    got_beta = sg.rolling_beta_rows(r, m, window, rows)
    got_vol = sg.realized_vol_rows(r, window, rows, annualize=False)
    cond = np.full((2,) + got_beta.shape, np.inf)   # sum of squares / co-moment (beta, vol)
    for i, row in enumerate(rows):
        n, cxm, cmm, smm = exact_window_moments(r, m, window, row)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = (cxm / cmm).astype(np.float64)
        clear = ~((cmm > 1e-13 * smm) & (cmm < 1e-11 * smm))   # off the 1e-12 NaN threshold
        live = np.isfinite(r[row]) & (n >= window)
        want = np.where(live & (cmm > 1e-12 * smm), beta, np.nan)
        np.testing.assert_array_equal(np.isnan(got_beta[i])[clear], np.isnan(want)[clear])
        np.testing.assert_allclose(got_beta[i][clear], want[clear], rtol=1e-12, atol=1e-15)
        xs = r[max(row - window + 1, 0): row + 1].astype(np.longdouble)
        fin = np.isfinite(xs)
        n_x = fin.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.where(fin, xs - np.where(fin, xs, 0).sum(axis=0) / n_x, 0)
        var = ((dev * dev).sum(axis=0) / np.maximum(n_x - 1, 1)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cond[0, i] = (smm / cmm).astype(np.float64)
            cond[1, i] = ((np.where(fin, xs, 0) ** 2).sum(axis=0) / (dev * dev).sum(axis=0)
                          ).astype(np.float64)
        want_vol = np.where(n_x >= window, np.sqrt(var), np.nan)
        np.testing.assert_allclose(got_vol[i], want_vol, rtol=1e-12, atol=1e-15)
    ref_beta = sg.rolling_beta(r_frame, pd.Series(m, index=r_frame.index), window).to_numpy()[rows]
    ref_vol = sg.realized_vol(r_frame, window, annualize=False).to_numpy()[rows]
    for got, ref, c in ((got_beta, ref_beta, cond[0]), (got_vol, ref_vol, cond[1])):
        well = c < 1e3   # the rolling sums keep at least 12 digits there
        np.testing.assert_array_equal(np.isnan(got[well]), np.isnan(ref[well]))
        np.testing.assert_allclose(got[well], ref[well], rtol=1e-9, atol=1e-12)
    lookback = window + 1
    np.testing.assert_array_equal(sg.momentum_rows(mk.close.to_numpy(), lookback, window // 2, rows),
                                  sg.momentum_12_1(mk.close, lookback, window // 2).to_numpy()[rows])
    np.testing.assert_array_equal(sg.drawdown_rows(mk.close.to_numpy(), window, rows),
                                  sg.drawdown_from_peak(mk.close, window).to_numpy()[rows])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_names=st.integers(1, 40), window=st.integers(2, 30),
       every=st.integers(1, 25), block=st.integers(1, 45), layout=st.sampled_from("CF"))
def test_window_comoments_bits_do_not_depend_on_the_name_blocks(seed, n_names, window, every,
                                                                block, layout):
    """Blocks of names change where the work happens, never a bit: each block equals the same
    names computed in one block, for beta's, the market's and volatility's moments, with and
    without unlisted cells, whatever the memory layout."""
    rng = np.random.default_rng(seed)
    n_days = 60
    x = np.asarray(rng.normal(0.001, 0.02, (n_days, n_names)), order=layout)
    m = rng.normal(0.0, 0.01, (n_days, 1))
    ok = rng.random((n_days, n_names)) > 0.2
    xn = np.where(ok, x, np.nan)
    rows = np.sort(rng.choice(n_days, size=max(1, n_days // every), replace=False))
    mm = np.broadcast_to(m, x.shape)
    for args in ((x, m, None), (x, x, None), (m, m, None), (xn, m, ok), (mm, mm, ok), (xn, xn, ok)):
        a, b, mask = args
        one = sg.window_comoments(a, b, mask, window, rows, block=max(a.shape[1], 1))
        got = sg.window_comoments(a, b, mask, window, rows, block=block)
        for g, o in zip(got, one, strict=True):
            assert g.shape == o.shape
            assert g.tobytes() == o.tobytes()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_names=st.integers(1, 30), n_days=st.integers(3, 80),
       holes=st.sampled_from(["none", "nan", "zero", "index"]), block=st.integers(1, 40),
       layout=st.sampled_from("CF"))
def test_close_moments_rows_are_the_array_versions_bit_for_bit(seed, n_names, n_days, holes,
                                                               block, layout):
    """One pass over blocks of names from the closes gives rolling_beta_rows and
    realized_vol_rows of listed_returns_array exactly, every window at once, on the all-finite
    path and on the masked one (unlisted names, a zero close, a missing index return)."""
    rng = np.random.default_rng(seed)
    close = 50 * np.cumprod(1 + rng.normal(0.0, 0.02, (n_days, n_names)), axis=0)
    m = rng.normal(0.0, 0.01, n_days)
    if holes == "nan":
        close[rng.random(close.shape) < 0.1] = np.nan
    elif holes == "zero":
        close[rng.integers(n_days), rng.integers(n_names)] = 0.0
    elif holes == "index":
        m[rng.integers(n_days)] = np.nan
    close = np.asarray(close, order=layout)
    rows = np.sort(rng.choice(n_days, size=int(rng.integers(1, n_days + 1)), replace=False))
    betas, vols, offsets = (2, 7, 30), (3, 21), (0, 1, -4, 9)
    got = sg.close_moments_rows(close, m, rows, betas, vols, block=block, offsets=offsets)
    r = sg.listed_returns_array(close)
    for w in betas:
        assert got["beta", w].tobytes() == sg.rolling_beta_rows(r, m, w, rows).tobytes()
    for w in vols:
        assert got["vol", w].tobytes() == sg.realized_vol_rows(r, w, rows).tobytes()
    for k in offsets:   # the closes k dates away, NaN off the dates
        inside = (rows + k >= 0) & (rows + k < n_days)
        want = np.where(inside[:, None], close[np.clip(rows + k, 0, n_days - 1)], np.nan)
        np.testing.assert_array_equal(got["close", k], want)
    assert sg.close_moments_rows(close, m, rows, offsets=(2,)).keys() == {("close", 2)}
    assert sg.close_moments_rows(close, m, rows[:0], betas)["beta", 2].shape == (0, n_names)


def test_zscore_rows_bits_do_not_depend_on_the_layout():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 300)) * 10 ** rng.uniform(-3, 3, (6, 1))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[2] = 7.0
    assert sg.zscore_rows(np.ascontiguousarray(x)).tobytes() == \
        sg.zscore_rows(np.asfortranarray(x)).tobytes()
    assert (sg.zscore_rows(x)[2][np.isfinite(x[2])] == 0.0).all()


def test_name_blocks_cover_the_names_in_blocks_of_two_or_more():
    for n in range(0, 300, 7):
        for width in (1, 2, 3, 64, 128, 1000):
            b = sg.name_blocks(n, width)
            assert b[0] == 0 and b[-1] == n and (np.diff(b) >= (2 if n >= 2 else n)).all()
            assert len(b) - 1 <= max(1, -(-n // width))


def test_cross_sectional_zscore_ignores_unlisted():
    mk = hand_market()
    z = sg.cross_sectional_zscore(pd.DataFrame([A_COEF, [0.5, 1.0, 1.5, 2.0, np.nan]],
                                               columns=TICKERS))
    np.testing.assert_allclose(z.iloc[0].to_numpy(), L_Z)
    # four names: a = .5, 1, 1.5, 2 -> mean 1.25, pop std sqrt(.3125)
    exp = (np.array([0.5, 1.0, 1.5, 2.0]) - 1.25) / math.sqrt(0.3125)
    np.testing.assert_allclose(z.iloc[1, :4].to_numpy(), exp)
    assert math.isnan(z.iloc[1, 4])
    # a constant row scores 0; clipping
    z2 = sg.cross_sectional_zscore(pd.DataFrame([[3.0, 3.0, np.nan]]))
    assert z2.iloc[0, :2].tolist() == [0.0, 0.0]
    z3 = sg.cross_sectional_zscore(pd.DataFrame([[0.0] * 9 + [100.0]]), clip=2.0)
    assert z3.iloc[0, 9] == 2.0
    rk = sg.cross_sectional_rank(mk.close)
    assert math.isnan(rk["E"].iloc[26]) and rk.iloc[26].max() == 1.0


def test_index_returns_fallbacks():
    mk = hand_market()
    np.testing.assert_allclose(sg.index_returns(mk).to_numpy(), index_path())
    # no reference: cap-weighted at the previous close from the shares attribute
    nr = hand_market(reference=False)
    r = sg.listed_returns(nr)
    cap = nr.close.mul(hand_attributes()["shares"], axis=1)
    t = 10
    w = cap.iloc[t - 1]
    assert sg.index_returns(nr).iloc[t] == pytest.approx((r.iloc[t] * w).sum() / w.sum())
    t = 26  # E delisted: not in the index
    w = cap.iloc[t - 1][:4]
    assert sg.index_returns(nr).iloc[t] == pytest.approx((r.iloc[t][:4] * w).sum() / w.sum())
    # no shares either: equal weight over listed names
    bare = hand_market(reference=False, attributes=False)
    assert sg.index_returns(bare).iloc[26] == pytest.approx(r.iloc[26][:4].mean())
    assert sg.index_returns(bare).iloc[0] == 0.0


# --------------------------------------------------------------------------- scores
def test_quality_score_by_hand():
    mk = hand_market()
    q = sg.quality_score(mk, beta_window=4, vol_window=4)
    assert q.attrs["components"] == ("profitable", "low_beta", "low_volatility")
    zp = (np.array([1, 1, 0, 0, 0]) - 0.4) / math.sqrt(0.24)   # mean .4, pop std sqrt(.24)
    np.testing.assert_allclose(zp, [1.2247449, 1.2247449, -0.8164966, -0.8164966, -0.8164966],
                               atol=1e-6)
    exp = (zp + 2 * (-L_Z)) / 3          # low beta and low vol both have z = -L
    np.testing.assert_allclose(q.iloc[20].to_numpy(), exp, rtol=1e-9)
    np.testing.assert_allclose(exp[0], 1.351057, atol=1e-6)   # (1.2247 + 2.8284) / 3
    # row 26: E delisted -> four names: profitable z = [1, 1, -1, -1]
    zb4 = (np.array([0.5, 1.0, 1.5, 2.0]) - 1.25) / math.sqrt(0.3125)
    np.testing.assert_allclose(q.iloc[26, :4].to_numpy(), (np.array([1, 1, -1, -1]) - 2 * zb4) / 3,
                               rtol=1e-9)
    assert math.isnan(q["E"].iloc[26])
    # warm-up: no beta yet -> complete case gives NaN
    assert q.iloc[2].isna().all()
    # without attributes: price components only
    q2 = sg.quality_score(hand_market(attributes=False), beta_window=4, vol_window=4)
    assert q2.attrs["components"] == ("low_beta", "low_volatility")
    np.testing.assert_allclose(q2.iloc[20].to_numpy(), -L_Z, rtol=1e-9, atol=1e-9)


def test_junk_score_by_hand():
    mk = hand_market()
    kw = dict(momentum_lookback=10, momentum_skip=2, beta_window=4, vol_window=4)
    j = sg.junk_score(mk, **kw)
    assert j.attrs["components"] == ("unprofitable", "short_interest", "days_to_cover", "beta",
                                     "low_price", "momentum")
    assert j.attrs["fallback"] is False
    assert j.attrs["sources"] == {"short_interest": "static", "days_to_cover": "static"}
    z_unprof = (np.array([0, 0, 1, 1, 1]) - 0.6) / math.sqrt(0.24)
    z_low = (np.array([0, 0, 0, 1, 1]) - 0.4) / math.sqrt(0.24)      # D, E under $5
    mom = np.array([mom_closed_form(a, c, 8) for a, c in zip(A_COEF, C_COEF, strict=True)])
    exp = (z_unprof + 3 * L_Z + z_low + zs(-mom)) / 6
    np.testing.assert_allclose(j.iloc[20].to_numpy(), exp, rtol=1e-9, atol=1e-9)
    assert list(j.iloc[20].rank().to_numpy()) == [1, 2, 3, 4, 5]       # E the junkiest
    # one component: just its z-score
    j_si = sg.junk_score(mk, components=("short_interest",))
    np.testing.assert_allclose(j_si.iloc[3].to_numpy(), L_Z)
    with pytest.raises(SqueezeLabError, match="unknown component"):
        sg.junk_score(mk, components=("shortness",))


def test_junk_score_falls_back_to_price_proxies():
    bare = hand_market(attributes=False)
    kw = dict(momentum_lookback=10, momentum_skip=2, beta_window=4, vol_window=4,
              drawdown_window=10)
    j = sg.junk_score(bare, **kw)
    assert j.attrs["fallback"] is True
    assert j.attrs["components"] == ("beta", "low_price", "momentum", "volatility", "drawdown")
    assert j.attrs["sources"] == {"short_interest": "missing", "days_to_cover": "missing"}
    dd = sg.drawdown_from_peak(bare.close, 10)
    mom = sg.momentum_12_1(bare.close, 10, 2)
    z_low = (np.array([0, 0, 0, 1, 1]) - 0.4) / math.sqrt(0.24)
    t = 20
    exp = (L_Z + z_low + zs(-mom.iloc[t].to_numpy()) + L_Z + zs(-dd.iloc[t].to_numpy())) / 5
    np.testing.assert_allclose(j.iloc[t].to_numpy(), exp, rtol=1e-6)
    with pytest.raises(SqueezeLabError, match="needs data"):
        sg.junk_score(bare, components=("short_interest",))


def test_point_in_time_short_interest_preferred():
    base = hand_market()
    si = pd.DataFrame(np.tile([0.25, 0.20, 0.15, 0.10, 0.05], (N_DAYS, 1)), columns=TICKERS)
    si.iloc[:15] = np.tile([0.05, 0.10, 0.15, 0.20, 0.25], (15, 1))  # changes on row 15
    mk = make_market(base.close, hand_attributes(), base.reference, short_interest=si)
    frame, src = sg.point_in_time(mk, "short_interest")
    assert src == "point_in_time"
    j = sg.junk_score(mk, components=("short_interest",))
    np.testing.assert_allclose(j.iloc[14].to_numpy(), L_Z)
    np.testing.assert_allclose(j.iloc[15].to_numpy(), -L_Z)
    assert sg.point_in_time(base, "days_to_cover")[1] == "static"


def test_squeeze_pressure_by_hand():
    mk = hand_market()
    sp = sg.squeeze_pressure(mk, lookback=10)
    assert sp.attrs["components"] == ("short_interest", "days_to_cover", "recent_return")
    ret = np.array([mom_closed_form(a, c, 10) for a, c in zip(A_COEF, C_COEF, strict=True)])
    np.testing.assert_allclose(sp.iloc[20].to_numpy(), (2 * L_Z + zs(ret)) / 3, rtol=1e-6)
    assert np.argmax(sp.iloc[20].to_numpy()) == 4                   # E the most squeezable
    sp2 = sg.squeeze_pressure(mk, components=("short_interest", "days_to_cover"))
    np.testing.assert_allclose(sp2.iloc[26, :4].to_numpy(),
                               (np.array([0.05, 0.1, 0.15, 0.2]) - 0.125) / math.sqrt(0.003125))
    assert math.isnan(sp2["E"].iloc[26])


# --------------------------------------------------------------------------- junk rally
def rally_basket() -> np.ndarray:
    """Basket = 2 x index until row 19, then +3% a day."""
    b = 2 * index_path()
    b[20:] = 0.03
    return b


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), lookback=st.integers(1, 12), every=st.integers(1, 9))
def test_squeeze_pressure_on_rows_is_the_full_frames_rows(seed, lookback, every):
    """Scored on some rows only (the overlay's decision dates), each row is the full frame's."""
    mk = random_market(seed)
    rows = np.arange(seed % every, len(mk.dates), every)
    full = sg.squeeze_pressure(mk, lookback).to_numpy()[rows]
    part = sg.squeeze_pressure(mk, lookback, rows=rows)
    assert part.index.equals(mk.dates[rows])
    np.testing.assert_array_equal(part.to_numpy(), full)


def test_junk_rally_signal_return_mode_by_hand():
    mk = hand_market(most_shorted=rally_basket())
    s = sg.junk_rally_signal(mk, lookback=4, mode="return")
    assert s.iloc[23] == pytest.approx(1.03 ** 4 - 1)
    # row 21: rows 18, 19 (2m: +2%, -2%) then two +3% days
    assert s.iloc[21] == pytest.approx(1.02 * 0.98 * 1.03 ** 2 - 1)
    assert s.iloc[:3].isna().all() and s.attrs["basket"].kind == "reference"


def test_junk_rally_signal_zscore_mode_by_hand():
    mk = hand_market(most_shorted=rally_basket())
    s = sg.junk_rally_signal(mk, lookback=4, vol_window=6, mode="zscore")
    # excess over rows 20..23: basket 1.03^4 - 1, index (0.99 * 1.01)^2 - 1
    excess = (1.03 ** 4 - 1) - (0.9999 ** 2 - 1)
    # yardstick: daily basket - index = m over rows 14..19 (alternating +-1%), sample std
    sd = 0.01 * math.sqrt(6 / 5)
    assert s.iloc[23] == pytest.approx(excess / (sd * 2.0), rel=1e-9)
    # before the rally the excess is m's own 4-day compounded path vs 2m's
    t = 15
    exc = ((1.02 * 0.98) ** 2 - 1) - ((1.01 * 0.99) ** 2 - 1)
    assert s.iloc[t] == pytest.approx(exc / (sd * 2.0), rel=1e-9)
    assert s.iloc[:9].isna().all()       # 6-day vol window ending 4 rows back needs row 9
    assert np.isfinite(s.iloc[9])


def test_junk_rally_signal_rebuilds_basket_from_short_interest():
    mk = hand_market()           # no most_shorted reference: top-2 by SI = D, E
    s = sg.junk_rally_signal(mk, lookback=4, mode="return", n_names=2, min_cap=0.0)
    r = sg.listed_returns(mk)
    t = 12
    src = s.attrs["basket"]
    assert (src.kind, src.requested, src.built_median, src.rebalance) == \
        ("short_interest", 2, 2, "twice a month")
    # equal weight at row 0, drifting; re-weighted equally at row 9's close (the last session
    # before the 15 January rebalance date), drifting again
    d, e = mk.close["D"], mk.close["E"]
    v0 = (d / d.iloc[0] + e / e.iloc[0]) / 2
    v9 = (d / d.iloc[9] + e / e.iloc[9]) / 2
    expected = v0.iloc[9] / v0.iloc[8] * v9.iloc[t] - 1
    assert s.iloc[t] == pytest.approx(expected, rel=1e-9)
    # E delists: from row 25 the basket is D alone (E's membership on row 24 finds no return)
    assert s.iloc[28] == pytest.approx(np.prod(1 + r["D"].iloc[25:29]) - 1, rel=1e-9)
    mem, src = sg.most_shorted_members(mk, n=2, min_cap=0.0)
    assert mem.iloc[10].tolist() == [False, False, False, True, True]
    # a cap floor above D's and E's caps (~4e9 and ~3e9) leaves B, C... ranked by SI
    mem2, _ = sg.most_shorted_members(mk, n=2, min_cap=5e9)
    assert mem2.iloc[10].tolist() == [True, True, False, False, False]


def test_most_shorted_members_do_not_build_the_baskets_returns(monkeypatch):
    """The overlay's hedge asks who is in the most-shorted basket, not what it returned: the
    members and description come without the basket's daily returns being computed."""
    from squeeze_lab.feeds import baskets

    mk = hand_market()
    expected = sg.most_shorted_members(mk, n=2, min_cap=0.0)

    def refuse(*args, **kwargs):
        raise AssertionError("basket returns built for its members")

    monkeypatch.setattr(baskets, "equal_weight_basket", refuse)
    mem, src = sg.most_shorted_members(mk, n=2, min_cap=0.0)
    pd.testing.assert_frame_equal(mem, expected[0])
    assert src == expected[1]
    assert mem.iloc[10].tolist() == [False, False, False, True, True]


def test_basket_and_breadth():
    mk = hand_market()
    members = pd.DataFrame(False, index=mk.dates, columns=TICKERS)
    members.loc[mk.dates[10]:, "A"] = True
    b = sg.basket_returns(mk, members)
    r = sg.listed_returns(mk)
    assert b.iloc[10] == 0.0 and b.iloc[11] == pytest.approx(r["A"].iloc[11])
    shorts = pd.DataFrame(False, index=mk.dates, columns=TICKERS)
    shorts[["A", "D", "E"]] = True
    br = sg.short_breadth(mk.close, shorts, lookback=10)
    # over 10 sessions A is up, D and E are down
    assert br.iloc[20] == pytest.approx(1 / 3)
    assert br.iloc[26] == pytest.approx(1 / 2)      # E delisted: A up, D down
    assert br.iloc[:10].isna().all()


def test_signal_bad_mode():
    with pytest.raises(SqueezeLabError, match="zscore, return"):
        sg.junk_rally_signal(hand_market(), mode="zz")


# --------------------------------------------------------------------------- no look-ahead
def random_market(seed: int, n_names: int = 8, n_days: int = 45, attributes: bool = True,
                  reference: bool = False) -> Market:
    """A small random close-only market: some names list late or delist early."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 0.01, n_days)
    beta = rng.uniform(0.3, 2.5, n_names)
    r = m[:, None] * beta + rng.normal(0.0, 0.02, (n_days, n_names))
    r[0] = 0.0
    close = rng.uniform(2.0, 80.0, n_names) * np.cumprod(1 + r, axis=0)
    for j in range(n_names):
        u = rng.random()
        if u < 0.15:
            close[: rng.integers(1, n_days // 3), j] = np.nan
        elif u < 0.3:
            close[rng.integers(2 * n_days // 3, n_days):, j] = np.nan
    tick = [f"T{j}" for j in range(n_names)]
    df = pd.DataFrame(close, index=pd.bdate_range("2024-01-01", periods=n_days), columns=tick)
    att = None
    if attributes:
        att = pd.DataFrame({
            "sector": ["Tech"] * n_names,
            "profitable": rng.random(n_names) < 0.5,
            "beta": beta,
            "short_interest": rng.uniform(0.01, 0.4, n_names),
            "days_to_cover": rng.uniform(0.5, 10, n_names),
            "shares": rng.uniform(1e8, 1e9, n_names),
            "is_tech": rng.random(n_names) < 0.5,
        }, index=pd.Index(tick))
    ref = None
    if reference:
        ref = pd.DataFrame({"index": m, "most_shorted": m * 2 + rng.normal(0, 0.01, n_days)},
                           index=df.index)
        ref.iloc[0] = 0.0
    return make_market(df, att, ref)


def perturb_after(mk: Market, t: int, seed: int) -> Market:
    """The same market with every close after row t multiplied by a random factor."""
    rng = np.random.default_rng(seed)
    c = mk.close.copy()
    f = np.exp(rng.normal(0, 0.2, c.shape))
    f[: t + 1] = 1.0
    c = c * f
    return make_market(c, mk.attributes if "profitable" in mk.attributes else None,
                       mk.reference if not mk.reference.empty else None)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(12, 40), attrs=st.booleans())
def test_signals_have_no_look_ahead(seed, t, attrs):
    mk = random_market(seed, attributes=attrs)
    pk = perturb_after(mk, t, seed + 1)
    r1, r2 = sg.listed_returns(mk), sg.listed_returns(pk)
    kw = dict(momentum_lookback=10, momentum_skip=2, beta_window=6, vol_window=6, drawdown_window=8)
    pairs = [
        (sg.momentum_12_1(mk.close, 10, 2), sg.momentum_12_1(pk.close, 10, 2)),
        (sg.realized_vol(r1, 5), sg.realized_vol(r2, 5)),
        (sg.rolling_beta(r1, sg.index_returns(mk), 6), sg.rolling_beta(r2, sg.index_returns(pk), 6)),
        (sg.quality_score(mk, beta_window=6, vol_window=6),
         sg.quality_score(pk, beta_window=6, vol_window=6)),
        (sg.junk_score(mk, **kw), sg.junk_score(pk, **kw)),
        (sg.squeeze_pressure(mk, 5), sg.squeeze_pressure(pk, 5)),
        (sg.junk_rally_signal(mk, 5, 6, n_names=3, min_cap=0.0).to_frame(),
         sg.junk_rally_signal(pk, 5, 6, n_names=3, min_cap=0.0).to_frame()),
        (sg.junk_rally_signal(mk, 5, 6, "return", n_names=3, min_cap=0.0).to_frame(),
         sg.junk_rally_signal(pk, 5, 6, "return", n_names=3, min_cap=0.0).to_frame()),
    ]
    for a, b in pairs:
        pd.testing.assert_frame_equal(a.iloc[: t + 1], b.iloc[: t + 1], check_exact=False,
                                      rtol=1e-9, atol=1e-12)
    # and the perturbation is visible after t (the comparison above can fail)
    v1, v2 = pairs[1]
    assert not np.allclose(np.nan_to_num(v1.iloc[t + 1:].to_numpy()),
                           np.nan_to_num(v2.iloc[t + 1:].to_numpy()))
