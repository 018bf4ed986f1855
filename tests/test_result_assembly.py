"""The result assembly's array steps: shares from fills (built on first read), leg frames built
on first use, the trades table's label columns, the typed empty tables."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engines import random_market, random_targets

from squeeze_lab.strategies.borrow import EVENT_COLUMNS, events_frame, file_terms, flat_terms
from squeeze_lab.strategies.result import (
    BacktestResult,
    Deferred,
    Fills,
    LegFrames,
    frames_by_leg,
    label_array,
    legs_from_log,
    margin_calls_frame,
    shares_frame,
)
from squeeze_lab.strategies.targets import LEGS
from squeeze_lab.strategies.twin import run_vectorized


def fills_of(rows, cols, size) -> Fills:
    n = len(rows)
    return Fills(rows=np.asarray(rows, np.int64), cols=np.asarray(cols, np.int64),
                 size=np.asarray(size, np.float64), price=np.ones(n), commission=np.zeros(n),
                 leg=np.full(n, "long", dtype=object), reason=np.full(n, "", dtype=object))


def test_shares_by_hand():
    f = fills_of([1, 1, 3, 3], [0, 1, 0, 0], [10.0, -5.0, -4.0, 1.5])
    got = f.shares(5, 2)
    np.testing.assert_array_equal(got, [[0, 0], [10, -5], [10, -5], [7.5, -5], [7.5, -5]])
    assert not fills_of([], [], []).shares(3, 2).any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 40), n_fills=st.integers(0, 60))
def test_shares_equal_the_running_sum_of_fills(seed, n_rows, n_fills):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.integers(0, n_rows, n_fills))
    f = fills_of(rows, rng.integers(0, 4, n_fills), rng.normal(0, 100, n_fills))
    delta = np.zeros((n_rows, 4))
    np.add.at(delta, (f.rows, f.cols), f.size)
    np.testing.assert_array_equal(f.shares(n_rows, 4), np.cumsum(delta, axis=0))


def test_leg_frames_equal_the_log_and_build_on_first_use():
    dates = pd.bdate_range("2024-01-01", periods=6)
    tickers = pd.Index(["A", "B"])
    rows = np.array([1, 3, 3, 4])   # of equal rows the last counts
    states = np.arange(len(rows) * len(LEGS) * 2, dtype=np.float64).reshape(len(rows), len(LEGS), 2)
    lazy = LegFrames(dates, tickers, rows, states)
    assert not lazy._frames and len(lazy) == 3 and list(lazy) == list(LEGS)
    ref = frames_by_leg(legs_from_log(6, 2, rows, states), dates, tickers)
    for leg in LEGS:
        pd.testing.assert_frame_equal(lazy[leg], ref[leg], check_exact=True)
    assert lazy["short"].iloc[0].tolist() == [0.0, 0.0]               # before the first fill
    assert lazy["long"].iloc[3].tolist() == states[2, 0].tolist()      # the last of row 3
    assert dict(lazy).keys() == ref.keys() and "hedge" in lazy and "cash" not in lazy
    empty = LegFrames(dates, tickers, np.zeros(0, np.int64), np.zeros(0))
    assert not empty["long"].to_numpy().any()


def test_flat_terms_broadcast_one_row():
    t = flat_terms(4, 3, 250.0)
    assert t.fee_bps.shape == t.rate.shape == t.available.shape == (4, 3)
    np.testing.assert_array_equal(t.rate, np.full((4, 3), 250.0 / 1e4 / 365.0))
    assert t.charging and not t.limited and not flat_terms(4, 3, 0.0).charging
    assert not t.fee_bps.flags.writeable   # shared rows: read-only


def assembled(n_rows: int = 6, seed: int = 0) -> tuple[BacktestResult, Fills, pd.DatetimeIndex,
                                                       pd.Index]:
    """A result from ``from_fills`` on random fills (3 names), with its fills, dates, tickers."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=n_rows)
    tickers = pd.Index(["A", "B", "C"])
    f = fills_of(np.sort(rng.integers(0, n_rows, 9)), rng.integers(0, 3, 9), rng.normal(0, 50, 9))
    res = BacktestResult.from_fills(dates, tickers, equity=np.ones(n_rows), cash=np.ones(n_rows),
                                    borrow=np.zeros(n_rows), fills=f, legs=None)
    return res, f, dates, tickers


