"""Short interest through the real CLI (``run_backtest.main`` in process), one test per defect.

Issue 16: FINRA's files were not read; names without short interest were dropped from the scored
universe (then "raise max_weight"); "top 50 by short interest" was said with 5 names of data; old
short interest was carried on without a word; short interest dated after the data made an empty
basket whose signal was minus the index; percentages were taken for fractions.
The market: 16 names (the 6 of the FINRA fixture that trade, BRK-B spelled as Yahoo does, and 10
others), November 2020 to March 2021 on the NYSE calendar of those months.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from squeeze_lab import run_backtest

FINRA = Path(__file__).parent / "fixtures" / "finra"
NAMES = ["AAPL", "AMC", "BB", "BRK-B", "GME", "KOSS"] + [f"T{i:02d}" for i in range(10)]
#: A book and overlay that need only a few weeks of history; 5 names a leg at 20% each.
SHORT = ["--set", "book.momentum_lookback=20", "--set", "book.momentum_skip=2",
         "--set", "book.vol_window=10", "--set", "book.beta_window=10",
         "--set", "book.names_per_leg=5", "--set", "book.max_weight=0.2",
         "--set", "overlay.signal_vol_window=10", "--set", "overlay.overlay_beta_window=10",
         "--set", "analysis.reconcile=false"]


def sessions(end: str = "2021-03-31") -> pd.DatetimeIndex:
    d = pd.bdate_range("2020-11-02", end)
    return d[~d.isin(pd.DatetimeIndex(["2020-11-26", "2020-12-25", "2021-01-01", "2021-01-18",
                                       "2021-02-15"]))]


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> Path:
    """Long OHLCV CSV, valid OHLC, seeded random walks."""
    rng = np.random.default_rng(16)
    days = sessions()
    rows = []
    for j, t in enumerate(NAMES):
        close = 10.0 * (1 + j) * np.exp(np.cumsum(rng.normal(0.0005, 0.025, len(days))))
        open_ = close * np.exp(rng.normal(0, 0.005, len(days)))
        rows.append(pd.DataFrame({
            "date": days.strftime("%Y-%m-%d"), "ticker": t, "open": open_,
            "high": np.maximum(open_, close) * 1.005, "low": np.minimum(open_, close) * 0.995,
            "close": close, "volume": rng.integers(100_000, 5_000_000, len(days))}))
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    pd.concat(rows, ignore_index=True).to_csv(path, index=False)
    return path


def run(tmp_path: Path, prices: Path, *extra: str) -> tuple[int, Path | None]:
    out = tmp_path / "runs"
    code = run_backtest.main(["run", "--data", f"csv:{prices}", "--out", str(out), "--name", "si",
                              "--start", "2020-11-02", "--end", "2021-03-31", *SHORT, *extra])
    folders = list(out.glob("si-*")) if out.exists() else []
    return code, (folders[0] if folders else None)


@pytest.fixture(scope="module")
def finra_run(tmp_path_factory, prices) -> tuple[Path, str]:
    """One run on the FINRA fixture folder: its folder and its stderr (wrapping undone)."""
    buf = io.StringIO()
    with redirect_stderr(buf):
        code, folder = run(tmp_path_factory.mktemp("finra"), prices,
                           "--set", f"data.short_interest={json.dumps(str(FINRA))}")
    err = " ".join(buf.getvalue().split())   # the terminal wraps long notes
    assert code == 0, err
    return folder, err


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_finra_folder_run_states_coverage_basket_and_staleness(finra_run):
    folder, err = finra_run
    si = json.loads((folder / "metrics.json").read_text())["short_interest"]
    # true coverage: 6 of 16 names (EXPR is not in the data; BRK.B matched BRK-B)
    assert si["coverage"]["covered"] == 6 and si["coverage"]["n_names"] == 16
    assert si["coverage"]["text"].startswith("short interest for 6 of 16 names (days to cover")
    # the basket actually built, as data: asked for 50, got at most 6, by days to cover
    b = si["signal_basket"]
    assert (b["kind"], b["requested"], b["built_max"]) == ("days_to_cover", 50, 6)
    assert "top 50 by days to cover" in b["text"] and "built with" in b["text"]
    assert si["file"]["format"] == "finra" and si["file"]["last_settlement"] == "2021-01-29"
    # said on the terminal: coverage, the ranking by days to cover, the basket, the stale cut
    assert "note: short interest for 6 of 16 names" in err
    assert "crowding is ranked by days to cover" in err
    assert "junk-rally signal basket: top 50 by days to cover" in err
    assert "short interest is stale from 2021-03-16: the last settlement is 2021-01-29" in err


def test_names_without_short_interest_keep_their_score(finra_run):
    """With 6 names of short interest, 5 shorts at 20% used to be impossible (raise max_weight)."""
    folder, _ = finra_run
    trades = pd.read_csv(folder / "trades.csv")
    shorted = set(trades.loc[trades["size"] < 0, "ticker"])
    assert shorted - {"AAPL", "AMC", "BB", "BRK-B", "GME", "KOSS"}, shorted


def test_signal_is_not_minus_the_index_before_short_interest_is_known(finra_run):
    folder, _ = finra_run
    eq = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)
    # the first report is known on 2021-01-28, the basket formed at the next rebalance close:
    # before that there is no basket and no signal (it used to be minus the index)
    assert eq["junk_signal"].loc[:"2021-01-29"].isna().all()
    assert eq["junk_signal"].notna().any()


def test_short_interest_dated_after_the_data_is_refused(tmp_path, prices, capsys):
    code, _ = run(tmp_path, prices, "--end", "2020-12-31",
                  "--set", f"data.short_interest={json.dumps(str(FINRA))}")
    assert code == 2
    err = one_line_error(capsys)
    # the CSV feed reads only the run's dates, so the feed itself refuses it
    assert "dated after the" in err and "2021-01-15..2021-01-29" in err, err
    assert "2020-11-02..2020-12-31" in err, err


def test_short_interest_in_percent_is_refused_with_a_hint(tmp_path, prices, capsys):
    p = tmp_path / "si.csv"
    p.write_text("date,ticker,short_interest,days_to_cover\n2021-01-15,GME,139.5,2.4\n"
                 "2021-01-15,AMC,21.3,1.1\n2021-01-15,KOSS,7.8,0.9\n")
    code, _ = run(tmp_path, prices, "--set", f"data.short_interest={json.dumps(str(p))}")
    assert code == 2
    err = one_line_error(capsys)
    assert "si.csv:2: short_interest 139.5 for GME looks like a percentage" in err
    assert "divide the column by 100" in err


def test_no_short_interest_says_so(tmp_path, prices, capsys):
    code, folder = run(tmp_path, prices)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    si = json.loads((folder / "metrics.json").read_text())["short_interest"]
    assert si["coverage"]["text"] == "no short interest for any of 16 names"
    assert si["signal_basket"]["kind"] == "junk_proxy" and si["file"] is None
    assert "junk-rally signal basket: no short-interest data: top 50 by junk score" in err
