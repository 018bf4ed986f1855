"""Speed-up of a sweep on Dask from 1 to 2 (or more) workers, next to the local process pool.

``python benchmarks/dask_speedup.py`` builds one scenario market (``--names`` stocks, the default
2023-01..2026-03 range) and a ``--points`` grid (books x overlay thresholds), then times the
whole grid through :func:`pipeline.sweep_executors.run_dask` on a LocalCluster of 1, 2, ... single-threaded
worker processes (cluster start-up excluded and reported apart; each cluster first runs a small
warm-up grid so imports on the workers are not timed), and through :func:`pipeline.sweep_executors.run_local`
with the same numbers of jobs. Every executor must give the same rows. Writes
``benchmarks/results/dask_speedup.md`` (and ``.json``). The machine may be shared: the load
average before and after is recorded, and each timing is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from squeeze_lab.pipeline.config import load_market, resolve_config  # noqa: E402
from squeeze_lab.pipeline.sweep import run_chunk  # noqa: E402
from squeeze_lab.pipeline.sweep_executors import dask_client, run_dask, run_local  # noqa: E402
from squeeze_lab.pipeline.sweep_grid import grid_points, parse_grid  # noqa: E402
from squeeze_lab.pipeline.sweep_store import format_cell  # noqa: E402


def grid_for(n_points: int) -> list[str]:
    """A grid of about ``n_points``: 8 books (names per leg x gross) x overlay thresholds."""
    n_thresholds = max(1, round(n_points / 8))
    thresholds = ",".join(f"{1.0 + 0.25 * i:g}" for i in range(n_thresholds))
    return ["book.names_per_leg=20,30,40,50", "book.gross=1,1.5",
            f"overlay.threshold={thresholds}"]


def rows_key(batches: list[list[dict[str, Any]]]) -> list[tuple[str, ...]]:
    """All rows as formatted strings sorted by point: what sweep.csv would hold."""
    rows = sorted((r for b in batches for r in b), key=lambda r: r["point"])
    return [tuple(f"{k}={format_cell(v)}" for k, v in r.items()) for r in rows]


def _spin(_: int) -> float:
    """A fixed CPU-bound job (pure Python): its wall time says how much CPU a process gets."""
    t0 = time.perf_counter()
    x = 0
    for i in range(3_000_000):
        x += i * i
    return time.perf_counter() - t0


def capacity(n: int) -> float:
    """How many cores ``n`` processes actually get now (n = perfectly free cores): n x t1 / tn."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(n) as pool:
        pool.map(_spin, range(n))  # warm
        t0 = time.perf_counter()
        pool.map(_spin, range(n))
        wall_n = time.perf_counter() - t0
    return n * _spin(0) / wall_n


