"""Borrow-fee files (``data.borrow = PATH``): a prime broker's daily borrow file, point-in-time.

The file is a CSV with columns ``date,ticker,fee_bps[,available_shares]``: the yearly fee in basis
points (10,000 = 100% a year) and the shares the lender can still lend, as known on ``date``
(e.g. a prime broker's daily availability file or an archived public snapshot). An empty
``available_shares`` means no limit; without the column nothing is limited.

Point in time: a row applies from ``date`` (from the next session if ``date`` is not a session)
until the ticker's next row, for at most :data:`CARRY_DAYS` calendar days; after that the name has
no fee in force (it pays ``execution.borrow_bps``, no availability limit) until its next row.

Checks (each one line naming the fix, exit 2 at the CLI): a missing or unreadable file, missing
columns, empty or non-numeric values, negative fees or availability, the same (date, ticker)
twice, fees that look like percent (:data:`PERCENT_MEDIAN_BPS`), no ticker of the market, no row
on the market's dates. Unknown tickers and rows after the last market date are dropped with a
note (the run can go on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SqueezeLabError

#: Columns a borrow file must have; ``available_shares`` is optional.
REQUIRED_COLUMNS = ("date", "ticker", "fee_bps")
OPTIONAL_COLUMNS = ("available_shares",)

#: A row is carried forward at most this many calendar days (a Friday file still holds on
#: Monday and through a Monday holiday; a week-old row no longer does).
CARRY_DAYS = 7

#: Percent heuristic: general collateral is ~25-50 bps a year, so a file whose median fee is below
#: 1 bp was almost surely written in percent (0.25) or as a fraction (0.0025).
PERCENT_MEDIAN_BPS = 1.0


@dataclass(frozen=True)
class BorrowFile:
    """A borrow file aligned to the market (dates x tickers).

    ``fee_bps``: yearly fee in force at each close (NaN: no row in force, the name pays
    ``execution.borrow_bps``). ``available``: shares that may be short at each close (``inf``:
    no limit). ``notes``: what was dropped or assumed, one line each.
    """

    fee_bps: pd.DataFrame
    available: pd.DataFrame
    notes: tuple[str, ...]
    path: str


def read_borrow_file(path: str | Path, dates: pd.DatetimeIndex, tickers: pd.Index) -> BorrowFile:
    """Read and check ``path`` (CSV, optionally gzipped) and align it to ``dates`` x ``tickers``."""
    p = Path(path)
    if not p.is_file():
        raise SqueezeLabError(f"data.borrow file {p} not found: give the path of a CSV with columns "
                              "date,ticker,fee_bps[,available_shares]")
    try:
        raw = pd.read_csv(p, dtype={"ticker": str}, keep_default_na=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as err:
        raise SqueezeLabError(f"data.borrow file {p} is not a readable CSV ({type(err).__name__}): "
                              "give a CSV with columns date,ticker,fee_bps[,available_shares]") from err
    return borrow_table(raw, dates, tickers, source=str(p))


def borrow_table(raw: pd.DataFrame, dates: pd.DatetimeIndex, tickers: pd.Index,
                 source: str = "data.borrow") -> BorrowFile:
    """Check a long borrow table (columns as in the file) and align it; see the module doc."""
    where = "data.borrow" if source == "data.borrow" else f"data.borrow {source}"
    cols, notes = _columns(raw, where)
    when, tick, fee, avail = _rows(raw, cols, where)
    known = pd.Index(tickers).astype(str)
    keep = _on_the_market(when, tick, dates, known, where, notes)
    fee_w, avail_w, stale = align_point_in_time(when[keep], tick[keep], fee[keep], avail[keep],
                                                dates, known)
    no_row = int((~np.isin(known.to_numpy(), tick[keep])).sum())
    if no_row:
        notes.append(f"{where}: {no_row} of {len(known)} market tickers have no row: they pay "
                     "execution.borrow_bps with no availability limit")
    if stale:
        notes.append(f"{where}: {stale} name-day(s) had no row for more than {CARRY_DAYS} days: "
                     "they paid execution.borrow_bps with no availability limit")
    index = pd.DatetimeIndex(dates)
    return BorrowFile(fee_bps=pd.DataFrame(fee_w, index=index, columns=tickers),
                      available=pd.DataFrame(avail_w, index=index, columns=tickers),
                      notes=tuple(notes), path=source)


def _columns(raw: pd.DataFrame, where: str) -> tuple[dict[str, object], list[str]]:
    """The table's columns by lower-case name (the required ones present, rows present), and a
    note for the columns it ignores."""
    cols = {str(c).strip().lower(): c for c in raw.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise SqueezeLabError(f"{where} has no column {missing[0]!r} (columns: "
                              f"{', '.join(map(str, raw.columns)) or 'none'}): the header must be "
                              "date,ticker,fee_bps[,available_shares]")
    if raw.empty:
        raise SqueezeLabError(f"{where} has no rows: give at least one date,ticker,fee_bps row")
    notes: list[str] = []
    extra = [str(c) for c in raw.columns
             if str(c).strip().lower() not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if extra:
        notes.append(f"{where}: column(s) {', '.join(extra)} ignored")
    return cols, notes


def _rows(raw: pd.DataFrame, cols: dict[str, object], where: str
          ) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's date, ticker, fee (bps a year) and available shares (``inf``: no limit), every
    value checked, with the file line of the first bad one."""
    line = np.arange(len(raw)) + 2  # file line numbers (header is line 1)
    when = pd.to_datetime(raw[cols["date"]], errors="coerce", format="mixed")
    if when.isna().any():
        i = int(np.flatnonzero(when.isna().to_numpy())[0])
        raise SqueezeLabError(f"{where} line {line[i]}: date {raw[cols['date']].iloc[i]!r} is not a "
                              "date: write YYYY-MM-DD")
    when = pd.DatetimeIndex(when).tz_localize(None) if pd.DatetimeIndex(when).tz else pd.DatetimeIndex(when)
    when = when.normalize().as_unit("ns")
    tick = raw[cols["ticker"]].astype(object)
    bad_t = tick.isna() | (tick.astype(str).str.strip() == "")
    if bad_t.any():
        i = int(np.flatnonzero(bad_t.to_numpy())[0])
        raise SqueezeLabError(f"{where} line {line[i]}: empty ticker: every row needs a ticker")
    tick = tick.astype(str).str.strip().to_numpy()
    fee = _numbers(raw[cols["fee_bps"]], where, "fee_bps", line, allow_empty=False)
    if (fee < 0).any():
        i = int(np.flatnonzero(fee < 0)[0])
        raise SqueezeLabError(f"{where} line {line[i]}: fee_bps {fee[i]:g} is negative: a borrow "
                              "fee is >= 0 basis points a year (rebates are not modelled)")
    med = float(np.median(fee))
    if med < PERCENT_MEDIAN_BPS:
        raise SqueezeLabError(
            f"{where}: median fee_bps is {med:g}, below {PERCENT_MEDIAN_BPS:g} bp a year: the fees "
            "look like percent or fractions; fee_bps is basis points a year (1% = 100, 0.25% = 25): "
            "multiply the column by 100 (percent) or 10000 (fractions)")
    if "available_shares" in cols:
        avail = _numbers(raw[cols["available_shares"]], where, "available_shares", line,
                         allow_empty=True)
        if (avail < 0).any():
            i = int(np.flatnonzero(avail < 0)[0])
            raise SqueezeLabError(f"{where} line {line[i]}: available_shares {avail[i]:g} is "
                                  "negative: give 0 or more shares, or leave it empty for no limit")
        avail = np.where(np.isnan(avail), np.inf, avail)
    else:
        avail = np.full(len(fee), np.inf)
    key = pd.DataFrame({"date": when, "ticker": tick})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise SqueezeLabError(f"{where} line {line[i]}: {tick[i]} on {when[i].date()} appears more "
                              "than once: keep one row per date and ticker")
    return when, tick, fee, avail


