"""Parameter sweeps: a grid of configs through the vectorized twin (or backtrader), in parallel.

The market is built once and shared with the workers (inherited by forked processes, scattered
once to every Dask worker), each task runs a chunk of grid points that share the book's targets,
and rows stream into ``sweep.csv`` as they arrive, so a crash or Ctrl-C keeps every finished row
and ``--resume`` skips them. At the end the file is rewritten sorted by grid point: the same grid
and seed give the same bytes with any executor, any number of workers, resumed or not.

Executors: ``local`` (a process pool of ``--jobs`` forked processes, or in-process with
``--jobs 1``) and ``dask`` (a ``LocalCluster`` of ``--jobs`` single-threaded worker processes,
or the cluster at ``--scheduler tcp://HOST:PORT``; see ``pipeline/DASK.md``). Dask is an
optional extra (``pip install 'squeeze-lab[dask]'``). On Dask, a book shared by several chunks
is computed once as its own task; workers must run the client's code (checked by a fingerprint
of the source); a worker that dies mid-sweep loses nothing: the scheduler reruns its tasks
elsewhere, and if the cluster lost every copy of the market it is scattered again and the
cancelled chunks resubmitted.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import itertools
import json
import logging
import os
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .config import Config, check_against_market, check_jobs, parse_value, resolve_config, set_key

#: Metric columns of sweep.csv (after ``point`` and the grid keys); episode columns follow.
METRICS = ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
           "calmar_ratio", "final_equity", "turnover", "n_decisions")
EPISODE_METRICS = ("return", "max_drawdown_in_window", "depth")
ENGINES = ("vectorized", "backtrader")
EXECUTORS = ("local", "dask")
#: Tasks per worker thread: enough to balance uneven chunks and stream rows, few enough that
#: each task amortizes the book's targets over several points.
CHUNKS_PER_THREAD = 4
#: At most this many points per task, so rows stream in (and Ctrl-C loses little).
MAX_CHUNK_POINTS = 8
#: Book targets kept per process (chunks arrive grouped by book, so a few suffice).
BOOK_CACHE_SIZE = 4
#: How often one chunk is resubmitted after the cluster lost the market it depends on.
MAX_RESUBMITS = 3
#: Seconds to wait for the first worker of a remote cluster (and for workers after a loss).
WORKER_WAIT = 60
#: glibc's largest mmap threshold (32 MiB on 64-bit), for the LocalCluster's workers.
MMAP_THRESHOLD = 32 * 1024 * 1024
SPAWN_ENV = "distributed.nanny.pre-spawn-environ"
DASK_MISSING = ("--executor dask needs Dask: pip install 'squeeze-lab[dask]' (or -e '.[dask]' "
                "from a checkout), or use --executor local")


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
        if not key:
            raise SqueezeLabError(f"--grid {spec!r} has no key: write e.g. --grid book.gross=1,2")
        vals = [parse_value(v) for v in split_values(values)]
        if not vals:
            raise SqueezeLabError(f"--grid {key} has no values: write e.g. --grid {key}=1,2")
        if any(k == key for k, _ in axes):
            raise SqueezeLabError(f"--grid {key} is given twice: give all its values in one --grid")
        if key.startswith("data."):
            raise SqueezeLabError(
                f"--grid {key}: a sweep varies the strategy on one market, built once; sweep "
                f"each market separately (e.g. --set {key}=...) or compare markets with `study`"
            )
        axes.append((key, vals))
    if not axes:
        raise SqueezeLabError("sweep needs at least one --grid KEY=V1,V2,... axis")
    return axes


@dataclass(frozen=True)
class Point:
    """One grid point: its index in grid order, its overrides and its fully resolved config."""

    index: int
    values: tuple[tuple[str, Any], ...]
    config: Config

    @property
    def book_key(self) -> str:
        """Points with the same book (and data) share the book's targets."""
        return json.dumps([self.config.book.as_dict(), self.config.data.as_dict()], sort_keys=True)


