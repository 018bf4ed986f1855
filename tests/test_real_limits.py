"""Real prices through the real CLI: the default study's book never runs out of cash, losses end in
a margin call instead of runaway leverage, and errors name the run.

Data: tests/fixtures/real_2006_2010 (real Yahoo prices 2006-2010), minus the names with known
price defects (a real run stops on them; that check is the feeds'). On this data, before the
account limits, the beta-neutral book asked for +1.09 net long in August 2009 (more longs than
equity plus short proceeds can pay; refused as infeasible under max_weight) and the dollar-neutral book reached
4.3x gross with no margin call.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures.realcli import cli, prices_without
from squeeze_lab.feeds.csv_feed import csv_market
from squeeze_lab.strategies.book import book_targets, limit_net

DEFECTS = ("TTNP", "CHCI", "CYRX", "CYCC")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.toml"
#: The default study's settings on this universe (81 names: 30 a leg instead of 100).
ARGS = ["--start", "2006-01-03", "--end", "2010-12-31", "--set", "book.names_per_leg=30"]


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> Path:
    return prices_without(DEFECTS, tmp_path_factory.mktemp("real_limits") / "prices.csv")


@pytest.fixture(scope="module")
def runs(prices: Path) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    out = {}
    for name, extra in (("beta", []), ("dollar", ["--set", "book.neutral=dollar"])):
        folder = prices.parent / name
        proc = cli("run", str(CONFIG), "--data", f"csv:{prices}", *ARGS, *extra,
                   "--set", "overlay.enabled=true", "--set", 'overlay.actions=["cover_crowded"]',
                   "--name", name, "--out", str(folder))
        found = list(folder.glob(f"{name}-*")) if folder.exists() else []
        out[name] = (proc, found[0] if found else folder)
    return out


def test_the_default_beta_neutral_book_runs_on_real_data_without_refusals(runs) -> None:
    proc, folder = runs["beta"]
    assert proc.returncode == 0, proc.stderr
    assert "refused" not in proc.stderr and "error" not in proc.stderr.lower()
    calls = pd.read_csv(folder / "margin_calls.csv")
    assert list(calls.columns[:3]) == ["date", "fill_date", "rule"]
    trades = pd.read_csv(folder / "trades.csv")
    eq = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)
    assert (eq["cash"] >= 0).all()   # the account never borrowed cash
    assert len(trades) > 0


def test_a_dollar_neutral_book_gets_margin_calls_not_runaway_leverage(runs) -> None:
    proc, folder = runs["dollar"]
    assert proc.returncode == 0, proc.stderr
    calls = pd.read_csv(folder / "margin_calls.csv", parse_dates=["date", "fill_date"])
    margin = calls[calls["rule"] == "max_leverage"]
    assert len(margin) >= 1 and (margin["leverage"] > 4.0).all()
    # said on stderr (notes survive --quiet)
    assert "margin call(s)" in proc.stderr and "execution.max_leverage=4" in proc.stderr
    eq = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)
    lev = eq["gross"] / eq["equity"]
    # cut back to margin_call_to at the open after each call (valued at that day's close)
    assert (lev.loc[margin["fill_date"]] < 2.5).all()
    assert lev.max() < 5.0
    trades = pd.read_csv(folder / "trades.csv", parse_dates=["date"])
    cut = trades[trades["reason"] == "margin_call"]
    assert set(cut["date"]) == set(margin["fill_date"])


def test_beta_neutral_net_is_held_at_the_net_limit_on_real_data(prices: Path) -> None:
    m = csv_market(prices, start="2006-01-03", end="2010-12-31")
    t = book_targets(m, neutral="beta", names_per_leg=30, gross=2.0)
    net = t.total().sum(axis=1)
    assert net.max() <= 1.0 + 1e-9 and net.min() >= -1.0 - 1e-9
    held = t.reasons.str.contains("net held at the net_limit 1 ")
    assert held.any() and (net[held].abs() > 1.0 - 1e-9).all()
    # without the limit the August 2009 book asked for more than 1x net long
    loose = book_targets(m, neutral="beta", names_per_leg=30, gross=2.0, net_limit=2.0,
                         max_weight=0.1)
    assert loose.total().sum(axis=1).max() > 1.0


def test_limit_net_by_hand() -> None:
    tot, acted = limit_net(np.array([1.6, 1.0, 0.2, 0.0]), 2.0, 0.9,
                           np.array([True, True, True, False]))
    np.testing.assert_allclose(tot, [1.45, 1.0, 0.55, 0.0])
    assert acted.tolist() == [True, False, True, False]


@pytest.mark.parametrize("bad, needle", [
    ("names_per_leg = 100", "names_per_leg=100"),   # refused when the market is loaded
    ("max_weight = 0.01", "max_weight=0.01"),       # refused by the book's sizing
])
def test_a_failing_study_run_is_named(tmp_path: Path, prices: Path, bad: str, needle: str) -> None:
    study = tmp_path / "study.toml"
    study.write_text(f'name = "s"\n[book]\nneutral = "beta"\n[[study.runs]]\nname = "too-much"\n'
                     f'book = {{ {bad} }}\n[[study.runs]]\nname = "fine"\n')
    proc = cli("study", str(study), "--data", f"csv:{prices}", *ARGS, "--out",
               str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (err,) = [line for line in proc.stderr.splitlines() if not line.startswith("note: ")]
    assert err.startswith("squeeze-lab study: error: run 'too-much': ") and needle in err
