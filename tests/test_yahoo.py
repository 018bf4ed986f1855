"""yahoo_market through the real yfinance.download assembly, with recorded-shape histories (no network)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import yfinance
from pandas.errors import Pandas4Warning
from yfinance.exceptions import YFRateLimitError

from fixtures.yfdata import FakeYahoo, history_frame, info_dict, universe
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.yahoo import DOWNLOAD_KWARGS, split_download, yahoo_market

START, END, TODAY = "2024-01-02", "2024-03-28", "2024-07-01"


@pytest.fixture
def yahoo(monkeypatch, tmp_path):
    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    monkeypatch.delenv("SQUEEZE_LAB_CACHE", raising=False)
    return FakeYahoo(universe(3)).install(monkeypatch)


def market(tmp_path, tickers=("AAA", "BBB", "CCC"), **kw):
    kw.setdefault("today", TODAY)
    return yahoo_market(list(tickers), kw.pop("start", START), kw.pop("end", END),
                        cache_dir=tmp_path / "cache", **kw)


def yf_download(tickers, **kw):
    """The real yfinance.download; yfinance 1.7 itself warns under pandas 3.1 (inplace=...)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Pandas4Warning)
        return yfinance.download(tickers, **{**DOWNLOAD_KWARGS, **kw})


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


# ------------------------------------------------------------------ the frames yfinance builds
def test_fixture_frames_have_yfinance_17_layout(yahoo):
    several = yf_download(["BBB", "AAA"], start=START, end="2024-01-10")
    assert list(several.columns.names) == ["Price", "Ticker"]
    assert list(several.columns.get_level_values(0).unique()) == ["Close", "High", "Low", "Open", "Volume"]
    assert list(several.columns.get_level_values(1).unique()) == ["AAA", "BBB"]
    assert several.index.name == "Date" and several.index.tz is None
    assert str(several.index.dtype) == "datetime64[s]"
    single = yf_download(["AAA"], start=START, end="2024-01-10")
    assert isinstance(single.columns, pd.MultiIndex) and single.columns.nlevels == 2
    # an unknown ticker in a batch: all-NaN columns, plus the empty_df's stray "Adj Close"
    mixed = yf_download(["AAA", "ZZZ"], start=START, end="2024-01-10")
    assert ("Adj Close", "ZZZ") in mixed.columns
    assert mixed.xs("ZZZ", axis=1, level="Ticker").isna().all().all()
    alone = yf_download(["ZZZ"], start=START, end="2024-01-10")
    assert alone.empty


def test_split_download_one_several_and_single_level(yahoo):
    several = yf_download(["AAA", "BBB", "ZZZ"], start=START, end="2024-01-10")
    bars = split_download(several, ["AAA", "BBB", "ZZZ"])
    assert list(bars["AAA"].columns) == ["open", "high", "low", "close", "volume"]
    assert bars["AAA"].index.dtype == "datetime64[ns]" and bars["AAA"].index.name == "date"
    assert len(bars["AAA"]) == 6 and bars["ZZZ"].empty
    assert (bars["AAA"].dtypes == np.float64).all()
    h = history_frame("AAA", "2023-12-01", "2024-06-28", seed=1, price=50.0)
    expect = h.loc[(h.index >= pd.Timestamp(START, tz=h.index.tz))
                   & (h.index < pd.Timestamp("2024-01-10", tz=h.index.tz)), "Close"].to_numpy()
    np.testing.assert_array_equal(bars["AAA"]["close"].to_numpy(), expect)
    flat = yf_download(["AAA"], start=START, end="2024-01-10", multi_level_index=False)
    assert not isinstance(flat.columns, pd.MultiIndex)
    pd.testing.assert_frame_equal(split_download(flat, ["AAA"])["AAA"], bars["AAA"])
    assert split_download(pd.DataFrame(), ["AAA"])["AAA"].empty


