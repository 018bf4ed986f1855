"""What a user running the CLI on real prices sees: the test data slice
(tests/fixtures/real_2006_2010), short windows around its episodes, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.realcli import PRICES
from squeeze_lab import run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.config import resolve_config

#: Around the August 2007 quant quake, with a warm-up (book.beta_window=126) that ends after it.
AUG_2007 = ["--data", f"csv:{PRICES}", "--start", "2007-03-01", "--end", "2007-09-28",
            "--set", "book.momentum_lookback=60", "--set", "book.momentum_skip=5",
            "--set", "book.names_per_leg=20", "--quiet"]


def main(capsys, *args: str) -> tuple[int, str]:
    try:
        code = run_backtest.main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_a_builtin_episode_is_named_by_its_name() -> None:
    config = resolve_config({"analysis": {"episodes": ["aug_2007"]}})
    assert config["analysis"]["episodes"] == ("aug_2007:2007-08-06:2007-08-10",)
    with pytest.raises(SqueezeLabError, match="nor a built-in episode .*aug_2007"):
        resolve_config({"analysis": {"episodes": ["aug_2070"]}})


def test_an_episode_in_the_warm_up_is_said_not_dropped_silently(tmp_path: Path, capsys) -> None:
    code, err = main(capsys, "run", *AUG_2007, "--episode", "aug_2007", "--name", "quake",
                     "--out", str(tmp_path))
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if "aug_2007" in x]
    assert line.startswith("note: quake: episode aug_2007 (2007-08-06..2007-08-10) is not analyzed")
    assert "warm-up" in line and "2007-09-05" in line and "book.beta_window" in line
    assert ("note: quake: the statistics cover only 18 sessions (2007-09-05..2007-09-28): "
            "annualized figures") in err
    (folder,) = tmp_path.glob("quake-*")
    config = json.loads((folder / "config.json").read_text())
    assert config["analysis"]["episodes"] == ["aug_2007:2007-08-06:2007-08-10"]


def test_a_data_folder_says_which_csv_files_it_did_not_read(tmp_path: Path) -> None:
    import pandas as pd

    from squeeze_lab.feeds.csv_feed import csv_market

    prices = pd.read_csv(PRICES, nrows=4000)
    prices = prices[prices["ticker"].isin(prices["ticker"].unique()[:3])]
    prices.to_csv(tmp_path / "prices.csv.gz", index=False)
    etf = prices[["date"]].drop_duplicates().assign(ticker="SPY", close=100.0)
    etf.to_csv(tmp_path / "etf_close.csv.gz", index=False)
    notes = [n for n in csv_market(tmp_path, suspicious="keep").notes if "not read" in n]
    assert len(notes) == 1 and "read prices.csv.gz; not read: etf_close.csv.gz" in notes[0]
    assert "data.reference_prices" in notes[0]
    (tmp_path / "etf_close.csv.gz").unlink()
    assert not [n for n in csv_market(tmp_path, suspicious="keep").notes if "not read" in n]


def test_monitor_as_of_a_past_day_reads_nothing_after_it(tmp_path: Path, capsys) -> None:
    # TTNP's x16 re-listing is on 2009-05-07: as of March 2009 it is an ordinary name
    code, err = main(capsys, "monitor", "--data", f"csv:{PRICES}", "--asof", "2009-03-21",
                     "--set", "book.names_per_leg=30", "--out", str(tmp_path),
                     "--json", str(tmp_path / "m.json"), "--quiet")
    assert code == 0, err
    assert "2009-05-07" not in err and "TTNP" not in err, err
    assert "--asof 2009-03-21 is not a session: reporting as of 2009-03-20" in err
    assert json.loads((tmp_path / "m.json").read_text())["asof"].startswith("2009-03-20")
    code, err = main(capsys, "monitor", "--data", f"csv:{PRICES}", "--asof", "2005-01-03",
                     "--out", str(tmp_path), "--quiet")
    assert code == 2 and err.strip().splitlines() == [
        "squeeze-lab monitor: error: --asof 2005-01-03 is outside the data (2006-01-03..2010-12-31): "
        "pick a date inside it"], err


def test_market_of_real_data_names_no_seed(capsys) -> None:
    assert run_backtest.main(["market", "--data", f"csv:{PRICES}", "--start", "2009-01-02"]) == 0
    out = capsys.readouterr().out
    assert "real data market: source=csv 2009-01-02..2010-12-31" in out and "seed" not in out, out


def test_compare_says_when_runs_use_different_data_or_indexes() -> None:
    from types import SimpleNamespace

    from squeeze_lab.tearsheet.comparison_page import different_data_note

    def run(**prov):
        return SimpleNamespace(provenance={"source": "csv", "synthetic": False, "seed": None,
                                           "path": "prices.csv.gz",
                                           "index_label": "SPY (from etf_close.csv.gz)", **prov})

    assert different_data_note([run(), run()], ["a", "b"]) == ""
    note = different_data_note([run(), run(index_label="equal-weighted universe")], ["a", "b"])
    assert note == ("Alpha, beta and the rows against the index use different indexes "
                    "(a: SPY (from etf_close.csv.gz); b: equal-weighted universe).")
    note = different_data_note([run(), run(path="other.csv")], ["a", "b"])
    assert note == "The runs are on different data (a: csv prices.csv.gz; b: csv other.csv)."
    note = different_data_note([run(), run(source="scenario", synthetic=True, seed=7, path=None)],
                               ["a", "b"])
    assert note.startswith("SYNTHETIC and real runs side by side (a: real; b: SYNTHETIC).")


def test_a_missing_growth_ticker_is_not_said_to_be_built_then_unavailable() -> None:
    from squeeze_lab.feeds.csv_feed import csv_market

    notes = csv_market(PRICES, end="2006-12-29", suspicious="keep", index_ticker="SPY",
                       growth_ticker="QQQ", optional_references=("index", "growth")).notes
    growth = [n for n in notes if n.startswith("reference growth")]
    assert growth == ["reference growth: no QQQ in the data (give it with data.reference_prices): "
                      "the universe stands in where it can (said below)",
                      "reference growth unavailable: no growth ticker and no is_tech names"], notes


def test_every_excluded_name_gets_its_reason() -> None:
    import pandas as pd

    from squeeze_lab.feeds.panel import Suspicious, screen_suspicious

    day = pd.Timestamp("2009-05-07")
    found = [Suspicious("AAA", day, "x4", "jump", "f:1"), Suspicious("AAA", day, "/4", "jump", "f:2"),
             Suspicious("BBB", day, "x3", "jump", "f:3"), Suspicious("CCC", day, "x5", "jump", "f:4"),
             Suspicious("DDD", day, "/2", "spike", "f:5")]
    close = pd.DataFrame(1.0, index=[day], columns=["AAA", "BBB", "CCC", "DDD", "EEE"])
    notes: list[str] = []
    out = screen_suspicious({"close": close}, found, "exclude", "f", notes)
    assert list(out["close"].columns) == ["EEE"]
    assert ("(e.g. AAA x4 on 2009-05-07 (f:1); BBB x3 on 2009-05-07 (f:3); CCC x5 on 2009-05-07 "
            "(f:4); DDD /2 on 2009-05-07 (f:5))") in notes[0], notes


@pytest.mark.parametrize("asof, why", [
    ("2009-02-30", "--asof '2009-02-30' is not a calendar date (day is out of range for month)"),
    ("20090320", "--asof '20090320' is not YYYY-MM-DD: write e.g. --asof 2026-01-21"),
])
def test_a_bad_asof_says_what_is_wrong(capsys, asof: str, why: str) -> None:
    code, err = main(capsys, "monitor", "--data", f"csv:{PRICES}", "--asof", asof)
    assert code == 2 and err.startswith(f"squeeze-lab monitor: error: {why}"), err
    assert len(err.splitlines()) == 1


#: Up to the middle of the March-May 2009 junk rally.
TO_APRIL_2009 = ["--data", f"csv:{PRICES}", "--start", "2008-06-02", "--end", "2009-04-15",
                 "--set", "book.momentum_lookback=60", "--set", "book.momentum_skip=5",
                 "--set", "book.names_per_leg=20", "--quiet"]


def test_an_episode_the_data_cuts_is_said(tmp_path: Path, capsys) -> None:
    code, err = main(capsys, "run", *TO_APRIL_2009, "--name", "apr", "--out", str(tmp_path))
    assert code == 0, err
    assert ("note: apr: built-in episode mar_may_2009 (2009-03-09..2009-05-29) is only partly "
            "inside the data (2008-06-02..2009-04-15), so it is not analyzed: --episode "
            "mar_may_2009 measures the part inside") in err, err
    code, err = main(capsys, "run", *TO_APRIL_2009, "--episode", "mar_may_2009", "--name", "apr2",
                     "--out", str(tmp_path))
    assert code == 0, err
    assert ("note: apr2: episode mar_may_2009 (2009-03-09..2009-05-29) is measured over "
            "2009-03-09..2009-04-15 only (27 sessions)") in err, err
    assert "partly inside" not in err


def test_a_book_naming_a_dropped_name_is_told_why(tmp_path: Path, capsys) -> None:
    book = tmp_path / "book.csv"
    book.write_text("date,ticker,weight\n2009-03-02,TTNP,-0.1\n2009-03-02,COST,0.1\n")
    code, err = main(capsys, "run", "--data", f"csv:{PRICES}", "--start", "2008-01-02",
                     "--book", str(book), "--out", str(tmp_path / "runs"), "--quiet")
    assert code == 2
    assert (f"error: run 'run': book file {book}: TTNP is in the data but was dropped from the "
            "universe (excluded 2 name(s) with suspicious one-day moves (data.suspicious=exclude))"
            ) in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("asof, held", [("2009-03-20", "2009-03-02"), ("2009-04-01", "2009-04-01")])
def test_monitor_of_an_own_book_as_of_a_past_day(tmp_path: Path, capsys, asof: str,
                                                  held: str) -> None:
    # the file goes on after asof, and may have a block on asof itself: neither is an error
    rows = [f"{d},{t},{w}" for d in ("2009-03-02", "2009-04-01", "2010-06-01")
            for t, w in (("COST", 0.2), ("MKC", 0.2), ("BAC", -0.15), ("C", -0.15))]
    book = tmp_path / "book.csv"
    book.write_text("date,ticker,weight\n" + "\n".join(rows) + "\n")
    code, err = main(capsys, "monitor", "--data", f"csv:{PRICES}", "--asof", asof, "--book",
                     str(book), "--out", str(tmp_path), "--json", str(tmp_path / "m.json"),
                     "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["book_date"].startswith(held)
    assert {r["ticker"] for r in report["crowding"]} == {"BAC", "C"}


def test_compare_given_the_runs_folder_says_to_pass_the_runs(tmp_path: Path, capsys) -> None:
    for name in ("book-1a2b3c4d", "degross-5e6f7a8b"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "metrics.json").write_text("{}")
    code, err = main(capsys, "compare", str(tmp_path / "runs"))
    assert code == 2 and err == (
        f"squeeze-lab compare: error: {tmp_path / 'runs'} is a folder of 2 run(s) (book-1a2b3c4d, "
        f"degross-5e6f7a8b), not a run: pass the runs, e.g. {tmp_path / 'runs'}/*/\n")
