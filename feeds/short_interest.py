"""Short interest as it is published, made point-in-time: FINRA's files or the project's CSV.

Accepted inputs (one file, or a folder of them read together):

* FINRA's consolidated short-interest files as downloaded: pipe-delimited text with a header
  naming at least ``settlementDate``, ``symbolCode`` and ``currentShortPositionQuantity``;
  ``averageDailyVolumeQuantity``, ``daysToCoverQuantity`` and a ``publicationDate`` are used when
  present; any other column (``issueName``, ``marketClassCode``, ``revisionFlag``, ...) in any
  order is ignored. FINRA gives shares short, never float, so short interest as a fraction of
  float is unknown: crowding is then ranked by days to cover (and the run says so).
* the project's CSV, one row per settlement date and ticker: ``date, ticker, shares_short |
  short_interest[, days_to_cover][, float_shares][, publication_date]`` (``short_interest`` is a
  fraction of float, 0.25 = 25%).

Point in time: a record is used from its ``publication_date`` when the file has one, else from
the ``lag``-th trading session after its settlement date (FINRA disseminates on the 8th business
day after settlement, after the close; the book decides at a close and trades at the next open,
so the default lag of 8 sessions first trades on the data the morning after it is out). Sessions
are the data's own dates, weekdays outside them. A record is carried forward to the next one for
at most ``max_age`` sessions after its settlement date; past that it is stale and dropped, and the
run says so with the last date.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import normalize_index
from .tables import Table, open_text, parse_dates, parse_numbers, read_table

#: Default sessions between a settlement date and the first close that may use its record.
SI_LAG_SESSIONS = 8
#: Default sessions after its settlement date a record may be carried forward (twice-monthly
#: reports plus the lag keep a record at most ~20 sessions old; 30 tolerates one late report).
SI_MAX_AGE_SESSIONS = 30
#: No fraction of float can exceed this; a larger value is a percentage typed by mistake.
MAX_SHORT_FRACTION = 5.0
#: A fraction-of-float column where more than this share of the names exceed 1 (100% of float) is
#: taken for percentages: a real file has at most a few names shorted beyond their float, while in
#: percent most names are above 1 (typical short interest is a few percent of float).
PERCENT_SHARE = 0.25
#: Crowding measures, in order of preference.
MEASURES = ("short_interest", "days_to_cover")
#: Human names of the measures.
MEASURE_LABELS = {"short_interest": "short interest % of float", "days_to_cover": "days to cover"}

#: FINRA's column names -> canonical names (any other FINRA column is ignored).
FINRA_COLUMNS = {
    "settlementdate": "date", "symbolcode": "ticker",
    "currentshortpositionquantity": "shares_short",
    "averagedailyvolumequantity": "avg_volume", "daystocoverquantity": "days_to_cover",
    "publicationdate": "publication_date", "disseminationdate": "publication_date",
}
#: The project CSV's accepted spellings -> canonical names.
CSV_COLUMNS = {
    "date": "date", "settlement_date": "date", "settlement": "date",
    "ticker": "ticker", "symbol": "ticker",
    "shares_short": "shares_short", "short_shares": "shares_short",
    "short_interest_shares": "shares_short",
    "short_interest": "short_interest", "short_percent_of_float": "short_interest", "si": "short_interest",
    "days_to_cover": "days_to_cover", "dtc": "days_to_cover", "short_ratio": "days_to_cover",
    "float_shares": "float_shares", "float": "float_shares",
    "avg_volume": "avg_volume", "average_daily_volume": "avg_volume",
    "publication_date": "publication_date", "published": "publication_date",
    "publication": "publication_date",
}
#: Columns of :attr:`ShortInterestRecords.frame`.
RECORD_COLUMNS = ("ticker", "settlement", "published", "shares_short", "short_interest",
                  "days_to_cover", "float_shares", "avg_volume", "source", "line")
#: File names read from a folder (FINRA publishes ``.txt``/``.csv``; either may be gzipped).
FOLDER_SUFFIXES = (".txt", ".csv", ".psv", ".txt.gz", ".csv.gz", ".psv.gz")


def _fail(message: str) -> SqueezeLabError:
    return SqueezeLabError(message)


@lru_cache(maxsize=1 << 16)
def ticker_key(symbol: str) -> str:
    """Symbols compared across sources: upper case, ``.``/``/``/space as ``-`` (BRK.B = BRK-B)."""
    s = str(symbol).strip().upper()
    for ch in "./ ":
        s = s.replace(ch, "-")
    return s


def ticker_keys(symbols: Any) -> np.ndarray:
    """:func:`ticker_key` of many symbols (computed once per distinct symbol)."""
    codes, uniq = pd.factorize(np.asarray(symbols, dtype=object), use_na_sentinel=False)
    return np.array([ticker_key(u) for u in uniq], dtype=object)[codes]


# =============================================================================== records
@dataclass(frozen=True)
class ShortInterestRecords:
    """Short-interest records as published, one per settlement date and ticker, with their format."""

    frame: pd.DataFrame      # RECORD_COLUMNS; settlement/published datetime64, published NaT = lag rule
    format: str              # "finra" | "csv" | "finra+csv"
    files: tuple[str, ...]
    path: str                # the file or folder given


def _delimiter(path: Path) -> str:
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return "|" if line.count("|") > line.count(",") else ","
    except (OSError, UnicodeDecodeError, EOFError):
        pass  # read_table names the problem
    return ","


_BLANK_LINE = re.compile(r"^[ \t]*\r?$", re.MULTILINE)


def _fast_table(path: Path, delim: str) -> Table | None:
    """pandas' C reader for a well-formed file, else None (then :func:`read_table` names the line).

    Well-formed: UTF-8 text, no blank line, no quote, every line with the header's field count
    (FINRA's files are; a year of them is half a million rows, too many for a row-by-row reader).
    """
    try:
        with open_text(path) as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError, EOFError, zlib.error):
        return None
    text = text.rstrip("\r\n")
    lines = text.splitlines()
    if not lines or '"' in text or _BLANK_LINE.search(text):
        return None
    header = [h.strip() for h in lines[0].split(delim)]
    width = len(header)
    if any(not h for h in header) or len({h.lower() for h in header}) < width or \
            text.count(delim) != len(lines) * (width - 1):
        return None
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=object, na_filter=False, engine="c",
                         quoting=csv.QUOTE_NONE, header=0, names=header)
    except (ValueError, pd.errors.ParserError):
        return None
    if len(df) != len(lines) - 1:
        return None
    return Table(str(path), header, df.to_numpy(dtype=object),
                 np.arange(2, len(lines) + 1, dtype=np.int64), 1)


def _files(path: str | Path) -> list[Path]:
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir()
                       if f.is_file() and f.name.lower().endswith(FOLDER_SUFFIXES)
                       and not f.name.startswith("."))
        if not files:
            raise _fail(f"{p}: no short-interest files in the folder: put FINRA's pipe-delimited "
                        f"files or short_interest CSVs in it ({', '.join(FOLDER_SUFFIXES[:3])})")
        return files
    if not p.is_file():
        raise _fail(f"{p}: no such file or folder: check data.short_interest")
    return [p]


def _numbers(t: Table, cells: np.ndarray, name: str, tick: np.ndarray, lo: float = 0.0,
             what: str = "a number >= 0") -> np.ndarray:
    v, bad = parse_numbers(cells)
    if bad is not None:  # thousands separators (1,234,567) are read, anything else is refused
        text = np.array([str(c).strip().replace(",", "") for c in cells], dtype=object)
        v, bad = parse_numbers(text)
    if bad is not None:
        raise _fail(f"{t.loc(bad)}: {name} {str(cells[bad]).strip()!r} for {tick[bad]} is not a "
                    "number: correct the value or remove the row")
    with np.errstate(invalid="ignore"):
        out = ~np.isnan(v) & ~(np.isfinite(v) & (v >= lo))
    if out.any():
        r = int(np.argmax(out))
        raise _fail(f"{t.loc(r)}: {name} {str(cells[r]).strip()!r} for {tick[r]} must be {what}")
    return v


def _dates(t: Table, cells: np.ndarray, name: str) -> np.ndarray:
    codes, uniq = pd.factorize(np.asarray(cells, dtype=object), use_na_sentinel=False)
    text = np.array([str(c).strip() for c in uniq], dtype=object)
    compact = np.array([len(s) == 8 and s.isdigit() for s in text], dtype=bool)  # 20250115
    text[compact] = [f"{s[:4]}-{s[4:6]}-{s[6:]}" for s in text[compact]]
    out, bad = parse_dates(text[codes])
    if bad is not None:
        raise _fail(f"{t.loc(bad)}: {name} {str(cells[bad]).strip()!r} is not a date: write "
                    "YYYY-MM-DD (FINRA's files use 2025-01-15 or 20250115)")
    return out


def check_fraction_of_float(values: np.ndarray, loc: Any, tickers: Sequence[Any],
                            name: str = "short_interest") -> None:
    """Refuse a fraction-of-float column that holds percentages (25 for 25%), naming a row.

    ``loc(i)`` locates row ``i`` (``file:line``), ``tickers[i]`` is its ticker. Percentages are
    recognized by a value above :data:`MAX_SHORT_FRACTION` or by more than :data:`PERCENT_SHARE`
    of the names above 1 (a real file has at most a few names shorted beyond their float).
    """
    v = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore"):
        neg = v < 0
        above = v > 1.0
        positive = v > 0
    if neg.any():
        r = int(np.argmax(neg))
        raise _fail(f"{loc(r)}: {name} {v[r]:g} for {tickers[r]} is negative: give a fraction of "
                    "float >= 0 (0.25 = 25%)")
    if not above.any():
        return
    tick = np.asarray(tickers, dtype=object)
    n_above = len(pd.unique(tick[above]))
    n_pos = len(pd.unique(tick[positive]))
    if np.nanmax(v) > MAX_SHORT_FRACTION or n_above > PERCENT_SHARE * n_pos:
        r = int(np.argmax(above))
        raise _fail(f"{loc(r)}: {name} {v[r]:g} for {tickers[r]} looks like a percentage "
                    f"({n_above} of {n_pos} names above 1): give a fraction of float "
                    "(0.25 = 25%), i.e. divide the column by 100")


def _read_one(path: Path, lag: int) -> tuple[pd.DataFrame, str]:
    delim = _delimiter(path)
    t = _fast_table(path, delim) or read_table(path, delimiter=delim)
    raw = [h.strip() for h in t.header]
    finra = bool({h.lower() for h in raw} & {"settlementdate", "symbolcode",
                                              "currentshortpositionquantity"})
    if finra:
        canon = [FINRA_COLUMNS.get(h.lower(), "") for h in raw]
        need = {"date": "settlementDate", "ticker": "symbolCode",
                "shares_short": "currentShortPositionQuantity"}
    else:
        canon = [CSV_COLUMNS.get("_".join(h.lower().split()), "") for h in raw]
        need = {"date": "date (settlement date)", "ticker": "ticker"}
    missing = [v for k, v in need.items() if k not in canon]
    if missing:
        hint = ("a FINRA file needs settlementDate, symbolCode, currentShortPositionQuantity"
                if finra else "give date,ticker,shares_short (or short_interest),days_to_cover, "
                "or FINRA's pipe-delimited file as downloaded")
        raise _fail(f"{t.path}:{t.header_line}: no {missing[0]} column: {hint}")
    if not finra and "short_interest" not in canon and "shares_short" not in canon:
        raise _fail(f"{t.path}:{t.header_line}: no shares_short or short_interest column: give one "
                    "(short_interest as a fraction of float, 0.25 = 25%)")

    def col(name: str) -> np.ndarray | None:
        return t.cells[:, canon.index(name)] if name in canon else None

    n = len(t)
    codes, uniq = pd.factorize(np.asarray(col("ticker"), dtype=object), use_na_sentinel=False)
    tick = np.array([str(v).strip() for v in uniq], dtype=object)[codes]
    if n and (tick == "").any():
        raise _fail(f"{t.loc(int(np.argmax(tick == '')))}: the ticker is empty: give a symbol on "
                    "every row")
    settle = _dates(t, col("date"), "settlement date")
    pub = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if "publication_date" in canon:
        pub = _dates(t, col("publication_date"), "publication date")
        early = pub < settle
        if early.any():
            r = int(np.argmax(early))
            raise _fail(f"{t.loc(r)}: publication date is before the settlement date for "
                        f"{tick[r]}: swap or fix them")
    key = pd.DataFrame({"d": settle, "t": ticker_keys(tick)})
    dup = key.duplicated().to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        raise _fail(f"{t.loc(r)}: a second row for {tick[r]} settled "
                    f"{pd.Timestamp(settle[r]).date()}: give one row per settlement date and ticker")

    def num(name: str, what: str = "a number >= 0") -> np.ndarray:
        cells = col(name)
        if cells is None:
            return np.full(n, np.nan)
        return _numbers(t, cells, raw[canon.index(name)], tick, what=what)

    frac = num("short_interest")
    if "short_interest" in canon:
        check_fraction_of_float(frac, t.loc, tick, raw[canon.index("short_interest")])
    frame = pd.DataFrame({
        "ticker": tick, "settlement": settle, "published": pub,
        "shares_short": num("shares_short", "a number of shares >= 0"),
        "short_interest": frac,
        "days_to_cover": num("days_to_cover", "a number of days >= 0"),
        "float_shares": num("float_shares", "a positive number of shares"),
        "avg_volume": num("avg_volume"),
        "source": pd.Categorical([t.path] * n) if n else pd.Categorical([]),
        "line": t.lines,
    })
    return frame, "finra" if finra else "csv"


def _row(frame: pd.DataFrame, r: int) -> str:
    """``file:line`` of record ``r``."""
    return f"{frame['source'].iloc[r]}:{int(frame['line'].iloc[r])}"


def read_records(path: str | Path, lag: int = SI_LAG_SESSIONS) -> ShortInterestRecords:
    """Every short-interest record of a file or folder (FINRA pipe-delimited or the project CSV).

    A row repeated across files with the same values is kept once; with different values it is an
    error naming both places. Bad rows are one :class:`SqueezeLabError` naming ``file:line``.
    """
    files = _files(path)
    parts, formats = [], set()
    for f in files:
        frame, fmt = _read_one(f, lag)
        parts.append(frame)
        formats.add(fmt)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1 and len(frame):
        key = pd.DataFrame({"d": frame["settlement"], "t": ticker_keys(frame["ticker"])})
        dup = key.duplicated(keep=False).to_numpy()
        if dup.any():
            vals = frame[["shares_short", "short_interest", "days_to_cover"]].fillna(-1.0)
            same = pd.concat([key, vals], axis=1).duplicated().to_numpy()
            clash = dup & ~same & key.duplicated().to_numpy()
            if clash.any():
                r = int(np.argmax(clash))
                first = int(np.flatnonzero((key["d"] == key["d"].iloc[r]).to_numpy()
                                           & (key["t"] == key["t"].iloc[r]).to_numpy())[0])
                raise _fail(f"{_row(frame, r)}: {frame['ticker'].iloc[r]} settled "
                            f"{pd.Timestamp(frame['settlement'].iloc[r]).date()} differs from "
                            f"{_row(frame, first)}: keep one of the two files' rows")
            frame = frame.loc[~key.duplicated().to_numpy()].reset_index(drop=True)
    fmt = formats.pop() if len(formats) == 1 else "finra+csv"
    return ShortInterestRecords(frame, fmt, tuple(str(f) for f in files), str(path))


# =============================================================================== point in time
def session_positions(when: np.ndarray, dates: pd.DatetimeIndex, lag: int) -> np.ndarray:
    """Position in ``dates`` of the ``lag``-th session after each date in ``when`` (0: that day).

    Sessions are ``dates`` inside their range and weekdays outside it, so a settlement before the
    data's first date still counts its sessions. ``len(dates)`` or more = after the data.
    """
    when = np.asarray(when, dtype="datetime64[ns]")
    d = dates.to_numpy().astype("datetime64[ns]")
    if lag == 0:
        return d.searchsorted(when, side="left")
    after = d.searchsorted(when, side="right")          # first session strictly after
    before = when < d[0]
    # weekdays strictly between a pre-data settlement and the first date count as sessions
    gap = np.busday_count(when.astype("datetime64[D]") + 1, d[0].astype("datetime64[D]"))
    return np.where(before, np.maximum(lag - gap - 1, 0), after + lag - 1)


def _settlement_index(settle: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """Session index of each settlement date (the last session on or before it; negative before)."""
    d = dates.to_numpy().astype("datetime64[ns]")
    idx = d.searchsorted(settle, side="right") - 1
    before = settle < d[0]
    gap = np.busday_count(settle.astype("datetime64[D]"), d[0].astype("datetime64[D]"))
    return np.where(before, -np.maximum(gap, 1), idx)


@dataclass(frozen=True)
class ShortInterestInfo:
    """What the short-interest input was and how it was used (typed; reports print it).

    ``measure`` is the crowding measure the data supports (``short_interest`` as a fraction of
    float, else ``days_to_cover``); dates are ISO strings or None.
    """

    path: str
    format: str                       # "finra" | "csv" | "finra+csv" | "wide"
    n_records: int
    measure: str | None
    has_fraction: bool
    has_days_to_cover: bool
    lag_rule: str
    max_age: int | None
    tickers_in_file: int
    tickers_matched: int
    first_settlement: str | None
    last_settlement: str | None
    last_known: str | None            # first session the last settlement is used
    stale_from: str | None            # first session with no fresh record for any name
    future_records: int               # settled after the data's last date (ignored)
    unpublished_records: int          # settled inside the data but published after it
    notes: tuple[str, ...] = field(default_factory=tuple)
    reference_basket: bool = False    # the feed built reference["most_shorted"] from these records

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class ShortInterest:
    """Point-in-time frames (dates x tickers; NaN = unknown or stale) and their description."""

    short_interest: pd.DataFrame | None
    days_to_cover: pd.DataFrame | None
    info: ShortInterestInfo
    notes: tuple[str, ...]


def _fmt(ts: Any) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def point_in_time(
    records: ShortInterestRecords,
    dates: pd.DatetimeIndex,
    tickers: pd.Index,
    lag: int = SI_LAG_SESSIONS,
    max_age: int | None = SI_MAX_AGE_SESSIONS,
    volume: pd.DataFrame | None = None,
) -> ShortInterest:
    """The value of each field known on each date, from records published with a lag.

    Parameters
    ----------
    records : ShortInterestRecords
    dates : pd.DatetimeIndex
        The market's sessions.
    tickers : pd.Index
        The market's tickers (records for other symbols are ignored; ``BRK.B`` matches ``BRK-B``).
    lag : int
        Sessions after settlement before a record without a publication date is used.
    max_age : int or None
        Sessions after its settlement date a record may be carried forward (None: no limit).
    volume : pd.DataFrame, optional
        Daily volume: days to cover = shares short / 20-session average volume at settlement when
        the records have none.

    Returns
    -------
    ShortInterest
        ``short_interest`` (fraction of float; None when the records cannot give it: no float),
        ``days_to_cover`` (None when unknown), the typed info and one note per choice made.
        Records settled after the last date are ignored and counted; if no record can be used on
        any date the input is refused (one line naming the dates).
    """
    _check_lag_age(lag, max_age)
    dates = normalize_index(dates)
    tickers = pd.Index(tickers)
    rec = records.frame
    where = records.path + (f" ({len(records.files)} files)" if len(records.files) > 1 else "")
    if len(rec) == 0:
        raise _fail(f"{where}: no short-interest rows: give at least one record or drop "
                    "data.short_interest")
    settle, has_pub, pos, future, unpublished = _published_at(rec, dates, lag)
    notes = _future_notes(where, settle, future, dates)
    tcode, in_file, matched = _ticker_codes(rec["ticker"], tickers)
    _check_matched(where, rec["ticker"], settle, pos, tcode, in_file, matched, dates)
    frac, dtc, has_frac, has_dtc, measure = _record_values(
        records, dates, tickers, settle, tcode, future, volume, where, notes)
    use = (pos < len(dates)) & (tcode >= 0)
    idx, fresh, stale_cut = _in_force(settle, pos, tcode, use, dates, len(tickers), max_age)
    si = _known_frame(frac, idx, fresh, dates, tickers) if has_frac else None
    dc = _known_frame(dtc, idx, fresh, dates, tickers) if has_dtc else None
    last_settle, last_known = _last_settlement(settle, pos, use & ~future, dates)
    stale_from = _stale_from(fresh, dates)
    lag_rule = _lag_rule(has_pub, lag)
    notes.insert(0, f"short interest is point-in-time: each record is used from {lag_rule}, then "
                    f"carried forward" + (f" for at most {max_age} sessions after settlement"
                                          if max_age is not None else ""))
    notes += _staleness_notes(stale_from, last_settle, stale_cut, max_age, unpublished, dates)
    info = ShortInterestInfo(
        path=where, format=records.format, n_records=len(rec), measure=measure,
        has_fraction=has_frac, has_days_to_cover=has_dtc, lag_rule=lag_rule, max_age=max_age,
        tickers_in_file=in_file, tickers_matched=matched,
        first_settlement=_fmt(settle.min()), last_settlement=_fmt(last_settle),
        last_known=last_known, stale_from=_fmt(stale_from), future_records=int(future.sum()),
        unpublished_records=int(unpublished.sum()), notes=tuple(notes),
    )
    return ShortInterest(si, dc, info, tuple(notes))


def _future_notes(where: str, settle: np.ndarray, future: np.ndarray, dates: pd.DatetimeIndex
                  ) -> list[str]:
    """Refuse records all settled after the data; note (and so ignore) the ones that are."""
    if future.all():
        raise _fail(f"{where}: every short-interest record is dated after the data (settlements "
                    f"{_fmt(settle.min())}..{_fmt(settle.max())}, data {_fmt(dates[0])}.."
                    f"{_fmt(dates[-1])}): give short interest for the run's dates or drop "
                    "data.short_interest")
    if future.any():
        return [f"short interest: {int(future.sum())} record(s) settled after the data's last "
                f"date {_fmt(dates[-1])} (from {_fmt(settle[future].min())}) are ignored"]
    return []


def _check_matched(where: str, symbols: pd.Series, settle: np.ndarray, pos: np.ndarray,
                   tcode: np.ndarray, in_file: int, matched: int, dates: pd.DatetimeIndex) -> None:
    """Refuse records that name none of the market's tickers, or none published in time."""
    if matched == 0:
        raise _fail(f"{where}: none of its {in_file} symbol(s) is a ticker of the data (e.g. "
                    f"{symbols.iloc[0]}): check the symbols (BRK.B matches BRK-B)")
    if not ((pos < len(dates)) & (tcode >= 0)).any():
        raise _fail(f"{where}: no record for the data's tickers is published by its last date "
                    f"{_fmt(dates[-1])} (settlements {_fmt(settle.min())}..{_fmt(settle.max())}): "
                    "give earlier short interest or a later --end")


def _known_frame(values: np.ndarray, idx: np.ndarray, fresh: np.ndarray, dates: pd.DatetimeIndex,
                 tickers: pd.Index) -> pd.DataFrame:
    """Dates x tickers of the record in force where it is fresh (NaN elsewhere: unknown)."""
    arr = np.where(fresh, values[idx], np.nan)
    return pd.DataFrame(arr.astype(np.float64), index=dates, columns=tickers)


def _last_settlement(settle: np.ndarray, pos: np.ndarray, usable: np.ndarray,
                     dates: pd.DatetimeIndex) -> tuple[Any, str | None]:
    """The last usable settlement and the first session it is used (None: past the data)."""
    if not usable.any():
        return None, None
    last_settle = settle[usable].max()
    last_pos = int(pos[usable][settle[usable] == last_settle].min())
    return last_settle, _fmt(dates[last_pos]) if last_pos < len(dates) else None


def _stale_from(fresh: np.ndarray, dates: pd.DatetimeIndex) -> pd.Timestamp | None:
    """The first session after the last one on which any name has a fresh record (None: none)."""
    if not fresh.any():
        return None
    after = np.flatnonzero(fresh.any(axis=1))
    return dates[after[-1] + 1] if after[-1] < len(dates) - 1 else None


def _lag_rule(has_pub: np.ndarray, lag: int) -> str:
    """When a record is first used, in words for the notes and the info."""
    if has_pub.all():
        return "its publication date"
    return f"the {lag}th session after settlement" + (" (publication date where given)"
                                                      if has_pub.any() else "")


def _staleness_notes(stale_from: pd.Timestamp | None, last_settle: Any, stale_cut: np.ndarray,
                     max_age: int | None, unpublished: np.ndarray, dates: pd.DatetimeIndex
                     ) -> list[str]:
    """What the run should know about records that went stale or are published too late."""
    notes = []
    if stale_from is not None:
        notes.append(f"short interest is stale from {_fmt(stale_from)}: the last settlement is "
                     f"{_fmt(last_settle)} and records older than {max_age} sessions are not "
                     "carried forward (data.short_interest_max_age); from then on no name has it")
    cut_names = int((stale_cut.any(axis=0)).sum())
    if cut_names and stale_from is None:
        notes.append(f"short interest went stale for {cut_names} name(s) during the run (no record "
                     f"within {max_age} sessions): left unknown there, not carried forward")
    if int(unpublished.sum()):
        notes.append(f"short interest: {int(unpublished.sum())} record(s) settled by "
                     f"{_fmt(dates[-1])} are published after the data ends and are not used")
    return notes


def _check_lag_age(lag: Any, max_age: Any) -> None:
    """The publication lag and the carry-forward limit as whole numbers of sessions."""
    if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag < 0:
        raise _fail(f"short-interest lag {lag!r} is not a whole number of sessions >= 0: e.g. "
                    f"data.short_interest_lag = {SI_LAG_SESSIONS}")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, (int, np.integer))
                                or max_age < 1):
        raise _fail(f"short-interest max age {max_age!r} is not a whole number of sessions >= 1: "
                    f"e.g. data.short_interest_max_age = {SI_MAX_AGE_SESSIONS}")


