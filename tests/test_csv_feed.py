"""csv_market: every accepted layout on small hand-made files, every validation error with file:line."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squeeze_lab.feeds.attributes import read_attributes
from squeeze_lab.feeds.csv_feed import csv_market, read_series
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market
from squeeze_lab.feeds.short_interest import short_interest_history

LONG = """date,ticker,open,high,low,close,volume
2024-01-02,AAA,10,11,9.5,10.5,1000
2024-01-02,BBB,20,21,19,20.5,2000
2024-01-03,AAA,10.5,11.5,10,11,1100
2024-01-03,BBB,20.5,21,20,20.8,2100
2024-01-04,AAA,11,11.2,10.6,10.8,900
2024-01-04,BBB,20.8,22,20.5,21.5,2500
2024-01-05,AAA,10.8,11,10.1,10.2,1000
2024-01-05,BBB,21.5,21.6,20.9,21,1800
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fails(path, match: str, **kw) -> str:
    with pytest.raises(SqueezeLabError) as err:
        csv_market(path, **kw)
    text = str(err.value)
    assert "\n" not in text
    assert re.search(match, text), text
    return text


# ------------------------------------------------------------------ layouts
def test_long_single_file(tmp_path):
    m = csv_market(write(tmp_path / "p.csv", LONG))
    assert isinstance(m, Market) and m.source == "csv" and m.synthetic is False
    assert list(m.tickers) == ["AAA", "BBB"] and len(m.dates) == 4
    assert m.dates.dtype == "datetime64[ns]" and m.dates.name == "date"
    assert m.fill_model == "next_open"
    assert m.open.loc["2024-01-03", "AAA"] == 10.5 and m.volume.loc["2024-01-04", "BBB"] == 2500
    assert m.reference.columns.tolist() == ["index"]
    assert m.reference["index"].iloc[0] == 0.0
    assert any("equal-weighted universe" in n for n in m.notes)
    assert any("no attributes given" in n for n in m.notes)


def test_folder_of_one_file_per_ticker_and_gzip(tmp_path):
    d = tmp_path / "d"
    write(d / "AAA.csv", "date,open,high,low,close,volume\n2024-01-02,10,11,9.5,10.5,1000\n"
                         "2024-01-03,10.5,11.5,10,11,1100\n")
    write(d / "BBB.csv.gz", "Date,Open,High,Low,Close,Volume\n2024-01-02,20,21,19,20.5,2000\n"
                            "2024-01-03,20.5,21,20,20.8,2100\n")
    write(d / "notes.txt", "ignored")
    m = csv_market(d)
    assert list(m.tickers) == ["AAA", "BBB"]
    assert m.close.loc["2024-01-03", "BBB"] == 20.8


def test_wide_folder(tmp_path):
    d = tmp_path / "w"
    write(d / "close.csv", "date,AAA,BBB\n2024-01-02,10.5,20.5\n2024-01-03,11,20.8\n2024-01-04,10.8,\n")
    write(d / "open.csv", "date,BBB,AAA\n2024-01-02,20,10\n2024-01-03,20.5,10.5\n2024-01-04,,11\n")
    write(d / "high.csv", "date,AAA,BBB\n2024-01-02,11,21\n2024-01-03,11.5,21\n2024-01-04,11.2,\n")
    write(d / "low.csv.gz", "date,AAA,BBB\n2024-01-02,9.5,19\n2024-01-03,10,20\n2024-01-04,10.6,\n")
    write(d / "volume.csv", "date,AAA,BBB\n2024-01-02,1000,2000\n2024-01-03,1100,2100\n2024-01-04,900,\n")
    m = csv_market(d)
    assert m.fill_model == "next_open"
    assert m.open.loc["2024-01-02", "BBB"] == 20 and m.low.loc["2024-01-03", "AAA"] == 10
    assert np.isnan(m.close.loc["2024-01-04", "BBB"])  # delisted after 2024-01-03