def grid_points(base: Mapping[str, Any], axes: list[tuple[str, list[Any]]]) -> list[Point]:
    """Every point of the grid, each config resolved (a bad value fails before any work), and
    every axis able to change the result (see :func:`check_axes`)."""
    points = []
    for i, combo in enumerate(itertools.product(*[vals for _, vals in axes])):
        raw = copy.deepcopy(dict(base))
        for (key, _), value in zip(axes, combo, strict=True):
            set_key(raw, key, value)
        cfg = resolve_config(raw, name=f"{base['name']}-p{i:04d}")
        points.append(Point(i, tuple((k, v) for (k, _), v in zip(axes, combo, strict=True)), cfg))
    check_axes(axes, points)
    return points


def check_axes(axes: list[tuple[str, list[Any]]], points: Sequence[Point]) -> None:
    """Refuse an axis that cannot change a sweep row: ``name``, a key no metric depends on, a key
    no grid point reads (overlay disabled, action not chosen), or a value given twice."""
    from ..strategies.spec import SECTIONS

    for key, values in axes:
        if key == "name":
            raise SqueezeLabError("--grid name: the run name changes no number of a sweep: drop "
                                  "this axis (the sweep is named by --name)")
        section, param = key.split(".", 1)
        spec = SECTIONS[section]
        reasons = [spec.inert_reason(param, p.config[section]) for p in points]
        if all(reasons):
            why, fix = reasons[0]
            fix = fix if fix == "drop the axis" else f"{fix}, or drop the axis"
            raise SqueezeLabError(f"--grid {key} cannot change the result: {why}: {fix}")
        seen: dict[str, Any] = {}
        for v in values:
            norm = json.dumps(spec.param(param).validate(v, section), default=str)
            if norm in seen:
                raise SqueezeLabError(f"--grid {key} gives the value {seen[norm]!r} twice (as "
                                      f"{v!r}): give each value once")
            seen[norm] = v


