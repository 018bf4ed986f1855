"""Borrow fees, locates and recalls: the fee-file reader and the pure rules, checked by hand and
with hypothesis properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab.feeds.borrow import CARRY_DAYS, align_point_in_time, borrow_table, read_borrow_file
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.strategies import borrow as B
from squeeze_lab.strategies.execution import SHARE_QUANTUM
from squeeze_lab.strategies.targets import LEGS

DATES = pd.DatetimeIndex(pd.bdate_range("2026-01-02", periods=20), name="date")
TICKERS = pd.Index(["AAA", "BBB", "CCC"])


def table(rows, cols=("date", "ticker", "fee_bps", "available_shares")):
    return pd.DataFrame(rows, columns=list(cols))


# --------------------------------------------------------------------------- fee file
def test_file_point_in_time_carry_and_weekend_rows():
    raw = table([
        ("2026-01-02", "AAA", 30.0, 1000),
        ("2026-01-10", "AAA", 10_000.0, 50),   # a Saturday: in force from Monday 12th
        ("2026-01-05", "BBB", 200.0, None),     # no limit
    ])
    bf = borrow_table(raw, DATES, TICKERS)
    fee, avail = bf.fee_bps, bf.available
    assert fee.loc["2026-01-09", "AAA"] == 30.0 and avail.loc["2026-01-09", "AAA"] == 1000
    assert fee.loc["2026-01-12", "AAA"] == 10_000.0 and avail.loc["2026-01-12", "AAA"] == 50
    # carried at most CARRY_DAYS calendar days: 10th + 7 = 17th (a Saturday) -> Friday 16th last
    assert fee.loc["2026-01-16", "AAA"] == 10_000.0
    assert np.isnan(fee.loc["2026-01-19", "AAA"]) and np.isinf(avail.loc["2026-01-19", "AAA"])
    assert np.isnan(fee.loc["2026-01-02", "BBB"]) and fee.loc["2026-01-05", "BBB"] == 200.0
    assert np.isinf(avail.loc["2026-01-05", "BBB"])
    assert fee["CCC"].isna().all()
    assert any("1 of 3 market tickers have no row" in n for n in bf.notes)
    assert any(f"more than {CARRY_DAYS} days" in n for n in bf.notes)


def test_file_rows_before_the_start_apply_within_the_carry():
    raw = table([("2025-12-30", "AAA", 80.0, 5), ("2025-12-01", "BBB", 90.0, 5)])
    bf = borrow_table(raw, DATES, TICKERS)
    assert bf.fee_bps.loc["2026-01-02", "AAA"] == 80.0  # 3 days old
    assert bf.fee_bps.loc["2026-01-06", "AAA"] == 80.0 and np.isnan(bf.fee_bps.loc["2026-01-07", "AAA"])
    assert any("outside the market's dates" in n for n in bf.notes)  # BBB's row is a month old


def test_file_notes_unknown_tickers_and_late_rows():
    raw = table([("2026-01-02", "AAA", 30.0, None), ("2026-01-02", "ZZZ", 30.0, None),
                 ("2027-01-04", "AAA", 40.0, None)])
    bf = borrow_table(raw, DATES, TICKERS)
    text = " | ".join(bf.notes)
    assert "1 ticker(s) not in the market ignored (1 rows): ZZZ" in text
    assert "1 row(s) outside the market's dates" in text


@pytest.mark.parametrize("rows, message", [
    ([("2026-01-02", "AAA", -5.0, None)], "line 2: fee_bps -5 is negative"),
    ([("2026-01-02", "AAA", 0.3, None), ("2026-01-05", "AAA", 0.5, None)], "look like percent"),
    ([("2026-01-02", "AAA", 30.0, None), ("2026-01-02", "AAA", 31.0, None)], "appears more than once"),
    ([("2026-01-02", "ZZZ", 30.0, None)], "names none of the market's tickers"),
    ([("2019-01-02", "AAA", 30.0, None)], "no row on the market's dates"),
    ([("2026-01-02", "AAA", "high", None)], "fee_bps 'high' is not a number"),
    ([("2026-01-02", "AAA", None, None)], "line 2: fee_bps is empty"),
    ([("2026-01-02", "AAA", 30.0, -1)], "available_shares -1 is negative"),
    ([("yesterday", "AAA", 30.0, None)], "is not a date"),
    ([("2026-01-02", "", 30.0, None)], "empty ticker"),
])
def test_file_bad_input_is_one_line(rows, message):
    with pytest.raises(SqueezeLabError, match=message) as err:
        borrow_table(table(rows), DATES, TICKERS)
    assert "\n" not in str(err.value)


def test_file_missing_column_and_file(tmp_path):
    with pytest.raises(SqueezeLabError, match="no column 'fee_bps'"):
        borrow_table(table([("2026-01-02", "AAA")], cols=("date", "ticker")), DATES, TICKERS)
    with pytest.raises(SqueezeLabError, match="not found"):
        read_borrow_file(tmp_path / "nope.csv", DATES, TICKERS)
    p = tmp_path / "fees.csv"
    p.write_text("date,ticker,fee_bps\n2026-01-05,AAA,10000\n")
    bf = read_borrow_file(p, DATES, TICKERS)
    assert bf.fee_bps.loc["2026-01-05", "AAA"] == 10_000 and np.isinf(bf.available.to_numpy()).all()
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SqueezeLabError, match="not a readable CSV|no column"):
        read_borrow_file(p, DATES, TICKERS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-10, 40), st.integers(0, 2), st.floats(1, 5e4)),
                min_size=1, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_property_alignment_matches_a_plain_loop(rows):
    base = pd.Timestamp("2026-01-02")
    when = pd.DatetimeIndex([base + pd.Timedelta(days=d) for d, _, _ in rows])
    tick = np.array([TICKERS[j] for _, j, _ in rows], dtype=object)
    fee = np.array([f for _, _, f in rows])
    got, _, _ = align_point_in_time(when, tick, fee, fee * 10, DATES, TICKERS)
    for i, d in enumerate(DATES):
        for j, t in enumerate(TICKERS):
            cand = [(w, f) for w, tt, f in zip(when, tick, fee, strict=True) if tt == t and w <= d]
            if cand:
                w, f = max(cand)
                want = f if (d - w).days <= CARRY_DAYS else np.nan
            else:
                want = np.nan
            assert (np.isnan(want) and np.isnan(got[i, j])) or got[i, j] == want


# --------------------------------------------------------------------------- schedule
def test_crowding_fees_by_hand():
    si = np.array([0.05, 0.15, 0.25, 0.35, 0.25, 0.05, 0.25, 0.25, 0.25, np.nan])
    dtc = np.array([0, 0, 0, 0, 12, 0, 0, 0, 0, 0.0])
    chg = np.array([0, 0, 0, 0, 0, 0.06, 0, 0, 0, 0.0])
    up = np.array([0, 0, 0, 0, 0, 0.5, 0.3, 2.0, -0.4, 0.3])
    got = B.crowding_fees(si, dtc, chg, up)
    np.testing.assert_allclose(got, [30, 150, 500, 1500, 1500, 150, 2000, 4000, 500, 30])


def test_crowding_available_by_hand():
    got = B.crowding_available(np.array([0.2, 0.2, 0.6, np.nan]), np.array([1e6, 1e6, 1e6, 1e6]),
                               np.array([0.0, 0.5, 0.0, 0.0]))
    np.testing.assert_allclose(got, [300_000, 50_000, 0, np.inf])


@settings(max_examples=80, deadline=None)
@given(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0, 30), st.floats(-0.2, 0.2),
       st.floats(-0.5, 3), st.floats(-0.5, 3))
def test_property_fees_rise_with_crowding_and_run_up(s1, s2, dtc, chg, u1, u2):
    lo, hi = sorted((s1, s2))
    f = B.crowding_fees(np.array([lo, hi]), np.array([dtc, dtc]), np.array([chg, chg]),
                        np.array([u1, u1]))
    assert f[0] <= f[1] and f.min() >= B.CROWDING_TIERS[0][1]
    a, b = sorted((u1, u2))
    g = B.crowding_fees(np.array([hi, hi]), np.array([dtc, dtc]), np.array([chg, chg]),
                        np.array([a, b]))
    assert g[0] <= g[1] <= B.CROWDING_TIERS[-1][1] * B.SQUEEZE_CAP


# --------------------------------------------------------------------------- charges
def test_charge_is_fee_times_short_value_times_days_over_360():
    rate = (10_000.0 / 1e4) / 360.0
    got = B.charges(np.array([3, 1, 1]), np.array([rate, rate, rate]),
                    np.array([-100.0, 50.0, 0.0]), np.array([40.0, 40.0, 40.0]))
    assert got[0] == pytest.approx(1.0 * 100 * 40 * 3 / 360, rel=1e-15)
    assert got[1] == 0.0 and got[2] == 0.0


def test_flat_terms_rate_is_backtraders_credit_rate():
    import backtrader as bt

    from squeeze_lab.strategies.execution import SqueezeCommInfo

    t = B.flat_terms(2, 2, 250.0)
    ci = SqueezeCommInfo.from_bps(1.0, 250.0)
    assert t.rate[0, 0] == ci._creditrate and t.mark == "average"
    assert isinstance(ci, bt.CommInfoBase) and not t.limited


# --------------------------------------------------------------------------- locates, recalls
def legs_of(long, short, hedge=None):
    hedge = np.zeros(len(long)) if hedge is None else hedge
    return np.array([long, short, hedge], dtype=np.float64)


def test_locate_cuts_to_available_by_hand():
    legs = legs_of([10.0, 0.0, 0.0], [0.0, -100.0, -30.0])
    new, cut = B.locate(legs, np.array([np.inf, 40.7, np.inf]), 1.0)
    np.testing.assert_array_equal(cut, [0.0, 60.0, 0.0])
    np.testing.assert_array_equal(new[LEGS.index("short")], [0.0, -40.0, -30.0])
    same, none = B.locate(legs, np.full(3, np.inf), 1.0)
    assert same is legs and not none.any()


def test_fund_trims_longs_after_a_cut_by_hand():
    legs = legs_of([10.0, 0.0], [0.0, -5.0], [2.0, 0.0])
    close = np.array([10.0, 20.0])   # long + hedge 120, short 100, net 20
    new, scale = B.fund(legs, close, value=100.0, max_net_long=0.1, quantum=SHARE_QUANTUM)
    assert scale == pytest.approx(110.0 / 120.0)
    net = (new[0] + new[2] + new[1]) @ close
    assert net <= 10.0 + 1e-9 and net == pytest.approx(10.0, abs=1e-3)
    untouched, one = B.fund(legs, close, value=1000.0, max_net_long=0.9, quantum=1.0)
    assert one == 1.0 and untouched is legs


def test_recall_rows_are_the_falls():
    a = np.array([[np.inf, 5], [np.inf, 5], [100, 5], [100, 7], [100, 6], [90, 6]], dtype=float)
    np.testing.assert_array_equal(B.recall_rows(a), [2, 4])  # row 5 is the last: no fill bar


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(-1e4, 0), st.floats(0, 1e3),
                          st.one_of(st.just(np.inf), st.floats(0, 2e4))), min_size=1, max_size=8),
       st.sampled_from([1.0, SHARE_QUANTUM]))
def test_property_locate_never_leaves_more_short_than_available(rows, quantum):
    long, short, hedge, avail = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    short = np.trunc(short / quantum) * quantum
    legs = legs_of(np.zeros_like(long), short, np.zeros_like(hedge))
    new, cut = B.locate(legs, avail, quantum)
    net = new.sum(axis=0)
    limit = B.quantize_available(avail, quantum)
    assert (cut >= 0).all() and (cut <= -short + 1e-12).all()
    assert (-net <= limit + 1e-9).all()
    enough = -short <= limit
    np.testing.assert_array_equal(new[:, enough], legs[:, enough])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e3), st.floats(-1e3, 0), st.floats(0, 1e2),
                          st.floats(1, 500)), min_size=1, max_size=8),
       st.floats(1e2, 1e6), st.floats(0, 1))
def test_property_fund_keeps_net_long_within_the_cap(rows, value, cap):
    long, short, hedge, close = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    legs = legs_of(long, short, hedge)
    new, scale = B.fund(legs, close, value, cap, SHARE_QUANTUM)
    assert 0.0 <= scale <= 1.0
    net = (new[0] + new[2] + new[1]) @ close
    assert net <= max(cap * value, (legs[0] + legs[2] + legs[1]) @ close) * (1 + 1e-9) + 1e-6
    if scale < 1.0:
        assert net <= cap * value * (1 + 1e-9) + 1e-6
    np.testing.assert_array_equal(new[1], legs[1])


def test_borrow_table_rows_per_short_day():
    dates = pd.DatetimeIndex(["2026-01-08", "2026-01-09", "2026-01-12", "2026-01-13"])
    shares = np.array([[-10.0, 5.0], [-10.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    ledger = np.array([[0, 0], [1.0, 0], [3.0, 0], [0, 0]])
    fee = np.full((4, 2), 100.0)
    t = B.borrow_table(dates, pd.Index(["X", "Y"]), shares, ledger, fee)
    assert list(t.columns) == list(B.BORROW_COLUMNS)
    assert t["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-09", "2026-01-12"]
    assert t["days"].tolist() == [1, 3] and t["cost"].tolist() == [1.0, 3.0]
    assert t["shares_short"].tolist() == [10.0, 10.0] and (t["ticker"] == "X").all()


def test_first_recall_finds_the_first_binding_fall():
    avail = np.full((6, 2), np.inf)
    avail[2:, 1] = 50.0   # falls at row 2, not binding for a 40-share short
    avail[4:, 1] = 30.0   # falls again at row 4: binding
    terms = B.BorrowTerms(model="file", fee_bps=np.full((6, 2), 100.0), available=avail,
                          basis=360.0)
    book = B.BorrowBook(terms, 0.9, 1.0)
    legs = legs_of([10.0, 0.0], [0.0, -40.0])
    np.testing.assert_array_equal(book.check_rows, [2, 4])
    assert book.first_recall(0, 5, legs) == 4 and book.first_recall(0, 3, legs) is None
    assert book.first_recall(0, 5, legs_of([10.0, 0.0], [0.0, -20.0])) is None
    new, why = book.adjust(4, legs, np.array([10.0, 10.0]), 1000.0, None)
    assert new[1, 1] == -30.0 and why[1] == "recall" and len(book.events) == 1


def test_ledger_from_bookings_replays_in_order_by_hand():
    """Each booking sets its cells (a later one replaces an earlier one's); None columns are
    the whole row, None values clear, ``take`` picks the values' rows (a per-day-count table)."""
    table = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])   # day count x short
    bookings = [
        (0, 3, np.array([1, 3]), table, np.array([1, 1, 3])),   # rows 0-2, names 1 and 3
        (1, 3, None, None, None),                               # rows 1-2 valued again: cleared
        (1, 2, np.array([0]), np.array([[5.0]]), None),         # row 1, name 0
        (3, 4, None, np.array([0.5, 0.0, 0.0, 0.25]), None),    # a whole row (overnight)
    ]
    expected = np.array([[0.0, 1.0, 0.0, 10.0],
                         [5.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0],
                         [0.5, 0.0, 0.0, 0.25]])
    np.testing.assert_array_equal(B.ledger_from_bookings(bookings, 4, 4), expected)
    np.testing.assert_array_equal(B.ledger_from_bookings([], 2, 3), np.zeros((2, 3)))


