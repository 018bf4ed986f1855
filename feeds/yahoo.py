"""Real daily prices from Yahoo Finance (yfinance 1.7) as a :class:`~feeds.market.Market`, cached on disk.

``yahoo_market(tickers, start, end)`` downloads adjusted daily bars in batches through
``yfinance.download(..., auto_adjust=True, group_by="column", multi_level_index=True)``, keeps them
in the parquet cache of :mod:`feeds.cache` (a second run of the same range downloads nothing; a
longer range downloads only the missing part, plus a short overlap that proves the cached prices
were adjusted the same way), and builds the market: prices, reference series (the index and growth
ETFs' returns, the junk baskets from the universe when attributes allow), attributes and optional
point-in-time short interest.

yfinance never raises for an unknown or delisted symbol, nor for a rate limit inside a batch: it
logs and returns empty or all-NaN columns. Those are detected here and reported as one
:class:`~feeds.errors.SqueezeLabError` line naming the tickers and the fix; with
``drop_missing=True`` unknown tickers are dropped instead and listed in ``Market.notes``/``meta``.
The run never proceeds on silently missing data. Nothing here prints: progress goes to the
``progress(what, done, total)`` callback the command line supplies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .attributes import INFO_KEYS, align_attributes, attributes_from_info, read_attributes
from .cache import (
    PRICE_COLUMNS,
    CacheEntry,
    PriceCache,
    configure_yfinance_cache,
    empty_bars,
    missing_segments,
)
from .errors import SqueezeLabError
from .market import Market, normalize_index
from .panel import (
    Panel,
    build_frames,
    clean_ticker_list,
    drop_empty,
    find_suspicious,
    screen_suspicious,
)
from .reference import References, build_reference, returns_of
from .short_interest import market_short_interest

#: ``progress(what, done, total)`` (``what``: "prices" or "attributes"): called before the first
#: and after every batch.
ProgressFn = Callable[[str, int, int], None]
#: Calendar days of already-cached data re-downloaded next to an extension, to check adjustments.
OVERLAP_DAYS = 10
#: Relative difference of a re-downloaded close above which the cached prices count as re-adjusted.
ADJUST_TOLERANCE = 1e-6
#: The keyword arguments of every ``yfinance.download`` call.
DOWNLOAD_KWARGS: dict[str, Any] = {
    "auto_adjust": True, "group_by": "column", "progress": False, "threads": True,
    "multi_level_index": True, "interval": "1d",
}
_FIELD_MAP = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}
_DAY = pd.Timedelta(days=1)


# =============================================================================== yfinance frames
def split_download(frame: pd.DataFrame | None, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Per-symbol bars (date-indexed float64 open..volume, rows without a close dropped).

    Accepts what ``yfinance.download`` returns for one or several tickers: a ``['Price', 'Ticker']``
    (or ``['Ticker', 'Price']``) column MultiIndex, or single-level price columns for one ticker.
    A symbol absent from the frame, or with only NaN, gets an empty frame.
    """
    out = {s: empty_bars() for s in symbols}
    if frame is None or not isinstance(frame, pd.DataFrame) or frame.empty:
        return out
    cols = frame.columns
    if isinstance(cols, pd.MultiIndex):
        if cols.nlevels != 2:
            raise SqueezeLabError(f"unexpected yfinance column levels {list(cols.names)}: "
                                  "upgrade squeeze-lab or pin yfinance 1.7")
        lv0 = set(map(str, cols.get_level_values(0)))
        price_level = 0 if lv0 & set(_FIELD_MAP) else 1
        tick_level = 1 - price_level
        present = set(map(str, cols.get_level_values(tick_level)))
        for s in symbols:
            if s not in present:
                continue
            sub = frame.xs(s, axis=1, level=tick_level)
            out[s] = _bars(sub)
    else:
        if len(symbols) != 1:
            raise SqueezeLabError("yfinance returned single-level columns for several tickers: "
                                  "download with multi_level_index=True")
        out[symbols[0]] = _bars(frame)
    return out


