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

Reference tickers (``index_ticker``, ``growth_ticker``: an index ETF, a growth ETF) are read from
the prices or from a second price file of reference tickers (``reference_prices``, any layout
above, e.g. ``etf_close.csv.gz`` with ``date,ticker,close``); they are reference series, never
traded. Tickers are not case-sensitive (upper-cased on reading).

Every problem is reported as one :class:`~feeds.errors.SqueezeLabError` naming ``file:line`` and
the fix; the only silent-looking repairs (forward-filling a missing bar, excluding names, keeping
suspicious prices) are opt-in and recorded in ``Market.notes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .attributes import align_attributes, read_attributes
from .errors import SqueezeLabError
from .manifest import Manifest
from .market import Market
from .panel import (
    MAX_GAP_DAYS,
    Panel,
    build_frames,
    clean_ticker_list,
    cut_dates,
    drop_empty,
    exclude_tickers,
    find_suspicious,
    normalize_tickers,
    screen_suspicious,
)
from .reference import build_reference, returns_of
from .short_interest import market_short_interest
from .tables import (
    Table,
    csv_stem,
    dates_or_fail,
    find_csv,
    is_csv,
    numbers_or_fail,
    parse_numbers,
    read_series,
    read_table,
)
from .yahoo import ProgressFn, yahoo_attributes

__all__ = ["MAX_GAP_DAYS", "RESERVED_STEMS", "csv_market", "read_series"]

#: Price fields a file may give, with ``adj_close`` last (it only rescales the others).
PRICE_FIELDS = ("open", "high", "low", "close", "volume", "adj_close")
#: Lower-case file stems with a meaning of their own in a data folder (never read as tickers).
RESERVED_STEMS = frozenset({
    "prices", "open", "high", "low", "close", "volume", "adj_close", "attributes",
    "short_interest", "days_to_cover", "reference", "factors", "manifest", "readme",
})


def _fail(message: str) -> SqueezeLabError:
    return SqueezeLabError(message)


# =============================================================================== layouts
def _long_tables(tables: Sequence[tuple[Table, str | None]]) -> Panel:
    """Stack long tables (file, ticker given by the file name or None) into a panel."""
    first = tables[0][0]
    fields = _long_fields(tables)
    files = [t.path for t, _ in tables]
    file_idx = np.concatenate([np.full(len(t), k, dtype=np.int64) for k, (t, _) in enumerate(tables)])
    line_no = np.concatenate([t.lines for t, _ in tables])
    n = len(file_idx)
    if n == 0:
        raise _fail(f"{first.path}: no data rows: the file has only a header")

    def loc_row(r: int) -> str:
        return f"{files[int(file_idx[r])]}:{int(line_no[r])}"

    tick = np.array([str(v).strip() for v in _stacked(tables, "ticker")], dtype=object)
    _check_long_tickers(tables, tick, file_idx, loc_row)
    dates = dates_or_fail(loc_row, _stacked(tables, "date"))
    _check_unique_rows(dates, tick, loc_row)
    udates = pd.DatetimeIndex(np.unique(dates))
    tickers = list(pd.unique(tick))
    tcode = pd.Index(tickers).get_indexer(tick)
    dcode = udates.get_indexer(pd.DatetimeIndex(dates))
    row_of = np.full((len(udates), len(tickers)), -1, dtype=np.int64)
    row_of[dcode, tcode] = np.arange(n)
    values: dict[str, np.ndarray] = {}
    for f in fields:
        arr = np.full(row_of.shape, np.nan)
        arr[dcode, tcode] = numbers_or_fail(loc_row, f, _stacked(tables, f))
        values[f] = arr
    source = files[0] if len(files) == 1 else str(Path(files[0]).parent)
    return Panel(udates, [str(t) for t in tickers], values, row_of >= 0,
                 _bar_locator(row_of, loc_row), source, wide=False)


def _long_fields(tables: Sequence[tuple[Table, str | None]]) -> list[str]:
    """The price fields of the first file, after checking every header (same columns in all)."""
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
    return fields


