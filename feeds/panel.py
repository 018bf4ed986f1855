"""A feed's raw panel (dates x tickers arrays, each cell traceable to its source) -> validated OHLCV
frames: the one validation the csv and yahoo feeds share, on the checks of :mod:`feeds.checks`
that :func:`feeds.market.validate` also applies.

Steps, each a function a feed calls in this order: :func:`cut_dates`, :func:`normalize_tickers`,
:func:`exclude_tickers`, :func:`drop_empty`, :func:`build_frames` (positive prices, OHLC
brackets, gaps, holes, ``adj_close`` scaling) and :func:`screen_suspicious` (jumps and spikes
named with ``file:line``; stop, keep or exclude). Every problem is one
:class:`~feeds.errors.SqueezeLabError` line naming where it is and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from . import checks
from .errors import SqueezeLabError
from .market import Market, normalize_index

#: Default largest number of calendar days between two consecutive dates of the data.
MAX_GAP_DAYS = 7


def _fail(message: str) -> SqueezeLabError:
    return SqueezeLabError(message)


@dataclass
class Panel:
    """Fields as (dates x tickers) float arrays before validation, with a locator for messages.

    ``where(field, i, j)`` names the source of cell ``(i, j)`` (``file:line`` for CSV files);
    ``present`` is True where the source gave a row; ``wide`` is True for one-column-per-ticker
    sources (a cell may then be given without a close).
    """

    dates: pd.DatetimeIndex
    tickers: list[str]
    values: dict[str, np.ndarray]
    present: np.ndarray
    where: Callable[[str, int, int], str]
    source: str
    wide: bool


def cut_dates(p: Panel, start: Any, end: Any) -> Panel:
    """The panel restricted to ``[start, end]`` (either may be None); nothing inside is an error."""
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
    return subset(p, keep, np.arange(len(p.tickers)))



def subset(p: Panel, rows: np.ndarray, cols: np.ndarray) -> Panel:
    """The panel restricted to ``rows`` x ``cols`` (positions), messages still naming the source."""
    base = p.where

    def where(field: str, i: int, j: int) -> str:
        return base(field, int(rows[min(i, len(rows) - 1)]), int(cols[j]))

    return Panel(p.dates[rows], [p.tickers[j] for j in cols],
                  {k: v[np.ix_(rows, cols)] for k, v in p.values.items()},
                  p.present[np.ix_(rows, cols)], where, p.source, p.wide)



def drop_empty(p: Panel, notes: list[str]) -> Panel:
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
    return subset(p, np.flatnonzero(row_live), np.flatnonzero(col_live))



def build_frames(
    p: Panel, ffill_limit: int, max_gap_days: int | None, notes: list[str],
) -> tuple[dict[str, pd.DataFrame], str]:
    """Validate a panel (after :func:`drop_empty`) and return the five OHLCV frames and the fill
    model (``next_close`` for close-only data)."""
    close_only = _check_values(p)
    o, h, lo, c, vol = _adjusted_arrays(p, close_only, notes)
    _check_gaps(p, max_gap_days)
    _fill_holes(p, (o, h, lo, c, vol), close_only, ffill_limit, notes)
    if close_only:
        notes.append("close-only data: open=high=low=close, so fills are modelled at the next "
                     "close (fill_model next_close)")
    if "volume" not in p.values:
        notes.append("no volume in the data: volume-based measures (days to cover, liquidity) "
                     "are unavailable")
    idx = normalize_index(p.dates)
    cols = pd.Index(p.tickers)
    frames = {name: pd.DataFrame(np.array(arr, dtype=np.float64, copy=True), index=idx, columns=cols)
              for name, arr in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", vol))}
    return frames, ("next_close" if close_only else "next_open")


def _first(mask: np.ndarray) -> tuple[int, int]:
    i, j = np.argwhere(mask)[0]
    return int(i), int(j)


def _on(p: Panel, i: int, j: int) -> str:
    return f"{p.tickers[j]} on {p.dates[i].date()}"


def _check_values(p: Panel) -> bool:
    """Positive prices, open/high/low given together, no stray wide cells, sane volume, OHLC
    brackets; returns True for close-only data."""
    vals, present = p.values, p.present
    given = set(vals)
    c = vals["close"]
    bad = checks.bad_prices(c, present)
    if bad.any():
        i, j = _first(bad)
        raise _fail(f"{p.where('close', i, j)}: close for {_on(p, i, j)} is {_show(c[i, j])}: "
                    "prices must be positive numbers; correct or remove the row")
    ohl = [f for f in ("open", "high", "low") if f in given]
    if ohl and len(ohl) < 3:
        missing = [f for f in ("open", "high", "low") if f not in given]
        raise _fail(f"{p.source}: has {', '.join(ohl)} but no {', '.join(missing)}: give open, "
                    "high and low together, or only close (close-only data)")
    for f in ohl + (["adj_close"] if "adj_close" in given else []):
        a = vals[f]
        bad = checks.bad_prices(a, present)
        if bad.any():
            i, j = _first(bad)
            raise _fail(f"{p.where(f, i, j)}: {f} for {_on(p, i, j)} is {_show(a[i, j])}: "
                        "prices must be positive numbers; correct or remove the row")
        if p.wide:
            stray = ~present & ~np.isnan(a)
            if stray.any():
                i, j = _first(stray)
                raise _fail(f"{p.where(f, i, j)}: {f} is given for {_on(p, i, j)} but close is "
                            "missing: give the close or clear the cell")
    if "volume" in given:
        v = vals["volume"]
        with np.errstate(invalid="ignore"):
            bad = present & (np.isinf(v) | (v < 0))
        if bad.any():
            i, j = _first(bad)
            raise _fail(f"{p.where('volume', i, j)}: volume for {_on(p, i, j)} is {_show(v[i, j])}: "
                        "volume must be a non-negative number (or empty)")
    if ohl:
        o, h, lo = vals["open"], vals["high"], vals["low"]
        bad = checks.ohlc_inconsistent(o, h, lo, c, present)
        if bad.any():
            i, j = _first(bad)
            raise _fail(
                f"{p.where('close', i, j)}: OHLC inconsistent for {_on(p, i, j)} (open {o[i, j]:g}, "
                f"high {h[i, j]:g}, low {lo[i, j]:g}, close {c[i, j]:g}): need low <= open, "
                "close <= high; correct the row, or give close only"
            )
    return not ohl


def _adjusted_arrays(p: Panel, close_only: bool, notes: list[str]) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume arrays (NaN where not given), scaled by adj_close/close."""
    vals, present = p.values, p.present
    scale = np.ones(present.shape)
    if "adj_close" in vals:
        with np.errstate(all="ignore"):
            scale = np.where(present, vals["adj_close"] / vals["close"], np.nan)
        notes.append("prices adjusted by adj_close/close (open, high, low and close scaled)")
    c = np.where(present, vals["close"] * scale, np.nan)
    if close_only:
        o = h = lo = c
    else:
        o, h, lo = (np.where(present, vals[f] * scale, np.nan) for f in ("open", "high", "low"))
    vol = np.where(present, vals["volume"], np.nan) if "volume" in vals else np.full(c.shape, np.nan)
    return o, h, lo, c, vol


