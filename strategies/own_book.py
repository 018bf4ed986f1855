"""Bring your own book: the user's target weights (or shares) from a CSV file -> :class:`Targets`.

Three layouts, told apart by the header (case and surrounding spaces ignored):

- long, weights: ``date,ticker,weight`` (+ optional ``leg`` = long | short | hedge): one block of
  rows per rebalance date, weights as fractions of equity (+ long, - short; 0.02 = 2%);
- long, shares: ``date,ticker,shares`` (+ optional ``leg``): target shares, converted to weights at
  each date's close as ``shares x close / capital`` (``book.capital``, the account the share counts
  belong to);
- wide: ``date`` then one column per ticker, cells are weights.

Each date is a full rebalance: a name absent from a date's block is a target of 0. Without a
``leg`` column the sign decides the leg (+ long, - short). Everything is checked before any work
(:func:`read_book_file` for the file alone, :func:`own_book_targets` against the market) and a
problem is one :class:`SqueezeLabError` naming the row, the value and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market, normalize_index
from .targets import LEGS, Targets

#: Most net long (long + hedge - short, fraction of equity) a book may target: longs are paid with
#: equity plus short proceeds, and the rest is headroom for commission and overnight gaps (orders
#: are sized at the signal close and filled at the next open; a refused order stops the run).
MAX_NET_LONG = 0.95

#: Largest |weight| of one name: above it the file is almost surely in percent, not fractions.
MAX_NAME_WEIGHT = 1.0

#: Value columns a long-format file may carry (exactly one).
UNITS = ("weight", "shares")


@dataclass(frozen=True)
class BookFile:
    """A parsed book file: one row per (date, ticker, leg) with a value in ``units``."""

    path: str
    units: str               # "weight" | "shares"
    frame: pd.DataFrame      # columns date (datetime64), ticker (str), leg (str), value (float)
    sha256: str
    layout: str              # "long" | "wide"

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(sorted(self.frame["date"].unique()), name="date")


def _err(path: str, what: str, fix: str) -> SqueezeLabError:
    return SqueezeLabError(f"book file {path}: {what}: {fix}")


def _numbers(raw: pd.Series, path: str, col: str, rows: np.ndarray) -> np.ndarray:
    """Parse a column of numbers; empty, NaN, text or infinite values are errors naming the row."""
    text = raw.astype("string").str.strip()
    vals = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.argmax(bad))
        shown = text.iloc[i]
        shown = "empty" if shown is pd.NA or shown == "" else repr(str(shown))
        raise _err(path, f"line {rows[i]}: {col} is {shown}, not a finite number",
                   "give every cell a number (0 for a name not held)")
    return vals


def _dates(raw: pd.Series, path: str, rows: np.ndarray) -> np.ndarray:
    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise _err(path, f"line {rows[i]}: date {str(text.iloc[i])!r} is not YYYY-MM-DD",
                   "write dates as e.g. 2026-01-02")
    return normalize_index(pd.DatetimeIndex(parsed)).to_numpy()


def _read_table(path: str) -> pd.DataFrame:
    """The file's cells as text, header stripped; one line naming the problem if it is no CSV."""
    try:
        raw = pd.read_csv(Path(path), dtype=str, keep_default_na=False, skipinitialspace=True,
                          comment="#")
    except pd.errors.EmptyDataError as err:
        raise _err(path, "the file is empty", "give a header and one row per name and date") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise _err(path, f"not a readable CSV ({str(err).splitlines()[0]})",
                   "save it as comma-separated text") from err
    raw.columns = [str(c).strip() for c in raw.columns]
    lower = [c.lower() for c in raw.columns]
    if "date" not in lower:
        raise _err(path, f"no date column (header: {','.join(raw.columns)[:80]})",
                   "start the header with date, e.g. date,ticker,weight")
    if raw.empty:
        raise _err(path, "no rows", "give one row per name and rebalance date")
    return raw


def _long_frame(raw: pd.DataFrame, path: str, rows: np.ndarray) -> tuple[pd.DataFrame, str]:
    """``date,ticker,weight|shares[,leg]`` rows as (date, ticker, leg, value), and the unit."""
    cols = list(raw.columns)
    lower = [c.lower() for c in cols]
    units = [u for u in UNITS if u in lower]
    if len(units) != 1:
        raise _err(path, f"long format needs exactly one of weight, shares (header: "
                   f"{','.join(cols)[:80]})", "write date,ticker,weight or date,ticker,shares")
    extra = sorted(set(lower) - {"date", "ticker", "leg", units[0]})
    if extra:
        raise _err(path, f"unknown column {extra[0]!r}",
                   "keep only date, ticker, weight or shares, and optionally leg")
    tick = raw[cols[lower.index("ticker")]].astype(str).str.strip().to_numpy()
    if (tick == "").any():
        i = int(np.argmax(tick == ""))
        raise _err(path, f"line {rows[i]}: empty ticker", "give a ticker on every row")
    if "leg" in lower:
        leg = raw[cols[lower.index("leg")]].astype(str).str.strip().str.lower().to_numpy()
        bad = ~np.isin(leg, LEGS)
        if bad.any():
            i = int(np.argmax(bad))
            raise _err(path, f"line {rows[i]}: leg {leg[i]!r} is not one of {', '.join(LEGS)}",
                       "use long, short or hedge (or drop the leg column)")
    else:
        leg = np.full(len(raw), "", dtype=object)
    frame = pd.DataFrame({
        "date": _dates(raw[cols[lower.index("date")]], path, rows),
        "ticker": tick,
        "leg": leg,
        "value": _numbers(raw[cols[lower.index(units[0])]], path, units[0], rows),
    })
    return frame, units[0]


