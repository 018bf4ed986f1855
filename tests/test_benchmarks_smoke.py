"""Smoke test of the benchmark cases on a tiny market: the engines hold the same book.

Runs the case functions of benchmarks/cases.py in-process (N=8 names, T=320 bars) and checks the
final values agree; no wall-clock assertions. The report helpers are checked on made-up timings.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from squeeze_lab.strategies.signals import cross_sectional_zscore

ROOT = Path(__file__).resolve().parent.parent


def _benchmarks_package():
    """benchmarks/ is not part of the installed package: load it from the checkout by path."""
    if "benchmarks" not in sys.modules:
        init = ROOT / "benchmarks" / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            "benchmarks", init, submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = module
        spec.loader.exec_module(module)


_benchmarks_package()
from benchmarks import cases as C  # noqa: E402
from benchmarks import run_benchmarks as R  # noqa: E402
from benchmarks.naive import zscore  # noqa: E402

N, T, SEED = 8, 320, 7  # T=300 trips an overflow warning in the scenario calibration


@pytest.fixture(scope="module")
def market():
    return C.bench_market(N, T, SEED)


@pytest.fixture(scope="module")
def finals(market):
    out = {
        "naive_bt": C.case_naive_bt(market, **C.prepare_naive(market))["final_value"],
        "ours_bt": C.case_ours_bt(market)["final_value"],
        "twin": C.case_twin(market)["final_value"],
        "numpy_floor": C.case_numpy_floor(market, **C.prepare_floor(market))["final_value"],
        "ours_bt_overlay": C.case_ours_bt_overlay(market)["final_value"],
        "twin_overlay": C.case_twin_overlay(market)["final_value"],
    }
    return out


def test_bench_market_is_fully_listed_and_sized(market):
    assert market.close.shape == (T, N)
    assert market.tradable.all().all()
    assert str(market.dates[-1].date()) == C.END


def test_same_book_same_final_value(finals):
    twin = finals["twin"]
    assert abs(twin / C.EXEC["cash"] - 1) > 1e-4  # the book traded: a flat run proves nothing
    assert abs(finals["ours_bt"] / twin - 1) < 1e-9
    assert abs(finals["numpy_floor"] / twin - 1) < 1e-9
    assert abs(finals["naive_bt"] / twin - 1) < 1e-6


def test_overlay_runs_reconcile(finals):
    assert abs(finals["ours_bt_overlay"] / finals["twin_overlay"] - 1) < 1e-9


def test_empty_strategies_keep_the_cash(market):
    assert C.case_empty_ours(market)["final_value"] == C.EXEC["cash"]
    frames = C.prepare_empty_pandas(market)
    assert C.case_empty_pandas(market, **frames)["final_value"] == C.EXEC["cash"]


def test_naive_zscore_matches_ours():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 40)) * 5
    x[0, [3, 7]] = np.nan
    x[0, 5] = 40.0  # clipped at 3
    ours = cross_sectional_zscore(pd.DataFrame(x)).to_numpy()[0]
    np.testing.assert_array_equal(zscore(x[0]), ours)


def test_case_command_prints_one_json_line(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cases.py"), "numpy_floor",
                          str(N), str(T), str(SEED), "--cache", str(tmp_path)],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["case"] == "numpy_floor" and out["n_names"] == N
    assert out["seconds"] >= 0 and out["rss_mb"] >= out["rss_before_mb"] > 0
    assert out["final_value"] > 0
    assert list(tmp_path.glob("market-*.pkl"))  # the market was cached for the next process


def test_report_helpers_on_made_up_timings():
    def case(seconds, rss, base=100.0, **kw):
        return {"seconds": seconds, "rss_mb": rss, "rss_before_mb": base, "reps": 3,
                "final_value": 1.0, "parts": kw.pop("parts", {}), **kw}

    res = {
        100: {"empty_ours": case(1.0, 200), "naive_bt": case(20.0, 300),
              "ours_bt": case(1.2, 250), "ours_bt_overlay": case(1.4, 260),
              "twin": case(0.5, 200, parts={"engine": 0.05}), "twin_overlay": case(0.6, 200),
              "numpy_floor": case(0.02, 150), "vectorbt": case(1.0, 400)},
        1000: {"empty_ours": case(10.0, 1100), "naive_bt": case(200.0, 3000),
               "ours_bt": case(12.0, 1200), "ours_bt_overlay": case(14.0, 1300),
               "twin": case(5.0, 1100, parts={"engine": 0.5}), "twin_overlay": case(6.0, 1000),
               "numpy_floor": case(0.2, 900), "vectorbt": case(10.0, 3000)},
    }
    targets = {t["target"]: t for t in R.evaluate(res, {}, [100, 1000], 1000)}
    t = targets["ours_bt_overlay N=1000: time / empty strategy on our feed"]
    assert t["value"] == pytest.approx(1.4) and t["met"] is True
    t = targets["ours_bt_overlay N=1000: speed-up over naive backtrader"]
    assert t["value"] == pytest.approx(200 / 14) and t["met"] is True
    t = targets["ours_bt_overlay: time exponent in N (100->1000)"]
    assert t["value"] == pytest.approx(1.0) and t["met"] is True
    t = targets["twin N=1000: run_vectorized / bare NumPy loop"]
    assert t["value"] == pytest.approx(2.5) and t["met"] is True
    t = targets["twin N=1000: book_targets + run_vectorized / bare NumPy loop"]
    assert t["value"] == pytest.approx(25) and t["met"] is False
    sweep = {"sweep_twin": {"seconds": 40.0, "points": 1000},
             "sweep_vbt": {"seconds": 100.0, "points": 100}}
    procs = {"run_process": {"seconds": 5.0, "rss_mb": 300.0},
             "naive_process": {"seconds": 40.0, "rss_mb": 900.0}, "n_names": 500, "n_bars": 813}
    table = R.issue_table(res, sweep, procs, 1000)
    assert [t["measure"] for t in table] == [m for m, _, _ in R.ISSUE_TARGETS]
    values = [t["value"] for t in table]
    assert values == pytest.approx([1.4, 1300 / 1100, 5.0 / 40.0, 10.0 / 5.0, 0.4, 2.5])
    assert [t["met"] for t in table] == [True, True, True, False, True, True]
    assert R.issue_table({}, {}, {}, 500)[0]["met"] is None
    # the event-driven ratio within each round beside the ratio of the medians
    res[1000]["ours_bt_overlay"]["seconds_all"] = [14.0, 9.0, 20.0]
    res[1000]["empty_ours"]["seconds_all"] = [10.0, 10.0, 8.0]
    note = R.issue_table(res, sweep, procs, 1000)[0]["note"]
    assert note.endswith("; round by round 1.40x (median of 3, 0.90x to 2.50x)")
    res[1000]["empty_ours"]["seconds_all"] = [10.0, 10.0]   # a round failed: no pairs
    # the engine's row: the market's arrays timed apart, the ratio with them in the note
    res[1000]["twin"]["parts"].update(market_arrays=0.1, engine_equity=0.3)
    row = R.issue_table(res, sweep, procs, 1000)[-1]
    assert row["value"] == pytest.approx(2.5) and row["met"] is True
    assert "0.100 s once per market, with them 3.0x" in row["note"]
    assert row["note"].endswith("equity only as sweeps run it 0.300 s = 1.5x)")
    assert "round by round" not in R.issue_table(res, sweep, procs, 1000)[0]["note"]
    assert R.summarize([{"seconds": 3.0, "rss_mb": 5.0, "rss_before_mb": 1.0, "final_value": 2.0},
                        {"seconds": 1.0, "rss_mb": 7.0, "rss_before_mb": 1.0, "final_value": 2.0},
                        {"error": "boom"}])["seconds"] == 2.0
    info = {"cpu": "AMD EPYC 7B13 64-Core Processor", "cores": 2, "ram_gb": 23.4,
            "platform": "Linux", "packages": {"python": "3.11.7"}}
    assert R.machine_slug(info) == "amd-epyc-7b13-2c"
    report = {"date": "2026-01-01", "command": "x", "machine": info,
              "settings": {"quick": True, "seed": 7, "n_bars": 300}, "results": res,
              "sweep": {}, "targets": list(targets.values()), "notes": ["n"],
              "issue_table": table, "processes": {**procs, "run_process": {
                  "seconds": 5.0, "rss_mb": 300.0, "reps": 1}, "naive_process": {
                  "seconds": 40.0, "rss_mb": 900.0, "reps": 1, "final_value": 2.0}}}
    md = R.render_markdown(report)
    assert "## N = 1000 names" in md and "| **no** |" in md
    assert "## Issue 19's targets" in md and "| 0.12x | <= 0.2x | yes |" in md
    assert "## Whole processes (N = 500, T = 813)" in md