def test_close_only_long_and_wide(tmp_path):
    m = csv_market(write(tmp_path / "c.csv.gz", "date,ticker,close\n2024-01-02,AAA,10\n"
                                                 "2024-01-03,AAA,11\n2024-01-02,BBB,5\n"
                                                 "2024-01-03,BBB,5.5\n"))
    assert m.fill_model == "next_close"
    for f in ("open", "high", "low"):
        pd.testing.assert_frame_equal(m.frame(f), m.close)
    assert m.volume.isna().all().all() and not m.has_volume
    assert any("fills are modelled at the next close" in n for n in m.notes)
    assert any("days to cover" in n and "unavailable" in n for n in m.notes)
    w = csv_market(write(tmp_path / "w" / "close.csv", "date,AAA,BBB\n2024-01-02,10,5\n2024-01-03,11,5.5\n").parent)
    pd.testing.assert_frame_equal(w.close, m.close)
    assert w.fill_model == "next_close"


def test_listing_and_delisting_inside_the_range(tmp_path):
    text = ("date,ticker,close\n" "2024-01-02,OLD,5\n2024-01-03,OLD,6\n"
            "2024-01-02,AAA,10\n2024-01-03,AAA,10\n2024-01-04,AAA,10\n2024-01-05,AAA,10\n"
            "2024-01-04,NEW,1\n2024-01-05,NEW,2\n")
    m = csv_market(write(tmp_path / "p.csv", text))
    assert m.close["OLD"].isna().tolist() == [False, False, True, True]
    assert m.close["NEW"].isna().tolist() == [True, True, False, False]
    assert m.tradable["AAA"].all()


def test_adj_close_rescales_ohlc(tmp_path):
    text = ("date,ticker,open,high,low,close,volume,adj_close\n"
            "2024-01-02,AAA,10,11,9,10,100,5\n2024-01-03,AAA,10,12,10,12,100,12\n")
    m = csv_market(write(tmp_path / "p.csv", text))
    assert m.close["AAA"].tolist() == [5.0, 12.0]
    assert m.open["AAA"].tolist() == [5.0, 10.0] and m.high["AAA"].iloc[0] == 5.5
    assert m.volume["AAA"].iloc[0] == 100


def test_index_ticker_column_becomes_the_reference(tmp_path):
    text = LONG + "2024-01-02,SPY,100,101,99,100,1\n2024-01-03,SPY,100,103,100,102,1\n" \
                  "2024-01-04,SPY,102,102,99,99.96,1\n2024-01-05,SPY,100,101,99,100.5,1\n"
    m = csv_market(write(tmp_path / "p.csv", text), index_ticker="SPY")
    assert "SPY" not in m.tickers
    np.testing.assert_allclose(m.reference["index"].to_numpy(), [0.0, 0.02, -0.02, 100.5 / 99.96 - 1])
    fails(tmp_path / "p.csv", r"no price column 'XYZ'", index_ticker="XYZ")


