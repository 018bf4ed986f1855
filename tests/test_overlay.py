"""The junk-momentum overlay: state machine, actions, targets rows and log, on hand-built markets.

The book (see tests/test_book.py) on the hand market (tests/test_signals.py) with rebalance=5 has
signal rows 10, 15, 20, 25 and is long A, B at 0.5 and short D, E at -0.5 (row 25: E delisted,
short C, D). Betas are exactly .5, 1, 1.5, 2, 2.5; short interest rises from A to E.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_signals import N_DAYS, hand_market, index_path, perturb_after, random_market

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.overlay import (
    ACTIONS,
    OVERLAY_LOG_COLUMNS,
    ActionRows,
    apply_overlay,
    empty_log,
    overlay_state,
    regime_switch,
    resolve_overlay_params,
)
from squeeze_lab.strategies.signals import junk_rally_signal
from squeeze_lab.strategies.spec import OVERLAY
from squeeze_lab.strategies.targets import LEGS

BOOK = dict(momentum_lookback=10, momentum_skip=2, vol_window=4, beta_window=4, names_per_leg=2,
            max_weight=1.0, rebalance=5)
BETA = np.array([0.5, 1.0, 1.5, 2.0, 2.5])


def synthetic_signal(mk) -> pd.Series:
    """On at 12, hold through 16 (1.5 >= exit 1), off at 17, blocked by cool-off at 18-19,
    on again at 20 (a book date), min holding until 23, off at 23."""
    s = np.zeros(N_DAYS)
    s[12] = 2.5
    s[13:17] = 1.5
    s[17] = 0.5
    s[18:21] = 3.0
    return pd.Series(s, index=mk.dates)


def pos(mk, dates) -> list[int]:
    return [mk.dates.get_loc(d) for d in dates]


def book_gross(targets) -> np.ndarray:
    """Gross of the book legs (long + short, hedge excluded) per row."""
    return (targets.legs["long"].abs() + targets.legs["short"].abs()).sum(axis=1).to_numpy()


# --------------------------------------------------------------------------- params
def test_params_documented():
    assert all(p.doc for p in OVERLAY.params)
    assert set(OVERLAY.param("actions").choices) == set(ACTIONS)
    p = resolve_overlay_params({})
    assert p["enabled"] is False and p["actions"] == ("degross",)
    assert p["exit_threshold"] == 1.0                              # threshold / 2
    assert resolve_overlay_params({"actions": "degross, hedge_basket"})["actions"] == \
        ("degross", "hedge_basket")


@pytest.mark.parametrize("given_, match", [
    ({"enable": True}, r"unknown key overlay.enable \(did you mean 'enabled'\?\)"),
    ({"enabled": 1}, "enabled=1 is not a bool"),
    ({"actions": ("degross", "panic")}, "'panic' is not a valid item: use items from degross, "
                                        "cover_crowded, hedge_basket, neutralize_beta"),
    ({"actions": "degross,degross"}, "repeats an action"),
    ({"signal_mode": "ratio"}, "signal_mode='ratio' is not valid: use one of zscore, return"),
    ({"threshold": 1.0, "exit_threshold": 2.0}, "exit_threshold=2.0 is above threshold=1.0"),
    ({"cooloff": 2.5}, "cooloff=2.5 is not an int"),
    ({"degross_to": 1.5}, r"degross_to=1.5 is outside \[0, 1\]"),
    ({"hedge_size": -0.1}, r"hedge_size=-0.1 is outside \[0, inf\)"),
])
def test_bad_params_rejected(given_, match):
    mk = hand_market()
    with pytest.raises(SqueezeLabError, match=match):
        apply_overlay(mk, book_targets(mk, **BOOK), **given_)


def test_param_names_do_not_clash_with_the_book():
    """The engine merges the book's and the overlay's params into one backtrader params tuple."""
    from squeeze_lab.strategies.spec import BOOK
    assert not set(BOOK.names) & set(OVERLAY.names)


def test_disabled_passes_through():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    out, log = apply_overlay(mk, bt)
    assert out is bt
    assert tuple(log.columns) == OVERLAY_LOG_COLUMNS and len(log) == 0
    assert str(log["date"].dtype) == "datetime64[ns]" and log["size"].dtype == np.float64


# --------------------------------------------------------------------------- state machine
def test_regime_switch_by_hand():
    sig = synthetic_signal(hand_market()).to_numpy()
    state, events = regime_switch(sig, threshold=2.0, exit_threshold=1.0, cooloff=3)
    assert events == [(12, "on"), (17, "off"), (20, "on"), (23, "off")]
    assert np.flatnonzero(state).tolist() == [12, 13, 14, 15, 16, 20, 21, 22]
    # no cool-off: back on at 18 and off at 21 (first session below the exit)
    _, ev0 = regime_switch(sig, 2.0, 1.0, cooloff=0)
    assert ev0 == [(12, "on"), (17, "off"), (18, "on"), (21, "off")]
    # hysteresis: with the exit at the threshold, 1.5 switches off at 13
    _, ev1 = regime_switch(sig, 2.0, 2.0, cooloff=0)
    assert ev1[:2] == [(12, "on"), (13, "off")]
    # a long cool-off keeps it on: min holding 10 sessions -> first exit chance at 22
    _, ev2 = regime_switch(sig, 2.0, 1.0, cooloff=10)
    assert ev2 == [(12, "on"), (22, "off")]
    # a gate blocks switching on; a window limits decisions; NaN never switches
    gate = np.ones(N_DAYS, bool)
    gate[12] = False
    _, ev3 = regime_switch(sig, 2.0, 1.0, cooloff=3, gate=gate)
    assert ev3[0] == (18, "on")
    _, ev4 = regime_switch(sig, 2.0, 1.0, cooloff=3, start=13, stop=20)
    assert ev4 == [(18, "on")]
    nan = np.full(5, np.nan)
    assert regime_switch(nan, 2.0, 1.0, 0)[1] == []


def step_by_step_switch(sig, threshold, exit_threshold, cooloff, start, stop, gate):
    """The state machine's definition, one date at a time (what regime_switch jumps through)."""
    n = len(sig)
    state, events, on, last = np.zeros(n, bool), [], False, -(10 ** 12)
    for i in range(start, stop):
        if not on:
            if sig[i] >= threshold and i - last >= cooloff and (gate is None or gate[i]):
                on, last = True, i
                events.append((i, "on"))
        elif sig[i] < exit_threshold and i - last >= cooloff:
            on, last = False, i
            events.append((i, "off"))
        state[i] = on
    state[stop:] = on
    return state, events


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1.0, 4.0), st.just(np.nan)), min_size=1, max_size=60),
       st.floats(0.0, 3.0), st.floats(0.0, 1.0), st.integers(0, 8), st.integers(0, 10),
       st.integers(0, 10), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_regime_switch_jumps_as_the_step_by_step_machine(values, threshold, exit_frac, cooloff,
                                                          start, cut, gated, seed):
    sig = np.array(values)
    stop = max(0, len(sig) - cut)
    gate = np.random.default_rng(seed).random(len(sig)) < 0.7 if gated else None
    exit_threshold = threshold * exit_frac
    state, events = regime_switch(sig, threshold, exit_threshold, cooloff, start=start,
                                  stop=stop, gate=gate)
    want_state, want_events = step_by_step_switch(sig, threshold, exit_threshold, cooloff, start,
                                                  stop, gate)
    assert events == want_events
    np.testing.assert_array_equal(state, want_state)


