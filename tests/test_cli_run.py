"""End to end through the real CLI on a small scenario market: market, run, compare, study.

Runs in process (``run_backtest.main``) so a failure shows the whole story; the output must still
be what a user sees: files that parse, byte-identical metrics for the same config and seed, and a
run folder that either appears complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from squeeze_lab import run_backtest
from squeeze_lab.tearsheet.rundir import REQUIRED, read_run

SMALL = ["--set", "data.n_names=80", "--start", "2025-03-03", "--end", "2026-02-27",
         "--set", "book.momentum_lookback=42", "--set", "book.momentum_skip=5",
         "--set", "book.names_per_leg=10", "--set", "book.max_weight=0.2", "--quiet"]


def run(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "runs"
    assert run_backtest.main(["run", *args, "--out", str(out), *SMALL]) == 0
    return max(out.glob(f"{args[args.index('--name') + 1]}-*"), key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("e2e")
    book = run(tmp, "--name", "book")
    over = run(tmp, "--name", "overlay", "--set", "overlay.enabled=true",
               "--set", 'overlay.actions=["degross","hedge_basket"]')
    return tmp, book, over


def test_run_folder_is_complete_and_parses(two_runs) -> None:
    _, book, _ = two_runs
    for f in REQUIRED:
        assert (book / f).is_file(), f
    run = read_run(book)
    assert run.provenance["synthetic"] is True and run.provenance["source"] == "scenario"
    assert set(run.provenance["versions"]) >= {"python", "backtrader", "pandas", "numpy"}
    assert run.config["book"]["gross"] == 2.0 and run.config["data"]["n_names"] == 80
    for section in ("performance", "episodes", "drawdowns", "attribution", "exposures",
                    "overlay", "reconciliation"):
        assert section in run.metrics, section
    assert run.metrics["reconciliation"]["ok"] is True
    assert "jan_2026" in run.metrics["episodes"]["named"]
    eq = run.equity
    assert list(eq.columns[:2]) == ["equity", "cash"] and eq.index.is_monotonic_increasing
    assert not eq["equity"].isna().any()
    assert set(["date", "ticker", "size", "price", "commission"]) <= set(run.trades.columns)
    assert run.positions().shape[1] == run.provenance["n_names"] > 70
    html = (book / "tearsheet.html").read_text()
    assert "SYNTHETIC" in html


def test_same_config_same_seed_same_metrics_bytes(two_runs, tmp_path: Path) -> None:
    _, book, _ = two_runs
    again = run(tmp_path, "--name", "book")
    assert again.name == book.name, "same resolved config, same folder name"
    assert (again / "metrics.json").read_bytes() == (book / "metrics.json").read_bytes()
    assert (again / "equity.csv").read_bytes() == (book / "equity.csv").read_bytes()


def test_config_json_reproduces_the_run(two_runs, tmp_path: Path) -> None:
    _, _, over = two_runs
    out = tmp_path / "again"
    assert run_backtest.main(["run", str(over / "config.json"), "--out", str(out), "--quiet"]) == 0
    (again,) = list(out.iterdir())
    assert again.name == over.name
    assert (again / "metrics.json").read_bytes() == (over / "metrics.json").read_bytes()


def test_overlay_run_logs_its_decisions(two_runs) -> None:
    _, _, over = two_runs
    log = pd.read_csv(over / "overlay_log.csv")
    assert list(log.columns[:4]) == ["date", "signal", "action", "size"]
    assert len(log) > 0 and set(log["action"]) & {"degross", "hedge_basket"}
    m = json.loads((over / "metrics.json").read_text())
    assert m["overlay"]["n_decisions"] == len(log)


def test_compare_two_runs(two_runs, capsys) -> None:
    tmp, book, over = two_runs
    page = tmp / "cmp.html"
    assert run_backtest.main(["compare", str(book), str(over), "--out", str(page)]) == 0
    html = page.read_text()
    assert "overlay.enabled" in html and "book" in html and "overlay" in html
    out = capsys.readouterr().out
    assert "Sharpe" in out and str(page) in out


def test_crashed_run_leaves_nothing_compare_accepts(tmp_path: Path, monkeypatch) -> None:
    import squeeze_lab.tearsheet.rundir as rundir
    real = rundir.write_run

    def crashing(*args, **kw):
        def boom(name: str) -> None:
            if name == "trades.csv":
                raise RuntimeError("injected crash after trades.csv")
        kw["after_file"] = boom
        return real(*args, **kw)

    monkeypatch.setattr(rundir, "write_run", crashing)
    with pytest.raises(RuntimeError, match="injected"):
        run_backtest.main(["run", "--name", "crash", "--out", str(tmp_path / "runs"), *SMALL])
    leftovers = list((tmp_path / "runs").iterdir())
    assert leftovers == [], leftovers
    monkeypatch.setattr(rundir, "write_run", real)


def test_market_summary_and_export_round_trip(tmp_path: Path, capsys) -> None:
    export = tmp_path / "market_csv"
    assert run_backtest.main(["market", "--set", "data.n_names=60", "--export", str(export),
                              "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["synthetic"] is True and summary["n_names"] == 60
    assert all(t["ok"] for t in summary["targets"]), summary["targets"]
    assert (export / "prices.csv").is_file() or (export / "prices.csv.gz").is_file()
    # the exported market, read back by the csv feed, is the same market
    assert run_backtest.main(["market", "--data", f"csv:{export}", "--json"]) == 0
    back = json.loads(capsys.readouterr().out)
    assert back["source"] == "csv" and back["synthetic"] is True
    assert back["windows"] == summary["windows"]


def test_market_table_says_synthetic(capsys) -> None:
    assert run_backtest.main(["market", "--set", "data.n_names=60"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "most_shorted" in out and "jan_2026" in out


def test_help_has_examples_for_every_subcommand(capsys) -> None:
    for sub in ("market", "run", "study", "compare", "sweep"):
        with pytest.raises(SystemExit) as exit_:
            run_backtest.main([sub, "--help"])
        assert exit_.value.code == 0
        assert "examples:" in capsys.readouterr().out, sub
