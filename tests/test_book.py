"""The long-short book on the hand market (see tests/test_signals.py) and random small markets.

Hand market with windows momentum 10/2, vol 4, beta 4: the long composite ranks A > B > C > D > E
(quality and momentum both fall with beta and drift) and the junk score ranks E > D > C > B > A,
so with 2 names per leg the book is long A, B and short D, E — until E delists after row 24,
when row 24 (E listed today, not tomorrow) shorts C, D instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_signals import hand_market, perturb_after, random_market

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.strategies import params as prm
from squeeze_lab.strategies.book import (
    _rank_desc,
    book_scores,
    book_targets,
    cap_weights,
    rebalance_mask,
    resolve_book_params,
)
from squeeze_lab.strategies.spec import BOOK
from squeeze_lab.strategies.targets import LEGS

HAND = dict(momentum_lookback=10, momentum_skip=2, vol_window=4, beta_window=4, names_per_leg=2,
            max_weight=1.0, rebalance=2)


def row(t, i):
    return t.total().iloc[i].to_numpy()


def test_params_documented_and_typed():
    names = list(BOOK.names)
    assert all(BOOK.param(n).doc.strip() for n in names)
    assert {p.name for p in BOOK.params if p.choices} <= set(names)
    p = resolve_book_params({})
    assert p["rebalance"] == "monthly" and p["gross"] == 2.0 and p["net"] == 0.0
    assert resolve_book_params({"gross": 3})["gross"] == 3.0           # int accepted for float
    assert isinstance(resolve_book_params({"gross": 3})["gross"], float)
    assert resolve_book_params({"rebalance": 21})["rebalance"] == 21


@pytest.mark.parametrize("given_, match", [
    ({"grosss": 2.0}, r"unknown key book.grosss \(did you mean 'gross'\?\): valid keys of \[book\] are "
                      r"rebalance, momentum_lookback"),
    ({"weighting": "cap"}, "weighting='cap' is not valid: use one of equal, score, inverse_vol"),
    ({"rebalance": "quarterly"}, "use one of monthly, weekly, daily, an int"),
    ({"rebalance": 2.5}, "use one of monthly, weekly, daily, an int"),
    ({"rebalance": 0}, r"rebalance=0 is outside \[1, inf\)"),
    ({"names_per_leg": 2.0}, "names_per_leg=2.0 is not an int"),
    ({"names_per_leg": True}, "names_per_leg=True is not an int"),
    ({"gross": "2"}, "gross='2' is not a number"),
    ({"gross": 0.0}, r"gross=0.0 is outside \(0, inf\)"),
    ({"neutral": "market"}, "use one of dollar, beta"),
    ({"fraction_per_leg": 0.7}, r"fraction_per_leg=0.7 is outside \[0, 0.5\]"),
    ({"net": 2.5}, r"book.net=2.5 must be inside \(-book.gross, book.gross\)"),
    ({"momentum_skip": 300}, "book.momentum_skip=300 must be smaller than book.momentum_lookback="
                             "252: lower book.momentum_skip or raise book.momentum_lookback"),
])
def test_bad_params_rejected(given_, match):
    with pytest.raises(SqueezeLabError, match=match):
        book_targets(hand_market(), **given_)


def test_check_params_generic_rules():
    params = prm.Section("t", "a test table", (
        prm.Param("flag", False, "a flag"), prm.Param("n", 3, "a count"),
        prm.Param("x", 1.5, "a number"), prm.Param("name", "a", "a text"),
        prm.Param("things", ("p",), "a list", choices=("p", "q")),
        prm.Param("opt", None, "optional", choices=(None, float))))
    out = prm.check_params(params, {"x": 2, "things": "q, p"})
    assert out == {"flag": False, "n": 3, "x": 2.0, "name": "a", "things": ("q", "p"), "opt": None}
    assert prm.check_params(params, {"opt": 3})["opt"] == 3.0
    assert prm.check_params(params, {"things": ["p"]})["things"] == ("p",)
    for bad, msg in (({"flag": 1}, "flag=1 is not a bool"), ({"n": np.float64(2)}, "not an int"),
                     ({"x": True}, "not a number"), ({"name": 3}, "not a string"),
                     ({"things": ("r",)}, "'r' is not a valid item: use items from p, q"),
                     ({"things": 5}, "is not a list"), ({"opt": "x"}, "use one of None, a number")):
        with pytest.raises(SqueezeLabError, match=msg):
            prm.check_params(params, bad)
    assert prm.check_params(params, {"n": np.int64(4)})["n"] == 4
    assert [d["name"] for d in prm.describe_params(BOOK)] == [n for n, _ in BOOK.bt_params()]


def test_rebalance_mask():
    dates = pd.bdate_range("2024-01-29", "2024-03-05")
    m = rebalance_mask(dates, "monthly")
    assert [d.strftime("%Y-%m-%d") for d in dates[m]] == ["2024-01-29", "2024-02-01", "2024-03-01"]
    w = rebalance_mask(dates, "weekly")
    assert all(d.day_of_week == 0 for d in dates[w])          # Mondays (business days)
    assert len(dates[w]) == 6
    assert rebalance_mask(dates, "daily").all()
    n = rebalance_mask(dates, 5, start=3)
    assert np.flatnonzero(n).tolist() == [3, 8, 13, 18, 23]


def test_hand_book_dollar_neutral_equal_weight():
    mk = hand_market()
    t = book_targets(mk, **HAND)
    # warm-up 10, every 2 sessions, never the last row (29)
    assert [mk.dates.get_loc(d) for d in t.dates] == [10, 12, 14, 16, 18, 20, 22, 24, 26, 28]
    np.testing.assert_allclose(row(t, 0), [0.5, 0.5, 0.0, -0.5, -0.5])
    # row 24: E listed today but not tomorrow -> excluded; C is the next junkiest
    np.testing.assert_allclose(row(t, 7), [0.5, 0.5, -0.5, -0.5, 0.0])
    assert (t.legs["long"] >= 0).all().all() and (t.legs["short"] <= 0).all().all()
    assert (t.legs["hedge"] == 0).all().all()
    assert t.resize.all().all() and (t.reasons == "rebalance").all()
    np.testing.assert_allclose(t.gross().to_numpy(), 2.0)


def test_hand_book_beta_neutral():
    t = book_targets(hand_market(), **HAND, neutral="beta")
    # betas exactly .5, 1 (long) and 2, 2.5 (short): long beta .75, short beta 2.25
    # long total = 2 * 2.25 / 3 = 1.5, short total = 0.5
    np.testing.assert_allclose(row(t, 0), [0.75, 0.75, 0.0, -0.25, -0.25])
    beta = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    assert float((row(t, 0) * beta).sum()) == pytest.approx(0.0, abs=1e-12)
    assert t.gross().iloc[0] == pytest.approx(2.0)


def test_hand_book_score_weights_capped():
    t = book_targets(hand_market(), **{**HAND, "weighting": "score", "max_weight": 0.6})
    # rank weights 2:1 -> 2/3, 1/3 of each leg; the cap takes A (and E) to .6, the rest goes to B / D
    np.testing.assert_allclose(row(t, 0), [0.6, 0.4, 0.0, -0.4, -0.6])
    t2 = book_targets(hand_market(), **{**HAND, "weighting": "score"})
    np.testing.assert_allclose(row(t2, 0), [2 / 3, 1 / 3, 0.0, -1 / 3, -2 / 3])


def test_hand_book_inverse_vol():
    t = book_targets(hand_market(), **{**HAND, "weighting": "inverse_vol"})
    # vol is proportional to beta: long 1/.5 : 1/1 = 2:1; short 1/2 : 1/2.5 = .5 : .4
    np.testing.assert_allclose(row(t, 0), [2 / 3, 1 / 3, 0.0, -5 / 9, -4 / 9])


def test_hand_book_net_and_fraction():
    t = book_targets(hand_market(), **{**HAND, "net": 0.4, "gross": 1.0})
    np.testing.assert_allclose(row(t, 0), [0.35, 0.35, 0.0, -0.15, -0.15])
    t2 = book_targets(hand_market(), **{**HAND, "names_per_leg": 1, "fraction_per_leg": 0.4})
    np.testing.assert_allclose(row(t2, 0), row(book_targets(hand_market(), **HAND), 0))
    t3 = book_targets(hand_market(), **{**HAND, "names_per_leg": 1})
    np.testing.assert_allclose(row(t3, 0), [1.0, 0.0, 0.0, 0.0, -1.0])
    # asking for more names than half the universe: capped at 2 per leg
    t4 = book_targets(hand_market(), **{**HAND, "names_per_leg": 5})
    np.testing.assert_allclose(row(t4, 0), row(book_targets(hand_market(), **HAND), 0))


def test_infeasible_cap_reported():
    with pytest.raises(SqueezeLabError, match=r"max_weight=0.4 x 2 names cannot hold the long "
                                              r"leg's 1.0000 on 2024-01-15: raise max_weight to at "
                                              r"least 0.5000"):
        book_targets(hand_market(), **{**HAND, "max_weight": 0.4})


def test_no_signal_dates_without_history():
    t = book_targets(hand_market(), **{**HAND, "momentum_lookback": 40})
    assert len(t.dates) == 0 and set(t.legs) == set(LEGS)


def test_cap_weights_water_filling():
    raw = np.array([[4.0, 2.0, 1.0, 1.0, 0.0]])
    w = cap_weights(raw, np.array([1.0]), 0.3)
    # 4 -> .5 capped at .3; 2 -> .35 of the rest? rest .7 over 2,1,1 -> .35 capped; .4 over 1,1
    np.testing.assert_allclose(w, [[0.3, 0.3, 0.2, 0.2, 0.0]])
    np.testing.assert_allclose(cap_weights(raw, np.array([1.0]), 1.0), [[0.5, 0.25, 0.125, 0.125, 0]])


def test_book_scores_frames():
    sc = book_scores(hand_market(), **HAND)
    assert set(sc) == {"long", "junk", "momentum", "quality", "vol", "beta"}
    assert list(sc["long"].iloc[20].rank(ascending=False)) == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- properties
SMALL = dict(momentum_lookback=10, momentum_skip=2, vol_window=6, beta_window=6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), gross=st.floats(0.5, 3.0), k=st.integers(1, 3),
       weighting=st.sampled_from(["equal", "score", "inverse_vol"]),
       neutral=st.sampled_from(["dollar", "beta"]), net=st.floats(-0.2, 0.2),
       cap=st.floats(0.2, 2.0), rebalance=st.sampled_from([1, 3, "weekly"]),
       attrs=st.booleans())
def test_book_weights_properties(seed, gross, k, weighting, neutral, net, cap, rebalance, attrs):
    mk = random_market(seed, attributes=attrs)
    params = dict(SMALL, gross=gross, names_per_leg=k, weighting=weighting, neutral=neutral,
                  net=net, max_weight=cap, rebalance=rebalance)
    try:
        t = book_targets(mk, **params)
    except SqueezeLabError as err:
        assert "max_weight" in str(err) and "cannot hold" in str(err)
        return
    assert len(t.dates) > 0
    tot = t.total()
    live = (t.reasons == "rebalance").to_numpy()
    np.testing.assert_allclose(t.gross().to_numpy()[live], gross, rtol=1e-9)
    assert (tot.abs().to_numpy() <= cap * (1 + 1e-9)).all()
    # only names listed on the signal date and the next one
    pos = mk.dates.get_indexer(t.dates)
    listed = mk.tradable.to_numpy()
    held = tot.to_numpy() != 0
    assert not (held & ~listed[pos]).any() and not (held & ~listed[pos + 1]).any()
    if neutral == "dollar":
        np.testing.assert_allclose(tot.sum(axis=1).to_numpy()[live], net, atol=1e-9)
    else:
        beta = book_scores(mk, **params)["beta"].to_numpy()[pos]
        wl, ws = t.legs["long"].to_numpy(), -t.legs["short"].to_numpy()
        bl = (wl * np.nan_to_num(beta)).sum(1) / wl.sum(1).clip(1e-300)
        bs = (ws * np.nan_to_num(beta)).sum(1) / ws.sum(1).clip(1e-300)
        feasible = ~t.reasons.str.contains("infeasible").to_numpy(bool)
        ok = live & (bl > 0.05) & (bs > 0.05) & feasible
        net_beta = (tot.to_numpy() * np.nan_to_num(beta)).sum(1)
        np.testing.assert_allclose(net_beta[ok], 0.0, atol=1e-6 * gross)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(12, 40),
       neutral=st.sampled_from(["dollar", "beta"]), attrs=st.booleans())
def test_book_has_no_look_ahead(seed, t, neutral, attrs):
    mk = random_market(seed, attributes=attrs)
    pk = perturb_after(mk, t, seed + 7)
    params = dict(SMALL, names_per_leg=2, max_weight=2.0, rebalance=1, neutral=neutral)
    a, b = book_targets(mk, **params), book_targets(pk, **params)
    cut = mk.dates[t]
    for leg in LEGS:
        pd.testing.assert_frame_equal(a.legs[leg].loc[:cut], b.legs[leg].loc[:cut])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 6), n_names=st.integers(1, 60),
       levels=st.sampled_from([0, 3, 1000]))
def test_rank_desc_ranks_finite_keys_as_a_stable_sort(seed, n_rows, n_names, levels):
    """Largest first, equal keys by column order (a stable sort of the negated keys), for every
    finite key, with or without ties; -inf keys (not eligible) after all of them."""
    rng = np.random.default_rng(seed)
    key = rng.normal(size=(n_rows, n_names)) if levels == 0 else \
        rng.integers(0, levels, (n_rows, n_names)).astype(float)
    key[rng.random(key.shape) < 0.3] = -np.inf
    want = np.empty((n_rows, n_names), np.int64)
    np.put_along_axis(want, np.argsort(-key, axis=1, kind="stable"),
                      np.arange(n_names)[None, :].repeat(n_rows, 0), axis=1)
    got = _rank_desc(key)
    finite = np.isfinite(key)
    np.testing.assert_array_equal(got[finite], want[finite])
    assert (np.sort(got, axis=1) == np.arange(n_names)).all()
    assert (got[~finite] >= finite.sum(axis=1, keepdims=True).repeat(n_names, 1)[~finite]).all()
