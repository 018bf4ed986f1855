"""Per-ticker attributes from the user's files or Yahoo (short-interest history: feeds.short_interest).

* ``attributes.csv``: ``ticker`` then any of ``sector, profitable, beta, short_interest,
  days_to_cover, shares, is_tech`` (extra columns are kept). ``short_interest`` is a fraction of
  float (0.25 = 25%); booleans are true/false, yes/no or 1/0; empty cells are unknown.
* Yahoo's ``Ticker.info`` fields (``attributes="yahoo"``): today's values, not point-in-time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import ATTRIBUTE_COLUMNS
from .short_interest import check_fraction_of_float
from .tables import Table, numbers_or_fail, parse_numbers, read_table

#: Column types of the known attributes.
ATTRIBUTE_TYPES = {
    "sector": "str", "profitable": "bool", "beta": "float", "short_interest": "float",
    "days_to_cover": "float", "shares": "float", "is_tech": "bool",
}
#: Sector given to tickers without one.
UNKNOWN_SECTOR = "Unknown"

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _fail(message: str) -> SqueezeLabError:
    return SqueezeLabError(message)


def parse_bools(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(values, known mask, first bad index) from true/false/yes/no/1/0 cells (empty = unknown)."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    known = np.zeros(n, dtype=bool)
    for i, v in enumerate(values):
        s = str(v).strip().lower()
        if s == "":
            continue
        if s in _TRUE:
            out[i] = known[i] = True
        elif s in _FALSE:
            known[i] = True
        else:
            return out, known, i
    return out, known, None


# =============================================================================== attributes.csv
def read_attributes(path: str | Path, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read and validate an attributes CSV; one row per ticker, indexed by ticker.

    ``dtypes`` (column -> pandas dtype name, as :func:`feeds.export.export_market` records them)
    restores exact column types; otherwise known columns get their documented type and extra
    columns are read as bool, float or text, whichever fits every cell.
    """
    t = read_table(path)
    canon = t.canon
    if "ticker" not in canon:
        raise _fail(f"{t.path}:{t.header_line}: no 'ticker' column: the header needs ticker,"
                    f"{','.join(ATTRIBUTE_COLUMNS)} (any of them)")
    tick = np.array([str(v).strip() for v in t.col("ticker")], dtype=object)
    empty = np.flatnonzero(tick == "")
    if len(empty):
        raise _fail(f"{t.loc(int(empty[0]))}: the ticker is empty: give a ticker on every row")
    dup = pd.Index(tick).duplicated()
    if dup.any():
        r = int(np.argmax(dup))
        r0 = int(np.flatnonzero(tick == tick[r])[0])
        raise _fail(f"{t.loc(r)}: ticker {tick[r]} appears twice (first at line {int(t.lines[r0])}): "
                    "give one row per ticker")
    dtypes = dict(dtypes or {})
    index = pd.Index(list(tick))
    data: dict[str, Any] = {}
    for k, (raw, name) in enumerate(zip(t.header, canon, strict=True)):
        if name == "ticker":
            continue
        key = name if name in ATTRIBUTE_TYPES else raw.strip()
        col = _attribute_column(t, key, t.cells[:, k], dtypes.get(key))
        col.index = index
        data[key] = col
    frame = pd.DataFrame(data, index=index)
    _check_ranges(t, frame)
    return frame


def _attribute_column(t: Table, name: str, cells: np.ndarray, dtype: str | None) -> pd.Series:
    kind = ATTRIBUTE_TYPES.get(name)
    if dtype is not None:
        kind = {"bool": "bool", "boolean": "bool", "float64": "float", "int64": "int"}.get(dtype, "str")
    if kind is None:  # an extra column: the narrowest type that fits every non-empty cell
        nonempty = [str(c).strip() for c in cells if str(c).strip() != ""]
        if nonempty and all(s.lower() in _TRUE | _FALSE for s in nonempty):
            kind = "bool"
        elif parse_numbers(np.array(nonempty, dtype=object))[1] is None:
            kind = "float"
        else:
            kind = "str"
    if kind == "bool":
        vals, known, bad = parse_bools(cells)
        if bad is not None:
            raise _fail(f"{t.loc(bad)}: {name} {str(cells[bad]).strip()!r} is not true/false: "
                        "write true or false (or leave it empty when unknown)")
        if known.all() and dtype != "boolean":
            return pd.Series(vals, dtype=bool)
        return pd.Series(pd.array([bool(v) if k else pd.NA for v, k in zip(vals, known, strict=True)],
                                  dtype="boolean"))
    if kind in ("float", "int"):
        vals = numbers_or_fail(t.loc, name, cells)
        if kind == "int":
            if not np.isfinite(vals).all() or (vals != np.round(vals)).any():
                r = int(np.argmax(~np.isfinite(vals) | (vals != np.round(vals))))
                raise _fail(f"{t.loc(r)}: {name} {str(cells[r]).strip()!r} is not a whole number: "
                            "correct the value")
            return pd.Series(vals.astype(np.int64))
        return pd.Series(vals, dtype=np.float64)
    strs = [str(c).strip() for c in cells]
    if name == "sector":
        strs = [s if s else UNKNOWN_SECTOR for s in strs]
        out = pd.Series(strs)
    else:
        out = pd.Series([s if s else None for s in strs])
    if dtype is not None and dtype not in ("bool", "boolean", "float64", "int64"):
        try:
            out = out.astype(dtype)
        except (TypeError, ValueError):
            pass
    return out


