"""The user's own price files as a :class:`~feeds.market.Market`: long, per-ticker or wide CSVs.

Accepted layouts (every file may be gzip-compressed as ``.csv.gz``):

* **long**, one file: ``date,ticker,open,high,low,close,volume[,adj_close]`` (a folder holding
  ``prices.csv`` is read the same way; that is what :func:`feeds.export.export_market` writes);
* **one file per ticker** in a folder: ``AAPL.csv`` with ``date,open,high,low,close,volume[,adj_close]``;
* **wide**, a folder with ``close.csv`` (a ``date`` column, then one column per ticker) and
  optionally ``open.csv``, ``high.csv``, ``low.csv``, ``volume.csv``, ``adj_close.csv``;
* **close-only** (long ``date,ticker,close`` or ``close.csv`` alone): open=high=low=close and the
  market's ``fill_model`` is ``"next_close"``.

Next to the prices a folder may hold ``attributes.csv``, ``short_interest.csv`` (twice-monthly
public form, or the point-in-time wide form with ``days_to_cover.csv``), ``reference.csv`` and
``factors.csv`` (date + one column per series, daily simple returns) and ``manifest.json``.

Every problem is reported as one :class:`~feeds.errors.SqueezeLabError` naming ``file:line`` and
the fix; the only silent-looking repair, forward-filling a missing bar, is opt-in
(``ffill_limit``) and recorded in ``Market.notes``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import Market, normalize_index

#: Price fields a file may give, with ``adj_close`` last (it only rescales the others).
PRICE_FIELDS = ("open", "high", "low", "close", "volume", "adj_close")
#: Lower-case file stems with a meaning of their own in a data folder (never read as tickers).
RESERVED_STEMS = frozenset({
    "prices", "open", "high", "low", "close", "volume", "adj_close", "attributes",
    "short_interest", "days_to_cover", "reference", "factors", "manifest", "readme",
})
#: Default largest number of calendar days between two consecutive dates of the data.
MAX_GAP_DAYS = 7
#: Column-name spellings accepted for the canonical names.
ALIASES = {
    "adj close": "adj_close", "adjclose": "adj_close", "adj_close": "adj_close",
    "adjusted_close": "adj_close", "adjusted close": "adj_close",
    "symbol": "ticker", "ticker": "ticker",
}
_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_MIN_DATE, _MAX_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01")


def _fail(message: str) -> SqueezeLabError:
    return SqueezeLabError(message)


def _canon(name: str) -> str:
    key = " ".join(str(name).strip().lower().split())
    return ALIASES.get(key, key.replace(" ", "_"))


def _is_csv(p: Path) -> bool:
    return p.is_file() and (p.name.lower().endswith(".csv") or p.name.lower().endswith(".csv.gz"))


def csv_stem(p: Path) -> str:
    """The file name without ``.csv`` / ``.csv.gz``."""
    name = p.name
    for suffix in (".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


# =============================================================================== reading tables
@dataclass
class Table:
    """A CSV file read as text: header, cells (rows x columns, str) and the line of every row."""

    path: str
    header: list[str]
    cells: np.ndarray
    lines: np.ndarray
    header_line: int = 1

    @property
    def canon(self) -> list[str]:
        return [_canon(h) for h in self.header]

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    def has(self, name: str) -> bool:
        return name in self.canon

    def col(self, name: str) -> np.ndarray:
        """The raw string cells of the column whose canonical name is ``name``."""
        return self.cells[:, self.canon.index(name)]

    def loc(self, row: int) -> str:
        return f"{self.path}:{int(self.lines[row])}"


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by the caller


def read_table(path: str | Path, delimiter: str = ",") -> Table:
    """Read a (possibly gzipped) CSV as strings, keeping line numbers; blank lines are skipped.

    ``delimiter`` is ``","`` for CSV; FINRA's short-interest files use ``"|"``.

    Raises SqueezeLabError naming ``file:line`` for unreadable files, undecodable text, rows with
    the wrong number of fields, and empty or repeated column names.
    """
    p = Path(path)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 1
    line = 0
    try:
        with _open_text(p) as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            for rec in reader:
                line = reader.line_num
                if not rec or (not rec[0].strip() and all(not f.strip() for f in rec)):
                    continue
                if header is None:
                    header = [f.strip() for f in rec]
                    header_line = line
                    _check_header(p, line, header)
                    continue
                if len(rec) != len(header):
                    sep = "comma" if delimiter == "," else repr(delimiter)
                    raise _fail(
                        f"{p}:{line}: expected {len(header)} fields ({delimiter.join(header)}), "
                        f"found {len(rec)}: fix the row (a stray or missing {sep}?)"
                    )
                rows.append(rec)
                lines.append(line)
    except UnicodeDecodeError as err:
        raise _fail(f"{p}:{line + 1}: not UTF-8 text: save the file as UTF-8 CSV") from err
    except csv.Error as err:
        raise _fail(f"{p}:{line + 1}: unreadable CSV row ({err}): fix the row") from err
    except (OSError, EOFError, zlib.error) as err:
        what = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise _fail(f"{p}: cannot be read ({what}): check the path and that .gz files are gzip") from err
    if header is None:
        raise _fail(f"{p}: the file is empty: give a header row (e.g. date,ticker,close) and data")
    cells = np.empty((len(rows), len(header)), dtype=object)
    if rows:
        cells[:] = rows
    return Table(str(p), header, cells, np.asarray(lines, dtype=np.int64), header_line)


def _check_header(p: Path, line: int, header: list[str]) -> None:
    seen: dict[str, str] = {}
    for h in header:
        if not h:
            raise _fail(f"{p}:{line}: a column has no name: name every column in the header row")
        c = _canon(h)
        if c in seen:
            raise _fail(f"{p}:{line}: column {h!r} appears twice: keep one")
        seen[c] = h


def parse_numbers(values: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Floats from string cells (empty -> NaN); also the index of the first unparseable cell or None."""
    vals = np.array(values, dtype=object)  # a copy: empty cells are rewritten below
    vals[vals == ""] = "nan"
    try:  # float() accepts surrounding blanks; anything else falls through to the slow path
        return vals.astype(np.float64), None
    except (ValueError, OverflowError, TypeError):
        out = np.full(len(vals), np.nan)
        for i, v in enumerate(vals):
            text = str(v).strip()
            if text == "":
                continue
            try:
                out[i] = float(text)
            except (ValueError, OverflowError):
                return out, i
        return out, None