# --------------------------------------------------------------------------- one point
def summary_row(result: Any, market: Market, episodes: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's metrics for one run: performance (empyrical) and each episode's drawdown."""
    from ..analyzers.episodes import episode_drawdown
    from ..analyzers.performance import performance_stats
    from ..analyzers.warmup import first_invested, measured_equity

    bench = market.reference["index"] if "index" in market.reference.columns else None
    first = first_invested(result)
    equity = result.equity if first is None else measured_equity(result.equity, first)
    returns = equity.pct_change(fill_method=None)
    returns.iloc[0] = 0.0
    perf = performance_stats(returns, bench)
    row: dict[str, Any] = {k: perf.get(k) for k in METRICS if k in perf}
    row["final_equity"] = float(result.equity.iloc[-1])
    if hasattr(result, "traded_value"):   # the twin's equity-only run (strategies.twin.EquityRun)
        traded = result.traded_value if result.n_trades else 0.0
    else:
        traded = (result.trades["size"].abs() * result.trades["price"]).sum() if len(result.trades) else 0.0
    row["turnover"] = float(traded / result.equity.mean())
    row["n_decisions"] = int(len(result.overlay_log)) if result.overlay_log is not None else 0
    for name, ep in episodes.items():
        dd = episode_drawdown(result.equity, ep)
        for k in EPISODE_METRICS:
            row[f"{name}.{k}"] = dd[k]
    return row


class BookCache(OrderedDict):
    """The last few books' targets (least recently used dropped): chunks come grouped by book."""

    def __init__(self, maxsize: int = BOOK_CACHE_SIZE) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_or_build(self, key: str, build: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = build()
        while len(self) > self.maxsize:
            self.popitem(last=False)
        return value


def run_chunk(market: Market, points: Sequence[Point], engine: str = "vectorized",
              books: MutableMapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run a chunk of points on one market (a worker's task): one row per point, in chunk order.

    Points sharing a book share its targets: computed once per chunk, or taken from ``books``
    ({book_key: Targets}; a :class:`BookCache` kept across chunks, or targets computed once for
    the whole cluster). Importable on every worker: Dask sends it by name.
    """
    from ..strategies.book import book_targets
    from ..strategies.overlay import apply_overlay
    from ..strategies.twin import run_vectorized
    from .run import borrow_terms, run_episodes

    books = BookCache() if books is None else books
    terms_of: dict[tuple[Any, ...], Any] = {}
    rows = []
    for p in points:
        cfg = p.config
        episodes = run_episodes(cfg, market)
        key = (cfg["execution"]["borrow_model"], cfg["execution"]["borrow_bps"],
               cfg["data"].get("borrow", ""))
        if key not in terms_of:
            terms_of[key] = borrow_terms(cfg, market)
        terms = terms_of[key]
        if engine == "backtrader":
            from ..strategies.engine import run_backtrader

            result, _ = run_backtrader(market, {s: cfg[s] for s in ("book", "overlay", "execution")},
                                       borrow=terms)
        else:
            if isinstance(books, BookCache):
                book = books.get_or_build(p.book_key, lambda c=cfg: book_targets(market, **c["book"]))
            else:
                if p.book_key not in books:
                    books[p.book_key] = book_targets(market, **cfg["book"])
                book = books[p.book_key]
            targets, log = apply_overlay(market, book, borrow_fees=terms.fee_bps, **cfg["overlay"])
            result = run_vectorized(market, targets, overlay_log=log, detail=False, borrow=terms,
                                    max_net_long=cfg["overlay"]["max_net_long"], **cfg["execution"])
        rows.append({"point": p.index, **{k: v for k, v in p.values},
                     **summary_row(result, market, episodes)})
    return rows


def chunks(points: Sequence[Point], n_chunks: int) -> list[list[Point]]:
    """Group points sharing a book, then split into about ``n_chunks`` tasks in grid order
    (at least ``n_chunks``, of at most ``MAX_CHUNK_POINTS`` points each)."""
    by_book: dict[str, list[Point]] = {}
    for p in points:
        by_book.setdefault(p.book_key, []).append(p)
    size = min(MAX_CHUNK_POINTS, max(1, int(np.ceil(len(points) / max(1, n_chunks)))))
    out: list[list[Point]] = []
    for g in by_book.values():
        out += [g[i:i + size] for i in range(0, len(g), size)]
    return out


def _span(chunk: Sequence[Point]) -> str:
    first, last = chunk[0].index, chunk[-1].index
    return f"point {first}" if first == last else f"points {first}..{last}"


# --------------------------------------------------------------------------- local executor
_WORKER_MARKET: Market | None = None
_WORKER_BOOKS: BookCache | None = None


def _init_worker(market: Market) -> None:
    import signal

    global _WORKER_MARKET, _WORKER_BOOKS
    _WORKER_MARKET, _WORKER_BOOKS = market, BookCache()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _run_chunk_in_worker(points: Sequence[Point], engine: str) -> list[dict[str, Any]]:
    if _WORKER_MARKET is None:
        raise RuntimeError("sweep worker started without a market")
    return run_chunk(_WORKER_MARKET, points, engine, books=_WORKER_BOOKS)


def run_local(market: Market, points: Sequence[Point], engine: str, jobs: int
              ) -> Iterator[list[dict[str, Any]]]:
    """Yield rows chunk by chunk: in-process for one job, else from a pool of forked processes.

    Forked workers inherit the market (it is not pickled per task). If a chunk fails, the rows
    of chunks already finished are yielded before the error is raised.
    """
    import multiprocessing as mp

    if not points:
        return
    if jobs <= 1 or len(points) <= 1:
        books = BookCache()
        for chunk in chunks(points, len(points)):
            yield run_chunk(market, chunk, engine, books=books)
        return
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"),
                               initializer=_init_worker, initargs=(market,))
    futures = {pool.submit(_run_chunk_in_worker, c, engine): c
               for c in chunks(points, jobs * CHUNKS_PER_THREAD)}
    seen: set[Any] = set()
    clean = False
    try:
        for fut in as_completed(futures):
            seen.add(fut)
            try:
                rows = fut.result()
            except BrokenProcessPool as err:
                raise SqueezeLabError(
                    f"a sweep worker process died while running {_span(futures[fut])} (out of "
                    "memory?): finished rows are kept; rerun with --resume and fewer --jobs"
                ) from err
            except Exception:
                for f in futures:  # keep the rows of chunks that finished meanwhile
                    if f not in seen and f.done() and not f.cancelled() and f.exception() is None:
                        yield f.result()
                raise
            yield rows
        clean = True
    finally:
        pool.shutdown(wait=clean, cancel_futures=True)


# --------------------------------------------------------------------------- dask executor
def import_dask() -> SimpleNamespace:
    """The pieces of ``dask.distributed`` the sweep uses, or one line saying how to install it."""
    try:
        from dask import config
        from dask.distributed import Client, KilledWorker, LocalCluster, WorkerPlugin
        from dask.distributed import as_completed as dask_as_completed
    except ImportError as err:
        raise SqueezeLabError(DASK_MISSING) from err
    return SimpleNamespace(Client=Client, LocalCluster=LocalCluster, KilledWorker=KilledWorker,
                           WorkerPlugin=WorkerPlugin, as_completed=dask_as_completed,
                           config=config)


def _ignore_interrupts_plugin(dd: SimpleNamespace) -> Any:
    """A worker plugin: Ctrl-C is the CLI's to handle, not the local workers' (same terminal).

    Without it every worker process of a LocalCluster gets the terminal's SIGINT too and dies
    with tracebacks while the CLI is already closing the cluster.
    """

    class IgnoreInterrupts(dd.WorkerPlugin):
        name = "squeeze-lab-ignore-sigint"

        def setup(self, worker: Any) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreInterrupts()


#: The source that decides a row's numbers: what run_chunk imports (the market is built on the
#: client and sent, so the feeds that build it do not count).
FINGERPRINT_SOURCES = ("strategies", "analyzers/__init__.py", "analyzers/drawdowns.py",
                       "analyzers/episodes.py", "analyzers/performance.py", "feeds/__init__.py",
                       "feeds/market.py", "feeds/episodes.py", "feeds/errors.py",
                       "pipeline/__init__.py", "pipeline/config.py", "pipeline/run.py",
                       "pipeline/sweep.py")


def source_fingerprint() -> str:
    """sha256 (first 16 hex) of the source files that compute a sweep row, as on disk now."""
    import importlib.util

    spec = importlib.util.find_spec("squeeze_lab")
    root = Path(spec.origin).parent if spec and spec.origin else Path(__file__).parents[1]
    h = hashlib.sha256()
    for item in FINGERPRINT_SOURCES:
        path = root / item
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint() -> str:
    """:func:`source_fingerprint` once per process (a worker's code does not change once loaded).

    A worker running other code than the client (another version, or files edited since it
    started) would silently change rows, so the sweep refuses it.
    """
    return source_fingerprint()


def _worker_info() -> dict[str, str]:
    """Run on each Dask worker before the sweep: proves it can import squeeze-lab, says which."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("squeeze-lab")
    except PackageNotFoundError:
        ours = "not installed"
    return {"squeeze-lab": ours, "python": ".".join(platform.python_version_tuple()[:2]),
            "code": code_fingerprint()}


def _check_code(fingerprint: str) -> None:
    if code_fingerprint() != fingerprint:
        raise SqueezeLabError(
            f"a Dask worker runs other squeeze-lab code than this machine (code "
            f"{code_fingerprint()}, here {fingerprint}): install the same version on every "
            "worker, then rerun with --resume")


def _dask_task(fn: Callable[..., list[dict[str, Any]]], market: Market, points: Sequence[Point],
               engine: str, fingerprint: str, books: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
    """One Dask task: ``fn`` (run_chunk) on a chunk, on a worker running the client's code."""
    _check_code(fingerprint)
    return fn(market, points, engine, books=books)


def _book_task(market: Market, book: Mapping[str, Any], fingerprint: str) -> Any:
    """One Dask task: a book's targets, computed once for every chunk of its points."""
    from ..strategies.book import book_targets

    _check_code(fingerprint)
    return book_targets(market, **book)


def _check_address(scheduler: str) -> None:
    """A malformed or unreachable scheduler address is one line, before Dask tries to connect."""
    import socket
    from urllib.parse import urlsplit

    address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    parts = urlsplit(address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls", "ws", "wss") or not host or not port:
        raise SqueezeLabError(f"--scheduler {scheduler!r} is not a Dask scheduler address: "
                              "write e.g. --scheduler tcp://10.0.0.5:8786")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as err:
        raise SqueezeLabError(
            f"cannot reach the Dask scheduler at {scheduler} ({err.strerror or err}): start "
            f"`dask scheduler` there, or drop --scheduler to use a local cluster"
        ) from err


def _check_workers(client: Any, where: str) -> int:
    """Wait for a worker, check every worker imports squeeze-lab; return the worker threads."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError as err:
        raise SqueezeLabError(f"no Dask worker joined {where} in {WORKER_WAIT} s: start "
                              f"`dask worker {where}` on each machine") from err
    try:
        infos = client.run(_worker_info)
    except Exception as err:  # noqa: BLE001 - Dask wraps the worker's ImportError in Exception
        raise SqueezeLabError(
            f"the Dask workers at {where} cannot run squeeze-lab ({err}): install the same "
            "squeeze-lab on every worker (pip install 'squeeze-lab[dask]')"
        ) from err
    mine = {**_worker_info(), "code": source_fingerprint()}
    for addr, info in sorted(infos.items()):
        if info != mine:
            raise SqueezeLabError(
                f"Dask worker {addr} runs squeeze-lab {info['squeeze-lab']} (code {info['code']}) "
                f"on Python {info['python']}, this machine {mine['squeeze-lab']} (code "
                f"{mine['code']}) on {mine['python']}: install the same version on every worker"
            )
    return max(1, sum(client.nthreads().values()))


@contextmanager
def dask_client(jobs: int, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: to ``scheduler``, or to a LocalCluster of ``jobs`` one-thread processes."""
    dd = import_dask()
    if scheduler:
        _check_address(scheduler)
    with ExitStack() as stack:
        stack.enter_context(_quiet_logger("distributed"))
        if scheduler:
            try:
                client = dd.Client(scheduler, timeout="30s", set_as_default=False)
            except (OSError, ValueError) as err:
                raise SqueezeLabError(f"cannot connect to the Dask scheduler at {scheduler} "
                                      f"({err}): check the address and that it runs") from err
            where = scheduler
        else:
            # Dask's workers set MALLOC_TRIM_THRESHOLD_, which pins glibc's mmap threshold at
            # 128 KiB: every new mid-size array is then mmapped and page-faulted afresh, which
            # nearly doubled the time of a chunk (measured: +2.3 s of system time on 3.5 s).
            # A 32 MiB mmap threshold keeps them on the heap (an exported value wins).
            # Logs are ours to report: failures reach the user as one line each, and a Ctrl-C
            # would otherwise print every worker's shutdown.
            with dd.config.set({f"{SPAWN_ENV}.MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}):
                cluster = stack.enter_context(dd.LocalCluster(
                    n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                    dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL))
            client = dd.Client(cluster, set_as_default=False)
            where = cluster.scheduler_address
            client.register_plugin(_ignore_interrupts_plugin(dd))
        stack.callback(client.close)
        _check_workers(client, where)
        yield client


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Dask's own log lines off while it works for the CLI (its failures become our one line)."""
    names = [name, *(n for n in logging.root.manager.loggerDict if n.startswith(name + "."))]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def run_dask(market: Market, points: Sequence[Point], engine: str, jobs: int,
             scheduler: str | None = None, client: Any = None) -> Iterator[list[dict[str, Any]]]:
    """Yield rows chunk by chunk from a Dask cluster, in the order the chunks finish.

    Uses ``client`` if given, else connects to ``scheduler`` or starts a LocalCluster of ``jobs``
    worker processes (closed at the end). The market is scattered once to every worker
    (``broadcast=True``); each task is ``run_chunk(market, chunk)``. Tasks of a worker that dies
    are rerun elsewhere by the scheduler; if the cluster loses every copy of the market, it is
    scattered again and the cancelled chunks resubmitted. A task that keeps killing its workers
    (out of memory) or a failing chunk stops the sweep; rows of finished chunks are yielded first.
    """
    if not points:
        return
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(jobs, scheduler))
        yield from _dask_rows(client, market, points, engine)


def _dask_rows(client: Any, market: Market, points: Sequence[Point], engine: str
               ) -> Iterator[list[dict[str, Any]]]:
    dd = import_dask()
    threads = max(1, sum(client.nthreads().values()))
    work = chunks(points, threads * CHUNKS_PER_THREAD)
    # a book split over several chunks is computed once, as its own task, and shared
    per_book = Counter(c[0].book_key for c in work)
    shared = {k for k, n in per_book.items() if n > 1} if engine == "vectorized" else set()
    fingerprint = source_fingerprint()
    where = client.scheduler.address
    tag, serial = uuid.uuid4().hex[:8], itertools.count()
    state = {"market": _scatter(client, market)}
    book_futures: dict[str, Any] = {}
    pending: dict[Any, list[Point]] = {}
    attempts: dict[int, int] = {}

    def book_future(chunk: list[Point]) -> Any:
        key = chunk[0].book_key
        fut = book_futures.get(key)
        if fut is None or fut.status not in ("pending", "finished"):
            fut = book_futures[key] = client.submit(
                _book_task, state["market"], chunk[0].config["book"], fingerprint, pure=False,
                key=f"squeeze-lab-book-{tag}-{next(serial)}")
        return fut

    def submit(chunk: list[Point]) -> Any:
        books = {chunk[0].book_key: book_future(chunk)} if chunk[0].book_key in shared else None
        # run_chunk is looked up now (tests swap it); Dask pickles it by reference
        fut = client.submit(_dask_task, run_chunk, state["market"], chunk, engine, fingerprint,
                            books, pure=False,
                            key=f"squeeze-lab-sweep-{tag}-p{chunk[0].index:06d}-{next(serial)}")
        pending[fut] = chunk
        return fut

    stream = dd.as_completed([submit(c) for c in work], loop=client.loop)
    try:
        for fut in stream:
            chunk = pending.pop(fut)
            try:
                rows = fut.result()
            except CancelledError as err:
                if getattr(err, "reason", "") == "scheduler-connection-lost" \
                        or client.status != "running":
                    raise SqueezeLabError(
                        f"lost the connection to the Dask scheduler at {where}: "
                        "finished rows are kept; restart the cluster and rerun with --resume"
                    ) from err
                # every copy of the market was lost with its workers: scatter it again, resubmit
                n = attempts[chunk[0].index] = attempts.get(chunk[0].index, 0) + 1
                if n > MAX_RESUBMITS:
                    raise SqueezeLabError(
                        f"the Dask cluster cancelled {_span(chunk)} {n} times ({err}): finished "
                        "rows are kept; check the cluster and rerun with --resume") from err
                if state["market"].status != "finished":
                    state["market"] = _scatter(client, market)
                    book_futures.clear()
                stream.add(submit(chunk))
                continue
            except dd.KilledWorker as err:
                raise SqueezeLabError(
                    f"{_span(chunk)} killed Dask worker after worker (out of memory?): finished "
                    "rows are kept; give the workers more memory and rerun with --resume") from err
            except Exception:
                for f in list(pending):  # keep the rows of chunks that finished meanwhile
                    if f.status == "finished":
                        try:
                            done = f.result()
                        except Exception:  # noqa: BLE001 - lost meanwhile: rerun by --resume
                            continue
                        yield done
                raise
            yield rows
    finally:
        with suppress(Exception):  # the cluster may be gone already: keep the first error
            client.cancel([*pending, *book_futures.values()])


def _scatter(client: Any, market: Market) -> Any:
    """Send the market to every worker once (a fresh key, so a lost copy is never reused)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
        return client.scatter(market, broadcast=True, hash=False)
    except (OSError, TimeoutError) as err:
        raise SqueezeLabError(f"cannot send the market to the Dask workers ({err}): check the "
                              "cluster has running workers and rerun with --resume") from err


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
    """``sweep.csv`` written row by row (flushed and synced), then rewritten sorted by point.

    With ``resume`` an existing file is kept: its complete rows count as done (a torn last line,
    from a hard kill mid-write, is dropped), after checking it belongs to this grid: same columns
    and, when ``expected`` maps each point to its formatted grid values, the same values.
    """

    def __init__(self, path: Path, columns: list[str], resume: bool,
                 expected: Mapping[int, Sequence[str]] | None = None) -> None:
        self.path, self.columns = Path(path), list(columns)
        self.done: set[int] = set()
        body: list[list[str]] = []
        if resume and self.path.exists() and self.path.stat().st_size:
            body = self._read_previous(expected)
        self._rewrite(body)
        self.done = {int(r[0]) for r in body}
        self.fh = open(self.path, "a", newline="")  # noqa: SIM115 - kept open while rows stream in
        self.writer = csv.writer(self.fh, lineterminator="\n")

    def _read_previous(self, expected: Mapping[int, Sequence[str]] | None) -> list[list[str]]:
        stale = f"{self.path} was written for another grid: drop --resume or use another --out"
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise SqueezeLabError(f"{self.path} cannot be resumed ({err}): delete it and run again") from err
        if not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]  # a row torn by a hard kill: run it again
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            return []
        if rows[0] != self.columns:
            raise SqueezeLabError(stale)
        body: dict[int, list[str]] = {}
        n_keys = len(next(iter(expected.values()))) if expected else 0
        for r in rows[1:]:
            try:
                point = int(r[0])
            except (ValueError, IndexError) as err:
                raise SqueezeLabError(f"{self.path} has a malformed row {r[:3]}: delete it and "
                                      "run again") from err
            if len(r) != len(self.columns):
                raise SqueezeLabError(f"{self.path} row for point {point} has {len(r)} fields, "
                                      f"not {len(self.columns)}: delete it and run again")
            if expected is not None and (point not in expected
                                         or list(expected[point]) != r[1:1 + n_keys]):
                raise SqueezeLabError(stale)
            metric_cells = r[1 + n_keys:] if expected is not None else []
            for col, cell in zip(self.columns[1 + n_keys:], metric_cells, strict=False):
                try:
                    float(cell or "nan")
                except ValueError:
                    raise SqueezeLabError(f"{self.path} row for point {point} has {col}={cell!r}, "
                                          "not a number: delete it and run again") from None
            body.setdefault(point, r)
        return list(body.values())

    def _rewrite(self, body: list[list[str]]) -> None:
        """Header and ``body`` sorted by point, atomically (a crash leaves the old file)."""
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(self.columns)
            w.writerows(sorted(body, key=lambda r: int(r[0])))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (a point already written is skipped), flushed to disk before returning."""
        for row in rows:
            point = int(row["point"])
            if point in self.done:
                continue
            self.writer.writerow([_fmt(row.get(c)) for c in self.columns])
            self.done.add(point)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def finish(self) -> pd.DataFrame:
        """Close, then rewrite sorted by point (atomic replace); return the frame."""
        self.fh.close()
        with open(self.path, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            body: dict[int, list[str]] = {}
            for r in reader:
                if len(r) == len(self.columns):  # a row cut short by an interruption: rerun it
                    body.setdefault(int(r[0]), r)
        self._rewrite(list(body.values()))
        return pd.read_csv(self.path)


def sweep_columns(axes: list[tuple[str, list[Any]]], episodes: Iterable[str]) -> list[str]:
    return (["point", *[k for k, _ in axes], *METRICS]
            + [f"{e}.{k}" for e in episodes for k in EPISODE_METRICS])


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
        twin = run_vectorized(market, result.targets, borrow=terms,
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
        stack.callback(_drop_if_empty, folder, fresh)
        expected = {p.index: [_fmt(v) for _, v in p.values] for p in points}
        sheet = SweepFile(folder / "sweep.csv", sweep_columns(axes, episodes), resume, expected)
        todo = [p for p in points if p.index not in sheet.done]
        how = _describe_dask(client) if client is not None else f"local, {jobs} jobs"
        ui.print(f"sweep: {len(points)} points ({len(points) - len(todo)} already done), engine "
                 f"{engine}, executor {how}")
        source = (run_dask(market, todo, engine, jobs, scheduler, client=client)
                  if client is not None else run_local(market, todo, engine, jobs))
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


def _drop_if_empty(folder: Path, fresh: bool) -> None:
    """A sweep folder this run created and that holds no finished row is removed (no half-made
    folder); one with rows stays for ``--resume``."""
    import shutil

    sheet = folder / "sweep.csv"
    if not fresh or not folder.exists():
        return
    try:
        lines = sheet.read_text().count("\n") if sheet.exists() else 0
    except OSError:
        return
    if lines <= 1:
        shutil.rmtree(folder, ignore_errors=True)


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