# ------------------------------------------------------------------ the market
def test_yahoo_market_builds_a_validated_real_market(yahoo, tmp_path):
    m = market(tmp_path)
    assert m.source == "yahoo" and m.synthetic is False and m.fill_model == "next_open"
    assert list(m.tickers) == ["AAA", "BBB", "CCC"]
    assert m.dates.dtype == "datetime64[ns]" and m.dates.tz is None and m.dates.name == "date"
    assert m.dates[0] == pd.Timestamp(START) and m.dates[-1] == pd.Timestamp(END)
    assert np.isfinite(m.volume.to_numpy()).all()
    # one download: the universe and both ETFs, with the documented arguments, end exclusive
    assert yahoo.download_calls() == [(["AAA", "BBB", "CCC", "QQQ", "SPY"], START, "2024-03-29")]
    kw = yahoo.calls[0]["kwargs"]
    assert kw["auto_adjust"] is True and kw["group_by"] == "column" and kw["progress"] is False
    assert kw["multi_level_index"] is True and kw["threads"] is True
    spy = history_frame("SPY", "2023-12-01", "2024-06-28", seed=4, price=80.0)["Close"]
    spy.index = spy.index.tz_localize(None).astype("datetime64[ns]")
    expect = spy.loc[START:END].pct_change(fill_method=None).fillna(0.0)
    np.testing.assert_allclose(m.reference["index"].to_numpy(), expect.to_numpy(), rtol=0, atol=1e-15)
    assert {"index", "growth"} <= set(m.reference.columns)
    assert any("no attributes given" in n and "price-based proxies" in n for n in m.notes)
    assert any("most_shorted unavailable" in n for n in m.notes)
    assert m.meta["index_ticker"] == "SPY" and m.provenance()["source"] == "yahoo"


def test_progress_callback_reports_batches(yahoo, tmp_path):
    seen = []
    market(tmp_path, batch_size=2, progress=lambda w, d, t: seen.append((w, d, t)))
    assert seen[0] == ("prices", 0, 5) and seen[-1] == ("prices", 5, 5)
    assert [d for _, d, _ in seen] == [0, 2, 4, 5]
    assert len(yahoo.calls) == 3


def test_end_today_or_later_moves_to_yesterday(yahoo, tmp_path):
    m = market(tmp_path, end="2024-06-30", today="2024-05-15")
    assert m.dates[-1] == pd.Timestamp("2024-05-14")
    assert any("today's bar is not final" in n for n in m.notes)
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, start="2024-05-20", end="2024-06-30", today="2024-05-15")
    assert "after end" in one_line(err)


# ------------------------------------------------------------------ missing data is never silent
def test_unknown_ticker_in_batch_is_an_error_naming_it(yahoo, tmp_path):
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, tickers=("AAA", "NOPE", "BBB"))
    text = one_line(err)
    assert "NOPE" in text and "--drop-missing" in text and "AAA" not in text


def test_unknown_ticker_dropped_with_drop_missing(yahoo, tmp_path):
    m = market(tmp_path, tickers=("AAA", "NOPE", "BBB"), drop_missing=True)
    assert list(m.tickers) == ["AAA", "BBB"]
    assert m.meta["dropped_tickers"] == ["NOPE"]
    assert any("dropped 1 ticker" in n and "NOPE" in n for n in m.notes)


def test_unknown_ticker_alone_gives_empty_frame_error(yahoo, tmp_path):
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, tickers=("NOPE",), index=None, growth=None)
    text = one_line(err)
    assert "NOPE" in text and "unknown or delisted" in text


def test_empty_download_everything_is_one_line(yahoo, tmp_path):
    # a weekend: yfinance returns an empty frame for every ticker
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, start="2024-01-06", end="2024-01-07")
    text = one_line(err)
    assert "any of the 5 tickers" in text and "network" in text


def test_rate_limit_raised_by_download(yahoo, tmp_path):
    yahoo.raise_on_download = YFRateLimitError()
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path)
    assert "rate-limited" in one_line(err)


def test_rate_limit_inside_a_batch_is_not_taken_for_an_unknown_ticker(yahoo, tmp_path):
    # yfinance catches the per-ticker YFRateLimitError, logs it and returns NaN columns
    yahoo.errors["BBB"] = YFRateLimitError()
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, drop_missing=True)
    assert "rate-limited" in one_line(err)