def parse_dates(values: np.ndarray) -> tuple[np.ndarray, int | None]:
    """datetime64[ns] (midnight) from ``YYYY-MM-DD`` cells; also the first unparseable index or None."""
    codes, raw = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    uniq = np.array([str(u).strip() for u in raw], dtype=object)
    inverse = codes
    ok = np.array([bool(_DATE_RE.match(u)) for u in uniq], dtype=bool)
    parsed = np.full(len(uniq), np.datetime64("NaT"), dtype="datetime64[ns]")
    if ok.any():
        ts = pd.to_datetime(pd.Index(uniq[ok], dtype=object), format="ISO8601", errors="coerce")
        ts = pd.DatetimeIndex(ts)
        inside = (ts >= _MIN_DATE) & (ts <= _MAX_DATE)
        ts = ts.where(inside, pd.NaT)
        parsed[ok] = ts.normalize().astype("datetime64[ns]").to_numpy()
    out = parsed[inverse]
    bad = np.isnat(out)
    return out, (int(np.argmax(bad)) if bad.any() else None)


def _dates_or_fail(loc: Callable[[int], str], values: np.ndarray) -> np.ndarray:
    out, bad = parse_dates(values)
    if bad is not None:
        raise _fail(f"{loc(bad)}: date {str(values[bad]).strip()!r} is not a date: "
                    "write YYYY-MM-DD (between 1900 and 2200)")
    return out


def _numbers_or_fail(loc: Callable[[int], str], name: str, values: np.ndarray) -> np.ndarray:
    out, bad = parse_numbers(values)
    if bad is not None:
        raise _fail(f"{loc(bad)}: {name} {str(values[bad]).strip()!r} is not a number: "
                    "correct the value or remove the row")
    return out


# =============================================================================== panels
@dataclass
class _Panel:
    """Fields as (dates x tickers) float arrays before validation, with a locator for messages."""

    dates: pd.DatetimeIndex
    tickers: list[str]
    values: dict[str, np.ndarray]
    present: np.ndarray
    where: Callable[[str, int, int], str]
    source: str
    wide: bool


def _long_tables(tables: Sequence[tuple[Table, str | None]]) -> _Panel:
    """Stack long tables (file, ticker given by the file name or None) into a panel."""
    first = tables[0][0]
    fields = [c for c in first.canon if c in PRICE_FIELDS]
    for t, fixed in tables:
        unknown = [h for h, c in zip(t.header, t.canon, strict=True)
                   if c not in PRICE_FIELDS and c not in ("date", "ticker")]
        if unknown:
            raise _fail(f"{t.path}:{t.header_line}: unknown column "
                        f"{unknown[0]!r}: use date,ticker,open,high,low,close,volume[,adj_close]")
        if not t.has("date"):
            raise _fail(f"{t.path}:{t.header_line}: no 'date' column: the header needs date"
                        f"{'' if fixed else ',ticker'},close (and optionally open,high,low,volume)")
        if fixed is None and not t.has("ticker"):
            raise _fail(f"{t.path}:{t.header_line}: no 'ticker' column: a single price file needs "
                        "date,ticker,close,... (or put one file per ticker in a folder)")
        if not t.has("close"):
            raise _fail(f"{t.path}:{t.header_line}: no 'close' column: every price file needs a close")
        if sorted(c for c in t.canon if c in PRICE_FIELDS) != sorted(fields):
            raise _fail(f"{t.path}:{t.header_line}: columns differ from {first.path} "
                        f"({','.join(first.header)}): give every file the same columns")
    files = [t.path for t, _ in tables]
    file_idx = np.concatenate([np.full(len(t), k, dtype=np.int64) for k, (t, _) in enumerate(tables)])
    line_no = np.concatenate([t.lines for t, _ in tables])
    n = len(file_idx)
    if n == 0:
        raise _fail(f"{first.path}: no data rows: the file has only a header")

    def loc_row(r: int) -> str:
        return f"{files[int(file_idx[r])]}:{int(line_no[r])}"

    def stacked(name: str) -> np.ndarray:
        parts = []
        for t, fixed in tables:
            if name == "ticker" and fixed is not None and not t.has("ticker"):
                parts.append(np.full(len(t), fixed, dtype=object))
            else:
                parts.append(t.col(name))
        return np.concatenate(parts) if parts else np.empty(0, dtype=object)

    tick = np.array([str(v).strip() for v in stacked("ticker")], dtype=object)
    for k, (t, fixed) in enumerate(tables):
        if fixed is not None and t.has("ticker"):
            sel = np.flatnonzero(file_idx == k)
            wrong = sel[tick[sel] != fixed]
            if len(wrong):
                raise _fail(f"{loc_row(int(wrong[0]))}: ticker {tick[wrong[0]]!r} in the file of "
                            f"{fixed}: one ticker per file, named like the file")
    empty = np.flatnonzero(tick == "")
    if len(empty):
        raise _fail(f"{loc_row(int(empty[0]))}: the ticker is empty: give a ticker on every row")
    dates = _dates_or_fail(loc_row, stacked("date"))
    key = pd.DataFrame({"d": dates, "t": tick})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        later = np.flatnonzero(key.duplicated(keep="first").to_numpy())[0]
        same = np.flatnonzero(dup & (dates == dates[later]) & (tick == tick[later]))
        raise _fail(f"{loc_row(int(later))}: duplicate row for {tick[later]} on "
                    f"{pd.Timestamp(dates[later]).date()} (first at {loc_row(int(same[0]))}): "
                    "remove one of them")
    udates = pd.DatetimeIndex(np.unique(dates))
    tickers = list(pd.unique(tick))
    tcode = pd.Index(tickers).get_indexer(tick)
    dcode = udates.get_indexer(pd.DatetimeIndex(dates))
    nd, nt = len(udates), len(tickers)
    row_of = np.full((nd, nt), -1, dtype=np.int64)
    row_of[dcode, tcode] = np.arange(n)
    values: dict[str, np.ndarray] = {}
    for f in fields:
        v = _numbers_or_fail(loc_row, f, stacked(f))
        arr = np.full((nd, nt), np.nan)
        arr[dcode, tcode] = v
        values[f] = arr
    present = row_of >= 0

    def where(_field: str, i: int, j: int) -> str:
        col = row_of[:, j]
        r = col[i]
        if r < 0:  # a missing bar: point at the next row of that ticker (or the previous one)
            after = col[i:][col[i:] >= 0]
            before = col[:i][col[:i] >= 0]
            r = after[0] if len(after) else before[-1]
        return loc_row(int(r))

    source = files[0] if len(files) == 1 else str(Path(files[0]).parent)
    return _Panel(udates, [str(t) for t in tickers], values, present, where, source, wide=False)


