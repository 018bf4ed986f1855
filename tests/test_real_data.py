"""Real prices (tests/fixtures/real_2006_2010: 85 US stocks and SPY/QQQ/IWM, 2006-2010) through the
real CLI: dates from the data, suspicious prices named, data.exclude, references from the user's
files, ticker case, the real episodes (August 2007, March-May 2009) in a real run.

``squeeze-lab market`` cases call ``run_backtest.main`` in process (the same parser, dispatch and
error handling as the script); the stop message and the real run go through a subprocess.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_cli_errors import assert_one_line_error, cli

from squeeze_lab import run_backtest
from squeeze_lab.feeds.csv_feed import csv_market
from squeeze_lab.feeds.episodes import EPISODES, parse_episode

REAL = Path(__file__).parent / "fixtures" / "real_2006_2010"
PRICES = REAL / "prices.csv.gz"
ETF = REAL / "etf_close.csv.gz"
#: The names with a one-day move of x3 or more (the README's real defects).
SUSPICIOUS = ["CHCI", "CYRX", "TTNP"]
EXCLUDE = ["--set", 'data.exclude=["TTNP","CHCI","CYRX"]']
#: 82 names fill at most 41 a leg: the default book at 20 names a leg (5% of equity each at 2x).
BOOK = ["--set", "book.names_per_leg=20"]


@pytest.fixture
def market_json(capsys):
    """``squeeze-lab market --json ARGS`` in process: the summary it prints."""
    def call(*args: str) -> dict:
        capsys.readouterr()
        rc = run_backtest.main(["market", "--json", *args])
        out, err = capsys.readouterr()
        assert rc == 0, err
        return json.loads(out)
    return call


@pytest.fixture
def market_error(capsys):
    """``squeeze-lab market ARGS`` in process, expected to stop: its one error line."""
    def call(*args: str, needles: tuple[str, ...] = ()) -> str:
        capsys.readouterr()
        rc = run_backtest.main(["market", *args])
        out, err = capsys.readouterr()
        assert rc == 2, (out, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        for needle in needles:
            assert needle.lower() in err.lower(), (needle, err)
        return err.strip()
    return call


def test_fixture_is_small_and_documented():
    assert PRICES.stat().st_size + ETF.stat().st_size < 3_000_000
    readme = (REAL / "README.md").read_text()
    for needle in ("dieperdev/yfinance-stock-data", "Unlicense", "dsturdy/Factor_Attribution"):
        assert needle in readme


def test_no_settings_drop_the_suspicious_names_and_say_so(market_json):
    s = market_json("--data", f"csv:{PRICES}")
    assert (s["start"], s["end"], s["n_names"]) == ("2006-01-03", "2010-12-31", 82)
    (note,) = [n for n in s["notes"] if "suspicious one-day moves" in n]
    assert note.startswith("excluded 3 name(s)") and all(t in note for t in SUSPICIOUS)
    assert "TTNP x16 on 2009-05-07" in note
    assert "data.suspicious=keep" in note and "data.suspicious=stop" in note


def test_stop_policy_names_the_suspicious_names_with_file_and_line():
    err = assert_one_line_error(cli("market", "--data", f"csv:{PRICES}",
                                    "--set", "data.suspicious=stop"),
                                "suspicious prices", *SUSPICIOUS, "data.exclude",
                                "data.suspicious")
    # ticker, date, move and the file:line of the row
    assert "TTNP x16 on 2009-05-07" in err and "CHCI x4.3 on 2008-07-21" in err
    assert f"{PRICES}:" in err
    line = int(err.split("TTNP x16 on 2009-05-07 (")[1].split(")")[0].rsplit(":", 1)[1])
    with gzip.open(PRICES, "rt") as fh:
        row = fh.read().splitlines()[line - 1]
    assert row.startswith("2009-05-07,TTNP,")


def test_excluded_names_run_on_the_data_own_range(market_json):
    s = market_json("--data", f"csv:{PRICES}", *EXCLUDE)
    assert (s["start"], s["end"], s["n_days"]) == ("2006-01-03", "2010-12-31", 1259)
    assert s["n_names"] == 82 and s["synthetic"] is False
    assert any("excluded 3 name(s)" in n and "TTNP" in n for n in s["notes"])
    # real data has no calibration targets, only the real episodes inside it
    assert s["targets"] == []
    assert [w["name"] for w in s["windows"]] == ["aug_2007", "mar_may_2009"]


@pytest.mark.parametrize(("policy", "n_names", "needle"),
                         [("exclude", 82, "excluded 3 name(s) with suspicious"),
                          ("keep", 85, "kept 3 name(s) with suspicious")])
def test_suspicious_policy_exclude_or_keep_is_noted(market_json, policy, n_names, needle):
    s = market_json("--data", f"csv:{PRICES}", "--set", f"data.suspicious={policy}",
                    "--start", "2006-06-01", "--end", "2009-12-31")
    assert s["n_names"] == n_names
    assert any(needle in n for n in s["notes"]), s["notes"]


def test_a_range_without_the_defect_does_not_stop(market_json):
    s = market_json("--data", f"csv:{PRICES}", "--start", "2009-06-01", "--end", "2010-06-30",
                    "--set", 'data.exclude=["CYCC"]')
    assert s["start"] == "2009-06-01" and s["n_names"] == 84


def test_explicit_range_outside_the_data_is_a_clean_error(market_error):
    market_error("--data", f"csv:{PRICES}", "--start", "2015-01-01", "--end", "2015-06-30",
                 needles=("2015-01-01", "2006-01-03..2010-12-31"))


def test_exclude_of_a_name_not_in_the_data_is_refused(market_error):
    market_error("--data", f"csv:{PRICES}", "--set", 'data.exclude=["TTNP","NOPE"]',
                 needles=("data.exclude", "NOPE"))


def test_index_from_the_etf_file_is_a_reference_never_traded(market_json):
    s = market_json("--data", f"csv:{PRICES}", *EXCLUDE, "--set",
                    f"data.reference_prices={json.dumps(str(ETF))}", "--set", "data.index=SPY",
                    "--set", "data.growth=QQQ")
    assert s["index_label"] == "SPY (from etf_close.csv.gz)"
    assert s["growth_label"] == "QQQ (from etf_close.csv.gz)"
    mm = [w for w in s["windows"] if w["name"] == "mar_may_2009"][0]
    assert mm["returns"]["index"] == pytest.approx(0.352, abs=0.002)   # the README's SPY +35.2%


def test_reference_ticker_inside_the_price_file_is_not_traded(tmp_path):
    prices = pd.read_csv(PRICES)
    prices = prices[prices.ticker.isin(["AIG", "BAC", "KEY", "HD", "COST", "A"])]
    etf = pd.read_csv(ETF).assign(open=lambda d: d.close, high=lambda d: d.close,
                                  low=lambda d: d.close, adj_close=lambda d: d.close, volume=1e6)
    both = pd.concat([prices, etf[prices.columns]], ignore_index=True)
    path = tmp_path / "with_etfs.csv"
    both.to_csv(path, index=False)
    m = csv_market(path, index_ticker="spy", growth_ticker="QQQ", exclude=["IWM"])
    assert "SPY" not in m.tickers and "QQQ" not in m.tickers and "IWM" not in m.tickers
    assert m.meta["index_label"] == "SPY (from with_etfs.csv)"
    spy = etf[etf.ticker == "SPY"].set_index("date")["close"]
    assert m.reference["index"].iloc[1] == pytest.approx(spy.iloc[1] / spy.iloc[0] - 1)


def test_missing_named_index_ticker_is_a_clean_error(market_error):
    market_error("--data", f"csv:{PRICES}", *EXCLUDE, "--set", "data.index=XYZ",
                 needles=("XYZ", "data.reference_prices"))


def test_ticker_case_is_one_name_and_a_clash_is_refused(tmp_path, market_error):
    text = ("date,ticker,close\n2024-01-02,abc,10\n2024-01-03,abc,10.5\n"
            "2024-01-02,XYZ,20\n2024-01-03,XYZ,20.5\n")
    (tmp_path / "lower.csv").write_text(text)
    assert list(csv_market(tmp_path / "lower.csv").tickers) == ["ABC", "XYZ"]
    (tmp_path / "clash.csv").write_text(text + "2024-01-04,ABC,11\n2024-01-04,XYZ,21\n")
    market_error("--data", f"csv:{tmp_path / 'clash.csv'}", needles=("'abc'", "'ABC'", "same name"))


def test_real_episodes_are_in_the_registry_with_sources():
    for name, window, source in (("aug_2007", ("2007-08-06", "2007-08-10"), "Khandani"),
                                 ("mar_may_2009", ("2009-03-09", "2009-05-29"), "Moskowitz"),
                                 ("jan_2021", ("2021-01-04", "2021-02-12"), "SEC"),
                                 ("sep_2025", ("2025-09-02", "2025-10-03"), "Goldman")):
        ep = EPISODES[name]
        assert (str(ep.start.date()), str(ep.end.date())) == window
        assert source in ep.description and "scenario" not in ep.description.lower()
        assert parse_episode(name) == ep


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """One real run of the default book on the fixture, the ETF file giving the index."""
    out = tmp_path_factory.mktemp("real") / "runs"
    proc = cli("run", "--data", f"csv:{PRICES}", *EXCLUDE, *BOOK, "--set",
               f"data.reference_prices={json.dumps(str(ETF))}", "--set", "data.index=SPY",
               "--out", str(out), "--name", "real", "--quiet")
    assert proc.returncode == 0, proc.stderr
    (folder,) = list(out.glob("real-*"))
    return folder


def test_real_run_analyzes_the_real_episodes_and_says_what_the_index_is(real_run):
    prov = json.loads((real_run / "provenance.json").read_text())
    metrics = json.loads((real_run / "metrics.json").read_text())
    assert prov["synthetic"] is False and prov["start"] == "2006-01-03"
    assert prov["index_label"] == "SPY (from etf_close.csv.gz)"
    named = metrics["episodes"]["named"]
    assert {"aug_2007", "mar_may_2009"} <= set(named)
    assert not {"jun_jul_2025", "jan_2026", "jan_2021", "sep_2025"} & set(named)
    assert metrics["reconciliation"]["ok"] is True


def test_attributes_yahoo_with_csv_prices(tmp_path, monkeypatch, market_error):
    """The command line refuses it in one line (before any work); the library reads Yahoo's info
    for the CSV's tickers."""
    import yfinance

    from fixtures.yfdata import FakeYahoo, info_dict

    market_error("--data", f"csv:{PRICES}", "--attributes", "yahoo",
                 needles=("--attributes yahoo", "--data yahoo"))
    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    fake = FakeYahoo({}).install(monkeypatch)
    fake.info = {"AIG": info_dict("Financial Services", net_income=-9e9, short_pct=0.04,
                                  shares=2.7e9)}
    path = tmp_path / "few.csv"
    prices = pd.read_csv(PRICES)
    prices[prices.ticker.isin(["AIG", "HD"])].to_csv(path, index=False)
    m = csv_market(path, attributes="yahoo", cache_dir=tmp_path / "cache")
    assert sorted(fake.info_calls) == ["AIG", "HD"] and list(m.tickers) == ["AIG", "HD"]
    assert m.attributes.loc["AIG", "shares"] == 2.7e9
    assert any("not point-in-time" in n for n in m.notes)


