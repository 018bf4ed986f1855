"""Parameter sweeps: a grid of configs through the vectorized twin (or backtrader), in parallel.

The market is built once and shared with the workers (inherited by forked processes, scattered
once to every Dask worker), each task runs a chunk of grid points that share the book's targets,
and rows stream into ``sweep.csv`` as they arrive, so a crash or Ctrl-C keeps every finished row
and ``--resume`` skips them. At the end the file is rewritten sorted by grid point: the same grid
and seed give the same bytes with any executor, any number of workers, resumed or not.

The grid is :mod:`.sweep_grid`, the executors :mod:`.sweep_executors`, the file
:mod:`.sweep_store`; this module runs one chunk (:func:`run_chunk`, the task every executor runs,
imported by name on Dask workers) and the whole sweep (:func:`run_sweep`).

Executors: ``local`` (a process pool of ``--jobs`` forked processes, or in-process with
``--jobs 1``) and ``dask`` (a ``LocalCluster`` of ``--jobs`` single-threaded worker processes,
or the cluster at ``--scheduler tcp://HOST:PORT``; see ``docs/sweeps.md``). Dask is an
optional extra (``pip install 'squeeze-lab[dask]'``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .config import check_against_market, check_jobs
from .sweep_executors import BookCache, dask_client, import_dask, run_dask, run_local
from .sweep_grid import Point, grid_points, parse_grid
from .sweep_store import (
    EPISODE_METRICS,
    SweepFile,
    drop_if_empty,
    format_cell,
    sweep_columns,
)

if TYPE_CHECKING:
    from ..strategies.overlay import ActionRows
    from ..strategies.twin_resume import Checkpoints

ENGINES = ("vectorized", "backtrader")
EXECUTORS = ("local", "dask")


# --------------------------------------------------------------------------- one point
#: The performance columns of sweep.csv: the empyrical functions ``performance_stats`` calls for
#: them, called here on the returns' array (the same numbers, without pandas: tested equal).
PERFORMANCE_FUNCTIONS = ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio",
                         "max_drawdown", "calmar_ratio")


def performance_row(equity: np.ndarray) -> dict[str, float | None]:
    """The sweep's performance metrics of a measured equity path (its first close is the base):
    :func:`analyzers.performance.performance_stats`'s values for these keys, on arrays."""
    from ..analyzers.performance import load_empyrical, to_float

    empyrical = load_empyrical()

    out: dict[str, float | None] = dict.fromkeys(PERFORMANCE_FUNCTIONS)
    if len(equity) < 2:
        return out
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = equity[1:] / equity[:-1] - 1.0
        for name in PERFORMANCE_FUNCTIONS:
            out[name] = to_float(getattr(empyrical, name)(r))
    return out