def _check_gaps(p: Panel, max_gap_days: int | None) -> None:
    """No stretch of more than ``max_gap_days`` calendar days without any row."""
    dates = p.dates
    if max_gap_days is None or len(dates) < 2:
        return
    gaps = np.diff(dates.asi8) // (86_400 * 10**9)
    big = np.flatnonzero(gaps > max_gap_days)
    if len(big):
        i = int(big[0]) + 1
        j = int(np.argmax(p.present[i]))
        raise _fail(
            f"{p.where('close', i, j)}: {int(gaps[big[0]])} calendar days with no data between "
            f"{dates[i - 1].date()} and {dates[i].date()} (more than --max-gap-days "
            f"{max_gap_days}): add the missing dates or raise --max-gap-days"
        )


def _fill_holes(p: Panel, arrays: tuple[np.ndarray, ...], close_only: bool, ffill_limit: int,
                notes: list[str]) -> None:
    """Forward-fill missing bars inside a listed period (in place), at most ``ffill_limit`` in a
    row; a longer run is an error naming it."""
    o, h, lo, c, vol = arrays
    hole = checks.holes(p.present)
    if not hole.any():
        return
    filled, examples = 0, []
    for j in np.flatnonzero(hole.any(axis=0)):
        idx = np.flatnonzero(hole[:, j])
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        longest = max(runs, key=len)
        if len(longest) > ffill_limit:
            i0, i1 = int(longest[0]), int(longest[-1])
            raise _fail(
                f"{p.where('close', i1 + 1, int(j))}: {p.tickers[j]} has no price for "
                f"{len(longest)} trading day(s) ({p.dates[i0].date()}..{p.dates[i1].date()}) inside "
                f"its listed period: fill the data, allow it with --ffill-limit {len(longest)}, "
                "or remove the ticker"
            )
        for i in idx:
            c[i, j] = c[i - 1, j]
            if not close_only:
                o[i, j] = h[i, j] = lo[i, j] = c[i, j]
            vol[i, j] = 0.0 if "volume" in p.values else np.nan
        filled += len(idx)
        if len(examples) < 3:
            examples.append(f"{p.tickers[j]} {p.dates[int(idx[0])].date()}")
    notes.append(
        f"forward-filled {filled} missing bar(s) (at most {ffill_limit} day(s) in a row; e.g. "
        f"{', '.join(examples)}): price held at the previous close, volume 0"
    )


