"""Sweeps on Dask: same bytes as the local executor, a killed worker loses nothing, crash + resume.

The cluster-free checks (Dask missing, bad scheduler address) are quick; the others start a
LocalCluster of two single-threaded worker processes and are marked ``slow``
(``pytest -m "not slow"`` skips them). Worker-side behaviour is injected by swapping
``pipeline.sweep.run_chunk`` for a function of this module: Dask pickles it by name and the
workers import this module (they inherit the test process's ``sys.path``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from test_sweep import GRID, SMALL, cli, one_line_error, sweep_csv

import squeeze_lab.pipeline.sweep as sweep
import squeeze_lab.pipeline.sweep_executors as executors
from squeeze_lab import pipeline, run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.sweep import run_chunk as real_run_chunk

#: Eight points: two books x overlay on/off x two commission levels.
GRID8 = [*GRID, "--grid", "execution.commission_bps=0,5"]
#: Seconds each chunk sleeps on the worker in the worker-death tests (tasks must be in flight).
SLOW = 0.5


def sweep8(out: Path, *extra: str) -> list[str]:
    return ["sweep", *SMALL, *GRID8, "--quiet", "--out", str(out), *extra]


# --------------------------------------------------------------------------- worker-side stand-ins
def slow_chunk(market, points, engine="vectorized", books=None):
    """run_chunk, slowed down so that a worker can be killed while it runs."""
    time.sleep(SLOW)
    return real_run_chunk(market, points, engine, books=books)


def failing_chunk(market, points, engine="vectorized", books=None):
    """run_chunk failing on point 5, on the worker."""
    if any(p.index == 5 for p in points):
        raise SqueezeLabError("injected failure on point 5: rerun with --resume")
    return real_run_chunk(market, points, engine, books=books)


def removals(dask_scheduler=None) -> list[dict]:
    """The scheduler's worker removals, as plain data (run with ``client.run_on_scheduler``)."""
    return [{"worker": msg.get("worker"),
             "processing": sorted(map(str, msg.get("processing-tasks", ()))),
             "lost_scattered": sorted(map(str, msg.get("lost-scattered-tasks", ())))}
            for _, msg in dask_scheduler.get_events("all")
            if isinstance(msg, dict) and msg.get("action") == "remove-worker"]


# --------------------------------------------------------------------------- without a cluster
def test_missing_dask_is_one_line_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails like it is absent
    monkeypatch.setattr(pipeline.config, "load_market", lambda *a, **k: pytest.fail("market loaded"))
    code, _, err = cli(capsys, *sweep8(tmp_path / "o", "--executor", "dask"))
    one_line_error(code, err, "needs Dask", "pip install", "squeeze-lab[dask]")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("address", "needles"), [
    ("tcp://127.0.0.1:1", ["cannot reach", "tcp://127.0.0.1:1", "dask scheduler"]),
    ("garbage", ["not a Dask scheduler address", "tcp://"]),
    ("http://host:8786", ["not a Dask scheduler address"]),
])
def test_bad_scheduler_is_one_line(tmp_path: Path, capsys, monkeypatch, address: str,
                                   needles: list[str]) -> None:
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(pipeline.config, "load_market", lambda *a, **k: pytest.fail("market loaded"))
    code, _, err = cli(capsys, *sweep8(tmp_path / "o", "--executor", "dask", "--scheduler", address))
    one_line_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


def test_a_worker_running_other_code_is_refused() -> None:
    calls: list[int] = []

    def fn(market, points, engine, books=None):
        calls.append(len(points))
        return []

    assert executors.dask_task(fn, None, [1, 2], "vectorized", executors.code_fingerprint()) == []
    with pytest.raises(SqueezeLabError, match="other squeeze-lab code"):
        executors.dask_task(fn, None, [1], "vectorized", "0123456789abcdef")
    assert calls == [2]


