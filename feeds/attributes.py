"""Per-ticker attributes and point-in-time short-interest history, from the user's files or Yahoo.

* ``attributes.csv``: ``ticker`` then any of ``sector, profitable, beta, short_interest,
  days_to_cover, shares, is_tech`` (extra columns are kept). ``short_interest`` is a fraction of
  float (0.25 = 25%); booleans are true/false, yes/no or 1/0; empty cells are unknown.
* short-interest history in its usual public form, one row per settlement date and ticker
  (twice a month): ``date, ticker, shares_short | short_interest[, days_to_cover][, float_shares]
  [, publication_date]``. A value becomes known on its publication date (given, or the settlement
  date plus ``lag_days`` business days) and is carried forward to the next publication.
* the point-in-time wide form (``date`` + one column per ticker, values already known on that
  date; what :func:`feeds.export.export_market` writes): used as given.
* Yahoo's ``Ticker.info`` fields (``attributes="yahoo"``): today's values, not point-in-time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .csv_feed import (
    Table,
    _canon,
    _dates_or_fail,
    _numbers_or_fail,
    parse_numbers,
    read_table,
)
from .errors import SqueezeLabError
from .market import ATTRIBUTE_COLUMNS, normalize_index

#: Column types of the known attributes.
ATTRIBUTE_TYPES = {
    "sector": "str", "profitable": "bool", "beta": "float", "short_interest": "float",
    "days_to_cover": "float", "shares": "float", "is_tech": "bool",
}
#: Short interest above this (as a fraction of float) is taken for a percentage typed by mistake.
MAX_SHORT_FRACTION = 5.0
#: Default business days between a settlement date and the publication of its short interest.
SI_LAG_DAYS = 8
#: Sector given to tickers without one.
UNKNOWN_SECTOR = "Unknown"

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_SI_ALIASES = {
    "settlement_date": "date", "settlement": "date",
    "shares_short": "shares_short", "short_shares": "shares_short", "short_interest_shares": "shares_short",
    "short_interest": "short_interest", "short_percent_of_float": "short_interest",
    "si": "short_interest",
    "days_to_cover": "days_to_cover", "dtc": "days_to_cover", "short_ratio": "days_to_cover",
    "float_shares": "float_shares", "float": "float_shares",
    "publication_date": "publication_date", "published": "publication_date",
    "publication": "publication_date",
}


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
        vals = _numbers_or_fail(t.loc, name, cells)
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
    checks = (
        ("beta", lambda v: ~np.isinf(v), "a finite number"),
        ("short_interest", lambda v: np.isnan(v) | ((v >= 0) & (v <= MAX_SHORT_FRACTION)),
         "a fraction of float between 0 and 5 (0.25 = 25%; divide percentages by 100)"),
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


# =============================================================================== short interest
def read_short_interest(
    path: str | Path | None,
    dates: pd.DatetimeIndex,
    tickers: pd.Index,
    lag_days: int = SI_LAG_DAYS,
    days_to_cover_path: str | Path | None = None,
    shares: pd.Series | None = None,
    volume: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """Point-in-time short interest and days to cover (dates x tickers) from a history file.

    The public twice-monthly form (a ``ticker`` column) is lagged: each value is known from its
    publication date (``publication_date`` column, else settlement + ``lag_days`` business days)
    and carried forward. The wide form (``date`` + one column per ticker) is point-in-time already:
    on each market date the latest row on or before it is used. ``shares`` (outstanding) converts
    ``shares_short`` when no ``float_shares`` column is given; ``volume`` gives days to cover
    (shares short / 20-day average volume) when the file has none.
    """
    dates = normalize_index(dates)
    tickers = pd.Index(tickers)
    notes: list[str] = []
    si = dtc = None
    if path is not None:
        t = read_table(path)
        if "ticker" in t.canon:
            si, dtc, notes = _public_short_interest(t, dates, tickers, lag_days, shares, volume)
        else:
            si = _wide_point_in_time(t, dates, tickers, "short_interest")
            notes.append(f"short interest read point-in-time from {t.path} (no publication lag added)")
    if days_to_cover_path is not None:
        t = read_table(days_to_cover_path)
        dtc = _wide_point_in_time(t, dates, tickers, "days_to_cover")
        notes.append(f"days to cover read point-in-time from {t.path} (no publication lag added)")
    for name, frame in (("short_interest", si), ("days_to_cover", dtc)):
        if frame is not None:
            covered = int(frame.notna().any(axis=0).sum())
            if covered < len(tickers):
                notes.append(f"{name} history covers {covered} of {len(tickers)} tickers; the others "
                             "are unknown")
    return si, dtc, notes


def _wide_point_in_time(t: Table, dates: pd.DatetimeIndex, tickers: pd.Index, what: str) -> pd.DataFrame:
    if not t.header or t.canon[0] != "date":
        raise _fail(f"{t.path}:{t.header_line}: the first column must be 'date', then one column per "
                    f"ticker (or give the public form date,ticker,shares_short,...)")
    names = [h.strip() for h in t.header[1:]]
    d = pd.DatetimeIndex(_dates_or_fail(t.loc, t.cells[:, 0]))
    if d.has_duplicates:
        r = int(np.argmax(d.duplicated()))
        raise _fail(f"{t.loc(r)}: date {d[r].date()} appears twice: remove one of the rows")
    data = {}
    for k, name in enumerate(names):
        v = _numbers_or_fail(t.loc, f"{what} for {name}", t.cells[:, k + 1])
        bad = ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0))
        if what == "short_interest":
            bad |= v > MAX_SHORT_FRACTION
        if bad.any():
            r = int(np.argmax(bad))
            raise _fail(f"{t.loc(r)}: {what} for {name} {str(t.cells[r, k + 1]).strip()!r} must be "
                        + ("a fraction of float between 0 and 5 (0.25 = 25%)" if what == "short_interest"
                           else "a number >= 0"))
        data[name] = v
    frame = pd.DataFrame(data, index=normalize_index(d), columns=pd.Index(names)).sort_index()
    out = frame.reindex(dates, method="ffill") if len(frame) else frame.reindex(dates)
    out = out.reindex(columns=tickers).astype(np.float64)
    out.index = dates
    out.columns = tickers
    return out


def _public_short_interest(
    t: Table, dates: pd.DatetimeIndex, tickers: pd.Index, lag_days: int,
    shares: pd.Series | None, volume: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    canon = [_SI_ALIASES.get(c, c) for c in (_canon(h) for h in t.header)]
    if "date" not in canon:
        raise _fail(f"{t.path}:{t.header_line}: no 'date' (settlement date) column: give date,ticker,"
                    "shares_short (or short_interest),days_to_cover")
    if "short_interest" not in canon and "shares_short" not in canon:
        raise _fail(f"{t.path}:{t.header_line}: no shares_short or short_interest column: give one "
                    "(short_interest as a fraction of float, 0.25 = 25%)")

    def col(name: str) -> np.ndarray | None:
        return t.cells[:, canon.index(name)] if name in canon else None

    n = len(t)
    if "ticker" not in canon:
        raise _fail(f"{t.path}:{t.header_line}: no 'ticker' column: give date,ticker,shares_short,...")
    tick = np.array([str(v).strip() for v in col("ticker")], dtype=object)
    if n and (tick == "").any():
        raise _fail(f"{t.loc(int(np.argmax(tick == '')))}: the ticker is empty: give a ticker on every row")
    settle = _dates_or_fail(t.loc, col("date"))
    key = pd.DataFrame({"d": settle, "t": tick})
    dup = key.duplicated().to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        raise _fail(f"{t.loc(r)}: duplicate short-interest row for {tick[r]} on "
                    f"{pd.Timestamp(settle[r]).date()}: give one row per settlement date and ticker")
    if "publication_date" in canon:
        known = _dates_or_fail(t.loc, col("publication_date"))
        early = known < settle
        if early.any():
            r = int(np.argmax(early))
            raise _fail(f"{t.loc(r)}: publication_date is before the settlement date: swap or fix them")
        lag_note = "its publication_date"
    else:
        if lag_days < 0:
            raise _fail(f"short-interest lag {lag_days} is negative: give 0 or more business days")
        known = (pd.DatetimeIndex(settle) + pd.offsets.BDay(int(lag_days))).to_numpy() \
            if lag_days else settle
        lag_note = f"settlement date + {lag_days} business days"

    def numbers(name: str, lo: float, hi: float, what: str) -> np.ndarray | None:
        cells = col(name)
        if cells is None:
            return None
        v = _numbers_or_fail(t.loc, name, cells)
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(v) & ~((v >= lo) & (v <= hi))
        if bad.any():
            r = int(np.argmax(bad))
            raise _fail(f"{t.loc(r)}: {name} {str(cells[r]).strip()!r} for {tick[r]} must be {what}")
        return v

    frac = numbers("short_interest", 0.0, MAX_SHORT_FRACTION,
                   "a fraction of float between 0 and 5 (0.25 = 25%; divide percentages by 100)")
    short = numbers("shares_short", 0.0, np.inf, "a number of shares >= 0")
    dtc_v = numbers("days_to_cover", 0.0, np.inf, "a number of days >= 0")
    flt = numbers("float_shares", 0.0, np.inf, "a positive number of shares")
    notes: list[str] = []
    if frac is None:
        assert short is not None
        if flt is not None:
            denom = flt
            base = "float_shares"
        elif shares is not None:
            sh = pd.to_numeric(shares, errors="coerce").astype(np.float64)
            denom = sh.reindex(pd.Index(tick)).to_numpy()
            base = "shares outstanding (attributes), not float"
        else:
            raise _fail(f"{t.path}: gives shares_short but neither a float_shares column nor a shares "
                        "attribute: add float_shares, a shares column to attributes.csv, or give "
                        "short_interest as a fraction of float")
        with np.errstate(all="ignore"):
            frac = np.where(denom > 0, short / denom, np.nan)
        notes.append(f"short interest = shares_short / {base}")
    if dtc_v is None and short is not None and volume is not None:
        adv = volume.rolling(20, min_periods=10).mean()
        pos = dates.searchsorted(pd.DatetimeIndex(settle), side="right") - 1
        vals = np.full(n, np.nan)
        tcode = tickers.get_indexer(pd.Index(tick))
        ok = (pos >= 0) & (tcode >= 0)
        a = adv.reindex(columns=tickers).to_numpy()
        with np.errstate(all="ignore"):
            vals[ok] = short[ok] / a[pos[ok], tcode[ok]]
        vals[~np.isfinite(vals)] = np.nan
        dtc_v = vals
        notes.append("days to cover = shares_short / 20-day average volume at the settlement date")
    pos = dates.searchsorted(pd.DatetimeIndex(known), side="left")
    tcode = tickers.get_indexer(pd.Index(tick))
    use = (pos < len(dates)) & (tcode >= 0)
    order = np.lexsort((settle[use], pos[use]))  # by market date, then settlement date
    rows = np.flatnonzero(use)[order]
    nd, nt = len(dates), len(tickers)
    rid = np.full((nd, nt), -1, dtype=np.int64)
    rid[pos[rows], tcode[rows]] = rows  # the latest settlement wins on a shared publication date
    rid = pd.DataFrame(np.where(rid >= 0, rid, np.nan)).ffill().to_numpy()
    have = ~np.isnan(rid)
    idx = np.where(have, rid, 0).astype(np.int64)

    def frame(v: np.ndarray) -> pd.DataFrame:
        arr = np.where(have, v[idx] if len(v) else np.nan, np.nan)
        return pd.DataFrame(arr.astype(np.float64), index=dates, columns=tickers)

    si = frame(frac)
    dtc = frame(dtc_v) if dtc_v is not None else None
    notes.insert(0, f"short interest is point-in-time: each twice-monthly value is used from "
                    f"{lag_note}, then carried forward")
    if dtc is None:
        notes.append("days to cover unavailable: the short-interest file has no days_to_cover and "
                     "there is no volume")
    return si, dtc, notes