def test_apply_overlay_state_machine_and_degross():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    assert pos(mk, bt.dates) == [10, 15, 20, 25]
    out, log = apply_overlay(mk, bt, signal=synthetic_signal(mk), enabled=True, cooloff=3,
                             threshold=2.0, exit_threshold=1.0)
    # rows: book 10 (off), on 12, book 15 (on: re-applied), off 17, book 20 + on, off 23, book 25
    assert pos(mk, out.dates) == [10, 12, 15, 17, 20, 23, 25]
    g = book_gross(out)
    np.testing.assert_allclose(g, [2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 2.0])   # degross halves gross
    np.testing.assert_allclose(out.total().iloc[1].to_numpy(), [0.25, 0.25, 0, -0.25, -0.25])
    np.testing.assert_allclose(out.total().sum(axis=1).to_numpy(), 0.0, atol=1e-15)
    # overlay-only rows resize only the names whose target changed (C is never held there)
    assert out.resize.iloc[1].tolist() == [True, True, False, True, True]
    assert out.resize.iloc[3].tolist() == [True, True, False, True, True]
    assert out.resize.iloc[[0, 2, 4, 6]].all().all()                    # book rows: everything
    assert list(log["action"]) == ["degross", "degross", "re_risk", "degross", "re_risk"]
    assert pos(mk, log["date"]) == [12, 15, 17, 20, 23]
    assert [d.split(":")[0] for d in log["detail"]] == ["on", "rebalance", "off", "on", "off"]
    # the state is data: the event column, and the de-risked sessions derived from it
    assert list(log["event"]) == ["on", "rebalance", "off", "on", "off"]
    state = overlay_state(log, mk.dates)
    assert np.flatnonzero(state).tolist() == [12, 13, 14, 15, 16, 20, 21, 22]
    assert overlay_state(log.drop(columns="event"), mk.dates).sum() == 0
    np.testing.assert_allclose(log["signal"].to_numpy(), [2.5, 1.5, 0.5, 3.0, 0.0])
    np.testing.assert_allclose(log["size"].to_numpy(), [1.0, 1.0, 2.0, 1.0, 2.0])
    assert list(out.reasons) == ["rebalance", "overlay on: degross", "rebalance; overlay rebalance: "
                                 "degross", "overlay off: re-risk", "rebalance; overlay on: "
                                 "degross", "overlay off: re-risk", "rebalance"]
    # the log is the frame pandas makes of its rows (same dtypes: datetime64[ns], float, str)
    rows = [tuple(r) for r in log.itertuples(index=False)]
    pd.testing.assert_frame_equal(log, pd.DataFrame(rows, columns=list(OVERLAY_LOG_COLUMNS)))
    assert log["action"].dtype == pd.Series(["x"]).dtype and log["signal"].dtype == np.float64


