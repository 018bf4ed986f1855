"""The run folder (../shared/docs/RUN_FOLDER.md): written atomically, read back strictly.

A run folder is a public contract: users script against it and ``compare``/``sweep``/the tearsheet
read it instead of re-running anything. It appears only when complete: everything is written to a
hidden temporary sibling and renamed at the end, so a crash never leaves a folder that
:func:`read_run` accepts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..analyzers.jsonable import canonical
from ..feeds.errors import SqueezeLabError

FORMAT = 1
#: Files every complete run folder has (tearsheet.html last: it is rendered from the others).
REQUIRED = ("config.json", "provenance.json", "metrics.json", "equity.csv", "trades.csv",
            "positions.parquet", "overlay_log.csv", "tearsheet.html")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to python, NaN/inf to None, dates to ISO strings."""
    return canonical(obj)


def dumps(obj: Any) -> str:
    """Canonical JSON text: sorted keys, two-space indent, no NaN, trailing newline."""
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def config_hash(config: Mapping[str, Any]) -> str:
    """8 hex characters of sha256 over the canonical JSON of the resolved configuration."""
    return hashlib.sha256(dumps(config).encode()).hexdigest()[:8]


def _csv(df: pd.DataFrame, path: Path) -> None:
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    if isinstance(out.index, pd.DatetimeIndex):
        out.index = out.index.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, na_rep="", lineterminator="\n", float_format="%.10g")


def _frame_with_date(df: pd.DataFrame) -> pd.DataFrame:
    if isinstance(df.index, pd.DatetimeIndex):
        out = df.copy()
        out.index.name = "date"
        return out.reset_index()
    return df


@dataclass
class RunArtifacts:
    """Everything one run writes, already computed; :func:`write_run` only serializes."""

    config: dict[str, Any]
    provenance: dict[str, Any]
    metrics: dict[str, Any]
    equity: pd.DataFrame        # index = dates; columns equity, cash, ...
    trades: pd.DataFrame        # date, ticker, size, price, commission, leg, ...
    positions: pd.DataFrame     # index = dates; columns = tickers (shares)
    overlay_log: pd.DataFrame   # date, signal, action, size, detail


def write_run(out_dir: str | Path, name: str, art: RunArtifacts,
              render: Callable[[Path], None] | None = None,
              after_file: Callable[[str], None] | None = None) -> Path:
    """Write ``<out_dir>/<name>-<hash>/`` atomically and return its path.

    ``render(tmp_folder)`` writes tearsheet.html from the other files. ``after_file(name)`` is
    called after each file (a hook the atomicity test uses to crash mid-way).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", suffix=".partial", dir=out))
    except OSError as err:
        raise SqueezeLabError(
            f"cannot write to output folder {out}: {err.strerror or err}; pick a writable --out"
        ) from err
    final = out / f"{name}-{config_hash(art.config)}"
    step = after_file or (lambda _name: None)
    try:
        (tmp / "config.json").write_text(dumps(art.config))
        step("config.json")
        prov = {"format": FORMAT, **art.provenance}
        (tmp / "provenance.json").write_text(dumps(prov))
        step("provenance.json")
        (tmp / "metrics.json").write_text(dumps(art.metrics))
        step("metrics.json")
        _csv(_frame_with_date(art.equity), tmp / "equity.csv")
        step("equity.csv")
        _csv(art.trades, tmp / "trades.csv")
        step("trades.csv")
        pos = art.positions.copy()
        pos.columns = [str(c) for c in pos.columns]
        if isinstance(pos.index, pd.DatetimeIndex):
            pos.index.name = "date"
        pos.to_parquet(tmp / "positions.parquet")
        step("positions.parquet")
        _csv(art.overlay_log, tmp / "overlay_log.csv")
        step("overlay_log.csv")
        if render is not None:
            render(tmp)
        step("tearsheet.html")
        missing = [f for f in REQUIRED if not (tmp / f).exists()]
        if missing:
            raise SqueezeLabError(f"run folder incomplete, missing {', '.join(missing)}")
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}-", suffix=".old", dir=out))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


@dataclass
class RunData:
    """A complete run folder read back (nothing is recomputed)."""

    path: Path
    config: dict[str, Any]
    provenance: dict[str, Any]
    metrics: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame
    overlay_log: pd.DataFrame

    @property
    def name(self) -> str:
        return self.path.name

    def positions(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "positions.parquet")


def _read_csv(path: Path, dates: bool = True) -> pd.DataFrame:
    df = pd.read_csv(path)
    if dates and "date" in df.columns:
        df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    return df


def read_run(path: str | Path, require_tearsheet: bool = True) -> RunData:
    """Read a complete run folder; anything else is one clear error.

    ``require_tearsheet=False`` accepts a folder without tearsheet.html: the tearsheet renderer
    reads the temporary folder ``write_run`` hands its ``render`` callback before the rename.
    """
    p = Path(path)
    if not p.is_dir():
        raise SqueezeLabError(f"{p} is not a run folder (no such directory): pass a folder under runs/")
    needed = REQUIRED if require_tearsheet else tuple(f for f in REQUIRED if f != "tearsheet.html")
    missing = [f for f in needed if not (p / f).is_file()]
    if missing:
        raise SqueezeLabError(
            f"{p} is not a complete run (missing {', '.join(missing)}): re-run it with squeeze-lab run"
        )
    try:
        config = json.loads((p / "config.json").read_text())
        prov = json.loads((p / "provenance.json").read_text())
        metrics = json.loads((p / "metrics.json").read_text())
        equity = _read_csv(p / "equity.csv").set_index("date")
        trades = _read_csv(p / "trades.csv")
        overlay = _read_csv(p / "overlay_log.csv")
    except (ValueError, KeyError, OSError) as err:
        raise SqueezeLabError(f"{p} has an unreadable file ({err}): re-run it with squeeze-lab run") from err
    if prov.get("format") != FORMAT:
        raise SqueezeLabError(
            f"{p} has run-folder format {prov.get('format')!r}, this version reads {FORMAT}: re-run it"
        )
    return RunData(p, config, prov, metrics, equity, trades, overlay)
