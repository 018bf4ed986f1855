"""Parameter sweeps: a grid of configs through the vectorized twin (or backtrader), in parallel.

The market is built once and shared with the workers (inherited by forked processes, scattered
once to Dask workers), each task runs a chunk of grid points that share the book's targets, and
rows stream into ``sweep.csv`` as they arrive, so a crash or Ctrl-C keeps every finished row and
``--resume`` skips them. At the end the file is rewritten sorted by grid point: the same grid and
seed give the same bytes with any executor.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feeds.errors import SqueezeLabError
from feeds.market import Market
from pipeline.config import load_market, parse_value, resolve_config, set_key

#: Metric columns of sweep.csv (after ``point`` and the grid keys); episode columns follow.
METRICS = ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
           "calmar_ratio", "final_equity", "turnover", "n_decisions")
EPISODE_METRICS = ("return", "max_drawdown_in_window", "depth")


# --------------------------------------------------------------------------- the grid
def split_values(text: str) -> list[str]:
    """Split ``1,2,[a,b],"x,y"`` at top-level commas (brackets and quotes keep theirs)."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v != ""]


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["overlay.threshold=1,1.5", ...]`` -> ``[("overlay.threshold", [1, 1.5]), ...]``."""
    axes: list[tuple[str, list[Any]]] = []
    for spec in specs:
        if "=" not in spec:
            raise SqueezeLabError(f"--grid {spec!r} is not KEY=V1,V2,...: write e.g. --grid book.gross=1,2")
        key, values = (s.strip() for s in spec.split("=", 1))
        vals = [parse_value(v) for v in split_values(values)]
        if not vals:
            raise SqueezeLabError(f"--grid {key} has no values: write e.g. --grid {key}=1,2")
        if any(k == key for k, _ in axes):
            raise SqueezeLabError(f"--grid {key} is given twice: give all its values in one --grid")
        axes.append((key, vals))
    if not axes:
        raise SqueezeLabError("sweep needs at least one --grid KEY=V1,V2,... axis")
    return axes


@dataclass(frozen=True)
class Point:
    """One grid point: its index in grid order, its overrides and its fully resolved config."""

    index: int
    values: tuple[tuple[str, Any], ...]
    config: dict[str, Any]

    @property
    def book_key(self) -> str:
        """Points with the same book (and data) share the book's targets."""
        return json.dumps([self.config["book"], self.config["data"]], sort_keys=True, default=str)


def grid_points(base: Mapping[str, Any], axes: list[tuple[str, list[Any]]]) -> list[Point]:
    """Every point of the grid, each config resolved (a bad value fails before any work)."""
    points = []
    for i, combo in enumerate(itertools.product(*[vals for _, vals in axes])):
        raw = copy.deepcopy(dict(base))
        for (key, _), value in zip(axes, combo, strict=True):
            set_key(raw, key, value)
        cfg = resolve_config(raw, name=f"{base['name']}-p{i:04d}")
        points.append(Point(i, tuple((k, v) for (k, _), v in zip(axes, combo, strict=True)), cfg))
    return points