def _published_at(rec: pd.DataFrame, dates: pd.DatetimeIndex, lag: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each record's settlement, whether it has a publication date, the session it is first
    known (publication date, else ``lag`` sessions after settlement), whether it settled after
    the data and whether it is published only after the data ends."""
    settle = rec["settlement"].to_numpy().astype("datetime64[ns]")
    published = rec["published"].to_numpy().astype("datetime64[ns]")
    has_pub = ~np.isnat(published)
    pos = session_positions(settle, dates, int(lag))
    if has_pub.any():
        pos = np.where(has_pub, dates.to_numpy().searchsorted(published, side="left"), pos)
    pos = np.maximum(pos, 0)
    last = dates[-1].to_datetime64()
    future = settle > last
    unpublished = ~future & (pos >= len(dates))
    return settle, has_pub, pos, future, unpublished


def _ticker_codes(symbols: pd.Series, tickers: pd.Index) -> tuple[np.ndarray, int, int]:
    """Each record's column in the market (-1: not a market ticker; ``BRK.B`` matches
    ``BRK-B``), the symbols in the file and how many match."""
    rkeys = ticker_keys(symbols)
    mkeys = pd.Index(ticker_keys(tickers))
    if mkeys.is_unique:
        tcode = mkeys.get_indexer(rkeys).astype(np.int64)
    else:  # two market tickers with one key (BRK.B and BRK-B): the first wins
        first = {k: j for j, k in reversed(list(enumerate(mkeys)))}
        tcode = np.array([first.get(k, -1) for k in rkeys], dtype=np.int64)
    in_file = int(pd.unique(rkeys).size)
    matched = int(len(set(tcode[tcode >= 0].tolist())))
    return tcode, in_file, matched


def _record_values(records: ShortInterestRecords, dates: pd.DatetimeIndex, tickers: pd.Index,
                   settle: np.ndarray, tcode: np.ndarray, future: np.ndarray,
                   volume: pd.DataFrame | None, where: str, notes: list[str]
                   ) -> tuple[np.ndarray, np.ndarray, bool, bool, str]:
    """Per record: % of float (from shares short / float where not given) and days to cover
    (from volume where not given), which of them exist, and the crowding measure they allow."""
    rec = records.frame
    frac = rec["short_interest"].to_numpy(np.float64).copy()
    shares = rec["shares_short"].to_numpy(np.float64)
    flt = rec["float_shares"].to_numpy(np.float64)
    need = np.isnan(frac) & np.isfinite(shares) & np.isfinite(flt) & (flt > 0)
    frac[need] = shares[need] / flt[need]
    has_frac = bool(np.isfinite(frac).any())
    if need.any():
        notes.append("short interest % of float = shares short / float_shares")
    dtc = rec["days_to_cover"].to_numpy(np.float64).copy()
    if np.isnan(dtc).all() and np.isfinite(shares).any() and volume is not None:
        adv = volume.reindex(index=dates, columns=tickers).rolling(20, min_periods=10).mean().to_numpy()
        at = dates.to_numpy().searchsorted(settle, side="right") - 1
        ok = (at >= 0) & (tcode >= 0) & ~future
        with np.errstate(all="ignore"):
            dtc[ok] = shares[ok] / adv[at[ok], tcode[ok]]
        dtc[~np.isfinite(dtc)] = np.nan
        if np.isfinite(dtc).any():
            notes.append("days to cover = shares short / 20-session average volume at settlement")
    has_dtc = bool(np.isfinite(dtc).any())
    if not has_frac and not has_dtc:
        raise _fail(f"{where}: gives shares short but no float_shares, no days to cover and no "
                    "volume to compute it: add a float_shares or days_to_cover column (FINRA's "
                    "daysToCoverQuantity), or give prices with volume")
    if has_frac:
        check_fraction_of_float(frac, lambda r: _row(rec, r), rec["ticker"].to_numpy(),
                                "short interest (shares short / float_shares)")
    measure = "short_interest" if has_frac else "days_to_cover"
    if not has_frac:
        why = ("FINRA files give shares short, not float" if records.format.startswith("finra")
               else "the file gives no float_shares")
        notes.append(f"short interest as % of float unknown ({why}; add a float_shares column to "
                     "rank by it): crowding is ranked by days to cover")
    return frac, dtc, has_frac, has_dtc, measure


def _in_force(settle: np.ndarray, pos: np.ndarray, tcode: np.ndarray, use: np.ndarray,
              dates: pd.DatetimeIndex, nt: int, max_age: int | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The record in force on each (date, ticker): the latest settlement published so far; where
    it is fresh (within ``max_age`` sessions of settlement) and where it went stale."""
    nd, n = len(dates), len(settle)
    by_settle = np.argsort(settle, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_settle] = np.arange(n)
    grid = np.full((nd, nt), -1, dtype=np.int64)
    np.maximum.at(grid, (pos[use], tcode[use]), rank[use])
    grid = np.maximum.accumulate(grid, axis=0)
    have = grid >= 0
    idx = np.where(have, by_settle[np.maximum(grid, 0)], 0)
    sidx = _settlement_index(settle, dates)
    age = np.arange(nd)[:, None] - sidx[idx]
    fresh = have & (age <= max_age) if max_age is not None else have
    stale_cut = have & ~fresh
    return idx, fresh, stale_cut


