"""Benchmark cases: one function per case, and a command line that runs one case per process.

``python benchmarks/cases.py CASE N T SEED [--cache DIR] [--profile FILE]`` loads (or builds) the
benchmark market, runs the case's untimed preparation, then times the case and prints one JSON
line: ``{"case", "n_names", "n_bars", "seconds", "parts", "rss_mb", "rss_before_mb",
"ru_maxrss_mb", "final_value", ...}``. ``rss_mb`` is the process's peak resident set (``VmHWM``;
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is also given, but on Linux it carries the parent's
peak across ``execve``), ``rss_before_mb`` the same just before the timed part (imports + market). :mod:`benchmarks.run_benchmarks` starts one fresh process per repetition.

Each ``case_*`` function takes the prepared inputs and returns a dict with at least
``final_value``; ``prepare_*`` functions do the untimed set-up. The smoke test calls them in-process.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Execution settings of every case (the project's defaults, spelled out).
EXEC = {"cash": 1_000_000.0, "commission_bps": 1.0, "slippage_bps": 0.0, "borrow_bps": 50.0,
        "fractional": True}
#: The overlay used where a case runs "book + overlay" (the default study's combined run).
OVERLAY = {"enabled": True, "actions": ["cover_crowded", "hedge_basket"]}
#: Last date of every benchmark market (the 2025-2026 episodes are inside the window).
END = "2026-03-31"

#: The sweep's base overlay, and its grid (1000 points over one book: detection and de-grossing).
SWEEP_OVERLAY = {"enabled": True, "actions": ["degross"]}
SWEEP_AXES: list[tuple[str, list[Any]]] = [
    ("overlay.threshold", [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25]),
    ("overlay.cooloff", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),
    ("overlay.degross_to", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
]


# --------------------------------------------------------------------------- the market
def bench_market(n_names: int, n_bars: int, seed: int = 7, book: dict[str, Any] | None = None) -> Any:
    """The scenario market, ``n_bars`` NYSE sessions ending :data:`END`, ``n_names`` names.

    ``scenario_market(seed, n_names=M)`` with ``M`` a little larger than ``n_names``, restricted
    (``Market.select``) to the first ``n_names`` tickers listed on every bar, so no case has to
    handle IPOs or delistings (the naive backtrader strategy does not). The reference series
    (index return, baskets) are the full scenario's.
    """
    from squeeze_lab.feeds.errors import SqueezeLabError
    from squeeze_lab.feeds.scenario import nyse_sessions, scenario_market

    end = np.datetime64(END)
    sessions = nyse_sessions(str(end - np.timedelta64(int(n_bars * 1.6) + 30, "D")), END)
    if len(sessions) < n_bars:
        raise SqueezeLabError(f"only {len(sessions)} sessions before {END}: ask for fewer bars")
    start = sessions[-n_bars]
    extra = max(10, int(math.ceil(0.1 * n_names)))
    market = scenario_market(seed, n_names=max(50, n_names + extra),
                             start=str(start.date()), end=END)
    prices = np.stack([market.frame(f).to_numpy(np.float64) for f in ("open", "high", "low", "close")])
    if np.isinf(prices).any():
        raise SqueezeLabError(f"the scenario market (seed {seed}, {market.n_names} names, "
                              f"{n_bars} bars) has infinite prices: try another number of bars")
    full = market.tradable.all(axis=0).to_numpy()
    keep = market.tickers[full][:n_names]
    if len(keep) < n_names:
        raise SqueezeLabError(f"only {len(keep)} fully listed names: lower n_names")
    return market.select(keep)


def load_market(n_names: int, n_bars: int, seed: int, cache: str | Path | None) -> Any:
    """The benchmark market from ``cache`` (a pickle written by the runner) or built now."""
    if cache:
        path = Path(cache) / f"market-{n_names}-{n_bars}-{seed}.pkl"
        if path.exists():
            with open(path, "rb") as fh:
                return pickle.load(fh)
        market = bench_market(n_names, n_bars, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(market, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return market
    return bench_market(n_names, n_bars, seed)


#: The book every case runs, pinned (the naive strategy replicates exactly this book, so the
#: benchmark does not follow changes of the book's defaults). ``short_momentum_weight`` is added
#: with the book's own default when the book has that parameter.
BENCH_BOOK: dict[str, Any] = {
    "rebalance": "monthly", "momentum_lookback": 252, "momentum_skip": 21, "vol_window": 63,
    "beta_window": 126, "names_per_leg": 50, "fraction_per_leg": 0.0, "weighting": "equal",
    "gross": 2.0, "net": 0.0, "neutral": "dollar", "max_weight": 0.05, "quality_weight": 0.5,
    "low_price": 5.0,
}


def book_params(n_names: int) -> dict[str, Any]:
    """The pinned book (:data:`BENCH_BOOK`), the per-name cap loosened on tiny universes."""
    defaults = dict(_book_defaults())
    p = {k: v for k, v in BENCH_BOOK.items() if k in defaults}
    if "short_momentum_weight" in defaults:
        p["short_momentum_weight"] = float(defaults["short_momentum_weight"])
    k = min(p["names_per_leg"], n_names // 2)
    p["max_weight"] = max(p["max_weight"], 1.0 / k)
    return p


def analyzers_for(market: Any) -> dict[str, tuple[type, dict[str, Any]]]:
    """All of our analyzers, as ``run_backtrader(..., analyzers=...)`` takes them."""
    from squeeze_lab.analyzers.bt_analyzers import (
        EpisodeDrawdowns,
        Exposures,
        LegAttribution,
        Performance,
    )

    return {
        "drawdowns": (EpisodeDrawdowns, {}),
        "attribution": (LegAttribution, {"attributes": market.attributes}),
        "exposures": (Exposures, {"betas": market.attributes["beta"]}),
        "performance": (Performance, {"benchmark": market.reference["index"]}),
    }


# --------------------------------------------------------------------------- backtrader cases
def prepare_naive(market: Any) -> dict[str, Any]:
    from benchmarks.naive import name_frames

    return {"frames": name_frames(market),
            "profitable": {str(t): bool(v) for t, v in market.attributes["profitable"].items()}}


def case_naive_bt(market: Any, frames: dict[str, Any], profitable: dict[str, bool]) -> dict[str, Any]:
    """Naive backtrader: PandasData feeds, bt indicators, order_target_percent, default Cerebro."""
    from benchmarks.naive import NaiveBook, naive_cerebro

    p = book_params(market.n_names)
    cerebro = naive_cerebro(frames, cash=EXEC["cash"], commission_bps=EXEC["commission_bps"],
                            borrow_bps=EXEC["borrow_bps"], strategy=NaiveBook,
                            momentum_lookback=p["momentum_lookback"],
                            momentum_skip=p["momentum_skip"], vol_window=p["vol_window"],
                            beta_window=p["beta_window"], names_per_leg=p["names_per_leg"],
                            gross=p["gross"], quality_weight=p["quality_weight"],
                            low_price=p["low_price"],
                            short_momentum_weight=p.get("short_momentum_weight", 0.0),
                            profitable=profitable)
    cerebro.run()
    return {"final_value": float(cerebro.broker.getvalue())}


def prepare_empty_pandas(market: Any) -> dict[str, Any]:
    from benchmarks.naive import name_frames

    return {"frames": name_frames(market, with_extra=False)}


def case_empty_pandas(market: Any, frames: dict[str, Any]) -> dict[str, Any]:
    """Empty strategy on one PandasData per name, default Cerebro."""
    from benchmarks.naive import Empty, naive_cerebro

    cerebro = naive_cerebro(frames, cash=EXEC["cash"], strategy=Empty)
    cerebro.run()
    return {"final_value": float(cerebro.broker.getvalue())}


def case_empty_ours(market: Any) -> dict[str, Any]:
    """Empty strategy on our ArrayFeed with our Cerebro settings (make_cerebro)."""
    import backtrader as bt

    from squeeze_lab.strategies.engine import make_cerebro

    cerebro = make_cerebro(market, cash=EXEC["cash"], commission_bps=EXEC["commission_bps"],
                           borrow_bps=EXEC["borrow_bps"])
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()
    return {"final_value": float(cerebro.broker.getvalue())}


def _ours_bt(market: Any, overlay: dict[str, Any]) -> dict[str, Any]:
    from squeeze_lab.strategies.engine import run_backtrader

    params = {"book": book_params(market.n_names), "overlay": overlay, "execution": dict(EXEC)}
    result, out = run_backtrader(market, params, analyzers=analyzers_for(market))
    return {"final_value": float(result.equity.iloc[-1]), "n_trades": int(len(result.trades)),
            "analyzers": sorted(out)}


def case_ours_bt(market: Any) -> dict[str, Any]:
    """Ours through backtrader: the book (no overlay) and all our analyzers."""
    return _ours_bt(market, {"enabled": False})


def case_ours_bt_overlay(market: Any) -> dict[str, Any]:
    """Ours through backtrader: book + overlay (cover_crowded, hedge_basket) + all our analyzers."""
    return _ours_bt(market, dict(OVERLAY))


# --------------------------------------------------------------------------- vectorized cases
def _twin(market: Any, overlay: dict[str, Any], parts: dict[str, float]) -> dict[str, Any]:
    from squeeze_lab.strategies.book import book_targets
    from squeeze_lab.strategies.execution import market_exits, price_arrays
    from squeeze_lab.strategies.overlay import apply_overlay
    from squeeze_lab.strategies.twin import run_vectorized

    t0 = time.perf_counter()
    targets = book_targets(market, **book_params(market.n_names))
    t1 = time.perf_counter()
    targets, log = apply_overlay(market, targets, **overlay)
    t2 = time.perf_counter()
    # the arrays both engines read, built once per market (the first engine call would build
    # them): timed apart, as the bare loop is given its arrays (prepare_floor)
    price_arrays(market).days   # noqa: B018 (a cached property: built on first read)
    market_exits(market)
    t3 = time.perf_counter()
    result = run_vectorized(market, targets, overlay_log=log, **EXEC)
    t4 = time.perf_counter()
    # equity only, as sweeps and the run's reconciliation call it (main() leaves it out of
    # the case's seconds)
    run_vectorized(market, targets, overlay_log=log, detail=False, **EXEC)
    parts.update({"book_targets": t1 - t0, "overlay": t2 - t1, "market_arrays": t3 - t2,
                  "engine": t4 - t3, "engine_equity": time.perf_counter() - t4})
    return {"final_value": float(result.equity.iloc[-1]), "n_trades": int(len(result.trades))}


def case_twin(market: Any, parts: dict[str, float] | None = None) -> dict[str, Any]:
    """Ours vectorized: book_targets + run_vectorized (no overlay)."""
    return _twin(market, {"enabled": False}, {} if parts is None else parts)


def case_twin_overlay(market: Any, parts: dict[str, float] | None = None) -> dict[str, Any]:
    """Ours vectorized: book_targets + apply_overlay + run_vectorized."""
    return _twin(market, dict(OVERLAY), {} if parts is None else parts)


def prepare_floor(market: Any) -> dict[str, Any]:
    """Signal rows and net target weights of the book (no overlay), plus price arrays."""
    from squeeze_lab.strategies.book import book_targets

    targets = book_targets(market, **book_params(market.n_names))
    rows = market.dates.get_indexer(targets.dates)
    keep = rows < len(market.dates) - 1
    days = market.dates.normalize().asi8 // (86_400 * 10**9)
    return {"rows": rows[keep], "weights": targets.total().to_numpy(np.float64)[keep],
            "open_": market.open.to_numpy(np.float64), "close": market.close.to_numpy(np.float64),
            "day": days.astype(np.float64)}


def case_numpy_floor(market: Any, rows: np.ndarray, weights: np.ndarray, open_: np.ndarray,
                     close: np.ndarray, day: np.ndarray) -> dict[str, Any]:
    """A bare NumPy loop over rebalance dates: the floor for the vectorized engine.

    Same conventions as the twin (size on the signal close, fill at the next open, commission,
    borrow on the average short price per calendar day), no bookkeeping: only the final value.
    """
    quantum = 2.0 ** -20
    c_rate = EXEC["commission_bps"] / 1e4
    b_rate = EXEC["borrow_bps"] / 1e4 / 365.0
    n = close.shape[1]
    pos = np.zeros(n)
    avg = np.zeros(n)
    cash = EXEC["cash"]
    short_cost = 0.0  # sum over shorts of |size| * average price
    last = 0
    for t, w in zip(rows, weights, strict=True):
        f = t + 1
        cash -= b_rate * short_cost * (day[t] - day[last])
        value = cash + close[t] @ pos
        new = np.trunc(w * value / close[t] / quantum) * quantum
        delta = new - pos
        cash -= b_rate * short_cost * (day[f] - day[t])
        price = open_[f]
        cash -= delta @ price + np.abs(delta) @ price * c_rate
        grow = ((pos > 0) & (delta > 0)) | ((pos < 0) & (delta < 0))
        keep = ~grow & (np.sign(new) == np.sign(pos))
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = np.where(grow, (avg * pos + delta * price) / new,
                           np.where(keep, avg, np.where(new == 0, 0.0, price)))
        avg = np.where(delta == 0, np.where(pos == 0, 0.0, avg), avg)
        pos = new
        short_cost = float(np.abs(pos[pos < 0]) @ avg[pos < 0])
        last = f
    cash -= b_rate * short_cost * (day[-1] - day[last])
    return {"final_value": float(cash + close[-1] @ pos)}


# --------------------------------------------------------------------------- vectorbt
def prepare_vbt_inputs(market: Any, path: str | Path, sweep_points: int = 0) -> dict[str, Any]:
    """Write what the vectorbt cases need (arrays only) to ``path`` (npz); runs in our venv.

    The book without overlay (and, for the sweep, ``sweep_points`` overlay variants) as net
    target weights on the fill rows, plus the twin's final value with borrow 0: vectorbt has no
    short borrow cost, so that is the value it must reproduce.
    """
    from squeeze_lab.strategies.book import book_targets
    from squeeze_lab.strategies.overlay import apply_overlay
    from squeeze_lab.strategies.twin import run_vectorized

    book = book_targets(market, **book_params(market.n_names))
    no_borrow = {**EXEC, "borrow_bps": 0.0}
    out: dict[str, Any] = {
        "open": market.open.to_numpy(np.float64), "close": market.close.to_numpy(np.float64),
        "dates": market.dates.asi8,
        "expected": float(run_vectorized(market, book, **no_borrow).equity.iloc[-1]),
    }
    out["rows"], out["weights"] = _fill_rows(market, book)
    if sweep_points:
        from squeeze_lab.pipeline.config import resolve_config
        from squeeze_lab.pipeline.sweep_grid import grid_points

        base = resolve_config({"name": "bench", "overlay": dict(SWEEP_OVERLAY)})
        pts = grid_points(base, SWEEP_AXES)[:sweep_points]
        sizes = []
        for p in pts:
            targets, _ = apply_overlay(market, book, **p.config["overlay"])
            r, w = _fill_rows(market, targets)
            sizes.append((r, w))
        out["sweep_n"] = np.array(len(sizes))
        for i, (r, w) in enumerate(sizes):
            out[f"sweep_rows_{i}"] = r
            out[f"sweep_weights_{i}"] = w
        last = pts[len(sizes) - 1]
        targets, _ = apply_overlay(market, book, **last.config["overlay"])
        out["sweep_expected_last"] = float(run_vectorized(market, targets, **no_borrow).equity.iloc[-1])
    np.savez(path, **out)
    return {"expected": out["expected"]}


def _fill_rows(market: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """(fill rows, net weights with NaN for names not resized) of a Targets, signal row + 1."""
    rows = market.dates.get_indexer(targets.dates)
    keep = rows < len(market.dates) - 1
    w = targets.total().to_numpy(np.float64)
    w = np.where(targets.resize.to_numpy(bool), w, np.nan)
    return rows[keep] + 1, w[keep]


def _vbt_portfolio(vbt: Any, open_: np.ndarray, close: np.ndarray, rows: np.ndarray,
                   weights: np.ndarray) -> Any:
    size = np.full(close.shape, np.nan)
    size[rows] = weights
    val_price = np.vstack([close[:1], close[:-1]])  # value at the signal close (previous row)
    return vbt.Portfolio.from_orders(
        close, size, size_type="targetpercent", direction="both", price=open_,
        val_price=val_price, fees=EXEC["commission_bps"] / 1e4, init_cash=EXEC["cash"],
        cash_sharing=True, group_by=True, call_seq="auto", freq="1D")


def _vbt_warm(vbt: Any, data: dict[str, Any]) -> float:
    """One untimed run on the real inputs: compiles (or loads from numba's cache) every kernel."""
    t0 = time.perf_counter()
    pf = _vbt_portfolio(vbt, data["open"], data["close"], data["rows"], data["weights"])
    pf.final_value()
    pf.sharpe_ratio()
    pf.max_drawdown()
    return time.perf_counter() - t0


def prepare_vectorbt(inputs: str | Path) -> dict[str, Any]:
    import vectorbt as vbt

    data = dict(np.load(inputs))
    return {"vbt": vbt, "data": data, "compile_seconds": _vbt_warm(vbt, data)}


def case_vectorbt(vbt: Any, data: dict[str, Any], compile_seconds: float) -> dict[str, Any]:
    """vectorbt: Portfolio.from_orders(size_type='targetpercent') on the same book (no overlay)."""
    pf = _vbt_portfolio(vbt, data["open"], data["close"], data["rows"], data["weights"])
    final = float(pf.final_value())
    return {"final_value": final, "expected_no_borrow": float(data["expected"]),
            "rel_diff_vs_twin_no_borrow": abs(final / float(data["expected"]) - 1.0),
            "compile_seconds": compile_seconds}


def case_sweep_vbt(vbt: Any, data: dict[str, Any], compile_seconds: float) -> dict[str, Any]:
    """vectorbt on ``sweep_n`` overlay variants of the book, one from_orders each (+ 2 stats)."""
    n = int(data["sweep_n"])
    finals = []
    for i in range(n):
        pf = _vbt_portfolio(vbt, data["open"], data["close"], data[f"sweep_rows_{i}"],
                            data[f"sweep_weights_{i}"])
        finals.append(float(pf.final_value()))
        pf.sharpe_ratio()
        pf.max_drawdown()
    exp = float(data["sweep_expected_last"])
    return {"final_value": finals[-1], "points": n, "expected_no_borrow": exp,
            "rel_diff_vs_twin_no_borrow": abs(finals[-1] / exp - 1.0),
            "compile_seconds": compile_seconds}


# --------------------------------------------------------------------------- sweep (ours)
def prepare_sweep(market: Any, points: int) -> dict[str, Any]:
    from squeeze_lab.pipeline.config import resolve_config
    from squeeze_lab.pipeline.sweep_grid import grid_points

    base = resolve_config({"name": "bench", "book": book_params(market.n_names),
                           "overlay": dict(SWEEP_OVERLAY), "execution": dict(EXEC)})
    return {"points": grid_points(base, SWEEP_AXES)[:points]}


def case_sweep_twin(market: Any, points: list[Any]) -> dict[str, Any]:
    """``pipeline.sweep.run_chunk(market, points, "vectorized")`` in one process."""
    from squeeze_lab.pipeline.sweep import run_chunk

    rows = run_chunk(market, points, "vectorized")
    return {"final_value": float(rows[-1]["final_equity"]), "points": len(rows)}


# --------------------------------------------------------------------------- registry
def _book_defaults() -> tuple[tuple[str, Any], ...]:
    from squeeze_lab.strategies.spec import BOOK

    return BOOK.bt_params()


#: case -> (prepare(market, args) -> kwargs, run(**kwargs) -> dict, needs the market)
def _registry(args: argparse.Namespace) -> dict[str, tuple[Callable[..., dict], Callable[..., dict]]]:
    return {
        "naive_bt": (lambda m: {"market": m, **prepare_naive(m)}, case_naive_bt),
        "empty_pandas": (lambda m: {"market": m, **prepare_empty_pandas(m)}, case_empty_pandas),
        "empty_ours": (lambda m: {"market": m}, case_empty_ours),
        "ours_bt": (lambda m: {"market": m}, case_ours_bt),
        "ours_bt_overlay": (lambda m: {"market": m}, case_ours_bt_overlay),
        "twin": (lambda m: {"market": m}, case_twin),
        "twin_overlay": (lambda m: {"market": m}, case_twin_overlay),
        "numpy_floor": (lambda m: {"market": m, **prepare_floor(m)}, case_numpy_floor),
        "sweep_twin": (lambda m: {"market": m, **prepare_sweep(m, args.points)}, case_sweep_twin),
        "vectorbt": (lambda m: prepare_vectorbt(args.inputs), case_vectorbt),
        "sweep_vbt": (lambda m: prepare_vectorbt(args.inputs), case_sweep_vbt),
    }


CASES = ("prepare", "naive_bt", "empty_pandas", "empty_ours", "ours_bt", "ours_bt_overlay", "twin",
         "twin_overlay", "numpy_floor", "sweep_twin", "vectorbt", "sweep_vbt")
#: Cases that run in the vectorbt interpreter from an npz of inputs (no market, no project code).
VBT_CASES = ("vectorbt", "sweep_vbt")


def _preimport() -> None:
    """Import everything the cases use before the timed part (module imports are not timed)."""
    import importlib

    for mod in ("backtrader", "pandas", "empyrical", "squeeze_lab.strategies.engine", "squeeze_lab.strategies.twin",
                "squeeze_lab.strategies.book", "squeeze_lab.strategies.overlay", "squeeze_lab.strategies.signals",
                "squeeze_lab.analyzers.bt_analyzers", "squeeze_lab.analyzers.report", "squeeze_lab.pipeline.sweep", "squeeze_lab.pipeline.run",
                "benchmarks.naive"):
        importlib.import_module(mod)
    import pandas as pd

    # pandas sets up its str (pyarrow) and datetime64 column machinery on first use: a
    # one-time cost per process (~15 ms), paid here like an import, not by the first case
    pd.DataFrame({"s": np.array(["x"], dtype=object), "d": np.zeros(1, "datetime64[s]")})


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _maxrss_mb() -> float:
    """Peak resident set of this process: ``VmHWM`` where /proc has it, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` survives ``execve``: a child started by a big parent reports the
    parent's peak (the runner holds markets), so the high-water mark of the process's own memory
    map (``VmHWM``, new at exec) is what is measured; ``ru_maxrss`` is reported beside it.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _ru_maxrss_mb()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run one benchmark case and print a JSON line.")
    ap.add_argument("case", choices=CASES)
    ap.add_argument("n_names", type=int)
    ap.add_argument("n_bars", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("--cache", default="", help="folder with the pickled market")
    ap.add_argument("--inputs", default="", help="npz of inputs for the vectorbt cases")
    ap.add_argument("--points", type=int, default=1000, help="sweep points (sweep_twin)")
    ap.add_argument("--vbt-points", type=int, default=0, help="prepare: vectorbt sweep points")
    ap.add_argument("--profile", default="", help="write a cProfile of the timed part here")
    args = ap.parse_args(argv)

    if args.case == "prepare":  # build and cache the market (+ vectorbt inputs); nothing timed
        market = load_market(args.n_names, args.n_bars, args.seed, args.cache or None)
        out: dict[str, Any] = {"case": "prepare", "n_names": args.n_names}
        if args.inputs:
            out.update(prepare_vbt_inputs(market, args.inputs, sweep_points=args.vbt_points))
        print(json.dumps(out, default=float))
        return 0
    prepare, run = _registry(args)[args.case]
    market = None
    if args.case not in VBT_CASES:
        _preimport()
        market = load_market(args.n_names, args.n_bars, args.seed, args.cache or None)
    kwargs = prepare(market)
    parts: dict[str, float] = {}
    if args.case in ("twin", "twin_overlay"):
        kwargs["parts"] = parts
    gc.collect()
    rss_before = _maxrss_mb()
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    out = run(**kwargs)
    seconds = time.perf_counter() - t0 - parts.get("engine_equity", 0.0)   # (not the case's)
    if prof is not None:
        prof.disable()
        prof.dump_stats(args.profile)
    line = {"case": args.case, "n_names": args.n_names, "n_bars": args.n_bars, "seed": args.seed,
            "seconds": seconds, "parts": parts, "rss_mb": _maxrss_mb(),
            "rss_before_mb": rss_before, "ru_maxrss_mb": _ru_maxrss_mb(),
            "code": str(Path(sys.modules["squeeze_lab"].__file__).parent)
            if "strategies" in sys.modules else None, **out}
    print(json.dumps(line, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