def test_degross_to_other_fraction_keeps_book_shape():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    out, _ = apply_overlay(mk, bt, signal=synthetic_signal(mk), enabled=True, cooloff=3,
                           degross_to=0.2)
    np.testing.assert_allclose(out.total().iloc[1].to_numpy(), 0.2 * bt.total().iloc[0].to_numpy())


def test_cover_crowded_most_squeezed_first():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    sig = synthetic_signal(mk)
    out, log = apply_overlay(mk, bt, signal=sig, enabled=True, cooloff=3,
                             actions=("cover_crowded",), cover_fraction=0.5, signal_lookback=10)
    # shorts D, E: E has the higher short interest and days to cover (and its 10-day return is
    # not low enough to offset them), so E is bought back first; D stays short
    np.testing.assert_allclose(out.total().iloc[1].to_numpy(), [0.5, 0.5, 0.0, -0.5, 0.0])
    assert out.resize.iloc[1].tolist() == [False, False, False, False, True]
    first = log.iloc[0]
    assert first["action"] == "cover_crowded" and first["size"] == pytest.approx(0.5)
    assert first["detail"].endswith("covered 1 of 2 shorts, most squeezed first: E")
    out2, log2 = apply_overlay(mk, bt, signal=sig, enabled=True, cooloff=3,
                               actions=("cover_crowded",), cover_fraction=1.0)
    np.testing.assert_allclose(out2.legs["short"].iloc[1].to_numpy(), 0.0)
    assert log2.iloc[0]["size"] == pytest.approx(1.0)
    out3, log3 = apply_overlay(mk, bt, signal=sig, enabled=True, cooloff=3,
                               actions=("cover_crowded",), cover_fraction=0.0)
    np.testing.assert_allclose(out3.total().iloc[1].to_numpy(), bt.total().iloc[0].to_numpy())
    assert log3.iloc[0]["size"] == 0.0