def _cpu_here() -> float:
    """CPU seconds of this process and of its finished children (the local pool's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--names", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-local", action="store_true", help="skip the local process pool")
    ap.add_argument("--out", default=str(HERE / "results" / "dask_speedup.md"))
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]

    base = resolve_config({"name": "bench", "data": {"n_names": args.names, "seed": args.seed},
                           "overlay": {"enabled": True}})
    market = load_market(base["data"])
    points = grid_points(base, parse_grid(grid_for(args.points)))
    warm = points[:: max(1, len(points) // 4)][:4]
    load_before = os.getloadavg()
    cap_before = {n: round(capacity(n), 2) for n in counts}
    timings: dict[tuple[str, int], list[float]] = {}
    keys: dict[tuple[str, int], Any] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    startups: dict[int, float] = {}
    with ExitStack() as stack:
        clients = {}
        for n in counts:
            t0 = time.perf_counter()
            clients[n] = stack.enter_context(dask_client(n))
            startups[n] = time.perf_counter() - t0
            # imports on the workers
            list(run_dask(market, warm, "vectorized", n, client=clients[n], task=run_chunk))
        # repetitions interleaved, so a change of load on a shared machine hits every executor
        for _ in range(args.repeat):
            for n in counts:
                c0 = sum(clients[n].run(time.process_time).values())
                t, batches = timed(lambda n=n: list(run_dask(market, points, "vectorized", n,
                                                             client=clients[n], task=run_chunk)))
                cpu.setdefault(("dask", n), []).append(
                    sum(clients[n].run(time.process_time).values()) - c0)
                timings.setdefault(("dask", n), []).append(t)
                keys[("dask", n)] = rows_key(batches)
            for n in [] if args.no_local else counts:
                c0 = _cpu_here()
                t, batches = timed(lambda n=n: list(run_local(market, points, "vectorized", n,
                                                              task=run_chunk)))
                cpu.setdefault(("local", n), []).append(_cpu_here() - c0)
                timings.setdefault(("local", n), []).append(t)
                keys[("local", n)] = rows_key(batches)
    reference = next(iter(keys.values()))
    results: list[dict[str, Any]] = []
    for (executor, n), times in timings.items():
        if keys[(executor, n)] != reference:
            raise SystemExit(f"{executor} with {n} workers gave other rows than the others")
        results.append({"executor": executor, "workers": n, "seconds": statistics.median(times),
                        "runs": [round(t, 3) for t in times],
                        "cpu_seconds": statistics.median(cpu[(executor, n)]),
                        "startup": startups[n] if executor == "dask" else None})
        print(f"{executor:6s} {n} workers: median {statistics.median(times):.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in times)})", flush=True)
    load_after = os.getloadavg()
    cap_after = {n: round(capacity(n), 2) for n in counts}

    import dask

    info = {"points": len(points), "names": args.names, "sessions": len(market.dates),
            "grid": grid_for(args.points), "repeat": args.repeat, "cpus": os.cpu_count(),
            "python": platform.python_version(), "dask": dask.__version__,
            "machine": platform.machine(), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "capacity_before": cap_before, "capacity_after": cap_after,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    out.write_text(render(info))
    print(f"wrote {out}")
    return 0


def render(info: dict[str, Any]) -> str:
    first = {r["executor"]: r["seconds"] for r in info["results"] if r["workers"] == 1}
    lines = [
        "# Sweep speed-up on Dask (benchmarks/dask_speedup.py)",
        "",
        f"{info['date']}, {info['cpus']} CPUs ({info['machine']}), Python {info['python']}, "
        f"Dask {info['dask']}. Load average before {info['load_before']}, after "
        f"{info['load_after']} (the machine is shared: other processes compete for the cores).",
        "",
        "Cores actually available (n processes of a fixed CPU-bound loop run n x t1 / tn times "
        "as fast as one; 2.0 = two free cores): before "
        + ", ".join(f"{n} procs {c}" for n, c in info["capacity_before"].items()) + "; after "
        + ", ".join(f"{n} procs {c}" for n, c in info["capacity_after"].items())
        + ". A speed-up from 1 to 2 workers cannot exceed the 2-process figure.",
        "",
        f"Grid: {info['points']} points ({' x '.join(g.split('=')[0] for g in info['grid'])}: "
        f"8 books x {info['points'] // 8} overlay thresholds) on a scenario market of "
        f"{info['names']} names x {info['sessions']} sessions, vectorized twin. Wall time of the "
        f"whole grid, median of {info['repeat']} runs; Dask cluster start-up not included (shown "
        "apart), workers warmed up by a 4-point sweep first. `local` with 1 worker runs "
        "in-process, with more it is a pool of forked processes. All executors gave identical "
        "rows.",
        "",
        "| executor | workers | seconds | points/s | speed-up vs 1 worker | worker CPU s | "
        "cores used (CPU s / s) | cluster start-up (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in info["results"]:
        speed = first.get(r["executor"], r["seconds"]) / r["seconds"]
        start = f"{r['startup']:.2f}" if r["startup"] is not None else ""
        lines.append(f"| {r['executor']} | {r['workers']} | {r['seconds']:.2f} | "
                     f"{info['points'] / r['seconds']:.1f} | {speed:.2f}x | "
                     f"{r['cpu_seconds']:.2f} | {r['cpu_seconds'] / r['seconds']:.2f} | {start} |")
    lines += ["", "Worker CPU s: CPU time of the processes computing the grid (Dask workers; this "
              "process for local with 1 worker; the pool's processes otherwise). It stays flat "
              "from 1 to 2 workers when the split costs nothing; cores used below the worker "
              "count means the workers waited for a CPU."]
    lines += ["", "Reproduce: `python benchmarks/dask_speedup.py --points "
              f"{info['points']} --names {info['names']} --repeat {info['repeat']}`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