def test_folder_side_files_attributes_reference_short_interest(tmp_path):
    d = tmp_path / "d"
    rows = ["date,ticker,open,high,low,close,volume"]
    days = pd.bdate_range("2024-01-02", "2024-03-29")
    for k, t in enumerate(["AAA", "BBB", "CCC"]):
        for i, dd in enumerate(days):
            c = 10 + k + 0.01 * i
            rows.append(f"{dd.date()},{t},{c},{c + 0.5},{c - 0.5},{c},{1000 + i}")
    write(d / "prices.csv", "\n".join(rows) + "\n")
    write(d / "attributes.csv", "ticker,sector,profitable,beta,short_interest,days_to_cover,shares,is_tech\n"
                                "AAA,Technology,false,1.8,0.30,7,2e9,true\n"
                                "BBB,Energy,true,0.9,0.02,1,5e9,false\n"
                                "CCC,Technology,yes,1.1,,2,4e9,1\n")
    write(d / "short_interest.csv", "date,ticker,short_interest,days_to_cover\n"
                                    "2024-01-12,AAA,0.25,6\n2024-01-12,BBB,0.03,1\n"
                                    "2024-01-31,AAA,0.35,9\n")
    m = csv_market(d)
    assert set(m.reference.columns) == {"index", "growth", "most_shorted", "unprofitable_tech"}
    assert any("cap-weighted universe" in n for n in m.notes)
    assert m.attributes["profitable"].dtype == bool and m.attributes.loc["CCC", "is_tech"]
    assert np.isnan(m.attributes.loc["CCC", "short_interest"])
    s = m.short_interest["AAA"]
    assert s.loc[:"2024-01-23"].isna().all() and s.loc["2024-01-24"] == 0.25
    assert s.loc["2024-02-12"] == 0.35 and m.days_to_cover["AAA"].loc["2024-03-13"] == 9
    # 30 sessions after its settlement (2024-01-31) the last record is stale: not carried on
    assert np.isnan(m.days_to_cover["AAA"].loc["2024-03-14"])
    assert any("stale from 2024-03-14" in n for n in m.notes)
    # a lag of 0 uses the settlement date itself
    m0 = csv_market(d, si_lag=0)
    assert m0.short_interest["AAA"].loc["2024-01-12"] == 0.25
    # a complete reference.csv is used as it is
    ref = pd.DataFrame({"index": 0.001, "growth": 0.002, "most_shorted": 0.003,
                        "unprofitable_tech": 0.004}, index=days.strftime("%Y-%m-%d"))
    ref.index.name = "date"
    ref.to_csv(d / "reference.csv")
    m2 = csv_market(d)
    assert (m2.reference["most_shorted"] == 0.003).all()


def test_short_interest_in_shares_without_float_ranks_by_days_to_cover(tmp_path):
    dates = pd.DatetimeIndex(pd.bdate_range("2024-01-02", "2024-02-29")).as_unit("ns")
    p = write(tmp_path / "si.csv", "settlement_date,symbol,shares_short\n2024-01-31,AAA,1e8\n")
    with pytest.raises(SqueezeLabError, match="no float_shares, no days to cover and no volume"):
        short_interest_history(p, dates, pd.Index(["AAA"]))
    vol = pd.DataFrame({"AAA": 1e7}, index=dates)
    h = short_interest_history(p, dates, pd.Index(["AAA"]), volume=vol)
    assert h.short_interest is None and h.info.measure == "days_to_cover"
    assert h.days_to_cover["AAA"].iloc[-1] == pytest.approx(10.0)
    assert any("crowding is ranked by days to cover" in n for n in h.notes)
    p2 = write(tmp_path / "si2.csv", "date,ticker,shares_short,float_shares,publication_date\n"
                                     "2024-01-12,AAA,2e8,1e9,2024-01-16\n")
    si = short_interest_history(p2, dates, pd.Index(["AAA"])).short_interest
    assert np.isnan(si["AAA"].loc["2024-01-12"]) and si["AAA"].loc["2024-01-16"] == pytest.approx(0.2)


# ------------------------------------------------------------------ validation: file:line and the fix
def test_malformed_row(tmp_path):
    p = write(tmp_path / "p.csv", LONG.replace("2024-01-03,AAA,10.5,11.5,10,11,1100",
                                               "2024-01-03,AAA,10.5,11.5,10,11,1100,7"))
    fails(p, rf"{re.escape(str(p))}:4: expected 7 fields .* found 8")


def test_unparseable_date(tmp_path):
    p = write(tmp_path / "p.csv", LONG.replace("2024-01-04,BBB", "04/01/2024,BBB"))
    fails(p, r"p\.csv:7: date '04/01/2024' is not a date: write YYYY-MM-DD")
    p = write(tmp_path / "q.csv", LONG.replace("2024-01-04,BBB", "2024-02-30,BBB"))
    fails(p, r"q\.csv:7: date '2024-02-30'")


