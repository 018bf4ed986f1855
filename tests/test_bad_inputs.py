"""Every input checked before any work, through the real CLI (in process: ``run_backtest.main``).

Each bad input ends in exit code 2 with ONE line on stderr naming the problem, and leaves nothing
behind (no run folder, no sweep folder, no temporary folder). Kinds: values and dates, relations,
config files, limits the market sets, sweep axes that cannot change a row, run folders read back
by ``compare``, output paths. Then a property test over every parameter of the spec.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squeeze_lab import run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.config import Config, check_jobs, load_config_file, resolve_config
from squeeze_lab.strategies.spec import SECTIONS
from squeeze_lab.tearsheet.rundir import PARTIAL_MARKER, clean_stale_partials, read_run

#: A small market on which the book trades (80 names, a year, short windows).
SMALL = ["--set", "data.n_names=80", "--start", "2025-03-03", "--end", "2026-02-27",
         "--set", "book.momentum_lookback=42", "--set", "book.momentum_skip=5",
         "--set", "book.names_per_leg=10", "--set", "book.max_weight=0.2", "--quiet"]


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in process; return (exit code, stderr)."""
    capsys.readouterr()
    try:
        code = run_backtest.main(list(args))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def assert_refused(code: int, err: str, *needles: str) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)


def assert_nothing_left(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


# --------------------------------------------------------------------------- run: bad values
RUN_CASES = [
    # dates
    (["--start", "garbage"], ["data.start", "YYYY-MM-DD"]),
    (["--end", "2025-13-45"], ["data.end", "2025-13-45", "calendar date"]),
    (["--start", "2025-03-03T00:00+01:00"], ["data.start", "no timezone"]),
    (["--start", "2025-06-01", "--end", "2025-01-01"], ["after end"]),
    (["--episode", "x:NaT:NaT"], ["x:NaT:NaT", "YYYY-MM-DD"]),
    (["--episode", "x:2025-13-45:2025-14-01"], ["YYYY-MM-DD"]),
    (["--episode", "a:2025-05-01:2025-05-30", "--episode", "a:2025-06-02:2025-06-30"],
     ["'a'", "twice"]),
    (["--episode", "wk:2025-06-07:2025-06-08"], ["wk", "no session"]),
    (["--episode", "mars:2031-01-01:2031-02-01"], ["mars", "outside the data"]),
    # names
    (["--name", "a/b"], ["run name", "a/b", "--name"]),
    (["--name", ".."], ["run name"]),
    # relations and sane ranges
    (["--set", "overlay.threshold=1", "--set", "overlay.exit_threshold=2"],
     ["exit_threshold=2.0", "threshold=1.0"]),
    (["--set", "overlay.hedge_size=1e6"], ["overlay.hedge_size", "[0, 1]"]),
    (["--set", "overlay.enabled=true", "--set", "overlay.actions=[]"], ["overlay.actions=[]"]),
    (["--set", "overlay.degross_to=1.5"], ["overlay.degross_to", "[0, 1]"]),
    (["--set", "execution.cash=1e-300"], ["execution.cash"]),
    (["--set", "book.gross=nan"], ["book.gross", "not a number"]),
    (["--set", "book.momentum_skip=50"], ["momentum_skip", "momentum_lookback"]),
    # limits the market sets (checked once it is loaded, before any folder)
    (["--set", "book.momentum_lookback=1000"], ["book.momentum_lookback=1000", "sessions"]),
    (["--set", "book.names_per_leg=100000"], ["book.names_per_leg=100000", "at most 39"]),
    (["--set", "overlay.enabled=true", "--set", "overlay.signal_lookback=100000"],
     ["overlay.signal_lookback"]),
    (["--set", "overlay.enabled=true", "--set", "overlay.basket_names=5000"],
     ["overlay.basket_names"]),
    # data inputs
    (["--attributes", "yahoo"], ["--attributes yahoo", "--data yahoo"]),
    (["--set", "data.source=yahoo", "--set", 'data.tickers=["ABC", "abc"]'], ["listed twice"]),
    (["--set", "data.source=csv"], ["--data csv", "PATH"]),
]


@pytest.mark.parametrize(("args", "needles"), RUN_CASES, ids=[" ".join(a)[:40] for a, _ in RUN_CASES])
def test_run_refuses_bad_input(tmp_path: Path, capsys, args: list[str], needles: list[str]) -> None:
    out = tmp_path / "runs"
    code, err = cli(capsys, "run", *SMALL, "--out", str(out), *args)
    assert_refused(code, err, *needles)
    assert_nothing_left(out)


def test_attributes_folder_is_refused(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "attrs"
    folder.mkdir()
    out = tmp_path / "runs"
    code, err = cli(capsys, "run", *SMALL, "--out", str(out), "--attributes", str(folder))
    assert_refused(code, err, "data.attributes", "is a folder")
    assert_nothing_left(out)


# --------------------------------------------------------------------------- config files
@pytest.mark.parametrize(("text", "suffix", "needles"), [
    ("[1, 2]", ".json", ["holds list", "not a table"]),
    ("null", ".json", ["holds null"]),
    ('"book"', ".json", ["holds str"]),
    ("[study]\nruns = 5\n", ".toml", ["study.runs=5", "not a list"]),
    ("[[study.runs]]\nname = \"a/b\"\n", ".toml", ["run name", "a/b"]),
    ("[book]\ngross = \"lots\"\n", ".toml", ["book.gross", "number"]),
    ("book = 3\n", ".toml", ["[book]", "table"]),
    ("[data]\nstart = 2025-03-03T10:00:00Z\n", ".toml", ["data.start", "time or timezone"]),
])
def test_bad_config_files(tmp_path: Path, capsys, text: str, suffix: str, needles: list[str]) -> None:
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    out = tmp_path / "runs"
    code, err = cli(capsys, "study", str(path), "--quiet", "--out", str(out))
    assert_refused(code, err, *needles)
    assert_nothing_left(out)


def test_config_folder_is_one_line(tmp_path: Path, capsys) -> None:
    code, err = cli(capsys, "run", str(tmp_path), "--out", str(tmp_path / "runs"))
    assert_refused(code, err, "is a folder", "TOML")


def test_toml_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[book]\ngross = 1.5\n".encode())
    assert resolve_config(load_config_file(path)).book.gross == 1.5


# --------------------------------------------------------------------------- sweep axes
@pytest.mark.parametrize(("grid", "extra", "needles"), [
    ("name=a,b", [], ["--grid name", "drop this axis"]),
    ("analysis.top_k=1,2", [], ["analysis.top_k", "changes no number"]),
    ("analysis.reconcile=true,false", [], ["analysis.reconcile"]),
    ("overlay.threshold=1,2", [], ["overlay.threshold", "overlay.enabled=true"]),
    ("overlay.hedge_size=0.1,0.2", ["--set", "overlay.enabled=true"],
     ["overlay.hedge_size", "hedge_basket"]),
    ("book.net=0,0.1", ["--set", "book.neutral=beta"], ["book.net", "dollar"]),
    ("book.gross=1,1.0", [], ["book.gross", "twice"]),
    ("book.gross=1,-1", [], ["book.gross=-1"]),
    ("data.seed=1,2", [], ["data.seed", "market"]),
    ("book.names_per_leg=10,500", [], ["book.names_per_leg=500", "at most 39"]),
    ("book.gross=1,2", ["--confirm-top", "3"], ["--confirm-top 3", "2 points"]),
    ("book.gross=1,2", ["--jobs", "-1"], ["--jobs -1", "negative"]),
])
def test_sweep_refuses_axes_that_cannot_change_a_row(tmp_path: Path, capsys, grid: str,
                                                      extra: list[str], needles: list[str]) -> None:
    out = tmp_path / "sweeps"
    code, err = cli(capsys, "sweep", *SMALL, "--out", str(out), "--grid", grid, *extra)
    assert_refused(code, err, *needles)
    assert_nothing_left(out)


def test_jobs_capped_at_the_cores_with_a_note() -> None:
    notes: list[str] = []
    cores = os.cpu_count() or 1
    assert check_jobs(1000, notes.append) == cores
    assert notes and "1000" in notes[0] and str(cores) in notes[0]
    assert check_jobs(0) == cores and check_jobs(1) == 1
    with pytest.raises(SqueezeLabError, match="negative"):
        check_jobs(-1)


# --------------------------------------------------------------------------- run folders read back
@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("readback") / "runs"
    assert run_backtest.main(["run", *SMALL, "--out", str(out), "--name", "good"]) == 0
    (folder,) = out.glob("good-*")
    return folder


def _truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2 + 3].rstrip("\n") + "1")


