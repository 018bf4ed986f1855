"""Write a :class:`~feeds.market.Market` as CSV files that :func:`feeds.csv_feed.csv_market` reads back.

``export_market(market, folder)`` writes::

    prices.csv          long format, one row per listed (date, ticker), ticker after ticker:
                        date,ticker,open,high,low,close[,volume]   (close-only markets: date,ticker,close[,volume])
    attributes.csv      ticker + the market's attribute columns (true/false, empty = unknown)
    short_interest.csv  point-in-time wide form (date + one column per ticker), if the market has it
    days_to_cover.csv   point-in-time wide form, if the market has it
    reference.csv       date + reference series (daily simple returns), if any
    factors.csv         date + factor returns, if any
    manifest.json       provenance (source, synthetic, seed, fill model, hash) and column types
    README.md           what the files are and how to read them back

Floats are written at full (round-trip) precision, so ``csv_market(folder)`` gives the same frames.
The folder is written beside the target and renamed into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .manifest import EXPORT_FORMAT, MANIFEST_NAME, Manifest
from .market import Market

__all__ = ["EXPORT_FORMAT", "export_market"]
#: Float format used in every exported CSV: 17 significant digits round-trip any float64.
FLOAT_FORMAT = "%.17g"


def _to_csv(df: pd.DataFrame, path: Path, gzip: bool, index: bool = False) -> None:
    comp: Any = {"method": "gzip", "mtime": 0} if gzip else None
    df.to_csv(path, index=index, float_format=FLOAT_FORMAT, date_format="%Y-%m-%d",
              lineterminator="\n", compression=comp)


def _dated(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.index = pd.Index(df.index.strftime("%Y-%m-%d"), name="date")
    out.columns = pd.Index([str(c) for c in df.columns])
    return out


def _prices_frame(m: Market) -> pd.DataFrame:
    """Listed cells in long form, ticker after ticker (keeps the market's column order on read)."""
    live = m.close.notna().to_numpy()
    jj, ii = np.nonzero(live.T)
    dates = np.asarray(m.dates.strftime("%Y-%m-%d"), dtype=object)
    out: dict[str, Any] = {"date": dates[ii], "ticker": np.asarray(m.tickers, dtype=object)[jj]}
    close_only = m.fill_model == "next_close" and all(
        np.array_equal(m.frame(f).to_numpy(), m.close.to_numpy(), equal_nan=True)
        for f in ("open", "high", "low")
    )
    fields = ("close",) if close_only else ("open", "high", "low", "close")
    for f in fields:
        out[f] = m.frame(f).to_numpy()[ii, jj]
    if m.has_volume:
        out["volume"] = m.volume.to_numpy()[ii, jj]
    return pd.DataFrame(out)


def _attributes_frame(att: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.Index([str(t) for t in att.index], name="ticker"))
    for col in att.columns:
        s = att[col]
        if s.dtype == bool or str(s.dtype) == "boolean":
            vals = [("" if v is pd.NA or v is None else ("true" if bool(v) else "false"))
                    for v in s.tolist()]
            out[str(col)] = vals
        else:
            out[str(col)] = s.to_numpy()
    return out


def export_market(market: Market, folder: str | os.PathLike[str], overwrite: bool = False,
                  gzip: bool = False) -> Path:
    """Write ``market`` as CSV files in the layout :func:`feeds.csv_feed.csv_market` reads.

    Parameters
    ----------
    market : the market to write.
    folder : the folder to create. An existing folder is an error unless ``overwrite`` is True and it
        holds a previous export (a ``manifest.json``).
    gzip : write ``.csv.gz`` files instead of ``.csv``.

    Returns
    -------
    Path of the written folder.
    """
    target = Path(folder).expanduser()
    if target.exists():
        if not overwrite:
            raise SqueezeLabError(f"{target} already exists: choose a new folder or pass --overwrite")
        if not target.is_dir() or not (target / MANIFEST_NAME).is_file():
            raise SqueezeLabError(f"{target} exists and is not a squeeze-lab export (no manifest.json): "
                                  "choose a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    ext = ".csv.gz" if gzip else ".csv"
    try:
        files: list[str] = []

        def write(df: pd.DataFrame, stem: str, index: bool = False) -> None:
            _to_csv(df, tmp / f"{stem}{ext}", gzip, index=index)
            files.append(f"{stem}{ext}")

        write(_prices_frame(market), "prices")
        write(_attributes_frame(market.attributes), "attributes", index=True)
        if market.short_interest is not None:
            write(_dated(market.short_interest), "short_interest", index=True)
        if market.days_to_cover is not None:
            write(_dated(market.days_to_cover), "days_to_cover", index=True)
        if not market.reference.empty:
            write(_dated(market.reference), "reference", index=True)
        if not market.factors.empty:
            write(_dated(market.factors), "factors", index=True)
        manifest = Manifest(
            provenance=market.provenance(),
            files=files,
            attribute_dtypes={str(c): str(t) for c, t in market.attributes.dtypes.items()},
            attributes_index_name=market.attributes.index.name,
            columns_name=market.close.columns.name,
            reference_columns=[str(c) for c in market.reference.columns],
            suspicious=market.suspicious,
        )
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        (tmp / "README.md").write_text(_readme(market, files), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _readme(m: Market, files: list[str]) -> str:
    kind = "SYNTHETIC (a simulated market, not real prices)" if m.synthetic else "real data"
    return "\n".join([
        "# squeeze-lab market export",
        "",
        f"Source: {m.source} ({kind}); seed: {m.seed}; {m.n_names} tickers, "
        f"{m.dates[0].date()}..{m.dates[-1].date()}; fill model: {m.fill_model}; "
        f"market hash: {m.content_hash}.",
        "",
        "Files:",
        "- prices: long format, one row per listed (date, ticker): date,ticker,open,high,low,close"
        "[,volume] (close-only markets: date,ticker,close).",
        "- attributes: ticker, then sector, profitable, beta, short_interest (fraction of float), "
        "days_to_cover, shares, is_tech (empty = unknown).",
        "- short_interest / days_to_cover: point-in-time wide form (the value known on each date).",
        "- reference / factors: daily simple returns, one column per series.",
        "- manifest.json: provenance and column types.",
        "",
        "Read it back with `squeeze-lab` (`--csv <this folder>`) or "
        "`feeds.csv_feed.csv_market(\"<this folder>\")`.",
        "",
        "Present here: " + ", ".join(files),
        "",
    ])