def test_duplicate_date_ticker(tmp_path):
    p = write(tmp_path / "p.csv", LONG + "2024-01-03,AAA,10.5,11.5,10,11,1100\n")
    fails(p, r"p\.csv:10: duplicate row for AAA on 2024-01-03 \(first at .*p\.csv:4\)")


@pytest.mark.parametrize("bad, what", [("", "missing"), ("0", "0"), ("-3", "-3"), ("nan", "missing"),
                                       ("abc", None)])
def test_nan_or_non_positive_close(tmp_path, bad, what):
    p = write(tmp_path / "p.csv", LONG.replace("2024-01-04,AAA,11,11.2,10.6,10.8,900",
                                               f"2024-01-04,AAA,11,11.2,10.6,{bad},900"))
    if what is None:
        fails(p, r"p\.csv:6: close 'abc' is not a number")
    else:
        fails(p, rf"p\.csv:6: close for AAA on 2024-01-04 is {what}: prices must be positive")


def test_ohlc_inconsistent(tmp_path):
    p = write(tmp_path / "p.csv", LONG.replace("2024-01-05,BBB,21.5,21.6,20.9,21,1800",
                                               "2024-01-05,BBB,21.5,21.6,21.2,21,1800"))
    fails(p, r"p\.csv:9: OHLC inconsistent for BBB on 2024-01-05 .*need low <= open, close <= high")


def test_negative_volume(tmp_path):
    p = write(tmp_path / "p.csv", LONG.replace("2024-01-05,BBB,21.5,21.6,20.9,21,1800",
                                               "2024-01-05,BBB,21.5,21.6,20.9,21,-5"))
    fails(p, r"p\.csv:9: volume for BBB on 2024-01-05 is -5")


def test_missing_bar_fails_or_is_forward_filled(tmp_path):
    text = "\n".join(line for line in LONG.splitlines() if not line.startswith("2024-01-04,AAA")) + "\n"
    p = write(tmp_path / "p.csv", text)
    fails(p, r"p\.csv:7: AAA has no price for 1 trading day\(s\) \(2024-01-04..2024-01-04\).*"
             r"--ffill-limit 1")
    m = csv_market(p, ffill_limit=1)
    assert m.close.loc["2024-01-04", "AAA"] == 11 and m.volume.loc["2024-01-04", "AAA"] == 0
    assert m.open.loc["2024-01-04", "AAA"] == 11
    assert any("forward-filled 1 missing bar(s)" in n and "AAA 2024-01-04" in n for n in m.notes)


def test_gap_longer_than_max_gap_days(tmp_path):
    p = write(tmp_path / "p.csv", "date,ticker,close\n2024-01-02,AAA,1\n2024-01-03,AAA,1\n"
                                  "2024-01-22,AAA,1\n")
    fails(p, r"p\.csv:4: 19 calendar days with no data between 2024-01-03 and 2024-01-22 "
             r"\(more than --max-gap-days 7\)")
    assert len(csv_market(p, max_gap_days=None).dates) == 3
    assert len(csv_market(p, max_gap_days=30).dates) == 3


def test_wide_errors_name_file_and_line(tmp_path):
    d = tmp_path / "w"
    write(d / "close.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,x1,20\n")
    fails(d, r"close\.csv:3: close for AAA 'x1' is not a number")
    write(d / "close.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,11,\n")
    write(d / "open.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,11,20\n")
    write(d / "high.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,11,20\n")
    write(d / "low.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,11,20\n")
    fails(d, r"open\.csv:3: open is given for BBB on 2024-01-03 but close is missing")
    write(d / "open.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-04,11,\n")
    fails(d, r"open\.csv:3: date 2024-01-04 is not in .*close\.csv")
    write(d / "open.csv", "date,AAA,BBB\n2024-01-02,10,20\n")
    fails(d, r"open\.csv: no row for 2024-01-03")
    write(d / "open.csv", "date,AAA,CCC\n2024-01-02,10,20\n2024-01-03,11,\n")
    fails(d, r"open\.csv:1: tickers differ")
    write(d / "close.csv", "date,AAA,BBB\n2024-01-02,10,20\n2024-01-02,11,20\n")
    fails(d, r"close\.csv:3: date 2024-01-02 appears twice \(first at line 2\)")


