"""Sweeps with the local executor: grid parsing, the CLI contract, sweep.csv streaming and resume.

Everything runs on a small scenario market (80 names, 2024-06..2026-03, a 63-session momentum
window) through the real CLI entry ``run_backtest.main``; the Dask executor is in
``test_sweep_dask.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import squeeze_lab.pipeline.sweep as sweep
from squeeze_lab import pipeline, run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.config import resolve_config
from squeeze_lab.pipeline.sweep import run_chunk
from squeeze_lab.pipeline.sweep_executors import chunks
from squeeze_lab.pipeline.sweep_grid import grid_points, parse_grid, split_values
from squeeze_lab.pipeline.sweep_store import SweepFile, sweep_columns

#: A small market and a book whose windows fit in it (the default 12-1 momentum needs ~273
#: sessions of warm-up); 80 names because 50 get a cash rejection in the January 2026 squeeze.
SMALL = ["--set", "data.n_names=80", "--start", "2024-06-01", "--end", "2026-03-31",
         "--set", "book.momentum_lookback=63", "--set", "book.momentum_skip=5",
         "--set", "book.vol_window=21", "--set", "book.beta_window=63",
         "--set", "book.names_per_leg=15", "--set", "book.max_weight=0.2",
         "--set", "overlay.signal_vol_window=21", "--set", "overlay.overlay_beta_window=63",
         "--set", "overlay.basket_names=10", "--set", "overlay.basket_min_cap=0.0"]
#: Two books x two overlays: exercises shared book targets within and across chunks.
GRID = ["--grid", "book.gross=1,1.5", "--grid", "overlay.enabled=false,true"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``squeeze-lab`` in-process (so monkeypatches apply); return (code, stdout, stderr)."""
    capsys.readouterr()
    code = run_backtest.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sweep_args(out: Path, *extra: str) -> list[str]:
    return ["sweep", *SMALL, *GRID, "--quiet", "--out", str(out), *extra]


def sweep_csv(out: Path) -> Path:
    (folder,) = out.glob("sweep-*")
    return folder / "sweep.csv"


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)
    return err


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """sweep.csv of an uninterrupted in-process (--jobs 1) sweep of GRID."""
    out = tmp_path_factory.mktemp("reference")
    assert run_backtest.main(sweep_args(out, "--jobs", "1")) == 0
    return sweep_csv(out).read_bytes()


# --------------------------------------------------------------------------- the grid
def test_split_values_keeps_commas_inside_brackets_and_quotes() -> None:
    assert split_values("1, 1.5,2") == ["1", "1.5", "2"]
    assert split_values('["degross","hedge_basket"],["cover_crowded"]') == [
        '["degross","hedge_basket"]', '["cover_crowded"]']
    assert split_values("\"a,b\",'c,d',e") == ['"a,b"', "'c,d'", "e"]
    assert split_values("[[1,2],[3]],4") == ["[[1,2],[3]]", "4"]
    assert split_values("1,,2,") == ["1", "2"]


def test_parse_grid_reads_toml_values() -> None:
    axes = parse_grid(['overlay.actions=["degross","hedge_basket"],["cover_crowded"]',
                       "book.gross = 1, 2.5", "overlay.enabled=true,false",
                       "overlay.signal_mode=\"a,b.csv\",'c.csv'", "book.rebalance=monthly,weekly"])
    assert axes == [("overlay.actions", [["degross", "hedge_basket"], ["cover_crowded"]]),
                    ("book.gross", [1, 2.5]), ("overlay.enabled", [True, False]),
                    ("overlay.signal_mode", ["a,b.csv", "c.csv"]), ("book.rebalance", ["monthly", "weekly"])]


@pytest.mark.parametrize(("specs", "needle"), [
    (["book.gross"], "KEY=V1,V2"),
    (["book.gross="], "no values"),
    (["=1,2"], "no key"),
    (["book.gross=1", "book.gross=2"], "twice"),
    ([], "at least one"),
])
def test_parse_grid_rejects_bad_specs(specs: list[str], needle: str) -> None:
    with pytest.raises(SqueezeLabError, match=needle):
        parse_grid(specs)


def test_grid_points_are_the_product_in_order() -> None:
    base = resolve_config({"name": "g", "overlay": {"enabled": True}})
    points = grid_points(base, parse_grid(["book.gross=1,2", "overlay.threshold=1,1.5,2"]))
    assert [p.index for p in points] == list(range(6))
    assert points[4].values == (("book.gross", 2), ("overlay.threshold", 1.5))
    assert points[4].config["book"]["gross"] == 2 and points[4].config["overlay"]["threshold"] == 1.5
    assert points[4].config["name"] == "g-p0004"
    assert points[3].book_key == points[5].book_key != points[0].book_key
    groups = chunks(points, 4)
    assert sorted(p.index for c in groups for p in c) == list(range(6))
    assert all(len({p.book_key for p in c}) == 1 for c in groups)