def test_shares_are_built_on_first_read_and_equal_the_eager_build():
    res, f, dates, tickers = assembled()
    assert isinstance(vars(res)["shares"], Deferred)             # nothing built yet
    eager = pd.DataFrame(f.shares(len(dates), len(tickers)), index=dates, columns=tickers)
    pd.testing.assert_frame_equal(res.shares, eager, check_exact=True)
    pd.testing.assert_frame_equal(shares_frame(f, dates, tickers), eager, check_exact=True)
    assert res.shares is res.shares                               # built once
    assert copy.copy(res).shares is res.shares                    # a shallow copy shares it


def test_deferred_shares_keep_the_dataclass_behaviour():
    res, f, dates, tickers = assembled(seed=3)
    other, *_ = assembled(seed=3)
    assert copy.copy(other).shares is other.shares                # copied before the first read
    deep = copy.deepcopy(res)
    assert deep.shares is not res.shares
    pd.testing.assert_frame_equal(deep.shares, res.shares, check_exact=True)
    back = pickle.loads(pickle.dumps(res))
    assert isinstance(vars(back)["shares"], pd.DataFrame)         # pickled as the built frame
    pd.testing.assert_frame_equal(back.shares, res.shares, check_exact=True)
    moved = dataclasses.replace(res, engine="x")
    assert moved.shares is res.shares and moved.engine == "x"
    assert repr(res) == repr(other)                               # repr shows the frame
    given_frame = res.shares * 2.0
    made = BacktestResult(equity=res.equity, cash=res.cash, shares=given_frame, leg_shares={},
                          trades=res.trades, costs=res.costs)
    assert made.shares is given_frame
    made.shares = res.shares
    assert made.shares is res.shares
    with pytest.raises(AttributeError):
        BacktestResult.shares  # noqa: B018  (a field without a default, as before)
    with pytest.raises(TypeError):
        BacktestResult(equity=res.equity, cash=res.cash, leg_shares={}, trades=res.trades,
                       costs=res.costs)
    assert [f.name for f in dataclasses.fields(BacktestResult)][:4] == \
        ["equity", "cash", "shares", "leg_shares"]


@pytest.mark.parametrize("names", [["long", "short", "short+hedge"], ["rebalance", None, "x"],
                                   ["a", 1, "b"], ["only"]])
def test_label_array_is_the_column_pandas_infers(names):
    codes = np.random.default_rng(1).integers(0, len(names), 50)
    got = pd.DataFrame({"x": label_array(names, codes)})
    ref = pd.DataFrame({"x": np.asarray(names, dtype=object)[codes]})
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    arr, ref_arr = got["x"].array, ref["x"].array
    assert type(arr) is type(ref_arr)
    if hasattr(ref_arr, "_pa_array"):   # the arrow storage too (parquet writes it)
        assert arr._pa_array.type == ref_arr._pa_array.type
        assert arr._pa_array.num_chunks == ref_arr._pa_array.num_chunks
    # the names' array is made once and shared: a column changed in place leaves later ones as
    # they would be
    got["x"].array[:] = got["x"].array[0]
    again = pd.DataFrame({"x": label_array(names, codes)})
    pd.testing.assert_frame_equal(again, ref, check_exact=True)