def _wide_frame(raw: pd.DataFrame, path: str, rows: np.ndarray) -> pd.DataFrame:
    """``date,AAPL,MSFT,...`` weights as (date, ticker, leg, value) rows, no leg."""
    cols = list(raw.columns)
    date_col = cols[[c.lower() for c in cols].index("date")]
    tickers = [c for c in cols if c != date_col]
    if not tickers:
        raise _err(path, "a wide file needs one column per ticker after date",
                   "write date,AAPL,MSFT,... or the long format date,ticker,weight")
    if len(set(tickers)) != len(tickers):
        dup = next(t for t in tickers if tickers.count(t) > 1)
        raise _err(path, f"ticker column {dup!r} appears twice", "give each ticker once")
    d = _dates(raw[date_col], path, rows)
    vals = np.column_stack([_numbers(raw[t], path, t, rows) for t in tickers])
    return pd.DataFrame({
        "date": np.repeat(d, len(tickers)),
        "ticker": np.tile(np.array(tickers, dtype=object), len(d)),
        "leg": "",
        "value": vals.ravel(),
    })


def _check_rows(frame: pd.DataFrame, path: str, unit: str) -> None:
    """Each name once per date (and leg), weights fractions of equity, signs matching the legs."""
    key = frame[["date", "ticker", "leg"]]
    dup = key.duplicated()
    if dup.any():
        r = frame[dup.to_numpy()].iloc[0]
        raise _err(path, f"{r['ticker']} appears twice on {pd.Timestamp(r['date']).date()}",
                   "give each name once per date (or once per leg with a leg column)")
    if unit == "weight":
        big = np.abs(frame["value"].to_numpy()) > MAX_NAME_WEIGHT
        if big.any():
            r = frame[big].iloc[0]
            raise _err(path, f"weight {r['value']:g} for {r['ticker']} on "
                       f"{pd.Timestamp(r['date']).date()} is over {MAX_NAME_WEIGHT:g} of equity",
                       "weights are fractions of equity (0.02 = 2%), not percent")
    legs = frame["leg"].to_numpy()
    v = frame["value"].to_numpy()
    wrong = ((legs == "long") & (v < 0)) | ((legs == "short") & (v > 0))
    if wrong.any():
        r = frame[wrong].iloc[0]
        raise _err(path, f"{r['ticker']} on {pd.Timestamp(r['date']).date()} is in the "
                   f"{r['leg']} leg with {unit} {r['value']:g}",
                   "long rows are >= 0 and short rows <= 0")


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> BookFile:
    """The parsed, checked book file, cached by (path, mtime, size): read, one layout, checks."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    raw = _read_table(path)
    rows = np.arange(len(raw)) + 2   # line numbers as an editor shows them (header = 1)
    if "ticker" in [c.lower() for c in raw.columns]:
        frame, unit = _long_frame(raw, path, rows)
        layout = "long"
    else:
        frame, layout, unit = _wide_frame(raw, path, rows), "wide", "weight"
    _check_rows(frame, path, unit)
    frame = frame.sort_values(["date", "ticker", "leg"], kind="stable").reset_index(drop=True)
    return BookFile(path=path, units=unit, frame=frame, sha256=digest, layout=layout)


def read_book_file(path: str | Path) -> BookFile:
    """Parse and check a book file on its own (layout, dates, numbers, duplicates, signs).

    Cached by (path, modification time, size): the engines and the sweep's workers read it once.
    """
    p = Path(path)
    if not p.is_file():
        raise SqueezeLabError(f"book file {p} not found: give a CSV such as date,ticker,weight "
                              "(see squeeze-lab run --help)")
    st = p.stat()
    return _read_cached(str(p), st.st_mtime_ns, st.st_size)


def _unknown_tickers(book: BookFile, market: Market) -> None:
    known = set(map(str, market.tickers))
    names = pd.unique(book.frame["ticker"])
    missing = [t for t in names if t not in known]
    dropped = _dropped_by_the_feed(market, missing)
    if dropped:
        raise SqueezeLabError(
            f"book file {book.path}: {', '.join(list(dropped)[:5])} is in the data but was dropped "
            f"from the universe ({next(iter(dropped.values()))}): remove it from the book, or keep "
            "it (data.suspicious=\"keep\", or take it out of data.exclude)")
    if missing:
        close = difflib.get_close_matches(missing[0], list(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SqueezeLabError(
            f"book file {book.path}: {len(missing)} ticker(s) not in the market's data, e.g. "
            f"{', '.join(missing[:5])}{hint}: add them to the data or remove them from the book")


def _dropped_by_the_feed(market: Market, tickers: list[str]) -> dict[str, str]:
    """Which of ``tickers`` the feed dropped (its ``excluded ...: A, B`` notes), with the reason:
    a book naming them is told so, not that they are missing from the data."""
    out: dict[str, str] = {}
    for note in market.notes:
        head, _, rest = str(note).partition(": ")
        if not head.startswith("excluded "):
            continue
        names = set(re.findall(r"[A-Za-z0-9.\-]+", rest.split(" (")[0]))
        out.update({t: head for t in tickers if t in names and t not in out})
    return out


def book_weights(book: BookFile, market: Market, capital: float,
                 trade: bool = True) -> dict[str, pd.DataFrame]:
    """Per-leg weights (book dates x market tickers), checked against the market.

    Refused: tickers not in the data, dates outside it, dates that are not sessions of the data,
    the last session (no next bar to fill at), a non-zero target in a name that is not listed at
    the signal close or the next bar, and a date whose net long exceeds :data:`MAX_NET_LONG`.
    ``trade=False`` (the monitor: the book as held, nothing filled) drops the two next-bar rules.
    """
    _unknown_tickers(book, market)
    dates = market.dates
    f = book.frame
    bdates = book.dates
    first, last = dates[0], dates[-1]
    outside = bdates[(bdates < first) | (bdates > last)]
    if len(outside):
        raise SqueezeLabError(
            f"book file {book.path}: date {outside[0].date()} is outside the data "
            f"({first.date()}..{last.date()}): widen --start/--end or drop those dates")
    row = dates.get_indexer(bdates)
    if (row < 0).any():
        d = bdates[row < 0][0]
        prev = dates[dates.searchsorted(d) - 1]
        raise SqueezeLabError(
            f"book file {book.path}: {d.date()} is not a trading session of the data: "
            f"date the block on a session (e.g. {prev.date()}, the session before)")
    if trade and row.max() == len(dates) - 1:
        raise SqueezeLabError(
            f"book file {book.path}: {last.date()} is the data's last session, there is no next "
            "bar to trade at: drop that block or extend --end")
    tick_col = market.tickers.get_indexer(f["ticker"])
    date_row = bdates.get_indexer(f["date"])
    value = f["value"].to_numpy(np.float64)
    if book.units == "shares":
        close = market.close.to_numpy(np.float64)[row[date_row], tick_col]
        value = value * np.where(np.isfinite(close), close, 0.0) / capital
    leg = f["leg"].to_numpy()
    leg = np.where(leg == "", np.where(value >= 0, "long", "short"), leg)
    listed = market.tradable.to_numpy(bool)
    live = listed[row[date_row], tick_col]
    if trade:
        live = live & listed[row[date_row] + 1, tick_col]
    dead = (f["value"].to_numpy() != 0) & ~live
    if dead.any():
        i = int(np.argmax(dead))
        raise SqueezeLabError(
            f"book file {book.path}: {f['ticker'].iloc[i]} has a target on "
            f"{pd.Timestamp(f['date'].iloc[i]).date()} but is not listed then or on the next "
            "session: set it to 0 or move the block to a date when it trades")
    out = {}
    for name in LEGS:
        arr = np.zeros((len(bdates), len(market.tickers)))
        m = leg == name
        np.add.at(arr, (date_row[m], tick_col[m]), value[m])
        out[name] = pd.DataFrame(arr, index=bdates, columns=market.tickers) + 0.0
    net = (out["long"] + out["short"] + out["hedge"]).sum(axis=1)
    over = net > MAX_NET_LONG + 1e-12
    if over.any():
        d = net.index[over.to_numpy()][0]
        raise SqueezeLabError(
            f"book file {book.path}: net long {net[d]:.4f} of equity on {d.date()} cannot be "
            f"funded (longs are paid with equity plus short proceeds, with headroom for costs and "
            f"overnight gaps): keep long - short <= {MAX_NET_LONG:g}, e.g. scale the longs down")
    return out


def own_book_targets(market: Market, path: str | Path, capital: float = 1_000_000.0) -> Targets:
    """The user's book as :class:`Targets`: every file date a full rebalance (reason ``rebalance``).

    Parameters
    ----------
    market : Market
    path : str or Path
        The book file (see the module docstring for the layouts).
    capital : float
        Shares files only: the equity the share counts belong to (weights = shares x close /
        capital).
    """
    if not capital > 0:
        raise SqueezeLabError(f"book.capital={capital} must be > 0: give the account size the "
                              "share counts belong to, e.g. 1000000")
    book = read_book_file(path)
    legs = book_weights(book, market, float(capital))
    idx = legs["long"].index
    return Targets(legs=legs, resize=pd.DataFrame(True, index=idx, columns=market.tickers),
                   reasons=pd.Series("rebalance: own book", index=idx, dtype=object))