@pytest.mark.parametrize(("grid", "needles"), [
    ("book.gross=1,lots", ["book.gross", "number"]),
    ("nosection.key=1,2", ["nosection.key", "book"]),
    ("book.no_such_key=1,2", ["book.no_such_key"]),
    ("overlay.actions=[\"explode\"]", ["explode", "degross"]),
    ("book.gross", ["KEY=V1,V2"]),
])
def test_bad_grid_is_one_line_before_any_work(tmp_path: Path, capsys, monkeypatch,
                                              grid: str, needles: list[str]) -> None:
    def no_market(*a, **k):
        raise AssertionError("the market must not be loaded for a bad grid")

    monkeypatch.setattr(pipeline.config, "load_market", no_market)
    code, _, err = cli(capsys, "sweep", *SMALL, "--grid", grid, "--out", str(tmp_path / "o"), "-q")
    one_line_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("extra", "needles"), [
    (["--scheduler", "tcp://127.0.0.1:8786"], ["--scheduler", "--executor dask"]),
    (["--jobs", "-1"], ["--jobs"]),
    (["--confirm-top", "-2"], ["--confirm-top"]),
])
def test_bad_options_are_one_line(tmp_path: Path, capsys, extra: list[str],
                                  needles: list[str]) -> None:
    code, _, err = cli(capsys, *sweep_args(tmp_path / "o", *extra))
    one_line_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- end to end
def test_local_sweep_end_to_end_with_confirm(tmp_path: Path, capsys, reference: bytes) -> None:
    out = tmp_path / "runs"
    code, stdout, err = cli(capsys, *sweep_args(out, "--jobs", "2", "--confirm-top", "1"))
    assert code == 0, err
    folder = sweep_csv(out).parent
    with open(folder / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["point"] for r in rows] == ["0", "1", "2", "3"]
    assert [(r["book.gross"], r["overlay.enabled"]) for r in rows] == [
        ("1", "false"), ("1", "true"), ("1.5", "false"), ("1.5", "true")]
    for r in rows:
        for k in ("sharpe_ratio", "max_drawdown", "final_equity", "jan_2026.max_drawdown_in_window"):
            float(r[k])
        assert float(r["max_drawdown"]) < 0 < float(r["final_equity"])
    # the overlay changes the result, the gross scales it
    assert rows[0]["final_equity"] != rows[1]["final_equity"] != rows[3]["final_equity"]
    summary = json.loads((folder / "sweep.json").read_text())
    assert summary["n_points"] == 4 and summary["engine"] == "vectorized"
    assert summary["market"]["synthetic"] is True
    (confirmed,) = summary["confirmed"]
    best = max(rows, key=lambda r: (float(r["sharpe_ratio"]), -int(r["point"])))
    assert confirmed["point"] == int(best["point"])
    assert confirmed["ok"] is True and confirmed["max_rel_diff"] < 1e-9
    html = (folder / "sweep.html").read_text()
    assert "<html" in html.lower() and "sharpe" in html.lower()
    # two processes give the same bytes as one
    assert (folder / "sweep.csv").read_bytes() == reference


def test_same_grid_same_seed_same_bytes(tmp_path: Path, reference: bytes) -> None:
    assert run_backtest.main(sweep_args(tmp_path / "a", "--jobs", "1")) == 0
    assert sweep_csv(tmp_path / "a").read_bytes() == reference
    assert run_backtest.main(sweep_args(tmp_path / "b", "--jobs", "1", "--seed", "8")) == 0
    assert sweep_csv(tmp_path / "b").read_bytes() != reference  # the test can fail


# --------------------------------------------------------------------------- crash and resume
def test_failure_keeps_finished_rows_and_resume_completes(tmp_path: Path, capsys, monkeypatch,
                                                          reference: bytes) -> None:
    real = sweep.run_chunk
    ran: list[int] = []

    def failing(market, points, engine="vectorized", books=None):
        if any(p.index == 2 for p in points):
            raise SqueezeLabError("injected failure on point 2: rerun with --resume")
        ran.extend(p.index for p in points)
        return real(market, points, engine, books=books)

    monkeypatch.setattr(sweep, "run_chunk", failing)
    out = tmp_path / "runs"
    code, _, err = cli(capsys, *sweep_args(out, "--jobs", "1"))
    one_line_error(code, err, "injected failure")
    kept = sweep_csv(out).read_text().splitlines()
    assert ran == [0, 1]
    assert [line.split(",")[0] for line in kept] == ["point", "0", "1"]
    assert kept == reference.decode().splitlines()[:3]
    assert not (sweep_csv(out).parent / "sweep.json").exists()

    # without the failure, --resume runs only the missing points and ends where an
    # uninterrupted run ends, byte for byte
    ran.clear()
    monkeypatch.setattr(sweep, "run_chunk", lambda m, p, e="vectorized", books=None:
                        (ran.extend(x.index for x in p), real(m, p, e, books=books))[1])
    code, _, err = cli(capsys, *sweep_args(out, "--jobs", "1", "--resume"))
    assert code == 0, err
    assert ran == [2, 3]
    assert sweep_csv(out).read_bytes() == reference

    # nothing left to do: no work at all, same file
    ran.clear()
    assert cli(capsys, *sweep_args(out, "--jobs", "2", "--resume"))[0] == 0
    assert ran == [] and sweep_csv(out).read_bytes() == reference