def summary_row(result: Any, market: Market, episodes: Mapping[str, Any],
                windows: Mapping[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """The sweep's metrics for one run: performance (empyrical) and each episode's drawdown.

    ``windows``: each episode's rows (:func:`analyzers.episodes.window_bounds`), when the caller
    has them already (one chunk of points shares them).
    """
    from ..analyzers.episodes import window_bounds, window_path
    from ..analyzers.warmup import first_invested, measured_equity

    first = first_invested(result)
    equity = result.equity if first is None else measured_equity(result.equity, first)
    row: dict[str, Any] = performance_row(equity.to_numpy(np.float64))
    row["final_equity"] = float(result.equity.iloc[-1])
    if hasattr(result, "traded_value"):   # the twin's equity-only run (strategies.twin.EquityRun)
        traded = result.traded_value if result.n_trades else 0.0
    else:
        traded = (result.trades["size"].abs() * result.trades["price"]).sum() if len(result.trades) else 0.0
    row["turnover"] = float(traded / result.equity.mean())
    row["n_decisions"] = int(len(result.overlay_log)) if result.overlay_log is not None else 0
    v = result.equity.to_numpy(np.float64)
    for name, ep in episodes.items():
        a, b = windows[name] if windows is not None else window_bounds(result.equity.index,
                                                                        ep.start, ep.end)
        dd = window_path(v, a, b)
        for k in EPISODE_METRICS:
            row[f"{name}.{k}"] = dd[k]
    return row


def run_chunk(market: Market, points: Sequence[Point], engine: str = "vectorized",
              books: MutableMapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run a chunk of points on one market (a worker's task): one row per point, in chunk order.

    Points sharing a book share its targets: computed once per chunk, or taken from ``books``
    ({book_key: Targets}; a :class:`BookCache` kept across chunks, or targets computed once for
    the whole cluster). What else does not depend on the point is also computed once per chunk:
    the episodes' windows, the borrow terms and the overlay's detection signal. Each point
    starts the twin where its plan parts from a recent point's (the cache's
    :class:`strategies.twin_resume.Checkpoints`, kept across chunks), and copies the rows the
    overlay's actions made for earlier points (its :class:`strategies.overlay.ActionRows`):
    the same numbers.
    Importable on every worker: Dask sends it by name.
    """
    from ..analyzers.episodes import window_bounds
    from ..strategies.overlay import ActionRows, detection_signal, resolve_overlay_params
    from ..strategies.twin_resume import Checkpoints
    from .run import borrow_terms, run_episodes

    books = BookCache() if books is None else books
    shared: dict[tuple[Any, ...], Any] = {}
    cached = isinstance(books, BookCache)
    resume = books.checkpoints if cached else Checkpoints()
    made = books.action_rows if cached else ActionRows()

    def once(key: tuple[Any, ...], compute: Any) -> Any:
        if key not in shared:
            shared[key] = compute()
        return shared[key]

    rows = []
    for p in points:
        cfg = p.config
        akey = ("episodes", repr(cfg["analysis"]))
        episodes = once(akey, lambda c=cfg: run_episodes(c, market))
        windows = once(akey + ("windows",), lambda e=episodes: {
            name: window_bounds(market.dates, ep.start, ep.end) for name, ep in e.items()})
        terms = once(("terms", cfg["execution"]["borrow_model"], cfg["execution"]["borrow_bps"],
                      cfg["data"].get("borrow", "")), lambda c=cfg: borrow_terms(c, market))
        if engine == "backtrader":
            from ..strategies.engine import run_backtrader

            result, _ = run_backtrader(market, {s: cfg[s] for s in ("book", "overlay", "execution")},
                                       borrow=terms)
        else:
            ov = resolve_overlay_params(cfg["overlay"])
            signal = None if not ov["enabled"] else once(
                ("signal",) + tuple(ov[k] for k in SIGNAL_KEYS), lambda o=ov: detection_signal(market, o))
            result = _run_twin(market, books, p, terms, signal, (resume, made))
        rows.append({"point": p.index, **{k: v for k, v in p.values},
                     **summary_row(result, market, episodes, windows)})
    return rows


#: The overlay parameters its detection signal depends on (shared by points that agree on them).
SIGNAL_KEYS = ("signal_lookback", "signal_vol_window", "signal_mode", "basket_names",
               "basket_min_cap")


def _run_twin(market: Market, books: MutableMapping[str, Any], p: Point, terms: Any,
              signal: pd.Series | None,
              shared: tuple[Checkpoints | None, ActionRows | None] = (None, None)) -> Any:
    """One point through the twin (equity only): the book's shared targets, the overlay (rows
    earlier points' actions made reused), the engine (resumed where an earlier point's plan
    parts from this one's): ``shared`` = (checkpoints, action rows)."""
    from ..strategies.book import book_targets
    from ..strategies.overlay import apply_overlay
    from ..strategies.twin import run_vectorized

    cfg = p.config
    if isinstance(books, BookCache):
        book = books.get_or_build(p.book_key, lambda c=cfg: book_targets(market, **c["book"]))
    else:
        if p.book_key not in books:
            books[p.book_key] = book_targets(market, **cfg["book"])
        book = books[p.book_key]
    resume, made = shared
    targets, log = apply_overlay(market, book, borrow_fees=terms.fee_bps, signal=signal,
                                 action_rows=made, **cfg["overlay"])
    return run_vectorized(market, targets, overlay_log=log, detail=False, borrow=terms,
                          max_net_long=cfg["overlay"]["max_net_long"], checkpoints=resume,
                          **cfg["execution"])


def confirm(market: Market, points: Sequence[Point], frame: pd.DataFrame, top: int,
            metric: str = "sharpe_ratio") -> list[dict[str, Any]]:
    """Re-run the top points through backtrader and check they reconcile with the twin."""
    from ..strategies.engine import run_backtrader
    from ..strategies.twin import run_vectorized
    from .run import borrow_terms, reconcile

    ranked = frame.sort_values([metric, "point"], ascending=[False, True], na_position="last")
    out = []
    for idx in ranked["point"].head(top).astype(int):
        cfg = points[idx].config
        terms = borrow_terms(cfg, market)
        result, _ = run_backtrader(market, {s: cfg[s] for s in ("book", "overlay", "execution")},
                                   borrow=terms)
        twin = run_vectorized(market, result.targets, detail=False, borrow=terms,
                              max_net_long=cfg["overlay"]["max_net_long"], **cfg["execution"])
        rec = reconcile(result.equity, twin.equity)
        out.append({"point": int(idx), **{k: v for k, v in points[idx].values},
                    "max_rel_diff": rec["max_rel_diff"], "ok": rec["ok"]})
    return out


def _check_options(engine: str, executor: str, scheduler: str | None, jobs: int,
                   confirm_top: int) -> None:
    if engine not in ENGINES:
        raise SqueezeLabError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    if executor not in EXECUTORS:
        raise SqueezeLabError(f"--executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise SqueezeLabError("--scheduler is for the Dask executor: add --executor dask")
    if jobs < 0:
        raise SqueezeLabError(f"--jobs {jobs} is negative: give a number of workers (0 = cores)")
    if confirm_top < 0:
        raise SqueezeLabError(f"--confirm-top {confirm_top} is negative: give 0 or more points")


def _describe_dask(client: Any) -> str:
    threads = client.nthreads()
    return (f"dask at {client.scheduler.address} ({len(threads)} workers, "
            f"{sum(threads.values())} threads)")


def run_sweep(config: Mapping[str, Any], grid: Sequence[str], engine: str = "vectorized",
              jobs: int = 0, confirm_top: int = 0, executor: str = "local",
              scheduler: str | None = None, out: str | Path = "runs", resume: bool = False,
              ui: Any = None, command: str = "", market: Market | None = None) -> Path:
    """Run the grid; write ``sweep.csv``, ``sweep.json`` and ``sweep.html`` into one folder.

    Bad options, grid values and a missing Dask fail before any work. Rows stream into
    ``sweep.csv``; on any error the rows already finished are kept (sorted) and ``resume=True``
    runs only the missing points.
    """
    from ..tearsheet.rundir import config_hash, dumps
    from .run import run_episodes
    from .ui import UI

    ui = ui if ui is not None else UI(quiet=True)
    _check_options(engine, executor, scheduler, jobs, confirm_top)
    axes = parse_grid(grid)
    points = grid_points(config, axes)
    if confirm_top > len(points):
        raise SqueezeLabError(f"--confirm-top {confirm_top} is more than the grid's {len(points)} "
                              f"points: give at most {len(points)}")
    jobs = check_jobs(jobs, ui.note) if scheduler is None else (jobs or os.cpu_count() or 1)
    if executor == "dask":
        import_dask()
    with ExitStack() as stack:
        client = stack.enter_context(dask_client(jobs, scheduler)) if executor == "dask" else None
        if market is None:
            market = ui.load_market(config["data"])
        notes: dict[str, None] = {}
        for p in points:  # every point against the market before any folder or work
            notes.update(dict.fromkeys(check_against_market(p.config, market)))
        for text in notes:
            ui.note(text)
        episodes = run_episodes(config, market)
        folder = Path(out) / f"sweep-{config['name']}-{config_hash({'base': config, 'grid': axes})}"
        fresh = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SqueezeLabError(f"cannot write to output folder {out}: {err.strerror}; pick a "
                                  "writable --out") from err
        stack.callback(drop_if_empty, folder, fresh)
        expected = {p.index: [format_cell(v) for _, v in p.values] for p in points}
        sheet = SweepFile(folder / "sweep.csv", sweep_columns(axes, episodes), resume, expected)
        todo = [p for p in points if p.index not in sheet.done]
        how = _describe_dask(client) if client is not None else f"local, {jobs} jobs"
        ui.print(f"sweep: {len(points)} points ({len(points) - len(todo)} already done), engine "
                 f"{engine}, executor {how}")
        # run_chunk is looked up now (tests swap it)
        source = (run_dask(market, todo, engine, jobs, scheduler, client=client, task=run_chunk)
                  if client is not None else run_local(market, todo, engine, jobs, task=run_chunk))
        with ui.progress("sweep", total=len(points)) as advance:
            advance(len(points) - len(todo))
            try:
                for rows in source:
                    sheet.write(rows)
                    advance(len(sheet.done))
            finally:
                source.close()
                frame = sheet.finish()
    summary: dict[str, Any] = {"base": config, "grid": axes, "engine": engine,
                               "n_points": len(points), "market": market.provenance()}
    if confirm_top:
        summary["confirmed"] = confirm(market, points, frame, confirm_top)
    (folder / "sweep.json").write_text(dumps(summary))
    _render(folder, axes, episodes)
    _print_top(frame, axes, ui, summary.get("confirmed"))
    ui.print(f"sweep: {folder / 'sweep.csv'}")
    ui.print(f"sweep page: {folder / 'sweep.html'}")
    return folder


def _render(folder: Path, axes: list[tuple[str, list[Any]]], episodes: Iterable[str]) -> None:
    from ..tearsheet.render import render_sweep

    keys = [k for k, _ in axes]
    x, y = keys[0], keys[1] if len(keys) > 1 else keys[0]
    metrics = ["sharpe_ratio", "max_drawdown", *[f"{e}.max_drawdown_in_window" for e in episodes]]
    render_sweep(folder / "sweep.csv", folder / "sweep.html", x=x, y=y, metrics=metrics)


def _axis_text(value: Any, values: list[Any]) -> str:
    """A grid value as the user wrote it (pandas reads an int column with gaps as floats)."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        try:
            return str(int(value))
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _print_top(frame: pd.DataFrame, axes: list[tuple[str, list[Any]]], ui: Any,
               confirmed: list[dict[str, Any]] | None) -> None:
    from rich.table import Table

    from .ui import fmt_num, fmt_pct

    keys = [k for k, _ in axes]
    ep_cols = [c for c in frame.columns if c.endswith(".max_drawdown_in_window")]
    t = Table(title="Top points by Sharpe", title_justify="left")
    for c in ("point", *keys, "Sharpe", "annual return", "max drawdown", *ep_cols):
        t.add_column(c.replace(".max_drawdown_in_window", " dd"), justify="right")
    top = frame.sort_values(["sharpe_ratio", "point"], ascending=[False, True]).head(5)
    for _, r in top.iterrows():
        t.add_row(str(int(r["point"])), *[_axis_text(r[k], vals) for k, vals in axes],
                  fmt_num(r["sharpe_ratio"]),
                  fmt_pct(r["annual_return"]), fmt_pct(r["max_drawdown"]),
                  *[fmt_pct(r[c]) for c in ep_cols])
    ui.print(t)
    for c in confirmed or []:
        state = "reconciles" if c["ok"] else "DOES NOT reconcile"
        line = (f"point {c['point']} through backtrader: {state} (max relative difference "
                f"{c['max_rel_diff']:.1e})")
        if c["ok"]:
            ui.print(line)
        else:  # changes what the sweep's numbers mean: shown even with --quiet
            ui.note(line)
