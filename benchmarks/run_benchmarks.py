"""Time our engines against plain backtrader, its floor, a bare NumPy loop and vectorbt, in one run.

``python benchmarks/run_benchmarks.py`` (``make bench``) runs every case of
:mod:`benchmarks.cases` as separate fresh processes (``python benchmarks/cases.py CASE N T SEED``),
repetitions one after the other, on the same seeded market per size, and writes
``benchmarks/results/<date>-<machine>.md`` and ``.json``. ``--quick`` (``make bench-quick``)
uses small sizes and one repetition. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import cases as C  # noqa: E402

#: Cases timed at every size, in the order they are run within a repetition.
MAIN_CASES = ("empty_ours", "empty_pandas", "naive_bt", "ours_bt", "ours_bt_overlay", "twin",
              "twin_overlay", "numpy_floor", "vectorbt")
#: Cases whose final value must equal the twin's (the book without overlay).
SAME_BOOK = ("naive_bt", "ours_bt", "numpy_floor")
#: A case whose single run takes longer than this gets no more repetitions.
CAP_SECONDS = 300.0

LABELS = {
    "empty_ours": "backtrader floor: empty strategy, our ArrayFeed + make_cerebro",
    "empty_pandas": "backtrader floor: empty strategy, PandasData, default Cerebro",
    "naive_bt": "naive backtrader book (PandasData, bt indicators, order_target_percent)",
    "ours_bt": "ours, event-driven: book + all analyzers",
    "ours_bt_overlay": "ours, event-driven: book + overlay + all analyzers",
    "twin": "ours, vectorized: book_targets + run_vectorized",
    "twin_overlay": "ours, vectorized: book_targets + apply_overlay + run_vectorized",
    "numpy_floor": "bare NumPy loop over rebalance dates (targets given)",
    "vectorbt": "vectorbt Portfolio.from_orders(targetpercent) (targets given, warm JIT)",
    "sweep_twin": "sweep through the twin: pipeline.sweep.run_chunk (1 process)",
    "sweep_vbt": "sweep through vectorbt: one from_orders per point + 2 stats",
    "run_process": "whole `squeeze-lab run configs/default.toml -q` process (wall clock)",
    "naive_process": "whole naive backtrader process, same N x T (wall clock)",
}

#: Whole processes compared on the default study's market size (issue 19's third target).
PROCESS_CASES = ("run_process", "naive_process")
#: The default config's universe and dates (configs/default.toml: 500 names, 2023-01-03 to
#: 2026-03-31); the naive process runs on the benchmark market of the same N x T.
DEFAULT_RUN = {"config": "configs/default.toml", "n_names": 500, "start": "2023-01-03",
               "end": "2026-03-31"}

#: Issue 19's target table, in its order: (measure, value at filing, goal text).
ISSUE_TARGETS = (
    ("event-driven book + overlay + analyzers vs bulk-feed empty floor", "5.2x", "<= 1.5x"),
    ("peak RSS vs the same floor", "2.4x", "<= 1.5x"),
    ("whole `squeeze-lab run` process vs naive backtrader process, default market", "0.33x",
     "<= 0.2x"),
    ("twin including signals vs vectorbt given weights (times faster)", "0.56x (1.8x slower)",
     ">= 5x"),
    ("1,000-point twin sweep vs vectorbt for 100 points (time ratio)", "1.8x", "<= 0.5x"),
    ("twin engine vs bare NumPy loop", "14x", "<= 3x"),
)


# --------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _versions(python: str, modules: tuple[str, ...]) -> dict[str, str | None]:
    code = ("import importlib, json, sys\nout = {}\n"
            f"for m in {list(modules)!r}:\n"
            "    try:\n        mod = importlib.import_module(m)\n"
            "        out[m] = getattr(mod, '__version__', None)\n"
            "    except Exception:\n        out[m] = None\n"
            "out['python'] = sys.version.split()[0]\nprint(json.dumps(out))\n")
    try:
        res = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {}


def machine_info(vbt_python: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gb": _ram_gb(),
        "platform": platform.platform(), "hostname": platform.node(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "packages": _versions(sys.executable, ("backtrader", "numpy", "pandas", "empyrical")),
    }
    if vbt_python:
        info["vectorbt_env"] = {"python_executable": vbt_python,
                                **_versions(vbt_python, ("vectorbt", "numba", "numpy", "pandas"))}
    return info


def machine_slug(info: dict[str, Any]) -> str:
    cpu = re.sub(r"\(.*?\)|cpu|processor|\d+-core", "", str(info["cpu"]), flags=re.I)
    words = [w for w in re.split(r"[^a-z0-9]+", cpu.lower()) if w][:3]
    return "-".join(words + [f"{info['cores']}c"])


def _default_sessions() -> int:
    """Sessions of the default study's market (configs/default.toml's start to end)."""
    from squeeze_lab.feeds.scenario import nyse_sessions

    return int(len(nyse_sessions(DEFAULT_RUN["start"], DEFAULT_RUN["end"])))


def find_vbt_python(given: str | None) -> tuple[str | None, str]:
    """(interpreter that imports vectorbt, note): --vbt-python, $SQUEEZE_VBT_PYTHON or ours."""
    for cand in (given, os.environ.get("SQUEEZE_VBT_PYTHON"), sys.executable):
        if not cand:
            continue
        try:
            res = subprocess.run([cand, "-c", "import vectorbt"], capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            continue
        if res.returncode == 0:
            return cand, f"vectorbt from {cand}"
    return None, ("vectorbt skipped: no interpreter with vectorbt (give --vbt-python PATH or "
                  "SQUEEZE_VBT_PYTHON; see benchmarks/README.md for why it is not a dependency)")


# --------------------------------------------------------------------------- running
#: Folders and modules copied into the run's snapshot of the code: the package (as
#: ``dest/squeeze_lab``, found before the installed one) and the benchmarks beside it.
SNAPSHOT = ("__init__.py", "__main__.py", "feeds", "strategies", "analyzers", "pipeline",
            "tearsheet", "configs", "run_backtest.py")
#: The code the case processes run (set by :func:`snapshot_code`; default: this checkout).
CODE = {"root": ROOT}


def snapshot_code(dest: Path) -> dict[str, Any]:
    """Copy the project's code to ``dest`` so every case of this run runs the same code, even if
    the checkout changes meanwhile; returns the git state it was copied from."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "results", "*.pyc")
    for name in SNAPSHOT + ("benchmarks",):
        src = ROOT / name
        target = dest / name if name == "benchmarks" else dest / "squeeze_lab" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, target)
    CODE["root"] = dest

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True,
                                  timeout=30).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [ln[3:] for ln in git("status", "--porcelain").splitlines() if ln[:2].strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "modified_files": dirty}