def test_record_built_from_bookings_on_first_read_and_pickled_built():
    """make_record given bookings builds the ledger frame when first read (once), and a pickled
    record carries the built frame."""
    import pickle

    dates = pd.date_range("2024-01-01", periods=2, freq="D")
    tickers = pd.Index(["A", "B"])
    book_frame = pd.DataFrame()

    class _Book:   # the locate/recall book's one method make_record reads
        def frame(self, d, t):
            return book_frame

    class _Terms:
        model, fee_bps, notes = "flat", np.zeros((2, 2)), ()

    bookings = [(1, 2, np.array([1]), np.array([[4.0]]), None)]
    rec = B.make_record(_Terms(), bookings, _Book(), dates, tickers)
    assert "ledger" in vars(rec) and not isinstance(vars(rec)["ledger"], pd.DataFrame)
    first = rec.ledger
    assert first is rec.ledger   # built once
    expected = pd.DataFrame([[0.0, 0.0], [0.0, 4.0]], index=dates, columns=tickers)
    pd.testing.assert_frame_equal(first, expected)
    back = pickle.loads(pickle.dumps(rec))
    pd.testing.assert_frame_equal(back.ledger, expected)
    arr = np.ones((2, 2))
    given = B.make_record(_Terms(), arr, _Book(), dates, tickers)
    assert given.ledger.to_numpy() is arr or np.shares_memory(given.ledger.to_numpy(), arr)