def test_prices_too_high_for_whole_shares_are_named_before_the_run(tmp_path):
    # CYCC trades near $67,000 and TTNP near $16,000: one share is more than a position of a
    # $1M book with 20 names a leg ($50,000) when shares are whole
    proc = cli("run", "--data", f"csv:{PRICES}", *EXCLUDE, *BOOK, "--set",
               "execution.fractional=false", "--set", "data.suspicious=stop",
               "--out", str(tmp_path / "runs"), "--quiet")
    # the data's notes come first (they survive --quiet), then one error line
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert all(line.startswith("note: ") for line in proc.stderr.strip().splitlines()[:-1])
    for needle in ("share granularity", "CYCC", "execution.fractional", "data.exclude"):
        assert needle in err, err
    assert "TTNP" not in err          # already excluded
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_yahoo_names_a_relisting_and_honours_exclude(tmp_path, monkeypatch):
    """The same panel validation on Yahoo's bars: a x258 re-listing stops the run by name;
    data.exclude (any case) or data.suspicious=exclude drop it, noted."""
    import yfinance

    from fixtures.yfdata import FakeYahoo, universe
    from squeeze_lab.feeds.errors import SqueezeLabError
    from squeeze_lab.feeds.yahoo import yahoo_market

    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    hist = universe(3)
    bbb = hist["BBB"]
    jump = bbb.index >= bbb.index[40]
    bbb.loc[jump, ["Open", "High", "Low", "Close"]] *= 258.0   # a bankruptcy re-listing
    FakeYahoo(hist).install(monkeypatch)

    def market(**kw):
        return yahoo_market(["AAA", "BBB", "CCC"], "2024-01-02", "2024-03-28", today="2024-07-01",
                            cache_dir=tmp_path / "cache", **kw)

    with pytest.raises(SqueezeLabError) as err:
        market()
    assert re.search(r"BBB x2[56]\d on 2024-01-26 \(Yahoo data for BBB\)", str(err.value))
    m = market(exclude=["bbb"])
    assert list(m.tickers) == ["AAA", "CCC"]
    assert any("excluded 1 name(s)" in n and "BBB" in n for n in m.notes)
    m = market(suspicious="exclude")
    assert list(m.tickers) == ["AAA", "CCC"]
    with pytest.raises(SqueezeLabError, match="data.exclude names ZZZ"):
        market(exclude=["ZZZ"])