def _show(x: float) -> str:
    if np.isnan(x):
        return "missing"
    return f"{x:g}"


# =============================================================================== universe edits
def normalize_tickers(p: Panel) -> Panel:
    """Upper-case every ticker (``abc`` and ``ABC`` are one name); two spellings of one name in the
    same data are an error naming both."""
    upper = [t.upper() for t in p.tickers]
    if upper == p.tickers:
        return p
    seen: dict[str, int] = {}
    for j, u in enumerate(upper):
        if u in seen:
            k = seen[u]
            raise _fail(f"{p.where('close', 0, j)}: tickers {p.tickers[k]!r} and {p.tickers[j]!r} are "
                        f"the same name (tickers are not case-sensitive): spell {u} one way")
        seen[u] = j
    return Panel(p.dates, upper, p.values, p.present, p.where, p.source, p.wide)


def clean_ticker_list(names: Sequence[str] | str | None, what: str) -> list[str]:
    """A user's list of tickers (a list, or one string split on commas/blanks), upper-cased, once each."""
    if names is None:
        return []
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    out: list[str] = []
    for n in names:
        if not isinstance(n, str):
            raise _fail(f"{what}: {n!r} is not a ticker: give tickers as strings, e.g. "
                        f"{what}=[\"ABC\", \"XYZ\"]")
        t = n.strip().upper()
        if t and t not in out:
            out.append(t)
    return out


def exclude_tickers(p: Panel, exclude: Sequence[str], notes: list[str]) -> Panel:
    """Drop the ``data.exclude`` names (exact, case-insensitive) from the universe; a name not in the
    data is an error (a typo would otherwise trade the name it meant to drop)."""
    if not exclude:
        return p
    missing = [t for t in exclude if t not in p.tickers]
    if missing:
        raise _fail(f"data.exclude names {', '.join(missing[:10])} not in {p.source}: check the "
                    "spelling (tickers in the data: " + ", ".join(p.tickers[:8])
                    + (" ..." if len(p.tickers) > 8 else "") + ")")
    keep = np.array([t not in exclude for t in p.tickers])
    if not keep.any():
        raise _fail(f"data.exclude drops every ticker of {p.source}: leave some names to trade")
    notes.append(f"excluded {len(exclude)} name(s) from the universe (data.exclude): "
                 f"{', '.join(exclude)}")
    return subset(p, np.arange(len(p.dates)), np.flatnonzero(keep))


# =============================================================================== suspicious prices
@dataclass(frozen=True)
class Suspicious:
    """A suspicious one-day move, named for the user: ticker, date, factor, kind and source."""

    ticker: str
    date: pd.Timestamp
    move: str      # "x16" / "/3.2"
    kind: str      # "jump" | "spike"
    where: str     # file:line or the source's name

    def describe(self) -> str:
        return f"{self.ticker} {self.move} on {self.date.date()} ({self.where})"


def find_suspicious(p: Panel, close: pd.DataFrame) -> list[Suspicious]:
    """The jumps and spikes (:func:`feeds.checks.suspicious_moves`) of the validated ``close``
    built from panel ``p`` (same rows and columns)."""
    return [Suspicious(p.tickers[m.col], p.dates[m.row], m.describe(), m.kind,
                       p.where("close", m.row, m.col))
            for m in checks.suspicious_moves(close.to_numpy())]