def test_network_error_raised_by_download(yahoo, tmp_path):
    yahoo.raise_on_download = ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path)
    text = one_line(err)
    assert "download from Yahoo failed" in text and "ConnectionError" in text and "network" in text


def test_network_error_for_some_tickers_is_not_dropped(yahoo, tmp_path):
    yahoo.errors["CCC"] = ConnectionError("connection reset")
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, drop_missing=True)
    text = one_line(err)
    assert "CCC" in text and "retry" in text


def test_missing_index_etf_is_an_error(yahoo, tmp_path):
    del yahoo.histories["SPY"]
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, drop_missing=True)
    text = one_line(err)
    assert "index ticker SPY" in text and "--index none" in text


def test_without_etfs_the_index_is_built_from_the_universe(yahoo, tmp_path):
    m = market(tmp_path, index=None, growth="none")
    assert yahoo.download_calls()[0][0] == ["AAA", "BBB", "CCC"]
    assert "index" in m.reference.columns and "growth" not in m.reference.columns
    assert any("equal-weighted universe" in n for n in m.notes)


def test_yfinance_log_lines_do_not_reach_stderr(yahoo, tmp_path, capfd):
    logging.getLogger("yfinance").propagate = True
    market(tmp_path, tickers=("AAA", "NOPE"), drop_missing=True)
    out, errtext = capfd.readouterr()
    assert out == "" and "Failed download" not in errtext


# ------------------------------------------------------------------ bars Yahoo gets wrong
def test_bad_yahoo_bars_are_repaired_and_noted(yahoo, tmp_path):
    h = yahoo.histories["AAA"].copy()
    h.iloc[30, h.columns.get_loc("Open")] = 0.0
    h.iloc[31, h.columns.get_loc("High")] = h["Close"].iloc[31] * 0.9
    yahoo.histories["AAA"] = h
    m = market(tmp_path)
    assert any("repaired 2 Yahoo bar(s)" in n for n in m.notes)
    assert (m.low <= m.open).all().all() and (m.high >= m.close).all().all()


def test_hole_inside_listed_period_fails_or_is_filled(yahoo, tmp_path):
    h = yahoo.histories["BBB"]
    yahoo.histories["BBB"] = h.drop(h.index[40:42])
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path)
    text = one_line(err)
    assert "BBB" in text and "--ffill-limit 2" in text
    m = market(tmp_path, ffill_limit=2)
    assert any("forward-filled 2 missing bar(s)" in n for n in m.notes)
    assert m.volume["BBB"].eq(0).sum() == 2


def test_listing_inside_the_range_is_nan_before(yahoo, tmp_path):
    yahoo.histories["CCC"] = history_frame("CCC", "2024-02-01", "2024-06-28", seed=9)
    m = market(tmp_path)
    assert m.close["CCC"].loc[:"2024-01-31"].isna().all()
    assert m.close["CCC"].loc["2024-02-01":].notna().all()


# ------------------------------------------------------------------ attributes
def test_attributes_from_yahoo_info_say_they_are_not_point_in_time(yahoo, tmp_path):
    yahoo.info = {
        "AAA": info_dict("Technology", net_income=-5e8, short_pct=0.31, shares=3e9),
        "BBB": info_dict("Energy", net_income=2e9, short_pct=0.02, shares=5e9),
        "CCC": info_dict("Technology", net_income=1e9, short_pct=0.05, shares=4e9),
    }
    m = market(tmp_path, attributes="yahoo", index=None)
    att = m.attributes
    assert att.loc["AAA", "short_interest"] == 0.31 and att.loc["AAA", "shares"] == 3e9
    assert bool(att.loc["AAA", "is_tech"]) and not bool(att.loc["AAA", "profitable"])
    assert bool(att.loc["BBB", "profitable"]) and att.loc["AAA", "days_to_cover"] == 6.0
    assert any("Yahoo's current values" in n and "not point-in-time" in n for n in m.notes)
    assert {"most_shorted", "unprofitable_tech", "growth"} <= set(m.reference.columns)
    assert any("cap-weighted universe" in n for n in m.notes)
    assert sorted(yahoo.info_calls) == ["AAA", "BBB", "CCC"]
    # a second run reads the info cache and the price cache: no network at all
    yahoo.info_calls.clear()
    n_calls = len(yahoo.calls)
    market(tmp_path, attributes="yahoo", index=None)
    assert yahoo.info_calls == [] and len(yahoo.calls) == n_calls


