"""A credit-spread series from a CSV as FRED exports it (e.g. ICE BofA US High Yield OAS).

FRED's download is ``DATE,BAMLH0A0HYM2`` (newer exports: ``observation_date,BAMLH0A0HYM2``), one
row per day, the spread in percent (3.12 = 312 basis points) and ``.`` on days without a value
(holidays). :func:`read_credit_csv` returns the spread in basis points, missing days dropped; any
other problem is one :class:`SqueezeLabError` naming the line and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import normalize_index

#: Header names accepted for the date column.
DATE_COLUMNS = ("date", "observation_date")


def read_credit_csv(path: str | Path) -> pd.Series:
    """The spread in basis points on each date that has a value (FRED's ``.`` = missing)."""
    p = Path(path)
    if not p.is_file():
        raise SqueezeLabError(f"credit file {p} not found: give a CSV such as FRED's BAMLH0A0HYM2 "
                              "download (DATE,BAMLH0A0HYM2)")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as err:
        raise SqueezeLabError(f"credit file {p} is empty: give DATE,BAMLH0A0HYM2 rows") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SqueezeLabError(f"credit file {p} is not a readable CSV: save it as "
                              "comma-separated text") from err
    cols = [str(c).strip() for c in raw.columns]
    lower = [c.lower() for c in cols]
    dcol = next((cols[i] for i, c in enumerate(lower) if c in DATE_COLUMNS), None)
    values = [c for c in cols if c != dcol]
    if dcol is None or len(values) != 1:
        raise SqueezeLabError(f"credit file {p}: header {','.join(cols)[:60]!r} is not DATE,SERIES: "
                              "give two columns as FRED exports them, e.g. DATE,BAMLH0A0HYM2")
    raw.columns = cols
    dates = pd.to_datetime(raw[dcol].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        i = int(np.argmax(dates.isna().to_numpy()))
        raise SqueezeLabError(f"credit file {p}: line {i + 2}: date {raw[dcol].iloc[i]!r} is not "
                              "YYYY-MM-DD: fix the row")
    text = raw[values[0]].str.strip()
    missing = text.isin([".", ""])
    vals = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = vals.isna() & ~missing
    if bad.any() or not np.isfinite(vals[~missing].to_numpy(np.float64)).all():
        i = int(np.argmax((bad | (~missing & ~np.isfinite(vals.fillna(0.0)))).to_numpy()))
        raise SqueezeLabError(f"credit file {p}: line {i + 2}: {text.iloc[i]!r} is not a number "
                              "(FRED writes '.' for a missing day): fix the row")
    s = pd.Series(vals.to_numpy(np.float64) * 100.0, index=normalize_index(pd.DatetimeIndex(dates)),
                  name=values[0])
    s = s[~missing.to_numpy()]
    if s.index.has_duplicates:
        raise SqueezeLabError(f"credit file {p}: date {s.index[s.index.duplicated()][0].date()} "
                              "appears twice: keep one row per date")
    if s.empty:
        raise SqueezeLabError(f"credit file {p} has no values: give at least one dated spread")
    return s.sort_index()