def run_case(case: str, n: int, t: int, seed: int, cache: Path, *, python: str = sys.executable,
             inputs: Path | None = None, points: int = 0, profile: Path | None = None,
             vbt_points: int = 0, timeout: float = 3600.0) -> dict[str, Any]:
    """One fresh process for one repetition of one case; its JSON line (or an error record)."""
    root = Path(CODE["root"])
    cmd = [python, str(root / "benchmarks" / "cases.py"), case, str(n), str(t), str(seed),
           "--cache", str(cache)]
    if inputs is not None:
        cmd += ["--inputs", str(inputs)]
    if points:
        cmd += ["--points", str(points)]
    if vbt_points:
        cmd += ["--vbt-points", str(vbt_points)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             cwd=str(root))
    except subprocess.TimeoutExpired:
        return {"case": case, "n_names": n, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"case": case, "n_names": n, "error": " | ".join(tail) or f"exit {res.returncode}"}
    out = json.loads(lines[-1])
    out["process_seconds"] = wall
    return out


def run_process(case: str, n: int, t: int, seed: int, cache: Path, *,
                 timeout: float = 3600.0) -> dict[str, Any]:
    """One whole process, timed from the outside: wall clock and the child's own peak RSS.

    ``run_process``: ``python -m squeeze_lab run configs/default.toml -q`` from the snapshot
    (``--set data.n_names=N`` when N is not the default's); ``naive_process``: the naive
    backtrader case (``cases.py naive_bt N T``) as a process, imports and market loading included.
    """
    root = Path(CODE["root"])
    out_dir = cache / f"runs-{case}"
    if case == "run_process":
        cmd = [sys.executable, "-m", "squeeze_lab", "run",
               str(root / "squeeze_lab" / DEFAULT_RUN["config"]), "-q", "--out", str(out_dir)]
        if n != DEFAULT_RUN["n_names"]:
            cmd += ["--set", f"data.n_names={n}"]
    else:
        cmd = [sys.executable, str(root / "benchmarks" / "cases.py"), "naive_bt", str(n), str(t),
               str(seed), "--cache", str(cache)]
    env = {**os.environ, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    log_out, log_err = cache / f"{case}.out", cache / f"{case}.err"
    t0 = time.perf_counter()
    with open(log_out, "w") as fo, open(log_err, "w") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env, cwd=str(root))
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    shutil.rmtree(out_dir, ignore_errors=True)
    if proc.returncode != 0:
        tail = (log_err.read_text() or log_out.read_text()).strip().splitlines()[-3:]
        return {"case": case, "n_names": n, "error": " | ".join(tail) or f"exit {proc.returncode}"}
    out: dict[str, Any] = {"case": case, "n_names": n, "n_bars": t, "seconds": wall,
                           "rss_mb": usage.ru_maxrss / 1024.0, "rss_before_mb": None,
                           "parts": {}}
    lines = [ln for ln in log_out.read_text().splitlines() if ln.startswith("{")]
    if lines:  # the naive case's own line: its timed part and final value
        inner = json.loads(lines[-1])
        out["final_value"] = inner.get("final_value")
        out["parts"] = {"timed part": inner.get("seconds")}
    return out