def _edit_config(path: Path) -> None:
    cfg = json.loads(path.read_text())
    cfg["book"]["gross"] = 1.0
    path.write_text(json.dumps(cfg))


TAMPER = {
    "metrics {}": (lambda p: (p / "metrics.json").write_text("{}"), ["metrics.json", "performance"]),
    "metrics null": (lambda p: (p / "metrics.json").write_text("null"), ["metrics.json", "null"]),
    "metrics list": (lambda p: (p / "metrics.json").write_text("[1]"), ["metrics.json", "list"]),
    "metrics not json": (lambda p: (p / "metrics.json").write_text("{"), ["metrics.json", "JSON"]),
    "equity cut": (lambda p: _truncate(p / "equity.csv"), ["equity.csv", "cut off"]),
    "equity no column": (lambda p: (p / "equity.csv").write_text("date,x\n2025-01-02,1\n"),
                         ["equity.csv", "equity"]),
    "trades garbage": (lambda p: (p / "trades.csv").write_bytes(b"\x00\xff garbage\n\x01,\x02\n"),
                       ["trades.csv"]),
    "trades bad number": (lambda p: (p / "trades.csv").write_text(
        "date,ticker,size,price,commission\n2025-01-02,A,lots,1,0\n"), ["trades.csv", "size"]),
    "provenance list": (lambda p: (p / "provenance.json").write_text("[]"),
                        ["provenance.json", "list"]),
    "config edited": (lambda p: _edit_config(p / "config.json"), ["config.json", "hash"]),
    "overlay log missing": (lambda p: (p / "overlay_log.csv").unlink(), ["overlay_log.csv"]),
}


