"""The cluster guide of docs/sweeps.md works as written: its ``dask scheduler`` and ``dask worker``
lines start a real cluster on this machine and its ``squeeze-lab sweep --scheduler`` line runs the
grid there (on the small market). Only the host (``SCHEDULER_HOST`` → 127.0.0.1) and the port
(8786 → a free one) are changed."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_docs import doc_commands, small_args

distributed = pytest.importorskip("distributed", reason="the dask extra is installed by make test")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_line(needle: str) -> str:
    """The one shell line of docs/sweeps.md holding ``needle``."""
    (line,) = [s.text for s in doc_commands.shell_lines() if needle in s.text]
    return line


def localize(text: str, port: int) -> str:
    assert "8786" in text, text
    return text.replace("SCHEDULER_HOST", "127.0.0.1").replace("8786", str(port))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The guide's scheduler and workers, as separate process groups; killed at the end."""
    logs = tmp_path_factory.mktemp("cluster")
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    procs = []
    for name in ("dask scheduler", "dask worker"):
        with open(logs / f"{name.split()[1]}.log", "w") as log:
            procs.append(subprocess.Popen(["bash", "-c", localize(doc_line(name), port)],
                                          cwd=logs, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    try:
        with distributed.Client(f"tcp://127.0.0.1:{port}", timeout="60s") as client:
            for _ in range(240):
                dead = [(p.args[-1], p.returncode) for p in procs if p.poll() is not None]
                assert not dead, f"{dead}: {(logs / 'worker.log').read_text()[-2000:]}"
                if client.scheduler_info()["workers"]:
                    break
                time.sleep(0.5)
            nworkers = len(client.scheduler_info()["workers"])
        yield port, nworkers, logs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_the_guide_sweeps_on_its_cluster(cluster, tmp_path: Path) -> None:
    port, nworkers, logs = cluster
    assert nworkers >= 1
    text = localize(doc_line("squeeze-lab sweep"), port)
    cmd = doc_commands.Command(Path(doc_commands.ROOT / "docs" / "sweeps.md"), 0, text, "", text)
    workdir = doc_commands.scratch(tmp_path / "work")
    res = doc_commands.run(cmd, workdir, small_args(cmd), timeout=600)
    assert res.returncode == 0, f"{text}\n{res.stderr[-2000:]}\n{(logs / 'worker.log').read_text()[-2000:]}"
    assert f"tcp://127.0.0.1:{port}" in res.stdout
    (table,) = (workdir / "runs").glob("sweep-*/sweep.csv")
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9
    grid = {(float(r["overlay.threshold"]), int(r["overlay.signal_lookback"])) for r in rows}
    assert grid == {(t, lb) for t in (1.0, 1.5, 2.0) for lb in (10, 20, 40)}