def _wide_tables(tables: dict[str, Table]) -> _Panel:
    """Wide files (``close`` required; one column per ticker) into a panel."""
    close = tables["close"]
    if not close.header or close.canon[0] != "date":
        raise _fail(f"{close.path}:{close.header_line}: the first column must be 'date', then one "
                    "column per ticker")
    tickers = [h.strip() for h in close.header[1:]]
    if not tickers:
        raise _fail(f"{close.path}:{close.header_line}: no ticker columns: give date,TICKER1,TICKER2,...")
    if len(close) == 0:
        raise _fail(f"{close.path}: no data rows: the file has only a header")
    lines: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    present = np.zeros(0, dtype=bool)
    ref_dates: pd.DatetimeIndex | None = None
    for name, t in tables.items():
        if not t.header or t.canon[0] != "date":
            raise _fail(f"{t.path}:{t.header_line}: the first column must be 'date', then one "
                        "column per ticker")
        cols = [h.strip() for h in t.header[1:]]
        if sorted(cols) != sorted(tickers):
            extra = sorted(set(cols) ^ set(tickers))
            raise _fail(f"{t.path}:{t.header_line}: tickers differ from {close.path} (e.g. "
                        f"{extra[0]!r}): give every wide file the same ticker columns")
        di = pd.DatetimeIndex(_dates_or_fail(t.loc, t.cells[:, 0]))
        dup = di.duplicated()
        if dup.any():
            r = int(np.argmax(dup))
            r0 = int(np.flatnonzero(di == di[r])[0])
            raise _fail(f"{t.loc(r)}: date {di[r].date()} appears twice (first at line "
                        f"{int(t.lines[r0])}): remove one of the rows")
        order = np.argsort(di.asi8, kind="stable")
        di = di[order]
        if ref_dates is None:
            ref_dates = di
        elif not di.equals(ref_dates):
            extra = di.difference(ref_dates)
            if len(extra):
                at = t.loc(int(order[int(np.flatnonzero(di == extra[0])[0])]))
                raise _fail(f"{at}: date {extra[0].date()} is not in {close.path}: give every wide "
                            "file the same date rows")
            gone = ref_dates.difference(di)[0]
            raise _fail(f"{t.path}: no row for {gone.date()} (which {close.path} has): give every "
                        "wide file the same date rows")
        arr = np.empty((len(t), len(tickers)))
        given = np.empty((len(t), len(tickers)), dtype=bool)
        for j, tk in enumerate(tickers):
            c = 1 + cols.index(tk)
            cells = t.cells[order, c]
            v, bad_i = parse_numbers(cells)
            if bad_i is not None:
                r = int(order[bad_i])
                raise _fail(f"{t.loc(r)}: {name} for {tk} {str(t.cells[r, c]).strip()!r} "
                            "is not a number: correct the value or leave the cell empty")
            arr[:, j] = v
            given[:, j] = np.array([str(x).strip() != "" for x in cells], dtype=bool)
        values[name] = arr
        lines[name] = t.lines[order]
        if name == "close":
            present = given
    assert ref_dates is not None
    paths = {k: t.path for k, t in tables.items()}

    def where(field: str, i: int, _j: int) -> str:
        f = field if field in paths else "close"
        return f"{paths[f]}:{int(lines[f][min(i, len(lines[f]) - 1)])}"

    return _Panel(ref_dates, tickers, values, present, where, str(Path(close.path).parent), wide=True)