# --------------------------------------------------------------------------- with a cluster
@pytest.fixture(scope="module")
def reference8(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """sweep.csv of the eight-point grid with the local executor, in-process."""
    out = tmp_path_factory.mktemp("reference8")
    assert run_backtest.main(sweep8(out, "--jobs", "1")) == 0
    return sweep_csv(out).read_bytes()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A LocalCluster of two one-thread worker processes (with nannies) and a client to it."""
    dd = pytest.importorskip("dask.distributed")
    with dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
                         local_directory=str(tmp_path_factory.mktemp("dask"))) as lc, \
            dd.Client(lc, set_as_default=False) as client:
        yield lc, client


@pytest.fixture
def healthy(cluster):
    """The cluster with both workers up (a previous test may have killed some)."""
    lc, client = cluster
    client.wait_for_workers(2, timeout=60)
    return lc.scheduler_address, client


@pytest.mark.slow
def test_dask_gives_the_same_bytes_as_local(tmp_path: Path, capsys, reference8: bytes) -> None:
    # no --scheduler: run_dask starts (and closes) its own LocalCluster of --jobs workers
    code, _, err = cli(capsys, *sweep8(tmp_path / "own", "--executor", "dask", "--jobs", "2"))
    assert code == 0, err
    assert sweep_csv(tmp_path / "own").read_bytes() == reference8


def _worker_setup() -> tuple[str | None, bool]:
    return os.environ.get("MALLOC_MMAP_THRESHOLD_"), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


@pytest.mark.slow
def test_own_local_cluster_is_sized_and_tuned() -> None:
    pytest.importorskip("dask.distributed")
    with executors.dask_client(2) as client:
        assert sorted(client.nthreads().values()) == [1, 1]
        # the glibc mmap threshold (speed) and Ctrl-C left to the CLI, on every worker
        assert set(client.run(_worker_setup).values()) == {(str(executors.MMAP_THRESHOLD), True)}
        address = client.scheduler.address
    with pytest.raises(OSError):  # closed with the context
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=2).close()


@pytest.mark.slow
def test_a_cluster_without_workers_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    dd = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(executors, "WORKER_WAIT", 1)
    with dd.LocalCluster(n_workers=0, dashboard_address="127.0.0.1:0",
                         silence_logs=logging.CRITICAL) as empty:
        code, _, err = cli(capsys, *sweep8(tmp_path / "o", "--executor", "dask", "--scheduler",
                                           empty.scheduler_address))
    one_line_error(code, err, "no Dask worker joined", "dask worker")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_killed_worker_loses_nothing(tmp_path: Path, capsys, monkeypatch, healthy,
                                     reference8: bytes) -> None:
    address, client = healthy
    pids = client.run(os.getpid)
    seen = len(client.run_on_scheduler(removals))
    monkeypatch.setattr(sweep, "run_chunk", slow_chunk)
    out = tmp_path / "runs"
    killed: dict[str, str] = {}

    def kill_a_busy_worker() -> None:
        """Once rows have arrived, SIGKILL a worker that is running a sweep chunk."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(out.glob("sweep-*/sweep.csv"))
            if files and len(files[0].read_text().splitlines()) >= 2:
                busy = [w for w, keys in client.processing().items()
                        if any(str(k).startswith("squeeze-lab-sweep") for k in keys)]
                if busy:
                    killed["worker"] = busy[0]
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    code, _, err = cli(capsys, *sweep8(out, "--executor", "dask", "--scheduler", address))
    killer.join(timeout=5)
    assert code == 0, err
    assert killed, "no worker was killed: the sweep finished too fast to test anything"
    # the scheduler saw the worker go with sweep tasks in flight, and reran them elsewhere
    gone = [r for r in client.run_on_scheduler(removals)[seen:] if r["worker"] == killed["worker"]]
    assert any(k.startswith("squeeze-lab-sweep") for r in gone for k in r["processing"]), gone
    assert sweep_csv(out).read_bytes() == reference8


@pytest.mark.slow
def test_every_worker_killed_rescatters_the_market(tmp_path: Path, capsys, monkeypatch, healthy,
                                                   reference8: bytes) -> None:
    address, client = healthy
    pids = client.run(os.getpid)
    seen = len(client.run_on_scheduler(removals))
    monkeypatch.setattr(sweep, "run_chunk", slow_chunk)
    out = tmp_path / "runs"
    done = threading.Event()

    def kill_everyone() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(out.glob("sweep-*/sweep.csv"))
            if files and len(files[0].read_text().splitlines()) >= 2:
                for pid in pids.values():
                    os.kill(pid, signal.SIGKILL)
                done.set()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_everyone, daemon=True)
    killer.start()
    code, _, err = cli(capsys, *sweep8(out, "--executor", "dask", "--scheduler", address))
    killer.join(timeout=5)
    assert code == 0, err
    assert done.is_set(), "the workers were not killed"
    lost = [r for r in client.run_on_scheduler(removals)[seen:] if r["lost_scattered"]]
    assert lost, "the market was never lost: the test did not exercise the re-scatter"
    assert sweep_csv(out).read_bytes() == reference8


@pytest.mark.slow
def test_dask_failure_keeps_rows_and_resume_completes(tmp_path: Path, capsys, monkeypatch, healthy,
                                                      reference8: bytes) -> None:
    address, _ = healthy
    monkeypatch.setattr(sweep, "run_chunk", failing_chunk)
    out = tmp_path / "runs"
    code, _, err = cli(capsys, *sweep8(out, "--executor", "dask", "--scheduler", address))
    one_line_error(code, err, "injected failure on point 5")
    lines = sweep_csv(out).read_text().splitlines()
    want = reference8.decode().splitlines()
    points = [line.split(",")[0] for line in lines[1:]]
    assert lines[0] == want[0] and "5" not in points and points == sorted(points, key=int)
    assert set(lines) <= set(want)
    monkeypatch.setattr(sweep, "run_chunk", real_run_chunk)
    code, _, err = cli(capsys, *sweep8(out, "--executor", "dask", "--scheduler", address,
                                       "--resume"))
    assert code == 0, err
    assert sweep_csv(out).read_bytes() == reference8
