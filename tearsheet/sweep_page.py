"""The sweep page: heatmaps of metrics over two grid parameters and the table of points."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..feeds.errors import SqueezeLabError
from . import figures as F
from .formatting import DASH, Cell, Table, cell, fmt_value, label, param_text
from .page import embed, environment, write_html

LOWER_IS_BETTER = ("vol", "volatility", "turnover", "cost", "costs", "commission", "borrow")


def _read_sweep(sweep_csv: Path) -> pd.DataFrame:
    p = Path(sweep_csv)
    if not p.is_file():
        raise SqueezeLabError(f"sweep file {p} not found: give the sweep.csv a sweep wrote")
    try:
        df = pd.read_csv(p)
    except (ValueError, OSError) as err:
        raise SqueezeLabError(f"sweep file {p} is not a readable CSV ({err}): re-run the sweep") from err
    if df.empty:
        raise SqueezeLabError(f"sweep file {p} has no grid points: run the sweep first")
    return df


def sweep_grid(df: pd.DataFrame, x: str, y: str, metric: str) -> tuple[pd.DataFrame, int]:
    """Mean of ``metric`` per (y, x) grid cell (rows y, columns x, sorted) and the most points in
    one cell (above 1 when other grid parameters vary too). ``x == y`` gives a single row."""
    vals = pd.to_numeric(df[metric], errors="coerce")
    frame = pd.DataFrame({"x": df[x].to_numpy(), "y": df[y].to_numpy() if y != x else "",
                          "v": vals.to_numpy()})
    grid = frame.pivot_table(index="y", columns="x", values="v", aggfunc="mean", dropna=False,
                             sort=True)
    counts = frame.groupby(["y", "x"], sort=True)["v"].size()
    grid.index.name, grid.columns.name = (y if y != x else None), x
    return grid, int(counts.max()) if len(counts) else 0


#: Column prefixes of configuration keys in sweep.csv (shown as given, not as metrics).
PARAM_PREFIXES = ("name", "data.", "book.", "overlay.", "execution.", "analysis.")


def _sweep_info(folder: Path) -> dict[str, Any]:
    """Provenance of a sweep folder: ``sweep.json`` (its ``market`` entry) or ``provenance.json``."""
    for name, key in (("sweep.json", "market"), ("provenance.json", None)):
        p = folder / name
        if p.is_file():
            try:
                data = json.loads(p.read_text())
            except ValueError:
                continue
            info = data.get(key) if key else data
            if isinstance(info, Mapping):
                out = dict(info)
                if key and isinstance(data.get("grid"), list):
                    out["grid"] = [g[0] for g in data["grid"] if isinstance(g, list) and g]
                if key and data.get("engine"):
                    out["engine"] = data["engine"]
                return out
    return {}


def render_sweep(sweep_csv: str | Path, out: str | Path, x: str, y: str,
                 metrics: Sequence[str], limit: int = 1000) -> Path:
    """Render a sweep page: one heatmap per metric over grid parameters ``x`` (columns) and ``y``
    (rows), and the table of points (every column of ``sweep_csv``); return its path.

    Cells with several points (other grid parameters vary too) show their mean, and the caption
    says so; ``x == y`` gives one row per metric. ``sweep.json`` (or ``provenance.json``) next to
    the CSV, when present, drives the SYNTHETIC banner and the data line.
    """
    path = Path(sweep_csv)
    df = _read_sweep(path)
    metrics = list(dict.fromkeys(metrics))
    if not metrics:
        raise SqueezeLabError("no metric to plot: pass at least one sweep.csv column as a metric")
    cols = [str(c) for c in df.columns]
    for what, name in [("x", x), ("y", y)] + [("metric", m) for m in metrics]:
        if name not in df.columns:
            raise SqueezeLabError(
                f"sweep {what} column {name!r} is not in {path.name}: columns are {', '.join(cols)}"
            )
    info = _sweep_info(path.parent)
    grid_keys = [k for k in info.get("grid", []) if k in cols] or \
        [c for c in cols if c.startswith(PARAM_PREFIXES)]
    others = [k for k in grid_keys if k not in (x, y)]
    figs = []
    for m in metrics:
        grid, per_cell = sweep_grid(df, x, y, m)
        words = re.split(r"[._\s]+", m.lower())
        lower = any(w in LOWER_IS_BETTER for w in words)
        fig = F.heatmap_figure(grid, m, x, y if y != x else "", fmt=lambda v, _m=m: fmt_value(_m, v),
                               higher_is_better=not lower)
        cap = f"{label(m)} over {x}" + (f" (columns) and {y} (rows)" if y != x else "")
        if per_cell > 1:
            cap += (f"; each cell is the mean of {per_cell} points"
                    + (f" over {', '.join(others)}" if others else ""))
        cap += "; green is better" + (" (lower is better here)." if lower else ".")
        figs.append(embed(f"heat-{len(figs)}", f"Heatmap of {m}", cap, fig, ""))
    params = set(grid_keys) | {x, y}
    pts = df.sort_values([c for c in ("point",) if c in df.columns] or [y, x], kind="stable")
    pts = pts.reset_index(drop=True)
    pts = pts.astype(object).where(pts.notna(), None)
    recs = pts.to_dict("records")
    rows = []
    for r in recs[:limit]:
        rows.append([Cell(param_text(r[c]), "mono") if c in params else cell(c, r[c])
                     for c in df.columns])
    note = f"{len(recs)} grid points" + (f"; the first {limit} shown" if len(recs) > limit else "")
    table = Table("Grid points", cols, rows, note=note, anchor="points",
                  numeric=[c not in params and pd.api.types.is_numeric_dtype(df[c])
                           for c in df.columns],
                  highlight_rows=[])
    data_line = ""
    if info.get("source"):
        data_line = (f"{info.get('source')} data, {info.get('start', DASH)} to {info.get('end', DASH)}"
                     f", {param_text(info.get('n_names'))} names, seed {param_text(info.get('seed'))}"
                     f", market hash {param_text(info.get('market_hash'))}")
        if info.get("engine"):
            data_line += f", engine {info['engine']}"
    synthetic = bool(info.get("synthetic")) or (
        "synthetic" in df.columns and df["synthetic"].astype(str).str.lower().isin(["true", "1"]).any())
    ctx = {"title": path.parent.name or "sweep", "csv": path.name, "x": x, "y": y,
           "metrics": metrics, "figures": figs, "table": table, "n_points": len(df),
           "synthetic": synthetic, "data_line": data_line,
           "notes": [str(n) for n in (info.get("notes") or [])]}
    html = environment().get_template("sweep.html").render(**ctx)
    return write_html(html, Path(out))