def test_structural_errors(tmp_path):
    fails(write(tmp_path / "a.csv", ""), r"a\.csv: the file is empty")
    fails(write(tmp_path / "b.csv", "date,ticker,open,close\n2024-01-02,A,1,1\n"),
          r"has open but no high, low")
    fails(write(tmp_path / "c.csv", "date,ticker,price\n2024-01-02,A,1\n"), r"c\.csv:1: unknown column 'price'")
    fails(write(tmp_path / "d.csv", "date,ticker,close,close\n"), r"d\.csv:1: column 'close' appears twice")
    fails(write(tmp_path / "e.csv", "date,ticker,close\n2024-01-02,,1\n"), r"e\.csv:2: the ticker is empty")
    (tmp_path / "f.csv.gz").write_bytes(b"plain text, not gzip")
    fails(tmp_path / "f.csv.gz", r"f\.csv\.gz: cannot be read")
    (tmp_path / "g.csv").write_bytes(b"date,ticker,close\n2024-01-02,A,\xff\xfe\n")
    fails(tmp_path / "g.csv", r"g\.csv:\d+: not UTF-8")
    fails(tmp_path / "nope", r"no such file or folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(empty, r"no price files")


def test_attribute_errors_name_file_and_line(tmp_path):
    p = write(tmp_path / "a.csv", "ticker,profitable\nAAA,true\nBBB,maybe\n")
    with pytest.raises(SqueezeLabError, match=r"a\.csv:3: profitable 'maybe' is not true/false"):
        read_attributes(p)
    p = write(tmp_path / "b.csv", "ticker,sector\nAAA,Tech\nAAA,Energy\n")
    with pytest.raises(SqueezeLabError, match=r"b\.csv:3: ticker AAA appears twice \(first at line 2\)"):
        read_attributes(p)
    p = write(tmp_path / "c.csv", "ticker,short_interest\nAAA,25\n")
    with pytest.raises(SqueezeLabError, match=r"c\.csv:2: short_interest 25 for AAA looks like a percentage"):
        read_attributes(p)
    p = write(tmp_path / "d.csv", "ticker,shares\nAAA,-1\n")
    with pytest.raises(SqueezeLabError, match=r"d\.csv:2: shares '-1' for AAA must be a positive"):
        read_attributes(p)
    att = read_attributes(write(tmp_path / "e.csv", "ticker,sector,is_tech,score,label\n"
                                                    "AAA,,true,1.5,x\nBBB,Energy,,2,y\n"))
    assert att.loc["AAA", "sector"] == "Unknown" and str(att["is_tech"].dtype) == "boolean"
    assert att["score"].dtype == np.float64 and att.loc["BBB", "label"] == "y"


def test_attributes_missing_for_some_tickers_is_noted(tmp_path):
    d = tmp_path / "d"
    write(d / "prices.csv", LONG)
    write(d / "attributes.csv", "ticker,sector,profitable\nAAA,Technology,true\nZZZ,Energy,false\n")
    m = csv_market(d)
    assert m.attributes.loc["BBB", "sector"] == "Unknown"
    assert m.attributes["profitable"].isna().tolist() == [False, True]
    assert any("no row for 1 of 2 tickers" in n and "BBB" in n for n in m.notes)


def test_reference_file_errors(tmp_path):
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03"]).as_unit("ns")
    p = write(tmp_path / "r.csv", "date,index\n2024-01-02,100\n2024-01-03,101\n")
    with pytest.raises(SqueezeLabError, match="looks like price levels"):
        read_series(p, dates)
    p = write(tmp_path / "s.csv", "date,index\n2024-01-02,0\n")
    with pytest.raises(SqueezeLabError, match=r"no row for 2024-01-03"):
        read_series(p, dates)


# ------------------------------------------------------------------ fuzz
_cell = st.one_of(
    st.sampled_from(["", "2024-01-02", "2024-01-03", "AAA", "BBB", "1", "0", "-1", "1e400", "nan",
                     "inf", "10.5", "abc", "2024-13-01", '"', "1,2", " 5 ", "\t", "x\ny"]),
    st.text(max_size=6),
)
_row = st.lists(_cell, min_size=0, max_size=9)


_HEADERS = ["date,ticker,open,high,low,close,volume", "date,ticker,close", "date,AAA,BBB",
            "date,open,high,low,close,volume,adj_close"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), header=st.sampled_from(_HEADERS), gz=st.booleans())