@pytest.mark.parametrize("kind", list(TAMPER))
def test_compare_refuses_a_tampered_folder_by_name(good_run: Path, tmp_path: Path, capsys,
                                                   kind: str) -> None:
    bad = tmp_path / good_run.name
    shutil.copytree(good_run, bad)
    tamper, needles = TAMPER[kind]
    tamper(bad)
    page = tmp_path / "cmp.html"
    code, err = cli(capsys, "compare", str(good_run), str(bad), "--out", str(page), "--quiet")
    assert_refused(code, err, str(bad), *needles)
    assert not page.exists()


def test_the_good_folder_reads_back(good_run: Path) -> None:
    run = read_run(good_run)
    assert run.provenance["config_hash"] == good_run.name.rsplit("-", 1)[1]
    assert not (good_run / PARTIAL_MARKER).exists()


# --------------------------------------------------------------------------- output paths
def test_export_under_a_file_is_one_line(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = cli(capsys, "market", "--set", "data.n_names=60", "--export", str(blocker / "m"))
    assert_refused(code, err, "cannot write", "is a file")


def test_export_suggests_a_flag_that_exists(tmp_path: Path, capsys) -> None:
    (tmp_path / "m").mkdir()
    code, err = cli(capsys, "market", "--set", "data.n_names=60", "--export", str(tmp_path / "m"))
    assert_refused(code, err, "already exists", "--overwrite")
    code, err = cli(capsys, "market", "--set", "data.n_names=60", "--export", str(tmp_path / "m"),
                    "--overwrite")
    assert_refused(code, err, "not a squeeze-lab export")


def test_stale_partials_of_killed_runs_are_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    old, fresh, foreign = (out / ".old-1.partial", out / ".new-2.partial", out / ".x-3.partial")
    for p in (old, fresh, foreign):
        p.mkdir(parents=True)
    for p in (old, fresh):
        (p / PARTIAL_MARKER).write_text("1\n")
    past = time.time() - 2 * 3600
    os.utime(old / PARTIAL_MARKER, (past, past))
    os.utime(foreign, (past, past))
    assert clean_stale_partials(out) == [old]
    assert fresh.exists() and foreign.exists() and not old.exists()


def test_a_run_cleans_stale_partials_with_a_note_under_quiet(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    old = out / ".killed-abc.partial"
    old.mkdir(parents=True)
    (old / PARTIAL_MARKER).write_text("1\n")
    past = time.time() - 2 * 3600
    os.utime(old / PARTIAL_MARKER, (past, past))
    code, err = cli(capsys, "run", *SMALL, "--out", str(out), "--name", "after")
    assert code == 0, err
    assert not old.exists()
    assert "note: removed 1 unfinished run folder" in err


# --------------------------------------------------------------------------- property: every key
def _values() -> st.SearchStrategy:
    return st.one_of(
        st.none(), st.booleans(), st.integers(-10**6, 10**6),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
        st.sampled_from(["2025-01-02", "2025-13-45", "monthly", "degross", "zscore", "csv",
                         "x:2025-01-02:2025-01-31", "", "a/b", "yahoo"]),
        st.lists(st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(
            ["degross", "hedge_basket", "AAPL", "a:2025-01-02:2025-01-31"])), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )


KEYS = [(s, p.name) for s, sec in SECTIONS.items() for p in sec.params]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=_values())
def test_every_key_any_value_resolves_or_refuses_in_one_line(key, value) -> None:
    section, name = key
    try:
        cfg = resolve_config({section: {name: value}})
    except SqueezeLabError as err:
        assert "\n" not in str(err) and str(err).strip(), repr(err)
        return
    assert isinstance(cfg, Config)
    assert resolve_config(json.loads(json.dumps(cfg.to_dict()))) == cfg  # config.json reproduces
    got = cfg[section][name]
    if isinstance(got, float):
        assert not math.isnan(got)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([k for k in KEYS if k[0] != "data"]), value=_values())