def test_hedge_leg_equals_hedge_size():
    mk = hand_market()
    bt = book_targets(mk, **{**BOOK, "rebalance": 2})        # book rows 10, 12, ..., 24, 26, 28
    sig = pd.Series(np.where(np.arange(N_DAYS) >= 20, 3.0, 0.0), index=mk.dates)
    out, log = apply_overlay(mk, bt, signal=sig, enabled=True, actions=("hedge_basket",),
                             hedge_size=0.1, basket_names=2, basket_min_cap=0.0, cooloff=0)
    hedge = out.legs["hedge"]
    on_rows = [i for i, d in enumerate(out.dates) if mk.dates.get_loc(d) >= 20]
    np.testing.assert_allclose(hedge.sum(axis=1).to_numpy()[on_rows], 0.1)
    assert (hedge.iloc[: on_rows[0]] == 0).all().all()
    at20 = hedge.loc[mk.dates[20]]
    np.testing.assert_allclose(at20.to_numpy(), [0, 0, 0, 0.05, 0.05])       # D, E: most shorted
    # row 24: E is listed today but not tomorrow -> the whole hedge goes to D
    np.testing.assert_allclose(hedge.loc[mk.dates[24]].to_numpy(), [0, 0, 0, 0.1, 0])
    assert (log["action"] == "hedge_basket").all()
    np.testing.assert_allclose(log["size"].to_numpy(), 0.1)
    # the book legs are untouched by a hedge-only overlay
    pd.testing.assert_frame_equal(out.legs["long"].loc[bt.dates], bt.legs["long"])


def test_neutralize_beta_and_action_order():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    sig = synthetic_signal(mk)
    kw = dict(signal=sig, enabled=True, cooloff=3, overlay_beta_window=4, basket_names=2,
              basket_min_cap=0.0, hedge_size=0.1)
    out, log = apply_overlay(mk, bt, actions=("neutralize_beta",), **kw)
    # long beta .5*.5 + .5*1 = .75; short beta .5*2 + .5*2.5 = 2.25 -> short leg x 1/3
    np.testing.assert_allclose(out.legs["short"].iloc[1].to_numpy(), [0, 0, 0, -1 / 6, -1 / 6])
    assert float((out.total().iloc[1].to_numpy() * BETA).sum()) == pytest.approx(0.0, abs=1e-12)
    assert log.iloc[0]["size"] == pytest.approx(1 / 3)
    # order matters: hedge first -> its beta (.05*2 + .05*2.5 = .225) joins the long side
    out2, _ = apply_overlay(mk, bt, actions=("hedge_basket", "neutralize_beta"), **kw)
    scale = (0.75 + 0.225) / 2.25
    np.testing.assert_allclose(out2.legs["short"].iloc[1].to_numpy()[3:], [-0.5 * scale] * 2)
    out3, _ = apply_overlay(mk, bt, actions=("neutralize_beta", "hedge_basket"), **kw)
    np.testing.assert_allclose(out3.legs["short"].iloc[1].to_numpy()[3:], [-1 / 6] * 2)


def test_all_actions_compose():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    out, log = apply_overlay(mk, bt, signal=synthetic_signal(mk), enabled=True, cooloff=3,
                             actions=("degross", "cover_crowded", "hedge_basket", "neutralize_beta"),
                             basket_names=2, basket_min_cap=0.0, overlay_beta_window=4)
    on = log[log["detail"].str.startswith("on:")]
    assert list(on["action"][:4]) == ["degross", "cover_crowded", "hedge_basket", "neutralize_beta"]
    # degross -> A, B .25, D, E -.25; cover E; hedge D, E .05; long beta .375 + .225 = .6 vs
    # short beta .25 * 2 = .5 -> short leg x 1.2: D -.3 (net with hedge -.25)
    np.testing.assert_allclose(out.legs["short"].iloc[1].to_numpy(), [0, 0, 0, -0.3, 0])
    np.testing.assert_allclose(out.total().iloc[1].to_numpy(), [0.25, 0.25, 0, -0.25, 0.05])
    # off restores the book exactly and closes the hedge
    np.testing.assert_allclose(out.total().iloc[3].to_numpy(), bt.total().iloc[1].to_numpy())
    assert (out.legs["hedge"].iloc[3] == 0).all()


