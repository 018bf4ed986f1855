"""Short interest as published: FINRA's files, publication lag, staleness, coverage (hand-checked).

The FINRA fixture (tests/fixtures/finra/, handwritten, see its README) has two settlements,
2021-01-15 and 2021-01-29, with columns in two different orders.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.short_interest import (
    Coverage,
    coverage,
    point_in_time,
    read_records,
    session_positions,
    short_interest_history,
)

FINRA = Path(__file__).parent / "fixtures" / "finra"
TICKERS = pd.Index(["AAPL", "AMC", "BB", "BRK-B", "GME", "KOSS", "MSFT"])


def sessions(start: str = "2021-01-04", end: str = "2021-03-31") -> pd.DatetimeIndex:
    """Weekdays without the 2021 NYSE holidays in range (18 Jan, 15 Feb)."""
    d = pd.bdate_range(start, end)
    d = d[~d.isin(pd.DatetimeIndex(["2021-01-18", "2021-02-15"]))]
    return pd.DatetimeIndex(d, name="date").as_unit("ns")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- FINRA parser
def test_finra_file_as_published():
    rec = read_records(FINRA / "shrt20210115.txt")
    assert rec.format == "finra" and len(rec.frame) == 7
    gme = rec.frame.set_index("ticker").loc["GME"]
    assert gme["shares_short"] == 61782910 and gme["days_to_cover"] == 2.41
    assert gme["settlement"] == pd.Timestamp("2021-01-15") and pd.isna(gme["published"])
    assert np.isnan(gme["short_interest"])          # FINRA gives no float


def test_finra_folder_of_two_files_in_other_column_orders():
    rec = read_records(FINRA)
    assert rec.format == "finra" and len(rec.files) == 2 and len(rec.frame) == 12
    f = rec.frame.set_index(["ticker", "settlement"])
    assert f.loc[("GME", pd.Timestamp("2021-01-29")), "shares_short"] == 57835231
    assert f.loc[("BRK.B", pd.Timestamp("2021-01-29")), "days_to_cover"] == 2.41


def test_finra_bad_rows_are_one_clean_line(tmp_path):
    good = (FINRA / "shrt20210129.txt").read_text().splitlines()
    cases = {
        # a quantity that is not a number
        good[1].replace("|57835231|", "|57835x31|"): r"shrt\.txt:2: currentShortPositionQuantity "
                                                       r"'57835x31' for GME is not a number",
        # a field lost
        good[1].replace("|1|79213004|", "|79213004|"): r"shrt\.txt:2: expected 14 fields .* found 13: "
                                                         r"fix the row \(a stray or missing '\|'\?\)",
        # a date that is not one
        good[1].replace("2021-01-29|GME", "29/01/2021|GME"): r"shrt\.txt:2: settlement date "
                                                              r"'29/01/2021' is not a date",
        # a negative position
        good[1].replace("|57835231|", "|-5|"): r"shrt\.txt:2: currentShortPositionQuantity '-5' "
                                                 r"for GME must be a number of shares >= 0",
    }
    for row, message in cases.items():
        p = write(tmp_path / "shrt.txt", "\n".join([good[0], row, *good[2:]]) + "\n")
        with pytest.raises(SqueezeLabError, match=message) as err:
            read_records(p)
        assert "\n" not in str(err.value)
    p = write(tmp_path / "nosym.txt", "settlementDate|issueName|currentShortPositionQuantity\n")
    with pytest.raises(SqueezeLabError, match=r"nosym\.txt:1: no symbolCode column"):
        read_records(p)
    # the same settlement and symbol in two files with different values
    d = tmp_path / "two"
    shutil.copytree(FINRA, d)
    write(d / "shrt20210129b.txt", "\n".join([good[0], good[1].replace("57835231", "1")]) + "\n")
    with pytest.raises(SqueezeLabError, match=r"GME settled 2021-01-29 differs from .*shrt20210129"):
        read_records(d)


def test_percent_given_as_fraction_is_refused_with_a_hint(tmp_path):
    p = write(tmp_path / "si.csv", "date,ticker,short_interest\n2021-01-15,GME,140\n"
                                   "2021-01-15,AMC,25\n2021-01-15,AAPL,0.7\n")
    with pytest.raises(SqueezeLabError, match=r"si\.csv:2: short_interest 140 for GME looks like a "
                                              r"percentage \(2 of 3 names above 1\).*divide the "
                                              r"column by 100"):
        read_records(p)
    # one real squeeze beyond the float among many names is kept (GME, January 2021)
    rows = "".join(f"2021-01-15,T{i:02d},0.0{i % 9 + 1}\n" for i in range(4))
    p = write(tmp_path / "ok.csv", "date,ticker,short_interest\n2021-01-15,GME,1.4\n" + rows)
    assert read_records(p).frame["short_interest"].max() == 1.4


# --------------------------------------------------------------------------- publication lag
def test_session_positions_by_hand():
    d = sessions()
    # 2021-01-15 (Fri): sessions after it are 19, 20, 21, 22, 25, 26, 27, 28 Jan (18th: holiday)
    pos = session_positions(np.array(["2021-01-15", "2021-01-29"], dtype="datetime64[ns]"), d, 8)
    assert list(d[pos]) == [pd.Timestamp("2021-01-28"), pd.Timestamp("2021-02-10")]
    assert d[session_positions(np.array(["2021-01-15"], dtype="datetime64[ns]"), d, 0)][0] \
        == pd.Timestamp("2021-01-15")
    # settled before the data: the weekdays before its first date count (18, 19 Jan), then
    # sessions 20, 21, 22, 25, 26, 27 Jan -> the 8th is 27 Jan
    late = sessions("2021-01-20")
    assert late[session_positions(np.array(["2021-01-15"], dtype="datetime64[ns]"), late, 8)][0] \
        == pd.Timestamp("2021-01-27")
    # long before the data: known from its first date
    assert session_positions(np.array(["2020-06-15"], dtype="datetime64[ns]"), late, 8)[0] == 0
    # after the data: past its end
    assert session_positions(np.array(["2021-12-15"], dtype="datetime64[ns]"), d, 8)[0] >= len(d)


def test_point_in_time_lag_and_days_to_cover_ranking():
    d = sessions()
    h = short_interest_history(FINRA, d, TICKERS)
    assert h.short_interest is None and h.info.measure == "days_to_cover"
    assert any("FINRA files give shares short, not float" in n and "ranked by days to cover" in n
               for n in h.notes)
    dtc = h.days_to_cover
    assert dtc.loc[:"2021-01-27"].isna().all().all()             # nothing before publication
    assert dtc.loc["2021-01-28", "GME"] == 2.41 and dtc.loc["2021-02-09", "GME"] == 2.41
    assert dtc.loc["2021-02-10", "GME"] == 1.0                  # the 29 Jan report, published
    assert dtc.loc["2021-02-10", "BRK-B"] == 2.41                # BRK.B matched to BRK-B
    assert dtc.loc["2021-02-10", "BB"] == 1.0                   # 15 Jan, still within 30 sessions
    assert dtc["MSFT"].isna().all()
    info = h.info
    assert (info.format, info.tickers_in_file, info.tickers_matched) == ("finra", 7, 6)
    assert (info.last_settlement, info.last_known) == ("2021-01-29", "2021-02-10")


def test_publication_date_column_overrides_the_lag(tmp_path):
    p = write(tmp_path / "si.csv", "date,ticker,short_interest,publication_date\n"
                                   "2021-01-15,GME,0.9,2021-01-20\n")
    si = short_interest_history(p, sessions(), TICKERS).short_interest
    assert np.isnan(si.loc["2021-01-19", "GME"]) and si.loc["2021-01-20", "GME"] == 0.9


# --------------------------------------------------------------------------- staleness, future
def test_staleness_cut_by_hand():
    d = sessions()
    h = short_interest_history(FINRA, d, TICKERS, max_age=10)
    dtc = h.days_to_cover
    # 29 Jan is session index 18; 10 sessions later is 12 Feb (index 28); 16 Feb is stale
    i = d.get_loc(pd.Timestamp("2021-01-29"))
    assert d[i + 10] == pd.Timestamp("2021-02-12")
    # so with max_age 10 the 29 Jan report (known 10 Feb) is fresh only until 12 Feb
    assert dtc.loc["2021-02-12", "GME"] == 1.0 and np.isnan(dtc.loc["2021-02-16", "GME"])
    # 15 Jan's BB report (not repeated on 29 Jan) is published 28 Jan at age 8, fresh through
    # 1 Feb (age 10), stale from 2 Feb
    assert dtc.loc["2021-02-01", "BB"] == 1.0 and np.isnan(dtc.loc["2021-02-02", "BB"])
    assert h.info.stale_from == "2021-02-16"
    assert any("stale from 2021-02-16: the last settlement is 2021-01-29" in n for n in h.notes)
    # the default limit (30 sessions: 19 in February, 11 in March) carries it to 15 March
    dflt = short_interest_history(FINRA, d, TICKERS).days_to_cover
    assert dflt.loc["2021-03-15", "GME"] == 1.0 and np.isnan(dflt.loc["2021-03-16", "GME"])


def test_short_interest_dated_after_the_data_is_refused_or_noted(tmp_path):
    early = sessions("2020-10-01", "2020-12-31")
    with pytest.raises(SqueezeLabError, match=re.escape(
            "every short-interest record is dated after the data (settlements "
            "2021-01-15..2021-01-29, data 2020-10-01..2020-12-31)")):
        short_interest_history(FINRA, early, TICKERS)
    d = sessions("2021-01-04", "2021-01-22")
    with pytest.raises(SqueezeLabError, match="no record for the data's tickers is published by "
                                              "its last date 2021-01-22"):
        short_interest_history(FINRA, d, TICKERS)
    d = sessions("2021-01-04", "2021-01-28")
    h = short_interest_history(FINRA, d, TICKERS)
    assert any("5 record(s) settled after the data's last date 2021-01-28 (from 2021-01-29) are "
               "ignored" in n for n in h.notes)
    assert h.info.future_records == 5


# --------------------------------------------------------------------------- coverage
def test_coverage_text_by_hand():
    d = sessions()
    frame = pd.DataFrame(np.nan, index=d, columns=[f"T{i}" for i in range(252)])
    frame.iloc[:, :6] = 2.0
    frame.iloc[-1, 4:6] = np.nan
    c = coverage(frame, "days_to_cover", True, 252)
    assert c.text == ("short interest for 6 of 252 names (days to cover, point-in-time; 4 on the "
                      "last date)")
    assert c.to_dict()["covered"] == 6
    assert Coverage(None, False, 0, 252, 0).text == "no short interest for any of 252 names"


def test_records_point_in_time_reusable_for_a_monitor():
    """The monitor (issue 17) reads records once and asks for any as-of date."""
    rec = read_records(FINRA)
    d = sessions()
    full = point_in_time(rec, d, TICKERS)
    asof = point_in_time(rec, d[d <= pd.Timestamp("2021-02-10")], TICKERS)
    pd.testing.assert_frame_equal(asof.days_to_cover, full.days_to_cover.loc[:"2021-02-10"])


def test_wide_form_percent_check_looks_at_the_whole_file(tmp_path):
    """One name above its float for every date is fine; a file of percentages is not."""
    d = sessions("2021-01-04", "2021-01-29")
    rows = "".join(f"{x.date()},1.4,0.05,0.02,0.1,0.03,0.2,0.01\n" for x in d)
    p = write(tmp_path / "si.csv", "date,GME,AAPL,BRK-B,AMC,BB,KOSS,MSFT\n" + rows)
    h = short_interest_history(p, d, TICKERS)
    assert h.short_interest.loc["2021-01-29", "GME"] == 1.4 and h.info.format == "wide"
    p = write(tmp_path / "pct.csv", "date,GME,AAPL\n2021-01-04,140,0.7\n2021-01-05,139,2.1\n")
    with pytest.raises(SqueezeLabError, match=r"pct\.csv:2: short_interest 140 for GME looks like "
                                              r"a percentage \(2 of 2 names above 1\)"):
        short_interest_history(p, d, TICKERS)


def test_fast_reader_agrees_with_the_row_reader(tmp_path):
    """Well-formed files go through pandas' C reader; anything odd through the row reader."""
    from squeeze_lab.feeds.csv_feed import read_table
    from squeeze_lab.feeds.short_interest import _fast_table

    for f in sorted(FINRA.glob("*.txt")):
        fast, slow = _fast_table(f, "|"), read_table(f, delimiter="|")
        assert fast is not None and fast.header == slow.header
        np.testing.assert_array_equal(fast.cells, slow.cells)
        np.testing.assert_array_equal(fast.lines, slow.lines)
    text = (FINRA / "shrt20210129.txt").read_text().splitlines()
    odd = write(tmp_path / "blank.txt", "\n".join([text[0], text[1], "", *text[2:]]) + "\n")
    assert _fast_table(odd, "|") is None
    rec = read_records(odd)                     # read, with the lines as in the file
    assert list(rec.frame["line"]) == [2, 4, 5, 6, 7]