def median(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(statistics.median(vals)) if vals else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds / RSS over repetitions, the repetitions themselves, the final value."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0].get("error") if runs else "not run", "reps": 0}
    parts: dict[str, float | None] = {}
    for k in ok[0].get("parts", {}):
        parts[k] = median([r["parts"].get(k) for r in ok])
    out = {
        "reps": len(ok), "seconds": median([r["seconds"] for r in ok]),
        "seconds_all": [round(r["seconds"], 4) for r in ok],
        "rss_mb": median([r["rss_mb"] for r in ok]),
        "rss_before_mb": median([r.get("rss_before_mb") for r in ok]),
        "final_value": ok[0].get("final_value"), "parts": parts,
    }
    for k in ("compile_seconds", "points", "rel_diff_vs_twin_no_borrow", "expected_no_borrow",
              "n_trades"):
        if k in ok[0]:
            out[k] = ok[0][k]
    if len({r.get("final_value") for r in ok}) > 1:
        out["final_value_varies"] = [r.get("final_value") for r in ok]
    return out


def rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return abs(a / b - 1.0)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _add(a: float | None, b: float | None) -> float | None:
    """a + b, None when either is missing."""
    return None if a is None or b is None else a + b


# --------------------------------------------------------------------------- targets
def evaluate(res: dict[int, dict[str, Any]], sweep: dict[str, Any], sizes: list[int],
             ref_n: int) -> list[dict[str, Any]]:
    """Each target of the issue: measured value, goal, met or not (reported, never asserted)."""
    out: list[dict[str, Any]] = []

    def sec(n: int, case: str) -> float | None:
        return res.get(n, {}).get(case, {}).get("seconds")

    def rss(n: int, case: str) -> float | None:
        return res.get(n, {}).get(case, {}).get("rss_mb")

    def add(name: str, value: float | None, goal: str, ok: bool | None, note: str = "") -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": ok, "note": note})

    n = ref_n
    for case in ("ours_bt_overlay", "ours_bt"):
        r = ratio(sec(n, case), sec(n, "empty_ours"))
        add(f"{case} N={n}: time / empty strategy on our feed", r, "<= 1.5",
            None if r is None else r <= 1.5)
    for case in ("ours_bt_overlay", "ours_bt"):
        r = ratio(sec(n, "naive_bt"), sec(n, case))
        add(f"{case} N={n}: speed-up over naive backtrader", r, ">= 7",
            None if r is None else r >= 7)
    lo, hi = min(sizes), max(sizes)
    if lo != hi:
        import math

        for case in ("ours_bt_overlay", "twin_overlay"):
            a, b = sec(lo, case), sec(hi, case)
            if a and b:
                slope = math.log(b / a) / math.log(hi / lo)
                add(f"{case}: time exponent in N ({lo}->{hi})", slope, "~1 (linear)",
                    slope <= 1.15, f"{a:.2f}s -> {b:.2f}s for {hi / lo:.0f}x names")
            ra, rb = res[lo].get(case, {}), res[hi].get(case, {})
            if ra.get("rss_mb") and rb.get("rss_mb"):
                da = ra["rss_mb"] - ra["rss_before_mb"]
                db = rb["rss_mb"] - rb["rss_before_mb"]
                if da > 0 and db > 0:
                    slope = math.log(db / da) / math.log(hi / lo)
                    add(f"{case}: memory exponent in N ({lo}->{hi}), peak RSS above the "
                        "process baseline", slope, "~1 (linear)", slope <= 1.15,
                        f"{da:.0f} MB -> {db:.0f} MB")
    vb = sec(n, "vectorbt")
    tw = res.get(n, {}).get("twin", {})
    eng = tw.get("parts", {}).get("engine")
    add(f"twin N={n}: speed-up over vectorbt (engine only: run_vectorized vs from_orders)",
        ratio(vb, eng), ">= 10", None if vb is None or eng is None else vb / eng >= 10,
        "vectorbt not run" if vb is None else "")
    add(f"twin N={n}: speed-up over vectorbt (book_targets + run_vectorized vs from_orders)",
        ratio(vb, sec(n, "twin")), ">= 10",
        None if vb is None or sec(n, "twin") is None else vb / sec(n, "twin") >= 10,
        "vectorbt not run" if vb is None else "")
    if sweep.get("sweep_twin", {}).get("seconds") and sweep.get("sweep_vbt", {}).get("seconds"):
        a = sweep["sweep_twin"]["seconds"] / sweep["sweep_twin"]["points"]
        b = sweep["sweep_vbt"]["seconds"] / sweep["sweep_vbt"]["points"]
        add("sweep: per-point speed-up of the twin sweep over vectorbt", b / a, ">= 10", b / a >= 10,
            f"twin {a * 1000:.0f} ms/point (overlay + engine + metrics), vectorbt "
            f"{b * 1000:.0f} ms/point (simulation + 2 stats)")
    fl = sec(n, "numpy_floor")
    r = ratio(eng, fl)
    add(f"twin N={n}: run_vectorized / bare NumPy loop", r, "<= 5", None if r is None else r <= 5)
    r = ratio(sec(n, "twin"), fl)
    add(f"twin N={n}: book_targets + run_vectorized / bare NumPy loop", r, "<= 5",
        None if r is None else r <= 5)
    for case in ("ours_bt_overlay", "ours_bt"):
        r = ratio(rss(n, case), rss(n, "empty_ours"))
        add(f"{case} N={n}: peak RSS / empty strategy's", r, "<= 1.5", None if r is None else r <= 1.5)
    return out


def paired_note(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The ratio of ``a`` to ``b`` within each round (the two ran minutes apart, so a host whose
    speed drifts moves both): median and range, when every round of both ran."""
    xs, ys = a.get("seconds_all") or [], b.get("seconds_all") or []
    if len(xs) < 2 or len(xs) != len(ys):
        return ""
    r = [x / y for x, y in zip(xs, ys, strict=True)]
    return (f"; round by round {statistics.median(r):.2f}x (median of {len(r)}, "
            f"{min(r):.2f}x to {max(r):.2f}x)")


def issue_table(res: dict[int, dict[str, Any]], sweep: dict[str, Any],
                processes: dict[str, Any], ref_n: int) -> list[dict[str, Any]]:
    """Issue 19's six ratios, measured in this run (None where a case did not run)."""
    cases = res.get(ref_n, {})

    def get(case: str, key: str = "seconds") -> float | None:
        return cases.get(case, {}).get(key)

    engine = cases.get("twin", {}).get("parts", {}).get("engine")
    eq_engine = cases.get("twin", {}).get("parts", {}).get("engine_equity")
    arrays = cases.get("twin", {}).get("parts", {}).get("market_arrays")
    sw_t, sw_v = sweep.get("sweep_twin", {}), sweep.get("sweep_vbt", {})
    sweep_ratio = None
    if sw_t.get("seconds") and sw_v.get("seconds"):
        sweep_ratio = sw_t["seconds"] / sw_v["seconds"]
    values = (
        (ratio(get("ours_bt_overlay"), get("empty_ours")), lambda v: v <= 1.5,
         f"N = {ref_n}: {fmt(get('ours_bt_overlay'), '.2f')} s / {fmt(get('empty_ours'), '.2f')} s"
         + paired_note(cases.get("ours_bt_overlay", {}), cases.get("empty_ours", {}))),
        (ratio(get("ours_bt_overlay", "rss_mb"), get("empty_ours", "rss_mb")), lambda v: v <= 1.5,
         f"{fmt(get('ours_bt_overlay', 'rss_mb'), '.0f')} MB / {fmt(get('empty_ours', 'rss_mb'), '.0f')} MB"),
        (ratio(processes.get("run_process", {}).get("seconds"),
               processes.get("naive_process", {}).get("seconds")), lambda v: v <= 0.2,
         f"{fmt(processes.get('run_process', {}).get('seconds'), '.1f')} s / "
         f"{fmt(processes.get('naive_process', {}).get('seconds'), '.1f')} s, N = "
         f"{processes.get('n_names')}, T = {processes.get('n_bars')}"),
        (ratio(get("vectorbt"), get("twin")), lambda v: v >= 5,
         f"vectorbt {fmt(get('vectorbt'), '.3f')} s / twin {fmt(get('twin'), '.3f')} s"
         + ("" if get("vectorbt") is not None else " (vectorbt not run)")),
        (sweep_ratio, lambda v: v <= 0.5,
         f"twin {sw_t.get('points')} points {fmt(sw_t.get('seconds'), '.1f')} s / vectorbt "
         f"{sw_v.get('points')} points {fmt(sw_v.get('seconds'), '.1f')} s"
         if sw_t or sw_v else "sweeps not run"),
        (ratio(engine, get("numpy_floor")), lambda v: v <= 3,
         f"run_vectorized {fmt(engine, '.3f')} s / loop {fmt(get('numpy_floor'), '.4f')} s"
         f" (full result, first call, the market's arrays built before as the loop is given "
         f"its arrays: {fmt(arrays, '.3f')} s once per market, with them "
         f"{fmt(ratio(_add(engine, arrays), get('numpy_floor')), '.1f')}x; equity only as "
         f"sweeps run it {fmt(eq_engine, '.3f')} s = "
         f"{fmt(ratio(eq_engine, get('numpy_floor')), '.1f')}x)"),
    )
    out = []
    for (measure, before, goal), (value, ok, note) in zip(ISSUE_TARGETS, values, strict=True):
        out.append({"measure": measure, "at_filing": before, "value": value, "goal": goal,
                    "met": None if value is None else bool(ok(value)), "note": note})
    return out


# --------------------------------------------------------------------------- profiles
def profile_summary(prof: Path, top: int = 20) -> str:
    """The top functions by own time and by cumulative time, as text."""
    out = []
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        st = pstats.Stats(str(prof), stream=buf)
        st.strip_dirs().sort_stats(key).print_stats(top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        out.append(f"## sorted by {key}\n" + (text[start:] if start >= 0 else text))
    return "\n".join(out)


def top_functions(prof: Path, n: int = 12) -> list[dict[str, Any]]:
    st = pstats.Stats(str(prof))
    total = st.total_tt
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).parent.name}/{Path(file).name}:{line}({func})",
                     "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: -r["tottime"])
    for r in rows:
        r["share_of_total"] = r["tottime"] / total if total else None
    return rows[:n]


# --------------------------------------------------------------------------- report
def fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _met(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[flag]


def _header_lines(report: dict[str, Any]) -> list[str]:
    """Title, machine and versions, command, code, and how the cases were run."""
    m = report["machine"]
    s = report["settings"]
    pk = m.get("packages", {})
    return [
        f"# squeeze-lab benchmarks, {report['date']} ({'quick' if s['quick'] else 'full'})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['platform']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m.get('load_average_at_start') or [])} "
        + (f", at the end {', '.join(f'{x:.2f}' for x in m['load_average_at_end'])}"
           if m.get("load_average_at_end") else "")
        + " (the machine's cores are shared with other work: treat differences under ~20% as "
        "noise).",
        f"Python {pk.get('python')}, backtrader {pk.get('backtrader')}, numpy {pk.get('numpy')}, "
        f"pandas {pk.get('pandas')}, empyrical {pk.get('empyrical')}"
        + (f"; vectorbt {m['vectorbt_env'].get('vectorbt')} (numba {m['vectorbt_env'].get('numba')}, "
           f"numpy {m['vectorbt_env'].get('numpy')}, pandas {m['vectorbt_env'].get('pandas')}) "
           f"in {m['vectorbt_env']['python_executable']}" if m.get("vectorbt_env") else "") + ".",
        f"Command: `{report['command']}`",
        f"Code: commit {report.get('code', {}).get('commit')}"
        + (f" + uncommitted changes in {', '.join(report['code']['modified_files'])}"
           if report.get("code", {}).get("modified_files") else "")
        + " (copied at the start of the run; every case ran that copy).",
        "",
        f"Market: the scenario market (seed {s['seed']}), T = {s['n_bars']} NYSE sessions ending "
        f"{C.END}, restricted to the first N names listed on every bar. Book (pinned, "
        f"benchmarks.cases.BENCH_BOOK): {s.get('book')}; overlay where named: "
        f"{C.OVERLAY}. Execution: {C.EXEC}. Each case runs in a fresh process per repetition "
        f"(repetitions one after another); times are medians of the repetitions (column reps), of "
        f"the timed part only (market loading and imports excluded). A case whose first run took "
        f"more than {CAP_SECONDS:.0f} s was not repeated. Peak RSS is the process's "
        "high-water mark (`VmHWM`; imports + market included; `base` = before the timed part); "
        "`ru_maxrss` is not used because on Linux a child inherits its parent's peak across exec.",
        "",
    ]


def _issue_lines(report: dict[str, Any]) -> list[str]:
    """Issue 19's table as measured in this run."""
    if not report.get("issue_table"):
        return []
    lines = ["## Issue 19's targets (measured in this run, not asserted)", "",
             "| measure | at filing | measured | target | met | how |",
             "|---|---:|---:|---:|:---:|---|"]
    for t in report["issue_table"]:
        value = "–" if t["value"] is None else f"{fmt(t['value'], '.2f')}x"
        lines.append(f"| {t['measure']} | {t['at_filing']} | {value} | "
                     f"{t['goal']} | {_met(t['met'])} | {t['note']} |")
    lines.append("")
    return lines


def _case_row(case: str, r: dict[str, Any], floor: float | None, naive: float | None) -> str:
    if "error" in r:
        return f"| {LABELS[case]} | {r['error']} | | | | | | |"
    extra = ""
    if r.get("parts"):
        extra = " (" + ", ".join(f"{k} {v:.3f}" for k, v in r["parts"].items()) + ")"
    if r.get("compile_seconds") is not None:
        extra = f" (untimed warm-up run incl. JIT: {r['compile_seconds']:.1f} s)"
    return (f"| {LABELS[case]} | {fmt(r['seconds'], '.3f')}{extra} | {r['reps']} | "
            f"{fmt(ratio(r['seconds'], floor), '.2f')} | {fmt(ratio(r['seconds'], naive), '.3f')} | "
            f"{fmt(r['rss_mb'], '.0f')} ({fmt(r['rss_before_mb'], '.0f')}) | "
            f"{fmt(r.get('final_value'), ',.2f')} | {fmt(r.get('rel_diff'), '.1e')} |")


def _size_lines(report: dict[str, Any]) -> list[str]:
    """One table per N: every main case with its ratio to our floor and to naive backtrader."""
    lines: list[str] = []
    for n, cases in report["results"].items():
        lines += [f"## N = {n} names, T = {report['settings']['n_bars']} bars", "",
                  "| case | wall s | reps | / our floor | / naive | peak RSS MB (base) | final value | "
                  "rel. diff |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        floor = cases.get("empty_ours", {}).get("seconds")
        naive = cases.get("naive_bt", {}).get("seconds")
        lines += [_case_row(case, cases[case], floor, naive) for case in MAIN_CASES
                  if cases.get(case) is not None]
        lines.append("")
    lines += ["rel. diff: |final / reference - 1|; reference = the twin on the same book (book "
              "without overlay for naive, ours_bt, the NumPy loop; twin_overlay for ours_bt_overlay; "
              "the twin with borrow_bps = 0 for vectorbt, which has no borrow cost).", ""]
    return lines


def _case_rows(results: dict[str, Any], cases: Sequence[str], columns: int,
               cells: Callable[[dict[str, Any]], str]) -> list[str]:
    """One table row per case that ran: its label and ``cells``, or its error in the next cell."""
    rows = []
    for case in cases:
        r = results.get(case)
        if r:
            body = r["error"] + " |" * (columns - 2) if "error" in r else cells(r)
            rows.append(f"| {LABELS[case]} | {body} |")
    return rows


def _sweep_lines(report: dict[str, Any]) -> list[str]:
    """The sweep table (twin vs vectorbt) and its grid."""
    sw = report.get("sweep") or {}
    if not sw:
        return []
    lines = [f"## Sweep (N = {sw.get('n_names')}, T = {report['settings']['n_bars']})", "",
             "| sweep | points | wall s | ms / point | peak RSS MB | reps |", "|---|---:|---:|---:|---:|---:|"]
    lines += _case_rows(sw, ("sweep_twin", "sweep_vbt"), 6, lambda r: (
        f"{r.get('points')} | {fmt(r['seconds'], '.1f')} | "
        f"{fmt(1000 * r['seconds'] / r['points'], '.1f')} | {fmt(r['rss_mb'], '.0f')} | {r['reps']}"))
    lines += ["", "Sweep grid: " + "; ".join(f"{k} = {v}" for k, v in C.SWEEP_AXES)
              + " (overlay actions: degross; one book shared by all points). The twin's points "
              "each run apply_overlay, run_vectorized and the sweep's metrics (empyrical + "
              "episodes); vectorbt's run the simulation of precomputed targets plus "
              "sharpe_ratio and max_drawdown.", ""]
    return lines


def _process_lines(report: dict[str, Any]) -> list[str]:
    """The whole-process table (`squeeze-lab run` vs the naive backtrader process)."""
    pr = report.get("processes") or {}
    if not any(c in pr for c in PROCESS_CASES):
        return []
    lines = [f"## Whole processes (N = {pr.get('n_names')}, T = {pr.get('n_bars')})", "",
             "| process | wall s | reps | peak RSS MB | final value |",
             "|---|---:|---:|---:|---:|"]
    lines += _case_rows(pr, PROCESS_CASES, 5, lambda r: (
        f"{fmt(r['seconds'], '.2f')} | {r['reps']} | {fmt(r['rss_mb'], '.0f')} | "
        f"{fmt(r.get('final_value'), ',.2f')}"))
    lines += ["", "Wall clock of the whole process from the outside (interpreter start, imports, "
              "market, run, outputs). `squeeze-lab run` builds the default study's scenario "
              "market itself, runs backtrader with the book, checks it against the twin, "
              "computes the metrics and writes the run folder with its tearsheet; the naive "
              "process loads the pickled benchmark market of the same N x T (built before, "
              "untimed), builds its PandasData feeds and runs.", ""]
    return lines


def _target_lines(report: dict[str, Any]) -> list[str]:
    """The earlier benchmark's targets, each with its measured value."""
    lines = ["## All targets of the earlier benchmark (reported, not asserted)", "",
             "| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for t in report["targets"]:
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']}{note} | {fmt(t['value'], '.2f')} | {t['goal']} | "
                     f"{_met(t['met'])} |")
    lines.append("")
    return lines


def _profile_lines(report: dict[str, Any]) -> list[str]:
    """Top functions of each profiled case."""
    lines: list[str] = []
    for name, prof in (report.get("profiles") or {}).items():
        lines += [f"## Profile: {name}", "", f"cProfile of the timed part: `{prof['prof']}`, "
                  f"text: `{prof['text']}`. Top functions by own time:", "",
                  "| function | calls | own s | cum s | share |", "|---|---:|---:|---:|---:|"]
        for r in prof["top"]:
            lines.append(f"| `{r['function']}` | {r['calls']} | {r['tottime']:.2f} | "
                         f"{r['cumtime']:.2f} | {fmt(r['share_of_total'], '.0%')} |")
        lines.append("")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The results file: header, issue 19's table, per-size, sweep, process, targets, profiles."""
    lines = (_header_lines(report) + _issue_lines(report) + _size_lines(report)
             + _sweep_lines(report) + _process_lines(report) + _target_lines(report)
             + _profile_lines(report))
    if report.get("notes"):
        lines += ["## Notes", ""] + [f"- {x}" for x in report["notes"]] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (~1 min)")
    ap.add_argument("--sizes", default="", help="comma-separated N (default 100,500,1000)")
    ap.add_argument("--bars", type=int, default=0, help="T, sessions (default 2520)")
    ap.add_argument("--reps", type=int, default=0, help="repetitions per case (default 3)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sweep-points", type=int, default=-1, help="twin sweep points (default 1000)")
    ap.add_argument("--vbt-sweep-points", type=int, default=-1, help="vectorbt sweep points (100)")
    ap.add_argument("--sweep-n", type=int, default=0, help="N of the sweep market (default 500)")
    ap.add_argument("--vbt-python", default=None, help="interpreter that has vectorbt")
    ap.add_argument("--cases", default="", help="comma-separated subset of the main cases")
    ap.add_argument("--no-profile", action="store_true", help="do not profile missed targets")
    ap.add_argument("--profile", action="store_true", help="profile missed targets in --quick too")
    ap.add_argument("--out", default=str(HERE / "results"))
    return ap.parse_args(argv)


class _Run:
    """One benchmark run: its settings (from the arguments), report, cache and progress log."""

    def __init__(self, args: argparse.Namespace) -> None:
        quick = self.quick = args.quick
        self.args = args
        self.sizes = ([int(x) for x in args.sizes.split(",") if x]
                      or ([50, 100] if quick else [100, 500, 1000]))
        self.n_bars = args.bars or (504 if quick else 2520)
        self.reps = args.reps or (1 if quick else 3)
        self.sweep_points = args.sweep_points if args.sweep_points >= 0 else (10 if quick else 1000)
        self.vbt_points = (args.vbt_sweep_points if args.vbt_sweep_points >= 0
                           else (5 if quick else 100))
        self.sweep_n = args.sweep_n or (100 if quick else 500)
        self.ref_n = 500 if 500 in self.sizes else max(self.sizes)
        self.cases = [c for c in MAIN_CASES if not args.cases or c in args.cases.split(",")]
        self.processes = [c for c in PROCESS_CASES if not args.cases or c in args.cases.split(",")]
        self.proc_n = 50 if quick else DEFAULT_RUN["n_names"]
        self.proc_t = _default_sessions()
        self.out_dir = Path(args.out)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.vbt_python, vbt_note = find_vbt_python(args.vbt_python)
        info = machine_info(self.vbt_python)
        date = _dt.date.today().isoformat()
        self.stem = f"{date}-{machine_slug(info)}" + ("-quick" if quick else "")
        self.notes = [vbt_note]
        self.report: dict[str, Any] = {
            "date": date, "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": info,
            "settings": {"quick": quick, "sizes": self.sizes, "n_bars": self.n_bars,
                         "reps": self.reps, "seed": args.seed, "cap_seconds": CAP_SECONDS,
                         "exec": C.EXEC, "overlay": C.OVERLAY, "sweep_points": self.sweep_points,
                         "book": {k: v for k, v in C.BENCH_BOOK.items() if k != "max_weight"}
                         | {"max_weight": "0.05 (or 1/k on universes under 40 names)",
                            "short_momentum_weight": "the book's default, when it has one"},
                         "vbt_sweep_points": self.vbt_points, "sweep_n": self.sweep_n},
            "results": {}, "sweep": {}, "processes": {}, "notes": self.notes,
        }
        self.cache = Path(tempfile.mkdtemp(prefix="squeeze-bench-"))
        self.started = time.perf_counter()

    def log(self, msg: str) -> None:  # the runner is a command line: progress goes to stdout
        print(f"[{time.perf_counter() - self.started:7.1f}s] {msg}", flush=True)


def _prepare_markets(run: _Run) -> None:
    """Build and cache every market (and vectorbt's inputs) before anything is timed."""
    seed = run.args.seed
    if "naive_process" in run.processes:
        r = run_case("prepare", run.proc_n, run.proc_t, seed, run.cache)
        if "error" in r:
            raise SystemExit(f"preparing the market N={run.proc_n} T={run.proc_t} failed: "
                             f"{r['error']}")
    sweeping = run.sweep_points or run.vbt_points
    for n in sorted(set(run.sizes + ([run.sweep_n] if sweeping else []))):
        run.log(f"market N={n} T={run.n_bars}")
        kw = {}
        if run.vbt_python and ("vectorbt" in run.cases or n == run.sweep_n):
            kw = {"inputs": run.cache / f"vbt-{n}.npz",
                  "vbt_points": run.vbt_points if n == run.sweep_n else 0}
        r = run_case("prepare", n, run.n_bars, seed, run.cache, **kw)
        if "error" in r:
            raise SystemExit(f"preparing the market N={n} failed: {r['error']}")


def _time_size(run: _Run, n: int) -> dict[str, Any]:
    """Every main case at N = ``n``, ``reps`` rounds; medians and each case's rel. diff."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in run.cases}
    capped: set[str] = set()
    for rep in range(run.reps):
        for case in run.cases:
            if case in capped or (case == "vectorbt" and not run.vbt_python):
                continue
            kw: dict[str, Any] = {}
            if case == "vectorbt":
                kw = {"python": run.vbt_python, "inputs": run.cache / f"vbt-{n}.npz"}
            r = run_case(case, n, run.n_bars, run.args.seed, run.cache, **kw)
            runs[case].append(r)
            run.log(f"N={n} rep {rep + 1}/{run.reps} {case}: "
                    + (r["error"] if "error" in r else
                       f"{r['seconds']:.3f}s rss {r['rss_mb']:.0f}MB final {r.get('final_value')}"))
            if "error" not in r and r["seconds"] > CAP_SECONDS and rep + 1 < run.reps:
                capped.add(case)
                run.notes.append(f"{case} at N={n}: one run took {r['seconds']:.0f} s "
                                 f"(> {CAP_SECONDS:.0f} s): 1 repetition instead of {run.reps}")
            if "error" in r:
                capped.add(case)
    res = {c: summarize(v) for c, v in runs.items() if v}
    ref = res.get("twin", {}).get("final_value")
    for c in SAME_BOOK:
        if c in res and "error" not in res[c]:
            res[c]["rel_diff"] = rel(res[c]["final_value"], ref)
    if "ours_bt_overlay" in res and "twin_overlay" in res:
        res["ours_bt_overlay"]["rel_diff"] = rel(res["ours_bt_overlay"].get("final_value"),
                                                 res["twin_overlay"].get("final_value"))
    if "vectorbt" in res and "error" not in res["vectorbt"]:
        res["vectorbt"]["rel_diff"] = res["vectorbt"].get("rel_diff_vs_twin_no_borrow")
    return res


def _time_sweeps(run: _Run) -> None:
    """The twin's and vectorbt's sweeps, one repetition each (a 1000-point sweep is minutes)."""
    sweep = run.report["sweep"]
    if run.sweep_points:
        r = run_case("sweep_twin", run.sweep_n, run.n_bars, run.args.seed, run.cache,
                     points=run.sweep_points)
        sweep["sweep_twin"] = summarize([r])
        run.log(f"sweep_twin: {r.get('seconds', r.get('error'))}")
    if run.vbt_points and run.vbt_python:
        r = run_case("sweep_vbt", run.sweep_n, run.n_bars, run.args.seed, run.cache,
                     python=run.vbt_python, inputs=run.cache / f"vbt-{run.sweep_n}.npz")
        sweep["sweep_vbt"] = summarize([r])
        run.log(f"sweep_vbt: {r.get('seconds', r.get('error'))}")
    if sweep:
        sweep["n_names"] = run.sweep_n
        run.notes.append("sweeps: one repetition each")


def _time_processes(run: _Run) -> None:
    """The whole-process cases, timed from the outside, ``reps`` rounds."""
    if not run.processes:
        return
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in run.processes}
    for rep in range(run.reps):
        for case in run.processes:
            r = run_process(case, run.proc_n, run.proc_t, run.args.seed, run.cache)
            runs[case].append(r)
            run.log(f"{case} N={run.proc_n} T={run.proc_t} rep {rep + 1}/{run.reps}: "
                    + (r["error"] if "error" in r else
                       f"{r['seconds']:.2f}s rss {r['rss_mb']:.0f}MB"))
    run.report["processes"] = {c: summarize(v) for c, v in runs.items()}
    run.report["processes"].update({"n_names": run.proc_n, "n_bars": run.proc_t})


def _profile_missed(run: _Run) -> None:
    """cProfile the cases behind missed targets (at N = ref_n) into the results folder."""
    report, args = run.report, run.args
    report["profiles"] = {}
    if args.no_profile or not (args.profile or not run.quick):
        return
    missed = " ".join(t["target"] for t in report["targets"] if t["met"] is False)
    for case in [c for c in ("ours_bt_overlay", "twin") if c in missed]:
        prof = run.out_dir / f"{run.stem}-{case}-N{run.ref_n}.prof"
        r = run_case(case, run.ref_n, run.n_bars, args.seed, run.cache, profile=prof)
        if "error" in r:
            run.notes.append(f"profiling {case} failed: {r['error']}")
            continue
        text = run.out_dir / f"{run.stem}-{case}-N{run.ref_n}.profile.txt"
        text.write_text(profile_summary(prof))
        report["profiles"][f"{case} N={run.ref_n} ({r['seconds']:.2f} s under cProfile)"] = {
            "prof": str(prof.relative_to(ROOT)) if prof.is_relative_to(ROOT) else str(prof),
            "text": str(text.relative_to(ROOT)) if text.is_relative_to(ROOT) else str(text),
            "top": top_functions(prof)}
        run.log(f"profiled {case}: {text}")


def _write_report(run: _Run) -> None:
    report = run.report
    report["total_seconds"] = time.perf_counter() - run.started
    if hasattr(os, "getloadavg"):
        report["machine"]["load_average_at_end"] = list(os.getloadavg())
    md = run.out_dir / f"{run.stem}.md"
    md.write_text(render_markdown(report))
    (run.out_dir / f"{run.stem}.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"written {md} and {md.with_suffix('.json')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Prepare the markets, time every case, the sweeps and the processes, profile what missed
    its target, and write the results file (markdown + JSON)."""
    run = _Run(_parse_args(argv))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still clean the cache up
    try:
        run.report["code"] = snapshot_code(run.cache / "src")
        _prepare_markets(run)
        for n in run.sizes:
            run.report["results"][n] = _time_size(run, n)
        _time_sweeps(run)
        _time_processes(run)
        run.report["issue_table"] = issue_table(run.report["results"], run.report["sweep"],
                                                run.report["processes"], run.ref_n)
        run.report["targets"] = evaluate(run.report["results"], run.report["sweep"], run.sizes,
                                         run.ref_n)
        _profile_missed(run)
    finally:
        shutil.rmtree(run.cache, ignore_errors=True)
    _write_report(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