def test_fifteen_percent_in_two_weeks_is_one_setting():
    b = 2 * index_path()
    b[15:] = 0.015                      # basket +1.5% a day from row 15
    mk = hand_market(most_shorted=b)
    bt = book_targets(mk, **BOOK)
    rule = dict(signal_mode="return", signal_lookback=10, threshold=0.15)
    sig = junk_rally_signal(mk, lookback=10, mode="return")
    # row 23: rows 14..23 = one -2% day and nine +1.5% days; row 24: ten +1.5% days
    assert sig.iloc[23] == pytest.approx(0.98 * 1.015 ** 9 - 1)              # 12.05% < 15%
    assert sig.iloc[24] == pytest.approx(1.015 ** 10 - 1)                    # 16.05% >= 15%
    out, log = apply_overlay(mk, bt, enabled=True, **rule)
    assert pos(mk, log["date"]) == [24, 25]                 # on at 24; book row 25 while on
    assert log.iloc[0]["signal"] == pytest.approx(1.015 ** 10 - 1)
    assert resolve_overlay_params(rule)["exit_threshold"] == pytest.approx(0.075)
    assert pos(mk, out.dates) == [10, 15, 20, 24, 25]


def test_breadth_gate():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    sig = synthetic_signal(mk)
    # the book's shorts D and E both fall over 10 sessions: breadth 0 blocks every switch
    out, log = apply_overlay(mk, bt, signal=sig, enabled=True, cooloff=3, breadth_min=0.5,
                             signal_lookback=10)
    assert len(log) == 0 and pos(mk, out.dates) == [10, 15, 20, 25]
    np.testing.assert_allclose(out.total().to_numpy(), bt.total().to_numpy())


def test_targets_validated_against_market():
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    other = hand_market(delist_e=False).select(["A", "B", "C", "D"])
    with pytest.raises(SqueezeLabError, match="tickers are not the market's"):
        apply_overlay(other, bt, enabled=True)


def test_hedge_log_states_the_basket_built():
    """The hedge's log line says which basket was built and from what data."""
    mk = hand_market()
    bt = book_targets(mk, **BOOK)
    out, log = apply_overlay(mk, bt, signal=synthetic_signal(mk), enabled=True, cooloff=3,
                             actions=("hedge_basket",), basket_names=2, basket_min_cap=0.0)
    np.testing.assert_allclose(out.legs["hedge"].iloc[1].to_numpy(), [0, 0, 0, 0.05, 0.05])
    assert ("top 2 by short interest % of float (static, not point-in-time; data for 5 of 5 "
            "names), built with 2 names") in log.iloc[0]["detail"]


# --------------------------------------------------------------------------- properties
SMALL_BOOK = dict(momentum_lookback=10, momentum_skip=2, vol_window=6, beta_window=6,
                  names_per_leg=2, max_weight=2.0, rebalance=4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), degross_to=st.floats(0.0, 1.0),
       hedge_size=st.floats(0.0, 0.5), threshold=st.floats(-1.0, 2.0), cooloff=st.integers(0, 4))