# --------------------------------------------------------------------------- crowding, scores
def test_days_to_cover_ranks_the_basket_and_names_without_data_keep_their_score():
    """Point-in-time days to cover for 3 of 5 names, no float: the basket is ranked by it."""
    from test_signals import TICKERS as NAMES
    from test_signals import hand_attributes, hand_market, make_market

    from squeeze_lab.strategies import signals as sg

    base = hand_market(reference=False)
    att = hand_attributes().drop(columns=["short_interest", "days_to_cover"])
    dtc = pd.DataFrame(np.nan, index=base.dates, columns=NAMES)
    dtc.loc[base.dates[5]:, ["A", "B", "C"]] = [9.0, 2.0, 6.0]   # A most crowded, then C
    mk = make_market(base.close, att, days_to_cover=dtc)
    crowd, measure, src = sg.crowding(mk)
    assert (measure, src) == ("days_to_cover", "point_in_time")
    mem, source = sg.most_shorted_members(mk, n=2, min_cap=0.0)
    # chosen at the close of row 9 (the last session before the 15 January rebalance date);
    # before it, at row 0, no name had data: no basket
    assert not mem.iloc[:9].to_numpy().any()
    assert mem.iloc[9].tolist() == [True, False, True, False, False]
    assert (source.kind, source.requested, source.built_max, source.covered) == \
        ("days_to_cover", 2, 2, 3)
    assert source.sessions_with_basket == len(mk.dates) - 9
    assert "no basket on 9 of 30 sessions (no signal there)" in source.text
    # the signal has no value where there is no basket (it used to be minus the index)
    sig = sg.junk_rally_signal(mk, lookback=2, mode="return", n_names=2, min_cap=0.0)
    assert sig.iloc[:11].isna().all() and np.isfinite(sig.iloc[12])
    # D and E have no days to cover and keep a junk score from their other components
    js = sg.junk_score(mk, momentum_lookback=4, momentum_skip=1, beta_window=4, vol_window=4,
                       drawdown_window=4)
    assert "days_to_cover" in js.attrs["components"]
    assert np.isfinite(js.loc[mk.dates[20], ["D", "E"]]).all()
    assert sg.crowding_coverage(mk).text == ("short interest for 3 of 5 names (days to cover, "
                                             "point-in-time)")