# =============================================================================== validation
def _check_and_build(
    p: _Panel, ffill_limit: int, max_gap_days: int | None, notes: list[str],
) -> tuple[dict[str, pd.DataFrame], str]:
    """Validate a panel and return the five OHLCV frames and the fill model."""
    p = _drop_empty(p, notes)
    dates, tickers, vals, present = p.dates, p.tickers, p.values, p.present
    given = set(vals)

    def first_bad(mask: np.ndarray) -> tuple[int, int]:
        i, j = np.argwhere(mask)[0]
        return int(i), int(j)

    def on(i: int, j: int) -> str:
        return f"{tickers[j]} on {dates[i].date()}"

    with np.errstate(all="ignore"):
        c = vals["close"]
        bad = present & ~(np.isfinite(c) & (c > 0))
        if bad.any():
            i, j = first_bad(bad)
            raise _fail(f"{p.where('close', i, j)}: close for {on(i, j)} is {_show(c[i, j])}: "
                        "prices must be positive numbers; correct or remove the row")
        ohl = [f for f in ("open", "high", "low") if f in given]
        if ohl and len(ohl) < 3:
            missing = [f for f in ("open", "high", "low") if f not in given]
            raise _fail(f"{p.source}: has {', '.join(ohl)} but no {', '.join(missing)}: give open, "
                        "high and low together, or only close (close-only data)")
        close_only = not ohl
        for f in ohl + (["adj_close"] if "adj_close" in given else []):
            a = vals[f]
            bad = present & ~(np.isfinite(a) & (a > 0))
            if bad.any():
                i, j = first_bad(bad)
                raise _fail(f"{p.where(f, i, j)}: {f} for {on(i, j)} is {_show(a[i, j])}: "
                            "prices must be positive numbers; correct or remove the row")
            if p.wide:
                stray = ~present & ~np.isnan(a)
                if stray.any():
                    i, j = first_bad(stray)
                    raise _fail(f"{p.where(f, i, j)}: {f} is given for {on(i, j)} but close is "
                                "missing: give the close or clear the cell")
        if "volume" in given:
            v = vals["volume"]
            bad = present & (np.isinf(v) | (v < 0))
            if bad.any():
                i, j = first_bad(bad)
                raise _fail(f"{p.where('volume', i, j)}: volume for {on(i, j)} is {_show(v[i, j])}: "
                            "volume must be a non-negative number (or empty)")
        if not close_only:
            o, h, lo = vals["open"], vals["high"], vals["low"]
            tol = 1e-9
            bad = present & ((lo > np.minimum(o, c) * (1 + tol)) | (h < np.maximum(o, c) * (1 - tol)))
            if bad.any():
                i, j = first_bad(bad)
                raise _fail(
                    f"{p.where('close', i, j)}: OHLC inconsistent for {on(i, j)} (open {o[i, j]:g}, "
                    f"high {h[i, j]:g}, low {lo[i, j]:g}, close {c[i, j]:g}): need low <= open, "
                    "close <= high; correct the row, or give close only"
                )
        if "adj_close" in given:
            factor = np.where(present, vals["adj_close"] / c, np.nan)
            for f in ["close"] + ohl:
                vals[f] = vals[f] * factor
            notes.append("prices adjusted by adj_close/close (open, high, low and close scaled)")
    c = np.where(present, vals["close"], np.nan)
    if close_only:
        o = h = lo = c
    else:
        o, h, lo = (np.where(present, vals[f], np.nan) for f in ("open", "high", "low"))
    vol = np.where(present, vals["volume"], np.nan) if "volume" in given else np.full(c.shape, np.nan)

    # gaps across the whole data (no rows at all for too long)
    if max_gap_days is not None and len(dates) > 1:
        gaps = np.diff(dates.asi8) // (86_400 * 10**9)
        big = np.flatnonzero(gaps > max_gap_days)
        if len(big):
            i = int(big[0]) + 1
            j = int(np.argmax(present[i]))
            raise _fail(
                f"{p.where('close', i, j)}: {int(gaps[big[0]])} calendar days with no data between "
                f"{dates[i - 1].date()} and {dates[i].date()} (more than --max-gap-days "
                f"{max_gap_days}): add the missing dates or raise --max-gap-days"
            )

    # holes inside each ticker's listed period: forward-fill up to ffill_limit, else fail
    live = present
    first = np.argmax(live, axis=0)
    last = len(dates) - 1 - np.argmax(live[::-1], axis=0)
    span = np.arange(len(dates))[:, None]
    holes = (span >= first) & (span <= last) & ~live
    if holes.any():
        filled, examples = 0, []
        for j in np.flatnonzero(holes.any(axis=0)):
            idx = np.flatnonzero(holes[:, j])
            runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
            longest = max(runs, key=len)
            if len(longest) > ffill_limit:
                i0, i1 = int(longest[0]), int(longest[-1])
                raise _fail(
                    f"{p.where('close', i1 + 1, int(j))}: {tickers[j]} has no price for "
                    f"{len(longest)} trading day(s) ({dates[i0].date()}..{dates[i1].date()}) inside "
                    f"its listed period: fill the data, allow it with --ffill-limit {len(longest)}, "
                    "or remove the ticker"
                )
            for i in idx:
                c[i, j] = c[i - 1, j]
                if not close_only:
                    o[i, j] = h[i, j] = lo[i, j] = c[i, j]
                vol[i, j] = 0.0 if "volume" in given else np.nan
            filled += len(idx)
            if len(examples) < 3:
                examples.append(f"{tickers[j]} {dates[int(idx[0])].date()}")
        notes.append(
            f"forward-filled {filled} missing bar(s) (at most {ffill_limit} day(s) in a row; e.g. "
            f"{', '.join(examples)}): price held at the previous close, volume 0"
        )
    if close_only:
        o = h = lo = c
        notes.append("close-only data: open=high=low=close, so fills are modelled at the next "
                     "close (fill_model next_close)")
    if "volume" not in given:
        notes.append("no volume in the data: volume-based measures (days to cover, liquidity) "
                     "are unavailable")
    idx = normalize_index(dates)
    cols = pd.Index(tickers)
    frames = {name: pd.DataFrame(np.array(arr, dtype=np.float64, copy=True), index=idx, columns=cols)
              for name, arr in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", vol))}
    return frames, ("next_close" if close_only else "next_open")


def _show(x: float) -> str:
    if np.isnan(x):
        return "missing"
    return f"{x:g}"


# =============================================================================== discovery
def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def _price_panel(path: Path) -> _Panel:
    if path.is_file():
        t = read_table(path)
        canon = t.canon
        if "ticker" in canon:
            return _long_tables([(t, None)])
        if set(canon) <= set(PRICE_FIELDS) | {"date"} and "close" in canon:
            return _long_tables([(t, csv_stem(path))])
        if canon and canon[0] == "date":
            return _wide_tables({"close": t})
        raise _fail(f"{path}:{t.header_line}: unrecognised header ({','.join(t.header[:6])}): use "
                    "date,ticker,open,high,low,close,volume (long) or date,TICKER1,TICKER2 (wide close)")
    if not path.is_dir():
        raise _fail(f"{path}: no such file or folder: give a CSV file or a folder of CSV files")
    prices = _find(path, "prices")
    close = _find(path, "close")
    if prices is not None and close is not None:
        raise _fail(f"{path}: holds both {prices.name} (long) and {close.name} (wide): keep one layout")
    if prices is not None:
        return _long_tables([(read_table(prices), None)])
    if close is not None:
        tables = {"close": read_table(close)}
        for f in ("open", "high", "low", "volume", "adj_close"):
            q = _find(path, f)
            if q is not None:
                tables[f] = read_table(q)
        return _wide_tables(tables)
    files = sorted(q for q in path.iterdir()
                   if _is_csv(q) and csv_stem(q).lower() not in RESERVED_STEMS)
    if not files:
        raise _fail(f"{path}: no price files: put prices.csv (long), close.csv (wide) or one "
                    "TICKER.csv per ticker in the folder")
    return _long_tables([(read_table(q), csv_stem(q)) for q in files])


# =============================================================================== series files
def read_series(path: str | Path, dates: pd.DatetimeIndex, what: str = "reference") -> pd.DataFrame:
    """``date`` + one column per series of daily simple returns, on exactly the market's dates."""
    t = read_table(path)
    if not t.header or t.canon[0] != "date":
        raise _fail(f"{t.path}:{t.header_line}: the first column must be 'date', then one column "
                    f"per {what} series")
    if len(t) == 0:
        raise _fail(f"{t.path}: no data rows: give one row per trading date")
    d = pd.DatetimeIndex(_dates_or_fail(t.loc, t.cells[:, 0]))
    if d.has_duplicates:
        r = int(np.argmax(d.duplicated()))
        raise _fail(f"{t.loc(r)}: date {d[r].date()} appears twice: remove one of the rows")
    names = [h.strip() for h in t.header[1:]]
    data = {}
    for k, name in enumerate(names):
        data[name] = _numbers_or_fail(t.loc, f"{what} {name}", t.cells[:, k + 1])
    frame = pd.DataFrame(data, index=normalize_index(d), columns=pd.Index(names))
    frame = frame.sort_index()
    missing = dates.difference(frame.index)
    if len(missing):
        raise _fail(f"{t.path}: no row for {missing[0].date()} ({len(missing)} market date(s) "
                    f"missing): give a {what} row for every trading date")
    frame = frame.loc[dates]
    with np.errstate(all="ignore"):
        arr = frame.to_numpy()
        if np.isinf(arr).any():
            j = int(np.argwhere(np.isinf(arr))[0][1])
            raise _fail(f"{t.path}: {what} series {names[j]!r} has an infinite value: give finite "
                        "daily returns")
    for j in range(arr.shape[1]):
        finite = np.abs(arr[:, j][np.isfinite(arr[:, j])])
        m = float(np.median(finite)) if len(finite) else 0.0
        if m > 0.5:
            raise _fail(f"{t.path}: {what} series {names[j]!r} looks like price levels (median "
                        f"|value| {m:g}): give daily simple returns (0.01 = +1%)")
    frame.index = normalize_index(frame.index)
    return frame.astype(np.float64)


# =============================================================================== reference
def build_reference(
    close: pd.DataFrame,
    attributes: pd.DataFrame,
    short_interest: pd.DataFrame | None = None,
    index: pd.Series | None = None,
    growth: pd.Series | None = None,
    basket_size: int = 50,
    min_cap: float = 1e9,
    days_to_cover: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Reference series (daily returns) from the universe: index, growth and the two junk baskets.

    ``index`` / ``growth`` are return series given by the caller (an ETF or a user's column); when
    missing the index is cap-weighted (shares known) or equal-weighted (rebalanced monthly), growth
    likewise over the ``is_tech`` names. The baskets follow :mod:`feeds.baskets` (most shorted:
    :func:`feeds.crowding.most_shorted`, top ``basket_size`` by short interest % of float, else by
    days to cover, above ``min_cap``, twice a month; unprofitable tech: monthly) and need short
    interest (point-in-time history, else the static attribute) and profitability.
    Returns the frame (first row 0) and one note per choice made; a series whose inputs are
    missing is left out, never faked.
    """
    from . import baskets

    notes: list[str] = []
    dates = close.index
    out = pd.DataFrame(index=dates)
    att = attributes.reindex(close.columns)
    shares = _complete_float(att, "shares")
    cap = baskets.market_cap(close, shares) if shares is not None else None
    listed = close.notna()
    monthly = baskets.rebalance_dates(dates, "MS")

    def first_zero(s: pd.Series) -> pd.Series:
        s = pd.Series(s).reindex(dates).astype(np.float64)
        if len(s):
            s.iloc[0] = 0.0
        return s

    if index is not None:
        out["index"] = first_zero(index)
    elif shares is not None:
        out["index"] = first_zero(baskets.cap_weighted_index(close, shares))
        notes.append("reference index: cap-weighted universe (shares x close)")
    else:
        out["index"] = first_zero(baskets.equal_weight_basket(close, listed, monthly))
        notes.append("reference index: equal-weighted universe, rebalanced monthly (no shares "
                     "outstanding known for every ticker)")
    tech, tech_unknown = _known_bool(att, "is_tech", unknown_as=False)
    if growth is not None:
        out["growth"] = first_zero(growth)
    elif tech is not None and bool(tech.any()):
        members = listed & tech.to_numpy()[None, :]
        if shares is not None:
            out["growth"] = first_zero(baskets.cap_weighted_index(close, shares, members=members))
            notes.append("reference growth: cap-weighted is_tech names")
        else:
            out["growth"] = first_zero(baskets.equal_weight_basket(close, members, monthly))
            notes.append("reference growth: equal-weighted is_tech names, rebalanced monthly")
    else:
        notes.append("reference growth unavailable: no growth ticker and no is_tech names")
    from .crowding import most_shorted

    crowd, measure, static = None, None, False
    for name, hist in (("short_interest", short_interest), ("days_to_cover", days_to_cover)):
        if hist is not None and np.isfinite(hist.to_numpy(np.float64)).any():
            crowd, measure = hist, name
            break
    if crowd is None:
        for name in ("short_interest", "days_to_cover"):
            col = (pd.to_numeric(att[name], errors="coerce").astype(np.float64)
                   if name in att.columns else None)
            if col is not None and col.notna().any():
                crowd = pd.DataFrame(np.broadcast_to(col.to_numpy(), close.shape).copy(),
                                     index=dates, columns=close.columns)
                measure, static = name, True
                break
    if crowd is not None:
        _, basket, src = most_shorted(close, crowd, measure, not static, cap, n=basket_size,
                                      min_cap=min_cap)
        out["most_shorted"] = first_zero(basket.fillna(0.0))
        notes.append(f"reference most_shorted: equal-weighted {src.text}"
                     + ("; static short interest, not point-in-time (look-ahead)" if static else ""))
    else:
        notes.append("reference most_shorted unavailable: no short-interest data")
    prof, prof_unknown = _known_bool(att, "profitable", unknown_as=True)
    urule = baskets.UNPROFITABLE_TECH_RULE
    if prof is not None and tech is not None:
        a = att.assign(profitable=prof, is_tech=tech)
        # without shares the size ranking uses price and no cap floor can apply
        members = baskets.unprofitable_tech_members(
            a, cap if cap is not None else close, n=basket_size, freq=urule["freq"],
            min_cap=float(urule.get("min_cap", 0.0)) if cap is not None else 0.0)
        if members.to_numpy().any():
            out["unprofitable_tech"] = first_zero(baskets.equal_weight_basket(
                close, members, baskets.rebalance_dates(dates, urule["freq"])))
            unknown = int(((tech_unknown | prof_unknown) & ~(tech == False)).sum())  # noqa: E712
            notes.append(f"reference unprofitable_tech: equal-weighted, up to {basket_size} "
                         "unprofitable is_tech names, rebalanced monthly"
                         + ("" if cap is not None else " (no cap floor: shares unknown)")
                         + (f" ({unknown} ticker(s) with unknown profitability or sector left out)"
                            if unknown else ""))
        else:
            notes.append("reference unprofitable_tech unavailable: no unprofitable is_tech names")
    else:
        notes.append("reference unprofitable_tech unavailable: needs the profitable and is_tech "
                     "attributes")
    out.index = normalize_index(out.index)
    return out.astype(np.float64), notes


def _complete_float(att: pd.DataFrame, name: str) -> pd.Series | None:
    if name not in att.columns:
        return None
    s = pd.to_numeric(att[name], errors="coerce").astype(np.float64)
    return s if bool((np.isfinite(s) & (s > 0)).all()) else None


def _known_bool(att: pd.DataFrame, name: str, unknown_as: bool) -> tuple[pd.Series | None, pd.Series]:
    """A boolean attribute with unknown cells set to ``unknown_as`` (None when nothing is known)."""
    if name not in att.columns:
        return None, pd.Series(True, index=att.index)
    unknown = att[name].isna()
    if unknown.all():
        return None, unknown
    filled = att[name].astype(object).where(~unknown, unknown_as)
    return filled.astype(bool), unknown


# =============================================================================== the feed
def csv_market(
    path: str | Path,
    attributes: str | Path | None = None,
    short_interest: str | Path | None = None,
    days_to_cover: str | Path | None = None,
    reference: str | Path | None = None,
    factors: str | Path | None = None,
    ffill_limit: int = 0,
    max_gap_days: int | None = MAX_GAP_DAYS,
    index_ticker: str | None = None,
    growth_ticker: str | None = None,
    si_lag: int = 8,
    si_max_age: int | None = 30,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> Market:
    """Read the user's price files (long, per-ticker folder, wide, close-only; ``.csv`` or ``.csv.gz``).

    Parameters
    ----------
    path : a long CSV file, or a folder (``prices.csv`` | ``close.csv`` [+ open/high/low/volume/
        adj_close.csv] | one ``TICKER.csv`` per ticker), optionally with ``attributes.csv``,
        ``short_interest.csv``, ``days_to_cover.csv``, ``reference.csv``, ``factors.csv``.
    attributes, short_interest, days_to_cover, reference, factors : files overriding the folder's.
    ffill_limit : missing bars inside a ticker's listed period forward-filled, at most this many in
        a row (0: any missing bar is an error).
    max_gap_days : largest number of calendar days allowed between consecutive dates (None: off).
    index_ticker, growth_ticker : price columns to use as the index / growth reference series
        (removed from the tradable universe).
    si_lag, si_max_age : sessions between a short-interest settlement and its first use, and
        after which it is stale (see :mod:`feeds.short_interest`).
    start, end : keep only these dates (inclusive).
    """
    from .attributes import align_attributes, read_attributes
    from .short_interest import short_interest_history

    src = Path(path).expanduser()
    if ffill_limit < 0:
        raise _fail(f"ffill_limit {ffill_limit} is negative: give 0 or more")
    folder = src if src.is_dir() else None
    panel = _price_panel(src)
    panel = _cut_dates(panel, start, end)
    notes: list[str] = []
    frames, fill_model = _check_and_build(panel, int(ffill_limit), max_gap_days, notes)
    meta: dict[str, Any] = {"path": str(src)}

    def side(arg: str | Path | None, stem: str) -> Path | None:
        if arg is not None:
            p = Path(arg).expanduser()
            if stem == "short_interest" and p.is_dir():  # a folder of FINRA files
                return p
            if not p.is_file():
                where = (f"data.{stem}" if stem == "short_interest"
                         else f"the --{stem.replace('_', '-')} path")
                raise _fail(f"{p}: no such file: check {where}")
            return p
        return _find(folder, stem) if folder is not None else None

    manifest = _read_manifest(folder)
    ref_cols: dict[str, pd.Series] = {}
    for role, tk in (("index", index_ticker), ("growth", growth_ticker)):
        if tk is None:
            continue
        if tk not in frames["close"].columns:
            raise _fail(f"{panel.source}: no price column {tk!r} for the {role} reference: "
                        f"check --{role}-ticker (tickers are case-sensitive)")
        col = frames["close"][tk]
        ref_cols[role] = col.ffill().pct_change(fill_method=None)
        notes.append(f"reference {role}: returns of {tk} (removed from the tradable universe)")
    drop = [tk for tk in (index_ticker, growth_ticker) if tk is not None]
    if drop:
        keep = [t for t in frames["close"].columns if t not in drop]
        if not keep:
            raise _fail(f"{panel.source}: only reference tickers left: give some tradable tickers")
        frames = {k: v[keep] for k, v in frames.items()}
        live = frames["close"].notna().any(axis=1).to_numpy()
        frames = {k: v.loc[live] for k, v in frames.items()}
    close = frames["close"]
    tickers = close.columns

    att_path = side(attributes, "attributes")
    exact = bool(manifest)  # a folder written by export_market: restore it as it was
    if att_path is not None:
        table = read_attributes(att_path, dtypes=manifest.get("attribute_dtypes") if exact else None)
        if exact and set(tickers) <= set(table.index):
            att = table.reindex(tickers)
            att.index = tickers.rename(manifest.get("attributes_index_name"))
        else:
            att, att_notes = align_attributes(table, tickers, source=str(att_path))
            notes.extend(att_notes)
    else:
        att, att_notes = align_attributes(None, tickers)
        notes.extend(att_notes)

    si_path, dtc_path = side(short_interest, "short_interest"), side(days_to_cover, "days_to_cover")
    si = dtc = si_info = None
    if si_path is not None or dtc_path is not None:
        hist = short_interest_history(
            si_path, close.index, tickers, lag=si_lag, max_age=si_max_age,
            days_to_cover_path=dtc_path,
            volume=frames["volume"] if np.isfinite(frames["volume"].to_numpy()).any() else None,
        )
        si, dtc, si_info = hist.short_interest, hist.days_to_cover, hist.info
        notes.extend(hist.notes)

    ref_path = side(reference, "reference")
    given = read_series(ref_path, close.index, "reference") if ref_path is not None else None
    fac_path = side(factors, "factors")
    fac = read_series(fac_path, close.index, "factors") if fac_path is not None else pd.DataFrame()
    full = {"index", "growth", "most_shorted", "unprofitable_tech"}
    if given is not None and (exact or set(given.columns) >= full) and not ref_cols:
        ref = given
        notes.append(f"reference series read from {ref_path}")
    elif exact and given is None and not ref_cols:
        ref = pd.DataFrame()
    else:
        ref, ref_notes = build_reference(close, att, si, index=ref_cols.get("index"),
                                         growth=ref_cols.get("growth"), days_to_cover=dtc)
        notes.extend(ref_notes)
        if si_info is not None and "most_shorted" in ref.columns and \
                (given is None or "most_shorted" not in given.columns):
            si_info = replace(si_info, reference_basket=True)
        if given is not None:
            for col in given.columns:
                ref[col] = given[col]
            notes.append(f"reference series {', '.join(map(str, given.columns))} read from {ref_path}")
    synthetic = bool(manifest.get("synthetic", False)) if exact else False
    seed = manifest.get("seed") if exact else None
    if exact:
        orig = manifest.get("source", "?")
        meta["exported_from"] = str(orig)
        if manifest.get("fill_model") == "next_close":
            fill_model = "next_close"
        if manifest.get("columns_name") is not None:
            for f in frames.values():
                f.columns.name = manifest["columns_name"]
            for f in (si, dtc):
                if f is not None:
                    f.columns.name = manifest["columns_name"]
        for n in manifest.get("notes", []) or []:
            notes.append(f"(as exported) {n}")
        if synthetic:
            notes.insert(0, f"SYNTHETIC data: exported from a {orig} market (seed {seed}), not real "
                            "prices")
    return Market(
        open=frames["open"], high=frames["high"], low=frames["low"], close=frames["close"],
        volume=frames["volume"], attributes=att, reference=ref, factors=fac,
        short_interest=si, days_to_cover=dtc, short_info=si_info, source="csv", synthetic=synthetic,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        fill_model=fill_model, notes=tuple(notes), meta=meta,
    )


def _cut_dates(p: _Panel, start: Any, end: Any) -> _Panel:
    if start is None and end is None:
        return p
    try:
        s = pd.Timestamp(start) if start is not None else p.dates[0]
        e = pd.Timestamp(end) if end is not None else p.dates[-1]
    except (ValueError, TypeError) as err:
        raise _fail(f"start/end {start!r}..{end!r} is not a date: write YYYY-MM-DD") from err
    keep = np.flatnonzero((p.dates >= s) & (p.dates <= e))
    if len(keep) == 0:
        raise _fail(f"{p.source}: no data between {s.date()} and {e.date()} (data: "
                    f"{p.dates[0].date()}..{p.dates[-1].date()}): pick --start/--end inside it")
    return _subset(p, keep, np.arange(len(p.tickers)))


def _subset(p: _Panel, rows: np.ndarray, cols: np.ndarray) -> _Panel:
    """The panel restricted to ``rows`` x ``cols`` (positions), messages still naming the source."""
    base = p.where

    def where(field: str, i: int, j: int) -> str:
        return base(field, int(rows[min(i, len(rows) - 1)]), int(cols[j]))

    return _Panel(p.dates[rows], [p.tickers[j] for j in cols],
                  {k: v[np.ix_(rows, cols)] for k, v in p.values.items()},
                  p.present[np.ix_(rows, cols)], where, p.source, p.wide)


def _drop_empty(p: _Panel, notes: list[str]) -> _Panel:
    """Drop tickers with no price at all and dates on which no ticker has a price (noted)."""
    col_live = p.present.any(axis=0)
    if not col_live.any():
        raise _fail(f"{p.source}: no prices at all in the selected dates: check the file and "
                    "--start/--end")
    row_live = p.present[:, col_live].any(axis=1)
    if col_live.all() and row_live.all():
        return p
    dead = [p.tickers[j] for j in np.flatnonzero(~col_live)]
    if dead:
        notes.append(f"dropped {len(dead)} ticker(s) with no prices in the data: "
                     f"{', '.join(dead[:10])}{' ...' if len(dead) > 10 else ''}")
    if not row_live.all():
        notes.append(f"dropped {int((~row_live).sum())} date(s) on which no ticker has a price "
                     f"(e.g. {p.dates[int(np.argmax(~row_live))].date()})")
    return _subset(p, np.flatnonzero(row_live), np.flatnonzero(col_live))


def _read_manifest(folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return {}
    p = folder / "manifest.json"
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise _fail(f"{p}: not valid JSON ({type(err).__name__}): fix or delete the manifest") from err
    if not isinstance(data, dict):
        raise _fail(f"{p}: not a JSON object: fix or delete the manifest")
    for key, kinds in MANIFEST_TYPES.items():
        if key in data and not isinstance(data[key], kinds):
            names = "/".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise _fail(f"{p}: {key} is {type(data[key]).__name__}, not {names}: fix or delete "
                        "the manifest")
    for key in ("notes", "files", "reference_columns"):
        if not all(isinstance(x, str) for x in data.get(key) or []):
            raise _fail(f"{p}: {key} must be a list of text: fix or delete the manifest")
    if not all(isinstance(v, str) for v in (data.get("attribute_dtypes") or {}).values()):
        raise _fail(f"{p}: attribute_dtypes must map columns to dtype names: fix or delete the "
                    "manifest")
    return data


#: Types of the manifest.json keys the reader uses (a wrong type is refused by name).
MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "synthetic": (bool,), "seed": (int, type(None)), "source": (str,),
    "fill_model": (str, type(None)), "columns_name": (str, type(None)),
    "attributes_index_name": (str, type(None)), "notes": (list, type(None)),
    "files": (list,), "reference_columns": (list,), "attribute_dtypes": (dict, type(None)),
}