def suspicious_message(found: Sequence[Suspicious], source: str, shown: int = 3) -> str:
    """One line naming the first suspicious moves, the count, the rule and the three fixes."""
    names = list(dict.fromkeys(s.ticker for s in found))
    first = "; ".join(s.describe() for s in found[:shown])
    more = f"; and {len(found) - shown} more" if len(found) > shown else ""
    listed = json.dumps(names[:20]).replace(" ", "")
    return (f"{source}: suspicious prices, {len(found)} one-day move(s) in {len(names)} name(s) "
            f"({', '.join(names[:10])}{' ...' if len(names) > 10 else ''}): {first}{more} "
            f"(a move of x{checks.JUMP_RATIO:g} or more in a day, or of x{checks.SPIKE_RATIO:g} "
            f"reversed the next day): check the data, drop the names with --set "
            f"'data.exclude={listed}' (or data.suspicious=\"exclude\"), or trade them as they are "
            f"with --set data.suspicious=\"keep\"")


def _first_move_each(found: Sequence[Suspicious], shown: int = 5) -> str:
    """The first flagged move of each name (up to ``shown`` names), so a dropped name is not
    left without its reason."""
    first: dict[str, Suspicious] = {}
    for s in found:
        first.setdefault(s.ticker, s)
    more = "; ..." if len(first) > shown else ""
    return "; ".join(s.describe() for s in list(first.values())[:shown]) + more


def screen_suspicious(frames: dict[str, pd.DataFrame], found: Sequence[Suspicious], policy: str,
                      source: str, notes: list[str]) -> dict[str, pd.DataFrame]:
    """Apply ``data.suspicious``: ``stop`` raises :func:`suspicious_message`, ``keep`` notes the
    names and trades them, ``exclude`` drops them from the universe (noted)."""
    if policy not in checks.SUSPICIOUS_POLICIES:
        raise _fail(f"data.suspicious={policy!r}: use one of "
                    f"{', '.join(checks.SUSPICIOUS_POLICIES)}")
    if not found:
        return frames
    names = list(dict.fromkeys(s.ticker for s in found))
    examples = _first_move_each(found)
    if policy == "stop":
        raise _fail(suspicious_message(found, source))
    if policy == "keep":
        notes.append(f"kept {len(names)} name(s) with suspicious one-day moves "
                     f"(data.suspicious=keep): {', '.join(names)} (e.g. {examples})")
        return frames
    keep = [t for t in frames["close"].columns if t not in names]
    if not keep:
        raise _fail(f"{source}: every name has a suspicious one-day move ({examples}): check the "
                    "data, or keep them with --set data.suspicious=\"keep\"")
    notes.append(f"excluded {len(names)} name(s) with suspicious one-day moves "
                 f"(data.suspicious=exclude): {', '.join(names)} (e.g. {examples}); trade them "
                 "with --set data.suspicious=keep, or refuse such data with "
                 "--set data.suspicious=stop")
    out = {k: v[keep] for k, v in frames.items()}
    live = out["close"].notna().any(axis=1).to_numpy()
    return {k: v.loc[live] for k, v in out.items()}


# =============================================================================== share granularity
def screen_granularity(market: Market, position_value: float, quantum: float, policy: str,
                       sizing: str) -> Market:
    """Names whose price makes one tradable unit (``quantum`` shares: 1, or the fractional step)
    cost more than a typical position (``position_value``, described by ``sizing``): ``stop``
    names them with the fixes, ``keep`` notes them, ``exclude`` drops them (noted)."""
    close = market.close
    bad = checks.untradable_prices(close.to_numpy(), position_value, quantum)
    if not bad.any():
        return market
    names = [str(t) for t in close.columns[bad]]
    top = close.max()
    shown = ", ".join(f"{t} up to {top[t]:,.0f}" for t in names[:5])
    unit = "one share" if quantum >= 1 else f"{quantum:g} of a share"
    what = (f"{len(names)} name(s) cannot be traded at share granularity: {unit} of {shown}"
            f"{' ...' if len(names) > 5 else ''} costs more than a position ({sizing})")
    if policy == "stop":
        listed = json.dumps(names[:20]).replace(" ", "")
        raise _fail(f"{what}: drop them with --set 'data.exclude={listed}', trade fractional "
                    "shares (execution.fractional=true) or a larger book (execution.cash), or keep "
                    "them with --set data.suspicious=\"keep\"")
    if policy == "keep":
        return replace(market, notes=market.notes + (f"{what}; kept (data.suspicious=keep)",))
    keep = [t for t in close.columns if t not in names]
    if not keep:
        raise _fail(f"{what}, and that is every name: trade fractional shares "
                    "(execution.fractional=true) or a larger book (execution.cash)")
    out = market.select(keep)
    return replace(out, notes=out.notes + (f"{what}; excluded (data.suspicious=exclude)",))
