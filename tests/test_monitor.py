"""squeeze-lab monitor: the morning screen on a small scenario market, its JSON, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from squeeze_lab import run_backtest
from squeeze_lab.feeds.credit import read_credit_csv
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.monitor import percentile_of, sparkline

DEFAULT = str(Path(run_backtest.DEFAULT_CONFIG))
SMALL = ["--set", "data.n_names=100", "--set", "book.names_per_leg=20", "--set", "book.max_weight=0.1",
         "--start", "2024-01-02", "--end", "2026-03-31"]

FRED = """DATE,BAMLH0A0HYM2
2025-12-29,2.90
2025-12-30,2.88
2025-12-31,.
2026-01-02,2.85
2026-01-05,2.80
2026-01-20,2.74
2026-01-21,.
"""


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    credit = tmp / "hy.csv"
    credit.write_text(FRED)
    js = tmp / "m.json"
    code = run_backtest.main(["monitor", DEFAULT, "--asof", "2026-01-21", "--json", str(js),
                              "--credit", str(credit), "--out", str(tmp), "--quiet", *SMALL])
    assert code == 0
    return tmp, json.loads(js.read_text())


def test_json_has_the_contract_keys(screen) -> None:
    _, r = screen
    assert r["asof"] == "2026-01-21" and r["synthetic"] is True
    assert {"value", "threshold", "percentile", "overlay_on"} <= set(r["signal"])
    scores = [row["score"] for row in r["crowding"]]
    assert all("ticker" in row for row in r["crowding"])
    assert scores == sorted(scores, reverse=True)


def test_january_2026_signal_is_above_the_threshold_and_crowded_shorts_lead(screen) -> None:
    _, r = screen
    sig = r["signal"]
    assert sig["value"] > sig["threshold"] and sig["overlay_on"] is True
    assert sig["percentile"] > 90
    assert "most_shorted" in sig["basket"] and "BasketSource" not in sig["basket"]
    top = r["crowding"][:5]
    assert all(row["weight"] < 0 for row in r["crowding"])            # the book's shorts
    assert np.mean([row["short_interest"] for row in top]) > 0.2       # crowded names first
    assert any(row["si_over_25"] or row["dtc_over_5"] for row in top)


def test_credit_condition_reads_fred_missing_days(screen) -> None:
    _, r = screen
    credit = next(c for c in r["conditions"] if c["name"] == "credit_spread")
    assert credit["value"] == pytest.approx(274.0)          # 2026-01-21 is '.', 01-20 is used
    assert "2026-01-20" in credit["detail"]


def test_page_is_written_and_says_synthetic(screen) -> None:
    tmp, _ = screen
    html = (tmp / "monitor-2026-01-21.html").read_text()
    assert "SYNTHETIC" in html and "data:image/png" in html and "Crowding" in html


def test_same_inputs_same_json(screen, tmp_path) -> None:
    _, r = screen
    credit = tmp_path / "hy.csv"
    credit.write_text(FRED)
    js = tmp_path / "again.json"
    assert run_backtest.main(["monitor", DEFAULT, "--asof", "2026-01-21", "--json", str(js),
                              "--credit", str(credit), "--out", str(tmp_path), "--quiet",
                              *SMALL]) == 0
    assert json.loads(js.read_text()) == r


def test_universe_table_when_asked(tmp_path) -> None:
    js = tmp_path / "u.json"
    assert run_backtest.main(["monitor", DEFAULT, "--asof", "2026-01-21", "--universe", "--top", "7",
                              "--json", str(js), "--out", str(tmp_path), "--quiet", *SMALL]) == 0
    r = json.loads(js.read_text())
    assert len(r["crowding"]) == 7 and all(row["weight"] is None for row in r["crowding"])


@pytest.mark.parametrize("args,words", [
    (["--asof", "2030-01-02"], "outside the data"),
    (["--asof", "21/01/2026"], "not YYYY-MM-DD"),
    (["--credit", "/nonexistent/hy.csv"], "credit file"),
    (["--book", "/nonexistent/book.csv"], "book file"),
    (["--sessions", "0"], "at least 1"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, words) -> None:
    code = run_backtest.main(["monitor", DEFAULT, *args, "--out", str(tmp_path / "o"), "--quiet", *SMALL])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text,words", [
    ("DATE,BAMLH0A0HYM2\n2026-01-02,abc\n", "not a number"),
    ("DATE\n2026-01-02\n", "not DATE,SERIES"),
    ("DATE,X\n01/02/2026,3.1\n", "not YYYY-MM-DD"),
    ("DATE,X\n2026-01-02,.\n", "no values"),
    ("DATE,X\n2026-01-02,3.1\n2026-01-02,3.2\n", "appears twice"),
])
def test_credit_reader_refuses_bad_files(tmp_path, text, words) -> None:
    p = tmp_path / "c.csv"
    p.write_text(text)
    with pytest.raises(SqueezeLabError, match=words):
        read_credit_csv(p)


def test_credit_reader_percent_to_bp_and_observation_date(tmp_path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("observation_date,BAMLH0A0HYM2\n2026-01-02,3.12\n2026-01-05,.\n")
    s = read_credit_csv(p)
    assert list(s.index) == [pd.Timestamp("2026-01-02")] and s.iloc[0] == pytest.approx(312.0)


def test_percentile_and_sparkline_by_hand() -> None:
    assert percentile_of(np.array([1.0, 2.0, 3.0, np.nan, 4.0]), 3.0) == 75.0
    assert percentile_of(np.array([np.nan]), 1.0) is None
    assert sparkline(np.array([0.0, 1.0, np.nan, 0.5])) == "▁█ ▅"
