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
