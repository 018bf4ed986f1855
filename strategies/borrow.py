"""Borrow fees, locates and recalls: the pure rules both engines share.

Models (``execution.borrow_model``):

- ``flat``: every short pays ``execution.borrow_bps`` a year, charged as backtrader's CommInfo
  ``interest`` rule: ``days * bps / 1e4 / 365 * |shares| * average short price`` (the convention
  of runs before per-name borrow, kept so they reproduce byte for byte);
- ``file``: the user's file (``data.borrow``, :mod:`feeds.borrow`): per-name fee and availability
  in force at each close; a name without a row in force pays ``execution.borrow_bps``;
- ``crowding``: a schedule from the run's crowding data (:func:`crowding_fees`,
  :func:`crowding_available`).

Day count for ``file`` and ``crowding`` (the market convention, ACT/360 on market value): a short
held at the close of session ``t - 1`` pays at session ``t``::

    cost = days * (fee_bps / 1e4 / 360) * |shares| * close[t - 1]

where ``days`` counts the calendar days from session ``t - 1`` to session ``t`` (Friday to Monday
is 3: weekends and holidays accrue, at the fee in force on the last session before them), and
``fee_bps`` and the availability are those in force at the close of ``t - 1``. Both engines
compute each charge with :func:`charges` in the same operation order, so they agree to the bit.

Locates and recalls (:func:`locate`): at every signal close, a name's net short is cut to the
shares available at that close (a *locate cut*: the target asked for more than can be borrowed);
between signals, on every close where a name's availability falls (:func:`recall_rows`), a short
above what is still available is bought back at the next open (a *recall*, a forced buy-in).
After a cut, :func:`fund` trims the long and hedge legs so net long stays within
``overlay.max_net_long`` (covering a short costs cash; no order may be refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.borrow import day_numbers
from ..feeds.errors import SqueezeLabError
from .result import BuiltOnRead, Deferred
from .targets import LEGS

#: ``execution.borrow_model`` choices.
BORROW_MODELS = ("flat", "file", "crowding")

#: Day-count basis (days in a year) per model; see the module docstring.
DAY_BASIS = {"flat": 365.0, "file": 360.0, "crowding": 360.0}

# --------------------------------------------------------------------------- crowding schedule
#: Fee tiers: (short interest as a fraction of float at or above, yearly fee in bps). General
#: collateral below 10% of float; "warm" 10-20%; hard to borrow 20-30%; special above 30%.
CROWDING_TIERS: tuple[tuple[float, float], ...] = (
    (0.00, 30.0), (0.10, 150.0), (0.20, 500.0), (0.30, 1500.0),
)
#: Days to cover at or above this moves a name one tier up (hard to cover, hard to borrow).
DTC_TIER_UP = 10.0
#: Short interest up by at least this (fraction of float) over :data:`CHANGE_SESSIONS` sessions
#: moves a name one tier up (borrow demand rising).
SI_RISE_TIER_UP = 0.05
CHANGE_SESSIONS = 21
#: Squeeze spike on hard-to-borrow names (tier 2 and up): the fee is multiplied by
#: ``1 + max(0, run_up) / SQUEEZE_STEP``, capped at :data:`SQUEEZE_CAP`, where ``run_up`` is the
#: name's return over :data:`SQUEEZE_SESSIONS` sessions (a 30% rally in two weeks: x4).
SQUEEZE_SESSIONS = 10
SQUEEZE_STEP = 0.10
SQUEEZE_CAP = 8.0
#: Utilization proxy for availability: lendable supply is this fraction of shares outstanding
#: (float taken as shares outstanding), shrinking with a squeeze's run-up (lenders recall to sell
#: into the rally); available = lendable - shares already short, floored at 0.
LENDABLE_SHARE = 0.5
HTB_TIER = 2


def crowding_fees(si: np.ndarray, dtc: np.ndarray, si_change: np.ndarray,
                  run_up: np.ndarray) -> np.ndarray:
    """Yearly fee (bps) per cell from the crowding schedule (see the constants above).

    ``si``: short interest as a fraction of float (NaN: unknown, general collateral);
    ``dtc``: days to cover; ``si_change``: change of ``si`` over :data:`CHANGE_SESSIONS`;
    ``run_up``: return over :data:`SQUEEZE_SESSIONS` (NaN counts as 0).
    """
    bounds = np.array([b for b, _ in CROWDING_TIERS])
    fees = np.array([f for _, f in CROWDING_TIERS])
    s = np.nan_to_num(np.asarray(si, np.float64), nan=0.0)
    tier = np.searchsorted(bounds, s, side="right") - 1
    tier = tier + (np.nan_to_num(np.asarray(dtc, np.float64), nan=0.0) >= DTC_TIER_UP)
    tier = tier + (np.nan_to_num(np.asarray(si_change, np.float64), nan=0.0) >= SI_RISE_TIER_UP)
    tier = np.minimum(tier, len(fees) - 1)
    up = np.maximum(np.nan_to_num(np.asarray(run_up, np.float64), nan=0.0), 0.0)
    spike = np.where(tier >= HTB_TIER, np.minimum(1.0 + up / SQUEEZE_STEP, SQUEEZE_CAP), 1.0)
    return fees[tier] * spike


def crowding_available(si: np.ndarray, shares_out: np.ndarray, run_up: np.ndarray) -> np.ndarray:
    """Shares the book may borrow per cell (``inf`` where short interest or shares are unknown).

    ``LENDABLE_SHARE * shares * (1 - min(max(run_up, 0), 1)) - si * shares``, floored at 0.
    """
    s = np.asarray(si, np.float64)
    sh = np.broadcast_to(np.asarray(shares_out, np.float64), s.shape)
    up = np.clip(np.nan_to_num(np.asarray(run_up, np.float64), nan=0.0), 0.0, 1.0)
    lendable = LENDABLE_SHARE * sh * (1.0 - up)
    out = np.maximum(lendable - s * sh, 0.0)
    return np.where(np.isfinite(out), out, np.inf)


# --------------------------------------------------------------------------- terms
@dataclass(frozen=True)
class BorrowTerms:
    """What every short pays and may hold, per market row and name.

    ``rate[t, j]``: the fee in force at the close of row ``t`` as a per-day fraction
    (``fee_bps / 1e4 / basis``); ``fee_bps`` the same in bps; ``available[t, j]``: shares that may
    be short at that close (``inf``: no limit); ``mark``: ``"average"`` (the position's average
    price, backtrader's rule: flat) or ``"close"`` (the previous close: file, crowding).
    """

    model: str
    fee_bps: np.ndarray
    available: np.ndarray
    basis: float
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mark(self) -> str:
        return "average" if self.model == "flat" else "close"

    @cached_property
    def rate(self) -> np.ndarray:
        """Per-day fee fraction, rows x names (computed once; one row when every row is the
        same, as for :func:`flat_terms`)."""
        fee = self.fee_bps
        if fee.ndim == 2 and fee.strides[0] == 0:   # a row broadcast over dates
            return np.broadcast_to((fee[0] / 1e4) / self.basis, fee.shape)
        return (fee / 1e4) / self.basis

    @cached_property
    def limited(self) -> bool:
        """True when some availability is finite (locates and recalls can act); checked once."""
        a = self.available
        return bool(np.isfinite(a[:1] if a.ndim == 2 and a.strides[0] == 0 else a).any())

    @cached_property
    def charging(self) -> bool:
        """True when some fee is not zero (borrow is charged); checked once."""
        f = self.fee_bps
        return bool((f[:1] if f.ndim == 2 and f.strides[0] == 0 else f).any())


def flat_terms(n_rows: int, n_names: int, borrow_bps: float) -> BorrowTerms:
    """Every name at ``borrow_bps``, no availability limit (today's behaviour); the rows x names
    arrays are one row broadcast (read-only, no per-run allocation)."""
    shape = (n_rows, n_names)
    return BorrowTerms(model="flat",
                       fee_bps=np.broadcast_to(np.full(n_names, float(borrow_bps)), shape),
                       available=np.broadcast_to(np.full(n_names, np.inf), shape),
                       basis=DAY_BASIS["flat"])


def file_terms(fee_bps: pd.DataFrame | np.ndarray, available: pd.DataFrame | np.ndarray,
               borrow_bps: float, notes: tuple[str, ...] = ()) -> BorrowTerms:
    """Terms from an aligned borrow file (:class:`feeds.borrow.BorrowFile`'s frames)."""
    fee = np.asarray(fee_bps, np.float64)
    return BorrowTerms(model="file", fee_bps=np.where(np.isnan(fee), float(borrow_bps), fee),
                       available=np.asarray(available, np.float64).copy(),
                       basis=DAY_BASIS["file"], notes=tuple(notes))


def crowding_terms(market: Any) -> BorrowTerms:
    """Terms from the market's point-in-time short interest, days to cover, shares and prices."""
    from .signals import point_in_time

    close = market.close
    n = close.shape
    notes: list[str] = []
    si, src = point_in_time(market, "short_interest")
    dtc, _ = point_in_time(market, "days_to_cover")
    if si is None:
        notes.append("borrow_model crowding: the data has no short interest; every name pays "
                     "the general-collateral fee with no availability limit")
        si_a = np.full(n, np.nan)
        change = np.zeros(n)
    else:
        si = si.ffill()
        si_a = si.to_numpy(np.float64)
        change = (si - si.shift(CHANGE_SESSIONS)).to_numpy(np.float64)
        if src == "static":
            notes.append("borrow_model crowding: short interest is one static value per name, so "
                         "fees follow its level and squeezes only")
    dtc_a = np.zeros(n) if dtc is None else dtc.ffill().to_numpy(np.float64)
    run_up = (close / close.shift(SQUEEZE_SESSIONS) - 1.0).to_numpy(np.float64)
    fees = crowding_fees(si_a, dtc_a, change, run_up)
    if "shares" in market.attributes.columns and si is not None:
        shares_out = pd.to_numeric(market.attributes["shares"].reindex(close.columns),
                                   errors="coerce").to_numpy(np.float64)
        avail = crowding_available(si_a, shares_out[None, :], run_up)
    else:
        avail = np.full(n, np.inf)
        if si is not None:
            notes.append("borrow_model crowding: no shares-outstanding attribute, so no "
                         "availability limit (fees only)")
    return BorrowTerms(model="crowding", fee_bps=fees, available=avail,
                       basis=DAY_BASIS["crowding"], notes=tuple(notes))


def resolve_terms(model: str, market: Any, borrow_bps: float,
                  borrow_file: Any = None) -> BorrowTerms:
    """The terms for ``execution.borrow_model`` on ``market`` (``borrow_file``: model ``file``)."""
    n_rows, n_names = market.close.shape
    if model == "flat":
        return flat_terms(n_rows, n_names, borrow_bps)
    if model == "file":
        if borrow_file is None:
            raise SqueezeLabError("execution.borrow_model = 'file' needs data.borrow = PATH: give "
                                  "a CSV with columns date,ticker,fee_bps[,available_shares]")
        return file_terms(borrow_file.fee_bps.to_numpy(np.float64),
                          borrow_file.available.to_numpy(np.float64), borrow_bps,
                          borrow_file.notes)
    if model == "crowding":
        return crowding_terms(market)
    raise SqueezeLabError(f"execution.borrow_model {model!r} is unknown: use one of "
                          f"{', '.join(BORROW_MODELS)}")


# --------------------------------------------------------------------------- charges
def charges(days: int | np.ndarray, rate: np.ndarray, size: np.ndarray,
            price: np.ndarray) -> np.ndarray:
    """Borrow per name for shares held short since the previous session (0 for longs and flat).

    ``days * rate * |size| * price`` in backtrader's operation order (``_get_credit_interest``),
    ``rate`` per day as :attr:`BorrowTerms.rate`, ``price`` the average price (flat) or the
    previous close.
    """
    return np.where(size < 0, short_charges(days, rate, np.abs(size), price), 0.0)


def short_charges(days: int | np.ndarray, rate: np.ndarray, short: np.ndarray,
                  price: np.ndarray) -> np.ndarray:
    """:func:`charges` for shares known to be short (``short``: their number, positive)."""
    return days * rate * short * price


# --------------------------------------------------------------------------- locates, recalls
SHORT = LEGS.index("short")


def quantize_available(available: np.ndarray, quantum: float) -> np.ndarray:
    """Availability rounded down to tradable sizes (``quantum``: 1 share or the fractional step)."""
    a = np.asarray(available, np.float64)
    return np.where(np.isfinite(a), np.floor(a / quantum) * quantum, np.inf)


def locate(leg_shares: np.ndarray, available: np.ndarray, quantum: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Cut each name's net short to ``available`` by buying back part of its short leg.

    Returns ``(new_leg_shares, cut)``: ``cut[j] >= 0`` shares bought back from the short leg.
    """
    legs = np.asarray(leg_shares, np.float64)
    limit = quantize_available(available, quantum)
    net = legs.sum(axis=0)
    cut = np.maximum(-net - limit, 0.0)
    cut = np.minimum(cut, np.maximum(-legs[SHORT], 0.0))
    if not cut.any():
        return legs, cut
    out = legs.copy()
    out[SHORT] = legs[SHORT] + cut
    return out, cut


def fund(leg_shares: np.ndarray, close: np.ndarray, value: float, max_net_long: float,
         quantum: float) -> tuple[np.ndarray, float]:
    """Trim long and hedge shares so net long value <= ``max_net_long * value`` (after a cut).

    Returns ``(new_leg_shares, scale)``; ``scale == 1.0`` when nothing was trimmed.
    """
    legs = np.asarray(leg_shares, np.float64)
    px = np.nan_to_num(np.asarray(close, np.float64), nan=0.0)
    li, hi = LEGS.index("long"), LEGS.index("hedge")
    longs = float((legs[li] + legs[hi]) @ px)
    shorts = float(-legs[SHORT] @ px)
    cap = max_net_long * value
    if longs <= 0 or longs - shorts <= cap * (1 + 1e-12):
        return legs, 1.0
    scale = max(0.0, (cap + shorts) / longs)
    out = legs.copy()
    for i in (li, hi):
        out[i] = np.trunc(legs[i] * scale / quantum) * quantum
    return out, scale


def recall_rows(available: np.ndarray) -> np.ndarray:
    """Rows (0 .. n-2) where some name's availability falls: the only closes a held short can
    newly exceed what is available (signal rows are checked by the locate anyway)."""
    a = np.asarray(available, np.float64)
    if a.shape[0] < 2:
        return np.zeros(0, np.int64)
    falls = np.zeros(a.shape[0], bool)
    with np.errstate(invalid="ignore"):
        falls[1:] = (a[1:] < a[:-1]).any(axis=1)
    falls[-1] = False
    return np.flatnonzero(falls).astype(np.int64)


#: Columns of the borrow events table (locate cuts and recalls).
EVENT_COLUMNS = ("date", "fill_date", "ticker", "event", "shares_wanted", "shares_available",
                 "shares_bought_back", "fee_bps")


def order_reason(reason: str, label: str) -> str:
    """An order's reason with a borrow label appended (``rebalance; recall``)."""
    if not label:
        return reason
    return f"{reason}; {label}" if reason else label


def events_rows(row: int, cut: np.ndarray, wanted: np.ndarray, available: np.ndarray,
                fee_bps: np.ndarray, resized: np.ndarray | None) -> list[tuple[Any, ...]]:
    """Event tuples (row, name, kind, wanted, available, cut, fee) for the names cut at ``row``.

    A cut on a name the signal resized is a ``locate_cut``; on a held short it is a ``recall``.
    """
    out = []
    for j in np.flatnonzero(cut > 0):
        kind = "locate_cut" if resized is not None and resized[j] else "recall"
        out.append((row, int(j), kind, float(wanted[j]), float(available[j]), float(cut[j]),
                    float(fee_bps[j])))
    return out


@cache
def _no_events() -> pd.DataFrame:
    """The empty events table, typed (built once; handed out as copies)."""
    return pd.DataFrame({c: np.zeros(0, "datetime64[ns]" if c.endswith("date") else
                                     (object if c in ("ticker", "event") else np.float64))
                         for c in EVENT_COLUMNS})


def events_frame(events: list[tuple[Any, ...]], dates: pd.DatetimeIndex,
                 tickers: pd.Index) -> pd.DataFrame:
    """The events table (:data:`EVENT_COLUMNS`) from :func:`events_rows` tuples."""
    if not events:
        return _no_events().copy()
    rows = np.array([e[0] for e in events], np.int64)
    cols = np.array([e[1] for e in events], np.int64)
    return pd.DataFrame({
        "date": pd.DatetimeIndex(dates[rows]),
        "fill_date": pd.DatetimeIndex(dates[np.minimum(rows + 1, len(dates) - 1)]),
        "ticker": pd.Index(tickers[cols]).astype(object),
        "event": np.array([e[2] for e in events], dtype=object),
        "shares_wanted": np.array([e[3] for e in events], np.float64),
        "shares_available": np.array([e[4] for e in events], np.float64),
        "shares_bought_back": np.array([e[5] for e in events], np.float64),
        "fee_bps": np.array([e[6] for e in events], np.float64),
    })


# --------------------------------------------------------------------------- borrow.csv
#: Columns of ``borrow.csv`` (RUN_FOLDER.md): the contract's five, then the accrual's detail.
BORROW_COLUMNS = ("date", "ticker", "shares_short", "fee_bps", "cost", "held_from", "days")


def borrow_table(dates: pd.DatetimeIndex, tickers: pd.Index, shares: np.ndarray,
                 ledger: np.ndarray, fee_bps: np.ndarray) -> pd.DataFrame:
    """One row per short position per session it is charged (``borrow.csv``).

    ``shares``: end-of-day net shares (rows x names); ``ledger[t, j]``: borrow booked at row ``t``
    for the short held at the close of ``t - 1``; ``fee_bps``: fee in force per row. ``fee_bps``
    of a row is the fee charged (the one in force at ``held_from``), ``days`` the calendar days
    charged.
    """
    sh = np.asarray(shares, np.float64)
    held = np.zeros_like(sh, dtype=bool)
    held[1:] = sh[:-1] < 0
    t, j = np.nonzero(held)
    dn = day_numbers(dates)
    return pd.DataFrame({
        "date": pd.DatetimeIndex(dates[t]),
        "ticker": pd.Index(tickers[j]).astype(object),
        "shares_short": -sh[t - 1, j],
        "fee_bps": np.asarray(fee_bps, np.float64)[t - 1, j],
        "cost": np.asarray(ledger, np.float64)[t, j],
        "held_from": pd.DatetimeIndex(dates[t - 1]),
        "days": (dn[t] - dn[t - 1]).astype(np.int64),
    })



# --------------------------------------------------------------------------- per-run state
def row_charges(terms: BorrowTerms, rows: np.ndarray, days: np.ndarray, cols: np.ndarray,
                size: np.ndarray, avg_price: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Borrow per (row, name) for the shorts ``size`` of names ``cols`` held into ``rows``.

    The short was held at the close before each row, so the fee in force and (for the ``close``
    mark) the price are the previous row's; ``days``: calendar days charged per row; ``close``:
    carried closes (market rows x all names). Same operations as :func:`charges`.
    """
    prev = np.maximum(np.asarray(rows, np.int64) - 1, 0)
    r = terms.rate
    rate = (np.broadcast_to(r[0, cols], (len(prev), len(cols))) if r.strides[0] == 0
            else r[np.ix_(prev, cols)])   # one row broadcast (flat_terms): no gather
    price = (np.broadcast_to(avg_price[None, :], rate.shape) if terms.mark == "average"
             else close[np.ix_(prev, cols)])
    return charges(np.asarray(days)[:, None], rate, np.broadcast_to(size[None, :], rate.shape),
                   price)


class BorrowBook:
    """One run's locates and recalls, shared by both engines (each engine owns one).

    :meth:`adjust` is called with the leg shares a signal row wants (or the current ones on a
    :func:`recall_rows` row): it cuts shorts above what is available (:func:`locate`), funds the
    cut (:func:`fund`) and keeps the events. ``check_rows``: rows to look at between signals.
    """

    def __init__(self, terms: BorrowTerms, max_net_long: float, quantum: float) -> None:
        self.terms = terms
        self.max_net_long = float(max_net_long)
        self.quantum = float(quantum)
        self.check_rows = recall_rows(terms.available) if terms.limited else np.zeros(0, np.int64)
        self.events: list[tuple[Any, ...]] = []

    def first_recall(self, start: int, stop: int, legs: np.ndarray) -> int | None:
        """First :attr:`check_rows` row in ``start..stop`` (inclusive) where the shorts held in
        ``legs`` exceed what is available (a recall to act on), or None."""
        if not len(self.check_rows):   # unlimited borrow: nothing is ever recalled
            return None
        rows = self.check_rows[(self.check_rows >= start) & (self.check_rows <= stop)]
        if not len(rows):
            return None
        net = np.asarray(legs).sum(axis=0)
        short = np.flatnonzero(net < 0)
        if not len(short):
            return None
        limit = quantize_available(self.terms.available[np.ix_(rows, short)], self.quantum)
        hit = np.flatnonzero((-net[short][None, :] > limit).any(axis=1))
        return int(rows[hit[0]]) if len(hit) else None

    def adjust(self, row: int, legs: np.ndarray, close: np.ndarray, value: float,
               resized: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The leg shares after locates (and funding) at the close of ``row``, and per name the
        order label (``locate_cut``, ``recall``, ``borrow_funding`` or ""; None: nothing cut).

        ``resized``: the names the signal row resizes (None on a recall row).
        """
        if not self.terms.limited:
            return legs, None
        avail = self.terms.available[row]
        out, cut = locate(legs, avail, self.quantum)
        if not cut.any():
            return legs, None
        new = events_rows(row, cut, -legs.sum(axis=0), avail, self.terms.fee_bps[row], resized)
        self.events.extend(new)
        funded, _ = fund(out, close, value, self.max_net_long, self.quantum)
        labels = np.full(legs.shape[1], "", dtype=object)
        labels[(funded != out).any(axis=0)] = "borrow_funding"
        for _, j, kind, *_rest in new:
            labels[j] = kind
        return funded, labels
    def frame(self, dates: pd.DatetimeIndex, tickers: pd.Index) -> pd.DataFrame:
        """The events so far (:data:`EVENT_COLUMNS`)."""
        return events_frame(self.events, dates, tickers)


@dataclass(frozen=True)
class BorrowRecord:
    """What one run paid to borrow and what locates/recalls did (``BacktestResult.borrow_record``).

    ``ledger``: borrow booked per market row and name (money; a row's charge is for the short held
    at the previous close; the twin's is built on first read, :func:`ledger_from_bookings`);
    ``fee_bps``: the fee in force per row and name; ``events``: locate cuts and recalls
    (:data:`EVENT_COLUMNS`).
    """

    model: str
    ledger: pd.DataFrame = BuiltOnRead()   # type: ignore[assignment]
    fee_bps: np.ndarray
    events: pd.DataFrame
    notes: tuple[str, ...] = ()

    def table(self, shares: pd.DataFrame) -> pd.DataFrame:
        """``borrow.csv`` (:data:`BORROW_COLUMNS`) from the run's end-of-day net shares."""
        return borrow_table(self.ledger.index, self.ledger.columns, shares.to_numpy(np.float64),
                            self.ledger.to_numpy(), self.fee_bps)


def make_record(terms: BorrowTerms, ledger: np.ndarray | list[Booking], book: BorrowBook,
                dates: pd.DatetimeIndex, tickers: pd.Index) -> BorrowRecord:
    """The run's :class:`BorrowRecord` from its terms, ledger (an array, or the bookings of
    :func:`ledger_from_bookings`, replayed on first read) and locate/recall book."""
    def frame() -> pd.DataFrame:
        arr = (ledger if isinstance(ledger, np.ndarray)   # the run's own array, not copied
               else ledger_from_bookings(ledger, len(dates), len(tickers)))
        return pd.DataFrame(arr, index=dates, columns=tickers, copy=False)

    return BorrowRecord(model=terms.model,
                        ledger=frame() if isinstance(ledger, np.ndarray) else Deferred(frame),
                        fee_bps=terms.fee_bps, events=book.frame(dates, tickers),
                        notes=terms.notes)


#: One booking of a borrow ledger: rows ``start..stop-1``, the columns (None: every name), the
#: values (None: 0.0) and, when not None, the row of ``values`` each booked row takes.
Booking = tuple[int, int, np.ndarray | None, np.ndarray | None, np.ndarray | None]


def ledger_from_bookings(bookings: list[Booking], n_rows: int, n_names: int) -> np.ndarray:
    """A ledger (rows x names) from its bookings in order, each setting its cells as a run
    writing the ledger directly would (a later booking replaces an earlier one's cells)."""
    out = np.zeros((n_rows, n_names))
    for start, stop, cols, values, take in bookings:
        vals = 0.0 if values is None else values if take is None else values[take]
        if cols is None:
            out[start:stop] = vals
        else:
            out[start:stop, cols] = vals
    return out