def test_every_key_through_the_cli_runs_or_refuses_cleanly(tmp_path_factory, capsys, key,
                                                           value) -> None:
    out = tmp_path_factory.mktemp("prop") / "runs"
    text = json.dumps(value) if value is not None else "none"
    code, err = cli(capsys, "run", *SMALL, "--out", str(out), "--set", f"{key[0]}.{key[1]}={text}")
    if code == 0:
        (folder,) = [p for p in out.iterdir()]
        read_run(folder)
    else:
        assert_refused(code, err)
        assert_nothing_left(out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "m"
    assert run_backtest.main(["market", "--set", "data.n_names=60", "--export", str(folder),
                              "--quiet"]) == 0
    return folder


@pytest.mark.parametrize(("key", "value"), [("synthetic", "yes"), ("seed", "seven"),
                                            ("notes", [1, 2]), ("files", "prices.csv"),
                                            ("attribute_dtypes", {"sector": 3})])
def test_export_manifest_with_wrong_types_is_refused(exported: Path, tmp_path: Path, capsys,
                                                     key: str, value) -> None:
    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "runs"
    code, err = cli(capsys, "run", *SMALL, "--data", f"csv:{folder}", "--out", str(out))
    assert_refused(code, err, "manifest.json", key)
    assert_nothing_left(out)


def test_an_overlay_that_never_acts_says_so_under_quiet(tmp_path: Path, capsys) -> None:
    code, err = cli(capsys, "run", *SMALL, "--out", str(tmp_path / "runs"), "--name", "inert",
                    "--set", "overlay.enabled=true", "--set", "overlay.threshold=1e6")
    assert code == 0, err
    assert "note: inert: overlay.enabled is true but the overlay never acted" in err
    assert "overlay.threshold=1e+06" in err


def test_resumed_sweep_csv_with_a_garbage_metric_is_refused(tmp_path: Path) -> None:
    from squeeze_lab.pipeline.sweep_grid import parse_grid
    from squeeze_lab.pipeline.sweep_store import SweepFile, sweep_columns

    path = tmp_path / "sweep.csv"
    cols = sweep_columns(parse_grid(["book.gross=1,2"]), [])
    expected = {0: ["1"], 1: ["2"]}
    sheet = SweepFile(path, cols, resume=False, expected=expected)
    sheet.write([{"point": 0, "book.gross": 1, "sharpe_ratio": 0.5}])
    sheet.fh.close()
    path.write_text(path.read_text().replace("0.5", "lots"))
    with pytest.raises(SqueezeLabError, match="sharpe_ratio='lots', not a number"):
        SweepFile(path, cols, resume=True, expected=expected)


def test_a_setting_the_run_never_reads_says_so_under_quiet(tmp_path: Path, capsys) -> None:
    code, err = cli(capsys, "run", *SMALL, "--out", str(tmp_path / "runs"),
                    "--set", "overlay.degross_to=0.2", "--set", "book.neutral=beta",
                    "--set", "book.net=0.1")
    assert code == 0, err
    assert ("note: --set overlay.degross_to has no effect: overlay.enabled is false, so "
            "overlay.degross_to is never read (add --set overlay.enabled=true)") in err
    assert "note: --set book.net has no effect: book.net is only read when book.neutral" in err
