"""Where a sweep's chunks run: in-process or a pool of forked processes (``local``), or Dask.

Both yield rows chunk by chunk as chunks finish, keep the rows of finished chunks when one fails,
and run the ``task`` they are given (``pipeline.sweep.run_chunk``, which Dask sends by name).
On Dask, a book shared by several chunks is computed once as its own task; workers must run the
client's code (checked by a fingerprint of the source); a worker that dies mid-sweep loses
nothing: the scheduler reruns its tasks elsewhere, and if the cluster lost every copy of the
market it is scattered again and the cancelled chunks resubmitted.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .sweep_grid import Point

#: A chunk's task: ``run_chunk(market, points, engine, books=...)`` -> one row per point.
Task = Callable[..., list[dict[str, Any]]]

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


class BookCache(OrderedDict):
    """The last few books' targets (least recently used dropped): chunks come grouped by book.
    A process's sweep points also share the twin's states where their plans agree
    (``checkpoints``, :mod:`strategies.twin_resume`) and the rows the overlay's actions made
    (``action_rows``, :class:`strategies.overlay.ActionRows`)."""

    def __init__(self, maxsize: int = BOOK_CACHE_SIZE) -> None:
        from ..strategies.overlay import ActionRows
        from ..strategies.twin_resume import Checkpoints

        super().__init__()
        self.maxsize = maxsize
        self.checkpoints = Checkpoints()
        self.action_rows = ActionRows()

    def get_or_build(self, key: str, build: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = build()
        while len(self) > self.maxsize:
            self.popitem(last=False)
        return value


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
_WORKER_TASK: Task | None = None


def _init_worker(market: Market, task: Task) -> None:
    import signal

    global _WORKER_MARKET, _WORKER_BOOKS, _WORKER_TASK
    _WORKER_MARKET, _WORKER_BOOKS, _WORKER_TASK = market, BookCache(), task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _run_chunk_in_worker(points: Sequence[Point], engine: str) -> list[dict[str, Any]]:
    if _WORKER_MARKET is None or _WORKER_TASK is None:
        raise RuntimeError("sweep worker started without a market")
    return _WORKER_TASK(_WORKER_MARKET, points, engine, books=_WORKER_BOOKS)


def run_local(market: Market, points: Sequence[Point], engine: str, jobs: int, *, task: Task
              ) -> Iterator[list[dict[str, Any]]]:
    """Yield rows chunk by chunk: in-process for one job, else from a pool of forked processes.

    Forked workers inherit the market and ``task`` (neither is pickled). If a chunk fails, the rows
    of chunks already finished are yielded before the error is raised.
    """
    import multiprocessing as mp

    if not points:
        return
    if jobs <= 1 or len(points) <= 1:
        books = BookCache()
        for chunk in chunks(points, len(points)):
            yield task(market, chunk, engine, books=books)
        return
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"),
                               initializer=_init_worker, initargs=(market, task))
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
                       "pipeline/sweep.py", "pipeline/sweep_executors.py",
                       "pipeline/sweep_grid.py")


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


def dask_task(fn: Task, market: Market, points: Sequence[Point],
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
             scheduler: str | None = None, client: Any = None, *, task: Task
             ) -> Iterator[list[dict[str, Any]]]:
    """Yield rows chunk by chunk from a Dask cluster, in the order the chunks finish.

    Uses ``client`` if given, else connects to ``scheduler`` or starts a LocalCluster of ``jobs``
    worker processes (closed at the end). The market is scattered once to every worker
    (``broadcast=True``); each Dask task is ``task(market, chunk)``. Tasks of a worker that dies
    are rerun elsewhere by the scheduler; if the cluster loses every copy of the market, it is
    scattered again and the cancelled chunks resubmitted. A task that keeps killing its workers
    (out of memory) or a failing chunk stops the sweep; rows of finished chunks are yielded first.
    """
    if not points:
        return
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(jobs, scheduler))
        yield from _dask_rows(client, market, points, engine, task)


def _dask_rows(client: Any, market: Market, points: Sequence[Point], engine: str, task: Task
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
        # Dask pickles the task by reference (pipeline.sweep.run_chunk, imported on the worker)
        fut = client.submit(dask_task, task, state["market"], chunk, engine, fingerprint,
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