def test_failure_in_a_process_pool_keeps_finished_rows(tmp_path: Path, capsys, monkeypatch,
                                                       reference: bytes) -> None:
    real = sweep.run_chunk

    def failing(market, points, engine="vectorized", books=None):
        if any(p.index == 3 for p in points):
            raise SqueezeLabError("injected failure on point 3")
        return real(market, points, engine, books=books)

    monkeypatch.setattr(sweep, "run_chunk", failing)  # inherited by the forked workers
    out = tmp_path / "runs"
    code, _, err = cli(capsys, *sweep_args(out, "--jobs", "2"))
    one_line_error(code, err, "injected failure")
    lines = sweep_csv(out).read_text().splitlines()
    want = reference.decode().splitlines()
    points = [line.split(",")[0] for line in lines[1:]]
    assert lines[0] == want[0] and "3" not in points and points == sorted(points)
    assert set(lines) <= set(want)
    monkeypatch.setattr(sweep, "run_chunk", real)
    assert cli(capsys, *sweep_args(out, "--jobs", "2", "--resume"))[0] == 0
    assert sweep_csv(out).read_bytes() == reference


def test_resume_drops_a_torn_row_and_rejects_another_grid(tmp_path: Path) -> None:
    path = tmp_path / "sweep.csv"
    axes = parse_grid(["book.gross=1,2"])
    cols = sweep_columns(axes, ["jan_2026"])
    expected = {0: ["1"], 1: ["2"]}
    sheet = SweepFile(path, cols, resume=False, expected=expected)
    sheet.write([{"point": 1, "book.gross": 2, "sharpe_ratio": 0.5}])
    sheet.fh.close()
    with open(path, "a") as fh:
        fh.write("0,1,0.1,0.2")  # a hard kill mid-row
    again = SweepFile(path, cols, resume=True, expected=expected)
    assert again.done == {1}
    again.write([{"point": 0, "book.gross": 1, "sharpe_ratio": 0.25},
                 {"point": 1, "book.gross": 2, "sharpe_ratio": 9.0}])  # a duplicate is skipped
    frame = again.finish()
    assert frame["point"].tolist() == [0, 1] and frame["sharpe_ratio"].tolist() == [0.25, 0.5]
    with pytest.raises(SqueezeLabError, match="another grid"):
        SweepFile(path, cols, resume=True, expected={0: ["1"], 1: ["3"]})
    with pytest.raises(SqueezeLabError, match="another grid"):
        SweepFile(path, sweep_columns(parse_grid(["book.net=0,0.1"]), []), resume=True)
    fresh = SweepFile(path, cols, resume=False)  # no --resume: start over
    assert fresh.done == set()
    assert fresh.finish().empty


def test_run_chunk_rows_do_not_depend_on_chunking_or_shared_books() -> None:
    from squeeze_lab.pipeline.config import load_market
    from squeeze_lab.strategies.book import book_targets

    base = resolve_config({"name": "c", "data": {"n_names": 80, "start": "2025-01-02",
                                                 "end": "2026-03-31"},
                           "book": {"momentum_lookback": 63, "momentum_skip": 5,
                                    "vol_window": 21, "beta_window": 63, "names_per_leg": 15,
                                    "max_weight": 0.2},
                           "overlay": {"enabled": True, "signal_vol_window": 21,
                                       "basket_names": 10, "basket_min_cap": 0.0,
                                       "overlay_beta_window": 63}})
    market = load_market(base["data"])
    points = grid_points(base, parse_grid(["book.gross=1,1.5", "overlay.threshold=1,2",
                                           "execution.commission_bps=0,5"]))
    whole = run_chunk(market, points)  # one cache: each book computed once, reused
    one_by_one = [r for p in points for r in run_chunk(market, [p])]
    key = points[4].book_key
    shared = run_chunk(market, points[4:], books={key: book_targets(market, **points[4].config["book"])})
    assert [r["point"] for r in whole] == list(range(8))
    dumped = [json.dumps(r, sort_keys=True) for r in whole]
    assert dumped == [json.dumps(r, sort_keys=True) for r in one_by_one]
    assert dumped[4:] == [json.dumps(r, sort_keys=True) for r in shared]
    assert whole[0]["final_equity"] > whole[1]["final_equity"]  # commissions cost money
    assert whole[0]["final_equity"] != whole[2]["final_equity"]  # the threshold matters


def test_grid_over_the_data_is_refused_before_any_work(tmp_path, capsys):
    """The market is built once per sweep: a data.* axis would be silently ignored."""
    from squeeze_lab import run_backtest
    code = run_backtest.main(["sweep", "--grid", "data.seed=1,2", "--out", str(tmp_path), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "data.seed" in err and "study" in err
    assert not any(tmp_path.iterdir())
