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
from dataclasses import dataclass, field
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


def _csv(df: pd.DataFrame, path: Path, float_format: str = "%.10g") -> None:
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    if isinstance(out.index, pd.DatetimeIndex):
        out.index = out.index.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, na_rep="", lineterminator="\n", float_format=float_format)


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
    margin_calls: pd.DataFrame | None = None  # strategies.result.MARGIN_CALL_COLUMNS
    borrow: pd.DataFrame | None = None         # date, ticker, shares_short, fee_bps, cost, ...
    borrow_events: pd.DataFrame | None = None  # locate cuts and recalls


#: File inside every temporary run folder: says it is ours (the clean-up removes nothing else).
PARTIAL_MARKER = ".squeeze-lab-partial"
#: A temporary run folder older than this (seconds) was left by a killed run.
STALE_AFTER = 3600.0


def clean_stale_partials(out_dir: str | Path, older_than: float = STALE_AFTER,
                         now: float | None = None) -> list[Path]:
    """Remove ``.*.partial`` folders a killed run left in ``out_dir``: only ours (they hold
    :data:`PARTIAL_MARKER`) and only older than ``older_than`` seconds (a live run's stays)."""
    import time

    out = Path(out_dir)
    if not out.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for p in sorted(out.glob(".*.partial")):
        marker = p / PARTIAL_MARKER
        try:
            if p.is_dir() and not p.is_symlink() and marker.is_file() \
                    and now - marker.stat().st_mtime > older_than:
                shutil.rmtree(p)
                removed.append(p)
        except OSError:
            continue
    return removed


def write_run(out_dir: str | Path, name: str, art: RunArtifacts,
              render: Callable[[Path], None] | None = None,
              after_file: Callable[[str], None] | None = None,
              note: Callable[[str], None] | None = None) -> Path:
    """Write ``<out_dir>/<name>-<hash>/`` atomically and return its path.

    ``render(tmp_folder)`` writes tearsheet.html from the other files. ``after_file(name)`` is
    called after each file (a hook the atomicity test uses to crash mid-way). Stale temporary
    folders of killed runs are removed first (:func:`clean_stale_partials`), said through ``note``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stale = clean_stale_partials(out)
        if stale and note is not None:
            note(f"removed {len(stale)} unfinished run folder(s) a killed run left in {out} "
                 f"({', '.join(p.name for p in stale[:3])}{', ...' if len(stale) > 3 else ''})")
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", suffix=".partial", dir=out))
        (tmp / PARTIAL_MARKER).write_text(f"{os.getpid()}\n")
    except OSError as err:
        raise SqueezeLabError(
            f"cannot write to output folder {out}: {err.strerror or err}; pick a writable --out"
        ) from err
    final = out / f"{name}-{config_hash(art.config)}"
    step = after_file or (lambda _name: None)
    try:
        (tmp / "config.json").write_text(dumps(art.config))
        step("config.json")
        prov = {"format": FORMAT, "config_hash": config_hash(art.config), **art.provenance}
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
        if art.margin_calls is not None:
            _csv(art.margin_calls, tmp / "margin_calls.csv")
            step("margin_calls.csv")
        if art.borrow is not None:  # full precision: cost = fee x value x days / 360 checks to 1e-9
            _csv(art.borrow, tmp / "borrow.csv", float_format="%.17g")
            step("borrow.csv")
        if art.borrow_events is not None:
            _csv(art.borrow_events, tmp / "borrow_events.csv", float_format="%.17g")
            step("borrow_events.csv")
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
    (final / PARTIAL_MARKER).unlink(missing_ok=True)
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
    #: margin_calls.csv (empty when the run had none or predates it)
    margin_calls: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return self.path.name

    def positions(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "positions.parquet")


#: Columns each CSV of a run folder must have (RUN_FOLDER.md; more are fine: add-only contract).
CSV_COLUMNS = {
    "equity.csv": ("date", "equity"),
    "trades.csv": ("date", "ticker", "size", "price", "commission"),
    "overlay_log.csv": ("date", "signal", "action", "size"),
    "margin_calls.csv": ("date", "fill_date", "rule"),
}
#: Columns that must hold numbers when present (``True``: no blanks either).
NUMERIC = {"equity.csv": (("equity", True), ("cash", False)),
           "trades.csv": (("size", True), ("price", True), ("commission", True)),
           "overlay_log.csv": (("size", False),),
           "margin_calls.csv": (("leverage", True), ("scale", True))}
#: metrics.json sections every run has, each a JSON object.
METRIC_SECTIONS = ("performance", "episodes", "attribution", "exposures", "overlay")


class _Bad(Exception):
    """A schema failure inside one file (turned into one SqueezeLabError naming folder and file)."""


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except UnicodeDecodeError as err:
        raise _Bad("is not text") from err
    except json.JSONDecodeError as err:
        raise _Bad(f"is not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(value, dict):
        raise _Bad(f"holds {'null' if value is None else type(value).__name__}, not {what}")
    return value


def _read_csv(path: Path, dates: bool = True) -> pd.DataFrame:
    """A run-folder CSV checked against its columns: complete last line, dates, numbers."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise _Bad("is not text") from err
    if not text.endswith("\n"):
        raise _Bad("is cut off (no newline at the end: an interrupted copy?)")
    try:
        df = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as err:
        raise _Bad(f"is not a CSV table ({str(err).splitlines()[0]})") from err
    need = CSV_COLUMNS.get(path.name, ())
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise _Bad(f"lacks the column(s) {', '.join(missing)}")
    for col, finite in NUMERIC.get(path.name, ()):
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & (df[col].notna() if not finite else True)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise _Bad(f"has a non-number {col} at line {row}")
        df[col] = values
    if dates and "date" in df.columns:
        try:
            df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
        except (ValueError, TypeError) as err:
            raise _Bad(f"has a date that is not YYYY-MM-DD ({str(err).splitlines()[0]})") from err
    return df