def test_attributes_info_rate_limit_and_total_failure(yahoo, tmp_path):
    yahoo.info_errors["AAA"] = YFRateLimitError()
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, attributes="yahoo")
    assert "rate-limited" in one_line(err)
    yahoo.info_errors = {t: ConnectionError("down") for t in ("AAA", "BBB", "CCC")}
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, attributes="yahoo")
    assert "any of the 3 tickers" in one_line(err)


def test_attributes_from_csv_and_short_interest_history(yahoo, tmp_path):
    att = tmp_path / "att.csv"
    att.write_text("ticker,sector,profitable,beta,short_interest,days_to_cover,shares,is_tech\n"
                   "AAA,Technology,false,1.8,0.30,7,1e9,true\n"
                   "BBB,Energy,true,0.9,0.02,1,5e9,false\n"
                   "CCC,Technology,true,1.1,0.05,2,4e9,true\n")
    si = tmp_path / "si.csv"
    si.write_text("date,ticker,shares_short,days_to_cover\n"
                  "2024-01-12,AAA,3e8,6.5\n2024-01-12,BBB,1e8,1.0\n"
                  "2024-01-31,AAA,4e8,8.0\n")
    m = market(tmp_path, attributes=att, short_interest=si)
    # shares short without float: no % of float (shares outstanding is not float), days to cover
    assert m.short_interest is None and m.short_info.measure == "days_to_cover"
    s = m.days_to_cover["AAA"]
    # settlement 2024-01-12, the 8th session after it is 2024-01-24: unknown before, known from then
    assert s.loc[:"2024-01-23"].isna().all()
    assert s.loc["2024-01-24"] == pytest.approx(6.5)
    assert s.loc["2024-02-12"] == pytest.approx(8.0)  # 2024-01-31 + 8 sessions = 2024-02-12
    assert s.loc["2024-02-09"] == pytest.approx(6.5)
    assert m.days_to_cover["CCC"].isna().all()
    assert any("8th session after settlement" in n for n in m.notes)
    assert any("crowding is ranked by days to cover" in n for n in m.notes)


def test_bad_tickers_argument(yahoo, tmp_path):
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, tickers=(" ", ""))
    assert "no tickers" in one_line(err)
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, batch_size=0)
    assert "batch size" in one_line(err)
    with pytest.raises(SqueezeLabError) as err:
        market(tmp_path, start="")
    assert "--start and --end" in one_line(err)


def test_ticker_without_yahoo_info_is_unknown_not_invented(yahoo, tmp_path):
    yahoo.info = {"AAA": info_dict("Technology", net_income=-5e8, short_pct=0.31, shares=3e9),
                  "BBB": info_dict("Energy", net_income=2e9, short_pct=0.02, shares=5e9)}
    m = market(tmp_path, attributes="yahoo")
    assert m.attributes.loc["CCC", "sector"] == "Unknown"
    assert m.attributes["profitable"].isna().tolist() == [False, False, True]
    assert np.isnan(m.attributes.loc["CCC", "short_interest"])
    assert [n for n in m.notes if "no Yahoo info" in n] == [
        "no Yahoo info for 1 ticker(s) (e.g. CCC): their attributes are unknown"]
    # the baskets are still built, CCC left out of unprofitable tech, no cap floor without shares
    assert {"most_shorted", "unprofitable_tech"} <= set(m.reference.columns)
    assert any("unprofitable_tech" in n and "no cap floor" in n for n in m.notes)