def test_overlay_properties(seed, degross_to, hedge_size, threshold, cooloff):
    mk = random_market(seed, reference=True)
    bt = book_targets(mk, **SMALL_BOOK)
    out, log = apply_overlay(mk, bt, enabled=True, actions=("degross", "hedge_basket"),
                             degross_to=degross_to, hedge_size=hedge_size, threshold=threshold,
                             cooloff=cooloff, signal_lookback=3, signal_vol_window=5,
                             basket_names=3, basket_min_cap=0.0)
    assert tuple(log.columns) == OVERLAY_LOG_COLUMNS
    assert set(bt.dates) <= set(out.dates)
    book_pos = mk.dates.get_indexer(bt.dates)
    g_book = book_gross(bt)
    prev = None
    for k, d in enumerate(out.dates):
        i = mk.dates.get_loc(d)
        j = int(np.searchsorted(book_pos, i, side="right") - 1)
        g = abs(out.legs["long"].iloc[k]).sum() + abs(out.legs["short"].iloc[k]).sum()
        on = "overlay on" in out.reasons.iloc[k] or "overlay rebalance" in out.reasons.iloc[k]
        if on:
            assert g == pytest.approx(degross_to * g_book[j], abs=1e-12)
            h = out.legs["hedge"].iloc[k].sum()
            assert h == pytest.approx(hedge_size) or h == 0.0
        else:
            assert g == pytest.approx(g_book[j], abs=1e-12)
            assert (out.legs["hedge"].iloc[k] == 0).all()
        w = np.stack([out.legs[leg].iloc[k].to_numpy() for leg in LEGS])
        if d in bt.dates:
            assert out.resize.iloc[k].all()
        else:
            assert (out.resize.iloc[k].to_numpy() == (w != prev).any(axis=0)).all()
        prev = w
    # every decision is logged: one row per action per on/rebalance decision, one per switch off
    n_on = sum(("overlay on" in r) or ("overlay rebalance" in r) for r in out.reasons)
    n_off = sum("overlay off" in r for r in out.reasons)
    assert len(log) == 2 * n_on + n_off


def frames_bytes(targets, log):
    """Everything of an overlay's output, bit for bit (values, labels, dtypes, reasons, log)."""
    legs = [(f.to_numpy().tobytes(), f.index.tolist(), str(f.index.dtype), f.columns.tolist(),
             f.dtypes.tolist())
            for f in (*targets.legs.values(), targets.resize)]
    return legs, list(targets.reasons.items()), log.to_csv(), log.dtypes.tolist(), \
        log[["signal", "size"]].to_numpy().tobytes()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), actions=st.sampled_from([
    ("degross",), ("hedge_basket", "neutralize_beta"), ("cover_expensive", "degross"),
    ("cover_crowded", "degross")]))
def test_action_rows_reused_bit_for_bit(seed, actions):
    """A sweep over when the overlay switches reuses the rows its actions made, with the same
    targets and log as fresh calls; stacks scored on the decision rows (cover_crowded) reuse
    nothing."""
    mk = random_market(seed, reference=True)
    bt = book_targets(mk, **SMALL_BOOK)
    fees = np.random.default_rng(seed).uniform(0.0, 800.0, mk.close.shape)
    made = ActionRows()
    n_on = 0
    for threshold in (-1.0, -0.5, 0.0, 0.5):
        for cooloff in (0, 1, 3):
            kw = dict(enabled=True, actions=actions, threshold=threshold, cooloff=cooloff,
                      signal_lookback=3, signal_vol_window=5, basket_names=3, basket_min_cap=0.0,
                      degross_to=0.4, cover_fee_bps=300.0)
            fresh = apply_overlay(mk, bt, borrow_fees=fees, **kw)
            again = apply_overlay(mk, bt, borrow_fees=fees, action_rows=made, **kw)
            assert frames_bytes(*again) == frames_bytes(*fresh)
            n_on += sum(("overlay on" in r) or ("overlay rebalance" in r) for r in fresh[0].reasons)
    assert n_on > 0
    if "cover_crowded" in actions:
        assert len(made) == 0
    else:
        assert 0 < len(made) < n_on   # rows were reused