def _check_config(p: Path, config: dict[str, Any], prov: dict[str, Any]) -> None:
    """config.json is still the configuration the folder was written for (its hash)."""
    if not isinstance(config.get("name"), str):
        raise SqueezeLabError(f"{p} is not a valid run folder: config.json has no run name: "
                              "re-run it with squeeze-lab run")
    expected = prov.get("config_hash")
    suffix = p.name.rsplit("-", 1)[-1] if "-" in p.name else ""
    if expected is None and len(suffix) == 8 and all(c in "0123456789abcdef" for c in suffix):
        expected = suffix
    if expected is not None and config_hash(config) != expected:
        raise SqueezeLabError(f"{p} is not a valid run folder: config.json no longer matches the "
                              f"run's config hash {expected} (edited after the run?): re-run it "
                              "with squeeze-lab run")


def read_run(path: str | Path, require_tearsheet: bool = True) -> RunData:
    """Read a complete run folder, each file checked against its schema; anything else is one
    clear error naming the folder and the file.

    ``require_tearsheet=False`` accepts a folder without tearsheet.html and metrics without every
    section: the tearsheet renderer reads the temporary folder ``write_run`` hands its ``render``
    callback before the rename (and renders what there is).
    """
    p = Path(path)
    if not p.is_dir():
        raise SqueezeLabError(f"{p} is not a run folder (no such directory): pass a folder under runs/")
    needed = REQUIRED if require_tearsheet else tuple(f for f in REQUIRED if f != "tearsheet.html")
    missing = [f for f in needed if not (p / f).is_file()]
    inside = sorted(q.name for q in p.iterdir() if (q / "metrics.json").is_file()) if missing else []
    if len(missing) == len(needed) and inside:   # a folder of runs (runs/), not a run
        raise SqueezeLabError(
            f"{p} is a folder of {len(inside)} run(s) ({', '.join(inside[:3])}"
            f"{', ...' if len(inside) > 3 else ''}), not a run: pass the runs, e.g. {p}/*/")
    if missing:
        raise SqueezeLabError(
            f"{p} is not a complete run (missing {', '.join(missing)}): re-run it with squeeze-lab run"
        )
    current = ""
    try:
        current = "provenance.json"
        prov = _read_json(p / current, "an object of run facts")
        if prov.get("format") != FORMAT:
            raise SqueezeLabError(f"{p} has run-folder format {prov.get('format')!r}, this version "
                                  f"reads {FORMAT}: re-run it")
        current = "config.json"
        config = _read_json(p / current, "a configuration object")
        current = "metrics.json"
        metrics = _read_json(p / current, "an object of metric sections")
        for section in METRIC_SECTIONS if require_tearsheet else ():
            if not isinstance(metrics.get(section), dict):
                raise _Bad(f"has no {section!r} section")
        current = "equity.csv"
        equity = _read_csv(p / current)
        if equity.empty:
            raise _Bad("has no rows")
        equity = equity.set_index("date")
        current = "trades.csv"
        trades = _read_csv(p / current)
        current = "overlay_log.csv"
        overlay = _read_csv(p / current)
        current = "margin_calls.csv"
        calls = _read_csv(p / current) if (p / current).is_file() else pd.DataFrame()
        if "fill_date" in calls.columns:
            calls["fill_date"] = pd.to_datetime(calls["fill_date"], format="%Y-%m-%d")
    except _Bad as err:
        raise SqueezeLabError(f"{p} is not a valid run folder: {current} {err}: re-run it with "
                              "squeeze-lab run") from None
    except OSError as err:
        raise SqueezeLabError(f"{p} has an unreadable {current} ({err.strerror}): check the "
                              "folder's permissions") from None
    _check_config(p, config, prov)
    return RunData(p, config, prov, metrics, equity, trades, overlay, calls)
