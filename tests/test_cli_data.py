"""Real data through the real CLI: every CSV shape a user brings, yfinance offline, bad inputs.

CSV cases run ``run_backtest.py`` in a subprocess; yfinance cases call ``run_backtest.main`` in
process with ``yfinance.download`` served by recorded, yfinance-shaped histories (no network).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance
from test_cli_errors import assert_one_line_error, cli

from fixtures.yfdata import FakeYahoo, history_frame
from squeeze_lab import run_backtest

#: A book and overlay that need only a few weeks of history (the defaults need a year).
SHORT = ["--set", "book.momentum_lookback=20", "--set", "book.momentum_skip=2",
         "--set", "book.vol_window=10", "--set", "book.beta_window=10",
         "--set", "book.names_per_leg=3", "--set", "book.max_weight=0.5",
         "--set", "overlay.signal_vol_window=10", "--set", "overlay.overlay_beta_window=10",
         "--quiet"]


def prices(n_names: int = 10, n_days: int = 90, seed: int = 3) -> pd.DataFrame:
    """A long-format OHLCV frame (date, ticker, open, high, low, close, volume), valid OHLC."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-02", periods=n_days)
    rows = []
    for j in range(n_names):
        close = 20.0 * (1 + j) * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n_days)))
        open_ = close * np.exp(rng.normal(0, 0.005, n_days))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n_days))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n_days))
        vol = rng.integers(10_000, 1_000_000, n_days)
        rows.append(pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "ticker": f"T{j:02d}",
                                  "open": open_, "high": high, "low": low, "close": close,
                                  "volume": vol}))
    return pd.concat(rows, ignore_index=True)


def run_ok(tmp_path: Path, data: str, *extra: str) -> dict:
    out = tmp_path / "runs"
    proc = cli("run", "--data", f"csv:{data}", "--out", str(out), "--name", "csv", *SHORT, *extra)
    assert proc.returncode == 0, proc.stderr
    (folder,) = list(out.glob("csv-*"))
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["source"] == "csv" and prov["synthetic"] is False
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["reconciliation"]["ok"] is True
    assert (folder / "tearsheet.html").stat().st_size > 10_000
    return prov


def test_long_csv(tmp_path: Path) -> None:
    f = tmp_path / "prices.csv"
    prices().to_csv(f, index=False)
    prov = run_ok(tmp_path, str(f))
    assert prov["n_names"] == 10 and prov["fill_model"] == "next_open"


def test_long_csv_gz(tmp_path: Path) -> None:
    f = tmp_path / "prices.csv.gz"
    with gzip.open(f, "wt") as fh:
        prices().to_csv(fh, index=False)
    assert run_ok(tmp_path, str(f))["n_names"] == 10


def test_folder_of_one_file_per_ticker(tmp_path: Path) -> None:
    d = tmp_path / "per_ticker"
    d.mkdir()
    for t, g in prices().groupby("ticker"):
        g.drop(columns="ticker").to_csv(d / f"{t}.csv", index=False)
    assert run_ok(tmp_path, str(d))["n_names"] == 10