def _is_wide(path: Path) -> bool:
    """The point-in-time wide form: ``date`` then one column per ticker, no ticker column."""
    if not path.is_file() or _delimiter(path) != ",":
        return False
    t = read_table(path)
    canon = {CSV_COLUMNS.get("_".join(h.strip().lower().split()), "") for h in t.header}
    return bool(t.header) and t.header[0].strip().lower() == "date" and "ticker" not in canon


def read_wide(path: str | Path, dates: pd.DatetimeIndex, tickers: pd.Index, what: str
              ) -> pd.DataFrame:
    """A point-in-time wide file (``date`` + one column per ticker, values known on that date).

    What :func:`feeds.export.export_market` writes: on each market date the latest row on or
    before it is used, with no lag added.
    """
    t = read_table(path)
    if not t.header or t.header[0].strip().lower() != "date":
        raise _fail(f"{t.path}:{t.header_line}: the first column must be 'date', then one column "
                    "per ticker (or give the public form date,ticker,shares_short,...)")
    names = [h.strip() for h in t.header[1:]]
    d = pd.DatetimeIndex(_dates(t, t.cells[:, 0], "date"))
    if d.has_duplicates:
        r = int(np.argmax(d.duplicated()))
        raise _fail(f"{t.loc(r)}: date {d[r].date()} appears twice: remove one of the rows")
    data = {name: _numbers(t, t.cells[:, k + 1], what, np.array([name] * len(t), dtype=object))
            for k, name in enumerate(names)}
    if what == "short_interest" and names:  # one verdict for the whole file, not per column
        flat = np.column_stack([data[name] for name in names]).ravel()
        check_fraction_of_float(flat, lambda r: t.loc(r // len(names)),
                                np.tile(np.array(names, dtype=object), len(t)))
    frame = pd.DataFrame(data, index=normalize_index(d), columns=pd.Index(names)).sort_index()
    out = frame.reindex(dates, method="ffill") if len(frame) else frame.reindex(dates)
    out = out.reindex(columns=tickers).astype(np.float64)
    out.index = dates
    out.columns = tickers
    return out


def short_interest_history(
    path: str | Path | None,
    dates: pd.DatetimeIndex,
    tickers: pd.Index,
    lag: int = SI_LAG_SESSIONS,
    max_age: int | None = SI_MAX_AGE_SESSIONS,
    days_to_cover_path: str | Path | None = None,
    volume: pd.DataFrame | None = None,
) -> ShortInterest:
    """The feeds' one call: published records (FINRA or CSV, file or folder) or wide files.

    ``path`` holds the records (or the point-in-time wide ``short_interest`` form);
    ``days_to_cover_path`` a wide days-to-cover file (as exported). See :func:`point_in_time`.
    """
    dates = normalize_index(dates)
    tickers = pd.Index(tickers)
    if path is not None and not _is_wide(Path(path).expanduser()):
        out = point_in_time(read_records(path, lag), dates, tickers, lag=lag, max_age=max_age,
                            volume=volume)
        if days_to_cover_path is None:
            return out
        dtc = read_wide(days_to_cover_path, dates, tickers, "days_to_cover")
        note = f"days to cover read point-in-time from {days_to_cover_path} (no lag added)"
        return ShortInterest(out.short_interest, dtc, out.info, (*out.notes, note))
    si = read_wide(path, dates, tickers, "short_interest") if path is not None else None
    dtc = (read_wide(days_to_cover_path, dates, tickers, "days_to_cover")
           if days_to_cover_path is not None else None)
    notes = [f"{name} read point-in-time from {p} (no publication lag added)"
             for name, p in (("short interest", path), ("days to cover", days_to_cover_path))
             if p is not None]
    present = measures_present(si, dtc)
    info = ShortInterestInfo(
        path=str(path if path is not None else days_to_cover_path), format="wide",
        n_records=0, measure=present[0] if present else None,
        has_fraction="short_interest" in present, has_days_to_cover="days_to_cover" in present,
        lag_rule="values already point-in-time (no lag added)", max_age=None,
        tickers_in_file=0, tickers_matched=0, first_settlement=None, last_settlement=None,
        last_known=None, stale_from=None, future_records=0, unpublished_records=0,
        notes=tuple(notes))
    return ShortInterest(si, dtc, info, tuple(notes))


def market_short_interest(
    path: str | Path | None,
    days_to_cover_path: str | Path | None,
    dates: pd.DatetimeIndex,
    tickers: pd.Index,
    lag: int,
    max_age: int | None,
    volume: pd.DataFrame | None,
    notes: list[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, ShortInterestInfo | None]:
    """A feed's short interest, days to cover and info (notes appended); Nones without a file.

    Volume with no finite value is passed as none: days to cover cannot be derived from it.
    """
    if path is None and days_to_cover_path is None:
        return None, None, None
    usable = volume if volume is not None and np.isfinite(volume.to_numpy()).any() else None
    hist = short_interest_history(path, dates, tickers, lag=lag, max_age=max_age,
                                  days_to_cover_path=days_to_cover_path, volume=usable)
    notes.extend(hist.notes)
    return hist.short_interest, hist.days_to_cover, hist.info


def check_known_in_range(info: ShortInterestInfo, frames: Sequence[pd.DataFrame | None],
                         dates: pd.DatetimeIndex) -> None:
    """Refuse a run whose dates (after ``--start``/``--end``) see none of the short interest given.

    Without this, a file dated after the run would leave every crowding measure empty and the run
    would quietly fall back to price proxies.
    """
    if any(f is not None and np.isfinite(f.to_numpy(np.float64)).any() for f in frames):
        return
    first, last = _fmt(dates[0]), _fmt(dates[-1])
    when = ("dated after the run" if info.first_settlement and info.first_settlement > last
            else "not known inside the run")
    raise _fail(f"{info.path}: short interest is {when} (settlements {info.first_settlement}.."
                f"{info.last_settlement}; run {first}..{last}): give short interest for the run's "
                "dates, move --start/--end, or drop data.short_interest")


# =============================================================================== coverage
@dataclass(frozen=True)
class Coverage:
    """How many names have crowding data, on the run's dates (typed; reports print it)."""

    measure: str | None        # "short_interest" | "days_to_cover" | None
    point_in_time: bool
    covered: int               # names with a value on at least one date
    n_names: int
    covered_last: int          # names with a value on the last date

    @property
    def text(self) -> str:
        """``short interest for 6 of 252 names (days to cover; 4 on the last date)``."""
        if self.measure is None:
            return f"no short interest for any of {self.n_names} names"
        label = MEASURE_LABELS[self.measure]
        tail = "" if self.covered_last == self.covered else f"; {self.covered_last} on the last date"
        pit = "point-in-time" if self.point_in_time else "static, not point-in-time"
        return f"short interest for {self.covered} of {self.n_names} names ({label}, {pit}{tail})"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["text"] = self.text
        return out


def coverage(frame: pd.DataFrame | None, measure: str | None, point_in_time: bool,
             n_names: int) -> Coverage:
    """Coverage of a crowding frame (dates x tickers, NaN = unknown)."""
    if frame is None or measure is None:
        return Coverage(None, False, 0, n_names, 0)
    ok = np.isfinite(frame.to_numpy(np.float64))
    return Coverage(measure, point_in_time, int(ok.any(axis=0).sum()), n_names,
                    int(ok[-1].sum()) if len(ok) else 0)


def measures_present(si: pd.DataFrame | None, dtc: pd.DataFrame | None) -> Sequence[str]:
    """The crowding measures with at least one known value, in order of preference."""
    out = []
    for name, f in (("short_interest", si), ("days_to_cover", dtc)):
        if f is not None and np.isfinite(f.to_numpy(np.float64)).any():
            out.append(name)
    return out