# --------------------------------------------------------------------------- one point
def summary_row(result: Any, market: Market, episodes: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's metrics for one run: performance (empyrical) and each episode's drawdown."""
    from analyzers.episodes import episode_drawdown
    from analyzers.performance import performance_stats

    bench = market.reference["index"] if "index" in market.reference.columns else None
    perf = performance_stats(result.returns(), bench)
    row: dict[str, Any] = {k: perf.get(k) for k in METRICS if k in perf}
    row["final_equity"] = float(result.equity.iloc[-1])
    traded = (result.trades["size"].abs() * result.trades["price"]).sum() if len(result.trades) else 0.0
    row["turnover"] = float(traded / result.equity.mean())
    row["n_decisions"] = int(len(result.overlay_log)) if result.overlay_log is not None else 0
    for name, ep in episodes.items():
        dd = episode_drawdown(result.equity, ep)
        for k in EPISODE_METRICS:
            row[f"{name}.{k}"] = dd[k]
    return row


def run_chunk(market: Market, points: Sequence[Point], engine: str = "vectorized"
              ) -> list[dict[str, Any]]:
    """Run a chunk of points on one market (a worker's task); book targets computed once per book."""
    from pipeline.run import run_episodes
    from strategies.book import book_targets
    from strategies.overlay import apply_overlay
    from strategies.twin import run_vectorized

    rows = []
    books: dict[str, Any] = {}
    for p in points:
        cfg = p.config
        episodes = run_episodes(cfg, market)
        if engine == "backtrader":
            from strategies.engine import run_backtrader

            result, _ = run_backtrader(market, {s: cfg[s] for s in ("book", "overlay", "execution")})
        else:
            if p.book_key not in books:
                books[p.book_key] = book_targets(market, **cfg["book"])
            targets, log = apply_overlay(market, books[p.book_key], **cfg["overlay"])
            result = run_vectorized(market, targets, overlay_log=log, **cfg["execution"])
        rows.append({"point": p.index, **{k: v for k, v in p.values},
                     **summary_row(result, market, episodes)})
    return rows


# --------------------------------------------------------------------------- executors
_WORKER_MARKET: Market | None = None


def _init_worker(market: Market) -> None:
    global _WORKER_MARKET
    _WORKER_MARKET = market


def _run_chunk_in_worker(points: Sequence[Point], engine: str) -> list[dict[str, Any]]:
    assert _WORKER_MARKET is not None, "worker started without a market"
    return run_chunk(_WORKER_MARKET, points, engine)


def chunks(points: Sequence[Point], n_chunks: int) -> list[list[Point]]:
    """Group points sharing a book, then split into about ``n_chunks`` tasks in grid order."""
    by_book: dict[str, list[Point]] = {}
    for p in points:
        by_book.setdefault(p.book_key, []).append(p)
    groups = list(by_book.values())
    size = max(1, int(np.ceil(len(points) / max(1, n_chunks))))
    out: list[list[Point]] = []
    for g in groups:
        out += [g[i:i + size] for i in range(0, len(g), size)]
    return out


def run_local(market: Market, points: Sequence[Point], engine: str, jobs: int
              ) -> Iterator[list[dict[str, Any]]]:
    """Yield rows chunk by chunk from a process pool (forked: the market is not pickled per task)."""
    import multiprocessing as mp

    if jobs <= 1 or len(points) <= 1:
        for chunk in chunks(points, max(1, len(points))):
            yield run_chunk(market, chunk, engine)
        return
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(market,)) as pool:
        futures = [pool.submit(_run_chunk_in_worker, c, engine) for c in chunks(points, jobs * 4)]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def run_dask(market: Market, points: Sequence[Point], engine: str, jobs: int,
             scheduler: str | None) -> Iterator[list[dict[str, Any]]]:
    """Yield rows from a Dask cluster: a LocalCluster sized to the machine, or ``scheduler``."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError as err:
        raise SqueezeLabError(
            "--executor dask needs Dask: pip install -e '.[dask]' (or use --executor local)"
        ) from err
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as err:
                raise SqueezeLabError(
                    f"cannot reach the Dask scheduler at {scheduler}: start `dask scheduler` there "
                    "or drop --scheduler to use a local cluster"
                ) from err
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        with client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
            market_f = client.scatter(market, broadcast=True, hash=False)
            futures = [client.submit(run_chunk, market_f, c, engine, pure=False, retries=2)
                       for c in chunks(points, n_workers * 4)]
            for fut in dask_completed(futures):
                yield fut.result()
    finally:
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- sweep.csv
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else repr(float(v))
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


class SweepFile:
    """``sweep.csv`` written row by row (flushed), then rewritten sorted by point at the end."""

    def __init__(self, path: Path, columns: list[str], resume: bool) -> None:
        self.path, self.columns = path, columns
        self.done: set[int] = set()
        if path.exists() and resume:
            try:
                prev = pd.read_csv(path)
            except (ValueError, OSError) as err:
                raise SqueezeLabError(f"{path} cannot be resumed ({err}): delete it and run again") from err
            if list(prev.columns) != columns:
                raise SqueezeLabError(f"{path} was written for another grid: drop --resume or use another --out")
            self.done = set(int(p) for p in prev["point"])
        elif path.exists():
            path.unlink()
        new = not path.exists()
        self.fh = open(path, "a", newline="")  # noqa: SIM115 - kept open while rows stream in
        self.writer = csv.writer(self.fh, lineterminator="\n")
        if new:
            self.writer.writerow(columns)
            self.fh.flush()

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writer.writerow([_fmt(row.get(c)) for c in self.columns])
            self.done.add(int(row["point"]))
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def finish(self) -> pd.DataFrame:
        """Close, then rewrite sorted by point (atomic replace); return the frame."""
        self.fh.close()
        with open(self.path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            body = sorted(reader, key=lambda r: int(r[0]))
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(body)
        os.replace(tmp, self.path)
        return pd.read_csv(self.path)


def sweep_columns(axes: list[tuple[str, list[Any]]], episodes: Iterable[str]) -> list[str]:
    return (["point", *[k for k, _ in axes], *METRICS]
            + [f"{e}.{k}" for e in episodes for k in EPISODE_METRICS])


def confirm(market: Market, points: Sequence[Point], frame: pd.DataFrame, top: int,
            metric: str = "sharpe_ratio") -> list[dict[str, Any]]:
    """Re-run the top points through backtrader and check they reconcile with the twin."""
    from pipeline.run import reconcile
    from strategies.engine import run_backtrader
    from strategies.twin import run_vectorized

    ranked = frame.sort_values([metric, "point"], ascending=[False, True], na_position="last")
    out = []
    for idx in ranked["point"].head(top).astype(int):
        cfg = points[idx].config
        result, _ = run_backtrader(market, {s: cfg[s] for s in ("book", "overlay", "execution")})
        twin = run_vectorized(market, result.targets, **cfg["execution"])
        rec = reconcile(result.equity, twin.equity)
        out.append({"point": int(idx), **{k: v for k, v in points[idx].values},
                    "max_rel_diff": rec["max_rel_diff"], "ok": rec["ok"]})
    return out


def run_sweep(config: Mapping[str, Any], grid: Sequence[str], engine: str = "vectorized",
              jobs: int = 0, confirm_top: int = 0, executor: str = "local",
              scheduler: str | None = None, out: str | Path = "runs", resume: bool = False,
              ui: Any = None, command: str = "", market: Market | None = None) -> Path:
    """Run the grid; write ``sweep.csv``, ``sweep.json`` and ``sweep.html`` into one folder."""
    from pipeline.run import run_episodes
    from tearsheet.rundir import config_hash, dumps

    axes = parse_grid(grid)
    points = grid_points(config, axes)
    jobs = jobs or os.cpu_count() or 1
    if market is None:
        with ui.progress("loading market") as advance:
            market = load_market(config["data"], progress=lambda t, d, n: advance(d, n, t))
    episodes = run_episodes(config, market)
    folder = Path(out) / f"sweep-{config['name']}-{config_hash({'base': config, 'grid': axes})}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SqueezeLabError(f"cannot write to output folder {out}: {err.strerror}; pick a writable --out") from err
    sheet = SweepFile(folder / "sweep.csv", sweep_columns(axes, episodes), resume)
    todo = [p for p in points if p.index not in sheet.done]
    ui.print(f"sweep: {len(points)} points ({len(points) - len(todo)} already done), engine "
             f"{engine}, executor {executor}, {jobs} jobs")
    source = (run_dask(market, todo, engine, jobs, scheduler) if executor == "dask"
              else run_local(market, todo, engine, jobs))
    with ui.progress("sweep", total=len(points)) as advance:
        advance(len(points) - len(todo))
        try:
            for rows in source:
                sheet.write(rows)
                advance(len(sheet.done))
        finally:
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
    from tearsheet.render import render_sweep

    keys = [k for k, _ in axes]
    x, y = keys[0], keys[1] if len(keys) > 1 else keys[0]
    metrics = ["sharpe_ratio", "max_drawdown", *[f"{e}.max_drawdown_in_window" for e in episodes]]
    render_sweep(folder / "sweep.csv", folder / "sweep.html", x=x, y=y, metrics=metrics)


def _print_top(frame: pd.DataFrame, axes: list[tuple[str, list[Any]]], ui: Any,
               confirmed: list[dict[str, Any]] | None) -> None:
    from rich.table import Table

    from pipeline.ui import fmt_num, fmt_pct

    keys = [k for k, _ in axes]
    ep_cols = [c for c in frame.columns if c.endswith(".max_drawdown_in_window")]
    t = Table(title="Top points by Sharpe", title_justify="left")
    for c in ("point", *keys, "Sharpe", "annual return", "max drawdown", *ep_cols):
        t.add_column(c.replace(".max_drawdown_in_window", " dd"), justify="right")
    top = frame.sort_values(["sharpe_ratio", "point"], ascending=[False, True]).head(5)
    for _, r in top.iterrows():
        t.add_row(str(int(r["point"])), *[str(r[k]) for k in keys], fmt_num(r["sharpe_ratio"]),
                  fmt_pct(r["annual_return"]), fmt_pct(r["max_drawdown"]),
                  *[fmt_pct(r[c]) for c in ep_cols])
    ui.print(t)
    for c in confirmed or []:
        state = "reconciles" if c["ok"] else "DOES NOT reconcile"
        ui.print(f"point {c['point']} through backtrader: {state} (max relative difference "
                 f"{c['max_rel_diff']:.1e})")