def test_twin_trades_equal_the_table_from_object_labels():
    """Labels taken from codes (leg changes, reasons with borrow labels and delisting exits)
    give the table the object labels gave, dtypes and arrow types included."""
    market = random_market(5, n_names=14, n_days=120)
    targets = random_targets(market, 5, every=6)
    avail = np.full(market.close.shape, 40.0)
    res = run_vectorized(market, targets, borrow=file_terms(np.full(avail.shape, 80.0), avail,
                                                            80.0))
    tr = res.trades
    assert {"delist_exit"} <= set(tr["reason"]) and tr["reason"].str.contains("locate_cut").any()
    rows = market.dates.get_indexer(tr["date"])
    obj = Fills(rows=rows.astype(np.int64), cols=market.tickers.get_indexer(tr["ticker"]),
                size=tr["size"].to_numpy(), price=tr["price"].to_numpy(),
                commission=tr["commission"].to_numpy(),
                leg=tr["leg"].to_numpy(dtype=object), reason=tr["reason"].to_numpy(dtype=object))
    ref = obj.frame(market.dates, market.tickers)
    pd.testing.assert_frame_equal(tr, ref, check_exact=True)
    assert tr.dtypes.astype(str).tolist() == ["datetime64[ns]", "object", "float64", "float64",
                                              "float64", "str", "str"]
    for col in ("leg", "reason"):
        assert tr[col].array._pa_array.type == ref[col].array._pa_array.type
    assert tr.to_csv() == ref.to_csv()


def test_typed_empty_tables():
    """The empty margin-call and borrow-event tables: typed, and copies (the cached one stays)."""
    mc = margin_calls_frame()
    assert mc.dtypes.astype(str).tolist() == ["datetime64[s]"] * 2 + ["object"] + ["float64"] * 6
    mc["extra"] = np.zeros(0)
    assert "extra" not in margin_calls_frame()
    ev = events_frame([], pd.DatetimeIndex([]), pd.Index([]))
    assert list(ev.columns) == list(EVENT_COLUMNS) and len(ev) == 0
    assert ev.dtypes.astype(str).tolist() == ["datetime64[ns]"] * 2 + ["object"] * 2 + \
        ["float64"] * 4
    assert isinstance(ev.index, pd.RangeIndex) and str(ev.columns.dtype) == "str"
    ev["extra"] = np.zeros(0)
    assert "extra" not in events_frame([], pd.DatetimeIndex([]), pd.Index([]))


def test_leg_codes_by_hand():
    """Bit i of a code: leg i (long, short, hedge) changed; its label joins the changed legs."""
    from squeeze_lab.strategies.execution import LEG_CODE_LABELS, leg_codes, leg_labels

    old = np.array([[1.0, 1.0, 0.0, 2.0], [0.0, -3.0, 0.0, -1.0], [0.0, 0.0, 0.0, 5.0]])
    new = np.array([[2.0, 1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert leg_codes(old, new).tolist() == [1, 2, 0, 7]
    assert leg_labels(old, new).tolist() == ["long", "short", "none", "long+short+hedge"]
    assert LEG_CODE_LABELS[[3, 4, 6]].tolist() == ["long+short", "hedge", "short+hedge"]


def test_change_codes_along_any_axis_as_leg_codes():
    """Leg states stacked (states x legs x names): each state's codes are leg_codes' for it."""
    from squeeze_lab.strategies.execution import change_codes, leg_codes

    rng = np.random.default_rng(3)
    states = rng.integers(-2, 3, (5, 3, 7)).astype(np.float64)
    changed = np.empty(states.shape, dtype=bool)
    changed[0] = states[0] != 0
    changed[1:] = states[1:] != states[:-1]
    codes = change_codes(changed, axis=1)
    assert codes.shape == (5, 7)
    assert codes[0].tolist() == leg_codes(np.zeros((3, 7)), states[0]).tolist()
    for k in range(1, 5):
        assert codes[k].tolist() == leg_codes(states[k - 1], states[k]).tolist()
    assert change_codes(np.array([[True], [False], [True]]))[0] == 5   # long and hedge: 1 + 4