def _bars(sub: pd.DataFrame) -> pd.DataFrame:
    data = {}
    for src, dst in _FIELD_MAP.items():
        col = sub[src] if src in sub.columns else pd.Series(np.nan, index=sub.index)
        if isinstance(col, pd.DataFrame):  # repeated column: keep the first
            col = col.iloc[:, 0]
        data[dst] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bars = pd.DataFrame(data, index=normalize_index(sub.index), columns=list(PRICE_COLUMNS))
    bars = bars[np.isfinite(bars["close"].to_numpy())]
    bars = bars[~bars.index.duplicated(keep="last")].sort_index()
    return bars


class _LogCapture(logging.Handler):
    """Collects yfinance's error lines (it reports failed tickers by logging, not raising)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log record must not break the download
            pass

    def by_symbol(self, symbols: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for msg in self.messages:
            for line in msg.strip().splitlines():
                m = re.match(r"^\[(.*?)\]:\s*(.*)$", line.strip())
                if m:
                    names = re.findall(r"'([^']+)'", m.group(1))
                    for n in names:
                        out.setdefault(n.upper(), m.group(2))
                    continue
                m = re.match(r"^\$?([A-Za-z0-9.\-^=_]+):\s*(.*)$", line.strip())
                if m and m.group(1).upper() in symbols:
                    out.setdefault(m.group(1).upper(), m.group(2))
        return out


@contextlib.contextmanager
def _capture_yf_log() -> Iterator[_LogCapture]:
    """Collect yfinance's log lines instead of letting them reach stderr, and silence the warnings
    yfinance 1.7 itself triggers under pandas 3 (``inplace`` deprecations in ``download``)."""
    logger = logging.getLogger("yfinance")
    handler = _LogCapture()
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"yfinance(\..*)?$")
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


def _is_rate_limit(text: str) -> bool:
    return bool(re.search(r"RateLimit|Too Many Requests|rate.?limit", text, re.IGNORECASE))


def _is_hard_error(text: str) -> bool:
    return _is_rate_limit(text) or (
        bool(re.search(r"\w+(Error|Exception)\(", text)) and "possibly delisted" not in text)


def _rate_limited(done: int) -> SqueezeLabError:
    cached = f"; the {done} ticker(s) already downloaded are cached" if done else ""
    return SqueezeLabError(f"Yahoo rate-limited the download (Too Many Requests): wait a few minutes "
                           f"and retry, or use smaller batches (--set data.batch_size=20){cached}")


def _call_download(symbols: list[str], start: pd.Timestamp, end: pd.Timestamp,
                   done: int) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """One ``yfinance.download`` call for ``[start, end]`` (inclusive); exceptions become one line."""
    import yfinance as yf
    from yfinance.exceptions import YFRateLimitError

    with _capture_yf_log() as log:
        try:
            frame = yf.download(
                list(symbols), start=start.strftime("%Y-%m-%d"),
                end=(end + _DAY).strftime("%Y-%m-%d"), **DOWNLOAD_KWARGS,
            )
        except YFRateLimitError as err:
            raise _rate_limited(done) from err
        except SqueezeLabError:
            raise
        except Exception as err:  # noqa: BLE001 - network stacks raise many types; report them all
            text = f"{type(err).__name__}: {err}"
            if _is_rate_limit(text):
                raise _rate_limited(done) from err
            raise SqueezeLabError(
                f"download from Yahoo failed ({text[:120]}): check the network connection and "
                "retry; ranges already in the cache need no network"
            ) from err
    return frame, log.by_symbol(symbols)


# =============================================================================== download + cache
@dataclass
class BarsResult:
    """Bars per symbol for the requested range, failures with their reason, and cache notes."""

    bars: dict[str, pd.DataFrame]
    failed: dict[str, str]
    notes: list[str] = field(default_factory=list)
    requests: list[tuple[list[str], str, str]] = field(default_factory=list)
    from_cache: list[str] = field(default_factory=list)


def download_bars(
    symbols: Sequence[str],
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    cache_dir: str | Path | None = None,
    refresh: bool = False,
    batch_size: int = 50,
    progress: ProgressFn | None = None,
) -> BarsResult:
    """Adjusted daily bars of ``symbols`` over ``[start, end]`` (inclusive), from cache or Yahoo.

    Only the parts of the range the cache does not cover are downloaded (``refresh`` downloads
    everything again), in batches of ``batch_size`` symbols sharing the same missing range. An
    extension re-downloads ``OVERLAP_DAYS`` of cached data: if those closes differ (a dividend or
    split re-adjusted history since the cache was written) the symbol's whole range is downloaded
    again. A corrupt cache file is reported in ``notes`` and downloaded again. Symbols Yahoo gave
    nothing for land in ``failed`` (symbol -> reason); exceptions and rate limits raise.
    """
    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if batch_size < 1:
        raise SqueezeLabError(f"batch size {batch_size} must be at least 1: use e.g. --set data.batch_size=50")
    cache = PriceCache(cache_dir)
    configure_yfinance_cache(cache.root)
    result = BarsResult(bars={}, failed={})
    state, plan = _plan_downloads(symbols, s, e, cache, refresh, result)
    jobs = [(key, syms[i:i + batch_size]) for key, syms in plan.items()
            for i in range(0, len(syms), batch_size)]
    total = sum(len(b) for _, b in jobs)
    done = 0
    redo: list[str] = []
    if progress is not None and total:
        progress("prices", 0, total)
    for (a, b, extension), planned in jobs:
        batch = [x for x in planned if x not in result.failed and x not in redo]
        if batch:  # else all of them already failed or are queued for a full download
            got, reasons = _fetch_batch(batch, a, b, done, result)
            _absorb_batch(batch, got, reasons, a, b, extension, (s, e), cache, state, result, redo)
        done += len(planned)
        if progress is not None:
            progress("prices", done, total)
    for i in range(0, len(redo), batch_size):  # re-adjusted since cached: the whole range again
        batch = redo[i:i + batch_size]
        got, reasons = _fetch_batch(batch, s, e, done, result)
        _absorb_batch(batch, got, reasons, s, e, False, (s, e), cache, state, result, redo)
    _collect_bars(symbols, state, s, e, result)
    return result


def _plan_downloads(symbols: Sequence[str], s: pd.Timestamp, e: pd.Timestamp, cache: PriceCache,
                    refresh: bool, result: BarsResult
                    ) -> tuple[dict[str, CacheEntry | None],
                               dict[tuple[pd.Timestamp, pd.Timestamp, bool], list[str]]]:
    """Each symbol's cache entry, and the symbols grouped by the range (and kind) to download:
    a whole range, or an extension reaching ``OVERLAP_DAYS`` into the cached block."""
    state: dict[str, CacheEntry | None] = {}
    plan: dict[tuple[pd.Timestamp, pd.Timestamp, bool], list[str]] = {}
    for sym in symbols:
        entry, warn = (None, None) if refresh else cache.load(sym)
        if warn:
            result.notes.append(warn)
        state[sym] = entry
        if entry is None:
            plan.setdefault((s, e, False), []).append(sym)
            continue
        segs = missing_segments(entry.start, entry.end, s, e)
        if not segs:
            result.from_cache.append(sym)
        for a, b in segs:
            if b < entry.start:  # before the cached block: reach into it to check adjustments
                b = min(entry.start - _DAY + pd.Timedelta(days=OVERLAP_DAYS), entry.end)
            else:
                a = max(entry.end + _DAY - pd.Timedelta(days=OVERLAP_DAYS), entry.start)
            plan.setdefault((a, b, True), []).append(sym)
    return state, plan


def _fetch_batch(batch: list[str], a: pd.Timestamp, b: pd.Timestamp, done: int,
                 result: BarsResult) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """One download request (recorded in ``result.requests``): bars and failure reasons by symbol."""
    frame, reasons = _call_download(batch, a, b, done)
    result.requests.append((list(batch), a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d")))
    return split_download(frame, batch), reasons


def _absorb_batch(batch: list[str], got: dict[str, pd.DataFrame], reasons: dict[str, str],
                  a: pd.Timestamp, b: pd.Timestamp, extension: bool,
                  asked: tuple[pd.Timestamp, pd.Timestamp], cache: PriceCache,
                  state: dict[str, CacheEntry | None], result: BarsResult, redo: list[str]) -> None:
    """Cache what one request brought: new ranges as given, extensions merged into the cached
    block; failures go to ``result.failed``, re-adjusted histories to ``redo`` (noted)."""
    for sym in batch:
        new, entry = got[sym], state[sym]
        reason = reasons.get(sym, "")
        if entry is None or not extension:
            if new.empty or _is_hard_error(reason):
                result.failed[sym] = reason or "no data returned"
                continue
            merged, cs, ce = new, a, b
        else:
            window = entry.frame.loc[a:b]
            if _is_hard_error(reason) or (len(window) and new.empty):
                result.failed[sym] = reason or "no data returned"
                continue
            if _readjusted(window, new):
                redo.append(sym)
                result.notes.append(
                    f"{sym}: cached prices were adjusted differently (a dividend or split "
                    f"since they were cached); downloaded {asked[0].date()}..{asked[1].date()} again")
                continue
            merged, cs, ce = _extend(entry, new, a, b)
        cache.store(sym, merged, cs, ce)
        state[sym] = CacheEntry(sym, merged, cs, ce)


def _readjusted(window: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Whether fresh closes differ from the cached ones on common dates (history re-adjusted)."""
    common = window.index.intersection(new.index)
    if not len(common):
        return False
    old_c = window.loc[common, "close"].to_numpy()
    new_c = new.loc[common, "close"].to_numpy()
    with np.errstate(all="ignore"):
        rel = np.nanmax(np.abs(new_c / old_c - 1.0))
    return bool(not np.isfinite(rel) or rel > ADJUST_TOLERANCE)