def _on_the_market(when: pd.DatetimeIndex, tick: np.ndarray, dates: pd.DatetimeIndex,
                   known: pd.Index, where: str, notes: list[str]) -> np.ndarray:
    """Rows of the market's tickers that can be in force on its dates (a row from up to
    :data:`CARRY_DAYS` before the first date still counts); what is dropped is noted."""
    inside = np.isin(tick, known.to_numpy())
    if not inside.any():
        raise SqueezeLabError(f"{where} names none of the market's tickers (e.g. {tick[0]}): give "
                              "the fees of the names the run trades")
    if not inside.all():
        unknown = sorted(set(tick[~inside]))
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        notes.append(f"{where}: {len(unknown)} ticker(s) not in the market ignored "
                     f"({int((~inside).sum())} rows): {shown}")
    first, last = dates[0], dates[-1]
    late = np.asarray(when > last)
    early = np.asarray(when < first - pd.Timedelta(days=CARRY_DAYS))
    keep = inside & ~late & ~early
    if not keep.any():
        raise SqueezeLabError(
            f"{where} has no row on the market's dates (file {when.min().date()}..{when.max().date()}, "
            f"market {first.date()}..{last.date()}): give a file covering the run")
    n_out = int((inside & (late | early)).sum())
    if n_out:
        notes.append(f"{where}: {n_out} row(s) outside the market's dates "
                     f"{first.date()}..{last.date()} ignored")
    return keep