def _check_ranges(t: Table, frame: pd.DataFrame) -> None:
    if "short_interest" in frame.columns and frame["short_interest"].dtype == np.float64:
        check_fraction_of_float(frame["short_interest"].to_numpy(), t.loc, frame.index)
    checks = (
        ("beta", lambda v: ~np.isinf(v), "a finite number"),
        ("days_to_cover", lambda v: np.isnan(v) | ((v >= 0) & np.isfinite(v)), "a number >= 0"),
        ("shares", lambda v: np.isnan(v) | ((v > 0) & np.isfinite(v)), "a positive number"),
    )
    for name, ok, what in checks:
        if name not in frame.columns or frame[name].dtype != np.float64:
            continue
        v = frame[name].to_numpy()
        with np.errstate(all="ignore"):
            good = ok(v)
        if not good.all():
            r = int(np.argmax(~good))
            raise _fail(f"{t.loc(r)}: {name} {str(t.col(name)[r]).strip()!r} for {frame.index[r]} "
                        f"must be {what}")


def align_attributes(
    table: pd.DataFrame | None, tickers: pd.Index, source: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Attributes indexed exactly by ``tickers`` (missing rows unknown) and one note per gap."""
    tickers = pd.Index(tickers)
    if table is None:
        att = pd.DataFrame({"sector": pd.Series([UNKNOWN_SECTOR] * len(tickers), index=tickers.copy())},
                           index=tickers)
        return att, ["no attributes given (sector, profitability, beta, short interest unknown): the "
                     "junk score falls back to price-based proxies"]
    notes = []
    missing = tickers.difference(table.index, sort=False)
    att = table.reindex(tickers)
    if len(missing):
        notes.append(f"{source or 'attributes'} has no row for {len(missing)} of {len(tickers)} "
                     f"tickers (e.g. {', '.join(map(str, missing[:5]))}): their attributes are unknown")
        for col in att.columns:
            if table[col].dtype == bool:
                att[col] = pd.array(table[col].reindex(tickers), dtype="boolean")
        if "sector" in att.columns:
            att["sector"] = att["sector"].fillna(UNKNOWN_SECTOR)
    if "sector" not in att.columns:
        att.insert(0, "sector", pd.Series([UNKNOWN_SECTOR] * len(tickers), index=tickers))
    absent = [c for c in ATTRIBUTE_COLUMNS if c not in att.columns]
    if absent:
        notes.append(f"attributes without {', '.join(absent)}: measures that need them fall back to "
                     "price-based proxies")
    att.index = tickers.copy()
    return att, notes


# =============================================================================== Yahoo info
#: ``Ticker.info`` keys kept in the cache and used for attributes.
INFO_KEYS = ("sector", "beta", "shortPercentOfFloat", "sharesShort", "sharesOutstanding",
             "floatShares", "shortRatio", "profitMargins", "netIncomeToCommon", "quoteType")


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return np.nan
    return v if np.isfinite(v) else np.nan


def attributes_from_info(infos: Mapping[str, Mapping[str, Any]]) -> tuple[pd.DataFrame, list[str]]:
    """Attributes from Yahoo ``Ticker.info`` dicts (today's values), with notes on what is missing.

    profitable: netIncomeToCommon > 0 (else profitMargins > 0); short_interest: shortPercentOfFloat
    (else sharesShort / floatShares); days_to_cover: shortRatio; shares: sharesOutstanding;
    is_tech: sector == "Technology".
    """
    tickers = list(infos)
    rows = []
    for tk in tickers:
        info = infos[tk] or {}
        sector = info.get("sector")
        sector = str(sector).strip() if isinstance(sector, str) and sector.strip() else UNKNOWN_SECTOR
        ni, pm = _num(info.get("netIncomeToCommon")), _num(info.get("profitMargins"))
        prof = (ni > 0) if np.isfinite(ni) else ((pm > 0) if np.isfinite(pm) else pd.NA)
        si = _num(info.get("shortPercentOfFloat"))
        if not np.isfinite(si):
            ss, fl = _num(info.get("sharesShort")), _num(info.get("floatShares"))
            si = ss / fl if np.isfinite(ss) and np.isfinite(fl) and fl > 0 else np.nan
        shares = _num(info.get("sharesOutstanding"))
        rows.append({
            "sector": sector,
            "profitable": prof,
            "beta": _num(info.get("beta")),
            "short_interest": si,
            "days_to_cover": _num(info.get("shortRatio")),
            "shares": shares if shares > 0 else np.nan,
            "is_tech": sector == "Technology",
        })
    att = pd.DataFrame(rows, index=pd.Index(tickers), columns=list(ATTRIBUTE_COLUMNS))
    for col in ("beta", "short_interest", "days_to_cover", "shares"):
        att[col] = att[col].astype(np.float64)
    prof = att["profitable"]
    att["profitable"] = (prof.astype(bool) if prof.notna().all()
                         else pd.array(prof.tolist(), dtype="boolean"))
    att["is_tech"] = att["is_tech"].astype(bool)
    notes = []
    empty = np.array([not infos[t] for t in tickers], dtype=bool)
    if empty.any():
        names = att.index[empty]
        notes.append(f"no Yahoo info for {len(names)} ticker(s) (e.g. {', '.join(map(str, names[:5]))}): "
                     "their attributes are unknown")
    for col in ("profitable", "beta", "short_interest", "days_to_cover", "shares"):
        miss = att.index[att[col].isna().to_numpy() & ~empty]
        if len(miss):
            notes.append(f"Yahoo gave no {col} for {len(miss)} ticker(s) (e.g. "
                         f"{', '.join(map(str, miss[:5]))}): left unknown")
    unknown = att.index[(att["sector"] == UNKNOWN_SECTOR).to_numpy() & ~empty]
    if len(unknown):
        notes.append(f"Yahoo gave no sector for {len(unknown)} ticker(s) (e.g. "
                     f"{', '.join(map(str, unknown[:5]))}): sector Unknown, not tech")
    return att, notes
