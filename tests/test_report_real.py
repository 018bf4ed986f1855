"""Reporting on real prices through the real CLI: no synthetic leftovers, warm-up outside the
statistics, notes that survive --quiet, the same metrics.json bytes twice.

Data: tests/fixtures/real_2006_2010 (real Yahoo prices), minus the names with known price defects
(a real run would stop on them; that check is the feeds' and is tested there).
"""

from __future__ import annotations

import html
import json

import empyrical
import numpy as np
import pandas as pd
import pytest

from fixtures.realcli import cli, prices_without

#: Names with a documented price defect in the fixture (see its README).
DEFECTS = ("TTNP", "CHCI", "CYRX", "CYCC", "ACAD", "AXL", "HIG")
ARGS = ["--start", "2006-01-03", "--end", "2008-12-31", "--set", "book.gross=1",
        "--set", "book.neutral=dollar", "--set", "book.names_per_leg=30", "--name", "real"]
SYNTHETIC_WORDS = ("synthetic", "scenario", "calibration")


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("real")
    path = prices_without(DEFECTS, tmp / "prices.csv")
    out = {}
    for label, extra in (("loud", []), ("quiet", ["--quiet"])):
        proc = cli("run", "--data", f"csv:{path}", *ARGS, "--out", str(tmp / label), *extra,
                   timeout=600)
        assert proc.returncode == 0, proc.stderr
        (folder,) = (tmp / label).glob("real-*")
        out[label] = (proc, folder)
    return out


def test_a_real_run_never_says_synthetic(real) -> None:
    proc, folder = real["loud"]
    texts = {"stdout": proc.stdout, "stderr": proc.stderr,
             "metrics.json": (folder / "metrics.json").read_text(),
             "tearsheet.html": (folder / "tearsheet.html").read_text()}
    for where, text in texts.items():
        for word in SYNTHETIC_WORDS:
            assert word not in text.lower(), (where, word)
    assert json.loads((folder / "provenance.json").read_text())["synthetic"] is False
    assert "csv data" in proc.stdout
    # the junk-rally signal's basket source, as built: metrics.json and the tearsheet
    basket = json.loads(texts["metrics.json"])["short_interest"]["signal_basket"]["text"]
    assert basket and basket in html.unescape(texts["tearsheet.html"])
    assert "Junk-rally signal basket" in texts["tearsheet.html"]


def test_statistics_start_at_the_first_position(real) -> None:
    """Hand check from the run folder's own files: the first fill in trades.csv starts the
    measured period; Sharpe, annual return and up days are empyrical's on equity.csv from there."""
    proc, folder = real["loud"]
    m = json.loads((folder / "metrics.json").read_text())
    perf = m["performance"]
    eq = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)["equity"]
    first = pd.Timestamp(pd.read_csv(folder / "trades.csv")["date"].min())
    k = eq.index.get_loc(first)
    assert k > 200   # a year of history before the first rebalance
    assert perf["invested_from"] == first.strftime("%Y-%m-%d") == perf["start"]
    assert perf["warmup"] == {"start": "2006-01-03",
                              "end": eq.index[k - 1].strftime("%Y-%m-%d"), "sessions": k}
    assert (eq.iloc[:k] == eq.iloc[0]).all()   # nothing happens in the warm-up
    r = eq.iloc[k - 1:].pct_change().iloc[1:]   # equity.csv is rounded: compare to 1e-8
    assert perf["n_days"] == len(r) == len(eq) - k
    assert perf["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-8)
    assert perf["annual_return"] == pytest.approx(empyrical.annual_return(r), rel=1e-8)
    assert perf["hit_rate"] == pytest.approx(float((r > 0).mean()), rel=1e-8)
    whole = eq.pct_change().iloc[1:]
    assert float((whole > 0).mean()) < 0.8 * perf["hit_rate"]   # the warm-up would dilute it
    assert m["drawdowns"]["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), rel=1e-8)
    # reported as such: terminal, tearsheet
    assert f"first position {perf['invested_from']}" in proc.stdout
    assert f"{k} sessions" in proc.stdout
    page = (folder / "tearsheet.html").read_text()
    assert f"{k} sessions, 2006-01-03 to {perf['warmup']['end']}" in page
    assert "left out of every statistic" in page and "Warm-up sessions (not measured)" in page
    # no name betas in this data: the ex-ante beta (= dollar net) is not drawn
    assert m["exposures"]["beta_source"] == "none"
    assert "Beta-adj. net" not in page and "no ex-ante beta" in page


def test_quiet_keeps_the_notes_and_the_same_bytes(real) -> None:
    loud, loud_folder = real["loud"]
    quiet, quiet_folder = real["quiet"]
    assert quiet.stdout == ""
    notes = [line for line in loud.stderr.splitlines() if line.startswith("note: ")]
    assert notes and any("reference index" in n for n in notes)
    assert [line for line in quiet.stderr.splitlines() if line.startswith("note: ")] == notes
    assert (loud_folder / "metrics.json").read_bytes() == (quiet_folder / "metrics.json").read_bytes()


def test_typed_metrics_round_trip_the_file(real) -> None:
    from squeeze_lab.analyzers.metrics import Metrics

    _, folder = real["loud"]
    text = (folder / "metrics.json").read_text()
    data = json.loads(text)
    typed = Metrics.from_json(data, strict=True)
    assert json.dumps(typed.to_json(), indent=2, sort_keys=True) + "\n" == text
    assert typed.performance.warmup is not None and typed.performance.warmup.sessions > 0
    assert np.isfinite(typed.performance.sharpe_ratio)


def test_market_summary_of_real_data_has_no_calibration_targets(real, tmp_path) -> None:
    path = prices_without(DEFECTS, tmp_path / "prices.csv")
    proc = cli("market", "--data", f"csv:{path}", "--start", "2006-01-03", "--end", "2008-12-31",
               timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "real data" in proc.stdout
    for word in SYNTHETIC_WORDS:
        assert word not in (proc.stdout + proc.stderr).lower(), word
