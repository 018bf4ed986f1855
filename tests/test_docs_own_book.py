"""The commands of docs/own-book.md, run as written on the default scenario market (issue 17's
acceptance: --book reconciles, monitor on 2026-01-21 is above the threshold with the most crowded
shorts first, stress replays both episodes and prints the loss distribution with and without)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from squeeze_lab import run_backtest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "own-book.md").read_text()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    (tmp / "docs" / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "examples" / "my_book.csv", tmp / "docs" / "examples")
    (tmp / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "default.toml", tmp / "configs")
    return tmp


def run(workdir, monkeypatch, capsys, line: str) -> str:
    assert f"$ {line}" in DOC, f"docs/own-book.md does not show `{line}`"
    monkeypatch.chdir(workdir)
    assert run_backtest.main(line.split()[1:]) == 0
    return capsys.readouterr().out


def test_book_run_reconciles(workdir, monkeypatch, capsys) -> None:
    out = run(workdir, monkeypatch, capsys, "squeeze-lab run configs/default.toml --book "
              "docs/examples/my_book.csv --name my-book --set overlay.enabled=true")
    assert "own book: docs/examples/my_book.csv" in out and "engines reconcile" in out
    folder = next((workdir / "runs").glob("my-book-*"))
    assert json.loads((folder / "metrics.json").read_text())["reconciliation"]["ok"] is True


def test_monitor_january_2026(workdir, monkeypatch, capsys) -> None:
    out = run(workdir, monkeypatch, capsys,
              "squeeze-lab monitor --asof 2026-01-21 --json runs/monitor.json")
    r = json.loads((workdir / "runs" / "monitor.json").read_text())
    assert r["signal"]["value"] > r["signal"]["threshold"] and r["signal"]["overlay_on"]
    top = r["crowding"][:5]
    assert all(row["weight"] < 0 and row["si_over_25"] for row in top[:3])
    assert "above" in out and top[0]["ticker"] in out


def test_stress_episodes_and_synthetic(workdir, monkeypatch, capsys) -> None:
    out = run(workdir, monkeypatch, capsys, "squeeze-lab stress --episodes jan_2026,jun_jul_2025 "
              "--synthetic 500 --out runs/stress")
    r = json.loads((workdir / "runs" / "stress" / "stress.json").read_text())
    assert set(r["replay"]) == {"jan_2026", "jun_jul_2025"}
    q = r["synthetic"]["quantiles"]
    assert q["with_overlay"]["expected_shortfall_5"] > q["without_overlay"]["expected_shortfall_5"]
    assert "without overlay" in out and "with overlay" in out and "expected shortfall 5%" in out


def test_stress_book_as_of_new_year(workdir, monkeypatch, capsys) -> None:
    out = run(workdir, monkeypatch, capsys, "squeeze-lab stress --asof 2025-12-31 --episodes jan_2026")
    assert "book as of 2025-12-01" in out and "jan_2026" in out
