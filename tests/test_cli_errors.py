"""The bad-input contract through the real CLI: one line naming problem and fix, exit code 2.

Each case runs ``squeeze-lab`` in a subprocess (the installed entry point's module) so that what is
asserted is exactly what a user sees: no traceback, a single line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "data.n_names=60", "--start", "2025-05-01", "--end", "2025-08-29"]
#: Short lookbacks: the book trades inside SMALL's window (a run that never trades is an error).
TRADES = ["--set", "book.momentum_lookback=42", "--set", "book.momentum_skip=5",
          "--set", "book.vol_window=21", "--set", "book.beta_window=42",
          "--set", "book.names_per_leg=10"]


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process, return the completed process (text mode)."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "squeeze_lab", *args],
        capture_output=True, text=True, cwd=cwd or ROOT, env=full_env, timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)
    return err


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--set", "book.no_such_key=1"], ["book.no_such_key", "gross"]),
        (["--set", "nosection.key=1"], ["nosection.key", "book"]),
        (["--set", "book.gross=lots"], ["book.gross", "number"]),
        (["--set", "book.weighting=cubic"], ["book.weighting", "equal"]),
        (["--set", "overlay.actions=[\"explode\"]"], ["explode", "degross"]),
        (["--set", "data.source=bloomberg"], ["data.source", "scenario"]),
        (["--data", "ftp"], ["--data", "csv:PATH"]),
        (["--set", "book.gross"], ["KEY=VALUE"]),
        (["--start", "2030-01-01", "--end", "2030-02-01"], ["outside the data"]),
        (["--start", "2025-06-01", "--end", "2025-01-01"], ["after end"]),
        (["--episode", "mars:2031-01-01:2031-02-01"], ["mars", "outside the data"]),
        (["--episode", "badspec"], ["NAME:START:END"]),
        (["--episode", "x:2025-13-45:2025-14-01"], ["YYYY-MM-DD"]),
    ],
)
def test_run_rejects_bad_input(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    proc = cli("run", *SMALL, "--out", str(tmp_path), "--quiet", *args)
    assert_one_line_error(proc, *needles)
    assert not any(tmp_path.iterdir()), "a failed run must leave no folder"


def test_missing_config_file(tmp_path: Path) -> None:
    proc = cli("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path))
    assert_one_line_error(proc, "nope.toml", "not found")


def test_malformed_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[book\ngross = 2\n")
    assert_one_line_error(cli("run", str(bad), "--out", str(tmp_path)), "bad.toml", "TOML")


def test_unknown_config_section(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[books]\ngross = 2\n")
    assert_one_line_error(cli("run", str(bad), "--out", str(tmp_path)), "books", "sections are")


def test_unknown_subcommand_is_one_line() -> None:
    proc = cli("launch")
    assert_one_line_error(proc, "launch")


def test_compare_refuses_incomplete_run(tmp_path: Path) -> None:
    half = tmp_path / "half-run"
    half.mkdir()
    (half / "config.json").write_text("{}")
    proc = cli("compare", str(half), str(half))
    assert_one_line_error(proc, "not a complete run", "metrics.json")


def test_compare_refuses_missing_folder(tmp_path: Path) -> None:
    proc = cli("compare", str(tmp_path / "ghost"), str(tmp_path / "ghost2"))
    assert_one_line_error(proc, "ghost", "not a run folder")


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("run", *SMALL, *TRADES, "--quiet", "--out", str(blocker / "runs"))
    assert_one_line_error(proc, "cannot write", "--out")


def test_csv_path_missing(tmp_path: Path) -> None:
    proc = cli("run", "--data", f"csv:{tmp_path / 'nothing.csv'}", "--out", str(tmp_path))
    assert_one_line_error(proc, "nothing.csv")


def test_yahoo_without_universe(tmp_path: Path) -> None:
    proc = cli("run", "--data", "yahoo", "--out", str(tmp_path))
    assert_one_line_error(proc, "universe", "data.tickers")