def test_fuzz_reader_gives_market_or_clean_error(tmp_path_factory, data, header, gz):
    import csv
    import io

    n = header.count(",") + 1
    # mostly rows of the right width (so parsing goes deep), some of any width
    row = st.one_of(st.lists(_cell, min_size=n, max_size=n), st.lists(_cell, min_size=n, max_size=n),
                    _row)
    rows = data.draw(st.lists(row, max_size=8))
    buf = io.StringIO()
    buf.write(header + "\n")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    folder = tmp_path_factory.mktemp("fz")
    name = "prices.csv" if "ticker" in header else ("close.csv" if "AAA" in header else "ZZZ.csv")
    path = folder / (name + (".gz" if gz else ""))
    write(path, buf.getvalue())
    try:
        m = csv_market(folder, ffill_limit=data.draw(st.integers(0, 2)))
    except SqueezeLabError as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(m, Market) and m.n_names >= 1


def test_empty_columns_and_rows_are_dropped_with_a_note(tmp_path):
    d = tmp_path / "w"
    write(d / "close.csv", "date,AAA,BBB,GONE\n2024-01-01,,,\n2024-01-02,10,20,\n2024-01-03,11,21,\n")
    m = csv_market(d)
    assert list(m.tickers) == ["AAA", "BBB"] and m.dates[0] == pd.Timestamp("2024-01-02")
    assert any("dropped 1 ticker(s) with no prices in the data: GONE" in n for n in m.notes)
    assert any("dropped 1 date(s)" in n for n in m.notes)
    write(d / "close.csv", "date,AAA\n2024-01-01,\n")
    fails(d, r"no prices at all")


_SIDE_HEADERS = ["ticker,sector,profitable,beta,short_interest,days_to_cover,shares,is_tech,extra",
                 "date,ticker,shares_short,days_to_cover,float_shares",
                 "date,ticker,short_interest,publication_date", "date,AAA,BBB"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), header=st.sampled_from(_SIDE_HEADERS))
def test_fuzz_side_files_give_frames_or_clean_error(tmp_path_factory, data, header):
    import csv
    import io

    n = header.count(",") + 1
    rows = data.draw(st.lists(st.one_of(st.lists(_cell, min_size=n, max_size=n), _row), max_size=6))
    buf = io.StringIO()
    buf.write(header + "\n")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path = write(tmp_path_factory.mktemp("side") / "f.csv", buf.getvalue())
    dates = pd.DatetimeIndex(pd.bdate_range("2024-01-02", periods=30)).as_unit("ns")
    try:
        if header.startswith("ticker"):
            out = read_attributes(path)
            assert out.index.is_unique
        else:
            h = short_interest_history(path, dates, pd.Index(["AAA", "BBB"]))
            for f in (h.short_interest, h.days_to_cover):
                assert f is None or f.shape == (30, 2)
    except SqueezeLabError as err:
        assert "\n" not in str(err)
