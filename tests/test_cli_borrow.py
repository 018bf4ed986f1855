"""Borrow through the real CLI: a fee file that makes one short cost 100% a year for a month, a
locate limit that forces a recall, and bad fee files (one line, exit 2)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli_errors import assert_one_line_error, cli

from squeeze_lab.pipeline.config import load_market, resolve_config
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.twin import run_vectorized

#: A small run that trades (the book needs a year of history first) and holds jun_jul_2025.
SMALL = ["--set", "data.n_names=60", "--set", "book.names_per_leg=20", "--start", "2024-01-02",
         "--end", "2025-08-29"]


@cache
def small():
    """The SMALL run's market and its book's flat-borrow result (to pick a name it shorts)."""
    cfg = resolve_config({"data": {"n_names": 60, "start": "2024-01-02", "end": "2025-08-29"},
                          "book": {"names_per_leg": 20}})
    market = load_market(cfg["data"])
    result = run_vectorized(market, book_targets(market, **cfg["book"]), **cfg["execution"])
    return market, result


def shorted_for_a_month(market, result):
    sh = result.shares
    for t in sh.columns:
        s = sh[t].to_numpy() < 0
        for a in range(len(s) - 25):
            if s[a:a + 25].all():
                return str(t), market.dates[a + 2], market.dates[a + 22]
    raise AssertionError("the small book shorts no name for a month")


def run_folder(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


def test_a_month_at_10000_bps_is_fee_x_value_x_days_over_360(tmp_path: Path) -> None:
    market, flat = small()
    name, start, end = shorted_for_a_month(market, flat)
    fees = tmp_path / "fees.csv"
    days = pd.bdate_range(start, end)
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "ticker": name,
                  "fee_bps": 10_000}).to_csv(fees, index=False)
    out = tmp_path / "runs"
    proc = cli("run", *SMALL, "--out", str(out), "--set", "execution.borrow_model=file",
               "--set", f"data.borrow={fees}")
    assert proc.returncode == 0, proc.stderr
    assert "borrow" in proc.stdout  # the episode table's borrow column
    assert "tickers have no row: they pay execution.borrow_bps" in proc.stderr  # a note
    folder = run_folder(out)
    table = pd.read_csv(folder / "borrow.csv", parse_dates=["date", "held_from"])
    assert list(table.columns[:5]) == ["date", "ticker", "shares_short", "fee_bps", "cost"]
    rows = table[(table["ticker"] == name) & (table["held_from"] >= start)
                 & (table["held_from"] <= end)]
    assert len(rows) >= 19 and (rows["fee_bps"] == 10_000).all()
    value = rows["shares_short"].to_numpy() * market.close[name].reindex(rows["held_from"]).to_numpy()
    np.testing.assert_allclose(rows["cost"], 1.0 * value * rows["days"] / 360.0, rtol=1e-9, atol=0)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["reconciliation"]["ok"]
    b = metrics["attribution"]["borrow"]
    assert b["model"] == "file" and b["by_name"][0]["ticker"] == name
    ep = metrics["episodes"]["named"]["jun_jul_2025"]["legs"]["borrow"]
    assert ep == pytest.approx(-b["episodes"]["jun_jul_2025"]["fraction"], rel=1e-9)
    # the run's daily borrow equals borrow.csv summed per day
    eq = pd.read_csv(folder / "equity.csv", parse_dates=["date"]).set_index("date")
    if "pnl_borrow" in eq:
        per_day = table.groupby("date")["cost"].sum().reindex(eq.index, fill_value=0.0)
        np.testing.assert_allclose(-eq["pnl_borrow"], per_day, rtol=1e-6, atol=1e-6)
    html = (folder / "tearsheet.html").read_text()
    assert "Borrow per episode" in html and "Most expensive shorts" in html


def test_available_shares_below_the_position_is_recalled_and_said(tmp_path: Path) -> None:
    market, flat = small()
    name, start, _ = shorted_for_a_month(market, flat)
    held = -flat.shares[name].loc[start]
    fees = tmp_path / "fees.csv"
    pd.DataFrame({"date": [start.strftime("%Y-%m-%d")], "ticker": [name], "fee_bps": [300],
                  "available_shares": [int(held // 4)]}).to_csv(fees, index=False)
    out = tmp_path / "runs"
    proc = cli("run", *SMALL, "--out", str(out), "--quiet", "--set", "execution.borrow_model=file",
               "--set", f"data.borrow={fees}")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(out)
    events = pd.read_csv(folder / "borrow_events.csv")
    first = events.iloc[0]
    assert first["ticker"] == name and first["event"] == "recall"
    assert first["date"] == start.strftime("%Y-%m-%d")
    assert first["shares_available"] == held // 4
    trades = pd.read_csv(folder / "trades.csv")
    buy = trades[(trades["date"] == first["fill_date"]) & (trades["ticker"] == name)]
    assert buy["reason"].str.contains("recall").all() and (buy["size"] > 0).all()
    prov = json.loads((folder / "provenance.json").read_text())
    assert any("recall" in n and name in n for n in prov["notes"])


def test_docs_cover_expensive_command(tmp_path: Path) -> None:
    """docs/borrow.md's crowding + cover_expensive command, on the small market."""
    out = tmp_path / "runs"
    proc = cli("run", "--set", "execution.borrow_model=crowding", "--set", "overlay.enabled=true",
               "--set", 'overlay.actions=["cover_expensive"]', *SMALL, "--out", str(out),
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(out)
    log = pd.read_csv(folder / "overlay_log.csv")
    assert "cover_expensive" in set(log["action"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["reconciliation"]["ok"] and metrics["attribution"]["borrow"]["model"] == "crowding"


# (every other bad fee file is checked on the reader itself: tests/test_borrow.py)
@pytest.mark.parametrize(("rows", "sets", "needles"), [
    ("2025-06-02,{t},-5\n", ["execution.borrow_model=file"], ["fee_bps -5 is negative"]),
    ("2025-06-02,{t},25\n", [], ["data.borrow is given", "borrow_model"]),
])
def test_bad_fee_files_are_one_line(tmp_path: Path, rows: str, sets: list[str],
                                     needles: list[str]) -> None:
    market, _ = small()
    fees = tmp_path / "fees.csv"
    fees.write_text("date,ticker,fee_bps\n" + rows.format(t=market.tickers[0]))
    out = tmp_path / "runs"
    args = [a for s in sets for a in ("--set", s)]
    proc = cli("run", *SMALL, "--out", str(out), "--quiet", *args, "--set", f"data.borrow={fees}")
    assert_one_line_error(proc, *needles)
    assert not out.exists() or not any(out.iterdir())


def test_file_model_without_a_file_is_one_line(tmp_path: Path) -> None:
    proc = cli("run", *SMALL, "--out", str(tmp_path), "--quiet",
               "--set", "execution.borrow_model=file")
    assert_one_line_error(proc, "needs data.borrow")
