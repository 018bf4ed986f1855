"""--book: the user's own weights (long, wide or shares) through the overlay and both engines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from squeeze_lab import run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.scenario import scenario_market
from squeeze_lab.pipeline.run import RECONCILE_TOL, reconcile
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.engine import run_backtrader
from squeeze_lab.strategies.own_book import own_book_targets, read_book_file
from squeeze_lab.strategies.twin import run_vectorized

START, END = "2025-03-03", "2026-02-27"
SMALL = ["--set", "data.n_names=60", "--start", START, "--end", END, "--quiet"]

WEIGHTS = """date,ticker,weight
2025-04-01,SYN001,0.30
2025-04-01,SYN007,0.30
2025-04-01,SYN008,0.30
2025-04-01,SYN030,-0.30
2025-04-01,SYN042,-0.30
2025-04-01,SYN025,-0.25
2025-09-02,SYN001,0.25
2025-09-02,SYN007,0.25
2025-09-02,SYN004,0.25
2025-09-02,SYN030,-0.35
2025-09-02,SYN042,-0.20
2025-09-02,SYN050,-0.20
"""


@pytest.fixture(scope="module")
def market():
    return scenario_market(seed=7, n_names=60, start=START, end=END)


def write(tmp_path: Path, text: str, name: str = "book.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_long_and_wide_files_give_the_same_targets(tmp_path, market) -> None:
    long_ = own_book_targets(market, write(tmp_path, WEIGHTS))
    wide = pd.read_csv(write(tmp_path, WEIGHTS, "l.csv")).pivot(index="date", columns="ticker",
                                                                 values="weight").fillna(0.0)
    wide_path = tmp_path / "wide.csv"
    wide.to_csv(wide_path)
    w = own_book_targets(market, wide_path)
    for leg in ("long", "short", "hedge"):
        pd.testing.assert_frame_equal(long_.legs[leg], w.legs[leg])
    # hand check: the first block
    d = pd.Timestamp("2025-04-01")
    assert long_.legs["long"].loc[d, "SYN007"] == 0.30
    assert long_.legs["short"].loc[d, "SYN025"] == -0.25
    assert long_.legs["long"].loc[d].sum() == pytest.approx(0.90)
    assert long_.legs["short"].loc[d].sum() == pytest.approx(-0.85)
    assert long_.resize.all().all()
    assert list(long_.dates.strftime("%Y-%m-%d")) == ["2025-04-01", "2025-09-02"]


def test_shares_are_weighted_at_the_signal_close_over_capital(tmp_path, market) -> None:
    p = write(tmp_path, "date,ticker,shares\n2025-04-01,SYN001,1000\n2025-04-01,SYN030,-2000\n")
    t = own_book_targets(market, p, capital=500_000.0)
    d = pd.Timestamp("2025-04-01")
    c1, c30 = market.close.loc[d, "SYN001"], market.close.loc[d, "SYN030"]
    assert t.legs["long"].loc[d, "SYN001"] == pytest.approx(1000 * c1 / 500_000)
    assert t.legs["short"].loc[d, "SYN030"] == pytest.approx(-2000 * c30 / 500_000)


def test_leg_column_puts_names_in_the_hedge_leg(tmp_path, market) -> None:
    p = write(tmp_path, "date,ticker,weight,leg\n2025-04-01,SYN001,0.2,long\n"
                        "2025-04-01,SYN030,-0.3,short\n2025-04-01,SYN042,0.05,hedge\n")
    t = own_book_targets(market, p)
    assert t.legs["hedge"].loc["2025-04-01", "SYN042"] == 0.05
    assert t.legs["long"].loc["2025-04-01", "SYN042"] == 0.0


def test_book_targets_dispatches_on_path(tmp_path, market) -> None:
    p = write(tmp_path, WEIGHTS)
    a = book_targets(market, path=str(p))
    b = own_book_targets(market, p)
    pd.testing.assert_frame_equal(a.legs["short"], b.legs["short"])


@pytest.mark.parametrize("overlay", [
    {"enabled": False},
    {"enabled": True, "threshold": 1.0, "actions": ("degross",)},
    {"enabled": True, "threshold": 1.0, "actions": ("cover_crowded", "hedge_basket")},
])
def test_own_book_reconciles_between_engines(tmp_path, market, overlay) -> None:
    p = write(tmp_path, WEIGHTS)
    params = {"book": {"path": str(p)}, "overlay": overlay, "execution": {"slippage_bps": 5.0}}
    bt_result, _ = run_backtrader(market, params)
    twin = run_vectorized(market, bt_result.targets, slippage_bps=5.0)
    rec = reconcile(bt_result.equity, twin.equity)
    assert rec["ok"] and rec["max_rel_diff"] <= RECONCILE_TOL
    held = bt_result.shares.loc["2025-04-02"]
    assert (held != 0).sum() == 6          # the six names of the first block, nothing else
    if overlay["enabled"]:
        assert len(bt_result.overlay_log) > 0  # the overlay acted on the user's book
    # the PnL path differs from cash only because of the user's positions
    assert bt_result.equity.iloc[-1] != bt_result.equity.iloc[0]


def test_cli_run_with_book_writes_provenance_and_reconciles(tmp_path) -> None:
    from squeeze_lab.tearsheet.rundir import read_run

    p = write(tmp_path, WEIGHTS)
    out = tmp_path / "runs"
    assert run_backtest.main(["run", "--book", str(p), "--name", "mine", "--out", str(out),
                              "--set", "overlay.enabled=true", *SMALL]) == 0
    run = read_run(next(out.glob("mine-*")))
    assert run.metrics["reconciliation"]["ok"] is True
    assert run.provenance["book_file"]["sha256"] == read_book_file(p).sha256
    assert run.config["book"]["path"] == str(p)
    traded = set(run.trades["ticker"])
    assert traded <= {"SYN001", "SYN007", "SYN008", "SYN030", "SYN042", "SYN025", "SYN004",
                      "SYN050"}


BAD = {
    "unknown ticker": ("date,ticker,weight\n2025-04-01,NOPE,0.1\n", "not in the market"),
    "date outside": ("date,ticker,weight\n2024-04-01,SYN001,0.1\n", "outside the data"),
    "not a session": ("date,ticker,weight\n2025-04-05,SYN001,0.1\n", "not a trading session"),
    "last session": ("date,ticker,weight\n2026-02-27,SYN001,0.1\n", "last session"),
    "unfunded": ("date,ticker,weight\n2025-04-01,SYN001,0.7\n2025-04-01,SYN002,0.5\n",
                 "cannot be funded"),
    "NaN": ("date,ticker,weight\n2025-04-01,SYN001,nan\n", "not a finite number"),
    "empty cell": ("date,ticker,weight\n2025-04-01,SYN001,\n", "not a finite number"),
    "wide NaN": ("date,SYN001,SYN002\n2025-04-01,0.1,\n", "not a finite number"),
    "percent": ("date,ticker,weight\n2025-04-01,SYN001,10\n", "not percent"),
    "bad date": ("date,ticker,weight\n04/01/2025,SYN001,0.1\n", "not YYYY-MM-DD"),
    "duplicate": ("date,ticker,weight\n2025-04-01,SYN001,0.1\n2025-04-01,SYN001,0.2\n",
                  "appears twice"),
    "no units": ("date,ticker,size\n2025-04-01,SYN001,0.1\n", "exactly one of weight, shares"),
    "no date": ("day,ticker,weight\n2025-04-01,SYN001,0.1\n", "no date column"),
    "wrong sign": ("date,ticker,weight,leg\n2025-04-01,SYN001,-0.1,long\n", "long rows are >= 0"),
    "empty": ("", "empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_book_files_fail_in_one_line(tmp_path, market, case) -> None:
    text, words = BAD[case]
    p = write(tmp_path, text)
    with pytest.raises(SqueezeLabError, match=words):
        own_book_targets(market, p)


@pytest.mark.parametrize("case", ["unknown ticker", "unfunded", "NaN", "percent"])
def test_cli_bad_book_exit_2_one_line_nothing_written(tmp_path, capsys, case) -> None:
    text, words = BAD[case]
    p = write(tmp_path, text)
    out = tmp_path / "runs"
    assert run_backtest.main(["run", "--book", str(p), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_cli_missing_book_file_fails_before_the_market(tmp_path, capsys, monkeypatch) -> None:
    from squeeze_lab.pipeline import ui as ui_mod

    monkeypatch.setattr(ui_mod.UI, "load_market", lambda *a, **k: pytest.fail("market loaded"))
    assert run_backtest.main(["run", "--book", str(tmp_path / "nope.csv"), *SMALL]) == 2
    assert "not found" in capsys.readouterr().err