def align_point_in_time(when: pd.DatetimeIndex, tick: np.ndarray, fee: np.ndarray,
                        avail: np.ndarray, dates: pd.DatetimeIndex, tickers: pd.Index,
                        carry_days: int = CARRY_DAYS) -> tuple[np.ndarray, np.ndarray, int]:
    """Fee and availability in force at each market date (dates x tickers), and the stale count.

    For each date and ticker: the ticker's last row dated on or before the date, if it is at most
    ``carry_days`` calendar days old; else fee NaN and availability ``inf``. The stale count is the
    number of (date, ticker) cells after a ticker's first row where its last row was too old.
    """
    n_rows, n_names = len(dates), len(tickers)
    fee_w = np.full((n_rows, n_names), np.nan)
    avail_w = np.full((n_rows, n_names), np.inf)
    if len(when) == 0:
        return fee_w, avail_w, 0
    col = pd.Index(tickers).get_indexer(tick)
    day = day_numbers(when)
    mday = day_numbers(dates)
    order = np.lexsort((day, col))
    col, day, fee, avail = col[order], day[order], fee[order], avail[order]
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], len(col)]
    stale = 0
    for a, b in zip(starts, ends, strict=True):  # one pass per ticker, vectorized over dates
        j = col[a]
        k = np.searchsorted(day[a:b], mday, side="right") - 1
        seen = k >= 0
        kk = a + np.maximum(k, 0)
        fresh = seen & (mday - day[kk] <= carry_days)
        fee_w[fresh, j] = fee[kk[fresh]]
        avail_w[fresh, j] = avail[kk[fresh]]
        stale += int((seen & ~fresh).sum())
    return fee_w, avail_w, stale


def day_numbers(dates: pd.Index) -> np.ndarray:
    """Whole days since 1970 of each date (any datetime resolution)."""
    return pd.DatetimeIndex(dates).normalize().as_unit("ns").asi8 // 86_400_000_000_000


def _numbers(col: pd.Series, where: str, name: str, line: np.ndarray, allow_empty: bool) -> np.ndarray:
    vals = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    empty = col.isna().to_numpy() | (col.astype(str).str.strip() == "").to_numpy()
    bad = (np.isnan(vals) & ~empty) | np.isinf(vals)
    if not allow_empty:
        bad |= empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if empty[i]:
            raise SqueezeLabError(f"{where} line {line[i]}: {name} is empty: give {name} on every "
                                  "row")
        raise SqueezeLabError(f"{where} line {line[i]}: {name} {col.iloc[i]!r} is not a number: "
                              f"give {name} as a plain number" + ("" if not allow_empty else
                                                                    " (empty = no limit)"))
    return np.where(empty, np.nan, vals)