def _extend(entry: CacheEntry, new: pd.DataFrame, a: pd.Timestamp, b: pd.Timestamp
            ) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """The cached bars with ``[a, b]`` replaced by the fresh ones, and the range they now cover."""
    keep = entry.frame[(entry.frame.index < a) | (entry.frame.index > b)]
    merged = pd.concat([keep, new]).sort_index() if len(keep) else new
    return merged, min(entry.start, a), max(entry.end, b)


def _collect_bars(symbols: Sequence[str], state: dict[str, CacheEntry | None], s: pd.Timestamp,
                  e: pd.Timestamp, result: BarsResult) -> None:
    """Each symbol's bars over ``[s, e]`` into ``result.bars``; no bars there is a failure."""
    for sym in symbols:
        entry = state[sym]
        if sym in result.failed or entry is None:
            result.failed.setdefault(sym, "no data returned")
            continue
        bars = entry.frame.loc[s:e]
        if bars.empty:
            result.failed[sym] = f"no prices between {s.date()} and {e.date()}"
            continue
        result.bars[sym] = bars


# =============================================================================== attributes
def fetch_info(
    tickers: Sequence[str], cache_dir: str | Path | None = None, refresh: bool = False,
    progress: ProgressFn | None = None, today: pd.Timestamp | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Yahoo ``Ticker.info`` fields (``attributes.INFO_KEYS``) per ticker, cached; and notes."""
    import yfinance as yf
    from yfinance.exceptions import YFRateLimitError

    cache = PriceCache(cache_dir)
    day = (today or pd.Timestamp.today()).strftime("%Y-%m-%d")
    infos: dict[str, dict[str, Any]] = {}
    fetched: set[str] = set()
    failures: dict[str, str] = {}
    notes: list[str] = []
    todo = []
    for t in tickers:
        cached, warn = (None, None) if refresh else cache.load_info(t)
        if warn:
            notes.append(warn)
        if cached is None:
            todo.append(t)
        else:
            infos[t] = cached["info"]
            fetched.add(str(cached.get("fetched", "?")))
    if progress is not None and todo:
        progress("attributes", 0, len(todo))
    with _capture_yf_log():
        for k, t in enumerate(todo):
            try:
                info = yf.Ticker(t).info
            except YFRateLimitError as err:
                raise SqueezeLabError(
                    "Yahoo rate-limited the attribute look-ups (Too Many Requests): wait a few "
                    f"minutes and retry (the {k} fetched are cached), or give --attributes FILE"
                ) from err
            except Exception as err:  # noqa: BLE001 - yfinance raises many types per ticker
                failures[t] = f"{type(err).__name__}: {err}"[:100]
                info = None
            if not isinstance(info, dict) or not info:
                failures.setdefault(t, "no info returned")
                infos[t] = {}
            else:
                kept = {key: info.get(key) for key in INFO_KEYS if info.get(key) is not None}
                kept = {key: (v if isinstance(v, (str, int, float, bool)) else str(v))
                        for key, v in kept.items()}
                infos[t] = kept
                cache.store_info(t, kept, day)
                fetched.add(day)
            if progress is not None:
                progress("attributes", k + 1, len(todo))
    if todo and len(failures) == len(todo) and len(todo) == len(tickers):
        first = next(iter(failures.values()))
        raise SqueezeLabError(f"could not fetch Yahoo attributes for any of the {len(todo)} tickers "
                              f"({first}): check the network and retry, or give --attributes FILE")
    notes.insert(0, "attributes are Yahoo's current values (fetched "
                 f"{', '.join(sorted(fetched)) or day}), not point-in-time: signals that use "
                 "them look ahead")
    return infos, notes


# =============================================================================== the feed
def _repair_bars(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], str | None]:
    """Fix Yahoo bars whose open/high/low are missing/zero or do not bracket open and close."""
    c = frames["close"].to_numpy()
    live = np.isfinite(c)
    o, h, lo = (frames[f].to_numpy().copy() for f in ("open", "high", "low"))
    fixed = np.zeros(c.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for arr in (o, h, lo):
            bad = live & ~(np.isfinite(arr) & (arr > 0))
            arr[bad] = c[bad]
            fixed |= bad
        top = np.fmax(np.fmax(h, o), c)
        bottom = np.fmin(np.fmin(lo, o), c)
        fixed |= live & ((top != h) | (bottom != lo))
    h = np.where(live, top, np.nan)
    lo = np.where(live, bottom, np.nan)
    o = np.where(live, o, np.nan)
    out = dict(frames)
    for name, arr in (("open", o), ("high", h), ("low", lo)):
        out[name] = pd.DataFrame(arr, index=frames["close"].index, columns=frames["close"].columns)
    if not fixed.any():
        return out, None
    cols = frames["close"].columns
    i, j = np.argwhere(fixed)[0]
    return out, (f"repaired {int(fixed.sum())} Yahoo bar(s) whose open/high/low were missing, zero "
                 f"or did not bracket open and close (e.g. {cols[j]} on "
                 f"{frames['close'].index[i].date()}): set from the close / widened")


def _clean_symbols(tickers: Sequence[str] | str) -> list[str]:
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    out: list[str] = []
    for t in tickers:
        s = str(t).strip().upper()
        if not s:
            continue
        if s not in out:
            out.append(s)
    return out


def yahoo_market(
    tickers: Sequence[str] | str,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None = None,
    index: str | None = "SPY",
    growth: str | None = "QQQ",
    attributes: str | Path | None = None,
    cache_dir: str | Path | None = None,
    refresh: bool = False,
    drop_missing: bool = False,
    batch_size: int = 50,
    progress: ProgressFn | None = None,
    short_interest: str | Path | None = None,
    si_lag: int = 8,
    si_max_age: int | None = 30,
    ffill_limit: int = 0,
    max_gap_days: int | None = 7,
    today: str | pd.Timestamp | None = None,
    exclude: Sequence[str] = (),
    suspicious: str = "stop",
) -> Market:
    """A market of adjusted daily Yahoo prices for ``tickers`` over ``[start, end]`` (inclusive).

    Parameters
    ----------
    tickers : symbols (a list, or one string separated by commas/spaces); upper-cased.
    start, end : first and last date (inclusive). ``start`` is required; an end of None, today or
        later becomes yesterday (the last final bar).
    index, growth : ETFs whose returns are the ``index`` / ``growth`` reference series; None builds
        them from the universe (cap-weighted with shares, else equal-weighted).
    attributes : None, a CSV path (see :mod:`feeds.attributes`), or ``"yahoo"`` (Ticker.info:
        today's values, not point-in-time).
    cache_dir : cache folder (default ``$SQUEEZE_LAB_CACHE`` or the user cache dir).
    refresh : download everything again (the cache is rewritten).
    drop_missing : drop tickers Yahoo has no data for (listed in notes) instead of failing.
    batch_size : tickers per ``yfinance.download`` call.
    progress : ``progress(what, done, total)`` callback (``what`` is "prices" or "attributes").
    short_interest : optional short-interest history (FINRA's files or the project CSV; a file or
        a folder), used ``si_lag`` sessions after settlement and dropped ``si_max_age`` sessions
        after it (see :mod:`feeds.short_interest`).
    ffill_limit : missing bars inside a listed period forward-filled, at most this many in a row.
    max_gap_days : largest calendar-day gap allowed between consecutive dates (None: off).
    today : the current date (tests); default the machine's date.
    exclude : tickers left out of the universe (noted); each must be among ``tickers``.
    suspicious : ``"stop"`` | ``"keep"`` | ``"exclude"`` names with a suspicious one-day move
        (:mod:`feeds.checks`).
    """
    requested = _clean_symbols(tickers)
    if not requested:
        raise SqueezeLabError("no tickers given: pass --tickers AAPL,MSFT,... or a tickers file")
    notes: list[str] = []
    universe = _exclude(requested, clean_ticker_list(exclude, "data.exclude"), notes)
    s, e, now = _date_range(start, end, today, notes)
    refs = _reference_symbols(index, growth)
    symbols = universe + [x for x in refs.values() if x not in universe]
    got = download_bars(symbols, s, e, cache_dir=cache_dir, refresh=refresh,
                        batch_size=batch_size, progress=progress)
    notes.extend(got.notes)
    universe = _check_failures(got, universe, symbols, refs, drop_missing, f"{s.date()}..{e.date()}",
                               notes)
    frames, fill_model, dates = _price_frames(got, universe, int(ffill_limit), max_gap_days,
                                              suspicious, notes)
    cols = frames["close"].columns
    att, more = yahoo_attributes(attributes, list(cols), cache_dir=cache_dir, refresh=refresh,
                                 progress=progress, today=now)
    notes.extend(more)
    si, dtc, si_info = market_short_interest(short_interest, None, dates, cols, si_lag, si_max_age,
                                             frames["volume"], notes)
    built = _yahoo_reference(frames["close"], att, si, dtc, got, refs, notes)
    if si_info is not None and "most_shorted" in built.frame.columns:
        si_info = dataclasses.replace(si_info, reference_basket=True)
    return Market(
        open=frames["open"], high=frames["high"], low=frames["low"], close=frames["close"],
        volume=frames["volume"], attributes=att, reference=built.frame, factors=pd.DataFrame(),
        short_interest=si, days_to_cover=dtc, short_info=si_info, source="yahoo", synthetic=False,
        seed=None,
        fill_model=fill_model, notes=tuple(notes),
        meta=_yahoo_meta(requested, cols, refs, got, cache_dir, built.labels),
        suspicious="keep" if suspicious == "keep" else "stop",
    )


def _reference_symbols(index: str | None, growth: str | None) -> dict[str, str]:
    """Role -> ETF symbol for the index and growth references (``None``/"none": built instead)."""
    return {role: _clean_symbols([sym])[0] for role, sym in (("index", index), ("growth", growth))
            if sym is not None and str(sym).strip().lower() not in ("", "none")}


def _yahoo_reference(close: pd.DataFrame, att: pd.DataFrame, si: pd.DataFrame | None,
                     dtc: pd.DataFrame | None, got: BarsResult, refs: dict[str, str],
                     notes: list[str]) -> References:
    """Reference series: the ETFs' adjusted-close returns where given, the rest from the universe."""
    dates = close.index
    built = build_reference(
        close, att, si, days_to_cover=dtc,
        **{role: returns_of(got.bars[sym]["close"], dates) for role, sym in refs.items()},
        **{f"{role}_label": f"{sym} (Yahoo)" for role, sym in refs.items()},
    )
    notes.extend(f"reference {role}: daily returns of {sym} (adjusted close)"
                 for role, sym in refs.items())
    notes.extend(built.notes)
    return built


def _yahoo_meta(requested: list[str], cols: pd.Index, refs: dict[str, str], got: BarsResult,
                cache_dir: str | Path | None, labels: dict[str, str]) -> dict[str, Any]:
    """The market's meta: reference tickers, dropped names, what came from the cache or Yahoo."""
    return {
        "index_ticker": refs.get("index", ""),
        "growth_ticker": refs.get("growth", ""),
        "dropped_tickers": [t for t in requested if t not in cols],
        "n_requested": len(requested),
        "cache": {"dir": str(PriceCache(cache_dir).root), "from_cache": list(got.from_cache),
                  "requests": [list(r) for r in got.requests]},
        **{f"{role}_label": label for role, label in labels.items()},
    }


def _exclude(universe: list[str], exclude: list[str], notes: list[str]) -> list[str]:
    """The universe without the ``data.exclude`` names (each must be in it)."""
    if not exclude:
        return universe
    missing = [t for t in exclude if t not in universe]
    if missing:
        raise SqueezeLabError(f"data.exclude names {', '.join(missing[:10])} are not among the "
                              "tickers: check the spelling")
    left = [t for t in universe if t not in exclude]
    if not left:
        raise SqueezeLabError("data.exclude drops every ticker: leave some names to trade")
    notes.append(f"excluded {len(exclude)} name(s) from the universe (data.exclude): "
                 f"{', '.join(exclude)}")
    return left


def _date_range(start: Any, end: Any, today: Any, notes: list[str]
                ) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """(start, end, today) checked: a start is required, the end defaults to yesterday."""
    try:
        s = pd.Timestamp(start) if start not in (None, "") else pd.NaT
        now = pd.Timestamp(today if today is not None else pd.Timestamp.today()).normalize()
        e = pd.Timestamp(end) if end not in (None, "") else now
    except (ValueError, TypeError) as err:
        raise SqueezeLabError(f"start/end {start!r}..{end!r} is not a date: write YYYY-MM-DD") from err
    if pd.isna(s) or pd.isna(e):
        raise SqueezeLabError("Yahoo data needs a date range: give --start and --end (YYYY-MM-DD); "
                              "without --end it runs to the last complete session")
    s, e = s.normalize(), e.normalize()
    if e >= now:
        e = now - _DAY
        if end not in (None, ""):
            notes.append(f"end moved to {e.date()}: today's bar is not final")
    if s > e:
        raise SqueezeLabError(f"start {s.date()} is after end {e.date()}: swap --start and --end "
                              "(the end cannot be today or later)")
    return s, e, now


def _check_failures(got: BarsResult, universe: list[str], symbols: list[str],
                    refs: dict[str, str], drop_missing: bool, span: str,
                    notes: list[str]) -> list[str]:
    """Stop on symbols Yahoo gave nothing for (or drop them with ``drop_missing``, noted)."""
    failed = got.failed
    if not failed:
        return universe
    reasons = list(failed.values())
    if any(_is_rate_limit(r) for r in reasons):
        raise _rate_limited(len(got.bars))
    hard = [t for t, r in failed.items() if _is_hard_error(r)]
    if hard:
        raise SqueezeLabError(
            f"download from Yahoo failed for {len(hard)} ticker(s) ({', '.join(hard[:5])}"
            f"{' ...' if len(hard) > 5 else ''}: {failed[hard[0]][:100]}): check the network "
            "and retry (downloaded tickers are cached)")
    if len(failed) == len(symbols):
        names = ", ".join(symbols[:8]) + (" ..." if len(symbols) > 8 else "")
        if len(symbols) == 1:
            raise SqueezeLabError(
                f"no data from Yahoo for {symbols[0]} in {span} (unknown or delisted symbol, no "
                "trading days in the range, or no network): check the symbol and dates, and retry")
        raise SqueezeLabError(
            f"no data from Yahoo for any of the {len(symbols)} tickers ({names}) in {span}: no "
            "network or Yahoo unavailable? check the connection and retry (cached ranges need no "
            "network), and check the dates")
    for role, sym in refs.items():
        if sym in failed:
            raise SqueezeLabError(
                f"no data from Yahoo for the {role} ticker {sym} in {span} ({failed[sym][:80]}): "
                f"retry, or pass --{role} none to build it from the universe")
    missing = [t for t in universe if t in failed]
    if missing and not drop_missing:
        raise SqueezeLabError(
            f"no data from Yahoo for {len(missing)} ticker(s) in {span}: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} (unknown or "
            "delisted, or the download failed): drop them with --drop-missing, check the "
            "symbols, or retry (downloaded tickers are cached)")
    if missing:
        notes.append(f"dropped {len(missing)} ticker(s) with no Yahoo data in {span} "
                     f"(--drop-missing): {', '.join(missing)}")
    left = [t for t in universe if t not in failed]
    if not left:
        raise SqueezeLabError(f"no ticker has Yahoo data in {span}: check the symbols and dates")
    return left


def _price_frames(got: BarsResult, universe: list[str], ffill_limit: int,
                  max_gap_days: int | None, suspicious: str, notes: list[str]
                  ) -> tuple[dict[str, pd.DataFrame], str, pd.DatetimeIndex]:
    """Bars on one calendar, repaired, validated by the shared panel checks, suspicious screened."""
    dates = pd.DatetimeIndex([])
    for t in universe:
        dates = dates.union(got.bars[t].index)
    dates = normalize_index(dates)
    cols = pd.Index(universe)
    frames = {f: pd.DataFrame({t: got.bars[t][f].reindex(dates) for t in universe},
                              index=dates, columns=cols).astype(np.float64) for f in PRICE_COLUMNS}
    frames, repair = _repair_bars(frames)
    if repair:
        notes.append(repair)
    vals = {f: frames[f].to_numpy() for f in PRICE_COLUMNS}
    panel = Panel(dates, list(universe), vals, np.isfinite(vals["close"]),
                  lambda _f, _i, j: f"Yahoo data for {universe[j]}", "Yahoo data", wide=True)
    panel = drop_empty(panel, notes)
    frames, fill_model = build_frames(panel, ffill_limit, max_gap_days, notes)
    frames = screen_suspicious(frames, find_suspicious(panel, frames["close"]), suspicious,
                               "Yahoo data", notes)
    return frames, fill_model, frames["close"].index


def yahoo_attributes(attributes: str | Path | None, tickers: list[str],
                     cache_dir: str | Path | None = None, refresh: bool = False,
                     progress: ProgressFn | None = None, today: pd.Timestamp | None = None,
                     ) -> tuple[pd.DataFrame, list[str]]:
    """Attributes for ``tickers``: none, a CSV file, or ``"yahoo"`` (Ticker.info, cached)."""
    cols = pd.Index(tickers)
    if attributes is None:
        return align_attributes(None, cols)
    if isinstance(attributes, str) and attributes.strip().lower() == "yahoo":
        infos, more = fetch_info(tickers, cache_dir=cache_dir, refresh=refresh, progress=progress,
                                 today=today)
        table, more2 = attributes_from_info(infos)
        att, more3 = align_attributes(table, cols, source="Yahoo info")
        return att, more + more2 + more3
    table = read_attributes(attributes)
    return align_attributes(table, cols, source=str(attributes))