def _stacked(tables: Sequence[tuple[Table, str | None]], name: str) -> np.ndarray:
    """One column over all files, in file order (a per-ticker file's name stands in for ticker)."""
    parts = []
    for t, fixed in tables:
        if name == "ticker" and fixed is not None and not t.has("ticker"):
            parts.append(np.full(len(t), fixed, dtype=object))
        else:
            parts.append(t.col(name))
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _check_long_tickers(tables: Sequence[tuple[Table, str | None]], tick: np.ndarray,
                        file_idx: np.ndarray, loc_row: Callable[[int], str]) -> None:
    """Refuse a per-ticker file naming another ticker, and rows with no ticker."""
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


def _check_unique_rows(dates: np.ndarray, tick: np.ndarray, loc_row: Callable[[int], str]) -> None:
    """Refuse two rows for one (date, ticker), naming the later row and the first."""
    key = pd.DataFrame({"d": dates, "t": tick})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        later = np.flatnonzero(key.duplicated(keep="first").to_numpy())[0]
        same = np.flatnonzero(dup & (dates == dates[later]) & (tick == tick[later]))
        raise _fail(f"{loc_row(int(later))}: duplicate row for {tick[later]} on "
                    f"{pd.Timestamp(dates[later]).date()} (first at {loc_row(int(same[0]))}): "
                    "remove one of them")


def _bar_locator(row_of: np.ndarray, loc_row: Callable[[int], str]
                 ) -> Callable[[str, int, int], str]:
    """``where(field, i, j)`` for the panel: the file line of a bar (a missing one: its neighbour)."""
    def where(_field: str, i: int, j: int) -> str:
        col = row_of[:, j]
        r = col[i]
        if r < 0:  # a missing bar: point at the next row of that ticker (or the previous one)
            after = col[i:][col[i:] >= 0]
            before = col[:i][col[:i] >= 0]
            r = after[0] if len(after) else before[-1]
        return loc_row(int(r))

    return where


def _wide_tables(tables: dict[str, Table]) -> Panel:
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
        di = pd.DatetimeIndex(dates_or_fail(t.loc, t.cells[:, 0]))
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

    return Panel(ref_dates, tickers, values, present, where, str(Path(close.path).parent), wide=True)



def price_panel(path: Path) -> Panel:
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
    prices = find_csv(path, "prices")
    close = find_csv(path, "close")
    if prices is not None and close is not None:
        raise _fail(f"{path}: holds both {prices.name} (long) and {close.name} (wide): keep one layout")
    if prices is not None:
        return _long_tables([(read_table(prices), None)])
    if close is not None:
        tables = {"close": read_table(close)}
        for f in ("open", "high", "low", "volume", "adj_close"):
            q = find_csv(path, f)
            if q is not None:
                tables[f] = read_table(q)
        return _wide_tables(tables)
    files = sorted(q for q in path.iterdir()
                   if is_csv(q) and csv_stem(q).lower() not in RESERVED_STEMS)
    if not files:
        raise _fail(f"{path}: no price files: put prices.csv (long), close.csv (wide) or one "
                    "TICKER.csv per ticker in the folder")
    return _long_tables([(read_table(q), csv_stem(q)) for q in files])




def unread_files_note(folder: Path) -> list[str]:
    """A folder read through its prices/close file also holds CSV files no layout reads (e.g. the
    ETF closes beside the stocks): one note naming them, so they are not ignored silently."""
    main = find_csv(folder, "prices") or find_csv(folder, "close")
    if main is None:  # one file per ticker: every other CSV file is read as a ticker
        return []
    unread = sorted(q.name for q in folder.iterdir()
                    if is_csv(q) and csv_stem(q).lower() not in RESERVED_STEMS)
    if not unread:
        return []
    return [f"data folder {folder}: read {main.name}; not read: {', '.join(unread)} (a folder with "
            f"{main.name} reads only its side files attributes, short_interest, days_to_cover, "
            "reference and factors): give reference tickers with data.reference_prices=PATH, "
            "or move the file out"]