def _wide(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    return frame.pivot(index="date", columns="ticker", values=field)


def test_wide_files_with_listing_and_delisting(tmp_path: Path) -> None:
    d = tmp_path / "wide"
    d.mkdir()
    p = prices()
    for field in ("open", "high", "low", "close", "volume"):
        w = _wide(p, field)
        w.iloc[:30, 0] = np.nan     # T00 lists on day 31
        w.iloc[70:, 1] = np.nan     # T01 delists after day 70
        w.to_csv(d / f"{field}.csv")
    assert run_ok(tmp_path, str(d))["n_names"] == 10


def test_close_only_says_how_fills_are_modelled(tmp_path: Path) -> None:
    d = tmp_path / "close_only"
    d.mkdir()
    _wide(prices(), "close").to_csv(d / "close.csv")
    prov = run_ok(tmp_path, str(d))
    assert prov["fill_model"] == "next_close"
    assert any("next close" in n for n in prov["notes"]), prov["notes"]


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda df: df.assign(close=df["close"].astype(object).where(df.index != 5, "abc")),
         ["prices.csv", "line"]),
        (lambda df: df.assign(close=df["close"].where(df.index != 7, np.nan)), ["prices.csv", "line"]),
        (lambda df: pd.concat([df, df.iloc[[3]]]), ["duplicate", "prices.csv"]),
        (lambda df: df.assign(date=df["date"].where(df.index != 4, "2024-13-45")),
         ["prices.csv", "date"]),
        (lambda df: df.assign(low=df["low"].where(df.index != 9, df["high"] * 2)),
         ["prices.csv", "OHLC"]),
    ],
    ids=["malformed", "nan-price", "duplicate-date", "bad-date", "ohlc"],
)
def test_bad_csv_is_one_line(tmp_path: Path, mutate, needles) -> None:
    f = tmp_path / "prices.csv"
    mutate(prices()).to_csv(f, index=False)
    proc = cli("run", "--data", f"csv:{f}", "--out", str(tmp_path / "runs"), *SHORT)
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --------------------------------------------------------------------------- yfinance, offline
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeYahoo:
    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    monkeypatch.setenv("SQUEEZE_LAB_CACHE", str(tmp_path / "cache"))
    hist = {s: history_frame(s, "2023-10-02", "2024-06-28", seed=k + 1, price=20.0 + 5 * k)
            for k, s in enumerate([*TICKERS, "SPY", "QQQ"])}
    return FakeYahoo(hist).install(monkeypatch)


def yahoo_run(tmp_path: Path, *extra: str, quiet: bool = True) -> int:
    config = tmp_path / "real.toml"
    config.write_text(
        'name = "real"\n[data]\nsource = "yahoo"\nstart = "2023-10-02"\nend = "2024-06-28"\n'
        f"tickers = {json.dumps(TICKERS)}\n"
    )
    flags = SHORT if quiet else [f for f in SHORT if f != "--quiet"]
    return run_backtest.main(["run", str(config), "--out", str(tmp_path / "runs"), *flags, *extra])


def test_yahoo_run_then_cache_hit(yahoo: FakeYahoo, tmp_path: Path, capsys) -> None:
    assert yahoo_run(tmp_path) == 0
    first = len(yahoo.calls)
    assert first >= 1
    (folder,) = list((tmp_path / "runs").glob("real-*"))
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["source"] == "yahoo" and prov["synthetic"] is False
    assert any("proxies" in n or "attributes" in n for n in prov["notes"]), prov["notes"]
    assert yahoo_run(tmp_path) == 0
    assert len(yahoo.calls) == first, "second run must be served by the cache"


def test_yahoo_unknown_ticker(yahoo: FakeYahoo, tmp_path: Path, capsys) -> None:
    del yahoo.histories["CCC"]
    assert yahoo_run(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CCC" in err and "--drop-missing" in err, err
    assert yahoo_run(tmp_path, "--drop-missing") == 0


def test_yahoo_empty_download(yahoo: FakeYahoo, tmp_path: Path, capsys) -> None:
    yahoo.histories = {}
    assert yahoo_run(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_yahoo_no_network(yahoo: FakeYahoo, tmp_path: Path, capsys) -> None:
    yahoo.raise_on_download = ConnectionError("network is unreachable")
    assert yahoo_run(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_yahoo_corrupt_cache_is_reported_and_downloaded_again(yahoo: FakeYahoo, tmp_path: Path,
                                                              capsys) -> None:
    assert yahoo_run(tmp_path) == 0
    files = sorted((tmp_path / "cache").rglob("BBB*.parquet"))
    assert files, list((tmp_path / "cache").rglob("*"))
    files[0].write_bytes(files[0].read_bytes()[:100])   # truncated
    calls = len(yahoo.calls)
    capsys.readouterr()
    assert yahoo_run(tmp_path, quiet=False) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "corrupt" in err.lower(), err
    assert len(yahoo.calls) > calls, "the corrupt file must be downloaded again"
    # ... and with the network down, the corrupt cache is an error, never silently used
    files[0].write_bytes(b"garbage")
    yahoo.raise_on_download = ConnectionError("network is unreachable")
    assert yahoo_run(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
