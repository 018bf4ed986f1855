"""What a user running the CLI on real prices sees: the test data slice
(tests/fixtures/real_2006_2010), short windows around its episodes, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.realcli import PRICES
from squeeze_lab import run_backtest
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.pipeline.config import resolve_config

#: Around the August 2007 quant quake, with a warm-up (book.beta_window=126) that ends after it.
AUG_2007 = ["--data", f"csv:{PRICES}", "--start", "2007-03-01", "--end", "2007-09-28",
            "--set", "book.momentum_lookback=60", "--set", "book.momentum_skip=5",
            "--set", "book.names_per_leg=20", "--quiet"]


def main(capsys, *args: str) -> tuple[int, str]:
    try:
        code = run_backtest.main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_a_builtin_episode_is_named_by_its_name() -> None:
    config = resolve_config({"analysis": {"episodes": ["aug_2007"]}})
    assert config["analysis"]["episodes"] == ("aug_2007:2007-08-06:2007-08-10",)
    with pytest.raises(SqueezeLabError, match="nor a built-in episode .*aug_2007"):
        resolve_config({"analysis": {"episodes": ["aug_2070"]}})


def test_an_episode_in_the_warm_up_is_said_not_dropped_silently(tmp_path: Path, capsys) -> None:
    code, err = main(capsys, "run", *AUG_2007, "--episode", "aug_2007", "--name", "quake",
                     "--out", str(tmp_path))
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if "aug_2007" in x]
    assert line.startswith("note: quake: episode aug_2007 (2007-08-06..2007-08-10) is not analyzed")
    assert "warm-up" in line and "2007-09-05" in line and "book.beta_window" in line
    (folder,) = tmp_path.glob("quake-*")
    config = json.loads((folder / "config.json").read_text())
    assert config["analysis"]["episodes"] == ["aug_2007:2007-08-06:2007-08-10"]