# =============================================================================== the feed
@dataclass
class _Prices:
    """Validated price frames of the tradable universe and of the reference tickers."""

    frames: dict[str, pd.DataFrame]
    fill_model: str
    source: str
    ref_returns: dict[str, pd.Series]
    ref_labels: dict[str, str]
    cut_at: str | None = None   # the requested end, when the data goes on after it


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
    exclude: Sequence[str] = (),
    suspicious: str = "stop",
    reference_prices: str | Path | None = None,
    optional_references: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
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
    index_ticker, growth_ticker : tickers (in the prices or in ``reference_prices``) whose returns
        are the index / growth reference series; never traded.
    si_lag, si_max_age : sessions between a short-interest settlement and its first use, and
        after which it is stale (see :mod:`feeds.short_interest`).
    start, end : keep only these dates (inclusive); None: the data's own first / last date.
    exclude : tickers dropped from the universe (noted); each must be in the data.
    suspicious : what to do with names that have a suspicious one-day move (:mod:`feeds.checks`):
        ``"stop"`` (one error line naming them), ``"keep"`` (noted) or ``"exclude"`` (noted).
    reference_prices : a second price file (any layout above) of reference tickers, never traded.
    optional_references : roles ("index", "growth") whose ticker, when found nowhere, falls back to
        the series built from the universe (noted) instead of being an error (the configuration's
        default tickers).
    cache_dir, progress : for ``attributes="yahoo"`` (Yahoo's Ticker.info for the CSV's tickers,
        cached like :func:`feeds.yahoo.yahoo_market`'s).
    """
    src = Path(path).expanduser()
    if ffill_limit < 0:
        raise _fail(f"ffill_limit {ffill_limit} is negative: give 0 or more")
    folder = src if src.is_dir() else None
    notes: list[str] = []
    manifest = Manifest.read(folder)
    if manifest is not None and manifest.suspicious == "keep" and suspicious == "stop":
        suspicious = "keep"   # exported from a market whose suspicious moves were kept
    prices = _read_prices(src, start, end, exclude, suspicious, int(ffill_limit), max_gap_days,
                          reference_prices, index_ticker, growth_ticker, optional_references, notes)
    frames, close = prices.frames, prices.frames["close"]
    att = _csv_attributes(attributes, folder, close.columns, manifest, cache_dir, progress, notes)
    si, dtc, si_info = market_short_interest(_side_file(short_interest, "short_interest", folder),
                                             _side_file(days_to_cover, "days_to_cover", folder),
                                             close.index, close.columns, si_lag, si_max_age,
                                             frames["volume"], notes)
    ref, labels, built_basket = _reference(close, att, si, dtc,
                                           _side_file(reference, "reference", folder),
                                           prices, manifest, notes)
    if si_info is not None and built_basket:
        si_info = replace(si_info, reference_basket=True)
    fac = _factors(_side_file(factors, "factors", folder), close.index)
    meta, fill_model, synthetic, seed = _provenance(src, reference_prices, labels, manifest, frames,
                                                    si, dtc, prices, notes)
    return Market(
        open=frames["open"], high=frames["high"], low=frames["low"], close=frames["close"],
        volume=frames["volume"], attributes=att, reference=ref, factors=fac,
        short_interest=si, days_to_cover=dtc, short_info=si_info, source="csv",
        synthetic=synthetic, seed=seed,
        fill_model=fill_model, notes=tuple(notes), meta=meta,
        suspicious="keep" if suspicious == "keep" else "stop",
    )


def _side_file(arg: str | Path | None, stem: str, folder: Path | None) -> Path | None:
    """A side file (attributes, short interest, ...): the one given (checked), else the folder's."""
    if arg is not None:
        p = Path(arg).expanduser()
        if stem == "short_interest" and p.is_dir():  # a folder of FINRA files
            return p
        if not p.is_file():
            where = (f"data.{stem}" if stem == "short_interest"
                     else f"the --{stem.replace('_', '-')} path")
            raise _fail(f"{p}: no such file: check {where}")
        return p
    return find_csv(folder, stem) if folder is not None else None


def _factors(path: Path | None, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Factor returns on the prices' dates from ``factors.csv`` (empty: none given)."""
    return read_series(path, dates, "factors") if path is not None else pd.DataFrame()


def _provenance(src: Path, reference_prices: str | Path | None, labels: dict[str, str],
                manifest: Manifest | None, frames: dict[str, pd.DataFrame],
                si: pd.DataFrame | None, dtc: pd.DataFrame | None, prices: _Prices,
                notes: list[str]) -> tuple[dict[str, Any], str, bool, int | None]:
    """The market's meta (its files, the series' labels, where ``end`` cut data that goes on),
    fill model, synthetic flag and seed: an exported folder restores the last three from its
    manifest."""
    meta: dict[str, Any] = {"path": str(src)}
    fill_model = prices.fill_model
    if prices.cut_at is not None:   # the data goes on after the requested end
        meta["cut_at"] = prices.cut_at
    if reference_prices is not None:
        meta["reference_prices"] = str(reference_prices)
    meta.update({f"{role}_label": label for role, label in labels.items()})
    if manifest is None:
        return meta, fill_model, False, None
    return (meta, *_restore_export(manifest, frames, si, dtc, fill_model, notes, meta))


def _csv_attributes(attributes: str | Path | None, folder: Path | None, tickers: pd.Index,
                    manifest: Manifest | None, cache_dir: str | Path | None,
                    progress: ProgressFn | None, notes: list[str]) -> pd.DataFrame:
    """Attributes from Yahoo (``attributes="yahoo"``), the file given or the folder's, aligned."""
    if isinstance(attributes, str) and attributes.strip().lower() == "yahoo":
        att, more = yahoo_attributes("yahoo", list(tickers), cache_dir=cache_dir, progress=progress)
        notes.extend(more)
        return att
    return _attributes(_side_file(attributes, "attributes", folder), tickers, manifest, notes)


def _read_prices(src: Path, start: Any, end: Any, exclude: Sequence[str], suspicious: str,
                 ffill_limit: int, max_gap_days: int | None, reference_prices: str | Path | None,
                 index_ticker: str | None, growth_ticker: str | None, optional: Sequence[str],
                 notes: list[str]) -> _Prices:
    """The price panel cut to the dates, names excluded, validated, reference tickers taken out
    and suspicious moves screened."""
    full = price_panel(src)
    if src.is_dir():
        notes.extend(unread_files_note(src))
    panel = normalize_tickers(cut_dates(full, start, end))
    cut_at = f"{pd.Timestamp(end):%Y-%m-%d}" if full.dates[-1] > panel.dates[-1] else None
    panel = drop_empty(exclude_tickers(panel, clean_ticker_list(exclude, "data.exclude"), notes),
                       notes)
    frames, fill_model = build_frames(panel, ffill_limit, max_gap_days, notes)
    roles = {role: clean_ticker_list([tk], f"data.{role}")[0]
             for role, tk in (("index", index_ticker), ("growth", growth_ticker))
             if tk is not None and str(tk).strip() and str(tk).strip().lower() != "none"}
    extra = _reference_frame(reference_prices, frames["close"].index, notes)
    returns, labels, in_prices = {}, {}, []
    for role, tk in roles.items():
        if tk in frames["close"].columns:
            returns[role] = frames["close"][tk].ffill().pct_change(fill_method=None)
            labels[role] = f"{tk} (from {Path(panel.source).name})"
            in_prices.append(tk)
            notes.append(f"reference {role}: returns of {tk} (removed from the tradable universe)")
        elif extra is not None and tk in extra.columns:
            returns[role] = returns_of(extra[tk], frames["close"].index)
            labels[role] = f"{tk} (from {Path(str(reference_prices)).name})"
            notes.append(f"reference {role}: returns of {tk} from {reference_prices}")
        elif role in optional:
            notes.append(f"reference {role}: no {tk} in the data"
                         + ("" if extra is None else f" nor in {reference_prices}")
                         + " (give it with data.reference_prices): the universe stands in "
                         "where it can (said below)")
        else:
            where = "the prices" + ("" if extra is None else f" or {reference_prices}")
            raise _fail(f"{panel.source}: no price column {tk!r} in {where} for the {role} reference: "
                        f"check data.{role}, or give a file of reference prices with "
                        "data.reference_prices (e.g. etf_close.csv.gz), or data."
                        f"{role}=\"none\" to build it from the universe")
    found = [s for s in find_suspicious(panel, frames["close"]) if s.ticker not in in_prices]
    if in_prices:
        keep = [t for t in frames["close"].columns if t not in in_prices]
        if not keep:
            raise _fail(f"{panel.source}: only reference tickers left: give some tradable tickers")
        frames = {k: v[keep] for k, v in frames.items()}
        live = frames["close"].notna().any(axis=1).to_numpy()
        frames = {k: v.loc[live] for k, v in frames.items()}
        returns = {k: v.loc[live] for k, v in returns.items()}
    frames = screen_suspicious(frames, found, suspicious, panel.source, notes)
    return _Prices(frames, fill_model, panel.source, returns, labels, cut_at)


def _reference_frame(path: str | Path | None, dates: pd.DatetimeIndex,
                     notes: list[str]) -> pd.DataFrame | None:
    """Closes of the reference tickers in a second price file (any layout), or None."""
    if path is None or not str(path).strip():
        return None
    p = Path(path).expanduser()
    if not p.exists():
        raise _fail(f"{p}: no such file: check data.reference_prices")
    panel = normalize_tickers(price_panel(p))
    frames, _ = build_frames(drop_empty(panel, []), 0, None, [])
    close = frames["close"]
    covered = close.index[(close.index >= dates[0]) & (close.index <= dates[-1])]
    if len(covered) == 0:
        raise _fail(f"{p}: reference prices {close.index[0].date()}..{close.index[-1].date()} do "
                    f"not overlap the prices ({dates[0].date()}..{dates[-1].date()}): give "
                    "reference prices for the same dates")
    return close


def _attributes(path: Path | None, tickers: pd.Index, manifest: Manifest | None,
                notes: list[str]) -> pd.DataFrame:
    """The attributes table aligned to the tickers (an export's restored exactly)."""
    if path is None:
        att, more = align_attributes(None, tickers)
        notes.extend(more)
        return att
    table = read_attributes(path, dtypes=manifest.attribute_dtypes if manifest else None)
    if manifest is not None and set(tickers) <= set(table.index):
        att = table.reindex(tickers)
        att.index = tickers.rename(manifest.attributes_index_name)
        return att
    att, more = align_attributes(table, tickers, source=str(path))
    notes.extend(more)
    return att


def _reference(close: pd.DataFrame, att: pd.DataFrame, si: pd.DataFrame | None,
               dtc: pd.DataFrame | None, ref_path: Path | None, prices: _Prices,
               manifest: Manifest | None, notes: list[str]
               ) -> tuple[pd.DataFrame, dict[str, str], bool]:
    """Reference series: a complete ``reference.csv`` as given, else built (tickers' returns, then
    the universe), with the file's columns on top; the labels of index and growth; and whether
    the most-shorted basket is the one built here from the short interest."""
    given = read_series(ref_path, close.index, "reference") if ref_path is not None else None
    exact = manifest is not None
    full = {"index", "growth", "most_shorted", "unprofitable_tech"}
    if given is not None and (exact or set(given.columns) >= full) and not prices.ref_returns:
        notes.append(f"reference series read from {ref_path}")
        return given, {c: f"{c} from {Path(ref_path).name}" for c in ("index", "growth")
                       if c in given.columns}, False
    if exact and given is None and not prices.ref_returns:
        return pd.DataFrame(), {}, False
    built = build_reference(close, att, si, days_to_cover=dtc, index=prices.ref_returns.get("index"),
                            growth=prices.ref_returns.get("growth"),
                            index_label=prices.ref_labels.get("index"),
                            growth_label=prices.ref_labels.get("growth"))
    notes.extend(built.notes)
    ref, labels = built.frame, built.labels
    built_basket = "most_shorted" in ref.columns
    if given is not None:
        for col in given.columns:
            ref[col] = given[col]
            if col in ("index", "growth"):
                labels[col] = f"{col} from {Path(ref_path).name}"
        built_basket = built_basket and "most_shorted" not in given.columns
        notes.append(f"reference series {', '.join(map(str, given.columns))} read from {ref_path}")
    return ref, labels, built_basket


def _restore_export(manifest: Manifest, frames: dict[str, pd.DataFrame], si: pd.DataFrame | None,
                    dtc: pd.DataFrame | None, fill_model: str, notes: list[str],
                    meta: dict[str, Any]) -> tuple[str, bool, int | None]:
    """A folder written by export_market: restore fill model, column names, notes, provenance."""
    meta["exported_from"] = manifest.source
    if manifest.fill_model == "next_close":
        fill_model = "next_close"
    if manifest.columns_name is not None:
        for f in [*frames.values(), si, dtc]:
            if f is not None:
                f.columns.name = manifest.columns_name
    for n in manifest.notes:
        notes.append(f"(as exported) {n}")
    if manifest.synthetic:
        notes.insert(0, f"SYNTHETIC data: exported from a {manifest.source} market (seed "
                        f"{manifest.raw_seed}), not real prices")
    return fill_model, manifest.synthetic, manifest.seed