def test_action_rows_budget_and_setups():
    """Rows are kept up to the byte budget (later rows computed, the same numbers) and for the
    last ``size`` setups only (an evicted setup's bytes are given back)."""
    mk = random_market(5, reference=True)
    bt = book_targets(mk, **SMALL_BOOK)
    row = len(LEGS) * len(mk.tickers) * 8
    kw = dict(enabled=True, actions=("degross",), threshold=-1.0, cooloff=0, signal_lookback=3,
              signal_vol_window=5, basket_names=3, basket_min_cap=0.0)
    fresh = frames_bytes(*apply_overlay(mk, bt, degross_to=0.3, **kw))
    tight = ActionRows(max_bytes=3 * row)
    for _ in range(2):
        assert frames_bytes(*apply_overlay(mk, bt, degross_to=0.3, action_rows=tight, **kw)) == fresh
    assert len(tight) == 3 and tight.nbytes == 3 * row
    one = ActionRows(size=1)
    apply_overlay(mk, bt, degross_to=0.3, action_rows=one, **kw)
    n_first = len(one)
    assert n_first > 0 and one.nbytes == n_first * row
    apply_overlay(mk, bt, degross_to=0.6, action_rows=one, **kw)   # another setup evicts it
    assert one.nbytes == len(one) * row and len(one) == n_first


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(14, 40), mode=st.sampled_from(["zscore", "return"]))
@example(seed=1563, t=14, mode="zscore")   # one log empty: its columns typed as a full one's
def test_overlay_has_no_look_ahead(seed, t, mode):
    mk = random_market(seed)            # no reference: index and basket rebuilt from prices
    pk = perturb_after(mk, t, seed + 3)
    kw = dict(enabled=True, actions=("degross", "cover_crowded", "hedge_basket", "neutralize_beta"),
              signal_mode=mode, signal_lookback=3, signal_vol_window=5, cooloff=1,
              threshold=0.5 if mode == "zscore" else 0.02, basket_names=3, basket_min_cap=0.0,
              overlay_beta_window=6)
    a, la = apply_overlay(mk, book_targets(mk, **SMALL_BOOK), **kw)
    b, lb = apply_overlay(pk, book_targets(pk, **SMALL_BOOK), **kw)
    cut = mk.dates[t]
    for leg in LEGS:
        pd.testing.assert_frame_equal(a.legs[leg].loc[:cut], b.legs[leg].loc[:cut])
    pd.testing.assert_frame_equal(a.resize.loc[:cut], b.resize.loc[:cut])
    pd.testing.assert_frame_equal(la[la["date"] <= cut].reset_index(drop=True),
                                  lb[lb["date"] <= cut].reset_index(drop=True))


def test_fund_trims_longs_and_hedge_so_the_book_stays_fundable():
    from squeeze_lab.strategies.overlay import Fund, OverlayState

    legs = {"long": np.array([0.65, 0.65, 0.0, 0.0]), "short": np.array([0.0, 0.0, -0.35, 0.0]),
            "hedge": np.array([0.0, 0.0, 0.0, 0.1])}
    state = OverlayState(pd.Timestamp("2026-01-05"), 3, 2.5, "on", legs, pd.Index(list("ABCD")))
    assert Fund(0.9)(state) is True
    net = state.legs["long"].sum() + state.legs["hedge"].sum() + state.legs["short"].sum()
    assert net == pytest.approx(0.9, abs=1e-12)
    scale = (0.9 + 0.35) / 1.4
    assert state.legs["hedge"][3] == pytest.approx(0.1 * scale)
    assert state.log and state.log[0][0] == "fund"
    # a fundable book is left alone and nothing is logged
    calm = OverlayState(pd.Timestamp("2026-01-05"), 3, 2.5, "on",
                        {"long": np.array([1.0]), "short": np.array([-1.0]), "hedge": np.zeros(1)},
                        pd.Index(["A"]))
    assert Fund(0.9)(calm) and calm.log == [] and calm.legs["long"][0] == 1.0


def test_empty_log_has_the_columns_and_dtypes_of_a_log_with_rows():
    """A run without decisions and a log cut to none compare equal (same dtypes, not object)."""
    mk = random_market(1563)
    _, log = apply_overlay(mk, book_targets(mk, **SMALL_BOOK), enabled=True,
                           actions=("degross", "cover_crowded"), signal_mode="return",
                           signal_lookback=3, signal_vol_window=5, cooloff=1, threshold=0.0)
    assert len(log) > 0
    assert tuple(empty_log().columns) == OVERLAY_LOG_COLUMNS == tuple(log.columns)
    assert empty_log().dtypes.to_dict() == log.dtypes.to_dict()
    pd.testing.assert_frame_equal(log.iloc[:0].reset_index(drop=True), empty_log())
