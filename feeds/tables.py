"""CSV text in: tables that keep their line numbers; numbers, dates and series files parsed with
``file:line`` errors.

Shared by every reader of the user's files (prices, attributes, short interest, reference and
factor series). Nothing here knows what a price is.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import normalize_index

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


def canon(name: str) -> str:
    key = " ".join(str(name).strip().lower().split())
    return ALIASES.get(key, key.replace(" ", "_"))


def is_csv(p: Path) -> bool:
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
        return [canon(h) for h in self.header]

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    def has(self, name: str) -> bool:
        return name in self.canon

    def col(self, name: str) -> np.ndarray:
        """The raw string cells of the column whose canonical name is ``name``."""
        return self.cells[:, self.canon.index(name)]

    def loc(self, row: int) -> str:
        return f"{self.path}:{int(self.lines[row])}"


def open_text(path: Path) -> io.TextIOBase:
    """A text handle on a (possibly gzipped) UTF-8 file; the caller closes it."""
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
        with open_text(p) as fh:
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
        c = canon(h)
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


def dates_or_fail(loc: Callable[[int], str], values: np.ndarray) -> np.ndarray:
    out, bad = parse_dates(values)
    if bad is not None:
        raise _fail(f"{loc(bad)}: date {str(values[bad]).strip()!r} is not a date: "
                    "write YYYY-MM-DD (between 1900 and 2200)")
    return out


def numbers_or_fail(loc: Callable[[int], str], name: str, values: np.ndarray) -> np.ndarray:
    out, bad = parse_numbers(values)
    if bad is not None:
        raise _fail(f"{loc(bad)}: {name} {str(values[bad]).strip()!r} is not a number: "
                    "correct the value or remove the row")
    return out


def find_csv(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def read_series(path: str | Path, dates: pd.DatetimeIndex, what: str = "reference") -> pd.DataFrame:
    """``date`` + one column per series of daily simple returns, on exactly the market's dates."""
    t = read_table(path)
    if not t.header or t.canon[0] != "date":
        raise _fail(f"{t.path}:{t.header_line}: the first column must be 'date', then one column "
                    f"per {what} series")
    if len(t) == 0:
        raise _fail(f"{t.path}: no data rows: give one row per trading date")
    d = pd.DatetimeIndex(dates_or_fail(t.loc, t.cells[:, 0]))
    if d.has_duplicates:
        r = int(np.argmax(d.duplicated()))
        raise _fail(f"{t.loc(r)}: date {d[r].date()} appears twice: remove one of the rows")
    names = [h.strip() for h in t.header[1:]]
    data = {}
    for k, name in enumerate(names):
        data[name] = numbers_or_fail(t.loc, f"{what} {name}", t.cells[:, k + 1])
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


